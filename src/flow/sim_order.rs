//! 新开户（实名制）and 补卡 — a new number on a new SIM, or a new SIM for a number, as one pure
//! state machine built from the shared
//! parts: identity (ID card, the operator's real-name check, consent, live photo, face
//! comparison), number selection from the pool (held by a reservation whose remaining time is
//! shown), plan selection with the first month as the operator charges it today, the service
//! agreement read and accepted, the price said before the first note, cash (no change: any
//! amount above the price goes to the new number's prepaid balance), the order, card
//! issuance, and the receipt. A replacement starts from the number (arrears refused, with a
//! top-up offered), proves the owner by ID card and face, and takes the exact fee.
//!
//! Money is never lost: the transaction is journaled before the first note; an order the
//! operator refuses, or a card that cannot be issued (the order then cancelled), puts all
//! the cash on a refund voucher; an answer that is lost is settled by the status query with
//! the transaction id and, failing that, left pending for recovery with its cards recorded.

use boss_protocol::{
    CancelOrder, Msisdn, NewSimOrder, NumberReserve, NumberSearch, PlanCatalogueQuery,
    ReplacementSim, Request, Response, TxnId, TxnStatusQuery,
};

use super::parts::cash::{CashConfig, CashOutcome, CashPayment, Closing};
use super::parts::identity::{Identity, IdentityCheck, IdentityEvent, Purpose, refusal};
use super::parts::idle::{Idle, IdleCheck};
use super::parts::issue::{CardIssue, Failure, IssueEvent, iccid_tail};
use super::parts::number::{NumberEntry, NumberEvent};
use super::parts::paper::PaperRun;
use super::screen::{
    CashPurpose, JoinPlan, Notice, PlanView, PoolNumberView, ReceiptState, Screen, SimOutcome,
    TypedNumber, Working,
};
use super::sim::{AGREEMENT_VERSION, SimReceipt, done_screen, service_name};
use super::{
    Effect, Flow, Ids, Input, JournalOp, LegOutcome, LostAnswer, Millis, OpError, Paper, ReqId,
    ServiceId, Timeouts, TxnKind, Ui, mask_phone,
};

/// Numbers shown at a time.
pub const NUMBERS_SHOWN: u32 = 12;

/// Settings of the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub timeouts: Timeouts,
    /// Note values taken, fen.
    pub accept_fen: Vec<u64>,
    /// Most cash one customer may pay, fen.
    pub max_fen: u64,
    /// The SIM card fee (卡费) of a new number, or the fee of a replacement SIM, fen.
    pub card_fee_fen: u64,
    /// Wall clock (Unix ms) when the flow started: the reservation's hold is shown in time
    /// left, from the operator's expiry.
    pub wall_ms_at_start: i64,
}

#[derive(Debug)]
struct Chosen {
    identity: Identity,
    number: String,
    reservation_id: String,
    /// The hold's end, on the flow's clock.
    hold_until: Millis,
}

#[derive(Debug, Clone)]
struct Plan {
    view: PlanView,
    first_month_fee_fen: u64,
}

#[derive(Debug)]
struct Paying {
    chosen: Chosen,
    /// The plan a new number joins (none for a replacement).
    plan: Option<Plan>,
    txn: String,
    due_fen: u64,
}

#[derive(Debug)]
enum State {
    /// 补卡: the number, looked up.
    Number {
        entry: NumberEntry,
    },
    /// 补卡: an account rule stops it (arrears: a top-up is offered).
    Refused {
        msisdn: String,
        offer: Option<ServiceId>,
    },
    Intro,
    Identity {
        part: IdentityCheck,
    },
    Searching {
        identity: Identity,
        search: String,
        req: ReqId,
        /// Said with the results (the last hold lapsed).
        notice: Option<Notice>,
    },
    Numbers {
        identity: Identity,
        numbers: Vec<PoolNumberView>,
        search: String,
    },
    Reserving {
        identity: Identity,
        numbers: Vec<PoolNumberView>,
        search: String,
        number: String,
        req: ReqId,
    },
    LoadingPlans {
        chosen: Chosen,
        req: ReqId,
    },
    Plans {
        chosen: Chosen,
        plans: Vec<JoinPlan>,
    },
    Agreement {
        chosen: Chosen,
        plans: Vec<JoinPlan>,
        plan: Plan,
    },
    Confirm {
        chosen: Chosen,
        plans: Vec<JoinPlan>,
        plan: Option<Plan>,
    },
    Opening {
        chosen: Chosen,
        plan: Option<Plan>,
    },
    Cash {
        p: Paying,
        cash: CashPayment,
    },
    Ordering {
        p: Paying,
        paid_fen: u64,
        req: ReqId,
        resent: bool,
    },
    QueryingOrder {
        p: Paying,
        paid_fen: u64,
        req: ReqId,
        resent: bool,
    },
    Issuing {
        p: Paying,
        paid_fen: u64,
        order_id: String,
        issue: CardIssue,
    },
    Cancelling {
        p: Paying,
        paid_fen: u64,
        order_id: String,
        reason: String,
        req: ReqId,
    },
    Printing {
        receipt: SimReceipt,
        run: PaperRun,
    },
    Done,
    Ended,
}

