//! Property tests of the framing: random bytes never panic the decoder, and every message
//! of the protocol survives encode → decode unchanged, whatever its field values.

use std::collections::BTreeSet;

use boss_protocol::codec::{self, FrameDecoder};
use boss_protocol::*;
use proptest::prelude::*;

/// Field values drawn by proptest.
#[derive(Debug, Clone)]
struct V {
    s: String,
    n: u64,
    m: i64,
    k: u32,
    b: Vec<u8>,
    flag: bool,
}

fn id_card(v: &V) -> IdCard {
    IdCard {
        name: PersonalText::new(v.s.clone()),
        id_number: IdNumber::new(format!("42010619900101{:04}", v.k % 10000)),
        sex: "男".into(),
        ethnicity: "汉".into(),
        birth_date: "1990-01-01".into(),
        address: PersonalText::new(format!("武汉市{}", v.s)),
        issuer: "武汉市公安局".into(),
        valid_from: "2015-01-01".into(),
        valid_until: v.flag.then(|| "2035-01-01".into()),
    }
}

fn plan(v: &V) -> Plan {
    Plan {
        id: v.s.clone(),
        name: format!("畅享{}", v.k),
        monthly_fee_fen: v.n,
        data_mb: v.k,
        voice_min: v.k / 2,
        sms: 100,
        features: vec![v.s.clone()],
    }
}

fn msisdn(v: &V) -> Msisdn {
    Msisdn::new(format!("138{:08}", v.n % 100_000_000))
}
fn txn(v: &V) -> TxnId {
    TxnId::new(format!("K0001-{}", v.s))
}
fn token(v: &V) -> AuthToken {
    AuthToken(v.s.clone())
}
fn totals(v: &V) -> DayTotals {
    DayTotals {
        count: v.k,
        amount_fen: v.n,
        by_op: vec![OpTotal {
            op: "recharge".into(),
            count: v.k,
            amount_fen: v.n,
        }],
    }
}

