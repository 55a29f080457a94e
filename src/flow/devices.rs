//! What flows ask of the card dispenser and the camera, and what they hear back: the
//! vocabulary of the SIM services (新开户, 补卡) and of the live photo every real-name
//! service takes. The runtime carries the commands out through the device actors.

use serde::{Deserialize, Serialize};

/// A card dispenser command for the session's current card; answered by
/// [`super::Input::Card`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardCmd {
    /// Take a blank card from the stacker to the IC contacts.
    ToIc,
    /// Read the ICCID of the card at the IC contacts.
    ReadIccid,
    /// Run the operator's personalisation script on it (its steps, opaque).
    Write { steps: Vec<ScriptStep> },
    /// Out to the gate; wait up to `timeout_ms` for the customer to take it, else it is
    /// pulled back into the reject bin.
    Present { timeout_ms: u64 },
    /// Into the reject bin.
    Capture,
}

/// One APDU of a personalisation script and the status words that count as success.
#[derive(Clone, PartialEq, Eq)]
pub struct ScriptStep {
    pub apdu: Vec<u8>,
    pub expect_sw: Vec<[u8; 2]>,
}

impl std::fmt::Debug for ScriptStep {
    /// An APDU can carry key material: only its length.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScriptStep({} bytes)", self.apdu.len())
    }
}

/// What the dispenser did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardAnswer {
    /// A card is at the IC contacts.
    AtIc,
    /// The card's ICCID.
    Iccid(String),
    /// The script ran: to its end (`completed`) or up to the first unexpected status word.
    Written {
        completed: bool,
        steps_run: u32,
        last_sw: String,
    },
    /// The customer took the card.
    Taken,
    /// The card was pulled into the reject bin (after a capture command, or not taken in
    /// time at the gate).
    Captured { not_taken: bool },
}

/// Why the dispenser could not do it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardProblem {
    /// The stacker is empty: no blank card.
    Empty,
    /// A card is stuck in the channel: staff must clear it.
    Jam(String),
    /// The card does not answer at the IC contacts (no ICCID, or a write it rejects).
    CardUnreadable(String),
    /// No dispenser, or it does not answer.
    Down(String),
}

impl CardProblem {
    /// For the journal and the technician.
    pub fn cause(&self) -> String {
        match self {
            CardProblem::Empty => "stacker empty".into(),
            CardProblem::Jam(c) => format!("card jam: {c}"),
            CardProblem::CardUnreadable(c) => format!("card unreadable: {c}"),
            CardProblem::Down(c) => format!("dispenser down: {c}"),
        }
    }
}

/// A journal write about the session's current card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardJournal {
    /// A card is about to be taken from the stacker (the `attempt`-th of this transaction).
    Pick { attempt: u32 },
    /// The current card moved on (or its ICCID was read: same stage, with `iccid`).
    Stage {
        stage: crate::journal::CardStage,
        iccid: Option<String>,
        reason: Option<String>,
    },
}

/// What the camera and the kiosk's own face checks tell the customer while the live photo is
/// taken (the screen words it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceGuidance {
    /// Look at the camera (no face yet).
    LookAtCamera,
    MoveCloser,
    MoveBack,
    MoveLeft,
    MoveRight,
    MoveUp,
    MoveDown,
    /// More than one face in the picture.
    OnlyOnePerson,
    TooDark,
    TooBright,
    /// Blurred: hold still.
    HoldStill,
    /// The liveness challenge: turn the head slowly to one side…
    TurnHead,
    /// …and back to the camera.
    TurnBack,
    /// Done: the photo is taken.
    Done,
}

/// The live photo, for the operator's face comparison only: in memory, never on disk, never
/// logged; wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct LivePhoto {
    /// Baseline JPEG.
    pub jpeg: Vec<u8>,
}

impl std::fmt::Debug for LivePhoto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LivePhoto({} bytes)", self.jpeg.len())
    }
}

impl Drop for LivePhoto {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(self.jpeg.as_mut_slice());
    }
}

/// Why no live photo was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaceProblem {
    /// Time ran out; what the customer was last told.
    Timeout { last: FaceGuidance },
    /// The liveness challenge failed (a still picture, or nobody turned).
    NotLive,
    /// No camera, or it does not answer.
    CameraDown(String),
}
