//! The event queue: ordered by `(time, seq)`.
//!
//! `seq` is a counter incremented at every insertion, so events at the same instant run in
//! the order they were scheduled, never in heap order or payload order (style.md rule 10).
//!
//! A discrete-event simulation never schedules into its own past, so the queue is a
//! *monotone* priority queue and can be a radix heap: an event sits in the bucket numbered by
//! the highest bit in which its time differs from the last time popped. Insertion is a `Vec`
//! push; popping redistributes one bucket into lower ones, so each event moves at most 64
//! times and usually two or three. Payloads are stored inline, which keeps the hot loop in
//! cache (a binary heap of 100,000 keys plus a payload slab was bound by cache misses; see
//! BENCHMARKS.md). Cancellation is the caller's business (the engine cancels timers with a
//! small generation slab, skips stale ones when they come out, and purges them in bulk
//! with [`EventQueue::retain`] when they pile up).
//!
//! Scheduling earlier than the last popped time is still correct, just slow (every bucket is
//! rebuilt); the engine only does that when a caller adds actions between two runs.

use std::collections::VecDeque;
use std::mem;

use crate::time::SimTime;

/// An emptied bucket buffer of up to this many entries is kept for reuse; larger ones are
/// freed, so a bucket holds at most about twice what it contains.
const SPARE_KEPT: usize = 64;

#[derive(Debug)]
struct Entry<E> {
    time: u64,
    seq: u64,
    payload: E,
}

