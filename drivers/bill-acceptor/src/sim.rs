//! Scriptable bill-acceptor simulator, shared by both protocols.
//!
//! A simulator plays the device's side of the protocol on the master end of a
//! pseudo-terminal at the protocol's line settings (see [`Protocol::line_settings`]) and
//! takes [`Action`]s — a customer inserting a note, a jam, a power cut — from a channel.
//! The same actions drive `telekiosk sim bill` (one per line on standard input or from
//! `--script`) and the tests.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::Protocol;

/// Something that happens at the simulated device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// A customer inserts a genuine note of this value (in fen). A value the device does
    /// not know, or one that is inhibited, is rejected like a real device would.
    Insert {
        fen: u64,
    },
    /// A customer inserts something the device does not recognise: it is rejected.
    InsertUnknown,
    /// A customer inserts a note of this value and it jams. `safe`: jammed where it cannot
    /// be pulled out from the front.
    Jam {
        fen: u64,
        safe: bool,
    },
    /// The jam is cleared by a technician.
    ClearJam,
    /// The stacker (cashbox) becomes full: the next note is refused with "stacker full".
    StackerFull,
    /// The cashbox is emptied (clears "stacker full").
    EmptyStacker,
    /// The cashbox is pulled out / put back.
    RemoveCashbox,
    ReplaceCashbox,
    /// The power goes off while the next stacked note is between escrow and cashbox; on the
    /// next power-up the device reports the note as cleared into the cashbox.
    PowerCutWhileStacking,
    /// The power goes off while a note sits in escrow; at power-up it is returned to the
    /// front.
    PowerCutInEscrow,
    /// A customer tries to pull a note back on a string while it is being accepted.
    Fraud {
        fen: u64,
    },
    /// Wait before the next scripted action.
    Wait(Duration),
}

/// Parses one script line: `insert 20` (yuan), `insert-fen 2000`, `unknown`,
/// `jam 50 [safe|unsafe]`, `clear-jam`, `stacker-full`, `empty-stacker`, `remove-cashbox`,
/// `replace-cashbox`, `power-cut-stacking`, `power-cut-escrow`, `fraud 100`, `wait 1.5`.
/// Blank lines and `#` comments give `Ok(None)`.
pub fn parse_line(line: &str) -> Result<Option<Action>, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or("");
    let arg = words.next();
    let extra = words.next();
    let yuan = |a: Option<&str>| -> Result<u64, String> {
        let a = a.ok_or_else(|| format!("`{verb}` needs a value in yuan"))?;
        a.parse::<u64>()
            .ok()
            .and_then(|y| y.checked_mul(100))
            .ok_or_else(|| format!("`{a}` is not a whole number of yuan"))
    };
    let action = match verb {
        "insert" => Action::Insert { fen: yuan(arg)? },
        "insert-fen" => Action::Insert {
            fen: arg
                .and_then(|a| a.parse().ok())
                .ok_or("`insert-fen` needs a value in fen")?,
        },
        "unknown" => Action::InsertUnknown,
        "jam" => {
            let safe = match extra {
                None | Some("safe") => true,
                Some("unsafe") => false,
                Some(other) => return Err(format!("jam is `safe` or `unsafe`, not `{other}`")),
            };
            return Ok(Some(Action::Jam {
                fen: yuan(arg)?,
                safe,
            }));
        }
        "clear-jam" => Action::ClearJam,
        "stacker-full" => Action::StackerFull,
        "empty-stacker" => Action::EmptyStacker,
        "remove-cashbox" => Action::RemoveCashbox,
        "replace-cashbox" => Action::ReplaceCashbox,
        "power-cut-stacking" => Action::PowerCutWhileStacking,
        "power-cut-escrow" => Action::PowerCutInEscrow,
        "fraud" => Action::Fraud { fen: yuan(arg)? },
        "wait" => {
            let secs: f64 = arg
                .and_then(|a| a.parse().ok())
                .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
                .ok_or("`wait` needs seconds (0–3600)")?;
            Action::Wait(Duration::from_secs_f64(secs))
        }
        other => return Err(format!("unknown simulator command `{other}`")),
    };
    if extra.is_some() {
        return Err(format!("too many words in `{line}`"));
    }
    Ok(Some(action))
}

/// What physically went into the simulated cashbox, whatever the host saw of it: the
/// ground truth a crash test compares the kiosk's books with. Clones share one tally.
#[derive(Debug, Clone, Default)]
pub struct Cashbox(std::sync::Arc<std::sync::Mutex<Vec<u64>>>);

