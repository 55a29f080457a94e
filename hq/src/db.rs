//! The two databases the server runs on, behind one small interface: SQLite (embedded, the
//! default) and PostgreSQL (several server instances sharing one database).
//!
//! Everything above this module is written once: statements use `$1, $2 …` placeholders
//! and the subset of SQL both engines share (`BIGINT`/`TEXT` columns, `ON CONFLICT`,
//! `RETURNING`, `CAST(SUM(..) AS BIGINT)`), values are [`V`] and rows are [`Row`]. The calls
//! are blocking: async callers run them on tokio's blocking pool
//! ([`crate::store::Store::run`]).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// A parameter or column value. Only the two column types the schema uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V {
    /// A `BIGINT` (or NULL).
    I(Option<i64>),
    /// A `TEXT` (or NULL).
    T(Option<String>),
}

impl From<i64> for V {
    fn from(v: i64) -> Self {
        V::I(Some(v))
    }
}
impl From<Option<i64>> for V {
    fn from(v: Option<i64>) -> Self {
        V::I(v)
    }
}
impl From<bool> for V {
    fn from(v: bool) -> Self {
        V::I(Some(i64::from(v)))
    }
}
impl From<&str> for V {
    fn from(v: &str) -> Self {
        V::T(Some(v.to_owned()))
    }
}
impl From<String> for V {
    fn from(v: String) -> Self {
        V::T(Some(v))
    }
}
impl From<&String> for V {
    fn from(v: &String) -> Self {
        V::T(Some(v.clone()))
    }
}
impl From<Option<&str>> for V {
    fn from(v: Option<&str>) -> Self {
        V::T(v.map(str::to_owned))
    }
}
impl From<Option<String>> for V {
    fn from(v: Option<String>) -> Self {
        V::T(v)
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub Vec<V>);

impl Row {
    fn at(&self, i: usize) -> Result<&V, DbError> {
        self.0.get(i).ok_or(DbError::Column(i, "missing"))
    }
    /// A non-null integer column.
    pub fn i64(&self, i: usize) -> Result<i64, DbError> {
        self.opt_i64(i)?.ok_or(DbError::Column(i, "NULL integer"))
    }
    /// An integer column that may be NULL.
    pub fn opt_i64(&self, i: usize) -> Result<Option<i64>, DbError> {
        match self.at(i)? {
            V::I(v) => Ok(*v),
            V::T(None) => Ok(None),
            V::T(Some(_)) => Err(DbError::Column(i, "text where an integer was expected")),
        }
    }
    /// A non-null text column.
    pub fn str(&self, i: usize) -> Result<String, DbError> {
        self.opt_str(i)?.ok_or(DbError::Column(i, "NULL text"))
    }
    /// A text column that may be NULL.
    pub fn opt_str(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.at(i)? {
            V::T(v) => Ok(v.clone()),
            V::I(None) => Ok(None),
            V::I(Some(_)) => Err(DbError::Column(i, "integer where text was expected")),
        }
    }
}

/// A database failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// SQLite failed.
    #[error("sqlite")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("postgresql")]
    Postgres(#[from] postgres::Error),
    /// A column is missing or of another type than the code expects.
    #[error("column {0}: {1}")]
    Column(usize, &'static str),
    /// The database URL is not understood.
    #[error("database {0:?}: expected sqlite:PATH or postgres://… (or host=… key=value)")]
    BadUrl(String),
}

/// Statements inside one transaction (or on one connection, for reads).
pub trait Sql {
    /// Runs a query and returns every row.
    fn query(&mut self, sql: &str, params: &[V]) -> Result<Vec<Row>, DbError>;
    /// Runs a statement and returns the number of rows it changed.
    fn exec(&mut self, sql: &str, params: &[V]) -> Result<u64, DbError>;
    /// Tells the other server instances (PostgreSQL `NOTIFY`, sent at commit); a no-op on
    /// SQLite, where instances poll.
    fn notify(&mut self, channel: &str, payload: &str) -> Result<(), DbError>;
}

impl dyn Sql + '_ {
    /// The first row, if any.
    pub fn one(&mut self, sql: &str, params: &[V]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, one file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A database: SQLite behind one connection, or a small pool of PostgreSQL connections.
pub enum Db {
    /// SQLite.
    Sqlite(Mutex<rusqlite::Connection>),
    /// PostgreSQL.
    Postgres(PgPool),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Db::Sqlite(_) => f.write_str("Db::Sqlite"),
            Db::Postgres(p) => f.debug_tuple("Db::Postgres").field(p).finish(),
        }
    }
}

/// PostgreSQL connections, opened on demand and kept for reuse.
pub struct PgPool {
    config: postgres::Config,
    idle: Mutex<Vec<postgres::Client>>,
    max_idle: usize,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPool")
            .field("max_idle", &self.max_idle)
            .finish_non_exhaustive()
    }
}

