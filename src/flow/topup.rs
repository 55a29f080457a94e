//! Cash top-up (话费充值) as a pure state machine, built from the shared parts.
//!
//! The customer enters a number, confirms it against the masked owner name the operator
//! returns (the same screen says that no change is given and which notes are taken), inserts
//! notes ([`CashPayment`]), and finishes — or walks away, which finishes for them once money
//! is in: a top-up with money in is never cancelled. The operator credits the total with the
//! transaction id as idempotency key; if the answer is lost the money stays pending and is
//! retried, never dropped; if the operator refuses, the money goes on a refund voucher. The
//! paper ([`PaperRun`]) says what happened, including the value of a note that jammed.
//!
//! Taps beyond the 11 digits: the tile, "confirm number", "yes" (which starts the notes),
//! "finish" — four.

use boss_protocol::{Msisdn, NoteCount, Recharge, Request, Response, TxnId};
use serde::Serialize;

use super::parts::cash::{CashConfig, CashOutcome, CashPayment, Closing};
use super::parts::idle::{Idle, IdleCheck};
use super::parts::number::{NumberEntry, NumberEvent};
use super::parts::paper::PaperRun;
use super::screen::{CashPurpose, Jam, Notice, ReceiptState, Screen};
use super::{
    Effect, Flow, Ids, Input, JournalOp, LegOutcome, Millis, OpError, Paper, ReqId, ServiceId,
    Timeouts, TxnKind, Ui, mask_phone,
};

/// Settings of the flow (from head office's settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Note values accepted, in fen (settings ∩ what the acceptor knows).
    pub accept_fen: Vec<u64>,
    /// Per-transaction maximum in fen.
    pub max_fen: u64,
    pub timeouts: Timeouts,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            accept_fen: vec![1000, 2000, 5000, 10000],
            max_fen: 50_000,
            timeouts: Timeouts::default(),
        }
    }
}

impl Config {
    /// From head office's settings.
    pub fn from_settings(s: &telekiosk_settings::Settings) -> Self {
        Self {
            accept_fen: s.accept_fen(),
            max_fen: s.topup.max_yuan * 100,
            timeouts: Timeouts::from_settings(s),
        }
    }
}

/// Account status as the operator reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    /// 停机 — suspended (often for arrears); a top-up reactivates it.
    Suspended,
    /// 销户 — closed; cannot be topped up.
    Closed,
}

/// The subscriber the operator found for the number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscriber {
    /// Masked owner name, e.g. `*小明`.
    pub owner_masked: String,
    pub status: AccountStatus,
    pub prepaid: bool,
    pub balance_fen: i64,
    pub arrears_fen: u64,
    /// Suspended because the owner reported the SIM lost (挂失停机).
    pub reported_lost: bool,
}

impl Subscriber {
    /// From the operator's `subscriber_lookup` answer.
    pub fn from_lookup(s: &boss_protocol::Subscriber) -> Self {
        use boss_protocol::SubscriberStatus as S;
        Self {
            // The operator masks the name; mask it here if it did not.
            owner_masked: if s.owner_name_masked.contains('*') {
                s.owner_name_masked.clone()
            } else {
                telekiosk_privacy::mask_owner_name(&s.owner_name_masked)
            },
            status: match s.status {
                S::Active | S::PreActive => AccountStatus::Active,
                S::Cancelled => AccountStatus::Closed,
                _ => AccountStatus::Suspended,
            },
            prepaid: matches!(s.payment, boss_protocol::PaymentKind::Prepaid),
            balance_fen: s.balance_fen,
            arrears_fen: s.arrears_fen,
            reported_lost: s.status == S::ReportedLost,
        }
    }
}

/// How the top-up ended, for the screen and the paper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Credited.
    Credited {
        boss_ref: String,
        new_balance_fen: Option<i64>,
    },
    /// Money in, credit not confirmed yet: it will be retried; the receipt says "pending".
    Pending { reason: String },
    /// Refused by the operator (or a late note): a refund voucher (退款凭条) for the amount.
    Voucher { reason: String },
    /// No money was taken, but a note jammed: the slip tells staff its value.
    NothingTaken { reason: String },
}

/// The paper the flow wants printed; the runtime lays it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TopUpReceipt {
    pub txn_id: String,
    pub number_masked: String,
    pub amount_fen: u64,
    pub outcome: Outcome,
    /// A note that jammed (with its value when known), for staff to settle.
    #[serde(default)]
    pub jammed: Option<Jam>,
}

