//! `ikesim check`: a behaviour change (simulated by editing a scenario copy) fails the check
//! with a readable diff, `--bless` makes it pass, and new or removed scenarios are noticed.

#![allow(clippy::unwrap_used, reason = "test helpers panic on broken set-up")]

use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::{TempDir, tempdir};

/// The shared small scenario with seed 3 (the reseeding test moves it to 4).
fn tiny() -> String {
    common::TINY.replace("seed = 1", "seed = 3")
}

fn check(dir: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "check".to_owned(),
        "--scenarios".to_owned(),
        dir.join("scenarios").to_str().unwrap().to_owned(),
        "--baselines".to_owned(),
        dir.join("baselines").to_str().unwrap().to_owned(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let o: Output = Command::new(env!("CARGO_BIN_EXE_ikesim"))
        .args(&args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// A folder (removed when dropped) with two scenarios in `scenarios/`.
fn setup(tag: &str) -> TempDir {
    let dir = tempdir(&format!("check-{tag}"));
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::write(dir.join("scenarios/tiny.toml"), tiny()).unwrap();
    std::fs::write(
        dir.join("scenarios/steady.toml"),
        tiny()
            .replace("name = \"tiny\"", "name = \"steady\"")
            .replace("on = \"100ms\"\noff = \"100ms\"\n", ""),
    )
    .unwrap();
    dir
}

#[test]
fn a_changed_metric_fails_the_check_until_blessed() {
    let dir = setup("drift");
    // No baselines yet: the check fails and says how to create them.
    let (code, out) = check(&dir, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NEW") && out.contains("--bless"), "{out}");

    let (code, out) = check(&dir, &["--bless"]);
    assert_eq!(code, 0, "{out}");
    assert!(dir.join("baselines/tiny.json").exists() && dir.join("baselines/steady.json").exists());
    let blessed = std::fs::read(dir.join("baselines/tiny.json")).unwrap();
    let (code, out) = check(&dir, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ok") && out.contains("match their baselines"),
        "{out}"
    );

    // A "model change": the bottleneck gets faster, so delays and drops change.
    let changed = tiny().replace("rate = \"5Mbps\"", "rate = \"6Mbps\"");
    std::fs::write(dir.join("scenarios/tiny.toml"), changed).unwrap();
    let (code, out) = check(&dir, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("DRIFT") && out.contains("tiny"), "{out}");
    assert!(out.contains("fingerprint moved:"), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("node sink delay_ns.p99:"))
        .unwrap_or_else(|| panic!("no delay line in {out}"));
    assert!(line.contains(" -> ") && line.contains('%'), "{line}");
    assert!(
        out.lines()
            .any(|l| l.contains("steady") && l.contains("ok")),
        "{out}"
    );
    // The baseline is untouched by a failing check.
    assert_eq!(
        std::fs::read(dir.join("baselines/tiny.json")).unwrap(),
        blessed
    );

    let (code, out) = check(&dir, &["--bless"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("rewrote") && out.contains("fingerprint moved"),
        "{out}"
    );
    let (code, out) = check(&dir, &[]);
    assert_eq!(code, 0, "{out}");

    // The seed in the scenario is what the check uses: another seed is drift too.
    let reseeded = tiny()
        .replace("rate = \"5Mbps\"", "rate = \"6Mbps\"")
        .replace("seed = 3", "seed = 4");
    std::fs::write(dir.join("scenarios/tiny.toml"), reseeded).unwrap();
    let (code, out) = check(&dir, &["tiny"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("seed 3 -> 4"), "{out}");
}

#[test]
fn baselines_are_json_with_the_fingerprint_and_metrics() {
    let dir = setup("format");
    let (code, out) = check(&dir, &["--bless"]);
    assert_eq!(code, 0, "{out}");
    let b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("baselines/tiny.json")).unwrap())
            .unwrap();
    assert_eq!(b["scenario"], "tiny");
    assert_eq!(b["seed"], 3);
    assert_eq!(b["fingerprint"].as_str().unwrap().len(), 16);
    assert_eq!(b["metrics"]["run"]["-"]["fingerprint"], b["fingerprint"]);
    assert!(b["metrics"]["node"]["sink"]["delay_ns.p99"].is_string());
    assert!(b["metrics"]["link"]["bottleneck:left>sink"]["dropped_queue"].is_string());
    // Blessing again changes nothing.
    let before = std::fs::read(dir.join("baselines/tiny.json")).unwrap();
    let (code, _) = check(&dir, &["--bless", "--jobs", "1"]);
    assert_eq!(code, 0);
    assert_eq!(
        std::fs::read(dir.join("baselines/tiny.json")).unwrap(),
        before
    );
}

#[test]
fn removed_scenarios_and_broken_files_are_reported() {
    let dir = setup("stale");
    assert_eq!(check(&dir, &["--bless"]).0, 0);
    std::fs::remove_file(dir.join("scenarios/steady.toml")).unwrap();
    let (code, out) = check(&dir, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("STALE") && out.contains("steady.json"),
        "{out}"
    );
    let (code, out) = check(&dir, &["--bless"]);
    assert_eq!(code, 0, "{out}");
    assert!(!dir.join("baselines/steady.json").exists());

    std::fs::write(dir.join("scenarios/broken.toml"), "duration = 'soon'\n").unwrap();
    let (code, out) = check(&dir, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("broken.toml") && out.contains("duration"),
        "{out}"
    );
    let (code, out) = check(&dir, &["nope"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("no such scenario") && out.contains("tiny"),
        "{out}"
    );
}
