//! Experiment files: a base scenario plus sweep axes, expanded into a deterministic job list.
//!
//! ```toml
//! description = "Queueing delay against queue size and burst rate"
//! scenario = "scenarios/udp-bottleneck.toml"   # relative to this file
//! seeds = 3                                    # seeds 1..=3 per point (or seeds = [4, 8])
//!
//! [set]                                        # fixed overrides for every job
//! duration = "10s"
//!
//! [axes]                                       # crossed with each other
//! "links.bottleneck.queue_packets" = [10, 25, 50, 100, 200]
//! "links.bottleneck.delay" = { from = 10, to = 30, step = 10, unit = "ms" }
//!
//! [zip.load]                                   # zipped: the i-th values go together
//! "nodes.bursty.rate" = ["4Mbps", "8Mbps"]
//! "nodes.cbr.rate" = ["2Mbps", "6Mbps"]
//!
//! [[skip]]                                     # combinations that are not run
//! "links.bottleneck.queue_packets" = { gt = 100 }
//! "nodes.bursty.rate" = "4Mbps"
//! ```
//!
//! Keys are the dotted paths of `ikesim run --set` ([`crate::overrides`]), quoted or written
//! as nested tables (`[axes.links.bottleneck]` then `queue_packets = [...]`). A job is one
//! parameter point and one seed, and is exactly `ikesim run <scenario> --seed S --set k=v
//! ...`. Expansion does not depend on the order of keys in the file: axes (and zip groups,
//! by their first key) are sorted by key, the first is the outermost loop, seeds innermost.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use toml::Value;

use crate::error::CmdError;
use crate::merge::MetricSpec;
use crate::plot::PlotSpec;
use crate::{output, run, scenario};

/// The most jobs one experiment may expand to.
pub const MAX_JOBS: usize = 1_000_000;

/// A validated experiment file.
#[derive(Clone, Debug)]
pub struct Experiment {
    /// The experiment file.
    pub file: PathBuf,
    /// Its name (the file name without `.toml` unless `name` is given): the default output
    /// folder is `out/<name>`.
    pub name: String,
    /// One line for `ikesim list`.
    pub description: String,
    /// The base scenario, resolved against the experiment file's folder.
    pub scenario: PathBuf,
    /// Fixed overrides applied to every job, sorted by key.
    pub fixed: Vec<(String, Value)>,
    /// The sweep dimensions in expansion order (outermost first).
    pub dims: Vec<Dim>,
    /// The parameter keys, sorted: the parameter columns of every table.
    pub params: Vec<String>,
    skips: Vec<Skip>,
    /// The seeds run at every point.
    pub seeds: Vec<u64>,
    /// The metrics tabulated in `runs.csv` (empty: every run and node metric).
    pub metrics: Vec<MetricSpec>,
    /// The time series kept in the merged `timeseries.csv` (`None`: all).
    pub timeseries: Option<Vec<String>>,
    /// The plots drawn after a sweep.
    pub plots: Vec<PlotSpec>,
}

/// One sweep dimension: a plain axis (one key) or a zip group (several keys in lockstep).
#[derive(Clone, Debug)]
pub struct Dim {
    /// Where it is declared, for messages: `axes."k"` or `zip.<group>`.
    pub label: String,
    /// The keys it sets, sorted.
    pub keys: Vec<String>,
    /// Its values: `rows[i][j]` is the i-th value of `keys[j]`.
    pub rows: Vec<Vec<Value>>,
}

/// A `[[skip]]` rule: a point is skipped when every condition holds.
#[derive(Clone, Debug)]
struct Skip {
    conds: Vec<(String, Matcher)>,
}

#[derive(Clone, Debug)]
enum Matcher {
    AnyOf(Vec<Value>),
    Compare(Vec<(Cmp, f64)>),
}

#[derive(Clone, Copy, Debug)]
enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Ne,
}

const CMP_KEYS: [(&str, Cmp); 5] = [
    ("lt", Cmp::Lt),
    ("le", Cmp::Le),
    ("gt", Cmp::Gt),
    ("ge", Cmp::Ge),
    ("ne", Cmp::Ne),
];

/// One job: a parameter point and a seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// Dense index in expansion order (`ikesim sweep --job N`).
    pub index: usize,
    /// Stable id: a hash of the sorted parameter assignment and the seed.
    pub id: String,
    /// The parameter values, sorted by key.
    pub params: Vec<(String, Value)>,
    /// The root seed.
    pub seed: u64,
}

