//! The demo: the kiosk on simulated devices and the built-in operator simulator.
//!
//! Everything is real but the hardware: the drivers speak their wire protocols to the
//! device simulators over pseudo-terminals, the kiosk talks to the operator simulator over
//! mutual TLS on loopback, the journal is SQLite. Scripted customers (`--scenario`) walk
//! through top-ups; each step, the receipt text and the outcome are printed, and the run
//! fails (non-zero exit) if an outcome is not what the scenario expects.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use bill_acceptor::Protocol;
use bill_acceptor::sim::{Action, SimConfig as BillSimConfig};
use receipt_printer::sim::SimControl;
use receipt_printer::{Paper, PrinterConfig};
use tokio::sync::mpsc;

use crate::boss::client::{BossClient, BossConfig, LinkState};
use crate::config::Config;
use crate::engine::{self, BossOperator, Clock, ScreenUpdate, TopUpEngine};
use crate::flow::topup::{Outcome, PrintResult, ReceiptState, Screen, Ui};
use crate::flow::yuan;
use crate::journal::Journal;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run without a window even when a display is there: scripted customers, text
    /// output, a PNG of every screen they pass.
    #[arg(long)]
    pub headless: bool,
    /// With a window: full screen.
    #[arg(long)]
    pub fullscreen: bool,
    /// Landscape screen (1920×1080) instead of portrait (1080×1920).
    #[arg(long)]
    pub landscape: bool,
    /// Which scripted customer(s) to run: all, topup, two-notes, limit, paper-out,
    /// lost-answer, slow-operator, jam.
    #[arg(long, default_value = "all")]
    pub scenario: String,
    /// Folder for the demo's state: certificates, operator store, journal, receipts.
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    /// Bill acceptor protocol to simulate.
    #[arg(long, value_enum, default_value = "ssp")]
    pub protocol: DemoProtocol,
    /// Start from a clean state (removes the journal and the operator store first).
    #[arg(long)]
    pub fresh: bool,
    /// Use this bill acceptor port instead of a built-in simulator (with `--printer-port`,
    /// `--boss` and `--certs`: the harness or the bench runs devices and operator, and
    /// inserts the notes).
    #[arg(long, requires_all = ["printer_port", "boss", "certs"])]
    pub bill_port: Option<PathBuf>,
    #[arg(long)]
    pub printer_port: Option<PathBuf>,
    /// Operator address (`127.0.0.1:PORT`).
    #[arg(long)]
    pub boss: Option<String>,
    /// Certificate folder as made by `boss-sim pki`.
    #[arg(long)]
    pub certs: Option<PathBuf>,
    /// Kiosk configuration (TOML, see docs/config.md); defaults without it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Only run start-up recovery, then exit.
    #[arg(long)]
    pub recover_only: bool,
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => {
            let c = Config::load(p)?;
            println!("configuration {} (version {})", p.display(), c.version);
            Ok(c)
        }
        None => Ok(Config::default()),
    }
}

/// Bill acceptor protocol of the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoProtocol {
    Ssp,
    Id003,
}

impl From<DemoProtocol> for Protocol {
    fn from(p: DemoProtocol) -> Self {
        match p {
            DemoProtocol::Ssp => Protocol::Ssp,
            DemoProtocol::Id003 => Protocol::Id003,
        }
    }
}