fn requests(v: &V) -> Vec<Request> {
    vec![
        Request::Hello(Hello {
            software: v.s.clone(),
            kiosk_time_ms: v.m,
            config_version: v.flag.then_some(v.n),
            journal_last_seq: Some(v.n),
        }),
        Request::Heartbeat(Heartbeat {
            kiosk_time_ms: v.m,
            devices: vec![DeviceHealth {
                device: DeviceKind::BillAcceptor,
                state: DeviceState::Warning,
                condition: Some(v.s.clone()),
            }],
            cash_box: CashBox {
                notes: vec![NoteCount {
                    denomination_fen: 10000,
                    count: v.k,
                }],
                total_fen: v.n,
                capacity_notes: Some(1000),
            },
            card_stock: CardStock {
                blank_sims: v.k,
                reject_bin: 1,
            },
            screen: v.s.clone(),
            last_error: v.flag.then(|| LastError {
                at_ms: v.m,
                device: Some(DeviceKind::ReceiptPrinter),
                code: "paper_out".into(),
                message: v.s.clone(),
            }),
            software: v.flag.then(|| v.s.clone()),
            config_version: v.flag.then_some(v.n),
            kiosk_state: (!v.flag).then(|| "in_service".into()),
            state_detail: v.flag.then(|| v.s.clone()),
        }),
        Request::SubscriberLookup(SubscriberLookup { msisdn: msisdn(v) }),
        Request::AuthPassword(AuthPassword {
            msisdn: msisdn(v),
            password: Secret::new(v.s.clone()),
        }),
        Request::SmsCodeRequest(SmsCodeRequest { msisdn: msisdn(v) }),
        Request::SmsCodeVerify(SmsCodeVerify {
            msisdn: msisdn(v),
            code: Secret::new(v.s.clone()),
            token: v.flag.then(|| token(v)),
        }),
        Request::AuthIdCard(AuthIdCard {
            msisdn: msisdn(v),
            id: id_card(v),
            face_check_id: Some(v.s.clone()),
        }),
        Request::Recharge(Recharge {
            txn_id: txn(v),
            msisdn: msisdn(v),
            amount_fen: v.n,
            notes: vec![NoteCount {
                denomination_fen: 5000,
                count: v.k,
            }],
        }),
        Request::TxnStatus(TxnStatusQuery { txn_id: txn(v) }),
        Request::Reversal(Reversal {
            txn_id: txn(v),
            original_txn_id: txn(v),
            reason: v.s.clone(),
        }),
        Request::CurrentPlan(PlanQuery {
            token: token(v),
            msisdn: msisdn(v),
        }),
        Request::EligiblePlans(PlanQuery {
            token: token(v),
            msisdn: msisdn(v),
        }),
        Request::PlanChange(PlanChange {
            txn_id: txn(v),
            token: token(v),
            msisdn: msisdn(v),
            plan_id: v.s.clone(),
        }),
        Request::MonthlyBill(MonthQuery {
            token: token(v),
            msisdn: msisdn(v),
            month: "2026-10".into(),
        }),
        Request::ItemisedRecords(ItemisedRecordsQuery {
            token: token(v),
            msisdn: msisdn(v),
            month: "2026-10".into(),
            kind: RecordKind::Call,
            offset: v.k,
            limit: 50,
        }),
        Request::InvoiceData(MonthQuery {
            token: token(v),
            msisdn: msisdn(v),
            month: "2026-09".into(),
        }),
        Request::RealNameCheck(RealNameCheck { id: id_card(v) }),
        Request::FaceCompare(FaceCompare {
            id_number: IdNumber::new(v.s.clone()),
            live_photo: Blob(v.b.clone()),
            id_photo: Blob(v.b.iter().rev().copied().collect()),
        }),
        Request::PlanCatalogue(PlanCatalogueQuery {
            msisdn: v.flag.then(|| msisdn(v)),
        }),
        Request::NumberSearch(NumberSearch {
            prefix: Some("138".into()),
            suffix: v.flag.then(|| "88".into()),
            contains: None,
            limit: v.k,
        }),
        Request::NumberReserve(NumberReserve {
            msisdn: msisdn(v),
            id_number: IdNumber::new(v.s.clone()),
        }),
        Request::NumberRelease(NumberRelease {
            reservation_id: v.s.clone(),
        }),
        Request::NewSimOrder(NewSimOrder {
            txn_id: txn(v),
            reservation_id: v.s.clone(),
            msisdn: msisdn(v),
            plan_id: "P58".into(),
            id: id_card(v),
            face_check_id: v.s.clone(),
            agreement_version: "2026.1".into(),
            card_fee_fen: 1000,
            prepaid_fen: v.n,
        }),
        Request::SimScript(SimScriptQuery {
            order_id: v.s.clone(),
            iccid: "89860012345678901234".into(),
        }),
        Request::ActivateSim(ActivateSim {
            txn_id: txn(v),
            order_id: v.s.clone(),
            iccid: "89860012345678901234".into(),
            script_id: v.s.clone(),
            result: ScriptResult {
                completed: v.flag,
                steps_run: v.k,
                last_sw: Some(Sw(0x9000)),
            },
        }),
        Request::CancelOrder(CancelOrder {
            txn_id: txn(v),
            order_id: v.s.clone(),
            reason: v.s.clone(),
        }),
        Request::ReplacementSim(ReplacementSim {
            txn_id: txn(v),
            token: token(v),
            msisdn: msisdn(v),
            face_check_id: v.s.clone(),
            fee_fen: v.n,
        }),
        Request::RealNameReregister(RealNameReregister {
            txn_id: txn(v),
            token: token(v),
            msisdn: msisdn(v),
            id: id_card(v),
            face_check_id: v.s.clone(),
        }),
        Request::NumbersById(NumbersByIdQuery {
            id_number: IdNumber::new(v.s.clone()),
            face_check_id: v.s.clone(),
        }),
        Request::LossReport(LossReport {
            txn_id: txn(v),
            token: token(v),
            msisdn: msisdn(v),
        }),
        Request::LossLift(LossLift {
            txn_id: txn(v),
            token: token(v),
            msisdn: msisdn(v),
        }),
        Request::PinCatalogue(PinCatalogueQuery {}),
        Request::PinSale(PinSale {
            txn_id: txn(v),
            face_fen: v.n,
        }),
        Request::PinVoid(PinVoid {
            txn_id: txn(v),
            sale_txn_id: txn(v),
            serial: v.flag.then(|| v.s.clone()),
            reason: v.s.clone(),
        }),
        Request::PinRecharge(PinRecharge {
            txn_id: txn(v),
            msisdn: msisdn(v),
            pin: Secret::new(v.s.clone()),
        }),
        Request::JournalUpload(JournalUpload {
            entries: vec![JournalEntry {
                seq: v.n,
                txn_id: txn(v),
                at_ms: v.m,
                op: "recharge".into(),
                msisdn: Some(msisdn(v)),
                amount_fen: v.n,
                state: TxnState::Committed,
                detail: Some(v.s.clone()),
            }],
        }),
        Request::Reconcile(Reconcile {
            day: "2026-11-22".into(),
            totals: totals(v),
            txns: vec![ReconTxn {
                txn_id: txn(v),
                op: "recharge".into(),
                amount_fen: v.n,
                state: TxnState::Failed,
            }],
        }),
    ]
}

