//! The kiosks' link: a TLS 1.3 server with mutual authentication (kiosk id from the client
//! certificate), the protocol of docs/boss-protocol.md. What is head office's — hello,
//! heartbeats, pushes and their acknowledgements, journal uploads — is handled here; every
//! business operation is forwarded to the operator through [`Boss`] on the kiosk's behalf.
//!
//! Bounds, so a misbehaving client cannot exhaust the server: a cap on handshakes in
//! progress and on connections, a deadline on the handshake, the hello, every write and
//! every silence; frames above `limits.max_frame` close the connection; at most
//! `limits.max_in_flight` requests of one kiosk are handled at once (beyond, its frames wait
//! in TCP); queues between the tasks of a connection are bounded. One connection per kiosk:
//! a new one (on this instance or another) replaces the old.
//!
//! **Exactly once across both hops.** A forwarded request whose answer from BOSS was lost
//! ([`BossError::Unknown`]) is never answered with an error (the kiosk would refund money
//! that may have been credited). For a request with a `txn_id` the server asks BOSS
//! `txn_status`: a known outcome is answered verbatim (what a repeat would get), a request
//! BOSS never received is sent once more with the same `txn_id`; if that still leaves the
//! outcome open, the kiosk gets no answer — its own deadline passes and it asks
//! `txn_status` itself, as for any lost answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use boss_protocol::codec::{self, Body, DecodeError, Envelope, HEADER_LEN};
use boss_protocol::io::write_envelope;
use boss_protocol::{
    ErrorBody, ErrorCode, HeartbeatOk, HelloOk, JournalAccepted, Lock, Push, Reply, Request,
    Response, TxnState, TxnStatusQuery,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;

use crate::boss::{Boss, BossError};
use crate::config::HqConfig;
use crate::store::{ForwardedTxn, HeartbeatRecord, Store, now_ms};

/// A kiosk clock further off than this is refused at hello.
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// What a connection is told from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// Pushes may be waiting in the store.
    Pushes,
    /// A newer connection of the kiosk replaced this one.
    Replaced,
}

#[derive(Debug)]
struct ConnHandle {
    conn_id: u64,
    tx: mpsc::Sender<Signal>,
}

/// The kiosks connected to this instance, and a way to reach each.
#[derive(Debug, Default)]
pub struct Hub {
    conns: Mutex<HashMap<String, ConnHandle>>,
    next: AtomicU64,
    /// Kiosks that acknowledged a lock `deferred`: a customer is being served, whose
    /// requests are still served; the lock takes effect here once a heartbeat says the
    /// kiosk is no longer `in_service` (or the kiosk acknowledges a lock `applied`).
    deferred: Mutex<std::collections::HashSet<String>>,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ConnHandle>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Kiosk ids connected here.
    #[must_use]
    pub fn connected(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lock().keys().cloned().collect();
        v.sort();
        v
    }

    /// Number of kiosks connected here.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no kiosk is connected here.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Tells a connected kiosk's connection that pushes may be waiting.
    pub fn kick(&self, kiosk_id: &str) {
        if let Some(c) = self.lock().get(kiosk_id) {
            let _ = c.tx.try_send(Signal::Pushes);
        }
    }

    /// Closes the kiosk's connection here unless it is `keep` (a connection id of this
    /// instance).
    pub fn replace(&self, kiosk_id: &str, keep: Option<u64>) {
        let mut conns = self.lock();
        if conns.get(kiosk_id).is_some_and(|c| Some(c.conn_id) != keep)
            && let Some(c) = conns.remove(kiosk_id)
        {
            let _ = c.tx.try_send(Signal::Replaced);
        }
    }

    /// Whether the kiosk's lock waits for its current customer (see [`Hub`]).
    #[must_use]
    pub fn lock_deferred(&self, kiosk_id: &str) -> bool {
        self.deferred_set().contains(kiosk_id)
    }

    fn set_lock_deferred(&self, kiosk_id: &str, deferred: bool) {
        let mut d = self.deferred_set();
        if deferred {
            d.insert(kiosk_id.to_owned());
        } else {
            d.remove(kiosk_id);
        }
    }

    fn deferred_set(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.deferred
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn register(&self, kiosk_id: &str, conn_id: u64, tx: mpsc::Sender<Signal>) {
        if let Some(old) = self
            .lock()
            .insert(kiosk_id.to_owned(), ConnHandle { conn_id, tx })
        {
            let _ = old.tx.try_send(Signal::Replaced);
        }
    }

    fn unregister(&self, kiosk_id: &str, conn_id: u64) {
        let mut conns = self.lock();
        if conns.get(kiosk_id).is_some_and(|c| c.conn_id == conn_id) {
            conns.remove(kiosk_id);
        }
    }
}

/// Latest heartbeat of each kiosk, written to the store in batches.
#[derive(Debug, Default)]
pub struct HeartbeatSink {
    latest: Mutex<HashMap<String, HeartbeatRecord>>,
}

impl HeartbeatSink {
    fn put(&self, r: HeartbeatRecord) {
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(r.kiosk_id.clone(), r);
    }

