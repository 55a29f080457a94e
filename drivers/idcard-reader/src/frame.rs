//! SAM_V frame codec (pure: bytes in, frames out; no I/O).
//!
//! Host → reader: `AA AA AA 96 69 | LEN_H LEN_L | CMD | PARA | DATA.. | CHK`
//! Reader → host: `AA AA AA 96 69 | LEN_H LEN_L | SW1 SW2 SW3 | DATA.. | CHK`
//!
//! `LEN` is big-endian and counts every byte after it, `CHK` included. `CHK` is the XOR of
//! every byte after the 5-byte preamble up to (not including) `CHK`, i.e. over `LEN_H`,
//! `LEN_L` and the body.

use std::fmt;

/// The 5-byte frame header (帧头).
pub const PREAMBLE: [u8; 5] = [0xAA, 0xAA, 0xAA, 0x96, 0x69];

/// Largest `LEN` this codec accepts. The largest real frame (read with fingerprint) has
/// `LEN` = 2314; anything far above that is line noise and is resynchronised over.
pub const MAX_LEN: usize = 4096;

/// Smallest `LEN` of any frame: a host frame carries at least CMD, PARA and CHK.
pub const MIN_LEN: usize = 3;

/// Command of a host frame (`CMD PARA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// `10 FF` — reset the SAM (复位SAM).
    ResetSam,
    /// `11 FF` — SAM status self-check (SAM状态检测).
    SamStatus,
    /// `12 FF` — read the SAM's management number (读SAM管理信息).
    ReadSamId,
    /// `20 01` — find a card in the field (寻找证/卡).
    FindCard,
    /// `20 02` — select the card found (选取证/卡).
    SelectCard,
    /// `30 01` — read text and photo (读基本信息).
    ReadText,
    /// `30 10` — read text, photo and fingerprint (读基本信息+指纹).
    ReadTextFingerprint,
    /// `30 03` — read the newest address page (读追加住址).
    ReadNewAddress,
    /// `61 FF` with one data byte — set the reader's maximum RF frame size.
    SetMaxRfFrame(u8),
}

impl Command {
    /// `(CMD, PARA)` bytes.
    pub const fn code(self) -> (u8, u8) {
        match self {
            Command::ResetSam => (0x10, 0xFF),
            Command::SamStatus => (0x11, 0xFF),
            Command::ReadSamId => (0x12, 0xFF),
            Command::FindCard => (0x20, 0x01),
            Command::SelectCard => (0x20, 0x02),
            Command::ReadText => (0x30, 0x01),
            Command::ReadTextFingerprint => (0x30, 0x10),
            Command::ReadNewAddress => (0x30, 0x03),
            Command::SetMaxRfFrame(_) => (0x61, 0xFF),
        }
    }

    /// Human-readable name for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            Command::ResetSam => "reset SAM",
            Command::SamStatus => "SAM status",
            Command::ReadSamId => "read SAM id",
            Command::FindCard => "find card",
            Command::SelectCard => "select card",
            Command::ReadText => "read text and photo",
            Command::ReadTextFingerprint => "read text, photo and fingerprint",
            Command::ReadNewAddress => "read new address",
            Command::SetMaxRfFrame(_) => "set max RF frame",
        }
    }

    /// Encodes the full host frame.
    pub fn encode(self) -> Vec<u8> {
        let (cmd, para) = self.code();
        let mut body = vec![cmd, para];
        if let Command::SetMaxRfFrame(size) = self {
            body.push(size);
        }
        encode_frame(&body)
    }

    /// Interprets the body of a host frame (what the simulator, i.e. the reader, receives).
    pub fn parse(body: &[u8]) -> Result<Self, FrameError> {
        match body {
            [0x10, 0xFF] => Ok(Command::ResetSam),
            [0x11, 0xFF] => Ok(Command::SamStatus),
            [0x12, 0xFF] => Ok(Command::ReadSamId),
            [0x20, 0x01] => Ok(Command::FindCard),
            [0x20, 0x02] => Ok(Command::SelectCard),
            [0x30, 0x01] => Ok(Command::ReadText),
            [0x30, 0x10] => Ok(Command::ReadTextFingerprint),
            [0x30, 0x03] => Ok(Command::ReadNewAddress),
            [0x61, 0xFF, size] => Ok(Command::SetMaxRfFrame(*size)),
            _ => Err(FrameError::UnknownCommand {
                cmd: body.first().copied(),
                para: body.get(1).copied(),
            }),
        }
    }
}

