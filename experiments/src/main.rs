//! `ikesim`: run scenarios of the deterministic IKEv2/ESP-over-TCP network simulator, sweep
//! experiments, merge and plot their results, and check the regression suite.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use experiments::error::CmdError;
use experiments::plot::{PlotKind, PlotSpec};
use experiments::sweep::Select;
use experiments::{build, check, experiment, list, merge, output, plot, run, scenario, sweep};
use sim::Direction;

/// mimalloc instead of glibc malloc: allocation was 10-12% of the IKE-heavy profiles
/// (BENCHMARKS.md). Results do not depend on the allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Prints to stdout, ignoring a closed pipe (`ikesim run ... | head` must not panic).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// ikesim: a deterministic discrete-event network simulator around a real IKEv2/ESP stack
/// with TCP encapsulation (RFC 9329).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario and write its metrics (and captures).
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Root seed (decimal or 0x-hex); default: the scenario's `seed`.
        #[arg(long, value_parser = parse_seed)]
        seed: Option<u64>,
        /// Override a scenario value, e.g. `--set links.bottleneck.delay=20ms` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Output folder; default `out/<scenario name>`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write a pcap file per link into `<out>/pcap/`.
        #[arg(long)]
        pcap: bool,
        /// Write the keys of every IKE and ESP SA into `<out>/wireshark/`, a Wireshark
        /// configuration directory: `WIRESHARK_CONFIG_DIR=<out>/wireshark tshark -r ...`
        /// decrypts the captures. Nothing with `crypto = "stand-in"`.
        #[arg(long)]
        keys: bool,
    },
    /// Run an experiment: every parameter point x seed, in parallel, then merge and plot.
    Sweep {
        /// The experiment file (TOML), e.g. experiments/udp-queue.toml.
        experiment: PathBuf,
        /// Jobs run at once (threads); default: the number of CPUs.
        #[arg(long, value_parser = parse_jobs)]
        jobs: Option<usize>,
        /// Run only shard I of N (jobs whose index is I modulo N; I from 0), e.g.
        /// `--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`.
        #[arg(long, value_name = "I/N", value_parser = parse_shard, conflicts_with = "job")]
        shard: Option<Select>,
        /// Run only this job (its index, or its id).
        #[arg(long, value_name = "N|ID")]
        job: Option<String>,
        /// Output folder; default `out/<experiment name>`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only the selected jobs that have no output yet in the output folder.
        #[arg(long)]
        resume: bool,
        /// Print the job list (index, id, parameters, seed, reproduce command) and stop.
        #[arg(long)]
        list: bool,
    },
    /// Combine the job outputs of sweep folders (or shards) into runs.csv and summary.csv.
    Merge {
        /// Sweep output folders (each with plan.json and jobs/), e.g. one per shard.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the tables (and plots) go; default: the first folder.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Do not draw the experiment's plots.
        #[arg(long)]
        no_plots: bool,
    },
    /// Draw plots (PNG and SVG) from a merged sweep folder or a run folder.
    ///
    /// Without --kind, draws the plots the experiment declares. With --kind, draws one plot
    /// described by the options.
    Plot {
        /// A merged sweep folder (runs.csv, plan.json) or a run folder (metrics.csv).
        dir: PathBuf,
        /// Where `plots/` goes; default: DIR.
        #[arg(long)]
        out: Option<PathBuf>,
        /// line (a metric against a parameter), cdf or series (over time).
        #[arg(long)]
        kind: Option<KindArg>,
        /// The parameter on the x axis (line plots).
        #[arg(long)]
        x: Option<String>,
        /// The metric: a runs.csv column, `entity-glob:metric` (cdf of a run) or
        /// `entity:metric` (series).
        #[arg(long)]
        y: Option<String>,
        /// A parameter giving one line per value.
        #[arg(long)]
        group: Option<String>,
        /// Keep only rows with this parameter value (repeatable): `--filter key=value`.
        #[arg(long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
        /// File name (without extension); default from the kind and metric.
        #[arg(long)]
        name: Option<String>,
        /// Title.
        #[arg(long)]
        title: Option<String>,
        /// x axis label.
        #[arg(long)]
        x_label: Option<String>,
        /// y axis label.
        #[arg(long)]
        y_label: Option<String>,
        /// Factor for x values (e.g. 1e-9: ns to s).
        #[arg(long, default_value_t = 1.0)]
        x_scale: f64,
        /// Factor for y values (e.g. 1e-6: ns to ms).
        #[arg(long, default_value_t = 1.0)]
        y_scale: f64,
    },
    /// Run every scenario with its seed and compare with the committed baselines.
    Check {
        /// Rewrite the baselines (after a deliberate behaviour change; review the diff).
        #[arg(long)]
        bless: bool,
        /// Scenario folder: every *.toml in it is in the suite.
        #[arg(long, default_value = "experiments/scenarios")]
        scenarios: PathBuf,
        /// Baseline folder.
        #[arg(long, default_value = "results/baselines")]
        baselines: PathBuf,
        /// Scenarios run at once; default: the number of CPUs.
        #[arg(long, value_parser = parse_jobs)]
        jobs: Option<usize>,
        /// Only these scenarios (file names without .toml).
        names: Vec<String>,
    },
    /// List the scenarios and experiments with their descriptions.
    List {
        /// Scenario folder.
        #[arg(long, default_value = "experiments/scenarios")]
        scenarios: PathBuf,
        /// Experiment folder.
        #[arg(long, default_value = "experiments")]
        experiments: PathBuf,
    },
}

