//! What head office sets on a kiosk (配置下发): note values and limits, timeouts, business
//! hours, the letterhead, branding and idle-screen banners, which services are offered,
//! fees, cash-box and card-stock thresholds, and the technicians who may open service mode.
//!
//! The same schema is the business part of the kiosk's own configuration file (defaults
//! until head office pushes a bundle) and the content of every configuration bundle head
//! office signs and pushes ([`bundle`]). It is checked as a whole: a document with an
//! unknown key, a wrong type or a value the kiosk cannot honour is refused with every
//! offending key and the reason ([`Invalid`]) — never half-applied. The schema is
//! documented in `docs/config.md`.
#![forbid(unsafe_code)]

pub mod bundle;

use serde::{Deserialize, Serialize};

/// One reason a settings document was refused: the key (dotted path, `topup.max_yuan`) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct Invalid {
    pub key: String,
    pub reason: String,
}

impl Invalid {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Every problem found in a document, in document order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", self.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct Refused(pub Vec<Invalid>);

/// The whole of what head office sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub topup: TopUp,
    pub session: Session,
    pub receipt: Receipt,
    pub branding: Branding,
    pub services: Services,
    pub hours: Hours,
    pub fees: Fees,
    pub cash: Cash,
    pub cards: Cards,
    /// Technicians who may open service mode on the kiosk's screen.
    #[serde(rename = "technician")]
    pub technicians: Vec<Technician>,
}

/// `[topup]` — cash top-up (话费充值).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopUp {
    /// Note values accepted, in yuan (others are inhibited at the acceptor).
    pub accept_yuan: Vec<u64>,
    /// Most a single top-up may take, in yuan; a note that would pass it is handed back.
    pub max_yuan: u64,
}

impl Default for TopUp {
    fn default() -> Self {
        Self {
            accept_yuan: vec![10, 20, 50, 100],
            max_yuan: 500,
        }
    }
}

/// `[session]` — how long the kiosk waits for a customer, in every service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Session {
    /// Seconds without a touch before a session without money ends (and is wiped).
    pub idle_secs: u64,
    /// Seconds without a touch or a note, with money in, before the payment finishes itself.
    pub insert_idle_secs: u64,
    /// Seconds of warning before either timeout.
    pub warn_secs: u64,
    /// Elder mode (长辈模式) lengthens every timeout by this many percent.
    pub elder_extra_percent: u64,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            idle_secs: 60,
            insert_idle_secs: 90,
            warn_secs: 15,
            elder_extra_percent: 100,
        }
    }
}

/// `[receipt]` — the letterhead of every receipt, slip and refund voucher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Receipt {
    pub shop: String,
    pub hotline: String,
}

impl Default for Receipt {
    fn default() -> Self {
        Self {
            shop: "移动营业厅自助终端".into(),
            hotline: "10086".into(),
        }
    }
}

/// `[branding]` — the operator's name on every screen and the idle screen's banners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Branding {
    pub operator_zh: String,
    pub operator_en: String,
    /// Banners the idle screen turns through, each in both languages.
    #[serde(rename = "banner")]
    pub banners: Vec<Banner>,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            operator_zh: "移动营业厅".into(),
            operator_en: "Mobile Service Hall".into(),
            banners: vec![
                Banner {
                    zh: "话费充值 7×24 小时自助办理".into(),
                    en: "Top up your phone any time, day or night".into(),
                },
                Banner {
                    zh: "现金充值，即充即到".into(),
                    en: "Pay in cash, credited at once".into(),
                },
            ],
        }
    }
}

/// One idle-screen banner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Banner {
    pub zh: String,
    pub en: String,
}

/// `[services]` — which customer services this kiosk offers (feature switches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Services {
    /// 话费充值
    pub topup: bool,
    /// 套餐变更
    pub plan_change: bool,
    /// 账单/详单/发票打印
    pub bill_print: bool,
    /// 新开户（实名制）
    pub new_sim: bool,
    /// 补卡
    pub replace_sim: bool,
    /// 实名补登记
    pub reregister: bool,
    /// 挂失 / 解挂
    pub loss: bool,
    /// 名下号码查询
    pub number_query: bool,
    /// 充值卡销售
    pub pin_sale: bool,
}

impl Default for Services {
    fn default() -> Self {
        Self {
            topup: true,
            plan_change: true,
            bill_print: true,
            new_sim: true,
            replace_sim: true,
            reregister: true,
            loss: true,
            number_query: true,
            pin_sale: true,
        }
    }
}

