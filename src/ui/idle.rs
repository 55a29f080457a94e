//! Idle / attract screen: branding and banners; a touch opens the home screen.

use slint::{ComponentHandle, ModelRc, VecModel};

use super::generated::{AppAdapter, IdleAdapter, Page};
use super::{Branding, KioskWindow, app, msg};

pub(super) fn set_branding(window: &KioskWindow, branding: &Branding) {
    window
        .global::<AppAdapter>()
        .set_operator(msg(&branding.operator_zh, &branding.operator_en));
    let banners: Vec<_> = branding
        .banners
        .iter()
        .map(|(zh, en)| msg(zh, en))
        .collect();
    let idle = window.global::<IdleAdapter>();
    idle.set_banners(ModelRc::new(VecModel::from(banners)));
    idle.set_banner_index(0);
}

pub(super) fn connect(window: &KioskWindow) {
    let w = window.as_weak();
    window.global::<IdleAdapter>().on_start(move || {
        if let Some(w) = w.upgrade() {
            app::go(&w, Page::Home);
        }
    });
}
