//! `telekiosk sim bill` and `telekiosk diag bill`: the banknote acceptor (纸币识别器),
//! ITL SSP/eSSP or JCM ID-003.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use bill_acceptor::id003::Id003;
use bill_acceptor::sim::{self, Action, SimConfig};
use bill_acceptor::ssp::{LinkConfig, Ssp, SspConfig};
use bill_acceptor::{AcceptorEvent, AcceptorState, BillAcceptor, DeviceInfo, Protocol};
use serde::Serialize;
use tokio::sync::mpsc;

use super::report::{self, Heard, Problem, Report, Sniff, on_running_kiosk};

/// Wire protocol on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolArg {
    /// ITL SSP / eSSP (NV9, NV10, NV200 …), 9600 8N2.
    Ssp,
    /// JCM ID-003 (iVIZION, UBA, WBA …), 9600 8E1.
    Id003,
}

impl From<ProtocolArg> for Protocol {
    fn from(p: ProtocolArg) -> Self {
        match p {
            ProtocolArg::Ssp => Protocol::Ssp,
            ProtocolArg::Id003 => Protocol::Id003,
        }
    }
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Ssp => "ssp",
        Protocol::Id003 => "id003",
    }
}

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Protocol the simulated acceptor speaks.
    #[arg(long, value_enum, default_value = "ssp")]
    protocol: ProtocolArg,
    /// Script run before standard input: one action per line (`insert 20`, `unknown`,
    /// `jam 50 unsafe`, `clear-jam`, `stacker-full`, `empty-stacker`, `remove-cashbox`,
    /// `replace-cashbox`, `power-cut-stacking`, `power-cut-escrow`, `fraud 100`,
    /// `wait 1.5`; `#` starts a comment).
    #[arg(long)]
    script: Option<PathBuf>,
    /// SSP only: do not require eSSP keys (the device answers clear commands).
    #[arg(long)]
    no_encryption: bool,
    /// Also make this stable name (a symbolic link) for the pseudo-terminal.
    #[arg(long)]
    link: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DiagArgs {
    /// Serial port of the acceptor (e.g. /dev/ttyUSB0) or a simulator's pseudo-terminal.
    #[arg(long)]
    port: PathBuf,
    /// Protocol the acceptor speaks.
    #[arg(long, value_enum, default_value = "ssp")]
    protocol: ProtocolArg,
    /// Machine-readable report on standard output.
    #[arg(long)]
    json: bool,
    /// Enable the acceptor for SECS seconds; every note inserted is valued and handed back
    /// from escrow (the test never keeps money).
    #[arg(long, value_name = "SECS")]
    accept_test: Option<u64>,
}

/// Formats fen as yuan: 2000 → "20", 50 → "0.50".
fn yuan(fen: u64) -> String {
    if fen.is_multiple_of(100) {
        format!("{}", fen / 100)
    } else {
        format!("{}.{:02}", fen / 100, fen % 100)
    }
}

fn read_stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(16);
    // A plain thread: a blocked stdin read must not keep the runtime from shutting down.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

async fn feed(line: &str, actions: &mpsc::Sender<Action>) -> anyhow::Result<()> {
    match sim::parse_line(line) {
        Ok(None) => Ok(()),
        Ok(Some(action)) => {
            println!("> {}", line.trim());
            actions
                .send(action)
                .await
                .map_err(|_| anyhow::anyhow!("the simulator has stopped"))
        }
        Err(e) => {
            eprintln!("bill simulator: {e}");
            Ok(())
        }
    }
}

