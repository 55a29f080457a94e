//! The real driver against the simulator over a pseudo-terminal at 115200 8N1.

use std::time::Duration;

use idcard_reader::frame::Status;
use idcard_reader::sim::{Fault, ReaderSim, Simulator, builtin_cards};
use idcard_reader::{CardKind, IdCardReader, ReaderConfig, ReaderError, ValidTo, WaitOutcome};
use time::macros::date;

/// Generous timeouts: the machine may be loaded; nothing here asserts on speed.
fn config() -> ReaderConfig {
    ReaderConfig {
        command_timeout: Duration::from_secs(3),
        poll_interval: Duration::from_millis(100),
        ..ReaderConfig::default()
    }
}

fn start() -> (Simulator, IdCardReader<devio::SerialStream>) {
    let sim = Simulator::start(ReaderSim::new(builtin_cards().unwrap())).unwrap();
    let port = devio::open_serial(sim.path(), idcard_reader::LINE_SETTINGS).unwrap();
    (sim, IdCardReader::new(port, config()))
}

async fn read(reader: &mut IdCardReader<devio::SerialStream>) -> idcard_reader::CardRead {
    match reader.wait_for_card(Duration::from_secs(20)).await.unwrap() {
        WaitOutcome::Card(c) => c,
        other => panic!("expected a card, got {other:?}"),
    }
}

#[tokio::test]
async fn every_card_type_reads_over_the_pty() {
    let (sim, mut reader) = start();
    reader.sam_status().await.unwrap();
    assert_eq!(
        reader.sam_id().await.unwrap().to_string(),
        "05.01-20101028-0001234567-0089012345"
    );
    let today = date!(2026 - 11 - 22);
    for name in [
        "resident",
        "resident_long_term",
        "resident_expired",
        "resident_minor",
        "resident_bad_check_digit",
        "hmt_residence",
        "foreign_permanent_2017",
        "foreign_permanent_2023",
    ] {
        let want = sim.with(|s| s.cards().iter().find(|c| c.name == name).unwrap().clone());
        sim.with(|s| assert!(s.place(name)));
        let card = read(&mut reader).await;
        assert_eq!(card.text, want.text, "{name}");
        assert_eq!(&card.photo, want.photo(), "{name}");
        match name {
            "resident_long_term" => assert_eq!(card.text.valid_to(), ValidTo::LongTerm),
            "resident_expired" => assert!(card.text.is_expired(today)),
            "resident_minor" => assert!(card.text.age_on(today) < 16),
            "resident_bad_check_digit" => assert_eq!(card.text.check_digit_ok(), Some(false)),
            "foreign_permanent_2017" => {
                assert_eq!(card.text.kind(), CardKind::ForeignPermanent2017);
                assert_eq!(card.text.check_digit_ok(), None);
            }
            _ => assert_ne!(card.text.check_digit_ok(), Some(false), "{name}"),
        }
        sim.with(|s| s.remove());
        // The driver sees the card leave before the next one.
        assert_eq!(
            reader
                .wait_for_card(Duration::from_millis(300))
                .await
                .unwrap(),
            WaitOutcome::NoCard
        );
    }
}

#[tokio::test]
async fn fingerprint_read_and_new_address() {
    let (sim, port_reader) = start();
    let port = port_reader.into_inner();
    let mut reader = IdCardReader::new(
        port,
        ReaderConfig {
            read_fingerprint: true,
            ..config()
        },
    );
    sim.with(|s| s.place("foreign_permanent_2023"));
    let card = read(&mut reader).await;
    assert!(card.fingerprint.is_some());
    assert_eq!(card.text.kind(), CardKind::ForeignPermanent2023);
    sim.with(|s| s.remove());
    assert_eq!(
        reader
            .wait_for_card(Duration::from_millis(300))
            .await
            .unwrap(),
        WaitOutcome::NoCard
    );
    sim.with(|s| s.place("resident_expired"));
    let card = read(&mut reader).await;
    assert!(card.fingerprint.is_none());
    // Still selected: the newest address page is absent on this card (SW3 91).
    assert_eq!(reader.read_new_address().await.unwrap(), None);
    sim.with(|s| s.remove());
    assert_eq!(
        reader
            .wait_for_card(Duration::from_millis(300))
            .await
            .unwrap(),
        WaitOutcome::NoCard
    );
    sim.with(|s| s.place("resident"));
    let _ = read(&mut reader).await;
    assert_eq!(
        reader.read_new_address().await.unwrap().as_deref(),
        Some("北京市东城区测试路9号")
    );
}

