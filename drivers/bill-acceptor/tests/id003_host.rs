//! The ID-003 host state machine without I/O: exact bytes it sends, what it makes of the
//! acceptor's answers, its retries on silence. Time is passed in.

use std::time::{Duration, Instant};

use bill_acceptor::id003::frame::Frame;
use bill_acceptor::id003::host::{Config, Done, Host, Op};
use bill_acceptor::id003::message::{Command, CurrencyEntry, CurrencyTable, Status};
use bill_acceptor::{AcceptorEvent, AcceptorState, Error};
use hex_literal::hex;
use proptest::collection::vec;
use proptest::prelude::*;

fn config() -> Config {
    Config {
        reply_timeout: Duration::from_millis(500),
        tries: 3,
        escrow_hold: Duration::from_secs(10),
        ..Config::default()
    }
}

fn sent(host: &mut Host) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| host.poll_transmit()).collect()
}

fn status(s: Status) -> Vec<u8> {
    s.to_frame().encode().unwrap()
}

fn ack() -> Vec<u8> {
    Command::Ack.encode()
}

fn table() -> Vec<u8> {
    let entries = [100u64, 500, 1000, 2000, 5000, 10_000]
        .iter()
        .zip(0x61u8..)
        .map(|(fen, code)| CurrencyEntry::for_fen(code, 0x9C, *fen).unwrap())
        .collect();
    let data = CurrencyTable { entries }.encode();
    Frame::new(0x8A, data).encode().unwrap()
}

/// A host that went through connect against scripted answers.
fn connected(t0: Instant) -> Host {
    let mut host = Host::new(config());
    host.begin(Op::Connect, t0).unwrap();
    let answers = [
        status(Status::PowerUp),
        ack(),
        Frame::new(0x88, *b"iVIZION CNY V1.23").encode().unwrap(),
        Frame::new(0x89, *b"BOOT-0042").encode().unwrap(),
        table(),
        Command::SetInhibit(true).encode(),
    ];
    let mut out = Vec::new();
    for a in answers {
        out.extend(sent(&mut host));
        host.handle_bytes(&a, t0);
    }
    assert_eq!(
        out,
        [
            hex!("FC 05 11 27 56").to_vec(),
            hex!("FC 05 40 2B 15").to_vec(),
            Command::VersionRequest.encode(),
            Command::BootVersionRequest.encode(),
            hex!("FC 05 8A 7D 7C").to_vec(),
            hex!("FC 06 C3 01 8D C7").to_vec(),
        ]
    );
    match host.poll_done() {
        Some(Ok(Done::Connected(info))) => {
            assert_eq!(info.firmware, "iVIZION CNY V1.23");
            assert_eq!(info.serial, "BOOT-0042");
            assert_eq!(info.currency, "CNY");
            assert_eq!(info.denominations.len(), 6);
        }
        other => panic!("connect: {other:?}"),
    }
    assert_eq!(host.take_events(), [AcceptorEvent::Reset]);
    host
}

/// What the acceptor answers to a command: settings are echoed, the rest ACKed.
fn answer_for(command: &[u8]) -> Vec<u8> {
    if command.get(2).is_some_and(|c| *c >= 0xC0) {
        command.to_vec()
    } else {
        ack()
    }
}

/// One poll answered with `answer`; returns what the host sent after the status request.
fn poll(host: &mut Host, answer: Status, now: Instant) -> Vec<Vec<u8>> {
    host.begin(Op::Poll, now).unwrap();
    assert_eq!(sent(host), [hex!("FC 05 11 27 56").to_vec()]);
    host.handle_bytes(&status(answer), now);
    let mut follow = sent(host);
    // Operation follow-ups (HOLD, RETURN, RESET) are answered with ACK, settings echoed.
    while host.poll_timeout().is_some() {
        let last = follow.last().cloned().unwrap_or_default();
        host.handle_bytes(&answer_for(&last), now);
        follow.extend(sent(host));
    }
    assert!(matches!(host.poll_done(), Some(Ok(Done::Ok))));
    follow
}

#[test]
fn connect_sends_the_documented_sequence() {
    let _ = connected(Instant::now());
}

