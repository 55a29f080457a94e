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
mod auth;
mod bills;
mod busy;
mod confirm;
mod gallery;
mod headless;
mod home;
mod idle;
mod insert;
mod keypad;
mod outofservice;
mod plans;
mod refused;
mod result;
mod service;
mod sim;
mod sorry;
mod window;

/// The Slint side, compiled in the `telekiosk-ui` crate.
use telekiosk_ui as generated;

use std::sync::mpsc as std_mpsc;

pub use generated::{
    AppAdapter, AuthAdapter, BillsAdapter, BusyAdapter, ConfirmAdapter, HomeAdapter, IdleAdapter,
    InsertAdapter, KeypadAdapter, KioskWindow, Msg, OutOfServiceAdapter, Page, PlansAdapter,
    RefusedAdapter, ResultAdapter, ServiceAdapter, SimAdapter, SorryAdapter, Theme,
};
use slint::ComponentHandle;
use tokio::sync::mpsc;

pub use crate::flow::{Screen, ServiceId, Ui};
pub use crate::runtime::screen::{
    Availability, Branding, KioskStatus, Problem, ScreenUpdate, ServiceState, UiEvent,
};
pub use gallery::{gallery, sample_camera_picture, sample_insert};
pub use headless::{render_png, render_view_pixels, render_view_png, set_camera_picture};
pub use home::unavailable_words;
pub use keypad::{grouped_digits, masked_echo};
pub use service::notice_words as sign_in_words;
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

/// What to render headless (the session screens come from the engine; idle, home and
/// out-of-service are the screen's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Idle,
    Home,
    Session(Screen),
    /// A session screen with the idle-timeout warning over it (`money_fen`: money in).
    Warning {
        screen: Screen,
        seconds_left: u64,
        money_fen: u64,
    },
    OutOfService(KioskStatus),
    /// The home screen with these tiles, just after the customer tapped the greyed
    /// `tapped` (its reason shown over the screen).
    Unavailable {
        services: Vec<ServiceState>,
        tapped: ServiceId,
    },
    /// The keypad with the typed digits shown in full ("show digits" on).
    DigitsShown(Screen),
    /// A session screen after "call for help": the notice open, or closed with the line
    /// saying staff are coming.
    Help {
        screen: Screen,
        open: bool,
    },
    /// The technician's sign-in or service panel.
    Technician(crate::runtime::screen::TechScreen),
}

/// What the home screen offers before the runtime says (every service "coming soon" but
/// top-up): the screen's own default until the first [`ScreenUpdate::Services`].
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

/// How the window looks.
#[derive(Debug, Clone)]
pub struct UiOptions {
    pub fullscreen: bool,
    pub orientation: Orientation,
    pub language: Language,
    /// Elder-friendly mode from the start (the customer can switch it too).
    pub elder: bool,
    pub branding: Branding,
    pub services: Vec<ServiceState>,
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
        }
    }
}

/// Where the screen's events go: an unbounded queue drained by a forwarding thread, so
/// the UI thread never waits for the runtime.
#[derive(Debug, Clone)]
pub(crate) struct Sink {
    tx: std_mpsc::Sender<UiEvent>,
}

