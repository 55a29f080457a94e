//! The simulated world: the device simulators, the operator's business system (`boss-sim`)
//! and the self-service system server (`telekiosk-hq`) in process on loopback, and the
//! kiosk's configuration for it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use bill_acceptor::Protocol;
use bill_acceptor::sim::{Action, SimConfig as BillSimConfig};
use receipt_printer::sim::SimControl;
use tokio::sync::mpsc;

use super::{HEAD_OFFICE, KIOSK_ID};
use crate::config::{self, KioskConfig, Machine};
use crate::runtime::kiosk::Options;

/// A calendar day: year, month, day.
pub type Day = (i32, u32, u32);

/// How a world is set up beyond the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorldOptions {
    /// The business date, pinned for the operator (its `--today`) and, through
    /// [`World::options`], for the kiosk's calendar (出账期, the months a bill can be printed
    /// for). `None`: today in Beijing for both.
    pub today: Option<Day>,
}

/// Parses `YYYY-MM-DD` into a [`Day`] (a real calendar date).
pub fn parse_day(text: &str) -> anyhow::Result<Day> {
    let d = boss_sim::clock::parse_date(text)
        .map_err(|e| anyhow::anyhow!("`{text}` is not a date YYYY-MM-DD: {e}"))?;
    Ok((d.year(), u32::from(u8::from(d.month())), u32::from(d.day())))
}

/// `YYYY-MM-DD`.
pub fn day_text((y, m, d): Day) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

/// The simulated world the demo runs the kiosk in: the device simulators, and the system's
/// other two parts in process on loopback — the self-service system server (`telekiosk-hq`,
/// head office; on SQLite), the kiosk's one link, which forwards business to the operator's
/// business system (`boss-sim`) as a gateway.
#[derive(Debug)]
pub struct World {
    /// The bill acceptor simulator's controls (a customer inserting notes, a jam …).
    pub bill: mpsc::Sender<Action>,
    /// What physically went into the simulated cash box.
    pub cashbox: bill_acceptor::sim::Cashbox,
    /// The printer simulator's controls (paper, cover …).
    pub printer: mpsc::Sender<SimControl>,
    /// Papers the printer simulator put out: (number, text).
    pub printed: mpsc::Receiver<(u32, String)>,
    /// The operator's business system, simulated.
    pub boss: boss_sim::app::Running,
    /// Its data folder (control socket, store).
    pub boss_data: PathBuf,
    /// The self-service system server: the kiosk's link and head office's software.
    pub hq: telekiosk_hq::app::Running,
    /// The server's way to the operator, with the demo's fault on the kiosk's hop.
    link: Arc<DemoLink>,
    /// The development PKI and the configuration signing key.
    pub certs: PathBuf,
    pub bill_path: PathBuf,
    pub printer_path: PathBuf,
    pub protocol: Protocol,
    /// The ID card reader simulator (SAM_V on a pseudo-terminal) with the built-in cards:
    /// a customer places one with `id_reader.with(|s| s.place("resident"))`.
    pub id_reader: Arc<idcard_reader::sim::Simulator>,
    pub id_reader_path: PathBuf,
    /// The card dispenser simulator (CRT-591 with blank USIMs on a pseudo-terminal): a
    /// customer takes the card at the gate with `dispenser.apply(Action::Take)`.
    pub dispenser: Arc<card_dispenser::simulator::Simulator>,
    /// The business date when pinned.
    pub today: Option<Day>,
    _keep: Vec<Box<dyn std::any::Any + Send>>,
}

impl World {
    /// Starts the simulators, the operator simulator and the server under `out`; makes the
    /// development PKI and signing key there if they are missing.
    pub async fn start(out: &Path, protocol: Protocol, fresh: bool) -> anyhow::Result<Self> {
        Self::start_with(out, protocol, fresh, WorldOptions::default()).await
    }

