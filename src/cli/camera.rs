//! `telekiosk diag camera` and `telekiosk sim camera`: the technician's camera check and
//! the simulated camera the demo uses.
//!
//! A photo is written to disk only when the technician asks for it (`--snapshot`, `--out`);
//! nothing here logs picture data.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use camera::{
    Camera, CameraConfig, CameraError, PixelFormat, QualityIssue, QualityReport, Resolution,
    SourceConfig, SourceInfo, Unavailable,
};
use serde::Serialize;

use super::report::{self, Problem, Report, on_running_kiosk};

/// Exit status of `sim camera` when the simulated camera gives no frame.
const EXIT_NO_FRAME: u8 = 1;

#[derive(Debug, clap::Args)]
pub struct DiagArgs {
    /// Camera device node, e.g. /dev/video0 or /dev/v4l/by-id/usb-…-video-index0.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/dev/video0",
        conflicts_with = "simulated"
    )]
    device: PathBuf,
    /// Use the simulated camera instead of a device.
    #[arg(long)]
    simulated: bool,
    /// Requested frame size; the camera gives the nearest size it offers.
    #[arg(long, value_name = "WxH", default_value = "640x480")]
    resolution: Resolution,
    /// Requested pixel format: mjpeg or yuyv.
    #[arg(long, value_name = "FORMAT", default_value = "mjpeg")]
    format: PixelFormat,
    /// JPEG quality of the snapshot, 1–100.
    #[arg(long, value_name = "Q", default_value_t = camera::DEFAULT_JPEG_QUALITY,
          value_parser = clap::value_parser!(u8).range(1..=100))]
    jpeg_quality: u8,
    /// Write the captured frame as JPEG to this file (it shows whoever stands at the kiosk).
    #[arg(long, value_name = "FILE.jpg")]
    snapshot: Option<PathBuf>,
    /// Print a JSON report on standard output.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Play the JPEG/PNG files of this folder in a loop instead of the test pattern.
    #[arg(long, value_name = "DIR")]
    frames: Option<PathBuf>,
    /// Frame size.
    #[arg(long, value_name = "WxH", default_value = "640x480")]
    resolution: Resolution,
    /// Write one frame to this file (PNG if it ends in .png, else JPEG) and exit.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Stop after this many reports (default: run until interrupted).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

/// One customer-facing reason, as reported.
#[derive(Debug, Serialize)]
struct Reason {
    code: &'static str,
    zh: &'static str,
    en: &'static str,
}

impl From<QualityIssue> for Reason {
    fn from(issue: QualityIssue) -> Self {
        Self {
            code: issue.code(),
            zh: issue.message_zh(),
            en: issue.message_en(),
        }
    }
}

