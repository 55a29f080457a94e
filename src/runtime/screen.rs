//! The contract between the runtime and the screen: what the runtime tells the screen
//! ([`ScreenUpdate`]) and what the screen tells the runtime ([`UiEvent`]). Nothing here knows
//! Slint; `crate::ui` binds it to the window, the demo to its scripted customers and PNGs,
//! tests to their simulated customer.

use crate::flow::{Screen, ServiceId, Ui};

/// Whether a service can be chosen now, and if not, why (shown on its greyed tile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available,
    /// Not built into this version yet.
    ComingSoon,
    /// Switched off by head office.
    DisabledByConfig,
    /// Something it needs is missing or down; the words for the customer.
    Unavailable {
        zh: String,
        en: String,
    },
}

/// A service tile on the home screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub service: ServiceId,
    pub availability: Availability,
}

/// Operator branding and the idle screen's banners (Chinese, English).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    pub operator_zh: String,
    pub operator_en: String,
    pub banners: Vec<(String, String)>,
}

impl Default for Branding {
    fn default() -> Self {
        Self::from_settings(&telekiosk_settings::Settings::default())
    }
}

impl Branding {
    pub fn from_settings(s: &telekiosk_settings::Settings) -> Self {
        Self {
            operator_zh: s.branding.operator_zh.clone(),
            operator_en: s.branding.operator_en.clone(),
            banners: s
                .branding
                .banners
                .iter()
                .map(|b| (b.zh.clone(), b.en.clone()))
                .collect(),
        }
    }
}

/// One reason the kiosk is out of service: polite words for the customer, the precise
/// cause for the technician.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub customer_zh: String,
    pub customer_en: String,
    pub technician: String,
}

/// The kiosk's state as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KioskStatus {
    /// Starting up: recovering, connecting devices.
    Starting,
    /// Serving customers (some tiles may be greyed).
    InService,
    /// Nothing can be served now.
    OutOfService { problems: Vec<Problem> },
    /// Locked by head office, with its message for customers.
    Locked { message: Option<String> },
    /// Outside business hours.
    Closed { opens: String },
    /// The kiosk is stopping (maintenance restart).
    Stopping,
}

impl KioskStatus {
    /// The short name in heartbeats and logs.
    pub fn name(&self) -> &'static str {
        match self {
            KioskStatus::Starting => "starting",
            KioskStatus::InService => "in_service",
            KioskStatus::OutOfService { .. } => "out_of_service",
            KioskStatus::Locked { .. } => "locked",
            KioskStatus::Closed { .. } => "closed",
            KioskStatus::Stopping => "stopping",
        }
    }
}

/// What the screen is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenUpdate {
    /// A session screen.
    Show(Screen),
    /// The session ends in `seconds_left` unless the customer touches; with money in
    /// (`money_fen` > 0) it will then be finished and credited, not cancelled.
    IdleWarning { seconds_left: u64, money_fen: u64 },
    /// The session is over: back to the idle screen, everything of it wiped.
    End,
    /// The kiosk's state changed.
    Status(KioskStatus),
    /// Which services the home screen offers now.
    Services(Vec<ServiceState>),
    /// The operator's name and the idle screen's banners (head office changed them).
    Branding(Branding),
    /// A frame of the camera while a live photo is taken (the screen shows it in the
    /// framing guide). Never stored; wiped when dropped.
    CameraPreview(Preview),
    /// The technician's screens (sign-in, service mode), over whatever the kiosk shows.
    Technician(TechScreen),
}

/// What a technician sees on the kiosk's own screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TechScreen {
    /// Choose your id, type your PIN. `ids`: the technicians the configuration knows.
    SignIn {
        ids: Vec<String>,
        notice: Option<SignInNotice>,
    },
    /// Service mode: the kiosk as the technician sees it, and what they can do.
    Panel(Box<TechPanel>),
    /// Closed: back to what customers see.
    Closed,
}

