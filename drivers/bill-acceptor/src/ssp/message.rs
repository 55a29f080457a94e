//! SSP commands, generic replies, poll events and the banknote validator's SETUP REQUEST
//! reply (manual GA138). Pure code: bytes in, values out, and back.

/// A host command (the DATA of a host frame).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// 01 — reset the device (it reboots; keys and settings are lost).
    Reset,
    /// 02 — channel inhibits: bit set = channel enabled, LSB = channel 1 (sent as 2 bytes).
    SetInhibits { mask: u16 },
    /// 05 — unit type, firmware, country, channel values, protocol version.
    SetupRequest,
    /// 06 — the protocol version the host wants to speak.
    HostProtocolVersion(u8),
    /// 07 — events since the last poll. While a note is in escrow, a poll accepts it.
    Poll,
    /// 56 — poll whose credit-type events repeat until [`Command::EventAck`].
    PollWithAck,
    /// 57 — acknowledges the events of the last poll with ack.
    EventAck,
    /// 08 — return the note in escrow to the customer.
    Reject,
    /// 09 — stop taking notes.
    Disable,
    /// 0A — take notes (on the channels the inhibits allow).
    Enable,
    /// 0C — the 32-bit factory serial number.
    SerialNumber,
    /// 0E — channel values.
    ChannelValues,
    /// 11 — resets the sequence flag handling; the first command of a session.
    Sync,
    /// 17 — why the last note was rejected.
    LastRejectCode,
    /// 18 — keep the note in escrow (resets the escrow timeout) without accepting it.
    Hold,
    /// 20 — firmware version as ASCII text.
    FirmwareVersion,
    /// 4A — eSSP Diffie-Hellman generator (a prime).
    SetGenerator(u64),
    /// 4B — eSSP Diffie-Hellman modulus (a prime).
    SetModulus(u64),
    /// 4C — eSSP host intermediate key; the reply carries the slave's.
    RequestKeyExchange(u64),
}

/// A command the device side could not understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// No command byte at all.
    #[error("empty command")]
    Empty,
    /// A command code this implementation does not know (device answers F2).
    #[error("unknown command {0:#04x}")]
    Unknown(u8),
    /// Known code, wrong number of parameter bytes (device answers F3).
    #[error("wrong number of parameters for command {0:#04x}")]
    WrongLength(u8),
}

impl Command {
    /// The command byte.
    pub fn code(&self) -> u8 {
        match self {
            Command::Reset => 0x01,
            Command::SetInhibits { .. } => 0x02,
            Command::SetupRequest => 0x05,
            Command::HostProtocolVersion(_) => 0x06,
            Command::Poll => 0x07,
            Command::PollWithAck => 0x56,
            Command::EventAck => 0x57,
            Command::Reject => 0x08,
            Command::Disable => 0x09,
            Command::Enable => 0x0A,
            Command::SerialNumber => 0x0C,
            Command::ChannelValues => 0x0E,
            Command::Sync => 0x11,
            Command::LastRejectCode => 0x17,
            Command::Hold => 0x18,
            Command::FirmwareVersion => 0x20,
            Command::SetGenerator(_) => 0x4A,
            Command::SetModulus(_) => 0x4B,
            Command::RequestKeyExchange(_) => 0x4C,
        }
    }