#[derive(Debug, Clone)]
struct Ctx {
    txn: String,
    msisdn: String,
    number_masked: String,
    /// Money credited by the acceptor (late notes included).
    total_fen: u64,
    /// Amount sent to the operator in the recharge.
    recharged_fen: u64,
    notes: Vec<u64>,
    jammed: Option<Jam>,
}

#[derive(Debug)]
enum State {
    /// The keypad and the lookup.
    Number {
        entry: NumberEntry,
    },
    Confirm {
        msisdn: String,
        subscriber: Subscriber,
    },
    Opening {
        msisdn: String,
        subscriber: Subscriber,
    },
    Paying {
        ctx: Ctx,
        subscriber: Subscriber,
        cash: CashPayment,
    },
    Recharging {
        ctx: Ctx,
        cash: CashPayment,
        req: ReqId,
    },
    Printing {
        ctx: Ctx,
        outcome: Outcome,
        run: PaperRun,
    },
    Done {
        ctx: Ctx,
    },
    Ended,
}

/// The top-up flow.
#[derive(Debug)]
pub struct TopUp {
    config: Config,
    state: State,
    idle: Idle,
    ids: Ids,
}

impl TopUp {
    /// Starts a session at the number keypad.
    pub fn start(config: Config, now: Millis) -> (Self, Vec<Effect>) {
        let mut out = Vec::new();
        let entry = NumberEntry::start(ServiceId::TopUp, "", None, &mut out);
        let flow = Self {
            idle: Idle::new(config.timeouts, now),
            config,
            state: State::Number { entry },
            ids: Ids::default(),
        };
        (flow, out)
    }

    /// Starts a session for a number the customer already gave (another service handed
    /// them over, e.g. after an arrears refusal): straight to the lookup.
    pub fn start_with_number(config: Config, msisdn: &str, now: Millis) -> (Self, Vec<Effect>) {
        let mut out = Vec::new();
        let mut ids = Ids::default();
        let entry = NumberEntry::look_up(ServiceId::TopUp, msisdn, &mut ids, &mut out);
        let flow = Self {
            idle: Idle::new(config.timeouts, now),
            config,
            state: State::Number { entry },
            ids,
        };
        (flow, out)
    }

    /// The transaction id, once opened.
    pub fn txn_id(&self) -> Option<&str> {
        self.ctx().map(|c| c.txn.as_str())
    }

    fn ctx(&self) -> Option<&Ctx> {
        match &self.state {
            State::Paying { ctx, .. }
            | State::Recharging { ctx, .. }
            | State::Printing { ctx, .. }
            | State::Done { ctx } => Some(ctx),
            _ => None,
        }
    }

