//! The kiosk's own processing time per cash top-up, and the journal's durable writes.
//!
//! Runs complete top-ups (number, confirmation, three notes, recharge, receipt) through
//! the real flow state machine and the real journal on disk (WAL, synchronous=FULL),
//! lays out the receipt and encodes it to ESC/POS — everything the kiosk does itself,
//! nothing of the time spent waiting for devices, the customer or the operator.
//! Prints numbers; asserts nothing. `cargo bench --bench topup`.

use std::time::{Duration, Instant};

use bill_acceptor::AcceptorEvent;
use telekiosk::flow::topup::{Cmd, Config, Credited, Event, PrintResult, Subscriber, TopUp, Ui};
use telekiosk::journal::{Journal, NewTxn, NoteSource, Phase};
use telekiosk::receipts::{Letterhead, topup as receipt};

fn main() {
    let iterations: usize = std::env::var("TOPUP_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut journal = Journal::open(dir.path().join("journal.sqlite"), "K0001").expect("journal");
    let letterhead = Letterhead::default();

    let mut flow_only = Vec::with_capacity(iterations);
    let mut total = Vec::with_capacity(iterations);
    let mut commits_per = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let before = journal.commits();
        let start = Instant::now();
        let mut flow_time = Duration::ZERO;
        let mut txn = String::new();
        let sub = Subscriber {
            owner_masked: "*小明".into(),
            status: telekiosk::flow::topup::AccountStatus::Active,
            prepaid: true,
            balance_fen: 1000,
            arrears_fen: 0,
        };
        let events = [
            Event::Ui(Ui::Number("13800000000".into())),
            Event::Lookup(Ok(sub)),
            Event::Ui(Ui::Confirm),
            Event::TxnOpened { id: String::new() },
            Event::Ui(Ui::Confirm),
            Event::Acceptor(AcceptorEvent::Escrow { fen: 2000 }),
            Event::Acceptor(AcceptorEvent::Credit { fen: 2000 }),
            Event::Acceptor(AcceptorEvent::Escrow { fen: 2000 }),
            Event::Acceptor(AcceptorEvent::Credit { fen: 2000 }),
            Event::Acceptor(AcceptorEvent::Escrow { fen: 1000 }),
            Event::Acceptor(AcceptorEvent::Credit { fen: 1000 }),
            Event::Ui(Ui::Finish),
            Event::Recharge(Ok(Credited {
                boss_ref: format!("B{i}"),
                new_balance_fen: Some(6000),
            })),
            Event::Printed(PrintResult::Printed),
            Event::Ui(Ui::Confirm),
        ];
        let t0 = Instant::now();
        let (mut flow, _) = TopUp::start(Config::default(), 0);
        flow_time += t0.elapsed();
        for (step, mut event) in events.into_iter().enumerate() {
            if let Event::TxnOpened { id } = &mut event {
                id.clone_from(&txn);
            }
            let t = Instant::now();
            let cmds = flow.handle(event, u64::try_from(step).unwrap_or(0));
            flow_time += t.elapsed();
            for cmd in cmds {
                let now = 1_795_000_000_000 + i64::try_from(step).unwrap_or(0);
                match cmd {
                    Cmd::OpenTxn {
                        msisdn,
                        number_masked,
                    } => {
                        txn = journal
                            .begin(
                                &NewTxn {
                                    kind: "topup",
                                    msisdn: Some(&msisdn),
                                    msisdn_masked: &number_masked,
                                },
                                now,
                            )
                            .expect("begin");
                    }
                    Cmd::Intent { kind, detail } => journal
                        .step(&txn, kind, Phase::Intent, &detail, now)
                        .expect("step"),
                    Cmd::CreditNote { fen, .. } => journal
                        .credit_note(
                            &txn,
                            i64::try_from(fen).unwrap_or(0),
                            NoteSource::Credit,
                            now,
                        )
                        .expect("credit"),
                    Cmd::Settle {
                        credited_fen,
                        boss_ref,
                        new_balance_fen,
                    } => journal
                        .settle(
                            &txn,
                            i64::try_from(credited_fen).unwrap_or(0),
                            &boss_ref,
                            new_balance_fen,
                            now,
                        )
                        .expect("settle"),
                    Cmd::Print(r) => {
                        let doc = receipt(&r, &letterhead, now);
                        std::hint::black_box(receipt_printer::escpos::encode_receipt(&doc));
                    }
                    Cmd::RecordReceipt { .. } => journal
                        .record_receipt(&txn, "printed", now)
                        .expect("receipt"),
                    _ => {}
                }
            }
        }
        total.push(start.elapsed());
        flow_only.push(flow_time);
        commits_per.push(journal.commits() - before);
    }
    let report = journal.check(false).expect("check");
    assert!(report.is_ok(), "{:?}", report.violations);

    println!(
        "cash top-up, kiosk-side processing ({iterations} top-ups of 3 notes, journal on disk, WAL + synchronous=FULL)"
    );
    print_stats("whole top-up (flow + journal + receipt)", &mut total);
    print_stats("flow state machine alone", &mut flow_only);
    let runs = u64::try_from(commits_per.len().max(1)).unwrap_or(1);
    let mean_commits = commits_per.iter().sum::<u64>() / runs;
    println!(
        "  journal commits per top-up: {mean_commits} (each one WAL fsync under synchronous=FULL; \
         checkpoints add a few more every ~1000 pages)"
    );
}

fn print_stats(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let last = samples.len().saturating_sub(1);
    let pct = |p: usize| samples[last * p / 100];
    let mean = samples.iter().sum::<Duration>() / u32::try_from(samples.len().max(1)).unwrap_or(1);
    println!(
        "  {what}: mean {mean:?}, p50 {:?}, p99 {:?}, max {:?}",
        pct(50),
        pct(99),
        pct(100)
    );
}
