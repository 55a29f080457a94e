//! Plan change (套餐变更) as a pure state machine, built from the shared parts: the number,
//! authentication (service password or the owner's ID card), the current plan beside every
//! plan the subscriber may move to, the confirmation in the shop's words
//! ("您办理的是……，是吗？"), the operator's answer, and the receipt (业务受理回执).
//!
//! The shop's rules: days 1–5 of the month (出账期) and an account in arrears are refused
//! before any password (arrears with a top-up offered, the number handed on); the operator
//! has the last word on both and on a plan not open to the subscriber, and each refusal says
//! why and what to do. The change takes effect next month.
//! A lost answer is resolved at once by the status query with the transaction id (and the
//! request sent again with the same id if the operator never saw it); if even that cannot
//! be learned, the customer is told the operator's SMS will confirm, and start-up recovery
//! resolves it. Nothing is applied without the customer present.

use boss_protocol::{
    AuthToken, Msisdn, PlanChange as PlanChangeRequest, PlanQuery, Request, Response, TxnId,
    TxnState, TxnStatusQuery,
};
use serde::Serialize;

use super::parts::auth::{Auth, AuthEvent, AuthNeed};
use super::parts::idle::{Idle, IdleCheck};
use super::parts::number::{NumberEntry, NumberEvent};
use super::parts::paper::PaperRun;
use super::screen::{Notice, PlanOption, PlanOutcome, PlanView, ReceiptState, Screen, Working};
use super::{
    Effect, Flow, Ids, Input, JournalOp, LegOutcome, Millis, OpError, Paper, ReqId, ServiceId,
    Timeouts, TxnKind, Ui, mask_phone,
};

/// Settings of the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub timeouts: Timeouts,
    /// The ID card reader works (authentication by ID card is offered).
    pub id_card: bool,
    /// Today in the operator's calendar (Beijing): year, month, day.
    pub today: (i32, u32, u32),
    /// Randomness for the shuffled keypad.
    pub seed: u64,
}

/// The receipt (业务受理回执) of a plan change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PlanReceipt {
    pub txn_id: String,
    pub number_masked: String,
    pub from_name: String,
    pub from_fee_fen: u64,
    pub to_name: String,
    pub to_fee_fen: u64,
    pub effective_month: String,
    pub outcome: PlanOutcome,
}

/// `YYYY-MM` of the month after `today`.
pub fn next_month((y, m, _): (i32, u32, u32)) -> String {
    if m >= 12 {
        format!("{:04}-01", y + 1)
    } else {
        format!("{y:04}-{:02}", m + 1)
    }
}

#[derive(Debug, Clone)]
struct Ctx {
    msisdn: String,
    number_masked: String,
    token: Option<AuthToken>,
    txn: Option<String>,
}

#[derive(Debug)]
enum State {
    Number {
        entry: NumberEntry,
    },
    /// An account rule stopped the service; the customer may take the offered service.
    Refused {
        ctx: Ctx,
        offer: Option<ServiceId>,
    },
    Authenticating {
        ctx: Ctx,
        auth: Auth,
    },
    Loading {
        ctx: Ctx,
        current_req: ReqId,
        eligible_req: ReqId,
        current: Option<boss_protocol::CurrentPlan>,
        eligible: Option<Vec<boss_protocol::Plan>>,
    },
    Choosing {
        ctx: Ctx,
        current: PlanView,
        options: Vec<PlanOption>,
    },
    Confirming {
        ctx: Ctx,
        current: PlanView,
        options: Vec<PlanOption>,
        chosen: PlanOption,
    },
    Opening {
        ctx: Ctx,
        current: PlanView,
        chosen: PlanOption,
    },
    Changing {
        ctx: Ctx,
        current: PlanView,
        chosen: PlanOption,
        req: ReqId,
        /// Sent again after the status query said the operator never saw it.
        resent: bool,
    },
    Querying {
        ctx: Ctx,
        current: PlanView,
        chosen: PlanOption,
        req: ReqId,
        resent: bool,
    },
    Printing {
        ctx: Ctx,
        receipt: PlanReceipt,
        run: PaperRun,
    },
    Done,
    Ended,
}

/// The plan change flow.
#[derive(Debug)]
pub struct PlanChangeFlow {
    config: Config,
    state: State,
    idle: Idle,
    ids: Ids,
}

