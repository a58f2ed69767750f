//! What removing a device leaves behind, and what must not remove one. Every kind of
//! removal (the distributor API's delete, FCM declaring the token or the FID gone) must leave nothing
//! of the device in the store: for Redis, no key and no bucket field; for the embedded
//! store, nothing in its redb tables (read from the file once the relay has stopped). And
//! a dead-token answer to a send that raced a token rotation must not remove the device.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uprelay_tests::per_store;
use uprelay_tests::relay::{decode_body, endpoint_id, random_bytes, unique_token, Device, Relay, RelayConfig, StoreKind, VapidSigner};

per_store!(
    [embedded, redis], TEST_LIMIT;
    dead_token_answer_racing_a_rotation_keeps_the_device,
    api_delete_leaves_nothing_in_the_store,
    dead_token_leaves_nothing_in_the_store,
    fid_gone_leaves_nothing_in_the_store,
);

/// FCM holds its answer to a push sent with the old token; the device is rotated to a new
/// token meanwhile; then FCM declares the OLD token dead. The device and its endpoints must
/// survive, the sender gets 503 + `Retry-After` (try again), and the retry reaches the new token.
async fn dead_token_answer_racing_a_rotation_keeps_the_device(store: StoreKind) {
    // FCM's answer is held for 3 s; the relay waits for it far longer.
    let relay = Relay::start_with(RelayConfig::new(store).fcm_timeout_ms(10_000)).await;
    let dev = relay.create_device(&unique_token("old")).await;
    let signer = VapidSigner::new();
    let plain = relay.register(&dev, "plain", None).await;
    let restricted = relay.register(&dev, "restricted", Some(&signer.public_b64())).await;
    let (_, before) = relay.show_device(&dev).await;
    let emulator = &relay.emulator.client;
    emulator.add_fault(json!({ "token": dev.token, "error": "UNREGISTERED", "delay_ms": 3000, "times": 1 })).await;

    let new_token = unique_token("new");
    let answered = AtomicBool::new(false);
    let push = async {
        let r = relay.push(&plain, &[("TTL", "60")], b"raced".to_vec()).await;
        answered.store(true, Ordering::SeqCst);
        r
    };
    let rotate = async {
        // The emulator uses the fault up when the send reaches it: from then on it holds
        // the answer, so the relay has sent with the old token and awaits FCM's verdict.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let faults = emulator.faults().await;
            let pending = faults["faults"].as_array().unwrap_or_else(|| panic!("no fault list in {faults}")).len();
            if pending == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "the push never reached the emulator");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (status, body) =
            relay.api(Method::PUT, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), Some(json!({ "fcm_token": new_token }))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert!(!answered.load(Ordering::SeqCst), "FCM answered before the rotation landed: the test did not reach the race");
    };
    let (r, ()) = tokio::join!(push, rotate);

    // The documented answer: the device lives on with a new token, the sender may simply retry.
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}\n{}", relay.output());
    assert_eq!(r.retry_after(), 1, "{r:?}");
    assert_eq!(r.error_code(), "unavailable", "{r:?}");
    assert!(relay.messages(&dev.token).await.is_empty(), "FCM accepted a message for the dead token");
    let (status, after) = relay.show_device(&dev).await;
    assert_eq!(status, StatusCode::OK, "the device was deleted by a dead-token answer for its old token: {after}");
    assert_eq!(after["registrations"], before["registrations"], "the race changed the endpoints");
    assert_eq!(relay.metric("uprelay_devices_total{op=\"token_dead\"}").await, 0.0);

    // Both endpoints still work, under the new token.
    let auth = signer.valid_authorization(&relay.base_url);
    let retry = relay.push(&plain, &[("TTL", "60")], b"retried".to_vec()).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{retry:?}");
    let other = relay.push(&restricted, &[("TTL", "60"), ("Authorization", &auth)], b"other".to_vec()).await;
    assert_eq!(other.status, StatusCode::CREATED, "{other:?}");
    assert_eq!(decode_body(&relay.messages_with_id(&new_token, &retry.message_id()).await), b"retried");
    assert_eq!(decode_body(&relay.messages_with_id(&new_token, &other.message_id()).await), b"other");
}

