//! Cash top-up (话费充值) as a pure state machine.
//!
//! The customer enters a number, confirms it against the masked owner name the operator
//! returns, is told that no change is given, inserts notes, and finishes (or walks away,
//! which finishes for them once money is in — a top-up with money in is never cancelled).
//! Notes are credited only on the acceptor's credit event; a note that would exceed the
//! per-transaction limit is returned from escrow. The operator credits the total with the
//! transaction id as idempotency key; if the answer is lost the money stays pending and
//! is retried, never dropped; if the operator refuses, the money goes on a refund voucher.

use bill_acceptor::AcceptorEvent;
use serde::Serialize;

use super::{Millis, is_mobile_number, mask_phone};

/// Settings of the flow (from the kiosk's configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Note values accepted, in fen (config ∩ what the acceptor knows).
    pub accept_fen: Vec<u64>,
    /// Per-transaction maximum in fen.
    pub max_fen: u64,
    /// Idle time before a session without money is ended.
    pub idle_ms: Millis,
    /// Idle time during note insertion, with money in, before the top-up finishes itself.
    pub insert_idle_ms: Millis,
    /// How long before a timeout the customer is warned.
    pub warn_ms: Millis,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            accept_fen: vec![1000, 2000, 5000, 10000],
            max_fen: 50_000,
            idle_ms: 60_000,
            insert_idle_ms: 90_000,
            warn_ms: 15_000,
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
}

/// Why a lookup gave no subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// No such number at this operator.
    NotFound,
    /// The operator could not be asked (link down, timeout, error).
    Unavailable(String),
}

/// The operator's answer to a recharge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credited {
    pub boss_ref: String,
    pub new_balance_fen: Option<i64>,
}

/// Why a recharge did not (or may not have) happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RechargeError {
    /// The operator answered and refused: nothing was credited.
    Refused { code: String, message: String },
    /// No answer (timeout, link down, connection dropped): it may or may not have been
    /// credited; only a status query with the same transaction id can tell.
    Unknown { cause: String },
}

/// Whether the receipt came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PrintResult {
    Printed,
    NotPrinted { reason: String },
}

/// What the customer did on the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ui {
    /// A number was entered (and, on the double-entry keypad, entered twice equal).
    Number(String),
    /// "Yes, this is the number" / "Yes, go on".
    Confirm,
    /// Back one step (only before money is in).
    Back,
    /// Leave the service (with money in, this finishes the top-up instead).
    Cancel,
    /// The customer pressed "finish" on the note screen.
    Finish,
    /// Any touch: keeps the session alive.
    Touch,
}

/// Everything the flow consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Ui(Ui),
    Acceptor(AcceptorEvent),
    /// The acceptor actor lost the device.
    AcceptorDown {
        cause: String,
    },
    Lookup(Result<Subscriber, LookupError>),
    /// The journal opened the transaction with this id.
    TxnOpened {
        id: String,
    },
    Recharge(Result<Credited, RechargeError>),
    Printed(PrintResult),
    /// Time passes (sent a few times a second).
    Tick,
}

/// Something the customer is told; the screen words it in the customer's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// Not an 11-digit mobile number.
    InvalidNumber,
    /// The operator does not know the number.
    NumberNotFound,
    /// The account is closed and cannot be topped up.
    AccountClosed,
    /// The operator cannot be reached; top-up is unavailable for now.
    ServiceUnavailable,
    /// The note was handed back because it would pass the limit.
    NoteOverLimit { fen: u64, max_fen: u64 },
    /// The acceptor did not take the note (not recognised, worn, not accepted).
    NoteRejected,
    /// The acceptor is jammed; notes already credited are safe.
    Jammed,
    /// The cashbox is full; the kiosk stops taking notes.
    CashboxFull,
    /// The acceptor stopped working.
    AcceptorFault,
    /// A tampering attempt was detected.
    Tampering,
    /// The limit is reached: no more notes.
    LimitReached,
}

