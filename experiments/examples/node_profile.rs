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
//! The clock reads and the lookup add time outside what is measured: the run takes longer
//! than a plain one, and the total printed is only the events' own time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use experiments::{build, scenario};
use sim::SimTime;

#[expect(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
fn wall() -> Instant {
    Instant::now()
}

/// The class of a node called `name`: every run of digits becomes `#`.
fn class_of(name: &str) -> String {
    let mut class = String::with_capacity(name.len());
    for c in name.chars() {
        if !c.is_ascii_digit() {
            class.push(c);
        } else if !class.ends_with('#') {
            class.push('#');
        }
    }
    class
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

    // Classes by index, so that the loop does one lookup and no allocation per event.
    let mut names: Vec<String> = vec!["-".to_owned()];
    let mut class_index: BTreeMap<String, usize> = BTreeMap::from([("-".to_owned(), 0)]);
    let node_class: BTreeMap<sim::NodeId, usize> = sim
        .nodes()
        .map(|(id, name, _)| {
            let next = class_index.len();
            let class = *class_index.entry(class_of(name)).or_insert_with(|| {
                names.push(class_of(name));
                next
            });
            (id, class)
        })
        .collect();
    let mut totals = vec![(0u64, Duration::ZERO); names.len()];

    loop {
        let t0 = wall();
        let Some(node) = sim.step(end).unwrap_or_else(|e| panic!("{e}")) else {
            break;
        };
        let spent = wall() - t0;
        let class = node.map_or(0, |id| node_class[&id]);
        totals[class].0 += 1;
        totals[class].1 += spent;
    }
    let report = sim.run_until(end).unwrap_or_else(|e| panic!("{e}"));

    let all: Duration = totals.iter().map(|t| t.1).sum();
    let by_name: BTreeMap<&str, (u64, Duration)> = names
        .iter()
        .map(String::as_str)
        .zip(totals.iter().copied())
        .filter(|(_, (events, _))| *events > 0)
        .collect();
    println!(
        "scenario: {}  events: {}  fingerprint {:016x}",
        loaded.name, report.events, report.fingerprint
    );
    println!(
        "{:<24} {:>12} {:>12} {:>12} {:>7}",
        "class", "events", "time (s)", "per event", "share"
    );
    for (name, (events, time)) in by_name {
        println!(
            "{:<24} {:>12} {:>12.3} {:>9.0} ns {:>6.1}%",
            name,
            events,
            time.as_secs_f64(),
            time.as_nanos() as f64 / events as f64,
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