impl Cashbox {
    /// A note of `fen` entered the cashbox.
    pub fn add(&self, fen: u64) {
        if let Ok(mut notes) = self.0.lock() {
            notes.push(fen);
        }
    }
    /// The notes in the cashbox, in the order they went in.
    pub fn notes(&self) -> Vec<u64> {
        self.0.lock().map(|n| n.clone()).unwrap_or_default()
    }
    /// Their total in fen.
    pub fn total_fen(&self) -> u64 {
        self.notes().iter().sum()
    }
    /// A technician empties the cashbox (清机): the notes taken out; the tally starts again.
    pub fn take_out(&self) -> Vec<u64> {
        self.0
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }
}

impl PartialEq for Cashbox {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Cashbox {}

/// How the simulated device is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    pub protocol: Protocol,
    /// Note values the device knows, in fen, in channel order (channel 1 first).
    pub denominations_fen: Vec<u64>,
    pub currency: String,
    pub serial: String,
    pub firmware: String,
    /// SSP only: the device refuses unencrypted money commands until eSSP keys are set.
    pub encrypted: bool,
    /// SSP only: the 64-bit fixed part of the eSSP key.
    pub fixed_key: u64,
    /// How long a note stays in escrow without a host decision before it is returned.
    pub escrow_timeout: Duration,
    /// Notes the cashbox holds before it reports full.
    pub stacker_capacity: u32,
    /// Tally of the notes that went into the cashbox.
    pub cashbox: Cashbox,
}

impl SimConfig {
    /// A CNY acceptor taking 1, 5, 10, 20, 50 and 100 yuan notes.
    pub fn cny(protocol: Protocol) -> Self {
        Self {
            protocol,
            denominations_fen: vec![100, 500, 1000, 2000, 5000, 10000],
            currency: "CNY".into(),
            serial: match protocol {
                Protocol::Ssp => "NV200-20261122".into(),
                Protocol::Id003 => "IVIZION-0042".into(),
            },
            firmware: match protocol {
                Protocol::Ssp => "NV02004141498000".into(),
                Protocol::Id003 => "iVIZION CNY V1.23".into(),
            },
            encrypted: protocol == Protocol::Ssp,
            fixed_key: 0x0123_4567_0123_4567,
            escrow_timeout: Duration::from_secs(5),
            stacker_capacity: 600,
            cashbox: Cashbox::default(),
        }
    }
}

/// A running simulator, as [`spawn`] returns it.
#[derive(Debug)]
pub struct Running {
    /// What the driver opens (the pseudo-terminal's slave side).
    pub path: PathBuf,
    /// Where [`Action`]s go.
    pub actions: mpsc::Sender<Action>,
    /// The simulator task; it ends when the line closes.
    pub task: JoinHandle<io::Result<()>>,
    /// Keeps the slave side open so the simulator survives the driver reopening the port.
    pub guard: devio::SlaveGuard,
}

/// Starts the simulator of `config.protocol` on a new pseudo-terminal at the protocol's
/// line settings (SSP 9600 8N2, ID-003 9600 8E1). Needs a tokio runtime.
pub fn spawn(config: SimConfig) -> io::Result<Running> {
    let pty = devio::Pty::new(config.protocol.line_settings()).map_err(io::Error::other)?;
    let path = pty.path().to_path_buf();
    let (device, guard) = pty.into_parts();
    let (actions, rx) = mpsc::channel(64);
    let task = match config.protocol {
        Protocol::Ssp => tokio::spawn(crate::ssp::sim::run(device, config, rx)),
        Protocol::Id003 => tokio::spawn(crate::id003::sim::run(device, config, rx)),
    };
    Ok(Running {
        path,
        actions,
        task,
        guard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_lines_parse() {
        assert_eq!(
            parse_line("insert 20").unwrap(),
            Some(Action::Insert { fen: 2000 })
        );
        assert_eq!(parse_line("  # comment").unwrap(), None);
        assert_eq!(
            parse_line("jam 50 unsafe").unwrap(),
            Some(Action::Jam {
                fen: 5000,
                safe: false
            })
        );
        assert_eq!(
            parse_line("wait 1.5").unwrap(),
            Some(Action::Wait(Duration::from_millis(1500)))
        );
        assert!(parse_line("insert twenty").is_err());
        assert!(parse_line("insert 20 30").is_err());
        assert!(parse_line("wait -1").is_err());
        assert!(parse_line("dance").is_err());
    }

    proptest::proptest! {
        #[test]
        fn random_lines_never_panic(s in ".{0,40}") {
            let _ = parse_line(&s);
        }
    }
}
