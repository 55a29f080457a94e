//! The supervisor: the kiosk's one main loop (STYLE.md §4 — one closed event enum drives the
//! application). It owns the kiosk's state and the current customer session, and consumes
//! everything that happens: the screen, the devices (between sessions too: a note credited
//! when no session takes notes is journaled and put on a refund voucher, never ignored),
//! the operator's answers (dropped when they belong to an abandoned request or an ended
//! session), head office's pushes, the clock and the request to stop.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bill_acceptor::AcceptorEvent;
use boss_protocol::{AckOutcome, JournalEntry, JournalUpload, Push, Request, Response};
use ed25519_dalek::VerifyingKey;
use telekiosk_settings::Settings;
use tokio::sync::{mpsc, oneshot, watch};

use super::devices::{
    BillAcceptorDevice, DeviceKind, Health, HealthState, PrinterDevice, Watched, not_fitted,
};
use super::headoffice::{self, Applied, BundleVerdict, LockState, StoredBundle};
use super::journal::JournalHandle;
use super::operator::Operator;
use super::recovery::{self, RecoveryReport, j};
use super::screen::{
    Availability, Branding, KioskStatus, Problem, ScreenUpdate, ServiceState, SignInNotice,
    TechAction, TechOutcome, TechScreen, UiEvent,
};
use super::service::{self, ServiceCall, ServiceReply, ServiceRequest};
use super::technician::{self, Failure, PinGate};
use super::{Clock, Error, crash};
use crate::boss::client::{BossClient, PushDelivery};
use crate::flow::screen::TypedNumber;
use crate::flow::topup::{self, Outcome, TopUp, TopUpReceipt};
use crate::flow::{
    AcceptorCmd, Effect, Flow, Input, JournalOp, Paper, PaperLevel, PrintResult, ReqId, ServiceId,
    Timeouts, Ui, bills, loss, number_query, pin_sale, plan, reregister, sim_order,
};
use crate::journal::{CardMovement, NoteSource};
use crate::logging::LogTail;
use crate::receipts::Letterhead;

/// How often the runtime does its periodic work.
#[derive(Debug, Clone)]
pub struct Options {
    /// The flows' clock tick (also the watchdog's heartbeat from the main loop).
    pub tick: Duration,
    /// How often the kiosk's state and the home screen's tiles are recomputed.
    pub status_every: Duration,
    /// How often pending credits are retried between customers.
    pub retry_every: Duration,
    /// How often the heartbeat's contents are refreshed.
    pub heartbeat_every: Duration,
    /// How often settled transactions are uploaded.
    pub upload_every: Duration,
    /// Longest wait for the current customer when stopping.
    pub stop_grace: Duration,
    /// How long start-up waits for the acceptor to report notes from before a restart.
    pub startup_window: Duration,
    /// Software name and version for heartbeats and diagnostics.
    pub software: String,
    /// The operator's calendar day (year, month, day) for the shop's date rules (出账期,
    /// the months a bill can be printed for); `None` is today in Beijing. The demo and the
    /// tests set it with the operator simulator's `--today`.
    pub calendar: Option<(i32, u32, u32)>,
    /// How long the technician's service panel stays with no action before the kiosk leaves
    /// service mode by itself (a technician who walked away must not leave the panel to the
    /// next passer-by).
    pub panel_idle: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(200),
            status_every: Duration::from_secs(1),
            retry_every: Duration::from_secs(30),
            heartbeat_every: Duration::from_secs(5),
            upload_every: Duration::from_secs(5),
            stop_grace: Duration::from_secs(60),
            startup_window: Duration::from_secs(8),
            software: concat!("telekiosk/", env!("CARGO_PKG_VERSION")).to_owned(),
            calendar: None,
            panel_idle: Duration::from_secs(10 * 60),
        }
    }
}

/// Something worth telling whoever runs the kiosk (the demo's log, tests): not needed to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// Start-up recovery is done.
    Recovered(RecoveryReport),
    /// The kiosk is ready to serve.
    Ready,
    SessionStarted {
        service: ServiceId,
    },
    SessionEnded {
        service: ServiceId,
        txn: Option<String>,
        money_fen: u64,
    },
    /// A paper went to the printer (its text, masked) and what became of it.
    Printed {
        txn: Option<String>,
        text: String,
        result: PrintResult,
    },
    /// A note no session took was put on a refund voucher.
    StrayNote {
        txn: String,
        fen: u64,
    },
    /// A push from head office was handled.
    Push {
        op: String,
        outcome: AckOutcome,
        message: Option<String>,
    },
    /// Pending credits were retried; this many settled.
    Retried {
        settled: usize,
    },
    /// Settled transactions were uploaded up to this sequence.
    Uploaded {
        acked_seq: i64,
    },
    /// The kiosk's state changed.
    State(String),
}

/// Everything the kiosk runs with (the composition root builds it: `telekiosk run`, the
/// demo, tests).
#[derive(Debug)]
pub struct KioskParts {
    pub kiosk_id: String,
    pub journal: JournalHandle,
    pub operator: Arc<dyn Operator>,
    /// The link (state, heartbeats, hello state); `None` runs without one (tests).
    pub client: Option<BossClient>,
    pub pushes: Option<mpsc::Receiver<PushDelivery>>,
    pub bill: Option<(BillAcceptorDevice, mpsc::Receiver<AcceptorEvent>)>,
    pub printer: Option<PrinterDevice>,
    pub id_reader: Option<Watched<idcard_reader::actor::ReaderHandle>>,
    pub dispenser: Option<Watched<card_dispenser::DispenserHandle>>,
    pub camera: Option<Watched<camera::Camera>>,
    /// Head office's settings as the kiosk's own file sets them.
    pub settings: Settings,
    /// Head office's key for configuration bundles.
    pub verifying_key: Option<VerifyingKey>,
    pub screen: mpsc::Sender<ScreenUpdate>,
    pub ui: mpsc::Receiver<UiEvent>,
    /// Becomes `true` when the kiosk must stop (SIGTERM).
    pub shutdown: watch::Receiver<bool>,
    pub logs: LogTail,
    pub notes: Option<mpsc::UnboundedSender<Note>>,
    pub options: Options,
    /// The service socket for technicians at a terminal (`telekiosk service …`), bound by
    /// the composition root; `None` runs without one.
    pub service: Option<std::os::unix::net::UnixListener>,
}

impl std::fmt::Debug for dyn Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Operator")
    }
}

/// The most blank cards a restock may add (a stacker holds a few hundred).
const MAX_RESTOCK: u32 = 1000;

/// What came back to the main loop from a task it started.
#[derive(Debug)]
enum Answer {
    /// For the session of generation `epoch`.
    Session {
        epoch: u64,
        input: Input,
    },
    /// A paper printed outside a session (a stray note's voucher).
    Paper {
        paper: i64,
        txn: String,
        text: String,
        result: PrintResult,
    },
    Retried(Result<usize, String>),
    Uploaded(Result<i64, String>),
    /// A technician's on-screen action was answered (`action`: the request's name).
    Technician {
        action: &'static str,
        reply: ServiceReply,
    },
    /// The note self-test of generation `generation` ran out of time.
    NoteTestTimeout {
        generation: u64,
    },
    /// The sign-in screen of generation `generation` was left alone too long.
    SignInTimeout {
        generation: u64,
    },
    /// The service panel of generation `generation` was left alone too long.
    PanelTimeout {
        generation: u64,
    },
}

struct Session {
    epoch: u64,
    service: ServiceId,
    flow: Box<dyn Flow>,
    txn: Option<String>,
    papers: HashMap<ReqId, (i64, String)>,
    /// The flow enabled the acceptor (and has not disabled it since).
    cash_on: bool,
    /// Money the session took (kept when the flow ends).
    money_fen: u64,
    stopping: bool,
    /// The service to start for the same customer once this one ends.
    handoff: Option<(ServiceId, TypedNumber)>,
    /// The ID card read under way (stopped when the session ends).
    id_read: Option<tokio::task::JoinHandle<()>>,
    /// The live photo under way (stopped when the session ends).
    face: Option<tokio::task::JoinHandle<()>>,
    /// The journal's id of the SIM card the session is moving.
    card: Option<i64>,
}

/// The kiosk's supervisor.
pub struct Kiosk {
    p: KioskParts,
    clock: Clock,
    health: Vec<watch::Receiver<Health>>,
    applied: Applied,
    stored: Option<StoredBundle>,
    lock: Option<LockState>,
    status: KioskStatus,
    services: Vec<ServiceState>,
    session: Option<Session>,
    next_epoch: u64,
    queue: VecDeque<(u64, Input)>,
    answers_tx: mpsc::Sender<Answer>,
    answers_rx: mpsc::Receiver<Answer>,
    /// Pushes that wait for the current customer to finish.
    deferred: Vec<Push>,
    screen_name: String,
    stopping: bool,
    stop_deadline: Option<tokio::time::Instant>,
    retrying: bool,
    uploading: bool,
    cash_box_notes: u64,
    sd: Systemd,
    /// A technician is working on the kiosk (service mode): no customers meanwhile.
    service_mode: Option<ServiceMode>,
    /// A technician waits for the current customer to finish before service mode starts.
    entering: Option<(String, oneshot::Sender<ServiceReply>)>,
    /// The technician's screens (sign-in, service panel), when shown.
    tech_ui: Option<TechUi>,
    /// Wrong PINs on the screen's pad, and its lock.
    pin_gate: PinGate,
    /// A note self-test under way.
    note_test: Option<NoteTest>,
    /// Generation of timers (sign-in, note test): a stale one is ignored.
    tech_generation: u64,
}

/// What the technician's screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TechUi {
    SignIn {
        generation: u64,
    },
    Panel {
        technician: String,
        busy: Option<String>,
        last: Option<TechOutcome>,
        /// Renewed by every action; a panel left alone ends service mode.
        generation: u64,
    },
}

/// Accept-and-return of one note, waiting for the acceptor's events.
#[derive(Debug)]
struct NoteTest {
    technician: String,
    generation: u64,
    reply: oneshot::Sender<ServiceReply>,
    /// The value read into escrow (handed back since).
    escrowed: Option<u64>,
}

/// How long the sign-in screen waits for a technician's taps.
const SIGN_IN_IDLE: Duration = Duration::from_secs(120);

/// Who is working on the kiosk, since when.
#[derive(Debug, Clone, serde::Serialize)]
struct ServiceMode {
    technician: String,
    since: i64,
}

