//! `uprelay-bench`: one command that measures uprelay on this machine.
//!
//! It starts a private `redis-server`, the FCM emulator (`--keep 0`: counts, keeps nothing)
//! and `uprelay serve` (limiters off, log level warn) as child processes; pre-loads R
//! registrations straight into the store; drives C keep-alive HTTP/1.1 connections posting
//! B-byte bodies with `TTL: 60` to random endpoints for T seconds after a warm-up; and prints
//! pushes/s, latency percentiles, non-201 responses, uprelay's peak RSS and CPU per push, and
//! the emulator's accepted count (which must equal the 201 count, or the bench exits 1).
//! A bare axum handler (`uprelay-bench bare-server`) under the same load gives the ceiling.
//! `--scale` compares R = 10^4 with R = 10^6 on Redis (memory per registration, p99 ratio);
//! `--compare A B` benches two uprelay binaries at the same time (see `compare.rs`).
//! `--realistic` adds, in the same invocation, the production-shaped profile
//! (FCM 40 ± 20 ms away, Google-sized access tokens, C = 2048) and a run with 52-character
//! tokens, and judges the realistic targets (see `profile.rs`).
//! `--webpush` adds runs with every device on the Web Push road beside the default Redis run,
//! and compares their CPU per push with the FCM v1 road's (see `webpush.rs`).

mod bare;
mod compare;
mod load;
mod preload;
mod procs;
mod profile;
mod sysstat;
mod webpush;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use http::{HeaderMap, HeaderValue, Uri};
use uprelay::store::{EmbeddedStore, RedisStore, Store};

use crate::load::{LoadResult, LoadSpec, Window};
use crate::procs::ChildProc;
use crate::profile::{FcmLatency, Profile};

/// Firebase project the emulator plays.
const PROJECT: &str = "bench-project";

/// The default profile's targets: throughput, latency and memory of one small host.
const TARGET_RPS: f64 = 15_000.0;
const TARGET_P99_MS: f64 = 20.0;
const TARGET_CEILING_PCT: f64 = 30.0;
const TARGET_CPU_US: f64 = 70.0;
const TARGET_RSS_MIB: f64 = 40.0;
const TARGET_VAPID_PCT: f64 = 80.0;
const TARGET_EMBEDDED_PCT: f64 = 80.0;
const TARGET_BYTES_PER_REG: f64 = 250.0;
const TARGET_P99_RATIO: f64 = 1.10;

#[derive(Parser, Debug)]
#[command(name = "uprelay-bench", about = "Load benchmark of uprelay (see bench/README.md)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    opts: Opts,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// The ceiling: an axum handler that only reads the body and answers 201.
    BareServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StoreChoice {
    Redis,
    Embedded,
    Both,
}

#[derive(clap::Args, Debug, Clone)]
struct Opts {
    /// Store(s) to measure.
    #[arg(long, value_enum, default_value = "both")]
    store: StoreChoice,
    /// Skip the VAPID-restricted runs (measured by default: a sender that signs its JWT
    /// once and reuses it).
    #[arg(long)]
    no_vapid: bool,
    /// Accepted for compatibility; VAPID runs are on by default.
    #[arg(long, hide = true)]
    vapid: bool,
    /// Concurrent keep-alive connections.
    #[arg(short = 'c', long, default_value_t = 64)]
    connections: usize,
    /// Body size in bytes (1..=4096).
    #[arg(short = 'b', long, default_value_t = 1024)]
    body_size: usize,
    /// Measured seconds per run.
    #[arg(short = 't', long, default_value_t = 15.0)]
    duration: f64,
    /// Registrations pre-loaded (one device each).
    #[arg(short = 'r', long, default_value_t = 10_000)]
    registrations: usize,
    /// Seconds of load before measuring (not counted in throughput, latency or CPU).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Scale mode: Redis at R = -r versus R = --scale-r (memory per registration, p99 ratio).
    #[arg(long)]
    scale: bool,
    /// Registrations of the large scale run.
    #[arg(long, default_value_t = 1_000_000)]
    scale_r: usize,
    /// Tokio threads of the load generator (1 = current-thread runtime, the cheapest).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Let uprelay speak HTTP/1.1 to the emulator instead of h2c (FCM itself speaks HTTP/2).
    #[arg(long)]
    fcm_http1: bool,
    /// Skip the bare-handler ceiling runs.
    #[arg(long)]
    no_bare: bool,
    /// Use this uprelay binary (no cargo build).
    #[arg(long)]
    uprelay_bin: Option<PathBuf>,
    /// Do not run `cargo build --release -p uprelay` first.
    #[arg(long)]
    no_build: bool,
    /// redis-server binary.
    #[arg(long, default_value = "redis-server")]
    redis_server: String,
    /// Run Redis with its stock settings instead of the `hash-max-listpack-value` that
    /// deploy/ recommends (device hashes hold a 163-byte FCM token).
    #[arg(long)]
    redis_stock: bool,
    /// Parent of the bench's temporary directory (embedded store, configs, logs).
    #[arg(long)]
    tmp_dir: Option<PathBuf>,
    /// Store operations in flight while pre-loading into Redis.
    #[arg(long, default_value_t = 256)]
    preload_concurrency: usize,
    /// Compare two uprelay binaries: both benched at the same time (same host phase),
    /// `--rounds` times, one store (`--store`; both means redis), unrestricted endpoints.
    #[arg(long, num_args = 2, value_names = ["BIN_A", "BIN_B"], conflicts_with_all = ["scale", "uprelay_bin"])]
    compare: Option<Vec<PathBuf>>,
    /// Rounds of `--compare` (1..=20).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=20))]
    rounds: u64,
    /// Also write each run's figures to this file as JSON (an array, one object per run).
    #[arg(long, value_name = "PATH")]
    report_json: Option<PathBuf>,
    /// FCM's distance in the default profile: the emulator answers every send after N ± J
    /// ms (uniform). `40,20` is the realistic profile's.
    #[arg(long, value_name = "N[,J]", default_value = "0", value_parser = profile::parse_latency)]
    fcm_latency: FcmLatency,
    /// Length of the emulator's access tokens in the default profile (16–4096; Google's are
    /// about a kilobyte, the emulator's default).
    #[arg(long, default_value_t = uprelay_emulator::DEFAULT_TOKEN_BYTES, value_parser = profile::parse_token_bytes)]
    token_bytes: usize,
    /// With `--compare`: side A's emulator hands out tokens of this length instead of
    /// `--token-bytes` (`--compare X X --token-bytes-a 52` measures what Google-sized tokens
    /// cost, both sides at once, which one run after another cannot resolve).
    #[arg(long, value_name = "N", requires = "compare", value_parser = profile::parse_token_bytes)]
    token_bytes_a: Option<usize>,
    /// Also run, in this invocation, the default profile with 52-character tokens and the
    /// realistic profile (Redis, FCM 40 ± 20 ms, Google-sized tokens, C = 2048, B = 1024),
    /// and judge the realistic targets.
    #[arg(long, conflicts_with_all = ["scale", "compare"])]
    realistic: bool,
    /// Connections of the realistic profile (2048; smaller only to test the bench itself).
    #[arg(long, default_value_t = profile::REALISTIC_CONNECTIONS, hide = true)]
    realistic_c: usize,
    /// Share of the default run's pushes/s the open-loop realistic run offers, in percent
    /// (the realistic target is judged at 90; lower values show the latency with headroom).
    #[arg(long, default_value_t = 90.0, value_parser = profile::parse_share)]
    realistic_open_pct: f64,
    /// uprelay's `[fcm] connections` (its own default when absent).
    #[arg(long)]
    fcm_connections: Option<usize>,
    /// Also run, right after the default Redis run, the same load with every device on the
    /// Web Push road (ECDH results reused as uprelay does by default, and not at all), and
    /// compare the roads' CPU per push.
    #[arg(long, conflicts_with_all = ["scale", "compare"])]
    webpush: bool,
}