/// The expanded, validated job list of a sweep as written to `<out>/plan.json`: everything
/// `ikesim merge` and `ikesim plot` need, so they do not read the experiment file again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The experiment's name.
    pub experiment: String,
    /// Its one-line description.
    pub description: String,
    /// The experiment file, as given on the command line (informational).
    pub experiment_file: String,
    /// The base scenario file, as the jobs open it (informational: reproduce commands).
    pub scenario_file: String,
    /// The base scenario's name.
    pub scenario: String,
    /// The ikesim version that wrote the plan.
    pub ikesim_version: String,
    /// The fixed `--set` overrides of every job.
    pub set: Vec<String>,
    /// The parameter keys: the parameter columns of every table.
    pub params: Vec<String>,
    /// The seeds of every point.
    pub seeds: Vec<u64>,
    /// The metric columns of `runs.csv` (empty: all run and node metrics).
    pub metrics: Vec<MetricSpec>,
    /// The time series kept (`None`: all).
    pub timeseries: Option<Vec<String>>,
    /// The declared plots.
    pub plots: Vec<PlotSpec>,
    /// Every job, in expansion order.
    pub jobs: Vec<PlanJob>,
}

/// One job of a [`Plan`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanJob {
    /// Dense index in expansion order.
    pub index: usize,
    /// Stable id (the job's folder name under `jobs/`).
    pub id: String,
    /// The parameter values as written in tables, in [`Plan::params`] order.
    pub values: Vec<String>,
    /// The `--set` arguments of the run: the fixed ones, then one per parameter.
    pub sets: Vec<String>,
    /// The root seed.
    pub seed: u64,
    /// The run id ([`run::run_id`]): a hash of the effective scenario and the seed.
    pub run_id: String,
}

impl Plan {
    /// Whether `other` describes the same sweep: the same jobs (ids, parameters, seeds and
    /// effective scenarios), metrics, time series and plots. File paths and the writer's
    /// version may differ (shards run on different machines).
    pub fn same_sweep(&self, other: &Self) -> bool {
        self.same_jobs(other)
            && self.metrics == other.metrics
            && self.timeseries == other.timeseries
            && self.plots == other.plots
    }

    /// Whether `other` has the same job list (what `--resume` requires).
    pub fn same_jobs(&self, other: &Self) -> bool {
        self.experiment == other.experiment && self.params == other.params && {
            self.jobs.len() == other.jobs.len()
                && self.jobs.iter().zip(&other.jobs).all(|(a, b)| {
                    a.index == b.index
                        && a.id == b.id
                        && a.values == b.values
                        && a.seed == b.seed
                        && a.run_id == b.run_id
                })
        }
    }

    /// The command that reruns `job` on its own.
    pub fn reproduce(&self, job: &PlanJob) -> String {
        let mut cmd = format!(
            "ikesim run {} --seed {}",
            shell_quote(&self.scenario_file),
            job.seed
        );
        for s in &job.sets {
            cmd.push_str(" --set ");
            cmd.push_str(&shell_quote(s));
        }
        cmd
    }
}

/// Quotes `s` for a POSIX shell if it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=+,@%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The file as written; tables of keys are flattened afterwards.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    scenario: String,
    seeds: Option<Value>,
    seed_base: Option<u64>,
    #[serde(default)]
    set: toml::Table,
    #[serde(default)]
    axes: toml::Table,
    #[serde(default)]
    zip: toml::Table,
    #[serde(default)]
    skip: Vec<toml::Table>,
    #[serde(default)]
    metrics: Vec<Value>,
    timeseries: Option<Vec<String>>,
    #[serde(default)]
    plots: Vec<toml::Table>,
}

