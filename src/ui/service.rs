//! The technician's screens: sign-in on the PIN pad and the service-mode panel. The PIN
//! stays in the pad's property until "OK", then goes out once (as a [`Pin`], never
//! logged) and the pad is cleared.

use slint::{
    ComponentHandle, Image, ModelRc, Rgb8Pixel, SharedPixelBuffer, SharedString, VecModel,
};

use super::generated::{AppAdapter, CashRow, Page, ServiceAdapter, TechDeviceRow};
use super::{KioskWindow, Sink, UiEvent, app};
use crate::runtime::screen::{Pin, Preview, SignInNotice, TechAction, TechPanel, TechScreen};

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let s = sink.clone();
    window.global::<AppAdapter>().on_technician_corner(move || {
        tracing::info!("technician corner tapped");
        s.send(UiEvent::Technician);
    });
    let a = window.global::<ServiceAdapter>();
    let (w, s) = (window.as_weak(), sink.clone());
    a.on_sign_in(move |id, pin| {
        let pin = Pin::new(pin.as_str());
        if let Some(w) = w.upgrade() {
            let a = w.global::<ServiceAdapter>();
            a.set_pin(SharedString::new());
            a.set_pin_digits(0);
        }
        s.send(UiEvent::TechnicianSignIn {
            id: id.to_string(),
            pin,
        });
    });
    let s = sink.clone();
    a.on_cancel(move || s.send(UiEvent::TechnicianAction(TechAction::Cancel)));
    let s = sink.clone();
    a.on_action(move |name| {
        let action = match name.as_str() {
            "test_receipt" => TechAction::TestReceipt,
            "test_note" => TechAction::TestNote,
            "test_card" => TechAction::TestCard,
            "test_id_card" => TechAction::TestIdCard,
            "test_camera" => TechAction::TestCamera,
            "clearance" => TechAction::Clearance,
            "exit" => TechAction::Exit,
            _ => TechAction::Refresh,
        };
        s.send(UiEvent::TechnicianAction(action));
    });
    let s = sink.clone();
    a.on_restock(move |added, bin_emptied| {
        s.send(UiEvent::TechnicianAction(TechAction::Restock {
            added: u32::try_from(added).unwrap_or(0),
            bin_emptied,
        }));
    });
}

/// The words of a sign-in notice (both languages: technicians read either).
pub fn notice_words(notice: &SignInNotice) -> String {
    match notice {
        SignInNotice::WrongPin { left } => {
            format!("工号或密码错误，还可尝试 {left} 次  Wrong id or PIN: {left} tries left")
        }
        SignInNotice::Locked { seconds } => {
            let minutes = seconds.div_ceil(60);
            format!("密码错误次数过多，已锁定 {minutes} 分钟  Too many wrong PINs: locked for {minutes} min")
        }
        SignInNotice::NoTechnicians => "本机未配置维护人员：请用终端 telekiosk service  No technician is configured: use telekiosk service from a terminal".into(),
        SignInNotice::CustomerPresent => "顾客正在办理业务，请稍后  A customer is being served: try again when they are done".into(),
        SignInNotice::Refused(why) => format!("不能进入维护模式  Service mode refused: {why}"),
    }
}

pub(super) fn show(window: &KioskWindow, screen: &TechScreen) {
    let a = window.global::<ServiceAdapter>();
    match screen {
        TechScreen::SignIn { ids, notice } => {
            a.set_mode("sign-in".into());
            let ids: Vec<SharedString> = ids.iter().map(|i| i.as_str().into()).collect();
            // With one technician configured, their id is chosen already.
            if ids.len() == 1 {
                a.set_chosen_id(ids[0].clone());
            } else if !ids.iter().any(|i| *i == a.get_chosen_id()) {
                a.set_chosen_id(SharedString::new());
            }
            a.set_ids(ModelRc::new(VecModel::from(ids)));
            a.set_pin(SharedString::new());
            a.set_pin_digits(0);
            a.set_locked(matches!(notice, Some(SignInNotice::Locked { .. })));
            a.set_notice(notice.as_ref().map(notice_words).unwrap_or_default().into());
            app::go(window, Page::TechnicianSignIn);
        }
        TechScreen::Panel(panel) => {
            show_panel(window, panel);
            app::go(window, Page::ServicePanel);
        }
        TechScreen::Closed => {
            forget_preview(window);
            a.set_pin(SharedString::new());
            a.set_pin_digits(0);
            a.set_chosen_id(SharedString::new());
            a.set_confirm_clearance(false);
            a.set_restocking(false);
            a.set_has_last(false);
            app::go(window, Page::Idle);
        }
    }
}

fn strings(v: &[String]) -> ModelRc<SharedString> {
    ModelRc::new(VecModel::from(
        v.iter()
            .map(|s| SharedString::from(s.as_str()))
            .collect::<Vec<_>>(),
    ))
}

fn show_panel(window: &KioskWindow, p: &TechPanel) {
    let a = window.global::<ServiceAdapter>();
    a.set_mode("panel".into());
    a.set_technician(p.technician.as_str().into());
    a.set_kiosk(p.kiosk.as_str().into());
    a.set_state(p.state.as_str().into());
    a.set_problems(strings(&p.problems));
    a.set_devices(ModelRc::new(VecModel::from(
        p.devices
            .iter()
            .map(|d| TechDeviceRow {
                name: d.name.as_str().into(),
                state: d.state.as_str().into(),
                detail: d.detail.as_str().into(),
            })
            .collect::<Vec<_>>(),
    )));
    a.set_facts(strings(&p.facts));
    a.set_cash_notes(ModelRc::new(VecModel::from(
        p.cash_notes
            .iter()
            .map(|(value, count)| CashRow {
                value: value.as_str().into(),
                count: i32::try_from(*count).unwrap_or(i32::MAX),
            })
            .collect::<Vec<_>>(),
    )));
    a.set_cash_total(p.cash_total.as_str().into());
    a.set_cards_in_stock(i32::try_from(p.cards_in_stock).unwrap_or(i32::MAX));
    a.set_cards_in_bin(i32::try_from(p.cards_in_bin).unwrap_or(i32::MAX));
    a.set_counters(strings(&p.counters));
    a.set_errors(strings(&p.errors));
    // The camera's picture belongs to the camera test's outcome only.
    if p.busy.is_some() || p.last.as_ref().is_none_or(|l| l.action != "test_camera") {
        forget_preview(window);
    }
    a.set_busy(p.busy.as_deref().unwrap_or_default().into());
    a.set_has_last(p.last.is_some());
    if let Some(l) = &p.last {
        a.set_last_ok(l.ok);
        a.set_last_text(l.text.as_str().into());
    }
}

/// The camera test's picture on the panel (until the next action or the panel closes).
pub(super) fn set_preview(window: &KioskWindow, p: &Preview) {
    let a = window.global::<ServiceAdapter>();
    let row = usize::try_from(p.width).unwrap_or(0) * 3;
    let rows = usize::try_from(p.height).unwrap_or(0);
    if row == 0 || rows == 0 || p.rgb.len() != row * rows {
        return;
    }
    let buffer = SharedPixelBuffer::<Rgb8Pixel>::clone_from_slice(&p.rgb, p.width, p.height);
    a.set_preview(Image::from_rgb8(buffer));
    a.set_has_preview(true);
}

fn forget_preview(window: &KioskWindow) {
    let a = window.global::<ServiceAdapter>();
    if a.get_has_preview() {
        a.set_preview(Image::default());
        a.set_has_preview(false);
    }
}