    /// Takes every heartbeat received since the last call.
    pub fn take(&self) -> Vec<HeartbeatRecord> {
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .map(|(_, v)| v)
            .collect()
    }
}

/// Measurements of the server's own work, for the benchmark.
#[derive(Debug, Default)]
pub struct Metrics {
    overhead_us: Mutex<Vec<u32>>,
    /// Requests forwarded to BOSS.
    pub forwarded: AtomicU64,
    /// Heartbeats answered.
    pub heartbeats: AtomicU64,
}

impl Metrics {
    fn record_overhead(&self, d: Duration) {
        let us = u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        let mut v = self
            .overhead_us
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if v.len() < 4_000_000 {
            v.push(us);
        }
    }

    /// Takes the forwarding overheads recorded so far (µs): the time a forwarded request
    /// spent in this server — from its frame read to its answer written to the kiosk —
    /// minus the time BOSS took.
    pub fn take_overheads(&self) -> Vec<u32> {
        std::mem::take(
            &mut *self
                .overhead_us
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// Everything connection tasks share.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The store.
    pub store: Store,
    /// The operator.
    pub boss: Arc<dyn Boss>,
    /// Kiosks connected here.
    pub hub: Arc<Hub>,
    /// This instance's id.
    pub instance_id: String,
    /// Configuration.
    pub cfg: Arc<HqConfig>,
    /// Heartbeats waiting to be written.
    pub heartbeats: Arc<HeartbeatSink>,
    /// Forwarded transactions waiting to be written.
    pub recorder: mpsc::Sender<ForwardedTxn>,
    /// Measurements.
    pub metrics: Arc<Metrics>,
    /// TLS towards kiosks.
    pub tls: Arc<rustls::ServerConfig>,
    handshakes: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    /// Assembles the shared state.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Store,
        boss: Arc<dyn Boss>,
        instance_id: String,
        cfg: Arc<HqConfig>,
        tls: Arc<rustls::ServerConfig>,
        recorder: mpsc::Sender<ForwardedTxn>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            handshakes: Arc::new(Semaphore::new(cfg.limits.max_handshakes.max(1))),
            connections: Arc::new(Semaphore::new(cfg.limits.max_connections.max(1))),
            store,
            boss,
            hub: Arc::new(Hub::default()),
            instance_id,
            cfg,
            heartbeats: Arc::new(HeartbeatSink::default()),
            recorder,
            metrics: Arc::new(Metrics::default()),
            tls,
            shutdown,
        }
    }
}

/// Accepts connections until shut down, one task each.
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
        let Ok(hs) = shared.handshakes.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many handshakes in progress: connection closed");
            continue;
        };
        let Ok(slot) = shared.connections.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached: connection closed");
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(tcp, peer, &shared, hs).await {
                tracing::info!(%peer, error = %e, "connection ended");
            }
            drop(slot);
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
    #[error("no hello in time")]
    HelloTimeout,
    #[error("hello refused")]
    HelloRefused,
    #[error("closed before hello")]
    ClosedBeforeHello,
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Why reading a frame stopped.
#[derive(Debug)]
enum FrameError {
    Closed,
    Idle,
    Io(std::io::Error),
    TooLarge(u32),
    Decode(DecodeError),
}

/// Reads one frame, refusing lengths above `max`.
async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> Result<Envelope, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let slot = header.get_mut(got..).unwrap_or_default();
        let n = r.read(slot).await.map_err(FrameError::Io)?;
        if n == 0 {
            return Err(if got == 0 {
                FrameError::Closed
            } else {
                FrameError::Io(std::io::ErrorKind::UnexpectedEof.into())
            });
        }
        got += n;
    }
    let len = u32::from_be_bytes(header);
    let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
    if len == 0 || len_usize > max {
        return Err(FrameError::TooLarge(len));
    }
    let mut payload = vec![0u8; len_usize];
    r.read_exact(&mut payload).await.map_err(FrameError::Io)?;
    codec::from_json(&payload).map_err(FrameError::Decode)
}

/// An envelope for the writer, with the timing of a forwarded request.
struct Out {
    env: Envelope,
    timing: Option<(Instant, Duration)>,
}

fn error(code: ErrorCode, msg: &str) -> Reply {
    Reply::Error(ErrorBody::new(code, msg))
}

/// Requests a locked kiosk is still served (docs/boss-protocol.md §6).
fn settles(req: &Request) -> bool {
    matches!(
        req,
        Request::Hello(_)
            | Request::Heartbeat(_)
            | Request::TxnStatus(_)
            | Request::Reversal(_)
            | Request::CancelOrder(_)
            | Request::JournalUpload(_)
            | Request::Reconcile(_)
    )
}

