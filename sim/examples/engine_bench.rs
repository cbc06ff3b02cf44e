//! Engine benchmarks (BENCHMARKS.md): `cargo run --release --example engine_bench`.
//!
//! 1. `engine`: the scheduler alone, in the classic hold model: 100,000 events are pending
//!    at all times; each pop schedules one more at `now + U(0, 2 ms)`. Prints
//!    `engine: <N> events/s`. Then `dispatch: <N> events/s` runs the same hold model through
//!    the whole engine (1,000 nodes holding 100 timers each, each firing a node callback
//!    that sets the next timer).
//! 2. `links`: packets through a 10-hop chain (source, 9 relays, sink) of 1 Gbit/s links
//!    with 1 ms delay and 100-packet drop-tail queues. Prints `links: <N> packet-hops/s`.
//!
//! 3. `memory`: resident memory per idle node and per link (both directions), from the
//!    growth of RSS while 100,000 of each are added. Prints `memory: <B> bytes/node,
//!    <B> bytes/link`.
//!
//! Optional argument: a scale factor for the number of events (default 1).

use std::time::Instant;

use sim::queue::EventQueue;
use sim::{
    Ctx, IfaceId, LinkParams, Node, Packet, QueueLimit, SimDuration, SimRng, SimTime, Simulation,
};

const PENDING: u64 = 100_000;
const HOLD_NODES: u64 = 1_000;

/// Random increments in `0..2 ms`, drawn once so the benchmark times the engine, not ChaCha.
fn increments() -> Vec<SimDuration> {
    let mut rng = SimRng::from_seed_u64(1);
    (0..65_536)
        .map(|_| SimDuration::from_nanos(rng.below(2_000_000)))
        .collect()
}

struct Holder {
    inc: std::rc::Rc<Vec<SimDuration>>,
    k: usize,
    timers: u64,
}

impl Node for Holder {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        for t in 0..self.timers {
            let d = self.next();
            ctx.set_timer_after(d, t);
        }
    }
    fn on_packet(&mut self, _: &mut Ctx<'_>, _: IfaceId, _: Packet) {}
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, token: u64) {
        let d = self.next();
        ctx.set_timer_after(d, token);
    }
}

impl Holder {
    fn next(&mut self) -> SimDuration {
        self.k = (self.k + 7919) & 0xffff;
        self.inc[self.k]
    }
}

#[expect(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
fn wall() -> Instant {
    Instant::now()
}

fn hold_engine(events: u64) -> f64 {
    let inc = std::rc::Rc::new(increments());
    let mut sim = Simulation::new(1);
    for n in 0..HOLD_NODES {
        let inc = inc.clone();
        let factory: sim::NodeFactory = Box::new(move |_| {
            Box::new(Holder {
                inc: inc.clone(),
                k: n as usize,
                timers: PENDING / HOLD_NODES,
            })
        });
        sim.add_node(&format!("n{n}"), factory)
            .expect("unique names");
    }
    // Mean increment 1 ms, 100k pending: 1e8 events per simulated second, one per 10 ns.
    let horizon = SimTime::ZERO + SimDuration::from_nanos(events * 10);
    let t0 = wall();
    let report = sim.run_until(horizon).expect("hold model runs");
    report.events as f64 / t0.elapsed().as_secs_f64()
}

fn hold_queue(events: u64) -> f64 {
    let inc = increments();
    let mut q = EventQueue::new();
    for i in 0..PENDING {
        q.schedule(SimTime::ZERO + inc[i as usize & 0xffff], i);
    }
    let t0 = wall();
    let mut k = 0usize;
    for _ in 0..events {
        let (t, e) = q.pop().expect("hold keeps the queue full");
        k = (k + 7919) & 0xffff;
        q.schedule(t + inc[k], e);
    }
    events as f64 / t0.elapsed().as_secs_f64()
}

struct Source {
    left: u64,
    gap: SimDuration,
}

impl Node for Source {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.set_timer(ctx.now(), 0);
    }
    fn on_packet(&mut self, _: &mut Ctx<'_>, _: IfaceId, _: Packet) {}
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _: u64) {
        if self.left > 0 {
            self.left -= 1;
            let p = ctx.packet(vec![0x45; 1000]);
            ctx.send(IfaceId(0), p);
            ctx.set_timer_after(self.gap, 0);
        }
    }
}

struct Relay;

impl Node for Relay {
    fn on_packet(&mut self, ctx: &mut Ctx<'_>, iface: IfaceId, p: Packet) {
        ctx.send(IfaceId(1 - iface.0), p);
    }
}

struct Sink;

impl Node for Sink {
    fn on_packet(&mut self, _: &mut Ctx<'_>, _: IfaceId, _: Packet) {}
}

fn chain(packets: u64) -> f64 {
    let mut sim = Simulation::new(1);
    // 1000-byte packets at 1 Gbit/s take 8 us; send one every 10 us (80% load).
    let src: sim::NodeFactory = Box::new(move |_| {
        Box::new(Source {
            left: packets,
            gap: SimDuration::from_micros(10),
        })
    });
    let mut prev = sim.add_node("src", src).expect("unique");
    for i in 0..9 {
        let r = sim
            .add_node(&format!("r{i}"), Box::new(|_| Box::new(Relay)))
            .expect("unique");
        connect(&mut sim, prev, r, i);
        prev = r;
    }
    let sink = sim
        .add_node("sink", Box::new(|_| Box::new(Sink)))
        .expect("unique");
    connect(&mut sim, prev, sink, 9);
    let t0 = wall();
    sim.run().expect("chain runs");
    let secs = t0.elapsed().as_secs_f64();
    let hops: u64 = sim.links().map(|l| l.counters[0].delivered_packets).sum();
    assert_eq!(hops, packets * 10, "every packet crosses every hop");
    hops as f64 / secs
}

fn connect(sim: &mut Simulation, a: sim::NodeId, b: sim::NodeId, i: u32) {
    let p = LinkParams::new()
        .rate_bps(1_000_000_000)
        .delay(SimDuration::from_millis(1))
        .queue(QueueLimit::Packets(100));
    sim.connect_sym(&format!("l{i}"), a, b, p).expect("unique");
}

/// Resident set size in bytes (Linux `/proc/self/statm`; 0 elsewhere).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn memory() -> (f64, f64) {
    const N: u64 = 100_000;
    let mut sim = Simulation::new(1);
    let before = rss_bytes();
    let ids: Vec<_> = (0..N)
        .map(|i| {
            sim.add_node(&format!("n{i}"), Box::new(|_| Box::new(Sink)))
                .expect("unique")
        })
        .collect();
    let after_nodes = rss_bytes();
    for (i, pair) in ids.windows(2).enumerate() {
        let p = LinkParams::new()
            .rate_bps(1_000_000_000)
            .delay(SimDuration::from_millis(1));
        sim.connect_sym(&format!("l{i}"), pair[0], pair[1], p)
            .expect("unique");
    }
    let after_links = rss_bytes();
    let per_node = (after_nodes - before) as f64 / N as f64;
    let per_link = (after_links - after_nodes) as f64 / (N - 1) as f64;
    (per_node, per_link)
}

fn main() {
    let scale: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let events = 20_000_000 * scale;
    println!("engine: {:.0} events/s", hold_queue(events));
    println!("dispatch: {:.0} events/s", hold_engine(events));
    println!("links: {:.0} packet-hops/s", chain(1_000_000 * scale));
    let (node, link) = memory();
    println!("memory: {node:.0} bytes/node, {link:.0} bytes/link");
}
