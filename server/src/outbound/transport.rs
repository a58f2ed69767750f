//! Wire-level shaping of the connections to Google so that many concurrent sends share one
//! `write` system call.
//!
//! h2 copies a DATA frame into its 16 KiB write buffer only when the payload is below a
//! threshold (256 bytes on sockets that support vectored writes, 1 KiB otherwise);
//! larger frames are written on their own, one `writev` per message. On loopback or a
//! busy link that write — and the network stack work behind it — cost more than the
//! rest of the send. So the connection reports itself as not vectored and message
//! bodies go out in chunks under 1 KiB: h2 then gathers the frames of all concurrent
//! streams and writes them together.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};

/// Below h2's copy threshold for non-vectored I/O (1024 bytes).
const CHUNK: usize = 1000;

/// `body` in [`CHUNK`]-byte slices (views of the same buffer, no copies), for sending
/// as separate DATA frames.
pub fn chunks(body: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    (0..body.len()).step_by(CHUNK).map(move |at| body.slice(at..(at + CHUNK).min(body.len())))
}

/// An I/O stream that hides its support for vectored writes (see the module docs).
pub struct Unvectored<T>(T);

impl<T: Read + Unpin> Read for Unvectored<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Unvectored<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        // Still correct if called: the inner stream may gather.
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}

impl<T: Connection> Connection for Unvectored<T> {
    fn connected(&self) -> Connected {
        // Carries the ALPN result: whether hyper speaks HTTP/2 on this connection.
        self.0.connected()
    }
}

/// A connector whose connections are [`Unvectored`].
#[derive(Clone)]
pub struct UnvectoredConnector<C>(pub C);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<C> tower::Service<Uri> for UnvectoredConnector<C>
where
    C: tower::Service<Uri> + Send,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = Unvectored<C::Response>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move { connecting.await.map(Unvectored).map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_body_in_small_slices() {
        for len in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5466] {
            let original: Bytes = (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into();
            let pieces: Vec<Bytes> = chunks(&original).collect();
            assert!(
                pieces.iter().all(|p| !p.is_empty() && p.len() <= CHUNK),
                "len {len}: {:?}",
                pieces.iter().map(Bytes::len).collect::<Vec<_>>()
            );
            assert_eq!(pieces.concat(), original.to_vec(), "len {len}");
            assert_eq!(pieces.len(), len.div_ceil(CHUNK), "len {len}");
        }
    }
}
