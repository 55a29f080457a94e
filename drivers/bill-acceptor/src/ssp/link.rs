//! The host side of the SSP link as a pure state machine: one command in flight, the
//! sequence flag, retransmission and the eSSP packet counter. No I/O, no clock: the caller
//! passes `now`, writes what [`Link::poll_transmit`] gives, feeds what it reads into
//! [`Link::handle_bytes`] and calls [`Link::handle_timeout`] at [`Link::poll_timeout`].
//!
//! Rules (GA138 "Transport Layer"): the flag toggles for every new command and stays the
//! same on a resend; a command without a valid reply is resent after the retry interval
//! (1 s); after the 20th try the slave is considered dead. SYNC is always sent with the flag
//! set and the next command goes with it clear. A reply must carry the command's address
//! and flag; anything else is ignored.

use std::time::{Duration, Instant};

use rand::RngCore;

use super::crypto::{self, CryptoError, EsspKey};
use super::frame::{Decoder, EncodeError, Frame};
use super::message::Command;

/// Link timing and addressing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// Slave address (a banknote validator is 0).
    pub address: u8,
    /// Time without a valid reply before a resend (1 s in the manual).
    pub retry_interval: Duration,
    /// Tries before the slave is considered dead (20 in the manual).
    pub max_tries: u32,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            address: 0,
            retry_interval: Duration::from_secs(1),
            max_tries: 20,
        }
    }
}

/// What became of the command in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The reply's DATA (decrypted if the command was encrypted).
    Reply(Vec<u8>),
    /// No valid reply after this many tries.
    Dead { tries: u32 },
}

