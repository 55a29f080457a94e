//! `telekiosk run` as systemd runs it: the real binary with a configuration file, the device
//! simulators at stable names, the self-service system server (and the operator simulator
//! behind it) over mutual TLS, and a notify socket
//! standing in for systemd's — READY once recovery is done, the watchdog fed from the main
//! loop, STOPPING and exit 0 on SIGTERM. And a bad configuration refused with its keys.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bill_acceptor::Protocol;
use bill_acceptor::sim::SimConfig;
use tokio::process::Command;
use tokio::sync::mpsc;

fn write_config(
    dir: &Path,
    boss: &str,
    certs: &Path,
    bill: &Path,
    printer: &Path,
) -> std::path::PathBuf {
    let text = format!(
        r#"
[kiosk]
id = "K0001"

[journal]
path = "{journal}"

[link]
address = "{boss}"
server_name = "localhost"
ca = "{certs}/operator-ca.pem"
cert = "{certs}/kiosks/K0001.pem"
key = "{certs}/kiosks/K0001.key.pem"
config_key = "{certs}/config-signing.pub.pem"

[devices.bill_acceptor]
protocol = "ssp"
port = "{bill}"

[devices.printer]
port = "{printer}"

[screen]
display = "none"

[logging]
level = "info"
format = "text"
"#,
        journal = dir.join("journal.sqlite").display(),
        certs = certs.display(),
        bill = bill.display(),
        printer = printer.display(),
    );
    let path = dir.join("kiosk.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_tells_systemd_it_is_ready_feeds_the_watchdog_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    boss_protocol::pki::generate_dev(&certs, &["K0001"]).unwrap();
    telekiosk_settings::bundle::generate_dev_keys(&certs).unwrap();
    let boss = boss_sim::app::start(boss_sim::app::SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data: dir.path().join("boss"),
        certs: certs.clone(),
        clock: boss_sim::clock::Clock::system(),
        faults: boss_sim::faults::FaultSettings::default(),
    })
    .await
    .unwrap();
    // The kiosk's link is the self-service system server, which forwards to the operator.
    let hq = telekiosk::demo::start_server(dir.path(), &certs, boss.addr)
        .await
        .unwrap();
    let bill = bill_acceptor::sim::spawn(SimConfig::cny(Protocol::Ssp)).unwrap();
    let bill_link = dir.path().join("bill");
    std::os::unix::fs::symlink(&bill.path, &bill_link).unwrap();
    let pty = devio::Pty::new(receipt_printer::DEFAULT_LINE).unwrap();
    let printer_path = pty.path().to_path_buf();
    let (device, _guard) = pty.into_parts();
    let (_ctl, ctl_rx) = mpsc::channel(1);
    let (papers, mut papers_rx) = mpsc::channel(8);
    tokio::spawn(receipt_printer::sim::run(
        device,
        receipt_printer::sim::SimConfig {
            out_dir: None,
            initial: vec![],
        },
        ctl_rx,
        papers,
    ));
    tokio::spawn(async move { while papers_rx.recv().await.is_some() {} });
    let config = write_config(
        dir.path(),
        &hq.addr.to_string(),
        &certs,
        &bill_link,
        &printer_path,
    );

    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // systemd names the process the watchdog is for (WATCHDOG_PID): the shell's pid, which
    // `exec` hands on to the kiosk.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "WATCHDOG_PID=$$ exec '{}' run --config '{}'",
            env!("CARGO_BIN_EXE_telekiosk"),
            config.display()
        ))
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let socket = std::sync::Arc::new(socket);
    let read = |socket: std::sync::Arc<UnixDatagram>, until: &'static str, within: Duration| {
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + within;
            let mut seen = Vec::new();
            let mut buf = [0u8; 512];
            while Instant::now() < deadline {
                if let Ok(n) = socket.recv(&mut buf) {
                    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                    let done = msg.lines().any(|l| l == until);
                    seen.push(msg);
                    if done {
                        return (true, seen);
                    }
                }
            }
            (false, seen)
        })
    };
    let (ready, seen) = read(socket.clone(), "READY=1", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(ready, "no READY=1; the kiosk said {seen:?}");
    // The watchdog is fed from the main loop: every half interval (500 ms).
    let t0 = Instant::now();
    let mut pings = 0;
    while t0.elapsed() < Duration::from_secs(3) {
        let (got, _) = read(socket.clone(), "WATCHDOG=1", Duration::from_secs(2))
            .await
            .unwrap();
        assert!(got, "the watchdog went unfed");
        pings += 1;
    }
    assert!(pings >= 4, "only {pings} watchdog pings in 3 s");

    let pid = child.id().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (stopping, seen) = read(socket.clone(), "STOPPING=1", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(stopping, "no STOPPING=1: {seen:?}");
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the kiosk exits after SIGTERM")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

#[tokio::test]
async fn a_bad_configuration_is_refused_with_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kiosk.toml");
    std::fs::write(
        &path,
        "[kiosk]\nid = \"K 1\"\n[link]\naddress = \"nowhere\"\n[topup]\nmax_yaun = 5\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_telekiosk"))
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in ["link.server_name", "topup.max_yaun"] {
        assert!(err.contains(key), "{key} not named in:\n{err}");
    }
    // Files it names that are not there are refused with the key too.
    let ok = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/examples/kiosk-sim.toml"
    ))
    .unwrap();
    std::fs::write(&path, ok).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_telekiosk"))
        .args(["run", "--check", "--config"])
        .arg(&path)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("link.ca"), "{err}");
}

#[tokio::test]
async fn hash_pin_gives_an_argon2id_hash_the_configuration_takes_and_refuses_a_short_pin() {
    use tokio::io::AsyncWriteExt as _;
    let run = |pin: &'static str| async move {
        let mut child = Command::new(env!("CARGO_BIN_EXE_telekiosk"))
            .args(["service", "hash-pin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(pin.as_bytes()).await.unwrap();
        drop(stdin);
        child.wait_with_output().await.unwrap()
    };
    let out = run("246810\n").await;
    assert!(out.status.success(), "{out:?}");
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        hash.starts_with("$argon2id$") && !hash.contains("246810"),
        "{hash}"
    );
    assert!(telekiosk::runtime::technician::verify(
        Some(&hash),
        "246810"
    ));
    assert!(!telekiosk::runtime::technician::verify(
        Some(&hash),
        "246811"
    ));
    let toml = format!("[[technician]]\nid = \"T07\"\npin_hash = \"{hash}\"\n");
    let settings = telekiosk_settings::Settings::from_toml(&toml).unwrap();
    assert_eq!(settings.technicians[0].pin_hash, hash);

    let out = run("12\n").await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("4 to 12 digits"));
}
