//! Every request, response, push and acknowledgement of protocol version 1.
//!
//! Conventions (see docs/boss-protocol.md):
//! - money is integer fen (分) in fields ending `_fen`; `u64` for amounts, `i64` for balances
//!   (a postpaid balance can be negative);
//! - instants are UTC milliseconds since the Unix epoch in fields ending `_ms`; durations in
//!   `_s`/`_ms`; calendar months are `"YYYY-MM"`, days `"YYYY-MM-DD"` (Beijing time, the
//!   operator's business calendar);
//! - a request and its response share the `op` name;
//! - receivers ignore fields they do not know; new fields are added only with a default, so
//!   older peers keep working (additive evolution within version 1).

use serde::{Deserialize, Serialize};

use crate::types::{AuthToken, Blob, HexBytes, IdNumber, Msisdn, PersonalText, Secret, Sw, TxnId};

// ---------------------------------------------------------------------------------------------
// Requests (kiosk → business system)
// ---------------------------------------------------------------------------------------------

/// A request from the kiosk. The `op` field names it on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// First message on every connection; nothing else is accepted before it.
    Hello(Hello),
    /// Periodic device health and stock report.
    Heartbeat(Heartbeat),
    /// Look up a subscriber by number (no authentication needed; answer is masked).
    SubscriberLookup(SubscriberLookup),
    /// Authenticate with the 6-digit service password (服务密码).
    AuthPassword(AuthPassword),
    /// Ask the business system to send an SMS verification code (短信验证码).
    SmsCodeRequest(SmsCodeRequest),
    /// Verify an SMS code; may upgrade an existing token.
    SmsCodeVerify(SmsCodeVerify),
    /// Authenticate with the owner's ID card read on the kiosk (and a face check).
    AuthIdCard(AuthIdCard),
    /// 话费充值 — credit cash to a number. Money-changing: idempotent by `txn_id`.
    Recharge(Recharge),
    /// 交易结果查询 — the state and first outcome of any earlier `txn_id`.
    TxnStatus(TxnStatusQuery),
    /// 冲正 — undo an earlier money-changing transaction.
    Reversal(Reversal),
    /// The subscriber's current plan (and a pending change, if any).
    CurrentPlan(PlanQuery),
    /// Plans the subscriber may change to.
    EligiblePlans(PlanQuery),
    /// 套餐变更 — change plan from next month.
    PlanChange(PlanChange),
    /// One monthly bill (账单).
    MonthlyBill(MonthQuery),
    /// 详单 — itemised call / SMS / data records of one month, paged.
    ItemisedRecords(ItemisedRecordsQuery),
    /// 发票 — data to print an invoice for one month.
    InvoiceData(MonthQuery),
    /// 实名制 checks for a new SIM: ID valid, per-ID number limit, blacklist, age.
    RealNameCheck(RealNameCheck),
    /// Compare a live photo with the ID card photo (人证比对).
    FaceCompare(FaceCompare),
    /// Plans a new subscriber may join, with the first month's fee if joining today.
    PlanCatalogue(PlanCatalogueQuery),
    /// Search the number pool (选号).
    NumberSearch(NumberSearch),
    /// Reserve a pool number for a short time (预占).
    NumberReserve(NumberReserve),
    /// Give a reserved number back before its hold expires.
    NumberRelease(NumberRelease),
    /// 新开户 — order a new SIM for a reserved number. Money-changing.
    NewSimOrder(NewSimOrder),
    /// Fetch the personalisation script (写卡脚本) for a blank SIM's ICCID.
    SimScript(SimScriptQuery),
    /// Activate the number on the written card, with the script's result. Card-changing.
    ActivateSim(ActivateSim),
    /// Cancel an order that was not activated (card spoilt, customer left). Money-changing.
    CancelOrder(CancelOrder),
    /// 补卡 — order a replacement SIM; the old card is invalidated at activation. Card-changing.
    ReplacementSim(ReplacementSim),
    /// 实名补登记 — register the owner's identity on an existing number.
    RealNameReregister(RealNameReregister),
    /// 名下号码查询 (一证通查, protocol 1.3) — the numbers registered under the ID whose
    /// holder just passed a face check.
    NumbersById(NumbersByIdQuery),
    /// 挂失 (protocol 1.3) — suspend a lost or stolen number at once. Idempotent by `txn_id`.
    LossReport(LossReport),
    /// 解挂 (protocol 1.3) — lift the loss suspension. Idempotent by `txn_id`.
    LossLift(LossLift),
    /// Face values of electronic recharge cards on sale (protocol 1.3).
    PinCatalogue(PinCatalogueQuery),
    /// 充值卡销售 (protocol 1.3) — issue an electronic recharge PIN paid in cash.
    /// Money-changing: idempotent by `txn_id`.
    PinSale(PinSale),
    /// Void a sold recharge PIN that never reached the customer (protocol 1.3).
    /// Money-changing: idempotent by `txn_id`.
    PinVoid(PinVoid),
    /// Recharge a number with a recharge PIN (protocol 1.3). Money-changing.
    PinRecharge(PinRecharge),
    /// Upload journal entries (流水上传); idempotent by `seq`.
    JournalUpload(JournalUpload),
    /// 对账 — compare the kiosk's day totals with the operator's.
    Reconcile(Reconcile),
}

