//! Console output: plain-text tables (CJK-aware column widths).

/// Display width of a string: CJK and other wide characters count two columns.
#[must_use]
pub fn width(s: &str) -> usize {
    s.chars()
        .map(|c| match u32::from(c) {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

/// Renders a table with a header row, columns padded to their widest cell.
#[must_use]
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(c));
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(w.saturating_sub(width(c)) + 2));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// Fen as yuan, `12.30`, with a sign when negative.
#[must_use]
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_columns_align() {
        let t = table(
            &["号码", "NAME"],
            &[vec!["138****0000".into(), "*小明".into()]],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.first().copied(), Some("号码         NAME"));
        assert_eq!(yuan(-2350), "-23.50");
        assert_eq!(yuan(5), "0.05");
    }
}
