//! The real window (winit backend, software renderer).

use slint::ComponentHandle;
use tokio::sync::mpsc;

use super::{KioskWindow, ScreenUpdate, UiError, UiEvent, UiOptions, apply, attach};

/// Whether a display is there to open a window on (X11 or Wayland).
pub fn display_available() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Opens the kiosk window and runs it until it is closed or `updates` ends.
///
/// Runs Slint's event loop, so call it on the main thread. Engine updates are read on a
/// helper thread and reach the window through `upgrade_in_event_loop`; the customer's
/// taps and requests go to `events`.
pub fn run_window(
    mut updates: mpsc::Receiver<ScreenUpdate>,
    events: mpsc::Sender<UiEvent>,
    options: UiOptions,
) -> Result<(), UiError> {
    let window = KioskWindow::new()?;
    attach(&window, events, &options);
    let (w, h) = options.orientation.size();
    window
        .window()
        .set_size(slint::LogicalSize::new(w as f32, h as f32));
    if options.fullscreen {
        window.window().set_fullscreen(true);
    }

    let weak = window.as_weak();
    std::thread::Builder::new()
        .name("ui-updates".into())
        .spawn(move || {
            while let Some(update) = updates.blocking_recv() {
                if weak
                    .upgrade_in_event_loop(move |w| apply(&w, &update))
                    .is_err()
                {
                    return;
                }
            }
            // The engine is gone: nothing more will happen on this screen.
            let _ = slint::quit_event_loop();
        })
        .map_err(|e| {
            UiError::Platform(slint::PlatformError::Other(format!("update thread: {e}")))
        })?;

    window.run()?;
    Ok(())
}