/// Reads and validates an experiment file (not yet the scenario points: see [`plan`]).
pub fn load(path: &Path) -> Result<Experiment, CmdError> {
    let err = |msg: String| CmdError::Input(format!("{}: {msg}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let raw: RawFile = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
    let name = match raw.name {
        Some(n) => n,
        None => path
            .file_stem()
            .map_or_else(|| "experiment".into(), |s| s.to_string_lossy().into_owned()),
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(err(format!(
            "name: {name:?} must be non-empty and use only letters, digits, '_', '-' and '.' (it names the output folder)"
        )));
    }
    let scenario = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from(&raw.scenario), |p| p.join(&raw.scenario));
    if !scenario.is_file() {
        return Err(err(format!(
            "scenario: {:?} is not a file (looked for {}; the path is relative to the experiment file)",
            raw.scenario,
            scenario.display()
        )));
    }

    let seeds = parse_seeds(raw.seeds.as_ref(), raw.seed_base).map_err(err)?;

    let mut fixed = BTreeMap::new();
    flatten("set", "", &raw.set, &mut fixed, &|_| false).map_err(err)?;
    for key in fixed.keys() {
        check_key("set", key).map_err(err)?;
    }

    let mut dims = Vec::new();
    let mut axes = BTreeMap::new();
    flatten("axes", "", &raw.axes, &mut axes, &is_range).map_err(err)?;
    for (key, v) in &axes {
        let label = format!("axes.{}", quote_key(key));
        check_key(&label, key).map_err(err)?;
        let values = axis_values(&label, v, true).map_err(err)?;
        dims.push(Dim {
            label,
            keys: vec![key.clone()],
            rows: values.into_iter().map(|v| vec![v]).collect(),
        });
    }
    for (group, t) in &raw.zip {
        let label = format!("zip.{}", quote_key(group));
        let Value::Table(t) = t else {
            return Err(err(format!(
                "{label}: expected a table of keys and equally long lists, e.g. [zip.{group}] then \"nodes.a.rate\" = [\"1Mbps\", \"2Mbps\"]"
            )));
        };
        let mut members = BTreeMap::new();
        flatten(&label, "", t, &mut members, &is_range).map_err(err)?;
        if members.len() < 2 {
            return Err(err(format!(
                "{label}: a zip group needs at least two keys (a single list belongs in [axes])"
            )));
        }
        let mut columns = Vec::new();
        for (key, v) in &members {
            let l = format!("{label}.{}", quote_key(key));
            check_key(&l, key).map_err(err)?;
            // A zipped key may repeat a value; its rows (checked below) may not.
            columns.push((key.clone(), axis_values(&l, v, false).map_err(err)?));
        }
        let len = columns[0].1.len();
        if let Some((k, c)) = columns.iter().find(|(_, c)| c.len() != len) {
            return Err(err(format!(
                "{label}: zipped lists must have the same length, but {} has {len} values and {} has {}",
                quote_key(&columns[0].0),
                quote_key(k),
                c.len()
            )));
        }
        let rows: Vec<Vec<Value>> = (0..len)
            .map(|i| columns.iter().map(|(_, c)| c[i].clone()).collect())
            .collect();
        let mut distinct = BTreeSet::new();
        for (i, row) in rows.iter().enumerate() {
            if !distinct.insert(row.iter().map(canon).collect::<Vec<_>>()) {
                return Err(err(format!(
                    "{label}: the values at position {} repeat an earlier position",
                    i + 1
                )));
            }
        }
        dims.push(Dim {
            label,
            keys: columns.iter().map(|(k, _)| k.clone()).collect(),
            rows,
        });
    }
    // Expansion order: by (first) key, never by the order of the file.
    dims.sort_by(|a, b| a.keys.cmp(&b.keys));
    let mut seen = BTreeMap::new();
    for d in &dims {
        for k in &d.keys {
            if let Some(other) = seen.insert(k.clone(), d.label.clone()) {
                return Err(err(format!(
                    "{} is swept twice: in {other} and in {}",
                    quote_key(k),
                    d.label
                )));
            }
            if fixed.contains_key(k) {
                return Err(err(format!(
                    "{} is both fixed in [set] and swept in {}",
                    quote_key(k),
                    d.label
                )));
            }
        }
    }
    let params: Vec<String> = seen.keys().cloned().collect();

    let skips = raw
        .skip
        .iter()
        .enumerate()
        .map(|(i, t)| parse_skip(i, t, &dims))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;

    let metrics = raw
        .metrics
        .iter()
        .enumerate()
        .map(|(i, v)| MetricSpec::parse(i, v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let reserved = ["job", "job_id", "run_id", "seed", "ikesim_version"];
    let mut columns = BTreeSet::new();
    for m in &metrics {
        let c = m.column();
        if reserved.contains(&c) || params.iter().any(|p| p == c) {
            return Err(err(format!(
                "metrics: column {c:?} clashes with a fixed column ({}) or a parameter",
                reserved.join(", ")
            )));
        }
        if !columns.insert(c.to_owned()) {
            return Err(err(format!("metrics: column {c:?} is declared twice")));
        }
    }

    let mut plots = Vec::new();
    for (i, t) in raw.plots.iter().enumerate() {
        let p = PlotSpec::from_toml(t).map_err(|e| err(format!("plots[{i}]: {e}")))?;
        p.check_sweep(&params, &metrics)
            .map_err(|e| err(format!("plots[{i}] ({}): {e}", p.name)))?;
        if plots.iter().any(|q: &PlotSpec| q.name == p.name) {
            return Err(err(format!(
                "plots[{i}]: the name {:?} is used twice (it names the files)",
                p.name
            )));
        }
        plots.push(p);
    }

    let exp = Experiment {
        file: path.to_owned(),
        name,
        description: raw.description,
        scenario,
        fixed: fixed.into_iter().collect(),
        dims,
        params,
        skips,
        seeds,
        metrics,
        timeseries: raw.timeseries,
        plots,
    };
    let points = exp.point_count();
    if points.saturating_mul(exp.seeds.len()) > MAX_JOBS {
        return Err(err(format!(
            "the sweep expands to {points} points x {} seeds, more than the {MAX_JOBS} jobs allowed",
            exp.seeds.len()
        )));
    }
    Ok(exp)
}

impl Experiment {
    fn point_count(&self) -> usize {
        self.dims
            .iter()
            .fold(1usize, |n, d| n.saturating_mul(d.rows.len()))
    }

    /// The parameter points in expansion order (skipped ones left out), each sorted by key.
    pub fn points(&self) -> Vec<Vec<(String, Value)>> {
        let mut out = Vec::new();
        let mut odometer = vec![0usize; self.dims.len()];
        if self.dims.iter().any(|d| d.rows.is_empty()) {
            return out;
        }
        loop {
            let mut point: Vec<(String, Value)> = self
                .dims
                .iter()
                .zip(&odometer)
                .flat_map(|(d, &i)| d.keys.iter().cloned().zip(d.rows[i].iter().cloned()))
                .collect();
            point.sort_by(|a, b| a.0.cmp(&b.0));
            if !self.skips.iter().any(|s| s.matches(&point)) {
                out.push(point);
            }
            // Last dimension fastest.
            let mut d = self.dims.len();
            loop {
                if d == 0 {
                    return out;
                }
                d -= 1;
                odometer[d] += 1;
                if odometer[d] < self.dims[d].rows.len() {
                    break;
                }
                odometer[d] = 0;
            }
        }
    }

    /// The job list: every point with every seed, in expansion order.
    pub fn jobs(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        for point in self.points() {
            for &seed in &self.seeds {
                jobs.push(Job {
                    index: jobs.len(),
                    id: job_id(&point, seed),
                    params: point.clone(),
                    seed,
                });
            }
        }
        jobs
    }

    /// The fixed `--set` arguments.
    pub fn fixed_sets(&self) -> Vec<String> {
        self.fixed.iter().map(|(k, v)| set_arg(k, v)).collect()
    }
}

/// Expands the experiment and validates every parameter point against the scenario (each
/// is loaded with its overrides, in parallel), so that a bad value stops the sweep before
/// anything runs.
pub fn plan(exp: &Experiment) -> Result<Plan, CmdError> {
    let err = |msg: String| CmdError::Input(format!("{}: {msg}", exp.file.display()));
    let fixed = exp.fixed_sets();
    let base = scenario::load(&exp.scenario, &fixed).map_err(|e| {
        err(if fixed.is_empty() {
            format!("scenario: {e}")
        } else {
            format!("[set]: {e}")
        })
    })?;
    // Each value on its own first, so that an error names the axis and the value.
    let fixed_ref = &fixed;
    let singles: Vec<(String, Vec<String>)> = exp
        .dims
        .iter()
        .flat_map(|d| {
            d.rows.iter().map(move |row| {
                let assigned: Vec<String> = d
                    .keys
                    .iter()
                    .zip(row)
                    .map(|(k, v)| format!("{} = {}", quote_key(k), toml_repr(v)))
                    .collect();
                let sets = d.keys.iter().zip(row).map(|(k, v)| set_arg(k, v));
                (
                    format!("{}: {}", d.label, assigned.join(", ")),
                    fixed_ref.iter().cloned().chain(sets).collect(),
                )
            })
        })
        .collect();
    let checked: Vec<Result<(), String>> = singles
        .par_iter()
        .map(|(what, sets)| {
            scenario::load(&exp.scenario, sets)
                .map(drop)
                .map_err(|e| format!("{what}: {e}"))
        })
        .collect();
    if let Some(Err(e)) = checked.into_iter().find(Result::is_err) {
        return Err(err(e));
    }
    let points = exp.points();
    // Per point: its --set arguments and the run id of each seed.
    type PointRuns = Result<(Vec<String>, Vec<String>), String>;
    let per_point: Vec<PointRuns> = points
        .par_iter()
        .map(|point| {
            let sets: Vec<String> = fixed
                .iter()
                .cloned()
                .chain(point.iter().map(|(k, v)| set_arg(k, v)))
                .collect();
            let loaded = scenario::load(&exp.scenario, &sets).map_err(|e| {
                let what: Vec<String> = point
                    .iter()
                    .map(|(k, v)| format!("{} = {}", quote_key(k), toml_repr(v)))
                    .collect();
                format!("the point {}: {e}", what.join(", "))
            })?;
            let ids = exp.seeds.iter().map(|&s| run::run_id(&loaded, s)).collect();
            Ok((sets, ids))
        })
        .collect();
    let mut jobs = Vec::new();
    for (point, r) in points.iter().zip(per_point) {
        let (sets, run_ids) = r.map_err(err)?;
        let values: Vec<String> = point.iter().map(|(_, v)| display_value(v)).collect();
        for (&seed, run_id) in exp.seeds.iter().zip(run_ids) {
            jobs.push(PlanJob {
                index: jobs.len(),
                id: job_id(point, seed),
                values: values.clone(),
                sets: sets.clone(),
                seed,
                run_id,
            });
        }
    }
    Ok(Plan {
        experiment: exp.name.clone(),
        description: exp.description.clone(),
        experiment_file: exp.file.display().to_string(),
        scenario_file: exp.scenario.display().to_string(),
        scenario: base.name,
        ikesim_version: output::VERSION.to_owned(),
        set: fixed,
        params: exp.params.clone(),
        seeds: exp.seeds.clone(),
        metrics: exp.metrics.clone(),
        timeseries: exp.timeseries.clone(),
        plots: exp.plots.clone(),
        jobs,
    })
}

/// The stable id of a job: a 64-bit hash of the sorted assignment and the seed, in hex.
pub fn job_id(point: &[(String, Value)], seed: u64) -> String {
    let mut text = String::new();
    for (k, v) in point {
        text.push_str(k);
        text.push('=');
        text.push_str(&canon(v));
        text.push('\n');
    }
    text.push_str(&format!("seed={seed}"));
    // FNV-1a, then a finaliser (splitmix64) so that neighbouring seeds get unlike ids.
    let mut z = fnv1a(text.as_bytes());
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("{:016x}", z ^ (z >> 31))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A canonical text of a value, independent of the TOML library's formatting.
fn canon(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::Value::String(s.clone()).to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => d.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(canon).collect::<Vec<_>>().join(",")),
        Value::Table(t) => {
            let sorted: BTreeMap<&String, String> = t.iter().map(|(k, v)| (k, canon(v))).collect();
            let items: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{{{}}}", items.join(","))
        }
    }
}

/// A value as a TOML literal.
fn toml_repr(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::Value::String(s.clone()).to_string(),
        Value::Float(f) if f.is_finite() => format!("{f:?}"),
        other => other.to_string(),
    }
}

/// A value as written in a table cell: strings bare, the rest as TOML.
pub fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => toml_repr(other),
    }
}

