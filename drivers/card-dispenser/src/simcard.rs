//! SIM card logic over any [`ApduTransport`]: reading the ICCID (USIM first, then 2G
//! SIM), and replaying the operator's personalisation script (写卡脚本) for a blank
//! "white" card (白卡).
//!
//! Pure APDU logic: no device, no clock. The dispenser's IC station is one transport; a
//! PC/SC reader or a test double are others.

use serde::{Deserialize, Deserializer, Serialize};

use crate::apdu::{self, ApduTransport, ExchangeError, Response};

/// Which command set answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SimKind {
    /// 3G/4G USIM application (ISO class 00).
    Usim,
    /// 2G SIM (GSM 11.11, class A0).
    Gsm,
}

/// An ICCID (集成电路卡识别码) as printed on the card: 19 or 20 digits, the last one a Luhn
/// check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Iccid(String);

/// Why bytes or digits are not an ICCID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IccidError {
    /// EF_ICCID holds 10 bytes.
    #[error("EF_ICCID has {0} bytes, expected 10")]
    Length(usize),
    /// A nibble other than 0–9 (or the trailing F filler).
    #[error("EF_ICCID holds a non-digit nibble {0:X}")]
    NotBcd(u8),
    /// A printed ICCID with a character other than a digit.
    #[error("ICCID holds {0:?}, not a digit")]
    NotDigit(char),
    /// Too few or too many digits.
    #[error("ICCID of {0} digits is too short")]
    TooShort(usize),
    /// The Luhn check digit does not match.
    #[error("ICCID {0} fails its Luhn check digit")]
    CheckDigit(String),
}

/// True if the digits (check digit last) pass the Luhn check.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The Luhn check digit to append to `digits`.
pub fn luhn_digit(digits: &str) -> Option<char> {
    (b'0'..=b'9')
        .map(char::from)
        .find(|c| luhn_valid(&format!("{digits}{c}")))
}

impl Iccid {
    /// Decodes EF_ICCID: 10 bytes BCD, low nibble first in each byte; trailing `F` filler
    /// dropped; the Luhn check digit verified.
    pub fn from_ef(bytes: &[u8]) -> Result<Self, IccidError> {
        if bytes.len() != 10 {
            return Err(IccidError::Length(bytes.len()));
        }
        let nibbles: Vec<u8> = bytes.iter().flat_map(|b| [b & 0x0F, b >> 4]).collect();
        let end = nibbles
            .iter()
            .rposition(|n| *n != 0x0F)
            .map_or(0, |p| p + 1);
        let digits = nibbles
            .get(..end)
            .unwrap_or_default()
            .iter()
            .map(|n| {
                if *n <= 9 {
                    Ok(char::from(b'0' + n))
                } else {
                    Err(IccidError::NotBcd(*n))
                }
            })
            .collect::<Result<String, _>>()?;
        Self::from_digits(&digits)
    }

    /// Checks printed digits.
    pub fn from_digits(digits: &str) -> Result<Self, IccidError> {
        if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
            return Err(IccidError::NotDigit(c));
        }
        if digits.len() < 18 || digits.len() > 20 {
            return Err(IccidError::TooShort(digits.len()));
        }
        if !luhn_valid(digits) {
            return Err(IccidError::CheckDigit(digits.to_owned()));
        }
        Ok(Self(digits.to_owned()))
    }

    /// Appends the Luhn check digit to a body of digits (non-digits are dropped).
    pub fn with_check_digit(body: &str) -> Self {
        let body: String = body.chars().filter(char::is_ascii_digit).collect();
        let check = luhn_digit(&body).unwrap_or('0');
        Self(format!("{body}{check}"))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 10 bytes of EF_ICCID (nibble-swapped BCD, F-padded).
    pub fn to_ef(&self) -> [u8; 10] {
        let mut nibbles = [0x0Fu8; 20];
        for (n, c) in nibbles.iter_mut().zip(self.0.bytes()) {
            *n = c - b'0';
        }
        let mut out = [0u8; 10];
        for (o, pair) in out.iter_mut().zip(nibbles.chunks(2)) {
            let lo = pair.first().copied().unwrap_or(0x0F);
            let hi = pair.get(1).copied().unwrap_or(0x0F);
            *o = (hi << 4) | lo;
        }
        out
    }
}

