//! ESC/POS encoder: commands and receipts to bytes. Pure: no I/O.
//!
//! Command bytes follow the Epson ESC/POS reference as implemented by Chinese kiosk
//! printers (PROTOCOLS.md §5). Text is sent in Chinese mode (汉字模式, `FS &`) as GB18030.

use encoding_rs::GB18030;

use crate::receipt::{Align, Block, CutKind, QrErrorLevel, Receipt, Size};

/// ESC @ — initialise the printer (clears styles, keeps the receive buffer).
pub const INIT: [u8; 2] = [0x1B, 0x40];
/// FS & — enter Chinese character mode.
pub const CHINESE_ON: [u8; 2] = [0x1C, 0x26];
/// FS . — leave Chinese character mode.
pub const CHINESE_OFF: [u8; 2] = [0x1C, 0x2E];
/// LF — print the line buffer and feed one line.
pub const LF: u8 = 0x0A;
/// GS ( k fn 81 — print the stored QR symbol.
pub const QR_PRINT: [u8; 8] = [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30];

/// ESC E n — bold on/off.
pub fn bold(on: bool) -> [u8; 3] {
    [0x1B, 0x45, u8::from(on)]
}

/// GS ! n — character size; `Size::Double` is double width and double height (0x11).
pub fn size(size: Size) -> [u8; 3] {
    [0x1D, 0x21, if size == Size::Double { 0x11 } else { 0x00 }]
}

/// ESC a n — justification: 0 left, 1 centre, 2 right.
pub fn align(align: Align) -> [u8; 3] {
    let n = match align {
        Align::Left => 0,
        Align::Centre => 1,
        Align::Right => 2,
    };
    [0x1B, 0x61, n]
}

/// GS V — cut.
pub fn cut(kind: CutKind) -> Vec<u8> {
    match kind {
        CutKind::Full => vec![0x1D, 0x56, 0x00],
        CutKind::Partial => vec![0x1D, 0x56, 0x01],
        CutKind::FeedAndCut(n) => vec![0x1D, 0x56, 0x41, n],
    }
}

/// ESC d n — print and feed `n` lines.
pub fn feed_lines(n: u8) -> [u8; 3] {
    [0x1B, 0x64, n]
}

/// GS ( k — the QR code sequence: model 2, module size, error level, store data, print.
/// Data longer than a QR symbol can hold is truncated to 7089 bytes (the printer would
/// refuse it anyway); the length bytes are pL/pH = len + 3.
pub fn qr(data: &[u8], module_size: u8, level: QrErrorLevel) -> Vec<u8> {
    let data = data.get(..7089).unwrap_or(data);
    let mut out = Vec::with_capacity(data.len() + 40);
    // fn 65: select model 2.
    out.extend_from_slice(&[0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00]);
    // fn 67: module size.
    out.extend_from_slice(&[
        0x1D,
        0x28,
        0x6B,
        0x03,
        0x00,
        0x31,
        0x43,
        module_size.clamp(1, 16),
    ]);
    // fn 69: error correction level 48 + n.
    let n = match level {
        QrErrorLevel::L => 0,
        QrErrorLevel::M => 1,
        QrErrorLevel::Q => 2,
        QrErrorLevel::H => 3,
    };
    out.extend_from_slice(&[0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x30 + n]);
    // fn 80: store data, pL pH = len + 3 (cn fn m).
    let len = data.len() + 3;
    let [pl, ph, ..] = len.to_le_bytes();
    out.extend_from_slice(&[0x1D, 0x28, 0x6B, pl, ph, 0x31, 0x50, 0x30]);
    out.extend_from_slice(data);
    // fn 81: print.
    out.extend_from_slice(&QR_PRINT);
    out
}

/// Encodes text for the printer in GB18030. Characters GB18030 cannot represent become
/// `?`; control characters (below 0x20 and DEL) become spaces so that text can never
/// inject a command.
pub fn encode_text(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_control() {
            out.push(b' ');
            continue;
        }
        let mut buf = [0u8; 4];
        let (bytes, _, had_errors) = GB18030.encode(c.encode_utf8(&mut buf));
        if had_errors {
            out.push(b'?');
        } else {
            out.extend_from_slice(&bytes);
        }
    }
    out
}

/// Decodes GB18030 bytes from the printer stream (malformed sequences become U+FFFD).
pub fn decode_text(bytes: &[u8]) -> String {
    GB18030.decode_without_bom_handling(bytes).0.into_owned()
}

/// Width of `text` in printer columns at normal size: one column for a single-byte
/// character, two for a multi-byte one (CJK characters are printed 24 dots wide at Font A).
pub fn display_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

/// Width of one character in printer columns (see [`display_width`]).
pub fn char_width(c: char) -> usize {
    if c.is_ascii() {
        return 1;
    }
    let mut buf = [0u8; 4];
    let (bytes, _, had_errors) = GB18030.encode(c.encode_utf8(&mut buf));
    if had_errors || bytes.len() == 1 { 1 } else { 2 }
}

