//! Payloads of the reader's replies: the read reply (text, photo, fingerprint), the SAM
//! id, and the opaque biometric blobs.

use std::fmt;

use crate::text::{CardText, TEXT_LEN, TextError};

/// Length of the WLT-compressed photo.
pub const PHOTO_LEN: usize = 1024;
/// Length of the fingerprint block.
pub const FINGERPRINT_LEN: usize = 1024;

/// The card's photo (照片), WLT-compressed. The kiosk never decodes it (that needs the
/// vendor's licensed library): it forwards the blob to the business system.
///
/// `Debug` prints only the length. The photo is never written to disk or logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Photo([u8; PHOTO_LEN]);

impl Photo {
    /// Wraps the 1024 bytes.
    pub fn new(bytes: [u8; PHOTO_LEN]) -> Self {
        Self(bytes)
    }
    /// The raw WLT bytes, for forwarding to the business system only.
    pub fn as_bytes(&self) -> &[u8; PHOTO_LEN] {
        &self.0
    }
    /// Always 1024.
    pub fn len(&self) -> usize {
        PHOTO_LEN
    }
    /// Never empty.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Debug for Photo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Photo(<{PHOTO_LEN} bytes>)")
    }
}

/// Fingerprint data (指纹信息). Opaque, `Debug` prints only the length.
#[derive(Clone, PartialEq, Eq)]
pub struct Fingerprint([u8; FINGERPRINT_LEN]);

impl Fingerprint {
    /// Wraps the 1024 bytes.
    pub fn new(bytes: [u8; FINGERPRINT_LEN]) -> Self {
        Self(bytes)
    }
    /// The raw bytes, for forwarding only.
    pub fn as_bytes(&self) -> &[u8; FINGERPRINT_LEN] {
        &self.0
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint(<{FINGERPRINT_LEN} bytes>)")
    }
}

/// Problems with the data part of a read reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The reply is shorter than its length fields announce.
    #[error("read reply truncated: {have} bytes, {need} announced")]
    Truncated {
        /// Bytes present.
        have: usize,
        /// Bytes the length fields need.
        need: usize,
    },
    /// A length field other than 256 (text) or 1024 (photo, fingerprint).
    #[error("unexpected {what} length {len}")]
    UnexpectedLength {
        /// Which block.
        what: &'static str,
        /// Announced length.
        len: usize,
    },
    /// The text block does not parse.
    #[error("card text: {0}")]
    Text(#[from] TextError),
    /// The SAM id is not 16 bytes.
    #[error("SAM id is {len} bytes, expected 16")]
    SamIdLength {
        /// Length received.
        len: usize,
    },
}

/// Raw content of a read reply, before the text is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPayload {
    /// The 256-byte text block (personal data: never log it).
    pub text: TextBlock,
    /// The photo.
    pub photo: Photo,
    /// The fingerprint, if asked for and present.
    pub fingerprint: Option<Fingerprint>,
}

/// The raw 256-byte text block. `Debug` prints only the length.
#[derive(Clone, PartialEq, Eq)]
pub struct TextBlock(pub [u8; TEXT_LEN]);

impl fmt::Debug for TextBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TextBlock(<{TEXT_LEN} bytes>)")
    }
}

fn be16(data: &[u8], at: usize) -> Result<usize, PayloadError> {
    match data.get(at..at + 2) {
        Some([h, l]) => Ok(usize::from(u16::from_be_bytes([*h, *l]))),
        _ => Err(PayloadError::Truncated {
            have: data.len(),
            need: at + 2,
        }),
    }
}

impl ReadPayload {
    /// Parses the data after SW3 of a `30 01` (`with_fingerprint = false`) or `30 10` reply:
    /// text length, photo length, [fingerprint length,] text, photo, [fingerprint].
    /// A fingerprint length of 0 means the card holds none.
    pub fn parse(data: &[u8], with_fingerprint: bool) -> Result<Self, PayloadError> {
        let text_len = be16(data, 0)?;
        let photo_len = be16(data, 2)?;
        let (fp_len, header) = if with_fingerprint {
            (be16(data, 4)?, 6)
        } else {
            (0, 4)
        };
        if text_len != TEXT_LEN {
            return Err(PayloadError::UnexpectedLength {
                what: "text",
                len: text_len,
            });
        }
        if photo_len != PHOTO_LEN {
            return Err(PayloadError::UnexpectedLength {
                what: "photo",
                len: photo_len,
            });
        }
        if fp_len != 0 && fp_len != FINGERPRINT_LEN {
            return Err(PayloadError::UnexpectedLength {
                what: "fingerprint",
                len: fp_len,
            });
        }
        let need = header + text_len + photo_len + fp_len;
        if data.len() < need {
            return Err(PayloadError::Truncated {
                have: data.len(),
                need,
            });
        }
        let mut text = [0u8; TEXT_LEN];
        let mut photo = [0u8; PHOTO_LEN];
        let photo_at = header + TEXT_LEN;
        let fp_at = photo_at + PHOTO_LEN;
        text.copy_from_slice(data.get(header..photo_at).unwrap_or(&[0; TEXT_LEN]));
        photo.copy_from_slice(data.get(photo_at..fp_at).unwrap_or(&[0; PHOTO_LEN]));
        let fingerprint = if fp_len == FINGERPRINT_LEN {
            let mut fp = [0u8; FINGERPRINT_LEN];
            fp.copy_from_slice(
                data.get(fp_at..fp_at + FINGERPRINT_LEN)
                    .unwrap_or(&[0; FINGERPRINT_LEN]),
            );
            Some(Fingerprint::new(fp))
        } else {
            None
        };
        Ok(Self {
            text: TextBlock(text),
            photo: Photo::new(photo),
            fingerprint,
        })
    }

