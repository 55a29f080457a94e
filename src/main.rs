//! telekiosk — the self-service terminal of a mobile operator's shop.
//!
//! One binary: the kiosk itself, the device simulators (`sim`), the technician's
//! diagnostics (`diag`) and the demo. `anyhow` lives here at the edge only.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use telekiosk::{cli, demo};

#[derive(Debug, Parser)]
#[command(
    name = "telekiosk",
    version,
    about = "Self-service terminal of a mobile operator's shop"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the demo: simulated devices, what the kiosk does with them.
    Demo(demo::Args),
    /// Start a device simulator on a pseudo-terminal and print its path.
    #[command(subcommand)]
    Sim(cli::SimCommand),
    /// Technician diagnostics: talk to one device and report its health.
    #[command(subcommand)]
    Diag(cli::DiagCommand),
    /// The transaction journal: list, show, check invariants, export.
    Journal(cli::journal::Args),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TELEKIOSK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("telekiosk: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        // The window runs on the main thread; the kiosk on the runtime's workers.
        Command::Demo(args) if !args.headless && telekiosk::ui::display_available() => {
            demo::run_with_window(args, &runtime)
        }
        command => runtime.block_on(async {
            match command {
                Command::Demo(args) => demo::run(args).await,
                Command::Sim(cmd) => cmd.run().await,
                Command::Diag(cmd) => cmd.run().await,
                Command::Journal(args) => cli::journal::run(args),
            }
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("telekiosk: {e:#}");
            ExitCode::FAILURE
        }
    }
}
