//! An HA gateway cluster: several gateway hosts behind one virtual address, one of them
//! active (RFC 6311 §2; RFC 9329 §7.4; DESIGN.md `cluster`).
//!
//! - [`ClusterSwitch`] is the segment in front of the members: what comes from outside
//!   goes to the active member only (as a switch does once the active member has claimed
//!   the virtual IP with a gratuitous ARP); what the members send goes out.
//! - Each member is an ordinary host running an [`crate::ike::daemon::IkeDaemon`] made a
//!   member with [`crate::ike::daemon::IkeDaemon::with_ha`]. The active one sends a
//!   heartbeat every [`HaPolicy::heartbeat`] and copies the state of its IKE and Child
//!   SAs (IKE keys, Message IDs, ESP keys and sequence numbers, never TCP state) to the
//!   shared [`ClusterState`] every [`HaPolicy::sync_interval`]; a copy becomes usable
//!   [`HaPolicy::replication_lag`] after it is taken. A standby that misses heartbeats for
//!   [`HaPolicy::dead_interval`] takes over after [`HaPolicy::takeover_delay`]: it claims
//!   the virtual IP, rebuilds every SA from the newest usable copy, and runs the RFC 6311
//!   sync (over UDP at once, over TCP once the client reconnected). SAs not restored
//!   within [`HaPolicy::restore_timeout`] are deleted.
//!
//! The replication channel itself carries no simulated packets: real clusters use a
//! dedicated link and a vendor protocol, and what matters to the clients is how stale the
//! copy is, which the interval and the lag decide.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use sim::{Ctx, IfaceId, Node, Packet, SimDuration, SimTime};

use crate::ike::sa::{MessageIds, SaReplica};
use crate::small_map::SmallIndex;

/// The cluster's knobs (DESIGN.md "Policies": sync interval, takeover delay, SA restore
/// timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaPolicy {
    /// The active member copies its SA state this often. Default 1 s.
    pub sync_interval: SimDuration,
    /// A copy is usable this long after it was taken (replication in flight). Default 0.
    pub replication_lag: SimDuration,
    /// The active member's heartbeat period (VRRP's advertisement interval, RFC 5798
    /// §5.2.7: 1 s). Default 1 s.
    pub heartbeat: SimDuration,
    /// A standby declares the active member dead after this long without a heartbeat
    /// (VRRP: 3 intervals plus skew). Default 3 s.
    pub dead_interval: SimDuration,
    /// From detection to serving the virtual IP (state restore, gratuitous ARP). Default
    /// 1 s.
    pub takeover_delay: SimDuration,
    /// Restored SAs that are not synchronised with their peer this long after the
    /// takeover are deleted. Default 5 min.
    pub restore_timeout: SimDuration,
    /// How far the new active member jumps its outbound ESP sequence numbers, and the
    /// delta it sends in IPSEC_REPLAY_COUNTER_SYNC (RFC 6311 §5.2 suggests a large value
    /// when unsure). Default 2^20.
    pub replay_jump: u32,
}

impl Default for HaPolicy {
    fn default() -> Self {
        Self {
            sync_interval: SimDuration::from_secs(1),
            replication_lag: SimDuration::ZERO,
            heartbeat: SimDuration::from_secs(1),
            dead_interval: SimDuration::from_secs(3),
            takeover_delay: SimDuration::from_secs(1),
            restore_timeout: SimDuration::from_secs(300),
            replay_jump: 1 << 20,
        }
    }
}

/// The replicated state of one IKE SA and its ESP counters.
#[derive(Debug, Clone)]
pub struct SaRecord {
    /// The IKE SA with its Child SAs.
    pub sa: Rc<SaReplica>,
    /// Its Message ID counters (moved by every exchange, so kept apart from `sa`).
    pub ids: MessageIds,
    /// It runs over TCP (RFC 9329): the connection itself is not replicated.
    pub tcp: bool,
    /// Last outbound ESP sequence number of each Child SA: (inbound SPI, outbound SPI,
    /// number). The inbound SPI finds the Child SA on the restoring member.
    pub esp_out: Vec<(u32, u32, u64)>,
    /// Highest inbound ESP sequence number accepted, by inbound SPI.
    pub esp_in: Vec<(u32, u64)>,
}

