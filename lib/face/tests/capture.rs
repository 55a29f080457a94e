//! The whole live capture against the simulated camera, as the kiosk runtime runs it.

use std::time::Duration;

use camera::sim::Scene;
use camera::{
    Camera, CameraConfig, CameraError, Frame, FrameSource, Resolution, SourceConfig, SourceInfo,
    SourceKind, Unavailable,
};
use telekiosk_face::{
    CaptureConfig, CaptureProblem, Guidance, LivenessConfig, LivenessFailure, capture_live,
};

async fn camera(scene: Scene) -> Camera {
    Camera::open(CameraConfig {
        source: SourceConfig::SimulatedScene { scene },
        capture_timeout: Duration::from_secs(30),
        ..CameraConfig::default()
    })
    .await
    .expect("the simulated camera opens")
}

/// Frames as fast as they come, and short time limits.
fn quick() -> CaptureConfig {
    CaptureConfig {
        frame_interval_ms: 0,
        liveness: LivenessConfig {
            challenge_ms: 3_000,
            overall_ms: 5_000,
            ..LivenessConfig::default()
        },
        ..CaptureConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_customer_gives_one_jpeg_and_the_screen_saw_every_step() {
    let cam = camera(Scene::LiveCustomer).await;
    let mut shown = Vec::new();
    let mut previews = 0;
    // Generous limits: a loaded machine analyses slowly, and the scene's turn must fit.
    let config = CaptureConfig {
        frame_interval_ms: 0,
        ..CaptureConfig::default()
    };
    let live = capture_live(&cam, &config, |guidance, preview| {
        if shown.last() != Some(&guidance) {
            shown.push(guidance);
        }
        if let Some(p) = preview {
            assert_eq!((p.width, p.height), (320, 240));
            assert_eq!(p.rgb.len(), 320 * 240 * 3);
            previews += 1;
        }
    })
    .await
    .expect("a live customer passes");
    assert_eq!(
        shown.first(),
        Some(&Guidance::HoldStill),
        "framed at once: {shown:?}"
    );
    let turn = shown.iter().position(|g| *g == Guidance::TurnHead);
    let back = shown.iter().position(|g| *g == Guidance::FaceCamera);
    assert!(turn < back && turn.is_some(), "{shown:?}");
    assert_eq!(shown.last(), Some(&Guidance::Done));
    assert!(previews >= 8, "{previews}");

    let decoded = camera::codec::mjpeg_to_rgb(&live.jpeg).expect("a JPEG");
    assert_eq!(decoded.dimensions(), (640, 480));
    assert_eq!(
        live.resolution,
        Resolution {
            width: 640,
            height: 480
        }
    );
    assert!(live.face.width > 100, "{:?}", live.face);
    let text = format!("{live:?}");
    assert!(
        text.contains("jpeg_bytes") && !text.contains("255, 216"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_held_still_fails_the_liveness_check() {
    let cam = camera(Scene::PhotoHeldStill).await;
    let mut last = None;
    let err = capture_live(&cam, &quick(), |g, _| last = Some(g))
        .await
        .expect_err("a still photo must not pass");
    assert!(
        matches!(
            err,
            CaptureProblem::LivenessFailed {
                reason: LivenessFailure::NoTurn
            }
        ),
        "{err:?}"
    );
    assert_eq!(last, Some(Guidance::TurnHead));
    assert!(err.customer_can_retry());
    assert_eq!(
        err.message_zh(),
        "未检测到转头动作，请按提示慢慢转头再转回来"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_times_out_with_the_last_guidance() {
    let cam = camera(Scene::Nobody).await;
    let err = capture_live(&cam, &quick(), |_, _| {})
        .await
        .expect_err("nobody there");
    assert!(
        matches!(
            err,
            CaptureProblem::TimedOut {
                last: Guidance::NoFace
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.message_zh(), "请站到摄像头前，正对屏幕");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_far_times_out_saying_come_closer() {
    let cam = camera(Scene::TooFar).await;
    let err = capture_live(&cam, &quick(), |_, _| {})
        .await
        .expect_err("too far");
    assert!(
        matches!(
            err,
            CaptureProblem::TimedOut {
                last: Guidance::TooFar
            }
        ),
        "{err:?}"
    );
}

/// A camera that fails the way an unplugged one does.
struct Unplugged;
impl FrameSource for Unplugged {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: SourceKind::SimulatedPattern,
            name: "unplugged".to_owned(),
            resolution: Resolution::default(),
            format: camera::PixelFormat::Rgb,
        }
    }
    fn capture(&mut self) -> Result<Frame, CameraError> {
        Err(CameraError::CameraUnavailable {
            cause: Unavailable::Timeout(Duration::from_secs(5)),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unplugged_camera_sends_the_customer_to_the_counter() {
    let cam = Camera::spawn_with(CameraConfig::default(), || {
        Ok(Box::new(Unplugged) as Box<dyn FrameSource>)
    })
    .await
    .expect("opens");
    let err = capture_live(&cam, &quick(), |_, _| {})
        .await
        .expect_err("no frames");
    assert!(
        matches!(err, CaptureProblem::CameraUnavailable(_)),
        "{err:?}"
    );
    assert!(!err.customer_can_retry());
    assert_eq!(err.message_zh(), "拍照服务暂不可用，请到人工柜台办理");
}
