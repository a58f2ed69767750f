//! What one run measured ([`RunReport`]), built in one place from the figures every run
//! has ([`RunReport::measured`]) plus what a relay run adds, and written as JSON for
//! `--report-json` (which `--compare` reads back).

use std::path::Path;

use anyhow::Context;

use crate::load::LoadResult;
use crate::options::FcmLatency;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Bare,
    Redis,
    Embedded,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Bare => "bare",
            Target::Redis => "redis",
            Target::Embedded => "embedded",
        }
    }
}

/// Everything measured in one run.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub label: String,
    pub target: Target,
    pub vapid: bool,
    pub registrations: usize,
    pub rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub rss_hwm_kib: Option<u64>,
    pub cpu_us_per_push: Option<f64>,
    pub load_generator_cpu_us: Option<f64>,
    pub total_201: u64,
    pub emulator_delta: Option<u64>,
    /// 201 count = emulator delta (always true for the bare run).
    pub check_ok: bool,
    pub redis_bytes_per_reg: Option<f64>,
    /// `Profile::name` of the run ("" for the default profile).
    pub profile: &'static str,
    pub connections: usize,
    pub fcm_latency: FcmLatency,
    pub token_bytes: usize,
    /// Answers other than 201 and transport errors in the measured window.
    pub non_201: u64,
    /// The most sends in flight at the emulator (FCM) at once.
    pub fcm_max_in_flight: Option<u64>,
    /// The most sends in flight at once as uprelay counts them (`/metrics`).
    pub relay_max_in_flight: Option<u64>,
    /// HTTP/2 connections uprelay opened to the emulator (FCM).
    pub fcm_connections: Option<u64>,
    /// uprelay's open file descriptors, most seen (sampled every 100 ms).
    pub peak_fds: Option<u64>,
    /// Open loop: the pushes/s offered.
    pub offered_rate: Option<f64>,
    /// 503 answers over the whole run, and those of them without `Retry-After`.
    pub shed: u64,
    /// Answers other than 201 and 503 over the whole run, transport errors and abandoned
    /// requests included.
    pub other_failures: u64,
    pub shed_without_retry_after: u64,
    /// `fcm.connections` and `limits.max_concurrent_requests` when the profile set them.
    pub fcm_connections_limit: Option<usize>,
    pub max_concurrent: Option<usize>,
}

/// The figures of one run's measured window, as printed: throughput, latency and CPU.
pub struct Figures {
    pub rps: f64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    /// CPU µs per response of the server under test.
    pub server_cpu: Option<f64>,
    /// CPU µs per response of the load generator (this process): a fixed amount of work
    /// per request, so it shows how fast the host runs at the moment.
    pub load_generator_cpu: Option<f64>,
}

impl RunReport {
    /// The report of a run from what every run measures; a relay run adds its store, its
    /// profile and its FCM figures with struct update syntax.
    pub fn measured(label: String, target: Target, connections: usize, f: &Figures, load: &LoadResult, peak_fds: Option<u64>) -> RunReport {
        RunReport {
            label,
            target,
            vapid: false,
            registrations: 0,
            rps: f.rps,
            p50_us: f.p50,
            p99_us: f.p99,
            p999_us: f.p999,
            max_us: f.max,
            rss_hwm_kib: None,
            cpu_us_per_push: f.server_cpu,
            load_generator_cpu_us: f.load_generator_cpu,
            total_201: load.total_of(201),
            emulator_delta: None,
            check_ok: true,
            redis_bytes_per_reg: None,
            profile: "",
            connections,
            fcm_latency: FcmLatency::default(),
            token_bytes: 0,
            non_201: load.non_201(),
            fcm_max_in_flight: None,
            relay_max_in_flight: None,
            fcm_connections: None,
            peak_fds,
            offered_rate: None,
            shed: load.total_of(503),
            other_failures: load.failures_beside_shedding(),
            shed_without_retry_after: load.unavailable_without_retry_after,
            fcm_connections_limit: None,
            max_concurrent: None,
        }
    }
}

/// `--report-json`: the runs' figures for scripts (and for `--compare`, which reads them).
pub fn write_json(path: &Path, reports: &[RunReport]) -> anyhow::Result<()> {
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
