//! Whole exchanges: the real SSP driver against the NV200 simulator over a pseudo-terminal
//! at 9600 8N2.

use std::time::{Duration, Instant};

use bill_acceptor::sim::{self, Action, Running, SimConfig};
use bill_acceptor::ssp::link::{Link, Outcome};
use bill_acceptor::ssp::message::{Command, Status};
use bill_acceptor::ssp::{LinkConfig, Ssp, SspConfig};
use bill_acceptor::{AcceptorEvent, AcceptorState, BillAcceptor, Denomination, Error, Protocol};

const ALL: [u64; 6] = [100, 500, 1000, 2000, 5000, 10000];

async fn start(config: SimConfig) -> (Running, Ssp<devio::SerialStream>) {
    let running = sim::spawn(config).expect("simulator starts");
    let ssp = Ssp::open(&running.path, SspConfig::default()).expect("port opens");
    (running, ssp)
}

async fn connected(config: SimConfig) -> (Running, Ssp<devio::SerialStream>) {
    let (running, mut ssp) = start(config).await;
    ssp.connect().await.expect("connect");
    ssp.enable(&ALL).await.expect("enable");
    (running, ssp)
}

async fn act(running: &Running, action: Action) {
    running.actions.send(action).await.expect("simulator alive");
}

/// Polls every 200 ms until an event matches, returning everything seen.
async fn poll_until(
    ssp: &mut Ssp<devio::SerialStream>,
    what: &str,
    pred: impl Fn(&AcceptorEvent) -> bool,
) -> Vec<AcceptorEvent> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let events = ssp.poll().await.expect("poll");
        let hit = events.iter().any(&pred);
        seen.extend(events);
        if hit {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within 20 s; saw {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
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

#[tokio::test]
async fn connect_reads_the_device_and_the_port_is_9600_8n2() {
    let (running, mut ssp) = start(SimConfig::cny(Protocol::Ssp)).await;
    assert_eq!(
        devio::LineSettings::of(ssp.transport_mut()).unwrap(),
        devio::LineSettings::n82(9600)
    );
    assert_eq!(
        devio::LineSettings::of(ssp.transport_mut())
            .unwrap()
            .to_string(),
        "9600 8N2"
    );
    let info = ssp.connect().await.unwrap();
    assert_eq!(info.protocol, Protocol::Ssp);
    assert_eq!(info.serial, "20261122");
    assert_eq!(info.currency, "CNY");
    assert_eq!(info.firmware, "NV02004141498000");
    assert!(info.encrypted);
    assert_eq!(
        info.denominations,
        ALL.iter()
            .zip(1u8..)
            .map(|(&fen, channel)| Denomination { channel, fen })
            .collect::<Vec<_>>()
    );
    drop(running);
}

/// GA138: "After power up and reset the slave will stay disabled and will respond to all
/// commands with the generic response KEY_NOT_SET (0xFA)" — HOST PROTOCOL VERSION
/// included. The driver negotiates the keys first and goes on.
#[tokio::test]
async fn connects_to_a_device_that_answers_key_not_set_from_power_up() {
    let running = sim::spawn(SimConfig::cny(Protocol::Ssp)).expect("simulator starts");
    {
        // What the device says at power-up, before any key: FA to HOST PROTOCOL VERSION.
        let mut port = devio::open_serial(&running.path, Protocol::Ssp.line_settings()).unwrap();
        let mut link = Link::new(LinkConfig::default());
        assert_eq!(ask(&mut link, &mut port, &Command::Sync).await, vec![0xF0]);
        assert_eq!(
            ask(&mut link, &mut port, &Command::HostProtocolVersion(8)).await,
            vec![0xFA]
        );
        assert_eq!(ask(&mut link, &mut port, &Command::Poll).await, vec![0xFA]);
    }
    let mut ssp = Ssp::open(&running.path, SspConfig::default()).expect("port opens");
    let info = ssp
        .connect()
        .await
        .expect("the driver negotiates keys and connects");
    assert!(info.encrypted);
    assert_eq!(info.currency, "CNY");
    assert_eq!(info.denominations.len(), 6);
    ssp.enable(&ALL).await.unwrap();
    act(&running, Action::Insert { fen: 1000 }).await;
    poll_until(&mut ssp, "escrow", |e| {
        *e == AcceptorEvent::Escrow { fen: 1000 }
    })
    .await;
}

/// A validator that resets mid-session comes back without keys and answers FA: the driver
/// synchronises, negotiates new keys, restores its settings and carries on.
#[tokio::test]
async fn a_device_reset_mid_session_is_rekeyed_not_declared_dead() {
    let (running, mut ssp) = connected(SimConfig::cny(Protocol::Ssp)).await;
    ssp.poll().await.unwrap(); // the power-up reset event
    let count_before = ssp.essp_count().expect("keyed");
    assert!(count_before > 4);
    let reply = ssp.command(Command::Reset).await.unwrap();
    assert_eq!(reply.status, Status::Ok);
    // The device reboots (silent for a moment), then answers FA to the next poll.
    let seen = poll_until(&mut ssp, "reset", |e| *e == AcceptorEvent::Reset).await;
    assert!(seen.contains(&AcceptorEvent::Reset), "{seen:?}");
    let count_after = ssp.essp_count().expect("keyed again");
    assert!(
        count_after < count_before,
        "new keys restart the eSSP counter: {count_before} → {count_after}"
    );
    // Settings restored: notes are taken again.
    act(&running, Action::Insert { fen: 2000 }).await;
    poll_until(&mut ssp, "escrow", |e| {
        *e == AcceptorEvent::Escrow { fen: 2000 }
    })
    .await;
}

/// One command in clear over a raw link.
async fn ask(link: &mut Link, port: &mut devio::SerialStream, command: &Command) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut rng = rand::rng();
    link.send(command, false, Instant::now(), &mut rng).unwrap();
    let mut buf = [0u8; 256];
    loop {
        if let Some(bytes) = link.poll_transmit() {
            port.write_all(&bytes).await.unwrap();
        }
        match link.poll_outcome() {
            Some(Outcome::Reply(d)) => return d,
            Some(Outcome::Dead { tries }) => panic!("no answer after {tries} tries"),
            None => {}
        }
        let deadline = link.poll_timeout().unwrap();
        match tokio::time::timeout_at(deadline.into(), port.read(&mut buf)).await {
            Ok(Ok(n)) => link.handle_bytes(&buf[..n]),
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => link.handle_timeout(Instant::now()),
        }
    }
}

#[tokio::test]
async fn denominations_come_from_the_device() {
    let mut config = SimConfig::cny(Protocol::Ssp);
    config.denominations_fen = vec![1000, 500, 5000];
    let (_running, mut ssp) = start(config).await;
    let info = ssp.connect().await.unwrap();
    let fen: Vec<(u8, u64)> = info
        .denominations
        .iter()
        .map(|d| (d.channel, d.fen))
        .collect();
    assert_eq!(fen, vec![(2, 500), (1, 1000), (3, 5000)]);
}

#[tokio::test]
async fn accepted_note_is_held_until_stacked_and_credited_only_on_ee() {
    let mut config = SimConfig::cny(Protocol::Ssp);
    config.escrow_timeout = Duration::from_millis(2500);
    let (running, mut ssp) = connected(config).await;
    act(&running, Action::Insert { fen: 2000 }).await;
    let seen = poll_until(&mut ssp, "escrow", |e| {
        matches!(e, AcceptorEvent::Escrow { .. })
    })
    .await;
    assert!(seen.contains(&AcceptorEvent::Reading));
    assert!(seen.contains(&AcceptorEvent::Escrow { fen: 2000 }));
    assert_eq!(ssp.state(), AcceptorState::Escrow);
    // The driver holds the note (HOLD, never a plain POLL) well past the escrow timeout.
    let hold_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < hold_until {
        let events = ssp.poll().await.unwrap();
        assert!(
            credits(&events).is_empty(),
            "credit before the host decided: {events:?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, AcceptorEvent::Returned { .. })),
            "note returned while held: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(ssp.state(), AcceptorState::Escrow);
    ssp.stack().await.unwrap();
    let seen = poll_until(&mut ssp, "credit", |e| {
        matches!(e, AcceptorEvent::Credit { .. })
    })
    .await;
    assert_eq!(credits(&seen), vec![2000]);
    let stacking = seen.iter().position(|e| *e == AcceptorEvent::Stacking);
    let credit = seen
        .iter()
        .position(|e| matches!(e, AcceptorEvent::Credit { .. }));
    assert!(
        stacking < credit,
        "stacking comes before the credit: {seen:?}"
    );
    // Nothing is credited twice.
    let mut later = Vec::new();
    for _ in 0..5 {
        later.extend(ssp.poll().await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(credits(&later).is_empty(), "{later:?}");
    assert_eq!(ssp.state(), AcceptorState::Idle);
}

#[tokio::test]
async fn returned_from_escrow_is_never_credited() {
    let (running, mut ssp) = connected(SimConfig::cny(Protocol::Ssp)).await;
    act(&running, Action::Insert { fen: 5000 }).await;
    poll_until(&mut ssp, "escrow", |e| {
        *e == AcceptorEvent::Escrow { fen: 5000 }
    })
    .await;
    ssp.return_note().await.unwrap();
    let seen = poll_until(&mut ssp, "returned", |e| {
        matches!(e, AcceptorEvent::Returned { .. })
    })
    .await;
    assert!(
        seen.contains(&AcceptorEvent::Returned { fen: Some(5000) }),
        "{seen:?}"
    );
    assert!(credits(&seen).is_empty());
    assert!(matches!(ssp.stack().await, Err(Error::Refused { .. })));
}

#[tokio::test]
async fn escrow_timeout_returns_the_note_when_the_host_is_silent() {
    let mut config = SimConfig::cny(Protocol::Ssp);
    config.escrow_timeout = Duration::from_secs(1);
    let (running, mut ssp) = connected(config).await;
    act(&running, Action::Insert { fen: 1000 }).await;
    poll_until(&mut ssp, "escrow", |e| {
        *e == AcceptorEvent::Escrow { fen: 1000 }
    })
    .await;
    // The host says nothing for longer than the escrow timeout.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let seen = poll_until(&mut ssp, "returned", |e| {
        matches!(e, AcceptorEvent::Returned { .. })
    })
    .await;
    assert!(
        seen.contains(&AcceptorEvent::Returned { fen: Some(1000) }),
        "{seen:?}"
    );
    assert!(credits(&seen).is_empty());
}

#[tokio::test]
async fn unknown_and_inhibited_notes_are_rejected_with_a_reason() {
    let (running, mut ssp) = start(SimConfig::cny(Protocol::Ssp)).await;
    ssp.connect().await.unwrap();
    ssp.enable(&[2000]).await.unwrap();
    act(&running, Action::InsertUnknown).await;
    let seen = poll_until(&mut ssp, "reject", |e| {
        matches!(e, AcceptorEvent::Rejected { .. })
    })
    .await;
    let reason = seen.iter().find_map(|e| match e {
        AcceptorEvent::Rejected { reason } => reason.clone(),
        _ => None,
    });
    assert_eq!(reason.map(|r| r.code), Some(0x02), "{seen:?}");
    act(&running, Action::Insert { fen: 100 }).await;
    let seen = poll_until(&mut ssp, "reject", |e| {
        matches!(e, AcceptorEvent::Rejected { .. })
    })
    .await;
    let reason = seen.iter().find_map(|e| match e {
        AcceptorEvent::Rejected { reason } => reason.clone(),
        _ => None,
    });
    assert_eq!(reason.map(|r| r.code), Some(0x06), "{seen:?}");
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, AcceptorEvent::Escrow { .. }))
    );
}

