//! `ikesim merge`: job outputs -> `runs.csv`, `summary.csv` and `timeseries.csv`.
//!
//! The job list comes from the sweep folders' `plan.json` (all must describe the same
//! sweep), the values from each job's `metrics.csv`. Rows follow the plan's job order and
//! columns the plan's metric list (or the order in which metrics first appear), so the
//! output is byte-identical however many processes, shards or machines ran the jobs.
//!
//! - `runs.csv`: one row per job: `job,job_id,run_id,<parameters>,seed,ikesim_version,
//!   <metrics>`.
//! - `summary.csv`: one row per parameter point and numeric metric:
//!   `<parameters>,metric,n,mean,sd,ci95,min,median,max` ([`crate::stats`]).
//! - `timeseries.csv` (when jobs recorded any): `job,job_id,run_id,<parameters>,seed,entity,
//!   metric,time_ns,value`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Value;

use crate::atomic;
use crate::error::CmdError;
use crate::experiment::{Plan, PlanJob};
use crate::stats;
use crate::sweep::JobRecord;

/// A metric column of `runs.csv`, as declared in an experiment's `metrics` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MetricSpec {
    /// One metric of one entity, written `"entity:metric"` (`"events"` for a run metric,
    /// `"bottleneck:left>right:dropped_queue"` for a link direction).
    One {
        /// The column name (the string as written).
        column: String,
        /// The entity (`-` for the run).
        entity: String,
        /// The metric.
        metric: String,
    },
    /// One metric aggregated over every entity whose name matches a glob (`*`, `?`), written
    /// `{ name = "completed", sum = "client-*:rr_completed" }`.
    Aggregate {
        /// The column name.
        column: String,
        /// How the values combine.
        op: AggOp,
        /// The entity glob.
        entity: String,
        /// The metric.
        metric: String,
    },
}

/// How an aggregate column combines the values of many entities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AggOp {
    /// Sum (exact for integers).
    Sum,
    /// Arithmetic mean.
    Mean,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// How many entities have the metric.
    Count,
}

const OPS: [(&str, AggOp); 5] = [
    ("sum", AggOp::Sum),
    ("mean", AggOp::Mean),
    ("min", AggOp::Min),
    ("max", AggOp::Max),
    ("count", AggOp::Count),
];

impl MetricSpec {
    /// Parses entry `i` of an experiment's `metrics` list.
    pub fn parse(i: usize, v: &Value) -> Result<Self, String> {
        let label = format!("metrics[{i}]");
        match v {
            Value::String(s) => {
                let (entity, metric) = split_metric(s).ok_or_else(|| {
                    format!("{label}: {s:?} is not \"entity:metric\" (or a run metric such as \"events\")")
                })?;
                if entity.contains(['*', '?']) {
                    return Err(format!(
                        "{label}: {s:?} matches many entities; aggregate it: {{ name = \"...\", sum = {s:?} }} (sum, mean, min, max or count)"
                    ));
                }
                Ok(Self::One {
                    column: s.clone(),
                    entity,
                    metric,
                })
            }
            Value::Table(t) => {
                let allowed = "name and one of sum, mean, min, max, count";
                let mut name = None;
                let mut agg = None;
                for (k, v) in t {
                    match (k.as_str(), v) {
                        ("name", Value::String(n)) => name = Some(n.clone()),
                        (op, Value::String(glob)) if OPS.iter().any(|(o, _)| *o == op) => {
                            if agg.is_some() {
                                return Err(format!(
                                    "{label}: more than one aggregation; use one of sum, mean, min, max, count"
                                ));
                            }
                            let (_, op) = OPS.iter().find(|(o, _)| *o == op).expect("just matched");
                            agg = Some((*op, glob.clone()));
                        }
                        (k, _) if k == "name" || OPS.iter().any(|(o, _)| *o == k) => {
                            return Err(format!("{label}.{k}: expected a string, got {v}"));
                        }
                        (k, _) => {
                            return Err(format!("{label}: unknown key {k:?}; allowed: {allowed}"));
                        }
                    }
                }
                let column =
                    name.ok_or_else(|| format!("{label}: missing name; allowed: {allowed}"))?;
                let (op, glob) = agg.ok_or_else(|| {
                    format!("{label}: no aggregation; add one of sum, mean, min, max, count = \"entity-glob:metric\"")
                })?;
                let (entity, metric) = split_metric(&glob).ok_or_else(|| {
                    format!("{label}: {glob:?} is not \"entity-glob:metric\", e.g. \"client-*:rr_completed\"")
                })?;
                Ok(Self::Aggregate {
                    column,
                    op,
                    entity,
                    metric,
                })
            }
            other => Err(format!(
                "{label}: expected \"entity:metric\" or {{ name = \"...\", sum = \"entity-glob:metric\" }}, got {other}"
            )),
        }
    }

