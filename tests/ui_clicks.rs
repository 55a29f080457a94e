//! UI tests with Slint's testing backend: the customer's taps, found by accessible label,
//! become the right `Ui` events; language switch; idle warning countdown.
//!
//! Slint's platform is per thread (without an event loop), so each test runs on a thread
//! of its own with the testing backend and mock time.

use std::time::{Duration, Instant};

use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use slint::ComponentHandle;
use slint::platform::PointerEventButton;
use telekiosk::engine::ScreenUpdate;
use telekiosk::flow::topup::{AccountStatus, Outcome, ReceiptState, Screen, Subscriber, Ui};
use telekiosk::ui::{
    self, AppAdapter, KeypadAdapter, KioskWindow, Page, Request, ServiceId, Theme, UiOptions,
};
use tokio::sync::mpsc;

#[path = "ui_support/mod.rs"]
mod ui_support;

struct Kiosk {
    window: KioskWindow,
    events: mpsc::Receiver<Ui>,
    requests: mpsc::Receiver<Request>,
}

/// Runs `f` on its own thread with the testing backend installed there.
fn on_ui_thread(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        i_slint_backend_testing::init_no_event_loop();
        f();
    })
    .join()
    .expect("the UI test thread panicked");
}

fn kiosk() -> Kiosk {
    let window = KioskWindow::new().expect("window");
    let (tx, events) = mpsc::channel(64);
    let (req_tx, requests) = mpsc::channel(16);
    let mut options = UiOptions {
        requests: Some(req_tx),
        ..UiOptions::default()
    };
    ui::attach(&window, tx, &mut options);
    window
        .window()
        .set_size(slint::LogicalSize::new(1080.0, 1920.0));
    window.show().expect("show");
    Kiosk {
        window,
        events,
        requests,
    }
}

impl Kiosk {
    /// Taps the (single, visible) element with this accessible label.
    fn tap(&self, label: &str) {
        // Texts carry their words as a label too: only buttons are tapped.
        let found: Vec<_> = ElementHandle::find_by_accessible_label(&self.window, label)
            .filter(|e| e.accessible_role() == Some(AccessibleRole::Button))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "exactly one element labelled {label:?} on {:?}",
            self.page()
        );
        // A press and release at the element's centre, 50 ms apart on the mock clock.
        found[0].mock_single_click(PointerEventButton::Left);
    }

    fn has(&self, label: &str) -> bool {
        ElementHandle::find_by_accessible_label(&self.window, label)
            .next()
            .is_some()
    }

    fn page(&self) -> Page {
        self.window.global::<AppAdapter>().get_page()
    }

    fn apply(&self, update: ScreenUpdate) {
        ui::apply(&self.window, &update);
    }

    /// The next event other than `Touch` (which every tap also sends); waits generously.
    fn next_event(&mut self) -> Ui {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.events.try_recv() {
                Ok(Ui::Touch) => {}
                Ok(ui) => return ui,
                Err(mpsc::error::TryRecvError::Empty) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("no UI event: {e}"),
            }
        }
    }

    /// Whether a `Touch` arrives (and nothing else) within a while.
    fn next_touch(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.events.try_recv() {
                Ok(Ui::Touch) => return true,
                Ok(other) => panic!("expected a touch, got {other:?}"),
                Err(mpsc::error::TryRecvError::Empty) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return false,
            }
        }
    }
}

fn confirm_screen() -> Screen {
    Screen::Confirm {
        number_masked: "138****1234".into(),
        subscriber: Subscriber {
            owner_masked: "*小明".into(),
            status: AccountStatus::Active,
            prepaid: true,
            balance_fen: 1_000,
            arrears_fen: 0,
        },
    }
}

