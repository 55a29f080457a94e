//! ITL SSP / eSSP (Smiley Secure Protocol), the NV9 / NV10 / NV200 family of banknote
//! validators. Manual: GA138 (protocol) and GA973 (implementation guide).
//!
//! Layers, from the wire up:
//! - [`frame`]: `7F | SEQ/ID | LEN | DATA | CRC`, byte stuffing, a resyncing decoder;
//! - [`crypto`]: eSSP Diffie-Hellman key negotiation and the AES-128 packet layer;
//! - [`message`]: commands, generic replies, poll events, the SETUP REQUEST layout;
//! - [`link`]: the host's sequence flag / resend / dead-slave rules and the eSSP counter,
//!   as a pure state machine with time passed in;
//! - [`session`]: channel table, escrow decision (HOLD while undecided), events for the
//!   application, also pure;
//! - [`Ssp`]: the async driver over any [`devio::Transport`], implementing
//!   [`crate::BillAcceptor`];
//! - [`sim`]: an NV200-like validator simulator built from the same code.

pub mod crypto;
mod driver;
pub mod frame;
pub mod link;
pub mod message;
pub mod session;
pub mod sim;

pub use driver::{Ssp, SspConfig};
pub use link::LinkConfig;
