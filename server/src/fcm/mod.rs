//! Firebase Cloud Messaging HTTP v1: OAuth per project, message encoding (with the
//! split of large bodies), the shared HTTP client, and the classification of FCM's
//! answers into what the relay should do.

mod auth;
mod client;
mod error;
mod link;
pub mod message;
mod transport;

pub use auth::{ProjectAuth, FCM_SCOPE};
pub use client::FcmClient;
pub use error::{ErrorClass, FcmError};
pub use yup_oauth2::ServiceAccountKey;

/// Concurrent streams Google's FCM front ends allow per HTTP/2 connection (their
/// SETTINGS_MAX_CONCURRENT_STREAMS): what the client assumes before a connection tells
/// its own, and what the emulator advertises.
pub const FCM_MAX_CONCURRENT_STREAMS: u32 = 100;

/// Parse a Google service-account JSON.
pub fn service_account_from_json(json: &str) -> Result<ServiceAccountKey, FcmError> {
    yup_oauth2::parse_service_account_key(json).map_err(|e| FcmError::Auth(format!("not a service-account JSON: {e}")))
}
