//! Head office's store: kiosks and shops, live connections and server instances, pushes
//! and their acknowledgements, configuration bundles and rollouts, the audit log, alerts,
//! uploaded journals, the money transactions the server forwarded, reconciliation results
//! and job leases — on SQLite or PostgreSQL ([`crate::db`]).
//!
//! The store is the library API a web console sits on: every read a page needs
//! ([`Store::fleet`], [`Store::alerts`], [`Store::audit`], the reports in
//! [`crate::reports`]) and every act head office takes ([`Store::lock`],
//! [`Store::create_bundle`], [`Store::rollout`] …, each with its actor, written to the audit
//! log in the same transaction). Calls block; from async code use [`Store::run`].

use std::sync::Arc;

use time::{Date, OffsetDateTime, UtcOffset};

use crate::db::{Backend, Db, DbError, Row, Sql};

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbError),
    /// A stored document does not parse.
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// What was asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is not acceptable (a configuration that fails its checks, no target …).
    #[error("{0}")]
    Invalid(String),
    /// The blocking task running the call failed.
    #[error("store task failed")]
    Task,
}

/// China Standard Time: the operator's business calendar.
pub const CST: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// Now, UTC milliseconds since the Unix epoch.
#[must_use]
pub fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// The business day (`YYYY-MM-DD`, Beijing time) of a UTC-ms instant.
#[must_use]
pub fn day_of_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| format_day(t.to_offset(CST).date()))
        .unwrap_or_default()
}

/// `YYYY-MM-DD`.
#[must_use]
pub fn format_day(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parses `YYYY-MM-DD`.
///
/// # Errors
/// [`StoreError::Invalid`] naming the text.
pub fn parse_day(s: &str) -> Result<Date, StoreError> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| StoreError::Invalid(format!("{s:?} is not a day (YYYY-MM-DD)")))
}

