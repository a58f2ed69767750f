//! Redis (standalone or Cluster) store.
//!
//! Layout:
//! - `up:d:{<device id>}` → hash: `s` secret hash, `p` project, `t` FCM token, and one
//!   field per registration, `e:<20-byte tag>` → VAPID flag (+ key) and instance name.
//!   Endpoint ids are *sealed* (see [`super::sealed`]): they carry the device id and the
//!   tag encrypted under the relay's key, so a push finds the device hash directly and the
//!   FCM token is stored once per device;
//! - `up:rl:{<device id>}:<tag, base64url>` → the endpoint's rate limiter, in its device's hash slot,
//!   so one script reads the route and charges the limiter in one round trip;
//! - `up:rl:<name>` → other limiters (device creation per client IP);
//! - `{up:q}:due` (sorted set, score = due ms) and `{up:q}:msg` (hash) → the retry queue,
//!   sharing one hash slot so every queue operation is a single-slot script;
//! - `up:sealing-key` → the 32 random bytes every instance seals endpoint ids with,
//!   created by the first instance that starts.
//!
//! Every operation touches one device hash (plus its limiter, same slot), so each is a
//! single atomic step, in a Cluster too.

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script, Value};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use super::codec;
use super::sealed::{Sealer, Tag};
use super::{limiter_params, AddOutcome, Admission, Device, QueuedMessage, Rate, Registration, Route, Store, StoreError};
use crate::ids::{DeviceId, EndpointId, MessageId};
use crate::webpush::VapidKey;

fn device_key(id: &DeviceId) -> String {
    format!("up:d:{{{}}}", id.as_str())
}

fn limiter_key(id: &DeviceId, tag: &Tag) -> String {
    use base64::Engine;
    let mut key = String::with_capacity(9 + DeviceId::LEN + 27);
    key.push_str("up:rl:{");
    key.push_str(id.as_str());
    key.push_str("}:");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(tag, &mut key);
    key
}

const QUEUE_DUE: &str = "{up:q}:due";
const QUEUE_MSG: &str = "{up:q}:msg";
const SEALING_KEY: &str = "up:sealing-key";

/// The hash field of registration `tag`.
fn reg_field(tag: &Tag) -> Vec<u8> {
    let mut f = Vec::with_capacity(2 + tag.len());
    f.extend_from_slice(b"e:");
    f.extend_from_slice(tag);
    f
}

fn tag_of_field(field: &[u8]) -> Option<Tag> {
    field.strip_prefix(b"e:")?.try_into().ok()
}

fn map_err(e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_cluster_error() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Internal(e.to_string())
    }
}

/// Lua helper: the field of the registration named ARGV[1] (instance) and its value.
/// A registration value is a flag byte (0, or 1 + 65-byte VAPID key) and the instance.
const FIND_LUA: &str = r#"
local function find(key, instance)
  local all = redis.call('HGETALL', key)
  local count = 0
  local field, value
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'e:' then
      count = count + 1
      local v = all[i + 1]
      local skip = 1
      if string.byte(v, 1) == 1 then skip = 66 end
      if string.sub(v, skip + 1) == instance then field = all[i]; value = v end
    end
  end
  return field, value, count
end
"#;

/// KEYS: device. ARGV: instance, new value, new field, limit.
/// Returns {code, field?}: 0 unknown device, 1 existing (its field), 2 replaced (the new
/// field; the old one is gone), 3 limit reached, 4 added.
static ADD_REGISTRATION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{FIND_LUA}
if redis.call('EXISTS', KEYS[1]) == 0 then return {{0}} end
local field, value, count = find(KEYS[1], ARGV[1])
if field then
  if value == ARGV[2] then return {{1, field}} end
  redis.call('HDEL', KEYS[1], field)
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[2])
  return {{2, ARGV[3]}}
end
if count >= tonumber(ARGV[4]) then return {{3}} end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[2])
return {{4}}
"#
    ))
});

/// KEYS: device. ARGV: instance. 1 when a registration was removed.
static DELETE_REGISTRATION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{FIND_LUA}
local field = find(KEYS[1], ARGV[1])
if not field then return 0 end
redis.call('HDEL', KEYS[1], field)
return 1
"#
    ))
});

/// Deletes the device hash (only while its token is ARGV[1], when given). 1 when deleted.
static DELETE_DEVICE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 't') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"#,
    )
});

/// Sets the token of an existing device. 1 when it exists.
static SET_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 't', ARGV[1])
return 1
"#,
    )
});

