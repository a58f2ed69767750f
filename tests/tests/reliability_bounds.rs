//! Connection-level bounds and graceful shutdown:
//! - slowloris: with `header_read_timeout_ms = 1000` clients that send half a request head
//!   (at once, or one byte every 200 ms) are disconnected within ~2 s while a normal client
//!   keeps getting prompt answers; a client that connects and sends nothing is cut off too;
//! - `max_connections = 5`: a 6th connection is closed at once while five are open, the
//!   five still work, and a slot frees when one closes;
//! - a request head over `max_header_bytes` (16384 by default) → 431 and the connection is
//!   closed; a head under it is served; the server stays healthy;
//! - `request_timeout_ms = 1000`: a push whose body never completes → 408;
//! - HTTP/2: with `idle_timeout_ms = 1000`, prior-knowledge connections that
//!   only answer pings get a GOAWAY and are closed within ~1 s of their last request, while
//!   one that keeps sending requests stays; `max_connections_per_ip = 3`: a 4th connection
//!   from one address is closed at once, and so are idle h2 ones past the cap;
//! - SIGTERM while a push is in flight (FCM send takes 1.5 s): the push completes with 201,
//!   new connections are refused, the process exits 0, and queued messages stay in the store.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use uprelay_tests::ledger::{await_delivery, Ledger};
use uprelay_tests::relay::{
    endpoint_path, raw_request, read_until_closed, run_bounded, unique_token, Ending, Relay, RelayConfig, StoreKind, CHAOS_LIMIT,
};
use uprelay_tests::{eventually, per_store};

per_store!([embedded, redis], CHAOS_LIMIT; graceful_shutdown_finishes_in_flight_push);

