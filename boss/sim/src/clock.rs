//! The business date. Business rules (出账期 days 1–5, first-month fee) depend on the date,
//! so tests and demos pin it with `--today 2026-11-03` or `BOSS_SIM_TODAY`.

use time::{Date, OffsetDateTime, UtcOffset};

/// China Standard Time, the operator's business clock.
const CST: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// A clock that answers the business date: pinned, or today in China Standard Time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    pinned: Option<Date>,
}

impl Clock {
    /// The real date in UTC+8.
    #[must_use]
    pub fn system() -> Self {
        Self { pinned: None }
    }

    /// Always answers `date`.
    #[must_use]
    pub fn pinned(date: Date) -> Self {
        Self { pinned: Some(date) }
    }

    /// True when the date is pinned (demos and tests).
    #[must_use]
    pub fn is_pinned(&self) -> bool {
        self.pinned.is_some()
    }

    /// The business day of a UTC-ms instant: the pinned date when pinned, else the instant's
    /// date in Beijing time.
    #[must_use]
    pub fn day_of_ms(&self, ms: i64) -> Option<Date> {
        if let Some(d) = self.pinned {
            return Some(d);
        }
        OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
            .ok()
            .map(|t| t.to_offset(CST).date())
    }

    /// Today's business date.
    #[must_use]
    pub fn today(&self) -> Date {
        self.pinned
            .unwrap_or_else(|| OffsetDateTime::now_utc().to_offset(CST).date())
    }

    /// Wall-clock now as seconds since the Unix epoch (timestamps in the store).
    #[must_use]
    pub fn now_unix(&self) -> i64 {
        OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// Parses `YYYY-MM-DD`.
///
/// # Errors
/// When the text is not a calendar date.
pub fn parse_date(s: &str) -> Result<Date, time::error::Parse> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
}

/// Formats `YYYY-MM-DD`.
#[must_use]
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}
