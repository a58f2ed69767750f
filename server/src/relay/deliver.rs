//! Sending one message to its device through FCM, and the one decision about what FCM's
//! answer means: for the message (delivered, gone, try again), for the device (delete it
//! when its token is dead, hold its endpoints when FCM throttles it) and for the breaker.
//! The live push and the retry worker both deliver through here, so they cannot disagree.

use std::sync::Arc;
use std::time::Duration;

use crate::fcm::message::{Outgoing, Priority};
use crate::fcm::{ErrorClass, FcmClient, FcmError};
use crate::ids::MessageId;
use crate::limits::Rate;
use crate::store::{Route, Store, StoreError};
use crate::webpush::Urgency;

use super::breaker::Breaker;

/// FCM asks for at least a minute of backoff on QUOTA_EXCEEDED.
const QUOTA_RETRY_AFTER: Duration = Duration::from_secs(60);

/// One message on its way to a device.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// uprelay's id (`m`), the same on every try.
    pub id: &'a MessageId,
    /// The body as the sender sent it.
    pub body: &'a [u8],
    /// Urgency of the push.
    pub urgency: Urgency,
    /// Seconds FCM may still keep it.
    pub ttl_secs: u32,
    /// Topic (FCM collapse key).
    pub topic: Option<&'a str>,
}

/// What became of one delivery, after acting on FCM's answer.
#[derive(Debug)]
pub enum Outcome {
    /// FCM accepted every part.
    Delivered,
    /// The token is dead: the device and all its endpoints were deleted.
    Gone,
    /// FCM declared the token dead, but the device got a new one while we were sending:
    /// the device lives on and a new try will use the new token.
    Rotated,
    /// FCM throttles this device: all its endpoints are held for this long.
    Throttled(Duration),
    /// FCM failed transiently (the breaker was told); retry, not before the delay if FCM named one.
    Transient(Option<Duration>, FcmError),
    /// FCM refused our own request (credentials, project, format): not the sender's fault,
    /// and no retry soon will fix it.
    Refused(FcmError),
    /// FCM refused this message itself (its size or shape): no try will ever succeed, so
    /// it is never retried.
    Undeliverable(FcmError),
}

/// Delivers messages to FCM and settles the answers; shared by the live path and the
/// retry worker (one breaker for both).
pub struct Courier {
    store: Arc<dyn Store>,
    fcm: Arc<FcmClient>,
    breaker: Breaker,
    high_priority_from: Urgency,
    push_rate: Option<Rate>,
}

impl Courier {
    /// A courier over `store` and `fcm`. `push_rate` is the per-endpoint limiter, which a
    /// hold must extend; `breaker` opens after `threshold` transient failures in a row.
    pub fn new(
        store: Arc<dyn Store>,
        fcm: Arc<FcmClient>,
        high_priority_from: Urgency,
        push_rate: Option<Rate>,
        breaker_threshold: u32,
        breaker_cooldown_ms: u64,
    ) -> Courier {
        Courier { store, fcm, breaker: Breaker::new(breaker_threshold, breaker_cooldown_ms), high_priority_from, push_rate }
    }

    /// Whether new pushes should skip FCM now and wait in the queue.
    pub fn breaker_open(&self, now_ms: u64) -> bool {
        self.breaker.is_open(now_ms)
    }

    /// Send `msg` to the device behind `route` and settle FCM's answer.
    pub async fn deliver(&self, route: &Route, msg: Message<'_>) -> Result<Outcome, StoreError> {
        match self.send(route, msg).await {
            Ok(()) => {
                self.breaker.success();
                Ok(Outcome::Delivered)
            }
            Err(e) => self.settle(route, e).await,
        }
    }

    async fn send(&self, route: &Route, msg: Message<'_>) -> Result<(), FcmError> {
        let priority = if msg.urgency >= self.high_priority_from { Priority::High } else { Priority::Normal };
        let outgoing = Outgoing {
            token: &route.fcm_token,
            instance: &route.instance,
            message_id: msg.id.as_str(),
            body: msg.body,
            priority,
            ttl_secs: msg.ttl_secs,
            collapse_key: msg.topic,
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

    /// The one place that decides what a failed send means, and acts on it.
    async fn settle(&self, route: &Route, e: FcmError) -> Result<Outcome, StoreError> {
        Ok(match e.class() {
            ErrorClass::DeadToken => {
                // Only if the token is still the one FCM refused: a rotation that raced
                // the send must not lose the device.
                if self.store.delete_device_if_token(&route.device, &route.fcm_token).await? {
                    tracing::info!(device = %route.device, reason = %e, "FCM token is dead; device and its endpoints deleted");
                    metrics::counter!(crate::metrics::DEVICES, "op" => "token_dead").increment(1);
                    Outcome::Gone
                } else {
                    Outcome::Rotated
                }
            }
            ErrorClass::Throttled(after) => {
                let wait = after.unwrap_or(QUOTA_RETRY_AFTER).max(Duration::from_secs(1));
                if let Err(err) = self.hold_device(route, wait).await {
                    // The answer to this message still carries the wait; only other
                    // endpoints of the device miss the hold.
                    tracing::warn!(error = %err, "could not record FCM quota backoff");
                }
                Outcome::Throttled(wait)
            }
            ErrorClass::Transient(after) => {
                self.breaker.failure(crate::clock::unix_ms());
                Outcome::Transient(after, e)
            }
            ErrorClass::OurFault => {
                tracing::error!(project = %route.project, error = %e, "FCM rejected our request");
                Outcome::Refused(e)
            }
            ErrorClass::BadMessage => {
                tracing::error!(project = %route.project, error = %e, "FCM refused the message itself; it is dropped");
                Outcome::Undeliverable(e)
            }
        })
    }

    /// FCM's quota is per token: hold back every endpoint of the device, not just the
    /// one that hit it.
    async fn hold_device(&self, route: &Route, wait: Duration) -> Result<(), StoreError> {
        let now = crate::clock::unix_ms();
        let Some(device) = self.store.device(&route.device).await? else { return Ok(()) };
        for reg in &device.registrations {
            self.store.hold_endpoint(&reg.endpoint, now, wait.as_millis() as u64, self.push_rate.as_ref()).await?;
        }
        Ok(())
    }
}
