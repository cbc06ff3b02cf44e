//! Scenario files: what a run simulates.
//!
//! A scenario is a TOML file with the topology (nodes and links with their parameters),
//! scripted actions, the duration and a default seed. Unknown keys, unknown kinds and bad
//! values are errors that name the file, the key and what is allowed; references between
//! entries (a link to a node, an action to a link) are checked before anything runs.
//!
//! ```toml
//! name = "udp-chain"
//! description = "A CBR source through a hub into a sink"
//! duration = "10s"
//! seed = 1
//!
//! [[nodes]]
//! kind = "udp-source"
//! name = "src"
//! src = "10.0.0.1:5000"
//! dst = "10.0.0.2:5000"
//! rate = "2Mbps"
//! size = 1000
//!
//! [[links]]
//! a = "src"
//! b = "hub"
//! delay = "10ms"
//! rate = "10Mbps"
//! queue_packets = 100
//!
//! [[actions]]
//! at = "5s"
//! do = "link-down"
//! link = "src-hub"
//! ```

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sim::{Jitter, LinkParams, LossModel, QueueLimit, SimDuration};

use crate::overrides;
use crate::units::{Dur, Prob, Rate};

/// A scenario file, as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name; defaults to the file name without `.toml`.
    #[serde(default)]
    pub name: Option<String>,
    /// One line saying what the scenario shows (for `ikesim list`).
    #[serde(default)]
    pub description: String,
    /// The seed used when none is given on the command line (and by `ikesim check`).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How much simulated time to run.
    pub duration: Dur,
    /// Links to capture with `--pcap` (all when empty).
    #[serde(default)]
    pub capture: Vec<String>,
    /// Guards against runaway runs.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// The nodes.
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    /// The links.
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    /// The scripted timeline.
    #[serde(default)]
    pub actions: Vec<ActionSpec>,
}

fn default_seed() -> u64 {
    1
}

/// Guards against runaway runs.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Most events the run may execute.
    pub max_events: Option<u64>,
    /// Most events at one instant before time counts as stuck.
    pub max_events_per_instant: Option<u64>,
}

/// A node, by kind.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum NodeSpec {
    /// Sends UDP datagrams at a constant rate or on/off.
    UdpSource {
        /// Unique node name.
        name: String,
        /// Source address and port.
        src: SocketAddrV4,
        /// Destination address and port.
        dst: SocketAddrV4,
        /// Rate (of IP bytes) while sending.
        rate: Rate,
        /// IP packet size in bytes.
        #[serde(default = "default_packet_size")]
        size: usize,
        /// When to start.
        #[serde(default)]
        start: Option<Dur>,
        /// When to stop.
        #[serde(default)]
        stop: Option<Dur>,
        /// Mean on period; with `off`, makes the source exponential on/off.
        #[serde(default)]
        on: Option<Dur>,
        /// Mean off period.
        #[serde(default)]
        off: Option<Dur>,
    },
    /// Receives and measures UDP datagrams addressed to it.
    UdpSink {
        /// Unique node name.
        name: String,
        /// The address it accepts.
        address: Ipv4Addr,
    },
    /// Repeats every packet out of every other interface.
    Hub {
        /// Unique node name.
        name: String,
    },
}

fn default_packet_size() -> usize {
    1000
}

impl NodeSpec {
    /// The node's name.
    pub fn name(&self) -> &str {
        match self {
            Self::UdpSource { name, .. } | Self::UdpSink { name, .. } | Self::Hub { name } => name,
        }
    }
}

