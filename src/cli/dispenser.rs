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

/// A reason the dispenser is not healthy, with its exit status.
struct Problem {
    code: &'static str,
    exit: u8,
    message: String,
}

fn problem_of(e: &Error, doing: &str) -> Problem {
    let (code, exit) =
        if e.is_no_answer() || matches!(e, Error::Link(_) | Error::Io(_) | Error::Open(_)) {
            ("no_answer", 2)
        } else {
            match e.condition() {
                Some(Condition::StackerEmpty) => ("stacker_empty", 3),
                Some(Condition::RejectBinFull) => ("reject_bin_full", 4),
                Some(Condition::Jam) => ("jam", 5),
                Some(Condition::Hardware) => ("hardware", 6),
                Some(Condition::CardFault) => ("card_fault", 7),
                Some(Condition::NotReset) | None => ("device_error", 6),
            }
        };
    Problem {
        code,
        exit,
        message: format!("{doing}: {e}"),
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
    let mut report = serde_json::Map::new();
    report.insert("port".into(), json!(args.port.display().to_string()));
    report.insert("address".into(), json!(args.address));
    report.insert("line".into(), json!(config.line.to_string()));
    let mut problems: Vec<Problem> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();

    match CardDispenser::open(&args.port, config) {
        Ok(mut d) => run_checks(&mut d, &args, &mut report, &mut problems, &mut warnings).await,
        Err(e) => problems.push(Problem {
            code: "no_answer",
            exit: 2,
            message: format!("opening the port: {e}"),
        }),
    }

    let healthy = problems.is_empty();
    report.insert("healthy".into(), json!(healthy));
    report.insert(
        "problems".into(),
        Value::Array(
            problems
                .iter()
                .map(|p| json!({"code": p.code, "message": p.message}))
                .collect(),
        ),
    );
    report.insert("warnings".into(), json!(warnings));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&Value::Object(report))?);
    } else {
        for (k, v) in &report {
            if !matches!(k.as_str(), "problems" | "warnings") {
                println!(
                    "{k}: {}",
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                );
            }
        }
        for w in &warnings {
            println!("warning: {w}");
        }
    }
    for p in &problems {
        eprintln!("dispenser: {}", p.message);
    }
    Ok(match problems.first() {
        None => ExitCode::SUCCESS,
        Some(p) => ExitCode::from(p.exit),
    })
}

async fn run_checks(
    d: &mut CardDispenser<devio::SerialStream>,
    args: &DiagArgs,
    report: &mut serde_json::Map<String, Value>,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) {
    match d.initialize(InitMode::Leave).await {
        Ok(info) => {
            report.insert("firmware".into(), json!(info.firmware));
        }
        Err(e) => {
            problems.push(problem_of(&e, "initialise"));
            if e.is_no_answer() {
                return;
            }
        }
    }
    let (stacker_empty, bin_full) = match d.sensors().await {
        Ok((status, sensors)) => {
            insert_status(report, status);
            let s: serde_json::Map<String, Value> = sensors
                .0
                .iter()
                .enumerate()
                .map(|(i, on)| (format!("s{}", i + 1), json!(on)))
                .collect();
            report.insert("sensors".into(), Value::Object(s));
            (
                status.stacker == StackerLevel::Empty,
                status.reject_bin_full,
            )
        }
        Err(e) => {
            problems.push(problem_of(&e, "status request"));
            return;
        }
    };
    if stacker_empty {
        problems.push(Problem {
            code: "stacker_empty",
            exit: 3,
            message: "the card stacker is empty".into(),
        });
    }
    if bin_full {
        problems.push(Problem {
            code: "reject_bin_full",
            exit: 4,
            message: "the reject bin is full".into(),
        });
    }
    if report.get("stacker") == Some(&json!("low")) {
        warnings.push("few cards left in the stacker".into());
    }

    if args.read_iccid {
        match read_iccid(d, report).await {
            Ok(()) => {}
            Err(p) => problems.push(p),
        }
    }
    if args.reject_test {
        let result = async {
            d.move_card(Destination::Holding).await?;
            d.capture().await
        }
        .await;
        match result {
            Ok(_) => {
                report.insert("reject_test".into(), json!("passed"));
            }
            Err(e) => {
                report.insert("reject_test".into(), json!("failed"));
                problems.push(problem_of(&e, "reject test"));
            }
        }
    }
    if (args.read_iccid || args.reject_test)
        && let Ok(status) = d.status().await
    {
        insert_status(report, status);
    }
    match d.reject_counter().await {
        Ok(n) => {
            report.insert("reject_bin_count".into(), json!(n));
        }
        Err(e) => problems.push(problem_of(&e, "reject-bin counter")),
    }
}

fn insert_status(report: &mut serde_json::Map<String, Value>, status: card_dispenser::Status) {
    report.insert("stacker".into(), json!(status.stacker.as_str()));
    report.insert("reject_bin_full".into(), json!(status.reject_bin_full));
    report.insert("card_position".into(), json!(status.card_position.as_str()));
}

async fn read_iccid(
    d: &mut CardDispenser<devio::SerialStream>,
    report: &mut serde_json::Map<String, Value>,
) -> Result<(), Problem> {
    d.dispense_to_ic()
        .await
        .map_err(|e| problem_of(&e, "dispense to the IC station"))?;
    let result = async {
        let atr = d
            .cold_reset()
            .await
            .map_err(|e| problem_of(&e, "cold reset"))?;
        report.insert("atr".into(), json!(apdu::hex(&atr.bytes)));
        let read = simcard::read_iccid(d).await.map_err(|e| Problem {
            code: "iccid",
            exit: 7,
            message: format!("reading the ICCID: {e}"),
        })?;
        Ok::<_, Problem>(read)
    }
    .await;
    // Whatever happened, the test card goes to the reject bin.
    let _ = d.power_off().await;
    let captured = d.capture().await;
    let (kind, iccid) = result?;
    report.insert("iccid".into(), json!(iccid.as_str()));
    report.insert("sim_kind".into(), json!(kind));
    captured.map_err(|e| problem_of(&e, "capture the test card"))?;
    Ok(())
}
