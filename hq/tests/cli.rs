//! The `telekiosk-hq` binary: `pki`, `serve` as a child process in front of the operator
//! simulator, a kiosk over mutual TLS, and head office's commands (`--json`) from another
//! process acting on the same SQLite store — a lock typed at the command line reaches the
//! kiosk through the running server.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use boss_protocol::*;
use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_telekiosk-hq");

fn hq(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(["--actor", "cli:alice", "--json"])
        .args(args)
        .output()
        .expect("run telekiosk-hq");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(config: &Path, args: &[&str]) -> serde_json::Value {
    let (ok, out, err) = hq(config, args);
    assert!(ok, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_office_commands_against_a_running_server() {
    let w = World::new(DbKind::Sqlite, &["K0001"]).await;
    let dir = w.dir.path();
    // `pki` writes what the server needs (here into a folder of its own, to check it).
    let fresh = dir.join("fresh-pki");
    let (ok, _, err) = hq(
        &dir.join("none.toml"),
        &["pki", "--out", fresh.to_str().unwrap(), "--kiosk", "K0009"],
    );
    assert!(ok, "{err}");
    for f in [
        "gateway.pem",
        "gateway-ca.pem",
        "kiosks/K0009.pem",
        "config-signing.key.pem",
        "server.pem",
    ] {
        assert!(fresh.join(f).exists(), "{f}");
    }

    let cfg = w.config();
    let config = dir.join("hq.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"\npoll_interval_ms = 100\n[tls]\ncerts = \"{}\"\n[boss]\naddr = \"{}\"\n[bundles]\nsigning_key = \"{}\"\n",
            cfg.database,
            cfg.tls.certs.display(),
            cfg.boss.addr,
            cfg.bundles.signing_key.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);
    let line = tokio::task::spawn_blocking(move || {
        let mut l = String::new();
        BufReader::new(stdout).read_line(&mut l).map(|_| l)
    })
    .await
    .unwrap()
    .unwrap();
    let addr: SocketAddr = line
        .split_whitespace()
        .last()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    let mut k = Kiosk::connect(addr, &w.certs(), "K0001").await;
    k.call(Request::Heartbeat(heartbeat("idle"))).await.unwrap();
    let r = k
        .call(recharge("K0001-CLI-1", "13800000000", 5_000))
        .await
        .unwrap();
    assert!(matches!(r, Reply::Ok(Response::Recharge(_))), "{r:?}");

    // Shops and the fleet.
    json(&config, &["shops", "--set", "S01", "--name", "天河营业厅"]);
    json(&config, &["assign", "K0001", "S01"]);
    let fleet = eventually("heartbeat stored", || {
        let f = json(&config, &["fleet", "--shop", "S01"]);
        (f[0]["last_heartbeat_ms"].is_i64() && f[0]["online"] == true).then_some(f)
    })
    .await;
    assert_eq!(fleet[0]["kiosk_id"], "K0001");
    assert_eq!(fleet[0]["blank_sims"], 80);

    // A lock at the command line reaches the kiosk through the running server.
    let q = json(&config, &["lock", "--kiosk", "K0001", "--reason", "audit"]);
    let push_id = q[0]["push_id"].as_u64().unwrap();
    let (id, p) = k.next_push().await.unwrap();
    assert_eq!(id, push_id);
    assert!(matches!(&p, Push::Lock(l) if l.reason == "audit"));
    k.ack(id, &p, AckOutcome::Applied, None, None)
        .await
        .unwrap();
    let pushes = eventually("ack stored", || {
        let v = json(&config, &["pushes", "K0001"]);
        (v[0]["outcome"] == "applied").then_some(v)
    })
    .await;
    assert_eq!(pushes[0]["created_by"], "cli:alice");

    // Configuration: refused with the reason, then created, pushed, tracked.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[topup]\nmax_yuan = 0\n").unwrap();
    let (ok, _, err) = hq(&config, &["config", "create", bad.to_str().unwrap()]);
    assert!(!ok && err.contains("topup.max_yuan"), "{err}");
    let good = dir.join("good.toml");
    std::fs::write(&good, "[topup]\nmax_yuan = 300\n").unwrap();
    let b = json(
        &config,
        &[
            "config",
            "create",
            good.to_str().unwrap(),
            "--note",
            "prices",
        ],
    );
    assert_eq!(b["version"], 1);
    json(&config, &["config", "push", "1", "--shop", "S01"]);
    let (id, p) = k.next_push().await.unwrap();
    k.ack(id, &p, AckOutcome::Applied, None, None)
        .await
        .unwrap();
    eventually("applied", || {
        let s = json(&config, &["config", "status", "1"]);
        (s[0]["status"] == "applied").then_some(())
    })
    .await;

    // The audit log names who did what.
    let audit = json(&config, &["audit"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    for a in [
        "shop.set",
        "kiosk.assign_shop",
        "lock",
        "config.create",
        "config.rollout",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    // What the command line did is the CLI user's; the server's own daily reconciliation
    // (run at start-up) is `system`'s. Nobody else appears.
    for a in audit.as_array().unwrap() {
        let action = a["action"].as_str().unwrap_or_default();
        if a["actor"] == "system" {
            assert!(
                ![
                    "shop.set",
                    "kiosk.assign_shop",
                    "lock",
                    "config.create",
                    "config.rollout"
                ]
                .contains(&action),
                "the CLI's act recorded as the system's: {a}"
            );
        } else {
            assert_eq!(a["actor"], "cli:alice", "{a}");
        }
    }

    // Reports and reconciliation as data; no full phone number anywhere.
    let today = telekiosk_hq::store::today();
    let daily = eventually("recorded", || {
        let d = json(&config, &["report", "daily", "--from", &today]);
        (d.as_array().is_some_and(|a| !a.is_empty())).then_some(d)
    })
    .await;
    assert_eq!(daily[0]["amount_fen"], 5_000);
    let up = JournalUpload {
        entries: vec![JournalEntry {
            seq: 1,
            txn_id: TxnId::new("K0001-CLI-1"),
            at_ms: today_ms(),
            op: "recharge".into(),
            msisdn: Some(Msisdn::new("13800000000")),
            amount_fen: 5_000,
            state: TxnState::Committed,
            detail: None,
        }],
    };
    k.call(Request::JournalUpload(up)).await.unwrap();
    let runs = json(&config, &["reconcile", "run", "--day", TODAY]);
    assert_eq!(runs[0]["kiosk_id"], "K0001");
    let shown = json(&config, &["reconcile", "show", "--day", TODAY]);
    assert_eq!(runs, shown);
    for args in [
        &["fleet"][..],
        &["report", "cards", "--from", TODAY, "--to", &today],
        &["alerts", "--all"],
    ] {
        let (ok, out, _) = hq(&config, args);
        assert!(ok);
        assert!(!out.contains("13800000000"), "{args:?}: {out}");
    }
    // Bad input gets a clear answer.
    let (ok, _, err) = hq(&config, &["report", "daily", "--from", "2026-13-40"]);
    assert!(!ok && err.contains("2026-13-40"), "{err}");
    let (ok, _, err) = hq(&config, &["lock", "--kiosk", "no such kiosk"]);
    assert!(!ok && err.contains("not a kiosk id"), "{err}");
}
