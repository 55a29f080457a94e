//! The ID-003 driver against a real acceptor: `cargo test -p bill-acceptor --features
//! hardware-tests --test id003_hardware` with `TELEKIOSK_ID003_PORT=/dev/ttyUSB0`.
//! Insert a note when asked; it is returned, never stacked.
#![cfg(feature = "hardware-tests")]

use std::time::Duration;

use bill_acceptor::id003::Id003;
use bill_acceptor::{AcceptorEvent, BillAcceptor, Protocol};
use devio::LineSettings;

#[tokio::test]
async fn real_acceptor_connects_and_returns_a_note() {
    let port_name = std::env::var("TELEKIOSK_ID003_PORT")
        .expect("set TELEKIOSK_ID003_PORT to the acceptor's serial port");
    let settings = Protocol::Id003.line_settings();
    let port = devio::open_serial(&port_name, settings).unwrap();
    assert_eq!(LineSettings::of(&port).unwrap(), LineSettings::e81(9600));
    let mut acceptor = Id003::new(port);
    let info = acceptor.connect().await.unwrap();
    println!("{info:?}");
    assert!(!info.denominations.is_empty());
    let all: Vec<u64> = info.denominations.iter().map(|d| d.fen).collect();
    acceptor.enable(&all).await.unwrap();
    println!("insert a note within 60 s");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        for event in acceptor.poll().await.unwrap() {
            println!("{event:?}");
            assert!(!matches!(event, AcceptorEvent::Credit { .. }));
            if let AcceptorEvent::Escrow { .. } = event {
                acceptor.return_note().await.unwrap();
            }
            if let AcceptorEvent::Returned { .. } = event {
                acceptor.disable().await.unwrap();
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no note was inserted and returned");
}