/// One GCRA step on KEYS[1] using Redis' clock (instances may disagree on time).
/// ARGV: interval ms, tolerance ms; interval 0 = no limit, only honour a hold (no write).
/// Returns 0 when allowed, else ms to wait.
const GCRA_LUA: &str = r#"
local function gcra(key, interval, tol)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', key) or '0')
  if interval == 0 then
    if tat > now then return tat - now end
    return 0
  end
  if tat < now then tat = now end
  local allow_at = tat - tol
  if allow_at > now then return allow_at - now end
  local new = tat + interval
  redis.call('SET', key, new, 'PX', new - now + 1000)
  return 0
end
"#;

/// KEYS: device, limiter. ARGV: registration field, interval, tolerance.
/// {token, project, registration, wait ms} or nil.
static ROUTE_ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{GCRA_LUA}
local v = redis.call('HMGET', KEYS[1], 't', 'p', ARGV[1])
if not v[3] or not v[1] then return false end
return {{v[1], v[2], v[3], gcra(KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[3]))}}
"#
    ))
});

/// KEYS: device. ARGV: registration field. {token, project, registration} or nil.
static ROUTE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local v = redis.call('HMGET', KEYS[1], 't', 'p', ARGV[1])
if not v[3] or not v[1] then return false end
return v
"#,
    )
});

static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!("{GCRA_LUA}
return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))"))
});

/// Push the limiter's TAT to now + ARGV[1] + tolerance ARGV[2] (never backwards).
static HOLD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = now + tonumber(ARGV[1]) + tonumber(ARGV[2])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur > tat then tat = cur end
redis.call('SET', KEYS[1], tat, 'PX', tat - now + 1000)
return 1
"#,
    )
});

/// KEYS: due, msg. ARGV: id, value, max_len, due_ms. 0 when full.
static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
return 1
"#,
    )
});

/// KEYS: due, msg. ARGV: now_ms, lease_ms, max. Leases due messages and returns them.
static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
if #ids == 0 then return out end
local until_ms = tonumber(ARGV[1]) + tonumber(ARGV[2])
local values = redis.call('HMGET', KEYS[2], unpack(ids))
for i, id in ipairs(ids) do
  if values[i] then
    redis.call('ZADD', KEYS[1], until_ms, id)
    table.insert(out, values[i])
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"#,
    )
});

/// KEYS: due, msg. ARGV: id.
static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new("redis.call('ZREM', KEYS[1], ARGV[1]); redis.call('HDEL', KEYS[2], ARGV[1]); return 1")
});

/// KEYS: due, msg. ARGV: id, value, due_ms. Only while the message is still queued.
static RESCHEDULE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
"#,
    )
});

/// Redis-backed [`Store`], generic over a standalone or cluster connection.
#[derive(Clone)]
pub struct RedisStore<C = ConnectionManager> {
    conn: C,
    sealer: Arc<Sealer>,
    description: String,
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
            .map_err(|_| anyhow::anyhow!("cannot reach Redis at {}: timed out", redact_url(url)))?
            .map_err(|e| anyhow::anyhow!("cannot reach Redis at {}: {e}", redact_url(url)))?;
        let mut conn = conn;
        let sealer = Arc::new(load_sealer(&mut conn).await?);
        let mut store = RedisStore { conn, sealer, description: format!("redis at {}", redact_url(url)) };
        store.advise_on_encoding().await;
        Ok(store)
    }

    /// Device hashes hold an FCM token of ~163 bytes; under Redis' default
    /// `hash-max-listpack-value` (64) that turns each into a hash table, ~200 bytes more
    /// per device. Say so once at start (managed Redis may refuse CONFIG: then stay quiet).
    async fn advise_on_encoding(&mut self) {
        let reply: Result<Vec<String>, _> =
            redis::cmd("CONFIG").arg("GET").arg("hash-max-listpack-value").query_async(&mut self.conn).await;
        if let Ok(pair) = reply {
            if let Some(value) = pair.get(1).and_then(|v| v.parse::<u64>().ok()) {
                if value < RECOMMENDED_LISTPACK_VALUE {
                    tracing::warn!(
                        current = value,
                        recommended = RECOMMENDED_LISTPACK_VALUE,
                        "Redis hash-max-listpack-value is below what device hashes need to stay compact; \
                         `CONFIG SET hash-max-listpack-value {RECOMMENDED_LISTPACK_VALUE}` (and in redis.conf) saves about 200 bytes per device"
                    );
                }
            }
        }
    }
}

