//! Accepted messages and recent rejected sends kept for inspection (both bounded), and the
//! emulator's counters.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

use crate::errors::ApiError;
use crate::json::J;

/// Which of the message's target fields was set (FCM's `oneof target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// `message.token`: a registration token.
    Token,
    /// `message.fid`: a Firebase Installation ID.
    Fid,
    /// `message.topic`.
    Topic,
    /// `message.condition`.
    Condition,
}

/// One accepted message, as kept for `GET /emulator/messages`: an FCM v1 message
/// (`push` is None), or a Web Push request to `/fcm/send/{token}` (`project` empty,
/// `message` null).
#[derive(Debug)]
pub struct Stored {
    pub name: String,
    pub project: String,
    /// The device address: the FCM message's registration token or FID (see `target`),
    /// or the Web Push token.
    pub token: Option<String>,
    /// What an FCM message was addressed to (`message.token`, `.fid`, `.topic`,
    /// `.condition`); None for Web Push requests.
    pub target: Option<TargetKind>,
    pub message: J<'static>,
    pub received_at_ms: u64,
    pub push: Option<StoredPush>,
}

/// What a Web Push request carried: its RFC 8030 headers, its VAPID authorization and its
/// body, the bytes the phone gets as `rawData`.
#[derive(Debug)]
pub struct StoredPush {
    pub ttl: u32,
    pub urgency: Option<String>,
    pub topic: Option<String>,
    pub content_encoding: Option<String>,
    pub authorization: String,
    pub raw: axum::body::Bytes,
}

/// The headers of a kept Web Push request, as `GET /emulator/messages` shows them.
#[derive(Serialize)]
pub struct PushHeadersView<'a> {
    pub ttl: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgency: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<&'a str>,
    #[serde(rename = "content-encoding", skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<&'a str>,
    pub authorization: &'a str,
}

/// JSON shape of one entry of `GET /emulator/messages`: `road` is `"fcm"` (with `project`
/// and `message`) or `"webpush"` (with `token`, `headers` and `raw_data`, the body in
/// standard base64).
#[derive(Serialize)]
pub struct StoredView<'a> {
    pub road: &'static str,
    /// For FCM messages, which target field they were sent to (`token`, `fid`, `topic`,
    /// `condition`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetKind>,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a J<'static>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<PushHeadersView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_data: Option<String>,
    /// RFC 3339, UTC, millisecond precision.
    pub received_at: String,
    pub received_at_ms: u64,
}

impl Stored {
    pub fn view(&self) -> StoredView<'_> {
        let received_at = crate::time::rfc3339_millis(self.received_at_ms);
        match &self.push {
            None => StoredView {
                road: "fcm",
                target: self.target,
                name: &self.name,
                project: Some(&self.project),
                message: Some(&self.message),
                token: None,
                headers: None,
                raw_data: None,
                received_at,
                received_at_ms: self.received_at_ms,
            },
            Some(push) => StoredView {
                road: "webpush",
                target: None,
                name: &self.name,
                project: None,
                message: None,
                token: self.token.as_deref(),
                headers: Some(PushHeadersView {
                    ttl: push.ttl,
                    urgency: push.urgency.as_deref(),
                    topic: push.topic.as_deref(),
                    content_encoding: push.content_encoding.as_deref(),
                    authorization: &push.authorization,
                }),
                // Standard padded base64, as microG's `gcm.rawData64`.
                raw_data: Some(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &push.raw)),
                received_at,
                received_at_ms: self.received_at_ms,
            },
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

