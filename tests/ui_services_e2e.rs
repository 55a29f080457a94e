//! Customers change a plan, print itemised records, open a new number and replace a SIM
//! through the kiosk screen — tapping
//! by accessible label under Slint's testing backend — against the real kiosk runtime, the
//! device simulators over pseudo-terminals, and the self-service system server and the
//! operator simulator behind it over mutual TLS; the ID card is placed on the reader
//! simulator, the simulated camera plays a customer who turns the head when asked, and the
//! card dispenser simulator writes the SIM. Each outcome is checked at the operator (plan
//! booked for next month, SMS sent; the number registered on the card handed out) and in
//! the kiosk's journal.
//!
//! The business date is pinned to the 20th (plan changes are closed on the 1st–5th).

#[path = "ui_support/mod.rs"]
mod ui_support;

use std::time::Duration;

use slint::{ComponentHandle, Model};
use telekiosk::demo::{Day, DemoKiosk, World};
use telekiosk::flow::bills::last_six_months;
use telekiosk::journal::TxnState;
use telekiosk::ui::{AuthAdapter, BillsAdapter, Page, PlansAdapter, SimAdapter, UiOptions};
use ui_support::world::{PATIENCE, offered, restock, session_txn, start};
use ui_support::{UiDriver, wait_until};

const TODAY: Day = (2026, 11, 20);
/// 王小明: prepaid, plan P58, service password 123456.
const OWNER: &str = "13800000000";

fn wait_page(screen: &mut UiDriver, page: Page) {
    assert!(
        screen.wait_for_page(page, PATIENCE),
        "never reached {page:?}, on {:?}",
        screen.page()
    );
}

/// Taps the number and the service password on the shuffled keypad (the keys are found by
/// their digit, wherever the shuffle put them).
fn number_and_password(screen: &mut UiDriver) {
    wait_page(screen, Page::Keypad);
    screen.type_number(OWNER);
    screen.tap("confirm number");
    wait_page(screen, Page::AuthChoose);
    screen.tap("password");
    wait_page(screen, Page::Password);
    let layout: Vec<i32> = screen
        .window
        .global::<AuthAdapter>()
        .get_layout()
        .iter()
        .collect();
    let mut sorted = layout.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..10).collect::<Vec<_>>(), "each digit on one key");
    screen.type_number("123456");
    assert_eq!(screen.window.global::<AuthAdapter>().get_count(), 6);
    screen.tap("confirm password");
}

