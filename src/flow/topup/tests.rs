use super::*;
use crate::flow::screen::CashView;
use crate::flow::{AcceptorCmd, PrintResult};
use bill_acceptor::AcceptorEvent;
use boss_protocol::{PaymentKind, RechargeOk, SubscriberStatus};

const N: &str = "13800000000";

fn cfg() -> Config {
    Config {
        accept_fen: vec![1000, 2000, 5000, 10000],
        max_fen: 20_000,
        timeouts: Timeouts {
            idle_ms: 60_000,
            insert_idle_ms: 90_000,
            warn_ms: 15_000,
            elder_extra_percent: 100,
            help_ms: 300_000,
        },
    }
}

fn lookup_ok(status: SubscriberStatus) -> Result<Response, OpError> {
    Ok(Response::SubscriberLookup(boss_protocol::Subscriber {
        msisdn: Msisdn::new(N),
        owner_name_masked: "*小明".into(),
        status,
        payment: PaymentKind::Prepaid,
        balance_fen: 1234,
        arrears_fen: 0,
        real_name: true,
    }))
}

fn recharge_ok(amount_fen: u64) -> Result<Response, OpError> {
    Ok(Response::Recharge(RechargeOk {
        txn_id: TxnId::new("T1"),
        operator_ref: "B1".into(),
        msisdn: Msisdn::new(N),
        amount_fen,
        balance_after_fen: 1234 + i64::try_from(amount_fen).unwrap(),
        credited_at_ms: 0,
    }))
}

/// The request id of the last operator request in `out`.
fn op_req(out: &[Effect]) -> ReqId {
    out.iter()
        .rev()
        .find_map(|e| match e {
            Effect::Operator { req, .. } => Some(*req),
            _ => None,
        })
        .expect("an operator request")
}

fn print_reqs(out: &[Effect]) -> Vec<ReqId> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Print { req, .. } => Some(*req),
            _ => None,
        })
        .collect()
}

fn last_screen(out: &[Effect]) -> Screen {
    out.iter()
        .rev()
        .find_map(|e| match e {
            Effect::Show(s) => Some(s.clone()),
            _ => None,
        })
        .expect("a screen")
}

fn pos(out: &[Effect], f: impl Fn(&Effect) -> bool) -> usize {
    out.iter().position(f).expect("effect present")
}

