//! The devices as the runtime holds them: each configured device has a manager task that
//! opens its port (a stable udev name), runs the driver's actor, watches its health and,
//! when the device vanishes (unplugged, powered off, port gone), opens it again by itself.
//! A missing or faulty device never stops the kiosk: its health says what is wrong, and the
//! services that need it are greyed out until it is back.
//!
//! Health is published on a `watch` channel per device ([`Health`]): the supervisor turns it
//! into the home screen's tiles, the heartbeat and the technician's view.

use std::path::PathBuf;
use std::time::Duration;

use bill_acceptor::actor::AcceptorHandle;
use bill_acceptor::{AcceptorEvent, AcceptorState, DeviceInfo, Protocol};
use receipt_printer::{Paper, PrinterConfig as DriverPrinterConfig, PrinterHandle, PrinterStatus};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

use crate::config;
use crate::flow::{AcceptorCmd, PrintResult};

/// How long a device may be lost before its port is opened afresh (it may have been
/// unplugged and plugged in again, which leaves the old file handle dead).
pub const REOPEN_AFTER: Duration = Duration::from_secs(10);
/// Pause between attempts to open a port that is not there.
pub const OPEN_RETRY: Duration = Duration::from_secs(3);

/// The kiosk's devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    IdCardReader,
    Camera,
    BillAcceptor,
    CardDispenser,
    ReceiptPrinter,
}

impl DeviceKind {
    pub const ALL: [DeviceKind; 5] = [
        DeviceKind::BillAcceptor,
        DeviceKind::ReceiptPrinter,
        DeviceKind::IdCardReader,
        DeviceKind::CardDispenser,
        DeviceKind::Camera,
    ];

    /// The id in heartbeats and diagnostics (docs/boss-protocol.md §7.2).
    pub fn wire(self) -> &'static str {
        match self {
            DeviceKind::IdCardReader => "id_card_reader",
            DeviceKind::Camera => "camera",
            DeviceKind::BillAcceptor => "bill_acceptor",
            DeviceKind::CardDispenser => "card_dispenser",
            DeviceKind::ReceiptPrinter => "receipt_printer",
        }
    }

    /// The device's name for customers, in Chinese and English.
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            DeviceKind::IdCardReader => ("身份证阅读器", "ID card reader"),
            DeviceKind::Camera => ("摄像头", "camera"),
            DeviceKind::BillAcceptor => ("纸币识别器", "banknote acceptor"),
            DeviceKind::CardDispenser => ("发卡机", "card dispenser"),
            DeviceKind::ReceiptPrinter => ("凭条打印机", "receipt printer"),
        }
    }
}

/// How a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Works.
    Ok,
    /// Works, but needs attention soon (paper low, few cards left).
    Warning,
    /// Answers, but cannot serve (jam, paper out, cash box full).
    Fault,
    /// Does not answer, or its port cannot be opened.
    Offline,
    /// Not configured on this kiosk.
    NotFitted,
}

/// A device's health, as the kiosk sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    pub device: DeviceKind,
    pub state: HealthState,
    /// Short code (`paper_out`, `jam`, `cash_box_full`, …), as in the heartbeat.
    pub condition: Option<String>,
    /// What the technician reads: the cause, precisely.
    pub detail: String,
    /// Protocol, serial number, firmware, where known.
    pub identity: Option<String>,
}

impl Health {
    pub fn new(device: DeviceKind, state: HealthState, detail: impl Into<String>) -> Self {
        Self {
            device,
            state,
            condition: None,
            detail: detail.into(),
            identity: None,
        }
    }

    fn with_condition(mut self, c: &str) -> Self {
        self.condition = Some(c.to_owned());
        self
    }

    /// Whether services that need the device can run.
    pub fn usable(&self) -> bool {
        matches!(self.state, HealthState::Ok | HealthState::Warning)
    }

