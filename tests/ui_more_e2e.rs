//! Customers report a lost SIM and lift the report, look up the numbers under their ID card,
//! and buy a recharge card through the kiosk screen — tapping by accessible label under
//! Slint's testing backend — against the real kiosk runtime, the device simulators over
//! pseudo-terminals, and the self-service system server and the operator simulator behind
//! it over mutual TLS; the ID card is placed on the reader simulator, the simulated camera
//! plays a customer who turns the head when asked, notes go into the bill acceptor
//! simulator and the papers come out of the printer simulator. Each outcome is checked at
//! the operator (the number stopped, then in service again; the numbers under the ID; a
//! PIN that credits once) and in the kiosk's journal; what must never show or be kept —
//! the full numbers under an ID, a recharge card's PIN — is looked for on the screen, on
//! paper, in the journal's file and in the server's database.
//!
//! The business date is pinned to the 20th.

#[path = "ui_support/mod.rs"]
mod ui_support;

use std::path::Path;
use std::time::{Duration, Instant};

use boss_sim::store::SubscriberStatus;
use i_slint_backend_testing::ElementQuery;
use slint::{ComponentHandle, Model};
use telekiosk::demo::{Day, DemoKiosk, World, day_text};
use telekiosk::flow::mask_phone;
use telekiosk::journal::TxnState;
use telekiosk::ui::{AuthAdapter, InsertAdapter, Page, SimAdapter, UiOptions};
use ui_support::world::{PATIENCE, offered, restock, session_txn, start};
use ui_support::{UiDriver, wait_until};

/// The ID card and the live photo: the head turned when asked, compared at the operator.
const FACE_PATIENCE: Duration = Duration::from_secs(90);
const TODAY: Day = (2026, 11, 20);
/// 王小明: prepaid, service password 123456; his ID card is the reader's `resident`.
const OWNER: &str = "13800000000";
const OWNER_CARD: &str = "resident";
const OWNER_ID: &str = "110101199003071233";
/// The number a recharge card's PIN is redeemed on.
const REDEEM_ON: &str = "13900000001";

/// The idle screen shows the first six services: a touch opens the home screen with every
/// tile, and the tile is tapped there.
fn from_home(screen: &mut UiDriver, tile: &str) {
    screen.tap("touch to start");
    wait_page(screen, Page::Home);
    screen.tap(tile);
}

fn wait_page(screen: &mut UiDriver, page: Page) {
    assert!(
        screen.wait_for_page(page, PATIENCE),
        "never reached {page:?}, on {:?}: {}",
        screen.page(),
        title(screen)
    );
}

/// The real-name step's title, in Chinese.
fn title(screen: &UiDriver) -> String {
    screen
        .window
        .global::<SimAdapter>()
        .get_title()
        .zh
        .to_string()
}

/// Waits until the real-name step's title (Chinese) contains `words` and its answers can
/// be tapped (a result waits for its paper).
fn wait_step(screen: &mut UiDriver, words: &str, patience: Duration) {
    assert!(
        wait_until(screen, patience, |s| {
            s.page() == Page::Sim
                && title(s).contains(words)
                && s.window
                    .global::<SimAdapter>()
                    .get_answers()
                    .iter()
                    .all(|a| a.enabled)
        }),
        "never showed {words:?}; on {:?}: {}",
        screen.page(),
        title(screen)
    );
}

/// Waits until a button with this label shows and can be tapped.
fn wait_button(screen: &mut UiDriver, label: &str) {
    assert!(
        wait_until(screen, PATIENCE, |s| {
            s.buttons(label)
                .iter()
                .any(|b| b.accessible_enabled() != Some(false))
        }),
        "no {label:?} button; on {:?}: {}",
        screen.page(),
        title(screen)
    );
}

