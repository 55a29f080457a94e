//! Scripted customers for the simulated camera, made from one real portrait.
//!
//! The live photo of real-name registration needs frames a real face detector finds, and
//! sequences that show a customer turning their head, a printed photo held still, nobody,
//! two people, someone too far away, off to one side, or in a dark shop. A [`Scene`] renders
//! frame `n` of such a sequence from [`portrait`]: NASA's portrait of astronaut Eileen
//! Collins (public domain, as shipped by scikit-image; `fixtures/README.md` says where it
//! comes from and how it was cut to 640×480).
//!
//! **This is a simulator.** The "turned head" is the flat portrait wrapped on a cylinder
//! and rotated (see `turned`): the far side of the face slides out of view and the near
//! edge (hair) widens; at 70° the frontal detector no longer fires on it. It is not a 3-D
//! head — no nose in profile, no ear — and says nothing of how a real head looks turned. Every frame carries a
//! little deterministic sensor noise so that consecutive frames differ as a real camera's do.
//!
//! Pure functions: frame `n` of a scene is always the same picture.

use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

use crate::Resolution;

/// The portrait as committed: baseline JPEG, 640×480.
const PORTRAIT_JPEG: &[u8] = include_bytes!("../../fixtures/portrait.jpg");

/// Size of [`portrait`]; scenes are drawn at this size, then scaled to the camera's.
pub const PORTRAIT_SIZE: Resolution = Resolution {
    width: 640,
    height: 480,
};

/// Where the face is in [`portrait`] (x, y, width, height in pixels): the box the SeetaFace
/// frontal detector reports for it, rounded. Scenes move and squeeze the picture around it.
pub const PORTRAIT_FACE: [u32; 4] = [254, 95, 140, 140];

/// The committed portrait, decoded: 640×480 RGB, the face centred and about 22 % of the
/// frame's width.
pub fn portrait() -> RgbImage {
    match image::load_from_memory_with_format(PORTRAIT_JPEG, image::ImageFormat::Jpeg) {
        Ok(img) => img.to_rgb8(),
        // The bytes are compiled in and checked by a test; a grey frame keeps the
        // simulator running should they ever be damaged.
        Err(_) => RgbImage::from_pixel(PORTRAIT_SIZE.width, PORTRAIT_SIZE.height, Rgb([128; 3])),
    }
}

/// A scripted situation in front of the simulated camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Scene {
    /// A live customer: looks at the camera, turns the head slowly to one side and back,
    /// and again (a 14-frame loop: 6 frontal, turning away over 2, turned by 70° for 4,
    /// back over 2).
    LiveCustomer,
    /// A printed photo of the customer held still in front of the camera: the whole picture
    /// trembles by a pixel or two and its brightness wavers, but nothing in it turns.
    PhotoHeldStill,
    /// Nobody in front of the camera: the shop's wall.
    Nobody,
    /// Two people side by side (the second is the first mirrored).
    TwoPeople,
    /// The customer stands too far away: the picture at 45 % in the middle of the wall
    /// (the face about 10 % of the frame's width).
    TooFar,
    /// The customer stands off to one side: the face in the left fifth of the camera's
    /// picture (the customer's right), so they should move to their left.
    OffCentre,
    /// The shop is too dark: the portrait at a fifth of its brightness.
    TooDark,
    /// The customer looks at the camera for 6 frames, then walks away and does not return.
    WalksAway,
    /// A printed photo held up to the camera and tilted like a door, away and back, on the
    /// same schedule as [`LiveCustomer`](Self::LiveCustomer)'s turn: the whole picture
    /// narrows about its middle (the wall shows beside it), so the face is lost as in a
    /// turn — but everything else in the picture moves with it.
    PhotoTilted,
}

impl Scene {
    /// Every scene.
    pub const ALL: [Scene; 9] = [
        Scene::LiveCustomer,
        Scene::PhotoHeldStill,
        Scene::Nobody,
        Scene::TwoPeople,
        Scene::TooFar,
        Scene::OffCentre,
        Scene::TooDark,
        Scene::WalksAway,
        Scene::PhotoTilted,
    ];

