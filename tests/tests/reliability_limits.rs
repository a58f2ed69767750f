//! Abuse resistance: rate limits and load shedding answer with the right status
//! and a `Retry-After` that a well-behaved sender can honour.
//! - per-endpoint push limit (GCRA): burst, then 429 + Retry-After; shared by two relays
//!   on one Redis; waiting Retry-After seconds is enough to get through;
//! - device creation per client IP: 429 + Retry-After; shared by two relays on one Redis;
//! - FCM QUOTA_EXCEEDED (Retry-After 30): 429 + Retry-After 30, and the next pushes are
//!   refused without bothering FCM until then;
//! - load shedding: `max_concurrent_requests = 2` with slow FCM sends → 503 + Retry-After 1;
//! - full retry queue (`max_len = 3`, FCM failing) → 503 + Retry-After, never a silent drop;
//! - `trusted_proxies`: `X-Forwarded-For` read right to left, the first untrusted hop is
//!   the client, an unparsable hop falls back to the peer, IPv6 clients count per /64, and
//!   without trusted proxies the header is ignored;
//! - a VAPID-restricted endpoint's limit is charged only for verified pushes: 200 unsigned
//!   or wrongly signed POSTs leave the signed sender its whole burst.

use std::time::{Duration, Instant};

use serde_json::json;
use uprelay_tests::ledger::{await_delivery, make_targets, routes, Ledger};
use uprelay_tests::per_store;
use uprelay_tests::relay::{endpoint_path, unique_token, unix_now, PushResponse, Relay, RelayConfig, StoreKind, VapidSigner};

per_store!([embedded, redis], CHAOS_LIMIT;
    push_burst_then_429,
    waiting_retry_after_is_enough,
    device_creation_limited_per_ip,
    fcm_quota_exceeded_holds_the_endpoint_back,
    fcm_quota_exceeded_holds_back_without_push_limiter,
    fcm_quota_exceeded_holds_back_the_whole_device,
    fcm_quota_exceeded_holds_back_the_whole_device_without_push_limiter,
    load_shedding_answers_503_with_retry_after,
    full_queue_answers_503_with_retry_after,
    device_creation_counts_the_first_untrusted_hop,
);

per_store!(unverified_pushes_do_not_use_up_the_signed_senders_limit);

/// A push to `endpoint` (made by any relay) through `node`.
async fn push(node: &Relay, endpoint: &str, body: &str) -> PushResponse {
    node.push(&node.url(&endpoint_path(endpoint)), &[("TTL", "60")], body).await
}

/// Pushes `n` messages back to back; the responses and how long the whole run took.
async fn quick_pushes(nodes: &[&Relay], endpoint: &str, n: usize) -> (Vec<PushResponse>, Duration) {
    let t0 = Instant::now();
    let mut out = Vec::new();
    for i in 0..n {
        out.push(push(nodes[i % nodes.len()], endpoint, &format!("quick {i}")).await);
    }
    (out, t0.elapsed())
}

fn statuses(rs: &[PushResponse]) -> Vec<u16> {
    rs.iter().map(|r| r.status.as_u16()).collect()
}

#[track_caller]
fn assert_throttled(r: &PushResponse, min: u64, max: u64) {
    assert_eq!(r.status, 429, "{r:?}");
    let ra = r.retry_after();
    assert!((min..=max).contains(&ra), "Retry-After {ra} not within {min}..={max}: {r:?}");
}

