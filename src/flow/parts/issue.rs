//! Card issuance (发卡), shared by the new SIM and the replacement SIM: a blank card from the
//! stacker to the IC contacts, its ICCID read, the operator's personalisation script fetched
//! and written, the number activated on it, the card presented at the gate and taken — or,
//! not taken in time, pulled into the reject bin.
//!
//! Every physical step is journaled before it is taken and after ([`CardJournal`]), so that
//! start-up recovery knows where each card is. A card that cannot be written or activated is
//! captured into the reject bin and the next one is tried, at most [`MAX_CARDS`] in all; then
//! the part reports failure and the flow gives the money back. An activation whose answer is
//! lost is settled by the status query with the activation's own transaction id (never sent
//! again with a new one). A card stuck in the dispenser is recorded as such, for a technician.

use boss_protocol::{
    ActivateSim, Request, Response, ScriptResult, SimScriptQuery, Sw, TxnId, TxnStatusQuery,
};

use super::super::devices::{CardAnswer, CardCmd, CardJournal, CardProblem, ScriptStep};
use super::super::screen::{IssueStep, Screen};
use super::super::{Effect, Ids, Input, JournalOp, LegOutcome, LostAnswer, OpError, ReqId};
use crate::journal::CardStage;

/// Cards tried for one customer before the money goes back.
pub const MAX_CARDS: u32 = 3;

/// How long the card waits at the gate for the customer.
pub const TAKE_TIMEOUT_MS: u64 = 60_000;

/// What issuance came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueEvent {
    Pending,
    /// The number is active on a card: handed to the customer (`taken`), or not taken in time
    /// and in the reject bin for staff to hand over.
    Issued {
        iccid: String,
        taken: bool,
        /// The replaced card, invalidated at activation (补卡).
        invalidated_iccid: Option<String>,
        balance_fen: i64,
    },
    /// No card could be issued; nothing was activated. `reason` for the journal, `problem`
    /// for the screen.
    Failed {
        reason: String,
        problem: Failure,
    },
    /// The activation's outcome cannot be learned now: the transaction waits, with its
    /// card recorded, for recovery.
    Unconfirmed {
        reason: String,
    },
}

/// Why issuance failed, as the customer is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No blank card left.
    NoStock,
    /// The dispenser jammed or stopped answering.
    DispenserFault,
    /// Every card tried could not be written or activated.
    CardsSpoilt,
    /// The operator refused the activation or the script.
    Refused,
}

#[derive(Debug)]
enum State {
    Picking {
        req: ReqId,
    },
    Reading {
        req: ReqId,
    },
    Script {
        req: ReqId,
        iccid: String,
    },
    Writing {
        req: ReqId,
        iccid: String,
        script_id: String,
    },
    Activating {
        req: ReqId,
        iccid: String,
        leg: String,
    },
    Querying {
        req: ReqId,
        iccid: String,
        leg: String,
    },
    Presenting {
        req: ReqId,
        iccid: String,
        activated: Activated,
    },
    /// The current card is going into the reject bin; then the next is tried (or not).
    Capturing {
        req: ReqId,
        then: AfterCapture,
    },
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Activated {
    invalidated_iccid: Option<String>,
    balance_fen: i64,
}

#[derive(Debug, Clone)]
enum AfterCapture {
    /// Try another card (the reason the last one failed).
    Next { reason: String },
    /// Give up.
    Fail { reason: String, problem: Failure },
    /// The activation cannot be confirmed now: the card waits in the bin for staff, the
    /// transaction for recovery.
    Unconfirmed { reason: String },
}

/// The issuance of one customer's SIM.
#[derive(Debug)]
pub struct CardIssue {
    txn: String,
    order_id: String,
    attempt: u32,
    state: State,
}

impl CardIssue {
    /// Starts: the first card is picked.
    pub fn start(txn: &str, order_id: &str, ids: &mut Ids, out: &mut Vec<Effect>) -> Self {
        let mut issue = Self {
            txn: txn.to_owned(),
            order_id: order_id.to_owned(),
            attempt: 0,
            state: State::Done,
        };
        issue.pick(ids, out);
        issue
    }

    fn pick(&mut self, ids: &mut Ids, out: &mut Vec<Effect>) {
        self.attempt += 1;
        out.push(Effect::Journal(JournalOp::Card(CardJournal::Pick {
            attempt: self.attempt,
        })));
        let req = ids.fresh();
        out.push(Effect::Card {
            req,
            cmd: CardCmd::ToIc,
        });
        out.push(self.progress(IssueStep::Dispensing));
        self.state = State::Picking { req };
    }

    fn progress(&self, step: IssueStep) -> Effect {
        Effect::Show(Screen::Issuing {
            step,
            attempt: self.attempt,
            attempts: MAX_CARDS,
        })
    }

