//! Whole exchanges: the ID-003 driver against the ID-003 simulator over a
//! pseudo-terminal at the acceptor's real line settings (9600 8E1).

use std::time::Duration;

use bill_acceptor::id003::{Config, Id003};
use bill_acceptor::sim::{Action, SimConfig};
use bill_acceptor::{AcceptorEvent, AcceptorState, BillAcceptor, Error, Protocol};
use devio::{LineSettings, Parity, SerialStream};
use tokio::sync::mpsc;

/// Generous limit for anything to happen on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

struct Rig {
    driver: Id003<SerialStream>,
    actions: mpsc::Sender<Action>,
    /// Keeps the pty's slave side open (`None` when the test holds it itself).
    _guard: Option<devio::SlaveGuard>,
}

/// The port is at 9600 baud, 8 data bits, 1 stop bit, as the driver's caller opened it
/// with [`Protocol::line_settings`] (8E1). A Linux pseudo-terminal cannot carry parity: the
/// kernel clears `PARENB` on every pty termios change (drivers/tty/pty.c,
/// `pty_set_termios`), so parity reads back as none here; with the `hardware-tests`
/// feature the same check on a real port demands even parity.
fn assert_line_settings(port: &SerialStream) {
    let got = LineSettings::of(port).unwrap();
    let want = LineSettings::e81(9600);
    assert_eq!(
        (got.baud, got.data_bits, got.stop_bits),
        (want.baud, want.data_bits, want.stop_bits)
    );
    assert!(
        got.parity == Parity::Even || got.parity == Parity::None,
        "odd parity on the acceptor line: {got}"
    );
}

fn host_config() -> Config {
    Config {
        reply_timeout: Duration::from_secs(2),
        tries: 5,
        ..Config::default()
    }
}

async fn rig_with(sim: SimConfig, host: Config) -> Rig {
    let settings = Protocol::Id003.line_settings();
    assert_eq!(settings, LineSettings::e81(9600));
    let pty = devio::Pty::new(settings).unwrap();
    let port = devio::open_serial(pty.path(), settings).unwrap();
    assert_line_settings(&port);
    let (device, guard) = pty.into_parts();
    let (actions, rx) = mpsc::channel(16);
    tokio::spawn(bill_acceptor::id003::sim::run(device, sim, rx));
    Rig {
        driver: Id003::with_config(port, host),
        actions,
        _guard: Some(guard),
    }
}

/// Connected and accepting every note.
async fn ready(sim: SimConfig, host: Config) -> Rig {
    let mut rig = rig_with(sim, host).await;
    let info = rig.driver.connect().await.unwrap();
    let all: Vec<u64> = info.denominations.iter().map(|d| d.fen).collect();
    rig.driver.enable(&all).await.unwrap();
    rig.until(|_, state| state == AcceptorState::Idle).await;
    rig
}

fn sim_config() -> SimConfig {
    SimConfig::cny(Protocol::Id003)
}

impl Rig {
    async fn act(&self, action: Action) {
        self.actions.send(action).await.unwrap();
    }

