//! Chinese first, English on a switch: every text of the console is written in both, side
//! by side where it is used (`lang.t("机队", "Fleet")`), so no key can go missing.

use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};

/// The language cookie.
pub const LANG_COOKIE: &str = "tk_lang";

/// The console's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// 中文 (the default).
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// From the language cookie (anything unknown is Chinese).
    #[must_use]
    pub fn from_cookie(v: Option<&str>) -> Self {
        match v {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    /// The text in this language.
    #[must_use]
    pub fn t(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// `zh-CN` or `en`.
    #[must_use]
    pub fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// A kiosk operation's name.
    #[must_use]
    pub fn op(self, op: &str) -> String {
        let (zh, en) = match op {
            "recharge" => ("话费充值", "Top-up"),
            "new_sim_order" => ("新开户", "New SIM"),
            "replacement_sim" => ("补卡", "Replacement SIM"),
            "plan_change" => ("套餐变更", "Plan change"),
            "reversal" => ("冲正", "Reversal"),
            "cancel_order" => ("撤单", "Order cancelled"),
            "loss_report" => ("挂失", "Loss report"),
            "loss_lift" => ("解挂", "Loss lifted"),
            "numbers_by_id" | "number_query" => ("名下号码查询", "Numbers under an ID"),
            "pin_sale" => ("充值卡销售", "Recharge card sale"),
            "pin_void" => ("充值卡作废", "Recharge card voided"),
            "pin_recharge" => ("充值卡充值", "Recharge card top-up"),
            "refund_voucher" => ("退款凭条", "Refund voucher"),
            "card_restock" => ("放卡维护", "Card restock"),
            "cash_box_clearance" => ("清机", "Cash box clearance"),
            "service_login" => ("维护人员登录", "Technician signed in"),
            "service_login_failed" => (
                "登录失败（工号或密码错误）",
                "Sign-in failed (wrong id or PIN)",
            ),
            "service_login_locked" => ("密码键盘锁定", "PIN pad locked"),
            "service_enter" => ("进入维护模式", "Service mode started"),
            "service_enter_wait" => ("等待当前顾客后进入维护", "Waiting for the current customer"),
            "service_exit" => ("退出维护模式", "Service mode ended"),
            "service_test_receipt" => ("自检：凭条打印机", "Self-test: receipt printer"),
            "service_test_note" => ("自检：纸币识别器", "Self-test: bill acceptor"),
            "service_test_card" => ("自检：发卡机", "Self-test: card dispenser"),
            "service_test_id_card" => ("自检：身份证阅读器", "Self-test: ID card reader"),
            "service_test_camera" => ("自检：摄像头", "Self-test: camera"),
            "config_bundle" => ("配置下发", "Configuration"),
            "lock" => ("锁定", "Lock"),
            "unlock" => ("解锁", "Unlock"),
            "diagnostics_request" => ("诊断", "Diagnostics"),
            // A service event this console does not know yet: shown as one, by its name.
            other if other.starts_with("service_test_") => {
                return format!("{} ({other})", self.t("自检", "Self-test"));
            }
            other if other.starts_with("service_") => {
                return format!("{} ({other})", self.t("维护操作", "Service event"));
            }
            other => return other.to_owned(),
        };
        self.t(zh, en).to_owned()
    }

    /// A status word (rollouts, pushes, transactions).
    #[must_use]
    pub fn status(self, s: &str) -> String {
        let (zh, en) = match s {
            "queued" => ("排队中", "queued"),
            "sent" => ("已发送", "sent"),
            "applied" => ("已应用", "applied"),
            "deferred" => ("延后（顾客使用中）", "deferred (customer being served)"),
            "rejected" => ("被拒绝", "rejected"),
            "committed" => ("成功", "committed"),
            "failed" => ("失败", "failed"),
            "reversed" => ("已冲正", "reversed"),
            "pending" => ("处理中", "pending"),
            "unknown" => ("未知", "unknown"),
            other => return other.to_owned(),
        };
        self.t(zh, en).to_owned()
    }

    /// An alert kind.
    #[must_use]
    pub fn alert(self, kind: &str) -> String {
        let (zh, en) = match kind {
            "kiosk_down" => ("终端离线", "Kiosk down"),
            "stuck" => ("界面停滞", "Stuck on a screen"),
            "device_fault" => ("设备故障", "Device fault"),
            "cash_box_near_full" => ("钱箱将满", "Cash box nearly full"),
            "card_stock_low" => ("卡量不足", "Card stock low"),
            "reconciliation_mismatch" => ("对账不平", "Reconciliation mismatch"),
            "pin_pad_locked" => ("维护密码键盘锁定", "Service PIN pad locked"),
            other => return other.to_owned(),
        };
        self.t(zh, en).to_owned()
    }

    /// A device's name.
    #[must_use]
    pub fn device(self, d: &str) -> String {
        let (zh, en) = match d {
            "id_card_reader" => ("身份证阅读器", "ID card reader"),
            "camera" => ("摄像头", "Camera"),
            "bill_acceptor" => ("纸币识别器", "Bill acceptor"),
            "card_dispenser" => ("发卡机", "Card dispenser"),
            "receipt_printer" => ("凭条打印机", "Receipt printer"),
            "screen" => ("触摸屏", "Screen"),
            other => return other.to_owned(),
        };
        self.t(zh, en).to_owned()
    }

    /// A screen the kiosk reports (`idle`, `top_up.insert_cash`, …): its service or state,
    /// with the screen's own name kept for the technician.
    #[must_use]
    pub fn screen(self, screen: &str) -> String {
        let head = screen.split('.').next().unwrap_or(screen);
        let (zh, en) = match head {
            "idle" => ("待机", "idle"),
            "starting" => ("启动中", "starting"),
            "stopping" => ("停止中", "stopping"),
            "out_of_service" => ("暂停服务", "out of service"),
            "locked" => ("已锁定", "locked"),
            "closed" => ("非营业时间", "closed"),
            "service_mode" | "technician" => ("维护模式", "service mode"),
            "top_up" | "topup" => ("话费充值中", "top-up in progress"),
            "plan_change" => ("套餐变更中", "plan change in progress"),
            "bills" | "bill_print" => ("账单打印中", "bill printing in progress"),
            "new_sim" => ("新开户中", "new SIM in progress"),
            "replace_sim" | "replacement_sim" => ("补卡中", "replacement SIM in progress"),
            "loss_report" | "loss" => ("挂失办理中", "loss report in progress"),
            "loss_lift" => ("解挂办理中", "loss lift in progress"),
            "number_query" | "numbers_by_id" => {
                ("名下号码查询中", "numbers-under-ID query in progress")
            }
            "pin_sale" | "recharge_card" => ("充值卡购买中", "recharge card sale in progress"),
            _ => return screen.to_owned(),
        };
        if head == screen {
            self.t(zh, en).to_owned()
        } else {
            format!("{} ({screen})", self.t(zh, en))
        }
    }

    /// A reconciliation difference.
    #[must_use]
    pub fn mismatch(self, k: &str) -> String {
        let (zh, en) = match k {
            "missing_at_operator" => ("营业系统无此笔", "missing at the operator"),
            "missing_at_kiosk" => ("终端无此笔", "missing at the kiosk"),
            "amount_differs" => ("金额不符", "amount differs"),
            "state_differs" => ("状态不符", "state differs"),
            other => return other.to_owned(),
        };
        self.t(zh, en).to_owned()
    }
}

/// `GET /lang/{zh|en}?back=/path`: sets the language cookie and goes back.
pub async fn switch(Path(lang): Path<String>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let lang = if lang == "en" { "en" } else { "zh" };
    let back = q
        .iter()
        .find(|(k, _)| k == "back")
        .map(|(_, v)| v.as_str())
        // Only a path of this site: no scheme, no `//host`.
        .filter(|b| b.starts_with('/') && !b.starts_with("//") && !b.contains('\\'))
        .unwrap_or("/fleet");
    (
        [(
            header::SET_COOKIE,
            format!("{LANG_COOKIE}={lang}; Path=/; Max-Age=31536000; SameSite=Lax"),
        )],
        Redirect::to(back),
    )
        .into_response()
}