impl Drop for PgPool {
    fn drop(&mut self) {
        // Closing a client blocks on its own runtime: not on a thread driving async tasks.
        let idle = std::mem::take(&mut *self.idle());
        off_runtime(move || drop(idle));
    }
}

impl PgPool {
    /// The connection configuration (for the LISTEN connection).
    pub fn config(&self) -> &postgres::Config {
        &self.config
    }

    fn idle(&self) -> MutexGuard<'_, Vec<postgres::Client>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take(&self) -> Result<postgres::Client, DbError> {
        while let Some(c) = self.idle().pop() {
            if !c.is_closed() {
                return Ok(c);
            }
        }
        Ok(off_runtime(|| self.config.connect(postgres::NoTls))?)
    }

    fn give_back(&self, c: postgres::Client) {
        if c.is_closed() {
            return;
        }
        let mut idle = self.idle();
        if idle.len() < self.max_idle {
            idle.push(c);
        }
    }
}

/// Runs `f` outside any tokio runtime context: the PostgreSQL client drives its own small
/// runtime and must not be called from a thread that is driving async tasks. Inside a
/// runtime, `f` runs on a scoped thread of its own (tens of microseconds, beside a database
/// round trip); elsewhere, in place.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| s.spawn(f).join()).unwrap_or_else(|p| std::panic::resume_unwind(p))
}

fn lock(m: &Mutex<rusqlite::Connection>) -> MutexGuard<'_, rusqlite::Connection> {
    // A panic while holding the lock rolled its transaction back: the data is fine.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `$1` → `?1`: SQLite's numbered parameters.
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

fn sqlite_params(params: &[V]) -> Vec<rusqlite::types::Value> {
    params
        .iter()
        .map(|p| match p {
            V::I(Some(i)) => rusqlite::types::Value::Integer(*i),
            V::T(Some(s)) => rusqlite::types::Value::Text(s.clone()),
            V::I(None) | V::T(None) => rusqlite::types::Value::Null,
        })
        .collect()
}

struct SqliteSql<'a>(&'a rusqlite::Connection);

impl Sql for SqliteSql<'_> {
    fn query(&mut self, sql: &str, params: &[V]) -> Result<Vec<Row>, DbError> {
        let mut st = self.0.prepare(&sqlite_sql(sql))?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(sqlite_params(params)))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Integer(v) => V::I(Some(v)),
                    rusqlite::types::ValueRef::Text(t) => {
                        V::T(Some(String::from_utf8_lossy(t).into_owned()))
                    }
                    rusqlite::types::ValueRef::Null => V::I(None),
                    rusqlite::types::ValueRef::Real(_) | rusqlite::types::ValueRef::Blob(_) => {
                        return Err(DbError::Column(i, "real or blob"));
                    }
                });
            }
            out.push(Row(vals));
        }
        Ok(out)
    }

    fn exec(&mut self, sql: &str, params: &[V]) -> Result<u64, DbError> {
        let mut st = self.0.prepare(&sqlite_sql(sql))?;
        let n = st.execute(rusqlite::params_from_iter(sqlite_params(params)))?;
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    fn notify(&mut self, _channel: &str, _payload: &str) -> Result<(), DbError> {
        Ok(())
    }
}

