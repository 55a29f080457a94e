//! The thin async driver: moves bytes between a [`devio::Transport`] and the pure
//! [`Host`] state machine, and turns replies into typed results.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::apdu::{self, ApduTransport, ExchangeError, Response};
use crate::frame::{Command, Reply, ReplyKind};
use crate::protocol::{HandshakeConfig, Host, HostEvent, LinkError, cmd};
use crate::status::{BadStatus, CardPosition, Condition, ErrorCode, Sensors, Status};

/// Cold-reset supply and activation mode (the Vcc byte of `51 30`, manual §3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Vcc {
    /// 30H: 5 V, EMV 2000 activation. Refuses a SIM's (non-EMV) ATR with error 69.
    Emv,
    /// 33H: 5 V, ISO/IEC 7816-3 activation.
    Iso5V,
    /// 35H: 3 V, ISO/IEC 7816-3 activation: the right choice for today's SIMs.
    #[default]
    Iso3V,
}

impl Vcc {
    /// The byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            Vcc::Emv => 0x30,
            Vcc::Iso5V => 0x33,
            Vcc::Iso3V => 0x35,
        }
    }
}

/// What initialisation does with a card found inside (PM of command 30H).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitMode {
    /// 30H: move the card out towards the gate / holding position.
    MoveOut,
    /// 31H: capture the card into the reject bin.
    Capture,
    /// 33H: leave the card where it is.
    Leave,
}

impl InitMode {
    /// The PM byte; `count` selects the variant that also counts a captured card (34/35/37H).
    pub fn pm(self, count: bool) -> u8 {
        let base = match self {
            InitMode::MoveOut => 0x30,
            InitMode::Capture => 0x31,
            InitMode::Leave => 0x33,
        };
        if count { base + 4 } else { base }
    }
}

/// Target of a card move (PM of command 32H).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// 30H: card holding position (inside the channel).
    Holding,
    /// 31H: IC contact position (dispenses a card from the stacker if none is inside).
    Ic,
    /// 32H: RF (contactless) position.
    Rf,
    /// 33H: reject bin (废卡箱).
    RejectBin,
    /// 39H: out to the gate, for the customer to take.
    Gate,
}

impl Destination {
    /// The PM byte.
    pub fn pm(self) -> u8 {
        match self {
            Destination::Holding => 0x30,
            Destination::Ic => 0x31,
            Destination::Rf => 0x32,
            Destination::RejectBin => 0x33,
            Destination::Gate => 0x39,
        }
    }
}

/// Which CPU-card APDU command carries APDUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApduCommand {
    /// `51 39`: the dispenser picks T=0 or T=1 itself.
    #[default]
    Auto,
    /// `51 33`: T=0 only.
    T0,
}

/// Driver settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Unit address 00–0F set on the four DIP switches (factory default 00).
    pub address: u8,
    /// Serial line settings: 8N1 at 9600 by default; the device detects 9600–57600 from the
    /// first initialise command.
    pub line: devio::LineSettings,
    /// ACK timeout and retries.
    pub handshake: HandshakeConfig,
    /// Reply deadline of status and counter commands.
    pub status_timeout: Duration,
    /// Reply deadline of moves (a dispense takes seconds).
    pub move_timeout: Duration,
    /// Reply deadline of the initialise command.
    pub init_timeout: Duration,
    /// Reply deadline of CPU-card commands (activation, APDUs).
    pub card_timeout: Duration,
    /// Cold-reset mode; 3 V ISO 7816-3 for SIMs.
    pub vcc: Vcc,
    /// APDU command used for the IC station.
    pub apdu_command: ApduCommand,
    /// How long a card may wait at the gate before it is captured.
    pub take_timeout: Duration,
    /// How often the gate is polled while waiting for the customer.
    pub take_poll: Duration,
    /// When the dispenser answers B0 ("not reset": it lost power), initialise it again
    /// (leaving any card where it is) and repeat the command once.
    pub reinit_after_power_loss: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            address: 0,
            line: devio::LineSettings::n81(9600),
            handshake: HandshakeConfig::default(),
            status_timeout: Duration::from_secs(3),
            move_timeout: Duration::from_secs(20),
            init_timeout: Duration::from_secs(30),
            card_timeout: Duration::from_secs(10),
            vcc: Vcc::default(),
            apdu_command: ApduCommand::default(),
            take_timeout: Duration::from_secs(30),
            take_poll: Duration::from_millis(250),
            reinit_after_power_loss: true,
        }
    }
}

