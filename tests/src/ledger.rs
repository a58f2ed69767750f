//! The chaos ledger: every push a relay answered 201, checked against what the FCM emulator
//! received (lost, duplicated, late, TTL extended, corrupted), and the load that fills it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;

use crate::emulator::EmulatorClient;
use crate::relay::{endpoint_path, random_bytes, unique_token, Device, PushResponse, Relay};

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A device with one registration per instance name; endpoint URLs in `endpoints`.
pub struct Target {
    pub device: Device,
    pub endpoints: Vec<String>,
}

/// `devices` devices with `per_device` endpoints each, created through `node`.
pub async fn make_targets(node: &Relay, label: &str, devices: usize, per_device: usize) -> Vec<Target> {
    let mut out = Vec::new();
    for d in 0..devices {
        let device = node.create_device(&unique_token(&format!("{label}{d}"))).await;
        let mut endpoints = Vec::new();
        for i in 0..per_device {
            endpoints.push(node.register(&device, &format!("app{i}"), None).await);
        }
        out.push(Target { device, endpoints });
    }
    out
}

/// Every (endpoint URL, token) pair of `targets`.
pub fn routes(targets: &[Target]) -> Vec<(String, String)> {
    targets.iter().flat_map(|t| t.endpoints.iter().map(|e| (e.clone(), t.device.token.clone()))).collect()
}

/// A push the relay answered 201.
#[derive(Debug, Clone)]
pub struct Acked {
    /// Message id from `Location` (the `m` of the FCM data map).
    pub m: String,
    pub token: String,
    pub ttl: u64,
    /// When the 201 arrived (the relay's expiry time is at most this + TTL).
    pub acked_ms: u64,
    pub body: Vec<u8>,
    /// Which relay answered.
    pub via: String,
}

/// Everything a load phase sent and got back.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    pub acked: Vec<Acked>,
    /// Non-201 answers by status.
    pub refused: BTreeMap<u16, usize>,
    /// Pushes without an answer (connection refused or reset, timeout).
    pub transport_errors: usize,
    /// Non-201 answers that lacked a Retry-After while being 429/503.
    pub missing_retry_after: usize,
}

impl Ledger {
    /// Record one push outcome (`Err`: no answer).
    pub fn record(&mut self, via: &str, token: &str, ttl: u64, body: Vec<u8>, result: Result<&PushResponse, &String>) {
        match result {
            Ok(r) if r.status == StatusCode::CREATED => {
                self.acked.push(Acked { m: r.message_id(), token: token.to_owned(), ttl, acked_ms: now_ms(), body, via: via.to_owned() })
            }
            Ok(r) => {
                *self.refused.entry(r.status.as_u16()).or_default() += 1;
                let retryable = r.status == StatusCode::SERVICE_UNAVAILABLE || r.status == StatusCode::TOO_MANY_REQUESTS;
                if retryable && r.header("retry-after").and_then(|v| v.parse::<u64>().ok()).is_none() {
                    self.missing_retry_after += 1;
                }
            }
            Err(_) => self.transport_errors += 1,
        }
    }

    pub fn merge(&mut self, other: Ledger) {
        self.acked.extend(other.acked);
        for (k, v) in other.refused {
            *self.refused.entry(k).or_default() += v;
        }
        self.transport_errors += other.transport_errors;
        self.missing_retry_after += other.missing_retry_after;
    }

    pub fn attempts(&self) -> usize {
        self.acked.len() + self.refused.values().sum::<usize>() + self.transport_errors
    }
}

/// A push body that names its phase and sequence number, padded with random bytes to `len`.
pub fn tagged_body(tag: &str, seq: usize, len: usize) -> Vec<u8> {
    let mut b = format!("{tag}:{seq:06}:").into_bytes();
    if b.len() < len {
        b.extend(random_bytes(len - b.len()));
    }
    b
}

