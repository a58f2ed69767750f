//! `uprelay-bench figures`: the speed and memory figures the end-to-end tests used to
//! assert and now leave to the bench, measured on this machine and reported (not judged:
//! the tests check the behaviour, these say how fast or how big it is here).
//!
//! - the Prometheus recorder's memory growth over 500,000 pushes' metrics with nobody
//!   scraping (the upkeep timer folds the samples; the test counts the upkeeps);
//! - 500 pushes at once through a relay whose FCM is 50 ms away: wall time and the relay's
//!   peak of sends in flight (the test checks they overlap);
//! - pushes while FCM hangs (3 s answers, 1 s timeout, breaker after 3 failures): each
//!   push's latency (the test counts the sends that reach FCM);
//! - load shedding (`max_concurrent_requests = 2`, FCM 1 s away): how long a 503 takes
//!   (the test checks every 503 comes before any admitted push is answered).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::procs::{self, ChildProc};

const PROJECT: &str = "figures-project";

/// Run every figure and print it.
pub async fn run(uprelay_bin: &Path, tmp_dir: Option<&Path>) -> anyhow::Result<()> {
    let dir = procs::temp_dir(tmp_dir)?;
    println!("== figures (reported, not judged)");
    recorder_memory();
    let mut fig = Figures { bin: uprelay_bin.to_path_buf(), dir, seq: 0 };
    fig.many_in_flight().await?;
    fig.breaker().await?;
    fig.shedding().await?;
    Ok(())
}

