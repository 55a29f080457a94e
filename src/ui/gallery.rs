//! Every screen with sample data: for the screenshot test, the benchmark and the demo.

use super::{Availability, KioskStatus, Problem, ServiceState, View, default_services};
use crate::flow::screen::{
    CashPurpose, CashView, PlanOption, PlanOutcome, PlanView, PrintWhat, ReceiptState, RecordRow,
    TypedNumber, Working,
};
use crate::flow::topup::{AccountStatus, Outcome, Subscriber};
use crate::flow::{Notice, Screen, ServiceId};

/// A camera picture for the live-photo screen's sample: the camera simulator's portrait
/// (synthetic, committed with the camera crate).
pub fn sample_camera_picture() -> crate::runtime::screen::Preview {
    let portrait = camera::sim::scene::portrait();
    crate::runtime::screen::Preview {
        width: portrait.width(),
        height: portrait.height(),
        rgb: portrait.into_raw(),
    }
}

/// The note screen of a top-up of `number_masked` with `total_fen` in.
pub fn sample_insert(
    number_masked: &str,
    total_fen: u64,
    max_fen: u64,
    notice: Option<Notice>,
) -> Screen {
    Screen::Insert(CashView {
        purpose: CashPurpose::TopUp {
            number_masked: number_masked.into(),
        },
        total_fen,
        remaining_fen: max_fen.saturating_sub(total_fen),
        due_fen: None,
        accept_fen: vec![1000, 2000, 5000, 10000],
        notice,
        can_finish: total_fen > 0,
        busy: false,
    })
}

fn plan(id: &str, name: &str, fee_yuan: u64, gb: u32, min: u32, sms: u32) -> PlanView {
    PlanView {
        id: id.into(),
        name: name.into(),
        monthly_fee_fen: fee_yuan * 100,
        data_mb: gb * 1024,
        voice_min: min,
        sms,
        features: if fee_yuan >= 88 {
            vec!["来电显示".into(), "5G优享".into()]
        } else {
            vec!["来电显示".into()]
        },
    }
}

/// The plan change screens with sample data: the plans (current P58), the confirmation of
/// P88, the result.
fn plan_screens(number: &str) -> Vec<(&'static str, View)> {
    let current = plan("P58", "全球通58元套餐", 58, 10, 300, 100);
    let options: Vec<PlanOption> = [
        plan("P38", "全球通38元套餐", 38, 5, 200, 50),
        plan("P88", "全球通88元套餐", 88, 20, 500, 100),
        plan("P128", "全球通128元套餐", 128, 40, 800, 200),
    ]
    .iter()
    .map(|p| PlanOption::compare(&current, p))
    .collect();
    vec![
        (
            "31-plans",
            View::Session(Screen::Plans {
                number_masked: number.into(),
                current: current.clone(),
                pending: None,
                options: options.clone(),
            }),
        ),
        (
            "32-plan-confirm",
            View::Session(Screen::PlanConfirm {
                number_masked: number.into(),
                change: options[1].clone(),
                current: current.clone(),
                effective_month: "2026-12".into(),
            }),
        ),
        (
            "33-plan-done",
            View::Session(Screen::PlanDone {
                number_masked: number.into(),
                from: current.name.clone(),
                to: options[1].plan.name.clone(),
                effective_month: "2026-12".into(),
                outcome: PlanOutcome::Changed {
                    operator_ref: "B20261120000456".into(),
                },
                reference: "K01-20261120-0011".into(),
                receipt: ReceiptState::Printed,
            }),
        ),
        (
            "34-refused-arrears",
            View::Session(Screen::Refused {
                service: ServiceId::PlanChange,
                notice: Notice::Arrears { fen: 2_350 },
                offer: Some(ServiceId::TopUp),
            }),
        ),
        (
            "35-refused-frozen",
            View::Session(Screen::Refused {
                service: ServiceId::PlanChange,
                notice: Notice::FrozenPeriod,
                offer: None,
            }),
        ),
    ]
}