/// `--kind` of `ikesim plot`.
#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Line,
    Cdf,
    Series,
}

fn parse_jobs(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|&n| (1..=1024).contains(&n))
        .ok_or_else(|| format!("expected a number of parallel jobs from 1 to 1024, got {s:?}"))
}

fn parse_shard(s: &str) -> Result<Select, String> {
    Select::parse_shard(s)
}

fn parse_seed(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| {
        format!(
            "expected a seed: an integer from 0 to {} (or 0x-hex), got {s:?}",
            u64::MAX
        )
    })
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run {
            scenario,
            seed,
            sets,
            out,
            pcap,
            keys,
        } => run_cmd(&scenario, seed, &sets, out, pcap, keys),
        Command::Sweep {
            experiment,
            jobs,
            shard,
            job,
            out,
            resume,
            list,
        } => {
            let select = match (shard, job) {
                (Some(s), _) => s,
                (None, Some(j)) => Select::Job(j),
                (None, None) => Select::All,
            };
            finish(sweep_cmd(&experiment, jobs, select, out, resume, list))
        }
        Command::Merge {
            dirs,
            out,
            no_plots,
        } => finish(merge_cmd(&dirs, out, no_plots)),
        Command::Plot {
            dir,
            out,
            kind,
            x,
            y,
            group,
            filters,
            name,
            title,
            x_label,
            y_label,
            x_scale,
            y_scale,
        } => {
            let out = out.unwrap_or_else(|| dir.clone());
            let spec = kind.map(|kind| {
                let kind = match kind {
                    KindArg::Line => PlotKind::Line,
                    KindArg::Cdf => PlotKind::Cdf,
                    KindArg::Series => PlotKind::Series,
                };
                (
                    kind, x, y, group, filters, name, title, x_label, y_label, x_scale, y_scale,
                )
            });
            finish(plot_cmd(&dir, &out, spec))
        }
        Command::Check {
            bless,
            scenarios,
            baselines,
            jobs,
            names,
        } => finish(check_cmd(
            check::Options {
                scenarios,
                baselines,
                bless,
                only: names,
            },
            jobs,
        )),
        Command::List {
            scenarios,
            experiments,
        } => {
            list_cmd(&scenarios, &experiments);
            ExitCode::SUCCESS
        }
    }
}

