//! Routes computed from the topology.
//!
//! Every router (and every host with more than one interface) gets a host route to each
//! address it can reach, through the interface of a shortest path (fewest hops; ties go to
//! the earlier link in the scenario). Hubs, firewalls and on-path elements forward at the
//! link layer, so paths cross them; routers forward, so paths cross them too; hosts and
//! NATs end a path (addresses behind a NAT are not reachable from outside). One breadth-
//! first search per router: O(routers × (nodes + links)), fine for a few routers and
//! 100,000 hosts.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;

use models::ip::{Prefix, Route, RoutingTable};
use sim::IfaceId;

/// What a node does with packets, as far as routing is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Ends paths; owns addresses.
    Host,
    /// Forwards by IP; paths cross it.
    Router,
    /// Forwards at the link layer; paths cross it.
    Bridge,
    /// Ends paths from outside; owns its public address.
    Nat,
}

/// A node of the routing graph.
#[derive(Clone, Debug)]
pub struct RNode {
    /// What it does.
    pub role: Role,
    /// Addresses it owns.
    pub addresses: Vec<Ipv4Addr>,
    /// Neighbours in interface order: (neighbour index, our interface).
    pub ifaces: Vec<usize>,
}

/// Builds the adjacency from nodes and links (`(a, b)` indices, in scenario order).
pub fn graph(roles: Vec<(Role, Vec<Ipv4Addr>)>, links: &[(usize, usize)]) -> Vec<RNode> {
    let mut nodes: Vec<RNode> = roles
        .into_iter()
        .map(|(role, addresses)| RNode {
            role,
            addresses,
            ifaces: Vec::new(),
        })
        .collect();
    for &(a, b) in links {
        nodes[a].ifaces.push(b);
        nodes[b].ifaces.push(a);
    }
    nodes
}

/// The routing table of node `from`: a host route per reachable address.
pub fn routes_from(nodes: &[RNode], from: usize) -> RoutingTable {
    let mut table = RoutingTable::new();
    let mut first_hop: BTreeMap<usize, IfaceId> = BTreeMap::new();
    let mut queue = VecDeque::new();
    for (i, &n) in nodes[from].ifaces.iter().enumerate() {
        if n != from && !first_hop.contains_key(&n) {
            first_hop.insert(n, IfaceId(i as u32));
            queue.push_back(n);
        }
    }
    let mut seen = vec![false; nodes.len()];
    seen[from] = true;
    for &n in first_hop.keys() {
        seen[n] = true;
    }
    while let Some(n) = queue.pop_front() {
        let iface = first_hop[&n];
        for &addr in &nodes[n].addresses {
            if table.lookup(addr).is_none() {
                table.insert(Prefix::host(addr), Route { iface });
            }
        }
        if matches!(nodes[n].role, Role::Host | Role::Nat) {
            continue;
        }
        for &m in &nodes[n].ifaces {
            if !seen[m] {
                seen[m] = true;
                first_hop.insert(m, iface);
                queue.push_back(m);
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_cross_routers_and_bridges_but_not_hosts_or_nats() {
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        // 0 host h1 - 1 router r1 - 2 hub - 3 router r2 - 4 host h2
        //                  r1 - 5 nat (public 198.51.100.1) - 6 host behind (10.9.0.1)
        let nodes = graph(
            vec![
                (Role::Host, vec![a("10.0.1.1")]),
                (Role::Router, vec![]),
                (Role::Bridge, vec![]),
                (Role::Router, vec![]),
                (Role::Host, vec![a("10.0.2.1")]),
                (Role::Nat, vec![a("198.51.100.1")]),
                (Role::Host, vec![a("10.9.0.1")]),
            ],
            &[(0, 1), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6)],
        );
        let r1 = routes_from(&nodes, 1);
        assert_eq!(r1.lookup(a("10.0.1.1")).map(|r| r.iface), Some(IfaceId(0)));
        assert_eq!(r1.lookup(a("10.0.2.1")).map(|r| r.iface), Some(IfaceId(1)));
        assert_eq!(
            r1.lookup(a("198.51.100.1")).map(|r| r.iface),
            Some(IfaceId(2))
        );
        assert_eq!(
            r1.lookup(a("10.9.0.1")),
            None,
            "addresses behind a NAT are not routed"
        );
        let r2 = routes_from(&nodes, 3);
        assert_eq!(r2.lookup(a("10.0.1.1")).map(|r| r.iface), Some(IfaceId(0)));
    }
}