/// Why the sign-in screen asks again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInNotice {
    /// Wrong id or PIN; `left` more tries before the pad locks.
    WrongPin { left: u32 },
    /// Too many wrong PINs: the pad is locked for `seconds` more.
    Locked { seconds: u64 },
    /// The configuration names no technician: service mode only from a terminal.
    NoTechnicians,
    /// A customer is being served: sign in when they are done.
    CustomerPresent,
    /// The kiosk refused (e.g. it is stopping); the words say why.
    Refused(String),
}

/// The service-mode panel: status lines (no personal data) and the last action's outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TechPanel {
    pub technician: String,
    pub kiosk: String,
    /// "in_service", "out_of_service", …, and what keeps it out.
    pub state: String,
    pub problems: Vec<String>,
    pub devices: Vec<TechDevice>,
    /// Link, configuration and software in one line each.
    pub facts: Vec<String>,
    /// The cash box by value (yuan, count) and its total, as the journal counts it.
    pub cash_notes: Vec<(String, i64)>,
    pub cash_total: String,
    pub cards_in_stock: i64,
    pub cards_in_bin: i64,
    /// Counters and recent errors, one line each.
    pub counters: Vec<String>,
    pub errors: Vec<String>,
    /// An action under way (its name), while the buttons wait.
    pub busy: Option<String>,
    /// The last action's outcome.
    pub last: Option<TechOutcome>,
}

/// One device as the technician sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TechDevice {
    pub name: String,
    /// "ok", "warning", "fault", "offline", "not_fitted".
    pub state: String,
    pub detail: String,
}

/// What an action came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TechOutcome {
    pub action: String,
    pub ok: bool,
    pub text: String,
}

/// What a technician asks on the screen (each is the same request a terminal makes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TechAction {
    /// Leave the sign-in screen without signing in.
    Cancel,
    /// Status again.
    Refresh,
    TestReceipt,
    /// Accept a note into escrow and hand it back (never kept).
    TestNote,
    /// One blank card from the stacker to the reject bin, its ICCID read on the way.
    TestCard,
    TestIdCard,
    TestCamera,
    /// The box was emptied: close the period, print the slip.
    Clearance,
    /// Cards added, and whether the reject bin was emptied.
    Restock {
        added: u32,
        bin_emptied: bool,
    },
    /// Leave service mode.
    Exit,
}

/// A PIN on its way from the pad to the check: never printed, wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    pub fn new(digits: impl Into<String>) -> Self {
        Self(digits.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(***)")
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// A small RGB picture from the camera for the screen.
#[derive(Clone, PartialEq, Eq)]
pub struct Preview {
    pub width: u32,
    pub height: u32,
    /// `width × height × 3` bytes, row by row.
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for Preview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Preview({}×{})", self.width, self.height)
    }
}

impl Drop for Preview {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(self.rgb.as_mut_slice());
    }
}

/// What the screen tells the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiEvent {
    /// The customer chose a service.
    Start(ServiceId),
    /// A customer action within the session.
    Customer(Ui),
    /// The customer pressed "call for help" (also outside a session).
    CallHelp,
    /// The technician entry (the out-of-service screen's button, or the hidden corner).
    Technician,
    /// A technician signs in on the screen's PIN pad.
    TechnicianSignIn { id: String, pin: Pin },
    /// A technician's action on the service screens.
    TechnicianAction(TechAction),
}

fn notice_suffix(n: Option<&crate::flow::Notice>) -> String {
    n.map(|n| format!(" — {n:?}")).unwrap_or_default()
}

fn signed(fen: i64) -> String {
    let y = crate::flow::yuan(fen.unsigned_abs());
    if fen < 0 { format!("-{y}") } else { y }
}

