//! The `boss-sim` binary end to end: `pki`, `serve` as a child process, a kiosk over mutual
//! TLS, then the operator's commands (query, ledger, SMS, faults) against the running server
//! and its store — and none of head office's.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use boss_protocol::{
    AuthPassword, LossReport, Msisdn, PinSale, Reply, Request, Response, Secret, SmsCodeRequest,
    SmsCodeVerify, TxnId,
};
use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_boss-sim");

fn console(data: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("--data")
        .arg(data)
        .arg("--today")
        .arg("2026-11-20")
        .args(args)
        .output()
        .expect("run boss-sim");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), text)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_commands_against_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let (certs, data) = (dir.path().join("certs"), dir.path().join("data"));
    let (ok, out) = console(
        &data,
        &["pki", "--out", certs.to_str().unwrap(), "--kiosk", "K0001"],
    );
    assert!(ok, "{out}");
    assert!(certs.join("kiosks/K0001.pem").exists());

    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .args([
            "--today",
            "2026-11-20",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--certs",
        ])
        .arg(&certs)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let line = tokio::task::spawn_blocking(move || {
        let mut l = String::new();
        BufReader::new(stdout).read_line(&mut l).map(|_| l)
    })
    .await
    .unwrap()
    .unwrap();
    let addr: SocketAddr = line
        .split_whitespace()
        .nth(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    let mut k = Kiosk::connect_raw(addr, client_config(&certs, "K0001"))
        .await
        .unwrap();
    assert!(matches!(
        k.call(hello()).await.unwrap(),
        Reply::Ok(Response::Hello(_))
    ));
    k.call(heartbeat()).await.unwrap();
    let r = k.call(recharge("C-1", "13800000000", 5_000)).await.unwrap();
    assert!(matches!(r, Reply::Ok(Response::Recharge(_))), "{r:?}");

    let (ok, out) = console(&data, &["query", "balance", "13800000000"]);
    assert!(
        ok && out.contains("138****0000") && out.contains("100.00"),
        "{out}"
    );
    assert!(!out.contains("13800000000"), "numbers are masked: {out}");
    let (ok, out) = console(&data, &["ledger", "--day", "2026-11-20"]);
    assert!(
        ok && out.contains("K0001") && out.contains("C-1") && out.contains("50.00"),
        "{out}"
    );
    assert!(!out.contains("13800000000"), "numbers are masked: {out}");
    let (ok, out) = console(&data, &["--json", "ledger", "--kiosk", "K0002"]);
    assert!(ok && out.trim() == "[]", "{out}");
    let (ok, out) = console(&data, &["--json", "query", "txn", "K0001", "C-1"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(
        ok && v["state"] == "done" && v["amount_fen"] == 5_000,
        "{out}"
    );
    let (ok, out) = console(&data, &["sms", "--number", "13800000000"]);
    assert!(ok && out.contains("充值50.00元"), "{out}");

    // Recharge cards: a kiosk sells one; the operator lists it without its PIN and redeems
    // it for a customer on the phone, once.
    let r = k
        .call(Request::PinSale(PinSale {
            txn_id: TxnId::new("C-2"),
            face_fen: 5_000,
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::PinSale(card)) = r else {
        panic!("{r:?}")
    };
    let pin = card.pin.expose().to_owned();
    let (ok, out) = console(&data, &["pin", "list", "--kiosk", "K0001"]);
    assert!(
        ok && out.contains(&card.serial) && out.contains("sold"),
        "{out}"
    );
    assert!(!out.contains(&pin), "PINs are never shown: {out}");
    let (ok, out) = console(&data, &["pin", "list"]);
    assert!(
        ok && out.contains("sold, expired"),
        "the seeded expired card: {out}"
    );
    let redeem = [
        "pin",
        "redeem",
        "--msisdn",
        "13800000000",
        "--pin",
        pin.as_str(),
    ];
    let (ok, out) = console(&data, &redeem);
    assert!(
        ok && out.contains("50.00") && out.contains("138****0000"),
        "{out}"
    );
    assert!(!out.contains(&pin), "{out}");
    let (ok, out) = console(&data, &redeem);
    assert!(!ok && out.contains("refused"), "a card credits once: {out}");
    let (ok, out) = console(&data, &["query", "balance", "13800000000"]);
    assert!(ok && out.contains("150.00"), "{out}");
    let (ok, out) = console(&data, &["--json", "pin", "list", "--state", "redeemed"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(ok && v[0]["serial"] == card.serial.as_str(), "{out}");
    assert_eq!(v[0]["redeemed_number"], "138****0000");
    assert_eq!(v[0]["redeemed_via"], "ivr");

    // 一证通查 and a loss report, as the operator sees them.
    let (ok, out) = console(&data, &["query", "id", "110101199003071233"]);
    assert!(
        ok && out.contains("150****0009") && out.contains("closed") && out.contains("2008-10-01"),
        "{out}"
    );
    assert!(!out.contains("110101199003071233"), "IDs are masked: {out}");
    let number = "13900000008";
    let r = k
        .call(Request::AuthPassword(AuthPassword {
            msisdn: Msisdn::new(number),
            password: Secret::new("123456"),
        }))
        .await
        .unwrap();
    let Reply::Ok(Response::AuthPassword(auth)) = r else {
        panic!("{r:?}")
    };
    let r = k
        .call(Request::SmsCodeRequest(SmsCodeRequest {
            msisdn: Msisdn::new(number),
        }))
        .await
        .unwrap();
    assert!(matches!(r, Reply::Ok(_)), "{r:?}");
    let (_, out) = console(&data, &["sms", "--number", number]);
    let sms_code: String = out
        .split("验证码为")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"))
        .chars()
        .take(6)
        .collect();
    let r = k
        .call(Request::SmsCodeVerify(SmsCodeVerify {
            msisdn: Msisdn::new(number),
            code: Secret::new(sms_code),
            token: Some(auth.token.clone()),
        }))
        .await
        .unwrap();
    assert!(matches!(r, Reply::Ok(_)), "{r:?}");
    let r = k
        .call(Request::LossReport(LossReport {
            txn_id: TxnId::new("C-3"),
            token: auth.token,
            msisdn: Msisdn::new(number),
        }))
        .await
        .unwrap();
    assert!(matches!(r, Reply::Ok(Response::LossReport(_))), "{r:?}");
    let (ok, out) = console(&data, &["query", "subscriber", number]);
    assert!(
        ok && out.contains("reported_lost")
            && out.contains("K0001")
            && out.contains("restores active"),
        "{out}"
    );

    // Head office's commands are not the operator's: they live in `telekiosk-hq`.
    for gone in [
        &["kiosks"][..],
        &["lock", "--kiosk", "K0001"],
        &["push-config", "x.toml", "--all"],
        &["report"],
        &["reconcile"],
        &["pushes", "--kiosk", "K0001"],
    ] {
        let (ok, _) = console(&data, gone);
        assert!(!ok, "boss-sim {gone:?} still exists");
    }

    // Faults at run time.
    let (ok, out) = console(
        &data,
        &[
            "--json",
            "fault",
            "--drop-after-commit",
            "2",
            "--latency-ms",
            "10",
        ],
    );
    let f: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(
        ok && f["drop_after_commit"] == 2 && f["latency_ms"] == 10,
        "{out}"
    );
    let (ok, out) = console(&data, &["--json", "fault", "--clear"]);
    let f: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(ok && f["drop_after_commit"] == 0, "{out}");
    drop(server);
    // With the server gone, fault changes fail clearly and the ledger still reads.
    let (ok, _) = console(&data, &["fault"]);
    assert!(!ok);
    let (ok, out) = console(&data, &["ledger", "--day", "2026-11-20"]);
    assert!(ok && out.contains("C-1"), "{out}");
}
