//! Business rules and whole flows over real mutual TLS: the day 1–5 freeze, arrears,
//! first-month fee 1–15 / 16+, per-ID limit, under-16, blacklist, SMS verification via the
//! outbox, bills and itemised records, the new-SIM flow, replacement SIM, reconciliation.

mod common;

use boss_protocol::*;
use boss_sim::rules::with_check_digit;
use common::*;

const K1: &str = "K0001";

fn code(r: &Reply) -> Option<ErrorCode> {
    match r {
        Reply::Error(e) => Some(e.code.clone()),
        Reply::Ok(_) => None,
    }
}

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

fn plan_change(txn: &str, token: &AuthToken, number: &str, plan: &str) -> Request {
    Request::PlanChange(PlanChange {
        txn_id: TxnId::new(txn),
        token: token.clone(),
        msisdn: Msisdn::new(number),
        plan_id: plan.into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_change_frozen_on_days_1_to_5_and_refused_with_arrears() {
    let early = start("2026-11-03", &[K1]).await;
    let mut k = Kiosk::connect(&early, K1).await;
    let t = password_token(&mut k, "13800000000").await;
    let r = k
        .call(plan_change("PC-1", &t, "13800000000", "P88"))
        .await
        .unwrap();
    assert_eq!(code(&r), Some(ErrorCode::FrozenPeriod), "{r:?}");

    let later = start("2026-11-06", &[K1]).await;
    let mut k = Kiosk::connect(&later, K1).await;
    let t = password_token(&mut k, "13800000000").await;
    let r = k
        .call(plan_change("PC-1", &t, "13800000000", "P88"))
        .await
        .unwrap();
    let Reply::Ok(Response::PlanChange(ok)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (ok.from_plan_id.as_str(), ok.to_plan_id.as_str()),
        ("P58", "P88")
    );
    assert_eq!(ok.effective_month, "2026-12");
    // Without authentication: refused before anything is decided.
    let r = k
        .call(plan_change(
            "PC-2",
            &AuthToken("bogus".into()),
            "13800000000",
            "P38",
        ))
        .await
        .unwrap();
    assert_eq!(code(&r), Some(ErrorCode::InsufficientAuth));
    // 15000000003 owes ¥128: no after-sale business.
    let t = password_token(&mut k, "15000000003").await;
    let r = k
        .call(plan_change("PC-3", &t, "15000000003", "P38"))
        .await
        .unwrap();
    assert_eq!(code(&r), Some(ErrorCode::Arrears), "{r:?}");
    // A wrong password is refused.
    let r = k
        .call(Request::AuthPassword(AuthPassword {
            msisdn: Msisdn::new("13800000000"),
            password: Secret::new("000000"),
        }))
        .await
        .unwrap();
    assert_eq!(code(&r), Some(ErrorCode::AuthFailed));
}

/// Wrong service passwords say how many tries are left; the fifth locks password
/// authentication until the end of the Beijing day, and says until when — the right password
/// too is refused then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_lock_until_the_end_of_the_day() {
    let sim = start("2026-11-20", &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let password = |p: &str| {
        Request::AuthPassword(AuthPassword {
            msisdn: Msisdn::new("13900000001"),
            password: Secret::new(p),
        })
    };
    for left in [4, 3, 2, 1] {
        let r = k.call(password("000000")).await.unwrap();
        let Reply::Error(e) = r else { panic!("{r:?}") };
        assert_eq!((e.code, e.tries_left), (ErrorCode::AuthFailed, Some(left)));
    }
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let r = k.call(password("000000")).await.unwrap();
    let Reply::Error(e) = r else { panic!("{r:?}") };
    assert_eq!(e.code, ErrorCode::AuthLocked);
    let until = e.locked_until_ms.expect("until when");
    assert!(until > now_ms && until <= now_ms + 86_400_000, "{until}");
    // Midnight in Beijing.
    assert_eq!((until + 8 * 3_600_000) % 86_400_000, 0);
    let r = k.call(password("123456")).await.unwrap();
    let Reply::Error(e) = r else { panic!("{r:?}") };
    assert_eq!(
        (e.code, e.locked_until_ms),
        (ErrorCode::AuthLocked, Some(until))
    );
    // Another number is not affected.
    password_token(&mut k, "13800000000").await;
}

/// Runs the new-SIM flow up to the order; returns the order answer (or the refusal).
async fn order_new_sim(k: &mut Kiosk, card: &IdCard, plan: &str, txn: &str, prepaid: u64) -> Reply {
    let face = k
        .call(Request::FaceCompare(FaceCompare {
            id_number: card.id_number.clone(),
            live_photo: Blob(vec![0x5A; 4096]),
            id_photo: Blob(vec![0x11; 1024]),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::FaceCompare(face)) = face else {
        panic!("{face:?}")
    };
    assert_eq!(face.verdict, FaceVerdict::Match);
    let list = k
        .call(Request::NumberSearch(NumberSearch {
            prefix: Some("1".into()),
            suffix: None,
            contains: None,
            limit: 5,
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::NumberSearch(list)) = list else {
        panic!("{list:?}")
    };
    let number = list
        .numbers
        .iter()
        .find(|n| n.tier == "normal")
        .unwrap()
        .msisdn
        .clone();
    let res = k
        .call(Request::NumberReserve(NumberReserve {
            msisdn: number.clone(),
            id_number: card.id_number.clone(),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::NumberReserve(res)) = res else {
        return res;
    };
    k.call(Request::NewSimOrder(NewSimOrder {
        txn_id: TxnId::new(txn),
        reservation_id: res.reservation_id,
        msisdn: number,
        plan_id: plan.into(),
        id: card.clone(),
        face_check_id: face.face_check_id,
        agreement_version: "2026.1".into(),
        card_fee_fen: 1_000,
        prepaid_fen: prepaid,
    }))
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_month_fee_full_on_1_to_15_half_from_16() {
    let card = id_card("44010619950615123", "黄海燕", "2035-06-15");
    for (today, expected) in [("2026-11-15", 5_800), ("2026-11-16", 2_900)] {
        let sim = start(today, &[K1]).await;
        let mut k = Kiosk::connect(&sim, K1).await;
        let r = order_new_sim(&mut k, &card, "P58", "NS-1", 10_000).await;
        let Reply::Ok(Response::NewSimOrder(o)) = r else {
            panic!("{today}: {r:?}")
        };
        assert_eq!(o.first_month_fee_fen, expected, "{today}");
    }
    // A pro-rata plan on 2026-11-21: 3000 × 12 / 365 × 10 days = 986 fen.
    let sim = start("2026-11-21", &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let r = order_new_sim(&mut k, &card, "R30", "NS-2", 10_000).await;
    let Reply::Ok(Response::NewSimOrder(o)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(o.first_month_fee_fen, 986);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_name_checks_limit_under_16_blacklist_expired() {
    let sim = start("2026-11-20", &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let check = async |k: &mut Kiosk, c: IdCard| {
        k.call(Request::RealNameCheck(RealNameCheck { id: c }))
            .await
            .unwrap()
    };
    let ok = check(&mut k, id_card("44010619950615123", "黄海燕", "2035-06-15")).await;
    let Reply::Ok(Response::RealNameCheck(ok)) = ok else {
        panic!("{ok:?}")
    };
    assert_eq!(
        (ok.numbers_held, ok.numbers_limit, ok.age_years),
        (0, 5, 31)
    );
    let limit = check(&mut k, id_card("31010419800101456", "孙建华", "2030-01-01")).await;
    assert_eq!(code(&limit), Some(ErrorCode::LimitReached));
    let young = check(&mut k, id_card("42010620120303111", "朱晓东", "2027-03-03")).await;
    assert_eq!(code(&young), Some(ErrorCode::UnderAge));
    let black = check(&mut k, id_card("51010719751212789", "罗刚", "2031-12-12")).await;
    assert_eq!(code(&black), Some(ErrorCode::Blacklisted));
    let expired = check(&mut k, id_card("33010619700101222", "何平", "2025-01-01")).await;
    assert_eq!(code(&expired), Some(ErrorCode::IdExpired));
    let mut bad = id_card("44010619950615123", "黄海燕", "2035-06-15");
    bad.id_number = IdNumber::new("440106199506151230");
    assert_eq!(code(&check(&mut k, bad).await), Some(ErrorCode::IdInvalid));
    // The limit also holds at reservation time.
    let r = order_new_sim(
        &mut k,
        &id_card("31010419800101456", "孙建华", "2030-01-01"),
        "P18",
        "NS-9",
        5_000,
    )
    .await;
    assert_eq!(code(&r), Some(ErrorCode::LimitReached), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_sim_written_and_activated_then_cancel_is_refused() {
    let sim = start("2026-11-20", &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let card = id_card("44010619950615123", "黄海燕", "2035-06-15");
    let r = order_new_sim(&mut k, &card, "P38", "NS-1", 5_000).await;
    let Reply::Ok(Response::NewSimOrder(order)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        order.first_month_fee_fen, 1_900,
        "P38 from the 16th: half month"
    );
    let iccid = "89860012345678901234";
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
    assert!(script.steps.iter().any(|s| {
        s.apdu
            .0
            .starts_with(&[0x00, 0xA4, 0x00, 0x00, 0x02, 0x6F, 0x07])
    }));
    assert!(script.steps.iter().all(|s| s.expect_sw == vec![Sw(0x9000)]));
    let activate = Request::ActivateSim(ActivateSim {
        txn_id: TxnId::new("NS-1-act"),
        order_id: order.order_id.clone(),
        iccid: iccid.into(),
        script_id: script.script_id.clone(),
        result: ScriptResult {
            completed: true,
            steps_run: u32::try_from(script.steps.len()).unwrap(),
            last_sw: Some(Sw(0x9000)),
        },
    });
    let a = k.call(activate.clone()).await.unwrap();
    let Reply::Ok(Response::ActivateSim(act)) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(act.balance_fen, 5_000 - 1_900);
    assert_eq!(
        k.call(activate).await.unwrap(),
        a,
        "activation is idempotent"
    );
    let sub = sim
        .running
        .shared
        .service
        .store()
        .subscriber(order.msisdn.as_str())
        .unwrap()
        .unwrap();
    assert!(sub.real_name && sub.balance_fen == 3_100 && sub.iccid == iccid);
    let sms = sim
        .running
        .shared
        .service
        .store()
        .sms_for(order.msisdn.as_str())
        .unwrap();
    assert!(sms.iter().any(|m| m.body.contains("欢迎入网")));
    let c = k
        .call(Request::CancelOrder(CancelOrder {
            txn_id: TxnId::new("NS-1-cancel"),
            order_id: order.order_id,
            reason: "customer_left".into(),
        }))
        .await
        .unwrap();
    assert_eq!(code(&c), Some(ErrorCode::NotReversible));
    // The written card cannot be scripted again.
    let r = order_new_sim(&mut k, &card, "P18", "NS-2", 5_000).await;
    let Reply::Ok(Response::NewSimOrder(o2)) = r else {
        panic!("{r:?}")
    };
    let s = k
        .call(Request::SimScript(SimScriptQuery {
            order_id: o2.order_id.clone(),
            iccid: iccid.into(),
        }))
        .await
        .unwrap();
    assert_eq!(code(&s), Some(ErrorCode::CardInvalid));
    let c = k
        .call(Request::CancelOrder(CancelOrder {
            txn_id: TxnId::new("NS-2-cancel"),
            order_id: o2.order_id,
            reason: "card_write_failed".into(),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::CancelOrder(c)) = c else {
        panic!("{c:?}")
    };
    assert_eq!(c.refund_due_fen, 6_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_code_from_the_outbox_unlocks_itemised_records() {
    let sim = start("2026-11-20", &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let number = "13800000000";
    let t = password_token(&mut k, number).await;
    let q = |t: &AuthToken| {
        Request::ItemisedRecords(ItemisedRecordsQuery {
            token: t.clone(),
            msisdn: Msisdn::new(number),
            month: "2026-10".into(),
            kind: RecordKind::All,
            offset: 0,
            limit: 500,
        })
    };
    assert_eq!(
        code(&k.call(q(&t)).await.unwrap()),
        Some(ErrorCode::InsufficientAuth)
    );
    let r = k
        .call(Request::SmsCodeRequest(SmsCodeRequest {
            msisdn: Msisdn::new(number),
        }))
        .await
        .unwrap();
    assert!(matches!(r, Reply::Ok(Response::SmsCodeRequest(_))), "{r:?}");
    // What `boss-sim sms --number` shows the demo user.
    let sms = sim.running.shared.service.store().sms_for(number).unwrap();
    let text = &sms.last().unwrap().body;
    let code_digits: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
    let r = k
        .call(Request::SmsCodeVerify(SmsCodeVerify {
            msisdn: Msisdn::new(number),
            code: Secret::new(code_digits),
            token: Some(t.clone()),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::SmsCodeVerify(ok)) = r else {
        panic!("{r:?}")
    };
    assert!(
        ok.factors.contains(&AuthFactor::Password) && ok.factors.contains(&AuthFactor::SmsCode)
    );
    let r = k.call(q(&ok.token)).await.unwrap();
    let Reply::Ok(Response::ItemisedRecords(recs)) = r else {
        panic!("{r:?}")
    };
    assert!(recs.total >= 8 && recs.records.len() == usize::try_from(recs.total).unwrap());
    let bill = k
        .call(Request::MonthlyBill(MonthQuery {
            token: ok.token.clone(),
            msisdn: Msisdn::new(number),
            month: "2026-10".into(),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::MonthlyBill(bill)) = bill else {
        panic!("{bill:?}")
    };
    assert_eq!(
        bill.total_fen,
        bill.items.iter().map(|i| i.amount_fen).sum::<i64>()
    );
    let old = k
        .call(Request::MonthlyBill(MonthQuery {
            token: ok.token,
            msisdn: Msisdn::new(number),
            month: "2025-10".into(),
        }))
        .await
        .unwrap();
    assert_eq!(code(&old), Some(ErrorCode::NotFound));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacement_sim_needs_owner_id_card_and_invalidates_old_card() {
    let sim = start("2026-11-20", &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    let store = sim.running.shared.service.store();
    let sub = store.subscriber("13800000000").unwrap().unwrap();
    let id = sub.id_number.clone().unwrap();
    let card = IdCard {
        id_number: IdNumber::new(id.clone()),
        name: PersonalText::new(sub.owner_name.clone()),
        ..id_card("44010619950615123", "x", "2040-01-01")
    };
    let face = k
        .call(Request::FaceCompare(FaceCompare {
            id_number: IdNumber::new(id),
            live_photo: Blob(vec![1; 2048]),
            id_photo: Blob(vec![2; 1024]),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::FaceCompare(face)) = face else {
        panic!()
    };
    let auth = k
        .call(Request::AuthIdCard(AuthIdCard {
            msisdn: Msisdn::new("13800000000"),
            id: card,
            face_check_id: Some(face.face_check_id.clone()),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::AuthIdCard(auth)) = auth else {
        panic!("{auth:?}")
    };
    let r = k
        .call(Request::ReplacementSim(ReplacementSim {
            txn_id: TxnId::new("BK-1"),
            token: auth.token,
            msisdn: Msisdn::new("13800000000"),
            face_check_id: face.face_check_id,
            fee_fen: 1_000,
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::ReplacementSim(order)) = r else {
        panic!("{r:?}")
    };
    let iccid = "89860099990000000017";
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
            txn_id: TxnId::new("BK-1-act"),
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
    let Reply::Ok(Response::ActivateSim(a)) = a else {
        panic!("{a:?}")
    };
    assert_eq!(a.invalidated_iccid, Some(sub.iccid));
    assert_eq!(
        store.subscriber("13800000000").unwrap().unwrap().iccid,
        iccid
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_lists_every_mismatch() {
    let sim = start("2026-11-20", &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    k.call(recharge("A", "13800000000", 1_000)).await.unwrap();
    k.call(recharge("B", "13800000000", 2_000)).await.unwrap();
    k.call(recharge("C", "13800000000", 3_000)).await.unwrap();
    let t = |id: &str, fen: u64, state| ReconTxn {
        txn_id: TxnId::new(id),
        op: "recharge".into(),
        amount_fen: fen,
        state,
    };
    // The kiosk thinks B failed, has A with the right amount, has D the operator never saw,
    // and lost C.
    let txns = vec![
        t("A", 1_000, TxnState::Committed),
        t("B", 2_000, TxnState::Failed),
        t("D", 500, TxnState::Committed),
    ];
    let r = k
        .call(Request::Reconcile(Reconcile {
            day: "2026-11-20".into(),
            totals: DayTotals {
                count: 2,
                amount_fen: 1_500,
                by_op: vec![],
            },
            txns,
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::Reconcile(rec)) = r else {
        panic!("{r:?}")
    };
    assert!(!rec.balanced);
    assert_eq!((rec.operator.count, rec.operator.amount_fen), (3, 6_000));
    let kinds: Vec<(String, MismatchKind)> = rec
        .mismatches
        .iter()
        .map(|m| (m.txn_id.0.clone(), m.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("B".into(), MismatchKind::StateDiffers),
            ("C".into(), MismatchKind::MissingAtKiosk),
            ("D".into(), MismatchKind::MissingAtOperator),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_catalogue_quotes_the_first_month_for_today_and_the_number() {
    let catalogue = |r: Reply| match r {
        Reply::Ok(Response::PlanCatalogue(c)) => c,
        other => panic!("{other:?}"),
    };
    let fee = |c: &PlanCatalogue, id: &str| {
        c.plans
            .iter()
            .find(|p| p.plan.id == id)
            .map(|p| (p.first_month_rule, p.first_month_fee_fen))
    };
    let early = start("2026-11-03", &[K1]).await;
    let mut k = Kiosk::connect(&early, K1).await;
    let c = catalogue(
        k.call(Request::PlanCatalogue(PlanCatalogueQuery::default()))
            .await
            .unwrap(),
    );
    assert_eq!(c.day, "2026-11-03");
    assert_eq!(fee(&c, "P58"), Some((FirstMonthRule::Package, 5_800)));
    // 30 yuan a month by the day: 28 days left in November.
    assert_eq!(fee(&c, "R30"), Some((FirstMonthRule::ProRata, 2_762)));
    assert_eq!(fee(&c, "P76OLD"), None, "closed to new orders");

    let late = start("2026-11-20", &[K1]).await;
    let mut k = Kiosk::connect(&late, K1).await;
    let c = catalogue(
        k.call(Request::PlanCatalogue(PlanCatalogueQuery::default()))
            .await
            .unwrap(),
    );
    assert_eq!(fee(&c, "P58"), Some((FirstMonthRule::Package, 2_900)));
    // A premium number goes only with the plans it requires.
    let c = catalogue(
        k.call(Request::PlanCatalogue(PlanCatalogueQuery {
            msisdn: Some(Msisdn::new("13988888888")),
        }))
        .await
        .unwrap(),
    );
    assert!(!c.plans.is_empty());
    assert!(
        c.plans.iter().all(|p| p.plan.monthly_fee_fen >= 12_800),
        "{c:?}"
    );
    let r = k
        .call(Request::PlanCatalogue(PlanCatalogueQuery {
            msisdn: Some(Msisdn::new("13000000000")),
        }))
        .await
        .unwrap();
    assert_eq!(code(&r), Some(ErrorCode::NumberUnavailable));
}
