//! Forwarding a notification to another UnifiedPush server's endpoint, as common Matrix
//! gateways do — without letting anyone who can call a gateway make us reach inside the
//! operator's network (SSRF). Only https; only public addresses, checked after DNS on
//! every new connection (the resolver itself refuses the rest, so a name that rebinds to
//! an inside address between two lookups still cannot be reached); IP literals checked
//! before anything is sent; no redirects; a time limit and a cap on forwards in flight.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;

use super::settings::MatrixConfig;
use crate::webpush::Urgency;

/// What became of one forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forwarded {
    /// The other server accepted it (2xx).
    Delivered,
    /// The other server says the endpoint is gone (404 or 410): the pusher should go.
    Gone,
    /// We will never send there (not https, not a public address): the pusher should go.
    Refused(String),
    /// It failed this time (timeout, 5xx, 429, a redirect we do not follow…).
    Failed(String),
}

/// Whether `ip` is an address on the public internet: not loopback, private, link-local,
/// unique-local, multicast, unspecified, shared (CGNAT), reserved or documentation space,
/// looking through IPv4-mapped, IPv4-compatible and NAT64 IPv6 forms; and never a tunnel
/// or translator whose far end we cannot judge (6to4, Teredo, local-use NAT64, the 6to4
/// relay anycast) nor the discard-only prefix.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => is_public_v6(a),
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    !(a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_multicast()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_documentation()
        || o0 == 0
        || o0 >= 240
        || (o0 == 100 && (o1 & 0xc0) == 64) // 100.64.0.0/10 shared address space
        || (o0 == 192 && o1 == 0 && o2 == 0) // 192.0.0.0/24 IETF protocol assignments
        || (o0 == 192 && o1 == 88 && o2 == 99) // 192.88.99.0/24 6to4 relay anycast (deprecated)
        || (o0 == 198 && (o1 & 0xfe) == 18)) // 198.18.0.0/15 benchmarking
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    if let Some(v4) = a.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // IPv4-compatible (::a.b.c.d, deprecated but routable by some stacks) and NAT64 (64:ff9b::/96).
    if (s[..6] == [0; 6] && !a.is_loopback() && !a.is_unspecified()) || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
    }
    !(a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32 documentation
        || (s[0] == 0x2001 && s[1] == 0) // 2001::/32 Teredo: the far end is any IPv4 address
        || s[0] == 0x2002 // 2002::/16 6to4: an IPv4 address inside, reached through a relay
        || s[..3] == [0x64, 0xff9b, 1] // 64:ff9b:1::/48 local-use NAT64: the operator's own translator
        || s[..4] == [0x100, 0, 0, 0]) // 100::/64 discard-only
}

/// A DNS resolver that answers only public addresses (all of them for allow-listed names).
#[derive(Clone)]
struct PublicResolver {
    allow: Arc<Vec<String>>,
}

impl tower::Service<Name> for PublicResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allowed = self.allow.iter().any(|a| a.eq_ignore_ascii_case(name.as_str()));
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let usable: Vec<SocketAddr> = addrs.into_iter().filter(|a| allowed || is_public(a.ip())).collect();
            if usable.is_empty() {
                return Err(std::io::Error::other(format!("{} resolves to no public address", name.as_str())));
            }
            Ok(usable.into_iter())
        })
    }
}

/// Sends notifications to other UnifiedPush servers.
pub struct Forwarder {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector<PublicResolver>>, Full<Bytes>>,
    allow: Arc<Vec<String>>,
    slots: Semaphore,
    timeout: Duration,
}

