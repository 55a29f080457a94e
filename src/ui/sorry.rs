//! Sorry: what happened, what to do, the reference for staff. Also words every notice.

use slint::ComponentHandle;

use super::generated::SorryAdapter;
use super::{KioskWindow, Sink, Ui, app, msg};
use crate::flow::topup::Notice;
use crate::flow::yuan;

/// A notice in Chinese and English.
pub fn notice_words(notice: &Notice) -> (String, String) {
    let (zh, en) = match notice {
        Notice::InvalidNumber => (
            "请输入 11 位手机号码",
            "Please enter an 11-digit mobile number",
        ),
        Notice::NumberNotFound => (
            "未查到该号码，请核对后重新输入",
            "This number was not found; please check it",
        ),
        Notice::AccountClosed => (
            "该号码已销户，无法充值",
            "This number is closed and cannot be topped up",
        ),
        Notice::ServiceUnavailable => (
            "暂时无法连接业务系统，充值暂停",
            "The operator cannot be reached; top-up is paused",
        ),
        Notice::NoteOverLimit { fen, max_fen } => {
            return (
                format!(
                    "这张 {} 会超过单笔上限 {}，已退回，请取回",
                    yuan(*fen),
                    yuan(*max_fen)
                ),
                format!(
                    "That {} note would pass the {} limit and was returned",
                    yuan(*fen),
                    yuan(*max_fen)
                ),
            );
        }
        Notice::NoteRejected => (
            "这张纸币未被识别，已退回，请取回后换一张",
            "That note was not accepted; please take it back and try another",
        ),
        Notice::Jammed => (
            "入钞口卡币，已投入的钱款已记录",
            "A note is stuck; money already in is recorded",
        ),
        Notice::CashboxFull => (
            "钱箱已满，本机暂停收钞",
            "The cash box is full; no more notes",
        ),
        Notice::AcceptorFault => ("收钞设备故障", "The note acceptor stopped working"),
        Notice::Tampering => (
            "检测到异常操作，收钞已停止",
            "Tampering detected; notes are no longer taken",
        ),
        Notice::LimitReached => (
            "已达单笔充值上限，请点“投币完成”",
            "The limit is reached; press “Done”",
        ),
    };
    (zh.to_owned(), en.to_owned())
}

/// What the customer should do after a notice that ended the service.
fn what_to_do(notice: &Notice, has_reference: bool) -> (&'static str, &'static str) {
    match notice {
        Notice::ServiceUnavailable => (
            "请稍后再试，或到营业厅柜台办理。",
            "Please try again later, or go to the counter.",
        ),
        _ if has_reference => (
            "您的钱款已记录，请持流水号联系工作人员处理。",
            "Your money is recorded. Please show the reference to staff.",
        ),
        _ => (
            "请到营业厅柜台办理，或按“呼叫帮助”。",
            "Please go to the counter, or press “Call for help”.",
        ),
    }
}

pub(super) fn show(window: &KioskWindow, notice: &Notice, reference: Option<&str>) {
    let s = window.global::<SorryAdapter>();
    let (zh, en) = notice_words(notice);
    s.set_what(msg(&zh, &en));
    let (tzh, ten) = what_to_do(notice, reference.is_some());
    s.set_todo(msg(tzh, ten));
    s.set_reference(reference.unwrap_or_default().into());
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let (w, s) = (window.as_weak(), sink.clone());
    window.global::<SorryAdapter>().on_ok(move || {
        if let Some(w) = w.upgrade() {
            app::leave(&w, &s, Ui::Cancel, false);
        }
    });
}
