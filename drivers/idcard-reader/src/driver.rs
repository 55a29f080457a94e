//! The reader driver: a thin async shell over the frame codec, generic over the byte
//! transport (serial port, USB bulk pipe, pseudo-terminal).
//!
//! Reading a card is find (寻卡) → select (选卡) → read (读卡). [`IdCardReader::wait_for_card`]
//! polls find every second (configurable) and reports each card once: after a read the
//! card must leave the field (find fails) before another read is reported, so a card left
//! lying on the reader is not read twice.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::card::{Fingerprint, PayloadError, Photo, SamId};
use crate::frame::{Command, FrameDecoder, FrameError, Reply, Status, StatusClass};
use crate::poller::{CardPoller, Next};
use crate::text::{CardText, TextError};

/// Timing and behaviour of the driver.
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    /// How long to wait for a reply to one command (default 5 s).
    pub command_timeout: Duration,
    /// Interval between find attempts while waiting for a card (default 1 s).
    pub poll_interval: Duration,
    /// Resends of a command whose reply was lost or corrupted (bad checksum, timeout,
    /// reader reporting a checksum or length error). Default 2.
    pub link_retries: u32,
    /// Read attempts on a present card before a read failure (SW3 41/47, card moving) is
    /// reported. Default 3.
    pub read_attempts: u32,
    /// Read with fingerprint (`30 10`) instead of text and photo only (`30 01`).
    pub read_fingerprint: bool,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            command_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
            link_retries: 2,
            read_attempts: 3,
            read_fingerprint: false,
        }
    }
}

/// A card read: parsed text, photo and optional fingerprint. `Debug` is masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRead {
    /// Parsed text.
    pub text: CardText,
    /// Photo (opaque).
    pub photo: Photo,
    /// Fingerprint, when read with fingerprint and present on the card.
    pub fingerprint: Option<Fingerprint>,
}

/// What waiting for a card produced. All of these are domain outcomes for the
/// application to show, not faults of the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitOutcome {
    /// A card was read.
    Card(CardRead),
    /// No (new) card within the timeout.
    NoCard,
    /// The security module refused the card (SW3 31, 32, 33 or 40): forged, damaged, or
    /// a card type this SAM cannot read.
    CardRejected(Status),
    /// The read kept breaking off (SW3 41 or 47): the card was moved.
    ReadFailed(Status),
    /// The card was read but its text block is of an unknown type or malformed.
    UnreadableText(TextError),
}

