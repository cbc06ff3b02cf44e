//! `ikesim plot`: line plots with confidence bands, CDFs and time series, as PNG and SVG.
//!
//! Plots are drawn with plotters' pure-Rust backends and the DejaVu Sans font embedded in
//! the binary (`experiments/fonts/`), so no system font library is needed and the same
//! input always gives the same bytes. A plot is described by a [`PlotSpec`], either declared
//! in an experiment file (`[[plots]]`, drawn at the end of `ikesim sweep` and by `ikesim
//! merge`) or given on the command line.
//!
//! - `line` (a merged sweep): the mean of `y` over the seeds of each point against parameter
//!   `x`, one line per value of `group`, with the 95% confidence interval as a band.
//! - `cdf`: the distribution of `y` over the runs of a sweep (one curve per `group` value),
//!   or over the entities matching `y = "glob:metric"` of a single run.
//! - `series`: `y = "entity:metric"` (entity may be a glob) over simulated time from
//!   `timeseries.csv`, one line per job (sweep) or entity (run).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::error::CmdError;
use crate::experiment::display_value;
use crate::merge::{Csv, MetricSpec, glob_match, read_csv, read_plan, split_metric};
use crate::stats;

/// The font every plot uses (DejaVu Sans; license in `experiments/fonts/LICENSE`).
static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

const SIZE: (u32, u32) = (960, 600);
const MAX_LINES: usize = 12;
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// What kind of plot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlotKind {
    /// Mean and 95% CI of a metric against a parameter.
    Line,
    /// Empirical distribution function.
    Cdf,
    /// Values over simulated time.
    Series,
}

/// One plot: what to draw, and how to label it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlotSpec {
    /// File name without extension: `plots/<name>.png` and `.svg`.
    pub name: String,
    /// What kind.
    pub kind: PlotKind,
    /// The parameter on the x axis (`line`).
    pub x: Option<String>,
    /// The metric: a `runs.csv` column (sweep `line`/`cdf`), `glob:metric` (run `cdf`), or
    /// `entity:metric` of a time series (`series`).
    pub y: String,
    /// A parameter (or `seed`) giving one line per value.
    pub group: Option<String>,
    /// Only rows whose parameters have these values.
    pub filter: BTreeMap<String, String>,
    /// Title (default from the metric and parameter names).
    pub title: Option<String>,
    /// x axis label.
    pub x_label: Option<String>,
    /// y axis label.
    pub y_label: Option<String>,
    /// Factor applied to numeric x values (e.g. 1e-9 for ns to s on a series plot).
    pub x_scale: f64,
    /// Factor applied to y values (e.g. 1e-6 for ns to ms).
    pub y_scale: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlot {
    name: String,
    kind: PlotKind,
    x: Option<String>,
    y: String,
    group: Option<String>,
    #[serde(default)]
    filter: toml::Table,
    title: Option<String>,
    x_label: Option<String>,
    y_label: Option<String>,
    x_scale: Option<f64>,
    y_scale: Option<f64>,
}

