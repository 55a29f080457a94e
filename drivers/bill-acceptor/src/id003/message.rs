//! ID-003 messages: host commands, acceptor statuses and replies, reject and failure
//! codes, and the currency-assign table.

use super::frame::Frame;
use crate::{Denomination, RejectReason};

/// Command and reply codes.
pub mod code {
    pub const STATUS_REQUEST: u8 = 0x11;
    pub const ACK: u8 = 0x50;
    pub const RESET: u8 = 0x40;
    pub const STACK_1: u8 = 0x41;
    pub const STACK_2: u8 = 0x42;
    pub const RETURN: u8 = 0x43;
    pub const HOLD: u8 = 0x44;
    pub const WAIT: u8 = 0x45;
    pub const SET_DENOMINATIONS: u8 = 0xC0;
    pub const SET_SECURITY: u8 = 0xC1;
    pub const SET_COMM_MODE: u8 = 0xC2;
    pub const SET_INHIBIT: u8 = 0xC3;
    pub const SET_DIRECTION: u8 = 0xC4;
    pub const SET_OPTIONAL_FUNCTION: u8 = 0xC5;
    pub const GET_DENOMINATIONS: u8 = 0x80;
    pub const GET_SECURITY: u8 = 0x81;
    pub const GET_COMM_MODE: u8 = 0x82;
    pub const GET_INHIBIT: u8 = 0x83;
    pub const GET_DIRECTION: u8 = 0x84;
    pub const GET_OPTIONAL_FUNCTION: u8 = 0x85;
    pub const VERSION: u8 = 0x88;
    pub const BOOT_VERSION: u8 = 0x89;
    pub const CURRENCY_ASSIGN: u8 = 0x8A;
    /// Acceptor → host: the last frame arrived corrupted.
    pub const COMM_ERROR: u8 = 0x4A;
    /// Acceptor → host: the last command is invalid now.
    pub const INVALID_COMMAND: u8 = 0x4B;
}

/// A command from the host to the acceptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `11` — ask for the current status.
    StatusRequest,
    /// `40` — reset and re-initialise (answered with ACK).
    Reset,
    /// `41` — stack the escrowed note into the cashbox (answered with ACK).
    Stack1,
    /// `42` — stack with the alternative stacking direction (answered with ACK).
    Stack2,
    /// `43` — return the escrowed note to the customer (answered with ACK).
    Return,
    /// `44` — keep the note in escrow a while longer (answered with ACK).
    Hold,
    /// `45` — wait (answered with ACK).
    Wait,
    /// `50` — the host acknowledges VEND VALID; the acceptor does not answer it.
    Ack,
    /// `C0` — per-denomination disable bits (bit set = that escrow code is refused).
    SetDenominations([u8; 2]),
    /// `C1` — security level bits.
    SetSecurity([u8; 2]),
    /// `C2` — communication mode (0 = polling).
    SetCommMode(u8),
    /// `C3` — `true` inhibits acceptance altogether (data 01), `false` allows it (00).
    SetInhibit(bool),
    /// `C4` — insertion directions refused (bit set = direction refused).
    SetDirection(u8),
    /// `C5` — optional functions.
    SetOptionalFunction([u8; 2]),
    /// `80`..`85` — read back a setting.
    GetDenominations,
    GetSecurity,
    GetCommMode,
    GetInhibit,
    GetDirection,
    GetOptionalFunction,
    /// `88` — firmware version string.
    VersionRequest,
    /// `89` — boot ROM version string.
    BootVersionRequest,
    /// `8A` — currency-assign table (escrow code → value).
    CurrencyAssignRequest,
}

