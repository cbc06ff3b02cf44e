//! An IPv4 router: longest-prefix-match forwarding with TTL decrement (RFC 1812 §5.2–5.3).

use sim::{Ctx, IfaceId, Node, Packet};

use crate::ip::route::RoutingTable;
use crate::wire::{Ipv4Packet, checksum};

/// Forwards every IPv4 packet by its destination address.
///
/// The header checksum is verified (RFC 1812 §5.2.2) and, after the TTL is decremented,
/// updated incrementally (RFC 1624). A packet whose TTL would reach zero, or that matches
/// no route, is dropped and counted; ICMP errors are not generated.
///
/// Metrics: `forwarded`, `dropped_ttl`, `dropped_no_route`, `dropped_malformed`.
#[derive(Debug)]
pub struct Router {
    routes: RoutingTable,
}

impl Router {
    /// A router with the given table.
    pub fn new(routes: RoutingTable) -> Self {
        Self { routes }
    }
}

impl Node for Router {
    fn on_packet(&mut self, ctx: &mut Ctx<'_>, _: IfaceId, mut packet: Packet) {
        match forward_hop(&mut packet.data, &self.routes) {
            Ok(iface) => {
                ctx.metrics().incr("forwarded");
                ctx.send(iface, packet);
            }
            Err(drop) => ctx.metrics().incr(drop.metric()),
        }
    }
}

/// Why a router or host dropped a packet instead of forwarding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardDrop {
    /// Not a valid IPv4 header.
    Malformed,
    /// TTL exhausted.
    Ttl,
    /// No route to the destination.
    NoRoute,
}

impl ForwardDrop {
    /// The counter this drop increments.
    pub fn metric(self) -> &'static str {
        match self {
            Self::Malformed => "dropped_malformed",
            Self::Ttl => "dropped_ttl",
            Self::NoRoute => "dropped_no_route",
        }
    }
}

/// Performs one forwarding hop on `data` in place: checks the header, decrements the TTL
/// with an incremental checksum update, and returns the outgoing interface.
pub fn forward_hop(data: &mut [u8], routes: &RoutingTable) -> Result<IfaceId, ForwardDrop> {
    let dst = Ipv4Packet::new_checked(&*data)
        .map_err(|_| ForwardDrop::Malformed)?
        .dst_addr();
    let route = routes.lookup(dst).ok_or(ForwardDrop::NoRoute)?;
    decrement_ttl(data)?;
    Ok(route.iface)
}

/// Checks the header and decrements the TTL in place with an incremental checksum update
/// (RFC 1624); a packet whose TTL would reach zero is refused (RFC 1812 §5.3.1).
pub fn decrement_ttl(data: &mut [u8]) -> Result<(), ForwardDrop> {
    let mut ip = Ipv4Packet::new_checked(data).map_err(|_| ForwardDrop::Malformed)?;
    if ip.version() != 4 || !ip.verify_checksum() {
        return Err(ForwardDrop::Malformed);
    }
    let ttl = ip.hop_limit();
    if ttl <= 1 {
        return Err(ForwardDrop::Ttl);
    }
    // TTL shares a 16-bit word with the protocol number (RFC 791 §3.1).
    let proto = ip.next_header().0;
    let sum = checksum::update(ip.checksum(), &[ttl, proto], &[ttl - 1, proto]);
    ip.set_hop_limit(ttl - 1);
    ip.set_checksum(sum);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::ip::{Prefix, Route};
    use crate::wire::{IpProtocol, Ipv4Repr};

    fn packet(ttl: u8, dst: Ipv4Addr) -> Vec<u8> {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: dst,
            next_header: IpProtocol::UDP,
            payload_len: 8,
            hop_limit: ttl,
            ident: 1,
            dont_frag: true,
        };
        let mut buf = vec![0; repr.buffer_len()];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        buf
    }

    #[test]
    fn decrements_ttl_and_keeps_the_checksum_valid() {
        let mut routes = RoutingTable::new();
        routes.insert(
            "10.2.0.0/16".parse::<Prefix>().unwrap(),
            Route { iface: IfaceId(4) },
        );
        let mut p = packet(64, Ipv4Addr::new(10, 2, 0, 9));
        assert_eq!(forward_hop(&mut p, &routes), Ok(IfaceId(4)));
        let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(ip.hop_limit(), 63);
        assert!(ip.verify_checksum());
        assert_eq!(
            forward_hop(&mut packet(1, Ipv4Addr::new(10, 2, 0, 9)), &routes),
            Err(ForwardDrop::Ttl)
        );
        assert_eq!(
            forward_hop(&mut packet(9, Ipv4Addr::new(10, 3, 0, 9)), &routes),
            Err(ForwardDrop::NoRoute)
        );
        assert_eq!(
            forward_hop(&mut [0x45, 0, 0], &routes),
            Err(ForwardDrop::Malformed)
        );
    }
}
