//! What the screen tells the customer while the live photo is taken (拍照提示), in Chinese
//! and English, with a stable code for logs and statistics.

use camera::QualityIssue;
use camera::quality::QualityReport;
use serde::Serialize;

use crate::framing::{Framing, Move};

/// One instruction for the customer, worded by [`message_zh`](Self::message_zh) and
/// [`message_en`](Self::message_en).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "guidance", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Guidance {
    /// A photo-quality problem from the camera's checks (dark, over-exposed, blurred, low
    /// contrast). Darkness and glare are said before anything about the face (the detector
    /// cannot see in them); blur and contrast only once the face is framed.
    Photo {
        /// Which problem.
        issue: QualityIssue,
    },
    /// No face in the picture: stand in front of the camera.
    NoFace,
    /// More than one face: only the applicant may be in the picture.
    SeveralFaces,
    /// The face is too small: come closer.
    TooFar,
    /// The face is too large: step back.
    TooClose,
    /// The face is off-centre: move this way.
    Move {
        /// Which way, in the customer's terms.
        direction: Move,
    },
    /// Framed well: hold still and look at the camera.
    HoldStill,
    /// The liveness challenge: turn the head slowly to one side, then back.
    TurnHead,
    /// The head has turned: now turn back and look at the camera.
    FaceCamera,
    /// The photo is taken.
    Done,
}

impl Guidance {
    /// The guidance for a frame from its quality checks and framing verdict: glare and
    /// darkness first, then the face (how many, how far, where), then blur and contrast;
    /// [`HoldStill`](Self::HoldStill) when all is well.
    pub fn for_frame(quality: &QualityReport, framing: Framing) -> Guidance {
        for issue in [QualityIssue::TooDark, QualityIssue::Overexposed] {
            if quality.issues.contains(&issue) {
                return Guidance::Photo { issue };
            }
        }
        match framing {
            Framing::NoFace => return Guidance::NoFace,
            Framing::SeveralFaces { .. } => return Guidance::SeveralFaces,
            Framing::TooFar => return Guidance::TooFar,
            Framing::TooClose => return Guidance::TooClose,
            Framing::OffCentre { direction } => return Guidance::Move { direction },
            Framing::Ok => {}
        }
        match quality.issues.first() {
            Some(&issue) => Guidance::Photo { issue },
            None => Guidance::HoldStill,
        }
    }

    /// True when the frame is good enough to be the photo sent for comparison.
    pub fn is_good_frame(self) -> bool {
        self == Guidance::HoldStill
    }

