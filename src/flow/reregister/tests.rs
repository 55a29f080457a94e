use super::*;
use crate::flow::PrintResult;
use crate::flow::testkit::*;
use boss_protocol::{AuthFactor, FaceVerdict, Reply, Reregistered, TxnState, TxnStatus};

fn cfg() -> Config {
    Config {
        timeouts: timeouts(),
        seed: 3,
    }
}

/// The number looked up: the way in.
fn start() -> (Reregister, Vec<Effect>) {
    let (mut f, _) = Reregister::start(cfg(), 0);
    let out = f.handle(Input::Ui(Ui::Number(N.into())), 0);
    let (req, _) = request(&out, "subscriber_lookup");
    let out = f.handle(answer(req, lookup(0)), 0);
    (f, out)
}

/// Authenticated by `how`, then the registrant's ID card and face: the confirmation.
fn to_confirm(f: &mut Reregister, how: &str) -> Vec<Effect> {
    let out = f.handle(select(how), 0);
    let token = match how {
        "password" => {
            assert!(matches!(last_screen(&out), Screen::Password { .. }));
            let out = f.handle(secret("123456"), 0);
            let (req, _) = request(&out, "auth_password");
            f.handle(
                answer(
                    req,
                    Ok(Response::AuthPassword(auth_ok(&[AuthFactor::Password]))),
                ),
                0,
            )
        }
        _ => {
            let (req, _) = request(&out, "sms_code_request");
            let out = f.handle(answer(req, code_sent()), 0);
            assert!(matches!(last_screen(&out), Screen::SmsCode { .. }));
            let out = f.handle(secret("654321"), 0);
            let (req, v) = request(&out, "sms_code_verify");
            let Request::SmsCodeVerify(v) = v else {
                unreachable!()
            };
            assert!(v.token.is_none(), "the code alone");
            f.handle(
                answer(
                    req,
                    Ok(Response::SmsCodeVerify(auth_ok(&[AuthFactor::SmsCode]))),
                ),
                0,
            )
        }
    };
    let req = id_read(&token);
    let out = f.handle(
        Input::IdCard {
            req,
            result: Ok(id_document(false)),
        },
        0,
    );
    assert!(
        requests(&out).is_empty(),
        "no real-name check for a registrant"
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
    f.handle(answer(req, face(FaceVerdict::Match)), 0)
}

fn registered() -> Result<Response, OpError> {
    Ok(Response::RealNameReregister(Reregistered {
        txn_id: TxnId::new("T1"),
        msisdn: Msisdn::new(N),
        registered_at_ms: 1_796_000_000_000,
    }))
}

#[test]
fn the_choice_offers_the_sms_code_alone_and_no_id_card() {
    let (_, out) = start();
    assert!(matches!(
        last_screen(&out),
        Screen::AuthChoose {
            sms_alone: true,
            id_card: false,
            ..
        }
    ));
}

#[test]
fn registered_with_the_password_journaled_completed_and_receipted() {
    for how in ["password", "sms"] {
        let (mut f, _) = start();
        let out = to_confirm(&mut f, how);
        let Screen::ReregisterConfirm {
            number_masked,
            name_masked,
            id_masked,
        } = last_screen(&out)
        else {
            panic!("{how}: {out:?}")
        };
        assert_eq!(
            (
                number_masked.as_str(),
                name_masked.as_str(),
                id_masked.as_str()
            ),
            ("138****0000", "王**", "110101********1233")
        );
        let out = f.handle(Input::Ui(Ui::Confirm), 0);
        assert!(matches!(
            journal(&out).as_slice(),
            [JournalOp::Open {
                kind: TxnKind::Reregister,
                msisdn: None,
                ..
            }]
        ));
        let out = f.handle(Input::TxnOpened { id: "T1".into() }, 0);
        let (req, r) = request(&out, "real_name_reregister");
        let Request::RealNameReregister(r) = r else {
            unreachable!()
        };
        assert_eq!((r.txn_id.as_str(), r.face_check_id.as_str()), ("T1", "F01"));
        assert_eq!(r.token.0, TOKEN);
        let out = f.handle(answer(req, registered()), 0);
        let ops = journal(&out);
        assert!(
            ops.iter()
                .any(|op| matches!(op, JournalOp::Complete { .. })),
            "{ops:?}"
        );
        let (preq, receipt) = out
            .iter()
            .find_map(|e| match e {
                Effect::Print {
                    req,
                    paper: Paper::Sim(r),
                } => Some((*req, r.clone())),
                _ => None,
            })
            .expect("a receipt");
        assert_eq!(receipt.service, "reregister");
        assert_eq!(receipt.paid_fen, 0);
        assert!(matches!(receipt.outcome, SimOutcome::Registered { .. }));
        let out = f.handle(
            Input::Printed {
                req: preq,
                result: PrintResult::Printed,
            },
            0,
        );
        assert!(matches!(last_screen(&out), Screen::SimDone { .. }));
    }
}

#[test]
fn a_refused_registration_is_cancelled_with_its_reason() {
    let (mut f, _) = start();
    to_confirm(&mut f, "password");
    f.handle(Input::Ui(Ui::Confirm), 0);
    let out = f.handle(Input::TxnOpened { id: "T1".into() }, 0);
    let (req, _) = request(&out, "real_name_reregister");
    let out = f.handle(
        answer(req, Err(OpError::refused("blacklisted", "registry"))),
        0,
    );
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::Cancel { .. }))
    );
    assert!(matches!(
        last_screen(&out),
        Screen::Refused {
            notice: Notice::Blacklisted,
            ..
        }
    ));
}