/// `push_rate_per_second = 0.01` (one per 100 s, so no machine is slow enough to earn a
/// push back during the test), `push_burst = 5`: five pushes pass, the sixth gets 429 with
/// a Retry-After of about 100 s and does not reach FCM; another endpoint is unaffected; with
/// Redis the limit is shared by two relays.
async fn push_burst_then_429(store: StoreKind) {
    let config = RelayConfig::new(store).private_store().limit("push_rate_per_second = 0.01").limit("push_burst = 5");
    let a = Relay::start_with(config.clone().named("a")).await;
    let dev = a.create_device(&unique_token("rl")).await;
    let ep = a.register(&dev, "one", None).await;
    let other = a.register(&dev, "two", None).await;

    let (rs, _) = quick_pushes(&[&a], &ep, 6).await;
    assert_eq!(&statuses(&rs)[..5], &[201; 5], "[{store}] burst of 5: {:?}", statuses(&rs));
    assert_throttled(&rs[5], SLOW_WAIT_MIN, 100);
    assert_eq!(rs[5].error_code(), "throttled");
    let delivered = a.emulator.messages(Some(&dev.token)).await.len();
    let accepted = rs.iter().filter(|r| r.status == 201).count();
    assert_eq!(delivered, accepted, "[{store}] a throttled push reached FCM");
    // Per endpoint: the device's other endpoint has its own bucket.
    assert_eq!(push(&a, &other, "other").await.status, 201);

    if store == StoreKind::Redis {
        // Two relays on one Redis share each endpoint's bucket.
        let b = a.sibling(config.named("b")).await;
        let shared = a.register(&dev, "shared", None).await;
        let (rs, _) = quick_pushes(&[&a, &b], &shared, 6).await;
        assert_eq!(&statuses(&rs)[..5], &[201; 5], "[shared] burst of 5 through a, b, a, b, a: {:?}", statuses(&rs));
        assert_throttled(&rs[5], SLOW_WAIT_MIN, 100);
        // And a is refused as well: one bucket.
        assert_throttled(&push(&a, &shared, "again via a").await, SLOW_WAIT_MIN, 100);
    }
}

/// The least Retry-After a sender of an endpoint limited to 0.01 pushes/s may be told after
/// its burst: 100 s minus however long the burst took (generously, up to 40 s).
const SLOW_WAIT_MIN: u64 = 60;

/// A sender that waits the Retry-After it was given must get through. With 0.4 pushes/s
/// and a burst of 1 the real wait after a push is ~2.5 s.
async fn waiting_retry_after_is_enough(store: StoreKind) {
    let config = RelayConfig::new(store).private_store().limit("push_rate_per_second = 0.4").limit("push_burst = 1");
    let a = Relay::start_with(config.named("a")).await;
    let dev = a.create_device(&unique_token("ra")).await;
    let ep = a.register(&dev, "one", None).await;
    assert_eq!(push(&a, &ep, "first").await.status, 201);
    let limited = push(&a, &ep, "second").await;
    assert_eq!(limited.status, 429, "[{store}] {limited:?}");
    let ra = limited.retry_after();
    tokio::time::sleep(Duration::from_millis(ra * 1000 + 100)).await;
    let third = push(&a, &ep, "after waiting Retry-After").await;
    assert_eq!(
        third.status, 201,
        "[{store}] waited Retry-After ({ra} s) + 0.1 s and was refused again ({third:?}): Retry-After must be rounded up, \
         not down, or honest senders are refused and retry forever"
    );
}

/// `device_create_per_minute = 6`, burst 3: the 4th creation from one IP is 429 with a
/// Retry-After within the 10 s interval; with Redis two relays share the limit.
async fn device_creation_limited_per_ip(store: StoreKind) {
    let config = RelayConfig::new(store).private_store().limit("device_create_per_minute = 6").limit("device_create_burst = 3");
    let a = Relay::start_with(config.clone().named("a")).await;
    let b = if store == StoreKind::Redis { Some(a.sibling(config.named("b")).await) } else { None };
    let nodes: Vec<&Relay> = match &b {
        Some(b) => vec![&a, b, &a, b],
        None => vec![&a, &a, &a, &a],
    };
    let mut rs = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        rs.push(n.try_create_device(&unique_token(&format!("dc{i}"))).await);
    }
    let st: Vec<u16> = rs.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(st, [201, 201, 201, 429], "[{store}] 3 creations then 429 (through {} relays): {rs:?}", if b.is_some() { 2 } else { 1 });
    assert_throttled(&rs[3], 1, 10);
    assert_eq!(rs[3].error_code(), "rate_limited");
    if let Some(b) = &b {
        assert_throttled(&b.try_create_device(&unique_token("dcb")).await, 1, 10);
    }
}

