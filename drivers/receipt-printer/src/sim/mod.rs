//! Receipt printer simulator (打印机模拟器): a Chinese 80 mm kiosk printer (576 dots, 48
//! columns at Font A, Chinese mode on at power-up) on the device end of a pseudo-terminal.
//!
//! [`SimPrinter`] is the pure engine: bytes in ([`SimPrinter::handle_bytes`]), DLE EOT
//! replies and finished receipts out. [`run`] is the async shell: it reads the device end,
//! writes the replies back at once, applies [`SimControl`]s, renders every receipt to text
//! and PNG ([`render`]) and sends it on as a [`PrintedReceipt`].
//!
//! Printing needs paper, a closed cover and the printer online. Whatever arrives while it
//! cannot print is lost (the receipt is marked interrupted); `paper-out-after N` lets N more
//! lines print and then runs out of paper in the middle of a receipt.

pub mod render;

use std::io;
use std::path::PathBuf;

use devio::Transport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::decoder::{Command, Decoder};
use crate::escpos::{char_width, decode_text};
use crate::receipt::Align;
use crate::status::{Paper, PrinterStatus, StatusKind};

/// Printable width of 80 mm paper at 203 dpi.
pub const PAPER_DOTS: u32 = 576;
/// Width of one Font A column in dots.
pub const COLUMN_DOTS: u32 = 12;

/// A scripted change to the simulated printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimControl {
    /// Set the paper roll state (`paper ok|near-end|out`).
    Paper(Paper),
    /// Let `n` more lines print, then run out of paper (`paper-out-after N`).
    PaperOutAfter(u32),
    /// Open or close the cover (`cover open|closed`).
    Cover { open: bool },
    /// Take the printer offline or back online (`offline`, `online`).
    Online(bool),
    /// Mechanical error on or cleared (`error on|off`).
    Error(bool),
}

impl std::str::FromStr for SimControl {
    type Err = String;
    fn from_str(line: &str) -> Result<Self, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        Ok(match words.as_slice() {
            ["paper", "ok"] => Self::Paper(Paper::Ok),
            ["paper", "near-end"] => Self::Paper(Paper::NearEnd),
            ["paper", "out"] => Self::Paper(Paper::Out),
            ["paper-out-after", n] => Self::PaperOutAfter(
                n.parse()
                    .map_err(|e| format!("paper-out-after {n:?}: {e}"))?,
            ),
            ["cover", "open"] => Self::Cover { open: true },
            ["cover", "closed" | "close"] => Self::Cover { open: false },
            ["offline"] => Self::Online(false),
            ["online"] => Self::Online(true),
            ["error", "on"] => Self::Error(true),
            ["error", "off"] => Self::Error(false),
            _ => {
                return Err(format!(
                    "unknown control {line:?}; expected paper ok|near-end|out, paper-out-after N, \
                     cover open|closed, offline, online, error on|off"
                ));
            }
        })
    }
}

/// A run of text in one style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    pub bold: bool,
    /// Width multiplier (1..=8).
    pub width: u8,
    /// Height multiplier (1..=8).
    pub height: u8,
}

/// What ended up on the paper, line by line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrintedLine {
    /// A printed text line (at most the paper width).
    Text { spans: Vec<Span>, align: Align },
    /// An empty line feed.
    Blank,
    /// A QR code symbol.
    Qr {
        data: Vec<u8>,
        module_size: u8,
        error_level: u8,
        align: Align,
    },
    /// The paper ran out here; nothing after it was printed.
    PaperOut,
    /// The paper was cut.
    Cut,
}

/// One receipt as it left the printer (up to and including the cut).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperReceipt {
    pub lines: Vec<PrintedLine>,
    /// Something was lost: paper ran out, cover open or offline while it was sent.
    pub interrupted: bool,
}

/// Output of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimOutput {
    /// Bytes to send back to the host now (DLE EOT replies).
    Reply(u8),
    /// A receipt was cut.
    Receipt(PaperReceipt),
}

