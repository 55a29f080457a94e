//! The journal: the kiosk's durable memory of money and cards (流水).
//!
//! Architecture invariant: this is the only module that writes SQLite. Every step that
//! moves money or a card is written here **before** a device or the operator is asked to
//! act (an `intent`), and its result **after** (an `outcome`). At start-up the recovery
//! reads what is unfinished and resolves it.
//!
//! Storage: one SQLite file, WAL, `synchronous=FULL` (a commit survives a power cut),
//! foreign keys on, schema migrations by `user_version`. Money is integer fen. The step
//! log is append-only (enforced by triggers). Full phone numbers are kept only while a
//! transaction is unsettled (recovery needs them to finish the credit) and erased when it
//! settles; only the masked number stays.

mod schema;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// Errors of the journal. Any of them means the kiosk must stop taking money.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// SQLite failed (disk full, corrupt file, I/O error).
    #[error("journal storage: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file was written by a newer kiosk version.
    #[error("journal schema version {found} is newer than this kiosk understands ({known})")]
    TooNew { found: i64, known: i64 },
    /// A transaction id that is not in the journal.
    #[error("no transaction {0} in the journal")]
    UnknownTxn(String),
    /// A state change that the transaction's current state does not allow.
    #[error("transaction {txn} is {state}; cannot {action}")]
    BadTransition {
        txn: String,
        state: TxnState,
        action: &'static str,
    },
    /// Stored JSON could not be encoded.
    #[error("journal detail encoding: {0}")]
    Json(#[from] serde_json::Error),
    /// A card movement the card's recorded stage does not allow.
    #[error("card {card}: {why}")]
    BadCard { card: i64, why: String },
}

/// Unix time in milliseconds, passed in by the caller (the journal reads no clock).
pub type Millis = i64;

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnState {
    /// In progress (or interrupted, if found at start-up).
    Open,
    /// Money taken, credit not yet confirmed by the operator; retried until it settles.
    Pending,
    /// Credited by the operator (or, with no money, completed).
    Settled,
    /// Turned into a refund voucher (退款凭条) the shop honours.
    Voucher,
    /// Ended before any money was taken.
    Cancelled,
}

impl TxnState {
    fn as_str(self) -> &'static str {
        match self {
            TxnState::Open => "open",
            TxnState::Pending => "pending",
            TxnState::Settled => "settled",
            TxnState::Voucher => "voucher",
            TxnState::Cancelled => "cancelled",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => TxnState::Open,
            "pending" => TxnState::Pending,
            "settled" => TxnState::Settled,
            "voucher" => TxnState::Voucher,
            "cancelled" => TxnState::Cancelled,
            _ => return None,
        })
    }
}

impl std::fmt::Display for TxnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a step log entry announces an action or records its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Intent,
    Outcome,
}

/// How a note came to be money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteSource {
    /// The acceptor's credit event during the transaction.
    Credit,
    /// Reported at power-up as cleared into the cashbox while the kiosk was down.
    PowerUp,
}

/// One transaction as stored. Its `Debug` masks the number.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct TxnRecord {
    pub id: String,
    pub kind: String,
    pub state: TxnState,
    /// Full number; present only until the transaction settles.
    #[serde(skip)]
    pub msisdn: Option<String>,
    pub msisdn_masked: String,
    /// Sum of the notes credited to this transaction.
    pub inserted_fen: i64,
    /// What the operator confirmed as credited.
    pub credited_fen: i64,
    pub boss_ref: Option<String>,
    pub new_balance_fen: Option<i64>,
    pub voucher_id: Option<String>,
    /// Receipt outcome: "printed", "not_printed: <reason>", or None while not attempted.
    pub receipt: Option<String>,
    pub reason: Option<String>,
    pub opened_at: Millis,
    pub updated_at: Millis,
}

impl std::fmt::Debug for TxnRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnRecord")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("state", &self.state)
            .field("msisdn_masked", &self.msisdn_masked)
            .field("has_number", &self.msisdn.is_some())
            .field("inserted_fen", &self.inserted_fen)
            .field("credited_fen", &self.credited_fen)
            .field("boss_ref", &self.boss_ref)
            .field("voucher_id", &self.voucher_id)
            .field("receipt", &self.receipt)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// One paper (receipt, voucher, slip) as recorded: its document (masked data only) so it
/// can be printed again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaperRecord {
    pub id: i64,
    pub txn_id: String,
    pub kind: String,
    pub doc: serde_json::Value,
    /// `sent` (no answer recorded: the kiosk stopped), `printed` or `not_printed`.
    pub state: String,
    pub reason: Option<String>,
    pub attempts: i64,
}

/// An entry of the upload outbox (流水上传), with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadRecord {
    pub seq: i64,
    pub txn_id: String,
    pub entry: serde_json::Value,
}

/// One line of the append-only step log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRecord {
    pub seq: i64,
    pub txn_id: String,
    pub at: Millis,
    pub kind: String,
    pub phase: Phase,
    pub detail: serde_json::Value,
}

/// The kiosk's counters (see [`Journal::counters`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// kind → state → transactions.
    pub transactions: std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>>,
    /// Notes taken into the cash box, all time.
    pub notes: i64,
    /// Papers by outcome (`printed`, `not_printed`, `sent`).
    pub papers: std::collections::BTreeMap<String, i64>,
    /// Customer cards by where they ended (`taken`, `captured`, …).
    pub cards: std::collections::BTreeMap<String, i64>,
}

/// One thing a technician did in service mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceEntry {
    pub seq: i64,
    pub at: Millis,
    pub technician: String,
    pub action: String,
    pub detail: serde_json::Value,
}

/// Cash-box contents since the last clearance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CashBox {
    /// (value in fen, number of notes), ascending by value.
    pub notes: Vec<(i64, i64)>,
    pub total_fen: i64,
}

/// Blank SIMs in the dispenser and cards in its reject bin, from the movement log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CardStock {
    /// Blank cards left in the stacker.
    pub in_stock: i64,
    /// Cards in the reject bin since it was last emptied.
    pub in_reject_bin: i64,
    /// Cards handed to customers in all.
    pub dispensed: i64,
}

/// Where a SIM card a transaction took is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStage {
    /// About to be moved from the stacker to the IC contacts (the intent).
    Picking,
    /// At the IC contacts (out of the stacker).
    AtIc,
    /// Personalised (the script ran to its end).
    Written,
    /// The operator activated the number on it.
    Activated,
    /// Sent to the gate for the customer.
    Presented,
    /// The customer took it.
    Taken,
    /// Pulled into the reject bin.
    Captured,
    /// Never left the stacker (the pick did not happen).
    NotPicked,
    /// Jammed inside the dispenser and could not be captured: out of the stacker, in
    /// nobody's hands; a technician takes it out (service mode records where it went).
    Stuck,
}

