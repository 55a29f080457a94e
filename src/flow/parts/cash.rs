//! The cash payment (现金支付): notes go in, one at a time, until the customer finishes,
//! the limit is reached, the customer walks away or the acceptor fails.
//!
//! Rules it keeps, for every service that takes cash:
//! - a note is money only on the acceptor's credit event (or, after a power cut, when the
//!   acceptor reports it cleared into the cash box); it is journaled at once;
//! - a note in escrow that would pass the limit, of a value not taken, or arriving while the
//!   payment is closing, is handed back; the intent to stack is journaled before the stack
//!   command, so recovery knows a note was on its way;
//! - a jam keeps the value of the note that jammed (known from escrow) for the customer's
//!   paper and for staff; an unsafe jam is never credited;
//! - when the acceptor's link drops while a note is being stacked, the payment waits for the
//!   acceptor to come back and say what became of the note (bounded by [`LINK_GRACE_MS`]);
//!   a credit that comes later still is settled by the runtime, never ignored;
//! - the kiosk gives no change: the screen says so before the first note.

use bill_acceptor::AcceptorEvent;
use serde::Serialize;

use super::super::screen::{CashPurpose, CashView, Jam, Notice};
use super::super::{AcceptorCmd, Effect, Input, JournalOp, Millis, Phase, Screen, Ui};

/// How long a payment waits for the acceptor to come back when its link dropped while a
/// note was being stacked.
pub const LINK_GRACE_MS: Millis = 30_000;

/// What the payment takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashConfig {
    /// Note values taken, in fen.
    pub accept_fen: Vec<u64>,
    /// Most the payment takes, in fen; a note that would pass it is handed back.
    pub max_fen: u64,
    /// The price, when the payment is for one: finishing is possible from there.
    pub due_fen: Option<u64>,
}

/// Why the payment stopped taking notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Closing {
    /// The customer finished (or left with money in).
    Customer,
    /// The limit was reached.
    LimitReached,
    /// The customer walked away.
    Timeout,
    /// The acceptor failed (jam, full, fault, fraud, link lost).
    Fault,
    /// The kiosk is stopping.
    Shutdown,
}

/// How the payment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CashOutcome {
    /// Money was taken (it may be less than a price, if the customer left).
    Paid {
        total_fen: u64,
        /// A note that jammed (with its value, when known).
        jammed: Option<Jam>,
        closing: Closing,
    },
    /// Nothing was taken.
    Nothing {
        closing: Closing,
        jammed: Option<Jam>,
    },
}

/// The payment's state.
#[derive(Debug, Clone)]
pub struct CashPayment {
    cfg: CashConfig,
    purpose: CashPurpose,
    total_fen: u64,
    /// Values of the notes credited, in order.
    notes: Vec<u64>,
    /// A note we told the acceptor to stack, not credited yet.
    stacking: Option<u64>,
    closing: Option<Closing>,
    notice: Option<Notice>,
    jammed: Option<Jam>,
    /// When the acceptor's link dropped with a note stacking.
    link_lost_at: Option<Millis>,
    done: bool,
}

impl CashPayment {
    /// Starts taking notes: journals the intent, enables the acceptor, shows the note screen.
    pub fn start(cfg: CashConfig, purpose: CashPurpose, out: &mut Vec<Effect>) -> Self {
        out.push(Effect::Journal(JournalOp::Step {
            kind: "enable_acceptor",
            phase: Phase::Intent,
            detail: serde_json::json!({"accept_fen": cfg.accept_fen, "max_fen": cfg.max_fen}),
        }));
        out.push(Effect::Acceptor(AcceptorCmd::Enable {
            accept_fen: cfg.accept_fen.clone(),
        }));
        let p = Self {
            cfg,
            purpose,
            total_fen: 0,
            notes: Vec::new(),
            stacking: None,
            closing: None,
            notice: None,
            jammed: None,
            link_lost_at: None,
            done: false,
        };
        out.push(Effect::Show(Screen::Insert(p.view())));
        p
    }

    /// Money credited so far.
    pub fn total_fen(&self) -> u64 {
        self.total_fen
    }

    /// The notes credited, by value.
    pub fn notes(&self) -> &[u64] {
        &self.notes
    }

    /// Whether the payment still takes notes.
    pub fn wants_cash(&self) -> bool {
        !self.done && self.closing.is_none()
    }

    /// Whether a note is on its way to the cash box (escrow is decided at once: stacked
    /// or handed back).
    pub fn note_in_flight(&self) -> bool {
        self.stacking.is_some()
    }

