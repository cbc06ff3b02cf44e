//! A small network for the RFC 9329 tests: a client (IKE initiator, optionally pinging
//! through the tunnel) behind an optional NAT, a firewall that may block UDP 500/4500 and
//! ESP, an on-path node (for forged RSTs), and a gateway (IKE responder, UDP echo on its
//! inner address 10.10.0.1), and a server 10.10.0.10 behind it with a UDP echo.
//!
//! ```text
//! client 192.168.1.10 -- [nat 198.51.100.1] -- fw -- onpath -- gateway 203.0.113.1 | 10.10.0.1 -- server
//! ```

#![allow(dead_code, unreachable_pub, reason = "shared by several test files")]
#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::{Ipv4Addr, SocketAddrV4};

use models::ike::daemon::{Connect, IkeCommand, IkeDaemon, IkeDaemonConfig, TransportPolicy};
use models::ike::sa::{AddressPool, EndpointConfig, IkeConfig, InnerAddress};
use models::ike::wire::{IdPayload, TrafficSelector};
use models::ip::{Host, HostConfig, Prefix, Route, RoutingTable};
use models::middlebox::{
    Firewall, FirewallConfig, OnPath, OnPathCommand, PacketFilter, Rule, RuleAction,
};
use models::nat::{Nat, NatConfig};
use models::traffic::Start;
use models::traffic::datagram::{UdpEcho, UdpPinger, UdpPingerConfig};
use models::wire::IpProtocol;
use sim::{Action, IfaceId, LinkParams, Metrics, NodeId, SimDuration, SimTime, Simulation};

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
pub const NAT_PUBLIC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const GATEWAY_INNER: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 1);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 10);
pub const PSK: &[u8] = b"ikesim shared secret";

pub fn secs(s: u64) -> SimDuration {
    SimDuration::from_secs(s)
}

pub fn ms(s: u64) -> SimDuration {
    SimDuration::from_millis(s)
}

/// What to build.
#[derive(Clone)]
pub struct Setup {
    pub client: TransportPolicy,
    pub gateway: TransportPolicy,
    /// The client's IKE SA configuration, adjusted by the test.
    pub client_ike: IkeConfig,
    /// The gateway's responder configuration.
    pub gateway_ike: IkeConfig,
    pub gateway_endpoint: EndpointConfig,
    /// The firewall denies UDP 500, UDP 4500 and ESP.
    pub block_udp: bool,
    /// A NAT in front of the client.
    pub nat: bool,
    /// The client pings 10.10.0.10:7 through the tunnel every 100 ms from 2 s.
    pub ping: bool,
    pub nat_keepalive: Option<SimDuration>,
    pub seed: u64,
}

impl Setup {
    pub fn new(client: TransportPolicy) -> Self {
        let mut client_ike = IkeConfig::new(PSK, IdPayload::fqdn("client.example"));
        client_ike.inner_address = InnerAddress::Request;
        client_ike.remote_ts = vec![TrafficSelector::ipv4(
            Ipv4Addr::new(10, 10, 0, 0),
            Ipv4Addr::new(10, 10, 255, 255),
        )];
        let mut gateway_ike = IkeConfig::new(PSK, IdPayload::fqdn("gateway.example"));
        gateway_ike.local_ts = client_ike.remote_ts.clone();
        let mut gateway_endpoint = EndpointConfig::responder(gateway_ike.clone());
        gateway_endpoint.pool = Some(AddressPool {
            first: Ipv4Addr::new(10, 8, 0, 1),
            size: 10,
        });
        Self {
            client,
            gateway: TransportPolicy::default(),
            client_ike,
            gateway_ike,
            gateway_endpoint,
            block_udp: false,
            nat: true,
            ping: false,
            nat_keepalive: Some(secs(20)),
            seed: 1,
        }
    }

