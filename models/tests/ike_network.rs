//! IKEv2 and ESP over a simulated network, with real packets: clients running an
//! [`IkeDaemon`] as initiator and a [`UdpPinger`], optionally behind a [`Nat`] of each
//! RFC 4787 kind, a router, a security gateway (a forwarding host with an [`IkeDaemon`]
//! responder and an address pool) and a server with [`UdpEcho`] behind it.
//!
//! Topology (`home-<i>` only with a NAT; without one the clients sit on `access`):
//!
//! ```text
//! client-i --home-i-- nat --access-- isp --core-- gateway --lan-- server
//! ```
//!
//! Every test prints its seed; `SIM_SEED` is not read because each test pins the seeds it
//! needs (several seeds for the lossy one), and a failure message names the seed.

#![allow(clippy::unwrap_used, reason = "test set-up panics on broken set-up")]

use std::net::{Ipv4Addr, SocketAddrV4};

use models::ike::daemon::{Connect, IkeCommand, IkeDaemon, IkeDaemonConfig};
use models::ike::sa::{
    AddressPool, EndpointConfig, IkeConfig, InnerAddress, Lifetimes, LivenessMode, LivenessPolicy,
    NAT_T_PORT, RetransmitPolicy,
};
use models::ike::wire::{IdPayload, TrafficSelector};
use models::ip::{App, AppId, Host, HostConfig, Prefix, Route, Router, RoutingTable};
use models::nat::{FilteringBehavior, MappingBehavior, Nat, NatCommand, NatConfig, PortAssignment};
use models::traffic::Start;
use models::traffic::datagram::{UdpEcho, UdpPinger, UdpPingerConfig};
use models::wire::{IpProtocol, Ipv4Packet, UdpPacket};
use sim::{
    Action, Direction, IfaceId, LinkId, LinkParams, LossModel, Metrics, NodeId, Ratio, RunReport,
    SimDuration, SimTime, Simulation,
};

const PSK: &[u8] = b"ikesim shared secret";
const GATEWAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const GATEWAY_INSIDE: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 10);
const NAT_PUBLIC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const POOL_FIRST: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 1);
const ECHO_PORT: u16 = 7;
const PING_PORT: u16 = 40_000;

fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

fn secs(n: u64) -> SimDuration {
    SimDuration::from_secs(n)
}

fn at(d: SimDuration) -> SimTime {
    SimTime::ZERO + d
}

/// The address of client `i`: private behind a NAT, public without one.
fn client_addr(i: usize, natted: bool) -> Ipv4Addr {
    let last = 10 + u8::try_from(i).unwrap();
    if natted {
        Ipv4Addr::new(192, 168, 1, last)
    } else {
        Ipv4Addr::new(198, 51, 100, last)
    }
}

/// Lifetimes long enough never to matter.
fn long_lifetimes() -> Lifetimes {
    Lifetimes {
        child_soft: secs(100_000),
        child_hard: secs(110_000),
        ike_soft: secs(100_000),
        ike_hard: secs(110_000),
        jitter: SimDuration::ZERO,
    }
}

/// Fast retransmission: 0.5 s, ×1.8, 3 retransmissions (gives up after 5.9 s).
fn fast_retransmit() -> RetransmitPolicy {
    RetransmitPolicy {
        initial: ms(500),
        max_tries: 3,
        ..RetransmitPolicy::default()
    }
}

fn no_liveness() -> LivenessPolicy {
    LivenessPolicy {
        interval: None,
        mode: LivenessMode::OnDemand,
    }
}

/// What the network is made of and how the endpoints behave.
#[derive(Clone)]
struct Setup {
    seed: u64,
    clients: usize,
    /// The NAT in front of the clients, if any.
    nat: Option<NatConfig>,
    /// The `access` link (NAT or clients to the router), both directions.
    access: LinkParams,
    /// Client-side IKE SA configuration (peer, PSK, inner address and selectors are set
    /// by the builder).
    client: IkeConfig,
    /// When the client starts IKE.
    client_start: Start,
    nat_keepalive: Option<SimDuration>,
    /// Gateway-side IKE SA configuration.
    gateway: IkeConfig,
    /// A pinger on each client towards the server, if any.
    client_ping: Option<Pinger>,
    /// A pinger on the server towards client 0's inner address (the first pool address),
    /// with an echo server on every client, if any.
    server_ping: Option<Pinger>,
    /// Run length.
    duration: SimDuration,
}