/// Receipt printing state shown on the result screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptState {
    Printing,
    Printed,
    NotPrinted,
}

/// How the top-up ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Credited.
    Credited {
        boss_ref: String,
        new_balance_fen: Option<i64>,
    },
    /// Money in, credit not confirmed yet: it will be retried; the receipt says "pending".
    Pending { reason: String },
    /// Refused by the operator: a refund voucher (退款凭条) for the amount.
    Voucher { reason: String },
}

/// What the screen shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "screen", rename_all = "snake_case")]
pub enum Screen {
    EnterNumber {
        notice: Option<Notice>,
    },
    LookingUp {
        number_masked: String,
    },
    /// "您办理的是 138****0000（*小明）的话费充值，是吗？"
    Confirm {
        number_masked: String,
        subscriber: Subscriber,
    },
    /// "本机不找零" — shown before the first note.
    NoChange {
        accept_fen: Vec<u64>,
        max_fen: u64,
    },
    Insert {
        number_masked: String,
        total_fen: u64,
        remaining_fen: u64,
        accept_fen: Vec<u64>,
        notice: Option<Notice>,
        /// Whether the finish button is active (money in, nothing in flight).
        can_finish: bool,
    },
    Processing {
        total_fen: u64,
    },
    Result {
        number_masked: String,
        amount_fen: u64,
        outcome: Outcome,
        reference: String,
        receipt: ReceiptState,
    },
    Sorry {
        notice: Notice,
        reference: Option<String>,
    },
}

/// The receipt (业务受理回执) or voucher the flow wants printed; the orchestrator lays
/// it out on paper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopUpReceipt {
    pub txn_id: String,
    pub number_masked: String,
    pub amount_fen: u64,
    pub outcome: Outcome,
}

/// What the flow asks the world to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    Show(Screen),
    /// Warn the customer that the session ends in this many seconds unless they touch.
    IdleWarning {
        seconds_left: u64,
    },
    /// Ask the operator about the number.
    Lookup {
        msisdn: String,
    },
    /// Journal: open the transaction (answered by [`Event::TxnOpened`]).
    OpenTxn {
        msisdn: String,
        number_masked: String,
    },
    /// Journal: an intent, written before the act it announces.
    Intent {
        kind: &'static str,
        detail: serde_json::Value,
    },
    /// Journal: a note became money for this transaction.
    CreditNote {
        fen: u64,
        power_up: bool,
    },
    EnableAcceptor {
        accept_fen: Vec<u64>,
    },
    DisableAcceptor,
    StackNote,
    ReturnNote,
    /// Ask the operator to credit the amount (idempotency key: the transaction id).
    Recharge {
        msisdn: String,
        amount_fen: u64,
    },
    /// Journal: settled / pending / voucher / cancelled.
    Settle {
        credited_fen: u64,
        boss_ref: String,
        new_balance_fen: Option<i64>,
    },
    MarkPending {
        reason: String,
    },
    IssueVoucher {
        reason: String,
    },
    CancelTxn {
        reason: String,
    },
    Print(TopUpReceipt),
    /// Journal: whether the receipt came out.
    RecordReceipt {
        outcome: PrintResult,
    },
    /// The session is over: back to the idle screen, session data wiped.
    End,
}

#[derive(Debug, Clone)]
struct Ctx {
    txn: String,
    msisdn: String,
    number_masked: String,
    /// Money credited by the acceptor.
    total_fen: u64,
    /// Amount sent to the operator in the recharge.
    recharged_fen: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// The customer pressed finish (or cancel with money in).
    Customer,
    /// Idle with money in.
    Timeout,
    /// The acceptor cannot go on.
    Fault,
}

