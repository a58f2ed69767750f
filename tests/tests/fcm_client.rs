//! uprelay's FCM client against the real emulator binary over HTTP: every error class,
//! OAuth token caching and the refresh after a 401, latency and timeouts, and the
//! `uprelay fcm-send` command.

#![allow(clippy::type_complexity)] // case tables

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uprelay::fcm::FcmConfig;
use uprelay::fcm::{service_account_from_json, ErrorClass, FcmClient, FcmError};
use uprelay_tests::emulator::EmulatorProcess;
use uprelay_tests::free_port;

/// How the client reaches the emulator: HTTP/2 is what FCM speaks (one multiplexed
/// connection), HTTP/1.1 the pool used when a peer offers nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    H1,
    H2,
}

async fn client_for(emu: &EmulatorProcess, timeout_ms: u64) -> FcmClient {
    client_over(&emu.base_url, emu, timeout_ms, Wire::H1).await
}

async fn client_over(api_url: &str, emu: &EmulatorProcess, timeout_ms: u64, wire: Wire) -> FcmClient {
    let cfg = FcmConfig { api_url: api_url.to_owned(), timeout_ms, http2_prior_knowledge: wire == Wire::H2, ..FcmConfig::default() };
    client_with(emu, cfg).await
}

async fn client_with(emu: &EmulatorProcess, cfg: FcmConfig) -> FcmClient {
    let raw = std::fs::read_to_string(&emu.credentials_path).unwrap();
    let key = service_account_from_json(&raw).unwrap();
    FcmClient::new(&cfg, vec![(emu.project.clone(), key)]).await.unwrap()
}

/// Runs a test body once over each wire.
macro_rules! over_both_wires {
    ($($name:ident),* $(,)?) => {
        mod h1 {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Wire::H1).await
            })*
        }
        mod h2 {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Wire::H2).await
            })*
        }
    };
}

over_both_wires!(
    every_fcm_error_class_round_trips_with_retry_after,
    many_sends_cost_one_token_request,
    a_401_refreshes_the_token_once_and_retries,
    latency_is_waited_for_and_timeouts_are_transient,
);

/// `n` sends at once, to tokens `<prefix>-<i>`; every one must succeed.
async fn send_concurrently(client: &FcmClient, project: &str, prefix: &str, n: usize) {
    let sends = (0..n).map(|i| async move { client.send_json(project, &message(&format!("{prefix}-{i}"))).await });
    for r in futures::future::join_all(sends).await {
        r.unwrap();
    }
}

fn message(token: &str) -> Value {
    json!({"message": {"token": token, "data": {"i": "inst", "b": "aGk=", "m": "mid"}, "android": {"priority": "HIGH", "ttl": "60s"}}})
}

