//! Replicas of established IKE SAs, for HA clusters (RFC 6311 §2; RFC 9329 §7.4).
//!
//! A cluster's active member copies the state of each established SA to its standbys
//! now and then ([`IkeSa::replica`]); after a failover the new active member rebuilds the
//! SA from its copy ([`IkeSa::from_replica`]). What is copied is what real clusters
//! share: SPIs, SK keys, Message ID counters, the Child SAs and their keys, addresses and
//! NAT state, the negotiated capabilities. What is not: the outstanding request and the
//! cached response (in flight at the failover), the old generation of an IKE rekey, and
//! anything about TCP connections. A copy taken before the last exchanges is stale: that
//! is the problem RFC 6311 solves, and what the restored SA's sync repairs.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use sim::{SimRng, SimTime};

use super::auth::AuthVerified;
use super::child::{Child, ChildState, EspSpis};
use super::core::{Core, CoreKeys};
use super::ike_sa::{Established, IkeSa, Path, State};
use super::sync::{Restored, SyncProgress};
use super::{HaSyncSupport, IkeConfig, NatStatus, Retransmission};
use crate::small_map::SmallMap;

/// The replicated state of one established IKE SA.
#[derive(Debug, Clone)]
pub struct SaReplica {
    config: Rc<IkeConfig>,
    retransmission: Retransmission,
    fragment_send: bool,
    original_initiator: bool,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    spi_i: u64,
    spi_r: u64,
    core_initiator: bool,
    keys: Rc<CoreKeys>,
    rekey_at: SimTime,
    expire_at: SimTime,
    inner_address: Option<Ipv4Addr>,
    children: SmallMap<u32, Box<Child>>,
    esp_spis: EspSpis,
    nat: NatStatus,
    fragmentation: bool,
    ha: HaSyncSupport,
    started: SimTime,
}

/// An SA's Message ID counters (RFC 7296 §2.2), replicated beside its [`SaReplica`]
/// rather than in it: every exchange moves them, and most exchanges (a liveness check
/// every 30 s on every SA of a gateway) move nothing else, so the copy of the rest is
/// reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageIds {
    /// The Message ID of our next request.
    pub next_request: u32,
    /// The Message ID we expect on the peer's next request.
    pub expected_request: u32,
}

/// Everything in an SA's replica that can change over the SA's life, cheap to compare: a
/// cluster member copies an SA again only when its stamp moved. Debug builds check that a
/// reused copy equals a fresh one, so a field missing here cannot go stale unseen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaStamp {
    spi_i: u64,
    spi_r: u64,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    nat: NatStatus,
    retransmission: Retransmission,
    fragment_send: bool,
    fragmentation: bool,
    ha: HaSyncSupport,
    rekey_at: SimTime,
    expire_at: SimTime,
    esp_spis: (u16, u16),
    /// The Child SAs, when there are at most [`STAMPED_CHILDREN`]; `None` otherwise (such
    /// an SA is copied on every change).
    children: Option<[Option<ChildStamp>; STAMPED_CHILDREN]>,
}

/// What can change of one Child SA (its keys never do: a rekey makes a new Child SA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChildStamp {
    spi: u32,
    state: ChildState,
    rekey_at: SimTime,
    expire_at: SimTime,
}

/// Child SAs an SA's stamp describes: one, and its successor while a rekey completes.
const STAMPED_CHILDREN: usize = 2;

impl ReplicaStamp {
    /// Whether a copy taken at `self` still holds what a copy taken at `now` would.
    pub fn unchanged(&self, now: &Self) -> bool {
        self.children.is_some() && self == now
    }
}