pub async fn sim(args: SimArgs) -> anyhow::Result<ExitCode> {
    let protocol = Protocol::from(args.protocol);
    let mut config = SimConfig::cny(protocol);
    if args.no_encryption {
        config.encrypted = false;
    }
    let script = match &args.script {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the script {}", path.display()))?,
        ),
        None => None,
    };
    // Check the whole script before starting.
    if let Some(text) = &script {
        for (n, line) in text.lines().enumerate() {
            sim::parse_line(line)
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", args.script_name(), n + 1))?;
        }
    }
    let running = sim::spawn(config.clone()).context("starting the bill acceptor simulator")?;
    println!(
        "bill acceptor ({}) simulator on {}",
        protocol_name(protocol),
        running.path.display()
    );
    let _link = super::StableLink::create(args.link.as_deref(), &running.path)?;
    let notes: Vec<String> = config.denominations_fen.iter().map(|&f| yuan(f)).collect();
    println!(
        "{} notes {} yuan, serial {}, {}; one action per line on standard input (e.g. `insert 20`)",
        config.currency,
        notes.join("/"),
        config.serial,
        if protocol == Protocol::Ssp && config.encrypted {
            "eSSP keys required"
        } else {
            "no encryption"
        }
    );
    std::io::stdout().flush().ok();
    if let Some(text) = &script {
        for line in text.lines() {
            feed(line, &running.actions).await?;
        }
    }
    let mut stdin = read_stdin_lines();
    let mut task = running.task;
    loop {
        tokio::select! {
            line = stdin.recv() => match line {
                Some(line) => {
                    feed(&line, &running.actions).await?;
                    std::io::stdout().flush().ok();
                }
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
            done = &mut task => {
                return match done {
                    Ok(Ok(())) => Ok(ExitCode::SUCCESS),
                    Ok(Err(e)) => Err(anyhow::Error::new(e).context("bill acceptor simulator")),
                    Err(e) => Err(anyhow::Error::new(e).context("bill acceptor simulator task")),
                };
            }
        }
    }
    task.abort();
    Ok(ExitCode::SUCCESS)
}

impl SimArgs {
    fn script_name(&self) -> String {
        self.script
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }
}

/// One note seen during the accept test.
#[derive(Debug, Serialize)]
struct NoteReport {
    fen: u64,
    /// `returned` (handed back), `return-failed`, or `credited` (must never happen).
    action: &'static str,
}

#[derive(Debug, Serialize)]
struct RejectReport {
    code: Option<u8>,
    reason: String,
}

/// The acceptor's own fields of the report (`null` until the device said them).
#[derive(Debug, Default, Serialize)]
struct Facts {
    protocol: &'static str,
    serial: Option<String>,
    firmware: Option<String>,
    currency: Option<String>,
    /// Ascending.
    denominations_fen: Vec<u64>,
    encrypted: Option<bool>,
    state: Option<AcceptorState>,
    /// With `--accept-test` only: `passed` or `not_passed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    accept_test: Option<&'static str>,
    notes: Vec<NoteReport>,
    rejected: Vec<RejectReport>,
}

impl Facts {
    fn fill(&mut self, info: &DeviceInfo) {
        self.serial = Some(info.serial.clone());
        self.firmware = Some(info.firmware.clone());
        self.currency = Some(info.currency.clone());
        let mut fen: Vec<u64> = info.denominations.iter().map(|d| d.fen).collect();
        fen.sort_unstable();
        fen.dedup();
        self.denominations_fen = fen;
        self.encrypted = Some(info.encrypted);
    }

    fn notes_text(&self) -> String {
        let notes: Vec<String> = self.denominations_fen.iter().map(|&f| yuan(f)).collect();
        notes.join(", ")
    }
}

