//! Crash tests of a recharge-card sale (充值卡销售): the kiosk process is killed (SIGKILL) at
//! every step of the sale — before and after each journal write, each operator request and
//! each print — then restarted, and the books are checked against the physical truth and
//! the operator:
//!
//! - every note that went into the (simulated) cash box is in the journal, and every yuan
//!   of it ended in a card the customer got (settled by its serial) or on a refund voucher;
//! - every PIN the operator sold to this kiosk and did not void belongs to a settled sale,
//!   by its serial, and no settled sale's PIN was voided: the customer holds exactly the
//!   PINs they paid for, nothing counted twice;
//! - the PIN itself is in no byte of the journal's file;
//! - `journal check` passes; every customer who paid got paper (the card, or the voucher).
//!
//! The devices that hold money and paper (bill acceptor, printer), the self-service system
//! server and the operator live in this test process and survive the kills; the kiosk is
//! the real binary (`telekiosk demo --scenario pin-sale` on those devices). A full run
//! kills at every step (`TELEKIOSK_KILL_ALL=1`); by default every third step is taken, with
//! the first and the last, to keep the suite's time.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bill_acceptor::Protocol;
use bill_acceptor::sim::{Action, SimConfig};
use boss_sim::store::PinState;
use telekiosk::journal::{Journal, TxnState};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

struct World {
    dir: tempfile::TempDir,
    boss: boss_sim::app::Running,
    hq: telekiosk_hq::app::Running,
    bill: bill_acceptor::sim::Running,
    cashbox: bill_acceptor::sim::Cashbox,
    printer_path: PathBuf,
    /// Every paper the printer put out, as text (the PINs are on them).
    printed: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _printer_guard: devio::SlaveGuard,
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
        let (ctl_tx, ctl_rx) = mpsc::channel(1);
        let (receipts_tx, mut receipts) = mpsc::channel(64);
        let sim = receipt_printer::sim::SimConfig {
            out_dir: None,
            initial: vec![],
        };
        tokio::spawn(async move {
            let _keep = ctl_tx;
            let _ = receipt_printer::sim::run(device, sim, ctl_rx, receipts_tx).await;
        });
        let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&printed);
        tokio::spawn(async move {
            while let Some(r) = receipts.recv().await {
                if let Ok(mut v) = sink.lock() {
                    v.push(r.text.clone());
                }
            }
        });
        World {
            dir,
            boss,
            hq,
            bill,
            cashbox,
            printer_path,
            printed,
            _printer_guard: guard,
        }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("kiosk-out")
    }

    fn journal_path(&self) -> PathBuf {
        self.out().join("kiosk").join("journal.sqlite")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Trace,
    KillAt(u64),
    Recover,
}

#[derive(Debug, Default)]
struct Run {
    points: u64,
    killed_at: Option<String>,
    success: bool,
    log: String,
}

