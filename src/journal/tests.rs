use super::*;

fn journal() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path().join("journal.sqlite"), "K0001").unwrap();
    (dir, j)
}

fn topup(j: &mut Journal, now: Millis) -> String {
    j.begin(
        &NewTxn {
            kind: "topup",
            msisdn: Some("13800000000"),
            msisdn_masked: "138****0000",
        },
        now,
    )
    .unwrap()
}

const NOON: Millis = 1_795_838_400_000; // 2026-11-28 12:00:00 +08:00

#[test]
fn opens_in_wal_with_full_sync_and_current_schema() {
    let (_d, j) = journal();
    let mode: String = j
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    let sync: i64 = j
        .conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    let version: i64 = j
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(sync, 2, "synchronous=FULL");
    assert_eq!(version, 1);
}

#[test]
fn transaction_ids_are_unique_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let first = {
        let mut j = Journal::open(&path, "K0001").unwrap();
        topup(&mut j, NOON)
    };
    let mut j = Journal::open(&path, "K0001").unwrap();
    let second = topup(&mut j, NOON);
    assert_ne!(first, second);
    assert_eq!(first, "K0001-20261128120000-000001");
    assert_eq!(second, "K0001-20261128120000-000002");
}

#[test]
fn a_settled_topup_passes_check_and_forgets_the_number() {
    let (_d, mut j) = journal();
    let t = topup(&mut j, NOON);
    j.step(
        &t,
        "recharge",
        Phase::Intent,
        &serde_json::json!({"amount_fen": 7000}),
        NOON,
    )
    .unwrap();
    j.credit_note(&t, 5000, NoteSource::Credit, NOON).unwrap();
    j.credit_note(&t, 2000, NoteSource::Credit, NOON).unwrap();
    j.settle(&t, 7000, "B123", Some(12_345), NOON).unwrap();
    let rec = j.get(&t).unwrap();
    assert_eq!(rec.state, TxnState::Settled);
    assert_eq!(rec.inserted_fen, 7000);
    assert_eq!(rec.msisdn, None);
    assert_eq!(rec.msisdn_masked, "138****0000");
    let report = j.check(false).unwrap();
    assert!(report.is_ok(), "{:?}", report.violations);
    assert_eq!(report.cashbox_fen, 7000);
    assert_eq!(j.cashbox().unwrap().notes, vec![(2000, 1), (5000, 1)]);
}

#[test]
fn check_names_every_broken_rule() {
    let (_d, mut j) = journal();
    let open = topup(&mut j, NOON);
    j.credit_note(&open, 1000, NoteSource::Credit, NOON)
        .unwrap();
    let short = topup(&mut j, NOON);
    j.credit_note(&short, 2000, NoteSource::Credit, NOON)
        .unwrap();
    j.settle(&short, 1000, "B1", None, NOON).unwrap();
    // Tamper with the ledger as a bug would.
    j.conn
        .execute("UPDATE cashbox SET count = 5 WHERE fen = 1000", [])
        .unwrap();

    let rules: Vec<_> = j
        .check(false)
        .unwrap()
        .violations
        .into_iter()
        .map(|v| v.rule)
        .collect();
    assert!(rules.contains(&"no_unresolved_transaction"), "{rules:?}");
    assert!(rules.contains(&"settled_credits_everything"), "{rules:?}");
    assert!(rules.contains(&"cashbox_matches_notes"), "{rules:?}");
    // A running kiosk may have an open transaction.
    let running: Vec<_> = j
        .check(true)
        .unwrap()
        .violations
        .into_iter()
        .map(|v| v.rule)
        .collect();
    assert!(!running.contains(&"no_unresolved_transaction"));
}

#[test]
fn voucher_covers_what_was_not_credited() {
    let (_d, mut j) = journal();
    let t = topup(&mut j, NOON);
    j.credit_note(&t, 10_000, NoteSource::Credit, NOON).unwrap();
    j.credit_note(&t, 2000, NoteSource::PowerUp, NOON).unwrap();
    let v = j.issue_voucher(&t, "subscriber suspended", NOON).unwrap();
    let rec = j.get(&t).unwrap();
    assert_eq!(rec.state, TxnState::Voucher);
    assert_eq!(rec.voucher_id.as_deref(), Some(v.as_str()));
    assert!(j.check(false).unwrap().is_ok());
    // A voucher is final: no more notes, no settling.
    assert!(matches!(
        j.credit_note(&t, 100, NoteSource::Credit, NOON),
        Err(Error::BadTransition { .. })
    ));
    assert!(matches!(
        j.settle(&t, 12_000, "B", None, NOON),
        Err(Error::BadTransition { .. })
    ));
}

#[test]
fn nothing_settles_twice() {
    let (_d, mut j) = journal();
    let t = topup(&mut j, NOON);
    j.credit_note(&t, 5000, NoteSource::Credit, NOON).unwrap();
    j.settle(&t, 5000, "B1", None, NOON).unwrap();
    assert!(matches!(
        j.settle(&t, 5000, "B1", None, NOON),
        Err(Error::BadTransition { .. })
    ));
}

