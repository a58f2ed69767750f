//! HTTP/2 prior-knowledge (h2c) connections, served with the `h2` crate directly.
//!
//! Why not hyper: in the relay's benchmark every push reaches the emulator over h2c, and
//! hyper's HTTP/2 server (a task spawned per stream, its service and body layers, waking the
//! connection task from the stream task and back) cost more CPU than the emulator's own work
//! — CPU taken from the relay under test on a shared machine. Here the streams of a
//! connection are answered in the connection's own task.
//!
//! The answers are the ones hyper gave: the same SETTINGS (hyper's defaults, plus the
//! extended CONNECT protocol `axum::serve` enables), every request through [`Http::dispatch`],
//! a `date` header and a `content-length` from the body's exact size added as hyper adds them,
//! a handler dropped when its stream is reset, and the request body read as hyper reads it.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Wake, Waker};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::response::Response;
use futures::stream::{FuturesUnordered, StreamExt as _};
use futures::task::AtomicWaker;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http_body::{Body as _, Frame};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::http::Http;

/// hyper 1.x's HTTP/2 server defaults (what `axum::serve` ran with): clients get the same
/// SETTINGS and limits as from hyper, except the stream limit, which is FCM's (or
/// `--max-concurrent-streams`).
const STREAM_WINDOW: u32 = 1024 * 1024;
const CONN_WINDOW: u32 = 1024 * 1024;
const MAX_FRAME_SIZE: u32 = 16 * 1024;
const MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;
const MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;
const MAX_SEND_BUFFER_SIZE: usize = 400 * 1024;

fn builder(max_concurrent_streams: u32) -> h2::server::Builder {
    let mut b = h2::server::Builder::new();
    b.initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW)
        .max_frame_size(MAX_FRAME_SIZE)
        .max_header_list_size(MAX_HEADER_LIST_SIZE)
        .max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESET_STREAMS))
        .max_send_buffer_size(MAX_SEND_BUFFER_SIZE)
        .max_concurrent_streams(max_concurrent_streams)
        .enable_connect_protocol();
    b
}

/// Serve one h2c connection (`io` starts with the client's preface) until the client closes
/// it, it fails, or `stop` asks for a graceful close (GOAWAY, then in-flight streams finish).
/// `stop` is the accept loop's signal ([`crate::serve`]): `true` = close gracefully; dropping
/// it tells the loop this connection is done.
pub(crate) async fn serve<T>(io: T, http: Http, mut stop: watch::Receiver<bool>)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let handshake = tokio::select! {
        conn = builder(http.max_concurrent_streams).handshake::<T, Bytes>(io) => conn,
        _ = stop.wait_for(|stop| *stop) => return,
    };
    let mut conn = match handshake {
        Ok(conn) => conn,
        Err(e) => return tracing::trace!(error = %e, "emulator: h2c handshake failed"),
    };
    let mut streams = FuturesUnordered::new();
    let mut stop_asked = pin!(stop.wait_for(|stop| *stop));
    let mut closing = false;
    let guard = Arc::new(SelfWakeGuard::default());
    let waker = Waker::from(guard.clone());
    poll_fn(|cx| {
        guard.poll(cx, &waker, |cx| {
            // Polled until it fires once: GOAWAY, then h2 closes when the last stream is done.
            if !closing && stop_asked.as_mut().poll(cx).is_ready() {
                closing = true;
                conn.graceful_shutdown();
            }
            poll_streams(&mut conn, &mut streams, cx, |request, reply| answer(http.clone(), request, reply))
        })
    })
    .await;
}

/// The connection task's waker, which turns a wake that arrives while the task is being
/// polled into one more round of that poll.
///
/// Why: when a stream is answered inside the connection's task, h2 wakes that same task
/// (it has frames to write). tokio's multi-threaded scheduler treats a task woken during its
/// own poll as yielding: back of the run queue, and an idle worker thread woken to steal it
/// — two futex calls and two context switches per send when sends come one at a time. The
/// poll writes those frames before it returns anyway; it only needs to know it was woken.
#[derive(Default)]
struct SelfWakeGuard {
    state: AtomicU8,
    task: AtomicWaker,
}

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN: u8 = 2;
/// Rounds of one poll before a wake is passed on to tokio after all: tokio's cooperative
/// budget wakes a task whose budget ran out, and only returning to the scheduler renews it.
const MAX_ROUNDS: usize = 4;

