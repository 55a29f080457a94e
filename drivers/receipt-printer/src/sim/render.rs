//! Renders what the simulated printer put on paper: readable text and a PNG picture
//! (576 px wide = 80 mm at 203 dpi, Font A cells of 12 × 24 dots, text in the bundled
//! Droid Sans Fallback font).

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use image::{ImageFormat, Rgb, RgbImage};
use qrcode::{Color, EcLevel, QrCode};

use super::{COLUMN_DOTS, PAPER_DOTS, PrintedLine, Span};
use crate::escpos::{char_width, display_width};
use crate::receipt::{Align, align_text};

/// CJK glyphs (double-width cells): the project's bundled Droid Sans Fallback (Apache-2.0).
static CJK_FONT: &[u8] = include_bytes!("../../../../assets/fonts/DroidSansFallbackFull.ttf");
/// Single-width glyphs (ASCII), which Droid Sans Fallback lacks: DejaVu Sans Mono
/// (Bitstream Vera licence, see `assets/DejaVuSansMono.LICENSE` in this crate).
static LATIN_FONT: &[u8] = include_bytes!("../../assets/DejaVuSansMono.ttf");

/// Dots between the tops of two normal lines (ESC 2 default, about 3.75 mm).
const LINE_DOTS: u32 = 30;
/// Character height of Font A.
const CHAR_DOTS: u32 = 24;
const MARGIN_TOP: u32 = 24;
const MARGIN_BOTTOM: u32 = 24;
/// White modules around a QR symbol.
const QR_QUIET: u32 = 4;

const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const INK: Rgb<u8> = Rgb([20, 20, 20]);
const RED: Rgb<u8> = Rgb([200, 30, 30]);

/// Readable text of a receipt: one text line per printed line, alignment applied in
/// normal-size columns, `[QR: data]` for a QR code, `---- cut ----` for the cut and
/// `---- paper out ----` where the paper ran out. Trailing spaces are removed.
pub fn to_text(lines: &[PrintedLine], width_cols: u32) -> String {
    let width = usize::try_from(width_cols).unwrap_or(48);
    let mut out = String::new();
    for line in lines {
        let s = match line {
            PrintedLine::Text { spans, align } => {
                let text: String = spans.iter().map(|s| s.text.as_str()).collect();
                align_text(&text, *align, width)
            }
            PrintedLine::Blank => String::new(),
            PrintedLine::Qr { data, align, .. } => align_text(
                &format!("[QR: {}]", String::from_utf8_lossy(data)),
                *align,
                width,
            ),
            PrintedLine::PaperOut => "---- paper out ----".to_owned(),
            PrintedLine::Cut => crate::receipt::CUT_MARK.to_owned(),
        };
        out.push_str(s.trim_end());
        out.push('\n');
    }
    out
}

/// The two fonts of the simulated printer: like its ROM, one for half-width and one for
/// full-width characters.
#[derive(Debug)]
struct Fonts {
    cjk: FontRef<'static>,
    latin: FontRef<'static>,
}

fn fonts() -> Option<Fonts> {
    Some(Fonts {
        cjk: FontRef::try_from_slice(CJK_FONT).ok()?,
        latin: FontRef::try_from_slice(LATIN_FONT).ok()?,
    })
}

fn qr_code(data: &[u8], error_level: u8) -> Option<QrCode> {
    let level = match error_level {
        48 => EcLevel::L,
        50 => EcLevel::Q,
        51 => EcLevel::H,
        _ => EcLevel::M,
    };
    QrCode::with_error_correction_level(data, level).ok()
}

fn line_height(line: &PrintedLine) -> u32 {
    match line {
        PrintedLine::Text { spans, .. } => {
            let h = spans.iter().map(|s| u32::from(s.height)).max().unwrap_or(1);
            CHAR_DOTS * h + (LINE_DOTS - CHAR_DOTS)
        }
        PrintedLine::Blank | PrintedLine::PaperOut => LINE_DOTS,
        PrintedLine::Qr {
            data,
            module_size,
            error_level,
            ..
        } => match qr_code(data, *error_level) {
            Some(code) => {
                let modules = u32::try_from(code.width()).unwrap_or(0) + 2 * QR_QUIET;
                modules * u32::from(*module_size) + (LINE_DOTS - CHAR_DOTS)
            }
            None => LINE_DOTS,
        },
        PrintedLine::Cut => LINE_DOTS,
    }
}