/// Connects against exact reply bytes: power-up, ACK, the given version and currency
/// table, boot version, inhibit echo. Returns the currency reported.
fn currency_after_connect(version_reply: &[u8], table_reply: &[u8]) -> String {
    let t0 = Instant::now();
    let mut host = Host::new(config());
    host.begin(Op::Connect, t0).unwrap();
    let answers: [&[u8]; 6] = [
        &hex!("FC 05 40 2B 15"),
        &hex!("FC 05 50 AA 05"),
        version_reply,
        &hex!("FC 0E 89 42 4F 4F 54 2D 30 30 34 32 78 54"),
        table_reply,
        &hex!("FC 06 C3 01 8D C7"),
    ];
    for a in answers {
        let _ = sent(&mut host);
        host.handle_bytes(a, t0);
    }
    match host.poll_done() {
        Some(Ok(Done::Connected(info))) => info.currency,
        other => panic!("connect: {other:?}"),
    }
}

/// A currency-assign country code the driver's table does not know (0x11): the currency
/// comes from the version string, `i(CNY)-100-SS ID003-05V123-45 02JAN24`.
#[test]
fn unknown_country_code_takes_the_currency_from_the_version_string() {
    // 1 and 5 yuan on escrow codes 61, 62, country code 11.
    let table = hex!("FC 0D 8A 61 11 01 00 62 11 05 00 B1 86");
    let version = hex!(
        "FC 2A 88 69 28 43 4E 59 29 2D 31 30 30 2D 53 53 20 49 44 30 30 33 2D 30 35 56"
        "31 32 33 2D 34 35 20 30 32 4A 41 4E 32 34 F5 A0"
    );
    assert_eq!(currency_after_connect(&version, &table), "CNY");
    // Without a currency in the version string the code is all there is.
    let plain = hex!("FC 12 88 69 56 49 5A 49 4F 4E 20 56 31 2E 32 33 CD 19");
    assert_eq!(currency_after_connect(&plain, &table), "JCM-11");
    // A known country code wins over the version string.
    let cny = Frame::new(0x8A, hex!("61 9C 01 00 62 9C 05 00"))
        .encode()
        .unwrap();
    let eur_version = Frame::new(0x88, *b"i(EUR)-100-SS").encode().unwrap();
    assert_eq!(currency_after_connect(&eur_version, &cny), "CNY");
}

/// The kiosk restarted while a note waited in escrow: the first status shows it, and the
/// host sends RETURN (`FC 05 43 B0 27`) before the reset, then reports the note returned,
/// valued through the currency table it reads afterwards.
#[test]
fn note_in_escrow_at_connect_is_returned_before_the_reset() {
    let t0 = Instant::now();
    let mut host = Host::new(config());
    host.begin(Op::Connect, t0).unwrap();
    let answers = [
        status(Status::Escrow(0x64)),
        ack(),
        ack(),
        Frame::new(0x88, *b"i(CNY)-100-SS ID003-05V123-45")
            .encode()
            .unwrap(),
        Frame::new(0x89, *b"BOOT-0042").encode().unwrap(),
        table(),
        Command::SetInhibit(true).encode(),
    ];
    let mut out = Vec::new();
    for a in answers {
        out.extend(sent(&mut host));
        host.handle_bytes(&a, t0);
    }
    assert_eq!(
        out,
        [
            hex!("FC 05 11 27 56").to_vec(),
            hex!("FC 05 43 B0 27").to_vec(),
            hex!("FC 05 40 2B 15").to_vec(),
            Command::VersionRequest.encode(),
            Command::BootVersionRequest.encode(),
            hex!("FC 05 8A 7D 7C").to_vec(),
            hex!("FC 06 C3 01 8D C7").to_vec(),
        ]
    );
    assert!(matches!(host.poll_done(), Some(Ok(Done::Connected(_)))));
    // Escrow code 0x64 is the fourth entry of the table: 20 yuan.
    assert_eq!(
        host.take_events(),
        [AcceptorEvent::Returned { fen: Some(2000) }]
    );
    // The acceptor initialises afterwards: nothing more is said about that note.
    host.begin(Op::Poll, t0).unwrap();
    host.handle_bytes(&status(Status::Initializing), t0);
    assert!(host.take_events().is_empty());
}

/// Holding (`19`) carries no escrow code: the note goes back all the same, value unknown.
#[test]
fn holding_at_connect_is_returned_with_its_value_unknown() {
    let t0 = Instant::now();
    let mut host = Host::new(config());
    host.begin(Op::Connect, t0).unwrap();
    assert_eq!(sent(&mut host), [hex!("FC 05 11 27 56").to_vec()]);
    host.handle_bytes(&status(Status::Holding), t0);
    assert_eq!(sent(&mut host), [hex!("FC 05 43 B0 27").to_vec()]);
    // The escrow timed out meanwhile: RETURN refused with the status; connect goes on.
    host.handle_bytes(&status(Status::Returning), t0);
    assert_eq!(sent(&mut host), [hex!("FC 05 40 2B 15").to_vec()]);
    for a in [
        ack(),
        Frame::new(0x88, *b"iVIZION").encode().unwrap(),
        Frame::new(0x89, *b"BOOT").encode().unwrap(),
        table(),
        Command::SetInhibit(true).encode(),
    ] {
        host.handle_bytes(&a, t0);
        let _ = sent(&mut host);
    }
    assert!(matches!(host.poll_done(), Some(Ok(Done::Connected(_)))));
    // Not acknowledged, so not claimed by the connect; the RETURNING status said it.
    assert_eq!(host.take_events(), [AcceptorEvent::Returned { fen: None }]);
}