#[allow(clippy::too_many_lines)]
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    handshake: tokio::sync::OwnedSemaphorePermit,
) -> Result<(), ConnError> {
    let limits = &shared.cfg.limits;
    tcp.set_nodelay(true).ok();
    let tls = tokio::time::timeout(
        HqConfig::ms(limits.handshake_timeout_ms),
        TlsAcceptor::from(shared.tls.clone()).accept(tcp),
    )
    .await
    .map_err(|_| ConnError::HandshakeTimeout)?
    .map_err(ConnError::Handshake)?;
    drop(handshake);
    let kiosk_id = {
        let (_, conn) = tls.get_ref();
        conn.peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| boss_protocol::pki::kiosk_id_from_cert(c).ok())
            .ok_or(ConnError::NoKioskId)?
    };
    let (mut rd, mut wr) = tokio::io::split(tls);

    // Reader: one frame at a time, each request holding an in-flight permit until answered.
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight.max(1)));
    let (in_tx, mut in_rx) = mpsc::channel::<(
        Result<Envelope, FrameError>,
        Option<tokio::sync::OwnedSemaphorePermit>,
    )>(4);
    let (idle, max_frame) = (HqConfig::ms(limits.idle_timeout_ms), limits.max_frame);
    let sem = in_flight.clone();
    let reader = tokio::spawn(async move {
        loop {
            let Ok(permit) = sem.clone().acquire_owned().await else {
                break;
            };
            let r = match tokio::time::timeout(idle, read_frame(&mut rd, max_frame)).await {
                Ok(r) => r,
                Err(_) => Err(FrameError::Idle),
            };
            let last = matches!(
                r,
                Err(FrameError::Closed
                    | FrameError::Idle
                    | FrameError::Io(_)
                    | FrameError::TooLarge(_)
                    | FrameError::Decode(
                        DecodeError::NotAnEnvelope(_) | DecodeError::BadLength(_)
                    ))
            );
            if in_tx.send((r, Some(permit))).await.is_err() || last {
                break;
            }
        }
    });

    // Writer: bounded queue, every frame written within the write deadline.
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(64);
    let write_timeout = HqConfig::ms(limits.write_timeout_ms);
    let metrics = shared.metrics.clone();
    let mut writer = tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            match tokio::time::timeout(write_timeout, write_envelope(&mut wr, &out.env)).await {
                Ok(Ok(())) => {
                    if let Some((t0, backend)) = out.timing {
                        metrics.record_overhead(t0.elapsed().saturating_sub(backend));
                    }
                }
                Ok(Err(e)) => return format!("write: {e}"),
                Err(_) => return "kiosk stopped reading (write timed out)".to_owned(),
            }
        }
        "writer closed".to_owned()
    });

    // The hello, within its deadline.
    let hello = tokio::time::timeout(HqConfig::ms(limits.hello_timeout_ms), in_rx.recv()).await;
    let (id, hello) = match hello {
        Err(_) => {
            reader.abort();
            writer.abort();
            return Err(ConnError::HelloTimeout);
        }
        Ok(None | Some((Err(_), _))) => {
            reader.abort();
            writer.abort();
            return Err(ConnError::ClosedBeforeHello);
        }
        Ok(Some((Ok(env), _permit))) => match env.body {
            Body::Request(Request::Hello(h)) => (env.id, h),
            Body::Request(_) => {
                let _ = out_tx
                    .send(Out {
                        env: Envelope::response(
                            env.id,
                            error(ErrorCode::HelloRequired, "send hello first"),
                        ),
                        timing: None,
                    })
                    .await;
                drop(out_tx);
                let _ = tokio::time::timeout(write_timeout, &mut writer).await;
                reader.abort();
                return Err(ConnError::ClosedBeforeHello);
            }
            _ => {
                reader.abort();
                writer.abort();
                return Err(ConnError::ClosedBeforeHello);
            }
        },
    };
    let skew = now_ms() - hello.kiosk_time_ms;
    if skew.abs() > MAX_CLOCK_SKEW_MS {
        tracing::warn!(kiosk = %kiosk_id, skew_ms = skew, "hello refused: kiosk clock off");
        let msg = format!(
            "终端时钟与服务器相差{}秒，超过5分钟，请技术员校准时钟（NTP）",
            skew / 1000
        );
        let _ = out_tx
            .send(Out {
                env: Envelope::response(id, error(ErrorCode::BadRequest, &msg)),
                timing: None,
            })
            .await;
        drop(out_tx);
        let _ = tokio::time::timeout(write_timeout, &mut writer).await;
        reader.abort();
        return Err(ConnError::HelloRefused);
    }
    let conn_id =
        shared.hub.next.fetch_add(1, Ordering::Relaxed) | (u64::from(std::process::id()) << 40);
    let state = {
        let (st, k, sw, cv, inst, p) = (
            shared.store.clone(),
            kiosk_id.clone(),
            hello.software.clone(),
            hello.config_version,
            shared.instance_id.clone(),
            peer.to_string(),
        );
        match st
            .run(move |s| s.hello(&k, &sw, cv, &inst, conn_id, &p))
            .await
        {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(error = %e, "hello: store failed");
                let _ = out_tx
                    .send(Out {
                        env: Envelope::response(
                            id,
                            Reply::Error(ErrorBody {
                                code: ErrorCode::Unavailable,
                                message: "server store unavailable".into(),
                                retry_after_ms: Some(5000),
                                tries_left: None,
                                locked_until_ms: None,
                            }),
                        ),
                        timing: None,
                    })
                    .await;
                drop(out_tx);
                let _ = tokio::time::timeout(write_timeout, &mut writer).await;
                reader.abort();
                return Err(e.into());
            }
        }
    };
    let locked = Arc::new(AtomicBool::new(state.locked.is_some()));
    let answer = HelloOk {
        kiosk_id: kiosk_id.clone(),
        server_time_ms: now_ms(),
        heartbeat_interval_ms: shared.cfg.heartbeat_interval_ms,
        config_version: state.config_version,
        locked: state
            .locked
            .map(|(reason, message)| Lock { reason, message }),
        journal_acked_seq: state.journal_acked_seq,
    };
    let (sig_tx, mut sig_rx) = mpsc::channel::<Signal>(4);
    shared.hub.register(&kiosk_id, conn_id, sig_tx.clone());
    tracing::info!(%peer, kiosk = %kiosk_id, "kiosk connected");
    let _ = out_tx
        .send(Out {
            env: Envelope::response(id, Reply::Ok(Response::Hello(answer))),
            timing: None,
        })
        .await;
    let _ = sig_tx.try_send(Signal::Pushes);

    let mut shutdown = shared.shutdown.clone();
    // Pushes written on this connection and not yet acknowledged: push id → op.
    let mut pushes_out: HashMap<u64, String> = HashMap::new();
    // Pushes acknowledged on this connection: their acknowledgement is stored in the
    // background, so until it is, the store still lists them as pending — never re-sent.
    let mut acked_here: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut last_hb_look = Instant::now();
    let end: String = loop {
        tokio::select! {
            frame = in_rx.recv() => {
                let Some((frame, permit)) = frame else { break "reader ended".into() };
                let env = match frame {
                    Ok(env) => env,
                    Err(FrameError::Closed) => break "closed by the kiosk".into(),
                    Err(FrameError::Idle) => break "idle for too long".into(),
                    Err(FrameError::Io(e)) => break format!("read: {e}"),
                    Err(FrameError::TooLarge(n)) => break format!("frame of {n} bytes refused"),
                    Err(FrameError::Decode(DecodeError::BadBody { id, kind, op, .. })) => {
                        if kind == boss_protocol::Kind::Request {
                            let reply = error(ErrorCode::BadRequest, &format!("cannot parse request {}", op.unwrap_or_default()));
                            if out_tx.send(Out { env: Envelope::response(id, reply), timing: None }).await.is_err() {
                                break "writer ended".into();
                            }
                        }
                        continue;
                    }
                    Err(FrameError::Decode(DecodeError::UnknownOp { id, op })) => {
                        let reply = error(ErrorCode::UnknownOp, &format!("unknown operation {op}"));
                        if out_tx.send(Out { env: Envelope::response(id, reply), timing: None }).await.is_err() {
                            break "writer ended".into();
                        }
                        continue;
                    }
                    Err(FrameError::Decode(DecodeError::UnsupportedVersion { id, .. })) => {
                        let reply = error(ErrorCode::UnsupportedVersion, "this server speaks protocol version 1");
                        let _ = out_tx.send(Out { env: Envelope::response(id, reply), timing: None }).await;
                        break "unsupported protocol version".into();
                    }
                    Err(FrameError::Decode(e)) => break format!("bad frame: {e}"),
                };
                let t0 = Instant::now();
                match env.body {
                    Body::Request(Request::Hello(_)) => {
                        let reply = error(ErrorCode::BadRequest, "hello already done on this connection");
                        let _ = out_tx.send(Out { env: Envelope::response(env.id, reply), timing: None }).await;
                    }
                    Body::Request(Request::Heartbeat(hb)) => {
                        shared.metrics.heartbeats.fetch_add(1, Ordering::Relaxed);
                        if hb.kiosk_state.as_deref() != Some("in_service") {
                            // A deferred lock takes effect once the kiosk is no longer serving.
                            shared.hub.set_lock_deferred(&kiosk_id, false);
                        }
                        shared.heartbeats.put(HeartbeatRecord { kiosk_id: kiosk_id.clone(), at_ms: now_ms(), heartbeat: hb });
                        let reply = Reply::Ok(Response::Heartbeat(HeartbeatOk { server_time_ms: now_ms() }));
                        if out_tx.send(Out { env: Envelope::response(env.id, reply), timing: None }).await.is_err() {
                            break "writer ended".into();
                        }
                        // A missed notification is made good at a heartbeat (at most every
                        // 10 s: a flood of heartbeats is no flood of queries).
                        if last_hb_look.elapsed() >= Duration::from_secs(10) {
                            last_hb_look = Instant::now();
                            let _ = sig_tx.try_send(Signal::Pushes);
                        }
                    }
                    Body::Request(Request::JournalUpload(up)) => {
                        let (st, k, out) = (shared.store.clone(), kiosk_id.clone(), out_tx.clone());
                        tokio::spawn(async move {
                            let _permit = permit;
                            let reply = if up.entries.len() > 500 {
                                error(ErrorCode::BadRequest, "at most 500 entries per upload")
                            } else {
                                match st.run(move |s| s.store_journal(&k, &up.entries)).await {
                                    Ok((accepted, acked_seq)) => Reply::Ok(Response::JournalUpload(JournalAccepted { accepted, acked_seq })),
                                    Err(e) => {
                                        tracing::error!(error = %e, "journal upload not stored");
                                        Reply::Error(ErrorBody { code: ErrorCode::Unavailable, message: "server store unavailable".into(), retry_after_ms: Some(5000) , tries_left: None, locked_until_ms: None})
                                    }
                                }
                            };
                            let _ = out.send(Out { env: Envelope::response(env.id, reply), timing: None }).await;
                        });
                    }
                    Body::Request(req) => {
                        let (sh, k, out, lk) = (shared.clone(), kiosk_id.clone(), out_tx.clone(), locked.clone());
                        tokio::spawn(async move {
                            let _permit = permit;
                            let locked = lk.load(Ordering::Relaxed) && !sh.hub.lock_deferred(&k);
                            let (reply, backend) = business(&sh, &k, locked, req).await;
                            if let Some(reply) = reply {
                                let _ = out.send(Out { env: Envelope::response(env.id, reply), timing: Some((t0, backend)) }).await;
                            }
                        });
                    }
                    Body::Ack(ack) => {
                        if let Some(op) = pushes_out.remove(&env.id) {
                            acked_here.insert(env.id);
                            if op == "lock" {
                                // Deferred: the customer at the kiosk is served to the end.
                                shared.hub.set_lock_deferred(&kiosk_id, ack.outcome == boss_protocol::AckOutcome::Deferred);
                            }
                            let (st, k) = (shared.store.clone(), kiosk_id.clone());
                            let push_id = i64::try_from(env.id).unwrap_or(0);
                            tracing::info!(kiosk = %kiosk_id, push_id, outcome = ?ack.outcome, "push acknowledged");
                            tokio::spawn(async move {
                                if let Err(e) = st.run(move |s| s.push_acked(&k, push_id, &ack)).await {
                                    tracing::error!(error = %e, "acknowledgement not stored");
                                }
                            });
                        }
                    }
                    Body::Response(_) | Body::Push(_) => {
                        tracing::warn!(kiosk = %kiosk_id, "unexpected message kind from a kiosk; ignored");
                    }
                }
            }
            sig = sig_rx.recv() => match sig {
                Some(Signal::Pushes) => {
                    if let Err(e) = send_pushes(shared, &kiosk_id, &out_tx, &mut pushes_out, &acked_here, &locked).await {
                        break e;
                    }
                }
                Some(Signal::Replaced) => break "replaced by a newer connection".into(),
                None => break "hub gone".into(),
            },
            w = &mut writer => break w.unwrap_or_else(|_| "writer failed".into()),
            _ = shutdown.changed() => break "server stopping".into(),
        }
    };
    reader.abort();
    writer.abort();
    shared.hub.unregister(&kiosk_id, conn_id);
    let (st, k, inst) = (
        shared.store.clone(),
        kiosk_id.clone(),
        shared.instance_id.clone(),
    );
    if !*shared.shutdown.borrow() {
        let _ = st.run(move |s| s.disconnected(&k, &inst, conn_id)).await;
    }
    tracing::info!(%peer, kiosk = %kiosk_id, cause = %end, "kiosk disconnected");
    Ok(())
}