impl Request {
    /// Every request `op` of this protocol version, as on the wire (the values of
    /// [`Request::op`]). A request naming another op is answered `unknown_op`.
    pub const OPS: &'static [&'static str] = &[
        "hello",
        "heartbeat",
        "subscriber_lookup",
        "auth_password",
        "sms_code_request",
        "sms_code_verify",
        "auth_id_card",
        "recharge",
        "txn_status",
        "reversal",
        "current_plan",
        "eligible_plans",
        "plan_change",
        "monthly_bill",
        "itemised_records",
        "invoice_data",
        "real_name_check",
        "face_compare",
        "plan_catalogue",
        "number_search",
        "number_reserve",
        "number_release",
        "new_sim_order",
        "sim_script",
        "activate_sim",
        "cancel_order",
        "replacement_sim",
        "real_name_reregister",
        "numbers_by_id",
        "loss_report",
        "loss_lift",
        "pin_catalogue",
        "pin_sale",
        "pin_void",
        "pin_recharge",
        "journal_upload",
        "reconcile",
    ];

    /// Whether `op` names a request of this protocol version.
    pub fn is_known_op(op: &str) -> bool {
        Self::OPS.contains(&op)
    }

    /// The wire name of the operation (`"recharge"`, …).
    pub fn op(&self) -> &'static str {
        match self {
            Request::Hello(_) => "hello",
            Request::Heartbeat(_) => "heartbeat",
            Request::SubscriberLookup(_) => "subscriber_lookup",
            Request::AuthPassword(_) => "auth_password",
            Request::SmsCodeRequest(_) => "sms_code_request",
            Request::SmsCodeVerify(_) => "sms_code_verify",
            Request::AuthIdCard(_) => "auth_id_card",
            Request::Recharge(_) => "recharge",
            Request::TxnStatus(_) => "txn_status",
            Request::Reversal(_) => "reversal",
            Request::CurrentPlan(_) => "current_plan",
            Request::EligiblePlans(_) => "eligible_plans",
            Request::PlanChange(_) => "plan_change",
            Request::MonthlyBill(_) => "monthly_bill",
            Request::ItemisedRecords(_) => "itemised_records",
            Request::InvoiceData(_) => "invoice_data",
            Request::RealNameCheck(_) => "real_name_check",
            Request::FaceCompare(_) => "face_compare",
            Request::PlanCatalogue(_) => "plan_catalogue",
            Request::NumberSearch(_) => "number_search",
            Request::NumberReserve(_) => "number_reserve",
            Request::NumberRelease(_) => "number_release",
            Request::NewSimOrder(_) => "new_sim_order",
            Request::SimScript(_) => "sim_script",
            Request::ActivateSim(_) => "activate_sim",
            Request::CancelOrder(_) => "cancel_order",
            Request::ReplacementSim(_) => "replacement_sim",
            Request::RealNameReregister(_) => "real_name_reregister",
            Request::NumbersById(_) => "numbers_by_id",
            Request::LossReport(_) => "loss_report",
            Request::LossLift(_) => "loss_lift",
            Request::PinCatalogue(_) => "pin_catalogue",
            Request::PinSale(_) => "pin_sale",
            Request::PinVoid(_) => "pin_void",
            Request::PinRecharge(_) => "pin_recharge",
            Request::JournalUpload(_) => "journal_upload",
            Request::Reconcile(_) => "reconcile",
        }
    }

    /// The idempotency key, for requests that change money or a card.
    /// Such a request must never be re-sent with a new `txn_id` after a timeout: the caller
    /// asks [`Request::TxnStatus`] first.
    pub fn txn_id(&self) -> Option<&TxnId> {
        match self {
            Request::Recharge(r) => Some(&r.txn_id),
            Request::Reversal(r) => Some(&r.txn_id),
            Request::PlanChange(r) => Some(&r.txn_id),
            Request::NewSimOrder(r) => Some(&r.txn_id),
            Request::ActivateSim(r) => Some(&r.txn_id),
            Request::CancelOrder(r) => Some(&r.txn_id),
            Request::ReplacementSim(r) => Some(&r.txn_id),
            Request::RealNameReregister(r) => Some(&r.txn_id),
            Request::LossReport(r) => Some(&r.txn_id),
            Request::LossLift(r) => Some(&r.txn_id),
            Request::PinSale(r) => Some(&r.txn_id),
            Request::PinVoid(r) => Some(&r.txn_id),
            Request::PinRecharge(r) => Some(&r.txn_id),
            _ => None,
        }
    }
}

/// `hello` — opens the session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Kiosk software name and version, e.g. `telekiosk/0.1.0`.
    pub software: String,
    /// The kiosk's clock when it sent the hello (UTC ms); the server answers with its own,
    /// so the kiosk detects clock skew.
    pub kiosk_time_ms: i64,
    /// Version of the configuration bundle the kiosk runs, if any.
    #[serde(default)]
    pub config_version: Option<u64>,
    /// Highest journal sequence number the kiosk has written (the server tells it what it
    /// already holds in its answer).
    #[serde(default)]
    pub journal_last_seq: Option<u64>,
}

/// `hello` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloOk {
    /// The kiosk id as the server read it from the client certificate.
    pub kiosk_id: String,
    /// The server's clock when it answered (UTC ms).
    pub server_time_ms: i64,
    /// How often the kiosk should send `heartbeat`.
    pub heartbeat_interval_ms: u64,
    /// The newest configuration version for this kiosk; if it differs from the kiosk's, a
    /// `config_bundle` push follows.
    #[serde(default)]
    pub config_version: Option<u64>,
    /// If head office has locked this kiosk, why (a `lock` push is also sent).
    #[serde(default)]
    pub locked: Option<Lock>,
    /// Highest journal `seq` the server already holds for this kiosk.
    #[serde(default)]
    pub journal_acked_seq: Option<u64>,
}

/// A device of the kiosk, as reported in heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeviceKind {
    /// Second-generation ID card reader (身份证阅读器).
    IdCardReader,
    /// Camera for the live photo.
    Camera,
    /// Banknote acceptor (纸币识别器).
    BillAcceptor,
    /// Card dispenser with IC station (发卡机).
    CardDispenser,
    /// Receipt printer (凭条打印机).
    ReceiptPrinter,
    /// Touchscreen / display.
    Screen,
}

/// A device's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeviceState {
    /// Working.
    Ok,
    /// Working with a warning (paper low, cash box nearly full, cards low).
    Warning,
    /// Not usable (jam, paper out, cash box full, no cards).
    Fault,
    /// Not answering / unplugged.
    Offline,
}

/// One device's line in a heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceHealth {
    /// Which device.
    pub device: DeviceKind,
    /// Its state.
    pub state: DeviceState,
    /// Short machine-readable condition (`paper_low`, `jam`, `cash_box_full`, …).
    #[serde(default)]
    pub condition: Option<String>,
}

/// Count of notes of one denomination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteCount {
    /// Face value in fen (¥100 = 10000).
    pub denomination_fen: u64,
    /// Number of notes.
    pub count: u32,
}

/// The cash box (钱箱) contents since the last clearance (清机).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CashBox {
    /// Notes by denomination.
    pub notes: Vec<NoteCount>,
    /// Sum of all notes, fen.
    pub total_fen: u64,
    /// Notes the box holds when full.
    #[serde(default)]
    pub capacity_notes: Option<u32>,
}

/// Card stock of the dispenser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CardStock {
    /// Blank SIM cards in the hopper.
    pub blank_sims: u32,
    /// Cards in the reject bin (废卡箱).
    pub reject_bin: u32,
}

/// The most recent error the kiosk saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastError {
    /// When (UTC ms).
    pub at_ms: i64,
    /// Which device, if one.
    #[serde(default)]
    pub device: Option<DeviceKind>,
    /// Short code, e.g. `bill_jam`.
    pub code: String,
    /// Human text, no personal data.
    #[serde(default)]
    pub message: String,
}

