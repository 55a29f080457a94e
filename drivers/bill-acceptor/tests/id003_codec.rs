//! ID-003 codec: the manual-derived byte vectors, status parsing, and properties of the
//! decoder (random bytes never panic it, frames survive noise, encode/decode round-trip).

use bill_acceptor::id003::frame::{Decoder, Frame, crc16};
use bill_acceptor::id003::message::{
    Command, CurrencyEntry, CurrencyTable, Status, currency_from_version, denomination_mask,
    failure_text, reject_text,
};
use hex_literal::hex;
use proptest::collection::vec;
use proptest::prelude::*;

#[test]
fn command_vectors_are_exact() {
    assert_eq!(Command::StatusRequest.encode(), hex!("FC 05 11 27 56"));
    assert_eq!(Command::Ack.encode(), hex!("FC 05 50 AA 05"));
    assert_eq!(Command::Reset.encode(), hex!("FC 05 40 2B 15"));
    assert_eq!(Command::Stack1.encode(), hex!("FC 05 41 A2 04"));
    assert_eq!(Command::Return.encode(), hex!("FC 05 43 B0 27"));
    assert_eq!(
        Command::SetInhibit(true).encode(),
        hex!("FC 06 C3 01 8D C7")
    );
    assert_eq!(
        Command::SetInhibit(false).encode(),
        hex!("FC 06 C3 00 04 D6")
    );
    assert_eq!(
        Command::SetDenominations([0, 0]).encode(),
        hex!("FC 07 C0 00 00 2D B5")
    );
    assert_eq!(
        Command::CurrencyAssignRequest.encode(),
        hex!("FC 05 8A 7D 7C")
    );
}

#[test]
fn crc_is_kermit() {
    // CRC-16/KERMIT check value over "123456789".
    assert_eq!(crc16(b"123456789"), 0x2189);
    assert_eq!(crc16(&hex!("FC 05 11")), 0x5627);
}

#[test]
fn command_codes() {
    let codes: Vec<u8> = [
        Command::Stack2,
        Command::Hold,
        Command::Wait,
        Command::SetSecurity([0, 0]),
        Command::SetCommMode(0),
        Command::SetDirection(0),
        Command::SetOptionalFunction([0, 0]),
        Command::VersionRequest,
        Command::BootVersionRequest,
    ]
    .iter()
    .map(|c| c.to_frame().code)
    .collect();
    assert_eq!(
        codes,
        [0x42, 0x44, 0x45, 0xC1, 0xC2, 0xC4, 0xC5, 0x88, 0x89]
    );
}

#[test]
fn every_status_code_parses_to_its_own_status() {
    let cases: &[(&[u8], Status)] = &[
        (&[0x11], Status::Idling),
        (&[0x12], Status::Accepting),
        (&[0x13, 0x63], Status::Escrow(0x63)),
        (&[0x14], Status::Stacking),
        (&[0x15], Status::VendValid),
        (&[0x16], Status::Stacked),
        (&[0x17, 0x71], Status::Rejecting(0x71)),
        (&[0x18], Status::Returning),
        (&[0x19], Status::Holding),
        (&[0x1A], Status::Disabled),
        (&[0x1B], Status::Initializing),
        (&[0x40], Status::PowerUp),
        // The pitfall of a public driver: 0x41 must not be read as plain power-up.
        (&[0x41], Status::PowerUpBillInAcceptor),
        (&[0x42], Status::PowerUpBillInStacker),
        (&[0x43], Status::StackerFull),
        (&[0x44], Status::StackerOpen),
        (&[0x45], Status::AcceptorJam),
        (&[0x46], Status::StackerJam),
        (&[0x47], Status::Pause),
        (&[0x48], Status::Cheated),
        (&[0x49, 0xA2], Status::Failure(0xA2)),
        (&[0x4A], Status::CommunicationError),
        (&[0x4B], Status::InvalidCommand),
    ];
    for (bytes, want) in cases {
        let frame = Frame::new(bytes[0], &bytes[1..]);
        assert_eq!(Status::parse(&frame), Ok(*want), "{bytes:02X?}");
        assert_eq!(want.to_frame(), frame);
    }
    assert!(Status::parse(&Frame::new(0x13, [])).is_err());
    assert!(Status::parse(&Frame::new(0x99, [])).is_err());
}

