//! What the driver can print — `Debug` of commands, replies, raw frames, decoders, APDU
//! responses, personalisation steps, and the script parser's errors — never shows APDU
//! data: a personalisation APDU can carry the subscriber's number (EF_MSISDN), IMSI or keys.

use card_dispenser::PersoScript;
use card_dispenser::apdu::Response;
use card_dispenser::frame::{Command, Decoder, RawFrame, Reply, ReplyKind};

/// UPDATE RECORD of EF_MSISDN with 13800138000 in BCD (`31 08 10 83 00 F0`).
const MSISDN_APDU: [u8; 16] = [
    0x00, 0xDC, 0x01, 0x04, 0x0B, 0xFF, 0xFF, 0x07, 0x91, 0x68, 0x31, 0x08, 0x10, 0x83, 0x00, 0xF0,
];

/// Every way the personal bytes could show: hex with or without spaces, decimal list.
fn leaks(shown: &str) -> bool {
    let tail = &MSISDN_APDU[8..];
    let hex: String = tail.iter().map(|b| format!("{b:02X}")).collect();
    let spaced: Vec<String> = tail.iter().map(|b| format!("{b:02X}")).collect();
    let decimal: Vec<String> = tail.iter().map(u8::to_string).collect();
    shown.contains(&hex)
        || shown.contains(&hex.to_lowercase())
        || shown.contains(&spaced.join(" "))
        || shown.contains(&decimal.join(", "))
}

#[test]
fn frames_and_apdus_print_lengths_not_data() {
    let mut data = vec![0x30];
    data.extend_from_slice(&MSISDN_APDU);
    let command = Command::with_data(0, 0x51, 0x39, data.clone());
    let reply = Reply {
        addr: 0,
        cm: 0x51,
        pm: 0x39,
        kind: ReplyKind::Positive { st: *b"200" },
        data: data.clone(),
    };
    let raw = RawFrame {
        addr: 0,
        text: data.clone(),
    };
    let mut decoder = Decoder::new();
    decoder.push(&command.encode());
    let mut response = MSISDN_APDU.to_vec();
    response.extend_from_slice(&[0x90, 0x00]);
    let response = Response::parse(&response).unwrap();
    for shown in [
        format!("{command:?}"),
        format!("{reply:?}"),
        format!("{raw:?}"),
        format!("{decoder:?}"),
        format!("{response:?}"),
        format!("{response:#?}"),
    ] {
        assert!(!leaks(&shown), "{shown}");
        assert!(shown.len() < 160, "{shown}");
    }
    assert!(format!("{command:?}").contains("data_len: 17"));
    assert!(format!("{response:?}").contains("90 00"));
}

#[test]
fn personalisation_steps_print_header_and_length_only() {
    let json = r#"{"steps":[{"apdu":"00DC01040BFFFF0791683108108300F0","expected_sw":["9000"]}]}"#;
    let script: PersoScript = serde_json::from_str(json).unwrap();
    assert_eq!(script.steps[0].apdu, MSISDN_APDU);
    let shown = format!("{script:?}");
    assert!(!leaks(&shown), "{shown}");
    assert!(shown.contains("00 DC 01 04"), "{shown}");
    assert!(shown.contains("apdu_len: 16"), "{shown}");
    // A malformed script's error says where, not what.
    for bad in [
        r#"{"steps":[{"apdu":"00DC01040BFFFF0791683108108300F"}]}"#,
        r#"{"steps":[{"apdu":"00DC01040BFFFF0791683108108300FG"}]}"#,
    ] {
        let err = serde_json::from_str::<PersoScript>(bad)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("91683108"), "{err}");
    }
}