impl PlanChangeFlow {
    /// Starts at the keypad.
    pub fn start(config: Config, now: Millis) -> (Self, Vec<Effect>) {
        let mut out = Vec::new();
        let entry = NumberEntry::start(ServiceId::PlanChange, "", None, &mut out);
        let flow = Self {
            idle: Idle::new(config.timeouts, now),
            config,
            state: State::Number { entry },
            ids: Ids::default(),
        };
        (flow, out)
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
                        let ctx = Ctx {
                            number_masked: mask_phone(&msisdn),
                            msisdn,
                            token: None,
                            txn: None,
                        };
                        if self.config.today.2 <= 5 {
                            // 出账期: the home screen greys the tile on these days; a session
                            // begun before midnight is told here, before any password.
                            out.push(Effect::Show(Screen::Refused {
                                service: ServiceId::PlanChange,
                                notice: Notice::FrozenPeriod,
                                offer: None,
                            }));
                            return State::Refused { ctx, offer: None };
                        }
                        if subscriber.arrears_fen > 0 {
                            // After-sale business only without arrears: pay first.
                            out.push(Effect::Show(Screen::Refused {
                                service: ServiceId::PlanChange,
                                notice: Notice::Arrears {
                                    fen: subscriber.arrears_fen,
                                },
                                offer: Some(ServiceId::TopUp),
                            }));
                            return State::Refused {
                                ctx,
                                offer: Some(ServiceId::TopUp),
                            };
                        }
                        let auth = Auth::start(
                            ServiceId::PlanChange,
                            AuthNeed::PasswordOrIdCard,
                            self.config.id_card,
                            &ctx.msisdn,
                            &ctx.number_masked,
                            self.config.seed,
                            out,
                        );
                        State::Authenticating { ctx, auth }
                    }
                }
            }

            (State::Refused { ctx, offer }, I::Ui(Ui::Select(s)))
                if offer.is_some_and(|o| o.id() == s) =>
            {
                if let Some(service) = offer {
                    out.push(Effect::Handoff {
                        service,
                        number: super::screen::TypedNumber::new(ctx.msisdn.clone()),
                    });
                }
                end(out)
            }
            (State::Refused { .. }, I::Ui(Ui::Confirm | Ui::Cancel | Ui::Back) | I::Shutdown) => {
                end(out)
            }

            (State::Authenticating { ctx, mut auth }, input) => {
                if matches!(input, I::Shutdown | I::Ui(Ui::Cancel)) {
                    return end(out);
                }
                match auth.handle(&input, &mut self.ids, now, out) {
                    AuthEvent::Pending => State::Authenticating { ctx, auth },
                    AuthEvent::Back => State::Number {
                        entry: NumberEntry::start(ServiceId::PlanChange, &ctx.msisdn, None, out),
                    },
                    AuthEvent::Unavailable => unavailable(out),
                    AuthEvent::Refused { notice } => {
                        out.push(Effect::Show(Screen::Refused {
                            service: ServiceId::PlanChange,
                            notice,
                            offer: None,
                        }));
                        State::Refused { ctx, offer: None }
                    }
                    AuthEvent::Authenticated { token, .. } => {
                        self.idle.touch(now);
                        self.load(
                            Ctx {
                                token: Some(token),
                                ..ctx
                            },
                            out,
                        )
                    }
                }
            }

            (
                State::Loading {
                    ctx,
                    current_req,
                    eligible_req,
                    mut current,
                    mut eligible,
                },
                I::Operator { req, result },
            ) if req == current_req || req == eligible_req => {
                match result {
                    Ok(Response::CurrentPlan(c)) if req == current_req => current = Some(c),
                    Ok(Response::EligiblePlans(e)) if req == eligible_req => {
                        eligible = Some(e.plans)
                    }
                    Err(e) => return self.refused_or_unavailable(ctx, &e, out),
                    Ok(_) => return unavailable(out),
                }
                match (current, eligible) {
                    (Some(c), Some(e)) => self.show_plans(ctx, &c, &e, out),
                    (current, eligible) => State::Loading {
                        ctx,
                        current_req,
                        eligible_req,
                        current,
                        eligible,
                    },
                }
            }

            (
                State::Choosing {
                    ctx,
                    current,
                    options,
                },
                I::Ui(Ui::Select(id)),
            ) => match options.iter().find(|o| o.plan.id == id) {
                Some(chosen) => {
                    let chosen = chosen.clone();
                    out.push(Effect::Show(Screen::PlanConfirm {
                        number_masked: ctx.number_masked.clone(),
                        change: chosen.clone(),
                        current: current.clone(),
                        effective_month: next_month(self.config.today),
                    }));
                    State::Confirming {
                        ctx,
                        current,
                        options,
                        chosen,
                    }
                }
                None => State::Choosing {
                    ctx,
                    current,
                    options,
                },
            },
            (State::Choosing { .. }, I::Ui(Ui::Back | Ui::Cancel) | I::Shutdown) => end(out),

            (
                State::Confirming {
                    ctx,
                    current,
                    options,
                    ..
                },
                I::Ui(Ui::Back),
            ) => {
                out.push(Effect::Show(plans_screen(&ctx, &current, None, &options)));
                State::Choosing {
                    ctx,
                    current,
                    options,
                }
            }
            (
                State::Confirming {
                    ctx,
                    current,
                    chosen,
                    ..
                },
                I::Ui(Ui::Confirm),
            ) => {
                out.push(Effect::Journal(JournalOp::Open {
                    kind: TxnKind::PlanChange,
                    msisdn: None,
                    number_masked: ctx.number_masked.clone(),
                }));
                out.push(Effect::Show(Screen::Working {
                    what: Working::ChangingPlan,
                }));
                State::Opening {
                    ctx,
                    current,
                    chosen,
                }
            }
            (State::Confirming { .. }, I::Ui(Ui::Cancel) | I::Shutdown) => end(out),

            (
                State::Opening {
                    mut ctx,
                    current,
                    chosen,
                },
                I::TxnOpened { id },
            ) => {
                ctx.txn = Some(id);
                self.send_change(ctx, current, chosen, false, out)
            }

            (
                State::Changing {
                    ctx,
                    current,
                    chosen,
                    req,
                    resent,
                },
                I::Operator { req: r, result },
            ) if r == req => self.changed(ctx, current, chosen, resent, result, out),

            (
                State::Querying {
                    ctx,
                    current,
                    chosen,
                    req,
                    resent,
                },
                I::Operator { req: r, result },
            ) if r == req => match result {
                Ok(Response::TxnStatus(s)) => match s.state {
                    TxnState::Committed => match s.outcome.as_deref() {
                        Some(boss_protocol::Reply::Ok(Response::PlanChange(ok))) => {
                            let ok = ok.clone();
                            self.changed(
                                ctx,
                                current,
                                chosen,
                                resent,
                                Ok(Response::PlanChange(ok)),
                                out,
                            )
                        }
                        _ => self.unconfirmed(ctx, current, chosen, out),
                    },
                    TxnState::Failed => match s.outcome.as_deref() {
                        Some(boss_protocol::Reply::Error(e)) => {
                            let refusal = OpError::refused(e.code.as_str(), &e.message);
                            self.changed(ctx, current, chosen, resent, Err(refusal), out)
                        }
                        _ => self.unconfirmed(ctx, current, chosen, out),
                    },
                    // The operator never saw it: send it again, same transaction id, once.
                    TxnState::Unknown if !resent => {
                        self.send_change(ctx, current, chosen, true, out)
                    }
                    _ => self.unconfirmed(ctx, current, chosen, out),
                },
                _ => self.unconfirmed(ctx, current, chosen, out),
            },

            (
                State::Printing {
                    ctx,
                    receipt,
                    mut run,
                },
                input @ I::Printed { .. },
            ) => match run.handle(&input, out) {
                None => State::Printing { ctx, receipt, run },
                Some(all_printed) => {
                    out.push(done_screen(
                        &receipt,
                        if all_printed {
                            ReceiptState::Printed
                        } else {
                            ReceiptState::NotPrinted
                        },
                    ));
                    self.idle.touch(now);
                    State::Done
                }
            },

            (State::Done, I::Ui(Ui::Confirm | Ui::Cancel | Ui::Back) | I::Shutdown) => end(out),

            (state, _) => state,
        }
    }

    fn load(&mut self, ctx: Ctx, out: &mut Vec<Effect>) -> State {
        let Some(token) = ctx.token.clone() else {
            return unavailable(out);
        };
        let query = PlanQuery {
            token,
            msisdn: Msisdn::new(ctx.msisdn.clone()),
        };
        let current_req = self.ids.fresh();
        out.push(Effect::Operator {
            req: current_req,
            request: Request::CurrentPlan(query.clone()),
            timeout_ms: None,
        });
        let eligible_req = self.ids.fresh();
        out.push(Effect::Operator {
            req: eligible_req,
            request: Request::EligiblePlans(query),
            timeout_ms: None,
        });
        out.push(Effect::Show(Screen::Working {
            what: Working::LoadingPlans,
        }));
        State::Loading {
            ctx,
            current_req,
            eligible_req,
            current: None,
            eligible: None,
        }
    }

    fn show_plans(
        &mut self,
        ctx: Ctx,
        current: &boss_protocol::CurrentPlan,
        eligible: &[boss_protocol::Plan],
        out: &mut Vec<Effect>,
    ) -> State {
        let current_view = PlanView::from(&current.plan);
        let options: Vec<PlanOption> = eligible
            .iter()
            .filter(|p| p.id != current.plan.id)
            .map(|p| PlanOption::compare(&current_view, &PlanView::from(p)))
            .collect();
        let pending = current.pending.as_ref().map(|p| {
            let name = eligible
                .iter()
                .find(|e| e.id == p.plan_id)
                .map_or_else(|| p.plan_id.clone(), |e| e.name.clone());
            (name, p.effective_month.clone())
        });
        if options.is_empty() {
            out.push(Effect::Show(Screen::Refused {
                service: ServiceId::PlanChange,
                notice: Notice::PlanNotEligible,
                offer: None,
            }));
            return State::Refused { ctx, offer: None };
        }
        out.push(Effect::Show(plans_screen(
            &ctx,
            &current_view,
            pending,
            &options,
        )));
        State::Choosing {
            ctx,
            current: current_view,
            options,
        }
    }

    fn send_change(
        &mut self,
        ctx: Ctx,
        current: PlanView,
        chosen: PlanOption,
        resent: bool,
        out: &mut Vec<Effect>,
    ) -> State {
        let (Some(txn), Some(token)) = (ctx.txn.clone(), ctx.token.clone()) else {
            return unavailable(out);
        };
        if !resent {
            out.push(Effect::Journal(JournalOp::OperatorSent {
                leg: txn.clone(),
                op: "plan_change",
                amount_fen: 0,
            }));
        }
        let req = self.ids.fresh();
        out.push(Effect::Operator {
            req,
            request: Request::PlanChange(PlanChangeRequest {
                txn_id: TxnId::new(txn),
                token,
                msisdn: Msisdn::new(ctx.msisdn.clone()),
                plan_id: chosen.plan.id.clone(),
            }),
            timeout_ms: None,
        });
        State::Changing {
            ctx,
            current,
            chosen,
            req,
            resent,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn changed(
        &mut self,
        ctx: Ctx,
        current: PlanView,
        chosen: PlanOption,
        resent: bool,
        result: Result<Response, OpError>,
        out: &mut Vec<Effect>,
    ) -> State {
        let txn = ctx.txn.clone().unwrap_or_default();
        match result {
            Ok(Response::PlanChange(ok)) => {
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg: txn.clone(),
                    outcome: LegOutcome::Committed {
                        operator_ref: ok.operator_ref.clone(),
                    },
                }));
                out.push(Effect::Journal(JournalOp::Complete {
                    operator_ref: ok.operator_ref.clone(),
                }));
                let receipt = PlanReceipt {
                    txn_id: txn,
                    number_masked: ctx.number_masked.clone(),
                    from_name: current.name.clone(),
                    from_fee_fen: current.monthly_fee_fen,
                    to_name: chosen.plan.name.clone(),
                    to_fee_fen: chosen.plan.monthly_fee_fen,
                    effective_month: ok.effective_month.clone(),
                    outcome: PlanOutcome::Changed {
                        operator_ref: ok.operator_ref.clone(),
                    },
                };
                self.print(ctx, receipt, out)
            }
            Err(e @ OpError::Refused { .. }) => {
                let OpError::Refused { code, .. } = &e else {
                    return unavailable(out);
                };
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg: txn,
                    outcome: LegOutcome::Failed { code: code.clone() },
                }));
                out.push(Effect::Journal(JournalOp::Cancel {
                    reason: format!("operator refused the plan change: {code}"),
                }));
                self.refused_or_unavailable(ctx, &e, out)
            }
            Err(e) => {
                // No answer: ask where it stands, with the same transaction id.
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg: txn.clone(),
                    outcome: LegOutcome::of(&Err(e.clone()), None),
                }));
                let req = self.ids.fresh();
                out.push(Effect::Operator {
                    req,
                    request: Request::TxnStatus(TxnStatusQuery {
                        txn_id: TxnId::new(txn),
                    }),
                    timeout_ms: None,
                });
                State::Querying {
                    ctx,
                    current,
                    chosen,
                    req,
                    resent,
                }
            }
            Ok(_) => self.unconfirmed(ctx, current, chosen, out),
        }
    }

    /// The outcome cannot be learned now: the transaction stays pending for recovery, the
    /// customer is told the operator's SMS will confirm, with the reference.
    fn unconfirmed(
        &mut self,
        ctx: Ctx,
        current: PlanView,
        chosen: PlanOption,
        out: &mut Vec<Effect>,
    ) -> State {
        out.push(Effect::Journal(JournalOp::MarkPending {
            reason: "plan change not confirmed by the operator".into(),
        }));
        let receipt = PlanReceipt {
            txn_id: ctx.txn.clone().unwrap_or_default(),
            number_masked: ctx.number_masked.clone(),
            from_name: current.name.clone(),
            from_fee_fen: current.monthly_fee_fen,
            to_name: chosen.plan.name.clone(),
            to_fee_fen: chosen.plan.monthly_fee_fen,
            effective_month: next_month(self.config.today),
            outcome: PlanOutcome::Unconfirmed,
        };
        self.print(ctx, receipt, out)
    }

    fn print(&mut self, ctx: Ctx, receipt: PlanReceipt, out: &mut Vec<Effect>) -> State {
        let run = PaperRun::start(vec![Paper::PlanChange(receipt.clone())], &mut self.ids, out);
        out.push(done_screen(&receipt, ReceiptState::Printing));
        State::Printing { ctx, receipt, run }
    }

    fn refused_or_unavailable(&mut self, ctx: Ctx, e: &OpError, out: &mut Vec<Effect>) -> State {
        let OpError::Refused { code, .. } = e else {
            return unavailable(out);
        };
        let (notice, offer) = match code.as_str() {
            "arrears" => (Notice::Arrears { fen: 0 }, Some(ServiceId::TopUp)),
            "frozen_period" => (Notice::FrozenPeriod, None),
            "plan_not_eligible" => (Notice::PlanNotEligible, None),
            "insufficient_auth" => (Notice::AuthExpired, None),
            _ => return unavailable(out),
        };
        out.push(Effect::Show(Screen::Refused {
            service: ServiceId::PlanChange,
            notice,
            offer,
        }));
        State::Refused { ctx, offer }
    }

    fn tick(&mut self, state: State, now: Millis, out: &mut Vec<Effect>) -> State {
        let waiting_for_customer = matches!(
            state,
            State::Number { .. }
                | State::Refused { .. }
                | State::Authenticating { .. }
                | State::Choosing { .. }
                | State::Confirming { .. }
                | State::Done
        );
        if !waiting_for_customer {
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
            // Walked away: the session and everything of it is wiped.
            IdleCheck::Expired => end(out),
        }
    }
}

