//! 充值卡销售 — an electronic recharge card (电子充值卡) bought with cash, as a pure state
//! machine: the face values the operator sells, the exact amount in notes through the cash
//! payment part, the operator's PIN, and the card printed. The PIN (充值密码) lives in the
//! operator's answer and in the paper on its way to the printer, nowhere else: the journal
//! keeps the serial, the screen shows the serial's last digits, and the paper's journaled
//! copy leaves the PIN out ([`PinPaper`]).
//!
//! A PIN the customer did not get — its print failed, or its answer was lost — is voided at
//! the operator (`pin_void`, by the sale's transaction id and the serial when known) and the
//! money goes on a refund voucher. A kiosk that stops before the card is printed does the
//! same at start-up (`crate::runtime::recovery`). The kiosk gives no change: the payment
//! takes the face value and no more (a note that would pass it is handed back).

use boss_protocol::{
    PinCatalogueQuery, PinSale, PinSold, PinVoid, Request, Response, Secret, TxnId, TxnStatusQuery,
};
use serde::{Deserialize, Serialize};

use super::parts::cash::{CashConfig, CashOutcome, CashPayment, Closing};
use super::parts::idle::{Idle, IdleCheck};
use super::parts::paper::PaperRun;
use super::screen::{CashPurpose, Notice, ReceiptState, Screen, SimOutcome, Working};
use super::sim::{SimReceipt, done_screen};
use super::{
    Effect, Flow, Ids, Input, JournalOp, LegOutcome, LostAnswer, Millis, OpError, Paper, ReqId,
    ServiceId, Timeouts, TxnKind, Ui,
};

const SERVICE: ServiceId = ServiceId::PinSale;

/// The leg of the void of sale `txn` (one per sale: a void sent again is the same void).
pub fn void_leg(txn: &str) -> String {
    format!("{txn}-V")
}

/// Settings of the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub timeouts: Timeouts,
    /// Note values the acceptor takes, fen.
    pub accept_fen: Vec<u64>,
}

/// The recharge card as printed. The PIN is not serialised: the journal's copy of the paper
/// has the serial and the face value, never the PIN, and a paper restored from the journal
/// cannot be printed again (recovery voids it instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinPaper {
    pub txn_id: String,
    pub serial: String,
    #[serde(skip)]
    pub pin: Option<Secret>,
    pub face_fen: u64,
    /// `YYYY-MM-DD`.
    pub expires_on: String,
}

impl PinPaper {
    /// The PIN in groups of four for the paper (`1234 5678 9012 3456 78`).
    pub fn grouped_pin(&self) -> Option<String> {
        let pin = self.pin.as_ref()?.expose();
        let chars: Vec<char> = pin.chars().collect();
        Some(
            chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }
}

/// The serial's last four, for the screen.
pub fn serial_tail(serial: &str) -> String {
    let n = serial.chars().count();
    serial.chars().skip(n.saturating_sub(4)).collect()
}

/// What the flow knows of the sale once a face value is chosen.
#[derive(Debug, Clone)]
struct Sale {
    txn: String,
    face_fen: u64,
}

/// A PIN the operator issued, waiting for its paper.
#[derive(Debug)]
struct Issued {
    serial: String,
    expires_on: String,
}

#[derive(Debug)]
enum State {
    Loading {
        req: ReqId,
    },
    Faces {
        faces: Vec<u64>,
        valid_days: u32,
    },
    Opening {
        face_fen: u64,
    },
    Cash {
        sale: Sale,
        cash: CashPayment,
    },
    Selling {
        sale: Sale,
        paid_fen: u64,
        req: ReqId,
        resent: bool,
    },
    Querying {
        sale: Sale,
        paid_fen: u64,
        req: ReqId,
        resent: bool,
    },
    PrintingPin {
        sale: Sale,
        paid_fen: u64,
        issued: Issued,
        run: PaperRun,
    },
    Voiding {
        sale: Sale,
        paid_fen: u64,
        reason: String,
        req: ReqId,
    },
    /// The voucher or the pending receipt on its way.
    Printing {
        receipt: SimReceipt,
        run: PaperRun,
    },
    Done,
    Ended,
}

/// The recharge-card sale.
#[derive(Debug)]
pub struct PinSaleFlow {
    config: Config,
    state: State,
    idle: Idle,
    ids: Ids,
}

impl PinSaleFlow {
    /// Starts by asking the operator which face values are on sale.
    pub fn start(config: Config, now: Millis) -> (Self, Vec<Effect>) {
        let mut out = Vec::new();
        let mut ids = Ids::default();
        let req = ids.fresh();
        out.push(Effect::Operator {
            req,
            request: Request::PinCatalogue(PinCatalogueQuery {}),
            timeout_ms: None,
        });
        out.push(Effect::Show(Screen::Working {
            what: Working::LoadingPinFaces,
        }));
        let flow = Self {
            idle: Idle::new(config.timeouts, now),
            config,
            state: State::Loading { req },
            ids,
        };
        (flow, out)
    }