/// The `--set` argument that gives `key` the value `v`: bare when `--set` reads it back as
/// the same value (`links.bottleneck.rate=8Mbps`), a TOML literal otherwise.
fn set_arg(key: &str, v: &Value) -> String {
    let bare = display_value(v);
    let reads_back = match toml::from_str::<toml::Table>(&format!("v = {}", bare.trim())) {
        Ok(mut t) => t.remove("v").as_ref() == Some(v),
        Err(_) => *v == Value::String(bare.trim().to_owned()),
    };
    if reads_back && bare.trim() == bare {
        format!("{key}={bare}")
    } else {
        format!("{key}={}", toml_repr(v))
    }
}

fn quote_key(k: &str) -> String {
    if k.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_owned()
    } else {
        format!("\"{k}\"")
    }
}

fn check_key(label: &str, key: &str) -> Result<(), String> {
    const TOP: [&str; 9] = [
        "name",
        "description",
        "seeds",
        "seed_base",
        "metrics",
        "timeseries",
        "plots",
        "skip",
        "scenario",
    ];
    if TOP.contains(&key) && label != "set" {
        return Err(format!(
            "{label}: {key:?} is a top-level key of the experiment file, but it sits under a [table] header here; move it above the first [table]"
        ));
    }
    if key.split('.').any(str::is_empty) {
        return Err(format!("{label}: bad key {key:?}: empty segment"));
    }
    if key == "seed" {
        return Err(format!(
            "{label}: the seed is not a scenario key here; use `seeds = N` (seeds 1..=N) or `seeds = [..]`"
        ));
    }
    Ok(())
}

