use super::*;
use crate::flow::PrintResult;
use crate::flow::testkit::*;
use boss_protocol::{
    AuthFactor, FaceVerdict, LossLifted, LossReported, Reply, SubscriberStatus, TxnState, TxnStatus,
};

fn cfg() -> Config {
    Config {
        timeouts: timeouts(),
        id_card: true,
        replacement: true,
        seed: 3,
    }
}

fn lookup_as(status: SubscriberStatus) -> Result<Response, OpError> {
    let Ok(Response::SubscriberLookup(mut s)) = lookup(0) else {
        unreachable!()
    };
    s.status = status;
    Ok(Response::SubscriberLookup(s))
}

/// The number looked up in `status`: the choice of proof.
fn start_with(config: Config, status: SubscriberStatus) -> (LossFlow, Vec<Effect>) {
    let (mut f, _) = LossFlow::start(config, 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let (req, _) = request(&out, "subscriber_lookup");
    let out = f.handle(answer(req, lookup_as(status)), 0);
    (f, out)
}

/// The password, then the SMS code on the same token: the confirmation.
fn by_password_and_code(f: &mut LossFlow) -> Vec<Effect> {
    f.handle(select("password"), 0);
    let out = f.handle(secret("123456"), 0);
    let (req, _) = request(&out, "auth_password");
    let out = f.handle(
        answer(
            req,
            Ok(Response::AuthPassword(auth_ok(&[AuthFactor::Password]))),
        ),
        0,
    );
    let (req, _) = request(&out, "sms_code_request");
    let out = f.handle(answer(req, code_sent()), 0);
    assert!(matches!(last_screen(&out), Screen::SmsCode { .. }));
    let out = f.handle(secret("654321"), 0);
    let (req, v) = request(&out, "sms_code_verify");
    let Request::SmsCodeVerify(v) = v else {
        unreachable!()
    };
    assert_eq!(
        v.token.map(|t| t.0).as_deref(),
        Some(TOKEN),
        "the code upgrades the password's token"
    );
    f.handle(
        answer(
            req,
            Ok(Response::SmsCodeVerify(auth_ok(&[
                AuthFactor::Password,
                AuthFactor::SmsCode,
            ]))),
        ),
        0,
    )
}

/// The owner's ID card and a live photo, compared, then authenticated: the confirmation.
fn by_card_and_face(f: &mut LossFlow) -> Vec<Effect> {
    let out = f.handle(select("id_card"), 0);
    let req = id_read(&out);
    f.handle(
        Input::IdCard {
            req,
            result: Ok(id_document(false)),
        },
        0,
    );
    let out = f.handle(select("consent"), 0);
    let req = face_req(&out);
    let out = f.handle(
        Input::Face {
            req,
            result: Ok(live_photo()),
        },
        0,
    );
    let (req, _) = request(&out, "face_compare");
    let out = f.handle(answer(req, face(FaceVerdict::Match)), 0);
    let (req, a) = request(&out, "auth_id_card");
    let Request::AuthIdCard(a) = a else {
        unreachable!()
    };
    assert_eq!(
        a.face_check_id.as_deref(),
        Some("F01"),
        "the face goes with the card"
    );
    f.handle(
        answer(
            req,
            Ok(Response::AuthIdCard(auth_ok(&[
                AuthFactor::IdCard,
                AuthFactor::Face,
            ]))),
        ),
        0,
    )
}

fn reported() -> Result<Response, OpError> {
    Ok(Response::LossReport(LossReported {
        txn_id: TxnId::new("T1"),
        msisdn: Msisdn::new(N),
        // 2026-12-08 10:00 Beijing.
        suspended_at_ms: 1_796_695_200_000,
    }))
}

fn the_receipt(out: &[Effect]) -> (ReqId, SimReceipt) {
    out.iter()
        .find_map(|e| match e {
            Effect::Print {
                req,
                paper: Paper::Sim(r),
            } => Some((*req, r.clone())),
            _ => None,
        })
        .expect("a receipt")
}

#[test]
fn the_choice_offers_password_with_code_and_the_id_card() {
    let (_, out) = start_with(cfg(), SubscriberStatus::Active);
    assert!(matches!(
        last_screen(&out),
        Screen::AuthChoose {
            sms: true,
            id_card: true,
            sms_alone: false,
            ..
        }
    ));
    // Without a reader or camera, the password and code are the only way.
    let (_, out) = start_with(
        Config {
            id_card: false,
            ..cfg()
        },
        SubscriberStatus::Active,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::AuthChoose { id_card: false, .. }
    ));
}

