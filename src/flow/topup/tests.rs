use super::*;

const N: &str = "13800000000";

fn sub() -> Subscriber {
    Subscriber {
        owner_masked: "*小明".into(),
        status: AccountStatus::Active,
        prepaid: true,
        balance_fen: 1234,
        arrears_fen: 0,
    }
}

fn cfg() -> Config {
    Config {
        accept_fen: vec![1000, 2000, 5000, 10000],
        max_fen: 20_000,
        idle_ms: 60_000,
        insert_idle_ms: 90_000,
        warn_ms: 15_000,
    }
}

/// A flow at the note screen, transaction "T1" open, time 0.
fn at_insert() -> TopUp {
    let (mut f, _) = TopUp::start(cfg(), 0);
    f.handle(Event::Ui(Ui::Number(N.into())), 0);
    f.handle(Event::Lookup(Ok(sub())), 0);
    let cmds = f.handle(Event::Ui(Ui::Confirm), 0);
    assert!(cmds.contains(&Cmd::OpenTxn {
        msisdn: N.into(),
        number_masked: "138****0000".into()
    }));
    f.handle(Event::TxnOpened { id: "T1".into() }, 0);
    let cmds = f.handle(Event::Ui(Ui::Confirm), 0);
    let enable = cmds
        .iter()
        .position(|c| matches!(c, Cmd::EnableAcceptor { .. }))
        .unwrap();
    let intent = cmds
        .iter()
        .position(|c| {
            matches!(
                c,
                Cmd::Intent {
                    kind: "enable_acceptor",
                    ..
                }
            )
        })
        .unwrap();
    assert!(intent < enable, "journal before acting: {cmds:?}");
    assert_eq!(f.state_name(), "inserting");
    f
}

fn acc(e: AcceptorEvent) -> Event {
    Event::Acceptor(e)
}

/// Inserts a note the normal way: escrow, stack, credit.
fn insert(f: &mut TopUp, fen: u64, now: Millis) -> Vec<Cmd> {
    let mut cmds = f.handle(acc(AcceptorEvent::Escrow { fen }), now);
    cmds.extend(f.handle(acc(AcceptorEvent::Credit { fen }), now));
    cmds
}

#[test]
fn invalid_number_is_answered_on_the_keypad() {
    let (mut f, _) = TopUp::start(cfg(), 0);
    let cmds = f.handle(Event::Ui(Ui::Number("12345".into())), 0);
    assert_eq!(
        cmds,
        vec![Cmd::Show(Screen::EnterNumber {
            notice: Some(Notice::InvalidNumber)
        })]
    );
    assert_eq!(f.state_name(), "enter_number");
}

#[test]
fn lookup_shows_masked_owner_for_confirmation() {
    let (mut f, _) = TopUp::start(cfg(), 0);
    let cmds = f.handle(Event::Ui(Ui::Number(N.into())), 0);
    assert!(cmds.contains(&Cmd::Lookup { msisdn: N.into() }));
    let cmds = f.handle(Event::Lookup(Ok(sub())), 0);
    assert_eq!(
        cmds,
        vec![Cmd::Show(Screen::Confirm {
            number_masked: "138****0000".into(),
            subscriber: sub()
        })]
    );
}

#[test]
fn unknown_or_closed_number_goes_back_to_the_keypad() {
    let (mut f, _) = TopUp::start(cfg(), 0);
    f.handle(Event::Ui(Ui::Number(N.into())), 0);
    let cmds = f.handle(Event::Lookup(Err(LookupError::NotFound)), 0);
    assert_eq!(
        cmds,
        vec![Cmd::Show(Screen::EnterNumber {
            notice: Some(Notice::NumberNotFound)
        })]
    );
    f.handle(Event::Ui(Ui::Number(N.into())), 0);
    let closed = Subscriber {
        status: AccountStatus::Closed,
        ..sub()
    };
    let cmds = f.handle(Event::Lookup(Ok(closed)), 0);
    assert_eq!(
        cmds,
        vec![Cmd::Show(Screen::EnterNumber {
            notice: Some(Notice::AccountClosed)
        })]
    );
}

