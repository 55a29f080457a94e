//! Small value types shared by many messages.
//!
//! Personal data (phone numbers, ID numbers, names, addresses, secrets, photos) travel in
//! full on the wire — the operator needs them — but their `Debug`/`Display` output is masked,
//! so a message that ends up in a log never shows them. Photos print as their length only.
//! The masks are the workspace's one masking module, `telekiosk-privacy`: `138****1234`,
//! `110101********123X`, `张**`.

use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use telekiosk_privacy::{mask_id_number, mask_name, mask_phone};

/// A subscriber's phone number (手机号码, MSISDN), 11 digits without country code.
/// Prints masked (`138****1234`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Msisdn(pub String);

impl Msisdn {
    /// Wraps a number as given; validity is the business system's call.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The full number, for the wire and for the SMS/receipt code that masks it itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `138****1234`.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
    /// True for 11 ASCII digits starting with `1`.
    pub fn is_well_formed(&self) -> bool {
        self.0.len() == 11 && self.0.starts_with('1') && self.0.bytes().all(|b| b.is_ascii_digit())
    }
}
impl fmt::Debug for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Msisdn({})", self.masked())
    }
}
impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A resident ID number (公民身份号码), 18 characters. Prints masked, first 6 and last 4
/// kept (`110101********123X`).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdNumber(pub String);

impl IdNumber {
    /// Wraps an ID number as read from the card.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The full number, for the wire only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `110101********123X`.
    pub fn masked(&self) -> String {
        mask_id_number(&self.0)
    }
}
impl Drop for IdNumber {
    /// Personal data is overwritten before its memory is given back.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}
impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}
impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A person's name or another personal free text (address) the kiosk sends. Prints with
/// only its first character kept (`张**`), the workspace's mask for names; an address
/// shows no more than its first character either.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonalText(pub String);

impl PersonalText {
    /// Wraps the text.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The full text, for the wire only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `王**` for `王小明`.
    pub fn masked(&self) -> String {
        mask_name(&self.0)
    }
}
impl Drop for PersonalText {
    /// Personal data is overwritten before its memory is given back.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}
impl fmt::Debug for PersonalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonalText({})", self.masked())
    }
}

/// A secret typed by the customer (service password, SMS code). Prints as `***`; wiped
/// from memory when dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// Wraps the secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret, for the wire only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
impl Drop for Secret {
    /// The digits are overwritten before the memory goes back to the allocator.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// An authentication token issued by the business system after a successful
/// authentication; opaque to the kiosk. Prints with only its last 4 characters.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuthToken(pub String);
impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A bearer credential: only its last 4 characters, nothing of a short one.
        let n = self.0.chars().count();
        if n <= 4 {
            return write!(f, "AuthToken({})", "*".repeat(n.max(1)));
        }
        let tail: String = self.0.chars().skip(n - 4).collect();
        write!(f, "AuthToken({}{tail})", "*".repeat(n - 4))
    }
}

/// The kiosk's transaction id (流水号), unique per kiosk forever, the idempotency key of every
/// request that changes money or a card. Recommended form `K0001-20261122-000042`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TxnId(pub String);

impl TxnId {
    /// Wraps an id.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for TxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Binary data (photos), base64 (standard alphabet, padded) on the wire.
/// Prints as its length only: photos never reach a log.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Blob(pub Vec<u8>);

impl Drop for Blob {
    /// Blobs carry photos (the live face, the ID card's chip photo): overwritten before
    /// their memory is given back.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(self.0.as_mut_slice());
    }
}
impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}
impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}
impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Blob)
            .map_err(serde::de::Error::custom)
    }
}

/// Bytes shown as hex on the wire (APDUs): upper-case, no separators. `Debug` shows at
/// most the first 4 bytes (an APDU's CLA INS P1 P2) and the length: a personalisation
/// APDU's data is the subscriber's (number, IMSI, keys).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct HexBytes(pub Vec<u8>);

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = self.0.get(..4).unwrap_or(&self.0);
        write!(f, "HexBytes({}.., {} bytes)", to_hex(head), self.0.len())
    }
}
fn to_hex(b: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02X}");
    }
    s
}
fn from_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |x: u8| match x {
        b'0'..=b'9' => Some(x - b'0'),
        b'a'..=b'f' => Some(x - b'a' + 10),
        b'A'..=b'F' => Some(x - b'A' + 10),
        _ => None,
    };
    s.chunks(2)
        .map(|c| match c {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}
impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(&self.0))
    }
}
impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        from_hex(&s)
            .map(HexBytes)
            .ok_or_else(|| serde::de::Error::custom("invalid hex"))
    }
}

/// An ISO 7816 status word (SW1 SW2), 4 hex digits on the wire (`"9000"`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sw(pub u16);

impl fmt::Debug for Sw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sw({:04X})", self.0)
    }
}
impl Serialize for Sw {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:04X}", self.0))
    }
}
impl<'de> Deserialize<'de> for Sw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(serde::de::Error::custom("status word must be 4 hex digits"));
        }
        u16::from_str_radix(&s, 16)
            .map(Sw)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(Msisdn::new("13812341234").masked(), "138****1234");
        assert_eq!(
            IdNumber::new("420106199001011234").masked(),
            "420106********1234"
        );
        assert_eq!(
            IdNumber::new("11010119900307123X").to_string(),
            "110101********123X"
        );
        assert_eq!(
            format!("{:?}", IdNumber::new("11010119900307123X")),
            "IdNumber(110101********123X)"
        );
        assert_eq!(PersonalText::new("王小明").masked(), "王**");
        assert_eq!(PersonalText::new("王明").masked(), "王*");
        assert_eq!(
            format!("{:?}", PersonalText::new("湖北省武汉市洪山区珞喻路1号")),
            "PersonalText(湖*************)"
        );
        assert_eq!(
            format!("{:?}", AuthToken("abcdef123456".into())),
            "AuthToken(********3456)"
        );
        assert_eq!(format!("{:?}", AuthToken("1234".into())), "AuthToken(****)");
        // An EF_MSISDN update: header and length, not the number inside.
        let apdu = HexBytes(vec![
            0x00, 0xDC, 0x01, 0x04, 0x08, 0x91, 0x68, 0x31, 0x08, 0x10, 0x83, 0x00, 0xF0,
        ]);
        assert_eq!(format!("{apdu:?}"), "HexBytes(00DC0104.., 13 bytes)");
        assert_eq!(format!("{:?}", Secret::new("123456")), "Secret(***)");
        assert_eq!(format!("{:?}", Blob(vec![0; 5])), "Blob(5 bytes)");
        assert!(!format!("{:?}", Msisdn::new("13812341234")).contains("13812341234"));
    }

    #[test]
    fn hex_and_sw() {
        let h: HexBytes = serde_json::from_str("\"00A4040C\"").unwrap();
        assert_eq!(h.0, vec![0x00, 0xA4, 0x04, 0x0C]);
        assert!(serde_json::from_str::<HexBytes>("\"0G\"").is_err());
        assert!(serde_json::from_str::<HexBytes>("\"0\"").is_err());
        assert_eq!(serde_json::to_string(&Sw(0x9000)).unwrap(), "\"9000\"");
        assert!(serde_json::from_str::<Sw>("\"+900\"").is_err());
        assert_eq!(serde_json::from_str::<Sw>("\"6a82\"").unwrap(), Sw(0x6A82));
    }
}