/// SW3, the reader's status byte (操作状态字). SW1 SW2 are normally `00 00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// `90` — success.
    Ok,
    /// `9F` — find card succeeded (a card is in the field).
    FindOk,
    /// `91` — the card holds no such content (e.g. no new address, no fingerprint).
    NoContent,
    /// `10` — the reader received a frame with a wrong checksum.
    ChecksumError,
    /// `11` — the reader received a frame with a wrong length.
    LengthError,
    /// `21` — the reader does not know the command.
    CommandError,
    /// `23` — operation not authorised (越权操作).
    Unauthorised,
    /// `24` — unknown error inside the reader.
    UnknownError,
    /// `31` — the card failed to authenticate the SAM.
    CardAuthenticatesSamFailed,
    /// `32` — the SAM failed to authenticate the card (card may be forged or damaged).
    SamAuthenticatesCardFailed,
    /// `33` — information verification error.
    VerificationError,
    /// `40` — unknown card type.
    UnknownCardType,
    /// `41` — reading the card failed (usually the card moved during the read).
    ReadFailed,
    /// `47` — getting the random number failed.
    RandomNumberFailed,
    /// `60` — the SAM's self-test failed.
    SamSelfTestFailed,
    /// `66` — the SAM is not authorised.
    SamNotAuthorised,
    /// `80` — find card failed: no card in the field.
    FindFailed,
    /// `81` — select card failed.
    SelectFailed,
    /// Any other SW3 value.
    Other(u8),
}

impl Status {
    /// Decodes SW3.
    pub const fn from_byte(b: u8) -> Self {
        match b {
            0x90 => Status::Ok,
            0x9F => Status::FindOk,
            0x91 => Status::NoContent,
            0x10 => Status::ChecksumError,
            0x11 => Status::LengthError,
            0x21 => Status::CommandError,
            0x23 => Status::Unauthorised,
            0x24 => Status::UnknownError,
            0x31 => Status::CardAuthenticatesSamFailed,
            0x32 => Status::SamAuthenticatesCardFailed,
            0x33 => Status::VerificationError,
            0x40 => Status::UnknownCardType,
            0x41 => Status::ReadFailed,
            0x47 => Status::RandomNumberFailed,
            0x60 => Status::SamSelfTestFailed,
            0x66 => Status::SamNotAuthorised,
            0x80 => Status::FindFailed,
            0x81 => Status::SelectFailed,
            other => Status::Other(other),
        }
    }

    /// Encodes SW3.
    pub const fn byte(self) -> u8 {
        match self {
            Status::Ok => 0x90,
            Status::FindOk => 0x9F,
            Status::NoContent => 0x91,
            Status::ChecksumError => 0x10,
            Status::LengthError => 0x11,
            Status::CommandError => 0x21,
            Status::Unauthorised => 0x23,
            Status::UnknownError => 0x24,
            Status::CardAuthenticatesSamFailed => 0x31,
            Status::SamAuthenticatesCardFailed => 0x32,
            Status::VerificationError => 0x33,
            Status::UnknownCardType => 0x40,
            Status::ReadFailed => 0x41,
            Status::RandomNumberFailed => 0x47,
            Status::SamSelfTestFailed => 0x60,
            Status::SamNotAuthorised => 0x66,
            Status::FindFailed => 0x80,
            Status::SelectFailed => 0x81,
            Status::Other(b) => b,
        }
    }

    /// `true` for the two success codes (`90`, `9F`).
    pub const fn is_success(self) -> bool {
        matches!(self, Status::Ok | Status::FindOk)
    }

    /// What kind of trouble a non-success status means, for the application to decide.
    pub const fn outcome(self) -> StatusClass {
        match self {
            Status::Ok | Status::FindOk => StatusClass::Success,
            Status::NoContent => StatusClass::NoContent,
            Status::FindFailed | Status::SelectFailed => StatusClass::NoCard,
            Status::ChecksumError | Status::LengthError | Status::CommandError => StatusClass::Link,
            Status::CardAuthenticatesSamFailed
            | Status::SamAuthenticatesCardFailed
            | Status::VerificationError
            | Status::UnknownCardType => StatusClass::CardRejected,
            Status::ReadFailed | Status::RandomNumberFailed => StatusClass::ReadFailed,
            Status::SamSelfTestFailed
            | Status::SamNotAuthorised
            | Status::Unauthorised
            | Status::UnknownError
            | Status::Other(_) => StatusClass::Reader,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Status::Ok => "success",
            Status::FindOk => "card found",
            Status::NoContent => "no such content on the card",
            Status::ChecksumError => "reader received a bad checksum",
            Status::LengthError => "reader received a bad length",
            Status::CommandError => "reader does not know the command",
            Status::Unauthorised => "operation not authorised",
            Status::UnknownError => "unknown reader error",
            Status::CardAuthenticatesSamFailed => "card failed to authenticate the SAM",
            Status::SamAuthenticatesCardFailed => "SAM failed to authenticate the card",
            Status::VerificationError => "information verification error",
            Status::UnknownCardType => "unknown card type",
            Status::ReadFailed => "reading the card failed",
            Status::RandomNumberFailed => "random number failure",
            Status::SamSelfTestFailed => "SAM self-test failed",
            Status::SamNotAuthorised => "SAM not authorised",
            Status::FindFailed => "no card in the field",
            Status::SelectFailed => "selecting the card failed",
            Status::Other(_) => "unknown status",
        };
        write!(f, "{text} (SW3 {:02X})", self.byte())
    }
}

