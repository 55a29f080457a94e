use super::*;
use crate::flow::PrintResult;
use crate::flow::testkit::*;
use boss_protocol::{FaceVerdict, HeldNumber, Msisdn, NumbersById, PaymentKind, SubscriberStatus};

fn cfg() -> Config {
    Config {
        timeouts: timeouts(),
        printer: true,
    }
}

fn held(n: &str, status: SubscriberStatus, opened_on: &str) -> HeldNumber {
    HeldNumber {
        msisdn: Msisdn::new(n),
        status,
        payment: PaymentKind::Prepaid,
        opened_on: opened_on.into(),
    }
}

fn listed() -> Result<Response, OpError> {
    Ok(Response::NumbersById(NumbersById {
        numbers: vec![
            held("13800000000", SubscriberStatus::Active, "2019-03-01"),
            held("13912345678", SubscriberStatus::Cancelled, "2015-06-15"),
            held("15011112222", SubscriberStatus::ReportedLost, "2024-01-20"),
        ],
        numbers_limit: 5,
    }))
}

/// The card read, consent given, the photo taken and matched: the transaction opening.
fn identified(f: &mut NumberQuery, first: &[Effect]) -> Vec<Effect> {
    assert!(matches!(last_screen(first), Screen::PlaceIdCard { .. }));
    let req = id_read(first);
    let out = f.handle(
        Input::IdCard {
            req,
            result: Ok(id_document(false)),
        },
        0,
    );
    assert!(requests(&out).is_empty(), "no applicant's check");
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

/// Up to the list on the screen.
fn to_list(config: Config) -> (NumberQuery, Vec<Effect>) {
    let (mut f, first) = NumberQuery::start(config, 0);
    let out = identified(&mut f, &first);
    assert!(matches!(
        journal(&out).as_slice(),
        [JournalOp::Open {
            kind: TxnKind::NumberQuery,
            msisdn: None,
            ..
        }]
    ));
    let out = f.handle(Input::TxnOpened { id: "Q1".into() }, 0);
    let (req, q) = request(&out, "numbers_by_id");
    let Request::NumbersById(q) = q else {
        unreachable!()
    };
    assert_eq!(
        (q.id_number.as_str(), q.face_check_id.as_str()),
        ("110101199003071233", "F01")
    );
    let out = f.handle(answer(req, listed()), 0);
    (f, out)
}

fn slip(out: &[Effect]) -> (ReqId, NumbersSlip) {
    out.iter()
        .find_map(|e| match e {
            Effect::Print {
                req,
                paper: Paper::Numbers(s),
            } => Some((*req, s.clone())),
            _ => None,
        })
        .expect("a slip")
}

#[test]
fn the_numbers_are_listed_masked_with_their_state() {
    let (_, out) = to_list(cfg());
    let Screen::HeldNumbers {
        name_masked,
        id_masked,
        numbers,
        limit,
        advice,
        receipt,
    } = last_screen(&out)
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        (name_masked.as_str(), id_masked.as_str()),
        ("王**", "110101********1233")
    );
    assert_eq!(limit, 5);
    assert!(!advice);
    assert_eq!(receipt, None, "nothing printed unasked");
    let shown: Vec<(&str, HeldStatus)> = numbers
        .iter()
        .map(|n| (n.number_masked.as_str(), n.status))
        .collect();
    assert_eq!(
        shown,
        [
            ("138****0000", HeldStatus::Active),
            ("139****5678", HeldStatus::Closed),
            ("150****2222", HeldStatus::ReportedLost),
        ]
    );
    let seen = format!("{out:?}");
    assert!(
        !seen.contains("13912345678") && !seen.contains("王小明"),
        "nothing unmasked leaves the flow: {seen}"
    );
}

#[test]
fn a_number_not_mine_gets_advice_and_the_slip() {
    let (mut f, _) = to_list(cfg());
    let out = f.handle(select("not_mine"), 0);
    let (req, s) = slip(&out);
    assert!(s.disputed);
    assert_eq!(s.txn_id, "Q1");
    assert_eq!(s.numbers.len(), 3);
    assert!(matches!(
        last_screen(&out),
        Screen::HeldNumbers {
            advice: true,
            receipt: Some(ReceiptState::Printing),
            ..
        }
    ));
    let out = f.handle(
        Input::Printed {
            req,
            result: PrintResult::Printed,
        },
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::HeldNumbers {
            receipt: Some(ReceiptState::Printed),
            ..
        }
    ));
    // Finished: the transaction is closed.
    let out = f.handle(Input::Ui(Ui::Cancel), 0);
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::Complete { .. }))
    );
    assert!(ends(&out));
}

