//! Real-time status (实时状态): DLE EOT n requests and their one-byte replies. Pure.
//!
//! - n = 1 printer status: bit 3 offline.
//! - n = 2 offline cause: bit 2 cover open, bit 5 printing stopped by paper end, bit 6 error.
//! - n = 4 roll paper sensor: bits 2–3 (0x0C) paper near end, bits 5–6 (0x60) paper end.
//!
//! Every reply has the fixed pattern `0xx1xx10` (bits 1 and 4 set, bits 0 and 7 clear).

use serde::Serialize;

/// Which status DLE EOT asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// n = 1: printer status (online/offline).
    Printer = 1,
    /// n = 2: offline cause (cover, paper-end stop, error).
    OfflineCause = 2,
    /// n = 3: error cause.
    ErrorCause = 3,
    /// n = 4: roll paper sensor.
    Paper = 4,
}

impl StatusKind {
    /// The request bytes `10 04 n`.
    pub fn request(self) -> [u8; 3] {
        [0x10, 0x04, self as u8]
    }

    /// The kind for a DLE EOT parameter, if it is one of the four.
    pub fn from_n(n: u8) -> Option<Self> {
        match n {
            1 => Some(Self::Printer),
            2 => Some(Self::OfflineCause),
            3 => Some(Self::ErrorCause),
            4 => Some(Self::Paper),
            _ => None,
        }
    }
}

/// Bits that are fixed in every DLE EOT reply and their required values.
const FIXED_MASK: u8 = 0b1001_0011;
const FIXED_BITS: u8 = 0b0001_0010;

/// A status reply that does not have the DLE EOT bit pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("status reply {byte:#04x} to DLE EOT {n} does not match 0xx1xx10")]
pub struct BadStatusByte {
    /// The DLE EOT parameter the reply answered.
    pub n: u8,
    /// The byte received.
    pub byte: u8,
}

/// Checks the fixed bits of a DLE EOT reply.
pub fn check_reply(kind: StatusKind, byte: u8) -> Result<u8, BadStatusByte> {
    if byte & FIXED_MASK == FIXED_BITS {
        Ok(byte)
    } else {
        Err(BadStatusByte {
            n: kind as u8,
            byte,
        })
    }
}

/// Paper roll state (纸状态).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Paper {
    Ok,
    /// Near end (纸将尽): still prints; tell the technician.
    NearEnd,
    /// Out (缺纸): nothing prints.
    Out,
}

/// The printer's state as told by DLE EOT 1, 2 and 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PrinterStatus {
    pub online: bool,
    pub paper: Paper,
    pub cover_open: bool,
    /// Mechanical or cutter error (DLE EOT 2 bit 6).
    pub error: bool,
}

impl PrinterStatus {
    /// Decodes the three replies (to DLE EOT 1, 2 and 4).
    pub fn from_replies(printer: u8, offline_cause: u8, paper: u8) -> Result<Self, BadStatusByte> {
        let printer = check_reply(StatusKind::Printer, printer)?;
        let cause = check_reply(StatusKind::OfflineCause, offline_cause)?;
        let paper_byte = check_reply(StatusKind::Paper, paper)?;
        let paper = if paper_byte & 0x60 != 0 || cause & 0x20 != 0 {
            Paper::Out
        } else if paper_byte & 0x0C != 0 {
            Paper::NearEnd
        } else {
            Paper::Ok
        };
        Ok(Self {
            online: printer & 0x08 == 0,
            paper,
            cover_open: cause & 0x04 != 0,
            error: cause & 0x40 != 0,
        })
    }

    /// Why this printer cannot print now, or `None` when it can.
    pub fn blocker(&self) -> Option<NotPrintedReason> {
        if self.paper == Paper::Out {
            Some(NotPrintedReason::PaperOut)
        } else if self.cover_open {
            Some(NotPrintedReason::CoverOpen)
        } else if self.error {
            Some(NotPrintedReason::PrinterError)
        } else if !self.online {
            Some(NotPrintedReason::Offline)
        } else {
            None
        }
    }

    /// The replies a printer in this state sends to DLE EOT 1, 2 and 4 (used by the simulator).
    pub fn to_replies(&self) -> [u8; 3] {
        let mut p = FIXED_BITS;
        let mut c = FIXED_BITS;
        let mut r = FIXED_BITS;
        if !self.online || self.blocker().is_some() {
            p |= 0x08;
        }
        if self.cover_open {
            c |= 0x04;
        }
        if self.paper == Paper::Out {
            c |= 0x20;
            r |= 0x60;
        } else if self.paper == Paper::NearEnd {
            r |= 0x0C;
        }
        if self.error {
            c |= 0x40;
        }
        [p, c, r]
    }
}

