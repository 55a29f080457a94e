//! The business system's SQLite store: subscribers, plans, bills, itemised records, number
//! pool, blank SIMs, ID registry, blacklist, the idempotent transaction ledger and the SMS
//! outbox — what the operator has. WAL journal, `synchronous = FULL`: a committed credit survives a crash.
//!
//! Every money or card operation runs inside [`Store::idempotent`], keyed by
//! (kiosk id, transaction id): the first outcome is stored with the change in one SQLite
//! transaction, and a repeat returns it without applying anything again.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Serialize, de::DeserializeOwned};

use crate::rules::PlanKind;

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A stored outcome could not be (de)serialised.
    #[error("stored outcome: {0}")]
    Json(#[from] serde_json::Error),
    /// The same (kiosk, txn id) was used before for a different request.
    #[error("transaction id {txn_id} already used for a different request")]
    TxnConflict {
        /// The reused transaction id.
        txn_id: String,
    },
    /// A stored value is not one this version understands.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Account status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberStatus {
    /// 正常 — in service.
    Active,
    /// 欠费停机 — barred for arrears; a recharge that clears them restores service.
    SuspendedArrears,
    /// 报停 — suspended at the owner's request.
    SuspendedByOwner,
    /// 挂失停机 — the owner reported the SIM lost or stolen; the state before is kept in
    /// `loss_reports` and comes back at 解挂 ([`SubscriberStatus::after_loss_lift`]).
    ReportedLost,
    /// 销户 — closed.
    Closed,
}

impl SubscriberStatus {
    /// Name stored in SQLite.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::SuspendedArrears => "suspended_arrears",
            Self::SuspendedByOwner => "suspended_by_owner",
            Self::ReportedLost => "reported_lost",
            Self::Closed => "closed",
        }
    }

    /// The state a number reported lost in state `before` returns to when the loss is lifted
    /// with `balance_fen` on the account: the state it had, except that a number stopped for
    /// arrears that were paid meanwhile (a recharge while reported lost) comes back active.
    #[must_use]
    pub fn after_loss_lift(before: Self, balance_fen: i64) -> Self {
        match before {
            Self::SuspendedArrears if balance_fen >= 0 => Self::Active,
            Self::SuspendedArrears => Self::SuspendedArrears,
            Self::SuspendedByOwner => Self::SuspendedByOwner,
            // A report never starts from these; be safe and give the number back its service.
            Self::Active | Self::ReportedLost | Self::Closed => Self::Active,
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "active" => Self::Active,
            "suspended_arrears" => Self::SuspendedArrears,
            "suspended_by_owner" => Self::SuspendedByOwner,
            "reported_lost" => Self::ReportedLost,
            "closed" => Self::Closed,
            other => return Err(StoreError::Corrupt(format!("status {other}"))),
        })
    }
}

/// A subscriber (用户) as the business system holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Subscriber {
    /// The phone number (MSISDN).
    pub number: String,
    /// Owner's name, unmasked: mask before any output.
    pub owner_name: String,
    /// Owner's ID number, `None` for an account never registered under a real name.
    pub id_number: Option<String>,
    /// 实名制 — registered under a verified real name.
    pub real_name: bool,
    /// Account status.
    pub status: SubscriberStatus,
    /// 预付费 (true) or 后付费.
    pub prepaid: bool,
    /// Account balance in fen; negative means arrears.
    pub balance_fen: i64,
    /// Current plan code.
    pub plan_code: String,
    /// Plan taking effect on the 1st of next month, if one was ordered.
    pub next_plan_code: Option<String>,
    /// Six-digit service password (服务密码).
    pub service_password: String,
    /// ICCID of the active SIM.
    pub iccid: String,
}

impl Subscriber {
    /// Arrears (欠费) in fen: what the account owes, never negative.
    #[must_use]
    pub fn owed_fen(&self) -> i64 {
        (-self.balance_fen).max(0)
    }
}

/// A tariff plan (资费套餐).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// Plan code.
    pub code: String,
    /// Name as shown to the customer.
    pub name: String,
    /// How the first month is charged.
    pub kind: PlanKind,
    /// Monthly fee in fen.
    pub monthly_fee_fen: i64,
    /// Domestic data included, MB.
    pub data_mb: u32,
    /// Domestic voice minutes included.
    pub voice_min: u32,
    /// SMS included.
    pub sms: u32,
    /// Open to new orders and plan changes.
    pub open: bool,
}

/// A monthly bill (月账单).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Bill {
    /// `YYYY-MM`.
    pub month: String,
    /// Plan's monthly fee.
    pub plan_fee_fen: i64,
    /// Voice beyond the plan.
    pub voice_fen: i64,
    /// Data beyond the plan.
    pub data_fen: i64,
    /// SMS beyond the plan.
    pub sms_fen: i64,
    /// Value-added services.
    pub other_fen: i64,
    /// Sum of the above.
    pub total_fen: i64,
    /// Settled.
    pub paid: bool,
}

/// One itemised record (详单).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UsageRecord {
    /// Start, `YYYY-MM-DD HH:MM:SS` China time.
    pub start: String,
    /// `call_out`, `call_in`, `data` or `sms`.
    pub kind: String,
    /// Other party, already masked (`139****0000`), empty for data.
    pub peer: String,
    /// Seconds for calls, KB for data, 1 for an SMS.
    pub quantity: i64,
    /// Charge beyond the plan.
    pub fee_fen: i64,
}

/// A number in the pool (号码池).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PoolNumber {
    /// The number.
    pub number: String,
    /// Premium (靓号预存) in fen; 0 for an ordinary number.
    pub premium_fen: i64,
}

/// What was stored about one (kiosk, txn id).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TxnRow {
    /// The kiosk.
    pub kiosk_id: String,
    /// The kiosk's transaction id.
    pub txn_id: String,
    /// Operation name (`recharge`, `plan_change`, …).
    pub op: String,
    /// Number concerned.
    pub number: String,
    /// Money moved, fen (0 for none).
    pub amount_fen: i64,
    /// `done`, `refused` or `reversed`.
    pub state: String,
    /// Business day `YYYY-MM-DD`.
    pub day: String,
    /// Stored reply, JSON.
    pub response: String,
    /// When it was applied, Unix seconds.
    pub at: i64,
}

/// The idempotency key of a money or card operation and what is recorded with it.
#[derive(Debug, Clone, Copy)]
pub struct TxnKey<'a> {
    /// Kiosk id (from its certificate).
    pub kiosk_id: &'a str,
    /// The kiosk's transaction id.
    pub txn_id: &'a str,
    /// Operation name.
    pub op: &'a str,
    /// The request's content, to tell a repeat from a reuse of the id.
    pub fingerprint: &'a str,
    /// Business day `YYYY-MM-DD`.
    pub day: &'a str,
    /// Now, Unix seconds.
    pub now: i64,
}

