//! Screen benchmark (software renderer, no display): cold start to first frame, and the
//! render time of every screen at 1080×1920 with the heaviest one named.
//!
//! `cargo bench -p telekiosk --bench ui_render` (prints; asserts nothing about speed).

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
}