    /// [`World::start`], with the business date pinned when `options.today` says so.
    pub async fn start_with(
        out: &Path,
        protocol: Protocol,
        fresh: bool,
        options: WorldOptions,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        if fresh {
            let _ = std::fs::remove_dir_all(out.join("kiosk"));
            let _ = std::fs::remove_dir_all(out.join("boss"));
            let _ = std::fs::remove_dir_all(out.join("hq"));
        }
        let certs = out.join("certs");
        if !certs.join(boss_protocol::pki::files::GATEWAY_CERT).exists() {
            boss_protocol::pki::generate_dev(&certs, &[KIOSK_ID])
                .context("making the development PKI")?;
            println!("made a development PKI in {}", certs.display());
        }
        telekiosk_settings::bundle::generate_dev_keys(&certs)
            .context("making the configuration signing key")?;
        let boss_data = out.join("boss");
        let boss = boss_sim::app::start(boss_sim::app::SimConfig {
            listen: "127.0.0.1:0".parse()?,
            data: boss_data.clone(),
            certs: certs.clone(),
            clock: match options.today {
                Some(day) => boss_sim::clock::Clock::pinned(
                    boss_sim::clock::parse_date(&day_text(day))
                        .context("the pinned business date")?,
                ),
                None => boss_sim::clock::Clock::system(),
            },
            faults: boss_sim::faults::FaultSettings::default(),
        })
        .await
        .context("starting the operator simulator")?;
        println!(
            "operator's business system (boss-sim) on {} (mutual TLS)",
            boss.addr
        );
        let (hq, link) = start_server_and_link(out, &certs, boss.addr).await?;
        println!(
            "self-service system server (telekiosk-hq) on {} (mutual TLS; SQLite {}), forwarding to the operator as gateway `{}`",
            hq.addr,
            out.join("hq").join("hq.sqlite3").display(),
            boss_protocol::pki::DEV_GATEWAY_ID
        );

        let mut keep: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
        let sim_cfg = BillSimConfig::cny(protocol);
        let cashbox = sim_cfg.cashbox.clone();
        let sim = bill_acceptor::sim::spawn(sim_cfg)?;
        println!(
            "bill acceptor simulator ({protocol:?}) on {}",
            sim.path.display()
        );
        let bill = sim.actions.clone();
        let bill_path = sim.path.clone();
        keep.push(Box::new(sim));

        let pty = devio::Pty::new(receipt_printer::DEFAULT_LINE)?;
        let printer_path = pty.path().to_path_buf();
        let (device, guard) = pty.into_parts();
        keep.push(Box::new(guard));
        let (ctl, ctl_rx) = mpsc::channel(8);
        let (receipts_tx, mut receipts_rx) =
            mpsc::channel::<receipt_printer::sim::PrintedReceipt>(8);
        let (printed_tx, printed) = mpsc::channel(64);
        let sim_cfg = receipt_printer::sim::SimConfig {
            out_dir: Some(out.join("receipts")),
            initial: vec![],
        };
        tokio::spawn(receipt_printer::sim::run(
            device,
            sim_cfg,
            ctl_rx,
            receipts_tx,
        ));
        tokio::spawn(async move {
            while let Some(r) = receipts_rx.recv().await {
                if let Some((png, _)) = &r.files {
                    println!(
                        "  [printer] paper {} came out → {}",
                        r.number,
                        png.display()
                    );
                }
                let _ = printed_tx.try_send((r.number, r.text.clone()));
            }
        });
        println!("receipt printer simulator on {}", printer_path.display());

        let cards = idcard_reader::sim::builtin_cards().context("the ID card fixtures")?;
        let id_reader = Arc::new(idcard_reader::sim::Simulator::start(
            idcard_reader::sim::ReaderSim::new(cards),
        )?);
        let id_reader_path = id_reader.path().to_path_buf();
        println!(
            "ID card reader simulator (SAM_V) on {}",
            id_reader_path.display()
        );
        let dispenser = Arc::new(start_dispenser()?);
        println!(
            "card dispenser simulator (CRT-591, {} blank USIMs) on {}",
            dispenser.device().stacker_count(),
            dispenser.path().display()
        );
        if let Some(day) = options.today {
            println!(
                "business date pinned to {} (the operator's and the kiosk's calendar)",
                day_text(day)
            );
        }
        Ok(Self {
            bill,
            cashbox,
            printer: ctl,
            printed,
            boss,
            boss_data,
            hq,
            link,
            certs,
            bill_path,
            printer_path,
            protocol,
            id_reader,
            id_reader_path,
            dispenser,
            today: options.today,
            _keep: keep,
        })
    }

