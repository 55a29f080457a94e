//! Technicians' visits (维护记录): the service-mode events a kiosk uploads with its journal
//! — sign-ins on the kiosk's screen and their failures, service mode entered and left, cash
//! box clearances (清机), card restocks (放卡维护) and the devices' self-tests.
//!
//! Each event is one journal entry (`journal_upload`) with `txn_id` `svc-<n>` (the kiosk's
//! service-log number), no phone number, state `committed`, `amount_fen` 0 except for a
//! clearance (the total taken out of the box), and `detail` a JSON object with at least
//! `technician`. None of them is a money transaction: reconciliation
//! ([`crate::recon::is_money_changing`]) and the reports leave them out; the clearance
//! report ([`Store::report_clearances`]) and the kiosk page read them.
//!
//! Reading is tolerant: every field of `detail` may be missing, and an unknown op starting
//! with `service_` is still a service event.
//!
//! A PIN pad locked after too many wrong PINs (`service_login_locked`) raises the alert
//! [`PIN_PAD_LOCKED`] in the transaction that stores the entry — once per entry, so a
//! re-upload of the same `seq` raises nothing — and the alert clears when the lock has run
//! out ([`Store::clear_ended_pin_pad_locks`]).

use serde::Serialize;
use serde_json::Value;

use crate::db::Sql;
use crate::reports::{Period, Totals};
use crate::store::{Store, StoreError};

/// Alert kind: a kiosk's service PIN pad locked after too many wrong PINs. Subject: the
/// event's `txn_id` (`svc-<n>`); detail names the technician id typed.
pub const PIN_PAD_LOCKED: &str = "pin_pad_locked";

/// How long a lock alert stays when the kiosk did not say until when (`until_ms`).
pub const LOCK_DEFAULT_MS: i64 = 30 * 60 * 1000;

/// The journal op of a cash box clearance (清机).
pub const CLEARANCE: &str = "cash_box_clearance";

/// The journal op of a PIN pad lock.
pub const LOGIN_LOCKED: &str = "service_login_locked";

/// Whether a journal op is a technician's service event (and no money transaction).
#[must_use]
pub fn is_service_op(op: &str) -> bool {
    op.starts_with("service_") || op == CLEARANCE || op == "card_restock"
}

/// SQL condition selecting the service events of `journal` (same test as
/// [`is_service_op`], in the SQL SQLite and PostgreSQL share).
const SERVICE_OPS_SQL: &str =
    "(SUBSTR(op, 1, 8)='service_' OR op IN ('cash_box_clearance','card_restock'))";

/// What a service event says beyond its op, read from its `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServiceDetail {
    /// Cash box clearance (清机).
    Clearance {
        /// Notes taken out: `(denomination_fen, count)`, highest denomination first.
        notes: Vec<(u64, u64)>,
        /// The previous clearance (UTC ms), if the kiosk said.
        since_ms: Option<i64>,
    },
    /// Card restock (放卡维护).
    Restock {
        /// Blank cards put in.
        added: Option<u64>,
        /// Blank cards in the dispenser afterwards.
        stock: Option<u64>,
        /// Whether the reject bin was emptied.
        bin_emptied: Option<bool>,
        /// Cards found captured in the reject bin (their ICCIDs).
        captured: Vec<String>,
    },
    /// A device's self-test (`service_test_*`).
    SelfTest {
        /// Passed, failed, or not said.
        passed: Option<bool>,
    },
    /// A wrong id or PIN on the screen's PIN pad.
    LoginFailed {
        /// Wrong tries in a row.
        failures: Option<u64>,
    },
    /// Too many wrong PINs: the PIN pad is locked.
    LoginLocked {
        /// Wrong tries in a row.
        failures: Option<u64>,
        /// Locked until (UTC ms, the kiosk's clock).
        until_ms: Option<i64>,
    },
    /// Service mode left.
    Exit {
        /// `in_service` or `out_of_service`.
        state: Option<String>,
        /// Devices the kiosk found faulty.
        faulty: Vec<String>,
    },
    /// Anything else (a sign-in, service mode entered, an op this server does not know).
    Other,
}

/// One service event of a kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceEntry {
    /// The kiosk's journal seq.
    pub seq: i64,
    /// `svc-<n>`.
    pub txn_id: String,
    /// When (UTC ms).
    pub at_ms: i64,
    /// The op (`service_login`, `cash_box_clearance`, …).
    pub op: String,
    /// Amount, fen (a clearance's total taken out; 0 otherwise).
    pub amount_fen: i64,
    /// The technician id (for a failed sign-in, the id that was typed).
    pub technician: Option<String>,
    /// What the event says.
    pub detail: ServiceDetail,
}

