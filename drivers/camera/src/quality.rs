//! Photo quality checks (照片质量检测) a kiosk runs before it sends the live photo of
//! real-name registration (实名登记现场照片) to the business system.
//!
//! Pure functions over an RGB image: no I/O, no clock. Each problem found is a
//! [`QualityIssue`] with a technician-facing code and a customer message in Chinese and
//! English that the screen can show as is.

use image::RgbImage;
use serde::{Deserialize, Serialize};

/// Thresholds of the quality checks. Luma is 0–255 (BT.601 weights).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QualityThresholds {
    /// Mean luma below this is too dark.
    pub min_brightness: f64,
    /// Mean luma above this is overexposed.
    pub max_brightness: f64,
    /// Luma at or above this counts as clipped (blown-out) highlight.
    pub clip_level: u8,
    /// A fraction of clipped pixels above this (0.0–1.0) is overexposed.
    pub max_clipped_fraction: f64,
    /// Variance of the 4-neighbour Laplacian of luma below this is blurred.
    pub min_sharpness: f64,
    /// Standard deviation of luma below this is low contrast.
    pub min_contrast: f64,
}

impl Default for QualityThresholds {
    fn default() -> Self {
        Self {
            min_brightness: 60.0,
            max_brightness: 200.0,
            clip_level: 250,
            max_clipped_fraction: 0.25,
            min_sharpness: 100.0,
            min_contrast: 20.0,
        }
    }
}

/// One reason a photo is not good enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum QualityIssue {
    /// Mean brightness below [`QualityThresholds::min_brightness`].
    TooDark,
    /// Mean brightness or clipped highlights above their thresholds.
    Overexposed,
    /// Laplacian variance below [`QualityThresholds::min_sharpness`]: out of focus or moving.
    Blurred,
    /// Luma spread below [`QualityThresholds::min_contrast`]: washed out or lens covered.
    LowContrast,
}

impl QualityIssue {
    /// Stable code for logs, the technician's screen and head office statistics.
    pub fn code(self) -> &'static str {
        match self {
            Self::TooDark => "CAM_TOO_DARK",
            Self::Overexposed => "CAM_OVEREXPOSED",
            Self::Blurred => "CAM_BLURRED",
            Self::LowContrast => "CAM_LOW_CONTRAST",
        }
    }

    /// What the customer reads, in Chinese.
    pub fn message_zh(self) -> &'static str {
        match self {
            Self::TooDark => "光线太暗，请靠近一点或到亮处",
            Self::Overexposed => "光线太强，请避开强光或背光",
            Self::Blurred => "照片模糊，请保持不动并正对摄像头",
            Self::LowContrast => "画面不清楚，请调整位置，让面部清晰可见",
        }
    }

    /// What the customer reads, in English.
    pub fn message_en(self) -> &'static str {
        match self {
            Self::TooDark => "Too dark: please come a little closer or move to a brighter spot",
            Self::Overexposed => "Too bright: please step out of direct or back light",
            Self::Blurred => "Blurred: please hold still and look straight at the camera",
            Self::LowContrast => {
                "Not clear: please adjust your position so your face is clearly visible"
            }
        }
    }
}

/// Measurements of one image and the issues found against the thresholds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    /// Mean luma, 0–255.
    pub brightness: f64,
    /// Variance of the Laplacian of luma (higher is sharper).
    pub sharpness: f64,
    /// Standard deviation of luma.
    pub contrast: f64,
    /// Fraction of pixels at or above the clip level, 0.0–1.0.
    pub clipped_fraction: f64,
    /// Problems found; empty when the photo is good.
    pub issues: Vec<QualityIssue>,
}

impl QualityReport {
    /// True when no issue was found.
    pub fn is_ok(&self) -> bool {
        self.issues.is_empty()
    }
}

