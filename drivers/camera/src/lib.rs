//! Camera for the live photo of real-name registration (实名登记现场拍照).
//!
//! - [`codec`]: pure conversions — MJPEG/YUYV frames to RGB, RGB to JPEG.
//! - [`quality`]: pure photo checks (too dark, overexposed, blurred, low contrast) with
//!   customer messages in Chinese and English.
//! - [`FrameSource`]: something that delivers frames — a USB camera through V4L2
//!   ([`v4l::V4lSource`], via `nokhwa`) or the simulated camera ([`sim::SimulatedSource`]).
//! - [`Camera`]: the actor the application holds. A worker thread owns the source (V4L2
//!   capture blocks, and `nokhwa`'s camera is not `Send`); cloneable handles ask it for a
//!   still, a preview frame or a finished [`Photo`]; the thread ends and the device is
//!   closed when the last handle drops. A missing or unplugged camera is
//!   [`CameraError::CameraUnavailable`], never a panic.
//!
//! Photos are kept in memory only: this crate never writes or logs a frame.
#![forbid(unsafe_code)]

pub mod codec;
pub mod mjpeg;
pub mod quality;
pub mod sim;
pub mod v4l;

use std::path::PathBuf;
use std::time::Duration;

use image::RgbImage;
use image::imageops::{self, FilterType};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// The `image` crate this API is built on (its `RgbImage` is [`Frame::image`]).
pub use image;

pub use codec::{DEFAULT_JPEG_QUALITY, DecodeError, EncodeError, PixelFormat};
pub use quality::{QualityIssue, QualityReport, QualityThresholds};

/// Width × height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resolution {
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl Default for Resolution {
    fn default() -> Self {
        Self {
            width: 640,
            height: 480,
        }
    }
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl std::str::FromStr for Resolution {
    type Err = String;
    /// Parses `640x480`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("resolution {s:?} is not WIDTHxHEIGHT, e.g. 640x480");
        let (w, h) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let width: u32 = w.trim().parse().map_err(|_| bad())?;
        let height: u32 = h.trim().parse().map_err(|_| bad())?;
        if width == 0 || height == 0 || width > 8192 || height > 8192 {
            return Err(format!("resolution {s:?} is outside 1x1 … 8192x8192"));
        }
        Ok(Self { width, height })
    }
}

/// One decoded frame. Its `Debug` shows the size only, never pixels.
#[derive(Clone)]
pub struct Frame {
    /// The picture, RGB 8 bits per channel.
    pub image: RgbImage,
    /// The format the source delivered it in.
    pub format: PixelFormat,
    /// Position in the source's stream, from 0.
    pub sequence: u64,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("width", &self.image.width())
            .field("height", &self.image.height())
            .field("format", &self.format)
            .field("sequence", &self.sequence)
            .finish()
    }
}

/// What kind of source a camera is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SourceKind {
    /// A V4L2 device node.
    V4l2 {
        /// The node as configured.
        device: PathBuf,
    },
    /// The generated test pattern.
    SimulatedPattern,
    /// Image files from a folder.
    SimulatedFolder {
        /// The folder.
        dir: PathBuf,
    },
    /// A scripted scene drawn from the committed portrait ([`sim::Scene`]).
    SimulatedScene {
        /// Which scene.
        scene: sim::Scene,
    },
}

/// Description of an open source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    /// Which source.
    pub kind: SourceKind,
    /// The device's own name (V4L2 card name) or the simulator's.
    pub name: String,
    /// Size of the frames delivered.
    pub resolution: Resolution,
    /// Format the frames arrive in.
    pub format: PixelFormat,
}

impl SourceInfo {
    /// A short label: `v4l2:/dev/video0`, `simulated`, `simulated:/path/to/frames`.
    pub fn label(&self) -> String {
        match &self.kind {
            SourceKind::V4l2 { device } => format!("v4l2:{}", device.display()),
            SourceKind::SimulatedPattern => "simulated".to_owned(),
            SourceKind::SimulatedFolder { dir } => format!("simulated:{}", dir.display()),
            SourceKind::SimulatedScene { scene } => format!("simulated:scene:{scene}"),
        }
    }

