//! A CRT-591 with an IC station and a stacker of blank SIMs, played on a pseudo-terminal.
//!
//! [`Device`] is the pure model: commands in, replies out, [`Action`]s (a customer taking
//! the card, a jam, an empty stacker…) applied between commands. [`Simulator`] runs it on
//! the master side of a [`devio::Pty`] at 9600 8N1 with the real handshake (ACK, reply,
//! host ACK; NAK → reply repeated), reusing the [`crate::frame`] codec.
//!
//! Each blank SIM has its own ICCID (Luhn-valid, `8986…`) and a small flat file system
//! (MF 3F00, EF_ICCID 2FE2, DF GSM 7F20, ADF 7FF0, EF_IMSI 6F07, EF_SPN 6F46, EF_ACC 6F78,
//! EF_AD 6FAD, EF_LOCI 6F7E) answering SELECT, GET RESPONSE, READ BINARY and UPDATE
//! BINARY; any other command (VERIFY ADM, proprietary key loading…) is accepted with 90 00.
//! Every APDU is recorded on the card so tests can check what was written.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::frame::{ACK, Command, Decoder, NAK, Reply, ReplyKind, Token};
use crate::protocol::cmd;
use crate::simcard::{Iccid, SimKind};
use crate::status::{CardPosition, ErrorCode, Sensors, StackerLevel, Status};

/// Firmware version the simulator reports.
pub const FIRMWARE: &str = "CRT-591-M001";

/// ATR of the simulated USIM (T=0).
pub const USIM_ATR: [u8; 20] = [
    0x3B, 0x9F, 0x95, 0x80, 0x1F, 0xC7, 0x80, 0x31, 0xE0, 0x73, 0xFE, 0x21, 0x13, 0x57, 0x86, 0x81,
    0x02, 0x86, 0x98, 0x44,
];
/// ATR of the simulated 2G SIM (T=0).
pub const GSM_ATR: [u8; 13] = [
    0x3B, 0x3B, 0x94, 0x00, 0x9B, 0x44, 0x20, 0x10, 0x0D, 0x64, 0x04, 0x09, 0x10,
];

/// Which kind of blank SIM fills the stacker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StockKind {
    /// All USIMs.
    #[default]
    Usim,
    /// All 2G SIMs.
    Gsm,
    /// USIM, 2G, USIM, …
    Alternate,
}

/// Settings of the simulated dispenser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// DIP-switch address.
    pub address: u8,
    /// Blank SIMs in the stacker at start.
    pub cards: usize,
    /// Kind of the blank SIMs.
    pub kind: StockKind,
    /// At or below this many cards the stacker reports "low".
    pub low_threshold: usize,
    /// Cards the reject bin holds.
    pub reject_capacity: usize,
    /// How long a card move takes.
    pub move_time: Duration,
    /// True: the device starts initialised (as after a previous session); false: it needs
    /// the initialise command first, like after power-on.
    pub initialised: bool,
    /// Serial number of the first card's ICCID (`8986 00 …`).
    pub first_serial: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            address: 0,
            cards: 20,
            kind: StockKind::Usim,
            low_threshold: 5,
            reject_capacity: 50,
            move_time: Duration::from_millis(50),
            initialised: false,
            first_serial: 1,
        }
    }
}

/// Something that happens at the simulated dispenser.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// The customer takes the card from the gate.
    Take,
    /// The channel jams: every move (and initialise) fails with "10" until cleared.
    Jam,
    /// A technician clears the jam.
    ClearJam,
    /// The stacker is refilled (or emptied) to this many blank cards.
    Stacker(usize),
    /// The reject bin becomes full.
    RejectFull,
    /// The reject bin is emptied.
    RejectEmpty,
    /// The card at the IC station (or the next one dispensed) answers its `step`-th APDU
    /// after cold reset (from 1) with this status word.
    FailApdu {
        /// APDU number since cold reset, from 1.
        step: u32,
        /// Status word to answer with.
        sw: [u8; 2],
    },
    /// NAK the next `n` commands.
    Nak(u32),
    /// Ignore the next `n` commands entirely (no ACK).
    Silent(u32),
    /// Send the next `n` replies with a wrong BCC first (the host NAKs; the good reply
    /// follows, manual §1.4.2 case 3).
    CorruptReply(u32),
    /// Power cycle: the device needs initialising again.
    PowerCycle,
}

