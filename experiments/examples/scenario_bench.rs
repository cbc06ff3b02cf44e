//! Wall time of whole scenarios (BENCHMARKS.md):
//! `cargo run --release -p ikesim --example scenario_bench -- SCENARIO.toml [--set K=V ...] [--repeat N]`.
//!
//! Prints, for the best and median of N runs, the time to build the simulation and the time
//! inside `Simulation::run_until` (what ns-3's `Simulator::Run` measures), the events and
//! events per second, and the process's peak resident memory.

use std::path::PathBuf;
use std::time::Instant;

use experiments::{build, scenario};
use sim::SimTime;

#[expect(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
fn wall() -> Instant {
    Instant::now()
}

/// Peak resident set size in KiB (Linux `VmHWM`; 0 elsewhere).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut sets = Vec::new();
    let mut repeat = 5usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--set" => sets.push(args.next().expect("--set needs KEY=VALUE")),
            "--repeat" => {
                repeat = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--repeat needs a number")
            }
            _ => path = Some(PathBuf::from(a)),
        }
    }
    let path = path.expect("usage: scenario_bench SCENARIO.toml [--set K=V ...] [--repeat N]");
    let loaded = scenario::load(&path, &sets).unwrap_or_else(|e| panic!("{e}"));
    let mut builds = Vec::new();
    let mut runs = Vec::new();
    let mut events = 0;
    for _ in 0..repeat.max(1) {
        let t0 = wall();
        let mut sim = build::build(&loaded, loaded.scenario.seed, "bench", false);
        let t1 = wall();
        let report = sim
            .run_until(SimTime::ZERO + loaded.scenario.duration.0)
            .expect("scenario runs");
        let t2 = wall();
        builds.push((t1 - t0).as_secs_f64());
        runs.push((t2 - t1).as_secs_f64());
        events = report.events;
    }
    builds.sort_by(f64::total_cmp);
    runs.sort_by(f64::total_cmp);
    let (best, median) = (runs[0], runs[runs.len() / 2]);
    println!("scenario: {}", loaded.name);
    println!(
        "build: {:.4} s (median {:.4} s)",
        builds[0],
        builds[builds.len() / 2]
    );
    println!(
        "run: {best:.4} s (median {median:.4} s) over {} runs",
        runs.len()
    );
    println!(
        "events: {events} ({:.0} events/s at the median)",
        events as f64 / median
    );
    println!("peak RSS: {} MiB", peak_rss_kib() / 1024);
}