/// A flow at the note screen, transaction "T1" open, time 0.
fn at_insert() -> TopUp {
    let (mut f, _) = TopUp::start(cfg(), 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let req = op_req(&out);
    f.handle(
        Input::Operator {
            req,
            result: lookup_ok(SubscriberStatus::Active),
        },
        0,
    );
    let out = f.handle(Input::Ui(Ui::Confirm), 0);
    assert!(matches!(
        &out[..],
        [Effect::Journal(JournalOp::Open { kind: TxnKind::TopUp, msisdn: Some(m), .. })] if m == N
    ));
    let out = f.handle(Input::TxnOpened { id: "T1".into() }, 0);
    let intent = pos(&out, |e| {
        matches!(
            e,
            Effect::Journal(JournalOp::Step {
                kind: "enable_acceptor",
                ..
            })
        )
    });
    let enable = pos(&out, |e| {
        matches!(e, Effect::Acceptor(AcceptorCmd::Enable { .. }))
    });
    assert!(intent < enable, "journal before acting: {out:?}");
    assert_eq!(f.state_name(), "topup.insert_cash");
    assert!(f.wants_cash());
    f
}

fn acc(e: AcceptorEvent) -> Input {
    Input::Acceptor(e)
}

fn insert(f: &mut TopUp, fen: u64, now: Millis) -> Vec<Effect> {
    let mut out = f.handle(acc(AcceptorEvent::Escrow { fen }), now);
    out.extend(f.handle(acc(AcceptorEvent::Credit { fen }), now));
    out
}

fn insert_view(out: &[Effect]) -> CashView {
    match last_screen(out) {
        Screen::Insert(v) => v,
        other => panic!("not the note screen: {other:?}"),
    }
}

#[test]
fn a_wrong_number_is_answered_on_the_keypad_with_the_digits_kept() {
    let (mut f, _) = TopUp::start(cfg(), 0);
    let out = f.handle(Input::Ui(Ui::Number("12345".into())), 0);
    match last_screen(&out) {
        Screen::EnterNumber { notice, typed, .. } => {
            assert_eq!(notice, Some(Notice::InvalidNumber { digits: 5 }));
            assert_eq!(typed.digits(), "12345");
        }
        other => panic!("{other:?}"),
    }
    // Eleven digits with a wrong prefix are not "enter 11 digits".
    let out = f.handle(Input::Ui(Ui::Number("12800000000".into())), 0);
    assert!(matches!(
        last_screen(&out),
        Screen::EnterNumber {
            notice: Some(Notice::InvalidNumber { digits: 11 }),
            ..
        }
    ));
}

#[test]
fn a_number_not_found_comes_back_to_the_keypad_to_be_checked() {
    let (mut f, _) = TopUp::start(cfg(), 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let out = f.handle(
        Input::Operator {
            req: op_req(&out),
            result: Err(OpError::refused("unknown_subscriber", "no such number")),
        },
        0,
    );
    match last_screen(&out) {
        Screen::EnterNumber { notice, typed, .. } => {
            assert_eq!(notice, Some(Notice::NumberNotFound));
            assert_eq!(typed.digits(), N);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_answer_for_an_abandoned_lookup_is_dropped() {
    let (mut f, _) = TopUp::start(cfg(), 0);
    let first = op_req(&f.handle(Input::Ui(Ui::Number(N.into())), 0));
    f.handle(Input::Ui(Ui::Back), 0);
    let second = op_req(&f.handle(Input::Ui(Ui::Number("13900000001".into())), 0));
    assert_ne!(first, second);
    // The first number's owner arrives late: it must not be shown for the second number.
    let out = f.handle(
        Input::Operator {
            req: first,
            result: lookup_ok(SubscriberStatus::Active),
        },
        0,
    );
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(f.state_name(), "topup.looking_up");
    let out = f.handle(
        Input::Operator {
            req: second,
            result: lookup_ok(SubscriberStatus::Active),
        },
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::Confirm { number_masked, .. } if number_masked == "139****0001"
    ));
}

#[test]
fn a_closed_account_is_refused_and_an_unreachable_operator_is_said() {
    let (mut f, _) = TopUp::start(cfg(), 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let out = f.handle(
        Input::Operator {
            req: op_req(&out),
            result: lookup_ok(SubscriberStatus::Cancelled),
        },
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::EnterNumber {
            notice: Some(Notice::AccountClosed),
            ..
        }
    ));
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let out = f.handle(
        Input::Operator {
            req: op_req(&out),
            result: Err(OpError::NotSent {
                cause: "link down".into(),
            }),
        },
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::Sorry {
            notice: Notice::ServiceUnavailable,
            ..
        }
    ));
    assert!(f.is_ended());
}

#[test]
fn the_confirmation_says_no_change_is_given_before_the_first_note() {
    let (mut f, _) = TopUp::start(cfg(), 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let out = f.handle(
        Input::Operator {
            req: op_req(&out),
            result: lookup_ok(SubscriberStatus::Active),
        },
        0,
    );
    match last_screen(&out) {
        Screen::Confirm {
            number_masked,
            subscriber,
            accept_fen,
            max_fen,
        } => {
            assert_eq!(number_masked, "138****0000");
            assert_eq!(subscriber.owner_masked, "*小明");
            assert_eq!(accept_fen, vec![1000, 2000, 5000, 10000]);
            assert_eq!(max_fen, 20_000);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_top_up_credits_journals_and_prints_in_order() {
    let mut f = at_insert();
    insert(&mut f, 2000, 0);
    insert(&mut f, 1000, 0);
    let out = f.handle(Input::Ui(Ui::Finish), 0);
    let sent = pos(&out, |e| {
        matches!(
            e,
            Effect::Journal(JournalOp::OperatorSent {
                op: "recharge",
                amount_fen: 3000,
                ..
            })
        )
    });
    let req = pos(&out, |e| {
        matches!(e, Effect::Operator { request: Request::Recharge(r), .. }
            if r.amount_fen == 3000 && r.txn_id.as_str() == "T1" && r.notes.len() == 2)
    });
    assert!(sent < req, "journal before the operator: {out:?}");
    assert_eq!(f.state_name(), "topup.recharging");
    assert!(!f.wants_cash());
    let out = f.handle(
        Input::Operator {
            req: op_req(&out),
            result: recharge_ok(3000),
        },
        0,
    );
    let settle = pos(&out, |e| {
        matches!(
            e,
            Effect::Journal(JournalOp::Settle {
                credited_fen: 3000,
                ..
            })
        )
    });
    let paper = pos(
        &out,
        |e| matches!(e, Effect::Journal(JournalOp::PaperSent { paper, .. }) if paper.kind() == "topup_receipt"),
    );
    let print = pos(&out, |e| matches!(e, Effect::Print { .. }));
    assert!(settle < paper && paper < print);
    let reqs = print_reqs(&out);
    let out = f.handle(
        Input::Printed {
            req: reqs[0],
            result: PrintResult::Printed,
        },
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::Result {
            receipt: ReceiptState::Printed,
            amount_fen: 3000,
            outcome: Outcome::Credited { .. },
            ..
        }
    ));
    assert_eq!(f.handle(Input::Ui(Ui::Confirm), 0), vec![Effect::End]);
}

#[test]
fn a_lost_answer_keeps_the_money_pending_and_a_refusal_gives_a_voucher() {
    for (result, kind, journal) in [
        (
            Err(OpError::Unknown {
                cause: "timeout".into(),
            }),
            "pending_receipt",
            "pending",
        ),
        (
            Err(OpError::refused("subscriber_inactive", "closed")),
            "refund_voucher",
            "voucher",
        ),
    ] {
        let mut f = at_insert();
        insert(&mut f, 5000, 0);
        let out = f.handle(Input::Ui(Ui::Finish), 0);
        let out = f.handle(
            Input::Operator {
                req: op_req(&out),
                result,
            },
            0,
        );
        assert!(out.iter().any(|e| match e {
            Effect::Journal(JournalOp::MarkPending { .. }) => journal == "pending",
            Effect::Journal(JournalOp::IssueVoucher { .. }) => journal == "voucher",
            _ => false,
        }));
        assert!(out.iter().any(
            |e| matches!(e, Effect::Journal(JournalOp::PaperSent { paper, .. }) if paper.kind() == kind)
        ));
    }
}

#[test]
fn a_note_credited_after_the_recharge_went_out_goes_on_a_voucher() {
    let mut f = at_insert();
    insert(&mut f, 5000, 0);
    let out = f.handle(Input::Ui(Ui::Finish), 0);
    let req = op_req(&out);
    let late = f.handle(acc(AcceptorEvent::Credit { fen: 1000 }), 0);
    assert!(late.contains(&Effect::Journal(JournalOp::CreditNote {
        fen: 1000,
        power_up: true
    })));
    let out = f.handle(
        Input::Operator {
            req,
            result: recharge_ok(5000),
        },
        0,
    );
    assert_eq!(print_reqs(&out).len(), 2, "a receipt and a voucher");
    assert!(
        out.iter()
            .any(|e| matches!(e, Effect::Journal(JournalOp::IssueVoucher { .. })))
    );
}

#[test]
fn walking_away_with_money_in_finishes_the_top_up_and_the_warning_says_so() {
    let mut f = at_insert();
    insert(&mut f, 2000, 1000);
    let out = f.handle(Input::Tick, 1000 + 75_000);
    assert_eq!(
        out,
        vec![Effect::IdleWarning {
            seconds_left: 15,
            money_fen: 2000
        }]
    );
    let out = f.handle(Input::Tick, 1000 + 90_000);
    assert!(out.contains(&Effect::Acceptor(AcceptorCmd::Disable)));
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Operator {
            request: Request::Recharge(_),
            ..
        }
    )));
}

#[test]
fn walking_away_with_nothing_in_cancels_and_ends() {
    let mut f = at_insert();
    let out = f.handle(Input::Tick, 45_000);
    assert_eq!(
        out,
        vec![Effect::IdleWarning {
            seconds_left: 15,
            money_fen: 0
        }]
    );
    let out = f.handle(Input::Tick, 60_000);
    assert!(
        out.iter()
            .any(|e| matches!(e, Effect::Journal(JournalOp::Cancel { .. })))
    );
    assert_eq!(out.last(), Some(&Effect::End));
}

#[test]
fn calling_for_help_stops_the_timer_even_with_money_in() {
    let mut f = at_insert();
    insert(&mut f, 20_000 - 5000, 0);
    f.handle(Input::Ui(Ui::Help(true)), 1000);
    for now in (1000..200_000).step_by(5000) {
        let out = f.handle(Input::Tick, now);
        assert!(out.is_empty(), "at {now}: {out:?}");
    }
    assert_eq!(f.state_name(), "topup.insert_cash");
}

#[test]
fn elder_mode_gives_more_time() {
    let mut f = at_insert();
    f.handle(Input::Ui(Ui::Elder(true)), 0);
    assert!(f.handle(Input::Tick, 60_000).is_empty());
    assert!(!f.is_ended());
}

#[test]
fn a_jam_before_any_note_was_credited_prints_a_slip_for_staff() {
    let mut f = at_insert();
    f.handle(acc(AcceptorEvent::Escrow { fen: 5000 }), 0);
    let out = f.handle(acc(AcceptorEvent::Jam { safe: false }), 0);
    assert!(
        out.iter()
            .any(|e| matches!(e, Effect::Journal(JournalOp::Cancel { .. })))
    );
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Print {
            paper: Paper::TopUp(TopUpReceipt {
                jammed: Some(crate::flow::screen::Jam { fen: Some(5000) }),
                amount_fen: 0,
                ..
            }),
            ..
        }
    )));
    assert!(matches!(
        last_screen(&out),
        Screen::Result {
            jammed: Some(crate::flow::screen::Jam { fen: Some(5000) }),
            outcome: Outcome::NothingTaken { .. },
            ..
        }
    ));
}