/// A scripted customer.
#[derive(Debug, Clone)]
struct Scenario {
    name: &'static str,
    what: &'static str,
    number: &'static str,
    /// Notes inserted one after another, in yuan.
    notes: Vec<u64>,
    /// Jam this note (yuan) after the others.
    jam: Option<u64>,
    /// Per-top-up limit for this customer (the configuration's when `None`).
    max_fen: Option<u64>,
    printer: Vec<SimControl>,
    drop_after_commit: bool,
    /// Operator answers this slowly during the scenario (a latency spike), ms.
    latency_ms: u64,
    expect_credit_fen: u64,
    expect: Expect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Credited { printed: bool },
    Pending,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "topup",
            what: "top up 138****0000 with 20 + 20 + 10 yuan",
            number: "13800000000",
            notes: vec![20, 20, 10],
            jam: None,
            max_fen: None,
            printer: vec![],
            drop_after_commit: false,
            latency_ms: 0,
            expect_credit_fen: 5000,
            expect: Expect::Credited { printed: true },
        },
        Scenario {
            name: "two-notes",
            what: "top up 138****0000 with 20 + 10 yuan (the crash tests' customer)",
            number: "13800000000",
            notes: vec![20, 10],
            jam: None,
            max_fen: None,
            printer: vec![],
            drop_after_commit: false,
            latency_ms: 0,
            expect_credit_fen: 3000,
            expect: Expect::Credited { printed: true },
        },
        Scenario {
            name: "limit",
            what: "limit 100 yuan: 50 + 20 taken, the next 50 handed back from escrow",
            number: "13800000000",
            notes: vec![50, 20, 50],
            jam: None,
            max_fen: Some(10_000),
            printer: vec![],
            drop_after_commit: false,
            latency_ms: 0,
            expect_credit_fen: 7000,
            expect: Expect::Credited { printed: true },
        },
        Scenario {
            name: "paper-out",
            what: "printer out of paper: the top-up completes, the missing receipt is recorded",
            number: "13800000000",
            notes: vec![10],
            jam: None,
            max_fen: None,
            printer: vec![SimControl::Paper(Paper::Out)],
            drop_after_commit: false,
            latency_ms: 0,
            expect_credit_fen: 1000,
            expect: Expect::Credited { printed: false },
        },
        Scenario {
            name: "lost-answer",
            what: "operator commits the credit but the answer is lost: pending, then settled by status query",
            number: "13800000000",
            notes: vec![100],
            jam: None,
            max_fen: None,
            printer: vec![],
            drop_after_commit: true,
            latency_ms: 0,
            expect_credit_fen: 10_000,
            expect: Expect::Pending,
        },
        Scenario {
            name: "slow-operator",
            what: "the operator answers every request 4 s late: the top-up waits and completes",
            number: "13800000000",
            notes: vec![50],
            jam: None,
            max_fen: None,
            printer: vec![],
            drop_after_commit: false,
            latency_ms: 4000,
            expect_credit_fen: 5000,
            expect: Expect::Credited { printed: true },
        },
        Scenario {
            name: "jam",
            what: "20 yuan taken, then a 50 jams: the 20 are credited and the kiosk stops taking cash",
            number: "13800000000",
            notes: vec![20],
            jam: Some(50),
            max_fen: None,
            printer: vec![],
            drop_after_commit: false,
            latency_ms: 0,
            expect_credit_fen: 2000,
            expect: Expect::Credited { printed: true },
        },
    ]
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let chosen: Vec<Scenario> = if args.scenario == "all" {
        scenarios()
    } else {
        let s: Vec<_> = scenarios()
            .into_iter()
            .filter(|s| s.name == args.scenario)
            .collect();
        if s.is_empty() {
            let names: Vec<_> = scenarios().iter().map(|s| s.name).collect();
            bail!(
                "no scenario `{}`; choose all or one of {}",
                args.scenario,
                names.join(", ")
            );
        }
        s
    };
    if !args.headless {
        println!(
            "no display found (DISPLAY / WAYLAND_DISPLAY unset): running the headless customers"
        );
    }
    let screens = args.out.join("screens");
    let orientation = if args.landscape {
        crate::ui::Orientation::Landscape
    } else {
        crate::ui::Orientation::Portrait
    };
    let (recorder, rendering) = ScreenRecorder::start(&screens, orientation)?;
    println!("a PNG of every screen goes to {}", screens.display());
    let external = match (&args.bill_port, &args.printer_port, &args.boss, &args.certs) {
        (Some(b), Some(p), Some(addr), Some(c)) => Some(External {
            bill_port: b.clone(),
            printer_port: p.clone(),
            boss: addr.clone(),
            certs: c.clone(),
        }),
        _ => None,
    };
    let config = load_config(args.config.as_deref())?;
    let mut kiosk = DemoKiosk::start(
        &args.out,
        args.protocol.into(),
        args.fresh,
        external,
        config,
    )
    .await?;
    if args.recover_only {
        let report = kiosk.engine.journal.check(false)?;
        println!(
            "recovery done; journal check: {}",
            if report.is_ok() { "ok" } else { "BROKEN" }
        );
        return Ok(if report.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let mut failures = Vec::new();
    for s in &chosen {
        println!("\n=== scenario {}: {}", s.name, s.what);
        match kiosk.run_scenario(s, &recorder).await {
            Ok(()) => println!("=== {}: as expected", s.name),
            Err(e) => {
                println!("=== {}: WRONG: {e:#}", s.name);
                failures.push(s.name);
            }
        }
    }
    // Let the last screens finish rendering.
    drop(recorder);
    let _ = tokio::task::spawn_blocking(move || rendering.join()).await;
    let report = kiosk.engine.journal.check(false)?;
    println!(
        "\njournal check: {} transactions, {} notes, cash box {}: {}",
        report.transactions,
        report.notes,
        yuan(u64::try_from(report.cashbox_fen).unwrap_or(0)),
        if report.is_ok() {
            "all invariants hold".to_string()
        } else {
            format!("{:?}", report.violations)
        }
    );
    println!("receipts (text and PNG): {}", kiosk.receipts_dir.display());
    if !report.is_ok() {
        failures.push("journal check");
    }
    if failures.is_empty() {
        println!("demo: every scenario ended as expected");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("demo: wrong outcome in {}", failures.join(", "));
        Ok(ExitCode::FAILURE)
    }
}

/// Devices and operator that someone else runs (a test harness, or real hardware on a
/// bench): the demo then only plays the kiosk, and the customer does not insert notes
/// itself — whoever runs the acceptor does.
#[derive(Debug, Clone)]
pub struct External {
    pub bill_port: PathBuf,
    pub printer_port: PathBuf,
    pub boss: String,
    pub certs: PathBuf,
}

/// The simulated world the demo runs itself.
#[derive(Debug)]
pub struct World {
    /// The bill acceptor simulator's controls (a customer inserting notes, a jam …).
    pub bill: mpsc::Sender<Action>,
    /// The printer simulator's controls (paper, cover …).
    pub printer: mpsc::Sender<SimControl>,
    /// The operator simulator.
    pub boss: boss_sim::app::Running,
    _keep: Vec<Box<dyn std::any::Any + Send>>,
}

/// The kiosk, with the world it runs in: what the demo and the end-to-end UI test drive.
#[derive(Debug)]
pub struct DemoKiosk {
    pub engine: TopUpEngine<BossOperator>,
    pub config: Config,
    /// `None` when the devices and the operator are run by someone else.
    pub world: Option<World>,
    pub receipts_dir: PathBuf,
}

impl DemoKiosk {
    /// Starts the kiosk in `out`: with `external` `None`, with simulated devices and the
    /// built-in operator simulator; runs start-up recovery before returning.
    pub async fn start(
        out: &Path,
        protocol: Protocol,
        fresh: bool,
        external: Option<External>,
        config: Config,
    ) -> anyhow::Result<Self> {
        let kiosk_id = config.kiosk.id.clone();
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let journal_path = out.join("kiosk").join("journal.sqlite");
        if fresh {
            let _ = std::fs::remove_dir_all(out.join("kiosk"));
            let _ = std::fs::remove_dir_all(out.join("boss"));
        }
        std::fs::create_dir_all(out.join("kiosk"))?;
        let receipts_dir = out.join("receipts");
        let mut keep: Vec<Box<dyn std::any::Any + Send>> = Vec::new();

        // The operator.
        let (boss, boss_addr, certs) = match &external {
            Some(x) => (None, x.boss.clone(), x.certs.clone()),
            None => {
                let certs = out.join("certs");
                if !certs.join(boss_protocol::pki::files::OPERATOR_CA).exists() {
                    boss_protocol::pki::generate_dev(&certs, &[kiosk_id.as_str()])
                        .context("making the development PKI")?;
                    println!("made a development PKI in {}", certs.display());
                }
                let boss = boss_sim::app::start(boss_sim::app::SimConfig {
                    listen: "127.0.0.1:0".parse()?,
                    data: out.join("boss"),
                    certs: certs.clone(),
                    clock: boss_sim::clock::Clock::system(),
                    faults: boss_sim::faults::FaultSettings::default(),
                })
                .await
                .context("starting the operator simulator")?;
                println!("operator simulator on {} (mutual TLS)", boss.addr);
                let addr = boss.addr.to_string();
                (Some(boss), addr, certs)
            }
        };
        let tls = boss_protocol::pki::client_config_from_dir(&certs, &kiosk_id)?;
        let server_name = rustls::pki_types::ServerName::try_from("localhost")?;
        let (client, _pushes) = BossClient::spawn(BossConfig::new(boss_addr, server_name, tls));
        wait_link_up(&client).await?;

        // The bill acceptor.
        let (bill_path, bill_actions) = match &external {
            Some(x) => (x.bill_port.clone(), None),
            None => {
                let sim = bill_acceptor::sim::spawn(BillSimConfig::cny(protocol))?;
                println!(
                    "bill acceptor simulator ({protocol:?}) on {}",
                    sim.path.display()
                );
                let r = (sim.path.clone(), Some(sim.actions.clone()));
                keep.push(Box::new(sim));
                r
            }
        };
        let (acceptor, mut acceptor_events) = match protocol {
            Protocol::Ssp => {
                let drv = bill_acceptor::ssp::Ssp::open(&bill_path, Default::default())?;
                bill_acceptor::actor::spawn(drv, Duration::from_millis(250))
            }
            Protocol::Id003 => {
                let port = devio::open_serial(&bill_path, protocol.line_settings())?;
                let drv = bill_acceptor::id003::Id003::new(port);
                bill_acceptor::actor::spawn(drv, Duration::from_millis(250))
            }
        };

        // The printer.
        let (printer_path, printer_ctl) = match &external {
            Some(x) => (x.printer_port.clone(), None),
            None => {
                let pty = devio::Pty::new(receipt_printer::DEFAULT_LINE)?;
                let path = pty.path().to_path_buf();
                let (device, guard) = pty.into_parts();
                keep.push(Box::new(guard));
                let (ctl, ctl_rx) = mpsc::channel(8);
                let (receipts_tx, mut receipts_rx) =
                    mpsc::channel::<receipt_printer::sim::PrintedReceipt>(8);
                let sim_cfg = receipt_printer::sim::SimConfig {
                    out_dir: Some(receipts_dir.clone()),
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
                                "  [printer] receipt {} came out → {}",
                                r.number,
                                png.display()
                            );
                        }
                    }
                });
                println!("receipt printer simulator on {}", path.display());
                (path, Some(ctl))
            }
        };
        let port = receipt_printer::open_serial(&printer_path, receipt_printer::DEFAULT_LINE)?;
        let printer = receipt_printer::Printer::new(port, PrinterConfig::default()).spawn();

        // The journal, and recovery of whatever an earlier run left.
        let mut journal = Journal::open(&journal_path, &kiosk_id)?;
        let operator = std::sync::Arc::new(BossOperator::new(client));
        let clock = Clock::default();
        let letterhead = config.letterhead();
        let startup = engine::recovery::collect_startup_notes(
            &acceptor,
            &mut acceptor_events,
            Duration::from_secs(8),
        )
        .await;
        let report = engine::recovery::recover(
            &mut journal,
            &*operator,
            &startup,
            Some(&printer),
            &letterhead,
            &clock,
        )
        .await?;
        if !report.resolved.is_empty() || !report.notes.is_empty() {
            println!("recovered from the last run:");
            for (txn, fen) in &report.notes {
                println!(
                    "  note of {} from before the restart credited to {txn}",
                    yuan(*fen)
                );
            }
            for (txn, r) in &report.resolved {
                println!("  {txn}: {}", serde_json::to_string(r).unwrap_or_default());
            }
            for (txn, _) in &report.printed {
                println!("  paper printed for {txn}");
            }
        }
        let info = acceptor
            .info()
            .await
            .context("bill acceptor did not connect")?;
        println!(
            "bill acceptor {} ({}), notes: {}",
            info.serial,
            info.currency,
            info.denominations
                .iter()
                .map(|d| yuan(d.fen))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let engine = TopUpEngine {
            journal,
            operator,
            acceptor,
            acceptor_events,
            printer: Some(printer),
            letterhead,
            config: config.topup_flow(),
            clock,
            tick: Duration::from_millis(200),
        };
        let world = match (boss, bill_actions, printer_ctl) {
            (Some(boss), Some(bill), Some(printer)) => Some(World {
                bill,
                printer,
                boss,
                _keep: keep,
            }),
            _ => None,
        };
        Ok(Self {
            engine,
            config,
            world,
            receipts_dir,
        })
    }

    async fn run_scenario(
        &mut self,
        s: &Scenario,
        recorder: &ScreenRecorder,
    ) -> anyhow::Result<()> {
        let flow = self.config.topup_flow();
        self.engine.config = crate::flow::topup::Config {
            max_fen: s.max_fen.unwrap_or(flow.max_fen),
            ..flow
        };
        if let Some(w) = &self.world {
            for c in &s.printer {
                w.printer.send(*c).await?;
            }
            w.boss.shared.faults.apply(boss_sim::faults::FaultPatch {
                drop_after_commit: Some(u32::from(s.drop_after_commit)),
                latency_ms: Some(s.latency_ms),
                ..Default::default()
            });
        }
        let (ui_tx, mut ui_rx) = mpsc::channel(16);
        let (screen_tx, screen_rx) = mpsc::channel(64);
        let bill = self.world.as_ref().map(|w| w.bill.clone());
        let customer = tokio::spawn(customer(
            s.clone(),
            screen_rx,
            ui_tx,
            bill,
            recorder.clone(),
        ));
        let summary = tokio::time::timeout(
            Duration::from_secs(120),
            self.engine.run_session(&mut ui_rx, screen_tx),
        )
        .await
        .context("the session did not end within 2 minutes")??;
        customer.await.context("customer task")??;
        for text in &summary.receipts {
            println!("  [receipt]\n{}", indent(text));
        }
        // Put the world back for the next customer.
        if let Some(w) = &self.world {
            w.boss.shared.faults.apply(boss_sim::faults::FaultPatch {
                latency_ms: Some(0),
                drop_after_commit: Some(0),
                ..Default::default()
            });
            w.printer.send(SimControl::Paper(Paper::Ok)).await?;
            if s.jam.is_some() {
                w.bill.send(Action::ClearJam).await?;
            }
        }

        if summary.credited_fen != s.expect_credit_fen {
            bail!(
                "credited {} but expected {}",
                yuan(summary.credited_fen),
                yuan(s.expect_credit_fen)
            );
        }
        match (s.expect, &summary.outcome) {
            (Expect::Credited { printed }, Some(Outcome::Credited { .. })) => {
                let got = summary.printed.first() == Some(&PrintResult::Printed);
                if got != printed {
                    bail!("receipt printed: {got}, expected {printed}");
                }
            }
            (Expect::Pending, Some(Outcome::Pending { .. })) => {
                let txn = summary.txn_id.clone().context("no transaction")?;
                println!("  [kiosk] credit pending for {txn}; asking the operator (交易结果查询)…");
                let settled = engine::recovery::retry_pending(
                    &mut self.engine.journal,
                    &*self.engine.operator,
                    &self.engine.clock,
                )
                .await?;
                let state = self.engine.journal.get(&txn)?.state;
                println!(
                    "  [kiosk] retry settled {settled} pending top-up(s); {txn} is now {state}"
                );
                if state != crate::journal::TxnState::Settled {
                    bail!("pending top-up did not settle: {state}");
                }
            }
            (_, other) => bail!("outcome {other:?}, expected {:?}", s.expect),
        }
        Ok(())
    }
}

