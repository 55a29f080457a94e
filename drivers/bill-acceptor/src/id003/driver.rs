//! The thin async shell around [`Host`]: moves bytes between the state machine and a
//! [`devio::Transport`], and sleeps until the machine's next deadline.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::host::{Config, Done, Host, Op};
use crate::{AcceptorEvent, AcceptorState, BillAcceptor, DeviceInfo, Error};

/// A JCM ID-003 acceptor on a byte stream (open the serial port at 9600 8E1,
/// [`crate::Protocol::line_settings`]).
///
/// Events met outside [`BillAcceptor::poll`] — a power-up with a note in the stacker
/// found by [`BillAcceptor::connect`], say — are kept and returned by the next poll.
/// If a call's future is dropped half-way, the next call starts afresh.
#[derive(Debug)]
pub struct Id003<T: devio::Transport> {
    io: T,
    host: Host,
    info: Option<DeviceInfo>,
}

impl<T: devio::Transport> Id003<T> {
    /// A driver with the default timing ([`Config::default`]).
    pub fn new(transport: T) -> Self {
        Self::with_config(transport, Config::default())
    }

    /// A driver with explicit timing and country-code settings.
    pub fn with_config(transport: T, config: Config) -> Self {
        Self {
            io: transport,
            host: Host::new(config),
            info: None,
        }
    }

    /// What [`BillAcceptor::connect`] read, if it ran.
    pub fn device_info(&self) -> Option<&DeviceInfo> {
        self.info.as_ref()
    }

    /// The pure state machine (for the last status and the currency table).
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Gives the transport back.
    pub fn into_inner(self) -> T {
        self.io
    }

    async fn run(&mut self, op: Op) -> Result<Done, Error> {
        self.host.begin(op, Instant::now())?;
        let mut buf = [0u8; 256];
        loop {
            let mut wrote = false;
            while let Some(bytes) = self.host.poll_transmit() {
                self.io.write_all(&bytes).await?;
                wrote = true;
            }
            if wrote {
                self.io.flush().await?;
            }
            if let Some(done) = self.host.poll_done() {
                return done;
            }
            let Some(deadline) = self.host.poll_timeout() else {
                // Nothing in flight and not done cannot happen; guard against a stall.
                return Err(Error::Protocol("ID-003: host machine stalled".into()));
            };
            let deadline = tokio::time::Instant::from_std(deadline);
            match tokio::time::timeout_at(deadline, self.io.read(&mut buf)).await {
                Ok(Ok(0)) => {
                    return Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "acceptor line closed",
                    )));
                }
                Ok(Ok(n)) => {
                    let got = buf.get(..n).unwrap_or_default();
                    tracing::trace!(bytes = ?got, "ID-003 rx");
                    self.host.handle_bytes(got, Instant::now());
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                    self.host.handle_timeout(Instant::now());
                }
                Ok(Err(e)) => return Err(Error::Io(e)),
                Err(_) => self.host.handle_timeout(Instant::now()),
            }
        }
    }
}

impl<T: devio::Transport> BillAcceptor for Id003<T> {
    async fn connect(&mut self) -> Result<DeviceInfo, Error> {
        match self.run(Op::Connect).await? {
            Done::Connected(info) => {
                self.info = Some(info.clone());
                Ok(info)
            }
            Done::Ok => Ok(self.host.device_info()),
        }
    }

    async fn enable(&mut self, accept_fen: &[u64]) -> Result<(), Error> {
        self.run(Op::Enable(accept_fen.to_vec())).await.map(|_| ())
    }

    async fn disable(&mut self) -> Result<(), Error> {
        self.run(Op::Disable).await.map(|_| ())
    }

    async fn poll(&mut self) -> Result<Vec<AcceptorEvent>, Error> {
        let result = self.run(Op::Poll).await;
        let events = self.host.take_events();
        match result {
            Ok(_) => Ok(events),
            Err(e) if events.is_empty() => Err(e),
            Err(e) => {
                // Never lose an event (a credit may be among them): report them now, the
                // failure shows again on the next poll if it persists.
                tracing::warn!(error = %e, "ID-003 poll failed after events");
                Ok(events)
            }
        }
    }

    async fn stack(&mut self) -> Result<(), Error> {
        self.run(Op::Stack).await.map(|_| ())
    }

    async fn return_note(&mut self) -> Result<(), Error> {
        self.run(Op::Return).await.map(|_| ())
    }

    fn state(&self) -> AcceptorState {
        self.host.state()
    }
}