    /// The kiosk's configuration for this world: every simulated device (bill acceptor,
    /// printer, ID card reader) and the link to the server, with head office's `settings`.
    #[must_use]
    pub fn config(&self, out: &Path, settings: telekiosk_settings::Settings) -> KioskConfig {
        let mut cfg = kiosk_config(
            out,
            &self.link_address(),
            &self.certs,
            Some((&self.bill_path, self.protocol)),
            Some(&self.printer_path),
            settings,
        );
        cfg.machine.devices.id_reader = Some(config::IdReaderConfig {
            port: self.id_reader_path.clone(),
            baud: idcard_reader::LINE_SETTINGS.baud,
        });
        with_sim_desk(&mut cfg, self.dispenser.path());
        cfg
    }

    /// The runtime's options for a kiosk in this world: [`demo_options`](super::demo_options)
    /// with the kiosk's calendar on the world's business date.
    #[must_use]
    pub fn options(&self) -> Options {
        Options {
            calendar: self.today,
            ..super::demo_options()
        }
    }

    /// Today for the shop's date rules: the pinned business date, or today in Beijing.
    #[must_use]
    pub fn business_day(&self) -> Day {
        self.today.unwrap_or_else(|| {
            let d = self.boss.shared.service.clock().today();
            (d.year(), u32::from(u8::from(d.month())), u32::from(d.day()))
        })
    }

    /// The operator's store (its subscribers, ledger, SMS outbox), as the operator's own
    /// commands read it.
    #[must_use]
    pub fn operator(&self) -> &boss_sim::store::Store {
        self.boss.shared.service.store()
    }

    /// The latest SMS verification code sent to `number`, as its owner reads it on the
    /// phone (from the operator's SMS outbox).
    pub fn sms_code(&self, number: &str) -> anyhow::Result<Option<String>> {
        let outbox = self.operator().sms_for(number)?;
        Ok(outbox
            .iter()
            .rev()
            .find(|m| m.body.contains("验证码"))
            .map(|m| {
                m.body
                    .chars()
                    .filter(char::is_ascii_digit)
                    .take(6)
                    .collect()
            }))
    }

    /// The operator's itemised records of `number` in `month` (`YYYY-MM`) get at least
    /// `calls` incoming calls: a busy month, so a 详单 runs over several papers. The seeded
    /// demo data has at most 22 records a month; the calls added cost nothing, so the
    /// month's bill stays as it is. Returns the calls the month now has.
    pub fn busy_month(&self, number: &str, month: &str, calls: u32) -> anyhow::Result<u32> {
        let (number, month) = (number.to_owned(), month.to_owned());
        let have = self
            .operator()
            .usage(&number, &month)?
            .iter()
            .filter(|r| r.kind.starts_with("call"))
            .count();
        let have = u32::try_from(have).unwrap_or(u32::MAX);
        if have >= calls {
            return Ok(have);
        }
        let add = calls - have;
        self.operator().with_tx(|tx| {
            for i in 0..add {
                let day = 1 + i % 28;
                let (hour, minute) = (8 + (i * 7) % 13, (i * 17) % 60);
                tx.execute(
                    "INSERT INTO usage(number, month, start, kind, peer, quantity, fee_fen) \
                     VALUES (?1, ?2, ?3, 'call_in', ?4, ?5, 0)",
                    rusqlite::params![
                        number,
                        month,
                        format!("{month}-{day:02} {hour:02}:{minute:02}:00"),
                        format!("13{}****{:04}", 5 + i % 5, (i * 389) % 10_000),
                        i64::from(30 + (i * 53) % 600),
                    ],
                )?;
            }
            Ok(())
        })?;
        Ok(calls)
    }

