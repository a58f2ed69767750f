//! Redis-side chaos:
//! - Redis (AOF, `appendfsync always`) SIGKILLed and restarted on its port and directory
//!   while pushes keep coming and FCM fails: no 201-acknowledged message is lost, and the
//!   relay recovers by itself (pushes are 201 again after the restart).
//! - Two relays on one Redis and one emulator share the retry queue: while both run, no
//!   message goes to FCM twice (leases); one is SIGKILLed mid-load and the other drains
//!   everything acknowledged by either.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use uprelay_tests::eventually;
use uprelay_tests::ledger::{await_delivery, make_targets, now_ms, push_load, received, routes, tagged_body, Ledger, Tally};
use uprelay_tests::redis::RedisServer;
use uprelay_tests::relay::{endpoint_path, run_bounded, Relay, RelayConfig, StoreKind, CHAOS_LIMIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_with_aof_mid_load_loses_nothing() {
    run_bounded("redis_restart_with_aof_mid_load_loses_nothing", CHAOS_LIMIT, redis_restart_with_aof()).await
}

/// Push continuously (4 at a time, round robin over `routes`) until `stop` is set or `max`
/// pushes were made; every push carries its phase in `phase_of(seq)`.
async fn pusher(node: &Relay, routes: &[(String, String)], stop: &AtomicBool, max: usize) -> Vec<(u64, Ledger)> {
    use futures::StreamExt;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(8)).build().unwrap();
    let results: Vec<(u64, Ledger)> = futures::stream::iter(0..max)
        .take_while(|_| std::future::ready(!stop.load(Ordering::Relaxed)))
        .map(|i| {
            let (endpoint, token) = routes[i % routes.len()].clone();
            let http = &http;
            async move {
                let body = tagged_body("aof", i, 80);
                let started = now_ms();
                let r = node.try_push(http, &node.url(&endpoint_path(&endpoint)), &[("TTL", "600")], body.clone()).await;
                let mut l = Ledger::default();
                l.record(&node.config.name, &token, 600, body, r.as_ref());
                // Pace the load: ~4 × 25 pushes/s.
                tokio::time::sleep(Duration::from_millis(40)).await;
                (started, l)
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    results
}

async fn redis_restart_with_aof() {
    let mut redis = RedisServer::with_aof().await;
    let config = RelayConfig::new(StoreKind::Redis).store_urls(vec![redis.url().to_owned()]).named("aof").no_rate_limits().fast_queue();
    let node = Relay::start_with(config).await;
    let emulator = node.emulator.clone();
    let targets = make_targets(&node, "aof", 3, 2).await;
    let routes = routes(&targets);
    emulator.client.add_fault(json!({ "error": "UNAVAILABLE" })).await;

    let stop = AtomicBool::new(false);
    let t0 = now_ms();
    let mut killed_at = 0;
    let mut restarted_at = 0;
    let (results, ()) = tokio::join!(pusher(&node, &routes, &stop, 2000), async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        killed_at = now_ms();
        redis.kill();
        tokio::time::sleep(Duration::from_millis(2000)).await;
        redis.restart().await;
        restarted_at = now_ms();
        tokio::time::sleep(Duration::from_millis(3000)).await;
        stop.store(true, Ordering::Relaxed);
    });
    let mut ledger = Ledger::default();
    let (mut before, mut during, mut after) = (Ledger::default(), Ledger::default(), Ledger::default());
    for (started, l) in results {
        if started < killed_at {
            before.merge(l.clone());
        } else if started < restarted_at {
            during.merge(l.clone());
        } else {
            after.merge(l.clone());
        }
        ledger.merge(l);
    }
    eprintln!(
        "AOF restart: before kill {} acked / {} tries; while down {} acked, refused {:?}, {} without answer; after restart {} acked / {} tries (refused {:?}); kill at +{} ms, back at +{} ms",
        before.acked.len(),
        before.attempts(),
        during.acked.len(),
        during.refused,
        during.transport_errors,
        after.acked.len(),
        after.attempts(),
        after.refused,
        killed_at - t0,
        restarted_at - t0
    );
    assert!(before.acked.len() >= 10, "too few pushes acknowledged before the kill: {before:?}\n{}", node.output());
    assert!(!after.acked.is_empty(), "the relay never acknowledged a push again after Redis came back: {after:?}\n{}", node.output());
    // While Redis is down a push can neither be routed nor queued: the sender is told to
    // come back (503 + Retry-After), never left without an answer or given anything else.
    assert_eq!(ledger.missing_retry_after, 0, "a 503/429 without Retry-After: {ledger:?}");
    assert!(during.refused.get(&503).is_some_and(|n| *n > 0), "no push got 503 while Redis was down: {during:?}\n{}", node.output());
    assert_eq!(ledger.refused.keys().collect::<Vec<_>>(), [&503], "while Redis was down pushes must get 503 (retry later)");

    // The relay is ready again, and what Redis acknowledged before the kill is still queued.
    let ready =
        eventually(Duration::from_secs(10), || async { node.request(reqwest::Method::GET, "/readyz", None, None).await.status == 200 })
            .await;
    assert!(ready, "/readyz not 200 after Redis came back");
    // FCM failed throughout: every acknowledged push, before the kill and after the
    // restart, waits in the retry queue that Redis kept on disk.
    let queued = redis.cli(&["hkeys", "{up:q}:msg"]).await;
    let queued: std::collections::HashSet<&str> = queued.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let missing: Vec<&str> = ledger.acked.iter().map(|a| a.m.as_str()).filter(|m| !queued.contains(m)).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged pushes are not in the retry queue: {missing:?}", missing.len(), ledger.acked.len());
    // More only for pushes whose answer was lost with Redis (queued, then refused or cut off).
    let unanswered = ledger.refused.values().sum::<usize>() + ledger.transport_errors;
    assert!(
        queued.len() <= ledger.acked.len() + unanswered,
        "{} queued for {} acknowledged pushes and {unanswered} without a 201",
        queued.len(),
        ledger.acked.len()
    );

    emulator.client.clear_faults().await;
    let tally = await_delivery(&emulator.client, &ledger, Duration::from_secs(30), Duration::from_millis(1000)).await;
    eprintln!("{}", tally.row("Redis (AOF always) SIGKILL + restart mid-load, FCM UNAVAILABLE"));
    tally.assert_sound("redis restart");
    assert_eq!(tally.delivered, tally.accepted);
    assert!(tally.duplicated.is_empty(), "one relay, no relay crash: no message may be sent twice: {:?}", tally.duplicated);
    let empty = eventually(Duration::from_secs(10), || async { redis.cli(&["hlen", "{up:q}:msg"]).await == "0" }).await;
    assert!(empty, "retry queue not empty after the drain: {}", redis.cli(&["hlen", "{up:q}:msg"]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_queue_and_survive_one_crash() {
    run_bounded("two_instances_share_the_queue_and_survive_one_crash", CHAOS_LIMIT, two_instances()).await
}

async fn two_instances() {
    let config = RelayConfig::new(StoreKind::Redis).private_store().no_rate_limits().fast_queue().queue("batch = 16");
    let mut a = Relay::start_with(config.clone().named("a")).await;
    let b = a.sibling(config.named("b")).await;
    let emulator = a.emulator.clone();
    let targets = make_targets(&a, "pair", 4, 2).await;
    let routes = routes(&targets);

    // Phase 1: FCM down, push through both; both workers compete for the same queue.
    emulator.client.add_fault(json!({ "error": "UNAVAILABLE" })).await;
    let (la, lb) = tokio::join!(push_load(&a, &routes, "p1a", 120, 600, 4), push_load(&b, &routes, "p1b", 120, 600, 4));
    assert_eq!((la.acked.len(), lb.acked.len()), (120, 120), "every push queued and 201 through both: {la:?} {lb:?}");
    let mut phase1 = la;
    phase1.merge(lb);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let retries_a = a.metric("uprelay_queue_total{result=\"retry\"}").await;
    let retries_b = b.metric("uprelay_queue_total{result=\"retry\"}").await;
    assert!(retries_a > 0.0 && retries_b > 0.0, "both workers should have retried: a {retries_a}, b {retries_b}");

    // FCM back but slow (150 ms a send), both instances up: the workers drain the shared
    // queue concurrently, and a message leased by one must never be sent by the other.
    emulator.client.clear_faults().await;
    emulator.client.add_fault(json!({ "delay_ms": 150 })).await;
    let both = await_delivery(&emulator.client, &phase1, Duration::from_secs(30), Duration::from_millis(1000)).await;
    let delivered_a = a.metric("uprelay_queue_total{result=\"delivered\"}").await;
    let delivered_b = b.metric("uprelay_queue_total{result=\"delivered\"}").await;
    eprintln!("{}\nqueue deliveries: a {delivered_a}, b {delivered_b}", both.row("2 relays, 1 Redis, FCM UNAVAILABLE then slow, both up"));
    both.assert_sound("two instances, both up");
    assert_eq!(both.delivered, both.accepted);
    assert!(
        both.duplicated.is_empty(),
        "with both relays up (no crash) a message went to FCM twice: the lease did not keep it with one worker: {:?}",
        both.duplicated
    );
    assert!(delivered_a > 0.0 && delivered_b > 0.0, "both workers should have drained part of the queue: a {delivered_a}, b {delivered_b}");

    // Phase 2: FCM down again; pushes through both; SIGKILL a mid-load; b drains all.
    emulator.client.clear_faults().await;
    emulator.client.add_fault(json!({ "error": "UNAVAILABLE" })).await;
    let pid_a = a.pid();
    let started = Instant::now();
    let (la, lb, killed) =
        tokio::join!(push_load(&a, &routes, "p2a", 300, 600, 4), push_load(&b, &routes, "p2b", 150, 600, 2), async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            std::process::Command::new("kill").arg("-KILL").arg(pid_a.to_string()).status().map(|s| s.success())
        });
    assert!(matches!(killed, Ok(true)), "kill -KILL {pid_a}: {killed:?}");
    assert!(a.wait_exit(Duration::from_secs(5)).await.is_some());
    eprintln!(
        "phase 2 ({:.1} s): a acked {} (then {} without answer), b acked {} of 150",
        started.elapsed().as_secs_f64(),
        la.acked.len(),
        la.transport_errors,
        lb.acked.len()
    );
    assert_eq!(lb.acked.len(), 150, "b must keep answering 201 while a dies: {lb:?}");
    assert!(!la.acked.is_empty(), "a acknowledged nothing before the kill");
    let mut phase2 = la;
    phase2.merge(lb);
    // Let b's worker meet a's expired leases while FCM still fails.
    tokio::time::sleep(Duration::from_millis(500)).await;
    emulator.client.clear_faults().await;
    let mut tally = await_delivery(&emulator.client, &phase2, Duration::from_secs(30), Duration::from_millis(1500)).await;
    let mut all = phase1.clone();
    all.merge(phase2.clone());
    // Phase 1's messages are known too: only ids neither phase acknowledged are "unacked".
    tally.unacknowledged_delivered = Tally::compute(&all, &received(&emulator.client).await, now_ms()).unacknowledged_delivered;
    eprintln!("{}", tally.row("2 relays, 1 Redis, FCM UNAVAILABLE, SIGKILL one mid-load"));
    tally.assert_sound("survivor drains");
    assert_eq!(tally.delivered, tally.accepted);
    // Nothing was delivered before the kill (FCM failed throughout), so no duplicates either.
    assert!(tally.duplicated.is_empty(), "duplicates although FCM accepted nothing before the crash: {:?}", tally.duplicated);
    let queue = a.redis.as_ref().unwrap().cli(&["hlen", "{up:q}:msg"]).await;
    assert_eq!(queue, "0", "shared queue not empty after b drained it");
    // And the whole run, both phases.
    let whole = Tally::compute(&all, &received(&emulator.client).await, now_ms());
    assert_eq!(whole.delivered, whole.accepted);
}
