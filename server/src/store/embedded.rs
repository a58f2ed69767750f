//! The embedded store: one redb file, so `uprelay serve` needs nothing installed.
//!
//! Every change is one redb write transaction (atomic and durable); reads are
//! MVCC snapshots served from the page cache without blocking writers, so the push
//! path reads inline while writes go to the blocking pool.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::codec;
use super::model::{AddOutcome, Device, Enqueued, QueuedMessage, Registration, Route, Store, StoreError};
use crate::ids::{DeviceId, EndpointId, MessageId};
use crate::limits::{Admission, LocalLimits, Rate};
use crate::target::Target;
use crate::webpush::VapidKey;

const DEVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("devices");
const ENDPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("endpoints");
/// Retry queue ordered by due time: key = due ms (big-endian) ‖ message id.
const QUEUE_DUE: TableDefinition<&[u8], ()> = TableDefinition::new("queue_due");
/// Retry queue messages: id → due ms (big-endian) ‖ encoded message.
const QUEUE_MSG: TableDefinition<&str, &[u8]> = TableDefinition::new("queue_msg");
/// Retry queue ordered by enqueue time (for the oldest message's age): key = enqueue ms
/// (big-endian) ‖ message id.
const QUEUE_BORN: TableDefinition<&[u8], ()> = TableDefinition::new("queue_born");
/// Enqueue time of each queued message: id → unix ms (to find its `QUEUE_BORN` key).
const QUEUE_BORN_OF: TableDefinition<&str, u64> = TableDefinition::new("queue_born_of");
/// Queued messages per device (device id → count), and each message's device: a
/// device's share of the queue, given back as its messages are completed.
const QUEUE_PER_DEVICE: TableDefinition<&str, u64> = TableDefinition::new("queue_per_device");
const QUEUE_DEVICE_OF: TableDefinition<&str, &str> = TableDefinition::new("queue_device_of");
/// The relay's own secrets by name (its VAPID key pair).
const SECRETS: TableDefinition<&str, &[u8]> = TableDefinition::new("secrets");

fn due_key(due_ms: u64, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + id.len());
    k.extend_from_slice(&due_ms.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

fn msg_value(due_ms: u64, msg: &QueuedMessage) -> Vec<u8> {
    let mut v = due_ms.to_be_bytes().to_vec();
    v.extend_from_slice(&codec::encode_queued(msg));
    v
}

/// Registrations and routes in a local redb file.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    path: std::path::PathBuf,
    limits: Arc<LocalLimits>,
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    let err = StoreError::Internal(e.to_string());
    crate::metrics::store_error(err.label());
    err
}

