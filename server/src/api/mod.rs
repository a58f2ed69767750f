//! HTTP routers: the Web Push endpoint, the Matrix push gateway, the distributor API and
//! operations.

mod devices;
mod error;
mod matrix;
mod ops;
mod push;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use tokio::sync::Semaphore;
use tower::ServiceExt;

pub use state::AppState;

use error::ApiError;

/// The whole HTTP surface, as hyper serves it: every request is bounded here (load
/// shedding at `max_concurrent_requests`, `request_timeout_ms`), then Web Push posts go
/// straight to their handler and everything else through axum's router.
///
/// Why the push path skips the router: it is the relay's hottest loop, and the router's
/// per-request work (path matching into extension maps, two boxed services, the tower
/// layers' boxed futures) cost several microseconds a push. One semaphore and one timer
/// here bound both paths alike.
#[derive(Clone)]
pub struct Http {
    state: AppState,
    router: Router,
    slots: Arc<Semaphore>,
    request_timeout: Duration,
}

impl Http {
    /// The surface over `state`.
    pub fn new(state: AppState) -> Http {
        let limits = &state.inner.config.limits;
        let slots = Arc::new(Semaphore::new(limits.max_concurrent_requests));
        let request_timeout = Duration::from_millis(limits.request_timeout_ms);
        let router = Router::new()
            .merge(push::routes())
            .merge(matrix::routes())
            .merge(devices::routes())
            .merge(ops::routes())
            .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource") })
            .with_state(state.clone());
        Http { state, router, slots, request_timeout }
    }

    /// Answer one request from `peer`.
    pub async fn handle<B>(&self, req: Request<B>, peer: SocketAddr) -> Response
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let Ok(_slot) = self.slots.try_acquire() else {
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "server is at its concurrency limit; retry later")
                .with_retry_after(Duration::from_secs(1))
                .into_response();
        };
        match tokio::time::timeout(self.request_timeout, self.dispatch(req, peer)).await {
            Ok(response) => response,
            Err(_) => ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", "request took too long").into_response(),
        }
    }

    async fn dispatch<B>(&self, req: Request<B>, peer: SocketAddr) -> Response
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        if let Err(refused) = error::screen(req.headers()) {
            return refused.into_response();
        }
        if req.method() == Method::POST && push::plain_endpoint(req.uri().path()).is_some() {
            return push::handle(&self.state, req).await;
        }
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(ConnectInfo(peer));
        match self.router.clone().oneshot(req).await {
            Ok(response) => error::json_errors(response).await,
            Err(never) => match never {},
        }
    }
}
