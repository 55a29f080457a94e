//! What goes on paper: the top-up receipt (业务受理回执), the "credit pending" receipt,
//! the refund voucher (退款凭条), the plan change receipt, the monthly bill (账单), itemised
//! records (详单) and invoice data (发票信息), laid out with the printer's document model.
//!
//! Numbers are masked; the reference and the QR code let the shop find the transaction.

use receipt_printer::{Receipt, WIDTH_80MM};
use serde::Serialize;

use crate::flow::Paper;
use crate::flow::bills::{BillPaper, InvoicePaper, RecordsPaper};
use crate::flow::number_query::NumbersSlip;
use crate::flow::pin_sale::PinPaper;
use crate::flow::plan::PlanReceipt;
use crate::flow::screen::{PlanOutcome, RecordRow, SimOutcome};
use crate::flow::sim::SimReceipt;
use crate::flow::topup::{Outcome, TopUpReceipt};

/// Header and footer text that belongs to the shop, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letterhead {
    /// Operator / shop name printed on top.
    pub shop: String,
    pub kiosk_id: String,
    /// Service hotline printed at the bottom.
    pub hotline: String,
}

impl Default for Letterhead {
    fn default() -> Self {
        Self {
            shop: "移动营业厅自助终端".into(),
            kiosk_id: "K0001".into(),
            hotline: "10086".into(),
        }
    }
}

/// Data carried by the QR code: something the shop's counter system can parse.
pub fn qr_payload(kind: &str, txn_id: &str, amount_fen: u64) -> String {
    format!("TK1|{kind}|{txn_id}|{amount_fen}")
}

/// Shop-local time (UTC+8) from Unix milliseconds: `2026-11-22 21:05:09`.
pub fn shop_time(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000) + 8 * 3600;
    let (y, m, d) = crate::journal::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Lays out any paper a flow asks for.
pub fn render(paper: &Paper, head: &Letterhead, unix_ms: i64) -> Receipt {
    match paper {
        Paper::TopUp(r) => topup(r, head, unix_ms),
        Paper::PlanChange(r) => plan_change(r, head, unix_ms),
        Paper::Bill(b) => bill(b, head, unix_ms),
        Paper::Records(r) => records(r, head, unix_ms),
        Paper::Invoice(i) => invoice(i, head, unix_ms),
        Paper::Sim(r) => sim(r, head, unix_ms),
        Paper::Numbers(n) => numbers(n, head, unix_ms),
        Paper::Pin(p) => pin_card(p, head, unix_ms),
    }
}

/// The electronic recharge card (充值卡): face value, PIN, serial, last day, how to redeem.
/// A paper restored from the journal has no PIN (it is never journaled): it says so rather
/// than print a card that cannot be used.
pub fn pin_card(p: &PinPaper, head: &Letterhead, unix_ms: i64) -> Receipt {
    let paper = Receipt::new(WIDTH_80MM)
        .centre(head.shop.clone())
        .title("电子充值卡")
        .centre("Recharge card")
        .rule()
        .kv("面值", paper_yuan(p.face_fen));
    let paper = match p.grouped_pin() {
        Some(pin) => paper.line("充值密码 PIN：").title(pin),
        None => paper.bold("（密码不可再打印，请找工作人员）"),
    };
    paper
        .kv("序列号", p.serial.clone())
        .kv("有效期至", p.expires_on.clone())
        .rule()
        .kv("交易流水号", p.txn_id.clone())
        .kv("售出时间", shop_time(unix_ms))
        .kv("终端编号", head.kiosk_id.clone())
        .rule()
        .line("充值方法：拨打服务热线，按语音提示选择")
        .line("“充值卡充值”，输入要充值的手机号码和充值密码。")
        .line("可为本公司任意手机号码充值，每张限用一次。")
        .line("To redeem: call the hotline, choose recharge")
        .line("card, then key in the number and the PIN.")
        .line("One use only.")
        .bold("请妥善保管，密码泄露或丢失不补。")
        .centre(format!("服务热线 {}", head.hotline))
        .cut()
}