/// Errors of the dispenser driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening the serial port failed.
    #[error(transparent)]
    Open(#[from] devio::Error),
    /// Reading or writing the port failed.
    #[error("serial I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The port reached end of file (device unplugged, simulator gone).
    #[error("the serial port closed")]
    Closed,
    /// The handshake failed: no ACK, no reply, corrupt replies.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The dispenser answered with a negative reply.
    #[error("dispenser refused command {cm:02X} {pm:02X}: {code}")]
    Device {
        /// Command code.
        cm: u8,
        /// Command parameter.
        pm: u8,
        /// Error code e1 e0.
        code: ErrorCode,
    },
    /// A status byte outside the manual's values.
    #[error(transparent)]
    BadStatus(#[from] BadStatus),
    /// A reply whose data does not have the expected shape.
    #[error("malformed reply to {cm:02X} {pm:02X}: {reason}")]
    Malformed {
        /// Command code.
        cm: u8,
        /// Command parameter.
        pm: u8,
        /// What was wrong.
        reason: &'static str,
    },
    /// The task owning the port has stopped (see [`crate::actor`]).
    #[error("the dispenser task has stopped")]
    TaskGone,
    /// The configured address is outside 00–0F.
    #[error("address {0:#04x} is outside 00–0F")]
    Address(u8),
}

impl Error {
    /// The dispenser's error code, if it answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Device { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The machine condition this error reveals (jam, stacker empty, …), if any.
    pub fn condition(&self) -> Option<Condition> {
        self.code().and_then(ErrorCode::condition)
    }

    /// True when the dispenser did not answer at all (off, unplugged, wrong port/address).
    pub fn is_no_answer(&self) -> bool {
        matches!(self, Error::Link(LinkError::NoAck { .. }) | Error::Closed)
    }
}

/// Result of the initialise command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitInfo {
    /// Status after initialisation.
    pub status: Status,
    /// Firmware version text (e.g. "CRT-591-M001").
    pub firmware: String,
}

/// The card's transmission protocol from the ATR reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CardProtocol {
    /// T=0 (character protocol, SIMs).
    T0,
    /// T=1 (block protocol).
    T1,
}

/// Answer to reset of the card at the IC station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Atr {
    /// Protocol reported by the dispenser.
    pub protocol: CardProtocol,
    /// The ATR bytes (TS T0 … TCK).
    pub bytes: Vec<u8>,
}

/// Why a card went into the reject bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureReason {
    /// The customer did not take the card from the gate in time.
    NotTaken,
}

/// What happened to a card handed out at the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum CardEvent {
    /// The customer took the card.
    Taken,
    /// The card was pulled back into the reject bin (吞卡).
    Captured {
        /// Why.
        reason: CaptureReason,
    },
}

/// A Creator CRT-591 card dispenser over any byte transport.
#[derive(Debug)]
pub struct CardDispenser<T> {
    io: T,
    host: Host,
    config: Config,
    buf: Vec<u8>,
}

impl CardDispenser<devio::SerialStream> {
    /// Opens a serial port with the configured line settings.
    pub fn open(path: impl AsRef<Path>, config: Config) -> Result<Self, Error> {
        let io = devio::open_serial(path, config.line)?;
        Self::new(io, config)
    }
}