/// The bill screens with sample data.
fn bill_screens(number: &str) -> Vec<(&'static str, View)> {
    let months: Vec<String> = (5..=10).rev().map(|m| format!("2026-{m:02}")).collect();
    let rows: Vec<RecordRow> = (0..10)
        .map(|i| RecordRow {
            at: format!("10-{:02} {:02}:{:02}", 3 + i, 8 + i, (i * 7) % 60),
            kind: "call".into(),
            outgoing: i % 3 != 0,
            counterpart_masked: format!("13{}****{:04}", 5 + i % 5, 1234 + i * 111),
            duration_s: 35 + 47 * i,
            volume_kb: 0,
            location: "北京".into(),
            fee_fen: i64::from(i % 4) * 15,
        })
        .collect();
    let records = PrintWhat::Records {
        month: "2026-10".into(),
        kind: "call".into(),
    };
    vec![
        (
            "41-bill-menu",
            View::Session(Screen::BillMenu {
                number_masked: number.into(),
                months: months.clone(),
                month: months[0].clone(),
                notice: None,
            }),
        ),
        (
            "42-bill-menu-nothing",
            View::Session(Screen::BillMenu {
                number_masked: number.into(),
                months: months.clone(),
                month: months[5].clone(),
                notice: Some(Notice::NothingForMonth),
            }),
        ),
        (
            "43-bill",
            View::Session(Screen::Bill {
                month: "2026-10".into(),
                plan_name: "全球通58元套餐".into(),
                items: vec![
                    ("套餐月费".into(), 5_800),
                    ("套餐外语音通话费".into(), 360),
                    ("套餐外上网费".into(), 500),
                    ("增值业务费".into(), 300),
                ],
                total_fen: 6_960,
                paid_fen: 6_960,
                due_fen: 0,
            }),
        ),
        (
            "44-records",
            View::Session(Screen::Records {
                month: "2026-10".into(),
                kind: "call".into(),
                page: 2,
                pages: 10,
                total: 95,
                rows,
            }),
        ),
        (
            "45-invoice",
            View::Session(Screen::Invoice {
                month: "2026-10".into(),
                invoice_no: "26110000000012345678".into(),
                payer_masked: "王**".into(),
                items: vec![
                    ("*电信服务*基础电信服务".into(), 6_000),
                    ("*电信服务*增值电信服务".into(), 960),
                ],
                total_fen: 6_960,
                tax_fen: 598,
            }),
        ),
        (
            "46-print-preview",
            View::Session(Screen::PrintPreview {
                what: records.clone(),
                pages: 3,
                length_cm: 96,
                can_print: true,
                notice: None,
            }),
        ),
        (
            "47-print-preview-paper-low",
            View::Session(Screen::PrintPreview {
                what: records.clone(),
                pages: 3,
                length_cm: 96,
                can_print: false,
                notice: Some(Notice::PaperLowForLongPrint { pages: 3 }),
            }),
        ),
        (
            "48-print-done",
            View::Session(Screen::PrintDone {
                what: records.clone(),
                printed: 3,
                pages: 3,
                reference: "K01-20261120-0012".into(),
            }),
        ),
        (
            "49-print-stopped",
            View::Session(Screen::PrintDone {
                what: records,
                printed: 1,
                pages: 3,
                reference: "K01-20261120-0012".into(),
            }),
        ),
    ]
}