#[test]
fn reported_with_both_proofs_journaled_receipted_and_a_new_card_offered() {
    for how in ["password", "id_card"] {
        let (mut f, _) = start_with(cfg(), SubscriberStatus::Active);
        let out = if how == "password" {
            by_password_and_code(&mut f)
        } else {
            by_card_and_face(&mut f)
        };
        let Screen::LossConfirm {
            action,
            number_masked,
            owner_masked,
        } = last_screen(&out)
        else {
            panic!("{how}: {out:?}")
        };
        assert_eq!(action, LossAction::Report);
        assert_eq!(
            (number_masked.as_str(), owner_masked.as_str()),
            ("138****0000", "*小明")
        );
        let out = f.handle(Input::Ui(Ui::Confirm), 0);
        assert!(matches!(
            journal(&out).as_slice(),
            [JournalOp::Open {
                kind: TxnKind::LossReport,
                msisdn: None,
                ..
            }]
        ));
        let out = f.handle(Input::TxnOpened { id: "T1".into() }, 0);
        assert!(matches!(
            journal(&out).as_slice(),
            [JournalOp::OperatorSent {
                op: "loss_report",
                ..
            }]
        ));
        let (req, r) = request(&out, "loss_report");
        let Request::LossReport(r) = r else {
            unreachable!()
        };
        assert_eq!((r.txn_id.as_str(), r.token.0.as_str()), ("T1", TOKEN));
        let out = f.handle(answer(req, reported()), 0);
        assert!(
            journal(&out)
                .iter()
                .any(|op| matches!(op, JournalOp::Complete { .. }))
        );
        let (preq, receipt) = the_receipt(&out);
        assert_eq!(receipt.service, "loss_report");
        assert_eq!(receipt.number_masked, "138****0000");
        let SimOutcome::LossReported { at, replace, .. } = &receipt.outcome else {
            panic!("{receipt:?}")
        };
        assert_eq!(at, "2026-12-08 10:00");
        assert!(replace);
        if how == "id_card" {
            assert_eq!(
                (receipt.name_masked.as_str(), receipt.id_masked.as_str()),
                ("王**", "110101********1233")
            );
        }
        let out = f.handle(
            Input::Printed {
                req: preq,
                result: PrintResult::Printed,
            },
            0,
        );
        assert!(matches!(last_screen(&out), Screen::SimDone { .. }));
        // A replacement SIM for the same number, straight away.
        let out = f.handle(select("replace_sim"), 0);
        assert!(out.iter().any(|e| matches!(e,
            Effect::Handoff { service: ServiceId::ReplaceSim, number } if number.digits() == N)));
        assert!(ends(&out));
    }
}

#[test]
fn a_reported_number_is_lifted_the_same_way() {
    let (mut f, _) = start_with(cfg(), SubscriberStatus::ReportedLost);
    let out = by_password_and_code(&mut f);
    assert!(matches!(
        last_screen(&out),
        Screen::LossConfirm {
            action: LossAction::Lift,
            ..
        }
    ));
    let out = f.handle(Input::Ui(Ui::Confirm), 0);
    assert!(matches!(
        journal(&out).as_slice(),
        [JournalOp::Open {
            kind: TxnKind::LossLift,
            ..
        }]
    ));
    let out = f.handle(Input::TxnOpened { id: "T2".into() }, 0);
    let (req, _) = request(&out, "loss_lift");
    let out = f.handle(
        answer(
            req,
            Ok(Response::LossLift(LossLifted {
                txn_id: TxnId::new("T2"),
                msisdn: Msisdn::new(N),
                status: SubscriberStatus::Active,
                resumed_at_ms: 1_796_695_200_000,
            })),
        ),
        0,
    );
    let (_, receipt) = the_receipt(&out);
    assert_eq!(receipt.service, "loss_lift");
    assert!(matches!(receipt.outcome, SimOutcome::LossLifted { .. }));
    // Nothing to offer after a lift.
    let out = f.handle(select("replace_sim"), 0);
    assert!(!out.iter().any(|e| matches!(e, Effect::Handoff { .. })));
}

