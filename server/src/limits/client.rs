//! Who the client is, for per-client limits: the TCP peer, or the address a trusted
//! reverse proxy reports in `X-Forwarded-For`, and the key a limit counts it under.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// The reverse proxies whose `X-Forwarded-For` entries are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Proxies from CIDRs (or bare addresses); the position of the first that does not
    /// parse on error.
    pub fn parse<S: AsRef<str>>(cidrs: &[S]) -> Result<TrustedProxies, usize> {
        let nets = cidrs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let s = s.as_ref().trim();
                s.parse::<IpNet>().or_else(|_| s.parse::<IpAddr>().map(IpNet::from)).map_err(|_| i)
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies(nets))
    }

    /// Whether `ip` is one of the proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`: when the peer is a trusted proxy, the `X-Forwarded-For`
    /// hops (`header_values`, in header order) are read right to left, each trusted proxy
    /// skipped; the first untrusted hop is the client. Entries to its left were written
    /// by that client and prove nothing. A hop that is not a bare IP address (a port, a
    /// bracketed IPv6, `unknown`, an empty entry) ends the walk, and the peer is used:
    /// skipping it would let the client choose its address.
    pub fn client<'a>(&self, peer: IpAddr, header_values: impl DoubleEndedIterator<Item = &'a str>) -> IpAddr {
        if !self.trusts(peer) {
            return canonical(peer);
        }
        let mut hops: Vec<&str> = Vec::new();
        for value in header_values {
            hops.extend(value.split(','));
        }
        let mut client = canonical(peer);
        for hop in hops.iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => client = canonical(ip),
                Ok(ip) => return canonical(ip),
                Err(_) => return canonical(peer),
            }
        }
        // Every hop was a trusted proxy: the leftmost is as close to the client as we know.
        client
    }
}

/// IPv4-mapped IPv6 addresses (a dual-stack socket's IPv4 peers) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// What a per-client limit counts `ip` under: an IPv4 address, or an IPv6 address's /64
/// (one subscriber's network gets a /64 or more; per address it would be unlimited).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::parse(&["10.0.0.0/8", "::1", "127.0.0.1/32"]).unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_writes() {
        let p = proxies();
        assert_eq!(p.client(ip("203.0.113.9"), ["1.2.3.4"].into_iter()), ip("203.0.113.9"));
        assert_eq!(TrustedProxies::default().client(ip("10.1.1.1"), ["1.2.3.4"].into_iter()), ip("10.1.1.1"));
    }

    #[test]
    fn read_right_to_left_skipping_trusted_proxies() {
        let p = proxies();
        // The client wrote 6.6.6.6 itself; the proxy appended what it saw.
        assert_eq!(p.client(ip("127.0.0.1"), ["6.6.6.6, 198.51.100.7"].into_iter()), ip("198.51.100.7"));
        // Two proxies in a row, over two header lines.
        assert_eq!(p.client(ip("127.0.0.1"), ["6.6.6.6, 198.51.100.7", "10.2.3.4"].into_iter()), ip("198.51.100.7"));
        // Only proxies: the leftmost.
        assert_eq!(p.client(ip("127.0.0.1"), ["10.9.9.9, 10.2.3.4"].into_iter()), ip("10.9.9.9"));
        // No header: the peer.
        assert_eq!(p.client(ip("127.0.0.1"), std::iter::empty()), ip("127.0.0.1"));
    }

    #[test]
    fn an_unparsable_hop_ends_the_walk_at_the_peer() {
        let p = proxies();
        for xff in ["6.6.6.6, 127.0.0.1:5555", "6.6.6.6, unknown", "6.6.6.6, [::1]", "6.6.6.6,", "6.6.6.6, 10.2.3.1, bogus"] {
            assert_eq!(p.client(ip("127.0.0.1"), [xff].into_iter()), ip("127.0.0.1"), "{xff}");
        }
        // The spoof that once passed: the last hop unparsable, an earlier one attacker-written.
        assert_eq!(p.client(ip("127.0.0.1"), ["10.2.3.1, 127.0.0.1:5555"].into_iter()), ip("127.0.0.1"));
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), client_key(ip("2001:db8:1:2:ffff:1:2:3")));
        assert_ne!(client_key(ip("2001:db8:1:2::1")), client_key(ip("2001:db8:1:3::1")));
        assert_eq!(client_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(client_key(ip("192.0.2.1")), ip("192.0.2.1"));
        assert!(proxies().trusts(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn bad_cidrs_are_named_by_position() {
        assert_eq!(TrustedProxies::parse(&["10.0.0.0/8", "10.0.0.0/33"]).unwrap_err(), 1);
        assert_eq!(TrustedProxies::parse(&["nonsense"]).unwrap_err(), 0);
        assert!(TrustedProxies::parse(&["fd00::/8", "192.168.1.1"]).is_ok());
    }
}