#[test]
fn a_customer_changes_plan_through_the_screen_and_the_operator_books_it_for_next_month() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, world, kiosk) = start(dir.path(), TODAY);
    let DemoKiosk {
        screen: updates,
        ui,
        mut notes,
        journal,
        stop,
        task,
        ..
    } = kiosk;
    let mut screen = UiDriver::new(updates, ui, UiOptions::default());
    offered(&mut screen, "plan_change");

    screen.tap("Change plan");
    number_and_password(&mut screen);
    wait_page(&mut screen, Page::Plans);
    let plans = screen.window.global::<PlansAdapter>();
    assert_eq!(plans.get_current().id, "P58", "the current plan is shown");
    assert_eq!(plans.get_number(), "138****0000", "the number only masked");
    let p88 = plans
        .get_options()
        .iter()
        .find(|o| o.id == "P88")
        .expect("P88 offered beside the current plan");
    assert_eq!(
        p88.fee.change.zh, "+¥30",
        "the difference in fee said plainly"
    );
    // The plans come a screenful at a time: on to the one that has P88.
    while screen.buttons("choose P88").is_empty() {
        assert!(
            !screen.buttons("more plans").is_empty(),
            "P88 never shown: {:?}",
            screen
                .window
                .global::<PlansAdapter>()
                .get_options()
                .iter()
                .map(|o| o.id)
                .collect::<Vec<_>>()
        );
        screen.tap("more plans");
    }
    screen.tap("choose P88");
    wait_page(&mut screen, Page::PlanConfirm);
    assert_eq!(
        screen.window.global::<PlansAdapter>().get_effective().zh,
        "2026年12月1日起生效（下月）"
    );
    screen.tap("yes");
    wait_page(&mut screen, Page::PlanDone);
    assert!(
        wait_until(&mut screen, PATIENCE, |s| {
            s.window.global::<PlansAdapter>().get_receipt() != 0
        }),
        "the receipt never came out"
    );
    let done = screen.window.global::<PlansAdapter>();
    assert_eq!(done.get_kind(), 0, "changed");
    assert_eq!(done.get_receipt(), 1, "receipt printed");
    assert_eq!(done.get_to(), "全球通88元套餐");
    screen.tap("no thanks");
    wait_page(&mut screen, Page::Idle);

    let txn = session_txn(&runtime, &mut notes);
    // The operator: the change booked for next month, the customer told by SMS.
    let s = world.subscriber(OWNER).unwrap();
    assert_eq!(
        (s.plan_code.as_str(), s.next_plan_code.as_deref()),
        ("P58", Some("P88"))
    );
    let sms: Vec<String> = world
        .operator()
        .sms_for(OWNER)
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .filter(|b| b.contains("套餐变更"))
        .collect();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert!(sms[0].contains("2026年12月1日"), "{sms:?}");
    // The kiosk: settled, the full number gone.
    let rec = runtime
        .block_on(journal.run(move |j| j.get(&txn)))
        .unwrap()
        .unwrap();
    assert_eq!(
        (rec.kind.as_str(), rec.state),
        ("plan_change", TxnState::Settled)
    );
    assert!(rec.msisdn.is_none());
    let _ = stop.send(true);
    runtime.block_on(task).unwrap().unwrap();
}

#[test]
fn a_customer_prints_call_records_after_password_and_sms_code() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, mut world, kiosk) = start(dir.path(), TODAY);
    let month = last_six_months(TODAY)[0].clone();
    assert_eq!(world.busy_month(OWNER, &month, 45).unwrap(), 45);
    let DemoKiosk {
        screen: updates,
        ui,
        mut notes,
        journal,
        stop,
        task,
        ..
    } = kiosk;
    let mut screen = UiDriver::new(updates, ui, UiOptions::default());
    offered(&mut screen, "bill_print");

    screen.tap("Print bill");
    number_and_password(&mut screen);
    wait_page(&mut screen, Page::SmsCode);
    let code = world
        .sms_code(OWNER)
        .unwrap()
        .expect("an SMS code at the operator");
    screen.type_number(&code);
    screen.tap("confirm code");
    wait_page(&mut screen, Page::BillMenu);
    assert_eq!(screen.window.global::<BillsAdapter>().get_month(), month);
    screen.tap("call records");
    wait_page(&mut screen, Page::Records);
    let bills = screen.window.global::<BillsAdapter>();
    assert!(bills.get_total() >= 45, "{}", bills.get_total());
    assert_eq!(bills.get_records().row_count(), 10, "a screenful");
    assert_eq!(bills.get_page(), 1);
    screen.tap("next page");
    assert!(
        wait_until(&mut screen, PATIENCE, |s| {
            s.page() == Page::Records && s.window.global::<BillsAdapter>().get_page() == 2
        }),
        "page 2 never came"
    );
    screen.tap("print");
    // More than one slip: how long it is, before it is printed.
    wait_page(&mut screen, Page::PrintPreview);
    let papers = screen.window.global::<BillsAdapter>().get_papers();
    assert!(papers >= 2, "{papers} slips");
    assert!(screen.window.global::<BillsAdapter>().get_length_cm() > 0);
    screen.tap("print now");
    wait_page(&mut screen, Page::PrintDone);
    let done = screen.window.global::<BillsAdapter>();
    assert_eq!(done.get_printed(), papers, "every slip printed");
    screen.tap("done");
    wait_page(&mut screen, Page::Idle);

    let txn = session_txn(&runtime, &mut notes);
    let id = txn.clone();
    let rec = runtime
        .block_on(journal.run(move |j| j.get(&id)))
        .unwrap()
        .unwrap();
    assert_eq!(
        (rec.kind.as_str(), rec.state),
        ("bill_print", TxnState::Settled)
    );
    let papers_journaled = runtime
        .block_on(journal.run(move |j| j.papers(&txn)))
        .unwrap()
        .unwrap();
    assert_eq!(
        papers_journaled.len(),
        usize::try_from(papers).unwrap(),
        "one journaled paper per slip"
    );
    assert!(papers_journaled.iter().all(|p| p.state == "printed"));
    // On paper: the records, the number masked.
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + PATIENCE;
    while out.len() < papers_journaled.len() && std::time::Instant::now() < deadline {
        match world.printed.try_recv() {
            Ok((_, text)) => out.push(text),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    assert_eq!(out.len(), papers_journaled.len());
    assert!(
        out.iter().all(|p| !p.contains(OWNER)),
        "numbers masked on paper"
    );
    let _ = stop.send(true);
    runtime.block_on(task).unwrap().unwrap();
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
        screen.window.global::<SimAdapter>().get_title().zh
    );
}

