//! Bar, line and pie charts as inline SVG (no JavaScript, no fonts of their own: the page's
//! CSS font applies). Every mark carries its numbers — `data-series`, `data-label`,
//! `data-value` (fen or a count) and a `<title>` tooltip — so a person can hover and a test
//! can read exactly what is drawn.

use std::fmt::Write as _;

use super::view::yuan;

/// What the values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Money, integer fen (drawn as yuan).
    Fen,
    /// A count.
    Count,
}

impl Unit {
    fn label(self, v: i64) -> String {
        match self {
            Unit::Fen => yuan(v),
            Unit::Count => v.to_string(),
        }
    }

    fn axis(self, v: i64) -> String {
        match self {
            Unit::Fen => {
                let y = v / 100;
                if y >= 100_000_000 {
                    format!("¥{}亿", y / 100_000_000)
                } else if y >= 10_000 && y % 10_000 == 0 {
                    format!("¥{}万", y / 10_000)
                } else if y >= 10_000 {
                    format!("¥{:.1}万", y as f64 / 10_000.0)
                } else {
                    format!("¥{y}")
                }
            }
            Unit::Count => v.to_string(),
        }
    }
}

/// One named row of values, one per category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// Name (legend).
    pub name: String,
    /// Values, one per category.
    pub values: Vec<i64>,
}

/// Colours of the series, in order (colour-blind-safe palette).
pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Escapes text for SVG/HTML.
#[must_use]
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const W: f64 = 860.0;
const H: f64 = 320.0;
const LEFT: f64 = 86.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 56.0;

/// A round upper bound for the axis, four gridline steps of 1, 2 or 5 times a power of ten
/// (so every gridline's label is exact).
#[must_use]
pub fn nice_max(max: i64) -> i64 {
    if max <= 0 {
        return 4;
    }
    let raw = (max + 3) / 4;
    let mut p: i64 = 1;
    while p.saturating_mul(10) <= raw {
        p = p.saturating_mul(10);
    }
    let step = [1, 2, 5, 10]
        .iter()
        .map(|m| p.saturating_mul(*m))
        .find(|c| *c >= raw)
        .unwrap_or(raw);
    step.saturating_mul(4)
}

fn open(out: &mut String, id: &str, title: &str, height: f64) {
    let _ = write!(
        out,
        r#"<svg class="chart" id="{}" role="img" aria-label="{}" viewBox="0 0 {W} {height}" width="100%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg" font-size="12">"#,
        esc(id),
        esc(title)
    );
}

fn empty(id: &str, title: &str, no_data: &str) -> String {
    let mut out = String::new();
    open(&mut out, id, title, 80.0);
    let _ = write!(
        out,
        r##"<text x="{}" y="44" text-anchor="middle" fill="#666">{}</text></svg>"##,
        W / 2.0,
        esc(no_data)
    );
    out
}

/// The value axis with gridlines; returns the scale (pixels per unit).
fn axis(out: &mut String, top: i64, unit: Unit) -> f64 {
    let plot_h = H - TOP - BOTTOM;
    for i in 0..=4i32 {
        let v = top / 4 * i64::from(i);
        let y = H - BOTTOM - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e3e3e3"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(&unit.axis(v))
        );
    }
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999"/>"##,
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM
    );
    plot_h / top as f64
}

fn category_labels(out: &mut String, cats: &[String], step_w: f64) {
    let every = (cats.len() / 14).max(1);
    for (i, c) in cats.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let x = LEFT + step_w * (i as f64 + 0.5);
        let _ = write!(
            out,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#333">{}</text>"##,
            H - BOTTOM + 16.0,
            esc(c)
        );
    }
}

fn legend(out: &mut String, names: &[String], y: f64) {
    let mut x = LEFT;
    for (i, n) in names.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="{:.1}" fill="#333">{}</text>"##,
            y - 10.0,
            x + 16.0,
            y,
            esc(n)
        );
        x += 28.0
            + 7.5
                * n.chars()
                    .map(|c| if c.is_ascii() { 1.0 } else { 1.8 })
                    .sum::<f64>();
        if x > W - 120.0 {
            break;
        }
    }
}

/// Grouped bars: one group per category, one bar per series.
#[must_use]
pub fn bars(
    id: &str,
    title: &str,
    cats: &[String],
    series: &[Series],
    unit: Unit,
    no_data: &str,
) -> String {
    if cats.is_empty() || series.is_empty() {
        return empty(id, title, no_data);
    }
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0);
    let top = nice_max(max);
    let mut out = String::new();
    open(&mut out, id, title, H);
    let scale = axis(&mut out, top, unit);
    let step_w = (W - LEFT - RIGHT) / cats.len() as f64;
    let bar_w = (step_w * 0.8 / series.len() as f64).max(1.0);
    for (si, s) in series.iter().enumerate() {
        let colour = PALETTE[si % PALETTE.len()];
        for (ci, c) in cats.iter().enumerate() {
            let v = s.values.get(ci).copied().unwrap_or(0);
            let h = (v.max(0) as f64) * scale;
            let x = LEFT + step_w * ci as f64 + step_w * 0.1 + bar_w * si as f64;
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{colour}" data-series="{}" data-label="{}" data-value="{v}"><title>{} · {}: {}</title></rect>"#,
                H - BOTTOM - h,
                esc(&s.name),
                esc(c),
                esc(&s.name),
                esc(c),
                esc(&unit.label(v))
            );
        }
    }
    category_labels(&mut out, cats, step_w);
    if series.len() > 1 {
        legend(
            &mut out,
            &series.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            H - 8.0,
        );
    }
    out.push_str("</svg>");
    out
}

