//! The server under a fleet: simulated kiosks over real mutual TLS on loopback, each with a
//! heartbeat every 30 s and recharges at a shop's peak rate (one per kiosk every 90 s),
//! through the server to the operator simulator. Prints, asserts nothing.
//!
//! 1. Forwarding overhead at 200 kiosks: the time a forwarded request spends in the server
//!    (frame read → answer written, minus BOSS's time), p50/p99; and the round trip through
//!    the server next to the round trip straight to boss-sim.
//! 2. Scale: 200 → 2,000 kiosks on one instance with SQLite, and on two instances sharing
//!    PostgreSQL (when one is reachable: `TELEKIOSK_HQ_PG` or `pg_virtualenv`); for each
//!    count, heartbeats answered within 1 s ("on time") and the slowest; the highest count
//!    with every heartbeat on time.
//!
//! `cargo bench -p telekiosk-hq --bench fleet`. `HQ_BENCH_QUICK=1` runs a reduced version
//! (seconds, for a debug build: `HQ_BENCH_QUICK=1 cargo test -p telekiosk-hq --bench fleet`
//! does not run it — `cargo bench` does; the numbers of a quick run mean little).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use boss_protocol::{Reply, Request, Response};
use common::*;
use telekiosk_hq::app::Running;

const NUMBERS: [&str; 4] = ["13800000000", "13900000001", "18800000007", "13900000005"];

#[derive(Default)]
struct Stats {
    hb: std::sync::Mutex<Vec<u32>>,
    rtt: std::sync::Mutex<Vec<u32>>,
    failed: AtomicU64,
    retries: AtomicU64,
}

fn us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn pct(sorted: &[u32], p: usize) -> f64 {
    let i = (sorted.len().saturating_sub(1) * p) / 100;
    f64::from(sorted.get(i).copied().unwrap_or(0)) / 1000.0
}

static RUNS: AtomicU64 = AtomicU64::new(0);

struct Plan {
    hb_every: Duration,
    txn_every: Duration,
    run_for: Duration,
}