#[derive(Debug, Clone)]
enum State {
    EnterNumber,
    LookingUp {
        msisdn: String,
    },
    Confirm {
        msisdn: String,
    },
    Opening {
        msisdn: String,
    },
    NoChange {
        ctx: Ctx,
    },
    Inserting {
        ctx: Ctx,
        /// Note held in escrow, waiting for our decision.
        escrow: Option<u64>,
        /// Note we told the acceptor to stack, not yet credited.
        stacking: Option<u64>,
        closing: Option<Closing>,
        notice: Option<Notice>,
    },
    /// Waiting for the operator's answer to a recharge of `ctx.recharged_fen`.
    Recharging {
        ctx: Ctx,
    },
    /// Waiting for `prints_left` receipts / vouchers to come out.
    Printing {
        ctx: Ctx,
        outcome: Outcome,
        prints_left: u8,
        all_printed: bool,
    },
    Done {
        ctx: Ctx,
    },
    Ended,
}

/// A cash top-up session.
#[derive(Debug, Clone)]
pub struct TopUp {
    config: Config,
    state: State,
    last_activity: Millis,
    warned: bool,
}

impl TopUp {
    /// Starts a session at the number keypad.
    pub fn start(config: Config, now: Millis) -> (Self, Vec<Cmd>) {
        let flow = Self {
            config,
            state: State::EnterNumber,
            last_activity: now,
            warned: false,
        };
        (flow, vec![Cmd::Show(Screen::EnterNumber { notice: None })])
    }

    /// Whether the session is over.
    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    /// Money credited so far (0 before the first note).
    pub fn total_fen(&self) -> u64 {
        self.ctx().map_or(0, |c| c.total_fen)
    }

    /// The transaction id, once opened.
    pub fn txn_id(&self) -> Option<&str> {
        self.ctx().map(|c| c.txn.as_str())
    }

