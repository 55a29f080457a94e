//! Customer flows as pure state machines, and the parts they are built from.
//!
//! A customer session is a [`Flow`]: it consumes [`Input`]s — a touch, a device event, an
//! operator's answer, a journal answer, the clock — and emits [`Effect`]s in order. It does
//! no I/O, reads no clock and knows no tokio, Slint or SQLite: the kiosk runtime
//! (`crate::runtime`) carries every effect out and feeds the answers back. Journal writes are
//! effects too, emitted *before* the effect they protect, so "journal, then act" is part of
//! what the flows' tests check.
//!
//! Services are composed of shared parts rather than copies ([`parts`]): the cash payment
//! (note insertion with escrow decisions, limits, jams and late credits), print-and-record,
//! and the idle timer. Every operator request and print carries a [`ReqId`]; a flow only
//! accepts the answer to the request it is waiting for, so an answer to an abandoned
//! request (the customer went back and typed another number) is dropped.

pub mod bills;
pub mod devices;
pub mod loss;
pub mod number_query;
pub mod parts;
pub mod pin_sale;
pub mod plan;
pub mod recovery;
pub mod reregister;
pub mod screen;
pub mod sim;
pub mod sim_order;
#[cfg(test)]
pub(crate) mod testkit;
pub mod topup;

use bill_acceptor::AcceptorEvent;
use boss_protocol::{Request, Response, Secret};
use serde::Serialize;

pub use screen::{Notice, Screen};

/// Milliseconds on a monotonic clock, passed in by the runtime.
pub type Millis = u64;

/// `¥12.50` from fen.
pub fn yuan(fen: u64) -> String {
    format!("¥{}.{:02}", fen / 100, fen % 100)
}

/// Masks a mobile number for screen, paper and logs: `138****1234` (the workspace's one
/// masking rule, [`telekiosk_privacy::mask_phone`]).
pub fn mask_phone(number: &str) -> String {
    telekiosk_privacy::mask_phone(number)
}

/// Whether a string is a mainland mobile number the kiosk serves: 11 digits starting 1[3-9].
pub fn is_mobile_number(number: &str) -> bool {
    let b = number.as_bytes();
    b.len() == 11
        && b.iter().all(u8::is_ascii_digit)
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
}

/// The customer services, in the order of the home screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceId {
    /// 话费充值
    TopUp,
    /// 套餐变更
    PlanChange,
    /// 账单打印
    BillPrint,
    /// 新开户
    NewSim,
    /// 补卡
    ReplaceSim,
    /// 实名补登记
    Registration,
    /// 挂失 / 解挂
    Loss,
    /// 名下号码查询
    NumberQuery,
    /// 充值卡销售
    PinSale,
}

impl ServiceId {
    /// All services, in the order of the home screen.
    pub const ALL: [ServiceId; 9] = [
        ServiceId::TopUp,
        ServiceId::PlanChange,
        ServiceId::BillPrint,
        ServiceId::NewSim,
        ServiceId::ReplaceSim,
        ServiceId::Registration,
        ServiceId::Loss,
        ServiceId::NumberQuery,
        ServiceId::PinSale,
    ];

    /// Stable id (screen, configuration switches, logs, heartbeat screen names).
    pub fn id(self) -> &'static str {
        match self {
            ServiceId::TopUp => "topup",
            ServiceId::PlanChange => "plan_change",
            ServiceId::BillPrint => "bill_print",
            ServiceId::NewSim => "new_sim",
            ServiceId::ReplaceSim => "replace_sim",
            ServiceId::Registration => "reregister",
            ServiceId::Loss => "loss",
            ServiceId::NumberQuery => "number_query",
            ServiceId::PinSale => "pin_sale",
        }
    }

    /// The service with this id.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }
}

/// Id of one operator request or print job within a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ReqId(pub u64);

/// Hands out request ids, unique within a session.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    next: u64,
}

impl Ids {
    /// A fresh id.
    pub fn fresh(&mut self) -> ReqId {
        self.next += 1;
        ReqId(self.next)
    }
}