#[test]
fn a_complete_top_up_by_accessible_label() {
    on_ui_thread(|| {
        let mut k = kiosk();
        assert_eq!(k.page(), Page::Idle);
        k.tap("touch to start");
        assert_eq!(k.page(), Page::Home);
        k.tap("Top up");
        assert_eq!(
            k.requests.try_recv().ok(),
            Some(Request::Start(ServiceId::TopUp))
        );
        assert_eq!(k.page(), Page::Keypad);
        k.apply(ScreenUpdate::Show(Screen::EnterNumber { notice: None }));

        for d in "1380000123".chars() {
            k.tap(&d.to_string());
        }
        assert_eq!(k.window.global::<KeypadAdapter>().get_count(), 10);
        k.tap("9");
        k.tap("delete");
        k.tap("4");
        assert_eq!(k.window.global::<KeypadAdapter>().get_echo(), "138****1234");
        k.tap("confirm number");
        assert_eq!(k.next_event(), Ui::Number("13800001234".into()));

        k.apply(ScreenUpdate::Show(Screen::LookingUp {
            number_masked: "138****1234".into(),
        }));
        assert_eq!(k.page(), Page::LookingUp);
        k.apply(ScreenUpdate::Show(confirm_screen()));
        assert_eq!(k.page(), Page::Confirm);
        k.tap("yes");
        assert_eq!(k.next_event(), Ui::Confirm);

        k.apply(ScreenUpdate::Show(Screen::NoChange {
            accept_fen: vec![1000, 5000, 10000],
            max_fen: 50_000,
        }));
        k.tap("understood");
        assert_eq!(k.next_event(), Ui::Confirm);

        let insert = |total_fen, can_finish| Screen::Insert {
            number_masked: "138****1234".into(),
            total_fen,
            remaining_fen: 50_000 - total_fen,
            accept_fen: vec![1000, 5000, 10000],
            notice: None,
            can_finish,
        };
        k.apply(ScreenUpdate::Show(insert(0, false)));
        assert!(
            k.window.global::<AppAdapter>().get_can_back(),
            "back is possible before money is in"
        );
        k.apply(ScreenUpdate::Show(insert(10_000, true)));
        assert!(
            !k.window.global::<AppAdapter>().get_can_back(),
            "no back once money is in"
        );
        k.tap("finish");
        assert_eq!(k.next_event(), Ui::Finish);

        k.apply(ScreenUpdate::Show(Screen::Processing { total_fen: 10_000 }));
        k.apply(ScreenUpdate::Show(Screen::Result {
            number_masked: "138****1234".into(),
            amount_fen: 10_000,
            outcome: Outcome::Credited {
                boss_ref: "B1".into(),
                new_balance_fen: Some(11_000),
            },
            reference: "T1".into(),
            receipt: ReceiptState::Printed,
        }));
        assert_eq!(k.page(), Page::Result);
        k.tap("no thanks");
        assert_eq!(k.next_event(), Ui::Cancel);
        k.apply(ScreenUpdate::End);
        assert_eq!(k.page(), Page::Idle);
        assert_eq!(
            k.window.global::<KeypadAdapter>().get_count(),
            0,
            "the number is wiped"
        );
    });
}

#[test]
fn something_else_goes_back_to_the_home_screen() {
    on_ui_thread(|| {
        let mut k = kiosk();
        k.apply(ScreenUpdate::Show(Screen::Result {
            number_masked: "138****1234".into(),
            amount_fen: 1_000,
            outcome: Outcome::Pending {
                reason: "no answer".into(),
            },
            reference: "T2".into(),
            receipt: ReceiptState::NotPrinted,
        }));
        k.tap("something else");
        assert_eq!(k.next_event(), Ui::Confirm);
        k.apply(ScreenUpdate::End);
        assert_eq!(k.page(), Page::Home);
    });
}