    /// What the customer is told on a greyed tile ("receipt printer out of paper").
    pub fn customer_words(&self) -> (String, String) {
        let (zh, en) = self.device.words();
        match (self.state, self.condition.as_deref()) {
            (HealthState::NotFitted, _) => {
                (format!("本机未配备{zh}"), format!("No {en} at this kiosk"))
            }
            (_, Some("paper_out")) => (format!("{zh}缺纸"), format!("The {en} is out of paper")),
            (_, Some("cover_open")) => {
                (format!("{zh}维护中"), format!("The {en} is being serviced"))
            }
            (_, Some("jam")) => (
                format!("{zh}卡币，待工作人员处理"),
                format!("The {en} is jammed; staff are on the way"),
            ),
            (_, Some("cash_box_full")) => ("钱箱已满".into(), "The cash box is full".into()),
            (_, Some("cash_box_out")) => {
                ("钱箱维护中".into(), "The cash box is being serviced".into())
            }
            (_, Some("stock_empty")) => ("空白卡已用完".into(), "No blank SIM cards left".into()),
            _ => (
                format!("{zh}暂停服务"),
                format!("The {en} is out of service"),
            ),
        }
    }
}

fn publish(tx: &watch::Sender<Health>, h: Health) {
    tx.send_if_modified(|old| {
        if *old == h {
            return false;
        }
        if h.state != old.state {
            match h.state {
                HealthState::Ok => tracing::info!(device = h.device.wire(), detail = %h.detail, "device ok"),
                HealthState::Warning => tracing::warn!(device = h.device.wire(), condition = ?h.condition, detail = %h.detail, "device needs attention"),
                _ => tracing::warn!(device = h.device.wire(), state = ?h.state, condition = ?h.condition, detail = %h.detail, "device not usable"),
            }
        }
        *old = h;
        true
    });
}

/// A device that is not configured.
pub fn not_fitted(device: DeviceKind) -> watch::Receiver<Health> {
    watch::channel(Health::new(
        device,
        HealthState::NotFitted,
        "not configured",
    ))
    .1
}

// ----------------------------------------------------------------------------------------
// Bill acceptor

/// The bill acceptor as the runtime holds it: ordered commands in, events out (on the
/// receiver [`spawn_bill_acceptor`] returns), health.
#[derive(Debug, Clone)]
pub struct BillAcceptorDevice {
    cmds: mpsc::Sender<AcceptorCmd>,
    pub health: watch::Receiver<Health>,
    pub info: watch::Receiver<Option<DeviceInfo>>,
}

impl BillAcceptorDevice {
    /// Sends a command; commands are carried out in order. A command the device cannot
    /// carry out comes back as [`AcceptorEvent::DeviceLost`] on the event stream.
    pub async fn command(&self, cmd: AcceptorCmd) {
        if self.cmds.send(cmd).await.is_err() {
            tracing::warn!("bill acceptor manager has stopped");
        }
    }
}

/// Starts the manager of a configured bill acceptor.
pub fn spawn_bill_acceptor(
    cfg: config::BillAcceptorConfig,
) -> (BillAcceptorDevice, mpsc::Receiver<AcceptorEvent>) {
    let (cmd_tx, cmd_rx) = mpsc::channel(32);
    let (ev_tx, ev_rx) = mpsc::channel(256);
    let (health_tx, health_rx) = watch::channel(Health::new(
        DeviceKind::BillAcceptor,
        HealthState::Offline,
        "starting",
    ));
    let (info_tx, info_rx) = watch::channel(None);
    tokio::spawn(bill_manager(cfg, cmd_rx, ev_tx, health_tx, info_tx));
    (
        BillAcceptorDevice {
            cmds: cmd_tx,
            health: health_rx,
            info: info_rx,
        },
        ev_rx,
    )
}

fn open_bill(
    cfg: &config::BillAcceptorConfig,
) -> Result<(AcceptorHandle, mpsc::Receiver<AcceptorEvent>), String> {
    let poll = Duration::from_millis(cfg.poll_ms);
    match cfg.protocol.as_str() {
        "id003" => {
            let port = devio::open_serial(&cfg.port, Protocol::Id003.line_settings())
                .map_err(|e| e.to_string())?;
            Ok(bill_acceptor::actor::spawn(
                bill_acceptor::id003::Id003::new(port),
                poll,
            ))
        }
        _ => {
            let mut ssp = bill_acceptor::ssp::SspConfig::default();
            if let Some(key) = cfg
                .ssp_fixed_key
                .as_deref()
                .and_then(|k| u64::from_str_radix(k, 16).ok())
            {
                ssp.fixed_key = key;
            }
            let drv = bill_acceptor::ssp::Ssp::open(&cfg.port, ssp).map_err(|e| e.to_string())?;
            Ok(bill_acceptor::actor::spawn(drv, poll))
        }
    }
}

