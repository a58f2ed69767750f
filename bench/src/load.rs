//! The load generator: C keep-alive HTTP/1.1 connections (a minimal hand-rolled client on
//! tokio's `TcpStream`, one tokio task per connection), each posting pre-built bodies to
//! random pre-built paths in a closed loop. Latency is recorded per task in an HdrHistogram
//! (µs) and merged at the end; only responses completed inside the measured window count for
//! throughput and latency.
//!
//! Why not hyper: the generator shares the cores with everything it measures, so every µs
//! it spends is taken from uprelay, the emulator and Redis. hyper's client (a `Request` with
//! a cloned `HeaderMap` per request, its dispatcher and channel, a `Response` and a body
//! collected into `Bytes`) cost 14–22 µs of CPU per response on the 2-core bench host; this
//! client, 9–15 µs, most of it the kernel's loopback TCP. A request is one buffer fill and
//! one `write`, a response is parsed in place by `httparse` from a reusable read buffer, and
//! nothing is allocated per request once the buffers have grown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{HeaderMap, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Highest status code tracked individually (anything above is folded into it).
const MAX_STATUS: usize = 599;

/// Longest response head (status line + headers), and also longest chunk-size line and
/// trailer section: the read buffer is this big, so anything that must be buffered whole
/// before it can be parsed has to fit.
const MAX_HEAD: usize = 64 * 1024;

/// Longest response body accepted (decoded, for chunked bodies).
const MAX_BODY: u64 = 1024 * 1024;

/// Headers per response head that `httparse` can index (more is a malformed response).
const MAX_HEADERS: usize = 64;

/// What to send, and where.
pub struct LoadSpec {
    pub addr: SocketAddr,
    /// Request targets (`/up/<id>`), picked uniformly at random for each request.
    pub paths: Vec<Uri>,
    /// Request bodies, picked at random (all of the configured size).
    pub bodies: Vec<Bytes>,
    /// Headers sent with every request (Host, TTL, Content-Encoding, Authorization…), except
    /// Content-Length and Transfer-Encoding: the client frames each body itself.
    pub headers: HeaderMap,
    pub connections: usize,
    /// Tokio worker threads of the load generator (1 = a current-thread runtime).
    pub threads: usize,
    /// Open loop: requests per second over all connections, each connection sending on its
    /// own fixed schedule whether or not the server keeps up. None: closed loop (each
    /// connection sends its next request as soon as the previous one is answered).
    pub rate: Option<f64>,
}

/// Counters of one run (merged over connections).
pub struct LoadResult {
    /// Latency (µs) of responses completed inside the measured window.
    pub hist: Histogram<u64>,
    /// Responses by status inside the measured window.
    pub measured: Vec<u64>,
    /// Responses by status over the whole run (warm-up included).
    pub total: Vec<u64>,
    /// Connect, send and receive failures, malformed responses included (each one
    /// reconnects; a clean `Connection: close` does not count).
    pub transport_errors: u64,
    /// Connections still waiting for a response at the hard deadline (abandoned).
    pub abandoned: u64,
    /// First response body seen per non-201 status.
    pub samples: BTreeMap<u16, String>,
    /// First transport error text.
    pub first_error: Option<String>,
    /// 503 answers without a `Retry-After` header, over the whole run (shedding must say
    /// when to come back).
    pub unavailable_without_retry_after: u64,
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
            unavailable_without_retry_after: 0,
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
        self.unavailable_without_retry_after += o.unavailable_without_retry_after;
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

    /// Answers other than 201 in the measured window, plus transport errors.
    pub fn non_201(&self) -> u64 {
        self.other_statuses(201, false).iter().map(|(_, n)| n).sum::<u64>() + self.transport_errors
    }