impl std::fmt::Debug for Kiosk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kiosk")
            .field("kiosk_id", &self.p.kiosk_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Kiosk {
    pub fn new(parts: KioskParts) -> Self {
        let health = vec![
            parts.bill.as_ref().map_or_else(
                || not_fitted(DeviceKind::BillAcceptor),
                |b| b.0.health.clone(),
            ),
            parts.printer.as_ref().map_or_else(
                || not_fitted(DeviceKind::ReceiptPrinter),
                |p| p.health.clone(),
            ),
            parts.id_reader.as_ref().map_or_else(
                || not_fitted(DeviceKind::IdCardReader),
                |d| d.health.clone(),
            ),
            parts.dispenser.as_ref().map_or_else(
                || not_fitted(DeviceKind::CardDispenser),
                |d| d.health.clone(),
            ),
            parts
                .camera
                .as_ref()
                .map_or_else(|| not_fitted(DeviceKind::Camera), |d| d.health.clone()),
        ];
        let (answers_tx, answers_rx) = mpsc::channel(256);
        let applied = Applied {
            version: 0,
            settings: parts.settings.clone(),
        };
        Self {
            p: parts,
            clock: Clock::default(),
            health,
            applied,
            stored: None,
            lock: None,
            status: KioskStatus::Starting,
            services: Vec::new(),
            session: None,
            next_epoch: 0,
            queue: VecDeque::new(),
            answers_tx,
            answers_rx,
            deferred: Vec::new(),
            screen_name: "starting".into(),
            stopping: false,
            stop_deadline: None,
            retrying: false,
            uploading: false,
            cash_box_notes: 0,
            sd: Systemd::from_env(),
            service_mode: None,
            entering: None,
            tech_ui: None,
            pin_gate: PinGate::default(),
            note_test: None,
            tech_generation: 0,
        }
    }

    fn note(&self, n: Note) {
        if let Some(tx) = &self.p.notes {
            let _ = tx.send(n);
        }
    }

    async fn show(&self, u: ScreenUpdate) {
        if self.p.screen.send(u).await.is_err() {
            tracing::debug!("nobody watches the screen");
        }
    }

    fn letterhead(&self) -> Letterhead {
        Letterhead {
            shop: self.applied.settings.receipt.shop.clone(),
            kiosk_id: self.p.kiosk_id.clone(),
            hotline: self.applied.settings.receipt.hotline.clone(),
        }
    }

    /// Runs the kiosk until it is told to stop (and the current customer is done).
    pub async fn run(mut self) -> Result<(), Error> {
        self.start().await?;
        // Wrong PINs of the last minutes count across a restart: pulling the plug does not
        // reopen a locked pad.
        let since = self.clock.unix_ms()
            - i64::try_from(technician::LOCKOUT.as_millis()).unwrap_or(i64::MAX) * 3;
        let recent = j!(self.p.journal, |j| j.service_entries(100))?;
        let events: Vec<(String, i64)> = recent
            .into_iter()
            .rev()
            .filter(|e| e.at >= since)
            .map(|e| (e.action, e.at))
            .collect();
        self.pin_gate = PinGate::restore(events.iter().map(|(a, at)| (a.as_str(), *at)));
        let mut tick = tokio::time::interval(self.p.options.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut status_at = tokio::time::Instant::now();
        let mut retry_at = tokio::time::Instant::now() + self.p.options.retry_every;
        let mut heartbeat_at = tokio::time::Instant::now();
        let mut upload_at = tokio::time::Instant::now();
        let mut bill_rx = self.p.bill.as_mut().map(|b| {
            let (tx, rx) = mpsc::channel(1);
            let real = std::mem::replace(&mut b.1, rx);
            drop(tx);
            real
        });
        let mut pushes = self.p.pushes.take();
        let mut shutdown = self.p.shutdown.clone();
        let mut service_calls = self.p.service.take().map(|listener| {
            let (tx, rx) = mpsc::channel(8);
            tokio::spawn(service::serve(listener, tx));
            rx
        });
        loop {
            if let Some((epoch, input)) = self.queue.pop_front() {
                self.feed(epoch, input).await?;
                continue;
            }
            if self.stopping && self.session.is_none() {
                break;
            }
            if self
                .stop_deadline
                .is_some_and(|d| tokio::time::Instant::now() >= d)
            {
                tracing::warn!(
                    "the customer's session did not end in time; stopping anyway (recovery finishes it at the next start)"
                );
                break;
            }
            tokio::select! {
                biased;
                r = shutdown.changed(), if !self.stopping => {
                    if r.is_err() || *shutdown.borrow() {
                        self.begin_stop().await?;
                    }
                }
                Some(ev) = self.p.ui.recv() => self.on_ui(ev).await?,
                Some(ev) = recv_opt(&mut bill_rx) => self.on_acceptor(ev).await?,
                Some(a) = self.answers_rx.recv() => self.on_answer(a).await?,
                Some(push) = recv_opt(&mut pushes) => self.on_push(push).await?,
                Some(call) = recv_opt(&mut service_calls) => self.on_service(call).await?,
                _ = tick.tick() => {
                    self.sd.watchdog();
                    if let Some(s) = &self.session {
                        let epoch = s.epoch;
                        self.feed(epoch, Input::Tick).await?;
                    }
                    let now = tokio::time::Instant::now();
                    if now >= status_at {
                        status_at = now + self.p.options.status_every;
                        self.refresh_status().await;
                    }
                    if now >= heartbeat_at {
                        heartbeat_at = now + self.p.options.heartbeat_every;
                        self.heartbeat().await;
                    }
                    if now >= retry_at && self.session.is_none() && !self.stopping {
                        retry_at = now + self.p.options.retry_every;
                        self.retry_pending();
                    }
                    if now >= upload_at {
                        upload_at = now + self.p.options.upload_every;
                        self.upload();
                    }
                }
            }
        }
        self.sd.stopping();
        if let Some(b) = &self.p.bill {
            b.0.command(AcceptorCmd::Disable).await;
        }
        tracing::info!("kiosk stopped");
        Ok(())
    }

    async fn start(&mut self) -> Result<(), Error> {
        self.show(ScreenUpdate::Status(KioskStatus::Starting)).await;
        self.sd.status("recovering");
        // What head office set before the restart: the lock, the configuration.
        let stored_lock = j!(self.p.journal, |j| j.kiosk_state("lock"))?;
        self.lock = stored_lock.and_then(|v| serde_json::from_value(v).ok());
        let stored = j!(self.p.journal, |j| j.kiosk_state("config"))?
            .and_then(|v| serde_json::from_value::<StoredBundle>(v).ok());
        let (applied, stored) =
            headoffice::restore(self.p.verifying_key.as_ref(), &self.p.settings, stored);
        self.applied = applied;
        self.stored = stored;
        self.publish_hello_state().await;
        self.show(ScreenUpdate::Branding(Branding::from_settings(
            &self.applied.settings,
        )))
        .await;
        if let Some(lock) = &self.lock {
            tracing::warn!(reason = %lock.reason, "locked by head office (kept from before the restart)");
        }

        // Recovery.
        let startup = match &mut self.p.bill {
            Some((dev, rx)) => {
                recovery::collect_startup_notes(dev, rx, self.p.options.startup_window).await
            }
            None => Vec::new(),
        };
        let report = recovery::recover(
            &self.p.journal,
            &*self.p.operator,
            &startup,
            self.p.printer.as_ref(),
            self.p.dispenser.as_ref(),
            &self.letterhead(),
            &self.clock,
        )
        .await?;
        if !report.resolved.is_empty() || !report.notes.is_empty() {
            tracing::info!(
                resolved = report.resolved.len(),
                notes = report.notes.len(),
                printed = report.printed.len(),
                "recovered what the last run left"
            );
        }
        self.note(Note::Recovered(report));
        if let Some(b) = &self.p.bill {
            // No flow wants cash now.
            b.0.command(AcceptorCmd::Disable).await;
        }
        self.cash_box_notes = self.count_cash_box().await?;
        self.refresh_status().await;
        self.sd.ready();
        self.note(Note::Ready);
        tracing::info!(kiosk = %self.p.kiosk_id, config_version = self.applied.version, "kiosk ready");
        Ok(())
    }

    async fn count_cash_box(&self) -> Result<u64, Error> {
        let cb = j!(self.p.journal, |j| j.cashbox())?;
        Ok(cb
            .notes
            .iter()
            .map(|(_, n)| u64::try_from(*n).unwrap_or(0))
            .sum())
    }

    async fn publish_hello_state(&self) {
        if let Some(c) = &self.p.client {
            let last = self
                .p
                .journal
                .run(|j| j.upload_last())
                .await
                .ok()
                .and_then(Result::ok);
            c.set_hello_state(
                Some(self.applied.version),
                last.and_then(|l| u64::try_from(l).ok()),
            )
            .await;
        }
    }

    // ------------------------------------------------------------------------------------
    // The kiosk's state and the home screen.

    fn link_up(&self) -> bool {
        self.p
            .client
            .as_ref()
            .is_none_or(|c| c.link_state().borrow().is_up())
    }

    fn health_of(&self, kind: DeviceKind) -> Health {
        self.health
            .iter()
            .map(|h| h.borrow().clone())
            .find(|h| h.device == kind)
            .unwrap_or_else(|| Health::new(kind, HealthState::NotFitted, "not configured"))
    }

    fn cash_box_full(&self) -> bool {
        let c = &self.applied.settings.cash;
        self.cash_box_notes * 100 >= c.capacity_notes * c.near_full_percent
    }

    /// Whether a service can be offered now, and if not why.
    pub fn availability(&self, service: ServiceId) -> Availability {
        let (built, devices): (bool, &[DeviceKind]) = match service {
            ServiceId::TopUp => (
                true,
                &[DeviceKind::BillAcceptor, DeviceKind::ReceiptPrinter],
            ),
            // The receipt (业务受理回执) is part of the business.
            ServiceId::PlanChange => (true, &[DeviceKind::ReceiptPrinter]),
            // A bill can be read on the screen with no printer.
            ServiceId::BillPrint => (true, &[]),
            // 新开户 / 补卡: ID card, live photo, cash, a card written and handed out, and the
            // receipt that goes with the card.
            ServiceId::NewSim | ServiceId::ReplaceSim => (
                true,
                &[
                    DeviceKind::IdCardReader,
                    DeviceKind::Camera,
                    DeviceKind::BillAcceptor,
                    DeviceKind::CardDispenser,
                    DeviceKind::ReceiptPrinter,
                ],
            ),
            // 实名补登记: no money, no card; the receipt is the customer's proof.
            ServiceId::Registration => (
                true,
                &[
                    DeviceKind::IdCardReader,
                    DeviceKind::Camera,
                    DeviceKind::ReceiptPrinter,
                ],
            ),
            // 挂失 / 解挂: the receipt says how to get a new card; the ID card and live photo
            // are one way of proving ownership (the password and an SMS code the other).
            ServiceId::Loss => (true, &[DeviceKind::ReceiptPrinter]),
            // 名下号码查询: the ID card and the live photo; the slip is offered when the
            // printer works.
            ServiceId::NumberQuery => (true, &[DeviceKind::IdCardReader, DeviceKind::Camera]),
            // 充值卡销售: cash in, the card is paper.
            ServiceId::PinSale => (
                true,
                &[DeviceKind::BillAcceptor, DeviceKind::ReceiptPrinter],
            ),
        };
        if !built {
            return Availability::ComingSoon;
        }
        if !self.applied.settings.offers(service.id()) {
            return Availability::DisabledByConfig;
        }
        for &kind in devices {
            let h = self.health_of(kind);
            if !h.usable() {
                let (zh, en) = h.customer_words();
                return Availability::Unavailable { zh, en };
            }
        }
        if service == ServiceId::PlanChange && self.today().2 <= 5 {
            // 出账期: no plan change while the month's bills are drawn up.
            return Availability::Unavailable {
                zh: "每月1日至5日为出账期，请于6日后办理".into(),
                en: "Not on the 1st to 5th (billing); from the 6th".into(),
            };
        }
        if devices.contains(&DeviceKind::BillAcceptor) && self.cash_box_full() {
            return Availability::Unavailable {
                zh: "钱箱已满，暂停收款".into(),
                en: "The cash box is full".into(),
            };
        }
        if !self.link_up() {
            return Availability::Unavailable {
                zh: "暂时无法连接业务系统".into(),
                en: "The business system cannot be reached".into(),
            };
        }
        Availability::Available
    }

    /// The operator's calendar day.
    fn today(&self) -> (i32, u32, u32) {
        self.p.options.calendar.unwrap_or_else(|| {
            let d = idcard_reader::check::china_date(std::time::SystemTime::now());
            (d.year(), u32::from(u8::from(d.month())), u32::from(d.day()))
        })
    }

    /// Whether the ID card reader can read a card now.
    fn id_card_ok(&self) -> bool {
        self.health_of(DeviceKind::IdCardReader).usable()
    }

    fn seed(&self) -> u64 {
        rand::random()
    }

    fn compute_status(&self) -> (KioskStatus, Vec<ServiceState>) {
        let services: Vec<ServiceState> = ServiceId::ALL
            .into_iter()
            .map(|service| ServiceState {
                service,
                availability: self.availability(service),
            })
            .collect();
        if self.stopping {
            return (KioskStatus::Stopping, services);
        }
        if let Some(m) = &self.service_mode {
            return (
                KioskStatus::OutOfService {
                    problems: vec![Problem {
                        customer_zh: "设备维护中，请稍候或到柜台办理".into(),
                        customer_en: "The kiosk is being serviced; please wait or use the counter"
                            .into(),
                        technician: format!(
                            "service mode: technician {} since {}",
                            m.technician,
                            crate::receipts::shop_time(m.since)
                        ),
                    }],
                },
                services,
            );
        }
        if let Some(lock) = &self.lock {
            return (
                KioskStatus::Locked {
                    message: lock.message.clone(),
                },
                services,
            );
        }
        let minute = beijing_minute(self.clock.unix_ms());
        if !self.applied.settings.hours.is_open_at(minute) {
            return (
                KioskStatus::Closed {
                    opens: self.applied.settings.hours.open.clone(),
                },
                services,
            );
        }
        if services
            .iter()
            .any(|s| s.availability == Availability::Available)
        {
            return (KioskStatus::InService, services);
        }
        // Nothing can be served: say what is broken.
        let mut problems = Vec::new();
        if !self.link_up() {
            let cause = self
                .p
                .client
                .as_ref()
                .map(|c| format!("{:?}", *c.link_state().borrow()))
                .unwrap_or_default();
            problems.push(Problem {
                customer_zh: "暂时无法连接业务系统".into(),
                customer_en: "The business system cannot be reached".into(),
                technician: format!("link to the server down: {cause}"),
            });
        }
        for kind in DeviceKind::ALL {
            let h = self.health_of(kind);
            if !h.usable() && h.state != HealthState::NotFitted {
                let (zh, en) = h.customer_words();
                problems.push(Problem {
                    customer_zh: zh,
                    customer_en: en,
                    technician: format!("{}: {:?} — {}", kind.wire(), h.state, h.detail),
                });
            }
        }
        if self.cash_box_full() {
            problems.push(Problem {
                customer_zh: "钱箱已满".into(),
                customer_en: "The cash box is full".into(),
                technician: format!(
                    "cash box holds {} notes (capacity {}): clear it (清机)",
                    self.cash_box_notes, self.applied.settings.cash.capacity_notes
                ),
            });
        }
        if problems.is_empty() {
            problems.push(Problem {
                customer_zh: "本机暂停服务".into(),
                customer_en: "This kiosk is not serving now".into(),
                technician: "no service is switched on or fitted".into(),
            });
        }
        (KioskStatus::OutOfService { problems }, services)
    }

    async fn refresh_status(&mut self) {
        let (status, services) = self.compute_status();
        if services != self.services {
            self.services = services.clone();
            self.show(ScreenUpdate::Services(services)).await;
        }
        if status != self.status {
            if status.name() != self.status.name() {
                tracing::info!(from = self.status.name(), to = status.name(), "kiosk state");
                self.note(Note::State(status.name().to_owned()));
                self.sd.status(status.name());
            }
            self.status = status.clone();
            self.show(ScreenUpdate::Status(status)).await;
            if self.session.is_none() {
                self.screen_name = self.status_screen().into();
            }
        }
    }

    fn status_screen(&self) -> &'static str {
        match self.status {
            KioskStatus::InService => "idle",
            KioskStatus::Starting => "starting",
            KioskStatus::Locked { .. } => "locked",
            KioskStatus::Closed { .. } => "closed",
            KioskStatus::Stopping => "stopping",
            KioskStatus::OutOfService { .. } => "out_of_service",
        }
    }

    // ------------------------------------------------------------------------------------
    // Sessions.

    async fn on_ui(&mut self, ev: UiEvent) -> Result<(), Error> {
        match ev {
            UiEvent::Start(service) => self.start_session(service).await,
            UiEvent::Customer(ui) => {
                if let Some(s) = &self.session {
                    let epoch = s.epoch;
                    self.feed(epoch, Input::Ui(ui)).await?;
                }
                Ok(())
            }
            UiEvent::CallHelp => {
                tracing::warn!(screen = %self.screen_name, "a customer called for help");
                if let Some(s) = &self.session {
                    let epoch = s.epoch;
                    self.feed(epoch, Input::Ui(Ui::Help(true))).await?;
                }
                Ok(())
            }
            UiEvent::Technician => self.tech_open().await,
            UiEvent::TechnicianSignIn { id, pin } => self.tech_sign_in(&id, pin).await,
            UiEvent::TechnicianAction(action) => self.tech_action(action).await,
        }
    }

    async fn start_session(&mut self, service: ServiceId) -> Result<(), Error> {
        self.start_session_with(service, None).await
    }

    async fn start_session_with(
        &mut self,
        service: ServiceId,
        number: Option<TypedNumber>,
    ) -> Result<(), Error> {
        if self.session.is_some()
            || self.stopping
            || self.service_mode.is_some()
            || self.entering.is_some()
            || self.tech_ui.is_some()
        {
            return Ok(());
        }
        self.refresh_status().await;
        if self.status != KioskStatus::InService
            || self.availability(service) != Availability::Available
        {
            tracing::info!(
                ?service,
                status = self.status.name(),
                "service not available: not started"
            );
            // The screen greys the tile with the reason; make sure it has the latest.
            self.show(ScreenUpdate::Services(self.services.clone()))
                .await;
            return Ok(());
        }
        let now = self.clock.mono_ms();
        let (flow, effects): (Box<dyn Flow>, Vec<Effect>) = match service {
            ServiceId::TopUp => {
                let mut cfg = topup::Config::from_settings(&self.applied.settings);
                // Only what the acceptor can read and the settings allow.
                if let Some(b) = &self.p.bill
                    && let Some(info) = b.0.info.borrow().as_ref()
                {
                    let known: Vec<u64> = info.denominations.iter().map(|d| d.fen).collect();
                    cfg.accept_fen.retain(|f| known.contains(f));
                }
                let (f, e) = match &number {
                    Some(n) => TopUp::start_with_number(cfg, n.digits(), now),
                    None => TopUp::start(cfg, now),
                };
                (Box::new(f), e)
            }
            ServiceId::PlanChange => {
                let cfg = plan::Config {
                    timeouts: Timeouts::from_settings(&self.applied.settings),
                    id_card: self.id_card_ok(),
                    today: self.today(),
                    seed: self.seed(),
                };
                let (f, e) = plan::PlanChangeFlow::start(cfg, now);
                (Box::new(f), e)
            }
            ServiceId::BillPrint => {
                let cfg = bills::Config {
                    timeouts: Timeouts::from_settings(&self.applied.settings),
                    id_card: self.id_card_ok(),
                    today: self.today(),
                    seed: self.seed(),
                };
                let (f, e) = bills::BillsFlow::start(cfg, now);
                (Box::new(f), e)
            }
            ServiceId::NewSim | ServiceId::ReplaceSim => {
                let settings = &self.applied.settings;
                let topup = topup::Config::from_settings(settings);
                let mut accept_fen = topup.accept_fen;
                if let Some(b) = &self.p.bill
                    && let Some(info) = b.0.info.borrow().as_ref()
                {
                    let known: Vec<u64> = info.denominations.iter().map(|d| d.fen).collect();
                    accept_fen.retain(|f| known.contains(f));
                }
                let new = service == ServiceId::NewSim;
                let cfg = sim_order::Config {
                    timeouts: Timeouts::from_settings(settings),
                    accept_fen,
                    max_fen: topup.max_fen,
                    card_fee_fen: 100
                        * if new {
                            settings.fees.new_sim_card_yuan
                        } else {
                            settings.fees.replacement_sim_yuan
                        },
                    wall_ms_at_start: self.clock.unix_ms(),
                };
                let (f, e) = if new {
                    sim_order::SimFlow::new_sim(cfg, now)
                } else {
                    match &number {
                        Some(n) => {
                            sim_order::SimFlow::replacement_with_number(cfg, n.digits(), now)
                        }
                        None => sim_order::SimFlow::replacement(cfg, now),
                    }
                };
                (Box::new(f), e)
            }
            ServiceId::Registration => {
                let cfg = reregister::Config {
                    timeouts: Timeouts::from_settings(&self.applied.settings),
                    seed: self.seed(),
                };
                let (f, e) = reregister::Reregister::start(cfg, now);
                (Box::new(f), e)
            }
            ServiceId::Loss => {
                let cfg = loss::Config {
                    timeouts: Timeouts::from_settings(&self.applied.settings),
                    id_card: self.id_card_ok() && self.health_of(DeviceKind::Camera).usable(),
                    replacement: matches!(
                        self.availability(ServiceId::ReplaceSim),
                        Availability::Available
                    ),
                    seed: self.seed(),
                };
                let (f, e) = loss::LossFlow::start(cfg, now);
                (Box::new(f), e)
            }
            ServiceId::NumberQuery => {
                let cfg = number_query::Config {
                    timeouts: Timeouts::from_settings(&self.applied.settings),
                    printer: self.health_of(DeviceKind::ReceiptPrinter).usable(),
                };
                let (f, e) = number_query::NumberQuery::start(cfg, now);
                (Box::new(f), e)
            }
            ServiceId::PinSale => {
                let mut accept_fen =
                    topup::Config::from_settings(&self.applied.settings).accept_fen;
                if let Some(b) = &self.p.bill
                    && let Some(info) = b.0.info.borrow().as_ref()
                {
                    let known: Vec<u64> = info.denominations.iter().map(|d| d.fen).collect();
                    accept_fen.retain(|f| known.contains(f));
                }
                let cfg = pin_sale::Config {
                    timeouts: Timeouts::from_settings(&self.applied.settings),
                    accept_fen,
                };
                let (f, e) = pin_sale::PinSaleFlow::start(cfg, now);
                (Box::new(f), e)
            }
        };
        self.next_epoch += 1;
        let epoch = self.next_epoch;
        self.session = Some(Session {
            epoch,
            service,
            flow,
            txn: None,
            papers: HashMap::new(),
            cash_on: false,
            money_fen: 0,
            stopping: false,
            handoff: None,
            id_read: None,
            face: None,
            card: None,
        });
        tracing::info!(?service, "session started");
        self.note(Note::SessionStarted { service });
        self.execute(epoch, effects).await?;
        self.after_step().await
    }

    async fn feed(&mut self, epoch: u64, input: Input) -> Result<(), Error> {
        let Some(s) = self.session.as_mut() else {
            return Ok(());
        };
        if s.epoch != epoch {
            tracing::debug!(?input, "answer for an ended session dropped");
            return Ok(());
        }
        if !matches!(input, Input::Tick) {
            tracing::debug!(state = s.flow.state_name(), ?input, "session input");
        }
        let effects = s.flow.handle(input, self.clock.mono_ms());
        s.money_fen = s.money_fen.max(s.flow.money_in_fen());
        self.screen_name = s.flow.state_name().to_owned();
        self.execute(epoch, effects).await?;
        self.after_step().await
    }

    /// After a step: end the session if the flow is over.
    async fn after_step(&mut self) -> Result<(), Error> {
        let Some(s) = &self.session else {
            return Ok(());
        };
        if !s.flow.is_ended() {
            return Ok(());
        }
        let s = self.session.take().expect("checked above");
        for task in [&s.id_read, &s.face].into_iter().flatten() {
            task.abort();
        }
        if s.cash_on
            && let Some(b) = &self.p.bill
        {
            b.0.command(AcceptorCmd::Disable).await;
        }
        tracing::info!(service = ?s.service, txn = ?s.txn, "session ended");
        self.note(Note::SessionEnded {
            service: s.service,
            txn: s.txn.clone(),
            money_fen: s.money_fen,
        });
        self.cash_box_notes = self.count_cash_box().await?;
        // What head office asked for while the customer was served.
        for push in std::mem::take(&mut self.deferred) {
            self.apply_push(push).await?;
        }
        self.screen_name = self.status_screen().into();
        self.refresh_status().await;
        if let Some((service, number)) = s.handoff {
            tracing::info!(?service, "the customer goes on to another service");
            // The customer is still at the screen: a technician waiting goes after them.
            let entering = self.entering.take();
            Box::pin(self.start_session_with(service, Some(number))).await?;
            self.entering = entering;
        }
        if self.session.is_none()
            && let Some((technician, reply)) = self.entering.take()
        {
            self.enter_service(technician, reply).await?;
        }
        Ok(())
    }

    async fn execute(&mut self, epoch: u64, effects: Vec<Effect>) -> Result<(), Error> {
        for effect in effects {
            match effect {
                Effect::Show(screen) => {
                    self.screen_name = match &self.session {
                        Some(s) => format!("{}.{}", s.service.id(), screen.name()),
                        None => screen.name().to_owned(),
                    };
                    self.show(ScreenUpdate::Show(screen)).await;
                }
                Effect::IdleWarning {
                    seconds_left,
                    money_fen,
                } => {
                    self.show(ScreenUpdate::IdleWarning {
                        seconds_left,
                        money_fen,
                    })
                    .await
                }
                Effect::End => self.show(ScreenUpdate::End).await,
                Effect::Handoff { service, number } => {
                    if let Some(s) = self.session.as_mut() {
                        s.handoff = Some((service, number));
                    }
                }
                Effect::ReadIdCard { req, timeout_ms } => {
                    let reader = self
                        .p
                        .id_reader
                        .as_ref()
                        .and_then(|r| r.handle.borrow().clone());
                    let tx = self.answers_tx.clone();
                    let task = tokio::spawn(async move {
                        let result =
                            super::idcard::read(reader, Duration::from_millis(timeout_ms)).await;
                        let _ = tx
                            .send(Answer::Session {
                                epoch,
                                input: Input::IdCard { req, result },
                            })
                            .await;
                    });
                    if let Some(s) = self.session.as_mut()
                        && let Some(old) = s.id_read.replace(task)
                    {
                        old.abort();
                    }
                }
                Effect::Card { req, cmd } => {
                    let what = card_cmd_name(&cmd);
                    crash::point(&format!("dispenser: before {what}")).await;
                    let dispenser = self
                        .p
                        .dispenser
                        .as_ref()
                        .and_then(|d| d.handle.borrow().clone());
                    let tx = self.answers_tx.clone();
                    tokio::spawn(async move {
                        let result = super::cards::run(dispenser, cmd).await;
                        crash::point(&format!("dispenser: after {what}")).await;
                        let _ = tx
                            .send(Answer::Session {
                                epoch,
                                input: Input::Card { req, result },
                            })
                            .await;
                    });
                }
                Effect::CaptureFace { req, timeout_ms } => {
                    let camera = self
                        .p
                        .camera
                        .as_ref()
                        .and_then(|c| c.handle.borrow().clone());
                    let tx = self.answers_tx.clone();
                    let screen = self.p.screen.clone();
                    let task = tokio::spawn(async move {
                        let result = super::face::capture(
                            camera,
                            Duration::from_millis(timeout_ms),
                            |guidance| {
                                let _ = tx.try_send(Answer::Session {
                                    epoch,
                                    input: Input::FaceGuidance { req, guidance },
                                });
                            },
                            |preview| {
                                let _ = screen.try_send(ScreenUpdate::CameraPreview(preview));
                            },
                        )
                        .await;
                        let _ = tx
                            .send(Answer::Session {
                                epoch,
                                input: Input::Face { req, result },
                            })
                            .await;
                    });
                    if let Some(s) = self.session.as_mut()
                        && let Some(old) = s.face.replace(task)
                    {
                        old.abort();
                    }
                }
                Effect::CheckPrinter { req } => {
                    let tx = self.answers_tx.clone();
                    let printer = self.p.printer.clone();
                    tokio::spawn(async move {
                        let paper = match printer {
                            None => PaperLevel::Unavailable,
                            Some(p) => paper_level(&p.check().await),
                        };
                        let _ = tx
                            .send(Answer::Session {
                                epoch,
                                input: Input::Printer { req, paper },
                            })
                            .await;
                    });
                }
                Effect::Journal(op) => self.journal_op(epoch, op).await?,
                Effect::Acceptor(cmd) => {
                    let what = match &cmd {
                        AcceptorCmd::Enable { .. } => "enable",
                        AcceptorCmd::Disable => "disable",
                        AcceptorCmd::Stack => "stack",
                        AcceptorCmd::Return => "return",
                    };
                    if let Some(s) = self.session.as_mut() {
                        match cmd {
                            AcceptorCmd::Enable { .. } => s.cash_on = true,
                            AcceptorCmd::Disable => s.cash_on = false,
                            _ => {}
                        }
                    }
                    crash::point(&format!("acceptor: before {what}")).await;
                    match &self.p.bill {
                        Some(b) => b.0.command(cmd).await,
                        None => self.queue.push_back((
                            epoch,
                            Input::AcceptorDown {
                                cause: "no bill acceptor fitted".into(),
                            },
                        )),
                    }
                    crash::point(&format!("acceptor: after {what}")).await;
                }
                Effect::Operator {
                    req,
                    request,
                    timeout_ms,
                } => {
                    let op = request.op();
                    crash::point(&format!("operator: before {op}")).await;
                    let operator = Arc::clone(&self.p.operator);
                    let tx = self.answers_tx.clone();
                    tokio::spawn(async move {
                        let result = operator
                            .call(request, timeout_ms.map(Duration::from_millis))
                            .await;
                        crash::point(&format!("operator: after {op}")).await;
                        let _ = tx
                            .send(Answer::Session {
                                epoch,
                                input: Input::Operator { req, result },
                            })
                            .await;
                    });
                }
                Effect::Print { req, paper } => {
                    let doc =
                        crate::receipts::render(&paper, &self.letterhead(), self.clock.unix_ms());
                    let text = doc.to_text();
                    crash::point("printer: before print").await;
                    match &self.p.printer {
                        Some(p) => {
                            let p = p.clone();
                            let tx = self.answers_tx.clone();
                            let notes = self.p.notes.clone();
                            let txn = self.session.as_ref().and_then(|s| s.txn.clone());
                            tokio::spawn(async move {
                                let result = p.print(doc).await;
                                crash::point("printer: after print").await;
                                if let Some(n) = notes {
                                    let _ = n.send(Note::Printed {
                                        txn,
                                        text,
                                        result: result.clone(),
                                    });
                                }
                                let _ = tx
                                    .send(Answer::Session {
                                        epoch,
                                        input: Input::Printed { req, result },
                                    })
                                    .await;
                            });
                        }
                        None => self.queue.push_back((
                            epoch,
                            Input::Printed {
                                req,
                                result: PrintResult::NotPrinted {
                                    reason: "no printer fitted".into(),
                                },
                            },
                        )),
                    }
                }
            }
        }
        Ok(())
    }

    async fn journal_op(&mut self, epoch: u64, op: JournalOp) -> Result<(), Error> {
        let now = self.clock.unix_ms();
        let Some(s) = self.session.as_mut() else {
            return Ok(());
        };
        let txn = s.txn.clone().unwrap_or_default();
        if txn.is_empty() && !matches!(op, JournalOp::Open { .. }) {
            tracing::error!(
                ?op,
                "journal write before the transaction was opened: skipped"
            );
            return Ok(());
        }
        let paper = match &op {
            JournalOp::PaperDone { req, .. } => match s.papers.get(req) {
                Some((id, _)) => Some(*id),
                None => {
                    tracing::error!(?req, "a paper's outcome for a paper never recorded");
                    return Ok(());
                }
            },
            JournalOp::Card(crate::flow::devices::CardJournal::Stage { .. }) => s.card,
            _ => None,
        };
        let req = match &op {
            JournalOp::PaperSent { req, paper } => Some((*req, paper.kind())),
            _ => None,
        };
        let (before, after) = super::journal::crash_points(&op);
        if let Some(name) = &before {
            crash::point(name).await;
        }
        let written = {
            let txn = txn.clone();
            j!(self.p.journal, |j| super::journal::write(
                j, &txn, op, paper, now
            ))?
        };
        if let Some(name) = &after {
            crash::point(name).await;
        }
        match written {
            super::journal::Written::Opened(id) => {
                tracing::info!(txn = %id, "transaction opened");
                if let Some(s) = self.session.as_mut() {
                    s.txn = Some(id.clone());
                }
                self.queue.push_back((epoch, Input::TxnOpened { id }));
            }
            super::journal::Written::Paper(id) => {
                if let (Some(s), Some((req, kind))) = (self.session.as_mut(), req) {
                    s.papers.insert(req, (id, kind.to_owned()));
                }
            }
            super::journal::Written::Card(id) => {
                if let Some(s) = self.session.as_mut() {
                    s.card = Some(id);
                }
            }
            super::journal::Written::Done => {}
        }
        Ok(())
    }

    async fn on_answer(&mut self, a: Answer) -> Result<(), Error> {
        match a {
            Answer::Session { epoch, input } => self.feed(epoch, input).await,
            Answer::Technician { action, reply } => self.tech_answered(action, reply).await,
            Answer::NoteTestTimeout { generation } => {
                if self
                    .note_test
                    .as_ref()
                    .is_some_and(|t| t.generation == generation)
                {
                    self.note_test_done(false, "no note came in time: nothing was taken".into())
                        .await?;
                }
                Ok(())
            }
            Answer::PanelTimeout { generation } => {
                let idle = matches!(
                    &self.tech_ui,
                    Some(TechUi::Panel { generation: g, busy: None, .. }) if *g == generation
                );
                if idle {
                    tracing::warn!("service panel left alone: leaving service mode");
                    let now = self.clock.unix_ms();
                    let t = self.technician_at_work();
                    let detail = serde_json::json!({"idle_s": self.p.options.panel_idle.as_secs()});
                    j!(self.p.journal, |j| j.service_log(
                        &t,
                        "panel_timeout",
                        &detail,
                        now
                    ))?;
                    self.tech_action(TechAction::Exit).await?;
                }
                Ok(())
            }
            Answer::SignInTimeout { generation } => {
                if self.tech_ui == Some(TechUi::SignIn { generation }) {
                    tracing::info!("technician sign-in left alone: closed");
                    self.tech_close().await;
                }
                Ok(())
            }
            Answer::Paper {
                paper,
                txn,
                text,
                result,
            } => {
                let now = self.clock.unix_ms();
                let (printed, reason) = match &result {
                    PrintResult::Printed => (true, None),
                    PrintResult::NotPrinted { reason } => (false, Some(reason.clone())),
                };
                j!(self.p.journal, |j| j.paper_done(
                    paper,
                    printed,
                    reason.as_deref(),
                    now
                ))?;
                self.note(Note::Printed {
                    txn: Some(txn),
                    text,
                    result,
                });
                Ok(())
            }
            Answer::Retried(r) => {
                self.retrying = false;
                match r {
                    Ok(settled) => {
                        if settled > 0 {
                            tracing::info!(settled, "pending credits settled with the operator");
                        }
                        self.note(Note::Retried { settled });
                    }
                    Err(e) => tracing::warn!(error = %e, "retrying pending credits failed"),
                }
                Ok(())
            }
            Answer::Uploaded(r) => {
                self.uploading = false;
                match r {
                    Ok(acked) => self.note(Note::Uploaded { acked_seq: acked }),
                    Err(e) => tracing::debug!(error = %e, "upload not done"),
                }
                Ok(())
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // The acceptor between sessions.

    async fn on_acceptor(&mut self, ev: AcceptorEvent) -> Result<(), Error> {
        if self.note_test.is_some() && self.session.is_none() {
            return self.note_test_event(ev).await;
        }
        let takes = self.session.as_ref().is_some_and(|s| s.flow.takes_notes());
        match ev {
            AcceptorEvent::Credit { fen } if !takes => {
                self.stray_note(fen, NoteSource::Credit).await
            }
            AcceptorEvent::PowerUpNoteInCashbox { fen } if !takes => {
                let fen = match fen {
                    Some(f) => Some(f),
                    None => j!(self.p.journal, |j| j.note_in_flight())?.map(|(_, f)| f),
                };
                match fen {
                    Some(fen) => self.stray_note(fen, NoteSource::PowerUp).await,
                    None => {
                        tracing::error!(
                            "a note of unknown value went into the cash box: staff must count it"
                        );
                        Ok(())
                    }
                }
            }
            AcceptorEvent::Escrow { .. }
                if !self.session.as_ref().is_some_and(|s| s.flow.wants_cash()) =>
            {
                tracing::warn!("a note in escrow while no session takes notes: handed back");
                if let Some(b) = &self.p.bill {
                    b.0.command(AcceptorCmd::Return).await;
                    b.0.command(AcceptorCmd::Disable).await;
                }
                Ok(())
            }
            AcceptorEvent::DeviceLost { reason } => match &self.session {
                Some(s) => {
                    let epoch = s.epoch;
                    self.feed(epoch, Input::AcceptorDown { cause: reason })
                        .await
                }
                None => Ok(()),
            },
            other => match &self.session {
                Some(s) => {
                    let epoch = s.epoch;
                    self.feed(epoch, Input::Acceptor(other)).await
                }
                None => Ok(()),
            },
        }
    }

    /// A note that became money with no session to take it: journaled on a transaction of
    /// its own and put on a refund voucher, printed at once.
    async fn stray_note(&mut self, fen: u64, source: NoteSource) -> Result<(), Error> {
        let now = self.clock.unix_ms();
        let likely = j!(self.p.journal, |j| j.note_in_flight())?;
        let why = match &likely {
            Some((t, _)) => format!("note credited after its session ended (likely {t})"),
            None => "note credited with no customer session".to_owned(),
        };
        tracing::warn!(fen, %why, "stray note: refund voucher");
        let reason = why.clone();
        let id = j!(self.p.journal, |j| j.orphan_note(
            recovery::to_i64(fen),
            source,
            &reason,
            now
        ))?;
        self.note(Note::StrayNote {
            txn: id.clone(),
            fen,
        });
        let paper = Paper::TopUp(TopUpReceipt {
            txn_id: id.clone(),
            number_masked: "-".into(),
            amount_fen: fen,
            outcome: Outcome::Voucher { reason: why },
            jammed: None,
        });
        let doc_json = serde_json::to_value(&paper).unwrap_or_default();
        let kind = paper.kind();
        let txn = id.clone();
        let paper_id = j!(self.p.journal, |j| j.paper_sent(&txn, kind, &doc_json, now))?;
        let doc = crate::receipts::render(&paper, &self.letterhead(), now);
        let text = doc.to_text();
        match &self.p.printer {
            Some(p) => {
                let p = p.clone();
                let tx = self.answers_tx.clone();
                tokio::spawn(async move {
                    let result = p.print(doc).await;
                    let _ = tx
                        .send(Answer::Paper {
                            paper: paper_id,
                            txn: id,
                            text,
                            result,
                        })
                        .await;
                });
            }
            None => {
                j!(self.p.journal, |j| j.paper_done(
                    paper_id,
                    false,
                    Some("no printer fitted"),
                    now
                ))?;
            }
        }
        self.cash_box_notes = self.count_cash_box().await?;
        Ok(())
    }

    // ------------------------------------------------------------------------------------
    // Service mode (a technician at a terminal: `telekiosk service …`).

    async fn on_service(&mut self, call: ServiceCall) -> Result<(), Error> {
        let ServiceCall { request, reply } = call;
        let now = self.clock.unix_ms();
        let refuse = |reply: oneshot::Sender<ServiceReply>, why: String| {
            tracing::info!(why, "service request refused");
            let _ = reply.send(ServiceReply::refused(why));
        };
        let technician_id = |t: &str| -> Result<String, String> {
            let t = t.trim();
            if t.is_empty()
                || t.chars().count() > 32
                || !t.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c))
            {
                return Err(
                    "a technician id is needed (--technician ID: letters, digits, - _ .; 32 at most)"
                        .into(),
                );
            }
            Ok(t.to_owned())
        };
        // Actions change the kiosk: only in service mode, never beside a customer.
        let needs_mode = !matches!(
            request,
            ServiceRequest::Status | ServiceRequest::Enter { .. } | ServiceRequest::Logs
        );
        if needs_mode && self.service_mode.is_none() {
            refuse(
                reply,
                "enter service mode first (telekiosk service enter --technician ID)".into(),
            );
            return Ok(());
        }
        match request {
            ServiceRequest::Status => {
                let status = self.service_status().await?;
                let _ = reply.send(ServiceReply::ok(status));
            }
            ServiceRequest::Enter { technician } => {
                let technician = match technician_id(&technician) {
                    Ok(t) => t,
                    Err(why) => {
                        refuse(reply, why);
                        return Ok(());
                    }
                };
                if let Some(m) = &self.service_mode {
                    let why = format!("already in service mode (technician {})", m.technician);
                    refuse(reply, why);
                } else if let Some((other, _)) = &self.entering {
                    let why = format!("technician {other} is already waiting to enter");
                    refuse(reply, why);
                } else if self.stopping {
                    refuse(reply, "the kiosk is stopping".into());
                } else if self.session.is_some() {
                    tracing::info!(
                        technician,
                        "service mode asked for: after the current customer"
                    );
                    let detail = serde_json::json!({"waiting_for": self.screen_name});
                    let t = technician.clone();
                    j!(self.p.journal, |j| j.service_log(
                        &t,
                        "enter_wait",
                        &detail,
                        now
                    ))?;
                    self.entering = Some((technician, reply));
                } else {
                    self.enter_service(technician, reply).await?;
                }
            }
            ServiceRequest::Exit => {
                let Some(m) = self.service_mode.take() else {
                    return Ok(());
                };
                let detail = serde_json::json!({"minutes": (now - m.since) / 60_000});
                let t = m.technician.clone();
                j!(self.p.journal, |j| j.service_log(&t, "exit", &detail, now))?;
                self.refresh_status().await;
                tracing::info!(
                    technician = m.technician,
                    state = self.status.name(),
                    "service mode ended"
                );
                // Ended from a terminal while the screen shows the panel: the panel goes too.
                if matches!(self.tech_ui, Some(TechUi::Panel { .. })) {
                    self.tech_close().await;
                }
                let status = self.service_status().await?;
                let _ = reply.send(ServiceReply::ok(status));
            }
            ServiceRequest::Clearance {
                technician,
                emptied,
            } => {
                let technician = match technician_id(&technician) {
                    Ok(t) => t,
                    Err(why) => {
                        refuse(reply, why);
                        return Ok(());
                    }
                };
                if !emptied {
                    let cash = j!(self.p.journal, |j| j.cashbox())?;
                    let why = format!(
                        "empty the cash box first ({} expected by the journal), then confirm with --emptied",
                        crate::flow::yuan(u64::try_from(cash.total_fen).unwrap_or(0))
                    );
                    refuse(reply, why);
                    return Ok(());
                }
                let t = technician.clone();
                let (since, before) = j!(self.p.journal, |j| {
                    let since = j.last_clearance_at()?;
                    let before = j.clear_cashbox(&t, now)?;
                    // Value in fen → notes, as head office reads it.
                    let notes: serde_json::Map<String, serde_json::Value> = before
                        .notes
                        .iter()
                        .map(|(fen, n)| (fen.to_string(), (*n).into()))
                        .collect();
                    let detail = serde_json::json!({
                        "notes": notes,
                        "total_fen": before.total_fen,
                        "since": since,
                    });
                    j.service_log(&t, "clearance", &detail, now)?;
                    Ok::<_, crate::journal::Error>((since, before))
                })?;
                tracing::info!(
                    technician,
                    total_fen = before.total_fen,
                    "cash box cleared (清机)"
                );
                self.cash_box_notes = self.count_cash_box().await?;
                let slip = crate::receipts::ClearanceSlip {
                    technician,
                    since,
                    notes: before.notes,
                    total_fen: before.total_fen,
                };
                let paper = crate::receipts::clearance_slip(&slip, &self.letterhead(), now);
                let result = serde_json::to_value(&slip).unwrap_or_default();
                self.print_for_technician(paper, result, reply);
                // Head office sees the emptied box in the next heartbeat.
                self.heartbeat().await;
            }
            ServiceRequest::Restock {
                technician,
                added,
                bin_emptied,
            } => {
                let technician = match technician_id(&technician) {
                    Ok(t) => t,
                    Err(why) => {
                        refuse(reply, why);
                        return Ok(());
                    }
                };
                if added == 0 && !bin_emptied {
                    refuse(
                        reply,
                        "nothing to record: give the cards added (--added N) and/or --bin-emptied"
                            .into(),
                    );
                    return Ok(());
                }
                if added > MAX_RESTOCK {
                    refuse(
                        reply,
                        format!(
                            "{added} cards is more than a stacker holds ({MAX_RESTOCK} at most)"
                        ),
                    );
                    return Ok(());
                }
                let t = technician.clone();
                let (stock, bin) = j!(self.p.journal, |j| {
                    let bin = if bin_emptied {
                        let cards = j.cards_in_reject_bin()?;
                        j.card_movement(CardMovement::BinEmptied, None, Some(&t), now)?;
                        Some(cards)
                    } else {
                        None
                    };
                    let stock = if added > 0 {
                        j.card_movement(CardMovement::Restock(added), None, Some(&t), now)?
                    } else {
                        j.card_stock()?
                    };
                    let detail = serde_json::json!({
                        "added": added,
                        "stock": stock.in_stock,
                        "bin_emptied": bin.is_some(),
                        "captured": bin.iter().flatten().flatten().collect::<Vec<_>>(),
                    });
                    j.service_log(&t, "restock", &detail, now)?;
                    Ok::<_, crate::journal::Error>((stock, bin))
                })?;
                tracing::info!(
                    technician,
                    added,
                    in_stock = stock.in_stock,
                    "cards restocked (放卡维护)"
                );
                let slip = crate::receipts::RestockSlip {
                    technician,
                    added,
                    in_stock: stock.in_stock,
                    bin,
                };
                let paper = crate::receipts::restock_slip(&slip, &self.letterhead(), now);
                let result = serde_json::to_value(&slip).unwrap_or_default();
                self.refresh_status().await;
                self.print_for_technician(paper, result, reply);
                self.heartbeat().await;
            }
            ServiceRequest::TestReceipt => {
                let technician = self.technician_at_work();
                let t = technician.clone();
                j!(self.p.journal, |j| j.service_log(
                    &t,
                    "test_receipt",
                    &serde_json::Value::Null,
                    now
                ))?;
                let health = self.health_of(DeviceKind::ReceiptPrinter);
                let paper = receipt_printer::Receipt::new(receipt_printer::WIDTH_80MM)
                    .centre(self.applied.settings.receipt.shop.clone())
                    .title("打印测试页")
                    .centre("Test receipt")
                    .rule()
                    .kv("终端编号", self.p.kiosk_id.clone())
                    .kv("时间", crate::receipts::shop_time(now))
                    .kv(
                        "打印机",
                        health
                            .identity
                            .clone()
                            .unwrap_or_else(|| health.detail.clone()),
                    )
                    .kv("维护人员", technician)
                    .rule()
                    .line("中文、English、0123456789 ¥")
                    .qr(format!("TK1|test|{}|0", self.p.kiosk_id))
                    .cut();
                self.print_for_technician(
                    paper,
                    serde_json::json!({"printer": health.detail}),
                    reply,
                );
            }
            ServiceRequest::TestCamera => {
                let technician = self.technician_at_work();
                let camera = self
                    .p
                    .camera
                    .as_ref()
                    .and_then(|c| c.handle.borrow().clone());
                let journal = self.p.journal.clone();
                // A technician at the screen sees the picture; a terminal gets numbers only.
                let screen = matches!(self.tech_ui, Some(TechUi::Panel { .. }))
                    .then(|| self.p.screen.clone());
                tokio::spawn(async move {
                    let result = match camera {
                        None => serde_json::json!({"problem": "no camera is working"}),
                        Some(camera) => {
                            let info = camera.info().clone();
                            match camera.photo().await {
                                // The picture is dropped here: only its measurements go out
                                // (and, on the kiosk's screen, a small copy to look at).
                                Ok(photo) => {
                                    if let Some(screen) = &screen
                                        && let Some(p) = small_picture(&photo.jpeg)
                                    {
                                        let _ = screen.try_send(ScreenUpdate::CameraPreview(p));
                                    }
                                    serde_json::json!({
                                    "camera": info,
                                    "resolution": photo.resolution,
                                    "quality": photo.quality,
                                    "good": photo.quality.is_ok(),
                                    })
                                }
                                Err(e) => serde_json::json!({
                                    "camera": info,
                                    "problem": e.to_string(),
                                }),
                            }
                        }
                    };
                    let detail = serde_json::json!({
                        "passed": result["good"].as_bool() == Some(true),
                        "good": result["good"],
                        "issues": result["quality"]["issues"],
                        "problem": result["problem"],
                    });
                    log_self_test(&journal, technician, "test_camera", detail).await;
                    let _ = reply.send(ServiceReply::ok(result));
                });
            }
            ServiceRequest::Logs => {
                // The log as the kiosk keeps it in memory: masked at the source like every
                // log line (no number, name or ID in the clear).
                let lines = self.p.logs.lines(usize::MAX);
                let _ = reply.send(ServiceReply::ok(serde_json::json!({ "lines": lines })));
            }
            ServiceRequest::TestIdCard { wait_s } => {
                let technician = self.technician_at_work();
                let reader = self
                    .p
                    .id_reader
                    .as_ref()
                    .and_then(|r| r.handle.borrow().clone());
                let health = self.health_of(DeviceKind::IdCardReader);
                let journal = self.p.journal.clone();
                let wait = Duration::from_secs(u64::from(wait_s.clamp(1, 120)));
                tokio::spawn(async move {
                    let read = super::idcard::read(reader, wait).await;
                    // Only what a technician needs to see, masked; the card is dropped here.
                    let (outcome, result) = match read {
                        Ok(doc) => {
                            let (name, id) = doc.card.as_ref().map_or_else(
                                || ("-".to_owned(), "-".to_owned()),
                                |c| (c.name.masked(), c.id_number.masked()),
                            );
                            (
                                "read",
                                serde_json::json!({
                                    "kind": doc.kind,
                                    "name": name,
                                    "id_number": id,
                                    "expired": doc.expired,
                                    "check_digit_ok": doc.check_digit_ok,
                                    "photo_bytes": doc.photo.len(),
                                }),
                            )
                        }
                        Err(problem) => (
                            "not_read",
                            serde_json::json!({"problem": format!("{problem:?}")}),
                        ),
                    };
                    let detail =
                        serde_json::json!({"outcome": outcome, "passed": outcome == "read"});
                    log_self_test(&journal, technician, "test_id_card", detail).await;
                    let mut result = result;
                    if let Some(o) = result.as_object_mut() {
                        o.insert("reader".into(), serde_json::json!(health.identity));
                    }
                    let _ = reply.send(ServiceReply::ok(result));
                });
            }
            ServiceRequest::TestNote { wait_s } => {
                let technician = self.technician_at_work();
                let Some(bill) = &self.p.bill else {
                    let _ = reply.send(ServiceReply::ok(serde_json::json!({
                        "passed": false,
                        "summary": "no bill acceptor fitted",
                    })));
                    return Ok(());
                };
                if self.note_test.is_some() {
                    refuse(reply, "a note test is already waiting for a note".into());
                    return Ok(());
                }
                let values: Vec<u64> = bill
                    .0
                    .info
                    .borrow()
                    .as_ref()
                    .map(|i| i.denominations.iter().map(|d| d.fen).collect())
                    .unwrap_or_default();
                if values.is_empty() {
                    let health = self.health_of(DeviceKind::BillAcceptor);
                    let _ = reply.send(ServiceReply::ok(serde_json::json!({
                        "passed": false,
                        "summary": format!("the acceptor is not connected: {}", health.detail),
                    })));
                    return Ok(());
                }
                let t = technician.clone();
                let detail = serde_json::json!({"stage": "waiting", "wait_s": wait_s});
                j!(self.p.journal, |j| j.service_log(
                    &t,
                    "test_note",
                    &detail,
                    now
                ))?;
                bill.0
                    .command(AcceptorCmd::Enable { accept_fen: values })
                    .await;
                self.tech_generation += 1;
                let generation = self.tech_generation;
                let answers = self.answers_tx.clone();
                let wait = Duration::from_secs(u64::from(wait_s.clamp(5, 120)));
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = answers.send(Answer::NoteTestTimeout { generation }).await;
                });
                tracing::info!(technician, "note self-test: waiting for a note");
                self.note_test = Some(NoteTest {
                    technician,
                    generation,
                    reply,
                    escrowed: None,
                });
            }
            ServiceRequest::TestCard => {
                let technician = self.technician_at_work();
                let dispenser = self
                    .p
                    .dispenser
                    .as_ref()
                    .and_then(|d| d.handle.borrow().clone());
                let journal = self.p.journal.clone();
                let t = technician.clone();
                let detail = serde_json::json!({"stage": "started"});
                j!(self.p.journal, |j| j.service_log(
                    &t,
                    "test_card",
                    &detail,
                    now
                ))?;
                tokio::spawn(async move {
                    let result = test_card(dispenser, &journal, &technician).await;
                    let detail = serde_json::json!({
                        "passed": result["passed"],
                        "iccid": result["iccid"],
                        "moved_to_bin": result["moved_to_bin"],
                    });
                    log_self_test(&journal, technician, "test_card", detail).await;
                    let _ = reply.send(ServiceReply::ok(result));
                });
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------
    // Self-test of the note acceptor: accept into escrow, hand back.

    async fn note_test_event(&mut self, ev: AcceptorEvent) -> Result<(), Error> {
        match ev {
            AcceptorEvent::Escrow { fen } => {
                tracing::info!(fen, "note self-test: note in escrow, handing it back");
                if let Some(t) = self.note_test.as_mut() {
                    t.escrowed = Some(fen);
                }
                if let Some(b) = &self.p.bill {
                    b.0.command(AcceptorCmd::Return).await;
                }
                Ok(())
            }
            AcceptorEvent::Returned { .. } => {
                let fen = self.note_test.as_ref().and_then(|t| t.escrowed);
                match fen {
                    Some(fen) => {
                        let summary = format!(
                            "纸币 {} 已识别并退回 note read ({}) and handed back: the acceptor works",
                            crate::flow::yuan(fen),
                            crate::flow::yuan(fen)
                        );
                        self.note_test_done(true, summary).await
                    }
                    None => {
                        self.note_test_done(
                            false,
                            "a note came back before it was read: try again with a flat note"
                                .into(),
                        )
                        .await
                    }
                }
            }
            AcceptorEvent::Rejected { reason } => {
                let why = reason.map_or_else(|| "no reason given".to_owned(), |r| format!("{r:?}"));
                self.note_test_done(
                    false,
                    format!("the acceptor refused the note ({why}): try another note, or clean the sensors"),
                )
                .await
            }
            AcceptorEvent::Jam { safe } => {
                self.note_test_done(
                    false,
                    format!(
                        "note jammed ({}): open the acceptor and clear it",
                        if safe {
                            "inside"
                        } else {
                            "reachable from the front"
                        }
                    ),
                )
                .await
            }
            AcceptorEvent::Credit { fen } => {
                // Never meant to happen (the note was handed back): it is money now, on a
                // voucher like any stray note, and the test says so.
                self.note_test_done(
                    false,
                    format!(
                        "the acceptor KEPT the note ({}) instead of handing it back: a voucher is printed; check the escrow",
                        crate::flow::yuan(fen)
                    ),
                )
                .await?;
                self.stray_note(fen, NoteSource::Credit).await
            }
            AcceptorEvent::DeviceLost { reason } => {
                self.note_test_done(false, format!("the acceptor stopped answering: {reason}"))
                    .await
            }
            other => {
                tracing::debug!(?other, "note self-test: acceptor event");
                Ok(())
            }
        }
    }

    /// Ends the note self-test: the acceptor off, the outcome journaled and answered.
    async fn note_test_done(&mut self, passed: bool, summary: String) -> Result<(), Error> {
        let Some(test) = self.note_test.take() else {
            return Ok(());
        };
        if let Some(b) = &self.p.bill {
            if test.escrowed.is_none() || !passed {
                // A note half-read when time ran out goes back too.
                b.0.command(AcceptorCmd::Return).await;
            }
            b.0.command(AcceptorCmd::Disable).await;
        }
        let now = self.clock.unix_ms();
        let detail = serde_json::json!({
            "passed": passed,
            "value_fen": test.escrowed,
        });
        let t = test.technician.clone();
        j!(self.p.journal, |j| j.service_log(
            &t,
            "test_note",
            &detail,
            now
        ))?;
        tracing::info!(passed, "note self-test done");
        let _ = test.reply.send(ServiceReply::ok(serde_json::json!({
            "passed": passed,
            "summary": summary,
            "value_fen": test.escrowed,
        })));
        Ok(())
    }

    // ------------------------------------------------------------------------------------
    // Service mode on the kiosk's screen: sign-in with the PIN pad, the panel, actions.

    async fn tech_open(&mut self) -> Result<(), Error> {
        if matches!(self.tech_ui, Some(TechUi::Panel { .. })) {
            return self.show_panel().await;
        }
        let now = self.clock.unix_ms();
        let ids: Vec<String> = self
            .applied
            .settings
            .technicians
            .iter()
            .map(|t| t.id.clone())
            .collect();
        // Between customers only (the entry is not on a customer's screens).
        if self.session.is_some() {
            tracing::info!("technician entry while a customer is served: not now");
            return Ok(());
        }
        let notice = if ids.is_empty() {
            Some(SignInNotice::NoTechnicians)
        } else {
            self.pin_gate
                .locked_for(now)
                .map(|seconds| SignInNotice::Locked { seconds })
        };
        tracing::info!("technician sign-in on the screen");
        self.tech_generation += 1;
        let generation = self.tech_generation;
        self.tech_ui = Some(TechUi::SignIn { generation });
        self.arm_sign_in_timeout(generation);
        self.show(ScreenUpdate::Technician(TechScreen::SignIn { ids, notice }))
            .await;
        Ok(())
    }

    fn arm_sign_in_timeout(&self, generation: u64) {
        let answers = self.answers_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SIGN_IN_IDLE).await;
            let _ = answers.send(Answer::SignInTimeout { generation }).await;
        });
    }

    async fn tech_sign_in(&mut self, id: &str, pin: super::screen::Pin) -> Result<(), Error> {
        if !matches!(self.tech_ui, Some(TechUi::SignIn { .. })) {
            return Ok(());
        }
        let now = self.clock.unix_ms();
        // What was typed goes to the journal only as a plausible id, never as anything else.
        let typed: String = id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(16)
            .collect();
        let ids: Vec<String> = self
            .applied
            .settings
            .technicians
            .iter()
            .map(|t| t.id.clone())
            .collect();
        let show = |notice| {
            ScreenUpdate::Technician(TechScreen::SignIn {
                ids: ids.clone(),
                notice: Some(notice),
            })
        };
        if let Some(seconds) = self.pin_gate.locked_for(now) {
            self.show(show(SignInNotice::Locked { seconds })).await;
            return Ok(());
        }
        let hash = self
            .applied
            .settings
            .technicians
            .iter()
            .find(|t| t.id == typed)
            .map(|t| t.pin_hash.clone());
        let ok =
            tokio::task::spawn_blocking(move || technician::verify(hash.as_deref(), pin.expose()))
                .await
                .unwrap_or(false);
        if !ok {
            let failure = self.pin_gate.fail(now);
            let t = typed.clone();
            let notice = j!(self.p.journal, |j| {
                Ok::<_, crate::journal::Error>(match failure {
                    Failure::TryAgain { failures, left } => {
                        j.service_log(
                            &t,
                            "login_failed",
                            &serde_json::json!({"failures": failures}),
                            now,
                        )?;
                        SignInNotice::WrongPin { left }
                    }
                    Failure::Locked { failures, until } => {
                        j.service_log(
                            &t,
                            "login_failed",
                            &serde_json::json!({"failures": failures}),
                            now,
                        )?;
                        j.service_log(
                            &t,
                            "login_locked",
                            &serde_json::json!({"failures": failures, "until_ms": until}),
                            now,
                        )?;
                        SignInNotice::Locked {
                            seconds: self_locked_seconds(until, now),
                        }
                    }
                })
            })?;
            if matches!(notice, SignInNotice::Locked { .. }) {
                tracing::warn!(
                    technician = typed,
                    "wrong PINs: the technician pad is locked"
                );
            } else {
                tracing::info!(technician = typed, "wrong technician id or PIN");
            }
            self.show(show(notice)).await;
            return Ok(());
        }
        self.pin_gate.succeed();
        let t = typed.clone();
        j!(self.p.journal, |j| j.service_log(
            &t,
            "login",
            &serde_json::Value::Null,
            now
        ))?;
        tracing::info!(technician = typed, "technician signed in on the screen");
        if self.session.is_some() || self.entering.is_some() {
            self.show(show(SignInNotice::CustomerPresent)).await;
            return Ok(());
        }
        if self.stopping {
            self.show(show(SignInNotice::Refused("the kiosk is stopping".into())))
                .await;
            return Ok(());
        }
        if self.service_mode.is_none() {
            // The same entry as a terminal's; its answer is the panel below.
            let (tx, _rx) = oneshot::channel();
            self.enter_service(typed.clone(), tx).await?;
        }
        let generation = self.arm_panel_timeout();
        self.tech_ui = Some(TechUi::Panel {
            technician: typed,
            busy: None,
            last: None,
            generation,
        });
        self.show_panel().await
    }

    /// Starts (again) the panel's idle timer; returns its generation.
    fn arm_panel_timeout(&mut self) -> u64 {
        self.tech_generation += 1;
        let generation = self.tech_generation;
        let answers = self.answers_tx.clone();
        let idle = self.p.options.panel_idle;
        tokio::spawn(async move {
            tokio::time::sleep(idle).await;
            let _ = answers.send(Answer::PanelTimeout { generation }).await;
        });
        generation
    }

    async fn tech_action(&mut self, action: TechAction) -> Result<(), Error> {
        let technician = match &self.tech_ui {
            Some(TechUi::Panel {
                technician, busy, ..
            }) => {
                if busy.is_some() && !matches!(action, TechAction::Refresh) {
                    tracing::info!(?action, "a technician's action while another runs: ignored");
                    return Ok(());
                }
                technician.clone()
            }
            Some(TechUi::SignIn { .. }) => {
                if action == TechAction::Cancel {
                    self.tech_close().await;
                }
                return Ok(());
            }
            None => return Ok(()),
        };
        let (name, request): (&'static str, ServiceRequest) = match action {
            TechAction::Cancel | TechAction::Refresh => return self.show_panel().await,
            TechAction::TestReceipt => ("test_receipt", ServiceRequest::TestReceipt),
            TechAction::TestNote => ("test_note", ServiceRequest::TestNote { wait_s: 30 }),
            TechAction::TestCard => ("test_card", ServiceRequest::TestCard),
            TechAction::TestIdCard => ("test_id_card", ServiceRequest::TestIdCard { wait_s: 30 }),
            TechAction::TestCamera => ("test_camera", ServiceRequest::TestCamera),
            TechAction::Clearance => (
                "clearance",
                ServiceRequest::Clearance {
                    technician,
                    emptied: true,
                },
            ),
            TechAction::Restock { added, bin_emptied } => (
                "restock",
                ServiceRequest::Restock {
                    technician,
                    added,
                    bin_emptied,
                },
            ),
            TechAction::Exit => ("exit", ServiceRequest::Exit),
        };
        let renewed = self.arm_panel_timeout();
        if let Some(TechUi::Panel {
            busy, generation, ..
        }) = self.tech_ui.as_mut()
        {
            *busy = Some(name.to_owned());
            *generation = renewed;
        }
        self.show_panel().await?;
        let (tx, rx) = oneshot::channel();
        self.on_service(ServiceCall { request, reply: tx }).await?;
        let answers = self.answers_tx.clone();
        tokio::spawn(async move {
            let reply = rx.await.unwrap_or_else(|_| {
                ServiceReply::refused(String::from("the kiosk gave no answer"))
            });
            let _ = answers
                .send(Answer::Technician {
                    action: name,
                    reply,
                })
                .await;
        });
        Ok(())
    }

    async fn tech_answered(
        &mut self,
        action: &'static str,
        reply: ServiceReply,
    ) -> Result<(), Error> {
        let (ok, text) = technician::outcome_text(action, &reply);
        // Service mode is over (this exit, or one from a terminal meanwhile): nothing to
        // keep the panel for.
        // (Only a panel: a sign-in opened since is someone's new visit.)
        if action == "exit" && (reply.ok || self.service_mode.is_none()) {
            if matches!(self.tech_ui, Some(TechUi::Panel { .. })) {
                self.tech_close().await;
            }
            return Ok(());
        }
        match self.tech_ui.as_mut() {
            Some(TechUi::Panel { busy, last, .. }) => {
                *busy = None;
                *last = Some(TechOutcome {
                    action: action.to_owned(),
                    ok,
                    text,
                });
            }
            _ => return Ok(()),
        }
        self.show_panel().await
    }

    /// The panel, with the status as a terminal would get it.
    async fn show_panel(&mut self) -> Result<(), Error> {
        let Some(TechUi::Panel {
            technician,
            busy,
            last,
            ..
        }) = self.tech_ui.clone()
        else {
            return Ok(());
        };
        let status = self.service_status().await?;
        let mut panel = technician::panel(&status, &technician);
        panel.busy = busy;
        panel.last = last;
        self.show(ScreenUpdate::Technician(TechScreen::Panel(Box::new(panel))))
            .await;
        Ok(())
    }

    /// Back to what customers see (the kiosk's state shown again).
    async fn tech_close(&mut self) {
        self.tech_ui = None;
        self.show(ScreenUpdate::Technician(TechScreen::Closed))
            .await;
        self.show(ScreenUpdate::Status(self.status.clone())).await;
    }

    /// The technician in service mode ("" outside it).
    fn technician_at_work(&self) -> String {
        self.service_mode
            .as_ref()
            .map(|m| m.technician.clone())
            .unwrap_or_default()
    }

    /// Service mode begins: customers see "being serviced" until the technician leaves.
    async fn enter_service(
        &mut self,
        technician: String,
        reply: oneshot::Sender<ServiceReply>,
    ) -> Result<(), Error> {
        let now = self.clock.unix_ms();
        let t = technician.clone();
        j!(self.p.journal, |j| j.service_log(
            &t,
            "enter",
            &serde_json::Value::Null,
            now
        ))?;
        tracing::info!(technician, "service mode");
        self.service_mode = Some(ServiceMode {
            technician,
            since: now,
        });
        self.refresh_status().await;
        let status = self.service_status().await?;
        let _ = reply.send(ServiceReply::ok(status));
        Ok(())
    }

    /// Prints a technician's paper, then answers with `result` and whether it printed.
    fn print_for_technician(
        &self,
        paper: receipt_printer::Receipt,
        mut result: serde_json::Value,
        reply: oneshot::Sender<ServiceReply>,
    ) {
        let printer = self.p.printer.clone();
        tokio::spawn(async move {
            let printed = match printer {
                Some(p) => p.print(paper).await,
                None => PrintResult::NotPrinted {
                    reason: "no printer fitted".into(),
                },
            };
            if let Some(o) = result.as_object_mut() {
                o.insert(
                    "slip".into(),
                    match printed {
                        PrintResult::Printed => serde_json::json!("printed"),
                        PrintResult::NotPrinted { reason } => {
                            serde_json::json!(format!("not printed: {reason}"))
                        }
                    },
                );
            }
            let _ = reply.send(ServiceReply::ok(result));
        });
    }

    /// The kiosk as a technician sees it.
    async fn service_status(&self) -> Result<serde_json::Value, Error> {
        let (cash, cards, log, counters) = j!(self.p.journal, |j| {
            Ok::<_, crate::journal::Error>((
                j.cashbox()?,
                j.card_stock()?,
                j.service_entries(10)?,
                j.counters()?,
            ))
        })?;
        let devices: Vec<Health> = DeviceKind::ALL
            .into_iter()
            .map(|k| self.health_of(k))
            .collect();
        let problems: Vec<String> = match &self.status {
            KioskStatus::OutOfService { problems } => {
                problems.iter().map(|p| p.technician.clone()).collect()
            }
            _ => Vec::new(),
        };
        let link = self
            .p
            .client
            .as_ref()
            .map(|c| format!("{:?}", *c.link_state().borrow()));
        Ok(serde_json::json!({
            "kiosk": self.p.kiosk_id,
            "version": env!("CARGO_PKG_VERSION"),
            "state": self.status.name(),
            "problems": problems,
            "service_mode": self.service_mode,
            "waiting_to_enter": self.entering.as_ref().map(|(t, _)| t),
            "customer": self.session.as_ref().map(|_| self.screen_name.clone()),
            "locked": self.lock.as_ref().map(|l| l.reason.clone()),
            "config_version": self.applied.version,
            "link": {"up": self.link_up(), "state": link},
            "devices": devices,
            "cash_box": cash,
            "cards": cards,
            "counters": counters,
            "recent_errors": self.p.logs.errors(),
            "service_log": log,
        }))
    }

    // ------------------------------------------------------------------------------------
    // Head office.

    async fn on_push(&mut self, delivery: PushDelivery) -> Result<(), Error> {
        let push = delivery.push.clone();
        let op = push.op().to_owned();
        let from_hello = delivery.is_from_hello();
        let busy = self.session.is_some();
        let (outcome, message, diagnostics) = match &push {
            Push::ConfigBundle(b) => {
                match headoffice::check_bundle(
                    self.p.verifying_key.as_ref(),
                    &self.applied,
                    self.stored.as_ref(),
                    b.version,
                    &b.config,
                    b.signature.as_deref(),
                ) {
                    Err(refusal) => {
                        tracing::warn!(version = b.version, error = %refusal, "configuration bundle rejected");
                        (AckOutcome::Rejected, Some(refusal.to_string()), None)
                    }
                    Ok(BundleVerdict::AlreadyApplied) => {
                        (AckOutcome::Applied, Some("already applied".into()), None)
                    }
                    Ok(BundleVerdict::Apply(..)) if busy => {
                        self.deferred.push(push.clone());
                        (
                            AckOutcome::Deferred,
                            Some("applied when the current customer is done".into()),
                            None,
                        )
                    }
                    Ok(BundleVerdict::Apply(applied, stored)) => {
                        self.apply_bundle(applied, stored).await?;
                        (AckOutcome::Applied, None, None)
                    }
                }
            }
            Push::Lock(l) => {
                // Kept at once, so a restart mid-session still comes back locked.
                let lock = LockState {
                    reason: l.reason.clone(),
                    message: l.message.clone(),
                };
                self.persist_lock(Some(&lock)).await?;
                if busy {
                    self.deferred.push(push.clone());
                    (
                        AckOutcome::Deferred,
                        Some("locks when the current customer is done".into()),
                        None,
                    )
                } else {
                    self.lock = Some(lock);
                    self.refresh_status().await;
                    (AckOutcome::Applied, None, None)
                }
            }
            Push::Unlock(_) => {
                self.persist_lock(None).await?;
                self.deferred.retain(|p| !matches!(p, Push::Lock(_)));
                self.lock = None;
                self.refresh_status().await;
                (AckOutcome::Applied, None, None)
            }
            Push::DiagnosticsRequest(d) => {
                let report = self.diagnostics(&d.items).await?;
                (AckOutcome::Applied, None, Some(report))
            }
            _ => (AckOutcome::Rejected, Some("unknown push".into()), None),
        };
        tracing::info!(op, ?outcome, ?message, from_hello, "push from head office");
        self.note(Note::Push {
            op,
            outcome,
            message: message.clone(),
        });
        delivery.ack_with(outcome, message, diagnostics);
        Ok(())
    }

    /// A push that waited for the customer to finish.
    async fn apply_push(&mut self, push: Push) -> Result<(), Error> {
        match push {
            Push::ConfigBundle(b) => {
                if let Ok(BundleVerdict::Apply(applied, stored)) = headoffice::check_bundle(
                    self.p.verifying_key.as_ref(),
                    &self.applied,
                    self.stored.as_ref(),
                    b.version,
                    &b.config,
                    b.signature.as_deref(),
                ) {
                    self.apply_bundle(applied, stored).await?;
                }
            }
            Push::Lock(l) => {
                self.lock = Some(LockState {
                    reason: l.reason,
                    message: l.message,
                });
                tracing::warn!("locked by head office (after the customer finished)");
            }
            _ => {}
        }
        Ok(())
    }

    async fn apply_bundle(&mut self, applied: Applied, stored: StoredBundle) -> Result<(), Error> {
        let value = serde_json::to_value(&stored).unwrap_or_default();
        let now = self.clock.unix_ms();
        j!(self.p.journal, |j| j.set_kiosk_state(
            "config",
            Some(&value),
            now
        ))?;
        tracing::info!(
            from = self.applied.version,
            to = applied.version,
            "configuration applied"
        );
        self.applied = applied;
        self.stored = Some(stored);
        self.publish_hello_state().await;
        self.show(ScreenUpdate::Branding(Branding::from_settings(
            &self.applied.settings,
        )))
        .await;
        self.refresh_status().await;
        Ok(())
    }

    async fn persist_lock(&mut self, lock: Option<&LockState>) -> Result<(), Error> {
        let value = lock.map(|l| serde_json::to_value(l).unwrap_or_default());
        let now = self.clock.unix_ms();
        j!(self.p.journal, |j| j.set_kiosk_state(
            "lock",
            value.as_ref(),
            now
        ))?;
        Ok(())
    }

    /// Diagnostics for head office: devices, counters, errors, versions, log tail. No
    /// personal data (the journal's counters are counts; the log never holds any).
    async fn diagnostics(&self, items: &[String]) -> Result<serde_json::Value, Error> {
        let want = |k: &str| items.is_empty() || items.iter().any(|i| i == k);
        let mut out = serde_json::Map::new();
        out.insert("kiosk_id".into(), self.p.kiosk_id.clone().into());
        out.insert("state".into(), self.status.name().into());
        if want("devices") {
            let devices: Vec<_> = DeviceKind::ALL
                .into_iter()
                .map(|k| serde_json::to_value(self.health_of(k)).unwrap_or_default())
                .collect();
            out.insert("devices".into(), devices.into());
            out.insert(
                "link".into(),
                self.p
                    .client
                    .as_ref()
                    .map(|c| format!("{:?}", *c.link_state().borrow()))
                    .unwrap_or_else(|| "none".into())
                    .into(),
            );
        }
        if want("counters") {
            let counters = j!(self.p.journal, |j| counters(j))?;
            out.insert("counters".into(), counters);
        }
        if want("errors") {
            out.insert(
                "errors".into(),
                serde_json::to_value(self.p.logs.errors()).unwrap_or_default(),
            );
        }
        if want("versions") {
            out.insert(
                "versions".into(),
                serde_json::json!({
                    "software": self.p.options.software,
                    "config_version": self.applied.version,
                    "protocol": boss_protocol::PROTOCOL_VERSION,
                }),
            );
        }
        if want("log_tail") {
            out.insert("log_tail".into(), self.p.logs.lines(50).into());
        }
        Ok(serde_json::Value::Object(out))
    }

    async fn heartbeat(&mut self) {
        let Some(client) = self.p.client.clone() else {
            return;
        };
        let (cash, cards) = match self.p.journal.run(|j| (j.cashbox(), j.card_stock())).await {
            Ok((Ok(c), Ok(k))) => (c, k),
            _ => return,
        };
        let devices = DeviceKind::ALL
            .into_iter()
            .map(|k| self.health_of(k))
            .filter(|h| h.state != HealthState::NotFitted)
            .map(|h| boss_protocol::DeviceHealth {
                device: wire_device(h.device),
                state: match h.state {
                    HealthState::Ok => boss_protocol::DeviceState::Ok,
                    HealthState::Warning => boss_protocol::DeviceState::Warning,
                    HealthState::Fault => boss_protocol::DeviceState::Fault,
                    _ => boss_protocol::DeviceState::Offline,
                },
                condition: h.condition,
            })
            .collect();
        let last_error = self
            .p
            .logs
            .errors()
            .pop()
            .map(|e| boss_protocol::LastError {
                at_ms: e.at_ms,
                device: None,
                code: e.target,
                message: e.message.chars().take(200).collect(),
            });
        let state_detail = match &self.status {
            KioskStatus::OutOfService { problems } => Some(
                problems
                    .iter()
                    .map(|p| p.technician.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            KioskStatus::Locked { .. } => self.lock.as_ref().map(|l| l.reason.clone()),
            _ => None,
        };
        let hb = boss_protocol::Heartbeat {
            kiosk_time_ms: self.clock.unix_ms(),
            devices,
            cash_box: boss_protocol::CashBox {
                notes: cash
                    .notes
                    .iter()
                    .map(|(fen, n)| boss_protocol::NoteCount {
                        denomination_fen: u64::try_from(*fen).unwrap_or(0),
                        count: u32::try_from(*n).unwrap_or(u32::MAX),
                    })
                    .collect(),
                total_fen: u64::try_from(cash.total_fen).unwrap_or(0),
                capacity_notes: u32::try_from(self.applied.settings.cash.capacity_notes).ok(),
            },
            card_stock: boss_protocol::CardStock {
                blank_sims: u32::try_from(cards.in_stock.max(0)).unwrap_or(0),
                reject_bin: u32::try_from(cards.in_reject_bin.max(0)).unwrap_or(0),
            },
            screen: self.screen_name.clone(),
            last_error,
            software: Some(self.p.options.software.clone()),
            config_version: Some(self.applied.version),
            kiosk_state: Some(self.status.name().to_owned()),
            state_detail,
        };
        client.set_heartbeat(hb).await;
    }

    fn retry_pending(&mut self) {
        if self.retrying || !self.link_up() {
            return;
        }
        self.retrying = true;
        let journal = self.p.journal.clone();
        let operator = Arc::clone(&self.p.operator);
        let clock = self.clock;
        let tx = self.answers_tx.clone();
        tokio::spawn(async move {
            let r = recovery::retry_pending(&journal, &*operator, &clock)
                .await
                .map_err(|e| e.to_string());
            let _ = tx.send(Answer::Retried(r)).await;
        });
    }

    /// Uploads settled transactions (流水上传) above the cursor, 500 at a time.
    fn upload(&mut self) {
        if self.uploading || !self.link_up() || self.p.client.is_none() {
            return;
        }
        self.uploading = true;
        let journal = self.p.journal.clone();
        let operator = Arc::clone(&self.p.operator);
        let server_acked = self
            .p
            .client
            .as_ref()
            .and_then(|c| c.upload_status().borrow().acked_seq);
        let tx = self.answers_tx.clone();
        tokio::spawn(async move {
            let r = upload_once(&journal, &*operator, server_acked).await;
            let _ = tx.send(Answer::Uploaded(r)).await;
        });
    }

    async fn begin_stop(&mut self) -> Result<(), Error> {
        tracing::info!("stopping: no new customers; the current one is finished first");
        self.stopping = true;
        self.sd.status("stopping");
        self.stop_deadline = Some(tokio::time::Instant::now() + self.p.options.stop_grace);
        self.refresh_status().await;
        if let Some(s) = self.session.as_mut()
            && !s.stopping
        {
            s.stopping = true;
            let epoch = s.epoch;
            self.feed(epoch, Input::Shutdown).await?;
        } else if let Some(b) = &self.p.bill {
            b.0.command(AcceptorCmd::Disable).await;
        }
        Ok(())
    }
}

/// The journal's counters for diagnostics (counts only, nothing personal).
fn counters(j: &mut crate::journal::Journal) -> Result<serde_json::Value, crate::journal::Error> {
    let check = j.check(true)?;
    let cashbox = j.cashbox()?;
    let cards = j.card_stock()?;
    Ok(serde_json::json!({
        "transactions": check.transactions,
        "notes": check.notes,
        "cash_box": {"total_fen": cashbox.total_fen, "notes": cashbox.notes},
        "cards": cards,
        "journal_commits": j.commits(),
        "journal_violations": check.violations.len(),
        "upload_acked_seq": j.upload_acked()?,
        "upload_last_seq": j.upload_last()?,
    }))
}

async fn upload_once(
    journal: &JournalHandle,
    operator: &dyn Operator,
    server_acked: Option<u64>,
) -> Result<i64, String> {
    let local = journal
        .run(|j| j.upload_acked())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    // Head office may have lost entries (it says what it holds in the hello): resend those.
    let from = server_acked.map_or(local, |s| i64::try_from(s).unwrap_or(local).min(local));
    let batch = journal
        .run(move |j| j.uploads_after(from, 500))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    if batch.is_empty() {
        return Ok(local);
    }
    let entries: Vec<JournalEntry> = batch
        .iter()
        .filter_map(|r| {
            let mut v = r.entry.clone();
            v["seq"] = serde_json::json!(r.seq);
            serde_json::from_value(v).ok()
        })
        .collect();
    let req = Request::JournalUpload(JournalUpload { entries });
    match operator.call(req, None).await {
        Ok(Response::JournalUpload(ok)) => {
            let acked = i64::try_from(ok.acked_seq).unwrap_or(0);
            journal
                .run(move |j| j.set_upload_acked(acked))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            Ok(acked)
        }
        Ok(other) => Err(format!("unexpected answer {}", other.op())),
        Err(e) => Err(e.cause()),
    }
}

/// A card command's name for crash points and logs.
fn card_cmd_name(cmd: &crate::flow::devices::CardCmd) -> &'static str {
    use crate::flow::devices::CardCmd;
    match cmd {
        CardCmd::ToIc => "to_ic",
        CardCmd::ReadIccid => "read_iccid",
        CardCmd::Write { .. } => "write",
        CardCmd::Present { .. } => "present",
        CardCmd::Capture => "capture",
    }
}

/// What a printer's health says of its paper.
fn paper_level(h: &Health) -> PaperLevel {
    match (h.state, h.condition.as_deref()) {
        (HealthState::Ok, _) => PaperLevel::Ok,
        (HealthState::Warning, Some("paper_low")) => PaperLevel::Low,
        (HealthState::Warning, _) => PaperLevel::Ok,
        (HealthState::Fault, Some("paper_out")) => PaperLevel::Out,
        _ => PaperLevel::Unavailable,
    }
}

fn wire_device(k: DeviceKind) -> boss_protocol::DeviceKind {
    match k {
        DeviceKind::IdCardReader => boss_protocol::DeviceKind::IdCardReader,
        DeviceKind::Camera => boss_protocol::DeviceKind::Camera,
        DeviceKind::BillAcceptor => boss_protocol::DeviceKind::BillAcceptor,
        DeviceKind::CardDispenser => boss_protocol::DeviceKind::CardDispenser,
        DeviceKind::ReceiptPrinter => boss_protocol::DeviceKind::ReceiptPrinter,
    }
}

/// A camera photo at most 320 pixels wide for the technician's panel (`None`: not a JPEG
/// that decodes). The decoded picture is wiped once the copy is made.
fn small_picture(jpeg: &[u8]) -> Option<super::screen::Preview> {
    let decoded = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg).ok()?;
    let mut rgb = decoded.to_rgb8();
    drop(decoded);
    let (w, h) = rgb.dimensions();
    let width = w.min(320);
    let height = (u64::from(h) * u64::from(width) / u64::from(w.max(1))).max(1);
    let height = u32::try_from(height).unwrap_or(240);
    let small = image::imageops::thumbnail(&rgb, width, height);
    zeroize::Zeroize::zeroize(&mut *rgb);
    Some(super::screen::Preview {
        width,
        height,
        rgb: small.into_raw(),
    })
}

