//! 实名补登记 — registering the user's identity on a number that has none, as a pure state
//! machine built from the shared parts: the number, the service password or an SMS code to
//! the number, the registrant's ID card, consent and live photo with the operator's face
//! comparison, the confirmation in the shop's words, the operator's registration and the
//! receipt. No money moves; the request carries the transaction id, so a lost answer is
//! settled by the status query.

use boss_protocol::{
    AuthToken, Msisdn, RealNameReregister, Request, Response, TxnId, TxnStatusQuery,
};

use super::parts::auth::{Auth, AuthEvent, AuthNeed};
use super::parts::identity::{Identity, IdentityCheck, IdentityEvent, Purpose, refusal};
use super::parts::idle::{Idle, IdleCheck};
use super::parts::number::{NumberEntry, NumberEvent};
use super::parts::paper::PaperRun;
use super::screen::{Notice, ReceiptState, Screen, SimOutcome, Working};
use super::sim::{SimReceipt, done_screen};
use super::{
    Effect, Flow, Ids, Input, JournalOp, LegOutcome, LostAnswer, Millis, OpError, Paper, ReqId,
    ServiceId, Timeouts, TxnKind, Ui, mask_phone,
};

/// Settings of the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub timeouts: Timeouts,
    /// Randomness for the shuffled keypad.
    pub seed: u64,
}

#[derive(Debug)]
struct Ctx {
    msisdn: String,
    token: AuthToken,
    identity: Identity,
}

#[derive(Debug)]
enum State {
    Number {
        entry: NumberEntry,
    },
    Authenticating {
        msisdn: String,
        auth: Auth,
    },
    Identity {
        msisdn: String,
        token: AuthToken,
        part: IdentityCheck,
    },
    Confirm {
        ctx: Ctx,
    },
    Opening {
        ctx: Ctx,
    },
    Registering {
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
    },
    /// A refusal or the result is on the screen.
    Done,
    Ended,
}

/// The re-registration flow.
#[derive(Debug)]
pub struct Reregister {
    config: Config,
    state: State,
    idle: Idle,
    ids: Ids,
}

impl Reregister {
    /// Starts at the number keypad.
    pub fn start(config: Config, now: Millis) -> (Self, Vec<Effect>) {
        let mut out = Vec::new();
        let entry = NumberEntry::start(ServiceId::Registration, "", None, &mut out);
        let flow = Self {
            idle: Idle::new(config.timeouts, now),
            config,
            state: State::Number { entry },
            ids: Ids::default(),
        };
        (flow, out)
    }

    fn receipt(&self, ctx: &Ctx, txn: &str, outcome: SimOutcome) -> SimReceipt {
        let card = ctx.identity.doc.card.as_ref();
        SimReceipt {
            txn_id: txn.to_owned(),
            service: "reregister".into(),
            number_masked: mask_phone(&ctx.msisdn),
            name_masked: card.map(|c| c.name.masked()).unwrap_or_default(),
            id_masked: card.map(|c| c.id_number.masked()).unwrap_or_default(),
            plan_name: None,
            card_fee_fen: 0,
            prepaid_fen: 0,
            first_month_fee_fen: 0,
            paid_fen: 0,
            agreement_version: None,
            outcome,
        }
    }

    fn register(&mut self, ctx: Ctx, txn: String, resent: bool, out: &mut Vec<Effect>) -> State {
        let Some(card) = ctx.identity.doc.card.clone() else {
            return unavailable(out);
        };
        if !resent {
            out.push(Effect::Journal(JournalOp::OperatorSent {
                leg: txn.clone(),
                op: "real_name_reregister",
                amount_fen: 0,
            }));
        }
        let req = self.ids.fresh();
        out.push(Effect::Operator {
            req,
            request: Request::RealNameReregister(RealNameReregister {
                txn_id: TxnId::new(txn.clone()),
                token: ctx.token.clone(),
                msisdn: Msisdn::new(ctx.msisdn.clone()),
                id: card,
                face_check_id: ctx.identity.face_check_id.clone(),
            }),
            timeout_ms: None,
        });
        out.push(Effect::Show(Screen::Working {
            what: Working::Registering,
        }));
        State::Registering {
            ctx,
            txn,
            req,
            resent,
        }
    }

