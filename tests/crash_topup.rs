//! Crash tests of the cash top-up: the kiosk process is killed (SIGKILL) at every step of
//! a top-up — before and after each journal write, device command and operator request —
//! then restarted, and the books are checked against the physical truth:
//!
//! - every note that went into the (simulated) cashbox is in the journal;
//! - the operator credited exactly what the journal says was settled, and the subscriber's
//!   balance rose by exactly that (nothing credited twice);
//! - everything not credited is on a refund voucher or pending with a reason;
//! - `journal check` passes; every customer who paid got paper (receipt or voucher).
//!
//! The devices, the self-service system server and the operator live in this test process;
//! the kiosk is the real binary, linked to the server (kiosk → server → operator, as in a
//! shop). The kill matrix is the kiosk's: the server and the operator are never killed, so
//! a request the kiosk wrote before it died is forwarded and settles at the operator
//! exactly as it would with no server between — and the books are checked in the
//! operator's ledger, where the money is.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bill_acceptor::Protocol;
use bill_acceptor::sim::{Action, SimConfig};
use telekiosk::journal::{Journal, TxnState};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

const NUMBER: &str = "13800000000";

struct World {
    dir: tempfile::TempDir,
    boss: boss_sim::app::Running,
    hq: telekiosk_hq::app::Running,
    bill: bill_acceptor::sim::Running,
    cashbox: bill_acceptor::sim::Cashbox,
    printer_path: PathBuf,
    _printer_guard: devio::SlaveGuard,
    balance_before: i64,
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        boss_protocol::pki::generate_dev(&certs, &["K0001"]).unwrap();
        let boss = boss_sim::app::start(boss_sim::app::SimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data: dir.path().join("boss"),
            certs: certs.clone(),
            clock: boss_sim::clock::Clock::system(),
            faults: boss_sim::faults::FaultSettings::default(),
        })
        .await
        .unwrap();
        let hq = telekiosk::demo::start_server(dir.path(), &certs, boss.addr)
            .await
            .unwrap();
        let config = SimConfig::cny(Protocol::Ssp);
        let cashbox = config.cashbox.clone();
        let bill = bill_acceptor::sim::spawn(config).unwrap();
        let pty = devio::Pty::new(receipt_printer::DEFAULT_LINE).unwrap();
        let printer_path = pty.path().to_path_buf();
        let (device, guard) = pty.into_parts();
        let (_ctl_tx, ctl_rx) = mpsc::channel(1);
        let (receipts_tx, mut receipts) = mpsc::channel(64);
        let sim = receipt_printer::sim::SimConfig {
            out_dir: None,
            initial: vec![],
        };
        tokio::spawn(async move {
            let _keep = _ctl_tx;
            let _ = receipt_printer::sim::run(device, sim, ctl_rx, receipts_tx).await;
        });
        tokio::spawn(async move { while receipts.recv().await.is_some() {} });
        let balance_before = balance(&boss);
        World {
            dir,
            boss,
            hq,
            bill,
            cashbox,
            printer_path,
            _printer_guard: guard,
            balance_before,
        }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("kiosk-out")
    }

    fn journal_path(&self) -> PathBuf {
        self.out().join("kiosk").join("journal.sqlite")
    }
}

fn balance(boss: &boss_sim::app::Running) -> i64 {
    boss.shared
        .service
        .store()
        .subscriber(NUMBER)
        .unwrap()
        .unwrap()
        .balance_fen
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Run the customer through, printing every crash point.
    Trace,
    /// Kill the kiosk at the n-th crash point.
    KillAt(u64),
    /// Start, recover, exit.
    Recover,
}

/// What a kiosk run did.
#[derive(Debug, Default)]
struct Run {
    points: u64,
    killed_at: Option<String>,
    success: bool,
    log: String,
}

