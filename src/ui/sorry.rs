//! Sorry: what happened, what to do, the reference for staff. Also words every notice.

use slint::ComponentHandle;

use super::generated::SorryAdapter;
use super::{KioskWindow, Sink, Ui, app, msg};
use crate::flow::Notice;
use crate::flow::yuan;

/// A notice in Chinese and English.
pub fn notice_words(notice: &Notice) -> (String, String) {
    let (zh, en) = match notice {
        Notice::InvalidNumber { digits } if *digits == 11 => (
            "这不是有效的手机号码（手机号码以 13–19 开头），请点“显示号码”核对",
            "That is not a mobile number (they start with 13 to 19); tap “Show digits” to check it",
        ),
        Notice::InvalidNumber { .. } => (
            "请输入 11 位手机号码",
            "Please enter an 11-digit mobile number",
        ),
        Notice::NumberNotFound => (
            "未查到该号码，请点“显示号码”核对，改正后再确认",
            "This number was not found; tap “Show digits” to check it, correct it and confirm",
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
            "这张纸币未能识别，已退回，请取回后换一张",
            "That note could not be read; please take it back and try another",
        ),
        Notice::NoteNotAccepted => (
            "本机不收这种面额的纸币，已退回，请取回并改用本机接受的面额",
            "This kiosk does not take notes of that value; it was handed back. Please use one of the notes shown",
        ),
        Notice::Jammed { fen: Some(fen) } => {
            return (
                format!(
                    "一张 {} 纸币卡住了，已放入的钱款已记录，卡住的纸币将由工作人员处理",
                    yuan(*fen)
                ),
                format!(
                    "A {} note is stuck; money already in is recorded and staff will settle the stuck note",
                    yuan(*fen)
                ),
            );
        }
        Notice::Jammed { fen: None } => (
            "入钞口卡钞，已放入的钱款已记录",
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
            "已达单笔充值上限，正在为您充值",
            "The limit is reached; topping up now",
        ),
        Notice::Stopping => (
            "本机即将维护重启，不再收钞，正在为您完成本次业务",
            "The kiosk is restarting for maintenance; finishing your top-up",
        ),
        Notice::WrongPassword {
            tries_left: Some(n),
        } => {
            return (
                format!("服务密码不正确，还可以再试 {n} 次"),
                format!("The service password is wrong; {n} tries left"),
            );
        }
        Notice::WrongPassword { tries_left: None } => (
            "服务密码不正确，请重新输入",
            "The service password is wrong; please try again",
        ),
        Notice::WrongCode {
            tries_left: Some(n),
        } => {
            return (
                format!("短信验证码不正确，还可以再试 {n} 次"),
                format!("The SMS code is wrong; {n} tries left"),
            );
        }
        Notice::WrongCode { tries_left: None } => (
            "短信验证码不正确，请重新输入",
            "The SMS code is wrong; please try again",
        ),
        Notice::CodeExpired => (
            "验证码已过期，请点“重新发送”获取新的验证码",
            "The code has expired; tap “Send again” for a new one",
        ),
        Notice::AuthLocked { until_ms: Some(ms) } => {
            let at = crate::receipts::shop_time(*ms);
            let hm = at.get(11..16).unwrap_or(&at).to_owned();
            return (
                format!("输错次数过多，验证已锁定至 {hm}。可凭本人身份证到柜台办理"),
                format!(
                    "Too many wrong tries: locked until {hm}. The counter can help with your ID card"
                ),
            );
        }
        Notice::AuthLocked { until_ms: None } => (
            "输错次数过多，验证已锁定。可凭本人身份证到柜台办理",
            "Too many wrong tries: verification is locked. The counter can help with your ID card",
        ),
        Notice::AuthExpired => (
            "验证已超时，请重新验证",
            "The verification has timed out; please verify again",
        ),
        Notice::IdMismatch => (
            "该身份证不是此号码的登记机主",
            "This ID card is not the registered owner's",
        ),
        Notice::IdExpired => (
            "身份证已过有效期，请使用有效证件",
            "This ID card has expired; please use a valid one",
        ),
        Notice::NoCard => (
            "未检测到身份证，请拿起身份证，再平放在感应区",
            "No ID card was found: lift it and lay it flat on the reader again",
        ),
        Notice::CardUnreadable => (
            "身份证读取失败，请拿起后重新平放，读卡时不要移动",
            "The card could not be read; lift it, lay it flat again and hold still",
        ),
        Notice::CardNotServed => (
            "本机暂不受理此类证件，请到营业厅柜台办理",
            "This kiosk does not take this kind of card; please go to the counter",
        ),
        Notice::Arrears { fen: 0 } => (
            "该号码有欠费，请先缴清欠费再办理",
            "This number owes money; please pay it first",
        ),
        Notice::Arrears { fen } => {
            return (
                format!("该号码欠费 {}，请先缴清欠费再办理", yuan(*fen)),
                format!("This number owes {}; please pay it first", yuan(*fen)),
            );
        }
        Notice::FrozenPeriod => (
            "每月1日至5日为出账期，暂停办理套餐变更，请于6日后再来",
            "Plans cannot be changed on the 1st to 5th (billing); please come back from the 6th",
        ),
        Notice::PlanNotEligible => (
            "该套餐暂不对您的号码开放，请选择其他套餐",
            "That plan is not open to your number; please choose another",
        ),
        Notice::NothingForMonth => (
            "该月份暂无数据，请选择其他月份",
            "Nothing for that month; please choose another",
        ),
        Notice::PaperLowForLongPrint { pages } => {
            return (
                format!(
                    "打印纸即将用完，{pages} 页的长单据可能打印不完整，本次不打印。可在屏幕上查看，或到柜台打印"
                ),
                format!(
                    "Paper is low: a {pages}-page print might stop halfway, so it is not printed. Read it on screen, or ask at the counter"
                ),
            );
        }
        Notice::PrinterUnavailable => (
            "打印机暂时无法打印，可在屏幕上查看",
            "The printer cannot print now; you can read it on screen",
        ),
        Notice::UnderAge => (
            "未满16周岁不能自助开户，请在监护人陪同下到营业厅柜台办理",
            "Under 16s cannot open a number here; please come to the counter with a guardian",
        ),
        Notice::IdInvalid => (
            "身份证号码校验未通过，请到营业厅柜台办理",
            "This ID number does not check out; please go to the counter",
        ),
        Notice::IdLimitReached {
            held: Some(h),
            limit: Some(l),
        } => {
            return (
                format!(
                    "您的身份证名下已有 {h} 个号码，已达上限 {l} 个（一证五号），不能再办理新号码"
                ),
                format!(
                    "Your ID already holds {h} numbers, the most allowed ({l}); no new number can be opened"
                ),
            );
        }
        Notice::IdLimitReached { .. } => (
            "您的身份证名下号码已达上限（一证五号），不能再办理新号码",
            "Your ID already holds the most numbers allowed; no new number can be opened",
        ),
        Notice::Blacklisted => (
            "该证件暂不能在自助终端办理此业务，请到营业厅柜台咨询",
            "This ID cannot be served at the kiosk; please ask at the counter",
        ),
        Notice::FaceMismatch => (
            "现场照片与身份证照片比对未通过，请本人持证办理",
            "The photo does not match the ID card; the card's holder must come in person",
        ),
        Notice::FacePoorQuality => (
            "照片不够清晰，请正对摄像头，摘下帽子和口罩，再拍一次",
            "The photo was not clear enough; face the camera without hat or mask and try again",
        ),
        Notice::NotLive => (
            "未能完成活体检测，请按提示缓慢转头后再正对摄像头",
            "The live check did not pass; turn your head slowly as shown, then face the camera",
        ),
        Notice::ConsentDeclined => (
            "您未同意人脸识别，本机未拍摄任何照片。请到营业厅柜台人工办理",
            "You did not agree to face recognition; no photo was taken. The counter can serve you",
        ),
        Notice::CameraUnavailable => (
            "摄像头暂时无法使用，请到营业厅柜台办理",
            "The camera is not working; please go to the counter",
        ),
        Notice::NoStock => (
            "本机SIM卡已发完，请到营业厅柜台办理",
            "No blank SIM cards left; please go to the counter",
        ),
        Notice::DispenserFault => (
            "发卡设备故障，已通知工作人员",
            "The card dispenser has a fault; staff have been told",
        ),
        Notice::ReservationExpired => (
            "号码预占已超时，请重新选号",
            "The number's hold ran out; please choose again",
        ),
        Notice::NumberUnavailable => (
            "该号码已被选走，请另选一个",
            "That number was just taken; please choose another",
        ),
        Notice::NoNumbersFound => (
            "没有找到含这些数字的号码，请换几个数字",
            "No number has those digits; try others",
        ),
        Notice::NumberClosed => (
            "该号码已销户，无法办理",
            "This number is closed; nothing can be done to it",
        ),
        Notice::AlreadyReported => (
            "该号码已经挂失停机，原卡不能使用。如需继续使用号码，请补办新卡",
            "This number is already reported lost and its SIM blocked; get a replacement SIM to use it again",
        ),
        Notice::PinSoldOut => (
            "本机暂时不能出售充值卡，请到营业厅柜台购买",
            "No recharge card can be sold here now; the counter sells them",
        ),
        Notice::NotReported => (
            "该号码没有挂失，无需解挂",
            "This number is not reported lost; there is nothing to lift",
        ),
    };
    (zh.to_owned(), en.to_owned())
}

/// What the customer should do after a notice that ended the service.
pub(super) fn what_to_do(notice: &Notice, has_reference: bool) -> (&'static str, &'static str) {
    match notice {
        Notice::ServiceUnavailable => (
            "请稍后再试，或到营业厅柜台办理。",
            "Please try again later, or go to the counter.",
        ),
        Notice::AuthLocked { .. }
        | Notice::IdMismatch
        | Notice::CardNotServed
        | Notice::FaceMismatch
        | Notice::ConsentDeclined
        | Notice::Blacklisted
        | Notice::IdInvalid => (
            "请携带本人有效身份证到营业厅柜台办理。",
            "Please bring your own valid ID card to the counter.",
        ),
        // A sorry screen never comes with money in (that ends on the result screen);
        // the reference is for staff to look the session up.
        _ if has_reference => (
            "本次没有收取钱款。如有疑问，请联系工作人员。",
            "No money was taken. If anything is unclear, please ask staff.",
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