fn u(v: &Value, key: &str) -> Option<u64> {
    let x = v.get(key)?;
    x.as_u64()
        .or_else(|| x.as_str().and_then(|s| s.trim().parse().ok()))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The technician id as it may be shown: printable, at most 32 characters.
fn technician_of(v: &Value) -> Option<String> {
    let t: String = text(v.get("technician")?)?
        .chars()
        .filter(|c| !c.is_control())
        .take(32)
        .collect();
    (!t.is_empty()).then_some(t)
}

impl ServiceEntry {
    /// Reads an uploaded entry; whatever `detail` lacks or gets wrong is left out.
    #[must_use]
    pub fn parse(
        seq: i64,
        txn_id: String,
        at_ms: i64,
        op: String,
        amount_fen: i64,
        detail: Option<&str>,
    ) -> Self {
        let v: Value = detail
            .and_then(|d| serde_json::from_str(d).ok())
            .filter(Value::is_object)
            .unwrap_or(Value::Null);
        let technician = technician_of(&v);
        let strings = |key: &str| -> Vec<String> {
            v.get(key)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(text).collect())
                .unwrap_or_default()
        };
        let detail = match op.as_str() {
            CLEARANCE => {
                let mut notes: Vec<(u64, u64)> = v
                    .get("notes")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, c)| Some((k.trim().parse().ok()?, c.as_u64()?)))
                            .filter(|(_, c)| *c > 0)
                            .collect()
                    })
                    .unwrap_or_default();
                notes.sort_by_key(|n| std::cmp::Reverse(n.0));
                ServiceDetail::Clearance {
                    notes,
                    since_ms: v.get("since").and_then(Value::as_i64),
                }
            }
            "card_restock" => ServiceDetail::Restock {
                added: u(&v, "added"),
                stock: u(&v, "stock"),
                bin_emptied: v.get("bin_emptied").and_then(Value::as_bool),
                captured: strings("captured"),
            },
            "service_login_failed" => ServiceDetail::LoginFailed {
                failures: u(&v, "failures"),
            },
            LOGIN_LOCKED => ServiceDetail::LoginLocked {
                failures: u(&v, "failures"),
                until_ms: v.get("until_ms").and_then(Value::as_i64),
            },
            "service_exit" => ServiceDetail::Exit {
                state: v.get("state").and_then(text),
                faulty: strings("faulty"),
            },
            t if t.starts_with("service_test_") => ServiceDetail::SelfTest {
                passed: v.get("passed").and_then(Value::as_bool),
            },
            _ => ServiceDetail::Other,
        };
        Self {
            seq,
            txn_id,
            at_ms,
            op,
            amount_fen,
            technician,
            detail,
        }
    }
}

/// The alert a PIN pad lock raises: `(subject, detail)`. No personal data: the kiosk and
/// the technician id typed.
#[must_use]
pub fn pin_pad_alert(e: &ServiceEntry) -> (String, String) {
    let (failures, until_ms) = match &e.detail {
        ServiceDetail::LoginLocked { failures, until_ms } => (*failures, *until_ms),
        _ => (None, None),
    };
    let mut detail = String::from("service PIN pad locked");
    if let Some(n) = failures {
        detail.push_str(&format!(" after {n} wrong PINs"));
    }
    detail.push_str(&format!(
        "; technician id typed: {}",
        e.technician.as_deref().unwrap_or("-")
    ));
    if let Some(until) = until_ms.filter(|u| *u > e.at_ms) {
        let min = (until - e.at_ms + 59_999) / 60_000;
        detail.push_str(&format!("; locked for {min} min"));
    }
    (e.txn_id.clone(), detail)
}

/// Raises [`PIN_PAD_LOCKED`] for a lock entry just stored (in the storing transaction).
/// An alert of the same kiosk and subject still active is left as it is.
pub(crate) fn raise_pin_pad_locked(
    s: &mut dyn Sql,
    kiosk_id: &str,
    e: &ServiceEntry,
    now: i64,
) -> Result<bool, StoreError> {
    let (subject, detail) = pin_pad_alert(e);
    let n = s.exec(
        "INSERT INTO alerts(kiosk_id, kind, subject, detail, raised_ms) VALUES ($1,$2,$3,$4,$5) \
         ON CONFLICT DO NOTHING",
        &[
            kiosk_id.into(),
            PIN_PAD_LOCKED.into(),
            subject.into(),
            detail.into(),
            now.into(),
        ],
    )?;
    Ok(n == 1)
}

