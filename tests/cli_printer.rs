//! `telekiosk sim printer` and `telekiosk diag printer` as a technician runs them.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// A running simulator, killed on drop.
struct Sim {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    errors: mpsc::Receiver<String>,
    path: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    fn start(out: &Path, script: Option<&Path>) -> Sim {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_telekiosk"));
        cmd.args(["sim", "printer", "--out"]).arg(out);
        if let Some(s) = script {
            cmd.arg("--script").arg(s);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = line_channel(stdout);
        let errors = line_channel(child.stderr.take().unwrap());
        let first = lines
            .recv_timeout(WAIT)
            .expect("simulator announces its port");
        let path = first
            .strip_prefix("receipt printer simulator on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Sim {
            child,
            stdin,
            lines,
            errors,
            path,
        }
    }

    /// Sends a control line on standard input and waits until the simulator took it.
    fn control(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        loop {
            let err = self
                .errors
                .recv_timeout(WAIT)
                .expect("the simulator acknowledges the control");
            if err == format!("control applied: {line}") {
                return;
            }
        }
    }

    /// Lines of stdout up to and including the next `---- cut ----`.
    fn receipt_text(&self) -> String {
        let mut text = String::new();
        loop {
            let line = self
                .lines
                .recv_timeout(WAIT)
                .expect("a receipt on the simulator's stdout");
            text.push_str(&line);
            text.push('\n');
            if line == "---- cut ----" || line == "---- paper out ----" {
                return text;
            }
        }
    }
}

fn diag(port: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_telekiosk"))
        .args(["diag", "printer", "--port", port])
        .args(extra)
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn status_and_test_page_through_the_simulator() {
    let dir = tempfile_dir("ok");
    let sim = Sim::start(&dir, None);

    let out = diag(&sim.path, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["device"], "printer");
    assert_eq!(report["verdict"], "healthy");
    assert_eq!(report["online"], true);
    assert_eq!(report["paper"], "ok");
    assert_eq!(report["cover_open"], false);
    assert!(report.get("test_page").is_none());

    let out = diag(&sim.path, &["--json", "--test-page"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["test_page"], "printed");

    let text = sim.receipt_text();
    assert!(text.contains("=== receipt 001"), "{text}");
    assert!(text.contains("打印机自检"), "{text}");
    assert!(text.contains("营业厅自助终端，中文正常"), "{text}");
    assert!(
        text.contains("[QR: https://telekiosk.example/selftest]"),
        "{text}"
    );
    assert!(text.ends_with("---- cut ----\n"));

    let png = std::fs::read(dir.join("001.png")).unwrap();
    let (w, h) = receipt_printer::sim::render::png_size(&png).unwrap();
    assert_eq!(w, 576);
    assert!(h > 300);
    let txt = std::fs::read_to_string(dir.join("001.txt")).unwrap();
    assert!(txt.contains("打印机自检"));
}

#[test]
fn paper_out_fails_the_diagnostic_with_the_reason() {
    let dir = tempfile_dir("out");
    let script = dir.join("script.txt");
    std::fs::write(&script, "# empty roll\npaper out\n").unwrap();
    let sim = Sim::start(&dir.join("receipts"), Some(&script));

    let out = diag(&sim.path, &["--json", "--test-page"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["paper"], "out");
    assert_eq!(report["online"], false);
    assert_eq!(report["test_page"], "paper_out");
    // Paper out is one problem, not also "test page not printed: paper out".
    assert_eq!(
        report["problems"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(
        report["problems"][0]["message"],
        "printer not ready: paper out"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("paper out"), "{stderr}");
}

#[test]
fn paper_running_out_mid_page_is_not_printed() {
    let dir = tempfile_dir("mid");
    let mut sim = Sim::start(&dir, None);
    sim.control("paper-out-after 3");

    let out = diag(&sim.path, &["--json", "--test-page"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = json(&out);
    assert_eq!(report["test_page"], "paper_out");
    assert_eq!(report["paper"], "out");
    assert_eq!(
        report["problems"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["problems"][0]["code"], "test_page_interrupted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");

    let text = sim.receipt_text();
    assert!(text.contains("(interrupted)"), "{text}");
    assert!(text.contains("打印机自检"));
    assert!(!text.contains("[QR:"));
}

/// A pseudo-terminal nobody answers on, optionally held open by this process as the
/// running kiosk holds its printer (tokio-serial needs a runtime to create it).
struct Port {
    path: String,
    _held: Option<devio::SerialStream>,
    _pty: devio::Pty,
    _rt: tokio::runtime::Runtime,
}

fn pty(held: bool) -> Port {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let enter = rt.enter();
    let pty = devio::Pty::new(devio::LineSettings::n81(9600)).unwrap();
    let path = pty.path().to_string_lossy().into_owned();
    let held = held.then(|| devio::open_serial(&path, devio::LineSettings::n81(9600)).unwrap());
    drop(enter);
    Port {
        path,
        _held: held,
        _pty: pty,
        _rt: rt,
    }
}

#[test]
fn silent_port_exits_2() {
    let port = pty(false);
    let started = std::time::Instant::now();
    let out = diag(&port.path, &["--json"]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2));
    let report = json(&out);
    assert_eq!(report["verdict"], "unreachable");
    let problem = &report["problems"][0];
    assert_eq!(problem["code"], "no_answer");
    assert_eq!(
        problem["message"],
        format!(
            "nothing answered the status request (DLE EOT) on {}",
            port.path
        )
    );
    assert!(
        problem["cause"]
            .as_str()
            .unwrap()
            .contains("did not answer")
    );
    assert!(problem["action"].as_str().unwrap().contains("--baud"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing answered"));
}

#[test]
fn a_port_the_kiosk_holds_is_named_in_use_once() {
    let port = pty(true);
    let out = diag(&port.path, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        all.matches("is in use by another program, probably the running kiosk")
            .count(),
        1,
        "{all}"
    );
    assert!(all.contains("telekiosk service test-receipt"), "{all}");
    // The cause once, not "Unable to acquire exclusive lock …: Unable to acquire …".
    assert!(all.matches("exclusive lock").count() <= 1, "{all}");
    assert!(stdout.contains("result:           NOT reached"), "{stdout}");

    // --json: one object on standard output even though the port never opened.
    let out = diag(&port.path, &["--json"]);
    assert_eq!(out.status.code(), Some(2));
    let report = json(&out);
    assert_eq!(report["device"], "printer");
    assert_eq!(report["healthy"], false);
    assert_eq!(report["problems"][0]["code"], "port_in_use");
}

#[test]
fn a_file_is_not_a_serial_port() {
    let dir = tempfile_dir("file");
    let file = dir.join("not-a-port");
    std::fs::write(&file, "").unwrap();
    let out = diag(file.to_str().unwrap(), &["--json"]);
    assert_eq!(out.status.code(), Some(2));
    let report = json(&out);
    assert_eq!(
        report["problems"][0]["message"],
        format!("{} is not a serial port (a regular file)", file.display())
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("typewriter"));
}

#[test]
fn open_cover_is_reported_in_plain_text() {
    let dir = tempfile_dir("silent");
    let sim = Sim::start(
        &dir,
        Some(&{
            let s = dir.join("s.txt");
            std::fs::write(&s, "cover open\n").unwrap();
            s
        }),
    );
    let out = diag(&sim.path, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!("receipt printer on {}\n", sim.path)),
        "{stdout}"
    );
    assert!(stdout.contains("\n  cover:            open\n"), "{stdout}");
    assert_eq!(
        stdout.matches("printer not ready: cover open").count(),
        1,
        "{stdout}"
    );
    assert!(stdout.contains("what to do:") && stdout.contains("close the paper cover"));
    assert!(
        stdout.ends_with("  result:           NOT healthy (exit status 1)\n"),
        "{stdout}"
    );
}

/// Forwards the lines of a child's pipe to a channel.
fn line_channel(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "telekiosk-cli-printer-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