/// Business today (Beijing time).
#[must_use]
pub fn today() -> String {
    day_of_ms(now_ms())
}

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shops(shop_id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kiosks(
  kiosk_id TEXT PRIMARY KEY, shop_id TEXT, first_seen_ms BIGINT NOT NULL,
  last_seen_ms BIGINT NOT NULL, last_heartbeat_ms BIGINT, software TEXT,
  config_version BIGINT, devices TEXT, cash_box TEXT, cash_notes BIGINT,
  cash_capacity BIGINT, cash_total_fen BIGINT, blank_sims BIGINT, reject_bin BIGINT,
  screen TEXT, screen_since_ms BIGINT, last_error TEXT,
  locked BIGINT NOT NULL DEFAULT 0, lock_reason TEXT, lock_message TEXT,
  kiosk_state TEXT, state_detail TEXT);
CREATE TABLE IF NOT EXISTS instances(
  instance_id TEXT PRIMARY KEY, listen TEXT NOT NULL, started_ms BIGINT NOT NULL,
  beat_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS connections(
  kiosk_id TEXT PRIMARY KEY, instance_id TEXT NOT NULL, conn_id BIGINT NOT NULL,
  peer TEXT NOT NULL, since_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS pushes(
  push_id {ID}, kiosk_id TEXT NOT NULL, op TEXT NOT NULL, payload TEXT NOT NULL,
  config_version BIGINT, created_ms BIGINT NOT NULL, created_by TEXT NOT NULL,
  sent_ms BIGINT, acked_ms BIGINT, outcome TEXT, message TEXT, diagnostics TEXT);
CREATE INDEX IF NOT EXISTS pushes_pending ON pushes(kiosk_id, acked_ms);
CREATE TABLE IF NOT EXISTS config_bundles(
  version BIGINT PRIMARY KEY, content TEXT NOT NULL, signature TEXT NOT NULL,
  created_ms BIGINT NOT NULL, created_by TEXT NOT NULL, note TEXT, based_on BIGINT);
CREATE TABLE IF NOT EXISTS config_rollouts(
  version BIGINT NOT NULL, kiosk_id TEXT NOT NULL, push_id BIGINT NOT NULL,
  status TEXT NOT NULL, reason TEXT, updated_ms BIGINT NOT NULL,
  PRIMARY KEY(version, kiosk_id));
CREATE INDEX IF NOT EXISTS config_rollouts_push ON config_rollouts(push_id);
CREATE TABLE IF NOT EXISTS audit(
  audit_id {ID}, at_ms BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  target TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts(
  alert_id {ID}, kiosk_id TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
  detail TEXT NOT NULL, raised_ms BIGINT NOT NULL, cleared_ms BIGINT,
  raise_sent_ms BIGINT, clear_sent_ms BIGINT);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_active ON alerts(kiosk_id, kind, subject)
  WHERE cleared_ms IS NULL;
CREATE TABLE IF NOT EXISTS journal(
  kiosk_id TEXT NOT NULL, seq BIGINT NOT NULL, txn_id TEXT NOT NULL, at_ms BIGINT NOT NULL,
  day TEXT NOT NULL, op TEXT NOT NULL, msisdn_masked TEXT, amount_fen BIGINT NOT NULL,
  state TEXT NOT NULL, detail TEXT, received_ms BIGINT NOT NULL,
  voucher_fen BIGINT NOT NULL DEFAULT 0, credited_fen BIGINT, PRIMARY KEY(kiosk_id, seq));
CREATE INDEX IF NOT EXISTS journal_day ON journal(day, kiosk_id);
CREATE TABLE IF NOT EXISTS txns(
  kiosk_id TEXT NOT NULL, txn_id TEXT NOT NULL, op TEXT NOT NULL, day TEXT NOT NULL,
  at_ms BIGINT NOT NULL, amount_fen BIGINT NOT NULL, state TEXT NOT NULL, code TEXT,
  arrears_fen BIGINT NOT NULL, operator_ref TEXT, PRIMARY KEY(kiosk_id, txn_id));
CREATE INDEX IF NOT EXISTS txns_day ON txns(day, kiosk_id);
CREATE TABLE IF NOT EXISTS recon_runs(
  kiosk_id TEXT NOT NULL, day TEXT NOT NULL, run_ms BIGINT NOT NULL, balanced BIGINT NOT NULL,
  kiosk_count BIGINT NOT NULL, kiosk_amount_fen BIGINT NOT NULL,
  operator_count BIGINT NOT NULL, operator_amount_fen BIGINT NOT NULL,
  PRIMARY KEY(kiosk_id, day));
CREATE TABLE IF NOT EXISTS recon_mismatches(
  kiosk_id TEXT NOT NULL, day TEXT NOT NULL, txn_id TEXT NOT NULL, kind TEXT NOT NULL,
  op TEXT NOT NULL, kiosk_amount_fen BIGINT, operator_amount_fen BIGINT, kiosk_state TEXT,
  operator_state TEXT, PRIMARY KEY(kiosk_id, day, txn_id));
CREATE TABLE IF NOT EXISTS jobs(
  name TEXT PRIMARY KEY, holder TEXT, until_ms BIGINT NOT NULL, done TEXT);
";

/// Columns added since the first schema: `(table, column, type)`, added to a database made
/// before them (a fresh one has them from [`SCHEMA`]).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("kiosks", "kiosk_state", "TEXT"),
    ("kiosks", "state_detail", "TEXT"),
    ("journal", "voucher_fen", "BIGINT NOT NULL DEFAULT 0"),
    ("journal", "credited_fen", "BIGINT"),
];

/// Notification channel: a push was queued (payload: kiosk id). On PostgreSQL the channel
/// is this name, `_` and the schema (`hq_push_public`): deployments sharing a database in
/// schemas of their own do not hear each other.
pub const CHANNEL_PUSH: &str = "hq_push";
/// Notification channel: a kiosk connected to an instance (payload: `kiosk instance conn`);
/// scoped to the schema like [`CHANNEL_PUSH`].
pub const CHANNEL_CONN: &str = "hq_conn";

/// The store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: Arc<Db>,
}

/// A pending push as the connection sends it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PushRow {
    /// Push id (the envelope id on the wire).
    pub push_id: i64,
    /// Target kiosk.
    pub kiosk_id: String,
    /// `config_bundle`, `lock`, `unlock`, `diagnostics_request`.
    pub op: String,
    /// The push body (JSON of [`boss_protocol::Push`]).
    pub payload: String,
    /// When head office queued it (UTC ms) and who.
    pub created_ms: i64,
    /// Who queued it.
    pub created_by: String,
    /// When it was last written to the kiosk's connection.
    pub sent_ms: Option<i64>,
    /// When the kiosk acknowledged it.
    pub acked_ms: Option<i64>,
    /// `applied`, `deferred`, `rejected`.
    pub outcome: Option<String>,
    /// The kiosk's explanation.
    pub message: Option<String>,
    /// Diagnostics returned with a `diagnostics_request` ack.
    pub diagnostics: Option<serde_json::Value>,
}

impl PushRow {
    fn from_row(r: &Row) -> Result<Self, StoreError> {
        Ok(Self {
            push_id: r.i64(0)?,
            kiosk_id: r.str(1)?,
            op: r.str(2)?,
            payload: r.str(3)?,
            created_ms: r.i64(4)?,
            created_by: r.str(5)?,
            sent_ms: r.opt_i64(6)?,
            acked_ms: r.opt_i64(7)?,
            outcome: r.opt_str(8)?,
            message: r.opt_str(9)?,
            diagnostics: r
                .opt_str(10)?
                .map(|d| serde_json::from_str(&d))
                .transpose()?,
        })
    }
}

const PUSH_COLS: &str = "push_id, kiosk_id, op, payload, created_ms, created_by, sent_ms, \
    acked_ms, outcome, message, diagnostics";

/// One entry of the audit log: who did what to what, when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Sequence number.
    pub audit_id: i64,
    /// When (UTC ms).
    pub at_ms: i64,
    /// Who (`cli:alice`, a staff account of the web console, `system`).
    pub actor: String,
    /// What (`lock`, `config.create`, `config.rollout`, …).
    pub action: String,
    /// On what (`kiosk:K0001`, `shop:S01`, `fleet`, `config:7`).
    pub target: String,
    /// Details (JSON text, no personal data).
    pub detail: String,
}

