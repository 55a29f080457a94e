//! Real-name identity (实名制), shared by the new SIM, the replacement SIM and
//! re-registration: the second-generation ID card on the reader, what the kiosk can check
//! itself (a card it serves, in date, a valid check digit, 16 or over), the operator's own
//! check for a new applicant (per-ID limit 一证五号, blacklist, registry), separate consent to
//! face recognition, the live photo (taken by the runtime with the kiosk's own face and
//! liveness checks) and the operator's comparison of it with the card's photo (人证比对).
//! For a replacement SIM the owner is then authenticated by card and face.
//!
//! The card's text and both photos live in memory only — the text in the [`IdDocument`]
//! (wiped when dropped), the live photo only until its comparison request is built.

use boss_protocol::{
    AuthIdCard, AuthToken, Blob, FaceCompare, FaceVerdict, Msisdn, RealNameCheck, RealNameOk,
    Request, Response,
};

use super::super::devices::{FaceGuidance, FaceProblem};
use super::super::screen::{Notice, Screen, Working};
use super::super::{Effect, IdCardProblem, IdDocument, Ids, Input, OpError, ReqId, ServiceId, Ui};
use super::auth::ID_CARD_WAIT_MS;

/// Live photos tried before the customer is sent to the counter.
pub const FACE_ATTEMPTS: u32 = 3;

/// How long one live photo may take.
pub const FACE_TIMEOUT_MS: u64 = 45_000;

/// The youngest applicant served at the kiosk.
pub const MIN_AGE: u32 = 16;

/// Whose identity is established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A new subscriber: the operator's real-name check first.
    Applicant,
    /// The registered owner of the number (补卡): authenticated by card and face at the end.
    Owner { msisdn: String },
    /// The person registering on a number (实名补登记): the operator checks at registration.
    Registrant,
    /// The holder of the card asking about their own registrations (名下号码查询).
    Holder,
}

/// Who the customer proved to be.
#[derive(Debug)]
pub struct Identity {
    pub doc: IdDocument,
    pub face_check_id: String,
    /// For [`Purpose::Owner`]: the token from the card and face.
    pub token: Option<AuthToken>,
    /// For [`Purpose::Applicant`]: what the operator's check said.
    pub real_name: Option<RealNameOk>,
}

/// What the identity part came to.
#[derive(Debug)]
pub enum IdentityEvent {
    Pending,
    Done(Box<Identity>),
    /// A rule stops the service: the screen says why (and sends to the counter).
    Refused {
        notice: Notice,
    },
    /// The operator cannot be reached.
    Unavailable,
    /// The customer went back.
    Back,
}

#[derive(Debug)]
enum State {
    Reading {
        req: ReqId,
    },
    Checking {
        req: ReqId,
        doc: IdDocument,
    },
    Consent {
        doc: IdDocument,
        real_name: Option<RealNameOk>,
    },
    Capturing {
        req: ReqId,
        doc: IdDocument,
        real_name: Option<RealNameOk>,
        attempt: u32,
        /// Why this is another try.
        notice: Option<Notice>,
    },
    Comparing {
        req: ReqId,
        doc: IdDocument,
        real_name: Option<RealNameOk>,
        attempt: u32,
    },
    Authenticating {
        req: ReqId,
        doc: IdDocument,
        face_check_id: String,
    },
    Done,
}

/// The identity part of a session.
#[derive(Debug)]
pub struct IdentityCheck {
    service: ServiceId,
    purpose: Purpose,
    state: State,
}

impl IdentityCheck {
    /// Starts at "place your ID card on the reader".
    pub fn start(
        service: ServiceId,
        purpose: Purpose,
        ids: &mut Ids,
        out: &mut Vec<Effect>,
    ) -> Self {
        let mut p = Self {
            service,
            purpose,
            state: State::Done,
        };
        p.read(None, ids, out);
        p
    }

    fn read(&mut self, notice: Option<Notice>, ids: &mut Ids, out: &mut Vec<Effect>) {
        let req = ids.fresh();
        out.push(Effect::ReadIdCard {
            req,
            timeout_ms: ID_CARD_WAIT_MS,
        });
        out.push(Effect::Show(Screen::PlaceIdCard { notice }));
        self.state = State::Reading { req };
    }

    fn ask(request: Request, what: Working, ids: &mut Ids, out: &mut Vec<Effect>) -> ReqId {
        let req = ids.fresh();
        out.push(Effect::Operator {
            req,
            request,
            timeout_ms: None,
        });
        out.push(Effect::Show(Screen::Working { what }));
        req
    }

    fn consent(
        &mut self,
        doc: IdDocument,
        real_name: Option<RealNameOk>,
        out: &mut Vec<Effect>,
    ) -> IdentityEvent {
        out.push(Effect::Show(Screen::FaceConsent {
            service: self.service,
        }));
        self.state = State::Consent { doc, real_name };
        IdentityEvent::Pending
    }

