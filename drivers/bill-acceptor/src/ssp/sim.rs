//! An NV200-like SSP validator simulator. It reuses the crate's frame codec, message
//! layouts and eSSP code, and plays the device's side on the master end of a
//! pseudo-terminal; [`Device`] is the pure device state machine (frames and `now` in,
//! reply bytes out), [`run`] the async shell.
//!
//! Behaviour: answers every command; repeats its last reply to a command that carries the
//! previous sequence flag; in encrypted mode answers FA (KEY NOT SET) to everything but
//! SYNC and the key exchange (4A, 4B, 4C) from power-up and after every reset until keys
//! are negotiated, as GA138 describes, then wants every other command encrypted, discards
//! packets with a wrong eSSP counter; holds a note in escrow
//! until POLL (accept), REJECT (return) or the escrow timeout without a command (return);
//! disables itself after 10 s without any command; keeps an event queue for POLL and the
//! credit-type events for POLL WITH ACK until EVENT ACK.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::sim::{Action, SimConfig};

use super::crypto::{self, EsspKey, SlaveKeyExchange};
use super::frame::{Decoder, Frame};
use super::message::{Command, CommandError, NoteRef, PollEvent, Reply, Status, ValidatorSetup};

const READ_TIME: Duration = Duration::from_millis(400);
const STACK_TIME: Duration = Duration::from_millis(600);
const REJECT_TIME: Duration = Duration::from_millis(400);
const POWER_OFF_TIME: Duration = Duration::from_millis(800);
/// No command for this long and the validator disables itself.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadKind {
    Normal,
    Jam { safe: bool },
    Fraud,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Note {
    None,
    /// `channel` None: not a note this dataset knows.
    Reading {
        channel: Option<u8>,
        until: Instant,
        kind: ReadKind,
    },
    /// `reported`: the host has seen `EF n`; only then does a POLL accept the note.
    Escrow {
        channel: u8,
        reported: bool,
    },
    Stacking {
        channel: u8,
        until: Instant,
    },
    Rejecting {
        until: Instant,
    },
    Jammed {
        safe: bool,
    },
}

/// The simulated validator, without I/O.
#[derive(Debug)]
pub struct Device {
    config: SimConfig,
    rng: StdRng,
    last_seq: Option<bool>,
    last_reply: Vec<u8>,
    dh: SlaveKeyExchange,
    key: Option<EsspKey>,
    count: u32,
    protocol_version: u8,
    enabled: bool,
    inhibits: u16,
    note: Note,
    queue: Vec<PollEvent>,
    unacked: Vec<PollEvent>,
    last_reject: u8,
    last_command: Instant,
    stacked: u32,
    stacker_full: bool,
    cashbox_present: bool,
    cut_on_stack: bool,
    cut_in_escrow: bool,
    powered_off_until: Option<Instant>,
    power_up_events: Vec<PollEvent>,
    waiting: VecDeque<Action>,
}

impl Device {
    pub fn new(config: SimConfig, now: Instant) -> Self {
        Self {
            config,
            rng: StdRng::from_os_rng(),
            last_seq: None,
            last_reply: Vec::new(),
            dh: SlaveKeyExchange::default(),
            key: None,
            count: 0,
            protocol_version: 6,
            enabled: false,
            inhibits: 0,
            note: Note::None,
            queue: vec![PollEvent::SlaveReset],
            unacked: Vec::new(),
            last_reject: 0,
            last_command: now,
            stacked: 0,
            stacker_full: false,
            cashbox_present: true,
            cut_on_stack: false,
            cut_in_escrow: false,
            powered_off_until: None,
            power_up_events: Vec::new(),
            waiting: VecDeque::new(),
        }
    }

    /// Whether the device is enabled for notes (tests and the CLI).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Value in fen of a channel (1-based), 0 for an unknown one.
    fn value_of(&self, channel: u8) -> u64 {
        usize::from(channel)
            .checked_sub(1)
            .and_then(|i| self.config.denominations_fen.get(i))
            .copied()
            .unwrap_or(0)
    }

    fn channel_of(&self, fen: u64) -> Option<u8> {
        let i = self
            .config
            .denominations_fen
            .iter()
            .position(|&f| f == fen)?;
        u8::try_from(i + 1).ok()
    }

