//! "本机不找零 — no change given", before the first note.

use slint::{ComponentHandle, ModelRc, VecModel};

use super::generated::NoChangeAdapter;
use super::{KioskWindow, Sink, Ui};
use crate::flow::yuan;

/// Note values in whole yuan for the pictures (notes are whole yuan).
pub(super) fn note_yuan(accept_fen: &[u64]) -> ModelRc<i32> {
    let notes: Vec<i32> = accept_fen
        .iter()
        .filter_map(|f| i32::try_from(f / 100).ok())
        .collect();
    ModelRc::new(VecModel::from(notes))
}

pub(super) fn show(window: &KioskWindow, accept_fen: &[u64], max_fen: u64) {
    let n = window.global::<NoChangeAdapter>();
    n.set_notes(note_yuan(accept_fen));
    n.set_max(yuan(max_fen).into());
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let s = sink.clone();
    window
        .global::<NoChangeAdapter>()
        .on_ok(move || s.ui(Ui::Confirm));
}