    fn capture(
        &mut self,
        doc: IdDocument,
        real_name: Option<RealNameOk>,
        attempt: u32,
        notice: Option<Notice>,
        ids: &mut Ids,
        out: &mut Vec<Effect>,
    ) -> IdentityEvent {
        let req = ids.fresh();
        out.push(Effect::CaptureFace {
            req,
            timeout_ms: FACE_TIMEOUT_MS,
        });
        out.push(Effect::Show(Screen::FaceCapture {
            guidance: FaceGuidance::LookAtCamera,
            attempt,
            notice: notice.clone(),
        }));
        self.state = State::Capturing {
            req,
            doc,
            real_name,
            attempt,
            notice,
        };
        IdentityEvent::Pending
    }

    /// Another photo if tries are left, else `notice`.
    fn again(
        &mut self,
        doc: IdDocument,
        real_name: Option<RealNameOk>,
        attempt: u32,
        notice: Notice,
        ids: &mut Ids,
        out: &mut Vec<Effect>,
    ) -> IdentityEvent {
        if attempt >= FACE_ATTEMPTS {
            self.state = State::Done;
            return IdentityEvent::Refused { notice };
        }
        self.capture(doc, real_name, attempt + 1, Some(notice), ids, out)
    }

    /// The kiosk's own checks of a card read.
    fn kiosk_checks(&self, doc: &IdDocument) -> Option<Notice> {
        if doc.card.is_none() {
            return Some(Notice::CardNotServed);
        }
        if doc.expired {
            return Some(Notice::IdExpired);
        }
        if doc.check_digit_ok == Some(false) {
            return Some(Notice::IdInvalid);
        }
        // A number's owner, or a holder asking what is theirs, is who they are; a new
        // applicant or registrant must be 16.
        if matches!(self.purpose, Purpose::Applicant | Purpose::Registrant) && doc.age < MIN_AGE {
            return Some(Notice::UnderAge);
        }
        None
    }

