//! The operator's shop rules as pure functions: no clock, no store, no I/O. Every
//! function takes the business date in and answers with a value or a [`Refusal`].

use time::{Date, Month};

/// Numbers one resident ID may hold across the operator (一证五号 — five numbers per ID).
pub const NUMBERS_PER_ID: u32 = 5;

/// Youngest age at which a resident may open a personal account alone.
pub const MIN_AGE_YEARS: u8 = 16;

/// How a plan's monthly fee is charged in the month the customer joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// 套餐 — a bundle: full month when joining on days 1–15, half month from the 16th.
    Package,
    /// Any other monthly fee: charged pro rata, fee × 12 / 365 × days.
    ProRata,
}

impl PlanKind {
    /// The name stored in SQLite.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Package => "package",
            Self::ProRata => "pro_rata",
        }
    }

    /// Parses the name stored in SQLite.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "package" => Some(Self::Package),
            "pro_rata" => Some(Self::ProRata),
            _ => None,
        }
    }
}

/// Why the business system refuses a request; each carries a reason the kiosk can show.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// 出账期 — days 1–5 of a month: no plan or account-information change.
    BillingPeriod {
        /// Day of the month today.
        day: u8,
    },
    /// 欠费 — after-sale business needs an account without arrears.
    Arrears {
        /// Amount owed, in fen.
        owed_fen: i64,
    },
    /// The ID number fails the GB 11643 check digit or its format.
    InvalidIdNumber,
    /// The ID card's validity ended before today.
    IdExpired,
    /// The applicant is younger than [`MIN_AGE_YEARS`].
    UnderAge {
        /// Age in whole years today.
        age: u8,
    },
    /// 一证五号 — the ID already holds [`NUMBERS_PER_ID`] numbers.
    NumberLimitReached {
        /// Numbers the ID holds now.
        held: u32,
    },
    /// The ID is on the operator's blacklist.
    Blacklisted,
}

impl Refusal {
    /// A short explanation in Chinese for the customer.
    #[must_use]
    pub fn message_zh(&self) -> String {
        match self {
            Self::BillingPeriod { day } => {
                format!("每月1日至5日为出账期（今天{day}日），暂不能办理套餐或资料变更")
            }
            Self::Arrears { owed_fen } => format!(
                "账户欠费{}.{:02}元，请先缴清欠费再办理",
                owed_fen / 100,
                owed_fen % 100
            ),
            Self::InvalidIdNumber => "身份证号码校验不通过，请到柜台办理".to_owned(),
            Self::IdExpired => "身份证已过有效期，请到柜台办理".to_owned(),
            Self::UnderAge { age } => format!("未满16周岁（{age}岁）不能自助开户，请到柜台办理"),
            Self::NumberLimitReached { held } => {
                format!("该证件已登记{held}个号码，已达一证五号上限")
            }
            Self::Blacklisted => "该证件暂不能办理新入网业务，请到柜台咨询".to_owned(),
        }
    }
}

/// 出账期: plan and account-information changes are closed on days 1–5 of every month.
#[must_use]
pub fn in_billing_period(today: Date) -> bool {
    today.day() <= 5
}

/// A plan change (套餐变更) is allowed today for an account owing `owed_fen`.
///
/// # Errors
/// [`Refusal::BillingPeriod`] on days 1–5, [`Refusal::Arrears`] when anything is owed.
pub fn check_plan_change(today: Date, owed_fen: i64) -> Result<(), Refusal> {
    if in_billing_period(today) {
        return Err(Refusal::BillingPeriod { day: today.day() });
    }
    check_after_sale(owed_fen)
}

/// After-sale business (replacement SIM, re-registration, plan change) needs no arrears.
///
/// # Errors
/// [`Refusal::Arrears`] when anything is owed.
pub fn check_after_sale(owed_fen: i64) -> Result<(), Refusal> {
    if owed_fen > 0 {
        Err(Refusal::Arrears { owed_fen })
    } else {
        Ok(())
    }
}

