//! The expanded, checked topology of a scenario: groups (`count`) turned into instances
//! with their uplinks, every reference resolved, interface numbers and routes worked out.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use models::ip::{Route, RoutingTable};
use sim::{IfaceId, SimDuration};

use super::{ActionSpec, AppSpec, LinkSpec, NodeSpec, Scenario, TcpSpec};
use crate::routes::{self, Role};

/// What `build` needs: nodes and links in engine order, and each node's routes.
#[derive(Clone, Debug)]
pub struct Topology {
    /// Every node, groups expanded (instances have no `count`/`uplink` and one address).
    pub nodes: Vec<NodeSpec>,
    /// Every link, uplinks of groups after the listed links.
    pub links: Vec<LinkSpec>,
    /// Routes of each node that uses them (hosts and routers), by node index.
    pub routes: Vec<RoutingTable>,
    /// Each node's links, by interface number.
    pub ifaces: Vec<Vec<String>>,
    /// Cluster members by node name: (the cluster's switch node, member index).
    pub members: BTreeMap<String, (String, usize)>,
}

impl Topology {
    /// The interface of node `node` (by index) on link `link`.
    pub fn iface(&self, node: usize, link: &str) -> Option<IfaceId> {
        self.ifaces[node]
            .iter()
            .position(|l| l == link)
            .map(|i| IfaceId(i as u32))
    }
}

/// Expands and checks `s`; the error names the entry and the key.
pub(super) fn expand(s: &Scenario) -> Result<Topology, String> {
    if s.duration.0 == SimDuration::ZERO {
        return Err("duration: must be longer than 0s".into());
    }
    s.tcp.config().map_err(|e| format!("[tcp]: {e}"))?;
    let (nodes, mut links, members) = expand_groups(s)?;
    let mut index = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if index.insert(n.name().to_owned(), i).is_some() {
            return Err(format!("nodes: duplicate node name {:?}", n.name()));
        }
        check_node(n, &s.tcp).map_err(|e| format!("nodes ({}): {e}", n.name()))?;
    }
    links.extend(cluster_links(s));
    let mut link_names = BTreeSet::new();
    let mut ends = Vec::with_capacity(links.len());
    // Interfaces per node, in link order: (link name) per interface.
    let mut ifaces: Vec<Vec<String>> = vec![Vec::new(); nodes.len()];
    for (i, l) in links.iter().enumerate() {
        let ctx = |e: String| format!("links[{i}] ({}): {e}", l.name());
        let a = *index
            .get(&l.a)
            .ok_or_else(|| ctx(undefined("node", &l.a, index.keys())))?;
        let b = *index
            .get(&l.b)
            .ok_or_else(|| ctx(undefined("node", &l.b, index.keys())))?;
        if a == b {
            return Err(ctx("a link needs two different nodes".into()));
        }
        l.dir_params().map_err(ctx)?;
        if !link_names.insert(l.name()) {
            return Err(ctx(
                "duplicate link name (set `name` to tell them apart)".into()
            ));
        }
        ifaces[a].push(l.name());
        ifaces[b].push(l.name());
        ends.push((a, b));
    }
    let roles = nodes
        .iter()
        .zip(&ifaces)
        .map(|(n, f)| role(n, f.len()))
        .collect::<Result<Vec<_>, _>>()?;
    let graph = routes::graph(roles, &ends);
    let mut tables = Vec::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        let mut table = match n {
            NodeSpec::Router { .. } => routes::routes_from(&graph, i),
            NodeSpec::Host { .. } if ifaces[i].len() > 1 => routes::routes_from(&graph, i),
            _ => RoutingTable::new(),
        };
        let statics = match n {
            NodeSpec::Host { routes, .. } | NodeSpec::Router { routes, .. } => routes.as_slice(),
            _ => &[],
        };
        for r in statics {
            let ctx = |e: String| format!("nodes ({}): routes: {e}", n.name());
            let prefix = r.parsed().map_err(ctx)?;
            let iface = ifaces[i].iter().position(|l| *l == r.link).ok_or_else(|| {
                ctx(format!(
                    "link {:?} is not one of this node's links ({})",
                    r.link,
                    ifaces[i].join(", ")
                ))
            })?;
            table.insert(
                prefix,
                Route {
                    iface: IfaceId(iface as u32),
                },
            );
        }
        tables.push(table);
    }
    for (i, n) in nodes.iter().enumerate() {
        check_links(n, &ifaces[i]).map_err(|e| format!("nodes ({}): {e}", n.name()))?;
    }
    check_actions(s, &nodes, &index, &link_names)?;
    Ok(Topology {
        nodes,
        links,
        routes: tables,
        ifaces,
        members,
    })
}

