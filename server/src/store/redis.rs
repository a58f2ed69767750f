//! Redis (standalone or Cluster) store.
//!
//! Layout — devices live in 65,536 *buckets*, small hashes that Redis keeps as compact
//! listpacks (the per-key overhead of one key per device was most of the memory):
//! - `up:b:{<4 hex>}` → bucket hash of the devices whose id starts with those two bytes:
//!   - field `<device, 16 bytes>` → secret hash, project number, target: an FCM token, a
//!     FID or a Web Push subscription ([`codec::encode_device_head`]; stored once per
//!     device, packed);
//!   - field `<device, 16 bytes><tag, 20 bytes>` → one registration: VAPID flag (+ key)
//!     and instance ([`codec::encode_tagged_registration`]).
//!
//!   Endpoint ids are *sealed* (see [`super::sealed`]): they carry the device id and the
//!   tag encrypted under the relay's key, so a push reads both fields with one `HMGET`;
//! - `up:rl:{<4 hex>}:<device and tag, base64url>` → the endpoint's rate limiter, in its
//!   bucket's hash slot, so one script reads the route and charges the limiter;
//! - `up:rl:<name>` → other limiters (device creation per client IP);
//! - `up:projects` → the project table: `n:<name>` → number, `i:<number>` → name
//!   (device heads hold the one-byte number instead of the name);
//! - `{up:q}:due` (sorted set, score = due ms), `{up:q}:msg` (hash) and `{up:q}:born`
//!   (sorted set, score = enqueue ms, for the age of the oldest message) → the retry queue,
//!   sharing one hash slot so every queue operation is a single-slot script;
//! - `up:sealing-key` → the 32 random bytes every instance seals endpoint ids with,
//!   created by the first instance that starts;
//! - `up:secret:<name>` → the relay's other secrets (its VAPID key pair), likewise.
//!
//! Every device operation touches one bucket (plus its limiter, same slot), so each is a
//! single atomic step, in a Cluster too. A bucket stays a listpack while its fields fit
//! `hash-max-listpack-entries` (one per device plus one per registration; Redis' default
//! of 512 lasts to roughly 10 M devices per relay) and each value fits `hash-max-listpack-value`
//! ([`RECOMMENDED_LISTPACK_VALUE`]); past either, Redis converts that bucket to a hash
//! table: more memory, same behaviour.

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script, Value};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use super::codec;
use super::model::{AddOutcome, Device, Enqueued, QueuedMessage, Registration, Route, Store, StoreError};
use super::sealed::{Sealer, Tag, TAG_LEN};
use crate::ids::{DeviceId, EndpointId, MessageId, RawDeviceId};
use crate::limits::{limiter_params, Admission, Rate};
use crate::target::Target;
use crate::webpush::VapidKey;

/// The hash tag of a device's bucket: its first two bytes in hex.
fn bucket_tag(dev: &RawDeviceId) -> [u8; 4] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [HEX[(dev[0] >> 4) as usize], HEX[(dev[0] & 15) as usize], HEX[(dev[1] >> 4) as usize], HEX[(dev[1] & 15) as usize]]
}

/// `up:b:{xxxx}`, on the stack: it is built for every push.
fn bucket_key(dev: &RawDeviceId) -> [u8; 11] {
    let mut key = *b"up:b:{....}";
    key[6..10].copy_from_slice(&bucket_tag(dev));
    key
}

/// The bucket field of registration `tag` on `dev`.
fn reg_field(dev: &RawDeviceId, tag: &Tag) -> [u8; DeviceId::RANDOM_BYTES + TAG_LEN] {
    let mut f = [0u8; DeviceId::RANDOM_BYTES + TAG_LEN];
    f[..DeviceId::RANDOM_BYTES].copy_from_slice(dev);
    f[DeviceId::RANDOM_BYTES..].copy_from_slice(tag);
    f
}