fn main() {
    let cli = Cli::parse();
    if let Some(Sub::BareServer { listen }) = cli.command {
        if let Err(e) = bare::run(listen) {
            eprintln!("uprelay-bench bare-server: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    // block_on runs the bench on the main thread, which is where children are spawned
    // (PR_SET_PDEATHSIG is tied to the spawning thread).
    let code = rt.block_on(async {
        procs::install_cleanup_handlers();
        match bench(cli.opts).await {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                eprintln!("uprelay-bench: {e:#}");
                2
            }
        }
    });
    procs::cleanup_and_exit(code);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Bare,
    Redis,
    Embedded,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Bare => "bare",
            Target::Redis => "redis",
            Target::Embedded => "embedded",
        }
    }
}

/// Everything measured in one run.
#[derive(Debug, Clone)]
struct RunReport {
    label: String,
    target: Target,
    vapid: bool,
    registrations: usize,
    rps: f64,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    rss_hwm_kib: Option<u64>,
    cpu_us_per_push: Option<f64>,
    load_generator_cpu_us: Option<f64>,
    total_201: u64,
    emulator_delta: Option<u64>,
    /// 201 count = emulator delta (always true for the bare run).
    check_ok: bool,
    redis_bytes_per_reg: Option<f64>,
    /// `Profile::name` of the run ("" for the default profile).
    profile: &'static str,
    connections: usize,
    fcm_latency: FcmLatency,
    token_bytes: usize,
    /// Answers other than 201 and transport errors in the measured window.
    non_201: u64,
    /// The most sends in flight at the emulator (FCM) at once.
    fcm_max_in_flight: Option<u64>,
    /// The most sends in flight at once as uprelay counts them (`/metrics`).
    relay_max_in_flight: Option<u64>,
    /// HTTP/2 connections uprelay opened to the emulator (FCM).
    fcm_connections: Option<u64>,
    /// uprelay's open file descriptors, most seen (sampled every 100 ms).
    peak_fds: Option<u64>,
    /// Open loop: the pushes/s offered.
    offered_rate: Option<f64>,
    /// 503 answers over the whole run, and those of them without `Retry-After`.
    shed: u64,
    /// Answers other than 201 and 503 over the whole run, transport errors and abandoned
    /// requests included.
    other_failures: u64,
    shed_without_retry_after: u64,
    /// `fcm.connections` and `limits.max_concurrent_requests` when the profile set them.
    fcm_connections_limit: Option<usize>,
    max_concurrent: Option<usize>,
}

/// Shared pieces of a bench invocation.
struct Env {
    opts: Opts,
    dir: PathBuf,
    uprelay_bin: PathBuf,
    redis: Option<(ChildProc, String)>,
    bodies: Vec<bytes::Bytes>,
    http: reqwest::Client,
    run_seq: usize,
}

/// The FCM emulator of one relay run: its own process, so that its latency and token size
/// are the run's profile's, and its gauges (most sends in flight, connections) the run's.
struct Fcm {
    proc: ChildProc,
    url: String,
    credentials: PathBuf,
}

async fn bench(opts: Opts) -> anyhow::Result<bool> {
    if opts.body_size == 0 || opts.body_size > 4096 {
        bail!("-b must be within 1..=4096 (uprelay's Web Push limit)");
    }
    if opts.connections == 0
        || opts.registrations == 0
        || opts.duration.is_nan()
        || opts.duration <= 0.0
        || opts.warmup.is_nan()
        || opts.warmup < 0.0
    {
        bail!("-c, -r and -t must be positive, --warmup non-negative");
    }
    if opts.duration > 3600.0 || opts.warmup > 600.0 {
        bail!("-t is capped at 3600 s and --warmup at 600 s");
    }
    let dir = procs::temp_dir(opts.tmp_dir.as_deref())?;
    if let Some([a, b]) = opts.compare.as_deref() {
        return compare::run(&opts, a, b, &dir).await;
    }
    let uprelay_bin = procs::locate_uprelay(opts.uprelay_bin.as_deref(), opts.no_build)?;
    let stores: Vec<Target> = if opts.scale {
        vec![Target::Redis]
    } else {
        match opts.store {
            StoreChoice::Redis => vec![Target::Redis],
            StoreChoice::Embedded => vec![Target::Embedded],
            StoreChoice::Both => vec![Target::Redis, Target::Embedded],
        }
    };

    print_header(&opts, &uprelay_bin);
    // C = 2048 connections are 2048 descriptors in the load generator and as many in
    // uprelay (which inherits the limit): raise the soft limit to the hard one.
    if let Some((before, after)) = procs::raise_nofile_limit() {
        if before != after {
            println!("  RLIMIT_NOFILE raised from {before} to {after} (for the bench and its children)\n");
        }
    }

    let redis = if stores.contains(&Target::Redis) { Some(start_redis(&opts.redis_server, !opts.redis_stock, &dir).await?) } else { None };

    let mut env = Env {
        bodies: preload::random_bodies(64, opts.body_size),
        opts: opts.clone(),
        dir,
        uprelay_bin,
        redis,
        http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?,
        run_seq: 0,
    };

    let mut reports = Vec::new();
    let default = Profile::default_of(&opts);
    if opts.scale {
        // Small, large, small again: the host's speed drifts over a minute (the other
        // processes' CPU per push moves by 10-25 %), and bracketing the large run lets the
        // p99 ratio compare it with the mean of the runs on either side.
        for r in [opts.registrations, opts.scale_r, opts.registrations] {
            reports.push(run_relay(&mut env, &default, Target::Redis, false, r).await?);
        }
    } else {
        let ceiling = !opts.no_bare;
        if ceiling {
            reports.push(run_bare(&mut env, "bare").await?);
        }
        let modes: &[bool] = if opts.no_vapid { &[false] } else { &[false, true] };
        let mut bracketed = false;
        for &vapid in modes {
            for &store in &stores {
                reports.push(run_relay(&mut env, &default, store, vapid, opts.registrations).await?);
                // The host's speed drifts over minutes, and the ceiling run alone moves by
                // 10-25 % between runs: a second one right after the first relay run
                // brackets it, and the ratio is taken to the mean of the two.
                if ceiling && !bracketed {
                    bracketed = true;
                    reports.push(run_bare(&mut env, "bare-2").await?);
                }
                // Right after the default Redis run: the same load on the Web Push road, as
                // uprelay runs it by default and with an ECDH per push.
                if opts.webpush && store == Target::Redis && !vapid {
                    let reuse = uprelay::road::webpush::WebPushSettings::default().key_reuse_secs;
                    for key_reuse in [reuse, 0] {
                        reports.push(
                            run_relay(&mut env, &Profile::webpush(&opts, key_reuse), Target::Redis, false, opts.registrations).await?,
                        );
                    }
                }
                // Right after the default Redis run: the same load with short tokens (the
                // token's cost), then the realistic profile against that default run.
                if opts.realistic && store == Target::Redis && !vapid {
                    let short = Profile::short_tokens(&opts);
                    reports.push(run_relay(&mut env, &short, Target::Redis, false, opts.registrations).await?);
                    let realistic = Profile::realistic(&opts);
                    reports.push(run_relay(&mut env, &realistic, Target::Redis, false, opts.registrations).await?);
                    let default_rps = reports.iter().find(|x| x.target == Target::Redis && x.profile.is_empty()).map_or(1.0, |x| x.rps);
                    let open = Profile::realistic_open(&opts, default_rps);
                    reports.push(run_relay(&mut env, &open, Target::Redis, false, opts.registrations).await?);
                    reports.push(run_relay(&mut env, &Profile::overload(&opts), Target::Redis, false, opts.registrations).await?);
                }
            }
        }
    }
    let all_ok = summary(&opts, &reports);
    if !opts.scale {
        profile::targets(&opts, &reports);
        webpush::targets_table(&reports);
    }
    if let Some(path) = &opts.report_json {
        write_report_json(path, &reports)?;
    }
    Ok(all_ok)
}

