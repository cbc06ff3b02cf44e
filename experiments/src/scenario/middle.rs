//! Scenario specs of the middleboxes: NATs, firewalls and on-path elements, and the packet
//! filters their rules and commands use.

use std::net::Ipv4Addr;

use models::ip::Prefix;
use models::middlebox::{FirewallConfig, PacketFilter, Rule, RuleAction, RuleDirection};
use models::nat::{FilteringBehavior, MappingBehavior, NatConfig, PortAssignment, UnsolicitedTcp};
use models::wire::IpProtocol;
use serde::{Deserialize, Serialize};

use crate::units::Dur;

/// A NAT (RFC 4787 / RFC 5382 behaviour); unset keys keep the RFC defaults.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NatSpec {
    /// Unique node name.
    pub name: String,
    /// The public address on the outside link.
    pub public_address: Ipv4Addr,
    /// The outside link (default: the node's last link); every other link is inside.
    #[serde(default)]
    pub outside: Option<String>,
    /// `endpoint-independent` (default), `address-dependent` or `address-and-port-dependent`.
    #[serde(default)]
    pub mapping: Option<Behavior>,
    /// `endpoint-independent`, `address-dependent` (default) or `address-and-port-dependent`.
    #[serde(default)]
    pub filtering: Option<Behavior>,
    /// `preserve` (default), `sequential` or `random`.
    #[serde(default)]
    pub port_assignment: Option<Ports>,
    /// External ports handed out: `[first, last]` (default `[1024, 65535]`).
    #[serde(default)]
    pub port_range: Option<[u16; 2]>,
    /// UDP binding idle timeout (default 120 s).
    #[serde(default)]
    pub udp_timeout: Option<Dur>,
    /// Inbound packets refresh UDP bindings too (default false).
    #[serde(default)]
    pub inbound_refresh: Option<bool>,
    /// Established TCP idle timeout (default 2 h 4 min = "7440s").
    #[serde(default)]
    pub tcp_established_timeout: Option<Dur>,
    /// Transitory TCP idle timeout (default 4 min).
    #[serde(default)]
    pub tcp_transitory_timeout: Option<Dur>,
    /// Timeout of ESP and other port-less bindings (default 120 s).
    #[serde(default)]
    pub other_timeout: Option<Dur>,
    /// Hairpinning (default true).
    #[serde(default)]
    pub hairpinning: Option<bool>,
    /// Unsolicited inbound TCP: `drop` (default) or `rst`.
    #[serde(default)]
    pub unsolicited_tcp: Option<Unsolicited>,
}

/// RFC 4787 mapping or filtering behaviour.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behavior {
    /// Endpoint-independent.
    EndpointIndependent,
    /// Address-dependent.
    AddressDependent,
    /// Address- and port-dependent.
    AddressAndPortDependent,
}

/// External port choice.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ports {
    /// Keep the inside port when free.
    Preserve,
    /// The next free port.
    Sequential,
    /// A random free port.
    Random,
}

/// What to do with unsolicited inbound TCP.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unsolicited {
    /// Drop it.
    Drop,
    /// Answer with a RST.
    Rst,
}

impl NatSpec {
    /// The model's configuration with the outside interface given.
    pub fn config(&self, outside: sim::IfaceId) -> Result<NatConfig, String> {
        let mut c = NatConfig::new(self.public_address);
        c.outside_iface = Some(outside);
        if let Some(m) = self.mapping {
            c.mapping = match m {
                Behavior::EndpointIndependent => MappingBehavior::EndpointIndependent,
                Behavior::AddressDependent => MappingBehavior::AddressDependent,
                Behavior::AddressAndPortDependent => MappingBehavior::AddressAndPortDependent,
            };
        }
        if let Some(f) = self.filtering {
            c.filtering = match f {
                Behavior::EndpointIndependent => FilteringBehavior::EndpointIndependent,
                Behavior::AddressDependent => FilteringBehavior::AddressDependent,
                Behavior::AddressAndPortDependent => FilteringBehavior::AddressAndPortDependent,
            };
        }
        if let Some(p) = self.port_assignment {
            c.port_assignment = match p {
                Ports::Preserve => PortAssignment::Preserve,
                Ports::Sequential => PortAssignment::Sequential,
                Ports::Random => PortAssignment::Random,
            };
        }
        if let Some([lo, hi]) = self.port_range {
            c.port_range = lo..=hi;
        }
        let set = |slot: &mut sim::SimDuration, v: Option<Dur>| {
            if let Some(d) = v {
                *slot = d.0;
            }
        };
        set(&mut c.udp_idle_timeout, self.udp_timeout);
        set(
            &mut c.tcp_established_idle_timeout,
            self.tcp_established_timeout,
        );
        set(
            &mut c.tcp_transitory_idle_timeout,
            self.tcp_transitory_timeout,
        );
        set(&mut c.other_idle_timeout, self.other_timeout);
        c.inbound_refresh = self.inbound_refresh.unwrap_or(c.inbound_refresh);
        c.hairpinning = self.hairpinning.unwrap_or(c.hairpinning);
        if let Some(u) = self.unsolicited_tcp {
            c.unsolicited_tcp = match u {
                Unsolicited::Drop => UnsolicitedTcp::Drop,
                Unsolicited::Rst => UnsolicitedTcp::SendRst,
            };
        }
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }
}

