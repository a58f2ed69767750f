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
    let line = format!("key_file = {:?}", path.display().to_string());
    let mut relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).webpush(&line)).await;
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
    let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).webpush("enabled = false")).await;
    let info = info(&relay).await;
    assert_eq!(info["roads"], serde_json::json!(["fcm"]), "{info}");
    assert!(info.get("webpush").is_none(), "{info}");
}

/// Sandbox mode (no `[[fcm.projects]]`, no `[webpush] api_url`) offers both roads, the
/// in-process emulator playing Google's Web Push service too: a device on a token it
/// issued for the published key gets a push there.
#[tokio::test]
async fn sandbox_mode_offers_both_roads_on_the_built_in_emulator() {
    use uprelay_tests::{bin_path, free_port, wait_for_http, ChildGuard, TempDir};
    let dir = TempDir::new("uprelay-sandbox-webpush");
    let (port, emulator_port) = (free_port(), free_port());
    let config = format!(
        "listen = \"127.0.0.1:{port}\"\n[store]\npath = {:?}\n[sandbox]\nemulator_listen = \"127.0.0.1:{emulator_port}\"\n",
        dir.join("data").display().to_string()
    );
    std::fs::write(dir.join("uprelay.toml"), config).unwrap();
    let mut cmd = std::process::Command::new(bin_path("uprelay"));
    cmd.arg("serve").arg("--config").arg(dir.join("uprelay.toml"));
    let child = ChildGuard::spawn("uprelay-sandbox", cmd);
    let base = format!("http://127.0.0.1:{port}");
    let emulator = format!("http://127.0.0.1:{emulator_port}");
    wait_for_http(&format!("{base}/healthz")).await;
    let http = reqwest::Client::new();
    let info: Value = http.get(format!("{base}/v1/info")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["roads"], serde_json::json!(["fcm", "webpush"]), "{info}");
    let vapid = info["webpush"]["vapid"].as_str().unwrap();

    let issued: Value = http
        .post(format!("{emulator}/emulator/webpush/tokens"))
        .json(&serde_json::json!({ "vapid": vapid }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = issued["token"].as_str().unwrap();
    let phone = uprelay_tests::webpush::Keys::new(dir.path(), "phone");
    let body = serde_json::json!({ "webpush": { "token": token, "p256dh": phone.get("p256dh"), "auth": phone.get("auth") } });
    let created: Value = http.post(format!("{base}/v1/devices")).json(&body).send().await.unwrap().json().await.unwrap();
    let secret = created["secret"].as_str().unwrap_or_else(|| panic!("{created}\n{}", child.output()));
    let registered: Value = http
        .post(format!("{base}/v1/devices/{}/registrations", created["device_id"].as_str().unwrap()))
        .bearer_auth(secret)
        .json(&serde_json::json!({ "instance": "sandbox.app" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = registered["endpoint"].as_str().unwrap();
    let pushed = http.post(endpoint).header("TTL", "60").body("hello sandbox").send().await.unwrap();
    assert_eq!(pushed.status(), StatusCode::CREATED, "{}", child.output());
    let kept: Vec<Value> =
        http.get(format!("{emulator}/emulator/messages")).query(&[("token", token)]).send().await.unwrap().json().await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let raw = STANDARD.decode(kept[0]["raw_data"].as_str().unwrap()).unwrap();
    let frame = phone.decrypt(&raw, "aes128gcm");
    let read = uprelay::road::webpush::frame::parse(&frame).unwrap();
    assert_eq!((read.instance, read.body), ("sandbox.app", &b"hello sandbox"[..]));
}
