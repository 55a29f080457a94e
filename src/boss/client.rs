//! The BOSS client actor.
//!
//! One task owns the connection and runs this loop:
//!
//! 1. connect (TCP, then TLS 1.3 with the kiosk's certificate, operator CA pinned),
//! 2. send `hello`, compute the clock skew from the server's time, publish
//!    [`LinkState::Up`],
//! 3. serve the session: requests from handles (matched to responses by id, each with its
//!    own deadline), heartbeats on the interval the server asked for, pushes delivered to
//!    the application and acknowledged, queued journal uploads sent one by one,
//! 4. when the connection ends, publish [`LinkState::Down`] with the cause and the delay,
//!    wait (exponential backoff with jitter), and start again.
//!
//! **Money rule.** A [`CallError::Timeout`] or [`CallError::ConnectionLost`] means the
//! outcome is unknown: the caller must ask `txn_status` for the same `txn_id` and never
//! resend a money request with a new id. [`CallError::NotConnected`] means the request was
//! never sent.
//!
//! The journal upload queue is in memory and bounded; persisting it across restarts is the
//! journal's job (it re-queues entries above the `journal_acked_seq` the server reports).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use boss_protocol::io::{ReadError, read_envelope, write_envelope};
use boss_protocol::{
    Ack, AckOutcome, Body, Envelope, ErrorBody, ErrorCode, Heartbeat, Hello, HelloOk,
    JournalUpload, Push, Reply, Request, Response,
};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// Where and how to connect.
#[derive(Clone)]
pub struct BossConfig {
    /// `host:port` of the business system's kiosk gateway.
    pub addr: String,
    /// Name the server certificate must carry (`localhost` for the simulator).
    pub server_name: ServerName<'static>,
    /// TLS configuration from [`boss_protocol::pki::client_config`].
    pub tls: Arc<rustls::ClientConfig>,
    /// Software name/version sent in `hello`.
    pub software: String,
    /// Configuration version the kiosk runs (sent in `hello`).
    pub config_version: Option<u64>,
    /// Highest journal sequence written (sent in `hello`).
    pub journal_last_seq: Option<u64>,
    /// Default deadline of a request.
    pub request_timeout: Duration,
    /// Deadline of TCP connect + TLS handshake + hello.
    pub connect_timeout: Duration,
    /// Heartbeat interval when the server does not set one.
    pub heartbeat_interval: Duration,
    /// Missed heartbeat answers in a row after which the connection is considered dead.
    pub heartbeat_misses: u32,
    /// Reconnection delays.
    pub backoff: BackoffPolicy,
    /// Most journal uploads kept while offline.
    pub upload_queue_capacity: usize,
    /// Most pushes waiting for the application.
    pub push_queue_capacity: usize,
    /// How long the application has to acknowledge a push before `deferred` is sent.
    pub push_ack_timeout: Duration,
}

impl std::fmt::Debug for BossConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BossConfig")
            .field("addr", &self.addr)
            .field("server_name", &self.server_name)
            .field("request_timeout", &self.request_timeout)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl BossConfig {
    /// Defaults: 15 s requests, 20 s connect, 30 s heartbeats, 3 missed heartbeats,
    /// backoff 1 s → 60 s, 1000 queued uploads, 16 queued pushes, 30 s to ack a push.
    pub fn new(
        addr: impl Into<String>,
        server_name: ServerName<'static>,
        tls: Arc<rustls::ClientConfig>,
    ) -> Self {
        Self {
            addr: addr.into(),
            server_name,
            tls,
            software: concat!("telekiosk/", env!("CARGO_PKG_VERSION")).to_owned(),
            config_version: None,
            journal_last_seq: None,
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(20),
            heartbeat_interval: Duration::from_secs(30),
            heartbeat_misses: 3,
            backoff: BackoffPolicy::default(),
            upload_queue_capacity: 1000,
            push_queue_capacity: 16,
            push_ack_timeout: Duration::from_secs(30),
        }
    }
}

impl BossConfig {
    /// Configuration from certificate files: the operator CA file (one or more CA
    /// certificates, all trusted — several during a rollover), the kiosk's certificate and
    /// its private key. See `certs/README.md`.
    pub fn from_files(
        addr: impl Into<String>,
        server_name: ServerName<'static>,
        operator_ca: &std::path::Path,
        kiosk_cert: &std::path::Path,
        kiosk_key: &std::path::Path,
    ) -> Result<Self, boss_protocol::pki::PkiError> {
        use boss_protocol::pki;
        let tls = pki::client_config(
            &pki::load_certs(operator_ca)?,
            pki::load_certs(kiosk_cert)?,
            pki::load_key(kiosk_key)?,
        )?;
        Ok(Self::new(addr, server_name, tls))
    }
}

