//! Technicians' visits uploaded with the kiosk's journal over the real link: listed newest
//! first and read tolerantly, never counted as money (reconciliation balances, reports
//! unchanged, a clearance report of their own), and a locked PIN pad alerted once per
//! event through the webhook, cleared when the lock has run out. On SQLite and PostgreSQL.

mod common;

use std::sync::{Arc, Mutex};

use boss_protocol::*;
use common::*;
use telekiosk_hq::reports::Period;
use telekiosk_hq::service_log::{PIN_PAD_LOCKED, ServiceDetail};
use telekiosk_hq::store::today;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const K1: &str = "K0001";
const K2: &str = "K0002";

/// A service event as the kiosk uploads it.
fn svc(
    seq: u64,
    n: u32,
    at_ms: i64,
    op: &str,
    fen: u64,
    detail: serde_json::Value,
) -> JournalEntry {
    JournalEntry {
        seq,
        txn_id: TxnId::new(format!("svc-{n}")),
        at_ms,
        op: op.into(),
        msisdn: None,
        amount_fen: fen,
        state: TxnState::Committed,
        detail: Some(detail.to_string()),
    }
}

async fn upload(k: &mut Kiosk, entries: Vec<JournalEntry>) -> (u32, u64) {
    match k
        .call(Request::JournalUpload(JournalUpload { entries }))
        .await
        .unwrap()
    {
        Reply::Ok(Response::JournalUpload(a)) => (a.accepted, a.acked_seq),
        other => panic!("upload refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technician_visits_are_listed_and_count_as_no_money() {
    each_db("service_log", |db| async move {
        let w = World::new(db, &[K1, K2]).await;
        let hq = w.hq().await;
        let store = hq.shared.store.clone();
        let mut k = Kiosk::connect(hq.addr, &w.certs(), K1).await;
        // One top-up through the server: the operator has it, and so does the kiosk's journal.
        let r = k
            .call(recharge("K0001-A", "13800000000", 1_000))
            .await
            .unwrap();
        assert!(matches!(r, Reply::Ok(_)), "{r:?}");
        let day = today_ms();
        let tech = |extra: serde_json::Value| {
            let mut v = serde_json::json!({"technician": "T-007"});
            if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            v
        };
        let entries = vec![
            JournalEntry {
                seq: 1,
                txn_id: TxnId::new("K0001-A"),
                at_ms: day,
                op: "recharge".into(),
                msisdn: Some(Msisdn::new("13800000000")),
                amount_fen: 1_000,
                state: TxnState::Committed,
                detail: Some(r#"{"credited_fen": 1000, "voucher_fen": 0}"#.into()),
            },
            svc(
                2,
                1,
                day + 1_000,
                "service_login",
                0,
                tech(serde_json::json!({})),
            ),
            svc(
                3,
                2,
                day + 2_000,
                "service_enter",
                0,
                tech(serde_json::json!({})),
            ),
            // 清机: ¥1,500 out of the box, on the day reconciled.
            svc(
                4,
                3,
                day + 3_000,
                "cash_box_clearance",
                150_000,
                tech(serde_json::json!({
                    "notes": {"10000": 12, "5000": 6}, "total_fen": 150_000, "since": null
                })),
            ),
            // A restock whose detail says more than the contract: still no voucher.
            svc(
                5,
                4,
                day + 4_000,
                "card_restock",
                0,
                tech(serde_json::json!({
                    "added": 50, "bin_emptied": true, "stock": 80,
                    "captured": ["89860012345678901234"], "voucher_fen": 999
                })),
            ),
            svc(
                6,
                5,
                day + 5_000,
                "service_test_note",
                0,
                tech(serde_json::json!({"passed": false})),
            ),
            svc(
                7,
                6,
                day + 6_000,
                "service_exit",
                0,
                tech(serde_json::json!({"state": "in_service", "faulty": []})),
            ),
            // An op this server does not know yet, and a detail that is no JSON object.
            JournalEntry {
                detail: Some("not json".into()),
                ..svc(
                    8,
                    7,
                    day + 7_000,
                    "service_calibrate_screen",
                    0,
                    serde_json::json!({}),
                )
            },
            // A second clearance today (the day the server recorded the top-up on).
            svc(
                9,
                8,
                now_ms(),
                "cash_box_clearance",
                20_000,
                tech(serde_json::json!({"notes": {"10000": 2}, "total_fen": 20_000})),
            ),
        ];
        assert_eq!(upload(&mut k, entries).await, (9, 9));

        // Newest first, only service events, every one read as far as it goes.
        let log = store.kiosk_service_log(K1, 30).unwrap();
        assert_eq!(
            log.iter().map(|e| e.op.as_str()).collect::<Vec<_>>(),
            [
                "cash_box_clearance",
                "service_calibrate_screen",
                "service_exit",
                "service_test_note",
                "card_restock",
                "cash_box_clearance",
                "service_enter",
                "service_login"
            ]
        );
        let clearance = &log[5];
        assert_eq!(
            (
                clearance.txn_id.as_str(),
                clearance.amount_fen,
                clearance.technician.as_deref()
            ),
            ("svc-3", 150_000, Some("T-007"))
        );
        assert_eq!(
            clearance.detail,
            ServiceDetail::Clearance {
                notes: vec![(10_000, 12), (5_000, 6)],
                since_ms: None
            }
        );
        assert_eq!(
            log[1].detail,
            ServiceDetail::Other,
            "unknown op with a broken detail still listed"
        );
        assert_eq!(log[1].technician, None);
        assert_eq!(
            store
                .kiosk_service_log(K1, 3)
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>(),
            [9, 8, 7]
        );
        assert!(store.kiosk_service_log(K2, 30).unwrap().is_empty());
        // The kiosk page's recent transactions are the forwarded ones only.
        let txns = store.kiosk_txns(K1, 30).unwrap();
        assert_eq!(
            txns.iter().map(|t| t.txn_id.as_str()).collect::<Vec<_>>(),
            ["K0001-A"]
        );

        // Reconciliation: the kiosk's side holds the top-up only, and balances.
        let ours = store.kiosk_day(K1, TODAY).unwrap();
        assert_eq!(
            ours.txns
                .iter()
                .map(|t| t.txn_id.as_str())
                .collect::<Vec<_>>(),
            ["K0001-A"]
        );
        assert_eq!((ours.totals.count, ours.totals.amount_fen), (1, 1_000));
        let run = telekiosk_hq::recon::reconcile_kiosk(
            &store,
            hq.shared.boss.as_ref(),
            "erin",
            K1,
            TODAY,
        )
        .await
        .unwrap();
        assert!(run.balanced, "a clearance is no mismatch: {run:?}");
        assert!(store.unbalanced_days().unwrap().is_empty());

        // Reports: the money is the top-up's; the clearances have their own report.
        let (a, b) = if TODAY <= today().as_str() {
            (TODAY.to_owned(), today())
        } else {
            (today(), TODAY.to_owned())
        };
        let p = Period::new(&a, &b, None).unwrap();
        let daily = eventually("top-up recorded", || {
            let d = store.report_daily(&p).unwrap();
            (!d.is_empty()).then_some(d)
        })
        .await;
        assert_eq!(
            daily
                .iter()
                .map(|r| (r.totals.count, r.totals.amount_fen))
                .collect::<Vec<_>>(),
            [(1, 1_000)]
        );
        let services = store.report_services(&p).unwrap();
        assert_eq!(
            services
                .iter()
                .map(|r| (r.op.as_str(), r.totals.amount_fen))
                .collect::<Vec<_>>(),
            [("recharge", 1_000)]
        );
        let days: i64 = store
            .report_shop_days(&p)
            .unwrap()
            .iter()
            .map(|r| r.totals.amount_fen)
            .sum();
        assert_eq!(days, 1_000, "the console's per-shop totals too");
        let cards = store.report_shop_cards(&p).unwrap();
        assert_eq!(
            cards
                .iter()
                .map(|c| (c.vouchers, c.voucher_fen, c.restocks))
                .collect::<Vec<_>>(),
            [(0, 0, 1)],
            "a restock, and no voucher"
        );
        let cleared = store
            .report_clearances(&Period::new(TODAY, TODAY, None).unwrap())
            .unwrap();
        assert_eq!(
            cleared
                .iter()
                .map(|r| (r.kiosk_id.as_str(), r.totals.count, r.totals.amount_fen))
                .collect::<Vec<_>>(),
            [(K1, 1, 150_000)]
        );
        let all = store.report_clearances(&p).unwrap();
        assert_eq!(
            (
                all.iter().map(|r| r.totals.count).sum::<i64>(),
                all.iter().map(|r| r.totals.amount_fen).sum::<i64>()
            ),
            (2, 170_000)
        );
        // By shop: K0001 in S01, nothing in S02.
        store.set_shop("frank", "S01", "西单营业厅").unwrap();
        store.assign_shop("frank", K1, "S01").unwrap();
        let s01 = store
            .report_clearances(&Period::new(TODAY, TODAY, Some("S01")).unwrap())
            .unwrap();
        assert_eq!(s01.first().and_then(|r| r.shop_id.as_deref()), Some("S01"));
        assert!(
            store
                .report_clearances(&Period::new(TODAY, TODAY, Some("S02")).unwrap())
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

/// A webhook receiver on loopback: every JSON body POSTed to it.
async fn webhook() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let g = g.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = s.read(&mut chunk).await {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if body.len() >= len {
                            g.lock().unwrap().push(serde_json::from_str(body).unwrap());
                            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, got)
}

/// Webhook events of kind `pin_pad_locked`: `(event, subject)`.
fn lock_events(got: &Mutex<Vec<serde_json::Value>>) -> Vec<(String, String)> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|v| v["alert"]["kind"] == PIN_PAD_LOCKED)
        .map(|v| {
            (
                v["event"].as_str().unwrap_or_default().to_owned(),
                v["alert"]["subject"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_pin_pad_is_alerted_once_per_event() {
    each_db("pin_pad", |db| async move {
        let w = World::new(db, &[K1]).await;
        let (url, got) = webhook().await;
        let mut cfg = w.config();
        cfg.alerts.webhook = Some(url);
        let hq = w.hq_with(cfg).await;
        let store = hq.shared.store.clone();
        let mut k = Kiosk::connect(hq.addr, &w.certs(), K1).await;
        k.call(Request::Heartbeat(heartbeat("service_mode")))
            .await
            .unwrap();
        let now = now_ms();
        // Two wrong PINs, then the pad locks for 15 minutes.
        let first = vec![
            svc(1, 1, now - 2_000, "service_login_failed", 0, serde_json::json!({"technician": "T-404", "failures": 4})),
            svc(
                2,
                2,
                now - 1_000,
                "service_login_locked",
                0,
                serde_json::json!({"technician": "T-404", "failures": 5, "until_ms": now + 900_000}),
            ),
        ];
        assert_eq!(upload(&mut k, first.clone()).await, (2, 2));
        // Raised with the upload, naming the kiosk and the id typed.
        let active = store.alerts(false, 10).unwrap();
        let lock: Vec<_> = active.iter().filter(|a| a.kind == PIN_PAD_LOCKED).collect();
        assert_eq!(lock.len(), 1, "{active:?}");
        assert_eq!((lock[0].kiosk_id.as_str(), lock[0].subject.as_str()), (K1, "svc-2"));
        assert!(lock[0].detail.contains("T-404"), "{}", lock[0].detail);
        assert!(lock[0].detail.contains("5 wrong PINs"), "{}", lock[0].detail);
        // Delivered once; a re-upload of the same seqs raises nothing.
        eventually("raise delivered", || {
            (lock_events(&got) == [("raised".to_owned(), "svc-2".to_owned())]).then_some(())
        })
        .await;
        assert_eq!(upload(&mut k, first).await, (0, 2));
        // Evaluations come and go (every 100 ms): the lock stays alerted while it lasts.
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        let all = store.alerts(true, 10).unwrap();
        assert_eq!(
            all.iter()
                .filter(|a| a.kind == PIN_PAD_LOCKED)
                .map(|a| (a.subject.as_str(), a.cleared_ms.is_none()))
                .collect::<Vec<_>>(),
            [("svc-2", true)]
        );

        // A second lock whose time is already over (uploaded late): raised, then cleared.
        let late = vec![svc(
            3,
            3,
            now - 600_000,
            "service_login_locked",
            0,
            serde_json::json!({"technician": "99", "failures": 5, "until_ms": now - 1}),
        )];
        assert_eq!(upload(&mut k, late.clone()).await, (1, 3));
        eventually("late lock raised and cleared, both delivered", || {
            let ev = lock_events(&got);
            (ev.len() == 3).then_some(())
        })
        .await;
        assert_eq!(
            lock_events(&got),
            [
                ("raised".to_owned(), "svc-2".to_owned()),
                ("raised".to_owned(), "svc-3".to_owned()),
                ("cleared".to_owned(), "svc-3".to_owned())
            ]
        );
        // Cleared, re-uploaded (a kiosk that lost the answer): still not raised again.
        assert_eq!(upload(&mut k, late).await, (0, 3));
        let mut k = Kiosk::connect(hq.addr, &w.certs(), K1).await;
        assert_eq!(
            upload(
                &mut k,
                vec![svc(3, 3, now - 600_000, "service_login_locked", 0, serde_json::json!({"technician": "99"}))]
            )
            .await,
            (0, 3)
        );
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let locks: Vec<_> = store
            .alerts(true, 10)
            .unwrap()
            .into_iter()
            .filter(|a| a.kind == PIN_PAD_LOCKED)
            .collect();
        assert_eq!(locks.len(), 2, "{locks:?}");
        assert_eq!(lock_events(&got).len(), 3);
        // The lock still running is the one open alert; no other alert came of it.
        let open = store.alerts(false, 10).unwrap();
        assert_eq!(
            open.iter()
                .map(|a| (a.kind.as_str(), a.subject.as_str()))
                .collect::<Vec<_>>(),
            [(PIN_PAD_LOCKED, "svc-2")]
        );
    })
    .await;
}