    /// Encodes the reply data (simulator side). `with_fingerprint` selects the `30 10`
    /// form, whose fingerprint length is 0 when the card holds none.
    pub fn encode(&self, with_fingerprint: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(6 + TEXT_LEN + PHOTO_LEN + FINGERPRINT_LEN);
        out.extend_from_slice(&0x0100u16.to_be_bytes());
        out.extend_from_slice(&0x0400u16.to_be_bytes());
        let fp = self.fingerprint.as_ref().filter(|_| with_fingerprint);
        if with_fingerprint {
            let n: u16 = if fp.is_some() { 0x0400 } else { 0 };
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&self.text.0);
        out.extend_from_slice(self.photo.as_bytes());
        if let Some(fp) = fp {
            out.extend_from_slice(fp.as_bytes());
        }
        out
    }

    /// Parses the text block.
    pub fn card_text(&self) -> Result<CardText, TextError> {
        CardText::parse(&self.text.0)
    }
}

/// The SAM's management number (SAM管理信息/安全模块号), 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SamId(pub [u8; 16]);

impl SamId {
    /// From the data of a `12 FF` reply.
    pub fn parse(data: &[u8]) -> Result<Self, PayloadError> {
        let bytes: [u8; 16] = data
            .try_into()
            .map_err(|_| PayloadError::SamIdLength { len: data.len() })?;
        Ok(Self(bytes))
    }
}

impl fmt::Display for SamId {
    /// The form printed on readers' labels, `05.01-20101028-0012345678-0123456789` [U]:
    /// two little-endian 16-bit numbers, then three little-endian 32-bit numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        let u16le = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32le = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        write!(
            f,
            "{:02}.{:02}-{:08}-{:010}-{:010}",
            u16le(0),
            u16le(2),
            u32le(4),
            u32le(8),
            u32le(12)
        )
    }
}

impl fmt::Debug for SamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SamId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn payload(fp: bool) -> ReadPayload {
        ReadPayload {
            text: TextBlock([0x20; TEXT_LEN]),
            photo: Photo::new([0x57; PHOTO_LEN]),
            fingerprint: fp.then(|| Fingerprint::new([0x43; FINGERPRINT_LEN])),
        }
    }

    #[test]
    fn read_reply_layout_matches_the_manual() {
        let data = payload(false).encode(false);
        let frame = crate::frame::Reply::new(crate::frame::Status::Ok, data).encode();
        assert_eq!(frame.len(), 1295);
        assert_eq!(&frame[10..14], &[0x01, 0x00, 0x04, 0x00]);
        // Text starts at frame offset 14.
        assert_eq!(frame[14], 0x20);
        let data = payload(true).encode(true);
        let frame = crate::frame::Reply::new(crate::frame::Status::Ok, data).encode();
        assert_eq!(frame.len(), 2321);
        assert_eq!(&frame[10..16], &[0x01, 0x00, 0x04, 0x00, 0x04, 0x00]);
    }

    #[test]
    fn photo_debug_shows_only_length() {
        let p = payload(true);
        let s = format!("{p:?}");
        assert!(s.contains("Photo(<1024 bytes>)"));
        assert!(!s.contains("87"), "{s}");
    }

    #[test]
    fn sam_id_prints_like_the_label() {
        let mut b = [0u8; 16];
        b[0] = 5;
        b[2] = 1;
        b[4..8].copy_from_slice(&20101028u32.to_le_bytes());
        b[8..12].copy_from_slice(&12345678u32.to_le_bytes());
        b[12..16].copy_from_slice(&123456789u32.to_le_bytes());
        assert_eq!(SamId(b).to_string(), "05.01-20101028-0012345678-0123456789");
    }

    proptest! {
        #[test]
        fn random_payloads_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2400), fp in any::<bool>()) {
            let _ = ReadPayload::parse(&data, fp);
            let _ = SamId::parse(&data);
        }

        #[test]
        fn payload_round_trips(text in proptest::collection::vec(any::<u8>(), TEXT_LEN), photo in proptest::collection::vec(any::<u8>(), PHOTO_LEN), fp in any::<bool>(), with in any::<bool>()) {
            let p = ReadPayload {
                text: TextBlock(text.try_into().unwrap()),
                photo: Photo::new(photo.try_into().unwrap()),
                fingerprint: fp.then(|| Fingerprint::new([7; FINGERPRINT_LEN])),
            };
            let back = ReadPayload::parse(&p.encode(with), with).unwrap();
            prop_assert_eq!(&back.text, &p.text);
            prop_assert_eq!(&back.photo, &p.photo);
            prop_assert_eq!(back.fingerprint.is_some(), fp && with);
        }
    }
}
