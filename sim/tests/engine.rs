//! Engine behaviour end to end: link timing, queues, loss models, determinism, stable keys,
//! scripted actions and the guards (issue: the deterministic discrete-event engine).

#![allow(clippy::unwrap_used, reason = "test helpers panic on broken set-up")]

use std::any::Any;
use std::collections::BTreeMap;

use sim::{
    Action, Ctx, Direction, IfaceId, Limits, LinkChange, LinkId, LinkParams, LossModel, Node,
    NodeId, Packet, QueueLimit, Ratio, RunError, SimDuration, SimTime, Simulation,
};

/// Sends `count` packets of `size` bytes on interface 0, one every `gap` (all at once if 0).
struct Source {
    count: u64,
    size: usize,
    gap: SimDuration,
    sent: u64,
}

impl Node for Source {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.set_timer(ctx.now(), 0);
    }
    fn on_packet(&mut self, _: &mut Ctx<'_>, _: IfaceId, _: Packet) {}
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _: u64) {
        loop {
            if self.sent == self.count {
                return;
            }
            self.sent += 1;
            let mut data = vec![0u8; self.size];
            data[..8].copy_from_slice(&self.sent.to_be_bytes());
            let p = ctx.packet(data);
            ctx.send(IfaceId(0), p);
            if self.gap > SimDuration::ZERO {
                ctx.set_timer_after(self.gap, 0);
                return;
            }
        }
    }
}

/// Records (arrival time, sequence number) of every packet.
#[derive(Default)]
struct Sink {
    got: Vec<(SimTime, u64)>,
}

impl Node for Sink {
    fn on_packet(&mut self, ctx: &mut Ctx<'_>, _: IfaceId, p: Packet) {
        let seq = u64::from_be_bytes(p.data[..8].try_into().unwrap());
        self.got.push((ctx.now(), seq));
        ctx.metrics().incr("received");
    }
}

/// Forwards every packet out of the other of its two interfaces.
struct Relay;

impl Node for Relay {
    fn on_packet(&mut self, ctx: &mut Ctx<'_>, iface: IfaceId, p: Packet) {
        ctx.send(IfaceId(1 - iface.0), p);
    }
}

fn source(count: u64, size: usize, gap: SimDuration) -> sim::NodeFactory {
    Box::new(move |_| {
        Box::new(Source {
            count,
            size,
            gap,
            sent: 0,
        })
    })
}

fn sink() -> sim::NodeFactory {
    Box::new(|_| Box::new(Sink::default()))
}

/// A source and a sink joined by one link with `params` from source to sink.
fn pair(
    seed: u64,
    count: u64,
    size: usize,
    gap: SimDuration,
    params: LinkParams,
) -> (Simulation, Vec<(SimTime, u64)>) {
    let mut sim = Simulation::new(seed);
    let a = sim.add_node("a", source(count, size, gap)).unwrap();
    let b = sim.add_node("b", sink()).unwrap();
    sim.connect("ab", a, b, params, LinkParams::new()).unwrap();
    sim.run().unwrap();
    let got = sim.node::<Sink>(b).unwrap().got.clone();
    (sim, got)
}

fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

#[test]
fn arrival_is_delay_plus_serialization() {
    // 1250 bytes at 10 Mbit/s = 1 ms; delay 20 ms.
    let p = LinkParams::new().rate_bps(10_000_000).delay(ms(20));
    let (_, got) = pair(1, 1, 1250, ms(0), p);
    assert_eq!(got, vec![(SimTime::ZERO + ms(21), 1)]);
}

