//! In-process rate limiter state for the embedded store (one process owns the file,
//! so process-local limits are exact).

use std::collections::HashMap;
use std::sync::Mutex;

use super::gcra::{gcra, Admission, Rate};

/// Past this many tracked keys, entries whose bucket is full again are dropped.
const PRUNE_AT: usize = 100_000;

/// Theoretical arrival times by key.
#[derive(Default)]
pub struct LocalLimits {
    tat: Mutex<HashMap<String, u64>>,
}

impl LocalLimits {
    /// One GCRA step for `key`; with no rate, only a hold is honoured (nothing is written).
    pub fn admit_or_check(&self, key: &str, rate: Option<&Rate>, now_ms: u64) -> Admission {
        match rate {
            Some(rate) => self.admit(key, rate, now_ms),
            None => match self.tat.lock().unwrap().get(key) {
                Some(&until) if until > now_ms => Admission::Limited(std::time::Duration::from_millis(until - now_ms)),
                _ => Admission::Allowed,
            },
        }
    }

    /// One GCRA step for `key`.
    pub fn admit(&self, key: &str, rate: &Rate, now_ms: u64) -> Admission {
        let mut map = self.tat.lock().unwrap();
        if map.len() >= PRUNE_AT {
            map.retain(|_, tat| *tat > now_ms);
        }
        // get_mut first: the common case (a known key) must not allocate.
        if let Some(stored) = map.get_mut(key) {
            let (verdict, tat) = gcra(*stored, now_ms, rate);
            *stored = tat;
            return verdict;
        }
        let (verdict, tat) = gcra(0, now_ms, rate);
        map.insert(key.to_owned(), tat);
        verdict
    }

    /// Refuse `key` until `until_ms`.
    pub fn hold(&self, key: &str, until_ms: u64, rate: Option<&Rate>) {
        let mut map = self.tat.lock().unwrap();
        let tat = until_ms + rate.map(Rate::tolerance_ms).unwrap_or(0);
        let entry = map.entry(key.to_owned()).or_insert(0);
        *entry = (*entry).max(tat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_sustained_rate() {
        let l = LocalLimits::default();
        let rate = Rate { per_second: 10.0, burst: 3 };
        for _ in 0..3 {
            assert_eq!(l.admit("k", &rate, 1000), Admission::Allowed);
        }
        assert!(matches!(l.admit("k", &rate, 1000), Admission::Limited(d) if d == Duration::from_millis(100)));
        assert_eq!(l.admit("k", &rate, 1100), Admission::Allowed);
        assert!(matches!(l.admit("k", &rate, 1100), Admission::Limited(_)));
        // Other keys are independent.
        assert_eq!(l.admit("other", &rate, 1100), Admission::Allowed);
    }

    #[test]
    fn hold_blocks_until_then() {
        let l = LocalLimits::default();
        let rate = Rate { per_second: 1.0, burst: 5 };
        l.hold("k", 61_000, Some(&rate));
        assert!(matches!(l.admit("k", &rate, 1_000), Admission::Limited(d) if d == Duration::from_secs(60)));
        assert_eq!(l.admit("k", &rate, 61_000), Admission::Allowed);
    }

    #[test]
    fn without_a_rate_only_holds_count() {
        let l = LocalLimits::default();
        for _ in 0..1000 {
            assert_eq!(l.admit_or_check("k", None, 1_000), Admission::Allowed);
        }
        l.hold("k", 31_000, None);
        assert!(matches!(l.admit_or_check("k", None, 1_000), Admission::Limited(d) if d == Duration::from_secs(30)));
        assert_eq!(l.admit_or_check("k", None, 31_000), Admission::Allowed);
    }
}
