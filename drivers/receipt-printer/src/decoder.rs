//! ESC/POS stream decoder: the printer's side of [`crate::escpos`]. Pure, incremental.
//!
//! Bytes are pushed as they arrive; [`Decoder::next_command`] returns a command once all of
//! its bytes are there. Commands the simulator does not act on are recognised by their
//! parameter layout and returned as [`Command::Other`] so the stream stays in step; a byte
//! sequence that is not a known command is skipped (ESC/GS/FS plus one byte), like a printer
//! ignoring an undefined command. Nothing here panics on any input.

/// One decoded command (or a run of printable bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Bytes to print (0x20 and above), undecoded: the code page depends on Chinese mode.
    Text(Vec<u8>),
    /// LF: print the line and feed.
    LineFeed,
    /// CR: ignored by most printers when auto line feed is off.
    CarriageReturn,
    /// ESC @.
    Init,
    /// ESC E n.
    Bold(bool),
    /// GS ! n: width and height multipliers (1..=8).
    Size { width: u8, height: u8 },
    /// ESC a n: 0 left, 1 centre, 2 right.
    Align(u8),
    /// FS &.
    ChineseOn,
    /// FS ..
    ChineseOff,
    /// ESC d n: print and feed n lines.
    FeedLines(u8),
    /// GS V m [n]: cut; `partial` for m = 1/49/66, `feed` dots past the cutter for m = 65/66.
    Cut { partial: bool, feed: u8 },
    /// GS ( k fn 65: QR model.
    QrModel(u8),
    /// GS ( k fn 67: module size in dots.
    QrModuleSize(u8),
    /// GS ( k fn 69: error level byte (48 + n).
    QrErrorLevel(u8),
    /// GS ( k fn 80: store data.
    QrStore(Vec<u8>),
    /// GS ( k fn 81: print the stored symbol.
    QrPrint,
    /// DLE EOT n: real-time status request.
    StatusRequest(u8),
    /// A known command the simulator does not act on (its bytes are consumed).
    Other(Vec<u8>),
    /// Bytes that form no known command; skipped.
    Skipped(Vec<u8>),
}

/// Incremental ESC/POS decoder.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;
const FS: u8 = 0x1C;
const DLE: u8 = 0x10;

/// Longest text run returned at once (a printer line is at most a few hundred bytes).
const MAX_TEXT_RUN: usize = 4096;

enum Parse {
    /// Need more bytes.
    Incomplete,
    /// A command of `len` bytes.
    Done(Command, usize),
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held waiting for the rest of a command.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete command, if any.
    pub fn next_command(&mut self) -> Option<Command> {
        match parse(&self.buf) {
            Parse::Incomplete => None,
            Parse::Done(cmd, len) => {
                let len = len.clamp(1, self.buf.len());
                self.buf.drain(..len);
                Some(cmd)
            }
        }
    }

    /// Decodes everything in `bytes` (plus what was pending) that is complete.
    pub fn decode(&mut self, bytes: &[u8]) -> Vec<Command> {
        self.push(bytes);
        std::iter::from_fn(|| self.next_command()).collect()
    }
}

fn at(buf: &[u8], i: usize) -> Option<u8> {
    buf.get(i).copied()
}

/// A command of fixed total length `len` built from its bytes.
fn fixed(buf: &[u8], len: usize, make: impl FnOnce(&[u8]) -> Command) -> Parse {
    match buf.get(..len) {
        Some(bytes) => Parse::Done(make(bytes), len),
        None => Parse::Incomplete,
    }
}

fn other(buf: &[u8], len: usize) -> Parse {
    fixed(buf, len, |b| Command::Other(b.to_vec()))
}

