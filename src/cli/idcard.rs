//! `telekiosk sim idcard` and `telekiosk diag idcard`: the second-generation ID card
//! reader (SAM_V protocol) simulator and the technician's read test with masked output.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use idcard_reader::check::china_date;
use idcard_reader::sim::{
    Control, ReaderSim, SimCard, Simulator, builtin_cards, load_fixture_dir, load_fixture_file,
};
use idcard_reader::text::{iso_date, parse_card_date};
use idcard_reader::{CardRead, IdCardReader, ReaderConfig, ReaderError, WaitOutcome};
use std::io::BufRead as _;

/// Exit status: no card within `--wait`.
pub const EXIT_NO_CARD: u8 = 2;
/// Exit status: the reader's security module (SAM) failed.
pub const EXIT_SAM_FAILURE: u8 = 3;
/// Exit status: the reader did not answer, or its replies were corrupted or reported a fault.
pub const EXIT_READER_FAULT: u8 = 4;
/// Exit status: a card was there but could not be read (refused, moved, unknown type).
pub const EXIT_CARD_UNREADABLE: u8 = 5;

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Put this fixture card on the reader at start.
    #[arg(long)]
    card: Option<String>,
    /// Control lines to run before reading standard input (`place <fixture>`, `remove`,
    /// `error <kind>`, `halt on|off`, `list`, `sleep <ms>`).
    #[arg(long)]
    script: Option<PathBuf>,
    /// Extra fixture file or directory of `*.json` fixtures (added to the built-in ones).
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Also make this stable name (a symbolic link) for the pseudo-terminal.
    #[arg(long)]
    link: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DiagArgs {
    /// Serial port of the reader (115200 8N1), or the simulator's pseudo-terminal.
    #[arg(long)]
    port: PathBuf,
    /// Baud rate, if the reader was switched from its 115200 default
    /// (57600, 38400, 19200, 9600).
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// Print a JSON report on standard output.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for a card.
    #[arg(long, default_value_t = 15)]
    wait: u64,
    /// Seconds to wait for each reply of the reader.
    #[arg(long, default_value_t = 5)]
    command_timeout: u64,
    /// Judge expiry and age on this day (YYYY-MM-DD) instead of today in China.
    #[arg(long)]
    today: Option<String>,
}

pub async fn sim(args: SimArgs) -> anyhow::Result<ExitCode> {
    let mut cards: Vec<SimCard> = builtin_cards().context("built-in fixtures")?;
    if let Some(path) = &args.fixtures {
        let extra = if path.is_dir() {
            load_fixture_dir(path)?
        } else {
            vec![load_fixture_file(path)?]
        };
        for card in extra {
            cards.retain(|c| c.name != card.name);
            cards.push(card);
        }
    }
    let sim =
        Simulator::start(ReaderSim::new(cards)).context("cannot create the pseudo-terminal")?;
    println!("ID card reader simulator on {}", sim.path().display());
    let _link = super::StableLink::create(args.link.as_deref(), sim.path())?;
    if let Some(card) = &args.card {
        run_control(&sim, &format!("place {card}")).await?;
    }
    if let Some(script) = &args.script {
        let text = std::fs::read_to_string(script)
            .with_context(|| format!("cannot read script {}", script.display()))?;
        for line in text.lines() {
            run_control(&sim, line).await?;
        }
    }
    // Standard input is read on a plain thread (blocking reads) and handed over line by line.
    let (tx, mut lines) = tokio::sync::mpsc::channel::<String>(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    // A typo on the console must not stop the simulator.
                    if let Err(e) = run_control(&sim, &line).await {
                        eprintln!("{e:#}");
                    }
                }
                // Standard input closed: keep simulating until interrupted.
                None => {
                    tokio::signal::ctrl_c().await.ok();
                    return Ok(ExitCode::SUCCESS);
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
    }
}

async fn run_control(sim: &Simulator, line: &str) -> anyhow::Result<()> {
    let Some(control) = Control::parse(line).map_err(anyhow::Error::msg)? else {
        return Ok(());
    };
    if let Control::Sleep(d) = control {
        tokio::time::sleep(d).await;
        return Ok(());
    }
    let message = sim.apply(&control).map_err(anyhow::Error::msg)?;
    println!("{message}");
    Ok(())
}