/// Coarse meaning of a [`Status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusClass {
    /// The command did what was asked.
    Success,
    /// The card has no such content (an outcome, not a fault).
    NoContent,
    /// No card (or the card left the field): try again later.
    NoCard,
    /// The frame did not reach the reader intact: resend.
    Link,
    /// The card was refused by the security module (forged, damaged or unknown card).
    CardRejected,
    /// The read broke off (card moved): ask the customer to hold the card still.
    ReadFailed,
    /// The reader or its SAM is at fault: call a technician.
    Reader,
}

/// A reader → host frame. `Debug` shows the payload's length only: a read reply carries
/// the card text and photo.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    /// SW1, normally `00`.
    pub sw1: u8,
    /// SW2, normally `00`.
    pub sw2: u8,
    /// SW3, the status.
    pub status: Status,
    /// Payload between SW3 and CHK.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("sw1", &self.sw1)
            .field("sw2", &self.sw2)
            .field("status", &self.status)
            .field("data_len", &self.data.len())
            .finish()
    }
}

impl Reply {
    /// A reply with `SW1 SW2 = 00 00`.
    pub fn new(status: Status, data: Vec<u8>) -> Self {
        Self {
            sw1: 0,
            sw2: 0,
            status,
            data,
        }
    }

    /// Encodes the full reader frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(3 + self.data.len());
        body.extend_from_slice(&[self.sw1, self.sw2, self.status.byte()]);
        body.extend_from_slice(&self.data);
        encode_frame(&body)
    }

    /// Interprets the body of a reader frame.
    pub fn parse(body: &[u8]) -> Result<Self, FrameError> {
        match body {
            [sw1, sw2, sw3, data @ ..] => Ok(Reply {
                sw1: *sw1,
                sw2: *sw2,
                status: Status::from_byte(*sw3),
                data: data.to_vec(),
            }),
            _ => Err(FrameError::ShortReply { len: body.len() }),
        }
    }
}

/// XOR checksum over `LEN_H LEN_L` and the body.
pub fn checksum(len: u16, body: &[u8]) -> u8 {
    let [hi, lo] = len.to_be_bytes();
    body.iter().fold(hi ^ lo, |acc, b| acc ^ b)
}

/// Wraps a body (CMD PARA DATA or SW1 SW2 SW3 DATA) into a complete frame.
///
/// Bodies longer than [`MAX_LEN`] − 1 are a programming error of the caller; they are
/// truncated so the frame stays well-formed.
pub fn encode_frame(body: &[u8]) -> Vec<u8> {
    let body = body.get(..MAX_LEN - 1).unwrap_or(body);
    // Cannot fail: body.len() + 1 <= MAX_LEN < u16::MAX.
    let len = u16::try_from(body.len() + 1).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(PREAMBLE.len() + 2 + body.len() + 1);
    out.extend_from_slice(&PREAMBLE);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    out.push(checksum(len, body));
    out
}

/// Problems with frames seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A complete frame arrived but its CHK does not match; the frame was dropped.
    #[error("frame checksum mismatch: frame says {got:02X}, bytes give {want:02X}")]
    BadChecksum {
        /// CHK byte in the frame.
        got: u8,
        /// CHK computed over the frame.
        want: u8,
    },
    /// A preamble was followed by an impossible `LEN`; the decoder resynchronised.
    #[error("impossible frame length {len}")]
    BadLength {
        /// The `LEN` field.
        len: usize,
    },
    /// A reader frame without the three status words.
    #[error("reader frame too short ({len} bytes of body)")]
    ShortReply {
        /// Body length.
        len: usize,
    },
    /// A host frame with a command this reader does not know.
    #[error("unknown command {cmd:02X?} {para:02X?}")]
    UnknownCommand {
        /// CMD byte, if any.
        cmd: Option<u8>,
        /// PARA byte, if any.
        para: Option<u8>,
    },
}