async fn bill_command(handle: &AcceptorHandle, cmd: &AcceptorCmd) -> Result<(), String> {
    let r = match cmd {
        AcceptorCmd::Enable { accept_fen } => handle.enable(accept_fen).await,
        AcceptorCmd::Disable => handle.disable().await,
        AcceptorCmd::Stack => handle.stack().await,
        AcceptorCmd::Return => handle.return_note().await,
    };
    r.map_err(|e| e.to_string())
}

async fn bill_manager(
    cfg: config::BillAcceptorConfig,
    mut cmds: mpsc::Receiver<AcceptorCmd>,
    events: mpsc::Sender<AcceptorEvent>,
    health: watch::Sender<Health>,
    info: watch::Sender<Option<DeviceInfo>>,
) {
    let kind = DeviceKind::BillAcceptor;
    let port = cfg.port.display().to_string();
    // What the application last asked for: notes of these values, or none.
    let mut want: Option<Vec<u64>> = None;
    loop {
        let (handle, mut ev) = match open_bill(&cfg) {
            Ok(x) => x,
            Err(e) => {
                publish(
                    &health,
                    Health::new(
                        kind,
                        HealthState::Offline,
                        format!("cannot open {port}: {e}"),
                    )
                    .with_condition("offline"),
                );
                let deadline = tokio::time::Instant::now() + OPEN_RETRY;
                loop {
                    tokio::select! {
                        cmd = cmds.recv() => {
                            let Some(cmd) = cmd else { return };
                            remember(&mut want, &cmd);
                            if !matches!(cmd, AcceptorCmd::Disable) {
                                let _ = events.send(AcceptorEvent::DeviceLost { reason: format!("cannot open {port}") }).await;
                            }
                        }
                        _ = tokio::time::sleep_until(deadline) => break,
                    }
                }
                continue;
            }
        };
        publish(
            &health,
            Health::new(
                kind,
                HealthState::Offline,
                format!(
                    "{port} open; waiting for the acceptor ({}) to answer",
                    cfg.protocol
                ),
            )
            .with_condition("connecting"),
        );
        let mut lost_since = Some(tokio::time::Instant::now());
        let mut poll = tokio::time::interval(Duration::from_secs(2));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = cmds.recv() => {
                    let Some(cmd) = cmd else { return };
                    remember(&mut want, &cmd);
                    if let Err(e) = bill_command(&handle, &cmd).await {
                        tracing::warn!(error = %e, ?cmd, "bill acceptor command failed");
                        if !matches!(cmd, AcceptorCmd::Disable) {
                            let _ = events.send(AcceptorEvent::DeviceLost { reason: e }).await;
                        }
                    }
                }
                e = ev.recv() => {
                    let Some(e) = e else { break };
                    match &e {
                        AcceptorEvent::Connected { info: i } => {
                            lost_since = None;
                            let _ = info.send(Some(i.clone()));
                            let mut h = Health::new(kind, HealthState::Ok, format!("{} on {port}", i.currency));
                            h.identity = Some(format!("{:?} serial {} firmware {}", i.protocol, i.serial, i.firmware));
                            publish(&health, h);
                            // The acceptor takes notes only while a flow wants them.
                            let cmd = match &want {
                                Some(values) => AcceptorCmd::Enable { accept_fen: values.clone() },
                                None => AcceptorCmd::Disable,
                            };
                            if let Err(err) = bill_command(&handle, &cmd).await {
                                tracing::warn!(error = %err, "could not restore the acceptor's state after connecting");
                            }
                        }
                        AcceptorEvent::DeviceLost { reason } => {
                            lost_since.get_or_insert_with(tokio::time::Instant::now);
                            publish(&health, Health::new(kind, HealthState::Offline, format!("{reason} ({port})")).with_condition("offline"));
                        }
                        other => {
                            if let Some(h) = health_of_event(other, &port) {
                                publish(&health, h);
                            }
                        }
                    }
                    if events.send(e).await.is_err() {
                        return;
                    }
                }
                _ = poll.tick() => {
                    if lost_since.is_some_and(|t| t.elapsed() >= REOPEN_AFTER) {
                        tracing::warn!(port, "bill acceptor lost for {REOPEN_AFTER:?}: opening its port again");
                        break;
                    }
                    if health.borrow().state == HealthState::Fault
                        && let Ok(state) = handle.state().await
                        && matches!(state, AcceptorState::Idle | AcceptorState::Disabled | AcceptorState::Accepting)
                    {
                        publish(&health, Health::new(kind, HealthState::Ok, format!("cleared ({port})")));
                    }
                }
            }
        }
        drop(handle);
        let _ = info.send(None);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn remember(want: &mut Option<Vec<u64>>, cmd: &AcceptorCmd) {
    match cmd {
        AcceptorCmd::Enable { accept_fen } => *want = Some(accept_fen.clone()),
        AcceptorCmd::Disable => *want = None,
        _ => {}
    }
}

