//! Drives the kiosk screen in tests the way a customer does: taps by accessible label,
//! with engine updates applied as they arrive. For UI tests against the real engine, the
//! simulators and the operator simulator: `#[path = "ui_support/mod.rs"] mod ui_support;`
//! then, on a thread of its own (Slint's platform is per thread):
//!
//! ```ignore
//! let mut screen = UiDriver::new(screen_rx, ui_tx, UiOptions::default());
//! // run the engine's session on a tokio runtime elsewhere with (ui_rx, screen_tx)
//! screen.tap("touch to start");
//! screen.tap("Top up");
//! assert!(screen.wait_for_page(Page::Keypad, Duration::from_secs(20)));
//! screen.type_number("13800001234");
//! screen.tap("confirm number");
//! assert!(screen.wait_for_page(Page::Confirm, Duration::from_secs(20)));
//! screen.tap("yes"); // … "understood", notes from the acceptor simulator, "finish"
//! ```
#![allow(dead_code)]

use std::time::{Duration, Instant};

use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use slint::ComponentHandle;
use slint::platform::PointerEventButton;
use telekiosk::engine::ScreenUpdate;
use telekiosk::flow::topup::Ui;
use telekiosk::ui::{self, AppAdapter, KioskWindow, Page, UiOptions};
use tokio::sync::mpsc;

/// A kiosk window under Slint's testing backend, fed by the engine's updates.
pub struct UiDriver {
    pub window: KioskWindow,
    updates: mpsc::Receiver<ScreenUpdate>,
}

impl UiDriver {
    /// Installs the testing backend on this thread and binds a window to the engine.
    pub fn new(
        updates: mpsc::Receiver<ScreenUpdate>,
        events: mpsc::Sender<Ui>,
        mut options: UiOptions,
    ) -> Self {
        i_slint_backend_testing::init_no_event_loop();
        let window = KioskWindow::new().expect("the kiosk window");
        ui::attach(&window, events, &mut options);
        let (w, h) = options.orientation.size();
        window.window().set_size(slint::PhysicalSize::new(w, h));
        window.show().expect("show the window");
        Self { window, updates }
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
    }

    /// Types a number on the keypad, key by key.
    pub fn type_number(&mut self, digits: &str) {
        for d in digits.chars() {
            self.tap(&d.to_string());
        }
    }
}
