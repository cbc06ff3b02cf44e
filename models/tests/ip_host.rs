//! The IP host and router: UDP sockets, TCP listeners and connections, resets for closed
//! ports, ephemeral ports, forwarding through routers.

#![allow(clippy::unwrap_used, reason = "test set-up panics on broken set-up")]

use std::net::{Ipv4Addr, SocketAddrV4};

use models::ip::{
    App, AppId, ConnId, Host, HostConfig, HostCtx, Prefix, Route, Router, RoutingTable,
};
use models::tcp::{ConnectionError, Event, TcpConfig};
use sim::{IfaceId, LinkParams, NodeId, SimDuration, SimTime, Simulation};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);

/// Echoes every UDP datagram on port 7.
struct Echo;

impl App for Echo {
    fn start(&mut self, host: &mut HostCtx<'_, '_>) {
        host.udp_bind(7).unwrap();
    }
    fn on_udp(
        &mut self,
        host: &mut HostCtx<'_, '_>,
        from: SocketAddrV4,
        to: SocketAddrV4,
        payload: &[u8],
    ) {
        host.udp_send(to.port(), from, payload).unwrap();
    }
}

/// Sends `count` datagrams to B:7 from port 5000, one per 10 ms, and records replies.
#[derive(Default)]
struct Pinger {
    count: u32,
    replies: Vec<(SimTime, Vec<u8>)>,
}

impl App for Pinger {
    fn start(&mut self, host: &mut HostCtx<'_, '_>) {
        host.udp_bind(5000).unwrap();
        assert!(host.udp_bind(5000).is_err(), "a port binds once");
        host.set_timer(SimTime::ZERO, 0);
    }
    fn on_timer(&mut self, host: &mut HostCtx<'_, '_>, n: u64) {
        host.udp_send(5000, SocketAddrV4::new(B, 7), &n.to_be_bytes())
            .unwrap();
        if n + 1 < u64::from(self.count) {
            host.set_timer(host.now() + SimDuration::from_millis(10), n + 1);
        }
    }
    fn on_udp(
        &mut self,
        host: &mut HostCtx<'_, '_>,
        from: SocketAddrV4,
        _: SocketAddrV4,
        payload: &[u8],
    ) {
        assert_eq!(from, SocketAddrV4::new(B, 7));
        self.replies.push((host.now(), payload.to_vec()));
    }
}

/// Two hosts with one router between them; each link 1 ms.
fn two_hosts(
    a_apps: Vec<Box<dyn App>>,
    b_apps: Vec<Box<dyn App>>,
) -> (Simulation, NodeId, NodeId, NodeId) {
    let mut sim = Simulation::new(7);
    let mut a_apps = Some(a_apps);
    let mut b_apps = Some(b_apps);
    let a = sim
        .add_node(
            "a",
            Box::new(move |_| Box::new(Host::new(host_cfg(A), a_apps.take().unwrap()))),
        )
        .unwrap();
    let mut routes = RoutingTable::new();
    routes.insert(Prefix::host(A), Route { iface: IfaceId(0) });
    routes.insert("10.0.2.0/24".parse().unwrap(), Route { iface: IfaceId(1) });
    let r = sim
        .add_node(
            "r",
            Box::new(move |_| Box::new(Router::new(routes.clone()))),
        )
        .unwrap();
    let b = sim
        .add_node(
            "b",
            Box::new(move |_| Box::new(Host::new(host_cfg(B), b_apps.take().unwrap()))),
        )
        .unwrap();
    let p = LinkParams::new().delay(SimDuration::from_millis(1));
    sim.connect_sym("a-r", a, r, p.clone()).unwrap();
    sim.connect_sym("r-b", r, b, p).unwrap();
    (sim, a, r, b)
}

fn host_cfg(addr: Ipv4Addr) -> HostConfig {
    HostConfig {
        addresses: vec![addr],
        routes: RoutingTable::new(),
        ttl: 64,
        forwarding: false,
    }
}

fn metrics(sim: &Simulation, id: NodeId) -> &sim::Metrics {
    sim.nodes().find(|(n, _, _)| *n == id).unwrap().2
}