/// The labels of the choices in the real-name step's grid (numbers, plans).
fn choices(screen: &UiDriver) -> Vec<(String, String)> {
    screen
        .window
        .global::<SimAdapter>()
        .get_choices()
        .iter()
        .map(|c| (c.label.to_string(), c.detail.zh.to_string()))
        .collect()
}

/// Scrolls the service agreement to its end with the finger, as a reader does.
fn read_agreement(screen: &mut UiDriver) {
    use i_slint_backend_testing::ElementHandle;
    let area = ElementHandle::find_by_accessible_label(&screen.window, "agreement")
        .next()
        .expect("the agreement");
    let (p, sz) = (area.absolute_position(), area.size());
    for _ in 0..40 {
        screen
            .window
            .window()
            .dispatch_event(slint::platform::WindowEvent::PointerScrolled {
                position: slint::LogicalPosition::new(p.x + sz.width / 2.0, p.y + sz.height / 2.0),
                delta_x: 0.0,
                delta_y: -200.0,
            });
        i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(50));
        if screen.window.global::<SimAdapter>().get_agreement_read() {
            return;
        }
    }
    panic!("the agreement never scrolled to its end");
}

/// The card at the gate: taken by the customer's hand.
fn take_card_from_gate(world: &World, screen: &mut UiDriver) {
    let gate = wait_until(screen, PATIENCE, |_| {
        world.dispenser.device().status().card_position == card_dispenser::CardPosition::Gate
    });
    assert!(gate, "no card came to the gate");
    world
        .dispenser
        .apply(card_dispenser::simulator::Action::Take);
}

/// The transaction is of `kind`, settled, with `paid_fen` inserted.
fn settled(
    runtime: &tokio::runtime::Runtime,
    journal: &telekiosk::runtime::journal::JournalHandle,
    txn: &str,
    kind: &str,
    paid_fen: i64,
) {
    let id = txn.to_owned();
    let rec = runtime
        .block_on(journal.run(move |j| j.get(&id)))
        .unwrap()
        .unwrap();
    assert_eq!(
        (rec.kind.as_str(), rec.state, rec.inserted_fen),
        (kind, TxnState::Settled, paid_fen)
    );
}

