//! Blank SIMs (白卡) and their personalisation scripts. The operator's card-data platform
//! binds a script to each ICCID; here the script is derived deterministically from the ICCID
//! so any blank card the dispenser simulator hands out (ICCIDs starting `898600`) can be
//! written, and the same ICCID always yields the same IMSI and the same script.

/// One command of a personalisation script: an APDU and the status word it must answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScriptStep {
    /// Command APDU bytes (CLA INS P1 P2 [Lc data] [Le]).
    pub apdu: Vec<u8>,
    /// Status word the card must return, e.g. `0x9000`.
    pub expected_sw: u16,
}

/// Why an ICCID is not one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IccidError {
    /// Not 19 or 20 decimal digits.
    #[error("ICCID must be 19 or 20 digits")]
    Format,
    /// Not issued by this operator's card range (`898600…`).
    #[error("ICCID outside the operator's blank-card range 898600…")]
    NotOurs,
}

/// Checks an ICCID: 19–20 digits starting with `898600` (China Mobile's issuer prefix).
///
/// # Errors
/// [`IccidError`] when it is malformed or from another issuer.
pub fn check_iccid(iccid: &str) -> Result<(), IccidError> {
    if !(19..=20).contains(&iccid.len()) || !iccid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IccidError::Format);
    }
    if !iccid.starts_with("898600") {
        return Err(IccidError::NotOurs);
    }
    Ok(())
}

/// FNV-1a, used only to derive stable per-card values from the ICCID.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The IMSI bound to a blank card: MCC 460, MNC 00, ten digits derived from the ICCID.
#[must_use]
pub fn imsi_for(iccid: &str) -> String {
    format!("46000{:010}", fnv1a(iccid.as_bytes()) % 10_000_000_000)
}

/// EF_IMSI contents (TS 31.102 §4.2.2): length 08, then parity nibble 9 and the digits in
/// swapped-nibble BCD.
#[must_use]
pub fn encode_ef_imsi(imsi: &str) -> Vec<u8> {
    let digits: Vec<u8> = imsi
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    let mut nibbles = vec![if digits.len() % 2 == 1 { 0x9 } else { 0x1 }];
    nibbles.extend(&digits);
    if nibbles.len() % 2 == 1 {
        nibbles.push(0xF);
    }
    let mut out = vec![0x08];
    out.extend(nibbles.chunks(2).map(|p| {
        let lo = p.first().copied().unwrap_or(0xF);
        let hi = p.get(1).copied().unwrap_or(0xF);
        (hi << 4) | lo
    }));
    out.resize(9, 0xFF);
    out
}

fn select(fid: u16) -> ScriptStep {
    let [hi, lo] = fid.to_be_bytes();
    ScriptStep {
        apdu: vec![0x00, 0xA4, 0x00, 0x00, 0x02, hi, lo],
        expected_sw: 0x9000,
    }
}

fn update_binary(data: &[u8]) -> ScriptStep {
    let mut apdu = vec![
        0x00,
        0xD6,
        0x00,
        0x00,
        u8::try_from(data.len()).unwrap_or(0),
    ];
    apdu.extend(data);
    ScriptStep {
        apdu,
        expected_sw: 0x9000,
    }
}

/// The personalisation script for a blank USIM: select MF 3F00 and the USIM directory 7FF0,
/// present the card's ADM key, write EF_IMSI 6F07, EF_ACC 6F78 and EF_SPN 6F46, then read
/// EF_IMSI back. Every step expects `90 00`.
#[must_use]
pub fn personalisation_script(iccid: &str) -> Vec<ScriptStep> {
    let imsi = imsi_for(iccid);
    let adm = fnv1a(format!("ADM{iccid}").as_bytes()).to_be_bytes();
    let mut verify_adm = vec![0x00, 0x20, 0x00, 0x0A, 0x08];
    verify_adm.extend(adm);
    // Access class 0–9 from the IMSI's last digit (TS 22.011 §4.2), one bit in 2 bytes.
    let last = imsi.bytes().last().map_or(0, |b| b.saturating_sub(b'0')) % 10;
    let acc = (1_u16 << last).to_be_bytes();
    let mut spn = vec![0x01];
    spn.extend(b"CMCC");
    spn.resize(17, 0xFF);
    vec![
        select(0x3F00),
        select(0x7FF0),
        ScriptStep {
            apdu: verify_adm,
            expected_sw: 0x9000,
        },
        select(0x6F07),
        update_binary(&encode_ef_imsi(&imsi)),
        select(0x6F78),
        update_binary(&acc),
        select(0x6F46),
        update_binary(&spn),
        select(0x6F07),
        ScriptStep {
            apdu: vec![0x00, 0xB0, 0x00, 0x00, 0x09],
            expected_sw: 0x9000,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ef_imsi_encoding_matches_ts_31_102() {
        // 460001234567890 (15 digits): 08 49 06 00 21 43 65 87 09
        assert_eq!(
            encode_ef_imsi("460001234567890"),
            vec![0x08, 0x49, 0x06, 0x00, 0x21, 0x43, 0x65, 0x87, 0x09]
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_checked_without_panic(s in "\\PC{0,30}") {
            if check_iccid(&s).is_ok() {
                proptest::prop_assert_eq!(personalisation_script(&s).len(), 11);
            }
            let _ = encode_ef_imsi(&s);
        }

        #[test]
        fn ef_imsi_is_always_nine_bytes(d in "[0-9]{6,15}") {
            proptest::prop_assert_eq!(encode_ef_imsi(&d).len(), 9);
        }
    }

    #[test]
    fn script_is_deterministic_per_iccid() {
        let a = personalisation_script("89860012345678901234");
        assert_eq!(a, personalisation_script("89860012345678901234"));
        assert_ne!(a, personalisation_script("89860012345678901235"));
        assert_eq!(imsi_for("89860012345678901234").len(), 15);
        assert!(a.iter().all(|s| s.expected_sw == 0x9000));
        assert_eq!(check_iccid("89860012345678901234"), Ok(()));
        assert_eq!(
            check_iccid("89014012345678901234"),
            Err(IccidError::NotOurs)
        );
        assert_eq!(check_iccid("8986"), Err(IccidError::Format));
    }
}
