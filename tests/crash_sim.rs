//! Crash tests of a new number on a new SIM (新开户): the kiosk process is killed
//! (SIGKILL) at every step of the service — before and after each journal write, each
//! card dispenser command and each operator request — then restarted, and the books are
//! checked against the physical truth and the operator:
//!
//! - every note that went into the (simulated) cash box is in the journal, and every yuan
//!   of it ended settled (the number opened) or on a refund voucher;
//! - every card that left the stacker is in the journal where it physically is: handed out
//!   (taken from the gate) or in the reject bin; none is left in the machine; the journal's
//!   stock equals the stacker's;
//! - every number the operator activated for this kiosk is on a card the journal recorded
//!   as activated, and belongs to a settled transaction (no number without its card, no card
//!   counted twice); no order is left open at the operator;
//! - `journal check` passes; every customer who paid got paper.
//!
//! The devices that hold money and cards (bill acceptor, card dispenser, printer), the
//! self-service system server and the operator live in this test process and survive the
//! kills; the kiosk is the real binary (`telekiosk demo --scenario new-sim` on those
//! devices, with its own ID card reader and simulated camera). A full run kills at every
//! step (`TELEKIOSK_KILL_ALL=1`); by default every third step is taken, with the first and
//! the last, to keep the suite's time.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bill_acceptor::Protocol;
use bill_acceptor::sim::{Action, SimConfig};
use card_dispenser::CardPosition;
use card_dispenser::simulator::{Action as CardAction, Simulator as Dispenser};
use telekiosk::journal::{CardStage, Journal, TxnState};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

/// 李长青's ID number (the demo reader's `resident_long_term` card).
const APPLICANT_ID: &str = "533102196008150022";
const BLANK_CARDS: usize = 200;

