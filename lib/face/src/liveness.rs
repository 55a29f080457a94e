//! 活体检测 — a head-turn challenge checked across frames.
//!
//! A pure state machine: [`Liveness::feed`] takes the time (milliseconds on a monotonic
//! clock, passed in), the frame's [`FrameAnalysis`] and the frame itself, and answers what
//! to tell the customer, or that the check passed (with the best frame) or failed (with
//! the reason). No clock, no I/O, no threads.
//!
//! # What is checked
//!
//! 1. **Framing**: [`LivenessConfig::min_frontal_frames`] consecutive good frames — one
//!    frontal face, large and centred enough, no quality issue. The last one becomes the
//!    *reference*: the face's box and the scene grid ([`SceneGrid`]). The challenge's clock
//!    starts and the customer is asked to turn their head.
//! 2. **Turn**: [`LivenessConfig::min_turned_frames`] consecutive frames in which
//!    - the frontal face is gone from where it was, or is still found there but shifted
//!      sideways by [`LivenessConfig::shift_ratio`] of its width or narrowed to
//!      [`LivenessConfig::narrow_ratio`] of it (the detector follows a head half turned);
//!    - the head region (the reference box widened to take in hair and chin) changed by at
//!      least [`LivenessConfig::min_head_change`] grey levels on average;
//!    - the rest of the picture — the body and the shop behind — stayed as it was: it
//!      changed by at most [`LivenessConfig::max_rest_change`] levels and by at most
//!      [`LivenessConfig::max_rest_ratio`] of the head's change. A head turns on a still
//!      body; a photo that is moved, tilted or bent moves its whole picture, and someone
//!      walking away changes the body region too.
//!
//!    While the face is still *frontal* — within [`LivenessConfig::frontal_shift`] and
//!    [`LivenessConfig::frontal_iou`] of the reference — the reference follows it (the
//!    customer may settle before turning), and those frames are candidates for the photo.
//!    A face between frontal and turned (starting to turn) counts as neither.
//! 3. **Return**: a good frontal frame again, with the rest of the picture as it was —
//!    and at least once, on the way out or back, the face must have been seen *half
//!    turned*: found beside where it was (shifted by at least
//!    [`LivenessConfig::frontal_shift`] of its width) while the rest of the picture stayed
//!    still. A face that simply vanishes and reappears — a hand or a card passed over a
//!    photo's face — is not a turn; the customer is asked to turn again, slowly.
//!
//! All of it within [`LivenessConfig::challenge_ms`] of the reference; the whole capture,
//! framing included, within [`LivenessConfig::overall_ms`].
//!
//! A printed photo held still fails: its face never leaves (and if the detector misses it
//! for a frame, nothing in the head region has changed), so the check ends with
//! [`LivenessFailure::NoTurn`]. A photo slid away and back or tilted, or a customer who
//! walks off, changes the rest of the picture and ends with [`LivenessFailure::FaceLeft`].
//! A photo whose face is covered by a hand and uncovered is never seen half turned and
//! ends with [`LivenessFailure::NoTurn`].
//!
//! # What it does not defend against
//!
//! This is a *challenge* against the simplest attack, a photo held up to the camera, not a
//! certified presentation-attack detector (ISO/IEC 30107-3). It does not stop: a video of
//! the person turning their head played on a screen held still in front of the camera; a
//! photo small enough to leave the picture around it still (held in front of the
//! attacker's own face) and turned or bent like a door, or slid sideways a little and then
//! covered; a mask; a look-alike; a forged camera feed. A single 2-D camera cannot measure
//! depth. The operator's comparison with the ID photo
//! (`face_check`) and the shop's staff remain the defences against those.
//!
//! # The photo
//!
//! The frame sent is the best good frontal frame seen from the reference on (before the
//! turn or on the return), best being sharpest face × most centred. Only that frame is
//! kept: every other frame is wiped as soon as it has been looked at, and a kept one is
//! wiped when a better one replaces it.

use serde::{Deserialize, Serialize};

use crate::analysis::{FrameAnalysis, SceneGrid};
use crate::framing::{FaceBox, to_i32, to_u32};
use crate::guidance::Guidance;
use crate::photo::{LivePhoto, SecretImage};