/// Luma plane (BT.601, integer weights) of an RGB image, row-major.
pub fn luma(image: &RgbImage) -> Vec<u8> {
    image
        .pixels()
        .map(|p| {
            let [r, g, b] = p.0;
            let y = (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000;
            u8::try_from(y).unwrap_or(u8::MAX)
        })
        .collect()
}

/// Mean and standard deviation of a luma plane; (0, 0) when empty.
pub fn mean_and_std_dev(luma: &[u8]) -> (f64, f64) {
    if luma.is_empty() {
        return (0.0, 0.0);
    }
    let n = luma.len() as f64;
    let sum: u64 = luma.iter().map(|&v| u64::from(v)).sum();
    let sum_sq: u64 = luma.iter().map(|&v| u64::from(v) * u64::from(v)).sum();
    let mean = sum as f64 / n;
    let var = (sum_sq as f64 / n - mean * mean).max(0.0);
    (mean, var.sqrt())
}

/// Variance of the 4-neighbour Laplacian over the interior pixels of a `width` × `height`
/// luma plane. 0 for images smaller than 3 × 3 or a plane of the wrong length.
pub fn laplacian_variance(luma: &[u8], width: usize, height: usize) -> f64 {
    if width < 3 || height < 3 || luma.len() != width.saturating_mul(height) {
        return 0.0;
    }
    let at = |x: usize, y: usize| i64::from(luma.get(y * width + x).copied().unwrap_or(0));
    let mut sum = 0i64;
    let mut sum_sq = 0i64;
    let mut n = 0i64;
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            let l = at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4 * at(x, y);
            sum += l;
            sum_sq += l * l;
            n += 1;
        }
    }
    let n = n as f64;
    let mean = sum as f64 / n;
    (sum_sq as f64 / n - mean * mean).max(0.0)
}

