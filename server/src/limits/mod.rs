//! Rate limits in one place: the GCRA both stores run (Redis in a script, the embedded
//! store in process), the verdict it gives, and the in-process state behind the
//! embedded store's limits.
//!
//! A limit is a [`Rate`]: `burst` requests back to back, then `per_second`. The GCRA keeps
//! one number per key (the theoretical arrival time, TAT), so a limit costs one small
//! value in whatever store holds it.

mod gcra;
mod local;

pub use gcra::{limiter_params, Admission, Rate};
pub use local::LocalLimits;