/// QUOTA_EXCEEDED with Retry-After 30 → 429 + Retry-After 30, and the next push to that
/// endpoint is 429 at once, without a request to FCM.
async fn fcm_quota_exceeded_holds_the_endpoint_back(store: StoreKind) {
    quota_case(RelayConfig::new(store), false).await
}

/// The same with the per-endpoint limiter turned off (`push_rate_per_second = 0`): FCM's
/// per-device quota must still be honoured.
async fn fcm_quota_exceeded_holds_back_without_push_limiter(store: StoreKind) {
    quota_case(RelayConfig::new(store).limit("push_rate_per_second = 0"), false).await
}

/// FCM's quota is per device: after QUOTA_EXCEEDED on one endpoint, a push to another
/// endpoint of the same device must not hit FCM before the Retry-After either: FCM
/// QUOTA_EXCEEDED backs the whole device off.
async fn fcm_quota_exceeded_holds_back_the_whole_device(store: StoreKind) {
    quota_case(RelayConfig::new(store), true).await
}

/// The same with the limiter off. With Redis, a push then checks for a hold by the
/// limiter key's TTL instead of running the limiter script, which must see the hold too.
async fn fcm_quota_exceeded_holds_back_the_whole_device_without_push_limiter(store: StoreKind) {
    quota_case(RelayConfig::new(store).limit("push_rate_per_second = 0"), true).await
}

async fn quota_case(config: RelayConfig, sibling: bool) {
    let store = config.store;
    let a = Relay::start_with(config.private_store().named("a")).await;
    let dev = a.create_device(&unique_token("quota")).await;
    let ep = a.register(&dev, "one", None).await;
    let ep2 = a.register(&dev, "two", None).await;
    let bystander = a.create_device(&unique_token("bystander")).await;
    let bystander_ep = a.register(&bystander, "one", None).await;
    a.emulator.add_fault(json!({ "token": dev.token, "error": "QUOTA_EXCEEDED", "retry_after": 30, "times": 1 })).await;

    let first = push(&a, &ep, "over quota").await;
    assert_throttled(&first, 30, 30);
    let sends_before = a.emulator.stats().await["send_requests"].as_u64().unwrap();
    let target = if sibling { &ep2 } else { &ep };
    let next = push(&a, target, "still over quota").await;
    let sends_after = a.emulator.stats().await["send_requests"].as_u64().unwrap();
    let what = if sibling { "another endpoint of the same device" } else { "the same endpoint" };
    assert_eq!(
        sends_after, sends_before,
        "[{store}] the push to {what} went to FCM although FCM asked for 30 s of quiet (answer {next:?})"
    );
    assert_throttled(&next, 25, 30);
    assert!(a.emulator.messages(Some(&dev.token)).await.is_empty(), "[{store}] a held-back push reached FCM");
    // Other devices are not held back.
    assert_eq!(push(&a, &bystander_ep, "bystander").await.status, 201);
}

