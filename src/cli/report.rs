//! The one shape of every `telekiosk diag <device>` report (docs/technician.md, "Reading a
//! `diag` report"), its exit statuses, and what the diagnostics share to get there: the
//! explanation of a port that cannot be opened, and a look at what came back on the line.
//!
//! Text (standard output):
//!
//! ```text
//! bill acceptor on /dev/ttyUSB0
//!   protocol:         ssp
//!   serial:           …                    identity and state, one line each
//!   problem:          what is wrong        each problem once
//!     cause:          the underlying error
//!     what to do:     the next step
//!   warning:          …
//!   result:           NOT healthy (exit status 1)
//! ```
//!
//! JSON (`--json`): one object on standard output, whatever happened — `device`, `port`,
//! `verdict`, `healthy`, `exit_status`, the device's own fields, `problems` (`code`, `kind`,
//! `message`, `cause`, `action`) and `warnings`. Each problem is then also one line on
//! standard error, for the person watching.

use std::fmt::Display;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileTypeExt as _;
use std::path::Path;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::instrument::WithSubscriber as _;

/// Exit status: the device answered and is healthy; every test asked for passed.
pub const EXIT_HEALTHY: u8 = 0;
/// Exit status: the device answered, but reports a problem, or a test asked for did not pass.
pub const EXIT_NOT_HEALTHY: u8 = 1;
/// Exit status: the diagnostic could not talk to the device — the port cannot be opened (in
/// use, missing, not a serial port, no permission) or nothing usable answered on it.
/// clap's usage errors (a mistyped command line) exit 2 as well, with no report.
pub const EXIT_UNREACHABLE: u8 = 2;

/// How bad a problem is; the worst decides the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A test asked for did not pass, the device itself answering without faults.
    Test,
    /// The device answered and reports a fault.
    Device,
    /// The diagnostic could not talk to the device.
    Unreachable,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Test => "test",
            Kind::Device => "device",
            Kind::Unreachable => "unreachable",
        }
    }
}

/// One thing wrong: what, why, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Stable machine-readable name (`port_in_use`, `no_answer`, `jam`, …).
    pub code: &'static str,
    pub kind: Kind,
    /// What is wrong, in one line.
    pub message: String,
    /// The underlying error, if there is one worth showing.
    pub cause: Option<String>,
    /// The next step for the technician.
    pub action: Option<String>,
}

impl Problem {
    fn new(kind: Kind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            kind,
            message: message.into(),
            cause: None,
            action: None,
        }
    }

    /// The diagnostic could not talk to the device (exit status 2).
    pub fn unreachable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::Unreachable, code, message)
    }

    /// The device answered and reports a fault (exit status 1).
    pub fn device(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::Device, code, message)
    }

    /// A test asked for did not pass (exit status 1).
    pub fn test(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::Test, code, message)
    }

    pub fn cause(mut self, cause: impl Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    fn to_json(&self) -> Value {
        serde_json::json!({
            "code": self.code,
            "kind": self.kind.as_str(),
            "message": self.message,
            "cause": self.cause,
            "action": self.action,
        })
    }
}

/// The overall result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    TestNotPassed,
    NotHealthy,
    Unreachable,
}

impl Verdict {
    pub fn exit_status(self) -> u8 {
        match self {
            Verdict::Healthy => EXIT_HEALTHY,
            Verdict::TestNotPassed | Verdict::NotHealthy => EXIT_NOT_HEALTHY,
            Verdict::Unreachable => EXIT_UNREACHABLE,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::TestNotPassed => "test_not_passed",
            Verdict::NotHealthy => "not_healthy",
            Verdict::Unreachable => "unreachable",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::TestNotPassed => "test NOT passed",
            Verdict::NotHealthy => "NOT healthy",
            Verdict::Unreachable => "NOT reached: the device could not be talked to",
        }
    }
}

/// A diagnostic's report, filled as the diagnostic goes and printed once at the end.
#[derive(Debug)]
pub struct Report {
    device: &'static str,
    title: &'static str,
    port: String,
    fields: Map<String, Value>,
    lines: Vec<(String, String)>,
    problems: Vec<Problem>,
    warnings: Vec<String>,
}

/// Keys every report has; a device's own fields never use them.
const COMMON: [&str; 7] = [
    "device",
    "port",
    "verdict",
    "healthy",
    "exit_status",
    "problems",
    "warnings",
];