fn health_of_event(e: &AcceptorEvent, port: &str) -> Option<Health> {
    let kind = DeviceKind::BillAcceptor;
    let fault =
        |c: &str, d: String| Some(Health::new(kind, HealthState::Fault, d).with_condition(c));
    match e {
        AcceptorEvent::Jam { safe } => fault(
            "jam",
            format!(
                "note jammed ({}) — open the acceptor and clear it ({port})",
                if *safe {
                    "safe: out of the customer's reach"
                } else {
                    "unsafe: reachable from the front"
                }
            ),
        ),
        AcceptorEvent::StackerFull => fault(
            "cash_box_full",
            "cash box full — clear the cash box (清机)".into(),
        ),
        AcceptorEvent::CashboxRemoved => fault("cash_box_out", "cash box removed".into()),
        AcceptorEvent::CashboxReplaced => {
            Some(Health::new(kind, HealthState::Ok, "cash box replaced"))
        }
        AcceptorEvent::Fraud { .. } => fault(
            "fraud",
            "fraud attempt detected — inspect the acceptor".into(),
        ),
        AcceptorEvent::Failure { code, text } => {
            fault("failure", format!("device failure {code:#04x}: {text}"))
        }
        _ => None,
    }
}

// ----------------------------------------------------------------------------------------
// Receipt printer

/// The receipt printer as the runtime holds it.
#[derive(Debug, Clone)]
pub struct PrinterDevice {
    jobs: mpsc::Sender<PrinterJob>,
    pub health: watch::Receiver<Health>,
}

/// What the printer manager is asked to do.
#[derive(Debug)]
enum PrinterJob {
    Print(receipt_printer::Receipt, oneshot::Sender<PrintResult>),
    /// Ask the printer for its status now (paper level before a long print).
    Status(oneshot::Sender<Health>),
}

impl PrinterDevice {
    /// Prints a paper; printed only when the printer's status after the job says so.
    pub async fn print(&self, paper: receipt_printer::Receipt) -> PrintResult {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(PrinterJob::Print(paper, tx)).await.is_err() {
            return PrintResult::NotPrinted {
                reason: "printer manager stopped".into(),
            };
        }
        rx.await.unwrap_or(PrintResult::NotPrinted {
            reason: "printer manager stopped".into(),
        })
    }

    /// The printer's health as it answers now (not as last polled).
    pub async fn check(&self) -> Health {
        let (tx, rx) = oneshot::channel();
        let stopped = || {
            Health::new(
                DeviceKind::ReceiptPrinter,
                HealthState::Offline,
                "printer manager stopped",
            )
        };
        if self.jobs.send(PrinterJob::Status(tx)).await.is_err() {
            return stopped();
        }
        rx.await.unwrap_or_else(|_| stopped())
    }
}

/// Where the printer is.
#[derive(Debug, Clone)]
enum PrinterLink {
    Serial(PathBuf, u32),
    Usb(receipt_printer::usb::UsbSelector),
}

