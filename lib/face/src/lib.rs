//! 人脸取景与活体检测 — the live photo of real-name registration (新开户、补卡、实名补登记),
//! checked on the kiosk before anything is sent to the operator.
//!
//! The operator compares the live photo with the ID card's (`face_check`); this crate makes
//! sure what it sends is worth comparing, and tells the customer at once what to change:
//!
//! - [`detect`]: SeetaFace's frontal face detector (`rustface`, BSD-2-Clause), its model
//!   compiled into the binary — nothing is downloaded or read from disk.
//! - [`framing`]: face boxes and the framing verdict — no face, several faces, too far, too
//!   close, off-centre (and which way to move, in the customer's terms), or fine —
//!   against [`FramingConfig`]'s thresholds.
//! - [`guidance`]: one [`Guidance`] per frame combining the framing with the camera's
//!   photo-quality checks (`camera::quality`: dark, over-exposed, blurred, low contrast),
//!   worded in Chinese and English ("请靠近一点", "光线太暗…", "只允许一人入镜…").
//! - [`analysis`]: [`analyse`] one frame: quality, faces, framing, guidance, and a coarse
//!   grid of the scene.
//! - [`liveness`]: a pure state machine (time passed in, no clock) for a head-turn
//!   challenge, fed frame by frame; it keeps only the best frame and says why it failed.
//!   Its module documentation says what it checks and what it does not defend against.
//! - [`capture`]: [`capture_live`], the async driver the kiosk runtime calls.
//!
//! # For the runtime
//!
//! ```no_run
//! # async fn example(camera: camera::Camera) {
//! use telekiosk_face::{CaptureConfig, CaptureProblem, capture_live};
//!
//! let config = CaptureConfig::default();
//! let result = capture_live(&camera, &config, |guidance, preview| {
//!     // On the screen: guidance.message_zh() / message_en(), and the preview
//!     // (RGB bytes, width, height, the face box for the framing guide).
//!     let _ = (guidance.code(), preview.map(|p| (p.width, p.height)));
//! })
//! .await;
//! match result {
//!     Ok(live) => { /* send live.jpeg in face_check, then drop `live` (wiped) */ }
//!     Err(problem) if problem.customer_can_retry() => { /* problem.message_zh(), try again */ }
//!     Err(_) => { /* photo service down: send the customer to the counter */ }
//! }
//! # }
//! ```
//!
//! The capture starts only after the customer's separate consent to face recognition
//! (the flow's business); the flow decides how many tries to allow before sending the
//! customer to the counter.
//!
//! # Privacy
//!
//! Frames exist in memory only. Each is wiped ([`zeroize`]) as soon as it has been
//! analysed, except the best one, which is wiped when replaced or after encoding; the
//! returned [`LiveFace`] wipes its JPEG when dropped. The grey analysis images, the scene
//! grids and the previews are wiped too. `Debug` of every type holding pixels shows sizes
//! only, and logs carry codes and counts, never pixels. Not wiped: scratch buffers inside
//! `rustface`, the `image` crate's resizer and JPEG encoder, and the camera driver's own
//! capture buffers, which are freed without being overwritten.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod capture;
pub mod detect;
pub mod framing;
pub mod guidance;
pub mod liveness;
pub mod photo;

pub use analysis::{AnalysisConfig, FrameAnalysis, SceneGrid, analyse};
pub use capture::{CaptureConfig, CaptureProblem, capture_live};
pub use detect::{DetectorConfig, FaceDetector, ModelError};
pub use framing::{Face, FaceBox, Framing, FramingConfig, Move};
pub use guidance::Guidance;
pub use liveness::{Liveness, LivenessConfig, LivenessEvidence, LivenessFailure, Stage, Step};
pub use photo::{LiveFace, LivePhoto, PreviewFrame, SecretImage};
