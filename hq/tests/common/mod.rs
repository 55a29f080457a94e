//! The world of the server's tests, all real and on loopback: the operator simulator
//! (`boss-sim`) over mutual TLS, one or two server instances on SQLite or PostgreSQL, and
//! kiosks speaking the protocol over mutual TLS.
//!
//! Every test runs on both databases: [`each_db`] runs it on SQLite, then on PostgreSQL when
//! one is reachable (`TELEKIOSK_HQ_PG` = a connection string, or the `PG*` variables that
//! `pg_virtualenv` sets); without one it says so and skips only that variant — unless
//! `TELEKIOSK_HQ_REQUIRE_PG=1` (CI), where a missing PostgreSQL fails the test.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use boss_protocol::codec::{Body, Envelope};
use boss_protocol::io::{read_envelope, write_envelope};
use boss_protocol::*;
use boss_sim::app::{self as sim_app, SimConfig};
use boss_sim::clock::{Clock, parse_date};
use boss_sim::faults::FaultSettings;
use rustls::pki_types::ServerName;
use telekiosk_hq::app::{self, Running};
use telekiosk_hq::config::HqConfig;
use telekiosk_hq::store::Store;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Generous: the machine may be loaded.
pub const T: Duration = Duration::from_secs(60);

/// The business date boss-sim runs on (rules depend on it).
pub const TODAY: &str = "2026-11-20";

/// Which database a test variant runs on.
#[derive(Debug, Clone)]
pub enum DbKind {
    /// A SQLite file in the test's folder.
    Sqlite,
    /// A fresh schema in a PostgreSQL database.
    Postgres { url: String, schema: String },
}

impl DbKind {
    pub fn name(&self) -> &'static str {
        match self {
            DbKind::Sqlite => "sqlite",
            DbKind::Postgres { .. } => "postgres",
        }
    }
}

/// The PostgreSQL connection string of this environment, if any.
pub fn pg_url() -> Option<String> {
    if let Ok(u) = std::env::var("TELEKIOSK_HQ_PG")
        && !u.is_empty()
    {
        return Some(u);
    }
    let host = std::env::var("PGHOST").ok()?;
    let mut s = format!("host={host}");
    for (var, key) in [
        ("PGPORT", "port"),
        ("PGUSER", "user"),
        ("PGPASSWORD", "password"),
        ("PGDATABASE", "dbname"),
    ] {
        if let Ok(v) = std::env::var(var) {
            s.push_str(&format!(" {key}={v}"));
        }
    }
    Some(s)
}

static SCHEMAS: AtomicU32 = AtomicU32::new(0);

/// Runs `f` on SQLite, then on PostgreSQL when reachable.
pub async fn each_db<F, Fut>(test: &str, f: F)
where
    F: Fn(DbKind) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f(DbKind::Sqlite).await;
    match pg_url() {
        Some(url) => {
            let schema = format!(
                "t_{}_{}_{}",
                std::process::id(),
                SCHEMAS.fetch_add(1, Ordering::SeqCst),
                test.chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(20)
                    .collect::<String>()
            )
            .to_lowercase();
            f(DbKind::Postgres { url, schema }).await;
        }
        None if std::env::var("TELEKIOSK_HQ_REQUIRE_PG").is_ok_and(|v| v == "1") => {
            panic!(
                "{test}: TELEKIOSK_HQ_REQUIRE_PG=1 but no PostgreSQL (set PGHOST… or TELEKIOSK_HQ_PG)"
            )
        }
        None => eprintln!(
            "{test}: PostgreSQL variant skipped: no PostgreSQL reachable (set TELEKIOSK_HQ_PG or run under pg_virtualenv)"
        ),
    }
}

/// The operator simulator plus a folder for certificates and data.
pub struct World {
    pub dir: tempfile::TempDir,
    pub sim: sim_app::Running,
    pub db: DbKind,
}

impl World {
    pub async fn new(db: DbKind, kiosks: &[&str]) -> Self {
        Self::with_faults(db, kiosks, FaultSettings::default()).await
    }