impl Command {
    /// The frame for this command.
    pub fn to_frame(&self) -> Frame {
        use code::*;
        match self {
            Command::StatusRequest => Frame::new(STATUS_REQUEST, []),
            Command::Reset => Frame::new(RESET, []),
            Command::Stack1 => Frame::new(STACK_1, []),
            Command::Stack2 => Frame::new(STACK_2, []),
            Command::Return => Frame::new(RETURN, []),
            Command::Hold => Frame::new(HOLD, []),
            Command::Wait => Frame::new(WAIT, []),
            Command::Ack => Frame::new(ACK, []),
            Command::SetDenominations(d) => Frame::new(SET_DENOMINATIONS, *d),
            Command::SetSecurity(d) => Frame::new(SET_SECURITY, *d),
            Command::SetCommMode(d) => Frame::new(SET_COMM_MODE, [*d]),
            Command::SetInhibit(on) => Frame::new(SET_INHIBIT, [u8::from(*on)]),
            Command::SetDirection(d) => Frame::new(SET_DIRECTION, [*d]),
            Command::SetOptionalFunction(d) => Frame::new(SET_OPTIONAL_FUNCTION, *d),
            Command::GetDenominations => Frame::new(GET_DENOMINATIONS, []),
            Command::GetSecurity => Frame::new(GET_SECURITY, []),
            Command::GetCommMode => Frame::new(GET_COMM_MODE, []),
            Command::GetInhibit => Frame::new(GET_INHIBIT, []),
            Command::GetDirection => Frame::new(GET_DIRECTION, []),
            Command::GetOptionalFunction => Frame::new(GET_OPTIONAL_FUNCTION, []),
            Command::VersionRequest => Frame::new(VERSION, []),
            Command::BootVersionRequest => Frame::new(BOOT_VERSION, []),
            Command::CurrencyAssignRequest => Frame::new(CURRENCY_ASSIGN, []),
        }
    }

    /// Encoded bytes (commands are short: this cannot exceed the frame limit).
    pub fn encode(&self) -> Vec<u8> {
        self.to_frame().encode().unwrap_or_default()
    }

    /// Reads a host frame (used by the simulator). `None` for an unknown code or a data
    /// field of the wrong size.
    pub fn parse(frame: &Frame) -> Option<Command> {
        use code::*;
        let d = frame.data.as_slice();
        let two = || <[u8; 2]>::try_from(d).ok();
        let one = || match d {
            [b] => Some(*b),
            _ => None,
        };
        let none = |c: Command| d.is_empty().then_some(c);
        match frame.code {
            STATUS_REQUEST => none(Command::StatusRequest),
            RESET => none(Command::Reset),
            STACK_1 => none(Command::Stack1),
            STACK_2 => none(Command::Stack2),
            RETURN => none(Command::Return),
            HOLD => none(Command::Hold),
            WAIT => none(Command::Wait),
            ACK => none(Command::Ack),
            SET_DENOMINATIONS => two().map(Command::SetDenominations),
            SET_SECURITY => two().map(Command::SetSecurity),
            SET_COMM_MODE => one().map(Command::SetCommMode),
            SET_INHIBIT => match one()? {
                0 => Some(Command::SetInhibit(false)),
                1 => Some(Command::SetInhibit(true)),
                _ => None,
            },
            SET_DIRECTION => one().map(Command::SetDirection),
            SET_OPTIONAL_FUNCTION => two().map(Command::SetOptionalFunction),
            GET_DENOMINATIONS => none(Command::GetDenominations),
            GET_SECURITY => none(Command::GetSecurity),
            GET_COMM_MODE => none(Command::GetCommMode),
            GET_INHIBIT => none(Command::GetInhibit),
            GET_DIRECTION => none(Command::GetDirection),
            GET_OPTIONAL_FUNCTION => none(Command::GetOptionalFunction),
            VERSION => none(Command::VersionRequest),
            BOOT_VERSION => none(Command::BootVersionRequest),
            CURRENCY_ASSIGN => none(Command::CurrencyAssignRequest),
            _ => None,
        }
    }

    /// Short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Command::StatusRequest => "status request",
            Command::Reset => "reset",
            Command::Stack1 => "stack-1",
            Command::Stack2 => "stack-2",
            Command::Return => "return",
            Command::Hold => "hold",
            Command::Wait => "wait",
            Command::Ack => "ack",
            Command::SetDenominations(_) => "enable/disable denominations",
            Command::SetSecurity(_) => "security",
            Command::SetCommMode(_) => "communication mode",
            Command::SetInhibit(_) => "inhibit",
            Command::SetDirection(_) => "direction",
            Command::SetOptionalFunction(_) => "optional function",
            Command::GetDenominations => "denomination setting request",
            Command::GetSecurity => "security setting request",
            Command::GetCommMode => "communication mode request",
            Command::GetInhibit => "inhibit setting request",
            Command::GetDirection => "direction setting request",
            Command::GetOptionalFunction => "optional function request",
            Command::VersionRequest => "version request",
            Command::BootVersionRequest => "boot version request",
            Command::CurrencyAssignRequest => "currency assign request",
        }
    }
}