/// A pinger's schedule.
#[derive(Clone, Copy)]
struct Pinger {
    interval: SimDuration,
    start: SimDuration,
    stop: SimDuration,
}

impl Setup {
    fn new(seed: u64) -> Self {
        let mut client = IkeConfig::new(PSK, IdPayload::fqdn("client.example"));
        client.retransmit = fast_retransmit();
        client.liveness = no_liveness();
        client.lifetimes = long_lifetimes();
        let mut gateway = IkeConfig::new(PSK, IdPayload::ipv4(GATEWAY));
        gateway.retransmit = fast_retransmit();
        gateway.liveness = no_liveness();
        gateway.lifetimes = long_lifetimes();
        gateway.local_ts = vec![TrafficSelector::ipv4(
            Ipv4Addr::new(10, 10, 0, 0),
            Ipv4Addr::new(10, 10, 255, 255),
        )];
        Self {
            seed,
            clients: 1,
            nat: None,
            access: LinkParams::new().rate_bps(20_000_000).delay(ms(10)),
            client,
            client_start: Start::Uniform(ms(0), ms(100)),
            nat_keepalive: Some(secs(1)),
            gateway,
            client_ping: Some(Pinger {
                interval: ms(100),
                start: secs(1),
                stop: secs(5),
            }),
            server_ping: None,
            duration: secs(6),
        }
    }

    fn natted(mut self, mapping: MappingBehavior, filtering: FilteringBehavior) -> Self {
        self.nat = Some(NatConfig {
            mapping,
            filtering,
            ..NatConfig::new(NAT_PUBLIC)
        });
        self
    }

    fn client_daemon(&self, i: usize) -> IkeDaemonConfig {
        let mut config = self.client.clone();
        config.local_id = IdPayload::ipv4(client_addr(i, self.nat.is_some()));
        config.inner_address = InnerAddress::Request;
        config.remote_ts = vec![TrafficSelector::ipv4(
            Ipv4Addr::new(10, 10, 0, 0),
            Ipv4Addr::new(10, 10, 255, 255),
        )];
        IkeDaemonConfig {
            endpoint: EndpointConfig::initiator(),
            connect: Some(Connect {
                peer: GATEWAY,
                config: config.into(),
                start: self.client_start,
            }),
            nat_keepalive: self.nat_keepalive,
            replay_window: models::esp::ReplayWindowSize::DEFAULT,
        }
    }

    fn gateway_daemon(&self) -> IkeDaemonConfig {
        let mut endpoint = EndpointConfig::responder(self.gateway.clone());
        endpoint.pool = Some(AddressPool {
            first: POOL_FIRST,
            size: 100,
        });
        IkeDaemonConfig {
            endpoint,
            connect: None,
            nat_keepalive: self.nat_keepalive,
            replay_window: models::esp::ReplayWindowSize::DEFAULT,
        }
    }

