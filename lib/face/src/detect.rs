//! Face detection (人脸检测) with SeetaFace's frontal detector through `rustface`.
//!
//! The model (`seeta_fd_frontal_v1.0.bin`, 1.2 MB, BSD-2-Clause, from the `rustface` 0.1.7
//! package; `model/README.md`) is compiled into the binary: nothing is read from disk or
//! the network at run time.
//!
//! Frames are turned to grey and scaled down to [`DetectorConfig::analysis_width`] first:
//! SeetaFace's smallest window is 40 pixels at the scale it is given (rustface 0.1.7 does
//! not use its minimum-face-size setting to skip scales), so the analysis width decides
//! both the smallest face seen and the time taken.

use std::cell::RefCell;
use std::sync::OnceLock;

use camera::image::{GrayImage, RgbImage, imageops};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::framing::{Face, FaceBox, to_u32};

/// The SeetaFace frontal face model shipped in the `rustface` 0.1.7 package (BSD-2-Clause).
const MODEL_BYTES: &[u8] = include_bytes!("../model/seeta_fd_frontal_v1.0.bin");

/// SeetaFace's detection window: no face smaller than this (at analysis scale) is found.
pub const WINDOW: u32 = 40;

/// Detector settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectorConfig {
    /// Width frames are scaled down to before detection, keeping the aspect ratio
    /// (default 480; frames narrower are used as they are). At 480 the smallest face found
    /// is about 8 % of the frame's width (53 pixels at 640×480); detection takes about
    /// a quarter of the time it takes at 640.
    pub analysis_width: u32,
    /// Faces scoring below this are ignored (default 7.0). SeetaFace's own examples use
    /// 2.0 for "anything face-like"; the kiosk wants a clear frontal face to send for
    /// comparison: the portrait fixtures score 12–33 (9 when too dark), the camera
    /// simulator's drawn cartoon face 2.8–5.6, a head turned by 50° about 6–9.
    pub min_score: f64,
    /// Step of the sliding window in pixels at analysis scale, at least 1 (default 4).
    pub step: u32,
    /// Ratio between the image pyramid's scales, 0.5–0.95 (default 0.8).
    pub pyramid_scale: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            analysis_width: 480,
            min_score: 7.0,
            step: 4,
            pyramid_scale: 0.8,
        }
    }
}

impl DetectorConfig {
    /// The settings with every value brought into the range the detector accepts
    /// (rustface panics outside it).
    pub fn sanitised(&self) -> DetectorConfig {
        DetectorConfig {
            analysis_width: self.analysis_width.clamp(WINDOW, 4096),
            min_score: if self.min_score.is_finite() && self.min_score > 0.0 {
                self.min_score
            } else {
                DetectorConfig::default().min_score
            },
            step: self.step.clamp(1, 16),
            pyramid_scale: if self.pyramid_scale.is_finite() {
                self.pyramid_scale.clamp(0.5, 0.95)
            } else {
                DetectorConfig::default().pyramid_scale
            },
        }
    }
}

/// The compiled-in model could not be read (the binary is damaged).
#[derive(Debug, thiserror::Error)]
#[error("the face detection model cannot be read: {0}")]
pub struct ModelError(String);

fn model() -> Result<&'static rustface::Model, ModelError> {
    static MODEL: OnceLock<Result<rustface::Model, String>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            rustface::read_model(std::io::Cursor::new(MODEL_BYTES)).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| ModelError(e.clone()))
}

thread_local! {
    /// rustface's detector is not `Send` (a boxed trait object), so each thread that
    /// detects keeps its own, built once from the shared model.
    static DETECTOR: RefCell<Option<(DetectorConfig, Box<dyn rustface::Detector>)>> =
        const { RefCell::new(None) };
}

/// A face detector: cheap to copy and `Send`, usable from any thread (each thread builds
/// its own rustface detector the first time).
#[derive(Clone, Copy)]
pub struct FaceDetector {
    config: DetectorConfig,
    model: &'static rustface::Model,
}