/// `heartbeat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The kiosk's clock (UTC ms).
    pub kiosk_time_ms: i64,
    /// Health of every device.
    pub devices: Vec<DeviceHealth>,
    /// Cash box contents.
    pub cash_box: CashBox,
    /// Card stock.
    pub card_stock: CardStock,
    /// Screen currently shown (`idle`, `top_up.insert_cash`, `service_mode`, …).
    pub screen: String,
    /// Last error, if any since start.
    #[serde(default)]
    pub last_error: Option<LastError>,
    /// Software name and version (`telekiosk/0.2.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software: Option<String>,
    /// Version of the configuration bundle the kiosk runs (0: its own file's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_version: Option<u64>,
    /// The kiosk's state: `starting`, `in_service`, `out_of_service`, `locked`, `closed`
    /// (outside business hours), `technician`, `stopping`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kiosk_state: Option<String>,
    /// Why it is out of service, when it is (no personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_detail: Option<String>,
}

/// `heartbeat` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatOk {
    /// The server's clock (UTC ms).
    pub server_time_ms: i64,
}

/// `subscriber_lookup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriberLookup {
    /// The number typed by the customer.
    pub msisdn: Msisdn,
}

/// State of a number (号码状态).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SubscriberStatus {
    /// In service (正常).
    Active,
    /// Stopped for arrears (欠费停机); a recharge covering the arrears restores it.
    SuspendedArrears,
    /// Stopped at the owner's request or by the operator (停机).
    Suspended,
    /// Sold but not yet activated.
    PreActive,
    /// Closed (销户).
    Cancelled,
    /// Suspended because the owner reported the SIM lost or stolen (挂失停机, protocol 1.3);
    /// lifted by `loss_lift` or by activating a replacement SIM.
    ReportedLost,
}

/// Prepaid (预付费) or postpaid (后付费).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// Balance is topped up before use.
    Prepaid,
    /// Monthly bill paid after use.
    Postpaid,
}

/// `subscriber_lookup` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscriber {
    /// The number.
    pub msisdn: Msisdn,
    /// Owner's name as the operator masks it (`*小明`); never the full name.
    pub owner_name_masked: String,
    /// Number state.
    pub status: SubscriberStatus,
    /// Prepaid or postpaid.
    pub payment: PaymentKind,
    /// Account balance, fen (may be negative).
    pub balance_fen: i64,
    /// Unpaid amount, fen (0 when none).
    pub arrears_fen: u64,
    /// Whether the owner's identity is registered (实名).
    pub real_name: bool,
}

/// Kinds of evidence an auth token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthFactor {
    /// Service password.
    Password,
    /// SMS code.
    SmsCode,
    /// Owner's ID card read on the kiosk.
    IdCard,
    /// Face comparison passed.
    Face,
}

/// `auth_password`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthPassword {
    /// The number.
    pub msisdn: Msisdn,
    /// The 6-digit service password.
    pub password: Secret,
}

/// `sms_code_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsCodeRequest {
    /// The number the code is sent to.
    pub msisdn: Msisdn,
}

/// `sms_code_request` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsCodeSent {
    /// The number.
    pub msisdn: Msisdn,
    /// When the code stops being valid (UTC ms).
    pub expires_ms: i64,
    /// Seconds before another code may be requested.
    pub resend_after_s: u32,
}

/// `sms_code_verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsCodeVerify {
    /// The number.
    pub msisdn: Msisdn,
    /// The code typed by the customer.
    pub code: Secret,
    /// A token to upgrade (password + SMS), if the customer already has one.
    #[serde(default)]
    pub token: Option<AuthToken>,
}

/// Text of a second-generation ID card (居民身份证) as read by the kiosk. `Debug` shows the
/// masked name and number and the validity only: the birth date is the part of the number
/// its mask hides, and the address, sex and ethnicity stay out of logs too.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct IdCard {
    /// Name (姓名).
    pub name: PersonalText,
    /// ID number (公民身份号码).
    pub id_number: IdNumber,
    /// Sex as printed (`男`/`女`).
    pub sex: String,
    /// Ethnicity as printed (民族).
    #[serde(default)]
    pub ethnicity: String,
    /// Birth date `YYYY-MM-DD`.
    pub birth_date: String,
    /// Address (住址).
    pub address: PersonalText,
    /// Issuing authority (签发机关).
    pub issuer: String,
    /// First day of validity `YYYY-MM-DD`.
    pub valid_from: String,
    /// Last day of validity `YYYY-MM-DD`; `None` for 长期 (no expiry).
    #[serde(default)]
    pub valid_until: Option<String>,
}

impl std::fmt::Debug for IdCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdCard")
            .field("name", &self.name)
            .field("id_number", &self.id_number)
            .field("valid_from", &self.valid_from)
            .field("valid_until", &self.valid_until)
            .finish_non_exhaustive()
    }
}

/// `auth_id_card`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthIdCard {
    /// The number.
    pub msisdn: Msisdn,
    /// The card read on the kiosk; must be the registered owner's.
    pub id: IdCard,
    /// A passed `face_compare` for this ID, when the operation needs one.
    #[serde(default)]
    pub face_check_id: Option<String>,
}

/// Answer to every authentication request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthOk {
    /// The number authenticated.
    pub msisdn: Msisdn,
    /// Token to put into later requests for this number, valid for this kiosk only.
    pub token: AuthToken,
    /// Evidence the token holds so far.
    pub factors: Vec<AuthFactor>,
    /// When the token expires (UTC ms).
    pub expires_ms: i64,
}

/// `recharge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recharge {
    /// Idempotency key.
    pub txn_id: TxnId,
    /// Number to credit.
    pub msisdn: Msisdn,
    /// Amount inserted, fen (every yuan inserted is credited; > 0).
    pub amount_fen: u64,
    /// The notes that made up the amount.
    #[serde(default)]
    pub notes: Vec<NoteCount>,
}

/// `recharge` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RechargeOk {
    /// Echo of the idempotency key.
    pub txn_id: TxnId,
    /// The operator's own reference (for the receipt).
    pub operator_ref: String,
    /// Number credited.
    pub msisdn: Msisdn,
    /// Amount credited, fen.
    pub amount_fen: u64,
    /// Balance after the credit, fen.
    pub balance_after_fen: i64,
    /// When it was committed (UTC ms).
    pub credited_at_ms: i64,
}

/// `txn_status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnStatusQuery {
    /// The transaction asked about.
    pub txn_id: TxnId,
}