    fn step(&mut self, state: State, input: Input, now: Millis, out: &mut Vec<Effect>) -> State {
        use Input as I;
        match (state, input) {
            (state, I::Tick) => self.tick(state, now, out),

            // Number entry and lookup.
            (State::Number { mut entry }, input) => {
                match entry.handle(&input, &mut self.ids, out) {
                    NumberEvent::Pending => State::Number { entry },
                    NumberEvent::Left => end(out),
                    NumberEvent::Unavailable => {
                        out.push(Effect::Show(Screen::Sorry {
                            notice: Notice::ServiceUnavailable,
                            reference: None,
                        }));
                        end(out)
                    }
                    NumberEvent::Found { msisdn, subscriber } => {
                        self.idle.touch(now);
                        out.push(Effect::Show(Screen::Confirm {
                            number_masked: mask_phone(&msisdn),
                            subscriber: subscriber.clone(),
                            accept_fen: self.config.accept_fen.clone(),
                            max_fen: self.config.max_fen,
                        }));
                        State::Confirm { msisdn, subscriber }
                    }
                }
            }

            (State::Confirm { msisdn, subscriber }, I::Ui(Ui::Confirm)) => {
                out.push(Effect::Journal(JournalOp::Open {
                    kind: TxnKind::TopUp,
                    number_masked: mask_phone(&msisdn),
                    msisdn: Some(msisdn.clone()),
                }));
                State::Opening { msisdn, subscriber }
            }
            (State::Confirm { msisdn, .. }, I::Ui(Ui::Back)) => State::Number {
                entry: NumberEntry::start(ServiceId::TopUp, &msisdn, None, out),
            },
            (State::Confirm { .. }, I::Ui(Ui::Cancel) | I::Shutdown) => end(out),

            (State::Opening { msisdn, subscriber }, I::TxnOpened { id }) => {
                let number_masked = mask_phone(&msisdn);
                let ctx = Ctx {
                    txn: id,
                    number_masked: number_masked.clone(),
                    msisdn,
                    total_fen: 0,
                    recharged_fen: 0,
                    notes: Vec::new(),
                    jammed: None,
                };
                let cash = CashPayment::start(
                    CashConfig {
                        accept_fen: self.config.accept_fen.clone(),
                        max_fen: self.config.max_fen,
                        due_fen: None,
                    },
                    CashPurpose::TopUp { number_masked },
                    out,
                );
                State::Paying {
                    ctx,
                    subscriber,
                    cash,
                }
            }

            // Notes.
            (
                State::Paying {
                    ctx,
                    subscriber,
                    mut cash,
                },
                input,
            ) => {
                let back = matches!(input, I::Ui(Ui::Back)) && cash.total_fen() == 0;
                match cash.handle(&input, now, out) {
                    None => State::Paying {
                        ctx,
                        subscriber,
                        cash,
                    },
                    Some(outcome) => self.paid(ctx, subscriber, cash, outcome, back, out),
                }
            }

            // A note credited after the recharge went out (the acceptor is disabled by
            // then): still money. It goes on a voucher once the recharge is answered.
            (
                State::Recharging {
                    mut ctx,
                    mut cash,
                    req,
                },
                input @ I::Acceptor(_),
            ) => {
                if let Some(fen) = cash.late_note(&input, out) {
                    ctx.total_fen += fen;
                }
                State::Recharging { ctx, cash, req }
            }
            (State::Recharging { ctx, req, .. }, I::Operator { req: r, result }) if r == req => {
                self.recharged(ctx, result, out)
            }

            (
                State::Printing {
                    ctx,
                    outcome,
                    mut run,
                },
                input @ I::Printed { .. },
            ) => match run.handle(&input, out) {
                None => State::Printing { ctx, outcome, run },
                Some(all_printed) => {
                    let receipt = if all_printed {
                        ReceiptState::Printed
                    } else {
                        ReceiptState::NotPrinted
                    };
                    out.push(result_screen(&ctx, &outcome, receipt));
                    self.idle.touch(now);
                    State::Done { ctx }
                }
            },

            (State::Done { .. }, I::Ui(Ui::Confirm | Ui::Cancel | Ui::Back) | I::Shutdown) => {
                end(out)
            }

            // Anything else leaves the state as it is.
            (state, _) => state,
        }
    }

    fn paid(
        &mut self,
        mut ctx: Ctx,
        subscriber: Subscriber,
        cash: CashPayment,
        outcome: CashOutcome,
        back: bool,
        out: &mut Vec<Effect>,
    ) -> State {
        match outcome {
            CashOutcome::Nothing {
                jammed: Some(jam), ..
            } => {
                // Nothing credited, but the customer's note jammed: a slip for staff.
                let reason = match jam.fen {
                    Some(fen) => format!("note of {fen} fen jammed before it was credited"),
                    None => "a note jammed before it was read or credited".to_owned(),
                };
                out.push(Effect::Journal(JournalOp::Cancel {
                    reason: reason.clone(),
                }));
                ctx.jammed = Some(jam);
                let outcome = Outcome::NothingTaken { reason };
                let run = PaperRun::start(
                    vec![Paper::TopUp(TopUpReceipt {
                        txn_id: ctx.txn.clone(),
                        number_masked: ctx.number_masked.clone(),
                        amount_fen: 0,
                        outcome: outcome.clone(),
                        jammed: Some(jam),
                    })],
                    &mut self.ids,
                    out,
                );
                out.push(result_screen(&ctx, &outcome, ReceiptState::Printing));
                State::Printing { ctx, outcome, run }
            }
            CashOutcome::Nothing { closing, .. } => {
                let reason = match closing {
                    Closing::Fault => "acceptor fault before any note",
                    Closing::Timeout => "idle timeout",
                    Closing::Shutdown => "kiosk stopping",
                    Closing::Customer | Closing::LimitReached => "customer left",
                };
                out.push(Effect::Journal(JournalOp::Cancel {
                    reason: reason.into(),
                }));
                if closing == Closing::Fault {
                    out.push(Effect::Show(Screen::Sorry {
                        notice: Notice::AcceptorFault,
                        reference: Some(ctx.txn),
                    }));
                    return end(out);
                }
                if back {
                    // Back from the note screen before any note: the question again.
                    out.push(Effect::Show(Screen::Confirm {
                        number_masked: ctx.number_masked.clone(),
                        subscriber: subscriber.clone(),
                        accept_fen: self.config.accept_fen.clone(),
                        max_fen: self.config.max_fen,
                    }));
                    return State::Confirm {
                        msisdn: ctx.msisdn,
                        subscriber,
                    };
                }
                end(out)
            }
            CashOutcome::Paid {
                total_fen,
                jammed,
                closing,
            } => {
                ctx.total_fen = total_fen;
                ctx.recharged_fen = total_fen;
                ctx.notes = cash.notes().to_vec();
                ctx.jammed = jammed;
                let req = self.ids.fresh();
                out.push(Effect::Journal(JournalOp::OperatorSent {
                    leg: ctx.txn.clone(),
                    op: "recharge",
                    amount_fen: total_fen,
                }));
                out.push(Effect::Operator {
                    req,
                    request: Request::Recharge(Recharge {
                        txn_id: TxnId::new(ctx.txn.clone()),
                        msisdn: Msisdn::new(ctx.msisdn.clone()),
                        amount_fen: total_fen,
                        notes: breakdown(&ctx.notes),
                    }),
                    timeout_ms: None,
                });
                tracing::debug!(txn = %ctx.txn, total_fen, ?closing, "recharge sent");
                out.push(Effect::Show(Screen::Processing { total_fen }));
                State::Recharging { ctx, cash, req }
            }
        }
    }

