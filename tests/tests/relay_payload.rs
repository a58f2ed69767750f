//! Bodies reach the phone byte for byte: random bodies (every byte value) of 1, 3000 and
//! 4096 bytes arrive at the emulator as data maps that decode back exactly; bodies whose data
//! map exceeds FCM's 4096-byte limit arrive as exactly two self-contained halves.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;
use uprelay_tests::per_store;
use uprelay_tests::relay::{decode_body, random_body, unique_token, Relay, RelayConfig, StoreKind};

per_store!(bodies_of_1_3000_4096_bytes_decode_exactly, split_boundary_and_long_instance);

/// Keys + values of a data map, as FCM counts its 4096-byte limit.
fn data_bytes(msg: &Value) -> usize {
    msg["message"]["data"].as_object().unwrap().iter().map(|(k, v)| k.len() + v.as_str().unwrap().len()).sum()
}

fn check_split(halves: &[Value], m: &str, instance: &str) {
    assert_eq!(halves.len(), 2, "{halves:?}");
    let mut labels: Vec<&str> = halves.iter().map(|h| h["message"]["data"]["s"].as_str().unwrap()).collect();
    labels.sort();
    assert_eq!(labels, ["1", "2"]);
    for h in halves {
        let data = &h["message"]["data"];
        assert_eq!(data["m"], m, "both halves carry the message id");
        assert_eq!(data["i"], instance);
        let b = data["b"].as_str().unwrap();
        assert_eq!(b.len() % 4, 0, "half is not whole base64 quanta: {} chars", b.len());
        STANDARD.decode(b).unwrap_or_else(|e| panic!("half s={} does not decode on its own: {e}", data["s"]));
        assert!(data_bytes(h) <= 4096, "half over FCM's data limit: {}", data_bytes(h));
        assert_eq!(data.as_object().unwrap().len(), 4, "keys of a half: {data}");
    }
}

async fn bodies_of_1_3000_4096_bytes_decode_exactly(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("payload")).await;
    let endpoint = relay.register(&dev, "im.example.app", None).await;
    for (len, parts) in [(1usize, 1usize), (3000, 1), (4096, 2)] {
        for round in 0..3 {
            let body = random_body(len);
            let r = relay.push(&endpoint, &[("TTL", "300")], body.clone()).await;
            assert_eq!(r.status, StatusCode::CREATED, "{len} bytes: {r:?}");
            let m = r.message_id();
            let got = relay.messages_with_id(&dev.token, &m).await;
            assert_eq!(got.len(), parts, "{len} bytes, round {round}: expected {parts} FCM message(s): {got:?}");
            assert_eq!(decode_body(&got), body, "{len} bytes, round {round}: body changed on the way");
            if parts == 1 {
                let data = &got[0]["message"]["data"];
                assert!(data.get("s").is_none(), "unsplit message has s: {data}");
                assert_eq!(data["b"].as_str().unwrap(), STANDARD.encode(&body), "b must be standard padded base64");
                assert!(data_bytes(&got[0]) <= 4096);
            } else {
                check_split(&got, &m, "im.example.app");
            }
        }
    }
    // Every byte value arrived somewhere (random_body guarantees it for ≥ 256 bytes).
    let total = relay.messages(&dev.token).await.len();
    assert_eq!(total, 3 + 3 + 6);
}

/// Around the split threshold, and with the longest instance name: every size decodes back,
/// single messages are never over FCM's limit, and splits are always exactly two halves.
async fn split_boundary_and_long_instance(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).no_rate_limits()).await;
    let dev = relay.create_device(&unique_token("boundary")).await;
    let long_instance = "x".repeat(128);
    let short = relay.register(&dev, "a", None).await;
    let long = relay.register(&dev, &long_instance, None).await;
    for (endpoint, instance) in [(&short, "a"), (&long, long_instance.as_str())] {
        for len in [2, 3, 4, 2900, 2950, 2990, 3000, 3010, 3020, 3030, 3040, 3050, 3060, 4000, 4094, 4095, 4096] {
            let body = random_body(len);
            let r = relay.push(endpoint, &[("TTL", "60"), ("Topic", "boundary")], body.clone()).await;
            assert_eq!(r.status, StatusCode::CREATED, "{len} bytes to instance of {} chars: {r:?}", instance.len());
            let m = r.message_id();
            let got = relay.messages_with_id(&dev.token, &m).await;
            assert_eq!(decode_body(&got), body, "{len} bytes, instance of {} chars", instance.len());
            match got.len() {
                1 => {
                    assert!(data_bytes(&got[0]) <= 4096);
                    assert_eq!(got[0]["message"]["android"]["collapse_key"], "boundary");
                }
                2 => {
                    check_split(&got, &m, instance);
                    // Split only when one message would not fit (data map over 4096 bytes by FCM's count).
                    let whole = instance.len() + 1 + m.len() + 1 + 1 + STANDARD.encode(&body).len() + 1;
                    assert!(whole > 4096 - 64, "{len} bytes split although the whole data map is {whole} bytes");
                }
                n => panic!("{len} bytes became {n} FCM messages"),
            }
        }
    }
}
