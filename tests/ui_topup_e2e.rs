//! A customer tops up through the kiosk screen — tapping by accessible label under Slint's
//! testing backend — against the real kiosk runtime, the bill acceptor and printer
//! simulators over pseudo-terminals, and the self-service system server and the operator
//! simulator behind it over mutual TLS.

#[path = "ui_support/mod.rs"]
mod ui_support;

use std::time::Duration;

use slint::ComponentHandle;

use bill_acceptor::Protocol;
use bill_acceptor::sim::Action;
use slint::Model;
use telekiosk::demo::{DemoKiosk, World, demo_options, kiosk_config};
use telekiosk::journal::TxnState;
use telekiosk::ui::{HomeAdapter, InsertAdapter, Page, ResultAdapter, UiOptions};
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
    let (world, kiosk) = runtime.block_on(async {
        let w = World::start(dir.path(), Protocol::Ssp, true)
            .await
            .expect("the simulated world starts");
        let cfg = kiosk_config(
            dir.path(),
            &w.link_address(),
            &w.certs,
            Some((&w.bill_path, w.protocol)),
            Some(&w.printer_path),
            Default::default(),
        );
        let k = DemoKiosk::start(&cfg, demo_options()).expect("the kiosk starts");
        (w, k)
    });
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
    // The kiosk starts (out of service while it recovers and connects), then offers
    // top-up on the home screen.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        screen.pump();
        let offered = screen
            .window
            .global::<HomeAdapter>()
            .get_services()
            .iter()
            .any(|s| s.id == "topup" && s.enabled);
        if offered && screen.page() == Page::Idle {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never in service");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Taps beyond the number: the tile (right on the idle screen), "confirm number",
    // "yes", "finish".
    screen.tap("Top up");
    assert!(screen.wait_for_page(Page::Keypad, PATIENCE));
    screen.type_number("13800000000");
    screen.tap("confirm number");
    assert!(
        screen.wait_for_page(Page::Confirm, PATIENCE),
        "no confirmation: {:?}",
        screen.page()
    );
    screen.tap("yes");
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
    assert_eq!(
        screen.taps_beyond_digits(),
        ["Top up", "confirm number", "yes", "finish"],
        "a top-up takes four taps beyond the eleven digits"
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
    assert!(
        screen.wait_for_page(Page::Idle, PATIENCE),
        "the session is wiped back to idle"
    );

    let txn = runtime.block_on(async {
        loop {
            match tokio::time::timeout(PATIENCE, notes.recv()).await {
                Ok(Some(telekiosk::runtime::kiosk::Note::SessionEnded {
                    txn, money_fen, ..
                })) => {
                    assert_eq!(money_fen, 7000);
                    break txn.expect("a transaction");
                }
                Ok(Some(_)) => {}
                other => panic!("no session end: {other:?}"),
            }
        }
    });
    let rec = runtime
        .block_on(journal.run(move |j| j.get(&txn)))
        .unwrap()
        .unwrap();
    assert_eq!(rec.state, TxnState::Settled);
    assert_eq!(rec.credited_fen, 7000);
    assert_eq!(
        balance() - before,
        7000,
        "the operator credited exactly what went in"
    );
    let _ = stop.send(true);
    runtime.block_on(task).unwrap().unwrap();
    let check = runtime
        .block_on(journal.run(|j| j.check(false)))
        .unwrap()
        .unwrap();
    assert!(check.is_ok(), "{:?}", check.violations);
    assert_eq!(world.cashbox.total_fen(), 7000);
}