/// A status reported by the acceptor in answer to a status request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `11` — enabled, waiting for a note.
    Idling,
    /// `12` — a note is being drawn in and read.
    Accepting,
    /// `13` — a note is in escrow; the escrow code identifies the denomination.
    Escrow(u8),
    /// `14` — the note is going into the cashbox.
    Stacking,
    /// `15` — the note passed the point of no return: the host must ACK. Credit here.
    VendValid,
    /// `16` — stacking finished.
    Stacked,
    /// `17` — the note is being rejected; the data byte says why.
    Rejecting(u8),
    /// `18` — the escrowed note is being returned to the customer.
    Returning,
    /// `19` — the escrowed note is held on the host's HOLD command.
    Holding,
    /// `1A` — acceptance inhibited.
    Disabled,
    /// `1B` — initialising after a reset.
    Initializing,
    /// `40` — powered up, waiting for RESET.
    PowerUp,
    /// `41` — powered up with a note in the acceptor (returned to the front on RESET).
    PowerUpBillInAcceptor,
    /// `42` — powered up with a note in the stacker (stacked into the cashbox on RESET).
    PowerUpBillInStacker,
    /// `43` — stacker (cashbox) full.
    StackerFull,
    /// `44` — stacker (cashbox) open / removed.
    StackerOpen,
    /// `45` — note jammed in the acceptor head.
    AcceptorJam,
    /// `46` — note jammed in the stacker.
    StackerJam,
    /// `47` — paused (a second note inserted while stacking).
    Pause,
    /// `48` — a cheat attempt (string, tape) was detected.
    Cheated,
    /// `49` — a failure; the data byte is the failure code.
    Failure(u8),
    /// `4A` — the acceptor received a corrupted frame.
    CommunicationError,
    /// `4B` — the acceptor refused the last command as invalid.
    InvalidCommand,
}

/// A frame that is not a valid status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// The code is not a status code.
    #[error("unknown ID-003 status code {0:#04x}")]
    UnknownCode(u8),
    /// A status that carries a data byte came without one.
    #[error("ID-003 status {0:#04x} lacks its data byte")]
    MissingData(u8),
}

impl Status {
    /// Parses a status frame. Total: every frame gives a status or an error.
    /// Extra trailing data is ignored (some firmware appends bytes).
    pub fn parse(frame: &Frame) -> Result<Status, StatusError> {
        let c = frame.code;
        let byte = || {
            frame
                .data
                .first()
                .copied()
                .ok_or(StatusError::MissingData(c))
        };
        Ok(match c {
            0x11 => Status::Idling,
            0x12 => Status::Accepting,
            0x13 => Status::Escrow(byte()?),
            0x14 => Status::Stacking,
            0x15 => Status::VendValid,
            0x16 => Status::Stacked,
            0x17 => Status::Rejecting(byte()?),
            0x18 => Status::Returning,
            0x19 => Status::Holding,
            0x1A => Status::Disabled,
            0x1B => Status::Initializing,
            0x40 => Status::PowerUp,
            0x41 => Status::PowerUpBillInAcceptor,
            0x42 => Status::PowerUpBillInStacker,
            0x43 => Status::StackerFull,
            0x44 => Status::StackerOpen,
            0x45 => Status::AcceptorJam,
            0x46 => Status::StackerJam,
            0x47 => Status::Pause,
            0x48 => Status::Cheated,
            0x49 => Status::Failure(byte()?),
            0x4A => Status::CommunicationError,
            0x4B => Status::InvalidCommand,
            other => return Err(StatusError::UnknownCode(other)),
        })
    }

    /// Whether a code is in the status space (`11`–`1B`, `40`–`4B`).
    pub fn is_status_code(code: u8) -> bool {
        matches!(code, 0x11..=0x1B | 0x40..=0x4B)
    }

