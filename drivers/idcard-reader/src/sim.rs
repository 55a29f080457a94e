//! Reader simulator: plays the reader's side of the SAM_V protocol with the same codec,
//! over a [`devio::Pty`] at 115200 8N1.
//!
//! Cards come from fixture files (`fixtures/*.json`, built in, or any directory) with
//! synthetic identities. A card can be put on the reader and taken off, and faults
//! injected: corrupted replies, SAM failure, read failure, card rejected, silence.
//!
//! Like a real reader, a card that has been read is halted: find fails until the card is
//! taken off and put back ([`ReaderSim::set_halt_after_read`] turns this off to model a
//! reader that keeps finding the same card, which the driver must then not read twice).

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::card::{FINGERPRINT_LEN, Fingerprint, PHOTO_LEN, Photo, ReadPayload, TextBlock};
use crate::frame::{Command, FrameDecoder, FrameError, Reply, Status};
use crate::text::{
    Address, CardKind, CardText, DocumentNumber, ForeignPermanent2017Text,
    ForeignPermanent2023Text, HmtResidenceText, Nation, PersonName, ResidentText, Sex, TextError,
    ValidTo, parse_card_date,
};

/// The fixtures shipped with the crate (`fixtures/*.json`).
pub const BUILTIN_FIXTURES: &[(&str, &str)] = &[
    ("resident", include_str!("../fixtures/resident.json")),
    (
        "resident_long_term",
        include_str!("../fixtures/resident_long_term.json"),
    ),
    (
        "resident_expired",
        include_str!("../fixtures/resident_expired.json"),
    ),
    (
        "resident_minor",
        include_str!("../fixtures/resident_minor.json"),
    ),
    (
        "resident_bad_check_digit",
        include_str!("../fixtures/resident_bad_check_digit.json"),
    ),
    (
        "applicant_limit",
        include_str!("../fixtures/applicant_limit.json"),
    ),
    (
        "applicant_blacklisted",
        include_str!("../fixtures/applicant_blacklisted.json"),
    ),
    (
        "applicant_lent",
        include_str!("../fixtures/applicant_lent.json"),
    ),
    (
        "hmt_residence",
        include_str!("../fixtures/hmt_residence.json"),
    ),
    (
        "foreign_permanent_2017",
        include_str!("../fixtures/foreign_permanent_2017.json"),
    ),
    (
        "foreign_permanent_2023",
        include_str!("../fixtures/foreign_permanent_2023.json"),
    ),
];

/// A fixture file: one synthetic card. Field strings are what the card holds
/// (dates `YYYYMMDD`, valid-to may be `长期`, sex and nation codes).
/// `Debug` leaves out the personal fields.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Name used by `place <name>`.
    pub name: String,
    /// What the fixture is for (shown by `list`).
    #[serde(default)]
    pub description: String,
    /// Card type.
    pub card_type: CardKind,
    /// Text fields.
    pub fields: FixtureFields,
    /// Whether the card carries fingerprint data.
    #[serde(default)]
    pub fingerprint: bool,
    /// Newest address page (`30 03`), if any.
    #[serde(default)]
    pub new_address: Option<String>,
    /// ASCII written at the start of the synthetic photo: a marker the operator simulator
    /// reads (`NOMATCH`: the face on the chip is not the person before the camera).
    #[serde(default)]
    pub photo_marker: Option<String>,
}

/// Text fields of a fixture; which ones are required depends on the card type.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct FixtureFields {
    pub name: Option<String>,
    pub english_name: Option<String>,
    pub chinese_name: Option<String>,
    pub sex: Option<String>,
    pub nation: Option<String>,
    pub birth: Option<String>,
    pub address: Option<String>,
    pub id_number: Option<String>,
    pub permit_number: Option<String>,
    pub authority: Option<String>,
    pub authority_code: Option<String>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub pass_number: Option<String>,
    pub issue_count: Option<String>,
    pub renewal_count: Option<String>,
    pub nationality: Option<String>,
    pub version: Option<String>,
    pub previous_number_link: Option<String>,
}

impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture")
            .field("name", &self.name)
            .field("card_type", &self.card_type)
            .field("fingerprint", &self.fingerprint)
            .field("new_address", &self.new_address.is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for FixtureFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FixtureFields(<personal data>)")
    }
}

