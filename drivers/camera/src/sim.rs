//! The simulated camera the demo and the tests use: a moving test pattern with a synthetic
//! face, image files from a folder played in a loop, or a scripted [`Scene`] drawn from a
//! real portrait (a customer turning their head, a photo held still, nobody, two people…).
//! All deliver frames of the configured size, like a real camera.

pub mod scene;

pub use scene::Scene;

use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};

use crate::codec::PixelFormat;
use crate::{CameraError, Frame, FrameSource, Resolution, SourceInfo, SourceKind, Unavailable};

/// Image files the folder source plays, by extension.
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

/// A simulated camera.
pub struct SimulatedSource {
    resolution: Resolution,
    frames: Option<(PathBuf, Vec<RgbImage>)>,
    /// A scene and the portrait it is drawn from.
    scene: Option<(Scene, RgbImage)>,
    sequence: u64,
}

impl std::fmt::Debug for SimulatedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedSource")
            .field("resolution", &self.resolution)
            .field("frames_dir", &self.frames.as_ref().map(|(d, _)| d))
            .field("frame_count", &self.frames.as_ref().map(|(_, f)| f.len()))
            .field("scene", &self.scene.as_ref().map(|(s, _)| s))
            .field("sequence", &self.sequence)
            .finish()
    }
}

impl SimulatedSource {
    /// A moving test pattern of the given size.
    pub fn pattern(resolution: Resolution) -> Self {
        Self {
            resolution,
            frames: None,
            scene: None,
            sequence: 0,
        }
    }

    /// The frames of `scene`, drawn from the committed portrait at `resolution`, frame `n`
    /// for the `n`-th capture.
    pub fn scene(scene: Scene, resolution: Resolution) -> Self {
        Self {
            resolution,
            frames: None,
            scene: Some((scene, scene::portrait())),
            sequence: 0,
        }
    }

    /// Frames from the JPEG/PNG files in `dir`, in file-name order, scaled to `resolution`,
    /// played in a loop.
    pub fn from_folder(dir: &Path, resolution: Resolution) -> Result<Self, CameraError> {
        let unavailable = |source| CameraError::CameraUnavailable {
            cause: Unavailable::Frames {
                dir: dir.to_path_buf(),
                source,
            },
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(unavailable)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        paths.sort();
        let mut frames = Vec::with_capacity(paths.len());
        for path in &paths {
            match image::open(path) {
                Ok(img) => frames.push(imageops::resize(
                    &img.to_rgb8(),
                    resolution.width,
                    resolution.height,
                    FilterType::Triangle,
                )),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping unreadable frame file")
                }
            }
        }
        if frames.is_empty() {
            return Err(CameraError::CameraUnavailable {
                cause: Unavailable::NoFrames {
                    dir: dir.to_path_buf(),
                },
            });
        }
        Ok(Self {
            resolution,
            frames: Some((dir.to_path_buf(), frames)),
            scene: None,
            sequence: 0,
        })
    }
}

impl FrameSource for SimulatedSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: match (&self.frames, &self.scene) {
                (Some((dir, _)), _) => SourceKind::SimulatedFolder { dir: dir.clone() },
                (None, Some((scene, _))) => SourceKind::SimulatedScene { scene: *scene },
                (None, None) => SourceKind::SimulatedPattern,
            },
            name: "telekiosk simulated camera".to_owned(),
            resolution: self.resolution,
            format: PixelFormat::Rgb,
        }
    }

    fn capture(&mut self) -> Result<Frame, CameraError> {
        let sequence = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        let image = match &self.frames {
            None => match &self.scene {
                Some((scene, portrait)) => scene.frame(portrait, self.resolution, sequence),
                None => test_pattern(self.resolution, sequence),
            },
            Some((_, frames)) => {
                let index = usize::try_from(sequence % frames.len().max(1) as u64).unwrap_or(0);
                frames
                    .get(index)
                    .cloned()
                    .unwrap_or_else(|| test_pattern(self.resolution, sequence))
            }
        };
        Ok(Frame {
            image,
            format: PixelFormat::Rgb,
            sequence,
        })
    }
}

