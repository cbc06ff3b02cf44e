//! The expanded, checked topology of a scenario: groups (`count`) turned into instances
//! with their uplinks, every reference resolved, interface numbers and routes worked out.
//!
//! The instances of a group share the group's spec, and the members of a cluster share
//! one host spec: a node keeps that spec and its index, and what differs between
//! instances (name, address, `+i` endpoints, the uplink's name) is derived when needed. A
//! copy of the spec, the uplink and the interface names per instance was ~2 kB of every
//! client of the scale scenario, kept for the whole run.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use models::ip::{Route, RoutingTable};
use sim::{IfaceId, LinkParams, SimDuration};

use super::{ActionSpec, AppSpec, LinkSpec, NodeSpec, Scenario, StaticRoute, TcpSpec, Uplink};
use crate::routes::{self, Role};

/// What `build` needs: nodes and links in engine order, and each node's routes and
/// interfaces.
#[derive(Debug)]
pub struct Topology {
    /// Every node, groups and clusters expanded.
    pub nodes: Vec<TopoNode>,
    /// Every link: those made by expansion (cluster members' links and groups' uplinks, in
    /// node order) first, then the listed ones.
    pub links: Vec<TopoLink>,
    /// Routes of the nodes that have any (routers, hosts with several links or static
    /// routes), by node index; a client with one link has none.
    routes: BTreeMap<usize, RoutingTable>,
    /// The link of every interface, node after node in interface order: node `i`'s
    /// interfaces are `iface_links[iface_start[i]..iface_start[i + 1]]`.
    iface_links: Vec<u32>,
    /// Where each node's interfaces start in `iface_links`, then the total.
    iface_start: Vec<u32>,
    /// Cluster members by node name: (the cluster's switch node, member index).
    pub members: BTreeMap<String, (String, usize)>,
}

impl Topology {
    /// The interface of node `node` (by index) on link `link`.
    pub fn iface(&self, node: usize, link: &str) -> Option<IfaceId> {
        self.iface_links(node)
            .iter()
            .position(|&l| self.link_name(l as usize) == link)
            .map(|i| IfaceId(i as u32))
    }

    /// How many interfaces node `node` (by index) has.
    pub fn iface_count(&self, node: usize) -> usize {
        self.iface_links(node).len()
    }

    /// The routes of node `node` (by index), if it has any.
    pub fn routes(&self, node: usize) -> Option<&RoutingTable> {
        self.routes.get(&node)
    }

    /// The name of link `link` (by index).
    pub fn link_name(&self, link: usize) -> Cow<'_, str> {
        let l = &self.links[link];
        match &l.name {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(format!(
                "{}-{}",
                self.nodes[l.a].name(),
                self.nodes[l.b].name()
            )),
        }
    }

    /// The links (by index) of node `node`'s interfaces, in interface order.
    fn iface_links(&self, node: usize) -> &[u32] {
        let (from, to) = (self.iface_start[node], self.iface_start[node + 1]);
        &self.iface_links[from as usize..to as usize]
    }

    /// The names of node `node`'s links, in interface order (for checks and messages).
    fn iface_names(&self, node: usize) -> Vec<String> {
        self.iface_links(node)
            .iter()
            .map(|&l| self.link_name(l as usize).into_owned())
            .collect()
    }
}

/// A node of the expanded topology.
#[derive(Clone, Debug)]
pub enum TopoNode {
    /// A node on its own, as used (a host's `address` made its `addresses`, `+i`
    /// endpoints resolved for instance 0).
    Single(Arc<NodeSpec>),
    /// Instance `index` of a group (`count`): named `<name>-<index>`, its address the
    /// group's plus `index`, `+i` endpoints resolved for `index`.
    Instance {
        /// The group, shared by its instances.
        group: Arc<SharedHost>,
        /// Which instance.
        index: u32,
    },
    /// Member `index` of a cluster: named `<cluster>-<index>`, with the cluster's
    /// addresses and applications (`+i` endpoints resolved for instance 0).
    Member {
        /// The cluster's member host, shared by its members.
        cluster: Arc<SharedHost>,
        /// Which member.
        index: u32,
    },
}