/// Writes the kiosk's pending pushes not yet written on this connection.
async fn send_pushes(
    shared: &Shared,
    kiosk_id: &str,
    out: &mpsc::Sender<Out>,
    pushes_out: &mut HashMap<u64, String>,
    acked_here: &std::collections::HashSet<u64>,
    locked: &AtomicBool,
) -> Result<(), String> {
    let (st, k) = (shared.store.clone(), kiosk_id.to_owned());
    let rows = match st.run(move |s| s.pending_pushes(&k)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "pending pushes not read");
            return Ok(());
        }
    };
    let mut sent = Vec::new();
    for row in rows {
        let id = u64::try_from(row.push_id).unwrap_or(0);
        if pushes_out.contains_key(&id) || acked_here.contains(&id) {
            continue;
        }
        let Ok(push) = serde_json::from_str::<Push>(&row.payload) else {
            tracing::error!(push_id = row.push_id, "stored push does not parse; skipped");
            continue;
        };
        match &push {
            Push::Lock(_) => locked.store(true, Ordering::Relaxed),
            Push::Unlock(_) => {
                locked.store(false, Ordering::Relaxed);
                shared.hub.set_lock_deferred(kiosk_id, false);
            }
            _ => {}
        }
        out.send(Out {
            env: Envelope::push(id, push),
            timing: None,
        })
        .await
        .map_err(|_| "writer ended".to_owned())?;
        pushes_out.insert(id, row.op);
        sent.push(row.push_id);
    }
    if !sent.is_empty() {
        let st = shared.store.clone();
        tokio::spawn(async move {
            if let Err(e) = st.run(move |s| s.pushes_sent(&sent)).await {
                tracing::error!(error = %e, "push state not stored");
            }
        });
    }
    Ok(())
}

