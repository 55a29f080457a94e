//! `telekiosk sim dispenser` and `telekiosk diag dispenser`: the CRT-591 card dispenser
//! with its IC station (see docs/technician.md, "Card dispenser and SIM").

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use card_dispenser::simulator::{self, SimConfig, Simulator, StockKind};
use card_dispenser::{
    CardDispenser, Condition, Config, Destination, Error, InitMode, StackerLevel, Vcc, apdu,
    simcard,
};
use serde_json::{Value, json};

use super::report::{self, Heard, Problem, Report, Sniff, on_running_kiosk};

/// Kind of blank SIMs in the simulated stacker.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SimKindArg {
    /// USIM cards (class 00).
    Usim,
    /// 2G SIM cards (class A0).
    #[value(name = "2g")]
    Gsm,
    /// USIM and 2G alternately.
    Alternate,
}

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Blank SIMs in the stacker.
    #[arg(long, default_value_t = 20)]
    pub cards: usize,
    /// Control lines to play before reading standard input (`take`, `jam`, `stacker N`, …).
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Kind of the blank SIMs.
    #[arg(long, value_enum, default_value_t = SimKindArg::Usim)]
    pub kind: SimKindArg,
    /// Also make this stable name (a symbolic link) for the pseudo-terminal.
    #[arg(long)]
    pub link: Option<PathBuf>,
    /// DIP-switch address 0–15.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=15))]
    pub address: u8,
    /// At or below this many cards the stacker reports "low".
    #[arg(long, default_value_t = 5)]
    pub low: usize,
    /// Capacity of the reject bin.
    #[arg(long, default_value_t = 50)]
    pub reject_capacity: usize,
}

/// Cold-reset activation mode.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum VccArg {
    /// 3 V, ISO 7816-3 (SIMs).
    #[value(name = "3v")]
    Iso3V,
    /// 5 V, ISO 7816-3.
    #[value(name = "5v")]
    Iso5V,
    /// 5 V, EMV (refuses SIMs with error 69).
    Emv,
}

#[derive(Debug, clap::Args)]
pub struct DiagArgs {
    /// Serial port of the dispenser (or the simulator's pseudo-terminal).
    #[arg(long)]
    pub port: PathBuf,
    /// Machine-readable report on standard output.
    #[arg(long)]
    pub json: bool,
    /// Move one card to the IC station, read its ICCID, then capture it into the reject bin.
    #[arg(long)]
    pub read_iccid: bool,
    /// Dispense one card straight into the reject bin.
    #[arg(long)]
    pub reject_test: bool,
    /// DIP-switch address 0–15.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=15))]
    pub address: u8,
    /// Baud rate (the dispenser detects 9600, 19200, 38400 or 57600).
    #[arg(long, default_value_t = 9600)]
    pub baud: u32,
    /// Cold-reset mode for --read-iccid.
    #[arg(long, value_enum, default_value_t = VccArg::Iso3V)]
    pub vcc: VccArg,
}

pub async fn sim(args: SimArgs) -> anyhow::Result<ExitCode> {
    let config = SimConfig {
        address: args.address,
        cards: args.cards,
        kind: match args.kind {
            SimKindArg::Usim => StockKind::Usim,
            SimKindArg::Gsm => StockKind::Gsm,
            SimKindArg::Alternate => StockKind::Alternate,
        },
        low_threshold: args.low,
        reject_capacity: args.reject_capacity,
        ..SimConfig::default()
    };
    let script = match &args.script {
        Some(path) => Some(
            tokio::fs::read_to_string(path)
                .await
                .with_context(|| format!("reading script {}", path.display()))?,
        ),
        None => None,
    };
    let sim = Simulator::start(config).context("creating the pseudo-terminal")?;
    println!("card dispenser simulator on {}", sim.path().display());
    let _link = super::StableLink::create(args.link.as_deref(), sim.path())?;
    println!(
        "line settings {}; controls: take, jam, clear-jam, stacker N, reject-full, reject-empty, fail-apdu STEP SW, nak N, silent N, corrupt N, power-cycle, status, wait SECS",
        simulator::line_settings()
    );
    if let Some(script) = script {
        for line in script.lines() {
            control(&sim, line).await;
        }
    }
    // Standard input is read on its own thread (the runtime has no async stdin).
    let (tx, mut lines) = tokio::sync::mpsc::channel::<String>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => control(&sim, &line).await,
                // Standard input closed: keep serving until interrupted.
                None => {
                    tokio::signal::ctrl_c().await.ok();
                    break;
                }
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn control(sim: &Simulator, line: &str) {
    let words: Vec<&str> = line
        .split('#')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    match words.as_slice() {
        ["status"] => println!("{}", sim.device().summary()),
        ["wait", secs] => match secs
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
        {
            Some(d) => tokio::time::sleep(d).await,
            None => eprintln!("`wait` needs seconds, e.g. `wait 1.5`"),
        },
        _ => match simulator::parse_line(line) {
            Ok(Some(action)) => {
                sim.apply(action);
                println!("ok");
            }
            Ok(None) => {}
            Err(e) => eprintln!("{e}"),
        },
    }
}

/// What the diagnostic needs to explain a failure: where, and what came back.
struct Line<'a> {
    port: String,
    heard: Heard,
    args: &'a DiagArgs,
}