/// Where a transaction stands at the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TxnState {
    /// Never received (safe to send it again with the same `txn_id`, or to abandon it).
    Unknown,
    /// Received, still being processed (ask again later).
    Pending,
    /// Done; the outcome was success.
    Committed,
    /// Done; the outcome was an error (nothing applied).
    Failed,
    /// Was committed, then reversed (冲正).
    Reversed,
}

/// `txn_status` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnStatus {
    /// The transaction.
    pub txn_id: TxnId,
    /// Its state.
    pub state: TxnState,
    /// Its operation name (`recharge`, …), when known. (Not called `op`: that key is the
    /// response's own tag.)
    #[serde(default)]
    pub txn_op: Option<String>,
    /// Amount, fen, for money operations.
    #[serde(default)]
    pub amount_fen: Option<u64>,
    /// The first outcome exactly as it was (or would have been) answered.
    #[serde(default)]
    pub outcome: Option<Box<Reply>>,
    /// If reversed: the reversal's `txn_id`.
    #[serde(default)]
    pub reversed_by: Option<TxnId>,
}

/// `reversal`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reversal {
    /// This reversal's own idempotency key.
    pub txn_id: TxnId,
    /// The transaction to undo.
    pub original_txn_id: TxnId,
    /// Why (`dispense_failed`, `customer_cancelled`, `startup_recovery`, …).
    pub reason: String,
}

/// `reversal` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReversalOk {
    /// This reversal's id.
    pub txn_id: TxnId,
    /// The undone transaction.
    pub original_txn_id: TxnId,
    /// Amount taken back, fen.
    pub amount_fen: u64,
    /// Balance afterwards, fen, when the original was a credit.
    #[serde(default)]
    pub balance_after_fen: Option<i64>,
    /// When (UTC ms).
    pub reversed_at_ms: i64,
}

/// `current_plan` and `eligible_plans`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanQuery {
    /// Token from an authentication of `msisdn`.
    pub token: AuthToken,
    /// The number.
    pub msisdn: Msisdn,
}

/// A tariff plan (套餐).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Operator's plan id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Monthly fee, fen.
    pub monthly_fee_fen: u64,
    /// Included data, MB.
    pub data_mb: u32,
    /// Included domestic voice minutes.
    pub voice_min: u32,
    /// Included SMS.
    pub sms: u32,
    /// Other features, one line each.
    #[serde(default)]
    pub features: Vec<String>,
}

/// `current_plan` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentPlan {
    /// The number.
    pub msisdn: Msisdn,
    /// The plan in force.
    pub plan: Plan,
    /// A change already ordered, taking effect at `effective_month`.
    #[serde(default)]
    pub pending: Option<PendingPlanChange>,
}

/// A plan change waiting for next month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingPlanChange {
    /// Target plan id.
    pub plan_id: String,
    /// `YYYY-MM`.
    pub effective_month: String,
}

/// `eligible_plans` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EligiblePlans {
    /// The number.
    pub msisdn: Msisdn,
    /// Plans it may change to (the current one excluded).
    pub plans: Vec<Plan>,
}

/// `plan_change`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanChange {
    /// Idempotency key.
    pub txn_id: TxnId,
    /// Token from an authentication of `msisdn`.
    pub token: AuthToken,
    /// The number.
    pub msisdn: Msisdn,
    /// Target plan id (from `eligible_plans`).
    pub plan_id: String,
}

/// `plan_change` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanChangeOk {
    /// Echo.
    pub txn_id: TxnId,
    /// The number.
    pub msisdn: Msisdn,
    /// Plan until the change.
    pub from_plan_id: String,
    /// Plan from `effective_month`.
    pub to_plan_id: String,
    /// `YYYY-MM` (next month).
    pub effective_month: String,
    /// Operator's reference.
    pub operator_ref: String,
}

/// `monthly_bill` and `invoice_data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthQuery {
    /// Token from an authentication of `msisdn`.
    pub token: AuthToken,
    /// The number.
    pub msisdn: Msisdn,
    /// `YYYY-MM`, one of the last 6 months.
    pub month: String,
}

/// A line of a bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillItem {
    /// What (`套餐月费`, `语音通话费`, …).
    pub name: String,
    /// Fen (negative for discounts).
    pub amount_fen: i64,
}

/// `monthly_bill` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyBill {
    /// The number.
    pub msisdn: Msisdn,
    /// `YYYY-MM`.
    pub month: String,
    /// Plan name in that month.
    pub plan_name: String,
    /// Lines.
    pub items: Vec<BillItem>,
    /// Sum of lines, fen.
    pub total_fen: i64,
    /// Paid so far, fen.
    pub paid_fen: i64,
    /// Still due, fen.
    pub due_fen: i64,
}

/// Which records of `itemised_records`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Voice calls.
    Call,
    /// SMS.
    Sms,
    /// Data sessions.
    Data,
    /// Everything.
    All,
}

/// `itemised_records`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemisedRecordsQuery {
    /// Token; needs password + SMS code or ID card.
    pub token: AuthToken,
    /// The number.
    pub msisdn: Msisdn,
    /// `YYYY-MM`.
    pub month: String,
    /// Which records.
    pub kind: RecordKind,
    /// Records to skip.
    #[serde(default)]
    pub offset: u32,
    /// Page size (server caps at 500).
    pub limit: u32,
}

/// One usage record (详单条目).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Start (UTC ms).
    pub at_ms: i64,
    /// Call, SMS or data (never `all`).
    pub kind: RecordKind,
    /// `true` for outgoing calls/SMS.
    #[serde(default)]
    pub outgoing: bool,
    /// Other party, already masked by the operator (`139****5678`).
    #[serde(default)]
    pub counterpart_masked: Option<String>,
    /// Call duration, seconds.
    #[serde(default)]
    pub duration_s: Option<u32>,
    /// Data volume, KB.
    #[serde(default)]
    pub volume_kb: Option<u64>,
    /// Where (city).
    #[serde(default)]
    pub location: Option<String>,
    /// Charge, fen.
    pub fee_fen: u64,
}

/// `itemised_records` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemisedRecords {
    /// The number.
    pub msisdn: Msisdn,
    /// `YYYY-MM`.
    pub month: String,
    /// Records matching the query in total (for paging).
    pub total: u32,
    /// This page.
    pub records: Vec<UsageRecord>,
}

/// A line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceItem {
    /// What.
    pub name: String,
    /// Amount including tax, fen.
    pub amount_fen: u64,
    /// VAT rate in permille (60 = 6 %).
    pub tax_rate_permille: u32,
    /// Tax included in `amount_fen`, fen.
    pub tax_fen: u64,
}

