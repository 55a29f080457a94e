//! Cash insertion: total, remaining, notes accepted, the no-change notice, finish.

use slint::{ComponentHandle, ModelRc, VecModel};

use super::generated::{AppAdapter, InsertAdapter};
use super::{KioskWindow, Sink, Ui, msg, sorry};
use crate::flow::screen::{CashPurpose, CashView};
use crate::flow::yuan;

/// Note values in whole yuan for the pictures (notes are whole yuan).
pub(super) fn note_yuan(accept_fen: &[u64]) -> ModelRc<i32> {
    let notes: Vec<i32> = accept_fen
        .iter()
        .filter_map(|f| i32::try_from(f / 100).ok())
        .collect();
    ModelRc::new(VecModel::from(notes))
}

pub(super) fn show(window: &KioskWindow, v: &CashView) {
    let i = window.global::<InsertAdapter>();
    let number = msg("充值号码：", "Number: ");
    match &v.purpose {
        CashPurpose::TopUp { number_masked } => {
            i.set_what(number);
            i.set_number(number_masked.as_str().into());
        }
        CashPurpose::ReplaceSim { number_masked } => {
            i.set_what(msg("补卡号码：", "Replacement SIM for: "));
            i.set_number(number_masked.as_str().into());
        }
        CashPurpose::NewSim { number } => {
            i.set_what(msg("新号码：", "New number: "));
            i.set_number(number.as_str().into());
        }
        CashPurpose::PinCard { face_fen } => {
            i.set_what(msg("购买充值卡：面值 ", "Recharge card: "));
            i.set_number(yuan(*face_fen).into());
        }
    }
    i.set_total(yuan(v.total_fen).into());
    i.set_remaining(yuan(v.remaining_fen).into());
    i.set_notes(note_yuan(&v.accept_fen));
    i.set_has_notice(v.notice.is_some());
    if let Some(n) = &v.notice {
        let (zh, en) = sorry::notice_words(n);
        i.set_notice(msg(&zh, &en));
    }
    i.set_can_finish(v.can_finish);
    i.set_first_note(v.total_fen == 0);
    // Money in is never abandoned: no back/home once a note is credited.
    window
        .global::<AppAdapter>()
        .set_can_back(v.total_fen == 0 && !v.busy);
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let s = sink.clone();
    window
        .global::<InsertAdapter>()
        .on_finish(move || s.ui(Ui::Finish));
}
