//! uprelay: a UnifiedPush distributor backed by Firebase Cloud Messaging.
//!
//! App servers POST Web Push messages to endpoints uprelay hands out; uprelay maps
//! each endpoint to a phone's [`target`] (an FCM token or installation ID, or a Web Push
//! subscription) and sends the message down that target's [`road`].
//! Data flows one way: request → [`webpush`] validation → [`store`] lookup →
//! [`relay`] → [`road`] ([`fcm`], …) → outcome → HTTP response ([`api`]).

#![warn(missing_docs)]

mod api;
pub mod cli;
mod clock;
pub mod config;
pub mod fcm;
mod gateway;
pub mod ids;
mod limits;
mod listener;
mod logging;
pub mod metrics;
mod outbound;
mod relay;
pub mod road;
mod server;
pub mod store;
pub mod target;
pub mod webpush;
mod write_deadline;