fn parse(buf: &[u8]) -> Parse {
    let Some(first) = at(buf, 0) else {
        return Parse::Incomplete;
    };
    match first {
        b'\n' => Parse::Done(Command::LineFeed, 1),
        b'\r' => Parse::Done(Command::CarriageReturn, 1),
        ESC => parse_esc(buf),
        GS => parse_gs(buf),
        FS => parse_fs(buf),
        DLE => parse_dle(buf),
        0x00..=0x1F => Parse::Done(Command::Skipped(vec![first]), 1),
        _ => {
            let run = buf
                .iter()
                .take(MAX_TEXT_RUN)
                .take_while(|&&b| b >= 0x20)
                .count();
            let text = buf.get(..run).unwrap_or_default();
            if run < buf.len() {
                // A control byte ends the run: everything up to it is text.
                return Parse::Done(Command::Text(text.to_vec()), run);
            }
            // The run reaches the end of what arrived (or the length cap): hand out the
            // complete characters and keep a trailing half character for later.
            let whole = cut_at_char_boundary(text);
            if whole > 0 {
                Parse::Done(
                    Command::Text(text.get(..whole).unwrap_or_default().to_vec()),
                    whole,
                )
            } else if run >= MAX_TEXT_RUN {
                Parse::Done(Command::Text(text.to_vec()), run)
            } else {
                Parse::Incomplete
            }
        }
    }
}

/// Length of the longest prefix of `bytes` that ends on a GB18030 character boundary.
fn cut_at_char_boundary(bytes: &[u8]) -> usize {
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let len = if b < 0x81 || b == 0xFF {
            1
        } else if bytes
            .get(i + 1)
            .is_some_and(|b2| (0x30..=0x39).contains(b2))
        {
            4
        } else {
            2
        };
        if i + len > bytes.len() {
            return i;
        }
        i += len;
    }
    i
}

fn parse_esc(buf: &[u8]) -> Parse {
    let Some(c) = at(buf, 1) else {
        return Parse::Incomplete;
    };
    match c {
        b'@' => Parse::Done(Command::Init, 2),
        b'E' | b'G' => fixed(buf, 3, |b| {
            Command::Bold(b.get(2).is_some_and(|n| n & 1 == 1))
        }),
        b'a' => fixed(buf, 3, |b| {
            Command::Align(b.get(2).map_or(0, |n| n % 48 % 3))
        }),
        b'd' => fixed(buf, 3, |b| {
            Command::FeedLines(b.get(2).copied().unwrap_or(0))
        }),
        b'!' | b'-' | b'3' | b'J' | b'M' | b't' | b'R' | b'{' | b' ' | b'V' | b'U' | b'r'
        | b'c' => {
            if c == b'c' {
                // ESC c 3 n / ESC c 4 n / ESC c 5 n
                other(buf, 4)
            } else {
                other(buf, 3)
            }
        }
        b'2' | b'<' => other(buf, 2),
        b'$' | b'\\' => other(buf, 4),
        b'p' => other(buf, 5),
        b'*' => {
            // ESC * m nL nH d1..dk: bit image, k = n × (1 or 3) for m 0/1 or 32/33.
            let (Some(m), Some(nl), Some(nh)) = (at(buf, 2), at(buf, 3), at(buf, 4)) else {
                return Parse::Incomplete;
            };
            let n = usize::from(nl) + 256 * usize::from(nh);
            let k = if m >= 32 { n * 3 } else { n };
            other(buf, 5 + k)
        }
        _ => Parse::Done(Command::Skipped(vec![ESC, c]), 2),
    }
}

