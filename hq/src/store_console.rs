//! What the web console (`crate::web`) needs from the store beyond head office's acts:
//! staff accounts with roles, signed-in sessions, refund vouchers honoured at the shop, a
//! kiosk's recent transactions, and the per-shop aggregates the report pages draw.
//!
//! Every act here takes its actor and is written to the audit log in the same transaction,
//! like the acts of [`crate::fleet`] and [`crate::rollout`]. The SQL is the subset SQLite
//! and PostgreSQL share ([`crate::db`]).

use serde::Serialize;

use crate::db::{Row, Sql};
use crate::reports::{Period, Totals};
use crate::store::{Store, StoreError, now_ms};

/// Tables and indexes of the console, created with the rest of the schema.
pub(crate) const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS staff(
  username TEXT PRIMARY KEY, display_name TEXT NOT NULL, role TEXT NOT NULL,
  shops TEXT NOT NULL, password_hash TEXT NOT NULL, created_ms BIGINT NOT NULL,
  disabled BIGINT NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS web_sessions(
  token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, csrf TEXT NOT NULL,
  created_ms BIGINT NOT NULL, seen_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS vouchers_honoured(
  kiosk_id TEXT NOT NULL, txn_id TEXT NOT NULL, honoured_ms BIGINT NOT NULL,
  honoured_by TEXT NOT NULL, PRIMARY KEY(kiosk_id, txn_id));
CREATE INDEX IF NOT EXISTS txns_kiosk_at ON txns(kiosk_id, at_ms);
CREATE INDEX IF NOT EXISTS txns_report ON txns(day, state, op, kiosk_id, amount_fen, arrears_fen);
CREATE INDEX IF NOT EXISTS journal_op_day ON journal(op, day);
CREATE INDEX IF NOT EXISTS config_rollouts_kiosk ON config_rollouts(kiosk_id, version);
CREATE TABLE IF NOT EXISTS txn_day_shop(
  day TEXT NOT NULL, shop_id TEXT NOT NULL, op TEXT NOT NULL, band BIGINT NOT NULL,
  n BIGINT NOT NULL, amount_fen BIGINT NOT NULL, arrears_n BIGINT NOT NULL,
  arrears_fen BIGINT NOT NULL, PRIMARY KEY(day, shop_id, op, band));
CREATE TABLE IF NOT EXISTS txn_month_shop(
  month TEXT NOT NULL, shop_id TEXT NOT NULL, op TEXT NOT NULL, band BIGINT NOT NULL,
  n BIGINT NOT NULL, amount_fen BIGINT NOT NULL, arrears_n BIGINT NOT NULL,
  arrears_fen BIGINT NOT NULL, PRIMARY KEY(month, shop_id, op, band));
CREATE INDEX IF NOT EXISTS txn_day_shop_shop ON txn_day_shop(shop_id, day);
";

// -------------------------------------------------------------------------------------
// Per-shop totals (rollups)
//
// The report pages read totals per day and per month, shop, operation and amount band,
// kept up to date in the transaction that records (or reverses) a money-in transaction:
// a year of a 2,000-kiosk fleet is a few thousand month rows instead of millions of
// transactions. A transaction counts for the shop its kiosk was in when it was recorded
// (a kiosk moved to another shop takes no history along); `''` stands for "no shop".
// -------------------------------------------------------------------------------------

/// The amount band of an amount ([`crate::reports::BANDS_FEN`]).
#[must_use]
pub fn band_of(amount_fen: i64) -> i64 {
    let b = crate::reports::BANDS_FEN
        .iter()
        .position(|hi| amount_fen < *hi)
        .unwrap_or(crate::reports::BANDS_FEN.len());
    i64::try_from(b).unwrap_or(0)
}

/// The label of band `b`: `50-100`, `500+` (yuan).
#[must_use]
pub fn band_label(b: i64) -> String {
    let b = usize::try_from(b).unwrap_or(0);
    let lo = if b == 0 {
        0
    } else {
        crate::reports::BANDS_FEN.get(b - 1).copied().unwrap_or(0)
    };
    match crate::reports::BANDS_FEN.get(b) {
        Some(hi) => format!("{}-{}", lo / 100, hi / 100),
        None => format!("{}+", lo / 100),
    }
}

fn rollup_add(
    s: &mut dyn Sql,
    kiosk_id: &str,
    op: &str,
    day: &str,
    amount_fen: i64,
    arrears_fen: i64,
    sign: i64,
) -> Result<(), StoreError> {
    let band = band_of(amount_fen);
    let arrears_n = i64::from(arrears_fen > 0);
    for (table, key, at) in [
        ("txn_day_shop", "day", day.to_owned()),
        (
            "txn_month_shop",
            "month",
            day.get(..7).unwrap_or(day).to_owned(),
        ),
    ] {
        s.exec(
            &format!(
                "INSERT INTO {table}({key}, shop_id, op, band, n, amount_fen, arrears_n, arrears_fen) \
                 VALUES ($1, COALESCE((SELECT shop_id FROM kiosks WHERE kiosk_id=$2), ''), $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT({key}, shop_id, op, band) DO UPDATE SET n={table}.n+excluded.n, \
                 amount_fen={table}.amount_fen+excluded.amount_fen, \
                 arrears_n={table}.arrears_n+excluded.arrears_n, \
                 arrears_fen={table}.arrears_fen+excluded.arrears_fen"
            ),
            &[
                at.into(),
                kiosk_id.into(),
                op.into(),
                band.into(),
                sign.into(),
                (sign * amount_fen).into(),
                (sign * arrears_n).into(),
                (sign * arrears_fen).into(),
            ],
        )?;
    }
    Ok(())
}

/// Counts a newly recorded transaction in the per-shop totals (money in, committed only).
///
/// # Errors
/// The database's.
pub fn rollup_txn(
    s: &mut dyn Sql,
    t: &crate::store::ForwardedTxn,
    sign: i64,
) -> Result<(), StoreError> {
    if t.state == "committed" && crate::recon::is_money_in(&t.op) {
        let day = crate::store::day_of_ms(t.at_ms);
        rollup_add(
            s,
            &t.kiosk_id,
            &t.op,
            &day,
            t.amount_fen,
            t.arrears_fen,
            sign,
        )?;
    }
    Ok(())
}

/// Takes a transaction about to be marked reversed out of the per-shop totals.
///
/// # Errors
/// The database's.
pub fn rollup_reversed(s: &mut dyn Sql, kiosk_id: &str, txn_id: &str) -> Result<(), StoreError> {
    let Some(r) = s.one(
        "SELECT op, day, amount_fen, arrears_fen FROM txns WHERE kiosk_id=$1 AND txn_id=$2 \
         AND state='committed'",
        &[kiosk_id.into(), txn_id.into()],
    )?
    else {
        return Ok(());
    };
    let op = r.str(0)?;
    if crate::recon::is_money_in(&op) {
        rollup_add(s, kiosk_id, &op, &r.str(1)?, r.i64(2)?, r.i64(3)?, -1)?;
    }
    Ok(())
}

fn band_case() -> String {
    let mut case = String::from("CASE");
    for (n, hi) in crate::reports::BANDS_FEN.iter().enumerate() {
        case.push_str(&format!(" WHEN t.amount_fen<{hi} THEN {n}"));
    }
    case.push_str(&format!(" ELSE {} END", crate::reports::BANDS_FEN.len()));
    case
}

/// Rebuilds the per-shop totals from the stored transactions (at the first start of a
/// store that has none, and after a bulk load).
///
/// # Errors
/// The database's.
pub fn rebuild_rollups(s: &mut dyn Sql) -> Result<(), StoreError> {
    let case = band_case();
    s.exec("DELETE FROM txn_day_shop", &[])?;
    s.exec("DELETE FROM txn_month_shop", &[])?;
    s.exec(
        &format!(
            "INSERT INTO txn_day_shop(day, shop_id, op, band, n, amount_fen, arrears_n, arrears_fen) \
             SELECT t.day, COALESCE(k.shop_id, ''), t.op, {case}, COUNT(*), \
             CAST(SUM(t.amount_fen) AS BIGINT), \
             CAST(SUM(CASE WHEN t.arrears_fen>0 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(t.arrears_fen) AS BIGINT) \
             FROM txns t LEFT JOIN kiosks k ON k.kiosk_id=t.kiosk_id \
             WHERE {MONEY} GROUP BY t.day, COALESCE(k.shop_id, ''), t.op, {case}"
        ),
        &[],
    )?;
    s.exec(
        "INSERT INTO txn_month_shop(month, shop_id, op, band, n, amount_fen, arrears_n, arrears_fen) \
         SELECT SUBSTR(day, 1, 7), shop_id, op, band, CAST(SUM(n) AS BIGINT), \
         CAST(SUM(amount_fen) AS BIGINT), CAST(SUM(arrears_n) AS BIGINT), \
         CAST(SUM(arrears_fen) AS BIGINT) FROM txn_day_shop \
         GROUP BY SUBSTR(day, 1, 7), shop_id, op, band",
        &[],
    )?;
    s.exec(
        "INSERT INTO meta(key, value) VALUES ('console_rollups', '1') \
         ON CONFLICT(key) DO UPDATE SET value='1'",
        &[],
    )?;
    Ok(())
}

/// Builds the per-shop totals once, for a store made before they existed.
///
/// # Errors
/// The database's.
pub fn ensure_rollups(s: &mut dyn Sql) -> Result<(), StoreError> {
    if s.one("SELECT value FROM meta WHERE key='console_rollups'", &[])?
        .is_none()
    {
        rebuild_rollups(s)?;
    }
    Ok(())
}

/// Which dimensions of [`Cell`] a report needs besides the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CellDims {
    /// By month.
    pub month: bool,
    /// By operation.
    pub op: bool,
    /// By amount band.
    pub band: bool,
}

/// One cell of the per-shop totals: a month (or the part of it in a period), a shop, an
/// operation and an amount band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// `YYYY-MM`.
    pub month: String,
    /// Shop (None: kiosks in no shop).
    pub shop_id: Option<String>,
    /// Operation.
    pub op: String,
    /// Amount band ([`band_label`]).
    pub band: i64,
    /// Transactions.
    pub n: i64,
    /// Amount, fen.
    pub amount_fen: i64,
    /// Top-ups that paid arrears.
    pub arrears_n: i64,
    /// Their arrears part, fen.
    pub arrears_fen: i64,
}

