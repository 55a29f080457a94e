//! The thin async shell: moves bytes between a [`devio::Transport`] and the pure
//! [`Link`] and [`Session`], and implements [`BillAcceptor`].

use std::path::Path;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    AcceptorEvent, AcceptorState, BillAcceptor, Denomination, DeviceInfo, Error, Protocol,
};

use super::crypto::{self, EsspKey, HostKeyExchange};
use super::link::{Link, LinkConfig, Outcome, SendError};
use super::message::{Command, PollEvent, Reply, Status, ValidatorSetup};
use super::session::Session;

/// Host configuration of an SSP validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SspConfig {
    pub link: LinkConfig,
    /// The machine's 64-bit fixed eSSP key (lower half of the AES key).
    pub fixed_key: u64,
    /// Negotiate eSSP keys at connect (and again whenever the device answers FA).
    pub encryption: bool,
    /// Highest protocol version to ask for; lower ones are tried if the device refuses.
    pub protocol_version: u8,
}

impl Default for SspConfig {
    fn default() -> Self {
        Self {
            link: LinkConfig::default(),
            fixed_key: crypto::DEFAULT_FIXED_KEY,
            encryption: true,
            protocol_version: 8,
        }
    }
}

/// An ITL SSP / eSSP banknote validator (NV9, NV10, NV200 …) on any byte stream.
#[derive(Debug)]
pub struct Ssp<T> {
    io: T,
    config: SspConfig,
    link: Link,
    session: Session,
    rng: StdRng,
    protocol_version: u8,
    info: Option<DeviceInfo>,
    /// The values the application enabled, to restore after a device reset.
    accepting: Option<Vec<u64>>,
    queued: Vec<AcceptorEvent>,
    read_buf: Vec<u8>,
}

impl Ssp<devio::SerialStream> {
    /// Opens a serial port at SSP's line settings (9600 8N2).
    pub fn open(path: impl AsRef<Path>, config: SspConfig) -> Result<Self, Error> {
        let port =
            devio::open_serial(path, Protocol::Ssp.line_settings()).map_err(|e| match e {
                devio::Error::Io(io) => Error::Io(io),
                other => Error::Io(std::io::Error::other(other)),
            })?;
        Ok(Self::new(port, config))
    }
}

fn send_error(e: SendError) -> Error {
    match e {
        SendError::NoKey => Error::Encryption("no eSSP key negotiated"),
        other => Error::Protocol(other.to_string()),
    }
}

impl<T: devio::Transport> Ssp<T> {
    pub fn new(io: T, config: SspConfig) -> Self {
        Self {
            io,
            link: Link::new(config.link),
            config,
            session: Session::default(),
            rng: StdRng::from_os_rng(),
            protocol_version: 0,
            info: None,
            accepting: None,
            queued: Vec::new(),
            read_buf: vec![0; 512],
        }
    }

    /// What [`BillAcceptor::connect`] found, if it ran.
    pub fn info(&self) -> Option<&DeviceInfo> {
        self.info.as_ref()
    }

    /// The link's eSSP counter (tests and diagnostics).
    pub fn essp_count(&self) -> Option<u32> {
        self.link.count()
    }

    /// Resends so far (a lost reply shows here).
    pub fn resends(&self) -> u64 {
        self.link.resends()
    }

    /// The underlying transport.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// One command, one reply: resends and the dead-slave rule are the link's.
    async fn transact(&mut self, command: &Command, encrypt: bool) -> Result<Vec<u8>, Error> {
        let result = self.transact_inner(command, encrypt).await;
        if matches!(result, Err(Error::Io(_))) {
            // The line failed under the command: it will never be answered. Without this
            // every later command (a reconnect after a power cut) would be refused as
            // "already in flight".
            self.link.abandon();
        }
        result
    }

