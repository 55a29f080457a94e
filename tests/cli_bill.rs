//! The telekiosk binary: `sim bill` in one process, `diag bill --accept-test` in another,
//! talking over the simulator's pseudo-terminal, with a note inserted on the simulator's
//! standard input.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_telekiosk");

struct Sim {
    child: Child,
    stdin: ChildStdin,
    path: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(protocol: &str) -> Sim {
    let mut child = Command::new(BIN)
        .args(["sim", "bill", "--protocol", protocol])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("telekiosk sim bill starts");
    let stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).expect("first line");
    assert!(
        first.starts_with(&format!("bill acceptor ({protocol}) simulator on ")),
        "{first:?}"
    );
    let path = first.rsplit(" on ").next().unwrap().trim().to_string();
    // Keep draining stdout so the simulator never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut line = String::new();
        while stdout.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            line.clear();
        }
    });
    Sim { child, stdin, path }
}

fn accept_test_returns_the_note(protocol: &str) {
    let mut sim = start_sim(protocol);
    let diag = {
        let path = sim.path.clone();
        let protocol = protocol.to_string();
        std::thread::spawn(move || {
            Command::new(BIN)
                .args([
                    "diag",
                    "bill",
                    "--port",
                    &path,
                    "--protocol",
                    &protocol,
                    "--json",
                    "--accept-test",
                    "10",
                ])
                .output()
                .expect("telekiosk diag bill runs")
        })
    };
    // The customer stands at the bezel; the simulator takes the note once enabled.
    std::thread::sleep(Duration::from_millis(500));
    writeln!(sim.stdin, "insert 20").unwrap();
    sim.stdin.flush().unwrap();
    let out = diag.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "diag failed: {stderr}\n{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["device"], "bill");
    assert_eq!(report["port"], sim.path.as_str());
    assert_eq!(report["protocol"], protocol);
    assert_eq!(report["currency"], "CNY");
    assert_eq!(report["healthy"], true);
    assert_eq!(report["verdict"], "healthy");
    assert_eq!(report["exit_status"], 0);
    assert_eq!(report["accept_test"], "passed");
    assert_eq!(report["problems"], serde_json::json!([]));
    assert!(report["serial"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(report["state"].is_string());
    assert_eq!(
        report["denominations_fen"],
        serde_json::json!([100, 500, 1000, 2000, 5000, 10000])
    );
    assert_eq!(
        report["notes"],
        serde_json::json!([{"fen": 2000, "action": "returned"}])
    );
    // The technician was told what to do and how long they had, and what became of the note.
    assert!(
        stderr.contains("insert a note within 10 s"),
        "no prompt: {stderr}"
    );
    assert!(stderr.contains("5 s left"), "no countdown: {stderr}");
    assert!(
        stderr.contains("20 yuan note valued and handed back"),
        "{stderr}"
    );
}

#[test]
fn diag_ssp_accept_test_values_and_returns_a_note() {
    accept_test_returns_the_note("ssp");
}

#[test]
fn diag_id003_accept_test_values_and_returns_a_note() {
    accept_test_returns_the_note("id003");
}

#[test]
fn accept_test_without_a_note_is_not_passed() {
    let sim = start_sim("ssp");
    let out = Command::new(BIN)
        .args(["diag", "bill", "--port", &sim.path, "--accept-test", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("insert a note within 2 s"), "{stderr}");
    assert!(
        stdout.contains("accept test NOT passed: no note was inserted within 2 s"),
        "{stdout}"
    );
    assert!(stdout.contains("accept test:      NOT passed"), "{stdout}");
    let result = stdout.lines().last().unwrap_or_default();
    assert!(
        result.starts_with("  result:") && result.contains("test NOT passed"),
        "{stdout}"
    );
    assert!(!result.contains("healthy"), "{stdout}");

    let out = Command::new(BIN)
        .args([
            "diag",
            "bill",
            "--port",
            &sim.path,
            "--accept-test",
            "1",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["healthy"], false);
    assert_eq!(report["verdict"], "test_not_passed");
    assert_eq!(report["accept_test"], "not_passed");
    assert_eq!(report["problems"][0]["code"], "no_note");
    assert_eq!(report["problems"][0]["kind"], "test");
    // The device itself was fine: its identity is there.
    assert!(report["serial"].as_str().is_some_and(|s| !s.is_empty()));
}

#[test]
fn diag_without_a_device_fails_with_the_reason() {
    let out = Command::new(BIN)
        .args([
            "diag",
            "bill",
            "--port",
            "/dev/telekiosk-no-such-port",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/dev/telekiosk-no-such-port does not exist"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["healthy"], false);
    assert_eq!(report["verdict"], "unreachable");
    assert_eq!(report["exit_status"], 2);
    assert_eq!(report["problems"][0]["code"], "no_such_port");
    assert!(
        report["problems"][0]["action"]
            .as_str()
            .is_some_and(|a| a.contains("/dev/serial/by-id/")),
        "{report}"
    );
    // The cause is said once, not "No such file or directory: No such file or directory".
    let all = format!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains("directory: No such"), "{all}");
}

/// A pseudo-terminal nobody answers on, held open by this process as the running kiosk
/// holds its ports (tokio-serial needs a runtime to create it).
struct HeldPort {
    path: String,
    _held: Option<devio::SerialStream>,
    _pty: devio::Pty,
    _rt: tokio::runtime::Runtime,
}

fn port(held: bool) -> HeldPort {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _enter = rt.enter();
    let pty = devio::Pty::new(devio::LineSettings::n82(9600)).unwrap();
    let path = pty.path().to_string_lossy().into_owned();
    let held = held.then(|| devio::open_serial(&path, devio::LineSettings::n82(9600)).unwrap());
    drop(_enter);
    HeldPort {
        path,
        _held: held,
        _pty: pty,
        _rt: rt,
    }
}

#[test]
fn a_port_the_kiosk_holds_is_named_in_use_once_with_the_service_commands() {
    let port = port(true);
    let out = Command::new(BIN)
        .args(["diag", "bill", "--port", &port.path])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        all.matches("is in use by another program, probably the running kiosk")
            .count(),
        1,
        "{all}"
    );
    assert!(all.contains("telekiosk service status"), "{all}");
    assert!(all.matches("exclusive lock").count() <= 1, "{all}");
    assert!(
        stdout.starts_with(&format!("bill acceptor on {}\n", port.path)),
        "{stdout}"
    );

    let out = Command::new(BIN)
        .args(["diag", "bill", "--port", &port.path, "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problems"][0]["code"], "port_in_use");
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(1));
}

#[test]
fn the_wrong_protocol_is_named_within_seconds() {
    for (sim_protocol, asked, hint) in [
        ("id003", "ssp", "--protocol id003"),
        ("ssp", "id003", "--protocol ssp"),
    ] {
        let sim = start_sim(sim_protocol);
        let started = Instant::now();
        let out = Command::new(BIN)
            .args([
                "diag",
                "bill",
                "--port",
                &sim.path,
                "--protocol",
                asked,
                "--json",
            ])
            .output()
            .unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "{asked}: took {took:?}");
        assert_eq!(out.status.code(), Some(2), "{asked}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let problem = &report["problems"][0];
        assert_eq!(problem["code"], "wrong_protocol", "{report}");
        assert!(
            problem["action"].as_str().is_some_and(|a| a.contains(hint)),
            "{report}"
        );
    }
}

#[test]
fn a_silent_port_says_nothing_answered_within_seconds() {
    let port = port(false);
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["diag", "bill", "--port", &port.path])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "nothing answered on {}, neither as an SSP nor as an ID-003 acceptor",
            port.path
        )),
        "{stdout}"
    );
    assert!(stdout.contains("powered"), "{stdout}");
    assert!(stdout.contains("result:           NOT reached"), "{stdout}");
}

#[test]
fn sim_rejects_a_bad_script() {
    let dir = std::env::temp_dir().join(format!("telekiosk-bill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("bad.txt");
    std::fs::write(&script, "insert 20\ndance\n").unwrap();
    let out = Command::new(BIN)
        .args(["sim", "bill", "--script"])
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":2:") && stderr.contains("dance"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
