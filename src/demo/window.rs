//! The demo with a window: a person is the customer.

use std::process::ExitCode;

use tokio::sync::{mpsc, watch};

use super::{Args, World, WorldOptions, load_settings};
use crate::run::{Extras, ScreenLink};
use crate::runtime::kiosk::Options;

/// The demo with the real window: the kiosk runtime on the tokio runtime, the window on
/// this (the main) thread. A person is the customer; notes go in by typing simulator
/// commands (`insert 20`, `jam 50`, …) in the terminal.
pub fn run_with_window(args: Args, runtime: &tokio::runtime::Runtime) -> anyhow::Result<ExitCode> {
    let settings = load_settings(args.settings.as_deref())?;
    let (world, mut config) = runtime.block_on(async {
        let w = World::start_with(
            &args.out,
            args.protocol.into(),
            args.fresh,
            WorldOptions { today: args.today },
        )
        .await?;
        let cfg = w.config(&args.out, settings);
        anyhow::Ok((w, cfg))
    })?;
    config.machine.screen.fullscreen = args.fullscreen;
    config.machine.screen.orientation = if args.landscape {
        "landscape"
    } else {
        "portrait"
    }
    .into();
    let (updates_tx, updates_rx) = mpsc::channel(256);
    let (events_tx, events_rx) = mpsc::channel(64);
    let (stop, shutdown) = watch::channel(false);
    let built = runtime.block_on(async {
        crate::run::build_any(
            &config,
            Extras {
                screen: ScreenLink {
                    updates: updates_tx,
                    events: events_rx,
                },
                shutdown,
                logs: crate::logging::LogTail::default(),
                notes: None,
                options: Options {
                    calendar: world.today,
                    ..Options::default()
                },
            },
        )
    })?;
    let kiosk = runtime.spawn(built.kiosk.run());
    println!("the kiosk is ready. Touch 话费充值 to start a top-up (try 13800000000).");
    println!(
        "insert notes by typing here: `insert 20`, `insert 50`, `unknown`, `jam 10`, `clear-jam` …"
    );
    println!(
        "plan change and bills: 13800000000, service password 123456; the SMS code is in the \
         operator's outbox: `boss-sim --data {} sms --number 13800000000`; the owner's ID card: \
         type `place resident` (and `remove`; `list` shows the other cards)",
        world.boss_data.display()
    );
    let bill = world.bill.clone();
    let reader = world.id_reader.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            let verb = line.split_whitespace().next().unwrap_or_default();
            if matches!(verb, "place" | "remove" | "list") {
                match idcard_reader::sim::Control::parse(&line) {
                    Ok(Some(c)) => match reader.apply(&c) {
                        Ok(said) => println!("{said}"),
                        Err(e) => eprintln!("{e}"),
                    },
                    Ok(None) => {}
                    Err(e) => eprintln!("{e}"),
                }
                continue;
            }
            match bill_acceptor::sim::parse_line(&line) {
                Ok(Some(action)) => {
                    if bill.blocking_send(action).is_err() {
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => eprintln!("{e}"),
            }
        }
    });
    let shown = crate::ui::run_window(updates_rx, events_tx, crate::run::ui_options(&config));
    let _ = stop.send(true);
    let _ = runtime.block_on(kiosk);
    drop(world);
    shown?;
    Ok(ExitCode::SUCCESS)
}