/// Thresholds and time limits of the liveness check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LivenessConfig {
    /// Consecutive good frontal frames before the challenge starts (default 2).
    pub min_frontal_frames: u32,
    /// Consecutive turned frames that make a turn (default 2: one frame could be the
    /// detector missing a face for an instant).
    pub min_turned_frames: u32,
    /// A face counts as *frontal* — as it was at the reference, good for the photo and for
    /// the return — while its centre is less than this fraction of the reference width
    /// from the reference's (default 0.12)…
    pub frontal_shift: f64,
    /// … and its box overlaps the reference box by at least this (intersection over union,
    /// default 0.6).
    pub frontal_iou: f64,
    /// A face found near the reference whose centre moved sideways by at least this
    /// fraction of the reference width counts as turned (default 0.3).
    pub shift_ratio: f64,
    /// … or whose width shrank to at most this fraction of the reference width (default
    /// 0.75).
    pub narrow_ratio: f64,
    /// The head region must change by at least this many grey levels on average, after
    /// removing any change of exposure (default 8).
    pub min_head_change: f64,
    /// The rest of the picture may change by at most this many grey levels on average
    /// (default 6)…
    pub max_rest_change: f64,
    /// … and by at most this fraction of the head region's change (default 0.5).
    pub max_rest_ratio: f64,
    /// Time from the reference frame to the return (default 15 s).
    pub challenge_ms: u64,
    /// Time from the first frame to the end, framing included (default 60 s).
    pub overall_ms: u64,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        Self {
            min_frontal_frames: 2,
            min_turned_frames: 2,
            frontal_shift: 0.12,
            frontal_iou: 0.6,
            shift_ratio: 0.3,
            narrow_ratio: 0.75,
            min_head_change: 8.0,
            max_rest_change: 6.0,
            max_rest_ratio: 0.5,
            challenge_ms: 15_000,
            overall_ms: 60_000,
        }
    }
}

/// Why the liveness check failed. The screen words it with
/// [`message_zh`](Self::message_zh) / [`message_en`](Self::message_en).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LivenessFailure {
    /// The customer was never framed well enough to start (nobody there, too far, too
    /// dark…) within the overall time; `last` is the last guidance given.
    NotFramed {
        /// The guidance shown last.
        last: Guidance,
    },
    /// The face never turned: the same frontal face the whole time (a photo held still, or
    /// the customer did not follow the prompt).
    NoTurn,
    /// The face turned away but did not come back in time.
    DidNotReturn,
    /// The face left the picture, or the whole picture moved, instead of a head turning.
    FaceLeft,
    /// Someone else came into the picture and stayed.
    SeveralFaces,
}

impl LivenessFailure {
    /// Stable code for logs and statistics.
    pub fn code(self) -> &'static str {
        match self {
            LivenessFailure::NotFramed { .. } => "LIVENESS_NOT_FRAMED",
            LivenessFailure::NoTurn => "LIVENESS_NO_TURN",
            LivenessFailure::DidNotReturn => "LIVENESS_NO_RETURN",
            LivenessFailure::FaceLeft => "LIVENESS_FACE_LEFT",
            LivenessFailure::SeveralFaces => "LIVENESS_SEVERAL_FACES",
        }
    }

    /// What the customer reads, in Chinese.
    pub fn message_zh(self) -> &'static str {
        match self {
            LivenessFailure::NotFramed { last } => last.message_zh(),
            LivenessFailure::NoTurn => "未检测到转头动作，请按提示慢慢转头再转回来",
            LivenessFailure::DidNotReturn => "转头后请转回来正对摄像头",
            LivenessFailure::FaceLeft => "请留在画面中，只转动头部",
            LivenessFailure::SeveralFaces => "只允许一人入镜，请其他人离开画面",
        }
    }

    /// What the customer reads, in English.
    pub fn message_en(self) -> &'static str {
        match self {
            LivenessFailure::NotFramed { last } => last.message_en(),
            LivenessFailure::NoTurn => {
                "No head turn was seen: please turn your head slowly to one side and back"
            }
            LivenessFailure::DidNotReturn => "After turning, please look back at the camera",
            LivenessFailure::FaceLeft => "Please stay in the picture and turn only your head",
            LivenessFailure::SeveralFaces => {
                "Only the applicant may be in the picture: please ask others to step aside"
            }
        }
    }
}

