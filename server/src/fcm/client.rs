//! The one FCM client: the [`Wire`] to FCM (HTTP/2 connections held by the link, over TLS
//! where FCM offers it, h2c by config; hyper's HTTP/1.1 pool for peers that only speak
//! that), and an OAuth token cache per Firebase project.
//!
//! No general-purpose client (reqwest) sits in between: the send path is the relay's
//! hottest loop and reqwest's per-request layers (URL re-parsing, redirect and retry
//! policies, connector cloning) cost about a tenth of a push's CPU.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, Uri};
use serde::Deserialize;
use yup_oauth2::ServiceAccountKey;

use super::auth::ProjectAuth;
use super::error::FcmError;
use super::settings::FcmConfig;
use crate::outbound::link::{Head, LinkStats};
use crate::outbound::wire::{origin_of, Wire, WireOptions};
use crate::outbound::USER_AGENT;

/// FCM's answers are a few hundred bytes; anything far larger is not FCM.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

const JSON: HeaderValue = HeaderValue::from_static("application/json");

struct Project {
    /// Built once; cloning a `Uri` is a reference-count bump.
    send_uri: Uri,
    auth: Arc<ProjectAuth>,
}

/// Sends FCM HTTP v1 messages for one or more Firebase projects.
pub struct FcmClient {
    /// HTTP/2 when FCM speaks it (always, over TLS; by config, over plain http), HTTP/1.1
    /// for the rest.
    wire: Wire,
    timeout: Duration,
    projects: HashMap<String, Project>,
}

#[derive(Deserialize)]
struct SendResponse {
    name: String,
}

impl FcmClient {
    /// Build the client for the given (project id, service account) pairs.
    pub async fn new(cfg: &FcmConfig, accounts: Vec<(String, ServiceAccountKey)>) -> Result<FcmClient, FcmError> {
        let base = cfg.api_url.trim_end_matches('/');
        let mut projects = HashMap::new();
        for (name, key) in accounts {
            let auth = ProjectAuth::new(&name, key).await?;
            let send_uri = format!("{base}/v1/projects/{name}/messages:send")
                .parse::<Uri>()
                .map_err(|e| FcmError::Transport(format!("fcm.api_url: {e}")))?;
            if !matches!(send_uri.scheme_str(), Some("http" | "https")) || send_uri.host().is_none() {
                return Err(FcmError::Transport(format!("fcm.api_url: {base} is not an http(s) URL")));
            }
            projects.insert(name, Project { send_uri, auth });
        }
        let origin = origin_of(base).ok_or_else(|| FcmError::Transport(format!("fcm.api_url: {base} is not an http(s) URL")))?;
        let wire = Wire::new(
            origin,
            WireOptions {
                prior_knowledge: cfg.http2_prior_knowledge,
                connections: cfg.connections,
                connect_timeout: cfg.connect_timeout(),
                keepalive: cfg.keepalive(),
                keepalive_timeout: cfg.keepalive_timeout(),
                max_response: MAX_RESPONSE_BYTES,
            },
        );
        Ok(FcmClient { wire, timeout: cfg.timeout(), projects })
    }

    /// The HTTP/2 link's connections and streams (all zero on the HTTP/1.1 wire).
    pub fn link_stats(&self) -> LinkStats {
        self.wire.stats()
    }

    /// Whether credentials for `project` are loaded.
    pub fn has_project(&self, project: &str) -> bool {
        self.projects.contains_key(project)
    }

    /// Project ids with credentials.
    pub fn project_names(&self) -> impl Iterator<Item = &str> {
        self.projects.keys().map(String::as_str)
    }

    /// Obtain a token for every project now, so bad credentials show at start.
    pub async fn warm_up(&self) -> Result<(), FcmError> {
        for p in self.projects.values() {
            p.auth.bearer().await?;
        }
        Ok(())
    }

    /// POST one already-encoded `messages:send` body; returns FCM's message name.
    /// A 401 (plain UNAUTHENTICATED) refreshes the token once and retries.
    pub async fn send(&self, project: &str, body: Bytes) -> Result<String, FcmError> {
        let p = self.projects.get(project).ok_or_else(|| FcmError::UnknownProject(project.to_owned()))?;
        let bearer = p.auth.bearer().await?;
        match self.post(&p.send_uri, bearer.clone(), body.clone()).await {
            Err(FcmError::Unauthenticated { .. }) => {
                let fresh = p.auth.refresh(Some(&bearer)).await?;
                self.post(&p.send_uri, fresh, body).await
            }
            other => other,
        }
    }

    /// Serialize `request` and [`send`](Self::send) it.
    pub async fn send_json<T: serde::Serialize>(&self, project: &str, request: &T) -> Result<String, FcmError> {
        let body = serde_json::to_vec(request).map_err(|e| FcmError::InvalidArgument { message: e.to_string() })?;
        self.send(project, Bytes::from(body)).await
    }

    /// One request under the whole-request timeout (headers and body).
    async fn post(&self, uri: &Uri, bearer: HeaderValue, body: Bytes) -> Result<String, FcmError> {
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(self.timeout, self.exchange(uri, bearer, body)).await.map_err(|_| FcmError::Timeout);
        crate::metrics::hot().fcm_send_duration(started.elapsed());
        result?
    }

    async fn exchange(&self, uri: &Uri, bearer: HeaderValue, body: Bytes) -> Result<String, FcmError> {
        let head = Head { uri, authorization: &bearer, content_type: &JSON, user_agent: &USER_AGENT, extra: &[] };
        let answer = self.wire.post(&head, body).await.map_err(|e| transport_error(e.as_ref()))?;
        if answer.status == StatusCode::OK {
            return Ok(message_name(&answer.body));
        }
        Err(FcmError::from_response(answer.status, &answer.headers, &answer.body))
    }
}

/// The message name of FCM's 200 answer. FCM accepted the message either way, so a body
/// without one is not a failure of the push; but it means FCM (or whatever answers at
/// `fcm.api_url`) no longer speaks the protocol we know, which an operator must see.
fn message_name(body: &[u8]) -> String {
    match serde_json::from_slice::<SendResponse>(body) {
        Ok(parsed) if !parsed.name.is_empty() => parsed.name,
        _ => {
            metrics::counter!(crate::metrics::FCM_ANOMALIES, "kind" => "no_message_name").increment(1);
            // The body's length only: whatever it holds is not ours to log.
            tracing::warn!(body_bytes = body.len(), "FCM answered 200 without a message name; counted as a protocol anomaly");
            String::new()
        }
    }
}

/// A failed exchange with FCM, with the whole error chain.
fn transport_error(e: &(dyn std::error::Error + 'static)) -> FcmError {
    FcmError::Transport(crate::logging::error_chain(e))
}