/// The fingerprint of a transaction id barred before its request arrived ([`bar_txn_tx`]):
/// the request, whenever it comes and whatever it holds, gets the stored refusal.
pub const BARRED: &str = "<barred>";

/// What an operation inside [`Store::idempotent`] reports about itself for the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Number concerned.
    pub number: String,
    /// Money moved in fen.
    pub amount_fen: i64,
    /// True when the operation was carried out, false for a refusal (also remembered).
    pub done: bool,
}

/// The result of an idempotent operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// Applied now.
    Fresh(T),
    /// Applied before; this is the stored first outcome.
    Replay(T),
}

impl<T> Outcome<T> {
    /// The reply, whichever way it came.
    pub fn into_inner(self) -> T {
        match self {
            Self::Fresh(t) | Self::Replay(t) => t,
        }
    }

    /// True if this call applied the change.
    pub fn is_fresh(&self) -> bool {
        matches!(self, Self::Fresh(_))
    }
}

/// An SMS in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sms {
    /// Destination.
    pub number: String,
    /// Text.
    pub body: String,
    /// Written, Unix seconds.
    pub at: i64,
}

/// A number registered under an ID (名下号码, protocol 1.3 `numbers_by_id`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeldNumber {
    /// The number.
    pub number: String,
    /// Its state.
    pub status: SubscriberStatus,
    /// 预付费 (true) or 后付费.
    pub prepaid: bool,
    /// The day it was opened, `YYYY-MM-DD`.
    pub opened_on: String,
}

/// A number reported lost (挂失), as `loss_reports` keeps it until the loss is lifted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LossRecord {
    /// The number.
    pub number: String,
    /// Its state before the report (restored at 解挂, see
    /// [`SubscriberStatus::after_loss_lift`]).
    pub status_before: SubscriberStatus,
    /// When it was reported, Unix seconds.
    pub reported_at: i64,
    /// Who took the report (a kiosk id).
    pub reported_via: String,
}

/// Where an electronic recharge card (充值卡) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinState {
    /// Sold, not used yet (it may have expired: see `expires_on`).
    Sold,
    /// The sale was voided (作废): the PIN is worthless.
    Voided,
    /// Used to recharge a number (已充值).
    Redeemed,
}

impl PinState {
    /// Name stored in SQLite.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sold => "sold",
            Self::Voided => "voided",
            Self::Redeemed => "redeemed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "sold" => Self::Sold,
            "voided" => Self::Voided,
            "redeemed" => Self::Redeemed,
            other => return Err(StoreError::Corrupt(format!("pin state {other}"))),
        })
    }
}

/// An electronic recharge card as the operator keeps it — without its PIN: nothing read
/// from the store for display or logs carries the secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PinCard {
    /// Serial number (序列号), 16 digits; not secret.
    pub serial: String,
    /// Face value, fen.
    pub face_fen: i64,
    /// The kiosk that sold it (`seed` for the demo cards).
    pub kiosk_id: String,
    /// The sale's transaction id at that kiosk.
    pub sale_txn_id: String,
    /// Sold, voided or redeemed.
    pub state: PinState,
    /// Day of sale, `YYYY-MM-DD`.
    pub sold_on: String,
    /// Last day it can be redeemed, `YYYY-MM-DD`.
    pub expires_on: String,
    /// The number it recharged, once redeemed.
    pub redeemed_number: Option<String>,
    /// When it was redeemed, Unix seconds.
    pub redeemed_at: Option<i64>,
    /// Through which channel it was redeemed (a kiosk id, or `ivr` for the operator's line).
    pub redeemed_via: Option<String>,
}

/// Why a recharge PIN does not credit a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinRefusal {
    /// No such number.
    UnknownSubscriber,
    /// The number is closed (销户).
    NumberClosed,
    /// No such PIN, or it was voided or used.
    Invalid,
    /// The PIN is past its last day.
    Expired,
}

impl PinRefusal {
    /// The protocol's error code for it (`pin_invalid`, …).
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownSubscriber => "unknown_subscriber",
            Self::NumberClosed => "number_closed",
            Self::Invalid => "pin_invalid",
            Self::Expired => "pin_expired",
        }
    }

    /// The reason in Chinese, as the operator's systems word it.
    #[must_use]
    pub fn message_zh(self) -> &'static str {
        match self {
            Self::UnknownSubscriber => "号码不存在或非本网用户",
            Self::NumberClosed => "号码已销户，不能充值",
            Self::Invalid => "充值密码无效（不存在、已作废或已使用）",
            Self::Expired => "充值卡已过有效期",
        }
    }
}

/// A recharge PIN credited to a number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PinCredit {
    /// The card's serial.
    pub serial: String,
    /// Amount credited (the face value), fen.
    pub amount_fen: i64,
    /// Balance after, fen.
    pub balance_fen: i64,
}

/// One transaction of a kiosk's day on either side of a reconciliation: as the kiosk lists
/// it in a `reconcile` request, or as the operator's ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReconEntry {
    /// Kiosk's transaction id.
    pub txn_id: String,
    /// Operation.
    pub op: String,
    /// Number concerned.
    pub number: String,
    /// Amount in fen.
    pub amount_fen: i64,
    /// `done`, `refused`, `reversed`, `failed`… as the kiosk recorded it.
    pub state: String,
}

/// One difference found by reconciliation (对账差异).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    /// Transaction id.
    pub txn_id: String,
    /// What differs.
    pub kind: MismatchKind,
    /// Kiosk's amount (fen) if it has the entry.
    pub kiosk_amount_fen: Option<i64>,
    /// Operator's amount (fen) if it has the entry.
    pub operator_amount_fen: Option<i64>,
    /// Kiosk's state, if any.
    pub kiosk_state: Option<String>,
    /// Operator's state, if any.
    pub operator_state: Option<String>,
}

/// Kinds of reconciliation difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    /// Kiosk has it, operator does not (长款/短款 on the kiosk side).
    MissingAtOperator,
    /// Operator has it, kiosk does not.
    MissingAtKiosk,
    /// Both have it with different amounts.
    AmountDiffers,
    /// Both have it; one says done, the other not.
    StateDiffers,
}

