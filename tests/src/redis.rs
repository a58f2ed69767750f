//! A Redis for one test: a private `redis-server` on a free port (no persistence), killed on
//! drop, or the shared server named by `UPRELAY_TEST_REDIS_URL`.
//!
//! `redis-server` is looked up on `PATH` unless `UPRELAY_TEST_REDIS_SERVER` names the binary.

use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::process::{free_port, ChildGuard, TempDir};

/// One Redis server a test may use.
pub struct RedisServer {
    url: String,
    /// `host:port` to ping.
    addr: String,
    child: Option<ChildGuard>,
    _dir: Option<TempDir>,
}

impl RedisServer {
    /// `UPRELAY_TEST_REDIS_URL` when set (shared, never stopped by tests), else a private
    /// `redis-server` started for this test.
    pub async fn start() -> RedisServer {
        match std::env::var("UPRELAY_TEST_REDIS_URL") {
            Ok(url) if !url.trim().is_empty() => Self::external(url.trim()).await,
            _ => Self::private().await,
        }
    }

    /// A private server even when `UPRELAY_TEST_REDIS_URL` is set (for tests that stop it).
    pub async fn private() -> RedisServer {
        let bin = std::env::var("UPRELAY_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let dir = TempDir::new("uprelay-redis");
        let mut last_output = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(&bin);
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--dir", &dir.path().display().to_string()])
                .args(["--protected-mode", "no", "--loglevel", "warning"]);
            let mut child = ChildGuard::spawn("redis-server", cmd);
            let addr = format!("127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(20);
            let up = loop {
                if let Ok(Some(_)) = child.child_try_wait() {
                    break false;
                }
                if ping(&addr).await {
                    break true;
                }
                assert!(Instant::now() < deadline, "redis-server did not answer PING on {addr} within 20 s\n{}", child.output());
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            if up {
                return RedisServer { url: format!("redis://{addr}"), addr, child: Some(child), _dir: Some(dir) };
            }
            last_output = child.output();
        }
        panic!(
            "could not start `{bin}` (install redis-server, set UPRELAY_TEST_REDIS_SERVER, or point \
             UPRELAY_TEST_REDIS_URL at a running Redis); last output:\n{last_output}"
        );
    }

    async fn external(url: &str) -> RedisServer {
        let parsed = url.strip_prefix("redis://").unwrap_or(url);
        let hostport = parsed.rsplit('@').next().unwrap_or(parsed);
        let hostport = hostport.split('/').next().unwrap_or(hostport).to_owned();
        // Only reachability: a shared server may require AUTH before PING.
        let reachable = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&hostport)).await;
        assert!(matches!(reachable, Ok(Ok(_))), "UPRELAY_TEST_REDIS_URL={url}: cannot connect to {hostport}");
        RedisServer { url: url.to_owned(), addr: hostport, child: None, _dir: None }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this server belongs to the test (and may be stopped).
    pub fn is_private(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the server answers PING now.
    pub async fn is_up(&self) -> bool {
        ping(&self.addr).await
    }

    /// Kill a private server (an outage). Panics for a shared one.
    pub fn stop(&mut self) {
        let child = self.child.take().expect("only a private redis-server can be stopped");
        drop(child);
    }
}

/// Send `PING` in RESP and expect `+PONG`.
async fn ping(addr: &str) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(b"*1\r\n$4\r\nPING\r\n").await.ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"+PONG"))
    };
    matches!(tokio::time::timeout(Duration::from_secs(2), attempt).await, Ok(Some(true)))
}