/// A deterministic future-event list: amortised O(1) insertion, O(log T) pop.
#[derive(Debug)]
pub struct EventQueue<E> {
    /// Bucket 0: events at exactly `last`, in `seq` order.
    now: VecDeque<Entry<E>>,
    /// Bucket `i` (1..=64, stored at `i - 1`): events whose time differs from `last` first in
    /// bit `i - 1`.
    later: Vec<Vec<Entry<E>>>,
    /// Bit `i` set iff `later[i]` is not empty.
    occupied: u64,
    /// An empty buffer swapped with the bucket being spread, so no allocation is lost.
    spare: Vec<Entry<E>>,
    last: u64,
    len: usize,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self {
            now: VecDeque::new(),
            later: (0..64).map(|_| Vec::new()).collect(),
            occupied: 0,
            spare: Vec::new(),
            last: 0,
            len: 0,
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `time`; it runs after every event already scheduled at `time`.
    pub fn schedule(&mut self, time: SimTime, event: E) {
        let time = time.as_nanos();
        if time < self.last {
            self.rewind(time);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.len += 1;
        self.place(Entry {
            time,
            seq,
            payload: event,
        });
    }

    /// The time of the earliest event.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        self.refill();
        self.now.front().map(|e| SimTime::from_nanos(e.time))
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.refill();
        let e = self.now.pop_front()?;
        self.len -= 1;
        Some((SimTime::from_nanos(e.time), e.payload))
    }

    /// The number of events in the queue.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops every event for which `keep` returns false; the rest keep their order. O(n):
    /// for purging cancelled timers in bulk, which would otherwise wait in the queue until
    /// their deadline.
    pub fn retain(&mut self, mut keep: impl FnMut(&E) -> bool) {
        self.now.retain(|e| keep(&e.payload));
        self.len = self.now.len();
        for (i, bucket) in self.later.iter_mut().enumerate() {
            bucket.retain(|e| keep(&e.payload));
            if bucket.capacity() > 2 * bucket.len() + SPARE_KEPT {
                bucket.shrink_to_fit();
            }
            if bucket.is_empty() {
                self.occupied &= !(1 << i);
            }
            self.len += bucket.len();
        }
    }

    /// Puts an entry into its bucket relative to `last`. New entries carry the largest `seq`
    /// so far, so pushing at the back keeps bucket 0 in `seq` order.
    fn place(&mut self, e: Entry<E>) {
        let diff = e.time ^ self.last;
        if diff == 0 {
            self.now.push_back(e);
        } else {
            let i = 63 - diff.leading_zeros() as usize;
            self.later[i].push(e);
            self.occupied |= 1 << i;
        }
    }

    /// Makes bucket 0 non-empty if any event is pending: takes the lowest non-empty bucket,
    /// advances `last` to its earliest time, and spreads it over the lower buckets.
    fn refill(&mut self) {
        if !self.now.is_empty() {
            return;
        }
        if self.occupied == 0 {
            return;
        }
        let i = self.occupied.trailing_zeros() as usize;
        self.occupied &= !(1 << i);
        let mut bucket = mem::take(&mut self.spare);
        mem::swap(&mut bucket, &mut self.later[i]);
        self.last = bucket
            .iter()
            .map(|e| e.time)
            .min()
            .expect("bucket is not empty");
        self.spread(&mut bucket);
        // Reuse the emptied buffer only if it is small: otherwise every bucket keeps the
        // largest buffer it ever held, and memory creeps up with virtual time (the
        // steady-state memory test) and with bursts (100,000 hosts establishing).
        if bucket.capacity() <= SPARE_KEPT {
            self.spare = bucket;
        }
    }

    /// Re-buckets `entries` (leaving it empty) and restores `seq` order in bucket 0.
    fn spread(&mut self, entries: &mut Vec<Entry<E>>) {
        for e in entries.drain(..) {
            self.place(e);
        }
        if self.now.len() > 1 {
            self.now.make_contiguous().sort_unstable_by_key(|e| e.seq);
        }
    }

    /// Moves `last` back to `time` by re-bucketing everything (slow path, see module docs).
    fn rewind(&mut self, time: u64) {
        self.last = time;
        let mut all: Vec<Entry<E>> = self.now.drain(..).collect();
        for b in &mut self.later {
            all.append(b);
        }
        self.occupied = 0;
        self.spread(&mut all);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn equal_times_run_in_insertion_order() {
        let mut q = EventQueue::new();
        for i in 0..100u32 {
            q.schedule(SimTime::from_nanos(u64::from(i % 3) * 1000), i);
        }
        let order: Vec<u32> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        let mut expected: Vec<u32> = (0..100).collect();
        expected.sort_by_key(|i| i % 3);
        assert_eq!(order, expected);
    }

    proptest! {
        /// Interleaved schedules (never before the last pop, as in a simulation) and pops
        /// come out sorted by (time, insertion order), exactly like a sorted list.
        #[test]
        fn matches_a_sorted_model(ops in prop::collection::vec((0u64..200, 0u8..3), 0..400)) {
            let mut q = EventQueue::new();
            let mut model: Vec<(u64, usize)> = Vec::new();
            let mut now = 0u64;
            for (i, (dt, op)) in ops.iter().enumerate() {
                if *op == 0 {
                    let got = q.pop().map(|(t, e)| (t.as_nanos(), e));
                    let want = if model.is_empty() { None } else { Some(model.remove(0)) };
                    prop_assert_eq!(got, want);
                    if let Some((t, _)) = got { now = t; }
                } else {
                    q.schedule(SimTime::from_nanos(now + dt), i);
                    model.push((now + dt, i));
                    model.sort();
                }
            }
            prop_assert_eq!(q.len(), model.len());
        }

        /// Dropping events at any point (the engine's purge of cancelled timers) leaves the
        /// others in (time, insertion order), and the length right.
        #[test]
        fn retain_keeps_the_order_of_the_rest(ops in prop::collection::vec((0u64..200, 0u8..4), 0..400)) {
            let mut q = EventQueue::new();
            let mut model: Vec<(u64, usize)> = Vec::new();
            let mut now = 0u64;
            for (i, (dt, op)) in ops.iter().enumerate() {
                match op {
                    0 => {
                        let got = q.pop().map(|(t, e)| (t.as_nanos(), e));
                        let want = if model.is_empty() { None } else { Some(model.remove(0)) };
                        prop_assert_eq!(got, want);
                        if let Some((t, _)) = got { now = t; }
                    }
                    1 => {
                        let drop_every = (*dt as usize % 3) + 2;
                        q.retain(|e| e % drop_every != 0);
                        model.retain(|(_, e)| e % drop_every != 0);
                    }
                    _ => {
                        q.schedule(SimTime::from_nanos(now + dt), i);
                        model.push((now + dt, i));
                        model.sort();
                    }
                }
                prop_assert_eq!(q.len(), model.len());
            }
            let rest: Vec<_> = std::iter::from_fn(|| q.pop().map(|(t, e)| (t.as_nanos(), e))).collect();
            prop_assert_eq!(rest, model);
        }

        /// Scheduling into the past (the slow path) still gives the sorted order.
        #[test]
        fn rewind_keeps_order(first in prop::collection::vec(0u64..1000, 1..50), late in prop::collection::vec(0u64..1000, 0..50)) {
            let mut q = EventQueue::new();
            let mut model = Vec::new();
            for (i, t) in first.iter().enumerate() {
                q.schedule(SimTime::from_nanos(*t), i);
                model.push((*t, i));
            }
            q.peek_time();
            for (j, t) in late.iter().enumerate() {
                q.schedule(SimTime::from_nanos(*t), 1000 + j);
                model.push((*t, 1000 + j));
            }
            model.sort();
            let got: Vec<_> = std::iter::from_fn(|| q.pop().map(|(t, e)| (t.as_nanos(), e))).collect();
            prop_assert_eq!(got, model);
        }
    }
}