/// Flattens nested tables into dotted keys; `leaf` says which tables are values.
fn flatten(
    label: &str,
    prefix: &str,
    t: &toml::Table,
    out: &mut BTreeMap<String, Value>,
    leaf: &dyn Fn(&toml::Table) -> bool,
) -> Result<(), String> {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Table(inner) if !leaf(inner) => flatten(label, &key, inner, out, leaf)?,
            _ => {
                if out.insert(key.clone(), v.clone()).is_some() {
                    return Err(format!("{label}: {} is given twice", quote_key(&key)));
                }
            }
        }
    }
    Ok(())
}

/// Whether a table under `axes` or `zip` is a range (rather than more key segments).
fn is_range(t: &toml::Table) -> bool {
    t.contains_key("from") || t.contains_key("step")
}

fn parse_seeds(seeds: Option<&Value>, base: Option<u64>) -> Result<Vec<u64>, String> {
    const HELP: &str = "expected a count (seeds = 5 runs seeds 1..=5, or seed_base..) or a list of seeds (seeds = [1, 7, 42])";
    match seeds {
        None => Ok(vec![base.unwrap_or(1)]),
        Some(Value::Integer(n)) => {
            let n = u64::try_from(*n)
                .ok()
                .filter(|n| (1..=MAX_JOBS as u64).contains(n))
                .ok_or_else(|| format!("seeds: {n} is not a count from 1 to {MAX_JOBS}; {HELP}"))?;
            let base = base.unwrap_or(1);
            let last = base
                .checked_add(n - 1)
                .ok_or_else(|| format!("seed_base: {base} + {n} seeds overflows u64"))?;
            Ok((base..=last).collect())
        }
        Some(Value::Array(items)) => {
            if base.is_some() {
                return Err(
                    "seed_base: only with a count of seeds (seeds = 5), not with a list".into(),
                );
            }
            if items.is_empty() {
                return Err(format!("seeds: the list is empty; {HELP}"));
            }
            let mut out = Vec::new();
            for v in items {
                let s = v
                    .as_integer()
                    .and_then(|i| u64::try_from(i).ok())
                    .ok_or_else(|| format!("seeds: {v} is not a seed (an integer >= 0); {HELP}"))?;
                if out.contains(&s) {
                    return Err(format!("seeds: {s} is listed twice"));
                }
                out.push(s);
            }
            Ok(out)
        }
        Some(other) => Err(format!("seeds: got {other}; {HELP}")),
    }
}

