//! Standalone UDP sources and sinks, and a hub, as engine nodes.
//!
//! These exercise links and queues with real IPv4/UDP datagrams (valid checksums, so
//! captures decode) without the IP host stack. A source sends on its first
//! interface; a sink accepts datagrams addressed to it; a hub repeats every packet out of
//! every other interface, so sources, hubs and sinks form chains and stars without routing.
//!
//! Each datagram's payload starts with a 64-bit sequence number, so a sink can count
//! reordering; one-way delay comes from the packet's creation time.

use std::net::{Ipv4Addr, SocketAddrV4};

use sim::{Ctx, IfaceId, Node, Packet, SimDuration, SimTime};

use crate::wire::{IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr};

/// How a source paces its datagrams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Constant bit rate: one datagram of `size` IP bytes every `8 * size / rate_bps`.
    Cbr {
        /// Rate in bits per second, counting IP bytes.
        rate_bps: u64,
        /// Size of each IP packet in bytes (at least the 36 bytes of headers and sequence).
        size: usize,
    },
    /// Exponential on/off: constant bit rate while on, silent while off; period lengths
    /// are drawn from the node's random stream.
    OnOff {
        /// Rate while on, in bits per second.
        rate_bps: u64,
        /// IP packet size in bytes.
        size: usize,
        /// Mean length of an on period.
        on_mean: SimDuration,
        /// Mean length of an off period.
        off_mean: SimDuration,
    },
}

impl Pattern {
    fn size(&self) -> usize {
        match self {
            Self::Cbr { size, .. } | Self::OnOff { size, .. } => *size,
        }
    }

    fn gap(&self) -> SimDuration {
        let (Self::Cbr { rate_bps, size } | Self::OnOff { rate_bps, size, .. }) = self;
        SimDuration::serialization(*size as u64, *rate_bps)
    }
}

/// Smallest IP packet a source sends: IPv4 and UDP headers plus the sequence number.
pub const MIN_PACKET: usize = 20 + 8 + 8;

/// Configuration of a [`UdpSource`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpSourceConfig {
    /// Source address and port.
    pub src: SocketAddrV4,
    /// Destination address and port.
    pub dst: SocketAddrV4,
    /// Pacing.
    pub pattern: Pattern,
    /// When to send the first datagram.
    pub start: SimDuration,
    /// When to stop (never if `None`).
    pub stop: Option<SimDuration>,
}

const TIMER_SEND: u64 = 0;
const TIMER_TOGGLE: u64 = 1;

/// Sends UDP datagrams on interface 0 following a [`Pattern`].
#[derive(Debug)]
pub struct UdpSource {
    cfg: UdpSourceConfig,
    seq: u64,
    on: bool,
}

impl UdpSource {
    /// A source that starts at `cfg.start`.
    pub fn new(cfg: UdpSourceConfig) -> Self {
        Self {
            cfg,
            seq: 0,
            on: true,
        }
    }

    fn stopped(&self, now: SimTime) -> bool {
        self.cfg
            .stop
            .is_some_and(|stop| now >= SimTime::ZERO + stop)
    }

    fn send_one(&mut self, ctx: &mut Ctx<'_>) {
        let size = self.cfg.pattern.size().max(MIN_PACKET);
        let data = udp_datagram(self.cfg.src, self.cfg.dst, self.seq as u16, size, self.seq);
        self.seq += 1;
        let packet = ctx.packet(data);
        ctx.metrics().incr("packets_sent");
        ctx.metrics().add("bytes_sent", size as u64);
        ctx.send(IfaceId(0), packet);
    }
}

impl Node for UdpSource {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.set_timer_after(self.cfg.start, TIMER_SEND);
        if let Pattern::OnOff { on_mean, .. } = self.cfg.pattern {
            let on = ctx.rng().exponential(on_mean);
            ctx.set_timer_after(self.cfg.start + on, TIMER_TOGGLE);
        }
    }

    fn on_packet(&mut self, ctx: &mut Ctx<'_>, _: IfaceId, _: Packet) {
        ctx.metrics().incr("packets_ignored");
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, token: u64) {
        if self.stopped(ctx.now()) {
            return;
        }
        match token {
            TIMER_SEND if self.on => {
                self.send_one(ctx);
                ctx.set_timer_after(self.cfg.pattern.gap(), TIMER_SEND);
            }
            TIMER_TOGGLE => {
                let Pattern::OnOff {
                    on_mean, off_mean, ..
                } = self.cfg.pattern
                else {
                    return;
                };
                self.on = !self.on;
                let mean = if self.on { on_mean } else { off_mean };
                let period = ctx.rng().exponential(mean);
                ctx.set_timer_after(period, TIMER_TOGGLE);
                if self.on {
                    ctx.set_timer(ctx.now(), TIMER_SEND);
                }
            }
            _ => {}
        }
    }
}

