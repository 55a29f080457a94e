//! A USB (UVC) camera through Video4Linux2, driven by `nokhwa`.
//!
//! The device is named by its node (`/dev/video0`) or a stable link to it
//! (`/dev/v4l/by-id/usb-…-video-index0`); the format closest to the configured resolution
//! in the configured pixel format (MJPEG or YUYV) is chosen, and frames are decoded to RGB
//! in this crate. `nokhwa::Camera` is not `Send`: it lives on the camera's worker thread.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};

use crate::codec::{self, PixelFormat};
use crate::{CameraError, Frame, FrameSource, Resolution, SourceInfo, SourceKind, Unavailable};

/// Pixel formats this crate decodes, in the order nokhwa may fall back to.
const DECODABLE: &[FrameFormat] = &[FrameFormat::MJPEG, FrameFormat::YUYV];

/// Frames a V4L2 stream may hold from before an idle pause (its queued buffers).
const STALE_FRAMES: usize = 4;
/// After this long without a capture, the queued frames are considered stale.
const STALE_AFTER: Duration = Duration::from_millis(500);
/// Frames of the first second after the stream starts are dark or tinted while the
/// camera's automatic exposure and white balance settle; they are read and dropped.
const WARM_UP: Duration = Duration::from_secs(1);
/// Upper bound on frames dropped while warming up (a camera running at 60 fps).
const WARM_UP_MAX_FRAMES: usize = 60;

/// The V4L2 index of a device node: `/dev/video3` → 3. Follows symlinks such as
/// `/dev/v4l/by-id/…` when the path exists.
pub fn video_index(path: &Path) -> Option<u32> {
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = resolved.file_name()?.to_str()?;
    name.strip_prefix("video")?.parse().ok()
}

/// The format to ask for among those the camera offers: the wanted pixel format (else the
/// other decodable one), at the resolution nearest the wanted one, at the frame rate
/// nearest `fps`.
pub fn choose_format(
    offered: &[CameraFormat],
    resolution: Resolution,
    format: PixelFormat,
    fps: u32,
) -> Option<CameraFormat> {
    let wanted = to_frame_format(format).unwrap_or(FrameFormat::MJPEG);
    let fourcc = if offered.iter().any(|f| f.format() == wanted) {
        wanted
    } else {
        *DECODABLE
            .iter()
            .find(|ff| offered.iter().any(|f| f.format() == **ff))?
    };
    let distance = |f: &CameraFormat| {
        let dx = i64::from(f.width()) - i64::from(resolution.width);
        let dy = i64::from(f.height()) - i64::from(resolution.height);
        let dfps = i64::from(f.frame_rate()) - i64::from(fps);
        (dx * dx + dy * dy, dfps.abs())
    };
    offered
        .iter()
        .filter(|f| f.format() == fourcc)
        .min_by_key(|f| distance(f))
        .copied()
}

fn to_frame_format(format: PixelFormat) -> Option<FrameFormat> {
    match format {
        PixelFormat::Mjpeg => Some(FrameFormat::MJPEG),
        PixelFormat::Yuyv => Some(FrameFormat::YUYV),
        PixelFormat::Rgb => None,
    }
}

fn from_frame_format(format: FrameFormat) -> Option<PixelFormat> {
    match format {
        FrameFormat::MJPEG => Some(PixelFormat::Mjpeg),
        FrameFormat::YUYV => Some(PixelFormat::Yuyv),
        _ => None,
    }
}

/// An open V4L2 camera with its stream running.
pub struct V4lSource {
    camera: nokhwa::Camera,
    device: PathBuf,
    name: String,
    format: PixelFormat,
    resolution: Resolution,
    started: Instant,
    last_capture: Option<Instant>,
    sequence: u64,
}

impl std::fmt::Debug for V4lSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V4lSource")
            .field("device", &self.device)
            .field("name", &self.name)
            .field("format", &self.format)
            .field("resolution", &self.resolution)
            .finish_non_exhaustive()
    }
}

