//! The headless demo is the whole system on loopback — the kiosk on the device simulators,
//! the self-service system server, the operator simulator behind it: every scripted
//! customer must end as its scenario says (the demo exits non-zero otherwise), what it
//! prints must show the steps and the receipts, and head office must see the kiosk, its
//! uploaded journal and a day that reconciles with the operator's ledger.

use std::process::Command;

fn demo(args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_telekiosk"))
        .args(["demo", "--headless", "--fresh", "--out"])
        .arg(dir.path())
        .args(args)
        .output()
        .expect("run the demo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_scenario_ends_as_expected_with_ssp() {
    let (ok, text) = demo(&["--scenario", "all"]);
    assert!(ok, "{text}");
    for scenario in [
        "topup",
        "limit",
        "paper-out",
        "lost-answer",
        "slow-operator",
        "jam",
        "plan-change",
        "plan-change-id-card",
        "plan-arrears",
        "plan-frozen",
        "wrong-password",
        "bill",
        "records",
        "bill-id-card",
        "technician",
        "new-sim",
        "new-sim-minor",
        "new-sim-expired",
        "new-sim-limit",
        "new-sim-blacklisted",
        "new-sim-face-mismatch",
        "new-sim-declines",
        "replace-sim",
        "reregister",
        "loss",
        "number-query",
        "pin-sale",
    ] {
        assert!(
            text.contains(&format!("=== {scenario}: as expected")),
            "{scenario}:\n{text}"
        );
    }
    assert!(text.contains("all invariants hold"), "{text}");
    // The three parts: the server in front of the operator, head office's view at the end.
    assert!(
        text.contains("self-service system server (telekiosk-hq) on 127.0.0.1:")
            && text.contains("operator's business system (boss-sim) on 127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("=== head office"), "{text}");
    assert!(text.contains("[fleet] K0001: online"), "{text}");
    assert!(
        text.contains("[reconciliation]") && text.contains(": balanced"),
        "{text}"
    );
    // The receipt the customer gets: masked number, amount, reference, QR.
    assert!(
        text.contains("业务受理回执")
            && text.contains("138****0000")
            && text.contains("[QR: TK1|receipt|")
    );
    assert!(
        !text.contains("13800000000 "),
        "the full number must not be printed"
    );
    for secret in ["13800000002", "13900000001", "110101199003071233", "王小明"] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    // Bills whatever the day: password + SMS code, a lock-out counted down, a 详单 stopped by
    // paper out and resumed, an invoice by ID card.
    assert!(
        text.contains("[kiosk] wrong password: 4 tries left"),
        "{text}"
    );
    assert!(text.contains("password locked until"), "{text}");
    assert!(text.contains("reads the SMS on the phone"), "{text}");
    assert!(
        text.contains("paper 1 printed, paper 2 not printed")
            && text.contains("taps 继续打印 (continue printing)"),
        "{text}"
    );
    assert!(
        text.contains("places the owner's ID card on the reader"),
        "{text}"
    );
    assert!(
        text.contains("通话详单") && text.contains("发票信息"),
        "{text}"
    );
    // Plan change: booked at the operator and uploaded — or, on days 1–5, the tile greyed.
    let frozen = text.contains("is in the 出账期 (days 1–5)");
    if frozen {
        assert!(text.contains("home: plan_change greyed"), "{text}");
    } else {
        assert!(
            text.contains("P88 booked from") && text.contains("P38 booked from"),
            "{text}"
        );
        assert!(text.contains("plan_change committed"), "{text}");
        assert!(text.contains("您的号码已恢复通话"), "{text}");
    }
}

#[test]
fn plan_change_is_greyed_on_the_first_days_of_the_month() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_telekiosk"))
        .args(["demo", "--headless", "--fresh", "--out"])
        .arg(dir.path())
        .args(["--today", "2026-12-03", "--scenario", "plan-frozen"])
        .output()
        .expect("run the demo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("business date pinned to 2026-12-03"),
        "{text}"
    );
    assert!(
        text.contains("home: plan_change greyed — 每月1日至5日为出账期"),
        "{text}"
    );
    assert!(
        text.contains("no session started; still offered: topup, bill_print"),
        "{text}"
    );
    assert!(text.contains("=== plan-frozen: as expected"), "{text}");
    // The picture of the home screen with the greyed tile.
    let pictures: Vec<_> = std::fs::read_dir(dir.path().join("screens"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        pictures
            .iter()
            .any(|p| p.ends_with("plan-frozen-home-greyed.png")),
        "{pictures:?}"
    );
}

#[test]
fn on_the_first_days_of_the_month_a_plan_change_customer_finds_the_tile_greyed() {
    let (ok, text) = demo(&["--today", "2026-11-05", "--scenario", "plan-change"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("2026-11-05 is in the 出账期 (days 1–5)")
            && text.contains("home: plan_change greyed")
            && text.contains("=== plan-change: as expected"),
        "{text}"
    );
}

#[test]
fn plan_frozen_on_another_day_explains_and_fails() {
    let (ok, text) = demo(&["--today", "2026-12-10", "--scenario", "plan-frozen"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("2026-12-10 is not in the 出账期") && text.contains("--today 2026-12-03"),
        "{text}"
    );
}

#[test]
fn top_up_works_with_the_id003_acceptor() {
    let (ok, text) = demo(&["--scenario", "topup", "--protocol", "id003"]);
    assert!(ok, "{text}");
    assert!(text.contains("=== topup: as expected"), "{text}");
}

#[test]
fn an_unknown_scenario_is_refused_with_the_list() {
    let (ok, text) = demo(&["--scenario", "nonsense"]);
    assert!(!ok);
    assert!(text.contains("lost-answer"), "{text}");
}
