//! Longest-prefix-match tables: routing tables, and the host's tunnel selectors.
//!
//! One ordered map per prefix length plus a bitmask of the lengths in use: a lookup tries
//! only the lengths present, longest first, each an O(log n) map lookup. A router with
//! 100,000 host routes therefore does one B-tree lookup per packet, never a scan (a
//! `SmallMap` is a B-tree beyond 16 entries).

use std::net::Ipv4Addr;

use sim::IfaceId;

use super::Prefix;
use crate::small_map::{SmallIndex, SmallMap};

/// Where a route sends packets. Links are point-to-point, so the interface is enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The outgoing interface.
    pub iface: IfaceId,
}

/// A longest-prefix-match table from prefixes to values.
#[derive(Clone, Debug)]
pub struct PrefixTable<V> {
    by_len: SmallMap<u8, SmallIndex<u32, V>>,
    /// Bit `l` is set iff some prefix of length `l` is present (bit 32 for /32).
    lengths: u64,
}

/// A routing table: prefixes to outgoing interfaces.
pub type RoutingTable = PrefixTable<Route>;

impl<V> Default for PrefixTable<V> {
    fn default() -> Self {
        Self {
            by_len: SmallMap::new(),
            lengths: 0,
        }
    }
}

impl<V> PrefixTable<V> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the value for `prefix`.
    pub fn insert(&mut self, prefix: Prefix, route: V) {
        self.by_len
            .get_or_insert_with(prefix.prefix_len(), Default::default)
            .insert(u32::from(prefix.addr()), route);
        self.lengths |= 1 << prefix.prefix_len();
    }

    /// Removes the value for `prefix`; returns it.
    pub fn remove(&mut self, prefix: Prefix) -> Option<V> {
        let table = self.by_len.get_mut(&prefix.prefix_len())?;
        let route = table.remove(&u32::from(prefix.addr()));
        if table.is_empty() {
            self.by_len.remove(&prefix.prefix_len());
            self.lengths &= !(1 << prefix.prefix_len());
        }
        route
    }

    /// The value of the longest prefix containing `dst`.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<&V> {
        let mut lengths = self.lengths;
        while lengths != 0 {
            let len = 63 - lengths.leading_zeros() as u8;
            lengths &= !(1 << len);
            let key = u32::from(dst) & Prefix::mask(len);
            if let Some(value) = self.by_len.get(&len).and_then(|t| t.get(&key)) {
                return Some(value);
            }
        }
        None
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.by_len.values().map(SmallIndex::len).sum()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.lengths == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = RoutingTable::new();
        t.insert(Prefix::DEFAULT, Route { iface: IfaceId(0) });
        t.insert(p("10.0.0.0/8"), Route { iface: IfaceId(1) });
        t.insert(p("10.1.0.0/16"), Route { iface: IfaceId(2) });
        t.insert(p("10.1.2.3"), Route { iface: IfaceId(3) });
        let at = |a: &str| t.lookup(a.parse().unwrap()).map(|r| r.iface.0);
        assert_eq!(at("10.1.2.3"), Some(3));
        assert_eq!(at("10.1.2.4"), Some(2));
        assert_eq!(at("10.2.0.1"), Some(1));
        assert_eq!(at("192.0.2.1"), Some(0));
        let mut t = t.clone();
        assert_eq!(t.remove(Prefix::DEFAULT), Some(Route { iface: IfaceId(0) }));
        assert_eq!(t.lookup("192.0.2.1".parse().unwrap()), None);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn many_host_routes() {
        let mut t = RoutingTable::new();
        for i in 0..100_000u32 {
            t.insert(
                Prefix::host(Ipv4Addr::from(0x0a00_0000 + i)),
                Route { iface: IfaceId(i) },
            );
        }
        assert_eq!(
            t.lookup(Ipv4Addr::from(0x0a00_0000 + 77_777)).copied(),
            Some(Route {
                iface: IfaceId(77_777)
            })
        );
        assert_eq!(t.lookup(Ipv4Addr::from(0x0b00_0000)), None);
    }
}
