//! Behaviour that unit tests cover, checked over HTTP against the real binary: an `aesgcm`
//! push without its salt or its sender key is refused; Matrix `prio: low` reaches FCM (and
//! a forwarded server) as normal priority; the Matrix forwarder's time limit and cap on
//! forwards in flight against a slow server on loopback; a name that resolves to an inside
//! address is refused before any connection; the registration limit `/v1/info` announces
//! is the one enforced, with a 403 `registration_limit`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use uprelay_tests::fake_http::FakeHttp;
use uprelay_tests::relay::{decode_body, random_body, unique_token, PushResponse, Relay, RelayConfig, StoreKind};

const NOTIFY: &str = "/_matrix/push/v1/notify";

async fn notify(relay: &Relay, pushkeys: &[&str], prio: &str) -> PushResponse {
    let devices: Vec<Value> = pushkeys.iter().map(|k| json!({"app_id": "im.vector.app", "pushkey": k, "pushkey_ts": 1})).collect();
    let body = json!({"notification": {"event_id": "$e", "room_id": "!r:example.org", "prio": prio,
        "counts": {"unread": 1}, "devices": devices}});
    relay.request_raw(Method::POST, NOTIFY, None, Some(serde_json::to_vec(&body).unwrap())).await
}

/// `Content-Encoding: aesgcm` needs `Encryption: salt=…` and `Crypto-Key: dh=…`: the app
/// could never decrypt the body without them. Each missing part is a 400 with its own
/// JSON error; nothing reaches FCM; with both, the push is delivered behind its headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aesgcm_without_salt_or_dh_is_400() {
    let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).no_rate_limits()).await;
    let dev = relay.create_device(&unique_token("aesgcm")).await;
    let endpoint = relay.register(&dev, "app", None).await;
    let (salt, dh) =
        ("salt=c2FsdHNhbHRzYWx0c2FsdA", "dh=BNoRDbb84JGm8g5Z5CFxurSqsXWJ11ItfXEWYVLE85Y7CYkDjXsIEc4aqxYaQ1G8BqkXCJ6DPpDrWtdWj_mugHU");
    let cases: [(&str, Vec<(&str, &str)>, &str); 6] = [
        ("no Encryption", vec![("Crypto-Key", dh)], "bad_encryption"),
        ("Encryption without salt", vec![("Encryption", "rs=4096"), ("Crypto-Key", dh)], "bad_encryption"),
        ("an empty salt", vec![("Encryption", "salt=\"\""), ("Crypto-Key", dh)], "bad_encryption"),
        ("no Crypto-Key", vec![("Encryption", salt)], "bad_crypto_key"),
        ("Crypto-Key without dh", vec![("Encryption", salt), ("Crypto-Key", "p256ecdsa=BAAA")], "bad_crypto_key"),
        ("dh under another name", vec![("Encryption", salt), ("Crypto-Key", "dhx=BAAA")], "bad_crypto_key"),
    ];
    for (what, extra, code) in cases {
        let mut headers = vec![("TTL", "60"), ("Content-Encoding", "aesgcm")];
        headers.extend(extra);
        let r = relay.push(&endpoint, &headers, random_body(100)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {r:?}");
        assert_eq!(r.error_code(), code, "{what}: {r:?}");
        assert!(r.json().1["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {r:?}");
    }
    assert!(relay.messages(&dev.token).await.is_empty(), "a refused aesgcm push reached FCM");
    let body = random_body(100);
    let r = relay
        .push(&endpoint, &[("TTL", "60"), ("Content-Encoding", "aesgcm"), ("Encryption", salt), ("Crypto-Key", dh)], body.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let mut want = format!("aesgcm\nEncryption: {salt}\nCrypto-Key: {dh}\n").into_bytes();
    want.extend(body);
    assert_eq!(decode_body(&relay.messages_with_id(&dev.token, &r.message_id()).await), want);
}

/// `prio: low` is Urgency normal: with `high_priority_from = "high"` it reaches FCM as
/// NORMAL priority (and `prio: high` as HIGH), and a forwarded server gets `Urgency: normal`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_prio_low_is_normal_priority_end_to_end() {
    let other = FakeHttp::start(|_| (201, vec![], String::new())).await;
    let config = RelayConfig::new(StoreKind::Embedded)
        .no_rate_limits()
        .fcm("high_priority_from = \"high\"")
        .tables("[matrix]\nforward = true\nforward_allow = [\"127.0.0.1\"]\n");
    let relay = Relay::start_with(config).await;
    let dev = relay.create_device(&unique_token("prio")).await;
    let endpoint = relay.register(&dev, "element", None).await;
    let foreign = other.url("/up/low");
    for (prio, fcm_priority, n) in [("low", "NORMAL", 1), ("high", "HIGH", 2)] {
        let r = notify(&relay, &[&endpoint, &foreign], prio).await;
        assert_eq!(r.json(), (StatusCode::OK, json!({"rejected": []})), "prio {prio}");
        let got = relay.wait_messages(&dev.token, n).await;
        assert_eq!(got[n - 1]["message"]["android"]["priority"], fcm_priority, "prio {prio}: {got:?}");
    }
    let forwarded: Vec<Option<String>> = other.received().iter().map(|r| r.header("urgency").map(str::to_owned)).collect();
    assert_eq!(forwarded, [Some("normal".to_owned()), Some("high".to_owned())], "Urgency of the forwards");
}

/// A server on loopback that answers 201 to every request after `hold` (or never, for
/// `None`), counting requests and the most it held at once.
struct SlowServer {
    url: String,
    received: Arc<AtomicUsize>,
    most_at_once: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl SlowServer {
    async fn start(hold: Option<Duration>) -> SlowServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/up/slow", listener.local_addr().unwrap().port());
        let (received, most_at_once) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (r, m) = (received.clone(), most_at_once.clone());
        let held = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (r, m, held) = (r.clone(), m.clone(), held.clone());
                tokio::spawn(async move {
                    // The request head is enough to count it: the body is small.
                    let mut buf = vec![0u8; 16384];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    r.fetch_add(1, Ordering::SeqCst);
                    let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    match hold {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending::<()>().await,
                    }
                    held.fetch_sub(1, Ordering::SeqCst);
                    let _ = conn.write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                });
            }
        });
        SlowServer { url, received, most_at_once, task }
    }
}

