//! The kiosk's own processing time per cash top-up, and the journal's durable writes.
//!
//! Runs complete top-ups (number, confirmation, three notes, recharge, receipt) through
//! the real flow state machine and the real journal on disk (WAL, synchronous=FULL),
//! lays out the receipt and encodes it to ESC/POS — everything the kiosk does itself,
//! nothing of the time spent waiting for devices, the customer or the operator.
//! Prints numbers; asserts nothing. `cargo bench --bench topup`.

use std::time::{Duration, Instant};

use bill_acceptor::AcceptorEvent;
use boss_protocol::{Msisdn, PaymentKind, RechargeOk, Response, SubscriberStatus, TxnId};
use telekiosk::flow::topup::{Config, TopUp};
use telekiosk::flow::{Effect, Flow, Input, PrintResult, ReqId, Ui};
use telekiosk::journal::Journal;
use telekiosk::receipts::{Letterhead, render};
use telekiosk::runtime::journal::{Written, write};

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
    let mut money_commits = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let before = journal.commits();
        let start = Instant::now();
        let mut flow_time = Duration::ZERO;
        let mut txn = String::new();
        let mut papers: Vec<(ReqId, i64)> = Vec::new();
        let lookup = Ok(Response::SubscriberLookup(boss_protocol::Subscriber {
            msisdn: Msisdn::new("13800000000"),
            owner_name_masked: "*小明".into(),
            status: SubscriberStatus::Active,
            payment: PaymentKind::Prepaid,
            balance_fen: 1000,
            arrears_fen: 0,
            real_name: true,
        }));
        let recharge = Ok(Response::Recharge(RechargeOk {
            txn_id: TxnId::new("T"),
            operator_ref: format!("B{i}"),
            msisdn: Msisdn::new("13800000000"),
            amount_fen: 5000,
            balance_after_fen: 6000,
            credited_at_ms: 0,
        }));
        let mut inputs: Vec<Input> = vec![
            Input::Ui(Ui::Number("13800000000".into())),
            Input::Operator {
                req: ReqId(1),
                result: lookup,
            },
            Input::Ui(Ui::Confirm),
            Input::TxnOpened { id: String::new() },
            Input::Acceptor(AcceptorEvent::Escrow { fen: 2000 }),
            Input::Acceptor(AcceptorEvent::Credit { fen: 2000 }),
            Input::Acceptor(AcceptorEvent::Escrow { fen: 2000 }),
            Input::Acceptor(AcceptorEvent::Credit { fen: 2000 }),
            Input::Acceptor(AcceptorEvent::Escrow { fen: 1000 }),
            Input::Acceptor(AcceptorEvent::Credit { fen: 1000 }),
            Input::Ui(Ui::Finish),
            Input::Operator {
                req: ReqId(2),
                result: recharge,
            },
            Input::Printed {
                req: ReqId(3),
                result: PrintResult::Printed,
            },
            Input::Ui(Ui::Confirm),
        ];
        let t0 = Instant::now();
        let (mut flow, _) = TopUp::start(Config::default(), 0);
        flow_time += t0.elapsed();
        let mut notes_in = 0;
        for (step, mut input) in inputs.drain(..).enumerate() {
            if let Input::TxnOpened { id } = &mut input {
                id.clone_from(&txn);
            }
            let is_credit = matches!(input, Input::Acceptor(AcceptorEvent::Credit { .. }));
            let t = Instant::now();
            let effects = flow.handle(input, u64::try_from(step).unwrap_or(0));
            flow_time += t.elapsed();
            let commits_before = journal.commits();
            for effect in effects {
                let now = 1_795_000_000_000 + i64::try_from(step).unwrap_or(0);
                match effect {
                    Effect::Journal(op) => {
                        let paper = match &op {
                            telekiosk::flow::JournalOp::PaperDone { req, .. } => {
                                papers.iter().find(|(r, _)| r == req).map(|(_, id)| *id)
                            }
                            _ => None,
                        };
                        let sent = match &op {
                            telekiosk::flow::JournalOp::PaperSent { req, .. } => Some(*req),
                            _ => None,
                        };
                        match write(&mut journal, &txn, op, paper, now).expect("journal") {
                            Written::Opened(id) => txn = id,
                            Written::Paper(id) => papers.push((sent.expect("paper req"), id)),
                            Written::Done | Written::Card(_) => {}
                        }
                    }
                    Effect::Print { paper, .. } => {
                        let doc = render(&paper, &letterhead, now);
                        std::hint::black_box(receipt_printer::escpos::encode_receipt(&doc));
                    }
                    _ => {}
                }
            }
            if is_credit {
                notes_in += journal.commits() - commits_before;
            }
        }
        assert!(flow.is_ended(), "the top-up ran to its end");
        total.push(start.elapsed());
        flow_only.push(flow_time);
        commits_per.push(journal.commits() - before);
        money_commits.push(notes_in);
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
    let per_note = money_commits.iter().sum::<u64>() / (runs * 3);
    println!(
        "  journal commits per note credited: {per_note} (note, cash box and total in one write)"
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