async fn every_fcm_error_class_round_trips_with_retry_after(wire: Wire) {
    let emu = EmulatorProcess::start().await;
    let client = client_over(&emu.base_url, &emu, 5_000, wire).await;
    let cases: Vec<(&str, Option<u64>, Box<dyn Fn(&FcmError) -> bool>, ErrorClass)> = vec![
        ("UNREGISTERED", None, Box::new(|e| *e == FcmError::Unregistered), ErrorClass::DeadToken),
        ("SENDER_ID_MISMATCH", None, Box::new(|e| *e == FcmError::SenderIdMismatch), ErrorClass::DeadToken),
        // The emulator injects FCM's documented INVALID_ARGUMENT: "The registration token is
        // not a valid FCM registration token", which means the device must re-register.
        ("INVALID_ARGUMENT", None, Box::new(|e| matches!(e, FcmError::InvalidArgument { .. })), ErrorClass::DeadToken),
        (
            "QUOTA_EXCEEDED",
            Some(42),
            Box::new(|e| *e == FcmError::QuotaExceeded { retry_after: Some(Duration::from_secs(42)) }),
            ErrorClass::Throttled(Some(Duration::from_secs(42))),
        ),
        (
            "UNAVAILABLE",
            Some(7),
            Box::new(|e| *e == FcmError::Unavailable { retry_after: Some(Duration::from_secs(7)) }),
            ErrorClass::Transient(Some(Duration::from_secs(7))),
        ),
        ("INTERNAL", None, Box::new(|e| *e == FcmError::Internal { retry_after: None }), ErrorClass::Transient(None)),
        ("THIRD_PARTY_AUTH_ERROR", None, Box::new(|e| matches!(e, FcmError::ThirdPartyAuth { .. })), ErrorClass::OurFault),
    ];
    for (i, (code, retry_after, is_expected, class)) in cases.into_iter().enumerate() {
        let token = format!("token-class-{i}");
        let mut fault = json!({"token": token, "error": code, "times": 1});
        if let Some(r) = retry_after {
            fault["retry_after"] = json!(r);
        }
        emu.client.add_fault(fault).await;
        let err = client.send_json(&emu.project, &message(&token)).await.unwrap_err();
        assert!(is_expected(&err), "{code}: got {err:?}");
        assert_eq!(err.class(), class, "{code}");
        assert_eq!(err.retry_after(), retry_after.map(Duration::from_secs), "{code}");
    }
    // A real validation failure, not an injected one: a reserved data key.
    let bad = json!({"message": {"token": "t", "data": {"from": "x"}}});
    let err = client.send_json(&emu.project, &bad).await.unwrap_err();
    assert!(matches!(err, FcmError::InvalidArgument { .. }), "{err:?}");
    // A refusal of the message itself: no retry of it can succeed.
    assert_eq!(err.class(), ErrorClass::BadMessage);
    // And a success still works after all of that.
    let name = client.send_json(&emu.project, &message("token-ok")).await.unwrap();
    assert!(name.starts_with(&format!("projects/{}/messages/", emu.project)), "{name}");
}

