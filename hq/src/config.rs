//! The server's configuration file (`hq.toml`), every key with a default: an empty file is
//! a server for one shop on SQLite with the development certificates. Unknown keys are
//! refused. The guide (docs/hq.md) shows every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alerts::AlertRules;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HqConfig {
    /// Where kiosks connect.
    pub listen: SocketAddr,
    /// `sqlite:PATH` or a PostgreSQL URL (`postgres://user@host/db`).
    pub database: String,
    /// This instance's name (several instances share one PostgreSQL); default: host and
    /// listen port.
    pub instance_id: Option<String>,
    /// Certificates.
    pub tls: TlsSettings,
    /// The operator's business system.
    pub boss: BossSettings,
    /// Protection against misbehaving clients.
    pub limits: Limits,
    /// Alerts.
    pub alerts: AlertSettings,
    /// Configuration bundles.
    pub bundles: BundleSettings,
    /// Daily reconciliation.
    pub reconciliation: ReconSettings,
    /// Head office's web console (docs/console.md).
    pub console: ConsoleSettings,
    /// Heartbeat interval asked of kiosks, ms.
    pub heartbeat_interval_ms: u64,
    /// How often the latest heartbeats are written to the database, ms.
    pub flush_interval_ms: u64,
    /// How often queued pushes and replaced connections are looked for, ms.
    pub poll_interval_ms: u64,
}

impl Default for HqConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            database: "sqlite:hq-data/hq.sqlite3".into(),
            instance_id: None,
            tls: TlsSettings::default(),
            boss: BossSettings::default(),
            limits: Limits::default(),
            alerts: AlertSettings::default(),
            bundles: BundleSettings::default(),
            reconciliation: ReconSettings::default(),
            console: ConsoleSettings::default(),
            heartbeat_interval_ms: 30_000,
            flush_interval_ms: 1_000,
            poll_interval_ms: 500,
        }
    }
}

/// `[tls]`: one PKI folder (the layout `telekiosk-hq pki` writes): `server.pem` and
/// `server.key.pem` (presented to kiosks; issued by the CA the kiosks pin), `kiosk-ca.pem`
/// (kiosk certificates accepted), `gateway.pem`/`gateway.key.pem` (presented to BOSS) and
/// `operator-ca.pem` (BOSS's CA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// The folder.
    pub certs: PathBuf,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            certs: PathBuf::from("certs/dev"),
        }
    }
}

/// `[boss]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BossSettings {
    /// `host:port` of BOSS's gateway endpoint.
    pub addr: String,
    /// Name in BOSS's certificate.
    pub server_name: String,
    /// Connections kept to BOSS.
    pub connections: usize,
    /// Deadline of a forwarded request, ms (keep it below the kiosks' own, 15 s).
    pub timeout_ms: u64,
}

impl Default for BossSettings {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:7443".into(),
            server_name: "localhost".into(),
            connections: 4,
            timeout_ms: 10_000,
        }
    }
}

/// `[limits]`: what a misbehaving client can take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// TLS handshakes in progress at once; connections beyond are closed at once.
    pub max_handshakes: usize,
    /// Deadline of a TLS handshake, ms.
    pub handshake_timeout_ms: u64,
    /// Deadline of the hello after the handshake, ms.
    pub hello_timeout_ms: u64,
    /// Deadline of writing one frame to a kiosk, ms (a kiosk that stops reading is cut).
    pub write_timeout_ms: u64,
    /// A connection silent this long is closed, ms (3 heartbeat intervals).
    pub idle_timeout_ms: u64,
    /// Requests of one kiosk handled at once; beyond, its frames wait in TCP.
    pub max_in_flight: usize,
    /// Largest frame accepted from a kiosk, bytes (protocol maximum 4 MiB).
    pub max_frame: usize,
    /// Connections at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_handshakes: 256,
            handshake_timeout_ms: 10_000,
            hello_timeout_ms: 10_000,
            write_timeout_ms: 10_000,
            idle_timeout_ms: 90_000,
            max_in_flight: 16,
            max_frame: boss_protocol::MAX_FRAME_LEN,
            max_connections: 20_000,
        }
    }
}

