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
use std::io::Write;
use uprelay_emulator::wire::MAX_DATA_BYTES;

/// Android delivery priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Priority {
    /// May be delayed by Doze.
    Normal,
    /// Wakes the device.
    High,
}

/// Who an FCM v1 message goes to: exactly one of `message.token` and `message.fid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient<'a> {
    /// A registration token (`message.token`).
    Token(&'a str),
    /// A Firebase Installation ID (`message.fid`).
    Fid(&'a str),
}

impl<'a> Recipient<'a> {
    /// The JSON member that names it, up to its value: `{"message":{"token":`.
    fn opening(self) -> (&'static [u8], &'a str) {
        match self {
            Recipient::Token(t) => (br#"{"message":{"token":"#, t),
            Recipient::Fid(f) => (br#"{"message":{"fid":"#, f),
        }
    }
}

/// What one push becomes on the FCM side.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The device's token or FID.
    pub recipient: Recipient<'a>,
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

/// Keys and values of the data map plus JSON quoting (`{"i":"…","b":"…","m":"…","s":"1"}`).
/// The exact accounting FCM applies is undocumented, so we count the serialized JSON
/// object, which is never less than keys + values: autopush-rs checks the same way.
fn data_size(instance: &str, b_len: usize, m: &str, split: bool) -> usize {
    let fixed = r#"{"i":"","b":"","m":""}"#.len() + if split { r#","s":"1""#.len() } else { 0 };
    fixed + json_len(instance) + b_len + m.len()
}

/// The `b` value of one request: the body itself, base64-encoded straight into the request
/// (the common case: no intermediate string, no extra copy), or one half of its encoding.
enum Payload<'a> {
    Raw(&'a [u8]),
    Encoded(&'a str),
}

/// Length of `s` once JSON-escaped, without the quotes.
fn json_len(s: &str) -> usize {
    serde_json::to_string(s).map(|q| q.len() - 2).unwrap_or(usize::MAX / 2)
}

/// Append `s` as a JSON string (escaped: tokens and instances come from clients).
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

impl Outgoing<'_> {
    /// The JSON request bodies to POST to `messages:send`, one or two.
    pub fn encode(&self) -> Vec<Bytes> {
        let b64_len = base64::encoded_len(self.body.len(), true).expect("bodies are at most a few KB");
        if data_size(self.instance, b64_len, self.message_id, false) <= MAX_DATA_BYTES {
            return vec![self.request(Payload::Raw(self.body), None, self.collapse_key)];
        }
        let b64 = STANDARD.encode(self.body);
        // Cut at a multiple of 4 near the middle so each half decodes alone.
        let cut = (b64.len() / 8) * 4;
        let cut = if cut == 0 { 4.min(b64.len()) } else { cut };
        let (first, second) = b64.split_at(cut);
        [(first, "1"), (second, "2")]
            .into_iter()
            // A collapse key on halves could let FCM drop one half and keep the other.
            .map(|(b, s)| self.request(Payload::Encoded(b), Some(s), None))
            .collect()
    }

    /// The request JSON, written directly: base64 and our own ids need no escaping, and
    /// serde's per-character escape scan of a 5 KB body showed in profiles.
    fn request(&self, payload: Payload<'_>, part: Option<&str>, collapse_key: Option<&str>) -> Bytes {
        let b_len = match payload {
            Payload::Raw(raw) => base64::encoded_len(raw.len(), true).expect("bodies are at most a few KB"),
            Payload::Encoded(b) => b.len(),
        };
        let (opening, recipient) = self.recipient.opening();
        let mut out = Vec::with_capacity(160 + recipient.len() + self.instance.len() + b_len);
        out.extend_from_slice(opening);
        push_json_str(&mut out, recipient);
        out.extend_from_slice(br#","data":{"i":"#);
        push_json_str(&mut out, self.instance);
        out.extend_from_slice(br#","b":""#);
        match payload {
            Payload::Raw(raw) => {
                let start = out.len();
                out.resize(start + b_len, 0);
                STANDARD.encode_slice(raw, &mut out[start..]).expect("sized by encoded_len");
            }
            Payload::Encoded(b) => out.extend_from_slice(b.as_bytes()),
        }
        out.extend_from_slice(br#"","m":"#);
        push_json_str(&mut out, self.message_id);
        if let Some(s) = part {
            out.extend_from_slice(br#","s":"#);
            push_json_str(&mut out, s);
        }
        out.extend_from_slice(br#"},"android":{"priority":""#);
        out.extend_from_slice(match self.priority {
            Priority::High => b"HIGH",
            Priority::Normal => b"NORMAL",
        });
        out.extend_from_slice(br#"","ttl":""#);
        write!(out, "{}", self.ttl_secs).expect("writing to a Vec cannot fail");
        out.extend_from_slice(b"s\"");
        if let Some(key) = collapse_key {
            out.extend_from_slice(br#","collapse_key":"#);
            push_json_str(&mut out, key);
        }
        out.extend_from_slice(b"}}}");
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn outgoing(body: &[u8]) -> Outgoing<'_> {
        Outgoing {
            recipient: Recipient::Token("tok"),
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
            assert!(serde_json::to_vec(data).unwrap().len() <= MAX_DATA_BYTES);
            assert!(m["message"]["android"].get("collapse_key").is_none());
        }
    }

    #[test]
    fn client_supplied_strings_are_escaped() {
        let o = Outgoing { recipient: Recipient::Token("to\"k\\en"), instance: "in\"st", ..outgoing(b"x") };
        let v: Value = serde_json::from_slice(&o.encode()[0]).unwrap();
        assert_eq!(v["message"]["token"], "to\"k\\en");
        assert_eq!(v["message"]["data"]["i"], "in\"st");
    }

    #[test]
    fn a_fid_goes_as_message_fid_and_never_beside_a_token() {
        for body in [&b"short"[..], &[7u8; 4096][..]] {
            let o = Outgoing { recipient: Recipient::Fid("fW3x_Ab-9QeRtYuI0pLkJh"), ..outgoing(body) };
            for part in o.encode() {
                let v: Value = serde_json::from_slice(&part).unwrap();
                assert_eq!(v["message"]["fid"], "fW3x_Ab-9QeRtYuI0pLkJh");
                assert!(v["message"].get("token").is_none(), "{v}");
            }
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
                assert!(serde_json::to_vec(&m["message"]["data"]).unwrap().len() <= MAX_DATA_BYTES, "len {len}");
            }
        }
    }
}
