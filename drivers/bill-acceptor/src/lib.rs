//! Banknote acceptor driver (纸币识别器).
//!
//! One interface, [`BillAcceptor`], with two protocol implementations:
//! [`ssp`] (ITL SSP / eSSP, NV9/NV10/NV200 family) and [`id003`] (JCM ID-003).
//! Each protocol module has a pure codec and device state machine (no I/O, time passed
//! in), a thin transport over any [`devio::Transport`], and a simulator that plays the
//! device's side over a pseudo-terminal at the device's real line settings.
//! [`actor::spawn`] runs either protocol as a device actor (one task owns the port; handles
//! send commands; events come out of a channel); [`sim::spawn`] starts either simulator.
//!
//! Money rule: the application credits a note **only** on [`AcceptorEvent::Credit`]
//! (SSP `EE`, ID-003 VEND VALID after ACK), and must settle
//! [`AcceptorEvent::PowerUpNoteInCashbox`] (a note that reached the cashbox while the host
//! was not listening) against the open transaction or a refund voucher.
//!
//! Connect rule: a note found waiting in escrow when [`BillAcceptor::connect`] runs (the
//! host restarted, or lost the line, before deciding) is handed back, never stacked, and
//! reported as [`AcceptorEvent::Returned`] by the next poll: SSP sends REJECT before its
//! first POLL (a POLL would accept the note), ID-003 sends RETURN.
#![forbid(unsafe_code)]

pub mod actor;
pub mod id003;
pub mod sim;
pub mod ssp;

use serde::Serialize;

/// Which wire protocol the acceptor speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// ITL Smiley Secure Protocol, with eSSP encryption.
    Ssp,
    /// JCM ID-003.
    Id003,
}

impl Protocol {
    /// Serial settings of the protocol: SSP 9600 8N2, ID-003 9600 8E1.
    pub const fn line_settings(self) -> devio::LineSettings {
        match self {
            Protocol::Ssp => devio::LineSettings::n82(9600),
            Protocol::Id003 => devio::LineSettings::e81(9600),
        }
    }
}

/// A note the acceptor can take: the device's channel number and its value.
/// Values are read from the device, never hard-coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Denomination {
    /// Channel (SSP) or escrow code (ID-003) the device reports this note on.
    pub channel: u8,
    /// Value in fen (1 yuan = 100 fen).
    pub fen: u64,
}

/// What the acceptor says about itself after synchronisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    pub protocol: Protocol,
    pub serial: String,
    pub firmware: String,
    /// ISO 4217 code, e.g. "CNY".
    pub currency: String,
    /// Ascending by value.
    pub denominations: Vec<Denomination>,
    /// Whether the link is encrypted (eSSP); always false for ID-003.
    pub encrypted: bool,
}

/// Coarse state of the acceptor as the application and the technician see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AcceptorState {
    Initialising,
    Disabled,
    Idle,
    Accepting,
    Escrow,
    Stacking,
    Rejecting,
    Jammed,
    StackerFull,
    CashboxOut,
    Failure,
}

/// Why a note was rejected, as far as the device says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectReason {
    /// Raw device code (SSP last-reject code, ID-003 reject data).
    pub code: u8,
    pub text: &'static str,
}

