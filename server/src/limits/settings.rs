//! The `[limits]` settings: every bound on what a client may make the server do
//! (connections, request sizes and times, registrations, push and sign-up rates), with
//! their defaults and checks.

use serde::{Deserialize, Serialize};

use super::client::TrustedProxies;
use super::gcra::Rate;
use crate::config::error::ConfigError;

/// Bounds on what a client may make the server do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Registrations (endpoints) one device may hold.
    pub max_registrations_per_device: usize,
    /// Refuse registrations without a VAPID key (every endpoint restricted to one app server).
    pub require_vapid: bool,
    /// Largest JSON body accepted by the distributor API, bytes.
    pub max_api_body: usize,
    /// Time a whole request may take, milliseconds (slow clients are cut off).
    pub request_timeout_ms: u64,
    /// Requests handled at once; more are shed with 503.
    pub max_concurrent_requests: usize,
    /// Requests in flight from one client (an IPv4 address or an IPv6 /64; behind a
    /// trusted proxy, the client it forwards for); more are answered 429 + Retry-After,
    /// so one client cannot take every one of `max_concurrent_requests`.
    pub max_requests_per_client: usize,
    /// Concurrent streams (requests) one HTTP/2 connection may open.
    pub max_streams_per_connection: u32,
    /// Time a request may take to deliver its body once its head has arrived, ms
    /// (a stalled body is answered 408 and gives its slot back).
    pub body_read_timeout_ms: u64,
    /// Sustained pushes per second per endpoint; 0 turns the limit off. The default
    /// keeps a device with one endpoint under FCM's 240/min and 5000/h.
    pub push_rate_per_second: f64,
    /// Pushes one endpoint may send back to back.
    pub push_burst: u32,
    /// Device registrations per minute per client IP; 0 turns the limit off.
    pub device_create_per_minute: f64,
    /// Device registrations one client IP may make back to back.
    pub device_create_burst: u32,
    /// Reverse proxies (CIDRs or addresses) whose `X-Forwarded-For` is believed for
    /// per-IP limits; empty: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Open connections at once; further ones are closed at accept.
    pub max_connections: usize,
    /// Open connections from one client IP (an IPv6 /64); trusted proxies are exempt.
    pub max_connections_per_ip: usize,
    /// An HTTP/2 connection with no open stream for this long gets a GOAWAY, ms
    /// (keep-alive pings do not count as activity).
    pub idle_timeout_ms: u64,
    /// Time a client has to send a request's headers (HTTP/1), ms: cuts off slowloris.
    pub header_read_timeout_ms: u64,
    /// Largest request head (HTTP/1 buffer, HTTP/2 header list), bytes.
    pub max_header_bytes: usize,
    /// On shutdown, how long in-flight requests may take to finish, ms.
    pub shutdown_grace_ms: u64,
    /// Time a response write may wait for the client to take bytes, ms; a client that
    /// stops reading (pipelined requests never read, a full socket) is cut off then.
    pub write_timeout_ms: u64,
    /// Time a connection told to go (an idle HTTP/2 connection's GOAWAY) has to finish
    /// what it still holds before it is closed hard, ms.
    pub goaway_grace_ms: u64,
}

impl LimitsConfig {
    /// The per-endpoint push limiter, if on.
    pub fn push_rate(&self) -> Option<Rate> {
        (self.push_rate_per_second > 0.0).then(|| Rate { per_second: self.push_rate_per_second, burst: self.push_burst.max(1) })
    }
    /// The proxies of `trusted_proxies` (checked by [`LimitsConfig::validate`]).
    pub fn trusted_proxies(&self) -> TrustedProxies {
        TrustedProxies::parse(&self.trusted_proxies).unwrap_or_default()
    }
    /// The per-IP device creation limiter, if on.
    pub fn device_create_rate(&self) -> Option<Rate> {
        (self.device_create_per_minute > 0.0)
            .then(|| Rate { per_second: self.device_create_per_minute / 60.0, burst: self.device_create_burst.max(1) })
    }

    /// Checks that need more than types: every bound positive, rates finite, proxies parse.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_registrations_per_device == 0 {
            return Err(ConfigError::new("limits.max_registrations_per_device", "must be positive"));
        }
        if self.max_concurrent_requests == 0 {
            return Err(ConfigError::new("limits.max_concurrent_requests", "must be positive"));
        }
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::new("limits.request_timeout_ms", "must be positive"));
        }
        if self.max_requests_per_client == 0 {
            return Err(ConfigError::new("limits.max_requests_per_client", "must be positive"));
        }
        if !(1..=1000).contains(&self.max_streams_per_connection) {
            return Err(ConfigError::new("limits.max_streams_per_connection", "must be between 1 and 1000"));
        }
        if self.body_read_timeout_ms == 0 {
            return Err(ConfigError::new("limits.body_read_timeout_ms", "must be positive"));
        }
        if self.write_timeout_ms < 100 {
            return Err(ConfigError::new("limits.write_timeout_ms", "must be at least 100"));
        }
        if self.goaway_grace_ms < 100 {
            return Err(ConfigError::new("limits.goaway_grace_ms", "must be at least 100"));
        }
        if self.max_connections == 0 || self.header_read_timeout_ms == 0 {
            return Err(ConfigError::new("limits", "max_connections and header_read_timeout_ms must be positive"));
        }
        if self.max_connections_per_ip == 0 {
            return Err(ConfigError::new("limits.max_connections_per_ip", "must be positive"));
        }
        if self.idle_timeout_ms < 100 {
            return Err(ConfigError::new("limits.idle_timeout_ms", "must be at least 100"));
        }
        if let Err(i) = TrustedProxies::parse(&self.trusted_proxies) {
            return Err(ConfigError::new(format!("limits.trusted_proxies[{i}]"), "must be an IP address or a CIDR such as 10.0.0.0/8"));
        }
        if !(8192..=1 << 20).contains(&self.max_header_bytes) {
            return Err(ConfigError::new("limits.max_header_bytes", "must be between 8192 and 1048576"));
        }
        if !(self.push_rate_per_second >= 0.0 && self.push_rate_per_second.is_finite()) {
            return Err(ConfigError::new("limits.push_rate_per_second", "must be a non-negative number"));
        }
        if !(self.device_create_per_minute >= 0.0 && self.device_create_per_minute.is_finite()) {
            return Err(ConfigError::new("limits.device_create_per_minute", "must be a non-negative number"));
        }
        Ok(())
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_registrations_per_device: 100,
            require_vapid: false,
            max_api_body: 16 * 1024,
            request_timeout_ms: 15_000,
            max_concurrent_requests: 4_096,
            // As many as a client may open HTTP/1 connections: a sender within its
            // connection allowance never meets it, and one client holds 1/16 of the slots.
            max_requests_per_client: 256,
            // What one sender needs on one connection (FCM itself allows about 100).
            max_streams_per_connection: 100,
            // A push body is at most 4 KiB: a sender that has it sends it at once.
            body_read_timeout_ms: 5_000,
            push_rate_per_second: 1.0,
            push_burst: 60,
            device_create_per_minute: 30.0,
            device_create_burst: 10,
            trusted_proxies: Vec::new(),
            max_connections: 10_000,
            max_connections_per_ip: 256,
            idle_timeout_ms: 60_000,
            header_read_timeout_ms: 10_000,
            max_header_bytes: 16 * 1024,
            shutdown_grace_ms: 30_000,
            write_timeout_ms: 10_000,
            goaway_grace_ms: 10_000,
        }
    }
}