/// What the visible elements say: each one's accessible label, description and value (a
/// `Text`'s label is its text).
fn element_texts(screen: &UiDriver) -> Vec<String> {
    ElementQuery::from_root(&screen.window)
        .find_all()
        .into_iter()
        .flat_map(|e| {
            [
                e.accessible_label(),
                e.accessible_description(),
                e.accessible_value(),
            ]
        })
        .flatten()
        .map(|t| t.to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Every text the screen shows now: [`element_texts`], and the real-name step's and the
/// note screen's words in both languages, whichever one is shown.
fn screen_texts(screen: &UiDriver) -> Vec<String> {
    let mut out = element_texts(screen);
    let sim = screen.window.global::<SimAdapter>();
    let mut msgs = vec![sim.get_title(), sim.get_notice()];
    msgs.extend(sim.get_lines().iter());
    for c in sim.get_choices().iter().chain(sim.get_answers().iter()) {
        out.push(c.label.to_string());
        msgs.extend([c.text, c.detail]);
    }
    out.push(sim.get_figure().to_string());
    let insert = screen.window.global::<InsertAdapter>();
    msgs.extend([insert.get_what(), insert.get_notice()]);
    out.extend(
        [
            insert.get_number(),
            insert.get_total(),
            insert.get_remaining(),
            screen.window.global::<AuthAdapter>().get_number(),
        ]
        .map(|t| t.to_string()),
    );
    for m in msgs {
        out.push(m.zh.to_string());
        out.push(m.en.to_string());
    }
    out.retain(|t| !t.is_empty());
    out
}

/// The texts on the screen that hold `secret`, as it is or with the digits run together
/// (a PIN printed in groups of four).
fn showing(screen: &UiDriver, secret: &str) -> Vec<String> {
    screen_texts(screen)
        .into_iter()
        .filter(|t| {
            let digits: String = t.chars().filter(char::is_ascii_digit).collect();
            t.contains(secret) || digits.contains(secret)
        })
        .collect()
}

/// The papers the printer simulator puts out until `enough` holds of them.
fn papers(world: &mut World, enough: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while !enough(&out) {
        assert!(Instant::now() < deadline, "never printed; only: {out:#?}");
        match world.printed.try_recv() {
            Ok((_, text)) => out.push(text),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    out
}

/// The transaction is of `kind`, settled, with `paid_fen` inserted and no full number
/// kept; its record.
fn settled(
    runtime: &tokio::runtime::Runtime,
    journal: &telekiosk::runtime::journal::JournalHandle,
    txn: &str,
    kind: &str,
    paid_fen: i64,
) -> telekiosk::journal::TxnRecord {
    let id = txn.to_owned();
    let rec = runtime
        .block_on(journal.run(move |j| j.get(&id)))
        .unwrap()
        .unwrap();
    assert_eq!(
        (rec.kind.as_str(), rec.state, rec.inserted_fen),
        (kind, TxnState::Settled, paid_fen),
        "{rec:?}"
    );
    assert!(rec.msisdn.is_none(), "a full number kept: {rec:?}");
    rec
}

/// An SQLite file and its write-ahead log, as bytes.
fn sqlite_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).expect("the database file");
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if let Ok(more) = std::fs::read(Path::new(&wal)) {
        bytes.extend(more);
    }
    bytes
}

/// Whether `text` is anywhere in `bytes`.
fn holds(bytes: &[u8], text: &str) -> bool {
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}

/// The owner's ID card on the reader, consent to face recognition; the simulated camera
/// plays the owner, who turns the head when asked.
fn card_and_face(world: &World, screen: &mut UiDriver) {
    wait_page(screen, Page::PlaceIdCard);
    assert!(world.id_reader.with(|r| r.place(OWNER_CARD)));
    wait_button(screen, "consent");
    screen.tap("consent");
}

/// The card taken back off the reader, and the reader having seen it go.
fn card_taken_back(world: &World, screen: &mut UiDriver) {
    world.id_reader.with(|r| r.remove());
    assert!(
        wait_until(screen, Duration::from_secs(10), |_| world
            .id_reader
            .with(|r| r.released())),
        "the reader never saw the card go"
    );
}

/// Taps the number, then the service password on the shuffled keypad (the keys are found
/// by their digit, wherever the shuffle put them).
fn number_and_password(screen: &mut UiDriver) {
    wait_page(screen, Page::Keypad);
    screen.type_number(OWNER);
    screen.tap("confirm number");
    wait_page(screen, Page::AuthChoose);
    screen.tap("password");
    wait_page(screen, Page::Password);
    screen.type_number("123456");
    assert_eq!(screen.window.global::<AuthAdapter>().get_count(), 6);
    screen.tap("confirm password");
}

#[test]
fn the_owner_reports_a_sim_lost_with_card_and_face_then_lifts_it_with_password_and_sms() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, mut world, kiosk) = start(dir.path(), TODAY);
    let DemoKiosk {
        screen: updates,
        ui,
        mut notes,
        journal,
        journal_path: _,
        stop,
        task,
    } = kiosk;
    restock(&runtime, &world, &journal);
    assert_eq!(
        world.subscriber(OWNER).unwrap().status,
        SubscriberStatus::Active
    );
    let mut screen = UiDriver::new(updates, ui, UiOptions::default());
    // A replacement SIM can be made here: it is offered after the report.
    offered(&mut screen, "replace_sim");
    offered(&mut screen, "loss");

    // 挂失: the number, the owner's ID card and a live photo.
    from_home(&mut screen, "Report lost SIM");
    wait_page(&mut screen, Page::Keypad);
    screen.type_number(OWNER);
    screen.tap("confirm number");
    wait_page(&mut screen, Page::AuthChoose);
    assert!(
        screen.window.global::<AuthAdapter>().get_id_card(),
        "the ID card not offered as proof"
    );
    screen.tap("id card");
    card_and_face(&world, &mut screen);
    wait_step(&mut screen, "确认挂失", FACE_PATIENCE);
    let lines: Vec<String> = screen
        .window
        .global::<SimAdapter>()
        .get_lines()
        .iter()
        .map(|l| l.zh.to_string())
        .collect();
    assert!(
        lines.iter().any(|l| l.contains(&mask_phone(OWNER))),
        "the number not named: {lines:?}"
    );
    assert!(
        element_texts(&screen)
            .iter()
            .any(|t| t.contains(&mask_phone(OWNER))),
        "the masked number not read off the screen"
    );
    assert!(showing(&screen, OWNER).is_empty(), "the full number shown");
    // Nothing is stopped before the customer says yes.
    assert_eq!(
        world.subscriber(OWNER).unwrap().status,
        SubscriberStatus::Active
    );
    screen.tap("yes");
    wait_step(&mut screen, "已挂失停机", PATIENCE);
    wait_button(&mut screen, "replace now");
    let answers: Vec<(String, String)> = screen
        .window
        .global::<SimAdapter>()
        .get_answers()
        .iter()
        .map(|a| (a.label.to_string(), a.text.en.to_string()))
        .collect();
    assert_eq!(
        answers,
        [
            ("replace now", "New SIM now"),
            ("no thanks", "No, thank you"),
            ("something else", "Something else")
        ]
        .map(|(l, t)| (l.to_owned(), t.to_owned())),
        "a new SIM offered first"
    );
    // The operator: the number stopped.
    assert_eq!(
        world.subscriber(OWNER).unwrap().status,
        SubscriberStatus::ReportedLost
    );
    let paper = papers(&mut world, |p| p.iter().any(|t| t.contains("挂失"))).join("\n");
    assert!(
        paper.contains("补卡") && !paper.contains(OWNER),
        "the receipt does not say how to get a new card, or shows the number:\n{paper}"
    );
    screen.tap("no thanks");
    wait_page(&mut screen, Page::Idle);
    let txn = session_txn(&runtime, &mut notes);
    settled(&runtime, &journal, &txn, "loss_report", 0);
    card_taken_back(&world, &mut screen);

    // 解挂, the SIM found: the service password and an SMS code.
    offered(&mut screen, "loss");
    from_home(&mut screen, "Report lost SIM");
    number_and_password(&mut screen);
    wait_page(&mut screen, Page::SmsCode);
    let code = world
        .sms_code(OWNER)
        .unwrap()
        .expect("an SMS code at the operator");
    screen.type_number(&code);
    screen.tap("confirm code");
    wait_step(&mut screen, "确认解挂", PATIENCE);
    assert_eq!(
        world.subscriber(OWNER).unwrap().status,
        SubscriberStatus::ReportedLost,
        "lifted before the customer said yes"
    );
    screen.tap("yes");
    wait_step(&mut screen, "已解除挂失", PATIENCE);
    assert!(
        screen.buttons("replace now").is_empty(),
        "a new SIM offered after a lift"
    );
    assert_eq!(
        world.subscriber(OWNER).unwrap().status,
        SubscriberStatus::Active
    );
    screen.tap("no thanks");
    wait_page(&mut screen, Page::Idle);
    let txn = session_txn(&runtime, &mut notes);
    settled(&runtime, &journal, &txn, "loss_lift", 0);
    let beyond = screen.taps_beyond_digits();
    println!("taps beyond the digits: {} {beyond:?}", beyond.len());
    let _ = stop.send(true);
    runtime.block_on(task).unwrap().unwrap();
}

