use super::*;
use bill_acceptor::RejectReason;

fn cfg() -> CashConfig {
    CashConfig {
        accept_fen: vec![1000, 2000, 5000, 10000],
        max_fen: 20_000,
        due_fen: None,
    }
}

fn purpose() -> CashPurpose {
    CashPurpose::TopUp {
        number_masked: "138****0000".into(),
    }
}

fn start(cfg: CashConfig) -> CashPayment {
    let mut out = Vec::new();
    let p = CashPayment::start(cfg, purpose(), &mut out);
    let intent = out
        .iter()
        .position(|e| {
            matches!(
                e,
                Effect::Journal(JournalOp::Step {
                    kind: "enable_acceptor",
                    ..
                })
            )
        })
        .expect("intent");
    let enable = out
        .iter()
        .position(|e| matches!(e, Effect::Acceptor(AcceptorCmd::Enable { .. })))
        .expect("enable");
    assert!(intent < enable, "journal before acting: {out:?}");
    p
}

fn acc(e: AcceptorEvent) -> Input {
    Input::Acceptor(e)
}

fn feed(p: &mut CashPayment, input: Input) -> (Vec<Effect>, Option<CashOutcome>) {
    let mut out = Vec::new();
    let o = p.handle(&input, 0, &mut out);
    (out, o)
}

fn insert(p: &mut CashPayment, fen: u64) -> Vec<Effect> {
    let (mut out, _) = feed(p, acc(AcceptorEvent::Escrow { fen }));
    out.extend(feed(p, acc(AcceptorEvent::Credit { fen })).0);
    out
}

fn view(out: &[Effect]) -> CashView {
    out.iter()
        .rev()
        .find_map(|e| match e {
            Effect::Show(Screen::Insert(v)) => Some(v.clone()),
            _ => None,
        })
        .expect("a note screen")
}

#[test]
fn a_note_is_journaled_before_it_is_stacked_and_credited_on_the_credit_event() {
    let mut p = start(cfg());
    let (out, _) = feed(&mut p, acc(AcceptorEvent::Escrow { fen: 2000 }));
    let intent = out
        .iter()
        .position(|e| {
            matches!(
                e,
                Effect::Journal(JournalOp::Step {
                    kind: "stack_note",
                    ..
                })
            )
        })
        .unwrap();
    let stack = out
        .iter()
        .position(|e| *e == Effect::Acceptor(AcceptorCmd::Stack))
        .unwrap();
    assert!(intent < stack);
    assert_eq!(p.total_fen(), 0, "escrow is not money");
    assert!(view(&out).busy);
    let (out, _) = feed(&mut p, acc(AcceptorEvent::Credit { fen: 2000 }));
    assert!(out.contains(&Effect::Journal(JournalOp::CreditNote {
        fen: 2000,
        power_up: false
    })));
    assert_eq!(p.total_fen(), 2000);
    assert!(view(&out).can_finish);
}

#[test]
fn a_note_over_the_limit_is_handed_back() {
    let mut p = start(cfg());
    insert(&mut p, 10000);
    insert(&mut p, 5000);
    let (out, _) = feed(&mut p, acc(AcceptorEvent::Escrow { fen: 10000 }));
    assert!(out.contains(&Effect::Acceptor(AcceptorCmd::Return)));
    assert!(!out.contains(&Effect::Acceptor(AcceptorCmd::Stack)));
    assert_eq!(
        view(&out).notice,
        Some(Notice::NoteOverLimit {
            fen: 10000,
            max_fen: 20_000
        })
    );
    assert_eq!(p.total_fen(), 15000);
}

#[test]
fn a_value_not_taken_is_called_not_accepted_not_fake() {
    let mut p = start(cfg());
    let (out, _) = feed(&mut p, acc(AcceptorEvent::Escrow { fen: 500 }));
    assert!(out.contains(&Effect::Acceptor(AcceptorCmd::Return)));
    assert_eq!(view(&out).notice, Some(Notice::NoteNotAccepted));
    let (out, _) = feed(
        &mut p,
        acc(AcceptorEvent::Rejected {
            reason: Some(RejectReason {
                code: 6,
                text: "channel inhibited in the dataset",
            }),
        }),
    );
    assert_eq!(view(&out).notice, Some(Notice::NoteNotAccepted));
    let (out, _) = feed(
        &mut p,
        acc(AcceptorEvent::Rejected {
            reason: Some(RejectReason {
                code: 2,
                text: "no match",
            }),
        }),
    );
    assert_eq!(view(&out).notice, Some(Notice::NoteRejected));
}

