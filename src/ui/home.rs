//! Home: the service tiles (also on the idle screen). Choosing top-up asks the application
//! to start its session; tapping a greyed tile says why it cannot be chosen.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use slint::{ComponentHandle, Model, ModelRc, VecModel};

use super::generated::{AppAdapter, HomeAdapter, Page, Service};
use super::{
    Availability, KioskWindow, ServiceId, ServiceState, Sink, Ui, UiEvent, app, keypad, msg,
};

/// How long the reason of a greyed tile stays over the screen.
const TOAST_TIME: Duration = Duration::from_secs(6);

pub(super) fn words(service: ServiceId) -> (&'static str, &'static str, &'static str) {
    match service {
        ServiceId::TopUp => ("话费充值", "Top up", "充"),
        ServiceId::PlanChange => ("套餐变更", "Change plan", "套"),
        ServiceId::BillPrint => ("账单打印", "Print bill", "账"),
        ServiceId::NewSim => ("新办卡", "New SIM", "新"),
        ServiceId::ReplaceSim => ("补卡", "Replace SIM", "补"),
        ServiceId::Registration => ("实名登记", "Registration", "实"),
        ServiceId::Loss => ("挂失/解挂", "Report lost SIM", "挂"),
        ServiceId::NumberQuery => ("名下号码", "Numbers in my name", "查"),
        ServiceId::PinSale => ("充值卡", "Recharge card", "卡"),
    }
}

/// What an available service's tile says under its name.
fn blurb(service: ServiceId) -> (&'static str, &'static str) {
    match service {
        ServiceId::TopUp => ("现金 · 即充即到", "Cash · credited at once"),
        ServiceId::PlanChange => ("下月生效", "From next month"),
        ServiceId::BillPrint => ("账单 · 详单 · 发票", "Bills · records · invoices"),
        ServiceId::NewSim => ("身份证 · 现场选号", "ID card · pick a number"),
        ServiceId::ReplaceSim => ("原号码 · 新卡即取", "Same number · new card now"),
        ServiceId::Registration => ("为号码登记身份", "Register your identity"),
        ServiceId::Loss => ("丢卡立即停机", "Lost SIM: stop it now"),
        ServiceId::NumberQuery => ("身份证名下号码", "Numbers under my ID"),
        ServiceId::PinSale => ("现金购买电子充值卡", "Buy a recharge PIN in cash"),
    }
}

fn reason(service: ServiceId, a: &Availability) -> (String, String) {
    match a {
        Availability::Available => {
            let (zh, en) = blurb(service);
            (zh.into(), en.into())
        }
        Availability::ComingSoon => ("即将开通".into(), "Coming soon".into()),
        Availability::DisabledByConfig => (
            "本机未开通此业务".into(),
            "Not offered at this kiosk".into(),
        ),
        Availability::Unavailable { zh, en } => (zh.clone(), en.clone()),
    }
}

/// What a tap on a greyed tile says (Chinese, English): why, and what to do instead.
pub fn unavailable_words(service: ServiceId, a: &Availability) -> (String, String) {
    let (zh, en, _) = words(service);
    match a {
        Availability::Available => (String::new(), String::new()),
        Availability::ComingSoon => (
            format!("{zh}即将开通，现在请到营业厅柜台办理。"),
            format!("{en} is coming soon; for now please go to the counter."),
        ),
        Availability::DisabledByConfig => (
            format!("本机未开通{zh}，请到营业厅柜台办理。"),
            format!("{en} is not offered at this kiosk; please go to the counter."),
        ),
        Availability::Unavailable {
            zh: why_zh,
            en: why_en,
        } => (
            format!("{why_zh}，{zh}暂停办理。请稍后再试，或到营业厅柜台办理。"),
            format!(
                "{}. {en} is paused; please try again later or go to the counter.",
                why_en.trim_end_matches('.')
            ),
        ),
    }
}

pub(super) fn set_services(window: &KioskWindow, services: &[ServiceState]) {
    let tiles: Vec<Service> = services
        .iter()
        .map(|s| {
            let (zh, en, icon) = words(s.service);
            let (rzh, ren) = reason(s.service, &s.availability);
            let (fzh, fen) = unavailable_words(s.service, &s.availability);
            Service {
                id: s.service.id().into(),
                name: msg(zh, en),
                icon: icon.into(),
                enabled: s.availability == Availability::Available,
                reason: msg(&rzh, &ren),
                feedback: msg(&fzh, &fen),
            }
        })
        .collect();
    window
        .global::<HomeAdapter>()
        .set_services(ModelRc::new(VecModel::from(tiles)));
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let home = window.global::<HomeAdapter>();
    let (w, s) = (window.as_weak(), sink.clone());
    home.on_choose(move |id| {
        let Some(service) = ServiceId::from_id(&id) else {
            return;
        };
        tracing::info!(?service, "customer chose a service");
        s.send(UiEvent::Start(service));
        // Large text chosen before the service: the session's timeouts are longer too.
        if w.upgrade()
            .is_some_and(|w| w.global::<super::Theme>().get_elder())
        {
            s.ui(Ui::Elder(true));
        }
        if service == ServiceId::TopUp
            && let Some(w) = w.upgrade()
        {
            // The engine's first screen is the keypad; show it at once.
            w.global::<AppAdapter>().set_toast_shown(false);
            keypad::reset(&w);
            app::go(&w, Page::Keypad);
        }
    });
    let (w, shown) = (window.as_weak(), Rc::new(Cell::new(0u64)));
    home.on_unavailable(move |id| {
        let Some(w) = w.upgrade() else { return };
        let tile = w
            .global::<HomeAdapter>()
            .get_services()
            .iter()
            .find(|t| t.id == id);
        if let Some(tile) = tile {
            tracing::info!(service = %id, reason = %tile.reason.en, "greyed service tapped");
            let app = w.global::<AppAdapter>();
            app.set_toast(tile.feedback);
            app.set_toast_shown(true);
            // Each tap shows its reason for the full time, even over an earlier one.
            shown.set(shown.get() + 1);
            let (w, shown, this) = (w.as_weak(), shown.clone(), shown.get());
            slint::Timer::single_shot(TOAST_TIME, move || {
                if shown.get() == this
                    && let Some(w) = w.upgrade()
                {
                    w.global::<AppAdapter>().set_toast_shown(false);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_greyed_tile_says_why_and_what_to_do() {
        let (zh, en) = unavailable_words(
            ServiceId::TopUp,
            &Availability::Unavailable {
                zh: "凭条打印机缺纸".into(),
                en: "The receipt printer is out of paper".into(),
            },
        );
        assert_eq!(
            zh,
            "凭条打印机缺纸，话费充值暂停办理。请稍后再试，或到营业厅柜台办理。"
        );
        assert!(en.starts_with("The receipt printer is out of paper. Top up is paused"));
        let (zh, _) = unavailable_words(ServiceId::PlanChange, &Availability::ComingSoon);
        assert!(zh.starts_with("套餐变更即将开通"));
        let (zh, en) = unavailable_words(ServiceId::NewSim, &Availability::DisabledByConfig);
        assert!(zh.contains("本机未开通新办卡") && en.contains("not offered"));
    }
}
