//! What a run leaves behind: `metrics.csv`, `timeseries.csv`, `run.toml` and captures.
//!
//! Files are first written into a staging folder inside the output folder and then renamed
//! into place one by one, so an interrupted or failed run never leaves a half-written file.
//!
//! A run with `crypto = "stand-in"` says so in `run.toml` and in a note next to the pcaps
//! ([`STAND_IN_NOTE_FILE`]), and never writes Wireshark key tables: its payloads are not
//! real ciphertext.

use std::fs;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use models::esp::KeyLog;
use models::ike::daemon::IkeDaemon;
use models::ip::Host;
use sim::{Direction, LinkId, Metric, RunReport, SimTime, Simulation};

use crate::scenario::{CryptoKey, Loaded};

/// The crate version, written into every row.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The note written next to the pcaps of a stand-in run.
pub const STAND_IN_NOTE_FILE: &str = "crypto-stand-in.txt";

/// What a stand-in run says about its captures, in `run.toml` (as a comment) and in
/// [`STAND_IN_NOTE_FILE`].
pub const STAND_IN_NOTE: &str = "crypto = stand-in: DH and AES-GCM were cost-free stand-ins \
of the same sizes (README.md, \"Crypto stand-in mode\"). IKE SK and ESP payloads in these \
captures are plaintext with a stand-in ICV, not real ciphertext: they cannot be decrypted, \
and no Wireshark key tables (esp_sa, ikev2_decryption_table) are written.";

/// Identity of a run, repeated on every output row.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// Stable id: a hash of the effective scenario and the seed.
    pub run_id: String,
    /// Scenario name.
    pub scenario: String,
    /// Root seed.
    pub seed: u64,
}

/// One scalar metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricRow {
    /// `run`, `node` or `link`.
    pub scope: &'static str,
    /// The node name, or `<link>:<from>><to>` for a link direction, or `-` for the run.
    pub entity: String,
    /// The metric's name, units last.
    pub metric: String,
    /// The value, formatted exactly (integers as integers).
    pub value: String,
}

/// Every scalar metric of a finished run, in a stable order: run, nodes, links.
pub fn collect(sim: &Simulation, report: &RunReport) -> Vec<MetricRow> {
    let mut rows = Vec::new();
    each_row(sim, report, |scope, entity, metric, value| {
        rows.push(MetricRow {
            scope,
            entity: entity.to_owned(),
            metric: metric.to_owned(),
            value,
        });
    });
    rows
}

/// Hands every scalar metric of a finished run to `push` as (scope, entity, metric,
/// value), in the order of [`collect`], keeping none: `metrics.csv` is written from these
/// directly. A client of the scale scenario has ~90 rows, and as [`MetricRow`]s (three
/// strings each) they took ~23 kB of RSS per client on top of the finished simulation:
/// the run's peak.
pub fn each_row(
    sim: &Simulation,
    report: &RunReport,
    mut push: impl FnMut(&'static str, &str, &str, String),
) {
    push("run", "-", "events", report.events.to_string());
    push("run", "-", "sim_time_ns", report.end.as_nanos().to_string());
    push(
        "run",
        "-",
        "fingerprint",
        format!("{:016x}", report.fingerprint),
    );
    for (_, name, metrics) in sim.nodes() {
        for (metric, m) in metrics.iter() {
            match m {
                Metric::Counter(c) => push("node", name, metric, c.to_string()),
                Metric::Gauge(g) => push("node", name, metric, g.to_string()),
                Metric::Histogram(h) => {
                    push(
                        "node",
                        name,
                        &format!("{metric}.count"),
                        h.count().to_string(),
                    );
                    if h.count() > 0 {
                        push(
                            "node",
                            name,
                            &format!("{metric}.mean"),
                            h.mean().to_string(),
                        );
                        push("node", name, &format!("{metric}.min"), h.min().to_string());
                        for (q, label) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")] {
                            push(
                                "node",
                                name,
                                &format!("{metric}.{label}"),
                                h.quantile(q).to_string(),
                            );
                        }
                        push("node", name, &format!("{metric}.max"), h.max().to_string());
                    }
                }
                Metric::Series(s) => push(
                    "node",
                    name,
                    &format!("{metric}.points"),
                    s.points.len().to_string(),
                ),
            }
        }
    }
    for link in sim.links() {
        for d in Direction::BOTH {
            let entity = link_entity(&link, d);
            let c = link.counters[d.index()];
            for (metric, v) in [
                ("sent_packets", c.sent_packets),
                ("sent_bytes", c.sent_bytes),
                ("delivered_packets", c.delivered_packets),
                ("delivered_bytes", c.delivered_bytes),
                ("dropped_queue", c.dropped_queue),
                ("dropped_loss", c.dropped_loss),
                ("dropped_mtu", c.dropped_mtu),
                ("dropped_down", c.dropped_down),
                ("dropped_node_down", c.dropped_node_down),
                ("peak_queue_packets", c.peak_queue_packets),
                ("peak_queue_bytes", c.peak_queue_bytes),
            ] {
                push("link", &entity, metric, v.to_string());
            }
        }
    }
}

