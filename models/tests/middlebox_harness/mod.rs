//! Fixtures shared by the NAT and middlebox tests (a NAT is a middlebox too, RFC 3234):
//! crafted IPv4/UDP/TCP packets, a probe node that sends on command and logs what it
//! receives, and a rig that puts probes around the node under test.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "a module of several test binaries: each uses a part; `pub` marks its interface"
)]

use std::any::Any;
use std::net::{Ipv4Addr, SocketAddrV4};

use models::nat::{Nat, NatConfig};
use models::wire::{
    IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber, UdpPacket,
    UdpRepr,
};
use sim::{
    Action, Ctx, IfaceId, LinkId, LinkParams, Node, NodeFactory, NodeId, Packet, SimDuration,
    SimTime, Simulation,
};

/// `"a.b.c.d:port"` as an endpoint.
pub fn ep(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

pub fn secs(n: u64) -> SimDuration {
    SimDuration::from_secs(n)
}

pub fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

/// The TCP fields a test chooses.
#[derive(Clone, Copy, Debug)]
pub struct Seg {
    pub control: TcpControl,
    pub seq: u32,
    pub ack: Option<u32>,
    pub len: usize,
}

impl Seg {
    pub fn syn(seq: u32) -> Self {
        Self {
            control: TcpControl::Syn,
            seq,
            ack: None,
            len: 0,
        }
    }
    pub fn syn_ack(seq: u32, ack: u32) -> Self {
        Self {
            control: TcpControl::Syn,
            seq,
            ack: Some(ack),
            len: 0,
        }
    }
    pub fn ack(seq: u32, ack: u32) -> Self {
        Self {
            control: TcpControl::None,
            seq,
            ack: Some(ack),
            len: 0,
        }
    }
    pub fn data(seq: u32, ack: u32, len: usize) -> Self {
        Self {
            control: TcpControl::Psh,
            seq,
            ack: Some(ack),
            len,
        }
    }
    pub fn fin(seq: u32, ack: u32) -> Self {
        Self {
            control: TcpControl::Fin,
            seq,
            ack: Some(ack),
            len: 0,
        }
    }
    pub fn rst(seq: u32) -> Self {
        Self {
            control: TcpControl::Rst,
            seq,
            ack: None,
            len: 0,
        }
    }
}

/// An IPv4 packet with TTL 64 whose payload `fill` writes (it gets the addresses, for
/// pseudo-header checksums).
fn ip_packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: protocol,
        payload_len,
        hop_limit: 64,
        ident: 0,
        dont_frag: true,
    };
    let mut buf = vec![0xa5; ip.buffer_len()];
    let mut packet = Ipv4Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut packet);
    fill(packet.payload_mut());
    buf
}

pub fn udp(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let repr = UdpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
    };
    let len = repr.buffer_len(payload.len());
    ip_packet(*src.ip(), *dst.ip(), IpProtocol::UDP, len, |b| {
        repr.emit(
            &mut UdpPacket::new_unchecked(b),
            *src.ip(),
            *dst.ip(),
            payload.len(),
            |p| p.copy_from_slice(payload),
        );
    })
}

pub fn tcp(src: SocketAddrV4, dst: SocketAddrV4, seg: Seg) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        control: seg.control,
        seq_number: TcpSeqNumber(seg.seq),
        ack_number: seg.ack.map(TcpSeqNumber),
        window_len: 65535,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 4],
        timestamp: None,
        payload_len: seg.len,
    };
    ip_packet(
        *src.ip(),
        *dst.ip(),
        IpProtocol::TCP,
        repr.buffer_len(),
        |b| {
            repr.emit(
                &mut TcpPacket::new_unchecked(b),
                *src.ip(),
                *dst.ip(),
                |p| p.fill(0x42),
            );
        },
    )
}

/// A packet of a protocol without ports (ESP, ICMP, ...) with `payload` as is.
pub fn raw(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
    ip_packet(src, dst, protocol, payload.len(), |b| {
        b.copy_from_slice(payload)
    })
}