/// A link between two nodes. Parameters apply to both directions unless `reverse` overrides
/// some of them for the `b`-to-`a` direction.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Unique link name; defaults to `"<a>-<b>"`.
    #[serde(default)]
    pub name: Option<String>,
    /// One end.
    pub a: String,
    /// The other end.
    pub b: String,
    /// Propagation delay (default 0).
    #[serde(default)]
    pub delay: Option<Dur>,
    /// Transmission rate (default: infinitely fast).
    #[serde(default)]
    pub rate: Option<Rate>,
    /// Standard deviation of a normal jitter added to the delay.
    #[serde(default)]
    pub jitter: Option<Dur>,
    /// With jitter, never reorder packets.
    #[serde(default)]
    pub jitter_preserve_order: Option<bool>,
    /// Drop-tail queue limit in packets (default 100).
    #[serde(default)]
    pub queue_packets: Option<u32>,
    /// Drop-tail queue limit in bytes (instead of packets).
    #[serde(default)]
    pub queue_bytes: Option<u64>,
    /// Independent (Bernoulli) loss probability per packet.
    #[serde(default)]
    pub loss: Option<Prob>,
    /// Gilbert–Elliott burst loss (instead of `loss`).
    #[serde(default)]
    pub gilbert: Option<GilbertSpec>,
    /// Largest IP packet carried, in bytes.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Overrides for the `b`-to-`a` direction (same keys as above).
    #[serde(default)]
    pub reverse: Option<DirSpec>,
}

/// The parameters of one link direction, as in [`LinkSpec`]; everything optional.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    /// See [`LinkSpec::delay`].
    #[serde(default)]
    pub delay: Option<Dur>,
    /// See [`LinkSpec::rate`].
    #[serde(default)]
    pub rate: Option<Rate>,
    /// See [`LinkSpec::jitter`].
    #[serde(default)]
    pub jitter: Option<Dur>,
    /// See [`LinkSpec::jitter_preserve_order`].
    #[serde(default)]
    pub jitter_preserve_order: Option<bool>,
    /// See [`LinkSpec::queue_packets`].
    #[serde(default)]
    pub queue_packets: Option<u32>,
    /// See [`LinkSpec::queue_bytes`].
    #[serde(default)]
    pub queue_bytes: Option<u64>,
    /// See [`LinkSpec::loss`].
    #[serde(default)]
    pub loss: Option<Prob>,
    /// See [`LinkSpec::gilbert`].
    #[serde(default)]
    pub gilbert: Option<GilbertSpec>,
    /// See [`LinkSpec::mtu`].
    #[serde(default)]
    pub mtu: Option<u32>,
}

/// Gilbert–Elliott parameters, per packet.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GilbertSpec {
    /// Probability of moving from good to bad.
    pub good_to_bad: Prob,
    /// Probability of moving from bad to good (1 / mean burst length).
    pub bad_to_good: Prob,
    /// Loss probability in the good state (default 0).
    #[serde(default = "prob_zero")]
    pub loss_good: Prob,
    /// Loss probability in the bad state (default 1).
    #[serde(default = "prob_one")]
    pub loss_bad: Prob,
}

fn prob_zero() -> Prob {
    Prob(sim::Ratio::ZERO)
}
fn prob_one() -> Prob {
    Prob(sim::Ratio::ONE)
}

/// Default queue limit, as an ns-3 point-to-point device queue.
pub const DEFAULT_QUEUE_PACKETS: u32 = 100;

impl DirSpec {
    /// `self` with every field that `over` sets replaced.
    fn overridden_by(&self, over: &Self) -> Self {
        Self {
            delay: over.delay.or(self.delay),
            rate: over.rate.or(self.rate),
            jitter: over.jitter.or(self.jitter),
            jitter_preserve_order: over.jitter_preserve_order.or(self.jitter_preserve_order),
            queue_packets: over.queue_packets.or(self.queue_packets),
            queue_bytes: over.queue_bytes.or(self.queue_bytes),
            loss: over.loss.or(self.loss),
            gilbert: over.gilbert.or(self.gilbert),
            mtu: over.mtu.or(self.mtu),
        }
    }

