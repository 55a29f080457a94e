//! The host side of ID-003 as a pure state machine: commands and received bytes in,
//! bytes to send, [`AcceptorEvent`]s and the next deadline out. No I/O, no clock: every
//! call takes `now`.
//!
//! The transport starts one [`Op`] at a time with [`Host::begin`], then loops: send what
//! [`Host::poll_transmit`] gives, feed received bytes to [`Host::handle_bytes`], call
//! [`Host::handle_timeout`] when [`Host::poll_timeout`] passes, until [`Host::poll_done`]
//! gives the result. Events collect until [`Host::poll_event`] / [`Host::take_events`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::frame::Decoder;
use super::message::{
    Command, CurrencyTable, Status, code, currency_from_version, denomination_mask, failure_text,
    reject_reason,
};
use crate::{AcceptorEvent, AcceptorState, DeviceInfo, Error, Protocol};

/// Timing and site settings of the host. The defaults are choices, not manual values;
/// see the module documentation of [`crate::id003`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// How long to wait for the acceptor's answer to one command. Default 500 ms.
    pub reply_timeout: Duration,
    /// How many times a command is sent before the acceptor counts as silent
    /// ([`Error::NoAnswer`]). Default 3.
    pub tries: u32,
    /// How long the driver keeps an undecided escrowed note with HOLD while the
    /// application decides. After that it stops sending HOLD and the acceptor's own
    /// escrow timeout returns the note. Default 30 s; zero never holds.
    pub escrow_hold: Duration,
    /// The acceptor's currency-assign country codes and their ISO 4217 codes \[U\].
    /// Default: `0x9C` (156, the ISO 4217 number of CNY) → "CNY".
    pub country_codes: Vec<(u8, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            reply_timeout: Duration::from_millis(500),
            tries: 3,
            escrow_hold: Duration::from_secs(30),
            country_codes: vec![(0x9C, "CNY".into())],
        }
    }
}

impl Config {
    /// ISO 4217 code for a country code; unknown codes give `JCM-xx`.
    pub fn currency_of(&self, country: u8) -> String {
        self.iso_of(country)
            .unwrap_or_else(|| format!("JCM-{country:02X}"))
    }

    /// ISO 4217 code for a country code, if the table has it.
    pub fn iso_of(&self, country: u8) -> Option<String> {
        self.country_codes
            .iter()
            .find(|(c, _)| *c == country)
            .map(|(_, iso)| iso.clone())
    }

    /// Country code for an ISO 4217 code (used by the simulator).
    pub fn country_of(&self, iso: &str) -> Option<u8> {
        self.country_codes
            .iter()
            .find(|(_, i)| i == iso)
            .map(|(c, _)| *c)
    }
}

/// One thing the application asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Status, reset, version, boot version, currency table, inhibit.
    Connect,
    /// One status request and whatever it calls for (ACK of VEND VALID, HOLD of an
    /// undecided note, RESET after a power-up).
    Poll,
    /// Accept these note values (fen), refuse the others.
    Enable(Vec<u64>),
    /// Inhibit acceptance.
    Disable,
    /// Stack the escrowed note (STACK-1).
    Stack,
    /// Return the escrowed note.
    Return,
}

/// What a finished [`Op`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Connected(DeviceInfo),
    Ok,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Send(Command),
    /// C0 + C3 for the wanted acceptance, computed when it is sent (needs the table).
    ApplyAcceptance,
}

#[derive(Debug)]
struct Inflight {
    cmd: Command,
    bytes: Vec<u8>,
    deadline: Instant,
    tries: u32,
}

/// The note the acceptor is handling, from escrow to cashbox or back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Note {
    fen: Option<u64>,
    credited: bool,
    /// Past escrow, on its way to the cashbox (stack accepted or stacking seen).
    stacking: bool,
}

