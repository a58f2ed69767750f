//! Sealed endpoint ids: the device id and a random registration tag, encrypted and
//! authenticated under a key only the relay holds.
//!
//! The Redis store keys everything about a phone — token, secret hash, registrations —
//! in one hash, and a push must find that hash from the endpoint alone. Putting the
//! device id in the endpoint in the clear would let app servers of different apps link
//! two endpoints to one phone; sealing it keeps endpoints unlinkable while saving the
//! per-endpoint index (and its copy of the FCM token) that random ids would need.
//!
//! Construction (SIV-style, so the same registration always yields the same text):
//! `nonce = HMAC-SHA256(k_nonce, device ‖ tag)[..12]`,
//! `id = base64url(nonce ‖ AES-256-GCM(k_enc, nonce, device ‖ tag))`. The tag is 160
//! random bits per registration, so an endpoint cannot be guessed even knowing the
//! device id, and a deleted registration's endpoint never comes back.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hmac;

use crate::ids::{DeviceId, EndpointId, RawDeviceId, SEALED_ENDPOINT_LEN};

/// Random bytes per registration inside a sealed id.
pub const TAG_LEN: usize = 20;
/// The registration tag.
pub type Tag = [u8; TAG_LEN];

const DEVICE_LEN: usize = DeviceId::RANDOM_BYTES;
const PLAIN_LEN: usize = DEVICE_LEN + TAG_LEN;
const SEALED_LEN: usize = NONCE_LEN + PLAIN_LEN + 16;
const AAD: &[u8] = b"uprelay endpoint v1";
const _: () = assert!((SEALED_LEN * 4).div_ceil(3) == SEALED_ENDPOINT_LEN);

/// Seals and opens endpoint ids with keys derived from one 32-byte secret.
pub struct Sealer {
    enc: LessSafeKey,
    nonce: hmac::Key,
}

impl Sealer {
    /// Keys derived from `secret` (kept in the store so every instance shares it).
    pub fn new(secret: &[u8; 32]) -> Sealer {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let enc = hmac::sign(&root, b"uprelay endpoint encryption key");
        let nonce = hmac::sign(&root, b"uprelay endpoint nonce key");
        Sealer {
            enc: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, enc.as_ref()).expect("32-byte key")),
            nonce: hmac::Key::new(hmac::HMAC_SHA256, nonce.as_ref()),
        }
    }

    /// A fresh random registration tag.
    pub fn new_tag() -> Tag {
        let mut tag = [0u8; TAG_LEN];
        rand::thread_rng().fill_bytes(&mut tag);
        tag
    }

    /// The endpoint id of registration `tag` on `device`.
    pub fn seal(&self, device: &RawDeviceId, tag: &Tag) -> EndpointId {
        let mut plain = [0u8; PLAIN_LEN];
        plain[..DEVICE_LEN].copy_from_slice(device);
        plain[DEVICE_LEN..].copy_from_slice(tag);
        let digest = hmac::sign(&self.nonce, &plain);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&digest.as_ref()[..NONCE_LEN]);
        let mut out = Vec::with_capacity(SEALED_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&plain);
        let gcm_tag = self
            .enc
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(AAD), &mut out[NONCE_LEN..])
            .expect("in-memory sealing cannot fail");
        out.extend_from_slice(gcm_tag.as_ref());
        EndpointId::minted(URL_SAFE_NO_PAD.encode(&out))
    }

    /// The device and tag inside `endpoint`, or None for anything this relay did not seal.
    pub fn open(&self, endpoint: &EndpointId) -> Option<(RawDeviceId, Tag)> {
        let text = endpoint.as_str();
        if text.len() != SEALED_ENDPOINT_LEN {
            return None;
        }
        let mut bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        if bytes.len() != SEALED_LEN {
            return None;
        }
        let nonce: [u8; NONCE_LEN] = bytes[..NONCE_LEN].try_into().ok()?;
        let plain = self.enc.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(AAD), &mut bytes[NONCE_LEN..]).ok()?;
        let device: RawDeviceId = plain[..DEVICE_LEN].try_into().ok()?;
        let tag: Tag = plain[DEVICE_LEN..].try_into().ok()?;
        Some((device, tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::new(&[7u8; 32])
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let s = sealer();
        let device = DeviceId::generate().to_bytes();
        let tag = Sealer::new_tag();
        let id = s.seal(&device, &tag);
        assert_eq!(id.as_str().len(), SEALED_ENDPOINT_LEN);
        assert_eq!(EndpointId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(s.open(&id), Some((device, tag)));
        assert_eq!(s.seal(&device, &tag), id, "same registration, same endpoint");
        assert_ne!(s.seal(&device, &Sealer::new_tag()), id);
    }

    #[test]
    fn endpoints_of_one_device_share_nothing_visible() {
        let s = sealer();
        let device = DeviceId::generate().to_bytes();
        let a = s.seal(&device, &Sealer::new_tag());
        let b = s.seal(&device, &Sealer::new_tag());
        let common = a.as_str().bytes().zip(b.as_str().bytes()).take_while(|(x, y)| x == y).count();
        assert!(common < 4, "{a:?} and {b:?} share a {common}-char prefix");
    }

    #[test]
    fn rejects_tampering_other_keys_and_foreign_ids() {
        let s = sealer();
        let id = s.seal(&DeviceId::generate().to_bytes(), &Sealer::new_tag());
        for i in 0..id.as_str().len() {
            let mut text = id.as_str().to_owned().into_bytes();
            text[i] = if text[i] == b'A' { b'B' } else { b'A' };
            if let Some(t) = EndpointId::parse(std::str::from_utf8(&text).unwrap()) {
                assert_eq!(s.open(&t), None, "flipped char {i} still opens");
            }
        }
        assert_eq!(Sealer::new(&[8u8; 32]).open(&id), None);
        assert_eq!(s.open(&EndpointId::generate()), None);
    }
}
