//! Pure conversions of camera bytes: the V4L2 payloads a UVC camera sends (MJPEG, YUYV 4:2:2)
//! to RGB, and RGB to the JPEG the business system receives. No I/O; bytes in, image out.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{ImageFormat, RgbImage};

/// Pixel format of the frames a source delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PixelFormat {
    /// Motion JPEG: every frame is a JPEG image.
    Mjpeg,
    /// YUYV 4:2:2 (Y0 U Y1 V per two pixels).
    Yuyv,
    /// Generated RGB (the simulated source).
    Rgb,
}

impl PixelFormat {
    /// Lower-case name as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mjpeg => "mjpeg",
            Self::Yuyv => "yuyv",
            Self::Rgb => "rgb",
        }
    }
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for PixelFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "mjpeg" | "mjpg" => Ok(Self::Mjpeg),
            "yuyv" | "yuy2" => Ok(Self::Yuyv),
            other => Err(format!("unknown pixel format {other:?} (mjpeg or yuyv)")),
        }
    }
}

/// A frame's bytes could not be turned into an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A YUYV frame whose length does not match its width × height × 2.
    #[error("YUYV frame of {got} bytes, expected {expected} for {width}x{height}")]
    YuyvLength {
        /// Bytes received.
        got: usize,
        /// Bytes a frame of this size has.
        expected: usize,
        /// Configured width.
        width: u32,
        /// Configured height.
        height: u32,
    },
    /// The JPEG decoder rejected an MJPEG frame (truncated or corrupt transfer).
    #[error("MJPEG frame could not be decoded")]
    Jpeg(#[source] image::ImageError),
    /// A frame in a format this crate does not decode.
    #[error("frames in {0} cannot be decoded")]
    Unsupported(PixelFormat),
}

/// The JPEG encoder failed (it only fails on an empty image or an allocation error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The image has no pixels.
    #[error("cannot encode an empty image")]
    Empty,
    /// The encoder reported an error.
    #[error("JPEG encoding failed")]
    Jpeg(#[source] image::ImageError),
}

fn clamp_u8(v: i32) -> u8 {
    u8::try_from(v.clamp(0, 255)).unwrap_or(u8::MAX)
}

/// BT.601 limited-range YCbCr to RGB in integer arithmetic.
fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let c = i32::from(y) - 16;
    let d = i32::from(cb) - 128;
    let e = i32::from(cr) - 128;
    [
        clamp_u8((298 * c + 409 * e + 128) >> 8),
        clamp_u8((298 * c - 100 * d - 208 * e + 128) >> 8),
        clamp_u8((298 * c + 516 * d + 128) >> 8),
    ]
}

/// Converts a packed YUYV 4:2:2 frame to RGB. Width must be even (V4L2 guarantees it for
/// YUYV); an odd width is rejected through the length check.
pub fn yuyv_to_rgb(width: u32, height: u32, data: &[u8]) -> Result<RgbImage, DecodeError> {
    let expected = usize::try_from(u64::from(width) * u64::from(height) * 2).unwrap_or(usize::MAX);
    // Some drivers pad the buffer; accept longer buffers, use the first `expected` bytes.
    if data.len() < expected || !width.is_multiple_of(2) {
        return Err(DecodeError::YuyvLength {
            got: data.len(),
            expected,
            width,
            height,
        });
    }
    let mut rgb = Vec::with_capacity(expected / 2 * 3);
    for chunk in data.get(..expected).unwrap_or_default().chunks_exact(4) {
        if let [y0, u, y1, v] = *chunk {
            rgb.extend_from_slice(&ycbcr_to_rgb(y0, u, v));
            rgb.extend_from_slice(&ycbcr_to_rgb(y1, u, v));
        }
    }
    RgbImage::from_raw(width, height, rgb).ok_or(DecodeError::YuyvLength {
        got: data.len(),
        expected,
        width,
        height,
    })
}

/// Decodes one MJPEG frame (a JPEG image; UVC cameras may omit the Huffman tables, which
/// the decoder then takes from the JPEG standard's defaults).
pub fn mjpeg_to_rgb(data: &[u8]) -> Result<RgbImage, DecodeError> {
    let data = crate::mjpeg::with_standard_huffman_tables(data);
    image::load_from_memory_with_format(&data, ImageFormat::Jpeg)
        .map(|img| img.to_rgb8())
        .map_err(DecodeError::Jpeg)
}

/// Decodes a frame of `format` and the given size to RGB.
pub fn decode(
    format: PixelFormat,
    width: u32,
    height: u32,
    data: &[u8],
) -> Result<RgbImage, DecodeError> {
    match format {
        PixelFormat::Mjpeg => mjpeg_to_rgb(data),
        PixelFormat::Yuyv => yuyv_to_rgb(width, height, data),
        PixelFormat::Rgb => {
            RgbImage::from_raw(width, height, data.to_vec()).ok_or(DecodeError::Unsupported(format))
        }
    }
}

/// Default JPEG quality of photos for the business system.
pub const DEFAULT_JPEG_QUALITY: u8 = 85;

