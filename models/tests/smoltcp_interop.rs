//! Interoperability with an independent TCP: smoltcp on one simulated host, our TCP on the
//! other, across a lossy, reordering link, in both directions; and our TCP's RTO backoff
//! when the peer vanishes.

#![allow(clippy::unwrap_used, reason = "test set-up panics on broken set-up")]

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use models::ip::{AppId, Host, HostConfig, RoutingTable};
use models::tcp::TcpConfig;
use models::traffic::bulk::{BulkSend, BulkSendConfig, BulkSink, BulkSinkConfig};
use models::traffic::{Start, fill_pattern, pattern_errors};
use models::wire::{Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr};
use sim::{
    Action, Ctx, Direction, IfaceId, Jitter, LinkParams, LossModel, Node, Packet, QueueLimit,
    Ratio, SimDuration, SimTime, Simulation, TimerId,
};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

const OURS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SMOL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 5001;

/// A device whose receive queue the node fills and whose transmissions the node sends.
#[derive(Default)]
struct SimDevice {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut Vec<Vec<u8>>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl Device for SimDevice {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = 1500;
        caps
    }
}

enum Role {
    Sender { total: u64, sent: u64, closed: bool },
    Receiver { received: u64, corrupt: u64 },
}

/// A host running smoltcp's TCP with one socket.
struct SmolNode {
    iface: Interface,
    sockets: SocketSet<'static>,
    dev: SimDevice,
    handle: SocketHandle,
    role: Role,
    wake: Option<TimerId>,
    buf: Vec<u8>,
}

fn smol_now(t: SimTime) -> Instant {
    Instant::from_micros(i64::try_from(t.as_nanos() / 1000).unwrap())
}

impl SmolNode {
    fn new(seed: u64, role: Role) -> Self {
        let mut dev = SimDevice::default();
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut dev, Instant::ZERO);
        iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::Ipv4(SMOL), 24)).unwrap());
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 65_536]),
            tcp::SocketBuffer::new(vec![0; 65_536]),
        );
        let mut sockets = SocketSet::new(Vec::new());
        let handle = sockets.add(socket);
        let mut node = Self {
            iface,
            sockets,
            dev,
            handle,
            role,
            wake: None,
            buf: vec![0; 16_384],
        };
        let sock = node.sockets.get_mut::<tcp::Socket<'_>>(handle);
        match node.role {
            Role::Sender { .. } => {
                sock.connect(node.iface.context(), (IpAddress::Ipv4(OURS), PORT), 40_000)
                    .unwrap();
            }
            Role::Receiver { .. } => sock.listen(PORT).unwrap(),
        }
        node
    }

    fn app(&mut self) {
        let sock = self.sockets.get_mut::<tcp::Socket<'_>>(self.handle);
        match &mut self.role {
            Role::Sender {
                total,
                sent,
                closed,
            } => {
                while sock.can_send() && *sent < *total {
                    let len = self.buf.len().min((*total - *sent) as usize);
                    fill_pattern(&mut self.buf[..len], *sent);
                    let n = sock.send_slice(&self.buf[..len]).unwrap();
                    *sent += n as u64;
                    if n == 0 {
                        break;
                    }
                }
                if *sent == *total && !*closed {
                    sock.close();
                    *closed = true;
                }
            }
            Role::Receiver { received, corrupt } => {
                while sock.can_recv() {
                    let n = sock.recv_slice(&mut self.buf).unwrap();
                    *corrupt += pattern_errors(&self.buf[..n], *received);
                    *received += n as u64;
                }
                if sock.state() == tcp::State::CloseWait {
                    sock.close();
                }
            }
        }
    }

    fn pump(&mut self, ctx: &mut Ctx<'_>) {
        let now = smol_now(ctx.now());
        self.iface.poll(now, &mut self.dev, &mut self.sockets);
        self.app();
        self.iface.poll(now, &mut self.dev, &mut self.sockets);
        for p in self.dev.tx.drain(..) {
            let packet = ctx.packet(p);
            ctx.send(IfaceId(0), packet);
        }
        if let Some(t) = self.wake.take() {
            ctx.cancel_timer(t);
        }
        if let Some(at) = self.iface.poll_at(now, &self.sockets) {
            let at = SimTime::from_nanos(u64::try_from(at.total_micros()).unwrap() * 1000);
            let at = at.max(ctx.now() + SimDuration::from_micros(1));
            self.wake = Some(ctx.set_timer(at, 0));
        }
    }

    fn state(&self) -> tcp::State {
        self.sockets.get::<tcp::Socket<'_>>(self.handle).state()
    }
}

