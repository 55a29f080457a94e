//! Every business operation of the protocol, sent by a kiosk to the server and forwarded to
//! the operator simulator on the kiosk's behalf (gateway certificate + `on_behalf_of`);
//! hello, heartbeats and journal uploads answered by the server itself. On SQLite and
//! PostgreSQL.

mod common;

use std::sync::atomic::Ordering;

use boss_protocol::*;
use boss_sim::rules::with_check_digit;
use common::*;

const K1: &str = "K0001";

fn id_card(first17: &str, name: &str, until: &str) -> IdCard {
    let id = with_check_digit(first17).unwrap();
    let birth = format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14]);
    IdCard {
        name: PersonalText::new(name),
        id_number: IdNumber::new(id),
        sex: "男".into(),
        ethnicity: "汉".into(),
        birth_date: birth,
        address: PersonalText::new("广东省广州市天河区某路1号"),
        issuer: "广州市公安局天河分局".into(),
        valid_from: "2020-01-01".into(),
        valid_until: Some(until.into()),
    }
}

/// Sends `req` and expects a success answer to the same operation.
async fn ok(k: &mut Kiosk, req: Request) -> Response {
    let op = req.op();
    let r = k.call(req).await.expect("answer");
    match r {
        Reply::Ok(resp) if resp.op() == op => resp,
        other => panic!("{op}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_reaches_the_operator_on_the_kiosks_behalf() {
    each_db("forwarding", |db| async move {
        let w = World::new(db, &[K1, "K0002"]).await;
        let hq = w.hq().await;
        let (mut k, hello) = Kiosk::hello(hq.addr, &w.certs(), K1, None).await;
        assert_eq!(hello.heartbeat_interval_ms, 30_000);
        assert!(hello.locked.is_none());
        let n = "13800000000";

        // Answered by the server itself.
        ok(&mut k, Request::Heartbeat(heartbeat("idle"))).await;
        let up = ok(
            &mut k,
            Request::JournalUpload(JournalUpload {
                entries: vec![JournalEntry {
                    seq: 1,
                    txn_id: TxnId::new("K0001-J1"),
                    at_ms: today_ms(),
                    op: "recharge".into(),
                    msisdn: Some(Msisdn::new(n)),
                    amount_fen: 100,
                    state: TxnState::Committed,
                    detail: None,
                }],
            }),
        )
        .await;
        assert!(matches!(
            up,
            Response::JournalUpload(JournalAccepted {
                accepted: 1,
                acked_seq: 1
            })
        ));
        assert_eq!(
            hq.shared.metrics.forwarded.load(Ordering::SeqCst),
            0,
            "nothing of that forwarded"
        );

        // Forwarded, one by one.
        let Response::SubscriberLookup(s) = ok(
            &mut k,
            Request::SubscriberLookup(SubscriberLookup {
                msisdn: Msisdn::new(n),
            }),
        )
        .await
        else {
            unreachable!()
        };
        assert_eq!(s.owner_name_masked, "*小明");
        let Response::AuthPassword(auth) = ok(
            &mut k,
            Request::AuthPassword(AuthPassword {
                msisdn: Msisdn::new(n),
                password: Secret::new("123456"),
            }),
        )
        .await
        else {
            unreachable!()
        };
        let q = PlanQuery {
            token: auth.token.clone(),
            msisdn: Msisdn::new(n),
        };
        ok(&mut k, Request::CurrentPlan(q.clone())).await;
        ok(&mut k, Request::EligiblePlans(q)).await;
        ok(
            &mut k,
            Request::PlanChange(PlanChange {
                txn_id: TxnId::new("K0001-PC-1"),
                token: auth.token.clone(),
                msisdn: Msisdn::new(n),
                plan_id: "P88".into(),
            }),
        )
        .await;
        ok(
            &mut k,
            Request::SmsCodeRequest(SmsCodeRequest {
                msisdn: Msisdn::new(n),
            }),
        )
        .await;
        let sms = w.sim.shared.service.store().sms_for(n).unwrap();
        let code_digits: String = sms
            .last()
            .unwrap()
            .body
            .chars()
            .filter(char::is_ascii_digit)
            .take(6)
            .collect();
        let Response::SmsCodeVerify(auth2) = ok(
            &mut k,
            Request::SmsCodeVerify(SmsCodeVerify {
                msisdn: Msisdn::new(n),
                code: Secret::new(code_digits),
                token: Some(auth.token.clone()),
            }),
        )
        .await
        else {
            unreachable!()
        };
        let mq = MonthQuery {
            token: auth2.token.clone(),
            msisdn: Msisdn::new(n),
            month: "2026-10".into(),
        };
        ok(&mut k, Request::MonthlyBill(mq.clone())).await;
        ok(&mut k, Request::InvoiceData(mq)).await;
        ok(
            &mut k,
            Request::ItemisedRecords(ItemisedRecordsQuery {
                token: auth2.token.clone(),
                msisdn: Msisdn::new(n),
                month: "2026-10".into(),
                kind: RecordKind::All,
                offset: 0,
                limit: 20,
            }),
        )
        .await;

        let before = w.balance(n);
        ok(&mut k, recharge("K0001-R-1", n, 5_000)).await;
        assert_eq!(w.balance(n), before + 5_000);
        let Response::TxnStatus(st) = ok(
            &mut k,
            Request::TxnStatus(TxnStatusQuery {
                txn_id: TxnId::new("K0001-R-1"),
            }),
        )
        .await
        else {
            unreachable!()
        };
        assert_eq!(st.state, TxnState::Committed);
        ok(
            &mut k,
            Request::Reversal(Reversal {
                txn_id: TxnId::new("K0001-RV-1"),
                original_txn_id: TxnId::new("K0001-R-1"),
                reason: "dispense_failed".into(),
            }),
        )
        .await;
        assert_eq!(w.balance(n), before);

        // New SIM with real-name registration.
        let card = id_card("44010619950615123", "黄海燕", "2035-06-15");
        ok(
            &mut k,
            Request::RealNameCheck(RealNameCheck { id: card.clone() }),
        )
        .await;
        let Response::FaceCompare(face) = ok(
            &mut k,
            Request::FaceCompare(FaceCompare {
                id_number: card.id_number.clone(),
                live_photo: Blob(vec![0x5A; 4096]),
                id_photo: Blob(vec![0x11; 1024]),
            }),
        )
        .await
        else {
            unreachable!()
        };
        let Response::NumberSearch(list) = ok(
            &mut k,
            Request::NumberSearch(NumberSearch {
                prefix: None,
                suffix: None,
                contains: None,
                limit: 5,
            }),
        )
        .await
        else {
            unreachable!()
        };
        let pick = list
            .numbers
            .iter()
            .find(|p| p.min_plan_fee_fen == 0)
            .unwrap()
            .msisdn
            .clone();
        let reserve = Request::NumberReserve(NumberReserve {
            msisdn: pick.clone(),
            id_number: card.id_number.clone(),
        });
        let Response::NumberReserve(r1) = ok(&mut k, reserve.clone()).await else {
            unreachable!()
        };
        ok(
            &mut k,
            Request::NumberRelease(NumberRelease {
                reservation_id: r1.reservation_id,
            }),
        )
        .await;
        let Response::NumberReserve(r2) = ok(&mut k, reserve).await else {
            unreachable!()
        };
        let Response::NewSimOrder(order) = ok(
            &mut k,
            Request::NewSimOrder(NewSimOrder {
                txn_id: TxnId::new("K0001-NS-1"),
                reservation_id: r2.reservation_id,
                msisdn: pick,
                plan_id: "P38".into(),
                id: card.clone(),
                face_check_id: face.face_check_id.clone(),
                agreement_version: "2026-01".into(),
                card_fee_fen: 1_000,
                prepaid_fen: 5_000,
            }),
        )
        .await
        else {
            unreachable!()
        };
        let iccid = "89860012345678901234";
        let Response::SimScript(script) = ok(
            &mut k,
            Request::SimScript(SimScriptQuery {
                order_id: order.order_id.clone(),
                iccid: iccid.into(),
            }),
        )
        .await
        else {
            unreachable!()
        };
        ok(
            &mut k,
            Request::ActivateSim(ActivateSim {
                txn_id: TxnId::new("K0001-NS-1-act"),
                order_id: order.order_id.clone(),
                iccid: iccid.into(),
                script_id: script.script_id,
                result: ScriptResult {
                    completed: true,
                    steps_run: 11,
                    last_sw: Some(Sw(0x9000)),
                },
            }),
        )
        .await;
        // Cancelling an activated order is the operator's refusal, forwarded as is.
        let r = k
            .call(Request::CancelOrder(CancelOrder {
                txn_id: TxnId::new("K0001-NS-1-cancel"),
                order_id: order.order_id,
                reason: "test".into(),
            }))
            .await
            .unwrap();
        assert_eq!(code(&r), Some(ErrorCode::NotReversible), "{r:?}");

        // Replacement SIM with the owner's ID card and face.
        let sub = w.sim.shared.service.store().subscriber(n).unwrap().unwrap();
        let owner = IdCard {
            id_number: IdNumber::new(sub.id_number.clone().unwrap()),
            name: PersonalText::new(sub.owner_name.clone()),
            ..id_card("44010619950615123", "x", "2040-01-01")
        };
        let Response::FaceCompare(f2) = ok(
            &mut k,
            Request::FaceCompare(FaceCompare {
                id_number: owner.id_number.clone(),
                live_photo: Blob(vec![1; 2048]),
                id_photo: Blob(vec![2; 1024]),
            }),
        )
        .await
        else {
            unreachable!()
        };
        let Response::AuthIdCard(idauth) = ok(
            &mut k,
            Request::AuthIdCard(AuthIdCard {
                msisdn: Msisdn::new(n),
                id: owner.clone(),
                face_check_id: Some(f2.face_check_id.clone()),
            }),
        )
        .await
        else {
            unreachable!()
        };
        ok(
            &mut k,
            Request::ReplacementSim(ReplacementSim {
                txn_id: TxnId::new("K0001-BK-1"),
                token: idauth.token,
                msisdn: Msisdn::new(n),
                face_check_id: f2.face_check_id,
                fee_fen: 1_000,
            }),
        )
        .await;
        // Real-name re-registration: the operator decides; the answer comes from it.
        let r = k
            .call(Request::RealNameReregister(RealNameReregister {
                txn_id: TxnId::new("K0001-RR-1"),
                token: auth2.token.clone(),
                msisdn: Msisdn::new(n),
                id: owner,
                face_check_id: face.face_check_id,
            }))
            .await
            .unwrap();
        assert!(
            !matches!(
                code(&r),
                Some(ErrorCode::Unavailable | ErrorCode::KioskLocked | ErrorCode::UnknownOp)
            ),
            "{r:?}"
        );
        let Response::Reconcile(rec) = ok(
            &mut k,
            Request::Reconcile(Reconcile {
                day: TODAY.into(),
                totals: DayTotals::default(),
                txns: vec![],
            }),
        )
        .await
        else {
            unreachable!()
        };
        assert!(
            !rec.balanced,
            "the operator has this kiosk's transactions of the day"
        );
        // The operator keyed every transaction by this kiosk's id (on whose behalf).
        let t = w
            .sim
            .shared
            .service
            .store()
            .txn(K1, "K0001-R-1")
            .unwrap()
            .unwrap();
        assert_eq!(t.kiosk_id, K1);
        assert_eq!(hq.shared.metrics.forwarded.load(Ordering::SeqCst), 28);

        // The server recorded the money it forwarded (reports read this).
        let store = hq.shared.store.clone();
        let rows = eventually("forwarded transactions recorded", || {
            let p = telekiosk_hq::reports::Period::new(
                &telekiosk_hq::store::today(),
                &telekiosk_hq::store::today(),
                None,
            )
            .unwrap();
            let r = store.report_services(&p).unwrap();
            (r.iter().map(|x| x.totals.count).sum::<i64>() >= 2).then_some(r)
        })
        .await;
        let ops: Vec<&str> = rows.iter().map(|r| r.op.as_str()).collect();
        assert_eq!(
            ops,
            ["new_sim_order", "replacement_sim"],
            "the reversed recharge no longer counts"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_before_hello_and_unknown_ops_get_clear_answers() {
    each_db("clear_answers", |db| async move {
        let w = World::new(db, &[K1]).await;
        let hq = w.hq().await;
        let mut k = Kiosk::connect_raw(hq.addr, client_config(&w.certs(), K1))
            .await
            .unwrap();
        let r = k.call(recharge("X", "13800000000", 100)).await.unwrap();
        assert_eq!(code(&r), Some(ErrorCode::HelloRequired));

        let mut k = Kiosk::connect(hq.addr, &w.certs(), K1).await;
        use tokio::io::AsyncWriteExt;
        for (payload, want) in [
            (
                &br#"{"v":1,"id":77,"kind":"request","body":{"op":"teleport"}}"#[..],
                ErrorCode::UnknownOp,
            ),
            (
                &br#"{"v":1,"id":78,"kind":"request","body":{"op":"recharge","txn_id":5}}"#[..],
                ErrorCode::BadRequest,
            ),
        ] {
            let mut frame = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
            frame.extend_from_slice(payload);
            k.stream.write_all(&frame).await.unwrap();
            let id = if want == ErrorCode::UnknownOp { 77 } else { 78 };
            let r = k.wait_reply(id, T).await.unwrap();
            assert_eq!(code(&r), Some(want));
        }
        // The connection goes on.
        ok(&mut k, Request::Heartbeat(heartbeat("idle"))).await;
        // A gateway-style envelope from a kiosk certificate changes nothing: the server
        // forwards on behalf of the certificate's kiosk only.
        let env =
            boss_protocol::codec::Envelope::request(90, recharge("K0001-OB-1", "13800000000", 100))
                .on_behalf_of("K0002");
        boss_protocol::io::write_envelope(&mut k.stream, &env)
            .await
            .unwrap();
        let r = k.wait_reply(90, T).await.unwrap();
        assert!(matches!(r, Reply::Ok(Response::Recharge(_))), "{r:?}");
        assert!(
            w.sim
                .shared
                .service
                .store()
                .txn(K1, "K0001-OB-1")
                .unwrap()
                .is_some()
        );
        assert!(
            w.sim
                .shared
                .service
                .store()
                .txn("K0002", "K0001-OB-1")
                .unwrap()
                .is_none()
        );
    })
    .await;
}