/// `--report-json`: the runs' figures for scripts (and for `--compare`, which reads them).
fn write_report_json(path: &Path, reports: &[RunReport]) -> anyhow::Result<()> {
    let runs: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            serde_json::json!({
                "run": r.label,
                "registrations": r.registrations,
                "pushes_per_second": r.rps,
                "p50_ms": r.p50_us as f64 / 1000.0,
                "p99_ms": r.p99_us as f64 / 1000.0,
                "p999_ms": r.p999_us as f64 / 1000.0,
                "max_ms": r.max_us as f64 / 1000.0,
                "cpu_us_per_push": r.cpu_us_per_push,
                "load_generator_cpu_us": r.load_generator_cpu_us,
                "peak_rss_kib": r.rss_hwm_kib,
                "responses_201": r.total_201,
                "emulator_accepted": r.emulator_delta,
                "check_ok": r.check_ok,
                "redis_bytes_per_registration": r.redis_bytes_per_reg,
                "profile": r.profile,
                "connections": r.connections,
                "fcm_latency_ms": r.fcm_latency.ms,
                "fcm_jitter_ms": r.fcm_latency.jitter,
                "token_bytes": r.token_bytes,
                "non_201": r.non_201,
                "fcm_max_in_flight": r.fcm_max_in_flight,
                "relay_max_in_flight": r.relay_max_in_flight,
                "fcm_connections_opened": r.fcm_connections,
                "peak_open_fds": r.peak_fds,
                "offered_rate": r.offered_rate,
                "responses_503": r.shed,
                "responses_503_without_retry_after": r.shed_without_retry_after,
                "fcm_connections_limit": r.fcm_connections_limit,
                "max_concurrent_requests": r.max_concurrent,
            })
        })
        .collect();
    let text = serde_json::to_string_pretty(&runs)? + "\n";
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn print_header(opts: &Opts, bin: &Path) {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok()))
        .unwrap_or(0);
    println!("uprelay-bench");
    println!("  machine: {cores} cores, {:.1} GiB; uprelay binary {}", mem_kib as f64 / 1048576.0, bin.display());
    println!(
        "  load: C={} connections (HTTP/1.1 keep-alive, {} client thread(s)), B={} bytes, TTL: 60, T={} s measured after {} s warm-up, random endpoints",
        opts.connections, opts.client_threads, opts.body_size, opts.duration, opts.warmup
    );
    println!(
        "  uprelay → emulator: {}; emulator --keep 0 (one per relay run); limiters off; log level warn{}",
        if opts.fcm_http1 { "HTTP/1.1 pool" } else { "h2c (prior knowledge)" },
        opts.fcm_connections.map(|n| format!("; fcm.connections = {n}")).unwrap_or_default()
    );
    println!("  default profile: FCM latency {}, access tokens of {} characters", opts.fcm_latency, opts.token_bytes);
    if opts.realistic {
        let r = Profile::realistic(opts);
        println!(
            "  --realistic: also the default profile with 52-character tokens, and Redis at C={} B={} with FCM latency {} and {}-character tokens",
            r.connections, r.body_size, r.latency, r.token_bytes
        );
    }
    println!(
        "  redis-server: {}",
        if opts.redis_stock {
            "stock settings (--redis-stock)".to_owned()
        } else {
            format!("{} (as deploy/ recommends; --redis-stock for Redis defaults)", redis_recommended().join(" "))
        }
    );
    if cfg!(debug_assertions) || bin.components().any(|c| c.as_os_str() == "debug") {
        println!(
            "  NOTE: a debug build is involved (bench or uprelay): the figures mean nothing; use `cargo run --release -p uprelay-bench`"
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("  load average before start: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    println!();
}

/// Child processes must not inherit settings meant for someone else.
fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k.starts_with("UPRELAY_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
    }
}

/// What deploy/ recommends (and uprelay warns about): device hashes, whose FCM token is
/// ~163 bytes, stay in Redis' compact listpack encoding instead of a hash table.
fn redis_recommended() -> [String; 2] {
    ["--hash-max-listpack-value".to_owned(), uprelay::store::RECOMMENDED_LISTPACK_VALUE.to_string()]
}

async fn start_redis(bin: &str, recommended: bool, dir: &Path) -> anyhow::Result<(ChildProc, String)> {
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
async fn redis_conn(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(120)));
    Ok(redis::Client::open(url)?.get_multiplexed_async_connection_with_config(&config).await?)
}