#[tokio::test]
async fn jams_are_events_and_never_credit() {
    for safe in [true, false] {
        let (running, mut ssp) = connected(SimConfig::cny(Protocol::Ssp)).await;
        act(&running, Action::Jam { fen: 5000, safe }).await;
        let seen = poll_until(&mut ssp, "jam", |e| matches!(e, AcceptorEvent::Jam { .. })).await;
        assert!(seen.contains(&AcceptorEvent::Jam { safe }), "{seen:?}");
        assert!(credits(&seen).is_empty());
        assert_eq!(ssp.state(), AcceptorState::Jammed);
        // Reported once, not at every poll.
        let again = ssp.poll().await.unwrap();
        assert!(
            !again.iter().any(|e| matches!(e, AcceptorEvent::Jam { .. })),
            "{again:?}"
        );
        act(&running, Action::ClearJam).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        ssp.poll().await.unwrap();
        assert_ne!(ssp.state(), AcceptorState::Jammed);
    }
}

#[tokio::test]
async fn stacker_full_and_cashbox_removal_are_reported() {
    let (running, mut ssp) = connected(SimConfig::cny(Protocol::Ssp)).await;
    act(&running, Action::StackerFull).await;
    poll_until(&mut ssp, "stacker full", |e| {
        *e == AcceptorEvent::StackerFull
    })
    .await;
    assert_eq!(ssp.state(), AcceptorState::StackerFull);
    act(&running, Action::Insert { fen: 2000 }).await;
    let seen = poll_until(&mut ssp, "reject", |e| {
        matches!(e, AcceptorEvent::Rejected { .. })
    })
    .await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, AcceptorEvent::Escrow { .. })),
        "{seen:?}"
    );
    act(&running, Action::RemoveCashbox).await;
    poll_until(&mut ssp, "cashbox removed", |e| {
        *e == AcceptorEvent::CashboxRemoved
    })
    .await;
    assert_eq!(ssp.state(), AcceptorState::CashboxOut);
    act(&running, Action::ReplaceCashbox).await;
    poll_until(&mut ssp, "cashbox replaced", |e| {
        *e == AcceptorEvent::CashboxReplaced
    })
    .await;
}