    /// Over the whole run: answers other than 201 and 503, plus transport errors and
    /// abandoned requests (what load shedding must never produce).
    pub fn failures_beside_shedding(&self) -> u64 {
        self.other_statuses(201, true).iter().filter(|(s, _)| *s != 503).map(|(_, n)| n).sum::<u64>()
            + self.transport_errors
            + self.abandoned
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
    /// The server ended the connection cleanly (`Connection: close` or a close-delimited
    /// body); reconnect at once, it is not a transport error.
    Closed,
    /// The connection failed; reconnect.
    Failed(String),
    /// The hard deadline passed with a request in flight.
    Abandoned,
}

/// When an open-loop connection sends: every `every`, from a random phase (so that the
/// connections' requests spread over the interval instead of arriving together).
struct Schedule {
    next: Instant,
    every: Duration,
}

impl Schedule {
    /// The next request's intended start: latency is counted from it, not from when the
    /// request could actually leave, so a server that falls behind is charged for the wait
    /// it causes (no coordinated omission).
    async fn next(&mut self) -> Instant {
        let intended = self.next;
        self.next += self.every;
        tokio::time::sleep_until(tokio::time::Instant::from_std(intended)).await;
        intended
    }
}

/// One keep-alive connection, reconnecting after failures until the window ends.
async fn connection(spec: Arc<LoadSpec>, w: Window, seed: u64) -> LoadResult {
    let mut st = LoadResult::new();
    let mut rng = Rng(seed);
    let mut schedule = spec.rate.map(|rate| {
        let every = Duration::from_secs_f64(spec.connections as f64 / rate);
        let phase = every.mul_f64(rng.below(1 << 20) as f64 / (1 << 20) as f64);
        Schedule { next: Instant::now() + phase, every }
    });
    // Both buffers live as long as the task, across reconnects: after the first few requests
    // nothing is allocated any more.
    let mut writer = RequestWriter::new(&spec.headers);
    let mut reader = ResponseReader::new();
    let hard = tokio::time::Instant::from_std(w.hard_end);
    while Instant::now() < w.measure_end {
        let end = {
            let deadline = tokio::time::sleep_until(hard);
            tokio::pin!(deadline);
            let io = tokio::select! {
                r = TcpStream::connect(spec.addr) => r,
                _ = &mut deadline => { st.abandoned += 1; break; }
            };
            let mut stream = match io {
                Ok(s) => s,
                Err(e) => {
                    note_error(&mut st, format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            // Whatever the previous connection left buffered answers nothing on this one.
            reader.reset();
            let requests = async {
                loop {
                    let started = match schedule.as_mut() {
                        Some(s) => s.next().await,
                        None => Instant::now(),
                    };
                    if started >= w.measure_end {
                        return ConnEnd::Done;
                    }
                    let path = &spec.paths[rng.below(spec.paths.len())];
                    let body = &spec.bodies[rng.below(spec.bodies.len())];
                    if let Err(e) = stream.write_all(writer.render(path, body)).await {
                        return ConnEnd::Failed(format!("request: {e}"));
                    }
                    if let Err(e) = read_response(&mut stream, &mut reader).await {
                        return ConnEnd::Failed(e);
                    }
                    let done = Instant::now();
                    let resp = &reader.parser;
                    let status = (resp.status() as usize).min(MAX_STATUS);
                    st.total[status] += 1;
                    if done >= w.measure_start && done < w.measure_end {
                        st.measured[status] += 1;
                        st.hist.saturating_record(done.duration_since(started).as_micros() as u64);
                    }
                    if status == 503 && !resp.retry_after() {
                        st.unavailable_without_retry_after += 1;
                    }
                    if status != 201 && !st.samples.contains_key(&(status as u16)) {
                        let text = String::from_utf8_lossy(resp.body()).chars().take(300).collect();
                        st.samples.insert(status as u16, text);
                    }
                    if resp.close() {
                        return ConnEnd::Closed;
                    }
                }
            };
            tokio::select! {
                e = requests => e,
                _ = &mut deadline => ConnEnd::Abandoned,
            }
        };
        match end {
            ConnEnd::Done => break,
            ConnEnd::Closed => {}
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

/// Read one whole response into `rd` (whose parser then holds its status, body and whether
/// the server closes); the error text is what `LoadResult::first_error` reports.
async fn read_response(stream: &mut TcpStream, rd: &mut ResponseReader) -> Result<(), String> {
    rd.next_response();
    loop {
        match rd.parse_buffered() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => return Err(e.to_string()),
        }
        let n = stream.read(rd.spare()).await.map_err(|e| format!("response: {e}"))?;
        if n == 0 {
            return rd.at_eof().map_err(|e| e.to_string());
        }
        rd.filled(n);
    }
}

/// Renders each request into one reusable buffer, so that it leaves in a single `write`
/// (head and body in one segment) and costs no allocation.
struct RequestWriter {
    /// `name: value\r\n` for every header of the spec, rendered once.
    headers: Vec<u8>,
    buf: Vec<u8>,
}

impl RequestWriter {
    fn new(headers: &HeaderMap) -> RequestWriter {
        let mut h = Vec::new();
        for (name, value) in headers {
            // Framing is ours: each request carries exactly one body of known length.
            if name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING {
                continue;
            }
            h.extend_from_slice(name.as_str().as_bytes());
            h.extend_from_slice(b": ");
            h.extend_from_slice(value.as_bytes());
            h.extend_from_slice(b"\r\n");
        }
        RequestWriter { headers: h, buf: Vec::new() }
    }

    /// The bytes of a `POST` of `body` to `path` (origin form, as hyper sends it).
    fn render(&mut self, path: &Uri, body: &[u8]) -> &[u8] {
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(b"POST ");
        b.extend_from_slice(path.path_and_query().map_or("/", |p| p.as_str()).as_bytes());
        b.extend_from_slice(b" HTTP/1.1\r\n");
        b.extend_from_slice(&self.headers);
        b.extend_from_slice(b"content-length: ");
        push_decimal(b, body.len());
        b.extend_from_slice(b"\r\n\r\n");
        b.extend_from_slice(body);
        b
    }
}

/// Appends `n` in decimal (no formatter machinery on the hot path).
fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Why a response could not be read; every one of them ends the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ResponseError {
    /// `httparse` rejected the status line or a header line.
    Head(httparse::Error),
    /// Something that must be buffered whole (named) is longer than [`MAX_HEAD`].
    TooLong(&'static str),
    /// The body is longer than [`MAX_BODY`].
    BodyTooLarge,
    /// The framing headers do not say where the body ends (the header is named).
    Framing(&'static str),
    /// A chunk-size line, or the CRLF ending a chunk's data, is malformed.
    Chunk,
    /// `101 Switching Protocols`: the server wants to stop speaking HTTP/1.1.
    Upgrade,
    /// The server closed the connection before sending any byte of the response.
    Closed,
    /// The server closed the connection in the middle of the response.
    Truncated,
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseError::Head(e) => write!(f, "response: malformed head: {e}"),
            ResponseError::TooLong(what) => write!(f, "response: {what} over {} KiB", MAX_HEAD / 1024),
            ResponseError::BodyTooLarge => write!(f, "response: body over {} KiB", MAX_BODY / 1024),
            ResponseError::Framing(h) => write!(f, "response: unusable {h} header"),
            ResponseError::Chunk => f.write_str("response: malformed chunked body"),
            ResponseError::Upgrade => f.write_str("response: unexpected 101 Switching Protocols"),
            // The same words as hyper's client used, so old and new runs read alike.
            ResponseError::Closed => f.write_str("server closed the connection"),
            ResponseError::Truncated => f.write_str("server closed the connection mid-response"),
        }
    }
}

/// A connection's read side: one reusable buffer and the parser of the response in it.
/// Bytes past the end of a response stay buffered as the start of the next one.
struct ResponseReader {
    /// [`MAX_HEAD`] bytes: whatever the parser cannot consume piecemeal fits, so there is
    /// always room to read more (see [`ResponseParser::advance`]).
    buf: Box<[u8]>,
    /// The unparsed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    parser: ResponseParser,
}

impl ResponseReader {
    fn new() -> ResponseReader {
        ResponseReader { buf: vec![0; MAX_HEAD].into_boxed_slice(), start: 0, end: 0, parser: ResponseParser::new() }
    }

    /// Forget buffered bytes and any response in progress (a new connection).
    fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
        self.parser.reset();
    }

    /// Start reading the next response (the previous one's status and body are dropped).
    fn next_response(&mut self) {
        self.parser.reset();
    }

    /// Parse what is buffered: `Ok(true)` once the response is complete. Otherwise all that
    /// could be consumed was, and the rest is moved to the front so [`Self::spare`] is not
    /// empty.
    fn parse_buffered(&mut self) -> Result<bool, ResponseError> {
        let p = self.parser.advance(&self.buf[self.start..self.end])?;
        self.start += p.consumed;
        if p.done {
            return Ok(true);
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        debug_assert!(self.end < self.buf.len(), "the parser left a full buffer unconsumed");
        Ok(false)
    }

    /// Where the next read goes.
    fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.end..]
    }

    /// `n` bytes were read into [`Self::spare`].
    fn filled(&mut self, n: usize) {
        self.end += n;
    }

    /// The server closed the connection: fine only if that ends a close-delimited body.
    fn at_eof(&mut self) -> Result<(), ResponseError> {
        self.parser.at_eof(self.start == self.end)
    }
}

/// Where the parser is in the current response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a whole status line and header section.
    Head,
    /// A `content-length` body with `left` bytes still to come.
    Fixed { left: u64 },
    /// Waiting for a whole chunk-size line.
    ChunkSize,
    /// Inside a chunk's data.
    ChunkData { left: u64 },
    /// Waiting for the CRLF after a chunk's data.
    ChunkEnd,
    /// After the last chunk: skipping trailer fields up to the empty line (`seen` bytes of
    /// them so far).
    Trailers { seen: usize },
    /// A body delimited by the connection's end.
    UntilClose,
    /// The response is complete.
    Done,
}

/// How far [`ResponseParser::advance`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    /// Bytes of the input that belong to this response and need not be seen again.
    consumed: usize,
    /// The response is complete; bytes after `consumed` belong to the next one.
    done: bool,
}

/// An incremental HTTP/1.1 response parser without I/O: fed the unconsumed bytes again and
/// again as more arrive, it consumes body bytes as they come and the head, a chunk-size line
/// or a trailer line only once whole (that is what bounds them by [`MAX_HEAD`]). The body is
/// kept (decoded) in a buffer reused from response to response.
struct ResponseParser {
    state: State,
    status: u16,
    close: bool,
    /// The final response carries `Retry-After`.
    retry_after: bool,
    /// Some response bytes were consumed already (an interim 1xx, say), so an end of
    /// connection now is a truncation, not an idle close.
    started: bool,
    body: Vec<u8>,
}

impl ResponseParser {
    fn new() -> ResponseParser {
        ResponseParser { state: State::Head, status: 0, close: false, retry_after: false, started: false, body: Vec::new() }
    }

    /// Get ready for the next response.
    fn reset(&mut self) {
        self.state = State::Head;
        self.status = 0;
        self.close = false;
        self.retry_after = false;
        self.started = false;
        self.body.clear();
    }

    /// Status code of the final (non-1xx) response; meaningful once its head was parsed.
    fn status(&self) -> u16 {
        self.status
    }

    /// The server will close the connection after this response.
    fn close(&self) -> bool {
        self.close
    }

    /// The response carries `Retry-After`.
    fn retry_after(&self) -> bool {
        self.retry_after
    }

    /// The decoded body so far (all of it once the response is done).
    fn body(&self) -> &[u8] {
        &self.body
    }

    /// Consume what it can of `input`, the response's bytes not consumed yet. When it returns
    /// without `done`, the unconsumed rest is shorter than [`MAX_HEAD`].
    fn advance(&mut self, input: &[u8]) -> Result<Progress, ResponseError> {
        let mut pos = 0;
        let pending = |pos| Ok(Progress { consumed: pos, done: false });
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Done => return Ok(Progress { consumed: pos, done: true }),
                State::Head => {
                    if rest.is_empty() {
                        return pending(pos);
                    }
                    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let mut resp = httparse::Response::new(&mut headers);
                    match resp.parse(rest).map_err(ResponseError::Head)? {
                        httparse::Status::Partial if rest.len() >= MAX_HEAD => return Err(ResponseError::TooLong("response head")),
                        httparse::Status::Partial => return pending(pos),
                        httparse::Status::Complete(n) if n > MAX_HEAD => return Err(ResponseError::TooLong("response head")),
                        httparse::Status::Complete(n) => {
                            self.start_body(&resp)?;
                            pos += n;
                            self.started = true;
                        }
                    }
                }
                State::Fixed { left } | State::ChunkData { left } => {
                    if rest.is_empty() {
                        return pending(pos);
                    }
                    let take = left.min(rest.len() as u64) as usize;
                    self.body.extend_from_slice(&rest[..take]);
                    pos += take;
                    let left = left - take as u64;
                    self.state = match (self.state, left) {
                        (State::Fixed { .. }, 0) => State::Done,
                        (State::Fixed { .. }, _) => State::Fixed { left },
                        (_, 0) => State::ChunkEnd,
                        _ => State::ChunkData { left },
                    };
                }
                State::ChunkSize => {
                    if rest.is_empty() {
                        return pending(pos);
                    }
                    // httparse takes an empty size ("\r\n", ";ext") for 0, i.e. for the end.
                    if !rest[0].is_ascii_hexdigit() {
                        return Err(ResponseError::Chunk);
                    }
                    match httparse::parse_chunk_size(rest).map_err(|_| ResponseError::Chunk)? {
                        httparse::Status::Partial if rest.len() >= MAX_HEAD => return Err(ResponseError::TooLong("chunk-size line")),
                        httparse::Status::Partial => return pending(pos),
                        httparse::Status::Complete((n, size)) => {
                            pos += n;
                            if size == 0 {
                                self.state = State::Trailers { seen: 0 };
                            } else if size > MAX_BODY - self.body.len() as u64 {
                                return Err(ResponseError::BodyTooLarge);
                            } else {
                                self.state = State::ChunkData { left: size };
                            }
                        }
                    }
                }
                State::ChunkEnd => match rest {
                    [] | [b'\r'] => return pending(pos),
                    [b'\r', b'\n', ..] => {
                        pos += 2;
                        self.state = State::ChunkSize;
                    }
                    _ => return Err(ResponseError::Chunk),
                },
                State::Trailers { seen } => {
                    let Some(eol) = rest.iter().position(|&b| b == b'\n') else {
                        if seen + rest.len() >= MAX_HEAD {
                            return Err(ResponseError::TooLong("trailer section"));
                        }
                        return pending(pos);
                    };
                    let line = &rest[..=eol];
                    if seen + line.len() > MAX_HEAD {
                        return Err(ResponseError::TooLong("trailer section"));
                    }
                    pos += line.len();
                    // Trailer fields are of no use here; only the empty line that ends them
                    // matters (a bare LF accepted like httparse does in heads).
                    self.state = if line == b"\r\n" || line == b"\n" { State::Done } else { State::Trailers { seen: seen + line.len() } };
                }
                State::UntilClose => {
                    if rest.len() as u64 > MAX_BODY - self.body.len() as u64 {
                        return Err(ResponseError::BodyTooLarge);
                    }
                    self.body.extend_from_slice(rest);
                    return pending(input.len());
                }
            }
        }
    }