/// `[alerts]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// Where raises and clears are POSTed (`http://host:port/path`); none: only listed.
    pub webhook: Option<String>,
    /// How often the rules are evaluated, ms.
    pub interval_ms: u64,
    /// No heartbeat for this long: `kiosk_down`, s.
    pub down_after_s: u64,
    /// A customer screen shown this long: `stuck`, s.
    pub stuck_after_s: u64,
    /// Cash box at this share of its capacity: `cash_box_near_full`, percent.
    pub cash_box_full_pct: u64,
    /// Fewer blank SIMs than this: `card_stock_low` (0: off).
    pub card_stock_low: u64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        let r = AlertRules::default();
        Self {
            webhook: None,
            interval_ms: 30_000,
            down_after_s: r.down_after_s,
            stuck_after_s: r.stuck_after_s,
            cash_box_full_pct: r.cash_box_full_pct,
            card_stock_low: r.card_stock_low,
        }
    }
}

impl AlertSettings {
    /// The thresholds.
    #[must_use]
    pub fn rules(&self) -> AlertRules {
        AlertRules {
            down_after_s: self.down_after_s,
            stuck_after_s: self.stuck_after_s,
            cash_box_full_pct: self.cash_box_full_pct,
            card_stock_low: self.card_stock_low,
        }
    }
}

/// `[bundles]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BundleSettings {
    /// Head office's ed25519 signing key (PKCS#8 PEM).
    pub signing_key: PathBuf,
}

impl Default for BundleSettings {
    fn default() -> Self {
        Self {
            signing_key: PathBuf::from("certs/dev/config-signing.key.pem"),
        }
    }
}

/// `[reconciliation]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconSettings {
    /// Reconcile the previous business day automatically.
    pub enabled: bool,
    /// From this time of day (Beijing), `HH:MM`.
    pub at: String,
}

impl Default for ReconSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            at: "02:00".into(),
        }
    }
}

/// `[console]`: the web console served by `telekiosk-hq serve` (docs/console.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// Serve the console.
    pub enabled: bool,
    /// Where the console listens (plain HTTP; loopback by default: put a TLS reverse proxy
    /// in front to serve it further).
    pub listen: SocketAddr,
    /// The console is reached over HTTPS (through a reverse proxy): cookies get `Secure`.
    pub behind_tls: bool,
    /// A session ends this long after sign-in, minutes.
    pub session_max_minutes: u64,
    /// A session ends after this long without a request, minutes.
    pub session_idle_minutes: u64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            behind_tls: false,
            session_max_minutes: 12 * 60,
            session_idle_minutes: 60,
        }
    }
}

/// Why the configuration file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Reading failed.
    #[error("cannot read {0}")]
    Read(PathBuf, #[source] std::io::Error),
    /// The TOML is wrong (names the key).
    #[error("{0}: {1}")]
    Parse(PathBuf, String),
}

impl HqConfig {
    /// Reads a configuration file; a missing file is the defaults.
    ///
    /// # Errors
    /// [`ConfigError`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml(&text).map_err(|e| ConfigError::Parse(path.to_owned(), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ConfigError::Read(path.to_owned(), e)),
        }
    }

    /// Parses TOML text.
    ///
    /// # Errors
    /// The parser's message (with the key).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e: toml::de::Error| e.to_string())
    }

    /// `reconciliation.at` as minutes after midnight.
    #[must_use]
    pub fn recon_minute(&self) -> Option<u32> {
        let (h, m) = self.reconciliation.at.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    }

    /// Milliseconds as a duration.
    #[must_use]
    pub fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults_and_unknown_keys_are_refused() {
        assert_eq!(HqConfig::from_toml("").unwrap(), HqConfig::default());
        let e = HqConfig::from_toml("[boss]\nadress = \"x\"").unwrap_err();
        assert!(e.contains("adress"), "{e}");
        let c =
            HqConfig::from_toml("[alerts]\ndown_after_s = 60\nwebhook = \"http://127.0.0.1:9/h\"")
                .unwrap();
        assert_eq!(c.alerts.rules().down_after_s, 60);
        assert_eq!(c.recon_minute(), Some(120));
        let c = HqConfig::from_toml("[console]\nlisten = \"127.0.0.1:9090\"\nbehind_tls = true")
            .unwrap();
        assert_eq!(c.console.listen.port(), 9090);
        assert!(c.console.behind_tls && c.console.enabled);
        let e = HqConfig::from_toml("[console]\nsecure = true").unwrap_err();
        assert!(e.contains("secure"), "{e}");
    }
}
