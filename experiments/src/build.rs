//! Turning a validated scenario into a ready-to-run [`Simulation`].

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::sync::Arc;

use models::CryptoMode;
use models::cluster::{Cluster, ClusterCommand, ClusterSwitch, HaPolicy, new_cluster};
use models::ike::daemon::{HaMember, IkeCommand, IkeDaemon, MobikeCommand};
use models::ike::wire::NotifyType;
use models::ip::{App, Host, HostConfig, Router};
use models::middlebox::{Firewall, OnPath, OnPathCommand};
use models::nat::{Nat, NatCommand};
use models::traffic::bulk::{BulkSend, BulkSendConfig, BulkSink, BulkSinkConfig};
use models::traffic::datagram::{UdpEcho, UdpPinger, UdpPingerConfig};
use models::traffic::reqresp::{RequestClient, RequestConfig, Responder, ResponderConfig};
use models::traffic::{Hub, Pattern, UdpSink, UdpSource, UdpSourceConfig};
use sim::{
    Action, Direction, IfaceId, Limits, LinkChange, LinkId, LossModel, Node, NodeFactory,
    QueueLimit, RootSeed, SimDuration, SimTime, Simulation, StreamKey,
};

use crate::scenario::{
    ActionSpec, AppSpec, DirChoice, FilterSpec, Loaded, NodeSpec, TcpSpec, TopoNode, Topology,
    firewall_config,
};

/// Builds the simulation for `loaded` with root seed `seed`; with `key_log`, the IKE
/// daemons keep every key for Wireshark (`ikesim run --keys`). Validation has already
/// checked every name and value, so failures here are bugs and panic with the reason.
pub fn build(loaded: &Loaded, seed: u64, run_id: &str, key_log: bool) -> Simulation {
    let s = &loaded.scenario;
    let mut sim = Simulation::new(seed);
    sim.set_label(format!("{} ({run_id})", loaded.name));
    let defaults = Limits::default();
    sim.set_limits(Limits {
        max_events: s.limits.max_events.unwrap_or(defaults.max_events),
        max_events_per_instant: s
            .limits
            .max_events_per_instant
            .unwrap_or(defaults.max_events_per_instant),
    });
    let topo = &loaded.topology;
    let mut clusters = BTreeMap::new();
    for n in &topo.nodes {
        if let TopoNode::Single(spec) = n
            && let NodeSpec::Cluster(c) = &**spec
        {
            let policy = c.policy().expect("validated: cluster settings");
            clusters
                .entry(c.cluster.clone())
                .or_insert_with(|| (new_cluster(), policy));
        }
    }
    let shared = Rc::new(Shared {
        topo: Arc::clone(topo),
        tcp: s.tcp.clone(),
        keys: Keys {
            crypto: s.crypto.mode(),
            log: key_log,
        },
        clusters,
    });
    let mut ids = Vec::with_capacity(topo.nodes.len());
    for (i, n) in topo.nodes.iter().enumerate() {
        let shared = Rc::clone(&shared);
        let factory: NodeFactory = Box::new(move |_| shared.node(i));
        let id = sim
            .add_node(&n.name(), factory)
            .expect("validated: node names are unique");
        ids.push(id);
    }
    for (i, l) in topo.links.iter().enumerate() {
        let (ab, ba) = &*l.params;
        sim.connect(
            &topo.link_name(i),
            ids[l.a],
            ids[l.b],
            ab.clone(),
            ba.clone(),
        )
        .expect("validated: link names are unique");
    }
    let node = |sim: &Simulation, name: &str| sim.node_id(name).expect("validated: node exists");
    let link = |sim: &Simulation, name: &str| sim.link_id(name).expect("validated: link exists");
    for (index, a) in s.actions.iter().enumerate() {
        let at = SimTime::ZERO + a.at();
        let custom = |sim: &Simulation, n: &str, payload: Box<dyn std::any::Any>| Action::Custom {
            node: node(sim, n),
            payload,
        };
        let filter = |f: &FilterSpec| f.filter().expect("validated: filter");
        let action = match a {
            ActionSpec::LinkDown { link: l, .. } => Action::LinkDown(link(&sim, l)),
            ActionSpec::LinkUp { link: l, .. } => Action::LinkUp(link(&sim, l)),
            ActionSpec::Crash {
                node: n, jitter, ..
            } => {
                let at = match jitter {
                    Some(j) => {
                        let key = StreamKey::new(&["crash-jitter", n]).part_u64(index as u64);
                        let mut rng = RootSeed(seed).stream(&key);
                        at + rng.uniform_duration(SimDuration::ZERO, j.0)
                    }
                    None => at,
                };
                if let Some((cluster, m)) = topo.members.get(n) {
                    // The switch notes the failure time for the members' outage metrics.
                    let notice = custom(&sim, cluster, Box::new(ClusterCommand::MemberFailed(*m)));
                    sim.schedule(at, notice);
                }
                sim.schedule(at, Action::Crash(node(&sim, n)));
                continue;
            }
            ActionSpec::Restart { node: n, .. } => Action::Restart(node(&sim, n)),
            ActionSpec::NatReboot { node: n, .. } => custom(&sim, n, Box::new(NatCommand::Reboot)),
            ActionSpec::IkeDelete { node: n, .. } => custom(&sim, n, Box::new(IkeCommand::Delete)),
            ActionSpec::IkeRekey { node: n, .. } => custom(&sim, n, Box::new(IkeCommand::RekeyIke)),
            ActionSpec::MobikeMove {
                node: n, link: l, ..
            } => {
                let id = node(&sim, n);
                let index = ids.iter().position(|&x| x == id);
                let iface = index
                    .and_then(|i| topo.iface(i, l))
                    .expect("validated: the node's link");
                custom(&sim, n, Box::new(MobikeCommand::Move { iface: iface.0 }))
            }
            ActionSpec::OnPathDrop {
                node: n,
                duration,
                filter: f,
                ..
            } => {
                let cmd = OnPathCommand::Drop {
                    filter: filter(f),
                    duration: duration.0,
                };
                custom(&sim, n, Box::new(cmd))
            }
            ActionSpec::OnPathDelay {
                node: n,
                duration,
                extra,
                filter: f,
                ..
            } => {
                let cmd = OnPathCommand::Delay {
                    filter: filter(f),
                    extra: extra.0,
                    duration: duration.0,
                };
                custom(&sim, n, Box::new(cmd))
            }
            ActionSpec::OnPathReset {
                node: n, filter: f, ..
            } => custom(
                &sim,
                n,
                Box::new(OnPathCommand::Reset { filter: filter(f) }),
            ),
            ActionSpec::OnPathForgeInitError {
                node: n,
                notify,
                delay,
                ..
            } => {
                let cmd = OnPathCommand::ForgeInitError {
                    notify: NotifyType(*notify),
                    delay: delay.map_or(SimDuration::ZERO, |d| d.0),
                };
                custom(&sim, n, Box::new(cmd))
            }
            ActionSpec::SetLink {
                link: l,
                direction,
                delay,
                rate,
                loss,
                queue_packets,
                mtu,
                ..
            } => {
                let id = link(&sim, l);
                let dir = match direction {
                    DirChoice::AToB => Some(Direction::AtoB),
                    DirChoice::BToA => Some(Direction::BtoA),
                    DirChoice::Both => None,
                };
                let changes = [
                    delay.map(|d| LinkChange::Delay(d.0)),
                    rate.map(|r| LinkChange::Rate(r.0)),
                    loss.map(|p| {
                        LinkChange::Loss(if p.0.is_zero() {
                            LossModel::None
                        } else {
                            LossModel::Bernoulli(p.0)
                        })
                    }),
                    queue_packets.map(|n| LinkChange::Queue(QueueLimit::Packets(n))),
                    mtu.map(|m| LinkChange::Mtu(Some(m))),
                ];
                for change in changes.into_iter().flatten() {
                    sim.schedule(
                        at,
                        Action::SetLink {
                            link: id,
                            dir,
                            change,
                        },
                    );
                }
                continue;
            }
        };
        sim.schedule(at, action);
    }
    sim
}