    /// True for the simulated camera.
    pub fn is_simulated(&self) -> bool {
        !matches!(self.kind, SourceKind::V4l2 { .. })
    }
}

/// Something that delivers frames. Calls block; [`Camera`] runs them on its own thread.
pub trait FrameSource {
    /// What this source is and the frames it delivers.
    fn info(&self) -> SourceInfo;
    /// Waits for and returns the next fresh frame.
    fn capture(&mut self) -> Result<Frame, CameraError>;
}

/// Why the camera cannot deliver frames.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    /// No device node at this path: the camera is unplugged or the path is wrong.
    #[error("no camera at {}", path.display())]
    NoDevice {
        /// The configured path.
        path: PathBuf,
    },
    /// The path is not a V4L2 video node (`/dev/videoN` or a link to one).
    #[error("{} is not a video device (expected /dev/videoN)", path.display())]
    NotVideoDevice {
        /// The configured path.
        path: PathBuf,
    },
    /// V4L2 refused to open or configure the camera (busy, no permission, not a capture device).
    #[error("the camera could not be opened")]
    Open(#[source] nokhwa::NokhwaError),
    /// The camera offers neither MJPEG nor YUYV.
    #[error("the camera offers no MJPEG or YUYV format (it offers: {offered})")]
    NoUsableFormat {
        /// The formats the camera listed.
        offered: String,
    },
    /// Capture failed while streaming: unplugged, or a driver error.
    #[error("capture failed")]
    Capture(#[source] nokhwa::NokhwaError),
    /// No frame arrived within the capture timeout.
    #[error("no frame within {0:?}")]
    Timeout(Duration),
    /// The folder of simulated frames cannot be read.
    #[error("cannot read frames from {}", dir.display())]
    Frames {
        /// The folder.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The folder of simulated frames holds no readable JPEG or PNG file.
    #[error("no JPEG or PNG frames in {}", dir.display())]
    NoFrames {
        /// The folder.
        dir: PathBuf,
    },
    /// The camera's worker thread could not be started.
    #[error("cannot start the camera thread")]
    Thread(#[source] std::io::Error),
    /// The camera's worker thread has stopped.
    #[error("the camera worker stopped")]
    WorkerStopped,
}

/// Errors of the camera.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CameraError {
    /// 摄像头不可用 — the camera is missing, unplugged, busy or not answering. The kiosk
    /// turns this into "photo service unavailable" and sends the customer to the counter.
    #[error("camera unavailable: {cause}")]
    CameraUnavailable {
        /// What went wrong.
        #[source]
        cause: Unavailable,
    },
    /// A frame arrived but could not be decoded (a corrupt USB transfer); retrying helps.
    #[error("a camera frame could not be decoded")]
    Decode(#[from] DecodeError),
    /// The photo could not be encoded as JPEG.
    #[error("the photo could not be encoded")]
    Encode(#[from] EncodeError),
}

impl CameraError {
    fn unavailable(cause: Unavailable) -> Self {
        Self::CameraUnavailable { cause }
    }
}

/// Which camera to open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SourceConfig {
    /// A V4L2 device node such as `/dev/video0` or `/dev/v4l/by-id/…-video-index0`.
    V4l2 {
        /// The node.
        device: PathBuf,
    },
    /// The simulated camera: the test pattern, or the image files of `frames_dir`.
    Simulated {
        /// Folder of JPEG/PNG frames played in a loop; the test pattern when absent.
        frames_dir: Option<PathBuf>,
    },
    /// The simulated camera playing a scripted scene drawn from a real portrait: a customer
    /// turning their head, a photo held still, nobody, two people… ([`sim::Scene`]).
    SimulatedScene {
        /// Which scene.
        scene: sim::Scene,
    },
}

/// Camera settings (part of the kiosk's configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CameraConfig {
    /// Which camera.
    pub source: SourceConfig,
    /// Requested frame size; a real camera gives the nearest size it offers.
    pub resolution: Resolution,
    /// Requested pixel format (MJPEG or YUYV).
    pub format: PixelFormat,
    /// Requested frame rate.
    pub fps: u32,
    /// Width of preview frames for the screen (height keeps the aspect ratio).
    pub preview_width: u32,
    /// How long a still may take before the camera counts as not answering.
    pub capture_timeout: Duration,
    /// JPEG quality of photos, 1–100.
    pub jpeg_quality: u8,
    /// Quality-check thresholds.
    pub thresholds: QualityThresholds,
}

impl Default for CameraConfig {
    fn default() -> Self {
        Self {
            source: SourceConfig::V4l2 {
                device: PathBuf::from("/dev/video0"),
            },
            resolution: Resolution::default(),
            format: PixelFormat::Mjpeg,
            fps: 30,
            preview_width: 320,
            capture_timeout: Duration::from_secs(5),
            jpeg_quality: DEFAULT_JPEG_QUALITY,
            thresholds: QualityThresholds::default(),
        }
    }
}

/// Opens the source `config` names, on the calling (blocking) thread.
pub fn open_source(config: &CameraConfig) -> Result<Box<dyn FrameSource>, CameraError> {
    match &config.source {
        SourceConfig::V4l2 { device } => Ok(Box::new(v4l::V4lSource::open(
            device,
            config.resolution,
            config.format,
            config.fps,
        )?)),
        SourceConfig::Simulated { frames_dir: None } => {
            Ok(Box::new(sim::SimulatedSource::pattern(config.resolution)))
        }
        SourceConfig::Simulated {
            frames_dir: Some(dir),
        } => Ok(Box::new(sim::SimulatedSource::from_folder(
            dir,
            config.resolution,
        )?)),
        SourceConfig::SimulatedScene { scene } => Ok(Box::new(sim::SimulatedSource::scene(
            *scene,
            config.resolution,
        ))),
    }
}

/// A photo ready for the business system: JPEG bytes and the quality verdict. Its `Debug`
/// shows sizes only, never the picture.
#[derive(Clone)]
pub struct Photo {
    /// Baseline JPEG.
    pub jpeg: Vec<u8>,
    /// Size of the picture.
    pub resolution: Resolution,
    /// Quality measurements and issues; send only when `quality.is_ok()`.
    pub quality: QualityReport,
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Photo")
            .field("jpeg_bytes", &self.jpeg.len())
            .field("resolution", &self.resolution)
            .field("quality", &self.quality)
            .finish()
    }
}

/// Checks and encodes a frame: the pure part of taking a photo.
pub fn make_photo(
    frame: &Frame,
    thresholds: &QualityThresholds,
    jpeg_quality: u8,
) -> Result<Photo, EncodeError> {
    Ok(Photo {
        jpeg: codec::encode_jpeg(&frame.image, jpeg_quality)?,
        resolution: Resolution {
            width: frame.image.width(),
            height: frame.image.height(),
        },
        quality: quality::assess(&frame.image, thresholds),
    })
}

type Reply<T> = oneshot::Sender<Result<T, CameraError>>;

enum Request {
    Still(Reply<Frame>),
    Preview(u32, Reply<Frame>),
    Photo(QualityThresholds, u8, Reply<Photo>),
}

/// Handle to the camera actor. Clone it freely; the camera closes when the last clone drops.
#[derive(Debug, Clone)]
pub struct Camera {
    requests: mpsc::Sender<Request>,
    info: SourceInfo,
    config: std::sync::Arc<CameraConfig>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Request::Still(_) => "Still",
            Request::Preview(..) => "Preview",
            Request::Photo(..) => "Photo",
        })
    }
}

