//! `telekiosk service …`: a technician at a terminal (SSH) works on the running kiosk
//! through its service socket — status, entering and leaving service mode, cash-box
//! clearance (清机), card restock (放卡维护), a test receipt. With no kiosk running it says
//! so; `telekiosk diag …` remains for a bench without the kiosk.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args as ClapArgs, Subcommand};

use crate::runtime::service::{self, ServiceReply, ServiceRequest};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The kiosk's service socket (default: `[service] socket` of --config, else
    /// /run/telekiosk/service.sock).
    #[arg(long, global = true)]
    pub socket: Option<PathBuf>,
    /// The kiosk's configuration, to find its socket.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Print the kiosk's answer as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// The kiosk as a technician sees it: state, devices, link, cash box, cards, errors.
    Status,
    /// Service mode: customers see "being serviced" (the current one finishes first).
    Enter {
        #[arg(long)]
        technician: String,
    },
    /// Leave service mode: back into service, or out of service saying what is at fault.
    Exit,
    /// Cash-box clearance (清机) once the box is emptied: journaled, slip printed.
    Clearance {
        #[arg(long)]
        technician: String,
        /// Confirms the cash box was emptied.
        #[arg(long)]
        emptied: bool,
    },
    /// Card restock (放卡维护): blank SIMs added and/or the reject bin emptied.
    Restock {
        #[arg(long)]
        technician: String,
        /// Blank cards put into the stacker.
        #[arg(long, default_value_t = 0)]
        added: u32,
        /// The reject bin was emptied (its cards' ICCIDs are printed on the slip).
        #[arg(long)]
        bin_emptied: bool,
    },
    /// A test receipt through the kiosk's printer.
    TestReceipt,
    /// A photo through the kiosk's camera, checked for quality (the picture is not kept).
    TestCamera,
    /// The kiosk's recent log lines (masked) into a file.
    Logs {
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Reads an ID card placed on the reader (shown masked; nothing of it is kept).
    TestIdCard {
        /// Seconds to wait for the card.
        #[arg(long, default_value_t = 30)]
        wait: u32,
    },
    /// Insert a note: the acceptor reads it, holds it and hands it back (never kept).
    TestNote {
        /// Seconds to wait for the note.
        #[arg(long, default_value_t = 30)]
        wait: u32,
    },
    /// One blank card from the stacker, its ICCID read, into the reject bin.
    TestCard,
    /// Prints the argon2id hash of a PIN read from standard input, for `[[technician]]`
    /// `pin_hash` (needs no kiosk; the PIN is never stored).
    HashPin,
}

impl Action {
    fn request(&self) -> ServiceRequest {
        match self {
            Action::Status => ServiceRequest::Status,
            Action::Enter { technician } => ServiceRequest::Enter {
                technician: technician.clone(),
            },
            Action::Exit => ServiceRequest::Exit,
            Action::Clearance {
                technician,
                emptied,
            } => ServiceRequest::Clearance {
                technician: technician.clone(),
                emptied: *emptied,
            },
            Action::Restock {
                technician,
                added,
                bin_emptied,
            } => ServiceRequest::Restock {
                technician: technician.clone(),
                added: *added,
                bin_emptied: *bin_emptied,
            },
            Action::TestReceipt => ServiceRequest::TestReceipt,
            Action::TestIdCard { wait } => ServiceRequest::TestIdCard { wait_s: *wait },
            Action::Logs { .. } => ServiceRequest::Logs,
            Action::TestCamera => ServiceRequest::TestCamera,
            Action::TestNote { wait } => ServiceRequest::TestNote { wait_s: *wait },
            Action::TestCard => ServiceRequest::TestCard,
            // Answered here (see `run`), never sent.
            Action::HashPin => ServiceRequest::Status,
        }
    }
}