    fn real_multiplier(&self) -> u64 {
        if self.config.denominations_fen.iter().all(|f| f % 100 == 0) {
            100
        } else {
            1
        }
    }

    fn setup(&self) -> ValidatorSetup {
        let real = self.real_multiplier();
        let values: Vec<u32> = self
            .config
            .denominations_fen
            .iter()
            .map(|f| u32::try_from(f / real).unwrap_or(0))
            .collect();
        let digits: String = self
            .config
            .firmware
            .chars()
            .filter(char::is_ascii_digit)
            .skip(1)
            .take(4)
            .collect();
        ValidatorSetup {
            unit_type: 0,
            firmware: format!("{digits:0<4}"),
            country: self.config.currency.clone(),
            value_multiplier: 1,
            channel_values: values
                .iter()
                .map(|&v| u8::try_from(v).unwrap_or(0))
                .collect(),
            security_levels: vec![2; values.len()],
            real_value_multiplier: u32::try_from(real).unwrap_or(1),
            protocol_version: self.protocol_version,
            expanded_countries: vec![self.config.currency.clone(); values.len()],
            expanded_values: values,
        }
    }

    fn serial_number(&self) -> u32 {
        let digits: String = self
            .config
            .serial
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let tail = &digits[digits.len().saturating_sub(9)..];
        tail.parse().unwrap_or(0)
    }

    fn power_cut(&mut self, now: Instant, power_up: Vec<PollEvent>) {
        tracing::info!("simulated validator: power off");
        self.powered_off_until = Some(now + POWER_OFF_TIME);
        self.power_up_events = power_up;
        self.last_seq = None;
        self.last_reply.clear();
        self.dh = SlaveKeyExchange::default();
        self.key = None;
        self.count = 0;
        self.protocol_version = 6;
        self.enabled = false;
        self.inhibits = 0;
        self.note = Note::None;
        self.queue.clear();
        self.unacked.clear();
        self.cut_on_stack = false;
        self.cut_in_escrow = false;
    }

    /// Something happens at the device (the customer, a technician, the power).
    pub fn act(&mut self, action: Action, now: Instant) {
        tracing::info!(?action, "simulated validator");
        match action {
            Action::Insert { .. }
            | Action::InsertUnknown
            | Action::Jam { .. }
            | Action::Fraud { .. } => {
                if self.can_take_note() {
                    self.start_note(action, now);
                } else {
                    tracing::info!("note waits at the bezel until the validator takes notes");
                    self.waiting.push_back(action);
                }
            }
            Action::ClearJam => {
                if matches!(self.note, Note::Jammed { .. }) {
                    self.note = Note::None;
                }
            }
            Action::StackerFull => {
                self.stacker_full = true;
                self.queue.push(PollEvent::StackerFull);
            }
            Action::EmptyStacker => {
                self.stacker_full = false;
                self.stacked = 0;
            }
            Action::RemoveCashbox => self.cashbox_present = false,
            Action::ReplaceCashbox if !self.cashbox_present => {
                self.cashbox_present = true;
                self.queue.push(PollEvent::CashboxReplaced);
            }
            Action::PowerCutWhileStacking => match self.note {
                Note::Stacking { channel, .. } => {
                    self.config.cashbox.add(self.value_of(channel));
                    self.power_cut(now, vec![PollEvent::NoteClearedIntoCashbox(channel)])
                }
                _ => self.cut_on_stack = true,
            },
            Action::PowerCutInEscrow => match self.note {
                Note::Escrow { channel, .. } => {
                    self.power_cut(now, vec![PollEvent::NoteClearedFromFront(channel)])
                }
                _ => self.cut_in_escrow = true,
            },
            // Waits are the runner's business; anything newer is ignored here.
            _ => {}
        }
    }

    fn can_take_note(&self) -> bool {
        self.powered_off_until.is_none()
            && self.enabled
            && self.cashbox_present
            && self.note == Note::None
    }

    fn start_note(&mut self, action: Action, now: Instant) {
        let until = now + READ_TIME;
        self.note = match action {
            Action::Insert { fen } => Note::Reading {
                channel: self.channel_of(fen),
                until,
                kind: ReadKind::Normal,
            },
            Action::Jam { fen, safe } => Note::Reading {
                channel: self.channel_of(fen),
                until,
                kind: ReadKind::Jam { safe },
            },
            Action::Fraud { fen } => Note::Reading {
                channel: self.channel_of(fen),
                until,
                kind: ReadKind::Fraud,
            },
            _ => Note::Reading {
                channel: None,
                until,
                kind: ReadKind::Normal,
            },
        };
    }

