use super::*;
use crate::flow::testkit::*;
use boss_protocol::{Reply, TxnState};

fn start() -> (CardIssue, Ids, Vec<Effect>) {
    let mut ids = Ids::default();
    let mut out = Vec::new();
    let issue = CardIssue::start("T1", "KH1", &mut ids, &mut out);
    (issue, ids, out)
}

fn step(i: &mut CardIssue, ids: &mut Ids, input: Input) -> (IssueEvent, Vec<Effect>) {
    let mut out = Vec::new();
    let ev = i.handle(&input, ids, &mut out);
    (ev, out)
}

/// From a pick to the card written and the activation sent: the activation's request.
fn to_activation(i: &mut CardIssue, ids: &mut Ids, pick: &[Effect]) -> (ReqId, String) {
    let (req, cmd) = card_cmd(pick);
    assert_eq!(cmd, CardCmd::ToIc);
    let (_, out) = step(i, ids, card_ok(req, CardAnswer::AtIc));
    assert_eq!(card_stages(&out), vec![CardStage::AtIc]);
    let (req, cmd) = card_cmd(&out);
    assert_eq!(cmd, CardCmd::ReadIccid);
    let (_, out) = step(i, ids, card_ok(req, CardAnswer::Iccid(ICCID.into())));
    let (req, r) = request(&out, "sim_script");
    let Request::SimScript(q) = r else {
        unreachable!()
    };
    assert_eq!((q.order_id.as_str(), q.iccid.as_str()), ("KH1", ICCID));
    let (_, out) = step(i, ids, answer(req, script()));
    let (req, cmd) = card_cmd(&out);
    assert!(matches!(cmd, CardCmd::Write { ref steps } if steps.len() == 1));
    let (_, out) = step(i, ids, card_ok(req, written(true)));
    assert_eq!(card_stages(&out), vec![CardStage::Written]);
    let leg = journal(&out)
        .iter()
        .find_map(|op| match op {
            JournalOp::OperatorSent {
                leg,
                op: "activate_sim",
                ..
            } => Some(leg.clone()),
            _ => None,
        })
        .expect("the activation is journaled before it is sent");
    let (req, r) = request(&out, "activate_sim");
    let Request::ActivateSim(a) = r else {
        unreachable!()
    };
    assert_eq!(a.txn_id.as_str(), leg);
    assert!(a.result.completed);
    (req, leg)
}

#[test]
fn a_card_goes_out_written_activated_and_taken_journaled_at_every_step() {
    let (mut i, mut ids, out) = start();
    assert!(matches!(
        journal(&out).as_slice(),
        [JournalOp::Card(CardJournal::Pick { attempt: 1 })]
    ));
    let (req, leg) = to_activation(&mut i, &mut ids, &out);
    assert_eq!(leg, "T1-A1");
    let (ev, out) = step(&mut i, &mut ids, answer(req, activated(None)));
    assert_eq!(ev, IssueEvent::Pending);
    // Activated, then the intent to present, before the card moves.
    assert_eq!(
        card_stages(&out),
        vec![CardStage::Activated, CardStage::Presented]
    );
    let (req, cmd) = card_cmd(&out);
    assert!(matches!(cmd, CardCmd::Present { .. }));
    assert!(matches!(last_screen(&out), Screen::TakeCard { .. }));
    let (ev, out) = step(&mut i, &mut ids, card_ok(req, CardAnswer::Taken));
    assert_eq!(card_stages(&out), vec![CardStage::Taken]);
    assert!(matches!(ev, IssueEvent::Issued { taken: true, ref iccid, .. } if iccid == ICCID));
}

#[test]
fn a_card_not_taken_in_time_is_captured_and_still_issued() {
    let (mut i, mut ids, out) = start();
    let (req, _) = to_activation(&mut i, &mut ids, &out);
    let (_, out) = step(&mut i, &mut ids, answer(req, activated(None)));
    let (req, _) = card_cmd(&out);
    let (ev, out) = step(
        &mut i,
        &mut ids,
        card_ok(req, CardAnswer::Captured { not_taken: true }),
    );
    assert_eq!(card_stages(&out), vec![CardStage::Captured]);
    assert!(matches!(ev, IssueEvent::Issued { taken: false, .. }));
}

#[test]
fn a_spoilt_card_is_captured_and_the_next_one_tried() {
    let (mut i, mut ids, out) = start();
    let (req, _) = card_cmd(&out);
    let (_, out) = step(&mut i, &mut ids, card_ok(req, CardAnswer::AtIc));
    let (req, _) = card_cmd(&out);
    let (_, out) = step(
        &mut i,
        &mut ids,
        card_ok(req, CardAnswer::Iccid(ICCID.into())),
    );
    let (req, _) = request(&out, "sim_script");
    let (_, out) = step(&mut i, &mut ids, answer(req, script()));
    let (req, _) = card_cmd(&out);
    // The write stops halfway: not recorded as written; the operator hears it.
    let (_, out) = step(&mut i, &mut ids, card_ok(req, written(false)));
    assert!(card_stages(&out).is_empty());
    let (req, r) = request(&out, "activate_sim");
    let Request::ActivateSim(a) = r else {
        unreachable!()
    };
    assert!(!a.result.completed);
    let (_, out) = step(
        &mut i,
        &mut ids,
        answer(req, Err(OpError::refused("script_failed", "incomplete"))),
    );
    let (req, cmd) = card_cmd(&out);
    assert_eq!(cmd, CardCmd::Capture);
    let (ev, out) = step(
        &mut i,
        &mut ids,
        card_ok(req, CardAnswer::Captured { not_taken: false }),
    );
    assert_eq!(ev, IssueEvent::Pending);
    assert_eq!(card_stages(&out), vec![CardStage::Captured]);
    assert!(matches!(
        journal(&out).last(),
        Some(JournalOp::Card(CardJournal::Pick { attempt: 2 }))
    ));
    // The second card goes all the way, with its own activation id.
    let (req, leg) = to_activation(&mut i, &mut ids, &out);
    assert_eq!(leg, "T1-A2");
    let (_, out) = step(&mut i, &mut ids, answer(req, activated(None)));
    let (req, _) = card_cmd(&out);
    let (ev, _) = step(&mut i, &mut ids, card_ok(req, CardAnswer::Taken));
    assert!(matches!(ev, IssueEvent::Issued { taken: true, .. }));
}