fn tag_of_field(field: &[u8]) -> Option<Tag> {
    field.get(DeviceId::RANDOM_BYTES..)?.try_into().ok()
}

/// `up:rl:{xxxx}:<device and tag, base64url>`, on the stack: it is built for every push.
fn limiter_key(dev: &RawDeviceId, tag: &Tag) -> [u8; 13 + 48] {
    use base64::Engine;
    let mut key = [0u8; 13 + 48];
    key[..13].copy_from_slice(b"up:rl:{....}:");
    key[7..11].copy_from_slice(&bucket_tag(dev));
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode_slice(reg_field(dev, tag), &mut key[13..])
        .expect("36 bytes are 48 characters");
    debug_assert_eq!(n, 48);
    key
}

const QUEUE_DUE: &str = "{up:q}:due";
const QUEUE_MSG: &str = "{up:q}:msg";
const QUEUE_BORN: &str = "{up:q}:born";
/// Queued messages per device (device id → count), and each message's device.
const QUEUE_PER_DEVICE: &str = "{up:q}:dev";
const QUEUE_DEVICE_OF: &str = "{up:q}:of";
const SEALING_KEY: &str = "up:sealing-key";
const PROJECTS: &str = "up:projects";

fn map_err(e: redis::RedisError) -> StoreError {
    let err = if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_cluster_error() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Internal(e.to_string())
    };
    crate::metrics::store_error(err.label());
    err
}

/// A script made of Lua files (`lua/`), after a `local NAME = value` line for each Rust
/// constant it reads: helpers (`find.lua`, `gcra.lua`) go before the body that calls them.
fn lua(constants: &[(&str, i64)], parts: &[&str]) -> Script {
    let mut code: String = constants.iter().map(|(name, value)| format!("local {name} = {value}\n")).collect();
    for part in parts {
        code.push_str(part);
        code.push('\n');
    }
    Script::new(&code)
}

/// `regs(key, dev)` and `find(key, dev, instance)` over a bucket's registrations.
const FIND_LUA: &str = include_str!("lua/find.lua");

/// Where the target starts in a device's record, as Lua's 1-based string index.
const TARGET_AT: (&str, i64) = ("TARGET_AT", codec::DEVICE_TARGET_AT as i64);

/// KEYS: bucket. ARGV: device, encoded instance, new value, new field, limit.
/// Returns {code, field?}: 0 unknown device, 1 existing (its field), 2 replaced (the new
/// field; the old one is gone), 3 limit reached, 4 added.
static ADD_REGISTRATION: LazyLock<Script> = LazyLock::new(|| lua(&[], &[FIND_LUA, include_str!("lua/add_registration.lua")]));

/// KEYS: bucket. ARGV: device, encoded instance. 1 when a registration was removed.
static DELETE_REGISTRATION: LazyLock<Script> = LazyLock::new(|| lua(&[], &[FIND_LUA, include_str!("lua/delete_registration.lua")]));

/// KEYS: bucket. ARGV: device. {head, field, value, field, value…} or nil.
static DEVICE: LazyLock<Script> = LazyLock::new(|| lua(&[], &[FIND_LUA, include_str!("lua/device.lua")]));

/// KEYS: bucket. ARGV: device, encoded target or ''. Deletes the device and its
/// registrations (only while its whole target is ARGV[2], when given). 1 when deleted.
static DELETE_DEVICE: LazyLock<Script> = LazyLock::new(|| lua(&[TARGET_AT], &[FIND_LUA, include_str!("lua/delete_device.lua")]));

/// KEYS: bucket. ARGV: device, encoded target. Sets the target of an existing device (of
/// any kind: one write, so a move between kinds or roads is atomic); 1 when it exists.
static SET_TARGET: LazyLock<Script> = LazyLock::new(|| lua(&[TARGET_AT], &[include_str!("lua/set_target.lua")]));