impl SelfWakeGuard {
    /// Poll `f` with `waker` (made from this guard) until it is ready or was not woken.
    fn poll(&self, cx: &mut Context<'_>, waker: &Waker, mut f: impl FnMut(&mut Context<'_>) -> Poll<()>) -> Poll<()> {
        self.task.register(cx.waker());
        let mut inner = Context::from_waker(waker);
        for _ in 0..MAX_ROUNDS {
            self.state.store(POLLING, Ordering::Release);
            if f(&mut inner).is_ready() {
                self.state.store(IDLE, Ordering::Release);
                return Poll::Ready(());
            }
            // A wake after this swap finds IDLE and reaches tokio; one before it is seen here.
            if self.state.swap(IDLE, Ordering::AcqRel) != WOKEN {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Wake for SelfWakeGuard {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self.state.compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) | Err(WOKEN) => {}
            Err(_) => self.task.wake(),
        }
    }
}

type Connection<T> = h2::server::Connection<T, Bytes>;

/// Accept and answer streams until the connection is done (Ready) or waits for the client.
///
/// The order is what makes it cheap: first every stream the client has opened (one read of
/// the socket brings many), then their answers (most are ready at once: the body came with
/// the headers), then back to the connection, whose next poll writes all those answers with
/// one system call. `streams` holds the unanswered ones, polled by this task: no task per
/// stream.
fn poll_streams<T, F>(
    conn: &mut Connection<T>,
    streams: &mut FuturesUnordered<F>,
    cx: &mut Context<'_>,
    answer: impl Fn(axum::http::Request<RecvStream>, SendResponse<Bytes>) -> F,
) -> Poll<()>
where
    T: AsyncRead + AsyncWrite + Unpin,
    F: Future<Output = ()>,
{
    loop {
        loop {
            match conn.poll_accept(cx) {
                Poll::Ready(Some(Ok((request, reply)))) => streams.push(answer(request, reply)),
                Poll::Ready(Some(Err(e))) => {
                    tracing::trace!(error = %e, "emulator: h2c connection failed");
                    return Poll::Ready(());
                }
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => break,
            }
        }
        let mut answered = false;
        while let Poll::Ready(Some(())) = streams.poll_next_unpin(cx) {
            answered = true;
        }
        if !answered {
            return Poll::Pending;
        }
    }
}

/// Answer one stream: the request through [`Http::dispatch`] (unless the client resets the
/// stream first), then the response written to the stream.
async fn answer(http: Http, request: axum::http::Request<RecvStream>, mut reply: SendResponse<Bytes>) {
    let Some(request) = into_request(request, &mut reply) else {
        return;
    };
    if let Some(Ok(response)) = unless_reset(http.dispatch(request), &mut reply).await {
        send(reply, response).await;
    }
}

/// The request as hyper hands it to a service: the body read from the stream, except for
/// CONNECT, whose body would be the tunnel (never opened: no route accepts CONNECT); hyper
/// refuses a CONNECT that announces a body.
fn into_request(request: axum::http::Request<RecvStream>, reply: &mut SendResponse<Bytes>) -> Option<Request> {
    let (parts, recv) = request.into_parts();
    if parts.method != Method::CONNECT {
        return Some(Request::from_parts(parts, Body::new(H2Body::new(recv))));
    }
    let announces_body = parts.headers.get(header::CONTENT_LENGTH).is_some_and(|len| len != "0");
    if announces_body {
        reply.send_reset(Reason::INTERNAL_ERROR);
        return None;
    }
    Some(Request::from_parts(parts, Body::empty()))
}

/// `fut`'s output, or None if the client resets the stream first (then `fut` is dropped
/// unfinished, as hyper drops a handler whose stream was reset).
async fn unless_reset<F: Future>(fut: F, reply: &mut SendResponse<Bytes>) -> Option<F::Output> {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        reply.poll_reset(cx).map(|_| None)
    })
    .await
}

/// Write `response` as hyper's HTTP/2 server does: a `date` unless set, a `content-length`
/// from the body's exact size unless set, END_STREAM on the headers for an empty body.
async fn send(mut reply: SendResponse<Bytes>, response: Response) {
    let (mut head, body) = response.into_parts();
    head.headers.entry(header::DATE).or_insert_with(crate::time::http_date);
    let empty = body.is_end_stream();
    if !empty {
        if let Some(len) = body.size_hint().exact() {
            head.headers.entry(header::CONTENT_LENGTH).or_insert_with(|| HeaderValue::from(len));
        }
    }
    let head = Response::from_parts(head, ());
    match reply.send_response(head, empty) {
        Ok(tx) if !empty => pipe(body, tx).await,
        _ => {}
    }
}

