//! What the host knows about the validator between polls, as a pure state machine: the
//! channel table, the note in escrow, and the translation of SSP poll events into
//! [`AcceptorEvent`]s.
//!
//! Escrow rule: after `EF n` (n > 0) a plain POLL would accept the note, so while the
//! application has not decided the driver sends HOLD (18) instead ([`Session::next_poll`]).
//! [`Session::stack_requested`] lets the next POLL through; a REJECT (08) returns the note.
//! Money rule: [`AcceptorEvent::Credit`] only on `EE`, once per note.
//!
//! At (re)connect a note may already sit in escrow, left by a host that stopped before
//! deciding: its customer is gone, so the driver sends REJECT before its first POLL and
//! reports [`AcceptorEvent::Returned`] at once ([`Session::returned_at_connect`]); the
//! device's later `ED`/`EC` for that note are not reported again.

use crate::{AcceptorEvent, AcceptorState, Denomination, RejectReason};

use super::message::{Command, NoteRef, PollEvent, reject_text};

/// Where the note in escrow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escrow {
    /// No note in escrow.
    Empty,
    /// A note waits for the application's decision; the driver holds it.
    Held { channel: u8 },
    /// The application said stack: the next POLL accepts it.
    Accepting { channel: u8 },
}

/// Host-side view of one validator.
#[derive(Debug, Clone)]
pub struct Session {
    channels: Vec<Denomination>,
    /// Protocol ≥ 9 value events: value × this = minor units.
    value_multiplier: u64,
    escrow: Escrow,
    /// Channel of a note that left escrow backwards (command or timeout).
    returning: Option<u8>,
    /// A note found in escrow at connect was rejected and already reported returned: the
    /// `EC` that ends its return is not reported again.
    returned_at_connect: bool,
    credited: bool,
    reading: bool,
    rejecting: bool,
    stacking: bool,
    jam: Option<bool>,
    cashbox_out: bool,
    stacker_full: bool,
    disabled: bool,
    initialising: bool,
    path_open: bool,
    want_reject_code: bool,
    device_reset: bool,
}

impl Default for Session {
    fn default() -> Self {
        Self::new(Vec::new(), 1)
    }
}

impl Session {
    pub fn new(channels: Vec<Denomination>, value_multiplier: u64) -> Self {
        Self {
            channels,
            value_multiplier,
            escrow: Escrow::Empty,
            returning: None,
            returned_at_connect: false,
            credited: false,
            reading: false,
            rejecting: false,
            stacking: false,
            jam: None,
            cashbox_out: false,
            stacker_full: false,
            disabled: true,
            initialising: false,
            path_open: false,
            want_reject_code: false,
            device_reset: false,
        }
    }

    pub fn set_channels(&mut self, channels: Vec<Denomination>, value_multiplier: u64) {
        self.channels = channels;
        self.value_multiplier = value_multiplier.max(1);
    }

    pub fn channels(&self) -> &[Denomination] {
        &self.channels
    }

    pub fn escrow(&self) -> Escrow {
        self.escrow
    }

    /// Value of a channel in fen, if the device's table has it.
    pub fn fen(&self, channel: u8) -> Option<u64> {
        self.channels
            .iter()
            .find(|d| d.channel == channel)
            .map(|d| d.fen)
    }

    fn note_fen(&self, note: NoteRef) -> Option<u64> {
        match note {
            NoteRef::Channel(c) => self.fen(c),
            NoteRef::Value { value, .. } => u64::from(value).checked_mul(self.value_multiplier),
        }
    }

    fn note_channel(&self, note: NoteRef) -> u8 {
        match note {
            NoteRef::Channel(c) => c,
            NoteRef::Value { .. } => self
                .note_fen(note)
                .and_then(|f| self.channels.iter().find(|d| d.fen == f))
                .map_or(0, |d| d.channel),
        }
    }

    /// The inhibit mask that enables exactly the given values.
    pub fn inhibit_mask(&self, accept_fen: &[u64]) -> u16 {
        self.channels
            .iter()
            .filter(|d| accept_fen.contains(&d.fen) && (1..=16).contains(&d.channel))
            .fold(0u16, |m, d| m | (1 << (d.channel - 1)))
    }

    /// The command of the next poll cycle: HOLD while a note waits for a decision.
    pub fn next_poll(&self) -> Command {
        match self.escrow {
            Escrow::Held { .. } => Command::Hold,
            _ => Command::Poll,
        }
    }

    /// HOLD failed: the device no longer has the note (it returned it by itself).
    pub fn hold_failed(&mut self) {
        if let Escrow::Held { channel } = self.escrow {
            self.returning = Some(channel);
            self.escrow = Escrow::Empty;
        }
    }

