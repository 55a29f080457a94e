//! The console's test world, all real and on loopback: boss-sim, a server instance on
//! SQLite or PostgreSQL (`common::World`), the web console on its own listener, staff
//! accounts, a simulated kiosk that verifies what it is pushed and answers, a small HTTP/1.1
//! client with a cookie jar, seeded business with known numbers, and headless Chromium
//! driven through chromedriver (WebDriver, `fantoccini`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boss_protocol::*;
use telekiosk_hq::app::Running;
use telekiosk_hq::recon::{MismatchRow, ReconRun};
use telekiosk_hq::store::{ForwardedTxn, Store};
use telekiosk_hq::store_console::{Role, StaffAccount};
use telekiosk_hq::web::{self, Console, Web};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{self, DbKind, Kiosk, World};

/// Every staff account's password in the tests.
pub const PASSWORD: &str = "correct horse battery";

/// World + server + console + seeded shops and staff.
pub struct ConsoleWorld {
    pub world: World,
    pub hq: Running,
    pub console: Console,
    pub store: Store,
}

impl ConsoleWorld {
    /// Shops S01 (K0001) and S02 (K0002); staff: `admin` (admin), `olga` (operator),
    /// `mia` (shop manager of S02), `vic` (viewer).
    pub async fn start(db: DbKind) -> Self {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(
        db: DbKind,
        tweak: impl FnOnce(&mut telekiosk_hq::config::ConsoleSettings),
    ) -> Self {
        let world = World::new(db, &["K0001", "K0002", "K0003"]).await;
        let hq = world.hq().await;
        let store = hq.shared.store.clone();
        let mut settings = telekiosk_hq::config::ConsoleSettings {
            listen: "127.0.0.1:0".parse().expect("addr"),
            ..Default::default()
        };
        tweak(&mut settings);
        let web = Web::new(
            store.clone(),
            hq.shared.boss.clone(),
            settings,
            world
                .certs()
                .join(telekiosk_settings::bundle::DEV_SIGNING_KEY),
        );
        let console = web::start(web).await.expect("console");
        let st = store.clone();
        store
            .run(move |s| {
                s.set_shop("test", "S01", "西单营业厅")?;
                s.set_shop("test", "S02", "王府井营业厅")?;
                s.assign_shop("test", "K0001", "S01")?;
                s.assign_shop("test", "K0002", "S02")?;
                s.assign_shop("test", "K0003", "S02")?;
                let hash = web::auth::hash_password(PASSWORD).expect("hash");
                for (u, name, role, shops) in [
                    ("admin", "系统管理员", Role::Admin, vec![]),
                    ("olga", "总部 Olga", Role::Operator, vec![]),
                    (
                        "mia",
                        "王府井 Mia",
                        Role::ShopManager,
                        vec!["S02".to_owned()],
                    ),
                    ("vic", "只读 Vic", Role::Viewer, vec![]),
                ] {
                    st.add_staff(
                        "test",
                        &StaffAccount {
                            username: u.into(),
                            display_name: name.into(),
                            role,
                            shops,
                            password_hash: hash.clone(),
                            created_ms: 0,
                            disabled: false,
                        },
                    )?;
                }
                Ok(())
            })
            .await
            .expect("seed shops and staff");
        Self {
            world,
            hq,
            console,
            store,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.console.addr)
    }

    pub fn http(&self) -> Http {
        Http::new(self.console.addr)
    }

    pub async fn stop(self) {
        self.console.stop().await;
        self.hq.stop().await;
    }
}

// -------------------------------------------------------------------------------------
// Seeded business with known numbers
// -------------------------------------------------------------------------------------

/// Noon (Beijing) of a day, UTC ms.
pub fn noon(day: &str) -> i64 {
    let d = boss_sim::clock::parse_date(day).expect("day");
    let t = d
        .with_hms(12, 0, 0)
        .expect("noon")
        .assume_offset(time::UtcOffset::from_hms(8, 0, 0).expect("cst"));
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).expect("ms")
}

