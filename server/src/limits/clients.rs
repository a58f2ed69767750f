//! What each client holds at once: open connections and requests in flight, counted per
//! client key (an IPv4 address or an IPv6 /64), so that no single client can take every
//! connection or every request slot of the server.
//!
//! Cheap on the request path: a direct client's entry is looked up once, when its
//! connection is accepted, and each request then costs one atomic add and one atomic
//! subtract on it. Only requests that come through a trusted reverse proxy (whose client
//! is named per request by `X-Forwarded-For`) look their client up per request, in one of
//! several independently locked shards.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::client::client_key;

/// Shards of the client map: enough that accepts and proxied requests on a few cores
/// rarely wait for one another.
const SHARDS: usize = 16;

/// What one client holds.
#[derive(Default)]
struct Holdings {
    /// Open connections (changed only under the shard's lock).
    connections: AtomicUsize,
    /// Requests in flight.
    requests: AtomicUsize,
}

type Shard = Mutex<HashMap<IpAddr, Arc<Holdings>>>;

/// Every client's holdings, with the two per-client bounds.
pub struct Clients {
    shards: Box<[Shard]>,
    max_connections: usize,
    max_requests: usize,
}

impl Clients {
    /// Bounds of `max_connections` open connections and `max_requests` requests in
    /// flight per client.
    pub fn new(max_connections: usize, max_requests: usize) -> Arc<Clients> {
        let shards = (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect();
        Arc::new(Clients { shards, max_connections, max_requests })
    }

    fn shard(&self, key: &IpAddr) -> &Shard {
        let h = match key {
            IpAddr::V4(v4) => u32::from(*v4) as u64,
            // The key keeps only the /64: its upper half.
            IpAddr::V6(v6) => (u128::from(*v6) >> 64) as u64,
        };
        // Fold the bits so that neighbouring addresses spread over the shards.
        let h = h ^ (h >> 17) ^ (h >> 31) ^ (h >> 47);
        &self.shards[(h as usize) % SHARDS]
    }

    /// One more connection for the client at `ip`; None when it holds its allowance.
    pub fn connect(self: &Arc<Self>, ip: IpAddr) -> Option<Connection> {
        let key = client_key(ip);
        let mut map = self.shard(&key).lock().unwrap();
        let held = map.entry(key).or_default();
        if held.connections.load(Ordering::Relaxed) >= self.max_connections {
            return None;
        }
        held.connections.fetch_add(1, Ordering::Relaxed);
        let held = held.clone();
        Some(Connection { clients: self.clone(), key, held })
    }

    /// One more request in flight for the client at `ip` (one behind a trusted proxy,
    /// whose connections are not counted); None when it holds its allowance.
    pub fn begin_request(self: &Arc<Self>, ip: IpAddr) -> Option<ProxiedRequest> {
        let key = client_key(ip);
        let held = self.shard(&key).lock().unwrap().entry(key).or_default().clone();
        if !admit(&held.requests, self.max_requests) {
            self.give_back(key, &held, |_| {});
            return None;
        }
        Some(ProxiedRequest { clients: self.clone(), key, held })
    }

    /// Under the shard's lock: `f` gives something back on `held`, then the entry is
    /// dropped if nothing else holds it (the map's reference and `held` are the only
    /// ones left, and it counts nothing). Nobody can take a new hold meanwhile: that
    /// needs the lock.
    fn give_back(&self, key: IpAddr, held: &Arc<Holdings>, f: impl FnOnce(&Holdings)) {
        let mut map = self.shard(&key).lock().unwrap();
        f(held);
        if Arc::strong_count(held) == 2 && held.connections.load(Ordering::Relaxed) == 0 && held.requests.load(Ordering::Relaxed) == 0 {
            map.remove(&key);
        }
    }

    /// Clients with an entry (for tests of the bookkeeping).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

/// Count one more on `counter` unless it is at `max`.
fn admit(counter: &AtomicUsize, max: usize) -> bool {
    if counter.fetch_add(1, Ordering::AcqRel) >= max {
        counter.fetch_sub(1, Ordering::AcqRel);
        return false;
    }
    true
}

/// One open connection of a client, given back on drop; its requests are counted on it.
pub struct Connection {
    clients: Arc<Clients>,
    key: IpAddr,
    held: Arc<Holdings>,
}

impl Connection {
    /// One more request in flight on this connection's client; None when the client
    /// holds its allowance. The returned mark keeps the connection's entry alive, so it
    /// may outlive the connection's own task.
    pub fn begin_request(self: &Arc<Self>) -> Option<Request> {
        admit(&self.held.requests, self.clients.max_requests).then(|| Request(self.clone()))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.clients.give_back(self.key, &self.held, |h| {
            h.connections.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// A request in flight on a direct connection, until dropped.
pub struct Request(Arc<Connection>);

impl Drop for Request {
    fn drop(&mut self) {
        self.0.held.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request in flight from a client behind a trusted proxy, until dropped.
pub struct ProxiedRequest {
    clients: Arc<Clients>,
    key: IpAddr,
    held: Arc<Holdings>,
}

impl Drop for ProxiedRequest {
    fn drop(&mut self) {
        self.clients.give_back(self.key, &self.held, |h| {
            h.requests.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn connections_are_bounded_per_client_and_given_back() {
        let c = Clients::new(2, 10);
        let a = c.connect(ip("192.0.2.1")).unwrap();
        let b = c.connect(ip("::ffff:192.0.2.1")).unwrap();
        assert!(c.connect(ip("192.0.2.1")).is_none());
        // Another client, and the same /64 counted as one.
        let other = c.connect(ip("2001:db8::1")).unwrap();
        let _same64 = c.connect(ip("2001:db8::2")).unwrap();
        assert!(c.connect(ip("2001:db8::3")).is_none());
        drop(a);
        assert!(c.connect(ip("192.0.2.1")).is_some());
        drop((b, other, _same64));
        assert_eq!(c.tracked(), 0);
    }

    #[test]
    fn requests_are_bounded_per_client_across_its_connections() {
        let c = Clients::new(10, 3);
        let one = Arc::new(c.connect(ip("192.0.2.1")).unwrap());
        let two = Arc::new(c.connect(ip("192.0.2.1")).unwrap());
        let held: Vec<_> = [&one, &two, &one].iter().map(|conn| conn.begin_request().unwrap()).collect();
        assert!(two.begin_request().is_none());
        assert!(one.begin_request().is_none());
        // Another client is not affected.
        let elsewhere = Arc::new(c.connect(ip("192.0.2.2")).unwrap());
        assert!(elsewhere.begin_request().is_some());
        drop(held);
        assert!(two.begin_request().is_some());
        // A request may outlive its connection's handle; the entry goes with the last.
        let late = one.begin_request().unwrap();
        drop((one, two, elsewhere));
        assert_eq!(c.tracked(), 1);
        drop(late);
        assert_eq!(c.tracked(), 0);
    }

    #[test]
    fn proxied_requests_count_per_forwarded_client() {
        let c = Clients::new(10, 2);
        let a = c.begin_request(ip("198.51.100.7")).unwrap();
        let b = c.begin_request(ip("198.51.100.7")).unwrap();
        assert!(c.begin_request(ip("198.51.100.7")).is_none());
        let other = c.begin_request(ip("198.51.100.8")).unwrap();
        drop(a);
        let again = c.begin_request(ip("198.51.100.7")).unwrap();
        drop((b, other, again));
        assert_eq!(c.tracked(), 0);
    }
}