/// Handles a business request: the lock, forwarding, and the resolution of a lost answer.
/// Returns the answer (None: leave the kiosk without one, its outcome being unknown) and
/// the time spent waiting for BOSS.
async fn business(
    shared: &Shared,
    kiosk_id: &str,
    locked: bool,
    req: Request,
) -> (Option<Reply>, Duration) {
    let timeout = HqConfig::ms(shared.cfg.boss.timeout_ms);
    let boss = shared.boss.as_ref();
    let mut waited = Duration::ZERO;
    let mut timed = |d: Duration| waited += d;
    if locked && !settles(&req) {
        // A repeat of a transaction applied before the lock still gets its first outcome.
        let known = match req.txn_id() {
            Some(t) => {
                let t0 = Instant::now();
                let s = status(boss, kiosk_id, t, timeout).await;
                timed(t0.elapsed());
                s.is_some_and(|s| s.state != TxnState::Unknown)
            }
            None => false,
        };
        if !known {
            return (
                Some(error(
                    ErrorCode::KioskLocked,
                    "终端已被总部锁定，暂停受理业务",
                )),
                waited,
            );
        }
    }
    shared.metrics.forwarded.fetch_add(1, Ordering::Relaxed);
    let t0 = Instant::now();
    let first = boss.call(kiosk_id, req.clone(), timeout).await;
    timed(t0.elapsed());
    let reply = match first {
        Ok(r) => Some(r),
        Err(BossError::NotSent(why)) => {
            tracing::warn!(kiosk = %kiosk_id, op = req.op(), %why, "not forwarded: business system unreachable");
            Some(Reply::Error(ErrorBody {
                code: ErrorCode::Unavailable,
                message: "业务系统暂时无法连接，未受理，请稍后再试".into(),
                retry_after_ms: Some(2000),
                tries_left: None,
                locked_until_ms: None,
            }))
        }
        Err(BossError::Unknown(why)) => {
            tracing::warn!(kiosk = %kiosk_id, op = req.op(), %why, "answer from the business system lost");
            let t0 = Instant::now();
            let r = resolve(boss, kiosk_id, &req, timeout).await;
            timed(t0.elapsed());
            r
        }
    };
    let record = reply.as_ref().and_then(|r| match (&req, r) {
        // The outcome of a transaction whose answer was lost, learnt by the kiosk's own
        // status query: recorded as if it had been answered.
        (Request::TxnStatus(_), Reply::Ok(Response::TxnStatus(s))) => settled_txn(kiosk_id, s),
        _ => forwarded_txn(kiosk_id, &req, r),
    });
    if let Some(t) = record
        && shared.recorder.try_send(t).is_err()
    {
        tracing::warn!("transaction recorder full; one forwarded transaction not recorded");
    }
    (reply, waited)
}

