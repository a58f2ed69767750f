//! The one place where an accepted push becomes FCM sends and an outcome.
//!
//! request (validated by the extractor) → store lookup → VAPID → FCM → outcome.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;

use crate::breaker::Breaker;
use crate::config::QueueConfig;
use crate::fcm::message::{Outgoing, Priority};
use crate::fcm::{ErrorClass, FcmClient, FcmError};
use crate::ids::{EndpointId, MessageId};
use crate::store::{Admission, QueuedMessage, Rate, Route, Store, StoreError};
use crate::webpush::{HeaderError, PushHeaders, Urgency, VapidError, VapidVerifier};

/// Largest push body accepted (RFC 8291 / UnifiedPush: 4096 bytes).
pub const MAX_BODY: usize = 4096;

/// Retry-After suggested when FCM gave none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);
/// FCM asks for at least a minute of backoff on QUOTA_EXCEEDED.
const QUOTA_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Why a push was not accepted. Each variant knows its HTTP status and metric label.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Unknown or deleted endpoint.
    #[error("no such endpoint")]
    NotFound,
    /// FCM says the device is gone; its endpoints were deleted.
    #[error("the device behind this endpoint is gone; the endpoint was deleted")]
    Gone,
    /// Empty body.
    #[error("the push message body must not be empty")]
    EmptyBody,
    /// Body over 4096 bytes.
    #[error("the push message body must be at most {MAX_BODY} bytes")]
    TooLarge,
    /// The body could not be read.
    #[error("could not read the request body: {0}")]
    BadBody(String),
    /// A malformed Web Push header.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// VAPID missing or invalid.
    #[error(transparent)]
    Vapid(#[from] VapidError),
    /// Too many messages for this device.
    #[error("too many messages for this device; retry later")]
    Throttled(Duration),
    /// FCM unreachable and the message could not be kept.
    #[error("push service temporarily unavailable; retry later")]
    Unavailable(Duration),
    /// Our own fault towards FCM (credentials, request format).
    #[error("upstream push service rejected the relay: {0}")]
    Upstream(FcmError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PushError {
    /// HTTP status for the app server. Only "your request is wrong" and "this endpoint
    /// is gone" are 4xx: Mastodon and others delete subscriptions on any other 4xx.
    pub fn status(&self) -> StatusCode {
        match self {
            PushError::NotFound => StatusCode::NOT_FOUND,
            PushError::Gone => StatusCode::GONE,
            PushError::EmptyBody | PushError::BadBody(_) => StatusCode::BAD_REQUEST,
            PushError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            PushError::Header(e) => e.status(),
            PushError::Vapid(e) => e.status(),
            PushError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            PushError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PushError::Upstream(_) => StatusCode::BAD_GATEWAY,
            PushError::Store(e) => e.status(),
        }
    }

    /// Metric label (`outcome` of `uprelay_pushes_total`) and error code in the body.
    pub fn label(&self) -> &'static str {
        match self {
            PushError::NotFound => "not_found",
            PushError::Gone => "gone",
            PushError::EmptyBody => "empty_body",
            PushError::TooLarge => "too_large",
            PushError::BadBody(_) => "bad_body",
            PushError::Header(e) => e.label(),
            PushError::Vapid(e) => e.label(),
            PushError::Throttled(_) => "throttled",
            PushError::Unavailable(_) => "unavailable",
            PushError::Upstream(_) => "upstream_error",
            PushError::Store(e) => e.label(),
        }
    }

    /// `Retry-After` to send, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PushError::Throttled(d) | PushError::Unavailable(d) => Some(*d),
            PushError::Store(StoreError::Unavailable(_)) => Some(Duration::from_secs(5)),
            _ => None,
        }
    }
}

/// A push that passed header and body validation.
#[derive(Debug)]
pub struct PushRequest {
    /// TTL, Urgency, Topic.
    pub headers: PushHeaders,
    /// The raw headers, for VAPID (only parsed when the endpoint is restricted).
    pub raw_headers: HeaderMap,
    /// The message body (1–4096 bytes).
    pub body: Bytes,
}

/// A push FCM accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Our id of the message.
    pub message_id: MessageId,
    /// TTL actually used.
    pub ttl: u32,
    /// Accepted into the retry queue rather than by FCM directly.
    pub queued: bool,
}

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Lowest urgency sent as Android HIGH priority.
    pub high_priority_from: Urgency,
    /// Per-endpoint push limiter, if any.
    pub push_rate: Option<Rate>,
    /// Retry queue settings.
    pub queue: QueueConfig,
}

/// Turns pushes into FCM sends.
pub struct Relay {
    store: Arc<dyn Store>,
    fcm: Arc<FcmClient>,
    vapid: VapidVerifier,
    options: RelayOptions,
    breaker: Breaker,
}

