//! Status bytes, sensor bytes and error codes of the CRT-591 (manual §2.1.2, §2.2, §3.1.2).

use serde::Serialize;

/// Where a card is in the dispenser's channel (st0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CardPosition {
    /// '0': no card in the channel.
    None,
    /// '1': a card at the gate (出卡口), ready to be taken.
    Gate,
    /// '2': a card at the IC (contact) / RF read-write position.
    Ic,
}

/// How full the card stacker (卡箱) is (st1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StackerLevel {
    /// '0': no card in the stacker.
    Empty,
    /// '1': few cards left.
    Low,
    /// '2': enough cards.
    Enough,
}

impl StackerLevel {
    /// The name used in JSON reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StackerLevel::Empty => "empty",
            StackerLevel::Low => "low",
            StackerLevel::Enough => "enough",
        }
    }
}

impl CardPosition {
    /// The name used in JSON reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CardPosition::None => "none",
            CardPosition::Gate => "gate",
            CardPosition::Ic => "ic",
        }
    }
}

/// The three status bytes of every positive reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Status {
    /// st0.
    pub card_position: CardPosition,
    /// st1.
    pub stacker: StackerLevel,
    /// st2: the reject bin (废卡箱) is full.
    pub reject_bin_full: bool,
}

/// A status byte outside the values the manual lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("status byte st{index} has unknown value {value:#04x}")]
pub struct BadStatus {
    /// Which byte (0, 1 or 2).
    pub index: u8,
    /// Its value.
    pub value: u8,
}

impl Status {
    /// Parses `st0 st1 st2`.
    pub fn parse(st: [u8; 3]) -> Result<Self, BadStatus> {
        let [s0, s1, s2] = st;
        let card_position = match s0 {
            b'0' => CardPosition::None,
            b'1' => CardPosition::Gate,
            b'2' => CardPosition::Ic,
            value => return Err(BadStatus { index: 0, value }),
        };
        let stacker = match s1 {
            b'0' => StackerLevel::Empty,
            b'1' => StackerLevel::Low,
            b'2' => StackerLevel::Enough,
            value => return Err(BadStatus { index: 1, value }),
        };
        let reject_bin_full = match s2 {
            b'0' => false,
            b'1' => true,
            value => return Err(BadStatus { index: 2, value }),
        };
        Ok(Self {
            card_position,
            stacker,
            reject_bin_full,
        })
    }

    /// The three bytes on the wire.
    pub fn encode(&self) -> [u8; 3] {
        [
            match self.card_position {
                CardPosition::None => b'0',
                CardPosition::Gate => b'1',
                CardPosition::Ic => b'2',
            },
            match self.stacker {
                StackerLevel::Empty => b'0',
                StackerLevel::Low => b'1',
                StackerLevel::Enough => b'2',
            },
            if self.reject_bin_full { b'1' } else { b'0' },
        ]
    }
}

/// Channel sensors S1–S7 (true: a card covers the sensor), from status request PM 31H.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Sensors(pub [bool; 7]);

impl Sensors {
    /// Parses the sensor bytes (`30H` no card, `31H` card; S8 and anything after it are
    /// reserved and ignored). Missing or unknown bytes read as "no card" rather than failing:
    /// sensors are diagnostic information only.
    pub fn parse(data: &[u8]) -> Self {
        let mut s = [false; 7];
        for (slot, byte) in s.iter_mut().zip(data) {
            *slot = *byte == b'1';
        }
        Self(s)
    }

    /// The eight bytes the device sends (S8 reserved, sent as 30H).
    pub fn encode(&self) -> [u8; 8] {
        let mut out = [b'0'; 8];
        for (o, s) in out.iter_mut().zip(self.0) {
            if s {
                *o = b'1';
            }
        }
        out
    }
}