    /// Name for messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Reset => "RESET",
            Command::SetInhibits { .. } => "SET INHIBITS",
            Command::SetupRequest => "SETUP REQUEST",
            Command::HostProtocolVersion(_) => "HOST PROTOCOL VERSION",
            Command::Poll => "POLL",
            Command::PollWithAck => "POLL WITH ACK",
            Command::EventAck => "EVENT ACK",
            Command::Reject => "REJECT",
            Command::Disable => "DISABLE",
            Command::Enable => "ENABLE",
            Command::SerialNumber => "GET SERIAL NUMBER",
            Command::ChannelValues => "CHANNEL VALUE REQUEST",
            Command::Sync => "SYNC",
            Command::LastRejectCode => "LAST REJECT CODE",
            Command::Hold => "HOLD",
            Command::FirmwareVersion => "GET FIRMWARE VERSION",
            Command::SetGenerator(_) => "SET GENERATOR",
            Command::SetModulus(_) => "SET MODULUS",
            Command::RequestKeyExchange(_) => "REQUEST KEY EXCHANGE",
        }
    }

    /// Commands that run before (or to set up) encryption and are always sent in clear:
    /// SYNC and the key exchange (4A, 4B, 4C). A device in encrypted mode answers every
    /// other command — HOST PROTOCOL VERSION included — with KEY NOT SET (FA) until keys
    /// are negotiated (GA138, encryption layer; GA973 §8.3: sync, negotiate encryption,
    /// then set the protocol version).
    pub fn is_key_setup(&self) -> bool {
        matches!(
            self,
            Command::Sync
                | Command::SetGenerator(_)
                | Command::SetModulus(_)
                | Command::RequestKeyExchange(_)
        )
    }

    /// The DATA bytes of the command frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.code()];
        match self {
            Command::SetInhibits { mask } => out.extend_from_slice(&mask.to_le_bytes()),
            Command::HostProtocolVersion(v) => out.push(*v),
            Command::SetGenerator(n) | Command::SetModulus(n) | Command::RequestKeyExchange(n) => {
                out.extend_from_slice(&n.to_le_bytes())
            }
            _ => {}
        }
        out
    }

    /// Parses a command's DATA bytes (the device side).
    pub fn parse(data: &[u8]) -> Result<Command, CommandError> {
        let (&code, params) = data.split_first().ok_or(CommandError::Empty)?;
        let none = |c: Command| {
            if params.is_empty() {
                Ok(c)
            } else {
                Err(CommandError::WrongLength(code))
            }
        };
        let u64_param = || -> Result<u64, CommandError> {
            let bytes: [u8; 8] = params
                .try_into()
                .map_err(|_| CommandError::WrongLength(code))?;
            Ok(u64::from_le_bytes(bytes))
        };
        match code {
            0x01 => none(Command::Reset),
            0x02 => match params {
                [lo] => Ok(Command::SetInhibits {
                    mask: u16::from(*lo),
                }),
                // NV200 accepts up to 4 bytes; channels above 16 do not exist here.
                [lo, hi, rest @ ..] if rest.len() <= 2 => Ok(Command::SetInhibits {
                    mask: u16::from_le_bytes([*lo, *hi]),
                }),
                _ => Err(CommandError::WrongLength(code)),
            },
            0x05 => none(Command::SetupRequest),
            0x06 => match params {
                [v] => Ok(Command::HostProtocolVersion(*v)),
                _ => Err(CommandError::WrongLength(code)),
            },
            0x07 => none(Command::Poll),
            0x56 => none(Command::PollWithAck),
            0x57 => none(Command::EventAck),
            0x08 => none(Command::Reject),
            0x09 => none(Command::Disable),
            0x0A => none(Command::Enable),
            0x0C => none(Command::SerialNumber),
            0x0E => none(Command::ChannelValues),
            0x11 => none(Command::Sync),
            0x17 => none(Command::LastRejectCode),
            0x18 => none(Command::Hold),
            0x20 => none(Command::FirmwareVersion),
            0x4A => Ok(Command::SetGenerator(u64_param()?)),
            0x4B => Ok(Command::SetModulus(u64_param()?)),
            0x4C => Ok(Command::RequestKeyExchange(u64_param()?)),
            other => Err(CommandError::Unknown(other)),
        }
    }
}

/// Generic response code, the first byte of every reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// F0
    Ok,
    /// F2
    UnknownCommand,
    /// F3
    WrongParameterCount,
    /// F4
    ParameterOutOfRange,
    /// F5
    CannotProcess,
    /// F6
    SoftwareError,
    /// F8
    Fail,
    /// FA — the device is in encrypted mode and the eSSP keys are not negotiated.
    KeyNotSet,
}

impl Status {
    pub fn from_byte(b: u8) -> Option<Status> {
        Some(match b {
            0xF0 => Status::Ok,
            0xF2 => Status::UnknownCommand,
            0xF3 => Status::WrongParameterCount,
            0xF4 => Status::ParameterOutOfRange,
            0xF5 => Status::CannotProcess,
            0xF6 => Status::SoftwareError,
            0xF8 => Status::Fail,
            0xFA => Status::KeyNotSet,
            _ => return None,
        })
    }