/// A device with two endpoints (one VAPID-restricted), each pushed to, so the store holds
/// its head, its registrations and their limiter state.
async fn used_device(relay: &Relay, label: &str) -> (Device, Vec<String>) {
    let dev = relay.create_device(&unique_token(label)).await;
    let signer = VapidSigner::new();
    let plain = relay.register(&dev, "plain", None).await;
    let restricted = relay.register(&dev, "restricted", Some(&signer.public_b64())).await;
    let auth = signer.valid_authorization(&relay.base_url);
    assert_eq!(relay.push(&plain, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);
    assert_eq!(relay.push(&restricted, &[("TTL", "60"), ("Authorization", &auth)], b"y".to_vec()).await.status, StatusCode::CREATED);
    relay.wait_messages(&dev.token, 2).await;
    (dev, vec![plain, restricted])
}

async fn api_delete_leaves_nothing_in_the_store(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).private_store()).await;
    let (kept, _) = used_device(&relay, "kept").await;
    let (gone, endpoints) = used_device(&relay, "deleted").await;
    let (status, body) = relay.api(Method::DELETE, &format!("/v1/devices/{}", gone.id), Some(&gone.secret), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_store_forgot(relay, &kept, &gone, &endpoints).await;
}

async fn dead_token_leaves_nothing_in_the_store(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).private_store()).await;
    let (kept, _) = used_device(&relay, "kept").await;
    let (gone, endpoints) = used_device(&relay, "dead").await;
    relay.emulator.client.add_fault(json!({ "token": gone.token, "error": "UNREGISTERED" })).await;
    let r = relay.push(&endpoints[0], &[("TTL", "60")], b"z".to_vec()).await;
    assert_eq!(r.status, StatusCode::GONE, "{r:?}");
    assert_eq!(relay.show_device(&gone).await.0, StatusCode::NOT_FOUND);
    assert_store_forgot(relay, &kept, &gone, &endpoints).await;
}

