//! `telekiosk sim bill` and `telekiosk diag bill`: the banknote acceptor (纸币识别器),
//! ITL SSP/eSSP or JCM ID-003.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use bill_acceptor::id003::Id003;
use bill_acceptor::sim::{self, Action, SimConfig};
use bill_acceptor::ssp::{Ssp, SspConfig};
use bill_acceptor::{AcceptorEvent, AcceptorState, BillAcceptor, DeviceInfo, Protocol};
use serde::Serialize;
use tokio::sync::mpsc;

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

#[derive(Debug, Serialize)]
struct Report {
    protocol: &'static str,
    port: String,
    healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    serial: Option<String>,
    firmware: Option<String>,
    currency: Option<String>,
    /// Ascending.
    denominations_fen: Vec<u64>,
    encrypted: Option<bool>,
    state: Option<AcceptorState>,
    notes: Vec<NoteReport>,
    rejected: Vec<RejectReport>,
    problems: Vec<String>,
}

impl Report {
    fn new(protocol: Protocol, port: &std::path::Path) -> Self {
        Self {
            protocol: protocol_name(protocol),
            port: port.display().to_string(),
            healthy: false,
            error: None,
            serial: None,
            firmware: None,
            currency: None,
            denominations_fen: Vec::new(),
            encrypted: None,
            state: None,
            notes: Vec::new(),
            rejected: Vec::new(),
            problems: Vec::new(),
        }
    }

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
}

/// Records a device condition that makes the acceptor unhealthy.
fn note_problem(report: &mut Report, event: &AcceptorEvent) {
    let problem = match event {
        AcceptorEvent::Jam { safe: true } => "note jammed (safe jam)".to_string(),
        AcceptorEvent::Jam { safe: false } => "note jammed (unsafe jam)".to_string(),
        AcceptorEvent::StackerFull => "cashbox (stacker) full".to_string(),
        AcceptorEvent::CashboxRemoved => "cashbox removed".to_string(),
        AcceptorEvent::Fraud { .. } => "fraud attempt detected".to_string(),
        AcceptorEvent::Failure { code, text } => format!("device failure {code:#04x}: {text}"),
        AcceptorEvent::PowerUpNoteInCashbox { fen } => format!(
            "a note ({}) went into the cashbox at power-up: settle it",
            fen.map_or("value unknown".into(), |f| format!("{} yuan", yuan(f)))
        ),
        AcceptorEvent::DeviceLost { reason } => format!("device lost: {reason}"),
        _ => return,
    };
    if !report.problems.contains(&problem) {
        report.problems.push(problem);
    }
}

fn state_problem(state: AcceptorState) -> Option<&'static str> {
    match state {
        AcceptorState::Jammed => Some("acceptor is jammed"),
        AcceptorState::StackerFull => Some("cashbox (stacker) is full"),
        AcceptorState::CashboxOut => Some("cashbox is out"),
        AcceptorState::Failure => Some("acceptor reports a failure"),
        _ => None,
    }
}

const POLL: Duration = Duration::from_millis(200);

/// Talks to the acceptor; `Err` only for link failures (no answer, port error).
async fn run_diag<A: BillAcceptor>(
    acceptor: &mut A,
    accept_secs: Option<u64>,
    report: &mut Report,
) -> Result<(), bill_acceptor::Error> {
    let info = acceptor.connect().await?;
    report.fill(&info);
    // Two polls: conditions the device reports on its own (jam, cashbox out, power-up notes).
    for _ in 0..2 {
        for event in acceptor.poll().await? {
            note_problem(report, &event);
        }
        tokio::time::sleep(POLL).await;
    }
    if let Some(secs) = accept_secs {
        let all = report.denominations_fen.clone();
        acceptor.enable(&all).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
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
                            report.notes.push(NoteReport {
                                fen,
                                action: "returned",
                            });
                        }
                        Err(e) => {
                            report.notes.push(NoteReport {
                                fen,
                                action: "return-failed",
                            });
                            report
                                .problems
                                .push(format!("could not return a test note: {e}"));
                        }
                    },
                    AcceptorEvent::Returned { .. } => outstanding = outstanding.saturating_sub(1),
                    AcceptorEvent::Credit { fen } => {
                        report.notes.push(NoteReport {
                            fen,
                            action: "credited",
                        });
                        report.problems.push(format!(
                            "a test note of {} yuan was taken into the cashbox",
                            yuan(fen)
                        ));
                    }
                    AcceptorEvent::Rejected { reason } => report.rejected.push(RejectReport {
                        code: reason.as_ref().map(|r| r.code),
                        reason: reason.map_or("no reason given".into(), |r| r.text.to_string()),
                    }),
                    other => note_problem(report, &other),
                }
            }
            tokio::time::sleep(POLL).await;
        }
        if !closed {
            acceptor.disable().await?;
        }
        for event in acceptor.poll().await? {
            note_problem(report, &event);
        }
    }
    report.state = Some(acceptor.state());
    Ok(())
}

fn print_text(report: &Report) {
    println!("bill acceptor on {}", report.port);
    println!("  protocol:      {}", report.protocol);
    if let Some(serial) = &report.serial {
        println!("  serial:        {serial}");
    }
    if let Some(fw) = &report.firmware {
        println!("  firmware:      {fw}");
    }
    if let Some(c) = &report.currency {
        let notes: Vec<String> = report.denominations_fen.iter().map(|&f| yuan(f)).collect();
        println!("  notes:         {c} {}", notes.join(", "));
    }
    if let Some(e) = report.encrypted {
        println!("  encrypted:     {}", if e { "yes (eSSP)" } else { "no" });
    }
    if let Some(s) = report.state {
        let s = serde_json::to_value(s)
            .ok()
            .and_then(|v| v.as_str().map(String::from));
        println!("  state:         {}", s.unwrap_or_default());
    }
    for n in &report.notes {
        println!("  test note:     {} yuan {}", yuan(n.fen), n.action);
    }
    for r in &report.rejected {
        println!("  rejected:      {}", r.reason);
    }
    println!(
        "  result:        {}",
        if report.healthy {
            "healthy"
        } else {
            "NOT healthy"
        }
    );
}

pub async fn diag(args: DiagArgs) -> anyhow::Result<ExitCode> {
    let protocol = Protocol::from(args.protocol);
    let mut report = Report::new(protocol, &args.port);
    let result: Result<(), String> = match devio::open_serial(&args.port, protocol.line_settings())
    {
        Err(e) => Err(format!("cannot open {}: {e}", args.port.display())),
        Ok(port) => {
            let r = match protocol {
                Protocol::Ssp => {
                    let mut ssp = Ssp::new(port, SspConfig::default());
                    run_diag(&mut ssp, args.accept_test, &mut report).await
                }
                Protocol::Id003 => {
                    let mut id003 = Id003::new(port);
                    run_diag(&mut id003, args.accept_test, &mut report).await
                }
            };
            r.map_err(|e| e.to_string())
        }
    };
    let exit = match result {
        Err(e) => {
            report.error = Some(e.clone());
            eprintln!("bill acceptor: {e}");
            ExitCode::from(2)
        }
        Ok(()) => {
            if let Some(p) = report.state.and_then(state_problem) {
                let p = p.to_string();
                if !report.problems.contains(&p) {
                    report.problems.push(p);
                }
            }
            if report.problems.is_empty() {
                report.healthy = true;
                ExitCode::SUCCESS
            } else {
                for p in &report.problems {
                    eprintln!("bill acceptor: {p}");
                }
                ExitCode::from(1)
            }
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(exit)
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
