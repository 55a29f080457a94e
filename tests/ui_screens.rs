//! Screenshot test: every screen in portrait and landscape, Chinese and English (and the
//! elder mode in portrait), rendered headless with the software renderer to PNG under
//! target/ui-screens/. Each picture must have the right size and real content.

use std::collections::HashSet;
use std::path::PathBuf;

use telekiosk::ui::{self, Language, Orientation};

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screens");
    std::fs::create_dir_all(&dir).expect("create the screenshot folder");
    dir
}

/// Decodes a PNG and returns (width, height, RGB bytes).
fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane PNG size")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn every_screen_renders_in_portrait_in_both_languages() {
    render_every_screen(Orientation::Portrait, Language::Chinese);
}

// One test per orientation: the two run on two cores (the gallery is large).
#[test]
fn every_screen_renders_in_landscape_in_both_languages() {
    render_every_screen(Orientation::Landscape, Language::English);
}

/// Every gallery screen in `orientation`, in Chinese and English, and in elder mode in
/// `elder_language`: the right size, and not blank.
fn render_every_screen(orientation: Orientation, elder_language: Language) {
    let dir = out_dir();
    let looks = [
        (orientation, Language::Chinese, false),
        (orientation, Language::English, false),
        (orientation, elder_language, true),
    ];

    // The live-photo screen shows the camera's picture.
    ui::set_camera_picture(Some(ui::sample_camera_picture()));
    let mut count = 0;
    for (name, view) in ui::gallery() {
        for &(orientation, language, elder) in &looks {
            let png = ui::render_view_png(&view, orientation, language, elder)
                .unwrap_or_else(|e| panic!("{name}: render failed: {e}"));
            let file = format!(
                "{name}-{}-{}{}.png",
                if orientation == Orientation::Portrait {
                    "portrait"
                } else {
                    "landscape"
                },
                if language == Language::Chinese {
                    "zh"
                } else {
                    "en"
                },
                if elder { "-elder" } else { "" },
            );
            std::fs::write(dir.join(&file), &png).expect("write the PNG");

            let (w, h, rgb) = decode(&png);
            assert_eq!((w, h), orientation.size(), "{file}: size");
            let colours: HashSet<[u8; 3]> = rgb
                .chunks_exact(3)
                .step_by(7)
                .map(|p| [p[0], p[1], p[2]])
                .collect();
            // Text is anti-aliased: a screen with words on it has many shades.
            assert!(
                colours.len() > 40,
                "{file}: looks blank ({} colours)",
                colours.len()
            );
            count += 1;
        }
    }
    assert_eq!(count, ui::gallery().len() * looks.len());
    println!("{count} screens in {}", dir.display());
}

#[test]
fn engine_updates_render_to_png() {
    use telekiosk::flow::{Screen, ServiceId};
    use telekiosk::runtime::screen::{KioskStatus, ScreenUpdate};
    for update in [
        ScreenUpdate::Show(Screen::EnterNumber {
            service: ServiceId::TopUp,
            notice: None,
            typed: Default::default(),
        }),
        ScreenUpdate::IdleWarning {
            seconds_left: 10,
            money_fen: 2000,
        },
        ScreenUpdate::End,
        ScreenUpdate::Status(KioskStatus::Locked { message: None }),
    ] {
        let png = ui::render_png(&update, Orientation::Portrait, Language::Chinese, false)
            .expect("render");
        let (w, h, _) = decode(&png);
        assert_eq!((w, h), (1080, 1920));
    }
}

/// Chinese and English renderings of the same screen differ (the switch reaches the text).
#[test]
fn language_changes_the_rendered_text() {
    let view = ui::View::Home;
    let zh =
        ui::render_view_png(&view, Orientation::Portrait, Language::Chinese, false).expect("zh");
    let en =
        ui::render_view_png(&view, Orientation::Portrait, Language::English, false).expect("en");
    assert_ne!(decode(&zh).2, decode(&en).2);
}

/// The README's pictures of the note screen, from the current build. Rendered every run
/// (they must render at the right size); written to docs/images/ when
/// `TELEKIOSK_UPDATE_README_IMAGES=1` is set:
/// `TELEKIOSK_UPDATE_README_IMAGES=1 cargo test -p telekiosk --test ui_screens readme`.
#[test]
fn readme_pictures_render_from_the_current_build() {
    use telekiosk::flow::Notice;
    let pictures = [
        (
            "screen-insert.png",
            ui::sample_insert("138****0000", 7_000, 50_000, None),
            Orientation::Portrait,
        ),
        (
            "screen-insert-landscape.png",
            ui::sample_insert(
                "138****0000",
                7_000,
                10_000,
                Some(Notice::NoteOverLimit {
                    fen: 5_000,
                    max_fen: 10_000,
                }),
            ),
            Orientation::Landscape,
        ),
    ];
    let update = std::env::var_os("TELEKIOSK_UPDATE_README_IMAGES").is_some_and(|v| v == "1");
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/images");
    for (file, screen, orientation) in pictures {
        let png = ui::render_view_png(
            &ui::View::Session(screen),
            orientation,
            Language::Chinese,
            false,
        )
        .expect("render");
        let (w, h, _) = decode(&png);
        assert_eq!((w, h), orientation.size(), "{file}");
        std::fs::write(out_dir().join(file), &png).expect("write the PNG");
        if update {
            std::fs::write(docs.join(file), &png).expect("write the README picture");
            println!("wrote {}", docs.join(file).display());
        }
    }
}