/// What the customer did on the screen.
#[derive(Clone, PartialEq, Eq)]
pub enum Ui {
    /// A phone number was entered.
    Number(String),
    /// "Yes" / "confirm" / "go on".
    Confirm,
    /// Back one step.
    Back,
    /// Leave the service (with money in, this finishes the payment instead).
    Cancel,
    /// "Finish" on the note screen.
    Finish,
    /// Any touch: keeps the session alive.
    Touch,
    /// The customer called for help (`true`) or closed the help notice after staff came
    /// (`false`). While help is on its way the idle timer waits.
    Help(bool),
    /// The customer switched elder mode (长辈模式) on or off: longer timeouts.
    Elder(bool),
    /// The customer chose an item on a screen: a plan, a month, a menu entry, an
    /// authentication method, "next page" … (ids the screen was given).
    Select(String),
    /// A secret the customer typed: the service password or an SMS code. Never logged,
    /// never stored; wiped from memory when dropped.
    Secret(Secret),
}

impl std::fmt::Debug for Ui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // What the customer typed is personal data: never in a log line.
            Ui::Number(n) => write!(f, "Number({})", mask_phone(n)),
            Ui::Confirm => f.write_str("Confirm"),
            Ui::Back => f.write_str("Back"),
            Ui::Cancel => f.write_str("Cancel"),
            Ui::Finish => f.write_str("Finish"),
            Ui::Touch => f.write_str("Touch"),
            Ui::Help(on) => write!(f, "Help({on})"),
            Ui::Elder(on) => write!(f, "Elder({on})"),
            Ui::Select(id) => write!(f, "Select({id})"),
            Ui::Secret(_) => f.write_str("Secret(***)"),
        }
    }
}

/// Why an operator request has no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// The operator answered and refused: nothing was applied. An authentication refusal
    /// may say how many tries are left, or until when it is locked (UTC ms).
    Refused {
        code: String,
        message: String,
        tries_left: Option<u32>,
        until_ms: Option<i64>,
    },
    /// Sent, but no answer (timeout, connection lost): it may or may not have been
    /// applied; only a status query with the same transaction id can tell.
    Unknown { cause: String },
    /// Never sent (link down): nothing was applied.
    NotSent { cause: String },
}

/// What the operator's `txn_status` answer says of a request whose own answer was lost:
/// every flow that asks reads it the same way.
#[derive(Debug)]
pub enum LostAnswer {
    /// Done at the operator: its first answer (a success or a refusal), as if it had come.
    Answered(Result<Response, OpError>),
    /// The operator never received it: it may be sent again with the same id.
    NeverReceived,
    /// Still not known (in progress, reversed, no outcome kept, no status); why.
    Unknown(String),
}

impl LostAnswer {
    /// Reads the answer to a `txn_status` request.
    pub fn of(result: Result<Response, OpError>) -> Self {
        use boss_protocol::{Reply, TxnState};
        match result {
            Ok(Response::TxnStatus(s)) => match (s.state, s.outcome.as_deref()) {
                (TxnState::Committed, Some(Reply::Ok(answer))) => {
                    Self::Answered(Ok(answer.clone()))
                }
                (TxnState::Failed, Some(Reply::Error(e))) => {
                    Self::Answered(Err(OpError::refused(e.code.as_str(), &e.message)))
                }
                (TxnState::Unknown, _) => Self::NeverReceived,
                _ => Self::Unknown("status unknown".into()),
            },
            Err(e) => Self::Unknown(e.cause()),
            Ok(other) => Self::Unknown(format!("answer `{}`", other.op())),
        }
    }
}

impl OpError {
    /// A refusal with its code and message.
    pub fn refused(code: &str, message: &str) -> Self {
        OpError::Refused {
            code: code.to_owned(),
            message: message.to_owned(),
            tries_left: None,
            until_ms: None,
        }
    }

    /// Tries left and locked-until of an authentication refusal.
    pub fn auth_details(&self) -> (Option<u32>, Option<i64>) {
        match self {
            OpError::Refused {
                tries_left,
                until_ms,
                ..
            } => (*tries_left, *until_ms),
            _ => (None, None),
        }
    }

    /// A short cause for the journal and the technician.
    pub fn cause(&self) -> String {
        match self {
            OpError::Refused { code, message, .. } => format!("refused ({code}): {message}"),
            OpError::Unknown { cause } => format!("no answer: {cause}"),
            OpError::NotSent { cause } => format!("not sent: {cause}"),
        }
    }
}

/// Whether a paper came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PrintResult {
    Printed,
    NotPrinted { reason: String },
}