    /// The column name.
    pub fn column(&self) -> &str {
        match self {
            Self::One { column, .. } | Self::Aggregate { column, .. } => column,
        }
    }
}

/// Splits `entity:metric` at the last colon (link entities contain colons); a bare name is
/// a run metric (entity `-`).
pub fn split_metric(s: &str) -> Option<(String, String)> {
    let (entity, metric) = s.rsplit_once(':').unwrap_or(("-", s));
    (!entity.is_empty() && !metric.is_empty()).then(|| (entity.to_owned(), metric.to_owned()))
}

/// Whether `text` matches `pattern` (`*` any run of characters, `?` one character).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A CSV file read whole: header and rows.
#[derive(Clone, Debug)]
pub struct Csv {
    /// Column names.
    pub header: Vec<String>,
    /// Rows, each as long as the header.
    pub rows: Vec<Vec<String>>,
}

impl Csv {
    /// The index of column `name`.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// Reads a CSV file with a header.
pub fn read_csv(path: &Path) -> Result<Csv, CmdError> {
    let bad = |e: &dyn std::fmt::Display| CmdError::Input(format!("{}: {e}", path.display()));
    let mut r = csv::Reader::from_path(path).map_err(|e| bad(&e))?;
    let header = r
        .headers()
        .map_err(|e| bad(&e))?
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = r
        .records()
        .map(|rec| rec.map(|rec| rec.iter().map(str::to_owned).collect()))
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&e))?;
    Ok(Csv { header, rows })
}