/// Problems loading fixtures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// Reading a fixture file failed.
    #[error("fixture {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The JSON is malformed.
    #[error("fixture {name}: {source}")]
    Json {
        /// File or fixture name.
        name: String,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// A field the card type needs is missing.
    #[error("fixture {name}: missing field {field}")]
    MissingField {
        /// Fixture name.
        name: String,
        /// Field.
        field: &'static str,
    },
    /// A field does not fit the card layout.
    #[error("fixture {name}: {source}")]
    Text {
        /// Fixture name.
        name: String,
        /// Cause.
        #[source]
        source: TextError,
    },
}

impl Fixture {
    /// Parses fixture JSON.
    pub fn from_json(name: &str, json: &str) -> Result<Self, FixtureError> {
        serde_json::from_str(json).map_err(|source| FixtureError::Json {
            name: name.to_owned(),
            source,
        })
    }

    /// Builds the card's text.
    pub fn card_text(&self) -> Result<CardText, FixtureError> {
        let f = &self.fields;
        let name = self.name.clone();
        let req = |v: &Option<String>, field: &'static str| {
            v.clone().ok_or_else(|| FixtureError::MissingField {
                name: name.clone(),
                field,
            })
        };
        let text_err = |source| FixtureError::Text {
            name: self.name.clone(),
            source,
        };
        let date = |v: &Option<String>, field: &'static str| -> Result<_, FixtureError> {
            parse_card_date(&req(v, field)?, field).map_err(text_err)
        };
        let valid_to = |v: &Option<String>| -> Result<ValidTo, FixtureError> {
            let s = req(v, "valid_to")?;
            if s == "长期" {
                Ok(ValidTo::LongTerm)
            } else {
                parse_card_date(&s, "valid_to")
                    .map(ValidTo::Date)
                    .map_err(text_err)
            }
        };
        let sex = Sex::from_code(&req(&f.sex, "sex")?).map_err(text_err)?;
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let text = match self.card_type {
            CardKind::Resident => CardText::Resident(ResidentText {
                name: PersonName::new(req(&f.name, "name")?),
                sex,
                nation: Nation::from_code(&req(&f.nation, "nation")?).map_err(text_err)?,
                birth: date(&f.birth, "birth")?,
                address: Address::new(req(&f.address, "address")?),
                id_number: DocumentNumber::new(req(&f.id_number, "id_number")?),
                authority: req(&f.authority, "authority")?,
                valid_from: date(&f.valid_from, "valid_from")?,
                valid_to: valid_to(&f.valid_to)?,
            }),
            CardKind::HmtResidence => CardText::HmtResidence(HmtResidenceText {
                name: PersonName::new(req(&f.name, "name")?),
                sex,
                birth: date(&f.birth, "birth")?,
                address: Address::new(req(&f.address, "address")?),
                id_number: DocumentNumber::new(req(&f.id_number, "id_number")?),
                authority: req(&f.authority, "authority")?,
                valid_from: date(&f.valid_from, "valid_from")?,
                valid_to: valid_to(&f.valid_to)?,
                pass_number: DocumentNumber::new(req(&f.pass_number, "pass_number")?),
                issue_count: req(&f.issue_count, "issue_count")?,
            }),
            CardKind::ForeignPermanent2017 => {
                CardText::ForeignPermanent2017(ForeignPermanent2017Text {
                    english_name: PersonName::new(req(&f.english_name, "english_name")?),
                    sex,
                    permit_number: DocumentNumber::new(req(&f.permit_number, "permit_number")?),
                    nationality: req(&f.nationality, "nationality")?,
                    chinese_name: PersonName::new(opt(&f.chinese_name)),
                    valid_from: date(&f.valid_from, "valid_from")?,
                    valid_to: valid_to(&f.valid_to)?,
                    birth: date(&f.birth, "birth")?,
                    version: req(&f.version, "version")?,
                    authority_code: req(&f.authority_code, "authority_code")?,
                })
            }
            CardKind::ForeignPermanent2023 => {
                CardText::ForeignPermanent2023(ForeignPermanent2023Text {
                    chinese_name: PersonName::new(opt(&f.chinese_name)),
                    sex,
                    renewal_count: req(&f.renewal_count, "renewal_count")?,
                    birth: date(&f.birth, "birth")?,
                    english_name: PersonName::new(req(&f.english_name, "english_name")?),
                    permit_number: DocumentNumber::new(req(&f.permit_number, "permit_number")?),
                    valid_from: date(&f.valid_from, "valid_from")?,
                    valid_to: valid_to(&f.valid_to)?,
                    nationality: req(&f.nationality, "nationality")?,
                    previous_number_link: opt(&f.previous_number_link),
                })
            }
        };
        // Make sure it fits the layout now rather than when the card is read.
        text.encode().map_err(text_err)?;
        Ok(text)
    }
}