    pub fn byte(self) -> u8 {
        match self {
            Status::Ok => 0xF0,
            Status::UnknownCommand => 0xF2,
            Status::WrongParameterCount => 0xF3,
            Status::ParameterOutOfRange => 0xF4,
            Status::CannotProcess => 0xF5,
            Status::SoftwareError => 0xF6,
            Status::Fail => 0xF8,
            Status::KeyNotSet => 0xFA,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::UnknownCommand => "command not known",
            Status::WrongParameterCount => "wrong number of parameters",
            Status::ParameterOutOfRange => "parameter out of range",
            Status::CannotProcess => "command cannot be processed now",
            Status::SoftwareError => "software error",
            Status::Fail => "command failed",
            Status::KeyNotSet => "encryption key not set",
        }
    }
}

/// A device reply: status and the data after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: Status,
    pub data: Vec<u8>,
}

/// A reply that is not a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// No bytes.
    #[error("empty reply")]
    Empty,
    /// The first byte is not one of the generic responses.
    #[error("unknown response code {0:#04x}")]
    UnknownStatus(u8),
}

impl Reply {
    pub fn ok(data: Vec<u8>) -> Self {
        Self {
            status: Status::Ok,
            data,
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Reply, ReplyError> {
        let (&first, rest) = bytes.split_first().ok_or(ReplyError::Empty)?;
        let status = Status::from_byte(first).ok_or(ReplyError::UnknownStatus(first))?;
        Ok(Reply {
            status,
            data: rest.to_vec(),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 1);
        out.push(self.status.byte());
        out.extend_from_slice(&self.data);
        out
    }
}

/// Which note an event refers to: a dataset channel (protocol < 9, every NV validator) or,
/// on protocol ≥ 9 SMART Currency devices, a country code and a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoteRef {
    /// Channel 1–n; 0 = not known / still reading.
    Channel(u8),
    /// Country (ASCII) and value in the device's value units.
    Value { country: [u8; 3], value: u32 },
}

/// One event of a poll reply (GA138 "Events", banknote validator subset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PollEvent {
    /// F1 — the device has (re)started.
    SlaveReset,
    /// EF — reading a note (`Channel(0)`) or a note held in escrow.
    Read(NoteRef),
    /// EE — note credit: the only credit point.
    Credit(NoteRef),
    /// ED — a note is being rejected.
    Rejecting,
    /// EC — a note has been rejected.
    Rejected,
    /// CC — stacking.
    Stacking,
    /// EB — stacked.
    Stacked,
    /// EA — safe jam (note past the point the customer can reach it).
    SafeJam,
    /// E9 — unsafe jam (the note may be reachable from the front).
    UnsafeJam,
    /// E8 — disabled.
    Disabled,
    /// E6 — fraud attempt on a channel (0 = unknown).
    FraudAttempt(u8),
    /// E7 — stacker full.
    StackerFull,
    /// E1 — at power-up a note was rejected out of the front (channel, 0 = unknown).
    NoteClearedFromFront(u8),
    /// E2 — at power-up a note was moved into the cashbox (channel, 0 = unknown).
    NoteClearedIntoCashbox(u8),
    /// E3 — cashbox removed.
    CashboxRemoved,
    /// E4 — cashbox replaced.
    CashboxReplaced,
    /// E5 — a barcode ticket is in escrow.
    BarcodeTicketValidated,
    /// D1 — barcode ticket stacked.
    BarcodeTicketAck,
    /// E0 — note path open.
    NotePathOpen,
    /// B5 — all channels inhibited.
    ChannelDisable,
    /// B6 — initialising (poll with ack only).
    Initialising,
}

/// A poll reply that cannot be fully read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// An event code whose length is unknown: the rest of the reply is unreadable.
    #[error("unknown poll event {0:#04x}")]
    Unknown(u8),
    /// An event is missing its data bytes.
    #[error("poll event {0:#04x} is missing its data")]
    Truncated(u8),
}

impl PollEvent {
    /// The event code.
    pub fn code(&self) -> u8 {
        match self {
            PollEvent::SlaveReset => 0xF1,
            PollEvent::Read(_) => 0xEF,
            PollEvent::Credit(_) => 0xEE,
            PollEvent::Rejecting => 0xED,
            PollEvent::Rejected => 0xEC,
            PollEvent::Stacking => 0xCC,
            PollEvent::Stacked => 0xEB,
            PollEvent::SafeJam => 0xEA,
            PollEvent::UnsafeJam => 0xE9,
            PollEvent::Disabled => 0xE8,
            PollEvent::FraudAttempt(_) => 0xE6,
            PollEvent::StackerFull => 0xE7,
            PollEvent::NoteClearedFromFront(_) => 0xE1,
            PollEvent::NoteClearedIntoCashbox(_) => 0xE2,
            PollEvent::CashboxRemoved => 0xE3,
            PollEvent::CashboxReplaced => 0xE4,
            PollEvent::BarcodeTicketValidated => 0xE5,
            PollEvent::BarcodeTicketAck => 0xD1,
            PollEvent::NotePathOpen => 0xE0,
            PollEvent::ChannelDisable => 0xB5,
            PollEvent::Initialising => 0xB6,
        }
    }

