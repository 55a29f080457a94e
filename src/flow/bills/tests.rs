use super::*;
use crate::flow::PrintResult;
use crate::flow::testkit::*;
use boss_protocol::{AuthFactor, BillItem, UsageRecord};

fn cfg() -> Config {
    Config {
        timeouts: timeouts(),
        id_card: false,
        today: (2026, 12, 7),
        seed: 3,
    }
}

/// A bills flow at the menu, authenticated by password and SMS code.
fn at_menu() -> (BillsFlow, Vec<Effect>) {
    let (mut f, _) = BillsFlow::start(cfg(), 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let (req, _) = request(&out, "subscriber_lookup");
    let out = f.handle(answer(req, lookup(0)), 0);
    assert!(matches!(
        last_screen(&out),
        Screen::AuthChoose { sms: true, .. }
    ));
    f.handle(select("password"), 0);
    let out = f.handle(secret("246810"), 0);
    let (req, _) = request(&out, "auth_password");
    let out = f.handle(
        answer(
            req,
            Ok(Response::AuthPassword(auth_ok(&[AuthFactor::Password]))),
        ),
        0,
    );
    let (req, _) = request(&out, "sms_code_request");
    f.handle(answer(req, code_sent()), 0);
    let out = f.handle(secret("135790"), 0);
    let (req, _) = request(&out, "sms_code_verify");
    let out = f.handle(
        answer(
            req,
            Ok(Response::SmsCodeVerify(auth_ok(&[
                AuthFactor::Password,
                AuthFactor::SmsCode,
            ]))),
        ),
        0,
    );
    (f, out)
}

fn records(total: u32, offset: u32, n: u32) -> Result<Response, OpError> {
    Ok(Response::ItemisedRecords(boss_protocol::ItemisedRecords {
        msisdn: Msisdn::new(N),
        month: "2026-11".into(),
        total,
        records: (offset..offset + n)
            .map(|i| UsageRecord {
                at_ms: 1_793_500_000_000 + i64::from(i) * 60_000,
                kind: RecordKind::Call,
                outgoing: i.is_multiple_of(2),
                counterpart_masked: Some("139****5678".into()),
                duration_s: Some(60 + i),
                volume_kb: None,
                location: Some("北京".into()),
                fee_fen: 10,
            })
            .collect(),
    }))
}

fn printer(f: &mut BillsFlow, out: &[Effect], paper: PaperLevel) -> Vec<Effect> {
    let req = out
        .iter()
        .find_map(|e| match e {
            Effect::CheckPrinter { req } => Some(*req),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a printer check expected in {out:?}"));
    f.handle(Input::Printer { req, paper }, 0)
}

fn print_req(out: &[Effect]) -> (ReqId, Paper) {
    out.iter()
        .find_map(|e| match e {
            Effect::Print { req, paper } => Some((*req, paper.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a print expected in {out:?}"))
}

#[test]
fn the_menu_offers_the_six_months_before_today() {
    let (_, out) = at_menu();
    let Screen::BillMenu { months, month, .. } = last_screen(&out) else {
        panic!("{out:?}")
    };
    assert_eq!(
        months,
        [
            "2026-11", "2026-10", "2026-09", "2026-08", "2026-07", "2026-06"
        ]
    );
    assert_eq!(month, "2026-11");
    // Across a new year.
    assert_eq!(last_six_months((2027, 2, 1))[..2], ["2027-01", "2026-12"]);
}

#[test]
fn nothing_confidential_is_asked_for_before_authentication() {
    let (mut f, _) = BillsFlow::start(cfg(), 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let (req, _) = request(&out, "subscriber_lookup");
    f.handle(answer(req, lookup(0)), 0);
    // A hurried tap on a menu entry the screen does not show yet.
    for s in ["records:call", "bill", "invoice", "print"] {
        let out = f.handle(select(s), 0);
        assert!(requests(&out).is_empty(), "{s}: {out:?}");
    }
    // The password alone is not enough: the SMS code is asked for, no records.
    f.handle(select("password"), 0);
    let out = f.handle(secret("246810"), 0);
    let (req, _) = request(&out, "auth_password");
    let out = f.handle(
        answer(
            req,
            Ok(Response::AuthPassword(auth_ok(&[AuthFactor::Password]))),
        ),
        0,
    );
    let ops: Vec<_> = requests(&out).into_iter().map(|(_, r)| r.op()).collect();
    assert_eq!(ops, ["sms_code_request"]);
}

#[test]
fn a_months_bill_is_shown_and_printed_and_the_print_journaled() {
    let (mut f, _) = at_menu();
    f.handle(select("month:2026-10"), 0);
    let out = f.handle(select("bill"), 0);
    let (req, r) = request(&out, "monthly_bill");
    let Request::MonthlyBill(q) = r else {
        unreachable!()
    };
    assert_eq!(q.month, "2026-10");
    let out = f.handle(
        answer(
            req,
            Ok(Response::MonthlyBill(boss_protocol::MonthlyBill {
                msisdn: Msisdn::new(N),
                month: "2026-10".into(),
                plan_name: "畅享38元套餐".into(),
                items: vec![
                    BillItem {
                        name: "套餐月费".into(),
                        amount_fen: 3800,
                    },
                    BillItem {
                        name: "语音通话费".into(),
                        amount_fen: 120,
                    },
                ],
                total_fen: 3920,
                paid_fen: 3920,
                due_fen: 0,
            })),
        ),
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::Bill {
            total_fen: 3920,
            ..
        }
    ));
    let out = f.handle(select("print"), 0);
    // One page on a good roll: "print" prints, no second question.
    let out = printer(&mut f, &out, PaperLevel::Ok);
    assert!(
        !out.iter()
            .any(|e| matches!(e, Effect::Show(Screen::PrintPreview { .. })))
    );
    assert!(matches!(
        journal(&out).as_slice(),
        [JournalOp::Open {
            kind: TxnKind::BillPrint,
            msisdn: None,
            ..
        }]
    ));
    let out = f.handle(Input::TxnOpened { id: "T9".into() }, 0);
    assert!(matches!(
        journal(&out).as_slice(),
        [JournalOp::PaperSent { paper: Paper::Bill(b), .. }] if b.txn_id == "T9" && b.number_masked == "138****0000"
    ));
    let (preq, _) = print_req(&out);
    let out = f.handle(
        Input::Printed {
            req: preq,
            result: PrintResult::Printed,
        },
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::PrintDone {
            printed: 1,
            pages: 1,
            ..
        }
    ));
    // Leaving closes the transaction of prints (uploaded for head office's counts).
    let out = f.handle(Input::Ui(Ui::Confirm), 0);
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::Complete { .. }))
    );
    assert!(ends(&out));
}

#[test]
fn records_are_paged_on_screen_ten_at_a_time() {
    let (mut f, _) = at_menu();
    let out = f.handle(select("records:call"), 0);
    let (req, r) = request(&out, "itemised_records");
    let Request::ItemisedRecords(q) = r else {
        unreachable!()
    };
    assert_eq!((q.offset, q.limit, q.kind), (0, 10, RecordKind::Call));
    let out = f.handle(answer(req, records(25, 0, 10)), 0);
    let Screen::Records {
        page, pages, rows, ..
    } = last_screen(&out)
    else {
        panic!("{out:?}")
    };
    assert_eq!((page, pages, rows.len()), (1, 3, 10));
    assert_eq!(rows[0].counterpart_masked, "139****5678");
    let out = f.handle(select("next"), 0);
    let (req, r) = request(&out, "itemised_records");
    let Request::ItemisedRecords(q) = r else {
        unreachable!()
    };
    assert_eq!(q.offset, 10);
    f.handle(answer(req, records(25, 10, 10)), 0);
    let out = f.handle(select("next"), 0);
    let (req, _) = request(&out, "itemised_records");
    let out = f.handle(answer(req, records(25, 20, 5)), 0);
    assert!(matches!(last_screen(&out), Screen::Records { page: 3, .. }));
    // No page after the last.
    let out = f.handle(select("next"), 0);
    assert!(requests(&out).is_empty());
}

/// The records of a month (`total` rows) fetched for printing, at the preview.
fn records_preview(total: u32, paper: PaperLevel) -> (BillsFlow, Vec<Effect>) {
    let (mut f, _) = at_menu();
    let out = f.handle(select("records:call"), 0);
    let (req, _) = request(&out, "itemised_records");
    f.handle(answer(req, records(total, 0, 10.min(total))), 0);
    let mut out = f.handle(select("print"), 0);
    let mut got = 0;
    // Every record is collected before the length is known.
    loop {
        let (req, r) = request(&out, "itemised_records");
        let Request::ItemisedRecords(q) = r else {
            unreachable!()
        };
        assert_eq!(q.offset, got);
        let n = (total - got).min(q.limit).min(60);
        out = f.handle(answer(req, records(total, got, n)), 0);
        got += n;
        if got >= total {
            break;
        }
    }
    let out = printer(&mut f, &out, paper);
    (f, out)
}

#[test]
fn a_long_print_shows_its_length_and_a_low_roll_refuses_it() {
    let (_, out) = records_preview(95, PaperLevel::Ok);
    let Screen::PrintPreview {
        pages,
        length_cm,
        can_print,
        ..
    } = last_screen(&out)
    else {
        panic!("{out:?}")
    };
    assert_eq!(pages, 3, "40 rows a paper");
    assert!(length_cm > 30, "{length_cm} cm");
    assert!(can_print);

    let (mut f, out) = records_preview(95, PaperLevel::Low);
    assert_eq!(
        last_screen(&out),
        Screen::PrintPreview {
            what: PrintWhat::Records {
                month: "2026-11".into(),
                kind: "call".into()
            },
            pages: 3,
            length_cm,
            can_print: false,
            notice: Some(Notice::PaperLowForLongPrint { pages: 3 }),
        }
    );
    let out = f.handle(Input::Ui(Ui::Confirm), 0);
    assert!(journal(&out).is_empty() && !out.iter().any(|e| matches!(e, Effect::Print { .. })));
    // A single page still goes on a low roll.
    let (_, out) = records_preview(12, PaperLevel::Low);
    assert!(matches!(
        last_screen(&out),
        Screen::PrintPreview {
            pages: 1,
            can_print: true,
            ..
        }
    ));
    // No paper: said, nothing printed.
    let (_, out) = records_preview(12, PaperLevel::Out);
    assert!(matches!(
        last_screen(&out),
        Screen::PrintPreview {
            can_print: false,
            notice: Some(Notice::PrinterUnavailable),
            ..
        }
    ));
}

#[test]
fn paper_out_halfway_is_recorded_where_it_stopped_and_resumed_from_there() {
    let (mut f, _) = records_preview(95, PaperLevel::Ok);
    f.handle(Input::Ui(Ui::Confirm), 0);
    let out = f.handle(Input::TxnOpened { id: "T5".into() }, 0);
    let (p1, paper) = print_req(&out);
    assert!(
        matches!(&paper, Paper::Records(r) if r.page == 1 && r.pages == 3 && r.rows.len() == 40)
    );
    let out = f.handle(
        Input::Printed {
            req: p1,
            result: PrintResult::Printed,
        },
        0,
    );
    let (p2, paper) = print_req(&out);
    assert!(matches!(&paper, Paper::Records(r) if r.page == 2));
    let out = f.handle(
        Input::Printed {
            req: p2,
            result: PrintResult::NotPrinted {
                reason: "paper out".into(),
            },
        },
        0,
    );
    assert!(
        journal(&out).iter().any(|op| matches!(
            op,
            JournalOp::PaperDone {
                result: PrintResult::NotPrinted { .. },
                ..
            }
        )),
        "the stop is journaled: {out:?}"
    );
    assert!(matches!(
        last_screen(&out),
        Screen::PrintDone {
            printed: 1,
            pages: 3,
            ..
        }
    ));
    // Paper loaded: carry on from page 2, not from the start.
    let out = f.handle(select("resume"), 0);
    let (p2, paper) = print_req(&out);
    assert!(matches!(&paper, Paper::Records(r) if r.page == 2 && r.txn_id == "T5"));
    let out = f.handle(
        Input::Printed {
            req: p2,
            result: PrintResult::Printed,
        },
        0,
    );
    let (p3, paper) = print_req(&out);
    assert!(matches!(&paper, Paper::Records(r) if r.page == 3 && r.rows.len() == 15));
    let out = f.handle(
        Input::Printed {
            req: p3,
            result: PrintResult::Printed,
        },
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::PrintDone {
            printed: 3,
            pages: 3,
            ..
        }
    ));
}

#[test]
fn a_month_with_nothing_says_so_and_a_month_not_offered_is_ignored() {
    let (mut f, _) = at_menu();
    let out = f.handle(select("month:2020-01"), 0);
    assert!(matches!(last_screen(&out), Screen::BillMenu { month, .. } if month == "2026-11"));
    let out = f.handle(select("invoice"), 0);
    let (req, _) = request(&out, "invoice_data");
    let out = f.handle(answer(req, Err(OpError::refused("not_found", "none"))), 0);
    assert!(matches!(
        last_screen(&out),
        Screen::BillMenu {
            notice: Some(Notice::NothingForMonth),
            ..
        }
    ));
}

#[test]
fn a_link_lost_mid_request_ends_the_session_saying_so() {
    let (mut f, _) = at_menu();
    let out = f.handle(select("bill"), 0);
    let (req, _) = request(&out, "monthly_bill");
    let out = f.handle(
        answer(
            req,
            Err(OpError::NotSent {
                cause: "link down".into(),
            }),
        ),
        0,
    );
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Show(Screen::Sorry {
            notice: Notice::ServiceUnavailable,
            ..
        })
    )));
    assert!(ends(&out));
    assert!(
        journal(&out).is_empty(),
        "nothing was printed: no transaction"
    );
}

#[test]
fn an_expired_authentication_is_told_not_hidden() {
    let (mut f, _) = at_menu();
    let out = f.handle(select("records:sms"), 0);
    let (req, _) = request(&out, "itemised_records");
    let out = f.handle(
        answer(req, Err(OpError::refused("insufficient_auth", "expired"))),
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::Refused {
            notice: Notice::AuthExpired,
            ..
        }
    ));
}

#[test]
fn a_customer_who_walks_away_is_timed_out_and_the_prints_closed() {
    let (mut f, _) = records_preview(12, PaperLevel::Ok);
    let out = f.handle(Input::TxnOpened { id: "T7".into() }, 0);
    let (p, _) = print_req(&out);
    f.handle(
        Input::Printed {
            req: p,
            result: PrintResult::Printed,
        },
        0,
    );
    let out = f.handle(Input::Tick, 61_000);
    assert!(ends(&out));
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::Complete { .. }))
    );
}
