//! Web Push (RFC 8030) request headers, content encodings and VAPID (RFC 8292), parsed
//! once at the edge into types that cannot hold an invalid value.

mod encoding;
mod headers;
mod vapid;

pub use encoding::{aesgcm_prefix, Encoding};
pub use headers::{HeaderError, PushHeaders, Topic, Ttl, Urgency};
pub(crate) use vapid::B64URL_LENIENT;
pub use vapid::{VapidClaim, VapidError, VapidKey, VapidVerifier};