    /// Builds the simulation.
    fn build(&self) -> Net {
        let mut sim = Simulation::new(self.seed);
        sim.set_label(format!("ike-network seed {}", self.seed));
        let natted = self.nat.is_some();
        let mut clients = Vec::new();
        for i in 0..self.clients {
            let daemon = self.client_daemon(i);
            let ping = self.client_ping;
            let echo = self.server_ping.is_some();
            let addr = client_addr(i, natted);
            let id = sim
                .add_node(
                    &format!("client-{i}"),
                    Box::new(move |_| {
                        let mut apps: Vec<Box<dyn App>> =
                            vec![Box::new(IkeDaemon::new(daemon.clone()))];
                        if let Some(p) = ping {
                            apps.push(Box::new(UdpPinger::new(UdpPingerConfig {
                                to: SocketAddrV4::new(SERVER, ECHO_PORT),
                                port: PING_PORT,
                                size: 64,
                                interval: p.interval,
                                start: Start::At(p.start),
                                stop: Some(p.stop),
                            })));
                        }
                        if echo {
                            apps.push(Box::new(UdpEcho::new(ECHO_PORT)));
                        }
                        Box::new(Host::new(
                            host_config(vec![addr], RoutingTable::new()),
                            apps,
                        ))
                    }),
                )
                .unwrap();
            clients.push(id);
        }
        let nat = self.nat.clone().map(|cfg| {
            sim.add_node(
                "nat",
                Box::new(move |_| Box::new(Nat::new(cfg.clone()).unwrap())),
            )
            .unwrap()
        });
        // The router: clients (or the NAT) on interface 0, the gateway on interface 1.
        let mut routes = RoutingTable::new();
        routes.insert(
            "198.51.100.0/24".parse().unwrap(),
            Route { iface: IfaceId(0) },
        );
        routes.insert(Prefix::host(GATEWAY), Route { iface: IfaceId(1) });
        let isp = sim
            .add_node(
                "isp",
                Box::new(move |_| Box::new(Router::new(routes.clone()))),
            )
            .unwrap();
        let gw_daemon = self.gateway_daemon();
        let gateway = sim
            .add_node(
                "gateway",
                Box::new(move |_| {
                    let mut routes = RoutingTable::new();
                    routes.insert("10.10.0.0/16".parse().unwrap(), Route { iface: IfaceId(1) });
                    routes.insert("0.0.0.0/0".parse().unwrap(), Route { iface: IfaceId(0) });
                    let mut cfg = host_config(vec![GATEWAY, GATEWAY_INSIDE], routes);
                    cfg.forwarding = true;
                    Box::new(Host::new(
                        cfg,
                        vec![Box::new(IkeDaemon::new(gw_daemon.clone()))],
                    ))
                }),
            )
            .unwrap();
        let server_ping = self.server_ping;
        let server = sim
            .add_node(
                "server",
                Box::new(move |_| {
                    let mut apps: Vec<Box<dyn App>> = vec![Box::new(UdpEcho::new(ECHO_PORT))];
                    if let Some(p) = server_ping {
                        apps.push(Box::new(UdpPinger::new(UdpPingerConfig {
                            to: SocketAddrV4::new(POOL_FIRST, ECHO_PORT),
                            port: PING_PORT,
                            size: 64,
                            interval: p.interval,
                            start: Start::At(p.start),
                            stop: Some(p.stop),
                        })));
                    }
                    Box::new(Host::new(
                        host_config(vec![SERVER], RoutingTable::new()),
                        apps,
                    ))
                }),
            )
            .unwrap();
        let home = LinkParams::new().rate_bps(100_000_000).delay(ms(1));
        let fast = LinkParams::new().rate_bps(1_000_000_000).delay(ms(5));
        let access = match nat {
            Some(nat) => {
                for (i, &c) in clients.iter().enumerate() {
                    sim.connect_sym(&format!("home-{i}"), c, nat, home.clone())
                        .unwrap();
                }
                sim.connect_sym("access", nat, isp, self.access.clone())
                    .unwrap()
            }
            None => {
                assert_eq!(self.clients, 1, "without a NAT the builder has one client");
                sim.connect_sym("access", clients[0], isp, self.access.clone())
                    .unwrap()
            }
        };
        let core = sim.connect_sym("core", isp, gateway, fast.clone()).unwrap();
        sim.connect_sym("lan", gateway, server, fast.clone().delay(ms(1)))
            .unwrap();
        sim.enable_capture(core);
        Net {
            sim,
            seed: self.seed,
            clients,
            nat,
            gateway,
            server,
            core,
            access,
            duration: self.duration,
        }
    }
}

fn host_config(addresses: Vec<Ipv4Addr>, routes: RoutingTable) -> HostConfig {
    HostConfig {
        addresses,
        routes,
        ttl: 64,
        forwarding: false,
    }
}

/// A built network.
struct Net {
    sim: Simulation,
    seed: u64,
    clients: Vec<NodeId>,
    nat: Option<NodeId>,
    gateway: NodeId,
    server: NodeId,
    core: LinkId,
    access: LinkId,
    duration: SimDuration,
}

impl Net {
    /// Runs to the end and lets every node record its final metrics.
    fn run(&mut self) -> RunReport {
        eprintln!("seed {}", self.seed);
        let report = self.sim.run_until(at(self.duration)).unwrap();
        self.sim.finish();
        report
    }

    fn metrics(&self, id: NodeId) -> &Metrics {
        self.sim.nodes().find(|(n, _, _)| *n == id).unwrap().2
    }

    fn client(&self, i: usize) -> &Metrics {
        self.metrics(self.clients[i])
    }

