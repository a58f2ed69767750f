//! Registrations written straight into the store (much faster than the HTTP API), realistic
//! FCM tokens and instance names, and a VAPID sender that signs its JWT once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::stream::{self, StreamExt};
use rand::{Rng, RngCore};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use uprelay::ids::{DeviceId, DeviceSecret};
use uprelay::store::{AddOutcome, Device, Store};
use uprelay::target::Target;
use uprelay::webpush::VapidKey;

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn random_b64(rng: &mut impl RngCore, n: usize, out: &mut String) {
    for _ in 0..n {
        out.push(B64URL[(rng.next_u32() & 63) as usize] as char);
    }
}

/// Shaped like a real FCM registration token: 22-char instance id, `:APA91b`, 134 chars (163 in all).
pub fn fcm_token(rng: &mut impl RngCore) -> String {
    let mut s = String::with_capacity(163);
    random_b64(rng, 22, &mut s);
    s.push_str(":APA91b");
    random_b64(rng, 134, &mut s);
    s
}

/// A UUIDv4 string, as the Android shim names instances.
pub fn instance_name(rng: &mut impl RngCore) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Random endpoint-shaped path segments (for the bare server, which looks nothing up).
pub fn fake_endpoints(n: usize) -> Vec<String> {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| {
            let mut s = String::with_capacity(32);
            random_b64(&mut rng, 32, &mut s);
            s
        })
        .collect()
}

/// Write `n` devices with one registration each through the `Store` trait, `concurrency`
/// at a time: device `i` reached by `targets[i]` when given (the Web Push road), else by a
/// fresh FCM token. Returns the endpoint ids.
pub async fn preload(
    store: Arc<dyn Store>,
    n: usize,
    project: &str,
    vapid: Option<VapidKey>,
    targets: Option<Arc<Vec<Target>>>,
    concurrency: usize,
    progress: bool,
) -> anyhow::Result<Vec<String>> {
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let project: Arc<str> = Arc::from(project);
    let vapid = Arc::new(vapid);
    let reporter = progress.then(|| {
        let done = done.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let d = done.load(Ordering::Relaxed);
                eprintln!("  preload: {d}/{n} registrations ({:.0}/s)", d as f64 / started.elapsed().as_secs_f64());
            }
        })
    });
    let results: Vec<anyhow::Result<String>> = stream::iter(0..n)
        .map(|i| {
            let (store, project, vapid, done) = (store.clone(), project.clone(), vapid.clone(), done.clone());
            let given = targets.as_ref().and_then(|t| t.get(i % t.len().max(1)).cloned());
            async move {
                let (target, instance) = {
                    let mut rng = rand::thread_rng();
                    (given.unwrap_or_else(|| Target::FcmToken(fcm_token(&mut rng))), instance_name(&mut rng))
                };
                let device = Device {
                    id: DeviceId::generate(),
                    secret_hash: DeviceSecret::generate().hash(),
                    project: project.to_string(),
                    target,
                    registrations: Vec::new(),
                };
                store.create_device(&device).await.map_err(|e| anyhow!("create_device: {e}"))?;
                let outcome = store
                    .add_registration(&device.id, &instance, vapid.as_ref().as_ref(), 100)
                    .await
                    .map_err(|e| anyhow!("add_registration: {e}"))?;
                done.fetch_add(1, Ordering::Relaxed);
                match outcome {
                    AddOutcome::Created(e) | AddOutcome::Existing(e) => Ok(e.as_str().to_owned()),
                    other => bail!("add_registration: unexpected {other:?}"),
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    if let Some(r) = reporter {
        r.abort();
    }
    results.into_iter().collect()
}

/// An application server with one P-256 key that signs one JWT per audience and reuses it.
pub struct VapidSender {
    key_pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl VapidSender {
    pub fn generate() -> anyhow::Result<VapidSender> {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(|_| anyhow!("P-256 key generation failed"))?;
        let key_pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).map_err(|_| anyhow!("P-256 key rejected"))?;
        Ok(VapidSender { key_pair, rng })
    }

    /// The 65-byte uncompressed public key, as the endpoint is restricted to.
    pub fn key(&self) -> VapidKey {
        VapidKey::from_bytes(self.key_pair.public_key().as_ref()).expect("ring gives an uncompressed point")
    }

    /// The 87-char base64url public key (`k=`).
    pub fn key_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key_pair.public_key().as_ref())
    }

    /// `vapid t=<ES256 JWT>, k=<key>` with aud = `audience`, exp = now + 12 h.
    pub fn authorization(&self, audience: &str) -> anyhow::Result<String> {
        let exp = SystemTime::now().duration_since(UNIX_EPOCH).context("clock")?.as_secs() + 12 * 3600;
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": audience, "exp": exp, "sub": "mailto:bench@example.org" });
        let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?);
        let input = format!("{header}.{claims}");
        let sig = self.key_pair.sign(&self.rng, input.as_bytes()).map_err(|_| anyhow!("ES256 signing failed"))?;
        Ok(format!("vapid t={input}.{}, k={}", URL_SAFE_NO_PAD.encode(sig.as_ref()), self.key_b64()))
    }
}

/// `n` random bodies of `size` bytes (the load picks among them).
pub fn random_bodies(n: usize, size: usize) -> Vec<bytes::Bytes> {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| {
            let mut v = vec![0u8; size];
            rng.fill(&mut v[..]);
            bytes::Bytes::from(v)
        })
        .collect()
}