/// A card the simulator can put on the reader. `Debug` is masked.
#[derive(Clone)]
pub struct SimCard {
    /// Fixture name.
    pub name: String,
    /// Fixture description.
    pub description: String,
    /// The card's text.
    pub text: CardText,
    text_block: [u8; crate::text::TEXT_LEN],
    photo: Photo,
    fingerprint: Option<Fingerprint>,
    new_address: Option<String>,
}

impl SimCard {
    /// Builds a card from a fixture, with a synthetic photo (and fingerprint) derived from
    /// the fixture name. The blobs are random-looking bytes, not real WLT data.
    pub fn from_fixture(fixture: &Fixture) -> Result<Self, FixtureError> {
        let text = fixture.card_text()?;
        let text_block = text.encode().map_err(|source| FixtureError::Text {
            name: fixture.name.clone(),
            source,
        })?;
        let mut photo = [0u8; PHOTO_LEN];
        synthetic_bytes(&fixture.name, b'P', &mut photo);
        if let Some(marker) = &fixture.photo_marker {
            for (p, m) in photo.iter_mut().zip(marker.bytes()) {
                *p = m;
            }
        }
        let fingerprint = fixture.fingerprint.then(|| {
            let mut fp = [0u8; FINGERPRINT_LEN];
            synthetic_bytes(&fixture.name, b'F', &mut fp);
            Fingerprint::new(fp)
        });
        Ok(Self {
            name: fixture.name.clone(),
            description: fixture.description.clone(),
            text,
            text_block,
            photo: Photo::new(photo),
            fingerprint,
            new_address: fixture.new_address.clone(),
        })
    }

    /// The synthetic photo.
    pub fn photo(&self) -> &Photo {
        &self.photo
    }
}

impl fmt::Debug for SimCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimCard")
            .field("name", &self.name)
            .field("text", &self.text)
            .field("photo", &self.photo)
            .field("fingerprint", &self.fingerprint)
            .field("new_address", &self.new_address.is_some())
            .finish_non_exhaustive()
    }
}

/// Deterministic pseudo-random bytes (xorshift64) seeded by a name.
fn synthetic_bytes(seed: &str, salt: u8, out: &mut [u8]) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ u64::from(salt);
    for b in seed.bytes() {
        x = (x ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
    }
    for byte in out.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *byte = x.to_le_bytes()[0];
    }
}

/// The built-in cards.
pub fn builtin_cards() -> Result<Vec<SimCard>, FixtureError> {
    BUILTIN_FIXTURES
        .iter()
        .map(|(name, json)| SimCard::from_fixture(&Fixture::from_json(name, json)?))
        .collect()
}

/// Loads every `*.json` in a directory, sorted by file name.
pub fn load_fixture_dir(dir: &Path) -> Result<Vec<SimCard>, FixtureError> {
    let io = |source| FixtureError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load_fixture_file(p)).collect()
}

/// Loads one fixture file.
pub fn load_fixture_file(path: &Path) -> Result<SimCard, FixtureError> {
    let json = std::fs::read_to_string(path).map_err(|source| FixtureError::Io {
        path: path.display().to_string(),
        source,
    })?;
    SimCard::from_fixture(&Fixture::from_json(&path.display().to_string(), &json)?)
}

