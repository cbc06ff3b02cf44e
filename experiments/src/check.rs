//! `ikesim check`: the regression suite. Every scenario under `experiments/scenarios/` runs
//! with its recorded seed; its fingerprint and metrics are compared with
//! `results/baselines/<scenario>.json`, and any drift is printed as a diff and fails the
//! check. `--bless` rewrites the baselines, which are committed, so a change of protocol
//! behaviour shows up in review as a baseline diff.
//!
//! A baseline keeps every run metric and every metric of every node and link direction,
//! except that entities expanded from a group (`client-0` .. `client-9999`, and their links)
//! are aggregated when the group has more than [`GROUP_LIMIT`] members: the entity
//! `client-*` then holds `entities` and, per metric, `m [sum]`, `m [min]` and `m [max]`
//! (and `m [n]` when not every member has it). The fingerprint covers every event of the run, so
//! nothing escapes the check; the metrics say what changed and by how much.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::error::CmdError;
use crate::merge::{AggOp, aggregate};
use crate::output::{self, MetricRow};
use crate::stats;
use crate::{run, scenario};

/// Groups with more members than this are aggregated in baselines.
pub const GROUP_LIMIT: usize = 8;

/// Changed metrics printed per scenario (the rest are counted).
const SHOWN: usize = 40;

/// `results/baselines/<scenario>.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// The scenario's name.
    pub scenario: String,
    /// The seed it ran with (the scenario's `seed`).
    pub seed: u64,
    /// The event-trace fingerprint.
    pub fingerprint: String,
    /// Events executed.
    pub events: u64,
    /// Metrics by scope (`run`, `node`, `link`), entity and name; values as in
    /// `metrics.csv`. Large groups are aggregated (see the module docs).
    pub metrics: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
}

/// What to check.
#[derive(Clone, Debug)]
pub struct Options {
    /// Folder of scenario files (every `*.toml` is in the suite).
    pub scenarios: PathBuf,
    /// Folder of baselines.
    pub baselines: PathBuf,
    /// Rewrite the baselines instead of comparing.
    pub bless: bool,
    /// Only these scenarios (file names without `.toml`); all when empty.
    pub only: Vec<String>,
}

/// The verdict on one scenario.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Same fingerprint and metrics as the baseline.
    Same,
    /// Different: a readable diff.
    Drift(Vec<String>),
    /// No baseline yet.
    Missing,
    /// A baseline whose scenario is gone.
    Stale,
    /// The run did not finish.
    Failed(String),
    /// `--bless` wrote a new or changed baseline (with the diff, empty for a new one).
    Blessed(Vec<String>),
    /// `--bless` removed a stale baseline.
    Removed,
}

impl Verdict {
    /// Whether this verdict fails the check.
    pub fn fails(&self) -> bool {
        matches!(
            self,
            Self::Drift(_) | Self::Missing | Self::Stale | Self::Failed(_)
        )
    }
}

/// One line of the report.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The scenario (file name without `.toml`).
    pub name: String,
    /// Its baseline file.
    pub baseline: PathBuf,
    /// Fingerprint and events of this run, when it ran.
    pub run: Option<(String, u64)>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Runs the suite (in parallel on the current rayon pool) and compares or blesses.