    fn recharged(
        &mut self,
        ctx: Ctx,
        result: Result<Response, OpError>,
        out: &mut Vec<Effect>,
    ) -> State {
        let late_fen = ctx.total_fen - ctx.recharged_fen;
        let operator_ref = match &result {
            Ok(Response::Recharge(ok)) => Some(ok.operator_ref.clone()),
            _ => None,
        };
        // An answer that is not a recharge answer is no answer at all.
        let result = match result {
            Ok(Response::Recharge(ok)) => Ok(ok),
            Ok(other) => Err(OpError::Unknown {
                cause: format!("unexpected answer {}", other.op()),
            }),
            Err(e) => Err(e),
        };
        out.push(Effect::Journal(JournalOp::OperatorAnswered {
            leg: ctx.txn.clone(),
            outcome: LegOutcome::of(
                &result.clone().map(Response::Recharge),
                operator_ref.as_deref(),
            ),
        }));
        let mut papers = Vec::new();
        let paper = |amount_fen, outcome: Outcome, jammed| {
            Paper::TopUp(TopUpReceipt {
                txn_id: ctx.txn.clone(),
                number_masked: ctx.number_masked.clone(),
                amount_fen,
                outcome,
                jammed,
            })
        };
        let outcome = match result {
            Ok(ok) => {
                out.push(Effect::Journal(JournalOp::Settle {
                    credited_fen: ctx.recharged_fen,
                    boss_ref: ok.operator_ref.clone(),
                    new_balance_fen: Some(ok.balance_after_fen),
                }));
                let outcome = Outcome::Credited {
                    boss_ref: ok.operator_ref,
                    new_balance_fen: Some(ok.balance_after_fen),
                };
                papers.push(paper(ctx.recharged_fen, outcome.clone(), ctx.jammed));
                if late_fen > 0 {
                    let reason = "note taken after the recharge was sent".to_string();
                    out.push(Effect::Journal(JournalOp::IssueVoucher {
                        reason: reason.clone(),
                    }));
                    papers.push(paper(late_fen, Outcome::Voucher { reason }, None));
                }
                outcome
            }
            Err(OpError::Refused { code, message, .. }) => {
                let reason = format!("operator refused ({code}): {message}");
                out.push(Effect::Journal(JournalOp::IssueVoucher {
                    reason: reason.clone(),
                }));
                let outcome = Outcome::Voucher { reason };
                papers.push(paper(ctx.total_fen, outcome.clone(), ctx.jammed));
                outcome
            }
            Err(e @ (OpError::Unknown { .. } | OpError::NotSent { .. })) => {
                let reason = format!("credit not confirmed: {}", e.cause());
                out.push(Effect::Journal(JournalOp::MarkPending {
                    reason: reason.clone(),
                }));
                let outcome = Outcome::Pending { reason };
                papers.push(paper(ctx.total_fen, outcome.clone(), ctx.jammed));
                outcome
            }
        };
        let run = PaperRun::start(papers, &mut self.ids, out);
        out.push(result_screen(&ctx, &outcome, ReceiptState::Printing));
        State::Printing { ctx, outcome, run }
    }