    fn stage(stage: CardStage, iccid: Option<String>, reason: Option<String>) -> Effect {
        Effect::Journal(JournalOp::Card(CardJournal::Stage {
            stage,
            iccid,
            reason,
        }))
    }

    /// The current card goes into the reject bin; then `then`.
    fn capture(&mut self, then: AfterCapture, ids: &mut Ids, out: &mut Vec<Effect>) {
        let req = ids.fresh();
        out.push(Effect::Card {
            req,
            cmd: CardCmd::Capture,
        });
        self.state = State::Capturing { req, then };
    }

    /// The current card failed for `reason`: captured, and the next one tried if any is left.
    fn spoilt(&mut self, reason: String, ids: &mut Ids, out: &mut Vec<Effect>) {
        let then = if self.attempt < MAX_CARDS {
            AfterCapture::Next { reason }
        } else {
            AfterCapture::Fail {
                reason: format!("{MAX_CARDS} cards could not be issued; last: {reason}"),
                problem: Failure::CardsSpoilt,
            }
        };
        self.capture(then, ids, out);
    }

    /// A dispenser problem with the current card (`at_ic`: the card had reached the IC
    /// contacts).
    fn device_problem(
        &mut self,
        p: &CardProblem,
        picking: bool,
        ids: &mut Ids,
        out: &mut Vec<Effect>,
    ) -> IssueEvent {
        match p {
            CardProblem::Empty if picking => {
                out.push(Self::stage(
                    CardStage::NotPicked,
                    None,
                    Some("stacker empty".into()),
                ));
                self.state = State::Done;
                IssueEvent::Failed {
                    reason: "no blank SIM left in the stacker".into(),
                    problem: Failure::NoStock,
                }
            }
            CardProblem::CardUnreadable(c) => {
                self.spoilt(format!("card unreadable: {c}"), ids, out);
                IssueEvent::Pending
            }
            other => {
                // A jam or a dead dispenser: where the card is, nobody can say for sure. Try to
                // pull it into the bin; if even that fails it is recorded as stuck.
                self.capture(
                    AfterCapture::Fail {
                        reason: other.cause(),
                        problem: Failure::DispenserFault,
                    },
                    ids,
                    out,
                );
                IssueEvent::Pending
            }
        }
    }

