//! The live photo for real-name services, through `telekiosk-face`: frames from the camera,
//! checked on the kiosk before anything is sent (picture quality, exactly one face large and
//! centred enough, a head-turn liveness challenge), the customer guided as it goes, previews
//! for the screen. The photo lives in memory only and is wiped when dropped.

use std::time::Duration;

use camera::Camera;
use camera::quality::QualityIssue;
use telekiosk_face::{CaptureConfig, CaptureProblem, Guidance, Move, capture_live};

use super::screen::Preview;
use crate::flow::devices::{FaceGuidance, FaceProblem, LivePhoto};

/// Takes a live photo within `timeout`, telling the customer what to do (`guide`, called when
/// the advice changes) and showing the camera's picture (`show`, a few times a second).
pub async fn capture(
    camera: Option<Camera>,
    timeout: Duration,
    mut guide: impl FnMut(FaceGuidance),
    mut show: impl FnMut(Preview),
) -> Result<LivePhoto, FaceProblem> {
    let Some(camera) = camera else {
        return Err(FaceProblem::CameraDown("no camera is working".into()));
    };
    let mut config = CaptureConfig::default();
    // The flow's limit bounds the whole capture.
    let limit_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    config.liveness.overall_ms = config.liveness.overall_ms.min(limit_ms);
    let mut last = FaceGuidance::LookAtCamera;
    guide(last);
    let result = capture_live(&camera, &config, |guidance, preview| {
        let now = words(guidance);
        if now != last {
            last = now;
            guide(now);
        }
        if let Some(p) = preview {
            show(Preview {
                width: p.width,
                height: p.height,
                rgb: p.rgb.to_vec(),
            });
        }
    })
    .await;
    match result {
        Ok(live) => Ok(LivePhoto {
            jpeg: live.jpeg.to_vec(),
        }),
        Err(CaptureProblem::TimedOut { last }) => Err(FaceProblem::Timeout { last: words(last) }),
        Err(CaptureProblem::LivenessFailed { reason }) => {
            tracing::info!(reason = reason.code(), "live photo: liveness check failed");
            Err(FaceProblem::NotLive)
        }
        Err(e) => Err(FaceProblem::CameraDown(format!("{} ({e})", e.code()))),
    }
}

/// The flow's words for the face part's guidance.
fn words(g: Guidance) -> FaceGuidance {
    match g {
        Guidance::Photo {
            issue: QualityIssue::TooDark | QualityIssue::LowContrast,
        } => FaceGuidance::TooDark,
        Guidance::Photo {
            issue: QualityIssue::Overexposed,
        } => FaceGuidance::TooBright,
        Guidance::Photo { .. } | Guidance::HoldStill => FaceGuidance::HoldStill,
        Guidance::NoFace => FaceGuidance::LookAtCamera,
        Guidance::SeveralFaces => FaceGuidance::OnlyOnePerson,
        Guidance::TooFar => FaceGuidance::MoveCloser,
        Guidance::TooClose => FaceGuidance::MoveBack,
        Guidance::Move { direction } => match direction {
            Move::Left => FaceGuidance::MoveLeft,
            Move::Right => FaceGuidance::MoveRight,
            Move::Up => FaceGuidance::MoveUp,
            Move::Down => FaceGuidance::MoveDown,
        },
        Guidance::TurnHead => FaceGuidance::TurnHead,
        Guidance::FaceCamera => FaceGuidance::TurnBack,
        Guidance::Done => FaceGuidance::Done,
        // Advice this kiosk has no words for yet: the general one.
        _ => FaceGuidance::LookAtCamera,
    }
}