/// Exactly one card, written, activated and taken; none left inside: its ICCID.
fn the_card_taken(
    runtime: &tokio::runtime::Runtime,
    journal: &telekiosk::runtime::journal::JournalHandle,
    txn: &str,
) -> String {
    let id = txn.to_owned();
    let cards = runtime
        .block_on(journal.run(move |j| j.cards(&id)))
        .unwrap()
        .unwrap();
    let taken: Vec<_> = cards
        .iter()
        .filter(|c| c.stage == telekiosk::journal::CardStage::Taken)
        .collect();
    assert!(taken.len() == 1 && taken[0].activated, "{cards:?}");
    let inside = runtime
        .block_on(journal.run(|j| j.cards_in_flight()))
        .unwrap()
        .unwrap();
    assert!(inside.is_empty(), "cards left in the machine: {inside:?}");
    taken[0].iccid.clone().expect("the card's ICCID")
}

#[test]
fn an_applicant_opens_a_new_number_through_the_screen_and_takes_a_written_sim() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, world, kiosk) = start(dir.path(), TODAY);
    let DemoKiosk {
        screen: updates,
        ui,
        mut notes,
        journal,
        stop,
        task,
        ..
    } = kiosk;
    restock(&runtime, &world, &journal);
    let stock = world.dispenser.device().stacker_count();
    let mut screen = UiDriver::new(updates, ui, UiOptions::default());
    offered(&mut screen, "new_sim");

    screen.tap("New SIM");
    wait_button(&mut screen, "start");
    screen.tap("start");
    wait_page(&mut screen, Page::PlaceIdCard);
    // 李长青's card (long-term validity), a clean applicant at the operator.
    assert!(world.id_reader.with(|r| r.place("resident_long_term")));
    wait_button(&mut screen, "consent");
    screen.tap("consent");
    // The live photo: the camera's picture on screen while the customer turns the head.
    assert!(
        wait_until(&mut screen, PATIENCE, |s| {
            s.window.global::<SimAdapter>().get_has_preview()
        }),
        "the camera's picture never showed"
    );
    assert!(
        wait_until(&mut screen, Duration::from_secs(90), |s| {
            choices(s).iter().any(|(l, _)| l.starts_with("number "))
        }),
        "the numbers never came; on {:?}",
        screen.page()
    );
    // The numbers with the last two digits of an ordinary one the customer likes.
    let (label, _) = choices(&screen)
        .into_iter()
        .find(|(l, detail)| l.starts_with("number ") && detail.is_empty())
        .expect("an ordinary number");
    let liked: String = label[label.len() - 2..].to_owned();
    screen.tap("search by digits");
    for d in liked.chars() {
        screen.tap(&format!("digit {d}"));
    }
    screen.tap("search");
    assert!(
        wait_until(&mut screen, PATIENCE, |s| {
            s.window.global::<SimAdapter>().get_search() == liked.as_str() && !choices(s).is_empty()
        }),
        "the search for {liked} never answered"
    );
    let found = choices(&screen);
    assert!(
        found
            .iter()
            .all(|(l, _)| l["number ".len()..].contains(liked.as_str())),
        "{found:?}"
    );
    let (label, _) = found
        .into_iter()
        .find(|(_, detail)| detail.is_empty())
        .expect("an ordinary number among those found");
    let number = label["number ".len()..].to_owned();
    screen.tap(&label);
    // The plans for a new subscriber: the cheapest.
    assert!(
        wait_until(&mut screen, PATIENCE, |s| {
            choices(s).iter().any(|(l, _)| l.starts_with("plan "))
        }),
        "the plans never came"
    );
    let (plan, _) = choices(&screen)
        .into_iter()
        .find(|(l, _)| l.starts_with("plan "))
        .expect("a plan");
    screen.tap(&plan);
    assert!(
        wait_until(&mut screen, PATIENCE, |s| !s.buttons("accept").is_empty()),
        "no agreement"
    );
    assert!(
        screen
            .buttons("accept")
            .iter()
            .all(|b| b.accessible_enabled() == Some(false)),
        "accepted unread"
    );
    read_agreement(&mut screen);
    screen.tap("accept");
    wait_button(&mut screen, "yes");
    screen.tap("yes");
    wait_page(&mut screen, Page::Insert);
    // One ¥100 note: the price, the rest to the new number's balance.
    world
        .bill
        .blocking_send(bill_acceptor::sim::Action::Insert { fen: 10_000 })
        .unwrap();
    assert!(
        wait_until(&mut screen, PATIENCE, |s| {
            s.window
                .global::<telekiosk::ui::InsertAdapter>()
                .get_can_finish()
        }),
        "the note never counted"
    );
    screen.tap("finish");
    take_card_from_gate(&world, &mut screen);
    wait_button(&mut screen, "no thanks");
    screen.tap("no thanks");
    wait_page(&mut screen, Page::Idle);
    let beyond = screen.taps_beyond_digits();
    println!("taps beyond the digits: {} {beyond:?}", beyond.len());

    let txn = session_txn(&runtime, &mut notes);
    settled(&runtime, &journal, &txn, "new_sim", 10_000);
    let iccid = the_card_taken(&runtime, &journal, &txn);
    assert_eq!(world.dispenser.device().stacker_count(), stock - 1);
    // The operator: the number chosen, active, registered to the applicant, on the card
    // handed out.
    let sub = world.subscriber(&number).unwrap();
    assert!(sub.real_name, "registered");
    assert!(
        sub.id_number
            .as_deref()
            .is_some_and(|i| i.starts_with("533102")),
        "registered to the applicant"
    );
    assert_eq!(
        world.operator().sim_of(&number).unwrap().as_deref(),
        Some(iccid.as_str())
    );
    let _ = stop.send(true);
    runtime.block_on(task).unwrap().unwrap();
}

