//! 名下号码查询 (一证通查) — the numbers registered under the customer's ID at this
//! operator, as a pure state machine: the ID card on the reader and a live photo compared
//! at the operator (the identity part), one query, the numbers masked with their state,
//! and a printed slip on request. A customer who finds a number they never opened is told
//! what to do — the counter, with the slip — and the slip is printed for them.
//!
//! No money moves and nothing changes at the operator. The transaction (opened when the
//! query is sent) records that the service was used and holds the slip's journal lines;
//! the numbers themselves are never journaled unmasked. The card's text and the photos are
//! wiped when the identity part is done with them; the list when the session ends.

use boss_protocol::{IdNumber, NumbersByIdQuery, Request, Response};
use serde::{Deserialize, Serialize};

use super::parts::identity::{IdentityCheck, IdentityEvent, Purpose, refusal};
use super::parts::idle::{Idle, IdleCheck};
use super::parts::paper::PaperRun;
use super::screen::{HeldLine, HeldStatus, Notice, ReceiptState, Screen, Working};
use super::{
    Effect, Flow, Ids, Input, JournalOp, Millis, OpError, Paper, ReqId, ServiceId, Timeouts,
    TxnKind, Ui, mask_phone,
};

const SERVICE: ServiceId = ServiceId::NumberQuery;

/// Settings of the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub timeouts: Timeouts,
    /// The printer works (the slip is offered).
    pub printer: bool,
}

/// The slip (名下号码清单): the numbers masked, their state, and what to do about one the
/// customer never opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumbersSlip {
    pub txn_id: String,
    /// 王** and 110101********123X.
    pub name_masked: String,
    pub id_masked: String,
    pub numbers: Vec<HeldLine>,
    pub limit: u32,
    /// The customer said a number is not theirs.
    pub disputed: bool,
}

/// Who asked, masked, as the screen and slip show it.
#[derive(Debug, Clone)]
struct Holder {
    name_masked: String,
    id_masked: String,
}

/// The answer on the screen.
#[derive(Debug, Clone)]
struct Listing {
    txn: String,
    holder: Holder,
    numbers: Vec<HeldLine>,
    limit: u32,
    advice: bool,
    receipt: Option<ReceiptState>,
}

impl Listing {
    fn screen(&self) -> Effect {
        Effect::Show(Screen::HeldNumbers {
            name_masked: self.holder.name_masked.clone(),
            id_masked: self.holder.id_masked.clone(),
            numbers: self.numbers.clone(),
            limit: self.limit,
            advice: self.advice,
            receipt: self.receipt.clone(),
        })
    }

    fn slip(&self) -> NumbersSlip {
        NumbersSlip {
            txn_id: self.txn.clone(),
            name_masked: self.holder.name_masked.clone(),
            id_masked: self.holder.id_masked.clone(),
            numbers: self.numbers.clone(),
            limit: self.limit,
            disputed: self.advice,
        }
    }
}

#[derive(Debug)]
enum State {
    Identity {
        part: IdentityCheck,
    },
    /// The transaction is being opened; the ID number waits for the query only.
    Opening {
        holder: Holder,
        id_number: IdNumber,
        face_check_id: String,
    },
    Querying {
        txn: String,
        holder: Holder,
        req: ReqId,
    },
    Listed {
        listing: Listing,
    },
    Printing {
        listing: Listing,
        run: PaperRun,
    },
    /// A refusal is on the screen; `txn`: the transaction to close, if one was opened.
    Done {
        txn: Option<String>,
    },
    Ended,
}

/// The numbers-under-my-ID flow.
#[derive(Debug)]
pub struct NumberQuery {
    config: Config,
    state: State,
    idle: Idle,
    ids: Ids,
}

impl NumberQuery {
    /// Starts at "place your ID card on the reader".
    pub fn start(config: Config, now: Millis) -> (Self, Vec<Effect>) {
        let mut out = Vec::new();
        let mut ids = Ids::default();
        let part = IdentityCheck::start(SERVICE, Purpose::Holder, &mut ids, &mut out);
        let flow = Self {
            idle: Idle::new(config.timeouts, now),
            config,
            state: State::Identity { part },
            ids,
        };
        (flow, out)
    }

