//! The connections to a push service (FCM v1 or Google's Web Push service): multiplexed
//! HTTP/2 connections held directly, reopened when they die, and a further one opened only
//! when the first carry as many concurrent streams as the service allows.
//!
//! hyper-util's pooled client would keep one connection per origin, looked up per request
//! (two pool locks, a key, a connect future raced against the checkout); the relay sends
//! one request per push, so holding the senders ourselves leaves an `Arc` clone and an
//! atomic count per send. And one connection is not enough for a busy relay: FCM's front
//! ends allow about a hundred concurrent streams, which at tens of milliseconds a send
//! caps a connection at a few thousand sends a second.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::Connection;
use hyper_util::rt::TokioIo;
use tower::{Service, ServiceExt};

use super::transport::chunks;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Concurrent streams assumed of a connection that has not sent its settings yet.
const ASSUMED_STREAMS: usize = uprelay_emulator::wire::FCM_MAX_CONCURRENT_STREAMS as usize;

/// How often each connection is pinged, and how long a ping may go unanswered before
/// the connection is dropped: one connection carries every send, and if a NAT or load
/// balancer drops it silently, every send would time out on it until TCP gives up
/// (many minutes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeepAlive {
    pub interval: Duration,
    pub timeout: Duration,
}

/// FCM's answer to one request.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What one try on the link gave.
pub(crate) enum Sent {
    /// FCM's answer.
    Answer(Answer),
    /// The peer does not speak HTTP/2 (TLS negotiated HTTP/1.1): the request is for the
    /// HTTP/1.1 pool; nothing was sent.
    NotH2,
}

/// The headers of one send; the body goes separately.
pub(crate) struct Head<'a> {
    pub uri: &'a Uri,
    /// FCM's OAuth bearer, or the Web Push road's VAPID authorization.
    pub authorization: &'a HeaderValue,
    pub content_type: &'a HeaderValue,
    pub user_agent: &'a HeaderValue,
    /// Further headers of the request (the Web Push road's TTL, Urgency, Topic, encoding).
    pub extra: &'a [(HeaderName, HeaderValue)],
}

impl Head<'_> {
    /// The request's own headers (both wires send the same ones).
    pub fn insert_into(&self, headers: &mut HeaderMap) {
        headers.insert(header::AUTHORIZATION, self.authorization.clone());
        headers.insert(header::CONTENT_TYPE, self.content_type.clone());
        headers.insert(header::USER_AGENT, self.user_agent.clone());
        for (name, value) in self.extra {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// An open connection: a handle to send on it, and whether the task driving it still runs.
#[derive(Clone)]
struct Conn {
    sender: SendRequest<Bytes>,
    alive: Arc<AtomicBool>,
}

impl Conn {
    fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    fn is(&self, other: &Conn) -> bool {
        Arc::ptr_eq(&self.alive, &other.alive)
    }
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
    fn live(&self) -> Option<Conn> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.as_ref().filter(|c| c.is_alive()).cloned()
    }

    /// Whether a further stream fits within what the peer allows, and the live
    /// connection if there is one (one lock for both: this runs on every send). Before a
    /// connection has told its limit (unopened, opening), FCM's usual one is assumed, so
    /// that a burst at start spreads instead of queueing on one connection.
    fn room(&self) -> Room {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let live = current.as_ref().filter(|c| c.is_alive());
        let limit = live.map_or(ASSUMED_STREAMS, |c| c.sender.current_max_send_streams());
        if self.in_flight.load(Ordering::Relaxed) >= limit {
            return Room::Full;
        }
        live.map_or(Room::Unopened, |c| Room::Open(c.clone()))
    }

    /// Drop `failed` from the slot (another send may already have replaced it with a
    /// fresh connection, which stays).
    fn forget(&self, failed: &Conn) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_some_and(|c| c.is(failed) || !c.is_alive()) {
            *current = None;
        }
    }
}

/// What a slot can take now.
enum Room {
    /// Its connection carries as many streams as allowed.
    Full,
    /// Room, on this live connection.
    Open(Conn),
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

/// What the link carries, for `/metrics`: how many connections and streams an operator
/// needs for `fcm.connections` at their FCM's distance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Connections open now.
    pub connections_open: usize,
    /// Connections opened since start (reopened ones included).
    pub connections_opened: u64,
    /// Sends between being handed to the link and their whole answer, now...
    pub sends_in_flight: usize,
    /// ...and the most at once since start.
    pub sends_in_flight_max: usize,
}

/// The link-wide counts behind [`LinkStats`]; one add and one subtract per send, and a
/// compare-and-swap only when a new peak is set.
#[derive(Default)]
struct Gauges {
    in_flight: AtomicUsize,
    in_flight_max: AtomicUsize,
    opened: AtomicU64,
}

