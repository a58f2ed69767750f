//! Redis (standalone or Cluster) store.
//!
//! Layout:
//! - `up:e:{<endpoint id>}` → string: the encoded [`Route`] (the push path's single read);
//! - `up:rl:{<endpoint id>}` → the endpoint's rate limiter (same hash slot as its route,
//!   so one script reads the route and charges the limiter in one round trip);
//! - `up:rl:<name>` → other limiters (device creation per client IP);
//! - `{up:q}:due` (sorted set, score = due ms) and `{up:q}:msg` (hash) → the retry queue,
//!   sharing one hash slot so every queue operation is a single-slot script;
//! - `up:d:<device id>` → hash: `s` secret hash, `p` project, `t` FCM token, and
//!   `r:<instance>` → encoded registration for each endpoint.
//!
//! Every atomic step touches one key (so one hash slot in a Cluster); the few
//! operations that span a device and its routes order their writes so that a crash
//! between steps leaves at worst a route that a retried call cleans up.

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script, Value};
use std::sync::LazyLock;
use std::time::Duration;

use super::codec;
use super::{limiter_params, AddOutcome, Admission, Device, QueuedMessage, Rate, Route, Store, StoreError};
use crate::ids::{DeviceId, EndpointId, MessageId};
use crate::webpush::VapidKey;

fn endpoint_key(id: &EndpointId) -> String {
    route_key(id.as_str())
}

fn route_key(endpoint: &str) -> String {
    format!("up:e:{{{endpoint}}}")
}

fn limiter_key(id: &EndpointId) -> String {
    format!("up:rl:{{{}}}", id.as_str())
}

const QUEUE_DUE: &str = "{up:q}:due";
const QUEUE_MSG: &str = "{up:q}:msg";

fn device_key(id: &DeviceId) -> String {
    format!("up:d:{}", id.as_str())
}

fn reg_field(instance: &str) -> String {
    format!("r:{instance}")
}

fn map_err(e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_cluster_error() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Internal(e.to_string())
    }
}

/// Adds a registration unless the instance exists unchanged, the limit is reached, or
/// the device's token changed since the caller wrote the route (then the caller retries).
/// Returns {code, previous value?}: 0 unknown device, 1 existing, 2 replaced, 3 limit, 4 added, 5 token moved.
static ADD_REGISTRATION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('HGET', KEYS[1], 't')
if not t then return {0} end
if t ~= ARGV[4] then return {5} end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  if string.sub(cur, 33) == string.sub(ARGV[2], 33) then return {1, cur} end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return {2, cur}
end
if redis.call('HLEN', KEYS[1]) - 3 >= tonumber(ARGV[3]) then return {3} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {4}
"#,
    )
});

/// Deletes the device hash (only while its token is ARGV[1], when given) and returns
/// the encoded registrations it held, or nil.
static DELETE_DEVICE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 't') ~= ARGV[1] then return false end
local all = redis.call('HGETALL', KEYS[1])
if #all == 0 then return false end
redis.call('DEL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  if string.sub(all[i], 1, 2) == 'r:' then table.insert(out, all[i + 1]) end
end
return out
"#,
    )
});

/// Sets the token of an existing device; returns {project, field, value, field, value…} or nil.
static SET_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSET', KEYS[1], 't', ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
local out = {redis.call('HGET', KEYS[1], 'p')}
for i = 1, #all, 2 do
  if string.sub(all[i], 1, 2) == 'r:' then table.insert(out, all[i]); table.insert(out, all[i + 1]) end
end
return out
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