    async fn transact_inner(&mut self, command: &Command, encrypt: bool) -> Result<Vec<u8>, Error> {
        self.link
            .send(command, encrypt, Instant::now(), &mut self.rng)
            .map_err(send_error)?;
        loop {
            if let Some(bytes) = self.link.poll_transmit() {
                self.io.write_all(&bytes).await?;
                self.io.flush().await?;
            }
            match self.link.poll_outcome() {
                Some(Outcome::Reply(data)) => return Ok(data),
                Some(Outcome::Dead { tries }) => return Err(Error::NoAnswer { tries }),
                None => {}
            }
            let deadline = self
                .link
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            match tokio::time::timeout_at(deadline.into(), self.io.read(&mut self.read_buf)).await {
                Ok(Ok(0)) => {
                    // End of stream on a tty means nothing to read right now (or a line
                    // whose other end has gone: a pulled plug reads as end of file at
                    // once, forever). Do not spin, and keep the resend clock running so
                    // a dead line still ends in a resend that fails or in "no answer".
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    self.link.handle_timeout(Instant::now());
                }
                Ok(Ok(n)) => {
                    let bytes = self.read_buf.get(..n).unwrap_or(&[]).to_vec();
                    self.link.handle_bytes(&bytes);
                }
                Ok(Err(e)) => return Err(Error::Io(e)),
                Err(_) => self.link.handle_timeout(Instant::now()),
            }
        }
    }

    /// Sends a command (encrypted once keys exist) and parses the reply. A device that
    /// answers FA has no keys — it was just powered up, or it reset and lost them — so the
    /// driver synchronises again (SYNC), negotiates new keys (4A, 4B, 4C) and asks once
    /// more. The device is never declared dead for an FA.
    pub async fn command(&mut self, command: Command) -> Result<Reply, Error> {
        let mut rekeyed = false;
        loop {
            let encrypt = self.link.has_key() && !command.is_key_setup();
            let data = self.transact(&command, encrypt).await?;
            let reply = Reply::parse(&data)
                .map_err(|e| Error::Protocol(format!("{}: {e}", command.name())))?;
            if reply.status == Status::KeyNotSet
                && self.config.encryption
                && !command.is_key_setup()
                && !rekeyed
            {
                tracing::info!(
                    command = command.name(),
                    "device asks for eSSP keys (power-up or reset); negotiating"
                );
                self.link.clear_key();
                self.sync().await?;
                if !self.negotiate_keys().await? {
                    return Err(Error::Encryption(
                        "the device answers KEY NOT SET but does not know the key exchange",
                    ));
                }
                rekeyed = true;
                continue;
            }
            return Ok(reply);
        }
    }

    /// SYNC: restarts the sequence flag on both sides. Always in clear, always answered OK.
    async fn sync(&mut self) -> Result<(), Error> {
        let data = self.transact(&Command::Sync, false).await?;
        match Reply::parse(&data).map(|r| r.status) {
            Ok(Status::Ok) => Ok(()),
            Ok(other) => Err(Error::Refused {
                command: "SYNC",
                reason: other.text(),
            }),
            Err(e) => Err(Error::Protocol(format!("SYNC: {e}"))),
        }
    }

    /// A command that must answer OK.
    async fn expect_ok(&mut self, command: Command) -> Result<Vec<u8>, Error> {
        let name = command.name();
        let reply = self.command(command).await?;
        if reply.status == Status::Ok {
            Ok(reply.data)
        } else if reply.status == Status::KeyNotSet {
            Err(Error::Encryption("the device requires eSSP keys"))
        } else {
            Err(Error::Refused {
                command: name,
                reason: reply.status.text(),
            })
        }
    }

    /// eSSP Diffie-Hellman negotiation (4A, 4B, 4C). Returns `false` if the device does not
    /// know the commands (an SSP-only device).
    pub async fn negotiate_keys(&mut self) -> Result<bool, Error> {
        self.link.clear_key();
        let dh = HostKeyExchange::new(&mut self.rng);
        let reply = self
            .transact(&Command::SetGenerator(dh.generator), false)
            .await?;
        match Reply::parse(&reply).map(|r| r.status) {
            Ok(Status::Ok) => {}
            Ok(Status::UnknownCommand) => return Ok(false),
            _ => return Err(Error::Encryption("device refused the generator")),
        }
        let reply = self
            .transact(&Command::SetModulus(dh.modulus), false)
            .await?;
        if Reply::parse(&reply).map(|r| r.status) != Ok(Status::Ok) {
            return Err(Error::Encryption("device refused the modulus"));
        }
        let reply = self
            .transact(&Command::RequestKeyExchange(dh.host_intermediate()), false)
            .await?;
        let reply =
            Reply::parse(&reply).map_err(|_| Error::Encryption("unreadable key exchange reply"))?;
        let slave: [u8; 8] = match (reply.status, reply.data.as_slice().try_into()) {
            (Status::Ok, Ok(bytes)) => bytes,
            _ => return Err(Error::Encryption("device refused the key exchange")),
        };
        let key = dh.key(u64::from_le_bytes(slave));
        self.link.set_key(EsspKey::new(self.config.fixed_key, key));
        Ok(true)
    }