fn undefined<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a String>) -> String {
    let list: Vec<&str> = known.map(String::as_str).take(20).collect();
    format!(
        "{what} {name:?} is not defined; defined: {}",
        list.join(", ")
    )
}

/// Nodes, generated links, and cluster members by name.
type Expanded = (
    Vec<NodeSpec>,
    Vec<LinkSpec>,
    BTreeMap<String, (String, usize)>,
);

/// Turns every `count = N` host into N instances and their uplinks, and every cluster
/// into its switch, its members, and a link per member and side (the cluster's links).
fn expand_groups(s: &Scenario) -> Result<Expanded, String> {
    let mut nodes = Vec::with_capacity(s.nodes.len());
    let mut uplinks = Vec::new();
    let mut members = BTreeMap::new();
    for n in &s.nodes {
        if let NodeSpec::Cluster(c) = n {
            let name = &c.name;
            c.policy().map_err(|e| format!("nodes ({name}): {e}"))?;
            let sides = s
                .links
                .iter()
                .filter(|l| l.a == *name || l.b == *name)
                .count();
            if sides == 0 || sides != c.addresses.len() {
                return Err(format!(
                    "nodes ({name}): a cluster needs one address per link: it has {sides} links and {} addresses",
                    c.addresses.len()
                ));
            }
            // One switch per side, so each side is its own segment for routing.
            for k in 0..sides {
                let mut switch = c.clone();
                switch.cluster = name.clone();
                switch.name = cluster_side(name, k);
                nodes.push(NodeSpec::Cluster(switch));
            }
            for m in 0..c.members {
                let inst = format!("{name}-{m}");
                for k in 0..sides {
                    uplinks.push(LinkSpec {
                        name: Some(format!("{inst}-side{k}")),
                        a: cluster_side(name, k),
                        b: inst.clone(),
                        params: super::DirSpec::default(),
                        reverse: None,
                    });
                }
                let apps = instance_apps(&c.apps, 0).map_err(|e| format!("nodes ({inst}): {e}"))?;
                members.insert(inst.clone(), (name.clone(), m as usize));
                nodes.push(NodeSpec::Host {
                    name: inst,
                    addresses: c.addresses.clone(),
                    address: None,
                    count: None,
                    uplink: None,
                    routes: Vec::new(),
                    forwarding: c.forwarding,
                    apps,
                });
            }
            continue;
        }
        let NodeSpec::Host {
            name,
            addresses,
            address,
            count,
            uplink,
            routes,
            forwarding,
            apps,
        } = n
        else {
            nodes.push(n.clone());
            continue;
        };
        let Some(count) = count else {
            if uplink.is_some() {
                return Err(format!("nodes ({name}): uplink needs count"));
            }
            let addresses = match (address, addresses.is_empty()) {
                (Some(_), false) => {
                    return Err(format!(
                        "nodes ({name}): set address or addresses, not both"
                    ));
                }
                (Some(a), true) => vec![*a],
                (None, _) => addresses.clone(),
            };
            let apps = instance_apps(apps, 0).map_err(|e| format!("nodes ({name}): {e}"))?;
            nodes.push(NodeSpec::Host {
                name: name.clone(),
                addresses,
                address: None,
                count: None,
                uplink: None,
                routes: routes.clone(),
                forwarding: *forwarding,
                apps,
            });
            continue;
        };
        let base = address.ok_or_else(|| {
            format!("nodes ({name}): a group (count) needs `address`, its first address")
        })?;
        for i in 0..*count {
            let inst = format!("{name}-{i}");
            let addr = u32::from(base)
                .checked_add(i)
                .map(Ipv4Addr::from)
                .ok_or_else(|| {
                    format!("nodes ({name}): address + count runs past 255.255.255.255")
                })?;
            if let Some(up) = uplink {
                uplinks.push(up.link(format!("{inst}-{}", up.to), &inst));
            }
            let apps = instance_apps(apps, i).map_err(|e| format!("nodes ({inst}): {e}"))?;
            nodes.push(NodeSpec::Host {
                name: inst,
                addresses: vec![addr],
                address: None,
                count: None,
                uplink: None,
                routes: routes.clone(),
                forwarding: *forwarding,
                apps,
            });
        }
    }
    Ok((nodes, uplinks, members))
}

