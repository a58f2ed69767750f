//! A real application server: pywebpush (PyPI) encrypts with aes128gcm (RFC 8291) for a
//! subscription and signs VAPID (RFC 8292) with the key the endpoint is restricted to; what
//! reaches the emulator is decrypted with http_ece and must be the original plaintext.
//! Scripts: tests/python/webpush_keys.py, webpush_send.py, webpush_decrypt.py.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use uprelay_tests::per_store;
use uprelay_tests::relay::{decode_body, random_body, run_python, unique_token, Relay, StoreKind};

per_store!(
    pywebpush_aes128gcm_with_vapid_round_trips,
    pywebpush_with_a_wrong_vapid_key_gets_403,
    pywebpush_legacy_webpush_vapid_is_accepted
);

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Subscription {
    keys: Value,
    pem_file: std::path::PathBuf,
}

fn new_keys(relay: &Relay, name: &str) -> Subscription {
    let keys = run_python("webpush_keys.py", &[]);
    let pem_file = relay.dir.join(&format!("{name}-vapid.pem"));
    std::fs::write(&pem_file, keys["vapid_private_pem"].as_str().unwrap()).unwrap();
    assert_eq!(keys["vapid_public"].as_str().unwrap().len(), 87, "{keys}");
    Subscription { keys, pem_file }
}