    fn gw(&self) -> &Metrics {
        self.metrics(self.gateway)
    }

    fn daemon(&self, id: NodeId) -> &IkeDaemon {
        self.sim
            .node::<Host>(id)
            .unwrap()
            .app::<IkeDaemon>(AppId(0))
            .unwrap()
    }

    /// Counts of the packets captured on the core link, both directions.
    fn core_traffic(&self) -> Traffic {
        let cap = self.sim.capture(self.core).unwrap();
        let mut t = Traffic::default();
        for dir in Direction::BOTH {
            for (_, bytes) in cap.packets(dir) {
                let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
                match ip.next_header() {
                    IpProtocol::ESP => t.esp_raw += 1,
                    IpProtocol::UDP => {
                        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
                        let p = udp.payload();
                        match (udp.src_port(), udp.dst_port()) {
                            (500, _) | (_, 500) => t.ike_500 += 1,
                            (NAT_T_PORT, _) | (_, NAT_T_PORT) => {
                                if p == [0xff] {
                                    t.keepalives += 1;
                                } else if p.len() >= 4 && p[..4] == [0; 4] {
                                    t.ike_4500 += 1;
                                } else {
                                    t.esp_udp += 1;
                                }
                            }
                            _ => t.other += 1,
                        }
                    }
                    _ => t.other += 1,
                }
            }
        }
        t
    }
}

/// What crossed the core link.
#[derive(Debug, Default, PartialEq, Eq)]
struct Traffic {
    ike_500: u64,
    ike_4500: u64,
    esp_raw: u64,
    esp_udp: u64,
    keepalives: u64,
    other: u64,
}

/// Checks the client side of a run with a client pinger: SA up, every ping echoed.
#[track_caller]
fn assert_pings_echoed(net: &Net, i: usize) {
    let m = net.client(i);
    let (sent, echoes) = (m.counter("udp_sent"), m.counter("udp_echoes"));
    assert!(sent > 0, "seed {}: client-{i} sent no ping", net.seed);
    assert_eq!(
        sent, echoes,
        "seed {}: client-{i}: {sent} pings, {echoes} echoes",
        net.seed
    );
}

// ---------------------------------------------------------------------------------------
// Plain: no NAT, ESP as IP protocol 50.

#[test]
fn plain_sa_carries_esp_as_protocol_50() {
    let mut net = Setup::new(1).build();
    net.run();
    let (c, g) = (net.client(0), net.gw());
    assert_eq!(c.counter("ike_established"), 1);
    assert_eq!(g.counter("ike_established"), 1);
    assert_eq!(c.counter("child_sa_up"), 1);
    assert_eq!(c.counter("nat_keepalives_sent"), 0, "no NAT, no keepalives");
    assert_pings_echoed(&net, 0);
    // 40 pings (1 s to 5 s, every 100 ms), each way encapsulated once.
    assert_eq!(c.counter("udp_sent"), 40);
    assert_eq!(c.counter("esp_packets_out"), 40);
    assert_eq!(g.counter("esp_packets_in"), 40);
    assert_eq!(g.counter("esp_packets_out"), 40);
    let t = net.core_traffic();
    eprintln!("core link: {t:?}");
    // IKE_SA_INIT and IKE_AUTH (2 × 2 messages) on port 500, ESP as protocol 50.
    assert_eq!(
        t,
        Traffic {
            ike_500: 4,
            esp_raw: 80,
            ..Traffic::default()
        }
    );
    // The gateway handed out the first pool address.
    let client = net.daemon(net.clients[0]);
    let (_, sa) = client.endpoint().unwrap().sas().next().unwrap();
    assert!(!sa.nat_status().any());
    let inner = sa.children().next().unwrap().inner_address;
    assert_eq!(inner, Some(POOL_FIRST));
}

// ---------------------------------------------------------------------------------------
// Through a NAT of each RFC 4787 kind.

