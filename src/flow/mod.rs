//! Customer flows as pure state machines.
//!
//! A flow is an enum of states that consumes [`topup::Event`]s (from the screen, the
//! devices, the operator link, and the clock) and emits commands. It does no I/O, reads no
//! clock and knows no tokio, Slint or SQLite: the orchestrator around it persists each
//! step, sends commands to the device actors and the operator link, and feeds the answers
//! back. Journal writes are commands too, emitted *before* the command they protect, so the
//! order "journal, then act" is part of what the flow's tests check.

pub mod recovery;
pub mod topup;

/// Milliseconds on a monotonic clock, passed in by the orchestrator.
pub type Millis = u64;

/// `¥12.50` from fen.
pub fn yuan(fen: u64) -> String {
    format!("¥{}.{:02}", fen / 100, fen % 100)
}

/// Masks a mobile number for screen, paper and logs: `138****1234`. Anything that is not
/// an 11-digit number is masked whole except its last two characters.
pub fn mask_phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() == 11 && chars.iter().all(char::is_ascii_digit) {
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[7..].iter().collect();
        format!("{head}****{tail}")
    } else {
        let keep = chars.len().saturating_sub(2);
        chars
            .iter()
            .enumerate()
            .map(|(i, c)| if i < keep { '*' } else { *c })
            .collect()
    }
}

/// Whether a string is a mainland mobile number the kiosk serves: 11 digits starting 1[3-9].
pub fn is_mobile_number(number: &str) -> bool {
    let b = number.as_bytes();
    b.len() == 11
        && b.iter().all(u8::is_ascii_digit)
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_masked() {
        assert_eq!(mask_phone("13800001234"), "138****1234");
        assert_eq!(mask_phone("12345"), "***45");
        assert_eq!(mask_phone(""), "");
    }

    #[test]
    fn mobile_numbers_are_recognised() {
        assert!(is_mobile_number("13800000000"));
        assert!(is_mobile_number("19912345678"));
        assert!(!is_mobile_number("12800000000"));
        assert!(!is_mobile_number("1380000000"));
        assert!(!is_mobile_number("1380000000a"));
    }

    #[test]
    fn yuan_formats_fen() {
        assert_eq!(yuan(0), "¥0.00");
        assert_eq!(yuan(5005), "¥50.05");
    }

    proptest::proptest! {
        #[test]
        fn masked_numbers_never_show_the_middle(n in "1[3-9][0-9]{9}") {
            let m = mask_phone(&n);
            proptest::prop_assert_eq!(&m[3..7], "****");
            proptest::prop_assert_eq!(&m[..3], &n[..3]);
        }
    }
}
