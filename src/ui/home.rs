//! Home: the service tiles. Choosing top-up asks the application to start its session.

use slint::{ComponentHandle, ModelRc, VecModel};

use super::generated::{HomeAdapter, Page, Service};
use super::{Availability, KioskWindow, Request, ServiceId, ServiceState, Sink, app, keypad, msg};

fn words(service: ServiceId) -> (&'static str, &'static str, &'static str) {
    match service {
        ServiceId::TopUp => ("话费充值", "Top up", "充"),
        ServiceId::PlanChange => ("套餐变更", "Change plan", "套"),
        ServiceId::BillPrint => ("账单打印", "Print bill", "账"),
        ServiceId::NewSim => ("新办卡", "New SIM", "新"),
        ServiceId::ReplaceSim => ("补卡", "Replace SIM", "补"),
        ServiceId::Registration => ("实名登记", "Registration", "实"),
    }
}

fn reason(a: &Availability) -> (String, String) {
    match a {
        Availability::Available => (String::new(), String::new()),
        Availability::ComingSoon => ("即将开通".into(), "Coming soon".into()),
        Availability::DisabledByConfig => (
            "本机未开通此业务".into(),
            "Not offered at this kiosk".into(),
        ),
        Availability::DeviceMissing {
            device_zh,
            device_en,
        } => (
            format!("{device_zh}暂停服务"),
            format!("The {device_en} is out of service"),
        ),
        Availability::BillingDays => (
            "每月 1–5 日出账期间暂停".into(),
            "Paused on days 1–5 while bills are made".into(),
        ),
    }
}

pub(super) fn set_services(window: &KioskWindow, services: &[ServiceState]) {
    let tiles: Vec<Service> = services
        .iter()
        .map(|s| {
            let (zh, en, icon) = words(s.service);
            let (rzh, ren) = reason(&s.availability);
            Service {
                id: s.service.id().into(),
                name: msg(zh, en),
                icon: icon.into(),
                enabled: s.availability == Availability::Available,
                reason: msg(&rzh, &ren),
            }
        })
        .collect();
    window
        .global::<HomeAdapter>()
        .set_services(ModelRc::new(VecModel::from(tiles)));
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let (w, s) = (window.as_weak(), sink.clone());
    window.global::<HomeAdapter>().on_choose(move |id| {
        let Some(service) = ServiceId::from_id(&id) else {
            return;
        };
        tracing::info!(?service, "customer chose a service");
        s.request(Request::Start(service));
        if service == ServiceId::TopUp
            && let Some(w) = w.upgrade()
        {
            // The engine's first screen is the keypad; show it at once.
            keypad::reset(&w);
            app::go(&w, Page::Keypad);
        }
    });
}