/// The simulated printer's state and print engine. Pure.
#[derive(Debug)]
pub struct SimPrinter {
    decoder: Decoder,
    // Mechanism.
    paper: Paper,
    lines_left: Option<u32>,
    cover_open: bool,
    online: bool,
    error: bool,
    // Print modes.
    bold: bool,
    width: u8,
    height: u8,
    align: Align,
    chinese: bool,
    // QR symbol storage.
    qr_module: u8,
    qr_level: u8,
    qr_data: Vec<u8>,
    // Line buffer: finished spans and raw bytes of the current span.
    spans: Vec<(Vec<u8>, bool, u8, u8, bool)>,
    line_align: Option<Align>,
    // The receipt being printed.
    lines: Vec<PrintedLine>,
    interrupted: bool,
}

impl Default for SimPrinter {
    fn default() -> Self {
        Self::new()
    }
}

impl SimPrinter {
    pub fn new() -> Self {
        Self {
            decoder: Decoder::new(),
            paper: Paper::Ok,
            lines_left: None,
            cover_open: false,
            online: true,
            error: false,
            bold: false,
            width: 1,
            height: 1,
            align: Align::Left,
            chinese: true,
            qr_module: 3,
            qr_level: 48,
            qr_data: Vec::new(),
            spans: Vec::new(),
            line_align: None,
            lines: Vec::new(),
            interrupted: false,
        }
    }

    /// The state the printer would report now.
    pub fn status(&self) -> PrinterStatus {
        PrinterStatus {
            online: self.online,
            paper: self.paper,
            cover_open: self.cover_open,
            error: self.error,
        }
    }

    fn can_print(&self) -> bool {
        self.status().blocker().is_none()
    }

    /// Applies a scripted change.
    pub fn control(&mut self, control: SimControl) {
        match control {
            SimControl::Paper(p) => {
                self.paper = p;
                self.lines_left = None;
            }
            SimControl::PaperOutAfter(n) => {
                self.lines_left = Some(n);
                if n == 0 {
                    self.paper = Paper::Out;
                }
            }
            SimControl::Cover { open } => self.cover_open = open,
            SimControl::Online(on) => self.online = on,
            SimControl::Error(on) => self.error = on,
        }
    }

    /// Feeds received bytes; returns replies and finished receipts in order.
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Vec<SimOutput> {
        self.decoder.push(bytes);
        let mut out = Vec::new();
        while let Some(cmd) = self.decoder.next_command() {
            self.execute(cmd, &mut out);
        }
        out
    }