    /// The scene's name in configuration and on the command line (`live_customer`, …).
    pub fn name(self) -> &'static str {
        match self {
            Scene::LiveCustomer => "live_customer",
            Scene::PhotoHeldStill => "photo_held_still",
            Scene::Nobody => "nobody",
            Scene::TwoPeople => "two_people",
            Scene::TooFar => "too_far",
            Scene::OffCentre => "off_centre",
            Scene::TooDark => "too_dark",
            Scene::WalksAway => "walks_away",
            Scene::PhotoTilted => "photo_tilted",
        }
    }

    /// Frame `n` of this scene drawn from `portrait` (normally [`portrait`]), at
    /// `resolution`.
    pub fn frame(self, portrait: &RgbImage, resolution: Resolution, n: u64) -> RgbImage {
        let base = if portrait.dimensions() == (PORTRAIT_SIZE.width, PORTRAIT_SIZE.height) {
            std::borrow::Cow::Borrowed(portrait)
        } else {
            std::borrow::Cow::Owned(imageops::resize(
                portrait,
                PORTRAIT_SIZE.width,
                PORTRAIT_SIZE.height,
                FilterType::Triangle,
            ))
        };
        let mut img = match self {
            Scene::LiveCustomer => turned(&base, live_turn(n)),
            Scene::PhotoHeldStill => held_photo(&base, n),
            Scene::Nobody => wall(PORTRAIT_SIZE.width, PORTRAIT_SIZE.height),
            Scene::TwoPeople => two_people(&base),
            Scene::TooFar => far(&base, 0.45),
            Scene::OffCentre => shifted(&base, -0.3),
            Scene::TooDark => scaled_brightness(&base, 0.2),
            Scene::WalksAway if n < 6 => base.into_owned(),
            Scene::WalksAway => wall(PORTRAIT_SIZE.width, PORTRAIT_SIZE.height),
            Scene::PhotoTilted => tilted(&base, live_turn(n)),
        };
        add_noise(&mut img, n);
        if img.dimensions() == (resolution.width, resolution.height) {
            img
        } else {
            imageops::resize(
                &img,
                resolution.width.max(1),
                resolution.height.max(1),
                FilterType::Triangle,
            )
        }
    }
}

impl std::fmt::Display for Scene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Scene {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Scene::ALL
            .into_iter()
            .find(|scene| scene.name() == wanted)
            .ok_or_else(|| {
                let names: Vec<_> = Scene::ALL.iter().map(|s| s.name()).collect();
                format!("unknown scene {s:?} (one of {})", names.join(", "))
            })
    }
}

/// How far the head is turned in frame `n` of [`Scene::LiveCustomer`], in degrees: 0
/// frontal, up to 70.
fn live_turn(n: u64) -> f64 {
    const LOOP: [f64; 14] = [
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 25.0, 50.0, 70.0, 70.0, 70.0, 70.0, 50.0, 25.0,
    ];
    let i = usize::try_from(n % LOOP.len() as u64).unwrap_or(0);
    LOOP.get(i).copied().unwrap_or(0.0)
}

/// The head as the turn sees it: centre column, half-width (the face box's width × 0.62,
/// hair included), and the rows from above the hair to the chin.
fn head_region() -> (f64, f64, f64, f64) {
    let [x, y, w, h] = PORTRAIT_FACE.map(f64::from);
    (x + 0.5 * w, 0.62 * w, y - 0.3 * h, y + 1.1 * h)
}

/// The portrait with the head turned by `degrees` towards the camera's left, modelled as a
/// cylinder: the picture column at `u` (−1…1 across the head) shows the surface point at
/// angle `asin(u) − θ`, which was at `sin(asin(u) − θ)` in the frontal picture; points that
/// turned behind the head show its edge (hair). The turn fades out over the top tenth and
/// the bottom fifth of the head's rows (scalp, chin and neck turn less), so no seam runs
/// across the picture. 0° leaves the picture as it is.
fn turned(base: &RgbImage, degrees: f64) -> RgbImage {
    let mut out = base.clone();
    if degrees <= 0.0 {
        return out;
    }
    let (cx, r, y0, y1) = head_region();
    let height = y1 - y0;
    for y in clamp_px(y0, base.height())..clamp_px(y1, base.height()) {
        let yf = f64::from(y);
        let taper = ((yf - y0) / (0.1 * height))
            .min((y1 - yf) / (0.2 * height))
            .clamp(0.0, 1.0);
        let theta = (degrees * taper).to_radians();
        for x in clamp_px(cx - r, base.width())..clamp_px(cx + r, base.width()) {
            let u = ((f64::from(x) - cx) / r).clamp(-1.0, 1.0);
            let phi = (u.asin() - theta).max(-std::f64::consts::FRAC_PI_2);
            let src = cx + r * phi.sin();
            out.put_pixel(x, y, sample(base, src, yf));
        }
    }
    out
}

/// The whole picture as a photo tilted by `degrees` about its vertical middle line: its
/// width foreshortened by cos θ, the wall showing on both sides.
fn tilted(base: &RgbImage, degrees: f64) -> RgbImage {
    if degrees <= 0.0 {
        return base.clone();
    }
    let (w, h) = base.dimensions();
    let cx = f64::from(w) / 2.0;
    let squeeze = degrees.to_radians().cos().max(0.05);
    let behind = wall(w, h);
    RgbImage::from_fn(w, h, |x, y| {
        let src = cx + (f64::from(x) - cx) / squeeze;
        if (0.0..f64::from(w)).contains(&src) {
            sample(base, src, f64::from(y))
        } else {
            *behind.get_pixel(x, y)
        }
    })
}

