//! Alerts (告警): kiosk down, stuck on a customer screen, device fault, cash box near full,
//! card stock low, reconciliation mismatch, a technician's PIN pad locked. Each is raised
//! once (one active alert per kiosk, kind and subject) and cleared when its cause is gone;
//! raises and clears are delivered to a webhook (HTTP POST of JSON) and listed.
//!
//! [`desired`] is pure: the fleet and the reconciliation results in, the alerts that should
//! be active out. [`Store::sync_alerts`] makes the stored alerts match. A PIN pad lock is an
//! event, not a state: it is raised when its journal entry is stored
//! ([`crate::service_log`]) and cleared when the lock has run out, never by
//! [`Store::sync_alerts`].

use std::collections::BTreeMap;
use std::time::Duration;

use boss_protocol::DeviceState;
use serde::{Deserialize, Serialize};

use crate::fleet::KioskView;
use crate::store::{Store, StoreError, now_ms};

/// Thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertRules {
    /// No heartbeat for this long: `kiosk_down` (3 minutes).
    pub down_after_s: u64,
    /// A customer screen (anything but idle, out of service and service mode) shown this
    /// long: `stuck` (10 minutes).
    pub stuck_after_s: u64,
    /// Cash box at this share of its capacity (percent): `cash_box_near_full`.
    pub cash_box_full_pct: u64,
    /// Fewer blank SIMs than this: `card_stock_low` (0 switches it off).
    pub card_stock_low: u64,
}

impl Default for AlertRules {
    fn default() -> Self {
        Self {
            down_after_s: 180,
            stuck_after_s: 600,
            cash_box_full_pct: 90,
            card_stock_low: 20,
        }
    }
}

/// An alert that should be active.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wanted {
    /// The kiosk.
    pub kiosk_id: String,
    /// `kiosk_down`, `stuck`, `device_fault`, `cash_box_near_full`, `card_stock_low`,
    /// `reconciliation_mismatch` (and, raised on upload, `pin_pad_locked`).
    pub kind: String,
    /// What within the kiosk (a device, a day; empty for the kiosk itself).
    pub subject: String,
    /// Human detail, no personal data.
    pub detail: String,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Id.
    pub alert_id: i64,
    /// The kiosk.
    pub kiosk_id: String,
    /// Kind (see [`Wanted::kind`]).
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Detail.
    pub detail: String,
    /// Raised (UTC ms).
    pub raised_ms: i64,
    /// Cleared (UTC ms), if resolved.
    pub cleared_ms: Option<i64>,
}

/// Screens on which a kiosk is not serving a customer.
fn resting(screen: &str) -> bool {
    screen == "idle"
        || screen.starts_with("idle.")
        || screen.starts_with("out_of_service")
        || screen.starts_with("service_mode")
        || screen == "locked"
}

/// The alerts the fleet and the unbalanced reconciliation days call for, at `now_ms`.
#[must_use]
pub fn desired(
    rules: &AlertRules,
    fleet: &[KioskView],
    unbalanced: &[(String, String, usize)],
    now_ms: i64,
) -> Vec<Wanted> {
    let mut out = Vec::new();
    let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
    for k in fleet {
        let mut want = |kind: &str, subject: &str, detail: String| {
            out.push(Wanted {
                kiosk_id: k.kiosk_id.clone(),
                kind: kind.to_owned(),
                subject: subject.to_owned(),
                detail,
            });
        };
        // Only kiosks that have reported at least once can be down.
        if let Some(hb) = k.last_heartbeat_ms
            && now_ms - hb >= ms(rules.down_after_s)
        {
            want(
                "kiosk_down",
                "",
                format!("no heartbeat for {} s", (now_ms - hb) / 1000),
            );
            // A down kiosk's last report is stale: nothing else is judged from it.
            continue;
        }
        if let (Some(screen), Some(since)) = (&k.screen, k.screen_since_ms)
            && !resting(screen)
            && now_ms - since >= ms(rules.stuck_after_s)
        {
            want(
                "stuck",
                "",
                format!("screen {screen} for {} s", (now_ms - since) / 1000),
            );
        }
        for d in &k.devices {
            if matches!(d.state, DeviceState::Fault | DeviceState::Offline) {
                let name = serde_json::to_value(d.device)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let state = if d.state == DeviceState::Fault {
                    "fault"
                } else {
                    "offline"
                };
                want(
                    "device_fault",
                    &name,
                    format!(
                        "{name} {state}{}",
                        d.condition
                            .as_ref()
                            .map(|c| format!(" ({c})"))
                            .unwrap_or_default()
                    ),
                );
            }
        }
        if let Some(cb) = &k.cash_box
            && let Some(cap) = cb.capacity_notes.filter(|c| *c > 0)
        {
            let notes: u64 = cb.notes.iter().map(|n| u64::from(n.count)).sum();
            if notes * 100 >= u64::from(cap) * rules.cash_box_full_pct {
                want("cash_box_near_full", "", format!("{notes} of {cap} notes"));
            }
        }
        if rules.card_stock_low > 0
            && let Some(n) = k.blank_sims
            && u64::from(n) < rules.card_stock_low
        {
            want("card_stock_low", "", format!("{n} blank SIMs left"));
        }
    }
    for (kiosk, day, n) in unbalanced {
        out.push(Wanted {
            kiosk_id: kiosk.clone(),
            kind: "reconciliation_mismatch".into(),
            subject: day.clone(),
            detail: format!("{n} differences on {day}"),
        });
    }
    out.sort();
    out
}