/// `max_concurrent_requests = 2`, FCM sends take 1 s: a burst of 12 concurrent pushes gets
/// 201 for those admitted and 503 + Retry-After 1 ("overloaded") for the rest, at once; the
/// admitted ones reach FCM, and the relay serves normally afterwards.
async fn load_shedding_answers_503_with_retry_after(store: StoreKind) {
    let config = RelayConfig::new(store)
        .private_store()
        .no_rate_limits()
        .fcm_timeout_ms(3000)
        .queue("lease_ms = 7000")
        .limit("max_concurrent_requests = 2");
    let a = Relay::start_with(config.named("a")).await;
    let targets = make_targets(&a, "shed", 3, 2).await;
    let routes = routes(&targets);
    // Admitted pushes wait 5 s for FCM; shed ones are answered at once, so every 503 comes
    // before any 201 (the order of the answers, counted, not timed).
    a.emulator.add_fault(json!({ "delay_ms": 5000 })).await;
    let t0 = Instant::now();
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let results = futures::future::join_all((0..12).map(|i| {
        let (ep, token) = routes[i % routes.len()].clone();
        let (a, answered) = (&a, &answered);
        async move {
            let body = format!("shed {i}").into_bytes();
            let r = a.push(&ep, &[("TTL", "600")], body.clone()).await;
            (token, body, r, answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
        }
    }))
    .await;
    let took = t0.elapsed();
    let mut ledger = Ledger::default();
    let mut shed = 0;
    let first_201 = results.iter().filter(|(_, _, r, _)| r.status == 201).map(|(_, _, _, order)| *order).min().unwrap_or(usize::MAX);
    for (token, body, r, order) in &results {
        match r.status.as_u16() {
            201 => {}
            503 => {
                shed += 1;
                assert_eq!(r.retry_after(), 1, "[{store}] {r:?}");
                assert_eq!(r.error_code(), "overloaded", "[{store}] {r:?}");
                assert!(*order < first_201, "[{store}] a shed push waited for an admitted one (answer {order}, first 201 {first_201})");
            }
            other => panic!("[{store}] unexpected {other}: {r:?}"),
        }
        ledger.record("a", token, 600, body.clone(), Ok(r));
    }
    let accepted = ledger.acked.len();
    eprintln!("[{store}] burst of 12 with max_concurrent_requests = 2: {accepted} × 201, {shed} × 503 in {took:?}");
    assert!(shed >= 1, "[{store}] nothing was shed");
    assert!(accepted >= 2, "[{store}] fewer than 2 pushes admitted");
    a.emulator.clear_faults().await;
    let tally = await_delivery(&a.emulator, &ledger, Duration::from_secs(10), Duration::from_millis(300)).await;
    tally.assert_sound("load shedding");
    assert_eq!(tally.delivered, accepted);
    assert_eq!(push(&a, &routes[0].0, "after the burst").await.status, 201);
}

/// `[queue] max_len = 3` with FCM failing: three pushes are queued (201), the fourth is
/// 503 with Retry-After (not dropped silently); when FCM is back the three arrive and the
/// queue accepts again.
async fn full_queue_answers_503_with_retry_after(store: StoreKind) {
    let config = RelayConfig::new(store).private_store().no_rate_limits().fast_queue().queue("max_len = 3");
    let a = Relay::start_with(config.named("a")).await;
    let targets = make_targets(&a, "full", 1, 1).await;
    let (ep, token) = routes(&targets)[0].clone();
    a.emulator.add_fault(json!({ "error": "UNAVAILABLE" })).await;
    let mut ledger = Ledger::default();
    for i in 0..3 {
        let body = format!("queued {i}").into_bytes();
        let r = a.push(&ep, &[("TTL", "600")], body.clone()).await;
        assert_eq!(r.status, 201, "[{store}] push {i} must be queued: {r:?}");
        ledger.record("a", &token, 600, body, Ok(&r));
    }
    let fourth = push(&a, &ep, "no room").await;
    assert_eq!(fourth.status, 503, "[{store}] 4th push with a full queue: {fourth:?}");
    assert!(fourth.retry_after() >= 1, "[{store}] {fourth:?}");
    assert_eq!(a.metric("uprelay_queue_total{result=\"full\"}").await, 1.0);
    a.emulator.clear_faults().await;
    let tally = await_delivery(&a.emulator, &ledger, Duration::from_secs(15), Duration::from_millis(500)).await;
    tally.assert_sound("full queue");
    assert_eq!(tally.delivered, 3);
    assert_eq!(tally.unacknowledged_delivered, 0, "[{store}] the refused 4th push was delivered anyway");
    assert_eq!(push(&a, &ep, "room again").await.status, 201);
}

/// `push_rate_per_second = 0.2`, burst 5, an endpoint restricted to a VAPID key: 200
/// POSTs without credentials (401) or signed by another key (403) charge nothing, so the
/// real sender's next five signed pushes are 201 and only its sixth is 429.
async fn unverified_pushes_do_not_use_up_the_signed_senders_limit(store: StoreKind) {
    let config = RelayConfig::new(store).private_store().limit("push_rate_per_second = 0.2").limit("push_burst = 5");
    let relay = Relay::start_with(config).await;
    let dev = relay.create_device(&unique_token("vflood")).await;
    let signer = VapidSigner::new();
    let endpoint = relay.register(&dev, "restricted", Some(&signer.public_b64())).await;
    let forged = VapidSigner::new().valid_authorization(&relay.base_url);
    let mut refused = std::collections::BTreeMap::new();
    for i in 0..200 {
        let mut headers = vec![("TTL", "60")];
        if i % 2 == 1 {
            headers.push(("Authorization", forged.as_str()));
        }
        let r = relay.push(&endpoint, &headers, format!("flood {i}")).await;
        *refused.entry(r.status.as_u16()).or_insert(0) += 1;
    }
    assert_eq!(refused.into_iter().collect::<Vec<_>>(), [(401, 100), (403, 100)], "[{store}] the unverified flood");
    let auth = signer.authorization(&signer.jwt(&relay.base_url, unix_now() + 3600));
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(relay.push(&endpoint, &[("TTL", "60"), ("Authorization", &auth)], format!("signed {i}")).await.status.as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 201, 201, 429], "[{store}] the signed sender after 200 unverified pushes");
    assert_eq!(relay.emulator.messages(Some(&dev.token)).await.len(), 5, "[{store}] delivered");
}