/// KEYS: projects. ARGV: name. The project's number (1–255), assigned on first use;
/// -1 when the table is full.
static PROJECT_NUMBER: LazyLock<Script> = LazyLock::new(|| lua(&[], &[include_str!("lua/project_number.lua")]));

/// How long a limiter key outlives its theoretical arrival time (TAT). Every write sets
/// the key to expire exactly this long after its TAT, so the key's remaining TTL tells
/// the wait (`PTTL - slack`) without reading the value: with no rate configured, a push
/// checks for a hold with a plain `PTTL` instead of running a script (a script call
/// costs Redis ~9x an `HMGET`).
const LIMITER_SLACK_MS: i64 = 1000;

/// `SLACK_MS` for the scripts that write limiter keys.
const SLACK_MS: (&str, i64) = ("SLACK_MS", LIMITER_SLACK_MS);

/// `gcra(key, interval, tolerance)`: one GCRA step using Redis' clock (instances may
/// disagree on time); interval 0 = no limit, only honour a hold (no write). Returns 0
/// when allowed, else ms to wait. The key expires [`LIMITER_SLACK_MS`] after its TAT.
const GCRA_LUA: &str = include_str!("lua/gcra.lua");

/// KEYS: bucket, limiter. ARGV: device, registration field, interval, tolerance.
/// {device head, registration, wait ms} or nil; the limiter is only charged for a
/// registration that exists and is not restricted to a VAPID key (its value starts with
/// the key's presence byte, 1: see `codec::encode_tagged_registration`); a restricted
/// one is charged by [`ADMIT`] once its sender is verified.
static ROUTE_ADMIT: LazyLock<Script> = LazyLock::new(|| lua(&[SLACK_MS], &[GCRA_LUA, include_str!("lua/route_admit.lua")]));

/// KEYS: limiter. ARGV: interval, tolerance. 0 when allowed, else ms to wait.
static ADMIT: LazyLock<Script> = LazyLock::new(|| lua(&[SLACK_MS], &[GCRA_LUA, include_str!("lua/admit.lua")]));

/// Push the limiter's TAT to now + ARGV[1] + tolerance ARGV[2] (never backwards).
static HOLD: LazyLock<Script> = LazyLock::new(|| lua(&[SLACK_MS], &[include_str!("lua/hold.lua")]));

/// KEYS: due, msg, born. ARGV: id, value, max_len, due_ms, now_ms. 0 when full.
static ENQUEUE: LazyLock<Script> = LazyLock::new(|| lua(&[], &[include_str!("lua/enqueue.lua")]));

/// KEYS: due, msg, born. ARGV: now_ms, lease_ms, max. Leases due messages and returns them.
static LEASE: LazyLock<Script> = LazyLock::new(|| lua(&[], &[include_str!("lua/lease.lua")]));

/// KEYS: due, msg, born. ARGV: id. Returns whether the message was queued.
static COMPLETE: LazyLock<Script> = LazyLock::new(|| lua(&[], &[include_str!("lua/complete.lua")]));

/// KEYS: due, msg. ARGV: id, value, due_ms. Only while the message is still queued.
static RESCHEDULE: LazyLock<Script> = LazyLock::new(|| lua(&[], &[include_str!("lua/reschedule.lua")]));

/// Redis-backed [`Store`], generic over a standalone or cluster connection.
#[derive(Clone)]
pub struct RedisStore<C = ConnectionManager> {
    conn: C,
    sealer: Arc<Sealer>,
    projects: Arc<ProjectTable>,
    description: String,
}

/// The project table (`up:projects`) as far as this instance has seen it: entries are
/// only ever added, so a cached entry never goes stale.
struct ProjectTable {
    numbers: RwLock<HashMap<String, u8>>,
    names: Vec<std::sync::OnceLock<String>>,
}

impl ProjectTable {
    fn new() -> ProjectTable {
        ProjectTable { numbers: RwLock::new(HashMap::new()), names: (0..=u8::MAX).map(|_| Default::default()).collect() }
    }
}