#[test]
fn udp_round_trips_through_a_router() {
    let (mut sim, a, r, b) = two_hosts(
        vec![Box::new(Pinger {
            count: 3,
            replies: Vec::new(),
        })],
        vec![Box::new(Echo)],
    );
    sim.run().unwrap();
    let pinger = sim
        .node::<Host>(a)
        .unwrap()
        .app::<Pinger>(AppId(0))
        .unwrap();
    let got: Vec<(u64, u64)> = pinger
        .replies
        .iter()
        .map(|(t, p)| (t.as_nanos(), u64::from_be_bytes(p[..8].try_into().unwrap())))
        .collect();
    // Four 1 ms hops there and back.
    assert_eq!(got, [(4_000_000, 0), (14_000_000, 1), (24_000_000, 2)]);
    assert_eq!(metrics(&sim, r).counter("forwarded"), 6);
    assert_eq!(metrics(&sim, b).counter("udp_no_socket"), 0);
}

/// Connects to B:`port` and records the events.
#[derive(Default)]
struct Dialer {
    port: u16,
    connections: u32,
    events: Vec<(ConnId, Event)>,
}

impl App for Dialer {
    fn start(&mut self, host: &mut HostCtx<'_, '_>) {
        for _ in 0..self.connections {
            host.tcp_connect(SocketAddrV4::new(B, self.port), TcpConfig::default())
                .unwrap();
        }
    }
    fn on_tcp(&mut self, host: &mut HostCtx<'_, '_>, conn: ConnId, event: Event) {
        if event == Event::Connected {
            let local = host.tcp(conn).unwrap().local();
            assert_eq!(*local.ip(), A);
            host.tcp_close(conn);
        }
        self.events.push((conn, event));
    }
}

/// Accepts on port 80 and closes when the peer does.
#[derive(Default)]
struct Acceptor {
    accepted: Vec<SocketAddrV4>,
}

impl App for Acceptor {
    fn start(&mut self, host: &mut HostCtx<'_, '_>) {
        host.tcp_listen(80, TcpConfig::default()).unwrap();
    }
    fn on_tcp(&mut self, host: &mut HostCtx<'_, '_>, conn: ConnId, event: Event) {
        match event {
            Event::Connected => self.accepted.push(host.tcp(conn).unwrap().remote()),
            Event::PeerFinished => host.tcp_close(conn),
            _ => {}
        }
    }
}

#[test]
fn a_closed_port_answers_with_a_reset() {
    let dialer = Dialer {
        port: 81,
        connections: 1,
        events: Vec::new(),
    };
    let (mut sim, a, _, b) = two_hosts(vec![Box::new(dialer)], vec![Box::new(Acceptor::default())]);
    sim.run().unwrap();
    let d = sim
        .node::<Host>(a)
        .unwrap()
        .app::<Dialer>(AppId(0))
        .unwrap();
    assert_eq!(
        d.events.iter().map(|e| e.1).collect::<Vec<_>>(),
        [Event::Failed(ConnectionError::Refused)]
    );
    assert_eq!(metrics(&sim, b).counter("tcp_rst_sent"), 1);
    assert_eq!(metrics(&sim, a).counter("tcp_refused"), 1);
}

#[test]
fn a_listener_accepts_many_connections_from_distinct_ephemeral_ports() {
    let dialer = Dialer {
        port: 80,
        connections: 5,
        events: Vec::new(),
    };
    let (mut sim, a, _, b) = two_hosts(vec![Box::new(dialer)], vec![Box::new(Acceptor::default())]);
    sim.run().unwrap();
    let acc = sim
        .node::<Host>(b)
        .unwrap()
        .app::<Acceptor>(AppId(0))
        .unwrap();
    let ports: std::collections::BTreeSet<u16> =
        acc.accepted.iter().map(SocketAddrV4::port).collect();
    assert_eq!(ports.len(), 5);
    assert!(ports.iter().all(|p| *p >= 49_152));
    let d = sim
        .node::<Host>(a)
        .unwrap()
        .app::<Dialer>(AppId(0))
        .unwrap();
    let closed = d.events.iter().filter(|e| e.1 == Event::Closed).count();
    assert_eq!(
        closed, 5,
        "every connection closed cleanly (after TIME-WAIT)"
    );
    // Nothing is left behind: no timers pending once every connection is closed.
    assert_eq!(sim.pending_events(), 0);
}

