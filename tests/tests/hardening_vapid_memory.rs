//! One sender must not grow the relay's memory through the verified-VAPID-JWT cache:
//! - 6,000 pushes to the sender's own VAPID-restricted endpoint, each with a unique,
//!   validly signed 13.5 KB JWT, default limits:
//!   each is refused (403, too long to be a VAPID JWT) and the relay's resident memory
//!   grows by less than 16 MiB and stays under 64 MiB (remembering them would take 80 MB);
//! - 300 pushes with unique real-sized JWTs to an endpoint whose limit admits 60: the
//!   cache remembers exactly the 60 admitted ones (`uprelay_vapid_cache_entries`).

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use uprelay_tests::relay::{
    random_body, random_hex, run_bounded, unique_token, unix_now, Relay, RelayConfig, StoreKind, VapidSigner, TEST_LIMIT,
};

/// Resident memory of process `pid`, bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap();
    kib * 1024
}

/// `n` pushes to `endpoint`, each with its own JWT whose `sub` is padded to `sub_len`;
/// how many got each status.
async fn pushes_with_unique_jwts(
    relay: &Relay,
    signer: &VapidSigner,
    endpoint: &str,
    n: usize,
    sub_len: usize,
) -> std::collections::BTreeMap<u16, usize> {
    let exp = unix_now() + 3600;
    let statuses = futures::stream::iter(0..n)
        .map(|_| {
            let sub = format!("mailto:{}@example.org", random_hex(sub_len / 2));
            let jwt = signer.jwt_with(&json!({"typ": "JWT", "alg": "ES256"}), &json!({"aud": relay.base_url, "exp": exp, "sub": sub}));
            let authorization = signer.authorization(&jwt);
            async move { relay.push(endpoint, &[("ttl", "60"), ("authorization", &authorization)], random_body(100)).await.status.as_u16() }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let mut counts = std::collections::BTreeMap::new();
    for s in statuses {
        *counts.entry(s).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_unique_jwts_do_not_grow_memory() {
    run_bounded("huge_unique_jwts_do_not_grow_memory", TEST_LIMIT, async {
        let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded)).await;
        let signer = VapidSigner::new();
        let device = relay.create_device(&unique_token("jwtmem")).await;
        let endpoint = relay.register(&device, "app", Some(&signer.public_b64())).await;
        // Warm up: the allocator's arenas, the connection pool, the limiter.
        let warm = pushes_with_unique_jwts(&relay, &signer, &endpoint, 200, 10_000).await;
        let before = rss(relay.pid());
        let counts = pushes_with_unique_jwts(&relay, &signer, &endpoint, 6_000, 10_000).await;
        let after = rss(relay.pid());
        let grown = after.saturating_sub(before);
        eprintln!("warm-up {warm:?}; 6,000 pushes with unique 13.5 KB JWTs: {counts:?}; RSS {before} → {after} (+{grown})");
        assert!(grown < 16 << 20, "RSS grew by {grown} bytes over 6,000 pushes with unique 13.5 KB JWTs ({counts:?})");
        assert!(after < 64 << 20, "RSS {after} bytes after 6,000 pushes with unique 13.5 KB JWTs");
        // The sender is told why: a JWT that long is not VAPID (403 on a restricted endpoint).
        assert_eq!(counts.get(&403), Some(&6_000), "{counts:?}");
        let r =
            relay.push(&endpoint, &[("ttl", "60"), ("authorization", &signer.valid_authorization(&relay.base_url))], random_body(10)).await;
        assert_ne!(r.status, StatusCode::FORBIDDEN, "a real-sized JWT is still accepted: {r:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admitted_pushes_are_remembered() {
    run_bounded("only_admitted_pushes_are_remembered", TEST_LIMIT, async {
        // A burst of 60, then one push per 100 s: the 240 after the burst are refused.
        let relay =
            Relay::start_with(RelayConfig::new(StoreKind::Embedded).limit("push_rate_per_second = 0.01").limit("push_burst = 60")).await;
        let signer = VapidSigner::new();
        let device = relay.create_device(&unique_token("jwtadmit")).await;
        let endpoint = relay.register(&device, "app", Some(&signer.public_b64())).await;
        let counts = pushes_with_unique_jwts(&relay, &signer, &endpoint, 300, 40).await;
        assert_eq!(counts.get(&201), Some(&60), "{counts:?}");
        assert_eq!(counts.get(&429), Some(&240), "{counts:?}");
        let metrics = relay.metrics().await;
        let entries = uprelay_tests::relay::metric_value(&metrics, "uprelay_vapid_cache_entries");
        let bytes = uprelay_tests::relay::metric_value(&metrics, "uprelay_vapid_cache_bytes");
        assert_eq!(entries, 60.0, "remembered JWTs after 60 admitted and 240 refused pushes");
        assert!(bytes > 0.0 && bytes < 64.0 * 1024.0, "uprelay_vapid_cache_bytes = {bytes}");
    })
    .await;
}