/// What the server knows about a kiosk's hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloState {
    /// Locked by head office: reason and screen text.
    pub locked: Option<(String, Option<String>)>,
    /// Newest configuration version rolled out to the kiosk.
    pub config_version: Option<u64>,
    /// Highest journal seq held.
    pub journal_acked_seq: Option<u64>,
}

/// A heartbeat to persist (the latest of a kiosk).
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatRecord {
    /// The kiosk.
    pub kiosk_id: String,
    /// When the server received it (UTC ms).
    pub at_ms: i64,
    /// The heartbeat.
    pub heartbeat: boss_protocol::Heartbeat,
}

/// A money (or card) transaction the server forwarded and saw answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedTxn {
    /// The kiosk.
    pub kiosk_id: String,
    /// Its transaction id.
    pub txn_id: String,
    /// Operation.
    pub op: String,
    /// When answered (UTC ms).
    pub at_ms: i64,
    /// Amount, fen.
    pub amount_fen: i64,
    /// `committed` or `failed`.
    pub state: String,
    /// Error code when failed.
    pub code: Option<String>,
    /// Part of the amount that paid arrears (欠费), fen.
    pub arrears_fen: i64,
    /// Operator's reference.
    pub operator_ref: Option<String>,
    /// For a reversal: the transaction it undid.
    pub reverses: Option<String>,
}

