//! `ikesim sweep`: job-list expansion, interrupted and resumed sweeps, failed jobs, bad
//! experiment files, and the progress bar.

#![allow(clippy::unwrap_used, reason = "test helpers panic on broken set-up")]

mod common;

use common::{TINY, TempDir, ikesim, tempdir};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use experiments::experiment;

/// 2 queue sizes x 2 zipped loads x 2 seeds = 8 jobs.
const EXP: &str = r#"
description = "test sweep"
scenario = "tiny.toml"
seeds = 2
metrics = ["sink:delay_ns.p99", "bottleneck:left>sink:dropped_queue", { name = "sent", sum = "*:packets_sent" }]

[set]
duration = "DURATION"

[axes]
"links.bottleneck.queue_packets" = [5, 20]

[zip.load]
"nodes.src.rate" = ["4Mbps", "8Mbps"]
"nodes.src.size" = [500, 1000]
"#;

/// A folder with `tiny.toml` and `exp.toml` (the experiment `body`); returns the folder
/// (removed when dropped) and the experiment path.
fn setup(tag: &str, body: &str) -> (TempDir, String) {
    let dir = tempdir(&format!("sweep-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let exp = dir.join("exp.toml");
    std::fs::write(&exp, body).unwrap();
    let path = exp.to_str().unwrap().to_owned();
    (dir, path)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn finished_jobs(out: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(out.join("jobs"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn expansion_is_deterministic_and_ignores_the_order_of_keys() {
    let a = r#"
scenario = "tiny.toml"
seeds = 2
seed_base = 10

[axes]
"links.bottleneck.queue_packets" = [5, 20, 50]
"links.bottleneck.delay" = { from = 5, to = 15, step = 5, unit = "ms" }

[zip.load]
"nodes.src.rate" = ["4Mbps", "8Mbps"]
"nodes.src.size" = [500, 1000]

[[skip]]
"links.bottleneck.queue_packets" = { gt = 20 }
"nodes.src.rate" = "8Mbps"

[[skip]]
"links.bottleneck.delay" = ["15ms"]
"links.bottleneck.queue_packets" = 5
"#;
    // The same experiment with every table and key in another order, and nested keys.
    let b = r#"
seed_base = 10
scenario = "tiny.toml"

[[skip]]
"links.bottleneck.queue_packets" = 5
"links.bottleneck.delay" = ["15ms"]

[[skip]]
"nodes.src.rate" = "8Mbps"
"links.bottleneck.queue_packets" = { gt = 20 }

[zip.load]
"nodes.src.size" = [500, 1000]
"nodes.src.rate" = ["4Mbps", "8Mbps"]

[axes.links.bottleneck]
delay = { unit = "ms", step = 5, to = 15, from = 5 }
queue_packets = [5, 20, 50]
"#;
    let b = format!("seeds = 2\n{b}");
    let (dir, pa) = setup("order-a", a);
    std::fs::write(dir.join("b.toml"), &b).unwrap();
    let ea = experiment::load(Path::new(&pa)).unwrap();
    let eb = experiment::load(&dir.join("b.toml")).unwrap();
    let (ja, jb) = (ea.jobs(), eb.jobs());
    assert_eq!(ja, jb);

    // 3 delays x 3 queues x 2 loads = 18 points; skipped: queue 50 with 8Mbps (3 delays)
    // and queue 5 with 15ms (2 loads) -> 13 points, x 2 seeds.
    assert_eq!(ja.len(), 26);
    assert_eq!(ea.seeds, [10, 11]);
    for (i, j) in ja.iter().enumerate() {
        assert_eq!(j.index, i);
        let get = |k: &str| {
            let v = &j.params.iter().find(|(key, _)| key == k).unwrap().1;
            experiment::display_value(v)
        };
        // Zipped keys move in lockstep.
        assert_eq!(
            (get("nodes.src.rate") == "4Mbps"),
            (get("nodes.src.size") == "500"),
            "{j:?}"
        );
        assert!(
            !(get("links.bottleneck.queue_packets") == "50" && get("nodes.src.rate") == "8Mbps")
        );
        assert!(
            !(get("links.bottleneck.queue_packets") == "5"
                && get("links.bottleneck.delay") == "15ms")
        );
    }
    let mut ids: Vec<&str> = ja.iter().map(|j| j.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), ja.len(), "job ids are unique");
    // Sorted keys: delay is the outermost axis, seeds the innermost loop.
    let first: Vec<String> = ja[..4]
        .iter()
        .map(|j| format!("{}/{}", experiment::display_value(&j.params[0].1), j.seed))
        .collect();
    assert_eq!(first, ["5ms/10", "5ms/11", "5ms/10", "5ms/11"]);
    assert_eq!(ja[0].params[0].0, "links.bottleneck.delay");

    // The validated plans, and the --list output, agree too.
    let (pa_plan, pb_plan) = (
        experiment::plan(&ea).unwrap(),
        experiment::plan(&eb).unwrap(),
    );
    assert_eq!(pa_plan.jobs, pb_plan.jobs);
    let la = ikesim(&["sweep", &pa, "--list"]);
    let lb = ikesim(&["sweep", dir.join("b.toml").to_str().unwrap(), "--list"]);
    assert!(la.status.success(), "{}", text(&la.stderr));
    assert_eq!(
        text(&la.stdout).replace("exp.toml", ""),
        text(&lb.stdout).replace("b.toml", "")
    );
    assert!(text(&la.stdout).contains("reproduce: ikesim run"));
}

#[test]
fn an_interrupted_sweep_resumes_only_the_missing_jobs_and_ends_identical() {
    let body = EXP.replace("DURATION", "20s");
    let (dir, exp) = setup("resume", &body);
    let whole = dir.join("whole");
    let o = ikesim(&[
        "sweep",
        &exp,
        "--jobs",
        "2",
        "--out",
        whole.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));

    // Kill a one-thread sweep as soon as its first job is in place.
    let cut = dir.join("cut");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ikesim"))
        .args(["sweep", &exp, "--jobs", "1", "--out", cut.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut waited = Duration::ZERO;
    while finished_jobs(&cut).is_empty() {
        assert!(waited < Duration::from_secs(120), "no job finished in time");
        std::thread::sleep(Duration::from_millis(5));
        waited += Duration::from_millis(5);
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the sweep finished before it could be killed"
    );
    let before = finished_jobs(&cut);
    assert!(!before.is_empty() && before.len() < 8, "{before:?}");
    // A job folder that exists is complete.
    for id in &before {
        for f in ["metrics.csv", "job.json", "run.toml"] {
            assert!(cut.join("jobs").join(id).join(f).exists(), "{id}/{f}");
        }
    }
    let stamp = |id: &str| {
        std::fs::metadata(cut.join("jobs").join(id).join("job.json"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let stamps: Vec<_> = before.iter().map(|id| stamp(id)).collect();

    // Without --resume the existing output is not touched.
    let o = ikesim(&["sweep", &exp, "--out", cut.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--resume"), "{}", text(&o.stderr));

    let o = ikesim(&[
        "sweep",
        &exp,
        "--jobs",
        "2",
        "--out",
        cut.to_str().unwrap(),
        "--resume",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let said = text(&o.stdout);
    let expect = format!(
        "ran {}, {} already done, 0 failed",
        8 - before.len(),
        before.len()
    );
    assert!(said.contains(&expect), "{said}");
    for (id, t) in before.iter().zip(stamps) {
        assert_eq!(stamp(id), t, "job {id} was rerun");
    }
    assert_eq!(finished_jobs(&cut), finished_jobs(&whole));
    for f in ["runs.csv", "summary.csv", "plan.json"] {
        assert_eq!(
            std::fs::read(cut.join(f)).unwrap(),
            std::fs::read(whole.join(f)).unwrap(),
            "{f}"
        );
    }
    // Temporaries of the killed job are gone.
    let leftovers: Vec<_> = std::fs::read_dir(cut.join("jobs"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Resuming a complete sweep runs nothing.
    let o = ikesim(&["sweep", &exp, "--out", cut.to_str().unwrap(), "--resume"]);
    assert!(
        text(&o.stdout).contains("ran 0, 8 already done"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn failed_jobs_are_named_with_their_reproduce_command() {
    let body = r#"
scenario = "tiny.toml"
[axes]
"limits.max_events" = [50, 100000000]
"#;
    let (dir, exp) = setup("failed", body);
    let out = dir.join("out");
    let o = ikesim(&["sweep", &exp, "--out", out.to_str().unwrap()]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("1 of 2 jobs failed"), "{err}");
    assert!(err.contains("job 0 ("), "{err}");
    assert!(err.contains("event budget"), "{err}");
    assert!(
        err.contains("reproduce: ikesim run")
            && err.contains("--seed 1 --set limits.max_events=50"),
        "{err}"
    );
    // The good job is kept; --resume reruns only the failed one.
    assert_eq!(finished_jobs(&out).len(), 1);
    assert!(!out.join("runs.csv").exists());
    let o = ikesim(&["sweep", &exp, "--out", out.to_str().unwrap(), "--resume"]);
    assert!(
        text(&o.stdout).contains("ran 0, 1 already done, 1 failed"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn one_job_and_shards_are_addressable() {
    let (dir, exp) = setup("select", &EXP.replace("DURATION", "1s"));
    let out = dir.join("out");
    let o = ikesim(&["sweep", &exp, "--job", "5", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(finished_jobs(&out).len(), 1);
    let job: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            out.join("jobs")
                .join(&finished_jobs(&out)[0])
                .join("job.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(job["index"], 5);
    // The reproduce command gives the same metrics.
    let cmd = job["reproduce"].as_str().unwrap();
    let mut args: Vec<String> = cmd.split(' ').skip(1).map(str::to_owned).collect();
    let rerun = dir.join("rerun");
    args.extend(["--out".to_owned(), rerun.to_str().unwrap().to_owned()]);
    let o = ikesim(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{cmd}: {}", text(&o.stderr));
    let id = finished_jobs(&out)[0].clone();
    assert_eq!(
        std::fs::read(rerun.join("metrics.csv")).unwrap(),
        std::fs::read(out.join("jobs").join(&id).join("metrics.csv")).unwrap()
    );
    // By id too; shards split the rest.
    let out2 = dir.join("out2");
    let o = ikesim(&["sweep", &exp, "--job", &id, "--out", out2.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(finished_jobs(&out2), [id]);
    let shard = dir.join("shard");
    let o = ikesim(&[
        "sweep",
        &exp,
        "--shard",
        "1/3",
        "--out",
        shard.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("selected 3, ran 3"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn bad_experiment_files_name_file_key_and_allowed_values_and_write_nothing() {
    let good = EXP.replace("DURATION", "1s");
    let cases: Vec<(&str, String, Vec<&str>, Vec<&str>)> = vec![
        (
            "unknown-key",
            good.replace("seeds = 2", "seedz = 2"),
            vec![],
            vec!["exp.toml", "seedz", "expected one of"],
        ),
        (
            "bad-axis-value",
            good.replace("[5, 20]", "[5, \"many\"]"),
            vec![],
            vec![
                "exp.toml",
                "axes.\"links.bottleneck.queue_packets\"",
                "\"many\"",
                "tiny.toml",
            ],
        ),
        (
            "bad-axis-key",
            good.replace(
                "\"links.bottleneck.queue_packets\"",
                "\"links.nowhere.queue_packets\"",
            ),
            vec![],
            vec!["exp.toml", "links.nowhere", "bottleneck"],
        ),
        (
            "zip-lengths",
            good.replace("[500, 1000]", "[500, 1000, 1500]"),
            vec![],
            vec![
                "exp.toml",
                "zip.load",
                "same length",
                "has 2 values",
                "has 3",
            ],
        ),
        (
            "zip-repeated-row",
            good.replace("[\"4Mbps\", \"8Mbps\"]", "[\"4Mbps\", \"4Mbps\"]")
                .replace("[500, 1000]", "[500, 500]"),
            vec![],
            vec!["exp.toml", "zip.load", "position 2 repeat"],
        ),
        (
            "axis-repeated-value",
            good.replace("[5, 20]", "[5, 5]"),
            vec![],
            vec!["exp.toml", "queue_packets", "listed twice"],
        ),
        (
            "skip-unknown",
            format!("{good}\n[[skip]]\n\"nodes.src.on\" = \"1s\"\n"),
            vec![],
            vec![
                "skip[0]",
                "not a swept key",
                "links.bottleneck.queue_packets",
            ],
        ),
        (
            "skip-no-match",
            format!("{good}\n[[skip]]\n\"links.bottleneck.queue_packets\" = 7\n"),
            vec![],
            vec!["skip[0]", "7 is not a value", "5, 20"],
        ),
        (
            "skip-compare-strings",
            format!("{good}\n[[skip]]\n\"nodes.src.rate\" = {{ gt = 5 }}\n"),
            vec![],
            vec!["skip[0]", "compare numbers", "4Mbps"],
        ),
        (
            "seeds-zero",
            good.replace("seeds = 2", "seeds = 0"),
            vec![],
            vec!["seeds", "count from 1"],
        ),
        (
            "seeds-string",
            good.replace("seeds = 2", "seeds = \"two\""),
            vec![],
            vec!["seeds", "list of seeds"],
        ),
        (
            "no-scenario",
            good.replace("tiny.toml", "gone.toml"),
            vec![],
            vec!["scenario", "gone.toml", "not a file"],
        ),
        (
            "bad-range",
            good.replace("[5, 20]", "{ from = 5, to = 20, step = 0 }"),
            vec![],
            vec!["axes.\"links.bottleneck.queue_packets\".step", "positive"],
        ),
        (
            "range-key",
            good.replace("[5, 20]", "{ from = 5, upto = 20, step = 5 }"),
            vec![],
            vec!["unknown range key", "upto", "from, to, step"],
        ),
        (
            "misplaced-top-level",
            format!("{good}plots = []\n"),
            vec![],
            vec!["zip.load", "plots", "top-level", "above the first [table]"],
        ),
        (
            "bad-plot-kind",
            format!("{good}\n[[plots]]\nname = 'p'\nkind = 'bar'\ny = 'sent'\n"),
            vec![],
            vec!["plots[0]", "bar", "line", "cdf", "series"],
        ),
        (
            "bad-plot-x",
            format!("{good}\n[[plots]]\nname = 'p'\nkind = 'line'\nx = 'rate'\ny = 'sent'\n"),
            vec![],
            vec!["plots[0]", "\"rate\" is not a parameter", "nodes.src.rate"],
        ),
        (
            "bad-plot-y",
            format!("{good}\n[[plots]]\nname = 'p'\nkind = 'line'\nx = 'seed'\ny = 'recv'\n"),
            vec![],
            vec![
                "plots[0]",
                "\"recv\" is not one of the metrics",
                "sink:delay_ns.p99",
            ],
        ),
        (
            "metric-glob",
            good.replace("\"sink:delay_ns.p99\"", "\"s*:delay_ns.p99\""),
            vec![],
            vec!["metrics[0]", "aggregate it", "sum"],
        ),
        (
            "set-swept-key",
            good.replace(
                "duration = \"1s\"",
                "duration = \"1s\"\n\"links.bottleneck.queue_packets\" = 3",
            ),
            vec![],
            vec!["both fixed in [set] and swept"],
        ),
        (
            "bad-shard",
            good.clone(),
            vec!["--shard", "2/2"],
            vec!["0 <= I < N", "SLURM_ARRAY_TASK_ID"],
        ),
        (
            "bad-jobs",
            good.clone(),
            vec!["--jobs", "0"],
            vec!["--jobs", "from 1"],
        ),
        (
            "bad-job",
            good.clone(),
            vec!["--job", "99"],
            vec!["--job 99", "no such job", "0 to 7"],
        ),
    ];
    for (tag, body, extra, needles) in cases {
        let (dir, exp) = setup(&format!("bad-{tag}"), &body);
        let out = dir.join("out");
        let mut args = vec!["sweep", exp.as_str(), "--out", out.to_str().unwrap()];
        args.extend(extra);
        let o = ikesim(&args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{tag}: {err}");
        for n in needles {
            assert!(err.contains(n), "{tag}: {n:?} missing from: {err}");
        }
        assert!(!err.contains("panicked"), "{tag}: {err}");
        assert!(!out.exists(), "{tag}: output written for a bad experiment");
    }
}

#[test]
fn the_example_experiment_expands_and_is_listed() {
    let o = ikesim(&["sweep", "udp-queue.toml", "--list"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout)
            .lines()
            .filter(|l| l.contains("\tseed="))
            .count(),
        30
    );
    let o = ikesim(&["list", "--scenarios", "scenarios", "--experiments", "."]);
    let out = text(&o.stdout);
    assert!(o.status.success());
    assert!(
        out.contains("udp-bottleneck") && out.contains("CBR + on/off UDP"),
        "{out}"
    );
    assert!(
        out.contains("udp-queue") && out.contains("[10 points x 3 seeds = 30 jobs]"),
        "{out}"
    );
}

/// The progress bar is drawn on a terminal (a pseudo-terminal from `script`) and not into a
/// pipe, as in CI logs.
#[test]
fn progress_bar_on_a_terminal_only() {
    let (dir, exp) = setup("progress", &EXP.replace("DURATION", "1s"));
    let piped = dir.join("piped");
    let o = ikesim(&["sweep", &exp, "--out", piped.to_str().unwrap()]);
    assert!(o.status.success());
    let err = text(&o.stderr);
    assert!(
        !err.contains("ETA") && !err.contains('\r') && !err.contains('\u{1b}'),
        "{err:?}"
    );

    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("`script` (util-linux) is not installed; skipping the terminal half");
        return;
    }
    let tty = dir.join("tty");
    let cmd = format!(
        "{} sweep {} --out {}",
        env!("CARGO_BIN_EXE_ikesim"),
        exp,
        tty.to_str().unwrap()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let screen = text(&o.stdout);
    assert!(o.status.success(), "{screen}");
    assert!(
        screen.contains("8/8 jobs") && screen.contains("ETA"),
        "{screen:?}"
    );
}

#[test]
fn a_zipped_key_may_repeat_a_value() {
    // The rows (4Mbps, 500), (4Mbps, 1000), (8Mbps, 1000) are distinct.
    let body = EXP
        .replace("DURATION", "1s")
        .replace(
            "[\"4Mbps\", \"8Mbps\"]",
            "[\"4Mbps\", \"4Mbps\", \"8Mbps\"]",
        )
        .replace("[500, 1000]", "[500, 1000, 1000]");
    // `_dir`, not `_`: the folder must outlive the command that reads `exp`.
    let (_dir, exp) = setup("zip-repeat", &body);
    let o = ikesim(&["sweep", exp.as_str(), "--list"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // 2 queue sizes x 3 zipped rows x 2 seeds.
    let listed = text(&o.stdout);
    assert!(
        listed.contains("12 jobs") || listed.lines().filter(|l| l.contains("--seed")).count() == 12,
        "{listed}"
    );
}