/// The values of one axis: a list, or a range `{ from, to, step, unit }` (inclusive).
fn axis_values(label: &str, v: &Value, distinct: bool) -> Result<Vec<Value>, String> {
    const HELP: &str = "expected a list of values ([10, 25, 50], [\"1Mbps\", \"2Mbps\"]) or a range { from = 10, to = 50, step = 10 } (optionally with unit = \"ms\")";
    let values = match v {
        Value::Array(items) => items.clone(),
        Value::Table(t) => range(label, t)?,
        other => return Err(format!("{label}: got {other}; {HELP}")),
    };
    if values.is_empty() {
        return Err(format!("{label}: no values; {HELP}"));
    }
    let mut seen = BTreeSet::new();
    for v in &values {
        if matches!(v, Value::Table(_)) {
            return Err(format!("{label}: a value is a table ({v}); {HELP}"));
        }
        if !seen.insert(canon(v)) && distinct {
            return Err(format!(
                "{label}: the value {} is listed twice",
                toml_repr(v)
            ));
        }
    }
    Ok(values)
}

fn range(label: &str, t: &toml::Table) -> Result<Vec<Value>, String> {
    const MAX: usize = 100_000;
    for k in t.keys() {
        if !["from", "to", "step", "unit"].contains(&k.as_str()) {
            return Err(format!(
                "{label}: unknown range key {k:?}; a range has from, to, step and optionally unit"
            ));
        }
    }
    let get = |k: &str| -> Result<&Value, String> {
        t.get(k).ok_or_else(|| {
            format!("{label}: a range needs from, to and step (missing {k}), e.g. {{ from = 10, to = 50, step = 10 }}")
        })
    };
    let (from, to, step) = (get("from")?, get("to")?, get("step")?);
    let unit = match t.get("unit") {
        None => None,
        Some(Value::String(u)) => Some(u.clone()),
        Some(other) => {
            return Err(format!(
                "{label}.unit: expected a string such as \"ms\" or \"Mbps\", got {other}"
            ));
        }
    };
    let wrap = |v: Value| match &unit {
        Some(u) => Value::String(format!("{}{u}", display_value(&v))),
        None => v,
    };
    let num = |k: &str, v: &Value| -> Result<f64, String> {
        match v {
            Value::Integer(i) => Ok(*i as f64),
            Value::Float(f) if f.is_finite() => Ok(*f),
            other => Err(format!("{label}.{k}: expected a number, got {other}")),
        }
    };
    let out: Vec<Value> = match (from, to, step) {
        (Value::Integer(a), Value::Integer(b), Value::Integer(s)) => {
            if *s <= 0 {
                return Err(format!("{label}.step: must be positive, got {s}"));
            }
            if b < a {
                return Err(format!("{label}: to ({b}) is less than from ({a})"));
            }
            let n = usize::try_from((b - a) / s + 1).unwrap_or(usize::MAX);
            if n > MAX {
                return Err(format!(
                    "{label}: {n} values, more than the {MAX} a range may have"
                ));
            }
            (0..n as i64)
                .map(|i| wrap(Value::Integer(a + i * s)))
                .collect()
        }
        _ => {
            let (a, b, s) = (num("from", from)?, num("to", to)?, num("step", step)?);
            if s <= 0.0 {
                return Err(format!("{label}.step: must be positive, got {s}"));
            }
            if b < a {
                return Err(format!("{label}: to ({b}) is less than from ({a})"));
            }
            let n = ((b - a) / s + 1e-9).floor() + 1.0;
            if n > MAX as f64 {
                return Err(format!(
                    "{label}: {n} values, more than the {MAX} a range may have"
                ));
            }
            let decimals = [a, s]
                .iter()
                .map(|x| x.to_string().split_once('.').map_or(0, |(_, d)| d.len()))
                .max()
                .unwrap_or(0);
            (0..n as usize)
                .map(|i| {
                    let x = a + i as f64 * s;
                    let x: f64 = format!("{x:.decimals$}").parse().unwrap_or(x);
                    wrap(Value::Float(x))
                })
                .collect()
        }
    };
    Ok(out)
}

