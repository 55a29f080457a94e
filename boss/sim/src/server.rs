//! The TLS 1.3 server: one task per connection, mutual authentication — a gateway (the
//! self-service system server, docs/boss-protocol.md §10) by the gateway CA, or a kiosk
//! speaking for itself by the kiosk CA —, requests answered by [`Service`]. The operator
//! sends no pushes: those are head office's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use boss_protocol::codec::{Body, DecodeError, Envelope};
use boss_protocol::io::{ReadError, read_envelope, write_envelope};
use boss_protocol::{ErrorBody, ErrorCode, Reply, Request};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use crate::faults::Faults;
use crate::service::Service;

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// Requests of one connection handled at the same time (a gateway multiplexes many kiosks).
pub const MAX_IN_FLIGHT: usize = 64;
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

/// Everything a connection task needs.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The business system.
    pub service: Arc<Service>,
    /// Live faults.
    pub faults: Arc<Faults>,
    /// Normal TLS configuration.
    pub tls: Arc<ServerConfig>,
    /// Configuration with a server certificate from an untrusted CA (the wrong-certificate
    /// fault).
    pub wrong_tls: Arc<ServerConfig>,
    /// Recognises gateway certificates (none when the PKI has no gateway CA).
    pub gateway: Option<Arc<boss_protocol::pki::GatewayCheck>>,
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
    #[error("idle for too long")]
    Idle,
}

fn error_reply(code: ErrorCode, msg: &str) -> Reply {
    Reply::Error(ErrorBody::new(code, msg))
}

/// Who is at the other end of a connection, from its verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Peer {
    /// A kiosk, by the id in its certificate.
    Kiosk(String),
    /// A gateway (the self-service system server) forwarding for kiosks it names in
    /// `on_behalf_of` (docs/boss-protocol.md §10).
    Gateway(String),
}

impl Peer {
    fn name(&self) -> &str {
        match self {
            Peer::Kiosk(id) | Peer::Gateway(id) => id,
        }
    }
}

/// What a request handler tells the connection loop.
enum Done {
    /// Write this response.
    Reply(Envelope),
    /// The drop-after-commit fault: close the connection without answering.
    Drop,
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
    let who = {
        let (_, conn) = tls.get_ref();
        let chain = conn.peer_certificates().unwrap_or_default();
        match shared.gateway.as_ref().and_then(|g| g.identify(chain)) {
            Some(gw) => Peer::Gateway(gw),
            None => Peer::Kiosk(
                chain
                    .first()
                    .and_then(|c| boss_protocol::pki::kiosk_id_from_cert(c).ok())
                    .ok_or(ConnError::NoKioskId)?,
            ),
        }
    };
    match &who {
        Peer::Kiosk(k) => tracing::info!(%peer, kiosk = %k, "kiosk connected"),
        Peer::Gateway(g) => tracing::info!(%peer, gateway = %g, "gateway connected"),
    }
    let (mut rd, mut wr) = tokio::io::split(tls);
    // Reading a frame is not cancel-safe, so a task of its own reads and hands whole
    // envelopes over a channel (whose `recv` is).
    let (in_tx, mut in_rx) = mpsc::channel::<Result<Option<Envelope>, ReadError>>(8);
    let reader = tokio::spawn(async move {
        loop {
            let r = read_envelope(&mut rd).await;
            // A body that does not parse (unknown op included) leaves the stream in sync.
            let last = !matches!(r, Ok(Some(_)))
                && !matches!(&r, Err(ReadError::Decode(e)) if e.is_recoverable());
            if in_tx.send(r).await.is_err() || last {
                break;
            }
        }
    });
    // Requests are handled concurrently (a gateway multiplexes many kiosks on one
    // connection); their answers come back here to be written in completion order.
    let (done_tx, mut done_rx) = mpsc::channel::<Done>(MAX_IN_FLIGHT);
    let in_flight_requests = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let service = shared.service.clone();
    let mut greeted = false;
    let kiosk_id = who.name().to_owned();