#[test]
fn escrow_status_on_the_wire() {
    let bytes = Status::Escrow(0x64).to_frame().encode().unwrap();
    assert_eq!(&bytes[..4], &hex!("FC 06 13 64"));
    let mut d = Decoder::new();
    d.push(&bytes);
    let frame = d.next_frame().unwrap();
    assert_eq!(Status::parse(&frame), Ok(Status::Escrow(0x64)));
}

#[test]
fn reject_and_failure_codes_have_texts() {
    for code in 0x71..=0x7F {
        assert_ne!(reject_text(code), "unknown reject reason", "{code:#x}");
    }
    assert_eq!(reject_text(0x10), "unknown reject reason");
    assert_eq!(failure_text(0xA2), "stack motor failure");
}

#[test]
fn currency_is_read_from_the_version_string() {
    assert_eq!(
        currency_from_version("i(CNY)-100-SS ID003-05V123-45 02JAN24").as_deref(),
        Some("CNY")
    );
    assert_eq!(
        currency_from_version("i(usa)-100-SS").as_deref(),
        Some("USA")
    );
    // The first group of exactly three letters.
    assert_eq!(
        currency_from_version("UBA(10)-SS (EUR)").as_deref(),
        Some("EUR")
    );
    assert_eq!(currency_from_version("iVIZION CNY V1.23"), None);
    assert_eq!(currency_from_version("i(CNYX)-100"), None);
    assert_eq!(currency_from_version("i(CN"), None);
    assert_eq!(currency_from_version("i(元元元)"), None);
    assert_eq!(currency_from_version(""), None);
}

#[test]
fn currency_table_values_come_from_the_device() {
    // 1, 5, 10, 20, 50, 100 yuan on escrow codes 61..66, country 0x9C, plus an unused slot.
    let data = hex!(
        "61 9C 01 00  62 9C 05 00  63 9C 01 01  64 9C 02 01  65 9C 05 01  66 9C 01 02  67 00 00 00"
    );
    let table = CurrencyTable::parse(&data);
    assert_eq!(table.fen(0x61), Some(100));
    assert_eq!(table.fen(0x66), Some(10_000));
    assert_eq!(table.fen(0x67), None);
    assert_eq!(table.country(), Some(0x9C));
    let fens: Vec<u64> = table.denominations().iter().map(|d| d.fen).collect();
    assert_eq!(fens, [100, 500, 1000, 2000, 5000, 10_000]);
    assert_eq!(table.encode(), data);
    // 5 jiao = 5 × 10^-1 yuan.
    let jiao = CurrencyEntry::for_fen(0x68, 0x9C, 50).unwrap();
    assert_eq!(jiao.exponent, 0x81);
    assert_eq!(jiao.fen(), Some(50));
}

#[test]
fn denomination_mask_refuses_listed_codes() {
    assert_eq!(denomination_mask(&[]), [0, 0]);
    assert_eq!(denomination_mask(&[0x61, 0x63]), [0b101, 0]);
    assert_eq!(denomination_mask(&[0x69]), [0, 1]);
}

#[test]
fn decoder_is_not_stalled_by_a_false_sync_with_a_long_length() {
    let good = Status::Idling.to_frame().encode().unwrap();
    let mut d = Decoder::new();
    d.push(&[0xFC, 0xF0]);
    d.push(&good);
    assert_eq!(d.next_frame(), Some(Status::Idling.to_frame()));
}

#[test]
fn decoder_rejects_bad_crc_and_short_length() {
    let mut d = Decoder::new();
    d.push(&hex!("FC 05 11 27 57"));
    d.push(&hex!("FC 03 11 00 00"));
    assert_eq!(d.next_frame(), None);
    assert!(d.discarded() > 0);
}

