//! `telekiosk sim idcard` and `telekiosk diag idcard` as separate processes: the simulator
//! on a pseudo-terminal, the diagnostic reading each fixture card through it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_telekiosk");

struct Sim {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    path: String,
}

impl Sim {
    fn start(extra: &[&str]) -> Sim {
        let mut child = Command::new(BIN)
            .args(["sim", "idcard"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn simulator");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("simulator banner");
        let path = first
            .strip_prefix("ID card reader simulator on ")
            .unwrap_or_else(|| panic!("unexpected banner {first:?}"))
            .to_owned();
        Sim {
            child,
            stdin,
            lines,
            path,
        }
    }

    /// Sends a control line and waits for the simulator's acknowledgement.
    fn control(&mut self, line: &str, ack: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        let got = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("simulator ack");
        assert!(got.contains(ack), "{line}: got {got:?}");
        got
    }

    fn diag(&self, extra: &[&str]) -> Output {
        Command::new(BIN)
            .args([
                "diag",
                "idcard",
                "--port",
                &self.path,
                "--today",
                "2026-11-22",
            ])
            .args(extra)
            .output()
            .expect("run diag")
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Raw personal data of the fixtures that must never be printed.
const SECRETS: &[&str] = &[
    "王小明",
    "李长青",
    "赵过期",
    "孙小童",
    "钱校验",
    "陈港澳",
    "约翰",
    "玛丽亚",
    "孙建华",
    "罗刚",
    "黄海燕",
    "SAMPLE",
    "EXAMPLE",
    "110101199003071233",
    "310104198001014560",
    "510107197512127892",
    "440106199506151233",
    "533102196008150022",
    "640104198501020031",
    "310101201205200045",
    "330106197809090060",
    "810000198808080056",
    "USA110075040101",
    "931156198202140013",
    "H12345678",
    "测试路",
    "测试街",
    "测试巷",
    "测试弄",
    "测试大道",
];

fn assert_no_secrets(out: &Output) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for s in SECRETS {
        assert!(!all.contains(s), "{s:?} leaked in output:\n{all}");
    }
}

#[test]
fn diag_reads_every_card_type_masked() {
    let mut sim = Sim::start(&[]);
    let listed = {
        writeln!(sim.stdin, "list").unwrap();
        sim.stdin.flush().unwrap();
        let mut l = Vec::new();
        // One line per built-in card.
        for _ in 0..idcard_reader::sim::BUILTIN_FIXTURES.len() {
            l.push(
                sim.lines
                    .recv_timeout(Duration::from_secs(30))
                    .expect("list line"),
            );
        }
        l.join("\n")
    };
    for s in SECRETS {
        assert!(!listed.contains(s), "{s:?} leaked by list:\n{listed}");
    }

    let cases = [
        (
            "resident",
            "resident",
            "王**",
            "110101********1233",
            Some(true),
            false,
            "2040-01-01",
        ),
        (
            "resident_long_term",
            "resident",
            "李**",
            "533102********0022",
            Some(true),
            false,
            "long_term",
        ),
        (
            "resident_expired",
            "resident",
            "赵**",
            "640104********0031",
            Some(true),
            true,
            "2015-06-01",
        ),
        (
            "resident_minor",
            "resident",
            "孙**",
            "310101********0045",
            Some(true),
            false,
            "2027-06-01",
        ),
        (
            "resident_bad_check_digit",
            "resident",
            "钱**",
            "330106********0060",
            Some(false),
            false,
            "2038-01-01",
        ),
        (
            "hmt_residence",
            "hmt_residence",
            "陈**",
            "810000********0056",
            Some(true),
            false,
            "2031-01-01",
        ),
        (
            "foreign_permanent_2017",
            "foreign_permanent_2017",
            "约*",
            "USA110*****0101",
            None,
            false,
            "2029-03-01",
        ),
        (
            "foreign_permanent_2023",
            "foreign_permanent_2023",
            "玛**",
            "931156********0013",
            Some(true),
            false,
            "2034-01-15",
        ),
    ];
    for (fixture, kind, name, number, check, expired, valid_to) in cases {
        sim.control(&format!("place {fixture}"), "placed");
        let out = sim.diag(&["--json", "--wait", "20"]);
        assert_no_secrets(&out);
        assert!(
            out.status.success(),
            "{fixture}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json(&out);
        assert_eq!(v["verdict"], "healthy", "{fixture}");
        assert_eq!(v["card_type"], kind, "{fixture}");
        assert_eq!(v["name_masked"], name, "{fixture}");
        assert_eq!(v["id_number_masked"], number, "{fixture}");
        assert_eq!(v["check_digit_ok"], serde_json::json!(check), "{fixture}");
        assert_eq!(v["expired"], expired, "{fixture}");
        assert_eq!(v["valid_to"], valid_to, "{fixture}");
        assert_eq!(v["photo_bytes"], 1024, "{fixture}");
        assert_eq!(v["sam_id"], "05.01-20101028-0001234567-0089012345");
        assert!(
            v["birth"]
                .as_str()
                .is_some_and(|b| b.len() == 10 && &b[4..5] == "-"),
            "{fixture}"
        );
        assert!(
            v["valid_from"].as_str().is_some_and(|b| b.len() == 10),
            "{fixture}"
        );
        match fixture {
            "resident" => {
                assert_eq!(v["nation"], "汉");
                assert_eq!(v["sex"], "male");
                assert_eq!(v["birth"], "1990-03-07");
            }
            "resident_long_term" => assert_eq!(v["nation"], "德昂"),
            "resident_minor" => assert!(v["age"].as_u64().is_some_and(|a| a < 16)),
            "foreign_permanent_2017" => assert_eq!(v["nationality"], "USA"),
            "foreign_permanent_2023" => assert_eq!(v["sex"], "female"),
            _ => {}
        }
        sim.control("remove", "removed");
    }

    // Human-readable output is masked too.
    sim.control("place resident", "placed");
    let out = sim.diag(&["--wait", "20"]);
    assert!(out.status.success());
    assert_no_secrets(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\n  name masked:      王**\n"), "{stdout}");
    assert!(
        stdout.contains("\n  id number masked: 110101********1233\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("  result:           healthy (exit status 0)\n"),
        "{stdout}"
    );
}

#[test]
fn no_card_and_faults_exit_non_zero_with_a_reason() {
    let mut sim = Sim::start(&[]);
    let out = sim.diag(&["--json", "--wait", "1"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["verdict"], "test_not_passed");
    assert_eq!(v["problems"][0]["code"], "no_card");
    // The reader itself answered: its SAM is in the report.
    assert_eq!(v["sam_id"], "05.01-20101028-0001234567-0089012345");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("put an ID card flat on the reader within 1 s"),
        "{stderr}"
    );
    assert!(stderr.contains("no card"), "{stderr}");

    sim.control("error sam", "fault");
    let out = sim.diag(&["--wait", "1"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("security module (SAM) failed"), "{stdout}");
    assert!(stdout.contains("result:           NOT healthy"), "{stdout}");

    sim.control("error bad_checksum", "fault");
    sim.control("place resident", "placed");
    let out = sim.diag(&["--json", "--wait", "5", "--command-timeout", "2"]);
    assert_no_secrets(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["problems"][0]["code"], "corrupted_replies");

    sim.control("error read", "fault");
    let out = sim.diag(&["--json", "--wait", "10"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["problems"][0]["code"], "read_failed");
    assert_no_secrets(&out);
}

#[test]
fn another_device_gets_one_clear_answer_quickly() {
    // A bill acceptor's simulator: it never answers SAM_V frames.
    let mut bill = Command::new(BIN)
        .args(["sim", "bill"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the bill simulator");
    let mut stdout = BufReader::new(bill.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let path = first.rsplit(" on ").next().unwrap().trim().to_owned();
    // Keep draining its output so that it keeps running.
    std::thread::spawn(move || for _ in stdout.lines() {});
    let started = std::time::Instant::now();
    let out = Command::new(BIN)
        .args(["diag", "idcard", "--port", &path])
        .output()
        .unwrap();
    let took = started.elapsed();
    let _ = bill.kill();
    let _ = bill.wait();
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("WARN"), "raw log lines: {stderr}");
    assert!(
        stdout.contains(&format!("nothing answered on {path}")),
        "{stdout}"
    );
    assert!(stdout.contains("--baud"), "{stdout}");
    assert_eq!(stdout.matches("  problem:").count(), 1, "{stdout}");
}

#[test]
fn a_port_the_kiosk_holds_is_named_in_use() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let enter = rt.enter();
    let pty = devio::Pty::new(devio::LineSettings::n81(115_200)).unwrap();
    let path = pty.path().to_string_lossy().into_owned();
    let _held = devio::open_serial(&path, devio::LineSettings::n81(115_200)).unwrap();
    drop(enter);
    let out = Command::new(BIN)
        .args(["diag", "idcard", "--port", &path, "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    assert_eq!(v["device"], "idcard");
    assert_eq!(v["problems"][0]["code"], "port_in_use");
    assert!(
        v["problems"][0]["action"]
            .as_str()
            .is_some_and(|a| a.contains("telekiosk service test-id-card")),
        "{v}"
    );
}

#[test]
fn card_and_script_options_place_cards_at_start() {
    let dir = std::env::temp_dir().join(format!("telekiosk-idcard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("script.txt");
    std::fs::write(
        &script,
        "# start with a foreigner card\nremove\nplace foreign_permanent_2023\n",
    )
    .unwrap();
    let sim = Sim::start(&["--card", "resident", "--script", script.to_str().unwrap()]);
    let out = sim.diag(&["--json", "--wait", "20"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["card_type"], "foreign_permanent_2023");
    let _ = std::fs::remove_dir_all(&dir);
}