    /// Appends the event's bytes (code and data).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.code());
        match self {
            PollEvent::Read(n) | PollEvent::Credit(n) => match n {
                NoteRef::Channel(c) => out.push(*c),
                NoteRef::Value { country, value } => {
                    out.extend_from_slice(country);
                    out.extend_from_slice(&value.to_le_bytes());
                }
            },
            PollEvent::FraudAttempt(c)
            | PollEvent::NoteClearedFromFront(c)
            | PollEvent::NoteClearedIntoCashbox(c) => out.push(*c),
            _ => {}
        }
    }

    /// Parses the events of a poll reply (the bytes after F0). `protocol` is the protocol
    /// version in use: from 9 on, EF and EE carry a country code and a 4-byte value instead
    /// of a channel. Parsing stops at the first unknown event (its length is unknown);
    /// the events before it are returned with the error.
    pub fn parse_all(data: &[u8], protocol: u8) -> (Vec<PollEvent>, Option<EventError>) {
        let mut events = Vec::new();
        let mut rest = data;
        while let Some((&code, tail)) = rest.split_first() {
            let channel = |tail: &[u8]| tail.first().copied().ok_or(EventError::Truncated(code));
            let note = |tail: &[u8]| -> Result<(NoteRef, usize), EventError> {
                if protocol >= 9 {
                    let d = tail.get(..7).ok_or(EventError::Truncated(code))?;
                    Ok((
                        NoteRef::Value {
                            country: [d[0], d[1], d[2]],
                            value: u32::from_le_bytes([d[3], d[4], d[5], d[6]]),
                        },
                        7,
                    ))
                } else {
                    Ok((NoteRef::Channel(channel(tail)?), 1))
                }
            };
            let parsed: Result<(PollEvent, usize), EventError> = match code {
                0xF1 => Ok((PollEvent::SlaveReset, 0)),
                0xEF => note(tail).map(|(n, l)| (PollEvent::Read(n), l)),
                0xEE => note(tail).map(|(n, l)| (PollEvent::Credit(n), l)),
                0xED => Ok((PollEvent::Rejecting, 0)),
                0xEC => Ok((PollEvent::Rejected, 0)),
                0xCC => Ok((PollEvent::Stacking, 0)),
                0xEB => Ok((PollEvent::Stacked, 0)),
                0xEA => Ok((PollEvent::SafeJam, 0)),
                0xE9 => Ok((PollEvent::UnsafeJam, 0)),
                0xE8 => Ok((PollEvent::Disabled, 0)),
                0xE6 => channel(tail).map(|c| (PollEvent::FraudAttempt(c), 1)),
                0xE7 => Ok((PollEvent::StackerFull, 0)),
                0xE1 => channel(tail).map(|c| (PollEvent::NoteClearedFromFront(c), 1)),
                0xE2 => channel(tail).map(|c| (PollEvent::NoteClearedIntoCashbox(c), 1)),
                0xE3 => Ok((PollEvent::CashboxRemoved, 0)),
                0xE4 => Ok((PollEvent::CashboxReplaced, 0)),
                0xE5 => Ok((PollEvent::BarcodeTicketValidated, 0)),
                0xD1 => Ok((PollEvent::BarcodeTicketAck, 0)),
                0xE0 => Ok((PollEvent::NotePathOpen, 0)),
                0xB5 => Ok((PollEvent::ChannelDisable, 0)),
                0xB6 => Ok((PollEvent::Initialising, 0)),
                other => Err(EventError::Unknown(other)),
            };
            match parsed {
                Ok((event, used)) => {
                    events.push(event);
                    rest = tail.get(used..).unwrap_or(&[]);
                }
                Err(e) => return (events, Some(e)),
            }
        }
        (events, None)
    }
}

