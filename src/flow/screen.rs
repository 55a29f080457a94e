//! What the screen shows during a session: one enum for every service, with the screens the
//! services share (cash insertion, processing, sorry). The screen (`crate::ui`) words each in
//! the customer's language; flows only say what to show.

use serde::Serialize;

use super::ServiceId;
use super::devices::FaceGuidance;
use super::topup::{Outcome, Subscriber};

/// A phone number the customer typed, kept so the keypad can show it again for checking.
/// Its `Debug` is masked: a screen that ends up in a log never shows it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct TypedNumber(String);

impl TypedNumber {
    pub fn new(digits: impl Into<String>) -> Self {
        Self(digits.into())
    }
    /// The digits, for the keypad only.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for TypedNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TypedNumber({})", telekiosk_privacy::mask_phone(&self.0))
    }
}

/// Something the customer is told; the screen words it in the customer's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// Not a mainland mobile number (wrong length or prefix).
    InvalidNumber { digits: usize },
    /// The operator does not know the number.
    NumberNotFound,
    /// The account is closed and cannot be topped up.
    AccountClosed,
    /// The operator cannot be reached; the service is unavailable for now.
    ServiceUnavailable,
    /// The note was handed back because it would pass the limit.
    NoteOverLimit { fen: u64, max_fen: u64 },
    /// The acceptor did not recognise the note (worn, foreign, not a note).
    NoteRejected,
    /// A genuine note of a value this kiosk does not take (e.g. ¥5): handed back.
    NoteNotAccepted,
    /// The acceptor is jammed; notes already credited are safe. `fen`: the value of the
    /// note that jammed, when the acceptor had read it.
    Jammed { fen: Option<u64> },
    /// The cashbox is full; the kiosk stops taking notes.
    CashboxFull,
    /// The acceptor stopped working.
    AcceptorFault,
    /// A tampering attempt was detected.
    Tampering,
    /// The limit is reached: no more notes.
    LimitReached,
    /// The kiosk is stopping (maintenance restart): no more notes.
    Stopping,
    /// The service password is wrong; tries left before it is locked, when known.
    WrongPassword { tries_left: Option<u32> },
    /// The SMS code is wrong; tries left, when known.
    WrongCode { tries_left: Option<u32> },
    /// The SMS code has expired: ask for a new one.
    CodeExpired,
    /// Too many wrong tries: authentication is locked (until then, when known).
    AuthLocked { until_ms: Option<i64> },
    /// The authentication has expired (the session took too long): again, please.
    AuthExpired,
    /// The ID card is not the registered owner's.
    IdMismatch,
    /// The ID card is past its validity.
    IdExpired,
    /// No card was placed on the reader in time.
    NoCard,
    /// The reader could not read the card (moved, damaged, not a card it knows).
    CardUnreadable,
    /// A card of a type this kiosk does not serve (residence permits, foreigners' cards).
    CardNotServed,
    /// The account owes money: after-sale business needs it paid first.
    Arrears { fen: u64 },
    /// Days 1–5 of the month (出账期): no plan change until the 6th.
    FrozenPeriod,
    /// The chosen plan is not open to this subscriber.
    PlanNotEligible,
    /// The operator has nothing for that month.
    NothingForMonth,
    /// The printer's paper is low: a long print is refused rather than cut off halfway.
    PaperLowForLongPrint { pages: u32 },
    /// The printer is out of paper (or not answering).
    PrinterUnavailable,
    /// The applicant is under 16: a new number needs a guardian at the counter.
    UnderAge,
    /// The ID number fails its check digit (or the operator does not know it).
    IdInvalid,
    /// The ID already holds the most numbers allowed (一证五号).
    IdLimitReached {
        held: Option<u32>,
        limit: Option<u32>,
    },
    /// The operator does not serve this ID here.
    Blacklisted,
    /// The live photo is not the card's holder.
    FaceMismatch,
    /// The photo was not good enough for the comparison: again, please.
    FacePoorQuality,
    /// The liveness check failed (a still picture, or no head turned).
    NotLive,
    /// The customer did not agree to face recognition: served at the counter instead.
    ConsentDeclined,
    /// No camera: the real-name services are at the counter for now.
    CameraUnavailable,
    /// No blank SIM left.
    NoStock,
    /// The card dispenser jammed or stopped.
    DispenserFault,
    /// The number's hold lapsed: choose again.
    ReservationExpired,
    /// Someone else took the number: choose another.
    NumberUnavailable,
    /// A search that found nothing.
    NoNumbersFound,
    /// The number is closed (销户): nothing can be done to it here.
    NumberClosed,
    /// 挂失: the number is already reported lost.
    AlreadyReported,
    /// 解挂: the number is not reported lost.
    NotReported,
    /// No recharge card can be sold here now (none on sale, or none payable in the notes
    /// this kiosk takes).
    PinSoldOut,
}