/// Prints an error and turns it into the exit code (2 bad input, 1 failure).
fn finish(r: Result<(), CmdError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn pool(jobs: Option<usize>) -> Result<rayon::ThreadPool, CmdError> {
    let n = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| CmdError::Failed(format!("cannot start {n} worker threads: {e}")))
}

fn sweep_cmd(
    file: &Path,
    jobs: Option<usize>,
    select: Select,
    out: Option<PathBuf>,
    resume: bool,
    list: bool,
) -> Result<(), CmdError> {
    let exp = experiment::load(file)?;
    let out = out.unwrap_or_else(|| PathBuf::from("out").join(&exp.name));
    pool(jobs)?.install(|| {
        let plan = experiment::plan(&exp)?;
        let selected = select.pick(&plan)?;
        if list {
            for j in selected {
                let params: Vec<String> = plan
                    .params
                    .iter()
                    .zip(&j.values)
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                outln!("{}\t{}\tseed={}\t{}", j.index, j.id, j.seed, params.join(" "));
                outln!("\treproduce: {}", plan.reproduce(j));
            }
            return Ok(());
        }
        let points = exp.points().len();
        let opts = sweep::Options {
            out: out.clone(),
            select,
            resume,
            progress: true,
        };
        let outcome = sweep::sweep(&plan, &opts)?;
        outln!(
            "sweep {}: {} jobs ({points} points x {} seeds); selected {}, ran {}, {} already done, {} failed; output in {}",
            plan.experiment,
            plan.jobs.len(),
            plan.seeds.len(),
            outcome.selected,
            outcome.ran,
            outcome.already_done,
            outcome.failed.len(),
            out.display()
        );
        if !outcome.failed.is_empty() {
            let mut msg = format!("{} of {} jobs failed:", outcome.failed.len(), outcome.selected);
            for f in &outcome.failed {
                msg.push_str(&format!(
                    "\n  job {} ({}): {}\n    reproduce: {}",
                    f.job.index,
                    f.job.id,
                    f.error,
                    plan.reproduce(&f.job)
                ));
            }
            return Err(CmdError::Failed(msg));
        }
        if outcome.complete {
            merge_and_plot(std::slice::from_ref(&out), &out, true)
        } else {
            outln!(
                "the sweep is not complete in {} yet; when every shard is done: ikesim merge {} [OTHER SHARD DIRS] --out DIR",
                out.display(),
                out.display()
            );
            Ok(())
        }
    })
}

fn merge_and_plot(dirs: &[PathBuf], out: &Path, plots: bool) -> Result<(), CmdError> {
    let merged = merge::merge(dirs, out)?;
    for w in &merged.warnings {
        eprintln!("warning: {w}");
    }
    let files: Vec<String> = merged
        .files
        .iter()
        .map(|f| out.join(f).display().to_string())
        .collect();
    outln!(
        "merged {} jobs: {}",
        merged.plan.jobs.len(),
        files.join(", ")
    );
    if plots && !merged.plan.plots.is_empty() {
        let drawn = plot::draw_declared(out, out)?;
        let names: Vec<String> = drawn.iter().map(|p| p.display().to_string()).collect();
        outln!("plots: {}", names.join(", "));
    }
    Ok(())
}

fn merge_cmd(dirs: &[PathBuf], out: Option<PathBuf>, no_plots: bool) -> Result<(), CmdError> {
    let out = out.unwrap_or_else(|| dirs[0].clone());
    merge_and_plot(dirs, &out, !no_plots)
}

type PlotArgs = (
    PlotKind,
    Option<String>,
    Option<String>,
    Option<String>,
    Vec<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    f64,
    f64,
);