impl SaReplica {
    /// Our IKE SPI in the copied generation (the peer names the SA by it).
    pub const fn local_spi(&self) -> u64 {
        if self.core_initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    /// The SPI prefix of the SA's inbound ESP SPIs (an endpoint must not reuse it).
    pub(crate) fn esp_prefix(&self) -> u16 {
        self.esp_spis.prefix()
    }

    /// The original initiator's inner address (a pool lease on the responder).
    pub const fn inner_address(&self) -> Option<Ipv4Addr> {
        self.inner_address
    }

    /// The peer's address for requests.
    pub const fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    /// The NAT detection result.
    pub const fn nat(&self) -> NatStatus {
        self.nat
    }
}

impl IkeSa {
    /// A copy of this SA for a standby, if it is established.
    pub fn replica(&self) -> Option<SaReplica> {
        let State::Established(est) = &self.state else {
            return None;
        };
        Some(SaReplica {
            config: Rc::clone(&self.config),
            retransmission: self.retransmission,
            fragment_send: self.fragment_send,
            original_initiator: self.original_initiator,
            local: self.local,
            remote: self.remote,
            spi_i: self.core.spi_i,
            spi_r: self.core.spi_r,
            core_initiator: self.core.initiator,
            keys: self.core.keys.clone()?,
            rekey_at: est.rekey_at,
            expire_at: est.expire_at,
            inner_address: est.inner_address,
            children: self.children.clone(),
            esp_spis: self.esp_spis.clone(),
            nat: self.nat,
            fragmentation: self.fragmentation,
            ha: self.ha,
            started: self.started,
        })
    }

    /// What a replica of this SA would hold that changes over its life (the Message IDs
    /// are replicated apart, see [`MessageIds`]).
    pub fn replica_stamp(&self) -> ReplicaStamp {
        let (rekey_at, expire_at) = match &self.state {
            State::Established(est) => (est.rekey_at, est.expire_at),
            _ => (SimTime::MAX, SimTime::MAX),
        };
        let children = (self.children.len() <= STAMPED_CHILDREN).then(|| {
            let mut slots = [None; STAMPED_CHILDREN];
            for (slot, (&spi, c)) in slots.iter_mut().zip(self.children.iter()) {
                *slot = Some(ChildStamp {
                    spi,
                    state: c.state,
                    rekey_at: c.rekey_at,
                    expire_at: c.expire_at,
                });
            }
            slots
        });
        ReplicaStamp {
            spi_i: self.core.spi_i,
            spi_r: self.core.spi_r,
            local: self.local,
            remote: self.remote,
            nat: self.nat,
            retransmission: self.retransmission,
            fragment_send: self.fragment_send,
            fragmentation: self.fragmentation,
            ha: self.ha,
            rekey_at,
            expire_at,
            esp_spis: self.esp_spis.stamp(),
            children,
        }
    }

    /// Rebuilds an SA from a replica and its Message IDs on a new active cluster member at
    /// `now`. It is established, and restoring until [`IkeSa::start_ha_sync`] (or, without
    /// sync support, the first message from the peer) completes: see the `sync` module.
    /// `replay_delta` is the jump the member made in its outbound ESP counters, sent
    /// to the peer in IPSEC_REPLAY_COUNTER_SYNC.
    pub fn from_replica(
        now: SimTime,
        r: &SaReplica,
        ids: MessageIds,
        rng: SimRng,
        replay_delta: u32,
    ) -> Self {
        let mut core = Core::new(r.spi_i, r.spi_r, r.core_initiator);
        core.keys = Some(r.keys.clone());
        core.next_request_id = ids.next_request;
        core.expected_request_id = ids.expected_request;
        let state = State::Established(Established {
            _auth: AuthVerified::replicated(),
            rekey_at: r.rekey_at,
            expire_at: r.expire_at,
            inner_address: r.inner_address,
        });
        let path = Path {
            local: r.local,
            remote: r.remote,
        };
        let mut sa = Self::skeleton(now, Rc::clone(&r.config), rng, path, core, state);
        sa.retransmission = r.retransmission;
        sa.fragment_send = r.fragment_send;
        sa.original_initiator = r.original_initiator;
        sa.started = r.started;
        sa.children = r.children.clone();
        for child in sa.children.values_mut() {
            // Exchanges in flight were lost with the old member.
            if matches!(child.state, ChildState::Rekeying | ChildState::Deleting) {
                child.state = ChildState::Installed;
            }
        }
        sa.esp_spis = r.esp_spis.clone();
        sa.nat = r.nat;
        sa.fragmentation = r.fragmentation;
        sa.ha = r.ha;
        sa.restored = Some(Restored {
            at: now,
            sync: SyncProgress::Pending,
            replay_delta,
        });
        sa.rearm();
        sa
    }
}
