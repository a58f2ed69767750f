//! Web Push requests to Google's service: `POST <api_url>/fcm/send/<token>`, signed with
//! the relay's VAPID JWT, over the same kind of reused HTTP/2 connections as the FCM v1
//! road ([`Wire`]). The base URL is operator config, not a sender's choice, so it is not
//! held to the public-address rule of sender-chosen targets.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, CONTENT_ENCODING};
use http::{HeaderValue, StatusCode, Uri};

use super::jwt::VapidSigner;
use super::settings::WebPushSettings;
use crate::outbound::link::{Head, LinkStats};
use crate::outbound::wire::{origin_of, Wire, WireOptions};
use crate::outbound::{parse_retry_after, USER_AGENT};
use crate::webpush::Urgency;

/// The service's answers are a line of text; anything far larger is not it.
const MAX_RESPONSE_BYTES: usize = 16 * 1024;
const OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");
const AES128GCM: HeaderValue = HeaderValue::from_static("aes128gcm");
const TTL: HeaderName = HeaderName::from_static("ttl");
const URGENCY: HeaderName = HeaderName::from_static("urgency");
const TOPIC: HeaderName = HeaderName::from_static("topic");

/// One Web Push request: an encrypted body for a token (no `Debug`: the token is a secret).
pub struct Request<'a> {
    /// The device's Web Push token.
    pub token: &'a str,
    /// The RFC 8291 `aes128gcm` body.
    pub body: Vec<u8>,
    /// Seconds the service may keep it (RFC 8030 TTL).
    pub ttl_secs: u32,
    /// RFC 8030 Urgency.
    pub urgency: Urgency,
    /// RFC 8030 Topic (never on the parts of a split push).
    pub topic: Option<&'a str>,
}

/// Why a Web Push request did not end in 201 (or another 2xx).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebPushError {
    /// The service answered with this status (its plain-text reason is not kept: it may
    /// quote the token).
    #[error("push service answered {status}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// Its `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// No whole answer within `webpush.timeout_ms`.
    #[error("push service did not answer in time")]
    Timeout,
    /// The connection failed.
    #[error("push service unreachable: {0}")]
    Transport(String),
    /// The request could not be made (a token that is no URL path segment, a failed signature).
    #[error("request not sent: {0}")]
    Unsendable(String),
}

impl WebPushError {
    /// Metric label (`result` of the requests counter, road `webpush`).
    pub fn label(&self) -> &'static str {
        match self {
            WebPushError::Status { status, .. } => match status.as_u16() {
                400 => "bad_request",
                401 => "unauthorized",
                403 => "forbidden",
                404 => "not_found",
                410 => "gone",
                413 => "too_large",
                429 => "too_many_requests",
                500..=599 => "server_error",
                _ => "other",
            },
            WebPushError::Timeout => "timeout",
            WebPushError::Transport(_) => "transport",
            WebPushError::Unsendable(_) => "unsendable",
        }
    }
}

/// Sends Web Push requests for the relay.
pub struct WebPushClient {
    wire: Wire,
    duration: metrics::Histogram,
    /// `<api_url>/fcm/send/`.
    send_base: String,
    signer: VapidSigner,
    timeout: Duration,
}

impl WebPushClient {
    /// A client for the service at `api_url`, signing with `signer`.
    pub fn new(settings: &WebPushSettings, api_url: &str, signer: VapidSigner) -> anyhow::Result<WebPushClient> {
        let base = api_url.trim_end_matches('/');
        let origin = origin_of(base).ok_or_else(|| anyhow::anyhow!("webpush.api_url: {base} is not an http(s) URL"))?;
        let wire = Wire::new(
            origin,
            WireOptions {
                prior_knowledge: settings.http2_prior_knowledge,
                connections: settings.connections,
                connect_timeout: Duration::from_millis(settings.connect_timeout_ms),
                keepalive: Duration::from_secs(30),
                keepalive_timeout: Duration::from_secs(10),
                max_response: MAX_RESPONSE_BYTES,
            },
        );
        let duration = metrics::histogram!(crate::metrics::WEBPUSH_SEND_DURATION);
        Ok(WebPushClient { wire, duration, send_base: format!("{base}/fcm/send/"), signer, timeout: settings.timeout() })
    }

    /// The link's connections and requests in flight (all zero on the HTTP/1.1 wire).
    pub fn link_stats(&self) -> LinkStats {
        self.wire.stats()
    }

    /// POST one request; Ok on any 2xx.
    pub async fn send(&self, req: Request<'_>) -> Result<(), WebPushError> {
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(self.timeout, self.exchange(req)).await.unwrap_or(Err(WebPushError::Timeout));
        self.duration.record(started.elapsed().as_secs_f64());
        result
    }

    async fn exchange(&self, req: Request<'_>) -> Result<(), WebPushError> {
        if req.token.is_empty() || !req.token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_:.~".contains(&b)) {
            return Err(WebPushError::Unsendable("the token is not a URL path segment".into()));
        }
        let uri: Uri = format!("{}{}", self.send_base, req.token).parse().map_err(|e| WebPushError::Unsendable(format!("{e}")))?;
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let authorization = self.signer.authorization(now).map_err(|e| WebPushError::Unsendable(e.to_string()))?;
        let mut extra = Vec::with_capacity(4);
        extra.push((CONTENT_ENCODING, AES128GCM));
        extra.push((TTL, HeaderValue::from(req.ttl_secs)));
        extra.push((URGENCY, HeaderValue::from_static(req.urgency.as_str())));
        if let Some(topic) = req.topic {
            if let Ok(v) = HeaderValue::from_str(topic) {
                extra.push((TOPIC, v));
            }
        }
        let head = Head { uri: &uri, authorization: &authorization, content_type: &OCTETS, user_agent: &USER_AGENT, extra: &extra };
        let answer = self
            .wire
            .post(&head, Bytes::from(req.body))
            .await
            .map_err(|e| WebPushError::Transport(crate::logging::error_chain(e.as_ref())))?;
        if answer.status.is_success() {
            return Ok(());
        }
        Err(WebPushError::Status { status: answer.status, retry_after: parse_retry_after(&answer.headers, SystemTime::now()) })
    }
}
