//! Creator CRT-591(-M) card dispenser (发卡机) with IC contact station, and SIM writing
//! (写卡) through it.
//!
//! Layers, each usable on its own:
//! - [`frame`]: the wire codec (`F2 ADDR LEN TEXT 03 BCC`, ACK/NAK/EOT), pure.
//! - [`protocol`]: the host side of the handshake as a state machine with time passed in.
//! - [`status`]: status bytes, sensors and every error code of the manual.
//! - [`apdu`]: T=0 APDU exchange with GET RESPONSE / re-issue follow-ups over any
//!   [`apdu::ApduTransport`].
//! - [`simcard`]: ICCID reading (USIM, then 2G SIM) and personalisation scripts.
//! - [`driver`]: [`CardDispenser`], the async driver over any [`devio::Transport`].
//! - [`actor`]: [`actor::DispenserHandle`], a task owning the port for the application.
//! - [`simulator`]: a CRT-591 with a stacker of blank SIMs on a pseudo-terminal.
//!
//! A typical issue of a new SIM: [`CardDispenser::initialize`] once after power-on →
//! [`CardDispenser::dispense_to_ic`] → [`CardDispenser::cold_reset`] →
//! [`simcard::read_iccid`] → [`simcard::run_script`] → [`CardDispenser::power_off`] →
//! [`CardDispenser::issue_to_gate`] → [`CardDispenser::wait_taken`] (captures the card
//! if the customer leaves it); on a failed write, [`CardDispenser::capture`].
#![forbid(unsafe_code)]

pub mod actor;
pub mod apdu;
pub mod driver;
pub mod frame;
pub mod protocol;
pub mod simcard;
pub mod simulator;
pub mod status;

pub use actor::{DispenserHandle, spawn};
pub use driver::{
    ApduCommand, Atr, CaptureReason, CardDispenser, CardEvent, CardProtocol, Config, Destination,
    Error, InitInfo, InitMode, Vcc,
};
pub use simcard::{Iccid, PersoFailure, PersoReport, PersoScript, PersoStep, SimKind};
pub use status::{CardPosition, Condition, ErrorCode, Sensors, StackerLevel, Status};
