//! SSP frame and eSSP codecs: the manual's bytes, and properties over random input.

use bill_acceptor::ssp::crypto::{self, EsspKey};
use bill_acceptor::ssp::frame::{Decoder, Frame, crc16};
use bill_acceptor::ssp::message::{Command, Reply, Status};
use hex_literal::hex;
use proptest::prelude::*;

#[test]
fn vectors_from_the_manual() {
    let sync = Frame::new(true, 0, Command::Sync.encode());
    assert_eq!(sync.encode().unwrap(), hex!("7F 80 01 11 65 82"));
    let inhibits = Frame::new(true, 0, Command::SetInhibits { mask: 0b111 }.encode());
    assert_eq!(inhibits.encode().unwrap(), hex!("7F 80 03 02 07 00 2B B6"));
    let ok = Frame::new(true, 0, Reply::ok(vec![]).encode());
    assert_eq!(ok.encode().unwrap(), hex!("7F 80 01 F0 23 80"));
    // More GA138 examples.
    let poll = Frame::new(true, 0, Command::Poll.encode());
    assert_eq!(poll.encode().unwrap(), hex!("7F 80 01 07 12 02"));
    let hold = Frame::new(true, 0, Command::Hold.encode());
    assert_eq!(hold.encode().unwrap(), hex!("7F 80 01 18 53 82"));
    let setup = Frame::new(true, 0, Command::SetupRequest.encode());
    assert_eq!(setup.encode().unwrap(), hex!("7F 80 01 05 1D 82"));
    let serial = Frame::new(true, 0, Command::SerialNumber.encode());
    assert_eq!(serial.encode().unwrap(), hex!("7F 80 01 0C 2B 82"));
    let version = Frame::new(true, 0, Command::HostProtocolVersion(8).encode());
    assert_eq!(version.encode().unwrap(), hex!("7F 80 02 06 08 03 94"));
    let generator = Frame::new(true, 0, Command::SetGenerator(982_451_653).encode());
    assert_eq!(
        generator.encode().unwrap(),
        hex!("7F 80 09 4A C5 05 8F 3A 00 00 00 00 B2 73")
    );
    let modulus = Frame::new(true, 0, Command::SetModulus(1_287_821).encode());
    assert_eq!(
        modulus.encode().unwrap(),
        hex!("7F 80 09 4B 8D A6 13 00 00 00 00 00 6C F6")
    );
    let kx = Frame::new(
        true,
        0,
        Command::RequestKeyExchange(7_554_354_432_121).encode(),
    );
    assert_eq!(
        kx.encode().unwrap(),
        hex!("7F 80 09 4C 79 C8 9C E2 DE 06 00 00 9D 52")
    );
    let ack = Frame::new(true, 0, Command::EventAck.encode());
    assert_eq!(ack.encode().unwrap(), hex!("7F 80 01 57 F2 03"));
    let fail = Frame::new(
        true,
        0,
        Reply {
            status: Status::Fail,
            data: vec![],
        }
        .encode(),
    );
    assert_eq!(fail.encode().unwrap(), hex!("7F 80 01 F8 10 00"));
    let serial_reply = hex!("7F 80 05 F0 00 1C 96 2C D4 97");
    let mut d = Decoder::new();
    d.push(&serial_reply);
    let f = d.next_frame().unwrap();
    let r = Reply::parse(&f.data).unwrap();
    assert_eq!(u32::from_be_bytes(r.data.try_into().unwrap()), 1_873_452);
}

#[test]
fn crc_of_the_sync_frame() {
    assert_eq!(crc16(&hex!("80 01 11")), 0x8265);
}

#[test]
fn encrypted_poll_has_the_manuals_shape() {
    let key = EsspKey::new(crypto::DEFAULT_FIXED_KEY, 0x1234);
    let mut rng = rand::rng();
    let data = crypto::encrypt(&key, 0xA7, &Command::Poll.encode(), &mut rng).unwrap();
    let wire = Frame::new(true, 0, data).encode().unwrap();
    // GA973 §4.4: 7F 80 11 7E + 16 encrypted bytes + CRC.
    assert_eq!(&wire[..4], &hex!("7F 80 11 7E"));
}

fn frame_strategy() -> impl Strategy<Value = Frame> {
    (
        any::<bool>(),
        0u8..=0x7D,
        prop::collection::vec(prop_oneof![Just(0x7Fu8), any::<u8>()], 0..=255),
    )
        .prop_map(|(seq, address, data)| Frame::new(seq, address, data))
}

proptest! {
    #[test]
    fn random_bytes_never_panic_the_decoder(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16)) {
        let mut d = Decoder::new();
        for c in &chunks {
            d.push(c);
            while let Some(f) = d.next_frame() {
                prop_assert!(f.data.len() <= 255);
            }
        }
    }

    #[test]
    fn frames_round_trip_with_stuffing(frame in frame_strategy(), split in 0usize..600) {
        let wire = frame.encode().unwrap();
        // Every 0x7F after the STX is doubled.
        let body_sevens = wire[1..].iter().filter(|&&b| b == 0x7F).count();
        prop_assert_eq!(body_sevens % 2, 0);
        let mut d = Decoder::new();
        let cut = split.min(wire.len());
        d.push(&wire[..cut]);
        let early = d.next_frame();
        if let Some(f) = early {
            prop_assert_eq!(f, frame);
        } else {
            d.push(&wire[cut..]);
            prop_assert_eq!(d.next_frame(), Some(frame));
        }
    }

    #[test]
    fn decoder_resyncs_after_garbage(garbage in prop::collection::vec(any::<u8>().prop_filter("no STX", |b| *b != 0x7F), 0..40),
                                     frame in frame_strategy()) {
        let mut d = Decoder::new();
        d.push(&garbage);
        d.push(&frame.encode().unwrap());
        prop_assert_eq!(d.next_frame(), Some(frame));
    }

    #[test]
    fn encrypted_frames_round_trip(payload in prop::collection::vec(any::<u8>(), 0..=crypto::MAX_PLAIN),
                                   count: u32, negotiated: u64) {
        let key = EsspKey::new(crypto::DEFAULT_FIXED_KEY, negotiated);
        let mut rng = rand::rng();
        let data = crypto::encrypt(&key, count, &payload, &mut rng).unwrap();
        let wire = Frame::new(false, 0, data).encode().unwrap();
        let mut d = Decoder::new();
        d.push(&wire);
        let f = d.next_frame().unwrap();
        prop_assert_eq!(crypto::decrypt(&key, &f.data), Ok((count, payload)));
    }
}