    fn registered(
        &mut self,
        ctx: Ctx,
        txn: String,
        resent: bool,
        result: Result<Response, OpError>,
        out: &mut Vec<Effect>,
    ) -> State {
        match result {
            Ok(Response::RealNameReregister(r)) => {
                let operator_ref = format!("RR{}", r.registered_at_ms);
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg: txn.clone(),
                    outcome: LegOutcome::Committed {
                        operator_ref: operator_ref.clone(),
                    },
                }));
                out.push(Effect::Journal(JournalOp::Complete {
                    operator_ref: operator_ref.clone(),
                }));
                let receipt = self.receipt(&ctx, &txn, SimOutcome::Registered { operator_ref });
                self.print(receipt, out)
            }
            Err(OpError::Refused { code, .. }) => {
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg: txn,
                    outcome: LegOutcome::Failed { code: code.clone() },
                }));
                out.push(Effect::Journal(JournalOp::Cancel {
                    reason: format!("operator refused the registration: {code}"),
                }));
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
        let reason = format!("registration not confirmed by the operator: {cause}");
        out.push(Effect::Journal(JournalOp::MarkPending {
            reason: reason.clone(),
        }));
        let receipt = self.receipt(&ctx, &txn, SimOutcome::Unconfirmed { reason });
        self.print(receipt, out)
    }

    fn print(&mut self, receipt: SimReceipt, out: &mut Vec<Effect>) -> State {
        let run = PaperRun::start(vec![Paper::Sim(receipt.clone())], &mut self.ids, out);
        out.push(done_screen(
            ServiceId::Registration,
            &receipt,
            ReceiptState::Printing,
        ));
        State::Printing { receipt, run }
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
                    NumberEvent::Found { msisdn, .. } => {
                        self.idle.touch(now);
                        let auth = Auth::start(
                            ServiceId::Registration,
                            AuthNeed::PasswordOrSms,
                            false,
                            &msisdn,
                            &mask_phone(&msisdn),
                            self.config.seed,
                            out,
                        );
                        State::Authenticating { msisdn, auth }
                    }
                }
            }

            (State::Authenticating { msisdn, mut auth }, input) => {
                if matches!(input, I::Shutdown | I::Ui(Ui::Cancel)) {
                    return end(out);
                }
                match auth.handle(&input, &mut self.ids, now, out) {
                    AuthEvent::Pending => State::Authenticating { msisdn, auth },
                    AuthEvent::Back => State::Number {
                        entry: NumberEntry::start(ServiceId::Registration, &msisdn, None, out),
                    },
                    AuthEvent::Unavailable => unavailable(out),
                    AuthEvent::Refused { notice } => refused(notice, out),
                    AuthEvent::Authenticated { token, .. } => {
                        self.idle.touch(now);
                        let part = IdentityCheck::start(
                            ServiceId::Registration,
                            Purpose::Registrant,
                            &mut self.ids,
                            out,
                        );
                        State::Identity {
                            msisdn,
                            token,
                            part,
                        }
                    }
                }
            }

            (
                State::Identity {
                    msisdn,
                    token,
                    mut part,
                },
                input,
            ) => {
                if matches!(input, I::Shutdown | I::Ui(Ui::Cancel)) {
                    return end(out);
                }
                match part.handle(&input, &mut self.ids, out) {
                    IdentityEvent::Pending => State::Identity {
                        msisdn,
                        token,
                        part,
                    },
                    IdentityEvent::Back => end(out),
                    IdentityEvent::Unavailable => unavailable(out),
                    IdentityEvent::Refused { notice } => refused(notice, out),
                    IdentityEvent::Done(identity) => {
                        self.idle.touch(now);
                        let card = identity.doc.card.as_ref();
                        out.push(Effect::Show(Screen::ReregisterConfirm {
                            number_masked: mask_phone(&msisdn),
                            name_masked: card.map(|c| c.name.masked()).unwrap_or_default(),
                            id_masked: card.map(|c| c.id_number.masked()).unwrap_or_default(),
                        }));
                        State::Confirm {
                            ctx: Ctx {
                                msisdn,
                                token,
                                identity: *identity,
                            },
                        }
                    }
                }
            }

            (State::Confirm { ctx }, I::Ui(Ui::Confirm)) => {
                out.push(Effect::Journal(JournalOp::Open {
                    kind: TxnKind::Reregister,
                    msisdn: None,
                    number_masked: mask_phone(&ctx.msisdn),
                }));
                State::Opening { ctx }
            }
            (State::Confirm { .. }, I::Ui(Ui::Back | Ui::Cancel) | I::Shutdown) => end(out),

            (State::Opening { ctx }, I::TxnOpened { id }) => self.register(ctx, id, false, out),

            (
                State::Registering {
                    ctx,
                    txn,
                    req,
                    resent,
                },
                I::Operator { req: r, result },
            ) if r == req => self.registered(ctx, txn, resent, result, out),

            (
                State::Querying {
                    ctx,
                    txn,
                    req,
                    resent,
                },
                I::Operator { req: r, result },
            ) if r == req => match LostAnswer::of(result) {
                LostAnswer::Answered(answer) => self.registered(ctx, txn, resent, answer, out),
                LostAnswer::NeverReceived if !resent => self.register(ctx, txn, true, out),
                LostAnswer::NeverReceived => {
                    self.unconfirmed(ctx, txn, "status unknown".into(), out)
                }
                LostAnswer::Unknown(cause) => self.unconfirmed(ctx, txn, cause, out),
            },

            (State::Printing { receipt, mut run }, input @ I::Printed { .. }) => {
                match run.handle(&input, out) {
                    None => State::Printing { receipt, run },
                    Some(all) => {
                        out.push(done_screen(
                            ServiceId::Registration,
                            &receipt,
                            if all {
                                ReceiptState::Printed
                            } else {
                                ReceiptState::NotPrinted
                            },
                        ));
                        self.idle.touch(now);
                        State::Done
                    }
                }
            }
            (State::Done, I::Ui(Ui::Confirm | Ui::Cancel | Ui::Back) | I::Shutdown) => end(out),

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
                | State::Done
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
            // Walked away: the session, the card's text and the photo are wiped.
            IdleCheck::Expired => end(out),
        }
    }
}

impl Flow for Reregister {
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
            State::Number { entry } if entry.looking_up() => "reregister.looking_up",
            State::Number { .. } => "reregister.enter_number",
            State::Authenticating { .. } => "reregister.authenticating",
            State::Identity { .. } => "reregister.identity",
            State::Confirm { .. } => "reregister.confirm",
            State::Opening { .. } | State::Registering { .. } | State::Querying { .. } => {
                "reregister.registering"
            }
            State::Printing { .. } => "reregister.printing",
            State::Done => "reregister.result",
            State::Ended => "reregister.ended",
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

fn refused(notice: Notice, out: &mut Vec<Effect>) -> State {
    out.push(Effect::Show(Screen::Refused {
        service: ServiceId::Registration,
        notice,
        offer: None,
    }));
    State::Done
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