impl Forwarder {
    /// A forwarder with `cfg`'s time limit, concurrency cap and (test-only) allow-list.
    pub fn new(cfg: &MatrixConfig) -> Forwarder {
        let allow = Arc::new(cfg.forward_allow.clone());
        let mut http = HttpConnector::new_with_resolver(PublicResolver { allow: allow.clone() });
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_millis(cfg.forward_timeout_ms)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https);
        Forwarder { client, allow, slots: Semaphore::new(cfg.forward_concurrency), timeout: Duration::from_millis(cfg.forward_timeout_ms) }
    }

    /// Whether `url` may be forwarded to at all (scheme and literal address), before any I/O.
    fn check(&self, url: &url::Url) -> Result<(), String> {
        let host = url.host_str().unwrap_or_default();
        let allowed = self.allow.iter().any(|a| a.eq_ignore_ascii_case(host.trim_start_matches('[').trim_end_matches(']')));
        if url.scheme() != "https" && !allowed {
            return Err("only https endpoints are forwarded to".into());
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(a)) => Some(IpAddr::V4(a)),
            Some(url::Host::Ipv6(a)) => Some(IpAddr::V6(a)),
            _ => None,
        };
        match literal {
            Some(ip) if !allowed && !is_public(ip) => Err(format!("{ip} is not a public address")),
            _ => Ok(()),
        }
    }

    /// POST `body` (a notification, at most 4096 bytes) to the endpoint `url`.
    pub async fn send(&self, url: &url::Url, body: Bytes, ttl: u32, urgency: Urgency) -> Forwarded {
        if let Err(why) = self.check(url) {
            return Forwarded::Refused(why);
        }
        let request = Request::builder()
            .method(Method::POST)
            .uri(url.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header("ttl", ttl)
            .header("urgency", urgency.as_str())
            .body(Full::new(body));
        let request = match request {
            Ok(r) => r,
            Err(e) => return Forwarded::Refused(format!("not a usable URI: {e}")),
        };
        let attempt = async {
            let _slot = self.slots.acquire().await.map_err(|e| e.to_string())?;
            self.client.request(request).await.map_err(|e| crate::logging::error_chain(&e))
        };
        let response = match tokio::time::timeout(self.timeout, attempt).await {
            Err(_) => return Forwarded::Failed("timed out".into()),
            Ok(Err(e)) if e.contains("no public address") => return Forwarded::Refused(e),
            Ok(Err(e)) => return Forwarded::Failed(e),
            Ok(Ok(r)) => r,
        };
        // The answer's body is not read: dropping it closes or reuses the connection.
        match response.status() {
            s if s.is_success() => Forwarded::Delivered,
            StatusCode::NOT_FOUND | StatusCode::GONE => Forwarded::Gone,
            s if s.is_redirection() => Forwarded::Failed(format!("{s}: redirects are not followed")),
            s => Forwarded::Failed(s.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_addresses_are_not_public() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public(inside.parse().unwrap()), "{inside} counted as public");
        }
        for public in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "::ffff:1.1.1.1", "64:ff9b::808:808"] {
            assert!(is_public(public.parse().unwrap()), "{public} counted as inside");
        }
    }

    #[test]
    fn tunnels_translators_and_discard_space_are_not_public() {
        for inside in [
            "64:ff9b:1::a00:1",
            "64:ff9b:1:ffff::1",
            "2002:7f00:1::1",
            "2002:808:808::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
            "192.88.99.1",
            "::ffff:192.88.99.1",
        ] {
            assert!(!is_public(inside.parse().unwrap()), "{inside} counted as public");
        }
        // Neighbours stay public.
        for public in ["2001:4860::8888", "2003::1", "100:0:0:1::1", "192.88.98.1", "64:ff9b:2::1"] {
            assert!(is_public(public.parse().unwrap()), "{public} counted as inside");
        }
    }

    #[test]
    fn only_https_and_public_literals_pass_without_the_allow_list() {
        let f = Forwarder::new(&MatrixConfig { forward: true, ..MatrixConfig::default() });
        let ok = |u: &str| f.check(&url::Url::parse(u).unwrap());
        assert!(ok("https://push.example.org/up/x").is_ok());
        assert!(ok("https://1.1.1.1/up/x").is_ok());
        for refused in
            ["http://push.example.org/up/x", "https://127.0.0.1/up/x", "https://10.0.0.1/x", "https://[::1]/x", "https://[fd00::1]/x"]
        {
            assert!(ok(refused).is_err(), "{refused}");
        }
        let f = Forwarder::new(&MatrixConfig { forward: true, forward_allow: vec!["127.0.0.1".into()], ..MatrixConfig::default() });
        assert!(f.check(&url::Url::parse("http://127.0.0.1:9/up/x").unwrap()).is_ok());
        assert!(f.check(&url::Url::parse("http://10.0.0.1/up/x").unwrap()).is_err());
    }
}