impl V4lSource {
    /// Opens the camera at `device`, configures it and starts streaming.
    pub fn open(
        device: &Path,
        resolution: Resolution,
        format: PixelFormat,
        fps: u32,
    ) -> Result<Self, CameraError> {
        let unavailable = |cause| CameraError::CameraUnavailable { cause };
        if !device.exists() {
            return Err(unavailable(Unavailable::NoDevice {
                path: device.to_path_buf(),
            }));
        }
        let index = video_index(device).ok_or_else(|| {
            unavailable(Unavailable::NotVideoDevice {
                path: device.to_path_buf(),
            })
        })?;
        Self::open_index(index, device, resolution, format, fps)
    }

    /// Opens V4L2 device number `index` (named `device` in reports).
    fn open_index(
        index: u32,
        device: &Path,
        resolution: Resolution,
        format: PixelFormat,
        fps: u32,
    ) -> Result<Self, CameraError> {
        let unavailable = |cause| CameraError::CameraUnavailable { cause };
        let request = RequestedFormat::with_formats(RequestedFormatType::None, DECODABLE);
        let mut camera = nokhwa::Camera::with_backend(
            CameraIndex::Index(index),
            request,
            ApiBackend::Video4Linux,
        )
        .map_err(|e| unavailable(Unavailable::Open(e)))?;
        let offered = camera
            .compatible_camera_formats()
            .map_err(|e| unavailable(Unavailable::Open(e)))?;
        let chosen = choose_format(&offered, resolution, format, fps).ok_or_else(|| {
            unavailable(Unavailable::NoUsableFormat {
                offered: offered
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        })?;
        if camera.camera_format() != chosen {
            // Exact: `chosen` is one of the offered formats, so the request is fulfilled as is.
            let exact = [chosen.format()];
            camera
                .set_camera_requset(RequestedFormat::with_formats(
                    RequestedFormatType::Exact(chosen),
                    &exact,
                ))
                .map_err(|e| unavailable(Unavailable::Open(e)))?;
        }
        camera
            .open_stream()
            .map_err(|e| unavailable(Unavailable::Open(e)))?;
        let actual = camera.camera_format();
        let pixel_format = from_frame_format(actual.format()).ok_or_else(|| {
            unavailable(Unavailable::NoUsableFormat {
                offered: actual.to_string(),
            })
        })?;
        let name = camera.info().human_name();
        tracing::info!(device = %device.display(), %name, format = %actual, "camera open");
        Ok(Self {
            camera,
            device: device.to_path_buf(),
            name,
            format: pixel_format,
            resolution: Resolution {
                width: actual.width(),
                height: actual.height(),
            },
            started: Instant::now(),
            last_capture: None,
            sequence: 0,
        })
    }

    fn next_raw(&mut self) -> Result<Vec<u8>, CameraError> {
        self.camera
            .frame_raw()
            .map(|bytes| bytes.into_owned())
            .map_err(|e| CameraError::CameraUnavailable {
                cause: Unavailable::Capture(e),
            })
    }
}

impl FrameSource for V4lSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: SourceKind::V4l2 {
                device: self.device.clone(),
            },
            name: self.name.clone(),
            resolution: self.resolution,
            format: self.format,
        }
    }

    fn capture(&mut self) -> Result<Frame, CameraError> {
        let idle = self.last_capture.is_none_or(|t| t.elapsed() >= STALE_AFTER);
        let mut warm_up_frames = 0;
        while self.started.elapsed() < WARM_UP && warm_up_frames < WARM_UP_MAX_FRAMES {
            self.next_raw()?;
            warm_up_frames += 1;
        }
        if idle && warm_up_frames == 0 {
            // The driver kept filling its queued buffers while nobody read them; those
            // frames show the past, so skip them and take a fresh one.
            for _ in 0..STALE_FRAMES {
                self.next_raw()?;
            }
        }
        let raw = self.next_raw()?;
        self.last_capture = Some(Instant::now());
        let image = codec::decode(
            self.format,
            self.resolution.width,
            self.resolution.height,
            &raw,
        )?;
        let sequence = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        Ok(Frame {
            image,
            format: self.format,
            sequence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(w: u32, h: u32, f: FrameFormat, fps: u32) -> CameraFormat {
        CameraFormat::new_from(w, h, f, fps)
    }

    const VGA: Resolution = Resolution {
        width: 640,
        height: 480,
    };

    #[test]
    fn index_from_device_node_name() {
        assert_eq!(video_index(Path::new("/dev/video0")), Some(0));
        assert_eq!(video_index(Path::new("/dev/video12")), Some(12));
        assert_eq!(video_index(Path::new("/dev/ttyUSB0")), None);
        assert_eq!(video_index(Path::new("/dev/video")), None);
    }

    #[test]
    fn chooses_wanted_format_at_nearest_resolution_and_rate() {
        let offered = [
            fmt(1280, 720, FrameFormat::MJPEG, 30),
            fmt(640, 480, FrameFormat::MJPEG, 15),
            fmt(640, 480, FrameFormat::MJPEG, 30),
            fmt(640, 480, FrameFormat::YUYV, 30),
            fmt(320, 240, FrameFormat::YUYV, 30),
        ];
        assert_eq!(
            choose_format(&offered, VGA, PixelFormat::Mjpeg, 30),
            Some(fmt(640, 480, FrameFormat::MJPEG, 30))
        );
        assert_eq!(
            choose_format(&offered, VGA, PixelFormat::Yuyv, 30),
            Some(fmt(640, 480, FrameFormat::YUYV, 30))
        );
        let near = Resolution {
            width: 1200,
            height: 700,
        };
        assert_eq!(
            choose_format(&offered, near, PixelFormat::Mjpeg, 25),
            Some(fmt(1280, 720, FrameFormat::MJPEG, 30))
        );
    }

    #[test]
    fn falls_back_to_the_other_decodable_format() {
        let offered = [
            fmt(640, 480, FrameFormat::NV12, 30),
            fmt(640, 480, FrameFormat::YUYV, 30),
        ];
        assert_eq!(
            choose_format(&offered, VGA, PixelFormat::Mjpeg, 30),
            Some(fmt(640, 480, FrameFormat::YUYV, 30))
        );
        assert_eq!(
            choose_format(
                &[fmt(640, 480, FrameFormat::NV12, 30)],
                VGA,
                PixelFormat::Mjpeg,
                30
            ),
            None
        );
    }

    #[test]
    fn missing_device_is_unavailable_not_a_panic() {
        let err = V4lSource::open(Path::new("/dev/video99"), VGA, PixelFormat::Mjpeg, 30)
            .expect_err("no such camera");
        assert!(matches!(
            err,
            CameraError::CameraUnavailable {
                cause: Unavailable::NoDevice { .. }
            }
        ));
        assert!(err.to_string().contains("/dev/video99"), "{err}");
    }

    #[test]
    fn nokhwa_reports_a_missing_index_as_unavailable() {
        let err = V4lSource::open_index(99, Path::new("/dev/video99"), VGA, PixelFormat::Mjpeg, 30)
            .expect_err("no such camera");
        assert!(
            matches!(
                err,
                CameraError::CameraUnavailable {
                    cause: Unavailable::Open(_)
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn non_video_node_is_unavailable() {
        let err = V4lSource::open(Path::new("/dev/null"), VGA, PixelFormat::Mjpeg, 30)
            .expect_err("not a camera");
        assert!(matches!(
            err,
            CameraError::CameraUnavailable {
                cause: Unavailable::NotVideoDevice { .. }
            }
        ));
    }

    /// Runs against the camera named by `TELEKIOSK_CAMERA_DEVICE` (e.g. `/dev/video0`).
    #[cfg(feature = "hardware-tests")]
    #[test]
    fn real_camera_captures_a_frame_of_the_negotiated_size() {
        let device = std::env::var("TELEKIOSK_CAMERA_DEVICE")
            .expect("set TELEKIOSK_CAMERA_DEVICE=/dev/videoN for hardware tests");
        let mut cam =
            V4lSource::open(Path::new(&device), VGA, PixelFormat::Mjpeg, 30).expect("camera opens");
        let info = cam.info();
        for _ in 0..3 {
            let frame = cam.capture().expect("frame");
            assert_eq!(
                frame.image.dimensions(),
                (info.resolution.width, info.resolution.height)
            );
        }
    }
}