/// Reads `<dir>/plan.json`.
pub fn read_plan(dir: &Path) -> Result<Plan, CmdError> {
    let path = dir.join("plan.json");
    let text = fs::read_to_string(&path).map_err(|e| {
        CmdError::Input(format!(
            "{}: {e} (a sweep folder has the plan.json that `ikesim sweep` writes)",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| CmdError::Input(format!("{}: {e}", path.display())))
}

/// Reads `<dir>/jobs/<id>/job.json` if the job is there.
pub fn read_job(dir: &Path, id: &str) -> Result<Option<JobRecord>, CmdError> {
    let path = dir.join("jobs").join(id).join("job.json");
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| CmdError::Input(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CmdError::io(&path, &e)),
    }
}

/// What a merge wrote.
#[derive(Debug)]
pub struct Merged {
    /// The plan (the same in every input folder).
    pub plan: Plan,
    /// The files written, relative to the output folder.
    pub files: Vec<PathBuf>,
    /// Things worth knowing that did not stop the merge.
    pub warnings: Vec<String>,
}

/// Merges the sweep folders `dirs` into `out`. Fails, writing nothing, unless the folders
/// hold the same plan and, between them, every job of it.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged, CmdError> {
    let input = CmdError::Input;
    let mut plans = Vec::new();
    for d in dirs {
        plans.push((d, read_plan(d)?));
    }
    let (first_dir, first) = &plans[0];
    for (d, p) in &plans[1..] {
        if !first.same_sweep(p) {
            return Err(input(format!(
                "{} and {} hold different sweeps (their plan.json differ in jobs, metrics or plots); merge the shards of one sweep",
                first_dir.display(),
                d.display()
            )));
        }
    }
    // The same plan whatever the order of the folders (paths may differ between shards).
    let plan = plans
        .iter()
        .map(|(_, p)| (serde_json::to_string(p).unwrap_or_default(), p))
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, p)| p.clone())
        .expect("at least one folder");

    let mut warnings = Vec::new();
    let mut found: Vec<(PathBuf, JobRecord)> = Vec::new();
    let mut missing: Vec<&PlanJob> = Vec::new();
    for job in &plan.jobs {
        let mut here: Option<(PathBuf, JobRecord)> = None;
        for d in dirs {
            let Some(rec) = read_job(d, &job.id)? else {
                continue;
            };
            let dir = d.join("jobs").join(&job.id);
            let params: BTreeMap<String, String> = plan
                .params
                .iter()
                .cloned()
                .zip(job.values.iter().cloned())
                .collect();
            if rec.index != job.index
                || rec.seed != job.seed
                || rec.run_id != job.run_id
                || rec.params != params
            {
                return Err(input(format!(
                    "{}: job.json does not match job {} of the plan (index {}, seed {}, run {}); the folder holds another sweep's output",
                    dir.display(),
                    job.id,
                    job.index,
                    job.seed,
                    job.run_id
                )));
            }
            match &here {
                Some((other, prev))
                    if prev.fingerprint != rec.fingerprint
                        || prev.ikesim_version != rec.ikesim_version =>
                {
                    return Err(input(format!(
                        "job {} ({}) differs between {} and {}: fingerprints {} and {}, ikesim {} and {}",
                        job.index,
                        job.id,
                        other.display(),
                        dir.display(),
                        prev.fingerprint,
                        rec.fingerprint,
                        prev.ikesim_version,
                        rec.ikesim_version
                    )));
                }
                Some(_) => {}
                None => here = Some((dir, rec)),
            }
        }
        match here {
            Some(h) => found.push(h),
            None => missing.push(job),
        }
    }
    if !missing.is_empty() {
        let shown: Vec<String> = missing
            .iter()
            .take(10)
            .map(|j| format!("  job {} ({}): {}", j.index, j.id, plan.reproduce(j)))
            .collect();
        return Err(input(format!(
            "incomplete sweep: {} of {} jobs are missing from {}:\n{}{}\nrun `ikesim sweep {} --out DIR --resume` (or `--job N` for one) to complete it",
            missing.len(),
            plan.jobs.len(),
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            shown.join("\n"),
            if missing.len() > shown.len() {
                format!("\n  ... and {} more", missing.len() - shown.len())
            } else {
                String::new()
            },
            plan.experiment_file
        )));
    }
    let versions: BTreeSet<&str> = found
        .iter()
        .map(|(_, r)| r.ikesim_version.as_str())
        .collect();
    if versions.len() > 1 {
        return Err(input(format!(
            "the jobs were run by different ikesim versions ({}); rerun the sweep with one",
            versions.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    for d in dirs {
        let expected: BTreeSet<&str> = plan.jobs.iter().map(|j| j.id.as_str()).collect();
        if let Ok(entries) = fs::read_dir(d.join("jobs")) {
            let extra = entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.') && !expected.contains(n.as_str()))
                .count();
            if extra > 0 {
                warnings.push(format!(
                    "{}: {extra} job folders that are not in this plan were ignored",
                    d.join("jobs").display()
                ));
            }
        }
    }

    // Every job's metrics, in plan order.
    let mut metrics: Vec<Vec<Row>> = Vec::with_capacity(found.len());
    for (dir, _) in &found {
        metrics.push(read_metrics(&dir.join("metrics.csv"))?);
    }
    let columns = columns(&plan, &metrics, &mut warnings)?;

    let runs = runs_csv(&plan, &found, &metrics, &columns)?;
    let summary = summary_csv(&plan, &runs)?;
    let series = timeseries_csv(&plan, &found)?;

    let mut files = Vec::new();
    let mut write = |rel: &str, bytes: &[u8]| -> Result<(), CmdError> {
        let path = out.join(rel);
        atomic::write(&path, bytes).map_err(|e| CmdError::io(&path, &e))?;
        files.push(PathBuf::from(rel));
        Ok(())
    };
    let plan_json =
        serde_json::to_string_pretty(&plan).map_err(|e| CmdError::Failed(e.to_string()))? + "\n";
    write("plan.json", plan_json.as_bytes())?;
    write("runs.csv", &runs.bytes)?;
    write("summary.csv", &summary)?;
    match series {
        Some(bytes) => write("timeseries.csv", &bytes)?,
        None => {
            let stale = out.join("timeseries.csv");
            if stale.exists() {
                fs::remove_file(&stale).map_err(|e| CmdError::io(&stale, &e))?;
            }
        }
    }
    Ok(Merged {
        plan,
        files,
        warnings,
    })
}

/// One row of a job's `metrics.csv`: scope, entity, metric, value.
struct Row {
    scope: String,
    entity: String,
    metric: String,
    value: String,
}

fn read_metrics(path: &Path) -> Result<Vec<Row>, CmdError> {
    let csv = read_csv(path)?;
    let col = |name: &str| {
        csv.col(name)
            .ok_or_else(|| CmdError::Input(format!("{}: no column {name:?}", path.display())))
    };
    let (s, e, m, v) = (col("scope")?, col("entity")?, col("metric")?, col("value")?);
    Ok(csv
        .rows
        .into_iter()
        .map(|r| Row {
            scope: r[s].clone(),
            entity: r[e].clone(),
            metric: r[m].clone(),
            value: r[v].clone(),
        })
        .collect())
}

/// The metric columns: as declared, or every run and node metric in order of appearance.
fn columns(
    plan: &Plan,
    jobs: &[Vec<Row>],
    warnings: &mut Vec<String>,
) -> Result<Vec<MetricSpec>, CmdError> {
    if plan.metrics.is_empty() {
        let mut seen = BTreeSet::new();
        let mut cols = Vec::new();
        for rows in jobs {
            for r in rows
                .iter()
                .filter(|r| r.scope == "run" || r.scope == "node")
            {
                if seen.insert((r.entity.clone(), r.metric.clone())) {
                    let column = if r.scope == "run" {
                        r.metric.clone()
                    } else {
                        format!("{}:{}", r.entity, r.metric)
                    };
                    cols.push(MetricSpec::One {
                        column,
                        entity: r.entity.clone(),
                        metric: r.metric.clone(),
                    });
                }
            }
        }
        if cols.len() > 2000 {
            warnings.push(format!(
                "runs.csv has {} metric columns; declare `metrics` in the experiment to keep the ones you need",
                cols.len()
            ));
        }
        return Ok(cols);
    }
    let entities: BTreeSet<&str> = jobs.iter().flatten().map(|r| r.entity.as_str()).collect();
    for spec in &plan.metrics {
        let (entity, metric, glob) = match spec {
            MetricSpec::One { entity, metric, .. } => (entity, metric, false),
            MetricSpec::Aggregate { entity, metric, .. } => (entity, metric, true),
        };
        let matches = |r: &&Row| {
            (if glob {
                glob_match(entity, &r.entity)
            } else {
                r.entity == *entity
            }) && r.metric == *metric
        };
        if jobs.iter().flatten().any(|r| matches(&r)) {
            continue;
        }
        let entity_known = entities.iter().any(|e| {
            if glob {
                glob_match(entity, e)
            } else {
                e == entity
            }
        });
        if !entity_known {
            let some: Vec<&str> = entities.iter().copied().take(20).collect();
            return Err(CmdError::Input(format!(
                "{}: metrics: {:?}: no job has an entity {}{entity:?}; entities include: {}",
                plan.experiment_file,
                spec.column(),
                if glob { "matching " } else { "" },
                some.join(", ")
            )));
        }
        let names: BTreeSet<&str> = jobs
            .iter()
            .flatten()
            .filter(|r| {
                if glob {
                    glob_match(entity, &r.entity)
                } else {
                    r.entity == *entity
                }
            })
            .map(|r| r.metric.as_str())
            .collect();
        warnings.push(format!(
            "metrics: {:?}: no job recorded {metric:?} for {entity:?} (the column is empty); its metrics are: {}",
            spec.column(),
            names.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(plan.metrics.clone())
}

/// `runs.csv`, kept as a table too for the summary.
struct Runs {
    bytes: Vec<u8>,
    /// Metric column names.
    metric_cols: Vec<String>,
    /// Per job: the metric cells.
    cells: Vec<Vec<String>>,
}

fn runs_csv(
    plan: &Plan,
    found: &[(PathBuf, JobRecord)],
    metrics: &[Vec<Row>],
    cols: &[MetricSpec],
) -> Result<Runs, CmdError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = vec!["job", "job_id", "run_id"];
    header.extend(plan.params.iter().map(String::as_str));
    header.extend(["seed", "ikesim_version"]);
    header.extend(cols.iter().map(MetricSpec::column));
    let fail = |e: csv::Error| CmdError::Failed(format!("writing runs.csv: {e}"));
    w.write_record(&header).map_err(fail)?;
    let mut cells = Vec::with_capacity(found.len());
    for ((job, (_, rec)), rows) in plan.jobs.iter().zip(found).zip(metrics) {
        let by_key: BTreeMap<(&str, &str), &str> = rows
            .iter()
            .map(|r| ((r.entity.as_str(), r.metric.as_str()), r.value.as_str()))
            .collect();
        let values: Vec<String> = cols.iter().map(|c| cell(c, rows, &by_key)).collect();
        let mut record = vec![job.index.to_string(), job.id.clone(), job.run_id.clone()];
        record.extend(job.values.iter().cloned());
        record.push(job.seed.to_string());
        record.push(rec.ikesim_version.clone());
        record.extend(values.iter().cloned());
        w.write_record(&record).map_err(fail)?;
        cells.push(values);
    }
    let bytes = w
        .into_inner()
        .map_err(|e| CmdError::Failed(format!("writing runs.csv: {e}")))?;
    Ok(Runs {
        bytes,
        metric_cols: cols.iter().map(|c| c.column().to_owned()).collect(),
        cells,
    })
}

fn cell(spec: &MetricSpec, rows: &[Row], by_key: &BTreeMap<(&str, &str), &str>) -> String {
    match spec {
        MetricSpec::One { entity, metric, .. } => by_key
            .get(&(entity.as_str(), metric.as_str()))
            .map_or_else(String::new, |v| (*v).to_owned()),
        MetricSpec::Aggregate {
            op, entity, metric, ..
        } => {
            let values: Vec<&str> = rows
                .iter()
                .filter(|r| r.metric == *metric && glob_match(entity, &r.entity))
                .map(|r| r.value.as_str())
                .collect();
            aggregate(*op, &values)
        }
    }
}

/// Combines cells: integers exactly, anything else as floats; non-numbers are ignored.
pub fn aggregate(op: AggOp, values: &[&str]) -> String {
    if op == AggOp::Count {
        return values.len().to_string();
    }
    let ints: Option<Vec<i128>> = values.iter().map(|v| v.parse::<i128>().ok()).collect();
    if let Some(ints) = ints.filter(|v| !v.is_empty() && op != AggOp::Mean) {
        return match op {
            AggOp::Sum => ints.iter().sum::<i128>().to_string(),
            AggOp::Min => ints
                .iter()
                .min()
                .map(ToString::to_string)
                .unwrap_or_default(),
            AggOp::Max => ints
                .iter()
                .max()
                .map(ToString::to_string)
                .unwrap_or_default(),
            AggOp::Mean | AggOp::Count => unreachable!("handled above"),
        };
    }
    let nums: Vec<f64> = values.iter().filter_map(|v| stats::number(v)).collect();
    if nums.is_empty() {
        return String::new();
    }
    let v = match op {
        AggOp::Sum => nums.iter().sum(),
        AggOp::Mean => nums.iter().sum::<f64>() / nums.len() as f64,
        AggOp::Min => nums.iter().copied().fold(f64::INFINITY, f64::min),
        AggOp::Max => nums.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        AggOp::Count => unreachable!("handled above"),
    };
    stats::fmt(v)
}

fn summary_csv(plan: &Plan, runs: &Runs) -> Result<Vec<u8>, CmdError> {
    let fail = |e: csv::Error| CmdError::Failed(format!("writing summary.csv: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = plan.params.iter().map(String::as_str).collect();
    header.extend(["metric", "n", "mean", "sd", "ci95", "min", "median", "max"]);
    w.write_record(&header).map_err(fail)?;
    // Numeric columns: every present cell is a finite number. The fingerprint is a hash.
    let numeric: Vec<usize> = (0..runs.metric_cols.len())
        .filter(|&c| runs.metric_cols[c] != "fingerprint")
        .filter(|&c| {
            runs.cells
                .iter()
                .all(|r| r[c].is_empty() || stats::number(&r[c]).is_some())
        })
        .collect();
    // Points in order of first appearance.
    let mut points: Vec<(&Vec<String>, Vec<usize>)> = Vec::new();
    for (i, job) in plan.jobs.iter().enumerate() {
        match points.iter_mut().find(|(v, _)| **v == job.values) {
            Some((_, members)) => members.push(i),
            None => points.push((&job.values, vec![i])),
        }
    }
    let opt = |v: Option<f64>| v.map(stats::fmt).unwrap_or_default();
    for (values, members) in &points {
        for &c in &numeric {
            let xs: Vec<f64> = members
                .iter()
                .filter_map(|&j| stats::number(&runs.cells[j][c]))
                .collect();
            let mut record: Vec<String> = values.to_vec();
            record.push(runs.metric_cols[c].clone());
            match stats::summarize(&xs) {
                Some(s) => record.extend([
                    s.n.to_string(),
                    stats::fmt(s.mean),
                    opt(s.sd),
                    opt(s.ci95),
                    stats::fmt(s.min),
                    stats::fmt(s.median),
                    stats::fmt(s.max),
                ]),
                None => record.extend([
                    "0".to_owned(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]),
            }
            w.write_record(&record).map_err(fail)?;
        }
    }
    w.into_inner()
        .map_err(|e| CmdError::Failed(format!("writing summary.csv: {e}")))
}

fn timeseries_csv(
    plan: &Plan,
    found: &[(PathBuf, JobRecord)],
) -> Result<Option<Vec<u8>>, CmdError> {
    let keep = |entity: &str, metric: &str| match &plan.timeseries {
        None => true,
        Some(list) => list
            .iter()
            .any(|p| split_metric(p).is_some_and(|(e, m)| m == metric && glob_match(&e, entity))),
    };
    let fail = |e: csv::Error| CmdError::Failed(format!("writing timeseries.csv: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut any = false;
    for (job, (dir, _)) in plan.jobs.iter().zip(found) {
        let path = dir.join("timeseries.csv");
        if !path.exists() {
            continue;
        }
        let csv = read_csv(&path)?;
        let col = |name: &str| {
            csv.col(name)
                .ok_or_else(|| CmdError::Input(format!("{}: no column {name:?}", path.display())))
        };
        let (e, m, t, v) = (
            col("entity")?,
            col("metric")?,
            col("time_ns")?,
            col("value")?,
        );
        for r in csv.rows.iter().filter(|r| keep(&r[e], &r[m])) {
            if !any {
                let mut header: Vec<&str> = vec!["job", "job_id", "run_id"];
                header.extend(plan.params.iter().map(String::as_str));
                header.extend(["seed", "entity", "metric", "time_ns", "value"]);
                w.write_record(&header).map_err(fail)?;
                any = true;
            }
            let mut record = vec![job.index.to_string(), job.id.clone(), job.run_id.clone()];
            record.extend(job.values.iter().cloned());
            record.extend([
                job.seed.to_string(),
                r[e].clone(),
                r[m].clone(),
                r[t].clone(),
                r[v].clone(),
            ]);
            w.write_record(&record).map_err(fail)?;
        }
    }
    if !any {
        return Ok(None);
    }
    w.into_inner()
        .map(Some)
        .map_err(|e| CmdError::Failed(format!("writing timeseries.csv: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("client-*", "client-17"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(glob_match("sender-?", "sender-3"));
        assert!(!glob_match("sender-?", "sender-13"));
        assert!(!glob_match("client-*", "server"));
    }

    #[test]
    fn metric_specs() {
        let one = MetricSpec::parse(
            0,
            &Value::String("bottleneck:left>right:dropped_queue".into()),
        )
        .unwrap();
        assert_eq!(
            one,
            MetricSpec::One {
                column: "bottleneck:left>right:dropped_queue".into(),
                entity: "bottleneck:left>right".into(),
                metric: "dropped_queue".into()
            }
        );
        let run = MetricSpec::parse(0, &Value::String("events".into())).unwrap();
        assert!(matches!(run, MetricSpec::One { ref entity, .. } if entity == "-"));
        let t: toml::Table =
            toml::from_str("name = 'done'\nsum = 'client-*:rr_completed'").unwrap();
        assert!(matches!(
            MetricSpec::parse(0, &Value::Table(t)).unwrap(),
            MetricSpec::Aggregate { op: AggOp::Sum, .. }
        ));
        assert!(
            MetricSpec::parse(1, &Value::String("client-*:x".into()))
                .unwrap_err()
                .contains("sum")
        );
        let t: toml::Table = toml::from_str("name = 'x'\navg = 'a:b'").unwrap();
        assert!(
            MetricSpec::parse(2, &Value::Table(t))
                .unwrap_err()
                .contains("allowed")
        );
    }

    #[test]
    fn aggregates_are_exact_for_integers() {
        assert_eq!(aggregate(AggOp::Sum, &["1", "2", "3"]), "6");
        assert_eq!(aggregate(AggOp::Mean, &["1", "2"]), "1.5");
        assert_eq!(aggregate(AggOp::Max, &["1", "2.5"]), "2.5");
        assert_eq!(aggregate(AggOp::Count, &[]), "0");
        assert_eq!(aggregate(AggOp::Sum, &[]), "");
    }
}
