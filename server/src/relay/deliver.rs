//! Sending one message to its device through the road of its target, and the one
//! decision about what the road's answer means: for the message (delivered, gone, try
//! again), for the device (delete it when its target is dead, hold its endpoints when the
//! push service throttles it) and for the road's breaker. The live push and the retry
//! worker both deliver through here, so they cannot disagree, whatever the road.

use std::sync::Arc;
use std::time::Duration;

use crate::limits::Rate;
use crate::road::{Message, RoadAnswer, RoadError, Roads};
use crate::store::{Route, Store, StoreError};
use crate::target::RoadKind;

use super::breaker::Breaker;

/// FCM asks for at least a minute of backoff on QUOTA_EXCEEDED; a push service that
/// throttles without naming a time gets the same.
const QUOTA_RETRY_AFTER: Duration = Duration::from_secs(60);

/// What became of one delivery, after acting on the road's answer.
#[derive(Debug)]
pub enum Outcome {
    /// The push service accepted every part.
    Delivered,
    /// The target is dead: the device and all its endpoints were deleted.
    Gone,
    /// The road declared the target dead, but the device got a new one (or moved road)
    /// while we were sending: the device lives on and a new try will use the new target.
    Rotated,
    /// The push service throttles this device: all its endpoints are held for this long.
    Throttled(Duration),
    /// The road failed transiently (its breaker was told); retry, not before the delay
    /// if the push service named one.
    Transient(Option<Duration>, RoadError),
    /// The road refused our own request (credentials, project, format, a road not
    /// offered): not the sender's fault, and no retry soon will fix it.
    Refused(RoadError),
    /// The push service refused this message itself (its size or shape): no try will
    /// ever succeed, so it is never retried.
    Undeliverable(RoadError),
}

/// Delivers messages through the roads and settles the answers; shared by the live path
/// and the retry worker (one breaker per road for both).
pub struct Courier {
    store: Arc<dyn Store>,
    roads: Roads,
    breakers: [Breaker; RoadKind::ALL.len()],
    push_rate: Option<Rate>,
}

impl Courier {
    /// A courier over `store` and `roads`. `push_rate` is the per-endpoint limiter, which a
    /// hold must extend; each road's breaker opens after `breaker_threshold` transient
    /// failures in a row.
    pub fn new(store: Arc<dyn Store>, roads: Roads, push_rate: Option<Rate>, breaker_threshold: u32, breaker_cooldown_ms: u64) -> Courier {
        let breakers = RoadKind::ALL.map(|road| Breaker::new(road, breaker_threshold, breaker_cooldown_ms));
        Courier { store, roads, breakers, push_rate }
    }

    /// Whether this relay can deliver to targets of `road`.
    pub fn offers(&self, road: RoadKind) -> bool {
        self.roads.offers(road)
    }

    /// Whether new pushes on `road` should skip it now and wait in the queue.
    pub fn breaker_open(&self, road: RoadKind, now_ms: u64) -> bool {
        self.breakers[road.index()].is_open(now_ms)
    }

    /// Send `msg` to the device behind `route` and settle the road's answer.
    pub async fn deliver(&self, route: &Route, msg: Message<'_>) -> Result<Outcome, StoreError> {
        let answer = self.roads.send(route, msg).await;
        self.settle(route, answer).await
    }

    /// The one place that decides what a road's answer means, and acts on it.
    async fn settle(&self, route: &Route, answer: RoadAnswer) -> Result<Outcome, StoreError> {
        let road = route.target.road();
        Ok(match answer {
            RoadAnswer::Delivered => {
                self.breakers[road.index()].success();
                Outcome::Delivered
            }
            RoadAnswer::DeviceGone(e) => {
                // Only if the whole target is still the one the road refused: a rotation
                // or a move that raced the send must not lose the device.
                if self.store.delete_device_if_target(&route.device, &route.target).await? {
                    tracing::info!(device = %route.device, road = road.label(), target = route.target.kind(), reason = %e, "target is dead; device and its endpoints deleted");
                    metrics::counter!(crate::metrics::DEVICES, "op" => "token_dead", "road" => road.label()).increment(1);
                    Outcome::Gone
                } else {
                    Outcome::Rotated
                }
            }
            RoadAnswer::Throttled(after, _) => {
                let wait = after.unwrap_or(QUOTA_RETRY_AFTER).max(Duration::from_secs(1));
                if let Err(err) = self.hold_device(route, wait).await {
                    // The answer to this message still carries the wait; only other
                    // endpoints of the device miss the hold.
                    tracing::warn!(error = %err, "could not record the push service's backoff");
                }
                Outcome::Throttled(wait)
            }
            RoadAnswer::Transient(after, e) => {
                self.breakers[road.index()].failure(crate::clock::unix_ms());
                Outcome::Transient(after, e)
            }
            RoadAnswer::OurFault(e) => {
                tracing::error!(road = road.label(), project = %route.project, error = %e, "the push service rejected our request");
                Outcome::Refused(e)
            }
            RoadAnswer::BadMessage(e) => {
                tracing::error!(road = road.label(), project = %route.project, error = %e, "the push service refused the message itself; it is dropped");
                Outcome::Undeliverable(e)
            }
        })
    }

    /// Push services throttle per device: hold back every endpoint of the device, not
    /// just the one that hit it.
    async fn hold_device(&self, route: &Route, wait: Duration) -> Result<(), StoreError> {
        let now = crate::clock::unix_ms();
        let Some(device) = self.store.device(&route.device).await? else { return Ok(()) };
        for reg in &device.registrations {
            self.store.hold_endpoint(&reg.endpoint, now, wait.as_millis() as u64, self.push_rate.as_ref()).await?;
        }
        Ok(())
    }
}
