//! Face detection and the liveness check on the kiosk's 640×480 frames: time per frame and
//! for a whole check. Prints numbers, asserts nothing.
//!
//! `cargo bench -p telekiosk-face --bench detect` (`FACE_BENCH_ROUNDS`, default 20). In a
//! debug build (`cargo test`'s profile) rustface itself is still optimised (the workspace
//! sets `opt-level = 3` for it), the rest is not.

use std::time::{Duration, Instant};

use camera::Resolution;
use camera::sim::Scene;
use camera::sim::scene::portrait;
use telekiosk_face::{
    AnalysisConfig, DetectorConfig, FaceDetector, Liveness, LivenessConfig, SecretImage, Step,
    analyse,
};

const VGA: Resolution = Resolution {
    width: 640,
    height: 480,
};

fn stats(label: &str, samples: &mut [Duration]) {
    samples.sort();
    let n = samples.len().max(1);
    let total: Duration = samples.iter().sum();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<44} mean {:7.1} ms   min {:7.1}   median {:7.1}   max {:7.1}   ({n} frames)",
        ms(total) / n as f64,
        ms(samples.first().copied().unwrap_or_default()),
        ms(samples.get(n / 2).copied().unwrap_or_default()),
        ms(samples.last().copied().unwrap_or_default()),
    );
}

fn main() {
    let rounds: usize = std::env::var("FACE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let portrait = portrait();
    let frames: Vec<_> = (0..rounds as u64)
        .map(|n| Scene::LiveCustomer.frame(&portrait, VGA, n % 6))
        .collect();
    println!(
        "face detection on {}x{} frames ({} profile)",
        VGA.width,
        VGA.height,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );

    let started = Instant::now();
    let detector = FaceDetector::new(DetectorConfig::default()).expect("model");
    let _ = detector.detect(&frames[0]);
    println!(
        "{:<44} {:7.1} ms",
        "model read + first detection on a thread",
        started.elapsed().as_secs_f64() * 1000.0
    );

    for width in [480, 640, 320] {
        let detector = FaceDetector::new(DetectorConfig {
            analysis_width: width,
            ..DetectorConfig::default()
        })
        .expect("model");
        let _ = detector.detect(&frames[0]);
        let mut samples: Vec<Duration> = frames
            .iter()
            .map(|f| {
                let t = Instant::now();
                let faces = detector.detect(f);
                let d = t.elapsed();
                assert!(!faces.is_empty() || width < 400, "a face at {width}");
                d
            })
            .collect();
        stats(&format!("detect, analysis width {width}"), &mut samples);
    }

    let config = AnalysisConfig::default();
    let mut samples: Vec<Duration> = frames
        .iter()
        .map(|f| {
            let t = Instant::now();
            let _ = analyse(f, &detector, &config);
            t.elapsed()
        })
        .collect();
    stats("analyse (quality + detect + framing + grid)", &mut samples);

    // The whole liveness check on the live customer's frames, drawn beforehand: the
    // kiosk's own processing time, without waiting for the camera or the customer.
    let live: Vec<_> = (0..28)
        .map(|n| Scene::LiveCustomer.frame(&portrait, VGA, n))
        .collect();
    let mut checks = Vec::new();
    let mut frames_used = 0;
    for _ in 0..3 {
        let mut check = Liveness::new(LivenessConfig::default());
        let t = Instant::now();
        let mut result = None;
        for (n, f) in live.iter().enumerate() {
            let frame = SecretImage::new(f.clone());
            let analysis = analyse(frame.image(), &detector, &config);
            match check.feed(n as u64 * 200, &analysis, frame) {
                Step::Continue { .. } => {}
                other => {
                    result = Some(other);
                    frames_used = n + 1;
                    break;
                }
            }
        }
        let encode = match result {
            Some(Step::Passed(photo)) => {
                let e = Instant::now();
                let live = photo.encode(camera::DEFAULT_JPEG_QUALITY).expect("encodes");
                let d = e.elapsed();
                println!(
                    "{:<44} {:7.1} ms   ({} bytes)",
                    "  of which JPEG encoding of the photo",
                    d.as_secs_f64() * 1000.0,
                    live.jpeg.len()
                );
                d
            }
            other => panic!("the live customer should pass: {other:?}"),
        };
        let _ = encode;
        checks.push(t.elapsed());
    }
    checks.sort();
    println!(
        "{:<44} {:7.1} ms   ({} frames analysed; a customer at 5 frames/s takes ~{:.1} s)",
        "whole liveness check, median of 3",
        checks[1].as_secs_f64() * 1000.0,
        frames_used,
        frames_used as f64 * 0.2
    );
}