/// When a lock alert raised at `raised_ms` for `detail` (the entry's, if still stored) ends.
#[must_use]
pub fn lock_ends_ms(detail: Option<&str>, raised_ms: i64) -> i64 {
    detail
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .and_then(|v| v.get("until_ms").and_then(Value::as_i64))
        .unwrap_or(raised_ms.saturating_add(LOCK_DEFAULT_MS))
}

/// Cash box clearances of one kiosk on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClearanceRow {
    /// Day (Beijing).
    pub day: String,
    /// The kiosk's shop now (None: not assigned).
    pub shop_id: Option<String>,
    /// The kiosk.
    pub kiosk_id: String,
    /// Clearances, and the total taken out (fen); the average per clearance.
    #[serde(flatten)]
    pub totals: Totals,
}

impl Store {
    /// A kiosk's latest service events (technicians' visits), newest first.
    ///
    /// # Errors
    /// The database's.
    pub fn kiosk_service_log(
        &self,
        kiosk_id: &str,
        limit: u32,
    ) -> Result<Vec<ServiceEntry>, StoreError> {
        self.db().read(|s| {
            s.query(
                &format!(
                    "SELECT seq, txn_id, at_ms, op, amount_fen, detail FROM journal \
                     WHERE kiosk_id=$1 AND {SERVICE_OPS_SQL} ORDER BY seq DESC LIMIT $2"
                ),
                &[kiosk_id.into(), i64::from(limit).into()],
            )?
            .iter()
            .map(|r| {
                Ok(ServiceEntry::parse(
                    r.i64(0)?,
                    r.str(1)?,
                    r.i64(2)?,
                    r.str(3)?,
                    r.i64(4)?,
                    r.opt_str(5)?.as_deref(),
                ))
            })
            .collect()
        })
    }

    /// Clears the PIN pad lock alerts whose lock has run out (`until_ms` of the entry; 30
    /// minutes after raising when it said none). Returns them cleared.
    ///
    /// # Errors
    /// The database's.
    pub fn clear_ended_pin_pad_locks(
        &self,
        now: i64,
    ) -> Result<Vec<crate::alerts::Alert>, StoreError> {
        self.db().tx(|s| {
            let rows = s.query(
                "SELECT a.alert_id, a.kiosk_id, a.subject, a.detail, a.raised_ms, \
                 (SELECT j.detail FROM journal j WHERE j.kiosk_id=a.kiosk_id \
                  AND j.txn_id=a.subject AND j.op=$2 ORDER BY j.seq DESC LIMIT 1) \
                 FROM alerts a WHERE a.kind=$1 AND a.cleared_ms IS NULL ORDER BY a.alert_id",
                &[PIN_PAD_LOCKED.into(), LOGIN_LOCKED.into()],
            )?;
            let mut cleared = Vec::new();
            for r in rows {
                let raised_ms = r.i64(4)?;
                if now < lock_ends_ms(r.opt_str(5)?.as_deref(), raised_ms) {
                    continue;
                }
                let alert_id = r.i64(0)?;
                s.exec(
                    "UPDATE alerts SET cleared_ms=$2 WHERE alert_id=$1",
                    &[alert_id.into(), now.into()],
                )?;
                cleared.push(crate::alerts::Alert {
                    alert_id,
                    kiosk_id: r.str(1)?,
                    kind: PIN_PAD_LOCKED.to_owned(),
                    subject: r.str(2)?,
                    detail: r.str(3)?,
                    raised_ms,
                    cleared_ms: Some(now),
                });
            }
            Ok(cleared)
        })
    }

