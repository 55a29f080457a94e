//! Starting a server instance in-process: store, TLS, the gateway to BOSS, the kiosk
//! listener, and the background work — heartbeat and transaction writers, the instance's
//! beat, delivery of pushes queued elsewhere (poll, and PostgreSQL `LISTEN`), and the
//! singleton jobs (alerts, reconciliation) under a lease. Used by `telekiosk-hq serve`, the
//! demo and the tests.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use boss_protocol::pki::{self, PkiError};
use rustls::pki_types::ServerName;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::boss::{Boss, GatewayBoss, GatewayConfig};
use crate::config::HqConfig;
use crate::server::{self, Shared};
use crate::store::{CHANNEL_CONN, CHANNEL_PUSH, ForwardedTxn, Store, StoreError, now_ms};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The store failed.
    #[error("store")]
    Store(#[from] StoreError),
    /// Certificates could not be loaded.
    #[error("certificates")]
    Pki(#[from] PkiError),
    /// The configured BOSS server name is not a DNS name or IP address.
    #[error("boss.server_name {0:?} is not a DNS name or an IP address")]
    ServerName(String),
    /// Listening failed.
    #[error("cannot listen on {0}")]
    Listen(SocketAddr, #[source] std::io::Error),
    /// A data folder for SQLite cannot be created.
    #[error("cannot create {0}")]
    DataDir(String, #[source] std::io::Error),
}

/// A running server instance; dropping it stops it (connections are closed).
#[derive(Debug)]
pub struct Running {
    /// Where kiosks connect.
    pub addr: SocketAddr,
    /// Shared state (store, hub, metrics).
    pub shared: Shared,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops the instance: no new connections, every kiosk connection closed, its
    /// connections forgotten in the store.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
        let (st, me) = (self.shared.store.clone(), self.shared.instance_id.clone());
        let _ = st.run(move |s| s.instance_stopped(&me)).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Opens the store named by the configuration (creating a SQLite file's folder).
///
/// # Errors
/// [`StartError`].
pub fn open_store(cfg: &HqConfig) -> Result<Store, StartError> {
    if let Some(path) = cfg.database.strip_prefix("sqlite:")
        && let Some(dir) = Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| StartError::DataDir(dir.display().to_string(), e))?;
    }
    Ok(Store::open(&cfg.database)?)
}

/// The gateway to BOSS the configuration describes.
///
/// # Errors
/// [`StartError`].
pub fn gateway(cfg: &HqConfig) -> Result<GatewayBoss, StartError> {
    let tls = pki::gateway_client_config_from_dir(&cfg.tls.certs)?;
    let server_name = ServerName::try_from(cfg.boss.server_name.clone())
        .map_err(|_| StartError::ServerName(cfg.boss.server_name.clone()))?;
    Ok(GatewayBoss::new(GatewayConfig {
        addr: cfg.boss.addr.clone(),
        server_name,
        tls,
        connections: cfg.boss.connections,
        connect_timeout: Duration::from_secs(10),
        retry_after: Duration::from_secs(1),
    }))
}

/// Starts an instance with the gateway to BOSS the configuration describes.
///
/// # Errors
/// [`StartError`].
pub async fn start(cfg: HqConfig) -> Result<Running, StartError> {
    let boss = Arc::new(gateway(&cfg)?);
    let store = open_store(&cfg)?;
    start_with(cfg, store, boss).await
}

/// Starts an instance on a given store and backend.
///
/// # Errors
/// [`StartError`].
pub async fn start_with(
    cfg: HqConfig,
    store: Store,
    boss: Arc<dyn Boss>,
) -> Result<Running, StartError> {
    let tls = pki::server_config_from_dir(&cfg.tls.certs)?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| StartError::Listen(cfg.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(cfg.listen, e))?;
    let instance_id = cfg.instance_id.clone().unwrap_or_else(|| {
        format!(
            "hq-{}-{}-{}",
            std::process::id(),
            addr.port(),
            now_ms() % 100_000
        )
    });
    let cfg = Arc::new(cfg);
    let (stop, stop_rx) = watch::channel(false);
    let (rec_tx, rec_rx) = mpsc::channel::<ForwardedTxn>(10_000);
    let shared = Shared::new(
        store.clone(),
        boss,
        instance_id.clone(),
        cfg.clone(),
        tls,
        rec_tx,
        stop_rx,
    );
    let started = now_ms();
    {
        let (me, listen) = (instance_id.clone(), addr.to_string());
        store
            .run(move |s| s.instance_beat(&me, &listen, started))
            .await?;
    }
    let mut tasks = vec![
        tokio::spawn(server::serve(listener, shared.clone())),
        tokio::spawn(record_txns(store.clone(), rec_rx)),
        tokio::spawn(flush_heartbeats(shared.clone())),
        tokio::spawn(beat(shared.clone(), addr.to_string(), started)),
        tokio::spawn(poll(shared.clone())),
        tokio::spawn(alert_job(shared.clone())),
        tokio::spawn(recon_job(shared.clone())),
    ];
    if store.db().postgres().is_some() {
        tasks.push(listen_pg(shared.clone()));
    }
    tracing::info!(%addr, instance = %instance_id, "telekiosk-hq listening");
    Ok(Running {
        addr,
        shared,
        stop,
        tasks,
    })
}

async fn record_txns(store: Store, mut rx: mpsc::Receiver<ForwardedTxn>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(t) = rx.try_recv() {
            batch.push(t);
            if batch.len() >= 500 {
                break;
            }
        }
        if let Err(e) = store.run(move |s| s.record_txns(&batch)).await {
            tracing::error!(error = %e, "forwarded transactions not recorded");
        }
    }
}

async fn flush_heartbeats(shared: Shared) {
    let mut tick = tokio::time::interval(HqConfig::ms(shared.cfg.flush_interval_ms.max(10)));
    loop {
        tick.tick().await;
        let batch = shared.heartbeats.take();
        if batch.is_empty() {
            continue;
        }
        if let Err(e) = shared.store.run(move |s| s.save_heartbeats(&batch)).await {
            tracing::error!(error = %e, "heartbeats not stored");
        }
    }
}

async fn beat(shared: Shared, listen: String, started: i64) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let (me, l) = (shared.instance_id.clone(), listen.clone());
        if let Err(e) = shared
            .store
            .run(move |s| s.instance_beat(&me, &l, started))
            .await
        {
            tracing::error!(error = %e, "instance beat not stored");
        }
    }
}