/// The problem a device condition reports, if it is one.
fn condition_problem(event: &AcceptorEvent) -> Option<Problem> {
    let p = match event {
        AcceptorEvent::Jam { safe: true } => {
            Problem::device("jam", "a note is jammed (safe jam: out of the customer's reach)")
                .action("open the acceptor and clear the note path; keep the note for the cash-box count")
        }
        AcceptorEvent::Jam { safe: false } => Problem::device(
            "jam",
            "a note is jammed where the customer can reach it (unsafe jam)",
        )
        .action("clear the note path at the bezel; the note is not credited"),
        AcceptorEvent::StackerFull => Problem::device("stacker_full", "the cashbox (stacker) is full")
            .action("empty the cashbox (清机: `telekiosk service clearance` on a running kiosk)"),
        AcceptorEvent::CashboxRemoved => Problem::device("cashbox_out", "the cashbox is out")
            .action("put the cashbox back and lock it"),
        AcceptorEvent::Fraud { .. } => Problem::device("fraud", "a fraud attempt was detected")
            .action("check the note path for string or tape"),
        AcceptorEvent::Failure { code, text } => {
            Problem::device("failure", format!("the acceptor reports failure {code:#04x}: {text}"))
                .action("power the acceptor off and on; if the failure stays, service the unit")
        }
        AcceptorEvent::PowerUpNoteInCashbox { fen } => Problem::device(
            "note_in_cashbox_at_power_up",
            format!(
                "a note ({}) went into the cashbox at power-up",
                fen.map_or("value unknown".into(), |f| format!("{} yuan", yuan(f)))
            ),
        )
        .action("settle it: on the kiosk start-up recovery credits it; on a bench, count it with the cash box"),
        AcceptorEvent::DeviceLost { reason } => {
            Problem::unreachable("device_lost", "the acceptor stopped answering")
                .cause(reason)
                .action("check the acceptor's power and cable")
        }
        _ => return None,
    };
    Some(p)
}

/// Records a device condition that makes the acceptor unhealthy (once per kind).
fn note_condition(report: &mut Report, event: &AcceptorEvent) {
    if let Some(p) = condition_problem(event)
        && !report.has(p.code)
    {
        report.problem(p);
    }
}

fn state_problem(state: AcceptorState) -> Option<Problem> {
    let p = match state {
        AcceptorState::Jammed => Problem::device("jam", "the acceptor is jammed")
            .action("open the acceptor and clear the note path"),
        AcceptorState::StackerFull => {
            Problem::device("stacker_full", "the cashbox (stacker) is full")
                .action("empty the cashbox (清机)")
        }
        AcceptorState::CashboxOut => Problem::device("cashbox_out", "the cashbox is out")
            .action("put the cashbox back and lock it"),
        AcceptorState::Failure => Problem::device("failure", "the acceptor reports a failure")
            .action("power the acceptor off and on; if the failure stays, service the unit"),
        _ => return None,
    };
    Some(p)
}

const POLL: Duration = Duration::from_millis(200);

/// The diagnostic gives up on a silent SSP line after 3 tries, 1 s apart (the kiosk keeps
/// the manual's 20): an SSP acceptor that is there answers SYNC at once.
fn diag_ssp_config(tries: u32) -> SspConfig {
    SspConfig {
        link: LinkConfig {
            max_tries: tries,
            ..LinkConfig::default()
        },
        ..SspConfig::default()
    }
}

/// Talks to the acceptor; `Err` only for link failures (no answer, port error). Whether
/// the connect went through shows in `facts.serial`.
async fn run_diag<A: BillAcceptor>(
    acceptor: &mut A,
    accept_secs: Option<u64>,
    facts: &mut Facts,
    report: &mut Report,
) -> Result<(), bill_acceptor::Error> {
    let info = acceptor.connect().await?;
    facts.fill(&info);
    // Two polls: conditions the device reports on its own (jam, cashbox out, power-up notes).
    for _ in 0..2 {
        for event in acceptor.poll().await? {
            if let AcceptorEvent::Returned { fen } = event {
                report.warning(format!(
                    "a note left in escrow ({}) was handed back at connect: give it to its owner",
                    fen.map_or("value unknown".into(), |f| format!("{} yuan", yuan(f)))
                ));
            }
            note_condition(report, &event);
        }
        tokio::time::sleep(POLL).await;
    }
    if let Some(secs) = accept_secs {
        accept_test(acceptor, secs, facts, report).await?;
    }
    facts.state = Some(acceptor.state());
    Ok(())
}

