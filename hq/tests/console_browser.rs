//! The console in a real browser (headless Chromium through chromedriver), on SQLite and on
//! PostgreSQL: sign in, see the fleet, lock a kiosk and see it locked, ask for diagnostics
//! and see the kiosk's answer, push a configuration (refused keys first) and see it applied
//! by a simulated kiosk that verifies the signature, roll back, open each report and check
//! that its chart shows the seeded numbers, switch to English, reconciliation and vouchers,
//! technicians' visits uploaded by a kiosk over the real link (the kiosk page, the PIN pad
//! alert, the clearance report), the audit log. Screenshots of each page go to `out/console/`.

mod common;
mod console_support;

use boss_protocol::{
    JournalAccepted, JournalEntry, JournalUpload, Reply, Request, Response, TxnId, TxnState,
};
use common::{DbKind, Kiosk, each_db};
use console_support::{
    Browser, ConsoleWorld, PASSWORD, SimKiosk, browser_available, seed_business,
};

/// The value a chart mark carries.
async fn mark(b: &Browser, chart: &str, series: Option<&str>, label: &str) -> i64 {
    let sel = match series {
        Some(s) => format!("#{chart} [data-series=\"{s}\"][data-label=\"{label}\"]"),
        None => format!("#{chart} [data-label=\"{label}\"]"),
    };
    b.attr(&sel, "data-value")
        .await
        .unwrap_or_else(|| panic!("{sel} has no value"))
        .parse()
        .unwrap_or_else(|e| panic!("{sel}: {e}"))
}

/// A service event as the kiosk uploads it with its journal.
fn svc(seq: u64, at_ms: i64, op: &str, fen: u64, detail: serde_json::Value) -> JournalEntry {
    JournalEntry {
        seq,
        txn_id: TxnId::new(format!("svc-{seq}")),
        at_ms,
        op: op.into(),
        msisdn: None,
        amount_fen: fen,
        state: TxnState::Committed,
        detail: Some(detail.to_string()),
    }
}

