//! HTTP routers: the Web Push endpoint, the distributor API and operations.

mod devices;
mod error;
mod ops;
mod push;

use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;

pub use error::ApiError;

use crate::config::Config;
use crate::fcm::FcmClient;
use crate::relay::Relay;
use crate::store::Store;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    public_base: String,
    default_project: String,
    store: Arc<dyn Store>,
    fcm: Arc<FcmClient>,
    relay: Arc<Relay>,
    metrics: PrometheusHandle,
}

impl AppState {
    /// Assemble the state from its parts.
    pub fn new(
        config: Config,
        default_project: String,
        store: Arc<dyn Store>,
        fcm: Arc<FcmClient>,
        relay: Arc<Relay>,
        metrics: PrometheusHandle,
    ) -> AppState {
        let public_base = config.public_base();
        AppState { inner: Arc::new(Inner { config, public_base, default_project, store, fcm, relay, metrics }) }
    }
}

/// The whole HTTP surface, with request time and concurrency bounds.
pub fn router(state: AppState) -> Router {
    let limits = &state.inner.config.limits;
    let bounds = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|err: tower::BoxError| async move {
            if err.is::<tower::load_shed::error::Overloaded>() {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "server is at its concurrency limit; retry later")
                    .with_retry_after(Duration::from_secs(1))
                    .into_response()
            } else if err.is::<tower::timeout::error::Elapsed>() {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", "request took too long").into_response()
            } else {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", err.to_string()).into_response()
            }
        }))
        .load_shed()
        .concurrency_limit(limits.max_concurrent_requests)
        .timeout(Duration::from_millis(limits.request_timeout_ms));
    Router::new()
        .merge(push::routes())
        .merge(devices::routes())
        .merge(ops::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource") })
        .layer(bounds)
        .with_state(state)
}