/// Everything a flow consumes.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Ui(Ui),
    Acceptor(AcceptorEvent),
    /// The bill acceptor's link is gone (the runtime keeps reconnecting).
    AcceptorDown {
        cause: String,
    },
    /// The journal opened the session's transaction.
    TxnOpened {
        id: String,
    },
    /// The operator's answer to request `req`.
    Operator {
        req: ReqId,
        result: Result<Response, OpError>,
    },
    /// The printer's answer to print job `req`.
    Printed {
        req: ReqId,
        result: PrintResult,
    },
    /// What the ID card reader read for request `req`.
    IdCard {
        req: ReqId,
        result: Result<IdDocument, IdCardProblem>,
    },
    /// How much paper the printer has, for request `req`.
    Printer {
        req: ReqId,
        paper: PaperLevel,
    },
    /// What the card dispenser did with command `req`.
    Card {
        req: ReqId,
        result: Result<devices::CardAnswer, devices::CardProblem>,
    },
    /// While the live photo of `req` is being taken: what the customer should do now.
    FaceGuidance {
        req: ReqId,
        guidance: devices::FaceGuidance,
    },
    /// The live photo of `req`, or why there is none.
    Face {
        req: ReqId,
        result: Result<devices::LivePhoto, devices::FaceProblem>,
    },
    /// The kiosk is stopping (SIGTERM): take no more money, finish what is in, end.
    Shutdown,
    /// Time passes (a few times a second).
    Tick,
}

/// What the flow asks the world to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Show(Screen),
    /// Warn the customer that the session ends in this many seconds unless they touch;
    /// `money_fen` > 0: the money in will then be credited, not lost (the words say so).
    IdleWarning {
        seconds_left: u64,
        money_fen: u64,
    },
    /// A journal write; the runtime carries it out before the next effect.
    Journal(JournalOp),
    /// A bill acceptor command.
    Acceptor(AcceptorCmd),
    /// A request to the operator; answered by [`Input::Operator`] with the same `req`.
    Operator {
        req: ReqId,
        request: Request,
        /// Deadline in ms (the link's default when `None`); past it the outcome is unknown.
        timeout_ms: Option<u64>,
    },
    /// A paper to print; answered by [`Input::Printed`] with the same `req`.
    Print {
        req: ReqId,
        paper: Paper,
    },
    /// Wait for an ID card on the reader (at most `timeout_ms`); answered by
    /// [`Input::IdCard`].
    ReadIdCard {
        req: ReqId,
        timeout_ms: u64,
    },
    /// How much paper is left; answered by [`Input::Printer`].
    CheckPrinter {
        req: ReqId,
    },
    /// A card dispenser command for the session's current card; answered by
    /// [`Input::Card`].
    Card {
        req: ReqId,
        cmd: devices::CardCmd,
    },
    /// Take a live photo: camera preview on the screen, the kiosk's own face and liveness
    /// checks, at most `timeout_ms`; guided by [`Input::FaceGuidance`], answered by
    /// [`Input::Face`].
    CaptureFace {
        req: ReqId,
        timeout_ms: u64,
    },
    /// When this session ends, start `service` for the same customer (e.g. "top up now"
    /// after an arrears refusal), with the number already entered.
    Handoff {
        service: ServiceId,
        number: screen::TypedNumber,
    },
    /// The session is over: back to the idle screen, session data wiped.
    End,
}

/// A bill acceptor command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptorCmd {
    /// Take notes of these values.
    Enable {
        accept_fen: Vec<u64>,
    },
    Disable,
    /// Accept the note in escrow.
    Stack,
    /// Hand the note in escrow back.
    Return,
}

/// Kind of a transaction in the journal (`txn.kind`); recovery and `journal check` dispatch
/// on it, so one service's money is never mistaken for another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnKind {
    /// 话费充值 — cash top-up.
    TopUp,
    /// A note that reached the cash box with no session to own it: a refund voucher.
    OrphanNote,
    /// 套餐变更 — plan change (no money).
    PlanChange,
    /// 账单/详单/发票打印 — papers printed for an authenticated customer (no money).
    BillPrint,
    /// 新开户 — a new number on a new SIM, paid in cash.
    NewSim,
    /// 补卡 — a replacement SIM for a number, paid in cash.
    ReplaceSim,
    /// 实名补登记 — the owner's identity registered on a number (no money).
    Reregister,
    /// 挂失 — a lost number suspended at the owner's word (no money).
    LossReport,
    /// 解挂 — the loss suspension lifted (no money).
    LossLift,
    /// 名下号码查询 — the numbers under an ID looked up and perhaps printed (no money).
    NumberQuery,
    /// 充值卡销售 — an electronic recharge PIN bought in cash.
    PinSale,
}

