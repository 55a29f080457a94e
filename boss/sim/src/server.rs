//! The TLS 1.3 server: one task per kiosk connection, mutual authentication with the kiosk
//! CA, kiosk id taken from the client certificate, requests answered by [`Service`], pushes
//! delivered from the store and acknowledged.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boss_protocol::codec::{Body, DecodeError, Envelope};
use boss_protocol::io::{ReadError, read_envelope, write_envelope};
use boss_protocol::{ErrorBody, ErrorCode, Push, Reply, Request};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use crate::faults::Faults;
use crate::service::Service;
use crate::store::{PushRow, StoreError};

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// A connection silent for three heartbeat intervals is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_millis(3 * crate::service::HEARTBEAT_INTERVAL_MS);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address is not a loopback address: the simulator never listens on a network.
    #[error("refusing to listen on {0}: boss-sim listens on loopback only")]
    NotLoopback(SocketAddr),
    /// Binding failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A kiosk connected right now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Connected {
    /// Kiosk id from its certificate.
    pub kiosk_id: String,
    /// Its address.
    pub peer: String,
    /// Connected since, Unix seconds.
    pub since: i64,
    /// Pushes written and not yet acknowledged on this connection.
    pub pushes_in_flight: usize,
    #[serde(skip)]
    conn: u64,
    #[serde(skip)]
    tx: mpsc::Sender<PushRow>,
}

/// Connected kiosks and a way to reach each.
#[derive(Debug, Default)]
pub struct Hub {
    conns: Mutex<HashMap<String, Connected>>,
    next: AtomicU64,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Connected>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Kiosks connected now, by id.
    #[must_use]
    pub fn connected(&self) -> Vec<Connected> {
        let mut v: Vec<Connected> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| a.kiosk_id.cmp(&b.kiosk_id));
        v
    }

    /// Hands a queued push to the kiosk's connection, if it is connected. Returns whether
    /// it was handed over (it stays in the store until acknowledged either way).
    pub fn deliver(&self, push: PushRow) -> bool {
        let tx = self.lock().get(&push.kiosk_id).map(|c| c.tx.clone());
        tx.is_some_and(|tx| tx.try_send(push).is_ok())
    }
}

/// Everything a connection task needs.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The business system.
    pub service: Arc<Service>,
    /// Live faults.
    pub faults: Arc<Faults>,
    /// Connected kiosks.
    pub hub: Arc<Hub>,
    /// Normal TLS configuration.
    pub tls: Arc<ServerConfig>,
    /// Configuration with a server certificate from an untrusted CA (the wrong-certificate
    /// fault).
    pub wrong_tls: Arc<ServerConfig>,
}

