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

mod actions;
mod ike;
mod links;
mod middle;
mod mobike;
mod nodes;
mod topology;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::actions::{ActionSpec, DirChoice};
pub use self::ike::{IkeRole, IkeSpec};
pub use self::links::{DirSpec, GilbertSpec, LinkSpec};
pub use self::middle::{FilterSpec, NatSpec, RuleSpec, firewall_config};
pub use self::nodes::{AppSpec, ClusterSpec, NodeSpec, StartSpec, StaticRoute, TcpSpec, Uplink};
pub use self::topology::{SharedHost, TopoLink, TopoNode, Topology};
use crate::overrides;
use crate::units::Dur;

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
    /// Links whose queue length (as seen by each arriving packet) goes to `timeseries.csv`.
    #[serde(default)]
    pub queue_series: Vec<String>,
    /// Guards against runaway runs.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// TCP settings for every application (each may override them).
    #[serde(default)]
    pub tcp: TcpSpec,
    /// `real` (default) or `stand-in`: DH and AES-GCM of every IKE daemon replaced by
    /// cost-free stand-ins of identical sizes ([`models::CryptoMode`]). Left out of the
    /// effective scenario when `real`, so run ids of real runs do not change.
    #[serde(default, skip_serializing_if = "CryptoKey::is_real")]
    pub crypto: CryptoKey,
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

/// `crypto`: real cryptography or stand-ins of identical sizes ([`models::CryptoMode`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CryptoKey {
    /// X25519/ECP-256 and AES-GCM: captures decrypt in Wireshark.
    #[default]
    Real,
    /// Cost-free stand-ins: the same timing, sizes and metrics, no real ciphertext.
    StandIn,
}

impl CryptoKey {
    /// Whether this is the default.
    pub fn is_real(&self) -> bool {
        *self == Self::Real
    }

    /// The models' mode.
    pub const fn mode(self) -> models::CryptoMode {
        match self {
            Self::Real => models::CryptoMode::Real,
            Self::StandIn => models::CryptoMode::StandIn,
        }
    }
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
    /// Groups expanded, references resolved, routes computed; shared with the node
    /// factories of every run built from it.
    pub topology: Arc<Topology>,
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
    let topology = topology::expand(&scenario).map_err(err)?;
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
        topology: Arc::new(topology),
    })
}