    pub fn build(self) -> Net {
        let mut sim = Simulation::new(self.seed);
        let client_daemon = IkeDaemon::new(IkeDaemonConfig {
            endpoint: EndpointConfig::initiator(),
            connect: Some(Connect {
                peer: GATEWAY,
                config: self.client_ike.clone().into(),
                start: Start::At(ms(100)),
            }),
            nat_keepalive: self.nat_keepalive,
            replay_window: models::esp::ReplayWindowSize::DEFAULT,
        })
        .with_transport(self.client.clone());
        let mut client_apps: Option<Vec<Box<dyn models::ip::App>>> =
            Some(vec![Box::new(client_daemon)]);
        if self.ping {
            client_apps
                .as_mut()
                .unwrap()
                .push(Box::new(UdpPinger::new(UdpPingerConfig {
                    to: SocketAddrV4::new(SERVER, 7),
                    port: 40000,
                    size: 100,
                    interval: ms(100),
                    start: Start::At(secs(2)),
                    stop: None,
                })));
        }
        let client = sim
            .add_node(
                "client",
                Box::new(move |_| {
                    Box::new(Host::new(
                        host_cfg(vec![CLIENT], RoutingTable::new()),
                        client_apps.take().unwrap_or_default(),
                    ))
                }),
            )
            .unwrap();
        let nat = self.nat.then(|| {
            sim.add_node(
                "nat",
                Box::new(|_| Box::new(Nat::new(NatConfig::new(NAT_PUBLIC)).unwrap())),
            )
            .unwrap()
        });
        let block = self.block_udp;
        let fw = sim
            .add_node(
                "fw",
                Box::new(move |_| {
                    let mut cfg = FirewallConfig::new(RuleAction::Allow);
                    if block {
                        let udp = PacketFilter::any().protocol(IpProtocol::UDP);
                        cfg = cfg
                            .rule(Rule::new(
                                RuleAction::Deny,
                                udp.clone().dst_ports(500..=500),
                            ))
                            .rule(Rule::new(RuleAction::Deny, udp.dst_ports(4500..=4500)))
                            .rule(Rule::new(
                                RuleAction::Deny,
                                PacketFilter::any().protocol(IpProtocol::ESP),
                            ));
                    }
                    Box::new(Firewall::new(cfg))
                }),
            )
            .unwrap();
        let onpath = sim
            .add_node("onpath", Box::new(|_| Box::new(OnPath::new())))
            .unwrap();
        let gateway_daemon = IkeDaemon::new(IkeDaemonConfig {
            endpoint: self.gateway_endpoint.clone(),
            connect: None,
            nat_keepalive: self.nat_keepalive,
            replay_window: models::esp::ReplayWindowSize::DEFAULT,
        })
        .with_transport(self.gateway.clone());
        let mut gw_apps: Option<Vec<Box<dyn models::ip::App>>> =
            Some(vec![Box::new(gateway_daemon)]);
        let mut gw_routes = RoutingTable::new();
        gw_routes.insert(
            "10.10.0.0/24".parse::<Prefix>().unwrap(),
            Route { iface: IfaceId(1) },
        );
        gw_routes.insert(
            "0.0.0.0/0".parse::<Prefix>().unwrap(),
            Route { iface: IfaceId(0) },
        );
        let gateway = sim
            .add_node(
                "gateway",
                Box::new(move |_| {
                    let mut cfg = host_cfg(vec![GATEWAY, GATEWAY_INNER], gw_routes.clone());
                    cfg.forwarding = true;
                    Box::new(Host::new(cfg, gw_apps.take().unwrap_or_default()))
                }),
            )
            .unwrap();
        let server = sim
            .add_node(
                "server",
                Box::new(|_| {
                    Box::new(Host::new(
                        host_cfg(vec![SERVER], RoutingTable::new()),
                        vec![Box::new(UdpEcho::new(7))],
                    ))
                }),
            )
            .unwrap();
        let p = LinkParams::new().delay(ms(5)).rate_bps(100_000_000);
        match nat {
            Some(nat) => {
                sim.connect_sym("home", client, nat, p.clone()).unwrap();
                sim.connect_sym("access", nat, fw, p.clone()).unwrap();
            }
            None => {
                sim.connect_sym("access", client, fw, p.clone()).unwrap();
            }
        }
        sim.connect_sym("mid", fw, onpath, p.clone()).unwrap();
        sim.connect_sym("core", onpath, gateway, p.clone()).unwrap();
        sim.connect_sym("lan", gateway, server, p).unwrap();
        Net {
            sim,
            client,
            gateway,
            onpath,
        }
    }
}