/// Exponential backoff with jitter: attempt `n` (from 0) waits a random time in
/// `[d/2, d]` where `d = min(max, initial · 2ⁿ)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl BackoffPolicy {
    /// The delay before reconnection attempt `attempt` (0 = first retry), jittered.
    pub fn delay(&self, attempt: u32, rng: &mut impl rand::Rng) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        let d = self.initial.saturating_mul(factor).min(self.max);
        let half = d / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rng.random_range(0..=jitter_ms))
    }
}

/// Why the link is down.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkDownCause {
    /// TCP connection failed.
    Connect(String),
    /// TLS handshake failed or the peer refused our certificate (bad/expired/foreign).
    Tls(String),
    /// Connecting, handshaking or the hello took longer than the connect timeout.
    ConnectTimeout,
    /// The server answered `hello` with an error.
    HelloRefused(ErrorCode),
    /// The server closed the connection.
    ClosedByServer,
    /// Reading or writing failed.
    Io(String),
    /// The server sent something that breaks the protocol.
    Protocol(String),
    /// Heartbeats went unanswered.
    HeartbeatLost,
}

impl std::fmt::Display for LinkDownCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkDownCause::Connect(e) => write!(f, "connect failed: {e}"),
            LinkDownCause::Tls(e) => write!(f, "TLS failed: {e}"),
            LinkDownCause::ConnectTimeout => f.write_str("connect timed out"),
            LinkDownCause::HelloRefused(c) => write!(f, "hello refused: {c}"),
            LinkDownCause::ClosedByServer => f.write_str("closed by server"),
            LinkDownCause::Io(e) => write!(f, "I/O error: {e}"),
            LinkDownCause::Protocol(e) => write!(f, "protocol error: {e}"),
            LinkDownCause::HeartbeatLost => f.write_str("heartbeats unanswered"),
        }
    }
}

/// The state of the link, for the application (status bar, which services are offered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Connecting (attempt counts from 0 since the last session).
    Connecting {
        /// Attempts since the link was last up.
        attempt: u32,
    },
    /// Connected and greeted.
    Up {
        /// Server clock minus kiosk clock, ms (positive: the kiosk is behind), RTT-corrected.
        skew_ms: i64,
        /// The kiosk id the server read from our certificate.
        kiosk_id: String,
    },
    /// Not connected; the next attempt starts after `retry_in`.
    Down {
        /// Why.
        cause: LinkDownCause,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// The client was shut down (all handles dropped).
    Stopped,
}

impl LinkState {
    /// True when requests can be sent.
    pub fn is_up(&self) -> bool {
        matches!(self, LinkState::Up { .. })
    }
}

/// Why a request got no answer from the business system.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The link is down; the request was **not** sent. Safe to retry later, same `txn_id`.
    #[error("not connected to the business system")]
    NotConnected,
    /// Sent, but no answer before the deadline: outcome unknown; ask `txn_status`.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Sent, then the connection broke before the answer: outcome unknown; ask `txn_status`.
    #[error("connection lost before the answer")]
    ConnectionLost,
    /// The business system refused the request (nothing applied).
    #[error("refused by the business system: {0}")]
    Refused(#[source] ErrorBody),
    /// The answer does not belong to the request (server bug).
    #[error("answer `{got}` to request `{sent}`")]
    MismatchedResponse {
        /// Op sent.
        sent: &'static str,
        /// Op received.
        got: &'static str,
    },
    /// The request could not be encoded (too large).
    #[error("request cannot be sent")]
    Encode(#[source] boss_protocol::codec::EncodeError),
    /// The client has stopped.
    #[error("BOSS client stopped")]
    Stopped,
}

impl CallError {
    /// True when the request may have been applied: the caller must query `txn_status`
    /// with the same `txn_id` before doing anything else with the transaction.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, CallError::Timeout(_) | CallError::ConnectionLost)
    }
}

/// The upload queue is full; the journal keeps the entries and offers them again later.
#[derive(Debug, thiserror::Error)]
#[error("upload queue full ({0} uploads waiting)")]
pub struct UploadQueueFull(pub usize);

/// State of the journal upload queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadStatus {
    /// Uploads waiting (including one in flight).
    pub queued: usize,
    /// Highest journal `seq` the server confirmed.
    pub acked_seq: Option<u64>,
    /// Last refusal of an upload (code), if any; such an upload is dropped from the queue.
    pub last_refusal: Option<ErrorCode>,
}

/// A push from head office. Acknowledge it with [`PushDelivery::ack`]; dropping it
/// unacknowledged answers `rejected`. If the link drops first, the server sends it again.
#[derive(Debug)]
pub struct PushDelivery {
    /// The push.
    pub push: Push,
    responder: Option<oneshot::Sender<Ack>>,
}

impl PushDelivery {
    /// Acknowledges the push with an outcome and an optional explanation.
    pub fn ack(self, outcome: AckOutcome, message: Option<String>) {
        self.ack_with(outcome, message, None);
    }

    /// Acknowledges a `diagnostics_request` with the report.
    pub fn ack_with(
        mut self,
        outcome: AckOutcome,
        message: Option<String>,
        diagnostics: Option<serde_json::Value>,
    ) {
        if let Some(tx) = self.responder.take() {
            let _ = tx.send(Ack {
                op: self.push.op().to_owned(),
                outcome,
                message,
                diagnostics,
            });
        }
    }