/// Starts the manager of a configured printer.
pub fn spawn_printer(cfg: config::PrinterConfig) -> PrinterDevice {
    let link = match (&cfg.port, &cfg.usb) {
        (Some(port), _) => PrinterLink::Serial(port.clone(), cfg.baud),
        (None, Some(usb)) => match usb.parse() {
            Ok(sel) => PrinterLink::Usb(sel),
            Err(_) => PrinterLink::Usb(receipt_printer::usb::UsbSelector::AnyPrinter),
        },
        (None, None) => PrinterLink::Usb(receipt_printer::usb::UsbSelector::AnyPrinter),
    };
    let (jobs_tx, jobs_rx) = mpsc::channel(8);
    let (health_tx, health_rx) = watch::channel(Health::new(
        DeviceKind::ReceiptPrinter,
        HealthState::Offline,
        "starting",
    ));
    tokio::spawn(printer_manager(link, jobs_rx, health_tx));
    PrinterDevice {
        jobs: jobs_tx,
        health: health_rx,
    }
}

fn open_printer(link: &PrinterLink) -> Result<PrinterHandle, String> {
    match link {
        PrinterLink::Serial(path, baud) => {
            let line = devio::LineSettings {
                baud: *baud,
                ..receipt_printer::DEFAULT_LINE
            };
            let port = receipt_printer::open_serial(path, line).map_err(|e| e.to_string())?;
            Ok(receipt_printer::Printer::new(port, DriverPrinterConfig::default()).spawn())
        }
        PrinterLink::Usb(sel) => {
            let port = receipt_printer::usb::open(*sel).map_err(|e| e.to_string())?;
            Ok(receipt_printer::Printer::new(port, DriverPrinterConfig::default()).spawn())
        }
    }
}

fn printer_health(status: &PrinterStatus, link: &str) -> Health {
    let kind = DeviceKind::ReceiptPrinter;
    if status.cover_open {
        Health::new(kind, HealthState::Fault, format!("cover open ({link})"))
            .with_condition("cover_open")
    } else if status.paper == Paper::Out {
        Health::new(
            kind,
            HealthState::Fault,
            format!("out of paper — load a roll ({link})"),
        )
        .with_condition("paper_out")
    } else if status.error {
        Health::new(
            kind,
            HealthState::Fault,
            format!("mechanical or cutter error ({link})"),
        )
        .with_condition("printer_error")
    } else if !status.online {
        Health::new(kind, HealthState::Fault, format!("offline ({link})")).with_condition("offline")
    } else if status.paper == Paper::NearEnd {
        Health::new(
            kind,
            HealthState::Warning,
            format!("paper near end ({link})"),
        )
        .with_condition("paper_low")
    } else {
        Health::new(kind, HealthState::Ok, format!("ready ({link})"))
    }
}

async fn printer_manager(
    link: PrinterLink,
    mut jobs: mpsc::Receiver<PrinterJob>,
    health: watch::Sender<Health>,
) {
    let kind = DeviceKind::ReceiptPrinter;
    let name = match &link {
        PrinterLink::Serial(p, _) => p.display().to_string(),
        PrinterLink::Usb(_) => "USB".to_owned(),
    };
    loop {
        let handle = match open_printer(&link) {
            Ok(h) => h,
            Err(e) => {
                publish(
                    &health,
                    Health::new(
                        kind,
                        HealthState::Offline,
                        format!("cannot open {name}: {e}"),
                    )
                    .with_condition("offline"),
                );
                let deadline = tokio::time::Instant::now() + OPEN_RETRY;
                loop {
                    tokio::select! {
                        job = jobs.recv() => match job {
                            None => return,
                            Some(PrinterJob::Print(_, reply)) => {
                                let _ = reply.send(PrintResult::NotPrinted { reason: "printer offline".into() });
                            }
                            Some(PrinterJob::Status(reply)) => {
                                let _ = reply.send(health.borrow().clone());
                            }
                        },
                        _ = tokio::time::sleep_until(deadline) => break,
                    }
                }
                continue;
            }
        };
        let mut failures = 0u32;
        let mut check = tokio::time::interval(Duration::from_secs(10));
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                job = jobs.recv() => match job {
                    None => return,
                    Some(PrinterJob::Print(paper, reply)) => {
                        let result = crate::runtime::print_on(&handle, &paper).await;
                        let _ = reply.send(result);
                        check.reset_immediately();
                    }
                    Some(PrinterJob::Status(reply)) => {
                        let now = match handle.status().await {
                            Ok(status) => printer_health(&status, &name),
                            Err(e) => Health::new(kind, HealthState::Offline, format!("no status from {name}: {e}")).with_condition("offline"),
                        };
                        publish(&health, now.clone());
                        let _ = reply.send(now);
                    }
                },
                _ = check.tick() => {
                    match handle.status().await {
                        Ok(status) => {
                            failures = 0;
                            publish(&health, printer_health(&status, &name));
                        }
                        Err(e) => {
                            failures += 1;
                            publish(&health, Health::new(kind, HealthState::Offline, format!("no status from {name}: {e}")).with_condition("offline"));
                            if failures >= 3 {
                                tracing::warn!(printer = %name, "printer not answering: opening it again");
                                break;
                            }
                        }
                    }
                }
            }
        }
        drop(handle);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