/// Room for an FCM token (~163 bytes) and a VAPID-restricted registration in one
/// listpack entry.
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
        Ok(RedisStore { conn, sealer, description: format!("redis cluster ({} seed nodes)", nodes.len()) })
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
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| anyhow::anyhow!("Redis key {SEALING_KEY} is not 32 bytes; it is not uprelay's"))?;
    Ok(Sealer::new(&key))
}

/// Hide a password in a Redis URL.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn delete_device_where(&self, id: &DeviceId, token: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let deleted: i64 = DELETE_DEVICE.key(device_key(id)).arg(token).invoke_async(&mut conn).await.map_err(map_err)?;
        Ok(deleted == 1)
    }

    /// Route from the `{token, project, registration}` a script returned.
    fn route_from(&self, device: DeviceId, token: Vec<u8>, project: Vec<u8>, reg: &[u8]) -> Result<Route, StoreError> {
        let corrupt = || StoreError::Internal("undecodable device hash".into());
        let (instance, vapid) = codec::decode_tagged_registration(reg)?;
        Ok(Route {
            device,
            instance,
            vapid,
            project: String::from_utf8(project).map_err(|_| corrupt())?,
            fcm_token: String::from_utf8(token).map_err(|_| corrupt())?,
        })
    }
}

fn bulk(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        _ => None,
    }
}

