//! Head office's watch over the fleet: alerts raised once and cleared when resolved, each
//! delivered to a webhook; daily reconciliation with planted mismatches, every one named;
//! the fleet view and the reports. On SQLite and PostgreSQL.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use boss_protocol::*;
use common::*;
use telekiosk_hq::reports::Period;
use telekiosk_hq::store::today;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const K1: &str = "K0001";
const K2: &str = "K0002";

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
                loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
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

fn events(got: &Mutex<Vec<serde_json::Value>>, event: &str, kind: &str) -> usize {
    got.lock()
        .unwrap()
        .iter()
        .filter(|v| v["event"] == event && v["alert"]["kind"] == kind)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_raised_once_cleared_when_resolved_and_delivered() {
    each_db("alerts", |db| async move {
        let w = World::new(db, &[K1, K2]).await;
        let (url, got) = webhook().await;
        let mut cfg = w.config();
        cfg.alerts.webhook = Some(url);
        cfg.alerts.down_after_s = 2;
        cfg.alerts.stuck_after_s = 1;
        cfg.alerts.card_stock_low = 20;
        let hq = w.hq_with(cfg).await;
        let store = hq.shared.store.clone();
        let mut k1 = Kiosk::connect(hq.addr, &w.certs(), K1).await;
        let mut k2 = Kiosk::connect(hq.addr, &w.certs(), K2).await;

        // K0001: printer fault, cash box at 95 %, 3 blank SIMs, stuck on a payment screen.
        let mut bad = heartbeat("top_up.insert_cash");
        bad.devices.push(DeviceHealth {
            device: DeviceKind::ReceiptPrinter,
            state: DeviceState::Fault,
            condition: Some("paper_out".into()),
        });
        bad.cash_box.notes[0].count = 950;
        bad.card_stock.blank_sims = 3;
        for _ in 0..3 {
            k1.call(Request::Heartbeat(bad.clone())).await.unwrap();
            k2.call(Request::Heartbeat(heartbeat("idle")))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let active = eventually("four alerts on K0001", || {
            let a = store.alerts(false, 100).unwrap();
            (a.len() >= 4).then_some(a)
        })
        .await;
        let mut kinds: Vec<String> = active
            .iter()
            .map(|a| format!("{}:{}:{}", a.kiosk_id, a.kind, a.subject))
            .collect();
        kinds.sort();
        assert_eq!(
            kinds,
            [
                "K0001:card_stock_low:",
                "K0001:cash_box_near_full:",
                "K0001:device_fault:receipt_printer",
                "K0001:stuck:"
            ]
        );
        // Raised once, however many evaluations and heartbeats follow.
        k1.call(Request::Heartbeat(bad.clone())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(store.alerts(true, 100).unwrap().len(), 4);

        // The technician fixes it: every alert clears.
        for _ in 0..2 {
            k1.call(Request::Heartbeat(heartbeat("idle")))
                .await
                .unwrap();
            k2.call(Request::Heartbeat(heartbeat("idle")))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        eventually("cleared", || {
            store.alerts(false, 100).unwrap().is_empty().then_some(())
        })
        .await;
        // K0002 goes silent (K0001 keeps reporting): kiosk down after 2 s; back: cleared.
        drop(k2);
        let mut down = None;
        for _ in 0..150 {
            k1.call(Request::Heartbeat(heartbeat("idle")))
                .await
                .unwrap();
            down = store
                .alerts(false, 100)
                .unwrap()
                .into_iter()
                .find(|a| a.kind == "kiosk_down");
            if down.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(down.expect("K0002 down").kiosk_id, K2);
        let mut k2 = Kiosk::connect(hq.addr, &w.certs(), K2).await;
        let mut delivered = false;
        for _ in 0..150 {
            k1.call(Request::Heartbeat(heartbeat("idle")))
                .await
                .unwrap();
            k2.call(Request::Heartbeat(heartbeat("idle")))
                .await
                .unwrap();
            if store.alerts(false, 100).unwrap().is_empty()
                && events(&got, "cleared", "kiosk_down") == 1
            {
                delivered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(delivered, "K0002 back, and the webhook told");
        // The webhook saw each raise and each clear exactly once.
        for kind in [
            "card_stock_low",
            "cash_box_near_full",
            "device_fault",
            "stuck",
            "kiosk_down",
        ] {
            assert_eq!(events(&got, "raised", kind), 1, "{kind} raised");
            assert_eq!(events(&got, "cleared", kind), 1, "{kind} cleared");
        }

        // The fleet view shows what the heartbeats said.
        let f = store.kiosk(K1).unwrap();
        assert!(f.online);
        assert_eq!(f.screen.as_deref(), Some("idle"));
        assert_eq!(f.cash_box.unwrap().notes[0].count, 10);
        assert_eq!(f.blank_sims, Some(80));
        assert_eq!(f.software.as_deref(), Some("test-kiosk/1"));
    })
    .await;
}

fn entry(seq: u64, txn: &str, op: &str, fen: u64, state: TxnState) -> JournalEntry {
    JournalEntry {
        seq,
        txn_id: TxnId::new(txn),
        at_ms: today_ms(),
        op: op.into(),
        msisdn: Some(Msisdn::new("13800000000")),
        amount_fen: fen,
        state,
        detail: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_names_every_planted_mismatch_and_alerts() {
    each_db("recon", |db| async move {
        let w = World::new(db, &[K1, K2]).await;
        let hq = w.hq().await;
        let store = hq.shared.store.clone();
        let mut k = Kiosk::connect(hq.addr, &w.certs(), K1).await;
        let mut k2 = Kiosk::connect(hq.addr, &w.certs(), K2).await;
        // The operator's side: three recharges through the server.
        for (t, fen) in [("K0001-A", 1_000), ("K0001-B", 2_000), ("K0001-C", 3_000)] {
            let r = k.call(recharge(t, "13800000000", fen)).await.unwrap();
            assert!(matches!(r, Reply::Ok(_)), "{r:?}");
        }
        let r = k2
            .call(recharge("K0002-A", "13900000001", 500))
            .await
            .unwrap();
        assert!(matches!(r, Reply::Ok(_)));
        // The kiosk's journal, as the kiosk uploads it (amount = cash taken; `detail` says
        // what was credited and what went on a refund voucher): A agrees — 12 yuan taken, 10
        // credited, 2 on a voucher; B with another amount; C missing (the operator has it);
        // D the operator never saw; E a top-up the operator refused, all of it on a voucher
        // (not done: not compared).
        let detail = |credited: u64, voucher: u64| {
            Some(
                serde_json::json!({"kind": "topup", "credited_fen": credited, "voucher_fen": voucher})
                    .to_string(),
            )
        };
        let up = JournalUpload {
            entries: vec![
                entry(1, "K0001-A", "recharge", 1_000, TxnState::Pending),
                JournalEntry {
                    detail: detail(1_000, 200),
                    ..entry(2, "K0001-A", "recharge", 1_200, TxnState::Committed)
                },
                entry(3, "K0001-B", "recharge", 2_500, TxnState::Committed),
                entry(4, "K0001-D", "recharge", 700, TxnState::Committed),
                JournalEntry {
                    detail: detail(0, 700),
                    ..entry(5, "K0001-E", "recharge", 700, TxnState::Failed)
                },
            ],
        };
        let r = k.call(Request::JournalUpload(up.clone())).await.unwrap();
        assert!(matches!(
            r,
            Reply::Ok(Response::JournalUpload(JournalAccepted {
                accepted: 5,
                acked_seq: 5
            }))
        ));
        // Uploads are idempotent by seq.
        let r = k.call(Request::JournalUpload(up)).await.unwrap();
        assert!(matches!(
            r,
            Reply::Ok(Response::JournalUpload(JournalAccepted {
                accepted: 0,
                acked_seq: 5
            }))
        ));
        let r = k2
            .call(Request::JournalUpload(JournalUpload {
                entries: vec![JournalEntry {
                    msisdn: Some(Msisdn::new("13900000001")),
                    ..entry(1, "K0002-A", "recharge", 500, TxnState::Committed)
                }],
            }))
            .await
            .unwrap();
        assert!(matches!(r, Reply::Ok(_)));
        // Stored uploads hold no full phone number.
        let masked: Vec<String> = store
            .db()
            .read(|s| s.query("SELECT msisdn_masked FROM journal", &[]))
            .unwrap()
            .iter()
            .map(|r| r.str(0).unwrap())
            .collect();
        assert!(
            masked
                .iter()
                .all(|m| m == "138****0000" || m == "139****0001"),
            "{masked:?}"
        );
        // The refund vouchers of the day, from the entries' `detail`.
        let cards = store
            .report_shop_cards(&telekiosk_hq::reports::Period::new(TODAY, TODAY, None).unwrap())
            .unwrap();
        assert_eq!(
            cards
                .iter()
                .map(|c| (c.vouchers, c.voucher_fen))
                .collect::<Vec<_>>(),
            [(2, 900)]
        );

        let (runs, failed) =
            telekiosk_hq::recon::reconcile_day(&store, hq.shared.boss.as_ref(), "erin", TODAY)
                .await
                .unwrap();
        assert!(failed.is_empty(), "{failed:?}");
        let k1run = runs.iter().find(|r| r.kiosk_id == K1).unwrap();
        assert!(!k1run.balanced);
        let named: Vec<(&str, &str)> = k1run
            .mismatches
            .iter()
            .map(|m| (m.txn_id.as_str(), m.kind.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("K0001-B", "amount_differs"),
                ("K0001-C", "missing_at_kiosk"),
                ("K0001-D", "missing_at_operator")
            ]
        );
        let b = &k1run.mismatches[0];
        assert_eq!(
            (b.kiosk_amount_fen, b.operator_amount_fen),
            (Some(2_500), Some(2_000))
        );
        assert_eq!((k1run.kiosk_count, k1run.kiosk_amount_fen), (3, 4_200));
        assert_eq!(
            (k1run.operator_count, k1run.operator_amount_fen),
            (3, 6_000)
        );
        assert!(runs.iter().find(|r| r.kiosk_id == K2).unwrap().balanced);
        // Stored, and alerted once per unbalanced kiosk and day.
        assert_eq!(store.recon_runs(TODAY).unwrap().len(), 2);
        let alert = eventually("mismatch alert", || {
            store
                .alerts(false, 10)
                .unwrap()
                .into_iter()
                .find(|a| a.kind == "reconciliation_mismatch")
        })
        .await;
        assert_eq!(
            (alert.kiosk_id.as_str(), alert.subject.as_str()),
            (K1, TODAY)
        );
        // The kiosk's journal is corrected (C recorded, B and D settled); balanced now: cleared.
        k.call(Request::JournalUpload(JournalUpload {
            entries: vec![
                entry(6, "K0001-B", "recharge", 2_000, TxnState::Committed),
                entry(7, "K0001-C", "recharge", 3_000, TxnState::Committed),
                entry(8, "K0001-D", "recharge", 700, TxnState::Failed),
            ],
        }))
        .await
        .unwrap();
        let run = telekiosk_hq::recon::reconcile_kiosk(
            &store,
            hq.shared.boss.as_ref(),
            "erin",
            K1,
            TODAY,
        )
        .await
        .unwrap();
        assert!(run.balanced, "{run:?}");
        eventually("alert cleared", || {
            store
                .alerts(false, 10)
                .unwrap()
                .iter()
                .all(|a| a.kind != "reconciliation_mismatch")
                .then_some(())
        })
        .await;
        assert!(
            store
                .audit(10, Some("erin"))
                .unwrap()
                .iter()
                .all(|a| a.action == "reconcile")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_count_what_the_operator_committed_by_shop_service_payment_and_band() {
    each_db("reports", |db| async move {
        let w = World::new(db, &[K1, K2]).await;
        let hq = w.hq().await;
        let store = hq.shared.store.clone();
        store.set_shop("frank", "S01", "天河营业厅").unwrap();
        store.assign_shop("frank", K1, "S01").unwrap();
        store.assign_shop("frank", K2, "S02").unwrap();
        let mut k1 = Kiosk::connect(hq.addr, &w.certs(), K1).await;
        let mut k2 = Kiosk::connect(hq.addr, &w.certs(), K2).await;
        // 13800000002 owes ¥23.50: a ¥50 recharge pays 23.50 of arrears, 26.50 prepaid.
        for (one, t, n, fen) in [
            (true, "K0001-1", "13800000002", 5_000),
            (true, "K0001-2", "13800000000", 10_000),
            (true, "K0001-3", "13800000000", 30_000),
            (false, "K0002-1", "13900000001", 2_000),
        ] {
            let k = if one { &mut k1 } else { &mut k2 };
            let r = k.call(recharge(t, n, fen)).await.unwrap();
            assert!(matches!(r, Reply::Ok(_)), "{r:?}");
        }
        // Refused and reversed ones do not count.
        let r = k2
            .call(recharge("K0002-2", "15800000006", 1_000))
            .await
            .unwrap();
        assert_eq!(code(&r), Some(ErrorCode::SubscriberInactive));
        let r = k2
            .call(Request::Reversal(Reversal {
                txn_id: TxnId::new("K0002-1-rv"),
                original_txn_id: TxnId::new("K0002-1"),
                reason: "test".into(),
            }))
            .await
            .unwrap();
        assert!(matches!(r, Reply::Ok(_)), "{r:?}");
        let p = Period::new(&today(), &today(), None).unwrap();
        let daily = eventually("recorded", || {
            let d = store.report_daily(&p).unwrap();
            (d.iter().map(|r| r.totals.count).sum::<i64>() == 3
                && store.report_services(&p).unwrap().len() == 1)
                .then_some(d)
        })
        .await;
        assert_eq!(daily.len(), 1, "{daily:?}");
        assert_eq!(
            (daily[0].shop_id.as_deref(), daily[0].kiosk_id.as_str()),
            (Some("S01"), K1)
        );
        assert_eq!(
            (
                daily[0].totals.count,
                daily[0].totals.amount_fen,
                daily[0].totals.average_fen
            ),
            (3, 45_000, 15_000)
        );
        let pay = store.report_payments(&p).unwrap();
        assert_eq!(
            (
                pay[0].arrears_fen,
                pay[0].prepaid_fen,
                pay[0].arrears_count,
                pay[0].prepaid_count
            ),
            (2_350, 42_650, 1, 2)
        );
        let bands: Vec<(String, i64)> = store
            .report_bands(&p)
            .unwrap()
            .into_iter()
            .map(|b| (b.band, b.totals.count))
            .collect();
        assert_eq!(
            bands,
            [
                ("50-100".to_owned(), 1),
                ("100-200".to_owned(), 1),
                ("200-500".to_owned(), 1)
            ]
        );
        let months = store.report_months(&p).unwrap();
        assert_eq!((months[0].rank, months[0].totals.amount_fen), (1, 45_000));
        let only_s02 = Period::new(&today(), &today(), Some("S02")).unwrap();
        assert!(store.report_daily(&only_s02).unwrap().is_empty());
        let cards = store
            .report_shop_cards(&Period::new(TODAY, TODAY, None).unwrap())
            .unwrap();
        assert_eq!(cards.len(), 2);
    })
    .await;
}