    fn reject(&mut self, code: u8, now: Instant) {
        self.last_reject = code;
        self.note = Note::Rejecting {
            until: now + REJECT_TIME,
        };
    }

    /// Time passes.
    pub fn tick(&mut self, now: Instant) {
        if let Some(until) = self.powered_off_until {
            if now < until {
                return;
            }
            tracing::info!("simulated validator: power on");
            self.powered_off_until = None;
            self.last_command = now;
            self.queue.push(PollEvent::SlaveReset);
            let events = std::mem::take(&mut self.power_up_events);
            self.queue.extend(events);
        }
        match self.note {
            Note::Reading {
                channel,
                until,
                kind,
            } if now >= until => match (kind, channel) {
                (ReadKind::Jam { safe }, _) => {
                    self.note = Note::Jammed { safe };
                    self.enabled = false;
                }
                (ReadKind::Fraud, ch) => {
                    self.queue.push(PollEvent::FraudAttempt(ch.unwrap_or(0)));
                    self.reject(0x0E, now);
                }
                (ReadKind::Normal, None) => self.reject(0x02, now),
                (ReadKind::Normal, Some(ch)) => {
                    if self.inhibits
                        & (1u16
                            .checked_shl(u32::from(ch).saturating_sub(1))
                            .unwrap_or(0))
                        == 0
                    {
                        self.reject(0x06, now);
                    } else if self.stacker_full {
                        self.queue.push(PollEvent::StackerFull);
                        self.reject(0x1D, now);
                    } else if self.cut_in_escrow {
                        self.power_cut(now, vec![PollEvent::NoteClearedFromFront(ch)]);
                    } else {
                        self.note = Note::Escrow {
                            channel: ch,
                            reported: false,
                        };
                        self.last_command = self.last_command.max(now);
                    }
                }
            },
            Note::Escrow { .. }
                if now.duration_since(self.last_command) >= self.config.escrow_timeout =>
            {
                tracing::info!("escrow timeout: note returned");
                self.reject(0x13, now);
            }
            Note::Stacking { channel, until } if now >= until => {
                self.config.cashbox.add(self.value_of(channel));
                if self.cut_on_stack {
                    self.power_cut(now, vec![PollEvent::NoteClearedIntoCashbox(channel)]);
                    return;
                }
                self.queue
                    .push(PollEvent::Credit(NoteRef::Channel(channel)));
                self.queue.push(PollEvent::Stacked);
                self.note = Note::None;
                self.stacked += 1;
                if self.stacked >= self.config.stacker_capacity {
                    self.stacker_full = true;
                    self.queue.push(PollEvent::StackerFull);
                }
            }
            Note::Rejecting { until } if now >= until => {
                self.queue.push(PollEvent::Rejected);
                self.note = Note::None;
            }
            _ => {}
        }
        if self.enabled && now.duration_since(self.last_command) >= COMMAND_TIMEOUT {
            tracing::info!("no command for 10 s: validator disables itself");
            self.enabled = false;
        }
        if self.can_take_note()
            && let Some(action) = self.waiting.pop_front()
        {
            self.start_note(action, now);
        }
    }

    fn status_events(&self) -> Vec<PollEvent> {
        let mut out = Vec::new();
        match self.note {
            Note::Reading { .. } => out.push(PollEvent::Read(NoteRef::Channel(0))),
            Note::Escrow { channel, .. } => out.push(PollEvent::Read(NoteRef::Channel(channel))),
            Note::Stacking { .. } => out.push(PollEvent::Stacking),
            Note::Rejecting { .. } => out.push(PollEvent::Rejecting),
            Note::Jammed { safe: true } => out.push(PollEvent::SafeJam),
            Note::Jammed { safe: false } => out.push(PollEvent::UnsafeJam),
            Note::None => {}
        }
        if !self.cashbox_present {
            out.push(PollEvent::CashboxRemoved);
        }
        if !self.enabled {
            out.push(PollEvent::Disabled);
        }
        out
    }

