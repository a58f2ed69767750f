//! Firebase Cloud Messaging HTTP v1: OAuth per project, message encoding (with the
//! split of large bodies), its client over the shared HTTP/2 link (`outbound`), and the classification of FCM's
//! answers into what the relay should do.

mod auth;
mod client;
mod credentials;
mod error;
pub mod message;
mod settings;

pub use client::FcmClient;
pub use credentials::{read_service_account, service_account_from_json, ServiceAccountKey};
pub use error::{ErrorClass, FcmError};
pub use settings::{FcmConfig, ProjectConfig, SandboxConfig};
