//! The real kiosk client (`telekiosk::boss::BossClient`) against the simulator over mutual
//! TLS: link up, recharge, a push acknowledged, and the drop-after-commit fault resolved by
//! the status query without a second credit.

mod common;

use std::time::Duration;

use boss_protocol::{AckOutcome, Lock, Push, Response, TxnId, TxnState};
use boss_sim::control;
use boss_sim::faults::FaultPatch;
use common::*;
use telekiosk::boss::{BossClient, BossConfig, CallError};

async fn wait_up(c: &BossClient) {
    let mut st = c.link_state();
    tokio::time::timeout(T, async {
        while !st.borrow_and_update().is_up() {
            st.changed().await.expect("client alive");
        }
    })
    .await
    .expect("link up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_kiosk_client_recharges_and_survives_drop_after_commit() {
    let sim = start("2026-11-20", &["K0001"]).await;
    let tls = client_config(&sim.certs(), "K0001");
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut cfg = BossConfig::new(sim.addr().to_string(), name, tls);
    cfg.backoff.initial = Duration::from_millis(50);
    let (client, mut pushes) = BossClient::spawn(cfg);
    wait_up(&client).await;
    let before = balance(&sim, "13800000000");

    let r = client
        .call(recharge("KC-1", "13800000000", 2_000))
        .await
        .unwrap();
    assert!(
        matches!(r, Response::Recharge(ref ok) if ok.balance_after_fen == before + 2_000),
        "{r:?}"
    );

    // A lock from head office reaches the application and is acknowledged.
    control::queue_push(
        sim.running.shared.service.store(),
        Some(&sim.running.shared.hub),
        &["K0001".into()],
        &Push::Lock(Lock {
            reason: "audit".into(),
            message: None,
        }),
        0,
    )
    .unwrap();
    let d = tokio::time::timeout(T, pushes.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(d.push, Push::Lock(_)));
    d.ack(AckOutcome::Applied, None);
    let store = sim.running.shared.service.store();
    tokio::time::timeout(T, async {
        while !store
            .pushes("K0001")
            .unwrap()
            .iter()
            .all(|p| p.acked_at.is_some())
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("ack recorded");
    store.set_locked("K0001", false, None, 0).unwrap();

    // The hardest case: committed, then the connection drops before the answer.
    sim.running.shared.faults.apply(FaultPatch {
        drop_after_commit: Some(1),
        ..FaultPatch::default()
    });
    let e = client
        .call(recharge("KC-2", "13800000000", 3_000))
        .await
        .unwrap_err();
    assert!(e.outcome_unknown(), "{e:?}");
    // The client reconnects on its own; ask as soon as it is back.
    let st = tokio::time::timeout(T, async {
        loop {
            match client.txn_status(&TxnId::new("KC-2")).await {
                Err(CallError::NotConnected) => tokio::time::sleep(Duration::from_millis(20)).await,
                other => break other,
            }
        }
    })
    .await
    .expect("reconnected")
    .unwrap();
    assert_eq!(st.state, TxnState::Committed);
    assert_eq!(
        balance(&sim, "13800000000"),
        before + 5_000,
        "credited exactly once"
    );
    // A refusal comes back as such.
    let e = client
        .call(recharge("KC-3", "15800000006", 100))
        .await
        .unwrap_err();
    assert!(
        matches!(e, CallError::Refused(ref b) if b.code == boss_protocol::ErrorCode::SubscriberInactive),
        "{e:?}"
    );
}