fn responses(v: &V) -> Vec<Response> {
    let auth = AuthOk {
        msisdn: msisdn(v),
        token: token(v),
        factors: vec![AuthFactor::Password, AuthFactor::SmsCode],
        expires_ms: v.m,
    };
    let order = SimOrder {
        txn_id: txn(v),
        order_id: v.s.clone(),
        msisdn: msisdn(v),
        card_fee_fen: 1000,
        prepaid_fen: v.n,
        first_month_fee_fen: 2900,
    };
    let recharge_ok = RechargeOk {
        txn_id: txn(v),
        operator_ref: v.s.clone(),
        msisdn: msisdn(v),
        amount_fen: v.n,
        balance_after_fen: v.m,
        credited_at_ms: v.m,
    };
    vec![
        Response::Hello(HelloOk {
            kiosk_id: v.s.clone(),
            server_time_ms: v.m,
            heartbeat_interval_ms: v.n,
            config_version: Some(v.n),
            locked: v.flag.then(|| Lock {
                reason: v.s.clone(),
                message: None,
            }),
            journal_acked_seq: Some(v.n),
        }),
        Response::Heartbeat(HeartbeatOk {
            server_time_ms: v.m,
        }),
        Response::SubscriberLookup(Subscriber {
            msisdn: msisdn(v),
            owner_name_masked: "*小明".into(),
            status: SubscriberStatus::SuspendedArrears,
            payment: PaymentKind::Postpaid,
            balance_fen: v.m,
            arrears_fen: v.n,
            real_name: v.flag,
        }),
        Response::AuthPassword(auth.clone()),
        Response::SmsCodeRequest(SmsCodeSent {
            msisdn: msisdn(v),
            expires_ms: v.m,
            resend_after_s: 60,
        }),
        Response::SmsCodeVerify(auth.clone()),
        Response::AuthIdCard(auth),
        Response::Recharge(recharge_ok.clone()),
        Response::TxnStatus(TxnStatus {
            txn_id: txn(v),
            state: TxnState::Committed,
            txn_op: Some("recharge".into()),
            amount_fen: Some(v.n),
            outcome: Some(Box::new(if v.flag {
                Reply::Ok(Response::Recharge(recharge_ok))
            } else {
                Reply::Error(ErrorBody::new(ErrorCode::Arrears, v.s.clone()))
            })),
            reversed_by: v.flag.then(|| txn(v)),
        }),
        Response::Reversal(ReversalOk {
            txn_id: txn(v),
            original_txn_id: txn(v),
            amount_fen: v.n,
            balance_after_fen: Some(v.m),
            reversed_at_ms: v.m,
        }),
        Response::CurrentPlan(CurrentPlan {
            msisdn: msisdn(v),
            plan: plan(v),
            pending: v.flag.then(|| PendingPlanChange {
                plan_id: v.s.clone(),
                effective_month: "2026-12".into(),
            }),
        }),
        Response::EligiblePlans(EligiblePlans {
            msisdn: msisdn(v),
            plans: vec![plan(v), plan(v)],
        }),
        Response::PlanChange(PlanChangeOk {
            txn_id: txn(v),
            msisdn: msisdn(v),
            from_plan_id: "P38".into(),
            to_plan_id: v.s.clone(),
            effective_month: "2026-12".into(),
            operator_ref: v.s.clone(),
        }),
        Response::MonthlyBill(MonthlyBill {
            msisdn: msisdn(v),
            month: "2026-10".into(),
            plan_name: v.s.clone(),
            items: vec![BillItem {
                name: v.s.clone(),
                amount_fen: v.m,
            }],
            total_fen: v.m,
            paid_fen: 0,
            due_fen: v.m,
        }),
        Response::ItemisedRecords(ItemisedRecords {
            msisdn: msisdn(v),
            month: "2026-10".into(),
            total: v.k,
            records: vec![UsageRecord {
                at_ms: v.m,
                kind: RecordKind::Data,
                outgoing: v.flag,
                counterpart_masked: None,
                duration_s: None,
                volume_kb: Some(v.n),
                location: Some(v.s.clone()),
                fee_fen: v.n,
            }],
        }),
        Response::InvoiceData(InvoiceData {
            msisdn: msisdn(v),
            month: "2026-10".into(),
            invoice_no: v.s.clone(),
            invoice_code: "044001".into(),
            payer_masked: "*小明".into(),
            seller: "中国移动通信集团".into(),
            seller_tax_id: "91110000".into(),
            items: vec![InvoiceItem {
                name: v.s.clone(),
                amount_fen: v.n,
                tax_rate_permille: 60,
                tax_fen: v.n / 17,
            }],
            total_fen: v.n,
            tax_fen: v.n / 17,
            issued_at_ms: v.m,
            check_code: v.s.clone(),
        }),
        Response::RealNameCheck(RealNameOk {
            numbers_held: v.k,
            numbers_limit: 5,
            age_years: 30,
        }),
        Response::FaceCompare(FaceResult {
            face_check_id: v.s.clone(),
            score: u16::try_from(v.k % 1001).unwrap_or(0),
            threshold: 800,
            verdict: FaceVerdict::PoorQuality,
        }),
        Response::PlanCatalogue(PlanCatalogue {
            day: "2026-12-07".into(),
            plans: vec![CataloguePlan {
                plan: plan(v),
                first_month_rule: if v.flag {
                    FirstMonthRule::Package
                } else {
                    FirstMonthRule::ProRata
                },
                first_month_fee_fen: v.n,
            }],
        }),
        Response::NumberSearch(NumberList {
            numbers: vec![PoolNumber {
                msisdn: msisdn(v),
                tier: v.s.clone(),
                min_plan_fee_fen: v.n,
            }],
        }),
        Response::NumberReserve(Reservation {
            reservation_id: v.s.clone(),
            msisdn: msisdn(v),
            expires_ms: v.m,
        }),
        Response::NumberRelease(NumberReleased {
            reservation_id: v.s.clone(),
        }),
        Response::NewSimOrder(order.clone()),
        Response::SimScript(SimScript {
            order_id: v.s.clone(),
            iccid: "89860012345678901234".into(),
            script_id: v.s.clone(),
            steps: vec![ApduStep {
                apdu: HexBytes(v.b.clone()),
                expect_sw: vec![Sw(0x9000), Sw(0x6A82)],
            }],
        }),
        Response::ActivateSim(Activated {
            txn_id: txn(v),
            order_id: v.s.clone(),
            msisdn: msisdn(v),
            iccid: "89860012345678901234".into(),
            invalidated_iccid: v.flag.then(|| "89860000000000000000".into()),
            balance_fen: v.m,
            activated_at_ms: v.m,
        }),
        Response::CancelOrder(OrderCancelled {
            txn_id: txn(v),
            order_id: v.s.clone(),
            refund_due_fen: v.n,
        }),
        Response::ReplacementSim(order),
        Response::RealNameReregister(Reregistered {
            txn_id: txn(v),
            msisdn: msisdn(v),
            registered_at_ms: v.m,
        }),
        Response::NumbersById(NumbersById {
            numbers: vec![
                HeldNumber {
                    msisdn: msisdn(v),
                    status: SubscriberStatus::ReportedLost,
                    payment: PaymentKind::Prepaid,
                    opened_on: "2016-09-01".into(),
                },
                HeldNumber {
                    msisdn: msisdn(v),
                    status: SubscriberStatus::Cancelled,
                    payment: PaymentKind::Postpaid,
                    opened_on: v.s.clone(),
                },
            ],
            numbers_limit: v.k,
        }),
        Response::LossReport(LossReported {
            txn_id: txn(v),
            msisdn: msisdn(v),
            suspended_at_ms: v.m,
        }),
        Response::LossLift(LossLifted {
            txn_id: txn(v),
            msisdn: msisdn(v),
            status: if v.flag {
                SubscriberStatus::Active
            } else {
                SubscriberStatus::SuspendedArrears
            },
            resumed_at_ms: v.m,
        }),
        Response::PinCatalogue(PinCatalogue {
            face_values_fen: vec![3_000, 5_000, v.n],
            valid_days: v.k,
        }),
        Response::PinSale(PinSold {
            txn_id: txn(v),
            serial: v.s.clone(),
            pin: Secret::new(v.s.clone()),
            face_fen: v.n,
            expires_on: "2027-11-20".into(),
        }),
        Response::PinVoid(PinVoided {
            txn_id: txn(v),
            sale_txn_id: txn(v),
            serial: v.flag.then(|| v.s.clone()),
            refund_due_fen: v.n,
        }),
        Response::PinRecharge(PinRecharged {
            txn_id: txn(v),
            msisdn: msisdn(v),
            serial: v.s.clone(),
            amount_fen: v.n,
            balance_fen: v.m,
        }),
        Response::JournalUpload(JournalAccepted {
            accepted: v.k,
            acked_seq: v.n,
        }),
        Response::Reconcile(Reconciliation {
            day: "2026-11-22".into(),
            kiosk: totals(v),
            operator: DayTotals::default(),
            balanced: v.flag,
            mismatches: vec![Mismatch {
                txn_id: txn(v),
                kind: MismatchKind::AmountDiffers,
                op: "recharge".into(),
                kiosk_amount_fen: Some(v.n),
                operator_amount_fen: None,
                kiosk_state: Some(TxnState::Committed),
                operator_state: Some(TxnState::Unknown),
            }],
        }),
    ]
}

