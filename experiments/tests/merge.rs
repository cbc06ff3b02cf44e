//! `ikesim merge`: byte-identical tables whatever the `--jobs` count or number of shards,
//! the columns and statistics, and refusing incomplete or mixed sweeps.

#![allow(clippy::unwrap_used, reason = "test helpers panic on broken set-up")]

mod common;

use common::{TINY, TempDir, ikesim, ok, tempdir};

use std::path::PathBuf;

/// 2 x 2 points x 3 seeds = 12 jobs, with a queue time series and a plot.
const EXP: &str = r#"
description = "merge test"
scenario = "tiny.toml"
seeds = 3
metrics = [
  "sink:delay_ns.p99",
  "events",
  "bottleneck:left>sink:dropped_queue",
  { name = "sent", sum = "*:packets_sent" },
  { name = "hosts", count = "*:packets_sent" },
]
timeseries = ["bottleneck:left>sink:queue_packets"]

[set]
queue_series = ["bottleneck"]

[axes]
"links.bottleneck.queue_packets" = [5, 20]
"nodes.src.rate" = ["4Mbps", "8Mbps"]

[[plots]]
name = "p99"
kind = "line"
x = "links.bottleneck.queue_packets"
y = "sink:delay_ns.p99"
group = "nodes.src.rate"
y_scale = 1e-6
"#;

/// A folder (removed when dropped) with `tiny.toml` and `exp.toml` (`exp`); returns it and
/// the experiment path.
fn setup(tag: &str, exp: &str) -> (TempDir, String) {
    let dir = tempdir(&format!("merge-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    std::fs::write(dir.join("exp.toml"), exp).unwrap();
    let path = dir.join("exp.toml").to_str().unwrap().to_owned();
    (dir, path)
}

fn read(p: PathBuf) -> Vec<u8> {
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn jobs_count_and_shards_do_not_change_a_byte() {
    let (dir, exp) = setup("identical", EXP);
    let d = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    ok(&ikesim(&["sweep", &exp, "--jobs", "1", "--out", &d("j1")]));
    ok(&ikesim(&["sweep", &exp, "--jobs", "2", "--out", &d("j2")]));
    ok(&ikesim(&[
        "sweep",
        &exp,
        "--shard",
        "0/2",
        "--jobs",
        "1",
        "--out",
        &d("s0"),
    ]));
    let said = ok(&ikesim(&[
        "sweep",
        &exp,
        "--shard",
        "1/2",
        "--jobs",
        "2",
        "--out",
        &d("s1"),
    ]));
    assert!(said.contains("ikesim merge"), "{said}");
    // The shards in either order, into a third folder.
    ok(&ikesim(&["merge", &d("s1"), &d("s0"), "--out", &d("m10")]));
    ok(&ikesim(&["merge", &d("s0"), &d("s1"), "--out", &d("m01")]));
    for f in [
        "runs.csv",
        "summary.csv",
        "timeseries.csv",
        "plan.json",
        "plots/p99.png",
        "plots/p99.svg",
    ] {
        let reference = read(dir.join("j1").join(f));
        for other in ["j2", "m10", "m01"] {
            assert!(
                reference == read(dir.join(other).join(f)),
                "{f} differs between j1 and {other}"
            );
        }
    }
    // Merging again gives the same bytes.
    ok(&ikesim(&["merge", &d("j2")]));
    assert_eq!(read(dir.join("j1/runs.csv")), read(dir.join("j2/runs.csv")));
}

#[test]
fn runs_and_summary_have_the_promised_columns_and_statistics() {
    let (dir, exp) = setup("columns", EXP);
    let out = dir.join("out");
    ok(&ikesim(&["sweep", &exp, "--out", out.to_str().unwrap()]));
    let runs = String::from_utf8(read(out.join("runs.csv"))).unwrap();
    let mut lines = runs.lines();
    assert_eq!(
        lines.next().unwrap(),
        "job,job_id,run_id,links.bottleneck.queue_packets,nodes.src.rate,seed,ikesim_version,\
         sink:delay_ns.p99,events,bottleneck:left>sink:dropped_queue,sent,hosts"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 12);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], i.to_string());
        assert_eq!(r[5], ((i % 3) + 1).to_string(), "seeds 1..=3 innermost");
        assert_eq!(r[6], env!("CARGO_PKG_VERSION"));
        assert_eq!(r[11], "1", "one entity sends");
        assert!(r[8].parse::<u64>().unwrap() > 0);
    }
    // The point (5, 8Mbps) is jobs 3..6; its summary row for the p99 delay.
    let p99: Vec<f64> = rows[3..6].iter().map(|r| r[7].parse().unwrap()).collect();
    let summary = String::from_utf8(read(out.join("summary.csv"))).unwrap();
    assert!(summary.starts_with(
        "links.bottleneck.queue_packets,nodes.src.rate,metric,n,mean,sd,ci95,min,median,max\n"
    ));
    let row: Vec<&str> = summary
        .lines()
        .find(|l| l.starts_with("5,8Mbps,sink:delay_ns.p99,"))
        .unwrap()
        .split(',')
        .collect();
    let mean = p99.iter().sum::<f64>() / 3.0;
    let sd = (p99.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 2.0).sqrt();
    assert_eq!(row[3], "3");
    assert!((row[4].parse::<f64>().unwrap() - mean).abs() < 1e-6 * mean);
    assert!((row[5].parse::<f64>().unwrap() - sd).abs() <= 1e-6 * sd.max(1.0));
    // 95% CI half-width with t(0.975, 2) = 4.303.
    assert!(
        (row[6].parse::<f64>().unwrap() - 4.302_652_73 * sd / 3f64.sqrt()).abs()
            <= 1e-6 * sd.max(1.0)
    );
    let mut sorted = p99.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(row[7].parse::<f64>().unwrap(), sorted[0]);
    assert_eq!(row[8].parse::<f64>().unwrap(), sorted[1]);
    assert_eq!(row[9].parse::<f64>().unwrap(), sorted[2]);
    // 4 points x 5 metrics.
    assert_eq!(summary.lines().count(), 1 + 4 * 5);
    let series = String::from_utf8(read(out.join("timeseries.csv"))).unwrap();
    assert!(series.starts_with(
        "job,job_id,run_id,links.bottleneck.queue_packets,nodes.src.rate,seed,entity,metric,time_ns,value\n0,"
    ));
    assert!(
        series
            .lines()
            .skip(1)
            .all(|l| l.contains(",bottleneck:left>sink,queue_packets,"))
    );
}