    /// The subscriber as the operator holds it (balance, plan, a change booked for next
    /// month).
    pub fn subscriber(&self, number: &str) -> anyhow::Result<boss_sim::store::Subscriber> {
        match self.operator().subscriber(number)? {
            Some(s) => Ok(s),
            None => bail!(
                "the operator has no subscriber {}",
                crate::flow::mask_phone(number)
            ),
        }
    }

    /// The address the kiosk connects to: the self-service system server.
    #[must_use]
    pub fn link_address(&self) -> String {
        self.hq.addr.to_string()
    }

    /// Head office's data and acts (the server's library API, as a web console uses it).
    #[must_use]
    pub fn head_office(&self) -> &telekiosk_hq::store::Store {
        &self.hq.shared.store
    }

    /// Head office rolls its settings out to the kiosk: a bundle checked, versioned and
    /// signed with head office's key by the server, then pushed. Returns the version.
    pub async fn push_settings(
        &self,
        settings: &telekiosk_settings::Settings,
    ) -> anyhow::Result<u64> {
        let key = telekiosk_settings::bundle::load_signing_key(
            &self.certs.join(telekiosk_settings::bundle::DEV_SIGNING_KEY),
        )?;
        let text = settings.to_json().to_string();
        let version = self
            .head_office()
            .run(move |s| {
                let b = s.create_bundle(HEAD_OFFICE, &text, &key, Some("demo"))?;
                s.rollout(
                    HEAD_OFFICE,
                    b.version,
                    &telekiosk_hq::Target::Kiosk(KIOSK_ID.into()),
                )?;
                Ok(b.version)
            })
            .await
            .context("rolling the settings out through the server")?;
        Ok(version)
    }

    /// Head office locks the kiosk (out of service after the current customer).
    pub async fn lock(&self, reason: &str, message: Option<&str>) -> anyhow::Result<()> {
        let (reason, message) = (reason.to_owned(), message.map(str::to_owned));
        self.head_office()
            .run(move |s| {
                s.lock(
                    HEAD_OFFICE,
                    &telekiosk_hq::Target::Kiosk(KIOSK_ID.into()),
                    &reason,
                    message.as_deref(),
                )
            })
            .await
            .context("locking through the server")?;
        Ok(())
    }

    /// Head office unlocks the kiosk.
    pub async fn unlock(&self) -> anyhow::Result<()> {
        self.head_office()
            .run(|s| s.unlock(HEAD_OFFICE, &telekiosk_hq::Target::Kiosk(KIOSK_ID.into())))
            .await
            .context("unlocking through the server")?;
        Ok(())
    }

    /// Queues any push for the kiosk on the server's push path, as it is — what a faulty or
    /// forged head office could send (an unsigned bundle, one signed by another key, an
    /// older version): the tests of what the kiosk refuses.
    pub async fn push_raw(&self, push: boss_protocol::Push) -> anyhow::Result<()> {
        self.head_office()
            .db()
            .tx(move |s| -> Result<i64, telekiosk_hq::store::StoreError> {
                telekiosk_hq::store::Store::queue_push_in(s, KIOSK_ID, &push, None, HEAD_OFFICE)
            })
            .context("queueing a push on the server")?;
        Ok(())
    }

    /// Fault on the kiosk's hop: after the operator commits the next recharge or plan
    /// change, the server loses the kiosk's connection before the answer reaches it.
    pub fn lose_next_credit_answer(&self, on: bool) {
        self.link
            .lose_next
            .store(if on { LOSE } else { KEEP }, Ordering::SeqCst);
    }

    /// The same fault, and from that moment the server cannot reach the operator either
    /// (every request it forwards is answered `unavailable`, nothing applied) until
    /// [`World::set_operator_reachable`] — so the kiosk cannot learn the outcome now and
    /// must keep the transaction pending.
    pub fn lose_next_answer_and_operator(&self) {
        self.link.lose_next.store(LOSE_THEN_DOWN, Ordering::SeqCst);
    }

