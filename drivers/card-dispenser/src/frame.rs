//! Frame codec of the CRT-591 serial protocol (manual §1.2): pure, no I/O.
//!
//! Every message between host and dispenser is either a single control byte (ACK `06`,
//! NAK `15`, EOT `04`) or a framed text:
//!
//! ```text
//! STX(F2) ADDR LEN_H LEN_L  TEXT..  ETX(03) BCC
//! ```
//!
//! `LEN` counts the text bytes; `BCC` is the XOR of every byte from STX to ETX inclusive.
//! The text starts with a head byte: `C` (43H) for a host command, `P` (50H) for a positive
//! reply and `N` (4EH) for a negative reply.

use std::fmt;

/// Start of text.
pub const STX: u8 = 0xF2;
/// End of text.
pub const ETX: u8 = 0x03;
/// Acknowledge.
pub const ACK: u8 = 0x06;
/// Negative acknowledge: the frame was corrupt, send it again.
pub const NAK: u8 = 0x15;
/// End of transmission: clears the line / discontinues the command.
pub const EOT: u8 = 0x04;

/// Head byte of a host command (`C`).
pub const HEAD_COMMAND: u8 = b'C';
/// Head byte of a positive reply (`P`).
pub const HEAD_POSITIVE: u8 = b'P';
/// Head byte of a negative reply (`N`).
pub const HEAD_NEGATIVE: u8 = b'N';

/// Largest text the manual allows in one frame ("MAX 1024 byte").
pub const MAX_TEXT: usize = 1024;

/// Bytes of framing around the text: STX, ADDR, LEN_H, LEN_L before; ETX, BCC after.
const OVERHEAD: usize = 6;

/// XOR of all bytes: the block check character over STX..=ETX.
pub fn bcc(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// A host command: `C CM PM DATA..`.
///
/// `Debug` shows the data's length only: `51 39` carries APDUs, and a personalisation
/// APDU can hold the subscriber's number or keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// Device address 00–0F (DIP switches).
    pub addr: u8,
    /// Command code (e.g. 31H status request).
    pub cm: u8,
    /// Command parameter.
    pub pm: u8,
    /// Command data (0–512 bytes).
    pub data: Vec<u8>,
}

impl Command {
    /// A command without data.
    pub fn new(addr: u8, cm: u8, pm: u8) -> Self {
        Self {
            addr,
            cm,
            pm,
            data: Vec::new(),
        }
    }

    /// A command with data.
    pub fn with_data(addr: u8, cm: u8, pm: u8, data: impl Into<Vec<u8>>) -> Self {
        Self {
            addr,
            cm,
            pm,
            data: data.into(),
        }
    }

    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut text = Vec::with_capacity(3 + self.data.len());
        text.extend_from_slice(&[HEAD_COMMAND, self.cm, self.pm]);
        text.extend_from_slice(&self.data);
        encode_text(self.addr, &text)
    }
}

/// What a reply says: a positive reply carries the three status bytes, a negative one the
/// two error-code characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyKind {
    /// `P`: command executed; `st0 st1 st2` as ASCII digits.
    Positive {
        /// st0 (card position), st1 (stacker), st2 (reject bin).
        st: [u8; 3],
    },
    /// `N`: command failed with error code `e1 e0` (two ASCII characters).
    Negative {
        /// e1, e0.
        e: [u8; 2],
    },
}

/// A reply from the dispenser.
///
/// `Debug` shows the data's length only (APDU responses from the card).
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    /// Address of the replying unit.
    pub addr: u8,
    /// Echo of the command code.
    pub cm: u8,
    /// Echo of the command parameter.
    pub pm: u8,
    /// Positive or negative, with status or error bytes.
    pub kind: ReplyKind,
    /// Reply data (0–512 bytes).
    pub data: Vec<u8>,
}

impl Reply {
    /// The bytes on the wire (used by the simulator).
    pub fn encode(&self) -> Vec<u8> {
        let mut text = Vec::with_capacity(6 + self.data.len());
        match self.kind {
            ReplyKind::Positive { st } => {
                text.extend_from_slice(&[HEAD_POSITIVE, self.cm, self.pm]);
                text.extend_from_slice(&st);
            }
            ReplyKind::Negative { e } => {
                text.extend_from_slice(&[HEAD_NEGATIVE, self.cm, self.pm]);
                text.extend_from_slice(&e);
            }
        }
        text.extend_from_slice(&self.data);
        encode_text(self.addr, &text)
    }
}

