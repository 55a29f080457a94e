//! UI tests with Slint's testing backend: the customer's taps, found by accessible label,
//! become the right `Ui` events; a top-up in four taps beyond the digits; language switch;
//! idle warning countdown and its words; "show digits"; keys that stay put and never shrink
//! in elder mode; greyed tiles that are readable and say why; help that stays visible.
//!
//! Slint's platform is per thread (without an event loop), so each test runs on a thread
//! of its own with the testing backend and mock time.

use std::time::{Duration, Instant};

use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use slint::ComponentHandle;
use slint::platform::PointerEventButton;
use telekiosk::flow::screen::{CashPurpose, CashView, ReceiptState, TypedNumber};
use telekiosk::flow::topup::{AccountStatus, Outcome, Subscriber};
use telekiosk::flow::{Notice, Screen, ServiceId, Ui};
use telekiosk::runtime::screen::{Availability, ScreenUpdate, ServiceState, UiEvent};
use telekiosk::ui::{
    self, AppAdapter, KeypadAdapter, KioskWindow, Language, Orientation, Page, Theme, UiOptions,
};
use tokio::sync::mpsc;

#[path = "ui_support/mod.rs"]
mod ui_support;

struct Kiosk {
    window: KioskWindow,
    events: mpsc::Receiver<UiEvent>,
    /// Requests (start, help, technician) seen while waiting for customer events.
    requests: Vec<UiEvent>,
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
    kiosk_with(UiOptions::default())
}

fn kiosk_with(options: UiOptions) -> Kiosk {
    let window = KioskWindow::new().expect("window");
    let (tx, events) = mpsc::channel(64);
    ui::attach(&window, tx, &options);
    let (w, h) = options.orientation.size();
    window
        .window()
        .set_size(slint::LogicalSize::new(w as f32, h as f32));
    window.show().expect("show");
    Kiosk {
        window,
        events,
        requests: Vec::new(),
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

    /// Whether the one button with this label can be tapped now.
    fn has_enabled(&self, label: &str) -> bool {
        ElementHandle::find_by_accessible_label(&self.window, label)
            .filter(|e| e.accessible_role() == Some(AccessibleRole::Button))
            .any(|e| e.accessible_enabled() != Some(false))
    }

    fn page(&self) -> Page {
        self.window.global::<AppAdapter>().get_page()
    }

    /// The words of the element with this accessible label (its description), if shown.
    fn words(&self, label: &str) -> Option<String> {
        ElementHandle::find_by_accessible_label(&self.window, label)
            .next()
            .and_then(|e| e.accessible_description())
            .map(|d| d.to_string())
    }

    /// (x, y, width, height) of the one button with this label.
    fn rect(&self, label: &str) -> (f32, f32, f32, f32) {
        let found: Vec<_> = ElementHandle::find_by_accessible_label(&self.window, label)
            .filter(|e| e.accessible_role() == Some(AccessibleRole::Button))
            .collect();
        assert_eq!(found.len(), 1, "one button labelled {label:?}");
        let (p, s) = (found[0].absolute_position(), found[0].size());
        (p.x, p.y, s.width, s.height)
    }

    /// Whether a request (start, help, technician) came, without waiting long.
    fn no_request_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            match self.events.try_recv() {
                Ok(UiEvent::Customer(_)) => {}
                Ok(other) => panic!("unexpected request {other:?}"),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        true
    }

    fn apply(&self, update: ScreenUpdate) {
        ui::apply(&self.window, &update);
    }

    /// The next request (start a service, help, technician); waits generously.
    fn next_request(&mut self) -> UiEvent {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if !self.requests.is_empty() {
                return self.requests.remove(0);
            }
            match self.events.try_recv() {
                Ok(UiEvent::Customer(_)) => {}
                Ok(other) => return other,
                Err(mpsc::error::TryRecvError::Empty) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("no request: {e}"),
            }
        }
    }

    /// The next event other than `Touch` (which every tap also sends); waits generously.
    fn next_event(&mut self) -> Ui {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.events.try_recv() {
                Ok(UiEvent::Customer(Ui::Touch)) => {}
                Ok(UiEvent::Customer(ui)) => return ui,
                Ok(other) => self.requests.push(other),
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
                Ok(UiEvent::Customer(Ui::Touch)) => return true,
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
            reported_lost: false,
        },
        accept_fen: vec![1000, 5000, 10000],
        max_fen: 50_000,
    }
}

fn keypad(notice: Option<Notice>, typed: &str) -> Screen {
    Screen::EnterNumber {
        service: ServiceId::TopUp,
        notice,
        typed: TypedNumber::new(typed),
    }
}

