//! OAuth2 access tokens for one Firebase project (yup-oauth2 service-account flow),
//! cached so the send path only clones a header value: refreshed in the background
//! well before expiry, and on demand after FCM answers 401.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use uprelay_emulator::wire::FCM_SCOPE;
use yup_oauth2::authenticator::DefaultAuthenticator;
use yup_oauth2::ServiceAccountKey;

use super::error::FcmError;

/// Start a background refresh when less than this remains.
const REFRESH_AHEAD: Duration = Duration::from_secs(300);
/// Below this, wait for a fresh token instead of using the old one.
const MIN_REMAINING: Duration = Duration::from_secs(30);

struct Cached {
    header: HeaderValue,
    expires: Instant,
}

/// Access tokens for one service account.
pub struct ProjectAuth {
    project: String,
    authenticator: DefaultAuthenticator,
    cached: RwLock<Option<Cached>>,
    refreshing: AtomicBool,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl ProjectAuth {
    /// Build the authenticator for `key` (no network traffic yet).
    pub async fn new(project: &str, key: ServiceAccountKey) -> Result<Arc<ProjectAuth>, FcmError> {
        let authenticator = yup_oauth2::ServiceAccountAuthenticator::builder(key)
            .build()
            .await
            .map_err(|e| FcmError::Auth(format!("project {project}: {e}")))?;
        Ok(Arc::new(ProjectAuth {
            project: project.to_owned(),
            authenticator,
            cached: RwLock::new(None),
            refreshing: AtomicBool::new(false),
            refresh_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// `Bearer <token>` for the next request.
    pub async fn bearer(self: &Arc<Self>) -> Result<HeaderValue, FcmError> {
        let now = Instant::now();
        let current = {
            let cached = self.cached.read().unwrap();
            cached.as_ref().map(|c| (c.header.clone(), c.expires.saturating_duration_since(now)))
        };
        match current {
            Some((header, left)) if left > REFRESH_AHEAD => Ok(header),
            Some((header, left)) if left > MIN_REMAINING => {
                if !self.refreshing.swap(true, Ordering::AcqRel) {
                    let me = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = me.refresh(None).await {
                            tracing::warn!(project = %me.project, error = %e, "background OAuth refresh failed");
                        }
                        me.refreshing.store(false, Ordering::Release);
                    });
                }
                Ok(header)
            }
            _ => self.refresh(None).await,
        }
    }

    /// Fetch a new token. With `rejected` (the header FCM just answered 401 to), a
    /// token that another task already replaced is not fetched again, so a burst of
    /// 401s costs one token request.
    pub async fn refresh(&self, rejected: Option<&HeaderValue>) -> Result<HeaderValue, FcmError> {
        let _guard = self.refresh_lock.lock().await;
        let had_token = {
            let cached = self.cached.read().unwrap();
            if let Some(c) = cached.as_ref() {
                let fresh = c.expires.saturating_duration_since(Instant::now()) > REFRESH_AHEAD;
                match rejected {
                    Some(r) if c.header != r => return Ok(c.header.clone()),
                    None if fresh => return Ok(c.header.clone()),
                    _ => {}
                }
            }
            cached.is_some()
        };
        // yup-oauth2 hands back its own cached token until a minute before expiry;
        // replacing one we already have (ahead of time, or after a 401) needs force.
        let force = had_token;
        let scopes = [FCM_SCOPE];
        let token = if force { self.authenticator.force_refreshed_token(&scopes).await } else { self.authenticator.token(&scopes).await };
        crate::metrics::oauth_refresh(token.is_ok());
        let token = token.map_err(|e| FcmError::Auth(format!("project {}: {e}", self.project)))?;
        let text = token.token().ok_or_else(|| FcmError::Auth("token endpoint returned no access_token".into()))?;
        let mut header = HeaderValue::from_str(&format!("Bearer {text}"))
            .map_err(|_| FcmError::Auth("access token is not a valid header value".into()))?;
        // Never HPACK-indexed, and `Debug` shows `Sensitive` rather than the token.
        header.set_sensitive(true);
        let lifetime = token
            .expiration_time()
            .map(|t| {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
                Duration::from_secs((t.unix_timestamp() - now).max(0) as u64)
            })
            .unwrap_or(Duration::from_secs(3600));
        *self.cached.write().unwrap() = Some(Cached { header: header.clone(), expires: Instant::now() + lifetime });
        tracing::debug!(project = %self.project, lifetime_s = lifetime.as_secs(), "obtained OAuth access token");
        Ok(header)
    }
}
