//! Where the face is and what the customer should do about it: face boxes and the framing
//! verdict (取景判断). Pure geometry over boxes and frame sizes, no pixels.

use serde::{Deserialize, Serialize};

/// A face's box in a frame's pixel coordinates (it may reach past the frame's edges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FaceBox {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl FaceBox {
    /// The box's centre.
    pub fn centre(&self) -> (f64, f64) {
        (
            f64::from(self.x) + f64::from(self.width) / 2.0,
            f64::from(self.y) + f64::from(self.height) / 2.0,
        )
    }

    /// Area in pixels (as a float: boxes come from outside and may be huge).
    pub fn area(&self) -> f64 {
        f64::from(self.width) * f64::from(self.height)
    }

    /// Intersection over union with `other`, 0.0–1.0 (0.0 when either box is empty).
    pub fn iou(&self, other: &FaceBox) -> f64 {
        let left = f64::from(self.x).max(f64::from(other.x));
        let top = f64::from(self.y).max(f64::from(other.y));
        let right = (f64::from(self.x) + f64::from(self.width))
            .min(f64::from(other.x) + f64::from(other.width));
        let bottom = (f64::from(self.y) + f64::from(self.height))
            .min(f64::from(other.y) + f64::from(other.height));
        let inter = (right - left).max(0.0) * (bottom - top).max(0.0);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            (inter / union).clamp(0.0, 1.0)
        }
    }

    /// The box scaled by `factor` about the frame's origin (from analysis to frame
    /// coordinates, or to a preview's).
    pub fn scaled(&self, factor: f64) -> FaceBox {
        FaceBox {
            x: to_i32(f64::from(self.x) * factor),
            y: to_i32(f64::from(self.y) * factor),
            width: to_u32(f64::from(self.width) * factor),
            height: to_u32(f64::from(self.height) * factor),
        }
    }

    /// The box mirrored left to right in a frame `frame_width` wide.
    pub fn mirrored(&self, frame_width: u32) -> FaceBox {
        let right = i64::from(self.x) + i64::from(self.width);
        FaceBox {
            x: i32::try_from(i64::from(frame_width) - right).unwrap_or(if right > 0 {
                i32::MIN
            } else {
                i32::MAX
            }),
            ..*self
        }
    }

    /// The part of the box inside a `width` × `height` frame, as (x, y, width, height);
    /// `None` when nothing of it is inside.
    pub fn clipped(&self, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
        let x0 = i64::from(self.x).clamp(0, i64::from(width));
        let y0 = i64::from(self.y).clamp(0, i64::from(height));
        let x1 = (i64::from(self.x) + i64::from(self.width)).clamp(0, i64::from(width));
        let y1 = (i64::from(self.y) + i64::from(self.height)).clamp(0, i64::from(height));
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        Some((
            u32::try_from(x0).ok()?,
            u32::try_from(y0).ok()?,
            u32::try_from(x1 - x0).ok()?,
            u32::try_from(y1 - y0).ok()?,
        ))
    }
}

/// A face the detector found: its box and the detector's confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// Where it is, in the frame's pixels.
    pub bbox: FaceBox,
    /// SeetaFace's score (higher is surer; clear frontal faces score 10–35).
    pub score: f64,
}

/// Which way the customer should move, in the customer's own terms (their left is the
/// camera's right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Move {
    /// To the customer's left.
    Left,
    /// To the customer's right.
    Right,
    /// Face higher (stand up straight, raise the chin a little).
    Up,
    /// Face lower (lower the head a little).
    Down,
}

/// Framing thresholds. Sizes and positions are fractions of the frame's width or height,
/// so they hold at any resolution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FramingConfig {
    /// A face narrower than this fraction of the frame's width is too far away
    /// (default 0.16: about 100 pixels at 640×480, a face about 80 cm from a typical
    /// 60° webcam).
    pub min_face_width: f64,
    /// A face wider than this fraction is too close (default 0.45: the head starts to be
    /// cut off).
    pub max_face_width: f64,
    /// The face's centre may be this far left or right of the frame's centre, as a fraction
    /// of the frame's width (default 0.15).
    pub max_offset_x: f64,
    /// The face's centre must lie between these fractions of the frame's height, from the
    /// top (default 0.2–0.62: a portrait keeps the eyes above the middle).
    pub min_centre_y: f64,
    /// See [`min_centre_y`](Self::min_centre_y).
    pub max_centre_y: f64,
    /// The camera delivers a mirrored picture (V4L2 horizontal flip on): swaps left and
    /// right in [`Move`] (default false).
    pub mirrored: bool,
}

