//! Prometheus metrics: names in one place so dashboards, alert rules and code agree, the
//! recorder's upkeep, and the process figures (CPU, memory) Prometheus' own clients export.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::target::RoadKind;

/// Pushes by outcome (`delivered`, `queued`, `not_found`, `gone`, `throttled`, …).
pub const PUSHES: &str = "uprelay_pushes_total";
/// Pushes that reached the relay, by `ingress` (webpush, matrix) and content `encoding`
/// (aes128gcm, aesgcm, other).
pub const PUSHES_RECEIVED: &str = "uprelay_pushes_received_total";
/// Matrix gateway deliveries, one per pushkey, by `outcome` (delivered, rejected, transient)
/// and `route` (local: one of this relay's endpoints; forwarded: another server's).
pub const MATRIX_DEVICES: &str = "uprelay_matrix_devices_total";
/// Requests to a push service by `road` (fcm: FCM HTTP v1; webpush: Google's Web Push
/// service) and `result` (`ok`, `unregistered`, `unavailable`, …).
pub const FCM_REQUESTS: &str = "uprelay_fcm_requests_total";
/// Time one FCM v1 send request took (token, request and answer), seconds.
pub const FCM_SEND_DURATION: &str = "uprelay_fcm_send_duration_seconds";
/// Time one Web Push request took (request and answer), seconds.
pub const WEBPUSH_SEND_DURATION: &str = "uprelay_webpush_send_duration_seconds";
/// OAuth access-token fetches by result (`ok`, `error`).
pub const OAUTH_REFRESHES: &str = "uprelay_oauth_refreshes_total";
/// FCM answers that break the protocol we know (`kind`: no_message_name) although FCM
/// accepted the message.
pub const FCM_ANOMALIES: &str = "uprelay_fcm_anomalies_total";
/// Time from request to response for `POST /up/{id}`, seconds.
pub const PUSH_DURATION: &str = "uprelay_push_duration_seconds";
/// Registrations created or deleted (`op`).
pub const REGISTRATIONS: &str = "uprelay_registrations_total";
/// Device lifecycle events (`op`: created, deleted, token_rotated, target_moved (to
/// another kind of target: token, FID, Web Push), token_dead (by `road`)).
pub const DEVICES: &str = "uprelay_devices_total";

/// Retry queue events (`result`: enqueued, full, delivered, retry, expired, endpoint_gone, dead_token).
pub const QUEUE: &str = "uprelay_queue_total";
/// Messages in the retry queue (sampled by the worker).
pub const QUEUE_LENGTH: &str = "uprelay_queue_length";
/// Age of the oldest message in the retry queue, seconds; 0 when it is empty (sampled by the worker).
pub const QUEUE_OLDEST_AGE: &str = "uprelay_queue_oldest_age_seconds";
/// 1 from the moment a road's circuit breaker opens until its push service next accepts a
/// message, else 0; by `road`.
pub const BREAKER_OPEN: &str = "uprelay_breaker_open";
/// Requests refused by a rate limiter (`limit`: push, device_create).
pub const RATE_LIMITED: &str = "uprelay_rate_limited_total";

/// Failed store operations (`kind`: store_unavailable, store_internal).
pub const STORE_ERRORS: &str = "uprelay_store_errors_total";
/// Time of the push path's store round trip (route lookup and limiter), seconds.
pub const STORE_DURATION: &str = "uprelay_store_duration_seconds";

/// Connections closed at accept because `limits.max_connections` were open.
pub const CONNECTIONS_REFUSED: &str = "uprelay_connections_refused_total";
/// Bytes held by the verified-VAPID-JWT cache (bounded; see `webpush::vapid`).
pub const VAPID_CACHE_BYTES: &str = "uprelay_vapid_cache_bytes";
/// JWTs the verified-VAPID-JWT cache remembers (those of admitted pushes only).
pub const VAPID_CACHE_ENTRIES: &str = "uprelay_vapid_cache_entries";
/// Requests answered 429 because their client had `limits.max_requests_per_client` in flight.
pub const CLIENT_REQUESTS_REFUSED: &str = "uprelay_client_requests_refused_total";

/// HTTP/2 connections to FCM open now (the link's gauges are refreshed at each scrape;
/// what `fcm.connections` must carry: about a hundred streams per connection).
pub const FCM_CONNECTIONS: &str = "uprelay_fcm_connections";
/// HTTP/2 connections to FCM opened since start, reopened ones included.
pub const FCM_CONNECTIONS_OPENED: &str = "uprelay_fcm_connections_opened_total";
/// Sends handed to the FCM link and not yet wholly answered.
pub const FCM_IN_FLIGHT: &str = "uprelay_fcm_sends_in_flight";
/// The most sends in flight at once since start.
pub const FCM_IN_FLIGHT_MAX: &str = "uprelay_fcm_sends_in_flight_max";

/// CPU time of the process (user + system), seconds. Named as Prometheus' client
/// libraries name it, so the usual process dashboards work.
pub const PROCESS_CPU: &str = "process_cpu_seconds_total";
/// Resident memory of the process, bytes.
pub const PROCESS_RSS: &str = "process_resident_memory_bytes";
/// Open file descriptors (connections included).
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";

