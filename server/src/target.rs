//! What a device is reached by, and the road that reaches it: an FCM registration token or
//! an FCM Firebase Installation ID (both on the FCM v1 road), or a Web Push subscription
//! (the Web Push road). Parsed once at the edge; everything below holds these types.

use std::fmt;

use base64::Engine;

use crate::ids::Redacted;
use crate::webpush::{VapidKey, B64URL_LENIENT};

/// Longest FCM registration or Web Push token accepted (real ones are ~160 characters).
pub const MAX_TOKEN_LEN: usize = 4096;

/// The road a device is reached by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoadKind {
    /// FCM HTTP v1 through the operator's Firebase project.
    Fcm,
    /// A standard Web Push request to Google's push service, signed with the relay's VAPID key.
    WebPush,
}

impl RoadKind {
    /// Every road, in the order of their indices.
    pub const ALL: [RoadKind; 2] = [RoadKind::Fcm, RoadKind::WebPush];

    /// Name in the API and metric label (`fcm`, `webpush`).
    pub fn label(self) -> &'static str {
        match self {
            RoadKind::Fcm => "fcm",
            RoadKind::WebPush => "webpush",
        }
    }

    /// Position in [`RoadKind::ALL`], for per-road tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A Firebase Installation ID: 22 characters of base64url whose first four bits are
/// `0111` (the Installations SDK sets them), so it starts with `c`, `d`, `e` or `f`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fid([u8; Fid::LEN]);

impl Fid {
    /// Characters in a FID.
    pub const LEN: usize = 22;

    /// Accept `s` only if it has the shape Firebase Installations issues.
    pub fn parse(s: &str) -> Option<Fid> {
        let b: [u8; Fid::LEN] = s.as_bytes().try_into().ok()?;
        let shaped = matches!(b[0], b'c'..=b'f') && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        shaped.then_some(Fid(b))
    }

    /// The FID's text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever accepted by `parse`.
        std::str::from_utf8(&self.0).expect("a FID is ASCII")
    }
}

impl fmt::Debug for Fid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fid({})", Redacted(self.as_str()))
    }
}

/// A Web Push subscription of the phone: the Play services token issued for the relay's
/// VAPID key, and the keys the relay encrypts to (RFC 8291).
#[derive(Clone, PartialEq, Eq)]
pub struct WebPushSubscription {
    token: String,
    p256dh: [u8; 65],
    auth: [u8; 16],
}

impl WebPushSubscription {
    /// From already-checked parts (the store's bytes); `None` unless `p256dh` is 65 bytes
    /// starting with 4 and `auth` 16 bytes. The curve check is the edge's (it costs an ECDH).
    pub fn from_parts(token: String, p256dh: &[u8], auth: &[u8]) -> Option<WebPushSubscription> {
        let p256dh: [u8; 65] = p256dh.try_into().ok()?;
        let auth: [u8; 16] = auth.try_into().ok()?;
        (p256dh[0] == 4).then_some(WebPushSubscription { token, p256dh, auth })
    }

    /// Parse what a phone sends: the token, the base64url of its uncompressed P-256 public
    /// key (which must be a point of the curve) and of its 16-byte auth secret.
    pub fn parse(token: &str, p256dh: &str, auth: &str) -> Result<WebPushSubscription, TargetError> {
        if !token_shaped(token) {
            return Err(TargetError::WebPushToken);
        }
        let key = VapidKey::parse(p256dh).filter(VapidKey::is_on_curve).ok_or(TargetError::P256dh)?;
        let auth = B64URL_LENIENT.decode(auth.trim()).ok().filter(|a| a.len() == 16).ok_or(TargetError::Auth)?;
        WebPushSubscription::from_parts(token.to_owned(), key.as_bytes(), &auth).ok_or(TargetError::P256dh)
    }

    /// The Play services token (the last segment of `…/fcm/send/<token>`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The phone's uncompressed P-256 public key (`p256dh`).
    pub fn p256dh(&self) -> &[u8; 65] {
        &self.p256dh
    }

    /// The phone's auth secret.
    pub fn auth(&self) -> &[u8; 16] {
        &self.auth
    }
}

impl fmt::Debug for WebPushSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebPushSubscription({})", Redacted(&self.token))
    }
}

/// What a device is reached by; exactly one.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// An FCM registration token (`message.token`).
    FcmToken(String),
    /// A Firebase Installation ID (`message.fid`).
    FcmFid(Fid),
    /// A Web Push subscription (the Web Push road).
    WebPush(WebPushSubscription),
}

impl Target {
    /// The road that reaches this target.
    pub fn road(&self) -> RoadKind {
        match self {
            Target::FcmToken(_) | Target::FcmFid(_) => RoadKind::Fcm,
            Target::WebPush(_) => RoadKind::WebPush,
        }
    }