pub async fn diag(args: DiagArgs) -> anyhow::Result<ExitCode> {
    let today = match &args.today {
        Some(s) => parse_card_date(&s.replace('-', ""), "today")
            .map_err(|_| anyhow::anyhow!("--today wants YYYY-MM-DD, got {s:?}"))?,
        None => china_date(SystemTime::now()),
    };
    let port = devio::open_serial(&args.port, devio::LineSettings::n81(args.baud))
        .with_context(|| format!("cannot open the reader at {}", args.port.display()))?;
    let config = ReaderConfig {
        command_timeout: Duration::from_secs(args.command_timeout.max(1)),
        ..ReaderConfig::default()
    };
    let mut reader = IdCardReader::new(port, config);

    let result = async {
        reader.sam_status().await?;
        let sam = reader.sam_id().await?;
        let outcome = reader.wait_for_card(Duration::from_secs(args.wait)).await?;
        Ok::<_, ReaderError>((sam, outcome))
    }
    .await;

    let (sam, outcome) = match result {
        Ok(v) => v,
        Err(e) => {
            let code = if e.is_sam_failure() {
                EXIT_SAM_FAILURE
            } else {
                EXIT_READER_FAULT
            };
            let kind = if code == EXIT_SAM_FAILURE {
                "sam_failure"
            } else {
                "reader_fault"
            };
            return Ok(fail(&args, code, kind, &format!("ID card reader: {e}")));
        }
    };
    let card = match outcome {
        WaitOutcome::Card(card) => card,
        WaitOutcome::NoCard => {
            let msg = format!("ID card reader: no card within {} s", args.wait);
            return Ok(fail(&args, EXIT_NO_CARD, "no_card", &msg));
        }
        WaitOutcome::CardRejected(status) => {
            let msg = format!("ID card reader: card refused by the SAM: {status}");
            return Ok(fail(&args, EXIT_CARD_UNREADABLE, "card_rejected", &msg));
        }
        WaitOutcome::ReadFailed(status) => {
            let msg = format!("ID card reader: reading the card failed (hold it still): {status}");
            return Ok(fail(&args, EXIT_CARD_UNREADABLE, "read_failed", &msg));
        }
        WaitOutcome::UnreadableText(e) => {
            let msg = format!("ID card reader: card text unreadable: {e}");
            return Ok(fail(&args, EXIT_CARD_UNREADABLE, "unreadable_text", &msg));
        }
        other => {
            let msg = format!("ID card reader: unexpected outcome {other:?}");
            return Ok(fail(&args, EXIT_CARD_UNREADABLE, "unreadable", &msg));
        }
    };
    let report = report(&card, &sam.to_string(), today);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_human(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn fail(args: &DiagArgs, code: u8, kind: &str, message: &str) -> ExitCode {
    eprintln!("{message}");
    if args.json {
        let v = serde_json::json!({ "healthy": false, "error": kind, "message": message });
        println!("{v}");
    }
    ExitCode::from(code)
}

/// The masked report: never the raw name, number or address, never the photo.
fn report(card: &CardRead, sam_id: &str, today: idcard_reader::Date) -> serde_json::Value {
    use idcard_reader::CardText;
    let t = &card.text;
    let mut v = serde_json::json!({
        "healthy": true,
        "sam_id": sam_id,
        "card_type": t.kind().as_str(),
        "name_masked": t.name().masked(),
        "id_number_masked": t.id_number().masked(),
        "check_digit_ok": t.check_digit_ok(),
        "sex": t.sex().as_str(),
        "birth": iso_date(t.birth()),
        "valid_from": iso_date(t.valid_from()),
        "valid_to": t.valid_to().to_json_string(),
        "expired": t.is_expired(today),
        "age": t.age_on(today),
        "photo_bytes": card.photo.len(),
        "fingerprint": card.fingerprint.is_some(),
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(nation) = t.nation() {
            obj.insert("nation".into(), nation.name().unwrap_or("unknown").into());
            obj.insert("nation_code".into(), nation.code().into());
        }
        if let Some(n) = t.nationality() {
            obj.insert("nationality".into(), n.into());
        }
        match t {
            CardText::ForeignPermanent2017(f) => {
                obj.insert("english_name_masked".into(), f.english_name.masked().into());
            }
            CardText::ForeignPermanent2023(f) => {
                obj.insert("english_name_masked".into(), f.english_name.masked().into());
            }
            CardText::HmtResidence(h) => {
                obj.insert("pass_number_masked".into(), h.pass_number.masked().into());
            }
            _ => {}
        }
    }
    v
}

fn print_human(report: &serde_json::Value) {
    println!("ID card reader: healthy");
    if let Some(obj) = report.as_object() {
        for (k, v) in obj {
            if k == "healthy" {
                continue;
            }
            let shown = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("  {k}: {shown}");
        }
    }
}
