//! Service mode on the kiosk's own screen: the PIN check (argon2id hashes from the
//! configuration's `[[technician]]`), the lockout after wrong PINs, and the panel built
//! from the same status a terminal gets (`telekiosk service status`). The supervisor
//! (`Kiosk`) owns the state and runs each action as the terminal's request.

use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordVerifier};

use crate::journal::Millis;
use crate::runtime::screen::{TechDevice, TechPanel};

/// Wrong PINs in a row before the pad locks.
pub const MAX_FAILURES: u32 = 5;
/// How long the pad stays locked.
pub const LOCKOUT: Duration = Duration::from_secs(5 * 60);

/// Counts wrong PINs and locks the pad for [`LOCKOUT`] after [`MAX_FAILURES`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinGate {
    failures: u32,
    locked_until: Option<Millis>,
}

/// What one wrong PIN did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `left` more tries before the lock.
    TryAgain { failures: u32, left: u32 },
    /// Locked until then.
    Locked { failures: u32, until: Millis },
}

impl PinGate {
    /// The state after these journaled sign-in events, oldest first (`login`,
    /// `login_failed`, `login_locked` with their times): a restart does not reopen a locked
    /// pad or forget the wrong PINs before it.
    pub fn restore<'a>(events: impl IntoIterator<Item = (&'a str, Millis)>) -> Self {
        let mut gate = Self::default();
        for (action, at) in events {
            match action {
                "login" => gate = Self::default(),
                "login_failed" => {
                    gate.fail(at);
                }
                _ => {}
            }
        }
        gate
    }

    /// Seconds the pad stays locked from `now`, if it is.
    pub fn locked_for(&self, now: Millis) -> Option<u64> {
        let until = self.locked_until?;
        (until > now).then(|| (until - now).unsigned_abs().div_ceil(1000))
    }

    /// A wrong id or PIN at `now`.
    pub fn fail(&mut self, now: Millis) -> Failure {
        if self.locked_until.is_some_and(|u| u <= now) {
            // The lock ran out: a fresh count, so one slip does not lock it again.
            *self = Self::default();
        }
        self.failures += 1;
        if self.failures >= MAX_FAILURES {
            let until = now + i64::try_from(LOCKOUT.as_millis()).unwrap_or(i64::MAX);
            self.locked_until = Some(until);
            Failure::Locked {
                failures: self.failures,
                until,
            }
        } else {
            Failure::TryAgain {
                failures: self.failures,
                left: MAX_FAILURES - self.failures,
            }
        }
    }

    /// A right PIN: the count starts again.
    pub fn succeed(&mut self) {
        *self = Self::default();
    }
}

/// A PHC string for an id nobody has: an unknown id takes as long to refuse as a wrong
/// PIN, so the pad does not tell which ids exist by its speed.
const NOBODY: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$bm9ib2R5bm9ib2R5$Zk9hc2h1bmtub3dud2hhdGV2ZXJ0aGlzaXM";

/// Checks `pin` against the argon2id `hash` (None: an unknown id, always refused).
/// Slow on purpose (argon2): call from a blocking thread.
pub fn verify(hash: Option<&str>, pin: &str) -> bool {
    let known = hash.is_some();
    let Ok(parsed) = PasswordHash::new(hash.unwrap_or(NOBODY)) else {
        tracing::warn!("a technician's PIN hash in the configuration cannot be read");
        return false;
    };
    let ok = argon2::Argon2::default()
        .verify_password(pin.as_bytes(), &parsed)
        .is_ok();
    known && ok
}