    /// Face values the kiosk can take exactly in the notes it accepts.
    fn payable(&self, faces: &[u64]) -> Vec<u64> {
        faces
            .iter()
            .copied()
            .filter(|f| *f > 0 && self.config.accept_fen.iter().any(|n| n <= f))
            .filter(|f| {
                // Reachable exactly with notes no bigger than the face (¥1 notes reach all).
                let mut reach = vec![false; usize::try_from(f / 100).unwrap_or(0) + 1];
                reach[0] = true;
                for y in 1..reach.len() {
                    reach[y] = self.config.accept_fen.iter().any(|n| {
                        let n = usize::try_from(n / 100).unwrap_or(usize::MAX);
                        n > 0 && n <= y && reach[y - n]
                    });
                }
                reach.last().copied().unwrap_or(false)
            })
            .collect()
    }

    fn receipt(sale: &Sale, paid_fen: u64, outcome: SimOutcome) -> SimReceipt {
        SimReceipt {
            txn_id: sale.txn.clone(),
            service: "pin_sale".into(),
            number_masked: String::new(),
            name_masked: String::new(),
            id_masked: String::new(),
            plan_name: None,
            card_fee_fen: sale.face_fen,
            prepaid_fen: 0,
            first_month_fee_fen: 0,
            paid_fen,
            agreement_version: None,
            outcome,
        }
    }

    fn print(&mut self, receipt: SimReceipt, out: &mut Vec<Effect>) -> State {
        let run = PaperRun::start(vec![Paper::Sim(receipt.clone())], &mut self.ids, out);
        out.push(done_screen(SERVICE, &receipt, ReceiptState::Printing));
        State::Printing { receipt, run }
    }

    fn refund(
        &mut self,
        sale: &Sale,
        paid_fen: u64,
        reason: String,
        out: &mut Vec<Effect>,
    ) -> State {
        out.push(Effect::Journal(JournalOp::IssueVoucher {
            reason: reason.clone(),
        }));
        let receipt = Self::receipt(sale, paid_fen, SimOutcome::Refunded { reason });
        self.print(receipt, out)
    }

    fn pending(
        &mut self,
        sale: &Sale,
        paid_fen: u64,
        reason: String,
        out: &mut Vec<Effect>,
    ) -> State {
        out.push(Effect::Journal(JournalOp::MarkPending {
            reason: reason.clone(),
        }));
        let receipt = Self::receipt(sale, paid_fen, SimOutcome::Unconfirmed { reason });
        self.print(receipt, out)
    }

