//! One run of one scenario: build, run, collect.

use sim::{RunError, RunReport, SimTime, Simulation};

use crate::build;
use crate::output::RunInfo;
use crate::scenario::Loaded;

/// A finished run.
pub struct Finished {
    /// Who it was.
    pub info: RunInfo,
    /// The engine's report.
    pub report: RunReport,
    /// The simulation, for its metrics (`output::collect`, `output::each_row`), captures
    /// and further inspection.
    pub sim: Simulation,
}

/// The stable id of a run: FNV-1a over the effective scenario and the seed, in hex.
pub fn run_id(loaded: &Loaded, seed: u64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in loaded
        .effective
        .as_bytes()
        .iter()
        .chain(&seed.to_le_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Runs `loaded` with `seed` (the scenario's own seed if `None`), capturing packets and
/// keeping keys for Wireshark if asked.
pub fn run(
    loaded: &Loaded,
    seed: Option<u64>,
    capture: bool,
    key_log: bool,
) -> Result<Finished, RunError> {
    let seed = seed.unwrap_or(loaded.scenario.seed);
    let info = RunInfo {
        run_id: run_id(loaded, seed),
        scenario: loaded.name.clone(),
        seed,
    };
    let mut sim = build::build(loaded, seed, &info.run_id, key_log);
    if capture {
        for id in build::captured_links(loaded, &sim) {
            sim.enable_capture(id);
        }
    }
    for name in &loaded.scenario.queue_series {
        let id = sim
            .link_id(name)
            .expect("validated: queue_series names links");
        sim.record_queue(id);
    }
    let report = sim.run_until(SimTime::ZERO + loaded.scenario.duration.0)?;
    sim.finish();
    Ok(Finished { info, report, sim })
}
