//! A request body that must arrive by a deadline: a client that sends its head and then
//! stalls (or trickles) its body would otherwise hold a request slot until the whole
//! request's time limit.
//!
//! Costs nothing while the body is already there: the timer is set only the first time
//! the client makes the server wait for body bytes.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Why a body read failed when its deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// `B`, failing with [`BodyTimedOut`] once `deadline` passes while a frame is awaited;
/// `fired` is set then, so the answer can say so whatever the handler made of the error.
pub struct Deadline<B> {
    inner: B,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    fired: Arc<AtomicBool>,
}

impl<B> Deadline<B> {
    /// `inner` due by `deadline`; `fired` is set when it was not.
    pub fn new(inner: B, deadline: Instant, fired: Arc<AtomicBool>) -> Deadline<B> {
        Deadline { inner, deadline, sleep: None, fired }
    }
}

impl<B> Body for Deadline<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.fired.store(true, Ordering::Relaxed);
                        Poll::Ready(Some(Err(BodyTimedOut.into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::time::Duration;

    #[tokio::test]
    async fn a_body_that_is_there_is_read_and_a_stalled_one_times_out() {
        let fired = Arc::new(AtomicBool::new(false));
        let ready = Deadline::new(http_body_util::Full::new(Bytes::from_static(b"hi")), Instant::now(), fired.clone());
        assert_eq!(ready.collect().await.unwrap().to_bytes(), Bytes::from_static(b"hi"));
        assert!(!fired.load(Ordering::Relaxed));

        let (_tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(1);
        let stalled = http_body_util::StreamBody::new(tokio_stream_of(rx));
        let started = Instant::now();
        let err = Deadline::new(stalled, started + Duration::from_millis(200), fired.clone()).collect().await.unwrap_err();
        assert!(err.downcast_ref::<BodyTimedOut>().is_some(), "{err}");
        assert!(fired.load(Ordering::Relaxed));
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    /// A stream over a channel's receiver, without another crate.
    fn tokio_stream_of<T>(rx: tokio::sync::mpsc::Receiver<T>) -> impl futures::Stream<Item = T> + Unpin {
        Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) }))
    }
}