/// Result of a day's reconciliation for one kiosk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reconciliation {
    /// Kiosk.
    pub kiosk_id: String,
    /// Day `YYYY-MM-DD`.
    pub day: String,
    /// Kiosk's count of completed money transactions.
    pub kiosk_count: i64,
    /// Kiosk's sum, fen.
    pub kiosk_amount_fen: i64,
    /// Operator's count.
    pub operator_count: i64,
    /// Operator's sum, fen.
    pub operator_amount_fen: i64,
    /// Every difference.
    pub mismatches: Vec<Mismatch>,
}

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plans(
  code TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
  monthly_fee_fen INTEGER NOT NULL, data_mb INTEGER NOT NULL, voice_min INTEGER NOT NULL,
  sms INTEGER NOT NULL, open INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS subscribers(
  number TEXT PRIMARY KEY, owner_name TEXT NOT NULL, id_number TEXT, real_name INTEGER NOT NULL,
  status TEXT NOT NULL, prepaid INTEGER NOT NULL, balance_fen INTEGER NOT NULL,
  plan_code TEXT NOT NULL REFERENCES plans(code), next_plan_code TEXT,
  service_password TEXT NOT NULL, iccid TEXT NOT NULL, opened_on TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS subscribers_id ON subscribers(id_number);
CREATE TABLE IF NOT EXISTS bills(
  number TEXT NOT NULL, month TEXT NOT NULL, plan_fee_fen INTEGER NOT NULL,
  voice_fen INTEGER NOT NULL, data_fen INTEGER NOT NULL, sms_fen INTEGER NOT NULL,
  other_fen INTEGER NOT NULL, total_fen INTEGER NOT NULL, paid INTEGER NOT NULL,
  PRIMARY KEY(number, month));
CREATE TABLE IF NOT EXISTS usage(
  number TEXT NOT NULL, month TEXT NOT NULL, start TEXT NOT NULL, kind TEXT NOT NULL,
  peer TEXT NOT NULL, quantity INTEGER NOT NULL, fee_fen INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS usage_month ON usage(number, month);
CREATE TABLE IF NOT EXISTS number_pool(
  number TEXT PRIMARY KEY, premium_fen INTEGER NOT NULL, state TEXT NOT NULL,
  reserved_by TEXT, reservation_id TEXT, reserved_until INTEGER);
CREATE TABLE IF NOT EXISTS sims(
  iccid TEXT PRIMARY KEY, imsi TEXT NOT NULL, number TEXT, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS id_registry(
  id_number TEXT PRIMARY KEY, name TEXT NOT NULL, valid_until TEXT,
  numbers_elsewhere INTEGER NOT NULL, photo_seed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blacklist(id_number TEXT PRIMARY KEY, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders(
  order_id TEXT PRIMARY KEY, kind TEXT NOT NULL, kiosk_id TEXT NOT NULL, number TEXT NOT NULL,
  iccid TEXT, script_id TEXT, reservation_id TEXT,
  id_number TEXT NOT NULL, owner_name TEXT NOT NULL, plan_code TEXT NOT NULL,
  prepaid_fen INTEGER NOT NULL, first_month_fen INTEGER NOT NULL, card_fee_fen INTEGER NOT NULL,
  state TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS txns(
  kiosk_id TEXT NOT NULL, txn_id TEXT NOT NULL, op TEXT NOT NULL, fingerprint TEXT NOT NULL,
  number TEXT NOT NULL, amount_fen INTEGER NOT NULL, state TEXT NOT NULL, day TEXT NOT NULL,
  response TEXT NOT NULL, at INTEGER NOT NULL, reversed_by TEXT,
  PRIMARY KEY(kiosk_id, txn_id));
CREATE INDEX IF NOT EXISTS txns_day ON txns(day, kiosk_id);
CREATE TABLE IF NOT EXISTS sms_outbox(
  id INTEGER PRIMARY KEY AUTOINCREMENT, number TEXT NOT NULL, body TEXT NOT NULL,
  at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sms_codes(
  number TEXT PRIMARY KEY, code TEXT NOT NULL, expires_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL);
-- 挂失 (protocol 1.3): one row while a number is reported lost, with the state to restore.
CREATE TABLE IF NOT EXISTS loss_reports(
  number TEXT PRIMARY KEY, status_before TEXT NOT NULL, reported_at INTEGER NOT NULL,
  reported_via TEXT NOT NULL);
-- Electronic recharge cards (充值卡, protocol 1.3). `state`: sold, voided, redeemed.
CREATE TABLE IF NOT EXISTS recharge_pins(
  serial TEXT PRIMARY KEY, pin TEXT NOT NULL UNIQUE, face_fen INTEGER NOT NULL,
  kiosk_id TEXT NOT NULL, sale_txn_id TEXT NOT NULL, state TEXT NOT NULL,
  sold_on TEXT NOT NULL, expires_on TEXT NOT NULL, sold_at INTEGER NOT NULL,
  redeemed_number TEXT, redeemed_at INTEGER, redeemed_via TEXT);
CREATE INDEX IF NOT EXISTS recharge_pins_sale ON recharge_pins(kiosk_id, sale_txn_id);
-- Head office's tables of earlier versions (kiosks, pushes, uploaded journals) belong to
-- the self-service system server now.
DROP TABLE IF EXISTS kiosks;
DROP TABLE IF EXISTS pushes;
DROP TABLE IF EXISTS journals;
";

/// The store. One connection behind a mutex: every operation is a short SQLite
/// transaction, so one writer at a time is what WAL would give us anyway.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock rolled its SQLite transaction back: the data is fine.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn subscriber_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Subscriber, String)> {
    let status: String = r.get(4)?;
    Ok((
        Subscriber {
            number: r.get(0)?,
            owner_name: r.get(1)?,
            id_number: r.get(2)?,
            real_name: r.get(3)?,
            status: SubscriberStatus::Active,
            prepaid: r.get(5)?,
            balance_fen: r.get(6)?,
            plan_code: r.get(7)?,
            next_plan_code: r.get(8)?,
            service_password: r.get(9)?,
            iccid: r.get(10)?,
        },
        status,
    ))
}

const SUBSCRIBER_COLS: &str = "number, owner_name, id_number, real_name, status, prepaid, \
    balance_fen, plan_code, next_plan_code, service_password, iccid";

impl Store {
    /// Opens (creating if needed) the store at `path` and applies the schema.
    ///
    /// # Errors
    /// When SQLite cannot open or configure the file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// An in-memory store, for unit tests.
    ///
    /// # Errors
    /// When SQLite fails.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `f` in one SQLite transaction, committed if `f` succeeds.
    ///
    /// # Errors
    /// `f`'s error or SQLite's.
    pub fn with_tx<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = lock(&self.conn);
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs a money or card operation once per (kiosk, txn id).
    ///
    /// `fingerprint` identifies the request's content (operation and fields): a repeat with
    /// the same fingerprint returns the stored reply; a different one is
    /// [`StoreError::TxnConflict`]. `apply` runs only the first time, in the same SQLite
    /// transaction that records its reply, so the change and its record commit together.
    ///
    /// # Errors
    /// [`StoreError::TxnConflict`], or SQLite's error (nothing applied then).
    pub fn idempotent<T: Serialize + DeserializeOwned>(
        &self,
        key: &TxnKey<'_>,
        apply: impl FnOnce(&Transaction<'_>) -> Result<(T, Applied), StoreError>,
    ) -> Result<Outcome<T>, StoreError> {
        let TxnKey {
            kiosk_id,
            txn_id,
            op,
            fingerprint,
            day,
            now,
        } = *key;
        self.with_tx(|tx| {
            let prior: Option<(String, String, String)> = tx
                .query_row(
                    "SELECT op, fingerprint, response FROM txns WHERE kiosk_id=?1 AND txn_id=?2",
                    params![kiosk_id, txn_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((p_op, p_fp, response)) = prior {
                let barred = p_fp == BARRED && p_op == op;
                if !barred && (p_op != op || p_fp != fingerprint) {
                    return Err(StoreError::TxnConflict {
                        txn_id: txn_id.to_owned(),
                    });
                }
                return Ok(Outcome::Replay(serde_json::from_str(&response)?));
            }
            let (reply, applied) = apply(tx)?;
            let response = serde_json::to_string(&reply)?;
            tx.execute(
                "INSERT INTO txns(kiosk_id, txn_id, op, fingerprint, number, amount_fen, state, \
                 day, response, at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                params![
                    kiosk_id,
                    txn_id,
                    op,
                    fingerprint,
                    applied.number,
                    applied.amount_fen,
                    if applied.done { "done" } else { "refused" },
                    day,
                    response,
                    now
                ],
            )?;
            Ok(Outcome::Fresh(reply))
        })
    }

    /// The ledger row of (kiosk, txn id), if any (交易结果查询).
    ///
    /// # Errors
    /// SQLite's.
    pub fn txn(&self, kiosk_id: &str, txn_id: &str) -> Result<Option<TxnRow>, StoreError> {
        let conn = lock(&self.conn);
        Ok(txn_row(&conn, kiosk_id, txn_id)?)
    }

    /// Reads a subscriber.
    ///
    /// # Errors
    /// SQLite's, or a corrupt status.
    pub fn subscriber(&self, number: &str) -> Result<Option<Subscriber>, StoreError> {
        let conn = lock(&self.conn);
        subscriber_tx(&conn, number)
    }

    /// The ICCID of the SIM card `number` is active on (the last one written for it), if
    /// the operator wrote one.
    ///
    /// # Errors
    /// SQLite's.
    pub fn sim_of(&self, number: &str) -> Result<Option<String>, StoreError> {
        let conn = lock(&self.conn);
        Ok(conn
            .query_row(
                "SELECT iccid FROM sims WHERE number = ?1 AND state = 'active' ORDER BY rowid DESC LIMIT 1",
                [number],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every plan, cheapest first.
    ///
    /// # Errors
    /// SQLite's.
    pub fn plans(&self) -> Result<Vec<Plan>, StoreError> {
        let conn = lock(&self.conn);
        plans_tx(&conn)
    }

    /// Bills of the last `months` months, newest first.
    ///
    /// # Errors
    /// SQLite's.
    pub fn bills(&self, number: &str, months: u32) -> Result<Vec<Bill>, StoreError> {
        let conn = lock(&self.conn);
        let mut st = conn.prepare(
            "SELECT month, plan_fee_fen, voice_fen, data_fen, sms_fen, other_fen, total_fen, paid \
             FROM bills WHERE number=?1 ORDER BY month DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![number, months], |r| {
            Ok(Bill {
                month: r.get(0)?,
                plan_fee_fen: r.get(1)?,
                voice_fen: r.get(2)?,
                data_fen: r.get(3)?,
                sms_fen: r.get(4)?,
                other_fen: r.get(5)?,
                total_fen: r.get(6)?,
                paid: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Itemised records (详单) of one month `YYYY-MM`, oldest first.
    ///
    /// # Errors
    /// SQLite's.
    pub fn usage(&self, number: &str, month: &str) -> Result<Vec<UsageRecord>, StoreError> {
        let conn = lock(&self.conn);
        let mut st = conn.prepare(
            "SELECT start, kind, peer, quantity, fee_fen FROM usage WHERE number=?1 AND month=?2 \
             ORDER BY start",
        )?;
        let rows = st.query_map(params![number, month], |r| {
            Ok(UsageRecord {
                start: r.get(0)?,
                kind: r.get(1)?,
                peer: r.get(2)?,
                quantity: r.get(3)?,
                fee_fen: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Writes an SMS to the outbox.
    ///
    /// # Errors
    /// SQLite's.
    pub fn send_sms(&self, number: &str, body: &str, now: i64) -> Result<(), StoreError> {
        let conn = lock(&self.conn);
        send_sms_tx(&conn, number, body, now)
    }

    /// SMS sent to `number`, newest last.
    ///
    /// # Errors
    /// SQLite's.
    pub fn sms_for(&self, number: &str) -> Result<Vec<Sms>, StoreError> {
        let conn = lock(&self.conn);
        let mut st =
            conn.prepare("SELECT number, body, at FROM sms_outbox WHERE number=?1 ORDER BY id")?;
        let rows = st.query_map(params![number], |r| {
            Ok(Sms {
                number: r.get(0)?,
                body: r.get(1)?,
                at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The operator's ledger of a day (every kiosk, or one): what reconciliation compares a
    /// kiosk's list with. By kiosk, then transaction id.
    ///
    /// # Errors
    /// SQLite's.
    pub fn ledger(&self, day: &str, kiosk_id: Option<&str>) -> Result<Vec<TxnRow>, StoreError> {
        let conn = lock(&self.conn);
        let mut st = conn.prepare(
            "SELECT kiosk_id, txn_id, op, number, amount_fen, state, day, response, at FROM txns \
             WHERE day=?1 AND (?2 IS NULL OR kiosk_id=?2) ORDER BY kiosk_id, txn_id",
        )?;
        let rows = st.query_map(params![day, kiosk_id], |r| {
            Ok(TxnRow {
                kiosk_id: r.get(0)?,
                txn_id: r.get(1)?,
                op: r.get(2)?,
                number: r.get(3)?,
                amount_fen: r.get(4)?,
                state: r.get(5)?,
                day: r.get(6)?,
                response: r.get(7)?,
                at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Reconciles one kiosk's day (对账): the kiosk's list of transactions (as a `reconcile`
    /// request brings it) against the ledger. Only money operations count in the totals;
    /// every difference in a money-changing operation is listed.
    ///
    /// # Errors
    /// SQLite's.
    pub fn reconcile(
        &self,
        kiosk_id: &str,
        day: &str,
        kiosk: &[ReconEntry],
    ) -> Result<Reconciliation, StoreError> {
        let conn = lock(&self.conn);
        let mut st = conn.prepare(
            "SELECT txn_id, op, number, amount_fen, state FROM txns \
             WHERE kiosk_id=?1 AND day=?2 ORDER BY txn_id",
        )?;
        let ours: Vec<ReconEntry> = st
            .query_map(params![kiosk_id, day], |r| {
                Ok(ReconEntry {
                    txn_id: r.get(0)?,
                    op: r.get(1)?,
                    number: r.get(2)?,
                    amount_fen: r.get(3)?,
                    state: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(reconcile_entries(kiosk_id, day, kiosk, &ours))
    }

    /// Every number registered under `id_number` (一证通查), closed ones included, oldest
    /// first.
    ///
    /// # Errors
    /// SQLite's, or a corrupt status.
    pub fn numbers_by_id(&self, id_number: &str) -> Result<Vec<HeldNumber>, StoreError> {
        let conn = lock(&self.conn);
        numbers_by_id_tx(&conn, id_number)
    }

    /// The loss report of `number`, while it is reported lost (挂失).
    ///
    /// # Errors
    /// SQLite's, or a corrupt status.
    pub fn loss_record(&self, number: &str) -> Result<Option<LossRecord>, StoreError> {
        let conn = lock(&self.conn);
        loss_record_tx(&conn, number)
    }

    /// Every recharge card (充值卡), by serial — without the PINs.
    ///
    /// # Errors
    /// SQLite's, or a corrupt state.
    pub fn pins(&self) -> Result<Vec<PinCard>, StoreError> {
        let conn = lock(&self.conn);
        let mut st = conn.prepare(&format!(
            "SELECT {PIN_CARD_COLS} FROM recharge_pins ORDER BY serial"
        ))?;
        let rows = st.query_map([], pin_card_from_row)?;
        rows.map(|r| {
            let (mut card, state) = r?;
            card.state = PinState::parse(&state)?;
            Ok(card)
        })
        .collect()
    }

    /// Credits `number` with a recharge PIN in one SQLite transaction — the same function
    /// the `pin_recharge` operation runs, so a PIN credits exactly once whichever channel
    /// redeems it. `via` names the channel (a kiosk id; `ivr` for the operator's own line,
    /// `boss-sim pin redeem`); `today` is the business day `YYYY-MM-DD`.
    ///
    /// # Errors
    /// SQLite's (nothing applied then).
    pub fn redeem_pin(
        &self,
        number: &str,
        pin: &str,
        via: &str,
        today: &str,
        now: i64,
    ) -> Result<Result<PinCredit, PinRefusal>, StoreError> {
        self.with_tx(|tx| redeem_pin_tx(tx, number, pin, via, today, now))
    }

    /// Reads a meta value.
    ///
    /// # Errors
    /// SQLite's.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let conn = lock(&self.conn);
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key=?1", [key], |r| r.get(0))
            .optional()?)
    }
}

/// Is `op` one that takes money in (counted in reports and reconciliation totals)?
#[must_use]
pub fn is_money_op(op: &str) -> bool {
    matches!(
        op,
        "recharge" | "new_sim_order" | "replacement_sim" | "pin_sale"
    )
}

/// Is `op` money-changing (compared one by one in reconciliation)? The money-in operations
/// and those that give money back. Kiosk-only journal entries (`cash_box_clearance`, …) and
/// operations without money (`plan_change`, `activate_sim`, `loss_report`, and
/// `pin_recharge`, which spends a card paid for earlier and takes no cash) are not reconciled.
/// A voided `pin_sale` is `reversed` in the ledger, like a reversed recharge: it leaves the
/// totals, and its `pin_void` is compared one by one.
#[must_use]
pub fn is_money_changing(op: &str) -> bool {
    is_money_op(op) || matches!(op, "reversal" | "cancel_order" | "pin_void")
}

/// Pure comparison of a kiosk's list and the ledger for one kiosk and day. Amounts are
/// compared where both sides say the transaction was done (a refusal moved no money, whatever
/// amount the kiosk lists for it).
#[must_use]
pub fn reconcile_entries(
    kiosk_id: &str,
    day: &str,
    kiosk: &[ReconEntry],
    ours: &[ReconEntry],
) -> Reconciliation {
    use std::collections::BTreeMap;
    let counts = |v: &[ReconEntry]| {
        v.iter()
            .filter(|e| e.state == "done" && is_money_op(&e.op))
            .fold((0, 0), |(c, a), e| (c + 1, a + e.amount_fen))
    };
    let (kiosk_count, kiosk_amount_fen) = counts(kiosk);
    let (operator_count, operator_amount_fen) = counts(ours);
    let k: BTreeMap<&str, &ReconEntry> = kiosk
        .iter()
        .filter(|e| is_money_changing(&e.op))
        .map(|e| (e.txn_id.as_str(), e))
        .collect();
    let o: BTreeMap<&str, &ReconEntry> = ours
        .iter()
        .filter(|e| is_money_changing(&e.op))
        .map(|e| (e.txn_id.as_str(), e))
        .collect();
    let mut ids: Vec<&str> = k.keys().chain(o.keys()).copied().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut mismatches = Vec::new();
    for id in ids {
        let (ke, oe) = (k.get(id), o.get(id));
        let kind = match (ke, oe) {
            (Some(ke), None) if ke.state == "done" => Some(MismatchKind::MissingAtOperator),
            (None, Some(oe)) if oe.state == "done" => Some(MismatchKind::MissingAtKiosk),
            (Some(ke), Some(oe)) if (ke.state == "done") != (oe.state == "done") => {
                Some(MismatchKind::StateDiffers)
            }
            (Some(ke), Some(oe)) if ke.state == "done" && ke.amount_fen != oe.amount_fen => {
                Some(MismatchKind::AmountDiffers)
            }
            _ => None,
        };
        if let Some(kind) = kind {
            mismatches.push(Mismatch {
                txn_id: id.to_owned(),
                kind,
                kiosk_amount_fen: ke.map(|e| e.amount_fen),
                operator_amount_fen: oe.map(|e| e.amount_fen),
                kiosk_state: ke.map(|e| e.state.clone()),
                operator_state: oe.map(|e| e.state.clone()),
            });
        }
    }
    Reconciliation {
        kiosk_id: kiosk_id.to_owned(),
        day: day.to_owned(),
        kiosk_count,
        kiosk_amount_fen,
        operator_count,
        operator_amount_fen,
        mismatches,
    }
}

/// Reads a ledger row inside a transaction or on a connection.
///
/// # Errors
/// SQLite's.
pub fn txn_row(
    conn: &Connection,
    kiosk_id: &str,
    txn_id: &str,
) -> rusqlite::Result<Option<TxnRow>> {
    conn.query_row(
        "SELECT kiosk_id, txn_id, op, number, amount_fen, state, day, response, at FROM txns \
         WHERE kiosk_id=?1 AND txn_id=?2",
        params![kiosk_id, txn_id],
        |r| {
            Ok(TxnRow {
                kiosk_id: r.get(0)?,
                txn_id: r.get(1)?,
                op: r.get(2)?,
                number: r.get(3)?,
                amount_fen: r.get(4)?,
                state: r.get(5)?,
                day: r.get(6)?,
                response: r.get(7)?,
                at: r.get(8)?,
            })
        },
    )
    .optional()
}

/// Reads a subscriber inside a transaction or on a connection.
///
/// # Errors
/// SQLite's, or a corrupt status.
pub fn subscriber_tx(conn: &Connection, number: &str) -> Result<Option<Subscriber>, StoreError> {
    let row = conn
        .query_row(
            &format!("SELECT {SUBSCRIBER_COLS} FROM subscribers WHERE number=?1"),
            [number],
            subscriber_from_row,
        )
        .optional()?;
    row.map(|(mut s, status)| {
        s.status = SubscriberStatus::parse(&status)?;
        Ok(s)
    })
    .transpose()
}

/// Every plan, cheapest first.
///
/// # Errors
/// SQLite's, or a corrupt plan kind.
pub fn plans_tx(conn: &Connection) -> Result<Vec<Plan>, StoreError> {
    let mut st = conn.prepare(
        "SELECT code, name, kind, monthly_fee_fen, data_mb, voice_min, sms, open FROM plans \
         ORDER BY monthly_fee_fen, code",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(2)?,
            Plan {
                code: r.get(0)?,
                name: r.get(1)?,
                kind: PlanKind::Package,
                monthly_fee_fen: r.get(3)?,
                data_mb: r.get(4)?,
                voice_min: r.get(5)?,
                sms: r.get(6)?,
                open: r.get(7)?,
            },
        ))
    })?;
    rows.map(|r| {
        let (kind, mut p) = r?;
        p.kind = PlanKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(kind.clone()))?;
        Ok(p)
    })
    .collect()
}

/// Reads one plan.
///
/// # Errors
/// SQLite's.
pub fn plan_tx(conn: &Connection, code: &str) -> Result<Option<Plan>, StoreError> {
    Ok(plans_tx(conn)?.into_iter().find(|p| p.code == code))
}

/// Writes an SMS to the outbox.
///
/// # Errors
/// SQLite's.
pub fn send_sms_tx(
    conn: &Connection,
    number: &str,
    body: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sms_outbox(number, body, at) VALUES (?1,?2,?3)",
        params![number, body, now],
    )?;
    Ok(())
}

/// Records `txn_id` of `kiosk_id` as already answered with the refusal `response` (JSON of
/// the reply) before its request arrived: when the request comes, [`Store::idempotent`]
/// answers that refusal and applies nothing (a `pin_void` of a sale never received bars the
/// sale, so a late copy of it cannot sell a PIN the kiosk has already refunded). The row is
/// a refusal in the ledger: no money.
///
/// # Errors
/// SQLite's (also when the id is already in the ledger).
pub fn bar_txn_tx(
    conn: &Connection,
    kiosk_id: &str,
    txn_id: &str,
    op: &str,
    day: &str,
    now: i64,
    response: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO txns(kiosk_id, txn_id, op, fingerprint, number, amount_fen, state, day, \
         response, at) VALUES (?1,?2,?3,?4,'',0,'refused',?5,?6,?7)",
        params![kiosk_id, txn_id, op, BARRED, day, response, now],
    )?;
    Ok(())
}

/// Every number registered under an ID, closed ones included, oldest first.
///
/// # Errors
/// SQLite's, or a corrupt status.
pub fn numbers_by_id_tx(conn: &Connection, id_number: &str) -> Result<Vec<HeldNumber>, StoreError> {
    let mut st = conn.prepare(
        "SELECT number, status, prepaid, opened_on FROM subscribers WHERE id_number=?1 \
         ORDER BY opened_on, number",
    )?;
    let rows = st.query_map([id_number], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, bool>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    rows.map(|r| {
        let (number, status, prepaid, opened_on) = r?;
        Ok(HeldNumber {
            number,
            status: SubscriberStatus::parse(&status)?,
            prepaid,
            opened_on,
        })
    })
    .collect()
}

/// The loss report of a number, while it is reported lost.
///
/// # Errors
/// SQLite's, or a corrupt status.
pub fn loss_record_tx(conn: &Connection, number: &str) -> Result<Option<LossRecord>, StoreError> {
    let row: Option<(String, String, i64, String)> = conn
        .query_row(
            "SELECT number, status_before, reported_at, reported_via FROM loss_reports \
             WHERE number=?1",
            [number],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    row.map(|(number, before, reported_at, reported_via)| {
        Ok(LossRecord {
            number,
            status_before: SubscriberStatus::parse(&before)?,
            reported_at,
            reported_via,
        })
    })
    .transpose()
}

/// 挂失: suspends `number` as reported lost, remembering the state it is in (`before`).
///
/// # Errors
/// SQLite's.
pub fn report_loss_tx(
    conn: &Connection,
    number: &str,
    before: SubscriberStatus,
    via: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO loss_reports(number, status_before, reported_at, reported_via) \
         VALUES (?1,?2,?3,?4)",
        params![number, before.as_str(), now, via],
    )?;
    conn.execute(
        "UPDATE subscribers SET status=?2 WHERE number=?1",
        params![number, SubscriberStatus::ReportedLost.as_str()],
    )?;
    Ok(())
}

/// 解挂: gives a number reported lost back the state it had before
/// ([`SubscriberStatus::after_loss_lift`] with today's balance) and answers that state.
///
/// # Errors
/// SQLite's, or a corrupt status.
pub fn lift_loss_tx(conn: &Connection, number: &str) -> Result<SubscriberStatus, StoreError> {
    let before =
        loss_record_tx(conn, number)?.map_or(SubscriberStatus::Active, |l| l.status_before);
    let balance: i64 = conn.query_row(
        "SELECT balance_fen FROM subscribers WHERE number=?1",
        [number],
        |r| r.get(0),
    )?;
    let now = SubscriberStatus::after_loss_lift(before, balance);
    conn.execute(
        "UPDATE subscribers SET status=?2 WHERE number=?1",
        params![number, now.as_str()],
    )?;
    conn.execute("DELETE FROM loss_reports WHERE number=?1", [number])?;
    Ok(now)
}

const PIN_CARD_COLS: &str = "serial, face_fen, kiosk_id, sale_txn_id, state, sold_on, \
    expires_on, redeemed_number, redeemed_at, redeemed_via";

fn pin_card_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(PinCard, String)> {
    Ok((
        PinCard {
            serial: r.get(0)?,
            face_fen: r.get(1)?,
            kiosk_id: r.get(2)?,
            sale_txn_id: r.get(3)?,
            state: PinState::Sold,
            sold_on: r.get(5)?,
            expires_on: r.get(6)?,
            redeemed_number: r.get(7)?,
            redeemed_at: r.get(8)?,
            redeemed_via: r.get(9)?,
        },
        r.get(4)?,
    ))
}

/// A recharge card about to be sold.
#[derive(Debug, Clone, Copy)]
pub struct PinIssue<'a> {
    /// The selling kiosk.
    pub kiosk_id: &'a str,
    /// The sale's transaction id.
    pub sale_txn_id: &'a str,
    /// Face value, fen.
    pub face_fen: i64,
    /// Day of sale, `YYYY-MM-DD`.
    pub sold_on: &'a str,
    /// Last valid day, `YYYY-MM-DD`.
    pub expires_on: &'a str,
    /// Now, Unix seconds.
    pub now: i64,
}

/// Issues a recharge card: a new serial (the sale day's digits and a sequence number,
/// 16 digits) and a PIN drawn from `next_pin` that no card has had (drawn again on the
/// rare repeat). Answers (serial, PIN). The PIN is kept as the operator's card system keeps
/// it — here in the simulator's SQLite file, which holds test data only.
///
/// # Errors
/// SQLite's; [`StoreError::Corrupt`] if `next_pin` keeps repeating PINs.
pub fn issue_pin_tx(
    conn: &Connection,
    card: &PinIssue<'_>,
    mut next_pin: impl FnMut() -> String,
) -> Result<(String, String), StoreError> {
    let seq: i64 = conn.query_row(
        "SELECT COALESCE(MAX(rowid), 0) + 1 FROM recharge_pins",
        [],
        |r| r.get(0),
    )?;
    let day: String = card.sold_on.chars().filter(char::is_ascii_digit).collect();
    let serial = format!("{day}{:08}", seq.rem_euclid(100_000_000));
    for _ in 0..8 {
        let pin = next_pin();
        let taken = conn
            .query_row("SELECT 1 FROM recharge_pins WHERE pin=?1", [&pin], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .is_some();
        if taken {
            continue;
        }
        conn.execute(
            "INSERT INTO recharge_pins(serial, pin, face_fen, kiosk_id, sale_txn_id, state, \
             sold_on, expires_on, sold_at) VALUES (?1,?2,?3,?4,?5,'sold',?6,?7,?8)",
            params![
                serial,
                pin,
                card.face_fen,
                card.kiosk_id,
                card.sale_txn_id,
                card.sold_on,
                card.expires_on,
                card.now
            ],
        )?;
        return Ok((serial, pin));
    }
    Err(StoreError::Corrupt(
        "no unused recharge PIN could be drawn".into(),
    ))
}

/// The card a kiosk's sale issued, if any.
///
/// # Errors
/// SQLite's, or a corrupt state.
pub fn pin_of_sale_tx(
    conn: &Connection,
    kiosk_id: &str,
    sale_txn_id: &str,
) -> Result<Option<PinCard>, StoreError> {
    let row = conn
        .query_row(
            &format!(
                "SELECT {PIN_CARD_COLS} FROM recharge_pins WHERE kiosk_id=?1 AND sale_txn_id=?2"
            ),
            params![kiosk_id, sale_txn_id],
            pin_card_from_row,
        )
        .optional()?;
    row.map(|(mut card, state)| {
        card.state = PinState::parse(&state)?;
        Ok(card)
    })
    .transpose()
}

/// Voids an unused card (作废): its PIN will never credit anything.
///
/// # Errors
/// SQLite's; [`StoreError::Corrupt`] when the card is not in the `sold` state.
pub fn void_pin_tx(conn: &Connection, serial: &str) -> Result<(), StoreError> {
    let n = conn.execute(
        "UPDATE recharge_pins SET state='voided' WHERE serial=?1 AND state='sold'",
        [serial],
    )?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!("card {serial} is not sold")))
    }
}

/// Credits `number` with the face value of a recharge PIN and marks the card redeemed, in
/// the caller's SQLite transaction, so both happen or neither. Checks the number (unknown,
/// closed), then the PIN (unknown, voided or used: [`PinRefusal::Invalid`]; past its last
/// day on `today`: [`PinRefusal::Expired`]). A number stopped for arrears is restored when
/// the credit covers them, as with a cash recharge. Sends the recharge SMS. The PIN itself
/// is never logged.
///
/// # Errors
/// SQLite's.
pub fn redeem_pin_tx(
    conn: &Connection,
    number: &str,
    pin: &str,
    via: &str,
    today: &str,
    now: i64,
) -> Result<Result<PinCredit, PinRefusal>, StoreError> {
    let Some(sub) = subscriber_tx(conn, number)? else {
        return Ok(Err(PinRefusal::UnknownSubscriber));
    };
    if sub.status == SubscriberStatus::Closed {
        return Ok(Err(PinRefusal::NumberClosed));
    }
    let card: Option<(String, i64, String, String)> = conn
        .query_row(
            "SELECT serial, face_fen, state, expires_on FROM recharge_pins WHERE pin=?1",
            [pin],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((serial, face, state, expires_on)) = card else {
        return Ok(Err(PinRefusal::Invalid));
    };
    if state != PinState::Sold.as_str() {
        return Ok(Err(PinRefusal::Invalid));
    }
    // `YYYY-MM-DD` strings order as the days do.
    if expires_on.as_str() < today {
        return Ok(Err(PinRefusal::Expired));
    }
    let n = conn.execute(
        "UPDATE recharge_pins SET state='redeemed', redeemed_number=?2, redeemed_at=?3, \
         redeemed_via=?4 WHERE serial=?1 AND state='sold'",
        params![serial, number, now, via],
    )?;
    if n != 1 {
        return Ok(Err(PinRefusal::Invalid));
    }
    let balance = sub.balance_fen + face;
    let restore = sub.status == SubscriberStatus::SuspendedArrears && balance >= 0;
    conn.execute(
        "UPDATE subscribers SET balance_fen=?2, status=CASE WHEN ?3 THEN 'active' ELSE status END \
         WHERE number=?1",
        params![number, balance, restore],
    )?;
    let tail: String = serial
        .chars()
        .skip(serial.chars().count().saturating_sub(4))
        .collect();
    let mut body = format!(
        "【中国移动】您已使用充值卡（序列号尾号{tail}）充值{}元，当前余额{}元。",
        crate::console::yuan(face),
        crate::console::yuan(balance)
    );
    if restore {
        body.push_str("您的号码已恢复通话。");
    }
    send_sms_tx(conn, number, &body, now)?;
    Ok(Ok(PinCredit {
        serial,
        amount_fen: face,
        balance_fen: balance,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, op: &str, fen: i64, state: &str) -> ReconEntry {
        ReconEntry {
            txn_id: id.into(),
            op: op.into(),
            number: String::new(),
            amount_fen: fen,
            state: state.into(),
        }
    }

    #[test]
    fn reconciliation_lists_each_kind_of_difference() {
        let kiosk = [
            e("A", "recharge", 100, "done"),
            e("B", "recharge", 200, "done"),
            e("C", "recharge", 300, "refused"),
            e("D", "recharge", 400, "done"),
            // Refused on both sides: the kiosk lists the cash it took, the ledger no money.
            e("F", "recharge", 500, "failed"),
            e("X", "cash_box_clearance", 99_900, "done"),
        ];
        let ours = [
            e("A", "recharge", 100, "done"),
            e("B", "recharge", 250, "done"),
            e("C", "recharge", 300, "done"),
            e("E", "new_sim_order", 6_000, "done"),
            e("F", "recharge", 0, "refused"),
            e("P", "plan_change", 0, "done"),
        ];
        let r = reconcile_entries("K1", "2026-11-20", &kiosk, &ours);
        let got: Vec<(&str, MismatchKind)> = r
            .mismatches
            .iter()
            .map(|m| (m.txn_id.as_str(), m.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("B", MismatchKind::AmountDiffers),
                ("C", MismatchKind::StateDiffers),
                ("D", MismatchKind::MissingAtOperator),
                ("E", MismatchKind::MissingAtKiosk),
            ]
        );
        assert_eq!((r.kiosk_count, r.kiosk_amount_fen), (3, 700));
        assert_eq!((r.operator_count, r.operator_amount_fen), (4, 6_650));
    }

    #[test]
    fn lifting_a_loss_restores_the_state_before_unless_the_arrears_were_paid() {
        use SubscriberStatus as S;
        assert_eq!(S::after_loss_lift(S::Active, -500), S::Active);
        assert_eq!(
            S::after_loss_lift(S::SuspendedArrears, -1),
            S::SuspendedArrears
        );
        assert_eq!(S::after_loss_lift(S::SuspendedArrears, 0), S::Active);
        assert_eq!(
            S::after_loss_lift(S::SuspendedByOwner, 100),
            S::SuspendedByOwner
        );
        for s in [
            S::Active,
            S::SuspendedArrears,
            S::SuspendedByOwner,
            S::ReportedLost,
            S::Closed,
        ] {
            assert_eq!(S::parse(s.as_str()).unwrap(), s);
        }
    }

    #[test]
    fn a_pin_credits_once_and_only_while_valid() {
        let s = Store::open_in_memory().unwrap();
        crate::seed::seed_if_empty(&s, time::macros::date!(2026 - 11 - 20)).unwrap();
        let card = PinIssue {
            kiosk_id: "K1",
            sale_txn_id: "S1",
            face_fen: 5_000,
            sold_on: "2026-11-20",
            expires_on: "2027-11-20",
            now: 0,
        };
        let mut draws = [
            "111111111111111111",
            "111111111111111111",
            "222222222222222222",
        ]
        .into_iter()
        .map(str::to_owned);
        let (serial, pin) = s
            .with_tx(|tx| {
                let first = issue_pin_tx(tx, &card, || draws.next().unwrap_or_default())?;
                // The next draw repeats the first PIN: drawn again.
                let second = issue_pin_tx(
                    tx,
                    &PinIssue {
                        sale_txn_id: "S2",
                        ..card
                    },
                    || draws.next().unwrap_or_default(),
                )?;
                assert_eq!(second.1, "222222222222222222");
                assert_ne!(first.0, second.0, "serials are unique");
                Ok(first)
            })
            .unwrap();
        assert_eq!(serial.len(), 16);
        assert!(serial.starts_with("20261120"));
        let before = s.subscriber("13800000000").unwrap().unwrap().balance_fen;
        let redeem = |number: &str, pin: &str, today: &str| {
            s.redeem_pin(number, pin, "ivr", today, 0).unwrap()
        };
        assert_eq!(
            redeem("13800000000", &pin, "2027-11-21"),
            Err(PinRefusal::Expired)
        );
        assert_eq!(
            redeem("15800000006", &pin, "2026-11-20"),
            Err(PinRefusal::NumberClosed)
        );
        let credit = redeem("13800000000", &pin, "2027-11-20").unwrap();
        assert_eq!(
            (credit.amount_fen, credit.balance_fen),
            (5_000, before + 5_000)
        );
        assert_eq!(
            redeem("13800000000", &pin, "2026-11-20"),
            Err(PinRefusal::Invalid),
            "used"
        );
        assert_eq!(
            redeem("13800000000", "000000000000000000", "2026-11-20"),
            Err(PinRefusal::Invalid)
        );
        let cards = s.pins().unwrap();
        let used = cards.iter().find(|c| c.serial == serial).unwrap();
        assert_eq!(used.state, PinState::Redeemed);
        assert_eq!(used.redeemed_number.as_deref(), Some("13800000000"));
        assert!(
            s.sms_for("13800000000")
                .unwrap()
                .iter()
                .any(|m| m.body.contains("充值卡"))
        );
        let json = serde_json::to_string(&cards).unwrap();
        assert!(!json.contains(&pin), "a listed card never carries its PIN");
    }

    #[test]
    fn idempotent_applies_once_and_detects_reuse() {
        let s = Store::open_in_memory().unwrap();
        let key = TxnKey {
            kiosk_id: "K1",
            txn_id: "T1",
            op: "recharge",
            fingerprint: "a",
            day: "2026-11-20",
            now: 0,
        };
        let mut runs = 0;
        for _ in 0..3 {
            let out = s
                .idempotent(&key, |_| {
                    runs += 1;
                    Ok((
                        runs,
                        Applied {
                            number: "1".into(),
                            amount_fen: 5,
                            done: true,
                        },
                    ))
                })
                .unwrap();
            assert_eq!(out.into_inner(), 1);
        }
        assert_eq!(runs, 1);
        let other = TxnKey {
            fingerprint: "b",
            ..key
        };
        let r = s.idempotent(&other, |_| {
            Ok((
                0,
                Applied {
                    number: String::new(),
                    amount_fen: 0,
                    done: true,
                },
            ))
        });
        assert!(matches!(r, Err(StoreError::TxnConflict { .. })));
        // Another kiosk may use the same txn id.
        let k2 = TxnKey {
            kiosk_id: "K2",
            ..key
        };
        let out = s
            .idempotent(&k2, |_| {
                Ok((
                    9,
                    Applied {
                        number: String::new(),
                        amount_fen: 0,
                        done: true,
                    },
                ))
            })
            .unwrap();
        assert!(out.is_fresh());
    }
}
