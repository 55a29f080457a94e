//! Screen benchmark (software renderer, no display): cold start to first frame, the
//! render time of every screen at 1080×1920 with the heaviest one named, and how many
//! taps a top-up takes beyond the eleven digits (driven by accessible label under Slint's
//! testing backend, against a scripted engine).
//!
//! `cargo bench -p telekiosk --bench ui_render` (prints; asserts nothing about speed).

#[path = "../tests/ui_support/mod.rs"]
mod ui_support;

use std::time::{Duration, Instant};

use telekiosk::ui::{self, Language, Orientation, View};

fn main() {
    let rounds: u32 = std::env::var("UI_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);

    let start = Instant::now();
    let first =
        ui::render_view_pixels(&View::Idle, Orientation::Portrait, Language::Chinese, false);
    let cold = start.elapsed();
    if let Err(e) = first {
        eprintln!("cannot render: {e}");
        std::process::exit(1);
    }
    println!(
        "cold start to first frame (platform, fonts, component, 1080x1920 render): {cold:.1?}"
    );

    let mut heaviest: Option<(&str, Duration)> = None;
    for (name, view) in ui::gallery() {
        let mut total = Duration::ZERO;
        for _ in 0..rounds {
            let t = Instant::now();
            if let Err(e) =
                ui::render_view_pixels(&view, Orientation::Portrait, Language::Chinese, false)
            {
                eprintln!("{name}: {e}");
                std::process::exit(1);
            }
            total += t.elapsed();
        }
        let mean = total / rounds.max(1);
        println!(
            "{name:<22} {mean:>10.1?} per frame (component + layout + full render, mean of {rounds})"
        );
        if heaviest.is_none_or(|(_, d)| mean > d) {
            heaviest = Some((name, mean));
        }
    }
    if let Some((name, d)) = heaviest {
        println!("heaviest screen at 1080x1920: {name} in {d:.1?}");
    }

    // Slint's platform is per thread: the testing backend gets a thread of its own.
    match std::thread::spawn(ui_support::scripted_top_up).join() {
        Ok(taps) => {
            let beyond: Vec<&str> = taps
                .iter()
                .map(String::as_str)
                .filter(|t| !(t.len() == 1 && t.chars().all(|c| c.is_ascii_digit())))
                .collect();
            println!(
                "top-up taps beyond the {} digits: {} ({})",
                taps.len() - beyond.len(),
                beyond.len(),
                beyond.join(" → ")
            );
        }
        Err(_) => {
            eprintln!("the scripted top-up through the screen failed");
            std::process::exit(1);
        }
    }
}
