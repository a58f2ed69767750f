//! The push path in one place: a push accepted at the edge is looked up, checked against
//! VAPID and the limits ([`accept`]), sent down the road of the device's target
//! ([`crate::road`]), and the road's answer is settled by one function ([`deliver`]),
//! whatever the road, whether the push is live or a retry.
//! Transient failures wait in the store's durable queue ([`queue`]) until the retry
//! [`worker`] takes them again.
//!
//! Nothing here knows HTTP: the edge (`api/`) hands in typed values and maps what comes
//! back to status codes.

mod accept;
mod breaker;
mod deliver;
mod queue;
mod settings;
mod worker;

pub use accept::{Accepted, Ingress, Push, Relay, RelayError, RelayOptions};
pub use deliver::Courier;
pub use settings::QueueConfig;
pub use worker::Worker;