/// A plan as the customer compares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanView {
    pub id: String,
    pub name: String,
    pub monthly_fee_fen: u64,
    pub data_mb: u32,
    pub voice_min: u32,
    pub sms: u32,
    pub features: Vec<String>,
}

impl From<&boss_protocol::Plan> for PlanView {
    fn from(p: &boss_protocol::Plan) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            monthly_fee_fen: p.monthly_fee_fen,
            data_mb: p.data_mb,
            voice_min: p.voice_min,
            sms: p.sms,
            features: p.features.clone(),
        }
    }
}

/// A plan the subscriber may move to, with what changes against the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanOption {
    pub plan: PlanView,
    /// New fee minus current fee, fen (negative: cheaper).
    pub fee_delta_fen: i64,
    pub data_delta_mb: i64,
    pub voice_delta_min: i64,
    pub sms_delta: i64,
    /// Features the new plan has that the current one lacks, and the other way round.
    pub features_gained: Vec<String>,
    pub features_lost: Vec<String>,
}

impl PlanOption {
    /// The differences between `current` and `plan`.
    pub fn compare(current: &PlanView, plan: &PlanView) -> Self {
        let d = |a: u64, b: u64| {
            i64::try_from(a).unwrap_or(i64::MAX) - i64::try_from(b).unwrap_or(i64::MAX)
        };
        Self {
            fee_delta_fen: d(plan.monthly_fee_fen, current.monthly_fee_fen),
            data_delta_mb: i64::from(plan.data_mb) - i64::from(current.data_mb),
            voice_delta_min: i64::from(plan.voice_min) - i64::from(current.voice_min),
            sms_delta: i64::from(plan.sms) - i64::from(current.sms),
            features_gained: plan
                .features
                .iter()
                .filter(|f| !current.features.contains(f))
                .cloned()
                .collect(),
            features_lost: current
                .features
                .iter()
                .filter(|f| !plan.features.contains(f))
                .cloned()
                .collect(),
            plan: plan.clone(),
        }
    }
}

/// How a plan change ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PlanOutcome {
    /// The operator accepted it.
    Changed { operator_ref: String },
    /// The answer was lost and could not be confirmed yet: the operator's SMS will say.
    Unconfirmed,
}

/// What the kiosk is waiting for (a busy screen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Working {
    Verifying,
    SendingCode,
    ReadingIdCard,
    LoadingPlans,
    ChangingPlan,
    LoadingBill,
    LoadingRecords,
    LoadingInvoice,
    Printing {
        page: u32,
        pages: u32,
    },
    /// The operator checks the applicant's ID (实名核验).
    CheckingId,
    /// The operator compares the live photo with the card's.
    ComparingFace,
    LoadingNumbers,
    ReservingNumber,
    LoadingJoinPlans,
    /// The order goes to the operator.
    Ordering,
    Registering,
    /// 挂失 / 解挂 at the operator.
    ReportingLoss,
    LiftingLoss,
    /// The numbers under the ID (名下号码).
    LoadingHeld,
    /// Recharge cards: the face values, the sale, a void.
    LoadingPinFaces,
    SellingPin,
    VoidingPin,
}

/// One line of itemised records on screen (counterpart already masked by the operator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RecordRow {
    /// `MM-DD HH:MM`, Beijing time.
    pub at: String,
    /// `call`, `sms`, `data`.
    pub kind: String,
    pub outgoing: bool,
    pub counterpart_masked: String,
    pub duration_s: u32,
    pub volume_kb: u64,
    pub location: String,
    pub fee_fen: i64,
}

/// What card issuance is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueStep {
    /// A blank card goes to the writer.
    Dispensing,
    /// The card is written (personalised).
    Writing,
    /// The number is activated on it.
    Activating,
}

/// A number from the pool (unassigned: shown in full).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolNumberView {
    pub msisdn: String,
    /// A premium number (靓号): only with a dearer plan.
    pub premium: bool,
    pub min_plan_fee_fen: u64,
}

/// A plan a new subscriber may join, with its first month as the operator charges it today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JoinPlan {
    pub plan: PlanView,
    /// Charged by the day (else a package: 1st–15th full month, from the 16th half).
    pub pro_rata: bool,
    pub first_month_fee_fen: u64,
}

