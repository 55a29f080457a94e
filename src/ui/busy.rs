//! Waiting screens: looking up the number; processing the top-up.

use slint::ComponentHandle;

use super::generated::BusyAdapter;
use super::{KioskWindow, msg};
use crate::flow::yuan;

pub(super) fn show_lookup(window: &KioskWindow, number_masked: &str) {
    let b = window.global::<BusyAdapter>();
    b.set_title(msg(
        &format!("正在查询 {number_masked}……"),
        &format!("Looking up {number_masked}…"),
    ));
    b.set_detail(msg(
        "请稍候，正在向业务系统查询号码信息",
        "Please wait while we ask the operator",
    ));
    b.set_amount("".into());
}

pub(super) fn show_processing(window: &KioskWindow, total_fen: u64) {
    let b = window.global::<BusyAdapter>();
    b.set_title(msg("正在为您充值，请稍候", "Topping up, please wait"));
    b.set_detail(msg(
        "请勿离开，钱款已安全记录。完成后将打印凭条。",
        "Please stay; your money is safely recorded. A receipt follows.",
    ));
    b.set_amount(yuan(total_fen).into());
}

pub(super) fn show_text(window: &KioskWindow, text: &str) {
    let b = window.global::<BusyAdapter>();
    b.set_title(msg(text, text));
    b.set_detail(msg("", ""));
    b.set_amount("".into());
}