/// `invoice_data` answer (增值税电子普通发票 data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceData {
    /// The number.
    pub msisdn: Msisdn,
    /// `YYYY-MM`.
    pub month: String,
    /// Invoice number (发票号码).
    pub invoice_no: String,
    /// Invoice code (发票代码).
    pub invoice_code: String,
    /// Payer name, masked (`*小明`).
    pub payer_masked: String,
    /// Seller (the operator's company name).
    pub seller: String,
    /// Seller's tax id (纳税人识别号).
    pub seller_tax_id: String,
    /// Lines.
    pub items: Vec<InvoiceItem>,
    /// Total including tax, fen.
    pub total_fen: u64,
    /// Tax total, fen.
    pub tax_fen: u64,
    /// Issue time (UTC ms).
    pub issued_at_ms: i64,
    /// Check code (校验码).
    pub check_code: String,
}

/// `real_name_check`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealNameCheck {
    /// The applicant's card.
    pub id: IdCard,
}

/// `real_name_check` answer when every check passed (a failure is an error:
/// `id_invalid`, `id_expired`, `under_age`, `limit_reached`, `blacklisted`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealNameOk {
    /// Numbers this ID already holds with the operator.
    pub numbers_held: u32,
    /// Most numbers one ID may hold.
    pub numbers_limit: u32,
    /// Applicant's age in full years.
    pub age_years: u32,
}

/// `face_compare`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceCompare {
    /// Whose photos.
    pub id_number: IdNumber,
    /// Live photo from the kiosk camera (JPEG).
    pub live_photo: Blob,
    /// Photo decoded from the ID card chip.
    pub id_photo: Blob,
}

/// Face comparison verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceVerdict {
    /// Same person.
    Match,
    /// Not the same person.
    NoMatch,
    /// Photo unusable (no face, blurred); take another.
    PoorQuality,
}

/// `face_compare` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceResult {
    /// Reference to quote in later requests that need a passed face check.
    pub face_check_id: String,
    /// Similarity in permille (0–1000).
    pub score: u16,
    /// Score needed for `match`, permille.
    pub threshold: u16,
    /// Verdict.
    pub verdict: FaceVerdict,
}

/// `plan_catalogue` (protocol 1.2): the plans open to new subscribers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanCatalogueQuery {
    /// Only plans allowed with this pool number (a premium number needs a dearer plan).
    #[serde(default)]
    pub msisdn: Option<Msisdn>,
}

/// How a plan charges its first month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirstMonthRule {
    /// A package: joining on the 1st–15th pays the full month, from the 16th half.
    Package,
    /// Charged by the day for the days left in the month.
    ProRata,
}

/// A plan a new subscriber may choose, with what joining today costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CataloguePlan {
    /// The plan.
    pub plan: Plan,
    /// How its first month is charged.
    pub first_month_rule: FirstMonthRule,
    /// The first month's fee if the order is placed today, fen (the least prepaid amount).
    pub first_month_fee_fen: u64,
}

/// `plan_catalogue` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanCatalogue {
    /// The operator's business day the fees are for, `YYYY-MM-DD`.
    pub day: String,
    /// Plans open to new orders (and allowed with `msisdn`, if given).
    pub plans: Vec<CataloguePlan>,
}

/// `number_search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumberSearch {
    /// Leading digits, e.g. `"138"`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Digits the number must end with.
    #[serde(default)]
    pub suffix: Option<String>,
    /// Digits the number must contain.
    #[serde(default)]
    pub contains: Option<String>,
    /// At most this many results (server caps at 100).
    pub limit: u32,
}

/// A number offered from the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolNumber {
    /// The number.
    pub msisdn: Msisdn,
    /// Pool tier (`normal`, `nice` 靓号, …).
    pub tier: String,
    /// Lowest monthly plan fee allowed with it, fen.
    #[serde(default)]
    pub min_plan_fee_fen: u64,
}

/// `number_search` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumberList {
    /// Free numbers.
    pub numbers: Vec<PoolNumber>,
}

/// `number_reserve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumberReserve {
    /// The chosen number.
    pub msisdn: Msisdn,
    /// For whom (counts against the per-ID limit while held).
    pub id_number: IdNumber,
}

/// `number_reserve` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    /// Reference to quote in `new_sim_order`.
    pub reservation_id: String,
    /// The number held.
    pub msisdn: Msisdn,
    /// When the hold lapses (UTC ms).
    pub expires_ms: i64,
}

/// `number_release`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumberRelease {
    /// The hold to give back.
    pub reservation_id: String,
}

/// `number_release` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumberReleased {
    /// The hold given back.
    pub reservation_id: String,
}

/// `new_sim_order`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSimOrder {
    /// Idempotency key.
    pub txn_id: TxnId,
    /// From `number_reserve`.
    pub reservation_id: String,
    /// The reserved number.
    pub msisdn: Msisdn,
    /// Chosen plan.
    pub plan_id: String,
    /// The applicant's card (checked again).
    pub id: IdCard,
    /// A `match` from `face_compare` for this ID.
    pub face_check_id: String,
    /// Version of the service agreement the customer accepted.
    pub agreement_version: String,
    /// Card fee paid in cash, fen.
    pub card_fee_fen: u64,
    /// First prepaid amount paid in cash, fen.
    pub prepaid_fen: u64,
}

/// `new_sim_order` and `replacement_sim` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimOrder {
    /// Echo.
    pub txn_id: TxnId,
    /// Reference for `sim_script`, `activate_sim`, `cancel_order`.
    pub order_id: String,
    /// The number.
    pub msisdn: Msisdn,
    /// Card fee, fen.
    pub card_fee_fen: u64,
    /// Prepaid amount to be credited at activation, fen.
    pub prepaid_fen: u64,
    /// First month's plan fee charged at activation (1st–15th full, 16th on half), fen.
    #[serde(default)]
    pub first_month_fee_fen: u64,
}

/// `sim_script`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimScriptQuery {
    /// The order.
    pub order_id: String,
    /// ICCID read from the blank card (20 digits).
    pub iccid: String,
}

/// One APDU of a personalisation script; opaque to the kiosk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApduStep {
    /// Command APDU (hex).
    pub apdu: HexBytes,
    /// Status words that mean success; any other stops the script.
    pub expect_sw: Vec<Sw>,
}

/// `sim_script` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimScript {
    /// The order.
    pub order_id: String,
    /// The card.
    pub iccid: String,
    /// Reference to quote in `activate_sim`.
    pub script_id: String,
    /// Steps in order.
    pub steps: Vec<ApduStep>,
}

