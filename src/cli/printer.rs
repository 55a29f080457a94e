//! `telekiosk sim printer` and `telekiosk diag printer`: the ESC/POS receipt printer.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use receipt_printer::sim::{self, SimConfig, SimControl};
use receipt_printer::usb::{self, UsbSelector};
use receipt_printer::{
    DEFAULT_LINE, NotPrintedReason, Paper, PrintOutcome, Printer, PrinterConfig, PrinterStatus,
    Receipt, WIDTH_80MM,
};
use tokio::sync::mpsc;

use super::report::{self, Heard, Problem, Report, Sniff, on_running_kiosk};

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Folder for the rendered receipts (NNN.png and NNN.txt).
    #[arg(long, default_value = "out/printer")]
    out: PathBuf,
    /// Control lines applied before the first byte (same syntax as standard input):
    /// `paper ok|near-end|out`, `paper-out-after N`, `cover open|closed`, `offline`, `online`,
    /// `error on|off`; `#` starts a comment.
    #[arg(long)]
    script: Option<PathBuf>,
    /// Also make this stable name (a symbolic link) for the pseudo-terminal.
    #[arg(long)]
    link: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DiagArgs {
    /// Serial port of the printer (or the simulator's pseudo-terminal).
    #[arg(long, required_unless_present = "usb", conflicts_with = "usb")]
    port: Option<PathBuf>,
    /// USB printer by VID:PID in hexadecimal, e.g. 0483:5720, or `any` for the first
    /// printer-class device.
    #[arg(long, value_parser = parse_usb)]
    usb: Option<UsbSelector>,
    /// Serial line speed (8N1).
    #[arg(long, default_value_t = DEFAULT_LINE.baud)]
    baud: u32,
    /// Machine-readable report on standard output.
    #[arg(long)]
    json: bool,
    /// Print a test receipt (Chinese text, a QR code, a cut).
    #[arg(long)]
    test_page: bool,
}

fn parse_usb(s: &str) -> Result<UsbSelector, String> {
    s.parse()
}

/// Parses control lines: blank lines and `#` comments are skipped.
fn parse_controls(text: &str) -> anyhow::Result<Vec<SimControl>> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.parse::<SimControl>().map_err(anyhow::Error::msg))
        .collect()
}

