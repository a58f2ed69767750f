//! Redis for tests: a private `redis-server` on a free port (plain, with a password, or with
//! an AOF that survives SIGKILL and a restart on the same port and directory), the shared
//! server named by `UPRELAY_TEST_REDIS_URL`, or a private 3-node Redis Cluster; and
//! `redis-cli` on them.
//!
//! `redis-server` is looked up on `PATH` unless `UPRELAY_TEST_REDIS_SERVER` names the binary.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::process::{eventually, free_port, ChildGuard, TempDir};

/// One Redis server a test may use.
pub struct RedisServer {
    url: String,
    /// 0 for the shared server.
    port: u16,
    /// Extra `redis-server` arguments, kept for a restart.
    args: Vec<String>,
    dir: Option<TempDir>,
    child: Option<ChildGuard>,
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

    /// A private server without persistence, even when `UPRELAY_TEST_REDIS_URL` is set (for
    /// tests that stop it or read its keys).
    pub async fn private() -> RedisServer {
        Self::launch(&["--appendonly", "no"]).await
    }

    /// A private server without persistence that requires `password` (its URL does not carry it).
    pub async fn with_password(password: &str) -> RedisServer {
        Self::launch(&["--appendonly", "no", "--requirepass", password]).await
    }

    /// A private server with AOF (`appendfsync always`): what it acknowledged survives
    /// [`RedisServer::kill`] and [`RedisServer::restart`].
    pub async fn with_aof() -> RedisServer {
        Self::launch(&["--appendonly", "yes", "--appendfsync", "always"]).await
    }

    async fn launch(args: &[&str]) -> RedisServer {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let dir = TempDir::new("uprelay-redis");
        let mut last_output = String::new();
        for _ in 0..5 {
            let port = free_port();
            match spawn(port, dir.path(), &args).await {
                Ok(child) => {
                    let url = format!("redis://127.0.0.1:{port}");
                    return RedisServer { url, port, args, dir: Some(dir), child: Some(child) };
                }
                Err(output) => last_output = output,
            }
        }
        panic!(
            "could not start `{}` (install redis-server, set UPRELAY_TEST_REDIS_SERVER, or point \
             UPRELAY_TEST_REDIS_URL at a running Redis); last output:\n{last_output}",
            server_bin()
        );
    }

    async fn external(url: &str) -> RedisServer {
        let parsed = url.strip_prefix("redis://").unwrap_or(url);
        let hostport = parsed.rsplit('@').next().unwrap_or(parsed);
        let hostport = hostport.split('/').next().unwrap_or(hostport);
        // Only reachability: a shared server may require AUTH before PING.
        let reachable = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(hostport)).await;
        assert!(matches!(reachable, Ok(Ok(_))), "UPRELAY_TEST_REDIS_URL={url}: cannot connect to {hostport}");
        RedisServer { url: url.to_owned(), port: 0, args: Vec::new(), dir: None, child: None }
    }

    /// `redis://127.0.0.1:<port>` (or the shared server's URL).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port of a private server.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILL a private server (an outage; without AOF its data is gone). Panics for a shared one.
    pub fn kill(&mut self) {
        self.child.as_mut().expect("only a private redis-server can be killed").kill();
    }

    /// Start a killed private server again on the same port and directory (replaying its AOF).
    pub async fn restart(&mut self) {
        let dir = self.dir.as_ref().expect("only a private redis-server can be restarted");
        let mut last = String::new();
        // The port was ours a moment ago; retry briefly in case the kernel is slow to free it.
        for _ in 0..40 {
            match spawn(self.port, dir.path(), &self.args).await {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(output) => last = output,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("redis-server did not come back on port {}:\n{last}", self.port);
    }

    /// `redis-cli -u <url> args…`; its trimmed stdout.
    pub async fn cli(&self, args: &[&str]) -> String {
        redis_cli(&["-u", &self.url], args).await
    }
}

/// A 3-master Redis Cluster (no replicas) of private `redis-server`s.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<ChildGuard>,
    _dir: TempDir,
}

