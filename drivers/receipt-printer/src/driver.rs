//! The thin async driver: moves the encoder's bytes to the printer and reads status
//! replies. All decisions are made by the pure code in [`crate::status`].

use std::io;
use std::time::Duration;

use devio::Transport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::escpos;
use crate::receipt::Receipt;
use crate::status::{BadStatusByte, NotPrintedReason, PrintOutcome, PrinterStatus, StatusKind};

/// Serial line settings of the printer: 9600 8N1 unless the printer's DIP switches say
/// otherwise.
pub const DEFAULT_LINE: devio::LineSettings = devio::LineSettings::n81(9600);

/// Timing of the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrinterConfig {
    /// How long to wait for one status byte.
    pub reply_timeout: Duration,
    /// Line speed, used to estimate how long the job takes to reach the printer
    /// (`None` for USB, where the transfer completes when the printer has taken the bytes).
    pub baud: Option<u32>,
    /// Time the printer needs per printed line after receiving it, before the status
    /// read after a job is trusted.
    pub per_line: Duration,
    /// Fixed extra wait after a job (cut and paper movement).
    pub settle: Duration,
    /// How often DLE EOT is polled while the printer works through a job.
    pub poll_interval: Duration,
}

impl Default for PrinterConfig {
    fn default() -> Self {
        Self {
            reply_timeout: Duration::from_secs(2),
            baud: Some(DEFAULT_LINE.baud),
            per_line: Duration::from_millis(15),
            settle: Duration::from_millis(300),
            poll_interval: Duration::from_millis(250),
        }
    }
}

/// Errors talking to the printer. Paper out, cover open and the like are not errors:
/// they come back as [`PrintOutcome`] or [`PrinterStatus`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the transport failed (unplugged, port closed).
    #[error("printer I/O: {0}")]
    Io(#[from] io::Error),
    /// The printer did not answer a status request in time.
    #[error("printer did not answer DLE EOT {n} within {timeout:?}")]
    Timeout { n: u8, timeout: Duration },
    /// The printer answered with a byte that is not a DLE EOT reply.
    #[error(transparent)]
    Protocol(#[from] BadStatusByte),
}

/// A receipt printer over any byte transport (serial port, USB bulk pipe, pseudo-terminal).
#[derive(Debug)]
pub struct Printer<T> {
    io: T,
    config: PrinterConfig,
}

impl<T: Transport> Printer<T> {
    pub fn new(io: T, config: PrinterConfig) -> Self {
        Self { io, config }
    }

    /// Gives the transport back.
    pub fn into_inner(self) -> T {
        self.io
    }

    /// Reads the printer's state with DLE EOT 1, 2 and 4.
    pub async fn status(&mut self) -> Result<PrinterStatus, Error> {
        self.discard_stale().await?;
        let a = self.ask(StatusKind::Printer).await?;
        let b = self.ask(StatusKind::OfflineCause).await?;
        let c = self.ask(StatusKind::Paper).await?;
        Ok(PrinterStatus::from_replies(a, b, c)?)
    }

    /// Prints a receipt: status before (refuse when not printable), the job, then the
    /// status once the printer has had time to print it. Only a printable status after the
    /// job gives [`PrintOutcome::Printed`].
    pub async fn print(&mut self, receipt: &Receipt) -> Result<PrintOutcome, Error> {
        let before = match self.status().await {
            Ok(s) => s,
            Err(Error::Timeout { .. }) => {
                return Ok(PrintOutcome::NotPrinted {
                    reason: NotPrintedReason::NoAnswer,
                });
            }
            Err(e) => return Err(e),
        };
        if let Some(reason) = before.blocker() {
            tracing::info!(%reason, "receipt refused before printing");
            return Ok(PrintOutcome::NotPrinted { reason });
        }
        let bytes = escpos::encode_receipt(receipt);
        self.io.write_all(&bytes).await?;
        self.io.flush().await?;
        // Poll while the printer works through the job: a paper-out or an opened cover
        // ends the wait at once; otherwise the status at the end decides.
        let deadline = tokio::time::Instant::now() + self.finish_estimate(receipt, bytes.len());
        let last = loop {
            let now = tokio::time::Instant::now();
            let wait = deadline
                .saturating_duration_since(now)
                .min(self.config.poll_interval);
            tokio::time::sleep(wait).await;
            let status = match self.status().await {
                Ok(s) => Some(s),
                Err(Error::Timeout { .. }) => None,
                Err(e) => return Err(e),
            };
            if status.is_some_and(|s| s.blocker().is_some())
                || tokio::time::Instant::now() >= deadline
            {
                break status;
            }
        };
        let outcome = PrintOutcome::after_job(last);
        tracing::info!(?outcome, "receipt job finished");
        Ok(outcome)
    }

    /// How long the printer needs to receive and print a job: ESC/POS has no "buffer empty"
    /// status, so the driver waits this long before it trusts DLE EOT.
    fn finish_estimate(&self, receipt: &Receipt, bytes: usize) -> Duration {
        let wire = self.config.baud.map_or(Duration::ZERO, |baud| {
            let micros = u64::try_from(bytes)
                .unwrap_or(u64::MAX)
                .saturating_mul(10_000_000)
                / u64::from(baud.max(1));
            Duration::from_micros(micros)
        });
        let lines = u32::try_from(receipt.blocks().len()).unwrap_or(u32::MAX);
        wire + self.config.per_line.saturating_mul(lines) + self.config.settle
    }

    async fn ask(&mut self, kind: StatusKind) -> Result<u8, Error> {
        self.io.write_all(&kind.request()).await?;
        self.io.flush().await?;
        let mut byte = [0u8; 1];
        let timeout = self.config.reply_timeout;
        match tokio::time::timeout(timeout, self.io.read_exact(&mut byte)).await {
            Ok(Ok(_)) => Ok(byte[0]),
            Ok(Err(e)) => Err(Error::Io(e)),
            Err(_) => Err(Error::Timeout {
                n: kind as u8,
                timeout,
            }),
        }
    }

    /// Drops bytes left over from an earlier exchange (late replies, automatic status).
    async fn discard_stale(&mut self) -> Result<(), Error> {
        let mut buf = [0u8; 64];
        loop {
            match tokio::time::timeout(Duration::from_millis(20), self.io.read(&mut buf)).await {
                Ok(Ok(0)) | Err(_) => return Ok(()),
                Ok(Ok(n)) => tracing::debug!(n, "discarded stale bytes from the printer"),
                Ok(Err(e)) => return Err(Error::Io(e)),
            }
        }
    }
}

/// Opens a serial printer at the given line settings.
pub fn open_serial(
    path: impl AsRef<std::path::Path>,
    line: devio::LineSettings,
) -> Result<devio::SerialStream, devio::Error> {
    devio::open_serial(path, line)
}

/// The printer as an actor (STYLE §3): a task owns the port, cloneable [`PrinterHandle`]s
/// send it requests; the task ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct PrinterHandle {
    tx: tokio::sync::mpsc::Sender<Request>,
}