/// What the check saw, for logs and head office statistics: counts and times, no pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LivenessEvidence {
    /// Frames looked at.
    pub frames: u32,
    /// Good frontal frames among them.
    pub frontal_frames: u32,
    /// Turned frames among them.
    pub turned_frames: u32,
    /// From the first frame to the reference (framing), ms.
    pub framing_ms: u64,
    /// From the reference to the completed turn, ms.
    pub turn_ms: u64,
    /// From the completed turn to the return, ms.
    pub return_ms: u64,
    /// Returns not accepted because the face was never seen half turned (asked again).
    pub retries: u32,
}

/// The answer to one frame.
#[derive(Debug)]
#[non_exhaustive]
pub enum Step {
    /// Go on; tell the customer this.
    Continue {
        /// What to show.
        guidance: Guidance,
    },
    /// The check passed; here is the chosen frame. Show [`Guidance::Done`].
    Passed(LivePhoto),
    /// The check failed.
    Failed(LivenessFailure),
}

/// Where the challenge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for good frontal frames.
    Framing,
    /// The reference is taken; waiting for the head to turn.
    AwaitTurn,
    /// The head turned; waiting for it to come back.
    AwaitReturn,
    /// Passed or failed: further frames are ignored.
    Finished,
}

/// How one frame relates to the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Observation {
    /// The frontal face where it was (see [`LivenessConfig::frontal_shift`]); `good` when
    /// the frame could be the photo.
    Frontal { good: bool },
    /// A head turned: face gone or shifted, head region changed, the rest still.
    Turned,
    /// The rest of the picture changed: the person left, or the picture moved as a whole.
    SceneChanged,
    /// More than one face.
    SeveralFaces,
    /// Nothing conclusive (the detector missed a face in an unchanged picture, a face
    /// elsewhere, …).
    Unclear,
}

struct Reference {
    face: FaceBox,
    scene: SceneGrid,
}

struct Candidate {
    frame: SecretImage,
    face: FaceBox,
    score: f64,
    quality: camera::quality::QualityReport,
    value: f64,
}

/// The liveness check of one capture. Dropping it wipes any frame it holds.
pub struct Liveness {
    config: LivenessConfig,
    stage: Stage,
    started_ms: Option<u64>,
    reference: Option<Reference>,
    reference_ms: u64,
    turned_ms: u64,
    good_streak: u32,
    turned_streak: u32,
    partial_turn: bool,
    last: Option<Observation>,
    last_guidance: Guidance,
    best: Option<Candidate>,
    evidence: LivenessEvidence,
}

impl std::fmt::Debug for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Liveness")
            .field("stage", &self.stage)
            .field("evidence", &self.evidence)
            .field("holds_frame", &self.best.is_some())
            .finish_non_exhaustive()
    }
}

impl Liveness {
    /// A check with `config`, before its first frame.
    pub fn new(config: LivenessConfig) -> Self {
        Self {
            config,
            stage: Stage::Framing,
            started_ms: None,
            reference: None,
            reference_ms: 0,
            turned_ms: 0,
            good_streak: 0,
            turned_streak: 0,
            partial_turn: false,
            last: None,
            last_guidance: Guidance::NoFace,
            best: None,
            evidence: LivenessEvidence::default(),
        }
    }

    /// Where the challenge is.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// How many frames the check holds (0 or 1: the best so far).
    pub fn frames_held(&self) -> usize {
        usize::from(self.best.is_some())
    }

    /// What the check has seen so far.
    pub fn evidence(&self) -> LivenessEvidence {
        self.evidence
    }

    /// Takes one frame seen at `now_ms` (a monotonic clock in milliseconds) with its
    /// analysis. The frame is kept only if it is the best photo so far; otherwise it is
    /// wiped before this returns.
    pub fn feed(&mut self, now_ms: u64, analysis: &FrameAnalysis, frame: SecretImage) -> Step {
        if self.stage == Stage::Finished {
            return Step::Continue {
                guidance: self.last_guidance,
            };
        }
        let started = *self.started_ms.get_or_insert(now_ms);
        self.evidence.frames = self.evidence.frames.saturating_add(1);
        if analysis.guidance.is_good_frame() {
            self.evidence.frontal_frames = self.evidence.frontal_frames.saturating_add(1);
        }
        let step = match self.stage {
            Stage::Framing => self.framing(now_ms, analysis, frame),
            Stage::AwaitTurn => self.await_turn(now_ms, analysis, frame),
            Stage::AwaitReturn => self.await_return(now_ms, analysis, frame),
            Stage::Finished => Step::Continue {
                guidance: self.last_guidance,
            },
        };
        let step = match step {
            Step::Continue { guidance } => {
                self.last_guidance = guidance;
                self.check_time(now_ms, started)
                    .unwrap_or(Step::Continue { guidance })
            }
            done => done,
        };
        if !matches!(step, Step::Continue { .. }) {
            self.finish();
        }
        step
    }