/// The switch of side `k` of cluster `name`.
fn cluster_side(name: &str, k: usize) -> String {
    if k == 0 {
        name.to_owned()
    } else {
        format!("{name}-side{k}")
    }
}

/// The scenario's links, the `k`-th link of each cluster attached to its side-`k` switch
/// (names kept).
fn cluster_links(s: &Scenario) -> Vec<LinkSpec> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    s.links
        .iter()
        .map(|l| {
            let mut l = l.clone();
            let name = l.name();
            for n in &s.nodes {
                let NodeSpec::Cluster(c) = n else { continue };
                for end in [&mut l.a, &mut l.b] {
                    if *end == c.name {
                        let k = seen.entry(&c.name).or_insert(0);
                        *end = cluster_side(&c.name, *k);
                        *k += 1;
                    }
                }
            }
            l.name = Some(name);
            l
        })
        .collect()
}

fn instance_apps(apps: &[AppSpec], i: u32) -> Result<Vec<AppSpec>, String> {
    apps.iter().map(|a| a.for_instance(i)).collect()
}

fn check_node(n: &NodeSpec, tcp: &TcpSpec) -> Result<(), String> {
    match n {
        NodeSpec::UdpSource {
            size,
            on,
            off,
            rate,
            ..
        } => {
            if *size < models::traffic::MIN_PACKET || *size > 65_535 {
                return Err(format!(
                    "size: must be between {} and 65535 bytes, got {size}",
                    models::traffic::MIN_PACKET
                ));
            }
            if on.is_some() != off.is_some() {
                return Err("set both on and off, or neither".into());
            }
            if rate.0 == 0 {
                return Err("rate: must be above 0bps".into());
            }
        }
        NodeSpec::Host {
            apps, addresses, ..
        } => {
            for (i, app) in apps.iter().enumerate() {
                if let AppSpec::Ike(ike) = app {
                    ike.config(addresses.first().copied())
                        .map_err(|e| format!("apps[{i}]: {e}"))?;
                }
                if let Some(own) = app.tcp() {
                    own.over(tcp)
                        .config()
                        .map_err(|e| format!("apps[{i}]: {e}"))?;
                }
                if let AppSpec::UdpPing { interval, size, .. } = app
                    && (interval.0 == SimDuration::ZERO || !(16..=65_000).contains(size))
                {
                    return Err(format!(
                        "apps[{i}]: udp-ping needs interval > 0s and size from 16 to 65000 bytes"
                    ));
                }
                if let AppSpec::Request {
                    request_bytes,
                    response_bytes,
                    ..
                } = app
                    && (request_bytes.0 < 8
                        || request_bytes.0 > u64::from(u32::MAX)
                        || response_bytes.0 > u64::from(u32::MAX))
                {
                    return Err(format!(
                        "apps[{i}]: request_bytes must be 8 B to 4 GiB and response_bytes at most 4 GiB"
                    ));
                }
            }
        }
        NodeSpec::Nat(nat) => {
            nat.config(IfaceId(0))?;
        }
        NodeSpec::Firewall { default, rules, .. } => {
            super::firewall_config(*default, rules)?;
        }
        NodeSpec::Router { .. }
        | NodeSpec::UdpSink { .. }
        | NodeSpec::Hub { .. }
        | NodeSpec::OnPath { .. }
        | NodeSpec::Cluster(_) => {}
    }
    Ok(())
}