impl Node for SmolNode {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.pump(ctx);
    }
    fn on_packet(&mut self, ctx: &mut Ctx<'_>, _: IfaceId, p: Packet) {
        self.dev.rx.push_back(p.data);
        self.pump(ctx);
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _: u64) {
        self.wake = None;
        self.pump(ctx);
    }
}

/// A 10 Mbit/s, 10 ms link with 2% loss and 3 ms of jitter that reorders.
fn lossy_reordering() -> LinkParams {
    LinkParams::new()
        .rate_bps(10_000_000)
        .delay(SimDuration::from_millis(10))
        .queue(QueueLimit::Packets(100))
        .loss(LossModel::Bernoulli(Ratio::new(2, 100).unwrap()))
        .jitter(Jitter {
            sd: SimDuration::from_millis(3),
            preserve_order: false,
        })
}

fn our_host(app: Box<dyn models::ip::App>) -> Host {
    Host::new(
        HostConfig {
            addresses: vec![OURS],
            routes: RoutingTable::new(),
            ttl: 64,
            forwarding: false,
        },
        vec![app],
    )
}

fn tcp_config() -> TcpConfig {
    // smoltcp's own MSS is 1460 and it does not do SACK or timestamps by default; ours
    // offers both and must fall back cleanly.
    TcpConfig {
        rto_min: SimDuration::from_millis(200),
        ..TcpConfig::default()
    }
}

const TOTAL: u64 = 1_000_000;

fn run(
    seed: u64,
    smol_role: Role,
    our_app: Box<dyn models::ip::App>,
) -> (Simulation, sim::NodeId, sim::NodeId) {
    let mut sim = Simulation::new(seed);
    let mut app = Some(our_app);
    let ours = sim
        .add_node(
            "ours",
            Box::new(move |_| Box::new(our_host(app.take().unwrap()))),
        )
        .unwrap();
    let mut role = Some(smol_role);
    let smol = sim
        .add_node(
            "smoltcp",
            Box::new(move |_| Box::new(SmolNode::new(seed, role.take().unwrap()))),
        )
        .unwrap();
    let link = sim
        .connect_sym("wire", ours, smol, lossy_reordering())
        .unwrap();
    sim.enable_capture(link);
    sim.run_until(SimTime::ZERO + SimDuration::from_secs(120))
        .unwrap();
    sim.finish();
    (sim, ours, smol)
}

fn reordered_and_lost(sim: &Simulation) -> (u64, u64) {
    let link = sim.links().next().unwrap();
    let lost = link.counters[0].dropped_loss + link.counters[1].dropped_loss;
    // Count data segments that arrive out of order: look at sequence numbers on the wire.
    let cap = sim.capture(link.id).unwrap();
    let mut reordered = 0;
    for dir in Direction::BOTH {
        let mut last = None;
        for (_, bytes) in cap.packets(dir) {
            let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
            let repr = Ipv4Repr::parse(&ip).unwrap();
            let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
            let t = TcpRepr::parse(&tcp, repr.src_addr, repr.dst_addr).unwrap();
            if t.payload_len > 0 {
                if last.is_some_and(|l| t.seq_number < l) {
                    reordered += 1;
                }
                last = Some(t.seq_number);
            }
        }
    }
    (lost, reordered)
}

#[test]
fn smoltcp_sends_to_our_tcp_through_loss_and_reordering() {
    let sink = BulkSink::new(BulkSinkConfig {
        port: PORT,
        tcp: tcp_config(),
    });
    let (sim, ours, smol) = run(
        1,
        Role::Sender {
            total: TOTAL,
            sent: 0,
            closed: false,
        },
        Box::new(sink),
    );
    let m = sim.nodes().find(|(id, _, _)| *id == ours).unwrap().2;
    assert_eq!(m.counter("bulk_received_bytes"), TOTAL);
    assert_eq!(m.counter("bulk_corrupt_bytes"), 0);
    assert_eq!(m.counter("bulk_completed"), 1, "our side saw smoltcp's FIN");
    let state = sim.node::<SmolNode>(smol).unwrap().state();
    assert!(
        matches!(state, tcp::State::Closed | tcp::State::TimeWait),
        "smoltcp ended in {state}"
    );
    let (lost, _) = reordered_and_lost(&sim);
    assert!(lost > 0, "the link must have lost packets");
}

