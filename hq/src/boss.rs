//! The operator's business system (BOSS) as the server sees it: the [`Boss`] interface
//! through which business operations are forwarded, and its one implementation today,
//! [`GatewayBoss`] — the documented protocol (docs/boss-protocol.md) over mutual TLS with the
//! server's gateway certificate, every request naming the kiosk in `on_behalf_of` (§10).
//! An operator with another interface writes another implementation of [`Boss`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boss_protocol::io::{ReadError, read_envelope, write_envelope};
use boss_protocol::{Body, Envelope, Hello, Reply, Request, Response};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// Why a forwarded request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BossError {
    /// The request was **not** sent (no connection to BOSS): nothing can have been applied.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The request was sent and no answer came (timeout, connection lost): the outcome is
    /// **unknown**; only `txn_status` can tell.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// A boxed future, for the object-safe [`Boss`].
pub type BossFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, BossError>> + Send + 'a>>;

/// The operator's business system, as a backend of the server.
///
/// Implementations keep the request's meaning: the kiosk's transaction id travels unchanged
/// as the idempotency key, and an answer that may have been lost is
/// [`BossError::Unknown`], never an error answer.
pub trait Boss: Send + Sync + std::fmt::Debug + 'static {
    /// Sends `req` on behalf of `kiosk_id` and waits up to `timeout` for the answer.
    fn call<'a>(&'a self, kiosk_id: &'a str, req: Request, timeout: Duration) -> BossFuture<'a>;
}

/// How to reach BOSS as a gateway.
#[derive(Clone)]
pub struct GatewayConfig {
    /// `host:port`.
    pub addr: String,
    /// Name BOSS's certificate must carry.
    pub server_name: ServerName<'static>,
    /// TLS with the gateway certificate ([`boss_protocol::pki::gateway_client_config_from_dir`]).
    pub tls: Arc<rustls::ClientConfig>,
    /// Connections kept open (requests are spread over them).
    pub connections: usize,
    /// Deadline of TCP + TLS + hello.
    pub connect_timeout: Duration,
    /// After a failed connection attempt, requests are refused (not sent) this long.
    pub retry_after: Duration,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("addr", &self.addr)
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

struct Call {
    kiosk_id: String,
    req: Request,
    timeout: Duration,
    reply: oneshot::Sender<Result<Reply, BossError>>,
}

struct Link {
    tx: mpsc::Sender<Call>,
}

impl Link {
    fn alive(&self) -> bool {
        !self.tx.is_closed()
    }
}

/// The documented protocol over mutual TLS to the operator's gateway endpoint.
pub struct GatewayBoss {
    cfg: GatewayConfig,
    slots: Vec<Mutex<Option<Link>>>,
    next: AtomicUsize,
    /// Unix ms before which no new connection is attempted.
    down_until: AtomicU64,
}

impl std::fmt::Debug for GatewayBoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayBoss")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

fn mono_ms() -> u64 {
    u64::try_from(crate::store::now_ms()).unwrap_or(0)
}

impl GatewayBoss {
    /// A gateway that connects on first use (and again after a failure).
    #[must_use]
    pub fn new(cfg: GatewayConfig) -> Self {
        let n = cfg.connections.max(1);
        Self {
            cfg,
            slots: (0..n).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            down_until: AtomicU64::new(0),
        }
    }

    fn link(&self) -> Result<mpsc::Sender<Call>, BossError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let slot = self
            .slots
            .get(i)
            .ok_or_else(|| BossError::NotSent("no slot".into()))?;
        let mut slot = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(l) = slot.as_ref().filter(|l| l.alive()) {
            return Ok(l.tx.clone());
        }
        if mono_ms() < self.down_until.load(Ordering::Relaxed) {
            return Err(BossError::NotSent(
                "business system unreachable (retrying shortly)".into(),
            ));
        }
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(run_link(self.cfg.clone(), rx));
        *slot = Some(Link { tx: tx.clone() });
        Ok(tx)
    }
}