    fn finish(&mut self) {
        self.stage = Stage::Finished;
        self.reference = None;
        self.best = None; // wiped on drop
    }

    fn check_time(&mut self, now_ms: u64, started: u64) -> Option<Step> {
        let failure = match self.stage {
            Stage::Framing if now_ms.saturating_sub(started) > self.config.overall_ms => {
                LivenessFailure::NotFramed {
                    last: self.last_guidance,
                }
            }
            Stage::AwaitTurn | Stage::AwaitReturn
                if now_ms.saturating_sub(self.reference_ms) > self.config.challenge_ms
                    || now_ms.saturating_sub(started) > self.config.overall_ms =>
            {
                match (self.last, self.stage) {
                    (Some(Observation::SceneChanged), _) => LivenessFailure::FaceLeft,
                    (Some(Observation::SeveralFaces), _) => LivenessFailure::SeveralFaces,
                    (_, Stage::AwaitReturn) => LivenessFailure::DidNotReturn,
                    _ => LivenessFailure::NoTurn,
                }
            }
            _ => return None,
        };
        Some(Step::Failed(failure))
    }

    fn framing(&mut self, now_ms: u64, analysis: &FrameAnalysis, frame: SecretImage) -> Step {
        let face = match analysis.single_face() {
            Some(face) if analysis.guidance.is_good_frame() => *face,
            _ => {
                self.good_streak = 0;
                return Step::Continue {
                    guidance: analysis.guidance,
                };
            }
        };
        self.good_streak = self.good_streak.saturating_add(1);
        if self.good_streak < self.config.min_frontal_frames.max(1) {
            return Step::Continue {
                guidance: Guidance::HoldStill,
            };
        }
        self.reference = Some(Reference {
            face: face.bbox,
            scene: analysis.scene.clone(),
        });
        self.reference_ms = now_ms;
        self.evidence.framing_ms = now_ms.saturating_sub(self.started_ms.unwrap_or(now_ms));
        self.offer(analysis, frame);
        self.stage = Stage::AwaitTurn;
        Step::Continue {
            guidance: Guidance::TurnHead,
        }
    }

    fn await_turn(&mut self, now_ms: u64, analysis: &FrameAnalysis, frame: SecretImage) -> Step {
        let (observation, partial) = self.observe(analysis);
        self.last = Some(observation);
        self.partial_turn |= partial;
        match observation {
            Observation::Frontal { good } => {
                self.turned_streak = 0;
                // A half turn counts only on the way into this turn.
                self.partial_turn = false;
                if good {
                    // The customer may settle before turning: follow them.
                    if let Some(face) = analysis.single_face() {
                        self.reference = Some(Reference {
                            face: face.bbox,
                            scene: analysis.scene.clone(),
                        });
                    }
                    self.offer(analysis, frame);
                }
            }
            Observation::Turned => {
                self.evidence.turned_frames = self.evidence.turned_frames.saturating_add(1);
                self.turned_streak = self.turned_streak.saturating_add(1);
                if self.turned_streak >= self.config.min_turned_frames.max(1) {
                    self.stage = Stage::AwaitReturn;
                    self.turned_ms = now_ms;
                    self.evidence.turn_ms = now_ms.saturating_sub(self.reference_ms);
                    return Step::Continue {
                        guidance: Guidance::FaceCamera,
                    };
                }
            }
            Observation::SceneChanged | Observation::SeveralFaces | Observation::Unclear => {
                self.turned_streak = 0;
            }
        }
        Step::Continue {
            guidance: self.prompt(analysis, Guidance::TurnHead),
        }
    }