/// `[hours]` — business hours (Beijing time). Outside them the kiosk shows that it is
/// closed and takes no customer; a customer already being served is finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hours {
    /// `"HH:MM"`, opening time.
    pub open: String,
    /// `"HH:MM"`, closing time; `"24:00"` for midnight. Equal to `open`: always open.
    pub close: String,
}

impl Default for Hours {
    fn default() -> Self {
        Self {
            open: "00:00".into(),
            close: "24:00".into(),
        }
    }
}

impl Hours {
    /// Opening and closing as minutes after midnight (checked documents only).
    pub fn minutes(&self) -> Option<(u32, u32)> {
        Some((parse_hhmm(&self.open)?, parse_hhmm(&self.close)?))
    }

    /// Whether the kiosk serves customers at `minute` (minutes after midnight, Beijing).
    pub fn is_open_at(&self, minute: u32) -> bool {
        match self.minutes() {
            None => true,
            Some((open, close)) if open == close => true,
            Some((open, close)) if open < close => (open..close).contains(&minute),
            // Overnight hours, e.g. 20:00–02:00.
            Some((open, close)) => minute >= open || minute < close,
        }
    }
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// `[fees]` — what the kiosk charges in cash besides top-ups, in yuan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fees {
    /// SIM card fee of a new account (新开户).
    pub new_sim_card_yuan: u64,
    /// Fee of a replacement SIM (补卡).
    pub replacement_sim_yuan: u64,
}

impl Default for Fees {
    fn default() -> Self {
        Self {
            new_sim_card_yuan: 10,
            replacement_sim_yuan: 10,
        }
    }
}

/// `[cash]` — the cash box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cash {
    /// Notes the cash box holds when full.
    pub capacity_notes: u64,
    /// Head office is warned (and cash services stop) at this share of the capacity, percent.
    pub near_full_percent: u64,
}

impl Default for Cash {
    fn default() -> Self {
        Self {
            capacity_notes: 1000,
            near_full_percent: 90,
        }
    }
}

/// `[cards]` — the blank-SIM stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cards {
    /// Head office is warned when fewer blank SIMs than this are left.
    pub low_stock: u64,
}

impl Default for Cards {
    fn default() -> Self {
        Self { low_stock: 20 }
    }
}

/// `[[technician]]` — one technician: an id and the argon2id hash of their PIN (never the
/// PIN itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Technician {
    pub id: String,
    /// PHC string, `$argon2id$v=19$m=…,t=…,p=…$salt$hash`.
    pub pin_hash: String,
}

