//! Drives the kiosk screen in tests the way a customer does: taps by accessible label,
//! with engine updates applied as they arrive. For UI tests against the real engine, the
//! simulators and the operator simulator: `#[path = "ui_support/mod.rs"] mod ui_support;`
//! then, on a thread of its own (Slint's platform is per thread):
//!
//! ```ignore
//! let mut screen = UiDriver::new(screen_rx, ui_tx, UiOptions::default());
//! // run the engine's session on a tokio runtime elsewhere with (ui_rx, screen_tx)
//! screen.tap("Top up"); // the tile, right on the idle screen
//! assert!(screen.wait_for_page(Page::Keypad, Duration::from_secs(20)));
//! screen.type_number("13800001234");
//! screen.tap("confirm number");
//! assert!(screen.wait_for_page(Page::Confirm, Duration::from_secs(20)));
//! screen.tap("yes"); // … notes from the acceptor simulator, "finish"
//! assert!(screen.taps_beyond_digits().len() <= 4);
//! ```
//!
//! [`scripted_top_up`] runs a whole top-up against a scripted engine and returns the
//! labels tapped (for the tap-count test and the `ui_render` benchmark).
#![allow(dead_code)]

pub mod world;

use std::time::{Duration, Instant};

use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use slint::ComponentHandle;
use slint::platform::PointerEventButton;
use telekiosk::flow::screen::{ReceiptState, TypedNumber};
use telekiosk::flow::topup::{AccountStatus, Outcome, Subscriber};
use telekiosk::flow::{Screen, ServiceId, Ui};
use telekiosk::runtime::screen::{ScreenUpdate, UiEvent};
use telekiosk::ui::{self, AppAdapter, InsertAdapter, KioskWindow, Page, UiOptions};
use tokio::sync::mpsc;

/// A kiosk window under Slint's testing backend, fed by the engine's updates.
pub struct UiDriver {
    pub window: KioskWindow,
    updates: mpsc::Receiver<ScreenUpdate>,
    /// Every label tapped, in order.
    taps: Vec<String>,
}

impl UiDriver {
    /// Installs the testing backend on this thread and binds a window to the engine.
    pub fn new(
        updates: mpsc::Receiver<ScreenUpdate>,
        events: mpsc::Sender<UiEvent>,
        options: UiOptions,
    ) -> Self {
        i_slint_backend_testing::init_no_event_loop();
        let window = KioskWindow::new().expect("the kiosk window");
        ui::attach(&window, events, &options);
        let (w, h) = options.orientation.size();
        window.window().set_size(slint::PhysicalSize::new(w, h));
        window.show().expect("show the window");
        Self {
            window,
            updates,
            taps: Vec::new(),
        }
    }

    /// Every label tapped so far, in order.
    pub fn taps(&self) -> &[String] {
        &self.taps
    }

    /// The taps that were not digits of the number.
    pub fn taps_beyond_digits(&self) -> Vec<String> {
        self.taps
            .iter()
            .filter(|l| !(l.len() == 1 && l.chars().all(|c| c.is_ascii_digit())))
            .cloned()
            .collect()
    }

    /// Applies every update the engine has sent so far; returns how many.
    pub fn pump(&mut self) -> usize {
        let mut n = 0;
        while let Ok(update) = self.updates.try_recv() {
            ui::apply(&self.window, &update);
            n += 1;
        }
        n
    }

    /// Pumps updates until `page` shows (true) or `timeout` passes (false). Also lets
    /// the screen's own timers run on the mock clock.
    pub fn wait_for_page(&mut self, page: Page, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.pump();
            if self.page() == page {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
            i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(20));
        }
    }

    pub fn page(&self) -> Page {
        self.window.global::<AppAdapter>().get_page()
    }

    /// Buttons with this accessible label.
    pub fn buttons(&self, label: &str) -> Vec<ElementHandle> {
        ElementHandle::find_by_accessible_label(&self.window, label)
            .filter(|e| e.accessible_role() == Some(AccessibleRole::Button))
            .collect()
    }

    /// Taps the one button with this accessible label (press and release at its centre).
    pub fn tap(&mut self, label: &str) {
        self.pump();
        let found = self.buttons(label);
        assert_eq!(
            found.len(),
            1,
            "exactly one button labelled {label:?} on {:?}",
            self.page()
        );
        found[0].mock_single_click(PointerEventButton::Left);
        self.taps.push(label.to_owned());
    }

    /// Types a number on the keypad, key by key.
    pub fn type_number(&mut self, digits: &str) {
        for d in digits.chars() {
            self.tap(&d.to_string());
        }
    }
}