impl Camera {
    /// Opens the camera `config` names on a new worker thread.
    pub async fn open(config: CameraConfig) -> Result<Self, CameraError> {
        let for_thread = config.clone();
        Self::spawn_with(config, move || open_source(&for_thread)).await
    }

    /// Runs a camera actor over the source `open` creates on the worker thread (for sources
    /// that are not `Send`, such as V4L2). `config` gives timeouts and photo settings.
    pub async fn spawn_with<F>(config: CameraConfig, open: F) -> Result<Self, CameraError>
    where
        F: FnOnce() -> Result<Box<dyn FrameSource>, CameraError> + Send + 'static,
    {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (requests, rx) = mpsc::channel(8);
        std::thread::Builder::new()
            .name("camera".to_owned())
            .spawn(move || worker(open, ready_tx, rx))
            .map_err(|e| CameraError::unavailable(Unavailable::Thread(e)))?;
        let timeout = config.capture_timeout.saturating_mul(2);
        let info = match tokio::time::timeout(timeout, ready_rx).await {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => return Err(CameraError::unavailable(Unavailable::WorkerStopped)),
            Err(_) => return Err(CameraError::unavailable(Unavailable::Timeout(timeout))),
        };
        Ok(Self {
            requests,
            info,
            config: std::sync::Arc::new(config),
        })
    }

