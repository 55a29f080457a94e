//! Recharge round-trip latency (p50/p99) and throughput with N concurrent kiosks over real
//! mutual TLS on loopback. `cargo bench -p boss-sim --bench recharge`; prints a table.
//! `BOSS_SIM_BENCH_ROUNDS` sets recharges per kiosk (default 20).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use boss_protocol::{Reply, Response};
use common::{Kiosk, recharge, start};

const NUMBERS: [&str; 4] = ["13800000000", "13900000001", "18800000007", "13900000005"];

fn pct(sorted: &[Duration], p: usize) -> Duration {
    let i = (sorted.len().saturating_sub(1) * p) / 100;
    sorted.get(i).copied().unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let rounds: usize = std::env::var("BOSS_SIM_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let ids: Vec<String> = (1..=200).map(|i| format!("B{i:04}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let sim = start("2026-11-20", &id_refs).await;
    println!(
        "boss-sim recharge round trip over mutual TLS 1.3 on loopback, {rounds} recharges per kiosk"
    );
    println!(
        "{:>8} {:>10} {:>10} {:>10} {:>14}",
        "kiosks", "requests", "p50 ms", "p99 ms", "recharges/s"
    );
    for n in [1usize, 10, 50, 200] {
        let mut kiosks = Vec::new();
        for id in ids.iter().take(n) {
            kiosks.push(Kiosk::connect(&sim, id).await);
        }
        let start_all = Instant::now();
        let mut tasks = Vec::new();
        for (ki, mut k) in kiosks.into_iter().enumerate() {
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(rounds);
                for r in 0..rounds {
                    let txn = format!("bench-{n}-{ki}-{r}");
                    let number = NUMBERS[(ki + r) % NUMBERS.len()];
                    let t = Instant::now();
                    let reply = k.call(recharge(&txn, number, 100)).await;
                    lat.push(t.elapsed());
                    assert!(
                        matches!(reply, Ok(Reply::Ok(Response::Recharge(_)))),
                        "{reply:?}"
                    );
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("kiosk task"));
        }
        let wall = start_all.elapsed();
        all.sort();
        let per_s = all.len() as f64 / wall.as_secs_f64();
        println!(
            "{:>8} {:>10} {:>10.2} {:>10.2} {:>14.1}",
            n,
            all.len(),
            pct(&all, 50).as_secs_f64() * 1000.0,
            pct(&all, 99).as_secs_f64() * 1000.0,
            per_s
        );
    }
}