    /// Takes one input. Inputs that are not the part's are ignored (`Pending`).
    pub fn handle(&mut self, input: &Input, ids: &mut Ids, out: &mut Vec<Effect>) -> IssueEvent {
        let state = std::mem::replace(&mut self.state, State::Done);
        match (state, input) {
            (State::Picking { req }, Input::Card { req: r, result }) if *r == req => match result {
                Ok(CardAnswer::AtIc) => {
                    out.push(Self::stage(CardStage::AtIc, None, None));
                    let req = ids.fresh();
                    out.push(Effect::Card {
                        req,
                        cmd: CardCmd::ReadIccid,
                    });
                    self.state = State::Reading { req };
                    IssueEvent::Pending
                }
                Ok(other) => {
                    self.capture(
                        AfterCapture::Fail {
                            reason: format!("unexpected answer to a pick: {other:?}"),
                            problem: Failure::DispenserFault,
                        },
                        ids,
                        out,
                    );
                    IssueEvent::Pending
                }
                Err(p) => self.device_problem(p, true, ids, out),
            },
            (State::Reading { req }, Input::Card { req: r, result }) if *r == req => match result {
                Ok(CardAnswer::Iccid(iccid)) => {
                    out.push(Self::stage(CardStage::AtIc, Some(iccid.clone()), None));
                    let req = ids.fresh();
                    out.push(Effect::Operator {
                        req,
                        request: Request::SimScript(SimScriptQuery {
                            order_id: self.order_id.clone(),
                            iccid: iccid.clone(),
                        }),
                        timeout_ms: None,
                    });
                    out.push(self.progress(IssueStep::Writing));
                    self.state = State::Script {
                        req,
                        iccid: iccid.clone(),
                    };
                    IssueEvent::Pending
                }
                Ok(other) => {
                    self.spoilt(format!("no ICCID: {other:?}"), ids, out);
                    IssueEvent::Pending
                }
                Err(p) => self.device_problem(p, false, ids, out),
            },
            (State::Script { req, iccid }, Input::Operator { req: r, result }) if *r == req => {
                match result {
                    Ok(Response::SimScript(script)) => {
                        let steps = script
                            .steps
                            .iter()
                            .map(|s| ScriptStep {
                                apdu: s.apdu.0.clone(),
                                expect_sw: s
                                    .expect_sw
                                    .iter()
                                    .map(|sw| sw.0.to_be_bytes())
                                    .collect(),
                            })
                            .collect();
                        let req = ids.fresh();
                        out.push(Effect::Card {
                            req,
                            cmd: CardCmd::Write { steps },
                        });
                        self.state = State::Writing {
                            req,
                            iccid,
                            script_id: script.script_id.clone(),
                        };
                        IssueEvent::Pending
                    }
                    // The operator does not know this card: it is spoilt for us.
                    Err(OpError::Refused { code, .. }) if code == "card_invalid" => {
                        self.spoilt(format!("operator: card {iccid} invalid"), ids, out);
                        IssueEvent::Pending
                    }
                    Err(OpError::Refused { code, .. }) => {
                        self.capture(
                            AfterCapture::Fail {
                                reason: format!("operator refused the script: {code}"),
                                problem: Failure::Refused,
                            },
                            ids,
                            out,
                        );
                        IssueEvent::Pending
                    }
                    // No script: nothing was activated; the card goes back to the bin.
                    _ => {
                        self.capture(
                            AfterCapture::Fail {
                                reason: "no personalisation script from the operator".into(),
                                problem: Failure::DispenserFault,
                            },
                            ids,
                            out,
                        );
                        IssueEvent::Pending
                    }
                }
            }
            (
                State::Writing {
                    req,
                    iccid,
                    script_id,
                },
                Input::Card { req: r, result },
            ) if *r == req => match result {
                Ok(CardAnswer::Written {
                    completed,
                    steps_run,
                    last_sw,
                }) => {
                    if *completed {
                        out.push(Self::stage(CardStage::Written, None, None));
                    }
                    // The operator hears the script's result either way; a write that did
                    // not complete is refused (script_failed) and the card is spoilt.
                    let leg = format!("{}-A{}", self.txn, self.attempt);
                    out.push(Effect::Journal(JournalOp::OperatorSent {
                        leg: leg.clone(),
                        op: "activate_sim",
                        amount_fen: 0,
                    }));
                    let req = ids.fresh();
                    out.push(Effect::Operator {
                        req,
                        request: Request::ActivateSim(ActivateSim {
                            txn_id: TxnId::new(leg.clone()),
                            order_id: self.order_id.clone(),
                            iccid: iccid.clone(),
                            script_id,
                            result: ScriptResult {
                                completed: *completed,
                                steps_run: *steps_run,
                                last_sw: u16::from_str_radix(last_sw, 16).ok().map(Sw),
                            },
                        }),
                        timeout_ms: None,
                    });
                    out.push(self.progress(IssueStep::Activating));
                    self.state = State::Activating { req, iccid, leg };
                    IssueEvent::Pending
                }
                Ok(other) => {
                    self.spoilt(format!("unexpected answer to a write: {other:?}"), ids, out);
                    IssueEvent::Pending
                }
                Err(p) => self.device_problem(p, false, ids, out),
            },
            (State::Activating { req, iccid, leg }, Input::Operator { req: r, result })
                if *r == req =>
            {
                self.activated(iccid, leg, result.clone(), ids, out)
            }
            (State::Querying { req, iccid, leg }, Input::Operator { req: r, result })
                if *r == req =>
            {
                match LostAnswer::of(result.clone()) {
                    LostAnswer::Answered(answer) => self.activated(iccid, leg, answer, ids, out),
                    // Never reached the operator: the card was not activated.
                    LostAnswer::NeverReceived => {
                        out.push(Effect::Journal(JournalOp::OperatorAnswered {
                            leg,
                            outcome: LegOutcome::NotSent {
                                cause: "the operator never saw the activation".into(),
                            },
                        }));
                        self.spoilt("activation never reached the operator".into(), ids, out);
                        IssueEvent::Pending
                    }
                    LostAnswer::Unknown(_) => self.unconfirmed(&iccid, ids, out),
                }
            }
            (
                State::Presenting {
                    req,
                    iccid,
                    activated,
                },
                Input::Card { req: r, result },
            ) if *r == req => {
                let taken = match result {
                    Ok(CardAnswer::Taken) => {
                        out.push(Self::stage(CardStage::Taken, None, None));
                        true
                    }
                    Ok(CardAnswer::Captured { .. }) => {
                        out.push(Self::stage(
                            CardStage::Captured,
                            None,
                            Some("not taken at the gate in time".into()),
                        ));
                        false
                    }
                    Ok(other) => {
                        out.push(Self::stage(
                            CardStage::Stuck,
                            None,
                            Some(format!("unexpected answer at the gate: {other:?}")),
                        ));
                        false
                    }
                    Err(p) => {
                        out.push(Self::stage(CardStage::Stuck, None, Some(p.cause())));
                        false
                    }
                };
                IssueEvent::Issued {
                    iccid,
                    taken,
                    invalidated_iccid: activated.invalidated_iccid,
                    balance_fen: activated.balance_fen,
                }
            }
            (State::Capturing { req, then }, Input::Card { req: r, result }) if *r == req => {
                let reason = match &then {
                    AfterCapture::Next { reason }
                    | AfterCapture::Fail { reason, .. }
                    | AfterCapture::Unconfirmed { reason } => reason.clone(),
                };
                match result {
                    Ok(CardAnswer::Captured { .. }) => {
                        out.push(Self::stage(CardStage::Captured, None, Some(reason)));
                    }
                    Ok(_) | Err(_) => {
                        // The card would not go into the bin: it stays in the machine for a
                        // technician, and no other card is tried past it.
                        out.push(Self::stage(
                            CardStage::Stuck,
                            None,
                            Some(format!("{reason}; could not be captured")),
                        ));
                        if let AfterCapture::Unconfirmed { reason } = then {
                            return IssueEvent::Unconfirmed { reason };
                        }
                        return IssueEvent::Failed {
                            reason: format!("{reason}; the card is stuck in the dispenser"),
                            problem: Failure::DispenserFault,
                        };
                    }
                }
                match then {
                    AfterCapture::Next { .. } => {
                        self.pick(ids, out);
                        IssueEvent::Pending
                    }
                    AfterCapture::Fail { reason, problem } => {
                        IssueEvent::Failed { reason, problem }
                    }
                    AfterCapture::Unconfirmed { reason } => IssueEvent::Unconfirmed { reason },
                }
            }
            (state, _) => {
                self.state = state;
                IssueEvent::Pending
            }
        }
    }

