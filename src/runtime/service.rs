//! Service mode from a terminal: the running kiosk listens on a local socket (a Unix
//! socket only its owner may open) and `telekiosk service …` talks to it. A technician who
//! comes in over SSH works through the kiosk's own actors — never by opening a device's
//! port beside it.
//!
//! One request per connection, one JSON line each way:
//!
//! ```text
//! → {"op":"status"}
//! ← {"ok":true,"result":{…}}
//! → {"op":"clearance","technician":"T01","emptied":true}
//! ← {"ok":false,"error":"enter service mode first (telekiosk service enter --technician ID)"}
//! ```
//!
//! The supervisor answers every request from its main loop (`Kiosk::on_service`); this
//! module only moves the lines. Reads and writes are bounded in size and time.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// The longest request line read.
const MAX_LINE: u64 = 16 * 1024;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an answer may take: entering waits for the customer being served.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// What a technician asks the running kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServiceRequest {
    /// The kiosk as the technician sees it: state, devices, link, stock, counters, errors.
    Status,
    /// Service mode: no new customers (the current one finishes first).
    Enter { technician: String },
    /// Back into service (or out of service, saying which device is still at fault).
    Exit,
    /// Cash-box clearance (清机): the technician has emptied the box.
    Clearance { technician: String, emptied: bool },
    /// Card restock (放卡维护): blank SIMs added, and whether the reject bin was emptied.
    Restock {
        technician: String,
        added: u32,
        bin_emptied: bool,
    },
    /// A test receipt through the kiosk's printer.
    TestReceipt,
    /// A photo through the kiosk's camera, checked for quality (brightness, sharpness,
    /// contrast, over-exposure); the picture itself is dropped.
    TestCamera,
    /// The kiosk's recent log lines (masked like every log line), for a file.
    Logs,
    /// Reads the ID card placed on the reader within `wait_s` seconds (the kiosk's own
    /// actor; the answer is masked and nothing of the card is kept).
    TestIdCard { wait_s: u32 },
    /// Takes a note into escrow within `wait_s` seconds and hands it back: the acceptor
    /// reads and validates, nothing is kept.
    TestNote { wait_s: u32 },
    /// One blank card from the stacker past the IC contacts (its ICCID read) into the
    /// reject bin, journaled as a card moved by the technician.
    TestCard,
}

impl ServiceRequest {
    /// The short name in the journal and the logs.
    pub fn name(&self) -> &'static str {
        match self {
            ServiceRequest::Status => "status",
            ServiceRequest::Enter { .. } => "enter",
            ServiceRequest::Exit => "exit",
            ServiceRequest::Clearance { .. } => "clearance",
            ServiceRequest::Restock { .. } => "restock",
            ServiceRequest::TestReceipt => "test_receipt",
            ServiceRequest::TestIdCard { .. } => "test_id_card",
            ServiceRequest::Logs => "logs",
            ServiceRequest::TestCamera => "test_camera",
            ServiceRequest::TestNote { .. } => "test_note",
            ServiceRequest::TestCard => "test_card",
        }
    }
}

/// The kiosk's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceReply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ServiceReply {
    pub fn ok(result: serde_json::Value) -> Self {
        Self {
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    pub fn refused(error: impl Into<String>) -> Self {
        Self {
            ok: false,
            result: None,
            error: Some(error.into()),
        }
    }
}

/// A request on its way to the supervisor, with where its answer goes.
#[derive(Debug)]
pub struct ServiceCall {
    pub request: ServiceRequest,
    pub reply: oneshot::Sender<ServiceReply>,
}

/// Why the socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("another kiosk is running: its service socket {0} answers")]
    InUse(String),
    #[error("cannot open the service socket {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Opens the service socket at `path` (owner-only), taking over a stale one left by a kiosk
/// that was killed. Not yet serving: [`serve`] does that on the kiosk's runtime.
pub fn bind(path: &Path) -> Result<std::os::unix::net::UnixListener, BindError> {
    let io = |source| BindError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(BindError::InUse(path.display().to_string()));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    listener.set_nonblocking(true).map_err(io)?;
    Ok(listener)
}

/// Serves the socket until the supervisor is gone: each connection's request goes to
/// `calls`, its answer back on the same connection.
pub async fn serve(listener: std::os::unix::net::UnixListener, calls: mpsc::Sender<ServiceCall>) {
    let listener = match tokio::net::UnixListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "the service socket cannot be served");
            return;
        }
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, calls.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "service socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            () = calls.closed() => return,
        }
    }
}

