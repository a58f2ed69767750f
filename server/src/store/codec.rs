//! Compact binary encodings of store values. Shared by both backends so the bytes in
//! Redis and in the embedded file are the same; a leading version byte leaves room
//! to evolve them.

use super::model::{Device, QueuedMessage, Registration, Route, StoreError};
use crate::ids::{DeviceId, EndpointId, SecretHash, SECRET_HASH_LEN};
use crate::target::{Fid, Target, WebPushSubscription};
use crate::webpush::VapidKey;

const VERSION: u8 = 1;
/// Embedded device records since secret hashes are 16 bytes (version 1 kept 32; the
/// first 16 of those are the same hash, so version 1 still reads). Versions 1 and 2 hold
/// an FCM token as text.
const DEVICE_VERSION_TOKEN: u8 = 2;
/// Embedded device records since a device's target may be a token, a FID or a Web Push
/// subscription: the target as [`encode_target`] writes it.
const DEVICE_VERSION: u8 = 3;
/// Routes since targets are typed (version 1 held an FCM token as text; it still reads).
const ROUTE_VERSION: u8 = 2;

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

/// Route: version, device, instance, project, target ([`encode_target`], but an FCM token
/// as text behind its mark: a route is decoded on every push, and unpacking a token costs
/// more than copying it), then the VAPID key if any.
pub fn encode_route(route: &Route) -> Vec<u8> {
    let target = match &route.target {
        Target::FcmToken(token) => raw_token(token),
        other => encode_target(other),
    };
    let mut out = Vec::with_capacity(8 + route.instance.len() + route.project.len() + target.len() + 88);
    out.push(ROUTE_VERSION);
    put_short(&mut out, route.device.as_str().as_bytes());
    put_short(&mut out, route.instance.as_bytes());
    put_short(&mut out, route.project.as_bytes());
    put_long(&mut out, &target);
    put_vapid(&mut out, route.vapid.as_ref());
    out
}

/// Inverse of [`encode_route`]; also reads version 1 routes (an FCM token as text).
pub fn decode_route(bytes: &[u8]) -> Result<Route, StoreError> {
    let mut r = Reader(bytes);
    let version = r.take(1)?[0];
    if version != VERSION && version != ROUTE_VERSION {
        return Err(corrupt());
    }
    let device = DeviceId::parse(Reader::str(r.short()?)?).ok_or_else(corrupt)?;
    let instance = Reader::str(r.short()?)?.to_owned();
    let project = Reader::str(r.short()?)?.to_owned();
    let target = match version {
        VERSION => Target::FcmToken(Reader::str(r.long()?)?.to_owned()),
        _ => decode_target(r.long()?)?,
    };
    let vapid = r.rest_vapid()?;
    Ok(Route { device, instance, vapid, project, target })
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
/// A target's first byte beyond the token marks (which mean an FCM registration token, as
/// every record written before targets were typed holds): a FID, packed.
const TARGET_FID: u8 = 3;
/// A Web Push subscription: p256dh (65 bytes), auth (16), then its token as
/// [`encode_token`] writes it.
const TARGET_WEBPUSH: u8 = 4;

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
    packed_token(token).unwrap_or_else(|| raw_token(token))
}

/// A token as text behind its mark (what [`decode_token`] reads without unpacking).
fn raw_token(token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + token.len());
    out.push(TOKEN_RAW);
    out.extend_from_slice(token.as_bytes());
    out
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
    pack_sixbit(id.bytes().chain(rest.bytes()), &mut out)?;
    Some(out)
}

