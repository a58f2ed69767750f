//! RFC 8291 message encryption (`Content-Encoding: aes128gcm`, one record, rs = 4096) to a
//! phone's P-256 key (`p256dh`) and auth secret, with ring's ECDH, HKDF and AES-GCM.
//!
//! # Reusing a device's ECDH result for a short window
//! RFC 8291 derives each message's key from an ECDH between a key pair of the sender's and
//! the phone's key, then from a random 16-byte salt (RFC 8188): the content key and nonce
//! are HKDF(salt, IKM), IKM = HKDF(auth, ECDH) bound to both public keys. The ECDH is by
//! far the dearest step of a push on this road (a key generation and a variable-base
//! multiplication, ~70 µs, against a few µs for the rest), so the relay keeps a device's
//! IKM and the public half of the key pair it used for [`Encryptor::reuse`] (a minute by
//! default) and derives every message's key from it with a fresh salt.
//!
//! What that trades: every message still has its own key and nonce (the salt is fresh
//! and random; the record is read exactly as RFC 8291 says, the phone cannot tell), so
//! confidentiality and integrity are those of RFC 8291. What is lost is the per-message
//! freshness of the sender's key: messages to one device within the window share the key
//! id in their header, so the push service could tell they came from one sender key pair
//! (it already knows they go to one token), and whoever obtained the relay's memory could
//! read the messages of that window to that device (as it could read their plaintext in
//! that memory anyway). The private half is never kept: ring's ephemeral keys are
//! consumed by the one agreement, so only the derived IKM is. `reuse` = 0 generates a key
//! pair per message.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, ECDH_P256};
use ring::hkdf::{KeyType, Salt, HKDF_SHA256};
use ring::rand::{SecureRandom, SystemRandom};

/// RFC 8188 record size written in every header: one record of at most 4096 bytes.
pub const RECORD_SIZE: u32 = 4096;
/// Bytes of the aes128gcm header with a 65-byte key id: salt, rs, idlen, key id.
pub const HEADER_LEN: usize = 16 + 4 + 1 + 65;
/// Devices whose ECDH result is kept at most (~250 bytes each, 4 MiB in all); when full,
/// the expired ones go, and if none has expired the cache is emptied: a relay pushing to
/// more devices than this within the window falls back to one ECDH a push for the rest.
const CACHE_CAP: usize = 16_384;

/// A phone's keys for RFC 8291: its uncompressed P-256 point and its 16-byte auth secret.
#[derive(Clone, Copy)]
pub struct Recipient<'a> {
    /// The phone's uncompressed P-256 point.
    pub p256dh: &'a [u8; 65],
    /// The phone's auth secret.
    pub auth: &'a [u8; 16],
}

/// The auth secret is a secret: never shown, whatever logs a recipient.
impl std::fmt::Debug for Recipient<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient").field("p256dh", &format_args!("{} bytes", self.p256dh.len())).field("auth", &"<secret>").finish()
    }
}

/// Why a message could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EceError {
    /// The phone's key is not a P-256 point (registration checks this; a store edited by
    /// hand could still hold one).
    #[error("the device's p256dh is not a P-256 public key")]
    BadKey,
    /// The system's random source failed.
    #[error("no randomness available")]
    Random,
}

/// A device's keys (`p256dh`, `auth`), what its kept ECDH result is found by.
type DeviceKeys = ([u8; 65], [u8; 16]);

struct Kept {
    as_public: [u8; 65],
    ikm: [u8; 32],
    until: Instant,
}