// ----------------------------------------------------------------------------------------
// ID card reader, card dispenser, camera: opened, watched and reopened; their handles are
// for the services that need them.

/// A device whose driver handle the services use directly.
#[derive(Debug, Clone)]
pub struct Watched<H> {
    pub handle: watch::Receiver<Option<H>>,
    pub health: watch::Receiver<Health>,
}

/// Starts the manager of a configured ID card reader.
pub fn spawn_id_reader(cfg: config::IdReaderConfig) -> Watched<idcard_reader::actor::ReaderHandle> {
    let kind = DeviceKind::IdCardReader;
    let port = cfg.port.clone();
    let line = devio::LineSettings {
        baud: cfg.baud,
        ..idcard_reader::LINE_SETTINGS
    };
    spawn_watched(
        kind,
        port.display().to_string(),
        move || {
            let io = devio::open_serial(&port, line).map_err(|e| e.to_string())?;
            Ok(idcard_reader::actor::spawn(
                idcard_reader::IdCardReader::new(io, idcard_reader::ReaderConfig::default()),
            ))
        },
        |h: idcard_reader::actor::ReaderHandle| async move {
            match h.sam_status().await {
                Ok(()) => Ok((HealthState::Ok, None, "SAM ready".to_owned())),
                Err(e) => Err(e.to_string()),
            }
        },
    )
}

/// Starts the manager of a configured card dispenser.
pub fn spawn_dispenser(cfg: config::DispenserConfig) -> Watched<card_dispenser::DispenserHandle> {
    let kind = DeviceKind::CardDispenser;
    let port = cfg.port.clone();
    let driver_cfg = card_dispenser::Config {
        address: cfg.address,
        line: devio::LineSettings::n81(cfg.baud),
        ..card_dispenser::Config::default()
    };
    spawn_watched(
        kind,
        port.display().to_string(),
        move || {
            let d = card_dispenser::CardDispenser::open(&port, driver_cfg.clone())
                .map_err(|e| e.to_string())?;
            Ok(card_dispenser::spawn(d))
        },
        |h: card_dispenser::DispenserHandle| async move {
            match h.status().await {
                Ok(s) => Ok(match (s.stacker, s.reject_bin_full) {
                    (_, true) => (
                        HealthState::Fault,
                        Some("reject_bin_full"),
                        "reject bin full".to_owned(),
                    ),
                    (card_dispenser::StackerLevel::Empty, _) => (
                        HealthState::Fault,
                        Some("stock_empty"),
                        "no blank cards in the stacker".to_owned(),
                    ),
                    (card_dispenser::StackerLevel::Low, _) => (
                        HealthState::Warning,
                        Some("stock_low"),
                        "few blank cards left".to_owned(),
                    ),
                    _ => (HealthState::Ok, None, "ready".to_owned()),
                }),
                Err(e) => Err(e.to_string()),
            }
        },
    )
}

