//! NAT: a network address and port translator (NAPT) with one public address, behaving as
//! RFC 4787 (UDP) and RFC 5382 (TCP) describe, as an engine node.
//!
//! The NAT has one outside interface and any number of inside interfaces (clients on
//! point-to-point links). An outbound packet creates or refreshes a binding and leaves with
//! the public address and an external port as its source; an inbound packet to the public
//! address goes back to the inside host and interface its binding names, if the filtering
//! behaviour admits it. Headers are rewritten in place with incremental checksum updates,
//! and the TTL is decremented, since a NAT is a router hop.
//!
//! What is modelled, with where in the RFCs (see [`NatConfig`] for the knobs):
//!
//! - mapping and filtering behaviours (RFC 4787 §4.1 and §5, RFC 5382 §4), port
//!   preservation, sequential or random assignment (RFC 4787 §4.2.1);
//! - idle timeouts per session: UDP (RFC 4787 §4.3), TCP established and transitory, from
//!   the SYN, FIN and RST flags seen (RFC 5382 §5);
//! - hairpinning (RFC 4787 §6, RFC 5382 REQ-8);
//! - ESP and other protocols without ports: address-only bindings (see [`Nat`]);
//! - a reboot that loses every binding ([`NatCommand::Reboot`]).
//!
//! Not modelled: ICMP (dropped and counted: query identifiers and the headers embedded in
//! ICMP errors would need translating, RFC 5508), fragments (dropped as malformed; ikesim
//! never fragments), port parity and contiguity (RFC 4787 §4.2.2-4.2.3), ALGs, and more than
//! one public address.

mod config;
mod expiry;
mod table;

use std::any::Any;
use std::net::{Ipv4Addr, SocketAddrV4};

use sim::{Ctx, IfaceId, Node, Packet, SimTime};

pub use self::config::{
    FilteringBehavior, MappingBehavior, NatConfig, NatConfigError, PortAssignment, UnsolicitedTcp,
};
use self::table::{Flow, Table, has_ports};
use crate::middlebox::Wakeup;
use crate::middlebox::packet::{PacketInfo, TcpInfo, rst_reply};
use crate::wire::{IpProtocol, Ipv4Packet, TcpPacket, UdpPacket, checksum};

/// A scripted command for a [`Nat`], delivered with
/// `sim::Action::Custom { node, payload: Box::new(command) }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatCommand {
    /// Lose every binding at once, as a NAT that reboots or flushes its state table does;
    /// port assignment starts over too. The NAT keeps forwarding: for downtime, crash and
    /// restart the node instead (`sim::Action::Crash`, then `Restart`; the factory rebuilds
    /// it empty, and its lost bindings are not counted).
    Reboot,
}

/// Why a packet was not forwarded; each reason has a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Discard {
    Malformed,
    Icmp,
    Ttl,
    NotForMe,
    NoBinding,
    Filtered,
    Hairpin,
    PortsExhausted,
}

impl Discard {
    fn metric(self) -> &'static str {
        match self {
            Self::Malformed => "dropped_malformed",
            Self::Icmp => "dropped_icmp",
            Self::Ttl => "dropped_ttl",
            Self::NotForMe => "dropped_not_for_me",
            Self::NoBinding => "dropped_no_binding",
            Self::Filtered => "dropped_filtered",
            Self::Hairpin => "dropped_hairpin",
            Self::PortsExhausted => "dropped_ports_exhausted",
        }
    }
}

const TIMER_EXPIRY: u64 = 0;

/// A NAPT node; see the [module docs](self) for what it models.
///
/// A binding (metrics' word) is a mapping from an inside endpoint to an external port; it
/// holds one session per remote endpoint the inside host sent to, and lives while a session
/// does. Inside endpoints are told apart by interface, so inside networks may reuse
/// addresses. ESP and other protocols without ports get address-only bindings (inside
/// address, protocol, remote address): outbound packets take the public address, and an
/// inbound packet goes to the inside host that most recently sent that protocol to its
/// source. Expired bindings are removed by one timer sweeping an index of deadlines, and
/// before every packet, so an expired binding never translates.
///
/// Metrics: `bindings_active` (gauge), `bindings_created`, `bindings_expired`,
/// `bindings_dropped_reboot`; `translated_out`, `translated_in`, `hairpinned`,
/// `rst_sent`; drops by reason: `dropped_malformed` (not IPv4, bad header checksum,
/// fragment, truncated TCP/UDP header), `dropped_icmp`, `dropped_ttl` (TTL 1 or 0 on
/// arrival), `dropped_not_for_me` (inbound to another address), `dropped_no_binding`
/// (also an outbound RST or ESP to the public address), `dropped_filtered`,
/// `dropped_hairpin` (hairpinning off), `dropped_ports_exhausted`; `invalid_commands`.
#[derive(Debug)]
pub struct Nat {
    table: Table,
    wakeup: Wakeup,
    /// The last `bindings_active` value recorded.
    reported_active: Option<usize>,
}

