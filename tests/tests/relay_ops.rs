//! Operations: /healthz, /readyz, /metrics; what the logs may (not) contain; a store outage.

#![allow(clippy::type_complexity)] // case tables

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uprelay_tests::per_store;
use uprelay_tests::process::eventually;
use uprelay_tests::redis::RedisServer;
use uprelay_tests::relay::{endpoint_id, run_bounded, unique_token, Relay, RelayConfig, StoreKind, VapidSigner, PROJECT, TEST_LIMIT};

per_store!(
    health_readiness_and_metrics,
    secrets_tokens_and_endpoint_ids_never_appear_in_logs,
    oauth_credentials_never_appear_in_logs,
    devices_keep_their_firebase_project_across_restarts,
);

/// A relay with two Firebase projects sends each device's pushes with its own project,
/// also after a restart: the Redis store keeps projects as numbers in a table every
/// instance shares, and a restarted instance starts with an empty cache of it.
async fn devices_keep_their_firebase_project_across_restarts(store: StoreKind) {
    const SECOND: &str = "second-project";
    let mut relay = Relay::start(store).await;
    let account = relay.emulator.client.new_credentials(SECOND).await;
    let creds = relay.dir.join("second-project.json");
    std::fs::write(&creds, serde_json::to_vec_pretty(&account.json).unwrap()).unwrap();
    let mut toml = std::fs::read_to_string(&relay.config_path).unwrap();
    toml.push_str(&format!("\n[[fcm.projects]]\nname = \"{SECOND}\"\ncredentials = {:?}\n", creds.display().to_string()));
    std::fs::write(&relay.config_path, toml).unwrap();
    relay.restart().await;

    // Devices of the second project first, so it cannot simply be number 1 by luck of order.
    let mut devices = Vec::new();
    for (i, project) in [SECOND, PROJECT, SECOND].into_iter().enumerate() {
        let token = unique_token(&format!("project-{i}"));
        let (status, body) = relay.api(Method::POST, "/v1/devices", None, Some(json!({ "fcm_token": token, "project": project }))).await;
        assert_eq!(status, StatusCode::CREATED, "create a device of {project}: {body}");
        let dev = uprelay_tests::relay::Device {
            id: body["device_id"].as_str().unwrap().to_owned(),
            secret: body["secret"].as_str().unwrap().to_owned(),
            token,
        };
        let endpoint = relay.register(&dev, "app", None).await;
        devices.push((project, dev, endpoint));
    }
    for round in ["before", "after"] {
        for (project, dev, endpoint) in &devices {
            let (_, shown) = relay.show_device(dev).await;
            assert_eq!(shown["project"], *project, "{round} the restart: {shown}");
            let resp = relay.push(endpoint, &[("TTL", "60")], format!("to {project} {round}")).await;
            assert_eq!(resp.status, StatusCode::CREATED, "{round} the restart: {resp:?}");
            let sent = relay.emulator.client.messages(Some(&dev.token)).await;
            let last = sent.last().unwrap_or_else(|| panic!("{round}: nothing reached the emulator for {project}"));
            assert_eq!(last["project"], *project, "{round} the restart, FCM saw: {last}");
        }
        relay.restart().await;
    }
}