/// Two clients behind one NAT, pinging the server, and the server pinging the first
/// pool address (one of the clients): both establish, detect the NAT, move IKE and ESP to
/// UDP 4500, get every ping echoed both ways, and send keepalives.
fn through_nat(mapping: MappingBehavior, filtering: FilteringBehavior) {
    let mut setup = Setup::new(2).natted(mapping, filtering);
    setup.clients = 2;
    setup.server_ping = Some(Pinger {
        interval: ms(200),
        start: secs(1),
        stop: secs(5),
    });
    let mut net = setup.build();
    net.run();
    let (mut esp_in, mut esp_out) = (0, 0);
    for i in 0..2 {
        let c = net.client(i);
        assert_eq!(c.counter("ike_established"), 1, "client-{i}");
        assert_pings_echoed(&net, i);
        esp_in += c.counter("esp_packets_in");
        esp_out += c.counter("esp_packets_out");
        // Keepalives every second from establishment (about 0.1 s) to 6 s.
        let k = c.counter("nat_keepalives_sent");
        assert!((5..=6).contains(&k), "client-{i}: {k} keepalives");
        let daemon = net.daemon(net.clients[i]);
        let (_, sa) = daemon.endpoint().unwrap().sas().next().unwrap();
        assert!(sa.nat_status().local_behind_nat, "client-{i}");
        assert!(!sa.nat_status().remote_behind_nat, "client-{i}");
        assert_eq!(sa.local().port(), NAT_T_PORT, "client-{i} floated to 4500");
        assert_eq!(sa.remote().port(), NAT_T_PORT, "client-{i} floated to 4500");
    }
    // 2 × 40 client pings and their echoes, 20 server pings and their echoes.
    assert_eq!((esp_in, esp_out), (100, 100));
    let s = net.metrics(net.server);
    assert_eq!(s.counter("udp_sent"), 20);
    assert_eq!(
        s.counter("udp_echoes"),
        20,
        "server pings echoed by a client"
    );
    let g = net.gw();
    assert_eq!(g.counter("ike_established"), 2);
    assert!(g.counter("nat_keepalives_received") >= 10);
    assert_eq!(
        g.counter("nat_keepalives_sent"),
        0,
        "the gateway is not behind a NAT"
    );
    let t = net.core_traffic();
    eprintln!("{mapping:?}/{filtering:?}: core link: {t:?}");
    // IKE_SA_INIT on 500, IKE_AUTH on 4500, ESP only in UDP.
    assert_eq!(t.ike_500, 4);
    assert_eq!(t.ike_4500, 4);
    assert_eq!(t.esp_raw, 0);
    assert_eq!(t.esp_udp, 200);
    assert!(t.keepalives >= 10);
    assert_eq!(t.other, 0);
    let nat = net.metrics(net.nat.unwrap());
    assert_eq!(nat.counter("dropped_filtered"), 0);
    assert_eq!(nat.counter("dropped_no_binding"), 0);
}

macro_rules! nat_kinds {
    ($($name:ident: $mapping:ident, $filtering:ident;)*) => {$(
        #[test]
        fn $name() {
            through_nat(MappingBehavior::$mapping, FilteringBehavior::$filtering);
        }
    )*};
}

nat_kinds! {
    nat_eim_eif: EndpointIndependent, EndpointIndependent;
    nat_eim_adf: EndpointIndependent, AddressDependent;
    nat_eim_apdf: EndpointIndependent, AddressAndPortDependent;
    nat_adm_eif: AddressDependent, EndpointIndependent;
    nat_adm_adf: AddressDependent, AddressDependent;
    nat_adm_apdf: AddressDependent, AddressAndPortDependent;
    nat_apdm_eif: AddressAndPortDependent, EndpointIndependent;
    nat_apdm_adf: AddressAndPortDependent, AddressDependent;
    nat_apdm_apdf: AddressAndPortDependent, AddressAndPortDependent;
}

/// An idle SA behind a NAT whose UDP bindings expire after 3 s; at 8 s the server starts
/// pinging the client through the tunnel (gateway-initiated ESP).
fn idle_then_inbound(
    mapping: MappingBehavior,
    filtering: FilteringBehavior,
    keepalive: Option<SimDuration>,
) -> Net {
    let mut setup = Setup::new(3).natted(mapping, filtering);
    if let Some(nat) = &mut setup.nat {
        nat.udp_idle_timeout = secs(3);
    }
    setup.nat_keepalive = keepalive;
    setup.client_ping = None;
    setup.server_ping = Some(Pinger {
        interval: ms(100),
        start: secs(8),
        stop: secs(10),
    });
    setup.duration = secs(11);
    let mut net = setup.build();
    net.run();
    assert_eq!(net.client(0).counter("ike_established"), 1);
    net
}