pub fn check(opts: &Options) -> Result<Vec<Checked>, CmdError> {
    let mut files: Vec<PathBuf> = fs::read_dir(&opts.scenarios)
        .map_err(|e| {
            CmdError::Input(format!(
                "{}: {e} (run from the repository root, or pass --scenarios DIR)",
                opts.scenarios.display()
            ))
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    for name in &opts.only {
        if !files.iter().any(|f| stem(f) == *name) {
            let all: Vec<String> = files.iter().map(|f| stem(f)).collect();
            return Err(CmdError::Input(format!(
                "{name}: no such scenario in {}; scenarios: {}",
                opts.scenarios.display(),
                all.join(", ")
            )));
        }
    }
    files.retain(|f| opts.only.is_empty() || opts.only.contains(&stem(f)));
    // Load every scenario first: a broken file stops the check before anything runs.
    let loaded = files
        .iter()
        .map(|f| scenario::load(f, &[]).map_err(|e| CmdError::Input(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let runs: Vec<Result<Baseline, String>> = loaded
        .par_iter()
        .with_max_len(1)
        .map(|l| {
            let f = run::run(l, None, false, false).map_err(|e| e.to_string())?;
            Ok(Baseline {
                scenario: l.name.clone(),
                seed: f.info.seed,
                fingerprint: format!("{:016x}", f.report.fingerprint),
                events: f.report.events,
                metrics: baseline_metrics(&output::collect(&f.sim, &f.report)),
            })
        })
        .collect();
    if opts.bless {
        fs::create_dir_all(&opts.baselines).map_err(|e| CmdError::io(&opts.baselines, &e))?;
    }
    let mut out = Vec::new();
    for (file, result) in files.iter().zip(runs) {
        let name = stem(file);
        let path = opts.baselines.join(format!("{name}.json"));
        let new = match result {
            Ok(b) => b,
            Err(e) => {
                out.push(Checked {
                    name,
                    baseline: path,
                    run: None,
                    verdict: Verdict::Failed(e),
                });
                continue;
            }
        };
        let old = read_baseline(&path)?;
        let diff = old.as_ref().map(|o| diff(o, &new)).unwrap_or_default();
        let verdict = match (opts.bless, &old) {
            (true, Some(_)) if diff.is_empty() => Verdict::Same,
            (true, _) => {
                let json = serde_json::to_string_pretty(&new)
                    .map_err(|e| CmdError::Failed(e.to_string()))?
                    + "\n";
                atomic::write(&path, json.as_bytes()).map_err(|e| CmdError::io(&path, &e))?;
                Verdict::Blessed(diff)
            }
            (false, None) => Verdict::Missing,
            (false, Some(_)) if diff.is_empty() => Verdict::Same,
            (false, Some(_)) => Verdict::Drift(diff),
        };
        out.push(Checked {
            name,
            baseline: path,
            run: Some((new.fingerprint.clone(), new.events)),
            verdict,
        });
    }
    if opts.only.is_empty()
        && let Ok(entries) = fs::read_dir(&opts.baselines)
    {
        let mut stale: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| !files.iter().any(|f| stem(f) == stem(p)))
            .collect();
        stale.sort();
        for p in stale {
            let verdict = if opts.bless {
                fs::remove_file(&p).map_err(|e| CmdError::io(&p, &e))?;
                Verdict::Removed
            } else {
                Verdict::Stale
            };
            out.push(Checked {
                name: stem(&p),
                baseline: p,
                run: None,
                verdict,
            });
        }
    }
    Ok(out)
}

fn read_baseline(path: &Path) -> Result<Option<Baseline>, CmdError> {
    match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            CmdError::Input(format!(
                "{}: {e} (rewrite it with `ikesim check --bless`)",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CmdError::io(path, &e)),
    }
}

/// The group an entity belongs to: every `-<digits>` segment becomes `-*`
/// (`sender-3-left:sender-3>left` -> `sender-*-left:sender-*>left`).
pub fn group_of(entity: &str) -> String {
    if !entity.is_ascii() {
        return entity.to_owned();
    }
    let b = entity.as_bytes();
    let mut out = String::with_capacity(entity.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'-' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > start && (j == b.len() || matches!(b[j], b'-' | b':' | b'>')) {
                out.push_str("-*");
                i = j;
                continue;
            }
        }
        out.push(char::from(b[i]));
        i += 1;
    }
    out
}

/// The baseline's metric map: everything, with groups of more than [`GROUP_LIMIT`] entities
/// aggregated.
pub fn baseline_metrics(
    rows: &[MetricRow],
) -> BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> {
    // Members per (scope, group).
    let mut members: BTreeMap<(&str, String), BTreeSet<&str>> = BTreeMap::new();
    for r in rows {
        members
            .entry((r.scope, group_of(&r.entity)))
            .or_default()
            .insert(&r.entity);
    }
    let mut out: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> = BTreeMap::new();
    // Values per (scope, group, metric) for the aggregated groups, in row order.
    let mut pooled: BTreeMap<(&str, String, &str), Vec<&str>> = BTreeMap::new();
    for r in rows {
        let g = group_of(&r.entity);
        let n = members[&(r.scope, g.clone())].len();
        if n > GROUP_LIMIT {
            pooled
                .entry((r.scope, g, &r.metric))
                .or_default()
                .push(&r.value);
        } else {
            out.entry(r.scope.to_owned())
                .or_default()
                .entry(r.entity.clone())
                .or_default()
                .insert(r.metric.clone(), r.value.clone());
        }
    }
    for ((scope, g, metric), values) in pooled {
        let n = members[&(scope, g.clone())].len();
        let e = out
            .entry(scope.to_owned())
            .or_default()
            .entry(g)
            .or_default();
        e.insert("entities".into(), n.to_string());
        if values.len() != n {
            e.insert(format!("{metric} [n]"), values.len().to_string());
        }
        for (op, label) in [
            (AggOp::Sum, "sum"),
            (AggOp::Min, "min"),
            (AggOp::Max, "max"),
        ] {
            e.insert(format!("{metric} [{label}]"), aggregate(op, &values));
        }
    }
    out
}

/// Readable differences between two baselines; empty when they are the same.
pub fn diff(old: &Baseline, new: &Baseline) -> Vec<String> {
    let mut lines = Vec::new();
    if old.fingerprint != new.fingerprint {
        lines.push(format!(
            "fingerprint moved: {} -> {}",
            old.fingerprint, new.fingerprint
        ));
    }
    if old.seed != new.seed {
        lines.push(format!("seed {} -> {}", old.seed, new.seed));
    }
    if old.scenario != new.scenario {
        lines.push(format!(
            "scenario name {:?} -> {:?}",
            old.scenario, new.scenario
        ));
    }
    let flat = |b: &Baseline| -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for (scope, entities) in &b.metrics {
            for (entity, metrics) in entities {
                for (metric, v) in metrics {
                    // The fingerprint has its own line above.
                    if scope == "run" && metric == "fingerprint" {
                        continue;
                    }
                    let key = if scope == "run" {
                        format!("run {metric}")
                    } else {
                        format!("{scope} {entity} {metric}")
                    };
                    m.insert(key, v.clone());
                }
            }
        }
        m
    };
    let (a, b) = (flat(old), flat(new));
    let mut changes = Vec::new();
    for (k, va) in &a {
        match b.get(k) {
            Some(vb) if vb == va => {}
            Some(vb) => changes.push(format!("{k}: {}", change(va, vb))),
            None => changes.push(format!("{k}: removed (was {va})")),
        }
    }
    for (k, vb) in &b {
        if !a.contains_key(k) {
            changes.push(format!("{k}: new = {vb}"));
        }
    }
    let total = changes.len();
    if total > 0 {
        lines.push(format!(
            "{total} metric{} changed:",
            if total == 1 { "" } else { "s" }
        ));
    }
    lines.extend(changes.into_iter().take(SHOWN).map(|c| format!("  {c}")));
    if total > SHOWN {
        lines.push(format!(
            "  ... and {} more (see the baseline diff after --bless)",
            total - SHOWN
        ));
    }
    lines
}

fn change(a: &str, b: &str) -> String {
    match (stats::number(a), stats::number(b)) {
        (Some(x), Some(y)) => {
            let d = y - x;
            let sign = if d >= 0.0 { "+" } else { "" };
            let rel = if x == 0.0 {
                String::new()
            } else {
                format!(", {sign}{:.2}%", d / x.abs() * 100.0)
            };
            format!("{a} -> {b} ({sign}{}{rel})", stats::fmt(d))
        }
        _ => format!("{a} -> {b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups() {
        assert_eq!(group_of("client-17"), "client-*");
        assert_eq!(
            group_of("sender-3-left:sender-3>left"),
            "sender-*-left:sender-*>left"
        );
        assert_eq!(group_of("sink-cbr"), "sink-cbr");
        assert_eq!(group_of("a-1b"), "a-1b");
        assert_eq!(group_of("-"), "-");
    }

    #[test]
    fn large_groups_are_aggregated() {
        let row = |entity: String, metric: &str, value: &str| MetricRow {
            scope: "node",
            entity,
            metric: metric.into(),
            value: value.into(),
        };
        let mut rows: Vec<MetricRow> = (0..20)
            .map(|i| row(format!("c-{i}"), "done", &i.to_string()))
            .collect();
        rows.push(row("c-3".into(), "late", "7"));
        rows.push(row("server".into(), "done", "20"));
        let m = baseline_metrics(&rows);
        let g = &m["node"]["c-*"];
        assert_eq!(g["entities"], "20");
        assert_eq!(g["done [sum]"], "190");
        assert_eq!(
            (g["done [min]"].as_str(), g["done [max]"].as_str()),
            ("0", "19")
        );
        assert_eq!(g["late [n]"], "1");
        assert_eq!(m["node"]["server"]["done"], "20");
    }

    #[test]
    fn diffs_say_by_how_much() {
        assert_eq!(change("100", "110"), "100 -> 110 (+10, +10.00%)");
        assert_eq!(change("4", "3"), "4 -> 3 (-1, -25.00%)");
        assert_eq!(change("ab", "cd"), "ab -> cd");
    }
}