fn host_cfg(addresses: Vec<Ipv4Addr>, routes: RoutingTable) -> HostConfig {
    HostConfig {
        addresses,
        routes,
        ttl: 64,
        forwarding: false,
    }
}

pub struct Net {
    pub sim: Simulation,
    pub client: NodeId,
    pub gateway: NodeId,
    pub onpath: NodeId,
}

impl Net {
    pub fn run_until(&mut self, t: SimDuration) {
        self.sim.run_until(SimTime::ZERO + t).unwrap();
    }

    pub fn metrics(&self, node: NodeId) -> &Metrics {
        self.sim
            .nodes()
            .find(|(id, _, _)| *id == node)
            .map(|(_, _, m)| m)
            .unwrap()
    }

    pub fn client_counter(&self, name: &str) -> u64 {
        self.metrics(self.client).counter(name)
    }

    pub fn gateway_counter(&self, name: &str) -> u64 {
        self.metrics(self.gateway).counter(name)
    }

    pub fn daemon(&self, node: NodeId) -> &IkeDaemon {
        self.sim
            .node::<Host>(node)
            .unwrap()
            .apps_of::<IkeDaemon>()
            .next()
            .unwrap()
    }

    pub fn command(&mut self, at: SimDuration, node: NodeId, cmd: IkeCommand) {
        self.sim.schedule(
            SimTime::ZERO + at,
            Action::Custom {
                node,
                payload: Box::new(cmd),
            },
        );
    }

    /// A forged RST pair for the next TCP segment the on-path node sees after `at`.
    pub fn reset_at(&mut self, at: SimDuration) {
        self.sim.schedule(
            SimTime::ZERO + at,
            Action::Custom {
                node: self.onpath,
                payload: Box::new(OnPathCommand::Reset {
                    filter: PacketFilter::any().protocol(IpProtocol::TCP),
                }),
            },
        );
    }

    /// The number of live SAs of a node's endpoint and how many of them are established.
    pub fn sas(&self, node: NodeId) -> (usize, usize) {
        let e = self.daemon(node).endpoint().unwrap();
        let all = e.sas().count();
        let up = e.sas().filter(|(_, s)| s.is_established()).count();
        (all, up)
    }
}

/// A direct client -- gateway -- server network (no NAT, firewall or on-path node), for tests
/// that craft traffic of their own: the client runs an IKE initiator over `client_policy`
/// followed by `client_apps`, the gateway a responder over `gateway_policy` and forwards to
/// the server (UDP echo on port 7). Returns the simulation, the client and the gateway.
pub fn direct(
    client_policy: TransportPolicy,
    gateway_policy: TransportPolicy,
    client_apps: Vec<Box<dyn models::ip::App>>,
    wan: LinkParams,
    lan: LinkParams,
) -> (Simulation, NodeId, NodeId) {
    let setup = Setup::new(TransportPolicy::tcp_only());
    let mut sim = Simulation::new(1);
    let client_daemon = IkeDaemon::new(IkeDaemonConfig {
        endpoint: EndpointConfig::initiator(),
        connect: Some(Connect {
            peer: GATEWAY,
            config: setup.client_ike.clone().into(),
            start: Start::At(ms(100)),
        }),
        nat_keepalive: None,
        replay_window: models::esp::ReplayWindowSize::DEFAULT,
    })
    .with_transport(client_policy);
    let mut apps: Vec<Box<dyn models::ip::App>> = vec![Box::new(client_daemon)];
    apps.extend(client_apps);
    let mut apps = Some(apps);
    let client = sim
        .add_node(
            "client",
            Box::new(move |_| {
                Box::new(Host::new(
                    host_cfg(vec![CLIENT], RoutingTable::new()),
                    apps.take().unwrap_or_default(),
                ))
            }),
        )
        .unwrap();
    let (gateway, server) = add_gateway_and_server(
        &mut sim,
        setup.gateway_endpoint.clone(),
        gateway_policy,
        None,
    );
    sim.connect_sym("wan", client, gateway, wan).unwrap();
    sim.connect_sym("lan", gateway, server, lan).unwrap();
    (sim, client, gateway)
}