async fn status(
    boss: &dyn Boss,
    kiosk_id: &str,
    txn: &boss_protocol::TxnId,
    timeout: Duration,
) -> Option<boss_protocol::TxnStatus> {
    let q = Request::TxnStatus(TxnStatusQuery {
        txn_id: txn.clone(),
    });
    match boss.call(kiosk_id, q, timeout).await {
        Ok(Reply::Ok(Response::TxnStatus(s))) => Some(s),
        _ => None,
    }
}

/// After a lost answer: what BOSS says happened (None: still unknown).
async fn resolve(
    boss: &dyn Boss,
    kiosk_id: &str,
    req: &Request,
    timeout: Duration,
) -> Option<Reply> {
    let txn = req.txn_id()?;
    for attempt in 0..2 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let Some(s) = status(boss, kiosk_id, txn, timeout).await else {
            continue;
        };
        match s.state {
            TxnState::Committed | TxnState::Failed | TxnState::Reversed => {
                return s.outcome.map(|o| *o);
            }
            TxnState::Unknown => {
                // Never received: sending it again with the same txn_id is safe.
                return boss.call(kiosk_id, req.clone(), timeout).await.ok();
            }
            _ => {}
        }
    }
    None
}

/// Errors that are no outcome: nothing was applied and the kiosk sends the same transaction
/// again (`unavailable`, `busy`), or the outcome is unknown and asked with `txn_status`
/// (`internal`, and codes this server does not know).
fn no_outcome(e: &ErrorBody) -> bool {
    matches!(
        e.code,
        ErrorCode::Unavailable | ErrorCode::Busy | ErrorCode::Internal | ErrorCode::Other(_)
    )
}