#[test]
fn back_to_back_packets_queue_and_a_full_queue_drops() {
    // Ten packets at once into a 1 ms/packet link with room for 5 waiting: the first goes
    // straight to the transmitter, five wait, four are dropped.
    let p = LinkParams::new()
        .rate_bps(10_000_000)
        .delay(ms(20))
        .queue(QueueLimit::Packets(5));
    let (sim, got) = pair(1, 10, 1250, ms(0), p);
    let times: Vec<u64> = got.iter().map(|(t, _)| t.as_nanos()).collect();
    assert_eq!(
        times,
        (1..=6).map(|k| (20 + k) * 1_000_000).collect::<Vec<_>>()
    );
    let link = sim.links().next().unwrap();
    let c = link.counters[0];
    assert_eq!(
        (c.sent_packets, c.dropped_queue, c.delivered_packets),
        (6, 4, 6)
    );
    assert_eq!(c.peak_queue_packets, 5);
}

#[test]
fn bernoulli_loss_rate_within_three_sigma() {
    let n = 100_000u64;
    let p = LinkParams::new().loss(LossModel::Bernoulli(Ratio::new(1, 100).unwrap()));
    let (sim, got) = pair(7, n, 64, ms(0), p);
    let lost = n - got.len() as u64;
    let c = sim.links().next().unwrap().counters[0].clone();
    assert_eq!(c.dropped_loss, lost);
    let mean = n as f64 * 0.01;
    let sigma = (n as f64 * 0.01 * 0.99).sqrt();
    assert!(
        (lost as f64 - mean).abs() < 3.0 * sigma,
        "lost {lost}, expected {mean} ± {}",
        3.0 * sigma
    );
}

#[test]
fn gilbert_elliott_bursts_have_the_configured_mean_lengths() {
    // Bad state loses everything, good state nothing: loss bursts are bad-state sojourns,
    // geometric with mean 1/bad_to_good = 5; good runs have mean 1/good_to_bad = 50.
    let ge = LossModel::GilbertElliott {
        good_to_bad: Ratio::new(1, 50).unwrap(),
        bad_to_good: Ratio::new(1, 5).unwrap(),
        loss_good: Ratio::ZERO,
        loss_bad: Ratio::ONE,
    };
    let n = 200_000u64;
    let (_, got) = pair(11, n, 64, ms(0), LinkParams::new().loss(ge));
    let mut delivered = vec![false; n as usize + 1];
    for (_, s) in &got {
        delivered[*s as usize] = true;
    }
    let (mut bursts, mut lost, mut runs, mut kept) = (0u64, 0u64, 0u64, 0u64);
    for i in 1..=n as usize {
        if delivered[i] {
            kept += 1;
            if i == 1 || !delivered[i - 1] {
                runs += 1;
            }
        } else {
            lost += 1;
            if i == 1 || delivered[i - 1] {
                bursts += 1;
            }
        }
    }
    let mean_burst = lost as f64 / bursts as f64;
    let mean_run = kept as f64 / runs as f64;
    assert!(
        (mean_burst - 5.0).abs() < 0.25,
        "mean loss burst {mean_burst}"
    );
    assert!((mean_run - 50.0).abs() < 2.5, "mean good run {mean_run}");
}

#[test]
fn mtu_and_link_down_drop_and_count() {
    let mut sim = Simulation::new(3);
    let a = sim.add_node("a", source(4, 1500, ms(10))).unwrap();
    let b = sim.add_node("b", sink()).unwrap();
    let l = sim
        .connect_sym("ab", a, b, LinkParams::new().delay(ms(15)).mtu(1400))
        .unwrap();
    sim.schedule(
        SimTime::ZERO,
        Action::SetLink {
            link: l,
            dir: Some(Direction::AtoB),
            change: LinkChange::Mtu(None),
        },
    );
    // Packet 2 leaves at 10 ms and is in flight when the link goes down at 20 ms; packet 3
    // is refused at 20 ms; packet 4 at 30 ms passes after the link is back.
    sim.schedule(SimTime::ZERO + ms(20), Action::LinkDown(l));
    sim.schedule(SimTime::ZERO + ms(25), Action::LinkUp(l));
    sim.run().unwrap();
    let got: Vec<u64> = sim
        .node::<Sink>(b)
        .unwrap()
        .got
        .iter()
        .map(|x| x.1)
        .collect();
    assert_eq!(got, vec![1, 4]);
    let c = sim.links().next().unwrap().counters[0].clone();
    assert_eq!((c.dropped_down, c.dropped_mtu), (2, 0));
    // With the MTU back on, 1500 > 1400 is refused.
    let mut sim = Simulation::new(3);
    let a = sim.add_node("a", source(1, 1500, ms(0))).unwrap();
    let b = sim.add_node("b", sink()).unwrap();
    sim.connect_sym("ab", a, b, LinkParams::new().mtu(1400))
        .unwrap();
    sim.run().unwrap();
    assert_eq!(sim.links().next().unwrap().counters[0].dropped_mtu, 1);
}