impl CardStage {
    pub fn as_str(self) -> &'static str {
        match self {
            CardStage::Picking => "picking",
            CardStage::AtIc => "at_ic",
            CardStage::Written => "written",
            CardStage::Activated => "activated",
            CardStage::Presented => "presented",
            CardStage::Taken => "taken",
            CardStage::Captured => "captured",
            CardStage::NotPicked => "not_picked",
            CardStage::Stuck => "stuck",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "picking" => CardStage::Picking,
            "at_ic" => CardStage::AtIc,
            "written" => CardStage::Written,
            "activated" => CardStage::Activated,
            "presented" => CardStage::Presented,
            "taken" => CardStage::Taken,
            "captured" => CardStage::Captured,
            "not_picked" => CardStage::NotPicked,
            "stuck" => CardStage::Stuck,
            _ => return None,
        })
    }

    /// Where it ended: no card movement can follow.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CardStage::Taken | CardStage::Captured | CardStage::NotPicked | CardStage::Stuck
        )
    }

    /// Out of the stacker and inside the machine (IC station or gate).
    pub fn in_machine(self) -> bool {
        matches!(
            self,
            CardStage::AtIc
                | CardStage::Written
                | CardStage::Activated
                | CardStage::Presented
                | CardStage::Stuck
        )
    }

    /// Whether a card at `self` may go to `next`.
    fn may_go(self, next: CardStage) -> bool {
        use CardStage as S;
        matches!(
            (self, next),
            (S::Picking, S::AtIc | S::NotPicked | S::Captured | S::Stuck)
                | (S::AtIc, S::Written | S::Captured | S::Stuck)
                | (S::Written, S::Activated | S::Captured | S::Stuck)
                | (S::Activated, S::Presented | S::Captured | S::Stuck)
                | (S::Presented, S::Taken | S::Captured | S::Stuck)
                | (S::Stuck, S::Captured | S::Taken)
        )
    }
}

/// A SIM card a transaction took, as the journal knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CardRecord {
    pub id: i64,
    pub txn_id: String,
    pub attempt: u32,
    pub iccid: Option<String>,
    pub stage: CardStage,
    /// The operator activated a number on it (it stays so once captured).
    pub activated: bool,
    pub reason: Option<String>,
}

/// A movement of cards (放卡维护 restock, dispensing, capture, emptying the reject bin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardMovement {
    /// A technician loaded this many blank cards.
    Restock(u32),
    /// One card went to a customer.
    Dispensed,
    /// One card went into the reject bin (spoilt, or not taken from the gate).
    Rejected,
    /// A technician emptied the reject bin.
    BinEmptied,
}

/// A broken journal invariant, as `journal check` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub rule: &'static str,
    pub detail: String,
}

/// Report of `journal check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub transactions: i64,
    pub notes: i64,
    pub cashbox_fen: i64,
    pub violations: Vec<Violation>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// What a transaction starts with.
#[derive(Debug, Clone)]
pub struct NewTxn<'a> {
    pub kind: &'a str,
    pub msisdn: Option<&'a str>,
    pub msisdn_masked: &'a str,
}

/// The kiosk's journal.
#[derive(Debug)]
pub struct Journal {
    conn: Connection,
    kiosk_id: String,
    /// Durable writes made through this handle (one WAL fsync each under synchronous=FULL).
    commits: u64,
}

