//! Links: point-to-point, with one independent state per direction.
//!
//! A direction is a FIFO transmitter with a drop-tail queue in front of it. A packet that
//! enters at `now` starts serialising at `max(now, busy_until)`, occupies the transmitter for
//! `8 * bytes / rate`, then propagates for `delay` (+ jitter). While it waits for the
//! transmitter it counts against the queue limit, so queueing delay and drops come out of
//! the rate and the queue, never out of a script.
//!
//! Each accepted packet's fate is decided once, when it enters: its departure time follows
//! from the FIFO discipline, and loss is drawn then (the packet still uses the transmitter,
//! as a corrupted frame does). The engine schedules a single arrival event per packet-hop.
//! A change of parameters applies to packets that enter after it; taking a link down drops
//! everything queued or in flight (checked at arrival by an epoch number).

use std::collections::VecDeque;
use std::rc::Rc;

use crate::rng::{Ratio, SimRng};
use crate::time::{SimDuration, SimTime};

/// The two directions of a link: `AtoB` carries packets sent by endpoint `a`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// From endpoint `a` to endpoint `b`.
    AtoB,
    /// From endpoint `b` to endpoint `a`.
    BtoA,
}

impl Direction {
    /// Both directions, `AtoB` first.
    pub const BOTH: [Self; 2] = [Self::AtoB, Self::BtoA];

    /// 0 for `AtoB`, 1 for `BtoA`.
    pub const fn index(self) -> usize {
        match self {
            Self::AtoB => 0,
            Self::BtoA => 1,
        }
    }
}

/// How much a direction's queue may hold while packets wait for the transmitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueLimit {
    /// At most this many waiting packets (the packet being transmitted is not counted, as
    /// with an ns-3 device queue).
    Packets(u32),
    /// At most this many waiting bytes.
    Bytes(u64),
    /// No limit.
    Unlimited,
}

/// Packet loss on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossModel {
    /// Nothing is lost.
    None,
    /// Each packet is lost independently with this probability.
    Bernoulli(Ratio),
    /// Two-state Gilbert–Elliott burst loss. Before each packet the state changes
    /// (good→bad with `good_to_bad`, bad→good with `bad_to_good`); then the packet is lost
    /// with the state's loss probability. Mean bad burst length is `1 / bad_to_good` packets.
    GilbertElliott {
        /// Probability of moving from the good to the bad state, per packet.
        good_to_bad: Ratio,
        /// Probability of moving from the bad to the good state, per packet.
        bad_to_good: Ratio,
        /// Loss probability in the good state.
        loss_good: Ratio,
        /// Loss probability in the bad state.
        loss_bad: Ratio,
    },
}

/// Random extra delay per packet: `N(0, sd)` added to the propagation delay, truncated so
/// that the total lies in `[0, delay + 4 sd]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jitter {
    /// Standard deviation of the extra delay.
    pub sd: SimDuration,
    /// Never deliver a packet before one sent earlier in the same direction (a jittery but
    /// order-preserving path, as with netem's rate-limited jitter).
    pub preserve_order: bool,
}

/// The parameters of one direction of a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkParams {
    /// One-way propagation delay.
    pub delay: SimDuration,
    /// Transmission rate in bits per second; 0 means infinitely fast.
    pub rate_bps: u64,
    /// Random extra delay, if any.
    pub jitter: Option<Jitter>,
    /// Queue in front of the transmitter.
    pub queue: QueueLimit,
    /// Loss on the wire.
    pub loss: LossModel,
    /// Largest packet, in bytes, the link carries; larger ones are dropped and counted.
    pub mtu: Option<u32>,
}

impl Default for LinkParams {
    fn default() -> Self {
        Self {
            delay: SimDuration::ZERO,
            rate_bps: 0,
            jitter: None,
            queue: QueueLimit::Unlimited,
            loss: LossModel::None,
            mtu: None,
        }
    }
}

