//! The processes a run measures against, and how the bench talks to them: the private
//! `redis-server` of an invocation, the FCM emulator of each relay run, and the state they
//! share ([`Env`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::options::Opts;
use crate::procs::{self, ChildProc};
use crate::profile::Profile;

/// The Firebase project every run's emulator plays.
pub const PROJECT: &str = "bench-project";

/// Shared pieces of a bench invocation.
pub struct Env {
    pub opts: Opts,
    pub dir: PathBuf,
    pub uprelay_bin: PathBuf,
    pub redis: Option<(ChildProc, String)>,
    pub bodies: Vec<bytes::Bytes>,
    pub http: reqwest::Client,
    pub run_seq: usize,
}

/// The FCM emulator of one relay run: its own process, so that its latency and token size
/// are the run's profile's, and its gauges (most sends in flight, connections) the run's.
pub struct Fcm {
    pub proc: ChildProc,
    pub url: String,
    pub credentials: PathBuf,
}

/// What deploy/ recommends (and uprelay warns about): device hashes, whose FCM token is
/// ~163 bytes, stay in Redis' compact listpack encoding instead of a hash table.
pub fn redis_recommended() -> [String; 2] {
    ["--hash-max-listpack-value".to_owned(), uprelay::store::RECOMMENDED_LISTPACK_VALUE.to_string()]
}

pub async fn start_redis(bin: &str, recommended: bool, dir: &Path) -> anyhow::Result<(ChildProc, String)> {
    let mut last_err = None;
    for attempt in 0..5 {
        let port = procs::free_port()?;
        let mut cmd = Command::new(bin);
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--protected-mode", "no", "--loglevel", "warning", "--dir"])
            .arg(dir);
        if recommended {
            cmd.args(redis_recommended());
        }
        let mut child = ChildProc::spawn(&format!("redis-{attempt}"), cmd, dir)
            .with_context(|| format!("cannot start {bin} (install redis-server or pass --redis-server)"))?;
        let url = format!("redis://127.0.0.1:{port}");
        match child.wait_tcp(&format!("127.0.0.1:{port}"), Duration::from_secs(20)).await {
            Ok(()) => {
                let client = redis::Client::open(url.as_str())?;
                let mut conn = client.get_multiplexed_async_connection().await?;
                let pong: String = redis::cmd("PING").query_async(&mut conn).await?;
                anyhow::ensure!(pong == "PONG", "redis-server answered {pong:?} to PING");
                return Ok((child, url));
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
}

/// The bench's own connection: `FLUSHALL` of a million registrations in hash-table
/// buckets (`--redis-stock`) takes seconds, beyond redis-rs' default response timeout.
pub async fn redis_conn(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(120)));
    Ok(redis::Client::open(url)?.get_multiplexed_async_connection_with_config(&config).await?)
}

pub async fn redis_used_memory(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    info.lines().find_map(|l| l.strip_prefix("used_memory:")).and_then(|v| v.trim().parse().ok()).context("INFO memory has no used_memory")
}

pub async fn emulator_stats(env: &Env, url: &str) -> anyhow::Result<serde_json::Value> {
    Ok(env.http.get(format!("{url}/emulator/stats")).send().await?.error_for_status()?.json().await?)
}

pub async fn emulator_accepted(env: &Env, url: &str) -> anyhow::Result<u64> {
    emulator_stats(env, url).await?["accepted"].as_u64().context("emulator stats lack \"accepted\"")
}

/// One unlabelled series of uprelay's `/metrics`.
pub async fn relay_metric(env: &Env, origin: &str, name: &str) -> Option<f64> {
    let text = env.http.get(format!("{origin}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Start the emulator of one relay run, with `profile`'s latency and token size: counts
/// accepted messages, keeps none.
pub async fn start_emulator(env: &Env, profile: &Profile) -> anyhow::Result<Fcm> {
    let port = procs::free_port()?;
    let credentials = env.dir.join(format!("service-account-{}.json", env.run_seq));
    let mut cmd = Command::new(&env.uprelay_bin);
    cmd.args(["emulator", "--listen", &format!("127.0.0.1:{port}"), "--project", PROJECT, "--keep", "0"])
        .args(["--latency-ms", &profile.latency.ms.to_string(), "--jitter-ms", &profile.latency.jitter.to_string()])
        .args(["--token-bytes", &profile.token_bytes.to_string()])
        .arg("--write-credentials")
        .arg(&credentials);
    procs::clean_env(&mut cmd);
    let mut proc = ChildProc::spawn(&format!("emulator-{}", env.run_seq), cmd, &env.dir)?;
    let url = format!("http://127.0.0.1:{port}");
    proc.wait_ready(&format!("{url}/emulator/stats"), Duration::from_secs(60)).await?;
    Ok(Fcm { proc, url, credentials })
}