    /// Take in a parsed head: record status and connection fate, and pick how the body ends
    /// (RFC 9112 §6.3).
    fn start_body(&mut self, resp: &httparse::Response<'_, '_>) -> Result<(), ResponseError> {
        let status = resp.code.unwrap_or(0);
        let mut content_length: Option<u64> = None;
        let mut transfer_encoding = false;
        let mut chunked = false;
        let mut close = false;
        let mut keep_alive = false;
        let mut retry_after = false;
        for h in resp.headers.iter() {
            let value = h.value.trim_ascii();
            if h.name.eq_ignore_ascii_case("content-length") {
                let n = parse_content_length(value).ok_or(ResponseError::Framing("content-length"))?;
                if content_length.is_some_and(|m| m != n) {
                    return Err(ResponseError::Framing("content-length"));
                }
                content_length = Some(n);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                transfer_encoding = true;
                // Only a final `chunked` coding frames the body; the last header counts.
                if let Some(last) = value.rsplit(|&b| b == b',').next() {
                    chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
                }
            } else if h.name.eq_ignore_ascii_case("retry-after") {
                retry_after = true;
            } else if h.name.eq_ignore_ascii_case("connection") {
                for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        }
        if status == 101 {
            return Err(ResponseError::Upgrade);
        }
        if (100..200).contains(&status) {
            // An interim response: the final one follows on the same connection.
            self.state = State::Head;
            return Ok(());
        }
        self.status = status;
        self.retry_after = retry_after;
        self.close = close || (resp.version == Some(0) && !keep_alive);
        self.state = if status == 204 || status == 304 {
            State::Done
        } else if transfer_encoding {
            // Transfer-Encoding overrides Content-Length; a coding other than chunked last
            // means the body runs to the connection's end.
            if chunked {
                State::ChunkSize
            } else {
                self.close = true;
                State::UntilClose
            }
        } else {
            match content_length {
                Some(0) => State::Done,
                Some(n) if n > MAX_BODY => return Err(ResponseError::BodyTooLarge),
                Some(n) => State::Fixed { left: n },
                None => {
                    self.close = true;
                    State::UntilClose
                }
            }
        };
        Ok(())
    }

    /// The connection ended; `nothing_buffered` says no unconsumed byte is left.
    fn at_eof(&mut self, nothing_buffered: bool) -> Result<(), ResponseError> {
        match self.state {
            State::UntilClose | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            State::Head if !self.started && nothing_buffered => Err(ResponseError::Closed),
            _ => Err(ResponseError::Truncated),
        }
    }
}

/// A `content-length` value: ASCII digits only, no overflow.
fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| if d.is_ascii_digit() { n.checked_mul(10)?.checked_add(u64::from(d - b'0')) } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the connection loop would see of one response.
    #[derive(Debug, PartialEq, Eq)]
    struct Seen {
        status: u16,
        body: Vec<u8>,
        close: bool,
    }

