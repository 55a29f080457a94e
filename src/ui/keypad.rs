//! Number keypad: digits are kept here (adapter-side), shown masked, sent on confirm.

use slint::ComponentHandle;

use super::generated::KeypadAdapter;
use super::{KioskWindow, ServiceId, Sink, Ui, msg, sorry};
use crate::flow::Notice;

/// Digits of a mainland mobile number.
const DIGITS: usize = 11;

/// The echo while typing: the 4th to 7th digits are hidden, as in 138****1234.
pub fn masked_echo(digits: &str) -> String {
    digits
        .chars()
        .enumerate()
        .map(|(i, c)| if (3..7).contains(&i) { '*' } else { c })
        .collect()
}

/// The digits in full, grouped the way people read a number: 138 0000 1234. Shown only
/// while the customer holds "show digits" on.
pub fn grouped_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + 2);
    for (i, c) in digits.chars().enumerate() {
        if i == 3 || i == 7 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn set_digits(window: &KioskWindow, digits: &str) {
    let k = window.global::<KeypadAdapter>();
    k.set_digits(digits.into());
    k.set_echo(masked_echo(digits).into());
    k.set_grouped(grouped_digits(digits).into());
    k.set_count(i32::try_from(digits.chars().count()).unwrap_or(i32::MAX));
}

/// Forgets the number and hides the digits again (a new customer, or the session ended).
pub(super) fn reset(window: &KioskWindow) {
    set_digits(window, "");
    let k = window.global::<KeypadAdapter>();
    k.set_has_notice(false);
    k.set_show_digits(false);
}

/// Shows the keypad; with a notice, the digits the customer typed come back so they can be
/// checked and corrected.
pub(super) fn show(window: &KioskWindow, service: ServiceId, notice: Option<&Notice>, typed: &str) {
    window.global::<KeypadAdapter>().set_title(match service {
        ServiceId::TopUp => msg(
            "请输入要充值的手机号码",
            "Enter the mobile number to top up",
        ),
        ServiceId::PlanChange => msg(
            "请输入要变更套餐的手机号码",
            "Enter the mobile number whose plan to change",
        ),
        ServiceId::BillPrint => msg(
            "请输入要查询账单的手机号码",
            "Enter the mobile number of the bill",
        ),
        _ => msg("请输入手机号码", "Enter the mobile number"),
    });
    if notice.is_some() || !typed.is_empty() {
        set_digits(window, typed);
    }
    let k = window.global::<KeypadAdapter>();
    k.set_has_notice(notice.is_some());
    if let Some(n) = notice {
        let (zh, en) = sorry::notice_words(n);
        k.set_notice(msg(&zh, &en));
    }
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let k = window.global::<KeypadAdapter>();
    let (w, s) = (window.as_weak(), sink.clone());
    k.on_key(move |key| {
        let Some(w) = w.upgrade() else { return };
        let mut digits = w.global::<KeypadAdapter>().get_digits().to_string();
        if digits.chars().count() < DIGITS && key.chars().all(|c| c.is_ascii_digit()) {
            digits.push_str(&key);
            set_digits(&w, &digits);
        }
        s.ui(Ui::Touch);
    });
    let (w, s) = (window.as_weak(), sink.clone());
    k.on_delete(move || {
        let Some(w) = w.upgrade() else { return };
        let mut digits = w.global::<KeypadAdapter>().get_digits().to_string();
        digits.pop();
        set_digits(&w, &digits);
        s.ui(Ui::Touch);
    });
    let (w, s) = (window.as_weak(), sink.clone());
    k.on_clear(move || {
        let Some(w) = w.upgrade() else { return };
        set_digits(&w, "");
        s.ui(Ui::Touch);
    });
    let (w, s) = (window.as_weak(), sink.clone());
    k.on_toggle_digits(move || {
        let Some(w) = w.upgrade() else { return };
        let k = w.global::<KeypadAdapter>();
        k.set_show_digits(!k.get_show_digits());
        s.ui(Ui::Touch);
    });
    let (w, s) = (window.as_weak(), sink.clone());
    k.on_confirm(move || {
        let Some(w) = w.upgrade() else { return };
        let digits = w.global::<KeypadAdapter>().get_digits().to_string();
        if digits.chars().count() == DIGITS {
            w.global::<KeypadAdapter>().set_has_notice(false);
            s.ui(Ui::Number(digits));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{grouped_digits, masked_echo};

    #[test]
    fn echo_hides_the_middle_four_digits() {
        assert_eq!(masked_echo("13800001234"), "138****1234");
        assert_eq!(masked_echo("1380"), "138*");
        assert_eq!(masked_echo(""), "");
    }

    #[test]
    fn shown_digits_are_grouped_three_four_four() {
        assert_eq!(grouped_digits("13800001234"), "138 0000 1234");
        assert_eq!(grouped_digits("13800"), "138 00");
        assert_eq!(grouped_digits("138"), "138");
        assert_eq!(grouped_digits(""), "");
    }
}