    fn paid(&mut self, sale: Sale, outcome: CashOutcome, out: &mut Vec<Effect>) -> State {
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
                        reference: Some(sale.txn),
                    }));
                }
                end(out)
            }
            CashOutcome::Paid { total_fen, .. } if total_fen < sale.face_fen => {
                let reason = format!(
                    "paid {total_fen} fen, less than the face value of {} fen: nothing sold",
                    sale.face_fen
                );
                self.refund(&sale, total_fen, reason, out)
            }
            CashOutcome::Paid { total_fen, .. } => self.sell(sale, total_fen, false, out),
        }
    }

    fn sell(&mut self, sale: Sale, paid_fen: u64, resent: bool, out: &mut Vec<Effect>) -> State {
        if !resent {
            out.push(Effect::Journal(JournalOp::OperatorSent {
                leg: sale.txn.clone(),
                op: "pin_sale",
                amount_fen: paid_fen,
            }));
        }
        let req = self.ids.fresh();
        out.push(Effect::Operator {
            req,
            request: Request::PinSale(PinSale {
                txn_id: TxnId::new(sale.txn.clone()),
                face_fen: sale.face_fen,
            }),
            timeout_ms: None,
        });
        out.push(Effect::Show(Screen::Working {
            what: Working::SellingPin,
        }));
        State::Selling {
            sale,
            paid_fen,
            req,
            resent,
        }
    }

    fn sold(
        &mut self,
        sale: Sale,
        paid_fen: u64,
        resent: bool,
        result: Result<Response, OpError>,
        out: &mut Vec<Effect>,
    ) -> State {
        match result {
            Ok(Response::PinSale(s)) => self.issued(sale, paid_fen, &s, out),
            Err(OpError::Refused { code, .. }) => {
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg: sale.txn.clone(),
                    outcome: LegOutcome::Failed { code: code.clone() },
                }));
                let reason = format!("operator refused the sale: {code}");
                self.refund(&sale, paid_fen, reason, out)
            }
            Err(e) => {
                out.push(Effect::Journal(JournalOp::OperatorAnswered {
                    leg: sale.txn.clone(),
                    outcome: LegOutcome::of(&Err(e), None),
                }));
                let req = self.ids.fresh();
                out.push(Effect::Operator {
                    req,
                    request: Request::TxnStatus(TxnStatusQuery {
                        txn_id: TxnId::new(sale.txn.clone()),
                    }),
                    timeout_ms: None,
                });
                State::Querying {
                    sale,
                    paid_fen,
                    req,
                    resent,
                }
            }
            Ok(other) => {
                let reason = format!("sale not confirmed: answer `{}`", other.op());
                self.void(sale, paid_fen, None, reason, out)
            }
        }
    }

    /// The PIN is issued: journaled by its serial, then printed.
    fn issued(&mut self, sale: Sale, paid_fen: u64, s: &PinSold, out: &mut Vec<Effect>) -> State {
        out.push(Effect::Journal(JournalOp::OperatorAnswered {
            leg: sale.txn.clone(),
            outcome: LegOutcome::Committed {
                operator_ref: s.serial.clone(),
            },
        }));
        let paper = PinPaper {
            txn_id: sale.txn.clone(),
            serial: s.serial.clone(),
            pin: Some(s.pin.clone()),
            face_fen: sale.face_fen,
            expires_on: s.expires_on.clone(),
        };
        let run = PaperRun::start(vec![Paper::Pin(paper)], &mut self.ids, out);
        let issued = Issued {
            serial: s.serial.clone(),
            expires_on: s.expires_on.clone(),
        };
        out.push(Effect::Show(Screen::SimDone {
            service: SERVICE,
            number_masked: String::new(),
            outcome: SimOutcome::PinSold {
                serial_tail: serial_tail(&issued.serial),
                face_fen: sale.face_fen,
                expires_on: issued.expires_on.clone(),
            },
            reference: sale.txn.clone(),
            receipt: ReceiptState::Printing,
        }));
        State::PrintingPin {
            sale,
            paid_fen,
            issued,
            run,
        }
    }

    /// The customer has no PIN: void it at the operator, then the voucher.
    fn void(
        &mut self,
        sale: Sale,
        paid_fen: u64,
        serial: Option<String>,
        reason: String,
        out: &mut Vec<Effect>,
    ) -> State {
        let leg = void_leg(&sale.txn);
        out.push(Effect::Journal(JournalOp::OperatorSent {
            leg: leg.clone(),
            op: "pin_void",
            amount_fen: 0,
        }));
        let req = self.ids.fresh();
        out.push(Effect::Operator {
            req,
            request: Request::PinVoid(PinVoid {
                txn_id: TxnId::new(leg),
                sale_txn_id: TxnId::new(sale.txn.clone()),
                serial,
                reason: reason.clone(),
            }),
            timeout_ms: None,
        });
        out.push(Effect::Show(Screen::Working {
            what: Working::VoidingPin,
        }));
        State::Voiding {
            sale,
            paid_fen,
            reason,
            req,
        }
    }

    fn step(&mut self, state: State, input: Input, now: Millis, out: &mut Vec<Effect>) -> State {
        use Input as I;
        match (state, input) {
            (state, I::Tick) => self.tick(state, now, out),

            (State::Loading { req }, I::Operator { req: r, result }) if r == req => match result {
                Ok(Response::PinCatalogue(c)) => {
                    let faces = self.payable(&c.face_values_fen);
                    if faces.is_empty() {
                        out.push(Effect::Show(Screen::Refused {
                            service: SERVICE,
                            notice: Notice::PinSoldOut,
                            offer: None,
                        }));
                        return State::Done;
                    }
                    out.push(Effect::Show(Screen::PinFaces {
                        faces_fen: faces.clone(),
                        valid_days: c.valid_days,
                    }));
                    State::Faces {
                        faces,
                        valid_days: c.valid_days,
                    }
                }
                _ => unavailable(out),
            },
            (State::Loading { .. }, I::Ui(Ui::Back | Ui::Cancel) | I::Shutdown) => end(out),

            (State::Faces { faces, valid_days }, I::Ui(Ui::Select(s))) => {
                let chosen = s
                    .strip_prefix("face:")
                    .and_then(|f| f.parse::<u64>().ok())
                    .filter(|f| faces.contains(f));
                match chosen {
                    Some(face_fen) => {
                        self.idle.touch(now);
                        out.push(Effect::Journal(JournalOp::Open {
                            kind: TxnKind::PinSale,
                            msisdn: None,
                            number_masked: String::new(),
                        }));
                        State::Opening { face_fen }
                    }
                    None => State::Faces { faces, valid_days },
                }
            }
            (State::Faces { .. }, I::Ui(Ui::Back | Ui::Cancel) | I::Shutdown) => end(out),

            (State::Opening { face_fen }, I::TxnOpened { id }) => {
                let cash = CashPayment::start(
                    CashConfig {
                        accept_fen: self
                            .config
                            .accept_fen
                            .iter()
                            .copied()
                            .filter(|f| *f <= face_fen)
                            .collect(),
                        max_fen: face_fen,
                        due_fen: Some(face_fen),
                    },
                    CashPurpose::PinCard { face_fen },
                    out,
                );
                State::Cash {
                    sale: Sale { txn: id, face_fen },
                    cash,
                }
            }

            (State::Cash { sale, mut cash }, input) => match cash.handle(&input, now, out) {
                None => State::Cash { sale, cash },
                Some(outcome) => self.paid(sale, outcome, out),
            },

            (
                State::Selling {
                    sale,
                    paid_fen,
                    req,
                    resent,
                },
                I::Operator { req: r, result },
            ) if r == req => self.sold(sale, paid_fen, resent, result, out),

            (
                State::Querying {
                    sale,
                    paid_fen,
                    req,
                    resent,
                },
                I::Operator { req: r, result },
            ) if r == req => match LostAnswer::of(result) {
                LostAnswer::Answered(answer) => self.sold(sale, paid_fen, resent, answer, out),
                LostAnswer::NeverReceived if !resent => self.sell(sale, paid_fen, true, out),
                // Whatever the operator did, the customer has no PIN: void it.
                _ => self.void(sale, paid_fen, None, "sale not confirmed".into(), out),
            },

            (
                State::PrintingPin {
                    sale,
                    paid_fen,
                    issued,
                    mut run,
                },
                input @ I::Printed { .. },
            ) => match run.handle(&input, out) {
                None => State::PrintingPin {
                    sale,
                    paid_fen,
                    issued,
                    run,
                },
                Some(true) => {
                    out.push(Effect::Journal(JournalOp::Settle {
                        credited_fen: paid_fen,
                        boss_ref: issued.serial.clone(),
                        new_balance_fen: None,
                    }));
                    out.push(Effect::Show(Screen::SimDone {
                        service: SERVICE,
                        number_masked: String::new(),
                        outcome: SimOutcome::PinSold {
                            serial_tail: serial_tail(&issued.serial),
                            face_fen: sale.face_fen,
                            expires_on: issued.expires_on,
                        },
                        reference: sale.txn,
                        receipt: ReceiptState::Printed,
                    }));
                    self.idle.touch(now);
                    State::Done
                }
                Some(false) => {
                    let reason = "recharge card not printed".to_owned();
                    self.void(sale, paid_fen, Some(issued.serial), reason, out)
                }
            },

            (
                State::Voiding {
                    sale,
                    paid_fen,
                    reason,
                    req,
                },
                I::Operator { req: r, result },
            ) if r == req => {
                let leg = void_leg(&sale.txn);
                match result {
                    Ok(Response::PinVoid(v)) => {
                        out.push(Effect::Journal(JournalOp::OperatorAnswered {
                            leg,
                            outcome: LegOutcome::Committed {
                                operator_ref: v.serial.unwrap_or_else(|| "none".into()),
                            },
                        }));
                        self.refund(&sale, paid_fen, format!("{reason}: voided"), out)
                    }
                    other => {
                        let cause = match &other {
                            Err(e) => e.cause(),
                            Ok(r) => format!("answer `{}`", r.op()),
                        };
                        out.push(Effect::Journal(JournalOp::OperatorAnswered {
                            leg,
                            outcome: LegOutcome::of(&other, None),
                        }));
                        self.pending(
                            &sale,
                            paid_fen,
                            format!("{reason}; void not confirmed: {cause}"),
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
                            SERVICE,
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
        let t = *self.idle.timeouts();
        match state {
            State::Cash { sale, mut cash } => {
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
                    None => State::Cash { sale, cash },
                    Some(o) => self.paid(sale, o, out),
                }
            }
            state @ (State::Faces { .. } | State::Done) => match self.idle.check(now, t.idle_ms) {
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

impl Flow for PinSaleFlow {
    fn handle(&mut self, input: Input, now: Millis) -> Vec<Effect> {
        let mut out = Vec::new();
        if let Input::Ui(ui) = &input {
            self.idle.on_ui(ui, now);
            if matches!(ui, Ui::Touch | Ui::Help(_) | Ui::Elder(_)) {
                return out;
            }
        }
        if matches!(input, Input::Acceptor(_)) {
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
            State::Loading { .. } => "pin_sale.loading",
            State::Faces { .. } => "pin_sale.faces",
            State::Opening { .. } | State::Cash { .. } => "pin_sale.insert_cash",
            State::Selling { .. } | State::Querying { .. } => "pin_sale.selling",
            State::PrintingPin { .. } => "pin_sale.printing_pin",
            State::Voiding { .. } => "pin_sale.voiding",
            State::Printing { .. } => "pin_sale.printing",
            State::Done => "pin_sale.result",
            State::Ended => "pin_sale.ended",
        }
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
            State::Selling { paid_fen, .. }
            | State::Querying { paid_fen, .. }
            | State::PrintingPin { paid_fen, .. }
            | State::Voiding { paid_fen, .. } => *paid_fen,
            State::Printing { receipt, .. } => receipt.paid_fen,
            _ => 0,
        }
    }
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