/// Frames a text. Texts longer than [`MAX_TEXT`] are the caller's bug; the length field
/// saturates rather than wrapping so such a frame is at least rejected by the receiver.
pub fn encode_text(addr: u8, text: &[u8]) -> Vec<u8> {
    let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
    let [len_h, len_l] = len.to_be_bytes();
    let mut out = Vec::with_capacity(OVERHEAD + text.len());
    out.extend_from_slice(&[STX, addr, len_h, len_l]);
    out.extend_from_slice(text);
    out.push(ETX);
    out.push(bcc(&out));
    out
}

/// A framed text as received, before it is interpreted as command or reply.
///
/// `Debug` shows the text's length only.
#[derive(Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// Address byte.
    pub addr: u8,
    /// Text between LEN_L and ETX.
    pub text: Vec<u8>,
}

/// Why a received text is not a valid command or reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// The text is shorter than its head requires.
    #[error("text of {0} bytes is too short")]
    TooShort(usize),
    /// The head byte is not C, P or N (or not the one expected here).
    #[error("unexpected text head {0:#04x}")]
    Head(u8),
}

impl RawFrame {
    /// Interprets the text as a host command (simulator side).
    pub fn command(&self) -> Result<Command, TextError> {
        match self.text.as_slice() {
            [HEAD_COMMAND, cm, pm, data @ ..] => Ok(Command {
                addr: self.addr,
                cm: *cm,
                pm: *pm,
                data: data.to_vec(),
            }),
            [head, _, _, ..] => Err(TextError::Head(*head)),
            _ => Err(TextError::TooShort(self.text.len())),
        }
    }

    /// Interprets the text as a dispenser reply (host side).
    pub fn reply(&self) -> Result<Reply, TextError> {
        let (kind, cm, pm, data) = match self.text.as_slice() {
            [HEAD_POSITIVE, cm, pm, s0, s1, s2, data @ ..] => (
                ReplyKind::Positive {
                    st: [*s0, *s1, *s2],
                },
                *cm,
                *pm,
                data,
            ),
            [HEAD_NEGATIVE, cm, pm, e1, e0, data @ ..] => {
                (ReplyKind::Negative { e: [*e1, *e0] }, *cm, *pm, data)
            }
            [HEAD_POSITIVE | HEAD_NEGATIVE, ..] => {
                return Err(TextError::TooShort(self.text.len()));
            }
            [head, ..] => return Err(TextError::Head(*head)),
            [] => return Err(TextError::TooShort(0)),
        };
        Ok(Reply {
            addr: self.addr,
            cm,
            pm,
            kind,
            data: data.to_vec(),
        })
    }
}

/// One unit the decoder recognised on the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// ACK 06.
    Ack,
    /// NAK 15.
    Nak,
    /// EOT 04.
    Eot,
    /// A well-formed frame (length, ETX and BCC all correct).
    Frame(RawFrame),
    /// A frame whose length and ETX were plausible but whose BCC was wrong: the receiver
    /// answers NAK so the sender repeats it.
    Corrupt,
}

/// Incremental decoder: feed bytes as they arrive, take tokens out.
///
/// Bytes that cannot start a token are skipped (resynchronisation on garbage); a frame
/// header with an impossible length or a missing ETX is treated as garbage too, one byte
/// at a time, so a real frame hidden behind noise is still found.
#[derive(Default, Clone)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("addr", &self.addr)
            .field("cm", &format_args!("{:02X}", self.cm))
            .field("pm", &format_args!("{:02X}", self.pm))
            .field("data_len", &self.data.len())
            .finish()
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("addr", &self.addr)
            .field("cm", &format_args!("{:02X}", self.cm))
            .field("pm", &format_args!("{:02X}", self.pm))
            .field("kind", &self.kind)
            .field("data_len", &self.data.len())
            .finish()
    }
}

impl fmt::Debug for RawFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawFrame")
            .field("addr", &self.addr)
            .field("text_len", &self.text.len())
            .finish()
    }
}

