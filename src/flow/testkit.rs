//! What the flows' tests share: the operator's answers, and ways to look into effects.
#![allow(dead_code)]

use boss_protocol::{
    AuthFactor, AuthOk, AuthToken, Msisdn, PaymentKind, Request, Response, SmsCodeSent,
    SubscriberStatus,
};

use super::screen::Screen;
use super::{Effect, IdDocument, Input, JournalOp, OpError, ReqId, Timeouts, Ui};

pub const N: &str = "13800000000";
pub const TOKEN: &str = "tok-0001-abcd";

pub fn timeouts() -> Timeouts {
    Timeouts {
        idle_ms: 60_000,
        insert_idle_ms: 90_000,
        warn_ms: 15_000,
        elder_extra_percent: 100,
        help_ms: 300_000,
    }
}

pub fn lookup(arrears_fen: u64) -> Result<Response, OpError> {
    Ok(Response::SubscriberLookup(boss_protocol::Subscriber {
        msisdn: Msisdn::new(N),
        owner_name_masked: "*小明".into(),
        status: SubscriberStatus::Active,
        payment: PaymentKind::Prepaid,
        balance_fen: 1234,
        arrears_fen,
        real_name: true,
    }))
}

pub fn auth_ok(factors: &[AuthFactor]) -> AuthOk {
    AuthOk {
        msisdn: Msisdn::new(N),
        token: AuthToken(TOKEN.into()),
        factors: factors.to_vec(),
        expires_ms: 600_000,
    }
}

pub fn code_sent() -> Result<Response, OpError> {
    Ok(Response::SmsCodeRequest(SmsCodeSent {
        msisdn: Msisdn::new(N),
        expires_ms: 300_000,
        resend_after_s: 60,
    }))
}

/// A refusal with an authentication's details.
pub fn refused(code: &str, tries_left: Option<u32>, until_ms: Option<i64>) -> OpError {
    OpError::Refused {
        code: code.into(),
        message: code.into(),
        tries_left,
        until_ms,
    }
}

pub fn secret(s: &str) -> Input {
    Input::Ui(Ui::Secret(boss_protocol::Secret::new(s)))
}

pub fn select(s: &str) -> Input {
    Input::Ui(Ui::Select(s.into()))
}

/// The operator requests in `out`, in order.
pub fn requests(out: &[Effect]) -> Vec<(ReqId, Request)> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Operator { req, request, .. } => Some((*req, request.clone())),
            _ => None,
        })
        .collect()
}

/// The one request of operation `op` in `out`.
pub fn request(out: &[Effect], op: &str) -> (ReqId, Request) {
    let found: Vec<_> = requests(out)
        .into_iter()
        .filter(|(_, r)| r.op() == op)
        .collect();
    assert_eq!(found.len(), 1, "one {op} request expected in {out:?}");
    found.into_iter().next().expect("checked")
}

pub fn answer(req: ReqId, result: Result<Response, OpError>) -> Input {
    Input::Operator { req, result }
}

pub fn last_screen(out: &[Effect]) -> Screen {
    out.iter()
        .rev()
        .find_map(|e| match e {
            Effect::Show(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a screen expected in {out:?}"))
}

pub fn journal(out: &[Effect]) -> Vec<JournalOp> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Journal(op) => Some(op.clone()),
            _ => None,
        })
        .collect()
}

pub fn ends(out: &[Effect]) -> bool {
    out.iter().any(|e| matches!(e, Effect::End))
}

/// The ID card read request in `out`.
pub fn id_read(out: &[Effect]) -> ReqId {
    out.iter()
        .find_map(|e| match e {
            Effect::ReadIdCard { req, .. } => Some(*req),
            _ => None,
        })
        .unwrap_or_else(|| panic!("an ID card read expected in {out:?}"))
}

