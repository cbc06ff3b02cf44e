//! The daemon as a member of an HA cluster (RFC 6311; RFC 9329 §7.4): heartbeats,
//! replication of its SAs while active, takeover and the restore of every SA from the
//! newest copy, the RFC 6311 sync triggers, and the restore timeout. See
//! [`crate::cluster`] for the cluster as a whole.
//!
//! Metrics (on the member): `ha_takeovers`, `ha_failover_detected`, `ha_sas_restored`
//! (SAs rebuilt at a takeover), `ha_restored`, `ha_sas_lost` (restore timeout),
//! `ha_takeover_ns` (failure to takeover), `ha_detect_ns` (failure to the first message
//! from the SA's peer), `ha_restore_ns` (takeover to restored), `ha_detect_to_restore_ns`
//! (that first message to restored), `ha_outage_ns` (failure to restored), `ha_replicas_copied`, `ha_snapshots`.

use std::collections::BTreeMap;
use std::rc::Rc;

use sim::{SimDuration, SimTime};

use super::{IkeDaemon, SaPath};
use crate::cluster::{Cluster, HaPolicy, SaRecord, Update};
use crate::ike::sa::{MessageIds, ReplicaStamp, SaId, SaReplica};
use crate::ip::HostCtx;
use crate::small_map::SmallIndex;

pub(super) const TIMER_HEARTBEAT: u64 = 6;
pub(super) const TIMER_REPLICATE: u64 = 7;
pub(super) const TIMER_TAKEOVER: u64 = 8;
pub(super) const TIMER_RESTORE_TIMEOUT: u64 = 9;

/// Membership of a cluster.
#[derive(Debug)]
pub struct HaMember {
    cluster: Cluster,
    index: usize,
    policy: HaPolicy,
    active: bool,
    takeover_pending: bool,
    /// The last copy of each SA, which is also what was published for it: under its
    /// replica's local SPI (no separate index of keys: a lookup per SA fewer). Looked up
    /// only, by every changed SA on every pass (a gateway's 100,000 SAs: a hash index,
    /// not a B-tree).
    copies: SmallIndex<SaId, HaCopy>,
    /// The next pass copies every SA, not only the changed ones (a new active member).
    full_pass: bool,
    /// What the member published, in full: checked against a full pass in debug builds.
    #[cfg(debug_assertions)]
    mirror: BTreeMap<u64, SaRecord>,
    /// Restored SAs not yet synchronised: when their peer was first heard from.
    restoring: BTreeMap<SaId, Option<SimTime>>,
}

/// The last copy of one SA.
#[derive(Debug)]
struct HaCopy {
    /// The SA's stamp when the copy was taken: a copy is reused while it has not moved.
    stamp: ReplicaStamp,
    /// The SA's Message IDs when the copy was last published.
    ids: MessageIds,
    replica: Rc<SaReplica>,
}

impl HaMember {
    /// Member `index` of `cluster`.
    pub fn new(cluster: Cluster, index: usize, policy: HaPolicy) -> Self {
        Self {
            cluster,
            index,
            policy,
            active: false,
            takeover_pending: false,
            copies: SmallIndex::default(),
            full_pass: true,
            #[cfg(debug_assertions)]
            mirror: BTreeMap::new(),
            restoring: BTreeMap::new(),
        }
    }

    /// Whether this member owns the virtual IP.
    pub const fn is_active(&self) -> bool {
        self.active
    }
}

impl IkeDaemon {
    /// At start: the first member up becomes active, the others stand by (a restarted
    /// member finds an active one and stands by).
    pub(super) fn ha_start(&mut self, host: &mut HostCtx<'_, '_>) {
        let now = host.now();
        let Some(ha) = self.ha.as_mut() else {
            return;
        };
        if let Some(endpoint) = self.endpoint.as_mut() {
            endpoint.track_changes();
        }
        {
            let mut c = ha.cluster.borrow_mut();
            if c.master.is_none() {
                c.master = Some(ha.index);
                c.last_heartbeat = now;
                ha.active = true;
            }
        }
        let (heartbeat, interval, active) =
            (ha.policy.heartbeat, ha.policy.sync_interval, ha.active);
        host.set_timer(now.saturating_add(heartbeat), TIMER_HEARTBEAT);
        if active {
            host.set_timer(now.saturating_add(interval), TIMER_REPLICATE);
        }
    }