/// Device creations through "proxy" 127.0.0.1 with the given `X-Forwarded-For` values.
async fn create_via(relay: &Relay, forwarded: &[&str]) -> Vec<u16> {
    let mut out = Vec::new();
    for xff in forwarded {
        let r = relay
            .http
            .post(relay.url("/v1/devices"))
            .header("x-forwarded-for", *xff)
            .json(&json!({ "fcm_token": unique_token("xff") }))
            .send()
            .await
            .unwrap();
        out.push(r.status().as_u16());
    }
    out
}

/// `device_create_burst = 2` (and a slow refill). Behind the trusted proxy 127.0.0.1 (the
/// test client), each real client has its own allowance whatever it writes to the left;
/// the known spoofs (an unparsable last hop after an invented one) count against
/// the proxy itself; one IPv6 /64 is one client. With no trusted proxy the header is ignored.
async fn device_creation_counts_the_first_untrusted_hop(store: StoreKind) {
    let config = RelayConfig::new(store).private_store().limit("device_create_per_minute = 0.5").limit("device_create_burst = 2");
    let relay = Relay::start_with(config.clone().limit(r#"trusted_proxies = ["127.0.0.1/32", "10.0.0.0/8"]"#)).await;
    assert_eq!(create_via(&relay, &["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]).await, [201; 4], "[{store}] four clients");
    assert_eq!(
        create_via(&relay, &["6.6.6.1, 198.51.100.1", "6.6.6.2, 198.51.100.1, 10.1.1.1", "6.6.6.3, 198.51.100.1"]).await,
        [201, 201, 429],
        "[{store}] one client behind two proxies, inventing what it writes to the left"
    );
    assert_eq!(
        create_via(&relay, &["10.2.3.1, 127.0.0.1:5555", "10.2.3.2, unknown", "10.2.3.3, [::1]", "10.2.3.4,"]).await,
        [201, 201, 429, 429],
        "[{store}] unparsable last hops: the peer's own allowance, not the invented addresses'"
    );
    assert_eq!(
        create_via(&relay, &["2001:db8:1:2::1", "2001:db8:1:2:ffff::2", "2001:db8:1:2::3", "2001:db8:1:3::1"]).await,
        [201, 201, 429, 201],
        "[{store}] IPv6 per /64"
    );
    let untrusting = Relay::start_with(config.named("untrusting")).await;
    assert_eq!(
        create_via(&untrusting, &["203.0.113.1", "203.0.113.2", "203.0.113.3"]).await,
        [201, 201, 429],
        "[{store}] no trusted proxy"
    );
}