#[test]
fn the_slip_is_printed_once_and_not_without_a_printer() {
    let (mut f, _) = to_list(cfg());
    let out = f.handle(select("print"), 0);
    let (req, s) = slip(&out);
    assert!(!s.disputed);
    f.handle(
        Input::Printed {
            req,
            result: PrintResult::Printed,
        },
        0,
    );
    // Saying one is not theirs after printing shows the advice without a second slip.
    let out = f.handle(select("not_mine"), 0);
    assert!(!out.iter().any(|e| matches!(e, Effect::Print { .. })));
    assert!(matches!(
        last_screen(&out),
        Screen::HeldNumbers { advice: true, .. }
    ));

    let (mut f, _) = to_list(Config {
        printer: false,
        ..cfg()
    });
    let out = f.handle(select("print"), 0);
    assert!(!out.iter().any(|e| matches!(e, Effect::Print { .. })));
    assert!(matches!(
        last_screen(&out),
        Screen::HeldNumbers {
            receipt: Some(ReceiptState::NotPrinted),
            ..
        }
    ));
}

#[test]
fn a_minor_may_ask_and_a_face_that_does_not_match_is_refused() {
    let (mut f, first) = NumberQuery::start(cfg(), 0);
    let req = id_read(&first);
    let mut doc = id_document(false);
    doc.age = 12;
    let out = f.handle(
        Input::IdCard {
            req,
            result: Ok(doc),
        },
        0,
    );
    assert!(matches!(last_screen(&out), Screen::FaceConsent { .. }));

    let (mut f, first) = NumberQuery::start(cfg(), 0);
    let req = id_read(&first);
    f.handle(
        Input::IdCard {
            req,
            result: Ok(id_document(false)),
        },
        0,
    );
    let mut out = f.handle(select("consent"), 0);
    for _ in 0..crate::flow::parts::identity::FACE_ATTEMPTS {
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
    }
    assert!(matches!(
        last_screen(&out),
        Screen::Refused {
            notice: Notice::FaceMismatch,
            ..
        }
    ));
    assert!(journal(&out).is_empty(), "nothing asked, nothing opened");
}

#[test]
fn an_expired_card_is_refused_before_any_photo() {
    let (mut f, first) = NumberQuery::start(cfg(), 0);
    let req = id_read(&first);
    let out = f.handle(
        Input::IdCard {
            req,
            result: Ok(id_document(true)),
        },
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::Refused {
            notice: Notice::IdExpired,
            ..
        }
    ));
}

#[test]
fn a_refused_or_lost_query_closes_the_transaction() {
    let (mut f, first) = NumberQuery::start(cfg(), 0);
    identified(&mut f, &first);
    let out = f.handle(Input::TxnOpened { id: "Q1".into() }, 0);
    let (req, _) = request(&out, "numbers_by_id");
    let out = f.handle(answer(req, Err(OpError::refused("face_mismatch", "no"))), 0);
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::Cancel { .. }))
    );
    assert!(matches!(last_screen(&out), Screen::Refused { .. }));

    let (mut f, first) = NumberQuery::start(cfg(), 0);
    identified(&mut f, &first);
    let out = f.handle(Input::TxnOpened { id: "Q1".into() }, 0);
    let (req, _) = request(&out, "numbers_by_id");
    let out = f.handle(
        answer(
            req,
            Err(OpError::Unknown {
                cause: "timed out".into(),
            }),
        ),
        0,
    );
    assert!(
        journal(&out)
            .iter()
            .any(|op| matches!(op, JournalOp::Cancel { .. }))
    );
    assert!(ends(&out));
}

#[test]
fn an_empty_list_says_so() {
    let (mut f, first) = NumberQuery::start(cfg(), 0);
    identified(&mut f, &first);
    let out = f.handle(Input::TxnOpened { id: "Q1".into() }, 0);
    let (req, _) = request(&out, "numbers_by_id");
    let out = f.handle(
        answer(
            req,
            Ok(Response::NumbersById(NumbersById {
                numbers: vec![],
                numbers_limit: 5,
            })),
        ),
        0,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::HeldNumbers { numbers, .. } if numbers.is_empty()
    ));
}