#[derive(Debug, Serialize)]
struct DiagReport {
    source: String,
    simulated: bool,
    name: String,
    width: u32,
    height: u32,
    format: PixelFormat,
    brightness: f64,
    sharpness: f64,
    contrast: f64,
    clipped_fraction: f64,
    quality_ok: bool,
    reasons: Vec<Reason>,
    jpeg_bytes: usize,
    snapshot: Option<PathBuf>,
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn reasons(report: &QualityReport) -> Vec<Reason> {
    report.issues.iter().copied().map(Reason::from).collect()
}

/// The error and its causes on one line: "camera unavailable: no camera at /dev/video99".
fn chain(err: &CameraError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    // The top-level message already names the immediate cause of CameraUnavailable.
    if matches!(err, CameraError::CameraUnavailable { .. }) {
        source = source.and_then(std::error::Error::source);
    }
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The causes below an error, on one line ("" when there are none).
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}

/// What a camera that gives no frame means, and what to do.
fn camera_problem(err: &CameraError, device: &str) -> Problem {
    const LIST: &str = "`ls -l /dev/v4l/by-id/` lists the cameras plugged in: pass the \
                        `-video-index0` one with --device; check the USB cable";
    let with_cause = |p: Problem, e: &(dyn std::error::Error + 'static)| {
        let c = causes(e);
        if c.is_empty() { p } else { p.cause(c) }
    };
    let CameraError::CameraUnavailable { cause } = err else {
        // A frame arrived but could not be decoded or encoded.
        return with_cause(Problem::device("bad_frame", err.to_string()), err)
            .action("run it again; if it repeats, plug the camera into another USB port");
    };
    match cause {
        Unavailable::NoDevice { .. } => {
            Problem::unreachable("no_such_device", cause.to_string()).action(LIST)
        }
        Unavailable::NotVideoDevice { .. } => {
            Problem::unreachable("not_a_video_device", cause.to_string()).action(LIST)
        }
        Unavailable::Open(_) => {
            let why = causes(cause);
            let lower = why.to_lowercase();
            if lower.contains("busy") {
                Problem::unreachable(
                    "device_in_use",
                    format!("{device} is in use by another program, probably the running kiosk"),
                )
                .cause(why)
                .action(report::in_use_action(
                    Some(device),
                    on_running_kiosk::CAMERA,
                ))
            } else if lower.contains("permission") || lower.contains("denied") {
                Problem::unreachable(
                    "permission_denied",
                    format!("no permission to open {device}"),
                )
                .cause(why)
                .action("run as root, or as a user in the `video` group")
            } else {
                with_cause(
                    Problem::unreachable("cannot_open", "the camera could not be opened"),
                    cause,
                )
                .action(LIST)
            }
        }
        Unavailable::NoUsableFormat { .. } => {
            Problem::device("no_usable_format", cause.to_string())
                .action("use a UVC camera that offers MJPEG or YUYV")
        }
        Unavailable::Capture(_) | Unavailable::Timeout(_) => with_cause(
            Problem::device(
                "no_frame",
                format!("the camera opened but gave no frame: {cause}"),
            ),
            cause,
        )
        .action("plug the camera in again (`dmesg` shows USB errors); try another USB port"),
        _ => with_cause(
            Problem::unreachable("cannot_open", cause.to_string()),
            cause,
        )
        .action(LIST),
    }
}

pub async fn diag(args: DiagArgs) -> anyhow::Result<ExitCode> {
    let source = if args.simulated {
        SourceConfig::Simulated { frames_dir: None }
    } else {
        SourceConfig::V4l2 {
            device: args.device.clone(),
        }
    };
    let (label, port) = match &source {
        SourceConfig::V4l2 { device } => (
            format!("v4l2:{}", device.display()),
            device.display().to_string(),
        ),
        _ => ("simulated".to_owned(), "simulated".to_owned()),
    };
    let mut report = Report::new("camera", "camera", port.clone());
    let config = CameraConfig {
        source,
        resolution: args.resolution,
        format: args.format,
        jpeg_quality: args.jpeg_quality,
        ..CameraConfig::default()
    };
    let thresholds = config.thresholds;

    let result = report::quiet(async {
        match Camera::open(config).await {
            Ok(cam) => cam.photo().await.map(|photo| (cam.info().clone(), photo)),
            Err(e) => Err(e),
        }
    })
    .await;
    let (info, photo) = match result {
        Ok(ok) => ok,
        Err(e) => {
            report.fact("source", "source", label);
            report.problem(camera_problem(&e, &port));
            return Ok(report.finish(args.json));
        }
    };

    let q = &photo.quality;
    let facts = DiagReport {
        source: info.label(),
        simulated: info.is_simulated(),
        name: info.name.clone(),
        width: photo.resolution.width,
        height: photo.resolution.height,
        format: info.format,
        brightness: round1(q.brightness),
        sharpness: round1(q.sharpness),
        contrast: round1(q.contrast),
        clipped_fraction: (q.clipped_fraction * 1000.0).round() / 1000.0,
        quality_ok: q.is_ok(),
        reasons: reasons(q),
        jpeg_bytes: photo.jpeg.len(),
        snapshot: args.snapshot.clone(),
    };
    report.line("source", format!("{} ({})", facts.source, facts.name));
    report.line("resolution", format!("{}x{}", facts.width, facts.height));
    report.line("format", facts.format.to_string());
    report.line(
        "brightness",
        format!(
            "{:.1} (mean luma 0-255; too dark below {}, overexposed above {})",
            facts.brightness, thresholds.min_brightness, thresholds.max_brightness
        ),
    );
    report.line(
        "sharpness",
        format!(
            "{:.1} (variance of the Laplacian; blurred below {})",
            facts.sharpness, thresholds.min_sharpness
        ),
    );
    report.line(
        "contrast",
        format!(
            "{:.1} (luma standard deviation; low below {})",
            facts.contrast, thresholds.min_contrast
        ),
    );
    report.line(
        "clipped",
        format!(
            "{:.1} % (overexposed above {:.0} %)",
            q.clipped_fraction * 100.0,
            thresholds.max_clipped_fraction * 100.0
        ),
    );
    report.line("quality", if facts.quality_ok { "OK" } else { "NOT OK" });
    // A poor picture is reported, not a device fault: the light or the framing is at fault.
    for r in &facts.reasons {
        report.warning(format!("picture quality {}: {} / {}", r.code, r.zh, r.en));
    }
    match &args.snapshot {
        Some(path) => match std::fs::write(path, &photo.jpeg) {
            Ok(()) => report.line(
                "snapshot",
                format!(
                    "{} ({} bytes JPEG, quality {})",
                    path.display(),
                    facts.jpeg_bytes,
                    args.jpeg_quality
                ),
            ),
            Err(e) => {
                report.line("snapshot", "not written");
                report.problem(
                    Problem::test(
                        "snapshot_not_written",
                        format!("the snapshot could not be written to {}", path.display()),
                    )
                    .cause(e)
                    .action("give a file in a folder you may write to, e.g. /tmp/snapshot.jpg"),
                );
            }
        },
        None => report.line("snapshot", "not written (use --snapshot FILE.jpg)"),
    }
    report.fields(&facts);
    Ok(report.finish(args.json))
}

fn write_frame(path: &Path, image: &camera::image::RgbImage) -> anyhow::Result<()> {
    let is_png = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let bytes = if is_png {
        let mut out = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut out, camera::image::ImageFormat::Png)
            .context("PNG encoding failed")?;
        out.into_inner()
    } else {
        camera::codec::encode_jpeg(image, camera::DEFAULT_JPEG_QUALITY)
            .context("JPEG encoding failed")?
    };
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn describe(info: &SourceInfo) -> String {
    match &info.kind {
        camera::SourceKind::SimulatedFolder { dir } => {
            format!("frames from {} in a loop", dir.display())
        }
        _ => "moving test pattern with a synthetic face".to_owned(),
    }
}

pub async fn sim(args: SimArgs) -> anyhow::Result<ExitCode> {
    let config = CameraConfig {
        source: SourceConfig::Simulated {
            frames_dir: args.frames.clone(),
        },
        resolution: args.resolution,
        ..CameraConfig::default()
    };
    let thresholds = config.thresholds;
    let cam = match Camera::open(config).await {
        Ok(cam) => cam,
        Err(e) => {
            eprintln!("telekiosk: {}", chain(&e));
            return Ok(ExitCode::from(EXIT_NO_FRAME));
        }
    };
    println!(
        "simulated camera (the source the demo uses): {}, {}",
        describe(cam.info()),
        cam.info().resolution
    );

    if let Some(path) = &args.out {
        let frame = cam.still().await.context("simulated capture failed")?;
        write_frame(path, &frame.image)?;
        println!(
            "wrote one {}x{} frame to {}",
            frame.image.width(),
            frame.image.height(),
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }

    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut reported = 0u64;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        let frame = cam.still().await.context("simulated capture failed")?;
        let report = camera::quality::assess(&frame.image, &thresholds);
        let verdict = if report.is_ok() {
            "quality OK".to_owned()
        } else {
            let codes: Vec<_> = report.issues.iter().map(|i| i.code()).collect();
            format!("quality NOT OK: {}", codes.join(", "))
        };
        println!(
            "frame {}: {}x{} brightness {:.1} sharpness {:.1} {}",
            frame.sequence,
            frame.image.width(),
            frame.image.height(),
            report.brightness,
            report.sharpness,
            verdict
        );
        reported += 1;
        if args.count.is_some_and(|n| reported >= n) {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}