    /// True when this delivery came from the `hello` answer (kiosk already locked) and
    /// needs no acknowledgement on the wire.
    pub fn is_from_hello(&self) -> bool {
        self.responder.is_none()
    }
}

enum Command {
    Call {
        req: Request,
        timeout: Duration,
        reply: oneshot::Sender<Result<Response, CallError>>,
    },
    QueueUpload {
        upload: JournalUpload,
        reply: oneshot::Sender<Result<(), UploadQueueFull>>,
    },
    SetHeartbeat(Box<Heartbeat>),
    SetHelloState {
        config_version: Option<u64>,
        journal_last_seq: Option<u64>,
    },
}

/// Handle to the BOSS client actor. Cheap to clone; the actor stops when the last handle
/// is dropped.
#[derive(Clone, Debug)]
pub struct BossClient {
    cmd: mpsc::Sender<Command>,
    state: watch::Receiver<LinkState>,
    uploads: watch::Receiver<UploadStatus>,
    request_timeout: Duration,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Call { req, .. } => write!(f, "Call({})", req.op()),
            Command::QueueUpload { .. } => f.write_str("QueueUpload"),
            Command::SetHeartbeat(_) => f.write_str("SetHeartbeat"),
            Command::SetHelloState { .. } => f.write_str("SetHelloState"),
        }
    }
}

impl BossClient {
    /// Starts the actor on the current tokio runtime. Returns the handle and the receiver
    /// of pushes (keep it polled: pushes that find it full are answered `rejected`).
    pub fn spawn(config: BossConfig) -> (Self, mpsc::Receiver<PushDelivery>) {
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (state_tx, state_rx) = watch::channel(LinkState::Connecting { attempt: 0 });
        let (up_tx, up_rx) = watch::channel(UploadStatus::default());
        let (push_tx, push_rx) = mpsc::channel(config.push_queue_capacity.max(1));
        let request_timeout = config.request_timeout;
        let actor = Actor {
            cfg: config,
            cmd_rx,
            state_tx,
            uploads_tx: up_tx,
            push_tx,
            uploads: VecDeque::new(),
            heartbeat: None,
            acked_seq: None,
            last_refusal: None,
        };
        tokio::spawn(actor.run());
        (
            Self {
                cmd: cmd_tx,
                state: state_rx,
                uploads: up_rx,
                request_timeout,
            },
            push_rx,
        )
    }

    /// Sends a request with the default deadline and waits for the answer.
    pub async fn call(&self, req: Request) -> Result<Response, CallError> {
        self.call_with_timeout(req, self.request_timeout).await
    }

    /// Sends a request with its own deadline.
    pub async fn call_with_timeout(
        &self,
        req: Request,
        timeout: Duration,
    ) -> Result<Response, CallError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Command::Call {
                req,
                timeout,
                reply: tx,
            })
            .await
            .map_err(|_| CallError::Stopped)?;
        // The actor answers at the deadline; the grace covers a busy machine.
        match tokio::time::timeout(timeout + Duration::from_secs(5), rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(CallError::Stopped),
            Err(_) => Err(CallError::Timeout(timeout)),
        }
    }

    /// 交易结果查询 — asks where a transaction stands (after a timeout or a lost
    /// connection, and at start-up for every unfinished journal entry).
    pub async fn txn_status(
        &self,
        txn_id: &boss_protocol::TxnId,
    ) -> Result<boss_protocol::TxnStatus, CallError> {
        let req = Request::TxnStatus(boss_protocol::TxnStatusQuery {
            txn_id: txn_id.clone(),
        });
        match self.call(req).await? {
            Response::TxnStatus(s) => Ok(s),
            other => Err(CallError::MismatchedResponse {
                sent: "txn_status",
                got: other.op(),
            }),
        }
    }

    /// Updates what the next `hello` reports: the configuration version now applied and
    /// the highest journal sequence written (so a reconnect does not re-push a bundle
    /// already applied).
    pub async fn set_hello_state(
        &self,
        config_version: Option<u64>,
        journal_last_seq: Option<u64>,
    ) {
        let _ = self
            .cmd
            .send(Command::SetHelloState {
                config_version,
                journal_last_seq,
            })
            .await;
    }

    /// The link state, to watch.
    pub fn link_state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }

    /// The upload queue state, to watch.
    pub fn upload_status(&self) -> watch::Receiver<UploadStatus> {
        self.uploads.clone()
    }

    /// Queues a journal upload; it is sent when the link is up, in order, and retried until
    /// the server confirms it (uploads are idempotent by `seq`).
    pub async fn queue_upload(&self, upload: JournalUpload) -> Result<(), UploadQueueFull> {
        let (tx, rx) = oneshot::channel();
        if self
            .cmd
            .send(Command::QueueUpload { upload, reply: tx })
            .await
            .is_err()
        {
            return Err(UploadQueueFull(0));
        }
        rx.await.unwrap_or(Err(UploadQueueFull(0)))
    }

    /// Sets the device health sent in the next heartbeats (its `kiosk_time_ms` is
    /// refreshed at each send).
    pub async fn set_heartbeat(&self, hb: Heartbeat) {
        let _ = self.cmd.send(Command::SetHeartbeat(Box::new(hb))).await;
    }
}