#[test]
fn the_owner_replaces_a_sim_through_the_screen_and_the_old_one_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, world, kiosk) = start(dir.path(), TODAY);
    let DemoKiosk {
        screen: updates,
        ui,
        mut notes,
        journal,
        stop,
        task,
        ..
    } = kiosk;
    restock(&runtime, &world, &journal);
    let old = world.operator().sim_of(OWNER).unwrap();
    let mut screen = UiDriver::new(updates, ui, UiOptions::default());
    offered(&mut screen, "replace_sim");

    screen.tap("Replace SIM");
    wait_page(&mut screen, Page::Keypad);
    screen.type_number(OWNER);
    screen.tap("confirm number");
    wait_button(&mut screen, "start");
    screen.tap("start");
    wait_page(&mut screen, Page::PlaceIdCard);
    // 王小明's own card.
    assert!(world.id_reader.with(|r| r.place("resident")));
    wait_button(&mut screen, "consent");
    screen.tap("consent");
    assert!(
        wait_until(&mut screen, Duration::from_secs(90), |s| {
            !s.buttons("yes").is_empty()
        }),
        "the price never came; on {:?}",
        screen.page()
    );
    screen.tap("yes");
    wait_page(&mut screen, Page::Insert);
    // The exact fee, ¥10: the card is made as soon as it is in.
    world
        .bill
        .blocking_send(bill_acceptor::sim::Action::Insert { fen: 1_000 })
        .unwrap();
    take_card_from_gate(&world, &mut screen);
    wait_button(&mut screen, "no thanks");
    screen.tap("no thanks");
    wait_page(&mut screen, Page::Idle);
    let beyond = screen.taps_beyond_digits();
    println!("taps beyond the digits: {} {beyond:?}", beyond.len());

    let txn = session_txn(&runtime, &mut notes);
    settled(&runtime, &journal, &txn, "replace_sim", 1_000);
    let iccid = the_card_taken(&runtime, &journal, &txn);
    let now = world.operator().sim_of(OWNER).unwrap();
    assert_eq!(
        now.as_deref(),
        Some(iccid.as_str()),
        "on the card handed out"
    );
    assert_ne!(now, old, "the old card no longer carries the number");
    let _ = stop.send(true);
    runtime.block_on(task).unwrap().unwrap();
}