fn pg_params(params: &[V]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    params
        .iter()
        .map(|p| -> Box<dyn postgres::types::ToSql + Sync> {
            match p {
                V::I(v) => Box::new(*v),
                V::T(v) => Box::new(v.clone()),
            }
        })
        .collect()
}

fn pg_rows(rows: Vec<postgres::Row>) -> Result<Vec<Row>, DbError> {
    use postgres::types::Type;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut vals = Vec::with_capacity(r.len());
        for (i, c) in r.columns().iter().enumerate() {
            let t = c.type_();
            vals.push(if *t == Type::INT8 {
                V::I(r.try_get::<_, Option<i64>>(i)?)
            } else if *t == Type::INT4 {
                V::I(r.try_get::<_, Option<i32>>(i)?.map(i64::from))
            } else if *t == Type::INT2 {
                V::I(r.try_get::<_, Option<i16>>(i)?.map(i64::from))
            } else if *t == Type::BOOL {
                V::I(r.try_get::<_, Option<bool>>(i)?.map(i64::from))
            } else if *t == Type::TEXT || *t == Type::VARCHAR || *t == Type::NAME {
                V::T(r.try_get::<_, Option<String>>(i)?)
            } else {
                return Err(DbError::Column(i, "unsupported PostgreSQL type"));
            });
        }
        out.push(Row(vals));
    }
    Ok(out)
}

struct PgSql<'a, C: postgres::GenericClient>(&'a mut C);

impl<C: postgres::GenericClient> Sql for PgSql<'_, C> {
    fn query(&mut self, sql: &str, params: &[V]) -> Result<Vec<Row>, DbError> {
        let boxed = pg_params(params);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            boxed.iter().map(|b| b.as_ref()).collect();
        pg_rows(self.0.query(sql, &refs)?)
    }

    fn exec(&mut self, sql: &str, params: &[V]) -> Result<u64, DbError> {
        let boxed = pg_params(params);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            boxed.iter().map(|b| b.as_ref()).collect();
        Ok(self.0.execute(sql, &refs)?)
    }

    fn notify(&mut self, channel: &str, payload: &str) -> Result<(), DbError> {
        // Scoped to the schema: notifications are database-wide, and several deployments
        // (or tests) may share one database in schemas of their own.
        self.0.execute(
            "SELECT pg_notify($1 || '_' || current_schema(), $2)",
            &[&channel, &payload],
        )?;
        Ok(())
    }
}

impl Db {
    /// Opens a database from its URL: `sqlite:PATH` (a file, created if missing), or a
    /// PostgreSQL connection string (`postgres://user@host:port/db` or
    /// `host=/run/postgresql user=hq dbname=hq`). `search_path`, when given, selects a
    /// PostgreSQL schema (the tests give each test its own).
    ///
    /// # Errors
    /// [`DbError`].
    pub fn open(url: &str, search_path: Option<&str>) -> Result<Self, DbError> {
        if let Some(path) = url.strip_prefix("sqlite:") {
            let conn = rusqlite::Connection::open(path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            // The server's records are re-derivable (kiosks re-upload, heartbeats refresh)
            // except head office's own acts, which are few: NORMAL in WAL mode loses at most
            // the last commits on power loss, never the database.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.busy_timeout(Duration::from_secs(10))?;
            return Ok(Db::Sqlite(Mutex::new(conn)));
        }
        if url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.contains("host=")
        {
            let mut config: postgres::Config =
                url.parse().map_err(|_| DbError::BadUrl(url.to_owned()))?;
            if let Some(sp) = search_path {
                config.options(&format!("-c search_path={sp}"));
            }
            config.connect_timeout(Duration::from_secs(10));
            config.application_name("telekiosk-hq");
            let pool = PgPool {
                config,
                idle: Mutex::new(Vec::new()),
                max_idle: 16,
            };
            // Connect once now so a wrong URL is reported at start.
            let c = pool.take()?;
            pool.give_back(c);
            return Ok(Db::Postgres(pool));
        }
        Err(DbError::BadUrl(url.to_owned()))
    }

    /// Which engine this is.
    #[must_use]
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs `f` in one transaction, committed if `f` succeeds, rolled back otherwise.
    ///
    /// # Errors
    /// `f`'s error or the database's.
    pub fn tx<T: Send, E: From<DbError> + Send>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, E> + Send,
    ) -> Result<T, E> {
        match self {
            Db::Sqlite(m) => {
                let mut conn = lock(m);
                // IMMEDIATE: take the write lock up front, so two processes on one file
                // (a server and the CLI) never deadlock upgrading a read.
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(DbError::from)?;
                let out = f(&mut SqliteSql(&tx))?;
                tx.commit().map_err(DbError::from)?;
                Ok(out)
            }
            Db::Postgres(pool) => off_runtime(|| {
                let mut client = pool.take()?;
                let result = (|| {
                    let mut tx = client.transaction().map_err(DbError::from)?;
                    let out = f(&mut PgSql(&mut tx))?;
                    tx.commit().map_err(DbError::from)?;
                    Ok(out)
                })();
                pool.give_back(client);
                result
            }),
        }
    }

