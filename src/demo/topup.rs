//! The top-up customers: scripted scenarios of cash top-ups (notes, limits pushed by head
//! office, paper out, a lost answer, a slow operator, a jam).

use std::time::Duration;

use anyhow::{Context, bail};
use bill_acceptor::sim::Action;
use receipt_printer::Paper as PaperLevel;
use receipt_printer::sim::SimControl;
use tokio::sync::mpsc;

use super::customer::Observed;
use super::{DemoKiosk, ScreenRecorder, World, indent};
use crate::config::KioskConfig;
use crate::flow::screen::ReceiptState;
use crate::flow::{Screen, ServiceId, Ui, yuan};
use crate::journal::TxnState;
use crate::runtime::kiosk::Note;
use crate::runtime::screen::{ScreenUpdate, UiEvent, describe};

/// A scripted customer.
#[derive(Debug, Clone)]
pub(super) struct Scenario {
    pub(super) name: &'static str,
    pub(super) what: &'static str,
    number: &'static str,
    /// Notes inserted one after another, in yuan.
    notes: Vec<u64>,
    /// Jam this note (yuan) after the others.
    jam: Option<u64>,
    /// Per-top-up limit for this customer, pushed by head office (yuan).
    max_yuan: Option<u64>,
    printer: Vec<SimControl>,
    /// The operator commits the credit and the answer never reaches the kiosk.
    lose_answer: bool,
    /// Operator answers this slowly during the scenario (a latency spike), ms.
    latency_ms: u64,
    expect_credit_fen: u64,
    expect: Expect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Credited { printed: bool },
    Pending,
}

pub(super) fn scenarios() -> Vec<Scenario> {
    let base = Scenario {
        name: "topup",
        what: "top up 138****0000 with 20 + 20 + 10 yuan",
        number: "13800000000",
        notes: vec![20, 20, 10],
        jam: None,
        max_yuan: None,
        printer: vec![],
        lose_answer: false,
        latency_ms: 0,
        expect_credit_fen: 5000,
        expect: Expect::Credited { printed: true },
    };
    vec![
        base.clone(),
        Scenario {
            name: "two-notes",
            what: "top up 138****0000 with 20 + 10 yuan (the crash tests' customer)",
            notes: vec![20, 10],
            expect_credit_fen: 3000,
            ..base.clone()
        },
        Scenario {
            name: "limit",
            what: "head office pushes a 100 yuan limit: 50 + 20 taken, the next 50 handed back from escrow",
            notes: vec![50, 20, 50],
            max_yuan: Some(100),
            expect_credit_fen: 7000,
            ..base.clone()
        },
        Scenario {
            name: "paper-out",
            what: "the printer runs out of paper mid-session: the top-up completes, the missing receipt is recorded, the tile greys until paper is back",
            notes: vec![10],
            printer: vec![SimControl::Paper(PaperLevel::Out)],
            expect_credit_fen: 1000,
            expect: Expect::Credited { printed: false },
            ..base.clone()
        },
        Scenario {
            name: "lost-answer",
            what: "the operator commits the credit but the answer never reaches the kiosk (its link drops): pending, then settled by status query",
            notes: vec![100],
            lose_answer: true,
            expect_credit_fen: 10_000,
            expect: Expect::Pending,
            ..base.clone()
        },
        Scenario {
            name: "slow-operator",
            what: "the operator answers every request 4 s late: the top-up waits and completes",
            notes: vec![50],
            latency_ms: 4000,
            expect_credit_fen: 5000,
            ..base.clone()
        },
        Scenario {
            name: "jam",
            what: "20 yuan taken, then a 50 jams before it is read: the 20 are credited, screen and paper tell of the jammed note, cash stays off until the jam is cleared",
            notes: vec![20],
            jam: Some(50),
            expect_credit_fen: 2000,
            ..base
        },
    ]
}

async fn wait_ready(
    kiosk: &mut DemoKiosk,
    state: &mut Observed,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    while !state.ready() {
        match tokio::time::timeout_at(deadline, kiosk.screen.recv()).await {
            Ok(Some(u)) => state.take(&u),
            Ok(None) => bail!("the kiosk stopped"),
            Err(_) => bail!("top-up not offered within {within:?}: {:?}", state.status),
        }
    }
    Ok(())
}

