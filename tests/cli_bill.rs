//! The telekiosk binary: `sim bill` in one process, `diag bill --accept-test` in another,
//! talking over the simulator's pseudo-terminal, with a note inserted on the simulator's
//! standard input.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

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
    assert_eq!(report["protocol"], protocol);
    assert_eq!(report["currency"], "CNY");
    assert_eq!(report["healthy"], true);
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
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["healthy"], false);
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
