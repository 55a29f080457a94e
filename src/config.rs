//! The kiosk's configuration file (`/etc/telekiosk/kiosk.toml`, schema in `docs/config.md`).
//!
//! Two parts in one file:
//! - the **machine**: the kiosk's id, its journal, the link to the self-service system
//!   server (address, CA, the kiosk's certificate and key, head office's verifying key),
//!   every device (protocol, port — a stable udev name —, line settings where they vary),
//!   the screen and logging. Only the shop's installer changes these;
//! - head office's **settings** ([`telekiosk_settings::Settings`]: notes, limits, timeouts,
//!   hours, letterhead, branding, service switches, technicians): the defaults this kiosk
//!   runs on until head office pushes a signed bundle, which then replaces them as a whole.
//!
//! The file is checked as a whole when the kiosk starts: an unknown key, a missing key, a
//! wrong type or a value the kiosk cannot honour is refused with the exact key and the
//! reason, never half-applied. Devices that are configured but absent do not stop the kiosk
//! (it serves what it can and keeps trying them); certificates and keys that cannot be read do.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use telekiosk_settings::{Invalid, Settings};

/// Why a configuration was refused: every offending key with its reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration {path} refused:\n  {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Refused {
        path: String,
        problems: Vec<Invalid>,
    },
}

impl Error {
    /// The keys refused (empty for a read error).
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Error::Read { .. } => vec![],
            Error::Refused { problems, .. } => problems.iter().map(|p| p.key.as_str()).collect(),
        }
    }
}

/// Tables of the file that belong to the machine; every other table is head office's.
pub const MACHINE_KEYS: [&str; 7] = [
    "kiosk", "journal", "link", "devices", "screen", "logging", "service",
];

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct KioskConfig {
    pub machine: Machine,
    /// Head office's settings as the file sets them (before any pushed bundle).
    pub settings: Settings,
}

/// The machine's part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    pub kiosk: Kiosk,
    #[serde(default)]
    pub journal: JournalConfig,
    pub link: Link,
    #[serde(default)]
    pub devices: Devices,
    #[serde(default)]
    pub screen: ScreenConfig,
    #[serde(default)]
    pub logging: Logging,
    #[serde(default)]
    pub service: ServiceConfig,
}

/// `[service]` — service mode from a terminal (`telekiosk service …`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// The local socket the running kiosk answers technicians on (owner-only; its folder
    /// is created). The systemd unit's `RuntimeDirectory=telekiosk` provides the default's.
    pub socket: PathBuf,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            socket: crate::runtime::service::default_socket(),
        }
    }
}

/// `[kiosk]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kiosk {
    /// Kiosk id; must match the one in the kiosk's client certificate.
    pub id: String,
    /// The shop (营业厅) the kiosk stands in, for the technician's screens.
    #[serde(default)]
    pub shop: String,
}

/// `[journal]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// The SQLite journal (WAL; its folder must be writable by the kiosk).
    pub path: PathBuf,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("/var/lib/telekiosk/journal.sqlite"),
        }
    }
}

/// `[link]` — the one link, to the self-service system server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// `host:port` of the server.
    pub address: String,
    /// Name the server's certificate must carry.
    pub server_name: String,
    /// The server CA certificate(s), PEM (several during a rollover). No system roots.
    pub ca: PathBuf,
    /// The kiosk's client certificate, PEM.
    pub cert: PathBuf,
    /// The kiosk's private key, PEM (readable by the kiosk only).
    pub key: PathBuf,
    /// Head office's ed25519 verifying key for configuration bundles, PEM.
    pub config_key: PathBuf,
    /// Deadline of a request, seconds (past it the outcome is unknown: status query).
    #[serde(default = "default_request_secs")]
    pub request_timeout_secs: u64,
}

fn default_request_secs() -> u64 {
    15
}

/// `[devices]` — every device is optional: one that is not configured is not fitted, and
/// the services that need it are not offered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Devices {
    pub bill_acceptor: Option<BillAcceptorConfig>,
    pub printer: Option<PrinterConfig>,
    pub id_reader: Option<IdReaderConfig>,
    pub dispenser: Option<DispenserConfig>,
    pub camera: Option<CameraConfig>,
}

/// `[devices.bill_acceptor]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillAcceptorConfig {
    /// `"ssp"` (ITL, serial 9600 8N2) or `"id003"` (JCM, serial 9600 8E1).
    pub protocol: String,
    /// The serial port (a stable udev name such as `/dev/telekiosk/bill`).
    pub port: PathBuf,
    /// The machine's eSSP fixed key, 16 hex digits (SSP only; the ITL default if absent).
    #[serde(default)]
    pub ssp_fixed_key: Option<String>,
    /// Poll interval, ms (200–1000).
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
}

