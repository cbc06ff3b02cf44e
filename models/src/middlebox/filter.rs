//! Packet classification: the [`PacketFilter`] that firewall rules and on-path commands
//! share.

use std::ops::RangeInclusive;

use super::packet::PacketInfo;
use crate::ip::Prefix;
use crate::wire::IpProtocol;

/// Which packets a firewall rule or an on-path command applies to: every condition that
/// is set must hold, so [`PacketFilter::any`] matches everything.
///
/// A port condition never matches a packet without ports (ESP, ICMP, other protocols).
/// Build with the chained setters, e.g. "UDP to port 500 or 4500":
///
/// ```
/// use models::middlebox::PacketFilter;
/// use models::wire::IpProtocol;
///
/// let ike = PacketFilter::any().protocol(IpProtocol::UDP).dst_ports(500..=500);
/// let nat_t = PacketFilter::any().protocol(IpProtocol::UDP).dst_ports(4500..=4500);
/// # let _ = (ike, nat_t);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PacketFilter {
    /// IP protocol, or any.
    pub protocol: Option<IpProtocol>,
    /// Source address prefix, or any.
    pub src: Option<Prefix>,
    /// Destination address prefix, or any.
    pub dst: Option<Prefix>,
    /// Source ports (inclusive), or any.
    pub src_ports: Option<RangeInclusive<u16>>,
    /// Destination ports (inclusive), or any.
    pub dst_ports: Option<RangeInclusive<u16>>,
}

impl PacketFilter {
    /// Matches every packet.
    pub fn any() -> Self {
        Self::default()
    }

    /// Only packets of `protocol`.
    #[must_use]
    pub fn protocol(mut self, protocol: IpProtocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Only packets from `src` (an address or an [`Prefix`]).
    #[must_use]
    pub fn src(mut self, src: impl Into<Prefix>) -> Self {
        self.src = Some(src.into());
        self
    }

    /// Only packets to `dst` (an address or an [`Prefix`]).
    #[must_use]
    pub fn dst(mut self, dst: impl Into<Prefix>) -> Self {
        self.dst = Some(dst.into());
        self
    }

    /// Only packets whose source port is in `ports`.
    #[must_use]
    pub fn src_ports(mut self, ports: RangeInclusive<u16>) -> Self {
        self.src_ports = Some(ports);
        self
    }

    /// Only packets whose destination port is in `ports`.
    #[must_use]
    pub fn dst_ports(mut self, ports: RangeInclusive<u16>) -> Self {
        self.dst_ports = Some(ports);
        self
    }

    /// Whether the packet meets every condition.
    pub(crate) fn matches(&self, info: &PacketInfo) -> bool {
        let port_ok = |range: &Option<RangeInclusive<u16>>, pick: fn((u16, u16)) -> u16| {
            range
                .as_ref()
                .is_none_or(|r| info.ports.is_some_and(|p| r.contains(&pick(p))))
        };
        self.protocol.is_none_or(|p| p == info.protocol)
            && self.src.is_none_or(|p| p.contains(info.src_addr))
            && self.dst.is_none_or(|p| p.contains(info.dst_addr))
            && port_ok(&self.src_ports, |p| p.0)
            && port_ok(&self.dst_ports, |p| p.1)
    }
}