/// Face values of the electronic recharge cards on sale (充值卡, protocol 1.3), fen:
/// ¥30, ¥50 and ¥100, ascending.
pub const PIN_FACE_VALUES_FEN: &[u64] = &[3_000, 5_000, 10_000];

/// Days a recharge card stays valid after its day of sale.
pub const PIN_VALID_DAYS: u32 = 365;

/// The last day a recharge card sold on `sold` can be redeemed: [`PIN_VALID_DAYS`] later.
#[must_use]
pub fn pin_expires_on(sold: Date) -> Date {
    sold.checked_add(time::Duration::days(i64::from(PIN_VALID_DAYS)))
        .unwrap_or(Date::MAX)
}

/// First day of the month after `today`: when a plan change takes effect.
#[must_use]
pub fn first_of_next_month(today: Date) -> Date {
    let (year, month) = match today.month() {
        Month::December => (today.year() + 1, Month::January),
        m => (today.year(), m.next()),
    };
    // Day 1 exists in every month of every representable year but the last.
    Date::from_calendar_date(year, month, 1).unwrap_or(today)
}

/// Days from `today` to the end of its month, today included.
#[must_use]
pub fn days_left_in_month(today: Date) -> u8 {
    today.month().length(today.year()) - today.day() + 1
}

/// The monthly fee charged for the month a customer joins, in fen.
///
/// Packages: full fee on days 1–15, half (rounded up to the fen) from the 16th.
/// Others: `fee × 12 / 365 × days`, days counted from `join` to the month's end inclusive,
/// rounded half up to the fen.
#[must_use]
pub fn first_month_fee(kind: PlanKind, monthly_fee_fen: i64, join: Date) -> i64 {
    match kind {
        PlanKind::Package => {
            if join.day() <= 15 {
                monthly_fee_fen
            } else {
                (monthly_fee_fen + 1) / 2
            }
        }
        PlanKind::ProRata => {
            let days = i64::from(days_left_in_month(join));
            (monthly_fee_fen * 12 * days * 2 + 365) / (2 * 365)
        }
    }
}

/// A second-generation resident ID number (公民身份号码, GB 11643), checked. `Debug`
/// shows it masked (`110101********123X`) and not its birth date, which is the masked part.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber {
    digits: String,
    birth: Date,
}

impl std::fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdNumber({})", mask_id(&self.digits))
    }
}

impl IdNumber {
    /// Parses and checks an 18-character ID number: digits, a real birth date, and the
    /// ISO 7064 MOD 11-2 check character (`X` for 10).
    ///
    /// # Errors
    /// [`Refusal::InvalidIdNumber`] on any failure.
    pub fn parse(s: &str) -> Result<Self, Refusal> {
        let bytes = s.as_bytes();
        if bytes.len() != 18 || !bytes.iter().take(17).all(u8::is_ascii_digit) {
            return Err(Refusal::InvalidIdNumber);
        }
        const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        const CHECK: &[u8; 11] = b"10X98765432";
        let sum: u32 = bytes
            .iter()
            .zip(WEIGHTS)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        let expected = CHECK.get((sum % 11) as usize).copied();
        let last = bytes.get(17).map(u8::to_ascii_uppercase);
        if expected != last {
            return Err(Refusal::InvalidIdNumber);
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, Refusal> {
            s.get(r)
                .and_then(|t| t.parse().ok())
                .ok_or(Refusal::InvalidIdNumber)
        };
        let year = i32::try_from(num(6..10)?).map_err(|_| Refusal::InvalidIdNumber)?;
        let month = u8::try_from(num(10..12)?)
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or(Refusal::InvalidIdNumber)?;
        let day = u8::try_from(num(12..14)?).map_err(|_| Refusal::InvalidIdNumber)?;
        let birth =
            Date::from_calendar_date(year, month, day).map_err(|_| Refusal::InvalidIdNumber)?;
        Ok(Self {
            digits: s.to_ascii_uppercase(),
            birth,
        })
    }

    /// The number as written, `X` upper case.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.digits
    }