struct World {
    dir: tempfile::TempDir,
    boss: boss_sim::app::Running,
    hq: telekiosk_hq::app::Running,
    bill: bill_acceptor::sim::Running,
    cashbox: bill_acceptor::sim::Cashbox,
    dispenser: Arc<Dispenser>,
    printer_path: PathBuf,
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
        let dispenser = Arc::new(
            Dispenser::start(card_dispenser::simulator::SimConfig {
                cards: BLANK_CARDS,
                initialised: true,
                first_serial: 7_000_000,
                ..card_dispenser::simulator::SimConfig::default()
            })
            .unwrap(),
        );
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
        let w = World {
            dir,
            boss,
            hq,
            bill,
            cashbox,
            dispenser,
            printer_path,
            _printer_guard: guard,
        };
        // The technician's restock, in the journal before the first customer.
        std::fs::create_dir_all(w.journal_path().parent().unwrap()).unwrap();
        let mut j = Journal::open(w.journal_path(), "K0001").unwrap();
        j.card_movement(
            telekiosk::journal::CardMovement::Restock(u32::try_from(BLANK_CARDS).unwrap()),
            None,
            Some("test:technician"),
            1,
        )
        .unwrap();
        w
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("kiosk-out")
    }

    fn journal_path(&self) -> PathBuf {
        self.out().join("kiosk").join("journal.sqlite")
    }

    /// Closes the numbers the applicant opened and lets their holds go, so that the next
    /// run is not refused by the operator's five-numbers-per-ID rule.
    fn free_the_applicant(&self) {
        self.boss
            .shared
            .service
            .store()
            .with_tx(|tx| {
                tx.execute(
                    "UPDATE subscribers SET status = 'closed' WHERE id_number = ?1",
                    [APPLICANT_ID],
                )?;
                tx.execute(
                    "UPDATE number_pool SET reserved_until = 0 WHERE reserved_by LIKE '%|' || ?1",
                    [APPLICANT_ID],
                )?;
                Ok(())
            })
            .unwrap();
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
    cmd.args(["demo", "--headless", "--scenario", "new-sim", "--out"])
        .arg(w.out())
        .arg("--bill-port")
        .arg(&w.bill.path)
        .arg("--printer-port")
        .arg(&w.printer_path)
        .arg("--dispenser-port")
        .arg(w.dispenser.path())
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    while out_open || err_open {
        tokio::select! {
            line = out.next_line(), if out_open => match line {
                Ok(Some(l)) => {
                    // The customer: a 20 yuan note for the card fee and the first month, and
                    // the card taken from the gate once it is there.
                    if l.contains("[screen] 请放入纸币") && l.contains("¥0.00 in") && !paid {
                        paid = true;
                        w.bill.actions.send(Action::Insert { fen: 2000 }).await.unwrap();
                    }
                    if l.contains("[screen] 请取走您的SIM卡") {
                        let d = Arc::clone(&w.dispenser);
                        tokio::spawn(async move {
                            for _ in 0..100 {
                                if d.device().status().card_position == CardPosition::Gate {
                                    d.apply(CardAction::Take);
                                    return;
                                }
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        });
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

    // Cards.
    let device = w.dispenser.device();
    assert!(
        device.card_in_channel().is_none(),
        "{context}: a card was left in the channel"
    );
    let cards: Vec<_> = txns
        .iter()
        .flat_map(|t| journal.cards(&t.id).unwrap())
        .collect();
    for c in &cards {
        assert!(
            matches!(
                c.stage,
                CardStage::Taken | CardStage::Captured | CardStage::NotPicked
            ),
            "{context}: card {} of {} left at {:?}",
            c.id,
            c.txn_id,
            c.stage
        );
    }
    let iccids = |stage: CardStage| -> Vec<String> {
        let mut v: Vec<String> = cards
            .iter()
            .filter(|c| c.stage == stage)
            .map(|c| c.iccid.clone().unwrap_or_default())
            .collect();
        v.sort();
        v
    };
    let physical = |v: &[card_dispenser::simulator::SimCard]| -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|c| c.iccid.as_str().to_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(
        iccids(CardStage::Taken),
        physical(&device.taken),
        "{context}: the cards handed out"
    );
    let bin_journal = cards
        .iter()
        .filter(|c| c.stage == CardStage::Captured)
        .count();
    assert_eq!(
        bin_journal,
        device.reject_bin.len(),
        "{context}: the reject bin"
    );
    let stock = journal.card_stock().unwrap();
    assert_eq!(
        stock.in_stock,
        i64::try_from(device.stacker_count()).unwrap(),
        "{context}: blank cards in the stacker"
    );

    // The operator: each activated order is a settled transaction's, on its activated card.
    let activated: Vec<(String, String)> = w
        .boss
        .shared
        .service
        .store()
        .with_tx(|tx| {
            let mut st = tx.prepare(
                "SELECT order_id, COALESCE(iccid, '') FROM orders WHERE kiosk_id = 'K0001' AND state = 'activated'",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap();
    let open_orders: i64 = w
        .boss
        .shared
        .service
        .store()
        .with_tx(|tx| {
            Ok(tx.query_row(
                "SELECT COUNT(*) FROM orders WHERE kiosk_id = 'K0001' AND state = 'ordered'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(
        open_orders, 0,
        "{context}: orders left open at the operator"
    );
    let settled: Vec<_> = txns
        .iter()
        .filter(|t| t.kind == "new_sim" && t.state == TxnState::Settled)
        .collect();
    assert_eq!(
        activated.len(),
        settled.len(),
        "{context}: numbers activated {activated:?}, settled new SIMs {}",
        settled.len()
    );
    for (order, iccid) in &activated {
        let card = cards.iter().find(|c| c.iccid.as_deref() == Some(iccid));
        assert!(
            card.is_some_and(|c| c.activated),
            "{context}: order {order} activated on {iccid}, which the journal has as {card:?}"
        );
        let txn = card.map(|c| c.txn_id.clone()).unwrap_or_default();
        assert!(
            settled
                .iter()
                .any(|t| t.id == txn && t.boss_ref.as_deref() == Some(order)),
            "{context}: order {order} is not the settled transaction {txn}'s"
        );
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
async fn killing_the_kiosk_at_every_step_of_a_new_sim_loses_no_money_and_no_card() {
    let w = World::start().await;

    let trace = run_kiosk(&w, Mode::Trace).await;
    assert!(trace.success, "the undisturbed run failed:\n{}", trace.log);
    assert!(
        trace.points >= 30,
        "too few crash points ({}):\n{}",
        trace.points,
        trace.log
    );
    check_books(&w, "undisturbed run");
    assert_eq!(
        w.dispenser.device().taken.len(),
        1,
        "the card was handed out"
    );
    w.free_the_applicant();

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
        w.free_the_applicant();
    }
}
