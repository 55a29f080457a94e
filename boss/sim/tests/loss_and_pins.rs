//! Protocol 1.3 over real mutual TLS: 名下号码查询 (numbers under an ID, behind a face check),
//! 挂失/解挂 (loss report and lift: who may, what state comes back, a replacement SIM ends
//! it), and electronic recharge cards (充值卡: sale, resend, void, redeem exactly once, expiry,
//! a void that bars a sale never received, reconciliation of sales and voids).

mod common;

use boss_protocol::*;
use boss_sim::app::{self, SimConfig};
use boss_sim::clock::{Clock, parse_date};
use boss_sim::faults::FaultSettings;
use boss_sim::seed::{DEMO_NUMBER, DEMO_OWNER_ID};
use common::*;

const K1: &str = "K0001";
const K2: &str = "K0002";
const DAY: &str = "2026-11-20";
/// 王小明's active postpaid number besides the demo number.
const OWNER_SECOND: &str = "13900000008";
/// 王小明's closed number.
const OWNER_CLOSED: &str = "15000000009";

fn code(r: &Reply) -> Option<ErrorCode> {
    match r {
        Reply::Error(e) => Some(e.code.clone()),
        Reply::Ok(_) => None,
    }
}

/// The ID-reader simulator's `resident` card: 王小明.
fn owner_card() -> IdCard {
    IdCard {
        name: PersonalText::new("王小明"),
        id_number: IdNumber::new(DEMO_OWNER_ID),
        sex: "男".into(),
        ethnicity: "汉".into(),
        birth_date: "1990-03-07".into(),
        address: PersonalText::new("北京市东城区某街1号"),
        issuer: "北京市公安局东城分局".into(),
        valid_from: "2020-01-01".into(),
        valid_until: Some("2040-01-01".into()),
    }
}