impl PlotSpec {
    /// Reads a `[[plots]]` entry.
    pub fn from_toml(t: &toml::Table) -> Result<Self, String> {
        let raw: RawPlot = toml::Value::Table(t.clone())
            .try_into()
            .map_err(|e: toml::de::Error| e.message().to_owned())?;
        let spec = Self {
            name: raw.name,
            kind: raw.kind,
            x: raw.x,
            y: raw.y,
            group: raw.group,
            filter: raw
                .filter
                .iter()
                .map(|(k, v)| (k.clone(), display_value(v)))
                .collect(),
            title: raw.title,
            x_label: raw.x_label,
            y_label: raw.y_label,
            x_scale: raw.x_scale.unwrap_or(1.0),
            y_scale: raw.y_scale.unwrap_or(1.0),
        };
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> Result<(), String> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(format!(
                "name: {:?} must be non-empty and use only letters, digits, '_', '-' and '.' (it names the files)",
                self.name
            ));
        }
        match (self.kind, &self.x) {
            (PlotKind::Line, None) => {
                return Err("kind = \"line\" needs x = \"<parameter>\"".into());
            }
            (PlotKind::Cdf | PlotKind::Series, Some(_)) => {
                return Err(
                    "x is for line plots only (a cdf's x is the metric, a series' x is time)"
                        .into(),
                );
            }
            _ => {}
        }
        for (k, v) in [("x_scale", self.x_scale), ("y_scale", self.y_scale)] {
            if !v.is_finite() || v == 0.0 {
                return Err(format!("{k}: must be a finite non-zero number, got {v}"));
            }
        }
        Ok(())
    }

    /// Checks the parameter and metric names against a sweep's.
    pub fn check_sweep(&self, params: &[String], metrics: &[MetricSpec]) -> Result<(), String> {
        let is_param = |k: &str| k == "seed" || params.iter().any(|p| p == k);
        let allowed = || {
            let mut all: Vec<&str> = params.iter().map(String::as_str).collect();
            all.push("seed");
            all.join(", ")
        };
        for (what, key) in [("x", &self.x), ("group", &self.group)] {
            if let Some(k) = key.as_deref().filter(|k| !is_param(k)) {
                return Err(format!(
                    "{what}: {k:?} is not a parameter; parameters: {}",
                    allowed()
                ));
            }
        }
        if let Some(k) = self.filter.keys().find(|k| !is_param(k)) {
            return Err(format!(
                "filter: {k:?} is not a parameter; parameters: {}",
                allowed()
            ));
        }
        if self.kind != PlotKind::Series
            && !metrics.is_empty()
            && !metrics.iter().any(|m| m.column() == self.y)
        {
            let cols: Vec<&str> = metrics.iter().map(MetricSpec::column).collect();
            return Err(format!(
                "y: {:?} is not one of the metrics: {}",
                self.y,
                cols.join(", ")
            ));
        }
        Ok(())
    }
}

/// Draws every plot declared in `<dir>/plan.json` into `<out>/plots/`.
pub fn draw_declared(dir: &Path, out: &Path) -> Result<Vec<PathBuf>, CmdError> {
    let plan = read_plan(dir)?;
    let mut files = Vec::new();
    for spec in &plan.plots {
        files.extend(draw(dir, spec, out)?);
    }
    Ok(files)
}

/// Draws `spec` from `dir` (a merged sweep with `runs.csv`, or a run with `metrics.csv`)
/// into `<out>/plots/<name>.png` and `.svg`; returns the two paths.
pub fn draw(dir: &Path, spec: &PlotSpec, out: &Path) -> Result<Vec<PathBuf>, CmdError> {
    spec.check()
        .map_err(|e| CmdError::Input(format!("plot {}: {e}", spec.name)))?;
    let sweep = dir.join("runs.csv").exists();
    let run = dir.join("metrics.csv").exists();
    let input = |m: String| CmdError::Input(format!("plot {}: {m}", spec.name));
    let chart = match (spec.kind, sweep, run) {
        (_, false, false) => {
            return Err(CmdError::Input(format!(
                "{}: neither runs.csv (a merged sweep) nor metrics.csv (a run) is here",
                dir.display()
            )));
        }
        (PlotKind::Line, true, _) => line_chart(dir, spec).map_err(input)?,
        (PlotKind::Cdf, true, _) => sweep_cdf(dir, spec).map_err(input)?,
        (PlotKind::Series, true, _) => sweep_series(dir, spec).map_err(input)?,
        (PlotKind::Line, false, true) => {
            return Err(input("a line plot needs a merged sweep (runs.csv)".into()));
        }
        (PlotKind::Cdf, false, true) => run_cdf(dir, spec).map_err(input)?,
        (PlotKind::Series, false, true) => run_series(dir, spec).map_err(input)?,
    };
    render(&chart, &out.join("plots"), &spec.name)
}

/// A chart ready to draw.
struct Chart {
    title: String,
    x_label: String,
    y_label: String,
    /// Category names when x is not numeric (x is then the index).
    categories: Option<Vec<String>>,
    lines: Vec<Line>,
    /// Start the y axis at zero when every value is positive.
    y_from_zero: bool,
    /// Draw a marker at every point.
    markers: bool,
}