/// A lossy, jittery chain a -> r1 -> r2 -> b with captures; returns (fingerprint, sink
/// arrivals, pcap bytes of the middle link).
fn chain_run(seed: u64, extra_node: bool) -> (u64, Vec<(SimTime, u64)>, Vec<u8>) {
    let (mut sim, b, mid) = chain(seed, extra_node);
    let report = sim.run().unwrap();
    let mut pcap = Vec::new();
    sim.capture(mid).unwrap().write_pcap(&mut pcap).unwrap();
    (
        report.fingerprint,
        sim.node::<Sink>(b).unwrap().got.clone(),
        pcap,
    )
}

/// The chain of [`chain_run`], not run yet; returns it, its sink and its captured link.
fn chain(seed: u64, extra_node: bool) -> (Simulation, NodeId, LinkId) {
    let mut sim = Simulation::new(seed);
    if extra_node {
        // Created first, so it would shift any creation-order-based stream.
        let x = sim.add_node("unrelated", source(100, 100, ms(1))).unwrap();
        let y = sim.add_node("unrelated-sink", sink()).unwrap();
        let lossy = LinkParams::new().loss(LossModel::Bernoulli(Ratio::new(1, 3).unwrap()));
        sim.connect_sym("unrelated-link", x, y, lossy).unwrap();
    }
    let a = sim
        .add_node("a", source(2000, 200, SimDuration::from_micros(300)))
        .unwrap();
    let r1 = sim.add_node("r1", Box::new(|_| Box::new(Relay))).unwrap();
    let r2 = sim.add_node("r2", Box::new(|_| Box::new(Relay))).unwrap();
    let b = sim.add_node("b", sink()).unwrap();
    let p = LinkParams::new()
        .rate_bps(5_000_000)
        .delay(ms(2))
        .queue(QueueLimit::Packets(8))
        .loss(LossModel::Bernoulli(Ratio::new(5, 100).unwrap()))
        .jitter(sim::Jitter {
            sd: SimDuration::from_micros(200),
            preserve_order: false,
        });
    sim.connect_sym("a-r1", a, r1, p.clone()).unwrap();
    let mid = sim.connect_sym("r1-r2", r1, r2, p.clone()).unwrap();
    sim.connect_sym("r2-b", r2, b, p).unwrap();
    sim.enable_capture(mid);
    (sim, b, mid)
}

#[test]
fn stepping_runs_the_same_events_as_a_run() {
    let end = SimTime::ZERO + ms(400);
    let (mut whole, b, _) = chain(7, true);
    let ran = whole.run_until(end).unwrap();
    let (mut stepped, _, _) = chain(7, true);
    let mut by_node: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(node) = stepped.step(end).unwrap() {
        let node = node.expect("every event here is a node's");
        let name = stepped.node_name(node).unwrap().to_owned();
        assert_eq!(stepped.node_id(&name), Some(node));
        *by_node.entry(name).or_default() += 1;
        assert!(stepped.now() <= end);
    }
    // The run's end moves the clock to `end`; stepping leaves it at the last event.
    let last = stepped.now();
    assert!(last <= end && last > SimTime::ZERO + ms(300), "{last:?}");
    assert_eq!(stepped.run_until(end).unwrap(), ran);
    assert_eq!(by_node.values().sum::<u64>(), ran.events);
    assert_eq!(
        by_node.keys().collect::<Vec<_>>(),
        ["a", "b", "r1", "r2", "unrelated", "unrelated-sink"]
    );
    assert_eq!(
        stepped.node::<Sink>(b).unwrap().got,
        whole.node::<Sink>(b).unwrap().got
    );
}