/// Alerts raised and cleared by one [`Store::sync_alerts`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertChanges {
    /// Newly raised.
    pub raised: Vec<Alert>,
    /// Newly cleared.
    pub cleared: Vec<Alert>,
}

fn alert_of(r: &crate::db::Row) -> Result<Alert, StoreError> {
    Ok(Alert {
        alert_id: r.i64(0)?,
        kiosk_id: r.str(1)?,
        kind: r.str(2)?,
        subject: r.str(3)?,
        detail: r.str(4)?,
        raised_ms: r.i64(5)?,
        cleared_ms: r.opt_i64(6)?,
    })
}

const ALERT_COLS: &str = "alert_id, kiosk_id, kind, subject, detail, raised_ms, cleared_ms";

impl Store {
    /// Kiosk and day of every stored reconciliation with differences, and how many.
    ///
    /// # Errors
    /// The database's.
    pub fn unbalanced_days(&self) -> Result<Vec<(String, String, usize)>, StoreError> {
        self.db().read(|s| {
            s.query(
                "SELECT r.kiosk_id, r.day, (SELECT COUNT(*) FROM recon_mismatches m \
                 WHERE m.kiosk_id=r.kiosk_id AND m.day=r.day) FROM recon_runs r WHERE r.balanced=0",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok((
                    r.str(0)?,
                    r.str(1)?,
                    usize::try_from(r.i64(2)?).unwrap_or(0),
                ))
            })
            .collect()
        })
    }

    /// Makes the active alerts match `wanted`: raises the missing ones, clears the ones no
    /// longer wanted. An alert already active is not raised again. PIN pad locks (raised
    /// on upload, [`crate::service_log::PIN_PAD_LOCKED`]) are left alone.
    ///
    /// # Errors
    /// The database's.
    pub fn sync_alerts(&self, wanted: &[Wanted]) -> Result<AlertChanges, StoreError> {
        let now = now_ms();
        self.db().tx(|s| {
            let active: Vec<Alert> = s
                .query(
                    &format!(
                        "SELECT {ALERT_COLS} FROM alerts WHERE cleared_ms IS NULL AND kind<>$1"
                    ),
                    &[crate::service_log::PIN_PAD_LOCKED.into()],
                )?
                .iter()
                .map(alert_of)
                .collect::<Result<_, _>>()?;
            let key =
                |k: &str, kind: &str, sub: &str| (k.to_owned(), kind.to_owned(), sub.to_owned());
            let want: BTreeMap<_, &Wanted> = wanted
                .iter()
                .map(|w| (key(&w.kiosk_id, &w.kind, &w.subject), w))
                .collect();
            let mut changes = AlertChanges::default();
            for a in &active {
                if !want.contains_key(&key(&a.kiosk_id, &a.kind, &a.subject)) {
                    s.exec(
                        "UPDATE alerts SET cleared_ms=$2 WHERE alert_id=$1",
                        &[a.alert_id.into(), now.into()],
                    )?;
                    let mut c = a.clone();
                    c.cleared_ms = Some(now);
                    changes.cleared.push(c);
                }
            }
            for (k, w) in want {
                if active
                    .iter()
                    .any(|a| key(&a.kiosk_id, &a.kind, &a.subject) == k)
                {
                    continue;
                }
                let id = s
                    .one(
                        "INSERT INTO alerts(kiosk_id, kind, subject, detail, raised_ms) \
                         VALUES ($1,$2,$3,$4,$5) RETURNING alert_id",
                        &[
                            w.kiosk_id.as_str().into(),
                            w.kind.as_str().into(),
                            w.subject.as_str().into(),
                            w.detail.as_str().into(),
                            now.into(),
                        ],
                    )?
                    .ok_or(StoreError::Task)?
                    .i64(0)?;
                changes.raised.push(Alert {
                    alert_id: id,
                    kiosk_id: w.kiosk_id.clone(),
                    kind: w.kind.clone(),
                    subject: w.subject.clone(),
                    detail: w.detail.clone(),
                    raised_ms: now,
                    cleared_ms: None,
                });
            }
            Ok(changes)
        })
    }

    /// Evaluates the rules against the fleet now and syncs the alerts.
    ///
    /// # Errors
    /// The database's.
    pub fn evaluate_alerts(&self, rules: &AlertRules) -> Result<AlertChanges, StoreError> {
        let fleet = self.fleet(None)?;
        let unbalanced = self.unbalanced_days()?;
        let now = now_ms();
        let mut changes = self.sync_alerts(&desired(rules, &fleet, &unbalanced, now))?;
        changes.cleared.extend(self.clear_ended_pin_pad_locks(now)?);
        Ok(changes)
    }

    /// Alerts, newest first: active only, or all.
    ///
    /// # Errors
    /// The database's.
    pub fn alerts(&self, include_cleared: bool, limit: u32) -> Result<Vec<Alert>, StoreError> {
        self.db().read(|s| {
            s.query(
                &format!(
                    "SELECT {ALERT_COLS} FROM alerts WHERE (CAST($1 AS BIGINT)=1 OR cleared_ms IS NULL) \
                     ORDER BY alert_id DESC LIMIT $2"
                ),
                &[include_cleared.into(), i64::from(limit).into()],
            )?
            .iter()
            .map(alert_of)
            .collect()
        })
    }

    /// Raises and clears not yet delivered to the webhook: `(alert, event)` with event
    /// `raised` or `cleared`.
    ///
    /// # Errors
    /// The database's.
    pub fn undelivered_alerts(&self) -> Result<Vec<(Alert, &'static str)>, StoreError> {
        self.db().read(|s| {
            let mut out = Vec::new();
            for r in s.query(
                &format!(
                    "SELECT {ALERT_COLS} FROM alerts WHERE raise_sent_ms IS NULL ORDER BY alert_id"
                ),
                &[],
            )? {
                out.push((alert_of(&r)?, "raised"));
            }
            for r in s.query(
                &format!(
                    "SELECT {ALERT_COLS} FROM alerts WHERE cleared_ms IS NOT NULL \
                     AND clear_sent_ms IS NULL ORDER BY alert_id"
                ),
                &[],
            )? {
                out.push((alert_of(&r)?, "cleared"));
            }
            Ok(out)
        })
    }

    /// Marks a webhook delivery done.
    ///
    /// # Errors
    /// The database's.
    pub fn alert_delivered(&self, alert_id: i64, event: &str) -> Result<(), StoreError> {
        let col = if event == "cleared" {
            "clear_sent_ms"
        } else {
            "raise_sent_ms"
        };
        self.db().tx(|s| {
            s.exec(
                &format!("UPDATE alerts SET {col}=$2 WHERE alert_id=$1"),
                &[alert_id.into(), now_ms().into()],
            )?;
            Ok(())
        })
    }
}

