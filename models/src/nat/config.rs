//! The typed configuration of a [`super::Nat`]: the behaviours RFC 4787 and RFC 5382 name,
//! with settable timeouts.

use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use sim::{IfaceId, SimDuration};

/// How the NAT reuses an external port across remote endpoints (RFC 4787 §4.1).
///
/// Applies to TCP and UDP (RFC 5382 §4.1 uses the same terms). RFC 4787 REQ-1 and RFC 5382
/// REQ-1 require endpoint-independent mapping, the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MappingBehavior {
    /// One mapping per inside address and port, whatever the remote.
    #[default]
    EndpointIndependent,
    /// One mapping per inside address and port and remote address.
    AddressDependent,
    /// One mapping per inside address and port and remote address and port (a
    /// "symmetric" NAT in RFC 3489 terms).
    AddressAndPortDependent,
}

/// Which inbound packets a mapping lets through (RFC 4787 §5, RFC 5382 §4.3).
///
/// RFC 4787 REQ-8 and RFC 5382 REQ-3 recommend endpoint-independent filtering where
/// transparency matters and address-dependent filtering where stricter filtering does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FilteringBehavior {
    /// Anything addressed to the external port.
    EndpointIndependent,
    /// Only from remote addresses the inside endpoint has sent to (any port).
    #[default]
    AddressDependent,
    /// Only from remote address and port pairs the inside endpoint has sent to.
    AddressAndPortDependent,
}

/// How the NAT picks the external port of a new mapping (RFC 4787 §4.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PortAssignment {
    /// Keep the inside port if no other mapping of the protocol uses it, even outside
    /// [`NatConfig::port_range`] (so IKE's port 500 stays 500, as on Linux); otherwise fall
    /// back to [`Self::Sequential`]. Port overloading, forbidden by RFC 4787 REQ-3, is
    /// never done.
    #[default]
    Preserve,
    /// The next free port in the range after the last one assigned, wrapping around.
    Sequential,
    /// A uniformly random port of the range, drawn from the node's random stream (RFC 6056
    /// §3.3.1's reasoning: harder to guess); if taken, the next free one after it.
    Random,
}

/// What the NAT does with an inbound TCP segment that no mapping lets through.
///
/// RFC 5382 REQ-4 says a NAT must not answer an unsolicited SYN for at least 6 seconds (a
/// simultaneous open may follow) and then should send an ICMP Port Unreachable, which
/// ikesim does not model; after a NAT reboot, real NATs either drop or reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnsolicitedTcp {
    /// Drop it silently; the remote retransmits until its timers give up.
    #[default]
    Drop,
    /// Drop it and answer a non-RST segment with a RST from the NAT's public address
    /// (RFC 9293 §3.10.7.1 sequence numbers), so the remote fails fast.
    SendRst,
}

/// Configuration of a [`super::Nat`]. Build with [`NatConfig::new`] and struct update:
///
/// ```
/// use models::nat::{FilteringBehavior, MappingBehavior, NatConfig};
/// use std::net::Ipv4Addr;
///
/// let symmetric = NatConfig {
///     mapping: MappingBehavior::AddressAndPortDependent,
///     filtering: FilteringBehavior::AddressAndPortDependent,
///     ..NatConfig::new(Ipv4Addr::new(203, 0, 113, 1))
/// };
/// assert!(symmetric.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatConfig {
    /// The one public address, on the outside interface.
    pub public_addr: Ipv4Addr,
    /// The outside interface; `None` means the last interface. Every other interface is
    /// an inside interface.
    pub outside_iface: Option<IfaceId>,
    /// Mapping behaviour.
    pub mapping: MappingBehavior,
    /// Filtering behaviour.
    pub filtering: FilteringBehavior,
    /// Port assignment.
    pub port_assignment: PortAssignment,
    /// External ports the NAT assigns (besides preserved ones); default 1024-65535.
    pub port_range: RangeInclusive<u16>,
    /// Idle lifetime of a UDP session. RFC 4787 REQ-5: at least 2 minutes (the default),
    /// 5 minutes recommended; shorter values model non-compliant NATs.
    pub udp_idle_timeout: SimDuration,
    /// Whether inbound packets refresh UDP and other non-TCP sessions (RFC 4787 REQ-6
    /// requires outbound refresh and allows inbound refresh). TCP sessions are refreshed
    /// by packets either way, as RFC 5382 §5 measures idleness of the connection.
    pub inbound_refresh: bool,
    /// Idle lifetime of an established TCP session. RFC 5382 REQ-5: at least 2 hours 4
    /// minutes (the default).
    pub tcp_established_idle_timeout: SimDuration,
    /// Idle lifetime of a TCP session that is not established yet, or is closing (FIN or
    /// RST seen). RFC 5382 REQ-5: at least 4 minutes (the default).
    pub tcp_transitory_idle_timeout: SimDuration,
    /// Idle lifetime of an address-only session (ESP and other protocols without ports),
    /// which no RFC specifies; default 2 minutes, as for UDP.
    pub other_idle_timeout: SimDuration,
    /// Hairpinning (RFC 4787 REQ-9, RFC 5382 REQ-8): an inside host may reach another
    /// through the public address and port of its mapping. Required, so on by default.
    pub hairpinning: bool,
    /// Inbound TCP that no mapping lets through.
    pub unsolicited_tcp: UnsolicitedTcp,
}

impl NatConfig {
    /// The RFC-compliant defaults listed on each field, with public address `public_addr`.
    pub fn new(public_addr: Ipv4Addr) -> Self {
        Self {
            public_addr,
            outside_iface: None,
            mapping: MappingBehavior::default(),
            filtering: FilteringBehavior::default(),
            port_assignment: PortAssignment::default(),
            port_range: 1024..=65535,
            udp_idle_timeout: SimDuration::from_secs(120),
            inbound_refresh: false,
            tcp_established_idle_timeout: SimDuration::from_secs(2 * 3600 + 4 * 60),
            tcp_transitory_idle_timeout: SimDuration::from_secs(4 * 60),
            other_idle_timeout: SimDuration::from_secs(120),
            hairpinning: true,
            unsolicited_tcp: UnsolicitedTcp::default(),
        }
    }

    /// Checks what the types cannot: the port range is not empty and excludes port 0.
    pub fn validate(&self) -> Result<(), NatConfigError> {
        let (lo, hi) = (*self.port_range.start(), *self.port_range.end());
        if lo > hi {
            return Err(NatConfigError::EmptyPortRange { lo, hi });
        }
        if lo == 0 {
            return Err(NatConfigError::PortZero);
        }
        Ok(())
    }
}

/// A [`NatConfig`] that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NatConfigError {
    /// `port_range` has no ports.
    #[error("NAT port_range {lo}-{hi} is empty")]
    EmptyPortRange {
        /// Start of the range.
        lo: u16,
        /// End of the range.
        hi: u16,
    },
    /// `port_range` includes port 0, which is not a valid port to send from.
    #[error("NAT port_range must not include port 0")]
    PortZero,
}