struct Line {
    label: Option<String>,
    points: Vec<(f64, f64)>,
    /// (x, low, high) of a confidence band.
    band: Vec<(f64, f64, f64)>,
}

/// The numeric value of a cell with an optional unit suffix: `10`, `0.5`, `8Mbps`, `20ms`.
fn numeric(s: &str) -> Option<(f64, &str)> {
    let split = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || ((c == '-' || c == '+') && i == 0)))
        .map_or(s.len(), |(i, _)| i);
    let (num, unit) = s.split_at(split);
    stats::number(num).map(|v| (v, unit))
}

/// Places values on an axis: numerically when all share one unit, else as categories in
/// order of appearance. Returns the positions (by value) and the categories.
fn axis(values: &[&str], scale: f64) -> (BTreeMap<String, f64>, Option<Vec<String>>, String) {
    let mut distinct: Vec<&str> = Vec::new();
    for v in values {
        if !distinct.contains(v) {
            distinct.push(v);
        }
    }
    let parsed: Option<Vec<(f64, &str)>> = distinct.iter().map(|v| numeric(v)).collect();
    if let Some(p) = parsed.filter(|p| p.iter().all(|(_, u)| *u == p[0].1)) {
        let unit = p.first().map_or("", |(_, u)| *u).to_owned();
        let pos = distinct
            .iter()
            .zip(&p)
            .map(|(v, (x, _))| ((*v).to_owned(), x * scale))
            .collect();
        return (pos, None, unit);
    }
    let pos = distinct
        .iter()
        .enumerate()
        .map(|(i, v)| ((*v).to_owned(), i as f64))
        .collect();
    (
        pos,
        Some(distinct.iter().map(|v| (*v).to_owned()).collect()),
        String::new(),
    )
}

/// Distinct values in a stable order: numeric ascending when all are numbers with one
/// unit, otherwise in order of appearance.
fn ordered(values: Vec<&str>) -> Vec<String> {
    let mut distinct: Vec<&str> = Vec::new();
    for v in values {
        if !distinct.contains(&v) {
            distinct.push(v);
        }
    }
    let parsed: Option<Vec<(f64, &str)>> = distinct.iter().map(|v| numeric(v)).collect();
    if let Some(p) = parsed.filter(|p| p.iter().all(|(_, u)| *u == p[0].1)) {
        let mut pairs: Vec<(f64, &str)> = p
            .iter()
            .map(|(x, _)| *x)
            .zip(distinct.iter().copied())
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        return pairs.into_iter().map(|(_, v)| v.to_owned()).collect();
    }
    distinct.into_iter().map(str::to_owned).collect()
}

/// The rows of a merged table that pass the filter, after checking that every parameter
/// not on an axis, in the group or in the filter has one value.
fn filtered<'c>(
    csv: &'c Csv,
    spec: &PlotSpec,
    params: &[String],
    used: &[&str],
) -> Result<Vec<&'c Vec<String>>, String> {
    let mut conds = Vec::new();
    for (k, v) in &spec.filter {
        let c = csv
            .col(k)
            .ok_or_else(|| format!("filter: no column {k:?}"))?;
        conds.push((c, v));
    }
    let rows: Vec<&Vec<String>> = csv
        .rows
        .iter()
        .filter(|r| conds.iter().all(|(c, v)| r[*c] == **v))
        .collect();
    if rows.is_empty() {
        return Err("no rows match the filter".into());
    }
    for p in params
        .iter()
        .filter(|p| !used.contains(&p.as_str()) && !spec.filter.contains_key(*p))
    {
        let Some(c) = csv.col(p) else { continue };
        let values = ordered(rows.iter().map(|r| r[c].as_str()).collect());
        // A parameter zipped with the x parameter or the group (one value per value of
        // that column) is fine.
        let follows = used.iter().filter_map(|u| csv.col(u)).any(|u| {
            let mut of = BTreeMap::new();
            rows.iter()
                .all(|r| *of.entry(r[u].as_str()).or_insert(r[c].as_str()) == r[c])
        });
        if values.len() > 1 && !follows {
            return Err(format!(
                "parameter {p:?} has several values ({}); add it to filter, make it the group or zip it with x or the group",
                values.join(", ")
            ));
        }
    }
    Ok(rows)
}