impl LinkParams {
    /// Default parameters (no delay, infinite rate, no loss, no limit); refine with the
    /// builder methods.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the propagation delay.
    #[must_use]
    pub fn delay(mut self, d: SimDuration) -> Self {
        self.delay = d;
        self
    }
    /// Sets the rate in bits per second.
    #[must_use]
    pub fn rate_bps(mut self, r: u64) -> Self {
        self.rate_bps = r;
        self
    }
    /// Sets the jitter.
    #[must_use]
    pub fn jitter(mut self, j: Jitter) -> Self {
        self.jitter = Some(j);
        self
    }
    /// Sets the queue limit.
    #[must_use]
    pub fn queue(mut self, q: QueueLimit) -> Self {
        self.queue = q;
        self
    }
    /// Sets the loss model.
    #[must_use]
    pub fn loss(mut self, l: LossModel) -> Self {
        self.loss = l;
        self
    }
    /// Sets the MTU.
    #[must_use]
    pub fn mtu(mut self, m: u32) -> Self {
        self.mtu = Some(m);
        self
    }
}

/// One change to a link's parameters, for the scripted timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkChange {
    /// New propagation delay.
    Delay(SimDuration),
    /// New rate in bits per second.
    Rate(u64),
    /// New jitter.
    Jitter(Option<Jitter>),
    /// New queue limit.
    Queue(QueueLimit),
    /// New loss model.
    Loss(LossModel),
    /// New MTU.
    Mtu(Option<u32>),
}

impl LinkChange {
    fn apply(&self, p: &mut LinkParams) {
        match self {
            Self::Delay(d) => p.delay = *d,
            Self::Rate(r) => p.rate_bps = *r,
            Self::Jitter(j) => p.jitter = *j,
            Self::Queue(q) => p.queue = *q,
            Self::Loss(l) => p.loss = *l,
            Self::Mtu(m) => p.mtu = *m,
        }
    }
}

/// Counters kept for each direction of each link. In declaration order (`repr(C)`): the
/// four every packet bumps come first, next to the link's admission state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct LinkCounters {
    /// Packets accepted onto the wire (queued or transmitted at once).
    pub sent_packets: u64,
    /// Bytes accepted onto the wire.
    pub sent_bytes: u64,
    /// Packets delivered to the far end's node.
    pub delivered_packets: u64,
    /// Bytes delivered to the far end's node.
    pub delivered_bytes: u64,
    /// Packets refused because the queue was full.
    pub dropped_queue: u64,
    /// Packets lost on the wire by the loss model.
    pub dropped_loss: u64,
    /// Packets refused for exceeding the MTU.
    pub dropped_mtu: u64,
    /// Packets refused, queued or in flight while the link was (or went) down.
    pub dropped_down: u64,
    /// Packets that arrived at a crashed node.
    pub dropped_node_down: u64,
    /// Most packets ever waiting in the queue.
    pub peak_queue_packets: u64,
    /// Most bytes ever waiting in the queue.
    pub peak_queue_bytes: u64,
}

/// What happened to a packet handed to a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// It will arrive at the far end at this time.
    Arrives { tx_start: SimTime, at: SimTime },
    /// It was transmitted (and so captured) but lost on the wire.
    Lost { tx_start: SimTime },
    /// It never got onto the wire.
    Refused,
}

/// The state of one direction of a link.
///
/// In declaration order (`repr(C)`), cache-line aligned: what every packet reads and
/// writes (admission, then the first four counters) in the first two lines, the rest
/// after. A client's
/// uplink carries a packet every few seconds, so its state is cold each time, and every
/// line a packet touches is a cache miss at 100,000 clients (BENCHMARKS.md, "Session 7").
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct DirState {
    busy_until: SimTime,
    last_arrival: SimTime,
    /// Packets waiting for the transmitter: (transmission start, bytes), oldest first.
    waiting: VecDeque<(SimTime, u32)>,
    /// Shared with the other direction and with links made alike while equal (a group's
    /// uplinks); a change copies them first.
    pub(crate) params: Rc<LinkParams>,
    /// Bumped when the link goes down; arrivals stamped with an older epoch are dropped.
    pub(crate) epoch: u32,
    pub(crate) up: bool,
    gilbert_bad: bool,
    /// `(time, packets waiting)` seen by every packet that enters, when recording is on.
    pub(crate) queue_series: Option<Vec<(SimTime, u32)>>,
    pub(crate) counters: LinkCounters,
    waiting_bytes: u64,
    /// The loss/jitter stream (its generator exists only once drawn from: links without
    /// randomness cost none).
    rng: SimRng,
}

