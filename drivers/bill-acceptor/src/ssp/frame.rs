//! SSP transport frames: `7F | SEQ/ID | LEN | DATA.. | CRC_L CRC_H`, with byte stuffing.
//!
//! The CRC is CRC-16 with polynomial 0x8005 (x¹⁶ + x¹⁵ + x² + 1), seed 0xFFFF, not
//! reflected, computed over SEQ/ID, LEN and DATA *before* stuffing. Every 0x7F after the
//! STX (the CRC included) is sent twice. Pure code: no I/O.

/// Start of a frame.
pub const STX: u8 = 0x7F;

/// CRC-16 as SSP uses it (poly 0x8005, seed 0xFFFF, MSB first). Also used by the eSSP
/// encrypted layer.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// One SSP frame, unstuffed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The sequence flag (bit 7 of SEQ/ID).
    pub seq: bool,
    /// Slave address (bits 0–6; a banknote validator is 0).
    pub address: u8,
    /// Command or reply bytes (at most 255).
    pub data: Vec<u8>,
}

/// A frame that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// DATA is longer than the 255 bytes LEN can count.
    #[error("frame data of {0} bytes is longer than 255")]
    TooLong(usize),
    /// The address does not fit in 7 bits.
    #[error("slave address {0:#04x} is above 0x7F")]
    Address(u8),
}

impl Frame {
    pub fn new(seq: bool, address: u8, data: Vec<u8>) -> Self {
        Self { seq, address, data }
    }

    /// The SEQ/ID byte.
    pub fn seq_id(&self) -> u8 {
        (if self.seq { 0x80 } else { 0 }) | (self.address & 0x7F)
    }

    /// Encodes with CRC and byte stuffing, ready for the wire.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let len =
            u8::try_from(self.data.len()).map_err(|_| EncodeError::TooLong(self.data.len()))?;
        if self.address > 0x7F {
            return Err(EncodeError::Address(self.address));
        }
        let mut body = Vec::with_capacity(self.data.len() + 4);
        body.push(self.seq_id());
        body.push(len);
        body.extend_from_slice(&self.data);
        let crc = crc16(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        let mut wire = Vec::with_capacity(body.len() + 4);
        wire.push(STX);
        for b in body {
            wire.push(b);
            if b == STX {
                wire.push(STX);
            }
        }
        Ok(wire)
    }
}

/// Incremental frame decoder: feed raw wire bytes, take whole frames out.
///
/// Garbage before a frame is skipped, a frame with a bad CRC is dropped and the search
/// goes on from the next STX, and a lone STX in the middle of a frame starts a new frame
/// (as the manual requires of a slave).
#[derive(Debug, Default, Clone)]
pub struct Decoder {
    buf: Vec<u8>,
}

/// Bytes the decoder keeps at most; beyond that the oldest are dropped (a stuffed frame is
/// at most 2 × 259 bytes).
const MAX_BUFFER: usize = 1024;

enum Attempt {
    Frame(Frame, usize),
    /// Not enough bytes yet.
    Incomplete,
    /// Drop this many bytes and look again.
    Skip(usize),
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the line.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > MAX_BUFFER {
            let excess = self.buf.len() - MAX_BUFFER;
            self.buf.drain(..excess);
        }
    }

    /// Forgets everything buffered (used before a retransmission).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Bytes waiting.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete, CRC-valid frame, if any.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            match self.buf.iter().position(|&b| b == STX) {
                None => {
                    self.buf.clear();
                    return None;
                }
                Some(start) => {
                    self.buf.drain(..start);
                }
            }
            match self.attempt() {
                Attempt::Frame(frame, used) => {
                    self.buf.drain(..used);
                    return Some(frame);
                }
                Attempt::Incomplete => return None,
                Attempt::Skip(n) => {
                    self.buf.drain(..n.max(1));
                }
            }
        }
    }

    /// Tries to read one frame starting at `buf[0] == STX`.
    fn attempt(&self) -> Attempt {
        let mut body: Vec<u8> = Vec::with_capacity(16);
        let mut i = 1;
        loop {
            // Once SEQ and LEN are known the body length is known.
            if body.len() >= 2 {
                let need = 2 + usize::from(body[1]) + 2;
                if body.len() == need {
                    let (content, crc) = body.split_at(need - 2);
                    let got = u16::from_le_bytes([crc[0], crc[1]]);
                    if crc16(content) != got {
                        return Attempt::Skip(1);
                    }
                    let seq_id = content[0];
                    let frame = Frame {
                        seq: seq_id & 0x80 != 0,
                        address: seq_id & 0x7F,
                        data: content[2..].to_vec(),
                    };
                    return Attempt::Frame(frame, i);
                }
            }
            let Some(&b) = self.buf.get(i) else {
                return Attempt::Incomplete;
            };
            if b == STX {
                match self.buf.get(i + 1) {
                    None => return Attempt::Incomplete,
                    Some(&STX) => {
                        body.push(STX);
                        i += 2;
                    }
                    // A lone STX: what came before was a broken frame.
                    Some(_) => return Attempt::Skip(i),
                }
            } else {
                body.push(b);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn manual_vectors() {
        assert_eq!(
            Frame::new(true, 0, vec![0x11]).encode().unwrap(),
            hex!("7F 80 01 11 65 82")
        );
        assert_eq!(
            Frame::new(true, 0, vec![0x02, 0x07, 0x00])
                .encode()
                .unwrap(),
            hex!("7F 80 03 02 07 00 2B B6")
        );
        assert_eq!(
            Frame::new(true, 0, vec![0xF0]).encode().unwrap(),
            hex!("7F 80 01 F0 23 80")
        );
        // GA138 poll with channel 3 in escrow.
        assert_eq!(
            Frame::new(true, 0, vec![0xF0, 0xEF, 0x03])
                .encode()
                .unwrap(),
            hex!("7F 80 03 F0 EF 03 C5 CA")
        );
    }

    #[test]
    fn stuffing_doubles_every_stx_after_the_first() {
        let f = Frame::new(false, 0, vec![0x7F, 0x01]);
        let wire = f.encode().unwrap();
        assert_eq!(&wire[..5], &[0x7F, 0x00, 0x02, 0x7F, 0x7F]);
        let mut d = Decoder::new();
        d.push(&wire);
        assert_eq!(d.next_frame(), Some(f));
    }

    #[test]
    fn decoder_skips_garbage_and_bad_crc() {
        let mut d = Decoder::new();
        d.push(&hex!("00 13 7F 80 01 11 65 83"));
        d.push(&hex!("7F 80 01 F0 23 80"));
        assert_eq!(d.next_frame(), Some(Frame::new(true, 0, vec![0xF0])));
        assert_eq!(d.next_frame(), None);
    }

    #[test]
    fn decoder_waits_for_the_rest() {
        let mut d = Decoder::new();
        let wire = hex!("7F 80 01 F0 23 80");
        d.push(&wire[..3]);
        assert_eq!(d.next_frame(), None);
        d.push(&wire[3..]);
        assert_eq!(d.next_frame(), Some(Frame::new(true, 0, vec![0xF0])));
    }

    #[test]
    fn lone_stx_restarts_the_frame() {
        let mut d = Decoder::new();
        d.push(&hex!("7F 80 05 01 02 7F 80 01 F0 23 80"));
        assert_eq!(d.next_frame(), Some(Frame::new(true, 0, vec![0xF0])));
    }
}