impl TxnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TxnKind::TopUp => "topup",
            TxnKind::OrphanNote => "orphan_note",
            TxnKind::PlanChange => "plan_change",
            TxnKind::BillPrint => "bill_print",
            TxnKind::NewSim => "new_sim",
            TxnKind::ReplaceSim => "replace_sim",
            TxnKind::Reregister => "reregister",
            TxnKind::LossReport => "loss_report",
            TxnKind::LossLift => "loss_lift",
            TxnKind::NumberQuery => "number_query",
            TxnKind::PinSale => "pin_sale",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "topup" => TxnKind::TopUp,
            "orphan_note" => TxnKind::OrphanNote,
            "plan_change" => TxnKind::PlanChange,
            "bill_print" => TxnKind::BillPrint,
            "new_sim" => TxnKind::NewSim,
            "replace_sim" => TxnKind::ReplaceSim,
            "reregister" => TxnKind::Reregister,
            "loss_report" => TxnKind::LossReport,
            "loss_lift" => TxnKind::LossLift,
            "number_query" => TxnKind::NumberQuery,
            "pin_sale" => TxnKind::PinSale,
            _ => return None,
        })
    }
}

/// A journal write, on the session's transaction (once it is open).
#[derive(Clone, PartialEq)]
pub enum JournalOp {
    /// Open the session's transaction; answered by [`Input::TxnOpened`]. The full number
    /// is kept only until the transaction closes.
    Open {
        kind: TxnKind,
        msisdn: Option<String>,
        number_masked: String,
    },
    /// An intent (before the act) or an outcome (after) in the step log.
    Step {
        kind: &'static str,
        phase: Phase,
        detail: serde_json::Value,
    },
    /// A note became money for this transaction.
    CreditNote { fen: u64, power_up: bool },
    /// An operator request is about to be sent (its idempotency id, op and amount).
    OperatorSent {
        leg: String,
        op: &'static str,
        amount_fen: u64,
    },
    /// The operator's answer to it.
    OperatorAnswered { leg: String, outcome: LegOutcome },
    /// The operator confirmed the money: settled (the full number is erased).
    Settle {
        credited_fen: u64,
        boss_ref: String,
        new_balance_fen: Option<i64>,
    },
    /// Money in, outcome not confirmed yet: retried until it is.
    MarkPending { reason: String },
    /// Money that cannot be credited: a refund voucher (退款凭条) for it.
    IssueVoucher { reason: String },
    /// Ended before any money was taken.
    Cancel { reason: String },
    /// A transaction without money is done (a plan changed, papers printed): closed and
    /// uploaded with what the operator said (`operator_ref`, empty if nothing was asked).
    Complete { operator_ref: String },
    /// A paper is about to be printed (its document holds masked data only; it is kept
    /// so the paper can be printed again).
    PaperSent { req: ReqId, paper: Paper },
    /// Whether it came out.
    PaperDone { req: ReqId, result: PrintResult },
    /// About the session's current SIM card: before and after each physical step.
    Card(devices::CardJournal),
}

impl std::fmt::Debug for JournalOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JournalOp::Open {
                kind,
                number_masked,
                ..
            } => write!(f, "Open({kind:?}, {number_masked})"),
            JournalOp::Step { kind, phase, .. } => write!(f, "Step({kind}, {phase:?})"),
            JournalOp::CreditNote { fen, power_up } => write!(f, "CreditNote({fen}, {power_up})"),
            JournalOp::OperatorSent {
                leg,
                op,
                amount_fen,
            } => {
                write!(f, "OperatorSent({leg}, {op}, {amount_fen})")
            }
            JournalOp::OperatorAnswered { leg, outcome } => {
                write!(f, "OperatorAnswered({leg}, {outcome:?})")
            }
            JournalOp::Settle { credited_fen, .. } => write!(f, "Settle({credited_fen})"),
            JournalOp::MarkPending { reason } => write!(f, "MarkPending({reason})"),
            JournalOp::IssueVoucher { reason } => write!(f, "IssueVoucher({reason})"),
            JournalOp::Cancel { reason } => write!(f, "Cancel({reason})"),
            JournalOp::Complete { operator_ref } => write!(f, "Complete({operator_ref})"),
            JournalOp::PaperSent { req, paper } => {
                write!(f, "PaperSent({req:?}, {})", paper.kind())
            }
            JournalOp::PaperDone { req, result } => write!(f, "PaperDone({req:?}, {result:?})"),
            JournalOp::Card(c) => write!(f, "Card({c:?})"),
        }
    }
}

/// Intent or outcome, in the step log.
pub use crate::journal::Phase;

