//! What the real-name services share: their paper (业务受理回执, 退款凭条), the service
//! agreement a new subscriber accepts, and the end screen.

use serde::{Deserialize, Serialize};

use super::screen::{ReceiptState, Screen, SimOutcome};
use super::{Effect, ServiceId};

/// The version of the service agreement (入网服务协议) the kiosk shows; sent with the order.
pub const AGREEMENT_VERSION: &str = "RW-2026.12";

/// The service agreement as the kiosk shows it, paragraph by paragraph (the operator's
/// standard terms for a prepaid number, in the words a customer reads on a kiosk).
pub const AGREEMENT: &[&str] = &[
    "一、入网登记。客户应使用本人有效身份证件办理入网手续，并保证所提供资料真实、准确；\
     不得将号码转借、转租或转售他人使用。",
    "二、号码使用。客户所选号码归电信业务经营者所有，客户享有使用权；号码连续欠费停机超过规定期限的，\
     经营者可依法收回。",
    "三、资费与计费。所选套餐的月费、包含内容及超出部分的资费以业务受理回执及经营者公布的资费为准；\
     入网当月月费按套餐规则收取（包月套餐1日至15日入网收全月、16日起收半月；按日折算的套餐按剩余天数计收）。",
    "四、预存款。本次所缴现金扣除卡费后全部存入新号码作为预存话费，不设找零；预存话费可用于抵扣各项通信费用。",
    "五、实名制与个人信息保护。经营者依法对客户身份进行核验，采集的身份信息和现场照片仅用于实名登记，\
     并依法保护，不用于其他目的。",
    "六、服务变更与终止。客户可到营业厅办理套餐变更、停机保号、销户等业务；经营者变更资费将提前公告。",
    "七、争议处理。因本协议发生争议，双方协商解决；协商不成的，可向电信管理机构申诉或依法诉讼。",
];

/// The paper of a real-name service: its receipt, or the refund voucher when nothing was
/// issued. Personal data masked; the card by its ICCID's last digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimReceipt {
    pub txn_id: String,
    /// `new_sim`, `replace_sim` or `reregister`.
    pub service: String,
    pub number_masked: String,
    /// 王** and 110101********123X.
    pub name_masked: String,
    pub id_masked: String,
    pub plan_name: Option<String>,
    pub card_fee_fen: u64,
    /// What went to the number's prepaid balance.
    pub prepaid_fen: u64,
    pub first_month_fee_fen: u64,
    /// Cash taken.
    pub paid_fen: u64,
    pub agreement_version: Option<String>,
    pub outcome: SimOutcome,
}

impl SimReceipt {
    /// The journal's name for this paper.
    pub fn kind(&self) -> &'static str {
        match self.outcome {
            SimOutcome::Refunded { .. } => "refund_voucher",
            SimOutcome::Unconfirmed { .. } => "pending_receipt",
            _ => "sim_receipt",
        }
    }
}

/// The service's id in journal and paper.
pub fn service_name(service: ServiceId) -> &'static str {
    match service {
        ServiceId::NewSim => "new_sim",
        ServiceId::ReplaceSim => "replace_sim",
        _ => "reregister",
    }
}

/// The end screen of a real-name service.
pub fn done_screen(service: ServiceId, r: &SimReceipt, receipt: ReceiptState) -> Effect {
    Effect::Show(Screen::SimDone {
        service,
        number_masked: r.number_masked.clone(),
        outcome: r.outcome.clone(),
        reference: r.txn_id.clone(),
        receipt,
    })
}