/// What became of one try to deliver a queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// FCM accepted it.
    Delivered,
    /// It will never be delivered; the label says why (`expired`, `endpoint_gone`, `dead_token`).
    Dropped(&'static str),
    /// Try again, not before the given delay if FCM named one.
    Retry(Option<Duration>),
}

/// Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

impl Relay {
    /// A relay over `store` and `fcm`; `public_base` is the origin VAPID `aud` must name.
    pub fn new(store: Arc<dyn Store>, fcm: Arc<FcmClient>, public_base: &str, options: RelayOptions) -> Relay {
        let breaker = Breaker::new(options.queue.breaker_threshold, options.queue.breaker_cooldown_ms);
        Relay { store, fcm, vapid: VapidVerifier::new(public_base), options, breaker }
    }

    /// The store (the retry worker leases from it).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The queue settings.
    pub fn queue_config(&self) -> &QueueConfig {
        &self.options.queue
    }

    /// Look up the endpoint (for discovery), without sending.
    pub async fn exists(&self, endpoint: &str) -> Result<bool, PushError> {
        let Some(id) = EndpointId::parse(endpoint) else { return Ok(false) };
        Ok(self.store.route(&id).await?.is_some())
    }

    /// Deliver one push to the endpoint `endpoint`: straight to FCM, or into the
    /// retry queue when FCM is failing (both answer 201).
    pub async fn push(&self, endpoint: &str, req: PushRequest) -> Result<Accepted, PushError> {
        let id = EndpointId::parse(endpoint).ok_or(PushError::NotFound)?;
        let now = unix_ms();
        // Even with the per-endpoint limiter off, this honours FCM quota holds.
        let (route, admission) = self.store.route_admit(&id, self.options.push_rate.as_ref(), now).await?.ok_or(PushError::NotFound)?;
        if let Admission::Limited(wait) = admission {
            // Refused before the VAPID check: a flood should cost us as little as possible.
            metrics::counter!(crate::metrics::RATE_LIMITED, "limit" => "push").increment(1);
            return Err(PushError::Throttled(wait.max(Duration::from_secs(1))));
        }
        if let Some(key) = &route.vapid {
            self.vapid.verify(&req.raw_headers, key, now / 1000)?;
        }
        let message_id = MessageId::generate();
        let accepted = Accepted { message_id: message_id.clone(), ttl: req.headers.ttl.secs(), queued: false };
        if self.options.queue.enabled && self.breaker.is_open(now) {
            self.enqueue(&id, &req, &message_id, now, None).await?;
            return Ok(Accepted { queued: true, ..accepted });
        }
        let ttl = req.headers.ttl.secs();
        let topic = req.headers.topic.as_ref().map(|t| t.as_str());
        match self.send(&route, &req.body, req.headers.urgency, ttl, topic, &message_id).await {
            Ok(()) => {
                self.breaker.success();
                Ok(accepted)
            }
            Err(e) => match e.class() {
                ErrorClass::Transient(after) if self.options.queue.enabled => {
                    self.breaker.failure(unix_ms());
                    tracing::debug!(endpoint = %id, error = %e, "FCM send failed transiently; queued for retry");
                    self.enqueue(&id, &req, &message_id, now, after).await?;
                    Ok(Accepted { queued: true, ..accepted })
                }
                _ => Err(self.outcome_of(&id, &route, e).await),
            },
        }
    }

    async fn enqueue(
        &self,
        endpoint: &EndpointId,
        req: &PushRequest,
        message_id: &MessageId,
        now: u64,
        retry_after: Option<Duration>,
    ) -> Result<(), PushError> {
        let msg = QueuedMessage {
            id: message_id.clone(),
            endpoint: endpoint.clone(),
            expires_ms: now + req.headers.ttl.secs() as u64 * 1000,
            urgency: req.headers.urgency,
            topic: req.headers.topic.as_ref().map(|t| t.as_str().to_owned()),
            attempts: 0,
            body: req.body.to_vec(),
        };
        let delay = crate::queue::backoff(&self.options.queue, 0, retry_after);
        let q = &self.options.queue;
        if self.store.enqueue(&msg, now + delay.as_millis() as u64, q.max_len).await? {
            metrics::counter!(crate::metrics::QUEUE, "result" => "enqueued").increment(1);
            Ok(())
        } else {
            metrics::counter!(crate::metrics::QUEUE, "result" => "full").increment(1);
            tracing::warn!(max_len = q.max_len, "retry queue full; refusing push with 503");
            Err(PushError::Unavailable(retry_after.unwrap_or(DEFAULT_RETRY_AFTER)))
        }
    }