/// The new SIM (新开户) and replacement SIM (补卡) flow.
#[derive(Debug)]
pub struct SimFlow {
    service: ServiceId,
    config: Config,
    state: State,
    idle: Idle,
    ids: Ids,
    started: Millis,
    /// 补卡: the number whose card is replaced (full, in memory for the session only).
    msisdn: Option<String>,
}

impl SimFlow {
    /// 新开户: starts with what the service needs.
    pub fn new_sim(config: Config, now: Millis) -> (Self, Vec<Effect>) {
        let out = vec![Effect::Show(Screen::SimIntro {
            service: ServiceId::NewSim,
            fee_fen: config.card_fee_fen,
        })];
        let flow = Self {
            service: ServiceId::NewSim,
            idle: Idle::new(config.timeouts, now),
            config,
            state: State::Intro,
            ids: Ids::default(),
            started: now,
            msisdn: None,
        };
        (flow, out)
    }

    /// 补卡: starts at the number keypad.
    pub fn replacement(config: Config, now: Millis) -> (Self, Vec<Effect>) {
        Self::replacement_with_number(config, "", now)
    }

    /// 补卡 handed over from another service with the number already typed: the keypad
    /// shows it, the customer checks it and goes on.
    pub fn replacement_with_number(
        config: Config,
        number: &str,
        now: Millis,
    ) -> (Self, Vec<Effect>) {
        let mut out = Vec::new();
        let entry = NumberEntry::start(ServiceId::ReplaceSim, number, None, &mut out);
        let flow = Self {
            service: ServiceId::ReplaceSim,
            idle: Idle::new(config.timeouts, now),
            config,
            state: State::Number { entry },
            ids: Ids::default(),
            started: now,
            msisdn: None,
        };
        (flow, out)
    }

    fn is_new(&self) -> bool {
        self.service == ServiceId::NewSim
    }

    /// The operator's Unix ms as the flow's clock.
    fn on_our_clock(&self, unix_ms: i64) -> Millis {
        let offset = unix_ms - self.config.wall_ms_at_start;
        if offset <= 0 {
            self.started
        } else {
            self.started + u64::try_from(offset).unwrap_or(0)
        }
    }

    fn hold_s(chosen: &Chosen, now: Millis) -> u64 {
        chosen.hold_until.saturating_sub(now) / 1000
    }

    fn ask(&mut self, request: Request, what: Working, out: &mut Vec<Effect>) -> ReqId {
        let req = self.ids.fresh();
        out.push(Effect::Operator {
            req,
            request,
            timeout_ms: None,
        });
        out.push(Effect::Show(Screen::Working { what }));
        req
    }

    fn search(
        &mut self,
        identity: Identity,
        search: String,
        notice: Option<Notice>,
        out: &mut Vec<Effect>,
    ) -> State {
        let digits: String = search
            .chars()
            .filter(char::is_ascii_digit)
            .take(8)
            .collect();
        let req = self.ask(
            Request::NumberSearch(NumberSearch {
                prefix: None,
                suffix: None,
                contains: (!digits.is_empty()).then(|| digits.clone()),
                limit: NUMBERS_SHOWN,
            }),
            Working::LoadingNumbers,
            out,
        );
        State::Searching {
            identity,
            search: digits,
            req,
            notice,
        }
    }

    fn show_numbers(
        identity: Identity,
        numbers: Vec<PoolNumberView>,
        search: String,
        notice: Option<Notice>,
        out: &mut Vec<Effect>,
    ) -> State {
        out.push(Effect::Show(Screen::Numbers {
            numbers: numbers.clone(),
            search: search.clone(),
            notice,
        }));
        State::Numbers {
            identity,
            numbers,
            search,
        }
    }

    fn plans_screen(&self, chosen: &Chosen, plans: &[JoinPlan], now: Millis) -> Effect {
        Effect::Show(Screen::JoinPlans {
            msisdn: chosen.number.clone(),
            hold_s: Self::hold_s(chosen, now),
            plans: plans.to_vec(),
            card_fee_fen: self.config.card_fee_fen,
        })
    }