#[test]
fn a_jam_after_notes_credits_them_and_tells_of_the_jammed_note() {
    let mut f = at_insert();
    insert(&mut f, 2000, 0);
    f.handle(acc(AcceptorEvent::Escrow { fen: 5000 }), 0);
    let out = f.handle(acc(AcceptorEvent::Jam { safe: false }), 0);
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Operator { request: Request::Recharge(r), .. } if r.amount_fen == 2000
    )));
    let out = f.handle(
        Input::Operator {
            req: op_req(&out),
            result: recharge_ok(2000),
        },
        0,
    );
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Print {
            paper: Paper::TopUp(TopUpReceipt {
                jammed: Some(crate::flow::screen::Jam { fen: Some(5000) }),
                amount_fen: 2000,
                ..
            }),
            ..
        }
    )));
}

#[test]
fn stopping_the_kiosk_mid_payment_finishes_the_top_up() {
    let mut f = at_insert();
    insert(&mut f, 2000, 0);
    let out = f.handle(Input::Shutdown, 0);
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Operator {
            request: Request::Recharge(_),
            ..
        }
    )));
    let (mut g, _) = TopUp::start(cfg(), 0);
    assert_eq!(g.handle(Input::Shutdown, 0), vec![Effect::End]);
}

#[test]
fn back_from_the_empty_note_screen_asks_the_question_again() {
    let mut f = at_insert();
    let out = f.handle(Input::Ui(Ui::Back), 0);
    assert!(
        out.iter()
            .any(|e| matches!(e, Effect::Journal(JournalOp::Cancel { .. })))
    );
    assert!(matches!(last_screen(&out), Screen::Confirm { .. }));
    assert_eq!(f.state_name(), "topup.confirm");
}