/// The real-name services' steps with sample data (a new SIM, then a re-registration).
fn sim_screens() -> Vec<(&'static str, View)> {
    use crate::flow::devices::FaceGuidance;
    use crate::flow::screen::{IssueStep, JoinPlan, PoolNumberView, SimOutcome};
    let numbers: Vec<PoolNumberView> = (0..12u64)
        .map(|i| PoolNumberView {
            msisdn: format!("1390000{:04}", 1000 + i * 137),
            premium: i % 5 == 4,
            min_plan_fee_fen: if i % 5 == 4 { 8_800 } else { 0 },
        })
        .collect();
    let join = |id: &str, name: &str, fee: u64| JoinPlan {
        plan: plan(id, name, fee, u32::try_from(fee / 4).unwrap_or(0), 300, 100),
        pro_rata: false,
        first_month_fee_fen: fee * 50,
    };
    vec![
        (
            "51-sim-intro",
            View::Session(Screen::SimIntro {
                service: ServiceId::NewSim,
                fee_fen: 1_000,
            }),
        ),
        (
            "52-face-consent",
            View::Session(Screen::FaceConsent {
                service: ServiceId::NewSim,
            }),
        ),
        (
            "53-face-capture",
            View::Session(Screen::FaceCapture {
                guidance: FaceGuidance::TurnHead,
                attempt: 2,
                notice: Some(Notice::FacePoorQuality),
            }),
        ),
        (
            "54-numbers",
            View::Session(Screen::Numbers {
                numbers,
                search: String::new(),
                notice: None,
            }),
        ),
        (
            "54-numbers-searched",
            View::Session(Screen::Numbers {
                numbers: Vec::new(),
                search: "8888".into(),
                notice: Some(Notice::NoNumbersFound),
            }),
        ),
        (
            "55-join-plans",
            View::Session(Screen::JoinPlans {
                msisdn: "13900001137".into(),
                hold_s: 540,
                plans: vec![
                    join("P18", "全球通18元套餐", 18),
                    join("P38", "全球通38元套餐", 38),
                    join("P58", "全球通58元套餐", 58),
                    join("P88", "全球通88元套餐", 88),
                ],
                card_fee_fen: 1_000,
            }),
        ),
        (
            "56-agreement",
            View::Session(Screen::Agreement {
                version: crate::flow::sim::AGREEMENT_VERSION.into(),
                hold_s: 480,
            }),
        ),
        (
            "57-sim-confirm",
            View::Session(Screen::SimConfirm {
                service: ServiceId::NewSim,
                number: "13900001137".into(),
                plan_name: Some("全球通38元套餐".into()),
                card_fee_fen: 1_000,
                first_month_fee_fen: 1_900,
                due_fen: 2_900,
                excess_to_balance: true,
                hold_s: Some(420),
            }),
        ),
        (
            "58-issuing",
            View::Session(Screen::Issuing {
                step: IssueStep::Writing,
                attempt: 2,
                attempts: 3,
            }),
        ),
        (
            "59-take-card",
            View::Session(Screen::TakeCard { seconds: 30 }),
        ),
        (
            "60-reregister-confirm",
            View::Session(Screen::ReregisterConfirm {
                number_masked: "138****0005".into(),
                name_masked: "王**".into(),
                id_masked: "110101********123X".into(),
            }),
        ),
        (
            "61-sim-done",
            View::Session(Screen::SimDone {
                service: ServiceId::NewSim,
                number_masked: "139****1137".into(),
                outcome: SimOutcome::Issued {
                    taken: true,
                    iccid_tail: "4321".into(),
                    operator_ref: "B20261120000789".into(),
                },
                reference: "K01-20261120-0013".into(),
                receipt: ReceiptState::Printed,
            }),
        ),
    ]
}

