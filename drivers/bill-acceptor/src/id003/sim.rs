//! An iVIZION-like ID-003 acceptor for tests and `telekiosk sim bill --protocol id003`.
//!
//! [`Acceptor`] is the device model (pure: frames and `now` in, reply bytes out);
//! [`run`] plays it on the master end of a pseudo-terminal and feeds it the
//! [`Action`]s of the script.
//!
//! Behaviour: after power-up it reports `40` until RESET, then initialises (`1B`) and
//! stays inhibited (`1A`) until the host clears the inhibit (`C3 00`). Notes are valued
//! by the currency-assign table built from `config.denominations_fen` (escrow codes
//! `61`, `62`, … in channel order, country code `0x9C` for CNY). An escrowed note waits for
//! STACK-1/2, RETURN or HOLD; without any for `config.escrow_timeout` (counted again from
//! each HOLD) it is returned. VEND VALID (`15`) is repeated until the host ACKs it. Each
//! transient status (accepting, stacking, rejecting …) lasts at least 100 ms and is
//! reported at least once, so a polling host sees it. ID-003 has no serial-number request:
//! the boot-version request (`89`) answers `config.serial`, the version request (`88`)
//! `config.firmware`.
//!
//! Actions: a note of an unknown value, or an unknown note, is rejected with `76`
//! (denomination not recognised), a note whose escrow code the host disabled with `C0`
//! with `79` (inhibit); while the whole acceptor is inhibited, not ready, full or open,
//! inserted notes wait at the slot. Jam: `safe` = stacker jam `46`, unsafe = acceptor
//! jam `45`, until `clear-jam`. Stacker full `43` until `empty-stacker`; cashbox removed =
//! stacker open `44` until `replace-cashbox`. Power cut while stacking → power-up with bill
//! in stacker `42` (the note goes into the cashbox on RESET); power cut in escrow →
//! power-up with bill in acceptor `41` (returned on RESET); either way the acceptor is
//! silent for [`POWER_OFF`] first. Fraud → cheated `48`.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::frame::{Decoder, Frame};
use super::host::Config;
use super::message::{Command, CurrencyEntry, CurrencyTable, Status, code, is_disabled};
use crate::sim::{Action, SimConfig};

/// Shortest time a transient status is shown.
const STEP: Duration = Duration::from_millis(100);

/// How long a simulated power cut keeps the acceptor silent.
pub const POWER_OFF: Duration = Duration::from_secs(1);

/// Reject reason for a note the acceptor does not know.
pub const REJECT_UNKNOWN: u8 = 0x76;
/// Reject reason for a note refused by the host's denomination settings.
pub const REJECT_INHIBITED: u8 = 0x79;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterRead {
    Escrow(u8),
    Reject(u8),
    Jam { safe: bool },
    Cheat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    PowerUp(Status),
    Initializing,
    Ready,
    Accepting(AfterRead),
    Escrow { code: u8, since: Instant },
    Holding { code: u8, since: Instant },
    Stacking,
    VendValid,
    Stacked,
    Rejecting(u8),
    Returning,
    Jammed { safe: bool },
    Cheated,
}

/// The simulated acceptor.
#[derive(Debug)]
pub struct Acceptor {
    table: CurrencyTable,
    version: String,
    boot_version: String,
    escrow_timeout: Duration,
    capacity: u32,
    in_cashbox: u32,
    inhibit: bool,
    denominations: [u8; 2],
    security: [u8; 2],
    comm_mode: u8,
    direction: u8,
    optional: [u8; 2],
    phase: Phase,
    since: Instant,
    reported: bool,
    queue: VecDeque<Action>,
    wait_until: Option<Instant>,
    full: bool,
    box_out: bool,
    cut_while_stacking: bool,
    cut_in_escrow: bool,
    off_until: Option<Instant>,
    /// Value of the note between STACK and the cashbox.
    stacking_fen: u64,
    /// Tally of what went into the cashbox (see [`crate::sim::Cashbox`]).
    cashbox: crate::sim::Cashbox,
}

