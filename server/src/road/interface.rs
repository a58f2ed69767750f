//! What every road shares: the message it carries, the answer it gives (in terms every
//! road uses) and the [`Road`] trait itself.

use std::time::Duration;

use crate::fcm::FcmError;
use crate::ids::MessageId;
use crate::store::Route;
use crate::target::RoadKind;
use crate::webpush::Urgency;

/// One message on its way to a device.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// uprelay's id (`m`), the same on every try.
    pub id: &'a MessageId,
    /// What the phone must get: the sender's body, behind the `aesgcm` parameters when it
    /// has them.
    pub body: &'a [u8],
    /// Urgency of the push.
    pub urgency: Urgency,
    /// Seconds the push service may still keep it.
    pub ttl_secs: u32,
    /// Topic (replaces an undelivered message with the same topic).
    pub topic: Option<&'a str>,
}

/// What the far end of a road answered, in the terms every road shares. A road that sends
/// a message in several parts answers for the whole: the first part that fails decides.
#[derive(Debug)]
pub enum RoadAnswer {
    /// Every part was accepted.
    Delivered,
    /// The target is dead (uninstalled, expired, bound to another sender…): the device
    /// must register again.
    DeviceGone(RoadError),
    /// The push service throttles this device: wait this long (when it named a time).
    Throttled(Option<Duration>, RoadError),
    /// The push service failed transiently: retry, not before the delay if it named one.
    Transient(Option<Duration>, RoadError),
    /// Our own request was refused (credentials, format, a road this relay does not
    /// offer): not the sender's fault, and no retry soon will fix it.
    OurFault(RoadError),
    /// The push service refused this message itself (its size or shape): no later try
    /// can succeed.
    BadMessage(RoadError),
}

/// Why a road did not deliver; for logs and the operator, never shown whole to senders.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RoadError {
    /// FCM HTTP v1's answer.
    #[error(transparent)]
    Fcm(#[from] FcmError),
    /// Google's Web Push service's answer, or why no request could be made.
    #[error(transparent)]
    WebPush(#[from] crate::road::webpush::DeliveryError),
    /// The device's target needs a road this relay does not offer (not configured).
    #[error("this relay does not offer the {} road", .0.label())]
    NotOffered(RoadKind),
}

impl RoadError {
    /// Metric label of the answer (`result` of the request counter).
    pub fn label(&self) -> &'static str {
        match self {
            RoadError::Fcm(e) => e.label(),
            RoadError::WebPush(e) => e.label(),
            RoadError::NotOffered(_) => "road_not_offered",
        }
    }
}

/// A road to the phone: sends one message to the target of `route` and classifies the
/// far end's answer. Implementations own their connections, credentials and wire format;
/// they do not decide what an answer means for the device (the relay does, once, over
/// [`RoadAnswer`]) and count each request they make with
/// [`crate::metrics::HotMetrics::road_request`] under their [`RoadKind`].
///
/// Adding a road:
/// 1. implement this trait in a module of its own under `road/`, classifying its far end's
///    answers into [`RoadAnswer`] (with a [`RoadError`] variant for its own errors);
/// 2. give `Roads` a field holding it (`None` when the operator did not configure it);
/// 3. send to it in `Roads::send`'s arm for its [`RoadKind`] instead of the
///    [`RoadError::NotOffered`] answer there, and say so in `Roads::offers`.
///
/// The method is a plain `async fn` (no boxed future): `Roads` dispatches with a `match`
/// on the target kind, so a push costs no allocation for the choice of its road.
pub trait Road: Send + Sync + 'static {
    /// Which road this is (metric label, the breaker it trips).
    const KIND: RoadKind;

    /// Send `message` to the target of `route`. Called only with a target of
    /// [`Self::KIND`]; any other is answered [`RoadAnswer::OurFault`].
    fn send(&self, route: &Route, message: Message<'_>) -> impl std::future::Future<Output = RoadAnswer> + Send;
}