/// Server clock minus kiosk clock, ms: the server read its clock about half a round trip
/// after the kiosk sent (`sent_ms`, kiosk clock) and before the kiosk received
/// (`received_ms`, kiosk clock).
pub fn clock_skew_ms(sent_ms: i64, received_ms: i64, server_time_ms: i64) -> i64 {
    let rtt = received_ms.saturating_sub(sent_ms).max(0);
    server_time_ms.saturating_sub(sent_ms.saturating_add(rtt / 2))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

/// Pause before re-sending an upload that timed out or was answered `busy`/`unavailable`
/// without `retry_after_ms`.
const UPLOAD_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// What an outstanding request id is waiting for.
enum Waiter {
    Call {
        reply: oneshot::Sender<Result<Response, CallError>>,
        op: &'static str,
        timeout: Duration,
    },
    /// A heartbeat sent at this kiosk time (ms), to refresh the skew from the answer.
    Heartbeat {
        sent_ms: i64,
    },
    Upload,
}

struct Pending {
    waiter: Waiter,
    deadline: Instant,
}

struct Actor {
    cfg: BossConfig,
    cmd_rx: mpsc::Receiver<Command>,
    state_tx: watch::Sender<LinkState>,
    uploads_tx: watch::Sender<UploadStatus>,
    push_tx: mpsc::Sender<PushDelivery>,
    uploads: VecDeque<JournalUpload>,
    heartbeat: Option<Box<Heartbeat>>,
    acked_seq: Option<u64>,
    last_refusal: Option<ErrorCode>,
}

/// How a session or a wait ended.
enum End {
    /// All handles dropped.
    Stop,
    /// The link went down.
    Down(LinkDownCause),
}

impl Actor {
    async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            self.state_tx
                .send_replace(LinkState::Connecting { attempt });
            let cause = match self.connect().await {
                Ok((stream, hello, skew_ms)) => {
                    attempt = 0;
                    match self.session(stream, hello, skew_ms).await {
                        End::Stop => break,
                        End::Down(c) => c,
                    }
                }
                Err(End::Stop) => break,
                Err(End::Down(c)) => c,
            };
            let retry_in = self.cfg.backoff.delay(attempt, &mut rand::rng());
            attempt = attempt.saturating_add(1);
            tracing::warn!(%cause, ?retry_in, "BOSS link down");
            self.state_tx
                .send_replace(LinkState::Down { cause, retry_in });
            if !self.idle(retry_in).await {
                break;
            }
        }
        self.state_tx.send_replace(LinkState::Stopped);
    }

    fn publish_uploads(&self) {
        self.uploads_tx.send_replace(UploadStatus {
            queued: self.uploads.len(),
            acked_seq: self.acked_seq,
            last_refusal: self.last_refusal.clone(),
        });
    }

    /// Handles a command while no session is up. Returns `false` when all handles dropped.
    fn offline_command(&mut self, cmd: Option<Command>) -> bool {
        match cmd {
            None => false,
            Some(Command::Call { reply, .. }) => {
                let _ = reply.send(Err(CallError::NotConnected));
                true
            }
            Some(Command::QueueUpload { upload, reply }) => {
                let _ = reply.send(self.enqueue(upload));
                true
            }
            Some(Command::SetHeartbeat(hb)) => {
                self.heartbeat = Some(hb);
                true
            }
            Some(Command::SetHelloState {
                config_version,
                journal_last_seq,
            }) => {
                self.set_hello_state(config_version, journal_last_seq);
                true
            }
        }
    }

    fn set_hello_state(&mut self, config_version: Option<u64>, journal_last_seq: Option<u64>) {
        self.cfg.config_version = config_version;
        self.cfg.journal_last_seq = journal_last_seq;
    }

    fn enqueue(&mut self, upload: JournalUpload) -> Result<(), UploadQueueFull> {
        if self.uploads.len() >= self.cfg.upload_queue_capacity {
            return Err(UploadQueueFull(self.uploads.len()));
        }
        self.uploads.push_back(upload);
        self.publish_uploads();
        Ok(())
    }

    /// Waits out a backoff delay, still answering commands. `false` when all handles
    /// dropped.
    async fn idle(&mut self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return true,
                cmd = self.cmd_rx.recv() => if !self.offline_command(cmd) { return false },
            }
        }
    }

    /// TCP + TLS + hello, bounded by the connect timeout, answering commands meanwhile.
    async fn connect(
        &mut self,
    ) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, HelloOk, i64), End> {
        let deadline = Instant::now() + self.cfg.connect_timeout;
        let cfg = self.cfg.clone();
        let fut = connect_and_greet(cfg);
        tokio::pin!(fut);
        loop {
            tokio::select! {
                r = &mut fut => return r.map_err(End::Down),
                () = tokio::time::sleep_until(deadline) => return Err(End::Down(LinkDownCause::ConnectTimeout)),
                cmd = self.cmd_rx.recv() => if !self.offline_command(cmd) { return Err(End::Stop) },
            }
        }
    }

    async fn session(
        &mut self,
        stream: tokio_rustls::client::TlsStream<TcpStream>,
        hello: HelloOk,
        skew_ms: i64,
    ) -> End {
        tracing::info!(kiosk_id = %hello.kiosk_id, skew_ms, "BOSS link up");
        self.state_tx.send_replace(LinkState::Up {
            skew_ms,
            kiosk_id: hello.kiosk_id.clone(),
        });
        if let Some(acked) = hello.journal_acked_seq {
            self.acked_seq = Some(self.acked_seq.map_or(acked, |a| a.max(acked)));
            self.publish_uploads();
        }
        if let Some(lock) = hello.locked.clone() {
            // Already locked by head office: tell the application like a push (no wire ack).
            let _ = self.push_tx.try_send(PushDelivery {
                push: Push::Lock(lock),
                responder: None,
            });
        }
        let hb_interval = match hello.heartbeat_interval_ms {
            0 => self.cfg.heartbeat_interval,
            ms => Duration::from_millis(ms)
                .clamp(Duration::from_millis(200), Duration::from_secs(600)),
        };

        let (reader, writer) = tokio::io::split(stream);
        let (in_tx, mut in_rx) = mpsc::channel::<Result<Option<Envelope>, ReadError>>(32);
        let reader_task = tokio::spawn(read_loop(reader, in_tx));
        let (ack_tx, mut ack_rx) = mpsc::channel::<(u64, Ack)>(32);
        let mut s = Session {
            writer,
            next_id: 2, // 1 was the hello
            pending: HashMap::new(),
            upload_in_flight: None,
            upload_not_before: None,
            write_timeout: self.cfg.request_timeout,
            missed_heartbeats: 0,
        };
        let mut hb_tick = tokio::time::interval_at(Instant::now() + hb_interval, hb_interval);
        hb_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        let end = loop {
            if let Err(c) = self.pump_uploads(&mut s).await {
                break End::Down(c);
            }
            let next_deadline = s
                .pending
                .values()
                .map(|p| p.deadline)
                .chain(s.upload_not_before)
                .min();
            let step = tokio::select! {
                frame = in_rx.recv() => self.on_read(&mut s, frame, &ack_tx).await,
                cmd = self.cmd_rx.recv() => self.on_command(&mut s, cmd).await,
                Some((push_id, ack)) = ack_rx.recv() => match s.send(&Envelope::ack(push_id, ack)).await {
                    Err(SendError::Io(c)) => Err(End::Down(c)),
                    _ => Ok(()),
                },
                _ = hb_tick.tick() => self.send_heartbeat(&mut s, hb_interval).await,
                () = sleep_until_opt(next_deadline) => {
                    self.expire(&mut s);
                    Ok(())
                }
            };
            if let Err(end) = step {
                break end;
            }
        };
        reader_task.abort();
        // Everything still outstanding was sent: its outcome is unknown.
        for (_, p) in s.pending.drain() {
            if let Waiter::Call { reply, .. } = p.waiter {
                let _ = reply.send(Err(CallError::ConnectionLost));
            }
        }
        self.publish_uploads();
        end
    }

    async fn on_read(
        &mut self,
        s: &mut Session,
        frame: Option<Result<Option<Envelope>, ReadError>>,
        ack_tx: &mpsc::Sender<(u64, Ack)>,
    ) -> Result<(), End> {
        match frame {
            Some(Ok(Some(env))) => self.on_frame(s, env, ack_tx).await.map_err(End::Down),
            Some(Ok(None)) | None => Err(End::Down(LinkDownCause::ClosedByServer)),
            Some(Err(ReadError::Decode(e))) if e.is_recoverable() => {
                tracing::warn!(error = %e, "undecodable message from BOSS ignored");
                Ok(())
            }
            Some(Err(ReadError::Io(e))) => Err(End::Down(io_cause(&e))),
            Some(Err(e)) => Err(End::Down(LinkDownCause::Protocol(e.to_string()))),
        }
    }

    async fn on_command(&mut self, s: &mut Session, cmd: Option<Command>) -> Result<(), End> {
        match cmd {
            None => Err(End::Stop),
            Some(Command::Call {
                req,
                timeout,
                reply,
            }) => {
                let id = s.take_id();
                let op = req.op();
                match s.send(&Envelope::request(id, req)).await {
                    Ok(()) => {
                        let deadline = Instant::now() + timeout;
                        s.pending.insert(
                            id,
                            Pending {
                                waiter: Waiter::Call { reply, op, timeout },
                                deadline,
                            },
                        );
                        Ok(())
                    }
                    Err(SendError::Encode(e)) => {
                        let _ = reply.send(Err(CallError::Encode(e)));
                        Ok(())
                    }
                    Err(SendError::Io(c)) => {
                        // Possibly partly written: the server may have it, outcome unknown.
                        let _ = reply.send(Err(CallError::ConnectionLost));
                        Err(End::Down(c))
                    }
                }
            }
            Some(Command::QueueUpload { upload, reply }) => {
                let _ = reply.send(self.enqueue(upload));
                Ok(())
            }
            Some(Command::SetHeartbeat(hb)) => {
                self.heartbeat = Some(hb);
                Ok(())
            }
            Some(Command::SetHelloState {
                config_version,
                journal_last_seq,
            }) => {
                self.set_hello_state(config_version, journal_last_seq);
                Ok(())
            }
        }
    }

    async fn send_heartbeat(&mut self, s: &mut Session, interval: Duration) -> Result<(), End> {
        if s.missed_heartbeats >= self.cfg.heartbeat_misses {
            return Err(End::Down(LinkDownCause::HeartbeatLost));
        }
        let mut hb = self
            .heartbeat
            .as_deref()
            .cloned()
            .unwrap_or_else(empty_heartbeat);
        let sent_ms = now_ms();
        hb.kiosk_time_ms = sent_ms;
        let id = s.take_id();
        match s.send(&Envelope::request(id, Request::Heartbeat(hb))).await {
            Ok(()) => {
                let deadline = Instant::now() + self.cfg.request_timeout.min(interval * 2);
                s.pending.insert(
                    id,
                    Pending {
                        waiter: Waiter::Heartbeat { sent_ms },
                        deadline,
                    },
                );
                Ok(())
            }
            Err(SendError::Io(c)) => Err(End::Down(c)),
            Err(SendError::Encode(e)) => {
                tracing::error!(error = %e, "heartbeat not encodable");
                Ok(())
            }
        }
    }

    fn expire(&mut self, s: &mut Session) {
        let now = Instant::now();
        let expired: Vec<u64> = s
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let Some(p) = s.pending.remove(&id) else {
                continue;
            };
            match p.waiter {
                Waiter::Call { reply, op, timeout } => {
                    tracing::warn!(op, id, "BOSS request timed out");
                    let _ = reply.send(Err(CallError::Timeout(timeout)));
                }
                Waiter::Heartbeat { .. } => {
                    s.missed_heartbeats = s.missed_heartbeats.saturating_add(1)
                }
                Waiter::Upload => {
                    // Resent by pump_uploads (idempotent by seq), after a pause.
                    s.upload_in_flight = None;
                    s.upload_not_before = Some(now + UPLOAD_RETRY_PAUSE);
                }
            }
        }
    }

    /// Sends the oldest queued upload if none is in flight.
    async fn pump_uploads(&mut self, s: &mut Session) -> Result<(), LinkDownCause> {
        if let Some(t) = s.upload_not_before {
            if Instant::now() < t {
                return Ok(());
            }
            s.upload_not_before = None;
        }
        if s.upload_in_flight.is_some() {
            return Ok(());
        }
        let Some(up) = self.uploads.front().cloned() else {
            return Ok(());
        };
        let id = s.take_id();
        match s
            .send(&Envelope::request(id, Request::JournalUpload(up)))
            .await
        {
            Ok(()) => {
                s.upload_in_flight = Some(id);
                s.pending.insert(
                    id,
                    Pending {
                        waiter: Waiter::Upload,
                        deadline: Instant::now() + self.cfg.request_timeout,
                    },
                );
                Ok(())
            }
            Err(SendError::Io(c)) => Err(c),
            Err(SendError::Encode(e)) => {
                tracing::error!(error = %e, "journal upload not encodable; dropped (split it)");
                self.uploads.pop_front();
                self.publish_uploads();
                Ok(())
            }
        }
    }

    async fn on_frame(
        &mut self,
        s: &mut Session,
        env: Envelope,
        ack_tx: &mpsc::Sender<(u64, Ack)>,
    ) -> Result<(), LinkDownCause> {
        match env.body {
            Body::Response(reply) => {
                let Some(p) = s.pending.remove(&env.id) else {
                    tracing::debug!(id = env.id, "late or unknown response ignored");
                    return Ok(());
                };
                match p.waiter {
                    Waiter::Call { reply: tx, op, .. } => {
                        let r = match reply {
                            Reply::Ok(resp) if resp.op() == op => Ok(resp),
                            Reply::Ok(resp) => Err(CallError::MismatchedResponse {
                                sent: op,
                                got: resp.op(),
                            }),
                            Reply::Error(e) => Err(CallError::Refused(e)),
                        };
                        let _ = tx.send(r);
                    }
                    Waiter::Heartbeat { sent_ms } => {
                        s.missed_heartbeats = 0;
                        if let Reply::Ok(Response::Heartbeat(h)) = reply {
                            let skew = clock_skew_ms(sent_ms, now_ms(), h.server_time_ms);
                            self.state_tx.send_if_modified(|st| match st {
                                LinkState::Up { skew_ms, .. }
                                    if (*skew_ms - skew).abs() >= 1000 =>
                                {
                                    *skew_ms = skew;
                                    true
                                }
                                _ => false,
                            });
                        }
                    }
                    Waiter::Upload => {
                        s.upload_in_flight = None;
                        match reply {
                            Reply::Ok(Response::JournalUpload(a)) => {
                                self.acked_seq = Some(
                                    self.acked_seq.map_or(a.acked_seq, |x| x.max(a.acked_seq)),
                                );
                                self.uploads.pop_front();
                            }
                            Reply::Error(e) if e.code.is_retryable() => {
                                tracing::warn!(code = %e.code, "journal upload deferred by BOSS");
                                let pause = e
                                    .retry_after_ms
                                    .map_or(UPLOAD_RETRY_PAUSE, Duration::from_millis)
                                    .min(Duration::from_secs(600));
                                s.upload_not_before = Some(Instant::now() + pause);
                            }
                            Reply::Error(e) => {
                                tracing::error!(code = %e.code, "journal upload refused by BOSS; dropped");
                                self.last_refusal = Some(e.code);
                                self.uploads.pop_front();
                            }
                            Reply::Ok(other) => {
                                return Err(LinkDownCause::Protocol(format!(
                                    "answer {} to journal_upload",
                                    other.op()
                                )));
                            }
                        }
                        self.publish_uploads();
                    }
                }
                Ok(())
            }
            Body::Push(push) => {
                let (tx, rx) = oneshot::channel();
                let op = push.op();
                let delivery = PushDelivery {
                    push,
                    responder: Some(tx),
                };
                let immediate = match self.push_tx.try_send(delivery) {
                    Ok(()) => None,
                    Err(mpsc::error::TrySendError::Full(_)) => Some("kiosk busy: push queue full"),
                    Err(mpsc::error::TrySendError::Closed(_)) => Some("no handler for pushes"),
                };
                if let Some(msg) = immediate {
                    let ack = Ack {
                        op: op.to_owned(),
                        outcome: AckOutcome::Rejected,
                        message: Some(msg.to_owned()),
                        diagnostics: None,
                    };
                    return match s.send(&Envelope::ack(env.id, ack)).await {
                        Err(SendError::Io(c)) => Err(c),
                        _ => Ok(()),
                    };
                }
                let ack_tx = ack_tx.clone();
                let wait = self.cfg.push_ack_timeout;
                let push_id = env.id;
                tokio::spawn(async move {
                    let ack = match tokio::time::timeout(wait, rx).await {
                        Ok(Ok(ack)) => ack,
                        Ok(Err(_)) => Ack {
                            op: op.to_owned(),
                            outcome: AckOutcome::Rejected,
                            message: Some("not handled".into()),
                            diagnostics: None,
                        },
                        Err(_) => Ack {
                            op: op.to_owned(),
                            outcome: AckOutcome::Deferred,
                            message: Some("still being handled".into()),
                            diagnostics: None,
                        },
                    };
                    let _ = ack_tx.send((push_id, ack)).await;
                });
                Ok(())
            }
            Body::Request(r) => Err(LinkDownCause::Protocol(format!(
                "server sent request {}",
                r.op()
            ))),
            Body::Ack(_) => Err(LinkDownCause::Protocol("server sent an ack".into())),
        }
    }
}

