//! The emulator's accept loop: HTTP/1.1 through hyper (as `axum::serve` does it), HTTP/2
//! prior knowledge (h2c) through [`crate::h2c`], and a graceful drain on shutdown.
//!
//! Why not `axum::serve`: it hands every connection to hyper, whose HTTP/2 server costs more
//! CPU per send than the emulator's own work (see [`crate::h2c`]). Everything else here
//! mirrors `axum::serve` 0.8: TCP_NODELAY on every connection, hyper's protocol auto-detection
//! settings for HTTP/1.1, accept errors retried after 1 s, and on shutdown no new connections,
//! a graceful close of the open ones, and a wait until they are done.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::http::Http;
use crate::wire::H2_PREFACE;

/// Tells connections to close gracefully (`true`); its sender learns that every connection
/// is done when all receivers are dropped.
type Stop = watch::Receiver<bool>;

/// Serve `http` on `listener` until `shutdown` resolves, then close every connection
/// gracefully and return once they are all done.
pub(crate) async fn serve(listener: TcpListener, http: Http, shutdown: impl Future<Output = ()>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            tcp = accept(&listener) => tcp,
            () = &mut shutdown => break,
        };
        // Like FCM's front ends, answer without Nagle's delay: small h2 frames held back
        // until the client's (delayed) ACK would add 40 ms stalls the real service lacks.
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(tcp, http.clone(), stop_rx.clone()));
    }
    drop(listener);
    stop_tx.send_replace(true);
    drop(stop_rx);
    stop_tx.closed().await;
}

/// The next connection. Errors of one connection are skipped; others (e.g. out of file
/// descriptors) are logged and retried after a second, as `axum::serve` does.
async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => return tcp,
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                tracing::error!(error = %e, "emulator: accept error");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset)
}

/// Serve one connection with the protocol its first bytes announce.
async fn connection(tcp: TcpStream, http: Http, mut stop: Stop) {
    // A client that has not said anything yet must not hold up shutdown.
    let sniffed = tokio::select! {
        sniffed = sniff(tcp) => sniffed,
        _ = stop.wait_for(|stop| *stop) => return,
    };
    let Ok(io) = sniffed else { return };
    if io.is_h2() {
        crate::h2c::serve(io, http, stop).await;
    } else {
        serve_http1(io, http, stop).await;
    }
}

/// Read until the bytes received either are the HTTP/2 preface or cannot become it (or the
/// peer stops sending), keeping them for the protocol's parser.
async fn sniff(mut tcp: TcpStream) -> io::Result<Prefixed<TcpStream>> {
    let mut prefix = [0u8; 24];
    let mut len = 0;
    while len < prefix.len() && H2_PREFACE.starts_with(&prefix[..len]) {
        match tcp.read(&mut prefix[len..]).await? {
            0 => break,
            n => len += n,
        }
    }
    Ok(Prefixed { prefix, pos: 0, len, io: tcp })
}

/// HTTP/1.1 exactly as `axum::serve` serves it (hyper's auto-detecting builder, upgrades on).
async fn serve_http1(io: Prefixed<TcpStream>, http: Http, mut stop: Stop) {
    let service = tower::ServiceExt::map_request(http.service(), |r: Request<Incoming>| r.map(Body::new));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http2().enable_connect_protocol();
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
    let mut conn = pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.wait_for(|stop| *stop) => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}

/// A stream whose first bytes were already read (while sniffing the protocol): reads return
/// them first, then the stream's own.
pub(super) struct Prefixed<T> {
    prefix: [u8; 24],
    pos: usize,
    len: usize,
    io: T,
}

impl<T> Prefixed<T> {
    fn is_h2(&self) -> bool {
        self.prefix[..self.len] == H2_PREFACE[..]
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.pos < me.len {
            let n = (me.len - me.pos).min(buf.remaining());
            buf.put_slice(&me.prefix[me.pos..me.pos + n]);
            me.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut me.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    // Forwarded so that h2 and hyper write as they would to the socket itself.
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sniffed(sent: &'static [u8]) -> (bool, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(sent).await.unwrap();
            c.shutdown().await.unwrap();
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let mut io = sniff(tcp).await.unwrap();
        let mut all = Vec::new();
        io.read_to_end(&mut all).await.unwrap();
        client.await.unwrap();
        (io.is_h2(), all)
    }

    #[tokio::test]
    async fn sniffing_keeps_every_byte() {
        let h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04";
        assert_eq!(sniffed(h2).await, (true, h2.to_vec()));
        let h1 = b"GET /emulator/stats HTTP/1.1\r\nhost: x\r\n\r\n";
        assert_eq!(sniffed(h1).await, (false, h1.to_vec()));
        // A partial preface, then the end of the stream: HTTP/1.1's parser gets it.
        assert_eq!(sniffed(b"PRI * HTTP").await, (false, b"PRI * HTTP".to_vec()));
        assert_eq!(sniffed(b"").await, (false, Vec::new()));
    }
}