#[test]
fn same_seed_same_everything_and_seed_reaches_randomness() {
    let first = chain_run(42, false);
    let second = chain_run(42, false);
    assert_eq!(first, second);
    let other = chain_run(43, false);
    assert_ne!(first.0, other.0, "the seed must reach the link randomness");
    assert_ne!(first.1, other.1);
}

#[test]
fn an_unrelated_node_does_not_change_an_existing_links_loss_pattern() {
    let (_, without, pcap_without) = chain_run(42, false);
    let (_, with, pcap_with) = chain_run(42, true);
    assert_eq!(without, with);
    assert_eq!(pcap_without, pcap_with);
}

/// Reschedules itself at the same instant forever.
struct Spinner;

impl Node for Spinner {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.set_timer_after(ms(5), 0);
    }
    fn on_packet(&mut self, _: &mut Ctx<'_>, _: IfaceId, _: Packet) {}
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _: u64) {
        ctx.set_timer(ctx.now(), 0);
    }
}

#[test]
fn guards_stop_a_node_that_never_lets_time_advance() {
    let mut sim = Simulation::new(99);
    sim.set_label("spin-test");
    sim.set_limits(Limits {
        max_events_per_instant: 10_000,
        ..Limits::default()
    });
    sim.add_node("spinner", Box::new(|_| Box::new(Spinner)))
        .unwrap();
    let err = sim.run().unwrap_err();
    assert!(
        matches!(err, RunError::TimeStuck { seed: 99, ref node, .. } if node == "spinner"),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("spin-test") && msg.contains("seed 99") && msg.contains("0.005000000s"),
        "{msg}"
    );

    let mut sim = Simulation::new(5);
    sim.set_limits(Limits {
        max_events: 1000,
        ..Limits::default()
    });
    sim.add_node("spinner", Box::new(|_| Box::new(Spinner)))
        .unwrap();
    assert!(matches!(
        sim.run(),
        Err(RunError::EventBudget {
            budget: 1000,
            seed: 5,
            ..
        })
    ));
}

/// Counts how often it was started and its incarnation, and sets a far timer that must not
/// survive a crash.
#[derive(Default)]
struct Restartable {
    incarnation: u32,
    timers_fired: u32,
    actions: Vec<String>,
}

impl Node for Restartable {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.incarnation = ctx.incarnation();
        ctx.set_timer_after(ms(100), 1);
    }
    fn on_packet(&mut self, _: &mut Ctx<'_>, _: IfaceId, _: Packet) {}
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _: u64) {
        self.timers_fired += 1;
        ctx.metrics().incr("timers");
    }
    fn on_action(&mut self, _: &mut Ctx<'_>, action: &dyn Any) {
        if let Some(s) = action.downcast_ref::<&str>() {
            self.actions.push((*s).to_owned());
        }
    }
}

#[test]
fn crash_and_restart_rebuild_the_node_with_a_new_incarnation() {
    let mut sim = Simulation::new(1);
    let n = sim
        .add_node("gw", Box::new(|_| Box::new(Restartable::default())))
        .unwrap();
    sim.schedule(SimTime::ZERO + ms(50), Action::Crash(n));
    sim.schedule(SimTime::ZERO + ms(60), Action::Restart(n));
    sim.schedule(
        SimTime::ZERO + ms(70),
        Action::Custom {
            node: n,
            payload: Box::new("hello"),
        },
    );
    sim.run().unwrap();
    let node = sim.node::<Restartable>(n).unwrap();
    // The first incarnation's timer (due at 100 ms) died with it; the second's fired.
    assert_eq!((node.incarnation, node.timers_fired), (1, 1));
    assert_eq!(node.actions, ["hello"]);
    assert_eq!(sim.now(), SimTime::ZERO + ms(160));
}

