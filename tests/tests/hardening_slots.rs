//! One client must not take every request slot. From 127.0.0.1 an attacker opens four
//! HTTP/2 connections and on each as many `POST /_matrix/push/v1/notify` streams as the
//! relay allows, sending headers and never a body; meanwhile a sender from 127.0.0.2 must
//! keep getting 201 and `/healthz` (from 127.0.0.3) must keep answering 200. The relay
//! runs with `max_concurrent_requests = 300` and `request_timeout_ms = 60000` (so only the
//! new bounds can answer the stalled streams); everything else is the default:
//! - at most `max_streams_per_connection` (100) streams per HTTP/2 connection;
//! - at most `max_requests_per_client` (256) requests in flight per client: more → 429;
//! - a body not delivered within `body_read_timeout_ms` (5 s) → 408 `body_timeout`.
//!
//! Behind a trusted reverse proxy (`trusted_proxies = ["127.0.0.1"]`) the same holds per
//! forwarded client: one client's stalled streams through the proxy leave room for
//! another client's pushes through the same proxy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::TcpSocket;
use uprelay_tests::relay::{random_body, run_bounded, unique_token, Relay, RelayConfig, StoreKind, TEST_LIMIT};

/// A TCP connection to the relay from `local` (any 127.0.0.0/8 address is this machine).
async fn connect_from(local: Ipv4Addr, port: u16) -> tokio::net::TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(local), 0)).unwrap();
    socket.connect(SocketAddr::from(([127, 0, 0, 1], port))).await.unwrap()
}

/// A client whose connections come from `local`.
fn client_from(local: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::V4(local)).timeout(Duration::from_secs(10)).build().unwrap()
}

/// The answers to an attacker's stalled streams: (status, JSON error code) each, or None
/// when the stream got no answer within `limit`.
type Answers = Vec<Option<(u16, String)>>;

/// One attacker connection from 127.0.0.1: as many stalled streams as the relay lets it
/// open (at most 256); returns the relay's advertised stream limit and, once `limit` has
/// passed or every stream is answered, their answers.
async fn stalled_streams(
    port: u16,
    limit: Duration,
    opened: tokio::sync::mpsc::Sender<usize>,
    forwarded_for: Option<&'static str>,
) -> (usize, Answers) {
    let tcp = connect_from(Ipv4Addr::new(127, 0, 0, 1), port).await;
    let (mut h2, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    h2 = h2.ready().await.expect("h2 ready");
    // The server's SETTINGS have arrived with its first frames; ready() waited for them.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let advertised = h2.current_max_send_streams();
    let mut pending = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..advertised.min(256) {
        h2 = h2.ready().await.expect("h2 ready");
        let mut req = http::Request::post("http://127.0.0.1/_matrix/push/v1/notify")
            .header("content-type", "application/json")
            .header("content-length", "100")
            .body(())
            .unwrap();
        if let Some(xff) = forwarded_for {
            req.headers_mut().insert("x-forwarded-for", http::HeaderValue::from_static(xff));
        }
        let (response, body) = h2.send_request(req, false).expect("send request");
        pending.push(response);
        bodies.push(body);
    }
    let _ = opened.send(pending.len()).await;
    let answers = futures::future::join_all(pending.into_iter().map(|response| async move {
        let resp = tokio::time::timeout(limit, response).await.ok()?.ok()?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut bytes = Vec::new();
        while let Some(Ok(chunk)) = tokio::time::timeout(limit, body.data()).await.ok().flatten() {
            let _ = body.flow_control().release_capacity(chunk.len());
            bytes.extend_from_slice(&Bytes::from(chunk));
        }
        let code = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| v["error"].as_str().map(str::to_owned)).unwrap_or_default();
        Some((status, code))
    }))
    .await;
    drop(bodies);
    (advertised, answers)
}

/// A relay with 300 request slots and a 60 s request time limit (so only the new bounds
/// can answer a stalled stream), no rate limits, `extra` `[limits]` lines; and an
/// endpoint on it.
async fn relay_and_endpoint(extra: &[&str]) -> (Relay, uprelay_tests::relay::Device, String) {
    let mut config =
        RelayConfig::new(StoreKind::Embedded).no_rate_limits().limit("max_concurrent_requests = 300").limit("request_timeout_ms = 60000");
    for line in extra {
        config = config.limit(line);
    }
    let relay = Relay::start_with(config).await;
    let device = relay.create_device(&unique_token("slots")).await;
    let endpoint = relay.register(&device, "app", None).await;
    (relay, device, endpoint)
}

