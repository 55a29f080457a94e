//! `telekiosk journal list|show|check|export`: the technician's and the shop's view of the
//! journal. Read-only: it opens the journal file but never changes a transaction.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::flow::yuan;
use crate::journal::{Journal, TxnRecord};
use crate::receipts::shop_time;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The journal file.
    #[arg(
        long,
        env = "TELEKIOSK_JOURNAL",
        default_value = "/var/lib/telekiosk/journal.sqlite"
    )]
    pub journal: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The most recent transactions.
    List {
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One transaction with its step log.
    Show { id: String },
    /// Verify the journal's invariants; exits non-zero naming each broken rule.
    Check {
        /// Accept open transactions (a kiosk that is running).
        #[arg(long)]
        allow_open: bool,
    },
    /// Every transaction with its steps as JSON lines on standard output.
    Export,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.journal.exists() {
        anyhow::bail!(
            "no journal at {} (set --journal or TELEKIOSK_JOURNAL)",
            args.journal.display()
        );
    }
    let journal = Journal::open(&args.journal, "")
        .with_context(|| format!("opening the journal {}", args.journal.display()))?;
    match args.command {
        Command::List { limit } => {
            let txns = journal.list(limit)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&txns)?);
            } else {
                println!(
                    "{:<30} {:<9} {:<12} {:>10} {:>10}  opened",
                    "transaction", "state", "number", "taken", "credited"
                );
                for t in &txns {
                    println!(
                        "{:<30} {:<9} {:<12} {:>10} {:>10}  {}",
                        t.id,
                        t.state.to_string(),
                        t.msisdn_masked,
                        yuan(fen(t.inserted_fen)),
                        yuan(fen(t.credited_fen)),
                        shop_time(t.opened_at)
                    );
                }
            }
        }
        Command::Show { id } => {
            let t = journal.get(&id)?;
            let steps = journal.steps(&id)?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"transaction": t, "steps": steps})
                    )?
                );
            } else {
                print_txn(&t);
                for s in steps {
                    println!(
                        "  {:>5} {} {:<8} {:<16} {}",
                        s.seq,
                        shop_time(s.at),
                        format!("{:?}", s.phase).to_lowercase(),
                        s.kind,
                        s.detail
                    );
                }
            }
        }
        Command::Check { allow_open } => {
            let report = journal.check(allow_open)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} transactions, {} notes, cash box {}",
                    report.transactions,
                    report.notes,
                    yuan(fen(report.cashbox_fen))
                );
            }
            if !report.is_ok() {
                for v in &report.violations {
                    eprintln!("broken rule {}: {}", v.rule, v.detail);
                }
                return Ok(ExitCode::FAILURE);
            }
            if !args.json {
                println!("all invariants hold");
            }
        }
        Command::Export => {
            let mut out = std::io::stdout().lock();
            journal.export(&mut out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_txn(t: &TxnRecord) {
    println!("transaction {} ({}), {}", t.id, t.kind, t.state);
    println!(
        "  number {}, taken {}, credited {}",
        t.msisdn_masked,
        yuan(fen(t.inserted_fen)),
        yuan(fen(t.credited_fen))
    );
    if let Some(r) = &t.boss_ref {
        println!("  operator reference {r}");
    }
    if let Some(v) = &t.voucher_id {
        println!("  refund voucher {v}");
    }
    if let Some(r) = &t.reason {
        println!("  reason: {r}");
    }
    println!("  receipt: {}", t.receipt.as_deref().unwrap_or("none"));
}

fn fen(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
