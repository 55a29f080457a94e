//! The kiosk's BOSS client against a small TLS server built in this test from the same
//! rustls configuration the real business system uses (`boss_protocol::pki`): real
//! TLS 1.3 with client certificates over 127.0.0.1, no fake transport.
//!
//! What it proves: certificates from the wrong CA, missing or expired are refused by the
//! right side; the server reads the kiosk id from the certificate; answers are matched to
//! requests by id even out of order; a request timeout is its own error and the link
//! survives it; the client reconnects after the server drops it; pushes reach the
//! application and their acks reach the server; uploads queued offline are sent once up.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use boss_protocol::io::{read_envelope, write_envelope};
use boss_protocol::pki::{self, Authority, Issued, Validity};
use boss_protocol::*;
use rustls::pki_types::{CertificateDer, ServerName};
use telekiosk::boss::{
    BackoffPolicy, BossClient, BossConfig, CallError, LinkDownCause, LinkState, PushDelivery,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

/// Generous: the CI machine has two loaded cores.
const WAIT: Duration = Duration::from_secs(30);

/// What the test server did, in order.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    /// Handshake done; kiosk id from the peer certificate.
    Connected(String),
    /// Handshake refused (our verifier said no, or the client aborted).
    HandshakeFailed(String),
    /// A request arrived.
    Request(u64, Request),
    /// An ack arrived.
    Ack(u64, Ack),
}

/// How the server answers one request.
enum Action {
    Reply(Reply),
    /// Answer once `signal` is notified.
    ReplyWhen(Arc<tokio::sync::Notify>, Reply),
    /// Answer, then notify `signal` (after the answer is queued for writing).
    ReplyThenNotify(Reply, Arc<tokio::sync::Notify>),
    Ignore,
    /// Close the connection without answering.
    Drop,
}

type Handler = Arc<dyn Fn(usize, &str, &Request) -> Action + Send + Sync>;

struct Pki {
    operator_ca: Authority,
    kiosk_ca: Authority,
}

impl Pki {
    fn new() -> Self {
        Self {
            operator_ca: Authority::new("test operator CA").unwrap(),
            kiosk_ca: Authority::new("test kiosk CA").unwrap(),
        }
    }
    fn server_config(&self, server: &Issued) -> Arc<rustls::ServerConfig> {
        pki::server_config(
            vec![server.cert.clone()],
            server.key(),
            &[self.kiosk_ca.cert().clone()],
        )
        .unwrap()
    }
    fn good_server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server_config(
            &self
                .operator_ca
                .issue_server(&["localhost", "127.0.0.1"], Validity::Days(30))
                .unwrap(),
        )
    }
    fn client_config(&self, kiosk: &Issued) -> Arc<rustls::ClientConfig> {
        pki::client_config(
            &[self.operator_ca.cert().clone()],
            vec![kiosk.cert.clone()],
            kiosk.key(),
        )
        .unwrap()
    }
    fn good_client_config(&self, id: &str) -> Arc<rustls::ClientConfig> {
        self.client_config(&self.kiosk_ca.issue_kiosk(id, Validity::Days(30)).unwrap())
    }
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn hello_ok(kiosk_id: &str, clock_offset_ms: i64, heartbeat_ms: u64) -> Reply {
    Reply::Ok(Response::Hello(HelloOk {
        kiosk_id: kiosk_id.to_owned(),
        server_time_ms: now_ms() + clock_offset_ms,
        heartbeat_interval_ms: heartbeat_ms,
        config_version: None,
        locked: None,
        journal_acked_seq: None,
    }))
}

/// Default behaviour: hello answered, heartbeats answered, subscriber lookups echoed,
/// journal uploads acked; everything else ignored.
fn default_action(kiosk_id: &str, req: &Request) -> Action {
    match req {
        Request::Hello(_) => Action::Reply(hello_ok(kiosk_id, 0, 60_000)),
        Request::Heartbeat(_) => Action::Reply(Reply::Ok(Response::Heartbeat(HeartbeatOk {
            server_time_ms: now_ms(),
        }))),
        Request::SubscriberLookup(q) => Action::Reply(subscriber(&q.msisdn)),
        Request::JournalUpload(u) => {
            Action::Reply(Reply::Ok(Response::JournalUpload(JournalAccepted {
                accepted: u32::try_from(u.entries.len()).unwrap(),
                acked_seq: u.entries.iter().map(|e| e.seq).max().unwrap_or(0),
            })))
        }
        _ => Action::Ignore,
    }
}