    /// Birth date encoded in the number.
    #[must_use]
    pub fn birth(&self) -> Date {
        self.birth
    }

    /// Age in whole years on `today`.
    #[must_use]
    pub fn age_on(&self, today: Date) -> u8 {
        let mut age = today.year() - self.birth.year();
        if (today.month() as u8, today.day()) < (self.birth.month() as u8, self.birth.day()) {
            age -= 1;
        }
        u8::try_from(age.max(0)).unwrap_or(u8::MAX)
    }
}

/// Makes a valid ID number from its first 17 digits by appending the check character.
/// Used by the seed; returns `None` unless `first17` is 17 ASCII digits.
#[must_use]
pub fn with_check_digit(first17: &str) -> Option<String> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let bytes = first17.as_bytes();
    if bytes.len() != 17 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let c = *CHECK.get((sum % 11) as usize)?;
    Some(format!("{first17}{}", char::from(c)))
}

/// Facts the business system holds about an applicant for a new number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplicantRecord {
    /// Numbers the ID holds now.
    pub numbers_held: u32,
    /// The ID is on the blacklist.
    pub blacklisted: bool,
}

/// Real-name checks for a new SIM (实名制): valid number, valid card, age, blacklist, limit.
/// Returns the parsed ID on success.
///
/// # Errors
/// The first failing [`Refusal`], in the order the counter checks them.
pub fn check_new_sim_applicant(
    id_number: &str,
    valid_until: Option<Date>,
    today: Date,
    record: ApplicantRecord,
) -> Result<IdNumber, Refusal> {
    let id = IdNumber::parse(id_number)?;
    if valid_until.is_some_and(|until| until < today) {
        return Err(Refusal::IdExpired);
    }
    let age = id.age_on(today);
    if age < MIN_AGE_YEARS {
        return Err(Refusal::UnderAge { age });
    }
    if record.blacklisted {
        return Err(Refusal::Blacklisted);
    }
    if record.numbers_held >= NUMBERS_PER_ID {
        return Err(Refusal::NumberLimitReached {
            held: record.numbers_held,
        });
    }
    Ok(id)
}

// Masking for output comes from the workspace's one masking module, `telekiosk-privacy`,
// under the names this crate has always used.

/// Masks a phone number for output: `138****1234`.
pub use telekiosk_privacy::mask_phone as mask_number;

/// Masks an ID number for output, first 6 and last 4 kept: `110101********123X`.
pub use telekiosk_privacy::mask_id_number as mask_id;

