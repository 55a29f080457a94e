//! Authentication (身份验证), one part for every service that needs it: the service password
//! (服务密码) on a keypad shuffled for every entry, plus an SMS code (短信验证码) where the
//! operation needs it, or the owner's ID card on the reader. The operator decides and
//! answers with a token; the part reports who the customer proved to be.
//!
//! The password and the code exist only inside [`Ui::Secret`] and the request that carries
//! them ([`boss_protocol::Secret`], wiped when dropped): never in a screen, a log, the journal
//! or the disk. The token lives in the flow and dies with the session.

use boss_protocol::{
    AuthFactor, AuthIdCard, AuthPassword, AuthToken, Msisdn, Request, Response, Secret,
    SmsCodeRequest, SmsCodeVerify,
};

use super::super::screen::{Notice, Screen, Working};
use super::super::{Effect, IdCardProblem, Ids, Input, Millis, OpError, ReqId, ServiceId, Ui};

/// How long before another SMS code may be asked for, when the operator does not say.
pub const SMS_RESEND_S: u64 = 60;

/// How long the kiosk waits for an ID card on the reader.
pub const ID_CARD_WAIT_MS: u64 = 30_000;

/// What the service needs as proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthNeed {
    /// Plan change: the service password, or the owner's ID card.
    PasswordOrIdCard,
    /// Bills and records: the password and an SMS code, or the owner's ID card.
    PasswordAndSmsOrIdCard,
    /// Re-registration (实名补登记): the service password, or an SMS code alone (an
    /// unregistered number's user often has no password).
    PasswordOrSms,
    /// 挂失 / 解挂: the password and an SMS code, or the owner's ID card with a live photo
    /// compared at the operator. The card and face are the identity part's
    /// (`parts::identity`): the flow takes over when the customer chooses the card
    /// ([`Auth::choosing`]).
    PasswordAndSmsOrFace,
}

impl AuthNeed {
    fn with_sms(self) -> bool {
        matches!(
            self,
            AuthNeed::PasswordAndSmsOrIdCard | AuthNeed::PasswordAndSmsOrFace
        )
    }
}

/// What the authentication came to.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthEvent {
    /// Still going.
    Pending,
    /// The customer proved to be the owner.
    Authenticated {
        token: AuthToken,
        factors: Vec<AuthFactor>,
    },
    /// The customer went back (to the number).
    Back,
    /// The operator will not authenticate this customer now (locked, not the owner, …).
    Refused { notice: Notice },
    /// The operator cannot be reached.
    Unavailable,
}

#[derive(Debug)]
enum State {
    Choose,
    Password {
        waiting: Option<ReqId>,
    },
    SmsSending {
        req: ReqId,
    },
    SmsEntry {
        waiting: Option<ReqId>,
        resend_at: Millis,
    },
    IdWaiting {
        req: ReqId,
    },
    IdVerifying {
        req: ReqId,
    },
    Done,
}

/// The authentication part of a session.
#[derive(Debug)]
pub struct Auth {
    service: ServiceId,
    need: AuthNeed,
    id_card: bool,
    msisdn: String,
    number_masked: String,
    state: State,
    rng: u64,
    /// The password's token, waiting to be upgraded with the SMS code.
    password_token: Option<AuthToken>,
}

