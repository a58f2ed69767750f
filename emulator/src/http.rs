//! What the emulator serves: the router of its HTTP API, and the service in front of it that
//! hands plain sends straight to their handler.

use std::convert::Infallible;
use std::future::Future;

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::response::Response;
use axum::routing::post;
use axum::Router;

use crate::guard::{guard, Policy};
use crate::state::Emulator;
use crate::{control, oauth, page, send, webpush};

/// The HTTP API (Google's endpoints, and the `/emulator/*` controls and the inbox page behind
/// the guard of `guard.rs`, which Google's endpoints do not need: nothing there acts on a
/// browser's ambient access).
pub(crate) fn router(emu: &Emulator, policy: Policy) -> Router {
    let guarded = control::routes().merge(page::routes()).layer(axum::middleware::from_fn_with_state(policy, guard));
    Router::new()
        .route("/token", post(oauth::token))
        .route("/v1/projects/{project}/messages:send", post(send::send))
        .route("/fcm/send/{token}", post(webpush::send))
        .merge(guarded)
        .with_state(emu.clone())
}

/// What `uprelay emulator` and the in-process emulator serve (over HTTP/1.1 and h2c, see
/// [`crate::serve`]): [`router`], except that sends on a plain path go straight to their handler
/// ([`send::send_plain`], [`webpush::send_plain`]).
///
/// Why sends skip the router: in the relay's benchmark the emulator shares the machine with
/// the relay under test, and the router's per-request work (path matching into extension maps,
/// boxed services and futures) was ~7 % of the emulator's CPU per send, taken from the relay.
/// The relay's own push path does the same (`api::Http`).
#[derive(Clone)]
pub(crate) struct Http {
    emu: Emulator,
    router: Router,
    /// SETTINGS_MAX_CONCURRENT_STREAMS of h2c connections.
    pub(crate) max_concurrent_streams: u32,
}

impl Http {
    pub(crate) fn new(emu: &Emulator, max_concurrent_streams: u32, policy: Policy) -> Http {
        Http { emu: emu.clone(), router: router(emu, policy), max_concurrent_streams }
    }

    pub(crate) async fn dispatch(self, request: Request) -> Result<Response, Infallible> {
        if request.method() == Method::POST && send::plain_project(request.uri().path()).is_some() {
            let response = send::send_plain(&self.emu, request).await;
            return Ok(with_content_length(response));
        }
        if request.method() == Method::POST && webpush::plain_token(request.uri().path()).is_some() {
            let response = webpush::send_plain(&self.emu, request).await;
            return Ok(with_content_length(response));
        }
        tower::ServiceExt::oneshot(self.router, request).await
    }

    /// The service for `axum::serve`.
    pub(crate) fn service(
        self,
    ) -> impl tower::Service<
        Request,
        Response = Response,
        Error = Infallible,
        Future = impl Future<Output = Result<Response, Infallible>> + Send,
    > + Clone
           + Send
           + 'static {
        tower::service_fn(move |request| self.clone().dispatch(request))
    }
}

/// Set `Content-Length` from the body's exact size, as axum's router does to every response
/// it routes, so that an answer does not depend on whether the router served it.
fn with_content_length(mut response: Response) -> Response {
    if !response.headers().contains_key(header::CONTENT_LENGTH) {
        if let Some(len) = http_body::Body::size_hint(response.body()).exact() {
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    response
}
