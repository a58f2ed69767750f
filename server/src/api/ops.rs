//! Operations endpoints: liveness, readiness, Prometheus metrics.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the store answers and every project can get an OAuth token. The answer
/// says which is down (`{"store":"down"}`), never why: the error text (addresses, Google's
/// answers) goes to the log, not to whoever can reach the port.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let limit = Duration::from_secs(3);
    let store = match tokio::time::timeout(limit, state.inner.store.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("timed out".to_string()),
    };
    let fcm = match tokio::time::timeout(limit, state.inner.fcm.warm_up()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("timed out".to_string()),
    };
    for (what, error) in [("store", &store), ("fcm", &fcm)] {
        if let Some(error) = error {
            tracing::warn!(dependency = what, %error, "not ready");
        }
    }
    let word = |e: &Option<String>| if e.is_none() { "ok" } else { "down" };
    let status = if store.is_none() && fcm.is_none() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({"store": word(&store), "fcm": word(&fcm)})))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let link = state.inner.fcm.link_stats();
    crate::metrics::fcm_link(link.connections_open, link.connections_opened, link.sends_in_flight, link.sends_in_flight_max);
    if let Some(road) = &state.inner.webpush {
        let link = road.link_stats();
        crate::metrics::webpush_link(link.connections_open, link.sends_in_flight, link.sends_in_flight_max);
    }
    // Read at the scrape, not only on the worker's slower schedule: "nothing queued, nothing
    // in flight" on one page means nothing more will reach FCM.
    if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), state.inner.store.queue_len()).await {
        crate::metrics::queue_length(n);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.inner.metrics.render())
}
