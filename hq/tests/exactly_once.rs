//! Money exactly once across both hops (kiosk → server → operator), with faults on each:
//! the operator commits and drops the link before answering; the server stops in the middle
//! of a request and a new instance takes over; the kiosk repeats a request. Every credit
//! lands once; every kiosk learns the outcome (from the answer or from `txn_status`).

mod common;

use std::time::Duration;

use boss_protocol::*;
use boss_sim::faults::{FaultPatch, FaultSettings};
use common::*;

const K1: &str = "K0001";
const N: &str = "13800000000";

async fn status(k: &mut Kiosk, txn: &str) -> TxnStatus {
    match k
        .call(Request::TxnStatus(TxnStatusQuery {
            txn_id: TxnId::new(txn),
        }))
        .await
        .expect("txn_status")
    {
        Reply::Ok(Response::TxnStatus(s)) => s,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_drops_the_link_after_commit_and_the_kiosk_still_gets_the_one_credit() {
    each_db("drop_after_commit", |db| async move {
        let w = World::new(db, &[K1]).await;
        let hq = w.hq().await;
        let mut k = Kiosk::connect(hq.addr, &w.certs(), K1).await;
        let before = w.balance(N);
        w.fault(FaultPatch {
            drop_after_commit: Some(1),
            ..FaultPatch::default()
        });
        // The operator commits, then drops the gateway link without answering: the server
        // asks txn_status on a new link and answers the kiosk with the first outcome.
        let r = k.call(recharge("K0001-D-1", N, 5_000)).await.unwrap();
        let Reply::Ok(Response::Recharge(ok)) = &r else {
            panic!("{r:?}")
        };
        assert_eq!(ok.balance_after_fen, before + 5_000);
        assert_eq!(w.balance(N), before + 5_000, "credited once");
        // The kiosk, unsure, repeats: same answer, nothing applied again.
        assert_eq!(k.call(recharge("K0001-D-1", N, 5_000)).await.unwrap(), r);
        assert_eq!(w.balance(N), before + 5_000);
        assert_eq!(status(&mut k, "K0001-D-1").await.state, TxnState::Committed);
        // Same id, other content: conflict, nothing applied.
        let c = k.call(recharge("K0001-D-1", N, 9_900)).await.unwrap();
        assert_eq!(code(&c), Some(ErrorCode::TxnConflict));
        assert_eq!(w.balance(N), before + 5_000);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_unreachable_is_a_clear_refusal_with_nothing_applied() {
    each_db("unreachable", |db| async move {
        let w = World::new(db, &[K1]).await;
        let hq = w.hq().await;
        let mut k = Kiosk::connect(hq.addr, &w.certs(), K1).await;
        let before = w.balance(N);
        w.fault(FaultPatch {
            refuse_connections: Some(true),
            ..FaultPatch::default()
        });
        let r = k.call(recharge("K0001-U-1", N, 2_000)).await.unwrap();
        assert_eq!(code(&r), Some(ErrorCode::Unavailable), "{r:?}");
        assert_eq!(w.balance(N), before);
        // The link comes back; the same id goes through once.
        w.fault(FaultPatch {
            refuse_connections: Some(false),
            ..FaultPatch::default()
        });
        let r = eventually_async(&mut k, "K0001-U-1").await;
        assert!(matches!(r, Reply::Ok(Response::Recharge(_))), "{r:?}");
        assert_eq!(w.balance(N), before + 2_000);
    })
    .await;
}

async fn eventually_async(k: &mut Kiosk, txn: &str) -> Reply {
    for _ in 0..50 {
        let r = k.call(recharge(txn, N, 2_000)).await.unwrap();
        if code(&r) != Some(ErrorCode::Unavailable) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never forwarded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_mid_request_leaves_the_outcome_to_txn_status_and_credits_once() {
    each_db("restart", |db| async move {
        let w = World::with_faults(
            db,
            &[K1],
            FaultSettings {
                latency_ms: 1_500,
                ..FaultSettings::default()
            },
        )
        .await;
        let hq = w.hq().await;
        let mut k = Kiosk::connect(hq.addr, &w.certs(), K1).await;
        let before = w.balance(N);
        let id = k.send(recharge("K0001-S-1", N, 3_000)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        // The server goes away while the operator is still working on it.
        hq.stop().await;
        let lost = k.wait_reply(id, Duration::from_secs(10)).await;
        assert!(lost.is_err(), "no answer on a dead connection: {lost:?}");
        // A new instance on the same database; the kiosk reconnects and asks.
        let hq2 = w.hq().await;
        let mut k = Kiosk::connect(hq2.addr, &w.certs(), K1).await;
        let st = loop {
            let s = status(&mut k, "K0001-S-1").await;
            if s.state != TxnState::Pending {
                break s;
            }
        };
        match st.state {
            TxnState::Committed => {
                assert_eq!(w.balance(N), before + 3_000);
                // Repeating it changes nothing.
                let again = k.call(recharge("K0001-S-1", N, 3_000)).await.unwrap();
                assert!(matches!(again, Reply::Ok(Response::Recharge(_))));
                assert_eq!(w.balance(N), before + 3_000, "credited once");
            }
            TxnState::Unknown => {
                // Never reached the operator: the kiosk may send it again, once.
                assert_eq!(w.balance(N), before);
                k.call(recharge("K0001-S-1", N, 3_000)).await.unwrap();
                k.call(recharge("K0001-S-1", N, 3_000)).await.unwrap();
                assert_eq!(w.balance(N), before + 3_000);
            }
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_kiosks_and_repeats_through_the_server_credit_exactly_once() {
    each_db("many", |db| async move {
        let ids: Vec<String> = (1..=20).map(|i| format!("K{i:04}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let w = World::new(db, &refs).await;
        let hq = w.hq().await;
        let before = w.balance(N);
        let mut tasks = Vec::new();
        for id in &ids {
            let (addr, certs, id) = (hq.addr, w.certs(), id.clone());
            tasks.push(tokio::spawn(async move {
                let mut k = Kiosk::connect(addr, &certs, &id).await;
                for j in 0..3 {
                    let txn = format!("{id}-M-{j}");
                    let first = k.call(recharge(&txn, N, 100)).await.unwrap();
                    let again = k.call(recharge(&txn, N, 100)).await.unwrap();
                    assert_eq!(first, again);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(w.balance(N), before + 20 * 3 * 100);
    })
    .await;
}