/// The client's address on the open network (interface 0) in [`mobile`].
pub const WIFI: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
/// The client's address on the UDP-blocking network (interface 1) in [`mobile`].
pub const CELL: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 10);
/// The public address of the UDP-blocking network's NAT, when [`mobile`] has one.
pub const CELL_NAT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 200);

/// A MOBIKE client with two networks (RFC 4555; RFC 9329 §7.1): interface 0 (link
/// "wifi", address [`WIFI`]) reaches the ISP router directly; interface 1 (link "cell",
/// address [`CELL`]) goes through an optional NAT ([`CELL_NAT`]) and a firewall that
/// blocks UDP 500, UDP 4500 and ESP. The client starts on "wifi" over UDP, pings the
/// server through the tunnel every 100 ms from 2 s, and uses `mobike` for its moves.
///
/// ```text
/// client 192.0.2.10 ------------------------------- isp -- gateway 203.0.113.1 | 10.10.0.1 -- server
/// client 100.64.0.10 -- [nat 198.51.100.200] -- fw --'
/// ```
pub fn mobile(
    seed: u64,
    cell_nat: bool,
    mobike: models::ike::daemon::MobikePolicy,
) -> (Simulation, NodeId, NodeId) {
    let setup = Setup::new(TransportPolicy::udp_only());
    let mut sim = Simulation::new(seed);
    let client_daemon = IkeDaemon::new(IkeDaemonConfig {
        endpoint: EndpointConfig::initiator(),
        connect: Some(Connect {
            peer: GATEWAY,
            config: setup.client_ike.clone().into(),
            start: Start::At(ms(100)),
        }),
        nat_keepalive: Some(secs(20)),
        replay_window: models::esp::ReplayWindowSize::DEFAULT,
    })
    .with_transport(TransportPolicy::udp_only())
    .with_mobike(mobike);
    let pinger = UdpPinger::new(UdpPingerConfig {
        to: SocketAddrV4::new(SERVER, 7),
        port: 40000,
        size: 100,
        interval: ms(100),
        start: Start::At(secs(2)),
        stop: None,
    });
    let mut apps: Option<Vec<Box<dyn models::ip::App>>> =
        Some(vec![Box::new(client_daemon), Box::new(pinger)]);
    let mut client_routes = RoutingTable::new();
    client_routes.insert(
        "0.0.0.0/0".parse::<Prefix>().unwrap(),
        Route { iface: IfaceId(0) },
    );
    let client = sim
        .add_node(
            "client",
            Box::new(move |_| {
                Box::new(Host::new(
                    host_cfg(vec![WIFI, CELL], client_routes.clone()),
                    apps.take().unwrap_or_default(),
                ))
            }),
        )
        .unwrap();
    let nat = cell_nat.then(|| {
        sim.add_node(
            "cell-nat",
            Box::new(|_| Box::new(Nat::new(NatConfig::new(CELL_NAT)).unwrap())),
        )
        .unwrap()
    });
    let fw = sim
        .add_node(
            "fw",
            Box::new(|_| {
                let udp = PacketFilter::any().protocol(IpProtocol::UDP);
                let cfg = FirewallConfig::new(RuleAction::Allow)
                    .rule(Rule::new(
                        RuleAction::Deny,
                        udp.clone().dst_ports(500..=500),
                    ))
                    .rule(Rule::new(RuleAction::Deny, udp.dst_ports(4500..=4500)))
                    .rule(Rule::new(
                        RuleAction::Deny,
                        PacketFilter::any().protocol(IpProtocol::ESP),
                    ));
                Box::new(Firewall::new(cfg))
            }),
        )
        .unwrap();
    let mut isp_routes = RoutingTable::new();
    isp_routes.insert(Prefix::host(WIFI), Route { iface: IfaceId(0) });
    let cell_public = if cell_nat { CELL_NAT } else { CELL };
    isp_routes.insert(Prefix::host(cell_public), Route { iface: IfaceId(1) });
    isp_routes.insert(
        "0.0.0.0/0".parse::<Prefix>().unwrap(),
        Route { iface: IfaceId(2) },
    );
    let isp = sim
        .add_node(
            "isp",
            Box::new(move |_| Box::new(models::ip::Router::new(isp_routes.clone()))),
        )
        .unwrap();
    let (gateway, server) = add_gateway_and_server(
        &mut sim,
        setup.gateway_endpoint.clone(),
        TransportPolicy::default(),
        Some(secs(20)),
    );
    let p = LinkParams::new().delay(ms(5)).rate_bps(100_000_000);
    sim.connect_sym("wifi", client, isp, p.clone()).unwrap();
    match nat {
        Some(nat) => {
            sim.connect_sym("cell", client, nat, p.clone()).unwrap();
            sim.connect_sym("cell-access", nat, fw, p.clone()).unwrap();
        }
        None => {
            sim.connect_sym("cell", client, fw, p.clone()).unwrap();
        }
    }
    sim.connect_sym("cell-out", fw, isp, p.clone()).unwrap();
    sim.connect_sym("core", isp, gateway, p.clone()).unwrap();
    sim.connect_sym("lan", gateway, server, p).unwrap();
    (sim, client, gateway)
}