fn subscriber(msisdn: &Msisdn) -> Reply {
    Reply::Ok(Response::SubscriberLookup(Subscriber {
        msisdn: msisdn.clone(),
        owner_name_masked: "*小明".into(),
        status: SubscriberStatus::Active,
        payment: PaymentKind::Prepaid,
        balance_fen: 1234,
        arrears_fen: 0,
        real_name: true,
    }))
}

struct TestServer {
    addr: SocketAddr,
    seen: mpsc::UnboundedReceiver<Seen>,
    /// Pushes to send on the current connection.
    push: mpsc::UnboundedSender<Push>,
}

impl TestServer {
    async fn start(cfg: Arc<rustls::ServerConfig>, handler: Handler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, cfg, handler)
    }

    fn start_on(listener: TcpListener, cfg: Arc<rustls::ServerConfig>, handler: Handler) -> Self {
        let addr = listener.local_addr().unwrap();
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let (push, push_rx) = mpsc::unbounded_channel::<Push>();
        let push_rx = Arc::new(tokio::sync::Mutex::new(push_rx));
        let acceptor = TlsAcceptor::from(cfg);
        tokio::spawn(async move {
            let mut conn_no = 0usize;
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let n = conn_no;
                conn_no += 1;
                let acceptor = acceptor.clone();
                let seen_tx = seen_tx.clone();
                let handler = handler.clone();
                let push_rx = push_rx.clone();
                tokio::spawn(async move {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(t) => t,
                        Err(e) => {
                            let _ = seen_tx.send(Seen::HandshakeFailed(e.to_string()));
                            return;
                        }
                    };
                    let certs: Vec<CertificateDer<'static>> = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .unwrap_or_default()
                        .to_vec();
                    let kiosk_id = pki::kiosk_id_from_cert(&certs[0]).unwrap();
                    let _ = seen_tx.send(Seen::Connected(kiosk_id.clone()));
                    serve(n, kiosk_id, tls, handler, seen_tx, push_rx).await;
                });
            }
        });
        Self { addr, seen, push }
    }

    /// Next event, or panic after [`WAIT`].
    async fn next(&mut self) -> Seen {
        tokio::time::timeout(WAIT, self.seen.recv())
            .await
            .expect("server saw nothing")
            .expect("server gone")
    }

    /// Skips events until one matches.
    async fn expect<T>(&mut self, mut f: impl FnMut(&Seen) -> Option<T>) -> T {
        loop {
            let s = self.next().await;
            if let Some(t) = f(&s) {
                return t;
            }
        }
    }
}

async fn serve(
    conn: usize,
    kiosk_id: String,
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    handler: Handler,
    seen: mpsc::UnboundedSender<Seen>,
    pushes: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Push>>>,
) {
    let (mut r, mut w) = tokio::io::split(tls);
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Option<Envelope>>();
    let writer = tokio::spawn(async move {
        while let Some(Some(env)) = out_rx.recv().await {
            if write_envelope(&mut w, &env).await.is_err() {
                return;
            }
        }
        // None: drop the connection
    });
    let push_out = out_tx.clone();
    let push_task = tokio::spawn(async move {
        let push_ids = AtomicU64::new(1000);
        let mut rx = pushes.lock().await;
        while let Some(p) = rx.recv().await {
            let id = push_ids.fetch_add(1, Ordering::Relaxed);
            if push_out.send(Some(Envelope::push(id, p))).is_err() {
                return;
            }
        }
    });
    while let Ok(Some(env)) = read_envelope(&mut r).await {
        match env.body {
            Body::Request(req) => {
                let _ = seen.send(Seen::Request(env.id, req.clone()));
                match handler(conn, &kiosk_id, &req) {
                    Action::Reply(rep) => {
                        let _ = out_tx.send(Some(Envelope::response(env.id, rep)));
                    }
                    Action::ReplyWhen(signal, rep) => {
                        let out = out_tx.clone();
                        tokio::spawn(async move {
                            signal.notified().await;
                            let _ = out.send(Some(Envelope::response(env.id, rep)));
                        });
                    }
                    Action::ReplyThenNotify(rep, signal) => {
                        let _ = out_tx.send(Some(Envelope::response(env.id, rep)));
                        signal.notify_one();
                    }
                    Action::Ignore => {}
                    Action::Drop => break,
                }
            }
            Body::Ack(a) => {
                let _ = seen.send(Seen::Ack(env.id, a));
            }
            _ => break,
        }
    }
    push_task.abort();
    let _ = out_tx.send(None);
    writer.abort();
}