#[test]
fn our_tcp_sends_to_smoltcp_through_loss_and_reordering() {
    let cfg = BulkSendConfig {
        to: SocketAddrV4::new(SMOL, PORT),
        bytes: TOTAL,
        start: Start::At(SimDuration::ZERO),
        tcp: tcp_config(),
    };
    let (sim, ours, smol) = run(
        2,
        Role::Receiver {
            received: 0,
            corrupt: 0,
        },
        Box::new(BulkSend::new(cfg)),
    );
    let node = sim.node::<SmolNode>(smol).unwrap();
    let Role::Receiver { received, corrupt } = node.role else {
        unreachable!()
    };
    assert_eq!((received, corrupt), (TOTAL, 0));
    let state = node.state();
    assert!(
        matches!(
            state,
            tcp::State::Closed | tcp::State::TimeWait | tcp::State::LastAck
        ),
        "smoltcp ended in {state}"
    );
    let host = sim.node::<Host>(ours).unwrap();
    assert!(host.app::<BulkSend>(AppId(0)).is_some());
    let m = sim.nodes().find(|(id, _, _)| *id == ours).unwrap().2;
    assert!(
        m.get("bulk_closed_ns").is_some(),
        "our connection closed cleanly"
    );
    assert_eq!(m.counter("bulk_failed"), 0);
    let (lost, reordered) = reordered_and_lost(&sim);
    assert!(
        lost > 0 && reordered > 0,
        "lost {lost}, reordered {reordered}"
    );
}

#[test]
fn peer_vanishes_mid_transfer_rto_backs_off_to_abort() {
    let mut sim = Simulation::new(3);
    let tcp = TcpConfig {
        max_retransmissions: 6,
        ..TcpConfig::default()
    };
    let send = BulkSendConfig {
        to: SocketAddrV4::new(SMOL, PORT),
        bytes: 50_000_000,
        start: Start::At(SimDuration::ZERO),
        tcp: tcp.clone(),
    };
    let ours = sim
        .add_node(
            "ours",
            Box::new(move |_| Box::new(our_host(Box::new(BulkSend::new(send.clone()))))),
        )
        .unwrap();
    let peer_cfg = HostConfig {
        addresses: vec![SMOL],
        routes: RoutingTable::new(),
        ttl: 64,
        forwarding: false,
    };
    let peer = sim
        .add_node(
            "peer",
            Box::new(move |_| {
                Box::new(Host::new(
                    peer_cfg.clone(),
                    vec![Box::new(BulkSink::new(BulkSinkConfig {
                        port: PORT,
                        tcp: tcp.clone(),
                    }))],
                ))
            }),
        )
        .unwrap();
    let p = LinkParams::new()
        .rate_bps(10_000_000)
        .delay(SimDuration::from_millis(10));
    let link = sim.connect_sym("wire", ours, peer, p).unwrap();
    sim.enable_capture(link);
    let crash = SimTime::ZERO + SimDuration::from_secs(2);
    sim.schedule(crash, Action::Crash(peer));
    sim.run_until(SimTime::ZERO + SimDuration::from_secs(600))
        .unwrap();
    sim.finish();
    let m = sim.nodes().find(|(id, _, _)| *id == ours).unwrap().2;
    assert_eq!(m.counter("bulk_failed"), 1);
    assert_eq!(m.counter("tcp_timed_out"), 1);
    // What the sender put on the wire last are retransmissions of the oldest unacknowledged
    // segment, one per timeout, their spacing doubling (RFC 6298 §5.5) from 2 s (the RTO
    // after the first expiry).
    let cap = sim.capture(link).unwrap();
    let seq_of = |bytes: &[u8]| {
        let ip = Ipv4Packet::new_checked(bytes).unwrap();
        TcpPacket::new_checked(ip.payload()).unwrap().seq_number()
    };
    let sent = cap.packets(Direction::AtoB);
    let last_seq = seq_of(&sent.last().unwrap().1);
    let retransmits: Vec<SimTime> = sent
        .iter()
        .rev()
        .take_while(|(_, b)| seq_of(b) == last_seq)
        .map(|(t, _)| *t)
        .collect();
    let mut times = retransmits;
    times.reverse();
    assert!(times[0] > crash, "retransmissions start after the crash");
    let gaps: Vec<u64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_total())
        .collect();
    assert_eq!(
        gaps,
        [2, 4, 8, 16, 32],
        "one retransmission per timeout, doubling"
    );
}
