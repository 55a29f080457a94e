//! `telekiosk diag camera` and `telekiosk sim camera`, run as the technician runs them.

use std::path::PathBuf;
use std::process::{Command, Output};

fn telekiosk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_telekiosk"))
        .args(args)
        .output()
        .expect("the telekiosk binary runs")
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("cli-camera-{}-{name}", std::process::id()))
}

#[test]
fn diag_simulated_json_reports_fields_and_writes_a_decodable_snapshot() {
    let snapshot = temp_path("snapshot.jpg");
    let _ = std::fs::remove_file(&snapshot);
    let snapshot_arg = snapshot.to_str().expect("utf-8 temp path");
    let out = telekiosk(&[
        "diag",
        "camera",
        "--simulated",
        "--resolution",
        "320x240",
        "--json",
        "--snapshot",
        snapshot_arg,
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(report["device"], "camera");
    assert_eq!(report["verdict"], "healthy");
    assert_eq!(report["exit_status"], 0);
    assert_eq!(report["source"], "simulated");
    assert_eq!(report["width"], 320);
    assert_eq!(report["height"], 240);
    let brightness = report["brightness"]
        .as_f64()
        .expect("brightness is a number");
    assert!((60.0..=200.0).contains(&brightness), "{brightness}");
    assert!(report["sharpness"].as_f64().expect("sharpness is a number") > 100.0);
    assert_eq!(report["quality_ok"], true);
    assert_eq!(report["reasons"], serde_json::json!([]));

    let jpeg = std::fs::read(&snapshot).expect("snapshot written");
    assert_eq!(report["jpeg_bytes"].as_u64(), Some(jpeg.len() as u64));
    let image = camera::codec::mjpeg_to_rgb(&jpeg).expect("snapshot is a JPEG that decodes");
    assert_eq!(image.dimensions(), (320, 240));
    let _ = std::fs::remove_file(&snapshot);
}

#[test]
fn diag_text_report_names_the_verdict() {
    let out = telekiosk(&["diag", "camera", "--simulated"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("camera on simulated\n"), "{text}");
    assert!(text.contains("\n  resolution:       640x480\n"), "{text}");
    assert!(text.contains("\n  quality:          OK\n"), "{text}");
    assert!(text.contains("\n  snapshot:         not written"), "{text}");
    assert!(
        text.ends_with("  result:           healthy (exit status 0)\n"),
        "{text}"
    );
}

#[test]
fn diag_missing_device_fails_with_a_clear_reason() {
    let out = telekiosk(&["diag", "camera", "--device", "/dev/video99"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "cannot be reached, like every device"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("camera on /dev/video99\n"), "{text}");
    assert_eq!(
        text.matches("no camera at /dev/video99").count(),
        1,
        "{text}"
    );
    assert!(text.contains("/dev/v4l/by-id/"), "{text}");
    assert!(text.contains("result:           NOT reached"), "{text}");
}

#[test]
fn diag_missing_device_json_carries_the_error() {
    let out = telekiosk(&["diag", "camera", "--device", "/dev/video99", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["device"], "camera");
    assert_eq!(report["port"], "/dev/video99");
    assert_eq!(report["source"], "v4l2:/dev/video99");
    assert_eq!(report["verdict"], "unreachable");
    assert_eq!(report["problems"][0]["code"], "no_such_device");
    assert_eq!(
        report["problems"][0]["message"],
        "no camera at /dev/video99"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no camera at /dev/video99"), "{stderr}");
}

#[test]
fn diag_on_a_file_says_it_is_not_a_video_device() {
    let file = temp_path("not-a-camera");
    std::fs::write(&file, "").expect("temp file");
    let out = telekiosk(&[
        "diag",
        "camera",
        "--device",
        file.to_str().expect("utf-8"),
        "--json",
    ]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["problems"][0]["code"], "not_a_video_device");
}

#[test]
fn diag_rejects_device_and_simulated_together() {
    let out = telekiosk(&["diag", "camera", "--simulated", "--device", "/dev/video0"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

#[test]
fn sim_says_it_is_the_demo_source_and_reports_frames() {
    let out = telekiosk(&["sim", "camera", "--resolution", "160x120", "--count", "2"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("simulated camera (the source the demo uses)"),
        "{text}"
    );
    assert!(text.contains("frame 0: 160x120"), "{text}");
    assert!(text.contains("frame 1: 160x120"), "{text}");
}

#[test]
fn sim_out_writes_one_frame_and_frames_dir_is_played() {
    let dir = temp_path("frames");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let red = camera::image::RgbImage::from_pixel(50, 40, camera::image::Rgb([220, 30, 30]));
    red.save(dir.join("001.png")).expect("write frame");
    let out_file = temp_path("out.png");
    let out = telekiosk(&[
        "sim",
        "camera",
        "--frames",
        dir.to_str().expect("utf-8"),
        "--resolution",
        "100x80",
        "--out",
        out_file.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = camera::image::open(&out_file)
        .expect("PNG decodes")
        .to_rgb8();
    assert_eq!(written.dimensions(), (100, 80));
    assert_eq!(written.get_pixel(50, 40).0, [220, 30, 30]);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&out_file);
}

#[test]
fn sim_with_an_empty_frames_folder_fails_clearly() {
    let dir = temp_path("empty");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = telekiosk(&["sim", "camera", "--frames", dir.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no JPEG or PNG frames"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs against the camera named by `TELEKIOSK_CAMERA_DEVICE` (e.g. `/dev/video0`).
#[cfg(feature = "hardware-tests")]
#[test]
fn diag_real_camera_captures_a_frame() {
    let device = std::env::var("TELEKIOSK_CAMERA_DEVICE")
        .expect("set TELEKIOSK_CAMERA_DEVICE=/dev/videoN for hardware tests");
    let out = telekiosk(&["diag", "camera", "--device", &device, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["simulated"], false);
    assert!(report["width"].as_u64().is_some_and(|w| w > 0));
    assert!(report["jpeg_bytes"].as_u64().is_some_and(|n| n > 0));
}
