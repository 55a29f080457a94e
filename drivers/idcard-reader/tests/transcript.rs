//! Exact bytes on the wire: the driver over an in-memory pipe against a scripted reader
//! that fails the test if the expected exchange does not happen, byte for byte.

use std::time::Duration;

use hex_literal::hex;
use idcard_reader::card::{PHOTO_LEN, Photo, ReadPayload, TextBlock};
use idcard_reader::frame::{Reply, Status};
use idcard_reader::{IdCardReader, ReaderConfig, WaitOutcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Expects `want` from the host, then answers `reply`.
async fn expect(dev: &mut DuplexStream, want: &[u8], reply: &[u8]) {
    let mut got = vec![0u8; want.len()];
    tokio::time::timeout(Duration::from_secs(10), dev.read_exact(&mut got))
        .await
        .expect("host sent nothing")
        .unwrap();
    assert_eq!(got, want, "host sent {got:02X?}");
    dev.write_all(reply).await.unwrap();
}

fn text_block() -> [u8; 256] {
    let card = idcard_reader::sim::builtin_cards()
        .unwrap()
        .into_iter()
        .find(|c| c.name == "resident")
        .unwrap();
    card.text.encode().unwrap()
}

#[tokio::test]
async fn sam_check_and_one_card_read_byte_for_byte() {
    let (host, mut dev) = tokio::io::duplex(8192);
    let config = ReaderConfig {
        poll_interval: Duration::from_millis(10),
        ..ReaderConfig::default()
    };
    let mut reader = IdCardReader::new(host, config);
    let device = tokio::spawn(async move {
        let find = hex!("AA AA AA 96 69 00 03 20 01 22");
        let select = hex!("AA AA AA 96 69 00 03 20 02 21");
        let read = hex!("AA AA AA 96 69 00 03 30 01 32");
        let no_card = hex!("AA AA AA 96 69 00 04 00 00 80 84");
        // SAM status: OK.
        expect(
            &mut dev,
            &hex!("AA AA AA 96 69 00 03 11 FF ED"),
            &hex!("AA AA AA 96 69 00 04 00 00 90 94"),
        )
        .await;
        // Set max RF frame 0x50.
        expect(
            &mut dev,
            &hex!("AA AA AA 96 69 00 04 61 FF 50 CA"),
            &hex!("AA AA AA 96 69 00 04 00 00 90 94"),
        )
        .await;
        // No card, then line noise before a find-OK reply, then select, then read.
        expect(&mut dev, &find, &no_card).await;
        let mut noisy = vec![0x00, 0xAA, 0x55];
        noisy.extend(hex!("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97"));
        expect(&mut dev, &find, &noisy).await;
        expect(
            &mut dev,
            &select,
            &hex!("AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C"),
        )
        .await;
        let payload = ReadPayload {
            text: TextBlock(text_block()),
            photo: Photo::new([0xA5; PHOTO_LEN]),
            fingerprint: None,
        };
        let frame = Reply::new(Status::Ok, payload.encode(false)).encode();
        assert_eq!(frame.len(), 1295);
        // The reply arrives in small pieces, as over a slow serial line.
        let mut got = [0u8; 10];
        dev.read_exact(&mut got).await.unwrap();
        assert_eq!(got, read);
        for chunk in frame.chunks(97) {
            dev.write_all(chunk).await.unwrap();
            tokio::task::yield_now().await;
        }
        // The card is still in the field (find OK): the driver must not select it again.
        expect(
            &mut dev,
            &find,
            &hex!("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97"),
        )
        .await;
        expect(&mut dev, &find, &no_card).await;
        dev
    });
    reader.sam_status().await.unwrap();
    reader.set_max_rf_frame(0x50).await.unwrap();
    match reader.wait_for_card(Duration::from_secs(20)).await.unwrap() {
        WaitOutcome::Card(card) => {
            assert_eq!(card.text.name().masked(), "王**");
            assert_eq!(card.photo.as_bytes(), &[0xA5; PHOTO_LEN]);
        }
        other => panic!("{other:?}"),
    }
    // A zero timeout polls exactly once. Card still there: nothing reported.
    assert_eq!(
        reader.wait_for_card(Duration::ZERO).await.unwrap(),
        WaitOutcome::NoCard
    );
    assert!(reader.awaiting_removal());
    // Card gone.
    assert_eq!(
        reader.wait_for_card(Duration::ZERO).await.unwrap(),
        WaitOutcome::NoCard
    );
    assert!(!reader.awaiting_removal());
    let _dev = device.await.unwrap();
}
