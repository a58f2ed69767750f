//! The one FCM client: a pooled reqwest client (HTTP/2 where FCM offers it) and an
//! OAuth token cache per Firebase project.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use bytes::Bytes;
use serde::Deserialize;
use yup_oauth2::ServiceAccountKey;

use super::{FcmError, ProjectAuth};
use crate::config::FcmConfig;

struct Project {
    /// Parsed once: reqwest would otherwise run the URL parser on every send.
    send_url: reqwest::Url,
    auth: Arc<ProjectAuth>,
}

/// Sends FCM HTTP v1 messages for one or more Firebase projects.
pub struct FcmClient {
    http: reqwest::Client,
    projects: HashMap<String, Project>,
}

#[derive(Deserialize)]
struct SendResponse {
    #[serde(default)]
    name: String,
}

impl FcmClient {
    /// Build the client for the given (project id, service account) pairs.
    pub async fn new(cfg: &FcmConfig, accounts: Vec<(String, ServiceAccountKey)>) -> Result<FcmClient, FcmError> {
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.timeout())
            .connect_timeout(cfg.connect_timeout())
            .pool_idle_timeout(std::time::Duration::from_secs(90))
            .tcp_nodelay(true)
            .user_agent(concat!("uprelay/", env!("CARGO_PKG_VERSION")));
        if cfg.http2_prior_knowledge {
            builder = builder.http2_prior_knowledge();
        }
        let http = builder.build().map_err(|e| FcmError::Transport(e.to_string()))?;
        let base = cfg.api_url.trim_end_matches('/');
        let mut projects = HashMap::new();
        for (name, key) in accounts {
            let auth = ProjectAuth::new(&name, key).await?;
            let send_url = reqwest::Url::parse(&format!("{base}/v1/projects/{name}/messages:send"))
                .map_err(|e| FcmError::Transport(format!("fcm.api_url: {e}")))?;
            projects.insert(name, Project { send_url, auth });
        }
        Ok(FcmClient { http, projects })
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
        match self.post(&p.send_url, bearer.clone(), body.clone()).await {
            Err(FcmError::Unauthenticated { .. }) => {
                let fresh = p.auth.refresh(Some(&bearer)).await?;
                self.post(&p.send_url, fresh, body).await
            }
            other => other,
        }
    }

    /// Serialize `request` and [`send`](Self::send) it.
    pub async fn send_json<T: serde::Serialize>(&self, project: &str, request: &T) -> Result<String, FcmError> {
        let body = serde_json::to_vec(request).map_err(|e| FcmError::InvalidArgument { message: e.to_string() })?;
        self.send(project, Bytes::from(body)).await
    }

    async fn post(&self, url: &reqwest::Url, bearer: HeaderValue, body: Bytes) -> Result<String, FcmError> {
        let response = self
            .http
            .post(url.clone())
            .header(header::AUTHORIZATION, bearer)
            .header(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if status == StatusCode::OK {
            let bytes = response.bytes().await.map_err(transport_error)?;
            let parsed: SendResponse = serde_json::from_slice(&bytes).unwrap_or(SendResponse { name: String::new() });
            return Ok(parsed.name);
        }
        // Headers are only needed (for Retry-After) on the error path.
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(transport_error)?;
        Err(FcmError::from_response(status, &headers, &bytes))
    }
}

fn transport_error(e: reqwest::Error) -> FcmError {
    if e.is_timeout() {
        FcmError::Timeout
    } else {
        // Include the source chain: reqwest's own message is often just "error sending request".
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        FcmError::Transport(msg)
    }
}