/// Every view the kiosk can show, each with a file-friendly name, in journey order.
pub fn gallery() -> Vec<(&'static str, View)> {
    let number = "138****1234".to_string();
    let accept = vec![1000, 2000, 5000, 10000];
    let keypad = |notice, typed: &str| Screen::EnterNumber {
        service: ServiceId::TopUp,
        notice,
        typed: TypedNumber::new(typed),
    };
    let insert = |total_fen, notice| sample_insert(&number, total_fen, 50_000, notice);
    let paper_out = {
        let mut s = default_services();
        s[0] = ServiceState {
            service: ServiceId::TopUp,
            availability: Availability::Unavailable {
                zh: "凭条打印机缺纸".into(),
                en: "The receipt printer is out of paper".into(),
            },
        };
        s
    };
    let result = |amount_fen, outcome, receipt, jammed| {
        View::Session(Screen::Result {
            number_masked: number.clone(),
            amount_fen,
            outcome,
            reference: "K01-20261122-0007".into(),
            receipt,
            jammed,
        })
    };
    vec![
        ("01-idle", View::Idle),
        ("02-home", View::Home),
        (
            "03-home-unavailable",
            View::Unavailable {
                services: paper_out,
                tapped: ServiceId::TopUp,
            },
        ),
        ("04-keypad", View::Session(keypad(None, ""))),
        (
            "05-keypad-not-found",
            View::Session(keypad(Some(Notice::NumberNotFound), "13800001234")),
        ),
        (
            "06-keypad-digits-shown",
            View::DigitsShown(keypad(Some(Notice::NumberNotFound), "13800001234")),
        ),
        (
            "07-keypad-invalid",
            View::Session(keypad(
                Some(Notice::InvalidNumber { digits: 11 }),
                "12800001234",
            )),
        ),
        (
            "08-looking-up",
            View::Session(Screen::LookingUp {
                number_masked: number.clone(),
            }),
        ),
        (
            "09-confirm",
            View::Session(Screen::Confirm {
                number_masked: number.clone(),
                subscriber: Subscriber {
                    owner_masked: "*小明".into(),
                    status: AccountStatus::Suspended,
                    prepaid: true,
                    balance_fen: -350,
                    arrears_fen: 350,
                    reported_lost: false,
                },
                accept_fen: accept.clone(),
                max_fen: 50_000,
            }),
        ),
        ("10-insert-first", View::Session(insert(0, None))),
        (
            "11-insert",
            View::Session(insert(15_000, Some(Notice::NoteNotAccepted))),
        ),
        (
            "12-processing",
            View::Session(Screen::Processing { total_fen: 15_000 }),
        ),
        (
            "13-result",
            result(
                15_000,
                Outcome::Credited {
                    boss_ref: "B20261122000123".into(),
                    new_balance_fen: Some(14_650),
                },
                ReceiptState::Printed,
                None,
            ),
        ),
        (
            "14-result-pending",
            result(
                5_000,
                Outcome::Pending {
                    reason: "no answer".into(),
                },
                ReceiptState::NotPrinted,
                None,
            ),
        ),
        (
            "15-result-jam",
            result(
                2_000,
                Outcome::Credited {
                    boss_ref: "B20261122000124".into(),
                    new_balance_fen: Some(7_000),
                },
                ReceiptState::Printed,
                Some(crate::flow::screen::Jam { fen: Some(5_000) }),
            ),
        ),
        (
            "16-result-nothing-taken",
            result(
                0,
                Outcome::NothingTaken {
                    reason: "note of 5000 fen jammed before it was credited".into(),
                },
                ReceiptState::Printed,
                Some(crate::flow::screen::Jam { fen: Some(5_000) }),
            ),
        ),
        (
            "17-sorry",
            View::Session(Screen::Sorry {
                notice: Notice::AcceptorFault,
                reference: Some("K01-20261122-0009".into()),
            }),
        ),
        (
            "18-idle-warning",
            View::Warning {
                screen: keypad(None, "1380000"),
                seconds_left: 15,
                money_fen: 0,
            },
        ),
        (
            "19-idle-warning-money",
            View::Warning {
                screen: insert(7_000, None),
                seconds_left: 15,
                money_fen: 7_000,
            },
        ),
        (
            "20-help",
            View::Help {
                screen: insert(7_000, None),
                open: true,
            },
        ),
        (
            "21-help-pending",
            View::Help {
                screen: keypad(None, "1380000"),
                open: false,
            },
        ),
        (
            "22-out-of-service",
            View::OutOfService(KioskStatus::OutOfService {
                problems: vec![
                    Problem {
                        customer_zh: "暂时无法连接业务系统".into(),
                        customer_en: "The business system cannot be reached".into(),
                        technician: "link to the server down: connect failed".into(),
                    },
                    Problem {
                        customer_zh: "凭条打印机缺纸".into(),
                        customer_en: "The receipt printer is out of paper".into(),
                        technician: "receipt_printer: Fault — paper out (DLE EOT 4: 0x72)".into(),
                    },
                ],
            }),
        ),
        (
            "23-locked",
            View::OutOfService(KioskStatus::Locked {
                message: Some("本机升级维护中，请到柜台办理".into()),
            }),
        ),
        (
            "24-closed",
            View::OutOfService(KioskStatus::Closed {
                opens: "08:30".into(),
            }),
        ),
        ("25-starting", View::OutOfService(KioskStatus::Starting)),
        (
            "26-auth-choose",
            View::Session(Screen::AuthChoose {
                service: ServiceId::BillPrint,
                number_masked: number.clone(),
                sms: true,
                id_card: true,
                sms_alone: false,
            }),
        ),
        (
            "27-password",
            View::Session(Screen::Password {
                number_masked: number.clone(),
                layout: [7, 2, 9, 0, 4, 1, 8, 5, 3, 6],
                notice: Some(Notice::WrongPassword {
                    tries_left: Some(2),
                }),
            }),
        ),
        (
            "28-sms-code",
            View::Session(Screen::SmsCode {
                number_masked: number.clone(),
                resend_in_s: 42,
                notice: None,
            }),
        ),
        (
            "29-place-id-card",
            View::Session(Screen::PlaceIdCard {
                notice: Some(Notice::NoCard),
            }),
        ),
        (
            "30-working",
            View::Session(Screen::Working {
                what: Working::Printing { page: 2, pages: 3 },
            }),
        ),
    ]
    .into_iter()
    .chain(plan_screens(&number))
    .chain(bill_screens(&number))
    .chain(sim_screens())
    .chain(more_screens())
    .chain(technician_screens())
    .collect()
}