/// Which packets: every key that is set must match.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// `tcp`, `udp`, `esp`, `icmp` or an IP protocol number.
    #[serde(default)]
    pub protocol: Option<ProtocolSpec>,
    /// Source prefix, e.g. `"10.0.0.0/8"`.
    #[serde(default)]
    pub src: Option<String>,
    /// Destination prefix.
    #[serde(default)]
    pub dst: Option<String>,
    /// Source port or `[first, last]`.
    #[serde(default)]
    pub src_ports: Option<PortsSpec>,
    /// Destination port or `[first, last]`.
    #[serde(default)]
    pub dst_ports: Option<PortsSpec>,
}

/// An IP protocol by name or number.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ProtocolSpec {
    /// `tcp`, `udp`, `esp` or `icmp`.
    Name(String),
    /// A protocol number.
    Number(u8),
}

/// A port or an inclusive range of ports.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum PortsSpec {
    /// One port.
    One(u16),
    /// `[first, last]`.
    Range([u16; 2]),
}

impl PortsSpec {
    fn range(self) -> Result<std::ops::RangeInclusive<u16>, String> {
        match self {
            Self::One(p) => Ok(p..=p),
            Self::Range([lo, hi]) if lo <= hi => Ok(lo..=hi),
            Self::Range([lo, hi]) => Err(format!("port range [{lo}, {hi}] is empty")),
        }
    }
}

impl FilterSpec {
    /// The model's filter.
    pub fn filter(&self) -> Result<PacketFilter, String> {
        let mut f = PacketFilter::any();
        if let Some(p) = &self.protocol {
            f = f.protocol(match p {
                ProtocolSpec::Number(n) => IpProtocol(*n),
                ProtocolSpec::Name(n) => match n.as_str() {
                    "tcp" => IpProtocol::TCP,
                    "udp" => IpProtocol::UDP,
                    "esp" => IpProtocol::ESP,
                    "icmp" => IpProtocol::ICMP,
                    other => {
                        return Err(format!(
                            "protocol: expected tcp, udp, esp, icmp or a number, got {other:?}"
                        ));
                    }
                },
            });
        }
        let prefix = |key: &str, s: &str| s.parse::<Prefix>().map_err(|e| format!("{key}: {e}"));
        if let Some(s) = &self.src {
            f = f.src(prefix("src", s)?);
        }
        if let Some(s) = &self.dst {
            f = f.dst(prefix("dst", s)?);
        }
        if let Some(p) = self.src_ports {
            f = f.src_ports(p.range().map_err(|e| format!("src_ports: {e}"))?);
        }
        if let Some(p) = self.dst_ports {
            f = f.dst_ports(p.range().map_err(|e| format!("dst_ports: {e}"))?);
        }
        Ok(f)
    }
}

/// One firewall rule; a firewall applies the first rule that matches.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// `allow`, `deny` (drop silently) or `reject` (RST for TCP).
    pub action: ActionKind,
    /// `forward` (arriving on the node's first link), `backward`, or `both` (default).
    #[serde(default)]
    pub direction: Option<DirectionKind>,
    /// The packets the rule applies to (all when empty).
    #[serde(default, rename = "match")]
    pub filter: FilterSpec,
}

/// A firewall rule's verdict.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// Forward.
    Allow,
    /// Drop silently.
    Deny,
    /// Drop, and reset TCP.
    Reject,
}

impl ActionKind {
    /// The model's action.
    pub fn action(self) -> RuleAction {
        match self {
            Self::Allow => RuleAction::Allow,
            Self::Deny => RuleAction::Deny,
            Self::Reject => RuleAction::Reject,
        }
    }
}

/// Which way through a two-link node.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirectionKind {
    /// Arriving on the node's first link.
    Forward,
    /// Arriving on the node's second link.
    Backward,
    /// Either.
    Both,
}

/// Builds a firewall configuration.
pub fn firewall_config(default: ActionKind, rules: &[RuleSpec]) -> Result<FirewallConfig, String> {
    let mut cfg = FirewallConfig::new(default.action());
    for (i, r) in rules.iter().enumerate() {
        let filter = r
            .filter
            .filter()
            .map_err(|e| format!("rules[{i}]: match: {e}"))?;
        let direction = match r.direction.unwrap_or(DirectionKind::Both) {
            DirectionKind::Forward => RuleDirection::ZeroToOne,
            DirectionKind::Backward => RuleDirection::OneToZero,
            DirectionKind::Both => RuleDirection::Both,
        };
        cfg = cfg.rule(Rule::new(r.action.action(), filter).direction(direction));
    }
    Ok(cfg)
}