/// Touches the top-up tile once the kiosk offers it, and waits for the keypad.
async fn start_topup(kiosk: &mut DemoKiosk, state: &mut Observed) -> anyhow::Result<()> {
    // What the screen was told meanwhile.
    while let Ok(u) = kiosk.screen.try_recv() {
        state.take(&u);
    }
    for _ in 0..10 {
        wait_ready(kiosk, state, Duration::from_secs(60)).await?;
        while kiosk.notes.try_recv().is_ok() {}
        println!("  [customer] touches 话费充值 (top up)");
        kiosk.ui.send(UiEvent::Start(ServiceId::TopUp)).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(deadline, kiosk.screen.recv()).await {
                Ok(Some(u @ ScreenUpdate::Show(Screen::EnterNumber { .. }))) => {
                    // The keypad is the customer's to handle: put it back in front.
                    println!("  [screen] {}", describe(&u));
                    println!("  [customer] types the number and confirms");
                    return Ok(());
                }
                Ok(Some(u)) => {
                    state.take(&u);
                    if !state.ready() {
                        println!("  [screen] the tile is greyed: {}", describe(&u));
                        break;
                    }
                }
                Ok(None) => bail!("the kiosk stopped"),
                Err(_) => break,
            }
        }
    }
    bail!("the kiosk never started the top-up")
}