/// The technician's sign-in and service panel.
fn technician_screens() -> Vec<(&'static str, View)> {
    use crate::runtime::screen::{SignInNotice, TechDevice, TechOutcome, TechPanel, TechScreen};
    let ids = vec!["T07".to_owned(), "T08".to_owned(), "T12".to_owned()];
    let device = |name: &str, state: &str, detail: &str| TechDevice {
        name: name.into(),
        state: state.into(),
        detail: detail.into(),
    };
    let panel = TechPanel {
        technician: "T07".into(),
        kiosk: "K0001".into(),
        state: "out_of_service".into(),
        problems: vec!["service mode: technician T07 since 2026-12-07 14:02:11".into()],
        devices: vec![
            device(
                "bill_acceptor",
                "ok",
                "CNY on /dev/ttyS0 — SSP serial 20261122 firmware NV0200414",
            ),
            device("receipt_printer", "warning", "paper near end (/dev/ttyS1)"),
            device("id_card_reader", "ok", "SAM ready (/dev/ttyUSB0)"),
            device("card_dispenser", "ok", "ready (/dev/ttyS2)"),
            device("camera", "ok", "open (/dev/video0) — USB 2.0 Camera"),
        ],
        facts: vec![
            "链路 link: up (skew 2 ms)".into(),
            "配置 configuration: v12".into(),
            "软件 software: 0.1.0".into(),
        ],
        cash_notes: vec![
            ("¥20.00".into(), 3),
            ("¥50.00".into(), 4),
            ("¥100.00".into(), 11),
        ],
        cash_total: "¥1360.00".into(),
        cards_in_stock: 37,
        cards_in_bin: 2,
        counters: vec![
            "topup: settled 18, refunded 1".into(),
            "new_sim: settled 3".into(),
            "纸币 notes: 18".into(),
            "凭条 papers: printed 24, not_printed 1".into(),
        ],
        errors: vec!["12:41:07 receipt_printer: paper near end".into()],
        busy: None,
        last: Some(TechOutcome {
            action: "test_note".into(),
            ok: true,
            text: "纸币 ¥50.00 已识别并退回 note read (¥50.00) and handed back: the acceptor works"
                .into(),
        }),
    };
    vec![
        (
            "70-technician-sign-in",
            View::Technician(TechScreen::SignIn {
                ids: ids.clone(),
                notice: Some(SignInNotice::WrongPin { left: 3 }),
            }),
        ),
        (
            "71-technician-locked",
            View::Technician(TechScreen::SignIn {
                ids,
                notice: Some(SignInNotice::Locked { seconds: 287 }),
            }),
        ),
        (
            "72-service-panel",
            View::Technician(TechScreen::Panel(Box::new(panel))),
        ),
    ]
}

