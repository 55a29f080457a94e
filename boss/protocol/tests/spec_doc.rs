//! The specification in docs/boss-protocol.md and this crate must not drift apart: the
//! example frame is byte-exact, and every operation, push and error code is documented.

use boss_protocol::codec;
use boss_protocol::*;

const SPEC: &str = include_str!("../../../docs/boss-protocol.md");

#[test]
fn example_frame_in_the_spec_is_exact() {
    let env = Envelope::request(
        42,
        Request::Recharge(Recharge {
            txn_id: TxnId::new("K0001-20261122-000042"),
            msisdn: Msisdn::new("13812341234"),
            amount_fen: 5000,
            notes: vec![NoteCount {
                denomination_fen: 5000,
                count: 1,
            }],
        }),
    );
    let frame = codec::encode(&env).unwrap();
    let header: String = frame[..4]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ");
    let json = std::str::from_utf8(&frame[4..]).unwrap();
    let line = format!("{header}  {json}");
    assert!(SPEC.contains(&line), "spec example should read:\n{line}");
}

#[test]
fn every_error_code_is_in_the_spec_table() {
    for code in ErrorCode::ALL {
        assert!(
            SPEC.contains(&format!("| `{}` |", code.as_str())),
            "{} undocumented",
            code.as_str()
        );
    }
}

#[test]
fn every_operation_and_push_is_specified() {
    let ops = [
        "hello",
        "heartbeat",
        "subscriber_lookup",
        "auth_password",
        "sms_code_request",
        "sms_code_verify",
        "auth_id_card",
        "recharge",
        "txn_status",
        "reversal",
        "current_plan",
        "eligible_plans",
        "plan_change",
        "monthly_bill",
        "itemised_records",
        "invoice_data",
        "real_name_check",
        "face_compare",
        "plan_catalogue",
        "number_search",
        "number_reserve",
        "number_release",
        "new_sim_order",
        "sim_script",
        "activate_sim",
        "cancel_order",
        "replacement_sim",
        "real_name_reregister",
        "numbers_by_id",
        "loss_report",
        "loss_lift",
        "pin_catalogue",
        "pin_sale",
        "pin_void",
        "pin_recharge",
        "journal_upload",
        "reconcile",
        "config_bundle",
        "lock",
        "unlock",
        "diagnostics_request",
    ];
    for op in ops {
        assert!(SPEC.contains(&format!("`{op}`")), "{op} not in the spec");
    }
    // Every request op has a section heading of its own or is listed under one.
    for op in Request::OPS {
        assert!(ops.contains(op), "{op} missing from this test's list");
    }
}

#[test]
fn every_subscriber_state_is_in_the_spec() {
    for status in [
        SubscriberStatus::Active,
        SubscriberStatus::SuspendedArrears,
        SubscriberStatus::Suspended,
        SubscriberStatus::PreActive,
        SubscriberStatus::Cancelled,
        SubscriberStatus::ReportedLost,
    ] {
        let wire = serde_json::to_string(&status).unwrap();
        let name = wire.trim_matches('"');
        assert!(
            SPEC.contains(&format!("`{name}`")),
            "{name} not in the spec"
        );
    }
}

#[test]
fn the_additions_line_names_protocol_1_3() {
    // Line breaks of the Markdown source are white space like any other.
    let flat = SPEC.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(
        "1.3 — numbers_by_id, loss_report, loss_lift, pin_catalogue, pin_sale, pin_void, \
         pin_recharge; the reported_lost state"
    ));
}
