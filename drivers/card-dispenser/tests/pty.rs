//! The real driver against the simulator over a pseudo-terminal at 9600 8N1.

use std::time::Duration;

use card_dispenser::protocol::LinkError;
use card_dispenser::simulator::{Action, SimConfig, Simulator, StockKind};
use card_dispenser::{
    CaptureReason, CardDispenser, CardEvent, CardPosition, Condition, Config, Destination,
    ErrorCode, InitMode, PersoScript, PersoStep, SimKind, StackerLevel, Vcc, simcard,
};
use hex_literal::hex;

type Dispenser = CardDispenser<devio::SerialStream>;

fn start(config: SimConfig) -> (Simulator, Dispenser) {
    let sim = Simulator::start(config).expect("simulator");
    let d = CardDispenser::open(sim.path(), Config::default()).expect("open pty");
    (sim, d)
}

async fn ready(config: SimConfig) -> (Simulator, Dispenser) {
    let (sim, mut d) = start(config);
    d.initialize(InitMode::Leave).await.expect("init");
    (sim, d)
}

#[tokio::test]
async fn init_is_required_and_status_reports_the_machine() {
    let sim = Simulator::start(SimConfig {
        cards: 3,
        ..SimConfig::default()
    })
    .unwrap();
    let config = Config {
        reinit_after_power_loss: false,
        ..Config::default()
    };
    let mut d = CardDispenser::open(sim.path(), config).unwrap();
    assert_eq!(
        devio::LineSettings::of(d.transport()).unwrap(),
        devio::LineSettings::n81(9600)
    );
    let e = d.status().await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotReset));
    assert_eq!(e.condition(), Some(Condition::NotReset));

    let info = d.initialize(InitMode::Leave).await.unwrap();
    assert_eq!(info.firmware, "CRT-591-M001");
    assert_eq!(info.status.card_position, CardPosition::None);
    assert_eq!(info.status.stacker, StackerLevel::Low);
    assert!(!info.status.reject_bin_full);

    let (status, sensors) = d.sensors().await.unwrap();
    assert_eq!(status.card_position, CardPosition::None);
    assert!(sensors.0[6], "stacker sensor sees cards");
    assert_eq!(d.reject_counter().await.unwrap(), 0);
    d.set_reject_counter(7).await.unwrap();
    assert_eq!(d.reject_counter().await.unwrap(), 7);
    d.set_gate_entry(false).await.unwrap();
    // Every reply was acknowledged by the host (the last ACK may still be on its way).
    let mut acked = false;
    for _ in 0..100 {
        {
            let dev = sim.device();
            if dev.host_acks == dev.commands {
                acked = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        acked,
        "{} commands, {} ACKs",
        sim.device().commands,
        sim.device().host_acks
    );
}

#[tokio::test]
async fn move_to_ic_cold_reset_and_read_iccid_usim_and_2g() {
    let (sim, mut d) = ready(SimConfig {
        kind: StockKind::Alternate,
        ..SimConfig::default()
    })
    .await;

    let st = d.dispense_to_ic().await.unwrap();
    assert_eq!(st.card_position, CardPosition::Ic);
    let atr = d.cold_reset().await.unwrap();
    assert_eq!(atr.bytes, card_dispenser::simulator::USIM_ATR);
    let expected = sim.device().card_in_channel().unwrap().iccid.clone();
    let (kind, iccid) = simcard::read_iccid(&mut d).await.unwrap();
    assert_eq!(kind, SimKind::Usim);
    assert_eq!(iccid, expected);
    assert_eq!(iccid.as_str().len(), 20);
    let sent = sim.device().card_in_channel().unwrap().apdus.clone();
    assert_eq!(
        sent.first().unwrap(),
        &hex!("00 A4 00 00 02 3F 00").to_vec()
    );
    assert!(sent.contains(&hex!("00 B0 00 00 0A").to_vec()));
    // 6C xx: wrong Le re-issued with the right one.
    let r = d.exchange(&hex!("00 B0 00 00 00")).await.unwrap();
    assert!(r.is_ok());
    assert_eq!(r.data, expected.to_ef());
    d.power_off().await.unwrap();
    d.capture().await.unwrap();

    // The next card is a 2G SIM: the USIM SELECT is refused, class A0 answers.
    d.dispense_to_ic().await.unwrap();
    d.cold_reset().await.unwrap();
    let expected = sim.device().card_in_channel().unwrap().iccid.clone();
    let (kind, iccid) = simcard::read_iccid(&mut d).await.unwrap();
    assert_eq!(kind, SimKind::Gsm);
    assert_eq!(iccid, expected);
    let sent = sim.device().card_in_channel().unwrap().apdus.clone();
    assert!(
        sent.contains(&hex!("A0 C0 00 00 16").to_vec()),
        "GET RESPONSE after 9F xx"
    );
    assert!(sent.contains(&hex!("A0 B0 00 00 0A").to_vec()));
}

#[tokio::test]
async fn power_loss_is_healed_by_initialising_again() {
    let (sim, mut d) = ready(SimConfig::default()).await;
    d.dispense_to_ic().await.unwrap();
    sim.apply(Action::PowerCycle);
    // B0 → initialise (card left in place) → the status request is repeated.
    let st = d.status().await.unwrap();
    assert_eq!(st.card_position, CardPosition::Ic);
}

#[tokio::test]
async fn emv_activation_refuses_a_sim() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let config = Config {
        vcc: Vcc::Emv,
        ..Config::default()
    };
    let mut d = CardDispenser::open(sim.path(), config).unwrap();
    d.initialize(InitMode::Leave).await.unwrap();
    d.dispense_to_ic().await.unwrap();
    let e = d.cold_reset().await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotEmvCompliant));
    assert_eq!(e.condition(), Some(Condition::CardFault));
}