struct Session {
    writer: WriteHalf<tokio_rustls::client::TlsStream<TcpStream>>,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    upload_in_flight: Option<u64>,
    /// Longest time one frame may take to write.
    write_timeout: Duration,
    /// After a failed upload, the next attempt waits until then.
    upload_not_before: Option<Instant>,
    missed_heartbeats: u32,
}

enum SendError {
    Encode(boss_protocol::codec::EncodeError),
    Io(LinkDownCause),
}

impl Session {
    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    async fn send(&mut self, env: &Envelope) -> Result<(), SendError> {
        // A peer that stops reading would otherwise stall the whole session.
        let written =
            tokio::time::timeout(self.write_timeout, write_envelope(&mut self.writer, env)).await;
        let Ok(written) = written else {
            return Err(SendError::Io(LinkDownCause::Io("write stalled".into())));
        };
        match written {
            Ok(()) => Ok(()),
            Err(boss_protocol::io::WriteError::Encode(e)) => Err(SendError::Encode(e)),
            Err(boss_protocol::io::WriteError::Io(e)) => Err(SendError::Io(io_cause(&e))),
            Err(e) => Err(SendError::Io(LinkDownCause::Io(e.to_string()))),
        }
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut r: R,
    tx: mpsc::Sender<Result<Option<Envelope>, ReadError>>,
) {
    loop {
        let item = read_envelope(&mut r).await;
        let stop = match &item {
            Ok(None) => true,
            Ok(Some(_)) => false,
            Err(ReadError::Decode(e)) => !e.is_recoverable(),
            Err(_) => true,
        };
        if tx.send(item).await.is_err() || stop {
            return;
        }
    }
}

fn empty_heartbeat() -> Heartbeat {
    Heartbeat {
        kiosk_time_ms: 0,
        devices: Vec::new(),
        cash_box: Default::default(),
        card_stock: Default::default(),
        screen: "unknown".into(),
        last_error: None,
        software: None,
        config_version: None,
        kiosk_state: None,
        state_detail: None,
    }
}

/// Classifies an I/O error: rustls reports TLS failures (bad certificate, alerts from the
/// peer) as `InvalidData` wrapping a `rustls::Error`.
fn io_cause(e: &std::io::Error) -> LinkDownCause {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(t) => LinkDownCause::Tls(t.to_string()),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => LinkDownCause::ClosedByServer,
        None => LinkDownCause::Io(e.to_string()),
    }
}

