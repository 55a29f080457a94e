//! The demo: the kiosk runtime — the same one `telekiosk run` starts in a shop — in a
//! simulated world, the system's three parts on loopback: the kiosk (device simulators
//! speaking their wire protocols over pseudo-terminals, the journal in SQLite) → the
//! self-service system server (`telekiosk-hq`, in process on SQLite, mutual TLS) → the
//! operator's business system (`boss-sim`, mutual TLS, the server as its gateway).
//! Scripted customers (`--scenario`) walk through top-ups, plan changes and bill, record and
//! invoice printing (with the service password, the SMS code from the operator's outbox, or
//! the owner's ID card on the simulated reader); each step, the paper and the outcome are
//! printed, each outcome is checked in the kiosk's journal and at the operator, and the run
//! fails (non-zero exit) if one is not what the scenario expects. `--today` pins the
//! business date (the 出账期, days 1–5, greys plan change). Head office's part is played through the server's library API: a
//! signed configuration bundle rolled out (a lower limit for one customer), and at the end
//! the fleet view, the uploaded journal and the day's reconciliation against the operator's
//! ledger.

mod customer;
mod headoffice;
mod kiosk;
mod more;
mod recorder;
mod services;
mod sim;
mod technician;
mod topup;
mod window;
mod world;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use bill_acceptor::Protocol;

use crate::flow::yuan;
use crate::runtime::kiosk::{Note, Options};

pub use kiosk::{DemoKiosk, demo_options};
pub use recorder::ScreenRecorder;
pub use window::run_with_window;
pub use world::{Day, World, WorldOptions, day_text, kiosk_config, parse_day, start_server};

use customer::Observed;
use headoffice::head_office_view;
use topup::run_scenario;

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
    /// Which scripted customer(s) to run: all, or one of the top-ups (topup, two-notes,
    /// limit, paper-out, lost-answer, slow-operator, jam), plan changes (plan-change,
    /// plan-change-id-card, plan-arrears, plan-frozen) and bills (wrong-password, bill,
    /// records, bill-id-card).
    #[arg(long, default_value = "all")]
    pub scenario: String,
    /// Pins the business date (YYYY-MM-DD) for the operator and the kiosk's calendar: the
    /// 出账期 (days 1–5, no plan change), the months a bill can be printed for.
    #[arg(long, value_parser = parse_day)]
    pub today: Option<Day>,
    /// Folder for the demo's state: certificates, server and operator stores, journal,
    /// receipts.
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    /// Bill acceptor protocol to simulate.
    #[arg(long, value_enum, default_value = "ssp")]
    pub protocol: DemoProtocol,
    /// Start from a clean state (removes the journal, the server's and the operator's
    /// stores first).
    #[arg(long)]
    pub fresh: bool,
    /// Use this bill acceptor port instead of a built-in simulator (with `--printer-port`,
    /// `--boss` and `--certs`: the harness runs devices, server and operator, and inserts
    /// the notes).
    #[arg(long, requires_all = ["printer_port", "boss", "certs"])]
    pub bill_port: Option<PathBuf>,
    #[arg(long)]
    pub printer_port: Option<PathBuf>,
    /// With `--bill-port`: this card dispenser port too (the harness's simulator, taking the
    /// card from the gate); the demo adds its own ID card reader and simulated camera, and
    /// `--scenario new-sim` runs against them.
    #[arg(long, requires = "bill_port")]
    pub dispenser_port: Option<PathBuf>,
    /// The link's address (`127.0.0.1:PORT`): the self-service system server the harness
    /// runs.
    #[arg(long)]
    pub boss: Option<String>,
    /// Certificate folder as made by `telekiosk-hq pki`.
    #[arg(long)]
    pub certs: Option<PathBuf>,
    /// Head office's settings for the kiosk (TOML, see docs/config.md); defaults without it.
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// Only run start-up recovery, then exit.
    #[arg(long)]
    pub recover_only: bool,
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

/// The demo's kiosk id (its certificate is made for it).
pub const KIOSK_ID: &str = "K0001";

/// Who the audit log names for what the demo and the tests do as head office.
pub const HEAD_OFFICE: &str = "demo:head-office";

/// Devices and operator that someone else runs (a test harness, or real hardware on a
/// bench): the demo then only plays the kiosk, and the customer does not insert notes
/// itself — whoever runs the acceptor does.
#[derive(Debug, Clone)]
struct External {
    bill_port: PathBuf,
    printer_port: PathBuf,
    dispenser_port: Option<PathBuf>,
    boss: String,
    certs: PathBuf,
}

fn load_settings(path: Option<&Path>) -> anyhow::Result<telekiosk_settings::Settings> {
    match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            telekiosk_settings::Settings::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        }
        None => Ok(telekiosk_settings::Settings::default()),
    }
}

/// A scripted customer of any service.
#[derive(Debug, Clone)]
enum Scenario {
    TopUp(topup::Scenario),
    Service(services::Scenario),
    Sim(sim::Scenario),
}

