//! The simulator over real mutual TLS on loopback: idempotency, drop-after-commit,
//! reversal, certificate checks and faults — and nothing of head office's.

mod common;

use boss_protocol::{
    ErrorCode, JournalEntry, JournalUpload, Push, Reply, Request, Response, Reversal, TxnId,
    TxnState, TxnStatusQuery, Unlock,
};
use boss_sim::faults::{FaultPatch, FaultSettings};
use common::*;

const K1: &str = "K0001";

fn code(r: &Reply) -> Option<ErrorCode> {
    match r {
        Reply::Error(e) => Some(e.code.clone()),
        Reply::Ok(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_recharge_five_times_credits_once() {
    let sim = start("2026-11-20", &[K1]).await;
    let before = balance(&sim, "13800000000");
    let mut k = Kiosk::connect(&sim, K1).await;
    let mut replies = Vec::new();
    for _ in 0..5 {
        replies.push(
            k.call(recharge("K0001-20261120-000001", "13800000000", 5_000))
                .await
                .unwrap(),
        );
    }
    // A reconnect and a sixth try changes nothing either.
    drop(k);
    let mut k = Kiosk::connect(&sim, K1).await;
    replies.push(
        k.call(recharge("K0001-20261120-000001", "13800000000", 5_000))
            .await
            .unwrap(),
    );
    let Reply::Ok(Response::Recharge(first)) = &replies[0] else {
        panic!("{:?}", replies[0])
    };
    assert_eq!(first.balance_after_fen, before + 5_000);
    assert!(
        replies.iter().all(|r| r == &replies[0]),
        "every repeat returns the first outcome"
    );
    assert_eq!(balance(&sim, "13800000000"), before + 5_000);
    // The same id with different content is an error, not a second credit.
    let r = k
        .call(recharge("K0001-20261120-000001", "13800000000", 10_000))
        .await
        .unwrap();
    assert_eq!(code(&r), Some(ErrorCode::TxnConflict));
    assert_eq!(balance(&sim, "13800000000"), before + 5_000);
    // The SMS notice went out once.
    let sms = sim
        .running
        .shared
        .service
        .store()
        .sms_for("13800000000")
        .unwrap();
    assert_eq!(
        sms.iter()
            .filter(|m| m.body.contains("充值50.00元"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_after_commit_then_status_query_then_no_double_credit() {
    let sim = start("2026-11-20", &[K1]).await;
    let before = balance(&sim, "13900000001");
    let mut k = Kiosk::connect(&sim, K1).await;
    sim.running.shared.faults.apply(FaultPatch {
        drop_after_commit: Some(1),
        ..FaultPatch::default()
    });
    let txn = "K0001-20261120-000007";
    let lost = k.call(recharge(txn, "13900000001", 10_000)).await;
    assert!(
        lost.is_err(),
        "the connection is dropped before the answer: {lost:?}"
    );
    // The kiosk reconnects and asks what happened (交易结果查询).
    let mut k = Kiosk::connect(&sim, K1).await;
    let st = k
        .call(Request::TxnStatus(TxnStatusQuery {
            txn_id: TxnId::new(txn),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::TxnStatus(st)) = st else {
        panic!("{st:?}")
    };
    assert_eq!(st.state, TxnState::Committed);
    assert_eq!(st.amount_fen, Some(10_000));
    let Some(outcome) = st.outcome else {
        panic!("first outcome missing")
    };
    let Reply::Ok(Response::Recharge(ok)) = *outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(ok.balance_after_fen, before + 10_000);
    // A retry of the same request (what a naive kiosk would do) does not credit again.
    let again = k.call(recharge(txn, "13900000001", 10_000)).await.unwrap();
    assert!(matches!(again, Reply::Ok(Response::Recharge(_))));
    assert_eq!(balance(&sim, "13900000001"), before + 10_000);
    // An unknown id is answered `unknown`.
    let st = k
        .call(Request::TxnStatus(TxnStatusQuery {
            txn_id: TxnId::new("K0001-x"),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::TxnStatus(st)) = st else {
        panic!()
    };
    assert_eq!(st.state, TxnState::Unknown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reversal_undoes_a_recharge_once() {
    let sim = start("2026-11-20", &[K1]).await;
    let before = balance(&sim, "13800000000");
    let mut k = Kiosk::connect(&sim, K1).await;
    k.call(recharge("T-1", "13800000000", 2_000)).await.unwrap();
    assert_eq!(balance(&sim, "13800000000"), before + 2_000);
    let rev = |id: &str, orig: &str| {
        Request::Reversal(Reversal {
            txn_id: TxnId::new(id),
            original_txn_id: TxnId::new(orig),
            reason: "dispense_failed".into(),
        })
    };
    let r1 = k.call(rev("R-1", "T-1")).await.unwrap();
    let Reply::Ok(Response::Reversal(ok)) = &r1 else {
        panic!("{r1:?}")
    };
    assert_eq!(ok.amount_fen, 2_000);
    assert_eq!(ok.balance_after_fen, Some(before));
    // Repeat of the same reversal: same answer, nothing more taken back.
    assert_eq!(k.call(rev("R-1", "T-1")).await.unwrap(), r1);
    assert_eq!(balance(&sim, "13800000000"), before);
    // A second reversal of the same original is refused clearly.
    let r2 = k.call(rev("R-2", "T-1")).await.unwrap();
    assert_eq!(code(&r2), Some(ErrorCode::NotReversible));
    // Unknown original.
    let r3 = k.call(rev("R-3", "T-nope")).await.unwrap();
    assert_eq!(code(&r3), Some(ErrorCode::NotFound));
    assert_eq!(balance(&sim, "13800000000"), before);
    // Status now says reversed, by R-1.
    let st = k
        .call(Request::TxnStatus(TxnStatusQuery {
            txn_id: TxnId::new("T-1"),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::TxnStatus(st)) = st else {
        panic!()
    };
    assert_eq!(st.state, TxnState::Reversed);
    assert_eq!(st.reversed_by, Some(TxnId::new("R-1")));
    // A credit the subscriber has already used cannot be taken back.
    k.call(recharge("T-2", "13800000000", 1_000)).await.unwrap();
    sim.running
        .shared
        .service
        .store()
        .with_tx(|tx| {
            tx.execute(
                "UPDATE subscribers SET balance_fen=balance_fen-300 WHERE number='13800000000'",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    let r4 = k.call(rev("R-4", "T-2")).await.unwrap();
    assert_eq!(code(&r4), Some(ErrorCode::NotReversible), "{r4:?}");
    assert_eq!(balance(&sim, "13800000000"), before + 700);
    // The operator's ledger of the day: the reversed recharge no longer counts as done.
    let ledger = sim
        .running
        .shared
        .service
        .store()
        .ledger("2026-11-20", Some(K1))
        .unwrap();
    let recharges: Vec<(&str, &str, i64)> = ledger
        .iter()
        .filter(|r| r.op == "recharge")
        .map(|r| (r.txn_id.as_str(), r.state.as_str(), r.amount_fen))
        .collect();
    assert_eq!(
        recharges,
        [("T-1", "reversed", 2_000), ("T-2", "done", 1_000)]
    );
}

/// Head office's part of the protocol is the self-service system server's (docs/hq.md): the
/// operator keeps no lock, configuration or journal for a kiosk, takes no uploads, sends no
/// pushes and ignores acknowledgements; a kiosk's business is served whatever head office
/// decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_office_is_not_the_operators() {
    let sim = start("2026-11-20", &[K1]).await;
    let mut k = Kiosk::connect_raw(sim.addr(), client_config(&sim.certs(), K1))
        .await
        .unwrap();
    let h = k.call(hello()).await.unwrap();
    let Reply::Ok(Response::Hello(h)) = h else {
        panic!("{h:?}")
    };
    assert_eq!(h.kiosk_id, K1);
    assert_eq!(
        (h.config_version, h.locked, h.journal_acked_seq),
        (None, None, None)
    );
    // The heartbeat keeps the session up; nothing of it is kept.
    let r = k.call(heartbeat()).await.unwrap();
    assert!(matches!(r, Reply::Ok(Response::Heartbeat(_))), "{r:?}");
    let up = Request::JournalUpload(JournalUpload {
        entries: vec![JournalEntry {
            seq: 1,
            txn_id: TxnId::new("A"),
            at_ms: now_ms(),
            op: "recharge".into(),
            msisdn: None,
            amount_fen: 100,
            state: TxnState::Committed,
            detail: None,
        }],
    });
    let r = k.call(up).await.unwrap();
    assert_eq!(code(&r), Some(ErrorCode::UnknownOp), "{r:?}");
    // An acknowledgement of a push never sent is ignored; the link goes on.
    k.ack(99, &Push::Unlock(Unlock {})).await.unwrap();
    let r = k.call(recharge("H-1", "13800000000", 100)).await.unwrap();
    assert!(matches!(r, Reply::Ok(Response::Recharge(_))), "{r:?}");
    // Nothing written but the business: no table of kiosks, pushes or journals.
    let tables: Vec<String> = sim
        .running
        .shared
        .service
        .store()
        .with_tx(|tx| {
            let mut st = tx.prepare("SELECT name FROM sqlite_master WHERE type='table'")?;
            let v = st
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })
        .unwrap();
    for gone in ["kiosks", "pushes", "journals"] {
        assert!(!tables.iter().any(|t| t == gone), "{gone} in {tables:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_client_certificate_is_refused() {
    let sim = start("2026-11-20", &[K1]).await;
    // A kiosk certificate from another kiosk CA, trusting the right operator CA.
    let other = tempfile::tempdir().unwrap();
    boss_protocol::pki::generate_dev(other.path(), &[K1]).unwrap();
    let (cp, kp) = boss_protocol::pki::DevPki::kiosk_paths(other.path(), K1);
    let cas = boss_protocol::pki::load_certs(&sim.certs().join("operator-ca.pem")).unwrap();
    let foreign = boss_protocol::pki::client_config(
        &cas,
        boss_protocol::pki::load_certs(&cp).unwrap(),
        boss_protocol::pki::load_key(&kp).unwrap(),
    )
    .unwrap();
    let refused = async |cfg| match Kiosk::connect_raw(sim.addr(), cfg).await {
        Err(_) => true,
        // TLS 1.3: the client finishes first; the server's refusal shows on the first read.
        Ok(mut k) => k.call(hello()).await.is_err(),
    };
    assert!(refused(foreign).await, "foreign kiosk CA accepted");
    // No client certificate at all.
    let mut roots = rustls::RootCertStore::empty();
    for c in cas {
        roots.add(c).unwrap();
    }
    let anonymous = std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    assert!(refused(anonymous).await, "anonymous client accepted");
    // The right certificate works.
    Kiosk::connect(&sim, K1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_wrong_certificate_refuse_and_error_rate() {
    let sim = start("2026-11-20", &[K1]).await;
    let faults = &sim.running.shared.faults;
    faults.apply(FaultPatch {
        wrong_certificate: Some(true),
        ..FaultPatch::default()
    });
    let r = Kiosk::connect_raw(sim.addr(), client_config(&sim.certs(), K1)).await;
    assert!(
        r.is_err(),
        "kiosk must refuse a server certificate from another CA"
    );
    faults.apply(FaultPatch {
        wrong_certificate: Some(false),
        refuse_connections: Some(true),
        ..FaultPatch::default()
    });
    let r = Kiosk::connect_raw(sim.addr(), client_config(&sim.certs(), K1)).await;
    assert!(r.is_err(), "connection must be refused");
    faults.apply(FaultPatch {
        refuse_connections: Some(false),
        error_rate_pct: Some(100),
        ..FaultPatch::default()
    });
    let mut k = Kiosk::connect(&sim, K1).await;
    let before = balance(&sim, "13800000000");
    let r = k.call(recharge("E-1", "13800000000", 100)).await.unwrap();
    assert_eq!(code(&r), Some(ErrorCode::Unavailable));
    assert_eq!(
        balance(&sim, "13800000000"),
        before,
        "an injected error applies nothing"
    );
    faults.apply(FaultPatch {
        error_rate_pct: Some(0),
        latency_ms: Some(50),
        ..FaultPatch::default()
    });
    let r = k.call(recharge("E-1", "13800000000", 100)).await.unwrap();
    assert!(matches!(r, Reply::Ok(Response::Recharge(_))), "{r:?}");
    assert_eq!(
        faults.settings(),
        FaultSettings {
            latency_ms: 50,
            ..FaultSettings::default()
        }
    );
}

/// docs/boss-protocol.md §3: an unknown `op` is answered `unknown_op`, a request that does
/// not parse `bad_request`; both keep the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_op_and_unparsable_request_are_answered_and_the_link_stays() {
    let sim = start("2026-11-20", &[K1]).await;
    let mut k = Kiosk::connect(&sim, K1).await;
    k.send_raw(br#"{"v":1,"id":900,"kind":"request","body":{"op":"teleport","to":"mars"}}"#)
        .await
        .unwrap();
    let r = k.wait_reply(900).await.unwrap();
    assert_eq!(code(&r), Some(ErrorCode::UnknownOp), "{r:?}");
    // A known op with a field missing does not parse: bad_request.
    k.send_raw(br#"{"v":1,"id":901,"kind":"request","body":{"op":"recharge","txn_id":"U-1"}}"#)
        .await
        .unwrap();
    let r = k.wait_reply(901).await.unwrap();
    assert_eq!(code(&r), Some(ErrorCode::BadRequest), "{r:?}");
    // The same connection still serves requests.
    let r = k
        .call(Request::TxnStatus(TxnStatusQuery {
            txn_id: TxnId::new("U-never-sent"),
        }))
        .await
        .unwrap();
    assert!(
        !matches!(code(&r), Some(ErrorCode::UnknownOp | ErrorCode::BadRequest)),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_before_hello_are_refused() {
    let sim = start("2026-11-20", &[K1]).await;
    let mut k = Kiosk::connect_raw(sim.addr(), client_config(&sim.certs(), K1))
        .await
        .unwrap();
    let r = k.call(recharge("H-1", "13800000000", 100)).await.unwrap();
    assert_eq!(code(&r), Some(ErrorCode::HelloRequired));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_with_a_clock_far_off_is_refused() {
    let sim = start("2026-11-20", &[K1]).await;
    let mut k = Kiosk::connect_raw(sim.addr(), client_config(&sim.certs(), K1))
        .await
        .unwrap();
    let skewed = Request::Hello(boss_protocol::Hello {
        software: "test".into(),
        kiosk_time_ms: now_ms() - 10 * 60 * 1000,
        config_version: None,
        journal_last_seq: None,
    });
    assert_eq!(
        code(&k.call(skewed).await.unwrap()),
        Some(ErrorCode::BadRequest)
    );
    let r = k.call(hello()).await.unwrap();
    let Reply::Ok(Response::Hello(h)) = r else {
        panic!("{r:?}")
    };
    assert!((h.server_time_ms - now_ms()).abs() < 60_000);
}
