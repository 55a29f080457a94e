//! ESC/POS receipt printer (小票打印机) for the kiosk: Chinese 80 mm thermal printers on a
//! serial line or the USB printer class.
//!
//! - [`receipt`]: the document model the application builds receipts from ([`Receipt`]).
//! - [`escpos`]: pure encoder (receipt → bytes, GB18030 text, QR codes, cuts).
//! - [`status`]: pure DLE EOT status decoding, [`PrinterStatus`], [`PrintOutcome`].
//! - [`decoder`]: pure ESC/POS stream decoder (the printer's side; used by the simulator).
//! - [`Printer`]: the thin async driver over any [`devio::Transport`]; [`Printer::spawn`]
//!   turns it into an actor with cloneable [`PrinterHandle`]s.
//! - [`usb`]: USB printer class transport through `rusb`.
//! - [`sim`]: the simulator, with text and PNG rendering of what it printed.
#![forbid(unsafe_code)]

pub mod decoder;
mod driver;
pub mod escpos;
pub mod receipt;
pub mod sim;
pub mod status;
pub mod usb;

pub use driver::{
    DEFAULT_LINE, Error, HandleError, Printer, PrinterConfig, PrinterHandle, open_serial,
};
pub use receipt::{Align, Block, CutKind, QrErrorLevel, Receipt, Size, WIDTH_58MM, WIDTH_80MM};
pub use status::{BadStatusByte, NotPrintedReason, Paper, PrintOutcome, PrinterStatus};
