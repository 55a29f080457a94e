//! The head-office control channel: a Unix socket `control.sock` in the data folder, one
//! JSON request and one JSON answer per connection. The console subcommands use it to reach
//! the running server (connected kiosks, pushes, faults); without a running server, pushes
//! are queued in the store and delivered when the kiosk next connects.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use boss_protocol::Push;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::faults::{FaultPatch, FaultSettings, Faults};
use crate::server::Hub;
use crate::store::{Store, StoreError};

/// File name of the socket inside the data folder.
pub const SOCKET: &str = "control.sock";

/// A console request.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ControlRequest {
    /// Connected kiosks.
    Kiosks,
    /// Queue a push to the kiosks named (every known or connected kiosk when empty).
    Push {
        /// Target kiosks.
        kiosks: Vec<String>,
        /// What to push.
        push: Push,
    },
    /// Read, and optionally change, the faults.
    Faults {
        /// Changes to make.
        patch: Option<FaultPatch>,
    },
}

/// A kiosk connected to the running server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Online {
    /// Kiosk id.
    pub kiosk_id: String,
    /// Peer address.
    pub peer: String,
    /// Connected since, Unix seconds.
    pub since: i64,
    /// Pushes written, not yet acknowledged.
    pub pushes_in_flight: usize,
}

/// A queued push.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Queued {
    /// Target.
    pub kiosk_id: String,
    /// Push id (the envelope id on the wire).
    pub push_id: i64,
    /// Written to a live connection now (otherwise at its next hello).
    pub delivered_now: bool,
}

/// The answer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ControlResponse {
    /// Connected kiosks.
    Kiosks {
        /// Online now.
        online: Vec<Online>,
    },
    /// Pushes queued.
    Queued {
        /// One per kiosk.
        pushes: Vec<Queued>,
    },
    /// Faults now in force.
    Faults {
        /// The settings.
        faults: FaultSettings,
    },
    /// The request failed.
    Error {
        /// Why.
        message: String,
    },
}

/// Path of the socket for a data folder.
#[must_use]
pub fn socket_path(data: &Path) -> PathBuf {
    data.join(SOCKET)
}

/// Queues `push` for each kiosk (all known ones when `kiosks` is empty), records a lock or
/// unlock in the store, and hands it to live connections through `hub` when given.
///
/// # Errors
/// SQLite's.
pub fn queue_push(
    store: &Store,
    hub: Option<&Hub>,
    kiosks: &[String],
    push: &Push,
    now: i64,
) -> Result<Vec<Queued>, StoreError> {
    let mut targets: Vec<String> = if kiosks.is_empty() {
        let mut all: Vec<String> = store.kiosks()?.into_iter().map(|k| k.kiosk_id).collect();
        if let Some(h) = hub {
            all.extend(h.connected().into_iter().map(|c| c.kiosk_id));
        }
        all
    } else {
        kiosks.to_vec()
    };
    targets.sort();
    targets.dedup();
    let payload = serde_json::to_string(push)?;
    let mut out = Vec::new();
    for k in targets {
        match push {
            Push::Lock(l) => store.set_locked(&k, true, Some(&l.reason), now)?,
            Push::Unlock(_) => store.set_locked(&k, false, None, now)?,
            _ => {}
        }
        let push_id = store.queue_push(&k, push.op(), &payload, now)?;
        let delivered_now = hub.is_some_and(|h| {
            store
                .pending_pushes(&k)
                .ok()
                .and_then(|p| p.into_iter().find(|r| r.push_id == push_id))
                .is_some_and(|row| h.deliver(row))
        });
        out.push(Queued {
            kiosk_id: k,
            push_id,
            delivered_now,
        });
    }
    Ok(out)
}

/// Binds the control socket at `path`, replacing a stale one.
///
/// # Errors
/// When the socket cannot be bound (e.g. a path longer than the 107 bytes Unix allows).
pub fn bind_control(path: &Path) -> std::io::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path)
}

/// Serves the control socket until the task is dropped.
///
/// # Errors
/// When accepting fails.
pub async fn serve_control(
    listener: UnixListener,
    store: Arc<crate::service::Service>,
    hub: Arc<Hub>,
    faults: Arc<Faults>,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let (svc, hub, faults) = (store.clone(), hub.clone(), faults.clone());
        tokio::spawn(async move {
            let _ = control_conn(stream, &svc, &hub, &faults).await;
        });
    }
}

async fn control_conn(
    stream: UnixStream,
    svc: &crate::service::Service,
    hub: &Hub,
    faults: &Faults,
) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    BufReader::new(rd).take_line(&mut line).await?;
    let answer = match serde_json::from_str::<ControlRequest>(&line) {
        Err(e) => ControlResponse::Error {
            message: format!("bad control request: {e}"),
        },
        Ok(ControlRequest::Kiosks) => ControlResponse::Kiosks {
            online: hub
                .connected()
                .into_iter()
                .map(|c| Online {
                    kiosk_id: c.kiosk_id,
                    peer: c.peer,
                    since: c.since,
                    pushes_in_flight: c.pushes_in_flight,
                })
                .collect(),
        },
        Ok(ControlRequest::Push { kiosks, push }) => {
            match queue_push(
                svc.store(),
                Some(hub),
                &kiosks,
                &push,
                svc.clock().now_unix(),
            ) {
                Ok(pushes) => ControlResponse::Queued { pushes },
                Err(e) => ControlResponse::Error {
                    message: e.to_string(),
                },
            }
        }
        Ok(ControlRequest::Faults { patch }) => {
            if let Some(p) = patch {
                faults.apply(p);
                tracing::warn!(faults = ?faults.settings(), "faults changed");
            }
            ControlResponse::Faults {
                faults: faults.settings(),
            }
        }
    };
    let mut out = serde_json::to_vec(&answer).unwrap_or_default();
    out.push(b'\n');
    wr.write_all(&out).await?;
    wr.shutdown().await
}

trait TakeLine {
    async fn take_line(&mut self, buf: &mut String) -> std::io::Result<usize>;
}

impl<R: tokio::io::AsyncRead + Unpin> TakeLine for BufReader<R> {
    async fn take_line(&mut self, buf: &mut String) -> std::io::Result<usize> {
        // A control request is small; refuse anything over 1 MiB.
        let n = self.read_line(buf).await?;
        if buf.len() > 1 << 20 {
            return Err(std::io::Error::other("control request too large"));
        }
        Ok(n)
    }
}

/// Sends one request to the running server's control socket.
///
/// # Errors
/// When no server listens there, or the answer is not understood.
pub async fn call(data: &Path, req: &ControlRequest) -> std::io::Result<ControlResponse> {
    let stream = UnixStream::connect(socket_path(data)).await?;
    let (rd, mut wr) = stream.into_split();
    let mut body = serde_json::to_vec(req)?;
    body.push(b'\n');
    wr.write_all(&body).await?;
    let mut line = String::new();
    BufReader::new(rd).take_line(&mut line).await?;
    serde_json::from_str(&line).map_err(std::io::Error::other)
}
