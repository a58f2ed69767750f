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
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    tat: HashMap<String, u64>,
    /// The size that triggers the next prune: at least [`PRUNE_AT`], and twice what the last
    /// prune kept, so a map full of live keys is not scanned again on every admit (each
    /// scan is paid for by as many new keys as it visited).
    prune_at: usize,
    /// Entries visited by prunes so far: what a prune costs, for tests.
    #[cfg(test)]
    visited: usize,
}

impl State {
    fn prune_if_due(&mut self, now_ms: u64) {
        if self.tat.len() < self.prune_at.max(PRUNE_AT) {
            return;
        }
        #[cfg(test)]
        {
            self.visited += self.tat.len();
        }
        // An entry whose TAT has passed is a full bucket and no hold: the same as no entry.
        self.tat.retain(|_, tat| *tat > now_ms);
        self.prune_at = (self.tat.len() * 2).max(PRUNE_AT);
    }
}

impl LocalLimits {
    /// One GCRA step for `key`; with no rate, only a hold is honoured (nothing is written).
    pub fn admit_or_check(&self, key: &str, rate: Option<&Rate>, now_ms: u64) -> Admission {
        match rate {
            Some(rate) => self.admit(key, rate, now_ms),
            None => match self.state.lock().unwrap().tat.get(key) {
                Some(&until) if until > now_ms => Admission::Limited(std::time::Duration::from_millis(until - now_ms)),
                _ => Admission::Allowed,
            },
        }
    }

    /// One GCRA step for `key`.
    pub fn admit(&self, key: &str, rate: &Rate, now_ms: u64) -> Admission {
        let mut state = self.state.lock().unwrap();
        state.prune_if_due(now_ms);
        let map = &mut state.tat;
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
        let mut state = self.state.lock().unwrap();
        let tat = until_ms + rate.map(Rate::tolerance_ms).unwrap_or(0);
        let entry = state.tat.entry(key.to_owned()).or_insert(0);
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

    /// More live keys than the prune threshold: a prune drops only the expired entries
    /// (holds and spent buckets stay), and admits after it do not rescan the whole map.
    #[test]
    fn pruning_keeps_live_state_and_is_not_a_scan_per_admit() {
        let l = LocalLimits::default();
        let rate = Rate { per_second: 1.0, burst: 1 };
        let now = 1_000_000;
        // Keys whose bucket is full again by `now`, then quota holds (no rate) and spent
        // buckets, both live for a minute.
        for i in 0..PRUNE_AT / 10 {
            assert_eq!(l.admit(&format!("old-{i}"), &rate, now - 10_000), Admission::Allowed);
        }
        let live = PRUNE_AT + PRUNE_AT / 10;
        for i in 0..live {
            if i % 2 == 0 {
                l.hold(&format!("hold-{i}"), now + 60_000, None);
            } else {
                l.hold(&format!("spent-{i}"), now + 60_000, Some(&rate));
            }
        }
        assert_eq!(l.state.lock().unwrap().visited, 0);
        // The next admit prunes once: the expired keys go, every live one stays.
        assert_eq!(l.admit("fresh", &rate, now), Admission::Allowed);
        let visited = l.state.lock().unwrap().visited;
        assert_eq!(visited, live + PRUNE_AT / 10, "one prune visits the map once");
        assert_eq!(l.state.lock().unwrap().tat.len(), live + 1, "only expired entries are pruned");
        for i in (0..live).step_by(997) {
            let key = if i % 2 == 0 { format!("hold-{i}") } else { format!("spent-{i}") };
            let verdict = if i % 2 == 0 { l.admit_or_check(&key, None, now) } else { l.admit(&key, &rate, now) };
            assert!(matches!(verdict, Admission::Limited(d) if d >= Duration::from_secs(59)), "{key} lost its limit: {verdict:?}");
        }
        // Many more admits of new keys with the map still over the threshold: no full scan each.
        for i in 0..1000 {
            assert_eq!(l.admit(&format!("new-{i}"), &rate, now), Admission::Allowed);
        }
        assert_eq!(l.state.lock().unwrap().visited, visited, "admits after a prune rescanned the map");
    }

    /// Once the map has grown to twice what the last prune kept, expired entries go again.
    #[test]
    fn pruning_comes_back_as_the_map_grows() {
        let l = LocalLimits::default();
        let rate = Rate { per_second: 1.0, burst: 1 };
        for i in 0..PRUNE_AT {
            l.admit(&format!("a-{i}"), &rate, 1_000);
        }
        // All expired by now: the prune empties the map and the next one waits for PRUNE_AT.
        l.admit("b", &rate, 100_000);
        assert_eq!(l.state.lock().unwrap().tat.len(), 1);
        for i in 0..PRUNE_AT - 1 {
            l.admit(&format!("c-{i}"), &rate, 100_000);
        }
        l.admit("d", &rate, 200_000);
        assert_eq!(l.state.lock().unwrap().tat.len(), 1, "the second prune did not come");
        assert_eq!(l.state.lock().unwrap().visited, 2 * PRUNE_AT);
    }
}
