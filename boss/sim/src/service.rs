//! The business system's request handling: one [`Request`] in, one [`Reply`] out, against
//! the [`Store`]. No sockets here; the TLS server and the tests call [`Service::handle`].
//!
//! Money and card operations run through [`Store::idempotent`] keyed by (kiosk id, txn id):
//! the reply — success or business refusal — is stored with the change, and a repeat gets
//! the stored reply. Requests refused before any business decision (authentication missing,
//! malformed, injected faults) are not stored: nothing happened, so they may be sent again.

// Early refusals are returned as the `Reply` itself, which is as large as any answer;
// boxing it on the error path buys nothing (same reasoning as `large_enum_variant`).
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use boss_protocol::{
    ActivateSim, Activated, AuthFactor, AuthIdCard, AuthOk, AuthPassword, AuthToken, BillItem,
    CancelOrder, CurrentPlan, DayTotals, EligiblePlans, ErrorBody, ErrorCode, FaceCompare,
    FaceResult, FaceVerdict, HeartbeatOk, HeldNumber as WireHeld, Hello, HelloOk, IdCard,
    InvoiceData, InvoiceItem, ItemisedRecords, ItemisedRecordsQuery, LossLift, LossLifted,
    LossReport, LossReported, MonthQuery, MonthlyBill, Msisdn, NewSimOrder, NumberList,
    NumberRelease, NumberReleased, NumberReserve, NumberSearch, NumbersById, NumbersByIdQuery,
    OpTotal, OrderCancelled, PaymentKind, PendingPlanChange, PinCatalogue, PinRecharge,
    PinRecharged, PinSale, PinSold, PinVoid, PinVoided, Plan as WirePlan, PlanChange, PlanChangeOk,
    PlanQuery, RealNameCheck, RealNameOk, RealNameReregister, Recharge, RechargeOk, Reconcile,
    Reconciliation as WireRecon, RecordKind, ReplacementSim, Reply, Request, Reregistered,
    Reservation, Response, Reversal, ReversalOk, Secret, SimOrder, SimScript, SimScriptQuery,
    SmsCodeRequest, SmsCodeSent, SmsCodeVerify, Subscriber as WireSubscriber, SubscriberLookup,
    SubscriberStatus as WireStatus, TxnId, TxnState, TxnStatus, TxnStatusQuery,
    UsageRecord as WireUsage,
};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::clock::{Clock, format_date, parse_date};
use crate::console::yuan;
use crate::rules::{self, ApplicantRecord, NUMBERS_PER_ID, Refusal};
use crate::simcard;
use crate::store::{
    self, Applied, Outcome, ReconEntry, Store, StoreError, Subscriber, SubscriberStatus,
};

/// How long an authentication token lives.
pub const TOKEN_TTL_MS: i64 = 15 * 60 * 1000;
/// How long an SMS code is valid.
pub const SMS_CODE_TTL_MS: i64 = 5 * 60 * 1000;
/// Seconds before another SMS code may be requested.
pub const SMS_RESEND_S: u32 = 60;
/// How long a number reservation (预占) holds.
pub const RESERVATION_TTL_MS: i64 = 15 * 60 * 1000;
/// Face-comparison threshold, permille.
pub const FACE_THRESHOLD: u16 = 700;
/// Largest single recharge accepted, fen (¥5000).
pub const MAX_RECHARGE_FEN: u64 = 500_000;
/// Wrong passwords in a row before the number's password is locked for the day.
pub const MAX_PASSWORD_FAILURES: u32 = 5;
/// A hello whose kiosk clock is further off than this is refused (docs/boss-protocol.md §4).
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;
/// Heartbeat interval asked of kiosks.
pub const HEARTBEAT_INTERVAL_MS: u64 = 30_000;

const CST: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// A pool row: state, holder, reservation id, held until.
type PoolRow = (String, Option<String>, Option<String>, Option<i64>);
/// A pool row: state, holder, held until, reservation id.
type PoolHold = (String, Option<String>, Option<i64>, Option<String>);

/// Reply plus what the transport needs to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    /// What to answer.
    pub reply: Reply,
    /// A money or card change was committed by this very request (not a replay): the
    /// drop-after-commit fault applies to these.
    pub committed_now: bool,
}

impl Handled {
    fn plain(reply: Reply) -> Self {
        Self {
            reply,
            committed_now: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kiosk: String,
    msisdn: String,
    factors: Vec<AuthFactor>,
    expires_ms: i64,
}

#[derive(Debug, Clone)]
struct FaceCheck {
    kiosk: String,
    id_number: String,
    verdict: FaceVerdict,
    expires_ms: i64,
}

#[derive(Debug, Default)]
struct Sessions {
    tokens: HashMap<String, Token>,
    faces: HashMap<String, FaceCheck>,
    /// Wrong service passwords in a row per number, and when the count lapses (the end of
    /// the Beijing day of the last one): five lock password authentication until then.
    password_failures: HashMap<String, (u32, i64)>,
}

/// The business system.
#[derive(Debug)]
pub struct Service {
    store: Store,
    clock: Clock,
    sessions: Mutex<Sessions>,
    counter: AtomicU64,
    salt: u64,
}

fn err(code: ErrorCode, message: impl Into<String>) -> Reply {
    Reply::Error(ErrorBody::new(code, message))
}

/// Password authentication locked for the number until `until_ms` (the day's end).
fn password_locked(until_ms: i64) -> Reply {
    Reply::Error(ErrorBody {
        locked_until_ms: Some(until_ms),
        ..ErrorBody::new(
            ErrorCode::AuthLocked,
            "服务密码连续输错5次，今日已锁定，请用身份证验证或到柜台办理",
        )
    })
}

/// The first instant (UTC ms) of the Beijing day after the one `ms` falls in.
fn end_of_day_ms(ms: i64) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    const CST_MS: i64 = 8 * 3_600_000;
    (ms + CST_MS).div_euclid(DAY_MS) * DAY_MS + DAY_MS - CST_MS
}

fn refusal_code(r: &Refusal) -> ErrorCode {
    match r {
        Refusal::BillingPeriod { .. } => ErrorCode::FrozenPeriod,
        Refusal::Arrears { .. } => ErrorCode::Arrears,
        Refusal::IdExpired => ErrorCode::IdExpired,
        Refusal::UnderAge { .. } => ErrorCode::UnderAge,
        Refusal::NumberLimitReached { .. } => ErrorCode::LimitReached,
        Refusal::Blacklisted => ErrorCode::Blacklisted,
        _ => ErrorCode::IdInvalid,
    }
}

fn refuse(r: &Refusal) -> Reply {
    err(refusal_code(r), r.message_zh())
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v.max(0)).unwrap_or(0)
}

fn wire_status(s: SubscriberStatus) -> WireStatus {
    match s {
        SubscriberStatus::Active => WireStatus::Active,
        SubscriberStatus::SuspendedArrears => WireStatus::SuspendedArrears,
        SubscriberStatus::SuspendedByOwner => WireStatus::Suspended,
        SubscriberStatus::ReportedLost => WireStatus::ReportedLost,
        SubscriberStatus::Closed => WireStatus::Cancelled,
    }
}

/// The least monthly fee a plan needs to go with a pool number of this premium, fen.
fn min_plan_fee(premium_fen: i64) -> i64 {
    match premium_fen {
        p if p >= 100_000 => 12_800,
        p if p > 0 => 5_800,
        _ => 0,
    }
}

fn wire_plan(p: &store::Plan) -> WirePlan {
    let mut features = Vec::new();
    if p.kind == rules::PlanKind::ProRata {
        features.push("首月月费按天折算".to_owned());
    } else {
        features.push("首月1–15日入网收全月、16日起收半月".to_owned());
    }
    WirePlan {
        id: p.code.clone(),
        name: p.name.clone(),
        monthly_fee_fen: to_u64(p.monthly_fee_fen),
        data_mb: p.data_mb,
        voice_min: p.voice_min,
        sms: p.sms,
        features,
    }
}

fn state_of(s: &str) -> TxnState {
    match s {
        "done" => TxnState::Committed,
        "refused" => TxnState::Failed,
        "reversed" => TxnState::Reversed,
        _ => TxnState::Pending,
    }
}

fn state_name(s: TxnState) -> &'static str {
    match s {
        TxnState::Committed => "done",
        TxnState::Failed => "refused",
        TxnState::Reversed => "reversed",
        TxnState::Unknown => "unknown",
        _ => "pending",
    }
}

/// Business day (Beijing time) of a UTC-ms instant.
#[must_use]
pub fn day_of_ms(ms: i64) -> Option<Date> {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .map(|t| t.to_offset(CST).date())
}

fn month_key(d: Date) -> String {
    format!("{:04}-{:02}", d.year(), u8::from(d.month()))
}

