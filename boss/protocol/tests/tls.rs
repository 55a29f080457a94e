//! The rustls configurations of `pki` in a real handshake over 127.0.0.1: TLS 1.3 only,
//! client certificate required and checked against the kiosk CA, the kiosk id read from
//! the peer certificate, and a frame exchanged over the result.

use std::sync::Arc;

use boss_protocol::io::{read_envelope, write_envelope};
use boss_protocol::pki::{self, Authority, Validity};
use boss_protocol::*;
use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

struct Setup {
    operator_ca: Authority,
    kiosk_ca: Authority,
}

impl Setup {
    fn new() -> Self {
        Self {
            operator_ca: Authority::new("op").unwrap(),
            kiosk_ca: Authority::new("kiosk").unwrap(),
        }
    }
    fn server(&self) -> Arc<rustls::ServerConfig> {
        let s = self
            .operator_ca
            .issue_server(&["localhost"], Validity::Days(2))
            .unwrap();
        pki::server_config(
            vec![s.cert.clone()],
            s.key(),
            &[self.kiosk_ca.cert().clone()],
        )
        .unwrap()
    }
}

/// Runs one handshake; returns the server's view (kiosk id or error) and the client's.
async fn handshake(
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
) -> (Result<String, String>, Result<(), String>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let srv = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut tls = TlsAcceptor::from(server)
            .accept(tcp)
            .await
            .map_err(|e| e.to_string())?;
        let cert = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .cloned()
            .ok_or("no cert")?;
        let id = pki::kiosk_id_from_cert(&cert).map_err(|e| e.to_string())?;
        // Echo one frame back as proof the channel works.
        if let Ok(Some(env)) = read_envelope(&mut tls).await {
            let _ = write_envelope(&mut tls, &env).await;
        }
        Ok::<_, String>(id)
    });
    let cli = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut tls = TlsConnector::from(client)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        let env = Envelope::request(
            1,
            Request::TxnStatus(TxnStatusQuery {
                txn_id: TxnId::new("T"),
            }),
        );
        write_envelope(&mut tls, &env)
            .await
            .map_err(|e| e.to_string())?;
        // With TLS 1.3 a refused client certificate shows up here, as an alert.
        match read_envelope(&mut tls).await {
            Ok(Some(back)) if back == env => Ok(()),
            Ok(other) => Err(format!("unexpected {other:?}")),
            Err(e) => Err(format!("{e}: {:?}", std::error::Error::source(&e))),
        }
    };
    let c = tokio::time::timeout(std::time::Duration::from_secs(30), cli)
        .await
        .expect("client hung");
    let s = tokio::time::timeout(std::time::Duration::from_secs(30), srv)
        .await
        .expect("server hung")
        .unwrap();
    (s, c)
}

#[tokio::test]
async fn good_certificates_connect_and_the_server_reads_the_kiosk_id() {
    let s = Setup::new();
    let k = s.kiosk_ca.issue_kiosk("K0100", Validity::Days(2)).unwrap();
    let client = pki::client_config(
        &[s.operator_ca.cert().clone()],
        vec![k.cert.clone()],
        k.key(),
    )
    .unwrap();
    let (srv, cli) = handshake(s.server(), client).await;
    assert_eq!(srv.unwrap(), "K0100");
    cli.unwrap();
}

#[tokio::test]
async fn kiosk_certificate_from_the_operator_ca_is_refused() {
    // Trust anchors are kept apart: the operator CA cannot mint kiosk identities.
    let s = Setup::new();
    let k = s
        .operator_ca
        .issue_kiosk("K0100", Validity::Days(2))
        .unwrap();
    let client = pki::client_config(
        &[s.operator_ca.cert().clone()],
        vec![k.cert.clone()],
        k.key(),
    )
    .unwrap();
    let (srv, cli) = handshake(s.server(), client).await;
    assert!(srv.is_err(), "server accepted {srv:?}");
    assert!(cli.is_err());
}

#[tokio::test]
async fn expired_kiosk_certificate_is_refused() {
    let s = Setup::new();
    let k = s.kiosk_ca.issue_kiosk("K0100", Validity::Expired).unwrap();
    let client = pki::client_config(
        &[s.operator_ca.cert().clone()],
        vec![k.cert.clone()],
        k.key(),
    )
    .unwrap();
    let (srv, cli) = handshake(s.server(), client).await;
    let e = srv.unwrap_err();
    assert!(e.to_lowercase().contains("expired"), "{e}");
    assert!(cli.is_err());
}

#[tokio::test]
async fn tls_1_2_is_refused() {
    let s = Setup::new();
    let k = s.kiosk_ca.issue_kiosk("K0100", Validity::Days(2)).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(s.operator_ca.cert().clone()).unwrap();
    let tls12 = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(vec![k.cert.clone()], k.key())
    .unwrap();
    let (srv, cli) = handshake(s.server(), Arc::new(tls12)).await;
    assert!(srv.is_err());
    assert!(cli.is_err());
}

#[tokio::test]
async fn the_kiosk_does_not_trust_system_roots_or_other_cas() {
    let s = Setup::new();
    let k = s.kiosk_ca.issue_kiosk("K0100", Validity::Days(2)).unwrap();
    // The kiosk pins a different operator CA than the one that signed the server.
    let other = Authority::new("other operator").unwrap();
    let client =
        pki::client_config(&[other.cert().clone()], vec![k.cert.clone()], k.key()).unwrap();
    let (srv, cli) = handshake(s.server(), client).await;
    assert!(srv.is_err());
    let e = cli.unwrap_err();
    assert!(
        e.to_lowercase().contains("issuer") || e.to_lowercase().contains("certificate"),
        "{e}"
    );
}