impl SaRecord {
    /// Whether two records hold the same copy (the same replica, not an equal one) and
    /// the same counters.
    pub fn same(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.sa, &other.sa)
            && self.ids == other.ids
            && self.tcp == other.tcp
            && self.esp_out == other.esp_out
            && self.esp_in == other.esp_in
    }
}

/// What one replication pass of the active member changed, keyed by the member's local
/// IKE SPI: a record to add or replace, or `None` for one to drop. A pass sends only the
/// SAs that changed since the previous one, so its cost follows the SAs' activity, not
/// their number; applying the updates in order yields the full copy as of the last one.
#[derive(Debug, Clone)]
pub struct Update {
    /// When standbys can use it.
    pub visible_at: SimTime,
    /// It replaces the whole copy (the first pass of a newly active member).
    pub full: bool,
    /// The changed records.
    pub changes: Vec<(u64, Option<SaRecord>)>,
}

/// What the members of one cluster share.
#[derive(Debug, Default)]
pub struct ClusterState {
    /// The member that owns the virtual IP.
    pub master: Option<usize>,
    /// The active member's last heartbeat.
    pub last_heartbeat: SimTime,
    /// The newest usable copy of the active member's SAs, by its local IKE SPI. Written
    /// for every changed SA on every pass and listed only at a takeover: a hash index (a
    /// B-tree of 100,000 random SPIs missed the cache at every level).
    copy: SmallIndex<u64, SaRecord>,
    /// Updates not usable yet (replication lag), oldest first.
    pending: VecDeque<Update>,
    /// When the last member failure happened (set by the scenario's failure action, for
    /// the outage metrics).
    pub failed_at: Option<SimTime>,
}

impl ClusterState {
    /// Adds an update; applies every one that is usable by `now`.
    pub fn publish(&mut self, now: SimTime, update: Update) {
        self.pending.push_back(update);
        self.settle(now);
    }

    /// The newest copy usable at `now` (empty before the first), in SPI order. Updates
    /// become usable in the order they were taken (one member, a fixed lag).
    pub fn latest(&mut self, now: SimTime) -> Vec<SaRecord> {
        self.settle(now);
        self.copy
            .sorted()
            .into_iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    fn settle(&mut self, now: SimTime) {
        while self.pending.front().is_some_and(|u| u.visible_at <= now) {
            let Some(update) = self.pending.pop_front() else {
                break;
            };
            if update.full {
                self.copy = SmallIndex::new();
            }
            for (spi, record) in update.changes {
                match record {
                    Some(r) => self.copy.insert(spi, r),
                    None => self.copy.remove(&spi),
                };
            }
        }
    }
}

/// A handle on a cluster's shared state, held by its switch and its members.
pub type Cluster = Rc<RefCell<ClusterState>>;

/// A new cluster with no active member.
pub fn new_cluster() -> Cluster {
    Rc::new(RefCell::new(ClusterState::default()))
}

/// Scripted notices for the [`ClusterSwitch`], delivered with `sim::Action::Custom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterCommand {
    /// A member failed now (the scenario crashes it at the same instant): the start of
    /// the outage that the members' metrics measure.
    MemberFailed(usize),
}

/// One segment in front of a cluster (a cluster with an Internet side and a LAN side has
/// one switch per side): interfaces `0..members` lead to the members, interface
/// `members` to the outside.
#[derive(Debug)]
pub struct ClusterSwitch {
    cluster: Cluster,
    members: u32,
}

impl ClusterSwitch {
    /// A switch for `members` members of `cluster`.
    pub fn new(cluster: Cluster, members: usize) -> Self {
        Self {
            cluster,
            members: members as u32,
        }
    }
}

impl Node for ClusterSwitch {
    fn on_packet(&mut self, ctx: &mut Ctx<'_>, iface: IfaceId, packet: Packet) {
        if iface.0 < self.members {
            ctx.send(IfaceId(self.members), packet);
            return;
        }
        match self.cluster.borrow().master {
            Some(m) => ctx.send(IfaceId(m as u32), packet),
            None => ctx.metrics().incr("cluster_dropped_no_master"),
        }
    }

    fn on_action(&mut self, ctx: &mut Ctx<'_>, action: &dyn std::any::Any) {
        if let Some(ClusterCommand::MemberFailed(i)) = action.downcast_ref() {
            ctx.metrics().incr("cluster_member_failures");
            let mut c = self.cluster.borrow_mut();
            if c.master == Some(*i) {
                c.failed_at = Some(ctx.now());
            }
        }
    }
}
