//! Pictures of the customer as this crate hands them around: in memory only, wiped when
//! dropped, `Debug` without pixels.

use camera::image::RgbImage;
use camera::quality::QualityReport;
use camera::{EncodeError, Resolution};
use zeroize::{Zeroize, Zeroizing};

use crate::framing::FaceBox;
use crate::liveness::LivenessEvidence;

#[cfg(test)]
thread_local! {
    /// Frames alive on this thread (tests check that only the chosen one survives).
    pub(crate) static LIVE_FRAMES: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

/// A camera frame of the customer: overwritten with zeros when dropped, never written
/// anywhere. `Debug` shows its size only.
pub struct SecretImage(RgbImage);

impl SecretImage {
    /// Takes ownership of a frame.
    pub fn new(image: RgbImage) -> Self {
        #[cfg(test)]
        LIVE_FRAMES.with(|n| n.set(n.get() + 1));
        Self(image)
    }

    /// The picture.
    pub fn image(&self) -> &RgbImage {
        &self.0
    }

    /// Overwrites the pixels with zeros now (dropping does it too).
    pub fn wipe(&mut self) {
        self.0.as_mut().zeroize();
    }
}

impl Drop for SecretImage {
    fn drop(&mut self) {
        self.wipe();
        #[cfg(test)]
        LIVE_FRAMES.with(|n| n.set(n.get() - 1));
    }
}

impl std::fmt::Debug for SecretImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretImage({}x{})", self.0.width(), self.0.height())
    }
}

/// A small picture for the screen's live view: packed RGB, 8 bits per channel, rows top to
/// bottom; mirrored like a looking glass when [`CaptureConfig::mirror_preview`] is set
/// (the default). Wiped when dropped; `Debug` shows its size only.
///
/// [`CaptureConfig::mirror_preview`]: crate::CaptureConfig::mirror_preview
pub struct PreviewFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 3` bytes.
    pub rgb: Zeroizing<Vec<u8>>,
    /// The face found in this frame, in the preview's coordinates (mirrored with it), for
    /// drawing the framing guide; `None` unless exactly one face was found.
    pub face: Option<FaceBox>,
}

impl std::fmt::Debug for PreviewFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviewFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("rgb_bytes", &self.rgb.len())
            .field("face", &self.face)
            .finish()
    }
}

/// The frame the liveness check chose, before encoding: the sharpest, most centred good
/// frontal frame of the challenge.
#[derive(Debug)]
pub struct LivePhoto {
    /// The frame.
    pub frame: SecretImage,
    /// The face in it, in its coordinates.
    pub face: FaceBox,
    /// The detector's score for that face.
    pub score: f64,
    /// The camera's quality checks of the frame (no issue: only good frames are chosen).
    pub quality: QualityReport,
    /// What the liveness check saw.
    pub evidence: LivenessEvidence,
}

impl LivePhoto {
    /// Encodes the frame as baseline JPEG at `quality` (1–100) and wipes the frame.
    pub fn encode(self, quality: u8) -> Result<LiveFace, EncodeError> {
        let jpeg = camera::codec::encode_jpeg(self.frame.image(), quality)?;
        Ok(LiveFace {
            jpeg: Zeroizing::new(jpeg),
            resolution: Resolution {
                width: self.frame.image().width(),
                height: self.frame.image().height(),
            },
            face: self.face,
            score: self.score,
            quality: self.quality,
            evidence: self.evidence,
        })
    }
}

/// 现场人像 — the live photo for the operator's face comparison (`face_check`): one JPEG
/// of the applicant that passed framing, quality and the liveness check. The bytes are
/// wiped when this is dropped; `Debug` shows sizes only. Send it, then drop it.
pub struct LiveFace {
    /// Baseline JPEG of the whole frame.
    pub jpeg: Zeroizing<Vec<u8>>,
    /// Size of the picture.
    pub resolution: Resolution,
    /// Where the face is in it.
    pub face: FaceBox,
    /// The detector's score for the face.
    pub score: f64,
    /// The camera's quality measurements of the frame.
    pub quality: QualityReport,
    /// What the liveness check saw (timings and frame counts, no pixels).
    pub evidence: LivenessEvidence,
}

impl std::fmt::Debug for LiveFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFace")
            .field("jpeg_bytes", &self.jpeg.len())
            .field("resolution", &self.resolution)
            .field("face", &self.face)
            .field("score", &self.score)
            .field("quality", &self.quality)
            .field("evidence", &self.evidence)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camera::image::Rgb;

    #[test]
    fn wipe_overwrites_every_pixel_and_debug_shows_size_only() {
        let mut s = SecretImage::new(RgbImage::from_pixel(4, 3, Rgb([200, 100, 50])));
        assert_eq!(format!("{s:?}"), "SecretImage(4x3)");
        s.wipe();
        assert!(s.image().as_raw().iter().all(|&b| b == 0));
        let p = PreviewFrame {
            width: 2,
            height: 1,
            rgb: Zeroizing::new(vec![9; 6]),
            face: None,
        };
        let text = format!("{p:?}");
        assert!(
            text.contains("rgb_bytes: 6") && !text.contains("[9"),
            "{text}"
        );
    }
}