    /// What the open source is.
    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// A fresh full-size frame.
    pub async fn still(&self) -> Result<Frame, CameraError> {
        self.ask(Request::Still).await
    }

    /// A fresh frame scaled down to the configured preview width, for the screen.
    pub async fn preview(&self) -> Result<Frame, CameraError> {
        let width = self.config.preview_width;
        self.ask(|reply| Request::Preview(width, reply)).await
    }

    /// A fresh still, checked and encoded as JPEG with the configured thresholds and quality.
    pub async fn photo(&self) -> Result<Photo, CameraError> {
        let thresholds = self.config.thresholds;
        let quality = self.config.jpeg_quality;
        self.ask(|reply| Request::Photo(thresholds, quality, reply))
            .await
    }

    async fn ask<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> Result<T, CameraError> {
        let (tx, rx) = oneshot::channel();
        let timeout = self.config.capture_timeout;
        let exchange = async {
            self.requests
                .send(request(tx))
                .await
                .map_err(|_| CameraError::unavailable(Unavailable::WorkerStopped))?;
            rx.await
                .map_err(|_| CameraError::unavailable(Unavailable::WorkerStopped))?
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| CameraError::unavailable(Unavailable::Timeout(timeout)))?
    }
}

fn worker<F>(
    open: F,
    ready: oneshot::Sender<Result<SourceInfo, CameraError>>,
    mut requests: mpsc::Receiver<Request>,
) where
    F: FnOnce() -> Result<Box<dyn FrameSource>, CameraError>,
{
    let mut source = match open() {
        Ok(source) => {
            let _ = ready.send(Ok(source.info()));
            source
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    while let Some(request) = requests.blocking_recv() {
        match request {
            Request::Still(reply) => {
                let _ = reply.send(source.capture());
            }
            Request::Preview(width, reply) => {
                let _ = reply.send(source.capture().map(|f| scale_to_width(f, width)));
            }
            Request::Photo(thresholds, quality, reply) => {
                let photo = source
                    .capture()
                    .and_then(|f| make_photo(&f, &thresholds, quality).map_err(Into::into));
                let _ = reply.send(photo);
            }
        }
    }
    tracing::debug!("last camera handle dropped; closing the camera");
}

/// Scales a frame down to `width` (keeping the aspect ratio); smaller frames stay as they are.
fn scale_to_width(frame: Frame, width: u32) -> Frame {
    let (w, h) = frame.image.dimensions();
    if width == 0 || w <= width {
        return frame;
    }
    let height = u32::try_from(u64::from(h) * u64::from(width) / u64::from(w.max(1)))
        .unwrap_or(h)
        .max(1);
    Frame {
        image: imageops::resize(&frame.image, width, height, FilterType::Triangle),
        ..frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc as std_mpsc;

    fn simulated(resolution: Resolution) -> CameraConfig {
        CameraConfig {
            source: SourceConfig::Simulated { frames_dir: None },
            resolution,
            capture_timeout: Duration::from_secs(30),
            ..CameraConfig::default()
        }
    }

    #[test]
    fn resolution_parses_and_rejects() {
        assert_eq!(
            "640x480".parse::<Resolution>(),
            Ok(Resolution {
                width: 640,
                height: 480
            })
        );
        assert_eq!(
            "1280X720".parse::<Resolution>().map(|r| r.to_string()),
            Ok("1280x720".to_owned())
        );
        for bad in ["640", "x480", "0x480", "640x-1", "abcxdef", "99999x1"] {
            assert!(bad.parse::<Resolution>().is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn resolution_parsing_never_panics(text in ".{0,24}") {
            if let Ok(r) = text.parse::<Resolution>() {
                proptest::prop_assert_eq!(r.to_string().parse::<Resolution>(), Ok(r));
            }
        }
    }

    #[tokio::test]
    async fn handle_gives_stills_previews_and_photos() {
        let cam = Camera::open(simulated(Resolution {
            width: 640,
            height: 480,
        }))
        .await
        .expect("simulated camera opens");
        assert_eq!(cam.info().label(), "simulated");
        let a = cam.still().await.expect("still");
        let b = cam.clone().still().await.expect("still from a clone");
        assert_eq!(a.image.dimensions(), (640, 480));
        assert!(b.sequence > a.sequence);
        let p = cam.preview().await.expect("preview");
        assert_eq!(p.image.dimensions(), (320, 240));
        let photo = cam.photo().await.expect("photo");
        assert!(photo.quality.is_ok(), "{photo:?}");
        let decoded = codec::mjpeg_to_rgb(&photo.jpeg).expect("JPEG decodes");
        assert_eq!(decoded.dimensions(), (640, 480));
    }

    /// A simulated source that reports when it is dropped (the camera closed).
    struct DropProbe(sim::SimulatedSource, std_mpsc::Sender<()>);
    impl FrameSource for DropProbe {
        fn info(&self) -> SourceInfo {
            self.0.info()
        }
        fn capture(&mut self) -> Result<Frame, CameraError> {
            self.0.capture()
        }
    }
    impl Drop for DropProbe {
        fn drop(&mut self) {
            let _ = self.1.send(());
        }
    }

    #[tokio::test]
    async fn camera_closes_when_the_last_handle_drops() {
        let (closed_tx, closed_rx) = std_mpsc::channel();
        let res = Resolution {
            width: 64,
            height: 48,
        };
        let cam = Camera::spawn_with(simulated(res), move || {
            Ok(Box::new(DropProbe(sim::SimulatedSource::pattern(res), closed_tx)) as Box<_>)
        })
        .await
        .expect("opens");
        let other = cam.clone();
        drop(cam);
        other.still().await.expect("a remaining handle still works");
        assert!(
            closed_rx.try_recv().is_err(),
            "camera must stay open while a handle lives"
        );
        drop(other);
        tokio::task::spawn_blocking(move || closed_rx.recv_timeout(Duration::from_secs(30)))
            .await
            .expect("join")
            .expect("camera closed after the last handle dropped");
    }

    #[tokio::test]
    async fn missing_v4l2_device_is_unavailable() {
        let config = CameraConfig {
            source: SourceConfig::V4l2 {
                device: PathBuf::from("/dev/video99"),
            },
            ..CameraConfig::default()
        };
        let err = Camera::open(config).await.expect_err("no camera here");
        assert!(
            matches!(
                err,
                CameraError::CameraUnavailable {
                    cause: Unavailable::NoDevice { .. }
                }
            ),
            "{err:?}"
        );
    }

    /// A source that fails the way an unplugged camera does.
    struct Unplugged;
    impl FrameSource for Unplugged {
        fn info(&self) -> SourceInfo {
            SourceInfo {
                kind: SourceKind::SimulatedPattern,
                name: "unplugged".to_owned(),
                resolution: Resolution::default(),
                format: PixelFormat::Rgb,
            }
        }
        fn capture(&mut self) -> Result<Frame, CameraError> {
            Err(CameraError::unavailable(Unavailable::Capture(
                nokhwa::NokhwaError::ReadFrameError("No such device (os error 19)".to_owned()),
            )))
        }
    }

    #[tokio::test]
    async fn capture_failure_reaches_the_caller_as_unavailable() {
        let cam = Camera::spawn_with(simulated(Resolution::default()), || {
            Ok(Box::new(Unplugged) as Box<_>)
        })
        .await
        .expect("opens");
        assert!(matches!(
            cam.still().await,
            Err(CameraError::CameraUnavailable {
                cause: Unavailable::Capture(_)
            })
        ));
        assert!(cam.photo().await.is_err());
    }

    /// A source whose driver code panics while capturing.
    struct Panicking;
    impl FrameSource for Panicking {
        fn info(&self) -> SourceInfo {
            Unplugged.info()
        }
        fn capture(&mut self) -> Result<Frame, CameraError> {
            panic!("driver bug");
        }
    }

    #[tokio::test]
    async fn a_panic_in_the_driver_reaches_the_caller_as_unavailable() {
        let cam = Camera::spawn_with(simulated(Resolution::default()), || {
            Ok(Box::new(Panicking) as Box<_>)
        })
        .await
        .expect("opens");
        assert!(matches!(
            cam.still().await,
            Err(CameraError::CameraUnavailable {
                cause: Unavailable::WorkerStopped
            })
        ));
        assert!(matches!(
            cam.preview().await,
            Err(CameraError::CameraUnavailable {
                cause: Unavailable::WorkerStopped
            })
        ));
    }

    #[tokio::test]
    async fn a_failed_open_is_reported_by_open() {
        let err = Camera::spawn_with(simulated(Resolution::default()), || {
            Err(CameraError::unavailable(Unavailable::NoDevice {
                path: PathBuf::from("/dev/video7"),
            }))
        })
        .await
        .expect_err("open fails");
        assert_eq!(
            err.to_string(),
            "camera unavailable: no camera at /dev/video7"
        );
    }

    /// Runs against the camera named by `TELEKIOSK_CAMERA_DEVICE` (e.g. `/dev/video0`).
    #[cfg(feature = "hardware-tests")]
    #[tokio::test]
    async fn real_camera_gives_stills_previews_and_photos() {
        let device = std::env::var("TELEKIOSK_CAMERA_DEVICE")
            .expect("set TELEKIOSK_CAMERA_DEVICE=/dev/videoN for hardware tests");
        let cam = Camera::open(CameraConfig {
            source: SourceConfig::V4l2 {
                device: PathBuf::from(device),
            },
            capture_timeout: Duration::from_secs(30),
            ..CameraConfig::default()
        })
        .await
        .expect("camera opens");
        let res = cam.info().resolution;
        let still = cam.still().await.expect("still");
        assert_eq!(still.image.dimensions(), (res.width, res.height));
        let preview = cam.preview().await.expect("preview");
        assert!(preview.image.width() <= 320);
        let photo = cam.photo().await.expect("photo");
        assert!(codec::mjpeg_to_rgb(&photo.jpeg).is_ok());
    }

    #[test]
    fn frame_debug_shows_no_pixels() {
        let frame = Frame {
            image: RgbImage::new(4, 2),
            format: PixelFormat::Rgb,
            sequence: 3,
        };
        let text = format!("{frame:?}");
        assert!(
            text.contains("width: 4") && !text.contains("[0, 0"),
            "{text}"
        );
    }
}
