//! Where registrations live: `trait Store`, with a Redis implementation for operators
//! and an embedded (redb) one that needs nothing installed.
//!
//! The push path needs exactly one read ([`Store::route`]) that yields everything a push
//! needs (device, instance, VAPID key, project, target). App servers of different apps
//! must not be able to link two endpoints to one phone, so endpoint ids never show the
//! device: the embedded store hands out independent random ids with a record each, the
//! Redis store seals the device id and a random tag under the relay's key (see
//! `sealed`), which lets the target live once, in the device's record.

mod codec;
mod embedded;
mod model;
mod redis;
mod sealed;
mod settings;

pub use self::embedded::EmbeddedStore;
pub use self::model::{AddOutcome, Device, Enqueued, QueuedMessage, Registration, Route, Store, StoreError};
pub use self::redis::{RedisStore, RECOMMENDED_LISTPACK_VALUE};
pub use self::settings::StoreConfig;

/// Open the store the configuration asks for.
pub async fn open(cfg: &StoreConfig) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    if let Some(url) = &cfg.redis_url {
        Ok(std::sync::Arc::new(RedisStore::connect(url).await?))
    } else if !cfg.redis_cluster.is_empty() {
        Ok(std::sync::Arc::new(RedisStore::connect_cluster(&cfg.redis_cluster).await?))
    } else {
        Ok(std::sync::Arc::new(EmbeddedStore::open(&cfg.path)?))
    }
}