#[test]
fn the_password_alone_is_not_enough() {
    let (mut f, _) = start_with(cfg(), SubscriberStatus::Active);
    f.handle(select("password"), 0);
    let out = f.handle(secret("123456"), 0);
    let (req, _) = request(&out, "auth_password");
    let out = f.handle(
        answer(
            req,
            Ok(Response::AuthPassword(auth_ok(&[AuthFactor::Password]))),
        ),
        0,
    );
    assert!(
        requests(&out)
            .iter()
            .any(|(_, r)| r.op() == "sms_code_request"),
        "an SMS code follows the password"
    );
    assert!(!matches!(last_screen(&out), Screen::LossConfirm { .. }));
}

#[test]
fn refusals_say_why_and_a_number_already_reported_is_offered_a_new_card() {
    for (code, notice) in [
        ("number_closed", Notice::NumberClosed),
        ("id_mismatch", Notice::IdMismatch),
        ("already_reported", Notice::AlreadyReported),
    ] {
        let (mut f, _) = start_with(cfg(), SubscriberStatus::Active);
        by_password_and_code(&mut f);
        f.handle(Input::Ui(Ui::Confirm), 0);
        let out = f.handle(Input::TxnOpened { id: "T1".into() }, 0);
        let (req, _) = request(&out, "loss_report");
        let out = f.handle(answer(req, Err(OpError::refused(code, "no"))), 0);
        assert!(
            journal(&out)
                .iter()
                .any(|op| matches!(op, JournalOp::Cancel { .. })),
            "{code}"
        );
        let Screen::Refused {
            notice: n, offer, ..
        } = last_screen(&out)
        else {
            panic!("{code}: {out:?}")
        };
        assert_eq!(n, notice, "{code}");
        assert_eq!(
            offer.is_some(),
            code == "already_reported",
            "{code}: only a reported number is offered a new card"
        );
    }
}

#[test]
fn a_closed_number_never_reaches_the_proofs() {
    let (_, out) = start_with(cfg(), SubscriberStatus::Cancelled);
    assert!(matches!(
        last_screen(&out),
        Screen::EnterNumber {
            notice: Some(Notice::AccountClosed),
            ..
        }
    ));
}

#[test]
fn a_lost_answer_is_settled_by_the_status_query_and_never_sent_twice() {
    let (mut f, _) = start_with(cfg(), SubscriberStatus::Active);
    by_password_and_code(&mut f);
    f.handle(Input::Ui(Ui::Confirm), 0);
    let out = f.handle(Input::TxnOpened { id: "T1".into() }, 0);
    let (req, _) = request(&out, "loss_report");
    let out = f.handle(
        answer(
            req,
            Err(OpError::Unknown {
                cause: "timed out".into(),
            }),
        ),
        0,
    );
    let (req, _) = request(&out, "txn_status");
    let out = f.handle(
        answer(
            req,
            Ok(Response::TxnStatus(TxnStatus {
                txn_id: TxnId::new("T1"),
                state: TxnState::Committed,
                txn_op: Some("loss_report".into()),
                amount_fen: None,
                outcome: Some(Box::new(Reply::Ok(reported().unwrap()))),
                reversed_by: None,
            })),
        ),
        0,
    );
    assert!(requests(&out).iter().all(|(_, r)| r.op() != "loss_report"));
    let (_, receipt) = the_receipt(&out);
    assert!(matches!(receipt.outcome, SimOutcome::LossReported { .. }));
}

#[test]
fn without_a_replacement_here_none_is_offered() {
    let (mut f, _) = start_with(
        Config {
            replacement: false,
            ..cfg()
        },
        SubscriberStatus::Active,
    );
    by_password_and_code(&mut f);
    f.handle(Input::Ui(Ui::Confirm), 0);
    let out = f.handle(Input::TxnOpened { id: "T1".into() }, 0);
    let (req, _) = request(&out, "loss_report");
    let out = f.handle(answer(req, reported()), 0);
    let (_, receipt) = the_receipt(&out);
    assert!(matches!(
        receipt.outcome,
        SimOutcome::LossReported { replace: false, .. }
    ));
}