/// Exit codes: 0 done, 1 refused by the kiosk, 2 a self-test did not pass, 3 no kiosk
/// running (or no answer).
const EXIT_REFUSED: u8 = 1;
const EXIT_NOT_PASSED: u8 = 2;
const EXIT_NO_KIOSK: u8 = 3;

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let socket = match (&args.socket, &args.config) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) => crate::config::KioskConfig::load(c)?.machine.service.socket,
        (None, None) => service::default_socket(),
    };
    if matches!(args.action, Action::HashPin) {
        return hash_pin();
    }
    let request = args.action.request();
    let reply = match service::ask(&socket, &request).await {
        Ok(r) => r,
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": e.to_string()})
                );
            } else {
                eprintln!("telekiosk service: {e}");
            }
            return Ok(ExitCode::from(EXIT_NO_KIOSK));
        }
    };
    if let (Action::Logs { out }, true) = (&args.action, reply.ok) {
        let lines: Vec<String> = reply
            .result
            .as_ref()
            .and_then(|r| r["lines"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(str::to_owned))
            .collect();
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(out, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
        println!("{} log lines written to {}", lines.len(), out.display());
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reply)?);
    } else if reply.ok {
        print!("{}", words(&request, &reply));
    } else {
        eprint!("{}", words(&request, &reply));
    }
    let not_passed = reply.result.as_ref().and_then(|r| r["passed"].as_bool()) == Some(false);
    Ok(if !reply.ok {
        ExitCode::from(EXIT_REFUSED)
    } else if not_passed {
        ExitCode::from(EXIT_NOT_PASSED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The answer for a person at a terminal.
pub fn words(request: &ServiceRequest, reply: &ServiceReply) -> String {
    if !reply.ok {
        return format!(
            "refused: {}\n",
            reply.error.as_deref().unwrap_or("no reason given")
        );
    }
    let r = reply.result.clone().unwrap_or_default();
    let s = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    let yuan = |v: &serde_json::Value| crate::flow::yuan(v.as_u64().unwrap_or(0));
    let mut out = String::new();
    match request {
        ServiceRequest::Status | ServiceRequest::Enter { .. } | ServiceRequest::Exit => {
            out.push_str(&format!(
                "kiosk {} (telekiosk {}): {}\n",
                s(&r["kiosk"]),
                s(&r["version"]),
                s(&r["state"])
            ));
            if let Some(m) = r["service_mode"].as_object() {
                out.push_str(&format!(
                    "  service mode: technician {} since {}\n",
                    s(&m["technician"]),
                    crate::receipts::shop_time(m["since"].as_i64().unwrap_or(0))
                ));
            }
            if !r["waiting_to_enter"].is_null() {
                out.push_str(&format!(
                    "  {} waits for the customer at the screen ({}) to finish\n",
                    s(&r["waiting_to_enter"]),
                    s(&r["customer"])
                ));
            }
            for p in r["problems"].as_array().into_iter().flatten() {
                out.push_str(&format!("  problem: {}\n", s(p)));
            }
            out.push_str(&format!(
                "  link: {} ({}); configuration v{}\n",
                if r["link"]["up"].as_bool() == Some(true) {
                    "up"
                } else {
                    "down"
                },
                s(&r["link"]["state"]),
                s(&r["config_version"])
            ));
            for d in r["devices"].as_array().into_iter().flatten() {
                let identity = d["identity"]
                    .as_str()
                    .map(|i| format!(" [{i}]"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  {:<16} {:<10} {}{identity}\n",
                    s(&d["device"]),
                    s(&d["state"]),
                    s(&d["detail"])
                ));
            }
            out.push_str(&format!(
                "  cash box: {} in {} denominations; cards: {} blank, {} in the reject bin\n",
                yuan(&r["cash_box"]["total_fen"]),
                r["cash_box"]["notes"].as_array().map_or(0, Vec::len),
                s(&r["cards"]["in_stock"]),
                s(&r["cards"]["in_reject_bin"])
            ));
            let c = &r["counters"];
            let txns: Vec<String> = c["transactions"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(kind, states)| {
                    let by: Vec<String> = states
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(st, n)| format!("{n} {st}"))
                        .collect();
                    format!("{kind}: {}", by.join(", "))
                })
                .collect();
            out.push_str(&format!(
                "  counters: {}; {} notes; papers {}; cards {}\n",
                if txns.is_empty() {
                    "no transactions".to_owned()
                } else {
                    txns.join("; ")
                },
                s(&c["notes"]),
                s(&c["papers"]),
                s(&c["cards"])
            ));
            let errors = r["recent_errors"].as_array().cloned().unwrap_or_default();
            for e in errors.iter().rev().take(5) {
                out.push_str(&format!(
                    "  recent {}: {} — {}\n",
                    s(&e["level"]),
                    s(&e["target"]),
                    s(&e["message"])
                ));
            }
        }
        ServiceRequest::Clearance { .. } => {
            out.push_str(&format!(
                "cash box cleared (清机): {} by the journal\n",
                yuan(&r["total_fen"])
            ));
            for n in r["notes"].as_array().into_iter().flatten() {
                out.push_str(&format!("  {} × {}\n", yuan(&n[0]), s(&n[1])));
            }
            out.push_str(&format!("  settlement slip: {}\n", s(&r["slip"])));
        }
        ServiceRequest::Restock { .. } => {
            out.push_str(&format!(
                "cards restocked (放卡维护): {} added, {} blank in the stacker\n",
                s(&r["added"]),
                s(&r["in_stock"])
            ));
            if let Some(bin) = r["bin"].as_array() {
                out.push_str(&format!("  reject bin emptied: {} cards\n", bin.len()));
            }
            out.push_str(&format!("  slip: {}\n", s(&r["slip"])));
        }
        ServiceRequest::TestIdCard { .. } => {
            if r["problem"].is_null() {
                out.push_str(&format!(
                    "ID card read ({}): {} {} — expired: {}, check digit: {}, photo {} bytes\n",
                    s(&r["kind"]),
                    s(&r["name"]),
                    s(&r["id_number"]),
                    s(&r["expired"]),
                    s(&r["check_digit_ok"]),
                    s(&r["photo_bytes"])
                ));
            } else {
                out.push_str(&format!("no card read: {}\n", s(&r["problem"])));
            }
            out.push_str(&format!("  reader: {}\n", s(&r["reader"])));
        }
        ServiceRequest::TestCamera => {
            if r["problem"].is_null() {
                let q = &r["quality"];
                let issues: Vec<String> = q["issues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(&s)
                    .collect();
                out.push_str(&format!(
                    "camera {} ({}×{}): {} — brightness {:.0}, sharpness {:.0}, contrast {:.0}, clipped {:.1} %\n",
                    s(&r["camera"]["name"]),
                    s(&r["resolution"]["width"]),
                    s(&r["resolution"]["height"]),
                    if issues.is_empty() {
                        "good".to_owned()
                    } else {
                        issues.join(", ")
                    },
                    q["brightness"].as_f64().unwrap_or(0.0),
                    q["sharpness"].as_f64().unwrap_or(0.0),
                    q["contrast"].as_f64().unwrap_or(0.0),
                    q["clipped_fraction"].as_f64().unwrap_or(0.0) * 100.0
                ));
            } else {
                out.push_str(&format!("camera: {}\n", s(&r["problem"])));
            }
        }
        ServiceRequest::Logs => {
            out.push_str(&format!(
                "{} log lines\n",
                r["lines"].as_array().map_or(0, Vec::len)
            ));
        }
        ServiceRequest::TestReceipt => {
            out.push_str(&format!(
                "test receipt: {} ({})\n",
                s(&r["slip"]),
                s(&r["printer"])
            ));
        }
        ServiceRequest::TestNote { .. } | ServiceRequest::TestCard => {
            out.push_str(&format!(
                "{}: {}\n",
                if r["passed"].as_bool() == Some(true) {
                    "passed"
                } else {
                    "NOT passed"
                },
                s(&r["summary"])
            ));
        }
    }
    out
}

/// `telekiosk service hash-pin`: one line of standard input (the PIN, 4 to 12 digits) →
/// its argon2id PHC string on standard output.
fn hash_pin() -> anyhow::Result<ExitCode> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let pin = zeroize::Zeroizing::new(line.trim().to_owned());
    line.clear();
    if !(4..=12).contains(&pin.len()) || !pin.chars().all(|c| c.is_ascii_digit()) {
        eprintln!("telekiosk service hash-pin: a PIN is 4 to 12 digits (read from standard input)");
        return Ok(ExitCode::from(EXIT_REFUSED));
    }
    let hash = crate::runtime::technician::hash_pin(&pin).map_err(anyhow::Error::msg)?;
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}
