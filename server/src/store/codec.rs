//! Compact binary encodings of store values. Shared by both backends so the bytes in
//! Redis and in the embedded file are the same; a leading version byte leaves room
//! to evolve them.

use super::model::{Device, QueuedMessage, Registration, Route, StoreError};
use crate::ids::{DeviceId, EndpointId, SecretHash, SECRET_HASH_LEN};
use crate::webpush::VapidKey;

const VERSION: u8 = 1;
/// Embedded device records since secret hashes are 16 bytes (version 1 kept 32; the
/// first 16 of those are the same hash, so version 1 still reads).
const DEVICE_VERSION: u8 = 2;

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

/// A registration in a Redis bucket, whose field is the device and the registration's
/// sealed tag: the VAPID key first (presence byte, key), then the instance as
/// [`encode_instance`] writes it — the Lua scripts compare the instance from byte 2 or 67.
pub fn encode_tagged_registration(instance: &str, vapid: Option<&VapidKey>) -> Vec<u8> {
    let mut out = Vec::with_capacity(66 + instance.len());
    put_vapid(&mut out, vapid);
    out.extend_from_slice(&encode_instance(instance));
    out
}

/// Inverse of [`encode_tagged_registration`]: (instance, VAPID key).
pub fn decode_tagged_registration(bytes: &[u8]) -> Result<(String, Option<VapidKey>), StoreError> {
    let mut r = Reader(bytes);
    let vapid = r.vapid()?;
    Ok((decode_instance(r.0)?, vapid))
}

/// Marks a packed UUID; 0xFF never occurs in UTF-8, so no instance name starts with it.
const UUID_MARK: u8 = 0xFF;

/// An instance name: the 16 bytes of a lowercase hyphenated UUID (what the Android shim
/// and most distributors use) behind a mark, any other name as its UTF-8 text.
/// Deterministic, so the Lua scripts can compare encoded names.
pub fn encode_instance(instance: &str) -> Vec<u8> {
    match parse_uuid(instance) {
        Some(raw) => {
            let mut out = Vec::with_capacity(17);
            out.push(UUID_MARK);
            out.extend_from_slice(&raw);
            out
        }
        None => instance.as_bytes().to_vec(),
    }
}

/// Inverse of [`encode_instance`].
pub fn decode_instance(bytes: &[u8]) -> Result<String, StoreError> {
    match bytes.split_first() {
        Some((&UUID_MARK, raw)) => {
            let raw: &[u8; 16] = raw.try_into().map_err(|_| corrupt())?;
            Ok(format_uuid(raw))
        }
        _ => Ok(Reader::str(bytes)?.to_owned()),
    }
}

/// The bytes of `8-4-4-4-12` lowercase hex; uppercase is left as text so it round-trips.
fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let mut hex = b.iter().filter(|&&c| c != b'-');
    let mut out = [0u8; 16];
    for byte in &mut out {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        *byte = digit(*hex.next()?)? << 4 | digit(*hex.next()?)?;
    }
    Some(out)
}

fn format_uuid(raw: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, b) in raw.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// base64url, the alphabet of FCM tokens apart from one `:`.
const SIXBIT: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// What FCM tokens carry right after the `:` (a constant of the token format).
const APA: &str = "APA91b";
const TOKEN_RAW: u8 = 0;
const TOKEN_PACKED: u8 = 1;
const TOKEN_PACKED_APA: u8 = 2;

fn sixbit_value(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    })
}

/// An FCM token in about three quarters of its text: `<id>:APA91b<rest>` (the shape of
/// every token FCM issues today, 163 characters) becomes a mark, the `:` position, the
/// character count and the base64url characters at 6 bits each, without the constant
/// `APA91b` — 120 bytes instead of 163. Anything else is kept as text behind a mark.
/// Deterministic, so scripts can compare encoded tokens.
pub fn encode_token(token: &str) -> Vec<u8> {
    packed_token(token).unwrap_or_else(|| {
        let mut out = Vec::with_capacity(1 + token.len());
        out.push(TOKEN_RAW);
        out.extend_from_slice(token.as_bytes());
        out
    })
}