fn self_locked_seconds(until: i64, now: i64) -> u64 {
    (until - now).max(0).unsigned_abs().div_ceil(1000)
}

/// One blank card from the stacker to the IC contacts (its ICCID read: the contacts
/// work), then into the reject bin, journaled as a card the technician moved there.
async fn test_card(
    dispenser: Option<card_dispenser::DispenserHandle>,
    journal: &JournalHandle,
    technician: &str,
) -> serde_json::Value {
    use crate::flow::devices::{CardAnswer, CardCmd};
    // The flows' own steps: to the contacts, powered and read, into the reject bin.
    if let Err(e) = super::cards::run(dispenser.clone(), CardCmd::ToIc).await {
        return serde_json::json!({
            "passed": false,
            "moved_to_bin": false,
            "summary": format!("no card came to the IC contacts: {e:?} — check the stock and the feed"),
        });
    }
    let iccid = match super::cards::run(dispenser.clone(), CardCmd::ReadIccid).await {
        Ok(CardAnswer::Iccid(i)) => Ok(i),
        Ok(other) => Err(format!("{other:?}")),
        Err(e) => Err(format!("{e:?}")),
    };
    let captured = super::cards::run(dispenser, CardCmd::Capture).await;
    let now = Clock::default().unix_ms();
    let by = technician.to_owned();
    let moved = captured.is_ok();
    if moved {
        let recorded = journal
            .run(move |j| j.card_movement(CardMovement::Rejected, None, Some(&by), now))
            .await;
        if !matches!(recorded, Ok(Ok(_))) {
            tracing::error!("the test card's move to the reject bin could not be journaled");
        }
    }
    let (passed, summary) = match (&iccid, &captured) {
        (Ok(i), Ok(_)) => (
            true,
            format!("测试卡已入废卡箱 test card {i} read and put in the reject bin"),
        ),
        (Err(e), Ok(_)) => (
            false,
            format!(
                "the card's chip did not answer ({e}): it is in the reject bin — check the IC contacts"
            ),
        ),
        (_, Err(e)) => (
            false,
            format!(
                "the card could not go to the reject bin ({e:?}): it is inside — open the dispenser and clear it"
            ),
        ),
    };
    serde_json::json!({
        "passed": passed,
        "summary": summary,
        "iccid": iccid.ok(),
        "moved_to_bin": moved,
    })
}