    pub async fn with_faults(db: DbKind, kiosks: &[&str], faults: FaultSettings) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dir.path().join("certs");
        boss_protocol::pki::generate_dev(&certs, kiosks).expect("dev pki");
        telekiosk_settings::bundle::generate_dev_keys(&certs).expect("signing key");
        let sim = sim_app::start(SimConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data: dir.path().join("boss"),
            certs: certs.clone(),
            clock: Clock::pinned(parse_date(TODAY).expect("date")),
            faults,
        })
        .await
        .expect("start boss-sim");
        Self { dir, sim, db }
    }

    pub fn certs(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    /// The server's configuration for this world (fast timers for tests).
    pub fn config(&self) -> HqConfig {
        let mut c = HqConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            ..HqConfig::default()
        };
        c.tls.certs = self.certs();
        c.boss.addr = self.sim.addr.to_string();
        c.boss.timeout_ms = 5_000;
        c.bundles.signing_key = self
            .certs()
            .join(telekiosk_settings::bundle::DEV_SIGNING_KEY);
        c.flush_interval_ms = 50;
        c.poll_interval_ms = 100;
        c.alerts.interval_ms = 100;
        c.reconciliation.enabled = false;
        c.database = match &self.db {
            DbKind::Sqlite => format!("sqlite:{}", self.dir.path().join("hq.sqlite3").display()),
            DbKind::Postgres { url, .. } => url.clone(),
        };
        c
    }

    /// The store of this world's database.
    pub fn store(&self) -> Store {
        match &self.db {
            DbKind::Sqlite => Store::open(&self.config().database).expect("open sqlite store"),
            DbKind::Postgres { url, schema } => {
                Store::open_in(url, Some(schema)).expect("open postgres store")
            }
        }
    }

    /// Starts a server instance.
    pub async fn hq(&self) -> Running {
        self.hq_with(self.config()).await
    }

    pub async fn hq_with(&self, cfg: HqConfig) -> Running {
        let boss = Arc::new(app::gateway(&cfg).expect("gateway"));
        app::start_with(cfg, self.store(), boss)
            .await
            .expect("start hq")
    }

    pub fn balance(&self, number: &str) -> i64 {
        self.sim
            .shared
            .service
            .store()
            .subscriber(number)
            .expect("store")
            .expect("subscriber")
            .balance_fen
    }

    pub fn fault(&self, patch: boss_sim::faults::FaultPatch) {
        self.sim.shared.faults.apply(patch);
    }
}

pub fn client_config(certs: &Path, kiosk: &str) -> Arc<rustls::ClientConfig> {
    boss_protocol::pki::client_config_from_dir(certs, kiosk).expect("client config")
}

pub async fn tls_connect(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").expect("name");
    TlsConnector::from(cfg).connect(name, tcp).await
}

/// A kiosk speaking the protocol over mutual TLS.
pub struct Kiosk {
    pub stream: TlsStream<TcpStream>,
    next_id: u64,
    pub pushes: Vec<(u64, Push)>,
}