pub(super) async fn run_scenario(
    kiosk: &mut DemoKiosk,
    world: Option<&mut World>,
    config: &KioskConfig,
    s: &Scenario,
    recorder: &ScreenRecorder,
    state: &mut Observed,
) -> anyhow::Result<()> {
    // Head office's part: this customer's limit, as a signed bundle rolled out by the server.
    if let (Some(w), Some(max)) = (world.as_deref(), s.max_yuan) {
        let mut settings = config.settings.clone();
        settings.topup.max_yuan = max;
        let version = w.push_settings(&settings).await?;
        let (outcome, message) = kiosk
            .wait_note(Duration::from_secs(30), |n| match n {
                Note::Push {
                    op,
                    outcome,
                    message,
                } if op == "config_bundle" => Some((*outcome, message.clone())),
                _ => None,
            })
            .await?;
        println!(
            "  [head office] configuration v{version} (limit {max} yuan): {outcome:?} {}",
            message.unwrap_or_default()
        );
    }
    if let Some(w) = world.as_deref() {
        w.lose_next_credit_answer(s.lose_answer);
        w.boss.shared.faults.apply(boss_sim::faults::FaultPatch {
            latency_ms: Some(s.latency_ms),
            ..Default::default()
        });
    }
    start_topup(kiosk, state).await?;
    let bill = world.as_deref().map(|w| w.bill.clone());
    let printer = world.as_deref().map(|w| w.printer.clone());
    tokio::time::timeout(
        Duration::from_secs(120),
        customer(s, kiosk, bill, printer, recorder, state),
    )
    .await
    .context("the session did not end within 2 minutes")??;
    let (txn, money) = kiosk
        .wait_note(Duration::from_secs(30), |n| match n {
            Note::SessionEnded { txn, money_fen, .. } => Some((txn.clone(), *money_fen)),
            _ => None,
        })
        .await?;
    let txn = txn.context("no transaction was opened")?;

    // Paper, as the printer simulator put it out.
    if let Some(w) = world {
        tokio::time::sleep(Duration::from_millis(300)).await;
        while let Ok((_, text)) = w.printed.try_recv() {
            println!("  [paper]\n{}", indent(&text));
        }
        // Put the world back for the next customer.
        w.lose_next_credit_answer(false);
        w.boss.shared.faults.apply(boss_sim::faults::FaultPatch {
            latency_ms: Some(0),
            ..Default::default()
        });
        w.printer.send(SimControl::Paper(PaperLevel::Ok)).await?;
        if s.jam.is_some() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let offered = state.topup_available;
            println!("  [kiosk] top-up offered while the acceptor is jammed: {offered}");
            if offered {
                bail!("cash top-up was still offered with the acceptor jammed");
            }
            println!("  [technician] clears the jam");
            w.bill.send(Action::ClearJam).await?;
        }
        if s.max_yuan.is_some() {
            let version = w.push_settings(&config.settings).await?;
            println!("  [head office] configuration v{version}: the kiosk's own limit again");
        }
    }

    if money != s.expect_credit_fen {
        bail!(
            "took {} but expected {}",
            yuan(money),
            yuan(s.expect_credit_fen)
        );
    }
    let id = txn.clone();
    let rec = kiosk.journal.run(move |j| j.get(&id)).await??;
    match s.expect {
        Expect::Credited { printed } => {
            if rec.state != TxnState::Settled
                || u64::try_from(rec.credited_fen).ok() != Some(s.expect_credit_fen)
            {
                bail!("{txn} is {} with {} credited", rec.state, rec.credited_fen);
            }
            let got = rec.receipt.as_deref() == Some("printed");
            if got != printed {
                bail!(
                    "receipt printed: {got}, expected {printed} ({:?})",
                    rec.receipt
                );
            }
            if !printed {
                println!(
                    "  [kiosk] the receipt did not come out: recorded ({:?}) with the paper for the shop to print again",
                    rec.receipt
                );
            }
        }
        Expect::Pending => {
            // The kiosk retries pending credits between customers: by now it may have
            // settled already; the journal says whether it went through pending.
            let id = txn.clone();
            let steps = kiosk.journal.run(move |j| j.steps(&id)).await??;
            if !steps.iter().any(|s| s.kind == "pending") {
                bail!("{txn} was never pending (state {})", rec.state);
            }
            println!(
                "  [kiosk] credit pending for {txn}; the kiosk asks the operator between customers (交易结果查询)…"
            );
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                let id = txn.clone();
                let state = kiosk.journal.run(move |j| j.get(&id)).await??.state;
                if state == TxnState::Settled {
                    println!("  [kiosk] {txn} is now settled: credited once");
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    bail!("pending top-up did not settle: {state}");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    Ok(())
}

/// The scripted customer: reads the screen, touches it, inserts notes.
async fn customer(
    s: &Scenario,
    kiosk: &mut DemoKiosk,
    bill: Option<mpsc::Sender<Action>>,
    printer: Option<mpsc::Sender<SimControl>>,
    recorder: &ScreenRecorder,
    state: &mut Observed,
) -> anyhow::Result<()> {
    let mut printer_faults = s.printer.clone();
    kiosk
        .ui
        .send(UiEvent::Customer(Ui::Number(s.number.into())))
        .await?;
    let mut notes = s.notes.iter().copied();
    let mut jam = s.jam;
    let mut last_total = None;
    let mut last_notice = None;
    let mut last_line = String::new();
    while let Some(update) = kiosk.screen.recv().await {
        state.take(&update);
        let line = describe(&update);
        if !matches!(
            update,
            ScreenUpdate::Services(_) | ScreenUpdate::Status(_) | ScreenUpdate::Branding(_)
        ) && line != last_line
        {
            println!("  [screen] {line}");
            last_line = line;
            recorder.record(s.name, update.clone());
        }
        let ui = |u: Ui| UiEvent::Customer(u);
        match update {
            ScreenUpdate::Show(screen) => match screen {
                Screen::EnterNumber { notice: None, .. } => {
                    println!("  [customer] types the number and confirms");
                    kiosk.ui.send(ui(Ui::Number(s.number.into()))).await?
                }
                Screen::EnterNumber {
                    notice: Some(n), ..
                } => bail!("number refused: {n:?}"),
                Screen::Confirm { .. } => {
                    println!("  [customer] yes, that is the number");
                    kiosk.ui.send(ui(Ui::Confirm)).await?
                }
                Screen::Insert(v) => {
                    // The printer's trouble starts while this customer is being served.
                    if let Some(p) = &printer {
                        for c in printer_faults.drain(..) {
                            println!("  [world] the printer: {c:?}");
                            p.send(c).await?;
                        }
                    }
                    let progressed = last_total != Some(v.total_fen) || v.notice != last_notice;
                    last_total = Some(v.total_fen);
                    last_notice = v.notice.clone();
                    if !progressed || v.busy {
                        continue;
                    }
                    let Some(bill) = &bill else {
                        // Someone else inserts the notes: finish once they are all in.
                        if v.can_finish && v.total_fen >= s.expect_credit_fen {
                            println!("  [customer] presses 完成 (finish)");
                            kiosk.ui.send(ui(Ui::Finish)).await?;
                        }
                        continue;
                    };
                    if let Some(y) = notes.next() {
                        println!("  [customer] inserts a {y} yuan note");
                        bill.send(Action::Insert { fen: y * 100 }).await?;
                    } else if let Some(y) = jam.take() {
                        println!("  [customer] inserts a {y} yuan note — it jams");
                        bill.send(Action::Jam {
                            fen: y * 100,
                            safe: false,
                        })
                        .await?;
                    } else if v.can_finish {
                        println!("  [customer] presses 完成 (finish)");
                        kiosk.ui.send(ui(Ui::Finish)).await?;
                    }
                }
                Screen::Result { receipt, .. } if receipt != ReceiptState::Printing => {
                    println!("  [customer] no, nothing else");
                    kiosk.ui.send(ui(Ui::Confirm)).await?;
                }
                Screen::Sorry { .. } => {}
                _ => {}
            },
            ScreenUpdate::End => break,
            _ => {}
        }
    }
    Ok(())
}
