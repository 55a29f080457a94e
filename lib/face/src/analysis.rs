//! One frame looked at: photo quality, faces, framing, the guidance for the screen, and
//! a coarse picture of the scene the liveness check compares frames with.

use camera::QualityThresholds;
use camera::image::{GrayImage, RgbImage};
use camera::quality::{self, QualityReport};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::detect::{DetectorConfig, FaceDetector};
use crate::framing::{Face, FaceBox, Framing, FramingConfig};
use crate::guidance::Guidance;

/// Everything that decides how a frame is judged.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalysisConfig {
    /// Face detection.
    pub detector: DetectorConfig,
    /// Framing thresholds.
    pub framing: FramingConfig,
    /// The camera's photo-quality thresholds.
    pub quality: QualityThresholds,
}

/// Columns of the scene grid.
pub const GRID_W: usize = 32;
/// Rows of the scene grid.
pub const GRID_H: usize = 24;

/// The scene at a glance: mean grey level of each cell of a 32 × 24 grid over the frame.
/// The liveness check compares grids to tell a head that turns (its cells change, the rest
/// stays) from a picture moved as a whole or a person walking away. It is a tiny picture
/// of the customer too, so it is wiped when dropped; its `Debug` shows its size only.
#[derive(Clone, PartialEq)]
pub struct SceneGrid {
    cells: Vec<f64>,
}

impl std::fmt::Debug for SceneGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SceneGrid({GRID_W}x{GRID_H})")
    }
}

impl Drop for SceneGrid {
    fn drop(&mut self) {
        self.cells.zeroize();
    }
}

impl SceneGrid {
    /// The grid of a grey image (any size; an empty image gives a black grid).
    pub fn of(gray: &GrayImage) -> SceneGrid {
        let (w, h) = gray.dimensions();
        let mut sums = vec![0u64; GRID_W * GRID_H];
        let mut counts = vec![0u64; GRID_W * GRID_H];
        let (wu, hu) = (
            usize::try_from(w).unwrap_or(0),
            usize::try_from(h).unwrap_or(0),
        );
        if wu > 0 && hu > 0 {
            for (x, y, p) in gray.enumerate_pixels() {
                let cx = usize::try_from(x).unwrap_or(0) * GRID_W / wu;
                let cy = usize::try_from(y).unwrap_or(0) * GRID_H / hu;
                let i = cy.min(GRID_H - 1) * GRID_W + cx.min(GRID_W - 1);
                if let (Some(s), Some(c)) = (sums.get_mut(i), counts.get_mut(i)) {
                    *s += u64::from(p.0[0]);
                    *c += 1;
                }
            }
        }
        let cells = sums
            .iter()
            .zip(&counts)
            .map(|(&s, &c)| if c == 0 { 0.0 } else { s as f64 / c as f64 })
            .collect();
        sums.zeroize();
        SceneGrid { cells }
    }

    /// How much this grid differs from `reference`, inside and outside `region` (a box in a
    /// `width` × `height` frame): mean absolute difference of the cells whose centre lies
    /// inside, and of the others, after removing the median difference of the cells
    /// outside (a change of exposure moves every cell alike).
    pub fn change(
        &self,
        reference: &SceneGrid,
        region: &FaceBox,
        width: u32,
        height: u32,
    ) -> Change {
        let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
        let (x0, y0) = (f64::from(region.x), f64::from(region.y));
        let (x1, y1) = (x0 + f64::from(region.width), y0 + f64::from(region.height));
        let mut inside = Vec::new();
        let mut outside = Vec::new();
        for (i, (a, b)) in self.cells.iter().zip(&reference.cells).enumerate() {
            let cx = ((i % GRID_W) as f64 + 0.5) * w / GRID_W as f64;
            let cy = ((i / GRID_W) as f64 + 0.5) * h / GRID_H as f64;
            let d = a - b;
            if (x0..x1).contains(&cx) && (y0..y1).contains(&cy) {
                inside.push(d);
            } else {
                outside.push(d);
            }
        }
        let offset = median(&mut outside.clone());
        let mean_abs = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().map(|d| (d - offset).abs()).sum::<f64>() / v.len() as f64
            }
        };
        Change {
            region: mean_abs(&inside),
            rest: mean_abs(&outside),
        }
    }
}

/// Difference between two scene grids, in grey levels (0–255).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// Mean absolute change inside the region (the head).
    pub region: f64,
    /// Mean absolute change everywhere else (the body, the shop behind).
    pub rest: f64,
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// What one frame shows. Its `Debug` shows measurements only, never pixels.
#[derive(Debug, Clone)]
pub struct FrameAnalysis {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// The camera's photo-quality checks over the whole frame.
    pub quality: QualityReport,
    /// Faces found (score at least the detector's minimum), best first, in the frame's
    /// coordinates.
    pub faces: Vec<Face>,
    /// The framing verdict.
    pub framing: Framing,
    /// What to tell the customer about this frame.
    pub guidance: Guidance,
    /// Sharpness of the face (variance of the Laplacian inside its box at analysis scale)
    /// when there is exactly one.
    pub face_sharpness: Option<f64>,
    /// How centred the face is (1.0 in the middle of the framing band, 0.0 at a corner)
    /// when there is exactly one.
    pub centredness: Option<f64>,
    /// The scene at a glance, for the liveness check.
    pub scene: SceneGrid,
}

