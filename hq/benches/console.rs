//! The console's pages under a fleet's data: 2,000 kiosks in 100 shops with heartbeats,
//! locks, faults and a configuration rolled out to all, and a year of transactions (four
//! per kiosk and day: 2.9 million) in the store — on SQLite, and on PostgreSQL when one is
//! reachable (`TELEKIOSK_HQ_PG` or `pg_virtualenv`). For each page it prints the time the
//! server spent (its `Server-Timing` header: request in → page out, database included),
//! p50 and p99 over repeated requests, against the target of 200 ms. Prints, asserts
//! nothing.
//!
//! `cargo bench -p telekiosk-hq --bench console`; `HQ_BENCH_QUICK=1` seeds 200 kiosks and
//! 30 days (seconds; the numbers of a quick run mean little).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/console_support/mod.rs"]
mod console_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use boss_protocol::{CashBox, DeviceHealth, DeviceKind, DeviceState, NoteCount, Request};
use console_support::Http;
use telekiosk_hq::Target;
use telekiosk_hq::boss::{Boss, BossError, BossFuture};
use telekiosk_hq::db::V;
use telekiosk_hq::store::{ForwardedTxn, Store, StoreError, format_day, now_ms, parse_day, today};
use telekiosk_hq::store_console::{Role, StaffAccount, insert_txn_rows};
use telekiosk_hq::web::{self, Web};

/// The pages never reach the operator (no reconciliation is run).
#[derive(Debug)]
struct NoBoss;

impl Boss for NoBoss {
    fn call<'a>(&'a self, _: &'a str, _: Request, _: Duration) -> BossFuture<'a> {
        Box::pin(async { Err(BossError::NotSent("benchmark".into())) })
    }
}

#[derive(Debug, Clone, Copy)]
struct Size {
    kiosks: usize,
    shops: usize,
    days: i64,
    per_day: usize,
    repeat: usize,
}

/// A small deterministic generator (the same data every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        let i = usize::try_from(self.next()).unwrap_or(0) % xs.len();
        xs[i]
    }
}

fn kiosk_id(n: usize) -> String {
    format!("K{n:05}")
}

fn shop_id(n: usize) -> String {
    format!("S{n:03}")
}