    /// Takes one input. Inputs that are not the part's leave it as it is.
    pub fn handle(&mut self, input: &Input, ids: &mut Ids, out: &mut Vec<Effect>) -> IdentityEvent {
        let state = std::mem::replace(&mut self.state, State::Done);
        match (state, input) {
            (State::Reading { req }, Input::IdCard { req: r, result }) if *r == req => match result
            {
                Ok(doc) => {
                    if let Some(notice) = self.kiosk_checks(doc) {
                        return IdentityEvent::Refused { notice };
                    }
                    let doc = doc.clone();
                    match &self.purpose {
                        Purpose::Applicant => {
                            let Some(card) = doc.card.clone() else {
                                return IdentityEvent::Refused {
                                    notice: Notice::CardNotServed,
                                };
                            };
                            let req = Self::ask(
                                Request::RealNameCheck(RealNameCheck { id: card }),
                                Working::CheckingId,
                                ids,
                                out,
                            );
                            self.state = State::Checking { req, doc };
                            IdentityEvent::Pending
                        }
                        _ => self.consent(doc, None, out),
                    }
                }
                Err(IdCardProblem::NoCard) => {
                    out.push(Effect::Show(Screen::PlaceIdCard {
                        notice: Some(Notice::NoCard),
                    }));
                    self.state = State::Reading { req: ReqId(0) };
                    IdentityEvent::Pending
                }
                Err(IdCardProblem::Rejected | IdCardProblem::ReadFailed) => {
                    self.read(Some(Notice::CardUnreadable), ids, out);
                    IdentityEvent::Pending
                }
                Err(IdCardProblem::ReaderDown(_)) => IdentityEvent::Refused {
                    notice: Notice::CardUnreadable,
                },
            },
            (State::Reading { .. }, Input::Ui(Ui::Select(s))) if s == "retry" => {
                self.read(None, ids, out);
                IdentityEvent::Pending
            }
            (State::Reading { .. }, Input::Ui(Ui::Back)) => IdentityEvent::Back,

            (State::Checking { req, doc }, Input::Operator { req: r, result }) if *r == req => {
                match result {
                    Ok(Response::RealNameCheck(ok)) => self.consent(doc, Some(ok.clone()), out),
                    Err(OpError::Refused { code, .. }) => IdentityEvent::Refused {
                        notice: refusal(code),
                    },
                    _ => IdentityEvent::Unavailable,
                }
            }

            (State::Consent { doc, real_name }, Input::Ui(Ui::Select(s))) if s == "consent" => {
                self.capture(doc, real_name, 1, None, ids, out)
            }
            (State::Consent { .. }, Input::Ui(Ui::Select(s))) if s == "decline" => {
                IdentityEvent::Refused {
                    notice: Notice::ConsentDeclined,
                }
            }
            (State::Consent { .. }, Input::Ui(Ui::Back)) => IdentityEvent::Back,

            (
                State::Capturing {
                    req,
                    doc,
                    real_name,
                    attempt,
                    notice,
                },
                Input::FaceGuidance { req: r, guidance },
            ) if *r == req => {
                out.push(Effect::Show(Screen::FaceCapture {
                    guidance: *guidance,
                    attempt,
                    notice: notice.clone(),
                }));
                self.state = State::Capturing {
                    req,
                    doc,
                    real_name,
                    attempt,
                    notice,
                };
                IdentityEvent::Pending
            }
            (
                State::Capturing {
                    req,
                    doc,
                    real_name,
                    attempt,
                    ..
                },
                Input::Face { req: r, result },
            ) if *r == req => match result {
                Ok(photo) => {
                    let request = Request::FaceCompare(FaceCompare {
                        id_number: match &doc.card {
                            Some(c) => c.id_number.clone(),
                            None => return IdentityEvent::Unavailable,
                        },
                        live_photo: Blob(photo.jpeg.clone()),
                        id_photo: Blob(doc.photo.clone()),
                    });
                    let req = Self::ask(request, Working::ComparingFace, ids, out);
                    self.state = State::Comparing {
                        req,
                        doc,
                        real_name,
                        attempt,
                    };
                    IdentityEvent::Pending
                }
                Err(FaceProblem::CameraDown(_)) => IdentityEvent::Refused {
                    notice: Notice::CameraUnavailable,
                },
                Err(FaceProblem::NotLive) => {
                    self.again(doc, real_name, attempt, Notice::NotLive, ids, out)
                }
                Err(FaceProblem::Timeout { .. }) => {
                    self.again(doc, real_name, attempt, Notice::FacePoorQuality, ids, out)
                }
            },
            (
                State::Capturing { .. } | State::Comparing { .. },
                Input::Ui(Ui::Back | Ui::Cancel),
            ) => IdentityEvent::Back,

            (
                State::Comparing {
                    req,
                    doc,
                    real_name,
                    attempt,
                },
                Input::Operator { req: r, result },
            ) if *r == req => match result {
                Ok(Response::FaceCompare(f)) => match f.verdict {
                    FaceVerdict::Match => match &self.purpose {
                        Purpose::Owner { msisdn } => {
                            let Some(card) = doc.card.clone() else {
                                return IdentityEvent::Unavailable;
                            };
                            let req = Self::ask(
                                Request::AuthIdCard(AuthIdCard {
                                    msisdn: Msisdn::new(msisdn.clone()),
                                    id: card,
                                    face_check_id: Some(f.face_check_id.clone()),
                                }),
                                Working::Verifying,
                                ids,
                                out,
                            );
                            self.state = State::Authenticating {
                                req,
                                doc,
                                face_check_id: f.face_check_id.clone(),
                            };
                            IdentityEvent::Pending
                        }
                        _ => IdentityEvent::Done(Box::new(Identity {
                            doc,
                            face_check_id: f.face_check_id.clone(),
                            token: None,
                            real_name,
                        })),
                    },
                    FaceVerdict::NoMatch => {
                        self.again(doc, real_name, attempt, Notice::FaceMismatch, ids, out)
                    }
                    _ => self.again(doc, real_name, attempt, Notice::FacePoorQuality, ids, out),
                },
                Err(OpError::Refused { code, .. }) => IdentityEvent::Refused {
                    notice: refusal(code),
                },
                _ => IdentityEvent::Unavailable,
            },

            (
                State::Authenticating {
                    req,
                    doc,
                    face_check_id,
                },
                Input::Operator { req: r, result },
            ) if *r == req => match result {
                Ok(Response::AuthIdCard(ok)) => IdentityEvent::Done(Box::new(Identity {
                    doc,
                    face_check_id,
                    token: Some(ok.token.clone()),
                    real_name: None,
                })),
                Err(OpError::Refused { code, .. }) => IdentityEvent::Refused {
                    notice: refusal(code),
                },
                _ => IdentityEvent::Unavailable,
            },

            (state, _) => {
                self.state = state;
                IdentityEvent::Pending
            }
        }
    }
}

/// The customer's words for an operator's refusal of an identity.
pub fn refusal(code: &str) -> Notice {
    match code {
        "limit_reached" => Notice::IdLimitReached {
            held: None,
            limit: None,
        },
        "blacklisted" => Notice::Blacklisted,
        "under_age" => Notice::UnderAge,
        "id_expired" => Notice::IdExpired,
        "id_invalid" => Notice::IdInvalid,
        "id_mismatch" => Notice::IdMismatch,
        "face_mismatch" => Notice::FaceMismatch,
        "arrears" => Notice::Arrears { fen: 0 },
        "frozen_period" => Notice::FrozenPeriod,
        "number_closed" | "subscriber_inactive" => Notice::NumberClosed,
        "already_reported" => Notice::AlreadyReported,
        "not_reported" => Notice::NotReported,
        _ => Notice::ServiceUnavailable,
    }
}

#[cfg(test)]
mod tests;