/// Text of a LAST REJECT CODE (17) answer (GA138 "Reject Codes").
pub fn reject_text(code: u8) -> &'static str {
    match code {
        0x00 => "note accepted",
        0x01 => "length fail",
        0x02 => "average fail: note not recognised",
        0x03 => "coastline fail: note not recognised",
        0x04 => "graph fail: note not recognised",
        0x05 => "buried fail: note not recognised",
        0x06 => "channel inhibited in the dataset",
        0x07 => "second note inserted",
        0x08 => "rejected by the host",
        0x09 => "note matches several channels",
        0x0A => "rear sensor error",
        0x0B => "note too long",
        0x0C => "channel disabled by the host",
        0x0D => "mechanism too slow",
        0x0E => "strimming attempt",
        0x0F => "fraud channel",
        0x10 => "no note detected",
        0x11 => "peak detect fail: note not recognised",
        0x12 => "twisted note",
        0x13 => "escrow timeout",
        0x14 => "bar code scan fail",
        0x15 => "no camera activate",
        0x16 => "slot fail 1: note not recognised",
        0x17 => "slot fail 2: note not recognised",
        0x18 => "lens oversample",
        0x19 => "width detection fail",
        0x1A => "short note",
        0x1B => "payout note",
        0x1C => "double note detected",
        0x1D => "unable to stack",
        _ => "unknown reject code",
    }
}

/// One channel of a validator's dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// Channel number, from 1.
    pub channel: u8,
    /// The note's value in the currency's minor unit (fen for CNY).
    pub minor_units: u64,
    /// ISO 4217 code of the channel (protocol ≥ 6), else the dataset's.
    pub country: String,
}

/// The SETUP REQUEST (05) reply of a banknote validator (unit type 0x00, or 0x03/0x06/0x07
/// for payout variants that share the layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSetup {
    pub unit_type: u8,
    /// Four ASCII digits, e.g. "0414" = 4.14.
    pub firmware: String,
    /// Dataset country code, e.g. "CNY".
    pub country: String,
    /// 3 bytes, big-endian; 0 means the values are in the expanded segment (protocol ≥ 6).
    pub value_multiplier: u32,
    /// 1 byte per channel.
    pub channel_values: Vec<u8>,
    /// Obsolete, 1 byte per channel.
    pub security_levels: Vec<u8>,
    /// 3 bytes, big-endian: channel value × this = value in minor units.
    pub real_value_multiplier: u32,
    pub protocol_version: u8,
    /// Protocol ≥ 6: ASCII country code per channel.
    pub expanded_countries: Vec<String>,
    /// Protocol ≥ 6: 4-byte little-endian value per channel.
    pub expanded_values: Vec<u32>,
}

/// A SETUP REQUEST reply that does not have the banknote validator layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// Shorter than its own channel count says.
    #[error("setup reply truncated at {field}")]
    Truncated { field: &'static str },
    /// More than 16 channels, or none.
    #[error("setup reply has {0} channels")]
    Channels(u8),
}

fn be24(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x))
}

fn ascii(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if c.is_ascii_graphic() {
                char::from(c)
            } else {
                '?'
            }
        })
        .collect()
}