    /// Heartbeat period: the active member proves it lives; a standby checks.
    pub(super) fn ha_heartbeat(&mut self, host: &mut HostCtx<'_, '_>) {
        let now = host.now();
        let Some(ha) = self.ha.as_mut() else {
            return;
        };
        host.set_timer(now.saturating_add(ha.policy.heartbeat), TIMER_HEARTBEAT);
        let mut c = ha.cluster.borrow_mut();
        if ha.active {
            c.last_heartbeat = now;
            return;
        }
        let silent = now.saturating_duration_since(c.last_heartbeat);
        if !ha.takeover_pending && silent >= ha.policy.dead_interval {
            ha.takeover_pending = true;
            drop(c);
            host.metrics().incr("ha_failover_detected");
            let at = now.saturating_add(ha.policy.takeover_delay);
            host.set_timer(at, TIMER_TAKEOVER);
        }
    }

    /// The active member copies what changed to the cluster: the SAs its endpoint
    /// synced since the last pass (every change to an SA, its Message IDs or its ESP
    /// counters passes through a sync, or, for ESP encapsulated and then not sent,
    /// through `IkeEndpoint::note_changed`), not all of them. The result equals a full
    /// copy, which debug builds check.
    pub(super) fn ha_replicate(&mut self, host: &mut HostCtx<'_, '_>) {
        let now = host.now();
        let (Some(ha), Some(endpoint)) = (self.ha.as_mut(), self.endpoint.as_mut()) else {
            return;
        };
        if !ha.active {
            return;
        }
        host.set_timer(now.saturating_add(ha.policy.sync_interval), TIMER_REPLICATE);
        let full = std::mem::take(&mut ha.full_pass);
        let changed = endpoint.take_changed();
        let ids: Vec<SaId> = if full {
            ha.copies = SmallIndex::default();
            endpoint.sas().map(|(id, _)| id).collect()
        } else {
            changed
        };
        let mut copied = 0;
        let mut changes = Vec::new();
        for id in ids {
            let Some(ha) = self.ha.as_ref() else { return };
            // Every copy was published, under its replica's SPI.
            let published = ha.copies.get(&id).map(|c| c.replica.local_spi());
            let record = self.ha_record(id, &mut copied);
            let spi = record.as_ref().map(|r| r.sa.local_spi());
            if let Some(old) = published
                && Some(old) != spi
            {
                changes.push((old, None));
            }
            match record {
                Some(record) => changes.push((record.sa.local_spi(), Some(record))),
                None => {
                    if let Some(ha) = self.ha.as_mut() {
                        ha.copies.remove(&id);
                    }
                }
            }
        }
        #[cfg(debug_assertions)]
        self.ha_check_mirror(full, &changes);
        let Some(ha) = self.ha.as_ref() else { return };
        let update = Update {
            visible_at: now.saturating_add(ha.policy.replication_lag),
            full,
            changes,
        };
        ha.cluster.borrow_mut().publish(now, update);
        let m = host.metrics();
        m.add("ha_replicas_copied", copied);
        m.incr("ha_snapshots");
    }

    /// The record of one SA as it stands, if it is replicated (established and not
    /// being restored); reuses the last copy while the SA's stamp has not moved.
    fn ha_record(&mut self, id: SaId, copied: &mut u64) -> Option<SaRecord> {
        let (ha, endpoint) = (self.ha.as_mut()?, self.endpoint.as_ref()?);
        let sa = endpoint.sa(id)?;
        if !sa.is_established() || sa.is_restoring() {
            return None;
        }
        let stamp = sa.replica_stamp();
        let (next_request, expected_request) = sa.message_ids();
        let ids = MessageIds {
            next_request,
            expected_request,
        };
        // Counted as a copy whenever the SA's IKE state moved, Message IDs included (what
        // a cluster sends its standbys), even when the rest of the copy is reused.
        let replica = match ha.copies.get_mut(&id) {
            Some(c) if c.stamp.unchanged(&stamp) => {
                if c.ids != ids {
                    c.ids = ids;
                    *copied += 1;
                }
                Rc::clone(&c.replica)
            }
            Some(c) => {
                c.replica = Rc::new(sa.replica()?);
                c.stamp = stamp;
                c.ids = ids;
                *copied += 1;
                Rc::clone(&c.replica)
            }
            None => {
                let replica = Rc::new(sa.replica()?);
                *copied += 1;
                let copy = HaCopy {
                    stamp,
                    ids,
                    replica: Rc::clone(&replica),
                };
                ha.copies.insert(id, copy);
                replica
            }
        };
        let mut esp_out = Vec::new();
        let mut esp_in = Vec::new();
        for keys in sa.children() {
            if let Some(child) = self.children.get(&keys.spi_in)
                && let Some(out) = self.sad.outbound(child.selector)
                && out.spi() == keys.spi_out
            {
                esp_out.push((keys.spi_in, keys.spi_out, out.sequence_number()));
            }
            if let Some(inb) = self.sad.inbound(keys.spi_in) {
                esp_in.push((keys.spi_in, inb.highest_sequence_number()));
            }
        }
        Some(SaRecord {
            sa: replica,
            ids,
            tcp: self.per_sa.is_tcp(id),
            esp_out,
            esp_in,
        })
    }