/// A fault to inject. Faults stay until cleared with [`Fault::None`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Normal operation.
    None,
    /// Every reply goes out with a wrong CHK.
    BadChecksum,
    /// The SAM fails its self-test: every command answers SW3 60.
    SamFailure,
    /// Reading the card fails (SW3 41), as when the card is moved.
    ReadFailure,
    /// The SAM refuses the card (SW3 32).
    CardRejected,
    /// The reader does not answer at all.
    Silent,
}

impl Fault {
    /// Parses the `error <kind>` control word.
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "none" | "clear" => Fault::None,
            "bad_checksum" | "checksum" => Fault::BadChecksum,
            "sam" | "sam_failure" => Fault::SamFailure,
            "read" | "read_failure" => Fault::ReadFailure,
            "reject" | "card_rejected" => Fault::CardRejected,
            "silent" => Fault::Silent,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Found,
    Selected,
    Halted,
}

/// The reader's behaviour as a pure state machine: host bytes in, reply bytes out.
#[derive(Debug)]
pub struct ReaderSim {
    cards: Vec<SimCard>,
    on_reader: Option<usize>,
    phase: Phase,
    fault: Fault,
    halt_after_read: bool,
    decoder: FrameDecoder,
    sam_id: [u8; 16],
    reads: u32,
    /// A find has failed since the last read (the card was halted or taken off).
    released: bool,
}

impl ReaderSim {
    /// A reader with these cards available (none on it).
    pub fn new(cards: Vec<SimCard>) -> Self {
        let mut sam_id = [0u8; 16];
        sam_id[0] = 5;
        sam_id[2] = 1;
        sam_id[4..8].copy_from_slice(&20_101_028u32.to_le_bytes());
        sam_id[8..12].copy_from_slice(&1_234_567u32.to_le_bytes());
        sam_id[12..16].copy_from_slice(&89_012_345u32.to_le_bytes());
        Self {
            cards,
            on_reader: None,
            phase: Phase::Idle,
            fault: Fault::None,
            halt_after_read: true,
            decoder: FrameDecoder::new(),
            sam_id,
            reads: 0,
            released: true,
        }
    }

    /// Cards available.
    pub fn cards(&self) -> &[SimCard] {
        &self.cards
    }

    /// Puts a card on the reader (replacing any other). `false` if unknown.
    pub fn place(&mut self, name: &str) -> bool {
        match self.cards.iter().position(|c| c.name == name) {
            Some(i) => {
                self.on_reader = Some(i);
                self.phase = Phase::Idle;
                true
            }
            None => false,
        }
    }

    /// Takes the card off.
    pub fn remove(&mut self) {
        self.on_reader = None;
        self.phase = Phase::Idle;
    }

    /// `true` once the reader has looked for a card and found none (taken off, or halted
    /// after its read) since the last read: from then on, a card put down is seen as new.
    /// A scripted customer waits for it before the next card, as a person's hands are
    /// slower than the reader's polling.
    pub fn released(&self) -> bool {
        self.released
    }

    /// Name of the card on the reader.
    pub fn card_on_reader(&self) -> Option<&str> {
        self.on_reader
            .and_then(|i| self.cards.get(i))
            .map(|c| c.name.as_str())
    }

    /// Sets the injected fault.
    pub fn set_fault(&mut self, fault: Fault) {
        self.fault = fault;
    }

    /// Whether a read card stops answering find until it is put back (default `true`).
    pub fn set_halt_after_read(&mut self, halt: bool) {
        self.halt_after_read = halt;
    }

    /// Successful reads so far.
    pub fn reads(&self) -> u32 {
        self.reads
    }

