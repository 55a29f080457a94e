//! Fault injection (故障注入): set from `serve` flags and changed at run time over the
//! control channel. Shared by every connection task through atomics.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// The faults as a value (for flags, the control channel and `fault show`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FaultSettings {
    /// Delay before every answer, ms.
    pub latency_ms: u64,
    /// Share of requests (after hello) answered `unavailable` without being applied, percent.
    pub error_rate_pct: u32,
    /// Close every new TCP connection at once, before TLS.
    pub refuse_connections: bool,
    /// The next N money/card requests are committed, then the connection is dropped
    /// before the answer is written.
    pub drop_after_commit: u32,
    /// Present a server certificate from a CA the kiosks do not trust.
    pub wrong_certificate: bool,
}

/// A partial update of the faults; `None` leaves a setting as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FaultPatch {
    /// New latency, ms.
    pub latency_ms: Option<u64>,
    /// New error rate, percent (capped at 100).
    pub error_rate_pct: Option<u32>,
    /// Refuse connections or not.
    pub refuse_connections: Option<bool>,
    /// Number of upcoming money requests to drop after commit.
    pub drop_after_commit: Option<u32>,
    /// Wrong server certificate or not.
    pub wrong_certificate: Option<bool>,
}

/// The live faults.
#[derive(Debug, Default)]
pub struct Faults {
    latency_ms: AtomicU64,
    error_rate_pct: AtomicU32,
    refuse: AtomicBool,
    drop_after_commit: AtomicU32,
    wrong_cert: AtomicBool,
    roll: AtomicU64,
}

impl Faults {
    /// Live faults starting at `s`.
    #[must_use]
    pub fn new(s: FaultSettings) -> Self {
        let f = Self::default();
        f.apply(FaultPatch {
            latency_ms: Some(s.latency_ms),
            error_rate_pct: Some(s.error_rate_pct),
            refuse_connections: Some(s.refuse_connections),
            drop_after_commit: Some(s.drop_after_commit),
            wrong_certificate: Some(s.wrong_certificate),
        });
        f
    }

    /// Changes what `p` names.
    pub fn apply(&self, p: FaultPatch) {
        if let Some(v) = p.latency_ms {
            self.latency_ms.store(v, Ordering::SeqCst);
        }
        if let Some(v) = p.error_rate_pct {
            self.error_rate_pct.store(v.min(100), Ordering::SeqCst);
        }
        if let Some(v) = p.refuse_connections {
            self.refuse.store(v, Ordering::SeqCst);
        }
        if let Some(v) = p.drop_after_commit {
            self.drop_after_commit.store(v, Ordering::SeqCst);
        }
        if let Some(v) = p.wrong_certificate {
            self.wrong_cert.store(v, Ordering::SeqCst);
        }
    }

    /// The current settings.
    #[must_use]
    pub fn settings(&self) -> FaultSettings {
        FaultSettings {
            latency_ms: self.latency_ms.load(Ordering::SeqCst),
            error_rate_pct: self.error_rate_pct.load(Ordering::SeqCst),
            refuse_connections: self.refuse.load(Ordering::SeqCst),
            drop_after_commit: self.drop_after_commit.load(Ordering::SeqCst),
            wrong_certificate: self.wrong_cert.load(Ordering::SeqCst),
        }
    }

    /// Delay to apply before answering.
    #[must_use]
    pub fn latency(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.latency_ms.load(Ordering::SeqCst))
    }

    /// Rolls the error-rate dice for one request.
    pub fn inject_error(&self) -> bool {
        let pct = u64::from(self.error_rate_pct.load(Ordering::SeqCst));
        if pct == 0 {
            return false;
        }
        let n = self.roll.fetch_add(1, Ordering::SeqCst);
        let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % 100 < pct
    }

    /// Refuse new connections?
    #[must_use]
    pub fn refuse(&self) -> bool {
        self.refuse.load(Ordering::SeqCst)
    }

    /// Present the wrong certificate?
    #[must_use]
    pub fn wrong_certificate(&self) -> bool {
        self.wrong_cert.load(Ordering::SeqCst)
    }

    /// Takes one drop-after-commit token if any is left.
    pub fn take_drop_after_commit(&self) -> bool {
        self.drop_after_commit
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_after_commit_counts_down() {
        let f = Faults::new(FaultSettings {
            drop_after_commit: 2,
            ..FaultSettings::default()
        });
        assert!(f.take_drop_after_commit());
        assert!(f.take_drop_after_commit());
        assert!(!f.take_drop_after_commit());
    }

    #[test]
    fn error_rate_extremes() {
        let f = Faults::new(FaultSettings::default());
        assert!((0..100).all(|_| !f.inject_error()));
        f.apply(FaultPatch {
            error_rate_pct: Some(100),
            ..FaultPatch::default()
        });
        assert!((0..100).all(|_| f.inject_error()));
        f.apply(FaultPatch {
            error_rate_pct: Some(50),
            ..FaultPatch::default()
        });
        let hits = (0..1000).filter(|_| f.inject_error()).count();
        assert!((300..700).contains(&hits), "{hits}");
    }
}