    fn listed(
        &self,
        txn: String,
        holder: Holder,
        result: Result<Response, OpError>,
        out: &mut Vec<Effect>,
    ) -> State {
        match result {
            Ok(Response::NumbersById(list)) => {
                let numbers = list
                    .numbers
                    .iter()
                    .map(|n| HeldLine {
                        number_masked: mask_phone(n.msisdn.as_str()),
                        status: HeldStatus::of(n.status),
                        opened_on: n.opened_on.clone(),
                        prepaid: matches!(n.payment, boss_protocol::PaymentKind::Prepaid),
                    })
                    .collect();
                let listing = Listing {
                    txn,
                    holder,
                    numbers,
                    limit: list.numbers_limit,
                    advice: false,
                    receipt: None,
                };
                out.push(listing.screen());
                State::Listed { listing }
            }
            Err(OpError::Refused { code, .. }) => {
                out.push(Effect::Journal(JournalOp::Cancel {
                    reason: format!("operator refused the query: {code}"),
                }));
                out.push(Effect::Show(Screen::Refused {
                    service: SERVICE,
                    notice: refusal(&code),
                    offer: None,
                }));
                State::Done { txn: None }
            }
            Err(e) => {
                out.push(Effect::Journal(JournalOp::Cancel {
                    reason: format!("numbers not listed: {}", e.cause()),
                }));
                unavailable(None, out)
            }
            Ok(other) => {
                out.push(Effect::Journal(JournalOp::Cancel {
                    reason: format!("numbers not listed: answer `{}`", other.op()),
                }));
                unavailable(None, out)
            }
        }
    }

    fn print(&mut self, mut listing: Listing, out: &mut Vec<Effect>) -> State {
        if !self.config.printer {
            listing.receipt = Some(ReceiptState::NotPrinted);
            out.push(listing.screen());
            return State::Listed { listing };
        }
        let run = PaperRun::start(vec![Paper::Numbers(listing.slip())], &mut self.ids, out);
        listing.receipt = Some(ReceiptState::Printing);
        out.push(listing.screen());
        State::Printing { listing, run }
    }