impl Gauges {
    fn begin(&self) -> Stream<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        if now > self.in_flight_max.load(Ordering::Relaxed) {
            self.in_flight_max.fetch_max(now, Ordering::Relaxed);
        }
        Stream(&self.in_flight)
    }
}

/// Why one exchange failed.
enum Failure {
    /// FCM cannot have acted on the request (the connection was closing, or the stream
    /// was refused or beyond the peer's GOAWAY): safe to send again.
    Unsent(h2::Error),
    /// Anything else.
    Failed(BoxError),
}

impl From<h2::Error> for Failure {
    fn from(e: h2::Error) -> Failure {
        // RFC 9113 §8.7: REFUSED_STREAM, and streams above a GOAWAY's last stream id,
        // were not processed. h2 reports the latter as a remote GOAWAY error on the stream.
        if e.reason() == Some(h2::Reason::REFUSED_STREAM) || (e.is_go_away() && e.is_remote()) {
            Failure::Unsent(e)
        } else {
            Failure::Failed(e.into())
        }
    }
}

/// Up to `slots.len()` HTTP/2 connections to `origin`, opened as needed.
///
/// Requests go straight to the `h2` crate: hyper's HTTP/2 client would hand every
/// request through a channel to its connection task and spawn a task per request to
/// await the answer (about a tenth of the relay's CPU per push in profiles).
pub(crate) struct H2Link<C> {
    connector: C,
    /// scheme://authority of FCM, what the connector dials.
    origin: Uri,
    /// Plain-http HTTP/2 without negotiation (the emulator); over TLS, ALPN decides.
    prior_knowledge: bool,
    builder: h2::client::Builder,
    slots: Vec<Slot>,
    /// Answers longer than this are not FCM's (a transport error).
    max_response: usize,
    keepalive: KeepAlive,
    /// TLS negotiated HTTP/1.1 once: FCM's front ends all speak HTTP/2, so this is a
    /// proxy or a test server, and asking again on every send would cost a handshake each.
    not_h2: AtomicBool,
    gauges: Gauges,
}