impl FrameAnalysis {
    /// The one face, when there is exactly one.
    pub fn single_face(&self) -> Option<&Face> {
        match self.faces.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

/// Looks at one frame: quality, faces, framing, guidance and scene grid. Pure and
/// blocking (tens of milliseconds): run it off the async threads. Intermediate buffers are
/// wiped before it returns.
pub fn analyse(
    frame: &RgbImage,
    detector: &FaceDetector,
    config: &AnalysisConfig,
) -> FrameAnalysis {
    let (width, height) = frame.dimensions();
    let quality = quality::assess(frame, &config.quality);
    let (mut gray, factor) = detector.analysis_image(frame);
    let faces: Vec<Face> = detector
        .detect_gray(&gray)
        .into_iter()
        .map(|f| Face {
            bbox: f.bbox.scaled(factor),
            score: f.score,
        })
        .collect();
    let framing = config.framing.judge(&faces, width, height);
    let guidance = Guidance::for_frame(&quality, framing);
    let face_sharpness = match faces.as_slice() {
        [one] => Some(region_sharpness(&gray, &one.bbox.scaled(1.0 / factor))),
        _ => None,
    };
    let centredness = match faces.as_slice() {
        [one] => Some(config.framing.centredness(&one.bbox, width, height)),
        _ => None,
    };
    let scene = SceneGrid::of(&gray);
    gray.as_mut().zeroize();
    FrameAnalysis {
        width,
        height,
        quality,
        faces,
        framing,
        guidance,
        face_sharpness,
        centredness,
        scene,
    }
}

/// Variance of the Laplacian of `gray` inside `region` (0 when the region is outside or
/// too small).
fn region_sharpness(gray: &GrayImage, region: &FaceBox) -> f64 {
    let Some((x, y, w, h)) = region.clipped(gray.width(), gray.height()) else {
        return 0.0;
    };
    let mut plane: Vec<u8> =
        Vec::with_capacity(usize::try_from(u64::from(w) * u64::from(h)).unwrap_or(0));
    for row in y..y + h {
        for col in x..x + w {
            plane.push(gray.get_pixel_checked(col, row).map_or(0, |p| p.0[0]));
        }
    }
    let v = quality::laplacian_variance(
        &plane,
        usize::try_from(w).unwrap_or(0),
        usize::try_from(h).unwrap_or(0),
    );
    plane.zeroize();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use camera::image::Luma;
    use proptest::prelude::*;

    fn grid_of(f: impl Fn(u32, u32) -> u8) -> SceneGrid {
        SceneGrid::of(&GrayImage::from_fn(320, 240, |x, y| Luma([f(x, y)])))
    }

    #[test]
    fn a_change_inside_the_region_is_told_from_one_everywhere() {
        let region = FaceBox {
            x: 100,
            y: 60,
            width: 120,
            height: 120,
        };
        let reference = grid_of(|x, _| u8::try_from(x % 200).unwrap_or(0));
        // The head changed, nothing else.
        let head = grid_of(|x, y| {
            if (100..220).contains(&x) && (60..180).contains(&y) {
                30
            } else {
                u8::try_from(x % 200).unwrap_or(0)
            }
        });
        let c = head.change(&reference, &region, 320, 240);
        assert!(c.region > 40.0 && c.rest < 0.5, "{c:?}");
        // Exposure: everything 20 levels brighter is no change at all.
        let brighter = grid_of(|x, _| u8::try_from(x % 200 + 20).unwrap_or(0));
        let c = brighter.change(&reference, &region, 320, 240);
        assert!(c.region < 0.5 && c.rest < 0.5, "{c:?}");
        // The whole picture shifted: both change.
        let moved = grid_of(|x, _| u8::try_from((x + 30) % 200).unwrap_or(0));
        let c = moved.change(&reference, &region, 320, 240);
        assert!(c.region > 5.0 && c.rest > 5.0, "{c:?}");
    }

    #[test]
    fn scene_grid_debug_shows_no_cells() {
        let g = grid_of(|_, _| 77);
        assert_eq!(format!("{g:?}"), "SceneGrid(32x24)");
    }

    proptest! {
        #[test]
        fn grids_and_changes_never_panic(
            w in 0u32..80,
            h in 0u32..80,
            rx in any::<i32>(),
            ry in any::<i32>(),
            rw in any::<u32>(),
            rh in any::<u32>(),
            fw in any::<u32>(),
            fh in any::<u32>(),
        ) {
            let a = SceneGrid::of(&GrayImage::from_fn(w, h, |x, y| Luma([u8::try_from((x ^ y) % 256).unwrap_or(0)])));
            let b = SceneGrid::of(&GrayImage::new(h, w));
            let region = FaceBox { x: rx, y: ry, width: rw, height: rh };
            let c = a.change(&b, &region, fw, fh);
            prop_assert!(c.region >= 0.0 && c.rest >= 0.0);
            prop_assert!(c.region <= 510.0 && c.rest <= 510.0);
            let gray = GrayImage::from_fn(w, h, |x, _| Luma([u8::try_from(x % 256).unwrap_or(0)]));
            prop_assert!(region_sharpness(&gray, &region) >= 0.0);
        }
    }
}