impl Acceptor {
    /// A freshly powered-up acceptor.
    pub fn new(config: &SimConfig, now: Instant) -> Self {
        let country = Config::default().country_of(&config.currency).unwrap_or(0);
        let entries = config
            .denominations_fen
            .iter()
            .zip(0x61u8..=0x70)
            .filter_map(|(fen, code)| {
                let e = CurrencyEntry::for_fen(code, country, *fen);
                if e.is_none() {
                    tracing::warn!(fen, "ID-003 sim: value cannot be expressed in the table");
                }
                e
            })
            .collect();
        Self {
            table: CurrencyTable { entries },
            version: config.firmware.clone(),
            boot_version: config.serial.clone(),
            escrow_timeout: config.escrow_timeout,
            capacity: config.stacker_capacity,
            in_cashbox: 0,
            inhibit: true,
            denominations: [0, 0],
            security: [0, 0],
            comm_mode: 0,
            direction: 0,
            optional: [0, 0],
            phase: Phase::PowerUp(Status::PowerUp),
            since: now,
            reported: false,
            queue: VecDeque::new(),
            wait_until: None,
            full: false,
            box_out: false,
            cut_while_stacking: false,
            cut_in_escrow: false,
            off_until: None,
            stacking_fen: 0,
            cashbox: config.cashbox.clone(),
        }
    }

    /// Notes stacked into the cashbox so far.
    pub fn in_cashbox(&self) -> u32 {
        self.in_cashbox
    }

    /// The status the acceptor would report now.
    pub fn status(&self) -> Status {
        match self.phase {
            Phase::PowerUp(s) => s,
            Phase::Initializing => Status::Initializing,
            Phase::Ready if self.box_out => Status::StackerOpen,
            Phase::Ready if self.full => Status::StackerFull,
            Phase::Ready if self.inhibit => Status::Disabled,
            Phase::Ready => Status::Idling,
            Phase::Accepting(_) => Status::Accepting,
            Phase::Escrow { code, .. } => Status::Escrow(code),
            Phase::Holding { .. } => Status::Holding,
            Phase::Stacking => Status::Stacking,
            Phase::VendValid => Status::VendValid,
            Phase::Stacked => Status::Stacked,
            Phase::Rejecting(r) => Status::Rejecting(r),
            Phase::Returning => Status::Returning,
            Phase::Jammed { safe: true } => Status::StackerJam,
            Phase::Jammed { safe: false } => Status::AcceptorJam,
            Phase::Cheated => Status::Cheated,
        }
    }

    fn go(&mut self, phase: Phase, now: Instant) {
        if phase != self.phase {
            tracing::debug!(from = ?self.phase, to = ?phase, "ID-003 sim");
        }
        self.phase = phase;
        self.since = now;
        self.reported = false;
    }

    fn shown(&self, now: Instant) -> bool {
        self.reported && now.saturating_duration_since(self.since) >= STEP
    }

    /// Queues a script action.
    pub fn push_action(&mut self, action: Action) {
        self.queue.push_back(action);
    }

    /// Advances time: transient statuses end, escrow times out, script actions run.
    pub fn tick(&mut self, now: Instant) {
        match self.phase {
            Phase::Initializing if self.shown(now) => self.go(Phase::Ready, now),
            Phase::Accepting(next) if self.shown(now) => match next {
                AfterRead::Escrow(_) if self.cut_in_escrow => {
                    self.cut_in_escrow = false;
                    tracing::info!("ID-003 sim: power cut in escrow");
                    self.power_cut(Status::PowerUpBillInAcceptor, now);
                }
                AfterRead::Escrow(code) => self.go(Phase::Escrow { code, since: now }, now),
                AfterRead::Reject(r) => self.go(Phase::Rejecting(r), now),
                AfterRead::Jam { safe } => self.go(Phase::Jammed { safe }, now),
                AfterRead::Cheat => self.go(Phase::Cheated, now),
            },
            Phase::Escrow { since, .. } | Phase::Holding { since, .. }
                if now.saturating_duration_since(since) >= self.escrow_timeout =>
            {
                tracing::info!("ID-003 sim: escrow timeout, returning the note");
                self.go(Phase::Returning, now);
            }
            Phase::Stacking if self.shown(now) => {
                if self.cut_while_stacking {
                    self.cut_while_stacking = false;
                    tracing::info!("ID-003 sim: power cut while stacking");
                    self.power_cut(Status::PowerUpBillInStacker, now);
                } else {
                    self.go(Phase::VendValid, now);
                }
            }
            Phase::Stacked if self.shown(now) => {
                self.note_into_cashbox();
                self.go(Phase::Ready, now);
            }
            Phase::Rejecting(_) | Phase::Returning | Phase::Cheated if self.shown(now) => {
                self.go(Phase::Ready, now);
            }
            _ => {}
        }
        self.run_script(now);
    }

    /// The power goes off: the acceptor is silent for [`POWER_OFF`], then powers up
    /// reporting `status`.
    fn power_cut(&mut self, status: Status, now: Instant) {
        self.off_until = Some(now + POWER_OFF);
        self.go(Phase::PowerUp(status), now);
    }