/// How often the recorder's upkeep runs. Histogram samples wait in the recorder until
/// upkeep (or a scrape) folds them into buckets, so without it memory grows with every
/// push while nobody scrapes; a second bounds the backlog to one second of pushes.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const STORE_BUCKETS: &[f64] = &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Upkeeps the timer has run: tests see the upkeep happen without a scrape.
static UPKEEPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many upkeeps the timer has run in this process.
pub fn upkeeps() -> u64 {
    UPKEEPS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Install the global recorder (once per process), start its upkeep thread and return
/// the handle that renders it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new();
            for (name, buckets) in [
                (PUSH_DURATION, LATENCY_BUCKETS),
                (FCM_SEND_DURATION, LATENCY_BUCKETS),
                (WEBPUSH_SEND_DURATION, LATENCY_BUCKETS),
                (STORE_DURATION, STORE_BUCKETS),
            ] {
                builder =
                    builder.set_buckets_for_metric(Matcher::Full(name.to_string()), buckets).expect("static bucket list is non-empty");
            }
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may be installed already (tests); ours still renders its own data.
            let _ = metrics::set_global_recorder(recorder);
            pre_register();
            let upkeep = handle.clone();
            // A thread of its own: the recorder is process-wide and outlives any runtime.
            let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
                sample_process();
                UPKEEPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start the metrics upkeep thread; memory then only shrinks at scrapes");
            }
            sample_process();
            handle
        })
        .clone()
}

/// Series that alerts and dashboards read exist from the start at 0 (a rate over a
/// series that appears only with the first error says nothing until then).
fn pre_register() {
    for kind in ["store_unavailable", "store_internal"] {
        metrics::counter!(STORE_ERRORS, "kind" => kind).increment(0);
    }
    for result in ["ok", "error"] {
        metrics::counter!(OAUTH_REFRESHES, "result" => result).increment(0);
    }
    metrics::counter!(CONNECTIONS_REFUSED).increment(0);
    metrics::counter!(CLIENT_REQUESTS_REFUSED).increment(0);
    metrics::gauge!(VAPID_CACHE_BYTES).set(0.0);
    metrics::gauge!(VAPID_CACHE_ENTRIES).set(0.0);
    for road in RoadKind::ALL {
        metrics::gauge!(BREAKER_OPEN, "road" => road.label()).set(0.0);
    }
}

/// Refresh the `process_*` gauges from `/proc/self` (Linux; elsewhere they are absent).
fn sample_process() {
    let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok() else { return };
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    // SAFETY: sysconf only reads a configuration value.
    let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
    // utime and stime are fields 14 and 15 of stat(5): 11 and 12 after the name.
    let cpu_ticks: Option<u64> =
        fields.get(11).zip(fields.get(12)).and_then(|(u, s)| Some(u.parse::<u64>().ok()? + s.parse::<u64>().ok()?));
    if let (Some(t), true) = (cpu_ticks, ticks > 0) {
        metrics::gauge!(PROCESS_CPU).set(t as f64 / ticks as f64);
    }
    let rss_pages = std::fs::read_to_string("/proc/self/statm").ok().and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok());
    if let (Some(pages), true) = (rss_pages, page > 0) {
        metrics::gauge!(PROCESS_RSS).set((pages * page as u64) as f64);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!(PROCESS_OPEN_FDS).set(fds.count() as f64);
    }
}

/// HTTP/2 connections to Google's Web Push service open now (the Web Push road's link,
/// refreshed at each scrape like the FCM link's).
pub const WEBPUSH_CONNECTIONS: &str = "uprelay_webpush_connections";
/// Web Push requests handed to the link and not yet wholly answered...
pub const WEBPUSH_IN_FLIGHT: &str = "uprelay_webpush_sends_in_flight";
/// ...and the most at once since start.
pub const WEBPUSH_IN_FLIGHT_MAX: &str = "uprelay_webpush_sends_in_flight_max";

/// Set the Web Push road's link gauges (see [`WEBPUSH_CONNECTIONS`]) before a scrape.
pub fn webpush_link(open: usize, in_flight: usize, in_flight_max: usize) {
    metrics::gauge!(WEBPUSH_CONNECTIONS).set(open as f64);
    metrics::gauge!(WEBPUSH_IN_FLIGHT).set(in_flight as f64);
    metrics::gauge!(WEBPUSH_IN_FLIGHT_MAX).set(in_flight_max as f64);
}

/// Set the FCM link's gauges (see [`FCM_CONNECTIONS`]) before a scrape renders them.
pub fn fcm_link(open: usize, opened: u64, in_flight: usize, in_flight_max: usize) {
    metrics::gauge!(FCM_CONNECTIONS).set(open as f64);
    metrics::counter!(FCM_CONNECTIONS_OPENED).absolute(opened);
    metrics::gauge!(FCM_IN_FLIGHT).set(in_flight as f64);
    metrics::gauge!(FCM_IN_FLIGHT_MAX).set(in_flight_max as f64);
}

