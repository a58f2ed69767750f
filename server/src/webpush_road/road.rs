//! One push on the Web Push road: framed (instance, message id, body), split in two when
//! the frame would not fit one Web Push message, each part encrypted to the device's keys
//! and sent to its token. What Google's answers mean is decided by the relay's one outcome
//! decision; this only reports them.

use std::sync::Arc;
use std::time::Duration;

use super::client::{Request, WebPushClient, WebPushError};
use super::ece::{EceError, Encryptor, Recipient};
use super::frame::{frames, FrameError};
use super::identity::Identity;
use super::jwt::VapidSigner;
use super::settings::{audience, WebPushSettings};
use crate::webpush::Urgency;

/// Where a device on this road is reached: its Play services token (issued for the relay's
/// VAPID key) and the keys its phone decrypts with.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The Web Push token (`<api_url>/fcm/send/<token>`).
    pub token: &'a str,
    /// The phone's uncompressed P-256 point.
    pub p256dh: &'a [u8; 65],
    /// The phone's 16-byte auth secret.
    pub auth: &'a [u8; 16],
}

/// One push as the road sends it.
#[derive(Debug, Clone, Copy)]
pub struct Push<'a> {
    /// uprelay's message id (the same on every try).
    pub message_id: &'a str,
    /// The app instance it is for.
    pub instance: &'a str,
    /// Exactly the bytes the FCM v1 road puts in `b`.
    pub body: &'a [u8],
    /// Seconds the service may keep it.
    pub ttl_secs: u32,
    /// RFC 8030 Urgency, passed on.
    pub urgency: Urgency,
    /// RFC 8030 Topic, passed on (not on split parts: one part must not replace the other).
    pub topic: Option<&'a str>,
}

/// Why a push did not get through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoadError {
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

/// The Web Push road: the relay's identity, its encryption and its client.
pub struct WebPushRoad {
    identity: Arc<Identity>,
    encryptor: Encryptor,
    client: WebPushClient,
}

impl WebPushRoad {
    /// The road to `settings`' service at `api_url`, signing as `identity` with `subject`
    /// as the JWT's `sub`.
    pub fn new(settings: &WebPushSettings, api_url: &str, identity: Arc<Identity>, subject: String) -> anyhow::Result<WebPushRoad> {
        let aud = audience(api_url).ok_or_else(|| anyhow::anyhow!("webpush.api_url: {api_url} is not an http(s) URL"))?;
        let client = WebPushClient::new(settings, api_url, VapidSigner::new(identity.clone(), aud, subject))?;
        Ok(WebPushRoad { identity, encryptor: Encryptor::new(Duration::from_secs(settings.key_reuse_secs)), client })
    }

    /// The relay's VAPID public key (87 characters), as `GET /v1/info` publishes it.
    pub fn vapid_public_key(&self) -> &str {
        self.identity.public_key()
    }

    /// Send `push` to `to`: every part, in order; the first refusal ends it.
    pub async fn deliver(&self, to: Target<'_>, push: Push<'_>) -> Result<(), RoadError> {
        let parts = frames(push.message_id, push.instance, push.body)?;
        let whole = parts.len() == 1;
        for frame in parts {
            let body = self.encryptor.encrypt(Recipient { p256dh: to.p256dh, auth: to.auth }, &frame)?;
            let request = Request {
                token: to.token,
                body,
                ttl_secs: push.ttl_secs,
                urgency: push.urgency,
                topic: if whole { push.topic } else { None },
            };
            self.client.send(request).await?;
        }
        Ok(())
    }
}