    /// The note screen as it stands.
    pub fn view(&self) -> CashView {
        let due_met = self.cfg.due_fen.is_none_or(|due| self.total_fen >= due);
        CashView {
            purpose: self.purpose.clone(),
            total_fen: self.total_fen,
            remaining_fen: self.cfg.max_fen.saturating_sub(self.total_fen),
            due_fen: self.cfg.due_fen,
            accept_fen: self.cfg.accept_fen.clone(),
            notice: self.notice.clone(),
            can_finish: self.total_fen > 0
                && due_met
                && !self.note_in_flight()
                && self.closing.is_none(),
            busy: self.note_in_flight() || self.closing.is_some(),
        }
    }

    /// Stops taking notes for `why` (walk-away, shutdown, the flow's own reasons); the
    /// payment ends once no note is in flight.
    pub fn close(&mut self, why: Closing, out: &mut Vec<Effect>) -> Option<CashOutcome> {
        if self.done {
            return None;
        }
        if self.closing.is_none() {
            self.closing = Some(why);
            out.push(Effect::Acceptor(AcceptorCmd::Disable));
        }
        if why == Closing::Shutdown {
            self.notice = Some(Notice::Stopping);
        }
        let outcome = self.finish_if_idle();
        if outcome.is_none() {
            out.push(Effect::Show(Screen::Insert(self.view())));
        }
        outcome
    }

    /// Takes one input that may concern the payment. Returns the outcome once the payment
    /// is over (then the caller moves on; late notes go to [`CashPayment::late_note`]).
    pub fn handle(
        &mut self,
        input: &Input,
        now: Millis,
        out: &mut Vec<Effect>,
    ) -> Option<CashOutcome> {
        use AcceptorEvent as A;
        if self.done {
            return None;
        }
        match input {
            Input::Acceptor(A::Escrow { fen }) => {
                let fen = *fen;
                let over = self.total_fen + self.stacking.unwrap_or(0) + fen > self.cfg.max_fen;
                let unwanted = !self.cfg.accept_fen.contains(&fen);
                if self.closing.is_some() || over || unwanted || self.stacking.is_some() {
                    out.push(Effect::Acceptor(AcceptorCmd::Return));
                    self.notice = Some(if over {
                        Notice::NoteOverLimit {
                            fen,
                            max_fen: self.cfg.max_fen,
                        }
                    } else if unwanted {
                        Notice::NoteNotAccepted
                    } else {
                        self.notice.clone().unwrap_or(Notice::NoteRejected)
                    });
                } else {
                    out.push(Effect::Journal(JournalOp::Step {
                        kind: "stack_note",
                        phase: Phase::Intent,
                        detail: serde_json::json!({"fen": fen}),
                    }));
                    out.push(Effect::Acceptor(AcceptorCmd::Stack));
                    self.stacking = Some(fen);
                    self.notice = None;
                }
            }
            Input::Acceptor(A::Credit { fen }) => {
                self.credit(*fen, false, out);
                self.stacking = None;
                if self.total_fen >= self.cfg.max_fen && self.closing.is_none() {
                    self.notice = Some(Notice::LimitReached);
                    self.closing = Some(Closing::LimitReached);
                    out.push(Effect::Acceptor(AcceptorCmd::Disable));
                }
            }
            Input::Acceptor(A::PowerUpNoteInCashbox { fen }) => {
                // The acceptor restarted with a note on its way to the cash box: the note
                // this payment told it to stack.
                if let Some(fen) = fen.or(self.stacking) {
                    self.credit(fen, true, out);
                }
                self.stacking = None;
            }
            Input::Acceptor(A::Rejected { reason }) => {
                let inhibited = reason.as_ref().is_some_and(|r| r.text.contains("inhibit"));
                self.notice = Some(if inhibited {
                    Notice::NoteNotAccepted
                } else {
                    Notice::NoteRejected
                });
                self.note_handed_back(out);
            }
            Input::Acceptor(A::Returned { .. } | A::PowerUpNoteReturned { .. }) => {
                self.note_handed_back(out);
            }
            Input::Acceptor(A::Jam { safe }) => {
                let fen = self.stacking;
                out.push(Effect::Journal(JournalOp::Step {
                    kind: "acceptor_jam",
                    phase: Phase::Outcome,
                    detail: serde_json::json!({"safe": safe, "note_in_flight_fen": fen}),
                }));
                // An unsafe jam is never credited; the note's value goes on the customer's
                // paper so that staff can settle it.
                let fen = fen.or(self.jammed.and_then(|j| j.fen));
                self.jammed = Some(Jam { fen });
                self.stacking = None;
                self.notice = Some(Notice::Jammed { fen });
                self.closing.get_or_insert(Closing::Fault);
            }
            Input::Acceptor(A::StackerFull) => {
                self.fault(Notice::CashboxFull, out);
            }
            Input::Acceptor(A::Fraud { .. }) => {
                self.fault(Notice::Tampering, out);
            }
            Input::Acceptor(A::CashboxRemoved | A::Failure { .. }) => {
                self.fault(Notice::AcceptorFault, out);
            }
            Input::AcceptorDown { .. } => {
                self.notice = Some(Notice::AcceptorFault);
                self.closing.get_or_insert(Closing::Fault);
                // A note in escrow goes back by itself (no command for 5 s; escrow is
                // decided at once, so only a note being stacked can be in flight): it is
                // settled when the acceptor is back.
                if self.stacking.is_some() {
                    self.link_lost_at.get_or_insert(now);
                }
            }
            Input::Acceptor(A::Reading) => {
                if self.closing.is_none() {
                    self.notice = None;
                }
            }
            Input::Acceptor(_) => {}
            Input::Ui(Ui::Finish | Ui::Confirm)
                if self.total_fen > 0 || self.stacking.is_some() =>
            {
                let due_met = self
                    .cfg
                    .due_fen
                    .is_none_or(|due| self.total_fen + self.stacking.unwrap_or(0) >= due);
                if due_met {
                    return self.close(Closing::Customer, out);
                }
            }
            Input::Ui(Ui::Cancel | Ui::Back) => return self.close(Closing::Customer, out),
            Input::Shutdown => return self.close(Closing::Shutdown, out),
            Input::Tick => {
                let (Some(since), Some(fen)) = (self.link_lost_at, self.stacking) else {
                    return None;
                };
                if now.saturating_sub(since) >= LINK_GRACE_MS {
                    // The acceptor did not come back to say: the note stays "in flight" in
                    // the journal; if it ever reports the credit, the runtime settles it.
                    out.push(Effect::Journal(JournalOp::Step {
                        kind: "note_unresolved",
                        phase: Phase::Outcome,
                        detail: serde_json::json!({"fen": fen, "why": "acceptor link lost while stacking"}),
                    }));
                    self.stacking = None;
                    self.link_lost_at = None;
                } else {
                    return None;
                }
            }
            _ => return None,
        }
        let outcome = self.finish_if_idle();
        if outcome.is_none() {
            out.push(Effect::Show(Screen::Insert(self.view())));
        }
        outcome
    }

