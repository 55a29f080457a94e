//! `telekiosk sim dispenser` and `telekiosk diag dispenser` as a technician runs them:
//! the built binary as simulator, and again as diagnostics against its pseudo-terminal.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_telekiosk");

/// The simulator process, killed when the test ends.
struct Sim {
    child: Child,
    path: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(BIN)
            .args(["sim", "dispenser"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the simulator");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut first).expect("first line");
        // Keep draining its output so its console never blocks or breaks.
        std::thread::spawn(move || for _ in reader.lines() {});
        let path = first
            .trim()
            .strip_prefix("card dispenser simulator on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Sim { child, path }
    }

    fn control(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write control line");
        stdin.flush().expect("flush");
        // Give the simulator a moment to apply it (it answers `ok` on its stdout).
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

fn diag(path: &str, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(BIN)
        .args(["diag", "dispenser", "--port", path, "--json"])
        .args(extra)
        .output()
        .expect("run diag");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "diag printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[test]
fn healthy_dispenser_reports_status_and_reads_an_iccid() {
    let sim = Sim::start(&["--cards", "10"]);
    let (code, json, stderr) = diag(&sim.path, &["--read-iccid"]);
    assert_eq!(code, 0, "{json} {stderr}");
    assert_eq!(json["healthy"], true);
    assert_eq!(json["verdict"], "healthy");
    assert_eq!(json["problems"], serde_json::json!([]));
    assert_eq!(json["stacker"], "enough");
    assert_eq!(json["reject_bin_full"], false);
    assert_eq!(json["card_position"], "none");
    assert_eq!(json["firmware"], "CRT-591-M001");
    assert_eq!(json["sensors"]["s7"], true);
    let iccid = json["iccid"].as_str().expect("iccid");
    assert_eq!(iccid.len(), 20);
    assert!(iccid.starts_with("898600"), "{iccid}");
    assert!(luhn(iccid), "{iccid}");
    assert_eq!(json["sim_kind"], "usim");
    // The test card went to the reject bin.
    assert_eq!(json["reject_bin_count"], 1);

    let (code, json, _) = diag(&sim.path, &["--reject-test"]);
    assert_eq!(code, 0);
    assert_eq!(json["reject_test"], "passed");
    assert_eq!(json["reject_bin_count"], 2);
}

#[test]
fn a_2g_sim_is_read_too() {
    let sim = Sim::start(&["--cards", "3", "--kind", "2g"]);
    let (code, json, stderr) = diag(&sim.path, &["--read-iccid"]);
    assert_eq!(code, 0, "{json} {stderr}");
    assert_eq!(json["sim_kind"], "gsm");
    assert_eq!(json["stacker"], "low");
    assert_eq!(json["iccid"].as_str().map(str::len), Some(20));
}

#[test]
fn empty_stacker_fails_with_its_exit_code() {
    let sim = Sim::start(&["--cards", "0"]);
    let (code, json, stderr) = diag(&sim.path, &[]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["healthy"], false);
    assert_eq!(json["verdict"], "not_healthy");
    assert_eq!(json["stacker"], "empty");
    assert_eq!(json["problems"][0]["code"], "stacker_empty");
    assert_eq!(json["problems"][0]["kind"], "device");
    assert!(
        json["problems"][0]["action"]
            .as_str()
            .is_some_and(|a| a.contains("restock")),
        "{json}"
    );
    assert!(stderr.contains("stacker is empty"), "{stderr}");
}

#[test]
fn jam_reject_full_and_no_answer_have_their_exit_codes() {
    let script = std::env::temp_dir().join(format!("dispenser-jam-{}.txt", std::process::id()));
    std::fs::write(&script, "# a jammed channel\njam\n").unwrap();
    let mut sim = Sim::start(&["--script", script.to_str().unwrap()]);
    let (code, json, _) = diag(&sim.path, &[]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["problems"][0]["code"], "jam");
    // One problem per cause, even when every command answers "jam".
    let codes: Vec<&str> = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["code"].as_str())
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == "jam").count(), 1, "{json}");

    sim.control("clear-jam");
    sim.control("reject-full");
    let (code, json, _) = diag(&sim.path, &[]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["reject_bin_full"], true);
    assert_eq!(json["problems"][0]["code"], "reject_bin_full");

    sim.control("silent 100");
    let (code, json, _) = diag(&sim.path, &[]);
    assert_eq!(code, 2, "{json}");
    assert_eq!(json["verdict"], "unreachable");
    assert_eq!(json["problems"][0]["code"], "no_answer");
    assert!(
        json["problems"][0]["action"]
            .as_str()
            .is_some_and(|a| a.contains("--address") && a.contains("--baud")),
        "{json}"
    );
    let _ = std::fs::remove_file(script);
}

#[test]
fn a_port_the_kiosk_holds_is_named_in_use() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let enter = rt.enter();
    let pty = devio::Pty::new(devio::LineSettings::n81(9600)).unwrap();
    let path = pty.path().to_string_lossy().into_owned();
    let _held = devio::open_serial(&path, devio::LineSettings::n81(9600)).unwrap();
    drop(enter);
    let (code, json, stderr) = diag(&path, &[]);
    assert_eq!(code, 2, "{json}");
    assert_eq!(json["device"], "dispenser");
    assert_eq!(json["port"], path.as_str());
    assert_eq!(json["problems"][0]["code"], "port_in_use");
    assert!(
        json["problems"][0]["action"]
            .as_str()
            .is_some_and(|a| a.contains("telekiosk service status")),
        "{json}"
    );
    assert_eq!(
        stderr.matches("probably the running kiosk").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn a_missing_port_exits_2_like_every_device() {
    let (code, json, _) = diag("/dev/telekiosk-no-such-port", &[]);
    assert_eq!(code, 2);
    assert_eq!(json["exit_status"], 2);
    assert_eq!(
        json["problems"][0]["message"],
        "/dev/telekiosk-no-such-port does not exist"
    );
    assert_eq!(json["problems"][0]["cause"], serde_json::Value::Null);
}

/// Against a real CRT-591: `TELEKIOSK_DISPENSER_PORT=/dev/ttyS1 cargo test -p telekiosk
/// --test cli_dispenser --features hardware-tests`. Reads the status only (moves no card).
#[cfg(feature = "hardware-tests")]
#[test]
fn real_dispenser_answers_the_diagnostics() {
    let port = std::env::var("TELEKIOSK_DISPENSER_PORT")
        .expect("set TELEKIOSK_DISPENSER_PORT to the dispenser's serial port");
    let (code, json, stderr) = diag(&port, &[]);
    assert_ne!(code, 2, "no answer: {stderr}");
    assert!(json["stacker"].is_string(), "{json}");
    assert!(json["reject_bin_count"].is_number(), "{json}");
}