    /// The frame the acceptor sends for this status.
    pub fn to_frame(self) -> Frame {
        let (c, d): (u8, Vec<u8>) = match self {
            Status::Idling => (0x11, vec![]),
            Status::Accepting => (0x12, vec![]),
            Status::Escrow(e) => (0x13, vec![e]),
            Status::Stacking => (0x14, vec![]),
            Status::VendValid => (0x15, vec![]),
            Status::Stacked => (0x16, vec![]),
            Status::Rejecting(r) => (0x17, vec![r]),
            Status::Returning => (0x18, vec![]),
            Status::Holding => (0x19, vec![]),
            Status::Disabled => (0x1A, vec![]),
            Status::Initializing => (0x1B, vec![]),
            Status::PowerUp => (0x40, vec![]),
            Status::PowerUpBillInAcceptor => (0x41, vec![]),
            Status::PowerUpBillInStacker => (0x42, vec![]),
            Status::StackerFull => (0x43, vec![]),
            Status::StackerOpen => (0x44, vec![]),
            Status::AcceptorJam => (0x45, vec![]),
            Status::StackerJam => (0x46, vec![]),
            Status::Pause => (0x47, vec![]),
            Status::Cheated => (0x48, vec![]),
            Status::Failure(f) => (0x49, vec![f]),
            Status::CommunicationError => (0x4A, vec![]),
            Status::InvalidCommand => (0x4B, vec![]),
        };
        Frame::new(c, d)
    }

    /// Short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Status::Idling => "idling",
            Status::Accepting => "accepting",
            Status::Escrow(_) => "escrow",
            Status::Stacking => "stacking",
            Status::VendValid => "vend valid",
            Status::Stacked => "stacked",
            Status::Rejecting(_) => "rejecting",
            Status::Returning => "returning",
            Status::Holding => "holding",
            Status::Disabled => "disabled",
            Status::Initializing => "initializing",
            Status::PowerUp => "power up",
            Status::PowerUpBillInAcceptor => "power up with bill in acceptor",
            Status::PowerUpBillInStacker => "power up with bill in stacker",
            Status::StackerFull => "stacker full",
            Status::StackerOpen => "stacker open",
            Status::AcceptorJam => "acceptor jam",
            Status::StackerJam => "stacker jam",
            Status::Pause => "pause",
            Status::Cheated => "cheated",
            Status::Failure(_) => "failure",
            Status::CommunicationError => "communication error",
            Status::InvalidCommand => "invalid command",
        }
    }
}

/// Text for a reject reason code (data of status `17`).
pub fn reject_text(code: u8) -> &'static str {
    match code {
        0x71 => "insertion error",
        0x72 => "magnetic pattern error",
        0x73 => "note remained in the head",
        0x74 => "compensation / multiplying factor error",
        0x75 => "conveying error",
        0x76 => "denomination not recognised",
        0x77 => "photo pattern error (1)",
        0x78 => "photo level error",
        0x79 => "refused by inhibit (denomination or direction)",
        0x7A => "no host answer to escrow",
        0x7B => "operation error",
        0x7C => "note remained in the stacker path",
        0x7D => "length error",
        0x7E => "photo pattern error (2)",
        0x7F => "true bill feature error",
        _ => "unknown reject reason",
    }
}

/// The reject reason as the application sees it.
pub fn reject_reason(code: u8) -> RejectReason {
    RejectReason {
        code,
        text: reject_text(code),
    }
}

/// Text for a failure code (data of status `49`).
pub fn failure_text(code: u8) -> &'static str {
    match code {
        0xA2 => "stack motor failure",
        0xA5 => "transport motor speed failure",
        0xA6 => "transport motor failure",
        0xA8 => "solenoid failure",
        0xA9 => "PB unit failure",
        0xAB => "cashbox not ready",
        0xAF => "validator head removed",
        0xB0 => "boot ROM failure",
        0xB1 => "external ROM failure",
        0xB2 => "RAM failure",
        0xB3 => "external ROM writing failure",
        _ => "unknown failure",
    }
}

/// One entry of the currency-assign table (`8A` reply): 4 bytes per escrow code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrencyEntry {
    /// Escrow code the acceptor reports this note with (status `13` data).
    pub escrow_code: u8,
    /// The acceptor's country code.
    pub country: u8,
    /// Value mantissa.
    pub base: u8,
    /// Power of ten; bit 7 set means a negative power (for notes below one unit) \[U\].
    pub exponent: u8,
}

impl CurrencyEntry {
    /// Value in hundredths of the currency unit (fen for CNY); `None` for an unused entry
    /// (base 0) or a value that is not a whole number of fen or overflows.
    pub fn fen(&self) -> Option<u64> {
        if self.base == 0 {
            return None;
        }
        let negative = self.exponent & 0x80 != 0;
        let power = u32::from(self.exponent & 0x7F);
        let scale = 10u64.checked_pow(power)?;
        let hundredths = u64::from(self.base).checked_mul(100)?;
        if negative {
            hundredths.is_multiple_of(scale).then(|| hundredths / scale)
        } else {
            hundredths.checked_mul(scale)
        }
    }

