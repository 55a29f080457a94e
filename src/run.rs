//! `telekiosk run` — the kiosk as it runs in a shop, and the one composition root: the
//! demo and the end-to-end tests build the very same kiosk through [`build`], only with
//! simulated devices and a simulated operator around it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};

use crate::boss::client::{BossClient, BossConfig};
use crate::config::{KioskConfig, Machine};
use crate::journal::Journal;
use crate::logging::LogTail;
use crate::runtime::BossOperator;
use crate::runtime::devices;
use crate::runtime::journal::JournalHandle;
use crate::runtime::kiosk::{Kiosk, KioskParts, Note, Options};
use crate::runtime::screen::{ScreenUpdate, UiEvent, describe};

/// `telekiosk run`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kiosk's configuration file (schema: docs/config.md).
    #[arg(
        long,
        env = "TELEKIOSK_CONFIG",
        default_value = "/etc/telekiosk/kiosk.toml"
    )]
    pub config: PathBuf,
    /// Only check the configuration (and the certificates and keys it names), then exit.
    #[arg(long)]
    pub check: bool,
}

/// Why the kiosk could not be put together (the configuration names something that is
/// not there or not usable). Devices are not in this list: a missing device does not stop
/// the kiosk.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("configuration key {key}: {reason}")]
    Key { key: &'static str, reason: String },
    #[error("the journal {path}: {source}")]
    Journal {
        path: String,
        #[source]
        source: crate::journal::Error,
    },
}

/// The channels between the kiosk and its screen.
#[derive(Debug)]
pub struct ScreenLink {
    /// What the kiosk tells the screen.
    pub updates: mpsc::Sender<ScreenUpdate>,
    /// What the screen tells the kiosk.
    pub events: mpsc::Receiver<UiEvent>,
}

/// Everything that is not in the configuration file.
#[derive(Debug)]
pub struct Extras {
    pub screen: ScreenLink,
    pub shutdown: watch::Receiver<bool>,
    pub logs: LogTail,
    pub notes: Option<mpsc::UnboundedSender<Note>>,
    pub options: Options,
}

/// A kiosk put together, ready to run, with handles its composer may want.
#[derive(Debug)]
pub struct Built {
    pub kiosk: Kiosk,
    pub journal: JournalHandle,
    pub client: BossClient,
}

/// Checks what the configuration names outside the file: the certificates, the kiosk's
/// key, head office's verifying key (the journal and the devices are not touched).
pub fn check_files(m: &Machine) -> Result<(), BuildError> {
    tls(m)?;
    verifying_key(m)?;
    Ok(())
}

fn verifying_key(m: &Machine) -> Result<ed25519_dalek::VerifyingKey, BuildError> {
    telekiosk_settings::bundle::load_verifying_key(&m.link.config_key).map_err(|e| {
        BuildError::Key {
            key: "link.config_key",
            reason: e.to_string(),
        }
    })
}

/// Puts the kiosk together from its configuration: journal, link, devices, runtime. Must
/// be called inside a tokio runtime.
pub fn build(config: &KioskConfig, extras: Extras) -> Result<Built, BuildError> {
    let m = &config.machine;
    check_files(m)?;
    if let Some(dir) = m.journal.path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| BuildError::Key {
            key: "journal.path",
            reason: format!("cannot create {}: {e}", dir.display()),
        })?;
    }
    let journal =
        Journal::open(&m.journal.path, &m.kiosk.id).map_err(|source| BuildError::Journal {
            path: m.journal.path.display().to_string(),
            source,
        })?;
    let journal = JournalHandle::spawn(journal).map_err(|e| BuildError::Key {
        key: "journal.path",
        reason: format!("cannot start the journal thread: {e}"),
    })?;
    let service =
        crate::runtime::service::bind(&m.service.socket).map_err(|e| BuildError::Key {
            key: "service.socket",
            reason: e.to_string(),
        })?;
    let (client, pushes) = link(m)?;
    let verifying_key = verifying_key(m)?;
    let d = &m.devices;
    let bill = d.bill_acceptor.clone().map(devices::spawn_bill_acceptor);
    let printer = d.printer.clone().map(devices::spawn_printer);
    let id_reader = d.id_reader.clone().map(devices::spawn_id_reader);
    let dispenser = d.dispenser.clone().map(devices::spawn_dispenser);
    let camera = d.camera.clone().map(devices::spawn_camera);
    let operator = Arc::new(BossOperator::new(client.clone()));
    let kiosk = Kiosk::new(KioskParts {
        kiosk_id: m.kiosk.id.clone(),
        journal: journal.clone(),
        operator,
        client: Some(client.clone()),
        pushes: Some(pushes),
        bill,
        printer,
        id_reader,
        dispenser,
        camera,
        settings: config.settings.clone(),
        verifying_key: Some(verifying_key),
        screen: extras.screen.updates,
        ui: extras.screen.events,
        shutdown: extras.shutdown,
        logs: extras.logs,
        notes: extras.notes,
        options: extras.options,
        service: Some(service),
    });
    Ok(Built {
        kiosk,
        journal,
        client,
    })
}