impl RedisStore<ConnectionManager> {
    /// Connect to a standalone Redis (reconnects by itself after outages).
    pub async fn connect(url: &str) -> anyhow::Result<RedisStore<ConnectionManager>> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("store.redis_url: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let conn = tokio::time::timeout(Duration::from_secs(10), ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| anyhow::anyhow!("cannot reach Redis at {}: timed out", super::settings::redact_url(url)))?
            .map_err(|e| anyhow::anyhow!("cannot reach Redis at {}: {e}", super::settings::redact_url(url)))?;
        let mut conn = conn;
        let sealer = Arc::new(load_sealer(&mut conn).await?);
        let mut store = RedisStore {
            conn,
            sealer,
            projects: Arc::new(ProjectTable::new()),
            description: format!("redis at {}", super::settings::redact_url(url)),
        };
        store.advise_on_encoding().await;
        Ok(store)
    }

    /// A device head is ~140 bytes; under Redis' default `hash-max-listpack-value` (64)
    /// that turns every bucket into a hash table, about 1.5 times the memory. Say so once at
    /// start (managed Redis may refuse CONFIG: then stay quiet).
    async fn advise_on_encoding(&mut self) {
        let reply: Result<Vec<String>, _> =
            redis::cmd("CONFIG").arg("GET").arg("hash-max-listpack-value").query_async(&mut self.conn).await;
        if let Ok(pair) = reply {
            if let Some(value) = pair.get(1).and_then(|v| v.parse::<u64>().ok()) {
                if value < RECOMMENDED_LISTPACK_VALUE {
                    tracing::warn!(
                        current = value,
                        recommended = RECOMMENDED_LISTPACK_VALUE,
                        "Redis hash-max-listpack-value is below what device buckets need to stay compact; \
                         `CONFIG SET hash-max-listpack-value {RECOMMENDED_LISTPACK_VALUE}` (and in redis.conf) saves about a third of the memory per device"
                    );
                }
            }
        }
    }
}

/// Room for a device head with an FCM token that does not pack (~180 bytes) and for a
/// VAPID-restricted registration in one listpack entry. A FID head is 34 bytes; a Web Push
/// device's head (keys of 81 bytes beside its packed token, ~220 bytes) is over it, which
/// turns that device's bucket into a hash table: more memory, same behaviour.
pub const RECOMMENDED_LISTPACK_VALUE: u64 = 192;

impl RedisStore<redis::cluster_async::ClusterConnection> {
    /// Connect to a Redis Cluster through any of `nodes`.
    pub async fn connect_cluster(nodes: &[String]) -> anyhow::Result<RedisStore<redis::cluster_async::ClusterConnection>> {
        let client = redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| anyhow::anyhow!("store.redis_cluster: {e}"))?;
        let conn = tokio::time::timeout(Duration::from_secs(10), client.get_async_connection())
            .await
            .map_err(|_| anyhow::anyhow!("cannot reach Redis Cluster: timed out"))?
            .map_err(|e| anyhow::anyhow!("cannot reach Redis Cluster: {e}"))?;
        let mut conn = conn;
        let sealer = Arc::new(load_sealer(&mut conn).await?);
        Ok(RedisStore {
            conn,
            sealer,
            projects: Arc::new(ProjectTable::new()),
            description: format!("redis cluster ({} seed nodes)", nodes.len()),
        })
    }
}