#[test]
fn operator_unreachable_before_money_ends_politely() {
    let (mut f, _) = TopUp::start(cfg(), 0);
    f.handle(Event::Ui(Ui::Number(N.into())), 0);
    let cmds = f.handle(
        Event::Lookup(Err(LookupError::Unavailable("link down".into()))),
        0,
    );
    assert!(cmds.contains(&Cmd::Show(Screen::Sorry {
        notice: Notice::ServiceUnavailable,
        reference: None
    })));
    assert!(f.is_ended());
}

#[test]
fn no_change_notice_comes_before_the_acceptor_is_enabled() {
    let (mut f, _) = TopUp::start(cfg(), 0);
    f.handle(Event::Ui(Ui::Number(N.into())), 0);
    f.handle(Event::Lookup(Ok(sub())), 0);
    f.handle(Event::Ui(Ui::Confirm), 0);
    let cmds = f.handle(Event::TxnOpened { id: "T1".into() }, 0);
    assert_eq!(
        cmds,
        vec![Cmd::Show(Screen::NoChange {
            accept_fen: cfg().accept_fen,
            max_fen: 20_000
        })]
    );
    assert!(!cmds.iter().any(|c| matches!(c, Cmd::EnableAcceptor { .. })));
}

#[test]
fn notes_are_credited_only_on_the_credit_event() {
    let mut f = at_insert();
    let cmds = f.handle(acc(AcceptorEvent::Escrow { fen: 5000 }), 1);
    let intent = cmds
        .iter()
        .position(|c| {
            matches!(
                c,
                Cmd::Intent {
                    kind: "stack_note",
                    ..
                }
            )
        })
        .unwrap();
    let stack = cmds.iter().position(|c| *c == Cmd::StackNote).unwrap();
    assert!(intent < stack);
    assert!(!cmds.iter().any(|c| matches!(c, Cmd::CreditNote { .. })));
    assert_eq!(f.total_fen(), 0);
    f.handle(acc(AcceptorEvent::Stacking), 1);
    assert_eq!(f.total_fen(), 0);
    let cmds = f.handle(acc(AcceptorEvent::Credit { fen: 5000 }), 2);
    assert_eq!(
        cmds[0],
        Cmd::CreditNote {
            fen: 5000,
            power_up: false
        }
    );
    assert_eq!(f.total_fen(), 5000);
}

#[test]
fn a_note_that_would_pass_the_limit_is_returned_from_escrow() {
    let mut f = at_insert();
    insert(&mut f, 10000, 1);
    insert(&mut f, 5000, 2);
    let cmds = f.handle(acc(AcceptorEvent::Escrow { fen: 10000 }), 3);
    assert!(cmds.contains(&Cmd::ReturnNote));
    assert!(!cmds.contains(&Cmd::StackNote));
    assert!(cmds.iter().any(|c| matches!(
        c,
        Cmd::Show(Screen::Insert {
            notice: Some(Notice::NoteOverLimit {
                fen: 10000,
                max_fen: 20_000
            }),
            ..
        })
    )));
    assert_eq!(f.total_fen(), 15000);
}

#[test]
fn a_note_not_accepted_by_config_is_returned() {
    let mut f = at_insert();
    let cmds = f.handle(acc(AcceptorEvent::Escrow { fen: 100 }), 1);
    assert!(cmds.contains(&Cmd::ReturnNote));
}

#[test]
fn reaching_the_limit_finishes_by_itself() {
    let mut f = at_insert();
    insert(&mut f, 10000, 1);
    let cmds = insert(&mut f, 10000, 2);
    assert!(cmds.contains(&Cmd::DisableAcceptor));
    assert!(cmds.contains(&Cmd::Recharge {
        msisdn: N.into(),
        amount_fen: 20000
    }));
    assert_eq!(f.state_name(), "recharging");
}

