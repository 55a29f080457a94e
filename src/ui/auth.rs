//! Proving the number is the customer's: the choice of proof, the service password on a
//! keypad shuffled for every entry, the SMS code with its resend countdown, the ID card.
//!
//! What is typed stays here, not in a Slint property: the digits are kept in one fixed
//! buffer on the UI thread (never copied by a reallocation), wiped when sent, deleted,
//! cleared, or when a new entry starts, and leave only as [`Ui::Secret`]. The
//! screen is told how many digits there are (the password shows as dots); the SMS code's
//! digits are shown, as they are on the customer's phone anyway.

use std::cell::RefCell;

use slint::{ComponentHandle, ModelRc, VecModel};
use zeroize::Zeroize;

use super::generated::{AppAdapter, AuthAdapter, Page};
use super::{KioskWindow, Sink, Ui, msg, service_words, sorry};
use crate::flow::{Notice, ServiceId};
use boss_protocol::Secret;

/// Digits of the service password and of an SMS code.
const LENGTH: usize = 6;

/// The digits typed so far (ASCII), in a buffer that is wiped, never reallocated.
#[derive(Default)]
struct Typed {
    digits: [u8; LENGTH],
    len: usize,
}

impl Typed {
    fn push(&mut self, digit: u8) {
        if let Some(slot) = self.digits.get_mut(self.len) {
            *slot = digit;
            self.len += 1;
        }
    }
    fn pop(&mut self) {
        if self.len > 0 {
            self.len -= 1;
            self.digits[self.len].zeroize();
        }
    }
    fn wipe(&mut self) {
        self.digits.zeroize();
        self.len = 0;
    }
    fn typed(&self) -> &[u8] {
        &self.digits[..self.len]
    }
}

thread_local! {
    /// The digits typed on the UI thread (Slint runs on one thread).
    static TYPED: RefCell<Typed> = RefCell::new(Typed::default());
}

fn count() -> i32 {
    TYPED.with(|t| i32::try_from(t.borrow().len).unwrap_or(i32::MAX))
}

/// Forgets what was typed.
pub(super) fn reset(window: &KioskWindow) {
    TYPED.with(|t| t.borrow_mut().wipe());
    let a = window.global::<AuthAdapter>();
    a.set_count(0);
    a.set_code(ModelRc::new(VecModel::<i32>::default()));
}

/// Shows the digits typed: their number, and the code's digits on the SMS screen.
fn echo(window: &KioskWindow) {
    let a = window.global::<AuthAdapter>();
    a.set_count(count());
    let shown: Vec<i32> = if window.global::<AppAdapter>().get_page() == Page::SmsCode {
        TYPED.with(|t| {
            t.borrow()
                .typed()
                .iter()
                .map(|b| i32::from(b.saturating_sub(b'0')))
                .collect()
        })
    } else {
        Vec::new()
    };
    a.set_code(ModelRc::new(VecModel::from(shown)));
}

fn set_notice(window: &KioskWindow, notice: Option<&Notice>) {
    let a = window.global::<AuthAdapter>();
    a.set_has_notice(notice.is_some());
    if let Some(n) = notice {
        let (zh, en) = sorry::notice_words(n);
        a.set_notice(msg(&zh, &en));
    }
}

pub(super) fn show_choice(
    window: &KioskWindow,
    service: ServiceId,
    number_masked: &str,
    sms: bool,
    id_card: bool,
    sms_alone: bool,
) {
    reset(window);
    let a = window.global::<AuthAdapter>();
    let (zh, en) = service_words(service);
    a.set_service(msg(zh, en));
    a.set_number(number_masked.into());
    a.set_sms(sms);
    a.set_id_card(id_card);
    a.set_sms_alone(sms_alone);
    a.set_has_notice(false);
}

/// A fresh password entry on the keys in `layout` (the digit on each key, reading order).
pub(super) fn show_password(
    window: &KioskWindow,
    number_masked: &str,
    layout: &[u8; 10],
    notice: Option<&Notice>,
) {
    reset(window);
    let a = window.global::<AuthAdapter>();
    a.set_number(number_masked.into());
    a.set_layout(ModelRc::new(VecModel::from(
        layout.iter().map(|d| i32::from(*d)).collect::<Vec<_>>(),
    )));
    set_notice(window, notice);
}

pub(super) fn show_sms_code(
    window: &KioskWindow,
    number_masked: &str,
    resend_in_s: u64,
    notice: Option<&Notice>,
) {
    reset(window);
    let a = window.global::<AuthAdapter>();
    a.set_number(number_masked.into());
    // The code is copied from a phone: the keys in their usual places.
    a.set_layout(ModelRc::new(VecModel::from(vec![
        1, 2, 3, 4, 5, 6, 7, 8, 9, 0,
    ])));
    a.set_resend_in(i32::try_from(resend_in_s).unwrap_or(i32::MAX));
    set_notice(window, notice);
}

/// Forgets the session's number too (the session ended).
pub(super) fn forget(window: &KioskWindow) {
    reset(window);
    window.global::<AuthAdapter>().set_number("".into());
}

pub(super) fn show_id_card(window: &KioskWindow, notice: Option<&Notice>) {
    set_notice(window, notice);
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let a = window.global::<AuthAdapter>();
    let s = sink.clone();
    a.on_choose(move |how| s.ui(Ui::Select(how.to_string())));
    let (w, s) = (window.as_weak(), sink.clone());
    a.on_key(move |digit| {
        let Some(w) = w.upgrade() else { return };
        if let Ok(d @ 0..=9) = u8::try_from(digit) {
            TYPED.with(|t| t.borrow_mut().push(b'0' + d));
            echo(&w);
        }
        s.ui(Ui::Touch);
    });
    let (w, s) = (window.as_weak(), sink.clone());
    a.on_delete(move || {
        let Some(w) = w.upgrade() else { return };
        TYPED.with(|t| t.borrow_mut().pop());
        echo(&w);
        s.ui(Ui::Touch);
    });
    let (w, s) = (window.as_weak(), sink.clone());
    a.on_clear(move || {
        let Some(w) = w.upgrade() else { return };
        reset(&w);
        s.ui(Ui::Touch);
    });
    let (w, s) = (window.as_weak(), sink.clone());
    a.on_submit(move || {
        let Some(w) = w.upgrade() else { return };
        let secret = TYPED.with(|t| {
            let t = t.borrow();
            (t.len == LENGTH)
                .then(|| std::str::from_utf8(t.typed()).ok().map(Secret::new))
                .flatten()
        });
        if let Some(secret) = secret {
            reset(&w);
            w.global::<AuthAdapter>().set_has_notice(false);
            s.ui(Ui::Secret(secret));
        }
    });
    let s = sink.clone();
    a.on_resend(move || s.ui(Ui::Select("resend".into())));
    let s = sink.clone();
    a.on_retry(move || s.ui(Ui::Select("retry".into())));
}

#[cfg(test)]
mod tests {
    use super::{LENGTH, Typed};

    #[test]
    fn typed_digits_stop_at_six_and_are_wiped_when_deleted_or_cleared() {
        let mut t = Typed::default();
        for d in b"1234567" {
            t.push(*d);
        }
        assert_eq!(t.typed(), b"123456");
        t.pop();
        assert_eq!(t.typed(), b"12345");
        assert_eq!(
            t.digits[LENGTH - 1],
            0,
            "the deleted digit is gone from memory"
        );
        t.wipe();
        assert_eq!(t.typed(), b"");
        assert_eq!(t.digits, [0; LENGTH]);
    }
}