/// Binds `addr` (loopback only).
///
/// # Errors
/// [`ServeError`].
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    if !addr.ip().is_loopback() {
        return Err(ServeError::NotLoopback(addr));
    }
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Accepts connections forever, one task each.
pub async fn serve(listener: TcpListener, shared: Shared) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if shared.faults.refuse() {
            tracing::info!(%peer, "fault: connection refused");
            drop(tcp);
            continue;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(tcp, peer, shared).await {
                tracing::info!(%peer, error = %e, "connection ended");
            }
        });
    }
}

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("TLS handshake failed: {0}")]
    Handshake(std::io::Error),
    #[error("TLS handshake timed out")]
    HandshakeTimeout,
    #[error("no usable kiosk id in the client certificate")]
    NoKioskId,
    #[error("read: {0}")]
    Read(#[from] ReadError),
    #[error("write: {0}")]
    Write(#[from] boss_protocol::io::WriteError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("idle for too long")]
    Idle,
}

fn error_reply(code: ErrorCode, msg: &str) -> Reply {
    Reply::Error(ErrorBody::new(code, msg))
}

fn push_of(row: &PushRow) -> Option<Push> {
    serde_json::from_str(&row.payload).ok()
}

async fn connection(tcp: TcpStream, peer: SocketAddr, shared: Shared) -> Result<(), ConnError> {
    tcp.set_nodelay(true).ok();
    let cfg = if shared.faults.wrong_certificate() {
        shared.wrong_tls.clone()
    } else {
        shared.tls.clone()
    };
    let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(cfg).accept(tcp))
        .await
        .map_err(|_| ConnError::HandshakeTimeout)?
        .map_err(ConnError::Handshake)?;
    let kiosk_id = {
        let (_, conn) = tls.get_ref();
        conn.peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| boss_protocol::pki::kiosk_id_from_cert(c).ok())
            .ok_or(ConnError::NoKioskId)?
    };
    tracing::info!(%peer, kiosk = %kiosk_id, "kiosk connected");
    let (mut rd, mut wr) = tokio::io::split(tls);
    // Reading a frame is not cancel-safe, so a task of its own reads and hands whole
    // envelopes over a channel (whose `recv` is).
    let (in_tx, mut in_rx) = mpsc::channel::<Result<Option<Envelope>, ReadError>>(8);
    let reader = tokio::spawn(async move {
        loop {
            let r = read_envelope(&mut rd).await;
            let last = !matches!(r, Ok(Some(_)))
                && !matches!(r, Err(ReadError::Decode(DecodeError::BadBody { .. })));
            if in_tx.send(r).await.is_err() || last {
                break;
            }
        }
    });
    let (push_tx, mut push_rx) = mpsc::channel::<PushRow>(64);
    let conn_id = shared.hub.next.fetch_add(1, Ordering::SeqCst);
    let service = shared.service.clone();
    let mut greeted = false;
    let mut in_flight: HashMap<u64, i64> = HashMap::new();

    let result: Result<(), ConnError> = async {
        loop {
            tokio::select! {
                biased;
                push = push_rx.recv(), if greeted => {
                    let Some(row) = push else { continue };
                    if in_flight.values().any(|id| *id == row.push_id) {
                        continue;
                    }
                    let Some(p) = push_of(&row) else { continue };
                    let id = u64::try_from(row.push_id).unwrap_or(0);
                    write_envelope(&mut wr, &Envelope::push(id, p)).await?;
                    service.store().push_sent(row.push_id, service.clock().now_unix())?;
                    in_flight.insert(id, row.push_id);
                }
                env = tokio::time::timeout(IDLE_TIMEOUT, in_rx.recv()) => {
                    let env = match env {
                        Err(_) => return Err(ConnError::Idle),
                        Ok(None | Some(Ok(None))) => return Ok(()),
                        Ok(Some(Ok(Some(env)))) => env,
                        Ok(Some(Err(ReadError::Decode(DecodeError::BadBody { id, kind, op, .. })))) => {
                            if kind == boss_protocol::Kind::Request {
                                let msg = format!("cannot parse request {}", op.unwrap_or_default());
                                write_envelope(&mut wr, &Envelope::response(id, error_reply(ErrorCode::BadRequest, &msg))).await?;
                            }
                            continue;
                        }
                        Ok(Some(Err(ReadError::Decode(DecodeError::UnsupportedVersion { id, .. })))) => {
                            let reply = error_reply(ErrorCode::UnsupportedVersion, "this business system speaks protocol version 1");
                            write_envelope(&mut wr, &Envelope::response(id, reply)).await?;
                            return Ok(());
                        }
                        Ok(Some(Err(e))) => return Err(e.into()),
                    };
                    match env.body {
                        Body::Request(req) => {
                            let is_hello = matches!(req, Request::Hello(_));
                            if !greeted && !is_hello {
                                let reply = error_reply(ErrorCode::HelloRequired, "send hello first");
                                write_envelope(&mut wr, &Envelope::response(env.id, reply)).await?;
                                continue;
                            }
                            let latency = shared.faults.latency();
                            if !latency.is_zero() {
                                tokio::time::sleep(latency).await;
                            }
                            if !is_hello && shared.faults.inject_error() {
                                let reply = Reply::Error(ErrorBody {
                                    code: ErrorCode::Unavailable,
                                    message: "fault injection: business system unavailable, nothing applied".into(),
                                    retry_after_ms: Some(500),
                                });
                                write_envelope(&mut wr, &Envelope::response(env.id, reply)).await?;
                                continue;
                            }
                            let svc = service.clone();
                            let kid = kiosk_id.clone();
                            let handled = tokio::task::spawn_blocking(move || svc.handle(&kid, req))
                                .await
                                .unwrap_or_else(|_| crate::service::Handled {
                                    reply: error_reply(ErrorCode::Internal, "handler failed; nothing applied"),
                                    committed_now: false,
                                });
                            if handled.committed_now && shared.faults.take_drop_after_commit() {
                                tracing::warn!(kiosk = %kiosk_id, "fault: committed, dropping the connection before the answer");
                                return Ok(());
                            }
                            write_envelope(&mut wr, &Envelope::response(env.id, handled.reply.clone())).await?;
                            if is_hello && matches!(handled.reply, Reply::Ok(_)) && !greeted {
                                greeted = true;
                                let old = shared.hub.lock().insert(kiosk_id.clone(), Connected {
                                    kiosk_id: kiosk_id.clone(),
                                    peer: peer.to_string(),
                                    since: service.clock().now_unix(),
                                    pushes_in_flight: 0,
                                    conn: conn_id,
                                    tx: push_tx.clone(),
                                });
                                drop(old);
                                for row in service.store().pending_pushes(&kiosk_id)? {
                                    let _ = push_tx.try_send(row);
                                }
                            }
                        }
                        Body::Ack(ack) => {
                            if let Some(push_id) = in_flight.remove(&env.id) {
                                let detail = serde_json::to_string(&ack).unwrap_or_default();
                                service.store().push_acked(&kiosk_id, push_id, &detail, service.clock().now_unix())?;
                                tracing::info!(kiosk = %kiosk_id, push_id, outcome = ?ack.outcome, "push acknowledged");
                            }
                        }
                        Body::Response(_) | Body::Push(_) => {
                            tracing::warn!(kiosk = %kiosk_id, "unexpected message kind from a kiosk; ignored");
                        }
                    }
                    if let Some(c) = shared.hub.lock().get_mut(&kiosk_id).filter(|c| c.conn == conn_id) {
                        c.pushes_in_flight = in_flight.len();
                    }
                }
            }
        }
    }
    .await;
    reader.abort();
    let mut conns = shared.hub.lock();
    if conns.get(&kiosk_id).is_some_and(|c| c.conn == conn_id) {
        conns.remove(&kiosk_id);
    }
    drop(conns);
    tracing::info!(%peer, kiosk = %kiosk_id, "kiosk disconnected");
    result
}
