//! The emulator's realism flags (`--latency-ms`, `--jitter-ms`, `--token-bytes`) as a black
//! box: answers delayed within their bounds, access tokens of the exact length asked for, bad
//! values refused naming the flag, and a relay that keeps 500 pushes in flight to an FCM 50 ms
//! away without losing one.
//!
//! Needs the binary: `cargo build -p uprelay && cargo test -p uprelay-tests --test emulator_realism`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use uprelay_tests::emulator::EmulatorProcess;
use uprelay_tests::process::bin_path;
use uprelay_tests::relay::{run_bounded, unique_token, Relay, RelayConfig, StoreKind, PROJECT, TEST_LIMIT};

fn data_msg(token: &str) -> serde_json::Value {
    json!({ "message": { "token": token, "data": { "k": "v" } } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_answered_after_the_latency_within_the_jitter() {
    run_bounded("latency", Duration::from_secs(60), async {
        let emu = EmulatorProcess::start_with(&["--latency-ms", "60", "--jitter-ms", "20", "--keep", "0"]).await;
        let token = emu.access_token().await;

        // One after the other: each answer takes at least 40 ms (the scheduler's noise on a
        // shared host only adds; how long answers take is the bench's to report).
        let mut took = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let r = emu.send(&token, &data_msg("tok")).await;
            took.push(started.elapsed());
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        let (min, max) = (*took.iter().min().unwrap(), *took.iter().max().unwrap());
        assert!(min >= Duration::from_millis(40), "fastest answer {min:?} < 60 - 20 ms: {took:?}");
        // The jitter spreads them (uniform over 40 ms: 20 draws all within 4 ms of each other
        // happen with a probability below 1e-15).
        assert!(max - min >= Duration::from_millis(4), "no spread: {took:?}");

        // Rejected sends wait too: FCM's distance does not depend on the answer.
        let started = Instant::now();
        let r = emu.send("not-a-token", &data_msg("tok")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(started.elapsed() >= Duration::from_millis(40), "{:?}", started.elapsed());

        // 50 at once (50 HTTP/1.1 connections): the waits overlap instead of queueing: the
        // stats see them in flight together.
        let msg = data_msg("tok");
        let sends = (0..50).map(|_| emu.send(&token, &msg));
        for r in futures::future::join_all(sends).await {
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        let stats = emu.stats().await;
        assert_eq!(stats["accepted"], 70, "{stats}");
        assert_eq!(stats["sends_in_flight"], 0, "{stats}");
        assert!(stats["max_sends_in_flight"].as_u64().unwrap() >= 40, "{stats}");
        assert!(stats["connections_accepted"].as_u64().unwrap() >= 40, "{stats}");
    })
    .await;
}

/// Only FCM's send is distant, not the token endpoint: with every send held 30 s, a token
/// grant made while a send waits is answered before that send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_is_not_delayed() {
    run_bounded("token endpoint", Duration::from_secs(60), async {
        let emu = EmulatorProcess::start_with(&["--latency-ms", "30000", "--keep", "0"]).await;
        let token = emu.access_token().await;
        let client = emu.client.clone();
        let send = tokio::spawn(async move { client.send(PROJECT, &token, &data_msg("tok")).await });
        let waiting = uprelay_tests::eventually(Duration::from_secs(10), || async { emu.stats().await["sends_in_flight"] == 1 }).await;
        assert!(waiting, "the send never reached the emulator: {}", emu.stats().await);
        emu.access_token().await;
        assert!(!send.is_finished(), "the token grant was answered after a send held 30 s");
        send.abort();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_have_the_length_asked_for() {
    run_bounded("token lengths", Duration::from_secs(60), async {
        for (args, len) in [(&[][..], 1024), (&["--token-bytes", "16"][..], 16), (&["--token-bytes", "4096"][..], 4096)] {
            let emu = EmulatorProcess::start_with(args).await;
            let tokens = [emu.access_token().await, emu.access_token().await];
            for t in &tokens {
                assert_eq!(t.len(), len, "{args:?}: {t}");
                assert!(t.starts_with("ya29."), "{t}");
                assert!(t[5..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{t}");
                let r = emu.send(t, &data_msg("tok")).await;
                assert_eq!(r.status, StatusCode::OK, "{args:?}: {}", r.body);
            }
            assert_ne!(tokens[0], tokens[1]);
        }
    })
    .await;
}

#[test]
fn bad_realism_values_exit_2_naming_the_flag() {
    for (flag, value) in [
        ("--latency-ms", "-1"),
        ("--latency-ms", "60001"),
        ("--latency-ms", "fast"),
        ("--jitter-ms", "60001"),
        ("--jitter-ms", "1.5"),
        ("--token-bytes", "15"),
        ("--token-bytes", "4097"),
        ("--token-bytes", ""),
    ] {
        // `--flag=VALUE` in one argument, so that "-1" is a value rather than a flag.
        let arg = format!("{flag}={value}");
        let mut child = Command::new(bin_path("uprelay"))
            .args(["emulator", "--listen", "127.0.0.1:0", &arg])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // An accepted value would start a server that never exits: give it 10 s.
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("{flag} {value:?} was accepted: the emulator kept running");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{flag} {value:?}: {stderr}");
        assert!(stderr.contains(flag), "{flag} {value:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_keeps_500_pushes_in_flight_to_a_distant_fcm() {
    run_bounded("500 pushes to FCM 50 ms away", TEST_LIMIT, async {
        // 500 sender connections from one address: above the per-IP caps of a default relay.
        let config = RelayConfig::new(StoreKind::Embedded)
            .no_rate_limits()
            .limit("max_connections_per_ip = 1000")
            .limit("max_requests_per_client = 1000");
        let relay = Relay::start_with_emulator_args(config, &["--latency-ms", "50", "--keep", "0"]).await;
        let mut endpoints = Vec::new();
        for i in 0..20 {
            let dev = relay.create_device(&unique_token("distant")).await;
            endpoints.push(relay.register(&dev, &format!("app{i}"), None).await);
        }
        let before = relay.emulator.stats().await["accepted"].as_u64().unwrap();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).pool_max_idle_per_host(600).build().unwrap();
        let started = Instant::now();
        let pushes = (0..500).map(|i| {
            let (relay, http, endpoint) = (&relay, &http, &endpoints[i % endpoints.len()]);
            async move { relay.try_push(http, endpoint, &[("TTL", "60")], vec![b'x'; 256]).await }
        });
        let results = futures::future::join_all(pushes).await;
        let elapsed = started.elapsed();
        let created = results.iter().filter(|r| matches!(r, Ok(p) if p.status == StatusCode::CREATED)).count();
        let others: Vec<String> = results
            .iter()
            .filter(|r| !matches!(r, Ok(p) if p.status == StatusCode::CREATED))
            .take(5)
            .map(|r| match r {
                Ok(p) => format!("{} {}", p.status, p.body),
                Err(e) => e.clone(),
            })
            .collect();
        assert_eq!(created, 500, "not all answered 201 (first others: {others:?})\n{}", relay.output());
        let stats = relay.emulator.stats().await;
        assert_eq!(stats["accepted"].as_u64().unwrap() - before, 500, "{stats}");
        // Within the relay's bound of FCM connections (`fcm.connections` = 8; the token
        // endpoint is spoken to over HTTP/1.1).
        let h2 = stats["h2_connections_accepted"].as_u64().unwrap();
        assert!((1..=8).contains(&h2), "{stats}");
        // The relay's own view of the link, for sizing `fcm.connections`: every send is
        // answered now, many were in flight at once (500 at once, each held 50 ms), and it
        // opened exactly the connections the emulator accepted, all still open.
        let text = relay.metrics().await;
        let m = |name: &str| uprelay_tests::relay::metric_value(&text, name);
        assert_eq!(m("uprelay_fcm_sends_in_flight"), 0.0, "{text}");
        let max = m("uprelay_fcm_sends_in_flight_max");
        assert!((100.0..=500.0).contains(&max), "most sends in flight {max}");
        assert!(max >= stats["max_sends_in_flight"].as_f64().unwrap(), "relay {max} < emulator {stats}");
        assert_eq!(m("uprelay_fcm_connections_opened_total"), h2 as f64, "{text}");
        assert_eq!(m("uprelay_fcm_connections"), h2 as f64, "{text}");
        eprintln!("500 pushes in {elapsed:?}; emulator {stats}; relay peak {max} in flight");
    })
    .await;
}
