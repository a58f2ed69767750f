//! Web Push (RFC 8030) request headers and VAPID (RFC 8292), parsed once at the edge
//! into types that cannot hold an invalid value.

mod headers;
mod vapid;

pub use headers::{HeaderError, PushHeaders, Topic, Ttl, Urgency};
pub use vapid::{VapidClaim, VapidError, VapidKey, VapidVerifier};