/// The links `--pcap` captures: those the scenario lists, or all.
pub fn captured_links(loaded: &Loaded, sim: &Simulation) -> Vec<LinkId> {
    let wanted = &loaded.scenario.capture;
    sim.links()
        .filter(|l| wanted.is_empty() || wanted.iter().any(|w| w == l.name))
        .map(|l| l.id)
        .collect()
}

/// A cluster member's membership, for its IKE daemon.
#[derive(Clone)]
struct Ha {
    cluster: Cluster,
    index: usize,
    policy: HaPolicy,
}

/// What the IKE daemons of a run do with keys.
#[derive(Debug, Clone, Copy)]
struct Keys {
    crypto: CryptoMode,
    /// Keep every key for Wireshark.
    log: bool,
}

/// What the node factories of a run share. A factory keeps only its node's index and
/// builds the node from these, at the start and at every restart: a copy of the host's
/// configuration and applications in every factory was ~0.7 kB of every client of the
/// scale scenario.
struct Shared {
    topo: Arc<Topology>,
    /// The scenario's `[tcp]`.
    tcp: TcpSpec,
    keys: Keys,
    /// Each cluster's state and policy, by cluster name.
    clusters: BTreeMap<String, (Cluster, HaPolicy)>,
}

impl Shared {
    /// Builds node `index` of the topology.
    fn node(&self, index: usize) -> Box<dyn Node> {
        let topo = &self.topo;
        let node = &topo.nodes[index];
        let routes = || topo.routes(index).cloned().unwrap_or_default();
        match &*node.spec() {
            NodeSpec::Cluster(c) => {
                let cluster = Rc::clone(&self.clusters[&c.cluster].0);
                Box::new(ClusterSwitch::new(cluster, c.members as usize))
            }
            NodeSpec::Nat(nat) => {
                let last = IfaceId(topo.iface_count(index) as u32 - 1);
                let outside = nat
                    .outside
                    .as_deref()
                    .and_then(|o| topo.iface(index, o))
                    .unwrap_or(last);
                let cfg = nat.config(outside).expect("validated: NAT settings");
                Box::new(Nat::new(cfg).expect("validated: NAT settings"))
            }
            NodeSpec::Firewall { default, rules, .. } => {
                let cfg = firewall_config(*default, rules).expect("validated: firewall rules");
                Box::new(Firewall::new(cfg))
            }
            NodeSpec::OnPath { .. } => Box::new(OnPath::new()),
            NodeSpec::Host {
                name,
                addresses,
                apps,
                forwarding,
                ..
            } => {
                let ha = topo.members.get(name).map(|(cluster, m)| {
                    let (handle, policy) = &self.clusters[cluster];
                    Ha {
                        cluster: Rc::clone(handle),
                        index: *m,
                        policy: *policy,
                    }
                });
                let first = addresses.first().copied();
                let apps = apps
                    .iter()
                    .map(|a| app(a, &self.tcp, self.keys, first, ha.clone()))
                    .collect();
                let cfg = HostConfig {
                    addresses: addresses.clone(),
                    routes: routes(),
                    ttl: 64,
                    forwarding: *forwarding,
                };
                Box::new(Host::new(cfg, apps))
            }
            NodeSpec::Router { .. } => Box::new(Router::new(routes())),
            NodeSpec::UdpSource {
                src,
                dst,
                rate,
                size,
                start,
                stop,
                on,
                off,
                ..
            } => {
                let pattern = match (on, off) {
                    (Some(on), Some(off)) => Pattern::OnOff {
                        rate_bps: rate.0,
                        size: *size,
                        on_mean: on.0,
                        off_mean: off.0,
                    },
                    _ => Pattern::Cbr {
                        rate_bps: rate.0,
                        size: *size,
                    },
                };
                Box::new(UdpSource::new(UdpSourceConfig {
                    src: SocketAddrV4::new(*src.ip(), src.port()),
                    dst: *dst,
                    pattern,
                    start: start.map_or(SimDuration::ZERO, |d| d.0),
                    stop: stop.map(|d| d.0),
                }))
            }
            NodeSpec::UdpSink { address, .. } => Box::new(UdpSink::new(*address)),
            NodeSpec::Hub { .. } => Box::new(Hub),
        }
    }
}