async fn wait_link_up(client: &BossClient) -> anyhow::Result<()> {
    let mut link = client.link_state();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let LinkState::Up { .. } = &*link.borrow() {
            println!("link to the operator is up");
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, link.changed()).await {
            Ok(Ok(())) => {}
            _ => bail!(
                "the link to the operator simulator did not come up: {:?}",
                *link.borrow()
            ),
        }
    }
}

/// The scripted customer: reads the screen, touches it, inserts notes.
async fn customer(
    s: Scenario,
    mut screen: mpsc::Receiver<ScreenUpdate>,
    ui: mpsc::Sender<Ui>,
    bill: Option<mpsc::Sender<Action>>,
    recorder: ScreenRecorder,
) -> anyhow::Result<()> {
    let mut notes = s.notes.iter().copied();
    let mut jam = s.jam;
    let mut inserted_any = false;
    let mut last_total = 0;
    let mut last_notice = None;
    let mut last_line = String::new();
    while let Some(update) = screen.recv().await {
        match update {
            ScreenUpdate::Show(screen) => {
                let line = describe(&screen);
                if line != last_line {
                    println!("  [screen] {line}");
                    last_line = line;
                    recorder.record(s.name, ScreenUpdate::Show(screen.clone()));
                }
                match screen {
                    Screen::EnterNumber { notice: None } => {
                        ui.send(Ui::Number(s.number.into())).await?
                    }
                    Screen::EnterNumber { notice: Some(n) } => bail!("number refused: {n:?}"),
                    Screen::Confirm { .. } | Screen::NoChange { .. } => {
                        ui.send(Ui::Confirm).await?
                    }
                    Screen::Insert {
                        total_fen,
                        notice,
                        can_finish,
                        ..
                    } => {
                        let progressed =
                            !inserted_any || total_fen != last_total || notice != last_notice;
                        last_total = total_fen;
                        last_notice = notice;
                        if !progressed {
                            continue;
                        }
                        inserted_any = true;
                        let Some(bill) = &bill else {
                            // Someone else inserts the notes: finish once they are all in.
                            if can_finish && total_fen >= s.expect_credit_fen {
                                println!("  [customer] presses 完成 (finish)");
                                ui.send(Ui::Finish).await?;
                            }
                            continue;
                        };
                        if let Some(y) = notes.next() {
                            println!("  [customer] inserts a {y} yuan note");
                            bill.send(Action::Insert { fen: y * 100 }).await?;
                        } else if let Some(y) = jam.take() {
                            println!("  [customer] inserts a {y} yuan note — it jams");
                            bill.send(Action::Jam {
                                fen: y * 100,
                                safe: false,
                            })
                            .await?;
                        } else if can_finish {
                            println!("  [customer] presses 完成 (finish)");
                            ui.send(Ui::Finish).await?;
                        }
                    }
                    Screen::Result { receipt, .. } if receipt != ReceiptState::Printing => {
                        println!("  [customer] no, nothing else");
                        ui.send(Ui::Confirm).await?;
                    }
                    _ => {}
                }
            }
            ScreenUpdate::IdleWarning { seconds_left } => {
                println!("  [screen] still there? {seconds_left} s")
            }
            ScreenUpdate::End => break,
        }
    }
    Ok(())
}