async fn redis_used_memory(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    info.lines().find_map(|l| l.strip_prefix("used_memory:")).and_then(|v| v.trim().parse().ok()).context("INFO memory has no used_memory")
}

async fn emulator_stats(env: &Env, url: &str) -> anyhow::Result<serde_json::Value> {
    Ok(env.http.get(format!("{url}/emulator/stats")).send().await?.error_for_status()?.json().await?)
}

async fn emulator_accepted(env: &Env, url: &str) -> anyhow::Result<u64> {
    emulator_stats(env, url).await?["accepted"].as_u64().context("emulator stats lack \"accepted\"")
}

fn header_map(host: &str, authorization: Option<&str>) -> anyhow::Result<HeaderMap> {
    let mut h = HeaderMap::new();
    h.insert(http::header::HOST, HeaderValue::from_str(host)?);
    h.insert("ttl", HeaderValue::from_static("60"));
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(http::header::CONTENT_ENCODING, HeaderValue::from_static("aes128gcm"));
    if let Some(a) = authorization {
        h.insert(http::header::AUTHORIZATION, HeaderValue::from_str(a)?);
    }
    Ok(h)
}

fn paths(ids: &[String]) -> anyhow::Result<Vec<Uri>> {
    ids.iter().map(|id| Ok(Uri::try_from(format!("/up/{id}"))?)).collect()
}

/// Results of the load plus CPU per watched process over the measured window.
struct Measured {
    load: LoadResult,
    /// Most open file descriptors of the first watched process (sampled every 100 ms).
    peak_fds: Option<u64>,
    /// Seconds of the measured window.
    secs: f64,
    /// (name, (user s, system s)) of each watched process over the sample interval.
    cpu_secs: Vec<(String, Option<(f64, f64)>)>,
    /// Seconds between the two CPU samples.
    sample_secs: f64,
    machine_busy_pct: Option<f64>,
}

/// How the bench's own process (which drives the load) is named in the CPU figures.
const LOAD_GENERATOR: &str = "load generator";