fn txn(
    kiosk: &str,
    id: &str,
    op: &str,
    day: &str,
    fen: i64,
    arrears: i64,
    state: &str,
) -> ForwardedTxn {
    ForwardedTxn {
        kiosk_id: kiosk.into(),
        txn_id: id.into(),
        op: op.into(),
        at_ms: noon(day),
        amount_fen: fen,
        state: state.into(),
        code: (state == "failed").then(|| "boss_unavailable".to_owned()),
        arrears_fen: arrears,
        operator_ref: None,
        reverses: None,
    }
}

/// The business the report tests expect (money in, committed):
///
/// | day | shop | kiosk | op | ¥ | arrears ¥ |
/// |---|---|---|---|---|---|
/// | 2026-10-15 | S01 | K0001 | recharge | 50 | 0 |
/// | 2026-10-15 | S02 | K0002 | recharge | 80 | 0 |
/// | 2026-11-03 | S01 | K0001 | recharge | 100 | 30 |
/// | 2026-11-03 | S01 | K0001 | recharge | 50 | 0 |
/// | 2026-11-03 | S02 | K0002 | recharge | 200 | 0 |
/// | 2026-11-04 | S01 | K0001 | new_sim_order | 60 | 0 |
/// | 2026-11-04 | S02 | K0003 | recharge | 600 | 100 |
///
/// plus a failed and a reversed recharge that must not count, a journal with the masked
/// phone numbers, a refund voucher, and a reconciliation of 2026-11-03 with one mismatch.
pub async fn seed_business(store: &Store) {
    store
        .run(|s| {
            s.record_txns(&[
                txn(
                    "K0001",
                    "T-1015-1",
                    "recharge",
                    "2026-10-15",
                    5_000,
                    0,
                    "committed",
                ),
                txn(
                    "K0002",
                    "T-1015-2",
                    "recharge",
                    "2026-10-15",
                    8_000,
                    0,
                    "committed",
                ),
                txn(
                    "K0001",
                    "T-1103-1",
                    "recharge",
                    "2026-11-03",
                    10_000,
                    3_000,
                    "committed",
                ),
                txn(
                    "K0001",
                    "T-1103-2",
                    "recharge",
                    "2026-11-03",
                    5_000,
                    0,
                    "committed",
                ),
                txn(
                    "K0002",
                    "T-1103-3",
                    "recharge",
                    "2026-11-03",
                    20_000,
                    0,
                    "committed",
                ),
                txn(
                    "K0001",
                    "T-1104-1",
                    "new_sim_order",
                    "2026-11-04",
                    6_000,
                    0,
                    "committed",
                ),
                txn(
                    "K0003",
                    "T-1104-2",
                    "recharge",
                    "2026-11-04",
                    60_000,
                    10_000,
                    "committed",
                ),
                txn(
                    "K0002",
                    "T-1104-3",
                    "recharge",
                    "2026-11-04",
                    9_900,
                    0,
                    "failed",
                ),
                txn(
                    "K0002",
                    "T-1104-4",
                    "recharge",
                    "2026-11-04",
                    7_700,
                    0,
                    "committed",
                ),
            ])?;
            let mut rev = txn(
                "K0002",
                "T-1104-5",
                "reversal",
                "2026-11-04",
                7_700,
                0,
                "committed",
            );
            rev.reverses = Some("T-1104-4".into());
            s.record_txns(&[rev])?;
            let entry =
                |seq: u64, id: &str, op: &str, day: &str, fen: u64, msisdn: Option<&str>| {
                    JournalEntry {
                        seq,
                        txn_id: TxnId::new(id),
                        at_ms: noon(day),
                        op: op.into(),
                        msisdn: msisdn.map(Msisdn::new),
                        amount_fen: fen,
                        state: TxnState::Committed,
                        detail: None,
                    }
                };
            // A top-up the operator refused after the notes were in: ¥20 on a voucher.
            let mut voucher = entry(
                3,
                "V-1103-9",
                "recharge",
                "2026-11-03",
                2_000,
                Some("13700002222"),
            );
            voucher.state = TxnState::Failed;
            voucher.detail = Some(r#"{"voucher_fen": 2000, "credited_fen": 0}"#.into());
            s.store_journal(
                "K0001",
                &[
                    entry(
                        1,
                        "T-1103-1",
                        "recharge",
                        "2026-11-03",
                        10_000,
                        Some("13812341234"),
                    ),
                    entry(
                        2,
                        "T-1103-2",
                        "recharge",
                        "2026-11-03",
                        5_000,
                        Some("13900001111"),
                    ),
                    voucher,
                ],
            )?;
            s.save_recon(
                "system",
                &ReconRun {
                    kiosk_id: "K0001".into(),
                    day: "2026-11-03".into(),
                    run_ms: noon("2026-11-04"),
                    balanced: false,
                    kiosk_count: 2,
                    kiosk_amount_fen: 15_000,
                    operator_count: 1,
                    operator_amount_fen: 10_000,
                    mismatches: vec![MismatchRow {
                        txn_id: "T-1103-2".into(),
                        kind: "missing_at_operator".into(),
                        op: "recharge".into(),
                        kiosk_amount_fen: Some(5_000),
                        operator_amount_fen: None,
                        kiosk_state: Some("committed".into()),
                        operator_state: None,
                    }],
                },
            )?;
            s.save_recon(
                "system",
                &ReconRun {
                    kiosk_id: "K0002".into(),
                    day: "2026-11-03".into(),
                    run_ms: noon("2026-11-04"),
                    balanced: true,
                    kiosk_count: 1,
                    kiosk_amount_fen: 20_000,
                    operator_count: 1,
                    operator_amount_fen: 20_000,
                    mismatches: vec![],
                },
            )?;
            Ok(())
        })
        .await
        .expect("seed business");
}

// -------------------------------------------------------------------------------------
// A simulated kiosk
// -------------------------------------------------------------------------------------

/// What the simulated kiosk did.
#[derive(Debug, Default, Clone)]
pub struct SimLog {
    /// Configuration versions verified (signature and schema) and applied.
    pub applied: Vec<u64>,
    /// Bundles refused, with why.
    pub refused: Vec<(u64, String)>,
    pub locked: bool,
    pub diagnostics: u32,
}

/// A kiosk on the real link (mutual TLS): says hello, sends a heartbeat, and answers
/// every push — a configuration bundle only after verifying head office's signature with
/// the kiosk's public key and the settings with the kiosk's own schema check.
pub struct SimKiosk {
    pub log: Arc<Mutex<SimLog>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SimKiosk {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SimKiosk {
    pub async fn start(addr: SocketAddr, certs: &Path, id: &str) -> Self {
        let key = telekiosk_settings::bundle::load_verifying_key(
            &certs.join(telekiosk_settings::bundle::DEV_VERIFYING_KEY),
        )
        .expect("verifying key");
        let mut k = Kiosk::connect(addr, certs, id).await;
        let r = k
            .call(Request::Heartbeat(common::heartbeat("idle")))
            .await
            .expect("heartbeat");
        assert!(matches!(r, Reply::Ok(_)), "heartbeat refused: {r:?}");
        let log = Arc::new(Mutex::new(SimLog::default()));
        let l = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let (id, push) = match k.next_push().await {
                    Ok(p) => p,
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                    Err(_) => return,
                };
                let (outcome, message, diagnostics) = match &push {
                    Push::ConfigBundle(b) => {
                        let checked = telekiosk_settings::bundle::verify(
                            &key,
                            b.version,
                            &b.config,
                            b.signature.as_deref(),
                        )
                        .map_err(|e| e.to_string())
                        .and_then(|()| {
                            telekiosk_settings::Settings::from_json(&b.config)
                                .map_err(|e| e.to_string())
                        });
                        match checked {
                            Ok(_) => {
                                l.lock().expect("log").applied.push(b.version);
                                (AckOutcome::Applied, None, None)
                            }
                            Err(why) => {
                                l.lock()
                                    .expect("log")
                                    .refused
                                    .push((b.version, why.clone()));
                                (AckOutcome::Rejected, Some(why), None)
                            }
                        }
                    }
                    Push::Lock(_) => {
                        l.lock().expect("log").locked = true;
                        (AckOutcome::Applied, Some("out of service".to_owned()), None)
                    }
                    Push::Unlock(_) => {
                        l.lock().expect("log").locked = false;
                        (AckOutcome::Applied, Some("in service".to_owned()), None)
                    }
                    Push::DiagnosticsRequest(_) => {
                        l.lock().expect("log").diagnostics += 1;
                        (
                            AckOutcome::Applied,
                            None,
                            Some(serde_json::json!({
                                "devices": { "bill_acceptor": "ok", "receipt_printer": "paper_low" },
                                "versions": { "software": "sim-kiosk/1" },
                                "counters": { "notes_in": 42 }
                            })),
                        )
                    }
                    _ => (AckOutcome::Rejected, Some("unknown push".to_owned()), None),
                };
                if k.ack(id, &push, outcome, message.as_deref(), diagnostics)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Self { log, task }
    }

    pub fn log(&self) -> SimLog {
        self.log.lock().expect("log").clone()
    }
}

// -------------------------------------------------------------------------------------
// HTTP/1.1 with a cookie jar
// -------------------------------------------------------------------------------------

/// An answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of the first `name="csrf" value="…"` in the page.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find(r#"name="csrf" value=""#)
            .unwrap_or_else(|| panic!("no csrf field in: {}", self.body));
        let rest = &self.body[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').expect("end")].to_owned()
    }
}

/// A client with cookies (no redirects followed).
pub struct Http {
    addr: SocketAddr,
    pub cookies: BTreeMap<String, String>,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            cookies: BTreeMap::new(),
        }
    }

    pub async fn request(&mut self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> Resp {
        let mut tcp = tokio::time::timeout(common::T, tokio::net::TcpStream::connect(self.addr))
            .await
            .expect("connect in time")
            .expect("connect");
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if !cookie.is_empty() {
            req.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        let body_bytes = body.map(|(ct, b)| {
            req.push_str(&format!(
                "Content-Type: {ct}\r\nContent-Length: {}\r\n",
                b.len()
            ));
            b.to_vec()
        });
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        if let Some(b) = body_bytes {
            bytes.extend(b);
        }
        tcp.write_all(&bytes).await.expect("write");
        let mut raw = Vec::new();
        tokio::time::timeout(common::T, tcp.read_to_end(&mut raw))
            .await
            .expect("answer in time")
            .expect("read");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .expect("status");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        for (k, v) in &headers {
            if k.eq_ignore_ascii_case("set-cookie")
                && let Some((name, rest)) = v.split_once('=')
            {
                let value = rest.split(';').next().unwrap_or_default();
                if value.is_empty() {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let chunked = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.request("GET", path, None).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.request(
            "POST",
            path,
            Some(("application/x-www-form-urlencoded", body.as_bytes())),
        )
        .await
    }

    /// Signs in; panics unless the console answers with a redirect and a session cookie.
    pub async fn sign_in(&mut self, user: &str, password: &str) -> Resp {
        let page = self.get("/login").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let token = page.csrf();
        self.post(
            "/login",
            &[
                ("csrf", &token),
                ("username", user),
                ("password", password),
                ("next", "/fleet"),
            ],
        )
        .await
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        // Lengths count bytes.
        let bytes = rest.as_bytes();
        out.push_str(&String::from_utf8_lossy(&bytes[..n.min(bytes.len())]));
        s = rest
            .get(n.min(rest.len())..)
            .unwrap_or("")
            .trim_start_matches("\r\n");
    }
    out
}

pub fn enc(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(char::from(b));
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

// -------------------------------------------------------------------------------------
// Headless Chromium through chromedriver
// -------------------------------------------------------------------------------------

/// Whether the browser tests must run (CI sets `TELEKIOSK_REQUIRE_BROWSER=1`); otherwise a
/// machine without Debian's `chromium` and `chromium-driver` skips them with a message.
pub fn browser_available(test: &str) -> bool {
    let there =
        Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists();
    if !there {
        if std::env::var("TELEKIOSK_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!(
                "{test}: TELEKIOSK_REQUIRE_BROWSER=1 but /usr/bin/chromium or /usr/bin/chromedriver is missing (apt-get install chromium chromium-driver)"
            );
        }
        eprintln!(
            "{test}: skipped: no /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium chromium-driver)"
        );
    }
    there
}

/// chromedriver on a free loopback port and one headless Chromium session.
pub struct Browser {
    pub client: fantoccini::Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
    pub shots: PathBuf,
}

impl Browser {
    pub async fn start() -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let driver = tokio::process::Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let until = tokio::time::Instant::now() + common::T;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < until,
                "chromedriver did not listen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1366,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            common::T,
            fantoccini::ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .expect("chromium started in time")
        .expect("webdriver session");
        let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../out/console");
        std::fs::create_dir_all(&shots).expect("out/console");
        Self {
            client,
            driver,
            _profile: profile,
            shots,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("goto");
    }

    /// A full-height screenshot of the page, `out/console/NAME.png`.
    pub async fn shot(&self, name: &str) {
        // The bundled CJK font first: a screenshot taken before it loads shows boxes.
        for _ in 0..100 {
            let ready = self
                .client
                .execute(
                    "return document.fonts.status === 'loaded' && document.fonts.check('16px \"Console CJK\"', '中');",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            if ready {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let height = self
            .client
            .execute(
                "return Math.min(4000, Math.max(document.body.scrollHeight, 600));",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(1000);
        let _ = self
            .client
            .set_window_size(1366, u32::try_from(height).unwrap_or(1000) + 140)
            .await;
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
        let _ = self.client.set_window_size(1366, 1000).await;
    }

    pub async fn css(&self, sel: &str) -> fantoccini::elements::Element {
        self.client
            .find(fantoccini::Locator::Css(sel))
            .await
            .unwrap_or_else(|e| panic!("{sel}: {e}"))
    }

    pub async fn exists(&self, sel: &str) -> bool {
        !self
            .client
            .find_all(fantoccini::Locator::Css(sel))
            .await
            .expect("find_all")
            .is_empty()
    }

    pub async fn text(&self, sel: &str) -> String {
        self.css(sel).await.text().await.expect("text")
    }

    pub async fn attr(&self, sel: &str, name: &str) -> Option<String> {
        self.css(sel).await.attr(name).await.expect("attr")
    }

    pub async fn click(&self, sel: &str) {
        self.css(sel)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {sel}: {e}"));
    }

    pub async fn fill(&self, sel: &str, text: &str) {
        let e = self.css(sel).await;
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    /// Waits (without reloading) until `sel` is on the page: after a click that navigates.
    pub async fn await_sel(&self, sel: &str) {
        let until = tokio::time::Instant::now() + common::T;
        while !self.exists(sel).await {
            assert!(
                tokio::time::Instant::now() < until,
                "{sel} did not appear within {:?}: {}",
                common::T,
                self.client.source().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks `sel` and waits until the browser is at a URL containing `part`.
    pub async fn submit_to(&self, sel: &str, part: &str) {
        self.click(sel).await;
        let until = tokio::time::Instant::now() + common::T;
        loop {
            let url = self.client.current_url().await.expect("url");
            if url.as_str().contains(part) && self.exists("body").await {
                return;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "not at {part} but {url}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks `sel` and waits for `then` on the page that follows.
    pub async fn submit(&self, sel: &str, then: &str) {
        self.click(sel).await;
        self.await_sel(then).await;
    }

    /// Reloads `url` until `sel` is on the page (at most `common::T`).
    pub async fn wait_for(&self, url: &str, sel: &str) {
        let until = tokio::time::Instant::now() + common::T;
        loop {
            self.goto(url).await;
            if self.exists(sel).await {
                return;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "{sel} not on {url} within {:?}: {}",
                common::T,
                self.client.source().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    /// A test that panics never reaches `close`: chromedriver dies with the test
    /// (`kill_on_drop`), and so must the Chromium it started — found by this session's own
    /// profile folder, ended by process id.
    fn drop(&mut self) {
        let profile = self._profile.path().display().to_string();
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for p in procs.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let cmd = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains(&format!("--user-data-dir={profile}")) {
                let _ = std::process::Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status();
            }
        }
    }
}
