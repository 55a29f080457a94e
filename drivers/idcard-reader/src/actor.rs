//! The reader as an actor: one task owns the port, cloneable [`ReaderHandle`]s send it
//! requests over a bounded channel and get answers on a oneshot. The task ends when the
//! last handle is dropped. A dead reader fails its own requests; it never takes the
//! application down.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::card::SamId;
use crate::driver::{IdCardReader, ReaderError, WaitOutcome};

enum Request {
    SamStatus(oneshot::Sender<Result<(), ReaderError>>),
    SamId(oneshot::Sender<Result<SamId, ReaderError>>),
    WaitForCard(Duration, oneshot::Sender<Result<WaitOutcome, ReaderError>>),
    NewAddress(oneshot::Sender<Result<Option<String>, ReaderError>>),
}

/// Errors of a request to the reader actor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActorError {
    /// The reader failed.
    #[error(transparent)]
    Reader(#[from] ReaderError),
    /// The reader task has ended (port closed, task panicked).
    #[error("ID card reader task has stopped")]
    Gone,
}

/// Cloneable handle to the reader task.
#[derive(Debug, Clone)]
pub struct ReaderHandle {
    tx: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Request::SamStatus(_) => "SamStatus",
            Request::SamId(_) => "SamId",
            Request::WaitForCard(..) => "WaitForCard",
            Request::NewAddress(_) => "NewAddress",
        })
    }
}

/// Starts the reader task (inside a tokio runtime) and returns its handle.
pub fn spawn<T: devio::Transport>(mut reader: IdCardReader<T>) -> ReaderHandle {
    let (tx, mut rx) = mpsc::channel::<Request>(8);
    tokio::spawn(async move {
        loop {
            // Between requests, a card that was read is watched until it leaves the field
            // (otherwise the next customer's card, placed while nobody polls, would pass
            // for the one already read).
            let request = if reader.awaiting_removal() {
                // Biased: when the watch is due and a wait arrives together (a busy
                // machine), the watch goes first — a card swapped meanwhile is then new.
                tokio::select! {
                    biased;
                    () = tokio::time::sleep(reader.poll_interval()) => {
                        if let Err(e) = reader.watch_removal().await {
                            tracing::debug!(error = %e, "watching for the card to leave failed");
                        }
                        continue;
                    }
                    request = rx.recv() => request,
                }
            } else {
                rx.recv().await
            };
            let Some(request) = request else { break };
            match request {
                Request::SamStatus(reply) => {
                    let _ = reply.send(reader.sam_status().await);
                }
                Request::SamId(reply) => {
                    let _ = reply.send(reader.sam_id().await);
                }
                Request::WaitForCard(timeout, reply) => {
                    // A caller that gave up (its task aborted) stops the wait.
                    let outcome = reader
                        .wait_for_card_while(timeout, || !reply.is_closed())
                        .await;
                    let _ = reply.send(outcome);
                }
                Request::NewAddress(reply) => {
                    let _ = reply.send(reader.read_new_address().await);
                }
            }
        }
        tracing::debug!("ID card reader task ends: no handle left");
    });
    ReaderHandle { tx }
}

impl ReaderHandle {
    async fn ask<R>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<R, ReaderError>>) -> Request,
    ) -> Result<R, ActorError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| ActorError::Gone)?;
        Ok(rx.await.map_err(|_| ActorError::Gone)??)
    }

    /// SAM status check.
    pub async fn sam_status(&self) -> Result<(), ActorError> {
        self.ask(Request::SamStatus).await
    }

    /// The SAM's number.
    pub async fn sam_id(&self) -> Result<SamId, ActorError> {
        self.ask(Request::SamId).await
    }

    /// Waits up to `timeout` for a new card and reads it.
    pub async fn wait_for_card(&self, timeout: Duration) -> Result<WaitOutcome, ActorError> {
        self.ask(|tx| Request::WaitForCard(timeout, tx)).await
    }

    /// The newest address page of the card just read (`None` if it has none).
    pub async fn read_new_address(&self) -> Result<Option<String>, ActorError> {
        self.ask(Request::NewAddress).await
    }
}