    /// The application accepts the note in escrow. `false` if there is none.
    pub fn stack_requested(&mut self) -> bool {
        match self.escrow {
            Escrow::Held { channel } => {
                self.escrow = Escrow::Accepting { channel };
                true
            }
            _ => false,
        }
    }

    /// The note in escrow is a candidate for return (REJECT about to be sent).
    pub fn can_return(&self) -> bool {
        matches!(self.escrow, Escrow::Held { .. })
    }

    /// At connect, before the first POLL, REJECT was accepted: a note left in escrow by an
    /// earlier host is going back to the customer. Returns the event to report now; `fen`
    /// is the value when this host still knew the note (a reconnect after a lost line),
    /// otherwise unknown (the device does not repeat its `EF n`).
    pub fn returned_at_connect(&mut self, fen: Option<u64>) -> AcceptorEvent {
        self.escrow = Escrow::Empty;
        self.returning = None;
        self.returned_at_connect = true;
        AcceptorEvent::Returned { fen }
    }

    /// Value of the note this host knows to be in escrow (held, or told to stack but not
    /// yet seen stacking), if any.
    pub fn escrow_fen(&self) -> Option<u64> {
        match self.escrow {
            Escrow::Held { channel } | Escrow::Accepting { channel } => self.fen(channel),
            Escrow::Empty => None,
        }
    }

    /// REJECT was accepted by the device.
    pub fn returned(&mut self) {
        if let Escrow::Held { channel } = self.escrow {
            self.returning = Some(channel);
            self.escrow = Escrow::Empty;
        }
    }

    pub fn set_enabled(&mut self, enabled: bool) {
        self.disabled = !enabled;
    }

    /// Whether the last poll asked for LAST REJECT CODE (a note was rejected on reading).
    pub fn take_want_reject_code(&mut self) -> bool {
        std::mem::take(&mut self.want_reject_code)
    }

    /// Whether the device reported a reset since the last call (keys, inhibits and the
    /// enable state are gone).
    pub fn take_device_reset(&mut self) -> bool {
        std::mem::take(&mut self.device_reset)
    }

    /// Fills in the reason of the last `Rejected` event.
    pub fn attach_reject_code(events: &mut [AcceptorEvent], code: u8) {
        if let Some(AcceptorEvent::Rejected { reason }) = events
            .iter_mut()
            .rev()
            .find(|e| matches!(e, AcceptorEvent::Rejected { reason: None }))
        {
            *reason = Some(RejectReason {
                code,
                text: reject_text(code),
            });
        }
    }

