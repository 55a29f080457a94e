//! The kiosk's configuration (配置): what head office sets and the shop may adjust.
//!
//! One TOML file; every key has a default, so an empty file is a working kiosk. The schema
//! is documented in `docs/config.md`. Values are checked when loaded: a configuration the
//! kiosk cannot honour is refused with the key and the reason, never half-applied.

use std::path::Path;

use serde::Deserialize;

use crate::flow::topup;
use crate::receipts::Letterhead;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration {path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    /// A value the kiosk cannot honour.
    #[error("configuration key {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Version of this configuration as head office numbers it (reported in `hello`).
    pub version: u64,
    pub kiosk: Kiosk,
    pub topup: TopUp,
    pub receipt: Receipt,
    pub screen: Screen,
}

/// `[kiosk]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Kiosk {
    /// Kiosk id; must match the one in the kiosk's client certificate.
    pub id: String,
}

impl Default for Kiosk {
    fn default() -> Self {
        Self { id: "K0001".into() }
    }
}

/// `[topup]` — cash top-up (话费充值).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopUp {
    /// Note values accepted, in yuan (others are inhibited at the acceptor).
    pub accept_yuan: Vec<u64>,
    /// Most a single top-up may take, in yuan; a note that would pass it is handed back.
    pub max_yuan: u64,
    /// Seconds without a touch before a session without money ends.
    pub idle_secs: u64,
    /// Seconds without a touch or a note, with money in, before the top-up finishes itself.
    pub insert_idle_secs: u64,
    /// Seconds of warning before either timeout.
    pub warn_secs: u64,
}

impl Default for TopUp {
    fn default() -> Self {
        Self {
            accept_yuan: vec![10, 20, 50, 100],
            max_yuan: 500,
            idle_secs: 60,
            insert_idle_secs: 90,
            warn_secs: 15,
        }
    }
}

/// `[receipt]` — the letterhead of every receipt and voucher.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Receipt {
    pub shop: String,
    pub hotline: String,
}

impl Default for Receipt {
    fn default() -> Self {
        let l = Letterhead::default();
        Self {
            shop: l.shop,
            hotline: l.hotline,
        }
    }
}

/// `[screen]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Screen {
    /// `"portrait"` (1080×1920) or `"landscape"` (1920×1080).
    pub orientation: String,
    /// Language a session starts in: `"zh"` or `"en"`.
    pub language: String,
    /// Start every session in the elder-friendly mode.
    pub elder: bool,
    /// Operator name on every screen.
    pub operator_zh: String,
    pub operator_en: String,
}

impl Default for Screen {
    fn default() -> Self {
        Self {
            orientation: "portrait".into(),
            language: "zh".into(),
            elder: false,
            operator_zh: "移动营业厅".into(),
            operator_en: "Mobile Service Hall".into(),
        }
    }
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            Error::Parse { source, .. } => Error::Parse {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Parses and checks configuration text.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let config: Config = toml::from_str(text).map_err(|source| Error::Parse {
            path: "<text>".into(),
            source,
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), Error> {
        let invalid = |key, reason: &str| {
            Err(Error::Invalid {
                key,
                reason: reason.into(),
            })
        };
        let t = &self.topup;
        if t.accept_yuan.is_empty() {
            return invalid("topup.accept_yuan", "no note would be accepted");
        }
        if t.accept_yuan.iter().any(|&y| y == 0 || y > 100) {
            return invalid("topup.accept_yuan", "notes are 1 to 100 yuan");
        }
        if t.max_yuan == 0 || t.max_yuan > 5000 {
            return invalid("topup.max_yuan", "must be 1 to 5000 yuan");
        }
        if t.accept_yuan.iter().all(|&y| y > t.max_yuan) {
            return invalid("topup.max_yuan", "smaller than every accepted note");
        }
        if t.idle_secs < 10 || t.insert_idle_secs < 10 {
            return invalid(
                "topup.idle_secs",
                "timeouts shorter than 10 s leave customers no time",
            );
        }
        if t.warn_secs >= t.idle_secs.min(t.insert_idle_secs) {
            return invalid(
                "topup.warn_secs",
                "the warning must come before the timeout",
            );
        }
        if !matches!(self.screen.orientation.as_str(), "portrait" | "landscape") {
            return invalid("screen.orientation", "portrait or landscape");
        }
        if !matches!(self.screen.language.as_str(), "zh" | "en") {
            return invalid("screen.language", "zh or en");
        }
        if self.kiosk.id.is_empty()
            || !self
                .kiosk
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return invalid("kiosk.id", "letters, digits and '-' only");
        }
        Ok(())
    }

    /// The top-up flow's settings.
    pub fn topup_flow(&self) -> topup::Config {
        let mut accept_fen: Vec<u64> = self.topup.accept_yuan.iter().map(|y| y * 100).collect();
        accept_fen.sort_unstable();
        accept_fen.dedup();
        topup::Config {
            accept_fen,
            max_fen: self.topup.max_yuan * 100,
            idle_ms: self.topup.idle_secs * 1000,
            insert_idle_ms: self.topup.insert_idle_secs * 1000,
            warn_ms: self.topup.warn_secs * 1000,
        }
    }

    /// The receipts' letterhead.
    pub fn letterhead(&self) -> Letterhead {
        Letterhead {
            shop: self.receipt.shop.clone(),
            kiosk_id: self.kiosk.id.clone(),
            hotline: self.receipt.hotline.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_a_working_kiosk() {
        let c = Config::parse("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.topup_flow(), topup::Config::default());
    }

    #[test]
    fn values_reach_the_flow_in_fen() {
        let c = Config::parse("[topup]\naccept_yuan = [50, 20, 20]\nmax_yuan = 200\n").unwrap();
        let f = c.topup_flow();
        assert_eq!(f.accept_fen, vec![2000, 5000]);
        assert_eq!(f.max_fen, 20_000);
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        for (text, key) in [
            ("[topup]\naccept_yuan = []", "topup.accept_yuan"),
            ("[topup]\nmax_yuan = 0", "topup.max_yuan"),
            (
                "[topup]\naccept_yuan = [100]\nmax_yuan = 50",
                "topup.max_yuan",
            ),
            ("[topup]\nwarn_secs = 60", "topup.warn_secs"),
            ("[screen]\norientation = \"diagonal\"", "screen.orientation"),
            ("[kiosk]\nid = \"K 1\"", "kiosk.id"),
        ] {
            match Config::parse(text) {
                Err(Error::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_keys_are_refused_not_ignored() {
        assert!(matches!(
            Config::parse("[topup]\nmax_yaun = 100"),
            Err(Error::Parse { .. })
        ));
    }

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("../docs/config.md");
        let start = doc.find("```toml").expect("an example in docs/config.md") + "```toml".len();
        let end = start + doc[start..].find("```").expect("end of the example");
        let c = Config::parse(&doc[start..end]).expect("the documented example is valid");
        assert_eq!(c.topup.max_yuan, 500);
    }
}