fn any_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::StatusRequest),
        Just(Command::Reset),
        Just(Command::Stack1),
        Just(Command::Stack2),
        Just(Command::Return),
        Just(Command::Hold),
        Just(Command::Wait),
        Just(Command::Ack),
        any::<[u8; 2]>().prop_map(Command::SetDenominations),
        any::<[u8; 2]>().prop_map(Command::SetSecurity),
        any::<u8>().prop_map(Command::SetCommMode),
        any::<bool>().prop_map(Command::SetInhibit),
        any::<u8>().prop_map(Command::SetDirection),
        any::<[u8; 2]>().prop_map(Command::SetOptionalFunction),
        Just(Command::GetDenominations),
        Just(Command::GetSecurity),
        Just(Command::GetCommMode),
        Just(Command::GetInhibit),
        Just(Command::GetDirection),
        Just(Command::GetOptionalFunction),
        Just(Command::VersionRequest),
        Just(Command::BootVersionRequest),
        Just(Command::CurrencyAssignRequest),
    ]
}

proptest! {
    #[test]
    fn random_bytes_never_panic_the_decoder(chunks in vec(vec(any::<u8>(), 0..64), 0..16)) {
        let mut d = Decoder::new();
        for c in &chunks {
            d.push(c);
            while let Some(frame) = d.next_frame() {
                let _ = Status::parse(&frame);
                let _ = Command::parse(&frame);
            }
        }
    }

    #[test]
    fn frames_round_trip_through_noise(
        code in any::<u8>(),
        data in vec(any::<u8>(), 0..250),
        noise in vec(any::<u8>().prop_filter("no sync", |b| *b != 0xFC), 0..20),
        split in 0usize..300,
    ) {
        let frame = Frame::new(code, data);
        let bytes = frame.encode().unwrap();
        prop_assert_eq!(bytes.len(), frame.data.len() + 5);
        prop_assert_eq!(usize::from(bytes[1]), bytes.len());
        let mut wire = noise.clone();
        wire.extend_from_slice(&bytes);
        let split = split.min(wire.len());
        let mut d = Decoder::new();
        d.push(&wire[..split]);
        let first = d.next_frame();
        d.push(&wire[split..]);
        let got = first.or_else(|| d.next_frame());
        prop_assert_eq!(got, Some(frame));
    }

    #[test]
    fn commands_round_trip(cmd in any_command()) {
        let bytes = cmd.encode();
        let mut d = Decoder::new();
        d.push(&bytes);
        let frame = d.next_frame().unwrap();
        prop_assert_eq!(Command::parse(&frame), Some(cmd));
    }

    #[test]
    fn status_parser_is_total_and_round_trips(code in any::<u8>(), data in vec(any::<u8>(), 0..4)) {
        let frame = Frame::new(code, data);
        if let Ok(status) = Status::parse(&frame) {
            prop_assert!(Status::is_status_code(code));
            prop_assert_eq!(Status::parse(&status.to_frame()), Ok(status));
        }
    }

    #[test]
    fn currency_table_parser_is_total(data in vec(any::<u8>(), 0..80)) {
        let table = CurrencyTable::parse(&data);
        prop_assert_eq!(table.entries.len(), data.len() / 4);
        let _ = table.denominations();
    }

    #[test]
    fn currency_from_any_version_string_never_panics(v in "\\PC{0,60}", bytes in vec(any::<u8>(), 0..60)) {
        if let Some(c) = currency_from_version(&v) {
            prop_assert_eq!(c.len(), 3);
            prop_assert!(c.bytes().all(|b| b.is_ascii_uppercase()));
        }
        let _ = currency_from_version(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn currency_in_parentheses_is_found(
        prefix in "[^(]{0,12}",
        code in "[A-Za-z]{3}",
        rest in "\\PC{0,30}",
    ) {
        let version = format!("{prefix}({code}){rest}");
        prop_assert_eq!(currency_from_version(&version), Some(code.to_ascii_uppercase()));
    }

    #[test]
    fn currency_entries_round_trip(fen in 1u64..10_000_000) {
        if let Some(e) = CurrencyEntry::for_fen(0x61, 0x9C, fen) {
            prop_assert_eq!(e.fen(), Some(fen));
        }
    }
}

#[test]
fn oversized_frame_is_refused() {
    assert!(Frame::new(0x88, vec![b'x'; 251]).encode().is_err());
    assert!(Frame::new(0x88, vec![b'x'; 250]).encode().is_ok());
}
