//! The card reading cycle as a pure state machine (no I/O, no clock): which command to
//! send next, given the reader's last reply.
//!
//! One cycle is find (寻卡) → select (选卡) → read (读卡). After a card has been read (or
//! refused), it must leave the field — find fails — before another card is reported, so a
//! card lying on the reader is never read twice. A read that breaks off (SW3 41/47, the
//! card was moved) is retried at once, up to a limit, before it is reported.
//!
//! The driver ([`crate::IdCardReader`]) moves the bytes, handles timeouts and the poll
//! interval; this module only decides.

use crate::card::ReadPayload;
use crate::driver::{CardRead, WaitOutcome};
use crate::frame::{Command, Reply, Status, StatusClass};

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// Send this command and feed its reply to [`CardPoller::on_reply`].
    Send(Command),
    /// The cycle found nothing to report: wait a poll interval, then [`CardPoller::start`].
    Idle,
    /// Start the next cycle at once (a broken-off read is being retried).
    RetryNow,
    /// Report this outcome.
    Outcome(WaitOutcome),
    /// The reader reported a fault in reply to this command.
    Fault(Command, Status),
    /// The read reply's data was malformed.
    BadPayload(crate::card::PayloadError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Find,
    Select,
    Read,
}

/// Decides the find → select → read sequence.
#[derive(Debug, Clone)]
pub struct CardPoller {
    step: Step,
    awaiting_removal: bool,
    read_failures: u32,
    read_attempts: u32,
    read_fingerprint: bool,
}

impl CardPoller {
    /// `read_attempts`: reads of a present card before a read failure is reported
    /// (at least 1). `read_fingerprint`: read with `30 10` instead of `30 01`.
    pub fn new(read_attempts: u32, read_fingerprint: bool) -> Self {
        Self {
            step: Step::Find,
            awaiting_removal: false,
            read_failures: 0,
            read_attempts: read_attempts.max(1),
            read_fingerprint,
        }
    }

    /// `true` while a card that was read (or refused) has not yet left the field.
    pub fn awaiting_removal(&self) -> bool {
        self.awaiting_removal
    }

    /// `true` if the last cycle ended in a read that is being retried.
    pub fn retrying_read(&self) -> bool {
        self.read_failures > 0
    }

    /// The read command in use.
    pub fn read_command(&self) -> Command {
        if self.read_fingerprint {
            Command::ReadTextFingerprint
        } else {
            Command::ReadText
        }
    }

    /// Starts a cycle: always "find card".
    pub fn start(&mut self) -> Command {
        self.step = Step::Find;
        Command::FindCard
    }

    /// Feeds the reply to the command last returned.
    pub fn on_reply(&mut self, reply: &Reply) -> Next {
        match self.step {
            Step::Find => self.on_find(reply.status),
            Step::Select => self.on_select(reply.status),
            Step::Read => self.on_read(reply),
        }
    }

    fn on_find(&mut self, status: Status) -> Next {
        let found = match status {
            Status::FindOk | Status::Ok => true,
            Status::FindFailed => false,
            other => return Next::Fault(Command::FindCard, other),
        };
        if self.awaiting_removal {
            if !found {
                tracing::debug!("previous card left the field");
                self.awaiting_removal = false;
            }
            return Next::Idle;
        }
        if !found {
            self.read_failures = 0;
            return Next::Idle;
        }
        self.step = Step::Select;
        Next::Send(Command::SelectCard)
    }

    fn on_select(&mut self, status: Status) -> Next {
        match status {
            Status::Ok => {
                self.step = Step::Read;
                Next::Send(self.read_command())
            }
            // The card slid out between find and select: try again next cycle.
            Status::SelectFailed | Status::FindFailed => Next::Idle,
            other => Next::Fault(Command::SelectCard, other),
        }
    }