/// What the operator said to one request, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LegOutcome {
    /// Applied; the operator's reference.
    Committed { operator_ref: String },
    /// Refused; nothing applied.
    Failed { code: String },
    /// No answer: applied or not, only the status query can tell.
    Unknown { cause: String },
    /// Never sent.
    NotSent { cause: String },
}

impl LegOutcome {
    /// The journal's outcome for an operator answer.
    pub fn of(result: &Result<Response, OpError>, operator_ref: Option<&str>) -> Self {
        match result {
            Ok(_) => LegOutcome::Committed {
                operator_ref: operator_ref.unwrap_or_default().to_owned(),
            },
            Err(OpError::Refused { code, .. }) => LegOutcome::Failed { code: code.clone() },
            Err(OpError::Unknown { cause }) => LegOutcome::Unknown {
                cause: cause.clone(),
            },
            Err(OpError::NotSent { cause }) => LegOutcome::NotSent {
                cause: cause.clone(),
            },
        }
    }
}

/// A paper the flow wants printed; the runtime lays it out (`crate::receipts`) with the
/// letterhead and the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "paper", rename_all = "snake_case")]
pub enum Paper {
    /// The top-up receipt (业务受理回执), pending receipt or refund voucher.
    TopUp(topup::TopUpReceipt),
    /// The plan change receipt (业务受理回执).
    PlanChange(plan::PlanReceipt),
    /// A monthly bill (账单).
    Bill(bills::BillPaper),
    /// One page of itemised records (详单).
    Records(bills::RecordsPaper),
    /// Invoice data (发票信息).
    Invoice(bills::InvoicePaper),
    /// A real-name service's receipt or refund voucher (新开户, 补卡, 实名补登记), and the
    /// loss report's and lift's receipts (挂失, 解挂).
    Sim(sim::SimReceipt),
    /// The slip of the numbers under an ID (名下号码清单), masked.
    Numbers(number_query::NumbersSlip),
    /// An electronic recharge card (充值卡): its PIN is never journaled.
    Pin(pin_sale::PinPaper),
}

impl Paper {
    /// Short kind for the journal.
    pub fn kind(&self) -> &'static str {
        match self {
            Paper::TopUp(r) => match r.outcome {
                topup::Outcome::Credited { .. } => "topup_receipt",
                topup::Outcome::Pending { .. } => "pending_receipt",
                topup::Outcome::Voucher { .. } => "refund_voucher",
                topup::Outcome::NothingTaken { .. } => "jam_slip",
            },
            Paper::PlanChange(_) => "plan_change_receipt",
            Paper::Bill(_) => "bill",
            Paper::Records(_) => "itemised_records",
            Paper::Invoice(_) => "invoice",
            Paper::Sim(r) => r.kind(),
            Paper::Numbers(_) => "numbers_slip",
            Paper::Pin(_) => "pin_card",
        }
    }

    /// Whether a paper of this kind is printed again unattended (start-up recovery) when
    /// it did not come out: only money papers, which the shop hands over. Bills, records
    /// and invoices are the customer's confidential data: never printed for nobody (the
    /// journal keeps an unprinted one for the technician to print with the customer there,
    /// and strips it once printed — [`crate::journal::Journal::paper_done`]).
    pub fn reprint_unattended(kind: &str) -> bool {
        matches!(
            kind,
            "topup_receipt" | "pending_receipt" | "refund_voucher" | "jam_slip" | "sim_receipt"
        )
    }
}

/// What the printer says of its paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaperLevel {
    Ok,
    /// Near end: a short paper still fits, a long one may not.
    Low,
    Out,
    /// Not answering or not fitted.
    Unavailable,
}

/// An ID card as the kiosk read it: what the operator needs, and what the kiosk checked
/// itself. Personal data: `Debug` masked, never logged, never stored; dropped (and the
/// photo wiped) once the transaction is settled.
#[derive(Clone, PartialEq)]
pub struct IdDocument {
    /// The card's type: `resident` (居民身份证), `hmt_residence` (港澳台居民居住证),
    /// `foreign_permanent` (外国人永久居留身份证).
    pub kind: &'static str,
    /// The text as the operator takes it (resident cards; `None` for the others).
    pub card: Option<boss_protocol::IdCard>,
    /// The chip's photo (WLT, opaque: the operator decodes it).
    pub photo: Vec<u8>,
    /// Past its validity today.
    pub expired: bool,
    /// The ID number's check digit is right (`None` when the number has none).
    pub check_digit_ok: Option<bool>,
    /// Age in whole years today.
    pub age: u32,
}