/// Frame `n` of a printed photo held in a hand: the whole picture shifted by a tremor of
/// up to two pixels and its brightness wavering by up to 3 %.
fn held_photo(base: &RgbImage, n: u64) -> RgbImage {
    const DX: [f64; 8] = [0.0, 1.0, 2.0, 1.0, 0.0, -1.0, -2.0, -1.0];
    const DY: [f64; 4] = [0.0, 1.0, 0.0, -1.0];
    let i = usize::try_from(n % 8).unwrap_or(0);
    let dx = DX.get(i).copied().unwrap_or(0.0);
    let dy = DY.get(i % 4).copied().unwrap_or(0.0);
    let gain = 1.0 + 0.03 * (n as f64 * 0.9).sin();
    RgbImage::from_fn(base.width(), base.height(), |x, y| {
        let p = sample(base, f64::from(x) - dx, f64::from(y) - dy);
        Rgb(p.0.map(|c| to_u8(f64::from(c) * gain)))
    })
}

/// Two people: the 320-pixel-wide strip around the face, and beside it the same strip
/// mirrored.
fn two_people(base: &RgbImage) -> RgbImage {
    let [fx, _, fw, _] = PORTRAIT_FACE;
    let half = base.width() / 2;
    let left = (fx + fw / 2).saturating_sub(half / 2);
    RgbImage::from_fn(base.width(), base.height(), |x, y| {
        let sx = if x < half {
            left + x
        } else {
            left + (base.width() - 1 - x)
        };
        *base.get_pixel(sx.min(base.width() - 1), y)
    })
}

/// The picture scaled to `scale` in the middle of the shop's wall.
fn far(base: &RgbImage, scale: f64) -> RgbImage {
    let (w, h) = base.dimensions();
    let sw = clamp_px(f64::from(w) * scale, w).max(1);
    let sh = clamp_px(f64::from(h) * scale, h).max(1);
    let small = imageops::resize(base, sw, sh, FilterType::Triangle);
    let mut out = wall(w, h);
    imageops::replace(
        &mut out,
        &small,
        i64::from((w - sw) / 2),
        i64::from((h - sh) / 2),
    );
    out
}

/// The picture shifted sideways by `fraction` of its width (negative: to the left), the
/// uncovered side filled by reflecting the picture at its edge.
fn shifted(base: &RgbImage, fraction: f64) -> RgbImage {
    let (w, h) = base.dimensions();
    let dx = f64::from(w) * fraction;
    RgbImage::from_fn(w, h, |x, y| {
        let mut sx = f64::from(x) - dx;
        let max = f64::from(w.saturating_sub(1));
        if sx > max {
            sx = 2.0 * max - sx;
        } else if sx < 0.0 {
            sx = -sx;
        }
        sample(base, sx, f64::from(y))
    })
}

fn scaled_brightness(base: &RgbImage, gain: f64) -> RgbImage {
    let mut out = base.clone();
    for p in out.pixels_mut() {
        p.0 = p.0.map(|c| to_u8(f64::from(c) * gain));
    }
    out
}

/// The shop's wall with nobody in front of it: a lit gradient, a shelf and a framed
/// poster, with sharp edges so the picture passes the camera's quality checks.
pub fn wall(w: u32, h: u32) -> RgbImage {
    let (wf, hf) = (f64::from(w.max(1)), f64::from(h.max(1)));
    RgbImage::from_fn(w, h, |x, y| {
        let (xf, yf) = (f64::from(x) / wf, f64::from(y) / hf);
        let in_poster = (0.12..0.38).contains(&xf) && (0.15..0.55).contains(&yf);
        let poster_frame = in_poster && !((0.13..0.37).contains(&xf) && (0.17..0.53).contains(&yf));
        if poster_frame {
            Rgb([45, 40, 35])
        } else if in_poster {
            // Blocks of colour, like a printed advertisement.
            let band = (x / 16 + y / 24) % 3;
            [Rgb([200, 60, 50]), Rgb([240, 220, 200]), Rgb([40, 90, 160])]
                .get(usize::try_from(band).unwrap_or(0))
                .copied()
                .unwrap_or(Rgb([240, 220, 200]))
        } else if (0.62..0.66).contains(&yf) {
            Rgb([120, 90, 60]) // shelf
        } else if yf > 0.66 && (0.55..0.95).contains(&xf) && (x / 10).is_multiple_of(3) {
            Rgb([70, 110, 90]) // boxes on the shelf
        } else {
            let v = 175.0 - 50.0 * yf;
            Rgb([to_u8(v), to_u8(v + 3.0), to_u8(v + 8.0)])
        }
    })
}