/// A packet as received, after checking every checksum a receiver checks.
#[derive(Clone, Debug)]
pub struct Rx {
    pub at: SimTime,
    pub ip: Ipv4Repr,
    /// Source; port 0 for protocols without ports.
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub tcp: Option<TcpRepr>,
    /// UDP checksum as stored (0 = none).
    pub udp_checksum: Option<u16>,
    pub payload: Vec<u8>,
}

/// Parses a packet that must be valid: IPv4 header checksum and, for TCP and UDP, the
/// transport checksum verify (`models::wire` checks them).
pub fn parse(at: SimTime, bytes: &[u8]) -> Result<Rx, String> {
    let packet = Ipv4Packet::new_checked(bytes).map_err(|_| "IPv4 length".to_owned())?;
    let ip = Ipv4Repr::parse(&packet).map_err(|_| "IPv4 header/checksum".to_owned())?;
    let (s, d) = (ip.src_addr, ip.dst_addr);
    let mut rx = Rx {
        at,
        ip,
        src: SocketAddrV4::new(s, 0),
        dst: SocketAddrV4::new(d, 0),
        tcp: None,
        udp_checksum: None,
        payload: packet.payload().to_vec(),
    };
    match ip.next_header {
        IpProtocol::UDP => {
            let datagram = UdpPacket::new_checked(packet.payload()).map_err(|_| "UDP length")?;
            let repr = UdpRepr::parse(&datagram, s, d).map_err(|_| "UDP checksum")?;
            rx.src.set_port(repr.src_port);
            rx.dst.set_port(repr.dst_port);
            rx.udp_checksum = Some(datagram.checksum());
            rx.payload = datagram.payload().to_vec();
        }
        IpProtocol::TCP => {
            let seg = TcpPacket::new_checked(packet.payload()).map_err(|_| "TCP length")?;
            let repr = TcpRepr::parse(&seg, s, d).map_err(|_| "TCP checksum/flags")?;
            rx.src.set_port(repr.src_port);
            rx.dst.set_port(repr.dst_port);
            rx.tcp = Some(repr);
            rx.payload = seg.payload().to_vec();
        }
        _ => {}
    }
    Ok(rx)
}

/// What a [`Probe`] is told to send: `Action::Custom` payload.
pub struct SendBytes(pub Vec<u8>);

/// A host stand-in with one interface: sends what it is told, logs what arrives.
#[derive(Debug, Default)]
pub struct Probe {
    pub log: Vec<(SimTime, Vec<u8>)>,
}

impl Node for Probe {
    fn on_packet(&mut self, ctx: &mut Ctx<'_>, _: IfaceId, packet: Packet) {
        self.log.push((ctx.now(), packet.data));
    }

    fn on_action(&mut self, ctx: &mut Ctx<'_>, action: &dyn Any) {
        let SendBytes(bytes) = action.downcast_ref().expect("probes only take SendBytes");
        let packet = ctx.packet(bytes.clone());
        ctx.send(IfaceId(0), packet);
    }
}

/// One-way delay of every rig link.
pub const LINK_DELAY: SimDuration = SimDuration::from_millis(1);

/// Probes `in0`, `in1`, ... on interfaces 0, 1, ... of the node under test (`box`), and
/// probe `out` on its last interface. With one inside probe this is a bump in the wire.
pub struct Rig {
    pub sim: Simulation,
    pub mid: NodeId,
    pub links: Vec<LinkId>,
    probes: Vec<(String, NodeId)>,
}

/// A packet some probe received during a [`Rig::step`].
#[derive(Clone, Debug)]
pub struct Delivery {
    pub to: String,
    pub rx: Rx,
}

impl Rig {
    pub fn new(seed: u64, inside: usize, factory: NodeFactory) -> Self {
        let mut sim = Simulation::new(seed);
        let names: Vec<String> = (0..inside)
            .map(|i| format!("in{i}"))
            .chain(["out".to_owned()])
            .collect();
        let probes: Vec<(String, NodeId)> = names
            .into_iter()
            .map(|n| {
                let id = sim
                    .add_node(&n, Box::new(|_| Box::new(Probe::default())))
                    .unwrap();
                (n, id)
            })
            .collect();
        let mid = sim.add_node("box", factory).unwrap();
        let params = LinkParams::new().delay(LINK_DELAY);
        let links = probes
            .iter()
            .map(|(n, id)| {
                sim.connect_sym(&format!("{n}-box"), *id, mid, params.clone())
                    .unwrap()
            })
            .collect();
        Self {
            sim,
            mid,
            links,
            probes,
        }
    }

