//! The console over real HTTP on loopback, on SQLite and on PostgreSQL: sessions and their
//! cookies, CSRF on every form, roles (viewer, shop manager, operator, administrator), every
//! act audited, bad input answered clearly, CSV export; and the binary: `user add` (the
//! password from standard input, argon2id, never a default) and `serve` with the console.

mod common;
mod console_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::{DbKind, each_db};
use console_support::{ConsoleWorld, Http, PASSWORD, seed_business};

async fn audit_has(cw: &ConsoleWorld, actor: &str, action: &str) -> bool {
    let (a, b) = (actor.to_owned(), action.to_owned());
    cw.store
        .run(move |s| s.audit(500, Some(&a)))
        .await
        .expect("audit")
        .iter()
        .any(|e| e.action == b)
}

async fn sessions_and_csrf(db: DbKind) {
    let cw = ConsoleWorld::start(db).await;
    let mut h = cw.http();
    // Anonymous: every page sends to the sign-in page, remembering where to come back.
    let r = h.get("/kiosk/K0001").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login?next=/kiosk/K0001"));
    // The sign-in form itself needs its token.
    let r = h
        .post("/login", &[("username", "admin"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, 403, "sign-in without its CSRF token");
    // A wrong password: refused, audited, no session.
    let r = h.sign_in("admin", "guess").await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("用户名或密码不正确"));
    assert!(!h.cookies.contains_key("tk_session"));
    assert!(audit_has(&cw, "web:admin", "login.failed").await);
    // An unknown account is refused the same way.
    assert_eq!(h.sign_in("nobody", PASSWORD).await.status, 401);
    // Signed in: an HttpOnly, SameSite cookie, not Secure on plain HTTP.
    let r = h.sign_in("admin", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/fleet"));
    let cookie = r
        .headers_named("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("tk_session="))
        .expect("session cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(audit_has(&cw, "web:admin", "login").await);
    let page = h.get("/kiosk/K0001").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("server-timing")
            .is_some_and(|t| t.starts_with("app;dur="))
    );
    assert!(page.header("content-security-policy").is_some());
    let csrf = page.csrf();
    // A form without the token, or with another one, is refused and does nothing.
    for bad in [None, Some("0".repeat(64))] {
        let mut f = vec![("reason", "test")];
        if let Some(b) = &bad {
            f.push(("csrf", b));
        }
        let r = h.post("/kiosk/K0001/lock", &f).await;
        assert_eq!(r.status, 403, "lock with csrf {bad:?}");
    }
    let locked = cw
        .store
        .run(|s| s.lock_state("K0001"))
        .await
        .expect("lock state");
    assert!(locked.is_none(), "nothing locked without the token");
    // With it: locked, queued for the kiosk, audited with who.
    let r = h
        .post(
            "/kiosk/K0001/lock",
            &[("csrf", &csrf), ("reason", "cash jam")],
        )
        .await;
    assert_eq!(r.status, 303);
    let locked = cw
        .store
        .run(|s| s.lock_state("K0001"))
        .await
        .expect("lock state");
    assert_eq!(locked.map(|l| l.reason).as_deref(), Some("cash jam"));
    assert!(audit_has(&cw, "web:admin", "lock").await);
    // A lock needs a reason.
    let r = h
        .post("/kiosk/K0001/lock", &[("csrf", &csrf), ("reason", " ")])
        .await;
    assert_eq!(r.status, 400);
    // Sign out (a form too): the session is gone, also for a copy of the cookie.
    let stolen = h.cookies.get("tk_session").cloned().expect("cookie");
    assert_eq!(h.post("/logout", &[("csrf", "nope")]).await.status, 403);
    let r = h.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    assert!(!h.cookies.contains_key("tk_session"));
    assert!(audit_has(&cw, "web:admin", "logout").await);
    let mut replay = cw.http();
    replay.cookies.insert("tk_session".into(), stolen);
    assert_eq!(
        replay.get("/fleet").await.status,
        303,
        "ended session refused"
    );
    // A disabled account's sessions end at once.
    let mut v = cw.http();
    assert_eq!(v.sign_in("vic", PASSWORD).await.status, 303);
    assert_eq!(v.get("/fleet").await.status, 200);
    cw.store
        .run(|s| s.set_staff_disabled("test", "vic", true))
        .await
        .expect("disable");
    assert_eq!(v.get("/fleet").await.status, 303);
    assert_eq!(cw.http().sign_in("vic", PASSWORD).await.status, 401);
    cw.stop().await;

    // Behind TLS (a reverse proxy): the cookies are Secure (on SQLite: the flags do not
    // depend on the database).
    let cw = ConsoleWorld::start_with(DbKind::Sqlite, |s| s.behind_tls = true).await;
    let mut h = cw.http();
    let r = h.sign_in("olga", PASSWORD).await;
    let cookie = r
        .headers_named("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("tk_session="))
        .expect("session cookie")
        .to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    cw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_cookies_and_csrf() {
    each_db("console_sessions", sessions_and_csrf).await;
}

async fn roles(db: DbKind) {
    let cw = ConsoleWorld::start(db).await;
    seed_business(&cw.store).await;
    let q = "from=2026-10-01&to=2026-11-30";

    // Viewer: reads everything, acts on nothing.
    let mut v = cw.http();
    assert_eq!(v.sign_in("vic", PASSWORD).await.status, 303);
    let page = v.get("/kiosk/K0001").await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains(r#"id="lock""#),
        "no lock button for a viewer"
    );
    let csrf = page.csrf();
    let r = v
        .post("/kiosk/K0001/lock", &[("csrf", &csrf), ("reason", "x")])
        .await;
    assert_eq!(r.status, 403);
    let r = v
        .post("/config/1/rollout", &[("csrf", &csrf), ("target", "fleet")])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(v.get("/audit").await.status, 403);
    let cfg = v.get("/config").await;
    assert_eq!(cfg.status, 200);
    assert!(
        !cfg.body.contains("bundle-create"),
        "no editor for a viewer"
    );
    assert_eq!(v.get(&format!("/reports/period?{q}")).await.status, 200);
    assert!(
        cw.store
            .run(|s| s.lock_state("K0001"))
            .await
            .expect("state")
            .is_none()
    );

    // Shop manager of S02: S02's kiosks and figures only.
    let mut m = cw.http();
    assert_eq!(m.sign_in("mia", PASSWORD).await.status, 303);
    let fleet = m.get("/fleet").await;
    assert!(fleet.body.contains(r#"data-kiosk="K0002""#));
    assert!(
        !fleet.body.contains(r#"data-kiosk="K0001""#),
        "S01's kiosk hidden"
    );
    assert_eq!(m.get("/fleet?shop=S01").await.status, 403);
    assert_eq!(m.get("/kiosk/K0001").await.status, 403);
    let page = m.get("/kiosk/K0002").await;
    assert!(page.body.contains(r#"id="lock""#));
    let csrf = page.csrf();
    let r = m
        .post("/kiosk/K0001/lock", &[("csrf", &csrf), ("reason", "x")])
        .await;
    assert_eq!(r.status, 403, "not her shop");
    let r = m
        .post(
            "/kiosk/K0002/lock",
            &[("csrf", &csrf), ("reason", "counter")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(audit_has(&cw, "web:mia", "lock").await);
    let period = m.get(&format!("/reports/period?{q}")).await;
    assert!(
        period
            .body
            .contains(r#"data-label="S02 王府井营业厅" data-value="88000""#),
        "{}",
        period.body
    );
    assert!(
        !period.body.contains("S01 西单营业厅"),
        "S01's figures hidden"
    );
    assert_eq!(
        m.get(&format!("/reports/daily?{q}&shop=S01")).await.status,
        403
    );
    let csv = m.get(&format!("/reports/services?{q}&format=csv")).await;
    assert!(!csv.body.contains("S01"), "{}", csv.body);
    assert_eq!(m.get("/audit").await.status, 403);
    let r = m
        .post("/recon/run", &[("csrf", &csrf), ("day", "2026-11-03")])
        .await;
    assert_eq!(r.status, 403);
    let recon = m.get("/recon?day=2026-11-03&all=1").await;
    assert!(
        !recon.body.contains(r#"data-kiosk="K0001""#),
        "S01's reconciliation hidden"
    );
    assert!(recon.body.contains(r#"data-kiosk="K0002""#));
    assert!(!recon.body.contains("V-1103-9"), "S01's voucher hidden");

    // Operator: head office's pages.
    let mut o = cw.http();
    assert_eq!(o.sign_in("olga", PASSWORD).await.status, 303);
    assert_eq!(o.get("/audit").await.status, 200);
    let recon = o.get("/recon?day=2026-11-03").await;
    let csrf = recon.csrf();
    let r = o
        .post(
            "/vouchers/honour",
            &[("csrf", &csrf), ("kiosk", "K0001"), ("txn", "V-1103-9")],
        )
        .await;
    assert_eq!(r.status, 303);
    let r = o
        .post(
            "/vouchers/honour",
            &[("csrf", &csrf), ("kiosk", "K0001"), ("txn", "V-1103-9")],
        )
        .await;
    assert_eq!(r.status, 400, "honoured once only");
    assert!(r.body.contains("honoured already"));
    // Reconciliation now against the operator simulator: stored, audited with who.
    let r = o
        .post("/recon/run", &[("csrf", &csrf), ("day", "2026-11-03")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(audit_has(&cw, "web:olga", "reconcile").await);
    cw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roles_limit_what_each_staff_member_sees_and_does() {
    each_db("console_roles", roles).await;
}

fn multipart(fields: &[(&str, Option<&str>, &str)]) -> (String, Vec<u8>) {
    let boundary = "----telekiosk-test-boundary";
    let mut body = Vec::new();
    for (name, file, value) in fields {
        body.extend(format!("--{boundary}\r\n").bytes());
        match file {
            Some(f) => body.extend(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/plain\r\n\r\n"
                )
                .bytes(),
            ),
            None => body.extend(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").bytes()),
        }
        body.extend(value.bytes());
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn bad_input(db: DbKind) {
    let cw = ConsoleWorld::start(db).await;
    seed_business(&cw.store).await;
    let mut h = cw.http();
    assert_eq!(h.sign_in("admin", PASSWORD).await.status, 303);
    let r = h.get("/reports/daily?from=2026-13-01&to=2026-11-30").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("is not a day"), "{}", r.body);
    let r = h.get("/reports/daily?from=2026-11-30&to=2026-11-01").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("is after"), "{}", r.body);
    assert_eq!(h.get("/reports/nonsense").await.status, 404);
    assert_eq!(h.get("/kiosk/NOPE").await.status, 404);
    assert_eq!(h.get("/config/abc").await.status, 400);
    assert_eq!(h.get("/config/999").await.status, 404);
    assert_eq!(h.get("/recon?day=yesterday").await.status, 400);
    assert_eq!(h.get("/no/such/page").await.status, 404);
    // The language switch goes back only within the console.
    let r = h.get("/lang/en?back=//evil.example/").await;
    assert_eq!(r.header("location"), Some("/fleet"));
    let r = h.get("/lang/en?back=/reports/bands").await;
    assert_eq!(r.header("location"), Some("/reports/bands"));
    assert!(
        h.get("/fleet").await.body.contains("Open alerts"),
        "English now"
    );

    // A document with an unknown key: refused with the key named, nothing stored.
    let csrf = h.get("/config").await.csrf();
    let (ct, body) = multipart(&[
        ("csrf", None, &csrf),
        ("text", None, "[topup]\nmaxyuan = 3\n"),
        ("note", None, ""),
    ]);
    let r = h.request("POST", "/config", Some((&ct, &body))).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains(r#"data-key="topup.maxyuan""#), "{}", r.body);
    assert!(
        cw.store
            .run(|s| s.bundles())
            .await
            .expect("bundles")
            .is_empty()
    );
    // Without the token: refused before anything is read into a bundle.
    let (ct, body) = multipart(&[("text", None, "[topup]\nmax_yuan = 300\n")]);
    assert_eq!(
        h.request("POST", "/config", Some((&ct, &body)))
            .await
            .status,
        403
    );
    // An uploaded JSON file wins over the text box; it is signed as version 1.
    let (ct, body) = multipart(&[
        ("csrf", None, &csrf),
        ("text", None, "this is not looked at"),
        (
            "file",
            Some("bundle.json"),
            r#"{"topup": {"max_yuan": 300}}"#,
        ),
        ("note", None, "uploaded"),
    ]);
    let r = h.request("POST", "/config", Some((&ct, &body))).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/config/1?done=created"));
    let b = cw.store.run(|s| s.bundle(1)).await.expect("bundle 1");
    assert_eq!(b.config["topup"]["max_yuan"], 300);
    assert_eq!(b.created_by, "web:admin");
    // Roll-outs name what is missing.
    let r = h
        .post(
            "/config/1/rollout",
            &[("csrf", &csrf), ("target", "shop"), ("shop", "S09")],
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("no kiosk in shop:S09"), "{}", r.body);
    let r = h
        .post("/config/1/rollout", &[("csrf", &csrf), ("target", "kiosk")])
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .post(
            "/config/1/rollout",
            &[("csrf", &csrf), ("target", "kiosk"), ("kiosk", "bad id!")],
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .post(
            "/config/1/rollout",
            &[("csrf", &csrf), ("target", "shop"), ("shop", "S02")],
        )
        .await;
    assert_eq!(r.status, 303);
    let st = cw.store.run(|s| s.rollout_status(1)).await.expect("status");
    assert_eq!(
        st.iter().map(|r| r.kiosk_id.as_str()).collect::<Vec<_>>(),
        ["K0002", "K0003"]
    );
    assert!(audit_has(&cw, "web:admin", "config.rollout").await);
    // Kiosk actions on a whole fleet's worth of reasons stay bounded.
    let long = "x".repeat(201);
    let csrf_k = h.get("/kiosk/K0001").await.csrf();
    let r = h
        .post("/kiosk/K0001/lock", &[("csrf", &csrf_k), ("reason", &long)])
        .await;
    assert_eq!(r.status, 400);

    // CSV: the table's numbers, yuan without separators, a header, one line per row.
    let csv = h
        .get("/reports/daily?from=2026-11-03&to=2026-11-03&format=csv")
        .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.header("content-type")
            .is_some_and(|c| c.starts_with("text/csv"))
    );
    assert!(
        csv.header("content-disposition")
            .is_some_and(|c| c.contains("report-daily-2026-11-03-2026-11-03.csv"))
    );
    let lines: Vec<&str> = csv.body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines,
        [
            r#""Day","Shop","Count","Amount","Average""#,
            r#""2026-11-03","S01","2","150.00","75.00""#,
            r#""2026-11-03","S02","1","200.00","200.00""#,
            r#""Total","","3","350.00","116.66""#,
        ]
    );
    cw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_a_clear_answer_and_csv_exports() {
    each_db("console_bad_input", bad_input).await;
}

const BIN: &str = env!("CARGO_BIN_EXE_telekiosk-hq");

fn user_cmd(database: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args([
            "--config",
            "/nonexistent/hq.toml",
            "--database",
            database,
            "--actor",
            "cli:root",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run telekiosk-hq");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("password");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `user add` on SQLite, then `serve` with the console; the new account signs in over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_add_then_sign_in_to_the_served_console() {
    let w = common::World::new(DbKind::Sqlite, &["K0001"]).await;
    let cfg = w.config();
    let db = cfg.database.clone();
    let (ok, _, err) = user_cmd(&db, &["user", "add", "root", "--role", "admin"], "short\n");
    assert!(!ok && err.contains("at least 10 characters"), "{err}");
    let (ok, _, err) = user_cmd(
        &db,
        &["user", "add", "mgr", "--role", "shop_manager"],
        "long enough pw\n",
    );
    assert!(!ok && err.contains("at least one shop"), "{err}");
    let (ok, _, err) = user_cmd(
        &db,
        &["user", "add", "root", "--role", "king"],
        "long enough pw\n",
    );
    assert!(
        !ok && err.contains("viewer, shop_manager, operator or admin"),
        "{err}"
    );
    let (ok, out, err) = user_cmd(
        &db,
        &[
            "user",
            "add",
            "root",
            "--role",
            "admin",
            "--name",
            "总部管理员",
        ],
        "long enough pw\n",
    );
    assert!(ok, "{err}");
    assert!(out.contains("user root (admin) created"), "{out}");
    let (ok, _, err) = user_cmd(
        &db,
        &["user", "add", "root", "--role", "admin"],
        "long enough pw\n",
    );
    assert!(!ok && err.contains("exists already"), "{err}");
    let (ok, out, _) = user_cmd(&db, &["--json", "user", "list"], "");
    assert!(ok);
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(list[0]["username"], "root");
    assert!(
        list[0].get("password_hash").is_none(),
        "the hash is never printed"
    );
    let stored = w.store().staff("root").expect("staff").expect("root");
    assert!(stored.password_hash.starts_with("$argon2id$"), "argon2id");
    assert!(
        w.store()
            .audit(10, Some("cli:root"))
            .expect("audit")
            .iter()
            .any(|e| e.action == "staff.add")
    );

    let config = w.dir.path().join("hq.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"\n[tls]\ncerts = \"{}\"\n[boss]\naddr = \"{}\"\n[bundles]\nsigning_key = \"{}\"\n[reconciliation]\nenabled = false\n[console]\nlisten = \"127.0.0.1:0\"\n",
            cfg.database,
            cfg.tls.certs.display(),
            cfg.boss.addr,
            cfg.bundles.signing_key.display()
        ),
    )
    .expect("config");
    let mut child = Command::new(BIN)
        .args(["--config", config.to_str().expect("path"), "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("line").expect("line");
    assert!(first.starts_with("telekiosk-hq listening on "), "{first}");
    let second = lines.next().expect("line").expect("line");
    let addr = second
        .strip_prefix("telekiosk-hq console on http://")
        .unwrap_or_else(|| panic!("{second}"))
        .parse()
        .expect("addr");
    let mut h = Http::new(addr);
    let r = h.sign_in("root", "long enough pw").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let fleet = h.get("/fleet").await;
    assert_eq!(fleet.status, 200);
    assert!(fleet.body.contains("总部管理员"));
    // `user passwd` ends the sessions; the new password works.
    let (ok, _, err) = user_cmd(&db, &["user", "passwd", "root"], "another long pw\n");
    assert!(ok, "{err}");
    assert_eq!(h.get("/fleet").await.status, 303);
    assert_eq!(h.sign_in("root", "long enough pw").await.status, 401);
    assert_eq!(h.sign_in("root", "another long pw").await.status, 303);
    // A second server whose console cannot listen (the port is the first one's) still
    // serves the kiosks, and says why there is no console.
    let mut second = Command::new(BIN)
        .args([
            "--config",
            config.to_str().expect("path"),
            "serve",
            "--console-listen",
        ])
        .arg(addr.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let mut out = BufReader::new(second.stdout.take().expect("stdout")).lines();
    let first = out.next().expect("line").expect("line");
    assert!(first.starts_with("telekiosk-hq listening on "), "{first}");
    let kiosk_addr: std::net::SocketAddr = first
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("kiosk address");
    let err = BufReader::new(second.stderr.take().expect("stderr"))
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("console not started"))
        .expect("the missing console is reported");
    assert!(err.contains(&addr.to_string()), "{err}");
    assert!(
        std::net::TcpStream::connect(kiosk_addr).is_ok(),
        "the kiosks' listener is up"
    );
    let _ = second.kill();
    let _ = second.wait();
    let _ = child.kill();
    let _ = child.wait();
}