    fn seen(status: u16, body: &[u8], close: bool) -> Seen {
        Seen { status, body: body.to_vec(), close }
    }

    /// Feed `reads` to a [`ResponseReader`] as successive socket reads (each one split further
    /// if the buffer's spare room is smaller), parsing every response that completes, then
    /// optionally report the end of the connection. Returns the responses and the error that
    /// stopped it, if any.
    fn drive(reads: &[&[u8]], eof: bool) -> (Vec<Seen>, Option<ResponseError>) {
        let mut rd = ResponseReader::new();
        let mut out = Vec::new();
        let snapshot = |rd: &ResponseReader| Seen { status: rd.parser.status(), body: rd.parser.body().to_vec(), close: rd.parser.close() };
        rd.next_response();
        for read in reads {
            let mut read = *read;
            loop {
                loop {
                    match rd.parse_buffered() {
                        Ok(true) => {
                            out.push(snapshot(&rd));
                            rd.next_response();
                        }
                        Ok(false) => break,
                        Err(e) => return (out, Some(e)),
                    }
                }
                if read.is_empty() {
                    break;
                }
                let spare = rd.spare();
                assert!(!spare.is_empty(), "no room left to read into");
                let n = read.len().min(spare.len());
                spare[..n].copy_from_slice(&read[..n]);
                rd.filled(n);
                read = &read[n..];
            }
        }
        if eof {
            match rd.at_eof() {
                Ok(()) => out.push(snapshot(&rd)),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    const CREATED: &[u8] = b"HTTP/1.1 201 Created\r\nlocation: /m/abc\r\ncontent-length: 0\r\ndate: Mon, 01 Dec 2025 07:00:00 GMT\r\n\r\n";
    const BAD: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nno such key";
    const CHUNKED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: gzip, chunked\r\nConnection: keep-alive\r\n\r\n\
        5;name=value\r\nhello\r\n\
        6 ; q=\"a;b\"\r\n world\r\n\
        A\r\n, 0123456.\r\n\
        0;last=yes\r\nExpires: never\r\nX-Checksum: 1234\r\n\r\n";

    fn three_responses() -> (Vec<u8>, Vec<Seen>) {
        let all = [CREATED, BAD, CHUNKED].concat();
        let want = vec![seen(201, b"", false), seen(400, b"no such key", false), seen(503, b"hello world, 0123456.", false)];
        (all, want)
    }

    #[test]
    fn responses_split_at_every_byte_boundary() {
        let (all, want) = three_responses();
        assert_eq!(drive(&[&all], false), (want.clone_seen(), None), "in one read");
        for cut in 0..=all.len() {
            let (a, b) = all.split_at(cut);
            assert_eq!(drive(&[a, b], false), (want.clone_seen(), None), "split at byte {cut}");
            for cut2 in (cut..=all.len()).step_by(7) {
                let (b1, b2) = b.split_at(cut2 - cut);
                assert_eq!(drive(&[a, b1, b2], false), (want.clone_seen(), None), "split at {cut} and {cut2}");
            }
        }
        let bytes: Vec<&[u8]> = all.chunks(1).collect();
        assert_eq!(drive(&bytes, false), (want, None), "one byte per read");
    }

    trait CloneSeen {
        fn clone_seen(&self) -> Vec<Seen>;
    }
    impl CloneSeen for Vec<Seen> {
        fn clone_seen(&self) -> Vec<Seen> {
            self.iter().map(|s| seen(s.status, &s.body, s.close)).collect()
        }
    }

    #[test]
    fn two_responses_in_one_buffer_keep_the_second() {
        let mut p = ResponseParser::new();
        let both = [BAD, CREATED].concat();
        let r = p.advance(&both).unwrap();
        assert_eq!(r, Progress { consumed: BAD.len(), done: true });
        assert_eq!((p.status(), p.body()), (400, &b"no such key"[..]));
        p.reset();
        let r = p.advance(&both[BAD.len()..]).unwrap();
        assert_eq!(r, Progress { consumed: CREATED.len(), done: true });
        assert_eq!((p.status(), p.body(), p.close()), (201, &b""[..], false));
        // Through the reader: the second response's bytes, read together with the first's,
        // are still there after the first is taken.
        let (got, err) = drive(&[&both], false);
        assert_eq!(got, vec![seen(400, b"no such key", false), seen(201, b"", false)]);
        assert_eq!(err, None);
        // And a partial third response is left waiting, not taken for a whole one.
        let (got, err) = drive(&[&[BAD, CREATED, &CHUNKED[..40]].concat()], false);
        assert_eq!((got.len(), err), (2, None));
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let mut p = ResponseParser::new();
        let r = p.advance(CHUNKED).unwrap();
        assert_eq!(r, Progress { consumed: CHUNKED.len(), done: true }, "trailers consumed to the empty line");
        assert_eq!(p.body(), b"hello world, 0123456.");
        assert_eq!(p.status(), 503);
        // No trailers at all; a chunk split by the read boundary inside its data.
        let plain = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let (got, err) = drive(&[&plain[..50], &plain[50..]], false);
        assert_eq!((got, err), (vec![seen(200, b"abc", false)], None));
        // Transfer-Encoding wins over Content-Length.
        let both = b"HTTP/1.1 200 OK\r\ncontent-length: 99\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n";
        assert_eq!(drive(&[both], false), (vec![seen(200, b"x", false)], None));
    }

    #[test]
    fn malformed_chunks_are_errors() {
        let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for bad in [&b"zz\r\n"[..], b"\r\n\r\n", b";ext\r\n\r\n", b"3\r\nabcXY0\r\n\r\n", b"3\rx", b"11111111111111111\r\n"] {
            let (got, err) = drive(&[&[&head[..], bad].concat()], false);
            assert_eq!((got.len(), err), (0, Some(ResponseError::Chunk)), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn content_length_zero_completes_with_the_head() {
        let mut p = ResponseParser::new();
        assert_eq!(p.advance(CREATED).unwrap(), Progress { consumed: CREATED.len(), done: true });
        assert_eq!((p.status(), p.body().len(), p.close()), (201, 0, false));
        // Without a single byte more: one head short of its final LF is not complete.
        p.reset();
        assert_eq!(p.advance(&CREATED[..CREATED.len() - 1]).unwrap(), Progress { consumed: 0, done: false });
        // 204 and 304 have no body whatever their headers say.
        let r = b"HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n";
        assert_eq!(drive(&[r, CREATED], false), (vec![seen(204, b"", false), seen(201, b"", false)], None));
    }

    #[test]
    fn connection_close_is_reported() {
        let r = b"HTTP/1.1 201 Created\r\nConnection: keep-alive, Close\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(drive(&[r], false), (vec![seen(201, b"", true)], None));
        let r = b"HTTP/1.1 201 Created\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(drive(&[r], false), (vec![seen(201, b"", false)], None));
        // HTTP/1.0 closes unless it says keep-alive.
        let r = b"HTTP/1.0 201 Created\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(drive(&[r], false), (vec![seen(201, b"", true)], None));
        let r = b"HTTP/1.0 201 Created\r\nconnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(drive(&[r], false), (vec![seen(201, b"", false)], None));
        // No framing at all: the body runs to the end of the connection.
        let r = b"HTTP/1.1 500 Oops\r\n\r\nsomething broke";
        let (got, err) = drive(&[&r[..25], &r[25..]], false);
        assert_eq!((got.len(), err), (0, None), "not complete before the end");
        assert_eq!(drive(&[&r[..25], &r[25..]], true), (vec![seen(500, b"something broke", true)], None));
    }

    #[test]
    fn end_of_connection_before_or_inside_a_response() {
        assert_eq!(drive(&[], true), (vec![], Some(ResponseError::Closed)));
        assert_eq!(drive(&[&BAD[..10]], true), (vec![], Some(ResponseError::Truncated)));
        assert_eq!(drive(&[&BAD[..BAD.len() - 1]], true), (vec![], Some(ResponseError::Truncated)));
        let (got, err) = drive(&[&CHUNKED[..CHUNKED.len() - 2]], true);
        assert_eq!((got.len(), err), (0, Some(ResponseError::Truncated)));
        // After a complete response, a close is the idle kind again.
        assert_eq!(drive(&[BAD], true), (vec![seen(400, b"no such key", false)], Some(ResponseError::Closed)));
    }

    #[test]
    fn interim_responses_are_skipped() {
        let r = [&b"HTTP/1.1 100 Continue\r\n\r\n"[..], BAD].concat();
        assert_eq!(drive(&[&r], false), (vec![seen(400, b"no such key", false)], None));
        assert_eq!(drive(&[&r[..25]], true), (vec![], Some(ResponseError::Truncated)));
        let up = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\n\r\n";
        assert_eq!(drive(&[up], false), (vec![], Some(ResponseError::Upgrade)));
    }

    #[test]
    fn malformed_status_lines_are_errors() {
        for bad in [
            &b"HTTP/1.1 2x1 Created\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTX/1.1 201 Created\r\n\r\n",
            b"HTTP/1.1201 Created\r\n\r\n",
            b"<html>hello</html>\r\n\r\n",
            b"HTTP/1.1 201 Created\r\nbad header\r\n\r\n",
        ] {
            let (got, err) = drive(&[bad], false);
            assert_eq!(got, vec![], "{:?}", String::from_utf8_lossy(bad));
            assert!(matches!(err, Some(ResponseError::Head(_))), "{:?}: {err:?}", String::from_utf8_lossy(bad));
        }
        // Even one byte at a time (httparse sees a partial line first).
        let bad = b"HTTP/1.1 2x1 Created\r\n\r\n";
        let bytes: Vec<&[u8]> = bad.chunks(1).collect();
        assert!(matches!(drive(&bytes, false).1, Some(ResponseError::Head(_))));
    }

    #[test]
    fn too_many_headers_is_an_error() {
        let mut r = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            r.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
        }
        r.extend_from_slice(b"content-length: 0\r\n\r\n");
        assert_eq!(drive(&[&r], false).1, Some(ResponseError::Head(httparse::Error::TooManyHeaders)));
    }

    #[test]
    fn unusable_content_lengths_are_errors() {
        for bad in [&b"content-length: 1x"[..], b"content-length: -1", b"content-length: 99999999999999999999999", b"content-length: "] {
            let r = [&b"HTTP/1.1 200 OK\r\n"[..], bad, b"\r\n\r\n"].concat();
            let err = drive(&[&r], false).1;
            assert_eq!(err, Some(ResponseError::Framing("content-length")), "{:?}", String::from_utf8_lossy(bad));
        }
        let r = b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nxy";
        assert_eq!(drive(&[r], false).1, Some(ResponseError::Framing("content-length")));
        // The same length twice is fine.
        let r = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nxy";
        assert_eq!(drive(&[r], false), (vec![seen(200, b"xy", false)], None));
    }

    #[test]
    fn oversize_heads_and_bodies_are_errors() {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        // Long lines rather than many: too many headers is a different error.
        let pad = [&b"x-padding: "[..], &[b'a'; 8000], b"\r\n"].concat();
        while head.len() < MAX_HEAD + 100 {
            head.extend_from_slice(&pad);
        }
        assert_eq!(drive(&[&head], false).1, Some(ResponseError::TooLong("response head")), "never ends");
        let pieces: Vec<&[u8]> = head.chunks(1000).collect();
        assert_eq!(drive(&pieces, false).1, Some(ResponseError::TooLong("response head")), "in pieces");
        let mut whole = head.clone();
        whole.extend_from_slice(b"content-length: 0\r\n\r\n");
        assert_eq!(drive(&[&whole], false).1, Some(ResponseError::TooLong("response head")), "complete but too long");
        // A head just under the limit, arriving in pieces that force the buffer to compact
        // behind a previous response, is fine.
        let mut big = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n".to_vec();
        while big.len() + pad.len() < MAX_HEAD - 200 {
            big.extend_from_slice(&pad);
        }
        big.extend_from_slice(b"x-last: ");
        big.resize(MAX_HEAD - 4, b'z');
        big.extend_from_slice(b"\r\n");
        big.extend_from_slice(b"\r\nok");
        assert_eq!(big.len(), MAX_HEAD + 2, "a head of exactly MAX_HEAD bytes");
        let all = [BAD, &big, CREATED].concat();
        let pieces: Vec<&[u8]> = all.chunks(4093).collect();
        let (got, err) = drive(&pieces, false);
        assert_eq!(err, None);
        assert_eq!(got, vec![seen(400, b"no such key", false), seen(200, b"ok", false), seen(201, b"", false)]);

        let r = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", MAX_BODY + 1);
        assert_eq!(drive(&[r.as_bytes()], false).1, Some(ResponseError::BodyTooLarge));
        // A chunked body is capped by its decoded total, not per chunk.
        let chunk = vec![b'a'; 0x80000];
        let mut r = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..3 {
            r.extend_from_slice(b"80000\r\n");
            r.extend_from_slice(&chunk);
            r.extend_from_slice(b"\r\n");
        }
        r.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(drive(&[&r], false).1, Some(ResponseError::BodyTooLarge));
        let mut trailers = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n".to_vec();
        while trailers.len() < MAX_HEAD + 100 {
            trailers.extend_from_slice(b"x-trailer: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n");
        }
        let pieces: Vec<&[u8]> = trailers.chunks(999).collect();
        assert_eq!(drive(&pieces, false).1, Some(ResponseError::TooLong("trailer section")));
    }

    #[test]
    fn requests_are_rendered_whole() {
        let mut h = HeaderMap::new();
        h.insert(http::header::HOST, http::HeaderValue::from_static("127.0.0.1:8080"));
        h.insert("ttl", http::HeaderValue::from_static("60"));
        h.append("x-two", http::HeaderValue::from_static("a"));
        h.append("x-two", http::HeaderValue::from_static("b"));
        h.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from_static("12345"));
        let mut w = RequestWriter::new(&h);
        let uri: Uri = "/up/abc?x=1".parse().unwrap();
        let got = w.render(&uri, b"0123456789").to_vec();
        let want =
            "POST /up/abc?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nttl: 60\r\nx-two: a\r\nx-two: b\r\ncontent-length: 10\r\n\r\n0123456789";
        assert_eq!(String::from_utf8(got).unwrap(), want);
        // The buffer is reused, not appended to.
        let got = w.render(&"/up/z".parse().unwrap(), b"").to_vec();
        assert!(got.starts_with(b"POST /up/z HTTP/1.1\r\n") && got.ends_with(b"content-length: 0\r\n\r\n"));
        for n in [0usize, 7, 10, 99, 1024, 4096, 1_000_000, usize::MAX] {
            let mut v = Vec::new();
            push_decimal(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
        }
    }

    /// The whole client against a small server: keep-alive responses in awkward pieces,
    /// a non-201 sample, and `Connection: close` reconnecting without a transport error.
    #[test]
    fn connections_run_against_a_real_socket() {
        let server = TestServer::start();
        let addr = server.addr;
        let spec = LoadSpec {
            addr,
            paths: vec!["/up/a".parse().unwrap(), "/up/b".parse().unwrap()],
            bodies: vec![Bytes::from_static(&[7u8; 300])],
            headers: HeaderMap::new(),
            connections: 2,
            threads: 1,
            rate: None,
        };
        let now = Instant::now();
        let window = Window {
            measure_start: now + Duration::from_millis(100),
            measure_end: now + Duration::from_millis(600),
            hard_end: now + Duration::from_secs(2),
        };
        let r = run(Arc::new(spec), window);
        let accepted = server.stop();
        assert_eq!((r.transport_errors, r.abandoned, r.first_error.as_deref()), (0, 0, None));
        assert!(r.total_of(201) > 20 && r.total_of(503) > 5, "201 × {}, 503 × {}", r.total_of(201), r.total_of(503));
        assert!(r.measured_of(201) > 0 && r.measured_of(201) < r.total_of(201));
        assert_eq!(r.samples.get(&503).map(String::as_str), Some("busy, try later"));
        // Every other 503 says when to come back.
        let bare = r.unavailable_without_retry_after;
        assert!(bare > 0 && bare < r.total_of(503), "{bare} of {} 503s without Retry-After", r.total_of(503));
        assert_eq!(r.hist.len(), r.measured.iter().sum::<u64>());
        // Every tenth response closes: the connections must have been re-established.
        assert!(accepted as u64 > r.total_of(201) / 20, "{accepted} connections");
    }

    /// Open loop: the connections send on their schedule, never more than the rate allows,
    /// and keep it up while the server answers at once.
    #[test]
    fn open_loop_sends_at_the_rate() {
        let server = TestServer::start();
        let rate = 200.0;
        let spec = LoadSpec {
            addr: server.addr,
            paths: vec!["/up/a".parse().unwrap()],
            bodies: vec![Bytes::from_static(&[7u8; 100])],
            headers: HeaderMap::new(),
            connections: 4,
            threads: 1,
            rate: Some(rate),
        };
        let now = Instant::now();
        let window = Window {
            measure_start: now + Duration::from_millis(200),
            measure_end: now + Duration::from_millis(1200),
            hard_end: now + Duration::from_secs(3),
        };
        let r = run(Arc::new(spec), window);
        server.stop();
        assert_eq!((r.transport_errors, r.abandoned), (0, 0));
        // 1.2 s of schedule at 200/s is 240 requests; each connection may start one more.
        let sent: u64 = r.total.iter().sum();
        assert!(sent <= 240 + 4, "{sent} requests in 1.2 s at {rate}/s");
        // A closed loop against this server would send thousands; the window held ~200.
        let measured: u64 = r.measured.iter().sum();
        assert!((100..=210).contains(&measured), "{measured} requests answered in the 1 s window");
    }

    /// [`serve`] on a loopback port, in a thread of its own, until stopped.
    struct TestServer {
        addr: SocketAddr,
        stop: tokio::sync::oneshot::Sender<()>,
        thread: std::thread::JoinHandle<u32>,
    }

    impl TestServer {
        fn start() -> TestServer {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            listener.set_nonblocking(true).unwrap();
            let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
            let thread = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    let mut accepted = 0u32;
                    loop {
                        let (s, _) = tokio::select! { r = listener.accept() => r.unwrap(), _ = &mut stopped => return accepted };
                        accepted += 1;
                        tokio::spawn(serve(s));
                    }
                })
            });
            TestServer { addr, stop, thread }
        }

        /// Stop accepting; the number of connections accepted.
        fn stop(self) -> u32 {
            self.stop.send(()).unwrap();
            self.thread.join().unwrap()
        }
    }

    /// The test server: reads whole requests, answers each in several writes; every 4th
    /// answer is a chunked 503, every 10th closes the connection.
    async fn serve(mut s: tokio::net::TcpStream) {
        let _ = s.set_nodelay(true);
        let mut buf = Vec::new();
        let mut n = 0u32;
        loop {
            let (head, len) = loop {
                let mut headers = [httparse::EMPTY_HEADER; 16];
                let mut req = httparse::Request::new(&mut headers);
                if let httparse::Status::Complete(h) = req.parse(&buf).unwrap() {
                    assert_eq!(req.method, Some("POST"));
                    assert!(req.path.unwrap().starts_with("/up/"));
                    let cl = req.headers.iter().find(|h| h.name == "content-length").unwrap();
                    break (h, std::str::from_utf8(cl.value).unwrap().parse::<usize>().unwrap());
                }
                let mut chunk = [0u8; 4096];
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            };
            while buf.len() < head + len {
                let mut chunk = [0u8; 4096];
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
            assert!(buf[head..head + len].iter().all(|&b| b == 7));
            buf.drain(..head + len);
            n += 1;
            let close = n % 10 == 0;
            let resp: Vec<u8> = if n % 4 == 0 {
                format!(
                    "HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n{}{}\r\n6;x=y\r\nbusy, \r\n9\r\ntry later\r\n0\r\nx-t: 1\r\n\r\n",
                    if close { "connection: close\r\n" } else { "" },
                    if n % 8 == 0 { "Retry-After: 1\r\n" } else { "" }
                )
                .into_bytes()
            } else {
                format!(
                    "HTTP/1.1 201 Created\r\nlocation: /m/1\r\n{}content-length: 0\r\n\r\n",
                    if close { "connection: close\r\n" } else { "" }
                )
                .into_bytes()
            };
            // Awkward pieces: the reader must put them back together.
            for piece in resp.chunks(17) {
                if s.write_all(piece).await.is_err() {
                    return;
                }
            }
            if close {
                return;
            }
        }
    }

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
