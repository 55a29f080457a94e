//! The receipt document model (回执 / 凭条): what the application builds receipts from.
//!
//! A [`Receipt`] is a list of [`Block`]s laid out for a paper width in printer columns
//! (48 at Font A on 80 mm paper). The application never writes ESC/POS bytes itself: it
//! builds a receipt and hands it to [`crate::Printer::print`], which encodes it with
//! [`crate::escpos::encode_receipt`].
//!
//! ```
//! use receipt_printer::Receipt;
//! let r = Receipt::new(48)
//!     .title("业务受理回执")
//!     .rule()
//!     .kv("手机号码", "138****1234")
//!     .kv("金额", "¥50.00")
//!     .qr("https://example.com/r/123")
//!     .cut();
//! assert_eq!(r.blocks().len(), 6);
//! ```

use std::fmt;

use crate::escpos::display_width;

/// Horizontal alignment of a line (ESC a n).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    #[default]
    Left,
    Centre,
    Right,
}

/// Character size (GS ! n): normal, or double width and double height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Size {
    #[default]
    Normal,
    Double,
}

/// QR code error correction level (GS ( k fn 69: 48 + n).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QrErrorLevel {
    /// About 7 % recovery.
    L,
    /// About 15 % recovery.
    #[default]
    M,
    /// About 25 % recovery.
    Q,
    /// About 30 % recovery.
    H,
}

/// How the paper is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutKind {
    /// Full cut (GS V 0).
    Full,
    /// Partial cut, one point left uncut (GS V 1): the customer tears the receipt off.
    #[default]
    Partial,
    /// Feed the paper to the cutter plus `n` dots, then cut (GS V 65 n, "function B":
    /// the printed end of the receipt leaves the printer before the blade comes down).
    FeedAndCut(u8),
}

/// One line of text with its style. `Debug` shows the text's length, not the text: a
/// receipt can carry a number or a name (see [`Receipt`]).
#[derive(Clone, PartialEq, Eq)]
pub struct TextLine {
    pub text: String,
    pub align: Align,
    pub bold: bool,
    pub size: Size,
}

/// A QR code printed by the printer itself (GS ( k, model 2). `Debug` shows the data's
/// length only.
#[derive(Clone, PartialEq, Eq)]
pub struct Qr {
    pub data: String,
    /// Module size in dots, 1..=16 (GS ( k fn 67).
    pub module_size: u8,
    pub error_level: QrErrorLevel,
    pub align: Align,
}

/// One element of a receipt. `Debug` shows text lengths only.
#[derive(Clone, PartialEq, Eq)]
pub enum Block {
    /// A line of text (the printer wraps it if it is wider than the paper).
    Text(TextLine),
    /// A rule of dashes across the paper width.
    Rule,
    /// "label ..... value": label on the left, value on the right, laid out in display
    /// columns (CJK characters are two columns wide). When both do not fit on one line the
    /// value goes right-aligned onto the next line.
    KeyValue { label: String, value: String },
    /// A QR code.
    Qr(Qr),
    /// `n` empty lines.
    Feed(u8),
    /// Cut the paper; ends the receipt.
    Cut(CutKind),
}

/// A receipt: blocks laid out for a paper width in printer columns.
///
/// What goes on paper is the application's business (masked numbers, amounts, references);
/// the driver cannot tell a personal line from another, so `Debug` of a receipt and its
/// parts shows the layout and text lengths, never the text. [`Receipt::to_text`] renders
/// it on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    width_cols: usize,
    blocks: Vec<Block>,
}

/// `<n chars>` in a `Debug` output.
struct Chars<'a>(&'a str);

impl fmt::Debug for Chars<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} chars>", self.0.chars().count())
    }
}

impl fmt::Debug for TextLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextLine")
            .field("text", &Chars(&self.text))
            .field("align", &self.align)
            .field("bold", &self.bold)
            .field("size", &self.size)
            .finish()
    }
}