/// Splits a byte stream into frame bodies, resynchronising on garbage.
///
/// Feed bytes with [`FrameDecoder::push`], then call [`FrameDecoder::next_frame`] until it
/// returns `None`. Every complete frame comes out either as `Ok(body)` (checksum good)
/// or as `Err(FrameError)` (checksum bad, length impossible) — a bad frame is never
/// handed out as data.
#[derive(Default, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    discarded: usize,
}

/// Lengths only: the buffer may hold a card's text.
impl std::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("buffered", &self.buf.len())
            .field("discarded", &self.discarded)
            .finish()
    }
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Number of garbage bytes skipped so far (bytes before a preamble).
    pub fn discarded(&self) -> usize {
        self.discarded
    }

    /// Drops everything buffered (e.g. before sending a new command).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Bytes buffered but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame body, an error frame, or `None` if more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        // Skip to the first possible preamble start.
        let start = find_preamble(&self.buf);
        if start > 0 {
            self.discarded += start;
            self.buf.drain(..start);
        }
        if self.buf.len() < PREAMBLE.len() + 2 {
            return None;
        }
        if self.buf.get(..PREAMBLE.len()) != Some(&PREAMBLE[..]) {
            // A partial preamble at the end of the buffer: wait for more.
            return None;
        }
        let (hi, lo) = match (self.buf.get(5), self.buf.get(6)) {
            (Some(h), Some(l)) => (*h, *l),
            _ => return None,
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            // Not a real frame: drop the first byte and look for the next preamble.
            self.discarded += 1;
            self.buf.drain(..1);
            return Some(Err(FrameError::BadLength { len }));
        }
        let total = PREAMBLE.len() + 2 + len;
        if self.buf.len() < total {
            return None;
        }
        let frame: Vec<u8> = self.buf.drain(..total).collect();
        let body = frame.get(7..total - 1).unwrap_or_default();
        let got = frame.last().copied().unwrap_or_default();
        // len <= MAX_LEN fits u16.
        let want = checksum(u16::from_be_bytes([hi, lo]), body);
        if got != want {
            return Some(Err(FrameError::BadChecksum { got, want }));
        }
        Some(Ok(body.to_vec()))
    }
}

