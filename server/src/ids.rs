//! Identifiers handed out by uprelay, and the redaction used whenever one is logged.
//!
//! Each id is random base64url text of a fixed length; parsing checks length and
//! alphabet so that a malformed id never reaches the store.

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
                ((s.len() == Self::LEN || Self::ALSO_LEN.contains(&s.len())) && is_b64url(s)).then(|| $name(s.to_owned()))
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
random_id!(
    /// A device's bearer secret for the distributor API: 256 random bits. Only its hash is stored.
    DeviceSecret, 32
);
random_id!(
    /// uprelay's id of one accepted push (`m` in the FCM data map, `/m/{id}` in `Location`).
    MessageId, 12
);

impl DeviceSecret {
    /// SHA-256 of the secret: what the store keeps. Secrets are 256 random bits, so a
    /// fast hash is enough (no password-stretching needed).
    pub fn hash(&self) -> [u8; 32] {
        hash_secret(&self.0)
    }

    /// The full secret, for the one response that hands it to the device.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

/// Hash a presented bearer secret the way [`DeviceSecret::hash`] does.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Compare two secret hashes without leaking where they differ through timing.
pub fn hashes_match(a: &[u8; 32], b: &[u8; 32]) -> bool {
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