#[test]
fn enable_all_sends_enable_all_and_clears_inhibit() {
    let t0 = Instant::now();
    let mut host = connected(t0);
    host.begin(Op::Enable(vec![100, 500, 1000, 2000, 5000, 10_000]), t0)
        .unwrap();
    let c0 = sent(&mut host);
    assert_eq!(c0, [hex!("FC 07 C0 00 00 2D B5").to_vec()]);
    host.handle_bytes(&c0[0], t0);
    let c3 = sent(&mut host);
    assert_eq!(c3, [hex!("FC 06 C3 00 04 D6").to_vec()]);
    host.handle_bytes(&c3[0], t0);
    assert!(matches!(host.poll_done(), Some(Ok(Done::Ok))));

    // Only 20 and 50 yuan: escrow codes 61, 62, 63, 66 refused.
    host.begin(Op::Enable(vec![2000, 5000]), t0).unwrap();
    assert_eq!(
        sent(&mut host),
        [Command::SetDenominations([0b0010_0111, 0]).encode()]
    );
}

#[test]
fn escrow_is_valued_from_the_table_and_held_until_the_host_decides() {
    let t0 = Instant::now();
    let mut host = connected(t0);
    let follow = poll(&mut host, Status::Escrow(0x64), t0);
    assert_eq!(follow, [Command::Hold.encode()]);
    assert_eq!(host.take_events(), [AcceptorEvent::Escrow { fen: 2000 }]);
    assert_eq!(host.state(), AcceptorState::Escrow);
    // Holding: still held, no new escrow event.
    let follow = poll(&mut host, Status::Holding, t0 + Duration::from_secs(5));
    assert_eq!(follow, [Command::Hold.encode()]);
    assert!(host.take_events().is_empty());
    // After the hold budget the driver stops holding; the acceptor's timeout decides.
    let follow = poll(&mut host, Status::Holding, t0 + Duration::from_secs(11));
    assert!(follow.is_empty());
}

#[test]
fn vend_valid_is_acked_every_time_but_credited_once() {
    let t0 = Instant::now();
    let mut host = connected(t0);
    poll(&mut host, Status::Escrow(0x66), t0);
    host.take_events();
    host.begin(Op::Stack, t0).unwrap();
    assert_eq!(sent(&mut host), [hex!("FC 05 41 A2 04").to_vec()]);
    host.handle_bytes(&ack(), t0);
    assert!(matches!(host.poll_done(), Some(Ok(Done::Ok))));
    poll(&mut host, Status::Stacking, t0);
    assert_eq!(host.take_events(), [AcceptorEvent::Stacking]);

    // VEND VALID: the ACK goes out, and the credit with it.
    host.begin(Op::Poll, t0).unwrap();
    sent(&mut host);
    host.handle_bytes(&status(Status::VendValid), t0);
    assert_eq!(sent(&mut host), [hex!("FC 05 50 AA 05").to_vec()]);
    assert!(matches!(host.poll_done(), Some(Ok(Done::Ok))));
    assert_eq!(host.take_events(), [AcceptorEvent::Credit { fen: 10_000 }]);

    // The ACK was lost: VEND VALID again, ACK again, no second credit.
    let follow = poll(&mut host, Status::VendValid, t0);
    assert_eq!(follow, [ack()]);
    assert!(host.take_events().is_empty());
    poll(&mut host, Status::Stacked, t0);
    poll(&mut host, Status::Idling, t0);
    assert_eq!(host.take_events(), [AcceptorEvent::Stacked]);
}

#[test]
fn vend_valid_without_a_seen_escrow_is_reported_for_settlement() {
    let t0 = Instant::now();
    let mut host = connected(t0);
    poll(&mut host, Status::VendValid, t0);
    assert_eq!(
        host.take_events(),
        [AcceptorEvent::PowerUpNoteInCashbox { fen: None }]
    );
}

