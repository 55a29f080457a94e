//! ID-003 frame codec: `FC | LNG | CMD/STATUS | DATA.. | CRC_L CRC_H`.
//!
//! `LNG` is the length of the whole frame (sync byte and CRC included), so the shortest
//! frame is 5 bytes and the longest 255. The CRC is CRC-16/KERMIT (reflected polynomial
//! 0x8408, initial value 0, no final XOR) over `FC..DATA`, sent low byte first.

use std::fmt;

/// Sync byte that starts every frame.
pub const SYNC: u8 = 0xFC;
/// Bytes around the data: sync, length, code, two CRC bytes.
pub const OVERHEAD: usize = 5;
/// Longest frame `LNG` can describe.
pub const MAX_FRAME: usize = 255;
/// Longest data field.
pub const MAX_DATA: usize = MAX_FRAME - OVERHEAD;

/// CRC-16/KERMIT: reflected 0x8408, init 0, no final XOR.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// One frame: a command (host → acceptor) or a status/reply (acceptor → host) code and its
/// data. What the code means depends on the direction; see [`super::message`].
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    pub code: u8,
    pub data: Vec<u8>,
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frame({:02X}", self.code)?;
        for b in &self.data {
            write!(f, " {b:02X}")?;
        }
        write!(f, ")")
    }
}

/// A frame whose data does not fit the one-byte length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ID-003 frame data of {len} bytes exceeds the {MAX_DATA}-byte limit")]
pub struct FrameTooLong {
    /// Length of the data that was to be sent.
    pub len: usize,
}

impl Frame {
    pub fn new(code: u8, data: impl Into<Vec<u8>>) -> Self {
        Self {
            code,
            data: data.into(),
        }
    }

    /// Encodes the frame with length and CRC.
    pub fn encode(&self) -> Result<Vec<u8>, FrameTooLong> {
        let len = self.data.len() + OVERHEAD;
        let lng = u8::try_from(len).map_err(|_| FrameTooLong {
            len: self.data.len(),
        })?;
        let mut out = Vec::with_capacity(len);
        out.push(SYNC);
        out.push(lng);
        out.push(self.code);
        out.extend_from_slice(&self.data);
        let crc = crc16(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }
}

/// Why bytes were thrown away by the [`Decoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// Bytes before a sync byte.
    Garbage,
    /// A sync byte followed by a length below 5.
    BadLength,
    /// A complete frame whose CRC did not match.
    BadCrc,
}

/// Incremental frame decoder. Feed it whatever the line delivered; it hands out complete
/// frames with a good CRC and resynchronises on garbage: on a bad length or CRC it drops
/// only the sync byte and searches again from the next byte, so a frame hidden behind
/// noise is still found.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    discarded: u64,
    last_discard: Option<Discard>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Number of bytes thrown away so far (noise, bad length, bad CRC).
    pub fn discarded(&self) -> u64 {
        self.discarded
    }

    /// Why bytes were thrown away most recently.
    pub fn last_discard(&self) -> Option<Discard> {
        self.last_discard
    }

    /// Bytes held while waiting for the rest of a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Drops everything buffered (e.g. before a retransmission).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    fn drop_front(&mut self, n: usize, why: Discard) {
        let n = n.min(self.buf.len());
        if n > 0 {
            self.buf.drain(..n);
            self.discarded += n as u64;
            self.last_discard = Some(why);
        }
    }

    /// Checks for a frame starting at `at` (which holds a sync byte).
    fn check(&self, at: usize) -> Check {
        let Some(rest) = self.buf.get(at..) else {
            return Check::Incomplete;
        };
        let Some(&lng) = rest.get(1) else {
            return Check::Incomplete;
        };
        let len = usize::from(lng);
        if len < OVERHEAD {
            return Check::Invalid(Discard::BadLength);
        }
        let Some(frame) = rest.get(..len) else {
            return Check::Incomplete;
        };
        let (body, crc_bytes) = frame.split_at(len - 2);
        match crc_bytes {
            [lo, hi] if crc16(body) == u16::from_le_bytes([*lo, *hi]) => Check::Valid(len),
            _ => Check::Invalid(Discard::BadCrc),
        }
    }

    /// The next complete, valid frame, if the buffer holds one.
    pub fn next_frame(&mut self) -> Option<Frame> {
        'search: loop {
            match self.buf.iter().position(|&b| b == SYNC) {
                Some(0) => {}
                Some(p) => self.drop_front(p, Discard::Garbage),
                None => {
                    let n = self.buf.len();
                    self.drop_front(n, Discard::Garbage);
                    return None;
                }
            }
            match self.check(0) {
                Check::Valid(len) => {
                    let frame: Vec<u8> = self.buf.drain(..len).collect();
                    let code = frame.get(2).copied()?;
                    let data = frame.get(3..len - 2).unwrap_or_default().to_vec();
                    return Some(Frame { code, data });
                }
                Check::Invalid(why) => self.drop_front(1, why),
                Check::Incomplete => {
                    // A noise byte that looks like a sync with a large length would hold
                    // back the real reply behind it: skip to a later complete frame if
                    // there is one, else wait for more bytes.
                    for p in 1..self.buf.len() {
                        if self.buf.get(p) == Some(&SYNC)
                            && matches!(self.check(p), Check::Valid(_))
                        {
                            self.drop_front(p, Discard::Garbage);
                            continue 'search;
                        }
                    }
                    return None;
                }
            }
        }
    }
}

enum Check {
    Valid(usize),
    Invalid(Discard),
    Incomplete,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_status_request_vector() {
        assert_eq!(crc16(&[0xFC, 0x05, 0x11]), 0x5627);
    }

    #[test]
    fn decoder_finds_frame_after_noise_and_bad_crc() {
        let good = Frame::new(0x13, [0x63]).encode().unwrap();
        let mut bad = good.clone();
        if let Some(last) = bad.last_mut() {
            *last ^= 0xFF;
        }
        let mut d = Decoder::new();
        d.push(&[0x00, 0xFC, 0x02, 0x33]);
        d.push(&bad);
        d.push(&good[..3]);
        assert_eq!(d.next_frame(), None);
        d.push(&good[3..]);
        assert_eq!(d.next_frame(), Some(Frame::new(0x13, [0x63])));
        assert_eq!(d.next_frame(), None);
        assert!(d.discarded() > 0);
    }
}