    fn poll(&mut self, now: Instant, with_ack: bool) -> Vec<u8> {
        match self.note {
            // A poll after the host has seen the note in escrow accepts it.
            Note::Escrow {
                channel,
                reported: true,
            } => {
                self.note = Note::Stacking {
                    channel,
                    until: now + STACK_TIME,
                };
            }
            Note::Escrow {
                channel,
                reported: false,
            } => {
                self.note = Note::Escrow {
                    channel,
                    reported: true,
                };
            }
            _ => {}
        }
        let mut events = Vec::new();
        if with_ack {
            events.extend(self.unacked.iter().copied());
        }
        let fresh = std::mem::take(&mut self.queue);
        for e in fresh {
            if with_ack
                && matches!(
                    e,
                    PollEvent::Credit(_)
                        | PollEvent::FraudAttempt(_)
                        | PollEvent::NoteClearedIntoCashbox(_)
                )
            {
                self.unacked.push(e);
            }
            events.push(e);
        }
        events.extend(self.status_events());
        let mut out = vec![Status::Ok.byte()];
        for e in events {
            e.encode_into(&mut out);
        }
        out
    }

    /// Executes one (decrypted) command; returns the reply DATA.
    fn execute(&mut self, data: &[u8], now: Instant, reset_after: &mut bool) -> Vec<u8> {
        let command = match Command::parse(data) {
            Ok(c) => c,
            Err(CommandError::Unknown(_)) => return vec![Status::UnknownCommand.byte()],
            Err(_) => return vec![Status::WrongParameterCount.byte()],
        };
        let ok = |data: Vec<u8>| Reply::ok(data).encode();
        let status = |s: Status| vec![s.byte()];
        match command {
            Command::Sync => ok(vec![]),
            Command::Reset => {
                *reset_after = true;
                ok(vec![])
            }
            Command::HostProtocolVersion(v) => {
                if (4..=8).contains(&v) {
                    self.protocol_version = v;
                    ok(vec![])
                } else {
                    status(Status::Fail)
                }
            }
            Command::SetupRequest => ok(self.setup().encode()),
            Command::SerialNumber => ok(self.serial_number().to_be_bytes().to_vec()),
            Command::FirmwareVersion => ok(self.config.firmware.as_bytes().to_vec()),
            Command::ChannelValues => {
                let s = self.setup();
                let mut d = vec![u8::try_from(s.channel_values.len()).unwrap_or(0)];
                d.extend_from_slice(&s.channel_values);
                if self.protocol_version >= 6 {
                    for c in &s.expanded_countries {
                        d.extend(c.bytes().take(3));
                    }
                    for v in &s.expanded_values {
                        d.extend_from_slice(&v.to_le_bytes());
                    }
                }
                ok(d)
            }
            Command::SetInhibits { mask } => {
                self.inhibits = mask;
                ok(vec![])
            }
            Command::Enable => {
                self.enabled = true;
                ok(vec![])
            }
            Command::Disable => {
                self.enabled = false;
                ok(vec![])
            }
            Command::Poll => self.poll(now, false),
            Command::PollWithAck => self.poll(now, true),
            Command::EventAck => {
                self.unacked.clear();
                ok(vec![])
            }
            Command::LastRejectCode => ok(vec![self.last_reject]),
            Command::Hold => match self.note {
                Note::Escrow { .. } => ok(vec![]),
                _ => status(Status::Fail),
            },
            Command::Reject => match self.note {
                Note::Escrow { .. } => {
                    self.reject(0x08, now);
                    ok(vec![])
                }
                _ => status(Status::Fail),
            },
            Command::SetGenerator(g) => {
                if crypto::is_prime(g) {
                    self.dh.generator = Some(g);
                    ok(vec![])
                } else {
                    status(Status::ParameterOutOfRange)
                }
            }
            Command::SetModulus(m) => {
                if crypto::is_prime(m) {
                    self.dh.modulus = Some(m);
                    ok(vec![])
                } else {
                    status(Status::ParameterOutOfRange)
                }
            }
            Command::RequestKeyExchange(host) => match self.dh.respond(host, &mut self.rng) {
                Some((inter, key)) => {
                    self.key = Some(EsspKey::new(self.config.fixed_key, key));
                    self.count = 0;
                    ok(inter.to_le_bytes().to_vec())
                }
                None => status(Status::Fail),
            },
        }
    }