    /// Snapshot (oldest first), optionally only messages to `token` (a registration or
    /// Web Push token), to `fid` (an FCM message sent by `message.fid`) and/or of `project`.
    pub fn snapshot(&self, token: Option<&str>, fid: Option<&str>, project: Option<&str>) -> Vec<Arc<Stored>> {
        let by_fid = |m: &Stored| m.target == Some(TargetKind::Fid);
        let q = self.queue.lock().unwrap();
        q.iter()
            .filter(|m| token.is_none() || (m.token.as_deref() == token && !by_fid(m)))
            .filter(|m| fid.is_none() || (m.token.as_deref() == fid && by_fid(m)))
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

/// How many rejected sends are kept: enough to see what went wrong lately, few enough that
/// a flood of rejections (a benchmark's dead tokens) costs a bounded amount of memory.
pub const KEEP_REJECTED: usize = 100;

/// Request bodies larger than this are kept without their content (FCM's own limit on a
/// data payload is 4 KiB; anything far bigger is rejected for its size anyway).
const MAX_KEPT_REQUEST: usize = 16 * 1024;

/// One rejected send, as `GET /emulator/rejected` shows it.
#[derive(Debug, Serialize)]
pub struct Rejected {
    /// `"fcm"` or `"webpush"`.
    pub road: &'static str,
    /// The Web Push token of a refused Web Push request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub project: String,
    /// HTTP status answered.
    pub status: u16,
    /// FCM's `errorCode` when the answer had one, else the `google.rpc` status
    /// (`UNAUTHENTICATED`, `PERMISSION_DENIED`); for Web Push, a short name of the refusal.
    pub error: String,
    /// The error's message.
    pub message: String,
    /// The request's `message` object as received, or `null` when the body was not a JSON
    /// object or too large to keep.
    pub request: Value,
    /// RFC 3339, UTC, millisecond precision.
    pub received_at: String,
    pub received_at_ms: u64,
}

impl Rejected {
    /// A refused Web Push request to `token`.
    pub fn webpush(token: &str, status: u16, code: &str, message: &str) -> Rejected {
        let now_ms = crate::time::unix_millis();
        Rejected {
            road: "webpush",
            token: Some(token.to_owned()),
            project: String::new(),
            status,
            error: code.to_owned(),
            message: message.to_owned(),
            request: Value::Null,
            received_at: crate::time::rfc3339_millis(now_ms),
            received_at_ms: now_ms,
        }
    }
}

/// The most recent [`KEEP_REJECTED`] rejected sends.
#[derive(Default)]
pub struct Rejects {
    queue: Mutex<VecDeque<Arc<Rejected>>>,
}

impl Rejects {
    /// Keep a rejected send: its project (from the path), request body and answer.
    pub fn record(&self, project: &str, body: &[u8], answer: &ApiError) {
        let error = &answer.body["error"];
        let fcm_code = error["details"].as_array().and_then(|d| d.iter().find_map(|d| d["errorCode"].as_str()));
        let code = fcm_code.or_else(|| error["status"].as_str()).unwrap_or_default();
        let request = if body.len() <= MAX_KEPT_REQUEST {
            serde_json::from_slice::<Value>(body).ok().and_then(|mut v| v.get_mut("message").map(Value::take)).unwrap_or_default()
        } else {
            Value::Null
        };
        let now_ms = crate::time::unix_millis();
        self.push(Rejected {
            road: "fcm",
            token: None,
            project: project.to_owned(),
            status: answer.status.as_u16(),
            error: code.to_owned(),
            message: error["message"].as_str().unwrap_or_default().to_owned(),
            request,
            received_at: crate::time::rfc3339_millis(now_ms),
            received_at_ms: now_ms,
        });
    }

    /// Keep a rejected send, dropping the oldest beyond [`KEEP_REJECTED`].
    pub fn push(&self, rejected: Rejected) {
        let kept = Arc::new(rejected);
        let evicted = {
            let mut q = self.queue.lock().unwrap();
            let evicted = if q.len() >= KEEP_REJECTED { q.pop_front() } else { None };
            q.push_back(kept);
            evicted
        };
        drop(evicted);
    }

    /// Snapshot, oldest first.
    pub fn snapshot(&self) -> Vec<Arc<Rejected>> {
        self.queue.lock().unwrap().iter().cloned().collect()
    }

    pub fn clear(&self) {
        std::mem::take(&mut *self.queue.lock().unwrap());
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