    /// Name of the current state, for logs and tests.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::EnterNumber => "enter_number",
            State::LookingUp { .. } => "looking_up",
            State::Confirm { .. } => "confirm",
            State::Opening { .. } => "opening",
            State::NoChange { .. } => "no_change",
            State::Inserting { .. } => "inserting",
            State::Recharging { .. } => "recharging",
            State::Printing { .. } => "printing",
            State::Done { .. } => "done",
            State::Ended => "ended",
        }
    }

    fn ctx(&self) -> Option<&Ctx> {
        match &self.state {
            State::NoChange { ctx }
            | State::Inserting { ctx, .. }
            | State::Recharging { ctx }
            | State::Printing { ctx, .. }
            | State::Done { ctx, .. } => Some(ctx),
            _ => None,
        }
    }

    /// Consumes one event at time `now` and returns the commands to carry out, in order.
    pub fn handle(&mut self, event: Event, now: Millis) -> Vec<Cmd> {
        let mut out = Vec::new();
        if matches!(event, Event::Ui(_)) {
            self.last_activity = now;
            self.warned = false;
        }
        let state = std::mem::replace(&mut self.state, State::Ended);
        self.state = self.step(state, event, now, &mut out);
        out
    }

    fn step(&mut self, state: State, event: Event, now: Millis, out: &mut Vec<Cmd>) -> State {
        use Event as E;
        match (state, event) {
            // Time.
            (state, E::Tick) => self.tick(state, now, out),

            // Number entry.
            (State::EnterNumber, E::Ui(Ui::Number(n))) => {
                if is_mobile_number(&n) {
                    out.push(Cmd::Show(Screen::LookingUp {
                        number_masked: mask_phone(&n),
                    }));
                    out.push(Cmd::Lookup { msisdn: n.clone() });
                    State::LookingUp { msisdn: n }
                } else {
                    out.push(Cmd::Show(Screen::EnterNumber {
                        notice: Some(Notice::InvalidNumber),
                    }));
                    State::EnterNumber
                }
            }
            (State::EnterNumber, E::Ui(Ui::Cancel | Ui::Back)) => end(out),

            (State::LookingUp { msisdn }, E::Lookup(Ok(sub))) => {
                if sub.status == AccountStatus::Closed {
                    out.push(Cmd::Show(Screen::EnterNumber {
                        notice: Some(Notice::AccountClosed),
                    }));
                    return State::EnterNumber;
                }
                out.push(Cmd::Show(Screen::Confirm {
                    number_masked: mask_phone(&msisdn),
                    subscriber: sub,
                }));
                State::Confirm { msisdn }
            }
            (State::LookingUp { .. }, E::Lookup(Err(LookupError::NotFound))) => {
                out.push(Cmd::Show(Screen::EnterNumber {
                    notice: Some(Notice::NumberNotFound),
                }));
                State::EnterNumber
            }
            (State::LookingUp { .. }, E::Lookup(Err(LookupError::Unavailable(_)))) => {
                out.push(Cmd::Show(Screen::Sorry {
                    notice: Notice::ServiceUnavailable,
                    reference: None,
                }));
                end(out)
            }
            (State::LookingUp { .. }, E::Ui(Ui::Back | Ui::Cancel)) => {
                out.push(Cmd::Show(Screen::EnterNumber { notice: None }));
                State::EnterNumber
            }

            (State::Confirm { msisdn }, E::Ui(Ui::Confirm)) => {
                out.push(Cmd::OpenTxn {
                    msisdn: msisdn.clone(),
                    number_masked: mask_phone(&msisdn),
                });
                State::Opening { msisdn }
            }
            (State::Confirm { .. }, E::Ui(Ui::Back)) => {
                out.push(Cmd::Show(Screen::EnterNumber { notice: None }));
                State::EnterNumber
            }
            (State::Confirm { .. }, E::Ui(Ui::Cancel)) => end(out),

            (State::Opening { msisdn, .. }, E::TxnOpened { id }) => {
                let ctx = Ctx {
                    txn: id,
                    number_masked: mask_phone(&msisdn),
                    msisdn,
                    total_fen: 0,
                    recharged_fen: 0,
                };
                out.push(Cmd::Show(Screen::NoChange {
                    accept_fen: self.config.accept_fen.clone(),
                    max_fen: self.config.max_fen,
                }));
                State::NoChange { ctx }
            }

            (State::NoChange { ctx }, E::Ui(Ui::Confirm)) => {
                out.push(Cmd::Intent {
                    kind: "enable_acceptor",
                    detail: serde_json::json!({"accept_fen": self.config.accept_fen}),
                });
                out.push(Cmd::EnableAcceptor {
                    accept_fen: self.config.accept_fen.clone(),
                });
                let s = State::Inserting {
                    ctx,
                    escrow: None,
                    stacking: None,
                    closing: None,
                    notice: None,
                };
                self.show_insert(&s, out);
                s
            }
            (State::NoChange { .. }, E::Ui(Ui::Back | Ui::Cancel)) => {
                self.cancel_empty("customer left", out)
            }

            // Notes.
            (
                State::Inserting {
                    ctx,
                    escrow,
                    stacking,
                    closing,
                    notice,
                },
                event,
            ) => self.inserting(ctx, escrow, stacking, closing, notice, event, out),

            // A note credited after the recharge went out (the acceptor should be disabled
            // by then): still money. It goes on a voucher once the recharge is answered.
            (
                State::Recharging { mut ctx },
                E::Acceptor(
                    AcceptorEvent::Credit { fen }
                    | AcceptorEvent::PowerUpNoteInCashbox { fen: Some(fen) },
                ),
            ) => {
                out.push(Cmd::CreditNote {
                    fen,
                    power_up: true,
                });
                ctx.total_fen += fen;
                State::Recharging { ctx }
            }

            (State::Recharging { ctx }, E::Recharge(result)) => {
                let late_fen = ctx.total_fen - ctx.recharged_fen;
                let mut prints = Vec::new();
                let outcome = match result {
                    Ok(c) => {
                        out.push(Cmd::Settle {
                            credited_fen: ctx.recharged_fen,
                            boss_ref: c.boss_ref.clone(),
                            new_balance_fen: c.new_balance_fen,
                        });
                        let outcome = Outcome::Credited {
                            boss_ref: c.boss_ref,
                            new_balance_fen: c.new_balance_fen,
                        };
                        prints.push((ctx.recharged_fen, outcome.clone()));
                        if late_fen > 0 {
                            let reason = "note taken after the recharge was sent".to_string();
                            out.push(Cmd::IssueVoucher {
                                reason: reason.clone(),
                            });
                            prints.push((late_fen, Outcome::Voucher { reason }));
                        }
                        outcome
                    }
                    Err(RechargeError::Unknown { cause }) => {
                        let reason = format!("credit not confirmed: {cause}");
                        out.push(Cmd::MarkPending {
                            reason: reason.clone(),
                        });
                        let outcome = Outcome::Pending { reason };
                        prints.push((ctx.total_fen, outcome.clone()));
                        outcome
                    }
                    Err(RechargeError::Refused { code, message }) => {
                        let reason = format!("operator refused ({code}): {message}");
                        out.push(Cmd::IssueVoucher {
                            reason: reason.clone(),
                        });
                        let outcome = Outcome::Voucher { reason };
                        prints.push((ctx.total_fen, outcome.clone()));
                        outcome
                    }
                };
                out.push(Cmd::Intent {
                    kind: "print_receipt",
                    detail: serde_json::json!({"copies": prints.len()}),
                });
                let prints_left = u8::try_from(prints.len()).unwrap_or(u8::MAX);
                for (amount_fen, outcome) in prints {
                    out.push(Cmd::Print(TopUpReceipt {
                        txn_id: ctx.txn.clone(),
                        number_masked: ctx.number_masked.clone(),
                        amount_fen,
                        outcome,
                    }));
                }
                out.push(self.result_screen(&ctx, &outcome, ReceiptState::Printing));
                State::Printing {
                    ctx,
                    outcome,
                    prints_left,
                    all_printed: true,
                }
            }

            (
                State::Printing {
                    ctx,
                    outcome,
                    prints_left,
                    all_printed,
                },
                E::Printed(result),
            ) => {
                let all_printed = all_printed && result == PrintResult::Printed;
                out.push(Cmd::RecordReceipt { outcome: result });
                let prints_left = prints_left.saturating_sub(1);
                if prints_left > 0 {
                    return State::Printing {
                        ctx,
                        outcome,
                        prints_left,
                        all_printed,
                    };
                }
                let receipt = if all_printed {
                    ReceiptState::Printed
                } else {
                    ReceiptState::NotPrinted
                };
                out.push(self.result_screen(&ctx, &outcome, receipt));
                self.last_activity = now;
                State::Done { ctx }
            }

            (State::Done { .. }, E::Ui(Ui::Confirm | Ui::Cancel | Ui::Back)) => end(out),

            // Anything else leaves the state as it is.
            (state, _) => state,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn inserting(
        &mut self,
        mut ctx: Ctx,
        mut escrow: Option<u64>,
        mut stacking: Option<u64>,
        mut closing: Option<Closing>,
        mut notice: Option<Notice>,
        event: Event,
        out: &mut Vec<Cmd>,
    ) -> State {
        use AcceptorEvent as A;
        match event {
            Event::Acceptor(A::Escrow { fen }) => {
                let over = ctx.total_fen + stacking.unwrap_or(0) + fen > self.config.max_fen;
                let unwanted = !self.config.accept_fen.contains(&fen);
                if closing.is_some() || over || unwanted {
                    out.push(Cmd::ReturnNote);
                    notice = Some(if over {
                        Notice::NoteOverLimit {
                            fen,
                            max_fen: self.config.max_fen,
                        }
                    } else {
                        Notice::NoteRejected
                    });
                } else {
                    out.push(Cmd::Intent {
                        kind: "stack_note",
                        detail: serde_json::json!({"fen": fen}),
                    });
                    out.push(Cmd::StackNote);
                    stacking = Some(fen);
                    notice = None;
                }
                escrow = None;
            }
            Event::Acceptor(A::Credit { fen }) => {
                out.push(Cmd::CreditNote {
                    fen,
                    power_up: false,
                });
                ctx.total_fen += fen;
                stacking = None;
                if ctx.total_fen >= self.config.max_fen && closing.is_none() {
                    notice = Some(Notice::LimitReached);
                    closing = Some(Closing::Customer);
                    out.push(Cmd::DisableAcceptor);
                }
            }
            Event::Acceptor(A::PowerUpNoteInCashbox { fen }) => {
                // The acceptor restarted with a note on its way to the cashbox: that note
                // is this customer's money.
                if let Some(fen) = fen.or(stacking) {
                    out.push(Cmd::CreditNote {
                        fen,
                        power_up: true,
                    });
                    ctx.total_fen += fen;
                }
                stacking = None;
            }
            Event::Acceptor(A::Rejected { .. }) => {
                notice = Some(Notice::NoteRejected);
                escrow = None;
                stacking = None;
            }
            Event::Acceptor(A::Returned { .. } | A::PowerUpNoteReturned { .. }) => {
                escrow = None;
                stacking = None;
            }
            Event::Acceptor(A::Jam { safe }) => {
                out.push(Cmd::Intent {
                    kind: "acceptor_jam",
                    detail: serde_json::json!({"safe": safe, "note_in_flight_fen": stacking}),
                });
                // An unsafe jam is never credited; staff settle it with the reference.
                stacking = None;
                escrow = None;
                notice = Some(Notice::Jammed);
                closing = Some(Closing::Fault);
            }
            Event::Acceptor(A::StackerFull) => {
                notice = Some(Notice::CashboxFull);
                closing = Some(Closing::Fault);
                out.push(Cmd::DisableAcceptor);
            }
            Event::Acceptor(A::Fraud { .. }) => {
                notice = Some(Notice::Tampering);
                closing = Some(Closing::Fault);
                out.push(Cmd::DisableAcceptor);
            }
            Event::Acceptor(A::CashboxRemoved | A::Failure { .. }) | Event::AcceptorDown { .. } => {
                notice = Some(Notice::AcceptorFault);
                closing = Some(Closing::Fault);
                stacking = None;
                escrow = None;
            }
            Event::Acceptor(_) => {}
            Event::Ui(Ui::Finish | Ui::Confirm) if ctx.total_fen > 0 || stacking.is_some() => {
                closing.get_or_insert(Closing::Customer);
                out.push(Cmd::DisableAcceptor);
            }
            Event::Ui(Ui::Cancel | Ui::Back | Ui::Finish | Ui::Confirm) => {
                if ctx.total_fen == 0 && stacking.is_none() {
                    out.push(Cmd::DisableAcceptor);
                    if escrow.is_some() {
                        out.push(Cmd::ReturnNote);
                    }
                    return self.cancel_empty("customer left", out);
                }
                // Money is in: leaving means finishing, never abandoning.
                closing.get_or_insert(Closing::Customer);
                out.push(Cmd::DisableAcceptor);
            }
            // Touches, and events that belong to other states (ticks are handled before).
            _ => {}
        }
        if closing.is_some() && escrow.is_none() && stacking.is_none() {
            return self.close(ctx, closing, out);
        }
        let s = State::Inserting {
            ctx,
            escrow,
            stacking,
            closing,
            notice,
        };
        self.show_insert(&s, out);
        s
    }

    fn close(&mut self, ctx: Ctx, closing: Option<Closing>, out: &mut Vec<Cmd>) -> State {
        if ctx.total_fen == 0 {
            if closing == Some(Closing::Fault) {
                out.push(Cmd::CancelTxn {
                    reason: "acceptor fault before any note".into(),
                });
                out.push(Cmd::Show(Screen::Sorry {
                    notice: Notice::AcceptorFault,
                    reference: Some(ctx.txn),
                }));
                out.push(Cmd::End);
                return State::Ended;
            }
            return self.cancel_empty("customer left", out);
        }
        out.push(Cmd::Intent {
            kind: "recharge",
            detail: serde_json::json!({"amount_fen": ctx.total_fen, "closing": format!("{closing:?}")}),
        });
        out.push(Cmd::Recharge {
            msisdn: ctx.msisdn.clone(),
            amount_fen: ctx.total_fen,
        });
        out.push(Cmd::Show(Screen::Processing {
            total_fen: ctx.total_fen,
        }));
        State::Recharging {
            ctx: Ctx {
                recharged_fen: ctx.total_fen,
                ..ctx
            },
        }
    }

    fn cancel_empty(&mut self, reason: &str, out: &mut Vec<Cmd>) -> State {
        out.push(Cmd::CancelTxn {
            reason: reason.into(),
        });
        end(out)
    }

    fn show_insert(&self, s: &State, out: &mut Vec<Cmd>) {
        if let State::Inserting {
            ctx,
            escrow,
            stacking,
            closing,
            notice,
        } = s
        {
            out.push(Cmd::Show(Screen::Insert {
                number_masked: ctx.number_masked.clone(),
                total_fen: ctx.total_fen,
                remaining_fen: self.config.max_fen.saturating_sub(ctx.total_fen),
                accept_fen: self.config.accept_fen.clone(),
                notice: notice.clone(),
                can_finish: ctx.total_fen > 0
                    && escrow.is_none()
                    && stacking.is_none()
                    && closing.is_none(),
            }));
        }
    }

    fn result_screen(&self, ctx: &Ctx, outcome: &Outcome, receipt: ReceiptState) -> Cmd {
        Cmd::Show(Screen::Result {
            number_masked: ctx.number_masked.clone(),
            amount_fen: ctx.recharged_fen,
            outcome: outcome.clone(),
            reference: ctx.txn.clone(),
            receipt,
        })
    }

    fn tick(&mut self, state: State, now: Millis, out: &mut Vec<Cmd>) -> State {
        let limit = match &state {
            State::EnterNumber
            | State::Confirm { .. }
            | State::NoChange { .. }
            | State::Done { .. } => self.config.idle_ms,
            State::Inserting { ctx, .. } if ctx.total_fen > 0 => self.config.insert_idle_ms,
            State::Inserting { .. } => self.config.idle_ms,
            // Waiting for the operator, the journal or the printer: not the customer's fault.
            _ => return state,
        };
        let idle = now.saturating_sub(self.last_activity);
        if idle >= limit {
            self.warned = false;
            return match state {
                State::Inserting {
                    ctx,
                    escrow,
                    stacking,
                    closing,
                    notice,
                } => {
                    if ctx.total_fen == 0 && stacking.is_none() {
                        out.push(Cmd::DisableAcceptor);
                        if escrow.is_some() {
                            out.push(Cmd::ReturnNote);
                        }
                        return self.cancel_empty("idle timeout", out);
                    }
                    // Money in: finish for the customer, never cancel.
                    if closing.is_none() {
                        out.push(Cmd::DisableAcceptor);
                    }
                    let closing = closing.or(Some(Closing::Timeout));
                    if escrow.is_some() {
                        out.push(Cmd::ReturnNote);
                    }
                    if stacking.is_none() {
                        return self.close(ctx, closing, out);
                    }
                    State::Inserting {
                        ctx,
                        escrow: None,
                        stacking,
                        closing,
                        notice,
                    }
                }
                State::NoChange { .. } => self.cancel_empty("idle timeout", out),
                _ => end(out),
            };
        }
        if !self.warned && idle + self.config.warn_ms >= limit {
            self.warned = true;
            out.push(Cmd::IdleWarning {
                seconds_left: (limit - idle).div_ceil(1000),
            });
        }
        state
    }
}

fn end(out: &mut Vec<Cmd>) -> State {
    out.push(Cmd::End);
    State::Ended
}

#[cfg(test)]
mod tests;