#[test]
fn reaching_the_limit_closes_the_payment() {
    let mut p = start(cfg());
    insert(&mut p, 10000);
    let (_, outcome) = feed(&mut p, acc(AcceptorEvent::Escrow { fen: 10000 }));
    assert_eq!(outcome, None);
    let (out, outcome) = feed(&mut p, acc(AcceptorEvent::Credit { fen: 10000 }));
    assert!(out.contains(&Effect::Acceptor(AcceptorCmd::Disable)));
    assert_eq!(
        outcome,
        Some(CashOutcome::Paid {
            total_fen: 20000,
            jammed: None,
            closing: Closing::LimitReached
        })
    );
    assert!(!p.wants_cash());
}

#[test]
fn finishing_waits_for_the_note_being_stacked() {
    let mut p = start(cfg());
    insert(&mut p, 2000);
    feed(&mut p, acc(AcceptorEvent::Escrow { fen: 5000 }));
    let (out, outcome) = feed(&mut p, Input::Ui(Ui::Finish));
    assert!(out.contains(&Effect::Acceptor(AcceptorCmd::Disable)));
    assert_eq!(outcome, None, "a note is on its way to the cash box");
    let (_, outcome) = feed(&mut p, acc(AcceptorEvent::Credit { fen: 5000 }));
    assert_eq!(
        outcome,
        Some(CashOutcome::Paid {
            total_fen: 7000,
            jammed: None,
            closing: Closing::Customer
        })
    );
}

#[test]
fn a_note_arriving_while_closing_is_handed_back() {
    let mut p = start(cfg());
    insert(&mut p, 2000);
    feed(&mut p, acc(AcceptorEvent::Escrow { fen: 5000 }));
    feed(&mut p, Input::Ui(Ui::Finish));
    // The acceptor read another note before it took the disable command.
    let (out, _) = feed(&mut p, acc(AcceptorEvent::Escrow { fen: 1000 }));
    assert!(out.contains(&Effect::Acceptor(AcceptorCmd::Return)));
    assert!(!out.contains(&Effect::Acceptor(AcceptorCmd::Stack)));
    let (_, o) = feed(&mut p, acc(AcceptorEvent::Credit { fen: 5000 }));
    assert!(matches!(
        o,
        Some(CashOutcome::Paid {
            total_fen: 7000,
            ..
        })
    ));
}

#[test]
fn stopping_the_kiosk_disables_the_acceptor_and_ends_the_payment_once_the_note_is_in() {
    let mut p = start(cfg());
    insert(&mut p, 1000);
    feed(&mut p, acc(AcceptorEvent::Escrow { fen: 2000 }));
    let (out, o) = feed(&mut p, Input::Shutdown);
    assert!(out.contains(&Effect::Acceptor(AcceptorCmd::Disable)));
    assert_eq!(o, None, "the note being stacked is waited for");
    assert_eq!(view(&out).notice, Some(Notice::Stopping));
    let (_, o) = feed(&mut p, acc(AcceptorEvent::Credit { fen: 2000 }));
    assert_eq!(
        o,
        Some(CashOutcome::Paid {
            total_fen: 3000,
            jammed: None,
            closing: Closing::Shutdown
        })
    );
}

#[test]
fn a_jam_keeps_the_value_of_the_note_for_staff_and_never_credits_it() {
    let mut p = start(cfg());
    insert(&mut p, 2000);
    feed(&mut p, acc(AcceptorEvent::Escrow { fen: 5000 }));
    let (out, outcome) = feed(&mut p, acc(AcceptorEvent::Jam { safe: false }));
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Journal(JournalOp::Step { kind: "acceptor_jam", detail, .. })
            if detail["note_in_flight_fen"] == 5000
    )));
    assert_eq!(
        outcome,
        Some(CashOutcome::Paid {
            total_fen: 2000,
            jammed: Some(crate::flow::screen::Jam { fen: Some(5000) }),
            closing: Closing::Fault
        })
    );
}

#[test]
fn a_jam_before_any_credit_is_still_reported() {
    let mut p = start(cfg());
    feed(&mut p, acc(AcceptorEvent::Escrow { fen: 5000 }));
    let (_, outcome) = feed(&mut p, acc(AcceptorEvent::Jam { safe: true }));
    assert_eq!(
        outcome,
        Some(CashOutcome::Nothing {
            closing: Closing::Fault,
            jammed: Some(crate::flow::screen::Jam { fen: Some(5000) })
        })
    );
}

