//! The orchestrator: runs the pure flows against the real world.
//!
//! It executes a flow's commands in order — journal writes synchronously (intent before
//! the act, outcome after), device commands through the device actors, operator requests
//! as background tasks whose answers come back as events — and feeds every answer back
//! into the flow. At start-up, [`recovery`] resolves what an earlier run left unfinished.
//!
//! Every step passes a [`crash::point`], so tests can kill the process at each one.

pub mod crash;
pub mod operator;
pub mod recovery;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bill_acceptor::AcceptorEvent;
use bill_acceptor::actor::AcceptorHandle;
use receipt_printer::{PrintOutcome, PrinterHandle};
use tokio::sync::mpsc;

use crate::flow::topup::{self, Cmd, Event, PrintResult, Screen, TopUp, Ui};
use crate::journal::{Journal, NoteSource, Phase};
use crate::receipts::{self, Letterhead};
pub use operator::{BossOperator, Operator};

/// Errors that stop the engine. Device and operator trouble are not errors (the flow
/// handles them as events); a journal that cannot be written is: without it the kiosk
/// must not take money.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Journal(#[from] crate::journal::Error),
}

/// What the screen is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenUpdate {
    Show(Screen),
    IdleWarning {
        seconds_left: u64,
    },
    /// The session is over.
    End,
}

/// Clocks: monotonic for the flows' timeouts, wall time for the journal and the paper.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            start: Instant::now(),
        }
    }
}

impl Clock {
    pub fn mono_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
    pub fn unix_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// The devices and services a top-up needs.
#[derive(Debug)]
pub struct TopUpEngine<O> {
    pub journal: Journal,
    pub operator: Arc<O>,
    pub acceptor: AcceptorHandle,
    pub acceptor_events: mpsc::Receiver<AcceptorEvent>,
    pub printer: Option<PrinterHandle>,
    pub letterhead: Letterhead,
    pub config: topup::Config,
    pub clock: Clock,
    /// How often the flow's clock ticks.
    pub tick: Duration,
}

/// How a session ended, for the caller's log and the headless demo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSummary {
    pub txn_id: Option<String>,
    /// Money the acceptor credited in this session.
    pub credited_fen: u64,
    pub outcome: Option<topup::Outcome>,
    /// Text of every receipt or voucher sent to the printer.
    pub receipts: Vec<String>,
    pub printed: Vec<PrintResult>,
}

impl<O: Operator> TopUpEngine<O> {
    /// Runs one top-up session: UI events in, screen updates out, until the flow ends.
    pub async fn run_session(
        &mut self,
        ui: &mut mpsc::Receiver<Ui>,
        screen: mpsc::Sender<ScreenUpdate>,
    ) -> Result<SessionSummary, Error> {
        let (tx, mut answers) = mpsc::channel::<Event>(32);
        let mut summary = SessionSummary::default();
        let (mut flow, cmds) = TopUp::start(self.config.clone(), self.clock.mono_ms());
        let mut now_events = VecDeque::new();
        self.execute(&mut flow, cmds, &tx, &screen, &mut now_events, &mut summary)
            .await?;
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ui_open = true;
        while !flow.is_ended() {
            let event = if let Some(e) = now_events.pop_front() {
                e
            } else {
                tokio::select! {
                    u = ui.recv(), if ui_open => match u {
                        Some(u) => Event::Ui(u),
                        None => { ui_open = false; continue; }
                    },
                    Some(a) = self.acceptor_events.recv() => acceptor_event(a),
                    Some(e) = answers.recv() => e,
                    _ = tick.tick() => Event::Tick,
                }
            };
            if !matches!(event, Event::Tick) {
                tracing::debug!(state = flow.state_name(), ?event, "top-up event");
            }
            // A note handed back after we asked to stack it is recorded, so that recovery
            // never counts it as stacked.
            if let (
                Some(txn),
                Event::Acceptor(AcceptorEvent::Rejected { .. } | AcceptorEvent::Returned { .. }),
            ) = (flow.txn_id(), &event)
            {
                let detail = serde_json::json!({"event": format!("{event:?}")});
                self.journal.step(
                    txn,
                    "note_returned",
                    Phase::Outcome,
                    &detail,
                    self.clock.unix_ms(),
                )?;
            }
            let cmds = flow.handle(event, self.clock.mono_ms());
            self.execute(&mut flow, cmds, &tx, &screen, &mut now_events, &mut summary)
                .await?;
        }
        Ok(summary)
    }

