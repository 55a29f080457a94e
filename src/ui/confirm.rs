//! Confirmation: "您办理的是 138****0000（*小明）的话费充值，是吗？"

use slint::ComponentHandle;

use super::generated::ConfirmAdapter;
use super::{KioskWindow, Sink, Ui, msg};
use crate::flow::topup::{AccountStatus, Subscriber};

/// Signed fen as yuan: ¥-3.50 for arrears shown as a negative balance.
pub(super) fn signed_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}¥{}.{:02}", abs / 100, abs % 100)
}

pub(super) fn show(window: &KioskWindow, number_masked: &str, sub: &Subscriber) {
    let c = window.global::<ConfirmAdapter>();
    c.set_number(number_masked.into());
    c.set_owner(sub.owner_masked.as_str().into());
    c.set_balance(signed_yuan(sub.balance_fen).into());
    let account = match sub.status {
        AccountStatus::Suspended => msg(
            "该号码已停机，充值后将自动恢复。",
            "This number is suspended; topping up reactivates it.",
        ),
        AccountStatus::Closed => msg(
            "该号码已销户，无法充值。",
            "This number is closed and cannot be topped up.",
        ),
        AccountStatus::Active if sub.arrears_fen > 0 => {
            let owed = crate::flow::yuan(sub.arrears_fen);
            msg(
                &format!("该号码欠费 {owed}，充值将先抵扣欠费。"),
                &format!("{owed} is owed; it is paid first."),
            )
        }
        AccountStatus::Active => msg("", ""),
    };
    c.set_account(account);
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let c = window.global::<ConfirmAdapter>();
    let s = sink.clone();
    c.on_yes(move || s.ui(Ui::Confirm));
    let s = sink.clone();
    c.on_no(move || s.ui(Ui::Back));
}