/// A host spec shared by several nodes: the instances of a group or the members of a
/// cluster.
#[derive(Debug)]
pub struct SharedHost {
    /// The group's or the cluster's name; node `i` is `<name>-<i>`.
    name: String,
    /// A group's first address, or a cluster's (virtual) addresses.
    addresses: Vec<Ipv4Addr>,
    /// Static routes.
    routes: Vec<StaticRoute>,
    /// Whether the hosts forward.
    forwarding: bool,
    /// The applications as written (`+i` endpoints unresolved).
    apps: Vec<AppSpec>,
}

impl SharedHost {
    /// The spec of node `name` with `addresses`, its `+i` endpoints resolved for instance
    /// `i` (which expansion has checked).
    fn host(&self, name: String, addresses: Vec<Ipv4Addr>, i: u32) -> NodeSpec {
        NodeSpec::Host {
            name,
            addresses,
            address: None,
            count: None,
            uplink: None,
            routes: self.routes.clone(),
            forwarding: self.forwarding,
            apps: instance_apps(&self.apps, i).expect("validated: the instance's endpoints"),
        }
    }
}

impl TopoNode {
    /// The node's name.
    pub fn name(&self) -> Cow<'_, str> {
        match self {
            Self::Single(spec) => Cow::Borrowed(spec.name()),
            Self::Instance { group: h, index } | Self::Member { cluster: h, index } => {
                Cow::Owned(format!("{}-{index}", h.name))
            }
        }
    }

    /// The node's spec: an instance's or a member's is made from the shared one.
    pub fn spec(&self) -> Cow<'_, NodeSpec> {
        match self {
            Self::Single(spec) => Cow::Borrowed(spec),
            Self::Instance { group, index } => {
                let addr = Ipv4Addr::from(u32::from(group.addresses[0]) + index);
                Cow::Owned(group.host(self.name().into_owned(), vec![addr], *index))
            }
            Self::Member { cluster, .. } => {
                let addresses = cluster.addresses.clone();
                Cow::Owned(cluster.host(self.name().into_owned(), addresses, 0))
            }
        }
    }
}

/// A link of the expanded topology.
#[derive(Clone, Debug)]
pub struct TopoLink {
    /// The link's name; `None` for a group's uplink, called `<a>-<b>` (derived when
    /// needed).
    name: Option<String>,
    /// End `a`, by node index.
    pub a: usize,
    /// End `b`, by node index.
    pub b: usize,
    /// Parameters of the `a`-to-`b` and `b`-to-`a` directions (shared by a group's
    /// uplinks).
    pub params: Arc<(LinkParams, LinkParams)>,
}