impl DirState {
    pub(crate) fn new(params: Rc<LinkParams>, rng_seed: u64) -> Self {
        Self {
            params,
            up: true,
            epoch: 0,
            counters: LinkCounters::default(),
            busy_until: SimTime::ZERO,
            last_arrival: SimTime::ZERO,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            gilbert_bad: false,
            rng: SimRng::from_seed_u64(rng_seed),
            queue_series: None,
        }
    }

    pub(crate) fn change(&mut self, change: &LinkChange) {
        change.apply(Rc::make_mut(&mut self.params));
    }

    /// Takes the direction down (dropping what is queued or in flight) or brings it up.
    pub(crate) fn set_up(&mut self, now: SimTime, up: bool) {
        if self.up && !up {
            self.epoch = self.epoch.wrapping_add(1);
            self.waiting.clear();
            self.waiting_bytes = 0;
            self.busy_until = now;
            self.last_arrival = now;
        }
        self.up = up;
    }

    /// Decides the fate of a packet of `bytes` bytes handed to this direction at `now`.
    pub(crate) fn admit(&mut self, now: SimTime, bytes: u32) -> Admission {
        if !self.up {
            self.counters.dropped_down += 1;
            return Admission::Refused;
        }
        if self.params.mtu.is_some_and(|mtu| bytes > mtu) {
            self.counters.dropped_mtu += 1;
            return Admission::Refused;
        }
        while let Some(&(start, b)) = self.waiting.front() {
            if start > now {
                break;
            }
            self.waiting.pop_front();
            self.waiting_bytes -= u64::from(b);
        }
        let tx_start = self.busy_until.max(now);
        if let Some(series) = &mut self.queue_series {
            series.push((now, self.waiting.len() as u32));
        }
        if tx_start > now {
            let full = match self.params.queue {
                QueueLimit::Packets(n) => self.waiting.len() >= n as usize,
                QueueLimit::Bytes(n) => self.waiting_bytes + u64::from(bytes) > n,
                QueueLimit::Unlimited => false,
            };
            if full {
                self.counters.dropped_queue += 1;
                return Admission::Refused;
            }
            self.waiting.push_back((tx_start, bytes));
            self.waiting_bytes += u64::from(bytes);
            let c = &mut self.counters;
            c.peak_queue_packets = c.peak_queue_packets.max(self.waiting.len() as u64);
            c.peak_queue_bytes = c.peak_queue_bytes.max(self.waiting_bytes);
        }
        let tx_end = tx_start + SimDuration::serialization(u64::from(bytes), self.params.rate_bps);
        self.busy_until = tx_end;
        self.counters.sent_packets += 1;
        self.counters.sent_bytes += u64::from(bytes);

        if self.lost() {
            self.counters.dropped_loss += 1;
            return Admission::Lost { tx_start };
        }
        let mut at = tx_end + self.params.delay;
        if let Some(j) = self.params.jitter {
            let delay = self.params.delay;
            let hi = delay + j.sd.saturating_mul(4);
            let d = self
                .rng
                .truncated_normal(delay, j.sd, SimDuration::ZERO, hi);
            at = tx_end + d;
            if j.preserve_order {
                at = at.max(self.last_arrival);
            }
        }
        self.last_arrival = self.last_arrival.max(at);
        Admission::Arrives { tx_start, at }
    }