    /// Stable code for logs, the technician's screen and head office statistics.
    pub fn code(self) -> &'static str {
        match self {
            Guidance::Photo { issue } => issue.code(),
            Guidance::NoFace => "FACE_NONE",
            Guidance::SeveralFaces => "FACE_SEVERAL",
            Guidance::TooFar => "FACE_TOO_FAR",
            Guidance::TooClose => "FACE_TOO_CLOSE",
            Guidance::Move {
                direction: Move::Left,
            } => "FACE_MOVE_LEFT",
            Guidance::Move {
                direction: Move::Right,
            } => "FACE_MOVE_RIGHT",
            Guidance::Move {
                direction: Move::Up,
            } => "FACE_MOVE_UP",
            Guidance::Move {
                direction: Move::Down,
            } => "FACE_MOVE_DOWN",
            Guidance::HoldStill => "FACE_HOLD_STILL",
            Guidance::TurnHead => "FACE_TURN_HEAD",
            Guidance::FaceCamera => "FACE_TURN_BACK",
            Guidance::Done => "FACE_DONE",
        }
    }

    /// What the customer reads, in Chinese.
    pub fn message_zh(self) -> &'static str {
        match self {
            Guidance::Photo { issue } => issue.message_zh(),
            Guidance::NoFace => "请站到摄像头前，正对屏幕",
            Guidance::SeveralFaces => "只允许一人入镜，请其他人离开画面",
            Guidance::TooFar => "请靠近一点",
            Guidance::TooClose => "请稍微后退一点",
            Guidance::Move { direction } => match direction {
                Move::Left => "请向左移一点",
                Move::Right => "请向右移一点",
                Move::Up => "请把脸抬高一点",
                Move::Down => "请把脸放低一点",
            },
            Guidance::HoldStill => "请保持不动，正对摄像头",
            Guidance::TurnHead => "请慢慢向一侧转头，再转回来",
            Guidance::FaceCamera => "请转回来，正对摄像头",
            Guidance::Done => "拍照完成",
        }
    }

    /// What the customer reads, in English.
    pub fn message_en(self) -> &'static str {
        match self {
            Guidance::Photo { issue } => issue.message_en(),
            Guidance::NoFace => "Please stand in front of the camera, facing the screen",
            Guidance::SeveralFaces => {
                "Only the applicant may be in the picture: please ask others to step aside"
            }
            Guidance::TooFar => "Please come a little closer",
            Guidance::TooClose => "Please step back a little",
            Guidance::Move { direction } => match direction {
                Move::Left => "Please move a little to your left",
                Move::Right => "Please move a little to your right",
                Move::Up => "Please raise your face a little",
                Move::Down => "Please lower your face a little",
            },
            Guidance::HoldStill => "Please hold still and look at the camera",
            Guidance::TurnHead => "Please turn your head slowly to one side, then back",
            Guidance::FaceCamera => "Now turn back and look at the camera",
            Guidance::Done => "Photo taken",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(issues: &[QualityIssue]) -> QualityReport {
        QualityReport {
            brightness: 120.0,
            sharpness: 300.0,
            contrast: 50.0,
            clipped_fraction: 0.0,
            issues: issues.to_vec(),
        }
    }

    #[test]
    fn darkness_comes_before_the_face_and_blur_after() {
        assert_eq!(
            Guidance::for_frame(&report(&[QualityIssue::TooDark]), Framing::NoFace),
            Guidance::Photo {
                issue: QualityIssue::TooDark
            }
        );
        assert_eq!(
            Guidance::for_frame(&report(&[QualityIssue::Blurred]), Framing::TooFar),
            Guidance::TooFar
        );
        assert_eq!(
            Guidance::for_frame(&report(&[QualityIssue::Blurred]), Framing::Ok),
            Guidance::Photo {
                issue: QualityIssue::Blurred
            }
        );
        assert_eq!(
            Guidance::for_frame(&report(&[]), Framing::Ok),
            Guidance::HoldStill
        );
        assert!(Guidance::for_frame(&report(&[]), Framing::Ok).is_good_frame());
    }

    #[test]
    fn every_guidance_has_a_code_and_both_wordings() {
        let all = [
            Guidance::Photo {
                issue: QualityIssue::Overexposed,
            },
            Guidance::NoFace,
            Guidance::SeveralFaces,
            Guidance::TooFar,
            Guidance::TooClose,
            Guidance::Move {
                direction: Move::Left,
            },
            Guidance::Move {
                direction: Move::Right,
            },
            Guidance::Move {
                direction: Move::Up,
            },
            Guidance::Move {
                direction: Move::Down,
            },
            Guidance::HoldStill,
            Guidance::TurnHead,
            Guidance::FaceCamera,
            Guidance::Done,
        ];
        let mut codes = std::collections::HashSet::new();
        for g in all {
            assert!(codes.insert(g.code()), "duplicate code {}", g.code());
            assert!(!g.message_zh().is_empty() && !g.message_zh().is_ascii());
            assert!(!g.message_en().is_empty() && g.message_en().is_ascii());
        }
        assert_eq!(Guidance::TooFar.message_zh(), "请靠近一点");
        assert_eq!(
            Guidance::SeveralFaces.message_zh(),
            "只允许一人入镜，请其他人离开画面"
        );
    }
}