/// What to record of a transaction the kiosk learnt the outcome of with `txn_status`: the
/// first answer, as [`forwarded_txn`] records it (None while the outcome is open).
#[must_use]
pub fn settled_txn(kiosk_id: &str, s: &boss_protocol::TxnStatus) -> Option<ForwardedTxn> {
    if !matches!(
        s.state,
        TxnState::Committed | TxnState::Failed | TxnState::Reversed
    ) {
        return None;
    }
    let outcome = s.outcome.as_deref()?;
    let amount = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let op = s.txn_op.clone()?;
    let mut t = ForwardedTxn {
        kiosk_id: kiosk_id.to_owned(),
        txn_id: s.txn_id.as_str().to_owned(),
        op,
        at_ms: now_ms(),
        amount_fen: s.amount_fen.map_or(0, amount),
        state: "committed".into(),
        code: None,
        arrears_fen: 0,
        operator_ref: None,
        reverses: None,
    };
    match outcome {
        Reply::Error(e) if no_outcome(e) => return None,
        Reply::Error(e) => {
            t.state = "failed".into();
            t.code = Some(e.code.as_str().to_owned());
        }
        Reply::Ok(Response::Recharge(ok)) => {
            t.amount_fen = amount(ok.amount_fen);
            let before = ok.balance_after_fen.saturating_sub(t.amount_fen);
            t.arrears_fen = before.saturating_neg().clamp(0, t.amount_fen);
            t.operator_ref = Some(ok.operator_ref.clone());
        }
        Reply::Ok(Response::NewSimOrder(ok) | Response::ReplacementSim(ok)) => {
            t.amount_fen = amount(ok.card_fee_fen.saturating_add(ok.prepaid_fen));
        }
        Reply::Ok(Response::Reversal(ok)) => {
            t.amount_fen = amount(ok.amount_fen);
            t.reverses = Some(ok.original_txn_id.as_str().to_owned());
        }
        Reply::Ok(Response::CancelOrder(ok)) => t.amount_fen = amount(ok.refund_due_fen),
        // The serial is the card's reference; the PIN never reaches head office's records.
        Reply::Ok(Response::PinSale(ok)) => {
            t.amount_fen = amount(ok.face_fen);
            t.operator_ref = Some(ok.serial.clone());
        }
        // A void of a card sold takes the sale out of the day's money; one of a sale never
        // received gives nothing back and reverses nothing.
        Reply::Ok(Response::PinVoid(ok)) => {
            t.amount_fen = amount(ok.refund_due_fen);
            t.operator_ref = ok.serial.clone();
            if ok.serial.is_some() {
                t.reverses = Some(ok.sale_txn_id.as_str().to_owned());
            }
        }
        Reply::Ok(_) => {}
    }
    if s.state == TxnState::Reversed && t.state == "committed" {
        // Committed, then reversed: it no longer counts.
        t.state = "reversed".into();
    }
    Some(t)
}