/// How a SIM service ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SimOutcome {
    /// The number is active on the new card; `taken`: the customer has it (else staff hand
    /// it over from the reject bin).
    Issued {
        taken: bool,
        iccid_tail: String,
        operator_ref: String,
    },
    /// The identity was registered on the number (实名补登记).
    Registered { operator_ref: String },
    /// The number is suspended as lost (挂失); `at`: when, Beijing time `YYYY-MM-DD HH:MM`.
    /// `replace`: a replacement SIM can be made here now (offered on the screen).
    LossReported {
        operator_ref: String,
        at: String,
        #[serde(default)]
        replace: bool,
    },
    /// A recharge card was issued (its PIN is on paper only).
    PinSold {
        serial_tail: String,
        face_fen: u64,
        expires_on: String,
    },
    /// The loss suspension is lifted (解挂).
    LossLifted { operator_ref: String, at: String },
    /// Nothing was issued: the money is on a refund voucher.
    Refunded { reason: String },
    /// The operator's answer is not known yet: staff and the operator's SMS will tell.
    Unconfirmed { reason: String },
}

/// 挂失 or 解挂.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossAction {
    /// 挂失 — suspend a lost or stolen number.
    Report,
    /// 解挂 — lift the suspension (the SIM was found).
    Lift,
}

/// One number under an ID, as the screen and the slip show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct HeldLine {
    pub number_masked: String,
    pub status: HeldStatus,
    /// `YYYY-MM-DD`.
    pub opened_on: String,
    pub prepaid: bool,
}

/// A held number's state in the customer's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldStatus {
    /// 正常
    Active,
    /// 欠费停机
    Arrears,
    /// 停机
    Suspended,
    /// 挂失
    ReportedLost,
    /// 未激活
    NotActivated,
    /// 已销户
    Closed,
}

impl HeldStatus {
    /// From the operator's state.
    pub fn of(s: boss_protocol::SubscriberStatus) -> Self {
        use boss_protocol::SubscriberStatus as S;
        match s {
            S::Active => Self::Active,
            S::SuspendedArrears => Self::Arrears,
            S::ReportedLost => Self::ReportedLost,
            S::PreActive => Self::NotActivated,
            S::Cancelled => Self::Closed,
            _ => Self::Suspended,
        }
    }

    /// The words, Chinese and English.
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            Self::Active => ("正常", "in service"),
            Self::Arrears => ("欠费停机", "stopped: arrears"),
            Self::Suspended => ("停机", "suspended"),
            Self::ReportedLost => ("挂失", "reported lost"),
            Self::NotActivated => ("未激活", "not activated"),
            Self::Closed => ("已销户", "closed"),
        }
    }
}

/// What a print is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrintWhat {
    Bill { month: String },
    Records { month: String, kind: String },
    Invoice { month: String },
}

/// What a payment is for (shown on the note screen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "purpose", rename_all = "snake_case")]
pub enum CashPurpose {
    /// A top-up of this number.
    TopUp { number_masked: String },
    /// A new SIM for this pool number (card fee and first charge; more goes to its balance).
    NewSim { number: String },
    /// A replacement SIM for this number (the exact fee).
    ReplaceSim { number_masked: String },
    /// A recharge card of this face value (the exact amount).
    PinCard { face_fen: u64 },
}

/// The note screen, shared by every service that takes cash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CashView {
    pub purpose: CashPurpose,
    /// Money credited so far.
    pub total_fen: u64,
    /// How much more the kiosk will take.
    pub remaining_fen: u64,
    /// The price, when the payment is for one (finish is possible from there).
    pub due_fen: Option<u64>,
    /// Note values taken.
    pub accept_fen: Vec<u64>,
    pub notice: Option<Notice>,
    /// Whether finish is possible (money in, nothing in flight, not closing).
    pub can_finish: bool,
    /// A note is being read or stacked, or the payment is closing: wait.
    pub busy: bool,
}

/// A note that jammed in the acceptor: not counted; staff settle it with the reference. Its
/// value when the acceptor had read it (a note can jam before it is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Jam {
    pub fen: Option<u64>,
}

/// Receipt printing state shown on a result screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptState {
    Printing,
    Printed,
    NotPrinted,
}