    /// Cash box clearances (清机) per day and kiosk: how many and the total taken out, from
    /// the kiosks' uploaded journals; a kiosk counts for the shop it is in now.
    ///
    /// # Errors
    /// The database's.
    pub fn report_clearances(&self, p: &Period) -> Result<Vec<ClearanceRow>, StoreError> {
        self.db().read(|s| {
            s.query(
                "SELECT j.day, k.shop_id, j.kiosk_id, COUNT(*), CAST(SUM(j.amount_fen) AS BIGINT) \
                 FROM journal j LEFT JOIN kiosks k ON k.kiosk_id=j.kiosk_id \
                 WHERE j.op='cash_box_clearance' AND j.day>=$1 AND j.day<=$2 \
                 AND (CAST($3 AS TEXT) IS NULL OR k.shop_id=$3) \
                 GROUP BY j.day, k.shop_id, j.kiosk_id ORDER BY j.day, k.shop_id, j.kiosk_id",
                &[
                    p.from.as_str().into(),
                    p.to.as_str().into(),
                    p.shop.clone().into(),
                ],
            )?
            .iter()
            .map(|r| {
                let (n, fen) = (r.i64(3)?, r.i64(4)?);
                Ok(ClearanceRow {
                    day: r.str(0)?,
                    shop_id: r.opt_str(1)?,
                    kiosk_id: r.str(2)?,
                    totals: Totals {
                        count: n,
                        amount_fen: fen,
                        average_fen: if n > 0 { fen / n } else { 0 },
                    },
                })
            })
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(op: &str, amount: i64, detail: &str) -> ServiceEntry {
        ServiceEntry::parse(7, "svc-3".into(), 1_000, op.into(), amount, Some(detail))
    }

    #[test]
    fn each_op_is_read_from_its_detail() {
        let c = parse(
            "cash_box_clearance",
            150_000,
            r#"{"technician": "T-007", "notes": {"5000": 6, "10000": 12, "2000": 0},
                "total_fen": 150000, "since": 500}"#,
        );
        assert_eq!(c.technician.as_deref(), Some("T-007"));
        assert_eq!(
            c.detail,
            ServiceDetail::Clearance {
                notes: vec![(10_000, 12), (5_000, 6)],
                since_ms: Some(500)
            }
        );
        let r = parse(
            "card_restock",
            0,
            r#"{"technician": 42, "added": 50, "bin_emptied": true, "stock": 80,
                "captured": ["8986001", "8986002"]}"#,
        );
        assert_eq!(r.technician.as_deref(), Some("42"));
        assert_eq!(
            r.detail,
            ServiceDetail::Restock {
                added: Some(50),
                stock: Some(80),
                bin_emptied: Some(true),
                captured: vec!["8986001".into(), "8986002".into()]
            }
        );
        assert_eq!(
            parse(
                "service_test_camera",
                0,
                r#"{"passed": false, "why": "dark"}"#
            )
            .detail,
            ServiceDetail::SelfTest {
                passed: Some(false)
            }
        );
        assert_eq!(
            parse(
                "service_login_locked",
                0,
                r#"{"technician": "T9", "failures": 5, "until_ms": 901000}"#
            )
            .detail,
            ServiceDetail::LoginLocked {
                failures: Some(5),
                until_ms: Some(901_000)
            }
        );
        assert_eq!(
            parse(
                "service_exit",
                0,
                r#"{"state": "out_of_service", "faulty": ["bill_acceptor"]}"#
            )
            .detail,
            ServiceDetail::Exit {
                state: Some("out_of_service".into()),
                faulty: vec!["bill_acceptor".into()]
            }
        );
    }

    #[test]
    fn missing_or_broken_details_are_tolerated() {
        for d in ["", "null", "[1]", "{", r#"{"notes": 3, "technician": {}}"#] {
            let c = parse("cash_box_clearance", 100, d);
            assert_eq!(c.technician, None, "{d}");
            assert_eq!(
                c.detail,
                ServiceDetail::Clearance {
                    notes: vec![],
                    since_ms: None
                }
            );
        }
        let e = ServiceEntry::parse(1, "svc-1".into(), 0, "service_new_thing".into(), 0, None);
        assert_eq!(e.detail, ServiceDetail::Other);
        assert!(is_service_op("service_new_thing"));
        assert!(is_service_op("cash_box_clearance"));
        assert!(!is_service_op("recharge"));
        assert!(!is_service_op("servicelogin"));
        // A typed id is shown printable and short.
        let t = parse(
            "service_login_failed",
            0,
            &serde_json::json!({"technician": format!("a\u{7}b{}", "x".repeat(50))}).to_string(),
        );
        assert_eq!(t.technician, Some(format!("ab{}", "x".repeat(30))));
    }

    #[test]
    fn a_lock_alert_names_the_typed_id_and_ends_with_the_lock() {
        let e = parse(
            "service_login_locked",
            0,
            r#"{"technician": "T-404", "failures": 5, "until_ms": 900001}"#,
        );
        let (subject, detail) = pin_pad_alert(&e);
        assert_eq!(subject, "svc-3");
        assert_eq!(
            detail,
            "service PIN pad locked after 5 wrong PINs; technician id typed: T-404; locked for 15 min"
        );
        assert_eq!(lock_ends_ms(Some(r#"{"until_ms": 5000}"#), 1), 5_000);
        assert_eq!(lock_ends_ms(None, 1), 1 + LOCK_DEFAULT_MS);
        assert_eq!(lock_ends_ms(Some("{}"), 1), 1 + LOCK_DEFAULT_MS);
    }
}