    /// A frame from the host; returns the reply's wire bytes, or `None` when the device
    /// stays silent (other address, power off, undecryptable or out-of-sequence packet).
    pub fn handle_frame(&mut self, frame: Frame, now: Instant) -> Option<Vec<u8>> {
        if frame.address != 0 || self.powered_off_until.is_some() {
            return None;
        }
        let is_sync = frame.data == [0x11];
        if !is_sync && self.last_seq == Some(frame.seq) && !self.last_reply.is_empty() {
            tracing::debug!("repeated sequence flag: last reply sent again");
            return Some(self.last_reply.clone());
        }
        let mut reset_after = false;
        let reply = if frame.data.first() == Some(&crypto::STEX) {
            let Some(key) = self.key.clone() else {
                return self.finish(frame.seq, vec![Status::KeyNotSet.byte()], now, false);
            };
            let (count, inner) = match crypto::decrypt(&key, &frame.data) {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "simulated validator: packet not decryptable, discarded");
                    return None;
                }
            };
            if count != self.count {
                tracing::warn!(
                    count,
                    expected = self.count,
                    "simulated validator: wrong eSSP count, discarded"
                );
                return None;
            }
            self.count = self.count.wrapping_add(1);
            let plain = self.execute(&inner, now, &mut reset_after);
            let reply_count = self.count;
            self.count = self.count.wrapping_add(1);
            crypto::encrypt(&key, reply_count, &plain, &mut self.rng).ok()?
        } else {
            let allowed_in_clear = Command::parse(&frame.data)
                .map(|c| c.is_key_setup())
                .unwrap_or(false);
            if self.config.encrypted && !allowed_in_clear {
                vec![Status::KeyNotSet.byte()]
            } else {
                self.execute(&frame.data, now, &mut reset_after)
            }
        };
        self.finish(frame.seq, reply, now, reset_after)
    }

    fn finish(
        &mut self,
        seq: bool,
        reply: Vec<u8>,
        now: Instant,
        reset_after: bool,
    ) -> Option<Vec<u8>> {
        self.last_command = now;
        let wire = Frame::new(seq, 0, reply).encode().ok()?;
        self.last_seq = Some(seq);
        self.last_reply = wire.clone();
        if reset_after {
            self.power_cut(now, Vec::new());
        }
        Some(wire)
    }
}