    fn confirm_screen(&self, chosen: &Chosen, plan: Option<&Plan>, now: Millis) -> Effect {
        let first = plan.map_or(0, |p| p.first_month_fee_fen);
        Effect::Show(Screen::SimConfirm {
            service: self.service,
            number: if self.is_new() {
                chosen.number.clone()
            } else {
                mask_phone(&chosen.number)
            },
            plan_name: plan.map(|p| p.view.name.clone()),
            card_fee_fen: self.config.card_fee_fen,
            first_month_fee_fen: first,
            due_fen: self.config.card_fee_fen + first,
            excess_to_balance: self.is_new(),
            hold_s: self.is_new().then(|| Self::hold_s(chosen, now)),
        })
    }

    /// The hold on the number lapsed before the order: choose again.
    fn lapsed(&mut self, chosen: Chosen, out: &mut Vec<Effect>) -> State {
        self.search(
            chosen.identity,
            String::new(),
            Some(Notice::ReservationExpired),
            out,
        )
    }

    fn receipt(&self, p: &Paying, paid_fen: u64, outcome: SimOutcome) -> SimReceipt {
        let card = p.chosen.identity.doc.card.as_ref();
        let new = self.is_new();
        SimReceipt {
            txn_id: p.txn.clone(),
            service: service_name(self.service).into(),
            number_masked: mask_phone(&p.chosen.number),
            name_masked: card.map(|c| c.name.masked()).unwrap_or_default(),
            id_masked: card.map(|c| c.id_number.masked()).unwrap_or_default(),
            plan_name: p.plan.as_ref().map(|pl| pl.view.name.clone()),
            card_fee_fen: self.config.card_fee_fen,
            prepaid_fen: if new {
                paid_fen.saturating_sub(self.config.card_fee_fen)
            } else {
                0
            },
            first_month_fee_fen: p.plan.as_ref().map_or(0, |pl| pl.first_month_fee_fen),
            paid_fen,
            agreement_version: new.then(|| AGREEMENT_VERSION.into()),
            outcome,
        }
    }

    fn finish(&mut self, receipt: SimReceipt, out: &mut Vec<Effect>) -> State {
        let run = PaperRun::start(vec![Paper::Sim(receipt.clone())], &mut self.ids, out);
        out.push(done_screen(self.service, &receipt, ReceiptState::Printing));
        State::Printing { receipt, run }
    }

    /// Nothing issued: the cash goes on a refund voucher.
    fn refund(&mut self, p: Paying, paid_fen: u64, reason: String, out: &mut Vec<Effect>) -> State {
        out.push(Effect::Journal(JournalOp::IssueVoucher {
            reason: reason.clone(),
        }));
        let receipt = self.receipt(&p, paid_fen, SimOutcome::Refunded { reason });
        self.finish(receipt, out)
    }

    /// The outcome cannot be learned now: pending, for recovery.
    fn pending(
        &mut self,
        p: Paying,
        paid_fen: u64,
        reason: String,
        out: &mut Vec<Effect>,
    ) -> State {
        out.push(Effect::Journal(JournalOp::MarkPending {
            reason: reason.clone(),
        }));
        let receipt = self.receipt(&p, paid_fen, SimOutcome::Unconfirmed { reason });
        self.finish(receipt, out)
    }

    fn order(&mut self, p: Paying, paid_fen: u64, resent: bool, out: &mut Vec<Effect>) -> State {
        let identity = &p.chosen.identity;
        let request = if self.is_new() {
            let (Some(card), Some(plan)) = (identity.doc.card.clone(), p.plan.as_ref()) else {
                return self.refund(
                    p,
                    paid_fen,
                    "the order lacks the ID card or the plan".into(),
                    out,
                );
            };
            Request::NewSimOrder(NewSimOrder {
                txn_id: TxnId::new(p.txn.clone()),
                reservation_id: p.chosen.reservation_id.clone(),
                msisdn: Msisdn::new(p.chosen.number.clone()),
                plan_id: plan.view.id.clone(),
                id: card,
                face_check_id: identity.face_check_id.clone(),
                agreement_version: AGREEMENT_VERSION.into(),
                card_fee_fen: self.config.card_fee_fen,
                prepaid_fen: paid_fen.saturating_sub(self.config.card_fee_fen),
            })
        } else {
            let Some(token) = identity.token.clone() else {
                return self.refund(p, paid_fen, "the owner was not authenticated".into(), out);
            };
            Request::ReplacementSim(ReplacementSim {
                txn_id: TxnId::new(p.txn.clone()),
                token,
                msisdn: Msisdn::new(p.chosen.number.clone()),
                face_check_id: identity.face_check_id.clone(),
                fee_fen: paid_fen,
            })
        };
        if !resent {
            out.push(Effect::Journal(JournalOp::OperatorSent {
                leg: p.txn.clone(),
                op: request.op(),
                amount_fen: paid_fen,
            }));
        }
        let req = self.ask(request, Working::Ordering, out);
        State::Ordering {
            p,
            paid_fen,
            req,
            resent,
        }
    }

