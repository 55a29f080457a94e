//! The kiosk runtime: one runtime for every customer service.
//!
//! - [`kiosk::Kiosk`] is the supervisor: one main loop that owns the kiosk's state
//!   (starting → in service ⇄ out of service ⇄ locked by head office ⇄ closed, → stopping),
//!   consumes every event — the screen, the devices (between sessions too), the operator's
//!   answers, head office's pushes, the clock, SIGTERM — runs the current customer's
//!   [`crate::flow::Flow`] and carries out its effects: journal writes on the journal thread
//!   ([`journal`]), device commands through the device managers ([`devices`]), operator
//!   requests as tasks whose answers come back tagged with the request and the session,
//!   paper through the printer. It feeds the systemd watchdog from that loop.
//! - [`recovery`] resolves at start-up whatever a crashed or powered-off run left.
//! - [`headoffice`] checks and applies configuration bundles, locks, diagnostics.
//! - [`screen`] is the contract with the screen.
//!
//! Every step that moves money passes a [`crash::point`], so tests can kill the process at
//! each one.

pub mod cards;
pub mod crash;
pub mod devices;
pub mod face;
pub mod headoffice;
pub mod idcard;
pub mod journal;
pub mod kiosk;
pub mod operator;
pub mod recovery;
pub mod screen;
pub mod service;
pub mod technician;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use receipt_printer::{PrintOutcome, PrinterHandle};

use crate::flow::PrintResult;
pub use kiosk::{Kiosk, KioskParts, Options};
pub use operator::{BossOperator, Operator};
pub use screen::{ScreenUpdate, UiEvent};

/// Errors that stop the kiosk. Device and operator trouble are not errors (the flows handle
/// them as events); a journal that cannot be written is: without it the kiosk must not take
/// money.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Journal(#[from] crate::journal::Error),
    #[error("the journal thread has stopped")]
    JournalStopped,
}

/// Clocks: monotonic for the flows' timeouts, wall time for the journal and the paper.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            start: Instant::now(),
        }
    }
}

impl Clock {
    pub fn mono_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
    pub fn unix_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// Prints a paper and says whether the printer confirmed it.
pub async fn print_on(printer: &PrinterHandle, paper: &receipt_printer::Receipt) -> PrintResult {
    match printer.print(paper.clone()).await {
        Ok(PrintOutcome::Printed { .. }) => PrintResult::Printed,
        Ok(other) => PrintResult::NotPrinted {
            reason: outcome_reason(&other),
        },
        Err(e) => PrintResult::NotPrinted {
            reason: format!("printer: {e}"),
        },
    }
}

fn outcome_reason(o: &PrintOutcome) -> String {
    use receipt_printer::NotPrintedReason as R;
    let (reason, interrupted) = match o {
        PrintOutcome::Printed { .. } => return "printed".into(),
        PrintOutcome::NotPrinted { reason } => (reason, false),
        PrintOutcome::Interrupted { reason } => (reason, true),
    };
    let code = match reason {
        R::PaperOut => "paper_out",
        R::CoverOpen => "cover_open",
        R::Offline => "offline",
        R::PrinterError => "printer_error",
        R::NoAnswer => "no_answer",
        #[allow(unreachable_patterns)]
        _ => "printer_fault",
    };
    if interrupted {
        format!("{code} (mid-receipt)")
    } else {
        code.to_string()
    }
}
