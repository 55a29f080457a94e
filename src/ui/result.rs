//! Result: outcome, new balance, reference, receipt state, a jammed note, "anything else?".

use slint::ComponentHandle;

use super::generated::ResultAdapter;
use super::{KioskWindow, Sink, Ui, app, confirm};
use crate::flow::screen::ReceiptState;
use crate::flow::topup::Outcome;
use crate::flow::yuan;

/// What the result screen shows.
#[derive(Debug)]
pub(super) struct ResultView<'a> {
    pub number_masked: &'a str,
    pub amount_fen: u64,
    pub outcome: &'a Outcome,
    pub reference: &'a str,
    pub receipt: &'a ReceiptState,
    pub jammed: Option<crate::flow::screen::Jam>,
}

pub(super) fn show(window: &KioskWindow, v: &ResultView<'_>) {
    let r = window.global::<ResultAdapter>();
    r.set_number(v.number_masked.into());
    r.set_amount(yuan(v.amount_fen).into());
    r.set_reference(v.reference.into());
    let (kind, balance) = match v.outcome {
        Outcome::Credited {
            new_balance_fen, ..
        } => (0, new_balance_fen.map(confirm::signed_yuan)),
        Outcome::Pending { .. } => (1, None),
        Outcome::Voucher { .. } => (2, None),
        Outcome::NothingTaken { .. } => (3, None),
    };
    r.set_kind(kind);
    r.set_balance(balance.unwrap_or_default().into());
    // The note's value, or words for a note the acceptor could not read.
    r.set_jammed(
        v.jammed
            .map(|j| j.fen.map(yuan).unwrap_or_else(|| "-".into()))
            .unwrap_or_default()
            .into(),
    );
    r.set_jammed_note(match v.jammed.and_then(|j| j.fen) {
        Some(fen) => super::msg(
            &format!(" {} 纸币", yuan(fen)),
            &format!("{} note", yuan(fen)),
        ),
        None => super::msg("纸币（面额未能识别）", "note (its value could not be read)"),
    });
    r.set_receipt(match v.receipt {
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