    fn ordered(
        &mut self,
        p: Paying,
        paid_fen: u64,
        resent: bool,
        result: Result<Response, OpError>,
        out: &mut Vec<Effect>,
    ) -> State {
        match result {
            Ok(Response::NewSimOrder(order) | Response::ReplacementSim(order)) => {
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg: p.txn.clone(),
                    outcome: LegOutcome::Committed {
                        operator_ref: order.order_id.clone(),
                    },
                }));
                let issue = CardIssue::start(&p.txn, &order.order_id, &mut self.ids, out);
                State::Issuing {
                    p,
                    paid_fen,
                    order_id: order.order_id,
                    issue,
                }
            }
            Err(OpError::Refused { code, message, .. }) => {
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg: p.txn.clone(),
                    outcome: LegOutcome::Failed { code: code.clone() },
                }));
                self.refund(
                    p,
                    paid_fen,
                    format!("operator refused ({code}): {message}"),
                    out,
                )
            }
            Err(e) => {
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg: p.txn.clone(),
                    outcome: LegOutcome::of(&Err(e), None),
                }));
                let req = self.ask(
                    Request::TxnStatus(TxnStatusQuery {
                        txn_id: TxnId::new(p.txn.clone()),
                    }),
                    Working::Ordering,
                    out,
                );
                State::QueryingOrder {
                    p,
                    paid_fen,
                    req,
                    resent,
                }
            }
            Ok(other) => self.pending(
                p,
                paid_fen,
                format!("answer `{}` to the order", other.op()),
                out,
            ),
        }
    }

    fn issued(
        &mut self,
        p: Paying,
        paid_fen: u64,
        order_id: String,
        ev: IssueEvent,
        out: &mut Vec<Effect>,
    ) -> State {
        match ev {
            IssueEvent::Issued { iccid, taken, .. } => {
                out.push(Effect::Journal(JournalOp::Settle {
                    credited_fen: paid_fen,
                    boss_ref: order_id.clone(),
                    new_balance_fen: None,
                }));
                let receipt = self.receipt(
                    &p,
                    paid_fen,
                    SimOutcome::Issued {
                        taken,
                        iccid_tail: iccid_tail(&iccid),
                        operator_ref: order_id,
                    },
                );
                self.finish(receipt, out)
            }
            IssueEvent::Failed { reason, problem } => {
                let reason = match problem {
                    Failure::NoStock => format!("no card issued: {reason} (stacker empty)"),
                    _ => format!("no card issued: {reason}"),
                };
                // The order is cancelled so that the number goes back to the pool; the
                // operator says what to refund.
                let leg = format!("{}-C", p.txn);
                out.push(Effect::Journal(JournalOp::OperatorSent {
                    leg: leg.clone(),
                    op: "cancel_order",
                    amount_fen: 0,
                }));
                let req = self.ask(
                    Request::CancelOrder(CancelOrder {
                        txn_id: TxnId::new(leg),
                        order_id: order_id.clone(),
                        reason: reason.clone(),
                    }),
                    Working::Ordering,
                    out,
                );
                State::Cancelling {
                    p,
                    paid_fen,
                    order_id,
                    reason,
                    req,
                }
            }
            IssueEvent::Unconfirmed { reason } => self.pending(p, paid_fen, reason, out),
            IssueEvent::Pending => unreachable_pending(p, paid_fen, order_id),
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
                        if subscriber.arrears_fen > 0 {
                            // After-sale business only without arrears: pay first.
                            out.push(Effect::Show(Screen::Refused {
                                service: self.service,
                                notice: Notice::Arrears {
                                    fen: subscriber.arrears_fen,
                                },
                                offer: Some(ServiceId::TopUp),
                            }));
                            return State::Refused {
                                msisdn,
                                offer: Some(ServiceId::TopUp),
                            };
                        }
                        self.msisdn = Some(msisdn);
                        out.push(Effect::Show(Screen::SimIntro {
                            service: self.service,
                            fee_fen: self.config.card_fee_fen,
                        }));
                        State::Intro
                    }
                }
            }
            (State::Refused { msisdn, offer }, I::Ui(Ui::Select(s)))
                if offer.is_some_and(|o| o.id() == s) =>
            {
                if let Some(service) = offer {
                    out.push(Effect::Handoff {
                        service,
                        number: TypedNumber::new(msisdn),
                    });
                }
                end(out)
            }
            (State::Refused { .. }, I::Ui(Ui::Confirm | Ui::Cancel | Ui::Back) | I::Shutdown) => {
                end(out)
            }

            (State::Intro, I::Ui(Ui::Confirm)) => {
                let purpose = match &self.msisdn {
                    Some(m) => Purpose::Owner { msisdn: m.clone() },
                    None => Purpose::Applicant,
                };
                State::Identity {
                    part: IdentityCheck::start(self.service, purpose, &mut self.ids, out),
                }
            }
            (State::Intro, I::Ui(Ui::Back | Ui::Cancel) | I::Shutdown) => end(out),

            (State::Identity { mut part }, input) => {
                if matches!(input, I::Shutdown | I::Ui(Ui::Cancel)) {
                    return end(out);
                }
                match part.handle(&input, &mut self.ids, out) {
                    IdentityEvent::Pending => State::Identity { part },
                    IdentityEvent::Back => end(out),
                    IdentityEvent::Unavailable => unavailable(out),
                    IdentityEvent::Refused { notice } => refused(self.service, notice, out),
                    IdentityEvent::Done(identity) if self.is_new() => {
                        self.idle.touch(now);
                        self.search(*identity, String::new(), None, out)
                    }
                    IdentityEvent::Done(identity) => {
                        self.idle.touch(now);
                        let chosen = Chosen {
                            identity: *identity,
                            number: self.msisdn.clone().unwrap_or_default(),
                            reservation_id: String::new(),
                            hold_until: Millis::MAX,
                        };
                        out.push(self.confirm_screen(&chosen, None, now));
                        State::Confirm {
                            chosen,
                            plans: Vec::new(),
                            plan: None,
                        }
                    }
                }
            }

            (
                State::Searching {
                    identity,
                    search,
                    req,
                    notice,
                },
                I::Operator { req: r, result },
            ) if r == req => match result {
                Ok(Response::NumberSearch(list)) => {
                    let numbers: Vec<PoolNumberView> = list
                        .numbers
                        .iter()
                        .map(|n| PoolNumberView {
                            msisdn: n.msisdn.as_str().to_owned(),
                            premium: n.min_plan_fee_fen > 0,
                            min_plan_fee_fen: n.min_plan_fee_fen,
                        })
                        .collect();
                    let notice = if numbers.is_empty() {
                        Some(Notice::NoNumbersFound)
                    } else {
                        notice
                    };
                    Self::show_numbers(identity, numbers, search, notice, out)
                }
                _ => unavailable(out),
            },

            (
                State::Numbers {
                    identity,
                    numbers,
                    search,
                },
                I::Ui(Ui::Select(s)),
            ) => {
                if let Some(digits) = s.strip_prefix("search:") {
                    return self.search(identity, digits.to_owned(), None, out);
                }
                if let Some(n) = s.strip_prefix("number:")
                    && numbers.iter().any(|x| x.msisdn == n)
                {
                    let Some(id_number) = identity.doc.card.as_ref().map(|c| c.id_number.clone())
                    else {
                        return unavailable(out);
                    };
                    let number = n.to_owned();
                    let req = self.ask(
                        Request::NumberReserve(NumberReserve {
                            msisdn: Msisdn::new(number.clone()),
                            id_number,
                        }),
                        Working::ReservingNumber,
                        out,
                    );
                    return State::Reserving {
                        identity,
                        numbers,
                        search,
                        number,
                        req,
                    };
                }
                State::Numbers {
                    identity,
                    numbers,
                    search,
                }
            }
            (State::Numbers { .. }, I::Ui(Ui::Back | Ui::Cancel) | I::Shutdown) => end(out),

            (
                State::Reserving {
                    identity,
                    numbers,
                    search,
                    number,
                    req,
                },
                I::Operator { req: r, result },
            ) if r == req => match result {
                Ok(Response::NumberReserve(hold)) => {
                    let chosen = Chosen {
                        identity,
                        number,
                        reservation_id: hold.reservation_id.clone(),
                        hold_until: self.on_our_clock(hold.expires_ms),
                    };
                    let req = self.ask(
                        Request::PlanCatalogue(PlanCatalogueQuery {
                            msisdn: Some(Msisdn::new(chosen.number.clone())),
                        }),
                        Working::LoadingJoinPlans,
                        out,
                    );
                    State::LoadingPlans { chosen, req }
                }
                Err(OpError::Refused { code, .. }) if code == "number_unavailable" => {
                    let numbers = numbers.into_iter().filter(|n| n.msisdn != number).collect();
                    Self::show_numbers(
                        identity,
                        numbers,
                        search,
                        Some(Notice::NumberUnavailable),
                        out,
                    )
                }
                Err(OpError::Refused { code, .. }) => refused(self.service, refusal(&code), out),
                _ => unavailable(out),
            },

            (State::LoadingPlans { chosen, req }, I::Operator { req: r, result }) if r == req => {
                match result {
                    Ok(Response::PlanCatalogue(c)) => {
                        let plans: Vec<JoinPlan> = c
                            .plans
                            .iter()
                            .map(|p| JoinPlan {
                                plan: PlanView::from(&p.plan),
                                pro_rata: p.first_month_rule
                                    == boss_protocol::FirstMonthRule::ProRata,
                                first_month_fee_fen: p.first_month_fee_fen,
                            })
                            .collect();
                        if plans.is_empty() {
                            return refused(self.service, Notice::PlanNotEligible, out);
                        }
                        out.push(self.plans_screen(&chosen, &plans, now));
                        State::Plans { chosen, plans }
                    }
                    _ => unavailable(out),
                }
            }

            (State::Plans { chosen, plans }, I::Ui(Ui::Select(id))) => {
                match plans.iter().find(|p| p.plan.id == id) {
                    Some(p) => {
                        let plan = Plan {
                            view: p.plan.clone(),
                            first_month_fee_fen: p.first_month_fee_fen,
                        };
                        out.push(Effect::Show(Screen::Agreement {
                            version: AGREEMENT_VERSION.into(),
                            hold_s: Self::hold_s(&chosen, now),
                        }));
                        State::Agreement {
                            chosen,
                            plans,
                            plan,
                        }
                    }
                    None => State::Plans { chosen, plans },
                }
            }
            (State::Plans { chosen, .. }, I::Ui(Ui::Back)) => {
                self.search(chosen.identity, String::new(), None, out)
            }

            (
                State::Agreement {
                    chosen,
                    plans,
                    plan,
                },
                I::Ui(Ui::Confirm),
            ) => {
                out.push(self.confirm_screen(&chosen, Some(&plan), now));
                State::Confirm {
                    chosen,
                    plans,
                    plan: Some(plan),
                }
            }
            (State::Agreement { chosen, plans, .. }, I::Ui(Ui::Back)) => {
                out.push(self.plans_screen(&chosen, &plans, now));
                State::Plans { chosen, plans }
            }

            (State::Confirm { chosen, plan, .. }, I::Ui(Ui::Confirm)) => {
                if now >= chosen.hold_until {
                    return self.lapsed(chosen, out);
                }
                out.push(Effect::Journal(JournalOp::Open {
                    kind: if self.is_new() {
                        TxnKind::NewSim
                    } else {
                        TxnKind::ReplaceSim
                    },
                    msisdn: None,
                    number_masked: mask_phone(&chosen.number),
                }));
                State::Opening { chosen, plan }
            }
            (State::Confirm { chosen, plans, .. }, I::Ui(Ui::Back)) if self.is_new() => {
                out.push(self.plans_screen(&chosen, &plans, now));
                State::Plans { chosen, plans }
            }
            (State::Confirm { .. }, I::Ui(Ui::Back | Ui::Cancel) | I::Shutdown) => end(out),

            (State::Opening { chosen, plan }, I::TxnOpened { id }) => {
                let due_fen =
                    self.config.card_fee_fen + plan.as_ref().map_or(0, |p| p.first_month_fee_fen);
                let (max_fen, purpose) = if self.is_new() {
                    (
                        self.config.max_fen.max(due_fen),
                        CashPurpose::NewSim {
                            number: chosen.number.clone(),
                        },
                    )
                } else {
                    // The exact fee: the kiosk gives no change and the fee is the fee.
                    (
                        due_fen,
                        CashPurpose::ReplaceSim {
                            number_masked: mask_phone(&chosen.number),
                        },
                    )
                };
                let cash = CashPayment::start(
                    CashConfig {
                        accept_fen: self
                            .config
                            .accept_fen
                            .iter()
                            .copied()
                            .filter(|f| *f <= max_fen)
                            .collect(),
                        max_fen,
                        due_fen: Some(due_fen),
                    },
                    purpose,
                    out,
                );
                State::Cash {
                    p: Paying {
                        chosen,
                        plan,
                        txn: id,
                        due_fen,
                    },
                    cash,
                }
            }

            (State::Cash { p, mut cash }, input) => match cash.handle(&input, now, out) {
                None => State::Cash { p, cash },
                Some(outcome) => self.paid(p, outcome, out),
            },

            (
                State::Ordering {
                    p,
                    paid_fen,
                    req,
                    resent,
                },
                I::Operator { req: r, result },
            ) if r == req => self.ordered(p, paid_fen, resent, result, out),

            (
                State::QueryingOrder {
                    p,
                    paid_fen,
                    req,
                    resent,
                },
                I::Operator { req: r, result },
            ) if r == req => match LostAnswer::of(result) {
                LostAnswer::Answered(answer) => self.ordered(p, paid_fen, resent, answer, out),
                LostAnswer::NeverReceived if !resent => self.order(p, paid_fen, true, out),
                LostAnswer::NeverReceived => self.refund(
                    p,
                    paid_fen,
                    "the order never reached the operator".into(),
                    out,
                ),
                LostAnswer::Unknown(_) => self.pending(
                    p,
                    paid_fen,
                    "order not confirmed by the operator".into(),
                    out,
                ),
            },

            (
                State::Issuing {
                    p,
                    paid_fen,
                    order_id,
                    mut issue,
                },
                input,
            ) => match issue.handle(&input, &mut self.ids, out) {
                IssueEvent::Pending => State::Issuing {
                    p,
                    paid_fen,
                    order_id,
                    issue,
                },
                ev => self.issued(p, paid_fen, order_id, ev, out),
            },

            (
                State::Cancelling {
                    p,
                    paid_fen,
                    order_id,
                    reason,
                    req,
                },
                I::Operator { req: r, result },
            ) if r == req => {
                let leg = format!("{}-C", p.txn);
                match result {
                    Ok(Response::CancelOrder(c)) => {
                        out.push(Effect::Journal(JournalOp::OperatorAnswered {
                            leg,
                            outcome: LegOutcome::Committed {
                                operator_ref: c.order_id.clone(),
                            },
                        }));
                        self.refund(p, paid_fen, reason, out)
                    }
                    other => {
                        let cause = match &other {
                            Err(e) => e.cause(),
                            Ok(r) => format!("answer `{}`", r.op()),
                        };
                        out.push(Effect::Journal(JournalOp::OperatorAnswered {
                            leg,
                            outcome: LegOutcome::Unknown {
                                cause: cause.clone(),
                            },
                        }));
                        self.pending(
                            p,
                            paid_fen,
                            format!("{reason}; cancelling order {order_id} not confirmed: {cause}"),
                            out,
                        )
                    }
                }
            }

            (State::Printing { receipt, mut run }, input @ I::Printed { .. }) => {
                match run.handle(&input, out) {
                    None => State::Printing { receipt, run },
                    Some(all) => {
                        out.push(done_screen(
                            self.service,
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

            // Leaving before any money: nothing was journaled but the number's hold, which
            // lapses by itself.
            (
                State::Searching { .. }
                | State::Reserving { .. }
                | State::LoadingPlans { .. }
                | State::Plans { .. }
                | State::Agreement { .. },
                I::Ui(Ui::Cancel) | I::Shutdown,
            ) => end(out),

            (state, _) => state,
        }
    }

    fn paid(&mut self, p: Paying, outcome: CashOutcome, out: &mut Vec<Effect>) -> State {
        match outcome {
            CashOutcome::Nothing { closing, .. } => {
                out.push(Effect::Journal(JournalOp::Cancel {
                    reason: match closing {
                        Closing::Fault => "acceptor fault before any note",
                        Closing::Timeout => "idle timeout",
                        Closing::Shutdown => "kiosk stopping",
                        Closing::Customer | Closing::LimitReached => "customer left",
                    }
                    .into(),
                }));
                if closing == Closing::Fault {
                    out.push(Effect::Show(Screen::Sorry {
                        notice: Notice::AcceptorFault,
                        reference: Some(p.txn),
                    }));
                }
                end(out)
            }
            CashOutcome::Paid { total_fen, .. } if total_fen < p.due_fen => {
                let reason = format!(
                    "paid {total_fen} fen, less than the price of {} fen: nothing ordered",
                    p.due_fen
                );
                self.refund(p, total_fen, reason, out)
            }
            CashOutcome::Paid { total_fen, .. } => self.order(p, total_fen, false, out),
        }
    }

    fn tick(&mut self, state: State, now: Millis, out: &mut Vec<Effect>) -> State {
        let t = *self.idle.timeouts();
        match state {
            State::Cash { p, mut cash } => {
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
                        IdleCheck::Expired if money > 0 => {
                            outcome = cash.close(Closing::Timeout, out);
                        }
                        IdleCheck::Expired => outcome = cash.close(Closing::Customer, out),
                    }
                }
                match outcome {
                    None => State::Cash { p, cash },
                    Some(o) => self.paid(p, o, out),
                }
            }
            state @ (State::Number { .. }
            | State::Refused { .. }
            | State::Intro
            | State::Identity { .. }
            | State::Numbers { .. }
            | State::Plans { .. }
            | State::Agreement { .. }
            | State::Confirm { .. }
            | State::Done) => match self.idle.check(now, t.idle_ms) {
                IdleCheck::Fine => state,
                IdleCheck::Warn { seconds_left } => {
                    out.push(Effect::IdleWarning {
                        seconds_left,
                        money_fen: 0,
                    });
                    state
                }
                IdleCheck::Expired => end(out),
            },
            state => state,
        }
    }
}

