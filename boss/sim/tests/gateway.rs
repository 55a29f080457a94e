//! The gateway role (docs/boss-protocol.md §10): a client certificate from the gateway CA
//! may name the kiosk a request is for (`on_behalf_of`); a kiosk certificate may not, and a
//! gateway must.

mod common;

use boss_protocol::codec::Envelope;
use boss_protocol::io::write_envelope;
use boss_protocol::{ErrorCode, Reply, Response};
use common::*;

fn code(r: &Reply) -> Option<ErrorCode> {
    match r {
        Reply::Error(e) => Some(e.code.clone()),
        Reply::Ok(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_gateway_speaks_for_a_kiosk() {
    let sim = start("2026-11-20", &["K0001", "K0002"]).await;
    let before = balance(&sim, "13800000000");

    // A kiosk naming another kiosk is refused.
    let mut k = Kiosk::connect(&sim, "K0001").await;
    let env = Envelope::request(50, recharge("T-1", "13800000000", 100)).on_behalf_of("K0002");
    write_envelope(k.stream_mut(), &env).await.unwrap();
    let r = k.wait_reply(50).await.unwrap();
    assert_eq!(code(&r), Some(ErrorCode::BadRequest), "{r:?}");
    assert_eq!(balance(&sim, "13800000000"), before);

    // The gateway: its own hello, then requests on a kiosk's behalf, keyed by that kiosk.
    let gw = boss_protocol::pki::gateway_client_config_from_dir(&sim.certs()).unwrap();
    let mut g = Kiosk::connect_raw(sim.addr(), gw).await.unwrap();
    let r = g.call(hello()).await.unwrap();
    assert!(
        matches!(&r, Reply::Ok(Response::Hello(h)) if h.kiosk_id == "hq"),
        "{r:?}"
    );
    let r = g.call(recharge("T-2", "13800000000", 100)).await.unwrap();
    assert_eq!(
        code(&r),
        Some(ErrorCode::BadRequest),
        "a gateway must name the kiosk"
    );
    for (id, kiosk) in [(60, "K0001"), (61, "K0002")] {
        let env = Envelope::request(id, recharge("T-3", "13800000000", 100)).on_behalf_of(kiosk);
        write_envelope(g.stream_mut(), &env).await.unwrap();
        let r = g.wait_reply(id).await.unwrap();
        assert!(matches!(r, Reply::Ok(Response::Recharge(_))), "{r:?}");
    }
    // The same txn_id for two kiosks is two transactions; each is its kiosk's.
    assert_eq!(balance(&sim, "13800000000"), before + 200);
    let store = sim.running.shared.service.store();
    assert!(store.txn("K0001", "T-3").unwrap().is_some());
    assert!(store.txn("K0002", "T-3").unwrap().is_some());
    assert!(
        store.txn("hq", "T-3").unwrap().is_none(),
        "the gateway is no kiosk"
    );
}