/// The slip of the numbers under an ID (名下号码清单): masked, with their state, and what to
/// do about a number the holder never opened.
pub fn numbers(n: &NumbersSlip, head: &Letterhead, unix_ms: i64) -> Receipt {
    let mut paper = Receipt::new(WIDTH_80MM)
        .centre(head.shop.clone())
        .title("名下号码清单")
        .centre("Numbers under your ID")
        .rule()
        .kv("证件姓名", n.name_masked.clone())
        .kv("证件号码", n.id_masked.clone())
        .kv(
            "名下号码",
            format!("{}个（每证最多{}个）", n.numbers.len(), n.limit),
        )
        .rule();
    if n.numbers.is_empty() {
        paper = paper.centre("本证件名下没有本公司号码");
    }
    for line in &n.numbers {
        let (state, _) = line.status.words();
        let kind = if line.prepaid {
            "预付费"
        } else {
            "后付费"
        };
        paper = paper.kv(
            line.number_masked.clone(),
            format!("{state} {kind} {}", line.opened_on),
        );
    }
    paper = paper
        .rule()
        .kv("交易流水号", n.txn_id.clone())
        .kv("查询时间", shop_time(unix_ms))
        .kv("终端编号", head.kiosk_id.clone())
        .rule();
    if n.disputed {
        paper = paper.bold("如有非本人办理的号码：");
    } else {
        paper = paper.line("如有非本人办理的号码：");
    }
    paper
        .line("请携带本人身份证和本清单到营业厅柜台办理核查，")
        .line("核实后可为您停机、销户。")
        .line("请勿将身份证借给他人办理号码。")
        .line("A number you never opened? Bring your ID card")
        .line("and this slip to the counter.")
        .centre(format!("服务热线 {}", head.hotline))
        .cut()
}

/// The receipt of a real-name service (新开户, 补卡, 实名补登记), or its refund voucher.
pub fn sim(r: &SimReceipt, head: &Letterhead, unix_ms: i64) -> Receipt {
    let business = match r.service.as_str() {
        "new_sim" => "新开户（实名制）",
        "replace_sim" => "补卡",
        "loss_report" => "挂失",
        "pin_sale" => "充值卡销售",
        "loss_lift" => "解挂",
        _ => "实名补登记",
    };
    let paper = Receipt::new(WIDTH_80MM).centre(head.shop.clone());
    let paper = match &r.outcome {
        SimOutcome::Refunded { .. } => paper.title("退款凭条").centre("Refund voucher"),
        SimOutcome::Unconfirmed { .. } => paper
            .title("业务受理回执")
            .bold("办理结果待确认 / Awaiting confirmation"),
        _ => paper.title("业务受理回执").centre("Service receipt"),
    };
    let mut paper = paper.rule().kv("业务类型", business);
    if !r.number_masked.is_empty() {
        paper = paper.kv("手机号码", r.number_masked.clone());
    }
    // A receipt recovery prints after a restart has no name: the ID never reaches the disk.
    if !r.name_masked.is_empty() {
        paper = paper.kv("机主姓名", r.name_masked.clone());
    }
    if !r.id_masked.is_empty() {
        paper = paper.kv("证件号码", r.id_masked.clone());
    }
    if let Some(plan) = &r.plan_name {
        paper = paper.kv("套餐", plan.clone());
    }
    if r.card_fee_fen > 0 && r.service == "pin_sale" {
        paper = paper.kv("充值卡面值", paper_yuan(r.card_fee_fen));
    } else if r.card_fee_fen > 0 {
        paper = paper.kv("卡费", paper_yuan(r.card_fee_fen));
    }
    if r.first_month_fee_fen > 0 {
        paper = paper.kv("首月月费", paper_yuan(r.first_month_fee_fen));
    }
    if r.prepaid_fen > 0 {
        paper = paper.kv("预存话费", paper_yuan(r.prepaid_fen));
    }
    if r.paid_fen > 0 {
        paper = paper.kv("实收现金", paper_yuan(r.paid_fen));
    }
    paper = match &r.outcome {
        SimOutcome::Issued {
            taken,
            iccid_tail,
            operator_ref,
        } => {
            let p = paper
                .kv("SIM卡号(尾号)", format!("…{iccid_tail}"))
                .kv("业务参考号", operator_ref.clone());
            if *taken {
                p
            } else {
                p.bold("SIM卡未及时取走，已回收至本机，")
                    .bold("请持本回执找工作人员领取。")
            }
        }
        SimOutcome::Registered { operator_ref } => paper.kv("业务参考号", operator_ref.clone()),
        SimOutcome::LossReported {
            operator_ref, at, ..
        } => paper
            .kv("停机时间", at.clone())
            .kv("业务参考号", operator_ref.clone()),
        SimOutcome::PinSold { .. } => paper,
        SimOutcome::LossLifted { operator_ref, at } => paper
            .kv("复机时间", at.clone())
            .kv("业务参考号", operator_ref.clone()),
        SimOutcome::Refunded { reason } => paper
            .kv("凭条编号", format!("V{}", r.txn_id))
            .kv("应退金额", paper_yuan(r.paid_fen))
            .kv("原因", sim_reason(reason)),
        SimOutcome::Unconfirmed { .. } => paper,
    };
    if let Some(v) = &r.agreement_version {
        paper = paper.kv("入网协议版本", v.clone());
    }
    let paper = paper
        .kv("交易流水号", r.txn_id.clone())
        .kv("办理时间", shop_time(unix_ms))
        .kv("终端编号", head.kiosk_id.clone())
        .rule();
    let paper = match &r.outcome {
        SimOutcome::Issued { .. } if r.service == "new_sim" => paper
            .line("新号码已开通，开户成功短信将发送至新号码。")
            .line("请妥善保管SIM卡，首次使用请插卡开机。"),
        SimOutcome::Issued { .. } => paper
            .line("新卡已启用，原SIM卡已停止使用。")
            .line("The new card is active; the old one no longer works."),
        SimOutcome::Registered { .. } => paper
            .line("实名信息已登记，号码可正常使用。")
            .line("The identity is registered on the number."),
        SimOutcome::LossReported { .. } => paper
            .bold("号码已挂失停机，原SIM卡不能再使用。")
            .line("补办新卡：本人携带身份证在本机或营业厅")
            .line("办理补卡，号码和话费余额不变，新卡启用后")
            .line("原卡作废。找回原卡可凭服务密码和短信验证码")
            .line("或身份证在本机办理解挂。")
            .line("The number is suspended as lost. Get a new SIM")
            .line("here or at a counter with your ID card."),
        SimOutcome::PinSold { .. } => paper,
        SimOutcome::LossLifted { .. } => paper
            .line("号码已解除挂失，恢复正常使用。")
            .line("The loss report is lifted; the number works again."),
        SimOutcome::Refunded { .. } => paper
            .line("本次业务未办成，所收现金全额退还。")
            .line("请持本凭条到营业厅柜台办理退款。"),
        SimOutcome::Unconfirmed { .. } => paper
            .line("业务系统未及时答复，办理结果将以短信通知。")
            .line("如未收到短信，请凭此回执到营业厅柜台查询。"),
    };
    let kind = match &r.outcome {
        SimOutcome::Refunded { .. } => "voucher",
        _ => "sim",
    };
    paper
        .qr(qr_payload(kind, &r.txn_id, r.paid_fen))
        .centre(format!("服务热线 {}", head.hotline))
        .cut()
}