/// Measures an image and lists the issues found against `thresholds`. The luma plane it
/// makes (a grey copy of the customer's picture) is wiped before it returns.
pub fn assess(image: &RgbImage, thresholds: &QualityThresholds) -> QualityReport {
    let mut plane = luma(image);
    let (brightness, contrast) = mean_and_std_dev(&plane);
    let width = usize::try_from(image.width()).unwrap_or(0);
    let height = usize::try_from(image.height()).unwrap_or(0);
    let sharpness = laplacian_variance(&plane, width, height);
    let clipped = plane
        .iter()
        .filter(|&&v| v >= thresholds.clip_level)
        .count();
    let clipped_fraction = if plane.is_empty() {
        0.0
    } else {
        clipped as f64 / plane.len() as f64
    };

    zeroize::Zeroize::zeroize(&mut plane);
    let mut issues = Vec::new();
    if brightness < thresholds.min_brightness {
        issues.push(QualityIssue::TooDark);
    }
    if brightness > thresholds.max_brightness || clipped_fraction > thresholds.max_clipped_fraction
    {
        issues.push(QualityIssue::Overexposed);
    }
    if sharpness < thresholds.min_sharpness {
        issues.push(QualityIssue::Blurred);
    }
    if contrast < thresholds.min_contrast {
        issues.push(QualityIssue::LowContrast);
    }
    QualityReport {
        brightness,
        sharpness,
        contrast,
        clipped_fraction,
        issues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// An 8-pixel checkerboard between two grey levels.
    fn checkerboard(w: u32, h: u32, dark: u8, light: u8) -> RgbImage {
        squares(w, h, 8, dark, light)
    }

    /// A checkerboard of `tile`-pixel squares.
    fn squares(w: u32, h: u32, tile: u32, dark: u8, light: u8) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = if (x / tile + y / tile).is_multiple_of(2) {
                dark
            } else {
                light
            };
            Rgb([v, v, v])
        })
    }

    /// Box blur with radius `r`, repeated: a sharp pattern made soft.
    fn blur(img: &RgbImage, r: i64, passes: usize) -> RgbImage {
        let mut cur = img.clone();
        let (w, h) = (i64::from(img.width()), i64::from(img.height()));
        for _ in 0..passes {
            let src = cur.clone();
            cur = RgbImage::from_fn(img.width(), img.height(), |x, y| {
                let (mut s, mut n) = (0u32, 0u32);
                for dy in -r..=r {
                    for dx in -r..=r {
                        let xx = (i64::from(x) + dx).clamp(0, w - 1);
                        let yy = (i64::from(y) + dy).clamp(0, h - 1);
                        let p = src.get_pixel(
                            u32::try_from(xx).unwrap_or(0),
                            u32::try_from(yy).unwrap_or(0),
                        );
                        s += u32::from(p.0[0]);
                        n += 1;
                    }
                }
                let v = u8::try_from(s / n).unwrap_or(255);
                Rgb([v, v, v])
            });
        }
        cur
    }

    #[test]
    fn sharp_mid_grey_checkerboard_passes() {
        let report = assess(
            &checkerboard(160, 120, 70, 190),
            &QualityThresholds::default(),
        );
        assert!(report.is_ok(), "{report:?}");
        assert!((report.brightness - 130.0).abs() < 1.0);
    }

    #[test]
    fn dark_image_is_too_dark() {
        let report = assess(
            &checkerboard(160, 120, 5, 60),
            &QualityThresholds::default(),
        );
        assert!(report.issues.contains(&QualityIssue::TooDark), "{report:?}");
        assert!(!report.issues.contains(&QualityIssue::Overexposed));
    }

    #[test]
    fn bright_image_is_overexposed() {
        let report = assess(
            &checkerboard(160, 120, 200, 255),
            &QualityThresholds::default(),
        );
        assert!(
            report.issues.contains(&QualityIssue::Overexposed),
            "{report:?}"
        );
        assert!(!report.issues.contains(&QualityIssue::TooDark));
    }

    #[test]
    fn blown_out_highlights_are_overexposed_even_at_moderate_mean() {
        // 40 % of the frame white (a window behind the customer), the rest mid grey.
        let img = RgbImage::from_fn(160, 120, |x, y| {
            if x < 64 {
                Rgb([255, 255, 255])
            } else if (x / 8 + y / 8).is_multiple_of(2) {
                Rgb([60, 60, 60])
            } else {
                Rgb([140, 140, 140])
            }
        });
        let report = assess(&img, &QualityThresholds::default());
        assert!(report.brightness < 200.0);
        assert!(report.clipped_fraction > 0.3);
        assert!(
            report.issues.contains(&QualityIssue::Overexposed),
            "{report:?}"
        );
    }

    #[test]
    fn blurred_image_is_blurred_but_not_dark_or_bright() {
        // Large squares: blurring softens the edges but keeps the contrast.
        let sharp = squares(160, 120, 32, 70, 190);
        assert!(assess(&sharp, &QualityThresholds::default()).is_ok());
        let soft = blur(&sharp, 3, 3);
        let report = assess(&soft, &QualityThresholds::default());
        assert_eq!(report.issues, vec![QualityIssue::Blurred], "{report:?}");
        assert!(report.sharpness < assess(&sharp, &QualityThresholds::default()).sharpness);
    }

    #[test]
    fn flat_grey_is_blurred_and_low_contrast() {
        let img = RgbImage::from_pixel(64, 48, Rgb([128, 128, 128]));
        let report = assess(&img, &QualityThresholds::default());
        assert_eq!(report.sharpness, 0.0);
        assert!(report.issues.contains(&QualityIssue::Blurred));
        assert!(report.issues.contains(&QualityIssue::LowContrast));
    }

    #[test]
    fn tiny_and_empty_images_do_not_panic() {
        for (w, h) in [(0, 0), (1, 1), (2, 5), (3, 3)] {
            let report = assess(&RgbImage::new(w, h), &QualityThresholds::default());
            assert!(!report.is_ok());
        }
    }

    #[test]
    fn every_issue_has_code_and_both_messages() {
        for issue in [
            QualityIssue::TooDark,
            QualityIssue::Overexposed,
            QualityIssue::Blurred,
            QualityIssue::LowContrast,
        ] {
            assert!(issue.code().starts_with("CAM_"));
            assert!(!issue.message_zh().is_empty());
            assert!(issue.message_en().is_ascii());
        }
        assert_eq!(
            QualityIssue::TooDark.message_zh(),
            "光线太暗，请靠近一点或到亮处"
        );
    }

    proptest::proptest! {
        #[test]
        fn measurements_stay_in_range_for_any_image(
            w in 0u32..24,
            h in 0u32..24,
            seed in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..64),
        ) {
            let img = RgbImage::from_fn(w, h, |x, y| {
                let i = usize::try_from(x * 7 + y * 13).unwrap_or(0);
                let v = seed[i % seed.len()];
                Rgb([v, v.wrapping_mul(3), v.wrapping_add(90)])
            });
            let report = assess(&img, &QualityThresholds::default());
            proptest::prop_assert!((0.0..=255.0).contains(&report.brightness));
            proptest::prop_assert!((0.0..=1.0).contains(&report.clipped_fraction));
            proptest::prop_assert!(report.sharpness >= 0.0 && report.contrast >= 0.0);
        }
    }

    #[test]
    fn luma_uses_bt601_weights() {
        let img = RgbImage::from_fn(3, 1, |x, _| match x {
            0 => Rgb([255, 0, 0]),
            1 => Rgb([0, 255, 0]),
            _ => Rgb([0, 0, 255]),
        });
        assert_eq!(luma(&img), vec![76, 150, 29]);
    }
}
