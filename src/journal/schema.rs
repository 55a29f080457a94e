//! Journal schema and its migrations. Each migration moves `user_version` up by one and
//! runs in its own SQLite transaction; a journal from a newer kiosk is refused.

use rusqlite::Connection;

use super::Error;

/// Migrations in order; index + 1 is the schema version they produce.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: transactions, append-only step log, notes, cash-box ledger, vouchers, clearances.
    "
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta (key, value) VALUES ('txn_seq', 0);

    CREATE TABLE txn (
        id              TEXT PRIMARY KEY,
        kind            TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('open','pending','settled','voucher','cancelled')),
        msisdn          TEXT,
        msisdn_masked   TEXT NOT NULL,
        inserted_fen    INTEGER NOT NULL DEFAULT 0 CHECK (inserted_fen >= 0),
        credited_fen    INTEGER NOT NULL DEFAULT 0 CHECK (credited_fen >= 0),
        boss_ref        TEXT,
        new_balance_fen INTEGER,
        voucher_id      TEXT,
        receipt         TEXT,
        reason          TEXT,
        opened_at       INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    );
    CREATE INDEX txn_state ON txn (state);

    CREATE TABLE step (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        txn_id  TEXT NOT NULL REFERENCES txn (id),
        at      INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        phase   TEXT NOT NULL CHECK (phase IN ('intent','outcome')),
        detail  TEXT NOT NULL
    );
    CREATE INDEX step_txn ON step (txn_id, seq);
    CREATE TRIGGER step_append_only_update BEFORE UPDATE ON step
        BEGIN SELECT RAISE(ABORT, 'the step log is append-only'); END;
    CREATE TRIGGER step_append_only_delete BEFORE DELETE ON step
        BEGIN SELECT RAISE(ABORT, 'the step log is append-only'); END;

    CREATE TABLE clearance (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        at        INTEGER NOT NULL,
        total_fen INTEGER NOT NULL,
        by        TEXT NOT NULL,
        contents  TEXT NOT NULL
    );

    CREATE TABLE note (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        txn_id       TEXT NOT NULL REFERENCES txn (id),
        fen          INTEGER NOT NULL CHECK (fen > 0),
        source       TEXT NOT NULL CHECK (source IN ('credit','power_up')),
        at           INTEGER NOT NULL,
        clearance_id INTEGER REFERENCES clearance (id)
    );
    CREATE INDEX note_txn ON note (txn_id);

    CREATE TABLE cashbox (fen INTEGER PRIMARY KEY, count INTEGER NOT NULL CHECK (count >= 0));

    -- Card stock (blank SIMs in the dispenser) and the reject bin, as an append-only
    -- movement log: restock, dispensed to a customer, captured into the reject bin,
    -- reject bin emptied. Counts are sums over it.
    CREATE TABLE card_movement (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        at      INTEGER NOT NULL,
        kind    TEXT NOT NULL CHECK (kind IN ('restock','dispensed','rejected','bin_emptied')),
        count   INTEGER NOT NULL CHECK (count >= 0),
        txn_id  TEXT REFERENCES txn (id),
        by      TEXT
    );

    CREATE TABLE voucher (
        id         TEXT PRIMARY KEY,
        txn_id     TEXT NOT NULL UNIQUE REFERENCES txn (id),
        amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0),
        reason     TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    ",
    // 2: transactions of any kind with typed legs — operator requests with their
    //    idempotency ids, papers with their documents (masked) — the kiosk's persistent
    //    state (lock, applied configuration), and the upload outbox (流水上传) with its
    //    durable cursor.
    "
    CREATE TABLE op_leg (
        leg          TEXT PRIMARY KEY,
        txn_id       TEXT NOT NULL REFERENCES txn (id),
        op           TEXT NOT NULL,
        amount_fen   INTEGER NOT NULL DEFAULT 0 CHECK (amount_fen >= 0),
        state        TEXT NOT NULL CHECK (state IN ('sent','committed','failed','unknown','not_sent')),
        operator_ref TEXT,
        detail       TEXT,
        sent_at      INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL
    );
    CREATE INDEX op_leg_txn ON op_leg (txn_id);

    CREATE TABLE paper (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        txn_id     TEXT NOT NULL REFERENCES txn (id),
        kind       TEXT NOT NULL,
        doc        TEXT NOT NULL,
        state      TEXT NOT NULL CHECK (state IN ('sent','printed','not_printed')),
        reason     TEXT,
        attempts   INTEGER NOT NULL DEFAULT 1,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX paper_state ON paper (state);

    CREATE TABLE kiosk_state (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );

    CREATE TABLE upload (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        txn_id TEXT NOT NULL,
        at     INTEGER NOT NULL,
        entry  TEXT NOT NULL
    );
    INSERT INTO meta (key, value) VALUES ('upload_acked_seq', 0);
    ",
    // 3: every SIM card a transaction takes from the stacker, stage by stage (picked, at
    //    the IC contacts, ICCID read, written, activated, presented at the gate) to where it
    //    ended (taken by the customer, captured into the reject bin, never picked, or stuck in
    //    the dispenser for a technician to take out): the
    //    journal before and after each physical step, so recovery knows where each card is.
    "
    CREATE TABLE card (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        txn_id     TEXT NOT NULL REFERENCES txn (id),
        attempt    INTEGER NOT NULL,
        iccid      TEXT,
        stage      TEXT NOT NULL CHECK (stage IN ('picking','at_ic','written','activated',
                       'presented','taken','captured','not_picked','stuck')),
        activated  INTEGER NOT NULL DEFAULT 0,
        reason     TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX card_txn ON card (txn_id);
    CREATE INDEX card_stage ON card (stage);
    ",
    // 4: what technicians did in service mode (entering, leaving, clearances, restocks,
    //    self-tests, refusals), each with the technician's id: append-only.
    "
    CREATE TABLE service_log (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        at         INTEGER NOT NULL,
        technician TEXT NOT NULL,
        action     TEXT NOT NULL,
        detail     TEXT NOT NULL
    );
    CREATE TRIGGER service_log_append_only_update BEFORE UPDATE ON service_log
        BEGIN SELECT RAISE(ABORT, 'the service log is append-only'); END;
    CREATE TRIGGER service_log_append_only_delete BEFORE DELETE ON service_log
        BEGIN SELECT RAISE(ABORT, 'the service log is append-only'); END;
    ",
];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), Error> {
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > known {
        return Err(Error::TooNew { found, known });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}
