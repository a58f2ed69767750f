//! Where registrations live: `trait Store`, with a Redis implementation for operators
//! and an embedded (redb) one that needs nothing installed.
//!
//! The push path needs exactly one read ([`Store::route`]): each endpoint's record
//! carries everything a push needs (device, instance, VAPID key, project, FCM token),
//! at the price of rewriting a device's endpoint records when its FCM token rotates,
//! which is rare. Endpoint ids are independent random values, never derived from the
//! device, so app servers of different apps cannot link two endpoints to one phone.

mod codec;
mod embedded;
mod redis;

use async_trait::async_trait;
use axum::http::StatusCode;

pub use self::embedded::EmbeddedStore;
pub use self::redis::RedisStore;
use crate::ids::{DeviceId, EndpointId};
use crate::webpush::VapidKey;

/// A failure of the storage backend itself (never of the caller's input).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or timed out; worth retrying.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Data in the store could not be decoded, or the backend failed internally.
    #[error("store failure: {0}")]
    Internal(String),
}

impl StoreError {
    /// 503 for an outage (retry later), 500 for anything else.
    pub fn status(&self) -> StatusCode {
        match self {
            StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    /// Metric label.
    pub fn label(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "store_unavailable",
            StoreError::Internal(_) => "store_internal",
        }
    }
}

/// One app registration on a device: an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The distributor-side instance name (the shim's id for the app's connection).
    pub instance: String,
    /// The endpoint handed to the app server.
    pub endpoint: EndpointId,
    /// The application server key the endpoint is restricted to, if any.
    pub vapid: Option<VapidKey>,
}

/// A registered phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its id.
    pub id: DeviceId,
    /// SHA-256 of its API secret.
    pub secret_hash: [u8; 32],
    /// Firebase project the FCM token belongs to.
    pub project: String,
    /// Current FCM registration token.
    pub fcm_token: String,
    /// Its endpoints.
    pub registrations: Vec<Registration>,
}

/// Everything a push to one endpoint needs, read in one store round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Owning device.
    pub device: DeviceId,
    /// Instance (`i` in the FCM data map).
    pub instance: String,
    /// Key the endpoint is restricted to.
    pub vapid: Option<VapidKey>,
    /// Firebase project.
    pub project: String,
    /// FCM token to send to.
    pub fcm_token: String,
}

/// Result of adding a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// The instance was already registered with the same VAPID key: same endpoint.
    Existing(EndpointId),
    /// A new endpoint (new instance, or a changed VAPID key, whose old endpoint is gone).
    Created(EndpointId),
    /// The device holds its maximum number of registrations.
    LimitReached,
    /// No such device.
    UnknownDevice,
}

/// Persistence for devices, registrations and routes.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Store a new device (with no registrations).
    async fn create_device(&self, device: &Device) -> Result<(), StoreError>;
    /// A device with its registrations.
    async fn device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError>;
    /// Replace the device's FCM token, keeping every endpoint. False if unknown.
    async fn set_token(&self, id: &DeviceId, fcm_token: &str) -> Result<bool, StoreError>;
    /// Delete the device and every endpoint of it. False if unknown.
    async fn delete_device(&self, id: &DeviceId) -> Result<bool, StoreError>;
    /// Delete the device only if its token is still `fcm_token` (FCM declared that token
    /// dead; a rotation that raced the send must not lose the device).
    async fn delete_device_if_token(&self, id: &DeviceId, fcm_token: &str) -> Result<bool, StoreError>;
    /// Register `instance` (idempotent when unchanged), at most `limit` per device.
    async fn add_registration(
        &self,
        id: &DeviceId,
        instance: &str,
        vapid: Option<&VapidKey>,
        limit: usize,
    ) -> Result<AddOutcome, StoreError>;
    /// Remove one registration. False if the device or the instance is unknown.
    async fn delete_registration(&self, id: &DeviceId, instance: &str) -> Result<bool, StoreError>;
    /// Resolve an endpoint for a push: the hot path, one round trip.
    async fn route(&self, endpoint: &EndpointId) -> Result<Option<Route>, StoreError>;
    /// Whether the backend answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Short description for logs (`redis`, `redis-cluster`, `embedded <path>`).
    fn describe(&self) -> String;
}

/// Open the store the configuration asks for.
pub async fn open(cfg: &crate::config::StoreConfig) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    if let Some(url) = &cfg.redis_url {
        Ok(std::sync::Arc::new(RedisStore::connect(url).await?))
    } else if !cfg.redis_cluster.is_empty() {
        Ok(std::sync::Arc::new(RedisStore::connect_cluster(&cfg.redis_cluster).await?))
    } else {
        Ok(std::sync::Arc::new(EmbeddedStore::open(&cfg.path)?))
    }
}