#[test]
fn finish_sends_one_recharge_for_the_total_after_the_intent() {
    let mut f = at_insert();
    insert(&mut f, 2000, 1);
    insert(&mut f, 2000, 2);
    insert(&mut f, 1000, 3);
    let cmds = f.handle(Event::Ui(Ui::Finish), 4);
    let intent = cmds
        .iter()
        .position(|c| {
            matches!(
                c,
                Cmd::Intent {
                    kind: "recharge",
                    ..
                }
            )
        })
        .unwrap();
    let recharge = cmds
        .iter()
        .position(|c| matches!(c, Cmd::Recharge { .. }))
        .unwrap();
    assert!(intent < recharge);
    assert_eq!(
        cmds[recharge],
        Cmd::Recharge {
            msisdn: N.into(),
            amount_fen: 5000
        }
    );
    assert_eq!(
        cmds.iter()
            .filter(|c| matches!(c, Cmd::Recharge { .. }))
            .count(),
        1
    );
}

#[test]
fn finish_waits_for_a_note_that_is_still_stacking() {
    let mut f = at_insert();
    insert(&mut f, 2000, 1);
    f.handle(acc(AcceptorEvent::Escrow { fen: 5000 }), 2);
    let cmds = f.handle(Event::Ui(Ui::Finish), 3);
    assert!(
        !cmds.iter().any(|c| matches!(c, Cmd::Recharge { .. })),
        "{cmds:?}"
    );
    let cmds = f.handle(acc(AcceptorEvent::Credit { fen: 5000 }), 4);
    assert!(cmds.contains(&Cmd::Recharge {
        msisdn: N.into(),
        amount_fen: 7000
    }));
}

#[test]
fn credited_recharge_prints_the_receipt_and_settles() {
    let mut f = at_insert();
    insert(&mut f, 5000, 1);
    f.handle(Event::Ui(Ui::Finish), 2);
    let ok = Credited {
        boss_ref: "B9".into(),
        new_balance_fen: Some(6234),
    };
    let cmds = f.handle(Event::Recharge(Ok(ok)), 3);
    assert_eq!(
        cmds[0],
        Cmd::Settle {
            credited_fen: 5000,
            boss_ref: "B9".into(),
            new_balance_fen: Some(6234)
        }
    );
    let outcome = Outcome::Credited {
        boss_ref: "B9".into(),
        new_balance_fen: Some(6234),
    };
    assert!(cmds.contains(&Cmd::Print(TopUpReceipt {
        txn_id: "T1".into(),
        number_masked: "138****0000".into(),
        amount_fen: 5000,
        outcome: outcome.clone(),
    })));
    let cmds = f.handle(Event::Printed(PrintResult::Printed), 4);
    assert_eq!(
        cmds[0],
        Cmd::RecordReceipt {
            outcome: PrintResult::Printed
        }
    );
    assert!(cmds.contains(&Cmd::Show(Screen::Result {
        number_masked: "138****0000".into(),
        amount_fen: 5000,
        outcome,
        reference: "T1".into(),
        receipt: ReceiptState::Printed,
    })));
    // "Anything else?" — confirm ends the session.
    assert_eq!(f.handle(Event::Ui(Ui::Confirm), 5), vec![Cmd::End]);
}

#[test]
fn lost_answer_keeps_the_money_pending_and_says_so_on_paper() {
    let mut f = at_insert();
    insert(&mut f, 5000, 1);
    f.handle(Event::Ui(Ui::Finish), 2);
    let cmds = f.handle(
        Event::Recharge(Err(RechargeError::Unknown {
            cause: "timeout".into(),
        })),
        3,
    );
    assert!(matches!(&cmds[0], Cmd::MarkPending { .. }));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::Print(r) if matches!(r.outcome, Outcome::Pending { .. })))
    );
    assert!(
        !cmds
            .iter()
            .any(|c| matches!(c, Cmd::Settle { .. } | Cmd::IssueVoucher { .. }))
    );
}