    fn lost(&mut self) -> bool {
        match self.params.loss {
            LossModel::None => false,
            LossModel::Bernoulli(p) => self.rng.chance(p),
            LossModel::GilbertElliott {
                good_to_bad,
                bad_to_good,
                loss_good,
                loss_bad,
            } => {
                let flip = if self.gilbert_bad {
                    bad_to_good
                } else {
                    good_to_bad
                };
                if self.rng.chance(flip) {
                    self.gilbert_bad = !self.gilbert_bad;
                }
                let p = if self.gilbert_bad {
                    loss_bad
                } else {
                    loss_good
                };
                self.rng.chance(p)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packet_path_reads_two_lines_of_a_direction() {
        use std::mem::offset_of;
        // What admission and delivery touch ends within the first 128 bytes, and the
        // state starts on a cache line (see `DirState`).
        assert_eq!(align_of::<DirState>(), 64);
        let counters = offset_of!(DirState, counters);
        assert!(offset_of!(DirState, queue_series) < counters);
        let end = counters + offset_of!(LinkCounters, delivered_bytes) + size_of::<u64>();
        assert!(end <= 128, "{end}");
    }

    fn at(a: Admission) -> SimTime {
        match a {
            Admission::Arrives { at, .. } => at,
            other => panic!("expected an arrival, got {other:?}"),
        }
    }

    #[test]
    fn arrival_is_delay_plus_serialization_and_back_to_back_packets_queue() {
        // 1000 bytes at 8 Mbit/s = 1 ms on the wire; 10 ms propagation.
        let p = LinkParams::new()
            .rate_bps(8_000_000)
            .delay(SimDuration::from_millis(10));
        let mut d = DirState::new(Rc::new(p.queue(QueueLimit::Packets(2))), 1);
        let t0 = SimTime::ZERO;
        assert_eq!(at(d.admit(t0, 1000)), SimTime::from_nanos(11_000_000));
        assert_eq!(at(d.admit(t0, 1000)), SimTime::from_nanos(12_000_000));
        assert_eq!(at(d.admit(t0, 1000)), SimTime::from_nanos(13_000_000));
        // Two are waiting now: the next one is refused and counted.
        assert_eq!(d.admit(t0, 1000), Admission::Refused);
        assert_eq!(d.counters.dropped_queue, 1);
        assert_eq!(d.counters.peak_queue_packets, 2);
        // At 1 ms the second packet has started; one slot is free again.
        let t1 = SimTime::from_nanos(1_000_000);
        assert_eq!(at(d.admit(t1, 1000)), SimTime::from_nanos(14_000_000));
    }

    #[test]
    fn byte_limit_and_mtu() {
        let p = LinkParams::new()
            .rate_bps(8_000)
            .queue(QueueLimit::Bytes(1500))
            .mtu(1500);
        let mut d = DirState::new(Rc::new(p), 1);
        assert!(matches!(
            d.admit(SimTime::ZERO, 1000),
            Admission::Arrives { .. }
        ));
        assert!(matches!(
            d.admit(SimTime::ZERO, 1000),
            Admission::Arrives { .. }
        ));
        assert_eq!(d.admit(SimTime::ZERO, 600), Admission::Refused);
        assert!(matches!(
            d.admit(SimTime::ZERO, 500),
            Admission::Arrives { .. }
        ));
        assert_eq!(d.admit(SimTime::ZERO, 1501), Admission::Refused);
        assert_eq!((d.counters.dropped_queue, d.counters.dropped_mtu), (1, 1));
    }

    #[test]
    fn down_refuses_and_bumps_epoch() {
        let mut d = DirState::new(Rc::default(), 1);
        d.set_up(SimTime::ZERO, false);
        assert_eq!(d.admit(SimTime::ZERO, 10), Admission::Refused);
        assert_eq!((d.epoch, d.counters.dropped_down), (1, 1));
        d.set_up(SimTime::ZERO, true);
        assert!(matches!(
            d.admit(SimTime::ZERO, 10),
            Admission::Arrives { .. }
        ));
    }

    #[test]
    fn order_preserving_jitter_never_reorders() {
        let j = Jitter {
            sd: SimDuration::from_millis(5),
            preserve_order: true,
        };
        let p = LinkParams::new()
            .delay(SimDuration::from_millis(10))
            .jitter(j);
        let mut d = DirState::new(Rc::new(p), 3);
        let mut last = SimTime::ZERO;
        let mut spread = std::collections::BTreeSet::new();
        for i in 0..1000u64 {
            let a = at(d.admit(SimTime::from_nanos(i * 100_000), 100));
            assert!(a >= last);
            spread.insert(a.as_nanos() - i * 100_000);
            last = a;
        }
        assert!(spread.len() > 100, "jitter should vary the delay");
    }
}
