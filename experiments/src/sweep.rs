//! `ikesim sweep`: run the jobs of a plan in parallel, each into its own folder.
//!
//! ```text
//! <out>/plan.json              the job list (experiment::Plan)
//! <out>/jobs/<job-id>/         one finished job: metrics.csv, run.toml, job.json
//!                              (and timeseries.csv when the run recorded series)
//! <out>/jobs/.tmp-<id>-...     a job being written; renamed to jobs/<job-id> when complete
//! ```
//!
//! A job folder that exists is complete: it is written under a temporary name and renamed
//! into place, so a sweep killed at any moment loses only the jobs that were running, and
//! `--resume` runs exactly the missing ones. Jobs run on a rayon pool of `--jobs` threads;
//! one run stays single-threaded. `--shard I/N` takes the jobs whose index is I modulo N,
//! `--job N` one job, so many machines can share a sweep (each into its own `--out`, or
//! one shared folder) and `ikesim merge` combines them.

use std::collections::BTreeMap;
use std::fs;
use std::io::IsTerminal as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::error::CmdError;
use crate::experiment::{Plan, PlanJob};
use crate::merge::read_plan;
use crate::{output, run, scenario};

/// What `<out>/jobs/<id>/job.json` records about a finished job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The experiment's name.
    pub experiment: String,
    /// Dense index in the plan.
    pub index: usize,
    /// Stable job id (the folder name).
    pub id: String,
    /// The parameter values, by key.
    pub params: BTreeMap<String, String>,
    /// The root seed.
    pub seed: u64,
    /// The run id: a hash of the effective scenario and the seed.
    pub run_id: String,
    /// The ikesim version that ran it.
    pub ikesim_version: String,
    /// Events executed.
    pub events: u64,
    /// The event-trace fingerprint.
    pub fingerprint: String,
    /// The command that reruns it alone.
    pub reproduce: String,
}

/// Which jobs of the plan this invocation runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Select {
    /// Every job.
    All,
    /// The jobs whose index is `index` modulo `count` (`--shard index/count`).
    Shard {
        /// This shard, from 0.
        index: usize,
        /// How many shards.
        count: usize,
    },
    /// One job, by index or id (`--job`).
    Job(String),
}

impl Select {
    /// Parses `--shard I/N` (I from 0 to N-1, as Slurm's `--array=0-(N-1)` numbers tasks).
    pub fn parse_shard(s: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "expected --shard I/N with 0 <= I < N, e.g. --shard 0/4 (Slurm: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT with --array=0-3), got {s:?}"
            )
        };
        let (i, n) = s.split_once('/').ok_or_else(err)?;
        let (index, count): (usize, usize) = (
            i.trim().parse().map_err(|_| err())?,
            n.trim().parse().map_err(|_| err())?,
        );
        if count == 0 || index >= count {
            return Err(err());
        }
        Ok(Self::Shard { index, count })
    }

    /// The jobs of `plan` this selection takes.
    pub fn pick<'p>(&self, plan: &'p Plan) -> Result<Vec<&'p PlanJob>, CmdError> {
        Ok(match self {
            Self::All => plan.jobs.iter().collect(),
            Self::Shard { index, count } => plan
                .jobs
                .iter()
                .filter(|j| j.index % count == *index)
                .collect(),
            Self::Job(sel) => {
                let found = match sel.parse::<usize>() {
                    Ok(i) => plan.jobs.get(i),
                    Err(_) => plan.jobs.iter().find(|j| j.id == *sel),
                };
                let job = found.ok_or_else(|| {
                    CmdError::Input(format!(
                        "--job {sel}: no such job; the sweep has jobs 0 to {} (or give a job id from `ikesim sweep {} --list`)",
                        plan.jobs.len().saturating_sub(1),
                        plan.experiment_file
                    ))
                })?;
                vec![job]
            }
        })
    }
}

/// How to run a sweep.
#[derive(Clone, Debug)]
pub struct Options {
    /// The output folder.
    pub out: PathBuf,
    /// Which jobs.
    pub select: Select,
    /// Run only the selected jobs that have no output yet (otherwise existing output is an
    /// error, so nothing is overwritten by mistake).
    pub resume: bool,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
}

/// A job that did not finish.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The job.
    pub job: PlanJob,
    /// Why.
    pub error: String,
}

/// What a sweep did.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Jobs selected by `--shard`/`--job` (all when neither).
    pub selected: usize,
    /// Selected jobs that already had output (with `--resume`).
    pub already_done: usize,
    /// Jobs run now and finished.
    pub ran: usize,
    /// Jobs run now that failed.
    pub failed: Vec<Failure>,
    /// Whether the output folder now holds every job of the plan.
    pub complete: bool,
}