#[test]
fn refused_recharge_becomes_a_refund_voucher() {
    let mut f = at_insert();
    insert(&mut f, 5000, 1);
    f.handle(Event::Ui(Ui::Finish), 2);
    let refused = RechargeError::Refused {
        code: "account_closed".into(),
        message: "closed".into(),
    };
    let cmds = f.handle(Event::Recharge(Err(refused)), 3);
    assert!(matches!(&cmds[0], Cmd::IssueVoucher { .. }));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::Print(r) if matches!(r.outcome, Outcome::Voucher { .. })))
    );
}

#[test]
fn paper_out_still_completes_and_shows_the_reference() {
    let mut f = at_insert();
    insert(&mut f, 5000, 1);
    f.handle(Event::Ui(Ui::Finish), 2);
    f.handle(
        Event::Recharge(Ok(Credited {
            boss_ref: "B".into(),
            new_balance_fen: None,
        })),
        3,
    );
    let cmds = f.handle(
        Event::Printed(PrintResult::NotPrinted {
            reason: "paper_out".into(),
        }),
        4,
    );
    assert!(cmds.contains(&Cmd::RecordReceipt {
        outcome: PrintResult::NotPrinted {
            reason: "paper_out".into()
        }
    }));
    assert!(cmds.iter().any(|c| matches!(
        c,
        Cmd::Show(Screen::Result { receipt: ReceiptState::NotPrinted, reference, .. }) if reference == "T1"
    )));
}

#[test]
fn idle_with_money_in_finishes_never_cancels() {
    let mut f = at_insert();
    insert(&mut f, 2000, 1);
    // The activity clock was last reset by the customer's confirm at t=0.
    let warn = f.handle(Event::Tick, 90_000 - 15_000);
    assert_eq!(warn, vec![Cmd::IdleWarning { seconds_left: 15 }]);
    let cmds = f.handle(Event::Tick, 90_000);
    assert!(
        cmds.contains(&Cmd::Recharge {
            msisdn: N.into(),
            amount_fen: 2000
        }),
        "{cmds:?}"
    );
    assert!(!cmds.iter().any(|c| matches!(c, Cmd::CancelTxn { .. })));
}

#[test]
fn cancel_with_money_in_means_finish() {
    let mut f = at_insert();
    insert(&mut f, 1000, 1);
    let cmds = f.handle(Event::Ui(Ui::Cancel), 2);
    assert!(cmds.contains(&Cmd::Recharge {
        msisdn: N.into(),
        amount_fen: 1000
    }));
    assert!(!cmds.iter().any(|c| matches!(c, Cmd::CancelTxn { .. })));
}

#[test]
fn idle_without_money_cancels_and_wipes() {
    let mut f = at_insert();
    let cmds = f.handle(Event::Tick, 60_000);
    assert_eq!(
        cmds,
        vec![
            Cmd::DisableAcceptor,
            Cmd::CancelTxn {
                reason: "idle timeout".into()
            },
            Cmd::End
        ]
    );
    assert!(f.is_ended());
}

#[test]
fn a_touch_resets_the_idle_clock() {
    let (mut f, _) = TopUp::start(cfg(), 0);
    f.handle(Event::Ui(Ui::Touch), 50_000);
    assert!(f.handle(Event::Tick, 60_000).is_empty());
    assert_eq!(f.handle(Event::Tick, 110_000), vec![Cmd::End]);
}

