//! Fault injection: scripted FCM errors and latency, and the set of dead tokens.
//!
//! Semantics (documented in the crate root too):
//! - Faults are matched per send: first the faults naming the send's token (or, for a send
//!   by `message.fid`, its FID), then the faults naming neither (all sends), each group in
//!   the order they were added.
//! - The first matching fault with an `error` decides the answer; faults with only `delay_ms`
//!   add latency (the largest matching delay wins) and the send then proceeds normally.
//! - Every fault that affected a send uses up one of its `times`; spent faults disappear.
//! - A token that was answered UNREGISTERED is remembered as dead: every later send to it gets
//!   UNREGISTERED, before any fault is looked at, even after `DELETE /emulator/faults`
//!   (only `POST /emulator/reset` revives dead tokens).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::errors::{fcm_detail, ApiError, MSG_INVALID_TOKEN};

/// FCM error codes the emulator can inject (`error.details[].errorCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FaultCode {
    /// 404 NOT_FOUND: the token is dead (remembered: later sends to it fail too).
    Unregistered,
    /// 403 PERMISSION_DENIED: the token belongs to another sender.
    SenderIdMismatch,
    /// 400 INVALID_ARGUMENT: "The registration token is not a valid FCM registration token".
    InvalidArgument,
    /// 429 RESOURCE_EXHAUSTED.
    QuotaExceeded,
    /// 503 UNAVAILABLE.
    Unavailable,
    /// 500 INTERNAL.
    Internal,
    /// 401 UNAUTHENTICATED (APNs / Web Push credentials of the project).
    ThirdPartyAuthError,
}

impl FaultCode {
    /// Every code.
    pub const ALL: [FaultCode; 7] = [
        FaultCode::Unregistered,
        FaultCode::SenderIdMismatch,
        FaultCode::InvalidArgument,
        FaultCode::QuotaExceeded,
        FaultCode::Unavailable,
        FaultCode::Internal,
        FaultCode::ThirdPartyAuthError,
    ];

    /// The code as FCM spells it (`"UNREGISTERED"`).
    pub fn as_str(self) -> &'static str {
        match self {
            FaultCode::Unregistered => "UNREGISTERED",
            FaultCode::SenderIdMismatch => "SENDER_ID_MISMATCH",
            FaultCode::InvalidArgument => "INVALID_ARGUMENT",
            FaultCode::QuotaExceeded => "QUOTA_EXCEEDED",
            FaultCode::Unavailable => "UNAVAILABLE",
            FaultCode::Internal => "INTERNAL",
            FaultCode::ThirdPartyAuthError => "THIRD_PARTY_AUTH_ERROR",
        }
    }

    /// Parse FCM's spelling.
    pub fn parse(s: &str) -> Option<FaultCode> {
        FaultCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The answer FCM gives for this code to a send to `project`.
    pub fn answer(self, project: &str) -> ApiError {
        let (status, rpc, msg) = self.http();
        let mut details = vec![fcm_detail(self.as_str())];
        if self == FaultCode::QuotaExceeded {
            details.push(json!({
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{
                    "subject": format!("projects/{project}"),
                    "description": "Message rate exceeded.",
                }],
            }));
        }
        ApiError::new(status, rpc, msg, Some(details))
    }

    /// HTTP status, `google.rpc` status and message FCM answers with for this code.
    pub fn http(self) -> (StatusCode, &'static str, &'static str) {
        match self {
            FaultCode::Unregistered => (StatusCode::NOT_FOUND, "NOT_FOUND", "Requested entity was not found."),
            FaultCode::SenderIdMismatch => (StatusCode::FORBIDDEN, "PERMISSION_DENIED", "SenderId mismatch"),
            FaultCode::InvalidArgument => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", MSG_INVALID_TOKEN),
            FaultCode::QuotaExceeded => {
                (StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
            }
            FaultCode::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "The service is currently unavailable."),
            FaultCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "Internal error encountered."),
            FaultCode::ThirdPartyAuthError => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"),
        }
    }
}

/// One injected fault, as listed by `GET /emulator/faults`.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    /// Identifier assigned when the fault was installed.
    pub id: u64,
    /// Only sends to this token (all sends when neither this nor `fid` is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Only sends by `message.fid` to this installation ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fid: Option<String>,
    /// The error answered (latency only when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FaultCode>,
    /// Sends it still affects; `None` = forever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// `Retry-After` seconds sent with the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Latency added, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

/// What the faults decided for one send.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub delay: Option<Duration>,
    pub error: Option<FaultCode>,
    pub retry_after: Option<u64>,
}

#[derive(Default)]
pub struct Faults {
    /// Fast path: false when no fault is installed, so the hot send path takes no lock.
    any: AtomicBool,
    any_dead: AtomicBool,
    next_id: AtomicU64,
    list: Mutex<Vec<Fault>>,
    dead: RwLock<HashSet<String>>,
}

impl Faults {
    pub fn add(&self, mut fault: Fault) -> Fault {
        fault.id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut list = self.list.lock().unwrap();
        list.push(fault.clone());
        self.any.store(true, Ordering::Release);
        fault
    }