async fn technician_visits(cw: &ConsoleWorld, b: &Browser, first: bool) {
    let mut k = Kiosk::connect(cw.hq.addr, &cw.world.certs(), "K0003").await;
    let t = telekiosk_hq::store::now_ms() - 20_000;
    let up = JournalUpload {
        entries: vec![
            svc(
                1,
                t,
                "service_login",
                0,
                serde_json::json!({"technician": "T-007"}),
            ),
            svc(
                2,
                t + 1_000,
                "service_enter",
                0,
                serde_json::json!({"technician": "T-007"}),
            ),
            svc(
                3,
                t + 2_000,
                "cash_box_clearance",
                150_000,
                serde_json::json!({"technician": "T-007", "notes": {"10000": 12, "5000": 6},
                    "total_fen": 150_000, "since": null}),
            ),
            svc(
                4,
                t + 3_000,
                "card_restock",
                0,
                serde_json::json!({"technician": "T-007", "added": 50, "bin_emptied": true,
                    "stock": 80, "captured": ["89860012345678901234", "89860012345678901235"]}),
            ),
            svc(
                5,
                t + 4_000,
                "service_test_camera",
                0,
                serde_json::json!({"technician": "T-007", "passed": false}),
            ),
            svc(
                6,
                t + 5_000,
                "service_exit",
                0,
                serde_json::json!({"technician": "T-007", "state": "in_service", "faulty": []}),
            ),
            svc(
                7,
                t + 6_000,
                "service_login_failed",
                0,
                serde_json::json!({"technician": "T-999", "failures": 4}),
            ),
            svc(
                8,
                t + 7_000,
                "service_login_locked",
                0,
                serde_json::json!({"technician": "T-999", "failures": 5, "until_ms": t + 900_000}),
            ),
        ],
    };
    let r = k.call(Request::JournalUpload(up)).await.expect("upload");
    assert!(
        matches!(
            r,
            Reply::Ok(Response::JournalUpload(JournalAccepted { accepted: 8, .. }))
        ),
        "{r:?}"
    );
    drop(k);

    b.goto(&cw.url("/kiosk/K0003")).await;
    assert_eq!(
        b.attr("#service-log tbody tr:first-child", "data-txn")
            .await
            .as_deref(),
        Some("svc-8"),
        "newest first"
    );
    let row = b.text("#service-log tr[data-op=cash_box_clearance]").await;
    for part in ["清机", "T-007", "¥1,500.00", "¥100.00 × 12", "¥50.00 × 6"] {
        assert!(row.contains(part), "{part} in the clearance row: {row}");
    }
    let restock = b.text("#service-log tr[data-op=card_restock]").await;
    assert!(
        restock.contains("放入 50 张") && restock.contains("2 张废卡"),
        "{restock}"
    );
    assert!(
        b.text("#service-log tr[data-op=service_test_camera]")
            .await
            .contains("未通过")
    );
    let locked = b
        .text("#service-log tr[data-op=service_login_locked]")
        .await;
    assert!(
        locked.contains("T-999") && locked.contains("连续错误 5 次"),
        "{locked}"
    );
    // The transactions table holds the forwarded ones, never a service event.
    let txns = b.text("#txns").await;
    assert!(
        txns.contains("T-1104-2") && !txns.contains("svc-"),
        "{txns}"
    );
    if first {
        b.shot("15-technician-visits").await;
    }
    b.submit("#lang-switch", "html[lang=en]").await;
    let row = b.text("#service-log tr[data-op=cash_box_clearance]").await;
    assert!(
        row.contains("Cash box clearance") && row.contains("took out ¥1,500.00"),
        "{row}"
    );
    b.submit("#lang-switch", "html[lang=zh-CN]").await;

    // The locked PIN pad is an open alert naming the kiosk and the id typed.
    b.goto(&cw.url("/fleet")).await;
    let alerts = b.text("#alerts").await;
    assert!(
        alerts.contains("维护密码键盘锁定") && alerts.contains("K0003") && alerts.contains("T-999"),
        "{alerts}"
    );

    // The clearance report: S02's ¥1,500 in the chart and the table, and as CSV.
    let day = telekiosk_hq::store::today();
    let q = format!("?from={day}&to={day}");
    b.goto(&cw.url(&format!("/reports/clearances{q}"))).await;
    assert_eq!(
        mark(b, "chart-clearances", None, "S02 王府井营业厅").await,
        150_000
    );
    let t = b.text("#report").await;
    assert!(t.contains("K0003") && t.contains("¥1,500.00"), "{t}");
    if first {
        b.shot("16-report-clearances").await;
    }
    let mut h = cw.http();
    h.sign_in("admin", PASSWORD).await;
    let csv = h.get(&format!("/reports/clearances{q}&format=csv")).await;
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines,
        [
            r#""日期","营业厅","终端","清机次数","取出金额""#.to_owned(),
            format!(r#""{day}","S02","K0003","1","1500.00""#),
            r#""合计","","","1","1500.00""#.to_owned(),
        ]
    );
}