fn default_poll_ms() -> u64 {
    250
}

/// `[devices.printer]` — a serial port or a USB printer-class device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterConfig {
    /// Serial port (e.g. `/dev/telekiosk/printer`).
    #[serde(default)]
    pub port: Option<PathBuf>,
    /// Baud rate of the serial port.
    #[serde(default = "default_printer_baud")]
    pub baud: u32,
    /// USB printer instead: `"vvvv:pppp"` (hex vendor and product id).
    #[serde(default)]
    pub usb: Option<String>,
}

fn default_printer_baud() -> u32 {
    9600
}

/// `[devices.id_reader]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdReaderConfig {
    pub port: PathBuf,
    /// 115200 by default (57600, 38400, 19200, 9600 selectable on the reader).
    #[serde(default = "default_reader_baud")]
    pub baud: u32,
}

fn default_reader_baud() -> u32 {
    115_200
}

/// `[devices.dispenser]` — the card dispenser with its IC station (CRT-591).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispenserConfig {
    pub port: PathBuf,
    #[serde(default = "default_dispenser_baud")]
    pub baud: u32,
    /// Unit address set on the DIP switches (0–15).
    #[serde(default)]
    pub address: u8,
}

fn default_dispenser_baud() -> u32 {
    9600
}

/// `[devices.camera]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// A V4L2 node (`/dev/video0`, `/dev/v4l/by-id/…`), `"simulated"` for the test
    /// pattern, or `"simulated:scene:NAME"` for a scripted scene drawn from a portrait
    /// (`live_customer`, `photo_held_still`, `nobody`, `two_people`, `too_far`,
    /// `off_centre`, `too_dark`, `walks_away`, `photo_tilted`; docs/face.md).
    pub device: String,
}

/// `[screen]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScreenConfig {
    /// `"portrait"` (1080×1920) or `"landscape"` (1920×1080).
    pub orientation: String,
    /// Full screen (a kiosk) or a window (a bench).
    pub fullscreen: bool,
    /// Language each session starts in: `"zh"` or `"en"`.
    pub language: String,
    /// Start every session in elder mode.
    pub elder: bool,
    /// `"window"`: the touchscreen; `"none"`: no screen (a headless bench or test).
    pub display: String,
}

impl Default for ScreenConfig {
    fn default() -> Self {
        Self {
            orientation: "portrait".into(),
            fullscreen: true,
            language: "zh".into(),
            elder: false,
            display: "window".into(),
        }
    }
}

/// `[logging]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Logging {
    /// `error`, `warn`, `info`, `debug` or `trace` (or a filter such as
    /// `info,telekiosk::runtime=debug`). `TELEKIOSK_LOG` overrides it.
    pub level: String,
    /// `"auto"` (journald under systemd, text otherwise), `"journald"` or `"text"`.
    pub format: String,
}

impl Default for Logging {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "auto".into(),
        }
    }
}

impl KioskConfig {
    /// Reads and checks a configuration file. Relative paths in it are taken from the
    /// file's folder.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|problems| Error::Refused {
            path: path.display().to_string(),
            problems,
        })?;
        if let Some(dir) = path.parent() {
            config.machine.resolve_relative(dir);
        }
        Ok(config)
    }

    /// Parses and checks configuration text; every problem, by key.
    pub fn parse(text: &str) -> Result<Self, Vec<Invalid>> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            vec![Invalid {
                key: "(document)".into(),
                reason: e.to_string(),
            }]
        })?;
        let (machine, business): (toml::Table, toml::Table) = table
            .into_iter()
            .partition(|(k, _)| MACHINE_KEYS.contains(&k.as_str()));
        let mut problems = Vec::new();
        let machine: Option<Machine> =
            match serde_path_to_error::deserialize(toml::Value::Table(machine)) {
                Ok(m) => Some(m),
                Err(e) => {
                    problems.push(path_error(e.path(), e.inner().to_string()));
                    None
                }
            };
        if let Some(m) = &machine {
            problems.extend(m.validate());
        }
        let settings = match Settings::from_toml_table(business) {
            Ok(s) => Some(s),
            Err(refused) => {
                problems.extend(refused.0);
                None
            }
        };
        match (machine, settings) {
            (Some(machine), Some(settings)) if problems.is_empty() => {
                Ok(Self { machine, settings })
            }
            _ => Err(problems),
        }
    }
}