/// The argon2id PHC string of `pin` (for `telekiosk service hash-pin` and tests).
///
/// # Errors
/// argon2's, as text.
pub fn hash_pin(pin: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// The panel from the status a terminal gets (`Kiosk::service_status`).
pub fn panel(status: &serde_json::Value, technician: &str) -> TechPanel {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    let devices = status["devices"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| TechDevice {
                    name: text(&d["device"]),
                    state: text(&d["state"]).to_lowercase(),
                    detail: {
                        let mut s = text(&d["detail"]);
                        if let Some(id) = d["identity"].as_str().filter(|i| !i.is_empty()) {
                            s = format!("{s} — {id}");
                        }
                        s
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let cash = &status["cash_box"];
    let cash_notes = cash["notes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| {
                    let fen = n.get(0)?.as_u64()?;
                    Some((crate::flow::yuan(fen), n.get(1)?.as_i64()?))
                })
                .collect()
        })
        .unwrap_or_default();
    let counters = &status["counters"];
    let mut counter_lines = Vec::new();
    if let Some(by) = counters["transactions"].as_object() {
        for (kind, states) in by {
            let parts: Vec<String> = states
                .as_object()
                .map(|m| m.iter().map(|(s, n)| format!("{s} {n}")).collect())
                .unwrap_or_default();
            counter_lines.push(format!("{kind}: {}", parts.join(", ")));
        }
    }
    for (key, zh) in [
        ("notes", "纸币 notes"),
        ("papers", "凭条 papers"),
        ("cards", "卡 cards"),
    ] {
        match &counters[key] {
            serde_json::Value::Null => {}
            serde_json::Value::Object(m) if m.is_empty() => {
                counter_lines.push(format!("{zh}: 0"));
            }
            serde_json::Value::Object(m) => {
                let parts: Vec<String> = m.iter().map(|(k, n)| format!("{k} {n}")).collect();
                counter_lines.push(format!("{zh}: {}", parts.join(", ")));
            }
            other => counter_lines.push(format!("{zh}: {}", text(other))),
        }
    }
    let link = &status["link"];
    let state = text(&link["state"]);
    // "Up { skew_ms: 2, … }" → "clock skew 2 ms"; anything else as the link says it.
    let link_detail = match state.split("skew_ms: ").nth(1) {
        Some(rest) => format!(
            "clock skew {} ms",
            rest.chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect::<String>()
        ),
        None => state,
    };
    let facts = vec![
        format!(
            "链路 link: {} ({link_detail})",
            if link["up"].as_bool() == Some(true) {
                "up"
            } else {
                "down"
            },
        ),
        format!("配置 configuration: v{}", text(&status["config_version"])),
        format!("软件 software: {}", text(&status["version"])),
    ];
    TechPanel {
        technician: technician.to_owned(),
        kiosk: text(&status["kiosk"]),
        state: text(&status["state"]),
        problems: string_list(&status["problems"]),
        devices,
        facts,
        cash_notes,
        cash_total: crate::flow::yuan(cash["total_fen"].as_u64().unwrap_or(0)),
        cards_in_stock: status["cards"]["in_stock"].as_i64().unwrap_or(0),
        cards_in_bin: status["cards"]["in_reject_bin"].as_i64().unwrap_or(0),
        counters: counter_lines,
        errors: string_list(&status["recent_errors"])
            .into_iter()
            .rev()
            .take(5)
            .collect(),
        busy: None,
        last: None,
    }
}

fn string_list(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| match x.as_str() {
                    Some(s) => s.to_owned(),
                    None => x.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One line for the panel from a request's answer (`ok`, `result`, `error`), and whether
/// it went well.
pub fn outcome_text(action: &str, reply: &crate::runtime::service::ServiceReply) -> (bool, String) {
    if !reply.ok {
        return (false, reply.error.clone().unwrap_or_default());
    }
    let r = reply.result.clone().unwrap_or_default();
    let s = |k: &str| r[k].as_str().map(str::to_owned);
    let slip = s("slip").unwrap_or_default();
    let printed = slip == "printed";
    let slip_words = if printed {
        "单据已打印 slip printed".to_owned()
    } else {
        format!("单据未打印 slip {slip}")
    };
    match action {
        "test_receipt" => (
            printed,
            if printed {
                "测试页已打印 test receipt printed".to_owned()
            } else {
                format!("测试页未打印 test receipt {slip}")
            },
        ),
        "test_note" | "test_card" => (
            r["passed"].as_bool() == Some(true),
            s("summary").unwrap_or_default(),
        ),
        "test_id_card" => match s("name") {
            Some(name) => (
                true,
                format!(
                    "读卡正常 card read: {name} {}",
                    s("id_number").unwrap_or_default()
                ),
            ),
            None => (
                false,
                format!(
                    "未读到身份证 no card read: {}",
                    s("problem").unwrap_or_default()
                ),
            ),
        },
        "test_camera" => match r["good"].as_bool() {
            Some(true) => (
                true,
                format!("照片合格 photo good ({})", text_of(&r["resolution"])),
            ),
            Some(false) => (
                false,
                format!(
                    "照片不合格 photo not good: {}",
                    text_of(&r["quality"]["issues"])
                ),
            ),
            None => (
                false,
                format!("没有照片 no photo: {}", s("problem").unwrap_or_default()),
            ),
        },
        "clearance" => (
            printed,
            format!(
                "清机完成 cleared {} — {slip_words}",
                crate::flow::yuan(r["total_fen"].as_u64().unwrap_or(0))
            ),
        ),
        "restock" => (
            printed,
            format!("放卡完成 {} in stock — {slip_words}", r["in_stock"]),
        ),
        "exit" => (true, "已退出维护 service mode ended".to_owned()),
        _ => (true, r.to_string()),
    }
}

fn text_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        serde_json::Value::Object(m) => {
            let w = m.get("width").and_then(serde_json::Value::as_u64);
            let h = m.get("height").and_then(serde_json::Value::as_u64);
            match (w, h) {
                (Some(w), Some(h)) => format!("{w}×{h}"),
                _ => v.to_string(),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_wrong_pins_lock_the_pad_for_five_minutes_then_it_counts_afresh() {
        let mut g = PinGate::default();
        for n in 1..MAX_FAILURES {
            assert_eq!(
                g.fail(i64::from(n)),
                Failure::TryAgain {
                    failures: n,
                    left: MAX_FAILURES - n
                }
            );
            assert_eq!(g.locked_for(i64::from(n)), None);
        }
        let Failure::Locked { until, .. } = g.fail(10) else {
            panic!("not locked after {MAX_FAILURES}");
        };
        assert_eq!(until, 10 + 300_000);
        assert_eq!(g.locked_for(10), Some(300));
        assert_eq!(g.locked_for(until - 1), Some(1));
        assert_eq!(g.locked_for(until), None);
        // After the lock, one more slip is the first of a new count.
        assert!(matches!(
            g.fail(until + 5),
            Failure::TryAgain { failures: 1, .. }
        ));
        g.succeed();
        assert_eq!(g, PinGate::default());
    }

    #[test]
    fn the_gate_survives_a_restart_from_the_journal() {
        let events = [
            ("login_failed", 1),
            ("login", 2),
            ("login_failed", 3),
            ("login_failed", 4),
            ("login_failed", 5),
            ("login_failed", 6),
            ("login_failed", 7),
            ("login_locked", 7),
        ];
        let g = PinGate::restore(events);
        assert_eq!(g.locked_for(8), Some(300));
        let g = PinGate::restore(events[..4].iter().copied());
        assert_eq!(g.locked_for(5), None);
        let mut g = g;
        assert!(matches!(g.fail(5), Failure::TryAgain { failures: 3, .. }));
    }

    #[test]
    fn a_pin_checks_against_its_argon2id_hash_and_nothing_else() {
        let hash = hash_pin("246810").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("246810"));
        assert!(verify(Some(&hash), "246810"));
        assert!(!verify(Some(&hash), "246811"));
        assert!(!verify(Some(&hash), ""));
        assert!(!verify(None, "246810"), "an unknown id never passes");
        assert!(!verify(Some("not a hash"), "246810"));
    }

    #[test]
    fn the_panel_reads_the_terminals_status() {
        let status = serde_json::json!({
            "kiosk": "K0001", "version": "0.1.0", "state": "out_of_service",
            "problems": ["service mode: technician T-07 since 12:00"],
            "config_version": 3,
            "link": {"up": true, "state": "Up { skew_ms: 12, kiosk_id: \"K0001\" }"},
            "devices": [{"device": "bill_acceptor", "state": "Ok", "detail": "ready", "identity": "NV200 #1234"}],
            "cash_box": {"notes": [[10000, 2], [5000, 1]], "total_fen": 25000},
            "cards": {"in_stock": 40, "in_reject_bin": 2, "dispensed": 8},
            "counters": {"transactions": {"topup": {"settled": 3}}, "notes": 3, "papers": {"printed": 2}, "cards": {}},
            "recent_errors": ["e1", "e2"],
        });
        let p = panel(&status, "T-07");
        assert_eq!(p.kiosk, "K0001");
        assert_eq!(p.devices[0].state, "ok");
        assert_eq!(p.devices[0].detail, "ready — NV200 #1234");
        assert_eq!(
            p.cash_notes,
            [("¥100.00".to_owned(), 2), ("¥50.00".to_owned(), 1)]
        );
        assert_eq!(p.cash_total, "¥250.00");
        assert_eq!((p.cards_in_stock, p.cards_in_bin), (40, 2));
        assert!(
            p.counters.iter().any(|c| c == "topup: settled 3"),
            "{:?}",
            p.counters
        );
        assert!(
            p.counters.iter().any(|c| c == "凭条 papers: printed 2"),
            "{:?}",
            p.counters
        );
        assert!(
            p.counters.iter().any(|c| c == "卡 cards: 0"),
            "{:?}",
            p.counters
        );
        assert_eq!(p.errors, ["e2", "e1"], "newest first");
        assert!(p.facts[1].contains("v3"));
        assert_eq!(p.facts[0], "链路 link: up (clock skew 12 ms)");
    }
}