#[test]
fn the_holder_of_an_id_card_sees_the_numbers_under_it_masked_and_takes_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, mut world, kiosk) = start(dir.path(), TODAY);
    let DemoKiosk {
        screen: updates,
        ui,
        mut notes,
        journal,
        journal_path,
        stop,
        task,
    } = kiosk;
    let held = world.operator().numbers_by_id(OWNER_ID).unwrap();
    assert!(
        held.len() >= 2 && held.iter().any(|h| h.status == SubscriberStatus::Closed),
        "the seeded ID holds several numbers, one closed: {held:?}"
    );
    let mut screen = UiDriver::new(updates, ui, UiOptions::default());
    offered(&mut screen, "number_query");

    from_home(&mut screen, "Numbers in my name");
    card_and_face(&world, &mut screen);
    wait_step(&mut screen, "名下号码", FACE_PATIENCE);
    // As many numbers as the operator holds under the ID, each masked, the closed one
    // said to be closed.
    let listed: Vec<(String, String)> = screen
        .window
        .global::<SimAdapter>()
        .get_choices()
        .iter()
        .map(|c| (c.label.to_string(), c.detail.zh.to_string()))
        .collect();
    let mut labels: Vec<String> = listed.iter().map(|(l, _)| l.clone()).collect();
    let mut masked: Vec<String> = held.iter().map(|h| mask_phone(&h.number)).collect();
    labels.sort();
    masked.sort();
    assert_eq!(labels, masked, "the numbers under the ID, masked");
    assert!(labels.iter().all(|l| l.contains("****")), "{labels:?}");
    assert!(
        listed.iter().any(|(_, d)| d.contains("已销户")),
        "the closed number not said to be closed: {listed:?}"
    );
    let on_screen = ElementQuery::from_root(&screen.window)
        .match_accessible_role(i_slint_backend_testing::AccessibleRole::Button)
        .find_all()
        .into_iter()
        .filter(|b| b.accessible_label().is_some_and(|l| l.contains("****")))
        .count();
    assert_eq!(on_screen, held.len(), "each number on the screen once");
    for h in &held {
        assert!(
            showing(&screen, &h.number).is_empty(),
            "{} shown in full",
            mask_phone(&h.number)
        );
    }

    // One is not theirs: the advice, and the list printed to take to the counter.
    screen.tap("not mine");
    assert!(
        wait_until(&mut screen, PATIENCE, |s| {
            let lines: Vec<String> = s
                .window
                .global::<SimAdapter>()
                .get_lines()
                .iter()
                .map(|l| l.zh.to_string())
                .collect();
            lines.iter().any(|l| l.contains("柜台"))
                && lines.iter().any(|l| l.contains("清单已打印"))
        }),
        "no advice and printed list; on {:?}: {}",
        screen.page(),
        title(&screen)
    );
    assert!(screen.buttons("not mine").is_empty(), "asked twice");
    assert!(screen.buttons("print list").is_empty(), "printed twice");
    wait_button(&mut screen, "done");
    for h in &held {
        assert!(showing(&screen, &h.number).is_empty());
    }
    let paper = papers(&mut world, |p| p.iter().any(|t| t.contains("名下号码清单"))).join("\n");
    assert!(
        paper.contains("柜台"),
        "no way forward on the slip:\n{paper}"
    );
    for h in &held {
        assert!(
            !paper.contains(h.number.as_str()) && paper.contains(&mask_phone(&h.number)),
            "{} not masked on the slip:\n{paper}",
            mask_phone(&h.number)
        );
    }
    screen.tap("done");
    wait_page(&mut screen, Page::Idle);
    let txn = session_txn(&runtime, &mut notes);
    settled(&runtime, &journal, &txn, "number_query", 0);
    // The numbers are never journaled unmasked, nor the ID number.
    let bytes = sqlite_bytes(&journal_path);
    assert!(holds(&bytes, &txn), "the journal's file not read");
    for h in &held {
        assert!(
            !holds(&bytes, &h.number),
            "the journal's file holds {} in full",
            mask_phone(&h.number)
        );
    }
    assert!(
        !holds(&bytes, OWNER_ID),
        "the journal's file holds the ID number"
    );
    // Nor by the self-service system server, which forwarded the query.
    let server = sqlite_bytes(&dir.path().join("hq").join("hq.sqlite3"));
    assert!(holds(&server, "K0001"), "the server's database not read");
    for h in &held {
        assert!(
            !holds(&server, &h.number),
            "the server's database holds {} in full",
            mask_phone(&h.number)
        );
    }
    assert!(
        !holds(&server, OWNER_ID),
        "the server's database holds the ID number"
    );
    let _ = stop.send(true);
    runtime.block_on(task).unwrap().unwrap();
}

