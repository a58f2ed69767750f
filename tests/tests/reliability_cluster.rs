//! A 3-node Redis Cluster started by the test (three `redis-server --cluster-enabled yes`,
//! joined with `redis-cli --cluster create`): the end-to-end paths of the relay work
//! against it — device creation, registration (idempotent, VAPID-restricted), pushes
//! (single and split 4096-byte bodies), token rotation, registration and device deletion,
//! dead token → 410, retry queue after UNAVAILABLE, the per-endpoint rate limiter (a
//! two-key script) — and the keys really are spread over the nodes.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use uprelay_tests::eventually;
use uprelay_tests::redis::RedisCluster;
use uprelay_tests::relay::{decode_body, random_body, run_bounded, unique_token, Relay, RelayConfig, StoreKind, VapidSigner, CHAOS_LIMIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_end_to_end() {
    run_bounded("redis_cluster_end_to_end", CHAOS_LIMIT, cluster_end_to_end()).await
}

async fn cluster_end_to_end() {
    let started = Instant::now();
    let mut cluster = RedisCluster::start().await;
    eprintln!("cluster of {:?} ready in {:.1} s", cluster.ports, started.elapsed().as_secs_f64());
    let config = RelayConfig::new(StoreKind::Cluster)
        .store_urls(cluster.urls())
        .named("cluster")
        .fast_queue()
        // One push back per 100 s: no machine is slow enough for the 6th quick push to pass.
        .limit("push_rate_per_second = 0.01")
        .limit("push_burst = 5")
        .limit("device_create_burst = 50");
    let node = Relay::start_with(config).await;
    let e = &node.emulator;

    let (status, ready) = node.api(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK, "readyz against the cluster: {ready}");

    // Devices and registrations (enough keys that every node gets some).
    let dev = node.create_device(&unique_token("cl")).await;
    let ep = node.register(&dev, "app", None).await;
    let (status, again) = node
        .api(Method::POST, &format!("/v1/devices/{}/registrations", dev.id), Some(&dev.secret), Some(json!({ "instance": "app" })))
        .await;
    assert_eq!(status, StatusCode::OK, "same instance again must be 200: {again}");
    assert!(again["endpoint"].as_str().unwrap().ends_with(&ep));
    let mut others = Vec::new();
    // A device is one hash in one slot: 30 of them leave a node empty with p ≈ 3 × (2/3)^30.
    for i in 0..30 {
        let d = node.create_device(&unique_token(&format!("clx{i}"))).await;
        let a = node.register(&d, "a", None).await;
        let b = node.register(&d, "b", None).await;
        others.push((d, a, b));
    }
    let (status, shown) = node.api(Method::GET, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["registrations"].as_array().map(|a| a.len()), Some(1), "{shown}");

    // Single push.
    let r = node.push(&ep, &[("TTL", "60")], b"hello cluster".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let got = node.messages_with_id(&dev.token, &r.message_id()).await;
    assert_eq!(decode_body(&got), b"hello cluster");

    // Split 4096-byte push.
    let big = random_body(4096);
    let r = node.push(&ep, &[("TTL", "60"), ("Content-Encoding", "aes128gcm")], big.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let got = node.messages_with_id(&dev.token, &r.message_id()).await;
    assert_eq!(got.len(), 2, "a 4096-byte body is split in two FCM messages: {got:?}");
    assert_eq!(decode_body(&got), big);

    // VAPID-restricted endpoint.
    let signer = VapidSigner::new();
    let (status, body) = node
        .api(
            Method::POST,
            &format!("/v1/devices/{}/registrations", dev.id),
            Some(&dev.secret),
            Some(json!({ "instance": "signed", "vapid": signer.public_b64() })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let signed_ep = body["endpoint"].as_str().unwrap().to_owned();
    assert_eq!(node.push(&signed_ep, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::UNAUTHORIZED);
    let auth = signer.valid_authorization(&node.base_url);
    let r = node.push(&signed_ep, &[("TTL", "60"), ("Authorization", &auth)], b"signed".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");

    // Token rotation: the endpoints stay, messages go to the new token.
    let rotated = unique_token("cl-rotated");
    let (status, body) =
        node.api(Method::PUT, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), Some(json!({ "fcm_token": rotated }))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let r = node.push(&ep, &[("TTL", "60")], b"after rotation".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(decode_body(&node.messages_with_id(&rotated, &r.message_id()).await), b"after rotation");
    let r = node.push(&signed_ep, &[("TTL", "60"), ("Authorization", &auth)], b"signed rotated".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(decode_body(&node.messages_with_id(&rotated, &r.message_id()).await), b"signed rotated");

    // Registration delete.
    let (status, _) = node.api(Method::DELETE, &format!("/v1/devices/{}/registrations/signed", dev.id), Some(&dev.secret), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let r = node.push(&signed_ep, &[("TTL", "60"), ("Authorization", &auth)], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "deleted registration: {r:?}");

    // Dead token → 410, the device and all its endpoints are gone.
    let (dead, dead_a, dead_b) = &others[0];
    e.add_fault(json!({ "token": dead.token, "error": "UNREGISTERED" })).await;
    let r = node.push(dead_a, &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::GONE, "{r:?}");
    assert_eq!(node.push(dead_b, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::NOT_FOUND);
    let (status, _) = node.api(Method::GET, &format!("/v1/devices/{}", dead.id), Some(&dead.secret), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a dead token's device must be deleted");

    // Retry queue: FCM fails twice for this token, the push is 201 and arrives later.
    let (flaky, flaky_a, _) = &others[1];
    e.add_fault(json!({ "token": flaky.token, "error": "UNAVAILABLE", "times": 2 })).await;
    let r = node.push(flaky_a, &[("TTL", "60")], b"queued in the cluster".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let m = r.message_id();
    let arrived = eventually(Duration::from_secs(15), || async { !node.messages_with_id(&flaky.token, &m).await.is_empty() }).await;
    assert!(arrived, "queued message not delivered through the cluster within 15 s\n{}", node.output());
    assert_eq!(decode_body(&node.messages_with_id(&flaky.token, &m).await), b"queued in the cluster");
    let empty = eventually(Duration::from_secs(5), || async { cluster.cli(&["hlen", "{up:q}:msg"]).await == "0" }).await;
    assert!(empty, "retry queue not empty in the cluster");
    node.wait_idle().await;
    assert_eq!(node.messages_with_id(&flaky.token, &m).await.len(), 1, "queued message delivered twice");

    // Per-endpoint limiter (route + limiter keys in one slot, one script): burst 5, then 429.
    let (_, limited, _) = &others[2];
    let mut statuses = Vec::new();
    let mut last = None;
    for i in 0..6 {
        let r = node.push(limited, &[("TTL", "60")], format!("rl{i}").into_bytes()).await;
        statuses.push(r.status.as_u16());
        last = Some(r);
    }
    assert_eq!(statuses, [201, 201, 201, 201, 201, 429], "burst of 5, then the limit");
    let last = last.unwrap();
    assert!((60..=100).contains(&last.retry_after()), "Retry-After of a 0.01/s limit after its burst: {last:?}");
    assert_eq!(last.error_code(), "throttled", "{last:?}");

    // Device delete.
    let (d, a, b) = &others[3];
    let (status, _) = node.api(Method::DELETE, &format!("/v1/devices/{}", d.id), Some(&d.secret), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for ep in [a, b] {
        assert_eq!(node.push(ep, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::NOT_FOUND);
    }

    // The data is sharded: every node holds keys.
    let sizes = cluster.dbsizes().await;
    eprintln!("keys per cluster node: {sizes:?}");
    assert!(sizes.iter().all(|n| *n > 0), "keys not spread over the 3 nodes: {sizes:?}");
    cluster.assert_running();
}
