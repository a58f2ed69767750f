//! Firebase Cloud Messaging HTTP v1: OAuth per project, message encoding (with the
//! split of large bodies), the shared HTTP client, and the classification of FCM's
//! answers into what the relay should do.

mod auth;
mod client;
mod credentials;
mod error;
pub(crate) mod link;
pub mod message;
mod settings;
mod transport;
pub(crate) mod wire;

pub(crate) use client::USER_AGENT;
pub use client::{FcmClient, LinkStats};
pub use credentials::{read_service_account, service_account_from_json, ServiceAccountKey};
pub(crate) use error::parse_retry_after;
pub use error::{ErrorClass, FcmError};
pub use settings::{FcmConfig, ProjectConfig, SandboxConfig};
