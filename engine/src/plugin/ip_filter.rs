//! [`IpFilter`]: allow and deny lists of networks, checked when a connection is accepted.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{ConnInfo, Plugin, Refusal};

/// Refuses connections by peer address, as rpcx-go's `WhitelistPlugin` and
/// `BlacklistPlugin` do: a peer in a denied network is refused; if any network is allowed,
/// a peer in none of them is refused too. A peer without an address (a Unix socket) passes.
#[derive(Debug, Default, Clone)]
pub struct IpFilter {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

impl IpFilter {
    /// A filter that lets every peer in.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets peers in `net` in (`"10.0.0.0/8"`, `"::1/128"`, or one address); once one
    /// network is allowed, the others are not.
    #[must_use]
    pub fn allow(mut self, net: IpNet) -> Self {
        self.allow.push(net);
        self
    }

    /// Refuses peers in `net` (the deny list wins over the allow list).
    #[must_use]
    pub fn deny(mut self, net: IpNet) -> Self {
        self.deny.push(net);
        self
    }

    /// Whether a peer at `ip` may connect.
    pub fn admits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if self.deny.iter().any(|net| net.contains(&ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|net| net.contains(&ip))
    }
}

/// An IPv4 peer on an IPv6 socket (`::ffff:a.b.c.d`) is matched as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

impl Plugin for IpFilter {
    fn on_accept(&self, conn: &ConnInfo) -> Result<(), Refusal> {
        match conn.peer {
            Some(peer) if !self.admits(peer.ip()) => Err(Refusal::new(
                "ip_filter",
                format!("{} is not allowed", peer.ip()),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().expect("a network")
    }

    #[test]
    fn deny_wins_and_an_allow_list_excludes_the_rest() {
        let ip = |text: &str| -> IpAddr { text.parse().expect("an address") };
        let open = IpFilter::new().deny(net("10.1.0.0/16"));
        assert!(open.admits(ip("10.2.0.1")));
        assert!(!open.admits(ip("10.1.2.3")));
        assert!(
            !open.admits(ip("::ffff:10.1.2.3")),
            "IPv4-mapped peers match as IPv4"
        );
        let closed = IpFilter::new()
            .allow(net("127.0.0.0/8"))
            .allow(net("::1/128"))
            .deny(net("127.0.0.2/32"));
        assert!(closed.admits(ip("127.0.0.1")));
        assert!(closed.admits(ip("::1")));
        assert!(!closed.admits(ip("127.0.0.2")));
        assert!(!closed.admits(ip("192.168.1.1")));
    }
}