/// A device registered by its Firebase Installation ID: FCM answering UNREGISTERED for it
/// deletes it, and nothing of it stays.
async fn fid_gone_leaves_nothing_in_the_store(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).private_store()).await;
    let (kept, _) = used_device(&relay, "kept").await;
    let fid = format!("c{}", &URL_SAFE_NO_PAD.encode(random_bytes(16))[..21]);
    let (status, body) = relay.api(Method::POST, "/v1/devices", None, Some(json!({ "fcm_fid": fid }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let gone = Device {
        id: body["device_id"].as_str().unwrap().to_owned(),
        secret: body["secret"].as_str().unwrap().to_owned(),
        token: fid.clone(),
    };
    let endpoints = vec![relay.register(&gone, "plain", None).await, relay.register(&gone, "other", None).await];
    for e in &endpoints {
        assert_eq!(relay.push(e, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);
    }
    let by_fid = relay.emulator.client.messages(None).await.iter().filter(|m| m["message"]["fid"] == fid.as_str()).count();
    assert_eq!(by_fid, 2, "the pushes did not reach FCM by message.fid");
    // The emulator matches token faults only on message.token: a fault for every send, once.
    relay.emulator.client.add_fault(json!({ "error": "UNREGISTERED", "times": 1 })).await;
    let r = relay.push(&endpoints[0], &[("TTL", "60")], b"z".to_vec()).await;
    assert_eq!(r.status, StatusCode::GONE, "{r:?}");
    assert_eq!(relay.show_device(&gone).await.0, StatusCode::NOT_FOUND);
    assert_store_forgot(relay, &kept, &gone, &endpoints).await;
}

/// The store holds nothing of `gone` (device `endpoints` were its endpoints) and still
/// holds `kept`, which shows the inspection sees what is there.
async fn assert_store_forgot(mut relay: Relay, kept: &Device, gone: &Device, endpoints: &[String]) {
    let ids: Vec<&str> = endpoints.iter().map(|e| endpoint_id(e)).collect();
    match relay.config.store {
        StoreKind::Embedded => {
            relay.stop().await;
            let path = relay.dir.join("data").join("uprelay.redb");
            let found = embedded_mentions(&path, &gone.id, &ids);
            assert!(found.is_empty(), "the embedded store still holds the removed device: {found:?}");
            let found = embedded_mentions(&path, &kept.id, &[]);
            assert!(found.len() >= 3, "the inspection does not see the kept device (head + 2 routes): {found:?}");
        }
        StoreKind::Redis | StoreKind::Cluster => {
            let found = redis_mentions(&relay.config.store_urls[0], &gone.id, &ids).await;
            assert!(found.is_empty(), "Redis still holds the removed device: {found:?}");
            let found = redis_mentions(&relay.config.store_urls[0], &kept.id, &[]).await;
            assert!(found.len() >= 3, "the inspection does not see the kept device (head + 2 registrations): {found:?}");
        }
    }
}

/// Every key and hash field of the Redis at `url` that belongs to device `id` (its bucket
/// fields start with its 16 raw bytes; limiter keys carry those bytes in base64url) or names
/// one of `endpoints`. A limiter key that expires on its own is no leak and is not reported.
async fn redis_mentions(url: &str, id: &str, endpoints: &[&str]) -> Vec<String> {
    let raw = URL_SAFE_NO_PAD.decode(id).expect("device ids are base64url");
    // The first 21 characters of a base64url text depend only on its first 15.75 bytes.
    let id_text = &id[..21];
    let mut conn = ::redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
    let mut found = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) =
            ::redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(1000).query_async(&mut conn).await.unwrap();
        for key in keys {
            let name = String::from_utf8_lossy(&key).into_owned();
            if name.contains(id_text) || endpoints.iter().any(|e| name.contains(e)) {
                let ttl: i64 = ::redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
                if ttl < 0 || !name.starts_with("up:rl:") {
                    found.push(format!("key {name} (pttl {ttl})"));
                }
            }
            let kind: String = ::redis::cmd("TYPE").arg(&key).query_async(&mut conn).await.unwrap();
            if kind == "hash" {
                let fields: Vec<Vec<u8>> = ::redis::cmd("HKEYS").arg(&key).query_async(&mut conn).await.unwrap();
                for f in fields.iter().filter(|f| f.starts_with(&raw) || endpoints.iter().any(|e| contains(f, e.as_bytes()))) {
                    found.push(format!("field of {name}: {} bytes, {}", f.len(), URL_SAFE_NO_PAD.encode(f)));
                }
                let values: Vec<Vec<u8>> = ::redis::cmd("HVALS").arg(&key).query_async(&mut conn).await.unwrap();
                for v in values.iter().filter(|v| contains(v, id.as_bytes()) || endpoints.iter().any(|e| contains(v, e.as_bytes()))) {
                    found.push(format!("value in {name}: {}", String::from_utf8_lossy(v)));
                }
            }
        }
        cursor = next;
        if cursor == 0 {
            return found;
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

const DEVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("devices");
const ENDPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("endpoints");
const QUEUE_MSG: TableDefinition<&str, &[u8]> = TableDefinition::new("queue_msg");

/// Every entry of the embedded store's file at `path` that belongs to device `id` or names
/// one of `endpoints`: keys and values of its devices, endpoints and queued messages.
fn embedded_mentions(path: &std::path::Path, id: &str, endpoints: &[&str]) -> Vec<String> {
    let db = redb::Database::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let txn = db.begin_read().unwrap();
    // Every table is one this inspection knows: a new one may hold devices too.
    let known = ["devices", "endpoints", "queue_due", "queue_msg", "queue_born", "queue_born_of", "secrets"];
    for table in txn.list_tables().unwrap() {
        assert!(known.contains(&table.name()), "the embedded store has a table this test does not inspect: {}", table.name());
    }
    let mut found = Vec::new();
    for (name, def) in [("devices", DEVICES), ("endpoints", ENDPOINTS), ("queue_msg", QUEUE_MSG)] {
        let table = txn.open_table(def).unwrap_or_else(|e| panic!("table {name}: {e}"));
        for entry in table.iter().unwrap() {
            let (k, v) = entry.unwrap();
            let (k, v) = (k.value(), v.value());
            let mentions = |s: &str| k.contains(s) || contains(v, s.as_bytes());
            if mentions(id) || endpoints.iter().any(|e| mentions(e)) {
                found.push(format!("{name}: {k}"));
            }
        }
    }
    found
}