    fn activated(
        &mut self,
        iccid: String,
        leg: String,
        result: Result<Response, OpError>,
        ids: &mut Ids,
        out: &mut Vec<Effect>,
    ) -> IssueEvent {
        match result {
            Ok(Response::ActivateSim(a)) => {
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg,
                    outcome: LegOutcome::Committed {
                        operator_ref: a.order_id.clone(),
                    },
                }));
                out.push(Self::stage(CardStage::Activated, None, None));
                // The intent: the card is about to go to the gate.
                out.push(Self::stage(CardStage::Presented, None, None));
                let req = ids.fresh();
                out.push(Effect::Card {
                    req,
                    cmd: CardCmd::Present {
                        timeout_ms: TAKE_TIMEOUT_MS,
                    },
                });
                out.push(Effect::Show(Screen::TakeCard {
                    seconds: TAKE_TIMEOUT_MS / 1000,
                }));
                self.state = State::Presenting {
                    req,
                    iccid,
                    activated: Activated {
                        invalidated_iccid: a.invalidated_iccid.clone(),
                        balance_fen: a.balance_fen,
                    },
                };
                IssueEvent::Pending
            }
            Err(OpError::Refused { code, .. }) => {
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg,
                    outcome: LegOutcome::Failed { code: code.clone() },
                }));
                if matches!(code.as_str(), "script_failed" | "card_invalid") {
                    self.spoilt(format!("activation refused: {code}"), ids, out);
                } else {
                    self.capture(
                        AfterCapture::Fail {
                            reason: format!("operator refused the activation: {code}"),
                            problem: Failure::Refused,
                        },
                        ids,
                        out,
                    );
                }
                IssueEvent::Pending
            }
            Err(e) => {
                // No answer: ask, with the activation's own id.
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg: leg.clone(),
                    outcome: LegOutcome::of(&Err(e), None),
                }));
                let req = ids.fresh();
                out.push(Effect::Operator {
                    req,
                    request: Request::TxnStatus(TxnStatusQuery {
                        txn_id: TxnId::new(leg.clone()),
                    }),
                    timeout_ms: None,
                });
                self.state = State::Querying { req, iccid, leg };
                IssueEvent::Pending
            }
            Ok(_) => self.unconfirmed(&iccid, ids, out),
        }
    }

    /// The activation's outcome cannot be learned now: the card goes into the bin (staff hand
    /// it over if it turns out active), the transaction waits for recovery.
    fn unconfirmed(&mut self, iccid: &str, ids: &mut Ids, out: &mut Vec<Effect>) -> IssueEvent {
        let reason = format!(
            "activation of card …{} not confirmed by the operator",
            iccid_tail(iccid)
        );
        self.capture(AfterCapture::Unconfirmed { reason }, ids, out);
        IssueEvent::Pending
    }
}

/// The last 6 digits of an ICCID (for paper and screens: enough for staff to find the card).
pub fn iccid_tail(iccid: &str) -> String {
    let n = iccid.chars().count();
    iccid.chars().skip(n.saturating_sub(6)).collect()
}

#[cfg(test)]
mod tests;
