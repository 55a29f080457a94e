//! Starting the whole simulator: store (seeded on first start), TLS configurations, the
//! server (for gateways, and kiosks speaking for themselves) and the control socket for
//! faults. Used by `boss-sim serve`, the demo and the tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use boss_protocol::pki::{self, PkiError, Validity};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::control;
use crate::faults::{FaultSettings, Faults};
use crate::seed;
use crate::server::{self, ServeError, Shared};
use crate::service::Service;
use crate::store::{Store, StoreError};

/// File name of the SQLite store inside the data folder.
pub const DB_FILE: &str = "boss.sqlite3";

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen (loopback only); port 0 picks a free one.
    pub listen: SocketAddr,
    /// Data folder: SQLite store and control socket.
    pub data: PathBuf,
    /// PKI folder as written by `boss-sim pki` (server certificate, kiosk CA, gateway CA).
    pub certs: PathBuf,
    /// Business date.
    pub clock: Clock,
    /// Faults at start.
    pub faults: FaultSettings,
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data folder cannot be created.
    #[error("cannot create data folder {path}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error("store")]
    Store(#[from] StoreError),
    /// Certificates could not be loaded or made.
    #[error("certificates")]
    Pki(#[from] PkiError),
    /// Listening failed.
    #[error("listen")]
    Serve(#[from] ServeError),
}

/// A running simulator; dropping it stops the server tasks.
#[derive(Debug)]
pub struct Running {
    /// The address gateways (and kiosks) connect to.
    pub addr: SocketAddr,
    /// Shared state (service, faults).
    pub shared: Shared,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Opens (and on first use seeds) the store of a data folder.
///
/// # Errors
/// [`StartError`].
pub fn open_store(data: &std::path::Path, clock: Clock) -> Result<Store, StartError> {
    std::fs::create_dir_all(data).map_err(|source| StartError::DataDir {
        path: data.to_owned(),
        source,
    })?;
    let store = Store::open(&data.join(DB_FILE))?;
    if seed::seed_if_empty(&store, clock.today())? {
        tracing::info!("seeded demo data");
    }
    Ok(store)
}

/// Starts the server and the control socket.
///
/// # Errors
/// [`StartError`].
pub async fn start(cfg: SimConfig) -> Result<Running, StartError> {
    let store = open_store(&cfg.data, cfg.clock)?;
    let tls = pki::boss_server_config_from_dir(&cfg.certs)?;
    let gateway = pki::GatewayCheck::from_dir(&cfg.certs)?.map(Arc::new);
    // The wrong-certificate fault: a server certificate for the same names from a CA that
    // no kiosk trusts.
    let stranger = pki::Authority::new("boss-sim untrusted CA (fault injection)")?;
    let wrong = stranger.issue_server(&["localhost", "127.0.0.1"], Validity::Days(30))?;
    let mut client_cas = pki::load_certs(&cfg.certs.join(pki::files::KIOSK_CA))?;
    if cfg.certs.join(pki::files::GATEWAY_CA).exists() {
        client_cas.extend(pki::load_certs(&cfg.certs.join(pki::files::GATEWAY_CA))?);
    }
    let wrong_tls = pki::server_config(vec![wrong.cert.clone()], wrong.key(), &client_cas)?;
    let listener = server::bind(cfg.listen).await?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let shared = Shared {
        service: Arc::new(Service::new(store, cfg.clock)),
        faults: Arc::new(Faults::new(cfg.faults)),
        tls,
        wrong_tls,
        gateway,
    };
    let mut tasks = Vec::new();
    // `boss-sim fault` reaches the server through this socket; without it (a data path too
    // long for a Unix socket, say) the server still serves, with the faults it started with.
    match control::bind_control(&control::socket_path(&cfg.data)) {
        Ok(ctl_listener) => {
            let faults = shared.faults.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = control::serve_control(ctl_listener, faults).await {
                    tracing::error!(error = %e, "control socket failed");
                }
            }));
        }
        Err(e) => tracing::warn!(error = %e, "no control socket; faults fixed at start"),
    }
    tasks.push(tokio::spawn(server::serve(listener, shared.clone())));
    tracing::info!(%addr, "boss-sim listening");
    Ok(Running {
        addr,
        shared,
        tasks,
    })
}
