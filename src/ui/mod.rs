//! The kiosk screen: Slint views in `ui/`, bound here to the transaction engine.
//!
//! The UI only talks to adapters (STYLE.md §5): each screen in `ui/views/` exports a
//! `<Screen>Adapter` global; `src/ui/<screen>.rs` has `connect()`, which forwards the
//! customer's taps as [`Ui`] events, and `show()`, which fills the adapter from the
//! engine's [`Screen`]. [`apply`] maps one [`ScreenUpdate`] onto the adapters.
//!
//! Threads: Slint runs on the main thread. Updates from the engine (tokio) reach it only
//! through `slint::Weak::upgrade_in_event_loop`; events go out through an unbounded
//! queue to a forwarding thread that does the (possibly waiting) `blocking_send`, so the
//! UI thread never blocks.
//!
//! Entry points: [`run_window`] (the real window), [`render_png`] / [`render_view_png`]
//! (headless software rendering for the demo and the screenshot tests),
//! [`display_available`].

mod app;
mod busy;
mod confirm;
mod gallery;
mod headless;
mod home;
mod idle;
mod insert;
mod keypad;
mod nochange;
mod outofservice;
mod result;
mod sorry;
mod window;

/// The Slint side, compiled in the `telekiosk-ui` crate.
use telekiosk_ui as generated;

use std::sync::mpsc as std_mpsc;

pub use generated::{
    AppAdapter, BusyAdapter, ConfirmAdapter, HomeAdapter, IdleAdapter, InsertAdapter,
    KeypadAdapter, KioskWindow, Msg, NoChangeAdapter, OutOfServiceAdapter, Page, ResultAdapter,
    SorryAdapter, Theme,
};
use slint::ComponentHandle;
use tokio::sync::mpsc;

pub use crate::engine::ScreenUpdate;
pub use crate::flow::topup::{Screen, Ui};
pub use gallery::gallery;
pub use headless::{render_png, render_view_pixels, render_view_png};
pub use keypad::masked_echo;
pub use sorry::notice_words;
pub use window::{display_available, run_window};

/// Errors of the screen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UiError {
    /// Slint could not create the window or the platform (no display, backend failure).
    #[error("screen platform: {0}")]
    Platform(#[from] slint::PlatformError),
    /// Another Slint platform (a real window) already runs on this thread, so the
    /// headless renderer cannot be installed here.
    #[error("a different Slint platform is already installed on this thread")]
    PlatformTaken(#[source] slint::platform::SetPlatformError),
    /// The rendered frame could not be encoded as PNG.
    #[error("PNG encoding: {0}")]
    Png(#[from] png::EncodingError),
    /// Slint's event loop is gone (the window was closed).
    #[error("screen event loop: {0}")]
    EventLoop(#[from] slint::EventLoopError),
}

/// Portrait 1080×1920 or landscape 1920×1080.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Orientation {
    #[default]
    Portrait,
    Landscape,
}

impl Orientation {
    /// Size in pixels (width, height).
    pub fn size(self) -> (u32, u32) {
        match self {
            Orientation::Portrait => (1080, 1920),
            Orientation::Landscape => (1920, 1080),
        }
    }
}

/// The customer's language (中文 by default; the customer can switch on every screen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    Chinese,
    English,
}

/// The services on the home screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceId {
    /// 话费充值
    TopUp,
    /// 套餐变更
    PlanChange,
    /// 账单打印
    BillPrint,
    /// 新办卡
    NewSim,
    /// 补卡
    ReplaceSim,
    /// 实名登记
    Registration,
}

impl ServiceId {
    /// All services, in the order of the home screen.
    pub const ALL: [ServiceId; 6] = [
        ServiceId::TopUp,
        ServiceId::PlanChange,
        ServiceId::BillPrint,
        ServiceId::NewSim,
        ServiceId::ReplaceSim,
        ServiceId::Registration,
    ];

    /// Stable id used by the Slint side.
    pub fn id(self) -> &'static str {
        match self {
            ServiceId::TopUp => "topup",
            ServiceId::PlanChange => "plan",
            ServiceId::BillPrint => "bill",
            ServiceId::NewSim => "new-sim",
            ServiceId::ReplaceSim => "replace-sim",
            ServiceId::Registration => "register",
        }
    }

    fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }
}

/// Whether a service can be chosen now, and if not, why (shown on its greyed tile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available,
    /// Not built yet.
    ComingSoon,
    /// Switched off in the kiosk's configuration.
    DisabledByConfig,
    /// A device it needs is missing or down (the device's name, e.g. "card dispenser").
    DeviceMissing {
        device_zh: String,
        device_en: String,
    },
    /// Bills are being made (days 1–5 of the month).
    BillingDays,
}