async fn connection(stream: tokio::net::UnixStream, calls: mpsc::Sender<ServiceCall>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_LINE));
    let reply = match tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line)).await {
        Err(_) => ServiceReply::refused("no request within 10 s"),
        Ok(Err(e)) => ServiceReply::refused(format!("unreadable request: {e}")),
        Ok(Ok(_)) if !line.ends_with('\n') => {
            ServiceReply::refused("the request is not one line of JSON (16 KiB at most)")
        }
        Ok(Ok(_)) => match serde_json::from_str::<ServiceRequest>(&line) {
            Err(e) => ServiceReply::refused(format!("not a service request: {e}")),
            Ok(request) => {
                tracing::info!(op = request.name(), "service request");
                let (tx, rx) = oneshot::channel();
                if calls
                    .send(ServiceCall { request, reply: tx })
                    .await
                    .is_err()
                {
                    ServiceReply::refused("the kiosk is stopping")
                } else {
                    match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
                        Ok(Ok(r)) => r,
                        Ok(Err(_)) => ServiceReply::refused("the kiosk is stopping"),
                        Err(_) => ServiceReply::refused("the kiosk did not answer within 5 min"),
                    }
                }
            }
        },
    };
    let mut text = serde_json::to_string(&reply).unwrap_or_else(|_| "{\"ok\":false}".into());
    text.push('\n');
    if let Err(e) = write.write_all(text.as_bytes()).await {
        tracing::debug!(error = %e, "service client left before its answer");
    }
}

/// Why a request from the terminal got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no kiosk is running here (nothing answers on {0}); for a bench without the kiosk use `telekiosk diag …`"
    )]
    NotRunning(String),
    #[error("the service socket {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the kiosk's answer is not understood: {0}")]
    Answer(String),
}

/// Sends one request to the kiosk listening on `path` and waits for its answer.
pub async fn ask(path: &Path, request: &ServiceRequest) -> Result<ServiceReply, ClientError> {
    let shown = path.display().to_string();
    let stream = match tokio::net::UnixStream::connect(path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ClientError::NotRunning(shown));
        }
        Err(source) => {
            return Err(ClientError::Io {
                path: shown,
                source,
            });
        }
    };
    let io = |source| ClientError::Io {
        path: path.display().to_string(),
        source,
    };
    let (read, mut write) = stream.into_split();
    let mut line =
        serde_json::to_string(request).map_err(|e| ClientError::Answer(e.to_string()))?;
    line.push('\n');
    write.write_all(line.as_bytes()).await.map_err(io)?;
    let mut answer = String::new();
    let mut reader = BufReader::new(read.take(4 * 1024 * 1024));
    match tokio::time::timeout(
        ANSWER_TIMEOUT + Duration::from_secs(5),
        reader.read_line(&mut answer),
    )
    .await
    {
        Err(_) => return Err(ClientError::Answer("no answer within 5 min".into())),
        Ok(r) => {
            r.map_err(io)?;
        }
    }
    serde_json::from_str(&answer).map_err(|e| ClientError::Answer(e.to_string()))
}

/// Where the service socket is when the configuration does not say.
pub fn default_socket() -> PathBuf {
    PathBuf::from("/run/telekiosk/service.sock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_tagged_json_object() {
        let r = ServiceRequest::Restock {
            technician: "T01".into(),
            added: 50,
            bin_emptied: true,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"op":"restock","technician":"T01","added":50,"bin_emptied":true}"#
        );
        assert_eq!(serde_json::from_str::<ServiceRequest>(&text).unwrap(), r);
        assert!(serde_json::from_str::<ServiceRequest>(r#"{"op":"format_disk"}"#).is_err());
        assert!(
            serde_json::from_str::<ServiceRequest>(r#"{"op":"enter","technician":"T1","pin":1}"#)
                .is_err(),
            "unknown fields are refused"
        );
    }

    #[tokio::test]
    async fn the_socket_is_owner_only_answers_each_line_and_refuses_junk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("service.sock");
        let listener = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (tx, mut rx) = mpsc::channel::<ServiceCall>(4);
        tokio::spawn(serve(listener, tx));
        tokio::spawn(async move {
            while let Some(call) = rx.recv().await {
                let _ = call.reply.send(ServiceReply::ok(
                    serde_json::json!({"op": call.request.name()}),
                ));
            }
        });
        let r = ask(&path, &ServiceRequest::Status).await.unwrap();
        assert_eq!(r.result, Some(serde_json::json!({"op": "status"})));
        // A second kiosk on the same socket is refused while the first one answers.
        assert!(matches!(bind(&path), Err(BindError::InUse(_))));
        // Junk gets an answer that says so, not a hang.
        let mut s = tokio::net::UnixStream::connect(&path).await.unwrap();
        s.write_all(b"{\"op\":\"launch\"}\n").await.unwrap();
        let mut answer = String::new();
        BufReader::new(s).read_line(&mut answer).await.unwrap();
        let r: ServiceReply = serde_json::from_str(&answer).unwrap();
        assert!(!r.ok && r.error.unwrap().contains("not a service request"));
    }

    #[tokio::test]
    async fn no_kiosk_is_said_plainly_and_a_stale_socket_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.sock");
        let e = ask(&path, &ServiceRequest::Status).await.unwrap_err();
        assert!(matches!(e, ClientError::NotRunning(_)), "{e}");
        assert!(e.to_string().contains("telekiosk diag"), "{e}");
        // A socket file left by a killed kiosk: nothing answers, the next kiosk takes it.
        drop(bind(&path).unwrap());
        assert!(path.exists());
        let e = ask(&path, &ServiceRequest::Status).await.unwrap_err();
        assert!(matches!(e, ClientError::NotRunning(_)), "{e}");
        bind(&path).expect("a stale socket is taken over");
    }
}