/// Whether stderr is a terminal (the progress bar is drawn only then).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Runs the selected jobs of `plan` into `opts.out` on the current rayon pool.
pub fn sweep(plan: &Plan, opts: &Options) -> Result<Outcome, CmdError> {
    let selected = opts.select.pick(plan)?;
    let out = &opts.out;
    let plan_path = out.join("plan.json");
    if plan_path.exists() {
        let old = read_plan(out)?;
        if !old.same_jobs(plan) {
            return Err(CmdError::Input(format!(
                "{} holds another sweep (its plan.json has a different job list: another experiment, or a changed scenario or parameter); choose another --out or delete it",
                out.display()
            )));
        }
    }
    let mut done = Vec::new();
    let mut todo = Vec::new();
    for job in &selected {
        if finished(out, job) {
            done.push(*job);
        } else {
            todo.push(*job);
        }
    }
    if !done.is_empty() && !opts.resume {
        return Err(CmdError::Input(format!(
            "{}: {} of the {} selected jobs already have output (e.g. job {} in jobs/{}); pass --resume to run only the missing ones, or choose another --out",
            out.display(),
            done.len(),
            selected.len(),
            done[0].index,
            done[0].id
        )));
    }
    let jobs_dir = out.join("jobs");
    fs::create_dir_all(&jobs_dir).map_err(|e| CmdError::io(&jobs_dir, &e))?;
    let plan_json =
        serde_json::to_string_pretty(plan).map_err(|e| CmdError::Failed(e.to_string()))? + "\n";
    atomic::write(&plan_path, plan_json.as_bytes()).map_err(|e| CmdError::io(&plan_path, &e))?;
    remove_stale_temporaries(&jobs_dir, &todo);

    let bar = progress_bar(todo.len(), opts.progress);
    let results: Vec<Option<String>> = todo
        .par_iter()
        .with_max_len(1)
        .map(|job| {
            let r = catch_unwind(AssertUnwindSafe(|| run_job(plan, job, &jobs_dir)))
                .unwrap_or_else(|p| Err(format!("panicked: {}", panic_message(p.as_ref()))));
            if let Err(e) = &r {
                bar.suspend(|| eprintln!("job {} ({}) failed: {e}", job.index, job.id));
            }
            bar.inc(1);
            r.err()
        })
        .collect();
    bar.finish();
    if !bar.is_hidden() {
        // Leave the finished bar on its own line.
        eprintln!();
    }
    let failed: Vec<Failure> = todo
        .iter()
        .zip(results)
        .filter_map(|(job, e)| {
            e.map(|error| Failure {
                job: (*job).clone(),
                error,
            })
        })
        .collect();
    let complete = plan.jobs.iter().all(|j| finished(out, j));
    Ok(Outcome {
        selected: selected.len(),
        already_done: done.len(),
        ran: todo.len() - failed.len(),
        failed,
        complete,
    })
}

/// Whether `job` has a complete output folder in `out` (its `job.json` is written last).
fn finished(out: &Path, job: &PlanJob) -> bool {
    out.join("jobs").join(&job.id).join("job.json").is_file()
}

fn progress_bar(len: usize, wanted: bool) -> ProgressBar {
    if !wanted || !stderr_is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] [{wide_bar}] {pos}/{len} jobs  ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr()).with_style(style)
}

/// Removes what killed runs of the selected jobs left behind (other shards' jobs are not
/// touched: they may be running on another machine).
fn remove_stale_temporaries(jobs_dir: &Path, todo: &[&PlanJob]) {
    let Ok(entries) = fs::read_dir(jobs_dir) else {
        return;
    };
    let prefixes: Vec<String> = todo.iter().map(|j| format!(".tmp-{}-", j.id)).collect();
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

fn run_job(plan: &Plan, job: &PlanJob, jobs_dir: &Path) -> Result<(), String> {
    let loaded =
        scenario::load(Path::new(&plan.scenario_file), &job.sets).map_err(|e| e.to_string())?;
    let finished = run::run(&loaded, Some(job.seed), false, false).map_err(|e| e.to_string())?;
    if finished.info.run_id != job.run_id {
        return Err(format!(
            "the scenario changed since the sweep was planned (run id {} instead of {})",
            finished.info.run_id, job.run_id
        ));
    }
    let target = jobs_dir.join(&job.id);
    let tmp = jobs_dir.join(format!(".tmp-{}-{}", job.id, atomic::unique_suffix()));
    let write = || -> std::io::Result<()> {
        output::write_run(
            &tmp,
            &finished.info,
            &loaded,
            &finished.report,
            &finished.sim,
            &[],
            false,
        )?;
        let record = JobRecord {
            experiment: plan.experiment.clone(),
            index: job.index,
            id: job.id.clone(),
            params: plan
                .params
                .iter()
                .cloned()
                .zip(job.values.iter().cloned())
                .collect(),
            seed: job.seed,
            run_id: job.run_id.clone(),
            ikesim_version: output::VERSION.to_owned(),
            events: finished.report.events,
            fingerprint: format!("{:016x}", finished.report.fingerprint),
            reproduce: plan.reproduce(job),
        };
        let json = serde_json::to_string_pretty(&record).map_err(std::io::Error::other)? + "\n";
        fs::write(tmp.join("job.json"), json)?;
        Ok(())
    };
    let result = write().and_then(|()| fs::rename(&tmp, &target));
    match result {
        Ok(()) => Ok(()),
        // Another process finished the same job first: its output is the same.
        Err(_) if target.join("job.json").exists() => {
            let _ = fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(format!("writing {}: {e}", target.display()))
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}
