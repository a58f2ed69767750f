//! The FCM v1 request bodies uprelay sends: a data message carrying one push, or two
//! when the push does not fit FCM's 4096-byte data limit.
//!
//! Data map: `i` instance, `b` body (standard padded base64), `m` message id, and
//! `s` = "1"/"2" on split halves. Each half's `b` is valid base64 on its own (cut at a
//! multiple of 4), so a receiver may decode the halves separately and join the bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde::Serialize;

/// FCM's documented limit for the data payload of a token message.
pub const DATA_LIMIT: usize = 4096;

/// Android delivery priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Priority {
    /// May be delayed by Doze.
    Normal,
    /// Wakes the device.
    High,
}

/// What one push becomes on the FCM side.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// FCM registration token.
    pub token: &'a str,
    /// Instance (`i`).
    pub instance: &'a str,
    /// uprelay message id (`m`).
    pub message_id: &'a str,
    /// The push body, bytes as received.
    pub body: &'a [u8],
    /// Android priority.
    pub priority: Priority,
    /// Seconds FCM may keep it.
    pub ttl_secs: u32,
    /// Topic → collapse key (single messages only).
    pub collapse_key: Option<&'a str>,
}

#[derive(Serialize)]
struct SendRequest<'a> {
    message: Message<'a>,
}

#[derive(Serialize)]
struct Message<'a> {
    token: &'a str,
    data: Data<'a>,
    android: Android<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    i: &'a str,
    b: &'a str,
    m: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'static str>,
}

#[derive(Serialize)]
struct Android<'a> {
    priority: Priority,
    ttl: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    collapse_key: Option<&'a str>,
}

/// Size of the data map as FCM may count it. The exact accounting is undocumented,
/// so we count the serialized JSON object (quotes, colons, commas included), which is
/// never less than keys + values: autopush-rs checks the same way.
fn data_size(d: &Data<'_>) -> usize {
    serde_json::to_vec(d).map(|v| v.len()).unwrap_or(usize::MAX)
}

impl Outgoing<'_> {
    /// The JSON request bodies to POST to `messages:send`, one or two.
    pub fn encode(&self) -> Vec<Bytes> {
        let b64 = STANDARD.encode(self.body);
        let whole = Data { i: self.instance, b: &b64, m: self.message_id, s: None };
        if data_size(&whole) <= DATA_LIMIT {
            return vec![self.request(whole, self.collapse_key)];
        }
        // Cut at a multiple of 4 near the middle so each half decodes alone.
        let cut = (b64.len() / 8) * 4;
        let cut = if cut == 0 { 4.min(b64.len()) } else { cut };
        let (first, second) = b64.split_at(cut);
        [(first, "1"), (second, "2")]
            .into_iter()
            // A collapse key on halves could let FCM drop one half and keep the other.
            .map(|(b, s)| self.request(Data { i: self.instance, b, m: self.message_id, s: Some(s) }, None))
            .collect()
    }

    fn request(&self, data: Data<'_>, collapse_key: Option<&str>) -> Bytes {
        let req = SendRequest {
            message: Message {
                token: self.token,
                data,
                android: Android { priority: self.priority, ttl: format!("{}s", self.ttl_secs), collapse_key },
            },
        };
        Bytes::from(serde_json::to_vec(&req).expect("serializing plain structs cannot fail"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn outgoing(body: &[u8]) -> Outgoing<'_> {
        Outgoing {
            token: "tok",
            instance: "inst",
            message_id: "mid",
            body,
            priority: Priority::High,
            ttl_secs: 60,
            collapse_key: Some("topic"),
        }
    }

    fn decode(parts: &[Bytes]) -> (Vec<u8>, Vec<Value>) {
        let msgs: Vec<Value> = parts.iter().map(|p| serde_json::from_slice(p).unwrap()).collect();
        let mut body = Vec::new();
        for m in &msgs {
            body.extend(STANDARD.decode(m["message"]["data"]["b"].as_str().unwrap()).unwrap());
        }
        (body, msgs)
    }

    #[test]
    fn small_body_is_one_message_with_everything() {
        let parts = outgoing(b"hello").encode();
        assert_eq!(parts.len(), 1);
        let (body, msgs) = decode(&parts);
        assert_eq!(body, b"hello");
        let m = &msgs[0]["message"];
        assert_eq!(m["token"], "tok");
        assert_eq!(m["data"]["i"], "inst");
        assert_eq!(m["data"]["m"], "mid");
        assert!(m["data"].get("s").is_none());
        assert_eq!(m["android"]["priority"], "HIGH");
        assert_eq!(m["android"]["ttl"], "60s");
        assert_eq!(m["android"]["collapse_key"], "topic");
    }

    #[test]
    fn max_body_splits_into_two_self_contained_halves() {
        let body: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
        let parts = outgoing(&body).encode();
        assert_eq!(parts.len(), 2);
        let (joined, msgs) = decode(&parts);
        assert_eq!(joined, body);
        for (m, s) in msgs.iter().zip(["1", "2"]) {
            let data = &m["message"]["data"];
            assert_eq!(data["s"], s);
            assert_eq!(data["b"].as_str().unwrap().len() % 4, 0);
            assert!(serde_json::to_vec(data).unwrap().len() <= DATA_LIMIT);
            assert!(m["message"]["android"].get("collapse_key").is_none());
        }
    }

    #[test]
    fn every_size_round_trips_within_the_limit() {
        for len in (1..=4096).step_by(97).chain([2900, 2990, 3000, 3050, 4095, 4096]) {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let parts = outgoing(&body).encode();
            let (joined, msgs) = decode(&parts);
            assert_eq!(joined, body, "len {len}");
            for m in msgs {
                assert!(serde_json::to_vec(&m["message"]["data"]).unwrap().len() <= DATA_LIMIT, "len {len}");
            }
        }
    }
}