fn pushes(v: &V) -> Vec<Push> {
    vec![
        Push::ConfigBundle(ConfigBundle {
            version: v.n,
            config: serde_json::json!({"banner": v.s, "limits": {"max_note_fen": 10000}}),
            signature: if v.n.is_multiple_of(2) {
                Some(v.s.clone())
            } else {
                None
            },
        }),
        Push::Lock(Lock {
            reason: v.s.clone(),
            message: Some(v.s.clone()),
        }),
        Push::Unlock(Unlock {}),
        Push::DiagnosticsRequest(DiagnosticsRequest {
            items: vec![v.s.clone()],
        }),
    ]
}

fn all_envelopes(v: &V) -> Vec<Envelope> {
    let mut out = Vec::new();
    for r in requests(v) {
        out.push(Envelope::request(v.n, r));
    }
    for r in responses(v) {
        out.push(Envelope::response(v.n, Reply::Ok(r)));
    }
    out.push(Envelope::response(
        v.n,
        Reply::Error(ErrorBody {
            code: ErrorCode::from_wire(&v.s),
            message: v.s.clone(),
            retry_after_ms: v.flag.then_some(v.n),
            tries_left: None,
            locked_until_ms: None,
        }),
    ));
    for p in pushes(v) {
        out.push(Envelope::push(v.n, p));
    }
    for outcome in [
        AckOutcome::Applied,
        AckOutcome::Deferred,
        AckOutcome::Rejected,
    ] {
        out.push(Envelope::ack(
            v.n,
            Ack {
                op: v.s.clone(),
                outcome,
                message: v.flag.then(|| v.s.clone()),
                diagnostics: Some(serde_json::json!({"devices": [v.s.clone()]})),
            },
        ));
    }
    out
}