    /// Whether the server can reach the operator (see
    /// [`World::lose_next_answer_and_operator`]).
    pub fn set_operator_reachable(&self, reachable: bool) {
        self.link.operator_down.store(!reachable, Ordering::SeqCst);
    }
}

/// Starts a self-service system server in process, on SQLite under `out/hq`, with the
/// development certificates in `certs`, forwarding to the operator at `boss` — the part a
/// test harness that runs its own operator simulator puts between it and the kiosk.
pub async fn start_server(
    out: &Path,
    certs: &Path,
    boss: std::net::SocketAddr,
) -> anyhow::Result<telekiosk_hq::app::Running> {
    Ok(start_server_and_link(out, certs, boss).await?.0)
}

async fn start_server_and_link(
    out: &Path,
    certs: &Path,
    boss: std::net::SocketAddr,
) -> anyhow::Result<(telekiosk_hq::app::Running, Arc<DemoLink>)> {
    use telekiosk_hq::app;
    let mut cfg = telekiosk_hq::config::HqConfig {
        listen: "127.0.0.1:0".parse()?,
        database: format!("sqlite:{}", out.join("hq").join("hq.sqlite3").display()),
        ..Default::default()
    };
    cfg.tls.certs = certs.to_path_buf();
    cfg.boss.addr = boss.to_string();
    cfg.bundles.signing_key = certs.join(telekiosk_settings::bundle::DEV_SIGNING_KEY);
    // Quick to show what kiosks report, and no daily job in a demo.
    cfg.flush_interval_ms = 200;
    cfg.heartbeat_interval_ms = 10_000;
    cfg.poll_interval_ms = 100;
    cfg.reconciliation.enabled = false;
    let link = Arc::new(DemoLink {
        inner: app::gateway(&cfg).context("the server's gateway to the operator")?,
        lose_next: AtomicU8::new(KEEP),
        operator_down: AtomicBool::new(false),
        hub: std::sync::OnceLock::new(),
    });
    let store = app::open_store(&cfg).context("the server's store")?;
    let hq = app::start_with(cfg, store, link.clone())
        .await
        .context("starting the self-service system server")?;
    let _ = link.hub.set(hq.shared.hub.clone());
    Ok((hq, link))
}

/// The server's way to the operator in the demo: the real gateway, and the faults a demo
/// needs on the kiosk's hop — a recharge or plan change the operator committed whose answer
/// never reaches the kiosk (its connection to the server drops first), so the kiosk must ask
/// `txn_status` (交易结果查询) and must not apply it twice; and the operator out of the
/// server's reach.
#[derive(Debug)]
struct DemoLink {
    inner: telekiosk_hq::boss::GatewayBoss,
    /// [`KEEP`], [`LOSE`] or [`LOSE_THEN_DOWN`]: what happens to the next committed answer.
    lose_next: AtomicU8,
    /// The operator cannot be reached: every forwarded request is answered `unavailable`.
    operator_down: AtomicBool,
    hub: std::sync::OnceLock<Arc<telekiosk_hq::server::Hub>>,
}

const KEEP: u8 = 0;
const LOSE: u8 = 1;
const LOSE_THEN_DOWN: u8 = 2;

impl telekiosk_hq::boss::Boss for DemoLink {
    fn call<'a>(
        &'a self,
        kiosk_id: &'a str,
        req: boss_protocol::Request,
        timeout: Duration,
    ) -> telekiosk_hq::boss::BossFuture<'a> {
        Box::pin(async move {
            if self.operator_down.load(Ordering::SeqCst) {
                tracing::warn!(
                    kiosk = kiosk_id,
                    op = req.op(),
                    "demo fault: the operator cannot be reached"
                );
                return Ok(boss_protocol::Reply::Error(boss_protocol::ErrorBody {
                    retry_after_ms: Some(5_000),
                    ..boss_protocol::ErrorBody::new(
                        boss_protocol::ErrorCode::Unavailable,
                        "业务系统暂时无法连接",
                    )
                }));
            }
            let committing = matches!(
                req,
                boss_protocol::Request::Recharge(_) | boss_protocol::Request::PlanChange(_)
            );
            let r = self.inner.call(kiosk_id, req, timeout).await;
            if committing && matches!(r, Ok(boss_protocol::Reply::Ok(_))) {
                let mode = self.lose_next.swap(KEEP, Ordering::SeqCst);
                if mode != KEEP
                    && let Some(hub) = self.hub.get()
                {
                    tracing::warn!(
                        kiosk = kiosk_id,
                        "demo fault: the kiosk's connection drops before the committed answer reaches it"
                    );
                    if mode == LOSE_THEN_DOWN {
                        self.operator_down.store(true, Ordering::SeqCst);
                    }
                    hub.replace(kiosk_id, None);
                    // The answer goes nowhere: the connection is gone before it is written.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            r
        })
    }
}

