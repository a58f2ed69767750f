//! The accept loop: axum's router served by hyper with the bounds `axum::serve` does
//! not expose — a cap on open connections, overall and per client IP, a deadline for
//! receiving request headers (slowloris), a header size cap, a cap on concurrent HTTP/2
//! streams, an idle timeout for HTTP/2 connections — and a graceful drain on shutdown.
//! Each connection carries its client's count, so its requests are counted against the
//! client's share without looking the client up again. A peer that stops reading is cut
//! off: writes must make progress within `write_timeout_ms`, and a connection told to go
//! (GOAWAY, graceful close) is closed hard `goaway_grace_ms` later whatever it still holds.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use uprelay_emulator::wire::H2_PREFACE;

use crate::api::Http;
use crate::limits::LimitsConfig;
use crate::write_deadline::WriteDeadline;

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

/// The requests in flight on one HTTP/2 connection, and when the last one ended: what
/// its idle timeout looks at. Pings and other frames never touch it, so a peer that
/// only answers keep-alive pings is idle.
struct Streams {
    open: AtomicUsize,
    /// Milliseconds after `epoch` at which the last request ended (or the connection began).
    last_ms: AtomicU64,
    epoch: Instant,
}

/// Marks one request in flight until dropped (answered, or its future cancelled).
struct InFlight(Arc<Streams>);

impl Streams {
    fn new() -> Arc<Streams> {
        Arc::new(Streams { open: AtomicUsize::new(0), last_ms: AtomicU64::new(0), epoch: Instant::now() })
    }
    fn begin(self: &Arc<Self>) -> InFlight {
        self.open.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
    /// Resolves once no request has been in flight for `timeout`.
    async fn idle(&self, timeout: Duration) {
        let mut deadline = self.epoch + timeout;
        loop {
            tokio::time::sleep_until(deadline).await;
            if self.open.load(Ordering::Acquire) > 0 {
                // Busy: whenever the last request ends, the clock restarts from there.
                deadline = Instant::now() + timeout;
                continue;
            }
            let idle_from = self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Acquire));
            if Instant::now() >= idle_from + timeout {
                return;
            }
            deadline = idle_from + timeout;
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let s = &self.0;
        s.last_ms.fetch_max(s.epoch.elapsed().as_millis() as u64, Ordering::AcqRel);
        s.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serve `http` on `listener` until `shutdown` resolves, then let in-flight requests
/// finish for up to `limits.shutdown_grace_ms`.
pub async fn serve(listener: TcpListener, http: Http, limits: &LimitsConfig, shutdown: impl std::future::Future<Output = ()>) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let clients = http.clients().clone();
    let proxies = limits.trusted_proxies();
    let header_timeout = Duration::from_millis(limits.header_read_timeout_ms);
    let idle_timeout = Duration::from_millis(limits.idle_timeout_ms);
    let write_timeout = Duration::from_millis(limits.write_timeout_ms);
    let goaway_grace = Duration::from_millis(limits.goaway_grace_ms);
    let shutdown_grace = Duration::from_millis(limits.shutdown_grace_ms);
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
        .max_concurrent_streams(limits.max_streams_per_connection)
        // Idle HTTP/2 peers that stop answering pings give their slot back.
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    let (h1, h2) = (Arc::new(h1), Arc::new(h2));
    // Tells every connection to finish: hyper's graceful shutdown for those being
    // served, giving up for those still waiting for their first bytes (clients pre-open
    // connections they may never use).
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
        // A trusted reverse proxy carries many clients' connections: only its own
        // upstream limits apply to it.
        let ip_slot = if proxies.trusts(peer.ip()) {
            None
        } else {
            match clients.connect(peer.ip()) {
                Some(slot) => Some(Arc::new(slot)),
                None => {
                    metrics::counter!(crate::metrics::CONNECTIONS_REFUSED).increment(1);
                    tracing::debug!(%peer, "per-IP connection limit reached; closing new connection");
                    drop(stream);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let http = http.clone();
        let (h1, h2) = (h1.clone(), h2.clone());
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
                drop((permit, ip_slot));
                return;
            };
            // HTTP/1 idles under hyper's header_read_timeout between requests; HTTP/2
            // has no such bound in hyper, so its requests are counted here.
            let streams = is_h2.then(Streams::new);
            let counted = streams.clone();
            let client = ip_slot.clone();
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let http = http.clone();
                let in_flight = counted.as_ref().map(Streams::begin);
                let client = client.clone();
                async move {
                    let response = http.handle(req, peer, client.as_ref()).await;
                    drop(in_flight);
                    Ok::<_, Infallible>(response)
                }
            });
            let builder = if is_h2 { h2 } else { h1 };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(WriteDeadline::new(stream, write_timeout)), service);
            tokio::pin!(conn);
            let idle = async {
                match &streams {
                    Some(s) => s.idle(idle_timeout).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(idle);
            // Once told to go, the connection has this long to finish (a peer with a
            // zero flow-control window that answers pings would otherwise stay forever).
            let hard_close = tokio::time::sleep(Duration::MAX);
            tokio::pin!(hard_close);
            let mut finishing = false;
            let ended = loop {
                tokio::select! {
                    ended = conn.as_mut() => break ended,
                    _ = stopping.wait_for(|stop| *stop), if !finishing => {
                        conn.as_mut().graceful_shutdown();
                        finishing = true;
                        hard_close.as_mut().reset(Instant::now() + shutdown_grace);
                    }
                    _ = &mut idle, if !finishing => {
                        tracing::debug!(%peer, "HTTP/2 connection idle; sending GOAWAY");
                        conn.as_mut().graceful_shutdown();
                        finishing = true;
                        hard_close.as_mut().reset(Instant::now() + goaway_grace);
                    }
                    _ = &mut hard_close, if finishing => {
                        tracing::debug!(%peer, "connection still open after its grace period; closing");
                        break Ok(());
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop((permit, ip_slot));
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    // Every connection holds a permit until it ends: having them all back is the drain.
    let grace = Duration::from_millis(limits.shutdown_grace_ms);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, connections.acquire_many(all)).await.is_err() {
        tracing::warn!(grace_ms = limits.shutdown_grace_ms, "shutdown grace period over; closing remaining connections");
    }
}