/// The 3 × 3 RFC 4787 mapping and filtering behaviours.
fn all_kinds() -> Vec<(MappingBehavior, FilteringBehavior)> {
    use FilteringBehavior as F;
    use MappingBehavior as M;
    let mut kinds = Vec::new();
    for m in [
        M::EndpointIndependent,
        M::AddressDependent,
        M::AddressAndPortDependent,
    ] {
        for f in [
            F::EndpointIndependent,
            F::AddressDependent,
            F::AddressAndPortDependent,
        ] {
            kinds.push((m, f));
        }
    }
    kinds
}

/// Every kind of NAT needs the keepalives here: its bindings are refreshed by outbound
/// packets only (RFC 4787 REQ-6), and the SA is silent for 8 s against a 3 s timeout.
#[test]
fn keepalives_keep_an_idle_binding_for_inbound_esp() {
    for (mapping, filtering) in all_kinds() {
        let net = idle_then_inbound(mapping, filtering, Some(secs(1)));
        let s = net.metrics(net.server);
        assert_eq!(s.counter("udp_sent"), 20);
        assert_eq!(s.counter("udp_echoes"), 20, "{mapping:?}/{filtering:?}");
        let nat = net.metrics(net.nat.unwrap());
        assert_eq!(
            nat.counter("bindings_expired"),
            1,
            "only the port-500 binding"
        );
        assert!(net.client(0).counter("nat_keepalives_sent") >= 10);
    }
}

/// Without keepalives every kind loses the binding, and with it every inbound packet: the
/// filtering behaviour does not matter once no binding is left.
#[test]
fn without_keepalives_inbound_esp_is_lost_once_the_binding_expires() {
    for (mapping, filtering) in all_kinds() {
        let net = idle_then_inbound(mapping, filtering, None);
        let s = net.metrics(net.server);
        assert_eq!(s.counter("udp_sent"), 20);
        assert_eq!(s.counter("udp_echoes"), 0, "{mapping:?}/{filtering:?}");
        let g = net.gw();
        assert_eq!(
            g.counter("esp_packets_out"),
            20,
            "the gateway sent them all"
        );
        let c = net.client(0);
        assert_eq!(c.counter("esp_packets_in"), 0, "none reached the client");
        assert_eq!(c.counter("nat_keepalives_sent"), 0);
        let nat = net.metrics(net.nat.unwrap());
        assert_eq!(nat.counter("bindings_expired"), 2, "ports 500 and 4500");
        assert_eq!(nat.counter("dropped_no_binding"), 20);
    }
}

// ---------------------------------------------------------------------------------------
// Loss on the access link.

#[test]
fn retransmissions_recover_from_access_loss() {
    let mut retransmits = Vec::new();
    for seed in 10..16 {
        let mut setup = Setup::new(seed).natted(
            MappingBehavior::EndpointIndependent,
            FilteringBehavior::AddressDependent,
        );
        setup.access = setup
            .access
            .clone()
            .loss(LossModel::Bernoulli(Ratio::new(15, 100).unwrap()));
        setup.client_ping = None;
        setup.duration = secs(20);
        let mut net = setup.build();
        net.run();
        let (c, g) = (net.client(0), net.gw());
        assert_eq!(c.counter("ike_established"), 1, "seed {seed}");
        assert_eq!(g.counter("ike_established"), 1, "seed {seed}");
        assert_eq!(c.counter("ike_failed"), 0, "seed {seed}");
        let lost: u64 = net
            .sim
            .links()
            .find(|l| l.id == net.access)
            .map(|l| l.counters[0].dropped_loss + l.counters[1].dropped_loss)
            .unwrap();
        let r = c.counter("ike_retransmits") + g.counter("ike_retransmits");
        let resent = g.counter("ike_duplicate_requests");
        retransmits.push((seed, lost, r, resent));
    }
    eprintln!(
        "(seed, packets lost on access, retransmits, cached responses resent): {retransmits:?}"
    );
    assert!(
        retransmits.iter().any(|&(_, _, r, _)| r > 0),
        "some seed must have needed a retransmission"
    );
}

// ---------------------------------------------------------------------------------------
// Rekeys under continuous traffic.