    async fn poll_once(&mut self) -> Result<Vec<AcceptorEvent>, Error> {
        let data = self.expect_ok(Command::Poll).await?;
        let (events, error) = PollEvent::parse_all(&data, self.protocol_version);
        if let Some(e) = error {
            tracing::warn!(error = %e, "SSP poll reply only partly understood");
        }
        let mut out = self.session.handle_poll(&events);
        if self.session.take_want_reject_code() {
            match self.expect_ok(Command::LastRejectCode).await {
                Ok(d) => {
                    if let Some(&code) = d.first() {
                        Session::attach_reject_code(&mut out, code);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "last reject code not available"),
            }
        }
        Ok(out)
    }

    /// A note may be waiting in escrow, left there by a host that stopped before deciding
    /// (kiosk restart, link loss). Its customer is gone: it goes back, never into the
    /// cashbox. A plain POLL after `EF n` would accept it, so this runs before the first
    /// POLL: REJECT, which the device answers OK only with a note in escrow (F5 in GA973,
    /// FAIL in GA138, otherwise). The return is reported by the next poll as
    /// [`AcceptorEvent::Returned`], valued only if this driver saw the note's `EF n` before
    /// it reconnected (the device does not repeat it).
    async fn return_note_left_in_escrow(&mut self, known_fen: Option<u64>) -> Result<(), Error> {
        let reply = self.command(Command::Reject).await?;
        match reply.status {
            Status::Ok => {
                tracing::warn!("note found in escrow at connect: handed back to the customer");
                let event = self.session.returned_at_connect(known_fen);
                self.queued.push(event);
            }
            Status::KeyNotSet => {
                return Err(Error::Encryption("the device requires eSSP keys"));
            }
            _ => {}
        }
        Ok(())
    }

    /// After the device reported a reset (F1): its protocol level, inhibits and enable
    /// state are gone. (Lost eSSP keys show as FA and are renegotiated in
    /// [`Ssp::command`].) Harmless for the F1 every device reports after power-up.
    async fn restore(&mut self) -> Result<(), Error> {
        let _ = self
            .command(Command::HostProtocolVersion(self.protocol_version))
            .await?;
        if let Some(values) = self.accepting.clone() {
            self.enable(&values).await?;
        }
        Ok(())
    }
}

impl<T: devio::Transport> BillAcceptor for Ssp<T> {
    /// GA973 §8.3 order: SYNC, negotiate encryption, set the protocol version, SETUP
    /// REQUEST, serial number, inhibits. A device in encrypted mode answers FA to
    /// everything but SYNC and the key exchange from power-up until keys are set, so the
    /// keys come before HOST PROTOCOL VERSION.
    async fn connect(&mut self) -> Result<DeviceInfo, Error> {
        self.link.clear_key();
        // What the host knew of escrow is stale; events already queued (a credit read by
        // `stack`) are kept for the next poll.
        let known_in_escrow = self.session.escrow_fen();
        self.session = Session::default();
        self.sync().await?;
        let encrypted = if self.config.encryption {
            self.negotiate_keys().await?
        } else {
            false
        };
        let mut version = self.config.protocol_version;
        loop {
            let reply = self.command(Command::HostProtocolVersion(version)).await?;
            match reply.status {
                Status::Ok => break,
                Status::KeyNotSet => {
                    return Err(Error::Encryption("the device requires eSSP keys"));
                }
                _ if version <= 4 => {
                    return Err(Error::Refused {
                        command: "HOST PROTOCOL VERSION",
                        reason: reply.status.text(),
                    });
                }
                _ => version -= 1,
            }
        }
        self.protocol_version = version;
        self.return_note_left_in_escrow(known_in_escrow).await?;
        let setup = self.expect_ok(Command::SetupRequest).await?;
        let setup = ValidatorSetup::parse(&setup)
            .map_err(|e| Error::Protocol(format!("SETUP REQUEST: {e}")))?;
        self.protocol_version = setup.protocol_version.min(version).max(1);
        let mut denominations: Vec<Denomination> = setup
            .channels()
            .into_iter()
            .map(|c| Denomination {
                channel: c.channel,
                fen: c.minor_units,
            })
            .collect();
        denominations.sort_by_key(|d| (d.fen, d.channel));
        self.session.set_channels(
            denominations.clone(),
            u64::from(setup.real_value_multiplier.max(1)),
        );
        let firmware = match self.command(Command::FirmwareVersion).await {
            Ok(r) if r.status == Status::Ok && !r.data.is_empty() => {
                String::from_utf8_lossy(&r.data)
                    .trim_end_matches('\0')
                    .trim()
                    .to_string()
            }
            _ => setup.firmware.clone(),
        };
        let serial = self.expect_ok(Command::SerialNumber).await?;
        let serial: [u8; 4] = serial
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| Error::Protocol("serial number reply too short".into()))?;
        self.expect_ok(Command::SetInhibits { mask: 0 }).await?;
        let info = DeviceInfo {
            protocol: Protocol::Ssp,
            serial: u32::from_be_bytes(serial).to_string(),
            firmware,
            currency: setup.country.clone(),
            denominations,
            encrypted,
        };
        self.info = Some(info.clone());
        Ok(info)
    }

