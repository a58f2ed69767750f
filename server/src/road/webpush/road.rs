//! One push on the Web Push road: framed (instance, message id, body), split in two when
//! the frame would not fit one Web Push message, each part encrypted to the device's keys
//! and sent to its token; and Google's answers in the roads' shared terms. What those
//! mean for the device and the message is the relay's one decision (`relay::deliver`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

use super::client::{Request, WebPushClient, WebPushError};
use super::ece::{EceError, Encryptor, Recipient};
use super::frame::{frames, FrameError};
use super::identity::Identity;
use super::jwt::VapidSigner;
use super::settings::{audience, WebPushSettings};
use crate::road::{Message, Road, RoadAnswer, RoadError};
use crate::store::Route;
use crate::target::{RoadKind, Target, WebPushSubscription};

/// Why a push did not get through on this road.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The service refused a part, or could not be reached.
    #[error(transparent)]
    Service(#[from] WebPushError),
    /// The push could not be framed (names too long, a body too big for two parts).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The device's keys are unusable.
    #[error(transparent)]
    Encryption(#[from] EceError),
}

impl DeliveryError {
    /// Metric label (`result` of the road's request counter).
    pub fn label(&self) -> &'static str {
        match self {
            DeliveryError::Service(e) => e.label(),
            DeliveryError::Frame(_) => "unframeable",
            DeliveryError::Encryption(_) => "bad_device_key",
        }
    }
}

/// The Web Push road: the relay's identity, its encryption and its client.
pub struct WebPushRoad {
    identity: Arc<Identity>,
    encryptor: Encryptor,
    client: WebPushClient,
}

/// Whether a 403 was explained in the log already: every device whose token is bound to
/// another key answers it, and one line says why (the VAPID key changed) for them all.
static KEY_MISMATCH_LOGGED: AtomicBool = AtomicBool::new(false);

impl WebPushRoad {
    /// The road to the service at `api_url`, signing as `identity` with `subject` as the
    /// JWT's `sub`.
    pub fn new(settings: &WebPushSettings, api_url: &str, identity: Arc<Identity>, subject: String) -> anyhow::Result<WebPushRoad> {
        let aud = audience(api_url).ok_or_else(|| anyhow::anyhow!("webpush.api_url: {api_url} is not an http(s) URL"))?;
        let client = WebPushClient::new(settings, api_url, VapidSigner::new(identity.clone(), aud, subject))?;
        Ok(WebPushRoad { identity, encryptor: Encryptor::new(Duration::from_secs(settings.key_reuse_secs)), client })
    }

    /// The road's HTTP/2 connections and requests in flight, for `/metrics`.
    pub fn link_stats(&self) -> crate::outbound::link::LinkStats {
        self.client.link_stats()
    }

    /// The relay's VAPID public key (87 characters), as `GET /v1/info` publishes it.
    pub fn vapid_public_key(&self) -> &str {
        self.identity.public_key()
    }

    /// Send `msg` for `instance` to the subscription `to`: every part, in order; the first
    /// refusal ends it. Topic goes only with a whole push (one half must not replace the other).
    pub async fn deliver(&self, to: &WebPushSubscription, instance: &str, msg: Message<'_>) -> Result<(), DeliveryError> {
        let parts = frames(msg.id.as_str(), instance, msg.body)?;
        let whole = parts.len() == 1;
        for frame in parts {
            let body = self.encryptor.encrypt(Recipient { p256dh: to.p256dh(), auth: to.auth() }, &frame)?;
            let request = Request {
                token: to.token(),
                body,
                ttl_secs: msg.ttl_secs,
                urgency: msg.urgency,
                topic: if whole { msg.topic } else { None },
            };
            self.client.send(request).await?;
        }
        Ok(())
    }
}

impl Road for WebPushRoad {
    const KIND: RoadKind = RoadKind::WebPush;