/// The customer's short reason on a SIM refund voucher.
fn sim_reason(reason: &str) -> String {
    if reason.contains("stacker") || reason.contains("stock") {
        "SIM卡已发完".into()
    } else if reason.contains("dispenser") || reason.contains("jam") || reason.contains("stuck") {
        "发卡设备故障".into()
    } else if reason.contains("less than the price") {
        "金额不足，未办理".into()
    } else if reason.starts_with("operator refused") {
        "业务系统未受理".into()
    } else {
        "未能办理".into()
    }
}

/// The plan change receipt: what changes, from when, and the operator's reference (or
/// that the SMS will confirm it).
pub fn plan_change(r: &PlanReceipt, head: &Letterhead, unix_ms: i64) -> Receipt {
    let paper = Receipt::new(WIDTH_80MM)
        .centre(head.shop.clone())
        .title("业务受理回执")
        .centre("Plan change receipt");
    let paper = match &r.outcome {
        PlanOutcome::Changed { .. } => paper,
        PlanOutcome::Unconfirmed => paper.bold("办理结果待确认 / Awaiting confirmation"),
    };
    let paper = paper
        .rule()
        .kv("业务类型", "套餐变更")
        .kv("手机号码", r.number_masked.clone())
        .kv("原套餐", r.from_name.clone())
        .kv("月费", paper_yuan(r.from_fee_fen))
        .kv("新套餐", r.to_name.clone())
        .kv("月费", paper_yuan(r.to_fee_fen))
        .kv("生效月份", r.effective_month.clone())
        .kv("交易流水号", r.txn_id.clone());
    let paper = match &r.outcome {
        PlanOutcome::Changed { operator_ref } => paper.kv("业务参考号", operator_ref.clone()),
        PlanOutcome::Unconfirmed => paper,
    };
    let paper = paper
        .kv("办理时间", shop_time(unix_ms))
        .kv("终端编号", head.kiosk_id.clone())
        .rule();
    let paper = match &r.outcome {
        PlanOutcome::Changed { .. } => paper
            .line(format!(
                "新套餐自{}起生效，本月仍按原套餐计费。",
                month_zh(&r.effective_month)
            ))
            .line("The new plan starts next month."),
        PlanOutcome::Unconfirmed => paper
            .line("业务系统未及时答复，办理结果将以短信通知。")
            .line("如未收到短信，请凭此回执到营业厅柜台查询。")
            .line("The answer was lost; an SMS will confirm it."),
    };
    paper
        .qr(qr_payload("plan", &r.txn_id, 0))
        .centre(format!("服务热线 {}", head.hotline))
        .cut()
}