    /// Feeds host bytes; returns the bytes the reader sends back.
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.decoder.push(bytes);
        let mut out = Vec::new();
        while let Some(frame) = self.decoder.next_frame() {
            let reply = match frame {
                Ok(body) => match Command::parse(&body) {
                    Ok(cmd) => self.handle_command(cmd),
                    Err(_) => Some(Reply::new(Status::CommandError, vec![])),
                },
                Err(FrameError::BadChecksum { .. }) => {
                    Some(Reply::new(Status::ChecksumError, vec![]))
                }
                Err(FrameError::BadLength { .. }) => None,
                Err(_) => Some(Reply::new(Status::LengthError, vec![])),
            };
            if let Some(reply) = reply {
                match self.fault {
                    Fault::Silent => {}
                    Fault::BadChecksum => {
                        let mut bytes = reply.encode();
                        if let Some(last) = bytes.last_mut() {
                            *last ^= 0x5A;
                        }
                        out.extend(bytes);
                    }
                    _ => out.extend(reply.encode()),
                }
            }
        }
        out
    }

    fn handle_command(&mut self, cmd: Command) -> Option<Reply> {
        if self.fault == Fault::SamFailure {
            return Some(Reply::new(Status::SamSelfTestFailed, vec![]));
        }
        let card = self.on_reader.and_then(|i| self.cards.get(i));
        Some(match cmd {
            Command::ResetSam | Command::SamStatus | Command::SetMaxRfFrame(_) => {
                Reply::new(Status::Ok, vec![])
            }
            Command::ReadSamId => Reply::new(Status::Ok, self.sam_id.to_vec()),
            Command::FindCard => match (card, self.phase) {
                (Some(_), Phase::Halted) | (None, _) => {
                    self.released = true;
                    Reply::new(Status::FindFailed, vec![])
                }
                (Some(_), _) => {
                    self.phase = Phase::Found;
                    Reply::new(Status::FindOk, vec![0; 4])
                }
            },
            Command::SelectCard => match (card, self.phase) {
                (Some(_), Phase::Found | Phase::Selected) => {
                    self.phase = Phase::Selected;
                    Reply::new(Status::Ok, vec![0; 8])
                }
                _ => Reply::new(Status::SelectFailed, vec![]),
            },
            Command::ReadText | Command::ReadTextFingerprint => {
                let with_fp = cmd == Command::ReadTextFingerprint;
                match (card, self.phase) {
                    (Some(_), Phase::Selected) if self.fault == Fault::ReadFailure => {
                        Reply::new(Status::ReadFailed, vec![])
                    }
                    (Some(_), Phase::Selected) if self.fault == Fault::CardRejected => {
                        Reply::new(Status::SamAuthenticatesCardFailed, vec![])
                    }
                    (Some(c), Phase::Selected) => {
                        let payload = ReadPayload {
                            text: TextBlock(c.text_block),
                            photo: c.photo.clone(),
                            fingerprint: c.fingerprint.clone(),
                        };
                        let data = payload.encode(with_fp);
                        self.reads += 1;
                        self.released = false;
                        if self.halt_after_read {
                            self.phase = Phase::Halted;
                        }
                        Reply::new(Status::Ok, data)
                    }
                    (Some(_), _) => Reply::new(Status::ReadFailed, vec![]),
                    (None, _) => Reply::new(Status::FindFailed, vec![]),
                }
            }
            Command::ReadNewAddress => match (card, self.phase) {
                (Some(c), Phase::Selected | Phase::Halted) => match &c.new_address {
                    Some(a) => {
                        let data: Vec<u8> = a.encode_utf16().flat_map(u16::to_le_bytes).collect();
                        Reply::new(Status::Ok, data)
                    }
                    None => Reply::new(Status::NoContent, vec![]),
                },
                _ => Reply::new(Status::ReadFailed, vec![]),
            },
        })
    }
}

/// A control line for the simulator (`sim idcard` reads them from a script and stdin).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Control {
    /// `place <fixture>` — put a card on the reader.
    Place(String),
    /// `remove` — take the card off.
    Remove,
    /// `error <kind>` — inject a fault (`bad_checksum`, `sam`, `read`, `reject`,
    /// `silent`, `none`).
    Error(Fault),
    /// `halt on|off` — whether a read card stops answering find until put back.
    Halt(bool),
    /// `list` — list the fixtures.
    List,
    /// `sleep <ms>` — pause the script.
    Sleep(Duration),
}