/// Encodes an image as baseline JPEG in memory. `quality` is clamped to 1–100.
pub fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, EncodeError> {
    if image.width() == 0 || image.height() == 0 {
        return Err(EncodeError::Empty);
    }
    let mut out = Cursor::new(Vec::new());
    let mut encoder = JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
    encoder.encode_image(image).map_err(EncodeError::Jpeg)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;
    use proptest::prelude::*;

    /// Low 8 bits of a test coordinate expression.
    fn byte(v: u32) -> u8 {
        u8::try_from(v % 256).unwrap_or(0)
    }

    #[test]
    fn yuyv_black_white_and_grey() {
        // Y=16 is black, Y=235 white, chroma neutral (128).
        let data = [16, 128, 235, 128, 126, 128, 126, 128];
        let img = yuyv_to_rgb(4, 1, &data).expect("decodes");
        assert_eq!(img.get_pixel(0, 0), &Rgb([0, 0, 0]));
        assert_eq!(img.get_pixel(1, 0), &Rgb([255, 255, 255]));
        assert_eq!(img.get_pixel(2, 0), &Rgb([128, 128, 128]));
    }

    #[test]
    fn yuyv_red_has_red_dominant() {
        // BT.601 red: Y=81, Cb=90, Cr=240.
        let img = yuyv_to_rgb(2, 1, &[81, 90, 81, 240]).expect("decodes");
        let [r, g, b] = img.get_pixel(0, 0).0;
        assert!(r > 250 && g < 5 && b < 5, "{r} {g} {b}");
    }

    #[test]
    fn yuyv_short_buffer_is_an_error() {
        assert!(matches!(
            yuyv_to_rgb(4, 2, &[0; 15]),
            Err(DecodeError::YuyvLength {
                got: 15,
                expected: 16,
                ..
            })
        ));
        assert!(yuyv_to_rgb(3, 1, &[0; 8]).is_err());
    }

    #[test]
    fn jpeg_round_trip_keeps_size_and_roughly_colour() {
        let img = RgbImage::from_fn(64, 48, |x, y| Rgb([byte(x * 4), byte(y * 5), 100]));
        let jpeg = encode_jpeg(&img, DEFAULT_JPEG_QUALITY).expect("encodes");
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "SOI marker");
        let back = mjpeg_to_rgb(&jpeg).expect("decodes");
        assert_eq!(back.dimensions(), (64, 48));
        let [r, g, b] = back.get_pixel(32, 24).0;
        assert!(r.abs_diff(128) < 12 && g.abs_diff(120) < 12 && b.abs_diff(100) < 12);
    }

    /// Removes the DHT (Huffman table) segments, as many UVC cameras send MJPEG frames.
    fn strip_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i + 4 <= jpeg.len() {
            if jpeg[i] == 0xFF && jpeg[i + 1] == 0xC4 {
                let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
                i += 2 + len;
            } else if jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA {
                out.extend_from_slice(&jpeg[i..]);
                return out;
            } else {
                out.push(jpeg[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn mjpeg_frame_without_huffman_tables_decodes_with_the_standard_ones() {
        let img = RgbImage::from_fn(64, 48, |x, y| Rgb([byte(x * 4), byte(y * 5), 100]));
        let jpeg = encode_jpeg(&img, 85).expect("encodes");
        let uvc = strip_huffman_tables(&jpeg);
        assert!(uvc.len() < jpeg.len(), "tables removed");
        assert!(!uvc.windows(2).any(|w| w == [0xFF, 0xC4]));
        let back = mjpeg_to_rgb(&uvc).expect("decodes without DHT");
        assert_eq!(back.dimensions(), (64, 48));
        assert_eq!(back, mjpeg_to_rgb(&jpeg).expect("decodes"));
    }

    #[test]
    fn higher_quality_gives_bigger_jpeg() {
        let img = RgbImage::from_fn(64, 64, |x, y| Rgb([byte((x ^ y) * 4), 90, 160]));
        let low = encode_jpeg(&img, 30).expect("encodes");
        let high = encode_jpeg(&img, 95).expect("encodes");
        assert!(high.len() > low.len());
    }

    #[test]
    fn empty_image_is_not_encoded() {
        assert!(matches!(
            encode_jpeg(&RgbImage::new(0, 0), 85),
            Err(EncodeError::Empty)
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_mjpeg_decoder(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = mjpeg_to_rgb(&data);
        }

        #[test]
        fn corrupted_jpeg_never_panics(flip in proptest::collection::vec((0usize..4096, any::<u8>()), 1..16), cut in 0usize..4096) {
            let img = RgbImage::from_fn(32, 24, |x, y| Rgb([byte(x * 8), byte(y * 10), 50]));
            let mut jpeg = encode_jpeg(&img, 80).expect("encodes");
            for (pos, byte) in flip {
                let len = jpeg.len();
                if let Some(b) = jpeg.get_mut(pos % len) { *b = byte; }
            }
            jpeg.truncate(cut.max(2));
            let _ = mjpeg_to_rgb(&jpeg);
        }

        #[test]
        fn random_yuyv_never_panics_and_sizes_match(w in 0u32..40, h in 0u32..40, data in proptest::collection::vec(any::<u8>(), 0..4000)) {
            match yuyv_to_rgb(w, h, &data) {
                Ok(img) => prop_assert_eq!(img.dimensions(), (w, h)),
                Err(_) => prop_assert!(data.len() < (w * h * 2) as usize || w % 2 == 1),
            }
        }

        #[test]
        fn encode_decode_round_trips_size(w in 1u32..80, h in 1u32..80, q in 1u8..=100) {
            let img = RgbImage::from_fn(w, h, |x, y| Rgb([byte(x), byte(y), 7]));
            let jpeg = encode_jpeg(&img, q).expect("encodes");
            prop_assert_eq!(mjpeg_to_rgb(&jpeg).expect("decodes").dimensions(), (w, h));
        }
    }
}