    let result: Result<(), ConnError> = async {
        loop {
            tokio::select! {
                biased;
                done = done_rx.recv() => {
                    match done {
                        Some(Done::Reply(env)) => write_envelope(&mut wr, &env).await?,
                        Some(Done::Drop) => {
                            tracing::warn!(peer = %kiosk_id, "fault: committed, dropping the connection before the answer");
                            return Ok(());
                        }
                        None => {}
                    }
                }
                env = tokio::time::timeout(IDLE_TIMEOUT, in_rx.recv()) => {
                    let env = match env {
                        Err(_) => return Err(ConnError::Idle),
                        Ok(None | Some(Ok(None))) => return Ok(()),
                        Ok(Some(Ok(Some(env)))) => env,
                        Ok(Some(Err(ReadError::Decode(DecodeError::UnknownOp { id, op })))) => {
                            let op: String = op.chars().take(64).collect();
                            let msg = format!("operation {op} not supported by this business system");
                            write_envelope(&mut wr, &Envelope::response(id, error_reply(ErrorCode::UnknownOp, &msg))).await?;
                            continue;
                        }
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
                            // On whose behalf: a kiosk speaks for itself only; a gateway
                            // names the kiosk for every business request.
                            let acting = match (&who, env.on_behalf_of) {
                                (Peer::Kiosk(k), None) => k.clone(),
                                (Peer::Kiosk(_), Some(_)) => {
                                    let reply = error_reply(ErrorCode::BadRequest, "on_behalf_of is honoured only from a gateway certificate");
                                    write_envelope(&mut wr, &Envelope::response(env.id, reply)).await?;
                                    continue;
                                }
                                (Peer::Gateway(_), Some(k)) if boss_protocol::pki::is_valid_kiosk_id(&k) => k,
                                (Peer::Gateway(g), None) if matches!(req, Request::Hello(_) | Request::Heartbeat(_)) => {
                                    // The gateway's own session: answered here, no kiosk involved.
                                    let reply = gateway_session_reply(g, &req);
                                    write_envelope(&mut wr, &Envelope::response(env.id, reply)).await?;
                                    greeted = true;
                                    continue;
                                }
                                (Peer::Gateway(_), _) => {
                                    let reply = error_reply(ErrorCode::BadRequest, "a gateway must name the kiosk (on_behalf_of, a valid kiosk id)");
                                    write_envelope(&mut wr, &Envelope::response(env.id, reply)).await?;
                                    continue;
                                }
                            };
                            if is_hello {
                                // Kiosk hello: handled in line, the session starts after it.
                                let svc = service.clone();
                                let handled = tokio::task::spawn_blocking(move || svc.handle(&acting, req))
                                    .await
                                    .unwrap_or_else(|_| crate::service::Handled {
                                        reply: error_reply(ErrorCode::Internal, "handler failed; nothing applied"),
                                        committed_now: false,
                                    });
                                if matches!(handled.reply, Reply::Ok(_)) {
                                    greeted = true;
                                }
                                write_envelope(&mut wr, &Envelope::response(env.id, handled.reply)).await?;
                                continue;
                            }
                            // Bounded concurrency per connection: past the limit, reading
                            // waits (the peer's frames queue up in TCP).
                            let Ok(permit) = in_flight_requests.clone().acquire_owned().await else { continue };
                            let (svc, faults, done) = (service.clone(), shared.faults.clone(), done_tx.clone());
                            let id = env.id;
                            tokio::spawn(async move {
                                let _permit = permit;
                                let latency = faults.latency();
                                if !latency.is_zero() {
                                    tokio::time::sleep(latency).await;
                                }
                                if faults.inject_error() {
                                    let reply = Reply::Error(ErrorBody {
                                        code: ErrorCode::Unavailable,
                                        message: "fault injection: business system unavailable, nothing applied".into(),
                                        retry_after_ms: Some(500), tries_left: None, locked_until_ms: None,
                                    });
                                    let _ = done.send(Done::Reply(Envelope::response(id, reply))).await;
                                    return;
                                }
                                let handled = tokio::task::spawn_blocking(move || svc.handle(&acting, req))
                                    .await
                                    .unwrap_or_else(|_| crate::service::Handled {
                                        reply: error_reply(ErrorCode::Internal, "handler failed; nothing applied"),
                                        committed_now: false,
                                    });
                                let out = if handled.committed_now && faults.take_drop_after_commit() {
                                    Done::Drop
                                } else {
                                    Done::Reply(Envelope::response(id, handled.reply))
                                };
                                let _ = done.send(out).await;
                            });
                        }
                        Body::Ack(_) | Body::Response(_) | Body::Push(_) => {
                            // The operator sends no pushes, so it expects no acknowledgement.
                            tracing::warn!(peer = %kiosk_id, "unexpected message kind from a client; ignored");
                        }
                    }
                }
            }
        }
    }
    .await;
    reader.abort();
    tracing::info!(%peer, who = %kiosk_id, "client disconnected");
    result
}

/// Hello and heartbeat of a gateway's own session (no kiosk named).
fn gateway_session_reply(gateway: &str, req: &Request) -> Reply {
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
    )
    .unwrap_or(0);
    match req {
        Request::Hello(_) => Reply::Ok(boss_protocol::Response::Hello(boss_protocol::HelloOk {
            kiosk_id: gateway.to_owned(),
            server_time_ms: now,
            heartbeat_interval_ms: crate::service::HEARTBEAT_INTERVAL_MS,
            config_version: None,
            locked: None,
            journal_acked_seq: None,
        })),
        _ => Reply::Ok(boss_protocol::Response::Heartbeat(
            boss_protocol::HeartbeatOk {
                server_time_ms: now,
            },
        )),
    }
}