/// A range of days or months, both ends included.
type Range = (String, String);

/// The whole months inside `from..=to`, and the day ranges left at either end.
fn split_period(from: &str, to: &str) -> Result<(Option<Range>, Vec<Range>), StoreError> {
    let (f, t) = (crate::store::parse_day(from)?, crate::store::parse_day(to)?);
    let first_full = if f.day() == 1 {
        Some(f)
    } else {
        crate::store::parse_day(&format!("{}-01", from.get(..7).unwrap_or(from)))?
            .checked_add(time::Duration::days(32))
            .and_then(|d| d.replace_day(1).ok())
    };
    let after_last = t.next_day().and_then(|d| {
        if d.day() == 1 {
            Some(d)
        } else {
            d.replace_day(1).ok()
        }
    });
    match (first_full, after_last) {
        (Some(a), Some(b)) if a < b => {
            let last_full = b.previous_day().unwrap_or(b);
            let mut edges = Vec::new();
            if f < a {
                edges.push((
                    from.to_owned(),
                    crate::store::format_day(a.previous_day().unwrap_or(a)),
                ));
            }
            if last_full < t {
                edges.push((crate::store::format_day(b), to.to_owned()));
            }
            Ok((
                Some((
                    crate::store::format_day(a)
                        .get(..7)
                        .unwrap_or_default()
                        .to_owned(),
                    crate::store::format_day(last_full)
                        .get(..7)
                        .unwrap_or_default()
                        .to_owned(),
                )),
                edges,
            ))
        }
        _ => Ok((None, vec![(from.to_owned(), to.to_owned())])),
    }
}