    fn await_return(&mut self, now_ms: u64, analysis: &FrameAnalysis, frame: SecretImage) -> Step {
        let (observation, partial) = self.observe(analysis);
        self.last = Some(observation);
        self.partial_turn |= partial;
        if observation == Observation::Turned {
            self.evidence.turned_frames = self.evidence.turned_frames.saturating_add(1);
        }
        let returned = match (observation, &self.reference) {
            (Observation::Frontal { good: true }, Some(reference)) => {
                let rest = analysis
                    .scene
                    .change(
                        &reference.scene,
                        &head_region(&reference.face),
                        analysis.width,
                        analysis.height,
                    )
                    .rest;
                rest <= self.config.max_rest_change
            }
            _ => false,
        };
        if !returned {
            return Step::Continue {
                guidance: self.prompt(analysis, Guidance::FaceCamera),
            };
        }
        self.offer(analysis, frame);
        if !self.partial_turn {
            // The face vanished and came back without ever being seen half turned: too
            // fast to follow, or covered and uncovered. Ask again.
            self.stage = Stage::AwaitTurn;
            self.turned_streak = 0;
            self.evidence.retries = self.evidence.retries.saturating_add(1);
            return Step::Continue {
                guidance: Guidance::TurnHead,
            };
        }
        self.evidence.return_ms = now_ms.saturating_sub(self.turned_ms);
        match self.best.take() {
            Some(best) => Step::Passed(LivePhoto {
                frame: best.frame,
                face: best.face,
                score: best.score,
                quality: best.quality,
                evidence: self.evidence,
            }),
            // Unreachable in practice: the reference frame itself was offered.
            None => Step::Failed(LivenessFailure::DidNotReturn),
        }
    }

    /// The challenge's prompt, unless the frame has a problem the customer must fix first
    /// (darkness, glare, another person).
    fn prompt(&self, analysis: &FrameAnalysis, challenge: Guidance) -> Guidance {
        match analysis.guidance {
            g @ (Guidance::Photo {
                issue: camera::QualityIssue::TooDark | camera::QualityIssue::Overexposed,
            }
            | Guidance::SeveralFaces) => g,
            _ => challenge,
        }
    }

    /// How `analysis` relates to the reference, and whether it shows the face *partly
    /// turned*: found beside where it was (shifted by at least
    /// [`LivenessConfig::frontal_shift`]) while the rest of the picture stayed still.
    fn observe(&self, analysis: &FrameAnalysis) -> (Observation, bool) {
        let Some(reference) = &self.reference else {
            return (Observation::Unclear, false);
        };
        if analysis.faces.len() > 1 {
            return (Observation::SeveralFaces, false);
        }
        let r = &reference.face;
        let rw = f64::from(r.width.max(1));
        let change = || {
            analysis.scene.change(
                &reference.scene,
                &head_region(r),
                analysis.width,
                analysis.height,
            )
        };
        let near = analysis
            .single_face()
            .filter(|f| f.bbox.iou(r) > 0.1 || centre_distance(&f.bbox, r) < rw);
        match (near, analysis.single_face()) {
            (Some(face), _) => {
                let shift = (face.bbox.centre().0 - r.centre().0).abs() / rw;
                let width = f64::from(face.bbox.width) / rw;
                if shift < self.config.frontal_shift && face.bbox.iou(r) >= self.config.frontal_iou
                {
                    let good = analysis.guidance.is_good_frame();
                    return (Observation::Frontal { good }, false);
                }
                let change = change();
                let partial = shift >= self.config.frontal_shift
                    && change.rest <= self.config.max_rest_change;
                if shift < self.config.shift_ratio && width > self.config.narrow_ratio {
                    // Moving, but not (yet) turned.
                    return (Observation::Unclear, partial);
                }
                (self.classify(change), partial)
            }
            // One face, somewhere else entirely.
            (None, Some(_)) => (Observation::SceneChanged, false),
            (None, None) => (self.classify(change()), false),
        }
    }

    /// A frame without the frontal face where it was: turned, moved as a whole, or neither.
    fn classify(&self, change: crate::analysis::Change) -> Observation {
        if change.rest > self.config.max_rest_change {
            Observation::SceneChanged
        } else if change.region >= self.config.min_head_change
            && change.rest <= self.config.max_rest_ratio * change.region
        {
            Observation::Turned
        } else {
            Observation::Unclear
        }
    }

    /// Keeps `frame` if it is a good frontal frame better than the best so far; otherwise
    /// it is dropped (wiped) here.
    fn offer(&mut self, analysis: &FrameAnalysis, frame: SecretImage) {
        let Some(face) = analysis.single_face() else {
            return;
        };
        if !analysis.guidance.is_good_frame() {
            return;
        }
        let centred = analysis.centredness.unwrap_or(0.0);
        let value = analysis.face_sharpness.unwrap_or(0.0).max(1.0) * (0.25 + centred);
        if self.best.as_ref().is_some_and(|b| b.value >= value) {
            return;
        }
        // The replaced frame, if any, is wiped as it drops here.
        self.best = Some(Candidate {
            frame,
            face: face.bbox,
            score: face.score,
            quality: analysis.quality.clone(),
            value,
        });
    }
}