    async fn send(&self, route: &Route, msg: Message<'_>) -> RoadAnswer {
        let Target::WebPush(subscription) = &route.target else {
            return RoadAnswer::OurFault(RoadError::NotOffered(route.target.road()));
        };
        let result = self.deliver(subscription, &route.instance, msg).await;
        crate::metrics::hot().road_request(RoadKind::WebPush, result.as_ref().map_or_else(DeliveryError::label, |()| "ok"));
        match result {
            Ok(()) => RoadAnswer::Delivered,
            Err(e) => answer(e),
        }
    }
}

/// Google's answer, in the roads' shared terms: 404 and 410 the token is gone; 403 the
/// token is bound to another VAPID key, which only registering again mends, so gone too;
/// 429, 5xx, timeouts and unreachable transient (the retry queue, honouring Retry-After,
/// and the road's breaker); 413, or a push too big for two frames, a message no try can
/// deliver; the rest (400, 401, a key we could not use) our own fault, never retried soon.
///
/// Why 429 is transient here and not a device's throttle as FCM v1's QUOTA_EXCEEDED: a
/// Web Push 429 does not say whether the device or the sender is over a rate, and the
/// relay, not the sender, is the sender Google sees; so the message waits in the queue
/// until the service's Retry-After, rather than the app server being told to slow down.
pub fn answer(e: DeliveryError) -> RoadAnswer {
    let service = match &e {
        DeliveryError::Service(service) => service,
        DeliveryError::Frame(_) => return RoadAnswer::BadMessage(e.into()),
        DeliveryError::Encryption(_) => return RoadAnswer::OurFault(e.into()),
    };
    match service {
        WebPushError::Status { status, retry_after } => match *status {
            StatusCode::NOT_FOUND | StatusCode::GONE => RoadAnswer::DeviceGone(e.into()),
            StatusCode::PAYLOAD_TOO_LARGE => RoadAnswer::BadMessage(e.into()),
            StatusCode::FORBIDDEN => {
                if !KEY_MISMATCH_LOGGED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "Google's Web Push service refused a token as bound to another VAPID key (403): its device must register \
                         again; if the relay's VAPID key was replaced, every Web Push device will (logged once)"
                    );
                }
                RoadAnswer::DeviceGone(e.into())
            }
            s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => RoadAnswer::Transient(*retry_after, e.into()),
            _ => RoadAnswer::OurFault(e.into()),
        },
        WebPushError::Timeout | WebPushError::Transport(_) => RoadAnswer::Transient(None, e.into()),
        WebPushError::Unsendable(_) => RoadAnswer::OurFault(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<u64>) -> DeliveryError {
        DeliveryError::Service(WebPushError::Status {
            status: StatusCode::from_u16(code).unwrap(),
            retry_after: retry_after.map(Duration::from_secs),
        })
    }

    #[test]
    fn googles_answers_in_shared_terms() {
        let kind = |a: RoadAnswer| match a {
            RoadAnswer::Delivered => "delivered".to_string(),
            RoadAnswer::DeviceGone(_) => "gone".into(),
            RoadAnswer::Throttled(after, _) => format!("throttled {after:?}"),
            RoadAnswer::Transient(after, _) => format!("transient {after:?}"),
            RoadAnswer::OurFault(_) => "ours".into(),
            RoadAnswer::BadMessage(_) => "bad message".into(),
        };
        for (code, expected) in [(404, "gone"), (410, "gone"), (403, "gone"), (400, "ours"), (401, "ours"), (413, "bad message")] {
            assert_eq!(kind(answer(status(code, None))), expected, "{code}");
        }
        assert_eq!(kind(answer(status(429, Some(30)))), "transient Some(30s)");
        assert_eq!(kind(answer(status(429, None))), "transient None");
        assert_eq!(kind(answer(status(503, Some(5)))), "transient Some(5s)");
        assert_eq!(kind(answer(status(500, None))), "transient None");
        assert_eq!(kind(answer(DeliveryError::Service(WebPushError::Timeout))), "transient None");
        assert_eq!(kind(answer(DeliveryError::Service(WebPushError::Transport("reset".into())))), "transient None");
        assert_eq!(kind(answer(DeliveryError::Frame(FrameError::TooBig(9000)))), "bad message");
        assert_eq!(kind(answer(DeliveryError::Encryption(EceError::BadKey))), "ours");
    }
}
