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

use super::report::{self, Heard, Problem, Report, Sniff, on_running_kiosk};

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
    #[arg(long, value_parser = parse_today)]
    today: Option<idcard_reader::Date>,
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

/// How long the first command may take: a reader that is there answers at once, so a port
/// where nothing does is known in seconds, whatever `--command-timeout` says.
const PROBE: Duration = Duration::from_secs(3);

fn parse_today(s: &str) -> Result<idcard_reader::Date, String> {
    parse_card_date(&s.replace('-', ""), "today").map_err(|_| format!("want YYYY-MM-DD, got {s:?}"))
}

pub async fn diag(args: DiagArgs) -> anyhow::Result<ExitCode> {
    let today = args.today.unwrap_or_else(|| china_date(SystemTime::now()));
    let mut report = Report::new("idcard", "ID card reader", args.port.display().to_string());
    report::quiet(read_test(&args, today, &mut report)).await;
    Ok(report.finish(args.json))
}

/// The problem a reader error reveals.
fn reader_problem(e: &ReaderError, args: &DiagArgs, heard: &Heard) -> Problem {
    let port = args.port.display().to_string();
    let speed = format!(
        "the speed (`--baud`, now {}; readers leave the factory at 115200)",
        args.baud
    );
    if e.is_sam_failure() {
        return Problem::device("sam_failure", "the reader's security module (SAM) failed")
            .cause(e)
            .action("power the reader off and on; if it stays, replace the reader");
    }
    match e {
        ReaderError::Timeout { .. } if heard.count() == 0 => {
            Problem::unreachable("no_answer", format!("nothing answered on {port}"))
                .cause(e)
                .action(format!(
                    "check the reader's power and cable, that {port} is its port (`ls -l /dev/serial/by-id/`), and {speed}"
                ))
        }
        ReaderError::Timeout { .. } => Problem::unreachable(
            "unexpected_answer",
            heard.answer(&port, "a SAM_V ID card reader"),
        )
        .cause(e)
        .action(format!(
            "check that {port} is the reader's port and not another device's, and {speed}"
        )),
        ReaderError::BadFrame { .. } => {
            Problem::unreachable("corrupted_replies", "the reader's replies arrive corrupted")
                .cause(e)
                .action(format!("check {speed}, the cable and its grounding"))
        }
        ReaderError::Io(_) => Problem::unreachable("port_failed", format!("the line to {port} failed"))
            .cause(e)
            .action("check the cable and the USB adapter (`dmesg` shows it leaving)"),
        _ => Problem::device("reader_fault", "the reader reports a fault")
            .cause(e)
            .action("power the reader off and on; if it stays, service it"),
    }
}

async fn read_test(args: &DiagArgs, today: idcard_reader::Date, report: &mut Report) {
    let settings = devio::LineSettings::n81(args.baud);
    report.fact("line", "line", settings.to_string());
    let port = match devio::open_serial(&args.port, settings) {
        Ok(p) => p,
        Err(e) => {
            return report.problem(report::port_problem(
                &args.port,
                &e,
                on_running_kiosk::IDCARD,
            ));
        }
    };
    let config = ReaderConfig {
        command_timeout: Duration::from_secs(args.command_timeout.max(1)),
        ..ReaderConfig::default()
    };
    let heard = Heard::default();
    let mut reader = IdCardReader::new(Sniff::new(port, heard.clone()), config);

    match tokio::time::timeout(PROBE, reader.sam_status()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return report.problem(reader_problem(&e, args, &heard)),
        Err(_) => {
            let e = ReaderError::Timeout {
                command: "SAM status",
                timeout: PROBE,
            };
            return report.problem(reader_problem(&e, args, &heard));
        }
    }
    let sam = match reader.sam_id().await {
        Ok(sam) => sam,
        Err(e) => return report.problem(reader_problem(&e, args, &heard)),
    };
    report.fact("sam_id", "SAM id", sam.to_string());

    report::say(format!(
        "put an ID card flat on the reader within {} s",
        args.wait
    ));
    let outcome = tokio::select! {
        r = reader.wait_for_card(Duration::from_secs(args.wait)) => r,
        () = report::countdown(args.wait) => return,
    };
    let problem = match outcome {
        Err(e) => reader_problem(&e, args, &heard),
        Ok(WaitOutcome::Card(card)) => {
            if let serde_json::Value::Object(fields) = card_fields(&card, today) {
                for (k, v) in fields {
                    report.fact(&k, &k.replace('_', " "), v);
                }
            }
            return;
        }
        Ok(WaitOutcome::NoCard) => Problem::test(
            "no_card",
            format!("no card was read within {} s", args.wait),
        )
        .action(
            "put a card flat on the reader while the countdown runs (`--wait` gives more time); \
             if a card was there, try another, then check the reader's antenna and its power",
        ),
        Ok(WaitOutcome::CardRejected(status)) => Problem::test(
            "card_rejected",
            "the reader's security module refused the card",
        )
        .cause(status)
        .action(
            "try another card: a forged or damaged card is refused; if every card is \
                     refused, power the reader off and on",
        ),
        Ok(WaitOutcome::ReadFailed(status)) => {
            Problem::test("read_failed", "reading the card kept breaking off")
                .cause(status)
                .action("hold the card still and flat on the reader; try another card")
        }
        Ok(WaitOutcome::UnreadableText(e)) => Problem::test(
            "unreadable_text",
            "the card was read, but its text is of an unknown type or malformed",
        )
        .cause(e)
        .action(
            "try another card; if genuine cards of this type fail, tell the maintainers which type",
        ),
        Ok(other) => Problem::test("unreadable", "the card could not be read")
            .cause(format_args!("{other:?}"))
            .action("try another card"),
    };
    report.problem(problem);
}

/// The card's fields, masked: never the raw name, number or address, never the photo.
fn card_fields(card: &CardRead, today: idcard_reader::Date) -> serde_json::Value {
    use idcard_reader::CardText;
    let t = &card.text;
    let mut v = serde_json::json!({
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
