//! A customer tops up through the kiosk screen — tapping by accessible label under Slint's
//! testing backend — against the real engine, the bill acceptor and printer simulators over
//! pseudo-terminals, and the operator simulator over mutual TLS.

#[path = "ui_support/mod.rs"]
mod ui_support;

use std::time::Duration;

use slint::ComponentHandle;

use bill_acceptor::Protocol;
use bill_acceptor::sim::Action;
use telekiosk::demo::DemoKiosk;
use telekiosk::flow::topup::Outcome;
use telekiosk::ui::{InsertAdapter, Page, ResultAdapter, UiOptions};
use tokio::sync::mpsc;
use ui_support::UiDriver;

const PATIENCE: Duration = Duration::from_secs(30);

fn wait_total(screen: &mut UiDriver, total: &str) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while screen.window.global::<InsertAdapter>().get_total() != total {
        assert!(
            std::time::Instant::now() < deadline,
            "the note screen never showed {total}"
        );
        screen.pump();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_customer_tops_up_through_the_screen_against_simulators_and_operator() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut kiosk = runtime
        .block_on(DemoKiosk::start(
            dir.path(),
            Protocol::Ssp,
            true,
            None,
            Default::default(),
        ))
        .expect("the simulated kiosk starts");
    let world = kiosk.world.take().expect("simulated world");
    let service = world.boss.shared.service.clone();
    let balance = move || {
        service
            .store()
            .subscriber("13800000000")
            .unwrap()
            .unwrap()
            .balance_fen
    };
    let before = balance();

    let (ui_tx, mut ui_rx) = mpsc::channel(64);
    let (screen_tx, screen_rx) = mpsc::channel(64);
    let mut screen = UiDriver::new(screen_rx, ui_tx, UiOptions::default());
    screen.tap("touch to start");
    // Choosing the service starts the engine's session (as the window's request does).
    screen.tap("Top up");
    let session = runtime.spawn(async move {
        let summary = kiosk.engine.run_session(&mut ui_rx, screen_tx).await;
        (summary, kiosk)
    });
    assert!(screen.wait_for_page(Page::Keypad, PATIENCE));
    screen.type_number("13800000000");
    screen.tap("confirm number");
    assert!(
        screen.wait_for_page(Page::Confirm, PATIENCE),
        "no confirmation: {:?}",
        screen.page()
    );
    screen.tap("yes");
    assert!(screen.wait_for_page(Page::NoChange, PATIENCE));
    screen.tap("understood");
    assert!(screen.wait_for_page(Page::Insert, PATIENCE));

    world
        .bill
        .blocking_send(Action::Insert { fen: 2000 })
        .unwrap();
    wait_total(&mut screen, "¥20.00");
    world
        .bill
        .blocking_send(Action::Insert { fen: 5000 })
        .unwrap();
    wait_total(&mut screen, "¥70.00");
    screen.tap("finish");

    assert!(
        screen.wait_for_page(Page::Result, PATIENCE),
        "no result: {:?}",
        screen.page()
    );
    let deadline = std::time::Instant::now() + PATIENCE;
    while screen.window.global::<ResultAdapter>().get_receipt() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the receipt never came out"
        );
        screen.pump();
        std::thread::sleep(Duration::from_millis(20));
    }
    let result = screen.window.global::<ResultAdapter>();
    assert_eq!(result.get_kind(), 0, "credited");
    assert_eq!(result.get_amount(), "¥70.00");
    assert_eq!(result.get_number(), "138****0000");
    assert_eq!(result.get_receipt(), 1, "receipt printed");
    screen.tap("no thanks");

    let (summary, kiosk) = runtime.block_on(session).unwrap();
    let summary = summary.expect("session without journal errors");
    assert_eq!(summary.credited_fen, 7000);
    assert!(matches!(summary.outcome, Some(Outcome::Credited { .. })));
    assert_eq!(
        balance() - before,
        7000,
        "the operator credited exactly what went in"
    );
    assert!(kiosk.engine.journal.check(false).unwrap().is_ok());
    assert!(
        screen.wait_for_page(Page::Idle, PATIENCE),
        "the session is wiped back to idle"
    );
}