    /// A NAT with `inside` inside interfaces and the outside interface last.
    pub fn nat(cfg: NatConfig, inside: usize) -> Self {
        Self::nat_seeded(1, cfg, inside)
    }

    pub fn nat_seeded(seed: u64, cfg: NatConfig, inside: usize) -> Self {
        Self::new(
            seed,
            inside,
            Box::new(move |_| Box::new(Nat::new(cfg.clone()).unwrap())),
        )
    }

    fn probe(&self, name: &str) -> NodeId {
        self.probes
            .iter()
            .find(|p| p.0 == name)
            .unwrap_or_else(|| panic!("no probe {name}"))
            .1
    }

    pub fn now(&self) -> SimTime {
        self.sim.now()
    }

    /// Makes probe `from` send `bytes` at `at` (from the start of the run).
    pub fn send_at(&mut self, at: SimDuration, from: &str, bytes: Vec<u8>) {
        let node = self.probe(from);
        self.sim.schedule(
            SimTime::ZERO + at,
            Action::Custom {
                node,
                payload: Box::new(SendBytes(bytes)),
            },
        );
    }

    /// Hands `command` to the node under test at `at`.
    pub fn command_at(&mut self, at: SimDuration, command: Box<dyn Any>) {
        let node = self.mid;
        self.sim.schedule(
            SimTime::ZERO + at,
            Action::Custom {
                node,
                payload: command,
            },
        );
    }

    /// Runs until `at` (from the start of the run).
    pub fn run_until(&mut self, at: SimDuration) {
        self.sim.run_until(SimTime::ZERO + at).unwrap();
    }

    /// Lets time pass.
    pub fn advance(&mut self, d: SimDuration) {
        let end = self.sim.now() + d;
        self.sim.run_until(end).unwrap();
    }

    /// Sends `bytes` from probe `from` now and runs 10 ms; returns what probes received in
    /// that time (every one checked by [`parse`]).
    pub fn step(&mut self, from: &str, bytes: Vec<u8>) -> Vec<Delivery> {
        let before: Vec<usize> = self.probes.iter().map(|p| self.log(p.1).len()).collect();
        let now = self.sim.now().since_start();
        self.send_at(now, from, bytes);
        self.run_until(now + ms(10));
        self.probes
            .iter()
            .zip(before)
            .flat_map(|((name, id), n)| {
                self.log(*id)[n..].iter().map(move |(at, bytes)| Delivery {
                    to: name.clone(),
                    rx: parse(*at, bytes)
                        .unwrap_or_else(|e| panic!("{name} got a bad packet: {e}")),
                })
            })
            .collect()
    }

    /// What probe `name` received, unparsed.
    pub fn raw_log(&self, name: &str) -> &[(SimTime, Vec<u8>)] {
        self.log(self.probe(name))
    }

    fn log(&self, id: NodeId) -> &[(SimTime, Vec<u8>)] {
        &self.sim.node::<Probe>(id).expect("probes never crash").log
    }

    /// Everything probe `name` received, checked by [`parse`].
    pub fn received(&self, name: &str) -> Vec<Rx> {
        self.raw_log(name)
            .iter()
            .map(|(at, bytes)| parse(*at, bytes).unwrap_or_else(|e| panic!("{name}: {e}")))
            .collect()
    }

    /// Counter `name` of the node under test.
    pub fn count(&self, name: &str) -> u64 {
        self.metrics().counter(name)
    }

    /// Gauge `name` of the node under test.
    pub fn gauge(&self, name: &str) -> f64 {
        match self.metrics().get(name) {
            Some(sim::Metric::Gauge(v)) => *v,
            other => panic!("{name} is {other:?}, not a gauge"),
        }
    }

    fn metrics(&self) -> &sim::Metrics {
        self.sim.nodes().find(|n| n.0 == self.mid).unwrap().2
    }
}