/// The PIN printed on a recharge card: the line after 充值密码, digits only.
fn read_pin(paper: &str) -> Option<String> {
    let mut lines = paper.lines();
    lines.find(|l| l.contains("充值密码"))?;
    let pin: String = lines.next()?.chars().filter(char::is_ascii_digit).collect();
    (pin.len() >= 12).then_some(pin)
}

/// A note into the acceptor simulator; waits until the screen counts it.
fn insert(world: &World, screen: &mut UiDriver, fen: u64, total: &str) {
    world
        .bill
        .blocking_send(bill_acceptor::sim::Action::Insert { fen })
        .unwrap();
    assert!(
        wait_until(screen, PATIENCE, |s| {
            s.window.global::<InsertAdapter>().get_total() == total
        }),
        "the note never counted; on {:?}, total {}",
        screen.page(),
        screen.window.global::<InsertAdapter>().get_total()
    );
}

#[test]
fn a_customer_buys_a_recharge_card_in_notes_and_its_pin_credits_once() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, mut world, kiosk) = start(dir.path(), TODAY);
    let DemoKiosk {
        screen: updates,
        ui,
        mut notes,
        journal,
        journal_path,
        stop,
        task,
    } = kiosk;
    let mut screen = UiDriver::new(updates, ui, UiOptions::default());
    offered(&mut screen, "pin_sale");

    from_home(&mut screen, "Recharge card");
    wait_button(&mut screen, "¥50.00");
    screen.tap("¥50.00");
    wait_page(&mut screen, Page::Insert);
    let pay = screen.window.global::<InsertAdapter>();
    assert_eq!(pay.get_number(), "¥50.00", "the face value being paid");
    assert_eq!(pay.get_remaining(), "¥50.00");
    // ¥20 + ¥20 + ¥10: the payment closes by itself at the face value.
    insert(&world, &mut screen, 2_000, "¥20.00");
    insert(&world, &mut screen, 2_000, "¥40.00");
    assert_eq!(
        screen.window.global::<InsertAdapter>().get_remaining(),
        "¥10.00"
    );
    world
        .bill
        .blocking_send(bill_acceptor::sim::Action::Insert { fen: 1_000 })
        .unwrap();
    wait_step(&mut screen, "充值卡已售出", PATIENCE);
    assert!(
        !screen.taps().iter().any(|t| t == "finish"),
        "the payment waited for a tap"
    );
    assert!(title(&screen).contains("¥50.00"), "{}", title(&screen));
    let lines: Vec<String> = screen
        .window
        .global::<SimAdapter>()
        .get_lines()
        .iter()
        .map(|l| l.zh.to_string())
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("充值卡已打印")),
        "the card not said to be printed: {lines:?}"
    );

    // On paper, the PIN: on the screen nowhere.
    let paper = papers(&mut world, |p| p.iter().any(|t| read_pin(t).is_some())).join("\n");
    let pin = read_pin(&paper).expect("a PIN on the printed card");
    assert!(paper.contains("¥50") || paper.contains("50.00"), "{paper}");
    let shown = showing(&screen, &pin);
    assert!(shown.is_empty(), "the PIN on the screen: {shown:?}");
    let result = element_texts(&screen);
    screen.tap("no thanks");
    wait_page(&mut screen, Page::Idle);
    let txn = session_txn(&runtime, &mut notes);
    let rec = settled(&runtime, &journal, &txn, "pin_sale", 5_000);
    assert_eq!(rec.credited_fen, 5_000, "{rec:?}");
    let serial = rec.boss_ref.clone().expect("the card's serial journaled");
    assert!(
        paper.contains(&serial),
        "the serial not on the card:\n{paper}"
    );
    let tail = &serial[serial.len() - 4..];
    assert!(
        result.iter().any(|t| t.contains(&format!("尾号 {tail}"))),
        "the serial's last digits not on the screen: {result:?}"
    );
    // The PIN is on paper only: not in the journal's file, whatever the table.
    let bytes = sqlite_bytes(&journal_path);
    assert!(holds(&bytes, &serial), "the journal's file not read");
    assert!(!holds(&bytes, &pin), "the journal's file holds the PIN");
    // Nor in the self-service system server's database, which forwarded the sale.
    let server = sqlite_bytes(&dir.path().join("hq").join("hq.sqlite3"));
    assert!(
        holds(&server, &txn) && holds(&server, &serial),
        "the server's database not read"
    );
    assert!(!holds(&server, &pin), "the server's database holds the PIN");

    // Redeemed by phone (the operator's line): credited once, refused the second time.
    let before = world.subscriber(REDEEM_ON).unwrap().balance_fen;
    let today = day_text(world.business_day());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap())
        .unwrap();
    let first = world
        .operator()
        .redeem_pin(REDEEM_ON, &pin, "ivr", &today, now)
        .unwrap();
    let second = world
        .operator()
        .redeem_pin(REDEEM_ON, &pin, "ivr", &today, now)
        .unwrap();
    let credit = first.expect("the PIN credits");
    assert_eq!(
        (credit.amount_fen, credit.serial.as_str()),
        (5_000, serial.as_str())
    );
    assert!(second.is_err(), "credited twice: {second:?}");
    let after = world.subscriber(REDEEM_ON).unwrap().balance_fen;
    assert_eq!(after - before, 5_000);
    let _ = stop.send(true);
    runtime.block_on(task).unwrap().unwrap();
}