async fn run_kiosk(w: &World, mode: Mode) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_telekiosk"));
    cmd.args(["demo", "--headless", "--scenario", "pin-sale", "--out"])
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
    let mut paid = false;
    let (mut out_open, mut err_open) = (true, true);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while out_open || err_open {
        tokio::select! {
            line = out.next_line(), if out_open => match line {
                Ok(Some(l)) => {
                    // The customer: one 50 yuan note for the ¥50 card.
                    if l.contains("[screen] 请放入纸币") && l.contains("¥0.00 in") && !paid {
                        paid = true;
                        w.bill.actions.send(Action::Insert { fen: 5000 }).await.unwrap();
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

/// The PINs on the papers printed so far.
fn printed_pins(w: &World) -> Vec<String> {
    let papers = w.printed.lock().map(|v| v.clone()).unwrap_or_default();
    papers
        .iter()
        .filter_map(|p| {
            let mut lines = p.lines();
            lines.find(|l| l.contains("充值密码"))?;
            let pin: String = lines.next()?.chars().filter(char::is_ascii_digit).collect();
            (pin.len() >= 12).then_some(pin)
        })
        .collect()
}

/// The books against the physical truth and the operator. `context` names the step.
fn check_books(w: &World, context: &str) {
    let journal = Journal::open(w.journal_path(), "K0001").unwrap();
    let report = journal.check(false).unwrap();
    assert!(
        report.is_ok(),
        "{context}: journal check failed: {:?}",
        report.violations
    );

    // Money.
    let txns = journal.list(10_000).unwrap();
    let taken: i64 = txns.iter().map(|t| t.inserted_fen).sum();
    let cashbox = i64::try_from(w.cashbox.total_fen()).unwrap();
    assert_eq!(
        taken, cashbox,
        "{context}: the cash box holds {cashbox} fen, the journal {taken} fen"
    );
    for t in &txns {
        match t.state {
            TxnState::Settled => assert_eq!(
                t.credited_fen, t.inserted_fen,
                "{context}: {} settled with money left over",
                t.id
            ),
            TxnState::Voucher | TxnState::Cancelled => {}
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

    // The operator: the PINs this kiosk sold and did not void are the settled sales'.
    let pins: Vec<_> = w
        .boss
        .shared
        .service
        .store()
        .pins()
        .unwrap()
        .into_iter()
        .filter(|p| p.kiosk_id == "K0001")
        .collect();
    let settled: Vec<_> = txns
        .iter()
        .filter(|t| t.kind == "pin_sale" && t.state == TxnState::Settled)
        .collect();
    let live: Vec<_> = pins
        .iter()
        .filter(|p| p.state != PinState::Voided)
        .collect();
    assert_eq!(
        live.len(),
        settled.len(),
        "{context}: PINs sold and not voided {live:?}, settled sales {}",
        settled.len()
    );
    for p in &live {
        assert!(
            settled
                .iter()
                .any(|t| t.id == p.sale_txn_id && t.boss_ref.as_deref() == Some(p.serial.as_str())),
            "{context}: PIN {} of sale {} is not a settled sale's",
            p.serial,
            p.sale_txn_id
        );
    }
    for t in txns
        .iter()
        .filter(|t| t.kind == "pin_sale" && t.state == TxnState::Voucher)
    {
        assert!(
            !pins
                .iter()
                .any(|p| p.sale_txn_id == t.id && p.state != PinState::Voided),
            "{context}: {} was refunded but its PIN still works",
            t.id
        );
    }

    // The PIN is on paper only.
    let db = std::fs::read(w.journal_path()).unwrap();
    let wal = std::fs::read(w.journal_path().with_extension("sqlite-wal")).unwrap_or_default();
    for pin in printed_pins(w) {
        for bytes in [&db, &wal] {
            assert!(
                !bytes.windows(pin.len()).any(|b| b == pin.as_bytes()),
                "{context}: the journal holds a printed PIN"
            );
        }
    }
}

/// The steps to kill at: every one with `TELEKIOSK_KILL_ALL=1`, else every third with the
/// first and the last.
fn steps(points: u64) -> Vec<u64> {
    if std::env::var_os("TELEKIOSK_KILL_ALL").is_some() {
        return (1..=points).collect();
    }
    let mut v: Vec<u64> = (1..=points).step_by(3).collect();
    if v.last() != Some(&points) {
        v.push(points);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_kiosk_at_every_step_of_a_card_sale_loses_no_money_and_leaves_no_stray_pin() {
    let w = World::start().await;

    let trace = run_kiosk(&w, Mode::Trace).await;
    assert!(trace.success, "the undisturbed run failed:\n{}", trace.log);
    assert!(
        trace.points >= 12,
        "too few crash points ({}):\n{}",
        trace.points,
        trace.log
    );
    check_books(&w, "undisturbed run");
    assert_eq!(printed_pins(&w).len(), 1, "the card was printed");

    for n in steps(trace.points) {
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
}
