//! The relay's VAPID identity, as phones see it at `GET /v1/info`: created on first start,
//! the same after a restart and for every instance sharing a store, or the key in
//! `[webpush] key_file` (created there, owner-only, when missing); never in the logs; and
//! the road left out when `[webpush] enabled = false`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::{Method, StatusCode};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::Value;
use uprelay_tests::relay::{Relay, RelayConfig, StoreKind};

async fn info(relay: &Relay) -> Value {
    let (status, body) = relay.api(Method::GET, "/v1/info", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The published key: 87 characters of base64url, an uncompressed P-256 point on the curve.
async fn vapid(relay: &Relay) -> String {
    let info = info(relay).await;
    assert_eq!(info["roads"], serde_json::json!(["fcm", "webpush"]), "{info}");
    let key = info["webpush"]["vapid"].as_str().unwrap_or_else(|| panic!("no webpush.vapid in {info}")).to_owned();
    assert_eq!(key.len(), 87, "{key}");
    let point = URL_SAFE_NO_PAD.decode(&key).unwrap();
    let throwaway = ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::ECDH_P256, &ring::rand::SystemRandom::new()).unwrap();
    ring::agreement::agree_ephemeral(throwaway, &ring::agreement::UnparsedPublicKey::new(&ring::agreement::ECDH_P256, &point), |_| ())
        .expect("the published key is a P-256 point");
    key
}

#[tokio::test]
async fn the_key_is_made_once_and_kept_in_the_embedded_store() {
    let mut relay = Relay::start(StoreKind::Embedded).await;
    let first = vapid(&relay).await;
    relay.restart().await;
    assert_eq!(vapid(&relay).await, first, "the same key after a restart");
    let other = Relay::start(StoreKind::Embedded).await;
    assert_ne!(vapid(&other).await, first, "another store, another key");
}

#[tokio::test]
async fn instances_sharing_redis_share_the_key() {
    let relay = Relay::start(StoreKind::Redis).await;
    let sibling = relay.sibling(RelayConfig::new(StoreKind::Redis)).await;
    let key = vapid(&relay).await;
    assert_eq!(vapid(&sibling).await, key);
    let alone = Relay::start(StoreKind::Redis).await;
    assert_ne!(vapid(&alone).await, key);
}

#[tokio::test]
async fn a_key_file_is_created_owner_only_and_its_key_published() {
    let dir = uprelay_tests::TempDir::new("vapid-key-file");
    let path = dir.join("vapid.pem");
    let table = format!("[webpush]\nkey_file = {:?}\n", path.display().to_string());
    let mut relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).tables(&table)).await;
    let published = vapid(&relay).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "the private key is the owner's only");
    }
    let pem = std::fs::read_to_string(&path).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(&body).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &ring::rand::SystemRandom::new()).unwrap();
    assert_eq!(URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()), published, "the file's key is the published one");
    relay.restart().await;
    assert_eq!(vapid(&relay).await, published, "read back, not replaced");
    let output = relay.output();
    assert!(!output.contains(&body[..40]) && !output.contains("PRIVATE KEY"), "the private key reached the logs:\n{output}");
    assert!(output.contains(&published), "the public key is logged at start:\n{output}");
}

#[tokio::test]
async fn a_relay_without_the_road_does_not_offer_it() {
    let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).tables("[webpush]\nenabled = false\n")).await;
    let info = info(&relay).await;
    assert_eq!(info["roads"], serde_json::json!(["fcm"]), "{info}");
    assert!(info.get("webpush").is_none(), "{info}");
}