    /// Polls until `done` holds for the events so far and the state; returns all events.
    async fn until(
        &mut self,
        done: impl Fn(&[AcceptorEvent], AcceptorState) -> bool,
    ) -> Vec<AcceptorEvent> {
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            events.extend(self.driver.poll().await.unwrap());
            if done(&events, self.driver.state()) {
                return events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gave up waiting; events so far: {events:?}, state {:?}",
                self.driver.state()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn until_event(&mut self, want: &AcceptorEvent) -> Vec<AcceptorEvent> {
        self.until(|e, _| e.contains(want)).await
    }

    /// Keeps polling for a while, collecting events.
    async fn poll_for(&mut self, d: Duration) -> Vec<AcceptorEvent> {
        let mut events = Vec::new();
        let end = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < end {
            events.extend(self.driver.poll().await.unwrap());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        events
    }
}

fn credits(events: &[AcceptorEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            AcceptorEvent::Credit { fen } => Some(*fen),
            _ => None,
        })
        .collect()
}

fn position(events: &[AcceptorEvent], want: &AcceptorEvent) -> usize {
    events
        .iter()
        .position(|e| e == want)
        .unwrap_or_else(|| panic!("{want:?} missing from {events:?}"))
}

#[tokio::test]
async fn connect_reads_identity_and_currency_table() {
    let mut rig = rig_with(sim_config(), host_config()).await;
    let info = rig.driver.connect().await.unwrap();
    assert_eq!(info.protocol, Protocol::Id003);
    assert_eq!(info.firmware, "iVIZION CNY V1.23");
    assert_eq!(info.serial, "IVIZION-0042");
    assert_eq!(info.currency, "CNY");
    assert!(!info.encrypted);
    let notes: Vec<(u8, u64)> = info
        .denominations
        .iter()
        .map(|d| (d.channel, d.fen))
        .collect();
    assert_eq!(
        notes,
        [
            (0x61, 100),
            (0x62, 500),
            (0x63, 1000),
            (0x64, 2000),
            (0x65, 5000),
            (0x66, 10_000)
        ]
    );
    // Connect leaves the acceptor inhibited.
    let events = rig.until(|_, s| s == AcceptorState::Disabled).await;
    assert!(credits(&events).is_empty());
}

#[tokio::test]
async fn values_come_from_the_device_table_not_a_built_in_list() {
    let mut sim = sim_config();
    sim.denominations_fen = vec![500, 2000, 10_000];
    let mut rig = ready(sim, host_config()).await;
    assert_eq!(
        rig.driver.device_info().unwrap().denominations[1].channel,
        0x62
    );
    rig.act(Action::Insert { fen: 2000 }).await;
    rig.until_event(&AcceptorEvent::Escrow { fen: 2000 }).await;
}

#[tokio::test]
async fn accepted_note_is_credited_once_after_vend_valid_and_ack() {
    let mut rig = ready(sim_config(), host_config()).await;
    rig.act(Action::Insert { fen: 2000 }).await;
    let events = rig.until_event(&AcceptorEvent::Escrow { fen: 2000 }).await;
    assert!(events.contains(&AcceptorEvent::Reading));
    // Undecided: held, never accepted by polling.
    let held = rig.poll_for(Duration::from_millis(800)).await;
    assert!(credits(&held).is_empty(), "{held:?}");
    assert_eq!(rig.driver.state(), AcceptorState::Escrow);

    rig.driver.stack().await.unwrap();
    let events = rig
        .until(|e, s| e.contains(&AcceptorEvent::Stacked) && s == AcceptorState::Idle)
        .await;
    assert_eq!(credits(&events), [2000]);
    // The simulator only leaves VEND VALID on the host's ACK: Stacked after Credit shows
    // the ACK went out and was taken.
    assert!(
        position(&events, &AcceptorEvent::Stacking)
            < position(&events, &AcceptorEvent::Credit { fen: 2000 })
    );
    assert!(
        position(&events, &AcceptorEvent::Credit { fen: 2000 })
            < position(&events, &AcceptorEvent::Stacked)
    );
    let after = rig.poll_for(Duration::from_millis(500)).await;
    assert!(credits(&after).is_empty(), "credited twice: {after:?}");
}

#[tokio::test]
async fn note_returned_from_escrow_is_not_credited() {
    let mut rig = ready(sim_config(), host_config()).await;
    rig.act(Action::Insert { fen: 5000 }).await;
    rig.until_event(&AcceptorEvent::Escrow { fen: 5000 }).await;
    rig.driver.return_note().await.unwrap();
    let events = rig
        .until(|e, s| {
            e.contains(&AcceptorEvent::Returned { fen: Some(5000) }) && s == AcceptorState::Idle
        })
        .await;
    assert!(credits(&events).is_empty());
    // Nothing left to stack.
    assert!(matches!(
        rig.driver.stack().await,
        Err(Error::Refused { .. })
    ));
}

#[tokio::test]
async fn escrow_timeout_returns_the_note_when_the_host_stops_holding() {
    let mut sim = sim_config();
    sim.escrow_timeout = Duration::from_secs(1);
    let host = Config {
        escrow_hold: Duration::ZERO,
        ..host_config()
    };
    let mut rig = ready(sim, host).await;
    rig.act(Action::Insert { fen: 1000 }).await;
    rig.until_event(&AcceptorEvent::Escrow { fen: 1000 }).await;
    let events = rig
        .until_event(&AcceptorEvent::Returned { fen: Some(1000) })
        .await;
    assert!(credits(&events).is_empty());
}

#[tokio::test]
async fn hold_keeps_the_note_past_the_acceptor_escrow_timeout() {
    let mut sim = sim_config();
    sim.escrow_timeout = Duration::from_secs(2);
    let mut rig = ready(sim, host_config()).await;
    rig.act(Action::Insert { fen: 1000 }).await;
    rig.until_event(&AcceptorEvent::Escrow { fen: 1000 }).await;
    let events = rig.poll_for(Duration::from_secs(5)).await;
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(rig.driver.state(), AcceptorState::Escrow);
    rig.driver.stack().await.unwrap();
    let events = rig.until_event(&AcceptorEvent::Stacked).await;
    assert_eq!(credits(&events), [1000]);
}

#[tokio::test]
async fn unknown_and_inhibited_notes_are_rejected_with_a_reason() {
    let mut rig = ready(sim_config(), host_config()).await;
    rig.act(Action::InsertUnknown).await;
    let events = rig
        .until(|e, _| {
            e.iter()
                .any(|e| matches!(e, AcceptorEvent::Rejected { .. }))
        })
        .await;
    let reason = events
        .iter()
        .find_map(|e| match e {
            AcceptorEvent::Rejected { reason } => reason.clone(),
            _ => None,
        })
        .unwrap();
    assert_eq!(reason.code, 0x76);
    assert_eq!(reason.text, "denomination not recognised");

    // A value the acceptor does not know (3 yuan).
    rig.until(|_, s| s == AcceptorState::Idle).await;
    rig.act(Action::Insert { fen: 300 }).await;
    rig.until(|e, _| {
        e.iter()
            .any(|e| matches!(e, AcceptorEvent::Rejected { reason: Some(r) } if r.code == 0x76))
    })
    .await;

    // A value the host did not enable.
    rig.until(|_, s| s == AcceptorState::Idle).await;
    rig.driver.enable(&[2000, 5000]).await.unwrap();
    rig.act(Action::Insert { fen: 100 }).await;
    let events = rig
        .until(|e, _| {
            e.iter()
                .any(|e| matches!(e, AcceptorEvent::Rejected { reason: Some(r) } if r.code == 0x79))
        })
        .await;
    assert!(credits(&events).is_empty());
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, AcceptorEvent::Escrow { .. }))
    );
}