    fn execute(&mut self, cmd: Command, out: &mut Vec<SimOutput>) {
        match cmd {
            Command::StatusRequest(n) => {
                let [p, c, r] = self.status().to_replies();
                let reply = match StatusKind::from_n(n) {
                    Some(StatusKind::Printer) => Some(p),
                    Some(StatusKind::OfflineCause) => Some(c),
                    Some(StatusKind::ErrorCause) => {
                        Some(if self.error { 0x12 | 0x20 } else { 0x12 })
                    }
                    Some(StatusKind::Paper) => Some(r),
                    None => None,
                };
                out.extend(reply.map(SimOutput::Reply));
            }
            Command::Text(bytes) => {
                if self.line_align.is_none() {
                    self.line_align = Some(self.align);
                }
                let style = (self.bold, self.width, self.height, self.chinese);
                match self.spans.last_mut() {
                    Some((b, bold, w, h, ch)) if (*bold, *w, *h, *ch) == style => {
                        b.extend_from_slice(&bytes)
                    }
                    _ => self.spans.push((bytes, style.0, style.1, style.2, style.3)),
                }
            }
            Command::LineFeed => self.print_line(),
            Command::CarriageReturn | Command::Other(_) | Command::Skipped(_) => {}
            Command::Init => {
                self.bold = false;
                self.width = 1;
                self.height = 1;
                self.align = Align::Left;
                self.spans.clear();
                self.line_align = None;
            }
            Command::Bold(on) => self.bold = on,
            Command::Size { width, height } => {
                self.width = width;
                self.height = height;
            }
            Command::Align(n) => {
                self.align = match n {
                    1 => Align::Centre,
                    2 => Align::Right,
                    _ => Align::Left,
                }
            }
            Command::ChineseOn => self.chinese = true,
            Command::ChineseOff => self.chinese = false,
            Command::FeedLines(n) => {
                if self.spans.is_empty() {
                    for _ in 0..n {
                        self.emit(PrintedLine::Blank);
                    }
                } else {
                    self.print_line();
                    for _ in 1..n {
                        self.emit(PrintedLine::Blank);
                    }
                }
            }
            Command::Cut { .. } => {
                if !self.spans.is_empty() {
                    self.print_line();
                }
                if self.can_print() {
                    self.lines.push(PrintedLine::Cut);
                } else {
                    self.interrupted = true;
                }
                let lines = std::mem::take(&mut self.lines);
                let interrupted = std::mem::replace(&mut self.interrupted, false);
                out.push(SimOutput::Receipt(PaperReceipt { lines, interrupted }));
            }
            Command::QrModel(_) => {}
            Command::QrModuleSize(n) => self.qr_module = n.clamp(1, 16),
            Command::QrErrorLevel(n) => self.qr_level = n,
            Command::QrStore(data) => self.qr_data = data,
            Command::QrPrint => {
                let line = PrintedLine::Qr {
                    data: self.qr_data.clone(),
                    module_size: self.qr_module,
                    error_level: self.qr_level,
                    align: self.align,
                };
                self.emit(line);
            }
        }
    }

    /// Prints the line buffer (wrapping at the paper width), or a blank line.
    fn print_line(&mut self) {
        let align = self.line_align.take().unwrap_or(self.align);
        let spans = std::mem::take(&mut self.spans);
        if spans.is_empty() {
            self.emit(PrintedLine::Blank);
            return;
        }
        let mut lines: Vec<Vec<Span>> = vec![Vec::new()];
        let mut used = 0u32;
        for (bytes, bold, width, height, chinese) in spans {
            let text = if chinese {
                decode_text(&bytes)
            } else {
                bytes
                    .iter()
                    .map(|&b| if b.is_ascii() { char::from(b) } else { '?' })
                    .collect()
            };
            for c in text.chars() {
                let dots =
                    u32::try_from(char_width(c)).unwrap_or(2) * COLUMN_DOTS * u32::from(width);
                if used + dots > PAPER_DOTS && used > 0 {
                    lines.push(Vec::new());
                    used = 0;
                }
                used += dots;
                let Some(line) = lines.last_mut() else {
                    continue;
                };
                match line.last_mut() {
                    Some(s) if (s.bold, s.width, s.height) == (bold, width, height) => {
                        s.text.push(c)
                    }
                    _ => line.push(Span {
                        text: c.to_string(),
                        bold,
                        width,
                        height,
                    }),
                }
            }
        }
        for spans in lines {
            self.emit(PrintedLine::Text { spans, align });
        }
    }

    /// Puts one line on the paper if the printer can print, counting down to paper-out.
    fn emit(&mut self, line: PrintedLine) {
        if !self.can_print() {
            if !self.interrupted && self.paper == Paper::Out {
                self.lines.push(PrintedLine::PaperOut);
            }
            self.interrupted = true;
            return;
        }
        self.lines.push(line);
        if let Some(left) = self.lines_left.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.paper = Paper::Out;
                self.lines_left = None;
            }
        }
    }
}

/// Settings of [`run`].
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    /// Where to write `NNN.png` and `NNN.txt` for every receipt (none: not written).
    pub out_dir: Option<PathBuf>,
    /// Controls applied before the first byte is read (a script).
    pub initial: Vec<SimControl>,
}

