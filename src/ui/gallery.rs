//! Every screen with sample data: for the screenshot test, the benchmark and the demo.

use super::{KioskStatus, OutOfServiceReason, View};
use crate::flow::topup::{AccountStatus, Notice, Outcome, ReceiptState, Screen, Subscriber};

/// Every view the kiosk can show, each with a file-friendly name, in journey order.
pub fn gallery() -> Vec<(&'static str, View)> {
    let number = "138****1234".to_string();
    let accept = vec![1000, 2000, 5000, 10000];
    vec![
        ("01-idle", View::Idle),
        ("02-home", View::Home),
        (
            "03-keypad",
            View::Session(Screen::EnterNumber { notice: None }),
        ),
        (
            "04-keypad-not-found",
            View::Session(Screen::EnterNumber {
                notice: Some(Notice::NumberNotFound),
            }),
        ),
        (
            "05-looking-up",
            View::Session(Screen::LookingUp {
                number_masked: number.clone(),
            }),
        ),
        (
            "06-confirm",
            View::Session(Screen::Confirm {
                number_masked: number.clone(),
                subscriber: Subscriber {
                    owner_masked: "*小明".into(),
                    status: AccountStatus::Suspended,
                    prepaid: true,
                    balance_fen: -350,
                    arrears_fen: 350,
                },
            }),
        ),
        (
            "07-no-change",
            View::Session(Screen::NoChange {
                accept_fen: accept.clone(),
                max_fen: 50_000,
            }),
        ),
        (
            "08-insert",
            View::Session(Screen::Insert {
                number_masked: number.clone(),
                total_fen: 15_000,
                remaining_fen: 35_000,
                accept_fen: accept.clone(),
                notice: Some(Notice::NoteRejected),
                can_finish: true,
            }),
        ),
        (
            "09-processing",
            View::Session(Screen::Processing { total_fen: 15_000 }),
        ),
        (
            "10-result",
            View::Session(Screen::Result {
                number_masked: number.clone(),
                amount_fen: 15_000,
                outcome: Outcome::Credited {
                    boss_ref: "B20261122000123".into(),
                    new_balance_fen: Some(14_650),
                },
                reference: "K01-20261122-0007".into(),
                receipt: ReceiptState::Printed,
            }),
        ),
        (
            "11-result-pending",
            View::Session(Screen::Result {
                number_masked: number.clone(),
                amount_fen: 5_000,
                outcome: Outcome::Pending {
                    reason: "no answer".into(),
                },
                reference: "K01-20261122-0008".into(),
                receipt: ReceiptState::NotPrinted,
            }),
        ),
        (
            "12-sorry",
            View::Session(Screen::Sorry {
                notice: Notice::AcceptorFault,
                reference: Some("K01-20261122-0009".into()),
            }),
        ),
        (
            "13-idle-warning",
            View::Warning {
                screen: Screen::EnterNumber { notice: None },
                seconds_left: 15,
            },
        ),
        (
            "14-out-of-service",
            View::OutOfService(KioskStatus::OutOfService {
                reason: OutOfServiceReason::Link,
                detail_zh: "业务系统连接中断（已持续 5 分钟）".into(),
                detail_en: "No link to the operator for 5 minutes".into(),
            }),
        ),
    ]
}