async fn face(k: &mut Kiosk, id: &str, live: Vec<u8>) -> FaceResult {
    let r = k
        .call(Request::FaceCompare(FaceCompare {
            id_number: IdNumber::new(id),
            live_photo: Blob(live),
            id_photo: Blob(vec![2; 1024]),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::FaceCompare(f)) = r else {
        panic!("{r:?}")
    };
    f
}

async fn matching_face(k: &mut Kiosk, id: &str) -> String {
    let f = face(k, id, vec![1; 2048]).await;
    assert_eq!(f.verdict, FaceVerdict::Match);
    f.face_check_id
}

async fn numbers_by_id(k: &mut Kiosk, id: &str, face_check_id: &str) -> Reply {
    k.call(Request::NumbersById(NumbersByIdQuery {
        id_number: IdNumber::new(id),
        face_check_id: face_check_id.into(),
    }))
    .await
    .unwrap()
}

/// A token with the owner's ID card and a passed face check.
async fn id_and_face_token(k: &mut Kiosk, number: &str) -> AuthToken {
    let face_check_id = matching_face(k, DEMO_OWNER_ID).await;
    let r = k
        .call(Request::AuthIdCard(AuthIdCard {
            msisdn: Msisdn::new(number),
            id: owner_card(),
            face_check_id: Some(face_check_id),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::AuthIdCard(ok)) = r else {
        panic!("{r:?}")
    };
    assert!(ok.factors.contains(&AuthFactor::Face));
    ok.token
}

async fn password_token(k: &mut Kiosk, number: &str) -> AuthToken {
    let r = k
        .call(Request::AuthPassword(AuthPassword {
            msisdn: Msisdn::new(number),
            password: Secret::new("123456"),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::AuthPassword(ok)) = r else {
        panic!("{r:?}")
    };
    ok.token
}

/// Password, then an SMS code read from the outbox, on one token.
async fn password_and_sms_token(sim: &Sim, k: &mut Kiosk, number: &str) -> AuthToken {
    let t = password_token(k, number).await;
    let r = k
        .call(Request::SmsCodeRequest(SmsCodeRequest {
            msisdn: Msisdn::new(number),
        }))
        .await
        .unwrap();
    assert!(matches!(r, Reply::Ok(_)), "{r:?}");
    let sms = sim.running.shared.service.store().sms_for(number).unwrap();
    let digits: String = sms
        .last()
        .unwrap()
        .body
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    let r = k
        .call(Request::SmsCodeVerify(SmsCodeVerify {
            msisdn: Msisdn::new(number),
            code: Secret::new(digits),
            token: Some(t),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::SmsCodeVerify(ok)) = r else {
        panic!("{r:?}")
    };
    ok.token
}

fn report(txn: &str, token: &AuthToken, number: &str) -> Request {
    Request::LossReport(LossReport {
        txn_id: TxnId::new(txn),
        token: token.clone(),
        msisdn: Msisdn::new(number),
    })
}

fn lift(txn: &str, token: &AuthToken, number: &str) -> Request {
    Request::LossLift(LossLift {
        txn_id: TxnId::new(txn),
        token: token.clone(),
        msisdn: Msisdn::new(number),
    })
}

async fn status_of(k: &mut Kiosk, number: &str) -> SubscriberStatus {
    let r = k
        .call(Request::SubscriberLookup(SubscriberLookup {
            msisdn: Msisdn::new(number),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::SubscriberLookup(s)) = r else {
        panic!("{r:?}")
    };
    s.status
}

fn lifted_status(r: &Reply) -> SubscriberStatus {
    let Reply::Ok(Response::LossLift(ok)) = r else {
        panic!("{r:?}")
    };
    ok.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_by_id_lists_every_number_of_the_id_behind_a_face_check() {
    let sim = start(DAY, &[K1, K2]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let face_check_id = matching_face(&mut k, DEMO_OWNER_ID).await;
    let r = numbers_by_id(&mut k, DEMO_OWNER_ID, &face_check_id).await;
    let Reply::Ok(Response::NumbersById(held)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(held.numbers_limit, 5);
    let got: Vec<(&str, SubscriberStatus, PaymentKind, &str)> = held
        .numbers
        .iter()
        .map(|h| (h.msisdn.as_str(), h.status, h.payment, h.opened_on.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                OWNER_CLOSED,
                SubscriberStatus::Cancelled,
                PaymentKind::Prepaid,
                "2008-10-01"
            ),
            (
                DEMO_NUMBER,
                SubscriberStatus::Active,
                PaymentKind::Prepaid,
                "2016-09-01"
            ),
            (
                OWNER_SECOND,
                SubscriberStatus::Active,
                PaymentKind::Postpaid,
                "2021-06-18"
            ),
        ],
        "oldest first, the closed one included"
    );
    // The same face check again: a query changes nothing.
    assert_eq!(
        numbers_by_id(&mut k, DEMO_OWNER_ID, &face_check_id).await,
        Reply::Ok(Response::NumbersById(held))
    );

    // An ID without numbers: an empty list, not an error.
    let clean = boss_sim::rules::with_check_digit("44010619950615123").unwrap();
    let f = matching_face(&mut k, &clean).await;
    let r = numbers_by_id(&mut k, &clean, &f).await;
    let Reply::Ok(Response::NumbersById(none)) = r else {
        panic!("{r:?}")
    };
    assert!(none.numbers.is_empty());

    // Without a matching face check for exactly this ID, at this kiosk: face_mismatch.
    assert_eq!(
        code(&numbers_by_id(&mut k, DEMO_OWNER_ID, "F-bogus").await),
        Some(ErrorCode::FaceMismatch)
    );
    assert_eq!(
        code(&numbers_by_id(&mut k, DEMO_OWNER_ID, &f).await),
        Some(ErrorCode::FaceMismatch),
        "another ID's face check"
    );
    let mut nomatch = vec![1; 2048];
    nomatch.extend_from_slice(b"NOMATCH");
    let lent = face(&mut k, DEMO_OWNER_ID, nomatch).await;
    assert_eq!(lent.verdict, FaceVerdict::NoMatch);
    assert_eq!(
        code(&numbers_by_id(&mut k, DEMO_OWNER_ID, &lent.face_check_id).await),
        Some(ErrorCode::FaceMismatch)
    );
    let mut other = Kiosk::connect(&sim, K2).await;
    assert_eq!(
        code(&numbers_by_id(&mut other, DEMO_OWNER_ID, &face_check_id).await),
        Some(ErrorCode::FaceMismatch),
        "another kiosk's face check"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_report_with_id_card_and_face_then_lift() {
    let sim = start(DAY, &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let store = sim.running.shared.service.store();
    let t = id_and_face_token(&mut k, DEMO_NUMBER).await;
    let r = k.call(report("L-1", &t, DEMO_NUMBER)).await.unwrap();
    let Reply::Ok(Response::LossReport(ok)) = &r else {
        panic!("{r:?}")
    };
    assert_eq!(ok.msisdn.as_str(), DEMO_NUMBER);
    assert_eq!(
        status_of(&mut k, DEMO_NUMBER).await,
        SubscriberStatus::ReportedLost
    );
    assert_eq!(
        k.call(report("L-1", &t, DEMO_NUMBER)).await.unwrap(),
        r,
        "a repeat answers the first outcome"
    );
    assert_eq!(
        code(&k.call(report("L-2", &t, DEMO_NUMBER)).await.unwrap()),
        Some(ErrorCode::AlreadyReported)
    );
    let sms = store.sms_for(DEMO_NUMBER).unwrap();
    let text = &sms.last().unwrap().body;
    assert!(
        text.contains("挂失") && text.contains("138****0000"),
        "{text}"
    );
    assert!(!text.contains(DEMO_NUMBER), "masked: {text}");
    // The owner can still prove who they are (to lift the loss), and the number can still
    // be recharged.
    password_token(&mut k, DEMO_NUMBER).await;
    id_and_face_token(&mut k, DEMO_NUMBER).await;
    let r = k
        .call(Request::SmsCodeRequest(SmsCodeRequest {
            msisdn: Msisdn::new(DEMO_NUMBER),
        }))
        .await
        .unwrap();
    assert!(matches!(r, Reply::Ok(Response::SmsCodeRequest(_))), "{r:?}");
    let r = k.call(recharge("L-R", DEMO_NUMBER, 1_000)).await.unwrap();
    assert!(matches!(r, Reply::Ok(Response::Recharge(_))), "{r:?}");
    assert_eq!(
        status_of(&mut k, DEMO_NUMBER).await,
        SubscriberStatus::ReportedLost
    );
    let status = k
        .call(Request::TxnStatus(TxnStatusQuery {
            txn_id: TxnId::new("L-1"),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::TxnStatus(st)) = status else {
        panic!("{status:?}")
    };
    assert_eq!(
        (st.state, st.txn_op.as_deref(), st.amount_fen),
        (TxnState::Committed, Some("loss_report"), None)
    );

    let r = k.call(lift("U-1", &t, DEMO_NUMBER)).await.unwrap();
    assert_eq!(lifted_status(&r), SubscriberStatus::Active);
    assert_eq!(
        status_of(&mut k, DEMO_NUMBER).await,
        SubscriberStatus::Active
    );
    assert!(
        store
            .sms_for(DEMO_NUMBER)
            .unwrap()
            .last()
            .unwrap()
            .body
            .contains("解除挂失")
    );
    assert_eq!(k.call(lift("U-1", &t, DEMO_NUMBER)).await.unwrap(), r);
    assert_eq!(
        code(&k.call(lift("U-2", &t, DEMO_NUMBER)).await.unwrap()),
        Some(ErrorCode::NotReported)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_report_needs_id_card_and_face_or_password_and_sms_code() {
    let sim = start(DAY, &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    // Password alone, the ID card without a face check, no token: refused, nothing stored.
    let t = password_token(&mut k, OWNER_SECOND).await;
    assert_eq!(
        code(&k.call(report("P-1", &t, OWNER_SECOND)).await.unwrap()),
        Some(ErrorCode::InsufficientAuth)
    );
    let r = k
        .call(Request::AuthIdCard(AuthIdCard {
            msisdn: Msisdn::new(OWNER_SECOND),
            id: owner_card(),
            face_check_id: None,
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::AuthIdCard(card_only)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        code(
            &k.call(report("P-2", &card_only.token, OWNER_SECOND))
                .await
                .unwrap()
        ),
        Some(ErrorCode::InsufficientAuth)
    );
    assert_eq!(
        code(
            &k.call(report("P-3", &AuthToken("bogus".into()), OWNER_SECOND))
                .await
                .unwrap()
        ),
        Some(ErrorCode::InsufficientAuth)
    );
    // A token for another number.
    let demo = id_and_face_token(&mut k, DEMO_NUMBER).await;
    assert_eq!(
        code(&k.call(report("P-4", &demo, OWNER_SECOND)).await.unwrap()),
        Some(ErrorCode::InsufficientAuth)
    );
    // Password + SMS code.
    let strong = password_and_sms_token(&sim, &mut k, OWNER_SECOND).await;
    let r = k.call(report("P-1", &strong, OWNER_SECOND)).await.unwrap();
    assert!(matches!(r, Reply::Ok(Response::LossReport(_))), "{r:?}");
    let r = k.call(lift("P-5", &strong, OWNER_SECOND)).await.unwrap();
    assert_eq!(lifted_status(&r), SubscriberStatus::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_number_is_neither_reported_nor_lifted() {
    let sim = start(DAY, &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let t = id_and_face_token(&mut k, OWNER_SECOND).await;
    // Closed at the counter after the customer authenticated at the kiosk.
    sim.running
        .shared
        .service
        .store()
        .with_tx(|tx| {
            tx.execute(
                "UPDATE subscribers SET status='closed' WHERE number=?1",
                [OWNER_SECOND],
            )?;
            Ok(())
        })
        .unwrap();
    assert_eq!(
        code(&k.call(report("C-1", &t, OWNER_SECOND)).await.unwrap()),
        Some(ErrorCode::NumberClosed)
    );
    assert_eq!(
        code(&k.call(lift("C-2", &t, OWNER_SECOND)).await.unwrap()),
        Some(ErrorCode::NumberClosed)
    );
    // No token can be had for a closed number in the first place.
    let r = k
        .call(Request::AuthPassword(AuthPassword {
            msisdn: Msisdn::new(OWNER_CLOSED),
            password: Secret::new("123456"),
        }))
        .await
        .unwrap();
    assert_eq!(code(&r), Some(ErrorCode::SubscriberInactive));
}

/// 张伟 (13800000002) is stopped for arrears: lifting a loss gives that state back, unless
/// a recharge while reported lost paid the arrears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifting_restores_the_state_before_the_report() {
    let sim = start(DAY, &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let number = "13800000002";
    let t = password_and_sms_token(&sim, &mut k, number).await;
    k.call(report("A-1", &t, number)).await.unwrap();
    let r = k.call(lift("A-2", &t, number)).await.unwrap();
    assert_eq!(lifted_status(&r), SubscriberStatus::SuspendedArrears);
    k.call(report("A-3", &t, number)).await.unwrap();
    let r = k.call(recharge("A-4", number, 3_000)).await.unwrap();
    assert!(matches!(r, Reply::Ok(_)), "{r:?}");
    assert_eq!(
        status_of(&mut k, number).await,
        SubscriberStatus::ReportedLost,
        "a recharge does not lift a loss"
    );
    let r = k.call(lift("A-5", &t, number)).await.unwrap();
    assert_eq!(lifted_status(&r), SubscriberStatus::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activating_a_replacement_sim_lifts_the_loss() {
    let sim = start(DAY, &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let t = id_and_face_token(&mut k, DEMO_NUMBER).await;
    k.call(report("R-1", &t, DEMO_NUMBER)).await.unwrap();
    let face_check_id = matching_face(&mut k, DEMO_OWNER_ID).await;
    let r = k
        .call(Request::ReplacementSim(ReplacementSim {
            txn_id: TxnId::new("R-2"),
            token: t,
            msisdn: Msisdn::new(DEMO_NUMBER),
            face_check_id,
            fee_fen: 1_000,
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::ReplacementSim(order)) = r else {
        panic!("{r:?}")
    };
    let iccid = "89860099990000000025";
    let s = k
        .call(Request::SimScript(SimScriptQuery {
            order_id: order.order_id.clone(),
            iccid: iccid.into(),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::SimScript(script)) = s else {
        panic!("{s:?}")
    };
    let a = k
        .call(Request::ActivateSim(ActivateSim {
            txn_id: TxnId::new("R-3"),
            order_id: order.order_id,
            iccid: iccid.into(),
            script_id: script.script_id,
            result: ScriptResult {
                completed: true,
                steps_run: 11,
                last_sw: None,
            },
        }))
        .await
        .unwrap();
    assert!(matches!(a, Reply::Ok(Response::ActivateSim(_))), "{a:?}");
    assert_eq!(
        status_of(&mut k, DEMO_NUMBER).await,
        SubscriberStatus::Active
    );
    let store = sim.running.shared.service.store();
    assert!(store.loss_record(DEMO_NUMBER).unwrap().is_none());
    assert!(
        store
            .sms_for(DEMO_NUMBER)
            .unwrap()
            .last()
            .unwrap()
            .body
            .contains("解除挂失")
    );
}

fn sale(txn: &str, face_fen: u64) -> Request {
    Request::PinSale(PinSale {
        txn_id: TxnId::new(txn),
        face_fen,
    })
}

fn void(txn: &str, sale_txn: &str, serial: Option<&str>) -> Request {
    Request::PinVoid(PinVoid {
        txn_id: TxnId::new(txn),
        sale_txn_id: TxnId::new(sale_txn),
        serial: serial.map(str::to_owned),
        reason: "print_failed".into(),
    })
}

fn redeem(txn: &str, number: &str, pin: &str) -> Request {
    Request::PinRecharge(PinRecharge {
        txn_id: TxnId::new(txn),
        msisdn: Msisdn::new(number),
        pin: Secret::new(pin),
    })
}

fn sold(r: &Reply) -> PinSold {
    match r {
        Reply::Ok(Response::PinSale(s)) => s.clone(),
        other => panic!("{other:?}"),
    }
}

fn voided(r: &Reply) -> PinVoided {
    match r {
        Reply::Ok(Response::PinVoid(v)) => v.clone(),
        other => panic!("{other:?}"),
    }
}

async fn txn_state(k: &mut Kiosk, txn: &str) -> TxnStatus {
    let r = k
        .call(Request::TxnStatus(TxnStatusQuery {
            txn_id: TxnId::new(txn),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::TxnStatus(st)) = r else {
        panic!("{r:?}")
    };
    st
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sold_pin_credits_exactly_once() {
    let sim = start(DAY, &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let r = k
        .call(Request::PinCatalogue(PinCatalogueQuery {}))
        .await
        .unwrap();
    let Reply::Ok(Response::PinCatalogue(cat)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (cat.face_values_fen, cat.valid_days),
        (vec![3_000, 5_000, 10_000], 365)
    );
    assert_eq!(
        code(&k.call(sale("S-0", 2_000)).await.unwrap()),
        Some(ErrorCode::PinUnavailable)
    );

    let first = k.call(sale("S-1", 5_000)).await.unwrap();
    let card = sold(&first);
    assert_eq!(card.serial.len(), 16, "{}", card.serial);
    assert!(card.serial.bytes().all(|b| b.is_ascii_digit()));
    let pin = card.pin.expose().to_owned();
    assert!(pin.len() == 18 && pin.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(
        (card.face_fen, card.expires_on.as_str()),
        (5_000, "2027-11-20")
    );
    assert_eq!(
        k.call(sale("S-1", 5_000)).await.unwrap(),
        first,
        "a resend answers the same card"
    );
    assert_eq!(
        code(&k.call(sale("S-1", 10_000)).await.unwrap()),
        Some(ErrorCode::TxnConflict)
    );
    let other = sold(&k.call(sale("S-2", 5_000)).await.unwrap());
    assert_ne!(other.serial, card.serial);
    assert_ne!(other.pin, card.pin);

    let before = balance(&sim, DEMO_NUMBER);
    let r = k.call(redeem("PR-1", DEMO_NUMBER, &pin)).await.unwrap();
    let Reply::Ok(Response::PinRecharge(ok)) = &r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (ok.serial.as_str(), ok.amount_fen, ok.balance_fen),
        (card.serial.as_str(), 5_000, before + 5_000)
    );
    assert_eq!(
        k.call(redeem("PR-1", DEMO_NUMBER, &pin)).await.unwrap(),
        r,
        "a resend credits nothing more"
    );
    assert_eq!(
        code(&k.call(redeem("PR-2", DEMO_NUMBER, &pin)).await.unwrap()),
        Some(ErrorCode::PinInvalid),
        "used"
    );
    assert_eq!(
        code(&k.call(redeem("PR-3", OWNER_SECOND, &pin)).await.unwrap()),
        Some(ErrorCode::PinInvalid),
        "used, for any number"
    );
    assert_eq!(balance(&sim, DEMO_NUMBER), before + 5_000);
    assert_eq!(
        code(
            &k.call(redeem("PR-4", DEMO_NUMBER, "000000000000000000"))
                .await
                .unwrap()
        ),
        Some(ErrorCode::PinInvalid)
    );
    assert_eq!(
        code(
            &k.call(redeem("PR-5", OWNER_CLOSED, other.pin.expose()))
                .await
                .unwrap()
        ),
        Some(ErrorCode::NumberClosed)
    );
    // The seeded card sold 400 days ago has expired.
    assert_eq!(
        code(
            &k.call(redeem("PR-6", DEMO_NUMBER, "999988887777666655"))
                .await
                .unwrap()
        ),
        Some(ErrorCode::PinExpired)
    );
    assert_eq!(txn_state(&mut k, "S-1").await.state, TxnState::Committed);
    let st = txn_state(&mut k, "PR-1").await;
    assert_eq!(
        (st.state, st.amount_fen),
        (TxnState::Committed, Some(5_000))
    );
    // The ledger keeps no PIN a customer typed (the sale's own answer is kept for resends).
    let fingerprints: Vec<String> = sim
        .running
        .shared
        .service
        .store()
        .with_tx(|tx| {
            let mut st = tx.prepare("SELECT fingerprint FROM txns WHERE op='pin_recharge'")?;
            let v = st
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })
        .unwrap();
    assert!(!fingerprints.is_empty());
    assert!(fingerprints.iter().all(|f| !f.contains(&pin)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voided_pin_is_refused_and_reconciliation_nets_sale_and_void() {
    let sim = start(DAY, &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let a = sold(&k.call(sale("S-1", 5_000)).await.unwrap());
    let b = sold(&k.call(sale("S-2", 10_000)).await.unwrap());

    assert_eq!(
        code(&k.call(void("V-0", "S-1", Some(&b.serial))).await.unwrap()),
        Some(ErrorCode::BadRequest),
        "another card's serial"
    );
    let first = k.call(void("V-1", "S-1", Some(&a.serial))).await.unwrap();
    let v = voided(&first);
    assert_eq!(
        (v.serial.as_deref(), v.refund_due_fen),
        (Some(a.serial.as_str()), 5_000)
    );
    assert_eq!(
        k.call(void("V-1", "S-1", Some(&a.serial))).await.unwrap(),
        first
    );
    assert_eq!(
        code(&k.call(void("V-2", "S-1", None)).await.unwrap()),
        Some(ErrorCode::NotReversible),
        "voided already"
    );
    let st = txn_state(&mut k, "S-1").await;
    assert_eq!(
        (st.state, st.reversed_by),
        (TxnState::Reversed, Some(TxnId::new("V-1")))
    );
    assert_eq!(
        code(
            &k.call(redeem("PR-1", DEMO_NUMBER, a.pin.expose()))
                .await
                .unwrap()
        ),
        Some(ErrorCode::PinInvalid)
    );
    // A card already redeemed stays sold.
    let r = k
        .call(redeem("PR-2", DEMO_NUMBER, b.pin.expose()))
        .await
        .unwrap();
    assert!(matches!(r, Reply::Ok(_)), "{r:?}");
    assert_eq!(
        code(&k.call(void("V-3", "S-2", Some(&b.serial))).await.unwrap()),
        Some(ErrorCode::NotReversible)
    );
    assert_eq!(
        code(&k.call(void("V-4", "PR-2", None)).await.unwrap()),
        Some(ErrorCode::BadRequest),
        "not a sale"
    );

    // The kiosk's day as it journals it: S-1 reversed, its void committed, S-2 sold; the
    // PIN recharges took no cash.
    let t = |id: &str, op: &str, fen: u64, state| ReconTxn {
        txn_id: TxnId::new(id),
        op: op.into(),
        amount_fen: fen,
        state,
    };
    let r = k
        .call(Request::Reconcile(Reconcile {
            day: DAY.into(),
            totals: DayTotals {
                count: 1,
                amount_fen: 10_000,
                by_op: vec![OpTotal {
                    op: "pin_sale".into(),
                    count: 1,
                    amount_fen: 10_000,
                }],
            },
            txns: vec![
                t("S-1", "pin_sale", 5_000, TxnState::Reversed),
                t("S-2", "pin_sale", 10_000, TxnState::Committed),
                t("V-1", "pin_void", 5_000, TxnState::Committed),
            ],
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::Reconcile(rec)) = r else {
        panic!("{r:?}")
    };
    assert!(rec.balanced, "{:?}", rec.mismatches);
    assert_eq!(
        (rec.operator.count, rec.operator.amount_fen),
        (1, 10_000),
        "the voided sale left the totals"
    );
    // A kiosk that forgot the void is told.
    let r = k
        .call(Request::Reconcile(Reconcile {
            day: DAY.into(),
            totals: DayTotals {
                count: 2,
                amount_fen: 15_000,
                by_op: vec![],
            },
            txns: vec![
                t("S-1", "pin_sale", 5_000, TxnState::Committed),
                t("S-2", "pin_sale", 10_000, TxnState::Committed),
            ],
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::Reconcile(rec)) = r else {
        panic!("{r:?}")
    };
    let kinds: Vec<(&str, MismatchKind)> = rec
        .mismatches
        .iter()
        .map(|m| (m.txn_id.as_str(), m.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("S-1", MismatchKind::StateDiffers),
            ("V-1", MismatchKind::MissingAtKiosk)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voiding_a_sale_never_received_bars_it() {
    let sim = start(DAY, &[K1, K2]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let first = k.call(void("V-9", "S-9", None)).await.unwrap();
    let v = voided(&first);
    assert_eq!((v.serial, v.refund_due_fen), (None, 0));
    assert_eq!(k.call(void("V-9", "S-9", None)).await.unwrap(), first);
    // The sale arrives late: nothing is sold.
    let late = k.call(sale("S-9", 5_000)).await.unwrap();
    assert_eq!(code(&late), Some(ErrorCode::PinUnavailable), "{late:?}");
    let st = txn_state(&mut k, "S-9").await;
    assert_eq!(
        (st.state, st.txn_op.as_deref()),
        (TxnState::Failed, Some("pin_sale"))
    );
    assert!(
        sim.running
            .shared
            .service
            .store()
            .pins()
            .unwrap()
            .iter()
            .all(|c| c.sale_txn_id != "S-9")
    );
    // Only this kiosk's id is barred.
    let mut other = Kiosk::connect(&sim, K2).await;
    let r = other.call(sale("S-9", 5_000)).await.unwrap();
    assert!(matches!(r, Reply::Ok(Response::PinSale(_))), "{r:?}");
    // Refused sale voided: nothing sold either.
    let r = k.call(sale("S-8", 1)).await.unwrap();
    assert_eq!(code(&r), Some(ErrorCode::PinUnavailable));
    let v = voided(&k.call(void("V-8", "S-8", None)).await.unwrap());
    assert_eq!((v.serial, v.refund_due_fen), (None, 0));

    // Reconciliation: the kiosk has the sale failed and the void for nothing.
    let r = k
        .call(Request::Reconcile(Reconcile {
            day: DAY.into(),
            totals: DayTotals::default(),
            txns: vec![
                ReconTxn {
                    txn_id: TxnId::new("S-9"),
                    op: "pin_sale".into(),
                    amount_fen: 5_000,
                    state: TxnState::Failed,
                },
                ReconTxn {
                    txn_id: TxnId::new("V-9"),
                    op: "pin_void".into(),
                    amount_fen: 0,
                    state: TxnState::Committed,
                },
                ReconTxn {
                    txn_id: TxnId::new("S-8"),
                    op: "pin_sale".into(),
                    amount_fen: 1,
                    state: TxnState::Failed,
                },
                ReconTxn {
                    txn_id: TxnId::new("V-8"),
                    op: "pin_void".into(),
                    amount_fen: 0,
                    state: TxnState::Committed,
                },
            ],
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::Reconcile(rec)) = r else {
        panic!("{r:?}")
    };
    assert!(rec.balanced, "{:?}", rec.mismatches);
    assert_eq!(rec.operator.count, 0);
}

/// A card sold on 2026-11-20 can be redeemed through 2027-11-20: the operator's business
/// date is moved by starting the simulator again on the same data folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_expires_after_its_last_day() {
    let sim = start(DAY, &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let a = sold(&k.call(sale("S-1", 3_000)).await.unwrap());
    let b = sold(&k.call(sale("S-2", 3_000)).await.unwrap());
    drop(k);
    let Sim { dir, running } = sim;
    drop(running);
    let (data, certs) = (dir.path().join("data"), dir.path().join("certs"));
    let later = |day: &str| SimConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data: data.clone(),
        certs: certs.clone(),
        clock: Clock::pinned(parse_date(day).expect("date")),
        faults: FaultSettings::default(),
    };
    let running = app::start(later("2027-11-20")).await.unwrap();
    let sim = Sim { dir, running };
    let mut k = Kiosk::connect(&sim, K1).await;
    let r = k
        .call(redeem("PR-1", DEMO_NUMBER, a.pin.expose()))
        .await
        .unwrap();
    assert!(
        matches!(r, Reply::Ok(Response::PinRecharge(_))),
        "last day: {r:?}"
    );
    drop(k);
    let Sim { dir, running } = sim;
    drop(running);
    let running = app::start(later("2027-11-21")).await.unwrap();
    let sim = Sim { dir, running };
    let mut k = Kiosk::connect(&sim, K1).await;
    assert_eq!(
        code(
            &k.call(redeem("PR-2", DEMO_NUMBER, b.pin.expose()))
                .await
                .unwrap()
        ),
        Some(ErrorCode::PinExpired)
    );
}