/// What the screen shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "screen", rename_all = "snake_case")]
pub enum Screen {
    /// The number keypad. `typed`: digits to show again (after "not found", so the
    /// customer can check them).
    EnterNumber {
        service: ServiceId,
        notice: Option<Notice>,
        #[serde(skip)]
        typed: TypedNumber,
    },
    LookingUp {
        number_masked: String,
    },
    /// "您办理的是 138****0000（*小明）的话费充值，是吗？" — with the no-change notice.
    Confirm {
        number_masked: String,
        subscriber: Subscriber,
        /// Note values and limit, said before the first note goes in.
        accept_fen: Vec<u64>,
        max_fen: u64,
    },
    /// Notes go in.
    Insert(CashView),
    Processing {
        total_fen: u64,
    },
    Result {
        number_masked: String,
        amount_fen: u64,
        outcome: Outcome,
        reference: String,
        receipt: ReceiptState,
        /// A note that jammed: on the paper for staff.
        jammed: Option<Jam>,
    },
    Sorry {
        notice: Notice,
        reference: Option<String>,
    },
    /// How to prove the number is the customer's: the service password (then an SMS code
    /// when `sms`), or the owner's ID card when the reader works (`id_card`).
    AuthChoose {
        service: ServiceId,
        number_masked: String,
        sms: bool,
        id_card: bool,
        /// An SMS code alone is enough (a third button, "短信验证码", → `Select("sms")`).
        #[serde(default)]
        sms_alone: bool,
    },
    /// The service password, 6 digits on a keypad whose digits are shuffled for every
    /// entry (`layout`: the digit on each of the ten keys, in reading order).
    Password {
        number_masked: String,
        layout: [u8; 10],
        notice: Option<Notice>,
    },
    /// The SMS code sent to the number; "send again" possible in `resend_in_s` seconds.
    SmsCode {
        number_masked: String,
        resend_in_s: u64,
        notice: Option<Notice>,
    },
    /// "Place the owner's ID card on the reader".
    PlaceIdCard {
        notice: Option<Notice>,
    },
    /// Waiting for the operator or a device.
    Working {
        what: Working,
    },
    /// The current plan beside each plan the subscriber may move to.
    Plans {
        number_masked: String,
        current: PlanView,
        /// A change already booked for next month: (plan name, month).
        pending: Option<(String, String)>,
        options: Vec<PlanOption>,
    },
    /// "您办理的是……，是吗？" — from the current plan to the chosen one.
    PlanConfirm {
        number_masked: String,
        change: PlanOption,
        current: PlanView,
        effective_month: String,
    },
    /// The plan change's result.
    PlanDone {
        number_masked: String,
        from: String,
        to: String,
        effective_month: String,
        outcome: PlanOutcome,
        reference: String,
        receipt: ReceiptState,
    },
    /// A rule of the shop stops this service; `offer`: the service that helps (top-up).
    Refused {
        service: ServiceId,
        notice: Notice,
        offer: Option<ServiceId>,
    },
    /// Bills, records, invoice: which, and for which month.
    BillMenu {
        number_masked: String,
        months: Vec<String>,
        month: String,
        notice: Option<Notice>,
    },
    /// A monthly bill on screen.
    Bill {
        month: String,
        plan_name: String,
        items: Vec<(String, i64)>,
        total_fen: i64,
        paid_fen: i64,
        due_fen: i64,
    },
    /// A page of itemised records on screen.
    Records {
        month: String,
        kind: String,
        page: u32,
        pages: u32,
        total: u32,
        rows: Vec<RecordRow>,
    },
    /// Invoice data on screen.
    Invoice {
        month: String,
        invoice_no: String,
        payer_masked: String,
        items: Vec<(String, i64)>,
        total_fen: i64,
        tax_fen: i64,
    },
    /// Before a print: how long it is, and whether it can be printed now (`notice` says
    /// why not: paper low for a long print, printer out of paper or down).
    PrintPreview {
        what: PrintWhat,
        pages: u32,
        length_cm: u32,
        can_print: bool,
        notice: Option<Notice>,
    },
    /// After a print: what came out, and where it stopped if it did.
    PrintDone {
        what: PrintWhat,
        printed: u32,
        pages: u32,
        reference: String,
    },
    /// What a real-name service needs (ID card, a live photo, cash for `fee_fen`) and that
    /// the kiosk gives no change.
    SimIntro {
        service: ServiceId,
        fee_fen: u64,
    },
    /// Separate, explicit consent to face recognition (人脸识别单独同意), or the counter.
    FaceConsent {
        service: ServiceId,
    },
    /// The live photo: the camera's picture in a framing guide, and what to do now.
    FaceCapture {
        guidance: FaceGuidance,
        attempt: u32,
        /// Why this is another try (poor photo, no match, liveness failed).
        notice: Option<Notice>,
    },
    /// 选号: numbers from the pool, searchable by the digits a customer likes.
    Numbers {
        numbers: Vec<PoolNumberView>,
        search: String,
        notice: Option<Notice>,
    },
    /// The plans a new subscriber may join, the chosen number held for `hold_s` more seconds.
    JoinPlans {
        msisdn: String,
        hold_s: u64,
        plans: Vec<JoinPlan>,
        card_fee_fen: u64,
    },
    /// The service agreement (入网服务协议), read to the end and accepted.
    Agreement {
        version: String,
        hold_s: u64,
    },
    /// "您办理的是……，是吗？" with the price before the first note.
    SimConfirm {
        service: ServiceId,
        number: String,
        plan_name: Option<String>,
        card_fee_fen: u64,
        first_month_fee_fen: u64,
        due_fen: u64,
        /// Whether money above the price is credited to the number (new SIM) — else the
        /// exact amount is asked for.
        excess_to_balance: bool,
        hold_s: Option<u64>,
    },
    /// Card issuance under way.
    Issuing {
        step: IssueStep,
        attempt: u32,
        attempts: u32,
    },
    /// "请取走您的SIM卡" — the card is at the gate.
    TakeCard {
        seconds: u64,
    },
    /// "您办理的是 138****0000 的实名补登记，登记人 王**，是吗？"
    ReregisterConfirm {
        number_masked: String,
        name_masked: String,
        id_masked: String,
    },
    /// "您要为 138****0000（*小明）办理挂失，是吗？" — or 解挂.
    LossConfirm {
        action: LossAction,
        number_masked: String,
        owner_masked: String,
    },
    /// The recharge cards' face values on sale.
    PinFaces {
        faces_fen: Vec<u64>,
        valid_days: u32,
    },
    /// The numbers registered under the customer's ID, masked, with their state.
    HeldNumbers {
        name_masked: String,
        id_masked: String,
        numbers: Vec<HeldLine>,
        limit: u32,
        /// The customer said a number is not theirs: what to do is on the screen.
        advice: bool,
        /// The slip, once asked for.
        receipt: Option<ReceiptState>,
    },
    /// The end of a SIM or real-name service.
    SimDone {
        service: ServiceId,
        number_masked: String,
        outcome: SimOutcome,
        reference: String,
        receipt: ReceiptState,
    },
}