#[test]
fn a_complete_top_up_by_accessible_label() {
    on_ui_thread(|| {
        let mut k = kiosk();
        assert_eq!(k.page(), Page::Idle);
        // The tile is right on the idle screen.
        k.tap("Top up");
        assert_eq!(k.next_request(), UiEvent::Start(ServiceId::TopUp));
        assert_eq!(k.page(), Page::Keypad);
        k.apply(ScreenUpdate::Show(keypad(None, "")));

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
        assert!(k.has("no change given"), "said before the first note");
        k.tap("yes");
        assert_eq!(k.next_event(), Ui::Confirm);

        let insert = |total_fen, can_finish| {
            Screen::Insert(CashView {
                purpose: CashPurpose::TopUp {
                    number_masked: "138****1234".into(),
                },
                total_fen,
                remaining_fen: 50_000 - total_fen,
                due_fen: None,
                accept_fen: vec![1000, 5000, 10000],
                notice: None,
                can_finish,
                busy: false,
            })
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
            jammed: None,
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
            jammed: None,
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
        k.apply(ScreenUpdate::Show(keypad(None, "")));
        assert!(!k.has("continue"));
        k.apply(ScreenUpdate::IdleWarning {
            seconds_left: 15,
            money_fen: 0,
        });
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
        k.apply(ScreenUpdate::IdleWarning {
            seconds_left: 5,
            money_fen: 0,
        });
        k.apply(ScreenUpdate::End);
        assert_eq!(k.page(), Page::Idle);
        assert!(!k.has("continue"));
    });
}

#[test]
fn help_back_and_sorry_after_the_session_ended() {
    on_ui_thread(|| {
        let mut k = kiosk();
        k.apply(ScreenUpdate::Show(keypad(None, "")));
        k.tap("call for help");
        assert_eq!(k.next_request(), UiEvent::CallHelp);
        k.tap("close help");
        k.tap("back");
        assert_eq!(k.next_event(), Ui::Back);

        // The engine shows sorry and ends at once; the explanation stays until read.
        k.apply(ScreenUpdate::Show(Screen::Sorry {
            notice: Notice::ServiceUnavailable,
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
                .blocking_send(ScreenUpdate::Show(keypad(None, "")))
                .expect("send");
            loop {
                match ui_rx.blocking_recv() {
                    Some(UiEvent::Customer(Ui::Number(n))) => return n,
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

#[test]
fn a_touch_beside_the_tiles_opens_the_home_screen() {
    on_ui_thread(|| {
        let mut k = kiosk();
        assert_eq!(k.page(), Page::Idle);
        k.tap("touch to start");
        assert_eq!(k.page(), Page::Home);
        k.tap("Top up");
        assert_eq!(k.next_request(), UiEvent::Start(ServiceId::TopUp));
        assert_eq!(k.page(), Page::Keypad);
    });
}

/// Issue 9: a top-up takes four taps beyond the eleven digits — the tile, "confirm
/// number", "yes" (which also starts the notes), "finish" — the confirmation kept.
#[test]
fn a_top_up_takes_four_taps_beyond_the_digits() {
    on_ui_thread_plain(|| {
        let taps = ui_support::scripted_top_up();
        let digits = taps.iter().filter(|t| t.len() == 1).count();
        assert_eq!(digits, 11, "{taps:?}");
        let beyond: Vec<_> = taps.iter().filter(|t| t.len() > 1).cloned().collect();
        assert!(beyond.len() <= 4, "too many taps: {beyond:?}");
        assert_eq!(beyond, ["Top up", "confirm number", "yes", "finish"]);
    });
}

#[test]
fn show_digits_shows_the_number_in_full_until_hidden_or_the_session_ends() {
    on_ui_thread(|| {
        let mut k = kiosk();
        k.apply(ScreenUpdate::Show(keypad(
            Some(Notice::NumberNotFound),
            "13800001234",
        )));
        assert_eq!(k.words("number").as_deref(), Some("138****1234"), "masked");
        assert!(k.words("notice").is_some_and(|n| n.contains("未查到")));
        k.tap("show digits");
        assert!(k.next_touch(), "the toggle keeps the session alive");
        assert_eq!(k.words("number").as_deref(), Some("138 0000 1234"));
        k.tap("show digits");
        assert_eq!(
            k.words("number").as_deref(),
            Some("138****1234"),
            "hidden again"
        );
        k.tap("show digits");
        assert_eq!(k.words("number").as_deref(), Some("138 0000 1234"));
        k.apply(ScreenUpdate::End);
        assert!(!k.window.global::<KeypadAdapter>().get_show_digits());
        k.tap("Top up");
        assert_eq!(k.page(), Page::Keypad);
        for d in "1380000".chars() {
            k.tap(&d.to_string());
        }
        assert_eq!(
            k.words("number").as_deref(),
            Some("138****"),
            "the next customer starts masked"
        );
    });
}

#[test]
fn the_keys_stay_put_when_a_notice_comes() {
    for orientation in [Orientation::Portrait, Orientation::Landscape] {
        for elder in [false, true] {
            on_ui_thread(move || {
                let k = kiosk_with(UiOptions {
                    orientation,
                    elder,
                    ..UiOptions::default()
                });
                k.apply(ScreenUpdate::Show(keypad(None, "1380000123")));
                let before: Vec<_> = ["1", "5", "0", "confirm number"]
                    .iter()
                    .map(|l| k.rect(l))
                    .collect();
                k.apply(ScreenUpdate::Show(keypad(
                    Some(Notice::InvalidNumber { digits: 11 }),
                    "12800001234",
                )));
                assert!(k.words("notice").is_some());
                let after: Vec<_> = ["1", "5", "0", "confirm number"]
                    .iter()
                    .map(|l| k.rect(l))
                    .collect();
                assert_eq!(before, after, "{orientation:?}, elder {elder}");
            });
        }
    }
}

#[test]
fn elder_mode_keys_are_never_smaller_and_everything_fits() {
    for orientation in [Orientation::Portrait, Orientation::Landscape] {
        for language in [Language::Chinese, Language::English] {
            on_ui_thread(move || {
                let size = |elder| {
                    let k = kiosk_with(UiOptions {
                        orientation,
                        language,
                        elder,
                        ..UiOptions::default()
                    });
                    k.apply(ScreenUpdate::Show(keypad(
                        Some(Notice::NumberNotFound),
                        "13800001234",
                    )));
                    let key = k.rect("5");
                    let confirm = k.rect("confirm number");
                    let back = k.rect("back");
                    // The last row of keys and "confirm" stay above the bottom bar.
                    assert!(
                        confirm.1 + confirm.3 <= back.1 && k.rect("0").1 + k.rect("0").3 <= back.1,
                        "{orientation:?} {language:?} elder {elder}: keypad runs under the bottom bar"
                    );
                    (key.2, key.3)
                };
                let (normal, elder) = (size(false), size(true));
                assert!(
                    elder.0 >= normal.0 && elder.1 >= normal.1,
                    "{orientation:?} {language:?}: elder key {elder:?} smaller than {normal:?}"
                );
                assert!(normal.0 >= 90.0 && normal.1 >= 90.0, "15 mm touch targets");
            });
        }
    }
}

/// WCAG relative luminance of a colour.
fn luminance(c: slint::Color) -> f64 {
    let f = |v: u8| {
        let v = f64::from(v) / 255.0;
        if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * f(c.red()) + 0.7152 * f(c.green()) + 0.0722 * f(c.blue())
}

fn contrast(a: slint::Color, b: slint::Color) -> f64 {
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

#[test]
fn greyed_tiles_stay_readable_in_both_modes() {
    on_ui_thread(|| {
        let k = kiosk();
        let theme = k.window.global::<Theme>();
        for elder in [false, true] {
            theme.set_elder(elder);
            let pairs = [
                (
                    "name and reason",
                    theme.get_disabled_text(),
                    theme.get_disabled_bg(),
                ),
                (
                    "icon",
                    theme.get_on_disabled_icon(),
                    theme.get_disabled_icon_bg(),
                ),
                ("pressed tile", theme.get_text(), theme.get_pressed_bg()),
                ("available tile", theme.get_text(), theme.get_surface()),
            ];
            for (what, fg, bg) in pairs {
                let c = contrast(fg, bg);
                assert!(c >= 4.5, "elder {elder}: {what} contrast {c:.2}:1 < 4.5:1");
            }
            // And still look off: a greyed tile is not drawn like an available one.
            assert_ne!(theme.get_disabled_bg(), theme.get_surface());
        }
    });
}

#[test]
fn tapping_a_greyed_tile_says_why_instead_of_nothing() {
    on_ui_thread(|| {
        let mut k = kiosk();
        let mut services = ui::default_services();
        services[0] = ServiceState {
            service: ServiceId::TopUp,
            availability: Availability::Unavailable {
                zh: "凭条打印机缺纸".into(),
                en: "The receipt printer is out of paper".into(),
            },
        };
        k.apply(ScreenUpdate::Services(services));
        assert_eq!(k.page(), Page::Idle);
        assert!(k.words("service notice").is_none());
        k.tap("Top up");
        assert_eq!(k.page(), Page::Idle, "a greyed tile starts nothing");
        let said = k.words("service notice").expect("the reason is shown");
        assert!(
            said.contains("凭条打印机缺纸") && said.contains("稍后再试"),
            "{said}"
        );
        assert!(k.no_request_within(Duration::from_millis(200)));
        // It goes by itself after a few seconds; a second tap shows it for the full time.
        for _ in 0..4 {
            i_slint_backend_testing::mock_elapsed_time(Duration::from_secs(1));
        }
        k.tap("New SIM");
        let said = k.words("service notice").expect("the next reason");
        assert!(said.contains("新办卡"), "{said}");
        for _ in 0..4 {
            i_slint_backend_testing::mock_elapsed_time(Duration::from_secs(1));
        }
        assert!(
            k.words("service notice").is_some(),
            "the second reason keeps its time"
        );
        for _ in 0..3 {
            i_slint_backend_testing::mock_elapsed_time(Duration::from_secs(1));
        }
        assert!(k.words("service notice").is_none(), "gone after a while");

        // On the home screen too, in English; a touch on the notice closes it.
        k.tap("language");
        k.tap("touch to start");
        assert_eq!(k.page(), Page::Home);
        k.tap("Change plan");
        let said = k.words("service notice").expect("the reason is shown");
        assert!(said.contains("coming soon"), "{said}");
        ElementHandle::find_by_accessible_label(&k.window, "service notice")
            .next()
            .expect("the notice")
            .mock_single_click(PointerEventButton::Left);
        assert!(k.words("service notice").is_none(), "closed by a touch");
    });
}

#[test]
fn help_stays_visible_after_the_notice_is_closed_and_says_money_is_safe_only_with_money() {
    on_ui_thread(|| {
        let mut k = kiosk();
        k.apply(ScreenUpdate::Show(keypad(None, "")));
        assert!(k.words("help pending").is_none());
        k.tap("call for help");
        assert_eq!(k.next_request(), UiEvent::CallHelp);
        let said = k.words("help words").expect("the help notice");
        assert!(!said.contains("钱款"), "no money in yet: {said}");
        assert!(said.contains("不会超时"), "{said}");
        k.tap("close help");
        let pending = k.words("help pending").expect("staff coming stays visible");
        assert!(pending.contains("工作人员"), "{pending}");

        k.apply(ScreenUpdate::Show(ui::sample_insert(
            "138****1234",
            5_000,
            50_000,
            None,
        )));
        assert!(
            k.words("help pending").is_some(),
            "still pending on the next screen"
        );
        k.tap("call for help");
        let said = k.words("help words").expect("the help notice");
        assert!(said.contains("钱款已记录"), "money in: {said}");
        k.tap("close help");

        k.apply(ScreenUpdate::End);
        assert!(
            k.words("help pending").is_none(),
            "cleared with the session"
        );
        assert!(!k.window.global::<AppAdapter>().get_money_in());

        // Outside a session, in English: no money, no session words.
        k.tap("language");
        k.tap("call for help");
        let said = k.words("help words").expect("the help notice");
        assert!(
            !said.contains("money") && !said.contains("session"),
            "{said}"
        );
        k.tap("close help");
        assert!(
            k.words("help pending").is_some(),
            "said on the idle screen too"
        );
    });
}

#[test]
fn the_walk_away_warning_says_what_will_really_happen() {
    on_ui_thread(|| {
        let k = kiosk();
        k.apply(ScreenUpdate::Show(keypad(None, "138")));
        k.apply(ScreenUpdate::IdleWarning {
            seconds_left: 15,
            money_fen: 0,
        });
        let said = k.words("what happens then").expect("the warning");
        assert!(said.contains("结束") && !said.contains("充值"), "{said}");

        k.apply(ScreenUpdate::Show(ui::sample_insert(
            "138****1234",
            7_000,
            50_000,
            None,
        )));
        k.apply(ScreenUpdate::IdleWarning {
            seconds_left: 15,
            money_fen: 7_000,
        });
        let said = k.words("what happens then").expect("the warning");
        assert!(
            said.contains("¥70.00") && said.contains("完成充值") && said.contains("凭条"),
            "{said}"
        );
        assert!(
            !said.contains("结束"),
            "money in is never a session that just ends: {said}"
        );
        // (The warning covers the language switch; the customer chose English before.)
        k.window.global::<Theme>().set_english(true);
        let said = k.words("what happens then").expect("the warning");
        assert!(
            said.contains("¥70.00") && said.contains("finished") && said.contains("receipt"),
            "{said}"
        );
    });
}

#[test]
fn the_confirmation_keeps_number_and_owner_together() {
    on_ui_thread(|| {
        let k = kiosk();
        k.apply(ScreenUpdate::Show(confirm_screen()));
        assert_eq!(
            k.words("number and owner").as_deref(),
            Some("138****1234（*小明）")
        );
        let q = k.words("question").expect("the question");
        assert_eq!(q, "您办理的是 138****1234（*小明）的话费充值，是吗？");
        let cash = k.words("no change given").expect("the no-change words");
        assert!(cash.contains("不找零") && !cash.contains("投币"), "{cash}");
    });
}

/// Every screen in every look: whatever a customer reads or taps lies inside the window
/// and, on session screens, above the bottom bar (nothing runs under it or off the edge).
#[test]
fn every_screen_fits_in_every_look() {
    let mut looks = vec![];
    for orientation in [Orientation::Portrait, Orientation::Landscape] {
        for language in [Language::Chinese, Language::English] {
            for elder in [false, true] {
                looks.push((orientation, language, elder));
            }
        }
    }
    let problems = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    for (orientation, language, elder) in looks {
        let problems = problems.clone();
        on_ui_thread(move || {
            let mut found = vec![];
            for (name, view) in ui::gallery() {
                let k = kiosk_with(UiOptions {
                    orientation,
                    language,
                    elder,
                    ..UiOptions::default()
                });
                ui::show_view(&k.window, &view);
                let look = format!("{name} {orientation:?} {language:?} elder {elder}");
                let (w, h) = orientation.size();
                let bottom_bar = ElementHandle::find_by_accessible_label(&k.window, "back")
                    .next()
                    .map(|b| b.absolute_position().y);
                let overlay = matches!(
                    view,
                    ui::View::Warning { .. } | ui::View::Help { open: true, .. }
                );
                let elements = i_slint_backend_testing::ElementQuery::from_root(&k.window)
                    .match_predicate(|e| {
                        e.accessible_role()
                            .is_some_and(|r| r != AccessibleRole::None)
                    })
                    .find_all();
                assert!(elements.len() > 3, "{look}: nothing found");
                for e in elements {
                    let (p, s) = (e.absolute_position(), e.size());
                    let label = e.accessible_label().unwrap_or_default();
                    let eps = 0.5;
                    if !(p.x >= -eps
                        && p.y >= -eps
                        && p.x + s.width <= w as f32 + eps
                        && p.y + s.height <= h as f32 + eps)
                    {
                        found.push(format!(
                            "{look}: {label:?} at {p:?} size {s:?} leaves the window"
                        ));
                    }
                    // Above the bottom bar (not in it): must end above it too.
                    if let Some(bar) = bottom_bar
                        && !overlay
                        && p.y < bar - eps
                        && p.y + s.height > bar + eps
                    {
                        found.push(format!(
                            "{look}: {label:?} (bottom {}) runs under the bottom bar at {bar}",
                            p.y + s.height
                        ));
                    }
                }
            }
            problems.lock().expect("the list").extend(found);
        });
    }
    let problems = problems.lock().expect("the list");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_password_is_typed_on_shuffled_keys_shown_as_dots_and_sent_as_a_secret() {
    on_ui_thread(|| {
        let mut k = kiosk();
        let layout = [7, 2, 9, 0, 4, 1, 8, 5, 3, 6];
        k.apply(ScreenUpdate::Show(Screen::Password {
            number_masked: "138****1234".into(),
            layout,
            notice: None,
        }));
        assert_eq!(k.page(), Page::Password);
        // The keys carry the shuffled digits, in reading order.
        let first_row: Vec<f32> = ["7", "2", "9"].iter().map(|d| k.rect(d).0).collect();
        assert!(first_row[0] < first_row[1] && first_row[1] < first_row[2]);
        assert!(k.rect("0").1 < k.rect("6").1, "0 above 6 in this shuffle");
        assert!(!k.has_enabled("confirm password"), "six digits first");
        for d in ["1", "2", "3", "4", "5", "6"] {
            k.tap(d);
            assert!(k.next_touch());
        }
        k.tap("delete");
        k.tap("6");
        // Shown as dots: nothing on the screen says the digits.
        assert_eq!(k.words("typed").as_deref(), Some("6/6"));
        assert!(
            i_slint_backend_testing::ElementQuery::from_root(&k.window)
                .find_all()
                .iter()
                .all(|e| !e
                    .accessible_description()
                    .is_some_and(|d| d.contains("123456"))),
            "the password is never on screen"
        );
        k.tap("confirm password");
        match k.next_event() {
            Ui::Secret(s) => assert_eq!(s.expose(), "123456"),
            other => panic!("{other:?}"),
        }
        // A wrong password: a fresh entry, on a fresh shuffle, with the reason.
        k.apply(ScreenUpdate::Show(Screen::Password {
            number_masked: "138****1234".into(),
            layout: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            notice: Some(Notice::WrongPassword {
                tries_left: Some(2),
            }),
        }));
        assert_eq!(k.words("typed").as_deref(), Some("0/6"));
        assert!(k.words("notice").is_some_and(|n| n.contains('2')));
    });
}

#[test]
fn the_sms_code_can_be_sent_again_only_when_the_countdown_is_over() {
    on_ui_thread(|| {
        let mut k = kiosk();
        k.apply(ScreenUpdate::Show(Screen::SmsCode {
            number_masked: "138****1234".into(),
            resend_in_s: 3,
            notice: None,
        }));
        assert_eq!(k.page(), Page::SmsCode);
        assert!(!k.has_enabled("send again"));
        // The countdown runs on the screen's own clock, a second at a time.
        for _ in 0..32 {
            i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(100));
        }
        assert!(k.has_enabled("send again"));
        k.tap("send again");
        assert_eq!(k.next_event(), Ui::Select("resend".into()));
        for d in "987654".chars() {
            k.tap(&d.to_string());
        }
        k.tap("confirm code");
        match k.next_event() {
            Ui::Secret(s) => assert_eq!(s.expose(), "987654"),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn the_choice_of_proof_offers_what_the_flow_allows() {
    on_ui_thread(|| {
        let mut k = kiosk();
        k.apply(ScreenUpdate::Show(Screen::AuthChoose {
            service: ServiceId::PlanChange,
            number_masked: "138****1234".into(),
            sms: false,
            id_card: true,
            sms_alone: false,
        }));
        assert!(!k.has("sms code"));
        k.tap("id card");
        assert_eq!(k.next_event(), Ui::Select("id_card".into()));
        k.tap("password");
        assert_eq!(k.next_event(), Ui::Select("password".into()));
        k.tap("back");
        assert_eq!(k.next_event(), Ui::Back);
        // The session ends: the next customer's ID card screen shows no number of this one.
        k.apply(ScreenUpdate::End);
        k.apply(ScreenUpdate::Show(Screen::PlaceIdCard { notice: None }));
        assert_eq!(
            k.window.global::<ui::AuthAdapter>().get_number(),
            "",
            "the masked number is forgotten with the session"
        );
        assert!(!k.has("number"));
    });
}

#[test]
fn arrears_offer_a_top_up_and_ok_goes_home() {
    on_ui_thread(|| {
        let mut k = kiosk();
        k.apply(ScreenUpdate::Show(Screen::Refused {
            service: ServiceId::PlanChange,
            notice: Notice::Arrears { fen: 2_350 },
            offer: Some(ServiceId::TopUp),
        }));
        assert_eq!(k.page(), Page::Refused);
        assert!(k.words("reason").is_some_and(|r| r.contains("¥23.50")));
        k.tap("offer");
        assert_eq!(k.next_event(), Ui::Select("topup".into()));
        k.tap("ok");
        assert_eq!(k.next_event(), Ui::Cancel);
    });
}

#[test]
fn plans_bills_and_prints_send_what_their_flows_expect() {
    on_ui_thread(|| {
        let mut k = kiosk();
        for (name, view) in ui::gallery() {
            ui::show_view(&k.window, &view);
            let taps: &[(&str, Ui)] = match name {
                "31-plans" => &[("choose P88", Ui::Select("P88".into())), ("back", Ui::Back)],
                "32-plan-confirm" => &[("yes", Ui::Confirm), ("no", Ui::Back)],
                "41-bill-menu" => &[
                    ("month 2026-08", Ui::Select("month:2026-08".into())),
                    ("bill", Ui::Select("bill".into())),
                    ("call records", Ui::Select("records:call".into())),
                    ("data records", Ui::Select("records:data".into())),
                    ("invoice", Ui::Select("invoice".into())),
                ],
                "43-bill" => &[("print", Ui::Select("print".into()))],
                "44-records" => &[
                    ("next page", Ui::Select("next".into())),
                    ("previous page", Ui::Select("prev".into())),
                    ("print", Ui::Select("print".into())),
                ],
                "46-print-preview" => &[("print now", Ui::Confirm), ("back", Ui::Back)],
                "49-print-stopped" => &[
                    ("resume", Ui::Select("resume".into())),
                    ("menu", Ui::Select("menu".into())),
                    ("done", Ui::Cancel),
                ],
                _ => &[],
            };
            for (label, expected) in taps {
                k.tap(label);
                assert_eq!(&k.next_event(), expected, "{name}: {label}");
            }
        }
        // Paper too low for a long print: it cannot be started.
        let paper_low = ui::gallery()
            .into_iter()
            .find(|(n, _)| *n == "47-print-preview-paper-low")
            .expect("in the gallery")
            .1;
        ui::show_view(&k.window, &paper_low);
        assert!(!k.has_enabled("print now"));
        assert!(k.words("length").is_some_and(|l| l.contains("96")));
    });
}

#[test]
fn real_name_steps_send_what_their_flows_expect() {
    on_ui_thread(|| {
        let mut k = kiosk();
        for (name, view) in ui::gallery() {
            ui::show_view(&k.window, &view);
            let taps: &[(&str, Ui)] = match name {
                "51-sim-intro" => &[("start", Ui::Confirm)],
                "52-face-consent" => &[
                    ("consent", Ui::Select("consent".into())),
                    ("decline", Ui::Select("decline".into())),
                ],
                "54-numbers" => &[(
                    "number 13900001137",
                    Ui::Select("number:13900001137".into()),
                )],
                "55-join-plans" => &[("plan P38", Ui::Select("P38".into()))],
                "57-sim-confirm" | "60-reregister-confirm" => {
                    &[("yes", Ui::Confirm), ("no", Ui::Back)]
                }
                "61-sim-done" => &[("no thanks", Ui::Cancel)],
                "62-loss-confirm" | "64-lift-confirm" => &[("yes", Ui::Confirm), ("no", Ui::Back)],
                // After a loss report: a new SIM for the same number, straight away.
                "63-loss-done" => &[
                    ("replace now", Ui::Select("replace_sim".into())),
                    ("no thanks", Ui::Cancel),
                ],
                "65-held-numbers" => &[
                    ("print list", Ui::Select("print".into())),
                    ("not mine", Ui::Select("not_mine".into())),
                    ("done", Ui::Cancel),
                ],
                "67-pin-faces" => &[("¥50.00", Ui::Select("face:5000".into()))],
                "69-pin-done" => &[("no thanks", Ui::Cancel)],
                _ => &[],
            };
            for (label, expected) in taps {
                k.tap(label);
                assert_eq!(&k.next_event(), expected, "{name}: {label}");
            }
            if name == "66-held-numbers-not-mine" {
                assert!(
                    !k.has_enabled("not mine") && !k.has_enabled("print list"),
                    "{name}: the advice is shown and the slip printed once"
                );
            }
            if name == "58-issuing" || name == "59-take-card" {
                assert!(
                    !k.has_enabled("back"),
                    "{name}: no leaving while a card is made"
                );
            }
        }
    });
}

#[test]
fn the_agreement_is_accepted_only_once_read_to_the_end() {
    on_ui_thread(|| {
        let mut k = kiosk_with(UiOptions {
            orientation: Orientation::Landscape,
            elder: true,
            ..UiOptions::default()
        });
        let agreement = ui::gallery()
            .into_iter()
            .find(|(n, _)| *n == "56-agreement")
            .expect("in the gallery")
            .1;
        ui::show_view(&k.window, &agreement);
        assert_eq!(k.words("agreement").as_deref(), Some("unread"));
        assert!(!k.has_enabled("accept"));
        // Scroll to the end with the finger.
        let area = ElementHandle::find_by_accessible_label(&k.window, "agreement")
            .next()
            .expect("the agreement");
        let (p, s) = (area.absolute_position(), area.size());
        let x = p.x + s.width / 2.0;
        for _ in 0..20 {
            k.window
                .window()
                .dispatch_event(slint::platform::WindowEvent::PointerScrolled {
                    position: slint::LogicalPosition::new(x, p.y + s.height / 2.0),
                    delta_x: 0.0,
                    delta_y: -200.0,
                });
            i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(50));
        }
        assert_eq!(k.words("agreement").as_deref(), Some("read"));
        k.tap("accept");
        assert_eq!(k.next_event(), Ui::Confirm);
    });
}

#[test]
fn the_live_photo_shows_the_camera_and_forgets_it_after() {
    use telekiosk::flow::devices::FaceGuidance;
    use telekiosk::runtime::screen::Preview;
    use telekiosk::ui::SimAdapter;
    on_ui_thread(|| {
        let k = kiosk();
        let capture = |guidance| {
            ScreenUpdate::Show(Screen::FaceCapture {
                guidance,
                attempt: 1,
                notice: None,
            })
        };
        k.apply(capture(FaceGuidance::LookAtCamera));
        assert_eq!(k.words("camera").as_deref(), Some("waiting"));
        // Two pixels, red and blue (the face part mirrors them already).
        k.apply(ScreenUpdate::CameraPreview(Preview {
            width: 2,
            height: 1,
            rgb: vec![255, 0, 0, 0, 0, 255],
        }));
        assert_eq!(k.words("camera").as_deref(), Some("live"));
        let shown = k
            .window
            .global::<SimAdapter>()
            .get_preview()
            .to_rgb8()
            .expect("an RGB picture");
        let px = shown.as_slice();
        assert_eq!(
            (px[0], px[1]),
            (
                slint::Rgb8Pixel::new(255, 0, 0),
                slint::Rgb8Pixel::new(0, 0, 255)
            ),
            "shown as it came"
        );
        // A frame that is not the size it says is dropped, the last picture stays.
        k.apply(ScreenUpdate::CameraPreview(Preview {
            width: 3,
            height: 3,
            rgb: vec![0; 5],
        }));
        assert_eq!(
            k.window.global::<SimAdapter>().get_preview().size().width,
            2
        );
        // New advice keeps the picture; the next step forgets it.
        k.apply(capture(FaceGuidance::TurnHead));
        assert_eq!(k.words("camera").as_deref(), Some("live"));
        k.apply(ScreenUpdate::Show(Screen::Working {
            what: telekiosk::flow::screen::Working::ComparingFace,
        }));
        assert!(!k.has("camera"), "the camera box left with its screen");
        let a = k.window.global::<SimAdapter>();
        assert!(!a.get_has_preview());
        assert_eq!(a.get_preview().size().width, 0, "the picture is dropped");
        // A stray frame after the photo is not shown anywhere.
        k.apply(ScreenUpdate::CameraPreview(ui::sample_camera_picture()));
        assert!(!k.window.global::<SimAdapter>().get_has_preview());
    });
}

#[test]
fn numbers_are_searched_by_up_to_four_digits_on_a_pad() {
    on_ui_thread(|| {
        let mut k = kiosk();
        let numbers = ui::gallery()
            .into_iter()
            .find(|(n, _)| *n == "54-numbers")
            .expect("in the gallery")
            .1;
        ui::show_view(&k.window, &numbers);
        assert!(k.has("number 13900001137"));
        k.tap("search by digits");
        assert!(!k.has("number 13900001137"), "the pad covers the grid");
        for d in ["1", "8", "8", "6"] {
            k.tap(&format!("digit {d}"));
        }
        assert_eq!(k.words("search digits").as_deref(), Some("1886"));
        assert!(!k.has_enabled("digit 9"), "four digits at most");
        k.tap("clear digits");
        assert_eq!(k.words("search digits").as_deref(), Some(""));
        k.tap("digit 8");
        k.tap("digit 8");
        k.tap("search");
        assert_eq!(k.next_event(), Ui::Select("search:88".into()));
        // Closing the pad without searching keeps what was shown.
        k.tap("search by digits");
        k.tap("digit 6");
        k.tap("close search");
        assert!(k.has("number 13900001137"));
        k.tap("search by digits");
        assert_eq!(k.words("search digits").as_deref(), Some(""));
        // The pad empty: the search shows every number again.
        k.tap("search");
        assert_eq!(k.next_event(), Ui::Select("search:".into()));
    });
}

#[test]
fn elder_mode_tells_the_session_so_its_timeouts_lengthen() {
    on_ui_thread(|| {
        let mut k = kiosk_with(UiOptions {
            elder: true,
            ..UiOptions::default()
        });
        // A service chosen in large text: the session hears of it as it starts.
        k.tap("Top up");
        assert_eq!(k.next_request(), UiEvent::Start(ServiceId::TopUp));
        assert_eq!(k.next_event(), Ui::Elder(true));
        k.apply(ScreenUpdate::Show(keypad(None, "")));
        k.tap("elder mode");
        assert_eq!(k.next_event(), Ui::Elder(false));
        k.tap("elder mode");
        assert_eq!(k.next_event(), Ui::Elder(true));
    });
}

#[test]
fn five_taps_on_the_corner_open_the_pin_pad_and_the_panel_sends_the_technicians_actions() {
    use telekiosk::runtime::screen::{SignInNotice, TechAction, TechPanel, TechScreen};
    on_ui_thread(|| {
        let mut k = kiosk();
        // Four taps are nothing; the fifth opens the sign-in.
        for _ in 0..4 {
            k.tap("technician corner");
        }
        assert!(k.no_request_within(Duration::from_millis(200)));
        k.tap("technician corner");
        assert_eq!(k.next_request(), UiEvent::Technician);
        let sign_in = |notice| {
            ScreenUpdate::Technician(TechScreen::SignIn {
                ids: vec!["T07".into(), "T08".into()],
                notice,
            })
        };
        k.apply(sign_in(None));
        assert_eq!(k.page(), Page::TechnicianSignIn);
        assert!(!k.has_enabled("sign in"), "no id chosen, no PIN");
        k.tap("technician T08");
        for d in ["2", "4", "6"] {
            k.tap(&format!("pin {d}"));
        }
        assert!(!k.has_enabled("sign in"), "three digits are not a PIN");
        k.tap("pin 8");
        assert_eq!(k.words("pin").as_deref(), Some("4 digits"));
        k.tap("sign in");
        match k.next_request() {
            UiEvent::TechnicianSignIn { id, pin } => {
                assert_eq!((id.as_str(), pin.expose()), ("T08", "2468"));
                assert_eq!(format!("{pin:?}"), "Pin(***)");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            k.words("pin").as_deref(),
            Some("0 digits"),
            "the pad forgets"
        );
        // A wrong PIN says how many tries are left; a lock greys the digits.
        k.apply(sign_in(Some(SignInNotice::WrongPin { left: 2 })));
        assert!(k.words("sign-in notice").unwrap().contains("2 tries left"));
        k.apply(sign_in(Some(SignInNotice::Locked { seconds: 290 })));
        assert!(k.words("sign-in notice").unwrap().contains("5 min"));
        assert!(!k.has_enabled("pin 1"));

        // The panel: every action is the same request a terminal makes.
        let panel = TechPanel {
            technician: "T08".into(),
            kiosk: "K0001".into(),
            state: "out_of_service".into(),
            cash_total: "¥120.00".into(),
            cards_in_stock: 40,
            ..TechPanel::default()
        };
        k.apply(ScreenUpdate::Technician(TechScreen::Panel(Box::new(
            panel.clone(),
        ))));
        assert_eq!(k.page(), Page::ServicePanel);
        assert_eq!(k.words("cash box total").as_deref(), Some("¥120.00"));
        for (label, action) in [
            ("test receipt", TechAction::TestReceipt),
            ("test note", TechAction::TestNote),
            ("test card", TechAction::TestCard),
            ("test id card", TechAction::TestIdCard),
            ("test camera", TechAction::TestCamera),
        ] {
            k.tap(label);
            assert_eq!(k.next_request(), UiEvent::TechnicianAction(action));
        }
        // Clearance asks first, against what the journal expects.
        k.tap("clearance");
        k.tap("cancel clearance");
        assert!(k.no_request_within(Duration::from_millis(100)));
        k.tap("clearance");
        k.tap("box emptied");
        assert_eq!(
            k.next_request(),
            UiEvent::TechnicianAction(TechAction::Clearance)
        );
        // Restock: the count on a stepper, the bin ticked.
        k.tap("restock");
        assert!(!k.has_enabled("record restock"), "nothing to record yet");
        k.tap("plus 10");
        k.tap("plus 10");
        k.tap("minus 1");
        k.tap("bin emptied");
        assert_eq!(k.words("cards added").as_deref(), Some("19"));
        k.tap("record restock");
        assert_eq!(
            k.next_request(),
            UiEvent::TechnicianAction(TechAction::Restock {
                added: 19,
                bin_emptied: true
            })
        );
        // The camera test's picture shows beside its outcome, and goes with the next action.
        let camera = TechPanel {
            last: Some(telekiosk::runtime::screen::TechOutcome {
                action: "test_camera".into(),
                ok: true,
                text: "照片合格 photo good (640×480)".into(),
            }),
            ..panel.clone()
        };
        k.apply(ScreenUpdate::Technician(TechScreen::Panel(Box::new(
            camera,
        ))));
        k.apply(ScreenUpdate::CameraPreview(ui::sample_camera_picture()));
        assert!(k.has("camera picture"));
        // While an action runs, the others wait.
        let busy = TechPanel {
            busy: Some("test_note".into()),
            ..panel
        };
        k.apply(ScreenUpdate::Technician(TechScreen::Panel(Box::new(busy))));
        assert!(!k.has_enabled("test receipt") && !k.has_enabled("exit service mode"));
        assert!(
            !k.has("camera picture"),
            "the picture went with the next action"
        );
        k.apply(ScreenUpdate::Technician(TechScreen::Closed));
        assert_eq!(k.page(), Page::Idle);
    });
}
