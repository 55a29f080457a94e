//! The kiosk runtime end to end, in process: the same runtime `telekiosk run` starts, with
//! the device simulators over pseudo-terminals, linked over mutual TLS on loopback to the
//! self-service system server (`telekiosk-hq`), which forwards business to the operator
//! simulator. What head office does (signed bundles, lock, unlock) goes through the server's
//! library API and push path, what it reads (heartbeats, uploads) from the server's store;
//! what a customer does goes through the screen contract.

use std::path::Path;
use std::time::Duration;

use bill_acceptor::Protocol;
use bill_acceptor::sim::Action;
use boss_protocol::{AckOutcome, ConfigBundle, Push};
use telekiosk::config::KioskConfig;
use telekiosk::demo::{DemoKiosk, KIOSK_ID, World, demo_options, kiosk_config};
use telekiosk::flow::screen::CashView;
use telekiosk::flow::{Screen, ServiceId, Ui};
use telekiosk::journal::TxnState;
use telekiosk::runtime::kiosk::Note;
use telekiosk::runtime::screen::{Availability, KioskStatus, ScreenUpdate, UiEvent};

const PATIENCE: Duration = Duration::from_secs(40);

/// The unplug test counts on the kernel telling the kiosk at once that the acceptor's
/// pseudo-terminal is gone; with the other kiosks of this file starting and stopping
/// beside it, that answer was once not seen within `PATIENCE`. It runs alone; the
/// others share.
static ALONE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
const NUMBER: &str = "13800000000";

fn config(dir: &Path, w: &World) -> KioskConfig {
    kiosk_config(
        dir,
        &w.link_address(),
        &w.certs,
        Some((&w.bill_path, w.protocol)),
        Some(&w.printer_path),
        Default::default(),
    )
}

/// What the screen has been told, kept up to date while waiting.
#[derive(Debug, Default)]
struct Seen {
    status: Option<KioskStatus>,
    topup: Option<Availability>,
    last: Vec<ScreenUpdate>,
}

impl Seen {
    fn take(&mut self, u: &ScreenUpdate) {
        match u {
            ScreenUpdate::Status(s) => self.status = Some(s.clone()),
            ScreenUpdate::Services(list) => {
                self.topup = list
                    .iter()
                    .find(|s| s.service == ServiceId::TopUp)
                    .map(|s| s.availability.clone())
            }
            _ => {}
        }
        self.last.push(u.clone());
    }
}

/// Waits until `pred` holds for what the screen was told (checking after every update).
async fn until(
    k: &mut DemoKiosk,
    seen: &mut Seen,
    what: &str,
    mut pred: impl FnMut(&Seen, Option<&ScreenUpdate>) -> bool,
) -> ScreenUpdate {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, k.screen.recv()).await {
            Ok(Some(u)) => {
                seen.take(&u);
                if pred(seen, Some(&u)) {
                    return u;
                }
            }
            Ok(None) => panic!("the kiosk stopped while waiting for {what}"),
            Err(_) => panic!(
                "{what} never came; last: {:?}",
                seen.last.iter().rev().take(5).collect::<Vec<_>>()
            ),
        }
    }
}

async fn in_service(k: &mut DemoKiosk, seen: &mut Seen) {
    if seen.status == Some(KioskStatus::InService) && seen.topup == Some(Availability::Available) {
        return;
    }
    until(k, seen, "in service with top-up offered", |s, _| {
        s.status == Some(KioskStatus::InService) && s.topup == Some(Availability::Available)
    })
    .await;
}

async fn customer(k: &DemoKiosk, ui: Ui) {
    k.ui.send(UiEvent::Customer(ui)).await.unwrap();
}

/// Starts a top-up and brings the customer to the note screen.
async fn to_note_screen(k: &mut DemoKiosk, seen: &mut Seen) {
    in_service(k, seen).await;
    k.ui.send(UiEvent::Start(ServiceId::TopUp)).await.unwrap();
    until(k, seen, "the keypad", |_, u| {
        matches!(u, Some(ScreenUpdate::Show(Screen::EnterNumber { .. })))
    })
    .await;
    customer(k, Ui::Number(NUMBER.into())).await;
    until(k, seen, "the confirmation", |_, u| {
        matches!(u, Some(ScreenUpdate::Show(Screen::Confirm { .. })))
    })
    .await;
    customer(k, Ui::Confirm).await;
    until(k, seen, "the note screen", |_, u| {
        matches!(u, Some(ScreenUpdate::Show(Screen::Insert(_))))
    })
    .await;
}

async fn wait_total(k: &mut DemoKiosk, seen: &mut Seen, fen: u64) -> CashView {
    match until(k, seen, "the total", |_, u| {
        matches!(u, Some(ScreenUpdate::Show(Screen::Insert(v))) if v.total_fen == fen && !v.busy)
    })
    .await
    {
        ScreenUpdate::Show(Screen::Insert(v)) => v,
        _ => unreachable!(),
    }
}

/// Finishes and waits for the session to end; returns the transaction.
async fn finish(k: &mut DemoKiosk, seen: &mut Seen) -> String {
    customer(k, Ui::Finish).await;
    until(k, seen, "the printed result", |_, u| {
        matches!(u, Some(ScreenUpdate::Show(Screen::Result { receipt, .. }))
            if *receipt != telekiosk::flow::screen::ReceiptState::Printing)
    })
    .await;
    customer(k, Ui::Confirm).await;
    k.wait_note(PATIENCE, |n| match n {
        Note::SessionEnded { txn, .. } => Some(txn.clone()),
        _ => None,
    })
    .await
    .unwrap()
    .expect("a transaction")
}

/// A push exactly as given, on the server's push path (what a faulty or forged head office
/// could send).
async fn push(w: &World, push: Push) {
    w.push_raw(push).await.expect("push through the server");
}

async fn lock(w: &World, reason: &str, message: Option<&str>) {
    w.lock(reason, message)
        .await
        .expect("head office locks through the server");
}

