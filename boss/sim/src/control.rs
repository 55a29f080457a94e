//! The control channel: a Unix socket `control.sock` in the data folder, one JSON request
//! and one JSON answer per connection. `boss-sim fault` uses it to change fault injection on
//! the running server. (Pushes, locks and the fleet are head office's: `telekiosk-hq`.)

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::faults::{FaultPatch, FaultSettings, Faults};

/// File name of the socket inside the data folder.
pub const SOCKET: &str = "control.sock";

/// A control request.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ControlRequest {
    /// Read, and optionally change, the faults.
    Faults {
        /// Changes to make.
        patch: Option<FaultPatch>,
    },
}

/// The answer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ControlResponse {
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
pub async fn serve_control(listener: UnixListener, faults: Arc<Faults>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let faults = faults.clone();
        tokio::spawn(async move {
            let _ = control_conn(stream, &faults).await;
        });
    }
}

async fn control_conn(stream: UnixStream, faults: &Faults) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    BufReader::new(rd).take_line(&mut line).await?;
    let answer = match serde_json::from_str::<ControlRequest>(&line) {
        Err(e) => ControlResponse::Error {
            message: format!("bad control request: {e}"),
        },
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
