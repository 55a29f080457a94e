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
    /// 报停/挂失 — suspended at the owner's request (lost phone and the like).
    SuspendedByOwner,
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
            Self::Closed => "closed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "active" => Self::Active,
            "suspended_arrears" => Self::SuspendedArrears,
            "suspended_by_owner" => Self::SuspendedByOwner,
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
                if p_op != op || p_fp != fingerprint {
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
    matches!(op, "recharge" | "new_sim_order" | "replacement_sim")
}

/// Is `op` money-changing (compared one by one in reconciliation)? The money-in operations
/// and those that give money back. Kiosk-only journal entries (`cash_box_clearance`, …) and
/// operations without money (`plan_change`, `activate_sim`) are not reconciled.
#[must_use]
pub fn is_money_changing(op: &str) -> bool {
    is_money_op(op) || matches!(op, "reversal" | "cancel_order")
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