    fn on_read(&mut self, reply: &Reply) -> Next {
        let command = self.read_command();
        match reply.status.outcome() {
            StatusClass::Success => {
                self.read_failures = 0;
                let payload = match ReadPayload::parse(&reply.data, self.read_fingerprint) {
                    Ok(p) => p,
                    Err(e) => return Next::BadPayload(e),
                };
                self.awaiting_removal = true;
                Next::Outcome(match payload.card_text() {
                    Ok(text) => WaitOutcome::Card(CardRead {
                        text,
                        photo: payload.photo,
                        fingerprint: payload.fingerprint,
                    }),
                    Err(e) => WaitOutcome::UnreadableText(e),
                })
            }
            StatusClass::NoCard => Next::Idle,
            StatusClass::ReadFailed => {
                self.read_failures += 1;
                if self.read_failures >= self.read_attempts {
                    self.read_failures = 0;
                    self.awaiting_removal = true;
                    Next::Outcome(WaitOutcome::ReadFailed(reply.status))
                } else {
                    tracing::debug!(status = %reply.status, "read broke off, retrying");
                    Next::RetryNow
                }
            }
            StatusClass::CardRejected => {
                self.awaiting_removal = true;
                Next::Outcome(WaitOutcome::CardRejected(reply.status))
            }
            _ => Next::Fault(command, reply.status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{ReaderSim, builtin_cards};

    fn reply(status: Status) -> Reply {
        Reply::new(status, vec![])
    }

    #[test]
    fn no_card_is_idle() {
        let mut p = CardPoller::new(3, false);
        assert_eq!(p.start(), Command::FindCard);
        assert_eq!(p.on_reply(&reply(Status::FindFailed)), Next::Idle);
    }

    #[test]
    fn find_select_read_then_wait_for_removal() {
        // Driven by the simulator's pure state machine, without I/O.
        let mut sim = ReaderSim::new(builtin_cards().unwrap());
        sim.set_halt_after_read(false);
        sim.place("resident");
        let mut p = CardPoller::new(3, false);
        let exchange = |sim: &mut ReaderSim, cmd: Command| {
            let mut d = crate::frame::FrameDecoder::new();
            d.push(&sim.handle_bytes(&cmd.encode()));
            Reply::parse(&d.next_frame().unwrap().unwrap()).unwrap()
        };
        let mut cmd = p.start();
        let outcome = loop {
            match p.on_reply(&exchange(&mut sim, cmd)) {
                Next::Send(c) => cmd = c,
                Next::Outcome(o) => break o,
                other => panic!("{other:?}"),
            }
        };
        assert!(matches!(outcome, WaitOutcome::Card(_)));
        assert!(p.awaiting_removal());
        // Same card still there: nothing to report, however often we look.
        for _ in 0..3 {
            let c = p.start();
            assert_eq!(p.on_reply(&exchange(&mut sim, c)), Next::Idle);
        }
        sim.remove();
        let c = p.start();
        assert_eq!(p.on_reply(&exchange(&mut sim, c)), Next::Idle);
        assert!(!p.awaiting_removal());
    }

    #[test]
    fn read_failures_are_retried_then_reported() {
        let mut p = CardPoller::new(2, false);
        p.start();
        assert_eq!(
            p.on_reply(&reply(Status::FindOk)),
            Next::Send(Command::SelectCard)
        );
        assert_eq!(
            p.on_reply(&reply(Status::Ok)),
            Next::Send(Command::ReadText)
        );
        assert_eq!(p.on_reply(&reply(Status::ReadFailed)), Next::RetryNow);
        assert!(p.retrying_read());
        p.start();
        p.on_reply(&reply(Status::FindOk));
        p.on_reply(&reply(Status::Ok));
        assert_eq!(
            p.on_reply(&reply(Status::ReadFailed)),
            Next::Outcome(WaitOutcome::ReadFailed(Status::ReadFailed))
        );
        assert!(p.awaiting_removal());
    }

    proptest::proptest! {
        #[test]
        fn random_replies_never_panic(replies in proptest::collection::vec((proptest::prelude::any::<u8>(), proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1400)), 0..12), fp in proptest::prelude::any::<bool>()) {
            let mut p = CardPoller::new(2, fp);
            p.start();
            for (sw3, data) in replies {
                match p.on_reply(&Reply::new(Status::from_byte(sw3), data)) {
                    Next::Send(_) => {}
                    _ => { p.start(); }
                }
            }
        }
    }

    #[test]
    fn sam_failure_is_a_fault() {
        let mut p = CardPoller::new(2, true);
        p.start();
        assert_eq!(
            p.on_reply(&reply(Status::SamSelfTestFailed)),
            Next::Fault(Command::FindCard, Status::SamSelfTestFailed)
        );
        p.start();
        p.on_reply(&reply(Status::FindOk));
        assert_eq!(
            p.on_reply(&reply(Status::Ok)),
            Next::Send(Command::ReadTextFingerprint)
        );
        assert!(matches!(
            p.on_reply(&reply(Status::Ok)),
            Next::BadPayload(_)
        ));
    }
}
