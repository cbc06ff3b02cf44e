//! The timers of an IKE SA: an enum plus a table of absolute deadlines (style rule 3).
//!
//! The SA recomputes every slot from its state after each input (`IkeSa::rearm`), so a
//! deadline never outlives the state it was set for and never lingers in the past
//! (style pitfall 6).

use sim::{SimDuration, SimTime};

use super::core::Request;
use super::ike_sa::{IkeSa, Path, Sel, State, Task};
use super::{FailReason, IkeEvent, LivenessMode, Retransmission};

/// One timer of an IKE SA, in the order expired timers are handled at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// Retransmission or give-up of the outstanding request (RFC 7296 §2.1; RFC 9329 §6.2).
    Retransmit,
    /// The same for the old IKE SA after an IKE rekey, or its expiry (RFC 7296 §2.18).
    OldSa,
    /// A responder's half-open SA has waited too long for IKE_AUTH (RFC 7296 §2.6).
    HalfOpen,
    /// An incomplete set of fragments times out (RFC 7383 §2.6.2).
    Reassembly,
    /// Child SA soft or hard lifetime (RFC 7296 §2.8).
    ChildLifetime,
    /// IKE SA soft or hard lifetime (RFC 7296 §2.8, §2.18).
    IkeLifetime,
    /// A deferred exchange (retry after TEMPORARY_FAILURE, RFC 7296 §2.25) is due.
    Deferred,
    /// A liveness check is due (RFC 7296 §2.4).
    Liveness,
    /// The initiator has paid for its puzzle solution: the retried IKE_SA_INIT leaves
    /// (RFC 8019 §7.1.2).
    PuzzleSolved,
}

impl Timer {
    /// Every timer, in handling order.
    pub(crate) const ALL: [Self; 9] = [
        Self::Retransmit,
        Self::OldSa,
        Self::HalfOpen,
        Self::Reassembly,
        Self::ChildLifetime,
        Self::IkeLifetime,
        Self::Deferred,
        Self::Liveness,
        Self::PuzzleSolved,
    ];

    const fn index(self) -> usize {
        self as usize
    }
}

/// Absolute deadlines, one slot per [`Timer`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TimerTable {
    deadlines: [Option<SimTime>; Timer::ALL.len()],
}

impl TimerTable {
    /// Sets or clears a timer. [`SimTime::MAX`] means never and clears it.
    pub(crate) fn set(&mut self, timer: Timer, at: Option<SimTime>) {
        self.deadlines[timer.index()] = at.filter(|&t| t != SimTime::MAX);
    }

    /// The earliest deadline.
    pub(crate) fn next_timeout(&self) -> Option<SimTime> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The timers due at `now`, in handling order.
    pub(crate) fn expired(&self, now: SimTime) -> Vec<Timer> {
        Timer::ALL
            .into_iter()
            .filter(|t| self.deadlines[t.index()].is_some_and(|at| at <= now))
            .collect()
    }
}

impl IkeSa {
    /// The retransmission timer of generation `sel` fired.
    pub(super) fn on_retransmit_timer(&mut self, now: SimTime, sel: Sel) {
        let (policy, mode) = (self.config.retransmit, self.retransmission);
        let Some((core, rng)) = self.core_rng(sel) else {
            return;
        };
        let Some(out) = core.outstanding.as_mut().filter(|o| o.deadline <= now) else {
            return;
        };
        if mode == Retransmission::Timers && out.tries < policy.max_tries {
            out.tries += 1;
            out.deadline =
                now.saturating_add(rng.then_park(|rng| policy.jittered_timeout(out.tries, rng)));
            let packets = out.packets.clone();
            self.stats.retransmits += 1;
            self.queue_packets(
                &packets,
                Path {
                    local: self.local,
                    remote: self.remote,
                },
            );
            return;
        }
        let Some(out) = core.outstanding.take() else {
            return;
        };
        self.stats.exchanges_failed += 1;
        match (sel, out.request) {
            (Sel::Old, _) => self.old = None,
            (Sel::Current, Request::DeleteIke) => self.close(IkeEvent::Deleted),
            (Sel::Current, Request::SaInit) => self.on_init_gave_up(),
            (Sel::Current, _) => self.fail(FailReason::Timeout),
        }
    }

    /// The old generation's timer: retransmit its request, or forget it.
    pub(super) fn on_old_timer(&mut self, now: SimTime) {
        let Some(old) = &self.old else {
            return;
        };
        if old.core.outstanding.is_some() {
            self.on_retransmit_timer(now, Sel::Old);
        } else if old.expire_at <= now {
            self.old = None;
        }
    }

    /// Recomputes every timer from the state (style pitfall 6).
    pub(super) fn rearm(&mut self) {
        self.timers = self.timer_table();
    }

    /// Whether every timer is what [`Self::rearm`] would set (debug checks).
    pub(super) fn timers_current(&self) -> bool {
        self.timers == self.timer_table()
    }

    /// Every timer as the state sets it.
    fn timer_table(&self) -> TimerTable {
        let mut table = TimerTable::default();
        for timer in Timer::ALL {
            table.set(timer, self.deadline(timer));
        }
        table
    }

    fn deadline(&self, timer: Timer) -> Option<SimTime> {
        let established = match &self.state {
            State::Closed => return None,
            State::Established(est) => Some(est),
            _ => None,
        };
        match timer {
            Timer::Retransmit => self.core.outstanding.as_ref().map(|o| o.deadline),
            Timer::OldSa => self.old.as_ref().map(|old| {
                old.core
                    .outstanding
                    .as_ref()
                    .map_or(old.expire_at, |o| o.deadline)
            }),
            Timer::HalfOpen => self
                .is_half_open()
                .then(|| self.started.saturating_add(self.config.half_open_timeout)),
            Timer::Reassembly => self.core.reassembly.deadline(&self.config.fragmentation),
            Timer::ChildLifetime => {
                established.and_then(|_| self.children.values().map(|c| c.next_deadline()).min())
            }
            Timer::IkeLifetime => established.map(|est| est.rekey_at.min(est.expire_at)),
            Timer::Deferred => {
                established.and_then(|_| self.deferred.iter().map(|(t, _)| *t).min())
            }
            Timer::Liveness => established.and_then(|_| self.liveness_deadline()),
            Timer::PuzzleSolved => match &self.state {
                State::InitSent(init) => init.send_at,
                _ => None,
            },
        }
    }

    /// When a liveness check becomes due (RFC 7296 §2.4), if one can be.
    fn liveness_deadline(&self) -> Option<SimTime> {
        let interval: SimDuration = self.config.liveness.interval?;
        if self.core.outstanding.is_some() || self.tasks.contains(&Task::Liveness) {
            return None;
        }
        let due = self.last_received.saturating_add(interval);
        match self.config.liveness.mode {
            LivenessMode::Periodic => Some(due),
            LivenessMode::OnDemand => self
                .last_esp_out
                .is_some_and(|out| out > self.last_received)
                .then_some(due),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_in_handling_order() {
        let mut table = TimerTable::default();
        table.set(Timer::Liveness, Some(SimTime::from_nanos(2)));
        table.set(Timer::Retransmit, Some(SimTime::from_nanos(3)));
        table.set(Timer::IkeLifetime, Some(SimTime::MAX));
        assert_eq!(table.next_timeout(), Some(SimTime::from_nanos(2)));
        let now = SimTime::from_nanos(3);
        assert_eq!(table.expired(now), [Timer::Retransmit, Timer::Liveness]);
        table.set(Timer::Retransmit, None);
        assert_eq!(table.expired(now), [Timer::Liveness]);
    }
}