/// Encodes a whole receipt: init, Chinese mode, then each block. Every text line ends
/// with LF and styles are reset after each styled line, so a receipt cut short by a
/// paper-out leaves no style behind.
pub fn encode_receipt(receipt: &Receipt) -> Vec<u8> {
    let width = receipt.width_cols();
    let mut out = Vec::new();
    out.extend_from_slice(&INIT);
    out.extend_from_slice(&CHINESE_ON);
    for block in receipt.blocks() {
        match block {
            Block::Text(t) => {
                let styled = t.align != Align::Left || t.bold || t.size != Size::Normal;
                if t.align != Align::Left {
                    out.extend_from_slice(&align(t.align));
                }
                if t.bold {
                    out.extend_from_slice(&bold(true));
                }
                if t.size != Size::Normal {
                    out.extend_from_slice(&size(t.size));
                }
                out.extend_from_slice(&encode_text(&t.text));
                out.push(LF);
                if styled {
                    if t.size != Size::Normal {
                        out.extend_from_slice(&size(Size::Normal));
                    }
                    if t.bold {
                        out.extend_from_slice(&bold(false));
                    }
                    if t.align != Align::Left {
                        out.extend_from_slice(&align(Align::Left));
                    }
                }
            }
            Block::Rule => {
                out.extend(std::iter::repeat_n(b'-', width));
                out.push(LF);
            }
            Block::KeyValue { label, value } => {
                for line in crate::receipt::kv_lines(label, value, width) {
                    out.extend_from_slice(&encode_text(line.trim_end()));
                    out.push(LF);
                }
            }
            Block::Qr(q) => {
                // The symbol prints at once (GS ( k fn 81 moves to the next line itself).
                if q.align != Align::Left {
                    out.extend_from_slice(&align(q.align));
                }
                out.extend_from_slice(&qr(q.data.as_bytes(), q.module_size, q.error_level));
                if q.align != Align::Left {
                    out.extend_from_slice(&align(Align::Left));
                }
            }
            Block::Feed(n) => out.extend_from_slice(&feed_lines(*n)),
            Block::Cut(kind) => out.extend_from_slice(&cut(*kind)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn gb18030_round_trips_chinese_text(s in "[\\u{4E00}-\\u{9FA5}\\u{3000}-\\u{303F}\\u{FF01}-\\u{FF5E} -~¥]{0,60}") {
            prop_assert_eq!(decode_text(&encode_text(&s)), s);
        }

        #[test]
        fn encoded_text_never_contains_a_control_byte(s in any::<String>()) {
            let bytes = encode_text(&s);
            prop_assert!(bytes.iter().all(|&b| b >= 0x20 && b != 0x7F));
            // One output character per input character.
            prop_assert_eq!(decode_text(&bytes).chars().count(), s.chars().count());
        }
    }

    #[test]
    fn command_vectors_from_the_fact_sheet() {
        assert_eq!(INIT, hex!("1B 40"));
        assert_eq!(bold(true), hex!("1B 45 01"));
        assert_eq!(bold(false), hex!("1B 45 00"));
        assert_eq!(size(Size::Double), hex!("1D 21 11"));
        assert_eq!(size(Size::Normal), hex!("1D 21 00"));
        assert_eq!(align(Align::Left), hex!("1B 61 00"));
        assert_eq!(align(Align::Centre), hex!("1B 61 01"));
        assert_eq!(align(Align::Right), hex!("1B 61 02"));
        assert_eq!(CHINESE_ON, hex!("1C 26"));
        assert_eq!(CHINESE_OFF, hex!("1C 2E"));
        assert_eq!(cut(CutKind::Full), hex!("1D 56 00"));
        assert_eq!(cut(CutKind::Partial), hex!("1D 56 01"));
        assert_eq!(cut(CutKind::FeedAndCut(3)), hex!("1D 56 41 03"));
        assert_eq!(QR_PRINT, hex!("1D 28 6B 03 00 31 51 30"));
    }

    #[test]
    fn qr_sequence_exact_bytes() {
        let got = qr(b"ABC", 6, QrErrorLevel::M);
        let want = [
            &hex!("1D 28 6B 04 00 31 41 32 00")[..],   // fn 65 model 2
            &hex!("1D 28 6B 03 00 31 43 06"),          // fn 67 module size 6
            &hex!("1D 28 6B 03 00 31 45 31"),          // fn 69 level M = 48 + 1
            &hex!("1D 28 6B 06 00 31 50 30 41 42 43"), // fn 80 store, pL = 3 + 3
            &hex!("1D 28 6B 03 00 31 51 30"),          // fn 81 print
        ]
        .concat();
        assert_eq!(got, want);
    }

    #[test]
    fn qr_length_spills_into_ph() {
        let data = vec![b'x'; 300];
        let got = qr(&data, 3, QrErrorLevel::H);
        // 303 = 0x012F
        assert_eq!(&got[25..33], &hex!("1D 28 6B 2F 01 31 50 30"));
        assert_eq!(&got[24], &0x33);
    }

    #[test]
    fn chinese_text_is_gb18030() {
        assert_eq!(encode_text("回执"), hex!("BB D8 D6 B4"));
        assert_eq!(encode_text("A￥"), hex!("41 A3 A4"));
        assert_eq!(decode_text(&hex!("BB D8 D6 B4")), "回执");
        // Four-byte GB18030 for characters outside GBK.
        assert_eq!(encode_text("¥"), hex!("81 30 84 36"));
        assert_eq!(
            decode_text(&encode_text("¥50.00 业务受理回执")),
            "¥50.00 业务受理回执"
        );
    }

    #[test]
    fn unencodable_and_control_characters_cannot_break_the_stream() {
        // U+E5E5 has no GB18030 mapping in encoding_rs.
        assert_eq!(encode_text("a\u{E5E5}b"), b"a?b");
        assert_eq!(encode_text("a\x1b@\n"), b"a @ ");
    }

    #[test]
    fn whole_receipt_exact_bytes() {
        let r = Receipt::new(8).title("回执").kv("金额", "5").cut();
        let want = [
            &hex!("1B 40 1C 26")[..],
            &hex!("1B 61 01 1B 45 01 1D 21 11"),
            &hex!("BB D8 D6 B4 0A"),
            &hex!("1D 21 00 1B 45 00 1B 61 00"),
            &hex!("BD F0 B6 EE 20 20 20 35 0A"),
            &hex!("1D 56 41 00"),
        ]
        .concat();
        assert_eq!(encode_receipt(&r), want);
    }
}