impl Default for FramingConfig {
    fn default() -> Self {
        Self {
            min_face_width: 0.16,
            max_face_width: 0.45,
            max_offset_x: 0.15,
            min_centre_y: 0.2,
            max_centre_y: 0.62,
            mirrored: false,
        }
    }
}

/// The framing verdict for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Framing {
    /// No face found.
    NoFace,
    /// More than one face: only the applicant may be in the picture.
    SeveralFaces {
        /// How many.
        count: usize,
    },
    /// The face is too small: the customer should come closer.
    TooFar,
    /// The face is too large: the customer should step back.
    TooClose,
    /// The face is off-centre: the customer should move this way.
    OffCentre {
        /// Which way, in the customer's terms.
        direction: Move,
    },
    /// Exactly one face, large enough and centred.
    Ok,
}

impl FramingConfig {
    /// The verdict for `faces` found in a `width` × `height` frame. Checked in this order:
    /// how many faces, size (too far before too close), then position (horizontal first).
    pub fn judge(&self, faces: &[Face], width: u32, height: u32) -> Framing {
        let face = match faces {
            [] => return Framing::NoFace,
            [one] => one,
            _ => return Framing::SeveralFaces { count: faces.len() },
        };
        let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
        let size = f64::from(face.bbox.width) / w;
        if size < self.min_face_width {
            return Framing::TooFar;
        }
        if size > self.max_face_width {
            return Framing::TooClose;
        }
        let (cx, cy) = face.bbox.centre();
        let dx = cx / w - 0.5;
        if dx.abs() > self.max_offset_x {
            // A face on the picture's right is on the customer's left (the camera faces
            // them), so they move to their right — unless the camera mirrors.
            let on_picture_right = dx > 0.0;
            let direction = if on_picture_right != self.mirrored {
                Move::Right
            } else {
                Move::Left
            };
            return Framing::OffCentre { direction };
        }
        let y = cy / h;
        if y < self.min_centre_y {
            return Framing::OffCentre {
                direction: Move::Down,
            };
        }
        if y > self.max_centre_y {
            return Framing::OffCentre {
                direction: Move::Up,
            };
        }
        Framing::Ok
    }

    /// How centred a face is, 1.0 in the middle of the frame down to 0.0 at a corner.
    pub fn centredness(&self, face: &FaceBox, width: u32, height: u32) -> f64 {
        let (cx, cy) = face.centre();
        let dx = cx / f64::from(width.max(1)) - 0.5;
        let dy = cy / f64::from(height.max(1)) - 0.5 * (self.min_centre_y + self.max_centre_y);
        (1.0 - (dx * dx + dy * dy).sqrt() / std::f64::consts::FRAC_1_SQRT_2).clamp(0.0, 1.0)
    }
}

/// `v` rounded into `i32`, saturating.
pub(crate) fn to_i32(v: f64) -> i32 {
    #[allow(clippy::cast_possible_truncation)]
    let r = if v.is_nan() { 0 } else { v.round() as i32 };
    r
}