impl std::fmt::Display for Iccid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Failure talking to a SIM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError<E: std::error::Error + 'static> {
    /// The APDU exchange failed.
    #[error(transparent)]
    Exchange(#[from] ExchangeError<E>),
    /// The card answered a command with an unexpected status word.
    #[error("card answered {} to {}", apdu::hex(sw), apdu::hex(header))]
    Status {
        /// CLA INS P1 P2 of the command.
        header: [u8; 4],
        /// What the card said.
        sw: [u8; 2],
    },
    /// EF_ICCID does not hold a valid ICCID.
    #[error(transparent)]
    Iccid(#[from] IccidError),
}

async fn ok<T: ApduTransport>(t: &mut T, cmd: &[u8]) -> Result<Response, SimError<T::Error>> {
    let r = apdu::exchange(t, cmd).await?;
    if r.is_ok() {
        Ok(r)
    } else {
        Err(SimError::Status {
            header: apdu::header(cmd),
            sw: r.sw,
        })
    }
}

/// The three commands that read EF_ICCID with a given class byte.
pub fn iccid_commands(kind: SimKind) -> [Vec<u8>; 3] {
    let cla = match kind {
        SimKind::Usim => 0x00,
        SimKind::Gsm => 0xA0,
    };
    [
        vec![cla, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00],
        vec![cla, 0xA4, 0x00, 0x00, 0x02, 0x2F, 0xE2],
        vec![cla, 0xB0, 0x00, 0x00, 0x0A],
    ]
}

async fn read_iccid_as<T: ApduTransport>(
    t: &mut T,
    kind: SimKind,
) -> Result<Iccid, SimError<T::Error>> {
    let [mf, ef, read] = iccid_commands(kind);
    ok(t, &mf).await?;
    ok(t, &ef).await?;
    let r = ok(t, &read).await?;
    Ok(Iccid::from_ef(&r.data)?)
}

/// Reads the ICCID: as a USIM (class 00), and if the card refuses that, as a 2G SIM
/// (class A0, GET RESPONSE after `9F xx`).
pub async fn read_iccid<T: ApduTransport>(
    t: &mut T,
) -> Result<(SimKind, Iccid), SimError<T::Error>> {
    match read_iccid_as(t, SimKind::Usim).await {
        Ok(iccid) => Ok((SimKind::Usim, iccid)),
        Err(SimError::Status { header, sw }) => {
            tracing::debug!(header = %apdu::hex(&header), sw = %apdu::hex(&sw), "not a USIM; trying 2G SIM");
            Ok((SimKind::Gsm, read_iccid_as(t, SimKind::Gsm).await?))
        }
        Err(e) => Err(e),
    }
}

/// One step of a personalisation script. `Debug` shows the APDU's header (CLA INS P1 P2)
/// and length only: its data is the subscriber's (number, IMSI, keys).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersoStep {
    /// The command APDU, as bytes or a hex string (`"00D6000009..."`, spaces allowed).
    #[serde(deserialize_with = "de_hex_bytes")]
    pub apdu: Vec<u8>,
    /// Status words that count as success (default `90 00`), as `[144, 0]` or `"9000"`.
    #[serde(default = "default_sw", deserialize_with = "de_sw_list")]
    pub expected_sw: Vec<[u8; 2]>,
}

impl std::fmt::Debug for PersoStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sw: Vec<String> = self.expected_sw.iter().map(|sw| apdu::hex(sw)).collect();
        f.debug_struct("PersoStep")
            .field(
                "header",
                &format_args!("{}", apdu::hex(&apdu::header(&self.apdu))),
            )
            .field("apdu_len", &self.apdu.len())
            .field("expected_sw", &sw)
            .finish()
    }
}

/// The personalisation script the operator's card-data platform hands over: opaque APDUs
/// bound to the card's ICCID, each with the status words it must get.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PersoScript {
    /// The steps, in order.
    pub steps: Vec<PersoStep>,
}

fn default_sw() -> Vec<[u8; 2]> {
    vec![[0x90, 0x00]]
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let clean: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    // The messages give positions, never the text: an APDU can hold personal data.
    if !clean.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", clean.len()));
    }
    clean
        .chunks(2)
        .enumerate()
        .map(|(i, p)| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("not hex at digit {}", 2 * i + 1))
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum HexOrBytes {
    Hex(String),
    Bytes(Vec<u8>),
}

