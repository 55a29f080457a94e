//! The host side of the CRT-591 handshake (manual §1.4) as a pure state machine.
//!
//! ```text
//! host: command ─────────────► device: ACK (NAK → resend; nothing in 300 ms → resend)
//!                               device executes (moves take seconds)
//! host: ACK ◄───────────────── device: reply (corrupt → host NAKs, device repeats)
//! ```
//!
//! No I/O and no clock: bytes and `now` go in through [`Host::handle_bytes`] and
//! [`Host::handle_timeout`]; bytes to send come out of [`Host::poll_transmit`], the outcome
//! of [`Host::poll_event`], and the next deadline of [`Host::poll_timeout`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::frame::{ACK, Command, Decoder, EOT, NAK, Reply, Token};

/// Command codes (CM) and parameters (PM) used by the driver (manual §2.1.1).
pub mod cmd {
    /// 30H initialise.
    pub const INIT: u8 = 0x30;
    /// 31H status request.
    pub const STATUS: u8 = 0x31;
    /// 32H move card.
    pub const MOVE: u8 = 0x32;
    /// 33H card entry from the gate.
    pub const ENTRY: u8 = 0x33;
    /// 51H CPU card operation.
    pub const CPU: u8 = 0x51;
    /// A4H firmware version.
    pub const VERSION: u8 = 0xA4;
    /// A5H reject-bin counter.
    pub const REJECT_COUNTER: u8 = 0xA5;

    /// CPU card PM: cold reset (activate).
    pub const CPU_COLD_RESET: u8 = 0x30;
    /// CPU card PM: power off.
    pub const CPU_POWER_OFF: u8 = 0x31;
    /// CPU card PM: card status.
    pub const CPU_STATUS: u8 = 0x32;
    /// CPU card PM: T=0 APDU.
    pub const CPU_APDU_T0: u8 = 0x33;
    /// CPU card PM: T=1 APDU.
    pub const CPU_APDU_T1: u8 = 0x34;
    /// CPU card PM: warm reset.
    pub const CPU_WARM_RESET: u8 = 0x38;
    /// CPU card PM: APDU with automatic T=0/T=1 choice.
    pub const CPU_APDU_AUTO: u8 = 0x39;
}

/// Timing and retry limits of the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeConfig {
    /// How long to wait for ACK before resending (300 ms in the manual).
    pub ack_timeout: Duration,
    /// How many times a command is sent in all before giving up (first send included).
    pub max_sends: u8,
    /// How many corrupt replies are NAKed before giving up.
    pub max_reply_naks: u8,
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        Self {
            ack_timeout: Duration::from_millis(300),
            max_sends: 3,
            max_reply_naks: 3,
        }
    }
}

/// Why an exchange failed on the link (the device did not get to say yes or no).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// No ACK after every allowed send: the dispenser is off, unplugged or on another
    /// address or baud rate.
    #[error("no ACK from the dispenser after {sends} sends")]
    NoAck {
        /// How many times the command went out.
        sends: u8,
    },
    /// The dispenser answered NAK to every send: the line is corrupting our frames.
    #[error("dispenser refused the command with NAK {sends} times")]
    Nak {
        /// How many times the command went out.
        sends: u8,
    },
    /// ACKed, but no reply before the command's deadline.
    #[error("no reply to command {cm:02X} {pm:02X} within {timeout:?}")]
    NoReply {
        /// Command code.
        cm: u8,
        /// Command parameter.
        pm: u8,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// Every reply arrived corrupt.
    #[error("the reply arrived corrupt {0} times")]
    CorruptReply(u8),
    /// The dispenser sent EOT: it discontinued the command.
    #[error("the dispenser discontinued the command (EOT)")]
    Aborted,
}

/// A second command while one is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a command is already in progress")]
pub struct Busy;

/// What the host learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEvent {
    /// The reply to the command (positive or negative); the ACK for it is queued.
    Reply(Reply),
    /// The command failed on the link.
    Failed(LinkError),
}