impl Line<'_> {
    /// The problem an error reveals, `doing` naming the step.
    fn problem(&self, e: &Error, doing: &str) -> Problem {
        let port = &self.port;
        let settings = format!(
            "the address (`--address`, now {}: the DIP switches) and the speed (`--baud`, now {})",
            self.args.address, self.args.baud
        );
        if e.is_no_answer() {
            return if self.heard.count() == 0 {
                Problem::unreachable("no_answer", format!("nothing answered on {port}"))
                    .cause(format_args!("{doing}: {e}"))
                    .action(format!(
                        "check the dispenser's power and cable, that {port} is its port (`ls -l /dev/serial/by-id/`), {settings}"
                    ))
            } else {
                Problem::unreachable(
                    "unexpected_answer",
                    self.heard.answer(port, "a CRT-591 card dispenser"),
                )
                .cause(format_args!("{doing}: {e}"))
                .action(format!(
                    "check that {port} is the dispenser's port and not another device's, {settings}"
                ))
            };
        }
        if matches!(e, Error::Link(_) | Error::Io(_) | Error::Open(_)) {
            return Problem::unreachable(
                "link_error",
                format!("the line to the dispenser fails ({doing})"),
            )
            .cause(e)
            .action(format!("check the cable and its grounding, {settings}"));
        }
        let (code, what, action) = match e.condition() {
            Some(Condition::StackerEmpty) => (
                "stacker_empty",
                "the card stacker is empty",
                "restock blank cards (放卡维护) and record the count (`telekiosk service restock` on a running kiosk)",
            ),
            Some(Condition::RejectBinFull) => (
                "reject_bin_full",
                "the reject bin is full",
                "empty the reject bin (`telekiosk service restock --bin-emptied` on a running kiosk)",
            ),
            Some(Condition::Jam) => (
                "jam",
                "a card is jammed",
                "open the dispenser and clear the card channel (errors 10/13/14/43/45)",
            ),
            Some(Condition::Hardware) => (
                "hardware",
                "the dispenser reports a hardware fault",
                "motor, sensor or IC contact fault: service the unit",
            ),
            Some(Condition::CardFault) => (
                "card_fault",
                "the test card could not be activated or read",
                "try another card; if every card fails, clean the IC contacts",
            ),
            Some(Condition::NotReset) | None => (
                "device_error",
                "the dispenser refused a command",
                "power the dispenser off and on; if it stays, service the unit",
            ),
        };
        Problem::device(code, format!("{what} ({doing})"))
            .cause(e)
            .action(action)
    }
}

/// Records a problem unless one of its kind is already there (one line per cause).
fn add(report: &mut Report, p: Problem) {
    if !report.has(p.code) {
        report.problem(p);
    }
}

pub async fn diag(args: DiagArgs) -> anyhow::Result<ExitCode> {
    let config = Config {
        address: args.address,
        line: devio::LineSettings::n81(args.baud),
        vcc: match args.vcc {
            VccArg::Iso3V => Vcc::Iso3V,
            VccArg::Iso5V => Vcc::Iso5V,
            VccArg::Emv => Vcc::Emv,
        },
        ..Config::default()
    };
    let mut report = Report::new(
        "dispenser",
        "card dispenser",
        args.port.display().to_string(),
    );
    report.fact("address", "address", args.address);
    report.fact("line", "line", config.line.to_string());
    let line = Line {
        port: args.port.display().to_string(),
        heard: Heard::default(),
        args: &args,
    };
    report::quiet(async {
        let serial = match devio::open_serial(&args.port, config.line) {
            Ok(s) => s,
            Err(e) => {
                return report.problem(report::port_problem(
                    &args.port,
                    &e,
                    on_running_kiosk::DISPENSER,
                ));
            }
        };
        match CardDispenser::new(Sniff::new(serial, line.heard.clone()), config) {
            Ok(mut d) => run_checks(&mut d, &line, &mut report).await,
            Err(e) => report.problem(line.problem(&e, "opening the dispenser")),
        }
    })
    .await;
    Ok(report.finish(args.json))
}