/// Expands and checks `s`; the error names the entry and the key.
pub(super) fn expand(s: &Scenario) -> Result<Topology, String> {
    if s.duration.0 == SimDuration::ZERO {
        return Err("duration: must be longer than 0s".into());
    }
    s.tcp.config().map_err(|e| format!("[tcp]: {e}"))?;
    let (nodes, made, members) = expand_groups(s)?;
    let mut index = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        let name = n.name();
        if index.insert(name.clone().into_owned(), i).is_some() {
            return Err(format!("nodes: duplicate node name {name:?}"));
        }
        check_node(&n.spec(), &s.tcp).map_err(|e| format!("nodes ({name}): {e}"))?;
    }
    let listed = cluster_links(s);
    let pending = made
        .iter()
        .map(|m| m.pending(&nodes))
        .chain(listed.iter().map(|l| Pending {
            name: l.name(),
            own_name: true,
            a: Cow::Borrowed(&l.a),
            b: &l.b,
            params: l.dir_params().map(Arc::new),
        }));
    let mut link_names = BTreeSet::new();
    let mut links = Vec::with_capacity(made.len() + listed.len());
    for (i, l) in pending.enumerate() {
        let ctx = |e: String| format!("links[{i}] ({}): {e}", l.name);
        let a = *index
            .get(&*l.a)
            .ok_or_else(|| ctx(undefined("node", &l.a, index.keys())))?;
        let b = *index
            .get(l.b)
            .ok_or_else(|| ctx(undefined("node", l.b, index.keys())))?;
        if a == b {
            return Err(ctx("a link needs two different nodes".into()));
        }
        let params = l.params.map_err(ctx)?;
        if link_names.contains(&l.name) {
            return Err(ctx(
                "duplicate link name (set `name` to tell them apart)".into()
            ));
        }
        let name = l.own_name.then(|| l.name.clone());
        link_names.insert(l.name);
        links.push(TopoLink { name, a, b, params });
    }
    let (iface_links, iface_start) = interfaces(nodes.len(), &links);
    let mut topo = Topology {
        nodes,
        links,
        routes: BTreeMap::new(),
        iface_links,
        iface_start,
        members,
    };
    let roles = topo
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| role(&n.spec(), topo.iface_links(i).len()))
        .collect::<Result<Vec<_>, _>>()?;
    let ends: Vec<(usize, usize)> = topo.links.iter().map(|l| (l.a, l.b)).collect();
    let graph = routes::graph(roles, &ends);
    for (i, n) in topo.nodes.iter().enumerate() {
        let spec = n.spec();
        let mut table = match &*spec {
            NodeSpec::Router { .. } => routes::routes_from(&graph, i),
            NodeSpec::Host { .. } if topo.iface_links(i).len() > 1 => {
                routes::routes_from(&graph, i)
            }
            _ => RoutingTable::new(),
        };
        let statics = match &*spec {
            NodeSpec::Host { routes, .. } | NodeSpec::Router { routes, .. } => routes.as_slice(),
            _ => &[],
        };
        if !statics.is_empty() {
            let links = topo.iface_names(i);
            for r in statics {
                let ctx = |e: String| format!("nodes ({}): routes: {e}", spec.name());
                let prefix = r.parsed().map_err(ctx)?;
                let iface = links.iter().position(|l| *l == r.link).ok_or_else(|| {
                    ctx(format!(
                        "link {:?} is not one of this node's links ({})",
                        r.link,
                        links.join(", ")
                    ))
                })?;
                table.insert(
                    prefix,
                    Route {
                        iface: IfaceId(iface as u32),
                    },
                );
            }
        }
        if !table.is_empty() {
            topo.routes.insert(i, table);
        }
    }
    for (i, n) in topo.nodes.iter().enumerate() {
        let spec = n.spec();
        check_links(&spec, || topo.iface_names(i))
            .map_err(|e| format!("nodes ({}): {e}", spec.name()))?;
    }
    check_actions(s, &topo.nodes, &index, &link_names)?;
    Ok(topo)
}

/// Every node's interfaces in one list, by node and then link order (as links attach in
/// the engine), and where each node's start.
fn interfaces(nodes: usize, links: &[TopoLink]) -> (Vec<u32>, Vec<u32>) {
    let mut start = vec![0u32; nodes + 1];
    for l in links {
        start[l.a + 1] += 1;
        start[l.b + 1] += 1;
    }
    for i in 0..nodes {
        start[i + 1] += start[i];
    }
    let mut next = start.clone();
    let mut ifaces = vec![0u32; start[nodes] as usize];
    for (k, l) in links.iter().enumerate() {
        for end in [l.a, l.b] {
            ifaces[next[end] as usize] = k as u32;
            next[end] += 1;
        }
    }
    (ifaces, start)
}

fn undefined<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a String>) -> String {
    let list: Vec<&str> = known.map(String::as_str).take(20).collect();
    format!(
        "{what} {name:?} is not defined; defined: {}",
        list.join(", ")
    )
}

/// A link made by expansion.
enum Made<'a> {
    /// A cluster member's link to the switch of one side.
    Member(Box<LinkSpec>),
    /// The uplink of the group instance at node index `node`.
    Uplink {
        /// The instance.
        node: usize,
        /// The group's uplink.
        uplink: &'a Uplink,
        /// Its parameters, worked out once per group.
        params: Result<Arc<(LinkParams, LinkParams)>, String>,
    },
}

/// A link whose ends are still names.
struct Pending<'a> {
    name: String,
    /// Whether the name is kept (an uplink's is `<a>-<b>`, derived when needed).
    own_name: bool,
    a: Cow<'a, str>,
    b: &'a str,
    params: Result<Arc<(LinkParams, LinkParams)>, String>,
}