/// Four attacker connections from 127.0.0.1 (forwarding for `forwarded_for`), each with
/// its stalled streams open; how many streams, and the tasks that collect their answers.
async fn attack(
    port: u16,
    answer_within: Duration,
    forwarded_for: Option<&'static str>,
) -> (usize, Vec<tokio::task::JoinHandle<(usize, Answers)>>) {
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel(4);
    let attackers: Vec<_> = (0..4).map(|_| tokio::spawn(stalled_streams(port, answer_within, opened_tx.clone(), forwarded_for))).collect();
    let mut opened = 0;
    for _ in 0..4 {
        opened += opened_rx.recv().await.expect("an attacker connection opened its streams");
    }
    // Let the relay take the streams' heads in.
    tokio::time::sleep(Duration::from_millis(500)).await;
    (opened, attackers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_take_every_request_slot() {
    run_bounded("one_client_cannot_take_every_request_slot", TEST_LIMIT, async {
        let (relay, device, endpoint) = relay_and_endpoint(&[]).await;
        // The attack: four connections' worth of stalled streams, all from one address.
        let answer_within = Duration::from_secs(30);
        let (opened, attackers) = attack(relay.port, answer_within, None).await;

        // Meanwhile: a well-behaved sender from another address, and a health probe.
        let sender = client_from(Ipv4Addr::new(127, 0, 0, 2));
        let probe = client_from(Ipv4Addr::new(127, 0, 0, 3));
        let mut refused = Vec::new();
        for i in 0..20 {
            let r = sender.post(&endpoint).header("ttl", "60").body(random_body(200)).send().await.expect("push from 127.0.0.2");
            if r.status() != StatusCode::CREATED {
                refused.push(format!("push {i}: {} {}", r.status(), r.text().await.unwrap_or_default()));
            }
            let h = probe.get(relay.url("/healthz")).send().await.expect("healthz from 127.0.0.3");
            if h.status() != StatusCode::OK {
                refused.push(format!("healthz {i}: {}", h.status()));
            }
        }
        assert!(refused.is_empty(), "with {opened} stalled streams from 127.0.0.1, others were refused: {refused:?}");
        relay.wait_messages(&device.token, 20).await;

        // The attacker's streams: each connection held to what a sender needs, each one
        // answered (refused at once beyond the client's share, 408 when its body never came)
        // long before the 60 s request time limit.
        let mut statuses = std::collections::BTreeMap::<(u16, String), usize>::new();
        for attacker in attackers {
            let (advertised, answers) = attacker.await.unwrap();
            assert!(advertised <= 100, "an HTTP/2 connection may open {advertised} concurrent streams");
            for a in answers {
                let a = a.unwrap_or_else(|| panic!("a stalled stream got no answer within {answer_within:?}"));
                *statuses.entry(a).or_default() += 1;
            }
        }
        let timed_out = statuses.get(&(408, "body_timeout".to_string())).copied().unwrap_or(0);
        let refused = statuses.get(&(429, "too_many_in_flight".to_string())).copied().unwrap_or(0);
        assert_eq!(timed_out + refused, opened, "answers to the stalled streams: {statuses:?}");
        assert!(timed_out >= 1 && timed_out <= 256, "{statuses:?}");
        assert!(relay.metric("uprelay_client_requests_refused_total").await >= refused as f64);
        // And the relay is still itself.
        let r = relay.push(&endpoint, &[("ttl", "60")], random_body(100)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_share() {
    run_bounded("behind_a_trusted_proxy_each_forwarded_client_has_its_share", TEST_LIMIT, async {
        let (relay, _, endpoint) = relay_and_endpoint(&["trusted_proxies = [\"127.0.0.1\"]"]).await;
        let (opened, attackers) = attack(relay.port, Duration::from_secs(30), Some("198.51.100.7")).await;
        // Another client through the same proxy (the same TCP peer, 127.0.0.1).
        let mut refused = Vec::new();
        for i in 0..10 {
            let r = relay.push(&endpoint, &[("ttl", "60"), ("x-forwarded-for", "198.51.100.8")], random_body(100)).await;
            if r.status != StatusCode::CREATED {
                refused.push(format!("push {i}: {} {}", r.status, r.body));
            }
        }
        assert!(refused.is_empty(), "with {opened} stalled streams forwarded for 198.51.100.7, 198.51.100.8 was refused: {refused:?}");
        for attacker in attackers {
            let (_, answers) = attacker.await.unwrap();
            assert!(answers.iter().all(Option::is_some), "a stalled stream got no answer");
        }
    })
    .await;
}