async fn scenario(db: DbKind) {
    let first = matches!(db, DbKind::Sqlite);
    let cw = ConsoleWorld::start(db).await;
    seed_business(&cw.store).await;
    let kiosk = SimKiosk::start(cw.hq.addr, &cw.world.certs(), "K0001").await;
    let b = Browser::start().await;
    // Screenshots from the SQLite run; the PostgreSQL run checks the same pages.
    let shot = |name: &'static str| {
        let b = &b;
        async move {
            if first {
                b.shot(name).await;
            }
        }
    };

    // Sign in: the fleet page sends an anonymous visitor to the sign-in page and back.
    b.goto(&cw.url("/static/cjk.ttf")).await; // the font in the browser's cache first
    b.goto(&cw.url("/fleet")).await;
    assert!(b.exists("#sign-in").await, "sign-in page expected");
    b.fill("input[name=username]", "admin").await;
    b.fill("input[name=password]", "not the password").await;
    b.submit("#sign-in", "p.error").await;
    assert!(
        b.text("p.error").await.contains("用户名或密码不正确"),
        "a wrong password is refused in Chinese"
    );
    shot("01-sign-in").await;
    b.fill("input[name=password]", PASSWORD).await;
    b.submit("#sign-in", "#fleet").await;

    // Fleet: K0001 online and in service; K0002 never connected; filters by shop and state.
    b.wait_for(
        &cw.url("/fleet"),
        "#fleet tr[data-kiosk=K0001] [data-state=in_service]",
    )
    .await;
    assert!(
        b.exists("#fleet tr[data-kiosk=K0002] [data-state=offline]")
            .await
    );
    shot("02-fleet").await;
    b.goto(&cw.url("/fleet?shop=S02")).await;
    assert!(
        !b.exists("#fleet tr[data-kiosk=K0001]").await,
        "shop filter"
    );
    assert!(b.exists("#fleet tr[data-kiosk=K0002]").await);
    b.goto(&cw.url("/fleet?state=in_service")).await;
    assert!(b.exists("#fleet tr[data-kiosk=K0001]").await);
    assert!(
        !b.exists("#fleet tr[data-kiosk=K0002]").await,
        "state filter"
    );

    // Kiosk: devices, cash box by denomination, masked transactions; lock and see it locked.
    b.goto(&cw.url("/kiosk/K0001")).await;
    let cash = b.text("#cash-box").await;
    assert!(
        cash.contains("¥100.00") && cash.contains("¥1,000.00"),
        "{cash}"
    );
    let txns = b.text("#txns").await;
    assert!(txns.contains("138****1234"), "masked number shown: {txns}");
    assert!(!txns.contains("13812341234"), "never the full number");
    b.submit("#lock", "p.notice").await;
    b.wait_for(
        &cw.url("/kiosk/K0001"),
        "#pushes tr[data-op=lock][data-outcome=applied]",
    )
    .await;
    assert!(
        b.exists("h1 [data-state=locked]").await,
        "kiosk shown locked"
    );
    assert!(kiosk.log().locked, "the kiosk got the lock");
    b.submit_to("#diagnostics", "done=diagnostics").await;
    b.wait_for(&cw.url("/kiosk/K0001"), "pre.diagnostics").await;
    let diag = b.text("pre.diagnostics").await;
    assert!(
        diag.contains("paper_low") && diag.contains("notes_in"),
        "{diag}"
    );
    shot("03-kiosk-locked").await;
    b.goto(&cw.url("/fleet?state=locked")).await;
    assert!(
        b.exists("#fleet tr[data-kiosk=K0001] [data-state=locked]")
            .await
    );
    b.goto(&cw.url("/kiosk/K0001")).await;
    b.submit_to("#unlock", "done=unlock").await;
    b.wait_for(
        &cw.url("/kiosk/K0001"),
        "#pushes tr[data-op=unlock][data-outcome=applied]",
    )
    .await;
    assert!(b.exists("h1 [data-state=in_service]").await);

    // Configuration: refused keys named, then signed, rolled out and applied by the kiosk.
    b.goto(&cw.url("/config")).await;
    b.fill(
        "#bundle-text",
        "[topup]\nmax_yuan = 0\n[receipt]\nhotline = \"ten-ten\"\n",
    )
    .await;
    b.submit("#bundle-create", "#errors").await;
    for key in ["topup.max_yuan", "receipt.hotline"] {
        assert!(
            b.exists(&format!("#errors tr[data-key=\"{key}\"]")).await,
            "{key} named: {}",
            b.client.source().await.unwrap_or_default()
        );
    }
    shot("04-config-refused").await;
    b.fill(
        "#bundle-text",
        "[topup]\nmax_yuan = 800\n[receipt]\nshop = \"Xidan kiosk\"\nhotline = \"10086\"\n",
    )
    .await;
    b.fill("#bundle-note", "max 800").await;
    b.submit("#bundle-create", "#rollout-kiosk").await;
    assert!(b.text("h1").await.contains('1'), "version 1 page");
    b.fill("#rollout-kiosk", "K0001").await;
    b.submit_to("#rollout", "done=rollout").await;
    b.wait_for(
        &cw.url("/config/1"),
        "#rollout tr[data-kiosk=K0001][data-status=applied]",
    )
    .await;
    assert_eq!(
        kiosk.log().applied,
        [1],
        "applied after verifying the signature"
    );
    assert!(b.text("#bundle-content").await.contains("max_yuan = 800"));
    shot("05-config-applied").await;
    // A second version, then back to the first: its content under version 3.
    b.goto(&cw.url("/config")).await;
    b.fill("#bundle-text", "[topup]\nmax_yuan = 300\n").await;
    b.submit("#bundle-create", "#rollout-kiosk").await;
    b.fill("#rollout-kiosk", "K0001").await;
    b.submit_to("#rollout", "done=rollout").await;
    b.wait_for(
        &cw.url("/config/2"),
        "#rollout tr[data-kiosk=K0001][data-status=applied]",
    )
    .await;
    b.goto(&cw.url("/config/1")).await;
    b.fill("#rollback-kiosk", "K0001").await;
    b.submit_to("#rollback", "done=rollback").await;
    b.wait_for(
        &cw.url("/config/3"),
        "#rollout tr[data-kiosk=K0001][data-status=applied]",
    )
    .await;
    assert!(b.text("#bundle-content").await.contains("max_yuan = 800"));
    assert_eq!(kiosk.log().applied, [1, 2, 3]);
    assert!(kiosk.log().refused.is_empty());

    // Reports: each chart carries the seeded numbers (fen), each table the yuan.
    let q = "?from=2026-10-01&to=2026-11-30";
    b.goto(&cw.url(&format!("/reports/daily{q}"))).await;
    assert_eq!(
        mark(&b, "chart-daily", Some("S01 西单营业厅"), "11-03").await,
        15_000
    );
    assert_eq!(
        mark(&b, "chart-daily", Some("S02 王府井营业厅"), "11-04").await,
        60_000
    );
    assert_eq!(
        mark(&b, "chart-daily", Some("S02 王府井营业厅"), "11-03").await,
        20_000
    );
    let t = b.text("#report").await;
    assert!(
        t.contains("¥150.00") && t.contains("¥75.00"),
        "S01 on 11-03: 2 for ¥150, ¥75 each: {t}"
    );
    shot("06-report-daily").await;
    b.goto(&cw.url(&format!("/reports/period{q}"))).await;
    assert_eq!(
        mark(&b, "chart-period", None, "S02 王府井营业厅").await,
        88_000
    );
    assert_eq!(
        mark(&b, "chart-period", None, "S01 西单营业厅").await,
        26_000
    );
    shot("07-report-period").await;
    b.goto(&cw.url(&format!("/reports/months{q}"))).await;
    assert_eq!(
        mark(&b, "chart-months", Some("2026-10"), "S01 西单营业厅").await,
        5_000
    );
    assert_eq!(
        mark(&b, "chart-months", Some("2026-11"), "S01 西单营业厅").await,
        21_000
    );
    assert_eq!(
        mark(&b, "chart-months", Some("2026-11"), "S02 王府井营业厅").await,
        80_000
    );
    let t = b.text("#report").await;
    assert!(
        t.contains("79.2%"),
        "S02's share of November (800 of 1010): {t}"
    );
    assert!(t.contains("+900.0%"), "S02 from ¥80 to ¥800: {t}");
    shot("08-report-months").await;
    b.goto(&cw.url(&format!("/reports/payments{q}"))).await;
    assert_eq!(mark(&b, "chart-payments", None, "缴欠费").await, 13_000);
    assert_eq!(mark(&b, "chart-payments", None, "预存话费").await, 95_000);
    shot("09-report-payments").await;
    b.goto(&cw.url(&format!("/reports/services{q}"))).await;
    assert_eq!(mark(&b, "chart-services", None, "新开户").await, 6_000);
    assert_eq!(mark(&b, "chart-services", None, "话费充值").await, 108_000);
    shot("10-report-services").await;
    b.goto(&cw.url(&format!("/reports/bands{q}&shop=S01&shop=S02")))
        .await;
    assert_eq!(
        mark(&b, "chart-bands", None, "¥50-100").await,
        4,
        "50, 80, 50 and 60 yuan"
    );
    assert_eq!(mark(&b, "chart-bands", None, "¥100-200").await, 1);
    assert_eq!(mark(&b, "chart-bands", None, "¥200-500").await, 1);
    assert_eq!(mark(&b, "chart-bands", None, "¥500+").await, 1);
    shot("11-report-bands").await;
    // One shop only, in English.
    b.goto(&cw.url(&format!("/reports/daily{q}&shop=S02")))
        .await;
    b.submit("#lang-switch", "html[lang=en]").await;
    assert!(b.text("#report").await.contains("Amount"), "English table");
    assert!(
        !b.exists("#chart-daily [data-series=\"S01 西单营业厅\"]")
            .await,
        "S02 only"
    );
    assert_eq!(
        mark(&b, "chart-daily", Some("S02 王府井营业厅"), "10-15").await,
        8_000
    );
    shot("12-report-daily-en").await;
    b.submit("#lang-switch", "html[lang=zh-CN]").await;

    // Reconciliation: the mismatch named; the refund voucher honoured.
    b.goto(&cw.url("/recon?day=2026-11-03")).await;
    assert!(
        b.exists("#recon tr[data-kiosk=K0001][data-balanced=false]")
            .await
    );
    assert!(
        b.exists("#mismatches tr[data-txn=T-1103-2][data-kind=missing_at_operator]")
            .await
    );
    assert!(
        !b.exists("#recon tr[data-kiosk=K0002]").await,
        "balanced kiosks folded"
    );
    b.submit(
        "#recon-all",
        "#recon tr[data-kiosk=K0002][data-balanced=true]",
    )
    .await;
    assert!(b.text("#vouchers").await.contains("137****2222"));
    b.submit("#vouchers tr[data-txn=V-1103-9] button", "p.notice")
        .await;
    assert!(
        b.text("#vouchers tr[data-txn=V-1103-9]")
            .await
            .contains("已兑付")
    );
    shot("13-reconciliation").await;

    // Technicians' visits: K0003 uploads its service log over the real link; the kiosk's
    // page lists them newest first, the PIN pad lock is an open alert on the fleet page,
    // and the clearance has its report (table, chart, CSV).
    technician_visits(&cw, &b, first).await;

    // The audit log names who did each act.
    b.goto(&cw.url("/audit")).await;
    let audit = b.text("#audit").await;
    for act in [
        "login",
        "lock",
        "unlock",
        "diagnostics",
        "config.create",
        "config.rollout",
        "voucher.honour",
    ] {
        assert!(
            b.exists(&format!("#audit tr[data-action=\"{act}\"]")).await,
            "{act} audited: {audit}"
        );
    }
    assert!(audit.contains("web:admin"));
    shot("14-audit").await;

    b.submit("#sign-out", "#sign-in").await;
    b.goto(&cw.url("/fleet")).await;
    assert!(b.exists("#sign-in").await, "the session is gone");
    b.close().await;
    drop(kiosk);
    cw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_in_a_real_browser() {
    if !browser_available("console_in_a_real_browser") {
        return;
    }
    each_db("console_browser", scenario).await;
}