/// Journals a self-test's outcome from the task that ran it (the test has already answered
/// the device; a journal that cannot record it is an error in the log, not a lost answer).
async fn log_self_test(
    journal: &JournalHandle,
    technician: String,
    action: &'static str,
    detail: serde_json::Value,
) {
    let now = Clock::default().unix_ms();
    let logged = journal
        .run(move |j| j.service_log(&technician, action, &detail, now))
        .await;
    if !matches!(logged, Ok(Ok(()))) {
        tracing::error!(action, "a self-test could not be journaled");
    }
}

async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Minutes after midnight, Beijing time.
fn beijing_minute(unix_ms: i64) -> u32 {
    let secs = unix_ms.div_euclid(1000) + 8 * 3600;
    u32::try_from(secs.rem_euclid(86_400) / 60).unwrap_or(0)
}

/// systemd's notify protocol: ready, status, watchdog, stopping. Does nothing when the
/// kiosk does not run under systemd (`NOTIFY_SOCKET` unset).
#[derive(Debug)]
struct Systemd {
    enabled: bool,
    watchdog_every: Option<Duration>,
    last_watchdog: Option<std::time::Instant>,
}

impl Systemd {
    fn from_env() -> Self {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some();
        let mut usec = 0;
        let watchdog_every = (enabled && sd_notify::watchdog_enabled(false, &mut usec))
            .then(|| Duration::from_micros(usec) / 2);
        Self {
            enabled,
            watchdog_every,
            last_watchdog: None,
        }
    }

    fn send(&self, states: &[sd_notify::NotifyState]) {
        if self.enabled
            && let Err(e) = sd_notify::notify(false, states)
        {
            tracing::debug!(error = %e, "systemd notify failed");
        }
    }

    fn ready(&self) {
        self.send(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status("in service"),
        ]);
    }

    fn status(&self, s: &str) {
        self.send(&[sd_notify::NotifyState::Status(s)]);
    }

    fn stopping(&self) {
        self.send(&[sd_notify::NotifyState::Stopping]);
    }

    /// Called from the main loop: a hung loop stops feeding the watchdog and systemd
    /// restarts the kiosk.
    fn watchdog(&mut self) {
        let Some(every) = self.watchdog_every else {
            return;
        };
        if self.last_watchdog.is_none_or(|t| t.elapsed() >= every) {
            self.last_watchdog = Some(std::time::Instant::now());
            self.send(&[sd_notify::NotifyState::Watchdog]);
        }
    }
}