#[derive(Debug)]
enum Request {
    Status(tokio::sync::oneshot::Sender<Result<PrinterStatus, Error>>),
    Print(
        Box<Receipt>,
        tokio::sync::oneshot::Sender<Result<PrintOutcome, Error>>,
    ),
}

/// Errors of a [`PrinterHandle`] request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// The printer reported an error.
    #[error(transparent)]
    Printer(#[from] Error),
    /// The printer task has ended (its transport failed earlier or the runtime is shutting down).
    #[error("the printer task has ended")]
    Gone,
}

impl<T: Transport> Printer<T> {
    /// Moves the printer into its own task and returns a handle to it.
    pub fn spawn(mut self) -> PrinterHandle {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Request>(8);
        tokio::spawn(async move {
            while let Some(req) = rx.recv().await {
                match req {
                    Request::Status(reply) => {
                        let _ = reply.send(self.status().await);
                    }
                    Request::Print(receipt, reply) => {
                        let _ = reply.send(self.print(&receipt).await);
                    }
                }
            }
        });
        PrinterHandle { tx }
    }
}

impl PrinterHandle {
    /// The printer's state now.
    pub async fn status(&self) -> Result<PrinterStatus, HandleError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Request::Status(tx))
            .await
            .map_err(|_| HandleError::Gone)?;
        Ok(rx.await.map_err(|_| HandleError::Gone)??)
    }

    /// Prints a receipt (see [`Printer::print`]); requests from several handles queue.
    pub async fn print(&self, receipt: Receipt) -> Result<PrintOutcome, HandleError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Request::Print(Box::new(receipt), tx))
            .await
            .map_err(|_| HandleError::Gone)?;
        Ok(rx.await.map_err(|_| HandleError::Gone)??)
    }
}
