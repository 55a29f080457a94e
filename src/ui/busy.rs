//! Waiting screens: looking up the number; processing the top-up; a session waiting for
//! the operator or a device (`Working`).

use slint::ComponentHandle;

use super::generated::BusyAdapter;
use super::{KioskWindow, msg};
use crate::flow::screen::Working;
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

/// What the kiosk is waiting for, in words (title, detail), and the step of the journey
/// it belongs to (`None`: the step already shown).
fn working_words(what: Working) -> ((String, String), (&'static str, &'static str), Option<i32>) {
    let s = |zh: &str, en: &str| (zh.to_owned(), en.to_owned());
    let ask = (
        "正在向业务系统查询，请稍候",
        "Asking the operator, please wait",
    );
    match what {
        Working::Verifying => (s("正在验证……", "Checking…"), ask, Some(3)),
        Working::SendingCode => (
            s("正在发送短信验证码……", "Sending the SMS code…"),
            ("请留意您的手机短信", "Watch your phone for the message"),
            Some(3),
        ),
        Working::ReadingIdCard => (
            s("正在读取身份证……", "Reading the ID card…"),
            ("读卡时请不要移动身份证", "Please do not move the card"),
            Some(3),
        ),
        Working::LoadingPlans => (
            s("正在查询可办理的套餐……", "Finding the plans open to you…"),
            ask,
            Some(4),
        ),
        Working::ChangingPlan => (
            s("正在为您办理套餐变更……", "Changing your plan…"),
            (
                "请勿离开，完成后将打印业务受理回执",
                "Please stay; a receipt follows",
            ),
            Some(6),
        ),
        Working::LoadingBill => (s("正在查询账单……", "Fetching the bill…"), ask, Some(5)),
        Working::LoadingRecords => (s("正在查询详单……", "Fetching the records…"), ask, Some(5)),
        Working::LoadingInvoice => (s("正在查询发票……", "Fetching the invoice…"), ask, Some(5)),
        Working::Printing { page, pages } => (
            (
                format!("正在打印第 {page} / {pages} 张……"),
                format!("Printing slip {page} of {pages}…"),
            ),
            (
                "请逐张取走打印的单据",
                "Please take each slip as it comes out",
            ),
            Some(6),
        ),
        Working::CheckingId => (s("正在核验身份……", "Checking your ID…"), ask, None),
        Working::ComparingFace => (s("正在比对人像……", "Comparing your photo…"), ask, None),
        Working::LoadingNumbers => (s("正在查询可选号码……", "Finding numbers…"), ask, None),
        Working::ReservingNumber => (
            s("正在为您预占号码……", "Holding the number for you…"),
            ask,
            None,
        ),
        Working::LoadingJoinPlans => (s("正在查询套餐……", "Finding plans…"), ask, None),
        Working::Ordering => (
            s("正在提交订单……", "Placing the order…"),
            ("请勿离开", "Please stay"),
            None,
        ),
        Working::Registering => (
            s("正在登记……", "Registering…"),
            ("请勿离开", "Please stay"),
            None,
        ),
        Working::ReportingLoss => (
            s("正在为您挂失……", "Reporting the loss…"),
            (
                "请勿离开，完成后将打印业务受理回执",
                "Please stay; a receipt follows",
            ),
            None,
        ),
        Working::LiftingLoss => (
            s("正在为您解挂……", "Lifting the loss report…"),
            (
                "请勿离开，完成后将打印业务受理回执",
                "Please stay; a receipt follows",
            ),
            None,
        ),
        Working::LoadingPinFaces => (s("正在查询充值卡……", "Finding recharge cards…"), ask, None),
        Working::SellingPin => (
            s("正在出售充值卡……", "Issuing your recharge card…"),
            (
                "请勿离开，充值卡将打印出来",
                "Please stay; the card is printed",
            ),
            None,
        ),
        Working::VoidingPin => (
            s(
                "充值卡未能交给您，正在作废……",
                "The card did not reach you; voiding it…",
            ),
            (
                "您的钱款已记录，将打印退款凭条",
                "Your money is recorded; a refund voucher follows",
            ),
            None,
        ),
        Working::LoadingHeld => (
            s(
                "正在查询您名下的号码……",
                "Finding the numbers under your ID…",
            ),
            ask,
            None,
        ),
    }
}

/// The busy screen of a session, at the step it belongs to.
pub(super) fn show_working(window: &KioskWindow, what: Working) {
    let ((zh, en), (dzh, den), step) = working_words(what);
    let b = window.global::<BusyAdapter>();
    b.set_title(msg(&zh, &en));
    b.set_detail(msg(dzh, den));
    b.set_amount("".into());
    let app = window.global::<super::AppAdapter>();
    let step = step.unwrap_or_else(|| app.get_step());
    let name = app.get_step_name();
    let (szh, sen) = match step {
        3 => ("验证身份".to_owned(), "Prove it is you".to_owned()),
        4 => ("选择".to_owned(), "Choose".to_owned()),
        5 => ("查看与确认".to_owned(), "View and confirm".to_owned()),
        6 => ("办理结果".to_owned(), "Result".to_owned()),
        _ => (name.zh.to_string(), name.en.to_string()),
    };
    super::app::go_at(window, super::Page::Working, step, &szh, &sen);
}