#[test]
fn unknown_escrow_code_is_returned_at_once() {
    let t0 = Instant::now();
    let mut host = connected(t0);
    let follow = poll(&mut host, Status::Escrow(0x6F), t0);
    assert_eq!(follow, [hex!("FC 05 43 B0 27").to_vec()]);
    assert!(host.take_events().is_empty());
    poll(&mut host, Status::Returning, t0);
    assert_eq!(host.take_events(), [AcceptorEvent::Returned { fen: None }]);
}

#[test]
fn power_up_statuses_are_told_apart() {
    let t0 = Instant::now();
    let mut host = connected(t0);
    poll(&mut host, Status::Escrow(0x62), t0);
    host.take_events();
    let follow = poll(&mut host, Status::PowerUpBillInAcceptor, t0);
    // RESET, then the wanted acceptance (inhibited) again.
    assert_eq!(
        follow,
        [Command::Reset.encode(), Command::SetInhibit(true).encode()]
    );
    assert_eq!(
        host.take_events(),
        [
            AcceptorEvent::Reset,
            AcceptorEvent::PowerUpNoteReturned { fen: Some(500) }
        ]
    );

    poll(&mut host, Status::Disabled, t0);
    host.take_events();
    poll(&mut host, Status::PowerUpBillInStacker, t0);
    assert_eq!(
        host.take_events(),
        [
            AcceptorEvent::Reset,
            AcceptorEvent::PowerUpNoteInCashbox { fen: None }
        ]
    );
    poll(&mut host, Status::Disabled, t0);
    assert_eq!(host.take_events(), [AcceptorEvent::Disabled]);
    poll(&mut host, Status::PowerUp, t0);
    assert_eq!(host.take_events(), [AcceptorEvent::Reset]);
}

