//! Link-level exchanges with the simulator: a lost reply and its resend, the eSSP
//! counter as the device checks it, and the device actor.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bill_acceptor::actor;
use bill_acceptor::sim::{self, Action, SimConfig};
use bill_acceptor::ssp::crypto::{self, EsspKey, HostKeyExchange};
use bill_acceptor::ssp::frame::{Decoder, Frame};
use bill_acceptor::ssp::link::{Link, LinkConfig, Outcome};
use bill_acceptor::ssp::message::{Command, Reply, Status};
use bill_acceptor::ssp::{Ssp, SspConfig};
use bill_acceptor::{AcceptorEvent, BillAcceptor, Protocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Forwards bytes between the driver (a duplex pipe) and the simulator's port, recording
/// host frames and dropping as many device replies as `drop` says.
fn proxy(
    mut driver: tokio::io::DuplexStream,
    mut port: devio::SerialStream,
    drop: Arc<AtomicUsize>,
    host_frames: Arc<Mutex<Vec<Frame>>>,
) {
    tokio::spawn(async move {
        let (mut from_host, mut from_dev) = (Decoder::new(), Decoder::new());
        let (mut a, mut b) = ([0u8; 512], [0u8; 512]);
        loop {
            tokio::select! {
                r = driver.read(&mut a) => {
                    let Ok(n) = r else { return };
                    if n == 0 { return; }
                    from_host.push(&a[..n]);
                    while let Some(f) = from_host.next_frame() {
                        host_frames.lock().unwrap().push(f);
                    }
                    if port.write_all(&a[..n]).await.is_err() { return; }
                }
                r = port.read(&mut b) => {
                    let Ok(n) = r else { return };
                    from_dev.push(&b[..n]);
                    while let Some(f) = from_dev.next_frame() {
                        if drop.load(Ordering::SeqCst) > 0 {
                            drop.fetch_sub(1, Ordering::SeqCst);
                            continue;
                        }
                        if driver.write_all(&f.encode().unwrap()).await.is_err() { return; }
                    }
                }
            }
        }
    });
}

#[tokio::test]
async fn a_lost_reply_is_recovered_by_a_resend_with_the_same_flag() {
    let running = sim::spawn(SimConfig::cny(Protocol::Ssp)).unwrap();
    let port = devio::open_serial(&running.path, Protocol::Ssp.line_settings()).unwrap();
    let (driver_io, proxy_io) = tokio::io::duplex(4096);
    let dropper = Arc::new(AtomicUsize::new(0));
    let frames = Arc::new(Mutex::new(Vec::new()));
    proxy(proxy_io, port, dropper.clone(), frames.clone());
    let config = SspConfig {
        link: LinkConfig {
            retry_interval: Duration::from_millis(400),
            ..LinkConfig::default()
        },
        ..SspConfig::default()
    };
    let mut ssp = Ssp::new(driver_io, config);
    ssp.connect().await.unwrap();
    ssp.enable(&[2000]).await.unwrap();
    ssp.poll().await.unwrap();
    assert_eq!(ssp.resends(), 0);
    let sent_before = frames.lock().unwrap().len();

    dropper.store(1, Ordering::SeqCst);
    running
        .actions
        .send(Action::Insert { fen: 2000 })
        .await
        .unwrap();
    let events = ssp
        .poll()
        .await
        .expect("the resend gets the repeated reply");
    assert_eq!(ssp.resends(), 1);
    let sent = frames.lock().unwrap()[sent_before..].to_vec();
    assert_eq!(sent.len(), 2, "one poll, one resend");
    assert_eq!(
        sent[0], sent[1],
        "the resend is the same frame with the same flag"
    );
    // The device answered the resend with its stored reply; the counters still agree.
    let _ = events;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = ssp.poll().await.unwrap();
        if events.contains(&AcceptorEvent::Escrow { fen: 2000 }) {
            break;
        }
        assert!(Instant::now() < deadline, "no escrow");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One command over a raw link; `None` when the device stays silent.
async fn ask(
    link: &mut Link,
    port: &mut devio::SerialStream,
    command: &Command,
    encrypt: bool,
) -> Option<Vec<u8>> {
    let mut rng = rand::rng();
    link.send(command, encrypt, Instant::now(), &mut rng)
        .unwrap();
    let mut buf = [0u8; 512];
    loop {
        if let Some(bytes) = link.poll_transmit() {
            port.write_all(&bytes).await.unwrap();
        }
        match link.poll_outcome() {
            Some(Outcome::Reply(d)) => return Some(d),
            Some(Outcome::Dead { .. }) => return None,
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
async fn essp_keys_are_required_and_the_counter_is_checked_by_the_device() {
    let running = sim::spawn(SimConfig::cny(Protocol::Ssp)).unwrap();
    let mut port = devio::open_serial(&running.path, Protocol::Ssp.line_settings()).unwrap();
    let config = LinkConfig {
        retry_interval: Duration::from_millis(1500),
        max_tries: 1,
        ..LinkConfig::default()
    };
    let mut link = Link::new(config);

    assert_eq!(
        ask(&mut link, &mut port, &Command::Sync, false).await,
        Some(vec![0xF0])
    );
    // Encrypted mode, no keys yet: FA.
    assert_eq!(
        ask(&mut link, &mut port, &Command::Poll, false).await,
        Some(vec![0xFA])
    );
    assert_eq!(
        ask(&mut link, &mut port, &Command::SetupRequest, false).await,
        Some(vec![0xFA])
    );

    let mut rng = rand::rng();
    let dh = HostKeyExchange::new(&mut rng);
    assert_eq!(
        ask(
            &mut link,
            &mut port,
            &Command::SetGenerator(dh.generator),
            false
        )
        .await,
        Some(vec![0xF0])
    );
    // Not a prime: parameter out of range.
    assert_eq!(
        ask(&mut link, &mut port, &Command::SetModulus(1_000_000), false).await,
        Some(vec![0xF4])
    );
    assert_eq!(
        ask(
            &mut link,
            &mut port,
            &Command::SetModulus(dh.modulus),
            false
        )
        .await,
        Some(vec![0xF0])
    );
    let reply = ask(
        &mut link,
        &mut port,
        &Command::RequestKeyExchange(dh.host_intermediate()),
        false,
    )
    .await
    .unwrap();
    let reply = Reply::parse(&reply).unwrap();
    assert_eq!(reply.status, Status::Ok);
    let slave = u64::from_le_bytes(reply.data.try_into().unwrap());
    let key = EsspKey::new(crypto::DEFAULT_FIXED_KEY, dh.key(slave));
    link.set_key(key.clone());

    // Host count 0 → device replies with count 1.
    let r = ask(&mut link, &mut port, &Command::SetupRequest, true)
        .await
        .unwrap();
    assert_eq!(r.first(), Some(&0xF0));
    assert_eq!(link.count(), Some(2));

    // A packet with a stale counter (a replay) is discarded: no reply at all.
    let replay = crypto::encrypt(&key, 0, &Command::Enable.encode(), &mut rng).unwrap();
    // (With the next sequence flag: the same flag as the last command would only make the
    // device repeat its last reply.)
    let replay = Frame::new(true, 0, replay).encode().unwrap();
    port.write_all(&replay).await.unwrap();
    let mut buf = [0u8; 64];
    let silent = tokio::time::timeout(Duration::from_millis(1500), port.read(&mut buf)).await;
    assert!(
        silent.is_err(),
        "device answered a replayed packet: {silent:?}"
    );

    // The right counter still works, and the reply carries the device's count.
    let r = ask(&mut link, &mut port, &Command::Poll, true)
        .await
        .unwrap();
    assert_eq!(r.first(), Some(&0xF0));
    assert_eq!(link.count(), Some(4));
    // A wrong key is not a key: the device discards it.
    let wrong = EsspKey::new(crypto::DEFAULT_FIXED_KEY, dh.key(slave) ^ 1);
    let forged = crypto::encrypt(&wrong, 4, &Command::Poll.encode(), &mut rng).unwrap();
    port.write_all(&Frame::new(false, 0, forged).encode().unwrap())
        .await
        .unwrap();
    let silent = tokio::time::timeout(Duration::from_millis(1500), port.read(&mut buf)).await;
    assert!(
        silent.is_err(),
        "device answered a forged packet: {silent:?}"
    );
}

async fn next_event(
    events: &mut tokio::sync::mpsc::Receiver<AcceptorEvent>,
    what: &str,
    pred: impl Fn(&AcceptorEvent) -> bool,
) -> AcceptorEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) if pred(&e) => return e,
            Ok(Some(_)) => {}
            Ok(None) => panic!("event channel closed while waiting for {what}"),
            Err(_) => panic!("no {what} within 30 s"),
        }
    }
}

#[tokio::test]
async fn the_actor_owns_the_device_and_reports_its_loss() {
    let running = sim::spawn(SimConfig::cny(Protocol::Ssp)).unwrap();
    let config = SspConfig {
        link: LinkConfig {
            retry_interval: Duration::from_millis(100),
            ..LinkConfig::default()
        },
        ..SspConfig::default()
    };
    let ssp = Ssp::open(&running.path, config).unwrap();
    let (handle, mut events) = actor::spawn(ssp, Duration::from_millis(200));
    let connected = next_event(&mut events, "connected", |e| {
        matches!(e, AcceptorEvent::Connected { .. })
    })
    .await;
    let AcceptorEvent::Connected { info } = connected else {
        unreachable!()
    };
    assert_eq!(handle.info().await.unwrap(), info);
    handle.enable(&[2000, 5000]).await.unwrap();
    running
        .actions
        .send(Action::Insert { fen: 5000 })
        .await
        .unwrap();
    next_event(&mut events, "escrow", |e| {
        *e == AcceptorEvent::Escrow { fen: 5000 }
    })
    .await;
    handle.clone().stack().await.unwrap();
    next_event(&mut events, "credit", |e| {
        *e == AcceptorEvent::Credit { fen: 5000 }
    })
    .await;

    // The device goes away: an event, not a panic; commands fail politely.
    running.task.abort();
    drop(running.guard);
    next_event(&mut events, "device lost", |e| {
        matches!(e, AcceptorEvent::DeviceLost { .. })
    })
    .await;
    assert!(handle.enable(&[2000]).await.is_err());
    // The task ends when the last handle goes.
    drop(handle);
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        while events.recv().await.is_some() {}
    })
    .await;
    assert!(closed.is_ok(), "actor task did not end");
}