impl fmt::Debug for Qr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Qr")
            .field("data", &Chars(&self.data))
            .field("module_size", &self.module_size)
            .field("error_level", &self.error_level)
            .field("align", &self.align)
            .finish()
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Block::Text(line) => f.debug_tuple("Text").field(line).finish(),
            Block::Rule => f.write_str("Rule"),
            Block::KeyValue { label, value } => f
                .debug_struct("KeyValue")
                .field("label", &Chars(label))
                .field("value", &Chars(value))
                .finish(),
            Block::Qr(qr) => f.debug_tuple("Qr").field(qr).finish(),
            Block::Feed(n) => f.debug_tuple("Feed").field(n).finish(),
            Block::Cut(kind) => f.debug_tuple("Cut").field(kind).finish(),
        }
    }
}

/// Columns of Font A (12 × 24 dots) on 80 mm paper (576 dots).
pub const WIDTH_80MM: usize = 48;
/// Columns of Font A on 58 mm paper (384 dots).
pub const WIDTH_58MM: usize = 32;

impl Receipt {
    /// An empty receipt for paper `width_cols` columns wide (at least 8).
    pub fn new(width_cols: usize) -> Self {
        Self {
            width_cols: width_cols.max(8),
            blocks: Vec::new(),
        }
    }

    /// Paper width in columns.
    pub fn width_cols(&self) -> usize {
        self.width_cols
    }

    /// The blocks in print order.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Appends any block.
    pub fn push(mut self, block: Block) -> Self {
        self.blocks.push(block);
        self
    }

    /// A centred, bold, double-size heading.
    pub fn title(self, text: impl Into<String>) -> Self {
        self.push(Block::Text(TextLine {
            text: text.into(),
            align: Align::Centre,
            bold: true,
            size: Size::Double,
        }))
    }

    /// A plain left-aligned line.
    pub fn line(self, text: impl Into<String>) -> Self {
        self.styled(text, Align::Left, false, Size::Normal)
    }

    /// A centred line.
    pub fn centre(self, text: impl Into<String>) -> Self {
        self.styled(text, Align::Centre, false, Size::Normal)
    }

    /// A right-aligned line.
    pub fn right(self, text: impl Into<String>) -> Self {
        self.styled(text, Align::Right, false, Size::Normal)
    }

    /// A bold left-aligned line.
    pub fn bold(self, text: impl Into<String>) -> Self {
        self.styled(text, Align::Left, true, Size::Normal)
    }

    /// A line with explicit style.
    pub fn styled(self, text: impl Into<String>, align: Align, bold: bool, size: Size) -> Self {
        self.push(Block::Text(TextLine {
            text: text.into(),
            align,
            bold,
            size,
        }))
    }

    /// A rule of dashes.
    pub fn rule(self) -> Self {
        self.push(Block::Rule)
    }

    /// A "label ... value" line.
    pub fn kv(self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.push(Block::KeyValue {
            label: label.into(),
            value: value.into(),
        })
    }

    /// A centred QR code, module size 6, error level M.
    pub fn qr(self, data: impl Into<String>) -> Self {
        self.qr_with(data, 6, QrErrorLevel::M)
    }

    /// A centred QR code with explicit module size (clamped to 1..=16) and error level.
    pub fn qr_with(
        self,
        data: impl Into<String>,
        module_size: u8,
        error_level: QrErrorLevel,
    ) -> Self {
        self.push(Block::Qr(Qr {
            data: data.into(),
            module_size: module_size.clamp(1, 16),
            error_level,
            align: Align::Centre,
        }))
    }

    /// `n` blank lines.
    pub fn feed(self, n: u8) -> Self {
        self.push(Block::Feed(n))
    }

    /// Feed the last line past the cutter and cut (GS V 65 0).
    pub fn cut(self) -> Self {
        self.push(Block::Cut(CutKind::FeedAndCut(0)))
    }

    /// Cut of a given kind.
    pub fn cut_with(self, kind: CutKind) -> Self {
        self.push(Block::Cut(kind))
    }

