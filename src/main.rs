//! telekiosk — the self-service terminal of a mobile operator's shop.
//!
//! One binary: the kiosk itself (`run`), the device simulators (`sim`), the technician's
//! diagnostics (`diag`), the journal tools and, in the development build, the demo.
//! `anyhow` lives here at the edge only.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use telekiosk::{cli, run};

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
    /// Run the kiosk (as systemd starts it in a shop): --config /etc/telekiosk/kiosk.toml.
    Run(run::Args),
    /// Run the demo: the kiosk on simulated devices and the operator simulator.
    #[cfg(feature = "demo")]
    Demo(telekiosk::demo::Args),
    /// Start a device simulator on a pseudo-terminal and print its path.
    #[command(subcommand)]
    Sim(cli::SimCommand),
    /// Technician diagnostics on a bench: talk to one device and report its health (on a
    /// running kiosk use `service`).
    #[command(subcommand)]
    Diag(cli::DiagCommand),
    /// Service mode on the running kiosk, from a terminal: status, enter/exit, cash-box
    /// clearance, card restock, test receipt.
    Service(cli::service::Args),
    /// The transaction journal: list, show, check invariants, export.
    Journal(cli::journal::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Run(args) = cli.command {
        // The kiosk sets up its own logging from its configuration.
        return run::main(args);
    }
    telekiosk::logging::init("warn", telekiosk::logging::Format::Text);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("telekiosk: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        // The window runs on the main thread; the kiosk on the runtime's workers.
        #[cfg(feature = "demo")]
        Command::Demo(args) if !args.headless && telekiosk::ui::display_available() => {
            telekiosk::demo::run_with_window(args, &runtime)
        }
        command => runtime.block_on(async {
            match command {
                #[cfg(feature = "demo")]
                Command::Demo(args) => telekiosk::demo::run(args).await,
                Command::Sim(cmd) => cmd.run().await,
                Command::Diag(cmd) => cmd.run().await,
                Command::Service(args) => cli::service::run(args).await,
                Command::Journal(args) => cli::journal::run(args),
                Command::Run(_) => unreachable!("handled above"),
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