/// Builds one application; its TCP settings are its own over the scenario's.
fn app(
    spec: &AppSpec,
    base: &TcpSpec,
    keys: Keys,
    address: Option<std::net::Ipv4Addr>,
    ha: Option<Ha>,
) -> Box<dyn App> {
    let tcp = |own: &TcpSpec| own.over(base).config().expect("validated: TCP settings");
    match spec {
        AppSpec::BulkSend {
            to,
            bytes,
            start,
            tcp: own,
        } => Box::new(BulkSend::new(BulkSendConfig {
            to: to.addr,
            bytes: bytes.0,
            start: start.start(),
            tcp: tcp(own),
        })),
        AppSpec::BulkSink { port, tcp: own } => Box::new(BulkSink::new(BulkSinkConfig {
            port: *port,
            tcp: tcp(own),
        })),
        AppSpec::Request {
            server,
            request_bytes,
            response_bytes,
            start,
            count,
            tcp: own,
        } => Box::new(RequestClient::new(RequestConfig {
            server: server.addr,
            request_bytes: u32::try_from(request_bytes.0).expect("validated: request size"),
            response_bytes: u32::try_from(response_bytes.0).expect("validated: response size"),
            start: start.start(),
            count: *count,
            tcp: tcp(own),
        })),
        AppSpec::UdpPing {
            to,
            port,
            size,
            interval,
            start,
            stop,
        } => Box::new(UdpPinger::new(UdpPingerConfig {
            to: to.addr,
            port: *port,
            size: *size,
            interval: interval.0,
            start: start.start(),
            stop: stop.map(|d| d.0),
        })),
        AppSpec::UdpEcho { port } => Box::new(UdpEcho::new(*port)),
        AppSpec::Ike(ike) => {
            // The scenario's [tcp] settings apply to the daemon's TCP connections too.
            let mut transport = ike.transport().expect("validated: IKE transport");
            transport.tcp = tcp(&TcpSpec::default());
            let config = ike.config(address).expect("validated: IKE settings");
            let mut daemon = IkeDaemon::new(config.with_crypto(keys.crypto))
                .with_transport(transport)
                .with_mobike(ike.mobike_policy().expect("validated: MOBIKE settings"));
            if keys.log {
                daemon = daemon.with_key_log();
            }
            Box::new(match ha {
                Some(h) => daemon.with_ha(HaMember::new(h.cluster, h.index, h.policy)),
                None => daemon,
            })
        }
        AppSpec::Responder { port, tcp: own } => Box::new(Responder::new(ResponderConfig {
            port: *port,
            tcp: tcp(own),
        })),
    }
}