    /// The receipt as plain lines of text the way the printer lays it out (alignment as
    /// padding in normal-size columns, long lines wrapped, QR codes as `[QR: data]`, the
    /// cut as `---- cut ----`, trailing spaces removed), without styling: exactly what the
    /// simulator's text output of the same receipt reads.
    pub fn to_text(&self) -> String {
        let width = self.width_cols;
        let mut lines: Vec<String> = Vec::new();
        for block in &self.blocks {
            match block {
                Block::Text(t) => {
                    // Double-size characters take two columns each, so half as many fit.
                    let fit = if t.size == Size::Double {
                        width / 2
                    } else {
                        width
                    };
                    for piece in wrap(&t.text, fit) {
                        lines.push(align_text(&piece, t.align, width));
                    }
                }
                Block::Rule => lines.push("-".repeat(width)),
                Block::KeyValue { label, value } => {
                    for l in kv_lines(label, value, width) {
                        lines.extend(wrap(&l, width));
                    }
                }
                Block::Qr(q) => {
                    lines.push(align_text(&format!("[QR: {}]", q.data), q.align, width))
                }
                Block::Feed(n) => lines.extend((0..*n).map(|_| String::new())),
                Block::Cut(_) => lines.push(CUT_MARK.to_owned()),
            }
        }
        let mut out = String::new();
        for l in lines {
            out.push_str(l.trim_end());
            out.push('\n');
        }
        out
    }
}

/// How a cut appears in text renderings.
pub const CUT_MARK: &str = "---- cut ----";

/// Lays out a "label ... value" pair as one or two lines of exactly the paper width
/// (or narrower when a part alone is wider than the paper).
pub fn kv_lines(label: &str, value: &str, width: usize) -> Vec<String> {
    let lw = display_width(label);
    let vw = display_width(value);
    if lw + 1 + vw <= width {
        vec![format!("{label}{}{value}", " ".repeat(width - lw - vw))]
    } else {
        vec![
            label.to_owned(),
            format!("{}{value}", " ".repeat(width.saturating_sub(vw))),
        ]
    }
}

/// Pads `text` on the left for its alignment in `width` columns (no trailing padding).
pub fn align_text(text: &str, align: Align, width: usize) -> String {
    if text.is_empty() {
        return String::new();
    }
    let w = display_width(text);
    let pad = match align {
        Align::Left => 0,
        Align::Centre => width.saturating_sub(w) / 2,
        Align::Right => width.saturating_sub(w),
    };
    format!("{}{text}", " ".repeat(pad))
}

/// Splits `text` into pieces of at most `width` display columns, never inside a character
/// (what the printer does with a line wider than the paper).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_w = 0;
    for c in text.chars() {
        let mut buf = [0u8; 4];
        let cw = display_width(c.encode_utf8(&mut buf));
        if cur_w + cw > width && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            cur_w = 0;
        }
        cur.push(c);
        cur_w += cw;
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_fills_the_width_counting_cjk_as_two_columns() {
        let lines = kv_lines("金额", "¥50.00", 20);
        assert_eq!(lines.len(), 1);
        assert_eq!(display_width(&lines[0]), 20);
        // 金额 = 4 columns, ¥50.00 = ¥ (2, GB18030 A3A4) + 5
        assert_eq!(lines[0], format!("金额{}¥50.00", " ".repeat(9)));
    }

    #[test]
    fn kv_too_wide_goes_onto_two_lines() {
        let lines = kv_lines("营业厅地址", "北京市东城区某某大街一号", 20);
        assert_eq!(lines[0], "营业厅地址");
        assert!(lines[1].ends_with("某某大街一号"));
    }

    #[test]
    fn wrap_never_splits_a_character() {
        assert_eq!(wrap("一二三", 5), vec!["一二", "三"]);
        assert_eq!(wrap("", 5), vec![""]);
    }

    #[test]
    fn debug_shows_layout_not_text() {
        let r = Receipt::new(48)
            .line("充值号码 13812341234")
            .kv("客户", "王小明")
            .qr("TK1|voucher|13812341234|5000")
            .cut();
        let shown = format!("{r:?} {r:#?}");
        for secret in ["13812341234", "王小明", "充值号码", "voucher"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("<16 chars>"), "{shown}");
        assert!(shown.contains("Cut"), "{shown}");
        // The text is still there for whoever renders it on purpose.
        assert!(r.to_text().contains("13812341234"));
    }

    #[test]
    fn text_rendering_aligns() {
        let r = Receipt::new(10).centre("ab").right("xy").cut();
        assert_eq!(r.to_text(), "    ab\n        xy\n---- cut ----\n");
    }
}