    fn takes_notes(&self) -> bool {
        self.phase == Phase::Ready && self.status() == Status::Idling
    }

    fn note_into_cashbox(&mut self) {
        self.cashbox.add(std::mem::take(&mut self.stacking_fen));
        self.in_cashbox = self.in_cashbox.saturating_add(1);
        if self.in_cashbox >= self.capacity {
            self.full = true;
        }
    }

    fn run_script(&mut self, now: Instant) {
        loop {
            if let Some(until) = self.wait_until {
                if now < until {
                    return;
                }
                self.wait_until = None;
            }
            // The first action that can happen now: a note waits at the slot until the
            // acceptor takes notes, but device conditions behind it (empty the stacker,
            // replace the cashbox, …) still happen; a `wait` holds everything after it.
            let mut pick = None;
            for (i, action) in self.queue.iter().enumerate() {
                let is_note = matches!(
                    action,
                    Action::Insert { .. }
                        | Action::InsertUnknown
                        | Action::Jam { .. }
                        | Action::Fraud { .. }
                );
                match action {
                    Action::Wait(_) if i > 0 => break,
                    _ if is_note && i == 0 && self.takes_notes() => {
                        pick = Some(i);
                        break;
                    }
                    _ if is_note => {}
                    _ => {
                        pick = Some(i);
                        break;
                    }
                }
            }
            let Some(action) = pick.and_then(|i| self.queue.remove(i)) else {
                return;
            };
            tracing::info!(?action, "ID-003 sim");
            match action {
                Action::Insert { fen } => {
                    let next = match self
                        .table
                        .entries
                        .iter()
                        .find(|e| e.fen() == Some(fen))
                        .map(|e| e.escrow_code)
                    {
                        None => AfterRead::Reject(REJECT_UNKNOWN),
                        Some(code) if is_disabled(self.denominations, code) => {
                            AfterRead::Reject(REJECT_INHIBITED)
                        }
                        Some(code) => AfterRead::Escrow(code),
                    };
                    self.go(Phase::Accepting(next), now);
                }
                Action::InsertUnknown => {
                    self.go(Phase::Accepting(AfterRead::Reject(REJECT_UNKNOWN)), now);
                }
                Action::Jam { safe, .. } => self.go(Phase::Accepting(AfterRead::Jam { safe }), now),
                Action::Fraud { .. } => self.go(Phase::Accepting(AfterRead::Cheat), now),
                Action::ClearJam => {
                    if matches!(self.phase, Phase::Jammed { .. }) {
                        self.go(Phase::Initializing, now);
                    }
                }
                Action::StackerFull => self.full = true,
                Action::EmptyStacker => {
                    self.full = false;
                    self.in_cashbox = 0;
                }
                Action::RemoveCashbox => self.box_out = true,
                Action::ReplaceCashbox => self.box_out = false,
                Action::PowerCutWhileStacking => self.cut_while_stacking = true,
                Action::PowerCutInEscrow => {
                    if matches!(self.phase, Phase::Escrow { .. } | Phase::Holding { .. }) {
                        tracing::info!("ID-003 sim: power cut in escrow");
                        self.power_cut(Status::PowerUpBillInAcceptor, now);
                    } else {
                        self.cut_in_escrow = true;
                    }
                }
                Action::Wait(d) => self.wait_until = Some(now + d),
            }
        }
    }

