//! The live push: find the endpoint's route, check VAPID and the limits, then deliver
//! at once, or keep the message in the retry queue when FCM is failing. Either way an
//! accepted push is the sender's 201; everything else is a [`RelayError`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::deliver::{Courier, Outcome};
use super::queue;
use super::settings::QueueConfig;
use crate::clock::unix_ms;
use crate::ids::{DeviceId, EndpointId, MessageId};
use crate::limits::{Admission, Rate};
use crate::road::{Message, RoadError};
use crate::store::{Enqueued, QueuedMessage, Store, StoreError};
use crate::target::RoadKind;
use crate::webpush::{Encoding, Topic, Ttl, Urgency, VapidClaim, VapidError, VapidVerifier};

/// Retry-After suggested when FCM gave none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Where a push came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// A Web Push POST to the endpoint.
    WebPush,
    /// A Matrix homeserver's notification, delivered by the built-in push gateway.
    Matrix,
}

impl Ingress {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Ingress::WebPush => "webpush",
            Ingress::Matrix => "matrix",
        }
    }
}

/// One push as the edge parsed it: every field already valid.
#[derive(Debug)]
pub struct Push {
    /// Where it came in.
    pub ingress: Ingress,
    /// How the sender encoded the body (for metrics: the body is relayed as it is).
    pub encoding: Encoding,
    /// The endpoint it was sent to.
    pub endpoint: EndpointId,
    /// How long it may wait for the device (after the relay's clamp).
    pub ttl: Ttl,
    /// RFC 8030 urgency.
    pub urgency: Urgency,
    /// Replaces an undelivered message with the same topic.
    pub topic: Option<Topic>,
    /// The sender's VAPID credentials; judged only when the endpoint is restricted.
    pub vapid: VapidClaim,
    /// What reaches the phone: the sender's body (1–4096 bytes), behind the `aesgcm`
    /// parameters when it has them.
    pub body: Bytes,
}

/// A push the relay took responsibility for.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Our id of the message.
    pub message_id: MessageId,
    /// TTL actually used.
    pub ttl: u32,
    /// Kept in the retry queue rather than accepted by FCM directly.
    pub queued: bool,
}

/// Why a push was not accepted. The edge maps each to a status code; the label is the
/// metric label and the error code senders see.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Unknown or deleted endpoint.
    #[error("no such endpoint")]
    NotFound,
    /// The push service says the device is gone; its endpoints were deleted.
    #[error("the device behind this endpoint is gone; the endpoint was deleted")]
    Gone,
    /// VAPID missing or invalid on a restricted endpoint.
    #[error(transparent)]
    Vapid(#[from] VapidError),
    /// Too many messages for this device.
    #[error("too many messages for this device; retry later")]
    Throttled(Duration),
    /// The push service unreachable and the message could not be kept.
    #[error("push service temporarily unavailable; retry later")]
    Unavailable(Duration),
    /// Our own fault towards the push service (credentials, request format, a road this
    /// relay does not offer).
    #[error("upstream push service rejected the relay: {0}")]
    Upstream(RoadError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RelayError {
    /// Metric label (`outcome` of `uprelay_pushes_total`) and error code in the body.
    pub fn label(&self) -> &'static str {
        match self {
            RelayError::NotFound => "not_found",
            RelayError::Gone => "gone",
            RelayError::Vapid(e) => e.label(),
            RelayError::Throttled(_) => "throttled",
            RelayError::Unavailable(_) => "unavailable",
            RelayError::Upstream(_) => "upstream_error",
            RelayError::Store(e) => e.label(),
        }
    }
}

/// Settings of the live path.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Per-endpoint push limiter, if any.
    pub push_rate: Option<Rate>,
    /// Retry queue settings (whether to queue, and its bound).
    pub queue: QueueConfig,
}

/// Accepts pushes: the entry of the push path below the edge.
pub struct Relay {
    store: Arc<dyn Store>,
    courier: Arc<Courier>,
    vapid: VapidVerifier,
    options: RelayOptions,
}

impl Relay {
    /// A relay over `store`, delivering through `courier`; `public_base` is the origin
    /// VAPID's `aud` must name.
    pub fn new(store: Arc<dyn Store>, courier: Arc<Courier>, public_base: &str, options: RelayOptions) -> Relay {
        Relay { store, courier, vapid: VapidVerifier::new(public_base), options }
    }