impl HexOrBytes {
    fn into_bytes(self) -> Result<Vec<u8>, String> {
        match self {
            HexOrBytes::Hex(s) => parse_hex(&s),
            HexOrBytes::Bytes(b) => Ok(b),
        }
    }
}

fn de_hex_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    HexOrBytes::deserialize(d)?
        .into_bytes()
        .map_err(serde::de::Error::custom)
}

fn de_sw_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 2]>, D::Error> {
    Vec::<HexOrBytes>::deserialize(d)?
        .into_iter()
        .map(|h| {
            h.into_bytes()
                .and_then(|b| {
                    <[u8; 2]>::try_from(b).map_err(|b| format!("status word of {} bytes", b.len()))
                })
                .map_err(serde::de::Error::custom)
        })
        .collect()
}

/// The step that did not get its expected status word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersoFailure {
    /// Index of the step in the script (from 0).
    pub index: usize,
    /// CLA INS P1 P2 of its APDU.
    pub header: [u8; 4],
    /// The status word the card returned.
    pub got: [u8; 2],
    /// The status words the script accepted.
    pub expected: Vec<[u8; 2]>,
}

impl std::fmt::Display for PersoFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let expected: Vec<String> = self.expected.iter().map(|s| apdu::hex(s)).collect();
        write!(
            f,
            "step {} ({}) got {}, expected {}",
            self.index,
            apdu::hex(&self.header),
            apdu::hex(&self.got),
            expected.join(" or ")
        )
    }
}

/// What the kiosk reports to the business system after running a script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersoReport {
    /// Steps that got an expected status word.
    pub steps_ok: usize,
    /// Steps in the script.
    pub steps_total: usize,
    /// The status word of every step that ran, in order.
    pub status_words: Vec<[u8; 2]>,
    /// FNV-1a 64 over the step indexes and status words, hex: a short fingerprint of the run.
    pub sw_digest: String,
    /// The first failing step, if any (the script stops there).
    pub failure: Option<PersoFailure>,
}

impl PersoReport {
    /// Every step succeeded.
    pub fn is_success(&self) -> bool {
        self.failure.is_none() && self.steps_ok == self.steps_total
    }
}

