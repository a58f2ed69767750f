//! What the stores hold and the one trait both implement: devices and their
//! registrations, the route a push needs, and the durable retry queue.

use async_trait::async_trait;

use crate::ids::{DeviceId, EndpointId, MessageId, SecretHash};
use crate::limits::{Admission, Rate};
use crate::target::Target;
use crate::webpush::{Urgency, VapidKey};

/// A failure of the storage backend itself (never of the caller's input).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or timed out; worth retrying.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Data in the store could not be decoded, or the backend failed internally.
    #[error("store failure: {0}")]
    Internal(String),
}

impl StoreError {
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
    /// Hash of its API secret.
    pub secret_hash: SecretHash,
    /// Firebase project its FCM target belongs to (kept on the Web Push road too, for a
    /// move back).
    pub project: String,
    /// What it is reached by now.
    pub target: Target,
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
    /// What to send to (and so the road).
    pub target: Target,
}

/// Result of adding a message to the retry queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// In the queue.
    Kept,
    /// The queue holds `max_len` messages.
    QueueFull,
    /// The device holds its share of the queue.
    DeviceFull,
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

/// A push waiting in the durable retry queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    /// uprelay's message id (`m`), unchanged across retries so the phone can drop duplicates.
    pub id: MessageId,
    /// Endpoint it was sent to; the route is looked up again at each try, so a token
    /// rotation or a deletion in the meantime is honoured.
    pub endpoint: EndpointId,
    /// Unix ms after which the message must not be sent (acceptance time + TTL).
    pub expires_ms: u64,
    /// Urgency of the original push.
    pub urgency: Urgency,
    /// Topic of the original push.
    pub topic: Option<String>,
    /// Tries so far.
    pub attempts: u32,
    /// The body as received.
    pub body: Vec<u8>,
}

/// Persistence for devices, registrations, routes and the retry queue.
///
/// One trait with three roles (marked below) rather than three traits: the live push and
/// the retry worker each need all three (a route, the dead-token deletion, the hold, the
/// queue), so a split would narrow no caller and add a bound everywhere.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- Devices and their registrations (the distributor API) ---
    /// Store a new device (with no registrations).
    async fn create_device(&self, device: &Device) -> Result<(), StoreError>;
    /// A device with its registrations.
    async fn device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError>;
    /// Replace the device's target (of any kind, so also across roads) in one atomic step,
    /// keeping every endpoint. False if unknown.
    async fn set_target(&self, id: &DeviceId, target: &Target) -> Result<bool, StoreError>;
    /// Delete the device and every endpoint of it. False if unknown.
    async fn delete_device(&self, id: &DeviceId) -> Result<bool, StoreError>;
    /// Delete the device only if its whole target is still `target` (its road declared
    /// that target dead; a rotation or a move that raced the send must not lose the device).
    async fn delete_device_if_target(&self, id: &DeviceId, target: &Target) -> Result<bool, StoreError>;
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
    // --- Push routing and limits (the hot path) ---
    /// Resolve an endpoint for a push: one round trip.
    async fn route(&self, endpoint: &EndpointId) -> Result<Option<Route>, StoreError>;
    /// Resolve an endpoint and take one token from its rate limiter (or, with no rate,
    /// only honour a hold set by [`hold_endpoint`](Store::hold_endpoint)), in the same
    /// round trip. The limiter is only charged when the endpoint exists and is not
    /// restricted to a VAPID key: a restricted endpoint's sender must prove itself first,
    /// so with a rate its verdict here is `Allowed` and nothing is charged; the caller
    /// charges [`admit_endpoint`](Store::admit_endpoint) once VAPID is verified. (With no
    /// rate, the hold check charges nothing and is final for both kinds.)
    async fn route_admit(&self, endpoint: &EndpointId, rate: Option<&Rate>, now_ms: u64) -> Result<Option<(Route, Admission)>, StoreError>;
    /// Take one token from the endpoint's limiter (the one [`route_admit`](Store::route_admit)
    /// charges), for a restricted endpoint whose sender was verified.
    async fn admit_endpoint(&self, endpoint: &EndpointId, rate: &Rate, now_ms: u64) -> Result<Admission, StoreError>;
    /// Refuse pushes to `endpoint` for `hold_ms` from `now_ms` (FCM said the device is over quota).
    async fn hold_endpoint(&self, endpoint: &EndpointId, now_ms: u64, hold_ms: u64, rate: Option<&Rate>) -> Result<(), StoreError>;
    /// Take one token from the limiter named `key` (e.g. device creation per client IP).
    async fn admit(&self, key: &str, rate: &Rate, now_ms: u64) -> Result<Admission, StoreError>;

    // --- The durable retry queue ---
    /// Add a message for `device` to the retry queue, due at `due_ms`, unless the queue
    /// holds `max_len` messages already or the device `max_per_device` of them (each
    /// device's share is counted until its messages are completed).
    async fn enqueue(
        &self,
        msg: &QueuedMessage,
        device: &DeviceId,
        due_ms: u64,
        max_len: u64,
        max_per_device: u64,
    ) -> Result<Enqueued, StoreError>;
    /// Lease up to `max` messages due by `now_ms`: they become due again at
    /// `now_ms + lease_ms` unless completed or rescheduled first, so a crashed worker's
    /// messages go to another worker and no two workers hold one message at once.
    async fn lease(&self, now_ms: u64, lease_ms: u64, max: usize) -> Result<Vec<QueuedMessage>, StoreError>;
    /// Remove a message from the queue (sent, expired, its device gone, or cancelled by
    /// its sender). False when it was not there.
    async fn complete(&self, id: &MessageId) -> Result<bool, StoreError>;
    /// Put a leased message back, due at `due_ms` (with its attempts updated).
    async fn reschedule(&self, msg: &QueuedMessage, due_ms: u64) -> Result<(), StoreError>;
    /// Messages in the queue.
    async fn queue_len(&self) -> Result<u64, StoreError>;
    /// When the oldest message still queued was enqueued (unix ms); `None` when empty.
    async fn queue_oldest_ms(&self) -> Result<Option<u64>, StoreError>;
    // --- The relay's own secrets ---
    /// The secret blob named `name`: the one stored, or else `fresh`, stored now. Every
    /// instance sharing the store gets the same bytes: the first to start creates them
    /// (the relay's VAPID key pair, which every Web Push token is bound to).
    async fn secret_or_init(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError>;
    // --- Operations ---
    /// Whether the backend answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Short description for logs (`redis`, `redis-cluster`, `embedded <path>`).
    fn describe(&self) -> String;
}
