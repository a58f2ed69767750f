//! The relay's VAPID identity (RFC 8292): one P-256 key pair that every Web Push token of
//! this relay is bound to (phones ask Play services for a token with its public key as the
//! sender). Created on first start and kept in the store, so every instance sharing the
//! store signs with the same key; or read from `[webpush] key_file` (created there, 0600,
//! when missing). Rotating it voids every Web Push token: phones must register again.
//!
//! The private key is never logged, shown or returned: only [`Identity::public_key`] leaves.

use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use crate::store::Store;

/// The name of the key pair among the store's secrets.
pub const STORE_SECRET: &str = "webpush-vapid-key";

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// The relay's VAPID key pair.
pub struct Identity {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
    public: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.public)
    }
}

/// A new P-256 key pair, as PKCS#8 DER.
fn generate() -> anyhow::Result<Vec<u8>> {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| anyhow::anyhow!("cannot generate a P-256 key pair"))?;
    Ok(doc.as_ref().to_vec())
}

impl Identity {
    /// The identity in PKCS#8 DER (what the store keeps and ring generates).
    pub fn from_pkcs8(der: &[u8]) -> anyhow::Result<Identity> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| anyhow::anyhow!("not a PKCS#8 P-256 private key with its public key ({e})"))?;
        let public = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        Ok(Identity { pair, rng, public })
    }

    /// The store's key pair, created by the first instance to start.
    pub async fn from_store(store: &dyn Store) -> anyhow::Result<Identity> {
        let der = store.secret_or_init(STORE_SECRET, &generate()?).await.context("cannot read or store the relay's VAPID key")?;
        Identity::from_pkcs8(&der).context("the store's VAPID key")
    }

    /// The key pair in `path` (PEM `PRIVATE KEY`, PKCS#8, as `openssl genpkey -algorithm EC
    /// -pkeyopt ec_paramgen_curve:P-256` writes it), or a new one written there, readable
    /// by the owner only.
    pub fn from_file(path: &Path) -> anyhow::Result<Identity> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                warn_if_readable_by_others(path);
                let der = pem_body(&text).with_context(|| format!("{}: not a PEM PRIVATE KEY", path.display()))?;
                Identity::from_pkcs8(&der).with_context(|| format!("{}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let der = generate()?;
                write_private(path, pem(&der).as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
                tracing::info!(path = %path.display(), "created the relay's VAPID key");
                Identity::from_pkcs8(&der)
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// The public key: the uncompressed P-256 point in base64url without padding
    /// (87 characters), as `GET /v1/info` publishes it.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// An ES256 signature (raw r ‖ s, 64 bytes) of `message`.
    pub(super) fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        let sig = self.pair.sign(&self.rng, message).map_err(|_| anyhow::anyhow!("ECDSA signing failed"))?;
        Ok(sig.as_ref().to_vec())
    }
}

fn pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from(PEM_BEGIN);
    out.push('\n');
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(PEM_END);
    out.push('\n');
    out
}

fn pem_body(text: &str) -> Option<Vec<u8>> {
    let start = text.find(PEM_BEGIN)? + PEM_BEGIN.len();
    let end = start + text[start..].find(PEM_END)?;
    let b64: String = text[start..end].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

/// Write `bytes` to a new file at `path`, mode 0600 from the start (never briefly readable).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// An operator's key file others can read is theirs to fix (a mounted secret may have to
/// be), so a warning rather than a refusal.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "the VAPID key file is readable by others than its owner; chmod 600 it");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("uprelay-{name}-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_key_file_is_created_private_and_read_back() {
        let dir = temp_dir("vapid-file");
        let path = dir.join("vapid.pem");
        let created = Identity::from_file(&path).unwrap();
        assert_eq!(created.public_key().len(), 87);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(PEM_BEGIN), "{text}");
        assert_eq!(Identity::from_file(&path).unwrap().public_key(), created.public_key(), "the same key on the next start");
        assert!(!format!("{created:?}").contains(&text[PEM_BEGIN.len()..PEM_BEGIN.len() + 20]), "Debug shows the public key only");
        std::fs::write(&path, "not a key").unwrap();
        assert!(Identity::from_file(&path).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn instances_sharing_a_store_share_the_key() {
        let dir = temp_dir("vapid-store");
        let store = crate::store::EmbeddedStore::open(&dir).unwrap();
        let first = Identity::from_store(&store).await.unwrap();
        let second = Identity::from_store(&store).await.unwrap();
        assert_eq!(first.public_key(), second.public_key());
        drop(store);
        let reopened = crate::store::EmbeddedStore::open(&dir).unwrap();
        assert_eq!(Identity::from_store(&reopened).await.unwrap().public_key(), first.public_key(), "kept across restarts");
        std::fs::remove_dir_all(&dir).ok();
    }
}