impl Nat {
    /// A NAT with no bindings, or the reason `cfg` cannot work.
    pub fn new(cfg: NatConfig) -> Result<Self, NatConfigError> {
        cfg.validate()?;
        Ok(Self {
            table: Table::new(cfg),
            wakeup: Wakeup::default(),
            reported_active: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NatConfig {
        self.table.cfg()
    }

    /// How many bindings exist now (expired ones may linger until the next event).
    pub fn binding_count(&self) -> usize {
        self.table.mapping_count()
    }

    fn outside(&self, ctx: &Ctx<'_>) -> IfaceId {
        self.config()
            .outside_iface
            .unwrap_or_else(|| IfaceId(ctx.iface_count().saturating_sub(1) as u32))
    }

    /// Decides where a packet goes and rewrites it (all but the TTL); returns the
    /// interface and the metric to count.
    fn route(
        &mut self,
        ctx: &mut Ctx<'_>,
        iface: IfaceId,
        data: &mut [u8],
    ) -> Result<(IfaceId, &'static str), Discard> {
        let info = PacketInfo::parse(data).ok_or(Discard::Malformed)?;
        if info.protocol == IpProtocol::ICMP {
            return Err(Discard::Icmp);
        }
        // A router must not forward a packet whose TTL reaches zero (RFC 1812 §5.3.1);
        // ICMP Time Exceeded is not modelled.
        if info.hop_limit <= 1 {
            return Err(Discard::Ttl);
        }
        if iface == self.outside(ctx) {
            let to = self.inbound(ctx, data, &info)?;
            return Ok((to, "translated_in"));
        }
        self.outbound(ctx, iface, data, &info)
    }

    fn outbound(
        &mut self,
        ctx: &mut Ctx<'_>,
        iface: IfaceId,
        data: &mut [u8],
        info: &PacketInfo,
    ) -> Result<(IfaceId, &'static str), Discard> {
        let public = self.config().public_addr;
        let hairpin = info.dst_addr == public;
        if hairpin && !self.config().hairpinning {
            return Err(Discard::Hairpin);
        }
        if hairpin && info.ports.is_none() {
            // No port says which inside host an address-only packet is for.
            return Err(Discard::NoBinding);
        }
        let flow = Flow {
            protocol: info.protocol,
            iface,
            inside: info.src(),
            remote: info.dst(),
            tcp: info.tcp,
        };
        let now = ctx.now();
        let out = self.table.outbound(now, ctx.rng(), &flow)?;
        if out.created {
            ctx.metrics().incr("bindings_created");
        }
        rewrite(data, Side::Src, public, out.external_port);
        if !hairpin {
            return Ok((self.outside(ctx), "translated_out"));
        }
        // RFC 4787 REQ-9 / RFC 5382 REQ-8: translate it again as if it came from outside,
        // with the sender's external address and port as its source.
        let from = SocketAddrV4::new(public, out.external_port.unwrap_or_default());
        let to =
            self.deliver_inside(now, data, info.protocol, from, info.dst().port(), info.tcp)?;
        Ok((to, "hairpinned"))
    }

    fn inbound(
        &mut self,
        ctx: &mut Ctx<'_>,
        data: &mut [u8],
        info: &PacketInfo,
    ) -> Result<IfaceId, Discard> {
        if info.dst_addr != self.config().public_addr {
            return Err(Discard::NotForMe);
        }
        let result = self.deliver_inside(
            ctx.now(),
            data,
            info.protocol,
            info.src(),
            info.dst().port(),
            info.tcp,
        );
        if let Err(Discard::NoBinding | Discard::Filtered) = result
            && self.config().unsolicited_tcp == UnsolicitedTcp::SendRst
            && let Some(rst) = rst_reply(info)
        {
            ctx.metrics().incr("rst_sent");
            let rst = ctx.packet(rst);
            let outside = self.outside(ctx);
            ctx.send(outside, rst);
        }
        result
    }

    /// Looks up the binding for a packet from `remote` to the public address and
    /// `external_port` (ignored without ports), and rewrites its destination to the inside
    /// endpoint.
    fn deliver_inside(
        &mut self,
        now: SimTime,
        data: &mut [u8],
        protocol: IpProtocol,
        remote: SocketAddrV4,
        external_port: u16,
        tcp: Option<TcpInfo>,
    ) -> Result<IfaceId, Discard> {
        let (iface, inside) =
            self.table
                .inbound(now, protocol, external_port, remote, tcp.as_ref())?;
        let port = has_ports(protocol).then_some(inside.port());
        rewrite(data, Side::Dst, *inside.ip(), port);
        Ok(iface)
    }

    fn expire(&mut self, ctx: &mut Ctx<'_>) {
        let expired = self.table.expire(ctx.now());
        if expired > 0 {
            ctx.metrics().add("bindings_expired", expired as u64);
        }
    }

    /// Records `bindings_active` if it changed and keeps the expiry timer armed.
    fn settle(&mut self, ctx: &mut Ctx<'_>) {
        let active = self.table.mapping_count();
        if self.reported_active != Some(active) {
            self.reported_active = Some(active);
            ctx.metrics().set_gauge("bindings_active", active as f64);
        }
        if let Some(at) = self.table.next_deadline() {
            self.wakeup.ensure(ctx, at, TIMER_EXPIRY);
        }
    }
}

impl Node for Nat {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(iface) = self.config().outside_iface {
            assert!(
                (iface.0 as usize) < ctx.iface_count(),
                "NAT {}: outside interface {} does not exist ({} interfaces)",
                ctx.name(),
                iface.0,
                ctx.iface_count()
            );
        }
        self.settle(ctx);
    }

    fn on_packet(&mut self, ctx: &mut Ctx<'_>, iface: IfaceId, mut packet: Packet) {
        self.expire(ctx);
        match self.route(ctx, iface, &mut packet.data) {
            Ok((out, metric)) => {
                decrement_ttl(&mut packet.data);
                ctx.metrics().incr(metric);
                ctx.send(out, packet);
            }
            Err(discard) => ctx.metrics().incr(discard.metric()),
        }
        self.settle(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _: u64) {
        self.wakeup.fired();
        self.expire(ctx);
        self.settle(ctx);
    }

    fn on_action(&mut self, ctx: &mut Ctx<'_>, action: &dyn Any) {
        match action.downcast_ref::<NatCommand>() {
            Some(NatCommand::Reboot) => {
                let lost = self.table.mapping_count();
                self.table = Table::new(self.config().clone());
                ctx.metrics().add("bindings_dropped_reboot", lost as u64);
            }
            None => ctx.metrics().incr("invalid_commands"),
        }
        self.settle(ctx);
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        let active = self.table.mapping_count();
        ctx.metrics().set_gauge("bindings_active", active as f64);
    }
}

/// Which end of a packet to rewrite.
#[derive(Clone, Copy, Debug)]
enum Side {
    Src,
    Dst,
}

impl Side {
    fn pick<T>(self, src: T, dst: T) -> T {
        match self {
            Self::Src => src,
            Self::Dst => dst,
        }
    }
}

/// Rewrites the source or destination address of a packet that passed
/// [`PacketInfo::parse`], and its TCP or UDP port if `port` is given, updating checksums
/// incrementally (RFC 3022 §4.2 with RFC 1624 eq. 3): the IPv4 header checksum covers the
/// address, TCP and UDP checksums cover it through the pseudo-header and cover the port.
/// ESP and other protocols carry no checksum over IP addresses (RFC 4303 §2).
fn rewrite(data: &mut [u8], side: Side, addr: Ipv4Addr, port: Option<u16>) {
    let mut ip = Ipv4Packet::new_unchecked(data);
    let old = side.pick(ip.src_addr(), ip.dst_addr()).octets();
    let new = addr.octets();
    ip.set_checksum(checksum::update(ip.checksum(), &old, &new));
    match side {
        Side::Src => ip.set_src_addr(addr),
        Side::Dst => ip.set_dst_addr(addr),
    }
    let protocol = ip.next_header();
    let payload = ip.payload_mut();
    let fix = |sum: u16, old_port: u16, new_port: u16| {
        let sum = checksum::update(sum, &old, &new);
        checksum::update(sum, &old_port.to_be_bytes(), &new_port.to_be_bytes())
    };
    match protocol {
        IpProtocol::TCP => {
            let mut seg = TcpPacket::new_unchecked(payload);
            let old_port = side.pick(seg.src_port(), seg.dst_port());
            let new_port = port.unwrap_or(old_port);
            seg.set_checksum(fix(seg.checksum(), old_port, new_port));
            match side {
                Side::Src => seg.set_src_port(new_port),
                Side::Dst => seg.set_dst_port(new_port),
            }
        }
        IpProtocol::UDP => {
            let mut datagram = UdpPacket::new_unchecked(payload);
            let old_port = side.pick(datagram.src_port(), datagram.dst_port());
            let new_port = port.unwrap_or(old_port);
            // RFC 768: zero means "no checksum" and stays zero; a computed zero is sent
            // as all ones.
            if datagram.checksum() != 0 {
                let sum = fix(datagram.checksum(), old_port, new_port);
                datagram.set_checksum(if sum == 0 { 0xffff } else { sum });
            }
            match side {
                Side::Src => datagram.set_src_port(new_port),
                Side::Dst => datagram.set_dst_port(new_port),
            }
        }
        _ => {}
    }
}

/// Decrements the TTL of a packet whose TTL is at least 2, updating the header checksum
/// (TTL and protocol share one 16-bit word, RFC 791 §3.1).
fn decrement_ttl(data: &mut [u8]) {
    let mut ip = Ipv4Packet::new_unchecked(data);
    let (ttl, protocol) = (ip.hop_limit(), ip.next_header().0);
    let sum = checksum::update(ip.checksum(), &[ttl, protocol], &[ttl - 1, protocol]);
    ip.set_checksum(sum);
    ip.set_hop_limit(ttl - 1);
}
