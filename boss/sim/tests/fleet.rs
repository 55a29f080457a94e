//! 200 kiosks connected at once over mutual TLS, with heartbeats and recharges (some sent
//! twice), all settled exactly once in the operator's ledger. Bounded in time; loopback only.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use boss_protocol::{Reply, Response};
use common::*;

const KIOSKS: usize = 200;
const NUMBERS: [&str; 4] = ["13800000000", "13900000001", "18800000007", "13900000005"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_kiosks_settle_every_recharge_once() {
    let ids: Vec<String> = (1..=KIOSKS).map(|i| format!("K{i:04}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let sim = start("2026-11-20", &refs).await;
    let before: HashMap<&str, i64> = NUMBERS.iter().map(|n| (*n, balance(&sim, n))).collect();

    let run = async {
        // Everyone connects first.
        let mut connects = Vec::new();
        for id in &ids {
            let addr = sim.addr();
            let cfg = client_config(&sim.certs(), id);
            connects.push(tokio::spawn(async move {
                let mut k = Kiosk::connect_raw(addr, cfg).await.expect("connect");
                let r = k.call(hello()).await.expect("hello");
                assert!(matches!(r, Reply::Ok(Response::Hello(_))), "{r:?}");
                k
            }));
        }
        let mut kiosks = Vec::new();
        for c in connects {
            kiosks.push(c.await.expect("connect task"));
        }
        assert_eq!(kiosks.len(), KIOSKS, "all kiosks connected at once");

        // Then heartbeats and recharges, all at the same time.
        let mut work = Vec::new();
        for (i, mut k) in kiosks.into_iter().enumerate() {
            work.push(tokio::spawn(async move {
                let r = k.call(heartbeat()).await.expect("heartbeat");
                assert!(matches!(r, Reply::Ok(Response::Heartbeat(_))), "{r:?}");
                let mut credited = Vec::new();
                for j in 0..3u64 {
                    let number = NUMBERS[(i + usize::try_from(j).unwrap()) % NUMBERS.len()];
                    let fen = 100 * (j + 1);
                    let txn = format!("K{:04}-20261120-{j:06}", i + 1);
                    let r = k.call(recharge(&txn, number, fen)).await.expect("recharge");
                    assert!(matches!(r, Reply::Ok(Response::Recharge(_))), "{r:?}");
                    if j == 0 {
                        // A retry of the first one, as after a lost answer.
                        let again = k.call(recharge(&txn, number, fen)).await.expect("retry");
                        assert_eq!(again, r);
                    }
                    credited.push((number, i64::try_from(fen).unwrap()));
                }
                credited
            }));
        }
        let mut expected: HashMap<&str, i64> = HashMap::new();
        for w in work {
            for (n, fen) in w.await.expect("kiosk task") {
                *expected.entry(n).or_default() += fen;
            }
        }
        expected
    };
    let expected = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("200 kiosks finished within the bound");

    for n in NUMBERS {
        assert_eq!(
            balance(&sim, n),
            before[n] + expected.get(n).copied().unwrap_or(0),
            "{n} credited exactly once per transaction"
        );
    }
    let ledger = sim
        .running
        .shared
        .service
        .store()
        .ledger("2026-11-20", None)
        .unwrap();
    let mut per_kiosk: HashMap<&str, (i64, i64)> = HashMap::new();
    for r in ledger.iter().filter(|r| r.state == "done") {
        let e = per_kiosk.entry(r.kiosk_id.as_str()).or_default();
        e.0 += 1;
        e.1 += r.amount_fen;
    }
    assert_eq!(per_kiosk.len(), KIOSKS);
    assert!(per_kiosk.values().all(|v| *v == (3, 600)), "{per_kiosk:?}");
}