/// A service tile on the home screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub service: ServiceId,
    pub availability: Availability,
}

/// What the home screen offers today: top-up live, the rest "coming soon".
pub fn default_services() -> Vec<ServiceState> {
    ServiceId::ALL
        .into_iter()
        .map(|service| ServiceState {
            service,
            availability: if service == ServiceId::TopUp {
                Availability::Available
            } else {
                Availability::ComingSoon
            },
        })
        .collect()
}

/// Operator branding and the idle screen's banners (Chinese, English).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    pub operator_zh: String,
    pub operator_en: String,
    pub banners: Vec<(String, String)>,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            operator_zh: "移动营业厅".into(),
            operator_en: "Mobile Service Hall".into(),
            banners: vec![
                (
                    "话费充值 7×24 小时自助办理".into(),
                    "Top up your phone any time, day or night".into(),
                ),
                (
                    "现金充值，即充即到".into(),
                    "Pay in cash, credited at once".into(),
                ),
            ],
        }
    }
}

/// Why the kiosk is out of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfServiceReason {
    /// A device the kiosk needs is down.
    Devices,
    /// The link to the operator is down.
    Link,
    /// Locked by head office.
    Locked,
}

/// The kiosk's state as a whole, sent by the application while no session runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KioskStatus {
    InService,
    OutOfService {
        reason: OutOfServiceReason,
        detail_zh: String,
        detail_en: String,
    },
}

/// What the screen asks of the application (outside a top-up session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// The customer chose a service on the home screen: start its session.
    Start(ServiceId),
    /// The customer pressed "call for help": staff should come.
    CallHelp,
    /// The technician entry on the out-of-service screen.
    Technician,
}

/// What to render headless (the session screens come from the engine; idle, home and
/// out-of-service are the screen's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Idle,
    Home,
    Session(Screen),
    /// A session screen with the idle-timeout warning over it.
    Warning {
        screen: Screen,
        seconds_left: u64,
    },
    OutOfService(KioskStatus),
}

/// How the window looks and whom it talks to.
#[derive(Debug)]
pub struct UiOptions {
    pub fullscreen: bool,
    pub orientation: Orientation,
    pub language: Language,
    /// Elder-friendly mode from the start (the customer can switch it too).
    pub elder: bool,
    pub branding: Branding,
    pub services: Vec<ServiceState>,
    /// Kiosk status changes (out of service and back).
    pub status: Option<mpsc::Receiver<KioskStatus>>,
    /// Requests to the application (start a service, call for help, technician).
    pub requests: Option<mpsc::Sender<Request>>,
}

impl Default for UiOptions {
    fn default() -> Self {
        Self {
            fullscreen: false,
            orientation: Orientation::Portrait,
            language: Language::Chinese,
            elder: false,
            branding: Branding::default(),
            services: default_services(),
            status: None,
            requests: None,
        }
    }
}

/// Where the screen's events go: an unbounded queue drained by a forwarding thread, so
/// the UI thread never waits for the engine.
#[derive(Debug, Clone)]
pub(crate) struct Sink {
    ui: std_mpsc::Sender<Ui>,
    requests: Option<mpsc::Sender<Request>>,
}