fn parse_cst(s: &str) -> Option<i64> {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let t = PrimitiveDateTime::parse(s, f).ok()?.assume_offset(CST);
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A request's content fingerprint for idempotency: its JSON without the auth token (a retry
/// after reconnecting may carry a fresh token for the same operation), and with a recharge
/// PIN replaced by a digest of it, so the ledger never holds a PIN someone typed.
fn fingerprint<T: Serialize>(req: &T) -> String {
    match serde_json::to_value(req) {
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                o.remove("token");
                if let Some(pin) = o.get_mut("pin") {
                    let digest = format!("fnv:{:016x}", fnv(pin.as_str().unwrap_or_default()));
                    *pin = serde_json::Value::String(digest);
                }
            }
            v.to_string()
        }
        Err(_) => String::new(),
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What the store knows about an applicant's ID.
fn applicant_record(
    tx: &rusqlite::Connection,
    id: &str,
    now_ms: i64,
) -> Result<ApplicantRecord, StoreError> {
    let subs: i64 = tx.query_row(
        "SELECT COUNT(*) FROM subscribers WHERE id_number=?1 AND status<>'closed'",
        [id],
        |r| r.get(0),
    )?;
    let elsewhere: i64 = tx
        .query_row(
            "SELECT numbers_elsewhere FROM id_registry WHERE id_number=?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let pending: i64 = tx.query_row(
        "SELECT COUNT(*) FROM orders WHERE id_number=?1 AND kind='new' AND state='ordered'",
        [id],
        |r| r.get(0),
    )?;
    let held: i64 = tx.query_row(
        "SELECT COUNT(*) FROM number_pool p WHERE state='reserved' AND reserved_until>?2 \
         AND reserved_by LIKE '%|' || ?1 AND NOT EXISTS (SELECT 1 FROM orders o \
         WHERE o.reservation_id=p.reservation_id)",
        params![id, now_ms],
        |r| r.get(0),
    )?;
    let blacklisted = tx
        .query_row("SELECT 1 FROM blacklist WHERE id_number=?1", [id], |r| {
            r.get::<_, i64>(0)
        })
        .optional()?
        .is_some();
    Ok(ApplicantRecord {
        numbers_held: u32::try_from(subs + elsewhere + pending + held).unwrap_or(u32::MAX),
        blacklisted,
    })
}

impl Service {
    /// A business system over `store`, dating business by `clock`.
    #[must_use]
    pub fn new(store: Store, clock: Clock) -> Self {
        let salt =
            u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() & i128::from(u64::MAX))
                .unwrap_or(0);
        Self {
            store,
            clock,
            sessions: Mutex::new(Sessions::default()),
            counter: AtomicU64::new(1),
            salt,
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The business clock.
    #[must_use]
    pub fn clock(&self) -> Clock {
        self.clock
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
    }

    fn today(&self) -> Date {
        self.clock.today()
    }

    fn random(&self) -> u64 {
        splitmix(
            self.salt
                ^ self
                    .counter
                    .fetch_add(1, Ordering::Relaxed)
                    .wrapping_mul(0x2545_F491_4F6C_DD1D),
        )
    }

    fn reference(&self, prefix: &str) -> String {
        let today = self.today();
        format!(
            "{prefix}{:04}{:02}{:02}{:010}",
            today.year(),
            u8::from(today.month()),
            today.day(),
            self.random() % 10_000_000_000
        )
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answers one request from `kiosk_id` (taken from its certificate).
    pub fn handle(&self, kiosk_id: &str, req: Request) -> Handled {
        match self.dispatch(kiosk_id, req) {
            Ok(h) => h,
            Err(StoreError::TxnConflict { txn_id }) => Handled::plain(err(
                ErrorCode::TxnConflict,
                format!("交易流水号 {txn_id} 已用于另一笔不同的请求"),
            )),
            Err(e) => {
                tracing::error!(error = %e, "store failure");
                Handled::plain(Reply::Error(ErrorBody {
                    code: ErrorCode::Internal,
                    message: "business system internal error; nothing was applied".into(),
                    retry_after_ms: Some(1000),
                    tries_left: None,
                    locked_until_ms: None,
                }))
            }
        }
    }

    fn dispatch(&self, kiosk: &str, req: Request) -> Result<Handled, StoreError> {
        let ok = |r: Response| Ok(Handled::plain(Reply::Ok(r)));
        match req {
            Request::Hello(h) => {
                let skew = self.now_ms() - h.kiosk_time_ms;
                if skew.abs() > MAX_CLOCK_SKEW_MS {
                    tracing::warn!(kiosk, skew_ms = skew, "hello refused: kiosk clock off");
                    return Ok(Handled::plain(err(
                        ErrorCode::BadRequest,
                        format!(
                            "终端时钟与业务系统相差{}秒，超过5分钟，请技术员校准时钟（NTP）",
                            skew / 1000
                        ),
                    )));
                }
                ok(Response::Hello(self.hello(kiosk, &h)))
            }
            // The session's keep-alive: the operator records nothing of it (a kiosk's health
            // is head office's, at the self-service system server).
            Request::Heartbeat(_) => ok(Response::Heartbeat(HeartbeatOk {
                server_time_ms: self.now_ms(),
            })),
            Request::SubscriberLookup(q) => Ok(Handled::plain(self.lookup(&q)?)),
            Request::AuthPassword(a) => Ok(Handled::plain(self.auth_password(kiosk, &a)?)),
            Request::SmsCodeRequest(q) => Ok(Handled::plain(self.sms_code_request(&q)?)),
            Request::SmsCodeVerify(q) => Ok(Handled::plain(self.sms_code_verify(kiosk, &q)?)),
            Request::AuthIdCard(a) => Ok(Handled::plain(self.auth_id_card(kiosk, &a)?)),
            Request::Recharge(r) => self.recharge(kiosk, &r),
            Request::TxnStatus(q) => Ok(Handled::plain(self.txn_status(kiosk, &q)?)),
            Request::Reversal(r) => self.reversal(kiosk, &r),
            Request::CurrentPlan(q) => Ok(Handled::plain(self.current_plan(kiosk, &q)?)),
            Request::EligiblePlans(q) => Ok(Handled::plain(self.eligible_plans(kiosk, &q)?)),
            Request::PlanChange(r) => self.plan_change(kiosk, &r),
            Request::MonthlyBill(q) => Ok(Handled::plain(self.monthly_bill(kiosk, &q)?)),
            Request::ItemisedRecords(q) => Ok(Handled::plain(self.itemised(kiosk, &q)?)),
            Request::InvoiceData(q) => Ok(Handled::plain(self.invoice(kiosk, &q)?)),
            Request::RealNameCheck(q) => Ok(Handled::plain(self.real_name_check(&q)?)),
            Request::FaceCompare(q) => Ok(Handled::plain(self.face_compare(kiosk, &q))),
            Request::PlanCatalogue(q) => Ok(Handled::plain(self.plan_catalogue(&q)?)),
            Request::NumberSearch(q) => Ok(Handled::plain(self.number_search(&q)?)),
            Request::NumberReserve(q) => Ok(Handled::plain(self.number_reserve(kiosk, &q)?)),
            Request::NumberRelease(q) => Ok(Handled::plain(self.number_release(kiosk, &q)?)),
            Request::NewSimOrder(r) => self.new_sim_order(kiosk, &r),
            Request::SimScript(q) => Ok(Handled::plain(self.sim_script(kiosk, &q)?)),
            Request::ActivateSim(r) => self.activate(kiosk, &r),
            Request::CancelOrder(r) => self.cancel_order(kiosk, &r),
            Request::ReplacementSim(r) => self.replacement(kiosk, &r),
            Request::RealNameReregister(r) => self.reregister(kiosk, &r),
            Request::NumbersById(q) => Ok(Handled::plain(self.numbers_by_id(kiosk, &q)?)),
            Request::LossReport(r) => self.loss_report(kiosk, &r),
            Request::LossLift(r) => self.loss_lift(kiosk, &r),
            Request::PinCatalogue(_) => ok(Response::PinCatalogue(PinCatalogue {
                face_values_fen: rules::PIN_FACE_VALUES_FEN.to_vec(),
                valid_days: rules::PIN_VALID_DAYS,
            })),
            Request::PinSale(r) => self.pin_sale(kiosk, &r),
            Request::PinVoid(r) => self.pin_void(kiosk, &r),
            Request::PinRecharge(r) => self.pin_recharge(kiosk, &r),
            Request::Reconcile(r) => Ok(Handled::plain(self.reconcile(kiosk, &r)?)),
            other => Ok(Handled::plain(err(
                ErrorCode::UnknownOp,
                format!(
                    "operation {} not supported by this business system",
                    other.op()
                ),
            ))),
        }
    }

    /// Runs a money/card operation once per (kiosk, txn id).
    fn once<R: Serialize>(
        &self,
        kiosk: &str,
        txn: &TxnId,
        op: &str,
        req: &R,
        apply: impl FnOnce(&Transaction<'_>) -> Result<(Reply, Applied), StoreError>,
    ) -> Result<Handled, StoreError> {
        if txn.as_str().is_empty() || txn.as_str().len() > 64 {
            return Ok(Handled::plain(err(
                ErrorCode::BadRequest,
                "txn_id must be 1–64 characters",
            )));
        }
        let (fp, day) = (fingerprint(req), format_date(self.today()));
        let key = store::TxnKey {
            kiosk_id: kiosk,
            txn_id: txn.as_str(),
            op,
            fingerprint: &fp,
            day: &day,
            now: self.clock.now_unix(),
        };
        let out = self.store.idempotent(&key, apply)?;
        Ok(match out {
            Outcome::Fresh(reply) => Handled {
                committed_now: matches!(reply, Reply::Ok(_)),
                reply,
            },
            Outcome::Replay(reply) => Handled::plain(reply),
        })
    }

    /// The session's start. The operator keeps no configuration, lock or journal for a
    /// kiosk: those are head office's, answered by the self-service system server.
    fn hello(&self, kiosk: &str, h: &Hello) -> HelloOk {
        tracing::info!(kiosk, software = %h.software, skew_ms = self.now_ms() - h.kiosk_time_ms, "hello");
        HelloOk {
            kiosk_id: kiosk.to_owned(),
            server_time_ms: self.now_ms(),
            heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
            config_version: None,
            locked: None,
            journal_acked_seq: None,
        }
    }

    fn lookup(&self, q: &SubscriberLookup) -> Result<Reply, StoreError> {
        let Some(s) = self.store.subscriber(q.msisdn.as_str())? else {
            return Ok(err(ErrorCode::UnknownSubscriber, "号码不存在或非本网用户"));
        };
        Ok(Reply::Ok(Response::SubscriberLookup(WireSubscriber {
            msisdn: q.msisdn.clone(),
            owner_name_masked: if s.real_name {
                rules::mask_name(&s.owner_name)
            } else {
                "（未实名登记）".to_owned()
            },
            status: wire_status(s.status),
            payment: if s.prepaid {
                PaymentKind::Prepaid
            } else {
                PaymentKind::Postpaid
            },
            balance_fen: s.balance_fen,
            arrears_fen: to_u64(s.owed_fen()),
            real_name: s.real_name,
        })))
    }

    fn issue_token(&self, kiosk: &str, msisdn: &Msisdn, factors: Vec<AuthFactor>) -> AuthOk {
        let token = format!("T{:016x}{:016x}", self.random(), self.random());
        let expires_ms = self.now_ms() + TOKEN_TTL_MS;
        self.sessions().tokens.insert(
            token.clone(),
            Token {
                kiosk: kiosk.to_owned(),
                msisdn: msisdn.as_str().to_owned(),
                factors: factors.clone(),
                expires_ms,
            },
        );
        AuthOk {
            msisdn: msisdn.clone(),
            token: AuthToken(token),
            factors,
            expires_ms,
        }
    }

    /// The factors a valid token of this kiosk holds for `msisdn`, or `None`.
    fn token_factors(
        &self,
        kiosk: &str,
        token: &AuthToken,
        msisdn: &Msisdn,
    ) -> Option<Vec<AuthFactor>> {
        let now = self.now_ms();
        let s = self.sessions();
        s.tokens
            .get(&token.0)
            .filter(|t| t.kiosk == kiosk && t.msisdn == msisdn.as_str() && t.expires_ms > now)
            .map(|t| t.factors.clone())
    }

    fn require_auth(
        &self,
        kiosk: &str,
        token: &AuthToken,
        msisdn: &Msisdn,
    ) -> Result<Vec<AuthFactor>, Reply> {
        self.token_factors(kiosk, token, msisdn).ok_or_else(|| {
            err(
                ErrorCode::InsufficientAuth,
                "请先验证身份（服务密码、短信验证码或身份证）",
            )
        })
    }

    fn auth_password(&self, kiosk: &str, a: &AuthPassword) -> Result<Reply, StoreError> {
        let Some(s) = self.store.subscriber(a.msisdn.as_str())? else {
            return Ok(err(ErrorCode::UnknownSubscriber, "号码不存在或非本网用户"));
        };
        if s.status == SubscriberStatus::Closed {
            return Ok(err(ErrorCode::SubscriberInactive, "号码已销户"));
        }
        let now = self.now_ms();
        let locked_until = {
            let mut sess = self.sessions();
            match sess.password_failures.get(a.msisdn.as_str()).copied() {
                // A new day: the count starts again.
                Some((_, until)) if until <= now => {
                    sess.password_failures.remove(a.msisdn.as_str());
                    None
                }
                Some((n, until)) if n >= MAX_PASSWORD_FAILURES => Some(until),
                _ => None,
            }
        };
        if let Some(until) = locked_until {
            return Ok(password_locked(until));
        }
        if a.password.expose() != s.service_password {
            let until = end_of_day_ms(now);
            let mut sess = self.sessions();
            let entry = sess
                .password_failures
                .entry(a.msisdn.as_str().to_owned())
                .or_insert((0, until));
            entry.0 += 1;
            entry.1 = until;
            let n = entry.0;
            drop(sess);
            if n >= MAX_PASSWORD_FAILURES {
                return Ok(password_locked(until));
            }
            let left = MAX_PASSWORD_FAILURES - n;
            return Ok(Reply::Error(ErrorBody {
                tries_left: Some(left),
                ..ErrorBody::new(
                    ErrorCode::AuthFailed,
                    format!("服务密码错误，还可尝试{left}次"),
                )
            }));
        }
        self.sessions().password_failures.remove(a.msisdn.as_str());
        Ok(Reply::Ok(Response::AuthPassword(self.issue_token(
            kiosk,
            &a.msisdn,
            vec![AuthFactor::Password],
        ))))
    }

    fn sms_code_request(&self, q: &SmsCodeRequest) -> Result<Reply, StoreError> {
        let Some(s) = self.store.subscriber(q.msisdn.as_str())? else {
            return Ok(err(ErrorCode::UnknownSubscriber, "号码不存在或非本网用户"));
        };
        if s.status == SubscriberStatus::Closed {
            return Ok(err(ErrorCode::SubscriberInactive, "号码已销户"));
        }
        let now = self.now_ms();
        let code = format!("{:06}", self.random() % 1_000_000);
        let expires_ms = now + SMS_CODE_TTL_MS;
        let resend = i64::from(SMS_RESEND_S) * 1000;
        let sent = self.store.with_tx(|tx| {
            let prior: Option<i64> = tx
                .query_row(
                    "SELECT expires_at FROM sms_codes WHERE number=?1",
                    [q.msisdn.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(exp) = prior {
                let sent_at = exp - SMS_CODE_TTL_MS;
                if now - sent_at < resend {
                    return Ok(Some(resend - (now - sent_at)));
                }
            }
            tx.execute(
                "INSERT OR REPLACE INTO sms_codes(number, code, expires_at, attempts) VALUES (?1,?2,?3,0)",
                params![q.msisdn.as_str(), code, expires_ms],
            )?;
            store::send_sms_tx(
                tx,
                q.msisdn.as_str(),
                &format!("【中国移动】您的验证码为{code}，5分钟内有效。请勿告知他人。"),
                now / 1000,
            )?;
            Ok(None)
        })?;
        if let Some(wait) = sent {
            return Ok(Reply::Error(ErrorBody {
                code: ErrorCode::Busy,
                message: "验证码已发送，请稍后再试".into(),
                retry_after_ms: u64::try_from(wait).ok(),
                tries_left: None,
                locked_until_ms: None,
            }));
        }
        Ok(Reply::Ok(Response::SmsCodeRequest(SmsCodeSent {
            msisdn: q.msisdn.clone(),
            expires_ms,
            resend_after_s: SMS_RESEND_S,
        })))
    }

    fn sms_code_verify(&self, kiosk: &str, q: &SmsCodeVerify) -> Result<Reply, StoreError> {
        let now = self.now_ms();
        let verdict = self.store.with_tx(|tx| {
            let row: Option<(String, i64, i64)> = tx
                .query_row(
                    "SELECT code, expires_at, attempts FROM sms_codes WHERE number=?1",
                    [q.msisdn.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            Ok(match row {
                None => Some(err(ErrorCode::CodeExpired, "请先获取短信验证码")),
                Some((_, exp, _)) if exp <= now => {
                    Some(err(ErrorCode::CodeExpired, "验证码已过期，请重新获取"))
                }
                Some((_, _, attempts)) if attempts >= 5 => {
                    Some(err(ErrorCode::AuthLocked, "验证码输错次数过多，请重新获取"))
                }
                Some((code, _, attempts)) if code != q.code.expose() => {
                    tx.execute(
                        "UPDATE sms_codes SET attempts=attempts+1 WHERE number=?1",
                        [q.msisdn.as_str()],
                    )?;
                    let left = u32::try_from((5 - 1 - attempts).max(0)).unwrap_or(0);
                    Some(Reply::Error(ErrorBody {
                        tries_left: Some(left),
                        ..ErrorBody::new(ErrorCode::AuthFailed, "验证码错误")
                    }))
                }
                Some(_) => {
                    tx.execute("DELETE FROM sms_codes WHERE number=?1", [q.msisdn.as_str()])?;
                    None
                }
            })
        })?;
        if let Some(reply) = verdict {
            return Ok(reply);
        }
        // Upgrade the given token when it is this kiosk's for this number.
        if let Some(t) = &q.token {
            let mut s = self.sessions();
            if let Some(tok) = s.tokens.get_mut(&t.0).filter(|tok| {
                tok.kiosk == kiosk && tok.msisdn == q.msisdn.as_str() && tok.expires_ms > now
            }) {
                if !tok.factors.contains(&AuthFactor::SmsCode) {
                    tok.factors.push(AuthFactor::SmsCode);
                }
                tok.expires_ms = now + TOKEN_TTL_MS;
                return Ok(Reply::Ok(Response::SmsCodeVerify(AuthOk {
                    msisdn: q.msisdn.clone(),
                    token: t.clone(),
                    factors: tok.factors.clone(),
                    expires_ms: tok.expires_ms,
                })));
            }
        }
        Ok(Reply::Ok(Response::SmsCodeVerify(self.issue_token(
            kiosk,
            &q.msisdn,
            vec![AuthFactor::SmsCode],
        ))))
    }

    fn face_passed(&self, kiosk: &str, face_check_id: &str, id_number: &str) -> bool {
        let now = self.now_ms();
        self.sessions().faces.get(face_check_id).is_some_and(|f| {
            f.kiosk == kiosk
                && f.id_number == id_number
                && f.verdict == FaceVerdict::Match
                && f.expires_ms > now
        })
    }

    fn auth_id_card(&self, kiosk: &str, a: &AuthIdCard) -> Result<Reply, StoreError> {
        let Some(s) = self.store.subscriber(a.msisdn.as_str())? else {
            return Ok(err(ErrorCode::UnknownSubscriber, "号码不存在或非本网用户"));
        };
        if s.status == SubscriberStatus::Closed {
            return Ok(err(ErrorCode::SubscriberInactive, "号码已销户"));
        }
        if let Some(r) = self.id_card_problem(&a.id) {
            return Ok(refuse(&r));
        }
        let owner = s.id_number.as_deref() == Some(a.id.id_number.as_str())
            && s.owner_name == a.id.name.as_str();
        if !owner {
            return Ok(err(ErrorCode::IdMismatch, "证件与机主登记资料不一致"));
        }
        let mut factors = vec![AuthFactor::IdCard];
        if let Some(f) = &a.face_check_id {
            if self.face_passed(kiosk, f, a.id.id_number.as_str()) {
                factors.push(AuthFactor::Face);
            } else {
                return Ok(err(ErrorCode::FaceMismatch, "人像比对未通过或已过期"));
            }
        }
        Ok(Reply::Ok(Response::AuthIdCard(
            self.issue_token(kiosk, &a.msisdn, factors),
        )))
    }

    /// Validity of the card itself: number check digit and expiry.
    fn id_card_problem(&self, id: &IdCard) -> Option<Refusal> {
        if let Err(r) = rules::IdNumber::parse(id.id_number.as_str()) {
            return Some(r);
        }
        let until = id.valid_until.as_deref().map(parse_date);
        match until {
            Some(Err(_)) => Some(Refusal::InvalidIdNumber),
            Some(Ok(d)) if d < self.today() => Some(Refusal::IdExpired),
            _ => None,
        }
    }

    fn recharge(&self, kiosk: &str, r: &Recharge) -> Result<Handled, StoreError> {
        let Ok(amount) = i64::try_from(r.amount_fen) else {
            return Ok(Handled::plain(err(
                ErrorCode::BadRequest,
                "amount out of range",
            )));
        };
        if r.amount_fen == 0 || r.amount_fen > MAX_RECHARGE_FEN {
            return Ok(Handled::plain(err(
                ErrorCode::BadRequest,
                format!("充值金额须在0.01至{}元之间", MAX_RECHARGE_FEN / 100),
            )));
        }
        let now_ms = self.now_ms();
        let operator_ref = self.reference("CZ");
        let number = r.msisdn.as_str().to_owned();
        self.once(kiosk, &r.txn_id, "recharge", r, |tx| {
            let refused = |reply| Ok((reply, Applied { number: number.clone(), amount_fen: 0, done: false }));
            let Some(s) = store::subscriber_tx(tx, &number)? else {
                return refused(err(ErrorCode::UnknownSubscriber, "号码不存在或非本网用户"));
            };
            if s.status == SubscriberStatus::Closed {
                return refused(err(ErrorCode::SubscriberInactive, "号码已销户，不能充值"));
            }
            let balance = s.balance_fen + amount;
            let restore = s.status == SubscriberStatus::SuspendedArrears && balance >= 0;
            tx.execute(
                "UPDATE subscribers SET balance_fen=?2, status=CASE WHEN ?3 THEN 'active' ELSE status END WHERE number=?1",
                params![number, balance, restore],
            )?;
            let mut body = format!(
                "【中国移动】您于自助终端充值{}.{:02}元已到账，当前余额{}{}.{:02}元。",
                amount / 100,
                amount % 100,
                if balance < 0 { "-" } else { "" },
                balance.abs() / 100,
                balance.abs() % 100
            );
            if restore {
                body.push_str("您的号码已恢复通话。");
            }
            store::send_sms_tx(tx, &number, &body, now_ms / 1000)?;
            Ok((
                Reply::Ok(Response::Recharge(RechargeOk {
                    txn_id: r.txn_id.clone(),
                    operator_ref,
                    msisdn: r.msisdn.clone(),
                    amount_fen: r.amount_fen,
                    balance_after_fen: balance,
                    credited_at_ms: now_ms,
                })),
                Applied { number: number.clone(), amount_fen: amount, done: true },
            ))
        })
    }

    fn txn_status(&self, kiosk: &str, q: &TxnStatusQuery) -> Result<Reply, StoreError> {
        let Some(row) = self.store.txn(kiosk, q.txn_id.as_str())? else {
            return Ok(Reply::Ok(Response::TxnStatus(TxnStatus {
                txn_id: q.txn_id.clone(),
                state: TxnState::Unknown,
                txn_op: None,
                amount_fen: None,
                outcome: None,
                reversed_by: None,
            })));
        };
        let reversed_by: Option<String> = self.store.with_tx(|tx| {
            Ok(tx.query_row(
                "SELECT reversed_by FROM txns WHERE kiosk_id=?1 AND txn_id=?2",
                params![kiosk, q.txn_id.as_str()],
                |r| r.get(0),
            )?)
        })?;
        let outcome: Option<Reply> = serde_json::from_str(&row.response).ok();
        Ok(Reply::Ok(Response::TxnStatus(TxnStatus {
            txn_id: q.txn_id.clone(),
            state: state_of(&row.state),
            txn_op: Some(row.op),
            amount_fen: (row.amount_fen != 0).then(|| to_u64(row.amount_fen)),
            outcome: outcome.map(Box::new),
            reversed_by: reversed_by.map(TxnId),
        })))
    }

    fn reversal(&self, kiosk: &str, r: &Reversal) -> Result<Handled, StoreError> {
        let now_ms = self.now_ms();
        self.once(kiosk, &r.txn_id, "reversal", r, |tx| {
            let orig = store::txn_row(tx, kiosk, r.original_txn_id.as_str())?;
            let refused = |reply| Ok((reply, Applied { number: String::new(), amount_fen: 0, done: false }));
            let Some(orig) = orig else {
                return refused(err(
                    ErrorCode::NotFound,
                    format!("原交易 {} 不存在（未收到），无需冲正", r.original_txn_id),
                ));
            };
            if orig.state == "reversed" {
                let by: Option<String> = tx.query_row(
                    "SELECT reversed_by FROM txns WHERE kiosk_id=?1 AND txn_id=?2",
                    params![kiosk, orig.txn_id],
                    |row| row.get(0),
                )?;
                return refused(err(
                    ErrorCode::NotReversible,
                    format!("原交易已由 {} 冲正，不能重复冲正", by.unwrap_or_default()),
                ));
            }
            if orig.state != "done" {
                return refused(err(ErrorCode::NotReversible, "原交易未成功，无需冲正"));
            }
            if orig.op != "recharge" {
                return refused(err(
                    ErrorCode::NotReversible,
                    format!("{} 交易不能冲正（开卡/补卡订单请用 cancel_order，充值卡销售请用 pin_void）", orig.op),
                ));
            }
            // A credit already (partly) spent cannot be taken back.
            let credited_to = match serde_json::from_str::<Reply>(&orig.response) {
                Ok(Reply::Ok(Response::Recharge(ok))) => ok.balance_after_fen,
                _ => i64::MIN,
            };
            let now_balance: i64 = tx.query_row(
                "SELECT balance_fen FROM subscribers WHERE number=?1",
                [&orig.number],
                |row| row.get(0),
            )?;
            if now_balance < credited_to {
                return refused(err(
                    ErrorCode::NotReversible,
                    "充值款已被使用，不能冲正，请为客户开具退款凭条",
                ));
            }
            let balance: i64 = tx.query_row(
                "UPDATE subscribers SET balance_fen=balance_fen-?2 WHERE number=?1 RETURNING balance_fen",
                params![orig.number, orig.amount_fen],
                |row| row.get(0),
            )?;
            tx.execute(
                "UPDATE txns SET state='reversed', reversed_by=?3 WHERE kiosk_id=?1 AND txn_id=?2",
                params![kiosk, orig.txn_id, r.txn_id.as_str()],
            )?;
            store::send_sms_tx(
                tx,
                &orig.number,
                &format!(
                    "【中国移动】您于自助终端的充值{}.{:02}元已冲正退回，当前余额{}.{:02}元。",
                    orig.amount_fen / 100,
                    orig.amount_fen % 100,
                    balance / 100,
                    (balance % 100).abs()
                ),
                now_ms / 1000,
            )?;
            Ok((
                Reply::Ok(Response::Reversal(ReversalOk {
                    txn_id: r.txn_id.clone(),
                    original_txn_id: r.original_txn_id.clone(),
                    amount_fen: to_u64(orig.amount_fen),
                    balance_after_fen: Some(balance),
                    reversed_at_ms: now_ms,
                })),
                Applied { number: orig.number.clone(), amount_fen: orig.amount_fen, done: true },
            ))
        })
    }

    fn authed_subscriber(
        &self,
        kiosk: &str,
        token: &AuthToken,
        msisdn: &Msisdn,
    ) -> Result<Result<(Subscriber, Vec<AuthFactor>), Reply>, StoreError> {
        let factors = match self.require_auth(kiosk, token, msisdn) {
            Ok(f) => f,
            Err(r) => return Ok(Err(r)),
        };
        Ok(match self.store.subscriber(msisdn.as_str())? {
            Some(s) => Ok((s, factors)),
            None => Err(err(ErrorCode::UnknownSubscriber, "号码不存在或非本网用户")),
        })
    }

    fn current_plan(&self, kiosk: &str, q: &PlanQuery) -> Result<Reply, StoreError> {
        let (s, _) = match self.authed_subscriber(kiosk, &q.token, &q.msisdn)? {
            Ok(x) => x,
            Err(r) => return Ok(r),
        };
        let plans = self.store.plans()?;
        let Some(plan) = plans.iter().find(|p| p.code == s.plan_code) else {
            return Ok(err(ErrorCode::Internal, "plan missing"));
        };
        Ok(Reply::Ok(Response::CurrentPlan(CurrentPlan {
            msisdn: q.msisdn.clone(),
            plan: wire_plan(plan),
            pending: s.next_plan_code.map(|plan_id| PendingPlanChange {
                plan_id,
                effective_month: month_key(rules::first_of_next_month(self.today())),
            }),
        })))
    }

    fn eligible_plans(&self, kiosk: &str, q: &PlanQuery) -> Result<Reply, StoreError> {
        let (s, _) = match self.authed_subscriber(kiosk, &q.token, &q.msisdn)? {
            Ok(x) => x,
            Err(r) => return Ok(r),
        };
        let plans = self
            .store
            .plans()?
            .iter()
            .filter(|p| p.open && p.code != s.plan_code)
            .map(wire_plan)
            .collect();
        Ok(Reply::Ok(Response::EligiblePlans(EligiblePlans {
            msisdn: q.msisdn.clone(),
            plans,
        })))
    }

    fn plan_change(&self, kiosk: &str, r: &PlanChange) -> Result<Handled, StoreError> {
        if let Err(reply) = self.require_auth(kiosk, &r.token, &r.msisdn) {
            return Ok(Handled::plain(reply));
        }
        let today = self.today();
        let effective = rules::first_of_next_month(today);
        let operator_ref = self.reference("BG");
        let number = r.msisdn.as_str().to_owned();
        self.once(kiosk, &r.txn_id, "plan_change", r, |tx| {
            let refused = |reply| {
                Ok((
                    reply,
                    Applied {
                        number: number.clone(),
                        amount_fen: 0,
                        done: false,
                    },
                ))
            };
            let Some(s) = store::subscriber_tx(tx, &number)? else {
                return refused(err(ErrorCode::UnknownSubscriber, "号码不存在或非本网用户"));
            };
            if s.status == SubscriberStatus::Closed {
                return refused(err(ErrorCode::SubscriberInactive, "号码已销户"));
            }
            if let Err(why) = rules::check_plan_change(today, s.owed_fen()) {
                return refused(refuse(&why));
            }
            let target = store::plan_tx(tx, &r.plan_id)?;
            let Some(target) = target.filter(|p| p.open && p.code != s.plan_code) else {
                return refused(err(ErrorCode::PlanNotEligible, "所选套餐不可办理"));
            };
            tx.execute(
                "UPDATE subscribers SET next_plan_code=?2 WHERE number=?1",
                params![number, target.code],
            )?;
            store::send_sms_tx(
                tx,
                &number,
                &format!(
                    "【中国移动】您已成功办理套餐变更为“{}”，将于{}年{}月1日生效。",
                    target.name,
                    effective.year(),
                    u8::from(effective.month())
                ),
                self.clock.now_unix(),
            )?;
            Ok((
                Reply::Ok(Response::PlanChange(PlanChangeOk {
                    txn_id: r.txn_id.clone(),
                    msisdn: r.msisdn.clone(),
                    from_plan_id: s.plan_code.clone(),
                    to_plan_id: target.code.clone(),
                    effective_month: month_key(effective),
                    operator_ref,
                })),
                Applied {
                    number: number.clone(),
                    amount_fen: 0,
                    done: true,
                },
            ))
        })
    }

    fn bill_of(
        &self,
        kiosk: &str,
        q: &MonthQuery,
    ) -> Result<Result<(Subscriber, store::Bill), Reply>, StoreError> {
        let (s, _) = match self.authed_subscriber(kiosk, &q.token, &q.msisdn)? {
            Ok(x) => x,
            Err(r) => return Ok(Err(r)),
        };
        let bill = self
            .store
            .bills(q.msisdn.as_str(), 6)?
            .into_iter()
            .find(|b| b.month == q.month);
        Ok(match bill {
            Some(b) => Ok((s, b)),
            None => Err(err(ErrorCode::NotFound, "只能查询最近6个月已出账的账单")),
        })
    }

    fn monthly_bill(&self, kiosk: &str, q: &MonthQuery) -> Result<Reply, StoreError> {
        let (s, b) = match self.bill_of(kiosk, q)? {
            Ok(x) => x,
            Err(r) => return Ok(r),
        };
        let plan_name = self
            .store
            .plans()?
            .into_iter()
            .find(|p| p.code == s.plan_code)
            .map(|p| p.name)
            .unwrap_or_default();
        let items = [
            ("套餐及固定费", b.plan_fee_fen),
            ("语音通话费", b.voice_fen),
            ("上网费", b.data_fen),
            ("短彩信费", b.sms_fen),
            ("增值业务费", b.other_fen),
        ]
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .map(|(n, v)| BillItem {
            name: n.to_owned(),
            amount_fen: v,
        })
        .collect();
        let paid = if b.paid { b.total_fen } else { 0 };
        Ok(Reply::Ok(Response::MonthlyBill(MonthlyBill {
            msisdn: q.msisdn.clone(),
            month: b.month,
            plan_name,
            items,
            total_fen: b.total_fen,
            paid_fen: paid,
            due_fen: b.total_fen - paid,
        })))
    }

    fn itemised(&self, kiosk: &str, q: &ItemisedRecordsQuery) -> Result<Reply, StoreError> {
        let factors = match self.require_auth(kiosk, &q.token, &q.msisdn) {
            Ok(f) => f,
            Err(r) => return Ok(r),
        };
        let strong = factors.contains(&AuthFactor::IdCard)
            || (factors.contains(&AuthFactor::Password) && factors.contains(&AuthFactor::SmsCode));
        if !strong {
            return Ok(err(
                ErrorCode::InsufficientAuth,
                "查询详单需服务密码加短信验证码，或机主身份证",
            ));
        }
        let in_range = self
            .store
            .bills(q.msisdn.as_str(), 6)?
            .iter()
            .any(|b| b.month == q.month);
        if !in_range {
            return Ok(err(ErrorCode::NotFound, "只能查询最近6个月的详单"));
        }
        let all = self.store.usage(q.msisdn.as_str(), &q.month)?;
        let matching: Vec<_> = all
            .into_iter()
            .filter(|r| match q.kind {
                RecordKind::Call => r.kind.starts_with("call"),
                RecordKind::Data => r.kind == "data",
                RecordKind::Sms => r.kind == "sms",
                _ => true,
            })
            .collect();
        let total = u32::try_from(matching.len()).unwrap_or(u32::MAX);
        let limit = usize::try_from(q.limit.min(500)).unwrap_or(500);
        let offset = usize::try_from(q.offset).unwrap_or(usize::MAX);
        let records = matching
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|r| {
                let kind = match r.kind.as_str() {
                    "data" => RecordKind::Data,
                    "sms" => RecordKind::Sms,
                    _ => RecordKind::Call,
                };
                WireUsage {
                    at_ms: parse_cst(&r.start).unwrap_or(0),
                    kind,
                    outgoing: r.kind != "call_in" && r.kind != "data",
                    counterpart_masked: (!r.peer.is_empty()).then(|| r.peer.clone()),
                    duration_s: (kind == RecordKind::Call)
                        .then(|| u32::try_from(r.quantity).unwrap_or(0)),
                    volume_kb: (kind == RecordKind::Data).then(|| to_u64(r.quantity)),
                    location: Some("本地".to_owned()),
                    fee_fen: to_u64(r.fee_fen),
                }
            })
            .collect();
        Ok(Reply::Ok(Response::ItemisedRecords(ItemisedRecords {
            msisdn: q.msisdn.clone(),
            month: q.month.clone(),
            total,
            records,
        })))
    }

    fn invoice(&self, kiosk: &str, q: &MonthQuery) -> Result<Reply, StoreError> {
        let (s, b) = match self.bill_of(kiosk, q)? {
            Ok(x) => x,
            Err(r) => return Ok(r),
        };
        // Basic telecom services carry 9 % VAT, value-added services 6 %.
        let item = |name: &str, amount: i64, rate: u32| {
            let amount = to_u64(amount);
            let tax = (amount * u64::from(rate) * 2 + (1000 + u64::from(rate)))
                / (2 * (1000 + u64::from(rate)));
            InvoiceItem {
                name: name.to_owned(),
                amount_fen: amount,
                tax_rate_permille: rate,
                tax_fen: tax,
            }
        };
        let items: Vec<InvoiceItem> = [
            item("*电信服务*基础电信服务费", b.plan_fee_fen + b.voice_fen, 90),
            item(
                "*电信服务*增值电信服务费",
                b.data_fen + b.sms_fen + b.other_fen,
                60,
            ),
        ]
        .into_iter()
        .filter(|i| i.amount_fen > 0)
        .collect();
        let h = fnv(&format!("{}{}", q.msisdn.as_str(), b.month));
        Ok(Reply::Ok(Response::InvoiceData(InvoiceData {
            msisdn: q.msisdn.clone(),
            month: b.month.clone(),
            invoice_no: format!("{:08}", h % 100_000_000),
            invoice_code: "044002600111".to_owned(),
            payer_masked: rules::mask_name(&s.owner_name),
            seller: "中国移动通信集团某省有限公司（模拟）".to_owned(),
            seller_tax_id: "91440000MA00000000".to_owned(),
            total_fen: items.iter().map(|i| i.amount_fen).sum(),
            tax_fen: items.iter().map(|i| i.tax_fen).sum(),
            items,
            issued_at_ms: self.now_ms(),
            check_code: format!(
                "{:020}",
                u128::from(splitmix(h)) * 7 % 100_000_000_000_000_000_000
            ),
        })))
    }

    fn applicant_ok(
        &self,
        id: &IdCard,
    ) -> Result<Result<(rules::IdNumber, ApplicantRecord), Refusal>, StoreError> {
        let now_ms = self.now_ms();
        let record = self
            .store
            .with_tx(|tx| applicant_record(tx, id.id_number.as_str(), now_ms))?;
        let until = match id.valid_until.as_deref().map(parse_date) {
            Some(Err(_)) => return Ok(Err(Refusal::InvalidIdNumber)),
            Some(Ok(d)) => Some(d),
            None => None,
        };
        Ok(
            rules::check_new_sim_applicant(id.id_number.as_str(), until, self.today(), record)
                .map(|parsed| (parsed, record)),
        )
    }

    fn real_name_check(&self, q: &RealNameCheck) -> Result<Reply, StoreError> {
        Ok(match self.applicant_ok(&q.id)? {
            Ok((parsed, record)) => Reply::Ok(Response::RealNameCheck(RealNameOk {
                numbers_held: record.numbers_held,
                numbers_limit: NUMBERS_PER_ID,
                age_years: u32::from(parsed.age_on(self.today())),
            })),
            Err(r) => refuse(&r),
        })
    }

    /// Face comparison (人证比对). The simulator has no face engine: a live photo under
    /// 1 KiB or an empty chip photo is `poor_quality`; a live photo or a chip photo containing
    /// the ASCII marker `NOMATCH` scores 300 (`no_match`, for demos and tests: the ID-reader
    /// simulator's `applicant_lent` card carries it); any other pair scores
    /// deterministically between 850 and 989 for the ID number (`match`).
    fn face_compare(&self, kiosk: &str, q: &FaceCompare) -> Reply {
        let (score, verdict) = if q.live_photo.0.len() < 1024 || q.id_photo.0.is_empty() {
            (0, FaceVerdict::PoorQuality)
        } else if [&q.live_photo.0, &q.id_photo.0]
            .iter()
            .any(|p| p.windows(7).any(|w| w == b"NOMATCH"))
        {
            (300, FaceVerdict::NoMatch)
        } else {
            let s = 850 + u16::try_from(fnv(q.id_number.as_str()) % 140).unwrap_or(0);
            (s, FaceVerdict::Match)
        };
        let id = format!("F{:016x}", self.random());
        self.sessions().faces.insert(
            id.clone(),
            FaceCheck {
                kiosk: kiosk.to_owned(),
                id_number: q.id_number.as_str().to_owned(),
                verdict,
                expires_ms: self.now_ms() + TOKEN_TTL_MS,
            },
        );
        Reply::Ok(Response::FaceCompare(FaceResult {
            face_check_id: id,
            score,
            threshold: FACE_THRESHOLD,
            verdict,
        }))
    }

    /// Plans open to new orders, with the first month's fee for joining today; with a pool
    /// number, only the plans allowed with it (a premium number needs a dearer plan).
    fn plan_catalogue(&self, q: &boss_protocol::PlanCatalogueQuery) -> Result<Reply, StoreError> {
        let today = self.today();
        let min_fee = match &q.msisdn {
            None => 0,
            Some(m) => {
                let premium: Option<i64> = self.store.with_tx(|tx| {
                    Ok(tx
                        .query_row(
                            "SELECT premium_fen FROM number_pool WHERE number=?1",
                            [m.as_str()],
                            |r| r.get(0),
                        )
                        .optional()?)
                })?;
                match premium {
                    None => return Ok(err(ErrorCode::NumberUnavailable, "号码不在号池中")),
                    Some(p) => min_plan_fee(p),
                }
            }
        };
        let plans = self
            .store
            .plans()?
            .iter()
            .filter(|p| p.open && p.monthly_fee_fen >= min_fee)
            .map(|p| boss_protocol::CataloguePlan {
                plan: wire_plan(p),
                first_month_rule: match p.kind {
                    rules::PlanKind::ProRata => boss_protocol::FirstMonthRule::ProRata,
                    _ => boss_protocol::FirstMonthRule::Package,
                },
                first_month_fee_fen: to_u64(rules::first_month_fee(
                    p.kind,
                    p.monthly_fee_fen,
                    today,
                )),
            })
            .collect();
        Ok(Reply::Ok(Response::PlanCatalogue(
            boss_protocol::PlanCatalogue {
                day: crate::clock::format_date(today),
                plans,
            },
        )))
    }

    fn number_search(&self, q: &NumberSearch) -> Result<Reply, StoreError> {
        let digits = |s: &Option<String>| {
            s.as_deref()
                .unwrap_or("")
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        };
        let (prefix, suffix, contains) =
            (digits(&q.prefix), digits(&q.suffix), digits(&q.contains));
        let now = self.now_ms();
        let limit = q.limit.clamp(1, 100);
        let numbers = self.store.with_tx(|tx| {
            let mut st = tx.prepare(
                "SELECT number, premium_fen FROM number_pool WHERE (state='free' OR \
                 (state='reserved' AND reserved_until<=?4)) AND number LIKE ?1 || '%' AND \
                 number LIKE '%' || ?2 AND number LIKE '%' || ?3 || '%' ORDER BY number LIMIT ?5",
            )?;
            let rows = st.query_map(params![prefix, suffix, contains, now, limit], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        Ok(Reply::Ok(Response::NumberSearch(NumberList {
            numbers: numbers
                .into_iter()
                .map(|(n, premium)| boss_protocol::PoolNumber {
                    msisdn: Msisdn(n),
                    tier: if premium > 0 {
                        "nice".into()
                    } else {
                        "normal".into()
                    },
                    min_plan_fee_fen: to_u64(min_plan_fee(premium)),
                })
                .collect(),
        })))
    }

    fn number_reserve(&self, kiosk: &str, q: &NumberReserve) -> Result<Reply, StoreError> {
        let now = self.now_ms();
        let id = q.id_number.as_str().to_owned();
        if let Err(r) = rules::IdNumber::parse(&id) {
            return Ok(refuse(&r));
        }
        let holder = format!("{kiosk}|{id}");
        let reservation_id = format!("R{:016x}", self.random());
        let expires = now + RESERVATION_TTL_MS;
        self.store.with_tx(|tx| {
            let row: Option<PoolRow> = tx
                .query_row(
                    "SELECT state, reserved_by, reservation_id, reserved_until FROM number_pool WHERE number=?1",
                    [q.msisdn.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            match row {
                None => Ok(err(ErrorCode::NumberUnavailable, "号码不在可选号码池中")),
                Some((state, by, rid, until)) if state == "reserved" && until.unwrap_or(0) > now => {
                    if by.as_deref() == Some(holder.as_str()) {
                        Ok(Reply::Ok(Response::NumberReserve(Reservation {
                            reservation_id: rid.unwrap_or_default(),
                            msisdn: q.msisdn.clone(),
                            expires_ms: until.unwrap_or(now),
                        })))
                    } else {
                        Ok(err(ErrorCode::NumberUnavailable, "号码已被他人预占"))
                    }
                }
                Some((state, ..)) if state != "free" && state != "reserved" => {
                    Ok(err(ErrorCode::NumberUnavailable, "号码已被选用"))
                }
                Some(_) => {
                    let rec = applicant_record(tx, &id, now)?;
                    if rec.blacklisted {
                        return Ok(refuse(&Refusal::Blacklisted));
                    }
                    if rec.numbers_held >= NUMBERS_PER_ID {
                        return Ok(refuse(&Refusal::NumberLimitReached { held: rec.numbers_held }));
                    }
                    tx.execute(
                        "UPDATE number_pool SET state='reserved', reserved_by=?2, reservation_id=?3, reserved_until=?4 WHERE number=?1",
                        params![q.msisdn.as_str(), holder, reservation_id, expires],
                    )?;
                    Ok(Reply::Ok(Response::NumberReserve(Reservation {
                        reservation_id: reservation_id.clone(),
                        msisdn: q.msisdn.clone(),
                        expires_ms: expires,
                    })))
                }
            }
        })
    }

    fn number_release(&self, kiosk: &str, q: &NumberRelease) -> Result<Reply, StoreError> {
        let n = self.store.with_tx(|tx| {
            Ok(tx.execute(
                "UPDATE number_pool SET state='free', reserved_by=NULL, reservation_id=NULL, reserved_until=NULL \
                 WHERE reservation_id=?1 AND state='reserved' AND reserved_by LIKE ?2 || '|%'",
                params![q.reservation_id, kiosk],
            )?)
        })?;
        Ok(if n == 1 {
            Reply::Ok(Response::NumberRelease(NumberReleased {
                reservation_id: q.reservation_id.clone(),
            }))
        } else {
            err(ErrorCode::NotFound, "预占不存在或已失效")
        })
    }

    fn new_sim_order(&self, kiosk: &str, r: &NewSimOrder) -> Result<Handled, StoreError> {
        let (Ok(card_fee), Ok(prepaid)) =
            (i64::try_from(r.card_fee_fen), i64::try_from(r.prepaid_fen))
        else {
            return Ok(Handled::plain(err(
                ErrorCode::BadRequest,
                "amount out of range",
            )));
        };
        let now = self.now_ms();
        let today = self.today();
        let order_id = self.reference("KH");
        let number = r.msisdn.as_str().to_owned();
        let id_problem = self.id_card_problem(&r.id);
        let face_ok = self.face_passed(kiosk, &r.face_check_id, r.id.id_number.as_str());
        self.once(kiosk, &r.txn_id, "new_sim_order", r, |tx| {
            let refused = |reply| Ok((reply, Applied { number: number.clone(), amount_fen: 0, done: false }));
            if let Some(why) = &id_problem {
                return refused(refuse(why));
            }
            if !face_ok {
                return refused(err(ErrorCode::FaceMismatch, "人像比对未通过或已过期"));
            }
            if r.agreement_version.trim().is_empty() {
                return refused(err(ErrorCode::BadRequest, "须先阅读并同意入网服务协议"));
            }
            let held: Option<PoolHold> = tx
                .query_row(
                    "SELECT state, reserved_by, reserved_until, reservation_id FROM number_pool WHERE number=?1",
                    [&number],
                    |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?, x.get(3)?)),
                )
                .optional()?;
            let holder = format!("{kiosk}|{}", r.id.id_number.as_str());
            match held {
                Some((state, by, until, rid))
                    if state == "reserved"
                        && by.as_deref() == Some(holder.as_str())
                        && rid.as_deref() == Some(r.reservation_id.as_str()) =>
                {
                    if until.unwrap_or(0) <= now {
                        return refused(err(ErrorCode::ReservationExpired, "号码预占已过期，请重新选号"));
                    }
                }
                _ => return refused(err(ErrorCode::NumberUnavailable, "号码未被本证件预占")),
            }
            // The reservation already counts toward the limit: exclude it when rechecking.
            let mut rec = applicant_record(tx, r.id.id_number.as_str(), now)?;
            rec.numbers_held = rec.numbers_held.saturating_sub(1);
            let until = r.id.valid_until.as_deref().and_then(|d| parse_date(d).ok());
            if let Err(why) = rules::check_new_sim_applicant(r.id.id_number.as_str(), until, today, rec) {
                return refused(refuse(&why));
            }
            let Some(plan) = store::plan_tx(tx, &r.plan_id)?.filter(|p| p.open) else {
                return refused(err(ErrorCode::PlanNotEligible, "所选套餐不可办理"));
            };
            let first = rules::first_month_fee(plan.kind, plan.monthly_fee_fen, today);
            if prepaid < first {
                return refused(err(
                    ErrorCode::BadRequest,
                    format!("首次预存款须不低于首月月费{}.{:02}元", first / 100, first % 100),
                ));
            }
            tx.execute(
                "INSERT INTO orders(order_id, kind, kiosk_id, number, reservation_id, id_number, owner_name, \
                 plan_code, prepaid_fen, first_month_fen, card_fee_fen, state, created_at) \
                 VALUES (?1,'new',?2,?3,?4,?5,?6,?7,?8,?9,?10,'ordered',?11)",
                params![order_id, kiosk, number, r.reservation_id, r.id.id_number.as_str(), r.id.name.as_str(),
                    plan.code, prepaid, first, card_fee, now],
            )?;
            // Held until activation; it no longer lapses.
            tx.execute(
                "UPDATE number_pool SET state='ordered', reserved_until=NULL WHERE number=?1",
                [&number],
            )?;
            Ok((
                Reply::Ok(Response::NewSimOrder(SimOrder {
                    txn_id: r.txn_id.clone(),
                    order_id: order_id.clone(),
                    msisdn: r.msisdn.clone(),
                    card_fee_fen: r.card_fee_fen,
                    prepaid_fen: r.prepaid_fen,
                    first_month_fee_fen: to_u64(first),
                })),
                Applied { number: number.clone(), amount_fen: card_fee + prepaid, done: true },
            ))
        })
    }

    fn sim_script(&self, kiosk: &str, q: &SimScriptQuery) -> Result<Reply, StoreError> {
        if let Err(e) = simcard::check_iccid(&q.iccid) {
            return Ok(err(ErrorCode::CardInvalid, e.to_string()));
        }
        let script_id = format!("S{:016x}", fnv(&format!("{}{}", q.order_id, q.iccid)));
        let verdict = self.store.with_tx(|tx| {
            let order: Option<(String, String)> = tx
                .query_row(
                    "SELECT state, kiosk_id FROM orders WHERE order_id=?1",
                    [&q.order_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match order {
                Some((state, k)) if k == kiosk && state == "ordered" => {}
                Some((_, k)) if k == kiosk => {
                    return Ok(Some(err(ErrorCode::NotFound, "订单已完成或已取消")));
                }
                _ => return Ok(Some(err(ErrorCode::NotFound, "订单不存在"))),
            }
            let used: Option<String> = tx
                .query_row("SELECT state FROM sims WHERE iccid=?1", [&q.iccid], |r| {
                    r.get(0)
                })
                .optional()?;
            if used.is_some() {
                return Ok(Some(err(
                    ErrorCode::CardInvalid,
                    "该卡已写过号，不是空白卡",
                )));
            }
            tx.execute(
                "UPDATE orders SET iccid=?2, script_id=?3 WHERE order_id=?1",
                params![q.order_id, q.iccid, script_id],
            )?;
            Ok(None)
        })?;
        if let Some(reply) = verdict {
            return Ok(reply);
        }
        let steps = simcard::personalisation_script(&q.iccid)
            .into_iter()
            .map(|s| boss_protocol::ApduStep {
                apdu: boss_protocol::HexBytes(s.apdu),
                expect_sw: vec![boss_protocol::Sw(s.expected_sw)],
            })
            .collect();
        Ok(Reply::Ok(Response::SimScript(SimScript {
            order_id: q.order_id.clone(),
            iccid: q.iccid.clone(),
            script_id,
            steps,
        })))
    }

    fn activate(&self, kiosk: &str, r: &ActivateSim) -> Result<Handled, StoreError> {
        let now = self.now_ms();
        let today = format_date(self.today());
        let password = format!("{:06}", self.random() % 1_000_000);
        self.once(kiosk, &r.txn_id, "activate_sim", r, |tx| {
            type OrderRow = (String, String, String, Option<String>, Option<String>, String, String, String, i64, i64, String);
            let order: Option<OrderRow> = tx
                .query_row(
                    "SELECT kind, kiosk_id, number, iccid, script_id, id_number, owner_name, plan_code, \
                     prepaid_fen, first_month_fen, state FROM orders WHERE order_id=?1",
                    [&r.order_id],
                    |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?, x.get(3)?, x.get(4)?, x.get(5)?, x.get(6)?, x.get(7)?, x.get(8)?, x.get(9)?, x.get(10)?)),
                )
                .optional()?;
            let refused = |reply| Ok((reply, Applied { number: String::new(), amount_fen: 0, done: false }));
            let Some((kind, k, number, iccid, script_id, id_number, name, plan, prepaid, first, state)) = order else {
                return refused(err(ErrorCode::NotFound, "订单不存在"));
            };
            if k != kiosk {
                return refused(err(ErrorCode::NotFound, "订单不存在"));
            }
            if state != "ordered" {
                return refused(err(ErrorCode::NotFound, format!("订单状态为 {state}，不能激活")));
            }
            if iccid.as_deref() != Some(r.iccid.as_str()) || script_id.as_deref() != Some(r.script_id.as_str()) {
                return refused(err(ErrorCode::CardInvalid, "卡号或写卡脚本与订单不符"));
            }
            if !r.result.completed {
                return refused(err(ErrorCode::ScriptFailed, "写卡未完成，请取消订单或更换空白卡"));
            }
            let imsi = simcard::imsi_for(&r.iccid);
            tx.execute(
                "INSERT INTO sims(iccid, imsi, number, state) VALUES (?1,?2,?3,'active')",
                params![r.iccid, imsi, number],
            )?;
            let mut invalidated = None;
            let balance;
            if kind == "new" {
                balance = prepaid - first;
                tx.execute(
                    "INSERT INTO subscribers VALUES (?1,?2,?3,1,'active',1,?4,?5,NULL,?6,?7,?8)",
                    params![number, name, id_number, balance, plan, password, r.iccid, today],
                )?;
                tx.execute("UPDATE number_pool SET state='taken' WHERE number=?1", [&number])?;
                store::send_sms_tx(
                    tx,
                    &number,
                    &format!("【中国移动】欢迎入网！您的初始服务密码为{password}，请尽快修改。当前余额{}.{:02}元。", balance / 100, balance % 100),
                    now / 1000,
                )?;
            } else {
                let old: Option<String> = tx
                    .query_row("SELECT iccid FROM subscribers WHERE number=?1", [&number], |x| x.get(0))
                    .optional()?;
                tx.execute("UPDATE sims SET state='invalid' WHERE iccid=?1", [&old])?;
                tx.execute("UPDATE subscribers SET iccid=?2 WHERE number=?1", params![number, r.iccid])?;
                balance = tx.query_row("SELECT balance_fen FROM subscribers WHERE number=?1", [&number], |x| x.get(0))?;
                // A new card ends a loss report (挂失): the lost card is dead now.
                let lost = store::subscriber_tx(tx, &number)?
                    .is_some_and(|s| s.status == SubscriberStatus::ReportedLost);
                if lost {
                    store::lift_loss_tx(tx, &number)?;
                }
                let text = if lost {
                    "【中国移动】您的补卡已生效，原SIM卡已作废，号码已解除挂失。"
                } else {
                    "【中国移动】您的补卡已生效，原SIM卡已作废。"
                };
                store::send_sms_tx(tx, &number, text, now / 1000)?;
                invalidated = old;
            }
            tx.execute("UPDATE orders SET state='activated' WHERE order_id=?1", [&r.order_id])?;
            Ok((
                Reply::Ok(Response::ActivateSim(Activated {
                    txn_id: r.txn_id.clone(),
                    order_id: r.order_id.clone(),
                    msisdn: Msisdn(number.clone()),
                    iccid: r.iccid.clone(),
                    invalidated_iccid: invalidated,
                    balance_fen: balance,
                    activated_at_ms: now,
                })),
                Applied { number: number.clone(), amount_fen: 0, done: true },
            ))
        })
    }

    fn cancel_order(&self, kiosk: &str, r: &CancelOrder) -> Result<Handled, StoreError> {
        self.once(kiosk, &r.txn_id, "cancel_order", r, |tx| {
            let order: Option<(String, String, String, i64, i64, String)> = tx
                .query_row(
                    "SELECT kind, kiosk_id, number, prepaid_fen, card_fee_fen, state FROM orders WHERE order_id=?1",
                    [&r.order_id],
                    |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?, x.get(3)?, x.get(4)?, x.get(5)?)),
                )
                .optional()?;
            let refused = |reply| Ok((reply, Applied { number: String::new(), amount_fen: 0, done: false }));
            let Some((kind, k, number, prepaid, fee, state)) = order.filter(|o| o.1 == kiosk) else {
                return refused(err(ErrorCode::NotFound, "订单不存在"));
            };
            let _ = k;
            if state != "ordered" {
                return refused(err(ErrorCode::NotReversible, format!("订单状态为 {state}，不能取消")));
            }
            tx.execute("UPDATE orders SET state='cancelled' WHERE order_id=?1", [&r.order_id])?;
            if kind == "new" {
                tx.execute(
                    "UPDATE number_pool SET state='free', reserved_by=NULL, reservation_id=NULL, reserved_until=NULL WHERE number=?1",
                    [&number],
                )?;
            }
            // The order's money is given back: reverse it in the ledger for reconciliation.
            tx.execute(
                "UPDATE txns SET state='reversed', reversed_by=?3 WHERE kiosk_id=?1 AND op IN ('new_sim_order','replacement_sim') \
                 AND response LIKE '%' || ?2 || '%'",
                params![kiosk, r.order_id, r.txn_id.as_str()],
            )?;
            Ok((
                Reply::Ok(Response::CancelOrder(OrderCancelled {
                    txn_id: r.txn_id.clone(),
                    order_id: r.order_id.clone(),
                    refund_due_fen: to_u64(prepaid + fee),
                })),
                Applied { number, amount_fen: prepaid + fee, done: true },
            ))
        })
    }

    fn replacement(&self, kiosk: &str, r: &ReplacementSim) -> Result<Handled, StoreError> {
        let factors = match self.require_auth(kiosk, &r.token, &r.msisdn) {
            Ok(f) => f,
            Err(reply) => return Ok(Handled::plain(reply)),
        };
        if !factors.contains(&AuthFactor::IdCard) {
            return Ok(Handled::plain(err(
                ErrorCode::InsufficientAuth,
                "补卡须机主本人持身份证办理",
            )));
        }
        let Ok(fee) = i64::try_from(r.fee_fen) else {
            return Ok(Handled::plain(err(
                ErrorCode::BadRequest,
                "amount out of range",
            )));
        };
        let now = self.now_ms();
        let order_id = self.reference("BK");
        let number = r.msisdn.as_str().to_owned();
        self.once(kiosk, &r.txn_id, "replacement_sim", r, |tx| {
            let refused = |reply| Ok((reply, Applied { number: number.clone(), amount_fen: 0, done: false }));
            let Some(s) = store::subscriber_tx(tx, &number)? else {
                return refused(err(ErrorCode::UnknownSubscriber, "号码不存在或非本网用户"));
            };
            if s.status == SubscriberStatus::Closed {
                return refused(err(ErrorCode::SubscriberInactive, "号码已销户"));
            }
            if let Err(why) = rules::check_after_sale(s.owed_fen()) {
                return refused(refuse(&why));
            }
            let id = s.id_number.clone().unwrap_or_default();
            if !self.face_passed(kiosk, &r.face_check_id, &id) {
                return refused(err(ErrorCode::FaceMismatch, "人像比对未通过或已过期"));
            }
            tx.execute(
                "INSERT INTO orders(order_id, kind, kiosk_id, number, id_number, owner_name, plan_code, \
                 prepaid_fen, first_month_fen, card_fee_fen, state, created_at) \
                 VALUES (?1,'replacement',?2,?3,?4,?5,?6,0,0,?7,'ordered',?8)",
                params![order_id, kiosk, number, id, s.owner_name, s.plan_code, fee, now],
            )?;
            Ok((
                Reply::Ok(Response::ReplacementSim(SimOrder {
                    txn_id: r.txn_id.clone(),
                    order_id: order_id.clone(),
                    msisdn: r.msisdn.clone(),
                    card_fee_fen: r.fee_fen,
                    prepaid_fen: 0,
                    first_month_fee_fen: 0,
                })),
                Applied { number: number.clone(), amount_fen: fee, done: true },
            ))
        })
    }

    fn reregister(&self, kiosk: &str, r: &RealNameReregister) -> Result<Handled, StoreError> {
        if let Err(reply) = self.require_auth(kiosk, &r.token, &r.msisdn) {
            return Ok(Handled::plain(reply));
        }
        let today = self.today();
        let now = self.now_ms();
        let face_ok = self.face_passed(kiosk, &r.face_check_id, r.id.id_number.as_str());
        let number = r.msisdn.as_str().to_owned();
        self.once(kiosk, &r.txn_id, "real_name_reregister", r, |tx| {
            let refused = |reply| {
                Ok((
                    reply,
                    Applied {
                        number: number.clone(),
                        amount_fen: 0,
                        done: false,
                    },
                ))
            };
            let Some(s) = store::subscriber_tx(tx, &number)? else {
                return refused(err(ErrorCode::UnknownSubscriber, "号码不存在或非本网用户"));
            };
            if s.status == SubscriberStatus::Closed {
                return refused(err(ErrorCode::SubscriberInactive, "号码已销户"));
            }
            if let Err(why) = rules::check_plan_change(today, s.owed_fen()) {
                return refused(refuse(&why));
            }
            if !face_ok {
                return refused(err(ErrorCode::FaceMismatch, "人像比对未通过或已过期"));
            }
            if s.real_name && s.id_number.as_deref() != Some(r.id.id_number.as_str()) {
                return refused(err(
                    ErrorCode::IdMismatch,
                    "号码已登记他人身份，须原机主到柜台办理过户",
                ));
            }
            let mut rec = applicant_record(tx, r.id.id_number.as_str(), now)?;
            if s.id_number.as_deref() == Some(r.id.id_number.as_str()) {
                rec.numbers_held = rec.numbers_held.saturating_sub(1);
            }
            let until = r.id.valid_until.as_deref().and_then(|d| parse_date(d).ok());
            if let Err(why) =
                rules::check_new_sim_applicant(r.id.id_number.as_str(), until, today, rec)
            {
                return refused(refuse(&why));
            }
            tx.execute(
                "UPDATE subscribers SET owner_name=?2, id_number=?3, real_name=1 WHERE number=?1",
                params![number, r.id.name.as_str(), r.id.id_number.as_str()],
            )?;
            store::send_sms_tx(
                tx,
                &number,
                "【中国移动】您的号码已完成实名登记。",
                now / 1000,
            )?;
            Ok((
                Reply::Ok(Response::RealNameReregister(Reregistered {
                    txn_id: r.txn_id.clone(),
                    msisdn: r.msisdn.clone(),
                    registered_at_ms: now,
                })),
                Applied {
                    number: number.clone(),
                    amount_fen: 0,
                    done: true,
                },
            ))
        })
    }

    /// 名下号码查询 (一证通查): every number registered under the ID whose holder passed a
    /// face check at this kiosk, closed ones included, oldest first.
    fn numbers_by_id(&self, kiosk: &str, q: &NumbersByIdQuery) -> Result<Reply, StoreError> {
        if !self.face_passed(kiosk, &q.face_check_id, q.id_number.as_str()) {
            return Ok(err(
                ErrorCode::FaceMismatch,
                "人像比对未通过或已过期，请重新比对",
            ));
        }
        let numbers = self
            .store
            .numbers_by_id(q.id_number.as_str())?
            .into_iter()
            .map(|h| WireHeld {
                msisdn: Msisdn(h.number),
                status: wire_status(h.status),
                payment: if h.prepaid {
                    PaymentKind::Prepaid
                } else {
                    PaymentKind::Postpaid
                },
                opened_on: h.opened_on,
            })
            .collect::<Vec<_>>();
        tracing::info!(kiosk, id = %rules::mask_id(q.id_number.as_str()), numbers = numbers.len(), "numbers by id");
        Ok(Reply::Ok(Response::NumbersById(NumbersById {
            numbers,
            numbers_limit: NUMBERS_PER_ID,
        })))
    }

    /// 挂失 and 解挂 need the owner: the ID card with a passed face check, or the service
    /// password with an SMS code.
    fn require_owner(&self, kiosk: &str, token: &AuthToken, msisdn: &Msisdn) -> Result<(), Reply> {
        let factors = self.require_auth(kiosk, token, msisdn)?;
        let has = |f| factors.contains(&f);
        if (has(AuthFactor::IdCard) && has(AuthFactor::Face))
            || (has(AuthFactor::Password) && has(AuthFactor::SmsCode))
        {
            Ok(())
        } else {
            Err(err(
                ErrorCode::InsufficientAuth,
                "挂失、解挂须机主身份证加人像比对，或服务密码加短信验证码",
            ))
        }
    }

    fn loss_report(&self, kiosk: &str, r: &LossReport) -> Result<Handled, StoreError> {
        if let Err(reply) = self.require_owner(kiosk, &r.token, &r.msisdn) {
            return Ok(Handled::plain(reply));
        }
        let now = self.now_ms();
        let number = r.msisdn.as_str().to_owned();
        self.once(kiosk, &r.txn_id, "loss_report", r, |tx| {
            let applied = |done| Applied {
                number: number.clone(),
                amount_fen: 0,
                done,
            };
            let Some(s) = store::subscriber_tx(tx, &number)? else {
                return Ok((
                    err(ErrorCode::UnknownSubscriber, "号码不存在或非本网用户"),
                    applied(false),
                ));
            };
            let before = match s.status {
                SubscriberStatus::Closed => {
                    return Ok((err(ErrorCode::NumberClosed, "号码已销户"), applied(false)));
                }
                SubscriberStatus::ReportedLost => {
                    return Ok((
                        err(ErrorCode::AlreadyReported, "号码已挂失，无需重复办理"),
                        applied(false),
                    ));
                }
                other => other,
            };
            store::report_loss_tx(tx, &number, before, kiosk, now / 1000)?;
            store::send_sms_tx(
                tx,
                &number,
                &format!(
                    "【中国移动】您的号码{}已办理挂失停机，停机期间不能通话、发短信和上网。\
                     找回手机或补卡后，请凭机主身份证或服务密码加短信验证码办理解挂。",
                    rules::mask_number(&number)
                ),
                now / 1000,
            )?;
            tracing::info!(kiosk, number = %rules::mask_number(&number), "reported lost");
            Ok((
                Reply::Ok(Response::LossReport(LossReported {
                    txn_id: r.txn_id.clone(),
                    msisdn: r.msisdn.clone(),
                    suspended_at_ms: now,
                })),
                applied(true),
            ))
        })
    }

    fn loss_lift(&self, kiosk: &str, r: &LossLift) -> Result<Handled, StoreError> {
        if let Err(reply) = self.require_owner(kiosk, &r.token, &r.msisdn) {
            return Ok(Handled::plain(reply));
        }
        let now = self.now_ms();
        let number = r.msisdn.as_str().to_owned();
        self.once(kiosk, &r.txn_id, "loss_lift", r, |tx| {
            let applied = |done| Applied {
                number: number.clone(),
                amount_fen: 0,
                done,
            };
            let Some(s) = store::subscriber_tx(tx, &number)? else {
                return Ok((
                    err(ErrorCode::UnknownSubscriber, "号码不存在或非本网用户"),
                    applied(false),
                ));
            };
            match s.status {
                SubscriberStatus::Closed => {
                    return Ok((err(ErrorCode::NumberClosed, "号码已销户"), applied(false)));
                }
                SubscriberStatus::ReportedLost => {}
                _ => {
                    return Ok((
                        err(ErrorCode::NotReported, "号码未挂失，无需解挂"),
                        applied(false),
                    ));
                }
            }
            let status = store::lift_loss_tx(tx, &number)?;
            let masked = rules::mask_number(&number);
            let body = match status {
                SubscriberStatus::SuspendedArrears => format!(
                    "【中国移动】您的号码{masked}已解除挂失；因欠费仍处于停机状态，缴清欠费后恢复通话。"
                ),
                SubscriberStatus::SuspendedByOwner => {
                    format!("【中国移动】您的号码{masked}已解除挂失，号码仍处于报停状态。")
                }
                _ => format!("【中国移动】您的号码{masked}已解除挂失，恢复正常使用。"),
            };
            store::send_sms_tx(tx, &number, &body, now / 1000)?;
            tracing::info!(kiosk, number = %masked, status = status.as_str(), "loss lifted");
            Ok((
                Reply::Ok(Response::LossLift(LossLifted {
                    txn_id: r.txn_id.clone(),
                    msisdn: r.msisdn.clone(),
                    status: wire_status(status),
                    resumed_at_ms: now,
                })),
                applied(true),
            ))
        })
    }

    /// 18 random digits for a recharge PIN. They come from std's `RandomState` (SipHash
    /// keyed from the operating system's random source), not from the sequence operator
    /// references and tokens are drawn from: a PIN is a bearer secret, not to be guessed
    /// from other answers.
    fn pin_digits(&self) -> String {
        use std::hash::BuildHasher;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let keys = std::collections::hash_map::RandomState::new();
        let wide =
            (u128::from(keys.hash_one((n, 1u8))) << 64) | u128::from(keys.hash_one((n, 2u8)));
        format!("{:018}", wide % 1_000_000_000_000_000_000)
    }

    /// 充值卡销售: issues a card of a face value on sale. The answer carries the PIN and is
    /// kept, as every first outcome is, so a repeat of the sale answers the same card.
    fn pin_sale(&self, kiosk: &str, r: &PinSale) -> Result<Handled, StoreError> {
        let today = self.today();
        let sold_on = format_date(today);
        let expires_on = format_date(rules::pin_expires_on(today));
        let now = self.clock.now_unix();
        self.once(kiosk, &r.txn_id, "pin_sale", r, |tx| {
            let face = match i64::try_from(r.face_fen) {
                Ok(f) if rules::PIN_FACE_VALUES_FEN.contains(&r.face_fen) => f,
                _ => {
                    return Ok((
                        err(
                            ErrorCode::PinUnavailable,
                            format!("面值{}元的充值卡不在售", yuan(i64::try_from(r.face_fen).unwrap_or(i64::MAX))),
                        ),
                        Applied {
                            number: String::new(),
                            amount_fen: 0,
                            done: false,
                        },
                    ));
                }
            };
            let card = store::PinIssue {
                kiosk_id: kiosk,
                sale_txn_id: r.txn_id.as_str(),
                face_fen: face,
                sold_on: &sold_on,
                expires_on: &expires_on,
                now,
            };
            let (serial, pin) = store::issue_pin_tx(tx, &card, || self.pin_digits())?;
            // The serial only: the PIN never reaches a log.
            tracing::info!(kiosk, txn = %r.txn_id, serial = %serial, face_fen = face, "recharge card sold");
            Ok((
                Reply::Ok(Response::PinSale(PinSold {
                    txn_id: r.txn_id.clone(),
                    serial,
                    pin: Secret::new(pin),
                    face_fen: r.face_fen,
                    expires_on: expires_on.clone(),
                })),
                Applied {
                    number: String::new(),
                    amount_fen: face,
                    done: true,
                },
            ))
        })
    }

    /// Voids a card this kiosk sold and the customer never got. A sale never received is
    /// barred instead (answered `pin_unavailable` if it comes later): nothing was sold,
    /// nothing is owed.
    fn pin_void(&self, kiosk: &str, r: &PinVoid) -> Result<Handled, StoreError> {
        let day = format_date(self.today());
        let now = self.clock.now_unix();
        self.once(kiosk, &r.txn_id, "pin_void", r, |tx| {
            let refused = |reply| {
                Ok((
                    reply,
                    Applied {
                        number: String::new(),
                        amount_fen: 0,
                        done: false,
                    },
                ))
            };
            let nothing_sold = || {
                Ok((
                    Reply::Ok(Response::PinVoid(PinVoided {
                        txn_id: r.txn_id.clone(),
                        sale_txn_id: r.sale_txn_id.clone(),
                        serial: None,
                        refund_due_fen: 0,
                    })),
                    Applied {
                        number: String::new(),
                        amount_fen: 0,
                        done: true,
                    },
                ))
            };
            if r.sale_txn_id == r.txn_id {
                return refused(err(ErrorCode::BadRequest, "作废交易须有自己的流水号"));
            }
            let Some(sale) = store::txn_row(tx, kiosk, r.sale_txn_id.as_str())? else {
                // Never received: bar the sale's id, so a copy still under way sells nothing.
                let barred = err(
                    ErrorCode::PinUnavailable,
                    format!("该笔售卡已由 {} 作废（营业系统未收到原交易），不再办理", r.txn_id),
                );
                store::bar_txn_tx(
                    tx,
                    kiosk,
                    r.sale_txn_id.as_str(),
                    "pin_sale",
                    &day,
                    now,
                    &serde_json::to_string(&barred)?,
                )?;
                tracing::info!(kiosk, sale = %r.sale_txn_id, "void of a sale never received: the sale is barred");
                return nothing_sold();
            };
            if sale.op != "pin_sale" {
                return refused(err(
                    ErrorCode::BadRequest,
                    format!("原交易是 {}，不是充值卡销售", sale.op),
                ));
            }
            match sale.state.as_str() {
                // Refused (or barred): no card was sold.
                "refused" => return nothing_sold(),
                "reversed" => {
                    let by: Option<String> = tx.query_row(
                        "SELECT reversed_by FROM txns WHERE kiosk_id=?1 AND txn_id=?2",
                        params![kiosk, sale.txn_id],
                        |row| row.get(0),
                    )?;
                    return refused(err(
                        ErrorCode::NotReversible,
                        format!("该充值卡已由 {} 作废，不能重复作废", by.unwrap_or_default()),
                    ));
                }
                _ => {}
            }
            let Some(card) = store::pin_of_sale_tx(tx, kiosk, r.sale_txn_id.as_str())? else {
                return Err(StoreError::Corrupt(format!(
                    "sale {} has no card",
                    r.sale_txn_id
                )));
            };
            if r.serial.as_ref().is_some_and(|s| *s != card.serial) {
                return refused(err(ErrorCode::BadRequest, "序列号与原售卡不符"));
            }
            if card.state != store::PinState::Sold {
                return refused(err(
                    ErrorCode::NotReversible,
                    "充值卡已被使用，不能作废，请按已售处理",
                ));
            }
            store::void_pin_tx(tx, &card.serial)?;
            tx.execute(
                "UPDATE txns SET state='reversed', reversed_by=?3 WHERE kiosk_id=?1 AND txn_id=?2",
                params![kiosk, r.sale_txn_id.as_str(), r.txn_id.as_str()],
            )?;
            tracing::info!(kiosk, serial = %card.serial, reason = %r.reason, "recharge card voided");
            Ok((
                Reply::Ok(Response::PinVoid(PinVoided {
                    txn_id: r.txn_id.clone(),
                    sale_txn_id: r.sale_txn_id.clone(),
                    serial: Some(card.serial),
                    refund_due_fen: to_u64(card.face_fen),
                })),
                Applied {
                    number: String::new(),
                    amount_fen: card.face_fen,
                    done: true,
                },
            ))
        })
    }

    /// 充值卡充值: credits a number with a card's face value, once — the same store
    /// function as the operator's own channel (`boss-sim pin redeem`).
    fn pin_recharge(&self, kiosk: &str, r: &PinRecharge) -> Result<Handled, StoreError> {
        let today = format_date(self.today());
        let now_ms = self.now_ms();
        let number = r.msisdn.as_str().to_owned();
        self.once(kiosk, &r.txn_id, "pin_recharge", r, |tx| {
            let credit =
                store::redeem_pin_tx(tx, &number, r.pin.expose(), kiosk, &today, now_ms / 1000)?;
            Ok(match credit {
                Ok(c) => {
                    tracing::info!(kiosk, serial = %c.serial, number = %rules::mask_number(&number), "recharge card redeemed");
                    (
                        Reply::Ok(Response::PinRecharge(PinRecharged {
                            txn_id: r.txn_id.clone(),
                            msisdn: r.msisdn.clone(),
                            serial: c.serial,
                            amount_fen: to_u64(c.amount_fen),
                            balance_fen: c.balance_fen,
                        })),
                        Applied {
                            number: number.clone(),
                            amount_fen: c.amount_fen,
                            done: true,
                        },
                    )
                }
                Err(why) => (
                    err(ErrorCode::from_wire(why.code()), why.message_zh()),
                    Applied {
                        number: number.clone(),
                        amount_fen: 0,
                        done: false,
                    },
                ),
            })
        })
    }

    fn reconcile(&self, kiosk: &str, r: &Reconcile) -> Result<Reply, StoreError> {
        if parse_date(&r.day).is_err() {
            return Ok(err(ErrorCode::BadRequest, "day must be YYYY-MM-DD"));
        }
        let theirs: Vec<ReconEntry> = r
            .txns
            .iter()
            .map(|t| ReconEntry {
                txn_id: t.txn_id.as_str().to_owned(),
                op: t.op.clone(),
                number: String::new(),
                amount_fen: i64::try_from(t.amount_fen).unwrap_or(i64::MAX),
                state: state_name(t.state).to_owned(),
            })
            .collect();
        let rec = self.store.reconcile(kiosk, &r.day, &theirs)?;
        let mut mismatches: Vec<boss_protocol::Mismatch> = rec
            .mismatches
            .iter()
            .map(|m| {
                let op = theirs
                    .iter()
                    .find(|e| e.txn_id == m.txn_id)
                    .map(|e| e.op.clone())
                    .or_else(|| {
                        self.store
                            .txn(kiosk, &m.txn_id)
                            .ok()
                            .flatten()
                            .map(|t| t.op)
                    })
                    .unwrap_or_default();
                boss_protocol::Mismatch {
                    txn_id: TxnId(m.txn_id.clone()),
                    kind: match m.kind {
                        store::MismatchKind::MissingAtOperator => {
                            boss_protocol::MismatchKind::MissingAtOperator
                        }
                        store::MismatchKind::MissingAtKiosk => {
                            boss_protocol::MismatchKind::MissingAtKiosk
                        }
                        store::MismatchKind::AmountDiffers => {
                            boss_protocol::MismatchKind::AmountDiffers
                        }
                        store::MismatchKind::StateDiffers => {
                            boss_protocol::MismatchKind::StateDiffers
                        }
                    },
                    op,
                    kiosk_amount_fen: m.kiosk_amount_fen.map(to_u64),
                    operator_amount_fen: m.operator_amount_fen.map(to_u64),
                    kiosk_state: m.kiosk_state.as_deref().map(state_of),
                    operator_state: m.operator_state.as_deref().map(state_of),
                }
            })
            .collect();
        // The kiosk's declared totals must also add up to its own list.
        let listed = theirs
            .iter()
            .filter(|e| e.state == "done" && store::is_money_op(&e.op))
            .fold((0u64, 0u64), |(c, a), e| (c + 1, a + to_u64(e.amount_fen)));
        if listed != (u64::from(r.totals.count), r.totals.amount_fen) {
            tracing::warn!(
                kiosk,
                "reconcile: kiosk totals do not add up to its own transaction list"
            );
        }
        mismatches.sort_by(|a, b| a.txn_id.cmp(&b.txn_id));
        let operator = self.operator_totals(kiosk, &r.day)?;
        // Balanced iff no transaction differs (docs/boss-protocol.md §7.12); totals are
        // reported side by side for the people reading them.
        let balanced = mismatches.is_empty();
        Ok(Reply::Ok(Response::Reconcile(WireRecon {
            day: r.day.clone(),
            kiosk: r.totals.clone(),
            operator,
            balanced,
            mismatches,
        })))
    }

    /// The operator's committed money totals of one kiosk and day, split by operation.
    ///
    /// # Errors
    /// SQLite's.
    pub fn operator_totals(&self, kiosk: &str, day: &str) -> Result<DayTotals, StoreError> {
        let rows: Vec<(String, i64, i64)> = self.store.with_tx(|tx| {
            let mut st = tx.prepare(
                "SELECT op, COUNT(*), SUM(amount_fen) FROM txns WHERE kiosk_id=?1 AND day=?2 \
                 AND state='done' GROUP BY op ORDER BY op",
            )?;
            let rows = st.query_map(params![kiosk, day], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        let by_op: Vec<OpTotal> = rows
            .into_iter()
            .filter(|(op, ..)| store::is_money_op(op))
            .map(|(op, c, a)| OpTotal {
                op,
                count: u32::try_from(c).unwrap_or(0),
                amount_fen: to_u64(a),
            })
            .collect();
        Ok(DayTotals {
            count: by_op.iter().map(|o| o.count).sum(),
            amount_fen: by_op.iter().map(|o| o.amount_fen).sum(),
            by_op,
        })
    }
}