/// Checks what a node needs of its links (`links`: its link names by interface).
fn check_links(n: &NodeSpec, links: &[String]) -> Result<(), String> {
    match n {
        NodeSpec::Firewall { .. } | NodeSpec::OnPath { .. } if links.len() != 2 => Err(format!(
            "sits between exactly two links, has {} ({})",
            links.len(),
            links.join(", ")
        )),
        NodeSpec::Nat(nat) => {
            if links.len() < 2 {
                return Err(format!(
                    "needs an outside link and at least one inside link, has {}",
                    links.len()
                ));
            }
            match &nat.outside {
                Some(o) if !links.contains(o) => Err(format!(
                    "outside: {o:?} is not one of its links ({})",
                    links.join(", ")
                )),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// The routing role and owned addresses of a node with `links` interfaces.
fn role(n: &NodeSpec, links: usize) -> Result<(Role, Vec<Ipv4Addr>), String> {
    Ok(match n {
        NodeSpec::Host {
            name, addresses, ..
        } => {
            if addresses.len() != links {
                return Err(format!(
                    "nodes ({name}): a host needs one address per link: it has {} links and {} addresses",
                    links,
                    addresses.len()
                ));
            }
            (Role::Host, addresses.clone())
        }
        NodeSpec::Router { .. } => (Role::Router, Vec::new()),
        NodeSpec::Hub { .. }
        | NodeSpec::Firewall { .. }
        | NodeSpec::OnPath { .. }
        | NodeSpec::Cluster(_) => (Role::Bridge, Vec::new()),
        NodeSpec::Nat(nat) => (Role::Nat, vec![nat.public_address]),
        NodeSpec::UdpSink { address, .. } => (Role::Host, vec![*address]),
        NodeSpec::UdpSource { src, .. } => (Role::Host, vec![*src.ip()]),
    })
}

fn check_actions(
    s: &Scenario,
    specs: &[NodeSpec],
    nodes: &BTreeMap<String, usize>,
    links: &BTreeSet<String>,
) -> Result<(), String> {
    let of_kind = |node: &str, want: &str, ok: fn(&NodeSpec) -> bool| -> Result<(), String> {
        let i = *nodes
            .get(node)
            .ok_or_else(|| undefined("node", node, nodes.keys()))?;
        if ok(&specs[i]) {
            Ok(())
        } else {
            Err(format!("node {node:?} is not {want}"))
        }
    };
    for (i, a) in s.actions.iter().enumerate() {
        let ctx = |e: String| format!("actions[{i}]: {e}");
        match a {
            ActionSpec::LinkDown { link, .. }
            | ActionSpec::LinkUp { link, .. }
            | ActionSpec::SetLink { link, .. } => {
                if !links.contains(link) {
                    return Err(ctx(undefined("link", link, links.iter())));
                }
            }
            ActionSpec::Crash { node, .. } | ActionSpec::Restart { node, .. } => {
                of_kind(node, "a node", |_| true).map_err(ctx)?;
            }
            ActionSpec::IkeDelete { node, .. } | ActionSpec::IkeRekey { node, .. } => {
                of_kind(node, "a host running ike", |n| {
                    matches!(n, NodeSpec::Host { apps, .. } if apps.iter().any(|a| matches!(a, AppSpec::Ike(_))))
                })
                .map_err(ctx)?;
            }
            ActionSpec::MobikeMove { node, link, .. } => {
                of_kind(node, "a host running an ike initiator", |n| {
                    matches!(n, NodeSpec::Host { apps, .. } if apps.iter().any(|a| matches!(a, AppSpec::Ike(i) if i.role == super::IkeRole::Initiator)))
                })
                .map_err(ctx)?;
                if !links.contains(link) {
                    return Err(ctx(undefined("link", link, links.iter())));
                }
            }
            ActionSpec::NatReboot { node, .. } => {
                of_kind(node, "a nat", |n| matches!(n, NodeSpec::Nat(_))).map_err(ctx)?;
            }
            ActionSpec::OnPathDrop { node, filter, .. }
            | ActionSpec::OnPathDelay { node, filter, .. }
            | ActionSpec::OnPathReset { node, filter, .. } => {
                of_kind(node, "an on-path node", |n| {
                    matches!(n, NodeSpec::OnPath { .. })
                })
                .map_err(ctx)?;
                filter.filter().map_err(|e| ctx(format!("match: {e}")))?;
            }
            ActionSpec::OnPathForgeInitError { node, .. } => {
                of_kind(node, "an on-path node", |n| {
                    matches!(n, NodeSpec::OnPath { .. })
                })
                .map_err(ctx)?;
            }
        }
    }
    for (key, list) in [("capture", &s.capture), ("queue_series", &s.queue_series)] {
        for c in list {
            if !links.contains(c) {
                return Err(format!("{key}: {}", undefined("link", c, links.iter())));
            }
        }
    }
    Ok(())
}