/// The part never returns `Pending` through `issued`; kept total for the compiler.
fn unreachable_pending(p: Paying, paid_fen: u64, order_id: String) -> State {
    tracing::error!(txn = %p.txn, paid_fen, %order_id, "issuance reported pending as an outcome");
    State::Done
}

impl Flow for SimFlow {
    fn handle(&mut self, input: Input, now: Millis) -> Vec<Effect> {
        let mut out = Vec::new();
        if let Input::Ui(ui) = &input {
            self.idle.on_ui(ui, now);
            if matches!(ui, Ui::Touch | Ui::Help(_) | Ui::Elder(_)) {
                return out;
            }
        }
        if matches!(
            input,
            Input::Acceptor(_) | Input::FaceGuidance { .. } | Input::Face { .. }
        ) {
            // Notes going in, a face being taken: the customer at work.
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
        let (new, replace) = match &self.state {
            State::Number { entry } if entry.looking_up() => ("", "replace_sim.looking_up"),
            State::Number { .. } => ("", "replace_sim.enter_number"),
            State::Refused { .. } => ("new_sim.refused", "replace_sim.refused"),
            State::Intro => ("new_sim.intro", "replace_sim.intro"),
            State::Identity { .. } => ("new_sim.identity", "replace_sim.identity"),
            State::Searching { .. } | State::Numbers { .. } => ("new_sim.numbers", ""),
            State::Reserving { .. } => ("new_sim.reserving", ""),
            State::LoadingPlans { .. } | State::Plans { .. } => ("new_sim.plans", ""),
            State::Agreement { .. } => ("new_sim.agreement", ""),
            State::Confirm { .. } => ("new_sim.confirm", "replace_sim.confirm"),
            State::Opening { .. } => ("new_sim.opening", "replace_sim.opening"),
            State::Cash { .. } => ("new_sim.insert_cash", "replace_sim.insert_cash"),
            State::Ordering { .. } | State::QueryingOrder { .. } => {
                ("new_sim.ordering", "replace_sim.ordering")
            }
            State::Issuing { .. } => ("new_sim.issuing", "replace_sim.issuing"),
            State::Cancelling { .. } => ("new_sim.cancelling", "replace_sim.cancelling"),
            State::Printing { .. } => ("new_sim.printing", "replace_sim.printing"),
            State::Done => ("new_sim.result", "replace_sim.result"),
            State::Ended => ("new_sim.ended", "replace_sim.ended"),
        };
        if self.is_new() { new } else { replace }
    }

    fn takes_notes(&self) -> bool {
        matches!(self.state, State::Cash { .. })
    }

    fn wants_cash(&self) -> bool {
        match &self.state {
            State::Cash { cash, .. } => cash.wants_cash(),
            _ => false,
        }
    }

    fn money_in_fen(&self) -> u64 {
        match &self.state {
            State::Cash { cash, .. } => cash.total_fen(),
            State::Ordering { paid_fen, .. }
            | State::QueryingOrder { paid_fen, .. }
            | State::Issuing { paid_fen, .. }
            | State::Cancelling { paid_fen, .. } => *paid_fen,
            State::Printing { receipt, .. } => receipt.paid_fen,
            _ => 0,
        }
    }
}

fn refused(service: ServiceId, notice: Notice, out: &mut Vec<Effect>) -> State {
    out.push(Effect::Show(Screen::Refused {
        service,
        notice,
        offer: None,
    }));
    // The refusal screen's "back home" ends the session.
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