fn plot_cmd(dir: &Path, out: &Path, spec: Option<PlotArgs>) -> Result<(), CmdError> {
    let Some((kind, x, y, group, filters, name, title, x_label, y_label, x_scale, y_scale)) = spec
    else {
        if !dir.join("plan.json").exists() {
            return Err(CmdError::Input(format!(
                "{}: no plan.json, so no declared plots; describe one with --kind line|cdf|series --y METRIC ...",
                dir.display()
            )));
        }
        let drawn = plot::draw_declared(dir, out)?;
        if drawn.is_empty() {
            return Err(CmdError::Input(format!(
                "{}: the experiment declares no plots; describe one with --kind line|cdf|series --y METRIC ...",
                dir.display()
            )));
        }
        let names: Vec<String> = drawn.iter().map(|p| p.display().to_string()).collect();
        outln!("plots: {}", names.join(", "));
        return Ok(());
    };
    let y = y.ok_or_else(|| CmdError::Input("--kind needs --y METRIC".into()))?;
    let mut filter = std::collections::BTreeMap::new();
    for f in filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| CmdError::Input(format!("--filter {f}: expected KEY=VALUE")))?;
        filter.insert(k.to_owned(), v.to_owned());
    }
    let kind_name = match kind {
        PlotKind::Line => "line",
        PlotKind::Cdf => "cdf",
        PlotKind::Series => "series",
    };
    let name = name.unwrap_or_else(|| {
        let safe: String = y
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{kind_name}-{safe}")
    });
    let spec = PlotSpec {
        name,
        kind,
        x,
        y,
        group,
        filter,
        title,
        x_label,
        y_label,
        x_scale,
        y_scale,
    };
    if dir.join("plan.json").exists() && dir.join("runs.csv").exists() {
        let plan = merge::read_plan(dir)?;
        spec.check_sweep(&plan.params, &plan.metrics)
            .map_err(|e| CmdError::Input(format!("plot {}: {e}", spec.name)))?;
    }
    let drawn = plot::draw(dir, &spec, out)?;
    let names: Vec<String> = drawn.iter().map(|p| p.display().to_string()).collect();
    outln!("plots: {}", names.join(", "));
    Ok(())
}

fn check_cmd(opts: check::Options, jobs: Option<usize>) -> Result<(), CmdError> {
    let results = pool(jobs)?.install(|| check::check(&opts))?;
    let width = results.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut failed = 0;
    for c in &results {
        let run = c
            .run
            .as_ref()
            .map(|(fp, events)| format!("fingerprint {fp}, {events} events"))
            .unwrap_or_default();
        let (tag, detail): (&str, Vec<String>) = match &c.verdict {
            check::Verdict::Same => ("ok", Vec::new()),
            check::Verdict::Drift(d) => ("DRIFT", d.clone()),
            check::Verdict::Missing => (
                "NEW",
                vec![format!(
                    "no baseline {}: run `ikesim check --bless` to create it, then commit it",
                    c.baseline.display()
                )],
            ),
            check::Verdict::Stale => (
                "STALE",
                vec![format!(
                    "{} has no scenario any more: `ikesim check --bless` removes it",
                    c.baseline.display()
                )],
            ),
            check::Verdict::Failed(e) => ("FAILED", vec![e.clone()]),
            check::Verdict::Blessed(d) if d.is_empty() => {
                ("blessed", vec![format!("wrote {}", c.baseline.display())])
            }
            check::Verdict::Blessed(d) => {
                let mut v = vec![format!("rewrote {}", c.baseline.display())];
                v.extend(d.iter().cloned());
                ("blessed", v)
            }
            check::Verdict::Removed => {
                ("removed", vec![format!("removed {}", c.baseline.display())])
            }
        };
        if c.verdict.fails() {
            failed += 1;
        }
        outln!("{tag:>8}  {:width$}  {run}", c.name);
        for line in detail {
            outln!("{:>8}    {line}", "");
        }
    }
    if failed > 0 {
        return Err(CmdError::Failed(format!(
            "{failed} of {} scenarios differ from {} (if the change is intended: `ikesim check --bless`, and commit the baseline diff)",
            results.len(),
            opts.baselines.display()
        )));
    }
    outln!(
        "check: {} scenarios {}",
        results.len(),
        if opts.bless {
            "blessed"
        } else {
            "match their baselines"
        }
    );
    Ok(())
}