impl Sink {
    fn new(events: mpsc::Sender<Ui>, requests: Option<mpsc::Sender<Request>>) -> Self {
        let (tx, rx) = std_mpsc::channel::<Ui>();
        let spawned = std::thread::Builder::new()
            .name("ui-events".into())
            .spawn(move || {
                while let Ok(ui) = rx.recv() {
                    if events.blocking_send(ui).is_err() {
                        tracing::debug!("engine stopped listening to the screen");
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the screen's event thread");
        }
        Self { ui: tx, requests }
    }

    /// Sends a customer action to the engine.
    pub(crate) fn ui(&self, ui: Ui) {
        if self.ui.send(ui).is_err() {
            tracing::debug!("screen event dropped: forwarding thread gone");
        }
    }

    /// Sends a request to the application; never waits.
    pub(crate) fn request(&self, request: Request) {
        if let Some(tx) = &self.requests
            && let Err(e) = tx.try_send(request)
        {
            tracing::warn!(?request, error = %e, "screen request dropped");
        }
    }
}

/// Binds every adapter of `window` to the engine: taps become [`Ui`] events on `events`,
/// requests go to `options.requests`. Sets the look (orientation, language, elder mode),
/// the branding and the services. Used by [`run_window`] and by UI tests.
pub fn attach(window: &KioskWindow, events: mpsc::Sender<Ui>, options: &mut UiOptions) {
    let sink = Sink::new(events, options.requests.take());
    set_look(window, options.orientation, options.language, options.elder);
    idle::set_branding(window, &options.branding);
    home::set_services(window, &options.services);
    app::connect(window, &sink);
    idle::connect(window);
    home::connect(window, &sink);
    keypad::connect(window, &sink);
    confirm::connect(window, &sink);
    nochange::connect(window, &sink);
    insert::connect(window, &sink);
    result::connect(window, &sink);
    sorry::connect(window, &sink);
    outofservice::connect(window, &sink);
}

/// Sets orientation, language and elder mode.
pub fn set_look(window: &KioskWindow, orientation: Orientation, language: Language, elder: bool) {
    let theme = window.global::<Theme>();
    theme.set_portrait(orientation == Orientation::Portrait);
    theme.set_english(language == Language::English);
    theme.set_elder(elder);
    let app = window.global::<AppAdapter>();
    app.set_default_english(language == Language::English);
    app.set_default_elder(elder);
}

/// Maps one update from the engine onto the adapters.
pub fn apply(window: &KioskWindow, update: &ScreenUpdate) {
    let app = window.global::<AppAdapter>();
    match update {
        ScreenUpdate::Show(screen) => {
            app.set_warning_seconds(0);
            show_screen(window, screen);
        }
        ScreenUpdate::IdleWarning { seconds_left } => {
            app.set_warning_seconds(i32::try_from(*seconds_left).unwrap_or(i32::MAX).max(1));
        }
        ScreenUpdate::End => {
            app.set_warning_seconds(0);
            app.set_help_called(false);
            keypad::reset(window);
            let home = app::take_return_home(window);
            if app.get_page() == Page::Sorry {
                // Leave the explanation up until the customer has read it.
                app.set_session_over(true);
            } else {
                app::go(window, if home { Page::Home } else { Page::Idle });
            }
        }
    }
}

/// Shows the kiosk status: out of service, or back to idle.
pub fn apply_status(window: &KioskWindow, status: &KioskStatus) {
    match status {
        KioskStatus::InService => {
            if window.global::<AppAdapter>().get_page() == Page::OutOfService {
                app::go(window, Page::Idle);
            }
        }
        KioskStatus::OutOfService {
            reason,
            detail_zh,
            detail_en,
        } => {
            outofservice::show(window, *reason, detail_zh, detail_en);
            app::go(window, Page::OutOfService);
        }
    }
}

/// Shows a whole view (for the headless renderer and tests).
pub fn show_view(window: &KioskWindow, view: &View) {
    match view {
        View::Idle => app::go(window, Page::Idle),
        View::Home => app::go(window, Page::Home),
        View::Session(screen) => show_screen(window, screen),
        View::Warning {
            screen,
            seconds_left,
        } => {
            show_screen(window, screen);
            apply(
                window,
                &ScreenUpdate::IdleWarning {
                    seconds_left: *seconds_left,
                },
            );
        }
        View::OutOfService(status) => apply_status(window, status),
    }
}

fn show_screen(window: &KioskWindow, screen: &Screen) {
    let page = match screen {
        Screen::EnterNumber { notice } => {
            keypad::show(window, notice.as_ref());
            Page::Keypad
        }
        Screen::LookingUp { number_masked } => {
            busy::show_lookup(window, number_masked);
            Page::LookingUp
        }
        Screen::Confirm {
            number_masked,
            subscriber,
        } => {
            confirm::show(window, number_masked, subscriber);
            Page::Confirm
        }
        Screen::NoChange {
            accept_fen,
            max_fen,
        } => {
            nochange::show(window, accept_fen, *max_fen);
            Page::NoChange
        }
        Screen::Insert {
            number_masked,
            total_fen,
            remaining_fen,
            accept_fen,
            notice,
            can_finish,
        } => {
            insert::show(
                window,
                &insert::InsertState {
                    number_masked,
                    total_fen: *total_fen,
                    remaining_fen: *remaining_fen,
                    accept_fen,
                    notice: notice.as_ref(),
                    can_finish: *can_finish,
                },
            );
            Page::Insert
        }
        Screen::Processing { total_fen } => {
            busy::show_processing(window, *total_fen);
            Page::Processing
        }
        Screen::Result {
            number_masked,
            amount_fen,
            outcome,
            reference,
            receipt,
        } => {
            result::show(
                window,
                number_masked,
                *amount_fen,
                outcome,
                reference,
                receipt,
            );
            Page::Result
        }
        Screen::Sorry { notice, reference } => {
            sorry::show(window, notice, reference.as_deref());
            Page::Sorry
        }
    };
    app::go(window, page);
}

/// Words for the customer in both languages.
pub(crate) fn msg(zh: &str, en: &str) -> Msg {
    Msg {
        zh: zh.into(),
        en: en.into(),
    }
}
