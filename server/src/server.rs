//! `uprelay serve`: assemble store, FCM client, relay and routers from a [`Config`],
//! then serve until SIGTERM/ctrl-c, draining in-flight requests.

use std::sync::Arc;

use anyhow::Context;

use crate::api::{self, AppState};
use crate::config::error::ConfigError;
use crate::config::Config;
use crate::fcm::{FcmClient, FcmError, ServiceAccountKey};
use crate::gateway::Gateway;
use crate::relay::{Courier, Relay, RelayOptions, Worker};
use crate::road::fcm::FcmRoad;
use crate::road::webpush::{Identity, WebPushRoad};
use crate::road::Roads;
use crate::store::Store;

/// The service accounts of the configured Firebase projects (none in sandbox mode), each
/// read through the FCM client's one parser. A bad file is a configuration error naming
/// its key, like any other, so `check-config` and `serve` refuse it before starting.
pub fn project_accounts(config: &Config) -> Result<Vec<(String, ServiceAccountKey)>, ConfigError> {
    config
        .fcm
        .projects
        .iter()
        .enumerate()
        .map(|(i, p)| {
            crate::fcm::read_service_account(&p.credentials).map(|key| (p.name.clone(), key)).map_err(|e| {
                let message = match e {
                    FcmError::Auth(m) => m,
                    other => other.to_string(),
                };
                ConfigError::new(format!("fcm.projects[{i}].credentials"), message)
            })
        })
        .collect()
}

/// Run the server with `config` and the `accounts` of its projects until a shutdown signal.
pub async fn serve(config: Config, accounts: Vec<(String, ServiceAccountKey)>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("listen: cannot bind {}", config.listen))?;
    let limits = config.limits.clone();
    let server = build(config, accounts).await?;
    crate::listener::serve(listener, server.http.clone(), &limits, shutdown_signal()).await;
    // In-flight requests are done; queued messages stay in the store for the next start.
    server.stop_worker().await;
    tracing::info!("stopped");
    Ok(())
}

/// Build the server (store opened, sandbox emulator started if no project is configured,
/// retry worker running).
pub async fn build(config: Config, accounts: Vec<(String, ServiceAccountKey)>) -> anyhow::Result<Server> {
    let metrics = crate::metrics::install();
    let store = crate::store::open(&config.store).await?;
    tracing::info!(store = %store.describe(), "store ready");

    let mut fcm_config = config.fcm.clone();
    let mut sandbox = None;
    let accounts = if config.sandbox_mode() {
        let emulator = uprelay_emulator::start(config.sandbox.emulator_listen, &config.sandbox.project).await?;
        let addr = emulator.addr();
        fcm_config.api_url = format!("http://{addr}");
        // The built-in emulator speaks h2c: sandbox sends take the same HTTP/2 path as FCM's.
        fcm_config.http2_prior_knowledge = true;
        tracing::info!(
            "sandbox mode: no [[fcm.projects]] configured, delivering to the built-in FCM emulator; \
             see what your pushes become at http://{addr}/"
        );
        let key = crate::fcm::service_account_from_json(&emulator.credentials().to_string())
            .context("sandbox emulator wrote unusable credentials")?;
        sandbox = Some(emulator);
        vec![(config.sandbox.project.clone(), key)]
    } else {
        accounts
    };
    let webpush = web_push_road(&config, store.as_ref(), sandbox.as_ref().map(|e| format!("http://{}", e.addr()))).await?;
    let default_project =
        config.fcm.default_project.clone().unwrap_or_else(|| accounts.first().map(|(name, _)| name.clone()).unwrap_or_default());
    let fcm = Arc::new(FcmClient::new(&fcm_config, accounts).await.context("FCM client")?);
    match fcm.warm_up().await {
        Ok(()) => tracing::info!(projects = ?fcm.project_names().collect::<Vec<_>>(), "FCM credentials work"),
        // Not fatal: Google may be briefly unreachable; /readyz reports it.
        Err(e) => tracing::warn!(error = %e, "could not obtain an FCM access token yet"),
    }

    let push_rate = config.limits.push_rate();
    let q = &config.queue;
    let roads = Roads::new(FcmRoad::new(fcm.clone(), config.fcm.high_priority_from), webpush.clone());
    let courier = Arc::new(Courier::new(store.clone(), roads, push_rate, q.breaker_threshold, q.breaker_cooldown_ms));
    let relay = Arc::new(Relay::new(store.clone(), courier.clone(), &config.public_base(), RelayOptions { push_rate, queue: q.clone() }));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = q.enabled.then(|| tokio::spawn(Worker::new(store.clone(), courier, q.clone()).run(stop_rx)));
    tracing::info!(listen = %config.listen, public_url = %config.public_base(), "uprelay serving");
    let gateway = Gateway::new(relay.clone(), &config.public_base(), &config.matrix, config.max_ttl)?;
    let state = AppState::new(config, default_project, store, fcm, relay, gateway, webpush, metrics);
    Ok(Server { http: api::Http::new(state), stop_worker: stop_tx, worker, _sandbox: sandbox })
}