/// One line for the log of what the screen shows.
fn describe(s: &Screen) -> String {
    match s {
        Screen::EnterNumber { notice } => format!(
            "请输入手机号码 enter the number{}",
            notice_text(notice.as_ref())
        ),
        Screen::LookingUp { number_masked } => format!("查询中 looking up {number_masked}"),
        Screen::Confirm {
            number_masked,
            subscriber,
        } => format!(
            "您办理的是 {number_masked}（{}）的话费充值，是吗？ balance {}",
            subscriber.owner_masked,
            crate::flow::yuan(subscriber.balance_fen.unsigned_abs())
        ),
        Screen::NoChange { max_fen, .. } => format!(
            "本机不找零 no change given; up to {} per top-up",
            yuan(*max_fen)
        ),
        Screen::Insert {
            total_fen,
            remaining_fen,
            notice,
            ..
        } => format!(
            "请放入纸币 insert notes: {} in, {} more allowed{}",
            yuan(*total_fen),
            yuan(*remaining_fen),
            notice_text(notice.as_ref())
        ),
        Screen::Processing { total_fen } => format!("正在充值 crediting {}", yuan(*total_fen)),
        Screen::Result {
            number_masked,
            amount_fen,
            outcome,
            reference,
            receipt,
        } => format!(
            "{} {number_masked} {} — ref {reference}, receipt {receipt:?}",
            match outcome {
                Outcome::Credited { .. } => "充值成功 credited",
                Outcome::Pending { .. } => "充值处理中 credit pending",
                Outcome::Voucher { .. } => "退款凭条 refund voucher for",
            },
            yuan(*amount_fen)
        ),
        Screen::Sorry { notice, reference } => format!("抱歉 sorry: {notice:?} ref {reference:?}"),
    }
}