fn column(csv: &Csv, name: &str, what: &str) -> Result<usize, String> {
    csv.col(name).ok_or_else(|| {
        let known: Vec<&str> = csv.header.iter().map(String::as_str).collect();
        format!("{what}: no column {name:?}; columns: {}", known.join(", "))
    })
}

fn line_chart(dir: &Path, spec: &PlotSpec) -> Result<Chart, String> {
    let plan = read_plan(dir).map_err(|e| e.to_string())?;
    let csv = read_csv(&dir.join("runs.csv")).map_err(|e| e.to_string())?;
    let x_name = spec.x.as_deref().unwrap_or_default();
    let xc = column(&csv, x_name, "x")?;
    let yc = column(&csv, &spec.y, "y")?;
    let gc = spec
        .group
        .as_deref()
        .map(|g| column(&csv, g, "group"))
        .transpose()?;
    let mut used = vec![x_name];
    used.extend(spec.group.as_deref());
    let rows = filtered(&csv, spec, &plan.params, &used)?;
    let (xpos, categories, unit) = axis(
        &rows.iter().map(|r| r[xc].as_str()).collect::<Vec<_>>(),
        spec.x_scale,
    );
    let groups = match gc {
        Some(g) => ordered(rows.iter().map(|r| r[g].as_str()).collect()),
        None => vec![String::new()],
    };
    let mut lines = Vec::new();
    for g in &groups {
        let mut by_x: Vec<(f64, Vec<f64>)> = Vec::new();
        for r in rows.iter().filter(|r| gc.is_none_or(|c| r[c] == *g)) {
            let x = xpos[&r[xc]];
            let Some(y) = stats::number(&r[yc]) else {
                continue;
            };
            match by_x.iter_mut().find(|(px, _)| *px == x) {
                Some((_, ys)) => ys.push(y * spec.y_scale),
                None => by_x.push((x, vec![y * spec.y_scale])),
            }
        }
        by_x.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut line = Line {
            label: gc.map(|_| format!("{} = {g}", spec.group.as_deref().unwrap_or_default())),
            points: Vec::new(),
            band: Vec::new(),
        };
        for (x, ys) in by_x {
            let s = stats::summarize(&ys).expect("at least one value");
            line.points.push((x, s.mean));
            let h = s.ci95.unwrap_or(0.0);
            line.band.push((x, s.mean - h, s.mean + h));
        }
        lines.push(line);
    }
    if lines.iter().all(|l| l.points.is_empty()) {
        return Err(format!("column {:?} has no numeric values", spec.y));
    }
    let seeds = plan.seeds.len();
    Ok(Chart {
        title: spec
            .title
            .clone()
            .unwrap_or_else(|| format!("{} vs {x_name}", spec.y)),
        x_label: spec.x_label.clone().unwrap_or_else(|| {
            if unit.is_empty() {
                x_name.to_owned()
            } else {
                format!("{x_name} ({unit})")
            }
        }),
        y_label: spec
            .y_label
            .clone()
            .unwrap_or_else(|| format!("{} (mean, 95% CI over {seeds} seeds)", spec.y)),
        categories,
        lines,
        y_from_zero: true,
        markers: true,
    })
}

fn cdf_line(label: Option<String>, mut values: Vec<f64>) -> Line {
    values.sort_by(f64::total_cmp);
    let n = values.len() as f64;
    let mut points = Vec::with_capacity(values.len() * 2);
    for (i, v) in values.iter().enumerate() {
        points.push((*v, i as f64 / n));
        points.push((*v, (i + 1) as f64 / n));
    }
    Line {
        label,
        points,
        band: Vec::new(),
    }
}