#[test]
fn cancel_refuses_when_money_was_taken() {
    let (_d, mut j) = journal();
    let t = topup(&mut j, NOON);
    j.credit_note(&t, 100, NoteSource::Credit, NOON).unwrap();
    assert!(j.cancel(&t, "customer left", NOON).is_err());
    let empty = topup(&mut j, NOON);
    j.cancel(&empty, "customer left", NOON).unwrap();
    assert_eq!(j.get(&empty).unwrap().state, TxnState::Cancelled);
}

#[test]
fn step_log_is_append_only() {
    let (_d, mut j) = journal();
    let t = topup(&mut j, NOON);
    j.step(&t, "lookup", Phase::Intent, &serde_json::json!({}), NOON)
        .unwrap();
    assert!(j.conn.execute("UPDATE step SET kind = 'x'", []).is_err());
    assert!(j.conn.execute("DELETE FROM step", []).is_err());
    let steps = j.steps(&t).unwrap();
    assert_eq!(
        steps.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(),
        ["open", "lookup"]
    );
}

#[test]
fn clearance_empties_the_ledger_and_keeps_check_green() {
    let (_d, mut j) = journal();
    let t = topup(&mut j, NOON);
    j.credit_note(&t, 5000, NoteSource::Credit, NOON).unwrap();
    j.settle(&t, 5000, "B", None, NOON).unwrap();
    let cleared = j.clear_cashbox("tech-7", NOON).unwrap();
    assert_eq!(cleared.total_fen, 5000);
    assert_eq!(j.cashbox().unwrap().total_fen, 0);
    assert!(j.check(false).unwrap().is_ok());
}

#[test]
fn export_writes_one_json_line_per_transaction_without_full_numbers() {
    let (_d, mut j) = journal();
    let a = topup(&mut j, NOON);
    j.credit_note(&a, 5000, NoteSource::Credit, NOON).unwrap();
    let _b = topup(&mut j, NOON);
    let mut out = Vec::new();
    assert_eq!(j.export(&mut out).unwrap(), 2);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(
        !text.contains("13800000000"),
        "export must not carry full numbers"
    );
    assert!(text.contains("138****0000"));
}

#[test]
fn refuses_a_journal_from_a_newer_kiosk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    drop(Journal::open(&path, "K1").unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    assert!(matches!(
        Journal::open(&path, "K1"),
        Err(Error::TooNew { found: 99, .. })
    ));
}

#[test]
fn timestamps_are_shop_local_time() {
    assert_eq!(timestamp(0), "19700101080000");
    assert_eq!(timestamp(NOON), "20261128120000");
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
}

#[test]
fn a_late_note_after_settlement_goes_on_a_voucher() {
    let (_d, mut j) = journal();
    let t = topup(&mut j, NOON);
    j.credit_note(&t, 5000, NoteSource::Credit, NOON).unwrap();
    j.settle(&t, 5000, "B1", None, NOON).unwrap();
    // Settled transactions take no more notes...
    assert!(j.credit_note(&t, 1000, NoteSource::Credit, NOON).is_err());
    // ...and a settled transaction that owes nothing gets no voucher.
    assert!(j.issue_voucher(&t, "nothing owed", NOON).is_err());
}

#[test]
fn card_stock_follows_restock_dispensing_and_the_reject_bin() {
    let (_d, mut j) = journal();
    assert_eq!(j.card_stock().unwrap(), CardStock::default());
    j.card_movement(CardMovement::Restock(100), None, Some("tech-7"), NOON)
        .unwrap();
    let t = topup(&mut j, NOON);
    j.card_movement(CardMovement::Dispensed, Some(&t), None, NOON)
        .unwrap();
    j.card_movement(CardMovement::Rejected, Some(&t), None, NOON)
        .unwrap();
    let s = j
        .card_movement(CardMovement::Rejected, None, None, NOON)
        .unwrap();
    assert_eq!(
        s,
        CardStock {
            in_stock: 97,
            in_reject_bin: 2,
            dispensed: 1
        }
    );
    let s = j
        .card_movement(CardMovement::BinEmptied, None, Some("tech-7"), NOON)
        .unwrap();
    assert_eq!(s.in_reject_bin, 0);
    assert_eq!(s.in_stock, 97);
    j.cancel(&t, "test", NOON).unwrap();
    assert!(j.check(false).unwrap().is_ok());
}

#[test]
fn dispensing_from_an_empty_stock_breaks_the_check() {
    let (_d, mut j) = journal();
    j.card_movement(CardMovement::Dispensed, None, None, NOON)
        .unwrap();
    let rules: Vec<_> = j
        .check(false)
        .unwrap()
        .violations
        .into_iter()
        .map(|v| v.rule)
        .collect();
    assert_eq!(rules, ["card_stock_not_negative"]);
}
