//! The built-in Matrix push gateway (Push Gateway API v1). A homeserver posts one
//! notification for several devices; each device's pushkey is a UnifiedPush endpoint.
//! This relay's own endpoints are served in process, through the same [`Relay::push`] as
//! a Web Push POST (route, limits, split, retry queue, metrics), with no HTTP hop; other
//! servers' endpoints are rejected, or forwarded when the operator allows it.
//!
//! What the homeserver hears per device: delivered (nothing), gone (its pushkey in
//! `rejected`, and the homeserver deletes the pusher), or a transient failure (not
//! rejected; when every device failed so, the edge answers 503 and the homeserver retries).

mod forward;
pub mod notification;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;

use self::forward::{Forwarded, Forwarder};
use self::notification::{Notification, Pushkey};
pub use self::settings::MatrixConfig;
use crate::ids::EndpointId;
use crate::relay::{Ingress, Push, Relay, RelayError};
use crate::webpush::{Encoding, Ttl, Urgency, VapidClaim};

/// Retry-After when every device failed transiently and nobody named a delay.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);

/// What became of one notification.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// 200 `{"rejected": […]}`: the pushkeys whose pushers the homeserver should delete.
    Rejected(Vec<String>),
    /// Every device failed for now: 503 with this Retry-After.
    RetryLater(Duration),
}

/// What became of one device.
enum Fate {
    Delivered,
    Rejected,
    Transient(Option<Duration>),
}

/// The gateway: this relay's endpoints in process, others forwarded or rejected.
pub struct Gateway {
    relay: Arc<Relay>,
    /// `public_url` + `/up/`: a pushkey starting with it is one of ours.
    own_prefix: url::Url,
    ttl: Ttl,
    forwarder: Option<Forwarder>,
    max_forwards_per_host: usize,
}

impl Gateway {
    /// A gateway delivering through `relay`, for endpoints under `public_base`.
    pub fn new(relay: Arc<Relay>, public_base: &str, cfg: &MatrixConfig, max_ttl: u32) -> anyhow::Result<Gateway> {
        let own_prefix = url::Url::parse(&format!("{public_base}/up/"))?;
        let forwarder = cfg.forward.then(|| Forwarder::new(cfg));
        let max_forwards_per_host = cfg.max_forwards_per_host;
        Ok(Gateway { relay, own_prefix, ttl: Ttl::clamped(cfg.ttl as u64, max_ttl), forwarder, max_forwards_per_host })
    }

    /// Deliver `n` to each of its devices, concurrently.
    pub async fn notify(&self, n: Notification) -> Answer {
        let body = Bytes::from(n.body);
        let urgency = n.urgency;
        // Each host's share of this notification's forwards, counted in order.
        let mut per_host: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let over_share: Vec<bool> = n
            .devices
            .iter()
            .map(|(_, key)| match key {
                Pushkey::Url(url) if self.own_endpoint(url).is_none() && self.forwarder.is_some() => {
                    let n = per_host.entry(url.host_str().unwrap_or_default()).or_default();
                    *n += 1;
                    *n > self.max_forwards_per_host
                }
                _ => false,
            })
            .collect();
        let body = &body;
        let fates = join_all(n.devices.iter().zip(&over_share).map(|((_, key), over)| async move {
            if *over {
                return count(Fate::Transient(None), "forwarded");
            }
            self.deliver(key, body, urgency).await
        }))
        .await;
        let mut rejected = Vec::new();
        let mut transient = 0;
        let mut wait: Option<Duration> = None;
        for ((text, _), fate) in n.devices.iter().zip(fates) {
            match fate {
                Fate::Delivered => {}
                Fate::Rejected => rejected.push(text.clone()),
                Fate::Transient(after) => {
                    transient += 1;
                    wait = wait.max(after);
                }
            }
        }
        if transient == n.devices.len() {
            return Answer::RetryLater(wait.unwrap_or(DEFAULT_RETRY_AFTER));
        }
        Answer::Rejected(rejected)
    }

    async fn deliver(&self, key: &Pushkey, body: &Bytes, urgency: Urgency) -> Fate {
        let url = match key {
            Pushkey::Bad(..) => return count(Fate::Rejected, "bad"),
            Pushkey::Url(url) => url,
        };
        if let Some(id) = self.own_endpoint(url) {
            let Some(endpoint) = EndpointId::parse(id) else { return count(Fate::Rejected, "local") };
            let push = Push {
                ingress: Ingress::Matrix,
                encoding: Encoding::Other,
                endpoint,
                ttl: self.ttl,
                urgency,
                topic: None,
                // A gateway cannot sign for the app's key, and anyone may call a gateway:
                // an endpoint restricted to a VAPID key refuses it (rejected below).
                vapid: VapidClaim::Absent,
                body: body.clone(),
            };
            let fate = match self.relay.push(push).await {
                Ok(_) => Fate::Delivered,
                Err(RelayError::NotFound | RelayError::Gone | RelayError::Vapid(_)) => Fate::Rejected,
                Err(RelayError::Throttled(d) | RelayError::Unavailable(d)) => Fate::Transient(Some(d)),
                // Our own trouble (store, credentials) is never the pusher's fault.
                Err(e @ (RelayError::Store(_) | RelayError::Upstream(_))) => {
                    tracing::warn!(error = %e, "matrix gateway: local delivery failed");
                    Fate::Transient(None)
                }
            };
            return count(fate, "local");
        }
        let Some(forwarder) = &self.forwarder else { return count(Fate::Rejected, "foreign") };
        let fate = match forwarder.send(url, body.clone(), self.ttl.secs(), urgency).await {
            Forwarded::Delivered => Fate::Delivered,
            Forwarded::Gone => Fate::Rejected,
            Forwarded::Refused(why) => {
                tracing::info!(host = url.host_str().unwrap_or_default(), reason = %why, "matrix gateway: refusing to forward");
                Fate::Rejected
            }
            Forwarded::Failed(why) => {
                tracing::debug!(host = url.host_str().unwrap_or_default(), reason = %why, "matrix gateway: forward failed");
                Fate::Transient(None)
            }
        };
        count(fate, "forwarded")
    }

    /// The endpoint id when `url` is one of this relay's endpoint URLs.
    fn own_endpoint<'u>(&self, url: &'u url::Url) -> Option<&'u str> {
        if url.origin() != self.own_prefix.origin() || url.query().is_some() || url.fragment().is_some() {
            return None;
        }
        url.path().strip_prefix(self.own_prefix.path()).filter(|id| !id.contains('/'))
    }
}

fn count(fate: Fate, route: &'static str) -> Fate {
    let outcome = match fate {
        Fate::Delivered => "delivered",
        Fate::Rejected => "rejected",
        Fate::Transient(_) => "transient",
    };
    metrics::counter!(crate::metrics::MATRIX_DEVICES, "outcome" => outcome, "route" => route).increment(1);
    fate
}
