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
    assert_eq!(version, 4);
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

#[test]
fn a_journal_of_the_first_schema_is_brought_up_to_date_keeping_its_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        // Schema 1 exactly as the first kiosks wrote it, with one settled top-up.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(super::schema::MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO txn (id, kind, state, msisdn_masked, opened_at, updated_at)
             VALUES ('K1-old', 'topup', 'cancelled', '138****0000', 1, 1)",
            [],
        )
        .unwrap();
    }
    let mut j = Journal::open(&path, "K1").unwrap();
    assert_eq!(j.get("K1-old").unwrap().state, TxnState::Cancelled);
    // The new tables work.
    j.set_kiosk_state("lock", Some(&serde_json::json!({"reason": "x"})), 2)
        .unwrap();
    assert_eq!(
        j.kiosk_state("lock").unwrap(),
        Some(serde_json::json!({"reason": "x"}))
    );
    assert_eq!(j.upload_acked().unwrap(), 0);
}

#[test]
fn legs_papers_and_uploads_are_recorded_with_the_transaction() {
    let (_d, mut j) = journal();
    let id = j
        .begin(
            &NewTxn {
                kind: "topup",
                msisdn: Some("13800000000"),
                msisdn_masked: "138****0000",
            },
            1,
        )
        .unwrap();
    j.credit_note(&id, 5000, NoteSource::Credit, 2).unwrap();
    j.operator_sent(&id, &id, "recharge", 5000, 3).unwrap();
    j.operator_answered(&id, "committed", Some("B1"), &serde_json::json!({}), 4)
        .unwrap();
    assert_eq!(
        j.legs(&id).unwrap(),
        vec![(id.clone(), "recharge".into(), "committed".into())]
    );
    j.settle(&id, 5000, "B1", Some(1), 5).unwrap();
    let paper = j
        .paper_sent(&id, "topup_receipt", &serde_json::json!({"x": 1}), 6)
        .unwrap();
    assert_eq!(
        j.papers_to_reprint().unwrap().len(),
        1,
        "sent, not yet answered"
    );
    j.paper_done(paper, false, Some("paper_out"), 7).unwrap();
    assert_eq!(
        j.get(&id).unwrap().receipt.as_deref(),
        Some("not_printed: paper_out")
    );
    assert_eq!(j.papers_to_reprint().unwrap()[0].state, "not_printed");
    j.paper_retry(paper, 8).unwrap();
    j.paper_done(paper, true, None, 9).unwrap();
    assert!(j.papers_to_reprint().unwrap().is_empty());
    assert_eq!(j.get(&id).unwrap().receipt.as_deref(), Some("printed"));
    // The settled top-up waits in the outbox, with no full number in it.
    let up = j.uploads_after(0, 10).unwrap();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].entry["op"], "recharge");
    assert_eq!(up[0].entry["state"], "committed");
    assert!(!up[0].entry.to_string().contains("13800000000"));
    j.set_upload_acked(up[0].seq).unwrap();
    j.set_upload_acked(0).unwrap();
    assert_eq!(
        j.upload_acked().unwrap(),
        up[0].seq,
        "the cursor never goes back"
    );
    assert!(
        j.uploads_after(j.upload_acked().unwrap(), 10)
            .unwrap()
            .is_empty()
    );
    assert!(j.check(false).unwrap().is_ok());
}

#[test]
fn a_stray_note_becomes_a_voucher_of_its_own() {
    let (_d, mut j) = journal();
    let id = j
        .orphan_note(2000, NoteSource::Credit, "no session", 1)
        .unwrap();
    let t = j.get(&id).unwrap();
    assert_eq!(t.state, TxnState::Voucher);
    assert_eq!(t.inserted_fen, 2000);
    assert!(j.check(false).unwrap().is_ok());
}

#[test]
fn records_print_no_full_number_in_debug() {
    let (_d, mut j) = journal();
    let id = j
        .begin(
            &NewTxn {
                kind: "topup",
                msisdn: Some("13812345678"),
                msisdn_masked: "138****5678",
            },
            1,
        )
        .unwrap();
    let shown = format!("{:?}", j.get(&id).unwrap());
    assert!(!shown.contains("13812345678"), "{shown}");
}