/// The kiosk's configuration for a world: devices on the simulators' ports, the link to the
/// self-service system server (`boss_addr`) with the development certificates.
/// The card dispenser simulator of a demo or test world: 20 blank USIMs, initialised, with
/// ICCIDs this world has not used before (the operator refuses to write a number on a card
/// it has seen written).
pub fn start_dispenser() -> anyhow::Result<card_dispenser::simulator::Simulator> {
    let serial = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let sim = card_dispenser::simulator::Simulator::start(card_dispenser::simulator::SimConfig {
        cards: 20,
        initialised: true,
        first_serial: u64::try_from(serial % 1_000_000_000_000).unwrap_or(1) * 10,
        ..card_dispenser::simulator::SimConfig::default()
    })
    .context("starting the card dispenser simulator")?;
    Ok(sim)
}

/// Adds the real-name desk to a kiosk's configuration: the card dispenser on `dispenser`
/// and the simulated camera playing a live customer who turns the head when asked.
pub fn with_sim_desk(cfg: &mut KioskConfig, dispenser: &Path) {
    cfg.machine.devices.dispenser = Some(config::DispenserConfig {
        port: dispenser.to_path_buf(),
        baud: card_dispenser::simulator::line_settings().baud,
        address: 0,
    });
    cfg.machine.devices.camera = Some(config::CameraConfig {
        device: "simulated:scene:live_customer".into(),
    });
}

pub fn kiosk_config(
    out: &Path,
    boss_addr: &str,
    certs: &Path,
    bill: Option<(&Path, Protocol)>,
    printer: Option<&Path>,
    settings: telekiosk_settings::Settings,
) -> KioskConfig {
    use boss_protocol::pki::files;
    KioskConfig {
        machine: Machine {
            kiosk: config::Kiosk {
                id: KIOSK_ID.into(),
                shop: "演示营业厅".into(),
            },
            journal: config::JournalConfig {
                path: out.join("kiosk").join("journal.sqlite"),
            },
            link: config::Link {
                address: boss_addr.into(),
                server_name: "localhost".into(),
                ca: certs.join(files::OPERATOR_CA),
                cert: certs.join("kiosks").join(format!("{KIOSK_ID}.pem")),
                key: certs.join("kiosks").join(format!("{KIOSK_ID}.key.pem")),
                config_key: certs.join(telekiosk_settings::bundle::DEV_VERIFYING_KEY),
                request_timeout_secs: 15,
            },
            devices: config::Devices {
                bill_acceptor: bill.map(|(port, protocol)| config::BillAcceptorConfig {
                    protocol: match protocol {
                        Protocol::Id003 => "id003".into(),
                        _ => "ssp".into(),
                    },
                    port: port.to_path_buf(),
                    ssp_fixed_key: None,
                    poll_ms: 250,
                }),
                printer: printer.map(|p| config::PrinterConfig {
                    port: Some(p.to_path_buf()),
                    baud: receipt_printer::DEFAULT_LINE.baud,
                    usb: None,
                }),
                ..Default::default()
            },
            screen: config::ScreenConfig {
                display: "none".into(),
                fullscreen: false,
                ..Default::default()
            },
            logging: config::Logging::default(),
            service: config::ServiceConfig {
                socket: out.join("kiosk").join("service.sock"),
            },
        },
        settings,
    }
}
