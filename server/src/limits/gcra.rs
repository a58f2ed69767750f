//! The generic cell rate algorithm: a limit as a [`Rate`], one stored number per key
//! (the theoretical arrival time), and the [`Admission`] verdict of one step.

use std::time::Duration;

/// Token-bucket parameters (a GCRA: `burst` back to back, then `per_second`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Sustained rate.
    pub per_second: f64,
    /// How many may come at once.
    pub burst: u32,
}

impl Rate {
    /// Milliseconds between two messages at the sustained rate.
    pub fn interval_ms(&self) -> u64 {
        (1000.0 / self.per_second).ceil().max(1.0) as u64
    }
    /// How far ahead the theoretical arrival time may run (burst tolerance).
    pub fn tolerance_ms(&self) -> u64 {
        self.interval_ms() * (self.burst.max(1) as u64 - 1)
    }
}

/// Limiter parameters as (interval, tolerance) ms; (0, 0) means "no limit, holds only".
pub fn limiter_params(rate: Option<&Rate>) -> (u64, u64) {
    rate.map(|r| (r.interval_ms(), r.tolerance_ms())).unwrap_or((0, 0))
}

/// A rate limiter's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Allowed,
    /// Come back after this long.
    Limited(Duration),
}

/// One GCRA step: given the stored theoretical arrival time, the verdict and the new TAT.
pub fn gcra(stored_tat_ms: u64, now_ms: u64, rate: &Rate) -> (Admission, u64) {
    let tat = stored_tat_ms.max(now_ms);
    let allow_at = tat.saturating_sub(rate.tolerance_ms());
    if allow_at > now_ms {
        return (Admission::Limited(Duration::from_millis(allow_at - now_ms)), stored_tat_ms);
    }
    (Admission::Allowed, tat + rate.interval_ms())
}