/// Writes a run's outputs into `out`, atomically per file. With stand-in crypto, `keys`
/// writes nothing (there is nothing to decrypt).
pub fn write_run(
    out: &Path,
    info: &RunInfo,
    loaded: &Loaded,
    report: &RunReport,
    sim: &Simulation,
    captures: &[LinkId],
    keys: bool,
) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(out)?;
    let staging = out.join(format!(".staging-{}", info.run_id));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    fs::create_dir_all(&staging)?;
    let mut files = vec![PathBuf::from("metrics.csv"), PathBuf::from("run.toml")];
    write_metrics(&staging.join("metrics.csv"), info, sim, report)?;
    let stand_in = loaded.scenario.crypto == CryptoKey::StandIn;
    let mut header = format!(
        "# ikesim {VERSION} run {} of scenario {} with seed {}\n# ikesim run <this file> --seed {} reproduces it.\n",
        info.run_id, info.scenario, info.seed, info.seed
    );
    if stand_in {
        header.push_str(&format!("# {STAND_IN_NOTE}\n"));
    }
    fs::write(staging.join("run.toml"), header + &loaded.effective)?;
    if write_series(&staging.join("timeseries.csv"), info, sim)? {
        files.push(PathBuf::from("timeseries.csv"));
    }
    if !captures.is_empty() {
        fs::create_dir_all(staging.join("pcap"))?;
        fs::create_dir_all(out.join("pcap"))?;
        for &id in captures {
            let name = sim
                .links()
                .find(|l| l.id == id)
                .map(|l| l.name.to_owned())
                .expect("captured link exists");
            let rel = PathBuf::from("pcap").join(format!("{name}.pcap"));
            let mut w = BufWriter::new(fs::File::create(staging.join(&rel))?);
            sim.capture(id)
                .expect("capture was enabled")
                .write_pcap(&mut w)?;
            w.into_inner()
                .map_err(io::IntoInnerError::into_error)?
                .sync_all()?;
            files.push(rel);
        }
        if stand_in {
            let rel = PathBuf::from("pcap").join(STAND_IN_NOTE_FILE);
            fs::write(staging.join(&rel), format!("{STAND_IN_NOTE}\n"))?;
            files.push(rel);
        }
    }
    if keys && !stand_in {
        let dir = PathBuf::from("wireshark");
        key_log(sim).write_wireshark_config(&staging.join(&dir))?;
        fs::create_dir_all(out.join(&dir))?;
        for file in [
            KeyLog::IKEV2_FILE,
            KeyLog::ESP_FILE,
            KeyLog::PREFERENCES_FILE,
        ] {
            files.push(dir.join(file));
        }
    }
    for rel in &files {
        fs::rename(staging.join(rel), out.join(rel))?;
    }
    fs::remove_dir_all(&staging)?;
    Ok(files)
}

/// The keys of every IKE and ESP SA of every IKE daemon in the run.
pub fn key_log(sim: &Simulation) -> KeyLog {
    let mut log = KeyLog::new();
    for (id, _, _) in sim.nodes() {
        if let Some(host) = sim.node::<Host>(id) {
            for daemon in host.apps_of::<IkeDaemon>() {
                if let Some(keys) = daemon.key_log() {
                    log.extend(keys);
                }
            }
        }
    }
    log
}

fn write_metrics(
    path: &Path,
    info: &RunInfo,
    sim: &Simulation,
    report: &RunReport,
) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(BufWriter::new(fs::File::create(path)?));
    w.write_record([
        "run_id",
        "scenario",
        "seed",
        "ikesim_version",
        "scope",
        "entity",
        "metric",
        "value",
    ])?;
    let seed = info.seed.to_string();
    let mut written = Ok(());
    each_row(sim, report, |scope, entity, metric, value| {
        if written.is_ok() {
            written = w.write_record([
                &info.run_id,
                &info.scenario,
                &seed,
                VERSION,
                scope,
                entity,
                metric,
                &value,
            ]);
        }
    });
    written?;
    w.flush()
}

/// Writes every node time series and recorded link queue in long format; returns whether
/// there was any.
fn write_series(path: &Path, info: &RunInfo, sim: &Simulation) -> io::Result<bool> {
    let mut rows: Vec<(String, &str, SimTime, String)> = Vec::new();
    for (_, name, m) in sim.nodes() {
        for (metric, v) in m.iter() {
            if let Metric::Series(s) = v {
                rows.extend(
                    s.points
                        .iter()
                        .map(|(t, v)| (name.to_owned(), metric, *t, v.to_string())),
                );
            }
        }
    }
    for link in sim.links() {
        for d in Direction::BOTH {
            if let Some(series) = sim.queue_series(link.id, d) {
                let entity = link_entity(&link, d);
                rows.extend(
                    series
                        .iter()
                        .map(|(t, n)| (entity.clone(), "queue_packets", *t, n.to_string())),
                );
            }
        }
    }
    if rows.is_empty() {
        return Ok(false);
    }
    let mut w = csv::Writer::from_writer(BufWriter::new(fs::File::create(path)?));
    w.write_record(["run_id", "seed", "entity", "metric", "time_ns", "value"])?;
    let seed = info.seed.to_string();
    for (entity, metric, t, v) in rows {
        w.write_record([
            &info.run_id,
            &seed,
            &entity,
            metric,
            &t.as_nanos().to_string(),
            &v,
        ])?;
    }
    w.flush()?;
    Ok(true)
}

/// The entity name of one link direction: `<link>:<from>><to>`.
pub fn link_entity(link: &sim::LinkInfo<'_>, d: Direction) -> String {
    let (from, to) = match d {
        Direction::AtoB => (link.ends[0].0, link.ends[1].0),
        Direction::BtoA => (link.ends[1].0, link.ends[0].0),
    };
    format!("{}:{from}>{to}", link.name)
}