/// Builds one IPv4/UDP datagram of `size` IP bytes whose payload starts with `seq`.
fn udp_datagram(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    ident: u16,
    size: usize,
    seq: u64,
) -> Vec<u8> {
    let udp = UdpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
    };
    let ip = Ipv4Repr {
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
        next_header: IpProtocol::UDP,
        payload_len: size - crate::wire::IPV4_HEADER_LEN,
        hop_limit: 64,
        ident,
        dont_frag: true,
    };
    let mut buf = vec![0; ip.buffer_len()];
    let mut ip_packet = Ipv4Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut ip_packet);
    let payload_len = ip.payload_len - crate::wire::UDP_HEADER_LEN;
    let mut udp_packet = UdpPacket::new_unchecked(ip_packet.payload_mut());
    udp.emit(
        &mut udp_packet,
        ip.src_addr,
        ip.dst_addr,
        payload_len,
        |p| {
            p[..8].copy_from_slice(&seq.to_be_bytes());
        },
    );
    buf
}

/// Accepts UDP datagrams addressed to it and measures them.
///
/// Metrics: `packets_received`, `bytes_received` (IP bytes), `delay_ns` (one-way delay
/// histogram), `reordered` (a sequence number lower than one already seen), `not_for_me`
/// (another destination, as seen behind a hub) and `malformed`.
#[derive(Debug)]
pub struct UdpSink {
    addr: Ipv4Addr,
    highest_seq: Option<u64>,
}

impl UdpSink {
    /// A sink for datagrams to `addr`.
    pub fn new(addr: Ipv4Addr) -> Self {
        Self {
            addr,
            highest_seq: None,
        }
    }
}

impl Node for UdpSink {
    fn on_packet(&mut self, ctx: &mut Ctx<'_>, _: IfaceId, packet: Packet) {
        let Some((ip, seq)) = parse_datagram(&packet.data) else {
            ctx.metrics().incr("malformed");
            return;
        };
        if ip.dst_addr != self.addr {
            ctx.metrics().incr("not_for_me");
            return;
        }
        let delay = ctx.now() - packet.created;
        let m = ctx.metrics();
        m.incr("packets_received");
        m.add("bytes_received", packet.len() as u64);
        m.record("delay_ns", delay.as_nanos());
        if self.highest_seq.is_some_and(|h| seq < h) {
            m.incr("reordered");
        }
        self.highest_seq = Some(self.highest_seq.map_or(seq, |h| h.max(seq)));
    }
}

fn parse_datagram(data: &[u8]) -> Option<(Ipv4Repr, u64)> {
    let ip_packet = Ipv4Packet::new_checked(data).ok()?;
    let ip = Ipv4Repr::parse(&ip_packet).ok()?;
    if ip.next_header != IpProtocol::UDP {
        return None;
    }
    let udp = UdpPacket::new_checked(ip_packet.payload()).ok()?;
    UdpRepr::parse(&udp, ip.src_addr, ip.dst_addr).ok()?;
    let seq = udp.payload().get(..8)?;
    Some((ip, u64::from_be_bytes(seq.try_into().ok()?)))
}

/// Repeats every packet out of every other interface (a hub or, with two ports, a wire
/// repeater). Stands in for routers until the IP stack exists, and stays useful as one.
#[derive(Debug, Default)]
pub struct Hub;

impl Node for Hub {
    fn on_packet(&mut self, ctx: &mut Ctx<'_>, iface: IfaceId, packet: Packet) {
        let n = ctx.iface_count() as u32;
        let others: Vec<u32> = (0..n).filter(|&i| i != iface.0).collect();
        if let Some((&last, rest)) = others.split_last() {
            for &i in rest {
                ctx.send(IfaceId(i), packet.clone());
            }
            ctx.send(IfaceId(last), packet);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::{LinkParams, Simulation};

    fn addr(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn datagrams_parse_back() {
        let d = udp_datagram(addr("10.0.0.1:1000"), addr("10.0.0.2:2000"), 7, 100, 42);
        assert_eq!(d.len(), 100);
        let (ip, seq) = parse_datagram(&d).unwrap();
        assert_eq!((ip.dst_addr, seq), (Ipv4Addr::new(10, 0, 0, 2), 42));
        assert!(parse_datagram(&d[..50]).is_none());
    }

    #[test]
    fn cbr_through_a_hub_reaches_the_sink_at_the_configured_rate() {
        let mut sim = Simulation::new(1);
        let cfg = UdpSourceConfig {
            src: addr("10.0.0.1:1000"),
            dst: addr("10.0.0.2:2000"),
            pattern: Pattern::Cbr {
                rate_bps: 800_000,
                size: 1000,
            },
            start: SimDuration::ZERO,
            stop: Some(SimDuration::from_secs(1)),
        };
        let src = sim
            .add_node(
                "src",
                Box::new(move |_| Box::new(UdpSource::new(cfg.clone()))),
            )
            .unwrap();
        let hub = sim.add_node("hub", Box::new(|_| Box::new(Hub))).unwrap();
        let dst = sim
            .add_node(
                "dst",
                Box::new(|_| Box::new(UdpSink::new(Ipv4Addr::new(10, 0, 0, 2)))),
            )
            .unwrap();
        let p = LinkParams::new().delay(SimDuration::from_millis(5));
        sim.connect_sym("l1", src, hub, p.clone()).unwrap();
        sim.connect_sym("l2", hub, dst, p).unwrap();
        sim.run_until(SimTime::ZERO + SimDuration::from_secs(2))
            .unwrap();
        let metrics = sim.nodes().find(|(_, n, _)| *n == "dst").unwrap().2;
        // 800 kbit/s of 1000-byte packets = 100 per second.
        assert_eq!(metrics.counter("packets_received"), 100);
        assert_eq!(metrics.counter("reordered"), 0);
    }
}
