//! The accept loop: axum's router served by hyper with the bounds `axum::serve` does
//! not expose — a cap on open connections, a deadline for receiving request headers
//! (slowloris), a header size cap — and a graceful drain on shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use uprelay_emulator::wire::H2_PREFACE;

use crate::api::Http;
use crate::config::LimitsConfig;

/// Wait (at most `deadline`) until the first bytes tell HTTP/2 prior knowledge from
/// HTTP/1. None when the peer closed or stayed silent.
async fn sniff_protocol(stream: &tokio::net::TcpStream, deadline: Duration) -> Option<bool> {
    let mut buf = [0u8; 24];
    tokio::time::timeout(deadline, async {
        loop {
            let n = stream.peek(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            if !H2_PREFACE.starts_with(&buf[..n]) {
                return Some(false);
            }
            if n == H2_PREFACE.len() {
                return Some(true);
            }
            // A partial preface: peek would return at once with the same bytes.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .ok()
    .flatten()
}

/// Serve `http` on `listener` until `shutdown` resolves, then let in-flight requests
/// finish for up to `limits.shutdown_grace_ms`.
pub async fn serve(listener: TcpListener, http: Http, limits: &LimitsConfig, shutdown: impl std::future::Future<Output = ()>) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let header_timeout = Duration::from_millis(limits.header_read_timeout_ms);
    let mut h1 = Builder::new(TokioExecutor::new()).http1_only();
    h1.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let mut h2 = Builder::new(TokioExecutor::new()).http2_only();
    h2.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32)
        .max_concurrent_streams(256u32)
        // Idle HTTP/2 peers that stop answering pings give their slot back.
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    let (h1, h2) = (Arc::new(h1), Arc::new(h2));
    // Connections still waiting for their first bytes are not hyper's yet, so hyper's
    // graceful shutdown cannot reach them; this tells them to give up instead of holding
    // the drain open for a whole header timeout (clients pre-open connections they may
    // never use).
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            metrics::counter!(crate::metrics::CONNECTIONS_REFUSED).increment(1);
            tracing::debug!(%peer, "connection limit reached; closing new connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let http = http.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let http = http.clone();
            async move { Ok::<_, Infallible>(http.handle(req, peer).await) }
        });
        let (h1, h2) = (h1.clone(), h2.clone());
        let watcher = graceful.watcher();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            // Our own protocol sniffing, under the header deadline: hyper's would wait
            // forever for a peer that connects and sends nothing.
            let sniffed = tokio::select! {
                sniffed = sniff_protocol(&stream, header_timeout) => sniffed,
                _ = stopping.wait_for(|stop| *stop) => None,
            };
            let Some(is_h2) = sniffed else {
                tracing::debug!(%peer, "no request head in time (or shutting down); closing");
                drop(permit);
                return;
            };
            let builder = if is_h2 { h2 } else { h1 };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    let grace = Duration::from_millis(limits.shutdown_grace_ms);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace_ms = limits.shutdown_grace_ms, "shutdown grace period over; closing remaining connections");
    }
}