#[tokio::test]
async fn jam_is_an_event_and_clears() {
    let mut rig = ready(sim_config(), host_config()).await;
    rig.act(Action::Jam {
        fen: 5000,
        safe: false,
    })
    .await;
    rig.until(|e, s| e.contains(&AcceptorEvent::Jam { safe: false }) && s == AcceptorState::Jammed)
        .await;
    rig.act(Action::ClearJam).await;
    rig.until(|_, s| s == AcceptorState::Idle).await;
    rig.act(Action::Jam {
        fen: 5000,
        safe: true,
    })
    .await;
    let events = rig.until_event(&AcceptorEvent::Jam { safe: true }).await;
    assert!(credits(&events).is_empty());
}

#[tokio::test]
async fn stacker_full_and_cashbox_removal_are_events() {
    let mut rig = ready(sim_config(), host_config()).await;
    rig.act(Action::StackerFull).await;
    rig.until(|e, s| e.contains(&AcceptorEvent::StackerFull) && s == AcceptorState::StackerFull)
        .await;
    // A note offered now waits; emptying the stacker lets it in.
    rig.act(Action::Insert { fen: 100 }).await;
    let events = rig.poll_for(Duration::from_millis(500)).await;
    assert!(events.is_empty(), "{events:?}");
    rig.act(Action::EmptyStacker).await;
    rig.until_event(&AcceptorEvent::Escrow { fen: 100 }).await;
    rig.driver.return_note().await.unwrap();
    rig.until(|_, s| s == AcceptorState::Idle).await;

    rig.act(Action::RemoveCashbox).await;
    rig.until(|e, s| e.contains(&AcceptorEvent::CashboxRemoved) && s == AcceptorState::CashboxOut)
        .await;
    rig.act(Action::ReplaceCashbox).await;
    rig.until(|e, s| e.contains(&AcceptorEvent::CashboxReplaced) && s == AcceptorState::Idle)
        .await;
}