impl Kiosk {
    pub async fn connect_raw(
        addr: SocketAddr,
        cfg: Arc<rustls::ClientConfig>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            stream: tokio::time::timeout(T, tls_connect(addr, cfg))
                .await
                .map_err(|_| std::io::Error::other("connect timed out"))??,
            next_id: 1,
            pushes: Vec::new(),
        })
    }

    /// Connects and says hello; returns the hello answer too.
    pub async fn hello(
        addr: SocketAddr,
        certs: &Path,
        kiosk: &str,
        config_version: Option<u64>,
    ) -> (Self, HelloOk) {
        let mut k = Self::connect_raw(addr, client_config(certs, kiosk))
            .await
            .expect("connect");
        let r = k
            .call(Request::Hello(Hello {
                software: "test-kiosk/1".into(),
                kiosk_time_ms: now_ms(),
                config_version,
                journal_last_seq: None,
            }))
            .await
            .expect("hello");
        match r {
            Reply::Ok(Response::Hello(h)) => {
                assert_eq!(h.kiosk_id, kiosk);
                (k, h)
            }
            other => panic!("hello refused: {other:?}"),
        }
    }

    pub async fn connect(addr: SocketAddr, certs: &Path, kiosk: &str) -> Self {
        Self::hello(addr, certs, kiosk, None).await.0
    }

    pub async fn send(&mut self, req: Request) -> std::io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        write_envelope(&mut self.stream, &Envelope::request(id, req))
            .await
            .map_err(std::io::Error::other)?;
        Ok(id)
    }

    pub async fn call(&mut self, req: Request) -> std::io::Result<Reply> {
        let id = self.send(req).await?;
        self.wait_reply(id, T).await
    }

    pub async fn wait_reply(&mut self, id: u64, within: Duration) -> std::io::Result<Reply> {
        loop {
            let env = tokio::time::timeout(within, read_envelope(&mut self.stream))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "reply timed out"))?
                .map_err(std::io::Error::other)?
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"))?;
            match env.body {
                Body::Response(r) if env.id == id => return Ok(r),
                Body::Push(p) => self.pushes.push((env.id, p)),
                _ => {}
            }
        }
    }

    /// The next push (kept ones first).
    pub async fn next_push(&mut self) -> std::io::Result<(u64, Push)> {
        if !self.pushes.is_empty() {
            return Ok(self.pushes.remove(0));
        }
        loop {
            let env = tokio::time::timeout(T, read_envelope(&mut self.stream))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "push timed out"))?
                .map_err(std::io::Error::other)?
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"))?;
            if let Body::Push(p) = env.body {
                return Ok((env.id, p));
            }
        }
    }

    pub async fn ack(
        &mut self,
        id: u64,
        push: &Push,
        outcome: AckOutcome,
        message: Option<&str>,
        diagnostics: Option<serde_json::Value>,
    ) -> std::io::Result<()> {
        let ack = Ack {
            op: push.op().to_owned(),
            outcome,
            message: message.map(str::to_owned),
            diagnostics,
        };
        write_envelope(&mut self.stream, &Envelope::ack(id, ack))
            .await
            .map_err(std::io::Error::other)
    }
}

pub fn now_ms() -> i64 {
    telekiosk_hq::store::now_ms()
}

/// A `TODAY` instant (noon, Beijing) for journal entries of the business day.
pub fn today_ms() -> i64 {
    let d = parse_date(TODAY).expect("date");
    let t = d
        .with_hms(12, 0, 0)
        .expect("noon")
        .assume_offset(time::UtcOffset::from_hms(8, 0, 0).expect("cst"));
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).expect("ms")
}

pub fn heartbeat(screen: &str) -> Heartbeat {
    Heartbeat {
        kiosk_time_ms: now_ms(),
        devices: vec![DeviceHealth {
            device: DeviceKind::BillAcceptor,
            state: DeviceState::Ok,
            condition: None,
        }],
        cash_box: CashBox {
            notes: vec![NoteCount {
                denomination_fen: 10_000,
                count: 10,
            }],
            total_fen: 100_000,
            capacity_notes: Some(1000),
        },
        card_stock: CardStock {
            blank_sims: 80,
            reject_bin: 0,
        },
        screen: screen.into(),
        last_error: None,
        ..Default::default()
    }
}

pub fn recharge(txn: &str, number: &str, fen: u64) -> Request {
    Request::Recharge(Recharge {
        txn_id: TxnId::new(txn),
        msisdn: Msisdn::new(number),
        amount_fen: fen,
        notes: vec![],
    })
}

pub fn code(r: &Reply) -> Option<ErrorCode> {
    match r {
        Reply::Error(e) => Some(e.code.clone()),
        Reply::Ok(_) => None,
    }
}

/// Polls `f` until it returns `Some`, for at most `T`.
pub async fn eventually<X>(what: &str, mut f: impl FnMut() -> Option<X>) -> X {
    let until = tokio::time::Instant::now() + T;
    loop {
        if let Some(x) = f() {
            return x;
        }
        if tokio::time::Instant::now() > until {
            panic!("{what}: not within {T:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