    /// Debug builds: what the member published, with `changes`, equals a full copy of
    /// its SAs now.
    #[cfg(debug_assertions)]
    fn ha_check_mirror(&mut self, full: bool, changes: &[(u64, Option<SaRecord>)]) {
        let (Some(ha), Some(endpoint)) = (self.ha.as_mut(), self.endpoint.as_ref()) else {
            return;
        };
        if full {
            ha.mirror.clear();
        }
        for (spi, record) in changes {
            match record {
                Some(r) => ha.mirror.insert(*spi, r.clone()),
                None => ha.mirror.remove(spi),
            };
        }
        let ids: Vec<SaId> = endpoint.sas().map(|(id, _)| id).collect();
        let mut full = BTreeMap::new();
        let mut copied = 0;
        for id in ids {
            if let Some(r) = self.ha_record(id, &mut copied) {
                full.insert(r.sa.local_spi(), r);
            }
        }
        let Some(ha) = self.ha.as_ref() else { return };
        assert_eq!(copied, 0, "an SA changed without a sync");
        // A copy is reused while the SA's stamp stands still: it must hold what a fresh
        // replica would (a field that moves without the stamp would go stale unseen).
        if let Some(endpoint) = self.endpoint.as_ref() {
            for (id, copy) in ha.copies.sorted() {
                let fresh = endpoint.sa(*id).and_then(crate::ike::sa::IkeSa::replica);
                assert_eq!(
                    fresh.map(|r| format!("{r:?}")),
                    Some(format!("{:?}", copy.replica)),
                    "a reused HA copy differs from the SA it copies"
                );
            }
        }
        assert!(
            full.len() == ha.mirror.len()
                && full
                    .iter()
                    .zip(&ha.mirror)
                    .all(|((k, a), (l, b))| k == l && a.same(b)),
            "incremental replication diverged from a full copy"
        );
    }

    /// A standby takes over: claims the virtual IP and restores every SA.
    pub(super) fn ha_takeover(&mut self, host: &mut HostCtx<'_, '_>) {
        let now = host.now();
        let Some(ha) = self.ha.as_mut() else {
            return;
        };
        ha.takeover_pending = false;
        let (records, failed_at) = {
            let mut c = ha.cluster.borrow_mut();
            let silent = now.saturating_duration_since(c.last_heartbeat);
            if ha.active || silent < ha.policy.dead_interval {
                // Another standby was faster.
                return;
            }
            c.master = Some(ha.index);
            c.last_heartbeat = now;
            let records: Vec<SaRecord> = c.latest(now);
            (records, c.failed_at)
        };
        ha.active = true;
        ha.full_pass = true;
        let policy = ha.policy;
        let m = host.metrics();
        m.incr("ha_takeovers");
        if let Some(t) = failed_at {
            m.record(
                "ha_takeover_ns",
                now.saturating_duration_since(t).as_nanos(),
            );
        }
        host.set_timer(now.saturating_add(policy.sync_interval), TIMER_REPLICATE);
        host.set_timer(
            now.saturating_add(policy.restore_timeout),
            TIMER_RESTORE_TIMEOUT,
        );
        for record in &records {
            self.restore_record(host, record, policy);
        }
    }