#[test]
fn language_switch_is_on_every_screen_and_resets_for_the_next_customer() {
    on_ui_thread(|| {
        let k = kiosk();
        let theme = || k.window.global::<Theme>();
        assert!(!theme().get_english(), "中文 is the default");
        for (name, view) in ui::gallery() {
            ui::show_view(&k.window, &view);
            assert!(k.has("language"), "{name}: language switch");
            assert!(k.has("call for help"), "{name}: call for help");
            assert!(k.has("elder mode"), "{name}: elder mode switch");
        }
        ui::show_view(&k.window, &ui::View::Session(confirm_screen()));
        k.tap("language");
        assert!(theme().get_english());
        k.tap("elder mode");
        assert!(theme().get_elder());
        k.tap("language");
        assert!(!theme().get_english());
        k.tap("language");
        k.apply(ScreenUpdate::End);
        assert_eq!(k.page(), Page::Idle);
        assert!(
            !theme().get_english() && !theme().get_elder(),
            "the next customer starts in 中文, normal size"
        );
    });
}

#[test]
fn idle_warning_counts_down_and_a_touch_keeps_the_session() {
    on_ui_thread(|| {
        let mut k = kiosk();
        k.apply(ScreenUpdate::Show(Screen::EnterNumber { notice: None }));
        assert!(!k.has("continue"));
        k.apply(ScreenUpdate::IdleWarning { seconds_left: 15 });
        assert!(k.has("continue"), "the warning is shown");
        let window = k.window.clone_strong();
        let app = || window.global::<AppAdapter>();
        assert_eq!(app().get_warning_seconds(), 15);
        for _ in 0..3 {
            i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(1_000));
        }
        let left = app().get_warning_seconds();
        assert!((11..=13).contains(&left), "counts down with time: {left}");
        k.tap("continue");
        assert!(k.next_touch(), "continue keeps the session alive");
        assert_eq!(app().get_warning_seconds(), 0);
        assert!(!k.has("continue"), "the warning is gone");

        // Nobody touched: the engine ends the session and the screen goes idle.
        k.apply(ScreenUpdate::IdleWarning { seconds_left: 5 });
        k.apply(ScreenUpdate::End);
        assert_eq!(k.page(), Page::Idle);
        assert!(!k.has("continue"));
    });
}

#[test]
fn help_back_and_sorry_after_the_session_ended() {
    on_ui_thread(|| {
        let mut k = kiosk();
        k.apply(ScreenUpdate::Show(Screen::EnterNumber { notice: None }));
        k.tap("call for help");
        assert_eq!(k.requests.try_recv().ok(), Some(Request::CallHelp));
        k.tap("close help");
        k.tap("back");
        assert_eq!(k.next_event(), Ui::Back);

        // The engine shows sorry and ends at once; the explanation stays until read.
        k.apply(ScreenUpdate::Show(Screen::Sorry {
            notice: telekiosk::flow::topup::Notice::ServiceUnavailable,
            reference: None,
        }));
        k.apply(ScreenUpdate::End);
        assert_eq!(k.page(), Page::Sorry);
        k.tap("ok");
        assert_eq!(k.page(), Page::Idle);
    });
}

/// The driver the end-to-end tests use: engine updates arrive on a channel from another
/// thread and are applied while the test waits for a page.
#[test]
fn the_driver_follows_updates_from_another_thread() {
    on_ui_thread_plain(|| {
        let (screen_tx, screen_rx) = mpsc::channel(16);
        let (ui_tx, mut ui_rx) = mpsc::channel(64);
        let mut screen = ui_support::UiDriver::new(screen_rx, ui_tx, UiOptions::default());
        let engine = std::thread::spawn(move || {
            screen_tx
                .blocking_send(ScreenUpdate::Show(Screen::EnterNumber { notice: None }))
                .expect("send");
            loop {
                match ui_rx.blocking_recv() {
                    Some(Ui::Number(n)) => return n,
                    Some(_) => {}
                    None => return String::new(),
                }
            }
        });
        assert!(screen.wait_for_page(Page::Keypad, Duration::from_secs(20)));
        screen.type_number("13912345678");
        screen.tap("confirm number");
        drop(screen);
        assert_eq!(engine.join().expect("engine thread"), "13912345678");
    });
}

/// Runs `f` on its own thread without installing a platform (the driver does).
fn on_ui_thread_plain(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(f)
        .join()
        .expect("the UI test thread panicked");
}