impl Screen {
    /// Stable name for logs, the heartbeat and tests (`topup.insert_cash`).
    pub fn name(&self) -> &'static str {
        match self {
            Screen::EnterNumber { .. } => "enter_number",
            Screen::LookingUp { .. } => "looking_up",
            Screen::Confirm { .. } => "confirm",
            Screen::Insert(_) => "insert_cash",
            Screen::Processing { .. } => "processing",
            Screen::Result { .. } => "result",
            Screen::Sorry { .. } => "sorry",
            Screen::AuthChoose { .. } => "auth_choose",
            Screen::Password { .. } => "password",
            Screen::SmsCode { .. } => "sms_code",
            Screen::PlaceIdCard { .. } => "place_id_card",
            Screen::Working { .. } => "working",
            Screen::Plans { .. } => "plans",
            Screen::PlanConfirm { .. } => "plan_confirm",
            Screen::PlanDone { .. } => "plan_done",
            Screen::Refused { .. } => "refused",
            Screen::BillMenu { .. } => "bill_menu",
            Screen::Bill { .. } => "bill",
            Screen::Records { .. } => "records",
            Screen::Invoice { .. } => "invoice",
            Screen::PrintPreview { .. } => "print_preview",
            Screen::PrintDone { .. } => "print_done",
            Screen::SimIntro { .. } => "sim_intro",
            Screen::FaceConsent { .. } => "face_consent",
            Screen::FaceCapture { .. } => "face_capture",
            Screen::Numbers { .. } => "numbers",
            Screen::JoinPlans { .. } => "join_plans",
            Screen::Agreement { .. } => "agreement",
            Screen::SimConfirm { .. } => "sim_confirm",
            Screen::Issuing { .. } => "issuing",
            Screen::TakeCard { .. } => "take_card",
            Screen::ReregisterConfirm { .. } => "reregister_confirm",
            Screen::LossConfirm { .. } => "loss_confirm",
            Screen::HeldNumbers { .. } => "held_numbers",
            Screen::PinFaces { .. } => "pin_faces",
            Screen::SimDone { .. } => "sim_done",
        }
    }
}