    pub fn clear(&self) {
        let mut list = self.list.lock().unwrap();
        list.clear();
        self.any.store(false, Ordering::Release);
    }

    pub fn list(&self) -> Vec<Fault> {
        self.list.lock().unwrap().clone()
    }

    pub fn dead_tokens(&self) -> Vec<String> {
        let mut v: Vec<String> = self.dead.read().unwrap().iter().cloned().collect();
        v.sort();
        v
    }

    pub fn is_dead(&self, token: &str) -> bool {
        self.any_dead.load(Ordering::Acquire) && self.dead.read().unwrap().contains(token)
    }

    pub fn mark_dead(&self, token: &str) {
        let mut dead = self.dead.write().unwrap();
        dead.insert(token.to_owned());
        self.any_dead.store(true, Ordering::Release);
    }

    pub fn revive_all(&self) {
        let mut dead = self.dead.write().unwrap();
        dead.clear();
        self.any_dead.store(false, Ordering::Release);
    }

    /// Decide the fate of one send to `token` (None for topic/condition sends), using up one
    /// of the `times` of every fault that affected it.
    pub fn decide(&self, token: Option<&str>) -> Decision {
        self.decide_for(token.map(|t| (t, false)))
    }

    /// [`decide`](Self::decide) for a send to a device address: a token, or (`true`) a FID.
    pub fn decide_for(&self, address: Option<(&str, bool)>) -> Decision {
        if !self.any.load(Ordering::Acquire) {
            return Decision::default();
        }
        let mut list = self.list.lock().unwrap();
        let mut decision = Decision::default();
        let names = |f: &Fault| match address {
            Some((a, false)) => f.token.as_deref() == Some(a),
            Some((a, true)) => f.fid.as_deref() == Some(a),
            None => false,
        };
        let specific = list.iter().enumerate().filter(|(_, f)| names(f)).map(|(i, _)| i);
        let global = list.iter().enumerate().filter(|(_, f)| f.token.is_none() && f.fid.is_none()).map(|(i, _)| i);
        let order: Vec<usize> = specific.chain(global).collect();
        for i in order {
            let f = &mut list[i];
            if f.times == Some(0) {
                continue;
            }
            let affected = match f.error {
                Some(code) if decision.error.is_none() => {
                    decision.error = Some(code);
                    decision.retry_after = f.retry_after;
                    true
                }
                Some(_) => false,
                None => f.delay_ms.is_some(),
            };
            if !affected {
                continue;
            }
            if let Some(ms) = f.delay_ms {
                let d = Duration::from_millis(ms);
                decision.delay = Some(decision.delay.map_or(d, |cur| cur.max(d)));
            }
            if let Some(t) = f.times.as_mut() {
                *t -= 1;
            }
        }
        list.retain(|f| f.times != Some(0));
        if list.is_empty() {
            self.any.store(false, Ordering::Release);
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(token: Option<&str>, error: Option<FaultCode>, times: Option<u64>, delay_ms: Option<u64>) -> Fault {
        Fault { id: 0, token: token.map(str::to_owned), fid: None, error, times, retry_after: None, delay_ms }
    }

    #[test]
    fn token_faults_win_over_global_and_times_run_out() {
        let f = Faults::default();
        assert_eq!(f.decide(Some("a")), Decision::default());
        f.add(fault(None, Some(FaultCode::Unavailable), Some(1), None));
        f.add(fault(Some("a"), Some(FaultCode::QuotaExceeded), Some(1), Some(5)));
        let d = f.decide(Some("a"));
        assert_eq!(d.error, Some(FaultCode::QuotaExceeded));
        assert_eq!(d.delay, Some(Duration::from_millis(5)));
        assert_eq!(f.decide(Some("a")).error, Some(FaultCode::Unavailable));
        assert_eq!(f.decide(Some("a")), Decision::default());
        assert!(f.list().is_empty());
    }

    #[test]
    fn fid_faults_match_only_sends_by_fid() {
        let f = Faults::default();
        let fid = "fW3x_Ab-9QeRtYuI0pLkJh";
        f.add(Fault { fid: Some(fid.into()), ..fault(None, Some(FaultCode::Unregistered), None, None) });
        assert_eq!(f.decide(Some(fid)).error, None, "the same text sent as a token");
        assert_eq!(f.decide_for(Some(("other", true))).error, None);
        assert_eq!(f.decide_for(Some((fid, true))).error, Some(FaultCode::Unregistered));
        assert_eq!(f.decide(None).error, None, "not a global fault");
    }

    #[test]
    fn delay_only_faults_combine_with_errors() {
        let f = Faults::default();
        f.add(fault(None, None, None, Some(30)));
        f.add(fault(Some("b"), Some(FaultCode::Internal), Some(2), None));
        let d = f.decide(Some("b"));
        assert_eq!(d.error, Some(FaultCode::Internal));
        assert_eq!(d.delay, Some(Duration::from_millis(30)));
        let d = f.decide(Some("c"));
        assert_eq!(d.error, None);
        assert_eq!(d.delay, Some(Duration::from_millis(30)));
        assert_eq!(f.list().len(), 2);
    }
}