/// A command that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Another command is still waiting for its reply.
    #[error("a command is already in flight")]
    Busy,
    /// Encryption was asked for before a key was negotiated.
    #[error("no eSSP key negotiated")]
    NoKey,
    #[error(transparent)]
    Encrypt(#[from] CryptoError),
    #[error(transparent)]
    Frame(#[from] EncodeError),
}

#[derive(Debug)]
struct InFlight {
    wire: Vec<u8>,
    seq: bool,
    tries: u32,
    deadline: Instant,
    /// `Some(count)` when encrypted: the counter the reply must carry.
    expect_count: Option<u32>,
}

#[derive(Debug)]
struct Crypto {
    key: EsspKey,
    count: u32,
}

/// Host side of one SSP link.
#[derive(Debug)]
pub struct Link {
    config: LinkConfig,
    /// Flag of the next new command.
    next_seq: bool,
    in_flight: Option<InFlight>,
    transmit: Option<Vec<u8>>,
    outcome: Option<Outcome>,
    decoder: Decoder,
    crypto: Option<Crypto>,
    /// Counts resends since creation (diagnostics).
    resends: u64,
}

impl Link {
    pub fn new(config: LinkConfig) -> Self {
        Self {
            config,
            next_seq: true,
            in_flight: None,
            transmit: None,
            outcome: None,
            decoder: Decoder::new(),
            crypto: None,
            resends: 0,
        }
    }

    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Installs a freshly negotiated key; both counters restart at 0.
    pub fn set_key(&mut self, key: EsspKey) {
        self.crypto = Some(Crypto { key, count: 0 });
    }

    /// Forgets the key (the device lost it: reset, power cut).
    pub fn clear_key(&mut self) {
        self.crypto = None;
    }

    pub fn has_key(&self) -> bool {
        self.crypto.is_some()
    }

    /// The eSSP packet counter (next packet's), if keyed.
    pub fn count(&self) -> Option<u32> {
        self.crypto.as_ref().map(|c| c.count)
    }

    /// How many resends happened so far.
    pub fn resends(&self) -> u64 {
        self.resends
    }

    pub fn is_busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Gives up the command in flight (the line failed under it): the next command can be
    /// sent. Its reply, should one still arrive, is discarded as unexpected.
    pub fn abandon(&mut self) {
        self.in_flight = None;
        self.transmit = None;
    }

    /// Starts a command. `encrypt` wraps it in the eSSP layer (needs a key).
    pub fn send(
        &mut self,
        command: &Command,
        encrypt: bool,
        now: Instant,
        rng: &mut dyn RngCore,
    ) -> Result<(), SendError> {
        if self.in_flight.is_some() {
            return Err(SendError::Busy);
        }
        let plain = command.encode();
        let (data, expect_count) = if encrypt {
            let c = self.crypto.as_mut().ok_or(SendError::NoKey)?;
            let data = crypto::encrypt(&c.key, c.count, &plain, rng)?;
            c.count = c.count.wrapping_add(1);
            (data, Some(c.count))
        } else {
            (plain, None)
        };
        let seq = if *command == Command::Sync {
            true
        } else {
            self.next_seq
        };
        let wire = Frame::new(seq, self.config.address, data).encode()?;
        self.next_seq = !seq;
        self.decoder.clear();
        self.transmit = Some(wire.clone());
        self.in_flight = Some(InFlight {
            wire,
            seq,
            tries: 1,
            deadline: now + self.config.retry_interval,
            expect_count,
        });
        Ok(())
    }

    /// Bytes to write now.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.take()
    }

    /// When [`Link::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.in_flight.as_ref().map(|f| f.deadline)
    }

    /// The command's outcome, once.
    pub fn poll_outcome(&mut self) -> Option<Outcome> {
        self.outcome.take()
    }

    /// Bytes read from the device.
    pub fn handle_bytes(&mut self, bytes: &[u8]) {
        self.decoder.push(bytes);
        while let Some(frame) = self.decoder.next_frame() {
            let Some(flight) = self.in_flight.as_ref() else {
                tracing::debug!("SSP frame with no command in flight ignored");
                continue;
            };
            if frame.address != self.config.address || frame.seq != flight.seq {
                tracing::debug!(
                    seq = frame.seq,
                    address = frame.address,
                    "SSP reply for another command or slave ignored"
                );
                continue;
            }
            let data = match flight.expect_count {
                None => frame.data,
                Some(expected) => {
                    if frame.data.first() == Some(&crypto::STEX) {
                        let Some(c) = self.crypto.as_mut() else {
                            continue;
                        };
                        match crypto::decrypt(&c.key, &frame.data) {
                            Ok((count, plain)) if count == expected => {
                                c.count = c.count.wrapping_add(1);
                                plain
                            }
                            Ok((count, _)) => {
                                tracing::warn!(
                                    count,
                                    expected,
                                    "eSSP reply with wrong counter discarded"
                                );
                                continue;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "eSSP reply cannot be decrypted");
                                continue;
                            }
                        }
                    } else if frame.data.len() == 1 && frame.data.first() != Some(&0xF0) {
                        // A device that lost its key answers a bare error code (FA) in clear.
                        frame.data
                    } else {
                        tracing::warn!("clear reply to an encrypted command discarded");
                        continue;
                    }
                }
            };
            self.in_flight = None;
            self.outcome = Some(Outcome::Reply(data));
            self.decoder.clear();
            return;
        }
    }

    /// Time passes: resend, or declare the slave dead.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(flight) = self.in_flight.as_mut() else {
            return;
        };
        if now < flight.deadline {
            return;
        }
        if flight.tries >= self.config.max_tries {
            let tries = flight.tries;
            self.in_flight = None;
            self.outcome = Some(Outcome::Dead { tries });
            return;
        }
        flight.tries += 1;
        flight.deadline = now + self.config.retry_interval;
        self.resends += 1;
        self.decoder.clear();
        self.transmit = Some(flight.wire.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;
    use rand::SeedableRng;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(3)
    }

    #[test]
    fn sync_sets_the_flag_and_commands_toggle_it() {
        let mut link = Link::new(LinkConfig::default());
        let t = Instant::now();
        let mut r = rng();
        link.send(&Command::Sync, false, t, &mut r).unwrap();
        assert_eq!(link.poll_transmit().unwrap(), hex!("7F 80 01 11 65 82"));
        link.handle_bytes(&hex!("7F 80 01 F0 23 80"));
        assert_eq!(link.poll_outcome(), Some(Outcome::Reply(vec![0xF0])));
        link.send(&Command::Poll, false, t, &mut r).unwrap();
        let wire = link.poll_transmit().unwrap();
        assert_eq!(wire[1], 0x00);
        // A reply with the old flag is not this command's.
        link.handle_bytes(&hex!("7F 80 01 F0 23 80"));
        assert_eq!(link.poll_outcome(), None);
        let reply = Frame::new(false, 0, vec![0xF0]).encode().unwrap();
        link.handle_bytes(&reply);
        assert_eq!(link.poll_outcome(), Some(Outcome::Reply(vec![0xF0])));
        link.send(&Command::Poll, false, t, &mut r).unwrap();
        assert_eq!(link.poll_transmit().unwrap()[1], 0x80);
    }

    #[test]
    fn a_command_abandoned_after_a_line_failure_frees_the_link() {
        let mut link = Link::new(LinkConfig::default());
        let t = Instant::now();
        let mut r = rng();
        link.send(&Command::Poll, false, t, &mut r).unwrap();
        assert!(link.is_busy());
        assert_eq!(
            link.send(&Command::Sync, false, t, &mut r),
            Err(SendError::Busy)
        );
        link.abandon();
        assert!(!link.is_busy());
        assert_eq!(link.poll_transmit(), None, "nothing left to resend");
        link.send(&Command::Sync, false, t, &mut r).unwrap();
        assert_eq!(link.poll_transmit().unwrap(), hex!("7F 80 01 11 65 82"));
    }

    #[test]
    fn resend_keeps_the_flag_and_gives_up_after_max_tries() {
        let config = LinkConfig {
            address: 0,
            retry_interval: Duration::from_secs(1),
            max_tries: 20,
        };
        let mut link = Link::new(config);
        let t0 = Instant::now();
        link.send(&Command::Poll, false, t0, &mut rng()).unwrap();
        let first = link.poll_transmit().unwrap();
        link.handle_timeout(t0 + Duration::from_millis(999));
        assert_eq!(link.poll_transmit(), None);
        for i in 1..20u32 {
            link.handle_timeout(t0 + Duration::from_secs(u64::from(i)));
            assert_eq!(
                link.poll_transmit().as_deref(),
                Some(first.as_slice()),
                "try {}",
                i + 1
            );
            assert_eq!(link.poll_outcome(), None);
        }
        link.handle_timeout(t0 + Duration::from_secs(20));
        assert_eq!(link.poll_outcome(), Some(Outcome::Dead { tries: 20 }));
        assert!(!link.is_busy());
    }

    #[test]
    fn encrypted_exchange_checks_the_counter() {
        let key = EsspKey::new(crypto::DEFAULT_FIXED_KEY, 99);
        let mut link = Link::new(LinkConfig::default());
        link.set_key(key.clone());
        let t = Instant::now();
        let mut r = rng();
        link.send(&Command::Poll, true, t, &mut r).unwrap();
        let wire = link.poll_transmit().unwrap();
        let mut dec = Decoder::new();
        dec.push(&wire);
        let frame = dec.next_frame().unwrap();
        assert_eq!(crypto::decrypt(&key, &frame.data), Ok((0, vec![0x07])));
        // The device answers with its count, which is now 1; a stale count is discarded.
        let stale = crypto::encrypt(&key, 0, &[0xF0], &mut r).unwrap();
        link.handle_bytes(&Frame::new(frame.seq, 0, stale).encode().unwrap());
        assert_eq!(link.poll_outcome(), None);
        let good = crypto::encrypt(&key, 1, &[0xF0, 0xE8], &mut r).unwrap();
        link.handle_bytes(&Frame::new(frame.seq, 0, good).encode().unwrap());
        assert_eq!(link.poll_outcome(), Some(Outcome::Reply(vec![0xF0, 0xE8])));
        assert_eq!(link.count(), Some(2));
    }
}