fn sweep_cdf(dir: &Path, spec: &PlotSpec) -> Result<Chart, String> {
    let plan = read_plan(dir).map_err(|e| e.to_string())?;
    let csv = read_csv(&dir.join("runs.csv")).map_err(|e| e.to_string())?;
    let yc = column(&csv, &spec.y, "y")?;
    let gc = spec
        .group
        .as_deref()
        .map(|g| column(&csv, g, "group"))
        .transpose()?;
    // Every run is a sample: parameters other than the group may vary.
    let mut used: Vec<&str> = plan.params.iter().map(String::as_str).collect();
    used.extend(spec.group.as_deref());
    let rows = filtered(&csv, spec, &plan.params, &used)?;
    let groups = match gc {
        Some(g) => ordered(rows.iter().map(|r| r[g].as_str()).collect()),
        None => vec![String::new()],
    };
    if groups.len() > MAX_LINES {
        return Err(format!(
            "{} groups, more than {MAX_LINES} lines; filter first",
            groups.len()
        ));
    }
    let lines: Vec<Line> = groups
        .iter()
        .map(|g| {
            let ys = rows
                .iter()
                .filter(|r| gc.is_none_or(|c| r[c] == *g))
                .filter_map(|r| stats::number(&r[yc]))
                .map(|y| y * spec.y_scale)
                .collect();
            cdf_line(
                gc.map(|_| format!("{} = {g}", spec.group.as_deref().unwrap_or_default())),
                ys,
            )
        })
        .collect();
    cdf_chart(spec, lines, &format!("over {} runs", rows.len()))
}

fn cdf_chart(spec: &PlotSpec, lines: Vec<Line>, over: &str) -> Result<Chart, String> {
    if lines.iter().all(|l| l.points.is_empty()) {
        return Err(format!("no numeric values of {:?}", spec.y));
    }
    Ok(Chart {
        title: spec
            .title
            .clone()
            .unwrap_or_else(|| format!("CDF of {} {over}", spec.y)),
        x_label: spec.x_label.clone().unwrap_or_else(|| spec.y.clone()),
        y_label: spec
            .y_label
            .clone()
            .unwrap_or_else(|| "fraction".to_owned()),
        categories: None,
        lines,
        y_from_zero: true,
        markers: false,
    })
}

fn run_cdf(dir: &Path, spec: &PlotSpec) -> Result<Chart, String> {
    if spec.group.is_some() || !spec.filter.is_empty() {
        return Err("group and filter need a merged sweep".into());
    }
    let csv = read_csv(&dir.join("metrics.csv")).map_err(|e| e.to_string())?;
    let (ec, mc, vc) = (
        column(&csv, "entity", "metrics.csv")?,
        column(&csv, "metric", "metrics.csv")?,
        column(&csv, "value", "metrics.csv")?,
    );
    let (entity, metric) = split_metric(&spec.y)
        .ok_or_else(|| format!("y: {:?} is not \"entity-glob:metric\"", spec.y))?;
    let ys: Vec<f64> = csv
        .rows
        .iter()
        .filter(|r| r[mc] == metric && glob_match(&entity, &r[ec]))
        .filter_map(|r| stats::number(&r[vc]))
        .map(|y| y * spec.y_scale)
        .collect();
    let n = ys.len();
    cdf_chart(
        spec,
        vec![cdf_line(None, ys)],
        &format!("over {n} entities"),
    )
}

fn series_chart(spec: &PlotSpec, lines: Vec<Line>) -> Result<Chart, String> {
    if lines.is_empty() {
        return Err(format!("no time series matches {:?}", spec.y));
    }
    if lines.len() > MAX_LINES {
        return Err(format!(
            "{} series match, more than {MAX_LINES} lines; narrow y or the filter",
            lines.len()
        ));
    }
    Ok(Chart {
        title: spec.title.clone().unwrap_or_else(|| spec.y.clone()),
        x_label: spec.x_label.clone().unwrap_or_else(|| {
            if spec.x_scale == 1.0 {
                "simulated time (ns)".to_owned()
            } else {
                "simulated time".to_owned()
            }
        }),
        y_label: spec.y_label.clone().unwrap_or_else(|| spec.y.clone()),
        categories: None,
        lines,
        y_from_zero: true,
        markers: false,
    })
}

