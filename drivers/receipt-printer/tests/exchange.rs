//! The driver against the simulator over a pseudo-terminal at the printer's 9600 8N1.

use std::time::Duration;

use receipt_printer::sim::{self, PrintedReceipt, SimConfig, SimControl, render};
use receipt_printer::{
    DEFAULT_LINE, NotPrintedReason, Paper, PrintOutcome, Printer, PrinterConfig, Receipt,
    open_serial,
};
use tokio::sync::mpsc;

struct Bench {
    printer: Printer<devio::SerialStream>,
    controls: mpsc::Sender<SimControl>,
    receipts: mpsc::Receiver<PrintedReceipt>,
    out: tempfile::TempDir,
    _guard: devio::SlaveGuard,
}

fn config() -> PrinterConfig {
    PrinterConfig {
        settle: Duration::from_millis(50),
        per_line: Duration::ZERO,
        ..PrinterConfig::default()
    }
}

async fn bench(initial: Vec<SimControl>) -> Bench {
    let pty = devio::Pty::new(DEFAULT_LINE).unwrap();
    let port = open_serial(pty.path(), DEFAULT_LINE).unwrap();
    assert_eq!(
        devio::LineSettings::of(&port).unwrap().to_string(),
        "9600 8N1"
    );
    assert_eq!(pty.line_settings().unwrap(), DEFAULT_LINE);
    let (device, guard) = pty.into_parts();
    let out = tempfile::tempdir().unwrap();
    let (controls, controls_rx) = mpsc::channel(8);
    let (receipts_tx, receipts) = mpsc::channel(8);
    let cfg = SimConfig {
        out_dir: Some(out.path().to_owned()),
        initial,
    };
    tokio::spawn(sim::run(device, cfg, controls_rx, receipts_tx));
    Bench {
        printer: Printer::new(port, config()),
        controls,
        receipts,
        out,
        _guard: guard,
    }
}

async fn next_receipt(b: &mut Bench) -> PrintedReceipt {
    tokio::time::timeout(Duration::from_secs(20), b.receipts.recv())
        .await
        .expect("the simulator cut a receipt")
        .expect("simulator running")
}

fn top_up_receipt() -> Receipt {
    Receipt::new(48)
        .title("业务受理回执")
        .rule()
        .kv("业务类型", "话费充值")
        .kv("手机号码", "138****1234")
        .kv("金额", "¥50.00")
        .rule()
        .qr("https://kiosk.example/r/T1")
        .centre("谢谢惠顾")
        .cut()
}

#[tokio::test]
async fn receipt_is_printed_and_rendered() {
    let mut b = bench(vec![]).await;
    let status = b.printer.status().await.unwrap();
    assert!(status.online);
    assert_eq!(status.paper, Paper::Ok);
    let outcome = b.printer.print(&top_up_receipt()).await.unwrap();
    assert!(outcome.is_printed(), "{outcome:?}");
    let r = next_receipt(&mut b).await;
    assert!(!r.paper.interrupted);
    assert_eq!(r.text, top_up_receipt().to_text());
    assert!(r.text.contains("业务受理回执"));
    assert!(r.text.contains("[QR: https://kiosk.example/r/T1]"));
    let (png, txt) = r.files.clone().unwrap();
    assert_eq!(png, b.out.path().join("001.png"));
    assert_eq!(std::fs::read_to_string(txt).unwrap(), r.text);
    let (w, h) = render::png_size(&std::fs::read(png).unwrap()).unwrap();
    assert_eq!(w, 576);
    assert!(h > 300, "a receipt with a QR code is tall: {h}");
}

#[tokio::test]
async fn paper_near_end_still_prints_and_is_reported() {
    let mut b = bench(vec![SimControl::Paper(Paper::NearEnd)]).await;
    let outcome = b.printer.print(&top_up_receipt()).await.unwrap();
    match outcome {
        PrintOutcome::Printed { status } => assert_eq!(status.paper, Paper::NearEnd),
        other => panic!("expected printed, got {other:?}"),
    }
    assert!(!next_receipt(&mut b).await.paper.interrupted);
}