/// Frame `n` of the test pattern: a lit grey backdrop with a fine chequered test strip at
/// the bottom, and a face (skin-toned oval, hair, eyes, brows, mouth) that drifts left and
/// right so consecutive frames differ.
pub fn test_pattern(resolution: Resolution, n: u64) -> RgbImage {
    let (w, h) = (resolution.width, resolution.height);
    let (wf, hf) = (f64::from(w.max(1)), f64::from(h.max(1)));
    // The face drifts over a 120-frame cycle (4 s at 30 fps).
    let phase = (n % 120) as f64 / 120.0 * std::f64::consts::TAU;
    let cx = wf * (0.5 + 0.15 * phase.sin());
    let cy = hf * 0.45;
    let (rx, ry) = (wf * 0.16, hf * 0.28);
    let strip_top = hf * 0.88;
    let check = (w / 40).max(2);

    RgbImage::from_fn(w, h, |x, y| {
        let (xf, yf) = (f64::from(x), f64::from(y));
        if yf >= strip_top {
            // Chequered test strip: sharp edges the focus check can see.
            return if (x / check + y / check).is_multiple_of(2) {
                Rgb([30, 30, 30])
            } else {
                Rgb([225, 225, 225])
            };
        }
        let dx = (xf - cx) / rx;
        let dy = (yf - cy) / ry;
        let d = dx * dx + dy * dy;
        // Eyes, brows and mouth in face-relative coordinates.
        let eye = |ex: f64| {
            let ex = (dx - ex) / 0.16;
            let ey = (dy + 0.2) / 0.08;
            ex * ex + ey * ey <= 1.0
        };
        let brow = |bx: f64| (dx - bx).abs() < 0.2 && (dy + 0.38).abs() < 0.035;
        let mouth = dx.abs() < 0.3 && (dy - 0.45).abs() < 0.05;
        if d <= 1.0 {
            if eye(-0.38) || eye(0.38) {
                Rgb([35, 25, 20])
            } else if brow(-0.38) || brow(0.38) {
                Rgb([60, 40, 30])
            } else if mouth {
                Rgb([150, 60, 60])
            } else if dy < -0.6 {
                Rgb([40, 30, 25]) // hair
            } else {
                // Skin with a soft shading towards the edge of the oval.
                let shade = 1.0 - 0.25 * d;
                Rgb([
                    to_u8(225.0 * shade),
                    to_u8(180.0 * shade),
                    to_u8(150.0 * shade),
                ])
            }
        } else if d <= 1.25 && dy < 0.0 {
            Rgb([40, 30, 25]) // hair around the top of the head
        } else if dy > 0.9 && dx.abs() < 2.2 {
            Rgb([40, 70, 120]) // shoulders, a blue shirt
        } else {
            // Backdrop: a vertical gradient with faint vertical stripes.
            let base = 150.0 - 40.0 * yf / hf;
            let stripe = if (x / 6).is_multiple_of(2) { 6.0 } else { -6.0 };
            let v = base + stripe;
            Rgb([to_u8(v), to_u8(v + 4.0), to_u8(v + 10.0)])
        }
    })
}

fn to_u8(v: f64) -> u8 {
    // Saturating float-to-int cast, the documented behaviour of `as` since Rust 1.45.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let b = v.clamp(0.0, 255.0) as u8;
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::{QualityThresholds, assess};

    #[test]
    fn pattern_frames_have_configured_size_and_change() {
        let res = Resolution {
            width: 320,
            height: 240,
        };
        let mut sim = SimulatedSource::pattern(res);
        let a = sim.capture().expect("frame");
        let b = sim.capture().expect("frame");
        let c = (0..10)
            .map(|_| sim.capture().expect("frame"))
            .last()
            .expect("frames");
        assert_eq!(a.image.dimensions(), (320, 240));
        assert_eq!(c.image.dimensions(), (320, 240));
        assert_eq!((a.sequence, b.sequence), (0, 1));
        assert_ne!(a.image.as_raw(), c.image.as_raw(), "the face moves");
        assert_eq!(sim.info().resolution, res);
    }

    #[test]
    fn pattern_passes_the_quality_checks() {
        for size in [(640, 480), (320, 240), (1280, 720)] {
            let img = test_pattern(
                Resolution {
                    width: size.0,
                    height: size.1,
                },
                7,
            );
            let report = assess(&img, &QualityThresholds::default());
            assert!(report.is_ok(), "{size:?}: {report:?}");
        }
    }

    #[test]
    fn folder_source_cycles_through_files_in_name_order() {
        let dir = std::env::temp_dir().join(format!("camera-sim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        RgbImage::from_pixel(40, 30, Rgb([200, 0, 0]))
            .save(dir.join("a.png"))
            .expect("write");
        RgbImage::from_pixel(80, 60, Rgb([0, 0, 200]))
            .save(dir.join("b.png"))
            .expect("write");
        std::fs::write(dir.join("notes.txt"), "not an image").expect("write");
        let res = Resolution {
            width: 64,
            height: 48,
        };
        let mut sim = SimulatedSource::from_folder(&dir, res).expect("opens");
        let colours: Vec<_> = (0..3)
            .map(|_| {
                let f = sim.capture().expect("frame");
                assert_eq!(f.image.dimensions(), (64, 48));
                f.image.get_pixel(10, 10).0
            })
            .collect();
        assert_eq!(colours, vec![[200, 0, 0], [0, 0, 200], [200, 0, 0]]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn empty_or_missing_folder_is_unavailable() {
        let res = Resolution {
            width: 64,
            height: 48,
        };
        let missing = Path::new("/nonexistent/telekiosk-frames");
        assert!(matches!(
            SimulatedSource::from_folder(missing, res),
            Err(CameraError::CameraUnavailable {
                cause: Unavailable::Frames { .. }
            })
        ));
        let dir = std::env::temp_dir().join(format!("camera-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        assert!(matches!(
            SimulatedSource::from_folder(&dir, res),
            Err(CameraError::CameraUnavailable {
                cause: Unavailable::NoFrames { .. }
            })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