/// One simulated kiosk: heartbeats and recharges on its schedule until `until`.
#[allow(clippy::too_many_arguments)]
async fn kiosk(
    addr: std::net::SocketAddr,
    certs: std::path::PathBuf,
    id: String,
    seed: u64,
    run: u64,
    plan: Arc<Plan>,
    start: Instant,
    stats: Arc<Stats>,
) {
    // Connect and greet like a kiosk: on refusal (the server caps handshakes in progress)
    // back off with jitter and try again.
    let cfg = client_config(&certs, &id);
    let mut k = None;
    for attempt in 0..30u64 {
        if let Ok(mut c) = Kiosk::connect_raw(addr, cfg.clone()).await {
            let hello = c
                .call(Request::Hello(boss_protocol::Hello {
                    software: "bench-kiosk/1".into(),
                    kiosk_time_ms: now_ms(),
                    config_version: None,
                    journal_last_seq: None,
                }))
                .await;
            if matches!(hello, Ok(Reply::Ok(Response::Hello(_)))) {
                k = Some(c);
                break;
            }
        }
        stats.retries.fetch_add(1, Ordering::Relaxed);
        let d = 100u64 << attempt.min(4);
        tokio::time::sleep(Duration::from_millis(
            d / 2 + (seed.wrapping_mul(31).wrapping_add(attempt * 17)) % (d / 2 + 1),
        ))
        .await;
    }
    let Some(mut k) = k else {
        stats.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let until = start + plan.run_for;
    // Staggered: kiosks do not beat or pay in lockstep.
    let spread = |every: Duration, salt: u64| {
        let ms = u64::try_from(every.as_millis()).unwrap_or(1).max(1);
        Duration::from_millis((seed.wrapping_mul(0x9E37_79B9).wrapping_add(salt)) % ms)
    };
    let mut next_hb = start + spread(plan.hb_every, 1);
    let mut next_txn = start + spread(plan.txn_every, 7);
    let mut n = 0u64;
    while next_hb.min(next_txn) < until {
        let at = next_hb.min(next_txn);
        tokio::time::sleep_until(at.into()).await;
        if next_hb <= next_txn {
            let t = Instant::now();
            match k.call(Request::Heartbeat(heartbeat("idle"))).await {
                Ok(Reply::Ok(_)) => stats.hb.lock().unwrap().push(us(t.elapsed())),
                _ => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            next_hb += plan.hb_every;
        } else {
            n += 1;
            let t = Instant::now();
            let number = NUMBERS[usize::try_from(seed.wrapping_add(n) % 4).unwrap_or(0)];
            match k
                .call(recharge(&format!("{id}-R{run}-{n}"), number, 100))
                .await
            {
                Ok(Reply::Ok(_)) => stats.rtt.lock().unwrap().push(us(t.elapsed())),
                _ => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            next_txn += plan.txn_every;
        }
    }
}

/// Runs `count` kiosks against `addrs` (spread over them) with `plan`.
async fn fleet(
    addrs: &[std::net::SocketAddr],
    certs: &std::path::Path,
    ids: &[String],
    plan: Plan,
) -> (Arc<Stats>, Duration) {
    let plan = Arc::new(plan);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let stats = Arc::new(Stats::default());
    // Connections are opened before the clock starts (a fleet is connected, not connecting).
    let start =
        Instant::now() + Duration::from_millis(500 + 3 * u64::try_from(ids.len()).unwrap_or(0));
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let addr = addrs[i % addrs.len()];
        let seed = u64::try_from(i).unwrap_or(0);
        tasks.push(tokio::spawn(kiosk(
            addr,
            certs.to_owned(),
            id.clone(),
            seed,
            run,
            plan.clone(),
            start,
            stats.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    (stats, start.elapsed())
}

fn sorted(v: &std::sync::Mutex<Vec<u32>>) -> Vec<u32> {
    let mut v = std::mem::take(&mut *v.lock().unwrap());
    v.sort_unstable();
    v
}

async fn overhead(w: &World, hq: &Running, ids: &[String], quick: bool) {
    let run_for = if quick {
        Duration::from_secs(4)
    } else {
        Duration::from_secs(40)
    };
    let plan = || Plan {
        hb_every: Duration::from_secs(30),
        txn_every: if quick {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(5)
        },
        run_for,
    };
    hq.shared.metrics.take_overheads();
    let (via, _) = fleet(&[hq.addr], &w.certs(), ids, plan()).await;
    let mut over = hq.shared.metrics.take_overheads();
    over.sort_unstable();
    let (direct, _) = fleet(&[w.sim.addr], &w.certs(), ids, plan()).await;
    let (via, direct) = (sorted(&via.rtt), sorted(&direct.rtt));
    println!(
        "Forwarding at {} kiosks (recharges every {:?} per kiosk, {} forwarded):",
        ids.len(),
        plan().txn_every,
        over.len()
    );
    println!("  {:<44} {:>9} {:>9}", "", "p50 ms", "p99 ms");
    println!(
        "  {:<44} {:>9.3} {:>9.3}",
        "overhead added by the server (in the server)",
        pct(&over, 50),
        pct(&over, 99)
    );
    println!(
        "  {:<44} {:>9.3} {:>9.3}",
        "recharge round trip through the server",
        pct(&via, 50),
        pct(&via, 99)
    );
    println!(
        "  {:<44} {:>9.3} {:>9.3}",
        "recharge round trip straight to boss-sim",
        pct(&direct, 50),
        pct(&direct, 99)
    );
}

async fn scale(
    label: &str,
    w: &World,
    instances: &[Running],
    ids: &[String],
    counts: &[usize],
    quick: bool,
) {
    let addrs: Vec<_> = instances.iter().map(|r| r.addr).collect();
    println!(
        "Scale, {label}: heartbeat every {} s, a recharge per kiosk every {} s; on time = answered within 1 s",
        if quick { 1 } else { 30 },
        if quick { 3 } else { 90 }
    );
    println!(
        "  {:>7} {:>10} {:>8} {:>9} {:>9} {:>9} {:>10} {:>11} {:>8} {:>7}",
        "kiosks",
        "heartbeats",
        "late",
        "p50 ms",
        "p99 ms",
        "max ms",
        "recharges",
        "rch p99 ms",
        "reconnects",
        "failed"
    );
    let mut best = 0;
    for &n in counts {
        let plan = if quick {
            Plan {
                hb_every: Duration::from_secs(1),
                txn_every: Duration::from_secs(3),
                run_for: Duration::from_secs(3),
            }
        } else {
            Plan {
                hb_every: Duration::from_secs(30),
                txn_every: Duration::from_secs(90),
                run_for: Duration::from_secs(65),
            }
        };
        let (stats, _) = fleet(&addrs, &w.certs(), &ids[..n], plan).await;
        let hb = sorted(&stats.hb);
        let rtt = sorted(&stats.rtt);
        let late = hb.iter().filter(|x| **x > 1_000_000).count();
        let failed = stats.failed.load(Ordering::Relaxed);
        let retries = stats.retries.load(Ordering::Relaxed);
        println!(
            "  {:>7} {:>10} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>10} {:>11.2} {:>8} {:>7}",
            n,
            hb.len(),
            late,
            pct(&hb, 50),
            pct(&hb, 99),
            pct(&hb, 100),
            rtt.len(),
            pct(&rtt, 99),
            retries,
            failed
        );
        if late == 0 && failed == 0 && !hb.is_empty() {
            best = n;
        }
    }
    println!("  highest kiosk count with every heartbeat on time: {best}");
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::var("HQ_BENCH_QUICK").is_ok_and(|v| v == "1");
    let counts: Vec<usize> = if quick {
        vec![20, 50]
    } else {
        vec![200, 500, 1000, 2000]
    };
    let max = counts.iter().copied().max().unwrap_or(200);
    let ids: Vec<String> = (1..=max).map(|i| format!("B{i:04}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    println!(
        "telekiosk-hq fleet benchmark ({} build, {} cores){}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        if quick { " — quick mode" } else { "" }
    );
    println!("kiosks, server and boss-sim share this machine; mutual TLS 1.3 on loopback");
    println!();

    let w = World::new(DbKind::Sqlite, &refs).await;
    let mut cfg = w.config();
    cfg.alerts.interval_ms = 30_000;
    cfg.flush_interval_ms = 1_000;
    cfg.poll_interval_ms = 500;
    let hq = w.hq_with(cfg.clone()).await;
    let n200 = if quick { 20 } else { 200 };
    overhead(&w, &hq, &ids[..n200], quick).await;
    println!();
    scale(
        "one instance, SQLite",
        &w,
        std::slice::from_ref(&hq),
        &ids,
        &counts,
        quick,
    )
    .await;
    drop(hq);
    println!();
    match pg_url() {
        Some(url) => {
            let schema = format!("bench_{}", std::process::id());
            let wp = World {
                dir: w.dir,
                sim: w.sim,
                db: DbKind::Postgres { url, schema },
            };
            let mut cfg = wp.config();
            cfg.alerts.interval_ms = 30_000;
            cfg.flush_interval_ms = 1_000;
            cfg.poll_interval_ms = 500;
            let a = wp.hq_with(cfg.clone()).await;
            let b = wp.hq_with(cfg).await;
            scale(
                "two instances, PostgreSQL",
                &wp,
                &[a, b],
                &ids,
                &counts,
                quick,
            )
            .await;
        }
        None => println!(
            "PostgreSQL part skipped: no PostgreSQL reachable (set TELEKIOSK_HQ_PG or run under pg_virtualenv)"
        ),
    }
}