impl std::fmt::Debug for FaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceDetector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FaceDetector {
    /// A detector with `config` (values out of range are brought into range, see
    /// [`DetectorConfig::sanitised`]). Reads the compiled-in model the first time.
    pub fn new(config: DetectorConfig) -> Result<Self, ModelError> {
        Ok(Self {
            config: config.sanitised(),
            model: model()?,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// The grey analysis image of a frame (scaled down to the analysis width) and the
    /// factor from its coordinates to the frame's. The caller wipes it after use.
    pub fn analysis_image(&self, frame: &RgbImage) -> (GrayImage, f64) {
        if frame.width() == 0 || frame.height() == 0 {
            // `imageops::grayscale` indexes out of bounds on a frame with no columns.
            return (GrayImage::new(0, 0), 1.0);
        }
        let mut gray = imageops::grayscale(frame);
        let (w, h) = gray.dimensions();
        if w <= self.config.analysis_width {
            return (gray, 1.0);
        }
        let scale = f64::from(self.config.analysis_width) / f64::from(w);
        let ah = to_u32(f64::from(h) * scale).max(1);
        let small = imageops::resize(
            &gray,
            self.config.analysis_width,
            ah,
            imageops::FilterType::Triangle,
        );
        gray.as_mut().zeroize();
        (small, f64::from(w) / f64::from(self.config.analysis_width))
    }

    /// Faces in a frame, in the frame's coordinates, best score first.
    pub fn detect(&self, frame: &RgbImage) -> Vec<Face> {
        let (mut gray, factor) = self.analysis_image(frame);
        let faces = self
            .detect_gray(&gray)
            .into_iter()
            .map(|f| Face {
                bbox: f.bbox.scaled(factor),
                score: f.score,
            })
            .collect();
        gray.as_mut().zeroize();
        faces
    }

    /// Faces in a grey image as it is (no scaling), in its coordinates, best score first.
    /// Images smaller than the detector's window have none.
    pub fn detect_gray(&self, gray: &GrayImage) -> Vec<Face> {
        let (w, h) = gray.dimensions();
        if w < WINDOW || h < WINDOW {
            return Vec::new();
        }
        let data = rustface::ImageData::new(gray.as_raw(), w, h);
        let found = DETECTOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            let current = matches!(&*slot, Some((config, _)) if *config == self.config);
            if !current {
                let mut d = rustface::create_detector_with_model(self.model.clone());
                d.set_min_face_size(WINDOW);
                d.set_score_thresh(self.config.min_score);
                d.set_pyramid_scale_factor(self.config.pyramid_scale);
                d.set_slide_window_step(self.config.step, self.config.step);
                *slot = Some((self.config, d));
            }
            match &mut *slot {
                Some((_, detector)) => detector.detect(&data),
                None => Vec::new(),
            }
        });
        let mut faces: Vec<Face> = found
            .iter()
            .filter(|f| f.score() >= self.config.min_score)
            .map(|f| {
                let b = f.bbox();
                Face {
                    bbox: FaceBox {
                        x: b.x(),
                        y: b.y(),
                        width: b.width(),
                        height: b.height(),
                    },
                    score: f.score(),
                }
            })
            .collect();
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        faces
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camera::image::Luma;
    use proptest::prelude::*;

    #[test]
    fn the_compiled_in_model_reads() {
        assert!(model().is_ok());
    }

    #[test]
    fn out_of_range_settings_are_brought_into_range() {
        let wild = DetectorConfig {
            analysis_width: 0,
            min_score: f64::NAN,
            step: 0,
            pyramid_scale: 7.0,
        }
        .sanitised();
        assert_eq!(wild.analysis_width, WINDOW);
        assert_eq!(wild.min_score, 7.0);
        assert_eq!(wild.step, 1);
        assert_eq!(wild.pyramid_scale, 0.95);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_small_grey_image_is_searched_without_panic(
            w in 0u32..72,
            h in 0u32..72,
            seed in any::<u8>(),
        ) {
            let detector = FaceDetector::new(DetectorConfig::default()).expect("model");
            let img = GrayImage::from_fn(w, h, |x, y| {
                Luma([seed.wrapping_add(u8::try_from((x * 7 + y * 3) % 256).unwrap_or(0))])
            });
            let faces = detector.detect_gray(&img);
            prop_assert!(faces.iter().all(|f| f.score >= 7.0));
            let rgb = RgbImage::from_fn(w, h, |x, y| {
                let v = img.get_pixel(x, y).0[0];
                camera::image::Rgb([v, v, v])
            });
            let _ = detector.detect(&rgb);
        }
    }
}