type Dispenser = CardDispenser<Sniff<devio::SerialStream>>;

async fn run_checks(d: &mut Dispenser, line: &Line<'_>, report: &mut Report) {
    let args = line.args;
    match d.initialize(InitMode::Leave).await {
        Ok(info) => report.fact("firmware", "firmware", info.firmware),
        Err(e) => {
            add(report, line.problem(&e, "initialise"));
            if e.is_no_answer() {
                return;
            }
        }
    }
    let status = match d.sensors().await {
        Ok((status, sensors)) => {
            insert_status(report, status);
            let s: serde_json::Map<String, Value> = sensors
                .0
                .iter()
                .enumerate()
                .map(|(i, on)| (format!("s{}", i + 1), json!(on)))
                .collect();
            let covered: Vec<&String> = s
                .iter()
                .filter(|(_, on)| on.as_bool() == Some(true))
                .map(|(k, _)| k)
                .collect();
            report.field("sensors", Value::Object(s.clone()));
            report.line(
                "sensors",
                if covered.is_empty() {
                    "no card seen".to_owned()
                } else {
                    format!(
                        "card seen by {}",
                        covered
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            );
            status
        }
        Err(e) => return add(report, line.problem(&e, "status request")),
    };
    if status.stacker == StackerLevel::Empty {
        add(
            report,
            Problem::device("stacker_empty", "the card stacker is empty").action(
                "restock blank cards (放卡维护) and record the count (`telekiosk service restock` on a running kiosk)",
            ),
        );
    }
    if status.reject_bin_full {
        add(
            report,
            Problem::device("reject_bin_full", "the reject bin is full").action(
                "empty the reject bin (`telekiosk service restock --bin-emptied` on a running kiosk)",
            ),
        );
    }
    if status.stacker == StackerLevel::Low {
        report.warning("few cards left in the stacker");
    }

    if args.read_iccid
        && let Err(p) = read_iccid(d, line, report).await
    {
        add(report, p);
    }
    if args.reject_test {
        let result = async {
            d.move_card(Destination::Holding).await?;
            d.capture().await
        }
        .await;
        match result {
            Ok(_) => report.fact("reject_test", "reject test", "passed"),
            Err(e) => {
                report.fact("reject_test", "reject test", "failed");
                add(report, line.problem(&e, "reject test"));
            }
        }
    }
    if (args.read_iccid || args.reject_test)
        && let Ok(status) = d.status().await
    {
        insert_status(report, status);
    }
    match d.reject_counter().await {
        Ok(n) => report.fact("reject_bin_count", "reject bin count", n),
        Err(e) => add(report, line.problem(&e, "reject-bin counter")),
    }
}

/// The status fields; a later status replaces an earlier one (in the JSON; the text shows
/// the latest too).
fn insert_status(report: &mut Report, status: card_dispenser::Status) {
    report.fact("stacker", "stacker", status.stacker.as_str());
    report.fact("reject_bin_full", "reject bin full", status.reject_bin_full);
    report.fact(
        "card_position",
        "card position",
        status.card_position.as_str(),
    );
}

async fn read_iccid(
    d: &mut Dispenser,
    line: &Line<'_>,
    report: &mut Report,
) -> Result<(), Problem> {
    d.dispense_to_ic()
        .await
        .map_err(|e| line.problem(&e, "dispense to the IC station"))?;
    let result = async {
        let atr = d
            .cold_reset()
            .await
            .map_err(|e| line.problem(&e, "cold reset"))?;
        report.fact("atr", "ATR", apdu::hex(&atr.bytes));
        let read = simcard::read_iccid(d).await.map_err(|e| {
            Problem::device("iccid", "the test card's ICCID could not be read")
                .cause(e)
                .action("try another card; if every card fails, clean the IC contacts")
        })?;
        Ok::<_, Problem>(read)
    }
    .await;
    // Whatever happened, the test card goes to the reject bin.
    let _ = d.power_off().await;
    let captured = d.capture().await;
    let (kind, iccid) = result?;
    report.fact("iccid", "ICCID", iccid.as_str());
    report.fact("sim_kind", "SIM kind", kind);
    captured.map_err(|e| line.problem(&e, "capture the test card"))?;
    Ok(())
}