/// A finished receipt with its renderings.
#[derive(Debug, Clone)]
pub struct PrintedReceipt {
    /// 1, 2, 3 … in print order.
    pub number: u32,
    pub paper: PaperReceipt,
    /// Readable text (see [`render::to_text`]).
    pub text: String,
    /// PNG picture of the paper.
    pub png: Vec<u8>,
    /// The `.png` and `.txt` written, when [`SimConfig::out_dir`] is set.
    pub files: Option<(PathBuf, PathBuf)>,
}

/// Errors of the simulator's I/O.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Reading or writing the device end failed.
    #[error("simulator device I/O: {0}")]
    Io(#[source] io::Error),
    /// Writing a receipt file failed.
    #[error("writing receipt file {path}: {source}")]
    Save { path: PathBuf, source: io::Error },
    /// Rendering the PNG failed.
    #[error("rendering receipt PNG: {0}")]
    Render(#[from] image::ImageError),
}

/// Runs the simulated printer on `device` (the master end of a [`devio::Pty`] at 9600 8N1)
/// until the device end closes. Controls may arrive at any time; every cut receipt is
/// rendered, saved if configured and sent on `receipts` (dropped if nobody listens).
pub async fn run<D: Transport>(
    mut device: D,
    config: SimConfig,
    mut controls: mpsc::Receiver<SimControl>,
    receipts: mpsc::Sender<PrintedReceipt>,
) -> Result<(), SimError> {
    let mut printer = SimPrinter::new();
    for c in &config.initial {
        printer.control(*c);
    }
    if let Some(dir) = &config.out_dir {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|source| SimError::Save {
                path: dir.clone(),
                source,
            })?;
    }
    let mut number = 0u32;
    let mut buf = vec![0u8; 4096];
    let mut controls_open = true;
    loop {
        tokio::select! {
            // Controls first: one sent before the host's next bytes applies to them.
            biased;
            c = controls.recv(), if controls_open => match c {
                Some(c) => {
                    tracing::info!(?c, "printer simulator control");
                    printer.control(c);
                }
                None => controls_open = false,
            },
            r = device.read(&mut buf) => {
                let n = match r {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) => return Err(SimError::Io(e)),
                };
                let mut replies = Vec::new();
                let mut finished = Vec::new();
                for o in printer.handle_bytes(buf.get(..n).unwrap_or_default()) {
                    match o {
                        SimOutput::Reply(b) => replies.push(b),
                        SimOutput::Receipt(r) => finished.push(r),
                    }
                }
                if !replies.is_empty() {
                    device.write_all(&replies).await.map_err(SimError::Io)?;
                    device.flush().await.map_err(SimError::Io)?;
                }
                for paper in finished {
                    number += 1;
                    let receipt = finish(number, paper, config.out_dir.as_deref()).await?;
                    let _ = receipts.send(receipt).await;
                }
            }
        }
    }
}

async fn finish(
    number: u32,
    paper: PaperReceipt,
    out_dir: Option<&std::path::Path>,
) -> Result<PrintedReceipt, SimError> {
    let text = render::to_text(&paper.lines, PAPER_DOTS / COLUMN_DOTS);
    let png = render::to_png(&paper.lines)?;
    let files = match out_dir {
        Some(dir) => {
            let png_path = dir.join(format!("{number:03}.png"));
            let txt_path = dir.join(format!("{number:03}.txt"));
            tokio::fs::write(&png_path, &png)
                .await
                .map_err(|source| SimError::Save {
                    path: png_path.clone(),
                    source,
                })?;
            tokio::fs::write(&txt_path, &text)
                .await
                .map_err(|source| SimError::Save {
                    path: txt_path.clone(),
                    source,
                })?;
            Some((png_path, txt_path))
        }
        None => None,
    };
    Ok(PrintedReceipt {
        number,
        paper,
        text,
        png,
        files,
    })
}