impl Made<'_> {
    fn pending<'a>(&'a self, nodes: &'a [TopoNode]) -> Pending<'a> {
        match self {
            Self::Member(l) => Pending {
                name: l.name(),
                own_name: true,
                a: Cow::Borrowed(&l.a),
                b: &l.b,
                params: l.dir_params().map(Arc::new),
            },
            Self::Uplink {
                node,
                uplink,
                params,
            } => {
                let a = nodes[*node].name();
                Pending {
                    name: format!("{a}-{}", uplink.to),
                    own_name: false,
                    a,
                    b: &uplink.to,
                    params: params.clone(),
                }
            }
        }
    }
}

/// Nodes, links made by expansion, and cluster members by name.
type Expanded<'a> = (
    Vec<TopoNode>,
    Vec<Made<'a>>,
    BTreeMap<String, (String, usize)>,
);

/// Turns every `count = N` host into N instances and their uplinks, and every cluster
/// into its switch, its members, and a link per member and side (the cluster's links).
fn expand_groups(s: &Scenario) -> Result<Expanded<'_>, String> {
    let mut nodes = Vec::with_capacity(s.nodes.len());
    let mut made = Vec::new();
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
                nodes.push(TopoNode::Single(Arc::new(NodeSpec::Cluster(switch))));
            }
            let host = Arc::new(SharedHost {
                name: name.clone(),
                addresses: c.addresses.clone(),
                routes: Vec::new(),
                forwarding: c.forwarding,
                apps: c.apps.clone(),
            });
            for m in 0..c.members {
                let inst = format!("{name}-{m}");
                for k in 0..sides {
                    made.push(Made::Member(Box::new(LinkSpec {
                        name: Some(format!("{inst}-side{k}")),
                        a: cluster_side(name, k),
                        b: inst.clone(),
                        params: super::DirSpec::default(),
                        reverse: None,
                    })));
                }
                instance_apps(&c.apps, 0).map_err(|e| format!("nodes ({inst}): {e}"))?;
                members.insert(inst, (name.clone(), m as usize));
                nodes.push(TopoNode::Member {
                    cluster: Arc::clone(&host),
                    index: m,
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
            nodes.push(TopoNode::Single(Arc::new(n.clone())));
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
            nodes.push(TopoNode::Single(Arc::new(NodeSpec::Host {
                name: name.clone(),
                addresses,
                address: None,
                count: None,
                uplink: None,
                routes: routes.clone(),
                forwarding: *forwarding,
                apps,
            })));
            continue;
        };
        let base = address.ok_or_else(|| {
            format!("nodes ({name}): a group (count) needs `address`, its first address")
        })?;
        let group = Arc::new(SharedHost {
            name: name.clone(),
            addresses: vec![base],
            routes: routes.clone(),
            forwarding: *forwarding,
            apps: apps.clone(),
        });
        let params = uplink.as_ref().map(|up| up.dir_params().map(Arc::new));
        for i in 0..*count {
            u32::from(base).checked_add(i).ok_or_else(|| {
                format!("nodes ({name}): address + count runs past 255.255.255.255")
            })?;
            if let (Some(uplink), Some(params)) = (uplink, &params) {
                made.push(Made::Uplink {
                    node: nodes.len(),
                    uplink,
                    params: params.clone(),
                });
            }
            instance_apps(apps, i).map_err(|e| format!("nodes ({name}-{i}): {e}"))?;
            nodes.push(TopoNode::Instance {
                group: Arc::clone(&group),
                index: i,
            });
        }
    }
    Ok((nodes, made, members))
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

/// Checks what a node needs of its links (`links`: its link names by interface, worked
/// out only for the kinds that need them).
fn check_links(n: &NodeSpec, links: impl FnOnce() -> Vec<String>) -> Result<(), String> {
    match n {
        NodeSpec::Firewall { .. } | NodeSpec::OnPath { .. } => {
            let links = links();
            if links.len() == 2 {
                return Ok(());
            }
            Err(format!(
                "sits between exactly two links, has {} ({})",
                links.len(),
                links.join(", ")
            ))
        }
        NodeSpec::Nat(nat) => {
            let links = links();
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
    specs: &[TopoNode],
    nodes: &BTreeMap<String, usize>,
    links: &BTreeSet<String>,
) -> Result<(), String> {
    let of_kind = |node: &str, want: &str, ok: fn(&NodeSpec) -> bool| -> Result<(), String> {
        let i = *nodes
            .get(node)
            .ok_or_else(|| undefined("node", node, nodes.keys()))?;
        if ok(&specs[i].spec()) {
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