/// The store holds FCM tokens and endpoint ids: its directory is made 0700 and its file
/// 0600 (created so, never readable by others even for a moment; an older store's modes
/// are tightened).
fn private_file(dir: &Path, path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| anyhow::anyhow!("cannot create store directory {}: {e}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| anyhow::anyhow!("cannot make store directory {} private: {e}", dir.display()))?;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .and_then(|f| f.set_permissions(std::fs::Permissions::from_mode(0o600)))
            .map_err(|e| anyhow::anyhow!("cannot create {} private: {e}", path.display()))?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create store directory {}: {e}", dir.display()))?;
    let _ = path;
    Ok(())
}

impl EmbeddedStore {
    /// Open (or create) the store in directory `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<EmbeddedStore> {
        let path = dir.join("uprelay.redb");
        private_file(dir, &path)?;
        let db = Database::create(&path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        // Create the tables up front so readers never meet a missing table.
        let txn = db.begin_write()?;
        txn.open_table(DEVICES)?;
        txn.open_table(ENDPOINTS)?;
        txn.open_table(QUEUE_DUE)?;
        txn.open_table(QUEUE_MSG)?;
        txn.open_table(QUEUE_BORN)?;
        txn.open_table(QUEUE_BORN_OF)?;
        txn.open_table(QUEUE_PER_DEVICE)?;
        txn.open_table(QUEUE_DEVICE_OF)?;
        txn.open_table(SECRETS)?;
        txn.commit()?;
        Ok(EmbeddedStore { db: Arc::new(db), path, limits: Arc::new(LocalLimits::default()) })
    }

    /// Run a write transaction on the blocking pool.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&redb::WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().map_err(internal)?;
            let out = f(&txn)?;
            txn.commit().map_err(internal)?;
            Ok(out)
        })
        .await
        .map_err(internal)?
    }

    fn read_device(txn: &redb::WriteTransaction, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        let table = txn.open_table(DEVICES).map_err(internal)?;
        let value = table.get(id.as_str()).map_err(internal)?;
        value.map(|v| codec::decode_device(id, v.value())).transpose()
    }

    fn write_device(txn: &redb::WriteTransaction, device: &Device) -> Result<(), StoreError> {
        let mut table = txn.open_table(DEVICES).map_err(internal)?;
        table.insert(device.id.as_str(), codec::encode_device(device).as_slice()).map_err(internal)?;
        Ok(())
    }

    fn write_route(txn: &redb::WriteTransaction, device: &Device, reg: &Registration) -> Result<(), StoreError> {
        let route = Route {
            device: device.id.clone(),
            instance: reg.instance.clone(),
            vapid: reg.vapid.clone(),
            project: device.project.clone(),
            target: device.target.clone(),
        };
        let mut table = txn.open_table(ENDPOINTS).map_err(internal)?;
        table.insert(reg.endpoint.as_str(), codec::encode_route(&route).as_slice()).map_err(internal)?;
        Ok(())
    }

    fn remove_device(txn: &redb::WriteTransaction, device: &Device) -> Result<(), StoreError> {
        let mut endpoints = txn.open_table(ENDPOINTS).map_err(internal)?;
        for reg in &device.registrations {
            endpoints.remove(reg.endpoint.as_str()).map_err(internal)?;
        }
        let mut devices = txn.open_table(DEVICES).map_err(internal)?;
        devices.remove(device.id.as_str()).map_err(internal)?;
        Ok(())
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn create_device(&self, device: &Device) -> Result<(), StoreError> {
        let device = device.clone();
        self.write(move |txn| Self::write_device(txn, &device)).await
    }

    async fn device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        let txn = self.db.begin_read().map_err(internal)?;
        let table = txn.open_table(DEVICES).map_err(internal)?;
        let value = table.get(id.as_str()).map_err(internal)?;
        value.map(|v| codec::decode_device(id, v.value())).transpose()
    }

    async fn set_target(&self, id: &DeviceId, target: &Target) -> Result<bool, StoreError> {
        let (id, target) = (id.clone(), target.clone());
        self.write(move |txn| {
            let Some(mut device) = Self::read_device(txn, &id)? else { return Ok(false) };
            device.target = target;
            for reg in &device.registrations {
                Self::write_route(txn, &device, reg)?;
            }
            Self::write_device(txn, &device)?;
            Ok(true)
        })
        .await
    }

    async fn delete_device(&self, id: &DeviceId) -> Result<bool, StoreError> {
        let id = id.clone();
        self.write(move |txn| {
            let Some(device) = Self::read_device(txn, &id)? else { return Ok(false) };
            Self::remove_device(txn, &device)?;
            Ok(true)
        })
        .await
    }

    async fn delete_device_if_target(&self, id: &DeviceId, target: &Target) -> Result<bool, StoreError> {
        let (id, target) = (id.clone(), target.clone());
        self.write(move |txn| {
            let Some(device) = Self::read_device(txn, &id)? else { return Ok(false) };
            if device.target != target {
                return Ok(false);
            }
            Self::remove_device(txn, &device)?;
            Ok(true)
        })
        .await
    }

    async fn add_registration(
        &self,
        id: &DeviceId,
        instance: &str,
        vapid: Option<&VapidKey>,
        limit: usize,
    ) -> Result<AddOutcome, StoreError> {
        let (id, instance, vapid) = (id.clone(), instance.to_owned(), vapid.cloned());
        self.write(move |txn| {
            let Some(mut device) = Self::read_device(txn, &id)? else { return Ok(AddOutcome::UnknownDevice) };
            let existing = device.registrations.iter().position(|r| r.instance == instance);
            if let Some(i) = existing {
                if device.registrations[i].vapid == vapid {
                    return Ok(AddOutcome::Existing(device.registrations[i].endpoint.clone()));
                }
                // A new key means a new restriction: the old endpoint must stop working.
                let old = device.registrations.remove(i);
                txn.open_table(ENDPOINTS).map_err(internal)?.remove(old.endpoint.as_str()).map_err(internal)?;
            } else if device.registrations.len() >= limit {
                return Ok(AddOutcome::LimitReached);
            }
            let reg = Registration { instance, endpoint: EndpointId::generate(), vapid };
            Self::write_route(txn, &device, &reg)?;
            let endpoint = reg.endpoint.clone();
            device.registrations.push(reg);
            Self::write_device(txn, &device)?;
            Ok(AddOutcome::Created(endpoint))
        })
        .await
    }

    async fn delete_registration(&self, id: &DeviceId, instance: &str) -> Result<bool, StoreError> {
        let (id, instance) = (id.clone(), instance.to_owned());
        self.write(move |txn| {
            let Some(mut device) = Self::read_device(txn, &id)? else { return Ok(false) };
            let Some(i) = device.registrations.iter().position(|r| r.instance == instance) else {
                return Ok(false);
            };
            let old = device.registrations.remove(i);
            txn.open_table(ENDPOINTS).map_err(internal)?.remove(old.endpoint.as_str()).map_err(internal)?;
            Self::write_device(txn, &device)?;
            Ok(true)
        })
        .await
    }

    async fn route(&self, endpoint: &EndpointId) -> Result<Option<Route>, StoreError> {
        let txn = self.db.begin_read().map_err(internal)?;
        let table = txn.open_table(ENDPOINTS).map_err(internal)?;
        let value = table.get(endpoint.as_str()).map_err(internal)?;
        value.map(|v| codec::decode_route(v.value())).transpose()
    }

    async fn route_admit(&self, endpoint: &EndpointId, rate: Option<&Rate>, now_ms: u64) -> Result<Option<(Route, Admission)>, StoreError> {
        let _timer = crate::metrics::hot().store_timer();
        let Some(route) = self.route(endpoint).await? else { return Ok(None) };
        if route.vapid.is_some() && rate.is_some() {
            // Charged by admit_endpoint once the sender is verified.
            return Ok(Some((route, Admission::Allowed)));
        }
        Ok(Some((route, self.limits.admit_or_check(endpoint.as_str(), rate, now_ms))))
    }

    async fn admit_endpoint(&self, endpoint: &EndpointId, rate: &Rate, now_ms: u64) -> Result<Admission, StoreError> {
        Ok(self.limits.admit(endpoint.as_str(), rate, now_ms))
    }

    async fn hold_endpoint(&self, endpoint: &EndpointId, now_ms: u64, hold_ms: u64, rate: Option<&Rate>) -> Result<(), StoreError> {
        self.limits.hold(endpoint.as_str(), now_ms + hold_ms, rate);
        Ok(())
    }

    async fn admit(&self, key: &str, rate: &Rate, now_ms: u64) -> Result<Admission, StoreError> {
        Ok(self.limits.admit(key, rate, now_ms))
    }

    async fn enqueue(
        &self,
        msg: &QueuedMessage,
        device: &DeviceId,
        due_ms: u64,
        max_len: u64,
        max_per_device: u64,
    ) -> Result<Enqueued, StoreError> {
        let (msg, device) = (msg.clone(), device.clone());
        self.write(move |txn| {
            let mut msgs = txn.open_table(QUEUE_MSG).map_err(internal)?;
            if msgs.len().map_err(internal)? >= max_len {
                return Ok(Enqueued::QueueFull);
            }
            let mut per_device = txn.open_table(QUEUE_PER_DEVICE).map_err(internal)?;
            let held = per_device.get(device.as_str()).map_err(internal)?.map(|v| v.value()).unwrap_or(0);
            if held >= max_per_device {
                return Ok(Enqueued::DeviceFull);
            }
            per_device.insert(device.as_str(), held + 1).map_err(internal)?;
            let id = msg.id.as_str();
            txn.open_table(QUEUE_DEVICE_OF).map_err(internal)?.insert(id, device.as_str()).map_err(internal)?;
            msgs.insert(id, msg_value(due_ms, &msg).as_slice()).map_err(internal)?;
            txn.open_table(QUEUE_DUE).map_err(internal)?.insert(due_key(due_ms, id).as_slice(), ()).map_err(internal)?;
            let born = crate::clock::unix_ms();
            txn.open_table(QUEUE_BORN).map_err(internal)?.insert(due_key(born, id).as_slice(), ()).map_err(internal)?;
            txn.open_table(QUEUE_BORN_OF).map_err(internal)?.insert(id, born).map_err(internal)?;
            Ok(Enqueued::Kept)
        })
        .await
    }

    async fn lease(&self, now_ms: u64, lease_ms: u64, max: usize) -> Result<Vec<QueuedMessage>, StoreError> {
        // Cheap read first: the worker polls, and an empty queue must not cost a write.
        {
            let txn = self.db.begin_read().map_err(internal)?;
            let due = txn.open_table(QUEUE_DUE).map_err(internal)?;
            let first = due.first().map_err(internal)?;
            match first {
                Some((k, _)) if k.value().get(..8).map(|b| u64::from_be_bytes(b.try_into().unwrap())).unwrap_or(0) <= now_ms => {}
                _ => return Ok(Vec::new()),
            }
        }
        self.write(move |txn| {
            let mut due = txn.open_table(QUEUE_DUE).map_err(internal)?;
            let mut msgs = txn.open_table(QUEUE_MSG).map_err(internal)?;
            let upper = due_key(now_ms + 1, "");
            let keys: Vec<Vec<u8>> = due
                .range::<&[u8]>(..upper.as_slice())
                .map_err(internal)?
                .take(max)
                .map(|r| r.map(|(k, _)| k.value().to_vec()).map_err(internal))
                .collect::<Result<_, _>>()?;
            let until = now_ms + lease_ms;
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                due.remove(k.as_slice()).map_err(internal)?;
                let id = std::str::from_utf8(&k[8..]).map_err(internal)?.to_owned();
                let value = msgs.get(id.as_str()).map_err(internal)?.map(|v| v.value().to_vec());
                let Some(value) = value else { continue };
                let msg = codec::decode_queued(&value[8..])?;
                msgs.insert(id.as_str(), msg_value(until, &msg).as_slice()).map_err(internal)?;
                due.insert(due_key(until, &id).as_slice(), ()).map_err(internal)?;
                out.push(msg);
            }
            Ok(out)
        })
        .await
    }

    async fn complete(&self, id: &MessageId) -> Result<bool, StoreError> {
        let id = id.clone();
        self.write(move |txn| {
            let mut msgs = txn.open_table(QUEUE_MSG).map_err(internal)?;
            let old = msgs.remove(id.as_str()).map_err(internal)?.map(|v| v.value().to_vec());
            let born = txn.open_table(QUEUE_BORN_OF).map_err(internal)?.remove(id.as_str()).map_err(internal)?.map(|v| v.value());
            if let Some(born) = born {
                txn.open_table(QUEUE_BORN).map_err(internal)?.remove(due_key(born, id.as_str()).as_slice()).map_err(internal)?;
            }
            // Its device's share back (messages queued before shares were counted have none).
            let device =
                txn.open_table(QUEUE_DEVICE_OF).map_err(internal)?.remove(id.as_str()).map_err(internal)?.map(|v| v.value().to_owned());
            if let Some(device) = device {
                let mut per_device = txn.open_table(QUEUE_PER_DEVICE).map_err(internal)?;
                let held = per_device.get(device.as_str()).map_err(internal)?.map(|v| v.value()).unwrap_or(0);
                if held <= 1 {
                    per_device.remove(device.as_str()).map_err(internal)?;
                } else {
                    per_device.insert(device.as_str(), held - 1).map_err(internal)?;
                }
            }
            let Some(old) = old else { return Ok(false) };
            let due_ms = u64::from_be_bytes(old[..8].try_into().map_err(internal)?);
            txn.open_table(QUEUE_DUE).map_err(internal)?.remove(due_key(due_ms, id.as_str()).as_slice()).map_err(internal)?;
            Ok(true)
        })
        .await
    }

    async fn reschedule(&self, msg: &QueuedMessage, due_ms: u64) -> Result<(), StoreError> {
        let msg = msg.clone();
        self.write(move |txn| {
            let mut msgs = txn.open_table(QUEUE_MSG).map_err(internal)?;
            let id = msg.id.as_str();
            let old = msgs.get(id).map_err(internal)?.map(|v| v.value().to_vec());
            // Completed by someone else meanwhile: nothing to put back.
            let Some(old) = old else { return Ok(()) };
            let old_due = u64::from_be_bytes(old[..8].try_into().map_err(internal)?);
            let mut due = txn.open_table(QUEUE_DUE).map_err(internal)?;
            due.remove(due_key(old_due, id).as_slice()).map_err(internal)?;
            due.insert(due_key(due_ms, id).as_slice(), ()).map_err(internal)?;
            msgs.insert(id, msg_value(due_ms, &msg).as_slice()).map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn queue_len(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(internal)?;
        let msgs = txn.open_table(QUEUE_MSG).map_err(internal)?;
        msgs.len().map_err(internal)
    }

    async fn queue_oldest_ms(&self) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read().map_err(internal)?;
        let born = txn.open_table(QUEUE_BORN).map_err(internal)?;
        let first = born.first().map_err(internal)?;
        Ok(first.and_then(|(k, _)| Some(u64::from_be_bytes(k.value().get(..8)?.try_into().ok()?))))
    }

    async fn secret_or_init(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (name, fresh) = (name.to_owned(), fresh.to_vec());
        self.write(move |txn| {
            let mut table = txn.open_table(SECRETS).map_err(internal)?;
            if let Some(kept) = table.get(name.as_str()).map_err(internal)? {
                return Ok(kept.value().to_vec());
            }
            table.insert(name.as_str(), fresh.as_slice()).map_err(internal)?;
            Ok(fresh)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.begin_read().map(|_| ()).map_err(internal)
    }

    fn describe(&self) -> String {
        format!("embedded store at {}", self.path.display())
    }
}
