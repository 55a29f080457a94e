//! Customers change a plan and print itemised records through the kiosk screen — tapping
//! by accessible label under Slint's testing backend — against the real kiosk runtime, the
//! device simulators over pseudo-terminals, and the self-service system server and the
//! operator simulator behind it over mutual TLS. Each outcome is checked at the operator
//! (plan booked for next month, SMS sent) and in the kiosk's journal.
//!
//! The business date is pinned to the 20th (plan changes are closed on the 1st–5th).

#[path = "ui_support/mod.rs"]
mod ui_support;

use std::path::Path;
use std::time::Duration;

use bill_acceptor::Protocol;
use slint::{ComponentHandle, Model};
use telekiosk::demo::{Day, DemoKiosk, World, WorldOptions};
use telekiosk::flow::bills::last_six_months;
use telekiosk::journal::TxnState;
use telekiosk::runtime::kiosk::Note;
use telekiosk::ui::{AuthAdapter, BillsAdapter, HomeAdapter, Page, PlansAdapter, UiOptions};
use ui_support::{UiDriver, wait_until};

const PATIENCE: Duration = Duration::from_secs(40);
const TODAY: Day = (2026, 11, 20);
/// 王小明: prepaid, plan P58, service password 123456.
const OWNER: &str = "13800000000";

/// The world, a kiosk in it, and the screen bound to the kiosk (on this thread).
fn start(dir: &Path) -> (tokio::runtime::Runtime, World, DemoKiosk) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (world, kiosk) = runtime.block_on(async {
        let w = World::start_with(
            dir,
            Protocol::Ssp,
            true,
            WorldOptions { today: Some(TODAY) },
        )
        .await
        .expect("the simulated world starts");
        let k = DemoKiosk::start(&w.config(dir, Default::default()), w.options())
            .expect("the kiosk starts");
        (w, k)
    });
    (runtime, world, kiosk)
}

/// Waits until the idle screen offers `service` (by its id).
fn offered(screen: &mut UiDriver, service: &str) {
    assert!(
        wait_until(screen, PATIENCE, |s| {
            s.page() == Page::Idle
                && s.window
                    .global::<HomeAdapter>()
                    .get_services()
                    .iter()
                    .any(|t| t.id == service && t.enabled)
        }),
        "{service} never offered"
    );
}

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
    let (runtime, world, kiosk) = start(dir.path());
    let DemoKiosk {
        screen: updates,
        ui,
        mut notes,
        journal,
        stop,
        task,
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

    let txn = runtime.block_on(async {
        loop {
            match tokio::time::timeout(PATIENCE, notes.recv()).await {
                Ok(Some(Note::SessionEnded { txn, .. })) => break txn.expect("a transaction"),
                Ok(Some(_)) => {}
                other => panic!("no session end: {other:?}"),
            }
        }
    });
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
    let (runtime, mut world, kiosk) = start(dir.path());
    let month = last_six_months(TODAY)[0].clone();
    assert_eq!(world.busy_month(OWNER, &month, 45).unwrap(), 45);
    let DemoKiosk {
        screen: updates,
        ui,
        mut notes,
        journal,
        stop,
        task,
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

    let txn = runtime.block_on(async {
        loop {
            match tokio::time::timeout(PATIENCE, notes.recv()).await {
                Ok(Some(Note::SessionEnded { txn, .. })) => break txn.expect("a transaction"),
                Ok(Some(_)) => {}
                other => panic!("no session end: {other:?}"),
            }
        }
    });
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
