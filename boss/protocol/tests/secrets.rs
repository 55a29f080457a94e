//! Recharge PINs (protocol 1.3) are bearer secrets: the messages that carry one never show
//! it in `Debug`, so a message that reaches a log leaks nothing, while the wire carries it.

use boss_protocol::*;

const PIN: &str = "834205917263540188";

#[test]
fn debug_of_pin_messages_hides_the_pin() {
    let sold = Reply::Ok(Response::PinSale(PinSold {
        txn_id: TxnId::new("K0001-20261120-000007"),
        serial: "2026112000000004".into(),
        pin: Secret::new(PIN),
        face_fen: 5_000,
        expires_on: "2027-11-20".into(),
    }));
    let redeem = Request::PinRecharge(PinRecharge {
        txn_id: TxnId::new("K0001-20261120-000008"),
        msisdn: Msisdn::new("13800000000"),
        pin: Secret::new(PIN),
    });
    let shown = format!("{sold:?} {sold:#?} {redeem:?} {redeem:#?}");
    assert!(!shown.contains(PIN), "{shown}");
    assert!(!shown.contains("13800000000"), "{shown}");
    assert!(
        shown.contains("2026112000000004"),
        "the serial is not secret: {shown}"
    );
    let wire = serde_json::to_string(&sold).unwrap() + &serde_json::to_string(&redeem).unwrap();
    assert_eq!(wire.matches(PIN).count(), 2, "{wire}");
}