#[tokio::test]
async fn stacker_fills_at_its_capacity() {
    let mut sim = sim_config();
    sim.stacker_capacity = 1;
    let mut rig = ready(sim, host_config()).await;
    rig.act(Action::Insert { fen: 100 }).await;
    rig.until_event(&AcceptorEvent::Escrow { fen: 100 }).await;
    rig.driver.stack().await.unwrap();
    let events = rig.until_event(&AcceptorEvent::StackerFull).await;
    assert_eq!(credits(&events), [100]);
}

#[tokio::test]
async fn power_cut_while_stacking_reports_the_note_in_the_cashbox() {
    let mut rig = ready(sim_config(), host_config()).await;
    rig.act(Action::PowerCutWhileStacking).await;
    rig.act(Action::Insert { fen: 10_000 }).await;
    rig.until_event(&AcceptorEvent::Escrow { fen: 10_000 })
        .await;
    rig.driver.stack().await.unwrap();
    let events = rig
        .until(|e, _| e.contains(&AcceptorEvent::PowerUpNoteInCashbox { fen: Some(10_000) }))
        .await;
    assert!(events.contains(&AcceptorEvent::Reset));
    assert!(
        credits(&events).is_empty(),
        "must be settled, not credited: {events:?}"
    );
    // The driver resets the acceptor and restores acceptance.
    let events = rig.until(|_, s| s == AcceptorState::Idle).await;
    assert!(credits(&events).is_empty());
}

#[tokio::test]
async fn power_cut_in_escrow_reports_the_note_returned() {
    let mut rig = ready(sim_config(), host_config()).await;
    rig.act(Action::Insert { fen: 500 }).await;
    rig.until_event(&AcceptorEvent::Escrow { fen: 500 }).await;
    rig.act(Action::PowerCutInEscrow).await;
    let events = rig
        .until(|e, _| e.contains(&AcceptorEvent::PowerUpNoteReturned { fen: Some(500) }))
        .await;
    assert!(events.contains(&AcceptorEvent::Reset));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, AcceptorEvent::PowerUpNoteInCashbox { .. }))
    );
    let events = rig.until(|_, s| s == AcceptorState::Idle).await;
    assert!(credits(&events).is_empty());
}

#[tokio::test]
async fn cheat_attempt_is_reported_and_not_credited() {
    let mut rig = ready(sim_config(), host_config()).await;
    rig.act(Action::Fraud { fen: 10_000 }).await;
    let events = rig
        .until(|e, _| e.iter().any(|e| matches!(e, AcceptorEvent::Fraud { .. })))
        .await;
    assert!(credits(&events).is_empty());
    rig.until(|_, s| s == AcceptorState::Idle).await;
}

#[tokio::test]
async fn disable_inhibits_and_notes_wait() {
    let mut rig = ready(sim_config(), host_config()).await;
    rig.driver.disable().await.unwrap();
    rig.until(|e, s| e.contains(&AcceptorEvent::Disabled) && s == AcceptorState::Disabled)
        .await;
    rig.act(Action::Insert { fen: 2000 }).await;
    let events = rig.poll_for(Duration::from_millis(500)).await;
    assert!(events.is_empty(), "{events:?}");
    rig.driver.enable(&[2000]).await.unwrap();
    rig.until_event(&AcceptorEvent::Escrow { fen: 2000 }).await;
}