impl Report {
    /// `device` is the `diag` subcommand (`bill`), `title` what the technician calls it
    /// (`bill acceptor`), `port` where it was looked for.
    pub fn new(device: &'static str, title: &'static str, port: impl Into<String>) -> Self {
        Self {
            device,
            title,
            port: port.into(),
            fields: Map::new(),
            lines: Vec::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// A JSON field of the device's own (not shown in the text report).
    pub fn field(&mut self, key: &str, value: impl Serialize) {
        debug_assert!(!COMMON.contains(&key), "{key} is a common key");
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.fields.insert(key.to_owned(), value);
    }

    /// Every field of a serialisable struct (`null`s included).
    pub fn fields(&mut self, value: impl Serialize) {
        if let Ok(Value::Object(map)) = serde_json::to_value(value) {
            for (k, v) in map {
                self.field(&k, v);
            }
        }
    }

    /// A line of the text report (not in the JSON).
    pub fn line(&mut self, label: &str, text: impl Into<String>) {
        self.lines.push((label.to_owned(), text.into()));
    }

    /// A field shown in both: the text is the value (strings unquoted, `yes`/`no`); said
    /// again, it replaces the earlier value.
    pub fn fact(&mut self, key: &str, label: &str, value: impl Serialize) {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Bool(true) => "yes".into(),
            Value::Bool(false) => "no".into(),
            Value::Null => "—".into(),
            other => other.to_string(),
        };
        // A fact said again (a status read after a test) replaces the earlier line.
        match self.lines.iter_mut().find(|(l, _)| l == label) {
            Some((_, t)) => *t = text,
            None => self.line(label, text),
        }
        self.field(key, value);
    }

    /// Records a problem, once (the same code and message again is dropped).
    pub fn problem(&mut self, problem: Problem) {
        if !self
            .problems
            .iter()
            .any(|p| p.code == problem.code && p.message == problem.message)
        {
            self.problems.push(problem);
        }
    }

    /// Something to know that does not make the device unhealthy.
    pub fn warning(&mut self, warning: impl Into<String>) {
        let warning = warning.into();
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    pub fn has(&self, code: &str) -> bool {
        self.problems.iter().any(|p| p.code == code)
    }

    pub fn verdict(&self) -> Verdict {
        match self.problems.iter().map(|p| p.kind).max() {
            None => Verdict::Healthy,
            Some(Kind::Test) => Verdict::TestNotPassed,
            Some(Kind::Device) => Verdict::NotHealthy,
            Some(Kind::Unreachable) => Verdict::Unreachable,
        }
    }

    pub fn to_json(&self) -> Value {
        let verdict = self.verdict();
        let mut out = Map::new();
        out.insert("device".into(), self.device.into());
        out.insert("port".into(), self.port.clone().into());
        out.insert("verdict".into(), verdict.as_str().into());
        out.insert("healthy".into(), (verdict == Verdict::Healthy).into());
        out.insert("exit_status".into(), verdict.exit_status().into());
        for (k, v) in &self.fields {
            out.insert(k.clone(), v.clone());
        }
        out.insert(
            "problems".into(),
            Value::Array(self.problems.iter().map(Problem::to_json).collect()),
        );
        out.insert("warnings".into(), self.warnings.clone().into());
        Value::Object(out)
    }

    pub fn to_text(&self) -> String {
        fn row(out: &mut String, indent: &str, label: &str, text: &str) {
            let label = format!("{label}:");
            let width = 20usize.saturating_sub(indent.len());
            let pad = width.saturating_sub(label.chars().count()).max(1);
            out.push_str(&format!("{indent}{label}{:pad$}{text}\n", ""));
        }
        let mut out = format!("{} on {}\n", self.title, self.port);
        for (label, text) in &self.lines {
            row(&mut out, "  ", label, text);
        }
        for p in &self.problems {
            row(&mut out, "  ", "problem", &p.message);
            if let Some(c) = &p.cause {
                row(&mut out, "    ", "cause", c);
            }
            if let Some(a) = &p.action {
                row(&mut out, "    ", "what to do", a);
            }
        }
        for w in &self.warnings {
            row(&mut out, "  ", "warning", w);
        }
        let verdict = self.verdict();
        row(
            &mut out,
            "  ",
            "result",
            &format!(
                "{} (exit status {})",
                verdict.words(),
                verdict.exit_status()
            ),
        );
        out
    }

    /// Prints the report (text, or JSON with each problem also on standard error) and
    /// gives the exit status.
    pub fn finish(self, json: bool) -> ExitCode {
        if json {
            let text = serde_json::to_string_pretty(&self.to_json())
                .unwrap_or_else(|e| format!("{{\"error\": \"report not serialisable: {e}\"}}"));
            println!("{text}");
            for p in &self.problems {
                eprintln!("{} on {}: {}", self.title, self.port, p.message);
            }
        } else {
            print!("{}", self.to_text());
        }
        ExitCode::from(self.verdict().exit_status())
    }
}

/// What to do instead of `diag` on a kiosk that is running, per device.
pub mod on_running_kiosk {
    pub const BILL: &str =
        "`telekiosk service status` shows the acceptor as the running kiosk sees it";
    pub const PRINTER: &str = "`telekiosk service test-receipt` prints a test page through the running kiosk, `telekiosk service status` shows the printer's state";
    pub const IDCARD: &str =
        "`telekiosk service test-id-card` reads a card through the running kiosk";
    pub const DISPENSER: &str = "`telekiosk service status` shows the dispenser's stock and reject bin as the running kiosk sees them";
    pub const CAMERA: &str =
        "`telekiosk service test-camera` takes a photo through the running kiosk";
}

/// The action for a device held by another program (`running`: the service command;
/// `node`: the device node, for `fuser`).
pub fn in_use_action(node: Option<&str>, running: &str) -> String {
    let who = node.map_or(String::new(), |n| {
        format!(". `fuser -v {n}` shows which program holds it")
    });
    format!(
        "on a running kiosk use service mode through it: {running}; or stop the kiosk \
         (`sudo systemctl stop telekiosk`) to run `diag`, and start it again after{who}"
    )
}

/// Explains why a serial port could not be opened (one problem, the cause said once).
pub fn port_problem(port: &Path, err: &devio::Error, running: &str) -> Problem {
    let shown = port.display().to_string();
    let (kind, description) = match err {
        devio::Error::Open { source, .. } | devio::Error::Settings(source) => (
            io::Error::from(source.clone()).kind(),
            source.description.clone(),
        ),
        devio::Error::Io(e) => (e.kind(), e.to_string()),
        other => (io::ErrorKind::Other, other.to_string()),
    };
    let lower = description.to_lowercase();
    let metadata = std::fs::metadata(port);
    if matches!(&metadata, Err(e) if e.kind() == io::ErrorKind::NotFound) {
        return Problem::unreachable("no_such_port", format!("{shown} does not exist")).action(
            "check the path: `ls -l /dev/serial/by-id/` lists the serial devices plugged in \
                 (`dmesg` names a USB adapter just plugged); check the cable and that the \
                 device is powered",
        );
    }
    if lower.contains("lock") || lower.contains("busy") {
        return Problem::unreachable(
            "port_in_use",
            format!("{shown} is in use by another program, probably the running kiosk"),
        )
        .cause(description)
        .action(in_use_action(Some(&shown), running));
    }
    if kind == io::ErrorKind::PermissionDenied {
        return Problem::unreachable(
            "permission_denied",
            format!("no permission to open {shown}"),
        )
        .action(
            "run as root, or as a user in the `dialout` group \
                 (`sudo usermod -aG dialout $USER`, then log in again)",
        );
    }
    let what = match &metadata {
        Ok(m) if m.is_dir() => Some("a directory"),
        Ok(m) if m.is_file() => Some("a regular file"),
        Ok(m) if !m.file_type().is_char_device() => Some("not a device"),
        _ if lower.contains("typewriter") || lower.contains("inappropriate ioctl") => {
            Some("a device, but not a terminal")
        }
        _ => None,
    };
    if let Some(what) = what {
        return Problem::unreachable(
            "not_a_serial_port",
            format!("{shown} is not a serial port ({what})"),
        )
        .action("give the device's serial port, e.g. /dev/ttyUSB0 or a /dev/serial/by-id/ name");
    }
    Problem::unreachable("cannot_open", format!("cannot open {shown}"))
        .cause(description)
        .action("check the path, the cable and the permissions (`dialout` group)")
}

/// What came back on the line during a diagnostic, seen by [`Sniff`].
#[derive(Debug, Clone, Default)]
pub struct Heard(Arc<Mutex<(usize, Vec<u8>)>>);

/// How many of the first bytes heard are kept to show.
const FIRST_BYTES: usize = 12;

impl Heard {
    fn record(&self, bytes: &[u8]) {
        if let Ok(mut g) = self.0.lock() {
            g.0 += bytes.len();
            let room = FIRST_BYTES.saturating_sub(g.1.len());
            g.1.extend(bytes.iter().take(room));
        }
    }

    /// Bytes received so far.
    pub fn count(&self) -> usize {
        self.0.lock().map(|g| g.0).unwrap_or(0)
    }

    /// "nothing", or "7 bytes (06 15 …)".
    pub fn describe(&self) -> String {
        let Ok(g) = self.0.lock() else {
            return "unknown".into();
        };
        if g.0 == 0 {
            return "nothing".into();
        }
        let hex: Vec<String> = g.1.iter().map(|b| format!("{b:02X}")).collect();
        let more = if g.0 > g.1.len() { " …" } else { "" };
        format!(
            "{} byte{} ({}{more})",
            g.0,
            if g.0 == 1 { "" } else { "s" },
            hex.join(" ")
        )
    }

    /// "nothing answered on PORT" or "something answered on PORT (n bytes …), but not as WHAT".
    pub fn answer(&self, port: &str, what: &str) -> String {
        if self.count() == 0 {
            format!("nothing answered on {port}")
        } else {
            format!(
                "something answered on {port} ({}), but not as {what}",
                self.describe()
            )
        }
    }
}

/// A transport that notes what it receives (so a diagnostic can say whether anything
/// answered at all) and otherwise only passes bytes through.
#[derive(Debug)]
pub struct Sniff<T> {
    inner: T,
    heard: Heard,
}

impl<T> Sniff<T> {
    pub fn new(inner: T, heard: Heard) -> Self {
        Self { inner, heard }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Sniff<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &result
            && let Some(new) = buf.filled().get(before..)
        {
            this.heard.record(new);
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Sniff<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Runs a diagnostic with the drivers' own log lines off: the report says what matters,
/// once. `TELEKIOSK_LOG=debug` (or any filter) shows them again.
pub async fn quiet<F: Future>(diagnostic: F) -> F::Output {
    if std::env::var_os("TELEKIOSK_LOG").is_some() {
        diagnostic.await
    } else {
        diagnostic
            .with_subscriber(tracing::subscriber::NoSubscriber::default())
            .await
    }
}

/// A line for the person at the device (a prompt, a countdown) on standard error, so that
/// standard output stays the report.
pub fn say(text: impl Display) {
    eprintln!("{text}");
}

/// Counts a test window of `secs` down on standard error ("25 s left", every 5 s), then
/// waits for ever: run it beside the test, which ends first.
pub async fn countdown(secs: u64) {
    let start = tokio::time::Instant::now();
    let mut left = secs;
    while left > 5 {
        let next = left - if left.is_multiple_of(5) { 5 } else { left % 5 };
        tokio::time::sleep_until(start + std::time::Duration::from_secs(secs - next)).await;
        left = next;
        say(format!("  {left} s left"));
    }
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_problem_decides_the_verdict_and_exit_status() {
        let mut r = Report::new("bill", "bill acceptor", "/dev/x");
        assert_eq!(r.verdict(), Verdict::Healthy);
        r.problem(Problem::test("no_note", "no note"));
        assert_eq!(r.verdict().exit_status(), 1);
        assert_eq!(r.to_json()["verdict"], "test_not_passed");
        r.problem(Problem::device("jam", "jammed"));
        assert_eq!(r.verdict(), Verdict::NotHealthy);
        r.problem(Problem::unreachable("no_answer", "nothing answered"));
        assert_eq!(r.verdict().exit_status(), 2);
        assert_eq!(r.to_json()["healthy"], false);
    }

    #[test]
    fn a_problem_is_listed_once_with_its_cause_and_action() {
        let mut r = Report::new("printer", "receipt printer", "/dev/x");
        for _ in 0..2 {
            r.problem(
                Problem::device("printer_not_ready", "printer not ready: paper out")
                    .cause("DLE EOT 4")
                    .action("load a roll"),
            );
        }
        let text = r.to_text();
        assert_eq!(text.matches("paper out").count(), 1, "{text}");
        assert!(text.contains("\n    cause:          DLE EOT 4\n"), "{text}");
        assert!(
            text.contains("\n    what to do:     load a roll\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\n  result:           NOT healthy (exit status 1)\n"),
            "{text}"
        );
        assert_eq!(r.to_json()["problems"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn heard_bytes_are_described() {
        let h = Heard::default();
        assert_eq!(
            h.answer("/dev/x", "a printer"),
            "nothing answered on /dev/x"
        );
        h.record(&[0x06, 0x15]);
        assert_eq!(h.describe(), "2 bytes (06 15)");
        h.record(&[0; 20]);
        assert!(h.describe().starts_with("22 bytes (06 15 00"));
        assert!(h.describe().ends_with(" …)"));
    }

    #[test]
    fn a_missing_port_and_a_regular_file_are_named() {
        let missing = Path::new("/dev/telekiosk-no-such-port");
        let e = devio::open_serial(missing, devio::LineSettings::n81(9600));
        let Err(e) = e else { panic!("opened") };
        let p = port_problem(missing, &e, "x");
        assert_eq!(p.code, "no_such_port");
        assert_eq!(p.message, "/dev/telekiosk-no-such-port does not exist");
        let file = Path::new("/etc/passwd");
        let Err(e) = devio::open_serial(file, devio::LineSettings::n81(9600)) else {
            panic!("opened")
        };
        let p = port_problem(file, &e, "x");
        assert_eq!(
            p.message,
            "/etc/passwd is not a serial port (a regular file)"
        );
    }
}