impl<T: devio::Transport> CardDispenser<T> {
    /// Wraps a transport.
    pub fn new(io: T, config: Config) -> Result<Self, Error> {
        if config.address > 0x0F {
            return Err(Error::Address(config.address));
        }
        Ok(Self {
            io,
            host: Host::new(config.handshake),
            config,
            buf: vec![0; 1100],
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The transport (e.g. to read the serial line settings).
    pub fn transport(&self) -> &T {
        &self.io
    }

    /// Sends one command through the whole handshake and returns the device's reply.
    pub async fn transact(&mut self, command: Command, timeout: Duration) -> Result<Reply, Error> {
        // A busy host only happens if a previous call was cancelled mid-exchange: start over.
        if !self.host.is_idle() {
            self.host = Host::new(self.config.handshake);
        }
        let (cm, pm) = (command.cm, command.pm);
        if self.host.send(command, timeout, Instant::now()).is_err() {
            return Err(Error::Malformed {
                cm,
                pm,
                reason: "handshake busy",
            });
        }
        loop {
            while let Some(bytes) = self.host.poll_transmit() {
                self.io.write_all(&bytes).await?;
                self.io.flush().await?;
            }
            if let Some(event) = self.host.poll_event() {
                // Flush what the last step queued (the ACK of the reply, or EOT).
                while let Some(bytes) = self.host.poll_transmit() {
                    self.io.write_all(&bytes).await?;
                    self.io.flush().await?;
                }
                return match event {
                    HostEvent::Reply(r) => Ok(r),
                    HostEvent::Failed(e) => Err(e.into()),
                };
            }
            let deadline = self
                .host
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + timeout);
            tokio::select! {
                n = self.io.read(&mut self.buf) => {
                    let n = n?;
                    if n == 0 {
                        return Err(Error::Closed);
                    }
                    let bytes = self.buf.get(..n).unwrap_or_default().to_vec();
                    self.host.handle_bytes(&bytes, Instant::now());
                }
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {
                    self.host.handle_timeout(Instant::now());
                }
            }
        }
    }

    /// Sends a command and requires a positive reply: returns its status and data.
    async fn run(
        &mut self,
        command: Command,
        timeout: Duration,
    ) -> Result<(Status, Vec<u8>), Error> {
        let (cm, pm) = (command.cm, command.pm);
        let retry =
            (self.config.reinit_after_power_loss && cm != cmd::INIT).then(|| command.clone());
        match self.run_once(command, timeout).await {
            Err(Error::Device {
                code: ErrorCode::NotReset,
                ..
            }) if retry.is_some() => {
                // The dispenser lost power since we last initialised it: initialise
                // without moving a card that may be inside, then try once more.
                tracing::warn!(
                    cm,
                    pm,
                    "dispenser reports B0 (not reset): initialising again"
                );
                let init = self.command(cmd::INIT, InitMode::Leave.pm(false), &[]);
                self.run_once(init, self.config.init_timeout).await?;
                match retry {
                    Some(c) => self.run_once(c, timeout).await,
                    None => Err(Error::Device {
                        cm,
                        pm,
                        code: ErrorCode::NotReset,
                    }),
                }
            }
            other => other,
        }
    }

    async fn run_once(
        &mut self,
        command: Command,
        timeout: Duration,
    ) -> Result<(Status, Vec<u8>), Error> {
        let (cm, pm) = (command.cm, command.pm);
        let reply = self.transact(command, timeout).await?;
        match reply.kind {
            ReplyKind::Positive { st } => Ok((Status::parse(st)?, reply.data)),
            ReplyKind::Negative { e } => {
                let code = ErrorCode::from_bytes(e);
                tracing::info!(cm, pm, %code, "dispenser refused");
                Err(Error::Device { cm, pm, code })
            }
        }
    }

    fn command(&self, cm: u8, pm: u8, data: &[u8]) -> Command {
        Command::with_data(self.config.address, cm, pm, data)
    }

    /// Initialise (must be the first command after power-on). Clears errors, disables card
    /// entry from the gate, and reports the firmware version.
    pub async fn initialize(&mut self, mode: InitMode) -> Result<InitInfo, Error> {
        let c = self.command(cmd::INIT, mode.pm(false), &[]);
        let (status, data) = self.run(c, self.config.init_timeout).await?;
        let firmware = String::from_utf8_lossy(&data).trim().to_owned();
        Ok(InitInfo { status, firmware })
    }

    /// Status request (31 30).
    pub async fn status(&mut self) -> Result<Status, Error> {
        let c = self.command(cmd::STATUS, 0x30, &[]);
        Ok(self.run(c, self.config.status_timeout).await?.0)
    }

    /// Status with the channel sensors S1–S7 (31 31).
    pub async fn sensors(&mut self) -> Result<(Status, Sensors), Error> {
        let c = self.command(cmd::STATUS, 0x31, &[]);
        let (status, data) = self.run(c, self.config.status_timeout).await?;
        if data.len() < 7 {
            return Err(Error::Malformed {
                cm: cmd::STATUS,
                pm: 0x31,
                reason: "fewer than 7 sensor bytes",
            });
        }
        Ok((status, Sensors::parse(&data)))
    }

    /// Moves the card (32 PM); moving to the IC position or the gate with the channel empty
    /// dispenses a card from the stacker.
    pub async fn move_card(&mut self, to: Destination) -> Result<Status, Error> {
        let c = self.command(cmd::MOVE, to.pm(), &[]);
        Ok(self.run(c, self.config.move_timeout).await?.0)
    }

    /// Enables or disables card entry from the gate (33 30 / 33 31).
    pub async fn set_gate_entry(&mut self, enabled: bool) -> Result<Status, Error> {
        let c = self.command(cmd::ENTRY, if enabled { 0x30 } else { 0x31 }, &[]);
        Ok(self.run(c, self.config.status_timeout).await?.0)
    }

    /// Reads the reject-bin counter (A5 30), 0–999.
    pub async fn reject_counter(&mut self) -> Result<u16, Error> {
        let c = self.command(cmd::REJECT_COUNTER, 0x30, &[]);
        let (_, data) = self.run(c, self.config.status_timeout).await?;
        let digits = data.get(..3).filter(|d| d.iter().all(u8::is_ascii_digit));
        let Some(d) = digits else {
            return Err(Error::Malformed {
                cm: cmd::REJECT_COUNTER,
                pm: 0x30,
                reason: "count is not 3 digits",
            });
        };
        Ok(d.iter().fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0')))
    }

    /// Sets the reject-bin counter (A5 31), e.g. to 0 after emptying the bin.
    pub async fn set_reject_counter(&mut self, count: u16) -> Result<(), Error> {
        let count = count.min(999);
        let c = self.command(cmd::REJECT_COUNTER, 0x31, format!("{count:03}").as_bytes());
        self.run(c, self.config.status_timeout).await.map(|_| ())
    }

    /// Cold-resets (activates) the card at the IC station with the configured Vcc byte.
    pub async fn cold_reset(&mut self) -> Result<Atr, Error> {
        let c = self.command(cmd::CPU, cmd::CPU_COLD_RESET, &[self.config.vcc.byte()]);
        let (_, data) = self.run(c, self.config.card_timeout).await?;
        parse_atr(cmd::CPU_COLD_RESET, &data)
    }

    /// Warm reset of the activated card.
    pub async fn warm_reset(&mut self) -> Result<Atr, Error> {
        let c = self.command(cmd::CPU, cmd::CPU_WARM_RESET, &[]);
        let (_, data) = self.run(c, self.config.card_timeout).await?;
        parse_atr(cmd::CPU_WARM_RESET, &data)
    }

    /// Powers the card off (51 31).
    pub async fn power_off(&mut self) -> Result<Status, Error> {
        let c = self.command(cmd::CPU, cmd::CPU_POWER_OFF, &[]);
        Ok(self.run(c, self.config.card_timeout).await?.0)
    }

    /// Sends one APDU as it is (no T=0 follow-ups) and returns the raw response.
    pub async fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        let pm = match self.config.apdu_command {
            ApduCommand::Auto => cmd::CPU_APDU_AUTO,
            ApduCommand::T0 => cmd::CPU_APDU_T0,
        };
        let c = self.command(cmd::CPU, pm, apdu);
        let (_, data) = self.run(c, self.config.card_timeout).await?;
        if data.len() < 2 {
            return Err(Error::Malformed {
                cm: cmd::CPU,
                pm,
                reason: "R-APDU without status word",
            });
        }
        Ok(data)
    }

    /// Sends an APDU with the T=0 follow-ups (GET RESPONSE, re-issue with Le).
    pub async fn exchange(&mut self, apdu: &[u8]) -> Result<Response, ExchangeError<Error>> {
        apdu::exchange(self, apdu).await
    }

    /// Dispenses a card from the stacker to the IC station (32 31).
    pub async fn dispense_to_ic(&mut self) -> Result<Status, Error> {
        self.move_card(Destination::Ic).await
    }

    /// Moves the card (from the IC station, or a new one from the stacker) out to the gate
    /// for the customer (32 39).
    pub async fn issue_to_gate(&mut self) -> Result<Status, Error> {
        self.move_card(Destination::Gate).await
    }

    /// Captures the card in the channel into the reject bin (32 33).
    pub async fn capture(&mut self) -> Result<Status, Error> {
        self.move_card(Destination::RejectBin).await
    }

    /// Waits for the customer to take the card from the gate; after `timeout` the card is
    /// pulled back into the reject bin.
    pub async fn wait_taken(&mut self, timeout: Duration) -> Result<CardEvent, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.status().await?;
            if status.card_position == CardPosition::None {
                return Ok(CardEvent::Taken);
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::info!("card not taken in time: capturing it");
                self.capture().await?;
                return Ok(CardEvent::Captured {
                    reason: CaptureReason::NotTaken,
                });
            }
            let next = (tokio::time::Instant::now() + self.config.take_poll).min(deadline);
            tokio::time::sleep_until(next).await;
        }
    }