enum State {
    Idle,
    AwaitAck {
        cmd: Command,
        /// The framed command as sent (may hold an APDU: not shown by `Debug`).
        frame: Vec<u8>,
        sends: u8,
        deadline: Instant,
        reply_timeout: Duration,
    },
    AwaitReply {
        cmd: Command,
        deadline: Instant,
        timeout: Duration,
        naks: u8,
    },
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Idle => f.write_str("Idle"),
            State::AwaitAck {
                cmd,
                frame,
                sends,
                deadline,
                reply_timeout,
            } => f
                .debug_struct("AwaitAck")
                .field("cmd", cmd)
                .field("frame_len", &frame.len())
                .field("sends", sends)
                .field("deadline", deadline)
                .field("reply_timeout", reply_timeout)
                .finish(),
            State::AwaitReply {
                cmd,
                deadline,
                timeout,
                naks,
            } => f
                .debug_struct("AwaitReply")
                .field("cmd", cmd)
                .field("deadline", deadline)
                .field("timeout", timeout)
                .field("naks", naks)
                .finish(),
        }
    }
}

/// The host's half of the handshake.
#[derive(Debug)]
pub struct Host {
    config: HandshakeConfig,
    state: State,
    decoder: Decoder,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<HostEvent>,
}

impl Host {
    /// A host with nothing in progress.
    pub fn new(config: HandshakeConfig) -> Self {
        Self {
            config,
            state: State::Idle,
            decoder: Decoder::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// True when no command is in progress.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// Starts a command; `reply_timeout` is how long the device may take to execute it.
    pub fn send(
        &mut self,
        cmd: Command,
        reply_timeout: Duration,
        now: Instant,
    ) -> Result<(), Busy> {
        if !self.is_idle() {
            return Err(Busy);
        }
        self.decoder.clear();
        let frame = cmd.encode();
        self.transmit.push_back(frame.clone());
        self.state = State::AwaitAck {
            cmd,
            frame,
            sends: 1,
            deadline: now + self.config.ack_timeout,
            reply_timeout,
        };
        Ok(())
    }

    /// Bytes to write to the line, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The outcome of the command, once known.
    pub fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }

    /// When [`Host::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Idle => None,
            State::AwaitAck { deadline, .. } | State::AwaitReply { deadline, .. } => {
                Some(*deadline)
            }
        }
    }

    /// Feeds received bytes.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        self.decoder.push(bytes);
        while let Some(token) = self.decoder.next_token() {
            self.handle_token(token, now);
        }
    }

    /// Lets time pass.
    pub fn handle_timeout(&mut self, now: Instant) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::AwaitAck {
                cmd,
                frame,
                sends,
                deadline,
                reply_timeout,
            } if now >= deadline => {
                if sends < self.config.max_sends {
                    tracing::debug!(cm = cmd.cm, pm = cmd.pm, "no ACK in time: resending");
                    self.transmit.push_back(frame.clone());
                    self.state = State::AwaitAck {
                        cmd,
                        frame,
                        sends: sends + 1,
                        deadline: now + self.config.ack_timeout,
                        reply_timeout,
                    };
                } else {
                    self.fail(LinkError::NoAck { sends });
                }
            }
            State::AwaitReply {
                cmd,
                deadline,
                timeout,
                ..
            } if now >= deadline => {
                // Clear the line so a late reply is not taken for the next command's.
                self.transmit.push_back(vec![EOT]);
                self.fail(LinkError::NoReply {
                    cm: cmd.cm,
                    pm: cmd.pm,
                    timeout,
                });
            }
            other => self.state = other,
        }
    }

    fn fail(&mut self, e: LinkError) {
        self.state = State::Idle;
        self.events.push_back(HostEvent::Failed(e));
    }

    fn handle_token(&mut self, token: Token, now: Instant) {
        let state = std::mem::replace(&mut self.state, State::Idle);
        self.state = match (state, token) {
            (State::Idle, token) => {
                tracing::debug!(?token, "ignored: no command in progress");
                State::Idle
            }
            (_, Token::Eot) => {
                self.fail(LinkError::Aborted);
                State::Idle
            }
            (
                State::AwaitAck {
                    cmd, reply_timeout, ..
                },
                Token::Ack,
            ) => State::AwaitReply {
                cmd,
                deadline: now + reply_timeout,
                timeout: reply_timeout,
                naks: 0,
            },
            (
                State::AwaitAck {
                    cmd,
                    frame,
                    sends,
                    reply_timeout,
                    ..
                },
                Token::Nak,
            ) => {
                if sends < self.config.max_sends {
                    self.transmit.push_back(frame.clone());
                    State::AwaitAck {
                        cmd,
                        frame,
                        sends: sends + 1,
                        deadline: now + self.config.ack_timeout,
                        reply_timeout,
                    }
                } else {
                    self.fail(LinkError::Nak { sends });
                    State::Idle
                }
            }
            // The ACK was lost but the reply came: take it (manual §1.4.2 case 1 seen from
            // the host).
            (
                State::AwaitAck {
                    cmd,
                    frame,
                    sends,
                    deadline,
                    reply_timeout,
                },
                token,
            ) => {
                let waiting = State::AwaitReply {
                    cmd,
                    deadline: now + reply_timeout,
                    timeout: reply_timeout,
                    naks: 0,
                };
                match self.on_reply_token(waiting, token) {
                    Some(State::AwaitReply { cmd, naks: 0, .. }) => {
                        // Not a reply to us: keep waiting for the ACK.
                        State::AwaitAck {
                            cmd,
                            frame,
                            sends,
                            deadline,
                            reply_timeout,
                        }
                    }
                    Some(s) => s,
                    None => State::Idle,
                }
            }
            (waiting @ State::AwaitReply { .. }, token) => {
                self.on_reply_token(waiting, token).unwrap_or(State::Idle)
            }
        };
    }

    /// Handles a token while waiting for the reply; `None` when the exchange is over.
    fn on_reply_token(&mut self, waiting: State, token: Token) -> Option<State> {
        let State::AwaitReply {
            cmd,
            deadline,
            timeout,
            naks,
        } = waiting
        else {
            return Some(waiting);
        };
        let corrupt = |this: &mut Self, cmd: Command| {
            if naks < this.config.max_reply_naks {
                this.transmit.push_back(vec![NAK]);
                Some(State::AwaitReply {
                    cmd,
                    deadline,
                    timeout,
                    naks: naks + 1,
                })
            } else {
                this.transmit.push_back(vec![EOT]);
                this.fail(LinkError::CorruptReply(naks + 1));
                None
            }
        };
        match token {
            Token::Frame(raw) => match raw.reply() {
                Ok(reply) if reply.addr == cmd.addr && reply.cm == cmd.cm && reply.pm == cmd.pm => {
                    self.transmit.push_back(vec![ACK]);
                    self.events.push_back(HostEvent::Reply(reply));
                    None
                }
                Ok(reply) => {
                    tracing::debug!(?reply, "ignored a reply to another command or unit");
                    Some(State::AwaitReply {
                        cmd,
                        deadline,
                        timeout,
                        naks,
                    })
                }
                Err(e) => {
                    tracing::debug!(%e, "malformed reply text");
                    corrupt(self, cmd)
                }
            },
            Token::Corrupt => corrupt(self, cmd),
            // A duplicate ACK (for a resent command) or a stray NAK: nothing to do.
            Token::Ack | Token::Nak | Token::Eot => Some(State::AwaitReply {
                cmd,
                deadline,
                timeout,
                naks,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ReplyKind;
    use hex_literal::hex;

    fn status_reply() -> Reply {
        Reply {
            addr: 0,
            cm: 0x31,
            pm: 0x30,
            kind: ReplyKind::Positive { st: *b"002" },
            data: vec![],
        }
    }

    #[test]
    fn ordinary_exchange() {
        let t0 = Instant::now();
        let mut h = Host::new(HandshakeConfig::default());
        h.send(Command::new(0, 0x31, 0x30), Duration::from_secs(2), t0)
            .unwrap();
        assert_eq!(
            h.poll_transmit().unwrap(),
            hex!("F2 00 00 03 43 31 30 03 B0")
        );
        assert_eq!(
            h.send(Command::new(0, 0x31, 0x30), Duration::from_secs(2), t0),
            Err(Busy)
        );
        h.handle_bytes(&[ACK], t0);
        assert_eq!(h.poll_timeout(), Some(t0 + Duration::from_secs(2)));
        h.handle_bytes(&status_reply().encode(), t0);
        assert_eq!(h.poll_transmit().unwrap(), vec![ACK]);
        assert_eq!(h.poll_event(), Some(HostEvent::Reply(status_reply())));
        assert!(h.is_idle());
    }

    #[test]
    fn nak_and_silence_resend_then_give_up() {
        let t0 = Instant::now();
        let mut h = Host::new(HandshakeConfig::default());
        let frame = Command::new(0, 0x31, 0x30).encode();
        h.send(Command::new(0, 0x31, 0x30), Duration::from_secs(2), t0)
            .unwrap();
        assert_eq!(h.poll_transmit().unwrap(), frame);
        h.handle_bytes(&[NAK], t0);
        assert_eq!(h.poll_transmit().unwrap(), frame);
        // 299 ms: nothing yet.
        h.handle_timeout(t0 + Duration::from_millis(299));
        assert_eq!(h.poll_transmit(), None);
        h.handle_timeout(t0 + Duration::from_millis(300));
        assert_eq!(h.poll_transmit().unwrap(), frame);
        h.handle_timeout(t0 + Duration::from_millis(600));
        assert_eq!(h.poll_transmit(), None);
        assert_eq!(
            h.poll_event(),
            Some(HostEvent::Failed(LinkError::NoAck { sends: 3 }))
        );
        assert!(h.is_idle());
    }

    #[test]
    fn corrupt_reply_is_naked_and_missing_reply_times_out() {
        let t0 = Instant::now();
        let mut h = Host::new(HandshakeConfig::default());
        h.send(Command::new(0, 0x31, 0x30), Duration::from_secs(2), t0)
            .unwrap();
        h.poll_transmit();
        h.handle_bytes(&[ACK], t0);
        let mut bad = status_reply().encode();
        if let Some(b) = bad.last_mut() {
            *b ^= 0xFF;
        }
        h.handle_bytes(&bad, t0);
        assert_eq!(h.poll_transmit().unwrap(), vec![NAK]);
        h.handle_timeout(t0 + Duration::from_secs(2));
        assert_eq!(h.poll_transmit().unwrap(), vec![EOT]);
        assert!(matches!(
            h.poll_event(),
            Some(HostEvent::Failed(LinkError::NoReply { .. }))
        ));
    }

    proptest::proptest! {
        #[test]
        fn random_line_input_never_panics(chunks in proptest::collection::vec(
            proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 0..16)) {
            let t0 = Instant::now();
            let mut h = Host::new(HandshakeConfig::default());
            h.send(Command::new(0, 0x31, 0x30), Duration::from_secs(2), t0).unwrap();
            for (i, c) in chunks.iter().enumerate() {
                let now = t0 + Duration::from_millis(100 * u64::try_from(i).unwrap());
                h.handle_bytes(c, now);
                h.handle_timeout(now);
                while h.poll_transmit().is_some() {}
                if h.poll_event().is_some() {
                    proptest::prop_assert!(h.is_idle());
                    h.send(Command::new(0, 0x31, 0x30), Duration::from_secs(2), now).unwrap();
                }
            }
        }
    }

    #[test]
    fn reply_without_ack_is_accepted_and_stale_replies_ignored() {
        let t0 = Instant::now();
        let mut h = Host::new(HandshakeConfig::default());
        h.send(Command::new(0, 0x31, 0x30), Duration::from_secs(2), t0)
            .unwrap();
        h.poll_transmit();
        let stale = Reply {
            cm: 0x32,
            ..status_reply()
        };
        h.handle_bytes(&stale.encode(), t0);
        assert_eq!(h.poll_event(), None);
        assert_eq!(h.poll_timeout(), Some(t0 + Duration::from_millis(300)));
        h.handle_bytes(&status_reply().encode(), t0);
        assert_eq!(h.poll_transmit().unwrap(), vec![ACK]);
        assert_eq!(h.poll_event(), Some(HostEvent::Reply(status_reply())));
    }
}