    /// Runs reads (each statement on its own, no transaction).
    ///
    /// # Errors
    /// `f`'s error or the database's.
    pub fn read<T: Send, E: From<DbError> + Send>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, E> + Send,
    ) -> Result<T, E> {
        match self {
            Db::Sqlite(m) => {
                let conn = lock(m);
                f(&mut SqliteSql(&conn))
            }
            Db::Postgres(pool) => off_runtime(|| {
                let mut client = pool.take()?;
                let out = f(&mut PgSql(&mut client));
                pool.give_back(client);
                out
            }),
        }
    }

    /// Runs a batch of DDL statements.
    ///
    /// # Errors
    /// The database's.
    pub fn batch(&self, sql: &str) -> Result<(), DbError> {
        match self {
            Db::Sqlite(m) => Ok(lock(m).execute_batch(sql)?),
            Db::Postgres(pool) => off_runtime(|| {
                let mut client = pool.take()?;
                let r = client.batch_execute(sql);
                pool.give_back(client);
                Ok(r?)
            }),
        }
    }

    /// The PostgreSQL pool, if this is PostgreSQL.
    #[must_use]
    pub fn postgres(&self) -> Option<&PgPool> {
        match self {
            Db::Postgres(p) => Some(p),
            Db::Sqlite(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_round_trip_of_both_column_types() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(
            &format!("sqlite:{}", dir.path().join("t.db").display()),
            None,
        )
        .unwrap();
        db.batch("CREATE TABLE t(a BIGINT, b TEXT)").unwrap();
        db.tx(|s| -> Result<(), DbError> {
            s.exec(
                "INSERT INTO t(a, b) VALUES ($1, $2)",
                &[5.into(), "x".into()],
            )?;
            s.exec(
                "INSERT INTO t(a, b) VALUES ($1, $2)",
                &[V::I(None), V::T(None)],
            )?;
            Ok(())
        })
        .unwrap();
        let rows = db
            .read(|s| s.query("SELECT a, b FROM t ORDER BY a", &[]))
            .unwrap();
        assert_eq!(rows[0].opt_i64(0).unwrap(), None);
        assert_eq!(rows[0].opt_str(1).unwrap(), None);
        assert_eq!(rows[1].i64(0).unwrap(), 5);
        assert_eq!(rows[1].str(1).unwrap(), "x");
        assert!(rows[1].str(0).is_err(), "types are checked");
        // A failing transaction leaves nothing behind.
        let r = db.tx(|s| -> Result<(), DbError> {
            s.exec("INSERT INTO t(a, b) VALUES (7, 'y')", &[])?;
            s.exec("INSERT INTO nowhere VALUES (1)", &[])?;
            Ok(())
        });
        assert!(r.is_err());
        let n = db.read(|s| s.query("SELECT COUNT(*) FROM t", &[])).unwrap();
        assert_eq!(n[0].i64(0).unwrap(), 2);
    }

    #[test]
    fn bad_urls_are_named() {
        assert!(matches!(
            Db::open("mysql://x", None),
            Err(DbError::BadUrl(u)) if u == "mysql://x"
        ));
    }
}