fn notice_text(n: Option<&crate::flow::topup::Notice>) -> String {
    n.map(|n| format!(" — {n:?}")).unwrap_or_default()
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders the screens the headless customers pass to PNG files, on a thread of its own
/// (the software renderer is synchronous and keeps per-thread state).
#[derive(Debug, Clone)]
pub struct ScreenRecorder {
    tx: std::sync::mpsc::Sender<(String, ScreenUpdate)>,
}

impl ScreenRecorder {
    fn start(
        dir: &Path,
        orientation: crate::ui::Orientation,
    ) -> anyhow::Result<(Self, std::thread::JoinHandle<()>)> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (tx, rx) = std::sync::mpsc::channel::<(String, ScreenUpdate)>();
        let dir = dir.to_path_buf();
        let handle = std::thread::Builder::new().name("screen-recorder".into()).spawn(move || {
            let mut n = 0u32;
            while let Ok((scenario, update)) = rx.recv() {
                n += 1;
                let name = match &update {
                    ScreenUpdate::Show(s) => screen_name(s),
                    ScreenUpdate::IdleWarning { .. } => "idle-warning",
                    ScreenUpdate::End => "idle",
                };
                let path = dir.join(format!("{n:03}-{scenario}-{name}.png"));
                let png = crate::ui::render_png(
                    &update,
                    orientation,
                    crate::ui::Language::Chinese,
                    false,
                );
                match png.map(|bytes| std::fs::write(&path, bytes)) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, path = %path.display(), "cannot write screen PNG"),
                    Err(e) => tracing::warn!(error = %e, "cannot render screen"),
                }
            }
        })?;
        Ok((Self { tx }, handle))
    }

    fn record(&self, scenario: &str, update: ScreenUpdate) {
        let _ = self.tx.send((scenario.to_string(), update));
    }
}

