//! A running kiosk runtime and the handles the demo and the tests drive it with.

use std::time::Duration;

use anyhow::bail;
use tokio::sync::{mpsc, watch};

use crate::config::KioskConfig;
use crate::run::{Extras, ScreenLink};
use crate::runtime::journal::JournalHandle;
use crate::runtime::kiosk::{Note, Options};
use crate::runtime::screen::{ScreenUpdate, UiEvent};

/// A running kiosk and the handles the demo and tests drive it with.
#[derive(Debug)]
pub struct DemoKiosk {
    pub screen: mpsc::Receiver<ScreenUpdate>,
    pub ui: mpsc::Sender<UiEvent>,
    pub notes: mpsc::UnboundedReceiver<Note>,
    pub journal: JournalHandle,
    /// The journal's SQLite file (to look at its bytes: what must never be in it).
    pub journal_path: std::path::PathBuf,
    pub stop: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<Result<(), crate::runtime::Error>>,
}

impl DemoKiosk {
    /// Builds and starts the kiosk runtime from `config`.
    pub fn start(config: &KioskConfig, options: Options) -> anyhow::Result<Self> {
        let (updates_tx, screen) = mpsc::channel(256);
        let (ui, events_rx) = mpsc::channel(64);
        let (notes_tx, notes) = mpsc::unbounded_channel();
        let (stop, shutdown) = watch::channel(false);
        let built = crate::run::build_any(
            config,
            Extras {
                screen: ScreenLink {
                    updates: updates_tx,
                    events: events_rx,
                },
                shutdown,
                logs: crate::logging::LogTail::default(),
                notes: Some(notes_tx),
                options,
            },
        )?;
        let journal = built.journal.clone();
        let task = tokio::spawn(built.kiosk.run());
        Ok(Self {
            screen,
            ui,
            notes,
            journal,
            journal_path: config.machine.journal.path.clone(),
            stop,
            task,
        })
    }

    /// Waits for a note that `pick` accepts (other notes are printed when `verbose`).
    pub async fn wait_note<T>(
        &mut self,
        within: Duration,
        mut pick: impl FnMut(&Note) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.notes.recv()).await {
                Ok(Some(n)) => {
                    if let Some(t) = pick(&n) {
                        return Ok(t);
                    }
                }
                Ok(None) => bail!("the kiosk stopped"),
                Err(_) => bail!("nothing came within {within:?}"),
            }
        }
    }
}

/// The runtime's timings for the demo: pending credits retried every 5 s instead of 30.
pub fn demo_options() -> Options {
    Options {
        retry_every: Duration::from_secs(5),
        ..Options::default()
    }
}
