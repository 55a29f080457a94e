//! 挂失 / 解挂 — suspending a lost or stolen number at once, and lifting the suspension when
//! the SIM turns up, as a pure state machine built from the shared parts: the number (its
//! state decides which of the two it is), the owner's proof — the service password and an
//! SMS code, or the ID card with a live photo compared at the operator —, the confirmation,
//! the operator's suspension or lift, and the receipt. After a loss report the customer is
//! offered a replacement SIM (补卡) on the spot. No money moves; the request carries the
//! transaction id, so a lost answer is settled by the status query.

use boss_protocol::{
    AuthToken, LossLift, LossReport, Msisdn, Request, Response, TxnId, TxnStatusQuery,
};

use super::parts::auth::{Auth, AuthEvent, AuthNeed};
use super::parts::identity::{IdentityCheck, IdentityEvent, Purpose, refusal};
use super::parts::idle::{Idle, IdleCheck};
use super::parts::number::{NumberEntry, NumberEvent};
use super::parts::paper::PaperRun;
use super::screen::{LossAction, Notice, ReceiptState, Screen, SimOutcome, TypedNumber, Working};
use super::sim::{SimReceipt, done_screen};
use super::{
    Effect, Flow, Ids, Input, JournalOp, LegOutcome, LostAnswer, Millis, OpError, Paper, ReqId,
    ServiceId, Timeouts, TxnKind, Ui, mask_phone,
};

const SERVICE: ServiceId = ServiceId::Loss;

/// Settings of the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub timeouts: Timeouts,
    /// The ID card reader and the camera work (the card and face are offered as proof).
    pub id_card: bool,
    /// A replacement SIM can be issued here now (offered after a loss report).
    pub replacement: bool,
    /// Randomness for the shuffled keypad.
    pub seed: u64,
}

/// What the flow knows of the number and its owner once they proved who they are.
#[derive(Debug)]
struct Ctx {
    msisdn: String,
    owner_masked: String,
    action: LossAction,
    token: AuthToken,
    /// From the ID card, when that was the proof: 王** and 110101********123X.
    name_masked: String,
    id_masked: String,
}

/// The number, its owner as the operator masks it, and which of the two it is.
#[derive(Debug)]
struct Number {
    msisdn: String,
    owner_masked: String,
    action: LossAction,
}

#[derive(Debug)]
enum State {
    Number {
        entry: NumberEntry,
    },
    Authenticating {
        number: Number,
        auth: Auth,
    },
    Identity {
        number: Number,
        part: IdentityCheck,
    },
    Confirm {
        ctx: Ctx,
    },
    Opening {
        ctx: Ctx,
    },
    Sending {
        ctx: Ctx,
        txn: String,
        req: ReqId,
        resent: bool,
    },
    Querying {
        ctx: Ctx,
        txn: String,
        req: ReqId,
        resent: bool,
    },
    Printing {
        receipt: SimReceipt,
        run: PaperRun,
        offer: Option<String>,
    },
    /// A refusal or the result is on the screen; `offer`: the number a replacement SIM can
    /// be made for now.
    Done {
        offer: Option<String>,
    },
    Ended,
}

/// The loss report and lift flow.
#[derive(Debug)]
pub struct LossFlow {
    config: Config,
    state: State,
    idle: Idle,
    ids: Ids,
}

impl LossFlow {
    /// Starts at the number keypad.
    pub fn start(config: Config, now: Millis) -> (Self, Vec<Effect>) {
        let mut out = Vec::new();
        let entry = NumberEntry::start(SERVICE, "", None, &mut out);
        let flow = Self {
            idle: Idle::new(config.timeouts, now),
            config,
            state: State::Number { entry },
            ids: Ids::default(),
        };
        (flow, out)
    }

    fn authenticate(&self, number: Number, out: &mut Vec<Effect>) -> State {
        let auth = Auth::start(
            SERVICE,
            AuthNeed::PasswordAndSmsOrFace,
            self.config.id_card,
            &number.msisdn,
            &mask_phone(&number.msisdn),
            self.config.seed,
            out,
        );
        State::Authenticating { number, auth }
    }

    fn confirm(ctx: Ctx, out: &mut Vec<Effect>) -> State {
        out.push(Effect::Show(Screen::LossConfirm {
            action: ctx.action,
            number_masked: mask_phone(&ctx.msisdn),
            owner_masked: ctx.owner_masked.clone(),
        }));
        State::Confirm { ctx }
    }

