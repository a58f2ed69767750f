//! The FCM connection: one multiplexed HTTP/2 connection, held directly and reopened
//! when it dies.
//!
//! hyper-util's pooled client would do the same, but it looks its connection up per
//! request (two pool locks, a key, a connect future raced against the checkout), and the
//! relay sends one request per push: holding the sender ourselves leaves only an `Arc`
//! clone per send.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use axum::http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::client::legacy::connect::Connection;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceExt};

use super::transport::ChunkedBody;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What one try on the link gave.
pub(super) enum Sent {
    /// FCM's answer.
    Answer(Response<Incoming>),
    /// The peer does not speak HTTP/2 (TLS negotiated HTTP/1.1): the request comes back,
    /// untouched, for the HTTP/1.1 pool.
    NotH2(Request<ChunkedBody>),
}

/// One HTTP/2 connection to `origin`, opened on first use.
pub(super) struct H2Link<C> {
    connector: C,
    /// scheme://authority of FCM, what the connector dials.
    origin: Uri,
    /// Plain-http HTTP/2 without negotiation (the emulator); over TLS, ALPN decides.
    prior_knowledge: bool,
    builder: http2::Builder<TokioExecutor>,
    current: Mutex<Option<SendRequest<ChunkedBody>>>,
    /// TLS negotiated HTTP/1.1 once: FCM's front ends all speak HTTP/2, so this is a
    /// proxy or a test server, and asking again on every send would cost a handshake each.
    not_h2: AtomicBool,
    /// One connection attempt at a time: concurrent sends wait for it instead of each
    /// opening their own.
    opening: tokio::sync::Mutex<()>,
}

impl<C> H2Link<C>
where
    C: Service<Uri, Error = BoxError> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Connection + Unpin + Send + 'static,
    C::Future: Send,
{
    /// A link to `origin`, dialled through `connector`, with `builder`'s HTTP/2 settings.
    pub(super) fn new(connector: C, origin: Uri, prior_knowledge: bool, builder: http2::Builder<TokioExecutor>) -> Self {
        H2Link {
            connector,
            origin,
            prior_knowledge,
            builder,
            current: Mutex::new(None),
            not_h2: AtomicBool::new(false),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    /// Send `request` over the connection, opening it first if there is none. A request
    /// the connection refused before sending (it was closing: GOAWAY, reset) is tried
    /// once more on a fresh connection, as no byte of it reached FCM.
    pub(super) async fn send(&self, request: Request<ChunkedBody>) -> Result<Sent, BoxError> {
        if self.not_h2.load(Ordering::Relaxed) {
            return Ok(Sent::NotH2(request));
        }
        let Some(mut sender) = self.sender().await? else { return Ok(Sent::NotH2(request)) };
        let unsent = match sender.try_send_request(request).await {
            Ok(answer) => return Ok(Sent::Answer(answer)),
            Err(mut e) => match e.take_message() {
                Some(unsent) => unsent,
                None => return Err(e.into_error().into()),
            },
        };
        self.forget_closed();
        let Some(mut sender) = self.sender().await? else { return Ok(Sent::NotH2(unsent)) };
        Ok(Sent::Answer(sender.send_request(unsent).await?))
    }

    fn live(&self) -> Option<SendRequest<ChunkedBody>> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.as_ref().filter(|s| !s.is_closed()).cloned()
    }

    /// Drop the current connection if it is closing (another send may already have
    /// replaced it with a fresh one, which stays).
    fn forget_closed(&self) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_some_and(|s| s.is_closed() || !s.is_ready()) {
            *current = None;
        }
    }

    /// The live connection's sender; None when the peer negotiated HTTP/1.1.
    async fn sender(&self) -> Result<Option<SendRequest<ChunkedBody>>, BoxError> {
        if let Some(s) = self.live() {
            return Ok(Some(s));
        }
        let _one = self.opening.lock().await;
        if let Some(s) = self.live() {
            return Ok(Some(s));
        }
        let io = self.connector.clone().oneshot(self.origin.clone()).await?;
        if !self.prior_knowledge && !io.connected().is_negotiated_h2() {
            self.not_h2.store(true, Ordering::Relaxed);
            return Ok(None);
        }
        let (sender, connection) = self.builder.handshake(io).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "FCM connection ended");
            }
        });
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender.clone());
        Ok(Some(sender))
    }
}