#[test]
fn jam_settles_what_was_credited_and_stops_taking_cash() {
    let mut f = at_insert();
    insert(&mut f, 5000, 1);
    f.handle(acc(AcceptorEvent::Escrow { fen: 2000 }), 2);
    let cmds = f.handle(acc(AcceptorEvent::Jam { safe: false }), 3);
    // The jammed note is never credited; the credited 50 yuan go to the operator.
    assert!(cmds.contains(&Cmd::Recharge {
        msisdn: N.into(),
        amount_fen: 5000
    }));
    assert!(cmds.iter().any(|c| matches!(
        c,
        Cmd::Intent {
            kind: "acceptor_jam",
            ..
        }
    )));
}

#[test]
fn stacker_full_with_no_money_cancels_with_a_reason() {
    let mut f = at_insert();
    let cmds = f.handle(acc(AcceptorEvent::StackerFull), 1);
    assert!(cmds.contains(&Cmd::DisableAcceptor));
    assert!(cmds.iter().any(|c| matches!(
        c,
        Cmd::Show(Screen::Sorry {
            notice: Notice::AcceptorFault,
            ..
        })
    )));
    assert!(f.is_ended());
}

#[test]
fn power_up_note_in_cashbox_is_credited_to_the_open_transaction() {
    let mut f = at_insert();
    f.handle(acc(AcceptorEvent::Escrow { fen: 5000 }), 1);
    f.handle(acc(AcceptorEvent::Reset), 2);
    let cmds = f.handle(acc(AcceptorEvent::PowerUpNoteInCashbox { fen: None }), 3);
    assert_eq!(
        cmds[0],
        Cmd::CreditNote {
            fen: 5000,
            power_up: true
        }
    );
    assert_eq!(f.total_fen(), 5000);
}

#[test]
fn random_event_sequences_never_lose_credited_money() {
    use proptest::prelude::*;
    let events = prop_oneof![
        (0usize..4).prop_map(|i| acc(AcceptorEvent::Escrow {
            fen: [1000, 2000, 5000, 10000][i]
        })),
        (0usize..4).prop_map(|i| acc(AcceptorEvent::Credit {
            fen: [1000, 2000, 5000, 10000][i]
        })),
        Just(acc(AcceptorEvent::Rejected { reason: None })),
        Just(acc(AcceptorEvent::Returned { fen: None })),
        Just(acc(AcceptorEvent::Jam { safe: true })),
        Just(acc(AcceptorEvent::StackerFull)),
        Just(Event::Ui(Ui::Finish)),
        Just(Event::Ui(Ui::Cancel)),
        Just(Event::Ui(Ui::Touch)),
        Just(Event::Tick),
        Just(Event::Recharge(Err(RechargeError::Unknown {
            cause: "x".into()
        }))),
        Just(Event::Recharge(Ok(Credited {
            boss_ref: "B".into(),
            new_balance_fen: None
        }))),
        Just(Event::Printed(PrintResult::Printed)),
    ];
    proptest!(|(seq in proptest::collection::vec(events, 0..40))| {
        let mut f = at_insert();
        let mut credited = 0u64;
        let mut settled = 0u64;
        let mut vouchered = 0u64;
        let mut pending = false;
        let mut cancelled_with_money = false;
        let mut now = 0;
        for e in seq {
            now += 10_000;
            for c in f.handle(e, now) {
                match c {
                    Cmd::CreditNote { fen, .. } => credited += fen,
                    Cmd::Settle { credited_fen, .. } => settled += credited_fen,
                    Cmd::MarkPending { .. } => pending = true,
                    Cmd::Print(TopUpReceipt { amount_fen, outcome: Outcome::Voucher { .. }, .. }) => {
                        vouchered += amount_fen
                    }
                    Cmd::CancelTxn { .. } if credited > 0 => cancelled_with_money = true,
                    _ => {}
                }
            }
        }
        prop_assert!(!cancelled_with_money);
        if f.is_ended() && !pending {
            prop_assert_eq!(credited, settled + vouchered, "every credited fen is settled or on a voucher");
        }
    });
}