fn list_cmd(scenarios: &Path, experiments: &Path) {
    let show = |title: &str, dir: &Path, entries: Vec<list::Entry>| {
        outln!("{title} ({}):", dir.display());
        if entries.is_empty() {
            outln!("  (none)");
        }
        let width = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
        for e in entries {
            outln!("  {:width$}  {}", e.name, e.about);
        }
    };
    show("scenarios", scenarios, list::scenarios(scenarios));
    show("experiments", experiments, list::experiments(experiments));
}

fn run_cmd(
    path: &Path,
    seed: Option<u64>,
    sets: &[String],
    out: Option<PathBuf>,
    pcap: bool,
    keys: bool,
) -> ExitCode {
    let loaded = match scenario::load(path, sets) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let finished = match run::run(&loaded, seed, pcap, keys) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "reproduce: cargo run --release -p ikesim -- run {} --seed {}",
                path.display(),
                seed.unwrap_or(loaded.scenario.seed)
            );
            return ExitCode::from(1);
        }
    };
    let out = out.unwrap_or_else(|| PathBuf::from("out").join(&loaded.name));
    let captures = if pcap {
        build::captured_links(&loaded, &finished.sim)
    } else {
        Vec::new()
    };
    let files = match output::write_run(
        &out,
        &finished.info,
        &loaded,
        &finished.report,
        &finished.sim,
        &captures,
        keys,
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: writing {}: {e}", out.display());
            return ExitCode::from(1);
        }
    };
    print_summary(&finished, &out, &files);
    if loaded.scenario.crypto == scenario::CryptoKey::StandIn {
        outln!("{}", output::STAND_IN_NOTE);
    }
    ExitCode::SUCCESS
}

fn print_summary(f: &run::Finished, out: &Path, files: &[PathBuf]) {
    let r = &f.report;
    outln!(
        "scenario {}  seed {}  run {}",
        f.info.scenario,
        f.info.seed,
        f.info.run_id
    );
    outln!("simulated {} in {} events", r.end, r.events);
    // The busiest link directions, so that a 10,000-link run still prints a short summary.
    let mut dirs: Vec<(String, sim::LinkCounters)> = f
        .sim
        .links()
        .flat_map(|link| {
            Direction::BOTH.map(|d| {
                (
                    output::link_entity(&link, d),
                    link.counters[d.index()].clone(),
                )
            })
        })
        .filter(|(_, c)| c.sent_packets + c.dropped_queue + c.dropped_mtu + c.dropped_down > 0)
        .collect();
    dirs.sort_by(|a, b| {
        b.1.sent_packets
            .cmp(&a.1.sent_packets)
            .then_with(|| a.0.cmp(&b.0))
    });
    const SHOWN: usize = 10;
    for (entity, c) in dirs.iter().take(SHOWN) {
        outln!(
            "  link {entity}  sent {}  delivered {}  dropped queue {} loss {} mtu {} down {}  peak queue {}",
            c.sent_packets,
            c.delivered_packets,
            c.dropped_queue,
            c.dropped_loss,
            c.dropped_mtu,
            c.dropped_down + c.dropped_node_down,
            c.peak_queue_packets
        );
    }
    if dirs.len() > SHOWN {
        outln!(
            "  ... and {} more busy link directions (all in metrics.csv)",
            dirs.len() - SHOWN
        );
    }
    outln!("fingerprint {:016x}", r.fingerprint);
    let list: Vec<String> = files
        .iter()
        .map(|p| out.join(p).display().to_string())
        .collect();
    outln!("wrote {}", list.join(", "));
}