/// The ID-003 host state machine.
#[derive(Debug)]
pub struct Host {
    config: Config,
    decoder: Decoder,
    op: Option<Op>,
    steps: VecDeque<Step>,
    inflight: Option<Inflight>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<AcceptorEvent>,
    done: Option<Result<Done, Error>>,
    version: Option<String>,
    boot_version: Option<String>,
    table: CurrencyTable,
    last: Option<Status>,
    state: AcceptorState,
    note: Option<Note>,
    escrow_since: Option<Instant>,
    /// Values to accept; `None` = inhibited.
    wanted: Option<Vec<u64>>,
    /// A note found in escrow at connect and told to RETURN, until connect finishes and
    /// reports it: the escrow code if the status carried one (`13`), and the value if this
    /// host already knew the note (a reconnect after a lost line).
    returned_at_connect: Option<ConnectReturn>,
}

/// See [`Host::returned_at_connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConnectReturn {
    escrow_code: Option<u8>,
    known_fen: Option<u64>,
    acked: bool,
}

impl Host {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            decoder: Decoder::new(),
            op: None,
            steps: VecDeque::new(),
            inflight: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            done: None,
            version: None,
            boot_version: None,
            table: CurrencyTable::default(),
            last: None,
            state: AcceptorState::Initialising,
            note: None,
            escrow_since: None,
            wanted: None,
            returned_at_connect: None,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Coarse state from the last status.
    pub fn state(&self) -> AcceptorState {
        self.state
    }

    /// The last status the acceptor reported.
    pub fn last_status(&self) -> Option<Status> {
        self.last
    }

    /// The currency-assign table read at connect.
    pub fn currency_table(&self) -> &CurrencyTable {
        &self.table
    }

    /// Whether an operation is running.
    pub fn busy(&self) -> bool {
        self.op.is_some()
    }

    /// Starts an operation. Fails if the request cannot be made now (stack or return
    /// without a note in escrow, enable before the currency table is known). An
    /// operation still running was abandoned by its caller (its future was dropped): it is
    /// given up, and bytes still buffered from it are dropped so a late answer is not
    /// taken for the new command's.
    pub fn begin(&mut self, op: Op, now: Instant) -> Result<(), Error> {
        if let Some(old) = self.op.take() {
            tracing::warn!(?old, "ID-003: abandoning an unfinished operation");
            self.inflight = None;
            self.steps.clear();
            self.decoder.clear();
            self.transmit.clear();
        }
        self.done = None;
        self.steps.clear();
        match &op {
            Op::Connect => {
                self.version = None;
                self.boot_version = None;
                self.wanted = None;
                self.returned_at_connect = None;
                self.steps.extend([
                    Step::Send(Command::StatusRequest),
                    Step::Send(Command::Reset),
                    Step::Send(Command::VersionRequest),
                    Step::Send(Command::BootVersionRequest),
                    Step::Send(Command::CurrencyAssignRequest),
                    Step::ApplyAcceptance,
                ]);
            }
            Op::Poll => self.steps.push_back(Step::Send(Command::StatusRequest)),
            Op::Enable(fens) => {
                if self.table.denominations().is_empty() {
                    return Err(Error::Protocol(
                        "ID-003: currency table not read yet; connect first".into(),
                    ));
                }
                for fen in fens {
                    if !self.table.denominations().iter().any(|d| d.fen == *fen) {
                        tracing::warn!(fen, "ID-003: the acceptor has no such note; ignored");
                    }
                }
                self.wanted = Some(fens.clone());
                self.steps.push_back(Step::ApplyAcceptance);
            }
            Op::Disable => {
                self.wanted = None;
                self.steps.push_back(Step::ApplyAcceptance);
            }
            Op::Stack | Op::Return => {
                let command = if op == Op::Stack { "stack-1" } else { "return" };
                if !matches!(self.last, Some(Status::Escrow(_) | Status::Holding)) {
                    return Err(Error::Refused {
                        command,
                        reason: "no note in escrow",
                    });
                }
                self.escrow_since = None;
                self.steps.push_back(Step::Send(if op == Op::Stack {
                    Command::Stack1
                } else {
                    Command::Return
                }));
            }
        }
        self.op = Some(op);
        self.start_next(now);
        Ok(())
    }

