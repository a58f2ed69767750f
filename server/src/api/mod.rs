//! HTTP routers: the Web Push endpoint, the Matrix push gateway, the distributor API and
//! operations.

mod deadline;
mod devices;
mod error;
mod matrix;
mod ops;
mod push;
mod state;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
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

use crate::limits::{Clients, Connection};

use error::ApiError;

/// The whole HTTP surface, as hyper serves it: every request is bounded here (its
/// client's share, `max_requests_per_client`; load shedding at `max_concurrent_requests`;
/// `body_read_timeout_ms` for the body, `request_timeout_ms` for the whole), then Web
/// Push posts go straight to their handler and everything else through axum's router.
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
    clients: Arc<Clients>,
    request_timeout: Duration,
    body_timeout: Duration,
}

impl Http {
    /// The surface over `state`.
    pub fn new(state: AppState) -> Http {
        let limits = &state.inner.config.limits;
        let slots = Arc::new(Semaphore::new(limits.max_concurrent_requests));
        let request_timeout = Duration::from_millis(limits.request_timeout_ms);
        let body_timeout = Duration::from_millis(limits.body_read_timeout_ms.min(limits.request_timeout_ms));
        let clients = Clients::new(limits.max_connections_per_ip, limits.max_requests_per_client);
        let router = Router::new()
            .merge(push::routes())
            .merge(matrix::routes())
            .merge(devices::routes())
            .merge(ops::routes())
            .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource") })
            .with_state(state.clone());
        Http { state, router, slots, clients, request_timeout, body_timeout }
    }

    /// What every client holds (the listener counts connections on it).
    pub fn clients(&self) -> &Arc<Clients> {
        &self.clients
    }

    /// Answer one request from `peer`, which came on `connection` (its client's count),
    /// or on a trusted proxy's connection (None: the client is the one it forwards for).
    pub async fn handle<B>(&self, req: Request<B>, peer: SocketAddr, connection: Option<&Arc<Connection>>) -> Response
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<axum::BoxError>,
    {
        // The client's share first: a client over it must not take a global slot either.
        let share = match connection {
            Some(c) => c.begin_request().map(|r| (Some(r), None)),
            None => {
                let forwarded = req.headers().get_all("x-forwarded-for").iter().map(|v| v.to_str().unwrap_or(""));
                let client = self.state.inner.proxies.client(peer.ip(), forwarded);
                self.clients.begin_request(client).map(|r| (None, Some(r)))
            }
        };
        if share.is_none() {
            metrics::counter!(crate::metrics::CLIENT_REQUESTS_REFUSED).increment(1);
            // 429, which senders retry: the request is fine, the client has too many open.
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_in_flight",
                "this client has as many requests in flight as it may; retry when one is answered",
            )
            .with_retry_after(Duration::from_secs(1))
            .into_response();
        }
        let Ok(_slot) = self.slots.try_acquire() else {
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "server is at its concurrency limit; retry later")
                .with_retry_after(Duration::from_secs(1))
                .into_response();
        };
        let started = tokio::time::Instant::now();
        let late = Arc::new(AtomicBool::new(false));
        let req = req.map(|body| deadline::Deadline::new(body, started + self.body_timeout, late.clone()));
        let response = match tokio::time::timeout_at(started + self.request_timeout, self.dispatch(req, peer)).await {
            Ok(response) => response,
            Err(_) => return ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", "request took too long").into_response(),
        };
        if late.load(Ordering::Relaxed) {
            // Whatever the handler made of the failed read, the client was too slow.
            return ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", "the request body did not arrive in time").into_response();
        }
        response
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
