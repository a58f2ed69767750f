//! The Web Push road: delivery to Google phones through Google's Web Push service
//! (`https://fcm.googleapis.com/fcm/send/<token>`), which needs no Firebase project. The
//! relay's VAPID key pair is its identity there ([`identity`]); a phone asks Play services
//! for a token with that public key as the sender and registers the token with its own
//! P-256 key and auth secret. A push leaves as one RFC 8030 request per part, signed with
//! a reused VAPID JWT ([`jwt`]), its body an RFC 8291 `aes128gcm` message ([`ece`]) whose
//! plaintext is a [`frame`]: the instance, the message id and the sender's bytes, none of
//! which Google sees. [`client`] sends over reused HTTP/2 connections; [`settings`] is
//! `[webpush]`.

pub mod client;
pub mod ece;
pub mod frame;
pub mod identity;
pub mod jwt;
pub mod road;
pub mod settings;

pub use client::{WebPushClient, WebPushError};
pub use identity::Identity;
pub use road::{DeliveryError, WebPushRoad};
pub use settings::WebPushSettings;