impl Auth {
    /// Starts: the choice of method (or straight to the password when the reader is down).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        service: ServiceId,
        need: AuthNeed,
        id_card: bool,
        msisdn: &str,
        number_masked: &str,
        seed: u64,
        out: &mut Vec<Effect>,
    ) -> Self {
        let mut a = Self {
            service,
            need,
            id_card,
            msisdn: msisdn.to_owned(),
            number_masked: number_masked.to_owned(),
            state: State::Choose,
            rng: seed | 1,
            password_token: None,
        };
        a.show_choice(out);
        a
    }

    fn show_choice(&mut self, out: &mut Vec<Effect>) {
        self.state = State::Choose;
        out.push(Effect::Show(Screen::AuthChoose {
            service: self.service,
            number_masked: self.number_masked.clone(),
            sms: self.need.with_sms(),
            id_card: self.id_card && self.need != AuthNeed::PasswordOrSms,
            sms_alone: self.need == AuthNeed::PasswordOrSms,
        }));
    }

    /// A fresh order of the ten digits (xorshift64*, Fisher–Yates): shoulder-surfers learn
    /// nothing from where a finger went.
    fn shuffled(&mut self) -> [u8; 10] {
        let mut layout = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        for i in (1..layout.len()).rev() {
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
            let j = usize::try_from(r % (u64::try_from(i).unwrap_or(1) + 1)).unwrap_or(0);
            layout.swap(i, j);
        }
        layout
    }

    fn show_password(&mut self, notice: Option<Notice>, out: &mut Vec<Effect>) {
        self.state = State::Password { waiting: None };
        out.push(Effect::Show(Screen::Password {
            number_masked: self.number_masked.clone(),
            layout: self.shuffled(),
            notice,
        }));
    }

    fn request(&self, ids: &mut Ids, request: Request, out: &mut Vec<Effect>) -> ReqId {
        let req = ids.fresh();
        out.push(Effect::Operator {
            req,
            request,
            timeout_ms: None,
        });
        req
    }

    fn read_card(&mut self, ids: &mut Ids, notice: Option<Notice>, out: &mut Vec<Effect>) {
        let req = ids.fresh();
        out.push(Effect::ReadIdCard {
            req,
            timeout_ms: ID_CARD_WAIT_MS,
        });
        out.push(Effect::Show(Screen::PlaceIdCard { notice }));
        self.state = State::IdWaiting { req };
    }

    fn send_code(&mut self, ids: &mut Ids, out: &mut Vec<Effect>) {
        let req = self.request(
            ids,
            Request::SmsCodeRequest(SmsCodeRequest {
                msisdn: Msisdn::new(self.msisdn.clone()),
            }),
            out,
        );
        out.push(Effect::Show(Screen::Working {
            what: Working::SendingCode,
        }));
        self.state = State::SmsSending { req };
    }

    fn done(&mut self, token: AuthToken, factors: Vec<AuthFactor>) -> AuthEvent {
        self.state = State::Done;
        self.password_token = None;
        AuthEvent::Authenticated { token, factors }
    }

    /// Whether the choice of method is on the screen (a flow that does the ID card itself
    /// takes `Select("id_card")` from there).
    pub fn choosing(&self) -> bool {
        matches!(self.state, State::Choose)
    }

    /// Takes one input. Returns what the authentication came to.
    pub fn handle(
        &mut self,
        input: &Input,
        ids: &mut Ids,
        now: Millis,
        out: &mut Vec<Effect>,
    ) -> AuthEvent {
        let state = std::mem::replace(&mut self.state, State::Done);
        match (state, input) {
            (State::Choose, Input::Ui(Ui::Select(m))) if m == "password" => {
                self.show_password(None, out);
            }
            (State::Choose, Input::Ui(Ui::Select(m)))
                if m == "sms" && self.need == AuthNeed::PasswordOrSms =>
            {
                self.send_code(ids, out);
            }
            (State::Choose, Input::Ui(Ui::Select(m)))
                if m == "id_card"
                    && self.id_card
                    && matches!(
                        self.need,
                        AuthNeed::PasswordOrIdCard | AuthNeed::PasswordAndSmsOrIdCard
                    ) =>
            {
                self.read_card(ids, None, out);
            }
            (State::Choose, Input::Ui(Ui::Back)) => return AuthEvent::Back,

            (State::Password { waiting: None }, Input::Ui(Ui::Secret(pw))) => {
                let digits = pw.expose();
                if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    self.show_password(Some(Notice::WrongPassword { tries_left: None }), out);
                    return AuthEvent::Pending;
                }
                let req = self.request(
                    ids,
                    Request::AuthPassword(AuthPassword {
                        msisdn: Msisdn::new(self.msisdn.clone()),
                        password: Secret::new(digits),
                    }),
                    out,
                );
                out.push(Effect::Show(Screen::Working {
                    what: Working::Verifying,
                }));
                self.state = State::Password { waiting: Some(req) };
            }
            (State::Password { waiting: None }, Input::Ui(Ui::Back)) => self.show_choice(out),
            (State::Password { waiting: Some(req) }, Input::Operator { req: r, result })
                if *r == req =>
            {
                match result {
                    Ok(Response::AuthPassword(ok)) => {
                        if self.need.with_sms() {
                            self.password_token = Some(ok.token.clone());
                            self.send_code(ids, out);
                        } else {
                            return self.done(ok.token.clone(), ok.factors.clone());
                        }
                    }
                    Err(e) => return self.refusal(e, Retry::Password, now, out),
                    Ok(_) => return AuthEvent::Unavailable,
                }
            }

            (State::SmsSending { req }, Input::Operator { req: r, result }) if *r == req => {
                match result {
                    Ok(Response::SmsCodeRequest(sent)) => {
                        let resend_at = now + u64::from(sent.resend_after_s) * 1000;
                        out.push(Effect::Show(Screen::SmsCode {
                            number_masked: self.number_masked.clone(),
                            resend_in_s: u64::from(sent.resend_after_s),
                            notice: None,
                        }));
                        self.state = State::SmsEntry {
                            waiting: None,
                            resend_at,
                        };
                    }
                    Err(e) => return self.refusal(e, Retry::Code { resend_at: now }, now, out),
                    Ok(_) => return AuthEvent::Unavailable,
                }
            }
            (
                State::SmsEntry {
                    waiting: None,
                    resend_at,
                },
                Input::Ui(Ui::Secret(code)),
            ) => {
                let req = self.request(
                    ids,
                    Request::SmsCodeVerify(SmsCodeVerify {
                        msisdn: Msisdn::new(self.msisdn.clone()),
                        code: Secret::new(code.expose()),
                        token: self.password_token.clone(),
                    }),
                    out,
                );
                out.push(Effect::Show(Screen::Working {
                    what: Working::Verifying,
                }));
                self.state = State::SmsEntry {
                    waiting: Some(req),
                    resend_at,
                };
            }
            (
                State::SmsEntry {
                    waiting: None,
                    resend_at,
                },
                Input::Ui(Ui::Select(s)),
            ) if s == "resend" => {
                if now >= resend_at {
                    self.send_code(ids, out);
                } else {
                    out.push(Effect::Show(Screen::SmsCode {
                        number_masked: self.number_masked.clone(),
                        resend_in_s: (resend_at - now).div_ceil(1000),
                        notice: None,
                    }));
                    self.state = State::SmsEntry {
                        waiting: None,
                        resend_at,
                    };
                }
            }
            (State::SmsEntry { waiting: None, .. }, Input::Ui(Ui::Back)) => {
                self.password_token = None;
                self.show_choice(out);
            }
            (
                State::SmsEntry {
                    waiting: Some(req),
                    resend_at,
                },
                Input::Operator { req: r, result },
            ) if *r == req => match result {
                Ok(Response::SmsCodeVerify(ok)) => {
                    return self.done(ok.token.clone(), ok.factors.clone());
                }
                Err(e) => return self.refusal(e, Retry::Code { resend_at }, now, out),
                Ok(_) => return AuthEvent::Unavailable,
            },

            (State::IdWaiting { req }, Input::IdCard { req: r, result }) if *r == req => {
                match result {
                    Ok(doc) => {
                        let Some(card) = doc.card.clone() else {
                            return self.fail(Notice::CardNotServed);
                        };
                        if doc.expired {
                            return self.fail(Notice::IdExpired);
                        }
                        let req = self.request(
                            ids,
                            Request::AuthIdCard(AuthIdCard {
                                msisdn: Msisdn::new(self.msisdn.clone()),
                                id: card,
                                face_check_id: None,
                            }),
                            out,
                        );
                        out.push(Effect::Show(Screen::Working {
                            what: Working::Verifying,
                        }));
                        self.state = State::IdVerifying { req };
                    }
                    Err(IdCardProblem::NoCard) => {
                        out.push(Effect::Show(Screen::PlaceIdCard {
                            notice: Some(Notice::NoCard),
                        }));
                        self.state = State::IdWaiting { req: ReqId(0) };
                    }
                    Err(IdCardProblem::Rejected | IdCardProblem::ReadFailed) => {
                        self.read_card(ids, Some(Notice::CardUnreadable), out);
                    }
                    Err(IdCardProblem::ReaderDown(_)) => {
                        self.id_card = false;
                        self.show_choice(out);
                    }
                }
            }
            // "Try again" after no card came, or back to the choice.
            (State::IdWaiting { .. }, Input::Ui(Ui::Select(s))) if s == "retry" => {
                self.read_card(ids, None, out);
            }
            (State::IdWaiting { .. }, Input::Ui(Ui::Back)) => self.show_choice(out),
            (State::IdVerifying { req }, Input::Operator { req: r, result }) if *r == req => {
                match result {
                    Ok(Response::AuthIdCard(ok)) => {
                        return self.done(ok.token.clone(), ok.factors.clone());
                    }
                    Err(e) => return self.refusal(e, Retry::IdCard, now, out),
                    Ok(_) => return AuthEvent::Unavailable,
                }
            }
            (state, _) => self.state = state,
        }
        AuthEvent::Pending
    }

    fn fail(&mut self, notice: Notice) -> AuthEvent {
        self.state = State::Done;
        self.password_token = None;
        AuthEvent::Refused { notice }
    }

    /// What a refusal from the operator means for the customer.
    fn refusal(
        &mut self,
        e: &OpError,
        retry: Retry,
        now: Millis,
        out: &mut Vec<Effect>,
    ) -> AuthEvent {
        let OpError::Refused { code, .. } = e else {
            return AuthEvent::Unavailable;
        };
        let (tries_left, until_ms) = e.auth_details();
        match (code.as_str(), retry) {
            ("auth_failed", Retry::Password) => {
                self.show_password(Some(Notice::WrongPassword { tries_left }), out);
                AuthEvent::Pending
            }
            ("auth_failed", Retry::Code { resend_at }) => {
                out.push(Effect::Show(Screen::SmsCode {
                    number_masked: self.number_masked.clone(),
                    resend_in_s: resend_at.saturating_sub(now).div_ceil(1000),
                    notice: Some(Notice::WrongCode { tries_left }),
                }));
                self.state = State::SmsEntry {
                    waiting: None,
                    resend_at,
                };
                AuthEvent::Pending
            }
            ("code_expired", Retry::Code { .. }) => {
                out.push(Effect::Show(Screen::SmsCode {
                    number_masked: self.number_masked.clone(),
                    resend_in_s: 0,
                    notice: Some(Notice::CodeExpired),
                }));
                self.state = State::SmsEntry {
                    waiting: None,
                    resend_at: 0,
                };
                AuthEvent::Pending
            }
            ("auth_locked", _) => self.fail(Notice::AuthLocked { until_ms }),
            ("id_mismatch", _) => self.fail(Notice::IdMismatch),
            ("id_expired", _) => self.fail(Notice::IdExpired),
            ("unknown_subscriber" | "subscriber_inactive", _) => self.fail(Notice::NumberNotFound),
            ("busy", Retry::Code { .. }) => {
                // Codes are rate-limited (one a minute): the last one sent still works;
                // the customer types it, or asks again once the wait is over.
                out.push(Effect::Show(Screen::SmsCode {
                    number_masked: self.number_masked.clone(),
                    resend_in_s: SMS_RESEND_S,
                    notice: None,
                }));
                self.state = State::SmsEntry {
                    waiting: None,
                    resend_at: now + SMS_RESEND_S * 1000,
                };
                AuthEvent::Pending
            }
            _ => AuthEvent::Unavailable,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Retry {
    Password,
    Code { resend_at: Millis },
    IdCard,
}

#[cfg(test)]
mod tests;
