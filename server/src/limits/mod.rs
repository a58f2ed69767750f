//! Rate limits in one place: the GCRA both stores run (Redis in a script, the embedded
//! store in process), the verdict it gives, and the in-process state behind the
//! embedded store's limits; who a client is ([`TrustedProxies`], [`client_key`]); and
//! what each client holds at once ([`Clients`]: connections, requests in flight).
//!
//! A limit is a [`Rate`]: `burst` requests back to back, then `per_second`. The GCRA keeps
//! one number per key (the theoretical arrival time, TAT), so a limit costs one small
//! value in whatever store holds it.

mod client;
mod clients;
mod gcra;
mod local;
mod settings;

pub use client::{client_key, TrustedProxies};
pub use clients::{Clients, Connection};
pub use gcra::{limiter_params, Admission, Rate};
pub use local::LocalLimits;
pub use settings::LimitsConfig;