fn values() -> impl Strategy<Value = V> {
    (
        any::<String>(),
        any::<u64>(),
        any::<i64>(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_map(|(s, n, m, k, b, flag)| V {
            s,
            n,
            m,
            k,
            b,
            flag,
        })
}

#[test]
fn samples_cover_every_operation() {
    let v = V {
        s: "x".into(),
        n: 1,
        m: 1,
        k: 1,
        b: vec![1],
        flag: true,
    };
    let reqs: BTreeSet<_> = requests(&v).iter().map(Request::op).collect();
    let resps: BTreeSet<_> = responses(&v).iter().map(Response::op).collect();
    let pushes: BTreeSet<_> = pushes(&v).iter().map(Push::op).collect();
    assert_eq!(reqs.len(), 37, "a request variant lacks a sample");
    assert_eq!(reqs, resps, "every request has its response sample");
    assert_eq!(
        reqs,
        Request::OPS.iter().copied().collect::<BTreeSet<_>>(),
        "Request::OPS lists exactly the request ops"
    );
    assert_eq!(pushes.len(), 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_message_round_trips(v in values()) {
        for env in all_envelopes(&v) {
            let frame = codec::encode(&env).unwrap();
            let mut d = FrameDecoder::new();
            d.extend(&frame);
            let back = d.next_frame().unwrap();
            prop_assert_eq!(back.as_ref(), Some(&env));
            prop_assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn frames_split_anywhere_decode_the_same(v in values(), cut in any::<prop::sample::Index>()) {
        let envs = all_envelopes(&v);
        let stream: Vec<u8> = envs.iter().flat_map(|e| codec::encode(e).unwrap()).collect();
        let at = cut.index(stream.len() + 1);
        let mut d = FrameDecoder::new();
        let mut got = Vec::new();
        for part in [&stream[..at], &stream[at..]] {
            d.extend(part);
            while let Some(e) = d.next_frame().unwrap() {
                got.push(e);
            }
        }
        prop_assert_eq!(got, envs);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut d = FrameDecoder::new();
        d.extend(&bytes);
        for _ in 0..8 {
            match d.next_frame() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) if e.is_recoverable() => {}
                Err(_) => break,
            }
        }
        let _ = codec::from_json(&bytes);
    }

    #[test]
    fn unknown_request_ops_are_told_apart_from_bad_requests(
        id in any::<u64>(),
        op in "[a-z_]{1,24}",
        known in 0usize..Request::OPS.len(),
        field in "x[a-z]{0,7}",
    ) {
        let payload = format!(r#"{{"v":1,"id":{id},"kind":"request","body":{{"op":"{op}","{field}":1}}}}"#);
        match codec::from_json(payload.as_bytes()) {
            Err(codec::DecodeError::UnknownOp { id: got, op: got_op }) => {
                prop_assert!(!Request::is_known_op(&op));
                prop_assert_eq!(got, id);
                prop_assert_eq!(got_op, op);
            }
            Err(e) => {
                prop_assert!(Request::is_known_op(&op), "{op}: {e:?}");
                prop_assert!(e.is_recoverable());
            }
            Ok(_) => prop_assert!(Request::is_known_op(&op)),
        }
        // A known op with a bad field is never called unknown.
        let known = Request::OPS[known];
        let payload = format!(r#"{{"v":1,"id":{id},"kind":"request","body":{{"op":"{known}","{field}":[]}}}}"#);
        let unknown = matches!(
            codec::from_json(payload.as_bytes()),
            Err(codec::DecodeError::UnknownOp { .. })
        );
        prop_assert!(!unknown);
    }

    #[test]
    fn random_json_envelopes_never_panic(id in any::<u64>(), kind in 0usize..5, body in "[ -~]{0,200}") {
        let kinds = ["request", "response", "push", "ack", "bogus"];
        let payload = format!(r#"{{"v":1,"id":{id},"kind":"{}","body":{body}}}"#, kinds[kind]);
        let _ = codec::from_json(payload.as_bytes());
        let payload = format!(r#"{{"v":1,"id":{id},"kind":"{}","body":{{"op":"recharge",{body}}}}}"#, kinds[kind]);
        let _ = codec::from_json(payload.as_bytes());
    }
}
