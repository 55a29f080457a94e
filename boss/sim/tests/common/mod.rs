//! A raw kiosk-side client over real mutual TLS, for the simulator's tests and benchmark.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use boss_protocol::codec::{Body, Envelope};
use boss_protocol::io::{read_envelope, write_envelope};
use boss_protocol::{
    Ack, AckOutcome, CardStock, CashBox, DeviceHealth, DeviceKind, DeviceState, Heartbeat, Hello,
    Msisdn, Push, Recharge, Reply, Request, Response, TxnId,
};
use boss_sim::app::{self, Running, SimConfig};
use boss_sim::clock::{Clock, parse_date};
use boss_sim::faults::FaultSettings;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Generous: the machine may be loaded.
pub const T: Duration = Duration::from_secs(60);

pub struct Sim {
    pub dir: tempfile::TempDir,
    pub running: Running,
}

impl Sim {
    pub fn certs(&self) -> PathBuf {
        self.dir.path().join("certs")
    }
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }
}

pub async fn start(today: &str, kiosks: &[&str]) -> Sim {
    start_with(today, kiosks, FaultSettings::default()).await
}

pub async fn start_with(today: &str, kiosks: &[&str], faults: FaultSettings) -> Sim {
    let dir = tempfile::tempdir().expect("tempdir");
    boss_protocol::pki::generate_dev(&dir.path().join("certs"), kiosks).expect("dev pki");
    let running = app::start(SimConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data: dir.path().join("data"),
        certs: dir.path().join("certs"),
        clock: Clock::pinned(parse_date(today).expect("date")),
        faults,
    })
    .await
    .expect("start boss-sim");
    Sim { dir, running }
}

pub struct Kiosk {
    stream: TlsStream<TcpStream>,
    next_id: u64,
    pub pushes: Vec<(u64, Push)>,
}

pub fn client_config(certs: &Path, kiosk: &str) -> Arc<rustls::ClientConfig> {
    boss_protocol::pki::client_config_from_dir(certs, kiosk).expect("client config")
}

pub async fn tls_connect(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").expect("name");
    TlsConnector::from(cfg).connect(name, tcp).await
}

impl Kiosk {
    /// Connects without saying hello.
    pub async fn connect_raw(
        addr: SocketAddr,
        cfg: Arc<rustls::ClientConfig>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            stream: tokio::time::timeout(T, tls_connect(addr, cfg))
                .await
                .map_err(|_| std::io::Error::other("connect timed out"))??,
            next_id: 1,
            pushes: Vec::new(),
        })
    }

    /// Connects and says hello.
    pub async fn connect(sim: &Sim, kiosk: &str) -> Self {
        let mut k = Self::connect_raw(sim.addr(), client_config(&sim.certs(), kiosk))
            .await
            .expect("connect");
        let r = k.call(hello()).await.expect("hello");
        match r {
            Reply::Ok(Response::Hello(h)) => assert_eq!(h.kiosk_id, kiosk),
            other => panic!("hello refused: {other:?}"),
        }
        k
    }

    /// The TLS stream, to write raw envelopes.
    pub fn stream_mut(&mut self) -> &mut TlsStream<TcpStream> {
        &mut self.stream
    }

    pub async fn send(&mut self, req: Request) -> std::io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        write_envelope(&mut self.stream, &Envelope::request(id, req))
            .await
            .map_err(std::io::Error::other)?;
        Ok(id)
    }

    /// Sends one frame with this JSON payload as it is (requests this crate cannot build).
    pub async fn send_raw(&mut self, payload: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let len = u32::try_from(payload.len()).map_err(std::io::Error::other)?;
        self.stream.write_all(&len.to_be_bytes()).await?;
        self.stream.write_all(payload).await?;
        self.stream.flush().await
    }

    /// Sends a request and waits for its answer; pushes arriving meanwhile are kept.
    pub async fn call(&mut self, req: Request) -> std::io::Result<Reply> {
        let id = self.send(req).await?;
        self.wait_reply(id).await
    }

    pub async fn wait_reply(&mut self, id: u64) -> std::io::Result<Reply> {
        loop {
            let env = tokio::time::timeout(T, read_envelope(&mut self.stream))
                .await
                .map_err(|_| std::io::Error::other("reply timed out"))?
                .map_err(std::io::Error::other)?
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"))?;
            match env.body {
                Body::Response(r) if env.id == id => return Ok(r),
                Body::Push(p) => self.pushes.push((env.id, p)),
                _ => {}
            }
        }
    }

    /// Waits for the next push.
    pub async fn next_push(&mut self) -> std::io::Result<(u64, Push)> {
        if !self.pushes.is_empty() {
            return Ok(self.pushes.remove(0));
        }
        loop {
            let env = tokio::time::timeout(T, read_envelope(&mut self.stream))
                .await
                .map_err(|_| std::io::Error::other("push timed out"))?
                .map_err(std::io::Error::other)?
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"))?;
            if let Body::Push(p) = env.body {
                return Ok((env.id, p));
            }
        }
    }

    pub async fn ack(&mut self, id: u64, push: &Push) -> std::io::Result<()> {
        let ack = Ack {
            op: push.op().to_owned(),
            outcome: AckOutcome::Applied,
            message: None,
            diagnostics: None,
        };
        write_envelope(&mut self.stream, &Envelope::ack(id, ack))
            .await
            .map_err(std::io::Error::other)
    }
}

pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
    )
    .unwrap_or(0)
}

pub fn hello() -> Request {
    Request::Hello(Hello {
        software: "boss-sim-test/0".into(),
        kiosk_time_ms: now_ms(),
        config_version: None,
        journal_last_seq: None,
    })
}

pub fn heartbeat() -> Request {
    Request::Heartbeat(Heartbeat {
        kiosk_time_ms: now_ms(),
        devices: vec![
            DeviceHealth {
                device: DeviceKind::BillAcceptor,
                state: DeviceState::Ok,
                condition: None,
            },
            DeviceHealth {
                device: DeviceKind::ReceiptPrinter,
                state: DeviceState::Warning,
                condition: Some("paper_low".into()),
            },
        ],
        cash_box: CashBox {
            notes: vec![],
            total_fen: 15_000,
            capacity_notes: Some(1000),
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
}

pub fn recharge(txn: &str, number: &str, fen: u64) -> Request {
    Request::Recharge(Recharge {
        txn_id: TxnId::new(txn),
        msisdn: Msisdn::new(number),
        amount_fen: fen,
        notes: vec![],
    })
}

pub fn balance(sim: &Sim, number: &str) -> i64 {
    sim.running
        .shared
        .service
        .store()
        .subscriber(number)
        .expect("store")
        .expect("subscriber")
        .balance_fen
}