/// `--accept-test`: every note inserted within `secs` is valued and handed back.
async fn accept_test<A: BillAcceptor>(
    acceptor: &mut A,
    secs: u64,
    facts: &mut Facts,
    report: &mut Report,
) -> Result<(), bill_acceptor::Error> {
    let all = facts.denominations_fen.clone();
    acceptor.enable(&all).await?;
    report::say(format!(
        "accept test: insert a note within {secs} s ({} yuan) — it is valued and handed back, never kept",
        facts.notes_text()
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let notes = async {
        // Notes handed back whose return has not been seen yet.
        let mut outstanding = 0usize;
        let grace = Duration::from_secs(10);
        let mut closed = false;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline && (outstanding == 0 || now >= deadline + grace) {
                break;
            }
            if now >= deadline && !closed {
                // Past the test window: stop taking new notes while the last goes back.
                acceptor.disable().await?;
                closed = true;
            }
            for event in acceptor.poll().await? {
                match event {
                    AcceptorEvent::Escrow { fen } => match acceptor.return_note().await {
                        Ok(()) => {
                            outstanding += 1;
                            report::say(format!(
                                "  {} yuan note valued and handed back: take it from the bezel",
                                yuan(fen)
                            ));
                            facts.notes.push(NoteReport {
                                fen,
                                action: "returned",
                            });
                        }
                        Err(e) => {
                            facts.notes.push(NoteReport {
                                fen,
                                action: "return-failed",
                            });
                            report.problem(
                                Problem::device(
                                    "return_failed",
                                    format!("a {} yuan test note could not be handed back", yuan(fen)),
                                )
                                .cause(e)
                                .action("take the note out of the acceptor by hand and check the escrow"),
                            );
                        }
                    },
                    AcceptorEvent::Returned { .. } => outstanding = outstanding.saturating_sub(1),
                    AcceptorEvent::Credit { fen } => {
                        facts.notes.push(NoteReport {
                            fen,
                            action: "credited",
                        });
                        report.problem(
                            Problem::device(
                                "test_note_taken",
                                format!(
                                    "a test note of {} yuan was taken into the cashbox",
                                    yuan(fen)
                                ),
                            )
                            .action("count it with the cash box; service the acceptor: it must hold notes in escrow"),
                        );
                    }
                    AcceptorEvent::Rejected { reason } => {
                        let text = reason
                            .as_ref()
                            .map_or("no reason given".into(), |r| r.text.to_string());
                        report::say(format!("  note rejected ({text}): try another"));
                        facts.rejected.push(RejectReport {
                            code: reason.as_ref().map(|r| r.code),
                            reason: text,
                        });
                    }
                    other => note_condition(report, &other),
                }
            }
            tokio::time::sleep(POLL).await;
        }
        if !closed {
            acceptor.disable().await?;
        }
        for event in acceptor.poll().await? {
            note_condition(report, &event);
        }
        Ok::<_, bill_acceptor::Error>(())
    };
    tokio::select! {
        r = notes => r?,
        () = report::countdown(secs) => {}
    }
    let passed = !facts.notes.is_empty() && facts.notes.iter().all(|n| n.action == "returned");
    facts.accept_test = Some(if passed { "passed" } else { "not_passed" });
    if facts.notes.is_empty() && facts.rejected.is_empty() {
        report.problem(
            Problem::test(
                "no_note",
                format!("accept test NOT passed: no note was inserted within {secs} s"),
            )
            .action(
                "run it again and insert a note while the countdown runs (e.g. `--accept-test 30`); \
                 if a note went in and nothing happened, clean the acceptor's sensors and check its note path",
            ),
        );
    } else if facts.notes.is_empty() {
        let reasons: Vec<&str> = facts.rejected.iter().map(|r| r.reason.as_str()).collect();
        report.problem(
            Problem::test(
                "notes_rejected",
                format!(
                    "accept test NOT passed: every note inserted ({}) was rejected",
                    facts.rejected.len()
                ),
            )
            .cause(reasons.join("; "))
            .action(format!(
                "insert a genuine note the acceptor takes ({} yuan), flat and straight; if genuine notes \
                 keep being rejected, clean the sensors and check the acceptor's currency dataset",
                facts.notes_text()
            )),
        );
    }
    Ok(())
}

fn protocol_title(p: Protocol) -> &'static str {
    match p {
        Protocol::Ssp => "SSP",
        Protocol::Id003 => "ID-003",
    }
}