    async fn execute(
        &mut self,
        flow: &mut TopUp,
        cmds: Vec<Cmd>,
        answers: &mpsc::Sender<Event>,
        screen: &mpsc::Sender<ScreenUpdate>,
        now_events: &mut VecDeque<Event>,
        summary: &mut SessionSummary,
    ) -> Result<(), Error> {
        for cmd in cmds {
            let txn = flow.txn_id().map(str::to_owned);
            let txn = txn.as_deref().unwrap_or("");
            let now = self.clock.unix_ms();
            match cmd {
                Cmd::Show(s) => {
                    let _ = screen.send(ScreenUpdate::Show(s)).await;
                }
                Cmd::IdleWarning { seconds_left } => {
                    let _ = screen
                        .send(ScreenUpdate::IdleWarning { seconds_left })
                        .await;
                }
                Cmd::End => {
                    let _ = screen.send(ScreenUpdate::End).await;
                }
                Cmd::Lookup { msisdn } => {
                    let op = Arc::clone(&self.operator);
                    let tx = answers.clone();
                    tokio::spawn(async move {
                        let r = op.lookup(&msisdn).await;
                        let _ = tx.send(Event::Lookup(r)).await;
                    });
                }
                Cmd::OpenTxn {
                    msisdn,
                    number_masked,
                } => {
                    crash::point("journal: before open").await;
                    let id = self.journal.begin(
                        &crate::journal::NewTxn {
                            kind: "topup",
                            msisdn: Some(&msisdn),
                            msisdn_masked: &number_masked,
                        },
                        now,
                    )?;
                    crash::point("journal: after open").await;
                    tracing::info!(txn = %id, number = %number_masked, "top-up opened");
                    summary.txn_id = Some(id.clone());
                    now_events.push_back(Event::TxnOpened { id });
                }
                Cmd::Intent { kind, detail } => {
                    crash::point(&format!("journal: before intent {kind}")).await;
                    self.journal.step(txn, kind, Phase::Intent, &detail, now)?;
                    crash::point(&format!("journal: after intent {kind}")).await;
                }
                Cmd::CreditNote { fen, power_up } => {
                    let source = if power_up {
                        NoteSource::PowerUp
                    } else {
                        NoteSource::Credit
                    };
                    crash::point("journal: before credit note").await;
                    self.journal.credit_note(txn, to_i64(fen), source, now)?;
                    crash::point("journal: after credit note").await;
                    summary.credited_fen += fen;
                    tracing::info!(txn, fen, "note credited");
                }
                Cmd::EnableAcceptor { accept_fen } => {
                    Self::device("enable", self.acceptor.enable(&accept_fen), now_events).await;
                }
                Cmd::DisableAcceptor => {
                    Self::device("disable", self.acceptor.disable(), now_events).await;
                }
                Cmd::StackNote => {
                    Self::device("stack", self.acceptor.stack(), now_events).await;
                }
                Cmd::ReturnNote => {
                    Self::device("return", self.acceptor.return_note(), now_events).await;
                }
                Cmd::Recharge { msisdn, amount_fen } => {
                    crash::point("operator: before recharge").await;
                    let op = Arc::clone(&self.operator);
                    let tx = answers.clone();
                    let id = txn.to_owned();
                    tokio::spawn(async move {
                        let r = op.recharge(&id, &msisdn, amount_fen).await;
                        crash::point("operator: after recharge").await;
                        let _ = tx.send(Event::Recharge(r)).await;
                    });
                }
                Cmd::Settle {
                    credited_fen,
                    boss_ref,
                    new_balance_fen,
                } => {
                    crash::point("journal: before settle").await;
                    self.journal.settle(
                        txn,
                        to_i64(credited_fen),
                        &boss_ref,
                        new_balance_fen,
                        now,
                    )?;
                    crash::point("journal: after settle").await;
                    summary.outcome = Some(topup::Outcome::Credited {
                        boss_ref,
                        new_balance_fen,
                    });
                }
                Cmd::MarkPending { reason } => {
                    self.journal.mark_pending(txn, &reason, now)?;
                    crash::point("journal: after pending").await;
                    summary.outcome = Some(topup::Outcome::Pending { reason });
                }
                Cmd::IssueVoucher { reason } => {
                    self.journal.issue_voucher(txn, &reason, now)?;
                    crash::point("journal: after voucher").await;
                    summary.outcome = Some(topup::Outcome::Voucher { reason });
                }
                Cmd::CancelTxn { reason } => {
                    if !txn.is_empty() {
                        self.journal.cancel(txn, &reason, now)?;
                    }
                }
                Cmd::Print(r) => {
                    let paper = receipts::topup(&r, &self.letterhead, now);
                    summary.receipts.push(paper.to_text());
                    crash::point("printer: before print").await;
                    match &self.printer {
                        Some(p) => {
                            let p = p.clone();
                            let tx = answers.clone();
                            tokio::spawn(async move {
                                let r = print(&p, &paper).await;
                                crash::point("printer: after print").await;
                                let _ = tx.send(Event::Printed(r)).await;
                            });
                        }
                        None => now_events.push_back(Event::Printed(PrintResult::NotPrinted {
                            reason: "no printer configured".into(),
                        })),
                    }
                }
                Cmd::RecordReceipt { outcome } => {
                    let text = match &outcome {
                        PrintResult::Printed => "printed".to_string(),
                        PrintResult::NotPrinted { reason } => format!("not_printed: {reason}"),
                    };
                    if outcome != PrintResult::Printed {
                        tracing::warn!(txn, %text, "receipt not printed: recorded for the shop");
                    }
                    self.journal.record_receipt(txn, &text, now)?;
                    summary.printed.push(outcome);
                }
            }
        }
        Ok(())
    }