/// 挂失/解挂, 名下号码查询 and 充值卡销售.
fn more_screens() -> Vec<(&'static str, View)> {
    use crate::flow::screen::{HeldLine, HeldStatus, LossAction, SimOutcome};
    let held = |n: &str, status, opened_on: &str, prepaid| HeldLine {
        number_masked: n.into(),
        status,
        opened_on: opened_on.into(),
        prepaid,
    };
    let numbers = vec![
        held("138****0000", HeldStatus::Active, "2019-03-01", true),
        held("139****0007", HeldStatus::Active, "2021-09-14", false),
        held("137****0008", HeldStatus::Closed, "2016-05-20", true),
    ];
    vec![
        (
            "62-loss-confirm",
            View::Session(Screen::LossConfirm {
                action: LossAction::Report,
                number_masked: "138****0000".into(),
                owner_masked: "*小明".into(),
            }),
        ),
        (
            "63-loss-done",
            View::Session(Screen::SimDone {
                service: ServiceId::Loss,
                number_masked: "138****0000".into(),
                outcome: SimOutcome::LossReported {
                    operator_ref: "LR1796695200000".into(),
                    at: "2026-12-08 10:00".into(),
                    replace: true,
                },
                reference: "K01-20261208-0003".into(),
                receipt: ReceiptState::Printed,
            }),
        ),
        (
            "64-lift-confirm",
            View::Session(Screen::LossConfirm {
                action: LossAction::Lift,
                number_masked: "138****0000".into(),
                owner_masked: "*小明".into(),
            }),
        ),
        (
            "65-held-numbers",
            View::Session(Screen::HeldNumbers {
                name_masked: "王**".into(),
                id_masked: "110101********1233".into(),
                numbers: numbers.clone(),
                limit: 5,
                advice: false,
                receipt: None,
            }),
        ),
        (
            "66-held-numbers-not-mine",
            View::Session(Screen::HeldNumbers {
                name_masked: "王**".into(),
                id_masked: "110101********1233".into(),
                numbers,
                limit: 5,
                advice: true,
                receipt: Some(ReceiptState::Printed),
            }),
        ),
        (
            "67-pin-faces",
            View::Session(Screen::PinFaces {
                faces_fen: vec![3000, 5000, 10000],
                valid_days: 365,
            }),
        ),
        (
            "68-pin-insert",
            View::Session(Screen::Insert(CashView {
                purpose: CashPurpose::PinCard { face_fen: 5000 },
                total_fen: 2000,
                remaining_fen: 3000,
                due_fen: Some(5000),
                accept_fen: vec![1000, 2000],
                notice: None,
                can_finish: false,
                busy: false,
            })),
        ),
        (
            "69-pin-done",
            View::Session(Screen::SimDone {
                service: ServiceId::PinSale,
                number_masked: String::new(),
                outcome: SimOutcome::PinSold {
                    serial_tail: "1234".into(),
                    face_fen: 5000,
                    expires_on: "2027-12-08".into(),
                },
                reference: "K01-20261208-0004".into(),
                receipt: ReceiptState::Printed,
            }),
        ),
    ]
}