#[async_trait]
impl<C> Store for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn create_device(&self, device: &Device) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let fields: [(&str, &[u8]); 3] =
            [("s", &device.secret_hash), ("p", device.project.as_bytes()), ("t", device.fcm_token.as_bytes())];
        let _: () = conn.hset_multiple(device_key(&device.id), &fields).await.map_err(map_err)?;
        Ok(())
    }

    async fn device(&self, id: &DeviceId) -> Result<Option<Device>, StoreError> {
        let mut conn = self.conn.clone();
        let all: Vec<(Vec<u8>, Vec<u8>)> = conn.hgetall(device_key(id)).await.map_err(map_err)?;
        if all.is_empty() {
            return Ok(None);
        }
        let corrupt = || StoreError::Internal("undecodable device hash".into());
        let mut device =
            Device { id: id.clone(), secret_hash: [0; 32], project: String::new(), fcm_token: String::new(), registrations: vec![] };
        for (field, value) in all {
            match field.as_slice() {
                b"s" => device.secret_hash = value.try_into().map_err(|_| corrupt())?,
                b"p" => device.project = String::from_utf8(value).map_err(|_| corrupt())?,
                b"t" => device.fcm_token = String::from_utf8(value).map_err(|_| corrupt())?,
                f => {
                    if let Some(tag) = tag_of_field(f) {
                        let (instance, vapid) = codec::decode_tagged_registration(&value)?;
                        device.registrations.push(Registration { instance, endpoint: self.sealer.seal(id, &tag), vapid });
                    }
                }
            }
        }
        device.registrations.sort_by(|a, b| a.instance.cmp(&b.instance));
        Ok(Some(device))
    }

    async fn set_token(&self, id: &DeviceId, fcm_token: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let set: i64 = SET_TOKEN.key(device_key(id)).arg(fcm_token).invoke_async(&mut conn).await.map_err(map_err)?;
        Ok(set == 1)
    }

    async fn delete_device(&self, id: &DeviceId) -> Result<bool, StoreError> {
        self.delete_device_where(id, "").await
    }

    async fn delete_device_if_token(&self, id: &DeviceId, fcm_token: &str) -> Result<bool, StoreError> {
        if fcm_token.is_empty() {
            return Ok(false);
        }
        self.delete_device_where(id, fcm_token).await
    }

    async fn add_registration(
        &self,
        id: &DeviceId,
        instance: &str,
        vapid: Option<&VapidKey>,
        limit: usize,
    ) -> Result<AddOutcome, StoreError> {
        let mut conn = self.conn.clone();
        let tag = Sealer::new_tag();
        let reply: Vec<Value> = ADD_REGISTRATION
            .key(device_key(id))
            .arg(instance)
            .arg(codec::encode_tagged_registration(instance, vapid))
            .arg(reg_field(&tag))
            .arg(limit)
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        let code = match reply.first() {
            Some(Value::Int(c)) => *c,
            _ => return Err(StoreError::Internal("unexpected script reply".into())),
        };
        let field_tag = || {
            reply.get(1).and_then(bulk).and_then(tag_of_field).ok_or_else(|| StoreError::Internal("unexpected script reply".into()))
        };
        Ok(match code {
            0 => AddOutcome::UnknownDevice,
            1 => AddOutcome::Existing(self.sealer.seal(id, &field_tag()?)),
            2 | 4 => AddOutcome::Created(self.sealer.seal(id, &tag)),
            3 => AddOutcome::LimitReached,
            _ => return Err(StoreError::Internal("unexpected script reply".into())),
        })
    }

    async fn delete_registration(&self, id: &DeviceId, instance: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let deleted: i64 = DELETE_REGISTRATION.key(device_key(id)).arg(instance).invoke_async(&mut conn).await.map_err(map_err)?;
        Ok(deleted == 1)
    }

    async fn route(&self, endpoint: &EndpointId) -> Result<Option<Route>, StoreError> {
        let Some((device, tag)) = self.sealer.open(endpoint) else { return Ok(None) };
        let mut conn = self.conn.clone();
        let reply: Option<(Vec<u8>, Vec<u8>, Vec<u8>)> =
            ROUTE.key(device_key(&device)).arg(reg_field(&tag)).invoke_async(&mut conn).await.map_err(map_err)?;
        let Some((token, project, reg)) = reply else { return Ok(None) };
        self.route_from(device, token, project, &reg).map(Some)
    }

    async fn route_admit(
        &self,
        endpoint: &EndpointId,
        rate: Option<&Rate>,
        _now_ms: u64,
    ) -> Result<Option<(Route, Admission)>, StoreError> {
        let Some((device, tag)) = self.sealer.open(endpoint) else { return Ok(None) };
        let mut conn = self.conn.clone();
        let (interval, tolerance) = limiter_params(rate);
        let reply: Option<(Vec<u8>, Vec<u8>, Vec<u8>, u64)> = ROUTE_ADMIT
            .key(device_key(&device))
            .key(limiter_key(&device, &tag))
            .arg(reg_field(&tag))
            .arg(interval)
            .arg(tolerance)
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        let Some((token, project, reg, wait_ms)) = reply else { return Ok(None) };
        let admission = if wait_ms == 0 { Admission::Allowed } else { Admission::Limited(Duration::from_millis(wait_ms)) };
        Ok(Some((self.route_from(device, token, project, &reg)?, admission)))
    }

    async fn hold_endpoint(&self, endpoint: &EndpointId, _now_ms: u64, hold_ms: u64, rate: Option<&Rate>) -> Result<(), StoreError> {
        let Some((device, tag)) = self.sealer.open(endpoint) else { return Ok(()) };
        let mut conn = self.conn.clone();
        let _: i64 = HOLD
            .key(limiter_key(&device, &tag))
            .arg(hold_ms)
            .arg(limiter_params(rate).1)
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn admit(&self, key: &str, rate: &Rate, _now_ms: u64) -> Result<Admission, StoreError> {
        let mut conn = self.conn.clone();
        let wait_ms: u64 = ADMIT
            .key(format!("up:rl:{key}"))
            .arg(rate.interval_ms())
            .arg(rate.tolerance_ms())
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(if wait_ms == 0 { Admission::Allowed } else { Admission::Limited(Duration::from_millis(wait_ms)) })
    }

    async fn enqueue(&self, msg: &QueuedMessage, due_ms: u64, max_len: u64) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let added: i64 = ENQUEUE
            .key(QUEUE_DUE)
            .key(QUEUE_MSG)
            .arg(msg.id.as_str())
            .arg(codec::encode_queued(msg))
            .arg(max_len)
            .arg(due_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(added == 1)
    }

    async fn lease(&self, now_ms: u64, lease_ms: u64, max: usize) -> Result<Vec<QueuedMessage>, StoreError> {
        let mut conn = self.conn.clone();
        let values: Vec<Vec<u8>> = LEASE
            .key(QUEUE_DUE)
            .key(QUEUE_MSG)
            .arg(now_ms)
            .arg(lease_ms)
            .arg(max)
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        values.iter().map(|v| codec::decode_queued(v)).collect()
    }

    async fn complete(&self, id: &MessageId) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = COMPLETE.key(QUEUE_DUE).key(QUEUE_MSG).arg(id.as_str()).invoke_async(&mut conn).await.map_err(map_err)?;
        Ok(())
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

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await.map_err(map_err)?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}