impl ValidatorSetup {
    /// Parses the data after F0.
    pub fn parse(d: &[u8]) -> Result<ValidatorSetup, SetupError> {
        let take = |range: std::ops::Range<usize>, field: &'static str| {
            d.get(range).ok_or(SetupError::Truncated { field })
        };
        let unit_type = *take(0..1, "unit type")?.first().unwrap_or(&0);
        let firmware = ascii(take(1..5, "firmware")?);
        let country = ascii(take(5..8, "country")?);
        let value_multiplier = be24(take(8..11, "value multiplier")?);
        let n = *take(11..12, "channel count")?.first().unwrap_or(&0);
        if n == 0 || n > 16 {
            return Err(SetupError::Channels(n));
        }
        let n = usize::from(n);
        let channel_values = take(12..12 + n, "channel values")?.to_vec();
        let security_levels = take(12 + n..12 + 2 * n, "security levels")?.to_vec();
        let real_value_multiplier = be24(take(12 + 2 * n..15 + 2 * n, "real value multiplier")?);
        let protocol_version = *take(15 + 2 * n..16 + 2 * n, "protocol version")?
            .first()
            .unwrap_or(&0);
        let (mut expanded_countries, mut expanded_values) = (Vec::new(), Vec::new());
        if protocol_version >= 6 {
            let countries = take(16 + 2 * n..16 + 5 * n, "expanded country codes")?;
            expanded_countries = countries.chunks_exact(3).map(ascii).collect();
            let values = take(16 + 5 * n..16 + 9 * n, "expanded channel values")?;
            expanded_values = values
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
        }
        Ok(ValidatorSetup {
            unit_type,
            firmware,
            country,
            value_multiplier,
            channel_values,
            security_levels,
            real_value_multiplier,
            protocol_version,
            expanded_countries,
            expanded_values,
        })
    }

    /// Encodes the data after F0 (the simulator's side).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.unit_type];
        let fixed = |s: &str, n: usize| -> Vec<u8> {
            let mut v: Vec<u8> = s.bytes().take(n).collect();
            v.resize(n, b' ');
            v
        };
        out.extend(fixed(&self.firmware, 4));
        out.extend(fixed(&self.country, 3));
        out.extend_from_slice(&self.value_multiplier.to_be_bytes()[1..]);
        out.push(u8::try_from(self.channel_values.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.channel_values);
        out.extend_from_slice(&self.security_levels);
        out.extend_from_slice(&self.real_value_multiplier.to_be_bytes()[1..]);
        out.push(self.protocol_version);
        if self.protocol_version >= 6 {
            for c in &self.expanded_countries {
                out.extend(fixed(c, 3));
            }
            for v in &self.expanded_values {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// The channels with their values in minor units (fen for CNY). Protocol ≥ 6 uses the
    /// expanded values, older datasets channel value × value multiplier; both are then
    /// multiplied by the real value multiplier. A channel with value 0 is unused.
    pub fn channels(&self) -> Vec<ChannelInfo> {
        let real = u64::from(self.real_value_multiplier.max(1));
        let mut out = Vec::new();
        for (i, &v) in self.channel_values.iter().enumerate() {
            let Ok(channel) = u8::try_from(i + 1) else {
                break;
            };
            let base = if self.protocol_version >= 6 && !self.expanded_values.is_empty() {
                self.expanded_values
                    .get(i)
                    .map(|&x| u64::from(x))
                    .unwrap_or(0)
            } else {
                u64::from(v) * u64::from(self.value_multiplier.max(1))
            };
            let minor_units = base.saturating_mul(real);
            if minor_units == 0 {
                continue;
            }
            let country = self
                .expanded_countries
                .get(i)
                .cloned()
                .unwrap_or_else(|| self.country.clone());
            out.push(ChannelInfo {
                channel,
                minor_units,
                country,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn command_bytes() {
        assert_eq!(
            Command::SetInhibits { mask: 0x0007 }.encode(),
            hex!("02 07 00")
        );
        assert_eq!(Command::HostProtocolVersion(8).encode(), hex!("06 08"));
        // GA138: generator 982451653 = 0x3A8F05C5, little-endian.
        assert_eq!(
            Command::SetGenerator(982_451_653).encode(),
            hex!("4A C5 05 8F 3A 00 00 00 00")
        );
        assert_eq!(
            Command::RequestKeyExchange(7_554_354_432_121).encode(),
            hex!("4C 79 C8 9C E2 DE 06 00 00")
        );
        for c in [
            Command::Reset,
            Command::SetInhibits { mask: 0xBEEF },
            Command::SetupRequest,
            Command::HostProtocolVersion(7),
            Command::Poll,
            Command::PollWithAck,
            Command::EventAck,
            Command::Reject,
            Command::Disable,
            Command::Enable,
            Command::SerialNumber,
            Command::ChannelValues,
            Command::Sync,
            Command::LastRejectCode,
            Command::Hold,
            Command::FirmwareVersion,
            Command::SetGenerator(5),
            Command::SetModulus(7),
            Command::RequestKeyExchange(11),
        ] {
            assert_eq!(Command::parse(&c.encode()), Ok(c));
        }
        assert_eq!(
            Command::parse(&[0x07, 0x00]),
            Err(CommandError::WrongLength(0x07))
        );
        assert_eq!(Command::parse(&[0x99]), Err(CommandError::Unknown(0x99)));
    }

    #[test]
    fn poll_events_from_the_manual() {
        let (e, err) = PollEvent::parse_all(&hex!("EE 01 EB"), 7);
        assert_eq!(
            e,
            vec![PollEvent::Credit(NoteRef::Channel(1)), PollEvent::Stacked]
        );
        assert_eq!(err, None);
        let (e, _) = PollEvent::parse_all(&hex!("E2 02"), 7);
        assert_eq!(e, vec![PollEvent::NoteClearedIntoCashbox(2)]);
        let (e, _) = PollEvent::parse_all(&hex!("E6 02"), 7);
        assert_eq!(e, vec![PollEvent::FraudAttempt(2)]);
        let (e, err) = PollEvent::parse_all(&hex!("EF"), 7);
        assert!(e.is_empty());
        assert_eq!(err, Some(EventError::Truncated(0xEF)));
        let (e, _) = PollEvent::parse_all(&hex!("EF 43 4E 59 14 00 00 00"), 9);
        assert_eq!(
            e,
            vec![PollEvent::Read(NoteRef::Value {
                country: *b"CNY",
                value: 20
            })]
        );
        let (e, err) = PollEvent::parse_all(&hex!("E8 42 E8"), 7);
        assert_eq!(e, vec![PollEvent::Disabled]);
        assert_eq!(err, Some(EventError::Unknown(0x42)));
    }

    #[test]
    fn setup_reply_from_the_manual() {
        // GA138 example: GBP dataset, firmware 1.00, channels 5, 10, 20, protocol 5.
        let d = hex!("00 30 31 30 30 47 42 50 00 00 01 03 05 0A 14 02 02 02 40 00 00 05");
        let s = ValidatorSetup::parse(&d).unwrap();
        assert_eq!(s.unit_type, 0);
        assert_eq!(s.firmware, "0100");
        assert_eq!(s.country, "GBP");
        assert_eq!(s.value_multiplier, 1);
        assert_eq!(s.channel_values, vec![5, 10, 20]);
        assert_eq!(s.protocol_version, 5);
        assert_eq!(s.encode(), d.to_vec());
    }

    #[test]
    fn setup_with_expanded_values() {
        let s = ValidatorSetup {
            unit_type: 0,
            firmware: "0414".into(),
            country: "CNY".into(),
            value_multiplier: 1,
            channel_values: vec![1, 5, 100],
            security_levels: vec![2, 2, 2],
            real_value_multiplier: 100,
            protocol_version: 8,
            expanded_countries: vec!["CNY".into(); 3],
            expanded_values: vec![1, 5, 100],
        };
        let back = ValidatorSetup::parse(&s.encode()).unwrap();
        assert_eq!(back, s);
        let fen: Vec<u64> = back.channels().iter().map(|c| c.minor_units).collect();
        assert_eq!(fen, vec![100, 500, 10000]);
    }

    proptest::proptest! {
        #[test]
        fn random_replies_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80), p in 0u8..12) {
            let _ = PollEvent::parse_all(&bytes, p);
            let _ = ValidatorSetup::parse(&bytes).map(|s| s.channels());
            let _ = Reply::parse(&bytes);
            let _ = Command::parse(&bytes);
        }

        #[test]
        fn events_round_trip(codes in proptest::collection::vec((0usize..21, 0u8..17), 0..12)) {
            let all = |i: usize, c: u8| match i {
                0 => PollEvent::SlaveReset, 1 => PollEvent::Read(NoteRef::Channel(c)),
                2 => PollEvent::Credit(NoteRef::Channel(c)), 3 => PollEvent::Rejecting,
                4 => PollEvent::Rejected, 5 => PollEvent::Stacking, 6 => PollEvent::Stacked,
                7 => PollEvent::SafeJam, 8 => PollEvent::UnsafeJam, 9 => PollEvent::Disabled,
                10 => PollEvent::FraudAttempt(c), 11 => PollEvent::StackerFull,
                12 => PollEvent::NoteClearedFromFront(c), 13 => PollEvent::NoteClearedIntoCashbox(c),
                14 => PollEvent::CashboxRemoved, 15 => PollEvent::CashboxReplaced,
                16 => PollEvent::BarcodeTicketValidated, 17 => PollEvent::BarcodeTicketAck,
                18 => PollEvent::NotePathOpen, 19 => PollEvent::ChannelDisable,
                _ => PollEvent::Initialising,
            };
            let events: Vec<PollEvent> = codes.iter().map(|&(i, c)| all(i, c)).collect();
            let mut bytes = Vec::new();
            for e in &events { e.encode_into(&mut bytes); }
            let (back, err) = PollEvent::parse_all(&bytes, 8);
            proptest::prop_assert_eq!(back, events);
            proptest::prop_assert_eq!(err, None);
        }
    }
}