/// Parses one control line: `take`, `jam`, `clear-jam`, `stacker N`, `reject-full`,
/// `reject-empty`, `fail-apdu STEP SW` (SW as 4 hex digits), `nak N`, `silent N`, `corrupt N`,
/// `power-cycle`. Blank lines and `#` comments give `Ok(None)`. (`status` and `wait` are
/// handled by the caller.)
pub fn parse_line(line: &str) -> Result<Option<Action>, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    let mut words = line.split_whitespace();
    let Some(verb) = words.next() else {
        return Ok(None);
    };
    let args: Vec<&str> = words.collect();
    let num = |i: usize| -> Result<u32, String> {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("`{verb}` needs a whole number"))
    };
    let action = match verb {
        "take" => Action::Take,
        "jam" => Action::Jam,
        "clear-jam" => Action::ClearJam,
        "stacker" => Action::Stacker(usize::try_from(num(0)?).map_err(|e| e.to_string())?),
        "reject-full" => Action::RejectFull,
        "reject-empty" => Action::RejectEmpty,
        "fail-apdu" => {
            let step = num(0)?;
            let sw = args
                .get(1)
                .map(|s| s.replace(' ', ""))
                .filter(|s| s.len() == 4)
                .and_then(|s| u16::from_str_radix(&s, 16).ok())
                .ok_or("`fail-apdu` needs a status word like 6A82")?;
            Action::FailApdu {
                step,
                sw: sw.to_be_bytes(),
            }
        }
        "nak" => Action::Nak(num(0)?),
        "silent" => Action::Silent(num(0)?),
        "corrupt" => Action::CorruptReply(num(0)?),
        "power-cycle" => Action::PowerCycle,
        other => return Err(format!("unknown control `{other}`")),
    };
    Ok(Some(action))
}

/// Builds the ICCID of blank card number `serial`: `898600` + 13-digit serial + Luhn digit.
pub fn iccid_for(serial: u64) -> Iccid {
    Iccid::with_check_digit(&format!("898600{:013}", serial % 10_000_000_000_000))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Df,
    Ef,
}

/// A simulated blank SIM.
#[derive(Debug, Clone)]
pub struct SimCard {
    /// Its ICCID.
    pub iccid: Iccid,
    /// USIM or 2G.
    pub kind: SimKind,
    /// Every APDU the card received, in order.
    pub apdus: Vec<Vec<u8>>,
    /// Every UPDATE BINARY: (file id, offset, data).
    pub writes: Vec<(u16, u16, Vec<u8>)>,
    files: BTreeMap<u16, (FileKind, Vec<u8>)>,
    selected: u16,
    pending: Vec<u8>,
    powered: bool,
    since_reset: u32,
    fail: Option<(u32, [u8; 2])>,
}

impl SimCard {
    /// A blank card with its file system.
    pub fn blank(iccid: Iccid, kind: SimKind) -> Self {
        let mut files = BTreeMap::new();
        files.insert(0x3F00, (FileKind::Df, Vec::new()));
        files.insert(0x7F20, (FileKind::Df, Vec::new()));
        files.insert(0x7FF0, (FileKind::Df, Vec::new()));
        files.insert(0x2FE2, (FileKind::Ef, iccid.to_ef().to_vec()));
        files.insert(0x6F07, (FileKind::Ef, vec![0xFF; 9]));
        files.insert(0x6F46, (FileKind::Ef, vec![0xFF; 17]));
        files.insert(0x6F78, (FileKind::Ef, vec![0xFF; 2]));
        files.insert(0x6FAD, (FileKind::Ef, vec![0x00; 4]));
        files.insert(0x6F7E, (FileKind::Ef, vec![0xFF; 11]));
        Self {
            iccid,
            kind,
            apdus: Vec::new(),
            writes: Vec::new(),
            files,
            selected: 0x3F00,
            pending: Vec::new(),
            powered: false,
            since_reset: 0,
            fail: None,
        }
    }

    /// Current content of a transparent EF.
    pub fn file(&self, fid: u16) -> Option<&[u8]> {
        self.files.get(&fid).map(|(_, d)| d.as_slice())
    }

    fn atr(&self) -> Vec<u8> {
        match self.kind {
            SimKind::Usim => USIM_ATR.to_vec(),
            SimKind::Gsm => GSM_ATR.to_vec(),
        }
    }

