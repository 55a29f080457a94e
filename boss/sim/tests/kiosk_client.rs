//! The real kiosk client (`telekiosk::boss::BossClient`) speaking for itself to the simulator
//! over mutual TLS: link up, recharge, and the drop-after-commit fault resolved by the status
//! query without a second credit. (Pushes come from head office: the kiosk's tests take
//! them through `telekiosk-hq`.)

mod common;

use std::time::Duration;

use boss_protocol::{Response, TxnId, TxnState};
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
    let (client, _pushes) = BossClient::spawn(cfg);
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
