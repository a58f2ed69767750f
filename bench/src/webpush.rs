//! The Web Push road beside the FCM v1 road (`--webpush`): devices whose target is a Web
//! Push subscription (a token the run's emulator issued for the relay's VAPID key, a P-256
//! key and auth secret of their own), the relay's `[webpush]` pointed at that emulator, and
//! the road's CPU per push compared with the FCM v1 road's of the same invocation.
//!
//! Two runs: the road as configured by default (a device's ECDH result reused for a minute,
//! a fresh salt per message), and with `key_reuse_secs = 0` (one key generation and ECDH a
//! push: the cost for devices that get less than a push a minute, most of a large relay's).

use anyhow::{anyhow, Context};
use futures::stream::{self, StreamExt};
use rand::RngCore;
use ring::agreement::{EphemeralPrivateKey, ECDH_P256};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use uprelay::road::webpush::identity::{Identity, STORE_SECRET};
use uprelay::store::Store;
use uprelay::target::{Target, WebPushSubscription};

use crate::print::group;
use crate::report::RunReport;

/// One row of a targets table: the target, the measured figure, PASS/MISS (None: reported).
type Row = (String, String, Option<bool>);
/// Token requests to the emulator in flight while pre-loading.
const ISSUE_CONCURRENCY: usize = 32;

/// The run's `[webpush]` table: the emulator as Google's Web Push service.
pub fn settings_toml(emulator_url: &str, key_reuse_secs: u64) -> String {
    format!("[webpush]\napi_url = {emulator_url:?}\nhttp2_prior_knowledge = true\nkey_reuse_secs = {key_reuse_secs}\n")
}

/// `n` Web Push targets for the relay that will serve `store`: the relay's VAPID key is
/// fixed in the store now (uprelay reads it at start), and the emulator at `emulator_url`
/// issues one token per device for it, as Play services would.
pub async fn targets(store: &dyn Store, emulator_url: &str, http: &reqwest::Client, n: usize) -> anyhow::Result<Vec<Target>> {
    let fresh = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| anyhow!("P-256 key generation failed"))?;
    let der = store.secret_or_init(STORE_SECRET, fresh.as_ref()).await.map_err(|e| anyhow!("store: {e}"))?;
    let vapid = Identity::from_pkcs8(&der)?.public_key().to_owned();
    let url = format!("{emulator_url}/emulator/webpush/tokens");
    let tokens: Vec<anyhow::Result<String>> = stream::iter(0..n)
        .map(|_| {
            let (http, url, vapid) = (http.clone(), url.clone(), vapid.clone());
            async move {
                let answer: serde_json::Value = http.post(&url).json(&serde_json::json!({ "vapid": vapid })).send().await?.json().await?;
                answer["token"].as_str().map(str::to_owned).with_context(|| format!("the emulator issued no token: {answer}"))
            }
        })
        .buffer_unordered(ISSUE_CONCURRENCY)
        .collect()
        .await;
    let rng = SystemRandom::new();
    tokens
        .into_iter()
        .map(|token| {
            let key = EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(|_| anyhow!("P-256 key generation failed"))?;
            let p256dh = key.compute_public_key().map_err(|_| anyhow!("P-256 public key"))?;
            let mut auth = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut auth);
            let sub = WebPushSubscription::from_parts(token?, p256dh.as_ref(), &auth).context("a subscription from ring's key")?;
            Ok(Target::WebPush(sub))
        })
        .collect()
}

/// The targets rows of the Web Push runs beside the FCM v1 run they are compared with
/// (Redis, unrestricted endpoints, the default load): pushes/s and CPU per push of each, and
/// the CPU ratio, judged on the run with uprelay's default reuse; without `--webpush`, one
/// row saying how to measure it.
pub fn rows(fcm: Option<&RunReport>, reused: Option<&RunReport>, fresh: Option<&RunReport>, target: f64) -> Vec<Row> {
    let title = |what: &str| format!("Web Push road{what}: CPU/push ≤ {target} × the FCM v1 road's");
    let (Some(fcm), true) = (fcm, reused.is_some() || fresh.is_some()) else {
        return vec![(title(""), "not run (add --webpush; needs the Redis store)".into(), None)];
    };
    let cpu = |r: &RunReport| r.cpu_us_per_push.map_or("-".into(), |c| format!("{c:.1} µs"));
    let mut rows = Vec::new();
    for (run, what, judged) in [(reused, " (ECDH reused per device)", true), (fresh, " (an ECDH per push)", false)] {
        let Some(wp) = run else { continue };
        let ratio = match (wp.cpu_us_per_push, fcm.cpu_us_per_push) {
            (Some(w), Some(f)) if f > 0.0 => Some(w / f),
            _ => None,
        };
        rows.push((
            title(what),
            format!(
                "{} ({}/s, {} per push; FCM v1 road {}/s, {})",
                ratio.map_or("-".into(), |r| format!("{r:.2} ×")),
                group(wp.rps.round() as u64),
                cpu(wp),
                group(fcm.rps.round() as u64),
                cpu(fcm)
            ),
            // The run without reuse shows the cost for devices pushed less than once a window.
            ratio.filter(|_| judged).map(|r| r <= target),
        ));
    }
    rows
}
