//! The idle timer: a customer who walks away is warned, then timed out. Any touch restarts
//! it; elder mode (长辈模式) lengthens it; a call for help stops it while staff are on their
//! way (up to [`Timeouts::help_ms`]), so nobody is timed out while waiting for help.

use super::super::{Millis, Timeouts, Ui};

/// What the timer says at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleCheck {
    /// Nothing to do.
    Fine,
    /// Tell the customer the session ends in this many seconds unless they touch.
    Warn { seconds_left: u64 },
    /// The time is up.
    Expired,
}

/// The idle timer of a session.
#[derive(Debug, Clone)]
pub struct Idle {
    timeouts: Timeouts,
    last_activity: Millis,
    warned: bool,
    help_since: Option<Millis>,
    elder: bool,
}

impl Idle {
    pub fn new(timeouts: Timeouts, now: Millis) -> Self {
        Self {
            timeouts,
            last_activity: now,
            warned: false,
            help_since: None,
            elder: false,
        }
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// Whether help was called and staff have not come yet.
    pub fn help_pending(&self) -> bool {
        self.help_since.is_some()
    }

    /// Restarts the timer (a touch, a note, an answer the customer waited for).
    pub fn touch(&mut self, now: Millis) {
        self.last_activity = now;
        self.warned = false;
    }

    /// Takes what the customer did: every action restarts the timer; help and elder mode
    /// change how it runs.
    pub fn on_ui(&mut self, ui: &Ui, now: Millis) {
        match ui {
            Ui::Help(true) => self.help_since = Some(now),
            Ui::Help(false) => self.help_since = None,
            Ui::Elder(on) => self.elder = *on,
            _ => {}
        }
        self.touch(now);
    }

    /// Checks the timer against `base_ms` (the state's timeout before elder mode).
    pub fn check(&mut self, now: Millis, base_ms: Millis) -> IdleCheck {
        if let Some(since) = self.help_since {
            if now.saturating_sub(since) < self.timeouts.help_ms {
                // Staff are coming: nothing runs out meanwhile.
                self.touch(now);
                return IdleCheck::Fine;
            }
            // Nobody came in time: the normal timer takes over from now.
            self.help_since = None;
            self.touch(now);
            return IdleCheck::Fine;
        }
        let limit = if self.elder {
            base_ms.saturating_add(base_ms.saturating_mul(self.timeouts.elder_extra_percent) / 100)
        } else {
            base_ms
        };
        let idle = now.saturating_sub(self.last_activity);
        if idle >= limit {
            self.warned = false;
            return IdleCheck::Expired;
        }
        if !self.warned && idle + self.timeouts.warn_ms >= limit {
            self.warned = true;
            return IdleCheck::Warn {
                seconds_left: (limit - idle).div_ceil(1000),
            };
        }
        IdleCheck::Fine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Timeouts {
        Timeouts {
            idle_ms: 60_000,
            insert_idle_ms: 90_000,
            warn_ms: 15_000,
            elder_extra_percent: 100,
            help_ms: 300_000,
        }
    }

    #[test]
    fn warns_once_then_expires() {
        let mut i = Idle::new(t(), 0);
        assert_eq!(i.check(44_000, 60_000), IdleCheck::Fine);
        assert_eq!(
            i.check(45_000, 60_000),
            IdleCheck::Warn { seconds_left: 15 }
        );
        assert_eq!(i.check(50_000, 60_000), IdleCheck::Fine);
        assert_eq!(i.check(60_000, 60_000), IdleCheck::Expired);
    }

    #[test]
    fn a_touch_starts_again() {
        let mut i = Idle::new(t(), 0);
        i.check(50_000, 60_000);
        i.on_ui(&Ui::Touch, 50_000);
        assert_eq!(i.check(94_000, 60_000), IdleCheck::Fine);
        assert_eq!(
            i.check(95_000, 60_000),
            IdleCheck::Warn { seconds_left: 15 }
        );
        assert_eq!(i.check(110_000, 60_000), IdleCheck::Expired);
    }

    #[test]
    fn elder_mode_doubles_the_time() {
        let mut i = Idle::new(t(), 0);
        i.on_ui(&Ui::Elder(true), 0);
        assert_eq!(i.check(60_000, 60_000), IdleCheck::Fine);
        assert_eq!(
            i.check(105_000, 60_000),
            IdleCheck::Warn { seconds_left: 15 }
        );
        assert_eq!(i.check(120_000, 60_000), IdleCheck::Expired);
    }

    #[test]
    fn nothing_runs_out_while_help_is_coming() {
        let mut i = Idle::new(t(), 0);
        i.on_ui(&Ui::Help(true), 0);
        for now in (0..=299_000).step_by(1000) {
            assert_eq!(i.check(now, 60_000), IdleCheck::Fine, "at {now}");
        }
        assert!(i.help_pending());
        // Staff never came: the ordinary timer runs again, from the moment help lapsed.
        assert_eq!(i.check(300_000, 60_000), IdleCheck::Fine);
        assert!(!i.help_pending());
        assert_eq!(i.check(360_000, 60_000), IdleCheck::Expired);
    }
}