#[tokio::test]
async fn a_malformed_token_is_a_dead_token() {
    let emu = EmulatorProcess::start().await;
    let client = client_for(&emu, 5_000).await;
    let err = client.send_json(&emu.project, &message("has whitespace in it")).await.unwrap_err();
    assert!(matches!(err, FcmError::InvalidArgument { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::DeadToken, "{err:?}");
}

async fn many_sends_cost_one_token_request(wire: Wire) {
    let emu = EmulatorProcess::start().await;
    let client = client_over(&emu.base_url, &emu, 5_000, wire).await;
    send_concurrently(&client, &emu.project, "cache", 40).await;
    let stats = emu.client.stats().await;
    assert_eq!(stats["tokens_issued"], 1, "{stats}");
    assert_eq!(stats["accepted"], 40, "{stats}");
}

async fn a_401_refreshes_the_token_once_and_retries(wire: Wire) {
    let emu = EmulatorProcess::start().await;
    let client = client_over(&emu.base_url, &emu, 5_000, wire).await;
    client.send_json(&emu.project, &message("before")).await.unwrap();
    assert_eq!(emu.client.stats().await["tokens_issued"], 1);
    emu.client.revoke_tokens().await;
    client.send_json(&emu.project, &message("after")).await.unwrap();
    let stats = emu.client.stats().await;
    assert_eq!(stats["tokens_issued"], 2, "{stats}");
    assert_eq!(stats["accepted"], 2, "{stats}");
}

async fn latency_is_waited_for_and_timeouts_are_transient(wire: Wire) {
    let emu = EmulatorProcess::start().await;
    let client = client_over(&emu.base_url, &emu, 1_000, wire).await;
    client.send_json(&emu.project, &message("warm")).await.unwrap();
    emu.client.add_fault(json!({"token": "slow", "delay_ms": 300, "times": 1})).await;
    let started = Instant::now();
    client.send_json(&emu.project, &message("slow")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());

    emu.client.add_fault(json!({"token": "stuck", "delay_ms": 3_000, "times": 1})).await;
    let started = Instant::now();
    let err = client.send_json(&emu.project, &message("stuck")).await.unwrap_err();
    assert_eq!(err, FcmError::Timeout);
    assert_eq!(err.class(), ErrorClass::Transient(None));
    assert!(started.elapsed() < Duration::from_millis(2_500), "{:?}", started.elapsed());
}

#[tokio::test]
async fn unreachable_fcm_and_unknown_project_are_classified() {
    let emu = EmulatorProcess::start().await;
    let client = client_for(&emu, 5_000).await;
    let err = client.send_json("not-configured", &message("t")).await.unwrap_err();
    assert_eq!(err, FcmError::UnknownProject("not-configured".into()));
    assert_eq!(err.class(), ErrorClass::OurFault);

    // Credentials of one project used for another: FCM says PERMISSION_DENIED, our fault.
    let raw = std::fs::read_to_string(&emu.credentials_path).unwrap();
    let cfg = FcmConfig { api_url: emu.base_url.clone(), ..FcmConfig::default() };
    let wrong = FcmClient::new(&cfg, vec![("someone-else".into(), service_account_from_json(&raw).unwrap())]).await.unwrap();
    let err = wrong.send_json("someone-else", &message("t")).await.unwrap_err();
    assert!(matches!(err, FcmError::PermissionDenied { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::OurFault);

    // Nothing listens on this port: the OAuth endpoint is the emulator's, FCM is not.
    let cfg = FcmConfig { api_url: format!("http://127.0.0.1:{}", free_port()), ..FcmConfig::default() };
    let nowhere = FcmClient::new(&cfg, vec![(emu.project.clone(), service_account_from_json(&raw).unwrap())]).await.unwrap();
    let err = nowhere.send_json(&emu.project, &message("t")).await.unwrap_err();
    assert!(matches!(err, FcmError::Transport(_)), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient(None));
}

/// An `https` FCM URL speaks TLS and verifies the server against the built-in web PKI
/// roots: a self-signed server (openssl s_server) is refused with a certificate error,
/// as a man in the middle would be, and the error is transient (the send is queued).
#[tokio::test]
async fn https_fcm_verifies_the_server_certificate() {
    let dir = uprelay_tests::TempDir::new("uprelay-tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed by .ci/run");
    assert!(made.status.success(), "openssl req: {}", String::from_utf8_lossy(&made.stderr));
    let port = free_port();
    let mut server = std::process::Command::new("openssl");
    server.args(["s_server", "-quiet", "-www", "-alpn", "h2,http/1.1", "-accept"]).arg(format!("127.0.0.1:{port}"));
    server.arg("-cert").arg(&cert).arg("-key").arg(&key);
    let _server = uprelay_tests::ChildGuard::spawn("openssl-s_server", server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }

    let emu = EmulatorProcess::start().await;
    let raw = std::fs::read_to_string(&emu.credentials_path).unwrap();
    let cfg = FcmConfig { api_url: format!("https://127.0.0.1:{port}"), ..FcmConfig::default() };
    let client = FcmClient::new(&cfg, vec![(emu.project.clone(), service_account_from_json(&raw).unwrap())]).await.unwrap();
    let err = client.send_json(&emu.project, &message("t")).await.unwrap_err();
    let FcmError::Transport(msg) = &err else { panic!("expected a transport error, got {err:?}") };
    assert!(msg.contains("certificate"), "not a certificate verification failure: {msg}");
    assert_eq!(err.class(), ErrorClass::Transient(None));
}

fn fcm_send(emu: &EmulatorProcess, extra: &[&str]) -> (i32, Value) {
    let out = emu.fcm_send_cli(extra);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| panic!("no output; stderr: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), serde_json::from_str(line).unwrap())
}

#[tokio::test]
async fn fcm_send_command_prints_fcms_answer() {
    let emu = EmulatorProcess::start().await;
    let (code, out) = fcm_send(&emu, &["--token", "cli-token", "--data", "k=v", "--data", "x=y=z", "--ttl", "30"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["ok"], true);
    let msgs = emu.client.messages(Some("cli-token")).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["message"]["data"], json!({"k": "v", "x": "y=z"}));
    assert_eq!(msgs[0]["message"]["android"]["ttl"], "30s");
    assert_eq!(msgs[0]["name"], out["name"]);

    let (code, out) = fcm_send(&emu, &["--token", "cli-token", "--validate-only"]);
    assert_eq!((code, &out["ok"]), (0, &json!(true)), "{out}");
    assert_eq!(emu.client.messages(Some("cli-token")).await.len(), 1, "validate_only must not deliver");

    emu.client.add_fault(json!({"token": "cli-dead", "error": "UNREGISTERED"})).await;
    let (code, out) = fcm_send(&emu, &["--token", "cli-dead"]);
    assert_eq!(code, 1);
    assert_eq!(out["error"], "unregistered");
    assert_eq!(out["class"], "dead_token");

    emu.client.add_fault(json!({"token": "cli-busy", "error": "QUOTA_EXCEEDED", "retry_after": 60})).await;
    let (code, out) = fcm_send(&emu, &["--token", "cli-busy"]);
    assert_eq!((code, &out["class"], &out["retry_after"]), (1, &json!("throttled"), &json!(60)), "{out}");

    let (code, out) = fcm_send(&emu, &["--token", "cli-token", "--data", "from=reserved"]);
    assert_eq!((code, &out["error"]), (1, &json!("invalid_argument")), "{out}");
}

/// A TCP relay in front of the emulator that counts the connections it carried and can
/// cut every one of them at once, as a NAT timeout or a front end's restart does.
struct CuttableProxy {
    url: String,
    opened: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    cut: tokio::sync::watch::Sender<u64>,
    freeze: tokio::sync::watch::Sender<u64>,
    _accept: tokio::task::JoinHandle<()>,
}

impl CuttableProxy {
    async fn start(upstream_port: u16) -> CuttableProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let opened = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        let (freeze, freezes) = tokio::sync::watch::channel(0u64);
        let counter = opened.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut downstream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let (mut cuts, mut freezes) = (cuts.clone(), freezes.clone());
                cuts.mark_unchanged();
                freezes.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", upstream_port)).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut downstream, &mut upstream) => {}
                        _ = cuts.changed() => {}
                        // Both sockets stay open, nothing passes: a silently dead path.
                        _ = freezes.changed() => {
                            let _ = cuts.changed().await;
                        }
                    }
                });
            }
        });
        CuttableProxy { url, opened, cut, freeze, _accept: accept }
    }

    /// Stop forwarding on the connections open now, keeping them open (what a NAT that
    /// forgot the mapping does); later connections pass.
    fn freeze_all(&self) {
        self.freeze.send_modify(|n| *n += 1);
    }

    fn connections(&self) -> usize {
        self.opened.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

/// Over HTTP/2, as with FCM, concurrent sends share one connection; when that
/// connection dies, the next send opens a new one instead of failing on the dead one.
#[tokio::test]
async fn h2_sends_share_one_connection_and_reopen_it_when_it_dies() {
    let emu = EmulatorProcess::start().await;
    let proxy = CuttableProxy::start(emu.port).await;
    let client = client_over(&proxy.url, &emu, 5_000, Wire::H2).await;
    send_concurrently(&client, &emu.project, "shared", 30).await;
    assert_eq!(proxy.connections(), 1, "30 concurrent sends should share one HTTP/2 connection");

    proxy.cut_all();
    // Let the client's connection task see the close, as it would between two pushes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..3 {
        client.send_json(&emu.project, &message(&format!("after-cut-{i}"))).await.unwrap();
    }
    assert_eq!(proxy.connections(), 2, "the sends after the cut should reopen exactly one connection");
    assert_eq!(emu.client.stats().await["accepted"], 33);
}

