//! Longest-prefix-match tables: routing tables, and the host's tunnel selectors.
//!
//! A small table (a host's default route, a client's one tunnel) is one short vector,
//! longest prefix first, scanned in order: a lookup reads one allocation, where the
//! per-length maps below read two per length. At 100,000 clients every table of a client
//! is cold when its next packet leaves (BENCHMARKS.md, "Session 7"), so each allocation
//! read is a cache miss.
//!
//! Beyond [`FEW_MAX`] entries: one map per prefix length plus a bitmask of the lengths in
//! use; a lookup tries only the lengths present, longest first, each one map lookup. A
//! router with 100,000 host routes therefore does one hash lookup per packet, never a
//! scan.

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

/// Entries a table keeps in its scanned vector; one more turns it into per-length maps.
pub const FEW_MAX: usize = 8;

/// A longest-prefix-match table from prefixes to values.
#[derive(Clone, Debug)]
pub struct PrefixTable<V>(Repr<V>);

#[derive(Clone, Debug)]
enum Repr<V> {
    /// (length, network, value), longest prefix first, then by network; unique prefixes,
    /// at most [`FEW_MAX`], capacity equal to length.
    Few(Vec<(u8, u32, V)>),
    /// Once a table has grown past [`FEW_MAX`] (it stays so when it shrinks again).
    Many {
        by_len: SmallMap<u8, SmallIndex<u32, V>>,
        /// Bit `l` is set iff some prefix of length `l` is present (bit 32 for /32).
        lengths: u64,
    },
}

/// A routing table: prefixes to outgoing interfaces.
pub type RoutingTable = PrefixTable<Route>;

impl<V> Default for PrefixTable<V> {
    fn default() -> Self {
        Self(Repr::Few(Vec::new()))
    }
}

impl<V> PrefixTable<V> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the value for `prefix`.
    pub fn insert(&mut self, prefix: Prefix, route: V) {
        let (len, net) = (prefix.prefix_len(), u32::from(prefix.addr()));
        match &mut self.0 {
            Repr::Few(few) => match find(few, len, net) {
                Ok(i) => few[i].2 = route,
                Err(i) if few.len() < FEW_MAX => {
                    few.reserve_exact(1);
                    few.insert(i, (len, net, route));
                }
                Err(_) => {
                    let (mut by_len, mut lengths) = (SmallMap::new(), 0);
                    for (l, n, v) in std::mem::take(few).into_iter().chain([(len, net, route)]) {
                        insert_by_len(&mut by_len, &mut lengths, l, n, v);
                    }
                    self.0 = Repr::Many { by_len, lengths };
                }
            },
            Repr::Many { by_len, lengths } => insert_by_len(by_len, lengths, len, net, route),
        }
    }

    /// Removes the value for `prefix`; returns it.
    pub fn remove(&mut self, prefix: Prefix) -> Option<V> {
        let (len, net) = (prefix.prefix_len(), u32::from(prefix.addr()));
        match &mut self.0 {
            Repr::Few(few) => {
                let (_, _, route) = few.remove(find(few, len, net).ok()?);
                few.shrink_to_fit();
                Some(route)
            }
            Repr::Many { by_len, lengths } => {
                let table = by_len.get_mut(&len)?;
                let route = table.remove(&net);
                if table.is_empty() {
                    by_len.remove(&len);
                    *lengths &= !(1 << len);
                }
                route
            }
        }
    }

    /// The value of the longest prefix containing `dst`.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<&V> {
        let dst = u32::from(dst);
        match &self.0 {
            Repr::Few(few) => few
                .iter()
                .find(|&&(len, net, _)| dst & Prefix::mask(len) == net)
                .map(|(_, _, v)| v),
            Repr::Many { by_len, lengths } => {
                let mut lengths = *lengths;
                while lengths != 0 {
                    let len = 63 - lengths.leading_zeros() as u8;
                    lengths &= !(1 << len);
                    let key = dst & Prefix::mask(len);
                    if let Some(value) = by_len.get(&len).and_then(|t| t.get(&key)) {
                        return Some(value);
                    }
                }
                None
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Few(few) => few.len(),
            Repr::Many { by_len, .. } => by_len.values().map(SmallIndex::len).sum(),
        }
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Repr::Few(few) => few.is_empty(),
            Repr::Many { lengths, .. } => *lengths == 0,
        }
    }
}

/// Where prefix `len`/`net` is, or would go, in [`Repr::Few`]'s order.
fn find<V>(few: &[(u8, u32, V)], len: u8, net: u32) -> Result<usize, usize> {
    few.binary_search_by(|&(l, n, _)| len.cmp(&l).then(n.cmp(&net)))
}

/// Inserts into the per-length maps of [`Repr::Many`].
fn insert_by_len<V>(
    by_len: &mut SmallMap<u8, SmallIndex<u32, V>>,
    lengths: &mut u64,
    len: u8,
    net: u32,
    route: V,
) {
    by_len
        .get_or_insert_with(len, Default::default)
        .insert(net, route);
    *lengths |= 1 << len;
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
    fn few_and_many_agree() {
        // The same prefixes in a table that stays small and in one that grew past
        // FEW_MAX: every lookup, replacement and removal agrees.
        let prefixes = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.0/24",
            "10.1.2.3/32",
            "10.2.0.0/16",
            "192.0.2.0/24",
            "192.0.2.128/25",
        ];
        let mut few = PrefixTable::new();
        let mut many = PrefixTable::new();
        for extra in 0..FEW_MAX as u32 {
            many.insert(Prefix::host(Ipv4Addr::from(0xc633_6400 + extra)), 99);
        }
        for (i, s) in prefixes.iter().enumerate() {
            few.insert(p(s), i);
            many.insert(p(s), i);
        }
        assert!(matches!(few.0, Repr::Few(_)) && matches!(many.0, Repr::Many { .. }));
        few.insert(p("10.1.0.0/16"), 20);
        many.insert(p("10.1.0.0/16"), 20);
        assert_eq!(few.remove(p("10.1.2.0/24")), Some(3));
        assert_eq!(many.remove(p("10.1.2.0/24")), Some(3));
        assert_eq!(few.remove(p("10.9.0.0/16")), None);
        assert_eq!(few.len() + FEW_MAX, many.len());
        for probe in [
            "10.1.2.3",
            "10.1.2.4",
            "10.1.9.9",
            "10.2.3.4",
            "10.3.0.1",
            "192.0.2.200",
            "192.0.2.1",
            "8.8.8.8",
        ] {
            let a: Ipv4Addr = probe.parse().unwrap();
            assert_eq!(few.lookup(a), many.lookup(a), "{probe}");
        }
        assert_eq!(few.lookup("10.1.2.4".parse().unwrap()), Some(&20));
        assert_eq!(few.lookup("192.0.2.200".parse().unwrap()), Some(&7));
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
