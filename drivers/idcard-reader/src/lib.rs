//! Second-generation resident ID card reader (二代身份证阅读器), SAM_V frame protocol
//! (GA 467 family), as spoken by CVR-100, SS628, iDR210 and most other readers.
//!
//! - [`frame`]: the pure frame codec (host commands, reader replies, status words).
//! - [`text`]: the 256-byte card text of the four card types, and its encoder.
//! - [`card`]: read-reply payload, opaque photo and fingerprint, SAM id.
//! - [`check`]: ID number check digit, expiry, age.
//! - [`mask`]: masking of names, ID numbers and phone numbers for screen, paper and logs.
//! - [`poller`]: the find → select → read cycle as a pure state machine.
//! - [`driver`]: [`IdCardReader`], the async driver generic over [`devio::Transport`].
//! - [`actor`]: the reader task and its cloneable [`actor::ReaderHandle`].
//! - [`usb`]: the USB bulk transport (`rusb`).
//! - [`sim`]: the reader simulator on a pseudo-terminal.
#![forbid(unsafe_code)]

pub mod actor;
pub mod card;
pub mod check;
pub mod driver;
pub mod frame;
/// Masking of personal data (the workspace's one masking module, re-exported).
pub use telekiosk_privacy as mask;
pub mod poller;
pub mod sim;
pub mod text;
pub mod usb;

pub use card::{Fingerprint, Photo, SamId};
pub use driver::{CardRead, IdCardReader, ReaderConfig, ReaderError, WaitOutcome};
pub use text::{CardKind, CardText, DocumentNumber, PersonName, Sex, ValidTo};
pub use time::Date;

/// Serial line settings of the reader: 115200 8N1 (the factory default).
pub const LINE_SETTINGS: devio::LineSettings = devio::LineSettings::n81(115_200);