#[test]
fn a_transaction_without_money_completes_with_the_operators_reference() {
    let (_d, mut j) = journal();
    let id = j
        .begin(
            &NewTxn {
                kind: "plan_change",
                msisdn: None,
                msisdn_masked: "138****0000",
            },
            1,
        )
        .unwrap();
    j.operator_sent(&id, &id, "plan_change", 0, 2).unwrap();
    j.mark_pending(&id, "not confirmed", 3).unwrap();
    j.complete(&id, Some("BG0001"), 4).unwrap();
    let t = j.get(&id).unwrap();
    assert_eq!(t.state, TxnState::Settled);
    assert_eq!(t.boss_ref.as_deref(), Some("BG0001"));
    assert_eq!(t.credited_fen, 0);
    let up = j.uploads_after(0, 10).unwrap();
    assert_eq!(up[0].entry["op"], "plan_change");
    assert_eq!(up[0].entry["state"], "committed");
    assert!(j.check(false).unwrap().is_ok());
    // Twice is refused: a closed transaction stays closed.
    assert!(j.complete(&id, None, 5).is_err());
}

#[test]
fn a_transaction_that_took_money_cannot_be_completed_without_it() {
    let (_d, mut j) = journal();
    let id = topup(&mut j, 1);
    j.credit_note(&id, 5000, NoteSource::Credit, 2).unwrap();
    assert!(j.complete(&id, Some("X"), 3).is_err());
    assert_eq!(j.get(&id).unwrap().state, TxnState::Open);
}

#[test]
fn a_printed_bill_keeps_what_and_whose_not_its_content() {
    let (_d, mut j) = journal();
    let id = j
        .begin(
            &NewTxn {
                kind: "bill_print",
                msisdn: None,
                msisdn_masked: "138****0000",
            },
            1,
        )
        .unwrap();
    let doc = serde_json::json!({"Records": {
        "number_masked": "138****0000", "month": "2026-11", "page": 2,
        "rows": [{"counterpart_masked": "139****5678"}]
    }});
    let printed = j.paper_sent(&id, "itemised_records", &doc, 2).unwrap();
    let stopped = j.paper_sent(&id, "itemised_records", &doc, 3).unwrap();
    j.paper_done(printed, true, None, 4).unwrap();
    j.paper_done(stopped, false, Some("paper out"), 5).unwrap();
    let papers = j.papers(&id).unwrap();
    let kept = |pid: i64| papers.iter().find(|p| p.id == pid).unwrap().doc.clone();
    assert!(
        kept(printed)["Records"].get("rows").is_none(),
        "{}",
        kept(printed)
    );
    assert_eq!(kept(printed)["Records"]["month"], "2026-11");
    assert_eq!(kept(printed)["Records"]["redacted"], true);
    // The page that stopped is kept whole for a day, for the technician to print with
    // its customer there; then only what and whose stay.
    assert!(kept(stopped)["Records"].get("rows").is_some());
    assert_eq!(
        j.purge_confidential(5).unwrap(),
        0,
        "not older than a day yet"
    );
    assert_eq!(j.purge_confidential(6).unwrap(), 1);
    let papers = j.papers(&id).unwrap();
    let doc = &papers.iter().find(|p| p.id == stopped).unwrap().doc;
    assert!(doc["Records"].get("rows").is_none(), "{doc}");
    // A money paper is never stripped: it is printed again after a crash.
    let t = topup(&mut j, 10);
    let receipt = j
        .paper_sent(&t, "topup_receipt", &serde_json::json!({"items": [1]}), 11)
        .unwrap();
    j.paper_done(receipt, false, Some("paper out"), 12).unwrap();
    assert_eq!(j.purge_confidential(100).unwrap(), 0);
}

fn sim_txn(j: &mut Journal, now: Millis) -> String {
    j.begin(
        &NewTxn {
            kind: "new_sim",
            msisdn: None,
            msisdn_masked: "-",
        },
        now,
    )
    .unwrap()
}

#[test]
fn a_card_goes_stage_by_stage_and_is_counted_where_it_ends() {
    let (_d, mut j) = journal();
    j.card_movement(CardMovement::Restock(10), None, Some("T01"), 1)
        .unwrap();
    let t = sim_txn(&mut j, 2);
    // The first card spoils while being written: captured, the next one goes out.
    let c1 = j.card_pick(&t, 1, 3).unwrap();
    j.card_stage(c1, CardStage::AtIc, None, None, 4).unwrap();
    assert_eq!(j.card_stock().unwrap().in_stock, 9, "out of the stacker");
    j.card_stage(c1, CardStage::AtIc, Some("89860012345678901234"), None, 5)
        .unwrap();
    assert!(
        j.card_pick(&t, 2, 6).is_err(),
        "one card of a transaction in the machine at a time"
    );
    j.card_stage(c1, CardStage::Captured, None, Some("write failed"), 6)
        .unwrap();
    let c2 = j.card_pick(&t, 2, 7).unwrap();
    for stage in [
        CardStage::AtIc,
        CardStage::Written,
        CardStage::Activated,
        CardStage::Presented,
        CardStage::Taken,
    ] {
        j.card_stage(c2, stage, None, None, 8).unwrap();
    }
    let stock = j.card_stock().unwrap();
    assert_eq!(
        (stock.in_stock, stock.in_reject_bin, stock.dispensed),
        (8, 1, 1)
    );
    let cards = j.cards(&t).unwrap();
    assert_eq!(cards.len(), 2);
    assert_eq!(cards[0].iccid.as_deref(), Some("89860012345678901234"));
    assert_eq!(cards[0].stage, CardStage::Captured);
    assert!(!cards[0].activated);
    assert!(cards[1].activated && cards[1].stage == CardStage::Taken);
    assert!(j.cards_in_flight().unwrap().is_empty());
    // A card that ended stays where it ended.
    assert!(
        j.card_stage(c2, CardStage::Captured, None, None, 9)
            .is_err()
    );
    assert!(j.card_stage(c1, CardStage::AtIc, None, None, 9).is_err());
}