async fn run_kiosk(w: &World, mode: Mode) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_telekiosk"));
    cmd.args(["demo", "--headless", "--scenario", "two-notes", "--out"])
        .arg(w.out())
        .arg("--bill-port")
        .arg(&w.bill.path)
        .arg("--printer-port")
        .arg(&w.printer_path)
        .arg("--boss")
        .arg(w.hq.addr.to_string())
        .arg("--certs")
        .arg(w.dir.path().join("certs"))
        .env("TELEKIOSK_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match mode {
        Mode::Trace => {
            cmd.env("TELEKIOSK_CRASH_TRACE", "1");
        }
        Mode::KillAt(n) => {
            cmd.env("TELEKIOSK_CRASH_AT", n.to_string());
        }
        Mode::Recover => {
            cmd.arg("--recover-only");
        }
    }
    let mut child = cmd.spawn().expect("start the kiosk");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut run = Run::default();
    let (mut sent_20, mut sent_10) = (false, false);
    let (mut out_open, mut err_open) = (true, true);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while out_open || err_open {
        tokio::select! {
            line = out.next_line(), if out_open => match line {
                Ok(Some(l)) => {
                    // The customer: a 20 yuan note on the empty note screen, then a 10.
                    if l.contains("[screen] 请放入纸币") {
                        if l.contains("¥0.00 in") && !sent_20 {
                            sent_20 = true;
                            w.bill.actions.send(Action::Insert { fen: 2000 }).await.unwrap();
                        } else if l.contains("¥20.00 in") && !sent_10 {
                            sent_10 = true;
                            w.bill.actions.send(Action::Insert { fen: 1000 }).await.unwrap();
                        }
                    }
                    run.log.push_str(&l);
                    run.log.push('\n');
                }
                _ => out_open = false,
            },
            line = err.next_line(), if err_open => match line {
                Ok(Some(l)) => {
                    if l.starts_with("CRASHPOINT-TRACE ") {
                        run.points += 1;
                    } else if let Some(rest) = l.strip_prefix("CRASHPOINT ") {
                        run.killed_at = Some(rest.to_string());
                        child.start_kill().unwrap();
                    }
                    run.log.push_str(&l);
                    run.log.push('\n');
                }
                _ => err_open = false,
            },
            _ = tokio::time::sleep_until(deadline) => {
                let _ = child.start_kill();
                panic!("kiosk run {mode:?} did not finish in time:\n{}", run.log);
            }
        }
    }
    let status = child.wait().await.unwrap();
    run.success = status.success();
    run
}

/// The books against the physical truth. `context` names the step for the message.
fn check_books(w: &World, context: &str) {
    let journal = Journal::open(w.journal_path(), "K0001").unwrap();
    let report = journal.check(false).unwrap();
    assert!(
        report.is_ok(),
        "{context}: journal check failed: {:?}",
        report.violations
    );

    let txns = journal.list(10_000).unwrap();
    let taken: i64 = txns.iter().map(|t| t.inserted_fen).sum();
    let cashbox = i64::try_from(w.cashbox.total_fen()).unwrap();
    assert_eq!(
        taken, cashbox,
        "{context}: the cashbox holds {cashbox} fen, the journal {taken} fen"
    );

    let store = w.boss.shared.service.store();
    let mut credited = 0;
    for t in &txns {
        let row = store.txn("K0001", &t.id).unwrap();
        let at_operator = row
            .as_ref()
            .filter(|r| r.state == "done")
            .map_or(0, |r| r.amount_fen);
        match t.state {
            TxnState::Settled => {
                assert_eq!(
                    at_operator, t.credited_fen,
                    "{context}: {} settled but operator has {row:?}",
                    t.id
                );
                credited += t.credited_fen;
            }
            TxnState::Voucher => {
                assert_eq!(
                    at_operator, t.credited_fen,
                    "{context}: {} voucher but operator has {row:?}",
                    t.id
                )
            }
            TxnState::Cancelled => {
                assert_eq!(at_operator, 0, "{context}: cancelled {} credited", t.id)
            }
            TxnState::Pending | TxnState::Open => panic!("{context}: {} left {}", t.id, t.state),
        }
        if t.inserted_fen > 0 {
            assert_eq!(
                t.receipt.as_deref(),
                Some("printed"),
                "{context}: no paper for {}",
                t.id
            );
        }
    }
    let rise = balance(&w.boss) - w.balance_before;
    assert_eq!(
        rise, credited,
        "{context}: balance rose {rise} fen, journal settled {credited} fen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_kiosk_at_every_step_loses_no_money_and_credits_nothing_twice() {
    let w = World::start().await;

    let trace = run_kiosk(&w, Mode::Trace).await;
    assert!(trace.success, "the undisturbed run failed:\n{}", trace.log);
    assert!(
        trace.points >= 20,
        "too few crash points ({}):\n{}",
        trace.points,
        trace.log
    );
    check_books(&w, "undisturbed run");

    for n in 1..=trace.points {
        let crashed = run_kiosk(&w, Mode::KillAt(n)).await;
        let step = crashed
            .killed_at
            .clone()
            .unwrap_or_else(|| format!("{n} (run ended first)"));
        let recovered = run_kiosk(&w, Mode::Recover).await;
        assert!(
            recovered.success,
            "recovery after a kill at {step} failed:\n{}",
            recovered.log
        );
        check_books(&w, &format!("killed at {step}"));
        eprintln!("killed at {step}: books balance");
    }
    // Every customer paid what they inserted: 30 yuan per run.
    let runs = i64::try_from(trace.points + 1).unwrap();
    let cashbox = i64::try_from(w.cashbox.total_fen()).unwrap();
    assert!(
        cashbox <= runs * 3000,
        "more money than customers inserted: {cashbox}"
    );
}