/// The sealing key every instance shares: the first one to start creates it.
async fn load_sealer<C: ConnectionLike + Send>(conn: &mut C) -> anyhow::Result<Sealer> {
    let mut fresh = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut fresh);
    let _: Option<String> = redis::cmd("SET")
        .arg(SEALING_KEY)
        .arg(&fresh[..])
        .arg("NX")
        .query_async(conn)
        .await
        .map_err(|e| anyhow::anyhow!("Redis: cannot store the endpoint sealing key: {e}"))?;
    let key: Vec<u8> = redis::cmd("GET")
        .arg(SEALING_KEY)
        .query_async(conn)
        .await
        .map_err(|e| anyhow::anyhow!("Redis: cannot read the endpoint sealing key: {e}"))?;
    let key: [u8; 32] = key.try_into().map_err(|_| anyhow::anyhow!("Redis key {SEALING_KEY} is not 32 bytes; it is not uprelay's"))?;
    Ok(Sealer::new(&key))
}

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// The number device heads store for `project`, assigned on first use.
    async fn project_number(&self, project: &str) -> Result<u8, StoreError> {
        if let Some(&n) = self.projects.numbers.read().expect("project table lock").get(project) {
            return Ok(n);
        }
        let mut conn = self.conn.clone();
        let n: i64 = PROJECT_NUMBER.key(PROJECTS).arg(project).invoke_async(&mut conn).await.map_err(map_err)?;
        let n = u8::try_from(n).map_err(|_| StoreError::Internal("the store's project table is full (255 Firebase projects)".into()))?;
        self.projects.numbers.write().expect("project table lock").insert(project.to_owned(), n);
        let _ = self.projects.names[n as usize].set(project.to_owned());
        Ok(n)
    }

    /// The project behind number `n` in a device head.
    async fn project_name(&self, n: u8) -> Result<String, StoreError> {
        if let Some(name) = self.projects.names[n as usize].get() {
            return Ok(name.clone());
        }
        let mut conn = self.conn.clone();
        let name: Option<String> = conn.hget(PROJECTS, format!("i:{n}")).await.map_err(map_err)?;
        let name = name.ok_or_else(|| StoreError::Internal(format!("device names project number {n}, which {PROJECTS} lacks")))?;
        Ok(self.projects.names[n as usize].get_or_init(|| name).clone())
    }

    async fn delete_device_where(&self, id: &DeviceId, target: &[u8]) -> Result<bool, StoreError> {
        let dev = id.to_bytes();
        let mut conn = self.conn.clone();
        let deleted: i64 =
            DELETE_DEVICE.key(&bucket_key(&dev)[..]).arg(&dev[..]).arg(target).invoke_async(&mut conn).await.map_err(map_err)?;
        Ok(deleted == 1)
    }

    /// The push path with no rate configured: the route and any hold on the endpoint
    /// in one round trip of two plain commands (same bucket slot). A hold is the limiter
    /// key's TTL beyond [`LIMITER_SLACK_MS`]; the key is only ever written by the scripts,
    /// which keep that invariant. A missing key (`-2`) or one without expiry (`-1`,
    /// never written by us) holds nothing.
    async fn route_check_hold(
        &self,
        device: DeviceId,
        dev: &RawDeviceId,
        bucket: &[u8],
        limiter: &[u8],
        field: &[u8],
    ) -> Result<Option<(Route, Admission)>, StoreError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::Pipeline::with_capacity(2);
        pipe.cmd("HMGET").arg(bucket).arg(&dev[..]).arg(field).cmd("PTTL").arg(limiter);
        let ((head, reg), ttl_ms): ((Option<Vec<u8>>, Option<Vec<u8>>), i64) = pipe.query_async(&mut conn).await.map_err(map_err)?;
        let (Some(head), Some(reg)) = (head, reg) else { return Ok(None) };
        let held_ms = ttl_ms - LIMITER_SLACK_MS;
        let admission = if held_ms > 0 { Admission::Limited(Duration::from_millis(held_ms as u64)) } else { Admission::Allowed };
        Ok(Some((self.route_from(device, &head, &reg).await?, admission)))
    }

    /// One GCRA step on the limiter key `key`.
    async fn admit_key(&self, key: &[u8], rate: &Rate) -> Result<Admission, StoreError> {
        let mut conn = self.conn.clone();
        let wait_ms: u64 =
            ADMIT.key(key).arg(rate.interval_ms()).arg(rate.tolerance_ms()).invoke_async(&mut conn).await.map_err(map_err)?;
        Ok(if wait_ms == 0 { Admission::Allowed } else { Admission::Limited(Duration::from_millis(wait_ms)) })
    }

    /// Route from a device head and a registration value.
    async fn route_from(&self, device: DeviceId, head: &[u8], reg: &[u8]) -> Result<Route, StoreError> {
        let (_, project, target) = codec::decode_device_head(head)?;
        let (instance, vapid) = codec::decode_tagged_registration(reg)?;
        Ok(Route { device, instance, vapid, project: self.project_name(project).await?, target })
    }
}

