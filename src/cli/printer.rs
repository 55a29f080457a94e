//! `telekiosk sim printer` and `telekiosk diag printer`: the ESC/POS receipt printer.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use receipt_printer::sim::{self, SimConfig, SimControl};
use receipt_printer::usb::{self, UsbSelector};
use receipt_printer::{
    DEFAULT_LINE, Paper, PrintOutcome, Printer, PrinterConfig, PrinterStatus, Receipt, WIDTH_80MM,
};
use tokio::sync::mpsc;

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
fn test_page(link: &str) -> Receipt {
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
    let config = PrinterConfig {
        reply_timeout: Duration::from_secs(2),
        ..PrinterConfig::default()
    };
    if let Some(selector) = args.usb {
        let pipe = usb::open(selector).with_context(|| format!("opening {selector}"))?;
        let link = selector.to_string();
        let printer = Printer::new(
            pipe,
            PrinterConfig {
                baud: None,
                ..config
            },
        );
        return run_diag(printer, &link, &args).await;
    }
    let Some(port) = &args.port else {
        anyhow::bail!("give --port PATH or --usb VID:PID")
    };
    let line = devio::LineSettings::n81(args.baud);
    let serial = receipt_printer::open_serial(port, line)?;
    let link = format!("{} {line}", port.display());
    let printer = Printer::new(
        serial,
        PrinterConfig {
            baud: Some(args.baud),
            ..config
        },
    );
    run_diag(printer, &link, &args).await
}

async fn run_diag<T: devio::Transport>(
    mut printer: Printer<T>,
    link: &str,
    args: &DiagArgs,
) -> anyhow::Result<ExitCode> {
    let status: PrinterStatus = match printer.status().await {
        Ok(s) => s,
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({ "link": link, "error": e.to_string() })
                );
            }
            eprintln!("printer on {link}: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut problems = Vec::new();
    if let Some(reason) = status.blocker() {
        problems.push(format!("printer not ready: {reason}"));
    }
    let test_page = if args.test_page {
        let outcome = printer
            .print(&test_page(link))
            .await
            .context("printing the test page")?;
        let answer = match outcome {
            PrintOutcome::Printed { .. } => "printed".to_owned(),
            PrintOutcome::NotPrinted { reason } | PrintOutcome::Interrupted { reason } => {
                let kind = if matches!(outcome, PrintOutcome::Interrupted { .. }) {
                    "interrupted"
                } else {
                    "refused"
                };
                problems.push(format!("test page not printed ({kind}): {reason}"));
                serde_json::to_value(reason)?
                    .as_str()
                    .unwrap_or("not_printed")
                    .to_owned()
            }
        };
        Some(answer)
    } else {
        None
    };
    // After a test page the paper may have changed: report the latest state we know.
    let status = if args.test_page {
        printer.status().await.unwrap_or(status)
    } else {
        status
    };
    if args.json {
        let mut report = serde_json::json!({
            "link": link,
            "online": status.online,
            "paper": paper_name(status.paper),
            "cover_open": status.cover_open,
            "error": status.error,
            "healthy": problems.is_empty(),
        });
        if let (Some(tp), Some(obj)) = (&test_page, report.as_object_mut()) {
            obj.insert("test_page".into(), serde_json::Value::String(tp.clone()));
        }
        println!("{report}");
    } else {
        println!("link:       {link}");
        println!("online:     {}", if status.online { "yes" } else { "no" });
        println!("paper:      {}", paper_name(status.paper));
        println!(
            "cover:      {}",
            if status.cover_open { "open" } else { "closed" }
        );
        println!("error:      {}", if status.error { "yes" } else { "no" });
        if let Some(tp) = &test_page {
            println!("test page:  {tp}");
        }
    }
    if status.paper == Paper::NearEnd {
        eprintln!("warning: paper near end, change the roll soon");
    }
    if problems.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            eprintln!("{p}");
        }
        Ok(ExitCode::from(1))
    }
}