fn packed_token(token: &str) -> Option<Vec<u8>> {
    let (id, rest) = token.split_once(':')?;
    let (mark, rest) = match rest.strip_prefix(APA) {
        Some(r) => (TOKEN_PACKED_APA, r),
        None => (TOKEN_PACKED, rest),
    };
    let chars = id.len() + rest.len();
    if id.len() > u8::MAX as usize || chars > u8::MAX as usize {
        return None;
    }
    let mut out = Vec::with_capacity(3 + (chars * 6).div_ceil(8));
    out.extend_from_slice(&[mark, id.len() as u8, chars as u8]);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in id.bytes().chain(rest.bytes()) {
        acc = acc << 6 | sixbit_value(c)? as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        out.push((acc << (8 - bits)) as u8);
    }
    Some(out)
}

/// Inverse of [`encode_token`].
pub fn decode_token(bytes: &[u8]) -> Result<String, StoreError> {
    let (&mark, body) = bytes.split_first().ok_or_else(corrupt)?;
    if mark == TOKEN_RAW {
        return Ok(Reader::str(body)?.to_owned());
    }
    if mark != TOKEN_PACKED && mark != TOKEN_PACKED_APA {
        return Err(corrupt());
    }
    let [id_len, chars, ref packed @ ..] = *body else { return Err(corrupt()) };
    let (id_len, chars) = (id_len as usize, chars as usize);
    if id_len > chars || packed.len() != (chars * 6).div_ceil(8) {
        return Err(corrupt());
    }
    let mut out = String::with_capacity(chars + 1 + APA.len());
    let (mut acc, mut bits, mut bytes_in) = (0u32, 0u32, packed.iter());
    for i in 0..chars {
        if bits < 6 {
            acc = acc << 8 | *bytes_in.next().ok_or_else(corrupt)? as u32;
            bits += 8;
        }
        bits -= 6;
        if i == id_len {
            out.push(':');
            if mark == TOKEN_PACKED_APA {
                out.push_str(APA);
            }
        }
        out.push(SIXBIT[((acc >> bits) & 63) as usize] as char);
        acc &= (1 << bits) - 1;
    }
    if id_len == chars {
        out.push(':');
        if mark == TOKEN_PACKED_APA {
            out.push_str(APA);
        }
    }
    Ok(out)
}

/// A device's own field in a Redis bucket: secret hash, the project's number in the
/// store's project table, then the token as [`encode_token`] writes it — scripts read the
/// encoded token from byte [`DEVICE_TOKEN_AT`] (1-based) on.
pub fn encode_device_head(secret_hash: &SecretHash, project: u8, token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(SECRET_HASH_LEN + 1 + 3 + token.len());
    out.extend_from_slice(secret_hash);
    out.push(project);
    out.extend_from_slice(&encode_token(token));
    out
}

/// 1-based offset of the encoded token in a device head, as Lua's `string.sub` counts.
pub const DEVICE_TOKEN_AT: usize = SECRET_HASH_LEN + 2;

/// Inverse of [`encode_device_head`]: (secret hash, project number, token).
pub fn decode_device_head(bytes: &[u8]) -> Result<(SecretHash, u8, String), StoreError> {
    let mut r = Reader(bytes);
    let secret_hash: SecretHash = r.take(SECRET_HASH_LEN)?.try_into().map_err(|_| corrupt())?;
    let project = r.take(1)?[0];
    Ok((secret_hash, project, decode_token(r.0)?))
}

/// The whole device for the embedded store: secret hash, project, token, registrations.
pub fn encode_device(d: &Device) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + d.fcm_token.len() + d.registrations.len() * 160);
    out.push(DEVICE_VERSION);
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
pub fn decode_device(id: &DeviceId, bytes: &[u8]) -> Result<Device, StoreError> {
    let mut r = Reader(bytes);
    let stored_hash_len = match r.take(1)?[0] {
        VERSION => 32,
        DEVICE_VERSION => SECRET_HASH_LEN,
        _ => return Err(corrupt()),
    };
    let secret_hash: SecretHash = r.take(stored_hash_len)?[..SECRET_HASH_LEN].try_into().map_err(|_| corrupt())?;
    let project = Reader::str(r.short()?)?.to_owned();
    let fcm_token = Reader::str(r.long()?)?.to_owned();
    let mut registrations = Vec::new();
    while !r.0.is_empty() {
        let instance = Reader::str(r.short()?)?;
        registrations.push(decode_registration(instance, r.short()?)?);
    }
    Ok(Device { id: id.clone(), secret_hash, project, fcm_token, registrations })
}