impl Settings {
    /// Parses and checks a TOML document (a bundle written by head office, or the business
    /// part of the kiosk's configuration file).
    pub fn from_toml(text: &str) -> Result<Self, Refused> {
        let value: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Refused(vec![Invalid::new("(document)", e.message())]))?;
        Self::from_toml_table(value)
    }

    /// Parses and checks an already parsed TOML table.
    pub fn from_toml_table(table: toml::Table) -> Result<Self, Refused> {
        let settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| Refused(vec![from_path_error(e.path(), e.inner().to_string())]))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Parses and checks a JSON document (the `config` object of a pushed bundle).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Refused> {
        let settings: Settings = serde_path_to_error::deserialize(value)
            .map_err(|e| Refused(vec![from_path_error(e.path(), e.inner().to_string())]))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The document as JSON (what a bundle carries).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The document as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks every rule; lists every key that breaks one.
    pub fn validate(&self) -> Result<(), Refused> {
        let mut bad = Vec::new();
        let mut no = |key: &str, reason: &str| bad.push(Invalid::new(key, reason));

        let t = &self.topup;
        if t.accept_yuan.is_empty() {
            no("topup.accept_yuan", "no note would be accepted");
        }
        if t.accept_yuan.iter().any(|&y| y == 0 || y > 100) {
            no("topup.accept_yuan", "notes are 1 to 100 yuan");
        }
        if t.max_yuan == 0 || t.max_yuan > 5000 {
            no("topup.max_yuan", "must be 1 to 5000 yuan");
        } else if !t.accept_yuan.is_empty() && t.accept_yuan.iter().all(|&y| y > t.max_yuan) {
            no("topup.max_yuan", "smaller than every accepted note");
        }

        let s = &self.session;
        if s.idle_secs < 10 || s.idle_secs > 600 {
            no(
                "session.idle_secs",
                "10 to 600 s: shorter leaves customers no time, longer leaves data on screen",
            );
        }
        if s.insert_idle_secs < 10 || s.insert_idle_secs > 600 {
            no("session.insert_idle_secs", "10 to 600 s");
        }
        if s.warn_secs == 0 || s.warn_secs >= s.idle_secs.min(s.insert_idle_secs) {
            no(
                "session.warn_secs",
                "at least 1 s, and the warning must come before the timeout",
            );
        }
        if s.elder_extra_percent > 300 {
            no("session.elder_extra_percent", "0 to 300 percent");
        }

        if self.receipt.shop.trim().is_empty() {
            no("receipt.shop", "the letterhead needs the shop's name");
        }
        if self.receipt.shop.chars().count() > 24 {
            no("receipt.shop", "at most 24 characters (one line of paper)");
        }
        if !self
            .receipt
            .hotline
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-')
        {
            no("receipt.hotline", "digits and '-' only");
        }

        let b = &self.branding;
        if b.operator_zh.trim().is_empty() || b.operator_en.trim().is_empty() {
            no(
                "branding.operator_zh",
                "the operator's name in both languages",
            );
        }
        if b.banners.len() > 10 {
            no("branding.banner", "at most 10 banners");
        }
        for (i, banner) in b.banners.iter().enumerate() {
            if banner.zh.trim().is_empty() || banner.en.trim().is_empty() {
                no(&format!("branding.banner[{i}]"), "text in both languages");
            }
            if banner.zh.chars().count() > 40 || banner.en.chars().count() > 80 {
                no(
                    &format!("branding.banner[{i}]"),
                    "at most 40 Chinese / 80 English characters",
                );
            }
        }

        for (key, value) in [
            ("hours.open", &self.hours.open),
            ("hours.close", &self.hours.close),
        ] {
            if parse_hhmm(value).is_none() {
                no(key, "a time of day as HH:MM (00:00 to 24:00)");
            }
        }
        if self.hours.open == "24:00" {
            no("hours.open", "the day starts at 00:00");
        }

        if self.fees.new_sim_card_yuan > 200 {
            no("fees.new_sim_card_yuan", "0 to 200 yuan");
        }
        if self.fees.replacement_sim_yuan > 200 {
            no("fees.replacement_sim_yuan", "0 to 200 yuan");
        }
        if self.cash.capacity_notes == 0 || self.cash.capacity_notes > 10_000 {
            no("cash.capacity_notes", "1 to 10000 notes");
        }
        if !(50..=100).contains(&self.cash.near_full_percent) {
            no("cash.near_full_percent", "50 to 100 percent");
        }
        if self.cards.low_stock > 1000 {
            no("cards.low_stock", "0 to 1000 cards");
        }

        let mut seen = std::collections::BTreeSet::new();
        for (i, tech) in self.technicians.iter().enumerate() {
            let key = format!("technician[{i}]");
            if tech.id.is_empty()
                || tech.id.len() > 16
                || !tech
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                no(&format!("{key}.id"), "1 to 16 letters, digits or '-'");
            }
            if !seen.insert(tech.id.as_str()) {
                no(&format!("{key}.id"), "the same technician id twice");
            }
            if !tech.pin_hash.starts_with("$argon2id$") {
                no(
                    &format!("{key}.pin_hash"),
                    "an argon2id hash ($argon2id$…), never a PIN",
                );
            }
        }

        if bad.is_empty() {
            Ok(())
        } else {
            Err(Refused(bad))
        }
    }

    /// Note values accepted, in fen, ascending, without repeats.
    pub fn accept_fen(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.topup.accept_yuan.iter().map(|y| y * 100).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Whether a service is switched on.
    pub fn offers(&self, service: &str) -> bool {
        let s = &self.services;
        match service {
            "topup" => s.topup,
            "plan_change" => s.plan_change,
            "bill_print" => s.bill_print,
            "new_sim" => s.new_sim,
            "replace_sim" => s.replace_sim,
            "reregister" => s.reregister,
            "loss" => s.loss,
            "number_query" => s.number_query,
            "pin_sale" => s.pin_sale,
            _ => false,
        }
    }
}

/// A serde error with its path turned into an [`Invalid`] naming the key.
fn from_path_error(path: &serde_path_to_error::Path, message: String) -> Invalid {
    let key = path.to_string();
    let key = if key.is_empty() || key == "." {
        "(document)".to_owned()
    } else {
        key
    };
    // serde says "unknown field `x`, expected one of …": name the key itself.
    let key = match message.strip_prefix("unknown field `") {
        Some(rest) => match rest.split_once('`') {
            Some((field, _)) if key == "(document)" => field.to_owned(),
            Some((field, _)) if !key.ends_with(field) => format!("{key}.{field}"),
            _ => key,
        },
        None => key,
    };
    Invalid::new(key, message)
}

#[cfg(test)]
mod tests;
