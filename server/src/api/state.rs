//! The state every handler shares: configuration, store, FCM client, relay and the
//! metrics handle.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::fcm::FcmClient;
use crate::gateway::Gateway;
use crate::limits::TrustedProxies;
use crate::relay::Relay;
use crate::road::webpush::WebPushRoad;
use crate::store::Store;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) config: Config,
    pub(super) public_base: String,
    pub(super) default_project: String,
    pub(super) store: Arc<dyn Store>,
    pub(super) fcm: Arc<FcmClient>,
    pub(super) relay: Arc<Relay>,
    pub(super) gateway: Gateway,
    /// The Web Push road, when offered.
    pub(super) webpush: Option<Arc<WebPushRoad>>,
    pub(super) metrics: PrometheusHandle,
    /// `limits.trusted_proxies`, parsed once.
    pub(super) proxies: TrustedProxies,
}

impl AppState {
    /// Assemble the state from its parts.
    pub fn new(
        config: Config,
        default_project: String,
        store: Arc<dyn Store>,
        fcm: Arc<FcmClient>,
        relay: Arc<Relay>,
        gateway: Gateway,
        webpush: Option<Arc<WebPushRoad>>,
        metrics: PrometheusHandle,
    ) -> AppState {
        let public_base = config.public_base();
        let proxies = config.limits.trusted_proxies();
        AppState { inner: Arc::new(Inner { config, public_base, default_project, store, fcm, relay, gateway, webpush, metrics, proxies }) }
    }
}