#[tokio::test]
async fn power_cut_while_stacking_surfaces_the_note_in_the_cashbox() {
    let (running, mut ssp) = connected(SimConfig::cny(Protocol::Ssp)).await;
    act(&running, Action::PowerCutWhileStacking).await;
    act(&running, Action::Insert { fen: 2000 }).await;
    poll_until(&mut ssp, "escrow", |e| {
        *e == AcceptorEvent::Escrow { fen: 2000 }
    })
    .await;
    ssp.stack().await.unwrap();
    // The device goes dark, comes back without keys (FA), the driver re-keys by itself.
    let seen = poll_until(&mut ssp, "power-up note", |e| {
        matches!(e, AcceptorEvent::PowerUpNoteInCashbox { .. })
    })
    .await;
    assert!(seen.contains(&AcceptorEvent::Reset), "{seen:?}");
    assert!(
        seen.contains(&AcceptorEvent::PowerUpNoteInCashbox { fen: Some(2000) }),
        "{seen:?}"
    );
    assert!(credits(&seen).is_empty(), "{seen:?}");
    // The driver restored keys and the enabled channels: the next note works.
    act(&running, Action::Insert { fen: 100 }).await;
    poll_until(&mut ssp, "escrow", |e| {
        *e == AcceptorEvent::Escrow { fen: 100 }
    })
    .await;
}