/// Drive the load and sample CPU of `watched` (and of the bench itself) around the window.
async fn measure(env: &Env, spec: LoadSpec, watched: Vec<(String, u32)>) -> anyhow::Result<Measured> {
    let o = &env.opts;
    let start = Instant::now() + Duration::from_millis(50);
    let measure_start = start + Duration::from_secs_f64(o.warmup);
    let measure_end = measure_start + Duration::from_secs_f64(o.duration);
    let window = Window { measure_start, measure_end, hard_end: measure_end + Duration::from_secs(20) };
    let mut names: Vec<String> = watched.iter().map(|(n, _)| n.clone()).collect();
    let mut pids: Vec<u32> = watched.iter().map(|(_, p)| *p).collect();
    names.push(LOAD_GENERATOR.into());
    pids.push(std::process::id());

    let monitor = std::thread::spawn(move || {
        let sleep_until = |t: Instant| {
            let now = Instant::now();
            if t > now {
                std::thread::sleep(t - now);
            }
        };
        sleep_until(measure_start);
        let (t0, s0) = (Instant::now(), sysstat::sample(&pids));
        sleep_until(measure_end);
        let (t1, s1) = (Instant::now(), sysstat::sample(&pids));
        (t1.duration_since(t0).as_secs_f64(), s0, s1)
    });
    let fd_pid = watched.first().map(|(_, p)| *p);
    let fds = std::thread::spawn(move || {
        let mut peak = None;
        while Instant::now() < measure_end {
            if let Some(n) = fd_pid.and_then(sysstat::open_fds) {
                peak = Some(peak.unwrap_or(0).max(n));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        peak
    });
    let spec = Arc::new(spec);
    let loader = std::thread::spawn(move || load::run(spec, window));
    let (load, mon, peak_fds) = tokio::task::spawn_blocking(move || (loader.join(), monitor.join(), fds.join())).await?;
    let peak_fds = peak_fds.unwrap_or(None);
    let load = load.map_err(|_| anyhow::anyhow!("load generator panicked"))?;
    let (sample_secs, s0, s1) = mon.map_err(|_| anyhow::anyhow!("CPU monitor panicked"))?;
    let tck = sysstat::clk_tck() as f64;
    let cpu_secs = names
        .into_iter()
        .zip(s0.procs.iter().zip(s1.procs.iter()))
        .map(|(n, (a, b))| {
            let d = match (a, b) {
                (Some(a), Some(b)) => Some((b.0.saturating_sub(a.0) as f64 / tck, b.1.saturating_sub(a.1) as f64 / tck)),
                _ => None,
            };
            (n, d)
        })
        .collect();
    let machine_busy_pct = match (s0.machine, s1.machine) {
        (Some(a), Some(b)) if b.1 > a.1 => {
            let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
            Some((b.0 - a.0) as f64 / (b.1 - a.1) as f64 * 100.0 * cores)
        }
        _ => None,
    };
    Ok(Measured { load, peak_fds, secs: o.duration, cpu_secs, sample_secs, machine_busy_pct })
}

fn ms(us: u64) -> String {
    if us >= 100_000 {
        format!("{:.0} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} ms", us as f64 / 1000.0)
    }
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let head = s.len() % 3;
    let mut parts: Vec<&str> = Vec::new();
    if head > 0 {
        parts.push(&s[..head]);
    }
    parts.extend(s.as_bytes()[head..].chunks(3).map(|c| std::str::from_utf8(c).unwrap_or("")));
    parts.join(",")
}

/// What [`print_measured`] printed, for the run's report.
struct Printed {
    rps: f64,
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
    /// CPU µs per response of the server under test.
    server_cpu: Option<f64>,
    /// CPU µs per response of the load generator (this process): a fixed amount of work
    /// per request, so it shows how fast the host runs at the moment.
    load_generator_cpu: Option<f64>,
}

/// Print one run's figures: throughput, latency, non-201 responses, and the CPU per response
/// of `server` and of every other watched process.
fn print_measured(m: &Measured, server: &str) -> Printed {
    let l = &m.load;
    let ok = l.measured_of(201);
    let rps = ok as f64 / m.secs;
    let h = &l.hist;
    let (p50, p99, p999, max) = (h.value_at_quantile(0.50), h.value_at_quantile(0.99), h.value_at_quantile(0.999), h.max());
    println!("  throughput   {} pushes/s  ({} × 201 in {:.1} s)", group(rps.round() as u64), group(ok), m.secs);
    println!("  latency      p50 {}   p99 {}   p99.9 {}   max {}", ms(p50), ms(p99), ms(p999), ms(max));
    let others = l.other_statuses(201, false);
    if others.is_empty() {
        println!("  non-201      0");
    } else {
        let list: Vec<String> = others.iter().map(|(s, n)| format!("{s} × {}", group(*n))).collect();
        println!("  non-201      {}  (in the window)", list.join(", "));
        for (s, body) in &l.samples {
            println!("               e.g. {s}: {body}");
        }
    }
    if l.transport_errors > 0 || l.abandoned > 0 {
        println!(
            "  transport    {} errors, {} connections abandoned at the deadline; first: {}",
            l.transport_errors,
            l.abandoned,
            l.first_error.as_deref().unwrap_or("-")
        );
    }
    let done = l.measured.iter().sum::<u64>().max(1) as f64 / m.secs;
    let mut server_cpu = None;
    let mut load_generator_cpu = None;
    let mut parts = Vec::new();
    for (name, cpu) in &m.cpu_secs {
        if let Some((u, s)) = cpu {
            // Scale the CPU seconds to the measured window, then divide by responses.
            let per = |x: f64| x / m.sample_secs * m.secs / (done * m.secs) * 1e6;
            if name == server {
                server_cpu = Some(per(u + s));
                println!(
                    "  {server:<12} CPU {:.1} µs/push (user {:.1} + sys {:.1}), {:.0} % of one core",
                    per(u + s),
                    per(*u),
                    per(*s),
                    (u + s) / m.sample_secs * 100.0
                );
            } else {
                if name == LOAD_GENERATOR {
                    load_generator_cpu = Some(per(u + s));
                }
                parts.push(format!("{name} {:.1} µs ({:.0} %)", per(u + s), (u + s) / m.sample_secs * 100.0));
            }
        }
    }
    let ours: f64 = m.cpu_secs.iter().filter_map(|(_, c)| c.map(|(u, s)| u + s)).sum::<f64>() / m.sample_secs * 100.0;
    let busy = m
        .machine_busy_pct
        .map(|b| {
            let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            format!("; machine busy {b:.0} % of {} % (other processes {:.0} %)", 100 * cores, (b - ours).max(0.0))
        })
        .unwrap_or_default();
    println!("  other CPU    per response: {}{busy}", parts.join(", "));
    Printed { rps, p50, p99, p999, max, server_cpu, load_generator_cpu }
}

async fn run_bare(env: &mut Env, label: &str) -> anyhow::Result<RunReport> {
    let o = env.opts.clone();
    println!("== bare axum handler (the ceiling, {label}): C={} B={} T={} s", o.connections, o.body_size, o.duration);
    let port = procs::free_port()?;
    let exe = std::env::current_exe().context("current_exe")?;
    let mut cmd = Command::new(exe);
    cmd.args(["bare-server", "--listen", &format!("127.0.0.1:{port}")]);
    let mut child = ChildProc::spawn("bare-server", cmd, &env.dir)?;
    child.wait_tcp(&format!("127.0.0.1:{port}"), Duration::from_secs(30)).await?;
    let host = format!("127.0.0.1:{port}");
    let spec = LoadSpec {
        addr: host.parse()?,
        paths: paths(&preload::fake_endpoints(o.registrations.min(100_000)))?,
        bodies: env.bodies.clone(),
        headers: header_map(&host, None)?,
        connections: o.connections,
        threads: o.client_threads,
        rate: None,
    };
    let m = measure(env, spec, vec![("bare-server".into(), child.pid())]).await?;
    child.check_running()?;
    let rss = sysstat::proc_status_kib(child.pid(), "VmHWM");
    let printed = print_measured(&m, "bare-server");
    if let Some(kib) = rss {
        println!("  bare-server  peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    println!();
    drop(child);
    Ok(RunReport {
        label: label.into(),
        target: Target::Bare,
        vapid: false,
        registrations: 0,
        rps: printed.rps,
        p50_us: printed.p50,
        p99_us: printed.p99,
        p999_us: printed.p999,
        max_us: printed.max,
        rss_hwm_kib: rss,
        cpu_us_per_push: printed.server_cpu,
        load_generator_cpu_us: printed.load_generator_cpu,
        total_201: m.load.total_of(201),
        emulator_delta: None,
        check_ok: true,
        redis_bytes_per_reg: None,
        profile: "",
        connections: o.connections,
        fcm_latency: FcmLatency::default(),
        token_bytes: 0,
        non_201: m.load.non_201(),
        fcm_max_in_flight: None,
        relay_max_in_flight: None,
        fcm_connections: None,
        peak_fds: m.peak_fds,
        offered_rate: None,
        shed: m.load.total_of(503),
        other_failures: m.load.failures_beside_shedding(),
        shed_without_retry_after: m.load.unavailable_without_retry_after,
        fcm_connections_limit: None,
        max_concurrent: None,
    })
}

/// One unlabelled series of uprelay's `/metrics`.
async fn relay_metric(env: &Env, origin: &str, name: &str) -> Option<f64> {
    let text = env.http.get(format!("{origin}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Start the emulator of one relay run, with `profile`'s latency and token size: counts
/// accepted messages, keeps none.
async fn start_emulator(env: &Env, profile: &Profile) -> anyhow::Result<Fcm> {
    let port = procs::free_port()?;
    let credentials = env.dir.join(format!("service-account-{}.json", env.run_seq));
    let mut cmd = Command::new(&env.uprelay_bin);
    cmd.args(["emulator", "--listen", &format!("127.0.0.1:{port}"), "--project", PROJECT, "--keep", "0"])
        .args(["--latency-ms", &profile.latency.ms.to_string(), "--jitter-ms", &profile.latency.jitter.to_string()])
        .args(["--token-bytes", &profile.token_bytes.to_string()])
        .arg("--write-credentials")
        .arg(&credentials);
    clean_env(&mut cmd);
    let mut proc = ChildProc::spawn(&format!("emulator-{}", env.run_seq), cmd, &env.dir)?;
    let url = format!("http://127.0.0.1:{port}");
    proc.wait_ready(&format!("{url}/emulator/stats"), Duration::from_secs(60)).await?;
    Ok(Fcm { proc, url, credentials })
}

/// The Web Push targets of a `--webpush` run's devices (None: the FCM v1 road's tokens).
async fn webpush_targets(
    env: &Env,
    profile: &Profile,
    store: &dyn Store,
    emulator_url: &str,
    r: usize,
) -> anyhow::Result<Option<Arc<Vec<uprelay::target::Target>>>> {
    if profile.webpush_key_reuse.is_none() {
        return Ok(None);
    }
    Ok(Some(Arc::new(webpush::targets(store, emulator_url, &env.http, r).await?)))
}

async fn run_relay(env: &mut Env, profile: &Profile, target: Target, vapid: bool, r: usize) -> anyhow::Result<RunReport> {
    let o = env.opts.clone();
    env.run_seq += 1;
    let label = format!("{}{}{}", target.name(), if vapid { "+vapid" } else { "" }, profile.suffix());
    println!(
        "== uprelay, {} store, {} endpoints{}: R={} C={}{} B={} T={} s; FCM latency {}, {}-character access tokens{}",
        target.name(),
        if vapid { "VAPID-restricted" } else { "unrestricted" },
        if profile.name.is_empty() { String::new() } else { format!(", {} profile", profile.name) },
        group(r as u64),
        profile.connections,
        profile.rate.map(|r| format!(" open loop at {}/s", group(r.round() as u64))).unwrap_or_default(),
        profile.body_size,
        o.duration,
        profile.latency,
        profile.token_bytes,
        match (profile.fcm_connections, profile.max_concurrent) {
            (None, None) => String::new(),
            (c, m) => format!(
                "; fcm.connections = {}, max_concurrent_requests = {}",
                c.map_or("default".into(), |c| c.to_string()),
                m.map_or("default".into(), |m| m.to_string())
            ),
        }
    );
    let mut fcm = start_emulator(env, profile).await?;
    let port = procs::free_port()?;
    let host = format!("127.0.0.1:{port}");
    let origin = format!("http://{host}");
    let sender = if vapid { Some(preload::VapidSender::generate()?) } else { None };
    let vapid_key = sender.as_ref().map(|s| s.key());

    // Pre-load, then point uprelay at the store.
    let started = Instant::now();
    let mut bytes_per_reg = None;
    let store_toml;
    let endpoints = match target {
        Target::Redis => {
            let url = env.redis.as_ref().map(|(_, u)| u.clone()).context("no redis-server")?;
            let mut conn = redis_conn(&url).await?;
            let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await?;
            let before = redis_used_memory(&mut conn).await?;
            let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&url).await?);
            let targets = webpush_targets(env, profile, &*store, &fcm.url, r).await?;
            let ids = preload::preload(store, r, PROJECT, vapid_key.clone(), targets, o.preload_concurrency, r >= 100_000).await?;
            let after = redis_used_memory(&mut conn).await?;
            let per = after.saturating_sub(before) as f64 / r as f64;
            bytes_per_reg = Some(per);
            println!(
                "  preload      {} registrations in {:.1} s; Redis used_memory +{:.1} MiB = {:.0} bytes/registration",
                group(r as u64),
                started.elapsed().as_secs_f64(),
                (after.saturating_sub(before)) as f64 / 1048576.0,
                per
            );
            store_toml = format!("[store]\nredis_url = \"{url}\"\n");
            ids
        }
        Target::Embedded => {
            let path = env.dir.join(format!("embedded-{}", env.run_seq));
            let ids = {
                let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&path)?);
                let targets = webpush_targets(env, profile, &*store, &fcm.url, r).await?;
                // redb serialises write transactions; a little concurrency keeps the pipe full.
                preload::preload(store, r, PROJECT, vapid_key.clone(), targets, 8, r >= 100_000).await?
            }; // the store (and its file lock) is closed here, before uprelay opens it
            let size = std::fs::metadata(path.join("uprelay.redb")).map(|m| m.len()).unwrap_or(0);
            println!(
                "  preload      {} registrations in {:.1} s; redb file {:.1} MiB",
                group(r as u64),
                started.elapsed().as_secs_f64(),
                size as f64 / 1048576.0
            );
            store_toml = format!("[store]\npath = {:?}\n", path.display().to_string());
            ids
        }
        Target::Bare => unreachable!(),
    };

    let fcm_connections = profile.fcm_connections.map(|n| format!("connections = {n}\n")).unwrap_or_default();
    let max_concurrent = profile.max_concurrent.map(|n| format!("max_concurrent_requests = {n}\n")).unwrap_or_default();
    let config = format!(
        "listen = \"{host}\"\n\n{store_toml}\n[fcm]\napi_url = \"{}\"\nhttp2_prior_knowledge = {}\n{fcm_connections}\n[[fcm.projects]]\nname = \"{PROJECT}\"\ncredentials = {:?}\n\n[limits]\npush_rate_per_second = 0\ndevice_create_per_minute = 0\nmax_connections_per_ip = 1000000\n{max_concurrent}\n[log]\nlevel = \"warn\"\n",
        fcm.url,
        !o.fcm_http1,
        fcm.credentials.display().to_string(),
    );
    let config = match profile.webpush_key_reuse {
        Some(reuse) => format!("{config}\n{}", webpush::settings_toml(&fcm.url, reuse)),
        None => config,
    };
    let config_path = env.dir.join(format!("uprelay-{}.toml", env.run_seq));
    // The load comes from one address: lift the per-client request bound too, on builds
    // that have it (a comparison may run one from before it existed).
    let lifted =
        config.replace("max_connections_per_ip = 1000000\n", "max_connections_per_ip = 1000000\nmax_requests_per_client = 1000000\n");
    std::fs::write(&config_path, &lifted)?;
    let mut check = Command::new(&env.uprelay_bin);
    check.arg("check-config").arg("--config").arg(&config_path);
    clean_env(&mut check);
    if !check.output().is_ok_and(|out| out.status.success()) {
        std::fs::write(&config_path, config)?;
    }
    let mut cmd = Command::new(&env.uprelay_bin);
    cmd.arg("serve").arg("--config").arg(&config_path);
    clean_env(&mut cmd);
    let mut relay = ChildProc::spawn(&format!("uprelay-{}", env.run_seq), cmd, &env.dir)?;
    relay.wait_ready(&format!("{origin}/readyz"), Duration::from_secs(60)).await?;
    // Resident memory before and after the load: nothing scrapes /metrics in between, so
    // growth here is what an unscraped relay keeps.
    let rss_before = sysstat::proc_status_kib(relay.pid(), "VmRSS");

    let authorization = match &sender {
        Some(s) => Some(s.authorization(&origin)?),
        None => None,
    };
    let spec = LoadSpec {
        addr: host.parse()?,
        paths: paths(&endpoints)?,
        bodies: if profile.body_size == o.body_size { env.bodies.clone() } else { preload::random_bodies(64, profile.body_size) },
        headers: header_map(&host, authorization.as_deref())?,
        connections: profile.connections,
        threads: o.client_threads,
        rate: profile.rate,
    };
    drop(endpoints);

    let mut watched = vec![("uprelay".to_string(), relay.pid()), ("emulator".to_string(), fcm.proc.pid())];
    if target == Target::Redis {
        if let Some((redis, _)) = &env.redis {
            watched.push(("redis".to_string(), redis.pid()));
        }
    }
    let emu_before = emulator_accepted(env, &fcm.url).await?;
    let m = measure(env, spec, watched).await?;
    relay.check_running()?;
    let rss = sysstat::proc_status_kib(relay.pid(), "VmHWM");
    let rss_after = sysstat::proc_status_kib(relay.pid(), "VmRSS");

    // Every 201 means FCM accepted the message (or it was queued for retry, which then
    // lands shortly): wait a little for the counts to meet.
    let total_201 = m.load.total_of(201);
    let mut emu_delta = emulator_accepted(env, &fcm.url).await?.saturating_sub(emu_before);
    let deadline = Instant::now() + Duration::from_secs(5);
    while emu_delta != total_201 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        emu_delta = emulator_accepted(env, &fcm.url).await?.saturating_sub(emu_before);
    }
    fcm.proc.check_running()?;
    let fcm_stats = emulator_stats(env, &fcm.url).await?;
    let fcm_max_in_flight = fcm_stats["max_sends_in_flight"].as_u64();
    let fcm_connections = fcm_stats["h2_connections_accepted"].as_u64();
    // The relay's own count: the emulator shares the cores and reads requests late, so its
    // peak undercounts the streams uprelay had open at once.
    let relay_max_in_flight = relay_metric(env, &origin, "uprelay_fcm_sends_in_flight_max").await.map(|v| v as u64);

    let printed = print_measured(&m, "uprelay");
    if let Some(kib) = rss {
        println!("  uprelay      peak RSS (VmHWM) {:.1} MiB", kib as f64 / 1024.0);
    }
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        println!(
            "  uprelay      RSS {:.1} MiB before the load, {:.1} MiB after it ({:+.1} MiB; /metrics not scraped)",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            (after as f64 - before as f64) / 1024.0
        );
    }
    let opt = |v: Option<u64>| v.map(group).unwrap_or_else(|| "-".into());
    println!(
        "  FCM          most sends in flight at once {} (uprelay's count {}); HTTP/2 connections opened {}; uprelay open fds at peak {}",
        opt(fcm_max_in_flight),
        opt(relay_max_in_flight),
        opt(fcm_connections),
        opt(m.peak_fds)
    );
    let check_ok = emu_delta == total_201;
    println!(
        "  emulator     accepted +{} ; 201 responses over the whole run (warm-up included) {} → {}",
        group(emu_delta),
        group(total_201),
        if check_ok { "equal" } else { "MISMATCH" }
    );
    println!("CHECK {label} 201={total_201} emulator={emu_delta} {}", if check_ok { "ok" } else { "mismatch" });
    if !check_ok {
        println!("{}", relay.output_tail(20));
    }
    println!();
    drop(relay);
    if target == Target::Embedded {
        let _ = std::fs::remove_dir_all(env.dir.join(format!("embedded-{}", env.run_seq)));
    }
    Ok(RunReport {
        label,
        target,
        vapid,
        registrations: r,
        rps: printed.rps,
        p50_us: printed.p50,
        p99_us: printed.p99,
        p999_us: printed.p999,
        max_us: printed.max,
        rss_hwm_kib: rss,
        cpu_us_per_push: printed.server_cpu,
        load_generator_cpu_us: printed.load_generator_cpu,
        total_201,
        emulator_delta: Some(emu_delta),
        check_ok,
        redis_bytes_per_reg: bytes_per_reg,
        profile: profile.name,
        connections: profile.connections,
        fcm_latency: profile.latency,
        token_bytes: profile.token_bytes,
        non_201: m.load.non_201(),
        fcm_max_in_flight,
        relay_max_in_flight,
        fcm_connections,
        peak_fds: m.peak_fds,
        offered_rate: profile.rate,
        shed: m.load.total_of(503),
        other_failures: m.load.failures_beside_shedding(),
        shed_without_retry_after: m.load.unavailable_without_retry_after,
        fcm_connections_limit: profile.fcm_connections,
        max_concurrent: profile.max_concurrent,
    })
}

/// The final table: each default-profile target with the measured figure and PASS/MISS. Returns
/// whether the bench's own correctness check held in every run.
fn summary(opts: &Opts, reports: &[RunReport]) -> bool {
    let find = |t: Target, vapid: bool, r: Option<usize>| {
        reports.iter().find(|x| x.profile.is_empty() && x.target == t && x.vapid == vapid && (r.is_none() || r == Some(x.registrations)))
    };
    println!("== runs");
    // As wide as the longest label ("redis-webpush-noreuse", "redis-realistic-open").
    let w = reports.iter().map(|x| x.label.len()).max().unwrap_or(0).max(15);
    println!(
        "  {:<w$} {:>10} {:>12} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "run", "R", "pushes/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "CPU µs/p", "RSS MiB"
    );
    for x in reports {
        println!(
            "  {:<w$} {:>10} {:>12} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10} {:>10}",
            x.label,
            if x.target == Target::Bare { "-".to_string() } else { group(x.registrations as u64) },
            group(x.rps.round() as u64),
            x.p50_us as f64 / 1000.0,
            x.p99_us as f64 / 1000.0,
            x.p999_us as f64 / 1000.0,
            x.max_us as f64 / 1000.0,
            x.cpu_us_per_push.map(|c| format!("{c:.1}")).unwrap_or_else(|| "-".into()),
            x.rss_hwm_kib.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or_else(|| "-".into()),
        );
    }
    println!();

    let mut rows: Vec<(String, String, Option<bool>)> = Vec::new();
    let pf = |ok: bool| Some(ok);
    let not_run = |why: &str| (why.to_string(), None);
    let small = if opts.scale { Some(opts.registrations) } else { None };
    let redis = find(Target::Redis, false, small);
    let ceilings: Vec<f64> = reports.iter().filter(|x| x.target == Target::Bare && x.rps > 0.0).map(|x| x.rps).collect();
    match redis {
        Some(rd) => {
            rows.push((
                format!("Redis: ≥ {} pushes/s (C={}, B={})", group(TARGET_RPS as u64), opts.connections, opts.body_size),
                group(rd.rps.round() as u64),
                pf(rd.rps >= TARGET_RPS),
            ));
            rows.push((
                format!("Redis: p99 ≤ {TARGET_P99_MS} ms"),
                format!("{:.2} ms", rd.p99_us as f64 / 1000.0),
                pf(rd.p99_us as f64 / 1000.0 <= TARGET_P99_MS),
            ));
            let ceiling_row = format!("Redis: ≥ {TARGET_CEILING_PCT} % of the bare-handler ceiling");
            match ceilings.as_slice() {
                [] if opts.scale => {}
                [] => {
                    let (m, r) = not_run("not run (bare run skipped)");
                    rows.push((ceiling_row, m, r));
                }
                runs => {
                    let mean = runs.iter().sum::<f64>() / runs.len() as f64;
                    let pct = rd.rps / mean * 100.0;
                    let mut shown = format!("{pct:.1} % of {}/s", group(mean.round() as u64));
                    if runs.len() > 1 {
                        let each: Vec<String> =
                            runs.iter().map(|c| format!("{:.1} % of {}/s", rd.rps / c * 100.0, group(c.round() as u64))).collect();
                        shown.push_str(&format!(", the mean of the ceiling runs ({})", each.join(", ")));
                    }
                    rows.push((ceiling_row, shown, pf(pct >= TARGET_CEILING_PCT)));
                }
            }
            let (m, r) = match rd.cpu_us_per_push {
                Some(c) => (format!("{c:.1} µs"), pf(c <= TARGET_CPU_US)),
                None => not_run("unavailable"),
            };
            rows.push((format!("Redis: uprelay CPU ≤ {TARGET_CPU_US} µs/push"), m, r));
        }
        None => {
            let (m, r) = not_run("not run (--store)");
            rows.push(("Redis targets".into(), m, r));
        }
    }
    let relay_runs: Vec<&RunReport> = reports.iter().filter(|x| x.target != Target::Bare).collect();
    let default_runs: Vec<&RunReport> = relay_runs.iter().copied().filter(|x| x.profile.is_empty()).collect();
    // The target is set for the Redis load; the embedded store also holds its redb
    // file's pages in memory (its cache), so its runs are shown beside it, not judged.
    let worst_rss = |of: &dyn Fn(&RunReport) -> bool| {
        default_runs.iter().copied().filter(|x| of(x) && x.rss_hwm_kib.is_some()).max_by_key(|x| x.rss_hwm_kib)
    };
    let mib = |r: &RunReport| r.rss_hwm_kib.unwrap_or(0) as f64 / 1024.0;
    if let Some(worst) = worst_rss(&|x| x.target == Target::Redis) {
        rows.push((
            format!("Peak RSS of uprelay ≤ {TARGET_RSS_MIB} MiB (worst Redis run)"),
            format!("{:.1} MiB ({})", mib(worst), worst.label),
            pf(mib(worst) <= TARGET_RSS_MIB),
        ));
    }
    if let Some(worst) = worst_rss(&|x| x.target == Target::Embedded) {
        rows.push((
            "Peak RSS of uprelay, worst embedded run (redb cache)".to_owned(),
            format!("{:.1} MiB ({})", mib(worst), worst.label),
            None,
        ));
    }
    for store in [Target::Redis, Target::Embedded] {
        let name = store.name();
        match (find(store, false, small), find(store, true, small)) {
            (Some(u), Some(v)) if u.rps > 0.0 => {
                let pct = v.rps / u.rps * 100.0;
                rows.push((
                    format!("{name}: VAPID ≥ {TARGET_VAPID_PCT} % of unrestricted"),
                    format!("{pct:.1} % ({}/s)", group(v.rps.round() as u64)),
                    pf(pct >= TARGET_VAPID_PCT),
                ));
            }
            (Some(_), None) if !opts.scale => {
                let (m, r) = not_run("not run (--no-vapid)");
                rows.push((format!("{name}: VAPID ≥ {TARGET_VAPID_PCT} % of unrestricted"), m, r));
            }
            _ => {}
        }
    }
    match (find(Target::Redis, false, small), find(Target::Embedded, false, small)) {
        (Some(rd), Some(em)) if rd.rps > 0.0 => {
            let pct = em.rps / rd.rps * 100.0;
            rows.push((
                "Embedded within 20 % of Redis throughput".to_string(),
                format!("{pct:.1} % of Redis"),
                pf(pct >= TARGET_EMBEDDED_PCT),
            ));
        }
        _ if !opts.scale => {
            let (m, r) = not_run("not run (needs --store both)");
            rows.push(("Embedded within 20 % of Redis throughput".into(), m, r));
        }
        _ => {}
    }
    if opts.scale {
        let big = find(Target::Redis, false, Some(opts.scale_r));
        let label_r = group(opts.scale_r as u64);
        match big.and_then(|b| b.redis_bytes_per_reg.map(|m| (b, m))) {
            Some((_, m)) => rows.push((
                format!("R={label_r}: Redis memory ≤ {TARGET_BYTES_PER_REG} bytes/registration"),
                format!("{m:.0} bytes"),
                pf(m <= TARGET_BYTES_PER_REG),
            )),
            None => rows.push((format!("R={label_r}: Redis memory per registration"), "unavailable".into(), None)),
        }
        let smalls: Vec<&RunReport> =
            reports.iter().filter(|x| x.target == Target::Redis && x.registrations == opts.registrations).collect();
        if let (false, Some(b)) = (smalls.is_empty(), big) {
            let small_p99 = smalls.iter().map(|x| x.p99_us as f64).sum::<f64>() / smalls.len() as f64;
            if small_p99 > 0.0 {
                let ratio = b.p99_us as f64 / small_p99;
                let each: Vec<String> = smalls.iter().map(|x| format!("{:.2}", x.p99_us as f64 / 1000.0)).collect();
                rows.push((
                    format!("p99 at R={label_r} within 10 % of p99 at R={}", group(opts.registrations as u64)),
                    format!("{:.2} / mean({}) ms = {ratio:.2}×", b.p99_us as f64 / 1000.0, each.join(", "),),
                    pf(ratio <= TARGET_P99_RATIO),
                ));
            }
        }
        if opts.scale_r != 1_000_000 {
            rows.push(("note: the target is set for R = 1,000,000".into(), format!("this run used {label_r}"), None));
        }
    } else {
        rows.push(("R = 10^6 targets (memory/registration, p99 ratio)".into(), "not run (add --scale)".into(), None));
    }
    let checks: Vec<&RunReport> = relay_runs.clone();
    let all_ok = checks.iter().all(|x| x.check_ok);
    let detail: Vec<String> =
        checks.iter().map(|x| format!("{} {}={}", x.label, group(x.total_201), group(x.emulator_delta.unwrap_or(0)))).collect();
    rows.push(("Correctness: 201 count = emulator accepted (every run)".into(), detail.join(", "), Some(all_ok)));

    print_targets("default profile", &rows);
    if !all_ok {
        println!("\nFAILED: the emulator's accepted count differs from the 201 count in at least one run");
    }
    all_ok
}

/// A targets table: (target, measured, PASS/MISS or not judged) per row.
fn print_targets(title: &str, rows: &[(String, String, Option<bool>)]) {
    println!("== targets ({title}; figures are reported, never asserted)");
    let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(10);
    for (name, measured, res) in rows {
        let res = match res {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "-",
        };
        println!("  {name}{}  {res:<4}  {measured}", " ".repeat(w - name.chars().count()));
    }
}

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(15_000), "15,000");
        assert_eq!(group(1_000_000), "1,000,000");
        assert_eq!(group(123_456_789), "123,456,789");
    }
}
