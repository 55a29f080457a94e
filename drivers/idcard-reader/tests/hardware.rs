//! Against a real reader: `cargo test -p idcard-reader --features hardware-tests --test hardware`
//! with `TELEKIOSK_IDCARD_PORT=/dev/ttyUSB0` (serial) and/or `TELEKIOSK_IDCARD_USB=VID:PID`
//! (USB bulk). Put a valid card on the reader within 30 s of the start.
#![cfg(feature = "hardware-tests")]

use std::time::Duration;

use idcard_reader::usb::UsbReader;
use idcard_reader::{IdCardReader, ReaderConfig, WaitOutcome};

async fn exercise<T: devio::Transport>(mut reader: IdCardReader<T>) {
    reader.sam_status().await.expect("SAM status");
    let sam = reader.sam_id().await.expect("SAM id");
    eprintln!("SAM {sam}");
    match reader
        .wait_for_card(Duration::from_secs(30))
        .await
        .expect("reader fault")
    {
        WaitOutcome::Card(card) => {
            // Masked output only.
            eprintln!("read {} (photo {} bytes)", card.text, card.photo.len());
            assert_eq!(card.photo.len(), 1024);
        }
        other => panic!("no card read: {other:?}"),
    }
}

#[tokio::test]
async fn serial_reader_reads_a_card() {
    let Ok(path) = std::env::var("TELEKIOSK_IDCARD_PORT") else {
        eprintln!("TELEKIOSK_IDCARD_PORT not set: serial reader not tested");
        return;
    };
    let port = devio::open_serial(&path, idcard_reader::LINE_SETTINGS).expect("open port");
    exercise(IdCardReader::new(port, ReaderConfig::default())).await;
}

#[tokio::test]
async fn usb_reader_reads_a_card() {
    let Ok(sel) = std::env::var("TELEKIOSK_IDCARD_USB") else {
        eprintln!("TELEKIOSK_IDCARD_USB not set: USB reader not tested");
        return;
    };
    let usb = UsbReader::open(sel.parse().expect("VID:PID")).expect("open USB reader");
    eprintln!("endpoints {:?}", usb.endpoints());
    exercise(IdCardReader::new(
        usb.into_transport(),
        ReaderConfig::default(),
    ))
    .await;
}
