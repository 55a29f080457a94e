//! The customer's number: typed on the keypad, checked (11 digits, 1[3-9]…), looked up at
//! the operator (subscriber_lookup). Shared by every service that starts from a number. A
//! number the operator does not know, or a closed account, comes back to the keypad with
//! the digits so the customer can check them; only the answer to the lookup still wanted
//! counts (the customer may have gone back and typed another number meanwhile).

use boss_protocol::{Msisdn, Request, Response, SubscriberLookup};

use super::super::screen::{Notice, Screen, TypedNumber};
use super::super::topup::{AccountStatus, Subscriber};
use super::super::{
    Effect, Ids, Input, OpError, ReqId, ServiceId, Ui, is_mobile_number, mask_phone,
};

/// What the number entry came to.
#[derive(Debug, Clone, PartialEq)]
pub enum NumberEvent {
    Pending,
    /// The operator knows the number and the account is open.
    Found {
        msisdn: String,
        subscriber: Subscriber,
    },
    /// The customer left from the keypad (back, home, or the kiosk is stopping).
    Left,
    /// The operator cannot be reached.
    Unavailable,
}

#[derive(Debug)]
enum State {
    Typing,
    LookingUp { msisdn: String, req: ReqId },
}

/// The number entry of a session.
#[derive(Debug)]
pub struct NumberEntry {
    service: ServiceId,
    state: State,
}

impl NumberEntry {
    /// The keypad, with `typed` digits already there (empty for a new customer).
    pub fn start(
        service: ServiceId,
        typed: &str,
        notice: Option<Notice>,
        out: &mut Vec<Effect>,
    ) -> Self {
        out.push(Effect::Show(keypad(service, notice, typed)));
        Self {
            service,
            state: State::Typing,
        }
    }

    /// Straight to the lookup of a number the customer already gave (another service
    /// handed them over).
    pub fn look_up(service: ServiceId, msisdn: &str, ids: &mut Ids, out: &mut Vec<Effect>) -> Self {
        let mut e = Self {
            service,
            state: State::Typing,
        };
        e.ask(msisdn.to_owned(), ids, out);
        e
    }

    fn ask(&mut self, msisdn: String, ids: &mut Ids, out: &mut Vec<Effect>) {
        let req = ids.fresh();
        out.push(Effect::Show(Screen::LookingUp {
            number_masked: mask_phone(&msisdn),
        }));
        out.push(Effect::Operator {
            req,
            request: Request::SubscriberLookup(SubscriberLookup {
                msisdn: Msisdn::new(msisdn.clone()),
            }),
            timeout_ms: None,
        });
        self.state = State::LookingUp { msisdn, req };
    }

    /// Takes one input.
    /// Whether the number is being looked up (rather than typed).
    pub fn looking_up(&self) -> bool {
        matches!(self.state, State::LookingUp { .. })
    }

    pub fn handle(&mut self, input: &Input, ids: &mut Ids, out: &mut Vec<Effect>) -> NumberEvent {
        let state = std::mem::replace(&mut self.state, State::Typing);
        match (state, input) {
            (State::Typing, Input::Ui(Ui::Number(n))) => {
                if is_mobile_number(n) {
                    self.ask(n.clone(), ids, out);
                } else {
                    out.push(Effect::Show(keypad(
                        self.service,
                        Some(Notice::InvalidNumber {
                            digits: n.chars().count(),
                        }),
                        n,
                    )));
                }
                NumberEvent::Pending
            }
            (State::Typing, Input::Ui(Ui::Cancel | Ui::Back) | Input::Shutdown) => {
                NumberEvent::Left
            }
            (State::LookingUp { msisdn, req }, Input::Operator { req: r, result }) if *r == req => {
                match result {
                    Ok(Response::SubscriberLookup(s)) => {
                        let subscriber = Subscriber::from_lookup(s);
                        if subscriber.status == AccountStatus::Closed {
                            out.push(Effect::Show(keypad(
                                self.service,
                                Some(Notice::AccountClosed),
                                &msisdn,
                            )));
                            return NumberEvent::Pending;
                        }
                        NumberEvent::Found { msisdn, subscriber }
                    }
                    Err(OpError::Refused { code, .. }) if code == "unknown_subscriber" => {
                        out.push(Effect::Show(keypad(
                            self.service,
                            Some(Notice::NumberNotFound),
                            &msisdn,
                        )));
                        NumberEvent::Pending
                    }
                    Err(OpError::Refused { code, .. }) if code == "subscriber_inactive" => {
                        out.push(Effect::Show(keypad(
                            self.service,
                            Some(Notice::AccountClosed),
                            &msisdn,
                        )));
                        NumberEvent::Pending
                    }
                    _ => NumberEvent::Unavailable,
                }
            }
            (State::LookingUp { msisdn, .. }, Input::Ui(Ui::Back)) => {
                out.push(Effect::Show(keypad(self.service, None, &msisdn)));
                NumberEvent::Pending
            }
            (State::LookingUp { .. }, Input::Ui(Ui::Cancel) | Input::Shutdown) => NumberEvent::Left,
            (state, _) => {
                self.state = state;
                NumberEvent::Pending
            }
        }
    }
}

/// The keypad screen.
pub fn keypad(service: ServiceId, notice: Option<Notice>, typed: &str) -> Screen {
    Screen::EnterNumber {
        service,
        notice,
        typed: TypedNumber::new(typed),
    }
}