/// Faults of the reader or the link.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReaderError {
    /// The transport failed.
    #[error("reader I/O: {0}")]
    Io(#[from] io::Error),
    /// No complete reply within the command timeout (after retries).
    #[error("{command}: reader did not answer within {timeout:?}")]
    Timeout {
        /// Command name.
        command: &'static str,
        /// Timeout per attempt.
        timeout: Duration,
    },
    /// Replies kept arriving corrupted (bad checksum) — never taken as data.
    #[error("{command}: corrupted reply")]
    BadFrame {
        /// Command name.
        command: &'static str,
        /// What was wrong with the last reply.
        #[source]
        source: FrameError,
    },
    /// The reader or its SAM reported a fault (e.g. SW3 60 SAM self-test failed).
    #[error("{command}: {status}")]
    Status {
        /// Command name.
        command: &'static str,
        /// SW3.
        status: Status,
    },
    /// The read reply's data did not match its length fields.
    #[error("read reply: {0}")]
    Payload(#[from] PayloadError),
}

impl ReaderError {
    /// `true` if the reader's security module (SAM) is at fault.
    pub fn is_sam_failure(&self) -> bool {
        matches!(
            self,
            ReaderError::Status {
                status: Status::SamSelfTestFailed | Status::SamNotAuthorised,
                ..
            }
        )
    }
}

/// Second-generation ID card reader over any byte transport.
#[derive(Debug)]
pub struct IdCardReader<T: devio::Transport> {
    io: T,
    decoder: FrameDecoder,
    config: ReaderConfig,
    poller: CardPoller,
}

impl<T: devio::Transport> IdCardReader<T> {
    /// Wraps an open transport (serial port at 115200 8N1, USB pipe, pty).
    pub fn new(io: T, config: ReaderConfig) -> Self {
        let poller = CardPoller::new(config.read_attempts, config.read_fingerprint);
        Self {
            io,
            decoder: FrameDecoder::new(),
            config,
            poller,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ReaderConfig {
        &self.config
    }

    /// Gives the transport back.
    pub fn into_inner(self) -> T {
        self.io
    }

    /// `true` while a read card has not yet left the field.
    pub fn awaiting_removal(&self) -> bool {
        self.poller.awaiting_removal()
    }

    /// Sends one command and returns the reader's reply, resending on lost or corrupted
    /// frames. Reader-side checksum/length errors (SW3 10/11) are resent too.
    pub async fn transact(&mut self, command: Command) -> Result<Reply, ReaderError> {
        let frame = command.encode();
        let mut last = ReaderError::Timeout {
            command: command.name(),
            timeout: self.config.command_timeout,
        };
        for attempt in 0..=self.config.link_retries {
            if attempt > 0 {
                tracing::debug!(command = command.name(), attempt, "resending");
            }
            self.decoder.clear();
            self.io.write_all(&frame).await?;
            self.io.flush().await?;
            match self.receive(command).await {
                Ok(reply) if reply.status.outcome() == StatusClass::Link => {
                    last = ReaderError::Status {
                        command: command.name(),
                        status: reply.status,
                    };
                }
                Ok(reply) => return Ok(reply),
                Err(e @ (ReaderError::BadFrame { .. } | ReaderError::Timeout { .. })) => {
                    tracing::warn!(command = command.name(), error = %e, "reader reply lost");
                    last = e;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    async fn receive(&mut self, command: Command) -> Result<Reply, ReaderError> {
        let deadline = Instant::now() + self.config.command_timeout;
        let mut buf = [0u8; 4096];
        loop {
            while let Some(frame) = self.decoder.next_frame() {
                match frame {
                    Ok(body) => match Reply::parse(&body) {
                        Ok(reply) => return Ok(reply),
                        Err(source) => {
                            return Err(ReaderError::BadFrame {
                                command: command.name(),
                                source,
                            });
                        }
                    },
                    // Garbage before a frame: keep looking.
                    Err(FrameError::BadLength { .. }) => {}
                    Err(source) => {
                        return Err(ReaderError::BadFrame {
                            command: command.name(),
                            source,
                        });
                    }
                }
            }
            let n = match tokio::time::timeout_at(deadline, self.io.read(&mut buf)).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(ReaderError::Timeout {
                        command: command.name(),
                        timeout: self.config.command_timeout,
                    });
                }
            };
            if n == 0 {
                return Err(ReaderError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "reader link closed",
                )));
            }
            self.decoder.push(buf.get(..n).unwrap_or_default());
        }
    }

    fn expect_ok(command: Command, reply: &Reply) -> Result<(), ReaderError> {
        if reply.status == Status::Ok {
            Ok(())
        } else {
            Err(ReaderError::Status {
                command: command.name(),
                status: reply.status,
            })
        }
    }

    /// SAM status check (`11 FF`): `Ok` if the security module works.
    pub async fn sam_status(&mut self) -> Result<(), ReaderError> {
        let reply = self.transact(Command::SamStatus).await?;
        Self::expect_ok(Command::SamStatus, &reply)
    }

    /// Resets the SAM (`10 FF`).
    pub async fn reset_sam(&mut self) -> Result<(), ReaderError> {
        let reply = self.transact(Command::ResetSam).await?;
        Self::expect_ok(Command::ResetSam, &reply)
    }

    /// Reads the SAM's management number (`12 FF`).
    pub async fn sam_id(&mut self) -> Result<SamId, ReaderError> {
        let reply = self.transact(Command::ReadSamId).await?;
        Self::expect_ok(Command::ReadSamId, &reply)?;
        Ok(SamId::parse(&reply.data)?)
    }

    /// Sets the reader's maximum RF frame size (`61 FF nn`).
    pub async fn set_max_rf_frame(&mut self, size: u8) -> Result<(), ReaderError> {
        let command = Command::SetMaxRfFrame(size);
        let reply = self.transact(command).await?;
        Self::expect_ok(command, &reply)
    }

    /// Find card (`20 01`): `true` if a card is in the field.
    pub async fn find(&mut self) -> Result<bool, ReaderError> {
        let reply = self.transact(Command::FindCard).await?;
        match reply.status {
            Status::FindOk | Status::Ok => Ok(true),
            Status::FindFailed => Ok(false),
            status => Err(ReaderError::Status {
                command: Command::FindCard.name(),
                status,
            }),
        }
    }

    /// Select card (`20 02`): `true` if selected.
    pub async fn select(&mut self) -> Result<bool, ReaderError> {
        let reply = self.transact(Command::SelectCard).await?;
        match reply.status {
            Status::Ok => Ok(true),
            Status::SelectFailed | Status::FindFailed => Ok(false),
            status => Err(ReaderError::Status {
                command: Command::SelectCard.name(),
                status,
            }),
        }
    }

    /// Reads the newest address page (`30 03`) of the selected card: `None` if the card
    /// has none (SW3 91).
    pub async fn read_new_address(&mut self) -> Result<Option<String>, ReaderError> {
        let reply = self.transact(Command::ReadNewAddress).await?;
        match reply.status {
            Status::NoContent => Ok(None),
            Status::Ok => {
                let units = reply.data.chunks_exact(2).map(|c| match c {
                    [lo, hi] => u16::from_le_bytes([*lo, *hi]),
                    _ => 0x20,
                });
                let text: String = char::decode_utf16(units)
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect();
                Ok(Some(text.trim_end_matches([' ', '\0']).to_owned()))
            }
            status => Err(ReaderError::Status {
                command: Command::ReadNewAddress.name(),
                status,
            }),
        }
    }

    /// One find → select → read cycle, decided by the pure [`CardPoller`].
    async fn poll_once(&mut self) -> Result<Option<WaitOutcome>, ReaderError> {
        let mut command = self.poller.start();
        loop {
            let reply = self.transact(command).await?;
            match self.poller.on_reply(&reply) {
                Next::Send(next) => command = next,
                Next::Idle | Next::RetryNow => return Ok(None),
                Next::Outcome(outcome) => return Ok(Some(outcome)),
                Next::Fault(command, status) => {
                    return Err(ReaderError::Status {
                        command: command.name(),
                        status,
                    });
                }
                Next::BadPayload(e) => return Err(ReaderError::Payload(e)),
            }
        }
    }

    /// The configured time between polls.
    pub fn poll_interval(&self) -> Duration {
        self.config.poll_interval
    }

    /// One "find card" while a card that was read may still lie on the reader: notices that
    /// it left, so that the next card placed — even between two waits, when nobody polls —
    /// is read as new. Never reads a card.
    pub async fn watch_removal(&mut self) -> Result<(), ReaderError> {
        if self.poller.awaiting_removal() {
            self.poll_once().await?;
        }
        Ok(())
    }

    /// Waits up to `timeout` for a (new) card and reads it.
    pub async fn wait_for_card(&mut self, timeout: Duration) -> Result<WaitOutcome, ReaderError> {
        self.wait_for_card_while(timeout, || true).await
    }

    /// [`Self::wait_for_card`], giving up (as [`WaitOutcome::NoCard`]) before a poll when
    /// `wanted` says nobody waits for the answer any more: an abandoned wait must not go
    /// on reading, or it takes the next customer's card and leaves their wait empty-handed.
    pub async fn wait_for_card_while(
        &mut self,
        timeout: Duration,
        wanted: impl Fn() -> bool,
    ) -> Result<WaitOutcome, ReaderError> {
        let deadline = Instant::now() + timeout;
        loop {
            if !wanted() {
                return Ok(WaitOutcome::NoCard);
            }
            if let Some(outcome) = self.poll_once().await? {
                return Ok(outcome);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(WaitOutcome::NoCard);
            }
            // A read failure is retried at once; otherwise wait a poll interval.
            if !self.poller.retrying_read() {
                tokio::time::sleep_until((now + self.config.poll_interval).min(deadline)).await;
            }
        }
    }
}
