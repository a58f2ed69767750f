//! The FCM connections: multiplexed HTTP/2 connections held directly, reopened when
//! they die, and a further one opened only when the first carry as many concurrent
//! streams as FCM allows.
//!
//! hyper-util's pooled client would keep one connection per origin, looked up per request
//! (two pool locks, a key, a connect future raced against the checkout); the relay sends
//! one request per push, so holding the senders ourselves leaves an `Arc` clone and an
//! atomic count per send. And one connection is not enough for a busy relay: FCM's front
//! ends allow about a hundred concurrent streams, which at tens of milliseconds a send
//! caps a connection at a few thousand sends a second.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::client::legacy::connect::Connection;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceExt};

use super::transport::ChunkedBody;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Concurrent streams assumed of a connection that has not sent its settings yet
/// (Google's front ends allow 100).
const ASSUMED_STREAMS: usize = 100;

/// What one try on the link gave.
pub(super) enum Sent {
    /// FCM's answer.
    Answer(Response<Incoming>),
    /// The peer does not speak HTTP/2 (TLS negotiated HTTP/1.1): the request comes back,
    /// untouched, for the HTTP/1.1 pool.
    NotH2(Request<ChunkedBody>),
}

/// An open connection: its sender, and the concurrent streams its peer allows (kept
/// current by the task that drives the connection).
struct Conn {
    sender: SendRequest<ChunkedBody>,
    max_streams: Arc<AtomicUsize>,
}

/// One connection's place: the connection while it lives, and the streams it carries now.
struct Slot {
    current: Mutex<Option<Conn>>,
    in_flight: AtomicUsize,
    /// One connection attempt at a time: concurrent sends wait for it instead of each
    /// opening their own.
    opening: tokio::sync::Mutex<()>,
}

impl Slot {
    fn live(&self) -> Option<SendRequest<ChunkedBody>> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.as_ref().map(|c| &c.sender).filter(|s| !s.is_closed()).cloned()
    }

    /// Whether a further stream fits within what the peer allows, and the live sender
    /// if there is one (one lock for both: this runs on every send). Before a connection
    /// has told its limit (unopened, opening), FCM's usual one is assumed, so that a burst
    /// at start spreads instead of queueing on one connection.
    fn room(&self) -> Room {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let live = current.as_ref().filter(|c| !c.sender.is_closed());
        let limit = live.map_or(ASSUMED_STREAMS, |c| c.max_streams.load(Ordering::Relaxed));
        if self.in_flight.load(Ordering::Relaxed) >= limit {
            return Room::Full;
        }
        live.map_or(Room::Unopened, |c| Room::Open(c.sender.clone()))
    }

    /// Drop the connection if it is closing (another send may already have replaced it
    /// with a fresh one, which stays).
    fn forget_closed(&self) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_some_and(|c| c.sender.is_closed() || !c.sender.is_ready()) {
            *current = None;
        }
    }
}

/// What a slot can take now.
enum Room {
    /// Its connection carries as many streams as allowed.
    Full,
    /// Room, on this live connection.
    Open(SendRequest<ChunkedBody>),
    /// Room, once a connection is opened.
    Unopened,
}

/// Counts a stream on its slot for as long as it is open.
struct Stream<'a>(&'a AtomicUsize);

impl<'a> Stream<'a> {
    fn open(count: &'a AtomicUsize) -> Stream<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Stream(count)
    }
}

impl Drop for Stream<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Up to `slots.len()` HTTP/2 connections to `origin`, opened as needed.
pub(super) struct H2Link<C> {
    connector: C,
    /// scheme://authority of FCM, what the connector dials.
    origin: Uri,
    /// Plain-http HTTP/2 without negotiation (the emulator); over TLS, ALPN decides.
    prior_knowledge: bool,
    builder: http2::Builder<TokioExecutor>,
    slots: Vec<Slot>,
    /// TLS negotiated HTTP/1.1 once: FCM's front ends all speak HTTP/2, so this is a
    /// proxy or a test server, and asking again on every send would cost a handshake each.
    not_h2: AtomicBool,
}

