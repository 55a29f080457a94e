//! Headless rendering with Slint's software renderer: one PNG per screen, no display.
//!
//! Slint's platform is per thread; the first render on a thread installs a platform that
//! hands out [`MinimalSoftwareWindow`]s. A thread that already runs a real window cannot
//! render headless ([`UiError::PlatformTaken`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use slint::Rgb8Pixel;
use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter};
use slint::{ComponentHandle, PhysicalSize, PlatformError};

use super::{
    KioskStatus, KioskWindow, Language, Orientation, ScreenUpdate, UiError, View, set_look,
    show_view,
};

thread_local! {
    /// Whether this thread's Slint platform is ours.
    static INSTALLED: Cell<bool> = const { Cell::new(false) };
    /// The window the platform created last (for the component being built).
    static LAST: RefCell<Option<Rc<MinimalSoftwareWindow>>> = const { RefCell::new(None) };
    /// The session screen [`render_png`] showed last: an idle warning is drawn over it, as
    /// on the real screen.
    static SHOWN: RefCell<Option<crate::flow::Screen>> = const { RefCell::new(None) };
    /// The camera's last picture, drawn into the live-photo screen (see [`set_camera_picture`]).
    static CAMERA: RefCell<Option<crate::runtime::screen::Preview>> = const { RefCell::new(None) };
}

/// The camera picture this thread draws into the live-photo screen from now on (`None`:
/// the screen as it is before the camera's first picture). [`render_png`] keeps it up to
/// date from the runtime's updates; pictures of the gallery set a sample.
pub fn set_camera_picture(picture: Option<crate::runtime::screen::Preview>) {
    CAMERA.with(|c| *c.borrow_mut() = picture);
}

struct Headless {
    start: std::time::Instant,
}

impl Platform for Headless {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
        LAST.with(|l| *l.borrow_mut() = Some(Rc::clone(&window)));
        Ok(window)
    }

    fn duration_since_start(&self) -> core::time::Duration {
        self.start.elapsed()
    }
}

fn install() -> Result<(), UiError> {
    if INSTALLED.with(Cell::get) {
        return Ok(());
    }
    slint::platform::set_platform(Box::new(Headless {
        start: std::time::Instant::now(),
    }))
    .map_err(UiError::PlatformTaken)?;
    INSTALLED.with(|i| i.set(true));
    Ok(())
}

/// Renders what the screen shows for one engine update, as PNG bytes.
/// `End` renders the idle screen; `IdleWarning` the countdown over the session screen this
/// thread rendered last (the keypad when there was none), as the real screen shows it.
pub fn render_png(
    update: &ScreenUpdate,
    orientation: Orientation,
    language: Language,
    elder: bool,
) -> Result<Vec<u8>, UiError> {
    let view = match update {
        ScreenUpdate::Show(screen) => {
            if !matches!(screen, crate::flow::Screen::FaceCapture { .. }) {
                set_camera_picture(None);
            }
            SHOWN.with(|s| *s.borrow_mut() = Some(screen.clone()));
            View::Session(screen.clone())
        }
        ScreenUpdate::IdleWarning {
            seconds_left,
            money_fen,
        } => View::Warning {
            screen: SHOWN.with(|s| s.borrow().clone()).unwrap_or_else(|| {
                crate::flow::Screen::EnterNumber {
                    service: crate::flow::ServiceId::TopUp,
                    notice: None,
                    typed: Default::default(),
                }
            }),
            seconds_left: *seconds_left,
            money_fen: *money_fen,
        },
        ScreenUpdate::End => {
            set_camera_picture(None);
            SHOWN.with(|s| *s.borrow_mut() = None);
            View::Idle
        }
        ScreenUpdate::Status(KioskStatus::InService) => View::Idle,
        ScreenUpdate::Status(s) => View::OutOfService(s.clone()),
        ScreenUpdate::Services(_) | ScreenUpdate::Branding(_) => View::Home,
        ScreenUpdate::Technician(crate::runtime::screen::TechScreen::Closed) => View::Idle,
        ScreenUpdate::Technician(t) => View::Technician(t.clone()),
        // The camera's picture belongs to the screen being shown.
        ScreenUpdate::CameraPreview(p) => match SHOWN.with(|s| s.borrow().clone()) {
            Some(screen) if matches!(screen, crate::flow::Screen::FaceCapture { .. }) => {
                set_camera_picture(Some(p.clone()));
                View::Session(screen)
            }
            Some(screen) => View::Session(screen),
            None => View::Idle,
        },
    };
    render_view_png(&view, orientation, language, elder)
}

/// Renders any view (idle, home, a session screen, out of service) as PNG bytes.
pub fn render_view_png(
    view: &View,
    orientation: Orientation,
    language: Language,
    elder: bool,
) -> Result<Vec<u8>, UiError> {
    let (width, height, pixels) = render_view_pixels(view, orientation, language, elder)?;
    encode_png(width, height, &pixels)
}

/// Renders a view to RGB pixels: (width, height, pixels row by row). For benchmarks and
/// callers that encode pictures themselves.
pub fn render_view_pixels(
    view: &View,
    orientation: Orientation,
    language: Language,
    elder: bool,
) -> Result<(u32, u32, Vec<Rgb8Pixel>), UiError> {
    install()?;
    let ui = KioskWindow::new()?;
    let window = LAST.with(|l| l.borrow_mut().take()).ok_or_else(|| {
        UiError::Platform(PlatformError::Other(
            "the headless platform made no window".into(),
        ))
    })?;
    set_look(&ui, orientation, language, elder);
    show_view(&ui, view);
    if let View::Session(crate::flow::Screen::FaceCapture { .. }) = view {
        CAMERA.with(|c| {
            if let Some(p) = c.borrow().as_ref() {
                super::sim::set_preview(&ui, p);
            }
        });
    }
    let (width, height) = orientation.size();
    window.set_size(PhysicalSize::new(width, height));
    ui.show()?;
    slint::platform::update_timers_and_animations();
    let stride = usize::try_from(width).unwrap_or(0);
    let rows = usize::try_from(height).unwrap_or(0);
    let mut pixels = vec![Rgb8Pixel::new(0, 0, 0); stride * rows];
    window.request_redraw();
    window.draw_if_needed(|renderer| {
        renderer.render(&mut pixels, stride);
    });
    ui.hide()?;
    Ok((width, height, pixels))
}

fn encode_png(width: u32, height: u32, pixels: &[Rgb8Pixel]) -> Result<Vec<u8>, UiError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        let bytes: Vec<u8> = pixels.iter().flat_map(|p| [p.r, p.g, p.b]).collect();
        writer.write_image_data(&bytes)?;
    }
    Ok(out)
}