/// Append base64url characters at 6 bits each; `None` at a character outside the alphabet.
fn pack_sixbit(chars: impl Iterator<Item = u8>, out: &mut Vec<u8>) -> Option<()> {
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in chars {
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
    Some(())
}

/// A device's target: an FCM token as [`encode_token`] writes it (so the bytes of every
/// record written before targets were typed read as tokens, unchanged), a FID as a mark
/// and its 22 characters in 17 bytes, or a Web Push subscription as a mark, its keys and
/// its token. Deterministic, so scripts can compare encoded targets.
pub fn encode_target(target: &Target) -> Vec<u8> {
    match target {
        Target::FcmToken(token) => encode_token(token),
        Target::FcmFid(fid) => {
            let mut out = Vec::with_capacity(1 + (Fid::LEN * 6).div_ceil(8));
            out.push(TARGET_FID);
            pack_sixbit(fid.as_str().bytes(), &mut out).expect("a FID is base64url");
            out
        }
        Target::WebPush(sub) => {
            let mut out = Vec::with_capacity(1 + 65 + 16 + 3 + sub.token().len());
            out.push(TARGET_WEBPUSH);
            out.extend_from_slice(sub.p256dh());
            out.extend_from_slice(sub.auth());
            out.extend_from_slice(&encode_token(sub.token()));
            out
        }
    }
}

/// Inverse of [`encode_target`].
pub fn decode_target(bytes: &[u8]) -> Result<Target, StoreError> {
    match bytes.first() {
        Some(&TARGET_FID) => {
            let packed = &bytes[1..];
            if packed.len() != (Fid::LEN * 6).div_ceil(8) {
                return Err(corrupt());
            }
            let mut text = [0u8; Fid::LEN];
            let (mut acc, mut bits, mut bytes_in) = (0u32, 0u32, packed.iter());
            for c in &mut text {
                if bits < 6 {
                    acc = acc << 8 | *bytes_in.next().ok_or_else(corrupt)? as u32;
                    bits += 8;
                }
                bits -= 6;
                *c = SIXBIT[((acc >> bits) & 63) as usize];
                acc &= (1 << bits) - 1;
            }
            let text = std::str::from_utf8(&text).map_err(|_| corrupt())?;
            Fid::parse(text).map(Target::FcmFid).ok_or_else(corrupt)
        }
        Some(&TARGET_WEBPUSH) => {
            let mut r = Reader(&bytes[1..]);
            let (p256dh, auth) = (r.take(65)?, r.take(16)?);
            WebPushSubscription::from_parts(decode_token(r.0)?, p256dh, auth).map(Target::WebPush).ok_or_else(corrupt)
        }
        _ => decode_token(bytes).map(Target::FcmToken),
    }
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
/// store's project table, then the target as [`encode_target`] writes it — scripts read
/// the encoded target from byte [`DEVICE_TARGET_AT`] (1-based) on. Heads written before
/// targets were typed hold a token there in the same encoding, so they read unchanged.
pub fn encode_device_head(secret_hash: &SecretHash, project: u8, target: &Target) -> Vec<u8> {
    let target = encode_target(target);
    let mut out = Vec::with_capacity(SECRET_HASH_LEN + 1 + target.len());
    out.extend_from_slice(secret_hash);
    out.push(project);
    out.extend_from_slice(&target);
    out
}

/// 1-based offset of the encoded target in a device head, as Lua's `string.sub` counts.
pub const DEVICE_TARGET_AT: usize = SECRET_HASH_LEN + 2;

/// Inverse of [`encode_device_head`]: (secret hash, project number, target).
pub fn decode_device_head(bytes: &[u8]) -> Result<(SecretHash, u8, Target), StoreError> {
    let mut r = Reader(bytes);
    let secret_hash: SecretHash = r.take(SECRET_HASH_LEN)?.try_into().map_err(|_| corrupt())?;
    let project = r.take(1)?[0];
    Ok((secret_hash, project, decode_target(r.0)?))
}

/// The whole device for the embedded store: secret hash, project, target, registrations.
pub fn encode_device(d: &Device) -> Vec<u8> {
    let target = encode_target(&d.target);
    let mut out = Vec::with_capacity(64 + target.len() + d.registrations.len() * 160);
    out.push(DEVICE_VERSION);
    out.extend_from_slice(&d.secret_hash);
    put_short(&mut out, d.project.as_bytes());
    put_long(&mut out, &target);
    for reg in &d.registrations {
        put_short(&mut out, reg.instance.as_bytes());
        put_short(&mut out, &encode_registration(&reg.endpoint, reg.vapid.as_ref()));
    }
    out
}

/// Inverse of [`encode_device`].
pub fn decode_device(id: &DeviceId, bytes: &[u8]) -> Result<Device, StoreError> {
    let mut r = Reader(bytes);
    let version = r.take(1)?[0];
    let stored_hash_len = match version {
        VERSION => 32,
        DEVICE_VERSION_TOKEN | DEVICE_VERSION => SECRET_HASH_LEN,
        _ => return Err(corrupt()),
    };
    let secret_hash: SecretHash = r.take(stored_hash_len)?[..SECRET_HASH_LEN].try_into().map_err(|_| corrupt())?;
    let project = Reader::str(r.short()?)?.to_owned();
    let target = match version {
        DEVICE_VERSION => decode_target(r.long()?)?,
        _ => Target::FcmToken(Reader::str(r.long()?)?.to_owned()),
    };
    let mut registrations = Vec::new();
    while !r.0.is_empty() {
        let instance = Reader::str(r.short()?)?;
        registrations.push(decode_registration(instance, r.short()?)?);
    }
    Ok(Device { id: id.clone(), secret_hash, project, target, registrations })
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
                target: Target::FcmToken("t".repeat(300)),
            };
            assert_eq!(decode_route(&encode_route(&r)).unwrap(), r);
        }
    }

    fn fid() -> Fid {
        Fid::parse("fW3x_Ab-9QeRtYuI0pLkJh").unwrap()
    }

    fn subscription() -> WebPushSubscription {
        let mut p256dh = [9u8; 65];
        p256dh[0] = 4;
        WebPushSubscription::from_parts(format!("{}:APA91b{}", "dX".repeat(11), "w".repeat(134)), &p256dh, &[3; 16]).unwrap()
    }

    fn targets() -> Vec<Target> {
        vec![
            Target::FcmToken(format!("{}:APA91b{}", "cZ3x_Ab-9QeRtYuI0pLkJh", "x".repeat(134))),
            Target::FcmToken("not a packed token".into()),
            Target::FcmFid(fid()),
            Target::WebPush(subscription()),
            Target::WebPush(WebPushSubscription::from_parts("raw token".into(), &[4; 65], &[0; 16]).unwrap()),
        ]
    }

    #[test]
    fn every_target_kind_round_trips_compactly_and_cuts_are_errors() {
        for t in targets() {
            let bytes = encode_target(&t);
            assert_eq!(decode_target(&bytes).unwrap(), t);
            // A raw token cut short is a shorter raw token; a FID, a subscription's keys and
            // the token's mark cannot be cut.
            let uncuttable = match t {
                Target::FcmToken(_) => 0,
                Target::FcmFid(_) => bytes.len(),
                Target::WebPush(_) => 1 + 65 + 16 + 1,
            };
            for n in 0..uncuttable {
                assert!(decode_target(&bytes[..n]).is_err(), "{t:?} cut at {n} decoded");
            }
        }
        assert_eq!(encode_target(&Target::FcmFid(fid())).len(), 18, "a FID is a mark and 17 bytes");
        // Every encoding is distinct from every other: the dead-target guard compares bytes,
        // so a subscription whose keys changed under the same token is another target.
        let mut all: Vec<Vec<u8>> = targets().iter().map(encode_target).collect();
        let Target::WebPush(sub) = &targets()[3] else { unreachable!() };
        let rekeyed = WebPushSubscription::from_parts(sub.token().to_owned(), sub.p256dh(), &[4; 16]).unwrap();
        all.push(encode_target(&Target::WebPush(rekeyed)));
        for (i, a) in all.iter().enumerate() {
            assert!(all[i + 1..].iter().all(|b| a != b));
        }
    }

    #[test]
    fn a_packed_fid_that_is_not_fid_shaped_is_corrupt() {
        // 22 `A`s pack fine but start outside c–f.
        let mut bytes = vec![TARGET_FID];
        pack_sixbit(b"AAAAAAAAAAAAAAAAAAAAAA".iter().copied(), &mut bytes).unwrap();
        assert!(decode_target(&bytes).is_err());
    }

    #[test]
    fn routes_and_devices_of_every_kind_round_trip() {
        for target in targets() {
            let r = Route { device: DeviceId::generate(), instance: "i".into(), vapid: None, project: "p".into(), target: target.clone() };
            assert_eq!(decode_route(&encode_route(&r)).unwrap(), r);
            let d = Device {
                id: DeviceId::generate(),
                secret_hash: [1; SECRET_HASH_LEN],
                project: "p".into(),
                target: target.clone(),
                registrations: vec![],
            };
            assert_eq!(decode_device(&d.id, &encode_device(&d)).unwrap(), d);
            let head = encode_device_head(&[5; SECRET_HASH_LEN], 3, &target);
            assert_eq!(decode_device_head(&head).unwrap(), ([5; SECRET_HASH_LEN], 3, target));
        }
    }

    #[test]
    fn routes_keep_tokens_as_text_for_the_push_path() {
        let token = format!("{}:APA91b{}", "cZ3x_Ab-9QeRtYuI0pLkJh", "x".repeat(134));
        let r = Route {
            device: DeviceId::generate(),
            instance: "i".into(),
            vapid: None,
            project: "p".into(),
            target: Target::FcmToken(token.clone()),
        };
        let bytes = encode_route(&r);
        assert!(bytes.windows(token.len()).any(|w| w == token.as_bytes()), "not packed");
        assert_eq!(decode_route(&bytes).unwrap(), r);
    }

    /// Routes as the release before typed targets wrote them (version 1, the token as text).
    #[test]
    fn version_one_routes_still_read_as_tokens() {
        let device = DeviceId::generate();
        let mut old = vec![VERSION];
        put_short(&mut old, device.as_str().as_bytes());
        put_short(&mut old, b"inst");
        put_short(&mut old, b"proj");
        put_long(&mut old, b"old:APA91btoken");
        put_vapid(&mut old, None);
        let r = decode_route(&old).unwrap();
        assert_eq!(
            (r.device, r.instance.as_str(), r.project.as_str(), r.target),
            (device, "inst", "proj", Target::FcmToken("old:APA91btoken".into()))
        );
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
        let bytes = encode_device_head(&[5; SECRET_HASH_LEN], 3, &Target::FcmToken(token.clone()));
        assert_eq!(decode_device_head(&bytes).unwrap(), ([5; SECRET_HASH_LEN], 3, Target::FcmToken(token.clone())));
        // A token is where, and as, heads written before typed targets hold it.
        assert_eq!(&bytes[DEVICE_TARGET_AT - 1..], encode_token(&token).as_slice());
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
        assert_eq!((d.secret_hash, d.project.as_str(), d.target), ([4; SECRET_HASH_LEN], "p", Target::FcmToken("tok".into())));
        let mut v2 = vec![DEVICE_VERSION_TOKEN];
        v2.extend_from_slice(&[4; SECRET_HASH_LEN]);
        put_short(&mut v2, b"p");
        put_long(&mut v2, b"tok");
        assert_eq!(decode_device(&DeviceId::generate(), &v2).unwrap().target, Target::FcmToken("tok".into()));
    }

    #[test]
    fn device_round_trips() {
        let d = Device {
            id: DeviceId::generate(),
            secret_hash: [9; SECRET_HASH_LEN],
            project: "p".into(),
            target: Target::FcmToken("tok".into()),
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
            target: Target::FcmFid(fid()),
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
            let _ = decode_token(&bytes);
            let _ = decode_target(&bytes);
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
