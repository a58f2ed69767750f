//! The wire both delivery roads talk to Google over: HTTP/2 connections held by [`H2Link`]
//! (over TLS where the peer offers it, h2c by config), and hyper's HTTP/1.1 pool for peers
//! that only speak that. The FCM v1 client and the Web Push road each hold one, to their
//! own origin; what the answers mean is theirs.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::link::{Answer, H2Link, Head, KeepAlive, LinkStats, Sent};
use super::transport::UnvectoredConnector;

type Connector = UnvectoredConnector<HttpsConnector<HttpConnector>>;
type Http = Client<Connector, Full<Bytes>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How to reach one origin.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireOptions {
    /// Plain http spoken as HTTP/2 without negotiation (an emulator); over TLS, ALPN decides.
    pub prior_knowledge: bool,
    /// Most HTTP/2 connections.
    pub connections: usize,
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    pub keepalive_timeout: Duration,
    /// Answers longer than this are a transport error.
    pub max_response: usize,
}

/// Requests to one origin over HTTP/2 when it speaks it, HTTP/1.1 otherwise.
pub(crate) struct Wire {
    link: Option<H2Link<Connector>>,
    http: Http,
    max_response: usize,
}

impl Wire {
    /// A wire to `origin` (`scheme://authority/`); https for Google, plain http only for
    /// an emulator.
    pub(crate) fn new(origin: Uri, options: WireOptions) -> Wire {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(options.connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let connector = UnvectoredConnector(connector);
        let mut builder = Client::builder(TokioExecutor::new());
        builder.timer(TokioTimer::new()).pool_timer(TokioTimer::new()).pool_idle_timeout(Duration::from_secs(90));
        let http = builder.build(connector.clone());
        let h2_possible = origin.scheme_str() == Some("https") || options.prior_knowledge;
        let keepalive = KeepAlive { interval: options.keepalive, timeout: options.keepalive_timeout };
        let link = h2_possible
            .then(|| H2Link::new(connector, origin, options.prior_knowledge, options.connections, options.max_response, keepalive));
        Wire { link, http, max_response: options.max_response }
    }

    /// The HTTP/2 link's connections and streams (all zero on the HTTP/1.1 wire).
    pub(crate) fn stats(&self) -> LinkStats {
        self.link.as_ref().map(H2Link::stats).unwrap_or_default()
    }

    /// POST `body` with `head`'s headers; the whole answer.
    pub(crate) async fn post(&self, head: &Head<'_>, body: Bytes) -> Result<Answer, BoxError> {
        let sent = match &self.link {
            Some(link) => link.send(head, &body).await?,
            None => Sent::NotH2,
        };
        match sent {
            Sent::Answer(answer) => Ok(answer),
            Sent::NotH2 => self.http1(head, body).await,
        }
    }

    /// The request over the HTTP/1.1 pool.
    async fn http1(&self, head: &Head<'_>, body: Bytes) -> Result<Answer, BoxError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = head.uri.clone();
        head.insert_into(request.headers_mut());
        let response = self.http.request(request).await?;
        let (parts, incoming) = response.into_parts();
        let body = Limited::new(incoming, self.max_response).collect().await?.to_bytes();
        Ok(Answer { status: parts.status, headers: parts.headers, body })
    }
}

/// `scheme://authority/` of an http(s) URL, or None.
pub(crate) fn origin_of(url: &str) -> Option<Uri> {
    let u = url.parse::<Uri>().ok()?;
    if !matches!(u.scheme_str(), Some("http" | "https")) {
        return None;
    }
    Uri::builder().scheme(u.scheme()?.clone()).authority(u.authority()?.clone()).path_and_query("/").build().ok()
}