/// Finds pushes queued by another process (the CLI, another instance) and connections of
/// our kiosks taken over by another instance.
async fn poll(shared: Shared) {
    let mut last = shared
        .store
        .run(Store::last_push_id)
        .await
        .unwrap_or_default();
    let mut tick = tokio::time::interval(HqConfig::ms(shared.cfg.poll_interval_ms.max(10)));
    loop {
        tick.tick().await;
        if let Ok(new) = shared.store.run(move |s| s.pushes_after(last)).await {
            for (id, kiosk) in new {
                last = last.max(id);
                shared.hub.kick(&kiosk);
            }
        }
        if shared.hub.is_empty() {
            continue;
        }
        let me = shared.instance_id.clone();
        if let Ok(elsewhere) = shared
            .store
            .run(move |s| s.connections_elsewhere(&me))
            .await
        {
            for (kiosk, _) in elsewhere {
                shared.hub.replace(&kiosk, None);
            }
        }
    }
}

/// PostgreSQL `LISTEN`: pushes and connections announced by any instance reach this one at
/// once. A thread of its own (the client blocks); reconnects after a failure.
fn listen_pg(shared: Shared) -> JoinHandle<()> {
    let Some(pool) = shared.store.db().postgres() else {
        return tokio::spawn(async {});
    };
    let config = pool.config().clone();
    // (is a push, payload): a push queued, or a kiosk connected somewhere.
    let (tx, mut rx) = mpsc::channel::<(bool, String)>(1024);
    std::thread::spawn(move || {
        while !tx.is_closed() {
            let mut client = match config.connect(postgres::NoTls) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection failed; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            // The channels are scoped to the schema (see `CHANNEL_PUSH`).
            let channels = client
                .query_one("SELECT current_schema()", &[])
                .and_then(|r| r.try_get::<_, String>(0))
                .map(|schema| {
                    (
                        format!("{CHANNEL_PUSH}_{schema}"),
                        format!("{CHANNEL_CONN}_{schema}"),
                    )
                })
                .and_then(|(push, conn)| {
                    client
                        .batch_execute(&format!(
                            "LISTEN \"{}\"; LISTEN \"{}\";",
                            push.replace('"', ""),
                            conn.replace('"', "")
                        ))
                        .map(|()| (push, conn))
                });
            let (push_channel, conn_channel) = match channels {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN failed; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            loop {
                if tx.is_closed() {
                    return;
                }
                let mut n = client.notifications();
                let mut it = n.timeout_iter(Duration::from_millis(500));
                use fallible_iterator::FallibleIterator as _;
                match it.next() {
                    Ok(Some(note)) => {
                        let push = note.channel() == push_channel;
                        if !push && note.channel() != conn_channel {
                            continue;
                        }
                        if tx.blocking_send((push, note.payload().to_owned())).is_err() {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                        break;
                    }
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some((push, payload)) = rx.recv().await {
            if push {
                shared.hub.kick(&payload);
            } else {
                let mut parts = payload.split(' ');
                if let (Some(kiosk), Some(inst), Some(conn)) =
                    (parts.next(), parts.next(), parts.next())
                {
                    if inst == shared.instance_id {
                        shared.hub.replace(kiosk, conn.parse().ok());
                    } else {
                        shared.hub.replace(kiosk, None);
                    }
                }
            }
        }
    })
}

/// Alerts: one instance at a time evaluates the rules and delivers to the webhook.
async fn alert_job(shared: Shared) {
    let every = HqConfig::ms(shared.cfg.alerts.interval_ms.max(50));
    let lease = i64::try_from(every.as_millis()).unwrap_or(30_000) * 3;
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let me = shared.instance_id.clone();
        match shared
            .store
            .run(move |s| s.take_lease("alerts", &me, lease))
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::error!(error = %e, "alerts lease");
                continue;
            }
        }
        let rules = shared.cfg.alerts.rules();
        match shared.store.run(move |s| s.evaluate_alerts(&rules)).await {
            Ok(ch) => {
                for a in &ch.raised {
                    tracing::warn!(kiosk = %a.kiosk_id, kind = %a.kind, subject = %a.subject, detail = %a.detail, "alert raised");
                }
                for a in &ch.cleared {
                    tracing::info!(kiosk = %a.kiosk_id, kind = %a.kind, subject = %a.subject, "alert cleared");
                }
            }
            Err(e) => tracing::error!(error = %e, "alerts not evaluated"),
        }
        if let Some(url) = &shared.cfg.alerts.webhook
            && let Err(e) = crate::alerts::deliver(&shared.store, url).await
        {
            tracing::error!(error = %e, "alerts not delivered");
        }
    }
}

/// Reconciliation of the previous business day, once, after `reconciliation.at`.
async fn recon_job(shared: Shared) {
    if !shared.cfg.reconciliation.enabled {
        return;
    }
    let Some(at) = shared.cfg.recon_minute() else {
        tracing::error!(at = %shared.cfg.reconciliation.at, "reconciliation.at is not HH:MM; daily reconciliation off");
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let now = time::OffsetDateTime::now_utc().to_offset(crate::store::CST);
        if u32::from(now.hour()) * 60 + u32::from(now.minute()) < at {
            continue;
        }
        let Some(yesterday) = now.date().previous_day() else {
            continue;
        };
        let day = crate::store::format_day(yesterday);
        let me = shared.instance_id.clone();
        let d = day.clone();
        let go = shared
            .store
            .run(move |s| {
                if s.job_done("reconciliation")?.as_deref() >= Some(d.as_str()) {
                    return Ok(false);
                }
                s.take_lease("reconciliation", &me, 30 * 60 * 1000)
            })
            .await;
        if !matches!(go, Ok(true)) {
            continue;
        }
        match crate::recon::reconcile_day(&shared.store, shared.boss.as_ref(), "system", &day).await
        {
            Ok((done, failed)) => {
                tracing::info!(%day, kiosks = done.len(), unbalanced = done.iter().filter(|r| !r.balanced).count(), failed = failed.len(), "daily reconciliation");
                if failed.is_empty() {
                    let d = day.clone();
                    let _ = shared
                        .store
                        .run(move |s| s.set_job_done("reconciliation", &d))
                        .await;
                }
            }
            Err(e) => tracing::error!(error = %e, "daily reconciliation failed"),
        }
    }
}