/// One line for a log of what the screen shows (masked data only).
pub fn describe(update: &ScreenUpdate) -> String {
    use crate::flow::topup::Outcome;
    use crate::flow::yuan;
    match update {
        ScreenUpdate::Show(s) => match s {
            Screen::EnterNumber { notice, .. } => format!(
                "请输入手机号码 enter the number{}",
                notice
                    .as_ref()
                    .map(|n| format!(" — {n:?}"))
                    .unwrap_or_default()
            ),
            Screen::LookingUp { number_masked } => format!("查询中 looking up {number_masked}"),
            Screen::Confirm {
                number_masked,
                subscriber,
                max_fen,
                ..
            } => format!(
                "您办理的是 {number_masked}（{}）的话费充值，是吗？ balance {}; 本机不找零, up to {}",
                subscriber.owner_masked,
                if subscriber.balance_fen < 0 {
                    format!("-{}", yuan(subscriber.balance_fen.unsigned_abs()))
                } else {
                    yuan(subscriber.balance_fen.unsigned_abs())
                },
                yuan(*max_fen)
            ),
            Screen::Insert(v) => format!(
                "请放入纸币 insert notes: {} in, {} more allowed{}",
                yuan(v.total_fen),
                yuan(v.remaining_fen),
                v.notice
                    .as_ref()
                    .map(|n| format!(" — {n:?}"))
                    .unwrap_or_default()
            ),
            Screen::Processing { total_fen } => format!("正在充值 crediting {}", yuan(*total_fen)),
            Screen::Result {
                number_masked,
                amount_fen,
                outcome,
                reference,
                receipt,
                jammed,
            } => format!(
                "{} {number_masked} {} — ref {reference}, receipt {receipt:?}{}",
                match outcome {
                    Outcome::Credited { .. } => "充值成功 credited",
                    Outcome::Pending { .. } => "充值处理中 credit pending",
                    Outcome::Voucher { .. } => "退款凭条 refund voucher for",
                    Outcome::NothingTaken { .. } => "未充值 nothing credited",
                },
                yuan(*amount_fen),
                jammed
                    .map(|j| match j.fen {
                        Some(f) => format!(", jammed note {}", yuan(f)),
                        None => ", a note jammed".to_owned(),
                    })
                    .unwrap_or_default()
            ),
            Screen::Sorry { notice, reference } => {
                format!("抱歉 sorry: {notice:?} ref {reference:?}")
            }
            Screen::AuthChoose {
                service,
                number_masked,
                sms,
                id_card,
                sms_alone,
            } => format!(
                "请验证身份 verify {number_masked} for {}: password{}{}{}",
                service.id(),
                if *sms { " + SMS code" } else { "" },
                if *sms_alone { " or SMS code" } else { "" },
                if *id_card { " or ID card" } else { "" }
            ),
            Screen::Password {
                number_masked,
                notice,
                ..
            } => format!(
                "请输入服务密码 service password of {number_masked} (shuffled keypad){}",
                notice_suffix(notice.as_ref())
            ),
            Screen::SmsCode {
                number_masked,
                resend_in_s,
                notice,
            } => format!(
                "请输入短信验证码 SMS code sent to {number_masked} (again in {resend_in_s} s){}",
                notice_suffix(notice.as_ref())
            ),
            Screen::PlaceIdCard { notice } => format!(
                "请放置身份证 place the owner's ID card{}",
                notice_suffix(notice.as_ref())
            ),
            Screen::Working { what } => format!("请稍候 working: {what:?}"),
            Screen::Plans {
                number_masked,
                current,
                pending,
                options,
            } => format!(
                "套餐 {number_masked}: now {} ({}/月){}; may move to {}",
                current.name,
                yuan(current.monthly_fee_fen),
                pending
                    .as_ref()
                    .map(|(p, m)| format!(", {p} booked from {m}"))
                    .unwrap_or_default(),
                options
                    .iter()
                    .map(|o| format!("{} ({}/月)", o.plan.name, yuan(o.plan.monthly_fee_fen)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Screen::PlanConfirm {
                number_masked,
                change,
                current,
                effective_month,
            } => format!(
                "您办理的是 {number_masked} 由{}变更为{}，{effective_month}起生效，是吗？",
                current.name, change.plan.name
            ),
            Screen::PlanDone {
                number_masked,
                from,
                to,
                effective_month,
                outcome,
                reference,
                receipt,
            } => format!(
                "{} {number_masked} {from} → {to} from {effective_month} — ref {reference}, receipt {receipt:?}",
                match outcome {
                    crate::flow::screen::PlanOutcome::Changed { .. } => "办理成功 changed",
                    crate::flow::screen::PlanOutcome::Unconfirmed => "待确认 unconfirmed",
                }
            ),
            Screen::Refused {
                service,
                notice,
                offer,
            } => format!(
                "不能办理 {} refused: {notice:?}{}",
                service.id(),
                offer
                    .map(|o| format!("; offers {}", o.id()))
                    .unwrap_or_default()
            ),
            Screen::BillMenu {
                number_masked,
                month,
                notice,
                ..
            } => format!(
                "账单查询 {number_masked} {month}{}",
                notice_suffix(notice.as_ref())
            ),
            Screen::Bill {
                month, total_fen, ..
            } => format!("账单 bill {month}: total {}", signed(*total_fen)),
            Screen::Records {
                month,
                kind,
                page,
                pages,
                total,
                rows,
            } => format!(
                "详单 records {month} {kind}: page {page}/{pages}, {} of {total} rows",
                rows.len()
            ),
            Screen::Invoice {
                month, total_fen, ..
            } => format!("发票信息 invoice {month}: {}", signed(*total_fen)),
            Screen::PrintPreview {
                what,
                pages,
                length_cm,
                can_print,
                notice,
            } => format!(
                "打印预览 {what:?}: {pages} page(s), about {length_cm} cm{}{}",
                if *can_print { "" } else { ", cannot print now" },
                notice_suffix(notice.as_ref())
            ),
            Screen::PrintDone {
                what,
                printed,
                pages,
                reference,
            } => format!("打印 {what:?}: {printed} of {pages} printed — ref {reference}"),
            Screen::SimIntro { service, fee_fen } => format!(
                "{} — 请准备身份证，需要拍摄现场照片，费用 {}，本机不找零",
                service.id(),
                yuan(*fee_fen)
            ),
            Screen::FaceConsent { service } => {
                format!(
                    "人脸识别单独同意 face recognition consent for {}",
                    service.id()
                )
            }
            Screen::FaceCapture {
                guidance,
                attempt,
                notice,
            } => format!(
                "拍摄现场照片 live photo (try {attempt}): {guidance:?}{}",
                notice_suffix(notice.as_ref())
            ),
            Screen::Numbers {
                numbers,
                search,
                notice,
            } => format!(
                "选号 numbers{}: {}{}",
                if search.is_empty() {
                    String::new()
                } else {
                    format!(" with {search}")
                },
                numbers
                    .iter()
                    .take(6)
                    .map(|n| format!("{}{}", n.msisdn, if n.premium { "*" } else { "" }))
                    .collect::<Vec<_>>()
                    .join(" "),
                notice_suffix(notice.as_ref())
            ),
            Screen::JoinPlans {
                msisdn,
                hold_s,
                plans,
                ..
            } => format!(
                "选择套餐 plans for {msisdn} (held {hold_s} s): {}",
                plans
                    .iter()
                    .map(|p| format!(
                        "{} first month {}",
                        p.plan.name,
                        yuan(p.first_month_fee_fen)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Screen::Agreement { version, .. } => format!("入网服务协议 agreement {version}"),
            Screen::SimConfirm {
                service,
                number,
                plan_name,
                due_fen,
                ..
            } => format!(
                "您办理的是 {number} 的{}{}，应付 {}，是吗？",
                service.id(),
                plan_name
                    .as_ref()
                    .map(|p| format!("（{p}）"))
                    .unwrap_or_default(),
                yuan(*due_fen)
            ),
            Screen::Issuing {
                step,
                attempt,
                attempts,
            } => format!("正在制卡 issuing: {step:?} (card {attempt} of at most {attempts})"),
            Screen::TakeCard { seconds } => format!("请取走您的SIM卡 take the card ({seconds} s)"),
            Screen::ReregisterConfirm {
                number_masked,
                name_masked,
                id_masked,
            } => format!("实名补登记 {number_masked}: {name_masked} {id_masked}，是吗？"),
            Screen::LossConfirm {
                action,
                number_masked,
                owner_masked,
            } => format!("{action:?} {number_masked} ({owner_masked})，是吗？"),
            Screen::PinFaces {
                faces_fen,
                valid_days,
            } => format!(
                "充值卡 recharge cards: {} (valid {valid_days} days)",
                faces_fen
                    .iter()
                    .map(|f| yuan(*f))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Screen::HeldNumbers {
                name_masked,
                id_masked,
                numbers,
                limit,
                advice,
                receipt,
            } => format!(
                "名下号码 {name_masked} {id_masked}: {} of {limit}{}{}{}",
                numbers
                    .iter()
                    .map(|n| format!("{} {:?}", n.number_masked, n.status))
                    .collect::<Vec<_>>()
                    .join(", "),
                if numbers.is_empty() { "none" } else { "" },
                if *advice {
                    " — advice to go to the counter"
                } else {
                    ""
                },
                receipt
                    .as_ref()
                    .map(|r| format!(", slip {r:?}"))
                    .unwrap_or_default()
            ),
            Screen::SimDone {
                service,
                number_masked,
                outcome,
                reference,
                receipt,
            } => format!(
                "{} {number_masked}: {outcome:?} — ref {reference}, receipt {receipt:?}",
                service.id()
            ),
        },
        ScreenUpdate::IdleWarning {
            seconds_left,
            money_fen,
        } => format!(
            "还在吗？ still there? {seconds_left} s{}",
            if *money_fen > 0 {
                format!(" (then {} is credited)", yuan(*money_fen))
            } else {
                String::new()
            }
        ),
        ScreenUpdate::End => "session over: idle".into(),
        ScreenUpdate::Status(s) => format!("kiosk {}", s.name()),
        ScreenUpdate::Services(list) => format!(
            "home: {}",
            list.iter()
                .map(|s| format!(
                    "{}{}",
                    s.service.id(),
                    match &s.availability {
                        Availability::Available => String::new(),
                        Availability::ComingSoon => " (soon)".into(),
                        Availability::DisabledByConfig => " (off)".into(),
                        Availability::Unavailable { en, .. } => format!(" ({en})"),
                    }
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ScreenUpdate::Branding(b) => format!("branding: {}", b.operator_en),
        ScreenUpdate::CameraPreview(p) => format!("camera preview {}×{}", p.width, p.height),
        ScreenUpdate::Technician(t) => match t {
            TechScreen::SignIn { ids, notice } => format!(
                "维护登录 technician sign-in ({} ids){}",
                ids.len(),
                notice
                    .as_ref()
                    .map(|n| format!(" — {n:?}"))
                    .unwrap_or_default()
            ),
            TechScreen::Panel(p) => format!(
                "维护模式 service panel: technician {}, {}{}{}",
                p.technician,
                p.state,
                p.busy
                    .as_ref()
                    .map(|b| format!(", running {b}"))
                    .unwrap_or_default(),
                p.last
                    .as_ref()
                    .map(|l| format!(
                        " — {} {}: {}",
                        l.action,
                        if l.ok { "ok" } else { "NOT ok" },
                        l.text
                    ))
                    .unwrap_or_default()
            ),
            TechScreen::Closed => "维护界面关闭 technician screens closed".into(),
        },
    }
}