fn seed(store: &Store, size: &Size, certs: &std::path::Path) -> Result<(), StoreError> {
    let now = now_ms();
    let t0 = Instant::now();
    // Shops, kiosks with their last heartbeat, and an instance holding most connections.
    store.db().tx(|s| -> Result<(), StoreError> {
        for sh in 0..size.shops {
            s.exec(
                "INSERT INTO shops(shop_id, name) VALUES ($1, $2)",
                &[shop_id(sh).into(), format!("第{}营业厅", sh + 1).into()],
            )?;
        }
        s.exec(
            "INSERT INTO instances(instance_id, listen, started_ms, beat_ms) VALUES ('bench', 'x', $1, $2)",
            &[now.into(), (now + 86_400_000).into()],
        )?;
        let mut rng = Lcg(7);
        for chunk in (0..size.kiosks).collect::<Vec<_>>().chunks(100) {
            let mut sql = String::from(
                "INSERT INTO kiosks(kiosk_id, shop_id, first_seen_ms, last_seen_ms, last_heartbeat_ms, \
                 software, config_version, devices, cash_box, cash_notes, cash_capacity, cash_total_fen, \
                 blank_sims, reject_bin, screen, screen_since_ms, locked, lock_reason) VALUES ",
            );
            let mut p: Vec<V> = Vec::new();
            for (i, k) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(',');
                }
                let b = i * 18;
                sql.push('(');
                sql.push_str(&(1..=18).map(|c| format!("${}", b + c)).collect::<Vec<_>>().join(","));
                sql.push(')');
                let fault = k % 67 == 0;
                let devices = vec![
                    DeviceHealth { device: DeviceKind::BillAcceptor, state: DeviceState::Ok, condition: None },
                    DeviceHealth {
                        device: DeviceKind::ReceiptPrinter,
                        state: if fault { DeviceState::Fault } else { DeviceState::Ok },
                        condition: fault.then(|| "paper_out".to_owned()),
                    },
                ];
                let notes: Vec<NoteCount> = [1_000u64, 2_000, 5_000, 10_000]
                    .iter()
                    .map(|d| NoteCount { denomination_fen: *d, count: u32::try_from(rng.next() % 200).unwrap_or(0) })
                    .collect();
                let total: u64 = notes.iter().map(|n| n.denomination_fen * u64::from(n.count)).sum();
                let count: u64 = notes.iter().map(|n| u64::from(n.count)).sum();
                let cash = CashBox { notes, total_fen: total, capacity_notes: Some(1000) };
                p.extend([
                    kiosk_id(*k).into(),
                    shop_id(k % size.shops).into(),
                    (now - 400 * 86_400_000).into(),
                    (now - 5_000).into(),
                    (now - 5_000).into(),
                    "telekiosk/0.1.0".into(),
                    1i64.into(),
                    serde_json::to_string(&devices).map_err(StoreError::from)?.into(),
                    serde_json::to_string(&cash).map_err(StoreError::from)?.into(),
                    i64::try_from(count).unwrap_or(0).into(),
                    1000i64.into(),
                    i64::try_from(total).unwrap_or(0).into(),
                    i64::try_from(rng.next() % 100).unwrap_or(0).into(),
                    0i64.into(),
                    "idle".into(),
                    (now - 60_000).into(),
                    (k % 97 == 0).into(),
                    if k % 97 == 0 { V::from("maintenance") } else { V::T(None) },
                ]);
            }
            s.exec(&sql, &p)?;
        }
        for k in 0..size.kiosks {
            if k % 23 != 0 {
                s.exec(
                    "INSERT INTO connections(kiosk_id, instance_id, conn_id, peer, since_ms) VALUES ($1,'bench',$2,'127.0.0.1:1',$3)",
                    &[kiosk_id(k).into(), i64::try_from(k).unwrap_or(0).into(), now.into()],
                )?;
            }
        }
        Ok(())
    })?;
    // A year of transactions, one database transaction per day.
    let end = parse_day(&today())?;
    let mut rng = Lcg(42);
    let mut rows = 0usize;
    for back in (0..size.days).rev() {
        let day = end - time::Duration::days(back);
        let noon = i64::try_from(
            day.with_hms(10, 0, 0)
                .map_err(|e| StoreError::Invalid(e.to_string()))?
                .assume_offset(telekiosk_hq::store::CST)
                .unix_timestamp_nanos()
                / 1_000_000,
        )
        .unwrap_or(0);
        let mut txns = Vec::with_capacity(size.kiosks * size.per_day);
        for k in 0..size.kiosks {
            for n in 0..size.per_day {
                let op = rng.pick(&[
                    "recharge",
                    "recharge",
                    "recharge",
                    "recharge",
                    "recharge",
                    "recharge",
                    "new_sim_order",
                    "replacement_sim",
                ]);
                let amount = rng.pick(&[
                    1_000i64, 2_000, 3_000, 5_000, 10_000, 20_000, 30_000, 50_000, 60_000,
                ]);
                let arrears = if op == "recharge" && rng.next().is_multiple_of(10) {
                    amount / 4
                } else {
                    0
                };
                txns.push(ForwardedTxn {
                    kiosk_id: kiosk_id(k),
                    txn_id: format!("T{}-{k}-{n}", format_day(day)),
                    op: op.into(),
                    at_ms: noon + i64::try_from(n * 3_600_000 + k).unwrap_or(0),
                    amount_fen: amount,
                    state: if rng.next().is_multiple_of(33) {
                        "failed"
                    } else {
                        "committed"
                    }
                    .into(),
                    code: None,
                    arrears_fen: arrears,
                    operator_ref: None,
                    reverses: None,
                });
            }
        }
        rows += txns.len();
        store.db().tx(|s| insert_txn_rows(s, &txns))?;
    }
    // The per-shop totals the reports read (a bulk load bypasses `record_txns`).
    store
        .db()
        .tx(telekiosk_hq::store_console::rebuild_rollups)?;
    // Refund vouchers, reconciliation of yesterday for every kiosk with a few differences.
    let yesterday = format_day(end - time::Duration::days(1));
    store.db().tx(|s| -> Result<(), StoreError> {
        for k in (0..size.kiosks).step_by(40) {
            s.exec(
                "INSERT INTO journal(kiosk_id, seq, txn_id, at_ms, day, op, msisdn_masked, amount_fen, state, detail, received_ms, voucher_fen, credited_fen) \
                 VALUES ($1, 1, $2, $3, $4, 'recharge', '138****0000', 2000, 'failed', NULL, $3, 2000, 0)",
                &[kiosk_id(k).into(), format!("V{k}").into(), (now - 86_400_000).into(), yesterday.as_str().into()],
            )?;
        }
        for k in 0..size.kiosks {
            let balanced = k % 50 != 0;
            s.exec(
                "INSERT INTO recon_runs(kiosk_id, day, run_ms, balanced, kiosk_count, kiosk_amount_fen, operator_count, operator_amount_fen) \
                 VALUES ($1,$2,$3,$4,4,80000,4,$5)",
                &[kiosk_id(k).into(), yesterday.as_str().into(), now.into(), balanced.into(), if balanced { 80_000i64 } else { 70_000 }.into()],
            )?;
            if !balanced {
                s.exec(
                    "INSERT INTO recon_mismatches(kiosk_id, day, txn_id, kind, op, kiosk_amount_fen, operator_amount_fen, kiosk_state, operator_state) \
                     VALUES ($1,$2,$3,'missing_at_operator','recharge',10000,NULL,'committed',NULL)",
                    &[kiosk_id(k).into(), yesterday.as_str().into(), format!("T-miss-{k}").into()],
                )?;
            }
        }
        Ok(())
    })?;
    // A configuration rolled out to the whole fleet; alerts evaluated; an administrator.
    let key = telekiosk_settings::bundle::load_signing_key(
        &certs.join(telekiosk_settings::bundle::DEV_SIGNING_KEY),
    )
    .map_err(|e| StoreError::Invalid(e.to_string()))?;
    store.create_bundle(
        "bench",
        "[topup]\nmax_yuan = 800\n",
        &key,
        Some("benchmark"),
    )?;
    store.rollout("bench", 1, &Target::Fleet)?;
    store.evaluate_alerts(&telekiosk_hq::alerts::AlertRules::default())?;
    store.add_staff(
        "bench",
        &StaffAccount {
            username: "admin".into(),
            display_name: "admin".into(),
            role: Role::Admin,
            shops: vec![],
            password_hash: web::auth::hash_password("benchmark password")
                .map_err(StoreError::Invalid)?,
            created_ms: 0,
            disabled: false,
        },
    )?;
    println!(
        "  seeded {} kiosks in {} shops, {rows} transactions over {} days in {:.1} s",
        size.kiosks,
        size.shops,
        size.days,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn pct(sorted: &[f64], p: usize) -> f64 {
    let i = (sorted.len().saturating_sub(1) * p).div_ceil(100);
    sorted.get(i).copied().unwrap_or(0.0)
}

async fn measure(name: &str, store: Store, size: &Size, certs: &std::path::Path) {
    println!("\n{name}");
    {
        let (s, c) = (store.clone(), certs.to_owned());
        let sz = *size;
        if let Err(e) = tokio::task::spawn_blocking(move || seed(&s, &sz, &c))
            .await
            .expect("seed task")
        {
            println!("  seeding failed: {e}");
            return;
        }
    }
    let settings = telekiosk_hq::config::ConsoleSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..Default::default()
    };
    let web = Web::new(
        store,
        Arc::new(NoBoss),
        settings,
        certs.join(telekiosk_settings::bundle::DEV_SIGNING_KEY),
    );
    let console = web::start(web).await.expect("console");
    let mut h = Http::new(console.addr);
    let r = h.sign_in("admin", "benchmark password").await;
    assert_eq!(r.status, 303, "sign in");
    let end = today();
    let year_ago =
        format_day(parse_day(&end).expect("today") - time::Duration::days(size.days - 1));
    let yesterday = format_day(parse_day(&end).expect("today") - time::Duration::days(1));
    let pages: Vec<(String, String)> = vec![
        ("fleet".into(), "/fleet".into()),
        (
            "fleet, offline, one shop".into(),
            "/fleet?shop=S007&state=offline".into(),
        ),
        ("kiosk".into(), "/kiosk/K00042".into()),
        ("configuration".into(), "/config".into()),
        (
            "configuration version, 2,000 kiosks' status".into(),
            "/config/1".into(),
        ),
        ("report daily (this month)".into(), "/reports/daily".into()),
        (
            "report period (this month)".into(),
            "/reports/period".into(),
        ),
        (
            "report months (two months)".into(),
            "/reports/months".into(),
        ),
        (
            "report payments (this month)".into(),
            "/reports/payments".into(),
        ),
        (
            "report services (this month)".into(),
            "/reports/services".into(),
        ),
        ("report bands (this month)".into(), "/reports/bands".into()),
        (
            "report daily, one shop, the year".into(),
            format!("/reports/daily?from={year_ago}&to={end}&shop=S001"),
        ),
        (
            "report period, the year".into(),
            format!("/reports/period?from={year_ago}&to={end}"),
        ),
        (
            "report months, the year".into(),
            format!("/reports/months?from={year_ago}&to={end}"),
        ),
        (
            "report CSV daily (this month)".into(),
            "/reports/daily?format=csv".into(),
        ),
        (
            "reconciliation (yesterday)".into(),
            format!("/recon?day={yesterday}"),
        ),
        ("audit log".into(), "/audit".into()),
    ];
    println!(
        "  {:<46} {:>9} {:>9} {:>9} {:>9}  target 200 ms",
        "page", "p50 ms", "p99 ms", "max ms", "KiB"
    );
    for (label, path) in pages {
        let mut server = Vec::new();
        let mut bytes = 0;
        for i in 0..size.repeat + 1 {
            let r = h.get(&path).await;
            if r.status != 200 {
                println!("  {label:<46} answered {}", r.status);
                break;
            }
            let ms: f64 = r
                .header("server-timing")
                .and_then(|t| t.strip_prefix("app;dur="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN);
            bytes = r.body.len();
            if i > 0 {
                server.push(ms); // the first request warms caches
            }
        }
        if server.is_empty() {
            continue;
        }
        server.sort_by(f64::total_cmp);
        let p99 = pct(&server, 99);
        println!(
            "  {label:<46} {:>9.1} {:>9.1} {:>9.1} {:>9}  {}",
            pct(&server, 50),
            p99,
            server.last().copied().unwrap_or(0.0),
            bytes / 1024,
            if p99 <= 200.0 { "ok" } else { "OVER" }
        );
    }
    console.stop().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::var("HQ_BENCH_QUICK").is_ok_and(|v| v == "1");
    let size = if quick {
        Size {
            kiosks: 200,
            shops: 10,
            days: 30,
            per_day: 4,
            repeat: 5,
        }
    } else {
        Size {
            kiosks: 2_000,
            shops: 100,
            days: 365,
            per_day: 4,
            repeat: 20,
        }
    };
    println!(
        "Console pages: server time per page ({} kiosks, {} days × {} transactions per kiosk){}",
        size.kiosks,
        size.days,
        size.per_day,
        if quick { " — QUICK" } else { "" }
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    telekiosk_settings::bundle::generate_dev_keys(&certs).expect("keys");
    let sqlite = Store::open(&format!(
        "sqlite:{}",
        dir.path().join("hq.sqlite3").display()
    ))
    .expect("sqlite");
    measure("SQLite", sqlite, &size, &certs).await;
    match common::pg_url() {
        Some(url) => {
            let schema = format!("bench_console_{}", std::process::id());
            match Store::open_in(&url, Some(&schema)) {
                Ok(pg) => measure("PostgreSQL", pg, &size, &certs).await,
                Err(e) => println!("\nPostgreSQL: cannot open ({e})"),
            }
        }
        None => println!("\nPostgreSQL: skipped (set TELEKIOSK_HQ_PG or run under pg_virtualenv)"),
    }
}