fn parse_skip(i: usize, t: &toml::Table, dims: &[Dim]) -> Result<Skip, String> {
    let label = format!("skip[{i}]");
    let is_cmp =
        |t: &toml::Table| !t.is_empty() && t.keys().all(|k| CMP_KEYS.iter().any(|(n, _)| n == k));
    let mut flat = BTreeMap::new();
    flatten(&label, "", t, &mut flat, &is_cmp)?;
    if flat.is_empty() {
        return Err(format!(
            "{label}: empty; a skip rule lists axis keys and the values to skip, e.g. \"links.x.rate\" = \"1Mbps\""
        ));
    }
    let axis_values = |key: &str| -> Option<Vec<&Value>> {
        dims.iter().find_map(|d| {
            let j = d.keys.iter().position(|k| k == key)?;
            Some(d.rows.iter().map(|r| &r[j]).collect())
        })
    };
    let mut conds = Vec::new();
    for (key, v) in flat {
        let l = format!("{label}.{}", quote_key(&key));
        let Some(values) = axis_values(&key) else {
            let all: Vec<String> = dims
                .iter()
                .flat_map(|d| d.keys.iter().map(|k| quote_key(k)))
                .collect();
            return Err(format!(
                "{l}: not a swept key; the swept keys are: {}",
                if all.is_empty() {
                    "(none)".to_owned()
                } else {
                    all.join(", ")
                }
            ));
        };
        let shown = || {
            values
                .iter()
                .map(|v| toml_repr(v))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let m = match v {
            Value::Table(c) => {
                let mut cmps = Vec::new();
                for (k, x) in &c {
                    let (_, op) = CMP_KEYS
                        .iter()
                        .find(|(n, _)| n == k)
                        .expect("is_cmp checked the keys");
                    let x =
                        number(x).ok_or_else(|| format!("{l}.{k}: expected a number, got {x}"))?;
                    cmps.push((*op, x));
                }
                if let Some(bad) = values.iter().find(|v| number(v).is_none()) {
                    return Err(format!(
                        "{l}: lt/le/gt/ge/ne compare numbers, but this axis has the value {}; list the values to skip instead ({})",
                        toml_repr(bad),
                        shown()
                    ));
                }
                Matcher::Compare(cmps)
            }
            Value::Array(list) => Matcher::AnyOf(list),
            scalar => Matcher::AnyOf(vec![scalar]),
        };
        if let Matcher::AnyOf(list) = &m {
            for x in list {
                if !values.iter().any(|v| same_value(v, x)) {
                    return Err(format!(
                        "{l}: {} is not a value of this axis, so the rule would skip nothing; the values are {}",
                        toml_repr(x),
                        shown()
                    ));
                }
            }
        }
        conds.push((key, m));
    }
    Ok(Skip { conds })
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => canon(a) == canon(b),
    }
}