    /// A note the acceptor credits after the payment ended (it should be disabled by
    /// then): still money, journaled at once. Returns its value.
    pub fn late_note(&mut self, input: &Input, out: &mut Vec<Effect>) -> Option<u64> {
        let fen = match input {
            Input::Acceptor(AcceptorEvent::Credit { fen }) => Some(*fen),
            Input::Acceptor(AcceptorEvent::PowerUpNoteInCashbox { fen }) => {
                fen.or(self.stacking.take())
            }
            _ => None,
        }?;
        self.credit(fen, true, out);
        Some(fen)
    }

    fn credit(&mut self, fen: u64, power_up: bool, out: &mut Vec<Effect>) {
        out.push(Effect::Journal(JournalOp::CreditNote { fen, power_up }));
        self.total_fen += fen;
        self.notes.push(fen);
        self.link_lost_at = None;
    }

    fn note_handed_back(&mut self, out: &mut Vec<Effect>) {
        if let Some(fen) = self.stacking.take() {
            // We had told it to stack: record that it came back, so recovery never counts it.
            out.push(Effect::Journal(JournalOp::Step {
                kind: "note_returned",
                phase: Phase::Outcome,
                detail: serde_json::json!({"fen": fen}),
            }));
        }
        self.link_lost_at = None;
    }

    fn fault(&mut self, notice: Notice, out: &mut Vec<Effect>) {
        self.notice = Some(notice);
        if self.closing.is_none() {
            out.push(Effect::Acceptor(AcceptorCmd::Disable));
        }
        self.closing = Some(Closing::Fault);
    }

    fn finish_if_idle(&mut self) -> Option<CashOutcome> {
        let closing = self.closing?;
        if self.note_in_flight() {
            return None;
        }
        self.done = true;
        Some(if self.total_fen == 0 {
            CashOutcome::Nothing {
                closing,
                jammed: self.jammed,
            }
        } else {
            CashOutcome::Paid {
                total_fen: self.total_fen,
                jammed: self.jammed,
                closing,
            }
        })
    }
}

#[cfg(test)]
mod tests;
