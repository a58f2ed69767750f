//! Identifiers handed out by uprelay, and the redaction used whenever one is logged.
//!
//! Each id is random base64url text of a fixed length; parsing checks length, alphabet
//! and that the text is the canonical encoding of its bytes (unused trailing bits zero),
//! so a malformed id never reaches the store and every parsed id decodes.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

fn random_b64<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn is_b64url(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether the last character leaves the bits past the last whole byte at zero, as an
/// encoder writes them (`AAAAAAAAAAAAAAAAAAAAAB` is not the text of any 16 bytes).
fn is_canonical_tail(s: &str) -> bool {
    let spare_bits = (s.len() * 6) % 8;
    let Some(&last) = s.as_bytes().last() else { return true };
    let value = match last {
        b'A'..=b'Z' => last - b'A',
        b'a'..=b'z' => last - b'a' + 26,
        b'0'..=b'9' => last - b'0' + 52,
        b'-' => 62,
        _ => 63,
    };
    value & ((1u8 << spare_bits) - 1) == 0
}

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident, $bytes:expr) => {
        random_id!($(#[$doc])* $name, $bytes, []);
    };
    ($(#[$doc:meta])* $name:ident, $bytes:expr, [$($also:expr),*]) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Number of random bytes behind the id.
            pub const RANDOM_BYTES: usize = $bytes;
            /// Length of the base64url text.
            pub const LEN: usize = ($bytes * 4usize).div_ceil(3);
            /// Other accepted lengths (ids minted another way, e.g. sealed endpoint ids).
            pub const ALSO_LEN: &'static [usize] = &[$($also),*];

            /// A fresh random id.
            pub fn generate() -> Self {
                $name(random_b64::<$bytes>())
            }

            /// Accept `s` only if it has this id's exact shape.
            pub fn parse(s: &str) -> Option<Self> {
                ((s.len() == Self::LEN || Self::ALSO_LEN.contains(&s.len())) && is_b64url(s) && is_canonical_tail(s))
                    .then(|| $name(s.to_owned()))
            }

            /// The id's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        /// Shows only a prefix: ids are bearer-like and must not appear whole in logs.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", Redacted(&self.0))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", Redacted(&self.0))
            }
        }
    };
}

random_id!(
    /// The secret part of a push endpoint URL: 192 random bits (embedded store), or a
    /// sealed id of [`SEALED_ENDPOINT_LEN`] characters carrying 160 random bits and the
    /// device id encrypted under the relay's key (Redis store, see `store::sealed`).
    EndpointId, 24, [SEALED_ENDPOINT_LEN]
);

/// Length of a sealed endpoint id: base64url of nonce (12) + device id and random tag
/// (16 + 20) + GCM tag (16) = 64 bytes.
pub const SEALED_ENDPOINT_LEN: usize = 86;

impl EndpointId {
    /// Wrap text minted by the store itself (already the right shape).
    pub(crate) fn minted(text: String) -> EndpointId {
        debug_assert!(Self::parse(&text).is_some());
        EndpointId(text)
    }
}
random_id!(
    /// A registered phone: 128 random bits.
    DeviceId, 16
);
/// A device id's bytes, as the Redis store keys and seals them.
pub type RawDeviceId = [u8; DeviceId::RANDOM_BYTES];