#[test]
fn a_link_lost_while_stacking_waits_for_the_acceptor_to_say_what_became_of_the_note() {
    let mut p = start(cfg());
    insert(&mut p, 1000);
    feed(&mut p, acc(AcceptorEvent::Escrow { fen: 2000 }));
    let mut out = Vec::new();
    let o = p.handle(
        &Input::AcceptorDown {
            cause: "no answer".into(),
        },
        1000,
        &mut out,
    );
    assert_eq!(o, None, "the note being stacked is not given up");
    let o = p.handle(&Input::Tick, 20_000, &mut out);
    assert_eq!(o, None);
    // The acceptor is back and says the note reached the cash box at power-up.
    let o = p.handle(
        &acc(AcceptorEvent::PowerUpNoteInCashbox { fen: None }),
        25_000,
        &mut out,
    );
    assert_eq!(
        o,
        Some(CashOutcome::Paid {
            total_fen: 3000,
            jammed: None,
            closing: Closing::Fault
        })
    );
    assert!(out.contains(&Effect::Journal(JournalOp::CreditNote {
        fen: 2000,
        power_up: true
    })));
}

#[test]
fn an_acceptor_that_never_comes_back_leaves_the_note_in_flight_after_the_grace() {
    let mut p = start(cfg());
    insert(&mut p, 1000);
    feed(&mut p, acc(AcceptorEvent::Escrow { fen: 2000 }));
    let mut out = Vec::new();
    p.handle(
        &Input::AcceptorDown {
            cause: "no answer".into(),
        },
        0,
        &mut out,
    );
    let o = p.handle(&Input::Tick, LINK_GRACE_MS, &mut out);
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Journal(JournalOp::Step {
            kind: "note_unresolved",
            ..
        })
    )));
    assert_eq!(
        o,
        Some(CashOutcome::Paid {
            total_fen: 1000,
            jammed: None,
            closing: Closing::Fault
        })
    );
}

#[test]
fn a_note_handed_back_after_stack_is_recorded() {
    let mut p = start(cfg());
    feed(&mut p, acc(AcceptorEvent::Escrow { fen: 2000 }));
    let (out, _) = feed(&mut p, acc(AcceptorEvent::Returned { fen: Some(2000) }));
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Journal(JournalOp::Step {
            kind: "note_returned",
            ..
        })
    )));
    assert_eq!(p.total_fen(), 0);
}

#[test]
fn a_price_must_be_met_before_finishing() {
    let mut p = start(CashConfig {
        due_fen: Some(3000),
        ..cfg()
    });
    let out = insert(&mut p, 2000);
    assert!(!view(&out).can_finish);
    let (_, o) = feed(&mut p, Input::Ui(Ui::Finish));
    assert_eq!(o, None);
    let out = insert(&mut p, 1000);
    assert!(view(&out).can_finish);
    let (_, o) = feed(&mut p, Input::Ui(Ui::Finish));
    assert!(matches!(
        o,
        Some(CashOutcome::Paid {
            total_fen: 3000,
            ..
        })
    ));
}

#[test]
fn leaving_with_nothing_in_takes_nothing() {
    let mut p = start(cfg());
    feed(&mut p, acc(AcceptorEvent::Escrow { fen: 2000 }));
    let mut q = start(cfg());
    let (out, o) = feed(&mut q, Input::Ui(Ui::Cancel));
    assert!(out.contains(&Effect::Acceptor(AcceptorCmd::Disable)));
    assert_eq!(
        o,
        Some(CashOutcome::Nothing {
            closing: Closing::Customer,
            jammed: None
        })
    );
}

#[test]
fn late_notes_are_money_too() {
    let mut p = start(cfg());
    insert(&mut p, 1000);
    feed(&mut p, Input::Ui(Ui::Finish));
    let mut out = Vec::new();
    assert_eq!(
        p.late_note(&acc(AcceptorEvent::Credit { fen: 2000 }), &mut out),
        Some(2000)
    );
    assert!(out.contains(&Effect::Journal(JournalOp::CreditNote {
        fen: 2000,
        power_up: true
    })));
}

#[test]
fn a_note_that_jams_before_it_is_read_is_still_told() {
    let mut p = start(cfg());
    insert(&mut p, 2000);
    feed(&mut p, acc(AcceptorEvent::Reading));
    let (out, outcome) = feed(&mut p, acc(AcceptorEvent::Jam { safe: false }));
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Journal(JournalOp::Step {
            kind: "acceptor_jam",
            ..
        })
    )));
    assert_eq!(
        outcome,
        Some(CashOutcome::Paid {
            total_fen: 2000,
            jammed: Some(crate::flow::screen::Jam { fen: None }),
            closing: Closing::Fault
        })
    );
}