    /// Rebuilds one SA, its Child SAs and their ESP counters.
    fn restore_record(&mut self, host: &mut HostCtx<'_, '_>, record: &SaRecord, policy: HaPolicy) {
        let now = host.now();
        let Some(endpoint) = self.endpoint.as_mut() else {
            return;
        };
        let id = endpoint.restore(now, &record.sa, record.ids, policy.replay_jump);
        let Some(sa) = endpoint.sa(id) else {
            return;
        };
        let replay_sync = sa.ha_sync().replay_counter;
        let children: Vec<_> = sa.children().cloned().collect();
        host.metrics().incr("ha_sas_restored");
        self.per_sa.set_path(
            id,
            SaPath {
                remote: record.sa.remote(),
                nat: record.sa.nat(),
                tcp: record.tcp,
            },
        );
        if record.tcp {
            self.per_sa.set_tcp(id);
            self.configure_tcp_sa(now, id);
        }
        for keys in &children {
            self.install(host, id, keys);
        }
        // RFC 6311 §5.2: with replay counter sync the member jumps its own counters.
        let jump = if replay_sync {
            u64::from(policy.replay_jump)
        } else {
            0
        };
        for &(spi_in, spi_out, seq) in &record.esp_out {
            // By the Child SA's inbound SPI: O(log n), not a scan of every Child SA.
            let Some(selector) = self.children.get(&spi_in).map(|c| c.selector) else {
                continue;
            };
            if let Some(out) = self.sad.outbound_mut(selector)
                && out.spi() == spi_out
            {
                let _ = out.skip_sequence_numbers(seq.saturating_add(jump));
            }
        }
        for &(spi_in, top) in &record.esp_in {
            if let Some(inb) = self.sad.inbound_mut(spi_in) {
                inb.restore_highest_sequence_number(top);
            }
        }
        if let Some(ha) = self.ha.as_mut() {
            ha.restoring.insert(id, None);
        }
        if !record.tcp
            && let Some(endpoint) = self.endpoint.as_mut()
        {
            // Over UDP the member can reach the peer at once (RFC 9329 §7.4).
            endpoint.with_sa(now, id, |s| s.start_ha_sync());
        }
    }

    /// A message or ESP packet of `sa` arrived: the first one after a takeover is the
    /// detection of the failover by its peer.
    pub(super) fn ha_heard(&mut self, host: &mut HostCtx<'_, '_>, sa: SaId) {
        let now = host.now();
        let Some(ha) = self.ha.as_mut() else {
            return;
        };
        let Some(heard) = ha.restoring.get_mut(&sa) else {
            return;
        };
        if heard.is_some() {
            return;
        }
        *heard = Some(now);
        let failed_at = ha.cluster.borrow().failed_at;
        if let Some(t) = failed_at {
            host.metrics()
                .record("ha_detect_ns", now.saturating_duration_since(t).as_nanos());
        }
    }

    /// An SA finished its restore.
    pub(super) fn ha_restored(&mut self, host: &mut HostCtx<'_, '_>, sa: SaId, after: SimDuration) {
        self.ha_heard(host, sa);
        let now = host.now();
        let Some(ha) = self.ha.as_mut() else {
            return;
        };
        let heard = ha.restoring.remove(&sa).flatten();
        let failed_at = ha.cluster.borrow().failed_at;
        let m = host.metrics();
        m.incr("ha_restored");
        m.record("ha_restore_ns", after.as_nanos());
        if let Some(t) = heard {
            m.record(
                "ha_detect_to_restore_ns",
                now.saturating_duration_since(t).as_nanos(),
            );
        }
        if let Some(t) = failed_at {
            m.record("ha_outage_ns", now.saturating_duration_since(t).as_nanos());
        }
    }

    /// The restore timeout: SAs nobody restored are deleted.
    pub(super) fn ha_restore_timeout(&mut self, host: &mut HostCtx<'_, '_>) {
        let now = host.now();
        let Some(ha) = self.ha.as_mut() else {
            return;
        };
        let lost: Vec<SaId> = std::mem::take(&mut ha.restoring).into_keys().collect();
        host.metrics().add("ha_sas_lost", lost.len() as u64);
        if let Some(endpoint) = self.endpoint.as_mut() {
            for id in lost {
                endpoint.with_sa(now, id, |s| s.fail_restore());
            }
        }
    }
}