/// A normal client polling `/healthz` until `until`; the slowest answer and the failures.
async fn normal_client(node: &Relay, until: Instant) -> (Duration, Vec<String>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().unwrap();
    let (mut worst, mut failures) = (Duration::ZERO, Vec::new());
    while Instant::now() < until {
        let t = Instant::now();
        match http.get(node.url("/healthz")).send().await {
            Ok(r) if r.status() == StatusCode::OK => {}
            Ok(r) => failures.push(format!("status {}", r.status())),
            Err(e) => failures.push(e.to_string()),
        }
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (worst, failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_cut_off_without_harming_others() {
    run_bounded("slowloris_is_cut_off_without_harming_others", CHAOS_LIMIT, async {
        let node = Relay::start_with(RelayConfig::new(StoreKind::Embedded).named("slow").limit("header_read_timeout_ms = 1000")).await;
        let head_start = "POST /up/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: 127.0.0.1\r\nTTL: 60\r\nX-Slow: ";
        // Ten clients send half a head and stop; five trickle a byte every 200 ms.
        let half = (0..10).map(|_| async {
            let mut s = node.raw().await;
            s.write_all(head_start.as_bytes()).await.unwrap();
            read_until_closed(&mut s, Duration::from_secs(6)).await
        });
        let trickle = (0..5).map(|_| async {
            let s = node.raw().await;
            let (mut r, mut w) = s.into_split();
            let writer = async move {
                let _ = w.write_all(head_start.as_bytes()).await;
                for _ in 0..30 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if w.write_all(b"a").await.is_err() {
                        break;
                    }
                }
                std::future::pending::<()>().await
            };
            tokio::select! { e = read_until_closed(&mut r, Duration::from_secs(6)) => e, _ = writer => unreachable!() }
        });
        let until = Instant::now() + Duration::from_millis(2500);
        let (halves, trickles, (worst, failures)) =
            tokio::join!(futures::future::join_all(half), futures::future::join_all(trickle), normal_client(&node, until));
        for (kind, endings) in [("half head", &halves), ("trickle", &trickles)] {
            for e in endings.iter() {
                match e {
                    Ending::Closed { ms, bytes } => {
                        assert!(*ms <= 2000, "{kind}: cut off only after {ms} ms");
                        assert!(*ms >= 800, "{kind}: cut off after {ms} ms, before the 1 s header timeout");
                        assert!(bytes.is_empty() || bytes.starts_with("HTTP/1.1 408"), "{kind}: unexpected answer {bytes:?}");
                    }
                    Ending::Open => panic!("{kind}: still connected after 6 s with header_read_timeout_ms = 1000"),
                }
            }
        }
        eprintln!(
            "slowloris: 15 slow clients cut off at {:?} ms; normal client worst latency {worst:?}",
            halves
                .iter()
                .chain(trickles.iter())
                .map(|e| match e {
                    Ending::Closed { ms, .. } => *ms,
                    Ending::Open => 0,
                })
                .collect::<Vec<_>>()
        );
        // Served throughout; how long it waited is a figure, not a check.
        assert!(failures.is_empty(), "the normal client failed during the attack: {failures:?}");
    })
    .await
}

/// A client that connects and never sends a byte, or sends only the start of the HTTP/2
/// preface (`PRI * HTTP/2.0\r\n`), holds a connection slot just as well as one that sends
/// half an HTTP/1 head; `header_read_timeout_ms` must cut it off too, or a few thousand such
/// sockets (`max_connections` = 10000 by default) lock every client out for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_cut_off() {
    run_bounded("silent_connections_are_cut_off", CHAOS_LIMIT, async {
        let node = Relay::start_with(RelayConfig::new(StoreKind::Embedded).named("silent").limit("header_read_timeout_ms = 1000").limit("max_connections = 5"))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut conns = Vec::new();
        for i in 0..5 {
            let mut s = node.raw().await;
            if i >= 3 {
                s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
            }
            conns.push(s);
        }
        let endings = futures::future::join_all(conns.iter_mut().map(|s| read_until_closed(s, Duration::from_secs(4)))).await;
        let silent_open = endings[..3].iter().filter(|e| **e == Ending::Open).count();
        let preface_open = endings[3..].iter().filter(|e| **e == Ending::Open).count();
        // While they are open, can anyone else get in?
        let served = reqwest::Client::new().get(node.url("/healthz")).timeout(Duration::from_millis(1000)).send().await.is_ok();
        eprintln!("4 s after connecting: {silent_open}/3 silent and {preface_open}/2 preface-prefix connections still open; normal client served: {served}");
        assert!(
            silent_open == 0 && preface_open == 0,
            "{silent_open} of 3 connections that sent nothing and {preface_open} of 2 that sent `PRI * HTTP/2.0\\r\\n` were still \
             open 4 s after connecting (header_read_timeout_ms = 1000); with max_connections = 5 they lock every other client \
             out (normal client served meanwhile: {served})"
        );
        assert!(served, "a normal client was refused after the slow connections were cut");
    })
    .await
}

/// A new connection (the kernel completes the handshake) is closed by the server at once,
/// its request unanswered.
async fn assert_closed_at_accept(node: &Relay, what: &str) {
    let mut s = node.raw().await;
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n").await;
    match read_until_closed(&mut s, Duration::from_secs(3)).await {
        Ending::Closed { ms, bytes } => {
            assert!(bytes.is_empty(), "{what} was served: {bytes:?}");
            assert!(ms < 1000, "{what} was closed only after {ms} ms");
        }
        Ending::Open => panic!("{what} stayed open"),
    }
}

/// Whether a new connection is served within 3 s.
async fn a_slot_frees(node: &Relay) -> bool {
    eventually(Duration::from_secs(3), || async {
        let mut s = node.raw().await;
        raw_request(&mut s, "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close", b"").await.0 == 200
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_closes_the_sixth() {
    run_bounded("max_connections_closes_the_sixth", CHAOS_LIMIT, async {
        let node = Relay::start_with(RelayConfig::new(StoreKind::Embedded).named("conns").limit("max_connections = 5")).await;
        // The start-up health check's connection must be gone before we count.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut five = Vec::new();
        for _ in 0..5 {
            five.push(node.raw().await);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_closed_at_accept(&node, "a 6th connection with max_connections = 5").await;
        // The five idle ones are alive and served.
        for (i, s) in five.iter_mut().enumerate() {
            let (status, text) = raw_request(s, "GET /healthz HTTP/1.1\r\nHost: a", b"").await;
            assert_eq!(status, 200, "connection {i} of the five: {text:?}");
        }
        // Closing one frees a slot.
        drop(five.pop());
        assert!(a_slot_frees(&node).await, "no slot freed after closing one of the five connections");
        drop(five);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let refused = node.metric("uprelay_connections_refused_total").await;
        assert!(refused >= 1.0, "uprelay_connections_refused_total = {refused}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_header_is_431_and_server_stays_healthy() {
    run_bounded("oversize_header_is_431_and_server_stays_healthy", CHAOS_LIMIT, async {
        let node = Relay::start_with(RelayConfig::new(StoreKind::Embedded).named("hdr")).await;
        // Under the default 16384-byte bound: served.
        let mut s = node.raw().await;
        let ok = format!("GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Big: {}", "a".repeat(8000));
        assert_eq!(raw_request(&mut s, &ok, b"").await.0, 200);
        // Over it: 431 and the connection is closed; the same for a push.
        for path in ["/healthz", "/up/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
            let mut s = node.raw().await;
            let big = format!("POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nX-Big: {}\r\n\r\nx", "a".repeat(20_000));
            let _ = s.write_all(big.as_bytes()).await;
            match read_until_closed(&mut s, Duration::from_secs(3)).await {
                Ending::Closed { bytes, .. } => {
                    assert!(bytes.starts_with("HTTP/1.1 431"), "{path}: a 20000-byte header got {bytes:?}")
                }
                Ending::Open => panic!("{path}: connection left open after an oversize head"),
            }
        }
        // Many header lines adding up past the bound: same.
        let mut s = node.raw().await;
        let many: String = (0..400).map(|i| format!("X-H{i}: {}\r\n", "b".repeat(60))).collect();
        let _ = s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: a\r\n{many}\r\n").as_bytes()).await;
        match read_until_closed(&mut s, Duration::from_secs(3)).await {
            Ending::Closed { bytes, .. } => assert!(bytes.starts_with("HTTP/1.1 431"), "400 header lines: {bytes:?}"),
            Ending::Open => panic!("connection left open after 400 header lines"),
        }
        let r = node.request(reqwest::Method::GET, "/healthz", None, None).await;
        assert_eq!(r.status, StatusCode::OK, "server unhealthy after oversize heads");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_body_gets_408() {
    run_bounded("slow_body_gets_408", CHAOS_LIMIT, async {
        let node = Relay::start_with(RelayConfig::new(StoreKind::Embedded).named("slowbody").limit("request_timeout_ms = 1000")).await;
        let dev = node.create_device(&unique_token("slowbody")).await;
        let ep = node.register(&dev, "app", None).await;
        let mut s = node.raw().await;
        let t = Instant::now();
        let head = format!("POST {} HTTP/1.1\r\nHost: a\r\nTTL: 60\r\nContent-Length: 100\r\n\r\n0123456789", endpoint_path(&ep));
        s.write_all(head.as_bytes()).await.unwrap();
        match read_until_closed(&mut s, Duration::from_secs(4)).await {
            Ending::Closed { bytes, .. } => {
                assert!(bytes.starts_with("HTTP/1.1 408"), "slow body: {bytes:?}");
            }
            Ending::Open => panic!("a request whose body never completes was neither answered nor closed in 4 s"),
        }
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(2500), "408 after {took:?}");
        assert!(node.messages(&dev.token).await.is_empty());
    })
    .await
}

/// SIGTERM during a push whose FCM send takes 1.5 s: it completes with 201 and reaches FCM;
/// new connections are refused meanwhile; exit status 0 within the grace period; a message
/// queued before the signal stays in the store and is delivered after a restart.
async fn graceful_shutdown_finishes_in_flight_push(store: StoreKind) {
    let config = RelayConfig::new(store)
        .private_store()
        .named("graceful")
        .no_rate_limits()
        .fcm_timeout_ms(3000)
        .queue("lease_ms = 7000")
        .queue("poll_ms = 50");
    let mut node = Relay::start_with(config).await;
    let fcm = node.emulator.client.clone();
    let slow = node.create_device(&unique_token("slow")).await;
    let slow_ep = node.register(&slow, "app", None).await;
    let queued = node.create_device(&unique_token("queued")).await;
    let queued_ep = node.register(&queued, "app", None).await;

    // A message that waits in the retry queue across the shutdown.
    fcm.add_fault(json!({ "token": queued.token, "error": "UNAVAILABLE" })).await;
    let mut keep = Ledger::default();
    let body = b"queued across a graceful restart".to_vec();
    let r = node.push(&queued_ep, &[("TTL", "600")], body.clone()).await;
    assert_eq!(r.status, 201, "[{store}] {r:?}");
    keep.record("graceful", &queued.token, 600, body, Ok(&r));

    fcm.add_fault(json!({ "token": slow.token, "delay_ms": 1500 })).await;
    let started = Instant::now();
    let in_flight = node.push(&slow_ep, &[("TTL", "600")], b"in flight at SIGTERM".to_vec());
    let signal = async {
        // SIGTERM once the push is on its way to FCM (which holds it for 1.5 s).
        let sending = eventually(Duration::from_secs(10), || async { node.metric("uprelay_fcm_sends_in_flight").await >= 1.0 }).await;
        assert!(sending, "[{store}] the push never reached FCM");
        node.sigterm();
        let sent = Instant::now();
        // Once the listener is closed, new connections are refused (while the push is still running).
        let refused =
            eventually(Duration::from_millis(800), || async { TcpStream::connect(("127.0.0.1", node.port)).await.is_err() }).await;
        (sent, refused)
    };
    let (r, (sent, refused)) = tokio::join!(in_flight, signal);
    let push_took = started.elapsed();
    assert_eq!(r.status, 201, "[{store}] in-flight push: {r:?}");
    assert!(push_took >= Duration::from_millis(1400), "[{store}] the push did not wait for FCM? {push_took:?}");
    assert!(refused, "[{store}] new connections still accepted 0.8 s after SIGTERM");
    let status = node.wait_exit(Duration::from_secs(10)).await;
    let status = status.unwrap_or_else(|| panic!("[{store}] still running 10 s after SIGTERM\n{}", node.output()));
    eprintln!("[{store}] in-flight push 201 after {push_took:?}; exit {status} {:?} after SIGTERM", sent.elapsed());
    assert!(status.success(), "[{store}] exit status {status}\n{}", node.output());
    let m = r.message_id();
    let got = fcm.messages(Some(&slow.token)).await;
    assert!(got.iter().any(|v| v["message"]["data"]["m"] == m.as_str()), "[{store}] the in-flight push did not reach FCM");

    // The queued message is still in the store: start again, let FCM recover, it arrives.
    if let Some(redis) = &node.redis {
        let len = redis.cli(&["hlen", "{up:q}:msg"]).await;
        assert_eq!(len, "1", "[{store}] the queued message is not in Redis after the shutdown");
    }
    fcm.clear_faults().await;
    node.restart().await;
    let tally = await_delivery(&fcm, &keep, Duration::from_secs(10), Duration::from_millis(300)).await;
    tally.assert_sound("graceful restart");
    assert_eq!(tally.delivered, 1);
}

/// An HTTP/2 prior-knowledge connection (the `h2` crate answers the server's pings by
/// itself, as idle clients that hold connections open do). The handle resolves when the connection
/// ends, with how long after opening.
async fn h2_connection(node: &Relay) -> (h2::client::SendRequest<bytes::Bytes>, tokio::task::JoinHandle<Duration>) {
    let tcp = node.raw().await;
    let (send, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let opened = Instant::now();
    let ended = tokio::spawn(async move {
        let _ = conn.await;
        opened.elapsed()
    });
    (send, ended)
}

/// One `GET /healthz` on an h2 connection; its status.
async fn h2_get(send: &mut h2::client::SendRequest<bytes::Bytes>) -> u16 {
    let req = http::Request::get("http://a/healthz").body(()).unwrap();
    let (resp, _) = send.clone().ready().await.expect("stream slot").send_request(req, true).expect("send");
    let resp = resp.await.expect("response");
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_get_goaway_busy_ones_stay() {
    run_bounded("idle_http2_connections_get_goaway_busy_ones_stay", CHAOS_LIMIT, async {
        let node = Relay::start_with(RelayConfig::new(StoreKind::Embedded).named("h2idle").limit("idle_timeout_ms = 1000")).await;
        let mut idle = Vec::new();
        for i in 0..5 {
            let (mut send, ended) = h2_connection(&node).await;
            // Two of them never send a request at all.
            if i >= 2 {
                assert_eq!(h2_get(&mut send).await, 200);
            }
            idle.push((send, ended));
        }
        let (mut busy, busy_ended) = h2_connection(&node).await;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(3500) {
            assert_eq!(h2_get(&mut busy).await, 200, "the busy connection was refused");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for (i, (_send, ended)) in idle.into_iter().enumerate() {
            assert!(ended.is_finished(), "idle h2 connection {i} still open {:?} after idle_timeout_ms = 1000", started.elapsed());
            let lived = ended.await.unwrap();
            assert!(lived >= Duration::from_millis(900) && lived < Duration::from_millis(3000), "idle connection {i} lived {lived:?}");
        }
        assert!(!busy_ended.is_finished(), "a connection with a request every 200 ms was closed as idle");
        // Once it stops, it goes too.
        let lived = tokio::time::timeout(Duration::from_secs(5), busy_ended).await.expect("the busy connection never idled out").unwrap();
        assert!(lived >= Duration::from_millis(4000), "{lived:?}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_per_ip_closes_the_fourth() {
    run_bounded("max_connections_per_ip_closes_the_fourth", CHAOS_LIMIT, async {
        let node = Relay::start_with(RelayConfig::new(StoreKind::Embedded).named("perip").limit("max_connections_per_ip = 3")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Three idle h2 connections hold this address' slots (and answer pings meanwhile).
        let mut held = Vec::new();
        for _ in 0..3 {
            let (mut send, ended) = h2_connection(&node).await;
            assert_eq!(h2_get(&mut send).await, 200);
            held.push((send, ended));
        }
        assert_closed_at_accept(&node, "a 4th connection from one address with max_connections_per_ip = 3").await;
        // Closing one gives its slot back.
        drop(held.pop());
        assert!(a_slot_frees(&node).await, "no slot freed after closing one of the three connections");
        assert!(node.metric("uprelay_connections_refused_total").await >= 1.0);
    })
    .await
}