#[test]
fn packets_for_another_address_are_dropped_and_counted() {
    struct Stray;
    impl App for Stray {
        fn start(&mut self, host: &mut HostCtx<'_, '_>) {
            host.udp_send(9, SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 9), 9), b"x")
                .unwrap();
        }
    }
    // The router sends 10.0.2.0/24 to b, which owns only 10.0.2.1.
    let (mut sim, _, _, b) = two_hosts(vec![Box::new(Stray)], vec![Box::new(Echo)]);
    sim.run().unwrap();
    assert_eq!(metrics(&sim, b).counter("dropped_not_for_me"), 1);
}

/// Tunnel plumbing as an IPsec daemon uses it, with plain UDP in place of ESP: the client
/// tunnels traffic for B's network to the gateway from a virtual address; the gateway
/// decapsulates, forwards to B, and tunnels B's answer back.
struct Encap {
    selector: Prefix,
    virtual_addr: Option<Ipv4Addr>,
    peer: SocketAddrV4,
}

impl App for Encap {
    fn start(&mut self, host: &mut HostCtx<'_, '_>) {
        host.udp_bind(9999).unwrap();
        if let Some(v) = self.virtual_addr {
            host.add_address(v);
        }
        host.tunnel_add(self.selector, self.virtual_addr);
    }
    fn on_tunnel(&mut self, host: &mut HostCtx<'_, '_>, packet: &[u8]) {
        host.udp_send(9999, self.peer, packet).unwrap();
    }
    fn on_udp(
        &mut self,
        host: &mut HostCtx<'_, '_>,
        _: SocketAddrV4,
        _: SocketAddrV4,
        payload: &[u8],
    ) {
        host.inject(payload.to_vec());
    }
}

#[test]
fn tunnels_virtual_addresses_and_forwarding_carry_traffic_through_a_gateway() {
    const G_OUT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 254);
    const G_IN: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 254);
    const VIRTUAL: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 5);
    let mut sim = Simulation::new(3);
    let client_apps: Vec<Box<dyn App>> = vec![
        Box::new(Encap {
            selector: "10.0.2.0/24".parse().unwrap(),
            virtual_addr: Some(VIRTUAL),
            peer: SocketAddrV4::new(G_OUT, 9999),
        }),
        Box::new(Pinger {
            count: 3,
            replies: Vec::new(),
        }),
    ];
    let mut client_apps = Some(client_apps);
    let a = sim
        .add_node(
            "a",
            Box::new(move |_| Box::new(Host::new(host_cfg(A), client_apps.take().unwrap()))),
        )
        .unwrap();
    let mut routes = RoutingTable::new();
    routes.insert(Prefix::host(A), Route { iface: IfaceId(0) });
    routes.insert(Prefix::host(B), Route { iface: IfaceId(1) });
    let gw_cfg = HostConfig {
        addresses: vec![G_OUT, G_IN],
        routes,
        ttl: 64,
        forwarding: true,
    };
    let g = sim
        .add_node(
            "g",
            Box::new(move |_| {
                let decap = Encap {
                    selector: Prefix::host(VIRTUAL),
                    virtual_addr: None,
                    peer: SocketAddrV4::new(A, 9999),
                };
                Box::new(Host::new(gw_cfg.clone(), vec![Box::new(decap)]))
            }),
        )
        .unwrap();
    let b = sim
        .add_node(
            "b",
            Box::new(|_| Box::new(Host::new(host_cfg(B), vec![Box::new(Echo)]))),
        )
        .unwrap();
    let p = LinkParams::new().delay(SimDuration::from_millis(1));
    sim.connect_sym("a-g", a, g, p.clone()).unwrap();
    sim.connect_sym("g-b", g, b, p).unwrap();
    sim.run().unwrap();
    let pinger = sim
        .node::<Host>(a)
        .unwrap()
        .app::<Pinger>(AppId(1))
        .unwrap();
    assert_eq!(
        pinger.replies.len(),
        3,
        "every ping came back through the tunnel"
    );
    let g_metrics = metrics(&sim, g);
    assert_eq!(
        g_metrics.counter("forwarded"),
        3,
        "inner requests forwarded to b"
    );
    assert_eq!(
        g_metrics.counter("forwarded_to_tunnel"),
        3,
        "b's replies tunnelled back"
    );
    assert_eq!(metrics(&sim, a).counter("ip_injected"), 3);
}