fn bulk(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        _ => None,
    }
}

fn unexpected() -> StoreError {
    StoreError::Internal("unexpected script reply".into())
}

#[async_trait]
impl<C> Store for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn create_device(&self, device: &Device) -> Result<(), StoreError> {
        let dev = device.id.to_bytes();
        let head = codec::encode_device_head(&device.secret_hash, self.project_number(&device.project).await?, &device.target);
        let mut conn = self.conn.clone();
        let _: () = conn.hset(&bucket_key(&dev)[..], &dev[..], head).await.map_err(map_err)?;
        Ok(())
    }

    async fn device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        let dev = id.to_bytes();
        let mut conn = self.conn.clone();
        let reply: Option<Vec<Vec<u8>>> = DEVICE.key(&bucket_key(&dev)[..]).arg(&dev[..]).invoke_async(&mut conn).await.map_err(map_err)?;
        let Some(reply) = reply else { return Ok(None) };
        let (head, regs) = reply.split_first().ok_or_else(unexpected)?;
        let (secret_hash, project, target) = codec::decode_device_head(head)?;
        let mut registrations = Vec::with_capacity(regs.len() / 2);
        for pair in regs.chunks(2) {
            let [field, value] = pair else { return Err(unexpected()) };
            let tag = tag_of_field(field).ok_or_else(unexpected)?;
            let (instance, vapid) = codec::decode_tagged_registration(value)?;
            registrations.push(Registration { instance, endpoint: self.sealer.seal(&dev, &tag), vapid });
        }
        registrations.sort_by(|a, b| a.instance.cmp(&b.instance));
        let project = self.project_name(project).await?;
        Ok(Some(Device { id: id.clone(), secret_hash, project, target, registrations }))
    }

    async fn set_target(&self, id: &DeviceId, target: &Target) -> Result<bool, StoreError> {
        let dev = id.to_bytes();
        let mut conn = self.conn.clone();
        let set: i64 = SET_TARGET
            .key(&bucket_key(&dev)[..])
            .arg(&dev[..])
            .arg(codec::encode_target(target))
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(set == 1)
    }

    async fn delete_device(&self, id: &DeviceId) -> Result<bool, StoreError> {
        self.delete_device_where(id, b"").await
    }

    async fn delete_device_if_target(&self, id: &DeviceId, target: &Target) -> Result<bool, StoreError> {
        // Never empty (a kind mark first), so never the script's "unconditionally".
        self.delete_device_where(id, &codec::encode_target(target)).await
    }

    async fn add_registration(
        &self,
        id: &DeviceId,
        instance: &str,
        vapid: Option<&VapidKey>,
        limit: usize,
    ) -> Result<AddOutcome, StoreError> {
        let dev = id.to_bytes();
        let mut conn = self.conn.clone();
        let tag = Sealer::new_tag();
        let reply: Vec<Value> = ADD_REGISTRATION
            .key(&bucket_key(&dev)[..])
            .arg(&dev[..])
            .arg(codec::encode_instance(instance))
            .arg(codec::encode_tagged_registration(instance, vapid))
            .arg(&reg_field(&dev, &tag)[..])
            .arg(limit)
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        let code = match reply.first() {
            Some(Value::Int(c)) => *c,
            _ => return Err(unexpected()),
        };
        let field_tag = || reply.get(1).and_then(bulk).and_then(tag_of_field).ok_or_else(unexpected);
        Ok(match code {
            0 => AddOutcome::UnknownDevice,
            1 => AddOutcome::Existing(self.sealer.seal(&dev, &field_tag()?)),
            2 | 4 => AddOutcome::Created(self.sealer.seal(&dev, &tag)),
            3 => AddOutcome::LimitReached,
            _ => return Err(unexpected()),
        })
    }

    async fn delete_registration(&self, id: &DeviceId, instance: &str) -> Result<bool, StoreError> {
        let dev = id.to_bytes();
        let mut conn = self.conn.clone();
        let deleted: i64 = DELETE_REGISTRATION
            .key(&bucket_key(&dev)[..])
            .arg(&dev[..])
            .arg(codec::encode_instance(instance))
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(deleted == 1)
    }

    async fn route(&self, endpoint: &EndpointId) -> Result<Option<Route>, StoreError> {
        let Some((dev, tag)) = self.sealer.open(endpoint) else { return Ok(None) };
        let device = DeviceId::from_bytes(&dev);
        let mut conn = self.conn.clone();
        let (head, reg): (Option<Vec<u8>>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(&bucket_key(&dev)[..])
            .arg(&dev[..])
            .arg(&reg_field(&dev, &tag)[..])
            .query_async(&mut conn)
            .await
            .map_err(map_err)?;
        let (Some(head), Some(reg)) = (head, reg) else { return Ok(None) };
        self.route_from(device, &head, &reg).await.map(Some)
    }

    async fn route_admit(
        &self,
        endpoint: &EndpointId,
        rate: Option<&Rate>,
        _now_ms: u64,
    ) -> Result<Option<(Route, Admission)>, StoreError> {
        let Some((dev, tag)) = self.sealer.open(endpoint) else { return Ok(None) };
        let _timer = crate::metrics::hot().store_timer();
        let device = DeviceId::from_bytes(&dev);
        let (interval, tolerance) = limiter_params(rate);
        let (bucket, limiter, field) = (bucket_key(&dev), limiter_key(&dev, &tag), reg_field(&dev, &tag));
        if interval == 0 {
            return self.route_check_hold(device, &dev, &bucket, &limiter, &field).await;
        }
        let mut conn = self.conn.clone();
        // The push path's one round trip, as one EVALSHA command: redis-rs' script
        // invocation copies every key and argument into a vector of its own first.
        let mut evalsha = redis::Cmd::with_capacity(9, 256);
        evalsha
            .arg("EVALSHA")
            .arg(ROUTE_ADMIT.get_hash())
            .arg(2)
            .arg(&bucket[..])
            .arg(&limiter[..])
            .arg(&dev[..])
            .arg(&field[..])
            .arg(interval)
            .arg(tolerance);
        let reply: Option<(Vec<u8>, Vec<u8>, u64)> = match evalsha.query_async(&mut conn).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                // First push after a Redis restart or SCRIPT FLUSH: load it.
                ROUTE_ADMIT
                    .key(&bucket[..])
                    .key(&limiter[..])
                    .arg(&dev[..])
                    .arg(&field[..])
                    .arg(interval)
                    .arg(tolerance)
                    .invoke_async(&mut conn)
                    .await
            }
            other => other,
        }
        .map_err(map_err)?;
        let Some((head, reg, wait_ms)) = reply else { return Ok(None) };
        let admission = if wait_ms == 0 { Admission::Allowed } else { Admission::Limited(Duration::from_millis(wait_ms)) };
        Ok(Some((self.route_from(device, &head, &reg).await?, admission)))
    }

    async fn hold_endpoint(&self, endpoint: &EndpointId, _now_ms: u64, hold_ms: u64, rate: Option<&Rate>) -> Result<(), StoreError> {
        let Some((dev, tag)) = self.sealer.open(endpoint) else { return Ok(()) };
        let mut conn = self.conn.clone();
        let _: i64 = HOLD
            .key(&limiter_key(&dev, &tag)[..])
            .arg(hold_ms)
            .arg(limiter_params(rate).1)
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn admit_endpoint(&self, endpoint: &EndpointId, rate: &Rate, _now_ms: u64) -> Result<Admission, StoreError> {
        let Some((dev, tag)) = self.sealer.open(endpoint) else { return Ok(Admission::Allowed) };
        self.admit_key(&limiter_key(&dev, &tag), rate).await
    }

    async fn admit(&self, key: &str, rate: &Rate, _now_ms: u64) -> Result<Admission, StoreError> {
        self.admit_key(format!("up:rl:{key}").as_bytes(), rate).await
    }

    async fn enqueue(
        &self,
        msg: &QueuedMessage,
        device: &DeviceId,
        due_ms: u64,
        max_len: u64,
        max_per_device: u64,
    ) -> Result<Enqueued, StoreError> {
        let mut conn = self.conn.clone();
        let added: i64 = ENQUEUE
            .key(QUEUE_DUE)
            .key(QUEUE_MSG)
            .key(QUEUE_BORN)
            .key(QUEUE_PER_DEVICE)
            .key(QUEUE_DEVICE_OF)
            .arg(msg.id.as_str())
            .arg(codec::encode_queued(msg))
            .arg(max_len)
            .arg(due_ms)
            .arg(crate::clock::unix_ms())
            .arg(device.as_str())
            .arg(max_per_device)
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(match added {
            1 => Enqueued::Kept,
            2 => Enqueued::DeviceFull,
            _ => Enqueued::QueueFull,
        })
    }

    async fn lease(&self, now_ms: u64, lease_ms: u64, max: usize) -> Result<Vec<QueuedMessage>, StoreError> {
        let mut conn = self.conn.clone();
        let values: Vec<Vec<u8>> = LEASE
            .key(QUEUE_DUE)
            .key(QUEUE_MSG)
            .key(QUEUE_BORN)
            .arg(now_ms)
            .arg(lease_ms)
            .arg(max)
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        values.iter().map(|v| codec::decode_queued(v)).collect()
    }

    async fn complete(&self, id: &MessageId) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let removed: i64 = COMPLETE
            .key(QUEUE_DUE)
            .key(QUEUE_MSG)
            .key(QUEUE_BORN)
            .key(QUEUE_PER_DEVICE)
            .key(QUEUE_DEVICE_OF)
            .arg(id.as_str())
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(removed == 1)
    }

    async fn reschedule(&self, msg: &QueuedMessage, due_ms: u64) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = RESCHEDULE
            .key(QUEUE_DUE)
            .key(QUEUE_MSG)
            .arg(msg.id.as_str())
            .arg(codec::encode_queued(msg))
            .arg(due_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn queue_len(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        conn.hlen(QUEUE_MSG).await.map_err(map_err)
    }

    async fn queue_oldest_ms(&self) -> Result<Option<u64>, StoreError> {
        let mut conn = self.conn.clone();
        let oldest: Vec<(String, f64)> = conn.zrange_withscores(QUEUE_BORN, 0, 0).await.map_err(map_err)?;
        Ok(oldest.first().map(|(_, ms)| *ms as u64))
    }

    async fn secret_or_init(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut conn = self.conn.clone();
        let key = format!("up:secret:{name}");
        // SET NX then GET: whichever instance set it first, all read the same bytes.
        let _: Option<String> = redis::cmd("SET").arg(&key).arg(fresh).arg("NX").query_async(&mut conn).await.map_err(map_err)?;
        let kept: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query_async(&mut conn).await.map_err(map_err)?;
        kept.ok_or_else(|| StoreError::Internal(format!("Redis key {key} vanished right after it was set")))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await.map_err(map_err)?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}