#[test]
fn device_conditions_become_events() {
    let t0 = Instant::now();
    let mut host = connected(t0);
    let cases = [
        (
            Status::StackerFull,
            vec![AcceptorEvent::StackerFull],
            AcceptorState::StackerFull,
        ),
        (
            Status::StackerOpen,
            vec![AcceptorEvent::CashboxRemoved],
            AcceptorState::CashboxOut,
        ),
        (
            Status::Disabled,
            vec![AcceptorEvent::CashboxReplaced, AcceptorEvent::Disabled],
            AcceptorState::Disabled,
        ),
        (
            Status::AcceptorJam,
            vec![AcceptorEvent::Jam { safe: false }],
            AcceptorState::Jammed,
        ),
        (
            Status::StackerJam,
            vec![AcceptorEvent::Jam { safe: true }],
            AcceptorState::Jammed,
        ),
        (
            Status::Cheated,
            vec![AcceptorEvent::Fraud { fen: None }],
            AcceptorState::Rejecting,
        ),
        (
            Status::Failure(0xA2),
            vec![AcceptorEvent::Failure {
                code: 0xA2,
                text: "stack motor failure",
            }],
            AcceptorState::Failure,
        ),
        (Status::Pause, vec![], AcceptorState::Stacking),
        (
            Status::Accepting,
            vec![AcceptorEvent::Reading],
            AcceptorState::Accepting,
        ),
    ];
    for (s, events, state) in cases {
        poll(&mut host, s, t0);
        assert_eq!(host.take_events(), events, "{s:?}");
        assert_eq!(host.state(), state, "{s:?}");
        // The same status again is not a new event.
        poll(&mut host, s, t0);
        assert!(host.take_events().is_empty(), "{s:?} repeated");
    }
    poll(&mut host, Status::Rejecting(0x71), t0);
    match host.take_events().as_slice() {
        [AcceptorEvent::Rejected { reason: Some(r) }] => {
            assert_eq!((r.code, r.text), (0x71, "insertion error"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn silence_is_retried_then_reported() {
    let t0 = Instant::now();
    let mut host = connected(t0);
    host.begin(Op::Poll, t0).unwrap();
    let mut sends = sent(&mut host).len();
    let mut now = t0;
    for _ in 0..10 {
        now = host.poll_timeout().unwrap_or(now);
        host.handle_timeout(now);
        sends += sent(&mut host).len();
        if host.poll_timeout().is_none() {
            break;
        }
    }
    assert_eq!(sends, 3);
    assert!(matches!(
        host.poll_done(),
        Some(Err(Error::NoAnswer { tries: 3 }))
    ));
    // Nothing happens before the deadline.
    host.begin(Op::Poll, now).unwrap();
    sent(&mut host);
    host.handle_timeout(now + Duration::from_millis(100));
    assert!(sent(&mut host).is_empty());
}

#[test]
fn communication_error_resends_and_invalid_command_refuses() {
    let t0 = Instant::now();
    let mut host = connected(t0);
    host.begin(Op::Poll, t0).unwrap();
    sent(&mut host);
    host.handle_bytes(&status(Status::CommunicationError), t0);
    assert_eq!(sent(&mut host), [Command::StatusRequest.encode()]);
    host.handle_bytes(&status(Status::Idling), t0);
    assert!(matches!(host.poll_done(), Some(Ok(Done::Ok))));

    poll(&mut host, Status::Escrow(0x61), t0);
    host.begin(Op::Return, t0).unwrap();
    sent(&mut host);
    host.handle_bytes(&status(Status::InvalidCommand), t0);
    assert!(matches!(
        host.poll_done(),
        Some(Err(Error::Refused {
            command: "return",
            reason: "invalid command"
        }))
    ));
}

#[test]
fn stack_without_escrow_is_refused_locally() {
    let t0 = Instant::now();
    let mut host = connected(t0);
    assert!(matches!(
        host.begin(Op::Stack, t0),
        Err(Error::Refused { .. })
    ));
    assert!(sent(&mut host).is_empty());
}

proptest! {
    #[test]
    fn random_answers_never_panic_the_host(chunks in vec(vec(any::<u8>(), 0..40), 0..8)) {
        let t0 = Instant::now();
        let mut host = connected(t0);
        host.begin(Op::Poll, t0).unwrap();
        for c in &chunks {
            host.handle_bytes(c, t0);
            let _ = sent(&mut host);
        }
        let _ = host.take_events();
    }

    #[test]
    fn random_statuses_never_panic_the_host(codes in vec((any::<u8>(), any::<u8>()), 1..12)) {
        let t0 = Instant::now();
        let mut host = connected(t0);
        for (i, (code, data)) in codes.iter().enumerate() {
            let now = t0 + Duration::from_millis(100 * i as u64);
            if host.begin(Op::Poll, now).is_err() {
                break;
            }
            sent(&mut host);
            host.handle_bytes(&Frame::new(*code, [*data]).encode().unwrap(), now);
            // Answer whatever follows with ACK / echo, or let it time out.
            for _ in 0..6 {
                let out = sent(&mut host);
                if let Some(last) = out.last() {
                    host.handle_bytes(&answer_for(last), now);
                }
                if let Some(deadline) = host.poll_timeout() {
                    host.handle_timeout(deadline);
                }
            }
            let _ = host.poll_done();
            let _ = host.take_events();
        }
    }
}

#[test]
fn vend_valid_found_at_connect_is_acked_and_reported_for_settlement() {
    let t0 = Instant::now();
    let mut host = Host::new(config());
    host.begin(Op::Connect, t0).unwrap();
    sent(&mut host);
    host.handle_bytes(&status(Status::VendValid), t0);
    assert_eq!(sent(&mut host), [ack(), Command::Reset.encode()]);
    assert_eq!(
        host.take_events(),
        [AcceptorEvent::PowerUpNoteInCashbox { fen: None }]
    );
}

#[test]
fn an_abandoned_operation_does_not_block_the_next() {
    let t0 = Instant::now();
    let mut host = connected(t0);
    host.begin(Op::Poll, t0).unwrap();
    sent(&mut host);
    // The caller gave up waiting (its future was dropped); a new poll starts cleanly.
    host.begin(Op::Poll, t0).unwrap();
    assert_eq!(sent(&mut host), [Command::StatusRequest.encode()]);
    host.handle_bytes(&status(Status::Disabled), t0);
    assert!(matches!(host.poll_done(), Some(Ok(Done::Ok))));
}

#[test]
fn a_note_lost_track_of_after_stacking_is_reported_for_settlement() {
    let t0 = Instant::now();
    let mut host = connected(t0);
    poll(&mut host, Status::Escrow(0x63), t0);
    host.begin(Op::Stack, t0).unwrap();
    sent(&mut host);
    host.handle_bytes(&ack(), t0);
    host.poll_done();
    host.take_events();
    // The acceptor was reset behind the host's back: idle again, no VEND VALID seen.
    poll(&mut host, Status::Initializing, t0);
    assert_eq!(
        host.take_events(),
        [AcceptorEvent::PowerUpNoteInCashbox { fen: Some(1000) }]
    );

    // Before stacking it would have gone back to the customer.
    poll(&mut host, Status::Idling, t0);
    poll(&mut host, Status::Escrow(0x63), t0);
    host.take_events();
    poll(&mut host, Status::Idling, t0);
    assert_eq!(
        host.take_events(),
        [AcceptorEvent::Returned { fen: Some(1000) }]
    );
}
