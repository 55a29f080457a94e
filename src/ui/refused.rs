//! A rule of the shop stops the service: why, what to do, and the service that helps.

use slint::ComponentHandle;

use super::generated::RefusedAdapter;
use super::{KioskWindow, Sink, Ui, app, msg, service_words, sorry};
use crate::flow::{Notice, ServiceId};

/// What to do after a refusal (Chinese, English).
fn what_to_do(notice: &Notice, offer: Option<ServiceId>) -> (String, String) {
    match (notice, offer) {
        (Notice::Arrears { .. }, Some(ServiceId::TopUp)) => (
            "您可以先在本机充值缴清欠费，到账后再办理。".into(),
            "You can top up here first to pay it; then come back to this service.".into(),
        ),
        (Notice::FrozenPeriod, _) => (
            "出账期内仍可办理话费充值、账单打印等其他业务。".into(),
            "Top-up, bill printing and the other services are open as usual.".into(),
        ),
        (Notice::WrongPassword { .. } | Notice::WrongCode { .. } | Notice::AuthExpired, _) => (
            "请返回首页重新办理。".into(),
            "Please start again from the home screen.".into(),
        ),
        (n, _) => {
            let (zh, en) = sorry::what_to_do(n, false);
            (zh.into(), en.into())
        }
    }
}

pub(super) fn show(
    window: &KioskWindow,
    service: ServiceId,
    notice: &Notice,
    offer: Option<ServiceId>,
) {
    let r = window.global::<RefusedAdapter>();
    let (zh, en) = service_words(service);
    r.set_service(msg(zh, en));
    let (zh, en) = sorry::notice_words(notice);
    r.set_why(msg(&zh, &en));
    let (zh, en) = what_to_do(notice, offer);
    r.set_todo(msg(&zh, &en));
    r.set_offer(offer.map(|o| o.id()).unwrap_or_default().into());
    if let Some(o) = offer {
        let (zh, en) = service_words(o);
        r.set_offer_words(msg(&format!("去办理{zh}"), &format!("{en} now")));
    }
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let r = window.global::<RefusedAdapter>();
    let (w, s) = (window.as_weak(), sink.clone());
    r.on_take_offer(move || {
        if let Some(w) = w.upgrade() {
            let offer = w.global::<RefusedAdapter>().get_offer().to_string();
            s.ui(Ui::Select(offer));
        }
    });
    let (w, s) = (window.as_weak(), sink.clone());
    r.on_ok(move || {
        if let Some(w) = w.upgrade() {
            // Back to the services: the others may still be done.
            app::leave(&w, &s, Ui::Cancel, true);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::what_to_do;
    use crate::flow::{Notice, ServiceId};

    #[test]
    fn arrears_point_to_the_top_up_offered() {
        let (zh, en) = what_to_do(&Notice::Arrears { fen: 2350 }, Some(ServiceId::TopUp));
        assert!(zh.contains("充值") && en.contains("top up"));
    }
}