    /// Bytes to write to the line.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// When [`Host::handle_timeout`] must be called if nothing arrives.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.inflight.as_ref().map(|i| i.deadline)
    }

    /// The result of the running operation, once it finished.
    pub fn poll_done(&mut self) -> Option<Result<Done, Error>> {
        self.done.take()
    }

    /// Events collected so far, oldest first.
    pub fn take_events(&mut self) -> Vec<AcceptorEvent> {
        self.events.drain(..).collect()
    }

    /// The oldest event not yet taken.
    pub fn poll_event(&mut self) -> Option<AcceptorEvent> {
        self.events.pop_front()
    }

    /// Feeds bytes received from the acceptor.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        self.decoder.push(bytes);
        while let Some(frame) = self.decoder.next_frame() {
            self.on_frame(frame, now);
        }
    }

    /// Resends or gives up when the acceptor stayed silent past the deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(inflight) = self.inflight.as_mut() else {
            return;
        };
        if now < inflight.deadline {
            return;
        }
        if inflight.tries < self.config.tries {
            inflight.tries += 1;
            inflight.deadline = now + self.config.reply_timeout;
            tracing::debug!(
                command = inflight.cmd.name(),
                try_ = inflight.tries,
                "ID-003: no answer, resending"
            );
            self.transmit.push_back(inflight.bytes.clone());
        } else {
            let tries = inflight.tries;
            self.fail(Error::NoAnswer { tries });
        }
    }

    fn fail(&mut self, error: Error) {
        self.steps.clear();
        self.inflight = None;
        self.op = None;
        self.done = Some(Err(error));
    }

    fn finish(&mut self) {
        if self.op == Some(Op::Connect)
            && let Some(r) = self.returned_at_connect.take()
            && r.acked
        {
            let fen = r
                .escrow_code
                .and_then(|c| self.table.fen(c))
                .or(r.known_fen);
            self.events.push_back(AcceptorEvent::Returned { fen });
        }
        let result = match self.op.take() {
            Some(Op::Connect) => Done::Connected(self.device_info()),
            _ => Done::Ok,
        };
        self.done = Some(Ok(result));
    }

    /// What the acceptor said about itself at connect. ID-003 has no serial-number
    /// request: `serial` holds the boot ROM version (`89`), `firmware` the version
    /// string (`88`).
    pub fn device_info(&self) -> DeviceInfo {
        DeviceInfo {
            protocol: Protocol::Id003,
            serial: self.boot_version.clone().unwrap_or_default(),
            firmware: self.version.clone().unwrap_or_default(),
            currency: self.currency(),
            denominations: self.table.denominations(),
            encrypted: false,
        }
    }

    /// The currency: the currency-assign table's country code through
    /// [`Config::country_codes`]; a code the table does not list is read from the version
    /// string (`i(CNY)-100-SS …`); `JCM-xx` only when neither says.
    fn currency(&self) -> String {
        let country = self.table.country();
        country
            .and_then(|c| self.config.iso_of(c))
            .or_else(|| self.version.as_deref().and_then(currency_from_version))
            .or_else(|| country.map(|c| self.config.currency_of(c)))
            .unwrap_or_default()
    }

    fn start_next(&mut self, now: Instant) {
        while self.inflight.is_none() {
            let Some(step) = self.steps.pop_front() else {
                if self.op.is_some() {
                    self.finish();
                }
                return;
            };
            match step {
                Step::ApplyAcceptance => {
                    let cmds = match &self.wanted {
                        Some(fens) => {
                            let refused: Vec<u8> = self
                                .table
                                .denominations()
                                .iter()
                                .filter(|d| !fens.contains(&d.fen))
                                .map(|d| d.channel)
                                .collect();
                            vec![
                                Command::SetDenominations(denomination_mask(&refused)),
                                Command::SetInhibit(false),
                            ]
                        }
                        None => vec![Command::SetInhibit(true)],
                    };
                    for c in cmds.into_iter().rev() {
                        self.steps.push_front(Step::Send(c));
                    }
                }
                Step::Send(cmd) => {
                    let bytes = cmd.encode();
                    self.transmit.push_back(bytes.clone());
                    if cmd == Command::Ack {
                        self.on_vend_valid_acked();
                    } else {
                        self.inflight = Some(Inflight {
                            cmd,
                            bytes,
                            deadline: now + self.config.reply_timeout,
                            tries: 1,
                        });
                    }
                }
            }
        }
    }

    fn on_vend_valid_acked(&mut self) {
        match self.note.as_mut() {
            Some(note) if note.credited => {}
            Some(note) => {
                note.credited = true;
                match note.fen {
                    Some(fen) => self.events.push_back(AcceptorEvent::Credit { fen }),
                    None => self
                        .events
                        .push_back(AcceptorEvent::PowerUpNoteInCashbox { fen: None }),
                }
            }
            None => {
                // VEND VALID for a note whose escrow the host never saw (the host
                // restarted mid-cycle): money of unknown value in the cashbox, to settle.
                self.note = Some(Note {
                    fen: None,
                    credited: true,
                    stacking: true,
                });
                self.events
                    .push_back(AcceptorEvent::PowerUpNoteInCashbox { fen: None });
            }
        }
    }

    fn on_frame(&mut self, frame: super::frame::Frame, now: Instant) {
        let Some(inflight) = self.inflight.as_ref() else {
            tracing::debug!(?frame, "ID-003: unsolicited frame ignored");
            return;
        };
        let cmd = inflight.cmd.clone();
        let tolerant = self.op == Some(Op::Poll);
        // The RETURN of a note found in escrow at connect may race the acceptor's own
        // escrow timeout; then the note is going back anyway and connect goes on.
        let connect_return = self.op == Some(Op::Connect) && cmd == Command::Return;
        let sent = cmd.to_frame();
        if frame.code == code::COMM_ERROR {
            // 4A: the acceptor got a corrupted frame; resend at once if tries remain.
            if let Some(inflight) = self.inflight.as_mut()
                && inflight.tries < self.config.tries
            {
                inflight.tries += 1;
                inflight.deadline = now + self.config.reply_timeout;
                self.transmit.push_back(inflight.bytes.clone());
                return;
            }
            self.fail(Error::Refused {
                command: cmd.name(),
                reason: "communication error reported by the acceptor",
            });
            return;
        }
        let outcome: Result<(), Error> = match &cmd {
            Command::StatusRequest => match Status::parse(&frame) {
                Ok(status) => {
                    self.on_status(status, now);
                    Ok(())
                }
                Err(e) => Err(Error::Protocol(e.to_string())),
            },
            Command::Reset
            | Command::Stack1
            | Command::Stack2
            | Command::Return
            | Command::Hold
            | Command::Wait => {
                if frame.code == code::ACK {
                    if matches!(cmd, Command::Stack1 | Command::Stack2)
                        && let Some(note) = self.note.as_mut()
                    {
                        note.stacking = true;
                    }
                    if cmd == Command::Return
                        && let Some(r) = self.returned_at_connect.as_mut()
                    {
                        r.acked = true;
                    }
                    Ok(())
                } else {
                    Err(self.unexpected(&cmd, &frame, now))
                }
            }
            Command::SetDenominations(_)
            | Command::SetSecurity(_)
            | Command::SetCommMode(_)
            | Command::SetInhibit(_)
            | Command::SetDirection(_)
            | Command::SetOptionalFunction(_) => {
                if frame.code == sent.code {
                    if frame.data != sent.data {
                        tracing::warn!(?frame, ?sent, "ID-003: setting echo differs");
                    }
                    Ok(())
                } else {
                    Err(self.unexpected(&cmd, &frame, now))
                }
            }
            Command::VersionRequest | Command::BootVersionRequest if frame.code == sent.code => {
                let text = String::from_utf8_lossy(&frame.data)
                    .trim_matches(|c: char| c.is_whitespace() || c == '\0')
                    .to_string();
                if cmd == Command::VersionRequest {
                    self.version = Some(text);
                } else {
                    self.boot_version = Some(text);
                }
                Ok(())
            }
            Command::CurrencyAssignRequest if frame.code == sent.code => {
                self.table = CurrencyTable::parse(&frame.data);
                Ok(())
            }
            Command::GetDenominations
            | Command::GetSecurity
            | Command::GetCommMode
            | Command::GetInhibit
            | Command::GetDirection
            | Command::GetOptionalFunction
                if frame.code == sent.code =>
            {
                Ok(())
            }
            _ => Err(self.unexpected(&cmd, &frame, now)),
        };
        self.inflight = None;
        match outcome {
            Ok(()) => {}
            Err(e) if connect_return => {
                tracing::info!(error = %e, "ID-003: RETURN at connect refused; the note left escrow");
            }
            Err(e) if tolerant => {
                tracing::info!(command = cmd.name(), error = %e, "ID-003: follow-up refused");
                // A HOLD/RETURN that raced the acceptor's own move: the next status tells.
                self.steps
                    .retain(|s| *s == Step::Send(Command::Reset) || *s == Step::ApplyAcceptance);
            }
            Err(e) => {
                self.fail(e);
                return;
            }
        }
        self.start_next(now);
    }

    fn unexpected(&mut self, cmd: &Command, frame: &super::frame::Frame, now: Instant) -> Error {
        match Status::parse(frame) {
            Ok(Status::InvalidCommand) => Error::Refused {
                command: cmd.name(),
                reason: "invalid command",
            },
            Ok(status) => {
                // Answered with its status instead: keep what it says.
                self.on_status(status, now);
                Error::Refused {
                    command: cmd.name(),
                    reason: status.name(),
                }
            }
            Err(_) => Error::Protocol(format!(
                "ID-003: unexpected answer {frame:?} to {}",
                cmd.name()
            )),
        }
    }

    fn push_follow_up(&mut self, cmds: &[Step]) {
        if self.op != Some(Op::Poll) {
            return;
        }
        for s in cmds.iter().rev() {
            self.steps.push_front(s.clone());
        }
    }

    fn on_status(&mut self, status: Status, now: Instant) {
        use AcceptorEvent as E;
        let prev = self.last;
        if matches!(status, Status::CommunicationError | Status::InvalidCommand) {
            return;
        }
        self.last = Some(status);
        let changed = prev != Some(status);
        self.state = match status {
            Status::Idling => AcceptorState::Idle,
            Status::Accepting => AcceptorState::Accepting,
            Status::Escrow(_) | Status::Holding => AcceptorState::Escrow,
            Status::Stacking | Status::VendValid | Status::Stacked | Status::Pause => {
                AcceptorState::Stacking
            }
            Status::Rejecting(_) | Status::Returning | Status::Cheated => AcceptorState::Rejecting,
            Status::Disabled => AcceptorState::Disabled,
            Status::Initializing
            | Status::PowerUp
            | Status::PowerUpBillInAcceptor
            | Status::PowerUpBillInStacker => AcceptorState::Initialising,
            Status::StackerFull => AcceptorState::StackerFull,
            Status::StackerOpen => AcceptorState::CashboxOut,
            Status::AcceptorJam | Status::StackerJam => AcceptorState::Jammed,
            Status::Failure(_) => AcceptorState::Failure,
            Status::CommunicationError | Status::InvalidCommand => self.state,
        };
        if prev == Some(Status::StackerOpen) && status != Status::StackerOpen {
            self.events.push_back(E::CashboxReplaced);
        }
        if self.op == Some(Op::Connect)
            && matches!(status, Status::Escrow(_) | Status::Holding)
            && self.returned_at_connect.is_none()
        {
            // A note waits in escrow, left by a host that stopped before deciding: its
            // customer is gone. Hand it back before anything else happens.
            let escrow_code = match status {
                Status::Escrow(c) => Some(c),
                _ => None,
            };
            let known_fen = self.note.take().filter(|n| !n.credited).and_then(|n| n.fen);
            tracing::warn!("ID-003: note found in escrow at connect: returning it");
            self.returned_at_connect = Some(ConnectReturn {
                escrow_code,
                known_fen,
                acked: false,
            });
            self.escrow_since = None;
            self.steps.push_front(Step::Send(Command::Return));
            return;
        }
        match status {
            Status::Idling | Status::Disabled => {
                self.note_vanished();
                self.escrow_since = None;
                if changed && status == Status::Disabled {
                    self.events.push_back(E::Disabled);
                }
            }
            Status::Accepting => {
                if changed {
                    self.events.push_back(E::Reading);
                }
            }
            Status::Escrow(escrow_code) => {
                let fresh = !matches!(prev, Some(Status::Escrow(c)) if c == escrow_code)
                    && prev != Some(Status::Holding);
                if fresh || self.note.is_none() {
                    let fen = self.table.fen(escrow_code);
                    self.note = Some(Note {
                        fen,
                        credited: false,
                        stacking: false,
                    });
                    self.escrow_since = Some(now);
                    match fen {
                        Some(fen) => self.events.push_back(E::Escrow { fen }),
                        None => {
                            tracing::warn!(
                                escrow_code,
                                "ID-003: escrow code not in the currency table; returning the note"
                            );
                            self.push_follow_up(&[Step::Send(Command::Return)]);
                            return;
                        }
                    }
                }
                self.hold_if_undecided(now);
            }
            Status::Holding => self.hold_if_undecided(now),
            Status::Stacking => {
                if let Some(note) = self.note.as_mut() {
                    note.stacking = true;
                }
                if changed {
                    self.events.push_back(E::Stacking);
                }
            }
            // ACKed whatever the operation: even while connecting, a note past the point
            // of no return is money (reported for settlement if its escrow was not seen).
            Status::VendValid => self.steps.push_front(Step::Send(Command::Ack)),
            Status::Stacked => {
                if changed {
                    self.events.push_back(E::Stacked);
                }
            }
            Status::Rejecting(code) => {
                if changed {
                    self.events.push_back(E::Rejected {
                        reason: Some(reject_reason(code)),
                    });
                }
                self.note = None;
            }
            Status::Returning => {
                if let Some(note) = self.note.take() {
                    if !note.credited {
                        self.events.push_back(E::Returned { fen: note.fen });
                    }
                } else if changed {
                    self.events.push_back(E::Returned { fen: None });
                }
            }
            Status::Initializing => self.note_vanished(),
            Status::PowerUp | Status::PowerUpBillInAcceptor | Status::PowerUpBillInStacker => {
                if changed {
                    self.events.push_back(E::Reset);
                    let note = self.note.take();
                    let fen = note.filter(|n| !n.credited).and_then(|n| n.fen);
                    match status {
                        Status::PowerUpBillInAcceptor => {
                            self.events.push_back(E::PowerUpNoteReturned { fen });
                        }
                        Status::PowerUpBillInStacker => {
                            if note.is_some_and(|n| n.credited) {
                                tracing::info!(
                                    "ID-003: power-up with the already credited note in the stacker"
                                );
                            } else {
                                self.events.push_back(E::PowerUpNoteInCashbox { fen });
                            }
                        }
                        _ => {}
                    }
                }
                self.escrow_since = None;
                self.push_follow_up(&[Step::Send(Command::Reset), Step::ApplyAcceptance]);
            }
            Status::StackerFull => {
                if changed {
                    self.events.push_back(E::StackerFull);
                }
            }
            Status::StackerOpen => {
                if changed {
                    self.events.push_back(E::CashboxRemoved);
                }
            }
            Status::AcceptorJam | Status::StackerJam => {
                if changed {
                    self.events.push_back(E::Jam {
                        safe: status == Status::StackerJam,
                    });
                }
            }
            Status::Pause => {}
            Status::Cheated => {
                if changed {
                    let fen = self.note.take().and_then(|n| n.fen);
                    self.events.push_back(E::Fraud { fen });
                }
            }
            Status::Failure(code) => {
                if changed {
                    self.events.push_back(E::Failure {
                        code,
                        text: failure_text(code),
                    });
                }
            }
            Status::CommunicationError | Status::InvalidCommand => {}
        }
    }

    /// The acceptor is back to idle / disabled / initialising and the note the host was
    /// following is gone without the status that says where to.
    fn note_vanished(&mut self) {
        let Some(note) = self.note.take() else {
            return;
        };
        if note.credited {
            return;
        }
        if note.stacking {
            // Past escrow: it may well be in the cashbox. Never lose the customer's money:
            // report it for settlement.
            tracing::warn!(fen = ?note.fen, "ID-003: stacking note vanished without VEND VALID");
            self.events
                .push_back(AcceptorEvent::PowerUpNoteInCashbox { fen: note.fen });
        } else {
            // Back to the customer without us seeing RETURNING.
            self.events
                .push_back(AcceptorEvent::Returned { fen: note.fen });
        }
    }

    fn hold_if_undecided(&mut self, now: Instant) {
        let within = self
            .escrow_since
            .is_some_and(|since| now.saturating_duration_since(since) < self.config.escrow_hold);
        if within {
            self.push_follow_up(&[Step::Send(Command::Hold)]);
        }
    }
}
