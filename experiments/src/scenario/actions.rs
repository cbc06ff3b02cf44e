//! The scripted timeline.

use serde::{Deserialize, Serialize};
use sim::SimDuration;

use super::middle::FilterSpec;
use crate::units::{Dur, Prob, Rate};

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
        /// Crash at a uniformly random time in `[at, at + jitter)`, drawn from the run's
        /// seed (a random failover phase, e.g. against periodic liveness checks).
        #[serde(default)]
        jitter: Option<Dur>,
    },
    /// Restart a node (rebuilt from its configuration with a new incarnation).
    Restart {
        /// When.
        at: Dur,
        /// Which node.
        node: String,
    },
    /// An IKE daemon deletes all its IKE SAs (INFORMATIONAL with Delete).
    IkeDelete {
        /// When.
        at: Dur,
        /// Which host.
        node: String,
    },
    /// An IKE daemon rekeys all its IKE SAs now.
    IkeRekey {
        /// When.
        at: Dur,
        /// Which host.
        node: String,
    },
    /// A NAT loses every binding (and keeps forwarding).
    NatReboot {
        /// When.
        at: Dur,
        /// Which NAT.
        node: String,
    },
    /// An on-path node drops matching packets, both ways, for a while.
    OnPathDrop {
        /// When.
        at: Dur,
        /// Which on-path node.
        node: String,
        /// For how long.
        duration: Dur,
        /// Which packets (all when empty).
        #[serde(default, rename = "match")]
        filter: FilterSpec,
    },
    /// An on-path node holds matching packets for `extra`, for a while.
    OnPathDelay {
        /// When.
        at: Dur,
        /// Which on-path node.
        node: String,
        /// For how long.
        duration: Dur,
        /// Added delay.
        extra: Dur,
        /// Which packets (all when empty).
        #[serde(default, rename = "match")]
        filter: FilterSpec,
    },
    /// An on-path node resets the next matching TCP connection it sees (forged RSTs both
    /// ways).
    OnPathReset {
        /// When.
        at: Dur,
        /// Which on-path node.
        node: String,
        /// Which connection (any when empty).
        #[serde(default, rename = "match")]
        filter: FilterSpec,
    },
    /// A MOBIKE client moves to another network (RFC 4555): its default route (and route
    /// to the gateway) goes to its interface on `link`, and its IKE SA follows, over UDP
    /// first, then TCP (RFC 9329 §7.1).
    MobikeMove {
        /// When.
        at: Dur,
        /// Which host (running an IKE initiator).
        node: String,
        /// The host's link to move to.
        link: String,
    },
    /// An on-path node answers the next IKE_SA_INIT request it sees with a forged
    /// unprotected error response (RFC 7296 §2.21.1, RFC 9329 §6.4), `delay` after it.
    OnPathForgeInitError {
        /// When.
        at: Dur,
        /// Which on-path node.
        node: String,
        /// The notify message type (default 14, NO_PROPOSAL_CHOSEN; 7 is INVALID_SYNTAX).
        #[serde(default = "no_proposal_chosen")]
        notify: u16,
        /// How long after the request the forged response leaves (default 0).
        #[serde(default)]
        delay: Option<Dur>,
    },
}

fn no_proposal_chosen() -> u16 {
    14
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
            | Self::Restart { at, .. }
            | Self::NatReboot { at, .. }
            | Self::IkeDelete { at, .. }
            | Self::IkeRekey { at, .. }
            | Self::OnPathDrop { at, .. }
            | Self::OnPathDelay { at, .. }
            | Self::OnPathReset { at, .. }
            | Self::MobikeMove { at, .. }
            | Self::OnPathForgeInitError { at, .. } => at.0,
        }
    }
}