/// Groups time-series rows into lines by `key`, in order of appearance.
fn series_lines(
    csv: &Csv,
    spec: &PlotSpec,
    rows: &[&Vec<String>],
    key: &dyn Fn(&[String]) -> String,
) -> Result<Vec<Line>, String> {
    let (tc, vc) = (
        column(csv, "time_ns", "timeseries.csv")?,
        column(csv, "value", "timeseries.csv")?,
    );
    let mut lines: Vec<Line> = Vec::new();
    for r in rows {
        let (Some(t), Some(v)) = (stats::number(&r[tc]), stats::number(&r[vc])) else {
            continue;
        };
        let label = key(r);
        let p = (t * spec.x_scale, v * spec.y_scale);
        match lines
            .iter_mut()
            .find(|l| l.label.as_deref() == Some(label.as_str()))
        {
            Some(l) => l.points.push(p),
            None => lines.push(Line {
                label: Some(label),
                points: vec![p],
                band: Vec::new(),
            }),
        }
    }
    Ok(lines)
}

fn matching<'c>(
    csv: &'c Csv,
    spec: &PlotSpec,
    rows: Vec<&'c Vec<String>>,
) -> Result<Vec<&'c Vec<String>>, String> {
    let (entity, metric) =
        split_metric(&spec.y).ok_or_else(|| format!("y: {:?} is not \"entity:metric\"", spec.y))?;
    let (ec, mc) = (
        column(csv, "entity", "timeseries.csv")?,
        column(csv, "metric", "timeseries.csv")?,
    );
    Ok(rows
        .into_iter()
        .filter(|r| r[mc] == metric && glob_match(&entity, &r[ec]))
        .collect())
}

fn sweep_series(dir: &Path, spec: &PlotSpec) -> Result<Chart, String> {
    let plan = read_plan(dir).map_err(|e| e.to_string())?;
    let path = dir.join("timeseries.csv");
    if !path.exists() {
        return Err(format!(
            "{}: the sweep recorded no time series",
            path.display()
        ));
    }
    let csv = read_csv(&path).map_err(|e| e.to_string())?;
    let used: Vec<&str> = plan.params.iter().map(String::as_str).collect();
    let rows = filtered(&csv, spec, &plan.params, &used)?;
    let rows = matching(&csv, spec, rows)?;
    // Label each line with the parameters that differ between the lines, and the seed.
    let ec = column(&csv, "entity", "timeseries.csv")?;
    let label_cols: Vec<usize> = plan
        .params
        .iter()
        .chain(std::iter::once(&"seed".to_owned()))
        .filter_map(|p| csv.col(p))
        .filter(|&c| ordered(rows.iter().map(|r| r[c].as_str()).collect()).len() > 1)
        .chain(
            std::iter::once(ec)
                .filter(|&c| ordered(rows.iter().map(|r| r[c].as_str()).collect()).len() > 1),
        )
        .collect();
    let key = |r: &[String]| -> String {
        let parts: Vec<String> = label_cols
            .iter()
            .map(|&c| format!("{}={}", csv.header[c], r[c]))
            .collect();
        if parts.is_empty() {
            spec.y.clone()
        } else {
            parts.join(" ")
        }
    };
    series_chart(spec, series_lines(&csv, spec, &rows, &key)?)
}

fn run_series(dir: &Path, spec: &PlotSpec) -> Result<Chart, String> {
    if spec.group.is_some() || !spec.filter.is_empty() {
        return Err("group and filter need a merged sweep".into());
    }
    let path = dir.join("timeseries.csv");
    if !path.exists() {
        return Err(format!(
            "{}: the run recorded no time series",
            path.display()
        ));
    }
    let csv = read_csv(&path).map_err(|e| e.to_string())?;
    let rows = matching(&csv, spec, csv.rows.iter().collect())?;
    let ec = column(&csv, "entity", "timeseries.csv")?;
    series_chart(
        spec,
        series_lines(&csv, spec, &rows, &|r: &[String]| r[ec].clone())?,
    )
}

fn register_font() -> Result<(), CmdError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(CmdError::Failed(
            "the embedded plot font is not a valid TrueType font".into(),
        ))
    }
}