/// Adds the gateway (IKE responder with `endpoint` and `policy`, forwarding to
/// 10.10.0.0/24 on its interface 1) and the server 10.10.0.10 behind it with a UDP echo.
fn add_gateway_and_server(
    sim: &mut Simulation,
    endpoint: EndpointConfig,
    policy: TransportPolicy,
    nat_keepalive: Option<SimDuration>,
) -> (NodeId, NodeId) {
    let gateway_daemon = IkeDaemon::new(IkeDaemonConfig {
        endpoint,
        connect: None,
        nat_keepalive,
        replay_window: models::esp::ReplayWindowSize::DEFAULT,
    })
    .with_transport(policy);
    let mut gw_apps: Option<Vec<Box<dyn models::ip::App>>> = Some(vec![Box::new(gateway_daemon)]);
    let mut routes = RoutingTable::new();
    routes.insert(
        "10.10.0.0/24".parse::<Prefix>().unwrap(),
        Route { iface: IfaceId(1) },
    );
    routes.insert(
        "0.0.0.0/0".parse::<Prefix>().unwrap(),
        Route { iface: IfaceId(0) },
    );
    let gw_cfg = HostConfig {
        forwarding: true,
        ..host_cfg(vec![GATEWAY, GATEWAY_INNER], routes)
    };
    let gateway = sim
        .add_node(
            "gateway",
            Box::new(move |_| {
                Box::new(Host::new(
                    gw_cfg.clone(),
                    gw_apps.take().unwrap_or_default(),
                ))
            }),
        )
        .unwrap();
    let server = sim
        .add_node(
            "server",
            Box::new(|_| {
                Box::new(Host::new(
                    host_cfg(vec![SERVER], RoutingTable::new()),
                    vec![Box::new(UdpEcho::new(7))],
                ))
            }),
        )
        .unwrap();
    (gateway, server)
}
