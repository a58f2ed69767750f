//! Compact binary encodings of store values. Shared by both backends so the bytes in
//! Redis and in the embedded file are the same; a leading version byte leaves room
//! to evolve them.

use super::{Registration, Route, StoreError};
use crate::ids::{DeviceId, EndpointId};
use crate::webpush::VapidKey;

const VERSION: u8 = 1;

fn put_short(out: &mut Vec<u8>, s: &[u8]) {
    debug_assert!(s.len() <= u8::MAX as usize);
    out.push(s.len() as u8);
    out.extend_from_slice(s);
}

fn put_long(out: &mut Vec<u8>, s: &[u8]) {
    debug_assert!(s.len() <= u16::MAX as usize);
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s);
}

/// A presence byte first, so a record cut short can never read as "unrestricted".
fn put_vapid(out: &mut Vec<u8>, vapid: Option<&VapidKey>) {
    match vapid {
        Some(k) => {
            out.push(1);
            out.extend_from_slice(k.as_bytes());
        }
        None => out.push(0),
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.0.len() < n {
            return Err(corrupt());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn short(&mut self) -> Result<&'a [u8], StoreError> {
        let n = self.take(1)?[0] as usize;
        self.take(n)
    }
    fn long(&mut self) -> Result<&'a [u8], StoreError> {
        let b = self.take(2)?;
        self.take(u16::from_le_bytes([b[0], b[1]]) as usize)
    }
    fn str(bytes: &'a [u8]) -> Result<&'a str, StoreError> {
        std::str::from_utf8(bytes).map_err(|_| corrupt())
    }
    fn vapid(&mut self) -> Result<Option<VapidKey>, StoreError> {
        Ok(match self.take(1)?[0] {
            0 => None,
            1 => Some(VapidKey::from_bytes(self.take(65)?).ok_or_else(corrupt)?),
            _ => return Err(corrupt()),
        })
    }
    fn rest_vapid(&mut self) -> Result<Option<VapidKey>, StoreError> {
        let vapid = self.vapid()?;
        if !self.0.is_empty() {
            return Err(corrupt());
        }
        Ok(vapid)
    }
}

fn corrupt() -> StoreError {
    StoreError::Internal("undecodable record in store".into())
}

/// Route: version, device, instance, project, token, then the VAPID key if any.
pub fn encode_route(route: &Route) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + route.instance.len() + route.project.len() + route.fcm_token.len() + 88);
    out.push(VERSION);
    put_short(&mut out, route.device.as_str().as_bytes());
    put_short(&mut out, route.instance.as_bytes());
    put_short(&mut out, route.project.as_bytes());
    put_long(&mut out, route.fcm_token.as_bytes());
    put_vapid(&mut out, route.vapid.as_ref());
    out
}

/// Inverse of [`encode_route`].
pub fn decode_route(bytes: &[u8]) -> Result<Route, StoreError> {
    let mut r = Reader(bytes);
    if r.take(1)?[0] != VERSION {
        return Err(corrupt());
    }
    let device = DeviceId::parse(Reader::str(r.short()?)?).ok_or_else(corrupt)?;
    let instance = Reader::str(r.short()?)?.to_owned();
    let project = Reader::str(r.short()?)?.to_owned();
    let fcm_token = Reader::str(r.long()?)?.to_owned();
    let vapid = r.rest_vapid()?;
    Ok(Route { device, instance, vapid, project, fcm_token })
}

/// A registration's value (the instance is its key): endpoint id, then the VAPID key if any.
fn encode_registration(endpoint: &EndpointId, vapid: Option<&VapidKey>) -> Vec<u8> {
    let mut out = Vec::with_capacity(EndpointId::LEN + 66);
    out.extend_from_slice(endpoint.as_str().as_bytes());
    put_vapid(&mut out, vapid);
    out
}

/// Inverse of [`encode_registration`].
fn decode_registration(instance: &str, bytes: &[u8]) -> Result<Registration, StoreError> {
    let mut r = Reader(bytes);
    let endpoint = EndpointId::parse(Reader::str(r.take(EndpointId::LEN)?)?).ok_or_else(corrupt)?;
    let vapid = r.rest_vapid()?;
    Ok(Registration { instance: instance.to_owned(), endpoint, vapid })
}

/// A registration inside a Redis device hash, whose field is the registration's sealed
/// tag: the VAPID key first (presence byte, key), then the instance name — the Lua
/// scripts read the instance from byte 2 or 67.
pub fn encode_tagged_registration(instance: &str, vapid: Option<&VapidKey>) -> Vec<u8> {
    let mut out = Vec::with_capacity(66 + instance.len());
    put_vapid(&mut out, vapid);
    out.extend_from_slice(instance.as_bytes());
    out
}

/// Inverse of [`encode_tagged_registration`]: (instance, VAPID key).
pub fn decode_tagged_registration(bytes: &[u8]) -> Result<(String, Option<VapidKey>), StoreError> {
    let mut r = Reader(bytes);
    let vapid = r.vapid()?;
    Ok((Reader::str(r.0)?.to_owned(), vapid))
}

/// The whole device for the embedded store: secret hash, project, token, registrations.
pub fn encode_device(d: &super::Device) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + d.fcm_token.len() + d.registrations.len() * 160);
    out.push(VERSION);
    out.extend_from_slice(&d.secret_hash);
    put_short(&mut out, d.project.as_bytes());
    put_long(&mut out, d.fcm_token.as_bytes());
    for reg in &d.registrations {
        put_short(&mut out, reg.instance.as_bytes());
        put_short(&mut out, &encode_registration(&reg.endpoint, reg.vapid.as_ref()));
    }
    out
}