fn other_protocol(p: Protocol) -> Protocol {
    match p {
        Protocol::Ssp => Protocol::Id003,
        Protocol::Id003 => Protocol::Ssp,
    }
}

/// One attempt in `protocol`: the diagnostic itself, or (`accept_secs` `None`, quick) a
/// probe. The port is closed when it returns, so that the next attempt can open it.
async fn attempt(
    port: &std::path::Path,
    protocol: Protocol,
    ssp_tries: u32,
    accept_secs: Option<u64>,
    heard: &Heard,
    facts: &mut Facts,
    report: &mut Report,
) -> Result<Result<(), bill_acceptor::Error>, devio::Error> {
    let serial = devio::open_serial(port, protocol.line_settings())?;
    let serial = Sniff::new(serial, heard.clone());
    Ok(match protocol {
        Protocol::Ssp => {
            let mut ssp = Ssp::new(serial, diag_ssp_config(ssp_tries));
            run_diag(&mut ssp, accept_secs, facts, report).await
        }
        Protocol::Id003 => {
            let mut id003 = Id003::new(serial);
            run_diag(&mut id003, accept_secs, facts, report).await
        }
    })
}

/// Whether an acceptor speaking `protocol` answers on `port` (a connect, a few seconds at
/// most); what came back is added to `heard`.
async fn probe(port: &std::path::Path, protocol: Protocol, heard: &Heard) -> Option<Facts> {
    let mut facts = Facts::default();
    let mut scratch = Report::new("bill", "bill acceptor", "");
    let run = attempt(port, protocol, 2, None, heard, &mut facts, &mut scratch);
    match tokio::time::timeout(Duration::from_secs(6), run).await {
        Ok(Ok(Ok(()))) => Some(facts),
        _ => None,
    }
}

/// Explains a connect that failed, trying the other protocol when nothing understood ours.
async fn connect_failed(
    args: &DiagArgs,
    protocol: Protocol,
    error: bill_acceptor::Error,
    heard: &Heard,
    report: &mut Report,
) {
    use bill_acceptor::Error;
    let port = args.port.display().to_string();
    let asked = protocol_title(protocol);
    let problem = match error {
        Error::Io(e) => Problem::unreachable("port_failed", format!("the line to {port} failed"))
            .cause(e)
            .action("check the cable and the USB adapter (`dmesg` shows it leaving)"),
        Error::Encryption(why) => Problem::unreachable(
            "essp_keys",
            "an SSP acceptor answered, but the eSSP key exchange failed",
        )
        .cause(why)
        .action(
            "the acceptor's fixed eSSP key must be the kiosk's (0123456701234567 by default; a \
             machine builder's own key goes into the kiosk's configuration)",
        ),
        e @ Error::Refused { .. } => {
            Problem::device("refused", "the acceptor refused a command while connecting")
                .cause(e)
                .action("power the acceptor off and on; if it keeps refusing, service it")
        }
        e => {
            let other = other_protocol(protocol);
            let other_heard = Heard::default();
            match probe(&args.port, other, &other_heard).await {
                Some(found) => Problem::unreachable(
                    "wrong_protocol",
                    format!(
                        "no {asked} answer on {port}, but an {} acceptor answers there (firmware {}, serial {})",
                        protocol_title(other),
                        found.firmware.unwrap_or_default(),
                        found.serial.unwrap_or_default(),
                    ),
                )
                .action(format!(
                    "run again with `--protocol {0}`, and set protocol = \"{0}\" under \
                     [devices.bill_acceptor] in the kiosk's configuration",
                    protocol_name(other)
                )),
                None if heard.count() + other_heard.count() == 0 => Problem::unreachable(
                    "no_answer",
                    format!("nothing answered on {port}, neither as an SSP nor as an ID-003 acceptor"),
                )
                .cause(e)
                .action(format!(
                    "check that the acceptor is powered and its cable plugged in, that {port} is its \
                     port (`ls -l /dev/serial/by-id/`, `dmesg`), and that an ITL acceptor is set to \
                     SSP (not ccTalk) at address 0"
                )),
                None => Problem::unreachable(
                    "unexpected_answer",
                    format!(
                        "something answered on {port} ({}), but neither as an SSP nor as an ID-003 acceptor",
                        if heard.count() > 0 { heard.describe() } else { other_heard.describe() }
                    ),
                )
                .cause(e)
                .action(format!(
                    "check that {port} is the acceptor's port and not another device's \
                     (`ls -l /dev/serial/by-id/`); an ITL acceptor must be set to SSP, not ccTalk"
                )),
            }
        }
    };
    report.problem(problem);
}