impl<C> H2Link<C>
where
    C: Service<Uri, Error = BoxError> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Connection + Unpin + Send + 'static,
    C::Future: Send,
{
    /// A link of at most `connections` (≥ 1) connections to `origin`, dialled through
    /// `connector`; answers over `max_response` bytes are errors.
    pub(crate) fn new(
        connector: C,
        origin: Uri,
        prior_knowledge: bool,
        connections: usize,
        max_response: usize,
        keepalive: KeepAlive,
    ) -> Self {
        let slots = (0..connections.max(1))
            .map(|_| Slot { current: Mutex::new(None), in_flight: AtomicUsize::new(0), opening: tokio::sync::Mutex::new(()) })
            .collect();
        let mut builder = h2::client::Builder::new();
        builder.enable_push(false);
        // h2 would otherwise assume no limit until the peer's SETTINGS arrive, open every
        // waiting stream at once, and have those past the peer's limit refused.
        builder.initial_max_send_streams(ASSUMED_STREAMS);
        H2Link {
            connector,
            origin,
            prior_knowledge,
            builder,
            slots,
            max_response,
            keepalive,
            not_h2: AtomicBool::new(false),
            gauges: Gauges::default(),
        }
    }

    /// The link's connections and streams now, and their peaks.
    pub(crate) fn stats(&self) -> LinkStats {
        LinkStats {
            connections_open: self.slots.iter().filter(|s| s.live().is_some()).count(),
            connections_opened: self.gauges.opened.load(Ordering::Relaxed),
            sends_in_flight: self.gauges.in_flight.load(Ordering::Relaxed),
            sends_in_flight_max: self.gauges.in_flight_max.load(Ordering::Relaxed),
        }
    }

    /// Send one request, opening a connection first if needed. A request the peer did not
    /// act on is tried once more: on the same connection when only the stream was refused
    /// (REFUSED_STREAM) and the connection lives on, on a fresh one when it is going away
    /// (GOAWAY).
    pub(crate) async fn send(&self, head: &Head<'_>, body: &Bytes) -> Result<Sent, BoxError> {
        if self.not_h2.load(Ordering::Relaxed) {
            return Ok(Sent::NotH2);
        }
        let _counted = self.gauges.begin();
        let (slot, live) = self.pick();
        let _stream = Stream::open(&slot.in_flight);
        let conn = match live {
            Some(conn) => conn,
            None => match self.connected(slot).await? {
                Some(conn) => conn,
                None => return Ok(Sent::NotH2),
            },
        };
        let refused_only = match self.exchange(&conn, head, body).await {
            Ok(answer) => return Ok(Sent::Answer(answer)),
            Err(Failure::Failed(e)) => return Err(e),
            Err(Failure::Unsent(e)) => {
                tracing::debug!(error = %e, "FCM connection refused a send; trying again");
                !e.is_go_away()
            }
        };
        // A connection that refused one stream but still takes others is kept (replacing it
        // would open connections beyond `fcm.connections` while it drains); one going away
        // is replaced.
        let conn = match slot.live().filter(|c| refused_only && c.is(&conn)) {
            Some(same) => same,
            None => {
                slot.forget(&conn);
                match self.connected(slot).await? {
                    Some(conn) => conn,
                    None => return Ok(Sent::NotH2),
                }
            }
        };
        match self.exchange(&conn, head, body).await {
            Ok(answer) => Ok(Sent::Answer(answer)),
            Err(Failure::Unsent(e)) => Err(e.into()),
            Err(Failure::Failed(e)) => Err(e),
        }
    }

    /// One request and its whole answer on `conn`.
    async fn exchange(&self, conn: &Conn, head: &Head<'_>, body: &Bytes) -> Result<Answer, Failure> {
        let mut request = Request::new(());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = head.uri.clone();
        let headers = request.headers_mut();
        headers.reserve(4 + head.extra.len());
        head.insert_into(headers);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        let mut sender = conn.sender.clone();
        let (answer, mut stream) = sender.send_request(request, body.is_empty())?;
        let mut pieces = chunks(body).peekable();
        while let Some(piece) = pieces.next() {
            stream.send_data(piece, pieces.peek().is_none())?;
        }
        let (parts, mut incoming) = answer.await?.into_parts();
        let mut whole = BytesMut::new();
        while let Some(data) = incoming.data().await {
            let data = data?;
            let _ = incoming.flow_control().release_capacity(data.len());
            if whole.len() + data.len() > self.max_response {
                return Err(Failure::Failed(format!("FCM answer longer than {} bytes", self.max_response).into()));
            }
            whole.extend_from_slice(&data);
        }
        Ok(Answer { status: parts.status, headers: parts.headers, body: whole.freeze() })
    }

    /// The first connection with room for a stream, when it is open;
    /// all full, the least loaded, where the stream waits for room.
    fn pick(&self) -> (&Slot, Option<Conn>) {
        for slot in &self.slots {
            match slot.room() {
                Room::Full => continue,
                Room::Open(conn) => return (slot, Some(conn)),
                Room::Unopened => return (slot, None),
            }
        }
        let slot = self.slots.iter().min_by_key(|s| s.in_flight.load(Ordering::Relaxed)).expect("at least one slot");
        (slot, slot.live())
    }

    /// `slot`'s live connection, opened if needed; None when the peer negotiated HTTP/1.1.
    async fn connected(&self, slot: &Slot) -> Result<Option<Conn>, BoxError> {
        if let Some(c) = slot.live() {
            return Ok(Some(c));
        }
        let _one = slot.opening.lock().await;
        if let Some(c) = slot.live() {
            return Ok(Some(c));
        }
        let io = self.connector.clone().oneshot(self.origin.clone()).await?;
        if !self.prior_knowledge && !io.connected().is_negotiated_h2() {
            self.not_h2.store(true, Ordering::Relaxed);
            return Ok(None);
        }
        let (sender, mut connection) = self.builder.handshake::<_, Bytes>(TokioIo::new(io)).await?;
        self.gauges.opened.fetch_add(1, Ordering::Relaxed);
        let alive = Arc::new(AtomicBool::new(true));
        let running = alive.clone();
        let pings = connection.ping_pong();
        let keepalive = self.keepalive;
        tokio::spawn(async move {
            tokio::select! {
                ended = &mut connection => if let Err(e) = ended {
                    tracing::debug!(error = %e, "FCM connection ended");
                },
                () = unanswered_ping(pings, keepalive) => tracing::warn!(
                    timeout_ms = keepalive.timeout.as_millis() as u64,
                    "FCM connection stopped answering pings; closing it (the next send opens a new one)"
                ),
            }
            running.store(false, Ordering::Relaxed);
        });
        let conn = Conn { sender, alive };
        *slot.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
        Ok(Some(conn))
    }
}

/// Ping every `keepalive.interval`; resolves when a ping goes unanswered for
/// `keepalive.timeout`.
async fn unanswered_ping(pings: Option<h2::PingPong>, keepalive: KeepAlive) {
    let Some(mut pings) = pings else { return std::future::pending().await };
    loop {
        tokio::time::sleep(keepalive.interval).await;
        match tokio::time::timeout(keepalive.timeout, pings.ping(h2::Ping::opaque())).await {
            Ok(Ok(_pong)) => {}
            // The connection is failing anyway; it ends on its own.
            Ok(Err(_)) => return std::future::pending().await,
            Err(_) => return,
        }
    }
}