#[tokio::test]
async fn no_card_times_out_as_an_outcome() {
    let (_sim, mut reader) = start();
    assert_eq!(
        reader
            .wait_for_card(Duration::from_millis(500))
            .await
            .unwrap(),
        WaitOutcome::NoCard
    );
}

#[tokio::test]
async fn a_card_left_on_the_reader_is_not_read_twice() {
    let (sim, mut reader) = start();
    // A reader that keeps finding the card after the read: the driver must wait for it
    // to leave the field.
    sim.with(|s| {
        s.set_halt_after_read(false);
        s.place("resident")
    });
    let _ = read(&mut reader).await;
    assert!(reader.awaiting_removal());
    assert_eq!(
        reader
            .wait_for_card(Duration::from_millis(600))
            .await
            .unwrap(),
        WaitOutcome::NoCard
    );
    assert_eq!(sim.with(|s| s.reads()), 1);
    sim.with(|s| s.remove());
    assert_eq!(
        reader
            .wait_for_card(Duration::from_millis(300))
            .await
            .unwrap(),
        WaitOutcome::NoCard
    );
    assert!(!reader.awaiting_removal());
    sim.with(|s| s.place("resident"));
    let _ = read(&mut reader).await;
    assert_eq!(sim.with(|s| s.reads()), 2);

    // The default reader halts the card: same rule, seen from the reader's side.
    sim.with(|s| {
        s.set_halt_after_read(true);
        s.remove()
    });
    assert_eq!(
        reader
            .wait_for_card(Duration::from_millis(300))
            .await
            .unwrap(),
        WaitOutcome::NoCard
    );
    sim.with(|s| s.place("hmt_residence"));
    let card = read(&mut reader).await;
    assert_eq!(card.text.kind(), CardKind::HmtResidence);
    assert_eq!(
        reader
            .wait_for_card(Duration::from_millis(600))
            .await
            .unwrap(),
        WaitOutcome::NoCard
    );
    assert_eq!(sim.with(|s| s.reads()), 3);
}

#[tokio::test]
async fn bad_checksum_reply_is_an_error_never_data() {
    let (sim, mut reader) = start();
    sim.with(|s| {
        s.place("resident");
        s.set_fault(Fault::BadChecksum)
    });
    let err = reader
        .wait_for_card(Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, ReaderError::BadFrame { .. }), "{err:?}");
    // Cleared: the same card reads fine.
    sim.with(|s| s.set_fault(Fault::None));
    let card = read(&mut reader).await;
    assert_eq!(card.text.kind(), CardKind::Resident);
}

