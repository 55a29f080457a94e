//! Not serving: devices down, link down, locked by head office, closed, starting,
//! stopping. Polite words for customers, the precise cause (small) for the technician.

use slint::ComponentHandle;

use super::generated::{Msg, OutOfServiceAdapter};
use super::{KioskStatus, KioskWindow, Sink, UiEvent, msg};

/// What the out-of-service screen says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Words {
    /// "devices", "link", "locked", "closed", "starting" or "stopping".
    pub reason: &'static str,
    pub title: (String, String),
    pub detail: (String, String),
    pub advice: (String, String),
    pub technician: String,
}

fn pair(zh: &str, en: &str) -> (String, String) {
    (zh.to_owned(), en.to_owned())
}

const COUNTER: (&str, &str) = (
    "请到营业厅柜台办理，给您带来不便，敬请谅解。",
    "Please go to the counter. We are sorry for the trouble.",
);

pub(super) fn words(status: &KioskStatus) -> Words {
    let counter = pair(COUNTER.0, COUNTER.1);
    let none = (String::new(), String::new());
    match status {
        KioskStatus::InService => Words {
            reason: "devices",
            title: none.clone(),
            detail: none.clone(),
            advice: none,
            technician: String::new(),
        },
        KioskStatus::Starting => Words {
            reason: "starting",
            title: pair("正在启动", "Starting up"),
            detail: pair(
                "本机马上就能为您服务",
                "The kiosk will be ready in a moment",
            ),
            advice: pair(
                "请稍候片刻；急需办理请到营业厅柜台。",
                "Please wait a moment, or go to the counter if you are in a hurry.",
            ),
            technician: "starting: recovering unfinished transactions and connecting devices"
                .into(),
        },
        KioskStatus::Stopping => Words {
            reason: "stopping",
            title: pair("维护重启中", "Restarting"),
            detail: pair(
                "本机正在进行维护重启",
                "The kiosk is restarting for maintenance",
            ),
            advice: pair(
                "请稍候几分钟再来，或到营业厅柜台办理。",
                "Please come back in a few minutes, or go to the counter.",
            ),
            technician: "stopping: maintenance restart".into(),
        },
        KioskStatus::Locked { message } => Words {
            reason: "locked",
            title: pair("本机暂停使用", "This kiosk is not in use"),
            // Head office's message is in the words it was written in.
            detail: message
                .as_ref()
                .map(|m| (m.clone(), m.clone()))
                .unwrap_or(none),
            advice: counter,
            technician: "locked by head office".into(),
        },
        KioskStatus::Closed { opens } => Words {
            reason: "closed",
            title: pair("现在不是营业时间", "Closed now"),
            detail: (
                format!("本机每日 {opens} 起营业"),
                format!("Open daily from {opens}"),
            ),
            advice: pair("欢迎届时再来。", "Please come back then."),
            technician: String::new(),
        },
        KioskStatus::OutOfService { problems } => {
            let link_only =
                problems.len() == 1 && problems.iter().all(|p| p.technician.starts_with("link"));
            Words {
                reason: if link_only { "link" } else { "devices" },
                title: pair("暂停服务", "Out of service"),
                detail: (
                    problems
                        .iter()
                        .map(|p| p.customer_zh.clone())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    problems
                        .iter()
                        .map(|p| p.customer_en.clone())
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
                advice: counter,
                technician: problems
                    .iter()
                    .map(|p| p.technician.clone())
                    .collect::<Vec<_>>()
                    .join("\n"),
            }
        }
    }
}

fn to_msg((zh, en): &(String, String)) -> Msg {
    msg(zh, en)
}

pub(super) fn show(window: &KioskWindow, status: &KioskStatus) {
    let o = window.global::<OutOfServiceAdapter>();
    let w = words(status);
    o.set_reason(w.reason.into());
    o.set_title(to_msg(&w.title));
    o.set_detail(to_msg(&w.detail));
    o.set_advice(to_msg(&w.advice));
    o.set_technician_detail(w.technician.into());
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let s = sink.clone();
    window
        .global::<OutOfServiceAdapter>()
        .on_technician(move || {
            tracing::info!("technician entry pressed");
            s.send(UiEvent::Technician);
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::screen::Problem;

    #[test]
    fn customers_get_polite_words_and_technicians_the_cause() {
        let w = words(&KioskStatus::OutOfService {
            problems: vec![
                Problem {
                    customer_zh: "凭条打印机缺纸".into(),
                    customer_en: "The receipt printer is out of paper".into(),
                    technician: "receipt_printer: Fault — paper out".into(),
                },
                Problem {
                    customer_zh: "钱箱已满".into(),
                    customer_en: "The cash box is full".into(),
                    technician: "cash box holds 1000 notes (capacity 1000)".into(),
                },
            ],
        });
        assert_eq!(w.reason, "devices");
        assert_eq!(w.detail.0, "凭条打印机缺纸\n钱箱已满");
        assert!(w.advice.0.contains("柜台"));
        assert!(
            !w.detail.0.contains("Fault"),
            "no technician words for customers"
        );
        assert!(w.technician.contains("paper out") && w.technician.contains("capacity"));
    }

    #[test]
    fn a_link_problem_alone_is_the_link_and_is_not_said_twice() {
        let w = words(&KioskStatus::OutOfService {
            problems: vec![Problem {
                customer_zh: "暂时无法连接业务系统".into(),
                customer_en: "The business system cannot be reached".into(),
                technician: "link to the server down: connect failed".into(),
            }],
        });
        assert_eq!(w.reason, "link");
        assert_ne!(w.title.0, w.detail.0);
    }

    #[test]
    fn closed_says_when_it_opens_and_locked_keeps_head_office_words() {
        let w = words(&KioskStatus::Closed {
            opens: "08:30".into(),
        });
        assert!(w.detail.0.contains("08:30") && w.detail.1.contains("08:30"));
        assert!(w.technician.is_empty());
        let w = words(&KioskStatus::Locked {
            message: Some("本机升级维护中".into()),
        });
        assert_eq!(w.detail.0, "本机升级维护中");
        assert_eq!(w.reason, "locked");
    }
}