fn rekey_run(client_rekeys: bool) -> Net {
    let mut setup = Setup::new(4).natted(
        MappingBehavior::EndpointIndependent,
        FilteringBehavior::AddressDependent,
    );
    let short = Lifetimes {
        child_soft: secs(2),
        child_hard: secs(3),
        ike_soft: secs(3),
        ike_hard: secs(5),
        jitter: SimDuration::ZERO,
    };
    if client_rekeys {
        setup.client.lifetimes = short;
    } else {
        setup.gateway.lifetimes = short;
    }
    setup.client_ping = Some(Pinger {
        interval: ms(10),
        start: ms(500),
        stop: secs(9),
    });
    setup.duration = secs(10);
    let mut net = setup.build();
    net.run();
    net
}

#[track_caller]
fn assert_rekeys_lose_nothing(net: &Net) {
    let (c, g) = (net.client(0), net.gw());
    eprintln!(
        "child rekeys {} / {}, IKE rekeys {} / {}, pings {} echoes {}",
        c.counter("child_sa_rekeyed"),
        g.counter("child_sa_rekeyed"),
        c.counter("ike_rekeyed"),
        g.counter("ike_rekeyed"),
        c.counter("udp_sent"),
        c.counter("udp_echoes"),
    );
    assert!(c.counter("child_sa_rekeyed") >= 2);
    assert!(c.counter("ike_rekeyed") >= 2);
    assert_eq!(c.counter("ike_established"), 1);
    assert_eq!(c.counter("ike_failed") + c.counter("ike_deleted"), 0);
    assert_eq!(c.counter("udp_sent"), 850);
    assert_pings_echoed(net, 0);
    for m in [c, g] {
        assert_eq!(m.counter("esp_no_sa"), 0);
        assert_eq!(m.counter("esp_replay_drops"), 0);
        let dropped: u64 = m
            .iter()
            .filter(|(k, _)| k.starts_with("esp_dropped_"))
            .map(|(k, _)| m.counter(k))
            .sum();
        assert_eq!(dropped, 0);
    }
}

/// How many CREATE_CHILD_SA exchanges `m`'s host timed (`ike_create_child_ns`).
fn create_child_timed(m: &Metrics) -> u64 {
    match m.get("ike_create_child_ns") {
        Some(sim::Metric::Histogram(h)) => h.count(),
        _ => 0,
    }
}

#[test]
fn client_initiated_rekeys_lose_no_esp() {
    let net = rekey_run(true);
    assert_rekeys_lose_nothing(&net);
    // Every rekey the client started is timed there, none at the gateway.
    let c = net.client(0);
    let rekeys = c.counter("child_sa_rekeyed") + c.counter("ike_rekeyed");
    assert_eq!(create_child_timed(c), rekeys);
    assert_eq!(create_child_timed(net.gw()), 0);
}

#[test]
fn gateway_initiated_rekeys_lose_no_esp() {
    let net = rekey_run(false);
    assert_rekeys_lose_nothing(&net);
    let g = net.gw();
    assert!(create_child_timed(g) >= 4);
    assert_eq!(create_child_timed(net.client(0)), 0);
}

// ---------------------------------------------------------------------------------------
// Liveness failure.

#[test]
fn gateway_crash_fails_the_sa_and_removes_the_tunnel() {
    let mut setup = Setup::new(5).natted(
        MappingBehavior::EndpointIndependent,
        FilteringBehavior::AddressDependent,
    );
    setup.client.liveness = LivenessPolicy {
        interval: Some(secs(1)),
        mode: LivenessMode::Periodic,
    };
    setup.client_ping = Some(Pinger {
        interval: ms(100),
        start: secs(1),
        stop: secs(14),
    });
    setup.duration = secs(15);
    let mut net = setup.build();
    net.sim.schedule(at(secs(3)), Action::Crash(net.gateway));
    let access = net.access;
    net.sim.enable_capture(access);
    net.run();
    let c = net.client(0);
    assert_eq!(c.counter("ike_established"), 1);
    assert_eq!(c.counter("ike_failed"), 1);
    assert_eq!(c.counter("child_sa_down"), 1);
    assert_eq!(c.counter("esp_no_sa"), 0, "the tunnel went with the SA");
    assert!(
        net.daemon(net.clients[0])
            .endpoint()
            .unwrap()
            .sas()
            .next()
            .is_none()
    );
    // Liveness check at 4 s (1 s of silence), retransmitted at 4.5, 5.4 and 7.02 s, given
    // up at 9.94 s: afterwards pings leave in the clear.
    let cap = net.sim.capture(access).unwrap();
    // `access` runs from the NAT (a) to the router (b).
    let nat_out = cap.packets(Direction::AtoB);
    let mut last_esp = SimTime::ZERO;
    let mut first_clear = None;
    for (t, bytes) in nat_out {
        let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        if ip.dst_addr() == SERVER {
            first_clear.get_or_insert(*t);
        } else if ip.next_header() == IpProtocol::UDP {
            let udp = UdpPacket::new_checked(ip.payload()).unwrap();
            if udp.dst_port() == NAT_T_PORT
                && udp.payload().len() > 1
                && udp.payload()[..4] != [0; 4]
            {
                last_esp = *t;
            }
        }
    }
    let first_clear = first_clear.expect("pings in the clear after the failure");
    eprintln!("last ESP {last_esp}, first clear ping {first_clear}");
    assert!(last_esp < first_clear);
    assert!(first_clear > at(ms(9_900)) && first_clear < at(ms(10_100)));
}