    fn reset(&mut self) {
        self.powered = true;
        self.since_reset = 0;
        self.selected = 0x3F00;
        self.pending.clear();
    }

    /// Answers one command APDU (T=0 semantics: `61 xx` / `9F xx` announce response data).
    pub fn apdu(&mut self, c: &[u8]) -> Vec<u8> {
        self.apdus.push(c.to_vec());
        self.since_reset += 1;
        if let Some((step, sw)) = self.fail
            && step == self.since_reset
        {
            return sw.to_vec();
        }
        let [cla, ins, p1, p2] = match c {
            [a, b, d, e, ..] => [*a, *b, *d, *e],
            _ => return vec![0x67, 0x00],
        };
        let gsm = self.kind == SimKind::Gsm;
        let class_ok = match self.kind {
            SimKind::Usim => cla & 0xF0 == 0x00 || cla & 0xF0 == 0x80,
            SimKind::Gsm => cla == 0xA0,
        };
        if !class_ok {
            return vec![0x6E, 0x00];
        }
        let p3 = c.get(4).copied().unwrap_or(0);
        let body = c.get(5..).unwrap_or_default();
        match ins {
            0xA4 => {
                let fid = match body {
                    [h, l, ..] => u16::from_be_bytes([*h, *l]),
                    _ => return vec![0x67, 0x00],
                };
                let Some((kind, data)) = self.files.get(&fid) else {
                    return if gsm {
                        vec![0x94, 0x04]
                    } else {
                        vec![0x6A, 0x82]
                    };
                };
                self.selected = fid;
                let size = u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes();
                let [fh, fl] = fid.to_be_bytes();
                self.pending = if gsm {
                    // GSM 11.11 response: RFU, size, file id, type, …
                    let t = if *kind == FileKind::Df { 0x02 } else { 0x04 };
                    let mut r = vec![0x00, 0x00, size[0], size[1], fh, fl, t];
                    r.resize(if *kind == FileKind::Df { 0x16 } else { 0x0F }, 0x00);
                    r
                } else {
                    // FCP template: 62 L 82 (descriptor) 83 (file id) 80 (size)
                    let desc = if *kind == FileKind::Df { 0x38 } else { 0x41 };
                    vec![
                        0x62, 0x0C, 0x82, 0x02, desc, 0x21, 0x83, 0x02, fh, fl, 0x80, 0x02,
                        size[0], size[1],
                    ]
                };
                let n = u8::try_from(self.pending.len()).unwrap_or(u8::MAX);
                if gsm { vec![0x9F, n] } else { vec![0x61, n] }
            }
            0xC0 => {
                if self.pending.is_empty() {
                    return if gsm {
                        vec![0x94, 0x00]
                    } else {
                        vec![0x6F, 0x00]
                    };
                }
                let have = self.pending.len();
                let want = if p3 == 0 { 256 } else { usize::from(p3) };
                if want > have {
                    return vec![0x6C, u8::try_from(have).unwrap_or(0)];
                }
                let mut r: Vec<u8> = self.pending.drain(..want).collect();
                r.extend_from_slice(&[0x90, 0x00]);
                r
            }
            0xB0 => {
                let Some((FileKind::Ef, data)) = self.files.get(&self.selected) else {
                    return if gsm {
                        vec![0x94, 0x00]
                    } else {
                        vec![0x69, 0x86]
                    };
                };
                let offset = usize::from(u16::from_be_bytes([p1 & 0x7F, p2]));
                let rest = data.len().saturating_sub(offset);
                let want = if p3 == 0 { 256 } else { usize::from(p3) };
                if offset > data.len() {
                    return if gsm {
                        vec![0x94, 0x02]
                    } else {
                        vec![0x6B, 0x00]
                    };
                }
                if want > rest {
                    return if gsm {
                        vec![0x67, u8::try_from(rest).unwrap_or(0)]
                    } else {
                        vec![0x6C, u8::try_from(rest).unwrap_or(0)]
                    };
                }
                let mut r = data.get(offset..offset + want).unwrap_or_default().to_vec();
                r.extend_from_slice(&[0x90, 0x00]);
                r
            }
            0xD6 => {
                let fid = self.selected;
                if fid == 0x2FE2 {
                    // The ICCID is set by the card manufacturer.
                    return if gsm {
                        vec![0x98, 0x04]
                    } else {
                        vec![0x69, 0x82]
                    };
                }
                let Some((FileKind::Ef, data)) = self.files.get_mut(&fid) else {
                    return if gsm {
                        vec![0x94, 0x00]
                    } else {
                        vec![0x69, 0x86]
                    };
                };
                let offset = u16::from_be_bytes([p1 & 0x7F, p2]);
                let at = usize::from(offset);
                let payload = body.get(..usize::from(p3)).unwrap_or(body);
                if data.len() < at + payload.len() {
                    data.resize(at + payload.len(), 0xFF);
                }
                if let Some(dst) = data.get_mut(at..at + payload.len()) {
                    dst.copy_from_slice(payload);
                }
                self.writes.push((fid, offset, payload.to_vec()));
                vec![0x90, 0x00]
            }
            // VERIFY, key loading and any other personalisation command.
            _ => vec![0x90, 0x00],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Holding,
    Ic,
    Gate,
}

/// The pure model of the dispenser.
#[derive(Debug)]
pub struct Device {
    config: SimConfig,
    initialised: bool,
    stacker: VecDeque<SimCard>,
    channel: Option<(Place, SimCard)>,
    /// Cards in the reject bin, with everything they received.
    pub reject_bin: Vec<SimCard>,
    /// Cards the customer took.
    pub taken: Vec<SimCard>,
    reject_counter: u16,
    gate_entry: bool,
    jammed: bool,
    fail_next: Option<(u32, [u8; 2])>,
    next_serial: u64,
    dispensed: usize,
    nak: u32,
    silent: u32,
    corrupt: u32,
    /// Host ACKs received for replies.
    pub host_acks: u32,
    /// Host NAKs received for replies (each answered by sending the reply again).
    pub host_naks: u32,
    /// Commands received (valid frames for this address).
    pub commands: u32,
}

impl Device {
    /// A dispenser filled with `config.cards` blank SIMs.
    pub fn new(config: SimConfig) -> Self {
        let mut d = Self {
            initialised: config.initialised,
            stacker: VecDeque::new(),
            channel: None,
            reject_bin: Vec::new(),
            taken: Vec::new(),
            reject_counter: 0,
            gate_entry: false,
            jammed: false,
            fail_next: None,
            next_serial: config.first_serial,
            dispensed: 0,
            nak: 0,
            silent: 0,
            corrupt: 0,
            host_acks: 0,
            host_naks: 0,
            commands: 0,
            config,
        };
        d.refill(d.config.cards);
        d
    }

    fn refill(&mut self, n: usize) {
        self.stacker.clear();
        for i in 0..n {
            let kind = match self.config.kind {
                StockKind::Usim => SimKind::Usim,
                StockKind::Gsm => SimKind::Gsm,
                StockKind::Alternate if i % 2 == 0 => SimKind::Usim,
                StockKind::Alternate => SimKind::Gsm,
            };
            self.stacker
                .push_back(SimCard::blank(iccid_for(self.next_serial), kind));
            self.next_serial += 1;
        }
    }

    /// The card in the channel, if any.
    pub fn card_in_channel(&self) -> Option<&SimCard> {
        self.channel.as_ref().map(|(_, c)| c)
    }

    /// Cards left in the stacker.
    pub fn stacker_count(&self) -> usize {
        self.stacker.len()
    }

    /// The three status bytes.
    pub fn status(&self) -> Status {
        let n = self.stacker.len();
        Status {
            card_position: match self.channel {
                None => CardPosition::None,
                Some((Place::Gate, _)) => CardPosition::Gate,
                Some(_) => CardPosition::Ic,
            },
            stacker: if n == 0 {
                StackerLevel::Empty
            } else if n <= self.config.low_threshold {
                StackerLevel::Low
            } else {
                StackerLevel::Enough
            },
            reject_bin_full: self.reject_bin.len() >= self.config.reject_capacity,
        }
    }

    fn sensors(&self) -> Sensors {
        // S1 gate, S2–S3 channel front, S4–S5 IC station, S6 holding, S7 stacker.
        let mut s = [false; 7];
        match self.channel {
            Some((Place::Gate, _)) => {
                s[0] = true;
                s[1] = true;
            }
            Some((Place::Ic, _)) => {
                s[3] = true;
                s[4] = true;
            }
            Some((Place::Holding, _)) => s[5] = true,
            None => {}
        }
        s[6] = !self.stacker.is_empty();
        Sensors(s)
    }

    /// One line describing the state (for `status` on the simulator's console).
    pub fn summary(&self) -> String {
        let s = self.status();
        format!(
            "initialised={} stacker={} ({}) card={} reject_bin={}/{} counter={} jammed={} taken={}",
            self.initialised,
            self.stacker.len(),
            s.stacker.as_str(),
            s.card_position.as_str(),
            self.reject_bin.len(),
            self.config.reject_capacity,
            self.reject_counter,
            self.jammed,
            self.taken.len(),
        )
    }

    /// Applies a scripted event.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Take => {
                if let Some((Place::Gate, card)) = self.channel.take() {
                    self.taken.push(card);
                } else if let Some(other) = self.channel.take() {
                    self.channel = Some(other);
                }
            }
            Action::Jam => self.jammed = true,
            Action::ClearJam => self.jammed = false,
            Action::Stacker(n) => self.refill(n),
            Action::RejectFull => {
                while self.reject_bin.len() < self.config.reject_capacity {
                    let card = SimCard::blank(iccid_for(0), SimKind::Usim);
                    self.reject_bin.push(card);
                }
            }
            Action::RejectEmpty => self.reject_bin.clear(),
            Action::FailApdu { step, sw } => match self.channel.as_mut() {
                Some((Place::Ic, card)) => card.fail = Some((step, sw)),
                _ => self.fail_next = Some((step, sw)),
            },
            Action::Nak(n) => self.nak = n,
            Action::Silent(n) => self.silent = n,
            Action::CorruptReply(n) => self.corrupt = n,
            Action::PowerCycle => {
                self.initialised = false;
                if let Some((_, card)) = self.channel.as_mut() {
                    card.powered = false;
                }
            }
        }
    }

    fn positive(&self, c: &Command, data: Vec<u8>) -> Reply {
        Reply {
            addr: self.config.address,
            cm: c.cm,
            pm: c.pm,
            kind: ReplyKind::Positive {
                st: self.status().encode(),
            },
            data,
        }
    }

    fn negative(&self, c: &Command, code: ErrorCode, data: Vec<u8>) -> Reply {
        Reply {
            addr: self.config.address,
            cm: c.cm,
            pm: c.pm,
            kind: ReplyKind::Negative { e: code.to_bytes() },
            data,
        }
    }

    fn pick(&mut self) -> Option<SimCard> {
        let mut card = self.stacker.pop_front()?;
        if let Some(f) = self.fail_next.take() {
            card.fail = Some(f);
        }
        self.dispensed += 1;
        Some(card)
    }

    fn capture(&mut self, count: bool) -> Result<(), ErrorCode> {
        if let Some((_, card)) = self.channel.take() {
            if self.reject_bin.len() >= self.config.reject_capacity {
                self.channel = Some((Place::Holding, card));
                return Err(ErrorCode::RejectBinFull);
            }
            self.reject_bin.push(card);
            if count {
                if self.reject_counter >= 999 {
                    return Err(ErrorCode::CounterOverflow);
                }
                self.reject_counter += 1;
            }
        }
        Ok(())
    }

    fn move_to(&mut self, place: Place) -> Result<(), ErrorCode> {
        if self.jammed {
            return Err(ErrorCode::CardJam);
        }
        match self.channel.take() {
            Some((_, mut card)) => {
                if place != Place::Ic {
                    card.powered = false;
                }
                self.channel = Some((place, card));
            }
            None => {
                let card = self.pick().ok_or(ErrorCode::StackerEmpty)?;
                self.channel = Some((place, card));
            }
        }
        Ok(())
    }

    /// Whether a command makes the card move (the simulator then takes `move_time`).
    pub fn is_move(c: &Command) -> bool {
        matches!(c.cm, cmd::INIT | cmd::MOVE)
    }

    /// Executes one command and returns the reply.
    pub fn handle(&mut self, c: &Command) -> Reply {
        if c.cm != cmd::INIT && !self.initialised {
            return self.negative(c, ErrorCode::NotReset, Vec::new());
        }
        let result: Result<Vec<u8>, ErrorCode> = match (c.cm, c.pm) {
            (cmd::INIT, pm @ (0x30 | 0x31 | 0x33 | 0x34 | 0x35 | 0x37)) => {
                if self.jammed {
                    Err(ErrorCode::CardJam)
                } else {
                    let count = pm >= 0x34;
                    let r = match pm & 0x33 {
                        0x30 => match self.channel.take() {
                            Some((_, mut card)) => {
                                card.powered = false;
                                self.channel = Some((Place::Gate, card));
                                Ok(())
                            }
                            None => Ok(()),
                        },
                        0x31 => self.capture(count),
                        _ => Ok(()),
                    };
                    r.map(|()| {
                        self.initialised = true;
                        self.gate_entry = false;
                        FIRMWARE.as_bytes().to_vec()
                    })
                }
            }
            (cmd::INIT, _) => Err(ErrorCode::ParameterError),
            (cmd::STATUS, 0x30) => Ok(Vec::new()),
            (cmd::STATUS, 0x31) => Ok(self.sensors().encode().to_vec()),
            (cmd::MOVE, 0x30) => self.move_to(Place::Holding).map(|()| Vec::new()),
            (cmd::MOVE, 0x31 | 0x32) => self.move_to(Place::Ic).map(|()| Vec::new()),
            (cmd::MOVE, 0x33) => {
                if self.jammed {
                    Err(ErrorCode::CardJam)
                } else {
                    self.capture(true).map(|()| Vec::new())
                }
            }
            (cmd::MOVE, 0x39) => self.move_to(Place::Gate).map(|()| Vec::new()),
            (cmd::ENTRY, pm @ (0x30 | 0x31)) => {
                self.gate_entry = pm == 0x30;
                Ok(Vec::new())
            }
            (cmd::CPU, _) => return self.cpu(c),
            (cmd::VERSION, 0x30) => Ok(FIRMWARE.as_bytes().to_vec()),
            (cmd::REJECT_COUNTER, 0x30) => Ok(format!("{:03}", self.reject_counter).into_bytes()),
            (cmd::REJECT_COUNTER, 0x31) => match c.data.as_slice() {
                d @ [a, b, e] if d.iter().all(u8::is_ascii_digit) => {
                    self.reject_counter = [a, b, e]
                        .iter()
                        .fold(0, |acc, x| acc * 10 + u16::from(**x - b'0'));
                    Ok(Vec::new())
                }
                _ => Err(ErrorCode::ParameterError),
            },
            (cmd::STATUS | cmd::MOVE | cmd::ENTRY | cmd::VERSION | cmd::REJECT_COUNTER, _) => {
                Err(ErrorCode::ParameterError)
            }
            _ => Err(ErrorCode::UndefinedCommand),
        };
        match result {
            Ok(data) => self.positive(c, data),
            Err(code) => self.negative(c, code, Vec::new()),
        }
    }

    fn cpu(&mut self, c: &Command) -> Reply {
        let card = match self.channel.as_mut() {
            Some((Place::Ic, card)) => card,
            _ => {
                let code = match c.pm {
                    cmd::CPU_COLD_RESET => ErrorCode::ActivationFailed,
                    _ => ErrorCode::CardNotActivated,
                };
                return self.negative(c, code, Vec::new());
            }
        };
        let result: Result<Vec<u8>, (ErrorCode, Vec<u8>)> = match c.pm {
            cmd::CPU_COLD_RESET => {
                let vcc = c.data.first().copied().unwrap_or(0x30);
                let mut data = vec![0x30];
                data.extend_from_slice(&card.atr());
                match vcc {
                    // A SIM's ATR is not EMV-compliant: refused in EMV mode (manual §3.2.1).
                    0x30 => {
                        card.powered = false;
                        Err((ErrorCode::NotEmvCompliant, data))
                    }
                    0x33 | 0x35 => {
                        card.reset();
                        Ok(data)
                    }
                    _ => Err((ErrorCode::ParameterError, Vec::new())),
                }
            }
            cmd::CPU_WARM_RESET if card.powered => {
                card.reset();
                let mut data = vec![0x30];
                data.extend_from_slice(&card.atr());
                Ok(data)
            }
            cmd::CPU_POWER_OFF => {
                card.powered = false;
                Ok(Vec::new())
            }
            cmd::CPU_STATUS => Ok(vec![if card.powered { 0x31 } else { 0x30 }]),
            cmd::CPU_APDU_T0 | cmd::CPU_APDU_AUTO if card.powered => {
                if c.data.len() < 4 || c.data.len() > 261 {
                    Err((ErrorCode::CommandDataError, Vec::new()))
                } else {
                    Ok(card.apdu(&c.data))
                }
            }
            // Our SIMs are T=0 cards.
            cmd::CPU_APDU_T1 if card.powered => Err((ErrorCode::ProtocolMismatch, Vec::new())),
            cmd::CPU_WARM_RESET | cmd::CPU_APDU_T0 | cmd::CPU_APDU_T1 | cmd::CPU_APDU_AUTO => {
                Err((ErrorCode::CardNotActivated, Vec::new()))
            }
            _ => Err((ErrorCode::ParameterError, Vec::new())),
        };
        match result {
            Ok(data) => self.positive(c, data),
            Err((code, data)) => self.negative(c, code, data),
        }
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Simulator {
    path: PathBuf,
    device: Arc<Mutex<Device>>,
    task: tokio::task::JoinHandle<()>,
}

/// Line settings of the CRT-591 (as the simulator plays it): 9600 8N1.
pub fn line_settings() -> devio::LineSettings {
    devio::LineSettings::n81(9600)
}

impl Simulator {
    /// Creates the pseudo-terminal and starts playing the device as a task on the current
    /// Tokio runtime (call it from within one).
    pub fn start(config: SimConfig) -> Result<Self, devio::Error> {
        let pty = devio::Pty::new(line_settings())?;
        let path = pty.path().to_owned();
        let move_time = config.move_time;
        let address = config.address;
        let device = Arc::new(Mutex::new(Device::new(config)));
        let (port, guard) = pty.into_parts();
        let task = tokio::spawn(serve(port, guard, Arc::clone(&device), address, move_time));
        Ok(Self { path, device, task })
    }

    /// What the driver opens.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The device model (for inspection by tests and the console).
    pub fn device(&self) -> MutexGuard<'_, Device> {
        lock(&self.device)
    }

    /// Applies a scripted event.
    pub fn apply(&self, action: Action) {
        lock(&self.device).apply(action);
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(d: &Mutex<Device>) -> MutexGuard<'_, Device> {
    d.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn serve(
    mut port: devio::SerialStream,
    _guard: devio::SlaveGuard,
    device: Arc<Mutex<Device>>,
    address: u8,
    move_time: Duration,
) {
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; 1100];
    let mut last_reply: Option<Vec<u8>> = None;
    loop {
        let n = match port.read(&mut buf).await {
            Ok(0) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::TimedOut
                    || e.kind() == std::io::ErrorKind::WouldBlock =>
            {
                continue;
            }
            Err(e) => {
                // EIO: no process has the slave open right now; wait for the next one.
                tracing::trace!(%e, "simulator read");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        decoder.push(buf.get(..n).unwrap_or_default());
        while let Some(token) = decoder.next_token() {
            let out = match token {
                Token::Ack => {
                    if last_reply.take().is_some() {
                        lock(&device).host_acks += 1;
                    }
                    continue;
                }
                Token::Nak => match &last_reply {
                    Some(r) => {
                        lock(&device).host_naks += 1;
                        r.clone()
                    }
                    None => continue,
                },
                Token::Eot => {
                    last_reply = None;
                    continue;
                }
                Token::Corrupt => vec![NAK],
                Token::Frame(raw) => {
                    if raw.addr != address {
                        continue;
                    }
                    let Ok(command) = raw.command() else {
                        if port.write_all(&[NAK]).await.is_err() {
                            return;
                        }
                        continue;
                    };
                    let (ack, reply, moves, corrupt) = {
                        let mut d = lock(&device);
                        if d.silent > 0 {
                            d.silent -= 1;
                            continue;
                        }
                        if d.nak > 0 {
                            d.nak -= 1;
                            (false, None, false, false)
                        } else {
                            d.commands += 1;
                            let corrupt = d.corrupt > 0;
                            d.corrupt = d.corrupt.saturating_sub(1);
                            (
                                true,
                                Some(d.handle(&command).encode()),
                                Device::is_move(&command),
                                corrupt,
                            )
                        }
                    };
                    if !ack {
                        vec![NAK]
                    } else {
                        if port.write_all(&[ACK]).await.is_err() {
                            return;
                        }
                        let _ = port.flush().await;
                        tokio::time::sleep(if moves {
                            move_time
                        } else {
                            Duration::from_millis(5)
                        })
                        .await;
                        last_reply = reply.clone();
                        let mut out = reply.unwrap_or_default();
                        if corrupt && let Some(bcc) = out.last_mut() {
                            *bcc ^= 0x5A;
                        }
                        out
                    }
                }
            };
            if port.write_all(&out).await.is_err() {
                return;
            }
            let _ = port.flush().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    fn init(d: &mut Device) -> Reply {
        d.handle(&Command::new(0, 0x30, 0x33))
    }

    #[test]
    fn needs_init_after_power_on() {
        let mut d = Device::new(SimConfig::default());
        let r = d.handle(&Command::new(0, 0x31, 0x30));
        assert_eq!(r.kind, ReplyKind::Negative { e: *b"B0" });
        let r = init(&mut d);
        assert_eq!(r.kind, ReplyKind::Positive { st: *b"020" });
        assert_eq!(r.data, FIRMWARE.as_bytes());
        assert_eq!(
            d.handle(&Command::new(0, 0x31, 0x30)).kind,
            ReplyKind::Positive { st: *b"020" }
        );
    }

    #[test]
    fn iccids_are_luhn_valid_and_distinct() {
        let a = iccid_for(1);
        let b = iccid_for(2);
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 20);
        assert!(a.as_str().starts_with("898600"));
    }

    #[test]
    fn emv_cold_reset_of_a_sim_is_refused_with_69() {
        let mut d = Device::new(SimConfig::default());
        init(&mut d);
        d.handle(&Command::new(0, 0x32, 0x31));
        let r = d.handle(&Command::with_data(0, 0x51, 0x30, [0x30]));
        assert_eq!(r.kind, ReplyKind::Negative { e: *b"69" });
        let r = d.handle(&Command::with_data(
            0,
            0x51,
            0x39,
            hex!("00 A4 00 00 02 3F 00"),
        ));
        assert_eq!(r.kind, ReplyKind::Negative { e: *b"65" });
        let r = d.handle(&Command::with_data(0, 0x51, 0x30, [0x35]));
        assert!(matches!(r.kind, ReplyKind::Positive { .. }));
        assert_eq!(r.data.first(), Some(&0x30));
    }

    #[test]
    fn stacker_and_reject_bin_conditions() {
        let mut d = Device::new(SimConfig {
            cards: 1,
            ..SimConfig::default()
        });
        init(&mut d);
        assert_eq!(d.status().stacker, StackerLevel::Low);
        d.handle(&Command::new(0, 0x32, 0x31));
        assert_eq!(d.status().stacker, StackerLevel::Empty);
        d.apply(Action::RejectFull);
        assert_eq!(
            d.handle(&Command::new(0, 0x32, 0x33)).kind,
            ReplyKind::Negative { e: *b"A1" }
        );
        d.apply(Action::RejectEmpty);
        assert!(matches!(
            d.handle(&Command::new(0, 0x32, 0x33)).kind,
            ReplyKind::Positive { .. }
        ));
        assert_eq!(
            d.handle(&Command::new(0, 0x32, 0x31)).kind,
            ReplyKind::Negative { e: *b"A0" }
        );
        d.apply(Action::Jam);
        assert_eq!(
            d.handle(&Command::new(0, 0x32, 0x39)).kind,
            ReplyKind::Negative { e: *b"10" }
        );
        assert_eq!(d.handle(&Command::new(0, 0xA5, 0x30)).data, b"001");
    }

    #[test]
    fn control_lines() {
        assert_eq!(parse_line("take").unwrap(), Some(Action::Take));
        assert_eq!(parse_line("  # comment").unwrap(), None);
        assert_eq!(parse_line("stacker 3").unwrap(), Some(Action::Stacker(3)));
        assert_eq!(
            parse_line("fail-apdu 4 6A82").unwrap(),
            Some(Action::FailApdu {
                step: 4,
                sw: [0x6A, 0x82]
            })
        );
        assert!(parse_line("fail-apdu 4").is_err());
        assert!(parse_line("stacker x").is_err());
        assert!(parse_line("dance").is_err());
    }
}