/// The monthly bill (账单).
pub fn bill(b: &BillPaper, head: &Letterhead, unix_ms: i64) -> Receipt {
    let mut paper = Receipt::new(WIDTH_80MM)
        .centre(head.shop.clone())
        .title("话费账单")
        .centre("Monthly bill")
        .rule()
        .kv("手机号码", b.number_masked.clone())
        .kv("账单月份", b.month.clone())
        .kv("套餐", b.plan_name.clone())
        .rule();
    for (name, fen) in &b.items {
        paper = paper.kv(name.clone(), signed_yuan(*fen));
    }
    paper
        .rule()
        .kv("费用合计", signed_yuan(b.total_fen))
        .kv("已缴金额", signed_yuan(b.paid_fen))
        .kv("应缴金额", signed_yuan(b.due_fen))
        .rule()
        .kv("打印时间", shop_time(unix_ms))
        .kv("终端编号", head.kiosk_id.clone())
        .line("本账单仅供查询核对，不作报销凭证。")
        .centre(format!("服务热线 {}", head.hotline))
        .cut()
}

/// One paper of itemised records (详单): a page of at most 40 rows, numbered.
pub fn records(r: &RecordsPaper, head: &Letterhead, unix_ms: i64) -> Receipt {
    let kind = match r.kind.as_str() {
        "call" => "通话详单",
        "sms" => "短信详单",
        "data" => "上网详单",
        _ => "通信详单",
    };
    let mut paper = Receipt::new(WIDTH_80MM)
        .centre(head.shop.clone())
        .title(kind)
        .centre("Itemised records")
        .rule()
        .kv("手机号码", r.number_masked.clone())
        .kv("详单月份", r.month.clone())
        .kv("页码", format!("第{}页 / 共{}页", r.page, r.pages))
        .kv("记录总数", format!("{}条", r.total))
        .rule();
    if r.rows.is_empty() {
        paper = paper.centre("本月无记录 / No records this month");
    }
    for row in &r.rows {
        paper = paper.kv(record_left(row), record_right(row));
    }
    paper
        .rule()
        .kv("打印时间", shop_time(unix_ms))
        .kv("终端编号", head.kiosk_id.clone())
        .centre(format!("服务热线 {}", head.hotline))
        .cut()
}

/// `11-03 09:12 主叫 139****5678` — when, what and with whom.
pub fn record_left(row: &RecordRow) -> String {
    let what = match (row.kind.as_str(), row.outgoing) {
        ("call", true) => "主叫",
        ("call", false) => "被叫",
        ("sms", true) => "发送",
        ("sms", false) => "接收",
        _ => "上网",
    };
    if row.kind == "data" {
        format!("{} {what} {}", row.at, row.location)
    } else {
        format!("{} {what} {}", row.at, row.counterpart_masked)
    }
}

/// `3分12秒 0.30` — how long (or how much) and the fee.
pub fn record_right(row: &RecordRow) -> String {
    let amount = match row.kind.as_str() {
        "call" => format!("{}分{:02}秒", row.duration_s / 60, row.duration_s % 60),
        "data" if row.volume_kb >= 1024 => {
            format!(
                "{}.{}MB",
                row.volume_kb / 1024,
                row.volume_kb % 1024 * 10 / 1024
            )
        }
        "data" => format!("{}KB", row.volume_kb),
        _ => "1条".to_owned(),
    };
    let fen = row.fee_fen.unsigned_abs();
    let sign = if row.fee_fen < 0 { "-" } else { "" };
    format!("{amount} {sign}{}.{:02}", fen / 100, fen % 100)
}