fn parse_gs(buf: &[u8]) -> Parse {
    let Some(c) = at(buf, 1) else {
        return Parse::Incomplete;
    };
    match c {
        b'!' => fixed(buf, 3, |b| {
            let n = b.get(2).copied().unwrap_or(0);
            Command::Size {
                width: ((n >> 4) & 0x07) + 1,
                height: (n & 0x07) + 1,
            }
        }),
        b'V' => {
            let Some(m) = at(buf, 2) else {
                return Parse::Incomplete;
            };
            match m {
                0 | 48 => Parse::Done(
                    Command::Cut {
                        partial: false,
                        feed: 0,
                    },
                    3,
                ),
                1 | 49 => Parse::Done(
                    Command::Cut {
                        partial: true,
                        feed: 0,
                    },
                    3,
                ),
                65 | 66 => fixed(buf, 4, |b| Command::Cut {
                    partial: m == 66,
                    feed: b.get(3).copied().unwrap_or(0),
                }),
                _ => Parse::Done(Command::Skipped(vec![GS, c, m]), 3),
            }
        }
        b'(' => parse_gs_paren(buf),
        b'B' | b'H' | b'h' | b'w' | b'f' | b'a' | b'r' | b'I' | b'b' | b'E' => other(buf, 3),
        b'L' | b'W' | b'P' => other(buf, 4),
        b'v' => {
            // GS v 0 m xL xH yL yH d1..dk, k = (xL + 256 xH) × (yL + 256 yH).
            let (Some(xl), Some(xh), Some(yl), Some(yh)) =
                (at(buf, 4), at(buf, 5), at(buf, 6), at(buf, 7))
            else {
                return Parse::Incomplete;
            };
            let k = (usize::from(xl) + 256 * usize::from(xh))
                * (usize::from(yl) + 256 * usize::from(yh));
            other(buf, 8 + k)
        }
        b'k' => {
            // GS k m: m 0..=6 NUL-terminated data; m 65..=79 length-prefixed.
            let Some(m) = at(buf, 2) else {
                return Parse::Incomplete;
            };
            if m <= 6 {
                match buf.iter().skip(3).position(|&b| b == 0) {
                    Some(p) => other(buf, 3 + p + 1),
                    None if buf.len() > 3 + 255 => Parse::Done(Command::Skipped(vec![GS, c, m]), 3),
                    None => Parse::Incomplete,
                }
            } else {
                let Some(n) = at(buf, 3) else {
                    return Parse::Incomplete;
                };
                other(buf, 4 + usize::from(n))
            }
        }
        _ => Parse::Done(Command::Skipped(vec![GS, c]), 2),
    }
}

/// GS ( X pL pH data: every GS ( command carries its parameter length.
fn parse_gs_paren(buf: &[u8]) -> Parse {
    let (Some(x), Some(pl), Some(ph)) = (at(buf, 2), at(buf, 3), at(buf, 4)) else {
        return Parse::Incomplete;
    };
    let p = usize::from(pl) + 256 * usize::from(ph);
    let total = 5 + p;
    let Some(body) = buf.get(5..total) else {
        return Parse::Incomplete;
    };
    if x != b'k' {
        return Parse::Done(
            Command::Other(buf.get(..total).unwrap_or_default().to_vec()),
            total,
        );
    }
    // body = cn fn params…; cn 49 is QR code.
    let cmd = match body {
        [49, 65, n, ..] => Command::QrModel(*n),
        [49, 67, n, ..] => Command::QrModuleSize(*n),
        [49, 69, n, ..] => Command::QrErrorLevel(*n),
        [49, 80, 48, data @ ..] => Command::QrStore(data.to_vec()),
        [49, 81, ..] => Command::QrPrint,
        _ => Command::Other(buf.get(..total).unwrap_or_default().to_vec()),
    };
    Parse::Done(cmd, total)
}

fn parse_fs(buf: &[u8]) -> Parse {
    let Some(c) = at(buf, 1) else {
        return Parse::Incomplete;
    };
    match c {
        b'&' => Parse::Done(Command::ChineseOn, 2),
        b'.' => Parse::Done(Command::ChineseOff, 2),
        b'!' | b'-' | b'W' | b'C' => other(buf, 3),
        b'S' | b'p' => other(buf, 4),
        _ => Parse::Done(Command::Skipped(vec![FS, c]), 2),
    }
}