// ---------------------------------------------------------------------------------------
// Determinism.

fn fingerprint(seed: u64) -> (RunReport, Vec<String>) {
    let mut setup = Setup::new(seed).natted(
        MappingBehavior::EndpointIndependent,
        FilteringBehavior::AddressDependent,
    );
    setup.access = setup
        .access
        .clone()
        .loss(LossModel::Bernoulli(Ratio::new(5, 100).unwrap()));
    setup.clients = 2;
    let mut net = setup.build();
    let report = net.run();
    let metrics = net
        .sim
        .nodes()
        .map(|(_, name, m)| format!("{name}: {m:?}"))
        .collect();
    (report, metrics)
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let (a, ma) = fingerprint(7);
    let (b, mb) = fingerprint(7);
    assert_eq!(a, b);
    assert_eq!(ma, mb);
    let (c, mc) = fingerprint(8);
    assert_ne!(a.fingerprint, c.fingerprint);
    assert_ne!(ma, mc);
}

// ---------------------------------------------------------------------------------------
// NAT rebinding.

/// The NAT reboots at 3 s and gives the client's port 4500 a new external port (sequential
/// assignment starts over); the client keeps pinging and checks liveness at 4 s, so the
/// gateway sees both ESP and an authenticated IKE request from the new port. RFC 7296
/// §2.23: a host not behind a NAT SHOULD then send all packets to the new address and port.
#[test]
fn gateway_follows_a_nat_rebinding() {
    let mut setup = Setup::new(6).natted(
        MappingBehavior::EndpointIndependent,
        FilteringBehavior::AddressDependent,
    );
    if let Some(nat) = &mut setup.nat {
        nat.port_assignment = PortAssignment::Sequential;
    }
    setup.client_ping = Some(Pinger {
        interval: ms(100),
        start: secs(1),
        stop: secs(7),
    });
    setup.duration = secs(8);
    let mut net = setup.build();
    let nat = net.nat.unwrap();
    net.sim.schedule(
        at(secs(3)),
        Action::Custom {
            node: nat,
            payload: Box::new(NatCommand::Reboot),
        },
    );
    net.sim.schedule(
        at(secs(4)),
        Action::Custom {
            node: net.clients[0],
            payload: Box::new(IkeCommand::CheckLiveness),
        },
    );
    net.run();
    let c = net.client(0);
    let g = net.gw();
    let gw = net.daemon(net.gateway);
    let (_, sa) = gw.endpoint().unwrap().sas().next().unwrap();
    eprintln!(
        "gateway's IKE peer now {}; pings {} echoes {}; NAT dropped {} for no binding",
        sa.remote(),
        c.counter("udp_sent"),
        c.counter("udp_echoes"),
        net.metrics(nat).counter("dropped_no_binding"),
    );
    assert_eq!(c.counter("ike_failed"), 0);
    assert_eq!(
        g.counter("esp_packets_in"),
        60,
        "all pings reached the gateway"
    );
    // Pings sent between the reboot and the liveness check may be lost (their echoes go
    // to the stale port); after it, all must come back.
    assert!(
        c.counter("udp_echoes") >= 60 - 10,
        "echoes {} of 60",
        c.counter("udp_echoes")
    );
}