/// A non-negative amount in fen named `key` in a journal entry's `detail` (JSON text).
fn detail_fen(detail: Option<&str>, key: &str) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_str(detail?).ok()?;
    v.get(key)?.as_i64().filter(|f| *f >= 0)
}

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|x| u64::try_from(x).ok())
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens the database at `url` ([`Db::open`]) and brings its schema up to date.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_in(url, None)
    }

    /// [`Store::open`] in a PostgreSQL schema of its own (created if missing).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn open_in(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        if let Some(s) = schema {
            if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(StoreError::Invalid(format!("schema name {s:?}")));
            }
            let db = Db::open(url, None)?;
            db.batch(&format!("CREATE SCHEMA IF NOT EXISTS {s}"))?;
        }
        let db = Db::open(url, schema)?;
        let id = match db.backend() {
            Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Backend::Postgres => "BIGSERIAL PRIMARY KEY",
        };
        let ddl = format!("{SCHEMA}{}", crate::store_console::SCHEMA).replace("{ID}", id);
        match db.backend() {
            Backend::Sqlite => {
                db.batch(&ddl)?;
                db.tx(|s| -> Result<(), StoreError> {
                    for (table, column, ty) in ADDED_COLUMNS {
                        let has = s.one(
                            "SELECT 1 FROM pragma_table_info($1) WHERE name=$2",
                            &[(*table).into(), (*column).into()],
                        )?;
                        if has.is_none() {
                            s.exec(
                                &format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"),
                                &[],
                            )?;
                        }
                    }
                    Ok(())
                })?;
            }
            // Several instances may start at once: one creates the schema at a time.
            Backend::Postgres => db.tx(|s| -> Result<(), StoreError> {
                s.exec("SELECT pg_advisory_xact_lock(7158001)", &[])?;
                for stmt in ddl.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    s.exec(stmt, &[])?;
                }
                for (table, column, ty) in ADDED_COLUMNS {
                    s.exec(
                        &format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {ty}"),
                        &[],
                    )?;
                }
                Ok(())
            })?,
        }
        // The console's per-shop totals, built once from the transactions already stored.
        let pg = db.backend() == Backend::Postgres;
        db.tx(|s| -> Result<(), StoreError> {
            if pg {
                s.exec("SELECT pg_advisory_xact_lock(7158001)", &[])?;
            }
            crate::store_console::ensure_rollups(s)
        })?;
        Ok(Self { db: Arc::new(db) })
    }

    /// The database.
    #[must_use]
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Runs a blocking store call on tokio's blocking pool.
    ///
    /// # Errors
    /// `f`'s, or [`StoreError::Task`].
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let s = self.clone();
        tokio::task::spawn_blocking(move || f(&s))
            .await
            .map_err(|_| StoreError::Task)?
    }

    /// Writes one audit entry inside a transaction.
    ///
    /// # Errors
    /// The database's.
    pub fn audit_in(
        s: &mut dyn Sql,
        actor: &str,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        s.exec(
            "INSERT INTO audit(at_ms, actor, action, target, detail) VALUES ($1,$2,$3,$4,$5)",
            &[
                now_ms().into(),
                actor.into(),
                action.into(),
                target.into(),
                detail.to_string().into(),
            ],
        )?;
        Ok(())
    }

    /// The audit log, newest first.
    ///
    /// # Errors
    /// The database's.
    pub fn audit(&self, limit: u32, actor: Option<&str>) -> Result<Vec<AuditEntry>, StoreError> {
        self.db.read(|s| {
            let rows = s.query(
                "SELECT audit_id, at_ms, actor, action, target, detail FROM audit \
                 WHERE (CAST($1 AS TEXT) IS NULL OR actor = $1) ORDER BY audit_id DESC LIMIT $2",
                &[actor.into(), i64::from(limit).into()],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(AuditEntry {
                        audit_id: r.i64(0)?,
                        at_ms: r.i64(1)?,
                        actor: r.str(2)?,
                        action: r.str(3)?,
                        target: r.str(4)?,
                        detail: r.str(5)?,
                    })
                })
                .collect()
        })
    }

    // ---------------------------------------------------------------------------------
    // The kiosk link
    // ---------------------------------------------------------------------------------

    /// Records a kiosk's hello: software and configuration version, its connection to this
    /// instance (announced to the others, whose older connection of the kiosk then closes),
    /// and a configuration push if the kiosk runs an older version than rolled out to it.
    /// Returns what the hello answer needs.
    ///
    /// # Errors
    /// The database's.
    pub fn hello(
        &self,
        kiosk_id: &str,
        software: &str,
        config_version: Option<u64>,
        instance_id: &str,
        conn_id: u64,
        peer: &str,
    ) -> Result<HelloState, StoreError> {
        let now = now_ms();
        self.db.tx(|s| {
            s.exec(
                "INSERT INTO kiosks(kiosk_id, first_seen_ms, last_seen_ms, software, config_version) \
                 VALUES ($1,$2,$2,$3,$4) ON CONFLICT(kiosk_id) DO UPDATE SET last_seen_ms=$2, \
                 software=$3, config_version=$4",
                &[
                    kiosk_id.into(),
                    now.into(),
                    software.into(),
                    config_version.map(i).into(),
                ],
            )?;
            s.exec(
                "INSERT INTO connections(kiosk_id, instance_id, conn_id, peer, since_ms) \
                 VALUES ($1,$2,$3,$4,$5) ON CONFLICT(kiosk_id) DO UPDATE SET instance_id=$2, \
                 conn_id=$3, peer=$4, since_ms=$5",
                &[
                    kiosk_id.into(),
                    instance_id.into(),
                    i(conn_id).into(),
                    peer.into(),
                    now.into(),
                ],
            )?;
            s.notify(CHANNEL_CONN, &format!("{kiosk_id} {instance_id} {conn_id}"))?;
            let k = s
                .one(
                    "SELECT locked, lock_reason, lock_message FROM kiosks WHERE kiosk_id=$1",
                    &[kiosk_id.into()],
                )?
                .ok_or_else(|| StoreError::NotFound(kiosk_id.to_owned()))?;
            let locked = (k.i64(0)? != 0).then(|| -> Result<_, StoreError> {
                Ok((k.opt_str(1)?.unwrap_or_default(), k.opt_str(2)?))
            });
            let locked = locked.transpose()?;
            let desired = s
                .one(
                    "SELECT MAX(version) FROM config_rollouts WHERE kiosk_id=$1",
                    &[kiosk_id.into()],
                )?
                .map(|r| r.opt_i64(0))
                .transpose()?
                .flatten();
            if let Some(want) = desired
                && config_version.map(i) < Some(want)
            {
                let pending = s.one(
                    "SELECT push_id FROM pushes WHERE kiosk_id=$1 AND op='config_bundle' \
                     AND config_version=$2 AND acked_ms IS NULL",
                    &[kiosk_id.into(), want.into()],
                )?;
                if pending.is_none() {
                    // The kiosk lost or refused what it was sent: offer it again.
                    crate::rollout::queue_bundle_push(s, kiosk_id, want, "system")?;
                }
            }
            let acked = s
                .one(
                    "SELECT MAX(seq) FROM journal WHERE kiosk_id=$1",
                    &[kiosk_id.into()],
                )?
                .map(|r| r.opt_i64(0))
                .transpose()?
                .flatten();
            Ok(HelloState {
                locked,
                config_version: to_u64(desired),
                journal_acked_seq: to_u64(acked),
            })
        })
    }

    /// Forgets a connection that ended (unless a newer one of the kiosk replaced it).
    ///
    /// # Errors
    /// The database's.
    pub fn disconnected(
        &self,
        kiosk_id: &str,
        instance_id: &str,
        conn_id: u64,
    ) -> Result<(), StoreError> {
        // The kiosk's row first, then its connection: the order `hello` takes them in. The
        // other order deadlocked on PostgreSQL when a kiosk's old connection closed as its
        // new one said hello.
        self.db.tx(|s| {
            s.exec(
                "UPDATE kiosks SET last_seen_ms=$2 WHERE kiosk_id=$1",
                &[kiosk_id.into(), now_ms().into()],
            )?;
            s.exec(
                "DELETE FROM connections WHERE kiosk_id=$1 AND instance_id=$2 AND conn_id=$3",
                &[kiosk_id.into(), instance_id.into(), i(conn_id).into()],
            )?;
            Ok(())
        })
    }

    /// Records this instance as alive (and registers it).
    ///
    /// # Errors
    /// The database's.
    pub fn instance_beat(
        &self,
        instance_id: &str,
        listen: &str,
        started_ms: i64,
    ) -> Result<(), StoreError> {
        self.db.tx(|s| {
            s.exec(
                "INSERT INTO instances(instance_id, listen, started_ms, beat_ms) VALUES ($1,$2,$3,$4) \
                 ON CONFLICT(instance_id) DO UPDATE SET beat_ms=$4, listen=$2",
                &[
                    instance_id.into(),
                    listen.into(),
                    started_ms.into(),
                    now_ms().into(),
                ],
            )?;
            Ok(())
        })
    }

    /// An instance stops: its connections are gone.
    ///
    /// # Errors
    /// The database's.
    pub fn instance_stopped(&self, instance_id: &str) -> Result<(), StoreError> {
        self.db.tx(|s| {
            s.exec(
                "DELETE FROM connections WHERE instance_id=$1",
                &[instance_id.into()],
            )?;
            s.exec(
                "UPDATE instances SET beat_ms=0 WHERE instance_id=$1",
                &[instance_id.into()],
            )?;
            Ok(())
        })
    }

    /// Kiosks whose connection is held by another instance than `instance_id` (to close a
    /// replaced connection here).
    ///
    /// # Errors
    /// The database's.
    pub fn connections_elsewhere(
        &self,
        instance_id: &str,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.db.read(|s| {
            s.query(
                "SELECT kiosk_id, conn_id FROM connections WHERE instance_id<>$1",
                &[instance_id.into()],
            )?
            .iter()
            .map(|r| Ok((r.str(0)?, to_u64(r.opt_i64(1)?).unwrap_or(0))))
            .collect()
        })
    }

    /// Persists the latest heartbeat of each kiosk in one transaction.
    ///
    /// # Errors
    /// The database's.
    pub fn save_heartbeats(&self, hbs: &[HeartbeatRecord]) -> Result<(), StoreError> {
        if hbs.is_empty() {
            return Ok(());
        }
        self.db.tx(|s| {
            for r in hbs {
                let h = &r.heartbeat;
                let notes: u64 = h.cash_box.notes.iter().map(|n| u64::from(n.count)).sum();
                s.exec(
                    "UPDATE kiosks SET last_seen_ms=$2, last_heartbeat_ms=$2, devices=$3, \
                     cash_box=$4, cash_notes=$5, cash_capacity=$6, cash_total_fen=$7, \
                     blank_sims=$8, reject_bin=$9, \
                     screen_since_ms=CASE WHEN screen=$10 THEN screen_since_ms ELSE $2 END, \
                     screen=$10, last_error=$11, software=COALESCE($12, software), \
                     config_version=COALESCE($13, config_version), kiosk_state=$14, \
                     state_detail=$15 WHERE kiosk_id=$1",
                    &[
                        r.kiosk_id.as_str().into(),
                        r.at_ms.into(),
                        serde_json::to_string(&h.devices)?.into(),
                        serde_json::to_string(&h.cash_box)?.into(),
                        i(notes).into(),
                        h.cash_box.capacity_notes.map(i64::from).into(),
                        i(h.cash_box.total_fen).into(),
                        i64::from(h.card_stock.blank_sims).into(),
                        i64::from(h.card_stock.reject_bin).into(),
                        h.screen.as_str().into(),
                        h.last_error
                            .as_ref()
                            .map(serde_json::to_string)
                            .transpose()?
                            .into(),
                        h.software.clone().into(),
                        h.config_version.map(i).into(),
                        h.kiosk_state.clone().into(),
                        h.state_detail.clone().into(),
                    ],
                )?;
            }
            Ok(())
        })
    }

    // ---------------------------------------------------------------------------------
    // Pushes
    // ---------------------------------------------------------------------------------

    /// Queues a push in a transaction and tells the instances. Returns its id.
    ///
    /// # Errors
    /// The database's.
    pub fn queue_push_in(
        s: &mut dyn Sql,
        kiosk_id: &str,
        push: &boss_protocol::Push,
        config_version: Option<u64>,
        actor: &str,
    ) -> Result<i64, StoreError> {
        let row = s
            .one(
                "INSERT INTO pushes(kiosk_id, op, payload, config_version, created_ms, created_by) \
                 VALUES ($1,$2,$3,$4,$5,$6) RETURNING push_id",
                &[
                    kiosk_id.into(),
                    push.op().into(),
                    serde_json::to_string(push)?.into(),
                    config_version.map(i).into(),
                    now_ms().into(),
                    actor.into(),
                ],
            )?
            .ok_or(StoreError::Task)?;
        s.notify(CHANNEL_PUSH, kiosk_id)?;
        Ok(row.i64(0)?)
    }

    /// Pushes not yet acknowledged by a kiosk, oldest first.
    ///
    /// # Errors
    /// The database's.
    pub fn pending_pushes(&self, kiosk_id: &str) -> Result<Vec<PushRow>, StoreError> {
        self.db.read(|s| {
            s.query(
                &format!(
                    "SELECT {PUSH_COLS} FROM pushes WHERE kiosk_id=$1 AND acked_ms IS NULL \
                     ORDER BY push_id"
                ),
                &[kiosk_id.into()],
            )?
            .iter()
            .map(PushRow::from_row)
            .collect()
        })
    }

    /// Every push to a kiosk, newest first.
    ///
    /// # Errors
    /// The database's.
    pub fn pushes(&self, kiosk_id: &str, limit: u32) -> Result<Vec<PushRow>, StoreError> {
        self.db.read(|s| {
            s.query(
                &format!(
                    "SELECT {PUSH_COLS} FROM pushes WHERE kiosk_id=$1 ORDER BY push_id DESC LIMIT $2"
                ),
                &[kiosk_id.into(), i64::from(limit).into()],
            )?
            .iter()
            .map(PushRow::from_row)
            .collect()
        })
    }

    /// Pushes queued after `after` (id) and not acknowledged: `(push_id, kiosk_id)`.
    ///
    /// # Errors
    /// The database's.
    pub fn pushes_after(&self, after: i64) -> Result<Vec<(i64, String)>, StoreError> {
        self.db.read(|s| {
            s.query(
                "SELECT push_id, kiosk_id FROM pushes WHERE push_id>$1 AND acked_ms IS NULL \
                 ORDER BY push_id",
                &[after.into()],
            )?
            .iter()
            .map(|r| Ok((r.i64(0)?, r.str(1)?)))
            .collect()
        })
    }

    /// Highest push id.
    ///
    /// # Errors
    /// The database's.
    pub fn last_push_id(&self) -> Result<i64, StoreError> {
        self.db.read(|s| {
            Ok(s.one("SELECT MAX(push_id) FROM pushes", &[])?
                .map(|r| r.opt_i64(0))
                .transpose()?
                .flatten()
                .unwrap_or(0))
        })
    }

    /// Marks pushes as written to the kiosk.
    ///
    /// # Errors
    /// The database's.
    pub fn pushes_sent(&self, push_ids: &[i64]) -> Result<(), StoreError> {
        let now = now_ms();
        self.db.tx(|s| {
            for id in push_ids {
                s.exec(
                    "UPDATE pushes SET sent_ms=$2 WHERE push_id=$1",
                    &[(*id).into(), now.into()],
                )?;
                s.exec(
                    "UPDATE config_rollouts SET status='sent', updated_ms=$2 \
                     WHERE push_id=$1 AND status='queued'",
                    &[(*id).into(), now.into()],
                )?;
            }
            Ok(())
        })
    }

    /// Records a kiosk's acknowledgement of its own push (and the configuration rollout's
    /// status). False when no such unacknowledged push of that kiosk exists.
    ///
    /// # Errors
    /// The database's.
    pub fn push_acked(
        &self,
        kiosk_id: &str,
        push_id: i64,
        ack: &boss_protocol::Ack,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let outcome = match ack.outcome {
            boss_protocol::AckOutcome::Applied => "applied",
            boss_protocol::AckOutcome::Deferred => "deferred",
            boss_protocol::AckOutcome::Rejected => "rejected",
        };
        self.db.tx(|s| {
            let n = s.exec(
                "UPDATE pushes SET acked_ms=$3, outcome=$4, message=$5, diagnostics=$6 \
                 WHERE push_id=$1 AND kiosk_id=$2 AND acked_ms IS NULL",
                &[
                    push_id.into(),
                    kiosk_id.into(),
                    now.into(),
                    outcome.into(),
                    ack.message.clone().into(),
                    ack.diagnostics.as_ref().map(ToString::to_string).into(),
                ],
            )?;
            s.exec(
                "UPDATE config_rollouts SET status=$2, reason=$3, updated_ms=$4 WHERE push_id=$1",
                &[
                    push_id.into(),
                    outcome.into(),
                    ack.message.clone().into(),
                    now.into(),
                ],
            )?;
            Ok(n == 1)
        })
    }

    // ---------------------------------------------------------------------------------
    // Journal uploads and forwarded transactions
    // ---------------------------------------------------------------------------------

    /// Stores a kiosk's journal entries (phone numbers masked); repeats of a `seq` are
    /// ignored. Returns how many were new and the highest `seq` now held. What the kiosk's
    /// `detail` says of a refund voucher (`voucher_fen`) and of the money credited
    /// (`credited_fen`) is kept beside the entry, for the reports and reconciliation (not
    /// for a technician's service event, [`crate::service_log`]). A PIN pad lock
    /// (`service_login_locked`) newly stored raises its alert in the same transaction.
    ///
    /// # Errors
    /// The database's.
    pub fn store_journal(
        &self,
        kiosk_id: &str,
        entries: &[boss_protocol::JournalEntry],
    ) -> Result<(u32, u64), StoreError> {
        let now = now_ms();
        let (new, max, locks) = self.db.tx(|s| {
            let mut new = 0u32;
            let mut locks = Vec::new();
            for e in entries {
                // A technician's service event is no money: nothing of its detail counts as
                // a voucher or a credit, whatever it says.
                let service = crate::service_log::is_service_op(&e.op);
                let detail_money = |key: &str| {
                    if service {
                        None
                    } else {
                        detail_fen(e.detail.as_deref(), key)
                    }
                };
                let n = s.exec(
                    "INSERT INTO journal(kiosk_id, seq, txn_id, at_ms, day, op, msisdn_masked, \
                     amount_fen, state, detail, received_ms, voucher_fen, credited_fen) \
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) \
                     ON CONFLICT(kiosk_id, seq) DO NOTHING",
                    &[
                        kiosk_id.into(),
                        i(e.seq).into(),
                        e.txn_id.as_str().into(),
                        e.at_ms.into(),
                        day_of_ms(e.at_ms).into(),
                        e.op.as_str().into(),
                        e.msisdn
                            .as_ref()
                            .map(|m| telekiosk_privacy::mask_phone(m.as_str()))
                            .into(),
                        i(e.amount_fen).into(),
                        crate::recon::state_name(e.state).into(),
                        e.detail.clone().into(),
                        now.into(),
                        detail_money("voucher_fen").unwrap_or(0).into(),
                        detail_money("credited_fen").into(),
                    ],
                )?;
                new = new.saturating_add(u32::try_from(n).unwrap_or(0));
                // A PIN pad lock newly stored raises its alert (a repeated seq does not).
                if n == 1 && e.op == crate::service_log::LOGIN_LOCKED {
                    let entry = crate::service_log::ServiceEntry::parse(
                        i(e.seq),
                        e.txn_id.as_str().to_owned(),
                        e.at_ms,
                        e.op.clone(),
                        i(e.amount_fen),
                        e.detail.as_deref(),
                    );
                    if crate::service_log::raise_pin_pad_locked(s, kiosk_id, &entry, now)? {
                        locks.push(entry);
                    }
                }
            }
            let max = s
                .one(
                    "SELECT MAX(seq) FROM journal WHERE kiosk_id=$1",
                    &[kiosk_id.into()],
                )?
                .map(|r| r.opt_i64(0))
                .transpose()?
                .flatten();
            Ok::<_, StoreError>((new, to_u64(max).unwrap_or(0), locks))
        })?;
        for e in &locks {
            tracing::warn!(
                kiosk = %kiosk_id,
                technician = e.technician.as_deref().unwrap_or("-"),
                event = %e.txn_id,
                "alert raised: service PIN pad locked"
            );
        }
        Ok((new, max))
    }

    /// Highest journal `seq` held for a kiosk (what its next hello is told).
    ///
    /// # Errors
    /// The database's.
    pub fn journal_acked_seq(&self, kiosk_id: &str) -> Result<Option<u64>, StoreError> {
        self.db.read(|s| {
            Ok(to_u64(
                s.one(
                    "SELECT MAX(seq) FROM journal WHERE kiosk_id=$1",
                    &[kiosk_id.into()],
                )?
                .map(|r| r.opt_i64(0))
                .transpose()?
                .flatten(),
            ))
        })
    }

    /// Records forwarded money transactions as they were answered. A committed reversal
    /// marks the transaction it undid as reversed.
    ///
    /// # Errors
    /// The database's.
    pub fn record_txns(&self, txns: &[ForwardedTxn]) -> Result<(), StoreError> {
        if txns.is_empty() {
            return Ok(());
        }
        self.db.tx(|s| {
            for t in txns {
                let new = s.exec(
                    "INSERT INTO txns(kiosk_id, txn_id, op, day, at_ms, amount_fen, state, code, \
                     arrears_fen, operator_ref) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) \
                     ON CONFLICT(kiosk_id, txn_id) DO NOTHING",
                    &[
                        t.kiosk_id.as_str().into(),
                        t.txn_id.as_str().into(),
                        t.op.as_str().into(),
                        day_of_ms(t.at_ms).into(),
                        t.at_ms.into(),
                        t.amount_fen.into(),
                        t.state.as_str().into(),
                        t.code.clone().into(),
                        t.arrears_fen.into(),
                        t.operator_ref.clone().into(),
                    ],
                )?;
                // The console's per-shop totals follow every change of what counts.
                if new == 1 {
                    crate::store_console::rollup_txn(s, t, 1)?;
                }
                if let Some(orig) = &t.reverses
                    && t.state == "committed"
                {
                    crate::store_console::rollup_reversed(s, &t.kiosk_id, orig)?;
                    s.exec(
                        "UPDATE txns SET state='reversed' WHERE kiosk_id=$1 AND txn_id=$2",
                        &[t.kiosk_id.as_str().into(), orig.as_str().into()],
                    )?;
                }
            }
            Ok(())
        })
    }

    // ---------------------------------------------------------------------------------
    // Singleton jobs
    // ---------------------------------------------------------------------------------

    /// Takes (or renews) the lease of job `name` for `holder` until `now + ttl_ms`; false
    /// when another holder's lease is still running. One statement, so two instances can
    /// never both hold it.
    ///
    /// # Errors
    /// The database's.
    pub fn take_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        self.db.tx(|s| {
            s.exec(
                "INSERT INTO jobs(name, holder, until_ms) VALUES ($1, NULL, 0) \
                 ON CONFLICT(name) DO NOTHING",
                &[name.into()],
            )?;
            let n = s.exec(
                "UPDATE jobs SET holder=$2, until_ms=$3 WHERE name=$1 AND (holder=$2 OR until_ms<$4)",
                &[name.into(), holder.into(), (now + ttl_ms).into(), now.into()],
            )?;
            Ok(n == 1)
        })
    }

    /// What a job last recorded as done (e.g. the last day reconciled).
    ///
    /// # Errors
    /// The database's.
    pub fn job_done(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.db.read(|s| {
            Ok(
                s.one("SELECT done FROM jobs WHERE name=$1", &[name.into()])?
                    .map(|r| r.opt_str(0))
                    .transpose()?
                    .flatten(),
            )
        })
    }

    /// Records what a job has done.
    ///
    /// # Errors
    /// The database's.
    pub fn set_job_done(&self, name: &str, done: &str) -> Result<(), StoreError> {
        self.db.tx(|s| {
            s.exec(
                "UPDATE jobs SET done=$2 WHERE name=$1",
                &[name.into(), done.into()],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_beijing_days() {
        // 2026-11-19 16:30 UTC is 2026-11-20 00:30 in Beijing.
        let t = time::macros::datetime!(2026-11-19 16:30 UTC);
        let ms = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap();
        assert_eq!(day_of_ms(ms), "2026-11-20");
        assert!(parse_day("2026-13-01").is_err());
    }

    #[test]
    fn a_database_of_the_first_schema_gains_the_new_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE kiosks(kiosk_id TEXT PRIMARY KEY, shop_id TEXT, \
                 first_seen_ms BIGINT NOT NULL, last_seen_ms BIGINT NOT NULL, \
                 last_heartbeat_ms BIGINT, software TEXT, config_version BIGINT, devices TEXT, \
                 cash_box TEXT, cash_notes BIGINT, cash_capacity BIGINT, cash_total_fen BIGINT, \
                 blank_sims BIGINT, reject_bin BIGINT, screen TEXT, screen_since_ms BIGINT, \
                 last_error TEXT, locked BIGINT NOT NULL DEFAULT 0, lock_reason TEXT, \
                 lock_message TEXT); \
                 CREATE TABLE journal(kiosk_id TEXT NOT NULL, seq BIGINT NOT NULL, \
                 txn_id TEXT NOT NULL, at_ms BIGINT NOT NULL, day TEXT NOT NULL, op TEXT NOT NULL, \
                 msisdn_masked TEXT, amount_fen BIGINT NOT NULL, state TEXT NOT NULL, detail TEXT, \
                 received_ms BIGINT NOT NULL, PRIMARY KEY(kiosk_id, seq)); \
                 INSERT INTO journal VALUES ('K1', 1, 'T1', 0, '2026-11-20', 'recharge', NULL, \
                 100, 'committed', NULL, 0);",
            )
            .unwrap();
        }
        let url = format!("sqlite:{}", path.display());
        // Twice: the second opening finds the columns there.
        for _ in 0..2 {
            let s = Store::open(&url).unwrap();
            let entry = boss_protocol::JournalEntry {
                seq: 2,
                txn_id: boss_protocol::TxnId::new("T2"),
                at_ms: 0,
                op: "recharge".into(),
                msisdn: None,
                amount_fen: 500,
                state: boss_protocol::TxnState::Failed,
                detail: Some(r#"{"voucher_fen": 500, "credited_fen": 0}"#.into()),
            };
            assert_eq!(s.store_journal("K1", &[entry]).unwrap().1, 2);
            let v = s
                .db()
                .read(|q| q.one("SELECT voucher_fen FROM journal WHERE seq=2", &[]))
                .unwrap()
                .unwrap();
            assert_eq!(v.i64(0).unwrap(), 500);
            assert_eq!(s.journal_acked_seq("K1").unwrap(), Some(2));
        }
    }
}
