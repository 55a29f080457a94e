//! The simulated ID-003 acceptor as a pure model: frames and time in, replies out.

use std::time::{Duration, Instant};

use bill_acceptor::Protocol;
use bill_acceptor::id003::frame::{Decoder, Frame};
use bill_acceptor::id003::message::{Command, Status};
use bill_acceptor::id003::sim::{Acceptor, POWER_OFF};
use bill_acceptor::sim::{Action, SimConfig};
use hex_literal::hex;

struct Bench {
    acceptor: Acceptor,
    now: Instant,
}

impl Bench {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            acceptor: Acceptor::new(&SimConfig::cny(Protocol::Id003), now),
            now,
        }
    }

    fn send(&mut self, cmd: Command) -> Option<Frame> {
        let reply = self.acceptor.on_frame(&cmd.to_frame(), self.now)?;
        let mut d = Decoder::new();
        d.push(&reply);
        let frame = d.next_frame();
        assert!(frame.is_some(), "bad reply bytes {reply:02X?}");
        frame
    }

    /// The status, asking again like a host while the acceptor is silent (power off).
    fn status(&mut self) -> Status {
        for _ in 0..50 {
            if let Some(frame) = self.send(Command::StatusRequest) {
                return Status::parse(&frame).unwrap();
            }
            self.now += Duration::from_millis(100);
            self.acceptor.tick(self.now);
        }
        panic!("the acceptor stays silent");
    }

    /// Lets time pass until the acceptor stops answering (a power cut).
    fn until_silent(&mut self) {
        for _ in 0..100 {
            if self.send(Command::StatusRequest).is_none() {
                return;
            }
            self.now += Duration::from_millis(50);
            self.acceptor.tick(self.now);
        }
        panic!("no power cut happened");
    }

    /// Lets time pass, asking for the status as a host would, until it changes.
    fn next_status(&mut self) -> Status {
        let first = self.status();
        for _ in 0..100 {
            self.now += Duration::from_millis(50);
            self.acceptor.tick(self.now);
            let s = self.status();
            if s != first {
                return s;
            }
        }
        panic!("status stuck at {first:?}");
    }

    fn ready(&mut self) {
        assert_eq!(self.status(), Status::PowerUp);
        assert_eq!(self.send(Command::Reset), Some(Frame::new(0x50, [])));
        assert_eq!(self.status(), Status::Initializing);
        assert_eq!(self.next_status(), Status::Disabled);
        assert_eq!(
            self.send(Command::SetInhibit(false)),
            Some(Command::SetInhibit(false).to_frame())
        );
        assert_eq!(self.status(), Status::Idling);
    }
}

#[test]
fn power_up_waits_for_reset_then_initialises_inhibited() {
    let mut b = Bench::new();
    b.now += Duration::from_secs(5);
    b.acceptor.tick(b.now);
    assert_eq!(b.status(), Status::PowerUp);
    b.ready();
}

#[test]
fn currency_table_and_identity_answers() {
    let mut b = Bench::new();
    let table = b.send(Command::CurrencyAssignRequest).unwrap();
    assert_eq!(table.code, 0x8A);
    assert_eq!(
        table.data,
        hex!("61 9C 01 00  62 9C 05 00  63 9C 01 01  64 9C 02 01  65 9C 05 01  66 9C 01 02")
    );
    assert_eq!(
        b.send(Command::VersionRequest).unwrap().data,
        b"iVIZION CNY V1.23"
    );
    assert_eq!(
        b.send(Command::BootVersionRequest).unwrap().data,
        b"IVIZION-0042"
    );
}