fn script(steps: &[&[u8]]) -> PersoScript {
    PersoScript {
        steps: steps
            .iter()
            .map(|a| PersoStep {
                apdu: a.to_vec(),
                expected_sw: vec![[0x90, 0x00]],
            })
            .collect(),
    }
}

#[tokio::test]
async fn personalisation_writes_and_a_failing_step_is_reported() {
    let (sim, mut d) = ready(SimConfig::default()).await;
    d.dispense_to_ic().await.unwrap();
    d.cold_reset().await.unwrap();
    let s = script(&[
        &hex!("00 20 00 0A 08 31 31 31 31 31 31 31 31"),
        &hex!("00 A4 00 00 02 6F 07"),
        &hex!("00 D6 00 00 09 08 69 08 00 10 32 54 76 98"),
    ]);
    let report = simcard::run_script(&mut d, &s).await.unwrap();
    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.steps_ok, 3);
    {
        let dev = sim.device();
        let card = dev.card_in_channel().unwrap();
        assert_eq!(
            card.file(0x6F07).unwrap(),
            hex!("08 69 08 00 10 32 54 76 98")
        );
        assert_eq!(card.writes.len(), 1);
    }
    d.power_off().await.unwrap();
    d.capture().await.unwrap();

    // The next card fails its 4th APDU after cold reset (VERIFY, SELECT, GET RESPONSE,
    // UPDATE BINARY): the third step of the script.
    sim.apply(Action::FailApdu {
        step: 4,
        sw: [0x65, 0x81],
    });
    d.dispense_to_ic().await.unwrap();
    d.cold_reset().await.unwrap();
    let report = simcard::run_script(&mut d, &s).await.unwrap();
    assert!(!report.is_success());
    assert_eq!(report.steps_ok, 2);
    assert_eq!(
        report.status_words,
        vec![[0x90, 0x00], [0x90, 0x00], [0x65, 0x81]]
    );
    let f = report.failure.unwrap();
    assert_eq!(f.index, 2);
    assert_eq!(f.header, hex!("00 D6 00 00"));
    assert_eq!(f.got, [0x65, 0x81]);
    assert_eq!(f.expected, vec![[0x90, 0x00]]);
    d.capture().await.unwrap();
    assert_eq!(sim.device().reject_bin.len(), 2);
}

#[tokio::test]
async fn jam_and_empty_stacker_are_mapped() {
    let (sim, mut d) = ready(SimConfig {
        cards: 1,
        ..SimConfig::default()
    })
    .await;
    sim.apply(Action::Jam);
    let e = d.issue_to_gate().await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::CardJam));
    assert_eq!(e.condition(), Some(Condition::Jam));
    sim.apply(Action::ClearJam);
    sim.apply(Action::Stacker(0));
    let e = d.move_card(Destination::Ic).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::StackerEmpty));
    assert_eq!(d.status().await.unwrap().stacker, StackerLevel::Empty);
    sim.apply(Action::Stacker(2));
    d.dispense_to_ic().await.unwrap();
    sim.apply(Action::RejectFull);
    assert!(d.status().await.unwrap().reject_bin_full);
    let e = d.capture().await.unwrap_err();
    assert_eq!(e.condition(), Some(Condition::RejectBinFull));
}