/// Length only: the buffer may hold an APDU.
impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("buffered", &self.buf.len())
            .finish()
    }
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Forgets any partial input (after EOT or when starting a new exchange).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Number of buffered bytes not yet turned into tokens.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete token, if any.
    pub fn next_token(&mut self) -> Option<Token> {
        loop {
            let first = *self.buf.first()?;
            match first {
                ACK => {
                    self.buf.drain(..1);
                    return Some(Token::Ack);
                }
                NAK => {
                    self.buf.drain(..1);
                    return Some(Token::Nak);
                }
                EOT => {
                    self.buf.drain(..1);
                    return Some(Token::Eot);
                }
                STX => {}
                _ => {
                    // Garbage: skip to the next byte that may start a token.
                    let skip = self
                        .buf
                        .iter()
                        .position(|b| matches!(*b, STX | ACK | NAK | EOT))
                        .unwrap_or(self.buf.len());
                    self.buf.drain(..skip);
                    continue;
                }
            }
            let (Some(&addr), Some(&len_h), Some(&len_l)) =
                (self.buf.get(1), self.buf.get(2), self.buf.get(3))
            else {
                return None;
            };
            let len = usize::from(u16::from_be_bytes([len_h, len_l]));
            if !(3..=MAX_TEXT).contains(&len) {
                self.buf.drain(..1);
                continue;
            }
            let total = len + OVERHEAD;
            if self.buf.len() < total {
                return None;
            }
            let etx_at = 4 + len;
            if self.buf.get(etx_at) != Some(&ETX) {
                self.buf.drain(..1);
                continue;
            }
            let frame: Vec<u8> = self.buf.drain(..total).collect();
            let (body, check) = frame.split_at(total - 1);
            if check.first() != Some(&bcc(body)) {
                return Some(Token::Corrupt);
            }
            let text = body.get(4..etx_at).map(<[u8]>::to_vec).unwrap_or_default();
            return Some(Token::Frame(RawFrame { addr, text }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;
    use proptest::prelude::*;

    #[test]
    fn status_request_matches_the_manual() {
        assert_eq!(
            Command::new(0, 0x31, 0x30).encode(),
            hex!("F2 00 00 03 43 31 30 03 B0")
        );
    }

    #[test]
    fn commands_the_driver_sends() {
        // Initialise without moving a card, move to the IC station, out to the gate,
        // 3 V ISO cold reset, read the reject-bin counter.
        assert_eq!(
            Command::new(0, 0x30, 0x33).encode(),
            hex!("F2 00 00 03 43 30 33 03 B2")
        );
        assert_eq!(
            Command::new(0, 0x32, 0x31).encode(),
            hex!("F2 00 00 03 43 32 31 03 B2")
        );
        assert_eq!(
            Command::new(0, 0x32, 0x39).encode(),
            hex!("F2 00 00 03 43 32 39 03 BA")
        );
        assert_eq!(
            Command::with_data(0, 0x51, 0x30, [0x35]).encode(),
            hex!("F2 00 00 04 43 51 30 35 03 E2")
        );
        assert_eq!(
            Command::new(0, 0xA5, 0x30).encode(),
            hex!("F2 00 00 03 43 A5 30 03 24")
        );
    }

    #[test]
    fn positive_and_negative_replies_encode_and_decode() {
        let ok = Reply {
            addr: 0,
            cm: 0x31,
            pm: 0x30,
            kind: ReplyKind::Positive { st: *b"012" },
            data: vec![],
        };
        // F2 00 00 06 'P' 31 30 '0' '1' '2' 03 BCC
        let bytes = ok.encode();
        assert_eq!(&bytes[..11], &hex!("F2 00 00 06 50 31 30 30 31 32 03"));
        assert_eq!(bytes[11], bcc(&bytes[..11]));
        let mut d = Decoder::new();
        d.push(&bytes);
        let Some(Token::Frame(f)) = d.next_token() else {
            panic!("no frame")
        };
        assert_eq!(f.reply().unwrap(), ok);

        let jam = Reply {
            addr: 3,
            cm: 0x32,
            pm: 0x31,
            kind: ReplyKind::Negative { e: *b"10" },
            data: vec![],
        };
        assert_eq!(&jam.encode()[..10], &hex!("F2 03 00 05 4E 32 31 31 30 03"));
        d.push(&jam.encode());
        let Some(Token::Frame(f)) = d.next_token() else {
            panic!("no frame")
        };
        assert_eq!(f.reply().unwrap(), jam);
    }

    #[test]
    fn control_bytes_and_garbage() {
        let mut d = Decoder::new();
        d.push(&[0x00, 0xFF, ACK, 0x41, NAK, EOT]);
        assert_eq!(d.next_token(), Some(Token::Ack));
        assert_eq!(d.next_token(), Some(Token::Nak));
        assert_eq!(d.next_token(), Some(Token::Eot));
        assert_eq!(d.next_token(), None);
    }

    #[test]
    fn resyncs_after_a_false_start_and_rejects_bad_bcc() {
        let good = Command::new(0, 0x31, 0x30).encode();
        let mut d = Decoder::new();
        // A stray STX with an absurd length before the real frame.
        d.push(&[STX, 0x00, 0x7F, 0xFF, 0x11]);
        d.push(&good);
        let Some(Token::Frame(f)) = d.next_token() else {
            panic!("no frame")
        };
        assert_eq!(f.command().unwrap(), Command::new(0, 0x31, 0x30));

        let mut bad = good.clone();
        if let Some(last) = bad.last_mut() {
            *last ^= 0x01;
        }
        d.push(&bad);
        assert_eq!(d.next_token(), Some(Token::Corrupt));
        assert_eq!(d.next_token(), None);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn waits_for_a_split_frame() {
        let good = Command::with_data(5, 0x51, 0x39, hex!("00 A4 00 00 02 3F 00")).encode();
        let mut d = Decoder::new();
        let (a, b) = good.split_at(6);
        d.push(a);
        assert_eq!(d.next_token(), None);
        d.push(b);
        let Some(Token::Frame(f)) = d.next_token() else {
            panic!("no frame")
        };
        assert_eq!(f.command().unwrap().data, hex!("00 A4 00 00 02 3F 00"));
        assert_eq!(f.addr, 5);
    }

    #[test]
    fn short_texts_are_errors_not_panics() {
        let f = RawFrame {
            addr: 0,
            text: vec![HEAD_POSITIVE, 0x31, 0x30, b'0'],
        };
        assert_eq!(f.reply(), Err(TextError::TooShort(4)));
        let f = RawFrame {
            addr: 0,
            text: vec![b'X', 0x31, 0x30],
        };
        assert_eq!(f.reply(), Err(TextError::Head(b'X')));
        assert_eq!(f.command(), Err(TextError::Head(b'X')));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut d = Decoder::new();
            d.push(&bytes);
            while let Some(t) = d.next_token() {
                if let Token::Frame(f) = t {
                    let _ = f.reply();
                    let _ = f.command();
                }
            }
        }

        #[test]
        fn commands_round_trip(addr in 0u8..16, cm: u8, pm: u8,
                               data in proptest::collection::vec(any::<u8>(), 0..512),
                               noise in proptest::collection::vec(any::<u8>(), 0..16)) {
            let cmd = Command::with_data(addr, cm, pm, data);
            let mut d = Decoder::new();
            // Noise without any byte that could start a token, then the frame.
            let noise: Vec<u8> = noise.into_iter()
                .filter(|b| !matches!(*b, STX | ACK | NAK | EOT)).collect();
            d.push(&noise);
            d.push(&cmd.encode());
            let Some(Token::Frame(f)) = d.next_token() else {
                return Err(TestCaseError::fail("no frame"));
            };
            prop_assert_eq!(f.command().unwrap(), cmd);
        }

        #[test]
        fn replies_round_trip(addr in 0u8..16, cm: u8, pm: u8, positive: bool,
                              st: [u8; 3], data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let kind = if positive {
                ReplyKind::Positive { st }
            } else {
                ReplyKind::Negative { e: [st[0], st[1]] }
            };
            let reply = Reply { addr, cm, pm, kind, data };
            let mut d = Decoder::new();
            d.push(&reply.encode());
            let Some(Token::Frame(f)) = d.next_token() else {
                return Err(TestCaseError::fail("no frame"));
            };
            prop_assert_eq!(f.reply().unwrap(), reply);
        }
    }
}