/// Why a webhook delivery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// Only `http://host:port/path` is supported (terminate TLS in a relay).
    #[error("webhook URL {0:?}: expected http://host[:port]/path")]
    BadUrl(String),
    /// Connecting, writing or reading failed.
    #[error("webhook I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The receiver answered something else than 2xx.
    #[error("webhook answered {0:?}")]
    Status(String),
    /// No answer in time.
    #[error("webhook timed out")]
    Timeout,
}

/// POSTs one JSON document to an `http://` URL; succeeds on a 2xx answer.
///
/// # Errors
/// [`WebhookError`].
pub async fn post_json(url: &str, body: &serde_json::Value) -> Result<(), WebhookError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| WebhookError::BadUrl(url.to_owned()))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if hostport.is_empty() {
        return Err(WebhookError::BadUrl(url.to_owned()));
    }
    let addr = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:80")
    };
    let payload = body.to_string();
    let fut = async {
        let mut tcp = tokio::net::TcpStream::connect(&addr).await?;
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\nUser-Agent: telekiosk-hq\r\n\r\n{payload}",
            payload.len()
        );
        tcp.write_all(req.as_bytes()).await?;
        let mut head = vec![0u8; 512];
        let mut got = 0;
        while got < head.len() {
            let n = tcp.read(head.get_mut(got..).unwrap_or_default()).await?;
            if n == 0 {
                break;
            }
            got += n;
            if head.get(..got).is_some_and(|h| h.contains(&b'\n')) {
                break;
            }
        }
        let line = String::from_utf8_lossy(head.get(..got).unwrap_or_default())
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        let ok = line
            .split_whitespace()
            .nth(1)
            .is_some_and(|c| c.starts_with('2') && c.len() == 3);
        if ok {
            Ok(())
        } else {
            Err(WebhookError::Status(line))
        }
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .map_err(|_| WebhookError::Timeout)?
}