/// Push `n` messages round-robin over `routes` through `node` (whichever relay made the
/// endpoints), `concurrency` at a time, with `TTL: ttl`. Every 25th body is 4096 bytes
/// (split in two FCM messages).
pub async fn push_load(node: &Relay, routes: &[(String, String)], tag: &str, n: usize, ttl: u64, concurrency: usize) -> Ledger {
    use futures::StreamExt;
    let ttl_s = ttl.to_string();
    let results: Vec<(String, Vec<u8>, Result<PushResponse, String>)> = futures::stream::iter(0..n)
        .map(|i| {
            let (endpoint, token) = routes[i % routes.len()].clone();
            let body = tagged_body(tag, i, if i % 25 == 7 { 4096 } else { 64 + i % 200 });
            let ttl_s = ttl_s.clone();
            async move {
                let r = node.try_push(&node.http, &node.url(&endpoint_path(&endpoint)), &[("TTL", &ttl_s)], body.clone()).await;
                (token, body, r)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut ledger = Ledger::default();
    for (token, body, r) in results {
        ledger.record(&node.config.name, &token, ttl, body, r.as_ref());
    }
    ledger
}

/// One FCM message as the emulator kept it.
#[derive(Debug, Clone)]
pub struct Received {
    pub m: String,
    pub s: String,
    pub token: String,
    pub bytes: Vec<u8>,
    pub received_ms: u64,
    pub android_ttl_s: u64,
}

/// Parse `GET /emulator/messages` entries.
pub fn parse_received(msgs: &[Value]) -> Vec<Received> {
    msgs.iter()
        .map(|v| {
            let msg = &v["message"];
            let data = &msg["data"];
            Received {
                m: data["m"].as_str().unwrap_or("").to_owned(),
                s: data["s"].as_str().unwrap_or("").to_owned(),
                token: msg["token"].as_str().unwrap_or("").to_owned(),
                bytes: STANDARD.decode(data["b"].as_str().unwrap_or("")).unwrap_or_else(|e| panic!("data.b not base64 ({e}): {v}")),
                received_ms: v["received_at_ms"].as_u64().unwrap_or(0),
                android_ttl_s: msg["android"]["ttl"].as_str().and_then(|t| t.trim_end_matches('s').parse().ok()).unwrap_or(0),
            }
        })
        .collect()
}

/// The verdict on a ledger against what FCM received.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// 201-acknowledged messages.
    pub accepted: usize,
    /// Acknowledged messages that reached FCM whole (both halves when split).
    pub delivered: usize,
    /// Acknowledged, TTL not over, not delivered.
    pub lost: Vec<String>,
    /// Acknowledged, not delivered, TTL over (allowed).
    pub expired: Vec<String>,
    /// Acknowledged messages that reached FCM more than once.
    pub duplicated: Vec<String>,
    /// FCM messages beyond the first of each (message, half).
    pub extra_copies: usize,
    /// Delivered after acknowledgement time + TTL.
    pub late: Vec<String>,
    /// Sent with an `android.ttl` reaching past the original expiry (by > 1 s).
    pub ttl_extended: Vec<String>,
    /// Delivered with another body or to another token than acknowledged.
    pub corrupt: Vec<String>,
    /// Distinct message ids FCM received that no 201 acknowledged (pushes whose answer was
    /// lost to a crash, an outage, a timeout).
    pub unacknowledged_delivered: usize,
}

impl Tally {
    pub fn compute(ledger: &Ledger, received: &[Received], now: u64) -> Tally {
        let mut by_m: HashMap<&str, Vec<&Received>> = HashMap::new();
        for r in received {
            by_m.entry(r.m.as_str()).or_default().push(r);
        }
        let mut t = Tally { accepted: ledger.acked.len(), ..Tally::default() };
        let acked_ids: BTreeSet<&str> = ledger.acked.iter().map(|a| a.m.as_str()).collect();
        t.unacknowledged_delivered = by_m.keys().filter(|m| !acked_ids.contains(*m)).count();
        for a in &ledger.acked {
            let parts = by_m.get(a.m.as_str()).cloned().unwrap_or_default();
            let labels: BTreeSet<&str> = parts.iter().map(|p| p.s.as_str()).collect();
            let whole = labels.contains("") || (labels.contains("1") && labels.contains("2"));
            let expiry = a.acked_ms + a.ttl * 1000;
            if !whole {
                if now > expiry {
                    t.expired.push(a.m.clone());
                } else {
                    t.lost.push(a.m.clone());
                }
                continue;
            }
            t.delivered += 1;
            let extra = parts.len() - labels.len();
            if extra > 0 {
                t.duplicated.push(a.m.clone());
                t.extra_copies += extra;
            }
            if parts.iter().any(|p| p.received_ms > expiry) {
                t.late.push(a.m.clone());
            }
            if parts.iter().any(|p| p.received_ms + p.android_ttl_s * 1000 > expiry + 1000) {
                t.ttl_extended.push(a.m.clone());
            }
            // Every copy of every half must carry the acknowledged bytes, to the right token.
            let first_of = |s: &str| parts.iter().find(|p| p.s == s).map(|p| p.bytes.clone());
            let body = if labels.contains("") { first_of("").unwrap() } else { [first_of("1").unwrap(), first_of("2").unwrap()].concat() };
            let same_copies = parts.iter().all(|p| Some(&p.bytes) == first_of(&p.s).as_ref());
            if body != a.body || !same_copies || parts.iter().any(|p| p.token != a.token) {
                t.corrupt.push(a.m.clone());
            }
        }
        t
    }

    /// One row of the table.
    pub fn row(&self, fault: &str) -> String {
        format!(
            "| {fault} | {} | {} | {} | {} msgs ({} extra copies) | expired {} | late {} | unacked-but-delivered {} |",
            self.accepted,
            self.delivered,
            self.lost.len(),
            self.duplicated.len(),
            self.extra_copies,
            self.expired.len(),
            self.late.len(),
            self.unacknowledged_delivered
        )
    }

    /// Panic unless nothing was lost, late, extended or corrupted.
    #[track_caller]
    pub fn assert_sound(&self, context: &str) {
        assert!(self.lost.is_empty(), "{context}: {} acknowledged messages LOST: {:?}\n{self:?}", self.lost.len(), first(&self.lost));
        assert!(self.late.is_empty(), "{context}: delivered after their TTL: {:?}", first(&self.late));
        assert!(self.ttl_extended.is_empty(), "{context}: android.ttl reaches past the original expiry: {:?}", first(&self.ttl_extended));
        assert!(self.corrupt.is_empty(), "{context}: delivered with a wrong body or token: {:?}", first(&self.corrupt));
    }
}

fn first(v: &[String]) -> &[String] {
    &v[..v.len().min(10)]
}

/// All FCM messages the emulator kept.
pub async fn received(emulator: &EmulatorClient) -> Vec<Received> {
    parse_received(&emulator.messages(None).await)
}

/// Wait (at most `limit`) until every acknowledged message of `ledger` whose TTL is not
/// over reached FCM, then `settle` longer for late duplicates; the final tally.
pub async fn await_delivery(emulator: &EmulatorClient, ledger: &Ledger, limit: Duration, settle: Duration) -> Tally {
    let deadline = Instant::now() + limit;
    loop {
        let t = Tally::compute(ledger, &received(emulator).await, now_ms());
        if t.lost.is_empty() || Instant::now() >= deadline {
            if t.lost.is_empty() {
                tokio::time::sleep(settle).await;
                return Tally::compute(ledger, &received(emulator).await, now_ms());
            }
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(m: &str, ttl: u64, acked_ms: u64, body: &[u8]) -> Acked {
        Acked { m: m.into(), token: "t".into(), ttl, acked_ms, body: body.to_vec(), via: "n".into() }
    }

    fn got(m: &str, s: &str, bytes: &[u8], received_ms: u64, android_ttl_s: u64) -> Received {
        Received { m: m.into(), s: s.into(), token: "t".into(), bytes: bytes.to_vec(), received_ms, android_ttl_s }
    }

    #[test]
    fn tally_finds_lost_expired_duplicated_late_extended_and_corrupt() {
        let ledger = Ledger {
            acked: vec![
                acked("ok", 60, 1_000, b"a"),
                acked("split", 60, 1_000, b"abcd"),
                acked("half", 60, 1_000, b"abcd"),
                acked("lost", 60, 1_000, b"x"),
                acked("expired", 1, 1_000, b"x"),
                acked("dup", 60, 1_000, b"d"),
                acked("late", 1, 1_000, b"l"),
                acked("extended", 10, 1_000, b"e"),
                acked("corrupt", 60, 1_000, b"c"),
            ],
            ..Ledger::default()
        };
        let received = vec![
            got("ok", "", b"a", 1_100, 59),
            got("split", "2", b"cd", 1_100, 59),
            got("split", "1", b"ab", 1_100, 59),
            got("half", "1", b"ab", 1_100, 59),
            got("dup", "", b"d", 1_100, 59),
            got("dup", "", b"d", 1_200, 59),
            got("late", "", b"l", 2_500, 0),
            got("extended", "", b"e", 2_000, 60),
            got("corrupt", "", b"C", 1_100, 59),
            got("stranger", "", b"s", 1_100, 59),
        ];
        let t = Tally::compute(&ledger, &received, 10_000);
        assert_eq!(t.accepted, 9);
        assert_eq!(t.lost, vec!["half".to_string(), "lost".to_string()]);
        assert_eq!(t.expired, vec!["expired".to_string()]);
        assert_eq!(t.duplicated, vec!["dup".to_string()]);
        assert_eq!(t.extra_copies, 1);
        assert_eq!(t.late, vec!["late".to_string()]);
        assert_eq!(t.ttl_extended, vec!["extended".to_string()]);
        assert_eq!(t.corrupt, vec!["corrupt".to_string()]);
        assert_eq!(t.unacknowledged_delivered, 1);
        assert_eq!(t.delivered, 6);
        let r = std::panic::catch_unwind(|| t.assert_sound("x"));
        assert!(r.is_err(), "assert_sound must fail on a lost message");
    }
}