fn cell_of(r: &Row) -> Result<Cell, StoreError> {
    let shop = r.str(1)?;
    Ok(Cell {
        month: r.str(0)?,
        shop_id: (!shop.is_empty()).then_some(shop),
        op: r.str(2)?,
        band: r.i64(3)?,
        n: r.i64(4)?,
        amount_fen: r.i64(5)?,
        arrears_n: r.i64(6)?,
        arrears_fen: r.i64(7)?,
    })
}

/// A staff member's role in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads the fleet, the reports and reconciliation; acts on nothing.
    Viewer,
    /// Reads and acts (lock, unlock, diagnostics, vouchers) on the kiosks of their shops only.
    ShopManager,
    /// Head office's operator: every kiosk, configuration, reconciliation.
    Operator,
    /// An operator who also manages staff accounts.
    Admin,
}

impl Role {
    /// Stored and command-line name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::ShopManager => "shop_manager",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored or command-line name.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] naming the accepted roles.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "shop_manager" => Ok(Role::ShopManager),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(StoreError::Invalid(format!(
                "role {other:?}: viewer, shop_manager, operator or admin"
            ))),
        }
    }
}

/// A staff account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffAccount {
    /// Sign-in name.
    pub username: String,
    /// Name shown in the console.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Shops a shop manager is responsible for (empty for the other roles).
    pub shops: Vec<String>,
    /// The argon2id PHC string of the password (never shown).
    #[serde(skip)]
    pub password_hash: String,
    /// Created (UTC ms).
    pub created_ms: i64,
    /// Cannot sign in.
    pub disabled: bool,
}

const STAFF_COLS: &str = "username, display_name, role, shops, password_hash, created_ms, disabled";

fn staff_of(r: &Row) -> Result<StaffAccount, StoreError> {
    Ok(StaffAccount {
        username: r.str(0)?,
        display_name: r.str(1)?,
        role: Role::parse(&r.str(2)?)?,
        shops: r
            .str(3)?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        password_hash: r.str(4)?,
        created_ms: r.i64(5)?,
        disabled: r.i64(6)? != 0,
    })
}

/// A signed-in session as the store keeps it (the cookie's token only as its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// Who.
    pub staff: StaffAccount,
    /// The session's CSRF token (every form carries it).
    pub csrf: String,
    /// Signed in (UTC ms).
    pub created_ms: i64,
    /// Last request (UTC ms).
    pub seen_ms: i64,
}

/// A transaction of a kiosk as the console lists it (phone number masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxnLine {
    /// The kiosk's transaction id.
    pub txn_id: String,
    /// Operation.
    pub op: String,
    /// When answered (UTC ms).
    pub at_ms: i64,
    /// Amount, fen.
    pub amount_fen: i64,
    /// `committed`, `failed`, `reversed`.
    pub state: String,
    /// Error code when failed.
    pub code: Option<String>,
    /// The phone number, masked (`138****1234`), from the kiosk's uploaded journal.
    pub msisdn_masked: Option<String>,
}

/// A refund voucher (退款凭条) a kiosk printed, and whether the shop has honoured it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoucherLine {
    /// The kiosk.
    pub kiosk_id: String,
    /// Its shop.
    pub shop_id: Option<String>,
    /// The transaction the voucher stands for.
    pub txn_id: String,
    /// Printed (UTC ms).
    pub at_ms: i64,
    /// Amount owed to the customer, fen.
    pub amount_fen: i64,
    /// Phone number, masked.
    pub msisdn_masked: Option<String>,
    /// Honoured at the counter (UTC ms) and by whom.
    pub honoured: Option<(i64, String)>,
}

/// One shop's totals on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShopDayRow {
    /// Day.
    pub day: String,
    /// Shop (None: kiosks not assigned to a shop).
    pub shop_id: Option<String>,
    /// Totals.
    #[serde(flatten)]
    pub totals: Totals,
}

/// One shop's totals over a period, with its kiosks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShopPeriodRow {
    /// Shop.
    pub shop_id: Option<String>,
    /// Kiosks with at least one transaction.
    pub kiosks: i64,
    /// Totals.
    #[serde(flatten)]
    pub totals: Totals,
}