fn fnv1a(words: &[[u8; 2]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, sw) in words.iter().enumerate() {
        for b in u32::try_from(i)
            .unwrap_or(u32::MAX)
            .to_be_bytes()
            .iter()
            .chain(sw)
        {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    format!("{h:016x}")
}

/// Replays a personalisation script, stopping at the first step whose status word is not
/// among the expected ones. A status word asking for a T=0 follow-up (`61 xx`, `9F xx`,
/// `6C xx`) is accepted as it is if the step expects it, and followed up otherwise.
///
/// A failing step is an outcome ([`PersoReport::failure`]), not an error; errors are for
/// the link to the card.
pub async fn run_script<T: ApduTransport>(
    t: &mut T,
    script: &PersoScript,
) -> Result<PersoReport, SimError<T::Error>> {
    let mut status_words = Vec::with_capacity(script.steps.len());
    let mut failure = None;
    for (index, step) in script.steps.iter().enumerate() {
        let raw = t
            .transmit(&step.apdu)
            .await
            .map_err(ExchangeError::Transport)?;
        let first = Response::parse(&raw).map_err(ExchangeError::from)?;
        let sw = if step.expected_sw.contains(&first.sw)
            || apdu::follow_up(&step.apdu, first.sw).is_none()
        {
            first.sw
        } else {
            // Let exchange() redo the follow-ups from this answer on.
            let mut replay = Replay {
                first: Some(raw),
                inner: t,
            };
            apdu::exchange(&mut replay, &step.apdu).await?.sw
        };
        status_words.push(sw);
        if !step.expected_sw.contains(&sw) {
            failure = Some(PersoFailure {
                index,
                header: apdu::header(&step.apdu),
                got: sw,
                expected: step.expected_sw.clone(),
            });
            break;
        }
    }
    let steps_ok = status_words.len() - usize::from(failure.is_some());
    Ok(PersoReport {
        steps_ok,
        steps_total: script.steps.len(),
        sw_digest: fnv1a(&status_words),
        status_words,
        failure,
    })
}

/// A transport that answers the first command with an already received response.
struct Replay<'a, T> {
    first: Option<Vec<u8>>,
    inner: &'a mut T,
}

impl<T: ApduTransport> ApduTransport for Replay<'_, T> {
    type Error = T::Error;
    async fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Self::Error> {
        match self.first.take() {
            Some(raw) => Ok(raw),
            None => self.inner.transmit(apdu).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// Expectation double: every command must be the one expected, in order.
    struct Script {
        expect: VecDeque<(Vec<u8>, Vec<u8>)>,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("unexpected APDU {0}")]
    struct Unexpected(String);

    impl ApduTransport for Script {
        type Error = Unexpected;
        async fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Unexpected> {
            match self.expect.pop_front() {
                Some((cmd, resp)) if cmd == apdu => Ok(resp),
                _ => Err(Unexpected(apdu::hex(apdu))),
            }
        }
    }

    fn script(pairs: &[(&[u8], &[u8])]) -> Script {
        Script {
            expect: pairs
                .iter()
                .map(|(c, r)| (c.to_vec(), r.to_vec()))
                .collect(),
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    const EF: [u8; 10] = hex!("98 68 00 21 43 65 87 09 21 F3");

    #[test]
    fn iccid_nibbles_are_swapped_and_luhn_checked() {
        // 89860012345678901234 would need a check digit; build a valid one.
        let body = "8986001234567890123";
        let check = luhn_digit(body).unwrap();
        let digits = format!("{body}{check}");
        let iccid = Iccid::from_digits(&digits).unwrap();
        let ef = iccid.to_ef();
        assert_eq!(&ef[..3], &hex!("98 68 00"));
        assert_eq!(Iccid::from_ef(&ef).unwrap(), iccid);
        // 19 digits + F filler: the filler is dropped.
        let body = "898600123456789012";
        let short = format!("{body}{}", luhn_digit(body).unwrap());
        let ef19 = Iccid::from_digits(&short).unwrap().to_ef();
        assert_eq!(ef19[9] >> 4, 0x0F);
        assert_eq!(Iccid::from_ef(&ef19).unwrap().as_str(), short);
        let mut wrong = ef;
        wrong[0] = 0x99;
        assert!(matches!(
            Iccid::from_ef(&wrong),
            Err(IccidError::CheckDigit(_))
        ));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert_eq!(Iccid::from_ef(&[0x98; 9]), Err(IccidError::Length(9)));
        assert_eq!(
            Iccid::from_ef(&hex!("98 68 00 21 43 65 87 09 21 A3")),
            Err(IccidError::NotBcd(0xA))
        );
    }

    fn valid_ef() -> ([u8; 10], String) {
        let body = "8986001900000000001";
        let digits = format!("{body}{}", luhn_digit(body).unwrap());
        (Iccid::from_digits(&digits).unwrap().to_ef(), digits)
    }

    #[test]
    fn usim_iccid_read_with_get_response() {
        let (ef, digits) = valid_ef();
        let mut read = ef.to_vec();
        read.extend_from_slice(&hex!("90 00"));
        let mut t = script(&[
            (&hex!("00 A4 00 00 02 3F 00"), &hex!("61 1C")),
            (
                &hex!("00 C0 00 00 1C"),
                &[[0x62; 0x1C].as_slice(), &hex!("90 00")].concat(),
            ),
            (&hex!("00 A4 00 00 02 2F E2"), &hex!("61 19")),
            (
                &hex!("00 C0 00 00 19"),
                &[[0x62; 0x19].as_slice(), &hex!("90 00")].concat(),
            ),
            (&hex!("00 B0 00 00 0A"), &read),
        ]);
        let (kind, iccid) = block_on(read_iccid(&mut t)).unwrap();
        assert_eq!(kind, SimKind::Usim);
        assert_eq!(iccid.as_str(), digits);
        assert!(t.expect.is_empty());
    }

    #[test]
    fn falls_back_to_2g() {
        let (ef, digits) = valid_ef();
        let mut read = ef.to_vec();
        read.extend_from_slice(&hex!("90 00"));
        let mut t = script(&[
            (&hex!("00 A4 00 00 02 3F 00"), &hex!("6E 00")),
            (&hex!("A0 A4 00 00 02 3F 00"), &hex!("9F 16")),
            (
                &hex!("A0 C0 00 00 16"),
                &[[0; 0x16].as_slice(), &hex!("90 00")].concat(),
            ),
            (&hex!("A0 A4 00 00 02 2F E2"), &hex!("9F 0F")),
            (
                &hex!("A0 C0 00 00 0F"),
                &[[0; 0x0F].as_slice(), &hex!("90 00")].concat(),
            ),
            (&hex!("A0 B0 00 00 0A"), &read),
        ]);
        let (kind, iccid) = block_on(read_iccid(&mut t)).unwrap();
        assert_eq!(kind, SimKind::Gsm);
        assert_eq!(iccid.as_str(), digits);
    }

    #[test]
    fn wrong_le_is_reissued() {
        let mut t = script(&[
            (&hex!("00 B0 00 00 00"), &hex!("6C 0A")),
            (
                &hex!("00 B0 00 00 0A"),
                &[EF.as_slice(), &hex!("90 00")].concat(),
            ),
        ]);
        let r = block_on(apdu::exchange(&mut t, &hex!("00 B0 00 00 00"))).unwrap();
        assert_eq!(r.data, EF);
        assert!(r.is_ok());
    }

    #[test]
    fn script_deserialises_and_stops_at_the_first_mismatch() {
        let json = r#"{"steps":[
            {"apdu":"00 A4 00 00 02 3F 00","expected_sw":["9000","6100"]},
            {"apdu":[0,214,0,0,2,1,2]},
            {"apdu":"00D6000001FF"},
            {"apdu":"00D6000001EE"}]}"#;
        let s: PersoScript = serde_json::from_str(json).unwrap();
        assert_eq!(s.steps[1].expected_sw, vec![[0x90, 0x00]]);
        assert_eq!(s.steps[0].expected_sw, vec![[0x90, 0x00], [0x61, 0x00]]);
        let mut t = script(&[
            (&hex!("00 A4 00 00 02 3F 00"), &hex!("61 05")),
            (&hex!("00 C0 00 00 05"), &hex!("01 02 03 04 05 90 00")),
            (&hex!("00 D6 00 00 02 01 02"), &hex!("90 00")),
            (&hex!("00 D6 00 00 01 FF"), &hex!("6A 82")),
        ]);
        let r = block_on(run_script(&mut t, &s)).unwrap();
        assert_eq!(r.steps_ok, 2);
        assert_eq!(r.steps_total, 4);
        assert_eq!(r.status_words, vec![[0x90, 0], [0x90, 0], [0x6A, 0x82]]);
        let f = r.failure.clone().unwrap();
        assert_eq!(f.index, 2);
        assert_eq!(f.header, hex!("00 D6 00 00"));
        assert_eq!(f.got, [0x6A, 0x82]);
        assert_eq!(
            f.to_string(),
            "step 2 (00 D6 00 00) got 6A 82, expected 90 00"
        );
        assert!(!r.is_success());
        assert!(serde_json::from_str::<PersoScript>(r#"{"steps":[{"apdu":"0"}]}"#).is_err());
        assert!(
            serde_json::from_str::<PersoScript>(
                r#"{"steps":[{"apdu":"00","expected_sw":["90"]}]}"#
            )
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn iccid_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            if let Ok(i) = Iccid::from_ef(&bytes) {
                prop_assert!(luhn_valid(i.as_str()));
                prop_assert_eq!(Iccid::from_ef(&i.to_ef()).unwrap(), i);
            }
        }

        #[test]
        fn iccid_round_trips(body in "[0-9]{18,19}") {
            let digits = format!("{body}{}", luhn_digit(&body).unwrap());
            let i = Iccid::from_digits(&digits).unwrap();
            let back = Iccid::from_ef(&i.to_ef()).unwrap();
            prop_assert_eq!(back.as_str(), digits.as_str());
        }

        #[test]
        fn hex_parser_never_panics(s in ".{0,40}") {
            let _ = parse_hex(&s);
        }
    }
}