impl Skip {
    fn matches(&self, point: &[(String, Value)]) -> bool {
        self.conds.iter().all(|(key, m)| {
            let Some((_, v)) = point.iter().find(|(k, _)| k == key) else {
                return false;
            };
            match m {
                Matcher::AnyOf(list) => list.iter().any(|x| same_value(v, x)),
                Matcher::Compare(cmps) => number(v).is_some_and(|x| {
                    cmps.iter().all(|&(op, y)| match op {
                        Cmp::Lt => x < y,
                        Cmp::Le => x <= y,
                        Cmp::Gt => x > y,
                        Cmp::Ge => x >= y,
                        Cmp::Ne => x != y,
                    })
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_args_read_back_as_the_same_value() {
        assert_eq!(set_arg("a.b", &Value::String("8Mbps".into())), "a.b=8Mbps");
        assert_eq!(set_arg("a", &Value::Integer(10)), "a=10");
        assert_eq!(set_arg("a", &Value::String("10".into())), "a=\"10\"");
        assert_eq!(set_arg("a", &Value::Float(0.5)), "a=0.5");
        assert_eq!(set_arg("a", &Value::Float(1.0)), "a=1.0");
        let arr = Value::Array(vec![Value::String("x".into())]);
        assert_eq!(set_arg("q", &arr), "q=[\"x\"]");
        for (k, v) in [
            ("a", Value::String("10".into())),
            ("b", arr),
            ("c", Value::Float(1.0)),
        ] {
            let mut doc = toml::Table::new();
            crate::overrides::apply(&mut doc, &set_arg(k, &v)).unwrap();
            assert_eq!(doc[k], v);
        }
    }

    #[test]
    fn float_ranges_are_exact_decimals() {
        let t: toml::Table = toml::from_str("from = 0.1\nto = 0.5\nstep = 0.1").unwrap();
        let v = range("r", &t).unwrap();
        let shown: Vec<String> = v.iter().map(display_value).collect();
        assert_eq!(shown, ["0.1", "0.2", "0.3", "0.4", "0.5"]);
        let t: toml::Table = toml::from_str("from = 10\nto = 30\nstep = 10\nunit = 'ms'").unwrap();
        let shown: Vec<String> = range("r", &t).unwrap().iter().map(display_value).collect();
        assert_eq!(shown, ["10ms", "20ms", "30ms"]);
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("links.a.rate=8Mbps"), "links.a.rate=8Mbps");
        assert_eq!(shell_quote("q=[\"x\"]"), "'q=[\"x\"]'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
