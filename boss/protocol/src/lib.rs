//! Wire protocol between the kiosk and the operator's business system (BOSS, 业务支撑系统).
//!
//! - [`codec`]: framing (4-byte big-endian length + JSON envelope), pure, no I/O;
//! - [`messages`]: every request, response, push and ack of version 1;
//! - [`error`]: error codes with stable wire strings;
//! - [`types`]: value types that mask personal data in `Debug`;
//! - [`io`]: async read/write of frames over any tokio stream;
//! - [`pki`]: the development PKI and the rustls configurations of both ends.
//!
//! The full specification, written for the operator's integrators, is
//! `docs/boss-protocol.md`.
#![forbid(unsafe_code)]

pub mod codec;
pub mod error;
pub mod io;
pub mod messages;
pub mod pki;

pub mod types;

pub use codec::{Body, Envelope, Kind, MAX_FRAME_LEN, PROTOCOL_VERSION};
pub use error::{ErrorBody, ErrorCode};
pub use messages::*;
pub use types::*;