impl DeviceId {
    /// The id whose text encodes `bytes`.
    pub fn from_bytes(bytes: &RawDeviceId) -> DeviceId {
        DeviceId(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Its bytes (every parsed id decodes: `parse` checks the canonical tail, and device
    /// ids have one length).
    pub fn to_bytes(&self) -> RawDeviceId {
        let mut raw = [0u8; DeviceId::RANDOM_BYTES];
        let n = URL_SAFE_NO_PAD.decode_slice(&self.0, &mut raw).expect("device ids are canonical base64url");
        debug_assert_eq!(n, raw.len());
        raw
    }
}

random_id!(
    /// A device's bearer secret for the distributor API: 256 random bits. Only its hash is stored.
    DeviceSecret, 32
);
random_id!(
    /// uprelay's id of one accepted push (`m` in the FCM data map, `/m/{id}` in `Location`).
    MessageId, 12
);

impl DeviceSecret {
    /// What the store keeps of the secret (see [`SecretHash`]).
    pub fn hash(&self) -> SecretHash {
        hash_secret(&self.0)
    }

    /// The full secret, for the one response that hands it to the device.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

/// Bytes of a stored secret hash.
pub const SECRET_HASH_LEN: usize = 16;

/// The first 128 bits of SHA-256 of a device secret. Secrets are 256 random bits, so a
/// fast hash needs no stretching, and 128 bits leave a preimage out of reach while
/// saving 16 bytes per device in the store.
pub type SecretHash = [u8; SECRET_HASH_LEN];

/// Hash a presented bearer secret the way [`DeviceSecret::hash`] does.
pub fn hash_secret(secret: &str) -> SecretHash {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; SECRET_HASH_LEN];
    out.copy_from_slice(&d.as_ref()[..SECRET_HASH_LEN]);
    out
}

/// Compare two secret hashes without leaking where they differ through timing.
pub fn hashes_match(a: &SecretHash, b: &SecretHash) -> bool {
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Displays the first six characters of a secret-ish string and its length.
pub struct Redacted<'a>(pub &'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix: String = self.0.chars().take(6).collect();
        write!(f, "{prefix}…({})", self.0.len())
    }
}

// The design's floor for unguessable endpoints, checked at compile time.
const _: () = assert!(EndpointId::RANDOM_BYTES * 8 >= 160);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_ids_have_at_least_160_bits() {
        let id = EndpointId::generate();
        assert_eq!(id.as_str().len(), EndpointId::LEN);
        assert_eq!(EndpointId::parse(id.as_str()), Some(id.clone()));
        assert_ne!(EndpointId::generate(), id);
    }

    #[test]
    fn parse_rejects_wrong_shapes() {
        let good = EndpointId::generate();
        assert!(EndpointId::parse(&good.as_str()[1..]).is_none());
        let mut bad = good.as_str().to_string();
        bad.replace_range(0..1, "/");
        assert!(EndpointId::parse(&bad).is_none());
        assert!(DeviceId::parse("").is_none());
    }

    #[test]
    fn parse_accepts_exactly_the_texts_that_decode() {
        assert!(DeviceId::parse("AAAAAAAAAAAAAAAAAAAAAA").is_some());
        assert!(DeviceId::parse("AAAAAAAAAAAAAAAAAAAAAB").is_none(), "non-zero spare bits");
        let mut rng = rand::thread_rng();
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for len in [DeviceId::LEN, EndpointId::LEN, SEALED_ENDPOINT_LEN, DeviceSecret::LEN, MessageId::LEN] {
            for _ in 0..500 {
                let text: String = (0..len).map(|_| ALPHABET[(rng.next_u32() % 64) as usize] as char).collect();
                let decodes = URL_SAFE_NO_PAD.decode(&text).is_ok();
                let parses = [
                    DeviceId::parse(&text).is_some(),
                    EndpointId::parse(&text).is_some(),
                    DeviceSecret::parse(&text).is_some(),
                    MessageId::parse(&text).is_some(),
                ];
                assert!(!parses.contains(&true) || decodes, "{text:?} parses but does not decode");
                assert!(!decodes || parses.contains(&true), "{text:?} decodes but no id of length {len} parses");
            }
        }
    }

    #[test]
    fn logs_never_show_whole_ids() {
        let id = DeviceSecret::generate();
        let shown = format!("{id} {id:?}");
        assert!(!shown.contains(id.reveal()));
    }

    #[test]
    fn secret_hash_matches_only_itself() {
        let s = DeviceSecret::generate();
        assert!(hashes_match(&s.hash(), &hash_secret(s.reveal())));
        assert!(!hashes_match(&s.hash(), &hash_secret("other")));
    }
}