impl Boss for GatewayBoss {
    fn call<'a>(&'a self, kiosk_id: &'a str, req: Request, timeout: Duration) -> BossFuture<'a> {
        Box::pin(async move {
            let tx = self.link()?;
            let (reply, rx) = oneshot::channel();
            tx.send(Call {
                kiosk_id: kiosk_id.to_owned(),
                req,
                timeout,
                reply,
            })
            .await
            .map_err(|_| BossError::NotSent("link closed".into()))?;
            let r = tokio::time::timeout(
                timeout + self.cfg.connect_timeout + Duration::from_secs(1),
                rx,
            )
            .await
            .map_err(|_| BossError::Unknown("no answer".into()))?
            .map_err(|_| BossError::Unknown("link ended".into()))?;
            if let Err(BossError::NotSent(_)) = &r {
                self.down_until.store(
                    mono_ms() + u64::try_from(self.cfg.retry_after.as_millis()).unwrap_or(1000),
                    Ordering::Relaxed,
                );
            }
            r
        })
    }
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn connect(cfg: &GatewayConfig) -> Result<Tls, String> {
    let fut = async {
        let tcp = TcpStream::connect(&cfg.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", cfg.addr))?;
        tcp.set_nodelay(true).ok();
        let mut tls = TlsConnector::from(cfg.tls.clone())
            .connect(cfg.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let hello = Envelope::request(
            1,
            Request::Hello(Hello {
                software: concat!("telekiosk-hq/", env!("CARGO_PKG_VERSION")).to_owned(),
                kiosk_time_ms: crate::store::now_ms(),
                config_version: None,
                journal_last_seq: None,
            }),
        );
        write_envelope(&mut tls, &hello)
            .await
            .map_err(|e| format!("hello: {e}"))?;
        match read_envelope(&mut tls).await {
            Ok(Some(Envelope {
                body: Body::Response(Reply::Ok(Response::Hello(_))),
                ..
            })) => Ok(tls),
            Ok(Some(other)) => Err(format!("hello refused: {:?}", other.body)),
            Ok(None) => Err("closed during hello".into()),
            Err(e) => Err(format!("hello: {e}")),
        }
    };
    tokio::time::timeout(cfg.connect_timeout, fut)
        .await
        .map_err(|_| "connect timed out".to_owned())?
}

struct Waiting {
    reply: oneshot::Sender<Result<Reply, BossError>>,
    deadline: Instant,
}

/// One gateway connection: connects, then multiplexes calls by request id until it fails.
/// Every call still waiting when it fails is answered [`BossError::Unknown`]; calls that
/// arrive while it cannot connect are answered [`BossError::NotSent`].
async fn run_link(cfg: GatewayConfig, mut rx: mpsc::Receiver<Call>) {
    let tls = match connect(&cfg).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reach the business system");
            rx.close();
            while let Some(c) = rx.recv().await {
                let _ = c.reply.send(Err(BossError::NotSent(e.clone())));
            }
            return;
        }
    };
    tracing::info!(addr = %cfg.addr, "gateway link to the business system up");
    let (mut rd, mut wr) = tokio::io::split(tls);
    let (in_tx, mut in_rx) = mpsc::channel::<Result<Option<Envelope>, ReadError>>(64);
    let reader = tokio::spawn(async move {
        loop {
            let r = read_envelope(&mut rd).await;
            let last = !matches!(r, Ok(Some(_)));
            if in_tx.send(r).await.is_err() || last {
                break;
            }
        }
    });
    let mut waiting: HashMap<u64, Waiting> = HashMap::new();
    let mut next_id: u64 = 2;
    let keepalive = Duration::from_secs(20);
    let mut tick = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
    let cause: String = loop {
        let next_deadline = waiting.values().map(|w| w.deadline).min();
        tokio::select! {
            call = rx.recv() => {
                let Some(call) = call else { break "gateway dropped".into() };
                let id = next_id;
                next_id += 1;
                let env = Envelope::request(id, call.req).on_behalf_of(call.kiosk_id);
                let deadline = Instant::now() + call.timeout;
                match tokio::time::timeout(call.timeout, write_envelope(&mut wr, &env)).await {
                    Ok(Ok(())) => { waiting.insert(id, Waiting { reply: call.reply, deadline }); }
                    Ok(Err(boss_protocol::io::WriteError::Encode(e))) => {
                        let _ = call.reply.send(Err(BossError::NotSent(format!("cannot encode: {e}"))));
                    }
                    Ok(Err(e)) => {
                        // Possibly partly written: BOSS may have it.
                        let _ = call.reply.send(Err(BossError::Unknown(format!("write: {e}"))));
                        break format!("write: {e}");
                    }
                    Err(_) => {
                        let _ = call.reply.send(Err(BossError::Unknown("write timed out".into())));
                        break "write timed out".into();
                    }
                }
            }
            frame = in_rx.recv() => match frame {
                Some(Ok(Some(env))) => {
                    if let Body::Response(reply) = env.body
                        && let Some(w) = waiting.remove(&env.id)
                    {
                        let _ = w.reply.send(Ok(reply));
                    }
                }
                Some(Ok(None)) | None => break "closed by the business system".into(),
                Some(Err(e)) => break format!("read: {e}"),
            },
            _ = tick.tick() => {
                // The gateway's own heartbeat keeps the link from idling out.
                let id = next_id;
                next_id += 1;
                let hb = Envelope::request(id, Request::Heartbeat(boss_protocol::Heartbeat {
                    kiosk_time_ms: crate::store::now_ms(),
                    devices: Vec::new(),
                    cash_box: boss_protocol::CashBox::default(),
                    card_stock: boss_protocol::CardStock::default(),
                    screen: "gateway".into(),
                    ..Default::default()
                }));
                if let Err(e) = write_envelope(&mut wr, &hb).await {
                    break format!("heartbeat: {e}");
                }
            }
            () = sleep_until_opt(next_deadline) => {
                let now = Instant::now();
                let expired: Vec<u64> = waiting.iter().filter(|(_, w)| w.deadline <= now).map(|(id, _)| *id).collect();
                for id in expired {
                    if let Some(w) = waiting.remove(&id) {
                        let _ = w.reply.send(Err(BossError::Unknown("no answer in time".into())));
                    }
                }
            }
        }
    };
    tracing::warn!(%cause, "gateway link to the business system down");
    reader.abort();
    for (_, w) in waiting.drain() {
        let _ = w.reply.send(Err(BossError::Unknown(cause.clone())));
    }
    rx.close();
    // Calls queued behind the failure were never written.
    while let Ok(c) = rx.try_recv() {
        let _ = c.reply.send(Err(BossError::NotSent(cause.clone())));
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