#[tokio::test]
async fn power_cut_in_escrow_returns_the_note_at_power_up() {
    let (running, mut ssp) = connected(SimConfig::cny(Protocol::Ssp)).await;
    act(&running, Action::Insert { fen: 5000 }).await;
    poll_until(&mut ssp, "escrow", |e| {
        *e == AcceptorEvent::Escrow { fen: 5000 }
    })
    .await;
    act(&running, Action::PowerCutInEscrow).await;
    let seen = poll_until(&mut ssp, "power-up note", |e| {
        matches!(e, AcceptorEvent::PowerUpNoteReturned { .. })
    })
    .await;
    assert!(
        seen.contains(&AcceptorEvent::PowerUpNoteReturned { fen: Some(5000) }),
        "{seen:?}"
    );
    assert!(credits(&seen).is_empty());
}

/// The kiosk restarts while a note waits in escrow: the customer it belonged to is gone,
/// so the new driver hands it back before its first POLL (which would accept it) and says
/// so; the cashbox stays as it was.
#[tokio::test]
async fn note_left_in_escrow_by_a_stopped_host_is_handed_back_at_connect() {
    let config = SimConfig::cny(Protocol::Ssp);
    let cashbox = config.cashbox.clone();
    let (running, mut first) = connected(config).await;
    act(&running, Action::Insert { fen: 5000 }).await;
    poll_until(&mut first, "escrow", |e| {
        *e == AcceptorEvent::Escrow { fen: 5000 }
    })
    .await;
    // The first host stops without deciding.
    drop(first);

    let mut second = Ssp::open(&running.path, SspConfig::default()).expect("port opens");
    second.connect().await.expect("connect");
    let mut seen = Vec::new();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        seen.extend(second.poll().await.expect("poll"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, AcceptorEvent::Returned { .. }))
            .count(),
        1,
        "{seen:?}"
    );
    assert!(credits(&seen).is_empty(), "{seen:?}");
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            AcceptorEvent::Escrow { .. } | AcceptorEvent::Stacking | AcceptorEvent::Rejected { .. }
        )),
        "{seen:?}"
    );
    // The device says the host rejected it (08), not that it timed out (13).
    let code = second.command(Command::LastRejectCode).await.unwrap();
    assert_eq!(code.data, vec![0x08]);
    assert_eq!(
        cashbox.notes(),
        Vec::<u64>::new(),
        "nothing went into the cashbox"
    );
    // The acceptor works normally afterwards.
    second.enable(&ALL).await.unwrap();
    act(&running, Action::Insert { fen: 100 }).await;
    poll_until(&mut second, "escrow", |e| {
        *e == AcceptorEvent::Escrow { fen: 100 }
    })
    .await;
}