/// Why a receipt was not (completely) printed — a domain value, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotPrintedReason {
    /// 缺纸 — paper out.
    PaperOut,
    /// 纸仓盖打开 — cover open.
    CoverOpen,
    /// Offline without a known cause.
    Offline,
    /// Mechanical, cutter or other printer error.
    PrinterError,
    /// The printer did not answer the status request.
    NoAnswer,
}

impl std::fmt::Display for NotPrintedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PaperOut => "paper out",
            Self::CoverOpen => "cover open",
            Self::Offline => "printer offline",
            Self::PrinterError => "printer error",
            Self::NoAnswer => "printer did not answer",
        })
    }
}

/// What became of a receipt sent to the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PrintOutcome {
    /// The printer reported a printable state after the job. `status.paper` may be
    /// `NearEnd`: printed, but the roll needs changing soon.
    Printed { status: PrinterStatus },
    /// Refused before sending anything.
    NotPrinted { reason: NotPrintedReason },
    /// The job was sent but the printer reported a problem afterwards (e.g. paper ran out
    /// in the middle of the receipt): treat the receipt as not printed.
    Interrupted { reason: NotPrintedReason },
}

impl PrintOutcome {
    /// Whether the customer has the receipt.
    pub fn is_printed(&self) -> bool {
        matches!(self, Self::Printed { .. })
    }

    /// Judges a finished job from the status read after it.
    pub fn after_job(status: Option<PrinterStatus>) -> Self {
        match status {
            None => Self::Interrupted {
                reason: NotPrintedReason::NoAnswer,
            },
            Some(s) => match s.blocker() {
                None => Self::Printed { status: s },
                Some(reason) => Self::Interrupted { reason },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_manual_bit_patterns() {
        let ok = PrinterStatus::from_replies(0x12, 0x12, 0x12).unwrap();
        assert_eq!(
            ok,
            PrinterStatus {
                online: true,
                paper: Paper::Ok,
                cover_open: false,
                error: false
            }
        );
        let near = PrinterStatus::from_replies(0x12, 0x12, 0x1E).unwrap();
        assert_eq!(near.paper, Paper::NearEnd);
        assert!(near.blocker().is_none());
        let out = PrinterStatus::from_replies(0x1A, 0x32, 0x72).unwrap();
        assert_eq!(out.paper, Paper::Out);
        assert!(!out.online);
        assert_eq!(out.blocker(), Some(NotPrintedReason::PaperOut));
        let cover = PrinterStatus::from_replies(0x1A, 0x16, 0x12).unwrap();
        assert!(cover.cover_open);
        assert_eq!(cover.blocker(), Some(NotPrintedReason::CoverOpen));
        let err = PrinterStatus::from_replies(0x1A, 0x52, 0x12).unwrap();
        assert_eq!(err.blocker(), Some(NotPrintedReason::PrinterError));
    }

    #[test]
    fn rejects_bytes_without_the_fixed_pattern() {
        assert_eq!(
            PrinterStatus::from_replies(0x12, 0x13, 0x12),
            Err(BadStatusByte { n: 2, byte: 0x13 })
        );
        assert!(PrinterStatus::from_replies(0x92, 0x12, 0x12).is_err());
        assert!(PrinterStatus::from_replies(0x12, 0x12, 0x00).is_err());
    }

    #[test]
    fn request_bytes() {
        assert_eq!(StatusKind::Printer.request(), [0x10, 0x04, 0x01]);
        assert_eq!(StatusKind::OfflineCause.request(), [0x10, 0x04, 0x02]);
        assert_eq!(StatusKind::Paper.request(), [0x10, 0x04, 0x04]);
    }

    fn any_status() -> impl Strategy<Value = PrinterStatus> {
        (any::<bool>(), 0..3u8, any::<bool>(), any::<bool>()).prop_map(
            |(online, p, cover_open, error)| PrinterStatus {
                online,
                paper: [Paper::Ok, Paper::NearEnd, Paper::Out][usize::from(p)],
                cover_open,
                error,
            },
        )
    }

    proptest! {
        #[test]
        fn status_decoder_never_panics(a: u8, b: u8, c: u8) {
            let _ = PrinterStatus::from_replies(a, b, c);
        }

        #[test]
        fn replies_round_trip(s in any_status()) {
            let [a, b, c] = s.to_replies();
            let back = PrinterStatus::from_replies(a, b, c).unwrap();
            prop_assert_eq!(back.paper, s.paper);
            prop_assert_eq!(back.cover_open, s.cover_open);
            prop_assert_eq!(back.error, s.error);
            prop_assert_eq!(back.blocker(), s.blocker());
        }
    }
}