async fn connect_and_greet(
    cfg: BossConfig,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, HelloOk, i64), LinkDownCause> {
    let tcp = TcpStream::connect(&cfg.addr)
        .await
        .map_err(|e| LinkDownCause::Connect(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let connector = TlsConnector::from(cfg.tls.clone());
    let mut tls = connector
        .connect(cfg.server_name.clone(), tcp)
        .await
        .map_err(|e| match io_cause(&e) {
            LinkDownCause::Io(s) => LinkDownCause::Tls(s),
            other => other,
        })?;
    let sent_at = now_ms();
    let hello = Hello {
        software: cfg.software.clone(),
        kiosk_time_ms: sent_at,
        config_version: cfg.config_version,
        journal_last_seq: cfg.journal_last_seq,
    };
    greet(&mut tls, hello, sent_at)
        .await
        .map(|(h, skew)| (tls, h, skew))
}

/// Sends `hello` as request 1 and waits for its answer. With TLS 1.3 a server that refuses
/// our certificate says so only now, as an alert on the first read.
async fn greet<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    hello: Hello,
    sent_at: i64,
) -> Result<(HelloOk, i64), LinkDownCause> {
    write_envelope(s, &Envelope::request(1, Request::Hello(hello)))
        .await
        .map_err(|e| match e {
            boss_protocol::io::WriteError::Io(e) => io_cause(&e),
            other => LinkDownCause::Protocol(other.to_string()),
        })?;
    loop {
        let env = match read_envelope(s).await {
            Ok(Some(env)) => env,
            Ok(None) => return Err(LinkDownCause::ClosedByServer),
            Err(ReadError::Io(e)) => return Err(io_cause(&e)),
            Err(e) => return Err(LinkDownCause::Protocol(e.to_string())),
        };
        match env.body {
            Body::Response(Reply::Ok(Response::Hello(h))) if env.id == 1 => {
                let skew = clock_skew_ms(sent_at, now_ms(), h.server_time_ms);
                return Ok((h, skew));
            }
            Body::Response(Reply::Error(e)) if env.id == 1 => {
                return Err(LinkDownCause::HelloRefused(e.code));
            }
            Body::Response(_) => {
                return Err(LinkDownCause::Protocol("unexpected answer to hello".into()));
            }
            // A push may arrive before the hello answer only from a broken server; ignore it
            // (the server re-sends unacknowledged pushes).
            Body::Push(_) => {}
            Body::Request(_) | Body::Ack(_) => {
                return Err(LinkDownCause::Protocol(
                    "unexpected message before hello answer".into(),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let p = BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for attempt in 0..30 {
            let full = Duration::from_millis(100)
                .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
                .min(Duration::from_secs(2));
            let d = p.delay(attempt, &mut rng);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
        // jitter: not all equal
        let ds: std::collections::BTreeSet<_> = (0..20).map(|_| p.delay(10, &mut rng)).collect();
        assert!(ds.len() > 1);
    }

    #[test]
    fn skew_is_rtt_corrected() {
        // Sent at 1000, answered at 1200 (RTT 200): the server's 61100 is read at ~1100.
        assert_eq!(clock_skew_ms(1000, 1200, 61_100), 60_000);
        assert_eq!(clock_skew_ms(1000, 1000, 1000), 0);
        // A kiosk clock that jumped backwards never yields a negative RTT.
        assert_eq!(clock_skew_ms(1000, 900, 1000), 0);
        // Absurd clocks saturate instead of overflowing.
        assert!(clock_skew_ms(i64::MIN, i64::MAX, 0) > 0);
    }

    #[test]
    fn outcome_unknown_only_after_send() {
        assert!(CallError::Timeout(Duration::from_secs(1)).outcome_unknown());
        assert!(CallError::ConnectionLost.outcome_unknown());
        assert!(!CallError::NotConnected.outcome_unknown());
        assert!(!CallError::Refused(ErrorBody::new(ErrorCode::Arrears, "")).outcome_unknown());
    }
}
