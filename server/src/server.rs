//! `uprelay serve`: assemble store, FCM client, relay and routers from a [`Config`],
//! then serve until SIGTERM/ctrl-c, draining in-flight requests.

use std::sync::Arc;

use anyhow::Context;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::fcm::FcmClient;
use crate::relay::{Courier, Relay, RelayOptions, Worker};

/// Run the server with `config` until a shutdown signal.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("listen: cannot bind {}", config.listen))?;
    let limits = config.limits.clone();
    let server = build(config).await?;
    crate::listener::serve(listener, server.http.clone(), &limits, shutdown_signal()).await;
    // In-flight requests are done; queued messages stay in the store for the next start.
    server.stop_worker().await;
    tracing::info!("stopped");
    Ok(())
}

/// Build the server (store opened, credentials loaded, sandbox emulator started if
/// needed, retry worker running).
pub async fn build(config: Config) -> anyhow::Result<Server> {
    let metrics = crate::metrics::install();
    let store = crate::store::open(&config.store).await?;
    tracing::info!(store = %store.describe(), "store ready");

    let mut fcm_config = config.fcm.clone();
    let accounts = if config.sandbox_mode() {
        let (_emulator, addr, account) = crate::emulator::spawn(config.sandbox.emulator_listen, &config.sandbox.project).await?;
        fcm_config.api_url = format!("http://{addr}");
        // The built-in emulator speaks h2c: sandbox sends take the same HTTP/2 path as FCM's.
        fcm_config.http2_prior_knowledge = true;
        tracing::info!(
            "sandbox mode: no [[fcm.projects]] configured, delivering to the built-in FCM emulator; \
             see what your pushes become at http://{addr}/emulator/messages"
        );
        let key = yup_oauth2::parse_service_account_key(account.to_string()).context("sandbox emulator wrote unusable credentials")?;
        vec![(config.sandbox.project.clone(), key)]
    } else {
        let mut accounts = Vec::new();
        for (i, p) in config.fcm.projects.iter().enumerate() {
            let key = yup_oauth2::read_service_account_key(&p.credentials)
                .await
                .with_context(|| format!("fcm.projects[{i}].credentials: {} is not a service-account JSON", p.credentials.display()))?;
            accounts.push((p.name.clone(), key));
        }
        accounts
    };
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
    let courier = Arc::new(Courier::new(
        store.clone(),
        fcm.clone(),
        config.fcm.high_priority_from,
        push_rate,
        q.breaker_threshold,
        q.breaker_cooldown_ms,
    ));
    let relay = Arc::new(Relay::new(store.clone(), courier.clone(), &config.public_base(), RelayOptions { push_rate, queue: q.clone() }));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = q.enabled.then(|| tokio::spawn(Worker::new(store.clone(), courier, q.clone()).run(stop_rx)));
    tracing::info!(listen = %config.listen, public_url = %config.public_base(), "uprelay serving");
    let state = AppState::new(config, default_project, store, fcm, relay, metrics);
    Ok(Server { http: api::Http::new(state), stop_worker: stop_tx, worker })
}

/// A built server: its router and its background retry worker.
pub struct Server {
    /// The HTTP surface.
    pub http: api::Http,
    stop_worker: tokio::sync::watch::Sender<bool>,
    worker: Option<tokio::task::JoinHandle<()>>,
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
