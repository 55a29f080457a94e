//! What goes on paper: the top-up receipt (业务受理回执), the "credit pending" receipt and
//! the refund voucher (退款凭条), laid out with the printer's document model.
//!
//! Numbers are masked; the reference and the QR code let the shop find the transaction.

use receipt_printer::{Receipt, WIDTH_80MM};

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
    };
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
    fn shop_time_is_utc_plus_8() {
        assert_eq!(shop_time(0), "1970-01-01 08:00:00");
        assert_eq!(shop_time(T), "2026-11-23 21:05:09");
    }
}
