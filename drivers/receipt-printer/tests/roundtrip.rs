//! Encode → simulated printer → text: the simulator reads back what the application wrote.

use proptest::prelude::*;
use receipt_printer::sim::{PrintedLine, SimOutput, SimPrinter, render};
use receipt_printer::{Align, CutKind, QrErrorLevel, Receipt, Size, escpos};

fn print(receipt: &Receipt) -> (Vec<PrintedLine>, bool) {
    let mut sim = SimPrinter::new();
    let out = sim.handle_bytes(&escpos::encode_receipt(receipt));
    let receipts: Vec<_> = out
        .into_iter()
        .filter_map(|o| match o {
            SimOutput::Receipt(r) => Some(r),
            SimOutput::Reply(_) => None,
        })
        .collect();
    assert_eq!(receipts.len(), 1, "one cut, one receipt");
    let r = receipts.into_iter().next().unwrap();
    (r.lines, r.interrupted)
}

#[test]
fn business_receipt_reads_back() {
    let receipt = Receipt::new(48)
        .title("业务受理回执")
        .rule()
        .kv("业务类型", "话费充值")
        .kv("手机号码", "138****1234")
        .kv("金额", "¥50.00")
        .right("2026-11-22 22:00")
        .feed(1)
        .qr("https://kiosk.example/r/T20261122-0001")
        .centre("谢谢惠顾")
        .cut();
    let (lines, interrupted) = print(&receipt);
    assert!(!interrupted);
    let text = render::to_text(&lines, 48);
    assert_eq!(text, receipt.to_text());
    let expected_start = format!("{}业务受理回执\n{}\n", " ".repeat(18), "-".repeat(48));
    assert!(text.starts_with(&expected_start), "{text}");
    assert!(
        text.contains(&format!("金额{}¥50.00\n", " ".repeat(48 - 4 - 7))),
        "{text}"
    );
    assert!(text.contains("[QR: https://kiosk.example/r/T20261122-0001]"));
    assert!(text.ends_with("谢谢惠顾\n---- cut ----\n"));
    // The title is bold and double size on paper.
    match &lines[0] {
        PrintedLine::Text { spans, align } => {
            assert_eq!(*align, Align::Centre);
            assert!(spans[0].bold);
            assert_eq!((spans[0].width, spans[0].height), (2, 2));
        }
        other => panic!("title line is {other:?}"),
    }
    let png = render::to_png(&lines).unwrap();
    assert_eq!(render::png_size(&png).unwrap().0, 576);
}

fn text_strategy() -> impl Strategy<Value = String> {
    // ASCII, CJK, full-width punctuation and a four-byte GB18030 character.
    proptest::collection::vec(
        prop_oneof![
            proptest::char::range(' ', '~'),
            proptest::char::range('\u{4E00}', '\u{4E80}'),
            Just('，'),
            Just('¥'),
            Just('。'),
        ],
        0..70,
    )
    .prop_map(|v| v.into_iter().collect())
}

#[derive(Debug, Clone)]
enum Piece {
    Text(String, u8, bool, bool),
    Rule,
    Kv(String, String),
    Qr(String),
    Feed(u8),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        (text_strategy(), 0..3u8, any::<bool>(), any::<bool>())
            .prop_map(|(t, a, b, d)| Piece::Text(t, a, b, d)),
        Just(Piece::Rule),
        (text_strategy(), text_strategy()).prop_map(|(k, v)| Piece::Kv(k, v)),
        "[a-zA-Z0-9:/.?=-]{1,80}".prop_map(Piece::Qr),
        (0..4u8).prop_map(Piece::Feed),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_receipt_reads_back_as_its_text(pieces in proptest::collection::vec(piece(), 0..12)) {
        let mut r = Receipt::new(48);
        for p in pieces {
            r = match p {
                Piece::Text(t, a, b, d) => {
                    let align = [Align::Left, Align::Centre, Align::Right][usize::from(a)];
                    r.styled(t, align, b, if d { Size::Double } else { Size::Normal })
                }
                Piece::Rule => r.rule(),
                Piece::Kv(k, v) => r.kv(k, v),
                Piece::Qr(d) => r.qr_with(d, 4, QrErrorLevel::Q),
                Piece::Feed(n) => r.feed(n),
            };
        }
        let r = r.cut_with(CutKind::Full);
        let (lines, interrupted) = print(&r);
        prop_assert!(!interrupted);
        prop_assert_eq!(render::to_text(&lines, 48), r.to_text());
    }

    #[test]
    fn simulator_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut sim = SimPrinter::new();
        for out in sim.handle_bytes(&bytes) {
            if let SimOutput::Receipt(r) = out {
                let _ = render::to_text(&r.lines, 48);
            }
        }
    }
}