    /// One try at delivering a queued message (called by the retry worker).
    pub async fn retry(&self, msg: &QueuedMessage) -> Result<RetryOutcome, StoreError> {
        let now = unix_ms();
        if now >= msg.expires_ms {
            return Ok(RetryOutcome::Dropped("expired"));
        }
        let Some(route) = self.store.route(&msg.endpoint).await? else {
            return Ok(RetryOutcome::Dropped("endpoint_gone"));
        };
        let ttl = ((msg.expires_ms - now) / 1000) as u32;
        let result = self.send(&route, &msg.body, msg.urgency, ttl, msg.topic.as_deref(), &msg.id).await;
        let e = match result {
            Ok(()) => {
                self.breaker.success();
                return Ok(RetryOutcome::Delivered);
            }
            Err(e) => e,
        };
        Ok(match e.class() {
            ErrorClass::DeadToken => {
                if self.store.delete_device_if_token(&route.device, &route.fcm_token).await? {
                    tracing::info!(device = %route.device, reason = %e, "FCM token is dead; device and its endpoints deleted");
                    metrics::counter!(crate::metrics::DEVICES, "op" => "token_dead").increment(1);
                    RetryOutcome::Dropped("dead_token")
                } else {
                    // Rotated meanwhile: the next try uses the new token.
                    RetryOutcome::Retry(None)
                }
            }
            ErrorClass::Throttled(after) => {
                let wait = after.unwrap_or(QUOTA_RETRY_AFTER);
                self.hold_device(&route, wait).await?;
                RetryOutcome::Retry(Some(wait))
            }
            ErrorClass::Transient(after) => {
                self.breaker.failure(unix_ms());
                RetryOutcome::Retry(after)
            }
            ErrorClass::OurFault => {
                // Credentials may be fixed by the operator; keep the message until its TTL.
                tracing::error!(project = %route.project, error = %e, "FCM rejected a queued message");
                RetryOutcome::Retry(None)
            }
        })
    }

    async fn send(
        &self,
        route: &Route,
        body: &[u8],
        urgency: Urgency,
        ttl_secs: u32,
        topic: Option<&str>,
        message_id: &MessageId,
    ) -> Result<(), FcmError> {
        let priority = if urgency >= self.options.high_priority_from { Priority::High } else { Priority::Normal };
        let outgoing = Outgoing {
            token: &route.fcm_token,
            instance: &route.instance,
            message_id: message_id.as_str(),
            body,
            priority,
            ttl_secs,
            collapse_key: topic,
        };
        for part in outgoing.encode() {
            let result = self.fcm.send(&route.project, part).await;
            let label = match &result {
                Ok(_) => "ok",
                Err(e) => e.label(),
            };
            crate::metrics::hot().fcm_request(label);
            result?;
        }
        Ok(())
    }

    /// FCM's quota is per token: hold back every endpoint of the device, not just the
    /// one that hit it.
    async fn hold_device(&self, route: &Route, wait: Duration) -> Result<(), StoreError> {
        let now = unix_ms();
        let rate = self.options.push_rate.as_ref();
        let Some(device) = self.store.device(&route.device).await? else { return Ok(()) };
        for reg in &device.registrations {
            self.store.hold_endpoint(&reg.endpoint, now, wait.as_millis() as u64, rate).await?;
        }
        Ok(())
    }

    /// Map a failed send to the sender-facing outcome, acting on dead tokens.
    async fn outcome_of(&self, endpoint: &EndpointId, route: &Route, e: FcmError) -> PushError {
        match e.class() {
            ErrorClass::DeadToken => {
                match self.store.delete_device_if_token(&route.device, &route.fcm_token).await {
                    Ok(true) => {
                        tracing::info!(device = %route.device, endpoint = %endpoint, reason = %e, "FCM token is dead; device and its endpoints deleted");
                        metrics::counter!(crate::metrics::DEVICES, "op" => "token_dead").increment(1);
                        PushError::Gone
                    }
                    // The token rotated while we were sending: the device lives on.
                    Ok(false) => PushError::Unavailable(Duration::from_secs(1)),
                    Err(store) => PushError::Store(store),
                }
            }
            ErrorClass::Throttled(after) => {
                let wait = after.unwrap_or(QUOTA_RETRY_AFTER).max(Duration::from_secs(1));
                if let Err(err) = self.hold_device(route, wait).await {
                    tracing::warn!(error = %err, "could not record FCM quota backoff");
                }
                PushError::Throttled(wait)
            }
            ErrorClass::Transient(after) => {
                self.breaker.failure(unix_ms());
                tracing::warn!(endpoint = %endpoint, error = %e, "FCM send failed transiently and the queue is off");
                PushError::Unavailable(after.unwrap_or(DEFAULT_RETRY_AFTER).max(Duration::from_secs(1)))
            }
            ErrorClass::OurFault => {
                tracing::error!(endpoint = %endpoint, project = %route.project, error = %e, "FCM rejected our request");
                PushError::Upstream(e)
            }
        }
    }
}