fn tls(m: &Machine) -> Result<Arc<rustls::ClientConfig>, BuildError> {
    use boss_protocol::pki;
    let l = &m.link;
    let key_err = |key: &'static str| {
        move |e: pki::PkiError| BuildError::Key {
            key,
            reason: e.to_string(),
        }
    };
    let ca = pki::load_certs(&l.ca).map_err(key_err("link.ca"))?;
    let cert = pki::load_certs(&l.cert).map_err(key_err("link.cert"))?;
    let key = pki::load_key(&l.key).map_err(key_err("link.key"))?;
    pki::client_config(&ca, cert, key).map_err(key_err("link.cert"))
}

type Link = (
    BossClient,
    mpsc::Receiver<crate::boss::client::PushDelivery>,
);

fn link(m: &Machine) -> Result<Link, BuildError> {
    let l = &m.link;
    let tls = tls(m)?;
    let server_name =
        rustls::pki_types::ServerName::try_from(l.server_name.clone()).map_err(|e| {
            BuildError::Key {
                key: "link.server_name",
                reason: e.to_string(),
            }
        })?;
    let mut cfg = BossConfig::new(l.address.clone(), server_name, tls);
    cfg.request_timeout = Duration::from_secs(l.request_timeout_secs);
    Ok(BossClient::spawn(cfg))
}

/// Stops the kiosk on SIGTERM (systemd) or SIGINT (Ctrl-C): `true` on the returned
/// channel.
pub fn stop_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot listen for SIGTERM/SIGINT");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
        }
        let _ = tx.send(true);
        // Keep the sender alive so the kiosk does not take a closed channel for a signal.
        std::future::pending::<()>().await;
    });
    rx
}

/// A screen that is not there (`display = "none"`): what it would show goes to the log.
pub fn log_screen(mut updates: mpsc::Receiver<ScreenUpdate>) {
    tokio::spawn(async move {
        while let Some(u) = updates.recv().await {
            tracing::debug!(screen = %describe(&u), "screen");
        }
    });
}

/// `telekiosk run`: loads and checks the configuration, sets up logging, runs the kiosk
/// (with its window on the main thread when there is a screen).
pub fn main(args: Args) -> ExitCode {
    let config = match KioskConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("telekiosk: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        return match check_files(&config.machine) {
            Ok(()) => {
                println!("configuration {} is valid", args.config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("telekiosk: {e}");
                ExitCode::from(2)
            }
        };
    }
    let logs = crate::logging::init(
        &config.machine.logging.level,
        crate::logging::Format::parse(&config.machine.logging.format),
    );
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("telekiosk: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let with_window = config.machine.screen.display == "window" && crate::ui::display_available();
    if config.machine.screen.display == "window" && !with_window {
        tracing::warn!(
            "no display found (DISPLAY / WAYLAND_DISPLAY unset): running without a screen"
        );
    }
    let (updates_tx, updates_rx) = mpsc::channel(256);
    let (events_tx, events_rx) = mpsc::channel(64);
    let built = runtime.block_on(async {
        let shutdown = stop_on_signals();
        build(
            &config,
            Extras {
                screen: ScreenLink {
                    updates: updates_tx,
                    events: events_rx,
                },
                shutdown,
                logs,
                notes: None,
                options: Options::default(),
            },
        )
    });
    let built = match built {
        Ok(b) => b,
        Err(e) => {
            eprintln!("telekiosk: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(kiosk = %config.machine.kiosk.id, config = %args.config.display(), "starting");
    let kiosk = runtime.spawn(built.kiosk.run());
    let result = if with_window {
        let options = ui_options(&config);
        let shown = crate::ui::run_window(updates_rx, events_tx, options);
        if let Err(e) = &shown {
            tracing::error!(error = %e, "the screen failed");
        }
        // The window is the kiosk: when it is gone, the kiosk stops too.
        kiosk.abort();
        runtime.block_on(kiosk)
    } else {
        let _keep = events_tx;
        runtime.block_on(async {
            log_screen(updates_rx);
            kiosk.await
        })
    };
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the kiosk stopped on an error");
            eprintln!("telekiosk: {e}");
            ExitCode::FAILURE
        }
        Err(e) if e.is_cancelled() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("telekiosk: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How the window looks, from the configuration.
pub fn ui_options(config: &KioskConfig) -> crate::ui::UiOptions {
    let s = &config.machine.screen;
    crate::ui::UiOptions {
        fullscreen: s.fullscreen,
        orientation: if s.orientation == "landscape" {
            crate::ui::Orientation::Landscape
        } else {
            crate::ui::Orientation::Portrait
        },
        language: if s.language == "en" {
            crate::ui::Language::English
        } else {
            crate::ui::Language::Chinese
        },
        elder: s.elder,
        branding: crate::runtime::screen::Branding::from_settings(&config.settings),
        services: crate::ui::default_services(),
    }
}

/// For `anyhow` callers.
pub fn build_any(config: &KioskConfig, extras: Extras) -> anyhow::Result<Built> {
    build(config, extras).context("putting the kiosk together")
}