/// A resident card as the reader gives it, expired or not.
pub fn id_document(expired: bool) -> IdDocument {
    IdDocument {
        kind: "resident",
        card: Some(boss_protocol::IdCard {
            name: boss_protocol::PersonalText::new("王小明"),
            id_number: boss_protocol::IdNumber::new("110101199003071233"),
            sex: "男".into(),
            ethnicity: "汉".into(),
            birth_date: "1990-03-07".into(),
            address: boss_protocol::PersonalText::new("北京市东城区测试路1号院2号楼301室"),
            issuer: "北京市公安局东城分局".into(),
            valid_from: "2020-01-01".into(),
            valid_until: Some(if expired { "2020-01-02" } else { "2040-01-01" }.into()),
        }),
        photo: vec![7; 1024],
        expired,
        check_digit_ok: Some(true),
        age: 36,
    }
}

// ---- Real-name services ----------------------------------------------------------------

pub const ICCID: &str = "89860012345678901234";

pub fn real_name_ok() -> Result<Response, OpError> {
    Ok(Response::RealNameCheck(boss_protocol::RealNameOk {
        numbers_held: 1,
        numbers_limit: 5,
        age_years: 36,
    }))
}

pub fn face(verdict: boss_protocol::FaceVerdict) -> Result<Response, OpError> {
    Ok(Response::FaceCompare(boss_protocol::FaceResult {
        face_check_id: "F01".into(),
        score: if verdict == boss_protocol::FaceVerdict::Match {
            900
        } else {
            300
        },
        threshold: 800,
        verdict,
    }))
}

pub fn live_photo() -> crate::flow::devices::LivePhoto {
    crate::flow::devices::LivePhoto {
        jpeg: vec![0xFF; 4096],
    }
}

/// The face capture request in `out`.
pub fn face_req(out: &[Effect]) -> ReqId {
    out.iter()
        .find_map(|e| match e {
            Effect::CaptureFace { req, .. } => Some(*req),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a face capture expected in {out:?}"))
}

/// The card command in `out`.
pub fn card_cmd(out: &[Effect]) -> (ReqId, crate::flow::devices::CardCmd) {
    out.iter()
        .find_map(|e| match e {
            Effect::Card { req, cmd } => Some((*req, cmd.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a card command expected in {out:?}"))
}

pub fn card_ok(req: ReqId, a: crate::flow::devices::CardAnswer) -> Input {
    Input::Card { req, result: Ok(a) }
}

pub fn sim_order(order_id: &str) -> Result<Response, OpError> {
    Ok(Response::NewSimOrder(boss_protocol::SimOrder {
        txn_id: boss_protocol::TxnId::new("T1"),
        order_id: order_id.into(),
        msisdn: Msisdn::new("13912345678"),
        card_fee_fen: 1000,
        prepaid_fen: 5000,
        first_month_fee_fen: 3800,
    }))
}

pub fn script() -> Result<Response, OpError> {
    Ok(Response::SimScript(boss_protocol::SimScript {
        order_id: "KH1".into(),
        iccid: ICCID.into(),
        script_id: "S1".into(),
        steps: vec![boss_protocol::ApduStep {
            apdu: boss_protocol::HexBytes(vec![0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00]),
            expect_sw: vec![boss_protocol::Sw(0x9000)],
        }],
    }))
}

pub fn activated(invalidated: Option<&str>) -> Result<Response, OpError> {
    Ok(Response::ActivateSim(boss_protocol::Activated {
        txn_id: boss_protocol::TxnId::new("T1-A1"),
        order_id: "KH1".into(),
        msisdn: Msisdn::new("13912345678"),
        iccid: ICCID.into(),
        invalidated_iccid: invalidated.map(str::to_owned),
        balance_fen: 1200,
        activated_at_ms: 1_796_000_000_000,
    }))
}

pub fn written(completed: bool) -> crate::flow::devices::CardAnswer {
    crate::flow::devices::CardAnswer::Written {
        completed,
        steps_run: if completed { 7 } else { 3 },
        last_sw: if completed { "9000" } else { "6982" }.into(),
    }
}

/// The card stages journaled in `out`.
pub fn card_stages(out: &[Effect]) -> Vec<crate::journal::CardStage> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Journal(JournalOp::Card(crate::flow::devices::CardJournal::Stage {
                stage,
                ..
            })) => Some(*stage),
            _ => None,
        })
        .collect()
}
