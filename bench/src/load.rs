//! The load generator: C keep-alive HTTP/1.1 connections (hyper's low-level client, one
//! tokio task per connection), each posting pre-built bodies to random pre-built paths in a
//! closed loop. Latency is recorded per task in an HdrHistogram (µs) and merged at the end;
//! only responses completed inside the measured window count for throughput and latency.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// Highest status code tracked individually (anything above is folded into it).
const MAX_STATUS: usize = 599;

/// What to send, and where.
pub struct LoadSpec {
    pub addr: SocketAddr,
    /// Request targets (`/up/<id>`), picked uniformly at random for each request.
    pub paths: Vec<Uri>,
    /// Request bodies, picked at random (all of the configured size).
    pub bodies: Vec<Bytes>,
    /// Headers sent with every request (Host, TTL, Content-Encoding, Authorization…).
    pub headers: HeaderMap,
    pub connections: usize,
    /// Tokio worker threads of the load generator (1 = a current-thread runtime).
    pub threads: usize,
}

/// Counters of one run (merged over connections).
pub struct LoadResult {
    /// Latency (µs) of responses completed inside the measured window.
    pub hist: Histogram<u64>,
    /// Responses by status inside the measured window.
    pub measured: Vec<u64>,
    /// Responses by status over the whole run (warm-up included).
    pub total: Vec<u64>,
    /// Connect/handshake/send failures (each one reconnects).
    pub transport_errors: u64,
    /// Connections still waiting for a response at the hard deadline (abandoned).
    pub abandoned: u64,
    /// First response body seen per non-201 status.
    pub samples: BTreeMap<u16, String>,
    /// First transport error text.
    pub first_error: Option<String>,
}

impl LoadResult {
    fn new() -> LoadResult {
        LoadResult {
            hist: Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds"),
            measured: vec![0; MAX_STATUS + 1],
            total: vec![0; MAX_STATUS + 1],
            transport_errors: 0,
            abandoned: 0,
            samples: BTreeMap::new(),
            first_error: None,
        }
    }

    fn merge(&mut self, o: LoadResult) {
        self.hist.add(&o.hist).expect("same histogram bounds");
        for (a, b) in self.measured.iter_mut().zip(o.measured) {
            *a += b;
        }
        for (a, b) in self.total.iter_mut().zip(o.total) {
            *a += b;
        }
        self.transport_errors += o.transport_errors;
        self.abandoned += o.abandoned;
        for (k, v) in o.samples {
            self.samples.entry(k).or_insert(v);
        }
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }

    pub fn measured_of(&self, status: u16) -> u64 {
        self.measured[status as usize]
    }

    pub fn total_of(&self, status: u16) -> u64 {
        self.total[status as usize]
    }

    /// Non-`ok` statuses with their counts, over the measured window or the whole run.
    pub fn other_statuses(&self, ok: u16, whole_run: bool) -> Vec<(u16, u64)> {
        let v = if whole_run { &self.total } else { &self.measured };
        v.iter().enumerate().filter(|(s, n)| **n > 0 && *s != ok as usize).map(|(s, n)| (s as u16, *n)).collect()
    }
}

/// Timing of a run: warm-up until `measure_start`, measured until `measure_end`, and no
/// connection outlives `hard_end`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub measure_start: Instant,
    pub measure_end: Instant,
    pub hard_end: Instant,
}

/// xorshift64*: a few instructions per pick, no shared state.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }
}