    /// [`CardDispenser::wait_taken`] with the configured take timeout.
    pub async fn wait_taken_default(&mut self) -> Result<CardEvent, Error> {
        let t = self.config.take_timeout;
        self.wait_taken(t).await
    }
}

fn parse_atr(pm: u8, data: &[u8]) -> Result<Atr, Error> {
    let (protocol, bytes) = match data {
        [0x30, atr @ ..] => (CardProtocol::T0, atr),
        [0x31, atr @ ..] => (CardProtocol::T1, atr),
        _ => {
            return Err(Error::Malformed {
                cm: cmd::CPU,
                pm,
                reason: "ATR reply without protocol type",
            });
        }
    };
    if bytes.is_empty() {
        return Err(Error::Malformed {
            cm: cmd::CPU,
            pm,
            reason: "empty ATR",
        });
    }
    Ok(Atr {
        protocol,
        bytes: bytes.to_vec(),
    })
}

impl<T: devio::Transport> ApduTransport for CardDispenser<T> {
    type Error = Error;
    async fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        self.transmit_raw(apdu).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn atr_replies() {
        let a = parse_atr(0x30, &[0x30, 0x3B, 0x9F]).unwrap();
        assert_eq!(a.protocol, CardProtocol::T0);
        assert_eq!(a.bytes, vec![0x3B, 0x9F]);
        assert!(parse_atr(0x30, &[0x30]).is_err());
        assert!(parse_atr(0x30, &[]).is_err());
        assert_eq!(InitMode::Capture.pm(true), 0x35);
        assert_eq!(Vcc::default().byte(), 0x35);
    }

    proptest! {
        #[test]
        fn atr_parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_atr(0x30, &data);
        }
    }
}