    /// Its kind as the API reports it (`token`, `fid`, `webpush`); never its value.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::FcmToken(_) => "token",
            Target::FcmFid(_) => "fid",
            Target::WebPush(_) => "webpush",
        }
    }

    /// An FCM registration token as the distributor API takes it: 1 to
    /// [`MAX_TOKEN_LEN`] printable ASCII characters.
    pub fn fcm_token(token: &str) -> Result<Target, TargetError> {
        if !token_shaped(token) {
            return Err(TargetError::FcmToken);
        }
        Ok(Target::FcmToken(token.to_owned()))
    }

    /// A FID as the distributor API takes it.
    pub fn fcm_fid(fid: &str) -> Result<Target, TargetError> {
        Fid::parse(fid).map(Target::FcmFid).ok_or(TargetError::Fid)
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::FcmToken(t) => write!(f, "FcmToken({})", Redacted(t)),
            Target::FcmFid(fid) => fid.fmt(f),
            Target::WebPush(s) => s.fmt(f),
        }
    }
}

fn token_shaped(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Why a target given to the distributor API was refused; the label is the API's error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not one printable-ASCII token of the allowed length.
    #[error("fcm_token must be 1 to {MAX_TOKEN_LEN} printable ASCII characters")]
    FcmToken,
    /// Not a Firebase Installation ID.
    #[error("fcm_fid must be a Firebase Installation ID: 22 characters of base64url starting with c, d, e or f")]
    Fid,
    /// The Web Push token is not a printable-ASCII token of the allowed length.
    #[error("webpush.token must be 1 to {MAX_TOKEN_LEN} printable ASCII characters")]
    WebPushToken,
    /// The subscription's public key is not an uncompressed P-256 point on the curve.
    #[error("webpush.p256dh must be the base64url of a 65-byte uncompressed P-256 public key on the curve")]
    P256dh,
    /// The auth secret is not 16 bytes of base64url.
    #[error("webpush.auth must be the base64url of 16 bytes")]
    Auth,
}

impl TargetError {
    /// The API's error code.
    pub fn label(self) -> &'static str {
        match self {
            TargetError::FcmToken => "invalid_fcm_token",
            TargetError::Fid => "invalid_fcm_fid",
            TargetError::WebPushToken | TargetError::P256dh | TargetError::Auth => "invalid_webpush",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How the Installations SDK makes a FID: 17 random bytes, the first four bits set to
    /// `0111`, base64url, the first 22 characters.
    fn sdk_fid(seed: u8) -> String {
        let mut bytes = [0u8; 17];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = seed.wrapping_mul(31).wrapping_add((i as u8).wrapping_mul(97));
        }
        bytes[0] = 0b0111_0000 | (bytes[0] & 0x0f);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)[..22].to_owned()
    }

    #[test]
    fn fids_as_the_sdk_makes_them_parse() {
        for seed in 0..=255 {
            let fid = sdk_fid(seed);
            assert_eq!(Fid::parse(&fid).map(|f| f.as_str().to_owned()), Some(fid.clone()), "{fid}");
        }
    }

    #[test]
    fn other_shapes_are_not_fids() {
        let ok = "cAbCdEfGhIjKlMnOpQrS_-";
        assert!(Fid::parse(ok).is_some());
        for bad in [
            "",
            "aAbCdEfGhIjKlMnOpQrS_-",  // first character outside c–f
            "gAbCdEfGhIjKlMnOpQrS_-",  // likewise
            "cAbCdEfGhIjKlMnOpQrS_",   // 21 characters
            "cAbCdEfGhIjKlMnOpQrS_-x", // 23
            "cAbCdEfGhIjKlMnOpQrS+/",  // standard alphabet
            "cAbCdEfGhIjKlMnOpQrS_=",  // padding
            "cAbCdEfGhIjKlMnOpQrS é",
        ] {
            assert!(Fid::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn web_push_subscriptions_need_a_curve_point_and_a_16_byte_secret() {
        // RFC 8291 appendix A: the user agent's public key and auth secret.
        let p256dh = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        let auth = "BTBZMqHH6r4Tts7J_aSIgg";
        let s = WebPushSubscription::parse("tok:APA91b", p256dh, auth).unwrap();
        assert_eq!((s.p256dh()[0], s.auth().len(), s.token()), (4, 16, "tok:APA91b"));
        assert_eq!(WebPushSubscription::parse("tok", p256dh, &format!("{auth}==")).map(|_| ()), Ok(()), "padded auth");
        let mut off_curve = VapidKey::parse(p256dh).unwrap().as_bytes().to_owned();
        off_curve[64] ^= 1;
        let off_curve = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(off_curve);
        assert_eq!(WebPushSubscription::parse("tok", &off_curve, auth), Err(TargetError::P256dh));
        assert_eq!(WebPushSubscription::parse("tok", &p256dh[..80], auth), Err(TargetError::P256dh));
        assert_eq!(WebPushSubscription::parse("tok", p256dh, "BTBZMqHH6r4Tts7J_aSI"), Err(TargetError::Auth));
        assert_eq!(WebPushSubscription::parse("", p256dh, auth), Err(TargetError::WebPushToken));
        assert_eq!(WebPushSubscription::parse("a b", p256dh, auth), Err(TargetError::WebPushToken));
    }

    #[test]
    fn debug_never_shows_a_whole_token() {
        let secret = "supersecrettokenvalue:APA91bxyz";
        let s = WebPushSubscription::from_parts(secret.into(), &[4; 65], &[0; 16]).unwrap();
        for t in [Target::FcmToken(secret.into()), Target::WebPush(s)] {
            assert!(!format!("{t:?}").contains(secret), "{t:?}");
        }
    }
}