/// Run the load on its own runtime (in the calling thread) and return the merged counters.
pub fn run(spec: Arc<LoadSpec>, window: Window) -> LoadResult {
    let mut builder = if spec.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(spec.threads);
        b
    };
    let rt = builder.enable_all().build().expect("load runtime");
    rt.block_on(async move {
        let seed0: u64 = rand::random::<u64>() | 1;
        let handles: Vec<_> = (0..spec.connections)
            .map(|i| {
                let spec = spec.clone();
                let seed = seed0.wrapping_add((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
                tokio::spawn(connection(spec, window, seed))
            })
            .collect();
        let mut out = LoadResult::new();
        for h in handles {
            match h.await {
                Ok(r) => out.merge(r),
                Err(e) => {
                    out.transport_errors += 1;
                    out.first_error.get_or_insert_with(|| format!("load task failed: {e}"));
                }
            }
        }
        out
    })
}

enum ConnEnd {
    /// The measured window is over.
    Done,
    /// The connection failed; reconnect.
    Failed(String),
    /// The hard deadline passed with a request in flight.
    Abandoned,
}

/// One keep-alive connection, reconnecting after failures until the window ends.
async fn connection(spec: Arc<LoadSpec>, w: Window, seed: u64) -> LoadResult {
    let mut st = LoadResult::new();
    let mut rng = Rng(seed);
    let hard = tokio::time::Instant::from_std(w.hard_end);
    while Instant::now() < w.measure_end {
        let end = {
            let deadline = tokio::time::sleep_until(hard);
            tokio::pin!(deadline);
            let io = tokio::select! {
                r = tokio::net::TcpStream::connect(spec.addr) => r,
                _ = &mut deadline => { st.abandoned += 1; break; }
            };
            let stream = match io {
                Ok(s) => s,
                Err(e) => {
                    note_error(&mut st, format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
                Ok(x) => x,
                Err(e) => {
                    note_error(&mut st, format!("handshake: {e}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            tokio::pin!(conn);
            let requests = async {
                loop {
                    let started = Instant::now();
                    if started >= w.measure_end {
                        return ConnEnd::Done;
                    }
                    let path = &spec.paths[rng.below(spec.paths.len())];
                    let body = &spec.bodies[rng.below(spec.bodies.len())];
                    let mut req = Request::new(Full::new(body.clone()));
                    *req.method_mut() = Method::POST;
                    *req.uri_mut() = path.clone();
                    *req.headers_mut() = spec.headers.clone();
                    let resp = match sender.send_request(req).await {
                        Ok(r) => r,
                        Err(e) => return ConnEnd::Failed(format!("request: {e}")),
                    };
                    let status = (resp.status().as_u16() as usize).min(MAX_STATUS);
                    let body = match resp.into_body().collect().await {
                        Ok(b) => b,
                        Err(e) => return ConnEnd::Failed(format!("response body: {e}")),
                    };
                    let done = Instant::now();
                    st.total[status] += 1;
                    if done >= w.measure_start && done < w.measure_end {
                        st.measured[status] += 1;
                        st.hist.saturating_record(done.duration_since(started).as_micros() as u64);
                    }
                    if status != 201 && !st.samples.contains_key(&(status as u16)) {
                        let text = String::from_utf8_lossy(&body.to_bytes()).chars().take(300).collect();
                        st.samples.insert(status as u16, text);
                    }
                }
            };
            tokio::select! {
                e = requests => e,
                r = &mut conn => ConnEnd::Failed(match r {
                    Ok(()) => "server closed the connection".to_owned(),
                    Err(e) => format!("connection: {e}"),
                }),
                _ = &mut deadline => ConnEnd::Abandoned,
            }
        };
        match end {
            ConnEnd::Done => break,
            ConnEnd::Failed(e) => {
                note_error(&mut st, e);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            ConnEnd::Abandoned => {
                st.abandoned += 1;
                break;
            }
        }
    }
    st
}

fn note_error(st: &mut LoadResult, e: String) {
    st.transport_errors += 1;
    st.first_error.get_or_insert(e);
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn picks_cover_the_range_and_stay_inside() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut seen = [0u32; 10];
        for _ in 0..100_000 {
            seen[rng.below(10)] += 1;
        }
        assert!(seen.iter().all(|&n| (9_000..11_000).contains(&n)), "{seen:?}");
    }
}
