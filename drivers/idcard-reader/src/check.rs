//! Checks on a card's data: ID number check digit, expiry, age.
//!
//! These are facts the application turns into decisions (refuse an expired card, an
//! under-16 applicant, a number failing its check digit); nothing here is an error.

use time::Date;

use crate::text::ValidTo;

/// GB 11643 weights (ISO 7064 MOD 11-2) for the first 17 characters.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character by `sum mod 11`.
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The check character (校验码) for the first 17 digits of an 18-character ID number,
/// or `None` if `first17` is not exactly 17 ASCII digits.
pub fn id_check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    CHECK_CHARS.get(usize::try_from(sum % 11).ok()?).copied()
}

/// `true` if `number` is 18 characters whose last one is the GB 11643 check character
/// of the first 17 (a lowercase `x` is accepted as `X`).
pub fn id_number_valid(number: &str) -> bool {
    if !number.is_ascii() || number.len() != 18 {
        return false;
    }
    let (first17, last) = number.split_at(17);
    match (id_check_char(first17), last.chars().next()) {
        (Some(want), Some(got)) => want == got.to_ascii_uppercase(),
        _ => false,
    }
}

/// `true` if a card valid until `valid_to` (inclusive) has expired on `today`.
/// A long-term (长期) card never expires.
pub fn is_expired(valid_to: ValidTo, today: Date) -> bool {
    match valid_to {
        ValidTo::LongTerm => false,
        ValidTo::Date(last_day) => today > last_day,
    }
}

/// China Standard Time (UTC+8, no daylight saving): validity dates on the card are
/// calendar days in China.
pub const CHINA_UTC_OFFSET_SECONDS: i64 = 8 * 3600;

/// The calendar day in China at `now` (pass `SystemTime::now()` at the edge).
pub fn china_date(now: std::time::SystemTime) -> Date {
    let secs = match now.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX / 2),
    };
    let days = (secs + CHINA_UTC_OFFSET_SECONDS).div_euclid(86_400);
    // 1970-01-01 is Julian day 2_440_588.
    i32::try_from(days + 2_440_588)
        .ok()
        .and_then(|jd| Date::from_julian_day(jd).ok())
        .unwrap_or(Date::MIN)
}

/// Age in whole years on `today` of someone born on `birth` (0 before birth).
/// Someone born on 29 February turns a year older on 1 March in common years.
pub fn age_on(birth: Date, today: Date) -> u32 {
    if today < birth {
        return 0;
    }
    let years = today.year() - birth.year();
    let had_birthday =
        (u8::from(today.month()), today.day()) >= (u8::from(birth.month()), birth.day());
    let age = if had_birthday { years } else { years - 1 };
    u32::try_from(age).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn check_digit_of_known_numbers() {
        // The GB 11643 worked example.
        assert_eq!(id_check_char("11010519491231002"), Some('X'));
        assert!(id_number_valid("11010519491231002X"));
        assert!(id_number_valid("11010519491231002x"));
        assert!(!id_number_valid("110105194912310021"));
        assert!(id_number_valid("440524188001010014"));
        assert!(!id_number_valid("44052418800101001"));
        assert!(!id_number_valid("4405241880010100１4"));
        assert_eq!(id_check_char("1234567890123456"), None);
    }

    #[test]
    fn expiry_is_inclusive_and_long_term_never_expires() {
        let to = ValidTo::Date(date!(2026 - 11 - 22));
        assert!(!is_expired(to, date!(2026 - 11 - 22)));
        assert!(is_expired(to, date!(2026 - 11 - 23)));
        assert!(!is_expired(ValidTo::LongTerm, date!(2999 - 01 - 01)));
    }

    #[test]
    fn china_date_is_utc_plus_8() {
        use std::time::{Duration, UNIX_EPOCH};
        // 2026-11-22 16:00:00 UTC is already 2026-11-23 in Beijing.
        let t = UNIX_EPOCH + Duration::from_secs(1_795_363_200);
        assert_eq!(china_date(t), date!(2026 - 11 - 23));
        assert_eq!(
            china_date(t - Duration::from_secs(1)),
            date!(2026 - 11 - 22)
        );
        assert_eq!(china_date(UNIX_EPOCH), date!(1970 - 01 - 01));
    }

    #[test]
    fn age_counts_whole_years() {
        assert_eq!(age_on(date!(2010 - 11 - 23), date!(2026 - 11 - 22)), 15);
        assert_eq!(age_on(date!(2010 - 11 - 22), date!(2026 - 11 - 22)), 16);
        assert_eq!(age_on(date!(2008 - 02 - 29), date!(2026 - 02 - 28)), 17);
        assert_eq!(age_on(date!(2008 - 02 - 29), date!(2026 - 03 - 01)), 18);
        assert_eq!(age_on(date!(2030 - 01 - 01), date!(2026 - 03 - 01)), 0);
    }

    proptest! {
        #[test]
        fn computed_check_digit_always_validates(first17 in "[0-9]{17}") {
            let c = id_check_char(&first17).unwrap();
            let full = format!("{first17}{c}");
            prop_assert!(id_number_valid(&full));
        }

        #[test]
        fn any_other_last_char_fails(first17 in "[0-9]{17}", last in "[0-9X]") {
            let c = id_check_char(&first17).unwrap();
            let full = format!("{first17}{last}");
            prop_assert_eq!(id_number_valid(&full), last.starts_with(c));
        }

        #[test]
        fn random_strings_never_panic(s in "\\PC{0,30}") {
            let _ = id_number_valid(&s);
            let _ = id_check_char(&s);
        }
    }
}
