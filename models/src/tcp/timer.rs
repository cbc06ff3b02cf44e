//! The connection's timers: an enum plus a table of absolute deadlines (style.md rule 3).

use sim::SimTime;

/// One timer of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// Retransmission timeout (RFC 6298) for SYN, data and FIN.
    Retransmit,
    /// Delayed acknowledgement (RFC 5681 §4.2).
    DelayedAck,
    /// Zero-window probe (RFC 9293 §3.8.6.1).
    Persist,
    /// Keepalive probe (RFC 9293 §3.8.4).
    Keepalive,
    /// Sent data unacknowledged for too long (RFC 5482 user timeout).
    UserTimeout,
    /// End of TIME-WAIT (RFC 9293 §3.6).
    TimeWait,
}

impl Timer {
    const ALL: [Self; 6] = [
        Self::Retransmit,
        Self::DelayedAck,
        Self::Persist,
        Self::Keepalive,
        Self::UserTimeout,
        Self::TimeWait,
    ];

    const fn index(self) -> usize {
        self as usize
    }

    /// The timer's bit in `TimerTable::armed`.
    const fn bit(self) -> u8 {
        1 << self.index()
    }
}

/// Absolute deadlines, one slot per [`Timer`]. A slot is cleared when its timer fires, so a
/// deadline never lingers in the past (style.md pitfall 6).
///
/// Which slots are armed is a bit mask rather than an `Option` per slot: that halves the
/// table (56 bytes instead of 96), and every connection carries one (BENCHMARKS.md,
/// "Memory per idle client").
#[derive(Clone, Debug, Default)]
pub(crate) struct TimerTable {
    /// Bit `timer.index()` is set while `timer` is armed; a `u8` holds every timer.
    armed: u8,
    /// The deadline of each armed timer; stale in the others.
    deadlines: [SimTime; Timer::ALL.len()],
}

const _: () = assert!(Timer::ALL.len() <= u8::BITS as usize);

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: SimTime) {
        self.armed |= timer.bit();
        self.deadlines[timer.index()] = at;
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.armed &= !timer.bit();
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<SimTime> {
        (self.armed & timer.bit() != 0).then(|| self.deadlines[timer.index()])
    }

    pub(crate) fn is_set(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    pub(crate) fn stop_all(&mut self) {
        self.armed = 0;
    }

    /// The earliest deadline.
    pub(crate) fn next_timeout(&self) -> Option<SimTime> {
        Timer::ALL.into_iter().filter_map(|t| self.get(t)).min()
    }

    /// Clears and returns the earliest timer due at `now`, if any (ties in enum order).
    pub(crate) fn pop_expired(&mut self, now: SimTime) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .filter(|t| self.get(*t).is_some_and(|at| at <= now))
            .min_by_key(|t| self.get(*t))?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop_expired_clears_in_deadline_order() {
        let mut table = TimerTable::default();
        table.set(Timer::TimeWait, SimTime::from_nanos(5));
        table.set(Timer::DelayedAck, SimTime::from_nanos(3));
        table.set(Timer::Keepalive, SimTime::from_nanos(9));
        assert_eq!(table.next_timeout(), Some(SimTime::from_nanos(3)));
        let now = SimTime::from_nanos(6);
        assert_eq!(table.pop_expired(now), Some(Timer::DelayedAck));
        assert_eq!(table.pop_expired(now), Some(Timer::TimeWait));
        assert_eq!(table.pop_expired(now), None);
        assert_eq!(table.next_timeout(), Some(SimTime::from_nanos(9)));
    }
}
