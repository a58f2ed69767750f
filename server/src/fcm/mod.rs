//! Firebase Cloud Messaging HTTP v1: OAuth per project, message encoding (with the
//! split of large bodies), the shared HTTP client, and the classification of FCM's
//! answers into what the relay should do.

mod auth;
mod client;
mod credentials;
mod error;
mod link;
pub mod message;
mod transport;

pub use client::FcmClient;
pub use credentials::{read_service_account, service_account_from_json, ServiceAccountKey};
pub use error::{ErrorClass, FcmError};

/// Concurrent streams Google's FCM front ends allow per HTTP/2 connection (their
/// SETTINGS_MAX_CONCURRENT_STREAMS): what the client assumes before a connection tells
/// its own, and what the emulator advertises.
pub const FCM_MAX_CONCURRENT_STREAMS: u32 = 100;