impl<C> H2Link<C>
where
    C: Service<Uri, Error = BoxError> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Connection + Unpin + Send + 'static,
    C::Future: Send,
{
    /// A link of at most `connections` (≥ 1) connections to `origin`, dialled through
    /// `connector`, with `builder`'s HTTP/2 settings.
    pub(super) fn new(
        connector: C,
        origin: Uri,
        prior_knowledge: bool,
        builder: http2::Builder<TokioExecutor>,
        connections: usize,
    ) -> Self {
        let slots = (0..connections.max(1))
            .map(|_| Slot { current: Mutex::new(None), in_flight: AtomicUsize::new(0), opening: tokio::sync::Mutex::new(()) })
            .collect();
        H2Link { connector, origin, prior_knowledge, builder, slots, not_h2: AtomicBool::new(false) }
    }

    /// Send `request`, opening a connection first if needed. A request a connection
    /// refused before sending (it was closing: GOAWAY, reset) is tried once more on a
    /// fresh connection, as no byte of it reached FCM.
    pub(super) async fn send(&self, request: Request<ChunkedBody>) -> Result<Sent, BoxError> {
        if self.not_h2.load(Ordering::Relaxed) {
            return Ok(Sent::NotH2(request));
        }
        let (slot, live) = self.pick();
        let _stream = Stream::open(&slot.in_flight);
        let mut sender = match live {
            Some(sender) => sender,
            None => match self.connected(slot).await? {
                Some(sender) => sender,
                None => return Ok(Sent::NotH2(request)),
            },
        };
        let unsent = match sender.try_send_request(request).await {
            Ok(answer) => return Ok(Sent::Answer(answer)),
            Err(mut e) => match e.take_message() {
                Some(unsent) => unsent,
                None => return Err(e.into_error().into()),
            },
        };
        slot.forget_closed();
        let Some(mut sender) = self.connected(slot).await? else { return Ok(Sent::NotH2(unsent)) };
        Ok(Sent::Answer(sender.send_request(unsent).await?))
    }

    /// The first connection with room for a stream, with its sender when it is open;
    /// all full, the least loaded, where the stream waits for room.
    fn pick(&self) -> (&Slot, Option<SendRequest<ChunkedBody>>) {
        for slot in &self.slots {
            match slot.room() {
                Room::Full => continue,
                Room::Open(sender) => return (slot, Some(sender)),
                Room::Unopened => return (slot, None),
            }
        }
        let slot = self.slots.iter().min_by_key(|s| s.in_flight.load(Ordering::Relaxed)).expect("at least one slot");
        (slot, slot.live())
    }

    /// `slot`'s live connection, opened if needed; None when the peer negotiated HTTP/1.1.
    async fn connected(&self, slot: &Slot) -> Result<Option<SendRequest<ChunkedBody>>, BoxError> {
        if let Some(s) = slot.live() {
            return Ok(Some(s));
        }
        let _one = slot.opening.lock().await;
        if let Some(s) = slot.live() {
            return Ok(Some(s));
        }
        let io = self.connector.clone().oneshot(self.origin.clone()).await?;
        if !self.prior_knowledge && !io.connected().is_negotiated_h2() {
            self.not_h2.store(true, Ordering::Relaxed);
            return Ok(None);
        }
        let (sender, mut connection) = self.builder.handshake(io).await?;
        let max_streams = Arc::new(AtomicUsize::new(ASSUMED_STREAMS));
        let seen = max_streams.clone();
        tokio::spawn(async move {
            // The peer's SETTINGS arrive (and may change) while the connection is driven.
            let ended = std::future::poll_fn(|cx| {
                let poll = Pin::new(&mut connection).poll(cx);
                seen.store(connection.current_max_send_streams(), Ordering::Relaxed);
                poll
            });
            if let Err(e) = ended.await {
                tracing::debug!(error = %e, "FCM connection ended");
            }
        });
        *slot.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(Conn { sender: sender.clone(), max_streams });
        Ok(Some(sender))
    }
}