async fn unlock(w: &World) {
    w.unlock()
        .await
        .expect("head office unlocks through the server");
}

async fn ack(k: &mut DemoKiosk, op: &str) -> (AckOutcome, Option<String>) {
    k.wait_note(PATIENCE, |n| match n {
        Note::Push {
            op: o,
            outcome,
            message,
        } if o == op => Some((*outcome, message.clone())),
        _ => None,
    })
    .await
    .unwrap()
}

fn settings_with_max(max_yuan: u64) -> telekiosk_settings::Settings {
    let mut s = telekiosk_settings::Settings::default();
    s.topup.max_yuan = max_yuan;
    s
}

async fn stop(k: DemoKiosk) -> telekiosk::runtime::journal::JournalHandle {
    let _ = k.stop.send(true);
    tokio::time::timeout(PATIENCE, k.task)
        .await
        .expect("the kiosk stops")
        .unwrap()
        .unwrap();
    k.journal
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_pushed_mid_session_waits_for_the_customer_and_an_unlock_reopens() {
    let _shared = ALONE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path(), Protocol::Ssp, true).await.unwrap();
    let mut k = DemoKiosk::start(&config(dir.path(), &w), demo_options()).unwrap();
    let mut seen = Seen::default();
    to_note_screen(&mut k, &mut seen).await;
    lock(&w, "maintenance", Some("系统维护，请到柜台办理")).await;
    assert_eq!(ack(&mut k, "lock").await.0, AckOutcome::Deferred);
    // The customer carries on.
    w.bill.send(Action::Insert { fen: 2000 }).await.unwrap();
    wait_total(&mut k, &mut seen, 2000).await;
    let txn = finish(&mut k, &mut seen).await;
    until(&mut k, &mut seen, "locked after the customer", |s, _| {
        matches!(&s.status, Some(KioskStatus::Locked { message: Some(m) }) if m.contains("柜台"))
    })
    .await;
    // A locked kiosk starts no session.
    k.ui.send(UiEvent::Start(ServiceId::TopUp)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(u) = k.screen.try_recv() {
        assert!(
            !matches!(u, ScreenUpdate::Show(_)),
            "a session started while locked: {u:?}"
        );
    }
    unlock(&w).await;
    assert_eq!(ack(&mut k, "unlock").await.0, AckOutcome::Applied);
    in_service(&mut k, &mut seen).await;
    let journal = stop(k).await;
    let t = journal.run(move |j| j.get(&txn)).await.unwrap().unwrap();
    assert_eq!(t.state, TxnState::Settled);
    assert_eq!(t.credited_fen, 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_unsigned_forged_or_replayed_are_refused_and_the_kiosk_keeps_its_settings() {
    let _shared = ALONE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path(), Protocol::Ssp, true).await.unwrap();
    let mut k = DemoKiosk::start(&config(dir.path(), &w), demo_options()).unwrap();
    let mut seen = Seen::default();
    in_service(&mut k, &mut seen).await;

    let good = settings_with_max(200).to_json();
    // Head office wrote an older bundle it never rolled out (it rolls it out below, by
    // mistake: a replay to the kiosk).
    let key = telekiosk_settings::bundle::load_signing_key(
        &w.certs.join(telekiosk_settings::bundle::DEV_SIGNING_KEY),
    )
    .unwrap();
    let older = {
        let (text, key) = (settings_with_max(5000).to_json().to_string(), key.clone());
        w.head_office()
            .run(move |s| s.create_bundle("test", &text, &key, None))
            .await
            .unwrap()
            .version
    };
    // Unsigned.
    push(
        &w,
        Push::ConfigBundle(ConfigBundle {
            version: 5,
            config: good.clone(),
            signature: None,
        }),
    )
    .await;
    let (outcome, message) = ack(&mut k, "config_bundle").await;
    assert_eq!(outcome, AckOutcome::Rejected);
    assert!(message.unwrap().contains("not signed"));
    // Signed by someone else's key.
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    push(
        &w,
        Push::ConfigBundle(ConfigBundle {
            version: 5,
            config: good.clone(),
            signature: Some(telekiosk_settings::bundle::sign(&stranger, 5, &good)),
        }),
    )
    .await;
    let (outcome, message) = ack(&mut k, "config_bundle").await;
    assert_eq!(outcome, AckOutcome::Rejected);
    assert!(message.unwrap().contains("signature"));
    // Head office's own: applied.
    let applied = w.push_settings(&settings_with_max(200)).await.unwrap();
    assert_eq!(ack(&mut k, "config_bundle").await.0, AckOutcome::Applied);
    // An older version, properly signed: a replay.
    assert!(older < applied);
    w.head_office()
        .run(move |s| s.rollout("test", older, &telekiosk_hq::Target::Kiosk(KIOSK_ID.into())))
        .await
        .unwrap();
    let (outcome, message) = ack(&mut k, "config_bundle").await;
    assert_eq!(outcome, AckOutcome::Rejected);
    assert!(message.unwrap().contains("replay"));
    // An invalid one, properly signed (the server checks what it signs, so this one comes
    // as it is on the push path): every bad key named.
    let mut bad = settings_with_max(0);
    bad.session.warn_secs = 999;
    let cfg = serde_json::to_value(&bad).unwrap();
    let next = applied + 1;
    push(
        &w,
        Push::ConfigBundle(ConfigBundle {
            version: next,
            signature: Some(telekiosk_settings::bundle::sign(&key, next, &cfg)),
            config: cfg,
        }),
    )
    .await;
    let (outcome, message) = ack(&mut k, "config_bundle").await;
    assert_eq!(outcome, AckOutcome::Rejected);
    let message = message.unwrap();
    assert!(
        message.contains("topup.max_yuan") && message.contains("session.warn_secs"),
        "{message}"
    );
    // Still on the version applied: the customer is told the 200 yuan limit.
    k.ui.send(UiEvent::Start(ServiceId::TopUp)).await.unwrap();
    until(&mut k, &mut seen, "the keypad", |_, u| {
        matches!(u, Some(ScreenUpdate::Show(Screen::EnterNumber { .. })))
    })
    .await;
    customer(&k, Ui::Number(NUMBER.into())).await;
    let confirm = until(&mut k, &mut seen, "the confirmation", |_, u| {
        matches!(u, Some(ScreenUpdate::Show(Screen::Confirm { .. })))
    })
    .await;
    assert!(
        matches!(
            confirm,
            ScreenUpdate::Show(Screen::Confirm {
                max_fen: 20_000,
                ..
            })
        ),
        "{confirm:?}"
    );
    customer(&k, Ui::Cancel).await;
    stop(k).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_lock_and_the_configuration() {
    let _shared = ALONE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path(), Protocol::Ssp, true).await.unwrap();
    let cfg = config(dir.path(), &w);
    let mut k = DemoKiosk::start(&cfg, demo_options()).unwrap();
    let mut seen = Seen::default();
    in_service(&mut k, &mut seen).await;
    w.push_settings(&settings_with_max(123)).await.unwrap();
    assert_eq!(ack(&mut k, "config_bundle").await.0, AckOutcome::Applied);
    lock(&w, "audit", None).await;
    assert_eq!(ack(&mut k, "lock").await.0, AckOutcome::Applied);
    stop(k).await;

    // The server forgets the lock (no unlock is pushed) so only the kiosk's own memory can
    // keep it.
    w.head_office()
        .db()
        .tx(|s| -> Result<(), telekiosk_hq::store::StoreError> {
            s.exec(
                "UPDATE kiosks SET locked=0, lock_reason=NULL, lock_message=NULL WHERE kiosk_id=$1",
                &[KIOSK_ID.into()],
            )?;
            Ok(())
        })
        .unwrap();
    let mut k = DemoKiosk::start(&cfg, demo_options()).unwrap();
    let mut seen = Seen::default();
    let first = until(&mut k, &mut seen, "a state after start", |s, _| {
        matches!(
            s.status,
            Some(KioskStatus::Locked { .. } | KioskStatus::InService)
        )
    })
    .await;
    assert!(
        matches!(seen.status, Some(KioskStatus::Locked { .. })),
        "came back unlocked: {first:?}"
    );
    unlock(&w).await;
    assert_eq!(ack(&mut k, "unlock").await.0, AckOutcome::Applied);
    in_service(&mut k, &mut seen).await;
    k.ui.send(UiEvent::Start(ServiceId::TopUp)).await.unwrap();
    until(&mut k, &mut seen, "the keypad", |_, u| {
        matches!(u, Some(ScreenUpdate::Show(Screen::EnterNumber { .. })))
    })
    .await;
    customer(&k, Ui::Number(NUMBER.into())).await;
    let confirm = until(&mut k, &mut seen, "the confirmation", |_, u| {
        matches!(u, Some(ScreenUpdate::Show(Screen::Confirm { .. })))
    })
    .await;
    assert!(
        matches!(
            confirm,
            ScreenUpdate::Show(Screen::Confirm {
                max_fen: 12_300,
                ..
            })
        ),
        "the configuration of before the restart: {confirm:?}"
    );
    customer(&k, Ui::Cancel).await;
    stop(k).await;
}

/// A bill acceptor simulator in a process of its own, at a stable name: killing the
/// process is pulling the plug (its pseudo-terminal disappears).
struct PluggedAcceptor {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
}

impl PluggedAcceptor {
    async fn plug(link: &Path) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_telekiosk"))
            .args(["sim", "bill", "--link"])
            .arg(link)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // Ready once it has made its stable name.
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("stable name") {
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, stdin }
    }

    async fn insert(&mut self, yuan: u64) {
        use tokio::io::AsyncWriteExt;
        self.stdin
            .write_all(format!("insert {yuan}\n").as_bytes())
            .await
            .unwrap();
    }

    /// Pulls the plug: the device goes, and udev takes its stable name away.
    async fn unplug(mut self, link: &Path) {
        self.child.kill().await.unwrap();
        let _ = std::fs::remove_file(link);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bill_acceptor_unplugged_and_plugged_back_is_found_again() {
    let _alone = ALONE.write().await;
    if std::env::var_os("DEBUG_UNPLUG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,bill_acceptor=debug")
            .try_init();
    }
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path(), Protocol::Ssp, true).await.unwrap();
    // The acceptor at a stable name, as udev gives it.
    let link = dir.path().join("dev").join("bill");
    let sim = PluggedAcceptor::plug(&link).await;
    let cfg = kiosk_config(
        dir.path(),
        &w.link_address(),
        &w.certs,
        Some((&link, Protocol::Ssp)),
        Some(&w.printer_path),
        Default::default(),
    );
    let mut k = DemoKiosk::start(&cfg, demo_options()).unwrap();
    let mut seen = Seen::default();
    in_service(&mut k, &mut seen).await;

    sim.unplug(&link).await;
    until(&mut k, &mut seen, "top-up greyed", |s, _| {
        matches!(&s.topup, Some(Availability::Unavailable { en, .. }) if en.contains("banknote acceptor"))
    })
    .await;
    // Plugged back in: a new device node behind the same name.
    let mut sim = PluggedAcceptor::plug(&link).await;
    in_service(&mut k, &mut seen).await;
    // And it takes money again.
    to_note_screen(&mut k, &mut seen).await;
    sim.insert(10).await;
    wait_total(&mut k, &mut seen, 1000).await;
    let txn = finish(&mut k, &mut seen).await;
    let journal = stop(k).await;
    let t = journal.run(move |j| j.get(&txn)).await.unwrap().unwrap();
    assert_eq!(t.state, TxnState::Settled);
    sim.unplug(&link).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_stacked_as_the_acceptor_loses_power_is_credited_once_it_says_so() {
    let _shared = ALONE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path(), Protocol::Ssp, true).await.unwrap();
    let mut k = DemoKiosk::start(&config(dir.path(), &w), demo_options()).unwrap();
    let mut seen = Seen::default();
    to_note_screen(&mut k, &mut seen).await;
    w.bill.send(Action::Insert { fen: 1000 }).await.unwrap();
    wait_total(&mut k, &mut seen, 1000).await;
    // The power fails while the next note is being stacked: the link drops mid-stacking;
    // at power-up the device reports the note as cleared into the cash box.
    w.bill.send(Action::PowerCutWhileStacking).await.unwrap();
    w.bill.send(Action::Insert { fen: 2000 }).await.unwrap();
    // The acceptor comes back and says the note reached the cash box: the customer's.
    wait_total(&mut k, &mut seen, 3000).await;
    let txn = finish(&mut k, &mut seen).await;
    let steps = {
        let t = txn.clone();
        k.journal.run(move |j| j.steps(&t)).await.unwrap().unwrap()
    };
    assert!(
        steps
            .iter()
            .any(|s| s.kind == "note_credited" && s.detail["fen"] == 2000),
        "{steps:?}"
    );
    let journal = stop(k).await;
    let t = journal.run(move |j| j.get(&txn)).await.unwrap().unwrap();
    assert_eq!((t.state, t.credited_fen), (TxnState::Settled, 3000));
    assert_eq!(w.cashbox.total_fen(), 3000, "what went into the cash box");
    let check = journal.run(|j| j.check(false)).await.unwrap().unwrap();
    assert!(check.is_ok(), "{:?}", check.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_mid_payment_finishes_the_customer_and_exits_cleanly() {
    let _shared = ALONE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path(), Protocol::Ssp, true).await.unwrap();
    let mut k = DemoKiosk::start(&config(dir.path(), &w), demo_options()).unwrap();
    let mut seen = Seen::default();
    to_note_screen(&mut k, &mut seen).await;
    w.bill.send(Action::Insert { fen: 2000 }).await.unwrap();
    wait_total(&mut k, &mut seen, 2000).await;
    // SIGTERM (what `telekiosk run` turns it into) while another note is on its way in.
    w.bill.send(Action::Insert { fen: 5000 }).await.unwrap();
    let _ = k.stop.send(true);
    let journal = k.journal.clone();
    tokio::time::timeout(Duration::from_secs(90), k.task)
        .await
        .expect("the kiosk stops within its grace")
        .unwrap()
        .unwrap();
    // Whatever went into the cash box was credited; nothing is left open.
    let check = journal.run(|j| j.check(false)).await.unwrap().unwrap();
    assert!(check.is_ok(), "{:?}", check.violations);
    let txns = journal.run(|j| j.list(10)).await.unwrap().unwrap();
    assert_eq!(txns.len(), 1);
    assert_eq!(txns[0].state, TxnState::Settled);
    assert_eq!(
        u64::try_from(txns[0].credited_fen).unwrap(),
        w.cashbox.total_fen(),
        "credited what is in the cash box"
    );
}

/// A settled top-up is uploaded to head office, and the heartbeat carries the kiosk's real
/// state: device health, cash box, screen, versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settled_top_ups_are_uploaded_and_heartbeats_carry_real_health() {
    let _shared = ALONE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path(), Protocol::Ssp, true).await.unwrap();
    let mut k = DemoKiosk::start(&config(dir.path(), &w), demo_options()).unwrap();
    let mut seen = Seen::default();
    to_note_screen(&mut k, &mut seen).await;
    w.bill.send(Action::Insert { fen: 5000 }).await.unwrap();
    wait_total(&mut k, &mut seen, 5000).await;
    finish(&mut k, &mut seen).await;
    let acked = k
        .wait_note(PATIENCE, |n| match n {
            Note::Uploaded { acked_seq } if *acked_seq >= 1 => Some(*acked_seq),
            _ => None,
        })
        .await
        .unwrap();
    let store = w.head_office();
    assert_eq!(
        store.journal_acked_seq(KIOSK_ID).unwrap(),
        Some(u64::try_from(acked).unwrap())
    );
    // The cursor is durable: the journal knows head office has it.
    let cursor = k.journal.run(|j| j.upload_acked()).await.unwrap().unwrap();
    assert_eq!(cursor, acked);
    // Heartbeats at the server's interval, as head office's fleet view holds them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    let hb = loop {
        let view = store.kiosk(KIOSK_ID).unwrap();
        if view.cash_box.as_ref().is_some_and(|c| c.total_fen == 5000) {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no heartbeat with the cash box"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let devices = &hb.devices;
    assert!(
        devices
            .iter()
            .any(|d| d.device == boss_protocol::DeviceKind::BillAcceptor
                && d.state == boss_protocol::DeviceState::Ok),
        "{hb:?}"
    );
    assert!(
        devices
            .iter()
            .any(|d| d.device == boss_protocol::DeviceKind::ReceiptPrinter),
        "{hb:?}"
    );
    assert_eq!(hb.kiosk_state.as_deref(), Some("in_service"));
    assert_eq!(hb.config_version, Some(0));
    assert!(hb.software.as_deref().unwrap().starts_with("telekiosk/"));
    assert!(
        !serde_json::to_string(&hb).unwrap().contains(NUMBER),
        "no full number in a heartbeat"
    );
    // What was uploaded holds no full number either.
    let uploaded = store
        .db()
        .read(
            |s| -> Result<Vec<String>, telekiosk_hq::store::StoreError> {
                s.query(
                "SELECT COALESCE(msisdn_masked, '') || ' ' || COALESCE(detail, '') FROM journal",
                &[],
            )?
            .iter()
            .map(|r| Ok(r.str(0)?))
            .collect()
            },
        )
        .unwrap();
    assert!(
        !uploaded.is_empty() && uploaded.iter().all(|u| !u.contains(NUMBER)),
        "{uploaded:?}"
    );
    stop(k).await;
}

/// The next paper the printer simulator put out, as text.
async fn next_paper(w: &mut World) -> String {
    tokio::time::timeout(PATIENCE, w.printed.recv())
        .await
        .expect("a paper within the patience")
        .expect("the printer simulator runs")
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_at_a_terminal_waits_for_the_customer_clears_the_box_and_restocks() {
    use telekiosk::runtime::service::{ServiceRequest, ask};
    let _shared = ALONE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::start(dir.path(), Protocol::Ssp, true).await.unwrap();
    let cfg = config(dir.path(), &w);
    let socket = cfg.machine.service.socket.clone();
    let mut k = DemoKiosk::start(&cfg, demo_options()).unwrap();
    let mut seen = Seen::default();

    // Nothing changes the kiosk outside service mode.
    in_service(&mut k, &mut seen).await;
    let r = ask(&socket, &ServiceRequest::TestReceipt).await.unwrap();
    assert!(!r.ok && r.error.unwrap().contains("enter service mode first"));

    // A customer pays; the technician asks to enter meanwhile and waits for them.
    to_note_screen(&mut k, &mut seen).await;
    w.bill.send(Action::Insert { fen: 2000 }).await.unwrap();
    wait_total(&mut k, &mut seen, 2000).await;
    let enter = tokio::spawn({
        let socket = socket.clone();
        async move {
            ask(
                &socket,
                &ServiceRequest::Enter {
                    technician: "T07".into(),
                },
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!enter.is_finished(), "entered beside a customer");
    let status = ask(&socket, &ServiceRequest::Status).await.unwrap();
    let status = status.result.unwrap();
    assert_eq!(status["waiting_to_enter"], "T07", "{status}");
    assert_eq!(status["state"], "in_service");
    assert_eq!(status["counters"]["notes"], 1, "the note in so far");
    w.bill.send(Action::Insert { fen: 5000 }).await.unwrap();
    wait_total(&mut k, &mut seen, 7000).await;
    finish(&mut k, &mut seen).await;
    let _receipt = next_paper(&mut w).await;
    let entered = enter.await.unwrap().unwrap();
    assert!(entered.ok, "{entered:?}");
    let r = entered.result.unwrap();
    assert_eq!(r["state"], "out_of_service", "{r}");
    assert_eq!(r["service_mode"]["technician"], "T07");
    until(&mut k, &mut seen, "out of service for customers", |s, _| {
        matches!(&s.status, Some(KioskStatus::OutOfService { problems })
            if problems.iter().any(|p| p.technician.contains("service mode: technician T07")))
    })
    .await;
    // A customer touching a tile now starts nothing.
    k.ui.send(UiEvent::Start(ServiceId::TopUp)).await.unwrap();

    // Clearance: refused until the technician confirms the box is empty.
    let clear = |emptied| ServiceRequest::Clearance {
        technician: "T07".into(),
        emptied,
    };
    let r = ask(&socket, &clear(false)).await.unwrap();
    assert!(
        !r.ok && r.error.as_deref().unwrap().contains("¥70.00"),
        "{r:?}"
    );
    let r = ask(&socket, &clear(true)).await.unwrap();
    assert!(r.ok, "{r:?}");
    let r = r.result.unwrap();
    assert_eq!(r["total_fen"], 7000);
    assert_eq!(r["slip"], "printed");
    let slip = next_paper(&mut w).await;
    assert!(
        slip.contains("清机结算单") && slip.contains("70.00元") && slip.contains("T07"),
        "{slip}"
    );
    let cash = k.journal.run(|j| j.cashbox()).await.unwrap().unwrap();
    assert_eq!(cash.total_fen, 0, "the ledger starts again");

    // Restock: 5 blank cards, nothing in the reject bin to take out.
    let r = ask(
        &socket,
        &ServiceRequest::Restock {
            technician: "T07".into(),
            added: 5,
            bin_emptied: true,
        },
    )
    .await
    .unwrap();
    assert!(r.ok, "{r:?}");
    let r = r.result.unwrap();
    assert_eq!(
        (r["added"].as_u64(), r["in_stock"].as_i64()),
        (Some(5), Some(5))
    );
    let slip = next_paper(&mut w).await;
    assert!(
        slip.contains("放卡维护单") && slip.contains("5 张"),
        "{slip}"
    );

    // The terminal's words, from the binary a technician runs.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_telekiosk"))
        .args(["service", "status", "--socket"])
        .arg(&socket)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("service mode: technician T07") && text.contains("cards: 5 blank"),
        "{text}"
    );

    assert!(
        text.contains("counters: ") && text.contains("2 notes"),
        "{text}"
    );
    // The log into a file the technician names (status and logs need no service mode).
    let file = dir.path().join("kiosk-log.txt");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_telekiosk"))
        .args(["service", "logs", "--out"])
        .arg(&file)
        .arg("--socket")
        .arg(&socket)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(&file).unwrap();
    assert!(!log.contains(NUMBER), "no number in the clear");

    // Leaving: back into service; the journal has every step with the technician.
    let r = ask(&socket, &ServiceRequest::Exit).await.unwrap();
    assert_eq!(r.result.unwrap()["state"], "in_service");
    in_service(&mut k, &mut seen).await;
    let log = k
        .journal
        .run(|j| j.service_entries(20))
        .await
        .unwrap()
        .unwrap();
    let actions: Vec<_> = log.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["enter_wait", "enter", "clearance", "restock", "exit"],
        "{log:?}"
    );
    assert!(log.iter().all(|e| e.technician == "T07"));
    let journal = stop(k).await;
    let check = journal.run(|j| j.check(false)).await.unwrap().unwrap();
    assert!(check.is_ok(), "{:?}", check.violations);

    // With the kiosk gone the terminal says so, and where to turn.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_telekiosk"))
        .args(["service", "status", "--socket"])
        .arg(&socket)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("no kiosk is running") && text.contains("telekiosk diag"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_tests_the_id_card_reader_and_the_camera_through_the_kiosk() {
    use telekiosk::runtime::service::{ServiceRequest, ask};
    let _shared = ALONE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path(), Protocol::Ssp, true).await.unwrap();
    let cfg = w.config(dir.path(), Default::default());
    let socket = cfg.machine.service.socket.clone();
    let mut k = DemoKiosk::start(&cfg, demo_options()).unwrap();
    let mut seen = Seen::default();
    in_service(&mut k, &mut seen).await;
    let test = ServiceRequest::TestIdCard { wait_s: 1 };
    let r = ask(&socket, &test).await.unwrap();
    assert!(!r.ok, "a self-test outside service mode: {r:?}");
    let enter = ServiceRequest::Enter {
        technician: "T07".into(),
    };
    assert!(ask(&socket, &enter).await.unwrap().ok);
    // Nothing on the reader: said so after the wait.
    let r = ask(&socket, &test).await.unwrap().result.unwrap();
    assert_eq!(r["problem"], "NoCard", "{r}");
    // 王小明's card: read through the kiosk's actor, shown masked.
    assert!(w.id_reader.with(|r| r.place("resident")));
    let r = ask(&socket, &ServiceRequest::TestIdCard { wait_s: 10 })
        .await
        .unwrap()
        .result
        .unwrap();
    assert_eq!(
        (
            r["name"].as_str(),
            r["id_number"].as_str(),
            r["expired"].as_bool()
        ),
        (Some("王**"), Some("110101********1233"), Some(false)),
        "{r}"
    );
    assert!(!r.to_string().contains("王小明") && !r.to_string().contains("19900307"));
    let log = k
        .journal
        .run(|j| j.service_entries(5))
        .await
        .unwrap()
        .unwrap();
    assert!(
        log.iter()
            .filter(|e| e.action == "test_id_card")
            .all(|e| !e.detail.to_string().contains("110101")),
        "{log:?}"
    );
    // The camera: a photo checked for quality, the picture not kept.
    let r = ask(&socket, &ServiceRequest::TestCamera)
        .await
        .unwrap()
        .result
        .unwrap();
    assert!(r["problem"].is_null(), "{r}");
    assert!(r["quality"]["brightness"].as_f64().unwrap() > 0.0, "{r}");
    assert_eq!(
        r["good"],
        r["quality"]["issues"].as_array().unwrap().is_empty()
    );
    assert!(r.get("jpeg").is_none() && !r.to_string().contains("base64"));
    assert!(ask(&socket, &ServiceRequest::Exit).await.unwrap().ok);
    stop(k).await;
}

/// The technician's screen updates only (the rest is the customers').
async fn tech_screen(
    k: &mut DemoKiosk,
    seen: &mut Seen,
    what: &str,
    mut pred: impl FnMut(&telekiosk::runtime::screen::TechScreen) -> bool,
) -> telekiosk::runtime::screen::TechScreen {
    match until(
        k,
        seen,
        what,
        |_, u| matches!(u, Some(ScreenUpdate::Technician(t)) if pred(t)),
    )
    .await
    {
        ScreenUpdate::Technician(t) => t,
        other => panic!("{other:?}"),
    }
}

/// The panel once the action `action` has answered.
async fn outcome(
    k: &mut DemoKiosk,
    seen: &mut Seen,
    action: &str,
) -> telekiosk::runtime::screen::TechPanel {
    use telekiosk::runtime::screen::TechScreen;
    match tech_screen(k, seen, action, |t| {
        matches!(t, TechScreen::Panel(p) if p.busy.is_none() && p.last.as_ref().is_some_and(|l| l.action == action))
    })
    .await
    {
        TechScreen::Panel(p) => *p,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_signs_in_on_the_screen_tests_the_acceptor_and_dispenser_and_wrong_pins_lock_the_pad()
 {
    use telekiosk::runtime::screen::{Pin, SignInNotice, TechAction, TechScreen};
    use telekiosk::runtime::technician::hash_pin;
    let _shared = ALONE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::start(dir.path(), Protocol::Ssp, true).await.unwrap();
    let mut settings = telekiosk_settings::Settings::default();
    for (id, pin) in [("T07", "246810"), ("T08", "135790")] {
        settings.technicians.push(telekiosk_settings::Technician {
            id: id.into(),
            pin_hash: hash_pin(pin).unwrap(),
        });
    }
    let cfg = w.config(dir.path(), settings);
    let mut k = DemoKiosk::start(&cfg, demo_options()).unwrap();
    let mut seen = Seen::default();
    in_service(&mut k, &mut seen).await;
    let sign_in = |id: &str, pin: &str| UiEvent::TechnicianSignIn {
        id: id.into(),
        pin: Pin::new(pin),
    };
    let act = |a: TechAction| UiEvent::TechnicianAction(a);

    // The hidden entry opens the pad with the configured ids.
    k.ui.send(UiEvent::Technician).await.unwrap();
    let t = tech_screen(&mut k, &mut seen, "the sign-in", |t| {
        matches!(t, TechScreen::SignIn { .. })
    })
    .await;
    assert_eq!(
        t,
        TechScreen::SignIn {
            ids: vec!["T07".into(), "T08".into()],
            notice: None
        }
    );
    // Another technician's PIN is a wrong PIN.
    k.ui.send(sign_in("T07", "135790")).await.unwrap();
    tech_screen(&mut k, &mut seen, "wrong PIN", |t| {
        matches!(
            t,
            TechScreen::SignIn {
                notice: Some(SignInNotice::WrongPin { left: 4 }),
                ..
            }
        )
    })
    .await;
    k.ui.send(sign_in("T07", "246810")).await.unwrap();
    let panel = tech_screen(&mut k, &mut seen, "the panel", |t| {
        matches!(t, TechScreen::Panel(_))
    })
    .await;
    let TechScreen::Panel(p) = panel else {
        unreachable!()
    };
    assert_eq!((p.technician.as_str(), p.kiosk.as_str()), ("T07", KIOSK_ID));
    assert!(
        p.devices
            .iter()
            .any(|d| d.name == "bill_acceptor" && d.state == "ok"),
        "{p:?}"
    );
    // Customers see the kiosk being serviced (said before the panel came, or after).
    let serviced = |s: &Seen| matches!(&s.status, Some(KioskStatus::OutOfService { problems }) if problems.iter().any(|p| p.technician.contains("T07")));
    if !serviced(&seen) {
        until(&mut k, &mut seen, "out of service", |s, _| serviced(s)).await;
    }

    // Accept and return: the acceptor reads a ¥20 note and hands it back; nothing is kept.
    k.ui.send(act(TechAction::TestNote)).await.unwrap();
    tech_screen(
        &mut k,
        &mut seen,
        "the note test running",
        |t| matches!(t, TechScreen::Panel(p) if p.busy.as_deref() == Some("test_note")),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.bill.send(Action::Insert { fen: 2000 }).await.unwrap();
    let p = outcome(&mut k, &mut seen, "test_note").await;
    let last = p.last.unwrap();
    assert!(last.ok && last.text.contains("¥20.00"), "{last:?}");
    let cash = k.journal.run(|j| j.cashbox()).await.unwrap().unwrap();
    assert_eq!(cash.total_fen, 0, "the test note was kept: {cash:?}");

    // A test card: out of the stacker, its ICCID read, into the reject bin — journaled.
    let stacker = w.dispenser.device().stacker_count();
    let before = k.journal.run(|j| j.card_stock()).await.unwrap().unwrap();
    k.ui.send(act(TechAction::TestCard)).await.unwrap();
    let p = outcome(&mut k, &mut seen, "test_card").await;
    let last = p.last.unwrap();
    assert!(last.ok, "{last:?}");
    assert!(last.text.contains("8986"), "the ICCID is shown: {last:?}");
    assert_eq!(w.dispenser.device().stacker_count(), stacker - 1);
    let after = k.journal.run(|j| j.card_stock()).await.unwrap().unwrap();
    assert_eq!(
        (after.in_stock, after.in_reject_bin),
        (before.in_stock - 1, before.in_reject_bin + 1)
    );
    assert_eq!(
        (p.cards_in_stock, p.cards_in_bin),
        (after.in_stock, after.in_reject_bin)
    );

    // The camera: its picture comes to the panel (small, never stored), then the checks.
    k.ui.send(act(TechAction::TestCamera)).await.unwrap();
    let picture = until(&mut k, &mut seen, "the camera's picture", |_, u| {
        matches!(u, Some(ScreenUpdate::CameraPreview(_)))
    })
    .await;
    let ScreenUpdate::CameraPreview(p) = picture else {
        unreachable!()
    };
    assert!(p.width <= 320 && p.height > 0);
    assert_eq!(p.rgb.len(), (p.width * p.height * 3) as usize);
    let p = outcome(&mut k, &mut seen, "test_camera").await;
    assert!(
        p.last.unwrap().text.contains("photo"),
        "the checks are said"
    );

    // Restock through the screen: ten cards in, the bin (with the test card) emptied.
    k.ui.send(act(TechAction::Restock {
        added: 10,
        bin_emptied: true,
    }))
    .await
    .unwrap();
    let p = outcome(&mut k, &mut seen, "restock").await;
    assert!(p.last.as_ref().unwrap().ok, "{:?}", p.last);
    assert_eq!(
        (p.cards_in_stock, p.cards_in_bin),
        (after.in_stock + 10, 0),
        "the panel shows the new stock"
    );
    let slip = next_paper(&mut w).await;
    assert!(slip.contains("放卡") && slip.contains("T07"), "{slip}");
    // Clearance through the screen: the box (empty: the test note was handed back).
    k.ui.send(act(TechAction::Clearance)).await.unwrap();
    let p = outcome(&mut k, &mut seen, "clearance").await;
    let last = p.last.unwrap();
    assert!(last.ok && last.text.contains("¥0.00"), "{last:?}");
    let slip = next_paper(&mut w).await;
    assert!(slip.contains("清机") && slip.contains("T07"), "{slip}");

    // Leaving: back into service.
    k.ui.send(act(TechAction::Exit)).await.unwrap();
    tech_screen(&mut k, &mut seen, "the screens closed", |t| {
        *t == TechScreen::Closed
    })
    .await;
    until(&mut k, &mut seen, "back in service", |s, _| {
        s.status == Some(KioskStatus::InService)
    })
    .await;

    // Five wrong PINs lock the pad; the right PIN then waits for the lock to run out.
    k.ui.send(UiEvent::Technician).await.unwrap();
    tech_screen(&mut k, &mut seen, "the sign-in again", |t| {
        matches!(t, TechScreen::SignIn { notice: None, .. })
    })
    .await;
    for left in (1..=4).rev() {
        k.ui.send(sign_in("T08", "000000")).await.unwrap();
        tech_screen(&mut k, &mut seen, "a wrong PIN", |t| {
            matches!(t, TechScreen::SignIn { notice: Some(SignInNotice::WrongPin { left: l }), .. } if *l == left)
        })
        .await;
    }
    k.ui.send(sign_in("T08", "000001")).await.unwrap();
    tech_screen(&mut k, &mut seen, "the lock", |t| {
        matches!(t, TechScreen::SignIn { notice: Some(SignInNotice::Locked { seconds }), .. } if *seconds > 290)
    })
    .await;
    k.ui.send(sign_in("T08", "135790")).await.unwrap();
    tech_screen(&mut k, &mut seen, "still locked", |t| {
        matches!(
            t,
            TechScreen::SignIn {
                notice: Some(SignInNotice::Locked { .. }),
                ..
            }
        )
    })
    .await;
    k.ui.send(act(TechAction::Cancel)).await.unwrap();
    tech_screen(&mut k, &mut seen, "closed", |t| *t == TechScreen::Closed).await;

    // Every step journaled with the id, and on its way to head office; no PIN anywhere.
    let log = k
        .journal
        .run(|j| j.service_entries(50))
        .await
        .unwrap()
        .unwrap();
    let count = |action: &str| log.iter().filter(|e| e.action == action).count();
    assert_eq!(count("login_failed"), 6, "{log:?}");
    assert_eq!(count("login_locked"), 1);
    assert_eq!(count("login"), 1);
    assert!(
        log.iter().any(|e| e.action == "test_card"
            && e.technician == "T07"
            && e.detail["passed"] == true)
    );
    let up = k
        .journal
        .run(|j| j.uploads_after(0, 10_000))
        .await
        .unwrap()
        .unwrap();
    let text: Vec<String> = up.iter().map(|u| u.entry.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("service_login_locked") && t.contains("T08"))
    );
    assert!(text.iter().any(|t| t.contains("service_test_note")));
    for secret in ["246810", "135790", "000000", "000001"] {
        assert!(!text.iter().any(|t| t.contains(secret)), "a PIN went out");
        assert!(!log.iter().any(|e| e.detail.to_string().contains(secret)));
    }
    // Head office has the visit: the uploads reach the server over the link.
    let last = i64::try_from(up.len()).unwrap();
    k.wait_note(PATIENCE, |n| match n {
        Note::Uploaded { acked_seq } if *acked_seq >= last => Some(()),
        _ => None,
    })
    .await
    .unwrap();
    let visits = w.head_office().kiosk_service_log(KIOSK_ID, 100).unwrap();
    let ops: Vec<&str> = visits.iter().map(|v| v.op.as_str()).collect();
    for op in [
        "service_login",
        "service_enter",
        "service_test_note",
        "service_test_card",
        "service_exit",
        "card_restock",
        "cash_box_clearance",
        "service_login_failed",
        "service_login_locked",
    ] {
        assert!(ops.contains(&op), "{op} not at head office: {ops:?}");
    }
    stop(k).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_panel_left_alone_ends_service_mode_by_itself() {
    use telekiosk::runtime::screen::{Pin, TechScreen};
    use telekiosk::runtime::technician::hash_pin;
    let _shared = ALONE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path(), Protocol::Ssp, true).await.unwrap();
    let mut settings = telekiosk_settings::Settings::default();
    settings.technicians.push(telekiosk_settings::Technician {
        id: "T07".into(),
        pin_hash: hash_pin("246810").unwrap(),
    });
    let cfg = w.config(dir.path(), settings);
    let mut options = demo_options();
    options.panel_idle = Duration::from_secs(3);
    let mut k = DemoKiosk::start(&cfg, options).unwrap();
    let mut seen = Seen::default();
    in_service(&mut k, &mut seen).await;
    k.ui.send(UiEvent::Technician).await.unwrap();
    k.ui.send(UiEvent::TechnicianSignIn {
        id: "T07".into(),
        pin: Pin::new("246810"),
    })
    .await
    .unwrap();
    tech_screen(&mut k, &mut seen, "the panel", |t| {
        matches!(t, TechScreen::Panel(_))
    })
    .await;
    let opened = std::time::Instant::now();
    // Nobody touches it: the kiosk leaves service mode and goes back to its customers.
    tech_screen(&mut k, &mut seen, "the panel closed by itself", |t| {
        *t == TechScreen::Closed
    })
    .await;
    assert!(
        opened.elapsed() >= Duration::from_secs(2),
        "closed too soon"
    );
    until(&mut k, &mut seen, "back in service", |s, _| {
        s.status == Some(KioskStatus::InService)
    })
    .await;
    let log = k
        .journal
        .run(|j| j.service_entries(10))
        .await
        .unwrap()
        .unwrap();
    let actions: Vec<&str> = log.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["login", "enter", "panel_timeout", "exit"],
        "{log:?}"
    );
    stop(k).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_mode_ended_from_a_terminal_closes_the_panel_on_the_screen() {
    use telekiosk::runtime::screen::{Pin, TechScreen};
    use telekiosk::runtime::technician::hash_pin;
    let _shared = ALONE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path(), Protocol::Ssp, true).await.unwrap();
    let mut settings = telekiosk_settings::Settings::default();
    settings.technicians.push(telekiosk_settings::Technician {
        id: "T07".into(),
        pin_hash: hash_pin("246810").unwrap(),
    });
    let cfg = w.config(dir.path(), settings);
    let mut k = DemoKiosk::start(&cfg, demo_options()).unwrap();
    let mut seen = Seen::default();
    in_service(&mut k, &mut seen).await;
    // Signed in on the screen; service mode ended from a terminal: the panel closes too.
    k.ui.send(UiEvent::Technician).await.unwrap();
    k.ui.send(UiEvent::TechnicianSignIn {
        id: "T07".into(),
        pin: Pin::new("246810"),
    })
    .await
    .unwrap();
    tech_screen(&mut k, &mut seen, "the panel", |t| {
        matches!(t, TechScreen::Panel(_))
    })
    .await;
    let socket = cfg.machine.service.socket.clone();
    let exit = telekiosk::runtime::service::ask(
        &socket,
        &telekiosk::runtime::service::ServiceRequest::Exit,
    )
    .await
    .unwrap();
    assert!(exit.ok, "{exit:?}");
    tech_screen(
        &mut k,
        &mut seen,
        "the panel closed from the terminal",
        |t| *t == TechScreen::Closed,
    )
    .await;
    until(&mut k, &mut seen, "back in service", |s, _| {
        s.status == Some(KioskStatus::InService)
    })
    .await;
    stop(k).await;
}