/// Delivers every undelivered raise and clear to the webhook, oldest first; stops at the
/// first failure (retried at the next run). Returns how many were delivered.
///
/// # Errors
/// The store's.
pub async fn deliver(store: &Store, webhook: &str) -> Result<usize, StoreError> {
    let pending = store.run(Store::undelivered_alerts).await?;
    let mut n = 0;
    for (a, event) in pending {
        let body = serde_json::json!({ "event": event, "alert": a });
        match post_json(webhook, &body).await {
            Ok(()) => {
                let id = a.alert_id;
                store.run(move |s| s.alert_delivered(id, event)).await?;
                n += 1;
            }
            Err(e) => {
                tracing::warn!(error = %e, "alert webhook delivery failed; retried later");
                break;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boss_protocol::{CashBox, DeviceHealth, DeviceKind, NoteCount};

    fn kiosk(id: &str) -> KioskView {
        KioskView {
            kiosk_id: id.into(),
            shop_id: None,
            online: true,
            instance_id: None,
            last_seen_ms: 0,
            last_heartbeat_ms: Some(1_000_000),
            devices: vec![],
            cash_box: None,
            blank_sims: Some(50),
            reject_bin: Some(0),
            screen: Some("idle".into()),
            screen_since_ms: Some(0),
            last_error: None,
            software: None,
            config_version: None,
            config_target: None,
            locked: false,
            lock_reason: None,
            kiosk_state: Some("in_service".into()),
            state_detail: None,
        }
    }

    #[test]
    fn each_rule_fires_at_its_threshold() {
        let rules = AlertRules::default();
        let now = 1_000_000;
        assert!(desired(&rules, &[kiosk("K1")], &[], now).is_empty());
        let mut down = kiosk("K1");
        down.last_heartbeat_ms = Some(now - 180_000);
        let w = desired(&rules, &[down.clone()], &[], now);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, "kiosk_down");
        down.last_heartbeat_ms = Some(now - 179_999);
        assert!(desired(&rules, &[down], &[], now).is_empty());

        let mut k = kiosk("K2");
        k.screen = Some("top_up.insert_cash".into());
        k.screen_since_ms = Some(now - 600_000);
        k.devices = vec![DeviceHealth {
            device: DeviceKind::ReceiptPrinter,
            state: DeviceState::Fault,
            condition: Some("paper_out".into()),
        }];
        k.cash_box = Some(CashBox {
            notes: vec![NoteCount {
                denomination_fen: 10_000,
                count: 900,
            }],
            total_fen: 9_000_000,
            capacity_notes: Some(1000),
        });
        k.blank_sims = Some(19);
        let kinds: Vec<String> =
            desired(&rules, &[k], &[("K2".into(), "2026-11-20".into(), 2)], now)
                .into_iter()
                .map(|w| format!("{}:{}", w.kind, w.subject))
                .collect();
        assert_eq!(
            kinds,
            [
                "card_stock_low:",
                "cash_box_near_full:",
                "device_fault:receipt_printer",
                "reconciliation_mismatch:2026-11-20",
                "stuck:"
            ]
        );
    }

    #[test]
    fn webhook_url_must_be_http() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(post_json("https://x/y", &serde_json::json!({})));
        assert!(matches!(r, Err(WebhookError::BadUrl(_))));
    }
}
