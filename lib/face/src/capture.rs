//! The whole live capture for the kiosk runtime: frames from the camera, analysis off the
//! async threads, guidance and a preview for the screen, the liveness check, the photo.

use std::time::Duration;

use camera::image::imageops;
use camera::{Camera, CameraError, EncodeError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::analysis::{AnalysisConfig, FrameAnalysis, analyse};
use crate::detect::{FaceDetector, ModelError};
use crate::guidance::Guidance;
use crate::liveness::{Liveness, LivenessConfig, LivenessFailure, Step};
use crate::photo::{LiveFace, PreviewFrame, SecretImage};

/// Settings of [`capture_live`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptureConfig {
    /// Detection, framing and quality thresholds.
    pub analysis: AnalysisConfig,
    /// The liveness check's thresholds and time limits (its `overall_ms` bounds the whole
    /// capture).
    pub liveness: LivenessConfig,
    /// Least time between the starts of two analysed frames, ms (default 200: at most five
    /// frames a second, leaving the kiosk's other core free).
    pub frame_interval_ms: u64,
    /// Width of the preview frames for the screen (default 320).
    pub preview_width: u32,
    /// Mirror the preview like a looking glass (default true: customers expect to move
    /// left and see themselves move left).
    pub mirror_preview: bool,
    /// JPEG quality of the photo, 1–100 (default the camera's, 85).
    pub jpeg_quality: u8,
    /// Undecodable frames in a row before the camera counts as unavailable (default 5).
    pub max_bad_frames: u32,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            analysis: AnalysisConfig::default(),
            liveness: LivenessConfig::default(),
            frame_interval_ms: 200,
            preview_width: 320,
            mirror_preview: true,
            jpeg_quality: camera::DEFAULT_JPEG_QUALITY,
            max_bad_frames: 5,
        }
    }
}

/// Why no live photo was taken. Each has words for the screen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureProblem {
    /// The customer was never framed well enough within the time limit; `last` is the last
    /// guidance shown ("请靠近一点", "光线太暗"…).
    #[error("no usable face in time (last guidance {})", last.code())]
    TimedOut {
        /// The guidance shown last.
        last: Guidance,
    },
    /// The liveness challenge failed.
    #[error("liveness check failed ({})", reason.code())]
    LivenessFailed {
        /// Why.
        reason: LivenessFailure,
    },
    /// The camera is missing, unplugged or not answering.
    #[error("camera unavailable")]
    CameraUnavailable(#[source] CameraError),
    /// The compiled-in face model cannot be read.
    #[error("face detector unavailable")]
    Detector(#[source] ModelError),
    /// The analysis of a frame failed (a panic in the detector).
    #[error("frame analysis failed")]
    Analysis(#[source] tokio::task::JoinError),
    /// The chosen photo could not be encoded.
    #[error("the photo could not be encoded")]
    Encode(#[source] EncodeError),
}

impl CaptureProblem {
    /// Stable code for logs and statistics.
    pub fn code(&self) -> &'static str {
        match self {
            CaptureProblem::TimedOut { .. } => "CAPTURE_TIMED_OUT",
            CaptureProblem::LivenessFailed { reason } => reason.code(),
            CaptureProblem::CameraUnavailable(_) => "CAPTURE_CAMERA_UNAVAILABLE",
            CaptureProblem::Detector(_) => "CAPTURE_DETECTOR_UNAVAILABLE",
            CaptureProblem::Analysis(_) => "CAPTURE_ANALYSIS_FAILED",
            CaptureProblem::Encode(_) => "CAPTURE_ENCODE_FAILED",
        }
    }

    /// True when trying again at the kiosk can help (the customer's doing); false when the
    /// photo service itself is down and the customer should go to the counter.
    pub fn customer_can_retry(&self) -> bool {
        matches!(
            self,
            CaptureProblem::TimedOut { .. } | CaptureProblem::LivenessFailed { .. }
        )
    }

    /// What the customer reads, in Chinese.
    pub fn message_zh(&self) -> &'static str {
        match self {
            CaptureProblem::TimedOut { last } => match last {
                Guidance::HoldStill => "拍照超时，请正对摄像头保持不动后重试",
                other => other.message_zh(),
            },
            CaptureProblem::LivenessFailed { reason } => reason.message_zh(),
            _ => "拍照服务暂不可用，请到人工柜台办理",
        }
    }

    /// What the customer reads, in English.
    pub fn message_en(&self) -> &'static str {
        match self {
            CaptureProblem::TimedOut { last } => match last {
                Guidance::HoldStill => {
                    "Time is up: please look at the camera, hold still and try again"
                }
                other => other.message_en(),
            },
            CaptureProblem::LivenessFailed { reason } => reason.message_en(),
            _ => "The photo service is unavailable: please go to the counter",
        }
    }
}