/// Queued message: version, id, endpoint, expiry, urgency, attempts, topic, body.
pub fn encode_queued(m: &QueuedMessage) -> Vec<u8> {
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
pub fn decode_queued(bytes: &[u8]) -> Result<QueuedMessage, StoreError> {
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
    Ok(QueuedMessage { id, endpoint, expires_ms, urgency, topic, attempts, body })
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
    fn fcm_shaped_tokens_pack_to_three_quarters_and_round_trip() {
        let real = format!("{}:APA91b{}", "cZ3x_Ab-9QeRtYuI0pLkJh", "x".repeat(134));
        assert_eq!(real.len(), 163);
        let packed = encode_token(&real);
        assert_eq!(packed.len(), 3 + (156 * 6usize).div_ceil(8));
        assert_eq!(decode_token(&packed).unwrap(), real);
        for token in [
            "",
            ":",
            "a:",
            ":b",
            "abc",
            "a:APA91b",
            "a:APA91",
            "id:rest-with_all09AZaz",
            "two:colons:here",
            "héllo:wörld",
            "sp ace:x",
            "a:APA91b:",
            &"y".repeat(300),
            &format!("{}:{}", "i".repeat(255), "r"),
        ] {
            assert_eq!(decode_token(&encode_token(token)).unwrap(), token, "{token:?}");
        }
        assert_eq!(encode_token("abc")[0], TOKEN_RAW, "no colon: kept as text");
        assert_eq!(encode_token("a:b c")[0], TOKEN_RAW, "outside base64url: kept as text");
    }

    #[test]
    fn uuid_instances_pack_to_sixteen_bytes_and_others_stay_text() {
        let uuid = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";
        assert_eq!(encode_instance(uuid).len(), 17);
        for name in [uuid, "6F1C2D3E-4B5A-4C6D-8E7F-0A1B2C3D4E5F", "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5", "app", "", "ünïcode"] {
            assert_eq!(decode_instance(&encode_instance(name)).unwrap(), name, "{name:?}");
        }
        assert_eq!(encode_instance("6F1C2D3E-4B5A-4C6D-8E7F-0A1B2C3D4E5F").len(), 36, "uppercase stays text");
        assert!(decode_instance(&[UUID_MARK, 1, 2]).is_err(), "a cut UUID is an error");
    }

    #[test]
    fn device_head_round_trips_and_rejects_cuts() {
        let token = format!("{}:APA91b{}", "A".repeat(22), "b".repeat(134));
        let bytes = encode_device_head(&[5; SECRET_HASH_LEN], 3, &token);
        assert_eq!(decode_device_head(&bytes).unwrap(), ([5; SECRET_HASH_LEN], 3, token.clone()));
        assert_eq!(&bytes[DEVICE_TOKEN_AT - 1..], encode_token(&token).as_slice());
        for n in 0..bytes.len() {
            assert!(decode_device_head(&bytes[..n]).is_err(), "a head cut at {n} bytes decoded");
        }
    }

    #[test]
    fn version_one_devices_with_32_byte_hashes_still_read() {
        let mut old = vec![VERSION];
        old.extend_from_slice(&[4; 32]);
        put_short(&mut old, b"p");
        put_long(&mut old, b"tok");
        let d = decode_device(&DeviceId::generate(), &old).unwrap();
        assert_eq!((d.secret_hash, d.project.as_str(), d.fcm_token.as_str()), ([4; SECRET_HASH_LEN], "p", "tok"));
    }

    #[test]
    fn device_round_trips() {
        let d = Device {
            id: DeviceId::generate(),
            secret_hash: [9; SECRET_HASH_LEN],
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
        let r =
            Route { device: DeviceId::generate(), instance: "i".into(), vapid: Some(key()), project: "p".into(), fcm_token: "t".into() };
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
            let _ = decode_token(&bytes);
            let _ = decode_instance(&bytes);
            let _ = decode_device_head(&bytes);
        }

        /// Every token and instance name survives its store encoding.
        #[test]
        fn any_text_round_trips(text in "\\PC{0,200}", shaped in "[A-Za-z0-9_-]{0,40}:(APA91b)?[A-Za-z0-9_-]{0,200}") {
            proptest::prop_assert_eq!(decode_token(&encode_token(&text)).unwrap(), text.clone());
            proptest::prop_assert_eq!(decode_token(&encode_token(&shaped)).unwrap(), shaped.clone());
            proptest::prop_assert_eq!(decode_instance(&encode_instance(&text)).unwrap(), text);
        }
    }
}