fn screen_name(s: &Screen) -> &'static str {
    match s {
        Screen::EnterNumber { .. } => "keypad",
        Screen::LookingUp { .. } => "looking-up",
        Screen::Confirm { .. } => "confirm",
        Screen::NoChange { .. } => "no-change",
        Screen::Insert { .. } => "insert",
        Screen::Processing { .. } => "processing",
        Screen::Result { .. } => "result",
        Screen::Sorry { .. } => "sorry",
    }
}

/// The demo with the real window: the kiosk runs on the tokio runtime, the window on this
/// (the main) thread. A person is the customer; notes go in by typing simulator commands
/// (`insert 20`, `jam 50`, …) in the terminal.
pub fn run_with_window(args: Args, runtime: &tokio::runtime::Runtime) -> anyhow::Result<ExitCode> {
    let (updates_tx, updates_rx) = mpsc::channel(64);
    let (ui_tx, ui_rx) = mpsc::channel(64);
    let (req_tx, req_rx) = mpsc::channel(16);
    let options = crate::ui::UiOptions {
        fullscreen: args.fullscreen,
        orientation: if args.landscape {
            crate::ui::Orientation::Landscape
        } else {
            crate::ui::Orientation::Portrait
        },
        requests: Some(req_tx),
        ..crate::ui::UiOptions::default()
    };
    let kiosk = runtime.spawn(async move {
        if let Err(e) = kiosk_with_window(args, updates_tx, ui_rx, req_rx).await {
            eprintln!("telekiosk demo: {e:#}");
        }
    });
    let shown = crate::ui::run_window(updates_rx, ui_tx, options);
    kiosk.abort();
    shown?;
    Ok(ExitCode::SUCCESS)
}