#[test]
fn timers_cancel() {
    struct Canceller(u32);
    impl Node for Canceller {
        fn start(&mut self, ctx: &mut Ctx<'_>) {
            let t = ctx.set_timer_after(ms(1), 1);
            ctx.set_timer_after(ms(2), 2);
            assert!(ctx.cancel_timer(t));
            assert!(!ctx.cancel_timer(t));
        }
        fn on_packet(&mut self, _: &mut Ctx<'_>, _: IfaceId, _: Packet) {}
        fn on_timer(&mut self, _: &mut Ctx<'_>, token: u64) {
            self.0 = self.0 * 10 + token as u32;
        }
    }
    let mut sim = Simulation::new(1);
    let n = sim
        .add_node("c", Box::new(|_| Box::new(Canceller(0))))
        .unwrap();
    sim.run().unwrap();
    assert_eq!(sim.node::<Canceller>(n).unwrap().0, 2);
}

/// A node that keeps one wake-up timer and moves it 10,000 times (as a host re-arming its
/// earliest deadline does): the cancelled timers are purged from the queue instead of
/// waiting for their deadlines, only the last timer fires, and it is the only event.
#[test]
fn cancelled_timers_are_purged_and_are_not_events() {
    struct Rearm {
        fired: Vec<u64>,
    }
    impl Node for Rearm {
        fn start(&mut self, ctx: &mut Ctx<'_>) {
            let mut t = ctx.set_timer_after(ms(1_000_000), 0);
            for k in 1..=10_000u64 {
                assert!(ctx.cancel_timer(t));
                t = ctx.set_timer_after(ms(1_000_000 - k), k);
            }
        }
        fn on_packet(&mut self, _: &mut Ctx<'_>, _: IfaceId, _: Packet) {}
        fn on_timer(&mut self, _: &mut Ctx<'_>, token: u64) {
            self.fired.push(token);
        }
    }
    let mut sim = Simulation::new(1);
    let n = sim
        .add_node("r", Box::new(|_| Box::new(Rearm { fired: Vec::new() })))
        .unwrap();
    sim.run_until(SimTime::ZERO).unwrap();
    assert!(
        sim.pending_events() < 2_000,
        "cancelled timers purged: {} pending",
        sim.pending_events()
    );
    assert_eq!(sim.live_timers(), 1);
    let report = sim.run().unwrap();
    let node = sim.node::<Rearm>(n).unwrap();
    assert_eq!(node.fired, [10_000]);
    assert_eq!(
        report.events, 1,
        "a cancelled timer coming due is not an event"
    );
}

#[test]
fn queue_series_shows_the_queue_building_up() {
    let mut sim = Simulation::new(1);
    let a = sim.add_node("a", source(6, 1250, ms(0))).unwrap();
    let b = sim.add_node("b", sink()).unwrap();
    let p = LinkParams::new()
        .rate_bps(10_000_000)
        .queue(QueueLimit::Packets(3));
    let l = sim.connect("ab", a, b, p, LinkParams::new()).unwrap();
    sim.record_queue(l);
    sim.run().unwrap();
    let series: Vec<u32> = sim
        .queue_series(l, Direction::AtoB)
        .unwrap()
        .iter()
        .map(|(_, n)| *n)
        .collect();
    // Six packets at once: the first goes straight out, the next three wait, two are dropped.
    assert_eq!(series, [0, 0, 1, 2, 3, 3]);
    assert_eq!(sim.queue_series(l, Direction::BtoA), Some(&[][..]));
}
