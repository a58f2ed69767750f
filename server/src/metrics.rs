//! Prometheus metrics: names in one place so dashboards and code agree.

use std::sync::OnceLock;

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Pushes by outcome (`delivered`, `not_found`, `gone`, `bad_ttl`, …).
pub const PUSHES: &str = "uprelay_pushes_total";
/// Pushes that reached the relay, by `ingress` (webpush, matrix) and content `encoding`
/// (aes128gcm, aesgcm, other).
pub const PUSHES_RECEIVED: &str = "uprelay_pushes_received_total";
/// Matrix gateway deliveries, one per pushkey, by `outcome` (delivered, rejected, transient)
/// and `route` (local: one of this relay's endpoints; forwarded: another server's).
pub const MATRIX_DEVICES: &str = "uprelay_matrix_devices_total";
/// FCM send requests by result (`ok`, `unregistered`, `unavailable`, …).
pub const FCM_REQUESTS: &str = "uprelay_fcm_requests_total";
/// FCM answers that break the protocol we know (`kind`: no_message_name) although FCM
/// accepted the message.
pub const FCM_ANOMALIES: &str = "uprelay_fcm_anomalies_total";
/// Time from request to response for `POST /up/{id}`, seconds.
pub const PUSH_DURATION: &str = "uprelay_push_duration_seconds";
/// Registrations created or deleted (`op`).
pub const REGISTRATIONS: &str = "uprelay_registrations_total";
/// Device lifecycle events (`op`: created, deleted, token_rotated, token_dead).
pub const DEVICES: &str = "uprelay_devices_total";

/// Retry queue events (`result`: enqueued, full, delivered, retry, expired, endpoint_gone, dead_token).
pub const QUEUE: &str = "uprelay_queue_total";
/// Messages in the retry queue (sampled by the worker).
pub const QUEUE_LENGTH: &str = "uprelay_queue_length";
/// Requests refused by a rate limiter (`limit`: push, device_create).
pub const RATE_LIMITED: &str = "uprelay_rate_limited_total";

/// Connections closed at accept because `limits.max_connections` were open.
pub const CONNECTIONS_REFUSED: &str = "uprelay_connections_refused_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the global recorder (once per process) and return the handle that renders it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(PUSH_DURATION.to_string()),
                    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
                )
                .expect("static bucket list is non-empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may be installed already (tests); ours still renders its own data.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Handles of the series every push touches, registered once: the `counter!` macros look
/// their key up in the recorder on each call (hashing the name and labels and allocating
/// the label list), which showed as 5 of a push's ~80 allocations.
pub struct HotMetrics {
    /// `PUSHES_RECEIVED` by ingress (webpush, matrix) and encoding (aes128gcm, aesgcm, other).
    received: [[Counter; 3]; 2],
    delivered: Counter,
    queued: Counter,
    fcm_ok: Counter,
    push_duration: Histogram,
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
            fcm_ok: metrics::counter!(FCM_REQUESTS, "result" => "ok"),
            push_duration: metrics::histogram!(PUSH_DURATION),
        }
    })
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

    /// Count one FCM send with this result label.
    pub fn fcm_request(&self, result: &'static str) {
        match result {
            "ok" => self.fcm_ok.increment(1),
            other => metrics::counter!(FCM_REQUESTS, "result" => other).increment(1),
        }
    }

    /// Record how long a push took, in seconds.
    pub fn push_duration(&self, seconds: f64) {
        self.push_duration.record(seconds);
    }
}