/// What happened when the kiosk ran a script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptResult {
    /// All steps ran with an expected status word.
    pub completed: bool,
    /// Steps run (including a failed last one).
    pub steps_run: u32,
    /// Status word of the last step run.
    #[serde(default)]
    pub last_sw: Option<Sw>,
}

/// `activate_sim`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivateSim {
    /// Idempotency key.
    pub txn_id: TxnId,
    /// The order.
    pub order_id: String,
    /// The written card.
    pub iccid: String,
    /// The script run.
    pub script_id: String,
    /// Its result (must be `completed`).
    pub result: ScriptResult,
}

/// `activate_sim` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activated {
    /// Echo.
    pub txn_id: TxnId,
    /// The order.
    pub order_id: String,
    /// The number now live.
    pub msisdn: Msisdn,
    /// The card now live.
    pub iccid: String,
    /// For a replacement: the old card's ICCID, now invalid.
    #[serde(default)]
    pub invalidated_iccid: Option<String>,
    /// Balance after the prepaid credit and first-month fee, fen.
    pub balance_fen: i64,
    /// When (UTC ms).
    pub activated_at_ms: i64,
}

/// `cancel_order`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelOrder {
    /// This cancellation's idempotency key.
    pub txn_id: TxnId,
    /// The order to cancel (not yet activated).
    pub order_id: String,
    /// Why (`card_write_failed`, `customer_left`, …).
    pub reason: String,
}

/// `cancel_order` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// Echo.
    pub txn_id: TxnId,
    /// The cancelled order.
    pub order_id: String,
    /// Cash the customer paid that must be returned (refund voucher), fen.
    pub refund_due_fen: u64,
}

/// `replacement_sim`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplacementSim {
    /// Idempotency key.
    pub txn_id: TxnId,
    /// Token from `auth_id_card` of the owner.
    pub token: AuthToken,
    /// The number.
    pub msisdn: Msisdn,
    /// A `match` from `face_compare` for the owner.
    pub face_check_id: String,
    /// Replacement fee paid, fen.
    pub fee_fen: u64,
}

/// `real_name_reregister`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealNameReregister {
    /// Idempotency key.
    pub txn_id: TxnId,
    /// Token from an authentication of `msisdn` (service password or SMS code).
    pub token: AuthToken,
    /// The number.
    pub msisdn: Msisdn,
    /// The holder's card.
    pub id: IdCard,
    /// A `match` from `face_compare` for this ID.
    pub face_check_id: String,
}

/// `real_name_reregister` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reregistered {
    /// Echo.
    pub txn_id: TxnId,
    /// The number.
    pub msisdn: Msisdn,
    /// When (UTC ms).
    pub registered_at_ms: i64,
}

/// `numbers_by_id` (protocol 1.3): the ID's holder proved who they are with the card and a
/// live photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumbersByIdQuery {
    /// The ID number read from the card.
    pub id_number: IdNumber,
    /// A `match` from `face_compare` for this ID number.
    pub face_check_id: String,
}

/// One number registered under an ID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldNumber {
    /// The number (the kiosk masks it everywhere it shows it).
    pub msisdn: Msisdn,
    /// Its state.
    pub status: SubscriberStatus,
    /// Prepaid or postpaid.
    pub payment: PaymentKind,
    /// The day it was opened or registered to this ID, `"YYYY-MM-DD"`.
    pub opened_on: String,
}

/// `numbers_by_id` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumbersById {
    /// Every number registered under the ID at this operator, closed ones included, oldest
    /// first.
    pub numbers: Vec<HeldNumber>,
    /// Most numbers one ID may hold (一证五号).
    pub numbers_limit: u32,
}

/// `loss_report` (挂失).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossReport {
    /// Idempotency key.
    pub txn_id: TxnId,
    /// Token for `msisdn` carrying the owner's ID card and a passed face check, or the
    /// service password and an SMS code.
    pub token: AuthToken,
    /// The number to suspend.
    pub msisdn: Msisdn,
}

/// `loss_report` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossReported {
    /// Echo.
    pub txn_id: TxnId,
    /// The number, now `reported_lost`.
    pub msisdn: Msisdn,
    /// When the suspension took effect (UTC ms).
    pub suspended_at_ms: i64,
}

/// `loss_lift` (解挂).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossLift {
    /// Idempotency key.
    pub txn_id: TxnId,
    /// Token for `msisdn`, with the same proofs as `loss_report`.
    pub token: AuthToken,
    /// The number to restore.
    pub msisdn: Msisdn,
}

/// `loss_lift` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossLifted {
    /// Echo.
    pub txn_id: TxnId,
    /// The number.
    pub msisdn: Msisdn,
    /// Its state now: the one it had before the report — `active`; `suspended_arrears` if
    /// it was stopped for arrears and still owes; `suspended` if the owner had suspended it.
    pub status: SubscriberStatus,
    /// When (UTC ms).
    pub resumed_at_ms: i64,
}

/// `pin_catalogue` (protocol 1.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PinCatalogueQuery {}

/// `pin_catalogue` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinCatalogue {
    /// Face values on sale, fen, ascending.
    pub face_values_fen: Vec<u64>,
    /// How long a PIN sold today stays valid, days.
    pub valid_days: u32,
}

/// `pin_sale` (充值卡销售).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinSale {
    /// Idempotency key.
    pub txn_id: TxnId,
    /// Face value, fen (one of the catalogue's).
    pub face_fen: u64,
}

/// `pin_sale` answer. The PIN is a [`Secret`]: the kiosk prints it and keeps it nowhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinSold {
    /// Echo.
    pub txn_id: TxnId,
    /// The card's serial number (not secret; voids and enquiries quote it).
    pub serial: String,
    /// The recharge PIN (充值密码).
    pub pin: Secret,
    /// Face value, fen.
    pub face_fen: u64,
    /// Last day it can be redeemed, `"YYYY-MM-DD"`.
    pub expires_on: String,
}

/// `pin_void`: a PIN the customer never got (its print failed, or the kiosk stopped before
/// printing it). Voiding a sale the operator never received is answered with
/// `serial: None` and bars that `sale_txn_id` from being sold later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinVoid {
    /// This void's own idempotency key.
    pub txn_id: TxnId,
    /// The sale to void.
    pub sale_txn_id: TxnId,
    /// Its serial, when the kiosk knows it (must then match).
    #[serde(default)]
    pub serial: Option<String>,
    /// Why (`print_failed`, `kiosk_restarted`, …).
    pub reason: String,
}