    fn op(action: LossAction) -> &'static str {
        match action {
            LossAction::Report => "loss_report",
            LossAction::Lift => "loss_lift",
        }
    }

    fn send(&mut self, ctx: Ctx, txn: String, resent: bool, out: &mut Vec<Effect>) -> State {
        if !resent {
            out.push(Effect::Journal(JournalOp::OperatorSent {
                leg: txn.clone(),
                op: Self::op(ctx.action),
                amount_fen: 0,
            }));
        }
        let (txn_id, token, msisdn) = (
            TxnId::new(txn.clone()),
            ctx.token.clone(),
            Msisdn::new(ctx.msisdn.clone()),
        );
        let (request, what) = match ctx.action {
            LossAction::Report => (
                Request::LossReport(LossReport {
                    txn_id,
                    token,
                    msisdn,
                }),
                Working::ReportingLoss,
            ),
            LossAction::Lift => (
                Request::LossLift(LossLift {
                    txn_id,
                    token,
                    msisdn,
                }),
                Working::LiftingLoss,
            ),
        };
        let req = self.ids.fresh();
        out.push(Effect::Operator {
            req,
            request,
            timeout_ms: None,
        });
        out.push(Effect::Show(Screen::Working { what }));
        State::Sending {
            ctx,
            txn,
            req,
            resent,
        }
    }

    fn receipt(ctx: &Ctx, txn: &str, outcome: SimOutcome) -> SimReceipt {
        SimReceipt {
            txn_id: txn.to_owned(),
            service: Self::op(ctx.action).into(),
            number_masked: mask_phone(&ctx.msisdn),
            name_masked: if ctx.name_masked.is_empty() {
                ctx.owner_masked.clone()
            } else {
                ctx.name_masked.clone()
            },
            id_masked: ctx.id_masked.clone(),
            plan_name: None,
            card_fee_fen: 0,
            prepaid_fen: 0,
            first_month_fee_fen: 0,
            paid_fen: 0,
            agreement_version: None,
            outcome,
        }
    }

    fn answered(
        &mut self,
        ctx: Ctx,
        txn: String,
        resent: bool,
        result: Result<Response, OpError>,
        out: &mut Vec<Effect>,
    ) -> State {
        let done = match (&result, ctx.action) {
            (Ok(Response::LossReport(r)), LossAction::Report) => {
                Some((format!("LR{}", r.suspended_at_ms), r.suspended_at_ms))
            }
            (Ok(Response::LossLift(r)), LossAction::Lift) => {
                Some((format!("LL{}", r.resumed_at_ms), r.resumed_at_ms))
            }
            _ => None,
        };
        if let Some((operator_ref, at_ms)) = done {
            out.push(Effect::Journal(JournalOp::OperatorAnswered {
                leg: txn.clone(),
                outcome: LegOutcome::Committed {
                    operator_ref: operator_ref.clone(),
                },
            }));
            out.push(Effect::Journal(JournalOp::Complete {
                operator_ref: operator_ref.clone(),
            }));
            let at = minute(at_ms);
            let (outcome, offer) = match ctx.action {
                LossAction::Report => (
                    SimOutcome::LossReported {
                        operator_ref,
                        at,
                        replace: self.config.replacement,
                    },
                    self.config.replacement.then(|| ctx.msisdn.clone()),
                ),
                LossAction::Lift => (SimOutcome::LossLifted { operator_ref, at }, None),
            };
            let receipt = Self::receipt(&ctx, &txn, outcome);
            return self.print(receipt, offer, out);
        }
        match result {
            Err(OpError::Refused { code, .. }) => {
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg: txn,
                    outcome: LegOutcome::Failed { code: code.clone() },
                }));
                out.push(Effect::Journal(JournalOp::Cancel {
                    reason: format!("operator refused the {}: {code}", Self::op(ctx.action)),
                }));
                // Reported lost already: what helps now is a new card for the number.
                if code == "already_reported" && self.config.replacement {
                    out.push(Effect::Show(Screen::Refused {
                        service: SERVICE,
                        notice: Notice::AlreadyReported,
                        offer: Some(ServiceId::ReplaceSim),
                    }));
                    return State::Done {
                        offer: Some(ctx.msisdn),
                    };
                }
                refused(refusal(&code), out)
            }
            Err(e) => {
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg: txn.clone(),
                    outcome: LegOutcome::of(&Err(e), None),
                }));
                let req = self.ids.fresh();
                out.push(Effect::Operator {
                    req,
                    request: Request::TxnStatus(TxnStatusQuery {
                        txn_id: TxnId::new(txn.clone()),
                    }),
                    timeout_ms: None,
                });
                State::Querying {
                    ctx,
                    txn,
                    req,
                    resent,
                }
            }
            Ok(other) => self.unconfirmed(ctx, txn, format!("answer `{}`", other.op()), out),
        }
    }

    fn unconfirmed(
        &mut self,
        ctx: Ctx,
        txn: String,
        cause: String,
        out: &mut Vec<Effect>,
    ) -> State {
        let reason = format!(
            "{} not confirmed by the operator: {cause}",
            Self::op(ctx.action)
        );
        out.push(Effect::Journal(JournalOp::MarkPending {
            reason: reason.clone(),
        }));
        let receipt = Self::receipt(&ctx, &txn, SimOutcome::Unconfirmed { reason });
        self.print(receipt, None, out)
    }

    fn print(
        &mut self,
        receipt: SimReceipt,
        offer: Option<String>,
        out: &mut Vec<Effect>,
    ) -> State {
        let run = PaperRun::start(vec![Paper::Sim(receipt.clone())], &mut self.ids, out);
        out.push(done_screen(SERVICE, &receipt, ReceiptState::Printing));
        State::Printing {
            receipt,
            run,
            offer,
        }
    }

    fn step(&mut self, state: State, input: Input, now: Millis, out: &mut Vec<Effect>) -> State {
        use Input as I;
        match (state, input) {
            (state, I::Tick) => self.tick(state, now, out),

            (State::Number { mut entry }, input) => {
                match entry.handle(&input, &mut self.ids, out) {
                    NumberEvent::Pending => State::Number { entry },
                    NumberEvent::Left => end(out),
                    NumberEvent::Unavailable => unavailable(out),
                    NumberEvent::Found { msisdn, subscriber } => {
                        self.idle.touch(now);
                        let action = if subscriber.reported_lost {
                            LossAction::Lift
                        } else {
                            LossAction::Report
                        };
                        let number = Number {
                            msisdn,
                            owner_masked: subscriber.owner_masked,
                            action,
                        };
                        self.authenticate(number, out)
                    }
                }
            }

            (State::Authenticating { number, mut auth }, input) => {
                if matches!(input, I::Shutdown | I::Ui(Ui::Cancel)) {
                    return end(out);
                }
                // The card and face are the identity part's.
                if auth.choosing()
                    && self.config.id_card
                    && matches!(&input, I::Ui(Ui::Select(m)) if m == "id_card")
                {
                    self.idle.touch(now);
                    let part = IdentityCheck::start(
                        SERVICE,
                        Purpose::Owner {
                            msisdn: number.msisdn.clone(),
                        },
                        &mut self.ids,
                        out,
                    );
                    return State::Identity { number, part };
                }
                match auth.handle(&input, &mut self.ids, now, out) {
                    AuthEvent::Pending => State::Authenticating { number, auth },
                    AuthEvent::Back => State::Number {
                        entry: NumberEntry::start(SERVICE, &number.msisdn, None, out),
                    },
                    AuthEvent::Unavailable => unavailable(out),
                    AuthEvent::Refused { notice } => refused(notice, out),
                    AuthEvent::Authenticated { token, .. } => {
                        self.idle.touch(now);
                        Self::confirm(
                            Ctx {
                                msisdn: number.msisdn,
                                owner_masked: number.owner_masked,
                                action: number.action,
                                token,
                                name_masked: String::new(),
                                id_masked: String::new(),
                            },
                            out,
                        )
                    }
                }
            }

            (State::Identity { number, mut part }, input) => {
                if matches!(input, I::Shutdown | I::Ui(Ui::Cancel)) {
                    return end(out);
                }
                match part.handle(&input, &mut self.ids, out) {
                    IdentityEvent::Pending => State::Identity { number, part },
                    IdentityEvent::Back => self.authenticate(number, out),
                    IdentityEvent::Unavailable => unavailable(out),
                    IdentityEvent::Refused { notice } => refused(notice, out),
                    IdentityEvent::Done(identity) => {
                        self.idle.touch(now);
                        let Some(token) = identity.token.clone() else {
                            return unavailable(out);
                        };
                        let card = identity.doc.card.as_ref();
                        // The card's text and the photo go with `identity` here: only the
                        // masked name and number stay, for the receipt.
                        Self::confirm(
                            Ctx {
                                msisdn: number.msisdn,
                                owner_masked: number.owner_masked,
                                action: number.action,
                                token,
                                name_masked: card.map(|c| c.name.masked()).unwrap_or_default(),
                                id_masked: card.map(|c| c.id_number.masked()).unwrap_or_default(),
                            },
                            out,
                        )
                    }
                }
            }

            (State::Confirm { ctx }, I::Ui(Ui::Confirm)) => {
                out.push(Effect::Journal(JournalOp::Open {
                    kind: match ctx.action {
                        LossAction::Report => TxnKind::LossReport,
                        LossAction::Lift => TxnKind::LossLift,
                    },
                    msisdn: None,
                    number_masked: mask_phone(&ctx.msisdn),
                }));
                State::Opening { ctx }
            }
            (State::Confirm { .. }, I::Ui(Ui::Back | Ui::Cancel) | I::Shutdown) => end(out),

            (State::Opening { ctx }, I::TxnOpened { id }) => self.send(ctx, id, false, out),

            (
                State::Sending {
                    ctx,
                    txn,
                    req,
                    resent,
                },
                I::Operator { req: r, result },
            ) if r == req => self.answered(ctx, txn, resent, result, out),

            (
                State::Querying {
                    ctx,
                    txn,
                    req,
                    resent,
                },
                I::Operator { req: r, result },
            ) if r == req => match LostAnswer::of(result) {
                LostAnswer::Answered(answer) => self.answered(ctx, txn, resent, answer, out),
                LostAnswer::NeverReceived if !resent => self.send(ctx, txn, true, out),
                LostAnswer::NeverReceived => {
                    self.unconfirmed(ctx, txn, "status unknown".into(), out)
                }
                LostAnswer::Unknown(cause) => self.unconfirmed(ctx, txn, cause, out),
            },

            (
                State::Printing {
                    receipt,
                    mut run,
                    offer,
                },
                input @ I::Printed { .. },
            ) => match run.handle(&input, out) {
                None => State::Printing {
                    receipt,
                    run,
                    offer,
                },
                Some(all) => {
                    out.push(done_screen(
                        SERVICE,
                        &receipt,
                        if all {
                            ReceiptState::Printed
                        } else {
                            ReceiptState::NotPrinted
                        },
                    ));
                    self.idle.touch(now);
                    State::Done { offer }
                }
            },
            (
                State::Done {
                    offer: Some(msisdn),
                },
                I::Ui(Ui::Select(s)),
            ) if s == ServiceId::ReplaceSim.id() => {
                out.push(Effect::Handoff {
                    service: ServiceId::ReplaceSim,
                    number: TypedNumber::new(msisdn),
                });
                end(out)
            }
            (State::Done { .. }, I::Ui(Ui::Confirm | Ui::Cancel | Ui::Back) | I::Shutdown) => {
                end(out)
            }

            (state, _) => state,
        }
    }

    fn tick(&mut self, state: State, now: Millis, out: &mut Vec<Effect>) -> State {
        let waiting = matches!(
            state,
            State::Number { .. }
                | State::Authenticating { .. }
                | State::Identity { .. }
                | State::Confirm { .. }
                | State::Done { .. }
        );
        if !waiting {
            return state;
        }
        match self.idle.check(now, self.idle.timeouts().idle_ms) {
            IdleCheck::Fine => state,
            IdleCheck::Warn { seconds_left } => {
                out.push(Effect::IdleWarning {
                    seconds_left,
                    money_fen: 0,
                });
                state
            }
            // Walked away: the session, the token, the card's text and the photo are wiped.
            IdleCheck::Expired => end(out),
        }
    }
}