#[test]
fn vend_valid_repeats_until_the_host_acks() {
    let mut b = Bench::new();
    b.ready();
    b.acceptor.push_action(Action::Insert { fen: 2000 });
    b.acceptor.tick(b.now);
    assert_eq!(b.status(), Status::Accepting);
    assert_eq!(b.next_status(), Status::Escrow(0x64));
    assert_eq!(b.send(Command::Stack1), Some(Frame::new(0x50, [])));
    assert_eq!(b.status(), Status::Stacking);
    assert_eq!(b.next_status(), Status::VendValid);
    for _ in 0..5 {
        b.now += Duration::from_secs(1);
        b.acceptor.tick(b.now);
        assert_eq!(b.status(), Status::VendValid);
    }
    assert_eq!(b.send(Command::Ack), None, "the host's ACK gets no answer");
    assert_eq!(b.status(), Status::Stacked);
    assert_eq!(b.next_status(), Status::Idling);
    assert_eq!(b.acceptor.in_cashbox(), 1);
}

#[test]
fn escrow_times_out_unless_held() {
    let mut b = Bench::new();
    b.ready();
    b.acceptor.push_action(Action::Insert { fen: 100 });
    b.acceptor.tick(b.now);
    assert_eq!(b.next_status(), Status::Escrow(0x61));
    // HOLD restarts the acceptor's 5 s escrow timer.
    for _ in 0..4 {
        b.now += Duration::from_secs(3);
        b.acceptor.tick(b.now);
        assert_eq!(b.send(Command::Hold), Some(Frame::new(0x50, [])));
        assert_eq!(b.status(), Status::Holding);
    }
    b.now += Duration::from_secs(6);
    b.acceptor.tick(b.now);
    assert_eq!(b.status(), Status::Returning);
    assert_eq!(b.next_status(), Status::Idling);
    assert_eq!(b.acceptor.in_cashbox(), 0);
}

#[test]
fn invalid_commands_are_refused() {
    let mut b = Bench::new();
    b.ready();
    assert_eq!(
        b.send(Command::Stack1),
        Some(Status::InvalidCommand.to_frame())
    );
    assert_eq!(
        b.send(Command::Return),
        Some(Status::InvalidCommand.to_frame())
    );
    let unknown = b.acceptor.on_frame(&Frame::new(0x77, []), b.now).unwrap();
    assert_eq!(unknown, Status::InvalidCommand.to_frame().encode().unwrap());
    assert_eq!(unknown[..3], hex!("FC 05 4B"));
}

#[test]
fn power_cuts_report_where_the_note_was() {
    let mut b = Bench::new();
    b.ready();
    b.acceptor.push_action(Action::PowerCutWhileStacking);
    b.acceptor.push_action(Action::Insert { fen: 5000 });
    b.acceptor.tick(b.now);
    assert_eq!(b.next_status(), Status::Escrow(0x65));
    b.send(Command::Stack1);
    b.until_silent();
    b.now += POWER_OFF;
    assert_eq!(b.status(), Status::PowerUpBillInStacker);
    b.send(Command::Reset);
    assert_eq!(
        b.acceptor.in_cashbox(),
        1,
        "the note goes into the cashbox on reset"
    );
    assert_eq!(b.next_status(), Status::Disabled);
    b.send(Command::SetInhibit(false));

    b.acceptor.push_action(Action::Insert { fen: 500 });
    b.acceptor.tick(b.now);
    assert_eq!(b.next_status(), Status::Escrow(0x62));
    b.acceptor.push_action(Action::PowerCutInEscrow);
    b.acceptor.tick(b.now);
    assert_eq!(b.send(Command::StatusRequest), None, "power is off");
    b.now += POWER_OFF;
    assert_eq!(b.status(), Status::PowerUpBillInAcceptor);
    b.send(Command::Reset);
    assert_eq!(b.acceptor.in_cashbox(), 1);
}

#[test]
fn script_waits_hold_later_actions() {
    let mut b = Bench::new();
    b.ready();
    b.acceptor.push_action(Action::Wait(Duration::from_secs(2)));
    b.acceptor.push_action(Action::RemoveCashbox);
    b.acceptor.tick(b.now);
    assert_eq!(b.status(), Status::Idling);
    b.now += Duration::from_secs(3);
    b.acceptor.tick(b.now);
    assert_eq!(b.status(), Status::StackerOpen);
}