/// The part of the picture a head turn changes: the face box widened by 35 % of its width
/// each side, from 45 % of its height above (hair) to 25 % below (chin).
pub fn head_region(face: &FaceBox) -> FaceBox {
    let (w, h) = (f64::from(face.width), f64::from(face.height));
    FaceBox {
        x: to_i32(f64::from(face.x) - 0.35 * w),
        y: to_i32(f64::from(face.y) - 0.45 * h),
        width: to_u32(1.7 * w),
        height: to_u32(1.7 * h),
    }
}

fn centre_distance(a: &FaceBox, b: &FaceBox) -> f64 {
    let (ax, ay) = a.centre();
    let (bx, by) = b.centre();
    ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalysisConfig, analyse};
    use crate::detect::FaceDetector;
    use crate::photo::LIVE_FRAMES;
    use camera::Resolution;
    use camera::sim::Scene;
    use camera::sim::scene::{PORTRAIT_FACE, portrait};

    const VGA: Resolution = Resolution {
        width: 640,
        height: 480,
    };
    /// Frames arrive every 250 ms.
    const FRAME_MS: u64 = 250;

    fn config() -> LivenessConfig {
        LivenessConfig {
            challenge_ms: 4_000,
            overall_ms: 6_000,
            ..LivenessConfig::default()
        }
    }

    fn live_frames() -> isize {
        LIVE_FRAMES.with(std::cell::Cell::get)
    }

    /// Feeds frames of `scene` until the check ends; returns the last step and the
    /// guidance shown along the way.
    fn run(scene: Scene, max_frames: u64) -> (Step, Vec<Guidance>) {
        let portrait = portrait();
        run_frames(&format!("{scene}"), max_frames, |n| {
            scene.frame(&portrait, VGA, n)
        })
    }

    fn run_frames(
        scene: &str,
        max_frames: u64,
        frame_at: impl Fn(u64) -> camera::image::RgbImage,
    ) -> (Step, Vec<Guidance>) {
        let detector = FaceDetector::new(Default::default()).expect("model");
        let analysis_config = AnalysisConfig::default();
        let mut check = Liveness::new(config());
        let mut shown = Vec::new();
        let before = live_frames();
        for n in 0..max_frames {
            let frame = SecretImage::new(frame_at(n));
            let analysis = analyse(frame.image(), &detector, &analysis_config);
            let step = check.feed(1_000 + n * FRAME_MS, &analysis, frame);
            assert!(
                live_frames() - before <= 1,
                "{scene}: frame {n}: more than the best frame kept"
            );
            assert_eq!(
                usize::try_from(live_frames() - before).unwrap_or(99),
                check.frames_held() + usize::from(matches!(step, Step::Passed(_))),
            );
            match step {
                Step::Continue { guidance } => shown.push(guidance),
                done => {
                    assert_eq!(check.frames_held(), 0, "the check let go of its frames");
                    assert_eq!(check.stage(), Stage::Finished);
                    return (done, shown);
                }
            }
        }
        panic!("{scene}: no verdict in {max_frames} frames; shown {shown:?}");
    }

    #[test]
    fn a_customer_who_turns_their_head_passes_with_one_good_frame_kept() {
        let before = live_frames();
        let (step, shown) = run(Scene::LiveCustomer, 30);
        let Step::Passed(photo) = step else {
            panic!("expected a pass, got {step:?}; shown {shown:?}");
        };
        assert!(shown.contains(&Guidance::TurnHead), "{shown:?}");
        assert!(shown.contains(&Guidance::FaceCamera), "{shown:?}");
        assert_eq!(live_frames() - before, 1, "only the chosen frame survives");
        let [x, y, w, h] = PORTRAIT_FACE;
        let expected = FaceBox {
            x: i32::try_from(x).unwrap_or(0),
            y: i32::try_from(y).unwrap_or(0),
            width: w,
            height: h,
        };
        assert!(photo.face.iou(&expected) > 0.7, "{:?}", photo.face);
        assert!(photo.quality.is_ok());
        let e = photo.evidence;
        assert!(e.turned_frames >= 2 && e.frontal_frames >= 3, "{e:?}");
        assert!(e.turn_ms > 0 && e.return_ms > 0, "{e:?}");
        assert!(
            !format!("{photo:?}").contains("[0, 0"),
            "no pixels in Debug"
        );
        drop(photo);
        assert_eq!(live_frames() - before, 0, "the photo is gone once dropped");
    }

    #[test]
    fn a_photo_held_still_never_turns() {
        let before = live_frames();
        let (step, shown) = run(Scene::PhotoHeldStill, 40);
        assert!(
            matches!(step, Step::Failed(LivenessFailure::NoTurn)),
            "{step:?}"
        );
        assert!(shown.contains(&Guidance::TurnHead));
        assert!(!shown.contains(&Guidance::FaceCamera), "{shown:?}");
        assert_eq!(live_frames() - before, 0, "every frame wiped");
    }

    #[test]
    fn nobody_is_never_framed() {
        let (step, shown) = run(Scene::Nobody, 40);
        assert!(
            matches!(
                step,
                Step::Failed(LivenessFailure::NotFramed {
                    last: Guidance::NoFace
                })
            ),
            "{step:?}"
        );
        assert!(shown.iter().all(|g| *g == Guidance::NoFace), "{shown:?}");
    }

    #[test]
    fn two_people_are_never_framed() {
        let (step, _) = run(Scene::TwoPeople, 40);
        assert!(
            matches!(
                step,
                Step::Failed(LivenessFailure::NotFramed {
                    last: Guidance::SeveralFaces
                })
            ),
            "{step:?}"
        );
    }

    #[test]
    fn a_photo_tilted_away_and_back_moves_as_a_whole() {
        let (step, shown) = run(Scene::PhotoTilted, 40);
        assert!(
            matches!(
                step,
                Step::Failed(LivenessFailure::FaceLeft | LivenessFailure::NoTurn)
            ),
            "{step:?}; shown {shown:?}"
        );
        assert!(
            !shown.contains(&Guidance::FaceCamera),
            "never counted as a turn"
        );
    }

    #[test]
    fn a_hand_passed_over_a_photos_face_is_not_a_turn() {
        // A photo held still; every 8 frames a hand covers its face for 3 frames: the face
        // vanishes and comes back with the rest of the picture still, but is never seen
        // half turned.
        let portrait = portrait();
        let [x, y, w, h] = PORTRAIT_FACE;
        let (step, shown) = run_frames("hand over photo", 40, |n| {
            let mut img = Scene::PhotoHeldStill.frame(&portrait, VGA, n);
            if (3..6).contains(&(n % 8)) {
                for py in y.saturating_sub(10)..y + h + 10 {
                    for px in x.saturating_sub(10)..x + w + 10 {
                        img.put_pixel(px, py, camera::image::Rgb([205, 160, 135]));
                    }
                }
            }
            img
        });
        assert!(
            matches!(step, Step::Failed(LivenessFailure::NoTurn)),
            "{step:?}; shown {shown:?}"
        );
        assert!(
            shown.contains(&Guidance::FaceCamera),
            "the covered face looked turned: {shown:?}"
        );
    }

    #[test]
    fn a_customer_who_walks_away_has_left() {
        let before = live_frames();
        let (step, shown) = run(Scene::WalksAway, 40);
        assert!(
            matches!(step, Step::Failed(LivenessFailure::FaceLeft)),
            "{step:?}; shown {shown:?}"
        );
        assert_eq!(live_frames() - before, 0);
    }

    #[test]
    fn failures_have_codes_and_words() {
        for f in [
            LivenessFailure::NotFramed {
                last: Guidance::TooFar,
            },
            LivenessFailure::NoTurn,
            LivenessFailure::DidNotReturn,
            LivenessFailure::FaceLeft,
            LivenessFailure::SeveralFaces,
        ] {
            assert!(f.code().starts_with("LIVENESS_"));
            assert!(!f.message_zh().is_ascii() && f.message_en().is_ascii());
        }
        assert_eq!(
            LivenessFailure::NotFramed {
                last: Guidance::TooFar
            }
            .message_zh(),
            "请靠近一点"
        );
    }

    #[test]
    fn head_region_takes_in_hair_and_chin() {
        let r = head_region(&FaceBox {
            x: 100,
            y: 100,
            width: 100,
            height: 100,
        });
        assert_eq!(
            r,
            FaceBox {
                x: 65,
                y: 55,
                width: 170,
                height: 170
            }
        );
    }
}