    /// Translates the events of one POLL reply.
    pub fn handle_poll(&mut self, events: &[PollEvent]) -> Vec<AcceptorEvent> {
        let mut out = Vec::new();
        let (mut reading, mut rejecting, mut stacking_now) = (false, false, false);
        let (mut jam_now, mut cashbox_out_now, mut path_open_now) = (None, false, false);
        let mut initialising = false;
        for &event in events {
            match event {
                PollEvent::SlaveReset => {
                    out.push(AcceptorEvent::Reset);
                    self.escrow = Escrow::Empty;
                    self.returning = None;
                    self.returned_at_connect = false;
                    self.disabled = true;
                    self.device_reset = true;
                }
                PollEvent::Read(note) => {
                    // A new note: the one handed back at connect has left.
                    self.returned_at_connect = false;
                    let channel = self.note_channel(note);
                    let fen = self.note_fen(note);
                    let still_reading =
                        matches!(note, NoteRef::Channel(0) | NoteRef::Value { value: 0, .. });
                    if still_reading {
                        reading = true;
                        if !self.reading {
                            self.credited = false;
                            self.stacker_full = false;
                            out.push(AcceptorEvent::Reading);
                        }
                    } else if self.escrow == Escrow::Empty {
                        if !self.reading {
                            self.credited = false;
                        }
                        self.escrow = Escrow::Held { channel };
                        self.returning = None;
                        match fen {
                            Some(fen) => out.push(AcceptorEvent::Escrow { fen }),
                            None => out.push(AcceptorEvent::Failure {
                                code: 0xEF,
                                text: "note in escrow on a channel the device did not list",
                            }),
                        }
                    }
                }
                PollEvent::Credit(note) => {
                    self.escrow = Escrow::Empty;
                    if self.credited {
                        tracing::debug!("repeated SSP credit event for the same note ignored");
                        continue;
                    }
                    self.credited = true;
                    match self.note_fen(note) {
                        Some(fen) => out.push(AcceptorEvent::Credit { fen }),
                        None => out.push(AcceptorEvent::Failure {
                            code: 0xEE,
                            text: "credit on a channel the device did not list",
                        }),
                    }
                }
                PollEvent::Rejecting => {
                    rejecting = true;
                    if let Escrow::Held { channel } | Escrow::Accepting { channel } = self.escrow {
                        self.returning = Some(channel);
                        self.escrow = Escrow::Empty;
                    }
                }
                PollEvent::Rejected => {
                    if let Escrow::Held { channel } | Escrow::Accepting { channel } = self.escrow {
                        self.returning = Some(channel);
                        self.escrow = Escrow::Empty;
                    }
                    match self.returning.take() {
                        Some(channel) => out.push(AcceptorEvent::Returned {
                            fen: self.fen(channel),
                        }),
                        None if std::mem::take(&mut self.returned_at_connect) => {}
                        None => {
                            out.push(AcceptorEvent::Rejected { reason: None });
                            self.want_reject_code = true;
                        }
                    }
                }
                PollEvent::Stacking => {
                    stacking_now = true;
                    if !self.stacking {
                        out.push(AcceptorEvent::Stacking);
                    }
                }
                PollEvent::Stacked => {
                    self.escrow = Escrow::Empty;
                    out.push(AcceptorEvent::Stacked);
                }
                PollEvent::SafeJam | PollEvent::UnsafeJam => {
                    let safe = event == PollEvent::SafeJam;
                    jam_now = Some(safe);
                    if self.jam != Some(safe) {
                        out.push(AcceptorEvent::Jam { safe });
                    }
                    self.escrow = Escrow::Empty;
                }
                PollEvent::Disabled => {
                    if !self.disabled {
                        out.push(AcceptorEvent::Disabled);
                    }
                    self.disabled = true;
                }
                PollEvent::FraudAttempt(c) => out.push(AcceptorEvent::Fraud { fen: self.fen(c) }),
                PollEvent::StackerFull => {
                    if !self.stacker_full {
                        out.push(AcceptorEvent::StackerFull);
                    }
                    self.stacker_full = true;
                }
                PollEvent::NoteClearedFromFront(c) => {
                    out.push(AcceptorEvent::PowerUpNoteReturned { fen: self.fen(c) })
                }
                PollEvent::NoteClearedIntoCashbox(c) => {
                    out.push(AcceptorEvent::PowerUpNoteInCashbox { fen: self.fen(c) })
                }
                PollEvent::CashboxRemoved => {
                    cashbox_out_now = true;
                    if !self.cashbox_out {
                        out.push(AcceptorEvent::CashboxRemoved);
                    }
                }
                PollEvent::CashboxReplaced => {
                    self.stacker_full = false;
                    out.push(AcceptorEvent::CashboxReplaced);
                }
                PollEvent::NotePathOpen => {
                    path_open_now = true;
                    if !self.path_open {
                        out.push(AcceptorEvent::Failure {
                            code: 0xE0,
                            text: "note path open",
                        });
                    }
                }
                PollEvent::ChannelDisable => {}
                PollEvent::Initialising => initialising = true,
                PollEvent::BarcodeTicketValidated | PollEvent::BarcodeTicketAck => {
                    tracing::warn!(
                        ?event,
                        "barcode ticket event on a banknote-only kiosk ignored"
                    );
                }
            }
        }
        self.reading = reading;
        self.rejecting = rejecting;
        self.stacking = stacking_now;
        self.jam = jam_now;
        self.cashbox_out = cashbox_out_now;
        self.path_open = path_open_now;
        self.initialising = initialising;
        out
    }