/// Masks an account owner's name as the operator shows it: the surname becomes `*`
/// (`王小明` → `*小明`).
pub use telekiosk_privacy::mask_owner_name as mask_name;

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_recharge_card_lasts_365_days_from_its_sale() {
        assert_eq!(pin_expires_on(date!(2026 - 11 - 20)), date!(2027 - 11 - 20));
        // Across a leap day.
        assert_eq!(pin_expires_on(date!(2027 - 06 - 01)), date!(2028 - 05 - 31));
        assert!(
            PIN_FACE_VALUES_FEN.windows(2).all(|w| w[0] < w[1]),
            "ascending"
        );
    }

    #[test]
    fn billing_period_is_days_one_to_five() {
        assert!(in_billing_period(date!(2026 - 11 - 01)));
        assert!(in_billing_period(date!(2026 - 11 - 05)));
        assert!(!in_billing_period(date!(2026 - 11 - 06)));
        assert_eq!(
            check_plan_change(date!(2026 - 11 - 03), 0),
            Err(Refusal::BillingPeriod { day: 3 })
        );
        assert_eq!(check_plan_change(date!(2026 - 11 - 06), 0), Ok(()));
        assert_eq!(
            check_plan_change(date!(2026 - 11 - 06), 1),
            Err(Refusal::Arrears { owed_fen: 1 })
        );
    }

    #[test]
    fn package_first_month_full_then_half() {
        let fee = 5_800;
        assert_eq!(
            first_month_fee(PlanKind::Package, fee, date!(2026 - 11 - 01)),
            5_800
        );
        assert_eq!(
            first_month_fee(PlanKind::Package, fee, date!(2026 - 11 - 15)),
            5_800
        );
        assert_eq!(
            first_month_fee(PlanKind::Package, fee, date!(2026 - 11 - 16)),
            2_900
        );
        assert_eq!(
            first_month_fee(PlanKind::Package, 1_999, date!(2026 - 11 - 30)),
            1_000
        );
    }

    #[test]
    fn pro_rata_is_fee_times_12_over_365_times_days() {
        // 2026-11-21 → 10 days left: 3000 × 12 / 365 × 10 = 986.30… → 986 fen.
        assert_eq!(
            first_month_fee(PlanKind::ProRata, 3_000, date!(2026 - 11 - 21)),
            986
        );
        // 31 days from Jan 1: 1000 × 12 × 31 / 365 = 1019.17… → 1019.
        assert_eq!(
            first_month_fee(PlanKind::ProRata, 1_000, date!(2026 - 01 - 01)),
            1_019
        );
    }

    #[test]
    fn id_number_check_digit_and_age() {
        let id = with_check_digit("11010519491231002").unwrap();
        assert_eq!(id, "11010519491231002X");
        let parsed = IdNumber::parse(&id).unwrap();
        assert_eq!(parsed.age_on(date!(2026 - 11 - 03)), 76);
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(Refusal::InvalidIdNumber)
        );
        let young = with_check_digit("42010620110101123").unwrap();
        let r = check_new_sim_applicant(
            &young,
            None,
            date!(2026 - 11 - 03),
            ApplicantRecord {
                numbers_held: 0,
                blacklisted: false,
            },
        );
        assert_eq!(r, Err(Refusal::UnderAge { age: 15 }));
    }

    #[test]
    fn per_id_limit_and_expiry() {
        let id = with_check_digit("42010619900101123").unwrap();
        let today = date!(2026 - 11 - 03);
        let rec = |n| ApplicantRecord {
            numbers_held: n,
            blacklisted: false,
        };
        assert!(check_new_sim_applicant(&id, None, today, rec(4)).is_ok());
        assert_eq!(
            check_new_sim_applicant(&id, None, today, rec(5)),
            Err(Refusal::NumberLimitReached { held: 5 })
        );
        assert_eq!(
            check_new_sim_applicant(&id, Some(date!(2026 - 11 - 02)), today, rec(0)),
            Err(Refusal::IdExpired)
        );
    }

    #[test]
    fn masks() {
        assert_eq!(mask_number("13812341234"), "138****1234");
        assert_eq!(mask_id("420106199001011234"), "420106********1234");
        assert_eq!(mask_id("11010119900307123X"), "110101********123X");
        assert_eq!(mask_name("王小明"), "*小明");
        assert_eq!(mask_name("张三"), "*三");
        assert_eq!(mask_name(""), "");
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(format!("{id:?}"), "IdNumber(110105********002X)");
    }

    proptest::proptest! {
        #[test]
        fn id_parse_never_panics(s in "\\PC{0,24}") {
            let _ = IdNumber::parse(&s);
            let _ = mask_id(&s);
            let _ = mask_number(&s);
            let _ = mask_name(&s);
        }

        #[test]
        fn package_fee_never_exceeds_monthly(fee in 0i64..1_000_000, day in 1u8..=28) {
            let d = Date::from_calendar_date(2026, Month::March, day).unwrap();
            let f = first_month_fee(PlanKind::Package, fee, d);
            proptest::prop_assert!(f <= fee && f >= 0);
        }
    }
}