    /// Handles one frame from the host; returns the reply bytes (none for the host's ACK).
    pub fn on_frame(&mut self, frame: &Frame, now: Instant) -> Option<Vec<u8>> {
        if self.off_until.is_some_and(|until| now < until) {
            tracing::debug!(?frame, "ID-003 sim: power is off");
            return None;
        }
        let Some(cmd) = Command::parse(frame) else {
            tracing::debug!(?frame, "ID-003 sim: invalid command");
            return Some(
                Status::InvalidCommand
                    .to_frame()
                    .encode()
                    .unwrap_or_default(),
            );
        };
        let ack = || Some(Command::Ack.encode());
        let invalid = || {
            Some(
                Status::InvalidCommand
                    .to_frame()
                    .encode()
                    .unwrap_or_default(),
            )
        };
        let echo = |f: &Frame| f.encode().ok();
        let escrowed = match self.phase {
            Phase::Escrow { code, .. } | Phase::Holding { code, .. } => Some(code),
            _ => None,
        };
        match cmd {
            Command::StatusRequest => {
                let status = self.status();
                self.reported = true;
                status.to_frame().encode().ok()
            }
            Command::Reset => {
                if matches!(
                    self.phase,
                    Phase::PowerUp(Status::PowerUpBillInStacker)
                        | Phase::Stacking
                        | Phase::VendValid
                        | Phase::Stacked
                ) {
                    // A note past escrow finishes its way into the cashbox.
                    self.note_into_cashbox();
                }
                self.inhibit = true;
                self.denominations = [0, 0];
                self.go(Phase::Initializing, now);
                ack()
            }
            Command::Stack1 | Command::Stack2 => match escrowed {
                Some(code) => {
                    self.stacking_fen = self.table.fen(code).unwrap_or(0);
                    self.go(Phase::Stacking, now);
                    ack()
                }
                None => invalid(),
            },
            Command::Return => match escrowed {
                Some(_) => {
                    self.go(Phase::Returning, now);
                    ack()
                }
                None => invalid(),
            },
            Command::Hold => match escrowed {
                Some(code) => {
                    self.go(Phase::Holding { code, since: now }, now);
                    ack()
                }
                None => invalid(),
            },
            Command::Wait => ack(),
            Command::Ack => {
                if self.phase == Phase::VendValid {
                    self.go(Phase::Stacked, now);
                }
                None
            }
            Command::SetDenominations(d) => {
                self.denominations = d;
                echo(frame)
            }
            Command::SetSecurity(d) => {
                self.security = d;
                echo(frame)
            }
            Command::SetCommMode(d) => {
                self.comm_mode = d;
                echo(frame)
            }
            Command::SetInhibit(on) => {
                self.inhibit = on;
                echo(frame)
            }
            Command::SetDirection(d) => {
                self.direction = d;
                echo(frame)
            }
            Command::SetOptionalFunction(d) => {
                self.optional = d;
                echo(frame)
            }
            Command::GetDenominations => Frame::new(code::GET_DENOMINATIONS, self.denominations)
                .encode()
                .ok(),
            Command::GetSecurity => Frame::new(code::GET_SECURITY, self.security).encode().ok(),
            Command::GetCommMode => Frame::new(code::GET_COMM_MODE, [self.comm_mode])
                .encode()
                .ok(),
            Command::GetInhibit => Frame::new(code::GET_INHIBIT, [u8::from(self.inhibit)])
                .encode()
                .ok(),
            Command::GetDirection => Frame::new(code::GET_DIRECTION, [self.direction])
                .encode()
                .ok(),
            Command::GetOptionalFunction => Frame::new(code::GET_OPTIONAL_FUNCTION, self.optional)
                .encode()
                .ok(),
            Command::VersionRequest => text_frame(code::VERSION, &self.version),
            Command::BootVersionRequest => text_frame(code::BOOT_VERSION, &self.boot_version),
            Command::CurrencyAssignRequest => {
                Frame::new(code::CURRENCY_ASSIGN, self.table.encode())
                    .encode()
                    .ok()
            }
        }
    }
}

fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

fn text_frame(code: u8, text: &str) -> Option<Vec<u8>> {
    let bytes: Vec<u8> = text.bytes().take(super::frame::MAX_DATA).collect();
    Frame::new(code, bytes).encode().ok()
}

/// Plays the acceptor on `device` (the master end of a pseudo-terminal opened at
/// 9600 8E1) until the line closes. Actions come from `actions`; the simulator keeps
/// running when that channel closes.
pub async fn run(
    device: devio::SerialStream,
    config: SimConfig,
    mut actions: mpsc::Receiver<Action>,
) -> io::Result<()> {
    let mut acceptor = Acceptor::new(&config, Instant::now());
    let (mut rx, mut tx) = tokio::io::split(device);
    let mut decoder = Decoder::new();
    let mut buf = [0u8; 256];
    let mut actions_open = true;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            read = rx.read(&mut buf) => {
                let n = match read {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if transient(&e) => continue,
                    // EIO on a pty master: every slave closed, the line is gone.
                    Err(e) if e.raw_os_error() == Some(5) => return Ok(()),
                    Err(e) => return Err(e),
                };
                decoder.push(buf.get(..n).unwrap_or_default());
                let now = Instant::now();
                acceptor.tick(now);
                while let Some(frame) = decoder.next_frame() {
                    if let Some(reply) = acceptor.on_frame(&frame, now) {
                        tx.write_all(&reply).await?;
                        tx.flush().await?;
                    }
                }
            }
            action = actions.recv(), if actions_open => match action {
                Some(a) => {
                    acceptor.push_action(a);
                    acceptor.tick(Instant::now());
                }
                None => actions_open = false,
            },
            _ = tick.tick() => acceptor.tick(Instant::now()),
        }
    }
}