/// Draws the receipt and encodes it as PNG.
pub fn to_png(lines: &[PrintedLine]) -> Result<Vec<u8>, image::ImageError> {
    let height = MARGIN_TOP + lines.iter().map(line_height).sum::<u32>() + MARGIN_BOTTOM;
    let mut img = RgbImage::from_pixel(PAPER_DOTS, height, WHITE);
    let font = fonts();
    let mut y = MARGIN_TOP;
    for line in lines {
        let h = line_height(line);
        match line {
            PrintedLine::Text { spans, align } => {
                if let Some(font) = &font {
                    draw_text_line(&mut img, font, spans, *align, y, INK);
                }
            }
            PrintedLine::Blank => {}
            PrintedLine::Qr {
                data,
                module_size,
                error_level,
                align,
            } => match qr_code(data, *error_level) {
                Some(code) => draw_qr(&mut img, &code, u32::from(*module_size), *align, y),
                None => {
                    if let Some(font) = &font {
                        let span = Span {
                            text: "[QR ?]".into(),
                            bold: false,
                            width: 1,
                            height: 1,
                        };
                        draw_text_line(&mut img, font, &[span], *align, y, RED);
                    }
                }
            },
            PrintedLine::PaperOut => {
                dashed(&mut img, y + LINE_DOTS / 2, RED);
                if let Some(font) = &font {
                    let span = Span {
                        text: " 缺纸 PAPER OUT ".into(),
                        bold: true,
                        width: 1,
                        height: 1,
                    };
                    fill_rect(&mut img, PAPER_DOTS / 2 - 110, y, 220, CHAR_DOTS + 4, WHITE);
                    draw_text_line(&mut img, font, &[span], Align::Centre, y + 2, RED);
                }
            }
            PrintedLine::Cut => dashed(&mut img, y + LINE_DOTS / 2, INK),
        }
        y += h;
    }
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)?;
    Ok(png)
}

/// Width and height of a PNG, decoding the whole picture (for tests and checks).
pub fn png_size(png: &[u8]) -> Result<(u32, u32), image::ImageError> {
    let img = image::load_from_memory_with_format(png, ImageFormat::Png)?;
    Ok((img.width(), img.height()))
}

fn fill_rect(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, colour: Rgb<u8>) {
    for yy in y..(y + h).min(img.height()) {
        for xx in x..(x + w).min(img.width()) {
            img.put_pixel(xx, yy, colour);
        }
    }
}

fn dashed(img: &mut RgbImage, y: u32, colour: Rgb<u8>) {
    for x in (0..PAPER_DOTS).filter(|x| x % 12 < 7) {
        for yy in y..(y + 2).min(img.height()) {
            img.put_pixel(x, yy, colour);
        }
    }
}

fn draw_qr(img: &mut RgbImage, code: &QrCode, module: u32, align: Align, top: u32) {
    let modules = u32::try_from(code.width()).unwrap_or(0);
    let size = (modules + 2 * QR_QUIET) * module;
    let left = match align {
        Align::Left => 0,
        Align::Centre => PAPER_DOTS.saturating_sub(size) / 2,
        Align::Right => PAPER_DOTS.saturating_sub(size),
    };
    for (i, colour) in code.to_colors().into_iter().enumerate() {
        if colour != Color::Dark {
            continue;
        }
        let i = u32::try_from(i).unwrap_or(0);
        let (mx, my) = (i % modules.max(1), i / modules.max(1));
        let x = left + (QR_QUIET + mx) * module;
        let y = top + (QR_QUIET + my) * module;
        fill_rect(img, x, y, module, module, INK);
    }
}