/// Index of the first byte that may begin a preamble (a full one, or a prefix of one
/// at the end of the buffer); `buf.len()` if none.
fn find_preamble(buf: &[u8]) -> usize {
    for i in 0..buf.len() {
        let rest = buf.get(i..).unwrap_or_default();
        let n = rest.len().min(PREAMBLE.len());
        if rest.get(..n) == PREAMBLE.get(..n) {
            return i;
        }
    }
    buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;
    use proptest::prelude::*;

    #[test]
    fn command_frames_match_the_manual() {
        assert_eq!(
            Command::SamStatus.encode(),
            hex!("AA AA AA 96 69 00 03 11 FF ED")
        );
        assert_eq!(
            Command::FindCard.encode(),
            hex!("AA AA AA 96 69 00 03 20 01 22")
        );
        assert_eq!(
            Command::SelectCard.encode(),
            hex!("AA AA AA 96 69 00 03 20 02 21")
        );
        assert_eq!(
            Command::ReadText.encode(),
            hex!("AA AA AA 96 69 00 03 30 01 32")
        );
        assert_eq!(
            Command::ReadTextFingerprint.encode(),
            hex!("AA AA AA 96 69 00 03 30 10 23")
        );
        assert_eq!(
            Command::SetMaxRfFrame(0x50).encode(),
            hex!("AA AA AA 96 69 00 04 61 FF 50 CA")
        );
        assert_eq!(
            Command::ResetSam.encode(),
            hex!("AA AA AA 96 69 00 03 10 FF EC")
        );
        assert_eq!(
            Command::ReadSamId.encode(),
            hex!("AA AA AA 96 69 00 03 12 FF EE")
        );
        assert_eq!(
            Command::ReadNewAddress.encode(),
            hex!("AA AA AA 96 69 00 03 30 03 30")
        );
    }

    #[test]
    fn replies_encode_with_status_words() {
        // Find OK reply as sent by common readers: 9F with four zero bytes.
        assert_eq!(
            Reply::new(Status::FindOk, vec![0; 4]).encode(),
            hex!("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97")
        );
        assert_eq!(
            Reply::new(Status::FindFailed, vec![]).encode(),
            hex!("AA AA AA 96 69 00 04 00 00 80 84")
        );
    }

    #[test]
    fn the_public_sample_with_chk_21_for_find_is_rejected() {
        let mut d = FrameDecoder::new();
        d.push(&hex!("AA AA AA 96 69 00 03 20 01 21"));
        assert_eq!(
            d.next_frame(),
            Some(Err(FrameError::BadChecksum {
                got: 0x21,
                want: 0x22
            }))
        );
        assert_eq!(d.next_frame(), None);
    }

    #[test]
    fn decoder_resyncs_over_garbage_and_split_frames() {
        let mut d = FrameDecoder::new();
        let mut bytes = vec![0x00, 0xAA, 0x13, 0xAA, 0xAA];
        bytes.extend(Command::FindCard.encode());
        let (a, b) = bytes.split_at(9);
        d.push(a);
        assert_eq!(d.next_frame(), None);
        d.push(b);
        assert_eq!(d.next_frame(), Some(Ok(vec![0x20, 0x01])));
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.discarded(), 5);
    }

    #[test]
    fn impossible_length_is_skipped() {
        let mut d = FrameDecoder::new();
        d.push(&hex!("AA AA AA 96 69 FF FF"));
        d.push(&Command::SamStatus.encode());
        assert_eq!(
            d.next_frame(),
            Some(Err(FrameError::BadLength { len: 0xFFFF }))
        );
        assert_eq!(d.next_frame(), Some(Ok(vec![0x11, 0xFF])));
    }

    #[test]
    fn every_sw3_in_the_manual_has_a_meaning() {
        for b in [
            0x90, 0x9F, 0x91, 0x10, 0x11, 0x21, 0x23, 0x24, 0x31, 0x32, 0x33, 0x40, 0x41, 0x47,
            0x60, 0x66, 0x80, 0x81,
        ] {
            let s = Status::from_byte(b);
            assert!(!matches!(s, Status::Other(_)), "{b:02X}");
            assert_eq!(s.byte(), b);
        }
        assert_eq!(Status::FindFailed.outcome(), StatusClass::NoCard);
        assert_eq!(Status::SamSelfTestFailed.outcome(), StatusClass::Reader);
        assert_eq!(Status::ReadFailed.outcome(), StatusClass::ReadFailed);
        assert_eq!(
            Status::SamAuthenticatesCardFailed.outcome(),
            StatusClass::CardRejected
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_decoder(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
            let mut d = FrameDecoder::new();
            for c in chunks {
                d.push(&c);
                while let Some(f) = d.next_frame() {
                    if let Ok(body) = f {
                        let _ = Reply::parse(&body);
                        let _ = Command::parse(&body);
                    }
                }
            }
        }

        #[test]
        fn random_bytes_with_preambles_never_panic(parts in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..12)), 0..24)) {
            let mut d = FrameDecoder::new();
            for (pre, bytes) in parts {
                if pre { d.push(&PREAMBLE); }
                d.push(&bytes);
                while d.next_frame().is_some() {}
            }
        }

        #[test]
        fn reply_round_trips(sw3 in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..2400), garbage in proptest::collection::vec(any::<u8>(), 0..16)) {
            let reply = Reply::new(Status::from_byte(sw3), data);
            let mut d = FrameDecoder::new();
            // Garbage without 0xAA cannot start a preamble.
            let garbage: Vec<u8> = garbage.into_iter().filter(|b| *b != 0xAA).collect();
            d.push(&garbage);
            d.push(&reply.encode());
            let body = d.next_frame().unwrap().unwrap();
            prop_assert_eq!(Reply::parse(&body).unwrap(), reply);
            prop_assert!(d.next_frame().is_none());
        }

        #[test]
        fn flipped_checksum_is_never_data(data in proptest::collection::vec(any::<u8>(), 0..64), flip in 1u8..=255) {
            let mut frame = Reply::new(Status::Ok, data).encode();
            if let Some(last) = frame.last_mut() { *last ^= flip; }
            let mut d = FrameDecoder::new();
            d.push(&frame);
            let bad = matches!(d.next_frame(), Some(Err(FrameError::BadChecksum { .. })));
            prop_assert!(bad);
        }

        #[test]
        fn command_round_trips(size in any::<u8>(), which in 0usize..9) {
            let cmd = [Command::ResetSam, Command::SamStatus, Command::ReadSamId, Command::FindCard,
                Command::SelectCard, Command::ReadText, Command::ReadTextFingerprint,
                Command::ReadNewAddress, Command::SetMaxRfFrame(size)][which];
            let mut d = FrameDecoder::new();
            d.push(&cmd.encode());
            let body = d.next_frame().unwrap().unwrap();
            prop_assert_eq!(Command::parse(&body).unwrap(), cmd);
        }
    }
}