impl RedisCluster {
    pub async fn start() -> RedisCluster {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start().await {
                Ok(c) => return c,
                Err(e) => last = e,
            }
        }
        panic!("could not start a 3-node Redis Cluster:\n{last}");
    }

    async fn try_start() -> Result<RedisCluster, String> {
        let dir = TempDir::new("uprelay-cluster");
        let (mut ports, mut children) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let p = free_cluster_port();
            let conf = dir.join(&format!("nodes-{p}.conf")).display().to_string();
            children.push(spawn(p, dir.path(), &["--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", &conf]).await?);
            ports.push(p);
        }
        let mut create = tokio::process::Command::new("redis-cli");
        create.args(["--cluster", "create"]).args(ports.iter().map(|p| format!("127.0.0.1:{p}")));
        create.args(["--cluster-replicas", "0", "--cluster-yes"]).kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(30), create.output())
            .await
            .map_err(|_| "redis-cli --cluster create took over 30 s".to_owned())?
            .map_err(|e| format!("cannot run redis-cli: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let info = |p: u16| async move { redis_cli(&["-p", &p.to_string()], &["cluster", "info"]).await };
        let ok = eventually(Duration::from_secs(30), || async {
            for p in &ports {
                let info = info(*p).await;
                if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_assigned:16384") {
                    return false;
                }
            }
            true
        })
        .await;
        if !ok {
            return Err(format!("cluster_state did not become ok within 30 s: {}", info(ports[0]).await));
        }
        Ok(RedisCluster { ports, children, _dir: dir })
    }

    /// `redis://127.0.0.1:<port>` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect()
    }

    /// `redis-cli -c` against the first node (follows MOVED redirections).
    pub async fn cli(&self, args: &[&str]) -> String {
        redis_cli(&["-c", "-p", &self.ports[0].to_string()], args).await
    }

    /// `DBSIZE` of each node.
    pub async fn dbsizes(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for p in &self.ports {
            out.push(redis_cli(&["-p", &p.to_string()], &["dbsize"]).await.parse().unwrap_or(0));
        }
        out
    }

    /// Panics (with its output) if a node process has exited.
    pub fn assert_running(&mut self) {
        for c in &mut self.children {
            c.assert_running();
        }
    }
}

fn server_bin() -> String {
    std::env::var("UPRELAY_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

/// Start `redis-server` on `port` with its files in `dir` and `extra` arguments; the child
/// once it answers PING, or its output if it exited (e.g. the port was taken meanwhile).
async fn spawn(port: u16, dir: &Path, extra: &[impl AsRef<OsStr>]) -> Result<ChildGuard, String> {
    let mut cmd = Command::new(server_bin());
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--protected-mode", "no", "--loglevel", "warning"])
        .arg("--dir")
        .arg(dir)
        .args(extra);
    let mut child = ChildGuard::spawn(&format!("redis-server-{port}"), cmd);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(_)) = child.child_try_wait() {
            return Err(child.output());
        }
        if ping(port).await {
            return Ok(child);
        }
        assert!(Instant::now() < deadline, "redis-server did not answer PING on port {port} within 20 s\n{}", child.output());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `PING` in RESP, expecting `+PONG` (or the refusal of a server that wants a password) within 2 s.
async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        s.write_all(b"*1\r\n$4\r\nPING\r\n").await.ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
    };
    matches!(tokio::time::timeout(Duration::from_secs(2), attempt).await, Ok(Some(true)))
}

/// A port `p` such that both `p` and the cluster bus port `p + 10000` are free.
fn free_cluster_port() -> u16 {
    for _ in 0..200 {
        let p = free_port();
        if p <= u16::MAX - 10000 && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair for a Redis Cluster node");
}

/// Run `redis-cli target… args…` (10 s at most); its trimmed stdout.
async fn redis_cli(target: &[&str], args: &[&str]) -> String {
    let mut cmd = tokio::process::Command::new("redis-cli");
    cmd.args(target).args(args).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(10), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("redis-cli {target:?} {args:?} took over 10 s"))
        .unwrap_or_else(|e| panic!("cannot run redis-cli: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