    /// The roads this relay delivers on.
    pub fn roads(&self) -> impl Iterator<Item = RoadKind> + '_ {
        RoadKind::ALL.into_iter().filter(|r| self.courier.offers(*r))
    }

    /// Whether the endpoint exists (legacy discovery), without sending.
    pub async fn exists(&self, endpoint: &EndpointId) -> Result<bool, RelayError> {
        Ok(self.store.route(endpoint).await?.is_some())
    }

    /// Cancel a message still waiting in the retry queue. False when it is not there
    /// (delivered, dropped, or never queued).
    pub async fn cancel(&self, message: &MessageId) -> Result<bool, RelayError> {
        let removed = self.store.complete(message).await?;
        if removed {
            metrics::counter!(crate::metrics::QUEUE, "result" => "cancelled").increment(1);
        }
        Ok(removed)
    }

    /// Deliver one push: straight to FCM, or into the retry queue when FCM is failing
    /// (both are accepted).
    pub async fn push(&self, push: Push) -> Result<Accepted, RelayError> {
        crate::metrics::hot().received(push.ingress.label(), push.encoding.label());
        let now = unix_ms();
        // Even with the per-endpoint limiter off, this honours FCM quota holds. An
        // unrestricted endpoint is charged here, in the route's round trip; a restricted
        // one is not (see `Store::route_admit`).
        let rate = self.options.push_rate.as_ref();
        let (route, mut admission) = self.store.route_admit(&push.endpoint, rate, now).await?.ok_or(RelayError::NotFound)?;
        let mut newly_verified = None;
        if let Some(key) = &route.vapid {
            // Verified before anything is charged: whoever merely knows the URL must not
            // use up the real sender's allowance. The verifier caches verified JWTs, so
            // a signed sender pays for one signature check per JWT, and a flood of
            // unsigned requests costs only this lookup.
            newly_verified = self.vapid.verify(&push.vapid, key, now / 1000)?;
            if let Some(rate) = rate {
                admission = self.store.admit_endpoint(&push.endpoint, rate, now).await?;
            }
        }
        if let Admission::Limited(wait) = admission {
            metrics::counter!(crate::metrics::RATE_LIMITED, "limit" => "push").increment(1);
            return Err(RelayError::Throttled(wait.max(Duration::from_secs(1))));
        }
        // Remembered only now: refused pushes (a new JWT each) must not fill the cache.
        if let Some(verified) = newly_verified {
            self.vapid.remember(verified);
        }
        let message_id = MessageId::generate();
        let accepted = Accepted { message_id: message_id.clone(), ttl: push.ttl.secs(), queued: false };
        let queue_on = self.options.queue.enabled;
        if queue_on && self.courier.breaker_open(route.target.road(), now) {
            self.keep(&push, &route.device, &message_id, now, None).await?;
            return Ok(Accepted { queued: true, ..accepted });
        }
        let message = Message {
            id: &message_id,
            body: &push.body,
            urgency: push.urgency,
            ttl_secs: push.ttl.secs(),
            topic: push.topic.as_ref().map(Topic::as_str),
        };
        match self.courier.deliver(&route, message).await? {
            Outcome::Delivered => Ok(accepted),
            Outcome::Gone => Err(RelayError::Gone),
            // The device lives on with a new token: the sender may simply try again.
            Outcome::Rotated => Err(RelayError::Unavailable(Duration::from_secs(1))),
            Outcome::Throttled(wait) => Err(RelayError::Throttled(wait)),
            Outcome::Transient(after, e) if queue_on => {
                tracing::debug!(endpoint = %push.endpoint, error = %e, "send failed transiently; queued for retry");
                self.keep(&push, &route.device, &message_id, now, after).await?;
                Ok(Accepted { queued: true, ..accepted })
            }
            Outcome::Transient(after, e) => {
                tracing::warn!(endpoint = %push.endpoint, error = %e, "send failed transiently and the queue is off");
                Err(RelayError::Unavailable(after.unwrap_or(DEFAULT_RETRY_AFTER).max(Duration::from_secs(1))))
            }
            Outcome::Refused(e) | Outcome::Undeliverable(e) => Err(RelayError::Upstream(e)),
        }
    }

    /// Put the push for `device` into the retry queue, or refuse it with 503 when the queue
    /// is full or the device holds its share of it.
    async fn keep(
        &self,
        push: &Push,
        device: &DeviceId,
        message_id: &MessageId,
        now: u64,
        retry_after: Option<Duration>,
    ) -> Result<(), RelayError> {
        let msg = QueuedMessage {
            id: message_id.clone(),
            endpoint: push.endpoint.clone(),
            expires_ms: now + push.ttl.secs() as u64 * 1000,
            urgency: push.urgency,
            topic: push.topic.as_ref().map(|t| t.as_str().to_owned()),
            attempts: 0,
            body: push.body.to_vec(),
        };
        match queue::enqueue(self.store.as_ref(), &self.options.queue, &msg, device, now, retry_after).await? {
            Enqueued::Kept => Ok(()),
            // The whole queue, or this device's share of it: 503 for this device only.
            Enqueued::QueueFull | Enqueued::DeviceFull => Err(RelayError::Unavailable(retry_after.unwrap_or(DEFAULT_RETRY_AFTER))),
        }
    }
}