    fn step(&mut self, state: State, input: Input, now: Millis, out: &mut Vec<Effect>) -> State {
        use Input as I;
        match (state, input) {
            (state, I::Tick) => self.tick(state, now, out),

            (State::Identity { mut part }, input) => {
                if matches!(input, I::Shutdown | I::Ui(Ui::Cancel)) {
                    return finish(None, out);
                }
                match part.handle(&input, &mut self.ids, out) {
                    IdentityEvent::Pending => State::Identity { part },
                    IdentityEvent::Back => finish(None, out),
                    IdentityEvent::Unavailable => unavailable(None, out),
                    IdentityEvent::Refused { notice } => {
                        out.push(Effect::Show(Screen::Refused {
                            service: SERVICE,
                            notice,
                            offer: None,
                        }));
                        State::Done { txn: None }
                    }
                    IdentityEvent::Done(identity) => {
                        self.idle.touch(now);
                        let Some(card) = identity.doc.card.as_ref() else {
                            return unavailable(None, out);
                        };
                        let holder = Holder {
                            name_masked: card.name.masked(),
                            id_masked: card.id_number.masked(),
                        };
                        out.push(Effect::Journal(JournalOp::Open {
                            kind: TxnKind::NumberQuery,
                            msisdn: None,
                            number_masked: String::new(),
                        }));
                        out.push(Effect::Show(Screen::Working {
                            what: Working::LoadingHeld,
                        }));
                        // Only the ID number goes on, to the query; the rest of the card's
                        // text and its photo are wiped with `identity` here.
                        State::Opening {
                            holder,
                            id_number: card.id_number.clone(),
                            face_check_id: identity.face_check_id.clone(),
                        }
                    }
                }
            }

            (
                State::Opening {
                    holder,
                    id_number,
                    face_check_id,
                },
                I::TxnOpened { id },
            ) => {
                let req = self.ids.fresh();
                out.push(Effect::Operator {
                    req,
                    request: Request::NumbersById(NumbersByIdQuery {
                        id_number,
                        face_check_id,
                    }),
                    timeout_ms: None,
                });
                State::Querying {
                    txn: id,
                    holder,
                    req,
                }
            }

            (State::Querying { txn, holder, req }, I::Operator { req: r, result }) if r == req => {
                self.listed(txn, holder, result, out)
            }
            (State::Querying { txn, .. }, I::Ui(Ui::Cancel) | I::Shutdown) => {
                finish(Some(&txn), out)
            }

            (State::Listed { listing }, I::Ui(Ui::Select(s))) if s == "print" => {
                self.idle.touch(now);
                self.print(listing, out)
            }
            // "One of these is not mine": what to do, and the slip to take to the counter.
            (State::Listed { mut listing }, I::Ui(Ui::Select(s))) if s == "not_mine" => {
                self.idle.touch(now);
                listing.advice = true;
                if listing.receipt.is_some() {
                    out.push(listing.screen());
                    return State::Listed { listing };
                }
                self.print(listing, out)
            }
            (
                State::Listed { listing },
                I::Ui(Ui::Confirm | Ui::Cancel | Ui::Back) | I::Shutdown,
            ) => finish(Some(&listing.txn), out),

            (
                State::Printing {
                    mut listing,
                    mut run,
                },
                input @ I::Printed { .. },
            ) => match run.handle(&input, out) {
                None => State::Printing { listing, run },
                Some(all) => {
                    listing.receipt = Some(if all {
                        ReceiptState::Printed
                    } else {
                        ReceiptState::NotPrinted
                    });
                    out.push(listing.screen());
                    self.idle.touch(now);
                    State::Listed { listing }
                }
            },

            (State::Done { txn }, I::Ui(Ui::Confirm | Ui::Cancel | Ui::Back) | I::Shutdown) => {
                finish(txn.as_deref(), out)
            }

            (state, _) => state,
        }
    }

    fn tick(&mut self, state: State, now: Millis, out: &mut Vec<Effect>) -> State {
        let txn = match &state {
            State::Identity { .. } => None,
            State::Listed { listing } => Some(listing.txn.clone()),
            State::Done { txn } => txn.clone(),
            _ => return state,
        };
        match self.idle.check(now, self.idle.timeouts().idle_ms) {
            IdleCheck::Fine => state,
            IdleCheck::Warn { seconds_left } => {
                out.push(Effect::IdleWarning {
                    seconds_left,
                    money_fen: 0,
                });
                state
            }
            // Walked away: the list, the card's text and the photo are wiped.
            IdleCheck::Expired => finish(txn.as_deref(), out),
        }
    }
}

impl Flow for NumberQuery {
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
            State::Identity { .. } => "number_query.identity",
            State::Opening { .. } | State::Querying { .. } => "number_query.querying",
            State::Listed { .. } => "number_query.listed",
            State::Printing { .. } => "number_query.printing",
            State::Done { .. } => "number_query.result",
            State::Ended => "number_query.ended",
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

fn unavailable(txn: Option<&str>, out: &mut Vec<Effect>) -> State {
    out.push(Effect::Show(Screen::Sorry {
        notice: Notice::ServiceUnavailable,
        reference: None,
    }));
    finish(txn, out)
}

/// Ends the session; an open transaction is closed first.
fn finish(txn: Option<&str>, out: &mut Vec<Effect>) -> State {
    if txn.is_some() {
        out.push(Effect::Journal(JournalOp::Complete {
            operator_ref: String::new(),
        }));
    }
    out.push(Effect::End);
    State::Ended
}

#[cfg(test)]
mod tests;