    fn tick(&mut self, state: State, now: Millis, out: &mut Vec<Effect>) -> State {
        let t = *self.idle.timeouts();
        match state {
            State::Number { .. } | State::Confirm { .. } | State::Done { .. } => {
                match self.idle.check(now, t.idle_ms) {
                    IdleCheck::Fine => state,
                    IdleCheck::Warn { seconds_left } => {
                        out.push(Effect::IdleWarning {
                            seconds_left,
                            money_fen: 0,
                        });
                        state
                    }
                    IdleCheck::Expired => end(out),
                }
            }
            State::Paying {
                ctx,
                subscriber,
                mut cash,
            } => {
                // The payment's own clock (a note whose acceptor vanished).
                let mut outcome = cash.handle(&Input::Tick, now, out);
                if outcome.is_none() && cash.wants_cash() {
                    let money = cash.total_fen();
                    let limit = if money > 0 {
                        t.insert_idle_ms
                    } else {
                        t.idle_ms
                    };
                    match self.idle.check(now, limit) {
                        IdleCheck::Fine => {}
                        IdleCheck::Warn { seconds_left } => out.push(Effect::IdleWarning {
                            seconds_left,
                            money_fen: money,
                        }),
                        // Money in: finish for the customer, never cancel.
                        IdleCheck::Expired if money > 0 => {
                            outcome = cash.close(Closing::Timeout, out);
                        }
                        IdleCheck::Expired => outcome = cash.close(Closing::Customer, out),
                    }
                }
                match outcome {
                    None => State::Paying {
                        ctx,
                        subscriber,
                        cash,
                    },
                    Some(o) => self.paid(ctx, subscriber, cash, o, false, out),
                }
            }
            // Waiting for the operator, the journal or the printer: not the customer's fault.
            state => state,
        }
    }
}

impl Flow for TopUp {
    fn handle(&mut self, input: Input, now: Millis) -> Vec<Effect> {
        let mut out = Vec::new();
        if let Input::Ui(ui) = &input {
            self.idle.on_ui(ui, now);
            if matches!(ui, Ui::Touch | Ui::Help(_) | Ui::Elder(_)) {
                return out;
            }
        }
        if matches!(input, Input::Acceptor(_)) {
            // A note going in is the customer at work.
            self.idle.touch(now);
        }
        let state = std::mem::replace(&mut self.state, State::Ended);
        self.state = self.step(state, input, now, &mut out);
        out
    }

    fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    fn state_name(&self) -> &'static str {
        match &self.state {
            State::Number { entry } if entry.looking_up() => "topup.looking_up",
            State::Number { .. } => "topup.enter_number",
            State::Confirm { .. } => "topup.confirm",
            State::Opening { .. } => "topup.opening",
            State::Paying { .. } => "topup.insert_cash",
            State::Recharging { .. } => "topup.recharging",
            State::Printing { .. } => "topup.printing",
            State::Done { .. } => "topup.result",
            State::Ended => "topup.ended",
        }
    }

    fn money_in_fen(&self) -> u64 {
        match &self.state {
            State::Paying { cash, .. } => cash.total_fen(),
            _ => self.ctx().map_or(0, |c| c.total_fen),
        }
    }

    fn wants_cash(&self) -> bool {
        matches!(&self.state, State::Paying { cash, .. } if cash.wants_cash())
    }

    fn takes_notes(&self) -> bool {
        matches!(self.state, State::Paying { .. } | State::Recharging { .. })
    }
}

fn result_screen(ctx: &Ctx, outcome: &Outcome, receipt: ReceiptState) -> Effect {
    Effect::Show(Screen::Result {
        number_masked: ctx.number_masked.clone(),
        amount_fen: match outcome {
            Outcome::NothingTaken { .. } => 0,
            Outcome::Credited { .. } => ctx.recharged_fen,
            _ => ctx.total_fen,
        },
        outcome: outcome.clone(),
        reference: ctx.txn.clone(),
        receipt,
        jammed: ctx.jammed,
    })
}

/// The notes, counted by value, for the recharge request.
fn breakdown(notes: &[u64]) -> Vec<NoteCount> {
    let mut out: Vec<NoteCount> = Vec::new();
    for &fen in notes {
        match out.iter_mut().find(|n| n.denomination_fen == fen) {
            Some(n) => n.count += 1,
            None => out.push(NoteCount {
                denomination_fen: fen,
                count: 1,
            }),
        }
    }
    out.sort_by_key(|n| n.denomination_fen);
    out
}

fn end(out: &mut Vec<Effect>) -> State {
    out.push(Effect::End);
    State::Ended
}

#[cfg(test)]
mod tests;
