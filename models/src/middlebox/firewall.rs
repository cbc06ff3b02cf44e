//! A stateless packet-filtering firewall: ordered rules, first match wins.
//!
//! Stateless on purpose: the experiments need "UDP/500, UDP/4500 and ESP are blocked, TCP
//! to 4500 and 443 is allowed" (the networks RFC 9329 §1 was written for), which a rule
//! list expresses directly. A stateful firewall's only extra effect, blocking unsolicited
//! inbound traffic, is what the NAT's filtering behaviour ([`crate::nat`]) models.

use sim::{Ctx, IfaceId, MetricName, Node, Packet};

use super::packet::{PacketInfo, rst_reply};
use super::{PacketFilter, assert_two_ifaces, other_iface};

/// What a rule (or the default) does with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleAction {
    /// Forward it unchanged.
    Allow,
    /// Drop it silently, as `iptables -j DROP` does: the sender learns nothing and times
    /// out.
    Deny,
    /// Drop it and, for TCP, answer with a RST from the destination (RFC 9293 §3.10.7.1
    /// reset generation, as `iptables -j REJECT --reject-with tcp-reset` does), so the
    /// sender fails fast. Other protocols are dropped silently (ICMP is not modelled).
    Reject,
}

/// Which way through the firewall a rule applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RuleDirection {
    /// Packets arriving on interface 0 (leaving by 1).
    ZeroToOne,
    /// Packets arriving on interface 1 (leaving by 0).
    OneToZero,
    /// Either way.
    #[default]
    Both,
}

impl RuleDirection {
    fn admits(self, ingress: IfaceId) -> bool {
        match self {
            Self::ZeroToOne => ingress.0 == 0,
            Self::OneToZero => ingress.0 == 1,
            Self::Both => true,
        }
    }
}

/// One firewall rule: if the direction and the filter match, apply the action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Which way it applies.
    pub direction: RuleDirection,
    /// Which packets it applies to.
    pub filter: PacketFilter,
    /// What it does with them.
    pub action: RuleAction,
}

impl Rule {
    /// A rule applying `action` to packets matching `filter`, in both directions.
    pub fn new(action: RuleAction, filter: PacketFilter) -> Self {
        Self {
            direction: RuleDirection::Both,
            filter,
            action,
        }
    }

    /// The same rule restricted to one direction.
    #[must_use]
    pub fn direction(mut self, direction: RuleDirection) -> Self {
        self.direction = direction;
        self
    }
}

/// Configuration of a [`Firewall`]: rules in order, and what happens when none matches.
///
/// The scenario that motivates TCP encapsulation (RFC 9329 §1), with everything else
/// allowed:
///
/// ```
/// use models::middlebox::{FirewallConfig, PacketFilter, Rule, RuleAction};
/// use models::wire::IpProtocol;
///
/// let udp = PacketFilter::any().protocol(IpProtocol::UDP);
/// let cfg = FirewallConfig::new(RuleAction::Allow)
///     .rule(Rule::new(RuleAction::Deny, udp.clone().dst_ports(500..=500)))
///     .rule(Rule::new(RuleAction::Deny, udp.dst_ports(4500..=4500)))
///     .rule(Rule::new(RuleAction::Deny, PacketFilter::any().protocol(IpProtocol::ESP)));
/// # let _ = cfg;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirewallConfig {
    /// Rules, tried in order; the first match decides.
    pub rules: Vec<Rule>,
    /// Action when no rule matches.
    pub default_action: RuleAction,
}

impl FirewallConfig {
    /// No rules, so every packet gets `default_action`.
    pub fn new(default_action: RuleAction) -> Self {
        Self {
            rules: Vec::new(),
            default_action,
        }
    }

    /// Appends a rule (it is tried after the ones before it).
    #[must_use]
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }
}

/// A stateless firewall node between interface 0 and interface 1.
///
/// Metrics: `passed`, `denied`, `rejected` (packets; a rejected TCP segment also causes one
/// RST), `rule_<i>_hits` for rule `i` (from 0), `default_hits`, and `dropped_malformed` for
/// packets it cannot classify (not IPv4, bad header checksum, fragment, truncated TCP/UDP
/// header): a filter that cannot read a packet must not pass it.
#[derive(Debug)]
pub struct Firewall {
    cfg: FirewallConfig,
    /// `rule_<i>_hits`, built once rather than per packet.
    hit_names: Vec<MetricName>,
}

impl Firewall {
    /// A firewall applying `cfg`.
    pub fn new(cfg: FirewallConfig) -> Self {
        let hit_names = (0..cfg.rules.len())
            .map(|i| MetricName::new(format!("rule_{i}_hits")))
            .collect();
        Self { cfg, hit_names }
    }

    /// The first matching rule's index and action, or the default.
    fn decide(&self, ingress: IfaceId, info: &PacketInfo) -> (Option<usize>, RuleAction) {
        self.cfg
            .rules
            .iter()
            .position(|r| r.direction.admits(ingress) && r.filter.matches(info))
            .map_or((None, self.cfg.default_action), |i| {
                (Some(i), self.cfg.rules[i].action)
            })
    }
}

impl Node for Firewall {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        assert_two_ifaces(ctx);
    }

    fn on_packet(&mut self, ctx: &mut Ctx<'_>, iface: IfaceId, packet: Packet) {
        let Some(info) = PacketInfo::parse(&packet.data) else {
            ctx.metrics().incr("dropped_malformed");
            return;
        };
        let (rule, action) = self.decide(iface, &info);
        match rule {
            Some(i) => ctx.metrics().incr(&self.hit_names[i]),
            None => ctx.metrics().incr("default_hits"),
        }
        match action {
            RuleAction::Allow => {
                ctx.metrics().incr("passed");
                ctx.send(other_iface(iface), packet);
            }
            RuleAction::Deny => ctx.metrics().incr("denied"),
            RuleAction::Reject => {
                ctx.metrics().incr("rejected");
                if let Some(rst) = rst_reply(&info) {
                    let rst = ctx.packet(rst);
                    ctx.send(iface, rst);
                }
            }
        }
    }
}