impl Machine {
    /// Checks the values serde cannot.
    pub fn validate(&self) -> Vec<Invalid> {
        let mut bad = Vec::new();
        let mut no = |key: &str, reason: &str| {
            bad.push(Invalid {
                key: key.into(),
                reason: reason.into(),
            })
        };
        let id = &self.kiosk.id;
        if id.is_empty()
            || id.len() > 32
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            no("kiosk.id", "1 to 32 letters, digits, '-' or '_'");
        }
        if self
            .link
            .address
            .rsplit_once(':')
            .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        {
            no("link.address", "host:port");
        }
        if self.link.server_name.is_empty()
            || rustls::pki_types::ServerName::try_from(self.link.server_name.as_str()).is_err()
        {
            no("link.server_name", "a DNS name or an IP address");
        }
        if !(1..=120).contains(&self.link.request_timeout_secs) {
            no("link.request_timeout_secs", "1 to 120 s");
        }
        if let Some(b) = &self.devices.bill_acceptor {
            if !matches!(b.protocol.as_str(), "ssp" | "id003") {
                no("devices.bill_acceptor.protocol", "\"ssp\" or \"id003\"");
            }
            if let Some(k) = &b.ssp_fixed_key
                && (k.len() != 16 || u64::from_str_radix(k, 16).is_err())
            {
                no("devices.bill_acceptor.ssp_fixed_key", "16 hex digits");
            }
            if !(200..=1000).contains(&b.poll_ms) {
                no(
                    "devices.bill_acceptor.poll_ms",
                    "200 to 1000 ms (the device's rule)",
                );
            }
        }
        if let Some(p) = &self.devices.printer {
            match (&p.port, &p.usb) {
                (Some(_), Some(_)) | (None, None) => {
                    no("devices.printer", "either port (serial) or usb, not both")
                }
                (None, Some(usb)) if parse_usb_id(usb).is_none() => {
                    no("devices.printer.usb", "\"vvvv:pppp\" in hex, or \"any\"")
                }
                _ => {}
            }
            if !BAUDS.contains(&p.baud) {
                no("devices.printer.baud", "a standard rate (9600 … 115200)");
            }
        }
        if let Some(r) = &self.devices.id_reader
            && !BAUDS.contains(&r.baud)
        {
            no("devices.id_reader.baud", "a standard rate (9600 … 115200)");
        }
        if let Some(d) = &self.devices.dispenser {
            if !BAUDS.contains(&d.baud) {
                no("devices.dispenser.baud", "a standard rate (9600 … 57600)");
            }
            if d.address > 15 {
                no("devices.dispenser.address", "0 to 15 (DIP switches)");
            }
        }
        if let Some(c) = &self.devices.camera
            && c.device.is_empty()
        {
            no("devices.camera.device", "a V4L2 node or \"simulated\"");
        }
        let s = &self.screen;
        if !matches!(s.orientation.as_str(), "portrait" | "landscape") {
            no("screen.orientation", "\"portrait\" or \"landscape\"");
        }
        if !matches!(s.language.as_str(), "zh" | "en") {
            no("screen.language", "\"zh\" or \"en\"");
        }
        if !matches!(s.display.as_str(), "window" | "none") {
            no("screen.display", "\"window\" or \"none\"");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.logging.level).is_err() {
            no(
                "logging.level",
                "a level (error … trace) or a tracing filter",
            );
        }
        if !matches!(self.logging.format.as_str(), "auto" | "journald" | "text") {
            no("logging.format", "\"auto\", \"journald\" or \"text\"");
        }
        bad
    }

    fn resolve_relative(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        fix(&mut self.journal.path);
        fix(&mut self.link.ca);
        fix(&mut self.link.cert);
        fix(&mut self.link.key);
        fix(&mut self.link.config_key);
        fix(&mut self.service.socket);
    }
}

const BAUDS: [u32; 7] = [9600, 19_200, 38_400, 57_600, 115_200, 4800, 2400];

/// `vvvv:pppp` → (vendor, product); `any` → (0, 0).
pub fn parse_usb_id(s: &str) -> Option<(u16, u16)> {
    if s == "any" {
        return Some((0, 0));
    }
    let (v, p) = s.split_once(':')?;
    Some((
        u16::from_str_radix(v, 16).ok()?,
        u16::from_str_radix(p, 16).ok()?,
    ))
}

fn path_error(path: &serde_path_to_error::Path, message: String) -> Invalid {
    let key = path.to_string();
    let key = match message
        .strip_prefix("missing field `")
        .and_then(|r| r.split_once('`'))
    {
        Some((field, _)) if key == "." || key.is_empty() => field.to_owned(),
        Some((field, _)) => format!("{key}.{field}"),
        None => match message
            .strip_prefix("unknown field `")
            .and_then(|r| r.split_once('`'))
        {
            Some((field, _)) if !key.ends_with(field) && key != "." => format!("{key}.{field}"),
            Some((field, _)) if key == "." => field.to_owned(),
            _ => key,
        },
    };
    Invalid {
        key,
        reason: message,
    }
}

#[cfg(test)]
mod tests;