    /// The engine parameters, or what is contradictory.
    pub fn to_params(&self) -> Result<LinkParams, String> {
        let queue = match (self.queue_packets, self.queue_bytes) {
            (Some(_), Some(_)) => return Err("set queue_packets or queue_bytes, not both".into()),
            (Some(n), None) => QueueLimit::Packets(n),
            (None, Some(b)) => QueueLimit::Bytes(b),
            (None, None) => QueueLimit::Packets(DEFAULT_QUEUE_PACKETS),
        };
        let loss = match (self.loss, self.gilbert) {
            (Some(_), Some(_)) => return Err("set loss or gilbert, not both".into()),
            (Some(p), None) => LossModel::Bernoulli(p.0),
            (None, Some(g)) => LossModel::GilbertElliott {
                good_to_bad: g.good_to_bad.0,
                bad_to_good: g.bad_to_good.0,
                loss_good: g.loss_good.0,
                loss_bad: g.loss_bad.0,
            },
            (None, None) => LossModel::None,
        };
        if self.mtu.is_some_and(|m| m < 68) {
            return Err("mtu must be at least 68 bytes (RFC 791)".into());
        }
        Ok(LinkParams {
            delay: self.delay.map_or(SimDuration::ZERO, |d| d.0),
            rate_bps: self.rate.map_or(0, |r| r.0),
            jitter: self.jitter.map(|sd| Jitter {
                sd: sd.0,
                preserve_order: self.jitter_preserve_order.unwrap_or(false),
            }),
            queue,
            loss,
            mtu: self.mtu,
        })
    }
}

impl LinkSpec {
    /// The link's name: `name`, or `"<a>-<b>"`.
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", self.a, self.b))
    }

    /// The `a`-to-`b` parameters as a [`DirSpec`].
    fn forward(&self) -> DirSpec {
        DirSpec {
            delay: self.delay,
            rate: self.rate,
            jitter: self.jitter,
            jitter_preserve_order: self.jitter_preserve_order,
            queue_packets: self.queue_packets,
            queue_bytes: self.queue_bytes,
            loss: self.loss,
            gilbert: self.gilbert,
            mtu: self.mtu,
        }
    }

    /// Parameters of the `a`-to-`b` and `b`-to-`a` directions.
    pub fn dir_params(&self) -> Result<(LinkParams, LinkParams), String> {
        let forward = self.forward();
        let reverse = match &self.reverse {
            Some(over) => forward.overridden_by(over).to_params()?,
            None => forward.to_params()?,
        };
        Ok((forward.to_params()?, reverse))
    }
}

/// Which direction of a link an action applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirChoice {
    /// From `a` to `b`.
    AToB,
    /// From `b` to `a`.
    BToA,
    /// Both.
    Both,
}

/// A scripted action, by what it does.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "do", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ActionSpec {
    /// Take a link down (both directions; queued and in-flight packets are lost).
    LinkDown {
        /// When.
        at: Dur,
        /// Which link.
        link: String,
    },
    /// Bring a link up.
    LinkUp {
        /// When.
        at: Dur,
        /// Which link.
        link: String,
    },
    /// Change link parameters from now on.
    SetLink {
        /// When.
        at: Dur,
        /// Which link.
        link: String,
        /// Which direction (default both).
        #[serde(default = "both")]
        direction: DirChoice,
        /// New delay.
        #[serde(default)]
        delay: Option<Dur>,
        /// New rate.
        #[serde(default)]
        rate: Option<Rate>,
        /// New Bernoulli loss.
        #[serde(default)]
        loss: Option<Prob>,
        /// New queue limit in packets.
        #[serde(default)]
        queue_packets: Option<u32>,
        /// New MTU.
        #[serde(default)]
        mtu: Option<u32>,
    },
    /// Crash a node.
    Crash {
        /// When.
        at: Dur,
        /// Which node.
        node: String,
    },
    /// Restart a node (rebuilt from its configuration with a new incarnation).
    Restart {
        /// When.
        at: Dur,
        /// Which node.
        node: String,
    },
}

fn both() -> DirChoice {
    DirChoice::Both
}

impl ActionSpec {
    /// When the action happens.
    pub fn at(&self) -> SimDuration {
        match self {
            Self::LinkDown { at, .. }
            | Self::LinkUp { at, .. }
            | Self::SetLink { at, .. }
            | Self::Crash { at, .. }
            | Self::Restart { at, .. } => at.0,
        }
    }
}

/// A scenario file that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {msg}")]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// What is wrong, naming the key and what is allowed.
    pub msg: String,
}