#[tokio::test]
async fn uncollected_card_is_captured_and_a_taken_one_is_seen() {
    let (sim, mut d) = ready(SimConfig::default()).await;
    let st = d.issue_to_gate().await.unwrap();
    assert_eq!(st.card_position, CardPosition::Gate);
    let ev = d.wait_taken(Duration::from_millis(800)).await.unwrap();
    assert_eq!(
        ev,
        CardEvent::Captured {
            reason: CaptureReason::NotTaken
        }
    );
    assert_eq!(d.status().await.unwrap().card_position, CardPosition::None);
    assert_eq!(sim.device().reject_bin.len(), 1);
    assert_eq!(d.reject_counter().await.unwrap(), 1);

    d.issue_to_gate().await.unwrap();
    sim.apply(Action::Take);
    let ev = d.wait_taken(Duration::from_secs(20)).await.unwrap();
    assert_eq!(ev, CardEvent::Taken);
    assert_eq!(sim.device().taken.len(), 1);
}

#[tokio::test]
async fn nak_and_silence_make_the_host_resend() {
    let (sim, mut d) = ready(SimConfig::default()).await;
    sim.apply(Action::Nak(2));
    d.status().await.unwrap();
    sim.apply(Action::Silent(1));
    d.status().await.unwrap();
    sim.apply(Action::Silent(3));
    let e = d.status().await.unwrap_err();
    assert!(
        matches!(
            e,
            card_dispenser::Error::Link(LinkError::NoAck { sends: 3 })
        ),
        "{e}"
    );
    assert!(e.is_no_answer());
    sim.apply(Action::Nak(3));
    let e = d.status().await.unwrap_err();
    assert!(
        matches!(e, card_dispenser::Error::Link(LinkError::Nak { sends: 3 })),
        "{e}"
    );
    // A reply damaged on the line is NAKed and sent again.
    sim.apply(Action::CorruptReply(2));
    assert_eq!(d.reject_counter().await.unwrap(), 0);
    assert_eq!(d.status().await.unwrap().card_position, CardPosition::None);
    assert_eq!(sim.device().host_naks, 2);
    // And the link is fine afterwards.
    d.status().await.unwrap();
}

#[tokio::test]
async fn wrong_address_gets_no_answer() {
    let sim = Simulator::start(SimConfig {
        address: 3,
        ..SimConfig::default()
    })
    .unwrap();
    let mut d = CardDispenser::open(sim.path(), Config::default()).unwrap();
    let e = d.initialize(InitMode::Leave).await.unwrap_err();
    assert!(e.is_no_answer());
    drop(d); // the port is opened exclusively
    let mut d = CardDispenser::open(
        sim.path(),
        Config {
            address: 3,
            ..Config::default()
        },
    )
    .unwrap();
    d.initialize(InitMode::Leave).await.unwrap();
    assert!(
        CardDispenser::open(
            sim.path(),
            Config {
                address: 0x10,
                ..Config::default()
            }
        )
        .is_err()
    );
}

/// Against a real CRT-591: `TELEKIOSK_DISPENSER_PORT=/dev/ttyUSB0 cargo test -p card-dispenser
/// --features hardware-tests`. Initialises without moving a card and reads the status.
#[cfg(feature = "hardware-tests")]
#[tokio::test]
async fn hardware_status() {
    let Ok(port) = std::env::var("TELEKIOSK_DISPENSER_PORT") else {
        panic!("set TELEKIOSK_DISPENSER_PORT to the dispenser's serial port");
    };
    let mut d = CardDispenser::open(port, Config::default()).unwrap();
    let info = d.initialize(InitMode::Leave).await.unwrap();
    assert!(!info.firmware.is_empty());
    d.sensors().await.unwrap();
    d.reject_counter().await.unwrap();
}

#[tokio::test]
async fn the_actor_issues_a_written_card() {
    let (sim, d) = start(SimConfig::default());
    let h = card_dispenser::spawn(d);
    h.initialize(InitMode::Leave).await.unwrap();
    h.dispense_to_ic().await.unwrap();
    h.cold_reset().await.unwrap();
    let (_, iccid) = h.read_iccid().await.unwrap();
    let report = h
        .run_script(script(&[
            &hex!("00 A4 00 00 02 6F 46"),
            &hex!("00 D6 00 00 03 01 41 42"),
        ]))
        .await
        .unwrap();
    assert!(report.is_success());
    h.power_off().await.unwrap();
    h.issue_to_gate().await.unwrap();
    let h2 = h.clone();
    let waiter = tokio::spawn(async move { h2.wait_taken(Duration::from_secs(20)).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    sim.apply(Action::Take);
    assert_eq!(waiter.await.unwrap().unwrap(), CardEvent::Taken);
    let dev = sim.device();
    let card = dev.taken.first().unwrap();
    assert_eq!(card.iccid, iccid);
    assert_eq!(&card.file(0x6F46).unwrap()[..3], &hex!("01 41 42"));
}