/// Plays the validator on `device` (the master end of a pseudo-terminal) until the line
/// fails or closes. Actions come from `actions`; `Wait` delays the actions after it.
pub async fn run(
    mut device: devio::SerialStream,
    config: SimConfig,
    mut actions: mpsc::Receiver<Action>,
) -> io::Result<()> {
    let mut dev = Device::new(config, Instant::now());
    let mut decoder = Decoder::new();
    let mut buf = [0u8; 256];
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut script: VecDeque<Action> = VecDeque::new();
    let mut blocked_until: Option<Instant> = None;
    let mut actions_open = true;
    loop {
        tokio::select! {
            r = device.read(&mut buf) => {
                let n = match r {
                    Ok(0) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    Ok(n) => n,
                    // EIO: every opener of the slave side has gone.
                    Err(e) if e.raw_os_error() == Some(5) => return Ok(()),
                    Err(e) => return Err(e),
                };
                decoder.push(buf.get(..n).unwrap_or(&[]));
                while let Some(frame) = decoder.next_frame() {
                    if let Some(reply) = dev.handle_frame(frame, Instant::now()) {
                        device.write_all(&reply).await?;
                        device.flush().await?;
                    }
                }
            }
            a = actions.recv(), if actions_open => match a {
                Some(a) => script.push_back(a),
                None => actions_open = false,
            },
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        if blocked_until.is_some_and(|t| now >= t) {
            blocked_until = None;
        }
        while blocked_until.is_none() {
            match script.pop_front() {
                Some(Action::Wait(d)) => blocked_until = Some(now + d),
                Some(a) => dev.act(a, now),
                None => break,
            }
        }
        dev.tick(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Protocol;

    struct Host {
        dev: Device,
        seq: bool,
        now: Instant,
    }

    impl Host {
        fn new() -> Self {
            let mut config = SimConfig::cny(Protocol::Ssp);
            config.encrypted = false;
            Self::with(config)
        }

        fn with(config: SimConfig) -> Self {
            let now = Instant::now();
            Self {
                dev: Device::new(config, now),
                seq: true,
                now,
            }
        }

        fn send(&mut self, command: &Command) -> Vec<u8> {
            self.seq = !self.seq;
            let wire = self
                .dev
                .handle_frame(Frame::new(self.seq, 0, command.encode()), self.now)
                .expect("a reply");
            let mut d = Decoder::new();
            d.push(&wire);
            d.next_frame().expect("a frame").data
        }

        fn wait(&mut self, ms: u64) {
            for _ in 0..ms / 50 {
                self.now += Duration::from_millis(50);
                self.dev.tick(self.now);
            }
        }

        fn events(&mut self, command: &Command) -> Vec<PollEvent> {
            let reply = self.send(command);
            assert_eq!(reply.first(), Some(&0xF0));
            PollEvent::parse_all(&reply[1..], 6).0
        }
    }

    #[test]
    fn poll_with_ack_repeats_the_credit_until_acknowledged() {
        let mut h = Host::new();
        h.send(&Command::SetInhibits { mask: 0xFF });
        h.send(&Command::Enable);
        h.dev.act(Action::Insert { fen: 1000 }, h.now);
        h.wait(500);
        assert!(
            h.events(&Command::PollWithAck)
                .contains(&PollEvent::Read(NoteRef::Channel(3)))
        );
        // Nothing in escrow yet was accepted: HOLD is fine, then POLL accepts.
        assert_eq!(h.send(&Command::Hold), vec![0xF0]);
        h.events(&Command::PollWithAck);
        h.wait(700);
        let credit = PollEvent::Credit(NoteRef::Channel(3));
        assert!(h.events(&Command::PollWithAck).contains(&credit));
        assert!(
            h.events(&Command::PollWithAck).contains(&credit),
            "repeats until acked"
        );
        assert_eq!(h.send(&Command::EventAck), vec![0xF0]);
        assert!(!h.events(&Command::PollWithAck).contains(&credit));
        // No note in escrow: HOLD and REJECT fail.
        assert_eq!(h.send(&Command::Hold), vec![0xF8]);
        assert_eq!(h.send(&Command::Reject), vec![0xF8]);
    }

    #[test]
    fn encrypted_device_answers_key_not_set_to_all_but_sync_and_key_exchange() {
        let mut h = Host::with(SimConfig::cny(Protocol::Ssp));
        // From power-up, in clear: FA to every general command, HOST PROTOCOL VERSION too.
        for command in [
            Command::HostProtocolVersion(8),
            Command::SetupRequest,
            Command::SerialNumber,
            Command::Poll,
            Command::Enable,
            Command::Reject,
        ] {
            assert_eq!(h.send(&command), vec![0xFA], "{}", command.name());
        }
        assert_eq!(h.send(&Command::Sync), vec![0xF0]);
        let dh = crypto::HostKeyExchange::new(&mut StdRng::seed_from_u64(7));
        assert_eq!(h.send(&Command::SetGenerator(dh.generator)), vec![0xF0]);
        assert_eq!(h.send(&Command::SetModulus(dh.modulus)), vec![0xF0]);
        let reply = h.send(&Command::RequestKeyExchange(dh.host_intermediate()));
        assert_eq!(reply.first(), Some(&0xF0));
        // Keyed now, but general commands must come encrypted: in clear they still get FA.
        assert_eq!(h.send(&Command::HostProtocolVersion(8)), vec![0xFA]);
    }

    #[test]
    fn unknown_commands_and_bad_lengths_get_generic_replies() {
        let mut h = Host::new();
        h.seq = !h.seq;
        let reply = h
            .dev
            .handle_frame(Frame::new(h.seq, 0, vec![0x99]), h.now)
            .unwrap();
        assert_eq!(reply, Frame::new(h.seq, 0, vec![0xF2]).encode().unwrap());
        h.seq = !h.seq;
        let reply = h
            .dev
            .handle_frame(Frame::new(h.seq, 0, vec![0x07, 0x01]), h.now)
            .unwrap();
        assert_eq!(reply, Frame::new(h.seq, 0, vec![0xF3]).encode().unwrap());
        // Another slave's address: silence.
        assert_eq!(
            h.dev.handle_frame(Frame::new(true, 5, vec![0x11]), h.now),
            None
        );
        assert_eq!(h.send(&Command::HostProtocolVersion(9)), vec![0xF8]);
        assert_eq!(h.send(&Command::HostProtocolVersion(8)), vec![0xF0]);
    }
}