/// `pin_void` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinVoided {
    /// Echo.
    pub txn_id: TxnId,
    /// The sale.
    pub sale_txn_id: TxnId,
    /// The voided PIN's serial; `None` when the sale had never been received.
    #[serde(default)]
    pub serial: Option<String>,
    /// What the customer paid for it and is owed back, fen (0 when nothing was sold).
    pub refund_due_fen: u64,
}

/// `pin_recharge` (充值卡充值): credit a number with a PIN. Errors `pin_invalid` (unknown,
/// voided or already used) and `pin_expired`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinRecharge {
    /// Idempotency key.
    pub txn_id: TxnId,
    /// The number to credit.
    pub msisdn: Msisdn,
    /// The PIN.
    pub pin: Secret,
}

/// `pin_recharge` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinRecharged {
    /// Echo.
    pub txn_id: TxnId,
    /// The number credited.
    pub msisdn: Msisdn,
    /// The PIN's serial.
    pub serial: String,
    /// Amount credited, fen.
    pub amount_fen: u64,
    /// Balance after, fen.
    pub balance_fen: i64,
}

/// One journal entry (流水).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Kiosk-wide increasing sequence number.
    pub seq: u64,
    /// The transaction.
    pub txn_id: TxnId,
    /// When (UTC ms).
    pub at_ms: i64,
    /// Operation name (`recharge`, `new_sim_order`, `cash_box_clearance`, …).
    pub op: String,
    /// The number concerned.
    #[serde(default)]
    pub msisdn: Option<Msisdn>,
    /// Amount, fen.
    #[serde(default)]
    pub amount_fen: u64,
    /// Outcome as the kiosk knows it.
    pub state: TxnState,
    /// Short detail without personal data.
    #[serde(default)]
    pub detail: Option<String>,
}

/// `journal_upload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalUpload {
    /// Entries in `seq` order (at most 500 per upload).
    pub entries: Vec<JournalEntry>,
}

/// `journal_upload` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalAccepted {
    /// Entries newly stored (repeats are not counted).
    pub accepted: u32,
    /// Highest `seq` the server now holds for this kiosk.
    pub acked_seq: u64,
}

/// Totals of one operation for a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpTotal {
    /// Operation name.
    pub op: String,
    /// Committed transactions.
    pub count: u32,
    /// Their amount, fen.
    pub amount_fen: u64,
}

/// Day totals of one side.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DayTotals {
    /// Committed transactions.
    pub count: u32,
    /// Their amount, fen.
    pub amount_fen: u64,
    /// Split by operation.
    #[serde(default)]
    pub by_op: Vec<OpTotal>,
}

/// One transaction as the kiosk has it, for reconciliation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconTxn {
    /// The transaction.
    pub txn_id: TxnId,
    /// Operation name.
    pub op: String,
    /// Amount, fen.
    pub amount_fen: u64,
    /// Final state at the kiosk.
    pub state: TxnState,
}

/// `reconcile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconcile {
    /// Business day `YYYY-MM-DD` (Beijing time).
    pub day: String,
    /// Kiosk's totals of committed transactions.
    pub totals: DayTotals,
    /// Every money-changing transaction of the day at the kiosk.
    pub txns: Vec<ReconTxn>,
}

/// Kind of a reconciliation difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MismatchKind {
    /// The kiosk has it, the operator does not.
    MissingAtOperator,
    /// The operator has it, the kiosk does not.
    MissingAtKiosk,
    /// Both have it with different amounts.
    AmountDiffers,
    /// Both have it in different states.
    StateDiffers,
}

/// One difference (差异).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mismatch {
    /// The transaction.
    pub txn_id: TxnId,
    /// What differs.
    pub kind: MismatchKind,
    /// Operation name.
    pub op: String,
    /// Kiosk's amount, fen.
    #[serde(default)]
    pub kiosk_amount_fen: Option<u64>,
    /// Operator's amount, fen.
    #[serde(default)]
    pub operator_amount_fen: Option<u64>,
    /// Kiosk's state.
    #[serde(default)]
    pub kiosk_state: Option<TxnState>,
    /// Operator's state.
    #[serde(default)]
    pub operator_state: Option<TxnState>,
}

/// `reconcile` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// The day.
    pub day: String,
    /// Kiosk totals as sent.
    pub kiosk: DayTotals,
    /// Operator's totals for this kiosk.
    pub operator: DayTotals,
    /// `true` when there are no mismatches.
    pub balanced: bool,
    /// Every difference.
    pub mismatches: Vec<Mismatch>,
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// A successful answer; `op` names the request it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Response {
    /// to `hello`
    Hello(HelloOk),
    /// to `heartbeat`
    Heartbeat(HeartbeatOk),
    /// to `subscriber_lookup`
    SubscriberLookup(Subscriber),
    /// to `auth_password`
    AuthPassword(AuthOk),
    /// to `sms_code_request`
    SmsCodeRequest(SmsCodeSent),
    /// to `sms_code_verify`
    SmsCodeVerify(AuthOk),
    /// to `auth_id_card`
    AuthIdCard(AuthOk),
    /// to `recharge`
    Recharge(RechargeOk),
    /// to `txn_status`
    TxnStatus(TxnStatus),
    /// to `reversal`
    Reversal(ReversalOk),
    /// to `current_plan`
    CurrentPlan(CurrentPlan),
    /// to `eligible_plans`
    EligiblePlans(EligiblePlans),
    /// to `plan_change`
    PlanChange(PlanChangeOk),
    /// to `monthly_bill`
    MonthlyBill(MonthlyBill),
    /// to `itemised_records`
    ItemisedRecords(ItemisedRecords),
    /// to `invoice_data`
    InvoiceData(InvoiceData),
    /// to `real_name_check`
    RealNameCheck(RealNameOk),
    /// to `face_compare`
    FaceCompare(FaceResult),
    /// to `plan_catalogue`
    PlanCatalogue(PlanCatalogue),
    /// to `number_search`
    NumberSearch(NumberList),
    /// to `number_reserve`
    NumberReserve(Reservation),
    /// to `number_release`
    NumberRelease(NumberReleased),
    /// to `new_sim_order`
    NewSimOrder(SimOrder),
    /// to `sim_script`
    SimScript(SimScript),
    /// to `activate_sim`
    ActivateSim(Activated),
    /// to `cancel_order`
    CancelOrder(OrderCancelled),
    /// to `replacement_sim`
    ReplacementSim(SimOrder),
    /// to `real_name_reregister`
    RealNameReregister(Reregistered),
    /// to `numbers_by_id`
    NumbersById(NumbersById),
    /// to `loss_report`
    LossReport(LossReported),
    /// to `loss_lift`
    LossLift(LossLifted),
    /// to `pin_catalogue`
    PinCatalogue(PinCatalogue),
    /// to `pin_sale`
    PinSale(PinSold),
    /// to `pin_void`
    PinVoid(PinVoided),
    /// to `pin_recharge`
    PinRecharge(PinRecharged),
    /// to `journal_upload`
    JournalUpload(JournalAccepted),
    /// to `reconcile`
    Reconcile(Reconciliation),
}