/// The retry queue holds `n` messages (leased ones included).
pub fn queue_length(n: u64) {
    metrics::gauge!(QUEUE_LENGTH).set(n as f64);
}

/// Count a failed store operation (`kind` is [`StoreError::label`](crate::store::StoreError::label)).
pub fn store_error(kind: &'static str) {
    metrics::counter!(STORE_ERRORS, "kind" => kind).increment(1);
}

/// Count one OAuth access-token fetch.
pub fn oauth_refresh(ok: bool) {
    metrics::counter!(OAUTH_REFRESHES, "result" => if ok { "ok" } else { "error" }).increment(1);
}

/// The circuit breaker of `road` opened (`true`) or closed again.
pub fn breaker_open(road: RoadKind, open: bool) {
    metrics::gauge!(BREAKER_OPEN, "road" => road.label()).set(if open { 1.0 } else { 0.0 });
}

/// The retry queue's oldest message was enqueued at this unix ms (`None`: the queue is empty).
pub fn queue_oldest(enqueued_ms: Option<u64>, now_ms: u64) {
    let age = enqueued_ms.map(|t| now_ms.saturating_sub(t) as f64 / 1000.0).unwrap_or(0.0);
    metrics::gauge!(QUEUE_OLDEST_AGE).set(age);
}

/// Handles of the series every push touches, registered once: the `counter!` macros look
/// their key up in the recorder on each call (hashing the name and labels and allocating
/// the label list), which showed as 5 of a push's ~80 allocations.
pub struct HotMetrics {
    /// `PUSHES_RECEIVED` by ingress (webpush, matrix) and encoding (aes128gcm, aesgcm, other).
    received: [[Counter; 3]; 2],
    delivered: Counter,
    queued: Counter,
    /// `FCM_REQUESTS` with result `ok`, by road.
    road_ok: [Counter; RoadKind::ALL.len()],
    push_duration: Histogram,
    fcm_send_duration: Histogram,
    store_duration: Histogram,
}

static HOT: OnceLock<HotMetrics> = OnceLock::new();

/// The hot-path handles, bound to uprelay's recorder (installed first if need be, so they
/// can never be bound to a no-op recorder by being created too early).
pub fn hot() -> &'static HotMetrics {
    HOT.get_or_init(|| {
        install();
        let received = ["webpush", "matrix"].map(|ingress| {
            ["aes128gcm", "aesgcm", "other"]
                .map(|encoding| metrics::counter!(PUSHES_RECEIVED, "ingress" => ingress, "encoding" => encoding))
        });
        HotMetrics {
            received,
            delivered: metrics::counter!(PUSHES, "outcome" => "delivered"),
            queued: metrics::counter!(PUSHES, "outcome" => "queued"),
            road_ok: RoadKind::ALL.map(|road| metrics::counter!(FCM_REQUESTS, "road" => road.label(), "result" => "ok")),
            push_duration: metrics::histogram!(PUSH_DURATION),
            fcm_send_duration: metrics::histogram!(FCM_SEND_DURATION),
            store_duration: metrics::histogram!(STORE_DURATION),
        }
    })
}

/// Records the time from its creation to its drop as the push path's store round trip
/// (a guard, so every return of a lookup is timed).
pub struct StoreTimer(Instant);

impl Drop for StoreTimer {
    fn drop(&mut self) {
        hot().store_duration.record(self.0.elapsed().as_secs_f64());
    }
}

impl HotMetrics {
    /// Count one push reaching the relay (labels as `Ingress::label`, `Encoding::label`).
    pub fn received(&self, ingress: &'static str, encoding: &'static str) {
        let i = usize::from(ingress == "matrix");
        let e = match encoding {
            "aes128gcm" => 0,
            "aesgcm" => 1,
            _ => 2,
        };
        self.received[i][e].increment(1);
    }

    /// Count one push with this outcome label.
    pub fn push(&self, outcome: &'static str) {
        match outcome {
            "delivered" => self.delivered.increment(1),
            "queued" => self.queued.increment(1),
            other => metrics::counter!(PUSHES, "outcome" => other).increment(1),
        }
    }

    /// Count one request a road made to its push service, with this result label.
    pub fn road_request(&self, road: RoadKind, result: &'static str) {
        match result {
            "ok" => self.road_ok[road.index()].increment(1),
            other => metrics::counter!(FCM_REQUESTS, "road" => road.label(), "result" => other).increment(1),
        }
    }

    /// Record how long a push took, in seconds.
    pub fn push_duration(&self, seconds: f64) {
        self.push_duration.record(seconds);
    }

    /// Record how long one FCM send request took.
    pub fn fcm_send_duration(&self, elapsed: Duration) {
        self.fcm_send_duration.record(elapsed.as_secs_f64());
    }

    /// Start timing a push-path store round trip.
    pub fn store_timer(&self) -> StoreTimer {
        StoreTimer(Instant::now())
    }
}