/// The Web Push road when `[webpush]` offers it: the relay's VAPID identity (from the key
/// file, else the store), to `webpush.api_url`, else the sandbox emulator, else Google.
async fn web_push_road(config: &Config, store: &dyn Store, sandbox_emulator: Option<String>) -> anyhow::Result<Option<Arc<WebPushRoad>>> {
    let settings = &config.webpush;
    if !settings.enabled {
        return Ok(None);
    }
    let identity = match &settings.key_file {
        Some(path) => Identity::from_file(path).context("webpush.key_file")?,
        None => Identity::from_store(store).await?,
    };
    let api_url = settings.service_url(sandbox_emulator.as_deref());
    let mut settings = settings.clone();
    if settings.api_url.is_none() && sandbox_emulator.is_some() {
        // The built-in emulator speaks h2c: the road takes the same HTTP/2 path as to Google.
        settings.http2_prior_knowledge = true;
    }
    let subject = settings.subject.clone().unwrap_or_else(|| config.public_base());
    if sandbox_emulator.is_none() && !(subject.starts_with("mailto:") || subject.starts_with("https://")) {
        // RFC 8292 asks for a contact the push service's operators can reach.
        tracing::warn!(%subject, "the VAPID subject is not a mailto: or https: contact; set webpush.subject (or an https public_url)");
    }
    let road = WebPushRoad::new(&settings, &api_url, Arc::new(identity), subject)?;
    tracing::info!(service = %api_url, vapid = %road.vapid_public_key(), "Web Push road ready");
    Ok(Some(Arc::new(road)))
}

/// A built server: its router, its background retry worker, and in sandbox mode the
/// in-process FCM emulator.
pub struct Server {
    /// The HTTP surface.
    pub http: api::Http,
    stop_worker: tokio::sync::watch::Sender<bool>,
    worker: Option<tokio::task::JoinHandle<()>>,
    /// Held for as long as the server lives: dropping it stops the emulator.
    _sandbox: Option<uprelay_emulator::Running>,
}

impl Server {
    /// Stop the retry worker and wait for its current batch.
    pub async fn stop_worker(self) {
        let _ = self.stop_worker.send(true);
        if let Some(w) = self.worker {
            let _ = w.await;
        }
    }
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; draining in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with_credentials(path: &std::path::Path) -> Config {
        let mut c = Config::default();
        c.fcm.projects.push(crate::fcm::ProjectConfig { name: "p".into(), credentials: path.to_owned(), sender_id: None });
        c
    }

    #[test]
    fn missing_credentials_file_is_named() {
        let e = project_accounts(&config_with_credentials(std::path::Path::new("/nonexistent/sa.json"))).unwrap_err();
        assert_eq!(e.key, "fcm.projects[0].credentials");
        assert!(e.message.contains("/nonexistent/sa.json"), "{e}");
    }

    #[test]
    fn credentials_must_be_a_service_account_with_an_rsa_key() {
        let dir = std::env::temp_dir().join(format!("uprelay-sa-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let sa = dir.join("sa.json");
        for (content, says) in [
            ("{}".to_string(), "service-account"),
            (
                serde_json::json!({"type": "service_account", "project_id": "p", "private_key_id": "k",
                    "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                    "client_email": "a@p.iam.gserviceaccount.com", "client_id": "1",
                    "token_uri": "https://oauth2.googleapis.com/token"})
                .to_string(),
                "RSA",
            ),
        ] {
            std::fs::write(&sa, content).unwrap();
            let e = project_accounts(&config_with_credentials(&sa)).unwrap_err();
            assert_eq!(e.key, "fcm.projects[0].credentials", "{e}");
            assert!(e.message.contains(says), "{e}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
