//! Every screen with sample data: for the screenshot test, the benchmark and the demo.

use super::{Availability, KioskStatus, Problem, ServiceState, View, default_services};
use crate::flow::screen::{CashPurpose, CashView, ReceiptState, TypedNumber};
use crate::flow::topup::{AccountStatus, Outcome, Subscriber};
use crate::flow::{Notice, Screen, ServiceId};

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
    ]
}
