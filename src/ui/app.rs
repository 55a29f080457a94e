//! The frame of every screen: page and step, back/home, call for help, idle warning.

use slint::ComponentHandle;

use super::generated::{AppAdapter, Page, Theme};
use super::{KioskWindow, Sink, Ui, UiEvent, msg};

/// Steps of the top-up journey, shown as "step n of m".
const STEPS: i32 = 5;

/// Steps of the journeys that prove who the customer is (plan change, bills): service,
/// number, proof, choice, confirmation or viewing, result.
pub(super) const AUTH_STEPS: i32 = 6;

/// How many steps the journey of `service` has.
pub(super) fn steps_of(service: crate::flow::ServiceId) -> i32 {
    match service {
        crate::flow::ServiceId::TopUp => STEPS,
        _ => AUTH_STEPS,
    }
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let app = window.global::<AppAdapter>();
    app.set_steps(STEPS);

    let (w, s) = (window.as_weak(), sink.clone());
    app.on_back(move || {
        let Some(w) = w.upgrade() else { return };
        match w.global::<AppAdapter>().get_page() {
            Page::Home => go(&w, Page::Idle),
            _ => leave(&w, &s, Ui::Back, true),
        }
    });
    let (w, s) = (window.as_weak(), sink.clone());
    app.on_home(move || {
        let Some(w) = w.upgrade() else { return };
        match w.global::<AppAdapter>().get_page() {
            Page::Home | Page::Idle | Page::OutOfService => {}
            _ => leave(&w, &s, Ui::Cancel, true),
        }
    });
    let (w, s) = (window.as_weak(), sink.clone());
    app.on_help(move || {
        tracing::warn!("customer pressed call for help");
        s.send(UiEvent::CallHelp);
        if let Some(w) = w.upgrade() {
            // The notice stays visible after it is closed, until the session ends.
            w.global::<AppAdapter>().set_help_pending(true);
        }
    });
    let (w, s) = (window.as_weak(), sink.clone());
    app.on_touched(move || {
        if w.upgrade().is_some_and(|w| in_session(&w)) {
            s.ui(Ui::Touch);
        }
    });
    let (w, s) = (window.as_weak(), sink.clone());
    app.on_elder_changed(move |on| {
        if w.upgrade().is_some_and(|w| in_session(&w)) {
            s.ui(Ui::Elder(on));
        }
    });
    let w = window.as_weak();
    app.on_linger_done(move || {
        if let Some(w) = w.upgrade()
            && w.global::<AppAdapter>().get_session_over()
        {
            go(&w, Page::Idle);
        }
    });
}

/// Whether a session with the engine runs (its events mean something).
fn in_session(window: &KioskWindow) -> bool {
    let app = window.global::<AppAdapter>();
    !app.get_session_over()
        && !matches!(app.get_page(), Page::Idle | Page::Home | Page::OutOfService)
}

/// Leaves the current screen: through the engine while a session runs, locally once it
/// is over. `home`: go to the home screen rather than idle when it ends.
pub(super) fn leave(window: &KioskWindow, sink: &Sink, ui: Ui, home: bool) {
    let app = window.global::<AppAdapter>();
    if app.get_session_over() {
        go(window, if home { Page::Home } else { Page::Idle });
    } else {
        app.set_return_home(home);
        sink.ui(ui);
    }
}

/// Whether the customer asked to go home when the session ends (and forgets it).
pub(super) fn take_return_home(window: &KioskWindow) -> bool {
    let app = window.global::<AppAdapter>();
    let home = app.get_return_home();
    app.set_return_home(false);
    home
}

/// Shows a page with its step.
pub(super) fn go(window: &KioskWindow, page: Page) {
    let app = window.global::<AppAdapter>();
    let (step, zh, en) = match page {
        Page::Idle | Page::OutOfService | Page::TechnicianSignIn | Page::ServicePanel => {
            (0, "", "")
        }
        Page::Home => (1, "选择业务", "Choose a service"),
        Page::Keypad | Page::LookingUp => (2, "输入号码", "Enter the number"),
        Page::Confirm => (3, "确认号码", "Check the number"),
        Page::Insert => (4, "放入纸币", "Insert notes"),
        Page::Processing | Page::Result | Page::Sorry => (5, "办理结果", "Result"),
        Page::AuthChoose | Page::Password | Page::SmsCode | Page::PlaceIdCard => {
            (3, "验证身份", "Prove it is you")
        }
        Page::Plans => (4, "选择套餐", "Choose a plan"),
        Page::PlanConfirm => (5, "确认办理", "Confirm"),
        Page::BillMenu => (4, "选择内容", "Choose what to see"),
        Page::Statement | Page::Records | Page::PrintPreview => (5, "查看与打印", "View and print"),
        Page::PlanDone | Page::PrintDone | Page::Refused => (6, "办理结果", "Result"),
        Page::Sim => (app.get_step(), "", ""),
        // The busy screen says its own step (`go_at`, from src/ui/busy.rs).
        Page::Working => (app.get_step(), "请稍候", "Please wait"),
    };
    go_at(window, page, step, zh, en);
}

/// Shows a page at the given step of the journey.
pub(super) fn go_at(window: &KioskWindow, page: Page, step: i32, zh: &str, en: &str) {
    let app = window.global::<AppAdapter>();
    if page == Page::Idle {
        // The next customer starts in the kiosk's own language and type size.
        let theme = window.global::<Theme>();
        theme.set_english(app.get_default_english());
        theme.set_elder(app.get_default_elder());
        app.set_help_called(false);
    }
    if matches!(page, Page::Idle | Page::Home | Page::OutOfService) {
        app.set_session_over(false);
        app.set_warning_seconds(0);
    } else {
        // A notice about the home screen's tiles is of no use in a session.
        app.set_toast_shown(false);
    }
    app.set_step(step);
    app.set_step_name(msg(zh, en));
    // No going back once money may be in; the insert screen decides for itself.
    if page != Page::Insert {
        app.set_can_back(!matches!(page, Page::Processing | Page::Working));
    }
    app.set_page(page);
}