/// Route lookup plus limiter charge: {route, wait ms} or nil.
static ROUTE_ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{GCRA_LUA}
local route = redis.call('GET', KEYS[1])
if not route then return false end
return {{route, gcra(KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))}}
"#
    ))
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
        let mut store = RedisStore { conn, description: format!("redis at {}", redact_url(url)) };
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
                         `CONFIG SET hash-max-listpack-value {RECOMMENDED_LISTPACK_VALUE}` (and in redis.conf) saves about a fifth of the memory per registration"
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
        Ok(RedisStore { conn, description: format!("redis cluster ({} seed nodes)", nodes.len()) })
    }
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
    async fn delete_routes(&self, registrations: &[Vec<u8>]) -> Result<(), StoreError> {
        // Separate commands, not one multi-key DEL: routes sit in different cluster slots.
        let mut conn = self.conn.clone();
        for reg in registrations {
            let Some(eid) = reg.get(..EndpointId::LEN).and_then(|b| std::str::from_utf8(b).ok()) else { continue };
            let _: () = conn.del(route_key(eid)).await.map_err(map_err)?;
        }
        Ok(())
    }

    async fn delete_device_where(&self, id: &DeviceId, token: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let regs: Option<Vec<Vec<u8>>> =
            DELETE_DEVICE.key(device_key(id)).arg(token).invoke_async(&mut conn).await.map_err(map_err)?;
        match regs {
            None => Ok(false),
            Some(regs) => {
                self.delete_routes(&regs).await?;
                Ok(true)
            }
        }
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
                f if f.starts_with(b"r:") => {
                    let instance = std::str::from_utf8(&f[2..]).map_err(|_| corrupt())?;
                    device.registrations.push(codec::decode_registration(instance, &value)?);
                }
                _ => {}
            }
        }
        device.registrations.sort_by(|a, b| a.instance.cmp(&b.instance));
        Ok(Some(device))
    }

    async fn set_token(&self, id: &DeviceId, fcm_token: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let reply: Option<Vec<Vec<u8>>> =
            SET_TOKEN.key(device_key(id)).arg(fcm_token).invoke_async(&mut conn).await.map_err(map_err)?;
        let Some(reply) = reply else { return Ok(false) };
        let corrupt = || StoreError::Internal("undecodable device hash".into());
        let project = String::from_utf8(reply.first().cloned().unwrap_or_default()).map_err(|_| corrupt())?;
        for pair in reply[1..].chunks(2) {
            let [field, value] = pair else { return Err(corrupt()) };
            let instance = std::str::from_utf8(&field[2..]).map_err(|_| corrupt())?;
            let reg = codec::decode_registration(instance, value)?;
            let route = Route {
                device: id.clone(),
                instance: reg.instance,
                vapid: reg.vapid,
                project: project.clone(),
                fcm_token: fcm_token.to_owned(),
            };
            // XX: never resurrect a route deleted concurrently.
            let _: Option<String> = redis::cmd("SET")
                .arg(endpoint_key(&reg.endpoint))
                .arg(codec::encode_route(&route))
                .arg("XX")
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
        }
        Ok(true)
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
        let dkey = device_key(id);
        let field = reg_field(instance);
        // A token rotation between reading the token and adding the field would leave a
        // route with the old token; the script detects it and we go round again.
        for _ in 0..5 {
            let (token, project, current): (Option<String>, Option<String>, Option<Vec<u8>>) =
                redis::cmd("HMGET").arg(&dkey).arg("t").arg("p").arg(&field).query_async(&mut conn).await.map_err(map_err)?;
            let (Some(token), Some(project)) = (token, project) else { return Ok(AddOutcome::UnknownDevice) };
            if let Some(cur) = &current {
                let existing = codec::decode_registration(instance, cur)?;
                if existing.vapid.as_ref() == vapid {
                    return Ok(AddOutcome::Existing(existing.endpoint));
                }
            }
            let endpoint = EndpointId::generate();
            let value = codec::encode_registration(&endpoint, vapid);
            let route = Route {
                device: id.clone(),
                instance: instance.to_owned(),
                vapid: vapid.cloned(),
                project,
                fcm_token: token.clone(),
            };
            let _: () = conn.set(endpoint_key(&endpoint), codec::encode_route(&route)).await.map_err(map_err)?;
            let reply: Vec<Value> = ADD_REGISTRATION
                .key(&dkey)
                .arg(&field)
                .arg(&value)
                .arg(limit)
                .arg(&token)
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            let code = match reply.first() {
                Some(Value::Int(c)) => *c,
                _ => return Err(StoreError::Internal("unexpected script reply".into())),
            };
            let previous = reply.get(1).and_then(bulk).map(|b| b.to_vec());
            let drop_new = || async {
                let mut c = self.conn.clone();
                let _: Result<(), _> = c.del(endpoint_key(&endpoint)).await;
            };
            match code {
                0 => {
                    drop_new().await;
                    return Ok(AddOutcome::UnknownDevice);
                }
                1 => {
                    drop_new().await;
                    let prev = previous.ok_or_else(|| StoreError::Internal("missing registration".into()))?;
                    return Ok(AddOutcome::Existing(codec::decode_registration(instance, &prev)?.endpoint));
                }
                2 => {
                    if let Some(prev) = previous {
                        self.delete_routes(&[prev]).await?;
                    }
                    return Ok(AddOutcome::Created(endpoint));
                }
                3 => {
                    drop_new().await;
                    return Ok(AddOutcome::LimitReached);
                }
                4 => return Ok(AddOutcome::Created(endpoint)),
                _ => drop_new().await,
            }
        }
        Err(StoreError::Unavailable("device token kept changing during registration".into()))
    }

    async fn delete_registration(&self, id: &DeviceId, instance: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let dkey = device_key(id);
        let field = reg_field(instance);
        let current: Option<Vec<u8>> = conn.hget(&dkey, &field).await.map_err(map_err)?;
        let Some(current) = current else { return Ok(false) };
        // Route first: once the field is gone nothing would remember the route.
        self.delete_routes(std::slice::from_ref(&current)).await?;
        let _: () = conn.hdel(&dkey, &field).await.map_err(map_err)?;
        Ok(true)
    }

    async fn route(&self, endpoint: &EndpointId) -> Result<Option<Route>, StoreError> {
        let mut conn = self.conn.clone();
        let value: Option<Vec<u8>> = conn.get(endpoint_key(endpoint)).await.map_err(map_err)?;
        value.map(|v| codec::decode_route(&v)).transpose()
    }

    async fn route_admit(
        &self,
        endpoint: &EndpointId,
        rate: Option<&Rate>,
        _now_ms: u64,
    ) -> Result<Option<(Route, Admission)>, StoreError> {
        let mut conn = self.conn.clone();
        let (interval, tolerance) = limiter_params(rate);
        let reply: Option<(Vec<u8>, u64)> = ROUTE_ADMIT
            .key(endpoint_key(endpoint))
            .key(limiter_key(endpoint))
            .arg(interval)
            .arg(tolerance)
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        let Some((route, wait_ms)) = reply else { return Ok(None) };
        let admission = if wait_ms == 0 { Admission::Allowed } else { Admission::Limited(Duration::from_millis(wait_ms)) };
        Ok(Some((codec::decode_route(&route)?, admission)))
    }

    async fn hold_endpoint(&self, endpoint: &EndpointId, _now_ms: u64, hold_ms: u64, rate: Option<&Rate>) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = HOLD
            .key(limiter_key(endpoint))
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
