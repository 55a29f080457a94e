//! Command-line entry points for simulators and technician diagnostics.
//! One file per device; each owns its `SimArgs`, `DiagArgs`, `sim()` and `diag()`; every
//! `diag` reports in the one shape of [`report`].

pub mod bill;
pub mod camera;
pub mod dispenser;
pub mod idcard;
pub mod journal;
pub mod printer;
pub mod report;
pub mod service;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

/// A stable name for a simulator's pseudo-terminal (`--link /tmp/telekiosk/bill`), as udev
/// gives real devices one: a symbolic link, removed when the simulator stops.
#[derive(Debug)]
pub struct StableLink(Option<PathBuf>);

impl StableLink {
    /// Links `link` to `target` (replacing an old link there, never a file).
    pub fn create(link: Option<&Path>, target: &Path) -> anyhow::Result<Self> {
        let Some(link) = link else {
            return Ok(Self(None));
        };
        if let Some(dir) = link.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        match std::fs::symlink_metadata(link) {
            Ok(m) if m.file_type().is_symlink() => std::fs::remove_file(link)
                .with_context(|| format!("replacing {}", link.display()))?,
            Ok(_) => anyhow::bail!("{} exists and is not a link: not replaced", link.display()),
            Err(_) => {}
        }
        std::os::unix::fs::symlink(target, link)
            .with_context(|| format!("linking {} to {}", link.display(), target.display()))?;
        println!("stable name {} → {}", link.display(), target.display());
        Ok(Self(Some(link.to_path_buf())))
    }
}

impl Drop for StableLink {
    fn drop(&mut self) {
        if let Some(l) = &self.0 {
            let _ = std::fs::remove_file(l);
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Banknote acceptor (SSP or ID-003).
    Bill(bill::SimArgs),
    /// ESC/POS receipt printer.
    Printer(printer::SimArgs),
    /// Second-generation ID card reader (SAM_V).
    Idcard(idcard::SimArgs),
    /// Card dispenser with IC station and blank SIMs (CRT-591).
    Dispenser(dispenser::SimArgs),
    /// Simulated camera source.
    Camera(camera::SimArgs),
}

#[derive(Debug, Subcommand)]
pub enum DiagCommand {
    /// Banknote acceptor: identity, denominations, state; optional accept-and-return test.
    Bill(bill::DiagArgs),
    /// Receipt printer: status; optional test page.
    Printer(printer::DiagArgs),
    /// ID card reader: read a card, print masked fields.
    Idcard(idcard::DiagArgs),
    /// Card dispenser: stock, reject bin, card position; ICCID read and reject tests.
    Dispenser(dispenser::DiagArgs),
    /// Camera: capture, quality checks, snapshot.
    Camera(camera::DiagArgs),
}

impl SimCommand {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            SimCommand::Bill(a) => bill::sim(a).await,
            SimCommand::Printer(a) => printer::sim(a).await,
            SimCommand::Idcard(a) => idcard::sim(a).await,
            SimCommand::Dispenser(a) => dispenser::sim(a).await,
            SimCommand::Camera(a) => camera::sim(a).await,
        }
    }
}

impl DiagCommand {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            DiagCommand::Bill(a) => bill::diag(a).await,
            DiagCommand::Printer(a) => printer::diag(a).await,
            DiagCommand::Idcard(a) => idcard::diag(a).await,
            DiagCommand::Dispenser(a) => dispenser::diag(a).await,
            DiagCommand::Camera(a) => camera::diag(a).await,
        }
    }
}