/// Pumps updates until `done` holds or `timeout` passes.
pub fn wait_until(
    screen: &mut UiDriver,
    timeout: Duration,
    done: impl Fn(&UiDriver) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        screen.pump();
        if done(screen) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
        i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(20));
    }
}

/// A customer tops up ¥70 from the idle screen to the result, against an engine that
/// answers the screen's events with the screens the top-up flow shows (keypad, lookup,
/// the confirmation with the no-change notice, notes, processing, result). Returns every
/// label tapped until the result shows. Installs the testing backend on this thread.
pub fn scripted_top_up() -> Vec<String> {
    let (screen_tx, screen_rx) = mpsc::channel(64);
    let (ui_tx, mut ui_rx) = mpsc::channel(64);
    let mut screen = UiDriver::new(screen_rx, ui_tx, UiOptions::default());
    let engine = std::thread::spawn(move || {
        let show = |s: Screen| {
            let _ = screen_tx.blocking_send(ScreenUpdate::Show(s));
        };
        let number = "138****0000".to_string();
        let insert = |total_fen| ui::sample_insert(&number, total_fen, 50_000, None);
        while let Some(ev) = ui_rx.blocking_recv() {
            match ev {
                UiEvent::Start(ServiceId::TopUp) => show(Screen::EnterNumber {
                    service: ServiceId::TopUp,
                    notice: None,
                    typed: TypedNumber::default(),
                }),
                UiEvent::Customer(Ui::Number(_)) => {
                    show(Screen::LookingUp {
                        number_masked: number.clone(),
                    });
                    show(Screen::Confirm {
                        number_masked: number.clone(),
                        subscriber: Subscriber {
                            owner_masked: "*小明".into(),
                            status: AccountStatus::Active,
                            prepaid: true,
                            balance_fen: 1_000,
                            arrears_fen: 0,
                            reported_lost: false,
                        },
                        accept_fen: vec![1000, 2000, 5000, 10000],
                        max_fen: 50_000,
                    });
                }
                // "Yes" opens the transaction and enables the acceptor; two notes go in.
                UiEvent::Customer(Ui::Confirm) => {
                    show(insert(0));
                    show(insert(2_000));
                    show(insert(7_000));
                }
                UiEvent::Customer(Ui::Finish) => {
                    show(Screen::Processing { total_fen: 7_000 });
                    show(Screen::Result {
                        number_masked: number.clone(),
                        amount_fen: 7_000,
                        outcome: Outcome::Credited {
                            boss_ref: "B1".into(),
                            new_balance_fen: Some(8_000),
                        },
                        reference: "T1".into(),
                        receipt: ReceiptState::Printed,
                        jammed: None,
                    });
                    return;
                }
                _ => {}
            }
        }
    });
    let patience = Duration::from_secs(20);
    assert_eq!(screen.page(), Page::Idle);
    screen.tap("Top up");
    assert!(screen.wait_for_page(Page::Keypad, patience));
    screen.type_number("13800000000");
    screen.tap("confirm number");
    assert!(
        screen.wait_for_page(Page::Confirm, patience),
        "no confirmation"
    );
    screen.tap("yes");
    assert!(
        wait_until(&mut screen, patience, |s| {
            s.window.global::<InsertAdapter>().get_total() == "¥70.00"
        }),
        "the notes never showed"
    );
    screen.tap("finish");
    assert!(screen.wait_for_page(Page::Result, patience), "no result");
    engine.join().expect("the scripted engine");
    screen.taps().to_vec()
}