/// Invoice data (发票信息): what the customer needs to ask for the e-invoice.
pub fn invoice(i: &InvoicePaper, head: &Letterhead, unix_ms: i64) -> Receipt {
    let mut paper = Receipt::new(WIDTH_80MM)
        .centre(head.shop.clone())
        .title("发票信息")
        .centre("Invoice data")
        .rule()
        .kv("发票代码", i.invoice_code.clone())
        .kv("发票号码", i.invoice_no.clone())
        .kv("购买方", i.payer_masked.clone())
        .kv("手机号码", i.number_masked.clone())
        .kv("账期", i.month.clone())
        .kv("销售方", i.seller.clone())
        .kv("纳税人识别号", i.seller_tax_id.clone())
        .rule();
    for (name, amount, rate_permille, tax) in &i.items {
        paper = paper.kv(name.clone(), signed_yuan(*amount)).kv(
            format!("  税率 {}%", f64::from(*rate_permille) / 10.0),
            format!("税额 {}", signed_yuan(*tax)),
        );
    }
    paper
        .rule()
        .kv("价税合计", signed_yuan(i.total_fen))
        .kv("其中税额", signed_yuan(i.tax_fen))
        .kv("校验码", i.check_code.clone())
        .rule()
        .kv("打印时间", shop_time(unix_ms))
        .kv("终端编号", head.kiosk_id.clone())
        .line("本凭条为发票信息，不作报销凭证；")
        .line("电子发票请凭发票代码与号码查询下载。")
        .centre(format!("服务热线 {}", head.hotline))
        .cut()
}

/// `2026-12` → `2026年12月`.
fn month_zh(month: &str) -> String {
    match month.split_once('-') {
        Some((y, m)) => format!("{y}年{}月", m.trim_start_matches('0')),
        None => month.to_owned(),
    }
}

/// The lines that tell staff about a note that jammed (with its value, when the acceptor
/// had read it).
fn jam_lines(paper: Receipt, r: &TopUpReceipt) -> Receipt {
    let Some(jam) = r.jammed else {
        return paper;
    };
    let (zh, en) = match jam.fen {
        Some(fen) => (
            format!("卡钞：一张{}纸币卡在识别器中", paper_yuan(fen)),
            format!(
                "A {} note jammed and was not counted; staff will settle it.",
                paper_yuan(fen)
            ),
        ),
        None => (
            "卡钞：一张纸币卡在识别器中（面额未能识别）".to_owned(),
            "A note jammed before it was read and was not counted; staff will settle it."
                .to_owned(),
        ),
    };
    paper
        .rule()
        .bold(zh)
        .line("该纸币未计入金额。请持本凭条联系工作人员，")
        .line(format!("凭交易流水号 {} 处理。", r.txn_id))
        .line(en)
}

/// Lays out the paper for a finished (or pending, or refused) top-up.
pub fn topup(r: &TopUpReceipt, head: &Letterhead, unix_ms: i64) -> Receipt {
    let paper = Receipt::new(WIDTH_80MM).centre(head.shop.clone());
    let paper = match &r.outcome {
        Outcome::Credited {
            boss_ref,
            new_balance_fen,
        } => {
            let paper = paper
                .title("业务受理回执")
                .centre("Top-up receipt")
                .rule()
                .kv("业务类型", "话费充值")
                .kv("手机号码", r.number_masked.clone())
                .kv("充值金额", paper_yuan(r.amount_fen));
            let paper = match new_balance_fen {
                Some(b) => paper.kv("充值后余额", signed_yuan(*b)),
                None => paper,
            };
            paper
                .kv("交易流水号", r.txn_id.clone())
                .kv("业务参考号", boss_ref.clone())
                .kv("办理时间", shop_time(unix_ms))
                .kv("终端编号", head.kiosk_id.clone())
                .rule()
                .qr(qr_payload("receipt", &r.txn_id, r.amount_fen))
                .centre("本机不找零，请妥善保管此回执")
        }
        Outcome::Pending { .. } => Receipt::new(WIDTH_80MM)
            .centre(head.shop.clone())
            .title("业务受理回执")
            .bold("充值处理中 / Credit pending")
            .rule()
            .kv("业务类型", "话费充值")
            .kv("手机号码", r.number_masked.clone())
            .kv("已收金额", paper_yuan(r.amount_fen))
            .kv("交易流水号", r.txn_id.clone())
            .kv("办理时间", shop_time(unix_ms))
            .kv("终端编号", head.kiosk_id.clone())
            .rule()
            .line("您的款项已收妥，充值到账后将短信通知。")
            .line("如未到账，请凭此回执到营业厅柜台查询。")
            .qr(qr_payload("pending", &r.txn_id, r.amount_fen)),
        Outcome::Voucher { reason } => Receipt::new(WIDTH_80MM)
            .centre(head.shop.clone())
            .title("退款凭条")
            .centre("Refund voucher")
            .rule()
            .kv("凭条编号", format!("V{}", r.txn_id))
            .kv("手机号码", r.number_masked.clone())
            .kv("应退金额", paper_yuan(r.amount_fen))
            .kv("交易流水号", r.txn_id.clone())
            .kv("办理时间", shop_time(unix_ms))
            .kv("终端编号", head.kiosk_id.clone())
            .kv("原因", reason_for_paper(reason))
            .rule()
            .line("请持本凭条到营业厅柜台办理退款。")
            .qr(qr_payload("voucher", &r.txn_id, r.amount_fen)),
        Outcome::NothingTaken { .. } => Receipt::new(WIDTH_80MM)
            .centre(head.shop.clone())
            .title("卡钞凭条")
            .centre("Jammed note slip")
            .rule()
            .kv("业务类型", "话费充值")
            .kv("手机号码", r.number_masked.clone())
            .kv("已充值金额", paper_yuan(0))
            .kv("交易流水号", r.txn_id.clone())
            .kv("办理时间", shop_time(unix_ms))
            .kv("终端编号", head.kiosk_id.clone())
            .qr(qr_payload(
                "jam",
                &r.txn_id,
                r.jammed.and_then(|j| j.fen).unwrap_or(0),
            )),
    };
    let paper = jam_lines(paper, r);
    paper.centre(format!("服务热线 {}", head.hotline)).cut()
}