impl Control {
    /// Parses a line; `Ok(None)` for blank lines and `#` comments.
    pub fn parse(line: &str) -> Result<Option<Self>, String> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(None);
        }
        let mut words = line.split_whitespace();
        let verb = words.next().unwrap_or_default();
        let arg = words.next();
        let c = match (verb, arg) {
            ("place", Some(name)) => Control::Place(name.to_owned()),
            ("remove", None) => Control::Remove,
            ("error", Some(kind)) => Control::Error(Fault::parse(kind).ok_or_else(|| {
                format!(
                    "unknown error kind {kind:?} (bad_checksum, sam, read, reject, silent, none)"
                )
            })?),
            ("halt", Some("on")) => Control::Halt(true),
            ("halt", Some("off")) => Control::Halt(false),
            ("list", None) => Control::List,
            ("sleep", Some(ms)) => Control::Sleep(Duration::from_millis(
                ms.parse()
                    .map_err(|_| format!("sleep wants milliseconds, got {ms:?}"))?,
            )),
            _ => {
                return Err(format!(
                    "unknown control {line:?} (place <fixture>, remove, error <kind>, halt on|off, list, sleep <ms>)"
                ));
            }
        };
        Ok(Some(c))
    }
}

/// A running simulator on a pseudo-terminal. Dropping it stops the simulator.
#[derive(Debug)]
pub struct Simulator {
    state: Arc<Mutex<ReaderSim>>,
    path: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Creates the pseudo-terminal at 115200 8N1 and starts answering on it.
    pub fn start(sim: ReaderSim) -> Result<Self, devio::Error> {
        let pty = devio::Pty::new(crate::LINE_SETTINGS)?;
        let path = pty.path().to_owned();
        let (mut device, guard) = pty.into_parts();
        let state = Arc::new(Mutex::new(sim));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let _guard = guard;
            let mut buf = [0u8; 4096];
            loop {
                let n = match device.read(&mut buf).await {
                    Ok(0) => {
                        // No host attached right now (EOF/hang-up on the master): idle a bit.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    Ok(n) => n,
                    Err(e) => {
                        tracing::debug!(error = %e, "simulator read");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let out = shared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .handle_bytes(buf.get(..n).unwrap_or_default());
                if !out.is_empty() {
                    if let Err(e) = device.write_all(&out).await {
                        tracing::debug!(error = %e, "simulator write");
                    }
                    let _ = device.flush().await;
                }
            }
        });
        Ok(Self { state, path, task })
    }

    /// The path the driver opens.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the simulator state (place, remove, faults...).
    pub fn with<R>(&self, f: impl FnOnce(&mut ReaderSim) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Applies a control line's effect; returns a message for the operator.
    /// `Sleep` is the caller's business and is ignored here.
    pub fn apply(&self, control: &Control) -> Result<String, String> {
        self.with(|s| match control {
            Control::Place(name) => {
                if s.place(name) {
                    Ok(format!("card {name} placed"))
                } else {
                    Err(format!("no fixture named {name:?}"))
                }
            }
            Control::Remove => {
                s.remove();
                Ok("card removed".to_owned())
            }
            Control::Error(f) => {
                s.set_fault(*f);
                Ok(format!("fault: {f:?}"))
            }
            Control::Halt(h) => {
                s.set_halt_after_read(*h);
                Ok(format!("halt after read: {h}"))
            }
            Control::List => Ok(s
                .cards()
                .iter()
                .map(|c| {
                    format!(
                        "{} ({}; {} {}) {}",
                        c.name,
                        c.text.kind(),
                        c.text.name(),
                        c.text.id_number(),
                        c.description
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")),
            Control::Sleep(_) => Ok(String::new()),
        })
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn builtin_fixtures_cover_every_case() {
        let cards = builtin_cards().unwrap();
        let today = date!(2026 - 11 - 22);
        let kinds: Vec<_> = cards.iter().map(|c| c.text.kind()).collect();
        for k in [
            CardKind::Resident,
            CardKind::HmtResidence,
            CardKind::ForeignPermanent2017,
            CardKind::ForeignPermanent2023,
        ] {
            assert!(kinds.contains(&k), "{k}");
        }
        let by = |n: &str| cards.iter().find(|c| c.name == n).unwrap();
        assert!(by("resident_expired").text.is_expired(today));
        assert!(!by("resident").text.is_expired(today));
        assert_eq!(by("resident_long_term").text.valid_to(), ValidTo::LongTerm);
        assert!(by("resident_minor").text.age_on(today) < 16);
        assert_eq!(
            by("resident_bad_check_digit").text.check_digit_ok(),
            Some(false)
        );
        for c in &cards {
            if c.name != "resident_bad_check_digit" {
                assert_ne!(c.text.check_digit_ok(), Some(false), "{}", c.name);
            }
            // Encode → 256 bytes → parse gives the same card.
            assert_eq!(
                CardText::parse(&c.text_block).unwrap(),
                c.text,
                "{}",
                c.name
            );
        }
    }

    #[test]
    fn reader_answers_the_read_sequence() {
        let mut sim = ReaderSim::new(builtin_cards().unwrap());
        let find = Command::FindCard.encode();
        let mut d = FrameDecoder::new();
        let mut reply = |sim: &mut ReaderSim, bytes: &[u8]| {
            d.push(&sim.handle_bytes(bytes));
            Reply::parse(&d.next_frame().unwrap().unwrap()).unwrap()
        };
        assert_eq!(reply(&mut sim, &find).status, Status::FindFailed);
        assert!(sim.place("resident"));
        assert_eq!(
            reply(&mut sim, &Command::ReadText.encode()).status,
            Status::ReadFailed
        );
        assert_eq!(reply(&mut sim, &find).status, Status::FindOk);
        assert_eq!(
            reply(&mut sim, &Command::SelectCard.encode()).status,
            Status::Ok
        );
        assert!(sim.released(), "nothing read yet");
        let r = reply(&mut sim, &Command::ReadText.encode());
        assert_eq!(r.status, Status::Ok);
        assert_eq!(r.data.len(), 4 + 256 + 1024);
        assert!(!sim.released(), "read, and not looked for since");
        // Halted until put back.
        assert_eq!(reply(&mut sim, &find).status, Status::FindFailed);
        assert!(sim.released(), "the reader saw no card answer");
        sim.remove();
        sim.place("resident");
        assert_eq!(reply(&mut sim, &find).status, Status::FindOk);
        // Bad host checksum is rejected.
        assert_eq!(
            reply(
                &mut sim,
                &hex_literal::hex!("AA AA AA 96 69 00 03 20 01 21")
            )
            .status,
            Status::ChecksumError
        );
        assert_eq!(
            reply(
                &mut sim,
                &hex_literal::hex!("AA AA AA 96 69 00 03 77 01 75")
            )
            .status,
            Status::CommandError
        );
    }

    #[test]
    fn debug_of_simulator_state_is_masked() {
        let mut sim = ReaderSim::new(builtin_cards().unwrap());
        sim.place("resident");
        let fixture = Fixture::from_json("resident", BUILTIN_FIXTURES[0].1).unwrap();
        let shown = format!("{sim:?} {fixture:?}");
        for secret in ["王小明", "110101199003071233", "测试路"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        // Nor the UCS-2 bytes of the name (王 = U+738B → 8B 73 = 139, 115).
        assert!(!shown.contains("139, 115"), "{shown}");
    }

    proptest::proptest! {
        #[test]
        fn random_host_bytes_never_panic_the_simulator(chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), 0..20)) {
            let mut sim = ReaderSim::new(builtin_cards().unwrap());
            sim.place("foreign_permanent_2023");
            for c in chunks {
                let out = sim.handle_bytes(&c);
                // Whatever the simulator sends is well-formed.
                let mut d = FrameDecoder::new();
                d.push(&out);
                while let Some(f) = d.next_frame() {
                    proptest::prop_assert!(f.is_ok());
                }
            }
        }

        #[test]
        fn random_control_lines_never_panic(line in "\\PC{0,40}") {
            let _ = Control::parse(&line);
        }
    }

    #[test]
    fn control_lines() {
        assert_eq!(
            Control::parse("place resident"),
            Ok(Some(Control::Place("resident".into())))
        );
        assert_eq!(Control::parse("  # comment"), Ok(None));
        assert_eq!(
            Control::parse("error bad_checksum"),
            Ok(Some(Control::Error(Fault::BadChecksum)))
        );
        assert_eq!(
            Control::parse("sleep 200"),
            Ok(Some(Control::Sleep(Duration::from_millis(200))))
        );
        assert!(Control::parse("error bogus").is_err());
        assert!(Control::parse("dance").is_err());
    }
}