impl Journal {
    /// Opens (creating if needed) the journal file and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>, kiosk_id: &str) -> Result<Self, Error> {
        let conn = Connection::open(path)?;
        Self::with_connection(conn, kiosk_id)
    }

    fn with_connection(mut conn: Connection, kiosk_id: &str) -> Result<Self, Error> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn,
            kiosk_id: kiosk_id.to_owned(),
            commits: 0,
        })
    }

    /// How many durable writes (SQLite commits) this handle has made: each costs one WAL
    /// fsync under `synchronous=FULL`. For benchmarks and the technician's counters.
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// The kiosk id that prefixes transaction ids.
    pub fn kiosk_id(&self) -> &str {
        &self.kiosk_id
    }

    /// Starts a transaction and returns its id: `<kiosk>-<yyyymmddHHMMSS>-<seq>`, unique
    /// across restarts (the sequence lives in the journal).
    pub fn begin(&mut self, new: &NewTxn<'_>, now: Millis) -> Result<String, Error> {
        let tx = self.conn.transaction()?;
        let seq: i64 = tx.query_row(
            "UPDATE meta SET value = value + 1 WHERE key = 'txn_seq' RETURNING value",
            [],
            |r| r.get(0),
        )?;
        let id = format!("{}-{}-{:06}", self.kiosk_id, timestamp(now), seq);
        tx.execute(
            "INSERT INTO txn (id, kind, state, msisdn, msisdn_masked, opened_at, updated_at)
             VALUES (?1, ?2, 'open', ?3, ?4, ?5, ?5)",
            params![id, new.kind, new.msisdn, new.msisdn_masked, now],
        )?;
        insert_step(
            &tx,
            &id,
            now,
            "open",
            Phase::Outcome,
            &serde_json::json!({"kind": new.kind}),
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(id)
    }

    /// Appends a step to the log (an intent before acting, an outcome after).
    pub fn step(
        &mut self,
        txn: &str,
        kind: &str,
        phase: Phase,
        detail: &serde_json::Value,
        now: Millis,
    ) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        ensure_exists(&tx, txn)?;
        insert_step(&tx, txn, now, kind, phase, detail)?;
        tx.execute(
            "UPDATE txn SET updated_at = ?2 WHERE id = ?1",
            params![txn, now],
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(())
    }

    /// Records a note that is money (acceptor credit event, or a note cleared into the
    /// cashbox at power-up) against a transaction: the note, the cash-box ledger and the
    /// transaction's total change in one atomic write.
    pub fn credit_note(
        &mut self,
        txn: &str,
        fen: i64,
        source: NoteSource,
        now: Millis,
    ) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        let state = state_of(&tx, txn)?;
        if !matches!(state, TxnState::Open | TxnState::Pending) {
            return Err(Error::BadTransition {
                txn: txn.into(),
                state,
                action: "take a note",
            });
        }
        let src = match source {
            NoteSource::Credit => "credit",
            NoteSource::PowerUp => "power_up",
        };
        tx.execute(
            "INSERT INTO note (txn_id, fen, source, at) VALUES (?1, ?2, ?3, ?4)",
            params![txn, fen, src, now],
        )?;
        tx.execute(
            "INSERT INTO cashbox (fen, count) VALUES (?1, 1)
             ON CONFLICT(fen) DO UPDATE SET count = count + 1",
            params![fen],
        )?;
        tx.execute(
            "UPDATE txn SET inserted_fen = inserted_fen + ?2, updated_at = ?3 WHERE id = ?1",
            params![txn, fen, now],
        )?;
        insert_step(
            &tx,
            txn,
            now,
            "note_credited",
            Phase::Outcome,
            &serde_json::json!({"fen": fen, "source": src}),
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(())
    }

    /// The operator confirmed the credit: the transaction is settled and the full phone
    /// number is erased.
    pub fn settle(
        &mut self,
        txn: &str,
        credited_fen: i64,
        boss_ref: &str,
        new_balance_fen: Option<i64>,
        now: Millis,
    ) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        let state = state_of(&tx, txn)?;
        if !matches!(state, TxnState::Open | TxnState::Pending) {
            return Err(Error::BadTransition {
                txn: txn.into(),
                state,
                action: "settle",
            });
        }
        tx.execute(
            "UPDATE txn SET state = 'settled', credited_fen = ?2, boss_ref = ?3,
                 new_balance_fen = ?4, msisdn = NULL, reason = NULL, updated_at = ?5
             WHERE id = ?1",
            params![txn, credited_fen, boss_ref, new_balance_fen, now],
        )?;
        insert_step(
            &tx,
            txn,
            now,
            "settled",
            Phase::Outcome,
            &serde_json::json!({"credited_fen": credited_fen, "boss_ref": boss_ref}),
        )?;
        enqueue_upload(&tx, txn, now)?;
        tx.commit()?;
        self.commits += 1;
        Ok(())
    }

    /// A transaction that moves no money is done (a plan change the operator applied, a
    /// bill printed): it is closed with the operator's reference, if any, and the full phone
    /// number is erased.
    pub fn complete(
        &mut self,
        txn: &str,
        operator_ref: Option<&str>,
        now: Millis,
    ) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        let rec = load(&tx, txn)?;
        if !matches!(rec.state, TxnState::Open | TxnState::Pending) || rec.inserted_fen != 0 {
            return Err(Error::BadTransition {
                txn: txn.into(),
                state: rec.state,
                action: "complete (money was taken)",
            });
        }
        tx.execute(
            "UPDATE txn SET state = 'settled', credited_fen = 0, boss_ref = ?2,
                 msisdn = NULL, reason = NULL, updated_at = ?3
             WHERE id = ?1",
            params![txn, operator_ref, now],
        )?;
        insert_step(
            &tx,
            txn,
            now,
            "completed",
            Phase::Outcome,
            &serde_json::json!({"operator_ref": operator_ref}),
        )?;
        enqueue_upload(&tx, txn, now)?;
        tx.commit()?;
        self.commits += 1;
        Ok(())
    }

    /// Money is in but the credit is not confirmed (operator unreachable, answer lost):
    /// the transaction waits, with its reason, for the retry.
    pub fn mark_pending(&mut self, txn: &str, reason: &str, now: Millis) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        let state = state_of(&tx, txn)?;
        if !matches!(state, TxnState::Open | TxnState::Pending) {
            return Err(Error::BadTransition {
                txn: txn.into(),
                state,
                action: "wait for credit",
            });
        }
        tx.execute(
            "UPDATE txn SET state = 'pending', reason = ?2, updated_at = ?3 WHERE id = ?1",
            params![txn, reason, now],
        )?;
        insert_step(
            &tx,
            txn,
            now,
            "pending",
            Phase::Outcome,
            &serde_json::json!({"reason": reason}),
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(())
    }

    /// The money cannot be credited: it becomes a refund voucher (退款凭条) for the
    /// uncredited amount (everything taken, less what the operator credited). Returns the
    /// voucher id.
    pub fn issue_voucher(&mut self, txn: &str, reason: &str, now: Millis) -> Result<String, Error> {
        let tx = self.conn.transaction()?;
        let rec = load(&tx, txn)?;
        // A settled transaction can still owe a voucher for money taken after its
        // recharge went out (a late note): the voucher covers exactly the uncredited part.
        let late_note = rec.state == TxnState::Settled && rec.inserted_fen > rec.credited_fen;
        if !(matches!(rec.state, TxnState::Open | TxnState::Pending) || late_note) {
            return Err(Error::BadTransition {
                txn: txn.into(),
                state: rec.state,
                action: "issue a voucher",
            });
        }
        let amount = rec.inserted_fen - rec.credited_fen;
        let voucher = format!("V{}", txn);
        tx.execute(
            "INSERT INTO voucher (id, txn_id, amount_fen, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![voucher, txn, amount, reason, now],
        )?;
        tx.execute(
            "UPDATE txn SET state = 'voucher', voucher_id = ?2, reason = ?3, msisdn = NULL,
                 updated_at = ?4 WHERE id = ?1",
            params![txn, voucher, reason, now],
        )?;
        insert_step(
            &tx,
            txn,
            now,
            "voucher",
            Phase::Outcome,
            &serde_json::json!({"voucher": voucher, "amount_fen": amount, "reason": reason}),
        )?;
        enqueue_upload(&tx, txn, now)?;
        tx.commit()?;
        self.commits += 1;
        Ok(voucher)
    }

    /// Ends a transaction that took no money.
    pub fn cancel(&mut self, txn: &str, reason: &str, now: Millis) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        let rec = load(&tx, txn)?;
        if rec.state != TxnState::Open || rec.inserted_fen != 0 {
            return Err(Error::BadTransition {
                txn: txn.into(),
                state: rec.state,
                action: "cancel (money was taken)",
            });
        }
        tx.execute(
            "UPDATE txn SET state = 'cancelled', reason = ?2, msisdn = NULL, updated_at = ?3 WHERE id = ?1",
            params![txn, reason, now],
        )?;
        insert_step(
            &tx,
            txn,
            now,
            "cancelled",
            Phase::Outcome,
            &serde_json::json!({"reason": reason}),
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(())
    }

    /// Records whether the customer's receipt (or voucher) came out of the printer.
    pub fn record_receipt(&mut self, txn: &str, outcome: &str, now: Millis) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        ensure_exists(&tx, txn)?;
        tx.execute(
            "UPDATE txn SET receipt = ?2, updated_at = ?3 WHERE id = ?1",
            params![txn, outcome, now],
        )?;
        insert_step(
            &tx,
            txn,
            now,
            "receipt",
            Phase::Outcome,
            &serde_json::json!({"outcome": outcome}),
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(())
    }

    /// An operator request of this transaction is about to be sent: its idempotency id
    /// (`leg`), op and amount. Sending it again later (recovery) keeps the same row.
    pub fn operator_sent(
        &mut self,
        txn: &str,
        leg: &str,
        op: &str,
        amount_fen: i64,
        now: Millis,
    ) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        ensure_exists(&tx, txn)?;
        tx.execute(
            "INSERT INTO op_leg (leg, txn_id, op, amount_fen, state, sent_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'sent', ?5, ?5)
             ON CONFLICT(leg) DO UPDATE SET state = 'sent', updated_at = ?5",
            params![leg, txn, op, amount_fen, now],
        )?;
        insert_step(
            &tx,
            txn,
            now,
            op,
            Phase::Intent,
            &serde_json::json!({"leg": leg, "amount_fen": amount_fen}),
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(())
    }

    /// The operator's answer to a request (`committed`, `failed`, `unknown`, `not_sent`).
    pub fn operator_answered(
        &mut self,
        leg: &str,
        state: &str,
        operator_ref: Option<&str>,
        detail: &serde_json::Value,
        now: Millis,
    ) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        let (txn, op): (String, String) = tx
            .query_row("SELECT txn_id, op FROM op_leg WHERE leg = ?1", [leg], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?
            .ok_or_else(|| Error::UnknownTxn(leg.into()))?;
        tx.execute(
            "UPDATE op_leg SET state = ?2, operator_ref = ?3, detail = ?4, updated_at = ?5
             WHERE leg = ?1",
            params![
                leg,
                state,
                operator_ref,
                serde_json::to_string(detail)?,
                now
            ],
        )?;
        insert_step(
            &tx,
            &txn,
            now,
            &op,
            Phase::Outcome,
            &serde_json::json!({"leg": leg, "state": state, "operator_ref": operator_ref, "detail": detail}),
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(())
    }

    /// The operator requests of a transaction: (leg, op, state).
    pub fn legs(&self, txn: &str) -> Result<Vec<(String, String, String)>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT leg, op, state FROM op_leg WHERE txn_id = ?1 ORDER BY sent_at, leg")?;
        let rows = stmt.query_map([txn], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(Error::from)
    }

    /// A paper is about to be printed: its kind and document (masked data only). Returns
    /// the paper's id.
    pub fn paper_sent(
        &mut self,
        txn: &str,
        kind: &str,
        doc: &serde_json::Value,
        now: Millis,
    ) -> Result<i64, Error> {
        let tx = self.conn.transaction()?;
        ensure_exists(&tx, txn)?;
        tx.execute(
            "INSERT INTO paper (txn_id, kind, doc, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'sent', ?4, ?4)",
            params![txn, kind, serde_json::to_string(doc)?, now],
        )?;
        let id = tx.last_insert_rowid();
        insert_step(
            &tx,
            txn,
            now,
            "print",
            Phase::Intent,
            &serde_json::json!({"paper": id, "kind": kind}),
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(id)
    }

    /// Whether a paper came out (and why not). Also the transaction's receipt summary.
    pub fn paper_done(
        &mut self,
        paper: i64,
        printed: bool,
        reason: Option<&str>,
        now: Millis,
    ) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        let (txn, kind, doc): (String, String, String) = tx
            .query_row(
                "SELECT txn_id, kind, doc FROM paper WHERE id = ?1",
                [paper],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| Error::UnknownTxn(format!("paper {paper}")))?;
        let state = if printed { "printed" } else { "not_printed" };
        if printed && confidential(&kind) {
            // The customer has it: the kiosk keeps what and whose, not the content.
            let doc: serde_json::Value = serde_json::from_str(&doc).unwrap_or_default();
            tx.execute(
                "UPDATE paper SET doc = ?2 WHERE id = ?1",
                params![paper, serde_json::to_string(&redacted(doc))?],
            )?;
        }
        tx.execute(
            "UPDATE paper SET state = ?2, reason = ?3, updated_at = ?4 WHERE id = ?1",
            params![paper, state, reason, now],
        )?;
        let summary = match reason {
            Some(r) if !printed => format!("not_printed: {r}"),
            _ => state.to_owned(),
        };
        tx.execute(
            "UPDATE txn SET receipt = ?2, updated_at = ?3 WHERE id = ?1",
            params![txn, summary, now],
        )?;
        insert_step(
            &tx,
            &txn,
            now,
            "receipt",
            Phase::Outcome,
            &serde_json::json!({"paper": paper, "outcome": summary}),
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(())
    }

    /// Strips the content of confidential papers (bills, records, invoices) left unprinted
    /// before `before`: a page that stopped halfway is kept a day for the technician to
    /// print with its customer there, not longer. Returns how many were stripped.
    pub fn purge_confidential(&mut self, before: Millis) -> Result<usize, Error> {
        let tx = self.conn.transaction()?;
        let mut stripped = 0;
        {
            let mut stmt = tx.prepare(
                "SELECT id, kind, doc FROM paper WHERE state != 'printed' AND updated_at < ?1",
            )?;
            let rows = stmt
                .query_map([before], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            for (id, kind, doc) in rows {
                if !confidential(&kind) {
                    continue;
                }
                let doc: serde_json::Value = serde_json::from_str(&doc).unwrap_or_default();
                let clean = redacted(doc.clone());
                if clean != doc {
                    tx.execute(
                        "UPDATE paper SET doc = ?2 WHERE id = ?1",
                        params![id, serde_json::to_string(&clean)?],
                    )?;
                    stripped += 1;
                }
            }
        }
        tx.commit()?;
        self.commits += 1;
        Ok(stripped)
    }

    /// A paper is sent to the printer again (recovery, technician).
    pub fn paper_retry(&mut self, paper: i64, now: Millis) -> Result<(), Error> {
        self.conn.execute(
            "UPDATE paper SET state = 'sent', attempts = attempts + 1, updated_at = ?2 WHERE id = ?1",
            params![paper, now],
        )?;
        self.commits += 1;
        Ok(())
    }

    /// Papers that did not come out (or whose outcome was never recorded).
    pub fn papers_to_reprint(&self) -> Result<Vec<PaperRecord>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT id, txn_id, kind, doc, state, reason, attempts FROM paper
             WHERE state IN ('sent', 'not_printed') ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            let doc: String = r.get(3)?;
            Ok(PaperRecord {
                id: r.get(0)?,
                txn_id: r.get(1)?,
                kind: r.get(2)?,
                doc: serde_json::from_str(&doc).unwrap_or(serde_json::Value::Null),
                state: r.get(4)?,
                reason: r.get(5)?,
                attempts: r.get(6)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>().map_err(Error::from)
    }

    /// The papers of one transaction.
    pub fn papers(&self, txn: &str) -> Result<Vec<PaperRecord>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT id, txn_id, kind, doc, state, reason, attempts FROM paper
             WHERE txn_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([txn], |r| {
            let doc: String = r.get(3)?;
            Ok(PaperRecord {
                id: r.get(0)?,
                txn_id: r.get(1)?,
                kind: r.get(2)?,
                doc: serde_json::from_str(&doc).unwrap_or(serde_json::Value::Null),
                state: r.get(4)?,
                reason: r.get(5)?,
                attempts: r.get(6)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>().map_err(Error::from)
    }

    /// A piece of the kiosk's persistent state (`lock`, `config`), if set.
    pub fn kiosk_state(&self, key: &str) -> Result<Option<serde_json::Value>, Error> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM kiosk_state WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(v.and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// Sets (or, with `None`, clears) a piece of the kiosk's persistent state.
    pub fn set_kiosk_state(
        &mut self,
        key: &str,
        value: Option<&serde_json::Value>,
        now: Millis,
    ) -> Result<(), Error> {
        match value {
            Some(v) => self.conn.execute(
                "INSERT INTO kiosk_state (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET value = ?2, updated_at = ?3",
                params![key, serde_json::to_string(v)?, now],
            )?,
            None => self
                .conn
                .execute("DELETE FROM kiosk_state WHERE key = ?1", [key])?,
        };
        self.commits += 1;
        Ok(())
    }

    /// Upload outbox entries above `after_seq`, oldest first, at most `limit`.
    pub fn uploads_after(&self, after_seq: i64, limit: u32) -> Result<Vec<UploadRecord>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, txn_id, entry FROM upload WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after_seq, limit], |r| {
            let entry: String = r.get(2)?;
            Ok(UploadRecord {
                seq: r.get(0)?,
                txn_id: r.get(1)?,
                entry: serde_json::from_str(&entry).unwrap_or(serde_json::Value::Null),
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>().map_err(Error::from)
    }

    /// The highest outbox sequence head office confirmed (durable cursor).
    pub fn upload_acked(&self) -> Result<i64, Error> {
        Ok(self.conn.query_row(
            "SELECT value FROM meta WHERE key = 'upload_acked_seq'",
            [],
            |r| r.get(0),
        )?)
    }

    /// The highest outbox sequence written.
    pub fn upload_last(&self) -> Result<i64, Error> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM upload", [], |r| r.get(0))?)
    }

    /// Moves the durable cursor (never backwards).
    pub fn set_upload_acked(&mut self, seq: i64) -> Result<(), Error> {
        self.conn.execute(
            "UPDATE meta SET value = MAX(value, ?1) WHERE key = 'upload_acked_seq'",
            [seq],
        )?;
        self.commits += 1;
        Ok(())
    }

    /// A note that became money with no session to own it (or after its session closed):
    /// recorded on a transaction of its own and turned into a refund voucher, in one go.
    /// Returns the transaction id.
    pub fn orphan_note(
        &mut self,
        fen: i64,
        source: NoteSource,
        why: &str,
        now: Millis,
    ) -> Result<String, Error> {
        let id = self.begin(
            &NewTxn {
                kind: "orphan_note",
                msisdn: None,
                msisdn_masked: "-",
            },
            now,
        )?;
        self.credit_note(&id, fen, source, now)?;
        self.issue_voucher(&id, why, now)?;
        Ok(id)
    }

    /// The most recent transaction that told the acceptor to stack a note and never heard
    /// what became of it (no credit, no return): `(transaction, value)`.
    pub fn note_in_flight(&self) -> Result<Option<(String, u64)>, Error> {
        let last: Option<String> = self
            .conn
            .query_row(
                "SELECT txn_id FROM step WHERE kind = 'stack_note' ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let Some(txn) = last else { return Ok(None) };
        Ok(stack_unresolved(&self.steps(&txn)?).map(|fen| (txn, fen)))
    }

    /// One transaction.
    pub fn get(&self, txn: &str) -> Result<TxnRecord, Error> {
        load(&self.conn, txn)
    }

    /// Transactions that are not finished: open (interrupted) or pending credit.
    pub fn unfinished(&self) -> Result<Vec<TxnRecord>, Error> {
        self.query_txns(
            "WHERE state IN ('open', 'pending') ORDER BY opened_at, id",
            [],
        )
    }

    /// Transactions whose receipt or voucher has not been printed yet.
    pub fn unprinted(&self) -> Result<Vec<TxnRecord>, Error> {
        self.query_txns(
            "WHERE state IN ('settled', 'voucher', 'pending') AND inserted_fen > 0
               AND (receipt IS NULL OR receipt <> 'printed') ORDER BY opened_at, id",
            [],
        )
    }

    /// The most recent transactions, newest first.
    pub fn list(&self, limit: u32) -> Result<Vec<TxnRecord>, Error> {
        self.query_txns("ORDER BY opened_at DESC, id DESC LIMIT ?1", [limit])
    }

    /// The step log of one transaction, in order.
    pub fn steps(&self, txn: &str) -> Result<Vec<StepRecord>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, txn_id, at, kind, phase, detail FROM step WHERE txn_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([txn], step_from_row)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(Error::from)
    }

    /// The last step of a transaction, if any.
    pub fn last_step(&self, txn: &str) -> Result<Option<StepRecord>, Error> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq, txn_id, at, kind, phase, detail FROM step WHERE txn_id = ?1
                 ORDER BY seq DESC LIMIT 1",
                [txn],
                step_from_row,
            )
            .optional()?)
    }

    /// Cash-box contents since the last clearance.
    pub fn cashbox(&self) -> Result<CashBox, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT fen, count FROM cashbox WHERE count > 0 ORDER BY fen")?;
        let notes = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let total_fen = notes.iter().map(|(fen, n)| fen * n).sum();
        Ok(CashBox { notes, total_fen })
    }

    /// Cash-box clearance (清机): the technician empties the cashbox. Returns what was
    /// in it; the ledger starts again from zero.
    pub fn clear_cashbox(&mut self, by: &str, now: Millis) -> Result<CashBox, Error> {
        let before = self.cashbox()?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO clearance (at, total_fen, by, contents) VALUES (?1, ?2, ?3, ?4)",
            params![
                now,
                before.total_fen,
                by,
                serde_json::to_string(&before.notes)?
            ],
        )?;
        let clearance = tx.last_insert_rowid();
        tx.execute(
            "UPDATE note SET clearance_id = ?1 WHERE clearance_id IS NULL",
            [clearance],
        )?;
        tx.execute("DELETE FROM cashbox", [])?;
        tx.commit()?;
        self.commits += 1;
        Ok(before)
    }

    /// The kiosk's counters since its journal began, for the technician: transactions by
    /// kind and state, notes taken in, papers by outcome, cards by where they went.
    pub fn counters(&self) -> Result<Counters, Error> {
        let mut transactions = std::collections::BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT kind, state, COUNT(*) FROM txn GROUP BY kind, state")?;
        for row in stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })? {
            let (kind, state, n) = row?;
            transactions
                .entry(kind)
                .or_insert_with(std::collections::BTreeMap::new)
                .insert(state, n);
        }
        let notes: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM note", [], |r| r.get(0))?;
        let mut papers = std::collections::BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM paper GROUP BY state")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (state, n) = row?;
            papers.insert(state, n);
        }
        let mut cards = std::collections::BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT stage, COUNT(*) FROM card GROUP BY stage")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (stage, n) = row?;
            cards.insert(stage, n);
        }
        Ok(Counters {
            transactions,
            notes,
            papers,
            cards,
        })
    }

    /// When the cash box was last cleared (清机), if ever.
    pub fn last_clearance_at(&self) -> Result<Option<Millis>, Error> {
        Ok(self
            .conn
            .query_row("SELECT MAX(at) FROM clearance", [], |r| r.get(0))?)
    }

    /// The ICCIDs of the cards captured into the reject bin since it was last emptied
    /// (a card captured before its ICCID was read has none).
    pub fn cards_in_reject_bin(&self) -> Result<Vec<Option<String>>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT iccid FROM card WHERE stage = 'captured' AND updated_at >= \
             (SELECT COALESCE(MAX(at), 0) FROM card_movement WHERE kind = 'bin_emptied') \
             ORDER BY id",
        )?;
        let rows = stmt
            .query_map([], |r| r.get::<_, Option<String>>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Records what a technician did in service mode.
    pub fn service_log(
        &mut self,
        technician: &str,
        action: &str,
        detail: &serde_json::Value,
        now: Millis,
    ) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO service_log (at, technician, action, detail) VALUES (?1, ?2, ?3, ?4)",
            params![now, technician, action, serde_json::to_string(detail)?],
        )?;
        // Head office hears of every visit with the journal upload (`svc-<n>`): clearances,
        // restocks, self-tests, sign-ins and failed PINs, each with the technician's id.
        let seq = tx.last_insert_rowid();
        let entry = service_upload_entry(seq, technician, action, detail, now);
        tx.execute(
            "INSERT INTO upload (txn_id, at, entry) VALUES (?1, ?2, ?3)",
            params![
                entry["txn_id"].as_str(),
                now,
                serde_json::to_string(&entry)?
            ],
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(())
    }

    /// The last `limit` entries of the service log, newest first.
    pub fn service_entries(&self, limit: u32) -> Result<Vec<ServiceEntry>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, technician, action, detail FROM service_log ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(ServiceEntry {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    technician: r.get(2)?,
                    action: r.get(3)?,
                    detail: serde_json::from_str(&r.get::<_, String>(4)?)
                        .unwrap_or(serde_json::Value::Null),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Records a card movement; `txn` is the customer transaction it belongs to, if any.
    pub fn card_movement(
        &mut self,
        movement: CardMovement,
        txn: Option<&str>,
        by: Option<&str>,
        now: Millis,
    ) -> Result<CardStock, Error> {
        let (kind, count) = match movement {
            CardMovement::Restock(n) => ("restock", i64::from(n)),
            CardMovement::Dispensed => ("dispensed", 1),
            CardMovement::Rejected => ("rejected", 1),
            CardMovement::BinEmptied => ("bin_emptied", self.card_stock()?.in_reject_bin),
        };
        let tx = self.conn.transaction()?;
        if let Some(t) = txn {
            ensure_exists(&tx, t)?;
        }
        tx.execute(
            "INSERT INTO card_movement (at, kind, count, txn_id, by) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![now, kind, count, txn, by],
        )?;
        tx.commit()?;
        self.commits += 1;
        self.card_stock()
    }

    /// A card is about to be taken from the stacker for `txn` (its `attempt`-th): the intent,
    /// written before the dispenser moves. Returns the card's id.
    pub fn card_pick(&mut self, txn: &str, attempt: u32, now: Millis) -> Result<i64, Error> {
        let tx = self.conn.transaction()?;
        ensure_exists(&tx, txn)?;
        if let Some(busy) = tx
            .query_row(
                "SELECT id FROM card WHERE txn_id = ?1 AND stage NOT IN ('taken','captured','not_picked','stuck')",
                [txn],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
        {
            return Err(Error::BadCard {
                card: busy,
                why: "another card of this transaction is still in the machine".into(),
            });
        }
        tx.execute(
            "INSERT INTO card (txn_id, attempt, stage, created_at, updated_at)
             VALUES (?1, ?2, 'picking', ?3, ?3)",
            params![txn, attempt, now],
        )?;
        let id = tx.last_insert_rowid();
        insert_step(
            &tx,
            txn,
            now,
            "card_pick",
            Phase::Intent,
            &serde_json::json!({"card": id, "attempt": attempt}),
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(id)
    }

    /// A card moved on: to `stage`, with its ICCID once read, and why (a capture). Reaching
    /// the end of its way, it is counted: handed out (`taken`) or in the reject bin
    /// (`captured`), in the same write.
    pub fn card_stage(
        &mut self,
        card: i64,
        stage: CardStage,
        iccid: Option<&str>,
        reason: Option<&str>,
        now: Millis,
    ) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        let (txn, from): (String, String) = tx
            .query_row(
                "SELECT txn_id, stage FROM card WHERE id = ?1",
                [card],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or(Error::BadCard {
                card,
                why: "no such card".into(),
            })?;
        let from = CardStage::parse(&from).ok_or(Error::BadCard {
            card,
            why: format!("unknown stage {from}"),
        })?;
        // Reading the ICCID keeps the card where it is.
        if !(from.may_go(stage) || (from == stage && iccid.is_some())) {
            return Err(Error::BadCard {
                card,
                why: format!("cannot go from {} to {}", from.as_str(), stage.as_str()),
            });
        }
        tx.execute(
            "UPDATE card SET stage = ?2, iccid = COALESCE(?3, iccid), reason = COALESCE(?4, reason),
                 activated = MAX(activated, ?5), updated_at = ?6 WHERE id = ?1",
            params![
                card,
                stage.as_str(),
                iccid,
                reason,
                i64::from(stage == CardStage::Activated),
                now
            ],
        )?;
        let movement = match stage {
            CardStage::Taken => Some("dispensed"),
            CardStage::Captured => Some("rejected"),
            _ => None,
        };
        if let Some(kind) = movement {
            tx.execute(
                "INSERT INTO card_movement (at, kind, count, txn_id, by) VALUES (?1, ?2, 1, ?3, NULL)",
                params![now, kind, txn],
            )?;
        }
        insert_step(
            &tx,
            &txn,
            now,
            &format!("card_{}", stage.as_str()),
            if stage.is_final() {
                Phase::Outcome
            } else {
                Phase::Intent
            },
            &serde_json::json!({"card": card, "iccid": iccid, "reason": reason}),
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(())
    }

    /// Recovery learned from the operator that the number was activated on `card` although
    /// the journal never recorded the answer (the kiosk stopped in between): the card is
    /// marked activated where it is (captured in the reject bin, for staff to hand over).
    pub fn card_activated_late(&mut self, card: i64, now: Millis) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        let txn: String = tx
            .query_row("SELECT txn_id FROM card WHERE id = ?1", [card], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or(Error::BadCard {
                card,
                why: "no such card".into(),
            })?;
        tx.execute(
            "UPDATE card SET activated = 1, updated_at = ?2 WHERE id = ?1",
            params![card, now],
        )?;
        insert_step(
            &tx,
            &txn,
            now,
            "card_activated_late",
            Phase::Outcome,
            &serde_json::json!({"card": card}),
        )?;
        tx.commit()?;
        self.commits += 1;
        Ok(())
    }

    /// The cards of a transaction, in the order they were taken.
    pub fn cards(&self, txn: &str) -> Result<Vec<CardRecord>, Error> {
        self.card_query("WHERE txn_id = ?1 ORDER BY id", [txn])
    }

    /// Cards not at the end of their way (picked or in the machine): what recovery resolves.
    pub fn cards_in_flight(&self) -> Result<Vec<CardRecord>, Error> {
        self.card_query(
            "WHERE stage NOT IN ('taken','captured','not_picked','stuck') ORDER BY id",
            [],
        )
    }

    /// Cards stuck in the dispenser, waiting for a technician.
    pub fn cards_stuck(&self) -> Result<Vec<CardRecord>, Error> {
        self.card_query("WHERE stage = 'stuck' ORDER BY id", [])
    }

    fn card_query<P: rusqlite::Params>(
        &self,
        filter: &str,
        p: P,
    ) -> Result<Vec<CardRecord>, Error> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, txn_id, attempt, iccid, stage, activated, reason FROM card {filter}"
        ))?;
        let rows = stmt.query_map(p, |r| {
            let stage: String = r.get(4)?;
            Ok(CardRecord {
                id: r.get(0)?,
                txn_id: r.get(1)?,
                attempt: r.get(2)?,
                iccid: r.get(3)?,
                stage: CardStage::parse(&stage).unwrap_or(CardStage::Captured),
                activated: r.get::<_, i64>(5)? != 0,
                reason: r.get(6)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>().map_err(Error::from)
    }

    /// Card stock and reject-bin count.
    pub fn card_stock(&self) -> Result<CardStock, Error> {
        let sum = |kind: &str| -> Result<i64, Error> {
            Ok(self.conn.query_row(
                "SELECT COALESCE(SUM(count), 0) FROM card_movement WHERE kind = ?1",
                [kind],
                |r| r.get(0),
            )?)
        };
        let (restocked, dispensed, rejected, emptied) = (
            sum("restock")?,
            sum("dispensed")?,
            sum("rejected")?,
            sum("bin_emptied")?,
        );
        // Cards out of the stacker on their way to a customer are no longer in stock.
        let in_machine: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM card WHERE stage IN ('at_ic','written','activated','presented','stuck')",
            [],
            |r| r.get(0),
        )?;
        Ok(CardStock {
            in_stock: restocked - dispensed - rejected - in_machine,
            in_reject_bin: rejected - emptied,
            dispensed,
        })
    }

    /// Verifies the journal's invariants. `allow_open` accepts open transactions (a
    /// running kiosk); at rest, after recovery, none may be open.
    pub fn check(&self, allow_open: bool) -> Result<CheckReport, Error> {
        let mut violations = Vec::new();
        let mut push =
            |rule: &'static str, detail: String| violations.push(Violation { rule, detail });
        let c = &self.conn;

        // Every credited note belongs to exactly one transaction.
        for orphan in strings(
            c,
            "SELECT id FROM note WHERE txn_id NOT IN (SELECT id FROM txn)",
        )? {
            push("note_without_transaction", format!("note {orphan}"));
        }
        // A transaction's total is the sum of its notes.
        for row in strings(
            c,
            "SELECT t.id || ': total ' || t.inserted_fen || ' fen, notes ' || COALESCE(SUM(n.fen), 0)
             FROM txn t LEFT JOIN note n ON n.txn_id = t.id
             GROUP BY t.id HAVING t.inserted_fen <> COALESCE(SUM(n.fen), 0)",
        )? {
            push("transaction_total_matches_notes", row);
        }
        // Every transaction is settled, pending with a reason, on a voucher, or cancelled empty.
        for rec in self.query_txns("ORDER BY id", [])? {
            match rec.state {
                TxnState::Open if !allow_open => push(
                    "no_unresolved_transaction",
                    format!("{} is still open", rec.id),
                ),
                TxnState::Open => {}
                TxnState::Pending if rec.reason.is_none() => push(
                    "pending_has_reason",
                    format!("{} is pending without a reason", rec.id),
                ),
                TxnState::Pending => {}
                TxnState::Settled if rec.credited_fen != rec.inserted_fen => push(
                    "settled_credits_everything",
                    format!(
                        "{}: inserted {} fen, credited {} fen",
                        rec.id, rec.inserted_fen, rec.credited_fen
                    ),
                ),
                TxnState::Settled => {}
                TxnState::Voucher => {
                    let amount: Option<i64> = c
                        .query_row(
                            "SELECT amount_fen FROM voucher WHERE txn_id = ?1",
                            [&rec.id],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if amount != Some(rec.inserted_fen - rec.credited_fen) {
                        push(
                            "voucher_covers_uncredited",
                            format!(
                                "{}: uncredited {} fen, voucher {:?}",
                                rec.id,
                                rec.inserted_fen - rec.credited_fen,
                                amount
                            ),
                        );
                    }
                }
                TxnState::Cancelled if rec.inserted_fen != 0 => push(
                    "cancelled_took_no_money",
                    format!("{} cancelled with {} fen in", rec.id, rec.inserted_fen),
                ),
                TxnState::Cancelled => {}
            }
            if rec.state != TxnState::Open && rec.state != TxnState::Pending && rec.msisdn.is_some()
            {
                push(
                    "number_erased_when_closed",
                    format!("{} keeps a full phone number", rec.id),
                );
            }
        }
        // Nothing is credited twice.
        for row in strings(
            c,
            "SELECT txn_id || ' settled ' || COUNT(*) || ' times' FROM step
             WHERE kind = 'settled' GROUP BY txn_id HAVING COUNT(*) > 1",
        )? {
            push("settled_once", row);
        }
        // The cash-box ledger equals the notes stacked since the last clearance.
        for row in strings(
            c,
            "SELECT 'value ' || fen || ': ledger ' || ledger || ', notes ' || notes FROM (
                 SELECT fen, SUM(ledger) AS ledger, SUM(notes) AS notes FROM (
                     SELECT fen, count AS ledger, 0 AS notes FROM cashbox
                     UNION ALL
                     SELECT fen, 0, COUNT(*) FROM note WHERE clearance_id IS NULL GROUP BY fen)
                 GROUP BY fen) WHERE ledger <> notes",
        )? {
            push("cashbox_matches_notes", row);
        }

        // Cards: never more out of the stacker than went in.
        let stock = self.card_stock()?;
        if stock.in_stock < 0 || stock.in_reject_bin < 0 {
            push("card_stock_not_negative", format!("{stock:?}"));
        }

        // A closed transaction's cards are all where they ended.
        for row in strings(
            c,
            "SELECT card.id || ' of ' || card.txn_id || ' at ' || card.stage FROM card
             JOIN txn ON txn.id = card.txn_id
             WHERE txn.state NOT IN ('open','pending')
               AND card.stage NOT IN ('taken','captured','not_picked','stuck')",
        )? {
            push("cards_end_with_their_transaction", row);
        }
        // A new or replacement SIM that settled put its number on exactly one card, handed out
        // or (not taken in time) in the reject bin; one that did not settle activated none.
        for row in strings(
            c,
            "SELECT txn.id || ' ' || txn.state || ': ' || COUNT(card.id) || ' activated' FROM txn
             LEFT JOIN card ON card.txn_id = txn.id AND card.activated = 1
             WHERE txn.kind IN ('new_sim','replace_sim') AND txn.state IN ('settled','voucher','cancelled')
             GROUP BY txn.id
             HAVING (txn.state = 'settled' AND COUNT(card.id) != 1)
                 OR (txn.state != 'settled' AND COUNT(card.id) != 0)",
        )? {
            push("a_settled_sim_is_on_one_card", row);
        }

        let transactions = c.query_row("SELECT COUNT(*) FROM txn", [], |r| r.get(0))?;
        let notes = c.query_row("SELECT COUNT(*) FROM note", [], |r| r.get(0))?;
        let cashbox_fen = self.cashbox()?.total_fen;
        Ok(CheckReport {
            transactions,
            notes,
            cashbox_fen,
            violations,
        })
    }

    /// Every transaction with its steps, as JSON lines (the daily upload and `journal export`).
    pub fn export(&self, out: &mut dyn std::io::Write) -> Result<usize, Error> {
        let txns = self.query_txns("ORDER BY opened_at, id", [])?;
        for rec in &txns {
            let steps = self.steps(&rec.id)?;
            let line = serde_json::json!({"transaction": rec, "steps": steps});
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")
                .map_err(|e| Error::Json(serde_json::Error::io(e)))?;
        }
        Ok(txns.len())
    }

    fn query_txns<P: rusqlite::Params>(&self, tail: &str, p: P) -> Result<Vec<TxnRecord>, Error> {
        let sql = format!("SELECT {TXN_COLUMNS} FROM txn {tail}");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(p, txn_from_row)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(Error::from)
    }
}

const TXN_COLUMNS: &str =
    "id, kind, state, msisdn, msisdn_masked, inserted_fen, credited_fen, boss_ref,
    new_balance_fen, voucher_id, receipt, reason, opened_at, updated_at";

fn txn_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TxnRecord> {
    let state: String = r.get(2)?;
    Ok(TxnRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        state: TxnState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("state {state}").into(),
            )
        })?,
        msisdn: r.get(3)?,
        msisdn_masked: r.get(4)?,
        inserted_fen: r.get(5)?,
        credited_fen: r.get(6)?,
        boss_ref: r.get(7)?,
        new_balance_fen: r.get(8)?,
        voucher_id: r.get(9)?,
        receipt: r.get(10)?,
        reason: r.get(11)?,
        opened_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

fn step_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StepRecord> {
    let phase: String = r.get(4)?;
    let detail: String = r.get(5)?;
    Ok(StepRecord {
        seq: r.get(0)?,
        txn_id: r.get(1)?,
        at: r.get(2)?,
        kind: r.get(3)?,
        phase: if phase == "intent" {
            Phase::Intent
        } else {
            Phase::Outcome
        },
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
    })
}

fn load(c: &Connection, txn: &str) -> Result<TxnRecord, Error> {
    c.query_row(
        &format!("SELECT {TXN_COLUMNS} FROM txn WHERE id = ?1"),
        [txn],
        txn_from_row,
    )
    .optional()?
    .ok_or_else(|| Error::UnknownTxn(txn.into()))
}

fn state_of(c: &Connection, txn: &str) -> Result<TxnState, Error> {
    Ok(load(c, txn)?.state)
}

fn ensure_exists(c: &Connection, txn: &str) -> Result<(), Error> {
    load(c, txn).map(|_| ())
}

fn insert_step(
    c: &Connection,
    txn: &str,
    at: Millis,
    kind: &str,
    phase: Phase,
    detail: &serde_json::Value,
) -> Result<(), Error> {
    let phase = match phase {
        Phase::Intent => "intent",
        Phase::Outcome => "outcome",
    };
    c.execute(
        "INSERT INTO step (txn_id, at, kind, phase, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![txn, at, kind, phase, serde_json::to_string(detail)?],
    )?;
    Ok(())
}

fn strings(c: &Connection, sql: &str) -> Result<Vec<String>, Error> {
    let mut stmt = c.prepare(sql)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(Error::from)
}

/// The value of the note a transaction last told the acceptor to stack, if no credit or
/// return followed it.
pub fn stack_unresolved(steps: &[StepRecord]) -> Option<u64> {
    let last_stack = steps.iter().rposition(|s| s.kind == "stack_note")?;
    if steps[last_stack..]
        .iter()
        .any(|s| s.kind == "note_credited" || s.kind == "note_returned")
    {
        return None;
    }
    steps[last_stack].detail.get("fen")?.as_u64()
}

/// Papers with the customer's confidential data (bill, itemised records, invoice data).
pub fn confidential(kind: &str) -> bool {
    matches!(kind, "bill" | "itemised_records" | "invoice")
}

/// A paper document without its content: the rows and items go, what it was and whose
/// (masked) stay.
fn redacted(mut doc: serde_json::Value) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        if let Some(map) = v.as_object_mut() {
            for key in [
                "rows",
                "items",
                "invoice_no",
                "invoice_code",
                "check_code",
                "payer_masked",
            ] {
                if map.remove(key).is_some() {
                    map.insert("redacted".into(), serde_json::Value::Bool(true));
                }
            }
            for child in map.values_mut() {
                strip(child);
            }
        }
    }
    strip(&mut doc);
    doc
}

/// Puts a closed transaction in the upload outbox (流水上传), inside the caller's write.
/// The upload entry of a service-log line: `op` as head office knows it
/// (`cash_box_clearance` with the total as its amount, `card_restock`, `service_<action>`
/// for the rest), and the detail with the technician's id, as a JSON string.
fn service_upload_entry(
    seq: i64,
    technician: &str,
    action: &str,
    detail: &serde_json::Value,
    now: Millis,
) -> serde_json::Value {
    let op = match action {
        "clearance" => "cash_box_clearance".to_owned(),
        "restock" => "card_restock".to_owned(),
        other => format!("service_{other}"),
    };
    let amount_fen = if action == "clearance" {
        detail["total_fen"].as_u64().unwrap_or(0)
    } else {
        0
    };
    let mut detail = match detail {
        serde_json::Value::Object(m) => m.clone(),
        other => {
            let mut m = serde_json::Map::new();
            m.insert("detail".into(), other.clone());
            m
        }
    };
    detail.insert("technician".into(), technician.into());
    serde_json::json!({
        "txn_id": format!("svc-{seq}"),
        "at_ms": now,
        "op": op,
        "amount_fen": amount_fen,
        "state": "committed",
        "detail": serde_json::Value::Object(detail).to_string(),
    })
}

fn enqueue_upload(c: &Connection, txn: &str, now: Millis) -> Result<(), Error> {
    let rec = load(c, txn)?;
    // The operation as the operator knows it (its reconciliation matches by it).
    let op = match rec.kind.as_str() {
        "topup" => "recharge",
        "new_sim" => "new_sim_order",
        "replace_sim" => "replacement_sim",
        "reregister" => "real_name_reregister",
        kind => kind,
    };
    let sim = matches!(rec.kind.as_str(), "new_sim" | "replace_sim");
    let leg_state = |leg: &str| -> Result<Option<String>, Error> {
        Ok(
            c.query_row("SELECT state FROM op_leg WHERE leg = ?1", [leg], |r| {
                r.get::<_, String>(0)
            })
            .optional()?,
        )
    };
    // A SIM order the operator took and then cancelled (no card could be issued) happened
    // at the operator as two operations: the order, and its cancellation with the refund.
    let cancel = format!("{}-C", rec.id);
    let cancelled = sim && leg_state(&cancel)?.as_deref() == Some("committed");
    // A recharge card the customer never got was voided at the operator: the sale is
    // reversed there (or, never received, barred), and the void is an operation of its own
    // giving back what was paid (nothing, for a sale never received).
    let void = crate::flow::pin_sale::void_leg(&rec.id);
    let voided: Option<Option<String>> = if rec.kind == "pin_sale" {
        c.query_row(
            "SELECT operator_ref FROM op_leg WHERE leg = ?1 AND state = 'committed'",
            [&void],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
    } else {
        None
    };
    let sold_then_voided = matches!(&voided, Some(Some(r)) if r != "none");
    let state = if rec.state == TxnState::Settled
        || (cancelled && leg_state(&rec.id)?.as_deref() == Some("committed"))
    {
        "committed"
    } else if sold_then_voided {
        "reversed"
    } else {
        "failed"
    };
    if voided.is_some() {
        let entry = serde_json::json!({
            "txn_id": void,
            "at_ms": now,
            "op": "pin_void",
            "amount_fen": if sold_then_voided { rec.inserted_fen } else { 0 },
            "state": "committed",
            "detail": serde_json::json!({"kind": rec.kind, "void_of": rec.id}).to_string(),
        });
        c.execute(
            "INSERT INTO upload (txn_id, at, entry) VALUES (?1, ?2, ?3)",
            params![txn, now, serde_json::to_string(&entry)?],
        )?;
    }
    if cancelled {
        let entry = serde_json::json!({
            "txn_id": cancel,
            "at_ms": now,
            "op": "cancel_order",
            "amount_fen": rec.inserted_fen,
            "state": "committed",
            "detail": serde_json::json!({"kind": rec.kind, "order_of": rec.id}).to_string(),
        });
        c.execute(
            "INSERT INTO upload (txn_id, at, entry) VALUES (?1, ?2, ?3)",
            params![txn, now, serde_json::to_string(&entry)?],
        )?;
    }
    let voucher_fen = rec.inserted_fen - rec.credited_fen;
    let detail = serde_json::json!({
        "kind": rec.kind,
        "number": rec.msisdn_masked,
        "cash_in_fen": rec.inserted_fen,
        "credited_fen": rec.credited_fen,
        "voucher_fen": voucher_fen,
        "voucher_id": rec.voucher_id,
        "operator_ref": rec.boss_ref,
    });
    let entry = serde_json::json!({
        "txn_id": rec.id,
        "at_ms": now,
        "op": op,
        "amount_fen": rec.inserted_fen,
        "state": state,
        "detail": detail.to_string(),
    });
    c.execute(
        "INSERT INTO upload (txn_id, at, entry) VALUES (?1, ?2, ?3)",
        params![txn, now, serde_json::to_string(&entry)?],
    )?;
    Ok(())
}

/// `yyyymmddHHMMSS` in UTC+8 (the operator's local time) from Unix milliseconds.
fn timestamp(now: Millis) -> String {
    let secs = now.div_euclid(1000) + 8 * 3600;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests;