    async fn enable(&mut self, accept_fen: &[u64]) -> Result<(), Error> {
        let mask = self.session.inhibit_mask(accept_fen);
        for fen in accept_fen {
            if !self.session.channels().iter().any(|d| d.fen == *fen) {
                tracing::warn!(fen, "the acceptor has no channel for this value");
            }
        }
        self.expect_ok(Command::SetInhibits { mask }).await?;
        self.expect_ok(Command::Enable).await?;
        self.accepting = Some(accept_fen.to_vec());
        self.session.set_enabled(true);
        Ok(())
    }

    async fn disable(&mut self) -> Result<(), Error> {
        self.expect_ok(Command::Disable).await?;
        self.accepting = None;
        self.session.set_enabled(false);
        Ok(())
    }

    async fn poll(&mut self) -> Result<Vec<AcceptorEvent>, Error> {
        let mut out = std::mem::take(&mut self.queued);
        if self.session.next_poll() == Command::Hold {
            let reply = self.command(Command::Hold).await?;
            if reply.status == Status::Ok {
                return Ok(out);
            }
            // The device no longer holds the note: it went back by escrow timeout.
            self.session.hold_failed();
        }
        out.extend(self.poll_once().await?);
        if self.session.take_device_reset()
            && let Err(e) = self.restore().await
        {
            tracing::warn!(error = %e, "could not restore the acceptor after its reset");
        }
        Ok(out)
    }

    async fn stack(&mut self) -> Result<(), Error> {
        if !self.session.stack_requested() {
            return Err(Error::Refused {
                command: "stack",
                reason: "no note in escrow",
            });
        }
        let events = self.poll_once().await?;
        self.queued.extend(events);
        Ok(())
    }

    async fn return_note(&mut self) -> Result<(), Error> {
        if !self.session.can_return() {
            return Err(Error::Refused {
                command: "return",
                reason: "no note in escrow",
            });
        }
        let reply = self.command(Command::Reject).await?;
        match reply.status {
            Status::Ok => {
                self.session.returned();
                Ok(())
            }
            other => {
                // Not in escrow any more (timed out): the next poll tells what happened.
                self.session.hold_failed();
                Err(Error::Refused {
                    command: "REJECT",
                    reason: other.text(),
                })
            }
        }
    }

    fn state(&self) -> AcceptorState {
        self.session.state()
    }
}
