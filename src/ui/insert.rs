//! Cash insertion: total, remaining, notes accepted, finish.

use slint::ComponentHandle;

use super::generated::{AppAdapter, InsertAdapter};
use super::{KioskWindow, Sink, Ui, msg, nochange, sorry};
use crate::flow::topup::Notice;
use crate::flow::yuan;

/// What the insert screen shows.
#[derive(Debug)]
pub(super) struct InsertState<'a> {
    pub number_masked: &'a str,
    pub total_fen: u64,
    pub remaining_fen: u64,
    pub accept_fen: &'a [u64],
    pub notice: Option<&'a Notice>,
    pub can_finish: bool,
}

pub(super) fn show(window: &KioskWindow, s: &InsertState<'_>) {
    let i = window.global::<InsertAdapter>();
    i.set_number(s.number_masked.into());
    i.set_total(yuan(s.total_fen).into());
    i.set_remaining(yuan(s.remaining_fen).into());
    i.set_notes(nochange::note_yuan(s.accept_fen));
    i.set_has_notice(s.notice.is_some());
    if let Some(n) = s.notice {
        let (zh, en) = sorry::notice_words(n);
        i.set_notice(msg(&zh, &en));
    }
    i.set_can_finish(s.can_finish);
    // Money in is never abandoned: no back/home once a note is credited.
    window.global::<AppAdapter>().set_can_back(s.total_fen == 0);
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let s = sink.clone();
    window
        .global::<InsertAdapter>()
        .on_finish(move || s.ui(Ui::Finish));
}