/// Lines: one per series over the categories (days, months).
#[must_use]
pub fn lines(
    id: &str,
    title: &str,
    cats: &[String],
    series: &[Series],
    unit: Unit,
    no_data: &str,
) -> String {
    if cats.is_empty() || series.is_empty() {
        return empty(id, title, no_data);
    }
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0);
    let top = nice_max(max);
    let mut out = String::new();
    open(&mut out, id, title, H);
    let scale = axis(&mut out, top, unit);
    let step_w = (W - LEFT - RIGHT) / cats.len() as f64;
    let dots = cats.len() <= 62;
    for (si, s) in series.iter().enumerate() {
        let colour = PALETTE[si % PALETTE.len()];
        let pts: Vec<(f64, f64, i64)> = cats
            .iter()
            .enumerate()
            .map(|(ci, _)| {
                let v = s.values.get(ci).copied().unwrap_or(0);
                (
                    LEFT + step_w * (ci as f64 + 0.5),
                    H - BOTTOM - (v.max(0) as f64) * scale,
                    v,
                )
            })
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" data-series="{}" points="{}"/>"#,
            esc(&s.name),
            pts.iter()
                .map(|(x, y, _)| format!("{x:.1},{y:.1}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if dots {
            for ((x, y, v), c) in pts.iter().zip(cats) {
                let _ = write!(
                    out,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{colour}" data-series="{}" data-label="{}" data-value="{v}"><title>{} · {}: {}</title></circle>"#,
                    esc(&s.name),
                    esc(c),
                    esc(&s.name),
                    esc(c),
                    esc(&unit.label(*v))
                );
            }
        }
    }
    category_labels(&mut out, cats, step_w);
    legend(
        &mut out,
        &series.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        H - 8.0,
    );
    out.push_str("</svg>");
    out
}

/// A pie of shares; the legend gives each slice's value and percentage.
#[must_use]
pub fn pie(id: &str, title: &str, slices: &[(String, i64)], unit: Unit, no_data: &str) -> String {
    let total: i64 = slices.iter().map(|(_, v)| (*v).max(0)).sum();
    if total <= 0 {
        return empty(id, title, no_data);
    }
    let h = 300.0;
    let (cx, cy, r) = (170.0, 150.0, 130.0);
    let mut out = String::new();
    open(&mut out, id, title, h);
    let mut angle = -std::f64::consts::FRAC_PI_2;
    for (i, (name, v)) in slices.iter().enumerate() {
        let v = (*v).max(0);
        let colour = PALETTE[i % PALETTE.len()];
        let share = v as f64 / total as f64;
        let pct = format!("{:.1}%", share * 100.0);
        let tip = format!("{}: {} ({pct})", esc(name), esc(&unit.label(v)));
        let attrs = format!(
            r##"fill="{colour}" stroke="#fff" stroke-width="1" data-series="share" data-label="{}" data-value="{v}""##,
            esc(name)
        );
        if v == total {
            let _ = write!(
                out,
                r#"<circle cx="{cx}" cy="{cy}" r="{r}" {attrs}><title>{tip}</title></circle>"#
            );
        } else if v > 0 {
            let a2 = angle + share * std::f64::consts::TAU;
            let (x1, y1) = (cx + r * angle.cos(), cy + r * angle.sin());
            let (x2, y2) = (cx + r * a2.cos(), cy + r * a2.sin());
            let large = u8::from(share > 0.5);
            let _ = write!(
                out,
                r#"<path d="M{cx},{cy} L{x1:.2},{y1:.2} A{r},{r} 0 {large} 1 {x2:.2},{y2:.2} Z" {attrs}><title>{tip}</title></path>"#
            );
            angle = a2;
        }
        let ly = 40.0 + 24.0 * i as f64;
        if ly < h - 10.0 {
            let _ = write!(
                out,
                r##"<rect x="340" y="{:.1}" width="14" height="14" fill="{colour}"/><text x="362" y="{ly:.1}" fill="#333">{} — {} · {pct}</text>"##,
                ly - 11.0,
                esc(name),
                esc(&unit.label(v))
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_max(0), 4);
        assert_eq!(nice_max(4), 4);
        assert_eq!(nice_max(7), 8);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(60_000), 80_000);
        assert_eq!(nice_max(123_456), 200_000);
        assert_eq!(nice_max(500), 800);
        for m in [1, 3, 9, 17, 99, 101, 4_999, 77_777] {
            let top = nice_max(m);
            assert!(top >= m && top % 4 == 0, "{m} → {top}");
        }
    }

    #[test]
    fn marks_carry_their_values_and_text_is_escaped() {
        let svg = bars(
            "c",
            "t",
            &["S<1>".into(), "S2".into()],
            &[Series {
                name: "amount".into(),
                values: vec![12_300, 0],
            }],
            Unit::Fen,
            "none",
        );
        assert!(
            svg.contains(r#"data-label="S&lt;1&gt;" data-value="12300""#),
            "{svg}"
        );
        assert!(svg.contains("¥123.00"));
        let p = pie(
            "p",
            "t",
            &[("a".into(), 1), ("b".into(), 3)],
            Unit::Count,
            "none",
        );
        assert!(p.contains("25.0%") && p.contains("75.0%"), "{p}");
        assert!(pie("p", "t", &[], Unit::Count, "none").contains("none"));
    }
}
