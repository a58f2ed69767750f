//! Accepted messages kept for inspection (bounded), and the emulator's counters.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::json::J;

/// One accepted message, as kept for `GET /emulator/messages`.
#[derive(Debug)]
pub struct Stored {
    pub name: String,
    pub project: String,
    pub token: Option<String>,
    pub message: J<'static>,
    pub received_at_ms: u64,
}

/// JSON shape of one entry of `GET /emulator/messages`.
#[derive(Serialize)]
pub struct StoredView<'a> {
    pub name: &'a str,
    pub project: &'a str,
    pub message: &'a J<'static>,
    /// RFC 3339, UTC, millisecond precision.
    pub received_at: String,
    pub received_at_ms: u64,
}

impl Stored {
    pub fn view(&self) -> StoredView<'_> {
        StoredView {
            name: &self.name,
            project: &self.project,
            message: &self.message,
            received_at: crate::time::rfc3339_millis(self.received_at_ms),
            received_at_ms: self.received_at_ms,
        }
    }
}

pub struct Inbox {
    keep: usize,
    queue: Mutex<VecDeque<Arc<Stored>>>,
}

impl Inbox {
    pub fn new(keep: usize) -> Self {
        Inbox { keep, queue: Mutex::new(VecDeque::with_capacity(keep.min(1024))) }
    }

    /// Whether accepted messages are kept at all (`--keep 0` keeps none): when not, callers
    /// need not build a [`Stored`].
    pub fn keeps(&self) -> bool {
        self.keep > 0
    }

    pub fn push(&self, m: Stored) {
        if self.keep == 0 {
            return;
        }
        let m = Arc::new(m);
        let evicted = {
            let mut q = self.queue.lock().unwrap();
            let evicted = if q.len() >= self.keep { q.pop_front() } else { None };
            q.push_back(m);
            evicted
        };
        drop(evicted); // freed outside the lock
    }

    /// Snapshot (oldest first), optionally only messages to `token` and/or of `project`.
    pub fn snapshot(&self, token: Option<&str>, project: Option<&str>) -> Vec<Arc<Stored>> {
        let q = self.queue.lock().unwrap();
        q.iter()
            .filter(|m| token.is_none() || m.token.as_deref() == token)
            .filter(|m| project.is_none() || Some(m.project.as_str()) == project)
            .cloned()
            .collect()
    }

    pub fn clear(&self) -> usize {
        let old = std::mem::take(&mut *self.queue.lock().unwrap());
        old.len()
    }

    pub fn len(&self) -> usize {
        self.queue.lock().unwrap().len()
    }
}

#[derive(Default)]
pub struct Stats {
    pub accepted: AtomicU64,
    pub validated: AtomicU64,
    pub rejected: AtomicU64,
    pub send_requests: AtomicU64,
}

impl Stats {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