impl Response {
    /// The wire name of the operation answered.
    pub fn op(&self) -> &'static str {
        match self {
            Response::Hello(_) => "hello",
            Response::Heartbeat(_) => "heartbeat",
            Response::SubscriberLookup(_) => "subscriber_lookup",
            Response::AuthPassword(_) => "auth_password",
            Response::SmsCodeRequest(_) => "sms_code_request",
            Response::SmsCodeVerify(_) => "sms_code_verify",
            Response::AuthIdCard(_) => "auth_id_card",
            Response::Recharge(_) => "recharge",
            Response::TxnStatus(_) => "txn_status",
            Response::Reversal(_) => "reversal",
            Response::CurrentPlan(_) => "current_plan",
            Response::EligiblePlans(_) => "eligible_plans",
            Response::PlanChange(_) => "plan_change",
            Response::MonthlyBill(_) => "monthly_bill",
            Response::ItemisedRecords(_) => "itemised_records",
            Response::InvoiceData(_) => "invoice_data",
            Response::RealNameCheck(_) => "real_name_check",
            Response::FaceCompare(_) => "face_compare",
            Response::PlanCatalogue(_) => "plan_catalogue",
            Response::NumberSearch(_) => "number_search",
            Response::NumberReserve(_) => "number_reserve",
            Response::NumberRelease(_) => "number_release",
            Response::NewSimOrder(_) => "new_sim_order",
            Response::SimScript(_) => "sim_script",
            Response::ActivateSim(_) => "activate_sim",
            Response::CancelOrder(_) => "cancel_order",
            Response::ReplacementSim(_) => "replacement_sim",
            Response::RealNameReregister(_) => "real_name_reregister",
            Response::NumbersById(_) => "numbers_by_id",
            Response::LossReport(_) => "loss_report",
            Response::LossLift(_) => "loss_lift",
            Response::PinCatalogue(_) => "pin_catalogue",
            Response::PinSale(_) => "pin_sale",
            Response::PinVoid(_) => "pin_void",
            Response::PinRecharge(_) => "pin_recharge",
            Response::JournalUpload(_) => "journal_upload",
            Response::Reconcile(_) => "reconcile",
        }
    }
}

/// The body of a `response` envelope: either `{"ok": {...}}` or `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The operation succeeded.
    Ok(Response),
    /// The operation failed; nothing was applied.
    Error(crate::error::ErrorBody),
}

// ---------------------------------------------------------------------------------------------
// Pushes (business system → kiosk) and acknowledgements
// ---------------------------------------------------------------------------------------------

/// A message the business system sends on its own; the kiosk answers each with an `ack`
/// carrying the push's `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Push {
    /// A new configuration bundle (prices, limits, timeouts, banners, switches …).
    ConfigBundle(ConfigBundle),
    /// Take the kiosk out of service (finish the current customer first).
    Lock(Lock),
    /// Put the kiosk back into service.
    Unlock(Unlock),
    /// Collect and return diagnostics in the ack.
    DiagnosticsRequest(DiagnosticsRequest),
}

impl Push {
    /// The wire name of the push.
    pub fn op(&self) -> &'static str {
        match self {
            Push::ConfigBundle(_) => "config_bundle",
            Push::Lock(_) => "lock",
            Push::Unlock(_) => "unlock",
            Push::DiagnosticsRequest(_) => "diagnostics_request",
        }
    }
}

/// `config_bundle` push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigBundle {
    /// Increasing version; the kiosk ignores (and acks) versions not above its own.
    pub version: u64,
    /// The configuration document (schema in docs/config.md), opaque to this protocol.
    pub config: serde_json::Value,
    /// Head office's ed25519 signature over the version and the document (base64; how it
    /// is computed: docs/boss-protocol.md §8). A kiosk rejects an unsigned bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// `lock` push (and `locked` in the hello answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    /// Why (for the technician and the log).
    pub reason: String,
    /// Text for the out-of-service screen, if head office set one.
    #[serde(default)]
    pub message: Option<String>,
}

/// `unlock` push.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Unlock {}

/// `diagnostics_request` push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticsRequest {
    /// What to collect: `devices`, `counters`, `errors`, `versions`, `log_tail`.
    pub items: Vec<String>,
}

/// How the kiosk handled a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckOutcome {
    /// Done (configuration applied, kiosk locked/unlocked, diagnostics attached).
    Applied,
    /// Accepted; takes effect when the current customer is finished.
    Deferred,
    /// Refused (e.g. invalid configuration); `message` says why.
    Rejected,
}

/// The body of an `ack` envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    /// The push's op, echoed.
    pub op: String,
    /// Outcome.
    pub outcome: AckOutcome,
    /// Explanation for `deferred`/`rejected`.
    #[serde(default)]
    pub message: Option<String>,
    /// For `diagnostics_request`: the collected report (free-form JSON object, no personal data).
    #[serde(default)]
    pub diagnostics: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_requests_with_an_id_card_shows_no_personal_data() {
        let id = IdCard {
            name: PersonalText::new("王小明"),
            id_number: IdNumber::new("42010619900101123X"),
            sex: "男".into(),
            ethnicity: "汉".into(),
            birth_date: "1990-01-01".into(),
            address: PersonalText::new("湖北省武汉市洪山区珞喻路1号"),
            issuer: "武汉市公安局洪山分局".into(),
            valid_from: "2015-01-01".into(),
            valid_until: Some("2035-01-01".into()),
        };
        let request = Request::AuthIdCard(AuthIdCard {
            msisdn: Msisdn::new("13812341234"),
            id: id.clone(),
            face_check_id: None,
        });
        let shown = format!("{request:?} {request:#?}");
        for secret in [
            "王小明",
            "42010619900101123X",
            "1990-01-01",
            "19900101",
            "珞喻路",
            "洪山",
            "13812341234",
        ] {
            assert!(!shown.contains(secret), "{secret}: {shown}");
        }
        assert!(shown.contains("420106********123X"), "{shown}");
        assert!(shown.contains("王**"), "{shown}");
        // The wire still carries everything.
        let json = serde_json::to_string(&id).unwrap();
        assert!(json.contains("42010619900101123X") && json.contains("1990-01-01"));
    }
}