/// Error code `e1 e0` of a negative reply (manual §2.2; codes 63 and 64 from §3.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// "00" reception of an undefined command.
    UndefinedCommand,
    /// "01" command parameter error.
    ParameterError,
    /// "02" command sequence error.
    SequenceError,
    /// "03" command not supported by this hardware.
    NotSupportedByHardware,
    /// "04" command data error (error in the communication package data).
    CommandDataError,
    /// "05" IC card contact not released.
    IcContactNotReleased,
    /// "10" card jam (卡卡).
    CardJam,
    /// "12" sensor error.
    SensorError,
    /// "13" card too long.
    CardTooLong,
    /// "14" card too short.
    CardTooShort,
    /// "40" card recycling disabled.
    RecyclingDisabled,
    /// "41" IC card magnet (contact unit) error.
    IcMagnetError,
    /// "43" card cannot be moved to the IC position.
    CannotMoveToIc,
    /// "45" card moved by hand.
    ManuallyMoved,
    /// "50" reject-bin counter overflow.
    CounterOverflow,
    /// "51" motor error.
    MotorError,
    /// "60" short circuit of the IC card supply.
    IcShortCircuit,
    /// "61" card activation failed.
    ActivationFailed,
    /// "62" command not supported by the IC card (protocol mismatch, e.g. T=1 on T=0).
    ProtocolMismatch,
    /// "63" the card did not answer within the working wait time (card deactivated).
    CardTimeout,
    /// "64" other card protocol error (card deactivated).
    CardProtocolError,
    /// "65" IC card not activated.
    CardNotActivated,
    /// "66" command not supported by the current card.
    NotSupportedByCard,
    /// "67" IC card transmission error.
    TransmissionError,
    /// "68" IC card transmission timeout.
    TransmissionTimeout,
    /// "69" CPU/SAM card not EMV-compliant (refused in EMV activation mode).
    NotEmvCompliant,
    /// "A0" stacker empty.
    StackerEmpty,
    /// "A1" reject bin full.
    RejectBinFull,
    /// "B0" not reset: the initialise command must come first after power-on.
    NotReset,
    /// Any code the manual leaves blank.
    Other([u8; 2]),
}

impl ErrorCode {
    /// Maps `e1 e0`.
    pub fn from_bytes(e: [u8; 2]) -> Self {
        use ErrorCode::*;
        match &e {
            b"00" => UndefinedCommand,
            b"01" => ParameterError,
            b"02" => SequenceError,
            b"03" => NotSupportedByHardware,
            b"04" => CommandDataError,
            b"05" => IcContactNotReleased,
            b"10" => CardJam,
            b"12" => SensorError,
            b"13" => CardTooLong,
            b"14" => CardTooShort,
            b"40" => RecyclingDisabled,
            b"41" => IcMagnetError,
            b"43" => CannotMoveToIc,
            b"45" => ManuallyMoved,
            b"50" => CounterOverflow,
            b"51" => MotorError,
            b"60" => IcShortCircuit,
            b"61" => ActivationFailed,
            b"62" => ProtocolMismatch,
            b"63" => CardTimeout,
            b"64" => CardProtocolError,
            b"65" => CardNotActivated,
            b"66" => NotSupportedByCard,
            b"67" => TransmissionError,
            b"68" => TransmissionTimeout,
            b"69" => NotEmvCompliant,
            b"A0" => StackerEmpty,
            b"A1" => RejectBinFull,
            b"B0" => NotReset,
            _ => Other(e),
        }
    }

    /// The two characters on the wire.
    pub fn to_bytes(self) -> [u8; 2] {
        use ErrorCode::*;
        *match self {
            UndefinedCommand => b"00",
            ParameterError => b"01",
            SequenceError => b"02",
            NotSupportedByHardware => b"03",
            CommandDataError => b"04",
            IcContactNotReleased => b"05",
            CardJam => b"10",
            SensorError => b"12",
            CardTooLong => b"13",
            CardTooShort => b"14",
            RecyclingDisabled => b"40",
            IcMagnetError => b"41",
            CannotMoveToIc => b"43",
            ManuallyMoved => b"45",
            CounterOverflow => b"50",
            MotorError => b"51",
            IcShortCircuit => b"60",
            ActivationFailed => b"61",
            ProtocolMismatch => b"62",
            CardTimeout => b"63",
            CardProtocolError => b"64",
            CardNotActivated => b"65",
            NotSupportedByCard => b"66",
            TransmissionError => b"67",
            TransmissionTimeout => b"68",
            NotEmvCompliant => b"69",
            StackerEmpty => b"A0",
            RejectBinFull => b"A1",
            NotReset => b"B0",
            Other(ref e) => e,
        }
    }

    /// The code as printed in the manual, e.g. `"A0"` (non-ASCII bytes shown as hex).
    pub fn code(self) -> String {
        let b = self.to_bytes();
        if b.iter().all(u8::is_ascii_graphic) {
            b.iter().map(|c| char::from(*c)).collect()
        } else {
            format!("{:02X}{:02X}", b[0], b[1])
        }
    }