#[tokio::test]
async fn paper_out_before_the_job_refuses_it() {
    let mut b = bench(vec![SimControl::Paper(Paper::Out)]).await;
    let outcome = b.printer.print(&top_up_receipt()).await.unwrap();
    assert_eq!(
        outcome,
        PrintOutcome::NotPrinted {
            reason: NotPrintedReason::PaperOut
        }
    );
    // Nothing was sent, so nothing was cut.
    assert!(b.printer.status().await.unwrap().paper == Paper::Out);
    assert!(b.receipts.try_recv().is_err());
}

#[tokio::test]
async fn paper_out_mid_receipt_is_interrupted_not_printed() {
    let mut b = bench(vec![SimControl::PaperOutAfter(3)]).await;
    let outcome = b.printer.print(&top_up_receipt()).await.unwrap();
    assert_eq!(
        outcome,
        PrintOutcome::Interrupted {
            reason: NotPrintedReason::PaperOut
        }
    );
    let r = next_receipt(&mut b).await;
    assert!(r.paper.interrupted);
    assert!(r.text.contains("业务受理回执"));
    assert!(r.text.contains("---- paper out ----"), "{}", r.text);
    assert!(!r.text.contains("谢谢惠顾"));
    assert!(!r.text.contains("---- cut ----"));
    assert_eq!(b.printer.status().await.unwrap().paper, Paper::Out);

    // New roll: the next receipt prints.
    b.controls.send(SimControl::Paper(Paper::Ok)).await.unwrap();
    assert!(
        b.printer
            .print(&top_up_receipt())
            .await
            .unwrap()
            .is_printed()
    );
    assert!(!next_receipt(&mut b).await.paper.interrupted);
}

#[tokio::test]
async fn cover_open_refuses_until_closed() {
    let mut b = bench(vec![SimControl::Cover { open: true }]).await;
    let status = b.printer.status().await.unwrap();
    assert!(status.cover_open);
    assert!(!status.online);
    let outcome = b.printer.print(&top_up_receipt()).await.unwrap();
    assert_eq!(
        outcome,
        PrintOutcome::NotPrinted {
            reason: NotPrintedReason::CoverOpen
        }
    );
    b.controls
        .send(SimControl::Cover { open: false })
        .await
        .unwrap();
    assert!(
        b.printer
            .print(&top_up_receipt())
            .await
            .unwrap()
            .is_printed()
    );
    assert_eq!(next_receipt(&mut b).await.number, 1);
}

#[tokio::test]
async fn offline_printer_is_refused() {
    let mut b = bench(vec![SimControl::Online(false)]).await;
    let outcome = b.printer.print(&top_up_receipt()).await.unwrap();
    assert_eq!(
        outcome,
        PrintOutcome::NotPrinted {
            reason: NotPrintedReason::Offline
        }
    );
}

#[tokio::test]
async fn silent_port_is_no_answer_not_printed() {
    // A pty with nobody on the device end: requests go nowhere.
    let pty = devio::Pty::new(DEFAULT_LINE).unwrap();
    let port = open_serial(pty.path(), DEFAULT_LINE).unwrap();
    let mut printer = Printer::new(
        port,
        PrinterConfig {
            reply_timeout: Duration::from_millis(300),
            ..config()
        },
    );
    let outcome = printer.print(&top_up_receipt()).await.unwrap();
    assert_eq!(
        outcome,
        PrintOutcome::NotPrinted {
            reason: NotPrintedReason::NoAnswer
        }
    );
    drop(pty);
}

#[tokio::test]
async fn handles_share_one_printer_task() {
    let b = bench(vec![]).await;
    let Bench {
        printer,
        mut receipts,
        out: _out,
        _guard,
        controls: _c,
    } = b;
    let handle = printer.spawn();
    let other = handle.clone();
    let (one, two) = tokio::join!(
        handle.print(Receipt::new(48).line("第一张").cut()),
        other.print(Receipt::new(48).line("第二张").cut()),
    );
    assert!(one.unwrap().is_printed());
    assert!(two.unwrap().is_printed());
    let mut texts = Vec::new();
    for _ in 0..2 {
        let r = tokio::time::timeout(Duration::from_secs(20), receipts.recv())
            .await
            .unwrap()
            .unwrap();
        texts.push(r.text);
    }
    texts.sort();
    assert_eq!(
        texts,
        vec!["第一张\n---- cut ----\n", "第二张\n---- cut ----\n"]
    );
    assert_eq!(handle.status().await.unwrap().paper, Paper::Ok);
}