/// Adds deterministic noise of up to ±3 levels, different for every frame `n`.
fn add_noise(img: &mut RgbImage, n: u64) {
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for p in img.pixels_mut() {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = i16::try_from(state % 7).unwrap_or(3) - 3;
        p.0 =
            p.0.map(|c| u8::try_from((i16::from(c) + noise).clamp(0, 255)).unwrap_or(c));
    }
}

/// The pixel nearest (`x`, `y`), clamped to the picture.
fn sample(img: &RgbImage, x: f64, y: f64) -> Rgb<u8> {
    let px = clamp_px(x.round(), img.width().saturating_sub(1));
    let py = clamp_px(y.round(), img.height().saturating_sub(1));
    img.get_pixel_checked(px, py)
        .copied()
        .unwrap_or(Rgb([0, 0, 0]))
}

/// `v` as a pixel coordinate in 0..=`max`.
fn clamp_px(v: f64, max: u32) -> u32 {
    // Saturating float-to-int cast (Rust ≥ 1.45) after clamping to the range.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let p = v.clamp(0.0, f64::from(max)) as u32;
    p
}

fn to_u8(v: f64) -> u8 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let b = v.round().clamp(0.0, 255.0) as u8;
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::{QualityIssue, QualityThresholds, assess};

    const VGA: Resolution = PORTRAIT_SIZE;

    #[test]
    fn the_committed_portrait_decodes_at_its_size() {
        let img = image::load_from_memory(PORTRAIT_JPEG).expect("fixture decodes");
        assert_eq!(img.width(), 640);
        assert_eq!(img.height(), 480);
    }

    #[test]
    fn scene_names_round_trip() {
        for scene in Scene::ALL {
            assert_eq!(scene.name().parse::<Scene>(), Ok(scene));
        }
        assert_eq!("Live-Customer".parse::<Scene>(), Ok(Scene::LiveCustomer));
        assert!("ghost".parse::<Scene>().is_err());
    }

    #[test]
    fn frames_have_the_camera_size_and_differ_from_frame_to_frame() {
        let p = portrait();
        for scene in Scene::ALL {
            let a = scene.frame(&p, VGA, 0);
            let b = scene.frame(&p, VGA, 1);
            assert_eq!(a.dimensions(), (640, 480), "{scene}");
            assert_ne!(a.as_raw(), b.as_raw(), "{scene}: sensor noise");
            let small = scene.frame(
                &p,
                Resolution {
                    width: 320,
                    height: 240,
                },
                0,
            );
            assert_eq!(small.dimensions(), (320, 240), "{scene}");
        }
    }

    #[test]
    fn only_the_dark_scene_fails_the_brightness_checks() {
        let p = portrait();
        for scene in Scene::ALL {
            let report = assess(&scene.frame(&p, VGA, 0), &QualityThresholds::default());
            if scene == Scene::TooDark {
                assert!(report.issues.contains(&QualityIssue::TooDark), "{report:?}");
            } else {
                assert!(report.is_ok(), "{scene}: {report:?}");
            }
        }
    }

    #[test]
    fn a_turn_changes_the_head_and_nothing_else() {
        let p = portrait();
        let front = turned(&p, 0.0);
        let away = turned(&p, 70.0);
        assert_eq!(front.as_raw(), p.as_raw());
        let (cx, r, y0, y1) = head_region();
        let (x0, x1) = (cx - r, cx + r);
        let mut outside_changed = 0;
        let mut inside_changed = 0;
        for (x, y, px) in away.enumerate_pixels() {
            let inside = (x0..x1).contains(&f64::from(x)) && (y0..y1).contains(&f64::from(y));
            if px != p.get_pixel(x, y) {
                if inside {
                    inside_changed += 1;
                } else {
                    outside_changed += 1;
                }
            }
        }
        assert_eq!(outside_changed, 0);
        assert!(inside_changed > 10_000, "{inside_changed}");
    }

    #[test]
    fn walking_away_leaves_the_wall() {
        let p = portrait();
        let wall = Scene::Nobody.frame(&p, VGA, 9);
        assert_eq!(
            Scene::WalksAway.frame(&p, VGA, 9).as_raw(),
            wall.as_raw(),
            "same frame number, same noise"
        );
        assert_ne!(
            Scene::WalksAway.frame(&p, VGA, 2).as_raw(),
            Scene::Nobody.frame(&p, VGA, 2).as_raw()
        );
    }
}