/// Money on paper: `50.00元`. Not `¥`: many kiosk printers only know GBK, which has no
/// single-width yen sign (GB18030 encodes it in four bytes).
pub fn paper_yuan(fen: u64) -> String {
    format!("{}.{:02}元", fen / 100, fen % 100)
}

fn signed_yuan(fen: i64) -> String {
    let abs = paper_yuan(fen.unsigned_abs());
    if fen < 0 { format!("-{abs}") } else { abs }
}

/// The customer sees a short reason; the technical cause stays in the journal.
fn reason_for_paper(reason: &str) -> String {
    if reason.starts_with("operator refused") {
        "业务系统未受理".into()
    } else if reason.contains("after the recharge") {
        "超出本次充值的纸币".into()
    } else {
        "未能充值".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(outcome: Outcome) -> TopUpReceipt {
        TopUpReceipt {
            txn_id: "K0001-20261122210509-000001".into(),
            number_masked: "138****0000".into(),
            amount_fen: 5000,
            outcome,
            jammed: None,
        }
    }

    const T: i64 = 1_795_439_109_000; // 2026-11-23 21:05:09 +08:00

    #[test]
    fn credited_receipt_says_what_a_customer_needs() {
        let r = receipt(Outcome::Credited {
            boss_ref: "B42".into(),
            new_balance_fen: Some(6234),
        });
        let text = topup(&r, &Letterhead::default(), T).to_text();
        for needle in [
            "业务受理回执",
            "138****0000",
            "50.00元",
            "62.34元",
            "B42",
            "K0001-20261122210509-000001",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert!(text.contains("2026-11-23 21:05:09"), "{text}");
        assert!(!text.contains("13800000000"));
    }

    #[test]
    fn pending_receipt_says_pending_and_voucher_says_refund() {
        let p = topup(
            &receipt(Outcome::Pending {
                reason: "timeout".into(),
            }),
            &Letterhead::default(),
            T,
        );
        assert!(p.to_text().contains("充值处理中"));
        let v = topup(
            &receipt(Outcome::Voucher {
                reason: "operator refused (x): y".into(),
            }),
            &Letterhead::default(),
            T,
        );
        let text = v.to_text();
        assert!(
            text.contains("退款凭条") && text.contains("应退金额") && text.contains("50.00元"),
            "{text}"
        );
        assert!(text.contains("业务系统未受理"));
    }

    #[test]
    fn a_jammed_note_is_on_the_paper_for_staff() {
        let r = TopUpReceipt {
            jammed: Some(crate::flow::screen::Jam { fen: Some(5000) }),
            amount_fen: 2000,
            ..receipt(Outcome::Credited {
                boss_ref: "B1".into(),
                new_balance_fen: None,
            })
        };
        let text = topup(&r, &Letterhead::default(), T).to_text();
        assert!(
            text.contains("卡钞") && text.contains("50.00元") && text.contains("20.00元"),
            "{text}"
        );
        let slip = TopUpReceipt {
            jammed: Some(crate::flow::screen::Jam { fen: Some(10000) }),
            amount_fen: 0,
            ..receipt(Outcome::NothingTaken {
                reason: "jam".into(),
            })
        };
        let unread = TopUpReceipt {
            jammed: Some(crate::flow::screen::Jam { fen: None }),
            ..r.clone()
        };
        let text = topup(&unread, &Letterhead::default(), T).to_text();
        assert!(text.contains("面额未能识别"), "{text}");
        let text = topup(&slip, &Letterhead::default(), T).to_text();
        assert!(
            text.contains("卡钞凭条") && text.contains("100.00元"),
            "{text}"
        );
        assert!(text.contains("K0001-20261122210509-000001"));
    }

    fn plan_receipt(outcome: PlanOutcome) -> PlanReceipt {
        PlanReceipt {
            txn_id: "K0001-20261210-000003".into(),
            number_masked: "138****0000".into(),
            from_name: "畅享38元套餐".into(),
            from_fee_fen: 3800,
            to_name: "畅享58元套餐".into(),
            to_fee_fen: 5800,
            effective_month: "2027-01".into(),
            outcome,
        }
    }

    #[test]
    fn the_plan_change_receipt_says_from_what_to_what_from_when() {
        let text = plan_change(
            &plan_receipt(PlanOutcome::Changed {
                operator_ref: "BG0001".into(),
            }),
            &Letterhead::default(),
            T,
        )
        .to_text();
        for needle in [
            "业务受理回执",
            "套餐变更",
            "138****0000",
            "畅享38元套餐",
            "38.00元",
            "畅享58元套餐",
            "58.00元",
            "2027-01",
            "2027年1月",
            "BG0001",
            "K0001-20261210-000003",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        let text = plan_change(
            &plan_receipt(PlanOutcome::Unconfirmed),
            &Letterhead::default(),
            T,
        )
        .to_text();
        assert!(text.contains("待确认") && text.contains("短信"), "{text}");
        assert!(!text.contains("业务参考号"), "{text}");
    }

    fn row(i: u32) -> RecordRow {
        RecordRow {
            at: format!("11-{:02} 09:12", i % 28 + 1),
            kind: "call".into(),
            outgoing: i.is_multiple_of(2),
            counterpart_masked: "139****5678".into(),
            duration_s: 192,
            volume_kb: 0,
            location: "北京".into(),
            fee_fen: 30,
        }
    }

    #[test]
    fn a_records_page_is_numbered_masked_and_fits_the_roll() {
        let paper = RecordsPaper {
            txn_id: "T5".into(),
            number_masked: "138****0000".into(),
            month: "2026-11".into(),
            kind: "call".into(),
            page: 2,
            pages: 3,
            total: 95,
            rows: (0..40).map(row).collect(),
        };
        let text = records(&paper, &Letterhead::default(), T).to_text();
        assert!(text.contains("通话详单"), "{text}");
        assert!(text.contains("第2页 / 共3页"), "{text}");
        assert!(text.contains("95条"), "{text}");
        assert_eq!(text.matches("139****5678").count(), 40, "{text}");
        assert!(text.contains("11-01 09:12 主叫 139****5678"), "{text}");
        assert!(text.contains("3分12秒 0.30"), "{text}");
        // One line per record: nothing wraps on 80 mm paper.
        assert!(text.lines().count() < 40 + 20, "{text}");
    }

    #[test]
    fn data_records_show_volume_and_place() {
        let r = RecordRow {
            kind: "data".into(),
            volume_kb: 1536,
            ..row(0)
        };
        assert_eq!(record_left(&r), "11-01 09:12 上网 北京");
        assert_eq!(record_right(&r), "1.5MB 0.30");
    }

    #[test]
    fn the_bill_and_the_invoice_say_the_sums() {
        let bill_text = bill(
            &BillPaper {
                txn_id: "T9".into(),
                number_masked: "138****0000".into(),
                month: "2026-10".into(),
                plan_name: "畅享38元套餐".into(),
                items: vec![("套餐月费".into(), 3800), ("优惠减免".into(), -500)],
                total_fen: 3300,
                paid_fen: 1000,
                due_fen: 2300,
            },
            &Letterhead::default(),
            T,
        )
        .to_text();
        for needle in [
            "话费账单",
            "2026-10",
            "38.00元",
            "-5.00元",
            "33.00元",
            "23.00元",
        ] {
            assert!(
                bill_text.contains(needle),
                "missing {needle} in\n{bill_text}"
            );
        }
        let inv = invoice(
            &InvoicePaper {
                txn_id: "T9".into(),
                number_masked: "138****0000".into(),
                month: "2026-10".into(),
                invoice_no: "08812345".into(),
                invoice_code: "011002300111".into(),
                payer_masked: "王**".into(),
                seller: "中国移动通信集团北京有限公司".into(),
                seller_tax_id: "91110000802100433B".into(),
                items: vec![("基础电信服务".into(), 3300, 90, 272)],
                total_fen: 3300,
                tax_fen: 272,
                check_code: "12345678901234567890".into(),
            },
            &Letterhead::default(),
            T,
        )
        .to_text();
        for needle in [
            "发票信息",
            "08812345",
            "王**",
            "税率 9%",
            "2.72元",
            "不作报销凭证",
        ] {
            assert!(inv.contains(needle), "missing {needle} in\n{inv}");
        }
    }

    #[test]
    fn shop_time_is_utc_plus_8() {
        assert_eq!(shop_time(0), "1970-01-01 08:00:00");
        assert_eq!(shop_time(T), "2026-11-23 21:05:09");
    }
}

/// What a cash-box clearance (清机) found, for its settlement slip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClearanceSlip {
    pub technician: String,
    /// When the box was last cleared (the period's start), if ever.
    pub since: Option<i64>,
    /// (value in fen, number of notes), ascending by value, from the journal.
    pub notes: Vec<(i64, i64)>,
    pub total_fen: i64,
}

/// The settlement slip of a cash-box clearance (清机结算单): what the journal says the box
/// held, by denomination, for the technician and the shop to count against.
pub fn clearance_slip(c: &ClearanceSlip, head: &Letterhead, unix_ms: i64) -> Receipt {
    let fen = |v: i64| paper_yuan(u64::try_from(v).unwrap_or(0));
    let mut paper = Receipt::new(WIDTH_80MM)
        .centre(head.shop.clone())
        .title("清机结算单")
        .centre("Cash-box clearance")
        .rule()
        .kv("终端编号", head.kiosk_id.clone())
        .kv(
            "统计起",
            c.since.map_or_else(|| "本机启用".to_owned(), shop_time),
        )
        .kv("统计止", shop_time(unix_ms))
        .rule();
    if c.notes.is_empty() {
        paper = paper.line("钱箱中没有纸币 / The box held no notes");
    }
    for (value, count) in &c.notes {
        paper = paper.kv(
            format!("{} 元 × {count} 张", value / 100),
            fen(value * count),
        );
    }
    let count: i64 = c.notes.iter().map(|(_, n)| n).sum();
    paper
        .rule()
        .kv("纸币张数", format!("{count} 张"))
        .bold(format!("金额合计  {}", fen(c.total_fen)))
        .kv("清机人员", c.technician.clone())
        .rule()
        .line("请清点钱箱，实点金额应与本单一致。")
        .line("Count the box: it must match this slip.")
        .line("清机人员签字：")
        .line("复核人签字：")
        .cut()
}

/// What a card restock (放卡维护) did, for its slip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestockSlip {
    pub technician: String,
    pub added: u32,
    /// Blank cards in the stacker afterwards, by the journal.
    pub in_stock: i64,
    /// The reject bin was emptied: the ICCIDs of the cards taken out (`None` for a card
    /// captured before its ICCID was read).
    pub bin: Option<Vec<Option<String>>>,
}

/// The slip of a card restock (放卡维护), with the ICCIDs of the captured cards the
/// technician took out of the reject bin (to be returned to the operator).
pub fn restock_slip(r: &RestockSlip, head: &Letterhead, unix_ms: i64) -> Receipt {
    let mut paper = Receipt::new(WIDTH_80MM)
        .centre(head.shop.clone())
        .title("放卡维护单")
        .centre("Card restock")
        .rule()
        .kv("终端编号", head.kiosk_id.clone())
        .kv("维护时间", shop_time(unix_ms))
        .kv("放入空白卡", format!("{} 张", r.added))
        .kv("现有空白卡", format!("{} 张", r.in_stock))
        .kv("维护人员", r.technician.clone())
        .rule();
    match &r.bin {
        None => paper = paper.line("废卡箱未清理 / Reject bin not emptied"),
        Some(cards) => {
            paper = paper.kv("废卡箱取出", format!("{} 张", cards.len()));
            for (i, iccid) in cards.iter().enumerate() {
                paper = paper.line(format!(
                    "{:>2}. {}",
                    i + 1,
                    iccid.as_deref().unwrap_or("（未读出 ICCID）")
                ));
            }
            paper = paper
                .rule()
                .line("取出的废卡请交回营业厅，按 ICCID 核对销毁。")
                .line("Return the captured cards to the shop.");
        }
    }
    paper.line("维护人员签字：").cut()
}