#[tokio::test]
async fn silent_line_gives_no_answer_after_the_configured_tries() {
    let settings = Protocol::Id003.line_settings();
    let pty = devio::Pty::new(settings).unwrap();
    let port = devio::open_serial(pty.path(), settings).unwrap();
    assert_line_settings(&port);
    let config = Config {
        reply_timeout: Duration::from_millis(200),
        tries: 3,
        ..Config::default()
    };
    let mut driver = Id003::with_config(port, config);
    match driver.connect().await {
        Err(Error::NoAnswer { tries }) => assert_eq!(tries, 3),
        other => panic!("expected NoAnswer, got {other:?}"),
    }
    drop(pty);
}

#[tokio::test]
async fn note_found_at_reconnect_is_reported_by_the_next_poll() {
    let mut rig = ready(sim_config(), host_config()).await;
    rig.act(Action::PowerCutWhileStacking).await;
    rig.act(Action::Insert { fen: 5000 }).await;
    rig.until_event(&AcceptorEvent::Escrow { fen: 5000 }).await;
    rig.driver.stack().await.unwrap();
    rig.until_event(&AcceptorEvent::Stacking).await;
    // The power goes off while stacking; the actor reconnects rather than polling.
    tokio::time::sleep(Duration::from_millis(300)).await;
    rig.driver.connect().await.unwrap();
    let events = rig.driver.poll().await.unwrap();
    assert!(
        events.contains(&AcceptorEvent::PowerUpNoteInCashbox { fen: Some(5000) }),
        "{events:?}"
    );
    assert!(credits(&events).is_empty());
}

/// The kiosk restarts while a note waits in escrow: the first driver saw it and stopped
/// without deciding; the second hands it back at connect and says so; the cashbox stays
/// as it was.
#[tokio::test]
async fn note_left_in_escrow_by_a_stopped_host_is_returned_at_connect() {
    let settings = Protocol::Id003.line_settings();
    let pty = devio::Pty::new(settings).unwrap();
    let path = pty.path().to_path_buf();
    let (device, _guard) = pty.into_parts();
    let sim = sim_config();
    let cashbox = sim.cashbox.clone();
    let (actions, rx) = mpsc::channel(16);
    tokio::spawn(bill_acceptor::id003::sim::run(device, sim, rx));

    let first = devio::open_serial(&path, settings).unwrap();
    let mut first = Rig {
        driver: Id003::with_config(first, host_config()),
        actions,
        _guard: None,
    };
    let info = first.driver.connect().await.unwrap();
    let all: Vec<u64> = info.denominations.iter().map(|d| d.fen).collect();
    first.driver.enable(&all).await.unwrap();
    first.until(|_, state| state == AcceptorState::Idle).await;
    first.act(Action::Insert { fen: 2000 }).await;
    first
        .until_event(&AcceptorEvent::Escrow { fen: 2000 })
        .await;
    // The first host stops without deciding (its last poll sent HOLD).
    let Rig {
        driver, actions, ..
    } = first;
    drop(driver);

    let second = devio::open_serial(&path, settings).unwrap();
    let mut second = Rig {
        driver: Id003::with_config(second, host_config()),
        actions,
        _guard: None,
    };
    second.driver.connect().await.unwrap();
    let events = second.poll_for(Duration::from_secs(2)).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, AcceptorEvent::Returned { .. }))
            .count(),
        1,
        "{events:?}"
    );
    assert!(credits(&events).is_empty(), "{events:?}");
    assert!(
        !events.iter().any(|e| matches!(
            e,
            AcceptorEvent::Escrow { .. }
                | AcceptorEvent::Stacking
                | AcceptorEvent::PowerUpNoteInCashbox { .. }
        )),
        "{events:?}"
    );
    assert_eq!(
        cashbox.notes(),
        Vec::<u64>::new(),
        "nothing went into the cashbox"
    );
    // The acceptor works normally afterwards.
    second.driver.enable(&all).await.unwrap();
    second.until(|_, state| state == AcceptorState::Idle).await;
    second.act(Action::Insert { fen: 100 }).await;
    second
        .until_event(&AcceptorEvent::Escrow { fen: 100 })
        .await;
}