#[test]
fn every_run_and_node_metric_by_default() {
    let body = "scenario = 'tiny.toml'\n[axes]\n\"links.bottleneck.queue_packets\" = [5, 20]\n";
    let (dir, exp) = setup("default", body);
    let out = dir.join("out");
    ok(&ikesim(&["sweep", &exp, "--out", out.to_str().unwrap()]));
    let runs = String::from_utf8(read(out.join("runs.csv"))).unwrap();
    let header = runs.lines().next().unwrap();
    for col in [
        "events",
        "sim_time_ns",
        "fingerprint",
        "src:packets_sent",
        "sink:delay_ns.p99",
    ] {
        assert!(
            header.split(',').any(|c| c == col),
            "{col} missing: {header}"
        );
    }
    assert!(
        !header.contains("dropped_queue"),
        "link metrics only when declared: {header}"
    );
    let summary = String::from_utf8(read(out.join("summary.csv"))).unwrap();
    assert!(!summary.contains(",fingerprint,"), "a hash has no mean");
    assert!(!out.join("timeseries.csv").exists());
}

#[test]
fn incomplete_or_mixed_sweeps_are_refused_and_nothing_is_written() {
    let (dir, exp) = setup("refuse", EXP);
    let d = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    ok(&ikesim(&[
        "sweep",
        &exp,
        "--shard",
        "0/3",
        "--out",
        &d("s0"),
    ]));
    let o = ikesim(&["merge", &d("s0"), "--out", &d("m")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("incomplete sweep: 8 of 12 jobs are missing"),
        "{err}"
    );
    assert!(
        err.contains("job 1 (") && err.contains("ikesim run") && err.contains("--resume"),
        "{err}"
    );
    assert!(!dir.join("m").exists());

    // Another experiment's sweep cannot be merged with this one.
    let other = dir.join("other.toml");
    std::fs::write(&other, EXP.replace("seeds = 3", "seeds = 1")).unwrap();
    ok(&ikesim(&[
        "sweep",
        other.to_str().unwrap(),
        "--shard",
        "1/3",
        "--out",
        &d("o1"),
    ]));
    let o = ikesim(&["merge", &d("s0"), &d("o1"), "--out", &d("m")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("hold different sweeps"), "{err}");
    // Nor can a folder of another sweep be reused for this one.
    let o = ikesim(&["sweep", &exp, "--out", &d("o1"), "--resume"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds another sweep"));
    assert!(!dir.join("m").exists());

    let o = ikesim(&["merge", &d("nothing-here")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("plan.json"));
}