pub async fn sim(args: SimArgs) -> anyhow::Result<ExitCode> {
    let initial = match &args.script {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading script {}", path.display()))?;
            parse_controls(&text).with_context(|| format!("script {}", path.display()))?
        }
        None => Vec::new(),
    };
    let pty = devio::Pty::new(DEFAULT_LINE).context("creating the pseudo-terminal")?;
    println!("receipt printer simulator on {}", pty.path().display());
    let _link = super::StableLink::create(args.link.as_deref(), pty.path())?;
    let (device, _guard) = pty.into_parts();
    let (control_tx, control_rx) = mpsc::channel(16);
    let (receipt_tx, mut receipts) = mpsc::channel(16);
    let config = SimConfig {
        out_dir: Some(args.out.clone()),
        initial,
    };
    let mut sim_task = tokio::spawn(sim::run(device, config, control_rx, receipt_tx));

    // Control lines from standard input, applied as they come (a plain thread: reading
    // stdin blocks).
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            match parse_controls(&line) {
                Ok(controls) => {
                    for c in controls {
                        if control_tx.blocking_send(c).is_err() {
                            return;
                        }
                        eprintln!("control applied: {}", line.trim());
                    }
                }
                Err(e) => eprintln!("{e:#}"),
            }
        }
    });

    loop {
        tokio::select! {
            r = receipts.recv() => {
                let Some(r) = r else { break };
                let file = r.files.as_ref().map(|(png, _)| png.display().to_string()).unwrap_or_default();
                let state = if r.paper.interrupted { " (interrupted)" } else { "" };
                println!("=== receipt {:03}{state} {file} ===", r.number);
                print!("{}", r.text);
            }
            done = &mut sim_task => {
                done.context("simulator task")?.context("simulator")?;
                break;
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The receipt `--test-page` prints.
fn test_page_receipt(link: &str) -> Receipt {
    Receipt::new(WIDTH_80MM)
        .title("打印机自检")
        .centre("telekiosk 测试页 TEST PAGE")
        .rule()
        .kv("链路", link)
        .kv("中文打印", "营业厅自助终端，中文正常")
        .kv("金额格式", "¥50.00")
        .rule()
        .qr("https://telekiosk.example/selftest")
        .centre("二维码可扫描即为正常")
        .feed(1)
        .cut()
}

fn paper_name(p: Paper) -> &'static str {
    match p {
        Paper::Ok => "ok",
        Paper::NearEnd => "near_end",
        Paper::Out => "out",
    }
}

pub async fn diag(args: DiagArgs) -> anyhow::Result<ExitCode> {
    let shown = match (&args.usb, &args.port) {
        (Some(selector), _) => selector.to_string(),
        (None, Some(port)) => port.display().to_string(),
        (None, None) => anyhow::bail!("give --port PATH or --usb VID:PID"),
    };
    let mut report = Report::new("printer", "receipt printer", shown);
    report::quiet(open_and_check(&args, &mut report)).await;
    Ok(report.finish(args.json))
}

/// Why a USB printer could not be opened.
fn usb_problem(selector: UsbSelector, e: &usb::UsbError) -> Problem {
    let text = e.to_string();
    let lower = text.to_lowercase();
    if matches!(e, usb::UsbError::NotFound(_)) {
        Problem::unreachable("no_such_port", format!("no USB printer found ({selector})"))
            .action("check the USB cable and the printer's power; `lsusb` lists the USB devices and their VID:PID")
    } else if lower.contains("busy") {
        Problem::unreachable(
            "port_in_use",
            format!("{selector} is in use by another program, probably the running kiosk"),
        )
        .cause(text)
        .action(report::in_use_action(None, on_running_kiosk::PRINTER))
    } else if lower.contains("access") || lower.contains("permission") {
        Problem::unreachable("permission_denied", format!("no permission to open {selector}"))
            .cause(text)
            .action("run as root, or give the kiosk's group the device with a udev rule (docs/technician.md, \"Real printers\")")
    } else {
        Problem::unreachable("cannot_open", format!("cannot open {selector}"))
            .cause(text)
            .action("check the USB cable, the printer's power and `--usb` (`lsusb`)")
    }
}

async fn open_and_check(args: &DiagArgs, report: &mut Report) {
    let config = PrinterConfig {
        reply_timeout: Duration::from_secs(2),
        ..PrinterConfig::default()
    };
    let heard = Heard::default();
    if let Some(selector) = args.usb {
        report.field("link", selector.to_string());
        report.line("link", selector.to_string());
        let pipe = match usb::open(selector) {
            Ok(p) => p,
            Err(e) => return report.problem(usb_problem(selector, &e)),
        };
        let printer = Printer::new(
            Sniff::new(pipe, heard.clone()),
            PrinterConfig {
                baud: None,
                ..config
            },
        );
        let link = selector.to_string();
        return run_diag(printer, &link, &link, &heard, args, report).await;
    }
    let Some(port) = &args.port else { return };
    let line = devio::LineSettings::n81(args.baud);
    let link = format!("{} {line}", port.display());
    report.field("link", &link);
    report.line("link", link.clone());
    let serial = match receipt_printer::open_serial(port, line) {
        Ok(s) => s,
        Err(e) => {
            return report.problem(report::port_problem(port, &e, on_running_kiosk::PRINTER));
        }
    };
    let printer = Printer::new(
        Sniff::new(serial, heard.clone()),
        PrinterConfig {
            baud: Some(args.baud),
            ..config
        },
    );
    run_diag(
        printer,
        &link,
        &port.display().to_string(),
        &heard,
        args,
        report,
    )
    .await
}

/// The problem of a printer that does not say it can print, and what to do.
fn not_ready(reason: NotPrintedReason) -> Problem {
    let action = match reason {
        NotPrintedReason::PaperOut => "load a new paper roll and close the cover",
        NotPrintedReason::CoverOpen => "close the paper cover",
        NotPrintedReason::PrinterError => {
            "open the cover, clear paper jammed at the cutter, close it; if the error stays, power the printer off and on"
        }
        NotPrintedReason::Offline => {
            "check the printer's panel (paper, cover, feed button) and its power"
        }
        _ => "check the printer's power and cable",
    };
    Problem::device("printer_not_ready", format!("printer not ready: {reason}")).action(action)
}

/// The problem of a printer that did not answer as one, with what came back.
fn link_problem(e: &receipt_printer::Error, port: &str, heard: &Heard, args: &DiagArgs) -> Problem {
    let speed = if args.usb.is_some() {
        String::new()
    } else {
        format!(
            ", the speed (`--baud`, now {}: the printer's DIP switches)",
            args.baud
        )
    };
    match e {
        receipt_printer::Error::Io(_) => {
            Problem::unreachable("port_failed", format!("the line to {port} failed"))
                .cause(e)
                .action("check the cable and the USB adapter (`dmesg` shows it leaving)")
        }
        receipt_printer::Error::Timeout { .. } if heard.count() == 0 => Problem::unreachable(
            "no_answer",
            format!("nothing answered the status request (DLE EOT) on {port}"),
        )
        .cause(e)
        .action(format!(
            "check the printer's power and cable, that {port} is its port{speed}, and that it is an ESC/POS printer with status replies"
        )),
        _ => Problem::unreachable(
            "unexpected_answer",
            heard.answer(port, "an ESC/POS printer"),
        )
        .cause(e)
        .action(format!(
            "check that {port} is the printer's port and not another device's{speed}"
        )),
    }
}

fn status_facts(report: &mut Report, status: &PrinterStatus) {
    report.fact("online", "online", status.online);
    report.fact("paper", "paper", paper_name(status.paper));
    report.field("cover_open", status.cover_open);
    report.line("cover", if status.cover_open { "open" } else { "closed" });
    report.fact("error", "error", status.error);
}

async fn run_diag<T: devio::Transport>(
    mut printer: Printer<T>,
    link: &str,
    port: &str,
    heard: &Heard,
    args: &DiagArgs,
    report: &mut Report,
) {
    let before: PrinterStatus = match printer.status().await {
        Ok(s) => s,
        Err(e) => return report.problem(link_problem(&e, port, heard, args)),
    };
    let mut status = before;
    let mut test_page_problem = None;
    let mut test_page = None;
    if args.test_page {
        match printer.print(&test_page_receipt(link)).await {
            Err(e) => return report.problem(link_problem(&e, port, heard, args)),
            Ok(PrintOutcome::Printed { .. }) => test_page = Some("printed".to_owned()),
            Ok(
                outcome @ (PrintOutcome::NotPrinted { reason }
                | PrintOutcome::Interrupted { reason }),
            ) => {
                test_page = Some(
                    serde_json::to_value(reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_else(|| "not_printed".into()),
                );
                if matches!(outcome, PrintOutcome::Interrupted { .. }) {
                    test_page_problem = Some(
                        Problem::device(
                            "test_page_interrupted",
                            format!("test page not printed (interrupted): {reason}"),
                        )
                        .action(match reason {
                            NotPrintedReason::PaperOut => "the roll ran out during the page: load a new roll, then print the test page again",
                            _ => "fix the printer (see its state above), then print the test page again",
                        }),
                    );
                } else if before.blocker() != Some(reason) {
                    test_page_problem = Some(
                        Problem::device(
                            "test_page_not_printed",
                            format!("test page not printed: {reason}"),
                        )
                        .action(
                            "fix the printer (see its state above), then print the test page again",
                        ),
                    );
                }
            }
        }
        // After a test page the paper may have changed: report the latest state we know.
        if let Ok(after) = printer.status().await {
            status = after;
        }
    }
    status_facts(report, &status);
    if let Some(tp) = &test_page {
        report.field("test_page", tp);
        report.line("test page", tp.replace('_', " "));
    }
    // One problem per cause: a page cut short by the paper running out is that problem,
    // not also "paper out".
    match test_page_problem {
        Some(p) => report.problem(p),
        None => {
            if let Some(reason) = before.blocker().or(status.blocker()) {
                report.problem(not_ready(reason));
            }
        }
    }
    if let Some(reason) = status.blocker()
        && !report
            .problems()
            .iter()
            .any(|p| p.message.ends_with(&reason.to_string()))
    {
        report.problem(not_ready(reason));
    }
    if status.paper == Paper::NearEnd {
        report.warning("paper near end: change the roll soon");
    }
}
