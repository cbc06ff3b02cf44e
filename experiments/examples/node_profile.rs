//! Where a scenario's time goes, by node (BENCHMARKS.md, "Session 11"):
//! `cargo run --release -p ikesim --example node_profile -- SCENARIO.toml [--set K=V ...]`.
//!
//! Runs the scenario once, one event at a time ([`sim::Simulation::step`]), times each
//! event's execution with the wall clock from outside the simulation (the events and their
//! order are those of `ikesim run`; the fingerprint is printed to show it), and prints, for
//! each class of node, its events, the time they took and the time per event. A node's
//! class is its name with every run of digits written `#`: the instances of a group
//! (`c3a-0`, `c3a-1`) and the numbered nodes of a generated topology (`nat0`, `nat1`)
//! share one. Events of no node (links going down, scripted actions) are the class `-`.
//! The total printed is only the events' own time, which is below a plain run's (the
//! queue's work between events is not in it) and above it per event where the clock
//! reads and the bookkeeping between events evict what the next event would have found
//! in the cache: compare classes within one profile, not with other runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use experiments::{build, scenario};
use sim::SimTime;

/// The allocator of the `ikesim` binary, so that allocation costs what it costs in a run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[expect(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
fn wall() -> Instant {
    Instant::now()
}

/// Writes into `class` the class of a node called `name`: every run of digits becomes `#`.
fn class_of(name: &str, class: &mut String) {
    class.clear();
    for c in name.chars() {
        if !c.is_ascii_digit() {
            class.push(c);
        } else if !class.ends_with('#') {
            class.push('#');
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut sets = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--set" => sets.push(args.next().expect("--set needs KEY=VALUE")),
            _ => path = Some(PathBuf::from(a)),
        }
    }
    let path = path.expect("usage: node_profile SCENARIO.toml [--set K=V ...]");
    let loaded = scenario::load(&path, &sets).unwrap_or_else(|e| panic!("{e}"));
    let mut sim = build::build(&loaded, loaded.scenario.seed, "profile", false);
    let end = SimTime::ZERO + loaded.scenario.duration.0;

    // By class name. The class is looked up after the event from the node's name, which
    // the event has just brought into the cache: a lookup table of every node would be
    // cold at scale, and its misses would bleed into the next event's time.
    let mut totals: BTreeMap<String, (u64, Duration)> = BTreeMap::new();
    let mut class = String::new();
    loop {
        let t0 = wall();
        let Some(node) = sim.step(end).unwrap_or_else(|e| panic!("{e}")) else {
            break;
        };
        let spent = wall() - t0;
        class_of(
            node.and_then(|id| sim.node_name(id)).unwrap_or("-"),
            &mut class,
        );
        let entry = match totals.get_mut(class.as_str()) {
            Some(entry) => entry,
            None => totals.entry(class.clone()).or_default(),
        };
        entry.0 += 1;
        entry.1 += spent;
    }
    let report = sim.run_until(end).unwrap_or_else(|e| panic!("{e}"));

    let all: Duration = totals.values().map(|t| t.1).sum();
    println!(
        "scenario: {}  events: {}  fingerprint {:016x}",
        loaded.name, report.events, report.fingerprint
    );
    println!(
        "{:<24} {:>12} {:>12} {:>12} {:>7}",
        "class", "events", "time (s)", "per event", "share"
    );
    for (name, (events, time)) in &totals {
        println!(
            "{:<24} {:>12} {:>12.3} {:>9.0} ns {:>6.1}%",
            name,
            events,
            time.as_secs_f64(),
            time.as_nanos() as f64 / *events as f64,
            100.0 * time.as_secs_f64() / all.as_secs_f64()
        );
    }
    println!(
        "{:<24} {:>12} {:>12.3}",
        "all",
        report.events,
        all.as_secs_f64()
    );
}
