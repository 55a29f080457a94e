//! The SSP driver against a real validator: `TELEKIOSK_BILL_PORT=/dev/ttyUSB0 cargo test
//! -p bill-acceptor --features hardware-tests --test ssp_hardware -- --nocapture`.
//! Insert notes during the 30 s window: each is valued and handed back, never kept.
#![cfg(feature = "hardware-tests")]

use std::time::{Duration, Instant};

use bill_acceptor::ssp::{Ssp, SspConfig};
use bill_acceptor::{AcceptorEvent, BillAcceptor, Protocol};

#[tokio::test]
async fn real_validator_identifies_itself_and_returns_every_note() {
    let port = std::env::var("TELEKIOSK_BILL_PORT")
        .expect("set TELEKIOSK_BILL_PORT to the acceptor's serial port");
    let mut ssp = Ssp::open(&port, SspConfig::default()).expect("port opens");
    assert_eq!(
        devio::LineSettings::of(ssp.transport_mut()).unwrap(),
        Protocol::Ssp.line_settings()
    );
    let info = ssp.connect().await.expect("validator answers");
    println!("{info:#?}");
    assert!(
        !info.denominations.is_empty(),
        "the dataset has no channels"
    );
    let all: Vec<u64> = info.denominations.iter().map(|d| d.fen).collect();
    ssp.enable(&all).await.unwrap();
    println!("insert notes within 30 s; each one is returned");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        for event in ssp.poll().await.unwrap() {
            println!("{event:?}");
            match event {
                AcceptorEvent::Escrow { .. } => ssp.return_note().await.unwrap(),
                AcceptorEvent::Credit { fen } => panic!("a test note of {fen} fen was kept"),
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ssp.disable().await.unwrap();
}