fn parse_dle(buf: &[u8]) -> Parse {
    let Some(c) = at(buf, 1) else {
        return Parse::Incomplete;
    };
    match c {
        0x04 => fixed(buf, 3, |b| {
            Command::StatusRequest(b.get(2).copied().unwrap_or(0))
        }),
        0x05 => other(buf, 3),
        0x14 => other(buf, 5),
        _ => Parse::Done(Command::Skipped(vec![DLE]), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escpos;
    use crate::receipt::{QrErrorLevel, Receipt};
    use proptest::prelude::*;

    #[test]
    fn decodes_what_the_encoder_writes() {
        let bytes = escpos::encode_receipt(&Receipt::new(16).title("回执").qr("hi").cut());
        let cmds = Decoder::new().decode(&bytes);
        assert_eq!(
            cmds,
            vec![
                Command::Init,
                Command::ChineseOn,
                Command::Align(1),
                Command::Bold(true),
                Command::Size {
                    width: 2,
                    height: 2
                },
                Command::Text(escpos::encode_text("回执")),
                Command::LineFeed,
                Command::Size {
                    width: 1,
                    height: 1
                },
                Command::Bold(false),
                Command::Align(0),
                Command::Align(1),
                Command::QrModel(50),
                Command::QrModuleSize(6),
                Command::QrErrorLevel(49),
                Command::QrStore(b"hi".to_vec()),
                Command::QrPrint,
                Command::Align(0),
                Command::Cut {
                    partial: false,
                    feed: 0
                },
            ]
        );
    }

    #[test]
    fn byte_by_byte_gives_the_same_commands() {
        let bytes = escpos::encode_receipt(
            &Receipt::new(32)
                .line("业务受理回执 ok")
                .qr_with("数据", 4, QrErrorLevel::H)
                .cut(),
        );
        let whole = Decoder::new().decode(&bytes);
        let mut d = Decoder::new();
        let mut pieces = Vec::new();
        for b in &bytes {
            pieces.extend(d.decode(std::slice::from_ref(b)));
        }
        // Text may arrive in several runs; join adjacent runs before comparing.
        assert_eq!(join_text(pieces), join_text(whole));
        assert_eq!(d.pending(), 0);
    }

    fn join_text(cmds: Vec<Command>) -> Vec<Command> {
        let mut out: Vec<Command> = Vec::new();
        for c in cmds {
            if let (Some(Command::Text(prev)), Command::Text(more)) = (out.last_mut(), &c) {
                prev.extend_from_slice(more);
                continue;
            }
            out.push(c);
        }
        out
    }

    #[test]
    fn status_request_between_commands() {
        let cmds = Decoder::new().decode(&[0x10, 0x04, 0x04, 0x1B, 0x40]);
        assert_eq!(cmds, vec![Command::StatusRequest(4), Command::Init]);
    }

    #[test]
    fn unknown_commands_are_skipped_and_known_ones_keep_step() {
        let cmds = Decoder::new().decode(&[0x1B, 0x99, b'A', 0x1D, 0x4C, 0x00, 0x00, b'B', b'\n']);
        assert_eq!(
            cmds,
            vec![
                Command::Skipped(vec![0x1B, 0x99]),
                Command::Text(b"A".to_vec()),
                Command::Other(vec![0x1D, 0x4C, 0x00, 0x00]),
                Command::Text(b"B".to_vec()),
                Command::LineFeed,
            ]
        );
    }

    proptest! {
        #[test]
        fn split_points_do_not_change_the_commands(
            bytes in proptest::collection::vec(any::<u8>(), 0..1024),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let whole = join_text(Decoder::new().decode(&bytes));
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut d = Decoder::new();
            let mut pieces = Vec::new();
            let mut start = 0;
            for p in points.into_iter().chain([bytes.len()]) {
                pieces.extend(d.decode(&bytes[start..p]));
                start = p;
            }
            prop_assert_eq!(join_text(pieces), whole);
        }

        #[test]
        fn random_bytes_never_panic_and_always_progress(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut d = Decoder::new();
            let cmds = d.decode(&bytes);
            // Everything but a possibly incomplete tail is consumed.
            let consumed: usize = bytes.len() - d.pending();
            prop_assert!(consumed <= bytes.len());
            prop_assert!(cmds.len() <= bytes.len());
        }
    }
}