const MONEY: &str =
    "t.op IN ('recharge','new_sim_order','replacement_sim') AND t.state='committed'";

fn valid_username(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 32
        && u.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

impl Store {
    /// Creates a staff account (the password already hashed, argon2id). Audited as
    /// `staff.add`.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a bad name, a shop manager without shops, an existing
    /// account; or the database's.
    pub fn add_staff(&self, actor: &str, account: &StaffAccount) -> Result<(), StoreError> {
        if !valid_username(&account.username) {
            return Err(StoreError::Invalid(format!(
                "user name {:?}: 1–32 of a-z, 0-9, '.', '_', '-'",
                account.username
            )));
        }
        if account.role == Role::ShopManager && account.shops.is_empty() {
            return Err(StoreError::Invalid(
                "a shop manager needs at least one shop (--shop)".into(),
            ));
        }
        if account
            .shops
            .iter()
            .any(|s| s.is_empty() || s.contains(','))
        {
            return Err(StoreError::Invalid(
                "shop ids cannot be empty or contain ','".into(),
            ));
        }
        if !account.password_hash.starts_with("$argon2id$") {
            return Err(StoreError::Invalid(
                "the password hash must be argon2id".into(),
            ));
        }
        self.db().tx(|s| {
            let n = s.exec(
                &format!(
                    "INSERT INTO staff({STAFF_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7) \
                     ON CONFLICT(username) DO NOTHING"
                ),
                &[
                    account.username.as_str().into(),
                    account.display_name.as_str().into(),
                    account.role.as_str().into(),
                    account.shops.join(",").into(),
                    account.password_hash.as_str().into(),
                    now_ms().into(),
                    account.disabled.into(),
                ],
            )?;
            if n == 0 {
                return Err(StoreError::Invalid(format!(
                    "user {} exists already",
                    account.username
                )));
            }
            Store::audit_in(
                s,
                actor,
                "staff.add",
                &format!("staff:{}", account.username),
                &serde_json::json!({ "role": account.role.as_str(), "shops": account.shops }),
            )
        })
    }

    /// One staff account.
    ///
    /// # Errors
    /// The database's.
    pub fn staff(&self, username: &str) -> Result<Option<StaffAccount>, StoreError> {
        self.db().read(|s| {
            s.one(
                &format!("SELECT {STAFF_COLS} FROM staff WHERE username=$1"),
                &[username.into()],
            )?
            .map(|r| staff_of(&r))
            .transpose()
        })
    }

    /// Every staff account, by name.
    ///
    /// # Errors
    /// The database's.
    pub fn staff_list(&self) -> Result<Vec<StaffAccount>, StoreError> {
        self.db().read(|s| {
            s.query(
                &format!("SELECT {STAFF_COLS} FROM staff ORDER BY username"),
                &[],
            )?
            .iter()
            .map(staff_of)
            .collect()
        })
    }

    /// Disables or re-enables an account; disabling ends its sessions. Audited.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or the database's.
    pub fn set_staff_disabled(
        &self,
        actor: &str,
        username: &str,
        disabled: bool,
    ) -> Result<(), StoreError> {
        self.db().tx(|s| {
            let n = s.exec(
                "UPDATE staff SET disabled=$2 WHERE username=$1",
                &[username.into(), disabled.into()],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("no user {username}")));
            }
            if disabled {
                s.exec(
                    "DELETE FROM web_sessions WHERE username=$1",
                    &[username.into()],
                )?;
            }
            Store::audit_in(
                s,
                actor,
                if disabled {
                    "staff.disable"
                } else {
                    "staff.enable"
                },
                &format!("staff:{username}"),
                &serde_json::json!({}),
            )
        })
    }

    /// Replaces an account's password hash; ends its sessions. Audited.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or the database's.
    pub fn set_staff_password(
        &self,
        actor: &str,
        username: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        if !password_hash.starts_with("$argon2id$") {
            return Err(StoreError::Invalid(
                "the password hash must be argon2id".into(),
            ));
        }
        self.db().tx(|s| {
            let n = s.exec(
                "UPDATE staff SET password_hash=$2 WHERE username=$1",
                &[username.into(), password_hash.into()],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("no user {username}")));
            }
            s.exec(
                "DELETE FROM web_sessions WHERE username=$1",
                &[username.into()],
            )?;
            Store::audit_in(
                s,
                actor,
                "staff.password",
                &format!("staff:{username}"),
                &serde_json::json!({}),
            )
        })
    }

    /// Records a sign-in: the session (by the hash of its cookie token) and the audit entry.
    ///
    /// # Errors
    /// The database's.
    pub fn create_web_session(
        &self,
        username: &str,
        token_hash: &str,
        csrf: &str,
        peer: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        self.db().tx(|s| {
            s.exec(
                "INSERT INTO web_sessions(token_hash, username, csrf, created_ms, seen_ms) \
                 VALUES ($1,$2,$3,$4,$4)",
                &[token_hash.into(), username.into(), csrf.into(), now.into()],
            )?;
            Store::audit_in(
                s,
                &format!("web:{username}"),
                "login",
                &format!("staff:{username}"),
                &serde_json::json!({ "peer": peer }),
            )
        })
    }

    /// A live session: not older than `max_age_ms` since sign-in, not idle longer than
    /// `idle_ms`, of an enabled account. Expired sessions are removed on the way.
    ///
    /// # Errors
    /// The database's.
    pub fn web_session(
        &self,
        token_hash: &str,
        max_age_ms: i64,
        idle_ms: i64,
    ) -> Result<Option<WebSession>, StoreError> {
        let now = now_ms();
        let row = self.db().read(|s| {
            s.one(
                &format!(
                    "SELECT w.csrf, w.created_ms, w.seen_ms, {} FROM web_sessions w \
                     JOIN staff st ON st.username=w.username WHERE w.token_hash=$1",
                    STAFF_COLS
                        .split(", ")
                        .map(|c| format!("st.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &[token_hash.into()],
            )
        })?;
        let Some(r) = row else { return Ok(None) };
        let (csrf, created_ms, seen_ms) = (r.str(0)?, r.i64(1)?, r.i64(2)?);
        let staff = staff_of(&Row(r.0.get(3..).unwrap_or_default().to_vec()))?;
        if staff.disabled || now - created_ms > max_age_ms || now - seen_ms > idle_ms {
            self.db().tx(|s| -> Result<(), StoreError> {
                s.exec(
                    "DELETE FROM web_sessions WHERE token_hash=$1",
                    &[token_hash.into()],
                )?;
                Ok(())
            })?;
            return Ok(None);
        }
        if now - seen_ms > 60_000 {
            self.db().tx(|s| -> Result<(), StoreError> {
                s.exec(
                    "UPDATE web_sessions SET seen_ms=$2 WHERE token_hash=$1",
                    &[token_hash.into(), now.into()],
                )?;
                Ok(())
            })?;
        }
        Ok(Some(WebSession {
            staff,
            csrf,
            created_ms,
            seen_ms,
        }))
    }

    /// Ends a session (sign-out). Audited as `logout`.
    ///
    /// # Errors
    /// The database's.
    pub fn end_web_session(&self, token_hash: &str, username: &str) -> Result<(), StoreError> {
        self.db().tx(|s| {
            s.exec(
                "DELETE FROM web_sessions WHERE token_hash=$1",
                &[token_hash.into()],
            )?;
            Store::audit_in(
                s,
                &format!("web:{username}"),
                "logout",
                &format!("staff:{username}"),
                &serde_json::json!({}),
            )
        })
    }

    /// Writes one audit entry on its own (a refused sign-in, for instance).
    ///
    /// # Errors
    /// The database's.
    pub fn audit_event(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.db()
            .tx(|s| Store::audit_in(s, actor, action, target, detail))
    }

    /// A kiosk's latest transactions forwarded through the server, newest first, with the
    /// masked phone number from its uploaded journal.
    ///
    /// # Errors
    /// The database's.
    pub fn kiosk_txns(&self, kiosk_id: &str, limit: u32) -> Result<Vec<TxnLine>, StoreError> {
        self.db().read(|s| {
            s.query(
                "SELECT t.txn_id, t.op, t.at_ms, t.amount_fen, t.state, t.code, \
                 (SELECT j.msisdn_masked FROM journal j WHERE j.kiosk_id=t.kiosk_id \
                  AND j.txn_id=t.txn_id AND j.msisdn_masked IS NOT NULL ORDER BY j.seq DESC LIMIT 1) \
                 FROM txns t WHERE t.kiosk_id=$1 ORDER BY t.at_ms DESC LIMIT $2",
                &[kiosk_id.into(), i64::from(limit).into()],
            )?
            .iter()
            .map(|r| {
                Ok(TxnLine {
                    txn_id: r.str(0)?,
                    op: r.str(1)?,
                    at_ms: r.i64(2)?,
                    amount_fen: r.i64(3)?,
                    state: r.str(4)?,
                    code: r.opt_str(5)?,
                    msisdn_masked: r
                        .opt_str(6)?
                        .map(|m| telekiosk_privacy::mask_phone(&m)),
                })
            })
            .collect()
        })
    }

    /// Refund vouchers (退款凭条) kiosks printed from `from` to `to` (days, both included),
    /// of one shop or all, newest first, with whether the shop has honoured them. A voucher
    /// is a transaction whose uploaded journal says `voucher_fen` above zero (a top-up the
    /// operator refused, a stray note), as the reports count them.
    ///
    /// # Errors
    /// The database's.
    pub fn vouchers(&self, p: &Period) -> Result<Vec<VoucherLine>, StoreError> {
        self.db().read(|s| {
            s.query(
                "SELECT j.kiosk_id, k.shop_id, j.txn_id, MAX(j.at_ms), MAX(j.voucher_fen), \
                 MAX(j.msisdn_masked), MAX(h.honoured_ms), MAX(h.honoured_by) \
                 FROM journal j LEFT JOIN kiosks k ON k.kiosk_id=j.kiosk_id \
                 LEFT JOIN vouchers_honoured h ON h.kiosk_id=j.kiosk_id AND h.txn_id=j.txn_id \
                 WHERE j.voucher_fen>0 AND j.day>=$1 AND j.day<=$2 \
                 AND (CAST($3 AS TEXT) IS NULL OR k.shop_id=$3) \
                 GROUP BY j.kiosk_id, k.shop_id, j.txn_id ORDER BY 4 DESC LIMIT 1000",
                &[
                    p.from.as_str().into(),
                    p.to.as_str().into(),
                    p.shop.clone().into(),
                ],
            )?
            .iter()
            .map(|r| {
                let honoured = match (r.opt_i64(6)?, r.opt_str(7)?) {
                    (Some(ms), Some(by)) => Some((ms, by)),
                    _ => None,
                };
                Ok(VoucherLine {
                    kiosk_id: r.str(0)?,
                    shop_id: r.opt_str(1)?,
                    txn_id: r.str(2)?,
                    at_ms: r.i64(3)?,
                    amount_fen: r.i64(4)?,
                    msisdn_masked: r.opt_str(5)?.map(|m| telekiosk_privacy::mask_phone(&m)),
                    honoured,
                })
            })
            .collect()
        })
    }

    /// Records that the shop paid a refund voucher out. Audited as `voucher.honour`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for a voucher the kiosk never uploaded,
    /// [`StoreError::Invalid`] for one honoured already; or the database's.
    pub fn honour_voucher(
        &self,
        actor: &str,
        kiosk_id: &str,
        txn_id: &str,
    ) -> Result<(), StoreError> {
        self.db().tx(|s| {
            let v = s.one(
                "SELECT MAX(voucher_fen) FROM journal WHERE kiosk_id=$1 AND txn_id=$2 \
                 AND voucher_fen>0",
                &[kiosk_id.into(), txn_id.into()],
            )?;
            let Some(amount) = v.map(|r| r.opt_i64(0)).transpose()?.flatten() else {
                return Err(StoreError::NotFound(format!(
                    "no refund voucher {txn_id} of kiosk {kiosk_id}"
                )));
            };
            let n = s.exec(
                "INSERT INTO vouchers_honoured(kiosk_id, txn_id, honoured_ms, honoured_by) \
                 VALUES ($1,$2,$3,$4) ON CONFLICT(kiosk_id, txn_id) DO NOTHING",
                &[
                    kiosk_id.into(),
                    txn_id.into(),
                    now_ms().into(),
                    actor.into(),
                ],
            )?;
            if n == 0 {
                return Err(StoreError::Invalid(format!(
                    "refund voucher {txn_id} was honoured already"
                )));
            }
            Store::audit_in(
                s,
                actor,
                "voucher.honour",
                &format!("kiosk:{kiosk_id}"),
                &serde_json::json!({ "txn_id": txn_id, "amount_fen": amount }),
            )
        })
    }

    /// Money-in per day and shop (the daily business report), from the per-shop totals.
    ///
    /// # Errors
    /// The database's.
    pub fn report_shop_days(&self, p: &Period) -> Result<Vec<ShopDayRow>, StoreError> {
        // One shop: its index range (an `IS NULL OR` would keep the index from being used).
        let (sql, params): (&str, Vec<crate::db::V>) = match &p.shop {
            Some(shop) => (
                "SELECT day, shop_id, CAST(SUM(n) AS BIGINT), CAST(SUM(amount_fen) AS BIGINT) \
                 FROM txn_day_shop WHERE shop_id=$3 AND day>=$1 AND day<=$2 \
                 GROUP BY day, shop_id HAVING SUM(n)<>0 ORDER BY day, shop_id",
                vec![
                    p.from.as_str().into(),
                    p.to.as_str().into(),
                    shop.as_str().into(),
                ],
            ),
            None => (
                "SELECT day, shop_id, CAST(SUM(n) AS BIGINT), CAST(SUM(amount_fen) AS BIGINT) \
                 FROM txn_day_shop WHERE day>=$1 AND day<=$2 \
                 GROUP BY day, shop_id HAVING SUM(n)<>0 ORDER BY day, shop_id",
                vec![p.from.as_str().into(), p.to.as_str().into()],
            ),
        };
        self.db().read(|s| {
            s.query(sql, &params)?
                .iter()
                .map(|r| {
                    let shop = r.str(1)?;
                    Ok(ShopDayRow {
                        day: r.str(0)?,
                        shop_id: (!shop.is_empty()).then_some(shop),
                        totals: totals(r.i64(2)?, r.i64(3)?),
                    })
                })
                .collect()
        })
    }

    /// The per-shop totals of a period by month, shop, operation and band: whole months
    /// from the month totals, the days at either end from the day totals (each part an
    /// index range). Every report page but the daily one is drawn from these cells; `dims`
    /// says which of month, operation and band a page needs (the others are summed over:
    /// month `""`, operation `""`, band 0).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for bad days, or the database's.
    pub fn report_cells(&self, p: &Period, dims: CellDims) -> Result<Vec<Cell>, StoreError> {
        let (months, edges) = split_period(&p.from, &p.to)?;
        let col = |on: bool, name: &str, none: &str| {
            if on { name.to_owned() } else { none.to_owned() }
        };
        let (m, o, b) = (
            col(dims.month, "month", "CAST('' AS TEXT)"),
            col(dims.op, "op", "CAST('' AS TEXT)"),
            col(dims.band, "band", "CAST(0 AS BIGINT)"),
        );
        let mut parts = Vec::new();
        let mut params: Vec<crate::db::V> = vec![p.shop.clone().into()];
        let cols = "shop_id, op, band, n, amount_fen, arrears_n, arrears_fen";
        if let Some((m1, m2)) = months {
            parts.push(format!(
                "SELECT month, {cols} FROM txn_month_shop WHERE month>=${} AND month<=${}",
                params.len() + 1,
                params.len() + 2
            ));
            params.extend([m1.into(), m2.into()]);
        }
        for (d1, d2) in edges {
            parts.push(format!(
                "SELECT SUBSTR(day, 1, 7) AS month, {cols} FROM txn_day_shop WHERE day>=${} AND day<=${}",
                params.len() + 1,
                params.len() + 2
            ));
            params.extend([d1.into(), d2.into()]);
        }
        let group: Vec<&str> = [
            (dims.month, "month"),
            (true, "shop_id"),
            (dims.op, "op"),
            (dims.band, "band"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect();
        let group = group.join(", ");
        let sql = format!(
            "SELECT {m}, shop_id, {o}, {b}, CAST(SUM(n) AS BIGINT), CAST(SUM(amount_fen) AS BIGINT), \
             CAST(SUM(arrears_n) AS BIGINT), CAST(SUM(arrears_fen) AS BIGINT) FROM ({}) x \
             WHERE (CAST($1 AS TEXT) IS NULL OR shop_id=$1) \
             GROUP BY {group} HAVING SUM(n)<>0 ORDER BY {group}",
            parts.join(" UNION ALL ")
        );
        self.db()
            .read(|s| s.query(&sql, &params)?.iter().map(cell_of).collect())
    }

    /// Every kiosk's shop now.
    ///
    /// # Errors
    /// The database's.
    pub fn kiosk_shops(
        &self,
    ) -> Result<std::collections::HashMap<String, Option<String>>, StoreError> {
        self.db().read(|s| {
            s.query("SELECT kiosk_id, shop_id FROM kiosks", &[])?
                .iter()
                .map(|r| Ok((r.str(0)?, r.opt_str(1)?)))
                .collect()
        })
    }

    /// A day's reconciliation of every kiosk with every difference, in two queries (the
    /// console's page over a whole fleet).
    ///
    /// # Errors
    /// The database's.
    pub fn recon_day(&self, day: &str) -> Result<Vec<crate::recon::ReconRun>, StoreError> {
        use crate::recon::{MismatchRow, ReconRun};
        self.db().read(|s| {
            let mut runs: Vec<ReconRun> = s
                .query(
                    "SELECT kiosk_id, day, run_ms, balanced, kiosk_count, kiosk_amount_fen, \
                     operator_count, operator_amount_fen FROM recon_runs WHERE day=$1 ORDER BY kiosk_id",
                    &[day.into()],
                )?
                .iter()
                .map(|r| {
                    Ok(ReconRun {
                        kiosk_id: r.str(0)?,
                        day: r.str(1)?,
                        run_ms: r.i64(2)?,
                        balanced: r.i64(3)? != 0,
                        kiosk_count: r.i64(4)?,
                        kiosk_amount_fen: r.i64(5)?,
                        operator_count: r.i64(6)?,
                        operator_amount_fen: r.i64(7)?,
                        mismatches: Vec::new(),
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            for m in s.query(
                "SELECT kiosk_id, txn_id, kind, op, kiosk_amount_fen, operator_amount_fen, \
                 kiosk_state, operator_state FROM recon_mismatches WHERE day=$1 ORDER BY kiosk_id, txn_id",
                &[day.into()],
            )? {
                let k = m.str(0)?;
                if let Ok(i) = runs.binary_search_by(|r| r.kiosk_id.as_str().cmp(k.as_str()))
                    && let Some(run) = runs.get_mut(i)
                {
                    run.mismatches.push(MismatchRow {
                        txn_id: m.str(1)?,
                        kind: m.str(2)?,
                        op: m.str(3)?,
                        kiosk_amount_fen: m.opt_i64(4)?,
                        operator_amount_fen: m.opt_i64(5)?,
                        kiosk_state: m.opt_str(6)?,
                        operator_state: m.opt_str(7)?,
                    });
                }
            }
            Ok(runs)
        })
    }

    /// Kiosks per shop now (None: in no shop).
    ///
    /// # Errors
    /// The database's.
    pub fn kiosks_per_shop(&self) -> Result<Vec<(Option<String>, i64)>, StoreError> {
        self.db().read(|s| {
            s.query(
                "SELECT shop_id, COUNT(*) FROM kiosks GROUP BY shop_id ORDER BY shop_id",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.opt_str(0)?, r.i64(1)?)))
            .collect()
        })
    }
}

fn totals(count: i64, amount_fen: i64) -> Totals {
    Totals {
        count,
        amount_fen,
        average_fen: if count > 0 { amount_fen / count } else { 0 },
    }
}

/// Writes many transactions at once, as the server records them (the benchmark's bulk
/// load); the per-shop totals are not touched: call [`rebuild_rollups`] after.
///
/// # Errors
/// The database's.
pub fn insert_txn_rows(
    s: &mut dyn Sql,
    rows: &[crate::store::ForwardedTxn],
) -> Result<(), StoreError> {
    // Multi-row statements: a year of a fleet's transactions goes in in seconds.
    for chunk in rows.chunks(400) {
        let mut sql = String::from(
            "INSERT INTO txns(kiosk_id, txn_id, op, day, at_ms, amount_fen, state, code, \
             arrears_fen, operator_ref) VALUES ",
        );
        let mut params = Vec::with_capacity(chunk.len() * 10);
        for (n, t) in chunk.iter().enumerate() {
            if n > 0 {
                sql.push(',');
            }
            let b = n * 10;
            sql.push_str(&format!(
                "(${},${},${},${},${},${},${},${},${},${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9,
                b + 10
            ));
            params.extend([
                t.kiosk_id.as_str().into(),
                t.txn_id.as_str().into(),
                t.op.as_str().into(),
                crate::store::day_of_ms(t.at_ms).into(),
                t.at_ms.into(),
                t.amount_fen.into(),
                t.state.as_str().into(),
                t.code.clone().into(),
                t.arrears_fen.into(),
                t.operator_ref.clone().into(),
            ]);
        }
        sql.push_str(" ON CONFLICT(kiosk_id, txn_id) DO NOTHING");
        s.exec(&sql, &params)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ForwardedTxn;

    fn range(a: &str, b: &str) -> (String, String) {
        (a.to_owned(), b.to_owned())
    }

    #[test]
    fn periods_split_into_whole_months_and_edge_days() {
        assert_eq!(
            split_period("2026-10-01", "2026-11-30").unwrap(),
            (Some(range("2026-10", "2026-11")), vec![])
        );
        assert_eq!(
            split_period("2026-10-15", "2026-12-07").unwrap(),
            (
                Some(range("2026-11", "2026-11")),
                vec![
                    range("2026-10-15", "2026-10-31"),
                    range("2026-12-01", "2026-12-07")
                ]
            )
        );
        assert_eq!(
            split_period("2026-01-31", "2026-03-01").unwrap(),
            (
                Some(range("2026-02", "2026-02")),
                vec![
                    range("2026-01-31", "2026-01-31"),
                    range("2026-03-01", "2026-03-01")
                ]
            )
        );
        assert_eq!(
            split_period("2026-12-01", "2026-12-07").unwrap(),
            (None, vec![range("2026-12-01", "2026-12-07")])
        );
        assert!(split_period("2026-12-01", "x").is_err());
        assert_eq!(band_label(band_of(5_000)), "50-100");
        assert_eq!(band_label(band_of(1_999)), "0-20");
        assert_eq!(band_label(band_of(99_999)), "500+");
    }

    fn t(id: &str, day: &str, fen: i64, arrears: i64, state: &str) -> ForwardedTxn {
        let d = crate::store::parse_day(day).unwrap();
        let ms = d
            .with_hms(12, 0, 0)
            .unwrap()
            .assume_offset(crate::store::CST);
        ForwardedTxn {
            kiosk_id: "K1".into(),
            txn_id: id.into(),
            op: "recharge".into(),
            at_ms: i64::try_from(ms.unix_timestamp_nanos() / 1_000_000).unwrap(),
            amount_fen: fen,
            state: state.into(),
            code: None,
            arrears_fen: arrears,
            operator_ref: None,
            reverses: None,
        }
    }

    #[test]
    fn totals_follow_records_and_reversals_and_match_a_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite:{}", dir.path().join("h.db").display())).unwrap();
        store.assign_shop("test", "K1", "S1").unwrap();
        let mut rev = t("R1", "2026-11-04", 3_000, 0, "committed");
        rev.op = "reversal".into();
        rev.reverses = Some("A3".into());
        store
            .record_txns(&[
                t("A1", "2026-10-31", 5_000, 1_000, "committed"),
                t("A2", "2026-11-01", 2_000, 0, "committed"),
                t("A3", "2026-11-02", 3_000, 0, "committed"),
                t("A4", "2026-11-02", 9_000, 0, "failed"),
            ])
            .unwrap();
        store.record_txns(&[rev.clone()]).unwrap();
        // A repeat changes nothing.
        store
            .record_txns(&[t("A1", "2026-10-31", 5_000, 1_000, "committed"), rev])
            .unwrap();
        let p = Period::new("2026-10-15", "2026-11-30", None).unwrap();
        let all = CellDims {
            month: true,
            op: true,
            band: true,
        };
        let cells = store.report_cells(&p, all).unwrap();
        let sum = |m: &str| {
            cells
                .iter()
                .filter(|c| c.month == m)
                .map(|c| (c.n, c.amount_fen, c.arrears_n, c.arrears_fen))
                .fold((0, 0, 0, 0), |a, b| {
                    (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3)
                })
        };
        assert_eq!(sum("2026-10"), (1, 5_000, 1, 1_000));
        assert_eq!(
            sum("2026-11"),
            (1, 2_000, 0, 0),
            "reversed and failed do not count"
        );
        assert!(cells.iter().all(|c| c.shop_id.as_deref() == Some("S1")));
        let days = store.report_shop_days(&p).unwrap();
        assert_eq!(
            days.iter()
                .map(|d| (d.day.as_str(), d.totals.amount_fen))
                .collect::<Vec<_>>(),
            [("2026-10-31", 5_000), ("2026-11-01", 2_000)]
        );
        let before = store.report_cells(&p, all).unwrap();
        store.db().tx(rebuild_rollups).unwrap();
        assert_eq!(
            store.report_cells(&p, all).unwrap(),
            before,
            "incremental = rebuilt"
        );
        let by_shop = store.report_cells(&p, CellDims::default()).unwrap();
        assert_eq!(by_shop.len(), 1);
        assert_eq!((by_shop[0].n, by_shop[0].amount_fen), (2, 7_000));
        let one = Period::new("2026-10-15", "2026-11-30", Some("S1")).unwrap();
        assert_eq!(store.report_shop_days(&one).unwrap(), days);
        let other = Period::new("2026-10-15", "2026-11-30", Some("S2")).unwrap();
        assert!(store.report_shop_days(&other).unwrap().is_empty());
        assert!(store.report_cells(&other, all).unwrap().is_empty());
    }
}
