//! Result: outcome, new balance, reference, receipt state, "anything else?".

use slint::ComponentHandle;

use super::generated::ResultAdapter;
use super::{KioskWindow, Sink, Ui, app, confirm};
use crate::flow::topup::{Outcome, ReceiptState};
use crate::flow::yuan;

pub(super) fn show(
    window: &KioskWindow,
    number_masked: &str,
    amount_fen: u64,
    outcome: &Outcome,
    reference: &str,
    receipt: &ReceiptState,
) {
    let r = window.global::<ResultAdapter>();
    r.set_number(number_masked.into());
    r.set_amount(yuan(amount_fen).into());
    r.set_reference(reference.into());
    let (kind, balance) = match outcome {
        Outcome::Credited {
            new_balance_fen, ..
        } => (0, new_balance_fen.map(confirm::signed_yuan)),
        Outcome::Pending { .. } => (1, None),
        Outcome::Voucher { .. } => (2, None),
    };
    r.set_kind(kind);
    r.set_balance(balance.unwrap_or_default().into());
    r.set_receipt(match receipt {
        ReceiptState::Printing => 0,
        ReceiptState::Printed => 1,
        ReceiptState::NotPrinted => 2,
    });
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let r = window.global::<ResultAdapter>();
    let (w, s) = (window.as_weak(), sink.clone());
    r.on_more(move || {
        if let Some(w) = w.upgrade() {
            app::leave(&w, &s, Ui::Confirm, true);
        }
    });
    let (w, s) = (window.as_weak(), sink.clone());
    r.on_done(move || {
        if let Some(w) = w.upgrade() {
            app::leave(&w, &s, Ui::Cancel, false);
        }
    });
}
