//! The HTTP/2 client both delivery roads reach Google through: multiplexed connections
//! held directly ([`link`]), the wire over TLS or h2c ([`wire`]), the frame shaping that
//! lets concurrent sends share one write ([`transport`]), and the `Retry-After` reading
//! ([`retry_after`]). What an answer means is each road's own business.

pub(crate) mod link;
pub(crate) mod retry_after;
mod transport;
pub(crate) mod wire;

use http::HeaderValue;

pub(crate) use retry_after::parse_retry_after;

/// What uprelay calls itself on both roads.
pub(crate) const USER_AGENT: HeaderValue = HeaderValue::from_static(concat!("uprelay/", env!("CARGO_PKG_VERSION")));
