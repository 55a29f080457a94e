//! Real printers: `cargo test -p receipt-printer --features hardware-tests --test hardware`
//! with `TELEKIOSK_PRINTER_PORT=/dev/ttyUSB0` (serial, 9600 8N1 or `TELEKIOSK_PRINTER_BAUD`)
//! and/or `TELEKIOSK_PRINTER_USB=VID:PID` (USB printer class). A test whose variable is unset
//! says so and passes. Each prints one test receipt: check it by eye.
#![cfg(feature = "hardware-tests")]

use receipt_printer::usb::{self, UsbSelector};
use receipt_printer::{DEFAULT_LINE, Printer, PrinterConfig, Receipt, open_serial};

fn receipt(link: &str) -> Receipt {
    Receipt::new(48)
        .title("打印机测试")
        .line(format!("hardware test over {link}"))
        .kv("金额", "¥0.00")
        .qr("https://example.com/telekiosk/hardware-test")
        .cut()
}

#[tokio::test]
async fn serial_printer_prints() {
    let Ok(path) = std::env::var("TELEKIOSK_PRINTER_PORT") else {
        eprintln!("TELEKIOSK_PRINTER_PORT not set: skipping the serial printer");
        return;
    };
    let baud = std::env::var("TELEKIOSK_PRINTER_BAUD")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(DEFAULT_LINE.baud);
    let port = open_serial(&path, devio::LineSettings::n81(baud)).unwrap();
    let mut printer = Printer::new(
        port,
        PrinterConfig {
            baud: Some(baud),
            ..PrinterConfig::default()
        },
    );
    let status = printer.status().await.unwrap();
    eprintln!("{status:?}");
    let outcome = printer.print(&receipt("serial")).await.unwrap();
    assert!(outcome.is_printed(), "{outcome:?}");
}

#[tokio::test]
async fn usb_printer_prints() {
    let Ok(id) = std::env::var("TELEKIOSK_PRINTER_USB") else {
        eprintln!("TELEKIOSK_PRINTER_USB not set: skipping the USB printer");
        return;
    };
    let selector: UsbSelector = id.parse().unwrap();
    let pipe = usb::open(selector).unwrap();
    let mut printer = Printer::new(
        pipe,
        PrinterConfig {
            baud: None,
            ..PrinterConfig::default()
        },
    );
    let status = printer.status().await.unwrap();
    eprintln!("{status:?}");
    let outcome = printer.print(&receipt("USB")).await.unwrap();
    assert!(outcome.is_printed(), "{outcome:?}");
}