/// Starts the manager of a configured camera.
pub fn spawn_camera(cfg: config::CameraConfig) -> Watched<camera::Camera> {
    let kind = DeviceKind::Camera;
    let scene = cfg
        .device
        .strip_prefix("simulated:scene:")
        .and_then(|name| name.parse::<camera::sim::Scene>().ok());
    let source = if cfg.device == "simulated" {
        camera::SourceConfig::Simulated { frames_dir: None }
    } else if let Some(scene) = scene {
        camera::SourceConfig::SimulatedScene { scene }
    } else {
        camera::SourceConfig::V4l2 {
            device: PathBuf::from(&cfg.device),
        }
    };
    let camera_cfg = camera::CameraConfig {
        source,
        ..camera::CameraConfig::default()
    };
    let (handle_tx, handle_rx) = watch::channel(None);
    let (health_tx, health_rx) =
        watch::channel(Health::new(kind, HealthState::Offline, "starting"));
    let name = cfg.device.clone();
    tokio::spawn(async move {
        loop {
            match camera::Camera::open(camera_cfg.clone()).await {
                Ok(cam) => {
                    let mut h = Health::new(kind, HealthState::Ok, format!("open ({name})"));
                    h.identity = Some(cam.info().label());
                    publish(&health_tx, h);
                    let _ = handle_tx.send(Some(cam.clone()));
                    // Check now and then that it still gives frames.
                    loop {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        if handle_tx.is_closed() {
                            return;
                        }
                        if let Err(e) = cam.preview().await {
                            publish(
                                &health_tx,
                                Health::new(
                                    kind,
                                    HealthState::Offline,
                                    format!("no frame from {name}: {e}"),
                                )
                                .with_condition("offline"),
                            );
                            break;
                        }
                    }
                    let _ = handle_tx.send(None);
                }
                Err(e) => {
                    publish(
                        &health_tx,
                        Health::new(
                            kind,
                            HealthState::Offline,
                            format!("cannot open {name}: {e}"),
                        )
                        .with_condition("offline"),
                    );
                }
            }
            if handle_tx.is_closed() {
                return;
            }
            tokio::time::sleep(OPEN_RETRY).await;
        }
    });
    Watched {
        handle: handle_rx,
        health: health_rx,
    }
}

type Check = Result<(HealthState, Option<&'static str>, String), String>;

fn spawn_watched<H, O, C, F>(kind: DeviceKind, name: String, open: O, check: C) -> Watched<H>
where
    H: Clone + Send + Sync + 'static,
    O: Fn() -> Result<H, String> + Send + 'static,
    C: Fn(H) -> F + Send + 'static,
    F: std::future::Future<Output = Check> + Send,
{
    let (handle_tx, handle_rx) = watch::channel(None);
    let (health_tx, health_rx) =
        watch::channel(Health::new(kind, HealthState::Offline, "starting"));
    tokio::spawn(async move {
        loop {
            if handle_tx.is_closed() {
                return;
            }
            let h = match open() {
                Ok(h) => h,
                Err(e) => {
                    publish(
                        &health_tx,
                        Health::new(
                            kind,
                            HealthState::Offline,
                            format!("cannot open {name}: {e}"),
                        )
                        .with_condition("offline"),
                    );
                    tokio::time::sleep(OPEN_RETRY).await;
                    continue;
                }
            };
            let _ = handle_tx.send(Some(h.clone()));
            let mut failures = 0;
            loop {
                match check(h.clone()).await {
                    Ok((state, condition, detail)) => {
                        failures = 0;
                        let mut health = Health::new(kind, state, format!("{detail} ({name})"));
                        health.condition = condition.map(str::to_owned);
                        publish(&health_tx, health);
                    }
                    Err(e) => {
                        failures += 1;
                        publish(
                            &health_tx,
                            Health::new(
                                kind,
                                HealthState::Offline,
                                format!("no answer from {name}: {e}"),
                            )
                            .with_condition("offline"),
                        );
                        if failures >= 3 {
                            break;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_secs(15)).await;
                if handle_tx.is_closed() {
                    return;
                }
            }
            let _ = handle_tx.send(None);
            tokio::time::sleep(OPEN_RETRY).await;
        }
    });
    Watched {
        handle: handle_rx,
        health: health_rx,
    }
}