#[tokio::test]
async fn sam_failure_is_reported() {
    let (sim, mut reader) = start();
    sim.with(|s| s.set_fault(Fault::SamFailure));
    let err = reader.sam_status().await.unwrap_err();
    assert!(err.is_sam_failure(), "{err:?}");
    sim.with(|s| s.place("resident"));
    let err = reader
        .wait_for_card(Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(err.is_sam_failure(), "{err:?}");
}

#[tokio::test]
async fn read_failure_and_rejected_card_are_outcomes() {
    let (sim, mut reader) = start();
    sim.with(|s| {
        s.place("resident");
        s.set_fault(Fault::ReadFailure)
    });
    assert_eq!(
        reader.wait_for_card(Duration::from_secs(10)).await.unwrap(),
        WaitOutcome::ReadFailed(Status::ReadFailed)
    );
    sim.with(|s| {
        s.remove();
        s.place("resident");
        s.set_fault(Fault::CardRejected)
    });
    // The failed card must leave first; then the rejected one is reported.
    assert_eq!(
        reader
            .wait_for_card(Duration::from_millis(300))
            .await
            .unwrap(),
        WaitOutcome::NoCard
    );
    sim.with(|s| s.remove());
    assert_eq!(
        reader
            .wait_for_card(Duration::from_millis(300))
            .await
            .unwrap(),
        WaitOutcome::NoCard
    );
    sim.with(|s| s.place("resident"));
    assert_eq!(
        reader.wait_for_card(Duration::from_secs(10)).await.unwrap(),
        WaitOutcome::CardRejected(Status::SamAuthenticatesCardFailed)
    );
}

#[tokio::test]
async fn silent_reader_times_out() {
    let (sim, port_reader) = start();
    let port = port_reader.into_inner();
    let mut reader = IdCardReader::new(
        port,
        ReaderConfig {
            command_timeout: Duration::from_millis(300),
            link_retries: 1,
            ..config()
        },
    );
    sim.with(|s| s.set_fault(Fault::Silent));
    let err = reader.sam_status().await.unwrap_err();
    assert!(matches!(err, ReaderError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn actor_handles_share_the_reader() {
    let (sim, reader) = start();
    let handle = idcard_reader::actor::spawn(reader);
    let other = handle.clone();
    other.sam_status().await.unwrap();
    sim.with(|s| s.place("foreign_permanent_2017"));
    match handle.wait_for_card(Duration::from_secs(20)).await.unwrap() {
        WaitOutcome::Card(card) => assert_eq!(card.text.kind(), CardKind::ForeignPermanent2017),
        other => panic!("{other:?}"),
    }
    sim.with(|s| s.set_fault(Fault::SamFailure));
    let err = other.sam_status().await.unwrap_err();
    assert!(
        matches!(err, idcard_reader::actor::ActorError::Reader(ref e) if e.is_sam_failure()),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_abandoned_wait_leaves_the_next_card_to_the_next_wait() {
    let (sim, reader) = start();
    let handle = idcard_reader::actor::spawn(reader);
    // A customer's wait that the kiosk gave up on (the session ended): its task is aborted
    // while the reader still polls for 30 s.
    let stale = {
        let h = handle.clone();
        tokio::spawn(async move { h.wait_for_card(Duration::from_secs(30)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    stale.abort();
    // The next customer's wait, then their card: the read is theirs, not the stale wait's.
    let next = {
        let h = handle.clone();
        tokio::spawn(async move { h.wait_for_card(Duration::from_secs(20)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.with(|s| s.place("resident_long_term"));
    match next.await.unwrap().unwrap() {
        WaitOutcome::Card(card) => assert_eq!(card.text.kind(), CardKind::Resident),
        other => panic!("the next wait got {other:?}"),
    }
}

#[tokio::test]
async fn a_card_swapped_between_two_waits_is_read_as_new() {
    let (sim, reader) = start();
    let handle = idcard_reader::actor::spawn(reader);
    sim.with(|s| s.place("resident"));
    match handle.wait_for_card(Duration::from_secs(20)).await.unwrap() {
        WaitOutcome::Card(card) => assert_eq!(card.text.kind(), CardKind::Resident),
        other => panic!("{other:?}"),
    }
    // The first customer takes the card back and the next one puts theirs down while no
    // wait is active: nobody asked the reader, yet the new card must count as new.
    sim.with(|s| s.remove());
    tokio::time::sleep(Duration::from_millis(600)).await;
    sim.with(|s| s.place("foreign_permanent_2017"));
    match handle.wait_for_card(Duration::from_secs(5)).await.unwrap() {
        WaitOutcome::Card(card) => assert_eq!(card.text.kind(), CardKind::ForeignPermanent2017),
        other => panic!("the next customer's card was not read: {other:?}"),
    }
}