#[test]
fn after_three_spoilt_cards_issuance_gives_up() {
    let (mut i, mut ids, mut out) = start();
    for attempt in 1..=MAX_CARDS {
        let (req, _) = card_cmd(&out);
        let (_, o) = step(&mut i, &mut ids, card_ok(req, CardAnswer::AtIc));
        let (req, _) = card_cmd(&o);
        let (_, o) = step(
            &mut i,
            &mut ids,
            Input::Card {
                req,
                result: Err(CardProblem::CardUnreadable("no ATR".into())),
            },
        );
        let (req, cmd) = card_cmd(&o);
        assert_eq!(cmd, CardCmd::Capture, "attempt {attempt}");
        let (ev, o) = step(
            &mut i,
            &mut ids,
            card_ok(req, CardAnswer::Captured { not_taken: false }),
        );
        if attempt < MAX_CARDS {
            assert_eq!(ev, IssueEvent::Pending);
        } else {
            assert!(matches!(
                ev,
                IssueEvent::Failed {
                    problem: Failure::CardsSpoilt,
                    ..
                }
            ));
        }
        out = o;
    }
}

#[test]
fn an_empty_stacker_is_recorded_as_no_card_taken() {
    let (mut i, mut ids, out) = start();
    let (req, _) = card_cmd(&out);
    let (ev, out) = step(
        &mut i,
        &mut ids,
        Input::Card {
            req,
            result: Err(CardProblem::Empty),
        },
    );
    assert_eq!(card_stages(&out), vec![CardStage::NotPicked]);
    assert!(matches!(
        ev,
        IssueEvent::Failed {
            problem: Failure::NoStock,
            ..
        }
    ));
}

#[test]
fn a_jam_that_cannot_be_captured_leaves_the_card_recorded_as_stuck() {
    let (mut i, mut ids, out) = start();
    let (req, _) = card_cmd(&out);
    let (_, out) = step(
        &mut i,
        &mut ids,
        Input::Card {
            req,
            result: Err(CardProblem::Jam("card jam".into())),
        },
    );
    let (req, cmd) = card_cmd(&out);
    assert_eq!(cmd, CardCmd::Capture);
    let (ev, out) = step(
        &mut i,
        &mut ids,
        Input::Card {
            req,
            result: Err(CardProblem::Jam("still jammed".into())),
        },
    );
    assert_eq!(card_stages(&out), vec![CardStage::Stuck]);
    assert!(matches!(
        ev,
        IssueEvent::Failed {
            problem: Failure::DispenserFault,
            ..
        }
    ));
}

#[test]
fn a_lost_activation_answer_is_asked_for_with_the_same_id() {
    let (mut i, mut ids, out) = start();
    let (req, leg) = to_activation(&mut i, &mut ids, &out);
    let (_, out) = step(
        &mut i,
        &mut ids,
        answer(
            req,
            Err(OpError::Unknown {
                cause: "timeout".into(),
            }),
        ),
    );
    let (q, r) = request(&out, "txn_status");
    let Request::TxnStatus(s) = r else {
        unreachable!()
    };
    assert_eq!(s.txn_id.as_str(), leg);
    let Ok(Response::ActivateSim(a)) = activated(None) else {
        unreachable!()
    };
    let (_, out) = step(
        &mut i,
        &mut ids,
        answer(
            q,
            Ok(Response::TxnStatus(boss_protocol::TxnStatus {
                txn_id: TxnId::new(leg),
                state: TxnState::Committed,
                txn_op: Some("activate_sim".into()),
                amount_fen: None,
                outcome: Some(Box::new(Reply::Ok(Response::ActivateSim(a)))),
                reversed_by: None,
            })),
        ),
    );
    assert_eq!(
        card_stages(&out),
        vec![CardStage::Activated, CardStage::Presented]
    );
}

#[test]
fn an_activation_that_cannot_be_confirmed_puts_the_card_in_the_bin_and_waits() {
    let (mut i, mut ids, out) = start();
    let (req, _) = to_activation(&mut i, &mut ids, &out);
    let (_, out) = step(
        &mut i,
        &mut ids,
        answer(
            req,
            Err(OpError::Unknown {
                cause: "link lost".into(),
            }),
        ),
    );
    let (q, _) = request(&out, "txn_status");
    let (_, out) = step(
        &mut i,
        &mut ids,
        answer(
            q,
            Err(OpError::NotSent {
                cause: "link down".into(),
            }),
        ),
    );
    let (req, cmd) = card_cmd(&out);
    assert_eq!(cmd, CardCmd::Capture);
    let (ev, out) = step(
        &mut i,
        &mut ids,
        card_ok(req, CardAnswer::Captured { not_taken: false }),
    );
    assert_eq!(card_stages(&out), vec![CardStage::Captured]);
    assert!(matches!(ev, IssueEvent::Unconfirmed { .. }));
}

#[test]
fn the_receipt_names_the_card_by_its_last_digits() {
    assert_eq!(iccid_tail(ICCID), "901234");
    assert_eq!(iccid_tail("123"), "123");
}
