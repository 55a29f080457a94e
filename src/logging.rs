//! Logging: to journald under systemd (structured, with priorities), to standard error
//! otherwise; and a small in-memory tail of recent lines and errors that diagnostics and the
//! technician read. Nothing personal is ever logged (numbers, names and ID numbers are masked
//! at the source: every type that holds them masks its `Debug`), so the tail holds none.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

/// How many recent lines and errors are kept.
const LINES: usize = 200;
const ERRORS: usize = 50;

/// One recent warning or error.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErrorLine {
    pub at_ms: i64,
    pub level: String,
    pub target: String,
    pub message: String,
}

/// The recent log lines and errors, shared with diagnostics.
#[derive(Debug, Clone, Default)]
pub struct LogTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    errors: Arc<Mutex<VecDeque<ErrorLine>>>,
}

impl LogTail {
    /// The last `n` lines, oldest first.
    pub fn lines(&self, n: usize) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .iter()
            .skip(lines.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    /// Recent warnings and errors, oldest first.
    pub fn errors(&self) -> Vec<ErrorLine> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    fn push(&self, line: String, error: Option<ErrorLine>) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == LINES {
            lines.pop_front();
        }
        lines.push_back(line);
        if let Some(e) = error {
            let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
            if errors.len() == ERRORS {
                errors.pop_front();
            }
            errors.push_back(e);
        }
    }

    /// A layer that feeds this tail.
    pub fn layer<S: tracing::Subscriber>(&self) -> TailLayer {
        TailLayer { tail: self.clone() }
    }
}

/// The layer behind [`LogTail`].
#[derive(Debug)]
pub struct TailLayer {
    tail: LogTail,
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.rest.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.rest.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for TailLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > tracing::Level::INFO {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let at_ms = now_ms();
        let line = format!(
            "{} {} {}: {}{}",
            crate::receipts::shop_time(at_ms),
            meta.level(),
            meta.target(),
            f.message,
            f.rest
        );
        let error = (*meta.level() <= tracing::Level::WARN).then(|| ErrorLine {
            at_ms,
            level: meta.level().to_string(),
            target: meta.target().to_owned(),
            message: format!("{}{}", f.message, f.rest),
        });
        self.tail.push(line, error);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// journald when standard error is connected to it (systemd sets `JOURNAL_STREAM`),
    /// text otherwise.
    Auto,
    Journald,
    Text,
}

impl Format {
    pub fn parse(s: &str) -> Self {
        match s {
            "journald" => Format::Journald,
            "text" => Format::Text,
            _ => Format::Auto,
        }
    }
}

/// Installs the global logger: `filter` (overridden by `TELEKIOSK_LOG`), the format, and
/// the tail. Returns the tail. Safe to call once per process.
pub fn init(filter: &str, format: Format) -> LogTail {
    let tail = LogTail::default();
    let env = EnvFilter::try_from_env("TELEKIOSK_LOG")
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let journald = match format {
        Format::Journald => true,
        Format::Text => false,
        Format::Auto => std::env::var_os("JOURNAL_STREAM").is_some(),
    };
    let registry = tracing_subscriber::registry()
        .with(env)
        .with(tail.layer::<tracing_subscriber::Registry>());
    if journald && let Ok(layer) = tracing_journald::layer() {
        let _ = registry
            .with(layer.with_syslog_identifier("telekiosk".into()))
            .try_init();
        return tail;
    }
    let _ = registry
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .try_init();
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_recent_lines_and_warnings() {
        let tail = LogTail::default();
        let subscriber =
            tracing_subscriber::registry().with(tail.layer::<tracing_subscriber::Registry>());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(n = 1, "first");
            tracing::debug!("not kept");
            tracing::warn!(device = "printer", "paper out");
        });
        let lines = tail.lines(10);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("first") && lines[0].contains("n=1"));
        let errors = tail.errors();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("paper out"));
        assert!(errors[0].message.contains("device=printer"));
    }
}