impl Flow for PlanChangeFlow {
    fn handle(&mut self, input: Input, now: Millis) -> Vec<Effect> {
        let mut out = Vec::new();
        if let Input::Ui(ui) = &input {
            self.idle.on_ui(ui, now);
            if matches!(ui, Ui::Touch | Ui::Help(_) | Ui::Elder(_)) {
                return out;
            }
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
            State::Number { entry } if entry.looking_up() => "plan_change.looking_up",
            State::Number { .. } => "plan_change.enter_number",
            State::Refused { .. } => "plan_change.refused",
            State::Authenticating { .. } => "plan_change.authenticating",
            State::Loading { .. } => "plan_change.loading",
            State::Choosing { .. } => "plan_change.choosing",
            State::Confirming { .. } => "plan_change.confirming",
            State::Opening { .. } | State::Changing { .. } | State::Querying { .. } => {
                "plan_change.changing"
            }
            State::Printing { .. } => "plan_change.printing",
            State::Done => "plan_change.result",
            State::Ended => "plan_change.ended",
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

fn plans_screen(
    ctx: &Ctx,
    current: &PlanView,
    pending: Option<(String, String)>,
    options: &[PlanOption],
) -> Screen {
    Screen::Plans {
        number_masked: ctx.number_masked.clone(),
        current: current.clone(),
        pending,
        options: options.to_vec(),
    }
}

fn done_screen(r: &PlanReceipt, receipt: ReceiptState) -> Effect {
    Effect::Show(Screen::PlanDone {
        number_masked: r.number_masked.clone(),
        from: r.from_name.clone(),
        to: r.to_name.clone(),
        effective_month: r.effective_month.clone(),
        outcome: r.outcome.clone(),
        reference: r.txn_id.clone(),
        receipt,
    })
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
