//! Out of service: devices down, link down, or locked by head office; technician entry.

use slint::ComponentHandle;

use super::generated::OutOfServiceAdapter;
use super::{KioskWindow, OutOfServiceReason, Request, Sink, msg};

pub(super) fn show(
    window: &KioskWindow,
    reason: OutOfServiceReason,
    detail_zh: &str,
    detail_en: &str,
) {
    let o = window.global::<OutOfServiceAdapter>();
    o.set_reason(
        match reason {
            OutOfServiceReason::Devices => "devices",
            OutOfServiceReason::Link => "link",
            OutOfServiceReason::Locked => "locked",
        }
        .into(),
    );
    o.set_detail(msg(detail_zh, detail_en));
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let s = sink.clone();
    window
        .global::<OutOfServiceAdapter>()
        .on_technician(move || {
            tracing::info!("technician entry pressed");
            s.request(Request::Technician);
        });
}