#[test]
fn a_lost_answer_is_settled_by_the_status_query_once() {
    let (mut f, _) = start();
    to_confirm(&mut f, "password");
    f.handle(Input::Ui(Ui::Confirm), 0);
    let out = f.handle(Input::TxnOpened { id: "T1".into() }, 0);
    let (req, _) = request(&out, "real_name_reregister");
    let out = f.handle(
        answer(
            req,
            Err(OpError::Unknown {
                cause: "timed out".into(),
            }),
        ),
        0,
    );
    let (req, q) = request(&out, "txn_status");
    let Request::TxnStatus(q) = q else {
        unreachable!()
    };
    assert_eq!(q.txn_id.as_str(), "T1");
    let out = f.handle(
        answer(
            req,
            Ok(Response::TxnStatus(TxnStatus {
                txn_id: TxnId::new("T1"),
                state: TxnState::Committed,
                txn_op: Some("real_name_reregister".into()),
                amount_fen: None,
                outcome: Some(Box::new(Reply::Ok(registered().unwrap()))),
                reversed_by: None,
            })),
        ),
        0,
    );
    assert!(
        requests(&out)
            .iter()
            .all(|(_, r)| r.op() != "real_name_reregister"),
        "not registered twice"
    );
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::Complete { .. }))
    );
}

#[test]
fn a_face_that_does_not_match_three_times_is_refused() {
    let (mut f, _) = start();
    let out = f.handle(select("password"), 0);
    let _ = out;
    let out = f.handle(secret("123456"), 0);
    let (req, _) = request(&out, "auth_password");
    let out = f.handle(
        answer(
            req,
            Ok(Response::AuthPassword(auth_ok(&[AuthFactor::Password]))),
        ),
        0,
    );
    let req = id_read(&out);
    f.handle(
        Input::IdCard {
            req,
            result: Ok(id_document(false)),
        },
        0,
    );
    let mut out = f.handle(select("consent"), 0);
    for attempt in 1..=crate::flow::parts::identity::FACE_ATTEMPTS {
        let req = face_req(&out);
        let o = f.handle(
            Input::Face {
                req,
                result: Ok(live_photo()),
            },
            0,
        );
        let (req, _) = request(&o, "face_compare");
        out = f.handle(answer(req, face(FaceVerdict::NoMatch)), 0);
        if attempt < crate::flow::parts::identity::FACE_ATTEMPTS {
            assert!(matches!(
                last_screen(&out),
                Screen::FaceCapture {
                    notice: Some(Notice::FaceMismatch),
                    ..
                }
            ));
        }
    }
    assert!(matches!(
        last_screen(&out),
        Screen::Refused {
            notice: Notice::FaceMismatch,
            ..
        }
    ));
    assert!(journal(&out).is_empty(), "nothing opened");
}