#[test]
fn the_insert_screen_offers_finish_only_with_money_in_and_nothing_in_flight() {
    let mut f = at_insert();
    let out = f.handle(acc(AcceptorEvent::Escrow { fen: 2000 }), 0);
    assert!(!insert_view(&out).can_finish);
    let out = f.handle(acc(AcceptorEvent::Credit { fen: 2000 }), 0);
    let v = insert_view(&out);
    assert!(v.can_finish);
    assert_eq!(v.total_fen, 2000);
    assert_eq!(v.remaining_fen, 18_000);
}

proptest::proptest! {
    /// Whatever the devices and the customer do, the flow never loses money: everything
    /// credited is in the recharge, on a voucher, or pending — and it never panics.
    #[test]
    fn money_is_never_lost(events in proptest::collection::vec(0u8..12, 0..60)) {
        let mut f = at_insert();
        let mut credited = 0u64;
        let mut journal_credits = 0u64;
        let mut now = 0;
        let mut requested = None;
        for e in events {
            now += 7000;
            let takes = f.takes_notes();
            let input = match e {
                0 => acc(AcceptorEvent::Escrow { fen: 2000 }),
                // A credit the flow does not take is the runtime's (it settles it apart).
                1 => { if takes { credited += 2000; } acc(AcceptorEvent::Credit { fen: 2000 }) }
                2 => acc(AcceptorEvent::Jam { safe: false }),
                3 => Input::Ui(Ui::Finish),
                4 => Input::Ui(Ui::Cancel),
                5 => Input::Tick,
                6 => acc(AcceptorEvent::Returned { fen: None }),
                7 => Input::AcceptorDown { cause: "x".into() },
                8 => Input::Shutdown,
                9 => acc(AcceptorEvent::StackerFull),
                10 => Input::Ui(Ui::Back),
                _ => acc(AcceptorEvent::Reading),
            };
            for effect in f.handle(input, now) {
                match effect {
                    Effect::Journal(JournalOp::CreditNote { fen, .. }) => journal_credits += fen,
                    Effect::Operator { request: Request::Recharge(r), .. } => requested = Some(r.amount_fen),
                    _ => {}
                }
            }
        }
        // Every credit event the flow saw became a journaled note.
        proptest::prop_assert_eq!(journal_credits, credited);
        if let Some(amount) = requested {
            proptest::prop_assert!(amount <= journal_credits);
        }
    }
}