async fn kiosk_with_window(
    args: Args,
    updates: mpsc::Sender<ScreenUpdate>,
    mut ui: mpsc::Receiver<Ui>,
    mut requests: mpsc::Receiver<crate::ui::Request>,
) -> anyhow::Result<()> {
    let config = load_config(args.config.as_deref())?;
    let mut kiosk =
        DemoKiosk::start(&args.out, args.protocol.into(), args.fresh, None, config).await?;
    let bill = kiosk
        .world
        .as_ref()
        .map(|w| w.bill.clone())
        .context("no bill simulator")?;
    println!("the kiosk is ready. Touch the screen to start a top-up (try 13800000000).");
    println!(
        "insert notes by typing here: `insert 20`, `insert 50`, `unknown`, `jam 10`, `clear-jam` …"
    );
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            match bill_acceptor::sim::parse_line(&line) {
                Ok(Some(action)) => {
                    if bill.blocking_send(action).is_err() {
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => eprintln!("{e}"),
            }
        }
    });
    // Pending credits (operator unreachable when the customer finished) are retried
    // between customers, every 30 s, until the operator confirms them.
    let mut retry = tokio::time::interval(Duration::from_secs(30));
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let request = tokio::select! {
            r = requests.recv() => match r {
                Some(r) => r,
                None => break,
            },
            _ = retry.tick() => {
                let settled = engine::recovery::retry_pending(
                    &mut kiosk.engine.journal,
                    &*kiosk.engine.operator,
                    &kiosk.engine.clock,
                )
                .await?;
                if settled > 0 {
                    println!("[kiosk] {settled} pending top-up(s) settled with the operator");
                }
                continue;
            }
        };
        match request {
            crate::ui::Request::Start(crate::ui::ServiceId::TopUp) => {
                while ui.try_recv().is_ok() {}
                let summary = kiosk.engine.run_session(&mut ui, updates.clone()).await?;
                println!(
                    "[kiosk] top-up {} finished: {} taken, {:?}",
                    summary.txn_id.as_deref().unwrap_or("-"),
                    yuan(summary.credited_fen),
                    summary.outcome
                );
                retry.reset_immediately();
            }
            crate::ui::Request::Start(other) => {
                println!("{other:?} is not available in this build")
            }
            crate::ui::Request::CallHelp => {
                println!("[kiosk] the customer calls for help: staff notified")
            }
            crate::ui::Request::Technician => println!("[kiosk] technician entry requested"),
        }
    }
    Ok(())
}