impl Scenario {
    fn name(&self) -> &'static str {
        match self {
            Scenario::TopUp(s) => s.name,
            Scenario::Service(s) => s.name,
            Scenario::Sim(s) => s.name,
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Scenario::TopUp(s) => s.what,
            Scenario::Service(s) => s.what,
            Scenario::Sim(s) => s.what,
        }
    }
}

/// Every scripted customer, in the order `all` runs them.
fn scenarios() -> Vec<Scenario> {
    topup::scenarios()
        .into_iter()
        .map(Scenario::TopUp)
        .chain(services::scenarios().into_iter().map(Scenario::Service))
        .chain(sim::scenarios().into_iter().map(Scenario::Sim))
        .collect()
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let all = args.scenario == "all";
    let chosen: Vec<Scenario> = if all {
        scenarios()
    } else {
        // One name, or several separated by commas, run in the order given.
        let mut s = Vec::new();
        for name in args.scenario.split(',').map(str::trim) {
            match scenarios().into_iter().find(|s| s.name() == name) {
                Some(found) => s.push(found),
                None => {
                    let names: Vec<_> = scenarios().iter().map(Scenario::name).collect();
                    bail!(
                        "no scenario `{name}`; choose all, one of {}, or several separated by commas",
                        names.join(", ")
                    );
                }
            }
        }
        s
    };
    if !args.headless {
        println!(
            "no display found (DISPLAY / WAYLAND_DISPLAY unset): running the headless customers"
        );
    }
    let settings = technician::with_demo_technician(load_settings(args.settings.as_deref())?)?;
    let external = match (&args.bill_port, &args.printer_port, &args.boss, &args.certs) {
        (Some(b), Some(p), Some(addr), Some(c)) => Some(External {
            bill_port: b.clone(),
            printer_port: p.clone(),
            dispenser_port: args.dispenser_port.clone(),
            boss: addr.clone(),
            certs: c.clone(),
        }),
        _ => None,
    };
    // On someone else's devices with a dispenser: the demo's own ID card reader.
    let own_reader = match external.as_ref().and_then(|x| x.dispenser_port.as_ref()) {
        Some(_) => Some(idcard_reader::sim::Simulator::start(
            idcard_reader::sim::ReaderSim::new(idcard_reader::sim::builtin_cards()?),
        )?),
        None => None,
    };
    let (mut world, config) = match &external {
        Some(x)
            if chosen.iter().any(|s| match s {
                Scenario::Service(_) => true,
                Scenario::Sim(v) => {
                    !(v.name == "pin-sale" || v.name == "new-sim" && x.dispenser_port.is_some())
                }
                Scenario::TopUp(_) => false,
            }) && !all =>
        {
            bail!(
                "`{}` needs the demo's own world (the ID card reader, the operator's outbox): run it without --bill-port",
                args.scenario
            )
        }
        Some(x) => {
            telekiosk_settings::bundle::generate_dev_keys(&x.certs)?;
            if args.fresh {
                let _ = std::fs::remove_dir_all(args.out.join("kiosk"));
            }
            let mut cfg = kiosk_config(
                &args.out,
                &x.boss,
                &x.certs,
                Some((&x.bill_port, args.protocol.into())),
                Some(&x.printer_port),
                settings,
            );
            if let (Some(d), Some(r)) = (&x.dispenser_port, &own_reader) {
                cfg.machine.devices.id_reader = Some(crate::config::IdReaderConfig {
                    port: r.path().to_path_buf(),
                    baud: idcard_reader::LINE_SETTINGS.baud,
                });
                world::with_sim_desk(&mut cfg, d);
            }
            (None, cfg)
        }
        None => {
            let w = World::start_with(
                &args.out,
                args.protocol.into(),
                args.fresh,
                WorldOptions { today: args.today },
            )
            .await?;
            let cfg = w.config(&args.out, settings);
            (Some(w), cfg)
        }
    };
    let options = match &world {
        Some(w) => w.options(),
        None => Options {
            calendar: args.today,
            ..demo_options()
        },
    };
    let screens = args.out.join("screens");
    let orientation = if args.landscape {
        crate::ui::Orientation::Landscape
    } else {
        crate::ui::Orientation::Portrait
    };
    let (recorder, rendering) = ScreenRecorder::start(&screens, orientation)?;
    println!("a PNG of every screen goes to {}", screens.display());
    let mut kiosk = DemoKiosk::start(&config, options)?;
    let report = kiosk
        .wait_note(Duration::from_secs(60), |n| match n {
            Note::Recovered(r) => Some(r.clone()),
            _ => None,
        })
        .await?;
    print_recovery(&report);
    if let Some(w) = &world {
        stock_cards(&kiosk, w).await?;
    }
    if args.recover_only {
        kiosk
            .wait_note(Duration::from_secs(30), |n| {
                matches!(n, Note::Ready).then_some(())
            })
            .await?;
        let _ = kiosk.stop.send(true);
        let _ = kiosk.task.await;
        let report = kiosk.journal.run(|j| j.check(false)).await??;
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
    let mut state = Observed::default();
    let mut failures = Vec::new();
    for s in &chosen {
        let outcome = match s {
            Scenario::TopUp(t) => {
                println!("\n=== scenario {}: {}", s.name(), s.what());
                run_scenario(
                    &mut kiosk,
                    world.as_mut(),
                    &config,
                    t,
                    &recorder,
                    &mut state,
                )
                .await
            }
            // Someone else's world (a test harness): top-ups only.
            Scenario::Sim(v) if world.is_none() && v.name == "new-sim" => {
                let Some(reader) = &own_reader else { continue };
                println!("\n=== scenario {}: {}", s.name(), s.what());
                let mut c = customer::Customer::new(&mut kiosk, &mut state, &recorder, v.name);
                sim::new_sim_on(&mut c, reader).await
            }
            Scenario::Sim(v) if world.is_none() && v.name == "pin-sale" => {
                println!("\n=== scenario {}: {}", s.name(), s.what());
                let mut c = customer::Customer::new(&mut kiosk, &mut state, &recorder, v.name);
                more::pin_sale_on(&mut c).await
            }
            Scenario::Service(_) | Scenario::Sim(_) if world.is_none() => continue,
            Scenario::Sim(v) => {
                println!("\n=== scenario {}: {}", s.name(), s.what());
                let Some(w) = world.as_mut() else { continue };
                sim::run(
                    v,
                    sim::Cx {
                        kiosk: &mut kiosk,
                        world: w,
                        recorder: &recorder,
                        state: &mut state,
                    },
                )
                .await
            }
            Scenario::Service(v) => {
                println!("\n=== scenario {}: {}", s.name(), s.what());
                let Some(w) = world.as_mut() else { continue };
                services::run(
                    v,
                    services::Cx {
                        kiosk: &mut kiosk,
                        world: w,
                        recorder: &recorder,
                        state: &mut state,
                        in_all: all,
                    },
                )
                .await
            }
        };
        match outcome {
            Ok(()) => println!("=== {}: as expected", s.name()),
            Err(e) => {
                println!("=== {}: WRONG: {e:#}", s.name());
                failures.push(s.name());
            }
        }
    }
    if let Some(w) = &world {
        match head_office_view(&mut kiosk, w).await {
            Ok(true) => {}
            Ok(false) if args.fresh => failures.push("reconciliation"),
            Ok(false) => println!(
                "  (not from a fresh start: the server's or the operator's store may hold an earlier run's day)"
            ),
            Err(e) => {
                println!("=== head office: WRONG: {e:#}");
                failures.push("head office");
            }
        }
    }
    drop(recorder);
    let _ = tokio::task::spawn_blocking(move || rendering.join()).await;
    let _ = kiosk.stop.send(true);
    let _ = kiosk.task.await;
    let report = kiosk.journal.run(|j| j.check(false)).await??;
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
    if let Some(w) = &world {
        let cash = w.cashbox.total_fen();
        println!("simulated cash box holds {}", yuan(cash));
        if i64::try_from(cash).ok() != Some(report.cashbox_fen) && args.fresh {
            failures.push("cash box");
            eprintln!(
                "demo: the cash box holds {} but the journal says {}",
                yuan(cash),
                yuan(u64::try_from(report.cashbox_fen).unwrap_or(0))
            );
        }
    }
    println!(
        "receipts (text and PNG): {}",
        args.out.join("receipts").display()
    );
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

fn print_recovery(report: &crate::runtime::recovery::RecoveryReport) {
    if report.resolved.is_empty() && report.notes.is_empty() && report.printed.is_empty() {
        return;
    }
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

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The technician's card restock (放卡维护) the demo's dispenser simulator was loaded with:
/// the journal counts the blank cards the simulator holds beyond what it already knows.
async fn stock_cards(kiosk: &DemoKiosk, w: &World) -> anyhow::Result<()> {
    let physical = i64::try_from(w.dispenser.device().stacker_count())?;
    let known = kiosk.journal.run(|j| j.card_stock()).await??.in_stock;
    if physical > known {
        let n = u32::try_from(physical - known)?;
        let now = crate::runtime::Clock::default().unix_ms();
        kiosk
            .journal
            .run(move |j| {
                j.card_movement(
                    crate::journal::CardMovement::Restock(n),
                    None,
                    Some("demo:technician"),
                    now,
                )
            })
            .await??;
        println!("  [technician] {n} blank SIM cards loaded into the dispenser (journaled)");
    }
    Ok(())
}

/// The customer takes the ID card off the reader and walks away; the next customer comes a
/// moment later. The kiosk's reader watches a card it has read until it leaves the field
/// (about a second between looks): a card put down at once would pass for the one still there.
async fn card_taken_back(reader: &idcard_reader::sim::Simulator) {
    reader.with(|r| r.remove());
    // The reader must have looked (and found the card gone) before the next customer's
    // card goes down, or the two would be one card lying there to it; a person's hands
    // give it that time. Bounded: a reader the kiosk no longer polls does not hold us.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !reader.with(|r| r.released()) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}