/// Draws one printed line: each character in its printer cell (12 or 24 dots × width
/// multiplier, 24 dots × height multiplier), its glyph scaled to fill the cell, bold as a
/// second pass one dot to the right.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "glyph pixel positions are small and bounds-checked; channel values are clamped to 0..=255"
)]
fn draw_text_line(
    img: &mut RgbImage,
    fonts: &Fonts,
    spans: &[Span],
    align: Align,
    top: u32,
    colour: Rgb<u8>,
) {
    let line_dots: u32 = spans
        .iter()
        .map(|s| {
            u32::try_from(display_width(&s.text)).unwrap_or(0) * COLUMN_DOTS * u32::from(s.width)
        })
        .sum();
    let line_h = spans.iter().map(|s| u32::from(s.height)).max().unwrap_or(1) * CHAR_DOTS;
    let mut x = match align {
        Align::Left => 0,
        Align::Centre => PAPER_DOTS.saturating_sub(line_dots) / 2,
        Align::Right => PAPER_DOTS.saturating_sub(line_dots),
    };
    for span in spans {
        let (w, h) = (u32::from(span.width), u32::from(span.height));
        // Characters of a line share a baseline; shorter ones sit at the bottom.
        let cell_top = top + line_h - CHAR_DOTS * h;
        let cell_h = (CHAR_DOTS * h) as f32;
        for c in span.text.chars() {
            let wide = char_width(c) == 2;
            let cell_w = if wide { 2 } else { 1 } * COLUMN_DOTS * w;
            if !c.is_whitespace() {
                let (font, id) = pick_glyph(fonts, c, wide);
                // Full-width glyphs fill about 22 of 24 dots like a printer's 24 × 24 font;
                // half-width glyphs are squeezed to their 12-dot cell.
                let scale_y = if wide { cell_h * 1.12 } else { cell_h * 1.05 };
                let natural = font
                    .as_scaled(PxScale::from(scale_y))
                    .h_advance(id)
                    .max(1.0);
                let fill = if wide { 0.95 } else { 1.0 };
                let scale = PxScale {
                    x: scale_y * (cell_w as f32 * fill / natural).min(1.6),
                    y: scale_y,
                };
                let scaled = font.as_scaled(scale);
                let advance = scaled.h_advance(id);
                let baseline =
                    cell_top as f32 + (cell_h + scaled.ascent() + scaled.descent()) / 2.0;
                let gx = x as f32 + (cell_w as f32 - advance) / 2.0;
                let passes: &[f32] = if span.bold { &[0.0, 1.0] } else { &[0.0] };
                for dx in passes {
                    let glyph = id.with_scale_and_position(scale, point(gx + dx, baseline));
                    if let Some(outline) = font.outline_glyph(glyph) {
                        let b = outline.px_bounds();
                        outline.draw(|px, py, cov| {
                            let ix = b.min.x as i64 + i64::from(px);
                            let iy = b.min.y as i64 + i64::from(py);
                            let (Ok(ix), Ok(iy)) = (u32::try_from(ix), u32::try_from(iy)) else {
                                return;
                            };
                            if ix >= img.width() || iy >= img.height() || cov <= 0.0 {
                                return;
                            }
                            let cov = cov.min(1.0);
                            let p = img.get_pixel_mut(ix, iy);
                            for (ch, ink) in p.0.iter_mut().zip(colour.0) {
                                let blended = f32::from(*ch) * (1.0 - cov) + f32::from(ink) * cov;
                                *ch = blended.round().clamp(0.0, 255.0) as u8;
                            }
                        });
                    }
                }
            }
            x += cell_w;
        }
    }
}

/// The font and glyph for a character: full-width from the CJK font, half-width from the
/// Latin one, each falling back to the other, and `?` when neither has it.
fn pick_glyph(fonts: &Fonts, c: char, wide: bool) -> (&FontRef<'static>, ab_glyph::GlyphId) {
    let order = if wide {
        [&fonts.cjk, &fonts.latin]
    } else {
        [&fonts.latin, &fonts.cjk]
    };
    for font in order {
        let id = font.glyph_id(c);
        if id.0 != 0 {
            return (font, id);
        }
    }
    (&fonts.latin, fonts.latin.glyph_id('?'))
}