/// Writes `<dir>/<name>.png` and `.svg`, each atomically.
fn render(chart: &Chart, dir: &Path, name: &str) -> Result<Vec<PathBuf>, CmdError> {
    register_font()?;
    let png = dir.join(format!("{name}.png"));
    let svg = dir.join(format!("{name}.svg"));
    atomic::write_with(&png, |tmp| {
        let root = BitMapBackend::new(tmp, SIZE).into_drawing_area();
        draw_chart(&root, chart).map_err(std::io::Error::other)?;
        root.present()
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
    .map_err(|e| CmdError::io(&png, &e))?;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        draw_chart(&root, chart)
            .map_err(|e| CmdError::Failed(format!("{}: {e}", svg.display())))?;
        root.present()
            .map_err(|e| CmdError::Failed(format!("{}: {e}", svg.display())))?;
    }
    atomic::write(&svg, text.as_bytes()).map_err(|e| CmdError::io(&svg, &e))?;
    Ok(vec![png, svg])
}

fn pad(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - d, hi + d);
    }
    let m = (hi - lo) * 0.05;
    (lo - m, hi + m)
}

fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let xs = chart
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0));
    let ys = chart.lines.iter().flat_map(|l| {
        l.points
            .iter()
            .map(|p| p.1)
            .chain(l.band.iter().flat_map(|b| [b.1, b.2]))
    });
    let (xlo, xhi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let (ylo, yhi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    let (xlo, xhi) = match &chart.categories {
        Some(c) => (-0.5, c.len() as f64 - 0.5),
        None => pad(xlo, xhi),
    };
    let ylo = if chart.y_from_zero && ylo >= 0.0 {
        0.0
    } else {
        ylo
    };
    let (ylo, yhi) = pad(ylo, yhi);
    let ylo = if chart.y_from_zero
        && ylo < 0.0
        && yhi > 0.0
        && chart
            .lines
            .iter()
            .all(|l| l.points.iter().all(|p| p.1 >= 0.0))
    {
        0.0
    } else {
        ylo
    };
    let mut cc = ChartBuilder::on(root)
        .caption(&chart.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(xlo..xhi, ylo..yhi)
        .map_err(e)?;
    let categories = chart.categories.clone();
    let x_fmt = move |v: &f64| -> String {
        match &categories {
            Some(c) => {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < c.len() {
                    c[i as usize].clone()
                } else {
                    String::new()
                }
            }
            None => tick(*v),
        }
    };
    let y_fmt = |v: &f64| tick(*v);
    let mut mesh = cc.configure_mesh();
    mesh.x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(210, 210, 210))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt);
    if let Some(c) = &chart.categories {
        mesh.x_labels(c.len());
    }
    mesh.draw().map_err(e)?;
    for (i, line) in chart.lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        if line.band.iter().any(|b| b.2 > b.1) {
            let mut poly: Vec<(f64, f64)> = line.band.iter().map(|b| (b.0, b.2)).collect();
            poly.extend(line.band.iter().rev().map(|b| (b.0, b.1)));
            cc.draw_series(std::iter::once(Polygon::new(
                poly,
                color.mix(0.18).filled(),
            )))
            .map_err(e)?;
        }
        let series = cc
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(e)?;
        if let Some(label) = &line.label {
            series.label(label.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        if chart.markers {
            cc.draw_series(
                line.points
                    .iter()
                    .map(|&p| Circle::new(p, 3, color.filled())),
            )
            .map_err(e)?;
        }
    }
    if chart.lines.iter().any(|l| l.label.is_some()) {
        cc.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

/// An axis tick label: short and exact enough.
fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e6).contains(&a) {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_owned()
    } else {
        format!("{v:.2e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_cells_with_units() {
        assert_eq!(numeric("10"), Some((10.0, "")));
        assert_eq!(numeric("8Mbps"), Some((8.0, "Mbps")));
        assert_eq!(numeric("-1.5ms"), Some((-1.5, "ms")));
        assert_eq!(numeric("fast"), None);
        assert_eq!(ordered(vec!["8Mbps", "4Mbps", "8Mbps"]), ["4Mbps", "8Mbps"]);
        assert_eq!(ordered(vec!["b", "a"]), ["b", "a"]);
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(40_000_000.0), "4.00e7");
    }
}
