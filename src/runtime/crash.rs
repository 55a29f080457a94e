//! Crash points: named places in the engine where a test harness may kill the kiosk.
//!
//! With `TELEKIOSK_CRASH_AT=N`, the N-th crash point reached (counting from 1) prints
//! `CRASHPOINT N <name>` on standard error and then blocks forever, so that the harness
//! can SIGKILL the process at exactly that step. With `TELEKIOSK_CRASH_TRACE=1` every
//! point is printed as `CRASHPOINT-TRACE N <name>` and the run goes on: that is how the
//! harness learns how many steps a scenario has. Neither variable is set in production,
//! and then a crash point costs one relaxed atomic increment.

use std::io::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy)]
struct Settings {
    stop_at: Option<u64>,
    trace: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();
static COUNT: AtomicU64 = AtomicU64::new(0);

fn settings() -> Settings {
    *SETTINGS.get_or_init(|| Settings {
        stop_at: std::env::var("TELEKIOSK_CRASH_AT")
            .ok()
            .and_then(|v| v.parse().ok()),
        trace: std::env::var_os("TELEKIOSK_CRASH_TRACE").is_some(),
    })
}

/// Marks a step; see the module documentation.
pub async fn point(name: &str) {
    let s = settings();
    if s.stop_at.is_none() && !s.trace {
        return;
    }
    let n = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    let stop = s.stop_at == Some(n);
    {
        let mut err = std::io::stderr().lock();
        if s.trace {
            let _ = writeln!(err, "CRASHPOINT-TRACE {n} {name}");
        }
        if stop {
            let _ = writeln!(err, "CRASHPOINT {n} {name}");
        }
        let _ = err.flush();
    }
    if stop {
        // Wait for the harness's SIGKILL; never carry on past the chosen step.
        std::future::pending::<()>().await;
    }
}