/// `VmRSS` of this process, bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// What `n` relayed pushes record, 5,000 between two 50 ms pauses (100,000/s).
fn record_pushes(n: usize) {
    let hot = uprelay::metrics::hot();
    let mut left = n;
    while left > 0 {
        let chunk = left.min(5_000);
        for i in 0..chunk {
            drop(hot.store_timer());
            hot.fcm_send_duration(Duration::from_micros(300 + (i % 700) as u64));
            hot.road_request(uprelay::target::RoadKind::Fcm, "ok");
            hot.push("delivered");
            hot.push_duration(0.0005 + (i % 100) as f64 * 1e-5);
        }
        left -= chunk;
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// uprelay's recorder in this process, never rendered: RSS before and after 500,000 pushes'
/// metrics (after a 200,000-push warm-up). This process runs the system allocator;
/// `uprelay serve` runs mimalloc.
fn recorder_memory() {
    let _handle = uprelay::metrics::install();
    record_pushes(200_000);
    std::thread::sleep(uprelay::metrics::UPKEEP_INTERVAL * 2);
    let before = rss();
    let started = Instant::now();
    record_pushes(500_000);
    let took = started.elapsed();
    std::thread::sleep(uprelay::metrics::UPKEEP_INTERVAL * 2);
    let after = rss();
    println!(
        "metrics recorder, 500,000 pushes in {:.1} s without a scrape: RSS {:.1} → {:.1} MiB ({:+.2} MiB; {} upkeeps)",
        took.as_secs_f64(),
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        (after as f64 - before as f64) / 1048576.0,
        uprelay::metrics::upkeeps()
    );
}

struct Figures {
    bin: PathBuf,
    dir: PathBuf,
    seq: usize,
}

/// A relay (embedded store) and its emulator.
struct Setup {
    _emulator: ChildProc,
    emulator_url: String,
    _relay: ChildProc,
    relay_url: String,
    http: reqwest::Client,
}

impl Setup {
    async fn endpoints(&self, n: usize) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for i in 0..n {
            let dev: Value = self
                .http
                .post(format!("{}/v1/devices", self.relay_url))
                .json(&json!({ "fcm_token": format!("figures-{i}:APA91b{}", "x".repeat(140)) }))
                .send()
                .await?
                .json()
                .await?;
            let secret = dev["secret"].as_str().context("device secret")?;
            let reg: Value = self
                .http
                .post(format!("{}/v1/devices/{}/registrations", self.relay_url, dev["device_id"].as_str().context("device id")?))
                .bearer_auth(secret)
                .json(&json!({ "instance": "app" }))
                .send()
                .await?
                .json()
                .await?;
            out.push(reg["endpoint"].as_str().context("endpoint")?.to_owned());
        }
        Ok(out)
    }

    async fn fault(&self, fault: Value) -> anyhow::Result<()> {
        let r = self.http.post(format!("{}/emulator/faults", self.emulator_url)).json(&fault).send().await?;
        if !r.status().is_success() {
            bail!("fault {fault} refused: {}", r.status());
        }
        Ok(())
    }

    /// One push; its status and how long it took.
    async fn push(&self, endpoint: &str) -> anyhow::Result<(u16, Duration)> {
        let started = Instant::now();
        let r = self.http.post(endpoint).header("TTL", "600").body(vec![b'x'; 256]).send().await?;
        Ok((r.status().as_u16(), started.elapsed()))
    }

    async fn metric(&self, series: &str) -> anyhow::Result<f64> {
        let text = self.http.get(format!("{}/metrics", self.relay_url)).send().await?.text().await?;
        Ok(text.lines().filter_map(|l| l.rsplit_once(' ')).filter(|(k, _)| *k == series).filter_map(|(_, v)| v.parse::<f64>().ok()).sum())
    }
}

impl Figures {
    /// An emulator (`emulator_args` added) and a relay on it (`extra` TOML appended).
    async fn start(&mut self, emulator_args: &[&str], fcm: &str, extra: &str) -> anyhow::Result<Setup> {
        self.seq += 1;
        let dir = self.dir.join(format!("figures-{}", self.seq));
        std::fs::create_dir_all(&dir)?;
        let credentials = dir.join("credentials.json");
        let port = procs::free_port()?;
        let mut cmd = Command::new(&self.bin);
        cmd.args(["emulator", "--listen", &format!("127.0.0.1:{port}"), "--project", PROJECT, "--keep", "0"])
            .args(emulator_args)
            .arg("--write-credentials")
            .arg(&credentials);
        let mut emulator = ChildProc::spawn(&format!("figures-emulator-{}", self.seq), cmd, &dir)?;
        let emulator_url = format!("http://127.0.0.1:{port}");
        emulator.wait_ready(&format!("{emulator_url}/emulator/stats"), Duration::from_secs(60)).await?;
        let port = procs::free_port()?;
        let config = dir.join("uprelay.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\n\n[store]\npath = {:?}\n\n[fcm]\napi_url = \"{emulator_url}\"\nhttp2_prior_knowledge = true\n{fcm}\n\n\
                 [[fcm.projects]]\nname = \"{PROJECT}\"\ncredentials = {:?}\n\n[webpush]\nenabled = false\n\n{extra}\n[log]\nlevel = \"warn\"\n",
                dir.join("data").display().to_string(),
                credentials.display().to_string(),
            ),
        )?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve").arg("--config").arg(&config).env_remove("RUST_LOG");
        let mut relay = ChildProc::spawn(&format!("figures-relay-{}", self.seq), cmd, &dir)?;
        let relay_url = format!("http://127.0.0.1:{port}");
        relay.wait_ready(&format!("{relay_url}/healthz"), Duration::from_secs(60)).await?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).pool_max_idle_per_host(600).build()?;
        Ok(Setup { _emulator: emulator, emulator_url, _relay: relay, relay_url, http })
    }

    async fn many_in_flight(&mut self) -> anyhow::Result<()> {
        let s = self
            .start(
                &["--latency-ms", "50"],
                "",
                "[limits]\npush_rate_per_second = 0\ndevice_create_per_minute = 0\nmax_connections_per_ip = 1000000\nmax_requests_per_client = 1000000\n",
            )
            .await?;
        let endpoints = s.endpoints(50).await?;
        let started = Instant::now();
        let results = futures::future::join_all((0..500).map(|i| s.push(&endpoints[i % endpoints.len()]))).await;
        let took = started.elapsed();
        let created = results.iter().filter(|r| matches!(r, Ok((201, _)))).count();
        if created != 500 {
            let other: Vec<String> = results.iter().filter(|r| !matches!(r, Ok((201, _)))).take(3).map(|r| format!("{r:?}")).collect();
            bail!("only {created} of 500 pushes answered 201 (first others: {other:?})");
        }
        let peak = s.metric("uprelay_fcm_sends_in_flight_max").await?;
        println!("500 pushes at once, FCM 50 ms away: {created} × 201 in {:.2} s; relay peak {peak} sends in flight", took.as_secs_f64());
        Ok(())
    }

    async fn breaker(&mut self) -> anyhow::Result<()> {
        let s = self
            .start(
                &[],
                "timeout_ms = 1000",
                "[limits]\npush_rate_per_second = 0\ndevice_create_per_minute = 0\n\n\
                 [queue]\nlease_ms = 3000\npoll_ms = 50\ninitial_backoff_ms = 200\nmax_backoff_ms = 1000\nbreaker_threshold = 3\nbreaker_cooldown_ms = 10000\n",
            )
            .await?;
        let endpoints = s.endpoints(4).await?;
        s.fault(json!({ "delay_ms": 3000 })).await?;
        let mut ms = Vec::new();
        for i in 0..12 {
            let (status, took) = s.push(&endpoints[i % endpoints.len()]).await?;
            ms.push(format!("{}{}", took.as_millis(), if status == 201 { "" } else { "!" }));
        }
        println!("push latencies (ms) while FCM hangs (3 s answers, 1 s timeout, breaker after 3): {}", ms.join(" "));
        Ok(())
    }

    async fn shedding(&mut self) -> anyhow::Result<()> {
        let s =
            self.start(&[], "", "[limits]\npush_rate_per_second = 0\ndevice_create_per_minute = 0\nmax_concurrent_requests = 2\n").await?;
        let endpoints = s.endpoints(6).await?;
        s.fault(json!({ "delay_ms": 1000 })).await?;
        let results = futures::future::join_all((0..12).map(|i| s.push(&endpoints[i % endpoints.len()]))).await;
        let shed: Vec<u128> =
            results.iter().filter_map(|r| r.as_ref().ok()).filter(|(st, _)| *st == 503).map(|(_, d)| d.as_millis()).collect();
        let admitted = results.iter().filter(|r| matches!(r, Ok((201, _)))).count();
        println!(
            "load shedding (2 at once, FCM 1 s away), 12 pushes: {admitted} × 201, {} × 503 answered in at most {} ms",
            shed.len(),
            shed.iter().max().copied().unwrap_or(0)
        );
        Ok(())
    }
}
