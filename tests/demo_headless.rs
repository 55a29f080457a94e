//! The headless demo is the whole kiosk against the simulators and the operator simulator:
//! every scripted customer must end as its scenario says (the demo exits non-zero
//! otherwise), and what it prints must show the steps and the receipts.

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
    ] {
        assert!(
            text.contains(&format!("=== {scenario}: as expected")),
            "{scenario}:\n{text}"
        );
    }
    assert!(text.contains("all invariants hold"), "{text}");
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