    async fn device<F>(what: &'static str, call: F, now_events: &mut VecDeque<Event>)
    where
        F: Future<Output = Result<(), bill_acceptor::actor::ActorError>>,
    {
        crash::point(&format!("acceptor: before {what}")).await;
        if let Err(e) = call.await {
            tracing::warn!(error = %e, what, "bill acceptor command failed");
            now_events.push_back(Event::AcceptorDown {
                cause: e.to_string(),
            });
        }
        crash::point(&format!("acceptor: after {what}")).await;
    }
}

/// Prints a receipt and says whether the printer confirmed it.
pub async fn print(printer: &PrinterHandle, paper: &receipt_printer::Receipt) -> PrintResult {
    match printer.print(paper.clone()).await {
        Ok(PrintOutcome::Printed { .. }) => PrintResult::Printed,
        Ok(other) => PrintResult::NotPrinted {
            reason: outcome_reason(&other),
        },
        Err(e) => PrintResult::NotPrinted {
            reason: format!("printer: {e}"),
        },
    }
}

fn outcome_reason(o: &PrintOutcome) -> String {
    use receipt_printer::NotPrintedReason as R;
    let (reason, interrupted) = match o {
        PrintOutcome::Printed { .. } => return "printed".into(),
        PrintOutcome::NotPrinted { reason } => (reason, false),
        PrintOutcome::Interrupted { reason } => (reason, true),
    };
    let code = match reason {
        R::PaperOut => "paper_out",
        R::CoverOpen => "cover_open",
        R::Offline => "offline",
        R::PrinterError => "printer_error",
        R::NoAnswer => "no_answer",
        #[allow(unreachable_patterns)]
        _ => "printer_fault",
    };
    if interrupted {
        format!("{code} (mid-receipt)")
    } else {
        code.to_string()
    }
}

fn acceptor_event(a: AcceptorEvent) -> Event {
    match a {
        AcceptorEvent::DeviceLost { reason } => Event::AcceptorDown { cause: reason },
        other => Event::Acceptor(other),
    }
}

fn to_i64(fen: u64) -> i64 {
    i64::try_from(fen).unwrap_or(i64::MAX)
}