/// Something that happened at the acceptor. Every event is surfaced; the application
/// decides what it means for the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AcceptorEvent {
    /// The device reset (power-up or after a reset command).
    Reset,
    /// A note is being read.
    Reading,
    /// A note is held in escrow, waiting for [`BillAcceptor::stack`] or
    /// [`BillAcceptor::return_note`]. Not money yet.
    Escrow {
        fen: u64,
    },
    /// The escrowed note is being stacked.
    Stacking,
    /// The note is in the cashbox and counts as money: the only event that credits.
    Credit {
        fen: u64,
    },
    /// The stacking cycle finished.
    Stacked,
    /// The device is rejecting / has rejected a note (it goes back to the customer).
    Rejected {
        reason: Option<RejectReason>,
    },
    /// A note was handed back from escrow (by command or escrow timeout). This includes a
    /// note found waiting in escrow when the driver (re)connects: it belonged to a session
    /// the host no longer has, so the driver returns it before anything could stack it
    /// (`fen` is `None` when the device does not say the value at that point).
    Returned {
        fen: Option<u64>,
    },
    /// At power-up a note was found and pushed into the cashbox (SSP `E2`, ID-003 `42`):
    /// it is money the host never saw credited and must be settled.
    PowerUpNoteInCashbox {
        fen: Option<u64>,
    },
    /// At power-up a note was found and returned to the customer (SSP `E1`, ID-003 `41`).
    PowerUpNoteReturned {
        fen: Option<u64>,
    },
    /// Jam. `safe`: the note is not reachable from the front (never credit an unsafe jam).
    Jam {
        safe: bool,
    },
    StackerFull,
    CashboxRemoved,
    CashboxReplaced,
    /// Someone tried to cheat the device (string, tape …).
    Fraud {
        fen: Option<u64>,
    },
    Disabled,
    /// The device reports a failure it cannot recover from by itself.
    Failure {
        code: u8,
        text: &'static str,
    },
    /// The device actor connected (or reconnected) to the acceptor.
    Connected {
        info: DeviceInfo,
    },
    /// The acceptor stopped answering or its line failed; the actor keeps trying to
    /// reconnect and reports [`AcceptorEvent::Connected`] when it is back.
    DeviceLost {
        reason: String,
    },
}

/// Driver errors. Device conditions (jam, full, fraud) are [`AcceptorEvent`]s, not errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The byte stream failed.
    #[error("acceptor link: {0}")]
    Io(#[from] std::io::Error),
    /// No valid reply after all retries (SSP: 20 tries, 1 s apart).
    #[error("acceptor did not answer after {tries} tries")]
    NoAnswer { tries: u32 },
    /// The device answered a command with a failure code.
    #[error("acceptor refused {command}: {reason}")]
    Refused {
        command: &'static str,
        reason: &'static str,
    },
    /// The device sent something that is not a valid frame or reply.
    #[error("acceptor protocol error: {0}")]
    Protocol(String),
    /// eSSP key exchange failed or the device demands keys that are not set.
    #[error("eSSP encryption: {0}")]
    Encryption(&'static str),
}

/// A banknote acceptor, whatever protocol it speaks. Calls are made from one task
/// (the device actor); the host must call [`BillAcceptor::poll`] regularly
/// (every 200–1000 ms) while enabled.
pub trait BillAcceptor: Send {
    /// Synchronises with the device (sync / reset as the protocol needs, encryption key
    /// exchange) and reads its identity and denominations. A note waiting in escrow is
    /// handed back (see the crate's connect rule) and reported by the next poll.
    fn connect(&mut self) -> impl Future<Output = Result<DeviceInfo, Error>> + Send;
    /// Enables note acceptance for the given values (others are inhibited).
    fn enable(&mut self, accept_fen: &[u64]) -> impl Future<Output = Result<(), Error>> + Send;
    /// Stops accepting notes.
    fn disable(&mut self) -> impl Future<Output = Result<(), Error>> + Send;
    /// One poll cycle: returns the events since the last poll, in order. While a note is in
    /// escrow and the host has not decided, the driver keeps it held (never accepts it by
    /// polling).
    fn poll(&mut self) -> impl Future<Output = Result<Vec<AcceptorEvent>, Error>> + Send;
    /// Accepts (stacks) the note in escrow.
    fn stack(&mut self) -> impl Future<Output = Result<(), Error>> + Send;
    /// Returns the note in escrow to the customer.
    fn return_note(&mut self) -> impl Future<Output = Result<(), Error>> + Send;
    /// Current coarse state.
    fn state(&self) -> AcceptorState;
}