/// `--name=value` everywhere: base64url values may start with `-`, which argparse would
/// otherwise take for an option.
fn send(endpoint: &str, sub: &Subscription, sender: &Subscription, message: &[u8], extra: &[&str]) -> Value {
    let mut args = vec![
        format!("--endpoint={endpoint}"),
        format!("--p256dh={}", sub.keys["p256dh"].as_str().unwrap()),
        format!("--auth={}", sub.keys["auth"].as_str().unwrap()),
        format!("--vapid-pem-file={}", sender.pem_file.display()),
        format!("--message-hex={}", hex(message)),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_python("webpush_send.py", &args)
}

fn decrypt(sub: &Subscription, body: &[u8]) -> Vec<u8> {
    decrypt_as(sub, body, "aes128gcm").0
}

/// The plaintext, and the decrypter's whole answer (for aesgcm: the header lines it read).
fn decrypt_as(sub: &Subscription, body: &[u8], encoding: &str) -> (Vec<u8>, Value) {
    let args = [
        format!("--ua-private={}", sub.keys["ua_private"].as_str().unwrap()),
        format!("--auth={}", sub.keys["auth"].as_str().unwrap()),
        format!("--body-b64={}", STANDARD.encode(body)),
        format!("--encoding={encoding}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_python("webpush_decrypt.py", &args);
    let h = out["plaintext_hex"].as_str().unwrap();
    ((0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect(), out)
}

async fn pywebpush_aes128gcm_with_vapid_round_trips(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("pywebpush")).await;
    let sub = new_keys(&relay, "app");
    let endpoint = relay.register(&dev, "org.example.messenger", Some(sub.keys["vapid_public"].as_str().unwrap())).await;

    // A short text and the largest plaintext that fits a 4096-byte aes128gcm body
    // (4096 − 86 header − 16 tag − 1 delimiter = 3993), which the relay must split in two.
    let cases: Vec<(Vec<u8>, usize)> =
        vec![(b"{\"title\":\"Hello from pywebpush\",\"body\":\"\xc3\xa9t\xc3\xa9 \xe2\x9c\x93\"}".to_vec(), 1), (random_body(3993), 2)];
    for (plaintext, parts) in cases {
        let answer = send(&endpoint, &sub, &sub, &plaintext, &["--ttl=3600"]);
        assert_eq!(answer["status"], 201, "pywebpush send of {} bytes: {answer}", plaintext.len());
        assert_eq!(answer["ttl"], "3600", "{answer}");
        let location = answer["location"].as_str().expect("Location");
        let m = location.rsplit('/').next().unwrap();
        let msgs = relay.messages_with_id(&dev.token, m).await;
        assert_eq!(msgs.len(), parts, "{} bytes of plaintext: {msgs:?}", plaintext.len());
        assert_eq!(msgs[0]["message"]["data"]["i"], "org.example.messenger");
        let body = decode_body(&msgs);
        let expected_len = 86 + plaintext.len() + 1 + 16;
        assert_eq!(body.len(), expected_len, "aes128gcm body length");
        assert_eq!(decrypt(&sub, &body), plaintext, "decrypted push differs from what pywebpush sent");
    }
    // Nothing of the VAPID credentials made it into the data map: only the relay's own keys,
    // and no value but the body holds a JWT or a key. The body is the ciphertext, decrypted
    // to exactly the plaintext above; as random base64 it may contain "eyJ" by chance
    // (about one run in fifty did), so it is not searched.
    for msg in relay.messages(&dev.token).await {
        let data = msg["message"]["data"].as_object().expect("a data map");
        for (key, value) in data {
            assert!(["i", "b", "m", "s"].contains(&key.as_str()), "unexpected data key {key:?}: {data:?}");
            let value = value.as_str().unwrap_or_default();
            if key != "b" {
                assert!(!value.contains("vapid") && !value.contains("eyJ"), "credentials forwarded to the device as {key:?}: {value}");
            }
        }
    }
}

async fn pywebpush_with_a_wrong_vapid_key_gets_403(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("wrongkey")).await;
    let sub = new_keys(&relay, "app");
    let intruder = new_keys(&relay, "intruder");
    let endpoint = relay.register(&dev, "app", Some(sub.keys["vapid_public"].as_str().unwrap())).await;

    let answer = send(&endpoint, &sub, &intruder, b"not from the app server", &[]);
    assert_eq!(answer["status"], 403, "VAPID key other than the registered one: {answer}");
    let legacy = send(&endpoint, &sub, &intruder, b"not from the app server", &["--legacy", "--encoding=aesgcm"]);
    assert_eq!(legacy["status"], 403, "legacy form with another key: {legacy}");
    // The right key but a JWT for another origin.
    let wrong_aud = send(&endpoint, &sub, &sub, b"x", &["--aud=https://push.example.org"]);
    assert_eq!(wrong_aud["status"], 403, "aud of another push service: {wrong_aud}");
    assert!(relay.messages(&dev.token).await.is_empty(), "a refused push reached FCM");
    // The right key still works.
    let ok = send(&endpoint, &sub, &sub, b"from the app server", &[]);
    assert_eq!(ok["status"], 201, "{ok}");
}

/// pywebpush's legacy mode (aesgcm + `Authorization: WebPush <jwt>` + `Crypto-Key:
/// dh=…;p256ecdsa=…` + `Encryption: salt=…`), as Mastodon before 4.4 sends it: the phone
/// gets the body behind its Encryption and Crypto-Key lines and decrypts it with them; the
/// VAPID key and JWT stay with the relay.
async fn pywebpush_legacy_webpush_vapid_is_accepted(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("legacy")).await;
    let sub = new_keys(&relay, "app");
    let endpoint = relay.register(&dev, "app", Some(sub.keys["vapid_public"].as_str().unwrap())).await;
    let answer = send(&endpoint, &sub, &sub, b"legacy", &["--legacy", "--encoding=aesgcm"]);
    assert_eq!(answer["status"], 201, "{answer}");
    let m = answer["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let msgs = relay.messages_with_id(&dev.token, &m).await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let delivered = decode_body(&msgs);
    let (plaintext, lines) = decrypt_as(&sub, &delivered, "aesgcm");
    assert_eq!(plaintext, b"legacy");
    assert!(lines["encryption"].as_str().unwrap().starts_with("salt="), "{lines}");
    assert!(lines["crypto_key"].as_str().unwrap().starts_with("dh="), "{lines}");
    // Nothing of the sender's VAPID credentials reaches FCM: no p256ecdsa, no JWT (which
    // starts "eyJ") in the header lines or in any other data value.
    let header_end = delivered.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(2).unwrap().0;
    let header = String::from_utf8(delivered[..header_end].to_vec()).unwrap();
    assert!(!header.contains("p256ecdsa") && !header.contains("eyJ"), "{header}");
    let data = msgs[0]["message"]["data"].as_object().unwrap();
    for (k, v) in data.iter().filter(|(k, _)| k.as_str() != "b") {
        assert!(!v.as_str().unwrap_or_default().contains("eyJ"), "data.{k} = {v}");
    }
    // A long aesgcm body (4096 bytes as sent) still arrives whole: the prefixed result is split.
    let big = random_body(4096 - 2 - 16);
    let answer = send(&endpoint, &sub, &sub, &big, &["--legacy", "--encoding=aesgcm"]);
    assert_eq!(answer["status"], 201, "{answer}");
    let m = answer["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let msgs = relay.messages_with_id(&dev.token, &m).await;
    assert_eq!(msgs.len(), 2, "a 4096-byte aesgcm body plus its header lines is split: {msgs:?}");
    assert_eq!(decrypt_as(&sub, &decode_body(&msgs), "aesgcm").0, big);
}