impl Flow for LossFlow {
    fn handle(&mut self, input: Input, now: Millis) -> Vec<Effect> {
        let mut out = Vec::new();
        if let Input::Ui(ui) = &input {
            self.idle.on_ui(ui, now);
            if matches!(ui, Ui::Touch | Ui::Help(_) | Ui::Elder(_)) {
                return out;
            }
        }
        if matches!(input, Input::FaceGuidance { .. } | Input::Face { .. }) {
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
            State::Number { entry } if entry.looking_up() => "loss.looking_up",
            State::Number { .. } => "loss.enter_number",
            State::Authenticating { .. } => "loss.authenticating",
            State::Identity { .. } => "loss.identity",
            State::Confirm { .. } => "loss.confirm",
            State::Opening { .. } | State::Sending { .. } | State::Querying { .. } => {
                "loss.sending"
            }
            State::Printing { .. } => "loss.printing",
            State::Done { .. } => "loss.result",
            State::Ended => "loss.ended",
        }
    }

    fn money_in_fen(&self) -> u64 {
        0
    }

    fn wants_cash(&self) -> bool {
        false
    }

    fn takes_notes(&self) -> bool {
        false
    }
}

/// `YYYY-MM-DD HH:MM`, Beijing time.
fn minute(unix_ms: i64) -> String {
    let mut t = crate::receipts::shop_time(unix_ms);
    t.truncate(16);
    t
}

fn refused(notice: Notice, out: &mut Vec<Effect>) -> State {
    out.push(Effect::Show(Screen::Refused {
        service: SERVICE,
        notice,
        offer: None,
    }));
    State::Done { offer: None }
}

fn unavailable(out: &mut Vec<Effect>) -> State {
    out.push(Effect::Show(Screen::Sorry {
        notice: Notice::ServiceUnavailable,
        reference: None,
    }));
    end(out)
}

fn end(out: &mut Vec<Effect>) -> State {
    out.push(Effect::End);
    State::Ended
}

#[cfg(test)]
mod tests;