fn config(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> BossConfig {
    let mut c = BossConfig::new(
        addr.to_string(),
        ServerName::try_from("localhost").unwrap(),
        tls,
    );
    c.backoff = BackoffPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
    };
    c.request_timeout = Duration::from_secs(10);
    c.connect_timeout = Duration::from_secs(15);
    c
}

async fn wait_state(
    rx: &mut watch::Receiver<LinkState>,
    mut pred: impl FnMut(&LinkState) -> bool,
) -> LinkState {
    tokio::time::timeout(WAIT, async {
        loop {
            let s = rx.borrow_and_update().clone();
            if pred(&s) {
                return s;
            }
            rx.changed().await.expect("client stopped");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("link state never matched; last {:?}", rx.borrow()))
}

fn default_handler() -> Handler {
    Arc::new(|_, id, req| default_action(id, req))
}

fn lookup(n: &str) -> Request {
    Request::SubscriberLookup(SubscriberLookup {
        msisdn: Msisdn::new(n),
    })
}

fn recharge(txn: &str) -> Request {
    Request::Recharge(Recharge {
        txn_id: TxnId::new(txn),
        msisdn: Msisdn::new("13800000001"),
        amount_fen: 5000,
        notes: vec![NoteCount {
            denomination_fen: 5000,
            count: 1,
        }],
    })
}

#[tokio::test]
async fn kiosk_id_comes_from_certificate_and_skew_is_measured() {
    let pki = Pki::new();
    // The server's clock is 90 s ahead and it names the kiosk after the certificate.
    let handler: Handler = Arc::new(|_, id, req| match req {
        Request::Hello(_) => Action::Reply(hello_ok(id, 90_000, 60_000)),
        _ => default_action(id, req),
    });
    let mut server = TestServer::start(pki.good_server_config(), handler).await;
    let (client, _pushes) = BossClient::spawn(config(server.addr, pki.good_client_config("K0042")));
    let mut st = client.link_state();
    let up = wait_state(&mut st, LinkState::is_up).await;
    let LinkState::Up { skew_ms, kiosk_id } = up else {
        unreachable!()
    };
    assert_eq!(kiosk_id, "K0042");
    assert!((80_000..=100_000).contains(&skew_ms), "skew {skew_ms}");
    assert_eq!(server.next().await, Seen::Connected("K0042".into()));
    // The hello carried the kiosk's clock.
    let hello_time = server
        .expect(|s| match s {
            Seen::Request(1, Request::Hello(h)) => Some(h.kiosk_time_ms),
            _ => None,
        })
        .await;
    assert!((now_ms() - hello_time).abs() < 60_000);
}

#[tokio::test]
async fn client_certificate_from_foreign_ca_is_refused() {
    let pki = Pki::new();
    let foreign = Authority::new("someone else's kiosk CA").unwrap();
    let kiosk = foreign.issue_kiosk("K0001", Validity::Days(30)).unwrap();
    let mut server = TestServer::start(pki.good_server_config(), default_handler()).await;
    let (client, _p) = BossClient::spawn(config(server.addr, pki.client_config(&kiosk)));
    let mut st = client.link_state();
    let down = wait_state(&mut st, |s| matches!(s, LinkState::Down { .. })).await;
    assert!(
        matches!(
            down,
            LinkState::Down {
                cause: LinkDownCause::Tls(_),
                ..
            }
        ),
        "{down:?}"
    );
    assert!(matches!(server.next().await, Seen::HandshakeFailed(_)));
    assert!(matches!(
        client.call(lookup("13800000001")).await,
        Err(CallError::NotConnected)
    ));
}

#[tokio::test]
async fn missing_client_certificate_is_refused() {
    let pki = Pki::new();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.operator_ca.cert().clone()).unwrap();
    let no_cert = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut server = TestServer::start(pki.good_server_config(), default_handler()).await;
    let (client, _p) = BossClient::spawn(config(server.addr, Arc::new(no_cert)));
    let mut st = client.link_state();
    let down = wait_state(&mut st, |s| matches!(s, LinkState::Down { .. })).await;
    assert!(
        matches!(
            down,
            LinkState::Down {
                cause: LinkDownCause::Tls(_),
                ..
            }
        ),
        "{down:?}"
    );
    let Seen::HandshakeFailed(why) = server.next().await else {
        panic!("server accepted a kiosk without certificate")
    };
    assert!(why.to_lowercase().contains("certificate"), "{why}");
}

#[tokio::test]
async fn server_certificate_from_foreign_ca_is_refused_by_the_kiosk() {
    let pki = Pki::new();
    let impostor_ca = Authority::new("impostor operator CA").unwrap();
    let impostor = impostor_ca
        .issue_server(&["localhost", "127.0.0.1"], Validity::Days(30))
        .unwrap();
    let mut server = TestServer::start(pki.server_config(&impostor), default_handler()).await;
    let (client, _p) = BossClient::spawn(config(server.addr, pki.good_client_config("K0001")));
    let mut st = client.link_state();
    let down = wait_state(&mut st, |s| matches!(s, LinkState::Down { .. })).await;
    let LinkState::Down {
        cause: LinkDownCause::Tls(why),
        ..
    } = down
    else {
        panic!("{down:?}")
    };
    assert!(
        why.to_lowercase().contains("issuer") || why.to_lowercase().contains("certificate"),
        "{why}"
    );
    // The kiosk never sent anything over the impostor's connection.
    assert!(matches!(server.next().await, Seen::HandshakeFailed(_)));
}

#[tokio::test]
async fn expired_client_certificate_is_refused() {
    let pki = Pki::new();
    let kiosk = pki
        .kiosk_ca
        .issue_kiosk("K0001", Validity::Expired)
        .unwrap();
    let mut server = TestServer::start(pki.good_server_config(), default_handler()).await;
    let (client, _p) = BossClient::spawn(config(server.addr, pki.client_config(&kiosk)));
    let mut st = client.link_state();
    let down = wait_state(&mut st, |s| matches!(s, LinkState::Down { .. })).await;
    assert!(
        matches!(
            down,
            LinkState::Down {
                cause: LinkDownCause::Tls(_),
                ..
            }
        ),
        "{down:?}"
    );
    let Seen::HandshakeFailed(why) = server.next().await else {
        panic!("expired kiosk accepted")
    };
    assert!(why.to_lowercase().contains("expired"), "{why}");
}

#[tokio::test]
async fn expired_server_certificate_is_refused_by_the_kiosk() {
    let pki = Pki::new();
    let server_cert = pki
        .operator_ca
        .issue_server(&["localhost"], Validity::Expired)
        .unwrap();
    let _server = TestServer::start(pki.server_config(&server_cert), default_handler()).await;
    let (client, _p) = BossClient::spawn(config(_server.addr, pki.good_client_config("K0001")));
    let mut st = client.link_state();
    let down = wait_state(&mut st, |s| matches!(s, LinkState::Down { .. })).await;
    let LinkState::Down {
        cause: LinkDownCause::Tls(why),
        ..
    } = down
    else {
        panic!("{down:?}")
    };
    assert!(why.to_lowercase().contains("expired"), "{why}");
}

#[tokio::test]
async fn answers_are_matched_to_requests_even_out_of_order() {
    let pki = Pki::new();
    // The first lookup is answered only after the second one has been answered.
    let second_answered = Arc::new(tokio::sync::Notify::new());
    let sig = second_answered.clone();
    let handler: Handler = Arc::new(move |_, id, req| match req {
        Request::SubscriberLookup(q) if q.msisdn.as_str() == "13800000001" => {
            Action::ReplyWhen(sig.clone(), subscriber(&q.msisdn))
        }
        Request::SubscriberLookup(q) => Action::ReplyThenNotify(subscriber(&q.msisdn), sig.clone()),
        _ => default_action(id, req),
    });
    let mut server = TestServer::start(pki.good_server_config(), handler).await;
    let (client, _p) = BossClient::spawn(config(server.addr, pki.good_client_config("K0001")));
    wait_state(&mut client.link_state(), LinkState::is_up).await;
    let c2 = client.clone();
    let slow = tokio::spawn(async move { c2.call(lookup("13800000001")).await });
    // Make sure the slow one is on the wire first.
    let first = server
        .expect(|s| match s {
            Seen::Request(id, Request::SubscriberLookup(_)) => Some(*id),
            _ => None,
        })
        .await;
    let fast = client.call(lookup("13900000002")).await.unwrap();
    let slow = slow.await.unwrap().unwrap();
    assert!(first > 0);
    let num = |r: &Response| match r {
        Response::SubscriberLookup(s) => s.msisdn.as_str().to_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(num(&fast), "13900000002");
    assert_eq!(num(&slow), "13800000001");
}

#[tokio::test]
async fn error_answers_keep_their_code() {
    let pki = Pki::new();
    let handler: Handler = Arc::new(|_, id, req| match req {
        Request::PlanChange(_) => Action::Reply(Reply::Error(ErrorBody::new(
            ErrorCode::FrozenPeriod,
            "每月1-5日为出账期",
        ))),
        _ => default_action(id, req),
    });
    let server = TestServer::start(pki.good_server_config(), handler).await;
    let (client, _p) = BossClient::spawn(config(server.addr, pki.good_client_config("K0001")));
    wait_state(&mut client.link_state(), LinkState::is_up).await;
    let r = client
        .call(Request::PlanChange(PlanChange {
            txn_id: TxnId::new("K0001-1"),
            token: AuthToken("t".into()),
            msisdn: Msisdn::new("13800000001"),
            plan_id: "P58".into(),
        }))
        .await;
    match r {
        Err(e @ CallError::Refused(_)) => {
            assert!(!e.outcome_unknown());
            let CallError::Refused(body) = e else {
                unreachable!()
            };
            assert_eq!(body.code, ErrorCode::FrozenPeriod);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn request_timeout_is_distinct_and_the_link_survives() {
    let pki = Pki::new();
    // Recharges are swallowed (as if the answer were lost after the commit).
    let mut server = TestServer::start(pki.good_server_config(), default_handler()).await;
    let (client, _p) = BossClient::spawn(config(server.addr, pki.good_client_config("K0001")));
    let mut st = client.link_state();
    wait_state(&mut st, LinkState::is_up).await;
    let err = client
        .call_with_timeout(recharge("K0001-7"), Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Timeout(_)), "{err:?}");
    assert!(
        err.outcome_unknown(),
        "a timed-out money request must be followed by txn_status"
    );
    // The request did reach the server, with its idempotency key.
    let txn = server
        .expect(|s| match s {
            Seen::Request(_, Request::Recharge(r)) => Some(r.txn_id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(txn.as_str(), "K0001-7");
    assert!(st.borrow().is_up());
    client.call(lookup("13800000001")).await.unwrap();
}

#[tokio::test]
async fn reconnects_after_the_server_drops_the_connection() {
    let pki = Pki::new();
    // The first connection is dropped when the recharge arrives (drop after receive).
    let handler: Handler = Arc::new(|conn, id, req| match req {
        Request::Recharge(_) if conn == 0 => Action::Drop,
        _ => default_action(id, req),
    });
    let mut server = TestServer::start(pki.good_server_config(), handler).await;
    let (client, _p) = BossClient::spawn(config(server.addr, pki.good_client_config("K0001")));
    let mut st = client.link_state();
    wait_state(&mut st, LinkState::is_up).await;
    let err = client.call(recharge("K0001-9")).await.unwrap_err();
    assert!(matches!(err, CallError::ConnectionLost), "{err:?}");
    assert!(err.outcome_unknown());
    wait_state(&mut st, |s| {
        matches!(s, LinkState::Down { .. } | LinkState::Connecting { .. })
    })
    .await;
    wait_state(&mut st, LinkState::is_up).await;
    // Two handshakes seen, both for K0001.
    let mut connected = 0;
    while connected < 2 {
        if let Seen::Connected(id) = server.next().await {
            assert_eq!(id, "K0001");
            connected += 1;
        }
    }
    client.call(lookup("13800000001")).await.unwrap();
}

#[tokio::test]
async fn not_connected_fails_at_once_and_backoff_is_reported() {
    let pki = Pki::new();
    // A port with nobody listening.
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let (client, _p) = BossClient::spawn(config(addr, pki.good_client_config("K0001")));
    let mut st = client.link_state();
    let down = wait_state(&mut st, |s| matches!(s, LinkState::Down { .. })).await;
    let LinkState::Down { cause, retry_in } = down else {
        unreachable!()
    };
    assert!(matches!(cause, LinkDownCause::Connect(_)), "{cause:?}");
    assert!(retry_in <= Duration::from_millis(400));
    let t = std::time::Instant::now();
    assert!(matches!(
        client.call(recharge("K0001-1")).await,
        Err(CallError::NotConnected)
    ));
    assert!(t.elapsed() < WAIT);
}

#[tokio::test]
async fn pushes_are_delivered_and_acknowledged() {
    let pki = Pki::new();
    let mut server = TestServer::start(pki.good_server_config(), default_handler()).await;
    let (client, mut pushes) =
        BossClient::spawn(config(server.addr, pki.good_client_config("K0001")));
    wait_state(&mut client.link_state(), LinkState::is_up).await;

    server
        .push
        .send(Push::Lock(Lock {
            reason: "cash audit".into(),
            message: Some("暂停服务".into()),
        }))
        .unwrap();
    let d: PushDelivery = tokio::time::timeout(WAIT, pushes.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(&d.push, Push::Lock(l) if l.reason == "cash audit"));
    d.ack(AckOutcome::Applied, None);
    let (id, ack) = server
        .expect(|s| match s {
            Seen::Ack(id, a) => Some((*id, a.clone())),
            _ => None,
        })
        .await;
    assert_eq!(id, 1000, "the ack carries the push's id");
    assert_eq!(ack.op, "lock");
    assert_eq!(ack.outcome, AckOutcome::Applied);

    server
        .push
        .send(Push::DiagnosticsRequest(DiagnosticsRequest {
            items: vec!["devices".into()],
        }))
        .unwrap();
    let d = tokio::time::timeout(WAIT, pushes.recv())
        .await
        .unwrap()
        .unwrap();
    d.ack_with(
        AckOutcome::Applied,
        None,
        Some(serde_json::json!({"devices": {"printer": "ok"}})),
    );
    let (id, ack) = server
        .expect(|s| match s {
            Seen::Ack(id, a) => Some((*id, a.clone())),
            _ => None,
        })
        .await;
    assert_eq!(id, 1001);
    assert_eq!(
        ack.diagnostics,
        Some(serde_json::json!({"devices": {"printer": "ok"}}))
    );

    // A push the application drops unanswered is acked `rejected`, never left hanging.
    server.push.send(Push::Unlock(Unlock {})).unwrap();
    drop(
        tokio::time::timeout(WAIT, pushes.recv())
            .await
            .unwrap()
            .unwrap(),
    );
    let ack = server
        .expect(|s| match s {
            Seen::Ack(1002, a) => Some(a.clone()),
            _ => None,
        })
        .await;
    assert_eq!(ack.outcome, AckOutcome::Rejected);
}

#[tokio::test]
async fn heartbeats_carry_the_kiosk_state_on_the_servers_interval() {
    let pki = Pki::new();
    let handler: Handler = Arc::new(|_, id, req| match req {
        Request::Hello(_) => Action::Reply(hello_ok(id, 0, 300)),
        _ => default_action(id, req),
    });
    let mut server = TestServer::start(pki.good_server_config(), handler).await;
    let (client, _p) = BossClient::spawn(config(server.addr, pki.good_client_config("K0001")));
    client
        .set_heartbeat(Heartbeat {
            kiosk_time_ms: 0,
            devices: vec![DeviceHealth {
                device: DeviceKind::ReceiptPrinter,
                state: DeviceState::Warning,
                condition: Some("paper_low".into()),
            }],
            cash_box: CashBox {
                notes: vec![NoteCount {
                    denomination_fen: 10000,
                    count: 3,
                }],
                total_fen: 30000,
                capacity_notes: Some(600),
            },
            card_stock: CardStock {
                blank_sims: 42,
                reject_bin: 1,
            },
            screen: "idle".into(),
            last_error: None,
            software: None,
            config_version: None,
            kiosk_state: None,
            state_detail: None,
        })
        .await;
    let hb = server
        .expect(|s| match s {
            Seen::Request(_, Request::Heartbeat(h)) => Some(h.clone()),
            _ => None,
        })
        .await;
    assert_eq!(hb.cash_box.total_fen, 30000);
    assert_eq!(hb.card_stock.blank_sims, 42);
    assert!(
        (now_ms() - hb.kiosk_time_ms).abs() < 60_000,
        "time refreshed at send"
    );
    // and a second one follows
    server
        .expect(|s| matches!(s, Seen::Request(_, Request::Heartbeat(_))).then_some(()))
        .await;
    assert!(client.link_state().borrow().is_up());
}

#[tokio::test]
async fn journal_uploads_queued_offline_are_sent_in_order_once_up() {
    let pki = Pki::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (client, _p) = BossClient::spawn(config(addr, pki.good_client_config("K0001")));
    wait_state(&mut client.link_state(), |s| {
        matches!(s, LinkState::Down { .. })
    })
    .await;
    for seq in 1..=3u64 {
        client
            .queue_upload(JournalUpload {
                entries: vec![JournalEntry {
                    seq,
                    txn_id: TxnId::new(format!("K0001-{seq}")),
                    at_ms: now_ms(),
                    op: "recharge".into(),
                    msisdn: None,
                    amount_fen: 5000,
                    state: TxnState::Committed,
                    detail: None,
                }],
            })
            .await
            .unwrap();
    }
    assert_eq!(client.upload_status().borrow().queued, 3);

    // The business system comes back on the same port.
    let listener = TcpListener::bind(addr).await.unwrap();
    let mut server = TestServer::start_on(listener, pki.good_server_config(), default_handler());
    let mut seqs = Vec::new();
    while seqs.len() < 3 {
        if let Seen::Request(_, Request::JournalUpload(u)) = server.next().await {
            seqs.extend(u.entries.iter().map(|e| e.seq));
        }
    }
    assert_eq!(seqs, vec![1, 2, 3]);
    let mut up = client.upload_status();
    tokio::time::timeout(
        WAIT,
        up.wait_for(|s| s.queued == 0 && s.acked_seq == Some(3)),
    )
    .await
    .unwrap()
    .unwrap();
}

#[tokio::test]
async fn upload_queue_is_bounded() {
    let pki = Pki::new();
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let mut cfg = config(addr, pki.good_client_config("K0001"));
    cfg.upload_queue_capacity = 2;
    let (client, _p) = BossClient::spawn(cfg);
    let up = || JournalUpload { entries: vec![] };
    client.queue_upload(up()).await.unwrap();
    client.queue_upload(up()).await.unwrap();
    assert!(client.queue_upload(up()).await.is_err());
}

#[tokio::test]
async fn unanswered_heartbeats_bring_the_link_down_and_it_reconnects() {
    let pki = Pki::new();
    // Connection 0 never answers heartbeats (a half-dead link); later ones do.
    let handler: Handler = Arc::new(|conn, id, req| match req {
        Request::Hello(_) => Action::Reply(hello_ok(id, 0, 200)),
        Request::Heartbeat(_) if conn == 0 => Action::Ignore,
        _ => default_action(id, req),
    });
    let _server = TestServer::start(pki.good_server_config(), handler).await;
    let mut cfg = config(_server.addr, pki.good_client_config("K0001"));
    cfg.heartbeat_misses = 2;
    let (client, _p) = BossClient::spawn(cfg);
    let mut st = client.link_state();
    wait_state(&mut st, LinkState::is_up).await;
    let down = wait_state(&mut st, |s| matches!(s, LinkState::Down { .. })).await;
    assert!(
        matches!(
            down,
            LinkState::Down {
                cause: LinkDownCause::HeartbeatLost,
                ..
            }
        ),
        "{down:?}"
    );
    wait_state(&mut st, LinkState::is_up).await;
}

#[tokio::test]
async fn a_kiosk_locked_at_hello_is_told_so_and_txn_status_is_typed() {
    let pki = Pki::new();
    let handler: Handler = Arc::new(|_, id, req| match req {
        Request::Hello(_) => {
            let Reply::Ok(Response::Hello(mut h)) = hello_ok(id, 0, 60_000) else {
                unreachable!()
            };
            h.locked = Some(Lock {
                reason: "maintenance".into(),
                message: None,
            });
            Action::Reply(Reply::Ok(Response::Hello(h)))
        }
        Request::TxnStatus(q) => Action::Reply(Reply::Ok(Response::TxnStatus(TxnStatus {
            txn_id: q.txn_id.clone(),
            state: TxnState::Unknown,
            txn_op: None,
            amount_fen: None,
            outcome: None,
            reversed_by: None,
        }))),
        _ => default_action(id, req),
    });
    let server = TestServer::start(pki.good_server_config(), handler).await;
    let (client, mut pushes) =
        BossClient::spawn(config(server.addr, pki.good_client_config("K0001")));
    let d = tokio::time::timeout(WAIT, pushes.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(&d.push, Push::Lock(l) if l.reason == "maintenance"));
    assert!(d.is_from_hello());
    let st = client.txn_status(&TxnId::new("K0001-5")).await.unwrap();
    assert_eq!(st.state, TxnState::Unknown);
    assert_eq!(st.txn_id.as_str(), "K0001-5");
}

#[tokio::test]
async fn an_answer_of_the_wrong_kind_is_reported_not_trusted() {
    let pki = Pki::new();
    let handler: Handler = Arc::new(|_, id, req| match req {
        Request::Recharge(_) => Action::Reply(Reply::Ok(Response::Heartbeat(HeartbeatOk {
            server_time_ms: 0,
        }))),
        _ => default_action(id, req),
    });
    let server = TestServer::start(pki.good_server_config(), handler).await;
    let (client, _p) = BossClient::spawn(config(server.addr, pki.good_client_config("K0001")));
    wait_state(&mut client.link_state(), LinkState::is_up).await;
    let err = client.call(recharge("K0001-3")).await.unwrap_err();
    assert!(
        matches!(
            err,
            CallError::MismatchedResponse {
                sent: "recharge",
                got: "heartbeat"
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_next_hello_reports_the_applied_config_version() {
    let pki = Pki::new();
    let handler: Handler = Arc::new(|conn, id, req| match req {
        Request::Recharge(_) if conn == 0 => Action::Drop,
        _ => default_action(id, req),
    });
    let mut server = TestServer::start(pki.good_server_config(), handler).await;
    let (client, _p) = BossClient::spawn(config(server.addr, pki.good_client_config("K0001")));
    let mut st = client.link_state();
    wait_state(&mut st, LinkState::is_up).await;
    client.set_hello_state(Some(7), Some(120)).await;
    let _ = client.call(recharge("K0001-11")).await; // the server drops this connection
    let (cv, seq) = server
        .expect(|s| match s {
            Seen::Request(_, Request::Hello(h)) if h.config_version.is_some() => {
                Some((h.config_version, h.journal_last_seq))
            }
            _ => None,
        })
        .await;
    assert_eq!((cv, seq), (Some(7), Some(120)));
}

#[tokio::test]
async fn a_busy_server_gets_the_upload_again_after_the_pause_it_asked_for() {
    let pki = Pki::new();
    let tries = Arc::new(AtomicU64::new(0));
    let t = tries.clone();
    let handler: Handler = Arc::new(move |_, id, req| match req {
        Request::JournalUpload(_) if t.fetch_add(1, Ordering::SeqCst) == 0 => {
            Action::Reply(Reply::Error(ErrorBody {
                code: ErrorCode::Busy,
                message: "稍后重试".into(),
                retry_after_ms: Some(300),
                tries_left: None,
                locked_until_ms: None,
            }))
        }
        _ => default_action(id, req),
    });
    let mut server = TestServer::start(pki.good_server_config(), handler).await;
    let (client, _p) = BossClient::spawn(config(server.addr, pki.good_client_config("K0001")));
    wait_state(&mut client.link_state(), LinkState::is_up).await;
    let entry = JournalEntry {
        seq: 5,
        txn_id: TxnId::new("K0001-5"),
        at_ms: now_ms(),
        op: "recharge".into(),
        msisdn: None,
        amount_fen: 100,
        state: TxnState::Committed,
        detail: None,
    };
    client
        .queue_upload(JournalUpload {
            entries: vec![entry],
        })
        .await
        .unwrap();
    let mut times = Vec::new();
    while times.len() < 2 {
        if let Seen::Request(_, Request::JournalUpload(_)) = server.next().await {
            times.push(std::time::Instant::now());
        }
    }
    assert!(
        times[1] - times[0] >= Duration::from_millis(250),
        "retried without pause"
    );
    let mut up = client.upload_status();
    tokio::time::timeout(
        WAIT,
        up.wait_for(|s| s.queued == 0 && s.acked_seq == Some(5)),
    )
    .await
    .unwrap()
    .unwrap();
}