/// A connection that goes silent without closing (NAT or load balancer forgot it) is
/// found by its unanswered ping and replaced: the next send goes out on a fresh one
/// instead of waiting out the send timeout on the dead one.
#[tokio::test]
async fn h2_connection_that_stops_answering_pings_is_replaced() {
    let emu = EmulatorProcess::start().await;
    let proxy = CuttableProxy::start(emu.port).await;
    let cfg = FcmConfig {
        api_url: proxy.url.clone(),
        http2_prior_knowledge: true,
        timeout_ms: 3_000,
        keepalive_ms: 200,
        keepalive_timeout_ms: 300,
        ..FcmConfig::default()
    };
    let client = client_with(&emu, cfg).await;
    client.send_json(&emu.project, &message("before")).await.unwrap();
    assert_eq!(proxy.connections(), 1);
    proxy.freeze_all();
    // One interval and one timeout, with room for a slow machine.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let t0 = std::time::Instant::now();
    let after = client.send_json(&emu.project, &message("after")).await;
    assert!(after.is_ok(), "the send after the freeze failed: {after:?} after {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_millis(2_000), "the send waited {:?}: it went to the frozen connection", t0.elapsed());
    assert_eq!(proxy.connections(), 2, "the unanswered ping should have replaced the frozen connection");
    assert_eq!(emu.client.stats().await["accepted"], 2);
}

/// More concurrent sends than one connection's streams (100 here, as Google's front ends
/// allow) open further connections instead of queueing behind the first, no more than
/// the burst needs and at most `fcm.connections`; with `connections = 1` they all share
/// the one.
#[tokio::test]
async fn h2_sends_beyond_one_connections_streams_open_another() {
    let emu = EmulatorProcess::start().await;
    for (connections, expected) in [(8, 3..=3), (1, 1..=1)] {
        let proxy = CuttableProxy::start(emu.port).await;
        let cfg = FcmConfig { api_url: proxy.url.clone(), http2_prior_knowledge: true, connections, ..FcmConfig::default() };
        let client = client_with(&emu, cfg).await;
        // The first send brings the peer's settings (its stream limit) and the token.
        client.send_json(&emu.project, &message("warm")).await.unwrap();
        // Slow answers keep every stream of the burst open at once.
        emu.client.add_fault(json!({"delay_ms": 500, "times": 250})).await;
        send_concurrently(&client, &emu.project, "burst", 250).await;
        let opened = proxy.connections();
        assert!(expected.contains(&opened), "250 concurrent sends with fcm.connections = {connections} opened {opened} connections");
    }
    assert_eq!(emu.client.stats().await["accepted"], 502);
}

/// A cold burst, before any connection has heard the peer's settings: no connection may
/// carry more streams than FCM's usual limit (the peer would refuse the rest), and a
/// refused stream must not make the relay open connections beyond `fcm.connections`.
#[tokio::test]
async fn a_cold_burst_opens_no_more_connections_than_allowed() {
    let emu = EmulatorProcess::start().await;
    for (connections, burst) in [(2, 250), (3, 250)] {
        let proxy = CuttableProxy::start(emu.port).await;
        let cfg = FcmConfig { api_url: proxy.url.clone(), http2_prior_knowledge: true, connections, ..FcmConfig::default() };
        let client = client_with(&emu, cfg).await;
        emu.client.add_fault(json!({"delay_ms": 300, "times": burst})).await;
        let before = emu.client.stats().await["accepted"].as_u64().unwrap();
        send_concurrently(&client, &emu.project, "cold", burst).await;
        let accepted = emu.client.stats().await["accepted"].as_u64().unwrap() - before;
        assert_eq!(accepted, burst as u64, "every send of the burst lands");
        let opened = proxy.connections();
        assert_eq!(opened, connections, "{burst} cold concurrent sends with fcm.connections = {connections} opened {opened} connections");
    }
}

/// A 200 whose body has no message name is still a success (FCM took the message), but
/// counted and logged as a protocol anomaly instead of silently becoming an empty name.
/// The answering server is a few lines of HTTP/1.1 here; OAuth still goes to the emulator.
#[tokio::test]
async fn a_200_without_a_message_name_is_counted_as_an_anomaly() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let metrics = uprelay::metrics::install();
    let emu = EmulatorProcess::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                // One request per connection is enough: read its head and body, answer, close.
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                            .unwrap_or(0usize);
                        if seen.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let body = r#"{"nom":"projects/x/messages/1"}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    let anomalies = || {
        metrics
            .render()
            .lines()
            .find(|l| l.starts_with("uprelay_fcm_anomalies_total{kind=\"no_message_name\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = anomalies();
    let client = client_over(&url, &emu, 5_000, Wire::H1).await;
    let name = client.send_json(&emu.project, &message("anything")).await.expect("a 200 is a success");
    assert_eq!(name, "");
    assert_eq!(anomalies(), before + 1);
}