    /// The entry for a value in fen, if it can be expressed as `base × 10^exp` with a
    /// one-byte base (used by the simulator).
    pub fn for_fen(escrow_code: u8, country: u8, fen: u64) -> Option<CurrencyEntry> {
        if fen == 0 {
            return None;
        }
        let mut base = fen;
        let mut exp: i32 = -2;
        while base.is_multiple_of(10) {
            base /= 10;
            exp += 1;
        }
        let base = u8::try_from(base).ok()?;
        let exponent = if exp >= 0 {
            u8::try_from(exp).ok()?
        } else {
            0x80 | u8::try_from(-exp).ok()?
        };
        Some(CurrencyEntry {
            escrow_code,
            country,
            base,
            exponent,
        })
    }
}

/// The acceptor's currency-assign table: which escrow code means which note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrencyTable {
    pub entries: Vec<CurrencyEntry>,
}

impl CurrencyTable {
    /// Parses the data of an `8A` reply. Trailing bytes that do not make a whole entry are
    /// ignored.
    pub fn parse(data: &[u8]) -> CurrencyTable {
        let entries = data
            .chunks_exact(4)
            .filter_map(|c| match c {
                [escrow_code, country, base, exponent] => Some(CurrencyEntry {
                    escrow_code: *escrow_code,
                    country: *country,
                    base: *base,
                    exponent: *exponent,
                }),
                _ => None,
            })
            .collect();
        CurrencyTable { entries }
    }

    /// Data bytes of the `8A` reply.
    pub fn encode(&self) -> Vec<u8> {
        self.entries
            .iter()
            .flat_map(|e| [e.escrow_code, e.country, e.base, e.exponent])
            .collect()
    }

    /// Value of the note with this escrow code.
    pub fn fen(&self, escrow_code: u8) -> Option<u64> {
        self.entries
            .iter()
            .find(|e| e.escrow_code == escrow_code)
            .and_then(CurrencyEntry::fen)
    }

    /// Country code of the first used entry.
    pub fn country(&self) -> Option<u8> {
        self.entries
            .iter()
            .find(|e| e.fen().is_some())
            .map(|e| e.country)
    }

    /// The usable notes, ascending by value.
    pub fn denominations(&self) -> Vec<Denomination> {
        let mut d: Vec<Denomination> = self
            .entries
            .iter()
            .filter_map(|e| {
                e.fen().map(|fen| Denomination {
                    channel: e.escrow_code,
                    fen,
                })
            })
            .collect();
        d.sort_by_key(|d| (d.fen, d.channel));
        d
    }
}

/// The currency named in an acceptor's version string (`88` reply), if it has one: JCM
/// firmware names its currency set in parentheses after the product letter, e.g.
/// `i(CNY)-100-SS ID003-05V123-45 02JAN24` → `CNY`. The first parenthesised group of
/// exactly three ASCII letters counts; anything else gives `None`.
pub fn currency_from_version(version: &str) -> Option<String> {
    version.match_indices('(').find_map(|(i, _)| {
        let rest = version.get(i + 1..)?;
        let code = rest.get(..3)?;
        (code.bytes().all(|b| b.is_ascii_alphabetic()) && rest.get(3..4) == Some(")"))
            .then(|| code.to_ascii_uppercase())
    })
}

/// Bit of an escrow code in the `C0` enable/disable data: escrow codes `61`–`70` map to
/// bits 0–15 (byte 1 bits 0–7, then byte 2 bits 0–7) \[U\].
pub fn denomination_bit(escrow_code: u8) -> Option<u32> {
    escrow_code
        .checked_sub(0x61)
        .map(u32::from)
        .filter(|b| *b < 16)
}

/// `C0` data that refuses the given escrow codes (a set bit disables its code; all zero
/// enables every note).
pub fn denomination_mask(disabled_codes: &[u8]) -> [u8; 2] {
    let mut disabled: u16 = 0;
    for bit in disabled_codes.iter().filter_map(|c| denomination_bit(*c)) {
        disabled |= 1u16 << bit;
    }
    disabled.to_le_bytes()
}

/// Whether `C0` data refuses an escrow code.
pub fn is_disabled(mask: [u8; 2], escrow_code: u8) -> bool {
    denomination_bit(escrow_code).is_some_and(|bit| u16::from_le_bytes(mask) & (1u16 << bit) != 0)
}