/// `v` rounded into `u32`, saturating (negative and NaN become 0).
pub(crate) fn to_u32(v: f64) -> u32 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let r = if v.is_nan() { 0 } else { v.round() as u32 };
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn face(x: i32, y: i32, size: u32) -> Face {
        Face {
            bbox: FaceBox {
                x,
                y,
                width: size,
                height: size,
            },
            score: 20.0,
        }
    }

    const W: u32 = 640;
    const H: u32 = 480;

    #[test]
    fn one_centred_face_of_good_size_is_ok() {
        let cfg = FramingConfig::default();
        assert_eq!(cfg.judge(&[face(250, 100, 140)], W, H), Framing::Ok);
    }

    #[test]
    fn nobody_and_several() {
        let cfg = FramingConfig::default();
        assert_eq!(cfg.judge(&[], W, H), Framing::NoFace);
        assert_eq!(
            cfg.judge(&[face(100, 100, 140), face(400, 100, 140)], W, H),
            Framing::SeveralFaces { count: 2 }
        );
    }

    #[test]
    fn size_before_position() {
        let cfg = FramingConfig::default();
        assert_eq!(cfg.judge(&[face(290, 150, 60)], W, H), Framing::TooFar);
        assert_eq!(cfg.judge(&[face(0, 0, 60)], W, H), Framing::TooFar);
        assert_eq!(cfg.judge(&[face(150, 20, 340)], W, H), Framing::TooClose);
    }

    #[test]
    fn off_centre_says_which_way_in_the_customers_terms() {
        let cfg = FramingConfig::default();
        // Face on the picture's left = the customer's right: move to their left.
        assert_eq!(
            cfg.judge(&[face(60, 100, 140)], W, H),
            Framing::OffCentre {
                direction: Move::Left
            }
        );
        assert_eq!(
            cfg.judge(&[face(450, 100, 140)], W, H),
            Framing::OffCentre {
                direction: Move::Right
            }
        );
        let mirrored = FramingConfig {
            mirrored: true,
            ..cfg
        };
        assert_eq!(
            mirrored.judge(&[face(60, 100, 140)], W, H),
            Framing::OffCentre {
                direction: Move::Right
            }
        );
        // Too high in the picture: lower the face; too low: raise it.
        assert_eq!(
            cfg.judge(&[face(250, -40, 140)], W, H),
            Framing::OffCentre {
                direction: Move::Down
            }
        );
        assert_eq!(
            cfg.judge(&[face(250, 300, 140)], W, H),
            Framing::OffCentre {
                direction: Move::Up
            }
        );
    }

    #[test]
    fn iou_of_known_boxes() {
        let a = face(0, 0, 10).bbox;
        let b = face(5, 0, 10).bbox;
        assert!((a.iou(&a) - 1.0).abs() < 1e-9);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-9);
        assert_eq!(a.iou(&face(20, 20, 10).bbox), 0.0);
        assert_eq!(a.iou(&face(0, 0, 0).bbox), 0.0);
    }

    #[test]
    fn mirror_and_scale_and_clip() {
        let b = face(10, 20, 100).bbox;
        assert_eq!(b.mirrored(640).x, 530);
        assert_eq!(b.mirrored(640).mirrored(640), b);
        assert_eq!(
            b.scaled(0.5),
            FaceBox {
                x: 5,
                y: 10,
                width: 50,
                height: 50
            }
        );
        assert_eq!(
            face(-20, -10, 50).bbox.clipped(640, 480),
            Some((0, 0, 30, 40))
        );
        assert_eq!(face(700, 0, 50).bbox.clipped(640, 480), None);
    }

    fn any_box() -> impl Strategy<Value = FaceBox> {
        (any::<i32>(), any::<i32>(), any::<u32>(), any::<u32>()).prop_map(
            |(x, y, width, height)| FaceBox {
                x,
                y,
                width,
                height,
            },
        )
    }

    proptest! {
        #[test]
        fn geometry_never_panics_and_stays_in_range(
            a in any_box(),
            b in any_box(),
            w in any::<u32>(),
            h in any::<u32>(),
            factor in -4.0f64..4.0,
        ) {
            let iou = a.iou(&b);
            prop_assert!((0.0..=1.0).contains(&iou));
            let _ = a.scaled(factor);
            let _ = a.mirrored(w);
            if let Some((x, y, cw, ch)) = a.clipped(w, h) {
                prop_assert!(cw > 0 && ch > 0);
                prop_assert!(u64::from(x) + u64::from(cw) <= u64::from(w));
                prop_assert!(u64::from(y) + u64::from(ch) <= u64::from(h));
            }
            let cfg = FramingConfig::default();
            let faces = [Face { bbox: a, score: 10.0 }];
            let _ = cfg.judge(&faces, w, h);
            let c = cfg.centredness(&a, w, h);
            prop_assert!((0.0..=1.0).contains(&c));
        }

        #[test]
        fn a_box_always_overlaps_itself(a in any_box()) {
            if a.width > 0 && a.height > 0 {
                prop_assert!((a.iou(&a) - 1.0).abs() < 1e-9);
            }
        }
    }
}