/// Encrypts messages to phones, keeping each device's ECDH result for `reuse`.
pub struct Encryptor {
    rng: SystemRandom,
    reuse: Duration,
    kept: Mutex<HashMap<DeviceKeys, Kept>>,
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA-256 of `ikm` with `salt` and `info`, `N` bytes (N ≤ 32: one block).
fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> [u8; N] {
    let mut out = [0u8; N];
    Salt::new(HKDF_SHA256, salt)
        .extract(ikm)
        .expand(info, Len(N))
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF-SHA-256 yields up to 255 blocks; N is at most one");
    out
}

/// RFC 8291 §3.4: IKM from the ECDH secret, the auth secret and both public keys.
pub fn key_material(ecdh_secret: &[u8], auth: &[u8; 16], ua_public: &[u8; 65], as_public: &[u8; 65]) -> [u8; 32] {
    hkdf::<32>(auth, ecdh_secret, &[b"WebPush: info\0", ua_public, as_public])
}

/// RFC 8188 with one record: the header (salt, rs, idlen = 65, the sender's public key),
/// then `plaintext` ‖ 0x02 sealed with AES-128-GCM under the key and nonce derived from
/// `ikm` and `salt`.
pub fn seal(ikm: &[u8; 32], as_public: &[u8; 65], salt: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    // One extraction (PRK = HMAC(salt, IKM)), two expansions.
    let prk = Salt::new(HKDF_SHA256, salt).extract(ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    prk.expand(&[b"Content-Encoding: aes128gcm\0"], Len(16))
        .and_then(|okm| okm.fill(&mut cek))
        .and_then(|()| prk.expand(&[b"Content-Encoding: nonce\0"], Len(12)))
        .and_then(|okm| okm.fill(&mut nonce))
        .expect("HKDF-SHA-256 yields a block");
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + 1 + AES_128_GCM.tag_len());
    out.extend_from_slice(salt);
    out.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    out.push(65);
    out.extend_from_slice(as_public);
    out.extend_from_slice(plaintext);
    out.push(0x02);
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).expect("a 16-byte AES-128 key"));
    // Sealed where it lies, the tag appended: no copy of the record.
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut out[HEADER_LEN..])
        .expect("a record of at most 4 KiB is far below AES-GCM's limit");
    out.extend_from_slice(tag.as_ref());
    out
}

impl Encryptor {
    /// An encryptor that keeps a device's ECDH result for `reuse` (zero: never).
    pub fn new(reuse: Duration) -> Encryptor {
        Encryptor { rng: SystemRandom::new(), reuse, kept: Mutex::new(HashMap::new()) }
    }

    /// How long a device's ECDH result is reused.
    pub fn reuse(&self) -> Duration {
        self.reuse
    }

    /// The RFC 8291 `aes128gcm` body of `plaintext` for `to`.
    pub fn encrypt(&self, to: Recipient<'_>, plaintext: &[u8]) -> Result<Vec<u8>, EceError> {
        let mut salt = [0u8; 16];
        self.rng.fill(&mut salt).map_err(|_| EceError::Random)?;
        let (as_public, ikm) = self.key_for(to)?;
        Ok(seal(&ikm, &as_public, &salt, plaintext))
    }

    /// The sender's public key and the IKM for `to`: kept ones while fresh, else new.
    fn key_for(&self, to: Recipient<'_>) -> Result<([u8; 65], [u8; 32]), EceError> {
        if self.reuse.is_zero() {
            return self.agree(to);
        }
        let id = (*to.p256dh, *to.auth);
        let now = Instant::now();
        if let Some(k) = self.kept.lock().unwrap_or_else(|p| p.into_inner()).get(&id).filter(|k| k.until > now) {
            return Ok((k.as_public, k.ikm));
        }
        let (as_public, ikm) = self.agree(to)?;
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= CACHE_CAP {
            kept.retain(|_, k| k.until > now);
            if kept.len() >= CACHE_CAP {
                kept.clear();
            }
        }
        kept.insert(id, Kept { as_public, ikm, until: now + self.reuse });
        Ok((as_public, ikm))
    }

