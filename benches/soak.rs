//! Soak: top-ups one after another through the kiosk runtime against the simulators (bill
//! acceptor and printer over pseudo-terminals, the self-service system server and the
//! operator simulator behind it over mutual TLS),
//! printing the process's resident memory at start, every tenth of the run and at the end
//! (target: ≤ 80 MB and flat), and the journal's durable commits per top-up and per note.
//!
//! `cargo bench --bench soak` runs 10,000 top-ups (hours: every note goes through the
//! acceptor's real polling cycle); `SOAK_TOPUPS=500 cargo bench --bench soak` a short one.
//! Prints numbers; asserts only that every top-up was credited.

use std::time::{Duration, Instant};

use bill_acceptor::Protocol;
use bill_acceptor::sim::Action;
use telekiosk::demo::{DemoKiosk, World, demo_options, kiosk_config};
use telekiosk::flow::screen::ReceiptState;
use telekiosk::flow::{Screen, ServiceId, Ui};
use telekiosk::runtime::kiosk::Note;
use telekiosk::runtime::screen::{Availability, KioskStatus, ScreenUpdate, UiEvent};

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

async fn next(k: &mut DemoKiosk) -> ScreenUpdate {
    tokio::time::timeout(Duration::from_secs(60), k.screen.recv())
        .await
        .expect("the screen went quiet")
        .expect("the kiosk stopped")
}

async fn one_top_up(k: &mut DemoKiosk, w: &World, ready: &mut bool) -> u64 {
    while !*ready {
        if let ScreenUpdate::Services(list) = next(k).await {
            *ready = list.iter().any(|s| {
                s.service == ServiceId::TopUp && s.availability == Availability::Available
            });
        }
    }
    k.ui.send(UiEvent::Start(ServiceId::TopUp)).await.unwrap();
    let mut inserted = false;
    loop {
        match next(k).await {
            ScreenUpdate::Show(Screen::EnterNumber { .. }) => {
                k.ui.send(UiEvent::Customer(Ui::Number("13800000000".into())))
                    .await
                    .unwrap()
            }
            ScreenUpdate::Show(Screen::Confirm { .. }) => {
                k.ui.send(UiEvent::Customer(Ui::Confirm)).await.unwrap()
            }
            ScreenUpdate::Show(Screen::Insert(v)) => {
                if !inserted {
                    inserted = true;
                    w.bill.send(Action::Insert { fen: 1000 }).await.unwrap();
                } else if v.can_finish {
                    k.ui.send(UiEvent::Customer(Ui::Finish)).await.unwrap();
                }
            }
            ScreenUpdate::Show(Screen::Result { receipt, .. })
                if receipt != ReceiptState::Printing =>
            {
                k.ui.send(UiEvent::Customer(Ui::Confirm)).await.unwrap()
            }
            ScreenUpdate::Status(s) => *ready = s == KioskStatus::InService && *ready,
            ScreenUpdate::End => break,
            _ => {}
        }
    }
    k.wait_note(Duration::from_secs(30), |n| match n {
        Note::SessionEnded { money_fen, .. } => Some(*money_fen),
        _ => None,
    })
    .await
    .expect("the session ended")
}

fn main() {
    let n: usize = std::env::var("SOAK_TOPUPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let every = (n / 10).max(1);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let w = World::start(dir.path(), Protocol::Ssp, true).await.unwrap();
        let cfg = kiosk_config(
            dir.path(),
            &w.link_address(),
            &w.certs,
            Some((&w.bill_path, w.protocol)),
            Some(&w.printer_path),
            Default::default(),
        );
        let mut k = DemoKiosk::start(&cfg, demo_options()).unwrap();
        let mut ready = false;
        // Warm up once so the first measurement is of a kiosk that has served.
        one_top_up(&mut k, &w, &mut ready).await;
        let start_rss = rss_mb();
        let commits0 = k.journal.run(|j| j.commits()).await.unwrap();
        println!("soak: {n} cash top-ups of one ¥10 note through the kiosk runtime and the simulators");
        println!("  RSS at start: {start_rss:.1} MB (kiosk runtime, simulators, server and operator simulator in one process)");
        let t0 = Instant::now();
        let mut peak = start_rss;
        for i in 1..=n {
            let took = one_top_up(&mut k, &w, &mut ready).await;
            assert_eq!(took, 1000, "top-up {i} took {took} fen");
            if i % every == 0 || i == n {
                let rss = rss_mb();
                peak = peak.max(rss);
                let commits = k.journal.run(|j| j.commits()).await.unwrap() - commits0;
                println!(
                    "  after {i:>6} top-ups: RSS {rss:.1} MB, {:.2} s per top-up, {:.1} journal commits per top-up",
                    t0.elapsed().as_secs_f64() / i as f64,
                    commits as f64 / i as f64
                );
            }
        }
        let check = k.journal.run(|j| j.check(false)).await.unwrap().unwrap();
        println!(
            "  end: RSS {:.1} MB (peak {peak:.1} MB, growth {:+.1} MB over {n} top-ups); journal check: {}",
            rss_mb(),
            rss_mb() - start_rss,
            if check.is_ok() { "ok" } else { "BROKEN" }
        );
        println!(
            "  durable commits per money step: 1 per note credited (note, cash box and total in one write), \
             1 per recharge sent, 1 per answer, 1 per settlement"
        );
        let _ = k.stop.send(true);
        let _ = k.task.await;
    });
}