    /// The condition of the dispenser this error reveals, for the application and the
    /// technician (not every error is a condition of the machine: a parameter error is ours).
    pub fn condition(self) -> Option<Condition> {
        use ErrorCode::*;
        match self {
            CardJam | CardTooLong | CardTooShort | CannotMoveToIc | ManuallyMoved => {
                Some(Condition::Jam)
            }
            MotorError | SensorError | IcMagnetError | IcContactNotReleased => {
                Some(Condition::Hardware)
            }
            StackerEmpty => Some(Condition::StackerEmpty),
            RejectBinFull => Some(Condition::RejectBinFull),
            NotReset => Some(Condition::NotReset),
            IcShortCircuit | ActivationFailed | ProtocolMismatch | CardTimeout
            | CardProtocolError | CardNotActivated | NotSupportedByCard | TransmissionError
            | TransmissionTimeout | NotEmvCompliant => Some(Condition::CardFault),
            _ => None,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use ErrorCode::*;
        let text = match self {
            UndefinedCommand => "undefined command",
            ParameterError => "command parameter error",
            SequenceError => "command sequence error",
            NotSupportedByHardware => "command not supported by the hardware",
            CommandDataError => "command data error",
            IcContactNotReleased => "IC contact not released",
            CardJam => "card jam",
            SensorError => "sensor error",
            CardTooLong => "card too long",
            CardTooShort => "card too short",
            RecyclingDisabled => "card recycling disabled",
            IcMagnetError => "IC contact magnet error",
            CannotMoveToIc => "cannot move card to the IC position",
            ManuallyMoved => "card moved by hand",
            CounterOverflow => "reject-bin counter overflow",
            MotorError => "motor error",
            IcShortCircuit => "short circuit of the IC card supply",
            ActivationFailed => "card activation failed",
            ProtocolMismatch => "command not supported by the card's protocol",
            CardTimeout => "card did not answer in time",
            CardProtocolError => "card protocol error",
            CardNotActivated => "card not activated",
            NotSupportedByCard => "command not supported by the current card",
            TransmissionError => "IC card transmission error",
            TransmissionTimeout => "IC card transmission timeout",
            NotEmvCompliant => "card not EMV-compliant (use ISO 7816 activation)",
            StackerEmpty => "stacker empty",
            RejectBinFull => "reject bin full",
            NotReset => "not initialised since power-on",
            Other(_) => "unlisted error",
        };
        write!(f, "{} ({})", text, self.code())
    }
}

/// A condition of the machine an error reply reveals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// A card is stuck in the channel: a technician must clear it.
    Jam,
    /// Motor, sensor or contact-unit fault.
    Hardware,
    /// No blank cards left (缺卡).
    StackerEmpty,
    /// The reject bin is full (废卡箱满).
    RejectBinFull,
    /// The dispenser lost power and needs the initialise command.
    NotReset,
    /// The card at the IC station is faulty or did not answer.
    CardFault,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_listed_code_maps_both_ways() {
        for code in [
            "00", "01", "02", "03", "04", "05", "10", "12", "13", "14", "40", "41", "43", "45",
            "50", "51", "60", "61", "62", "63", "64", "65", "66", "67", "68", "69", "A0", "A1",
            "B0",
        ] {
            let bytes: [u8; 2] = code.as_bytes().try_into().unwrap();
            let e = ErrorCode::from_bytes(bytes);
            assert!(!matches!(e, ErrorCode::Other(_)), "{code} unmapped");
            assert_eq!(e.to_bytes(), bytes);
            assert_eq!(e.code(), code);
        }
        assert_eq!(ErrorCode::from_bytes(*b"10"), ErrorCode::CardJam);
        assert_eq!(
            ErrorCode::from_bytes(*b"A0").condition(),
            Some(Condition::StackerEmpty)
        );
        assert_eq!(
            ErrorCode::from_bytes(*b"A1").condition(),
            Some(Condition::RejectBinFull)
        );
        assert_eq!(ErrorCode::from_bytes(*b"B0"), ErrorCode::NotReset);
        assert_eq!(ErrorCode::from_bytes(*b"69"), ErrorCode::NotEmvCompliant);
        assert_eq!(ErrorCode::from_bytes(*b"99"), ErrorCode::Other(*b"99"));
        assert_eq!(ErrorCode::Other([0xFF, 0x00]).code(), "FF00");
    }

    #[test]
    fn status_bytes() {
        assert_eq!(
            Status::parse(*b"213"),
            Err(BadStatus {
                index: 2,
                value: b'3'
            })
        );
        assert_eq!(
            Status::parse(*b"x00"),
            Err(BadStatus {
                index: 0,
                value: b'x'
            })
        );
        let s = Status::parse(*b"201").unwrap();
        assert_eq!(s.card_position, CardPosition::Ic);
        assert_eq!(s.stacker, StackerLevel::Empty);
        assert!(s.reject_bin_full);
        assert_eq!(s.encode(), *b"201");
        assert_eq!(
            Sensors::parse(b"1010000").0,
            [true, false, true, false, false, false, false]
        );
        assert_eq!(
            Sensors::parse(b"1"),
            Sensors([true, false, false, false, false, false, false])
        );
    }

    proptest! {
        #[test]
        fn status_parse_never_panics_and_round_trips(st: [u8; 3]) {
            if let Ok(s) = Status::parse(st) {
                prop_assert_eq!(s.encode(), st);
            }
        }

        #[test]
        fn error_codes_round_trip(e: [u8; 2]) {
            prop_assert_eq!(ErrorCode::from_bytes(e).to_bytes(), e);
        }
    }
}