/// A validated scenario, with the overrides applied, and where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The file.
    pub path: PathBuf,
    /// The scenario's name.
    pub name: String,
    /// The contents, after overrides.
    pub scenario: Scenario,
    /// The effective scenario as TOML (what the run id hashes and `run.toml` records).
    pub effective: String,
}

/// Reads, overrides (`--set key=value`) and validates a scenario file.
pub fn load(path: &Path, sets: &[String]) -> Result<Loaded, ScenarioError> {
    let err = |msg: String| ScenarioError {
        file: path.to_owned(),
        msg,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    // Deserialising the text directly gives errors with line and column.
    let scenario: Scenario = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
    let scenario = if sets.is_empty() {
        scenario
    } else {
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        for set in sets {
            overrides::apply(&mut table, set).map_err(|e| err(format!("--set {set}: {e}")))?;
        }
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                err(format!("after --set {}: {}", sets.join(" "), e.message()))
            })?
    };
    validate(&scenario).map_err(err)?;
    let name = scenario.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned())
    });
    let effective =
        toml::to_string(&scenario).map_err(|e| err(format!("cannot re-serialise: {e}")))?;
    Ok(Loaded {
        path: path.to_owned(),
        name,
        scenario,
        effective,
    })
}

/// Checks names and references.
fn validate(s: &Scenario) -> Result<(), String> {
    if s.duration.0 == SimDuration::ZERO {
        return Err("duration: must be longer than 0s".into());
    }
    let mut nodes = BTreeSet::new();
    for (i, n) in s.nodes.iter().enumerate() {
        if !nodes.insert(n.name()) {
            return Err(format!("nodes[{i}]: duplicate node name {:?}", n.name()));
        }
        if let NodeSpec::UdpSource {
            size,
            on,
            off,
            rate,
            ..
        } = n
        {
            if *size < models::traffic::MIN_PACKET || *size > 65_535 {
                return Err(format!(
                    "nodes[{i}] ({}): size: must be between {} and 65535 bytes, got {size}",
                    n.name(),
                    models::traffic::MIN_PACKET
                ));
            }
            if on.is_some() != off.is_some() {
                return Err(format!(
                    "nodes[{i}] ({}): set both on and off, or neither",
                    n.name()
                ));
            }
            if rate.0 == 0 {
                return Err(format!(
                    "nodes[{i}] ({}): rate: must be above 0bps",
                    n.name()
                ));
            }
        }
    }
    let known = |what: &str, name: &str, set: &BTreeSet<String>| {
        if set.contains(name) {
            Ok(())
        } else {
            let list: Vec<&str> = set.iter().map(String::as_str).collect();
            Err(format!(
                "{what} {name:?} is not defined; defined: {}",
                list.join(", ")
            ))
        }
    };
    let node_names: BTreeSet<String> = nodes.iter().map(|n| (*n).to_owned()).collect();
    let mut links = BTreeSet::new();
    for (i, l) in s.links.iter().enumerate() {
        let ctx = |e: String| format!("links[{i}] ({}): {e}", l.name());
        known("node", &l.a, &node_names).map_err(ctx)?;
        known("node", &l.b, &node_names).map_err(ctx)?;
        if l.a == l.b {
            return Err(ctx("a link needs two different nodes".into()));
        }
        l.dir_params().map_err(ctx)?;
        if !links.insert(l.name()) {
            return Err(ctx(
                "duplicate link name (set `name` to tell them apart)".into()
            ));
        }
    }
    for (i, a) in s.actions.iter().enumerate() {
        let ctx = |e: String| format!("actions[{i}]: {e}");
        match a {
            ActionSpec::LinkDown { link, .. }
            | ActionSpec::LinkUp { link, .. }
            | ActionSpec::SetLink { link, .. } => known("link", link, &links).map_err(ctx)?,
            ActionSpec::Crash { node, .. } | ActionSpec::Restart { node, .. } => {
                known("node", node, &node_names).map_err(ctx)?;
            }
        }
    }
    for c in &s.capture {
        known("capture: link", c, &links)?;
    }
    Ok(())
}