impl std::fmt::Debug for IdDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdDocument")
            .field("kind", &self.kind)
            .field("card", &self.card)
            .field("photo_len", &self.photo.len())
            .field("expired", &self.expired)
            .field("check_digit_ok", &self.check_digit_ok)
            .field("age", &self.age)
            .finish()
    }
}

impl IdDocument {
    /// Overwrites the photo and drops the text (done when the document is dropped).
    pub fn wipe(&mut self) {
        zeroize::Zeroize::zeroize(self.photo.as_mut_slice());
        self.card = None;
    }
}

impl Drop for IdDocument {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// Why no ID card was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdCardProblem {
    /// No card was placed in time.
    NoCard,
    /// The reader's security module refused the card (damaged, forged, unknown type).
    Rejected,
    /// The card was moved while being read.
    ReadFailed,
    /// The reader does not answer or is not fitted.
    ReaderDown(String),
}

/// Settings every flow needs about waiting for the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Idle time before a session without money ends.
    pub idle_ms: Millis,
    /// Idle time during note insertion, with money in, before the payment finishes itself.
    pub insert_idle_ms: Millis,
    /// How long before a timeout the customer is warned.
    pub warn_ms: Millis,
    /// Elder mode lengthens every timeout by this many percent.
    pub elder_extra_percent: u64,
    /// Longest wait for staff after a call for help, during which no timeout runs.
    pub help_ms: Millis,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            idle_ms: 60_000,
            insert_idle_ms: 90_000,
            warn_ms: 15_000,
            elder_extra_percent: 100,
            help_ms: 10 * 60_000,
        }
    }
}

impl Timeouts {
    /// From head office's settings.
    pub fn from_settings(s: &telekiosk_settings::Settings) -> Self {
        Self {
            idle_ms: s.session.idle_secs * 1000,
            insert_idle_ms: s.session.insert_idle_secs * 1000,
            warn_ms: s.session.warn_secs * 1000,
            elder_extra_percent: s.session.elder_extra_percent,
            ..Self::default()
        }
    }
}

/// A customer session as the runtime sees it.
pub trait Flow: Send + Sync {
    /// Consumes one input at time `now`; returns the effects to carry out, in order.
    fn handle(&mut self, input: Input, now: Millis) -> Vec<Effect>;
    /// Whether the session is over.
    fn is_ended(&self) -> bool;
    /// Name of the current state, for logs, the heartbeat's screen and tests
    /// (`topup.insert_cash`).
    fn state_name(&self) -> &'static str;
    /// Money taken in this session so far, in fen.
    fn money_in_fen(&self) -> u64;
    /// Whether the session wants notes now (the acceptor is disabled otherwise).
    fn wants_cash(&self) -> bool;
    /// Whether a note the acceptor credits now belongs to this session (while it takes
    /// notes, and until its payment is settled). Otherwise the runtime settles the note on
    /// its own (refund voucher), so no credit is ever dropped.
    fn takes_notes(&self) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_masked() {
        assert_eq!(mask_phone("13800001234"), "138****1234");
        assert_eq!(mask_phone(""), "");
    }

    #[test]
    fn mobile_numbers_are_recognised() {
        assert!(is_mobile_number("13800000000"));
        assert!(is_mobile_number("19912345678"));
        assert!(!is_mobile_number("12800000000"));
        assert!(!is_mobile_number("1380000000"));
        assert!(!is_mobile_number("1380000000a"));
    }

    #[test]
    fn yuan_formats_fen() {
        assert_eq!(yuan(0), "¥0.00");
        assert_eq!(yuan(5005), "¥50.05");
    }

    #[test]
    fn typed_numbers_never_reach_a_log_in_full() {
        let shown = format!("{:?}", Input::Ui(Ui::Number("13812345678".into())));
        assert!(!shown.contains("13812345678"), "{shown}");
        assert!(shown.contains("138****5678"), "{shown}");
        let op = JournalOp::Open {
            kind: TxnKind::TopUp,
            msisdn: Some("13812345678".into()),
            number_masked: "138****5678".into(),
        };
        assert!(!format!("{op:?}").contains("13812345678"));
    }

    proptest::proptest! {
        #[test]
        fn masked_numbers_never_show_the_middle(n in "1[3-9][0-9]{9}") {
            let m = mask_phone(&n);
            proptest::prop_assert_eq!(&m[3..7], "****");
            proptest::prop_assert_eq!(&m[..3], &n[..3]);
        }
    }
}