fn add_lines(facts: &Facts, report: &mut Report) {
    report.line("protocol", facts.protocol);
    if let Some(serial) = &facts.serial {
        report.line("serial", serial.clone());
    }
    if let Some(fw) = &facts.firmware {
        report.line("firmware", fw.clone());
    }
    if let Some(c) = &facts.currency {
        report.line("notes", format!("{c} {}", facts.notes_text()));
    }
    if let Some(e) = facts.encrypted {
        report.line("encrypted", if e { "yes (eSSP)" } else { "no" });
    }
    if let Some(s) = facts.state {
        let s = serde_json::to_value(s)
            .ok()
            .and_then(|v| v.as_str().map(String::from));
        report.line("state", s.unwrap_or_default());
    }
    for n in &facts.notes {
        report.line("test note", format!("{} yuan {}", yuan(n.fen), n.action));
    }
    for r in &facts.rejected {
        report.line("rejected", r.reason.clone());
    }
    if let Some(t) = facts.accept_test {
        report.line(
            "accept test",
            if t == "passed" {
                "passed"
            } else {
                "NOT passed"
            },
        );
    }
}

pub async fn diag(args: DiagArgs) -> anyhow::Result<ExitCode> {
    let protocol = Protocol::from(args.protocol);
    let mut report = Report::new("bill", "bill acceptor", args.port.display().to_string());
    let mut facts = Facts {
        protocol: protocol_name(protocol),
        ..Facts::default()
    };
    report::quiet(async {
        let heard = Heard::default();
        let tries = 3;
        match attempt(
            &args.port,
            protocol,
            tries,
            args.accept_test,
            &heard,
            &mut facts,
            &mut report,
        )
        .await
        {
            Err(e) => report.problem(report::port_problem(&args.port, &e, on_running_kiosk::BILL)),
            Ok(Ok(())) => {}
            Ok(Err(e)) if facts.serial.is_none() => {
                connect_failed(&args, protocol, e, &heard, &mut report).await;
            }
            Ok(Err(e)) => report.problem(
                Problem::unreachable(
                    "link_lost",
                    "the acceptor stopped answering during the diagnostic",
                )
                .cause(e)
                .action("check the acceptor's power and cable, then run the diagnostic again"),
            ),
        }
    })
    .await;
    if let Some(p) = facts.state.and_then(state_problem)
        && !report.has(p.code)
    {
        report.problem(p);
    }
    add_lines(&facts, &mut report);
    report.fields(&facts);
    Ok(report.finish(args.json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_formatting() {
        assert_eq!(yuan(2000), "20");
        assert_eq!(yuan(50), "0.50");
        assert_eq!(yuan(105), "1.05");
    }
}