#[test]
fn a_card_never_picked_is_not_counted_and_a_settled_sim_needs_its_card() {
    let (_d, mut j) = journal();
    j.card_movement(CardMovement::Restock(5), None, Some("T01"), 1)
        .unwrap();
    let t = sim_txn(&mut j, 2);
    j.credit_note(&t, 5000, NoteSource::Credit, 3).unwrap();
    let c = j.card_pick(&t, 1, 4).unwrap();
    assert_eq!(j.cards_in_flight().unwrap().len(), 1);
    j.card_stage(c, CardStage::NotPicked, None, Some("dispenser jammed"), 5)
        .unwrap();
    assert_eq!(j.card_stock().unwrap().in_stock, 5);
    // Settled with no activated card: the books say a number went out on nothing.
    j.settle(&t, 5000, "KH1", None, 6).unwrap();
    let report = j.check(false).unwrap();
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.rule == "a_settled_sim_is_on_one_card"),
        "{:?}",
        report.violations
    );
    let up = j.uploads_after(0, 10).unwrap();
    assert_eq!(up[0].entry["op"], "new_sim_order");
}

#[test]
fn a_closed_transaction_with_a_card_in_the_machine_is_a_violation() {
    let (_d, mut j) = journal();
    j.card_movement(CardMovement::Restock(5), None, Some("T01"), 1)
        .unwrap();
    let t = sim_txn(&mut j, 2);
    let c = j.card_pick(&t, 1, 3).unwrap();
    j.card_stage(c, CardStage::AtIc, None, None, 4).unwrap();
    j.cancel(&t, "test", 5).unwrap();
    let report = j.check(false).unwrap();
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.rule == "cards_end_with_their_transaction"),
        "{:?}",
        report.violations
    );
}

#[test]
fn every_service_log_line_goes_to_head_office_with_the_technicians_id() {
    let (_d, mut j) = journal();
    let detail = serde_json::json!({"notes": {"10000": 2}, "total_fen": 20000, "since": null});
    j.service_log("T-07", "clearance", &detail, 5).unwrap();
    j.service_log(
        "T-07",
        "test_receipt",
        &serde_json::json!({"passed": true}),
        6,
    )
    .unwrap();
    j.service_log("X", "login_failed", &serde_json::json!({"failures": 1}), 7)
        .unwrap();
    let up = j.uploads_after(0, 10).unwrap();
    let ops: Vec<_> = up.iter().map(|u| u.entry["op"].as_str().unwrap()).collect();
    assert_eq!(
        ops,
        [
            "cash_box_clearance",
            "service_test_receipt",
            "service_login_failed"
        ]
    );
    // The clearance carries what was taken out as its amount; none is money at the operator.
    assert_eq!(up[0].entry["amount_fen"], 20000);
    assert_eq!(up[1].entry["amount_fen"], 0);
    assert_eq!(up[0].entry["txn_id"], "svc-1");
    assert_eq!(up[2].entry["txn_id"], "svc-3");
    let d: serde_json::Value =
        serde_json::from_str(up[0].entry["detail"].as_str().unwrap()).unwrap();
    assert_eq!(d["technician"], "T-07");
    assert_eq!(d["notes"]["10000"], 2);
    // As the uploader reads it: a journal entry of the link's protocol.
    let mut v = up[1].entry.clone();
    v["seq"] = serde_json::json!(up[1].seq);
    let e: boss_protocol::JournalEntry = serde_json::from_value(v).unwrap();
    assert_eq!(e.op, "service_test_receipt");
    assert_eq!(e.state, boss_protocol::TxnState::Committed);
}