/// Copy `body` to the stream frame by frame, as hyper's `PipeToSendStream` does: wait for
/// some send capacity before each non-empty DATA frame, end with an empty DATA frame if the
/// body did not say it was at its end, stop if the client resets the stream.
async fn pipe(mut body: Body, mut tx: SendStream<Bytes>) {
    loop {
        let frame = poll_fn(|cx| {
            if tx.poll_reset(cx).is_ready() {
                return Poll::Ready(None);
            }
            Pin::new(&mut body).poll_frame(cx).map(Some)
        })
        .await;
        let frame = match frame {
            None => return,
            Some(None) => return drop(tx.send_data(Bytes::new(), true)),
            Some(Some(Err(_))) => return tx.send_reset(Reason::INTERNAL_ERROR),
            Some(Some(Ok(frame))) => frame,
        };
        match frame.into_data() {
            Ok(data) => {
                let end = body.is_end_stream();
                if send_data(&mut tx, data, end).await.is_err() || end {
                    return;
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    tx.reserve_capacity(0);
                    return drop(tx.send_trailers(trailers));
                }
            }
        }
    }
}

/// Send one DATA frame's payload once the stream has some send capacity (h2 splits and
/// paces it by the flow-control windows).
async fn send_data(tx: &mut SendStream<Bytes>, data: Bytes, end: bool) -> Result<(), h2::Error> {
    if !data.is_empty() {
        // One byte, as hyper claims: claiming the whole chunk would pin connection window.
        tx.reserve_capacity(1);
        while tx.capacity() == 0 {
            match poll_fn(|cx| tx.poll_capacity(cx)).await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Err(h2::Error::from(Reason::CANCEL)),
            }
        }
    }
    tx.send_data(data, end)
}

/// A request body read from an h2 stream the way hyper's `Incoming` reads it: capacity
/// released as data is taken (so the client may send more), a reset with NO_ERROR ends the
/// body early rather than failing it (RFC 9113 §8.1), trailers after the data.
struct H2Body {
    recv: RecvStream,
    data_done: bool,
}

impl H2Body {
    fn new(recv: RecvStream) -> H2Body {
        H2Body { recv, data_done: false }
    }
}

impl http_body::Body for H2Body {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let me = self.get_mut();
        if !me.data_done {
            match ready!(me.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = me.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) if e.reason() == Some(Reason::NO_ERROR) => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => me.data_done = true,
            }
        }
        match ready!(me.recv.poll_trailers(cx)) {
            Ok(trailers) => Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t)))),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn setup() -> (Arc<Count>, Waker, Arc<SelfWakeGuard>, Waker) {
        let count = Arc::new(Count::default());
        let guard = Arc::new(SelfWakeGuard::default());
        (count.clone(), Waker::from(count), guard.clone(), Waker::from(guard))
    }

    #[test]
    fn a_wake_during_the_poll_means_one_more_round_not_a_reschedule() {
        let (count, outer, guard, inner) = setup();
        let mut rounds = 0;
        let poll = guard.poll(&mut Context::from_waker(&outer), &inner, |cx| {
            rounds += 1;
            if rounds == 1 {
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        });
        assert!(poll.is_pending());
        assert_eq!((rounds, count.0.load(Ordering::SeqCst)), (2, 0));
        // Between polls, a wake reaches the task.
        inner.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_task_woken_every_round_is_rescheduled_after_a_few() {
        let (count, outer, guard, inner) = setup();
        let mut rounds = 0;
        let poll = guard.poll(&mut Context::from_waker(&outer), &inner, |cx| {
            rounds += 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        });
        assert!(poll.is_pending());
        assert_eq!((rounds, count.0.load(Ordering::SeqCst)), (MAX_ROUNDS, 1));
    }

    #[test]
    fn a_wake_from_another_thread_mid_poll_is_not_lost() {
        let (count, outer, guard, inner) = setup();
        let poll = guard.poll(&mut Context::from_waker(&outer), &inner, |cx| {
            let waker = cx.waker().clone();
            std::thread::spawn(move || waker.wake()).join().unwrap();
            Poll::Ready(())
        });
        assert!(poll.is_ready());
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "ready: nothing to wake");
        let mut rounds = 0;
        let poll = guard.poll(&mut Context::from_waker(&outer), &inner, |cx| {
            rounds += 1;
            if rounds == 1 {
                let waker = cx.waker().clone();
                std::thread::spawn(move || waker.wake()).join().unwrap();
            }
            Poll::Pending
        });
        assert!(poll.is_pending());
        assert_eq!((rounds, count.0.load(Ordering::SeqCst)), (2, 0));
    }
}