impl Drop for SlowServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `forward_timeout_ms`: a server that never answers does not hold the notification: the
/// forward gives up (a transient failure: 503 + Retry-After, as every device failed) while
/// the server still holds the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_timeout_ms_cuts_off_a_server_that_never_answers() {
    let slow = SlowServer::start(None).await;
    let config = RelayConfig::new(StoreKind::Embedded)
        .tables("[matrix]\nforward = true\nforward_allow = [\"127.0.0.1\"]\nforward_timeout_ms = 500\n");
    let relay = Relay::start_with(config).await;
    // The relay's own request limit is far beyond the forward's: only the forward's limit
    // can end this notification.
    let r = tokio::time::timeout(Duration::from_secs(60), notify(&relay, &[&slow.url], "high"))
        .await
        .expect("the notification waited for a server that never answers");
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    assert!(r.retry_after() >= 1, "{r:?}");
    assert_eq!(slow.received.load(Ordering::SeqCst), 1, "the forward never reached the slow server");
    let metrics = relay.metrics().await;
    assert!(metrics.contains(r#"uprelay_matrix_devices_total{outcome="transient",route="forwarded"} 1"#), "{metrics}");
}

/// `forward_concurrency = 2`: six pushkeys of one notification on a server that holds each
/// request for a second are forwarded two at a time, and every one arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_concurrency_caps_forwards_in_flight() {
    let slow = SlowServer::start(Some(Duration::from_secs(1))).await;
    let config = RelayConfig::new(StoreKind::Embedded)
        .tables("[matrix]\nforward = true\nforward_allow = [\"127.0.0.1\"]\nforward_concurrency = 2\nforward_timeout_ms = 30000\n");
    let relay = Relay::start_with(config).await;
    let keys: Vec<String> = (0..6).map(|i| format!("{}{i}", slow.url)).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let r = notify(&relay, &refs, "high").await;
    assert_eq!(r.json(), (StatusCode::OK, json!({"rejected": []})), "{r:?}");
    assert_eq!(slow.received.load(Ordering::SeqCst), 6, "every forward arrives");
    assert_eq!(slow.most_at_once.load(Ordering::SeqCst), 2, "forwards in flight at once");
}

/// A host name that resolves to an inside address (`localhost`) is refused by the resolver:
/// the pushkey is rejected and no connection is ever made to the listener behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_inside_is_refused_before_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let task = tokio::spawn(async move {
        while let Ok((_conn, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).tables("[matrix]\nforward = true\n")).await;
    let key = format!("https://localhost:{port}/up/x");
    let r = notify(&relay, &[&key], "high").await;
    assert_eq!(r.json(), (StatusCode::OK, json!({"rejected": [key]})), "{r:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the relay connected to an inside address");
    let metrics = relay.metrics().await;
    assert!(metrics.contains(r#"uprelay_matrix_devices_total{outcome="rejected",route="forwarded"} 1"#), "{metrics}");
    assert!(relay.output().contains("no public address"), "the refusal's reason is logged:\n{}", relay.output());
    task.abort();
}

/// With the default configuration, a device holds the number of endpoints `/v1/info`
/// announces; one more is a 403 `registration_limit` with a JSON error body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_announced_registration_limit_is_a_403() {
    let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).no_rate_limits()).await;
    let (_, info) = relay.api(Method::GET, "/v1/info", None, None).await;
    let limit = info["max_registrations_per_device"].as_u64().unwrap_or_else(|| panic!("no limit in {info}"));
    let dev = relay.create_device(&unique_token("limit")).await;
    for i in 0..limit {
        relay.register(&dev, &format!("app{i}"), None).await;
    }
    let (status, body) = relay.try_register(&dev, "one-too-many", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "registration_limit", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let (_, shown) = relay.show_device(&dev).await;
    assert_eq!(shown["registrations"].as_array().map(Vec::len), Some(limit as usize), "{shown}");
}
