//! The bill acceptor as an actor (STYLE.md §3), for either protocol.
//!
//! One task owns the device: it connects, polls every `poll_interval` (200–1000 ms), and
//! takes commands from cloneable [`AcceptorHandle`]s over a bounded channel, answering on a
//! oneshot. Events go out on an mpsc receiver. The task ends when the last handle is
//! dropped (after disabling the acceptor). A device that stops answering becomes
//! [`AcceptorEvent::DeviceLost`] and the task keeps trying to reconnect; nothing panics.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::{AcceptorEvent, AcceptorState, BillAcceptor, DeviceInfo, Error};

/// Shortest and longest poll interval the devices tolerate.
pub const POLL_INTERVAL_RANGE: (Duration, Duration) =
    (Duration::from_millis(200), Duration::from_millis(1000));

/// Time between reconnection attempts after the device was lost.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(3);

/// Why a request to the actor failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActorError {
    /// The actor task has ended.
    #[error("bill acceptor task has stopped")]
    Stopped,
    /// The acceptor is not connected (never answered, or lost).
    #[error("bill acceptor not connected")]
    NotConnected,
    /// The device refused or failed the command.
    #[error(transparent)]
    Device(#[from] Error),
}

#[derive(Debug)]
enum Request {
    Enable(Vec<u64>, oneshot::Sender<Result<(), ActorError>>),
    Disable(oneshot::Sender<Result<(), ActorError>>),
    Stack(oneshot::Sender<Result<(), ActorError>>),
    Return(oneshot::Sender<Result<(), ActorError>>),
    Info(oneshot::Sender<Option<DeviceInfo>>),
    State(oneshot::Sender<AcceptorState>),
}

/// Cloneable handle to the acceptor task.
#[derive(Debug, Clone)]
pub struct AcceptorHandle {
    tx: mpsc::Sender<Request>,
}

impl AcceptorHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, ActorError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| ActorError::Stopped)?;
        rx.await.map_err(|_| ActorError::Stopped)
    }

    /// Accept notes of these values (others inhibited).
    pub async fn enable(&self, accept_fen: &[u64]) -> Result<(), ActorError> {
        self.ask(|r| Request::Enable(accept_fen.to_vec(), r))
            .await?
    }

    pub async fn disable(&self) -> Result<(), ActorError> {
        self.ask(Request::Disable).await?
    }

    /// Accept the note in escrow.
    pub async fn stack(&self) -> Result<(), ActorError> {
        self.ask(Request::Stack).await?
    }

    /// Hand the note in escrow back.
    pub async fn return_note(&self) -> Result<(), ActorError> {
        self.ask(Request::Return).await?
    }

    /// What the acceptor said about itself at the last connect.
    pub async fn info(&self) -> Result<DeviceInfo, ActorError> {
        self.ask(Request::Info)
            .await?
            .ok_or(ActorError::NotConnected)
    }

    pub async fn state(&self) -> Result<AcceptorState, ActorError> {
        self.ask(Request::State).await
    }
}

/// Starts the actor task for `acceptor`. `poll_interval` is clamped to 200–1000 ms.
/// Needs a tokio runtime.
pub fn spawn<A: BillAcceptor + 'static>(
    acceptor: A,
    poll_interval: Duration,
) -> (AcceptorHandle, mpsc::Receiver<AcceptorEvent>) {
    let (tx, rx) = mpsc::channel(16);
    let (events_tx, events_rx) = mpsc::channel(256);
    let interval = poll_interval.clamp(POLL_INTERVAL_RANGE.0, POLL_INTERVAL_RANGE.1);
    tokio::spawn(run(acceptor, interval, rx, events_tx));
    (AcceptorHandle { tx }, events_rx)
}

struct Actor<A> {
    acceptor: A,
    info: Option<DeviceInfo>,
    /// What the application last enabled; restored after a reconnect.
    enabled: Option<Vec<u64>>,
    events: mpsc::Sender<AcceptorEvent>,
}

impl<A: BillAcceptor> Actor<A> {
    async fn emit(&mut self, event: AcceptorEvent) {
        if self.events.send(event).await.is_err() {
            tracing::debug!("nobody listens to bill acceptor events");
        }
    }

    async fn lost(&mut self, error: &Error) {
        if self.info.take().is_some() {
            tracing::warn!(%error, "bill acceptor lost");
            self.emit(AcceptorEvent::DeviceLost {
                reason: error.to_string(),
            })
            .await;
        }
    }

    async fn connect(&mut self) {
        match self.acceptor.connect().await {
            Ok(info) => {
                self.info = Some(info.clone());
                self.emit(AcceptorEvent::Connected { info }).await;
                if let Some(values) = self.enabled.clone()
                    && let Err(e) = self.acceptor.enable(&values).await
                {
                    self.lost(&e).await;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "bill acceptor connect failed");
            }
        }
    }

    /// Runs a device command; a link failure marks the device lost.
    async fn device(&mut self, op: Op<'_>) -> Result<(), ActorError> {
        if self.info.is_none() {
            return Err(ActorError::NotConnected);
        }
        let result = match op {
            Op::Enable(values) => self.acceptor.enable(values).await,
            Op::Disable => self.acceptor.disable().await,
            Op::Stack => self.acceptor.stack().await,
            Op::Return => self.acceptor.return_note().await,
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                if matches!(e, Error::Io(_) | Error::NoAnswer { .. }) {
                    self.lost(&e).await;
                }
                Err(e.into())
            }
        }
    }
}

enum Op<'a> {
    Enable(&'a [u64]),
    Disable,
    Stack,
    Return,
}

async fn run<A: BillAcceptor>(
    acceptor: A,
    interval: Duration,
    mut requests: mpsc::Receiver<Request>,
    events: mpsc::Sender<AcceptorEvent>,
) {
    let mut actor = Actor {
        acceptor,
        info: None,
        enabled: None,
        events,
    };
    actor.connect().await;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_attempt = tokio::time::Instant::now();
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { break };
                match request {
                    Request::Enable(values, reply) => {
                        let r = actor.device(Op::Enable(&values)).await;
                        if r.is_ok() {
                            actor.enabled = Some(values);
                        }
                        let _ = reply.send(r);
                    }
                    Request::Disable(reply) => {
                        actor.enabled = None;
                        let r = actor.device(Op::Disable).await;
                        let _ = reply.send(r);
                    }
                    Request::Stack(reply) => {
                        let r = actor.device(Op::Stack).await;
                        let _ = reply.send(r);
                    }
                    Request::Return(reply) => {
                        let r = actor.device(Op::Return).await;
                        let _ = reply.send(r);
                    }
                    Request::Info(reply) => {
                        let _ = reply.send(actor.info.clone());
                    }
                    Request::State(reply) => {
                        let state = if actor.info.is_some() {
                            actor.acceptor.state()
                        } else {
                            AcceptorState::Failure
                        };
                        let _ = reply.send(state);
                    }
                }
            }
            _ = ticker.tick() => {
                if actor.info.is_none() {
                    if last_attempt.elapsed() >= RECONNECT_INTERVAL {
                        last_attempt = tokio::time::Instant::now();
                        actor.connect().await;
                    }
                    continue;
                }
                match actor.acceptor.poll().await {
                    Ok(events) => {
                        for e in events {
                            actor.emit(e).await;
                        }
                    }
                    Err(e) => {
                        last_attempt = tokio::time::Instant::now();
                        actor.lost(&e).await;
                    }
                }
            }
        }
    }
    if actor.info.is_some()
        && let Err(e) = actor.acceptor.disable().await
    {
        tracing::debug!(error = %e, "could not disable the acceptor on shutdown");
    }
}