/// Takes the live photo of real-name registration: pulls frames from `camera`, analyses
/// each on tokio's blocking pool (detection takes tens of milliseconds), tells `progress`
/// what to show after every frame — the guidance and a small preview, a few times a second
/// — and runs the liveness check until it passes or fails, or
/// [`LivenessConfig::overall_ms`] has passed.
///
/// Only the chosen frame survives, as the returned JPEG; every other frame is wiped as soon
/// as it has been looked at. Nothing is written to disk or logged but codes and counts.
/// Dropping the future stops the capture (a frame being analysed is wiped when its
/// analysis ends).
pub async fn capture_live<F>(
    camera: &Camera,
    config: &CaptureConfig,
    mut progress: F,
) -> Result<LiveFace, CaptureProblem>
where
    F: FnMut(Guidance, Option<PreviewFrame>),
{
    let detector = FaceDetector::new(config.analysis.detector).map_err(CaptureProblem::Detector)?;
    let config = *config;
    let mut liveness = Liveness::new(config.liveness);
    let start = tokio::time::Instant::now();
    let interval = Duration::from_millis(config.frame_interval_ms);
    let mut bad_frames = 0u32;
    loop {
        let tick = tokio::time::Instant::now();
        let frame = match camera.still().await {
            Ok(frame) => {
                bad_frames = 0;
                SecretImage::new(frame.image)
            }
            Err(CameraError::Decode(_)) if bad_frames < config.max_bad_frames => {
                bad_frames += 1;
                continue;
            }
            Err(e) => return Err(CaptureProblem::CameraUnavailable(e)),
        };
        let now_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (analysis, frame, preview) = tokio::task::spawn_blocking(move || {
            let analysis = analyse(frame.image(), &detector, &config.analysis);
            let preview = preview(
                &frame,
                &analysis,
                config.preview_width,
                config.mirror_preview,
            );
            (analysis, frame, preview)
        })
        .await
        .map_err(CaptureProblem::Analysis)?;
        tracing::trace!(
            guidance = analysis.guidance.code(),
            faces = analysis.faces.len(),
            "face frame analysed"
        );
        match liveness.feed(now_ms, &analysis, frame) {
            Step::Continue { guidance } => progress(guidance, Some(preview)),
            Step::Passed(photo) => {
                progress(Guidance::Done, Some(preview));
                let jpeg_quality = config.jpeg_quality;
                let evidence = photo.evidence;
                let live = tokio::task::spawn_blocking(move || photo.encode(jpeg_quality))
                    .await
                    .map_err(CaptureProblem::Analysis)?
                    .map_err(CaptureProblem::Encode)?;
                tracing::info!(?evidence, "live face captured");
                return Ok(live);
            }
            Step::Failed(LivenessFailure::NotFramed { last }) => {
                tracing::info!(last = last.code(), "no usable face in time");
                return Err(CaptureProblem::TimedOut { last });
            }
            Step::Failed(reason) => {
                tracing::info!(reason = reason.code(), evidence = ?liveness.evidence(), "liveness check failed");
                return Err(CaptureProblem::LivenessFailed { reason });
            }
        }
        tokio::time::sleep_until(tick + interval).await;
    }
}

/// The frame scaled down to `width` (never up), mirrored when asked, with the face box in
/// its coordinates.
pub fn preview(
    frame: &SecretImage,
    analysis: &FrameAnalysis,
    width: u32,
    mirror: bool,
) -> PreviewFrame {
    let image = frame.image();
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return PreviewFrame {
            width: 0,
            height: 0,
            rgb: Zeroizing::new(Vec::new()),
            face: None,
        };
    }
    let width = width.clamp(1, w);
    let factor = f64::from(width) / f64::from(w.max(1));
    let height = crate::framing::to_u32(f64::from(h) * factor).max(1);
    let mut small = imageops::resize(image, width, height, imageops::FilterType::Triangle);
    if mirror {
        imageops::flip_horizontal_in_place(&mut small);
    }
    let face = analysis.single_face().map(|f| {
        let b = f.bbox.scaled(factor);
        if mirror { b.mirrored(width) } else { b }
    });
    PreviewFrame {
        width,
        height,
        rgb: Zeroizing::new(small.into_raw()),
        face,
    }
}