/// The same driver reconnects (as the actor does after a lost line) with the note it was
/// holding still in escrow: handed back too, and it knows the value.
#[tokio::test]
async fn reconnecting_driver_hands_back_the_note_it_was_holding() {
    let config = SimConfig::cny(Protocol::Ssp);
    let cashbox = config.cashbox.clone();
    let (running, mut ssp) = connected(config).await;
    act(&running, Action::Insert { fen: 2000 }).await;
    poll_until(&mut ssp, "escrow", |e| {
        *e == AcceptorEvent::Escrow { fen: 2000 }
    })
    .await;
    ssp.connect().await.expect("reconnect");
    let events = ssp.poll().await.unwrap();
    assert_eq!(events, vec![AcceptorEvent::Returned { fen: Some(2000) }]);
    let mut later = Vec::new();
    for _ in 0..8 {
        later.extend(ssp.poll().await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(credits(&later).is_empty(), "{later:?}");
    assert!(
        !later.iter().any(|e| matches!(
            e,
            AcceptorEvent::Returned { .. } | AcceptorEvent::Rejected { .. }
        )),
        "reported once: {later:?}"
    );
    assert_eq!(cashbox.notes(), Vec::<u64>::new());
}

/// Nothing in escrow at connect: the REJECT is refused and nothing is reported.
#[tokio::test]
async fn connect_without_a_note_in_escrow_reports_nothing_returned() {
    let (_running, mut ssp) = connected(SimConfig::cny(Protocol::Ssp)).await;
    let events = ssp.poll().await.unwrap();
    assert!(
        !events.iter().any(|e| matches!(
            e,
            AcceptorEvent::Returned { .. } | AcceptorEvent::Rejected { .. }
        )),
        "{events:?}"
    );
}

#[tokio::test]
async fn fraud_is_reported_with_the_channel_value() {
    let (running, mut ssp) = connected(SimConfig::cny(Protocol::Ssp)).await;
    act(&running, Action::Fraud { fen: 10000 }).await;
    let seen = poll_until(&mut ssp, "fraud", |e| {
        matches!(e, AcceptorEvent::Fraud { .. })
    })
    .await;
    assert!(
        seen.contains(&AcceptorEvent::Fraud { fen: Some(10000) }),
        "{seen:?}"
    );
    assert!(credits(&seen).is_empty());
}

#[tokio::test]
async fn the_validator_disables_itself_after_10_s_without_a_command() {
    let (_running, mut ssp) = connected(SimConfig::cny(Protocol::Ssp)).await;
    ssp.poll().await.unwrap(); // power-up reset event
    assert!(ssp.poll().await.unwrap().is_empty());
    assert_eq!(ssp.state(), AcceptorState::Idle);
    tokio::time::sleep(Duration::from_secs(11)).await;
    let events = ssp.poll().await.unwrap();
    assert!(events.contains(&AcceptorEvent::Disabled), "{events:?}");
    assert_eq!(ssp.state(), AcceptorState::Disabled);
}

#[tokio::test]
async fn unencrypted_device_works_without_keys_when_told_so() {
    let mut config = SimConfig::cny(Protocol::Ssp);
    config.encrypted = false;
    let running = sim::spawn(config).unwrap();
    let host = SspConfig {
        encryption: false,
        ..SspConfig::default()
    };
    let mut ssp = Ssp::open(&running.path, host).unwrap();
    let info = ssp.connect().await.unwrap();
    assert!(!info.encrypted);
    assert_eq!(ssp.essp_count(), None);
    ssp.enable(&ALL).await.unwrap();
    act(&running, Action::Insert { fen: 100 }).await;
    poll_until(&mut ssp, "escrow", |e| {
        *e == AcceptorEvent::Escrow { fen: 100 }
    })
    .await;
}

#[tokio::test]
async fn encrypted_device_refuses_clear_commands_and_the_driver_cannot_skip_keys() {
    let running = sim::spawn(SimConfig::cny(Protocol::Ssp)).unwrap();
    let host = SspConfig {
        encryption: false,
        ..SspConfig::default()
    };
    let mut ssp = Ssp::open(&running.path, host).unwrap();
    assert!(matches!(ssp.connect().await, Err(Error::Encryption(_))));
}

#[tokio::test]
async fn every_exchange_advances_the_essp_counter_by_two() {
    let (_running, mut ssp) = connected(SimConfig::cny(Protocol::Ssp)).await;
    ssp.poll().await.unwrap(); // power-up reset event (the driver re-sends its settings)
    let before = ssp.essp_count().expect("keyed");
    ssp.poll().await.unwrap();
    assert_eq!(ssp.essp_count(), Some(before + 2));
}

/// Resends every 50 ms: a silent or vanished device is given up on quickly.
fn quick_resends() -> SspConfig {
    SspConfig {
        link: LinkConfig {
            retry_interval: Duration::from_millis(50),
            ..LinkConfig::default()
        },
        ..SspConfig::default()
    }
}

#[tokio::test]
async fn device_is_dead_after_20_tries() {
    let pty = devio::Pty::new(Protocol::Ssp.line_settings()).unwrap();
    let config = quick_resends();
    let mut ssp = Ssp::open(pty.path(), config).unwrap();
    let (mut device, _guard) = pty.into_parts();
    let result = ssp.connect().await;
    assert!(
        matches!(result, Err(Error::NoAnswer { tries: 20 })),
        "{result:?}"
    );
    // Twenty identical SYNC frames went out.
    use tokio::io::AsyncReadExt;
    let mut wire = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(300), device.read(&mut buf)).await
    {
        if n == 0 {
            break;
        }
        wire.extend_from_slice(&buf[..n]);
    }
    let sync = [0x7F, 0x80, 0x01, 0x11, 0x65, 0x82];
    assert_eq!(wire.len(), 20 * sync.len());
    assert!(wire.chunks(sync.len()).all(|c| c == sync));
}

/// Unplugged while a command waits for its answer: the master side of the line closes and
/// every read of the port returns end of file at once. The driver must still count its
/// resends and give up — once it spun on those reads forever, and the kiosk never saw the
/// acceptor go.
#[tokio::test]
async fn a_line_that_closes_under_a_command_is_not_waited_on_forever() {
    let pty = devio::Pty::new(Protocol::Ssp.line_settings()).unwrap();
    let config = quick_resends();
    let mut ssp = Ssp::open(pty.path(), config).unwrap();
    let (mut device, guard) = pty.into_parts();
    let unplug = tokio::spawn(async move {
        // The SYNC reaches the device; then the plug is pulled before it answers.
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 64];
        let _ = device.read(&mut buf).await;
        drop(device);
        drop(guard);
    });
    let result = tokio::time::timeout(Duration::from_secs(10), ssp.connect())
        .await
        .expect("the driver gives up on a closed line instead of waiting forever");
    assert!(
        matches!(result, Err(Error::Io(_) | Error::NoAnswer { .. })),
        "{result:?}"
    );
    unplug.await.unwrap();
}