    /// A new key pair, its agreement with the phone's key, and the IKM.
    fn agree(&self, to: Recipient<'_>) -> Result<([u8; 65], [u8; 32]), EceError> {
        let private = EphemeralPrivateKey::generate(&ECDH_P256, &self.rng).map_err(|_| EceError::Random)?;
        let as_public: [u8; 65] =
            private.compute_public_key().map_err(|_| EceError::Random)?.as_ref().try_into().expect("an uncompressed P-256 point");
        let ikm = agree_ephemeral(private, &UnparsedPublicKey::new(&ECDH_P256, &to.p256dh[..]), |secret| {
            key_material(secret, to.auth, to.p256dh, &as_public)
        })
        .map_err(|_| EceError::BadKey)?;
        Ok((as_public, ikm))
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    #[test]
    fn debug_of_a_recipient_hides_its_auth_secret() {
        let (p256dh, auth) = ([4u8; 65], [0xA5u8; 16]);
        let shown = format!("{:?}", Recipient { p256dh: &p256dh, auth: &auth });
        assert!(!shown.contains("165"), "{shown}");
        assert!(shown.contains("<secret>"), "{shown}");
    }

    fn b64<const N: usize>(s: &str) -> [u8; N] {
        URL_SAFE_NO_PAD.decode(s).unwrap().try_into().unwrap()
    }

    /// RFC 8291 Appendix A, from its ECDH secret on (ring cannot import the example's
    /// private keys; the agreement itself is ring's): the intermediate IKM and the whole
    /// body, byte for byte.
    #[test]
    fn rfc8291_appendix_a() {
        let ua_public = b64::<65>("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let as_public = b64::<65>("BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8");
        let auth = b64::<16>("BTBZMqHH6r4Tts7J_aSIgg");
        let salt = b64::<16>("DGv6ra1nlYgDCS1FRnbzlw");
        let ecdh = b64::<32>("kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs");
        let ikm = key_material(&ecdh, &auth, &ua_public, &as_public);
        assert_eq!(URL_SAFE_NO_PAD.encode(ikm), "S4lYMb_L0FxCeq0WhDx813KgSYqU26kOyzWUdsXYyrg");
        let body = seal(&ikm, &as_public, &salt, b"When I grow up, I want to be a watermelon");
        assert_eq!(
            URL_SAFE_NO_PAD.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    fn phone() -> ([u8; 65], [u8; 16]) {
        let rng = SystemRandom::new();
        let k = EphemeralPrivateKey::generate(&ECDH_P256, &rng).unwrap();
        (k.compute_public_key().unwrap().as_ref().try_into().unwrap(), [5; 16])
    }

    #[test]
    fn reuse_keeps_the_key_id_and_changes_the_salt() {
        let (p256dh, auth) = phone();
        let to = Recipient { p256dh: &p256dh, auth: &auth };
        let kept = Encryptor::new(Duration::from_secs(60));
        let (a, b) = (kept.encrypt(to, b"one").unwrap(), kept.encrypt(to, b"one").unwrap());
        assert_eq!(a[21..86], b[21..86], "the same sender key within the window");
        assert_ne!(a[..16], b[..16], "a fresh salt per message");
        assert_ne!(a[86..], b[86..], "so a different ciphertext");
        let fresh = Encryptor::new(Duration::ZERO);
        let (c, d) = (fresh.encrypt(to, b"one").unwrap(), fresh.encrypt(to, b"one").unwrap());
        assert_ne!(c[21..86], d[21..86], "without reuse, a key pair per message");
        assert_eq!(&a[16..21], &[0, 0, 0x10, 0, 65], "rs 4096, idlen 65");
        assert_eq!(a.len(), HEADER_LEN + 3 + 1 + 16);
    }

    #[test]
    fn a_key_off_the_curve_is_refused() {
        let mut off = [0u8; 65];
        off[0] = 4;
        off[1] = 1;
        let e = Encryptor::new(Duration::from_secs(60)).encrypt(Recipient { p256dh: &off, auth: &[0; 16] }, b"x");
        assert_eq!(e, Err(EceError::BadKey));
    }
}