/// Inverse of [`encode_device`].
pub fn decode_device(id: &DeviceId, bytes: &[u8]) -> Result<super::Device, StoreError> {
    let mut r = Reader(bytes);
    if r.take(1)?[0] != VERSION {
        return Err(corrupt());
    }
    let mut secret_hash = [0u8; 32];
    secret_hash.copy_from_slice(r.take(32)?);
    let project = Reader::str(r.short()?)?.to_owned();
    let fcm_token = Reader::str(r.long()?)?.to_owned();
    let mut registrations = Vec::new();
    while !r.0.is_empty() {
        let instance = Reader::str(r.short()?)?;
        registrations.push(decode_registration(instance, r.short()?)?);
    }
    Ok(super::Device { id: id.clone(), secret_hash, project, fcm_token, registrations })
}

/// Queued message: version, id, endpoint, expiry, urgency, attempts, topic, body.
pub fn encode_queued(m: &super::QueuedMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(80 + m.body.len());
    out.push(VERSION);
    put_short(&mut out, m.id.as_str().as_bytes());
    put_short(&mut out, m.endpoint.as_str().as_bytes());
    out.extend_from_slice(&m.expires_ms.to_le_bytes());
    out.push(m.urgency as u8);
    out.extend_from_slice(&m.attempts.to_le_bytes());
    put_short(&mut out, m.topic.as_deref().unwrap_or("").as_bytes());
    put_long(&mut out, &m.body);
    out
}

/// Inverse of [`encode_queued`].
pub fn decode_queued(bytes: &[u8]) -> Result<super::QueuedMessage, StoreError> {
    use crate::ids::MessageId;
    use crate::webpush::Urgency;
    let mut r = Reader(bytes);
    if r.take(1)?[0] != VERSION {
        return Err(corrupt());
    }
    let id = MessageId::parse(Reader::str(r.short()?)?).ok_or_else(corrupt)?;
    let endpoint = EndpointId::parse(Reader::str(r.short()?)?).ok_or_else(corrupt)?;
    let expires_ms = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| corrupt())?);
    let urgency = match r.take(1)?[0] {
        0 => Urgency::VeryLow,
        1 => Urgency::Low,
        2 => Urgency::Normal,
        3 => Urgency::High,
        _ => return Err(corrupt()),
    };
    let attempts = u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| corrupt())?);
    let topic = Reader::str(r.short()?)?;
    let topic = (!topic.is_empty()).then(|| topic.to_owned());
    let body = r.long()?.to_vec();
    if !r.0.is_empty() {
        return Err(corrupt());
    }
    Ok(super::QueuedMessage { id, endpoint, expires_ms, urgency, topic, attempts, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Device;

    fn key() -> VapidKey {
        let mut b = [7u8; 65];
        b[0] = 4;
        VapidKey::from_bytes(&b).unwrap()
    }

    #[test]
    fn route_round_trips_with_and_without_vapid() {
        for vapid in [None, Some(key())] {
            let r = Route {
                device: DeviceId::generate(),
                instance: "inst-1".into(),
                vapid,
                project: "proj".into(),
                fcm_token: "t".repeat(300),
            };
            assert_eq!(decode_route(&encode_route(&r)).unwrap(), r);
        }
    }

    #[test]
    fn tagged_registration_round_trips_and_rejects_cut_keys() {
        for (instance, vapid) in [("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", None), ("app", Some(key())), ("", None)] {
            let bytes = encode_tagged_registration(instance, vapid.as_ref());
            assert_eq!(decode_tagged_registration(&bytes).unwrap(), (instance.to_owned(), vapid.clone()));
        }
        // Presence byte + 65-byte key = 66; anything shorter cuts the key.
        let with_key = encode_tagged_registration("app", Some(&key()));
        for n in 0..66 {
            assert!(decode_tagged_registration(&with_key[..n]).is_err(), "a key cut at {n} bytes decoded");
        }
    }

    #[test]
    fn device_round_trips() {
        let d = Device {
            id: DeviceId::generate(),
            secret_hash: [9; 32],
            project: "p".into(),
            fcm_token: "tok".into(),
            registrations: vec![
                Registration { instance: "a".into(), endpoint: EndpointId::generate(), vapid: None },
                Registration { instance: "b".into(), endpoint: EndpointId::generate(), vapid: Some(key()) },
            ],
        };
        assert_eq!(decode_device(&d.id, &encode_device(&d)).unwrap(), d);
    }

    #[test]
    fn queued_message_round_trips() {
        let m = crate::store::QueuedMessage {
            id: crate::ids::MessageId::generate(),
            endpoint: EndpointId::generate(),
            expires_ms: 1_700_000_000_123,
            urgency: crate::webpush::Urgency::Low,
            topic: Some("t".into()),
            attempts: 3,
            body: (0..=255u8).collect(),
        };
        let bytes = encode_queued(&m);
        assert_eq!(decode_queued(&bytes).unwrap(), m);
        for n in 0..bytes.len() {
            assert!(decode_queued(&bytes[..n]).is_err());
        }
    }

    #[test]
    fn truncated_records_are_errors_not_panics() {
        let r = Route {
            device: DeviceId::generate(),
            instance: "i".into(),
            vapid: Some(key()),
            project: "p".into(),
            fcm_token: "t".into(),
        };
        let bytes = encode_route(&r);
        for n in 0..bytes.len() {
            assert!(decode_route(&bytes[..n]).is_err(), "prefix of {n} bytes decoded");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// Whatever bytes a store hands back, decoding fails cleanly or yields a value.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = decode_route(&bytes);
            let _ = decode_queued(&bytes);
            let _ = decode_registration("i", &bytes);
            let _ = decode_tagged_registration(&bytes);
            let _ = decode_device(&DeviceId::generate(), &bytes);
        }
    }
}