/// Sum of the samples of `name` whose label set contains `label` (`""` for all).
fn sample(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn health_readiness_and_metrics(store: StoreKind) {
    let relay = Relay::start(store).await;
    let resp = relay.http.get(relay.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = relay.http.get(relay.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({ "store": "ok", "fcm": "ok" }));

    let dev = relay.create_device(&unique_token("metrics")).await;
    let a = relay.register(&dev, "a", None).await;
    let b = relay.register(&dev, "b", None).await;
    let (status, _) = relay.api(Method::DELETE, &format!("/v1/devices/{}/registrations/b", dev.id), Some(&dev.secret), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for _ in 0..3 {
        assert_eq!(relay.push(&a, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);
    }
    assert_eq!(relay.push(&b, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(relay.push(&a, &[("TTL", "x")], b"x".to_vec()).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(relay.push(&a, &[("TTL", "60")], vec![0u8; 5000]).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    relay.emulator.client.add_fault(json!({ "token": dev.token, "error": "THIRD_PARTY_AUTH_ERROR", "times": 1 })).await;
    assert_eq!(relay.push(&a, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::BAD_GATEWAY);

    let resp = relay.http.get(relay.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain"), "content-type {ct}");
    let m = resp.text().await.unwrap();
    assert_eq!(sample(&m, "uprelay_pushes_total", "outcome=\"delivered\""), 3.0, "{m}");
    assert_eq!(sample(&m, "uprelay_pushes_total", "outcome=\"not_found\""), 1.0, "{m}");
    assert_eq!(sample(&m, "uprelay_pushes_total", "outcome=\"bad_ttl\""), 1.0, "{m}");
    assert_eq!(sample(&m, "uprelay_pushes_total", "outcome=\"too_large\""), 1.0, "{m}");
    assert_eq!(sample(&m, "uprelay_pushes_total", "outcome=\"upstream_error\""), 1.0, "{m}");
    assert_eq!(sample(&m, "uprelay_fcm_requests_total", "result=\"ok\""), 3.0, "{m}");
    assert_eq!(sample(&m, "uprelay_fcm_requests_total", "result=\"third_party_auth_error\""), 1.0, "{m}");
    assert_eq!(sample(&m, "uprelay_registrations_total", "op=\"created\""), 2.0, "{m}");
    assert_eq!(sample(&m, "uprelay_registrations_total", "op=\"deleted\""), 1.0, "{m}");
    // The latency histogram counts every push, refused ones included.
    assert!(m.contains("# TYPE uprelay_push_duration_seconds histogram"), "{m}");
    assert_eq!(sample(&m, "uprelay_push_duration_seconds_count", ""), 7.0, "{m}");
    assert_eq!(sample(&m, "uprelay_push_duration_seconds_bucket", "le=\"+Inf\""), 7.0, "{m}");
    let buckets = m.lines().filter(|l| l.starts_with("uprelay_push_duration_seconds_bucket{")).count();
    assert!(buckets >= 5, "{m}");
}

/// With RUST_LOG=debug, through every code path that logs (success, refusals, VAPID, FCM
/// errors, dead token, queue, rotation, deletion), no device secret, FCM token, endpoint id
/// or VAPID JWT appears whole in the relay's output.
async fn secrets_tokens_and_endpoint_ids_never_appear_in_logs(store: StoreKind) {
    let relay = Relay::start_with(
        RelayConfig::new(store).env("RUST_LOG", "debug").fcm_timeout_ms(700).queue("poll_ms = 50").queue("initial_backoff_ms = 100"),
    )
    .await;
    let mut secrets = Vec::new();
    let mut ids = Vec::new();
    let signer = VapidSigner::new();

    let dev = relay.create_device(&unique_token("log-a")).await;
    let dying = relay.create_device(&unique_token("log-dying")).await;
    secrets.extend([("secret", dev.secret.clone()), ("secret", dying.secret.clone())]);
    secrets.extend([("FCM token", dev.token.clone()), ("FCM token", dying.token.clone())]);
    let plain = relay.register(&dev, "plain", None).await;
    let restricted = relay.register(&dev, "restricted", Some(&signer.public_b64())).await;
    let dying_endpoint = relay.register(&dying, "app", None).await;
    for e in [&plain, &restricted, &dying_endpoint] {
        ids.push(("endpoint id", endpoint_id(e).to_owned()));
    }

    let jwt = signer.jwt(&relay.base_url, uprelay_tests::relay::unix_now() + 3600);
    let bad_jwt = signer.jwt("https://elsewhere.example", uprelay_tests::relay::unix_now() + 3600);
    secrets.extend([("VAPID JWT", jwt.clone()), ("VAPID JWT", bad_jwt.clone())]);
    let pushes: Vec<(&str, Vec<(&str, String)>, Vec<u8>)> = vec![
        (&plain, vec![("TTL", "60".into())], b"ok".to_vec()),
        (&plain, vec![("TTL", "nope".into())], b"x".to_vec()),
        (&plain, vec![("TTL", "60".into())], vec![1u8; 5000]),
        (&restricted, vec![("TTL", "60".into()), ("Authorization", signer.authorization(&jwt))], b"signed".to_vec()),
        (&restricted, vec![("TTL", "60".into()), ("Authorization", signer.authorization(&bad_jwt))], b"x".to_vec()),
        (&restricted, vec![("TTL", "60".into())], b"x".to_vec()),
    ];
    for (endpoint, headers, body) in &pushes {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        relay.push(endpoint, &h, body.clone()).await;
    }
    // Unknown endpoint of the right shape.
    let mut unknown = endpoint_id(&plain).to_owned();
    let c = unknown.pop().unwrap();
    unknown.push(if c == 'A' { 'B' } else { 'A' });
    ids.push(("endpoint id", unknown.clone()));
    relay.push(&relay.url(&format!("/up/{unknown}")), &[("TTL", "60")], b"x".to_vec()).await;
    relay.http.get(&plain).send().await.unwrap();
    // FCM errors of every class.
    for code in ["QUOTA_EXCEEDED", "THIRD_PARTY_AUTH_ERROR", "UNAVAILABLE", "INTERNAL"] {
        relay.emulator.client.add_fault(json!({ "token": dev.token, "error": code, "times": 1 })).await;
        relay.push(&restricted, &[("TTL", "60"), ("Authorization", &signer.authorization(&jwt))], b"x".to_vec()).await;
    }
    relay.emulator.client.add_fault(json!({ "token": dev.token, "delay_ms": 1500, "times": 1 })).await;
    relay.push(&plain, &[("TTL", "60")], b"slow".to_vec()).await;
    relay.emulator.client.add_fault(json!({ "token": dying.token, "error": "UNREGISTERED" })).await;
    assert_eq!(relay.push(&dying_endpoint, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::GONE);
    relay.push(&dying_endpoint, &[("TTL", "60")], b"x".to_vec()).await;
    // Distributor API: bad secrets, rotation, deletions.
    relay.api(Method::GET, &format!("/v1/devices/{}", dev.id), Some("wrong"), None).await;
    let rotated = unique_token("log-rotated");
    secrets.push(("FCM token", rotated.clone()));
    let (status, _) =
        relay.api(Method::PUT, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), Some(json!({ "fcm_token": rotated }))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    relay.api(Method::PUT, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), Some(json!({ "fcm_token": "bad token" }))).await;
    relay.push(&plain, &[("TTL", "60")], b"after rotation".to_vec()).await;
    relay.api(Method::DELETE, &format!("/v1/devices/{}/registrations/plain", dev.id), Some(&dev.secret), None).await;
    relay.api(Method::DELETE, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), None).await;
    // Let the retry worker have its say.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let out = relay.output();
    assert!(out.contains("DEBUG"), "RUST_LOG=debug produced no debug lines:\n{out}");
    let mut leaks = Vec::new();
    for (what, value) in secrets.iter().chain(ids.iter()) {
        if let Some(line) = out.lines().find(|l| l.contains(value.as_str())) {
            leaks.push(format!("{what} {value} appears in: {line}"));
        }
    }
    assert!(leaks.is_empty(), "logged whole:\n{}", leaks.join("\n"));
}

/// The OAuth access tokens the relay gets for FCM, and the signed assertions it trades for
/// them, are bearer credentials too: not in the logs, even at debug level.
async fn oauth_credentials_never_appear_in_logs(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).env("RUST_LOG", "debug")).await;
    let dev = relay.create_device(&unique_token("oauth")).await;
    let endpoint = relay.register(&dev, "app", None).await;
    assert_eq!(relay.push(&endpoint, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);
    // Force a token refresh too.
    relay.emulator.client.revoke_tokens().await;
    assert_eq!(relay.push(&endpoint, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);
    let out = relay.output();
    let mut leaks = Vec::new();
    for line in out.lines() {
        // Emulator access tokens look like Google's: "ya29." + opaque text.
        if let Some(i) = line.find("ya29.") {
            let token: String = line[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
            if token.len() > 20 {
                leaks.push(format!("access token {token}…"));
            }
        }
        if line.contains("assertion=eyJ") {
            leaks.push("signed service-account assertion (assertion=eyJ…)".to_owned());
        }
    }
    leaks.dedup();
    assert!(leaks.is_empty(), "OAuth credentials in the relay's log output at RUST_LOG=debug:\n{}", leaks.join("\n"));
}

/// Redis goes away: pushes and API calls answer 503 + Retry-After (never a 4xx, which
/// senders would take as "subscription gone"), and /readyz reports the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_is_503_with_retry_after_never_4xx() {
    run_bounded("store_outage_is_503_with_retry_after_never_4xx", TEST_LIMIT, async {
        let mut relay = Relay::start_with(RelayConfig::new(StoreKind::Redis).private_store()).await;
        let dev = relay.create_device(&unique_token("outage")).await;
        let endpoint = relay.register(&dev, "app", None).await;
        assert_eq!(relay.push(&endpoint, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);

        relay.redis.as_mut().unwrap().kill();
        let started = std::time::Instant::now();
        let r = relay.push(&endpoint, &[("TTL", "60")], b"x".to_vec()).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "push during a store outage: {r:?}");
        assert!(r.retry_after() >= 1, "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(12), "push took {:?} during the outage", started.elapsed());
        let (status, body) = relay.show_device(&dev).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "device API during a store outage: {body}");
        let (status, body) = relay.api(Method::POST, "/v1/devices", None, Some(json!({ "fcm_token": unique_token("o") }))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "device creation during a store outage: {body}");
        let resp = relay.http.get(relay.url("/readyz")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = resp.json().await.unwrap();
        // Which dependency is down, not its error text (that goes to the log).
        assert_eq!(body, json!({ "store": "down", "fcm": "ok" }), "{body}");
        let logged = eventually(Duration::from_secs(3), || async { relay.output().contains("not ready") }).await;
        assert!(logged, "the store's error was not logged:\n{}", relay.output());
        assert_eq!(relay.http.get(relay.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    })
    .await;
}

/// On a stock Redis (hash-max-listpack-value 64) the relay says once at start how to keep
/// device buckets compact; with the recommended value it says nothing. The advice is
/// right: the same bucket takes less memory under the recommended value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_encoding_advice_follows_the_servers_setting() {
    run_bounded("redis_encoding_advice_follows_the_servers_setting", TEST_LIMIT, async {
        let mut relay = Relay::start_with(RelayConfig::new(StoreKind::Redis).private_store()).await;
        let url = relay.config.store_urls[0].clone();
        assert!(relay.output().contains("hash-max-listpack-value"), "no advice on a stock Redis:\n{}", relay.output());
        let dev = relay.create_device(&unique_token("encoding")).await;
        relay.register(&dev, "app", None).await;

        let mut conn = ::redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let key = bucket_key(&dev.id);
        let usage = |conn: &mut ::redis::aio::MultiplexedConnection| {
            let mut conn = conn.clone();
            let key = key.clone();
            async move {
                let bytes: u64 = ::redis::cmd("MEMORY").arg("USAGE").arg(&key).query_async(&mut conn).await.unwrap();
                let encoding: String = ::redis::cmd("OBJECT").arg("ENCODING").arg(&key).query_async(&mut conn).await.unwrap();
                (bytes, encoding)
            }
        };
        let (stock_bytes, stock_encoding) = usage(&mut conn).await;
        let _: () = ::redis::cmd("CONFIG").arg("SET").arg("hash-max-listpack-value").arg("192").query_async(&mut conn).await.unwrap();
        relay.restart().await;
        assert!(!relay.output().contains("hash-max-listpack-value"), "advice despite the recommended value:\n{}", relay.output());
        let dev2 = relay.create_device(&unique_token("encoding2")).await;
        relay.register(&dev2, "app", None).await;
        let key2 = bucket_key(&dev2.id);
        let bytes2: u64 = ::redis::cmd("MEMORY").arg("USAGE").arg(&key2).query_async(&mut conn).await.unwrap();
        let encoding2: String = ::redis::cmd("OBJECT").arg("ENCODING").arg(&key2).query_async(&mut conn).await.unwrap();
        assert_eq!((stock_encoding.as_str(), encoding2.as_str()), ("hashtable", "listpack"));
        assert!(bytes2 < stock_bytes, "recommended {bytes2} B is not below stock {stock_bytes} B");
        eprintln!(
            "bucket with one device and registration: stock {stock_bytes} B ({stock_encoding}), recommended {bytes2} B ({encoding2})"
        );
    })
    .await;
}

/// The Redis bucket of a device: its id's first two bytes in hex (see the store's layout).
fn bucket_key(device_id: &str) -> String {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(device_id).expect("device ids are base64url");
    format!("up:b:{{{:02x}{:02x}}}", raw[0], raw[1])
}

/// Every instance seals endpoint ids with the key the first one stored in Redis. A value
/// there that is not 32 bytes is not uprelay's: the relay refuses to start (exit 1, one
/// line naming the key) instead of overwriting it or minting endpoints nobody can open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_sealing_key_in_redis_stops_the_start() {
    run_bounded("a_foreign_sealing_key_in_redis_stops_the_start", TEST_LIMIT, async {
        let redis = RedisServer::private().await;
        let mut conn = ::redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let _: () = ::redis::cmd("SET").arg("up:sealing-key").arg("not thirty-two bytes").query_async(&mut conn).await.unwrap();
        let dir = uprelay_tests::TempDir::new("uprelay-sealing");
        let config = dir.join("uprelay.toml");
        std::fs::write(&config, format!("listen = \"127.0.0.1:0\"\n[store]\nredis_url = {:?}\n", redis.url())).unwrap();
        let mut cmd = std::process::Command::new(uprelay_tests::bin_path("uprelay"));
        cmd.arg("serve").arg("--config").arg(&config).env_remove("RUST_LOG");
        let mut child = uprelay_tests::ChildGuard::spawn("uprelay-serve", cmd);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.child_try_wait().unwrap() {
                break status;
            }
            assert!(std::time::Instant::now() < deadline, "uprelay kept running:\n{}", child.output());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(status.code(), Some(1), "{}", child.output());
        assert!(child.output().contains("up:sealing-key"), "the error does not name the key:\n{}", child.output());
        let kept: String = ::redis::cmd("GET").arg("up:sealing-key").query_async(&mut conn).await.unwrap();
        assert_eq!(kept, "not thirty-two bytes", "the foreign value was overwritten");
    })
    .await;
}

/// uprelay runs without transparent huge pages: with them, thousands of sender connections
/// each touching a little of many 2 MiB pages kept ~30 % more memory resident
/// (docs/benchmark.md). The kernel shows the process' flag in `/proc/<pid>/status`.
#[tokio::test]
async fn the_relay_runs_without_transparent_huge_pages() {
    let relay = Relay::start(StoreKind::Embedded).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", relay.pid())).unwrap();
    let flag = status.lines().find_map(|l| l.strip_prefix("THP_enabled:")).unwrap_or_else(|| panic!("no THP_enabled line:\n{status}"));
    assert_eq!(flag.trim(), "0", "uprelay left transparent huge pages on");
}