    /// Coarse state from what the last polls said.
    pub fn state(&self) -> AcceptorState {
        if self.path_open {
            AcceptorState::Failure
        } else if self.jam.is_some() {
            AcceptorState::Jammed
        } else if self.cashbox_out {
            AcceptorState::CashboxOut
        } else if self.initialising {
            AcceptorState::Initialising
        } else if self.stacker_full {
            AcceptorState::StackerFull
        } else if matches!(self.escrow, Escrow::Held { .. }) {
            AcceptorState::Escrow
        } else if self.stacking || matches!(self.escrow, Escrow::Accepting { .. }) {
            AcceptorState::Stacking
        } else if self.rejecting {
            AcceptorState::Rejecting
        } else if self.reading {
            AcceptorState::Accepting
        } else if self.disabled {
            AcceptorState::Disabled
        } else {
            AcceptorState::Idle
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Session {
        let fen = [100, 500, 1000, 2000, 5000, 10000];
        let channels = fen
            .iter()
            .zip(1u8..)
            .map(|(&fen, channel)| Denomination { channel, fen })
            .collect();
        let mut s = Session::new(channels, 100);
        s.set_enabled(true);
        s
    }

    #[test]
    fn escrow_is_held_until_the_application_decides_and_credit_comes_once() {
        let mut s = cny();
        assert_eq!(s.inhibit_mask(&[2000, 10000]), 0b10_1000);
        assert_eq!(
            s.handle_poll(&[PollEvent::Read(NoteRef::Channel(0))]),
            vec![AcceptorEvent::Reading]
        );
        assert_eq!(
            s.handle_poll(&[PollEvent::Read(NoteRef::Channel(0))]),
            vec![]
        );
        assert_eq!(
            s.handle_poll(&[PollEvent::Read(NoteRef::Channel(4))]),
            vec![AcceptorEvent::Escrow { fen: 2000 }]
        );
        assert_eq!(s.state(), AcceptorState::Escrow);
        assert_eq!(s.next_poll(), Command::Hold);
        assert!(s.stack_requested());
        assert_eq!(s.next_poll(), Command::Poll);
        assert_eq!(
            s.handle_poll(&[PollEvent::Stacking]),
            vec![AcceptorEvent::Stacking]
        );
        assert_eq!(
            s.handle_poll(&[PollEvent::Credit(NoteRef::Channel(4)), PollEvent::Stacked]),
            vec![AcceptorEvent::Credit { fen: 2000 }, AcceptorEvent::Stacked]
        );
        assert_eq!(
            s.handle_poll(&[PollEvent::Credit(NoteRef::Channel(4))]),
            vec![]
        );
        assert_eq!(s.state(), AcceptorState::Idle);
    }

    #[test]
    fn returned_from_escrow_is_not_a_reject() {
        let mut s = cny();
        s.handle_poll(&[PollEvent::Read(NoteRef::Channel(2))]);
        assert!(s.can_return());
        s.returned();
        assert_eq!(s.handle_poll(&[PollEvent::Rejecting]), vec![]);
        assert_eq!(s.state(), AcceptorState::Rejecting);
        assert_eq!(
            s.handle_poll(&[PollEvent::Rejected]),
            vec![AcceptorEvent::Returned { fen: Some(500) }]
        );
        // A note rejected while reading asks for the reject code.
        s.handle_poll(&[PollEvent::Read(NoteRef::Channel(0))]);
        let mut ev = s.handle_poll(&[PollEvent::Rejected]);
        assert!(s.take_want_reject_code());
        Session::attach_reject_code(&mut ev, 0x02);
        assert_eq!(
            ev,
            vec![AcceptorEvent::Rejected {
                reason: Some(RejectReason {
                    code: 2,
                    text: reject_text(2)
                })
            }]
        );
    }

    #[test]
    fn note_rejected_at_connect_is_reported_returned_once() {
        let mut s = cny();
        assert_eq!(
            s.returned_at_connect(None),
            AcceptorEvent::Returned { fen: None }
        );
        assert_eq!(s.handle_poll(&[PollEvent::Rejecting]), vec![]);
        assert_eq!(s.handle_poll(&[PollEvent::Rejected]), vec![]);
        assert!(!s.take_want_reject_code());
        // The next reject is a new note's and is reported.
        s.handle_poll(&[PollEvent::Read(NoteRef::Channel(0))]);
        assert_eq!(
            s.handle_poll(&[PollEvent::Rejected]),
            vec![AcceptorEvent::Rejected { reason: None }]
        );
        // Nor does a flag left over (the EC never came: reset) swallow a later reject.
        assert_eq!(
            s.returned_at_connect(Some(500)),
            AcceptorEvent::Returned { fen: Some(500) }
        );
        s.handle_poll(&[PollEvent::SlaveReset]);
        assert_eq!(
            s.handle_poll(&[PollEvent::Rejected]),
            vec![AcceptorEvent::Rejected { reason: None }]
        );
    }

    #[test]
    fn repeating_conditions_are_reported_once() {
        let mut s = cny();
        let jam = [PollEvent::UnsafeJam, PollEvent::Disabled];
        assert_eq!(
            s.handle_poll(&jam),
            vec![AcceptorEvent::Jam { safe: false }, AcceptorEvent::Disabled]
        );
        assert_eq!(s.handle_poll(&jam), vec![]);
        assert_eq!(s.state(), AcceptorState::Jammed);
        s.handle_poll(&[PollEvent::Disabled]);
        assert_eq!(s.state(), AcceptorState::Disabled);
        assert_eq!(
            s.handle_poll(&[PollEvent::SlaveReset, PollEvent::NoteClearedIntoCashbox(3)]),
            vec![
                AcceptorEvent::Reset,
                AcceptorEvent::PowerUpNoteInCashbox { fen: Some(1000) }
            ]
        );
        assert!(s.take_device_reset());
    }
}