impl Sink {
    fn new(events: mpsc::Sender<UiEvent>) -> Self {
        let (tx, rx) = std_mpsc::channel::<UiEvent>();
        let spawned = std::thread::Builder::new()
            .name("ui-events".into())
            .spawn(move || {
                while let Ok(ev) = rx.recv() {
                    if events.blocking_send(ev).is_err() {
                        tracing::debug!("the runtime stopped listening to the screen");
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the screen's event thread");
        }
        Self { tx }
    }

    /// Sends a customer action within the session.
    pub(crate) fn ui(&self, ui: Ui) {
        self.send(UiEvent::Customer(ui));
    }

    /// Sends anything else (start a service, call for help, technician).
    pub(crate) fn send(&self, ev: UiEvent) {
        if self.tx.send(ev).is_err() {
            tracing::debug!("screen event dropped: forwarding thread gone");
        }
    }
}

/// Binds every adapter of `window` to the engine: taps become [`Ui`] events on `events`,
/// requests go to `options.requests`. Sets the look (orientation, language, elder mode),
/// the branding and the services. Used by [`run_window`] and by UI tests.
pub fn attach(window: &KioskWindow, events: mpsc::Sender<UiEvent>, options: &UiOptions) {
    let sink = Sink::new(events);
    set_look(window, options.orientation, options.language, options.elder);
    idle::set_branding(window, &options.branding);
    home::set_services(window, &options.services);
    app::connect(window, &sink);
    idle::connect(window);
    home::connect(window, &sink);
    keypad::connect(window, &sink);
    confirm::connect(window, &sink);
    insert::connect(window, &sink);
    result::connect(window, &sink);
    sorry::connect(window, &sink);
    outofservice::connect(window, &sink);
    auth::connect(window, &sink);
    plans::connect(window, &sink);
    refused::connect(window, &sink);
    bills::connect(window, &sink);
    sim::connect(window, &sink);
    service::connect(window, &sink);
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

/// Maps one update from the runtime onto the adapters.
pub fn apply(window: &KioskWindow, update: &ScreenUpdate) {
    let app = window.global::<AppAdapter>();
    match update {
        ScreenUpdate::Show(screen) => {
            app.set_warning_seconds(0);
            show_screen(window, screen);
        }
        ScreenUpdate::IdleWarning {
            seconds_left,
            money_fen,
        } => {
            app.set_warning_money(crate::flow::yuan(*money_fen).into());
            app.set_warning_has_money(*money_fen > 0);
            app.set_warning_seconds(i32::try_from(*seconds_left).unwrap_or(i32::MAX).max(1));
        }
        ScreenUpdate::End => {
            app.set_warning_seconds(0);
            app.set_help_called(false);
            app.set_help_pending(false);
            app.set_money_in(false);
            keypad::reset(window);
            auth::forget(window);
            sim::forget_preview(window);
            let home = app::take_return_home(window);
            if app.get_page() == Page::Sorry {
                // Leave the explanation up until the customer has read it.
                app.set_session_over(true);
            } else {
                app::go(window, if home { Page::Home } else { Page::Idle });
            }
        }
        ScreenUpdate::Status(status) => apply_status(window, status),
        ScreenUpdate::Services(services) => home::set_services(window, services),
        ScreenUpdate::Branding(branding) => idle::set_branding(window, branding),
        // Shown inside the live-photo screen's framing guide.
        ScreenUpdate::CameraPreview(p) => {
            if app.get_page() == Page::ServicePanel {
                service::set_preview(window, p);
            } else {
                sim::set_preview(window, p);
            }
        }
        ScreenUpdate::Technician(t) => service::show(window, t),
    }
}

/// Shows the kiosk status: out of service (or locked, closed, starting, stopping), or
/// back to idle. A customer being served keeps their screen; the status shows after.
pub fn apply_status(window: &KioskWindow, status: &KioskStatus) {
    let app = window.global::<AppAdapter>();
    let page = app.get_page();
    let between_customers =
        matches!(page, Page::Idle | Page::Home | Page::OutOfService) || app.get_session_over();
    match status {
        KioskStatus::InService => {
            if page == Page::OutOfService {
                app::go(window, Page::Idle);
            }
        }
        other => {
            outofservice::show(window, other);
            if between_customers {
                app::go(window, Page::OutOfService);
            }
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
            money_fen,
        } => {
            show_screen(window, screen);
            apply(
                window,
                &ScreenUpdate::IdleWarning {
                    seconds_left: *seconds_left,
                    money_fen: *money_fen,
                },
            );
        }
        View::OutOfService(KioskStatus::InService) => app::go(window, Page::Idle),
        View::OutOfService(status) => {
            outofservice::show(window, status);
            app::go(window, Page::OutOfService);
        }
        View::Unavailable { services, tapped } => {
            home::set_services(window, services);
            app::go(window, Page::Home);
            if let Some(s) = services.iter().find(|s| s.service == *tapped) {
                let (zh, en) = unavailable_words(s.service, &s.availability);
                let app = window.global::<AppAdapter>();
                app.set_toast(msg(&zh, &en));
                app.set_toast_shown(true);
            }
        }
        View::DigitsShown(screen) => {
            show_screen(window, screen);
            window.global::<KeypadAdapter>().set_show_digits(true);
        }
        View::Help { screen, open } => {
            show_screen(window, screen);
            let app = window.global::<AppAdapter>();
            app.set_help_pending(true);
            app.set_help_called(*open);
        }
        View::Technician(t) => service::show(window, t),
    }
}

fn show_screen(window: &KioskWindow, screen: &Screen) {
    if !matches!(screen, Screen::FaceCapture { .. }) {
        sim::forget_preview(window);
    }
    if let Some(money) = money_in(screen) {
        window.global::<AppAdapter>().set_money_in(money);
    }
    if is_authenticated_service(screen) {
        window.global::<AppAdapter>().set_steps(app::AUTH_STEPS);
    }
    let page = match screen {
        Screen::EnterNumber {
            service,
            notice,
            typed,
        } => {
            window
                .global::<AppAdapter>()
                .set_steps(app::steps_of(*service));
            keypad::show(window, *service, notice.as_ref(), typed.digits());
            Page::Keypad
        }
        Screen::LookingUp { number_masked } => {
            busy::show_lookup(window, number_masked);
            Page::LookingUp
        }
        Screen::Confirm {
            number_masked,
            subscriber,
            accept_fen,
            max_fen,
        } => {
            confirm::show(window, number_masked, subscriber, accept_fen, *max_fen);
            Page::Confirm
        }
        Screen::Insert(view) => {
            insert::show(window, view);
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
            jammed,
        } => {
            result::show(
                window,
                &result::ResultView {
                    number_masked,
                    amount_fen: *amount_fen,
                    outcome,
                    reference,
                    receipt,
                    jammed: *jammed,
                },
            );
            Page::Result
        }
        Screen::Sorry { notice, reference } => {
            sorry::show(window, notice, reference.as_deref());
            Page::Sorry
        }
        Screen::AuthChoose {
            service,
            number_masked,
            sms,
            id_card,
            sms_alone,
        } => {
            window
                .global::<AppAdapter>()
                .set_steps(app::steps_of(*service));
            auth::show_choice(window, *service, number_masked, *sms, *id_card, *sms_alone);
            Page::AuthChoose
        }
        Screen::Password {
            number_masked,
            layout,
            notice,
        } => {
            auth::show_password(window, number_masked, layout, notice.as_ref());
            Page::Password
        }
        Screen::SmsCode {
            number_masked,
            resend_in_s,
            notice,
        } => {
            auth::show_sms_code(window, number_masked, *resend_in_s, notice.as_ref());
            Page::SmsCode
        }
        Screen::PlaceIdCard { notice } => {
            auth::show_id_card(window, notice.as_ref());
            Page::PlaceIdCard
        }
        Screen::Working { what } => {
            // The busy screen goes to the step of what it waits for.
            busy::show_working(window, *what);
            return;
        }
        Screen::Plans {
            number_masked,
            current,
            pending,
            options,
        } => {
            plans::show_plans(window, number_masked, current, pending.as_ref(), options);
            Page::Plans
        }
        Screen::PlanConfirm {
            number_masked,
            change,
            current,
            effective_month,
        } => {
            plans::show_confirm(window, number_masked, change, current, effective_month);
            Page::PlanConfirm
        }
        Screen::PlanDone {
            number_masked,
            from,
            to,
            effective_month,
            outcome,
            reference,
            receipt,
        } => {
            plans::show_done(
                window,
                &plans::Done {
                    number_masked,
                    from,
                    to,
                    effective_month,
                    outcome,
                    reference,
                    receipt,
                },
            );
            Page::PlanDone
        }
        Screen::Refused {
            service,
            notice,
            offer,
        } => {
            window
                .global::<AppAdapter>()
                .set_steps(app::steps_of(*service));
            refused::show(window, *service, notice, *offer);
            Page::Refused
        }
        Screen::BillMenu {
            number_masked,
            months,
            month,
            notice,
        } => {
            bills::show_menu(window, number_masked, months, month, notice.as_ref());
            Page::BillMenu
        }
        Screen::Bill {
            month,
            plan_name,
            items,
            total_fen,
            paid_fen,
            due_fen,
        } => {
            bills::show_bill(
                window,
                month,
                plan_name,
                items,
                (*total_fen, *paid_fen, *due_fen),
            );
            Page::Statement
        }
        Screen::Invoice {
            month,
            invoice_no,
            payer_masked,
            items,
            total_fen,
            tax_fen,
        } => {
            bills::show_invoice(
                window,
                month,
                invoice_no,
                payer_masked,
                items,
                (*total_fen, *tax_fen),
            );
            Page::Statement
        }
        Screen::Records {
            month,
            kind,
            page,
            pages,
            total,
            rows,
        } => {
            bills::show_records(window, month, kind, (*page, *pages, *total), rows);
            Page::Records
        }
        Screen::PrintPreview {
            what,
            pages,
            length_cm,
            can_print,
            notice,
        } => {
            bills::show_preview(
                window,
                what,
                *pages,
                *length_cm,
                *can_print,
                notice.as_ref(),
            );
            Page::PrintPreview
        }
        Screen::PrintDone {
            what,
            printed,
            pages,
            reference,
        } => {
            bills::show_done(window, what, *printed, *pages, reference);
            Page::PrintDone
        }
        // The real-name services' steps (they set their own step).
        other => {
            if sim::show(window, other) {
                return;
            }
            // A screen without a view of its own yet is described in words.
            let text = crate::runtime::screen::describe(&ScreenUpdate::Show(other.clone()));
            busy::show_text(window, &text);
            Page::Processing
        }
    };
    app::go(window, page);
}

/// Whether the screen belongs to a journey that proves who the customer is (plan change,
/// bills): its steps are counted on that journey.
fn is_authenticated_service(screen: &Screen) -> bool {
    matches!(
        screen,
        Screen::Password { .. }
            | Screen::SmsCode { .. }
            | Screen::PlaceIdCard { .. }
            | Screen::Plans { .. }
            | Screen::PlanConfirm { .. }
            | Screen::PlanDone { .. }
            | Screen::BillMenu { .. }
            | Screen::Bill { .. }
            | Screen::Records { .. }
            | Screen::Invoice { .. }
            | Screen::PrintPreview { .. }
            | Screen::PrintDone { .. }
    )
}

/// Whether money of the session is in the kiosk on this screen (`None`: the screen does
/// not say, keep what was known). The help notice says "your money is safe" only then.
fn money_in(screen: &Screen) -> Option<bool> {
    match screen {
        Screen::EnterNumber { .. } | Screen::LookingUp { .. } | Screen::Confirm { .. } => {
            Some(false)
        }
        Screen::Insert(v) => {
            Some(v.total_fen > 0 || matches!(v.notice, Some(crate::flow::Notice::Jammed { .. })))
        }
        Screen::Processing { total_fen } => Some(*total_fen > 0),
        Screen::Result {
            amount_fen, jammed, ..
        } => Some(*amount_fen > 0 || jammed.is_some()),
        _ => Some(false),
    }
}

/// A service's name (Chinese, English), as on its home tile.
pub(crate) fn service_words(service: ServiceId) -> (&'static str, &'static str) {
    let (zh, en, _) = home::words(service);
    (zh, en)
}

/// Words for the customer in both languages.
pub(crate) fn msg(zh: &str, en: &str) -> Msg {
    Msg {
        zh: zh.into(),
        en: en.into(),
    }
}