/// What to record of a forwarded money or card transaction.
#[must_use]
pub fn forwarded_txn(kiosk_id: &str, req: &Request, reply: &Reply) -> Option<ForwardedTxn> {
    let txn = req.txn_id()?;
    if matches!(reply, Reply::Error(e) if no_outcome(e)) {
        return None;
    }
    let amount = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let (amount_fen, reverses) = match req {
        Request::Recharge(r) => (amount(r.amount_fen), None),
        Request::NewSimOrder(r) => (amount(r.card_fee_fen.saturating_add(r.prepaid_fen)), None),
        Request::ReplacementSim(r) => (amount(r.fee_fen), None),
        Request::PinSale(r) => (amount(r.face_fen), None),
        Request::Reversal(r) => (0, Some(r.original_txn_id.as_str().to_owned())),
        _ => (0, None),
    };
    let mut t = ForwardedTxn {
        kiosk_id: kiosk_id.to_owned(),
        txn_id: txn.as_str().to_owned(),
        op: req.op().to_owned(),
        at_ms: now_ms(),
        amount_fen,
        state: "committed".into(),
        code: None,
        arrears_fen: 0,
        operator_ref: None,
        reverses,
    };
    match reply {
        Reply::Error(e) => {
            t.state = "failed".into();
            t.code = Some(e.code.as_str().to_owned());
        }
        Reply::Ok(Response::Recharge(ok)) => {
            let before = ok.balance_after_fen.saturating_sub(t.amount_fen);
            t.arrears_fen = before.saturating_neg().clamp(0, t.amount_fen);
            t.operator_ref = Some(ok.operator_ref.clone());
        }
        Reply::Ok(Response::Reversal(ok)) => t.amount_fen = amount(ok.amount_fen),
        Reply::Ok(Response::CancelOrder(ok)) => t.amount_fen = amount(ok.refund_due_fen),
        // The serial is the card's reference; the PIN never reaches head office's records.
        Reply::Ok(Response::PinSale(ok)) => {
            t.amount_fen = amount(ok.face_fen);
            t.operator_ref = Some(ok.serial.clone());
        }
        // A void of a card sold takes the sale out of the day's money; one of a sale never
        // received gives nothing back and reverses nothing.
        Reply::Ok(Response::PinVoid(ok)) => {
            t.amount_fen = amount(ok.refund_due_fen);
            t.operator_ref = ok.serial.clone();
            if ok.serial.is_some() {
                t.reverses = Some(ok.sale_txn_id.as_str().to_owned());
            }
        }
        Reply::Ok(_) => {}
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boss_protocol::{Msisdn, Recharge, RechargeOk, TxnId};

    #[test]
    fn arrears_part_of_a_recharge() {
        let req = Request::Recharge(Recharge {
            txn_id: TxnId::new("T1"),
            msisdn: Msisdn::new("13800000002"),
            amount_fen: 5000,
            notes: vec![],
        });
        let ok = |after| {
            Reply::Ok(Response::Recharge(RechargeOk {
                txn_id: TxnId::new("T1"),
                operator_ref: "R".into(),
                msisdn: Msisdn::new("13800000002"),
                amount_fen: 5000,
                balance_after_fen: after,
                credited_at_ms: 0,
            }))
        };
        // −23.50 before: 23.50 paid arrears.
        assert_eq!(
            forwarded_txn("K", &req, &ok(2650)).unwrap().arrears_fen,
            2350
        );
        // In credit before: nothing.
        assert_eq!(forwarded_txn("K", &req, &ok(9000)).unwrap().arrears_fen, 0);
        // −80 before: the whole 50 paid arrears.
        assert_eq!(
            forwarded_txn("K", &req, &ok(-3000)).unwrap().arrears_fen,
            5000
        );
        let failed = forwarded_txn("K", &req, &error(ErrorCode::UnknownSubscriber, "x")).unwrap();
        assert_eq!(
            (failed.state.as_str(), failed.code.as_deref()),
            ("failed", Some("unknown_subscriber"))
        );
    }

    #[test]
    fn only_outcomes_are_recorded_and_a_status_query_records_the_first_answer() {
        let req = Request::Recharge(Recharge {
            txn_id: TxnId::new("T1"),
            msisdn: Msisdn::new("13800000000"),
            amount_fen: 5000,
            notes: vec![],
        });
        // Nothing applied (the kiosk sends it again), or the outcome unknown: no record.
        for code in [ErrorCode::Unavailable, ErrorCode::Busy, ErrorCode::Internal] {
            assert_eq!(forwarded_txn("K", &req, &error(code, "x")), None);
        }
        let ok = Reply::Ok(Response::Recharge(RechargeOk {
            txn_id: TxnId::new("T1"),
            operator_ref: "R1".into(),
            msisdn: Msisdn::new("13800000000"),
            amount_fen: 5000,
            balance_after_fen: 10_000,
            credited_at_ms: 0,
        }));
        let status = |state| boss_protocol::TxnStatus {
            txn_id: TxnId::new("T1"),
            state,
            txn_op: Some("recharge".into()),
            amount_fen: Some(5000),
            outcome: Some(Box::new(ok.clone())),
            reversed_by: None,
        };
        let t = settled_txn("K", &status(TxnState::Committed)).unwrap();
        assert_eq!(
            t,
            forwarded_txn("K", &req, &ok)
                .map(|f| ForwardedTxn {
                    at_ms: t.at_ms,
                    ..f
                })
                .unwrap()
        );
        assert_eq!(
            settled_txn("K", &status(TxnState::Reversed)).unwrap().state,
            "reversed"
        );
        assert_eq!(settled_txn("K", &status(TxnState::Pending)), None);
        assert_eq!(settled_txn("K", &status(TxnState::Unknown)), None);
    }

    proptest::proptest! {
        /// Whatever bytes a client sends, reading a frame ends in a frame or a clear error,
        /// never a panic; a well-formed frame reads back as sent.
        #[test]
        fn any_bytes_read_to_a_frame_or_an_error(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), max in 1usize..200) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _ = rt.block_on(read_frame(&mut bytes.as_slice(), max));
        }

        #[test]
        fn encoded_requests_read_back(id in 0u64..u64::MAX, txn in "[A-Z0-9-]{1,40}") {
            let env = Envelope::request(id, Request::TxnStatus(TxnStatusQuery { txn_id: boss_protocol::TxnId::new(txn) }));
            let frame = codec::encode(&env).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let got = rt.block_on(read_frame(&mut frame.as_slice(), 4096));
            proptest::prop_assert!(matches!(got, Ok(ref e) if *e == env), "{got:?}");
            let cut = frame.get(..frame.len() - 1).unwrap_or_default();
            proptest::prop_assert!(rt.block_on(read_frame(&mut &cut[..], 4096)).is_err());
        }
    }

    #[tokio::test]
    async fn frames_above_the_limit_are_refused_before_reading_them() {
        let (mut a, mut b) = tokio::io::duplex(64);
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = a.write_all(&1_000_000u32.to_be_bytes()).await;
        });
        assert!(matches!(
            read_frame(&mut b, 1000).await,
            Err(FrameError::TooLarge(1_000_000))
        ));
    }
}
