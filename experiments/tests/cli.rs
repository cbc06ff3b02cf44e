//! `ikesim run` end to end: outputs, determinism, bad input, captures in tshark.

#![allow(clippy::unwrap_used, reason = "test helpers panic on broken set-up")]

mod common;

use common::ikesim;

use std::path::{Path, PathBuf};
use std::process::Command;

const SCENARIO: &str = "scenarios/udp-bottleneck.toml";

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ikesim-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs the example scenario (shortened) into a fresh folder and returns it.
fn run_into(tag: &str, extra: &[&str]) -> PathBuf {
    let out = tempdir(tag);
    let mut args = vec![
        "run",
        SCENARIO,
        "--pcap",
        "--set",
        "duration=12s",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = ikesim(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn read(dir: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap()
}

fn fingerprint(dir: &Path) -> String {
    let csv = String::from_utf8(read(dir, "metrics.csv")).unwrap();
    csv.lines()
        .find(|l| l.contains(",run,-,fingerprint,"))
        .unwrap()
        .rsplit(',')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn same_inputs_give_identical_bytes_and_the_seed_matters() {
    let a = run_into("det-a", &[]);
    let b = run_into("det-b", &[]);
    for rel in [
        "metrics.csv",
        "run.toml",
        "pcap/bottleneck.pcap",
        "pcap/cbr-left.pcap",
    ] {
        assert_eq!(
            read(&a, rel),
            read(&b, rel),
            "{rel} differs between identical runs"
        );
    }
    let c = run_into("det-c", &["--seed", "2"]);
    assert_ne!(fingerprint(&a), fingerprint(&c));
    for d in [a, b, c] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn metrics_show_queueing_and_drops_at_the_bottleneck() {
    let out = run_into("metrics", &[]);
    let csv = String::from_utf8(read(&out, "metrics.csv")).unwrap();
    let value = |entity: &str, metric: &str| -> u64 {
        let needle = format!(",{entity},{metric},");
        let line = csv
            .lines()
            .find(|l| l.contains(&needle))
            .unwrap_or_else(|| panic!("no {needle}"));
        line.rsplit(',').next().unwrap().parse().unwrap()
    };
    assert_eq!(value("bottleneck:left>right", "peak_queue_packets"), 50);
    assert!(value("bottleneck:left>right", "dropped_queue") > 0);
    assert!(value("sink-cbr", "packets_received") > 0);
    assert!(csv.starts_with("run_id,scenario,seed,ikesim_version,scope,entity,metric,value\n"));
    std::fs::remove_dir_all(out).unwrap();
}

/// Writes `body` as a scenario file and runs it; returns (exit code, stderr, out folder).
fn run_bad(tag: &str, body: &str, extra: &[&str]) -> (i32, String, PathBuf) {
    let dir = tempdir(tag);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, body).unwrap();
    let out = dir.join("out");
    let mut args = vec![
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = ikesim(&args);
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        out,
    )
}

const GOOD: &str = "duration = '1s'\n[[nodes]]\nkind = 'hub'\nname = 'h1'\n[[nodes]]\nkind = 'hub'\nname = 'h2'\n[[links]]\na = 'h1'\nb = 'h2'\n";

#[test]
fn bad_scenarios_name_file_key_and_allowed_values_and_write_nothing() {
    let cases: [(&str, String, &[&str], &[&str]); 7] = [
        (
            "unknown-key",
            GOOD.replace("duration", "durationn"),
            &[],
            &["bad.toml", "durationn", "expected"],
        ),
        (
            "bad-duration",
            GOOD.replace("'1s'", "'1 fortnight'"),
            &[],
            &["bad.toml", "duration", "units: ns, us, ms, s, min, h"],
        ),
        (
            "bad-kind",
            GOOD.replace("kind = 'hub'\nname = 'h1'", "kind = 'router9'\nname = 'h1'"),
            &[],
            &["router9", "udp-source", "hub"],
        ),
        (
            "unknown-node",
            GOOD.replace("b = 'h2'", "b = 'h3'"),
            &[],
            &["links[0]", "\"h3\" is not defined", "h1, h2"],
        ),
        (
            "bad-loss",
            format!("{GOOD}loss = 1.5\n"),
            &[],
            &["loss", "between 0 and 1"],
        ),
        (
            "bad-set",
            GOOD.to_owned(),
            &["--set", "links.h1-h2.rate=fast"],
            &["--set", "rate", "Mbps"],
        ),
        (
            "bad-set-path",
            GOOD.to_owned(),
            &["--set", "links.nowhere.rate=1Mbps"],
            &["links.nowhere", "h1-h2"],
        ),
    ];
    for (tag, body, extra, needles) in cases {
        let (code, stderr, out) = run_bad(tag, &body, extra);
        assert_eq!(code, 2, "{tag}: {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{tag}: {n:?} missing from: {stderr}");
        }
        assert!(!out.exists(), "{tag}: output written for a bad scenario");
    }
    let (code, _, _) = run_bad("bad-seed", GOOD, &["--seed", "minus-one"]);
    assert_eq!(code, 2);
    let (code, stderr, out) = run_bad("good", GOOD, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.join("metrics.csv").exists());
}

#[test]
fn runaway_runs_end_with_an_error_naming_the_seed() {
    let body = format!(
        "{GOOD}[limits]\nmax_events = 10\n[[nodes]]\nkind = 'udp-source'\nname = 's'\nsrc = '10.0.0.1:1'\ndst = '10.0.0.2:1'\nrate = '1Mbps'\n[[links]]\na = 's'\nb = 'h1'\n"
    );
    let (code, stderr, _) = run_bad("budget", &body, &["--seed", "77"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("seed 77") && stderr.contains("event budget"),
        "{stderr}"
    );
    assert!(stderr.contains("reproduce:"), "{stderr}");
}

/// Whether tshark is there; CI sets IKESIM_REQUIRE_TSHARK so that a missing tshark fails
/// instead of skipping.
fn have_tshark() -> bool {
    if Command::new("tshark").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("IKESIM_REQUIRE_TSHARK").is_none(),
        "tshark is required but not installed"
    );
    eprintln!("tshark not installed; skipping (CI installs it)");
    false
}

/// tshark reads every capture in `dir/pcap` with IP, UDP and TCP checksum checks on and
/// reports no malformed packet, no bad checksum and no other warning; returns the number of
/// frames read per file.
fn assert_tshark_clean(dir: &Path) -> Vec<(String, usize)> {
    let mut frames = Vec::new();
    for entry in std::fs::read_dir(dir.join("pcap")).unwrap() {
        let path = entry.unwrap().path();
        let checks = [
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
        ];
        let o = Command::new("tshark")
            .args(["-n", "-r", path.to_str().unwrap()])
            .args(checks)
            .args(["-Y", "_ws.malformed || _ws.expert.severity >= warning || ip.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\""])
            .args(["-T", "fields", "-e", "frame.number"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let bad = String::from_utf8_lossy(&o.stdout);
        assert!(
            bad.trim().is_empty(),
            "{}: frames with problems: {bad}",
            path.display()
        );
        let all = Command::new("tshark")
            .args([
                "-n",
                "-r",
                path.to_str().unwrap(),
                "-T",
                "fields",
                "-e",
                "frame.number",
            ])
            .output()
            .unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        frames.push((name, String::from_utf8_lossy(&all.stdout).lines().count()));
    }
    frames.sort();
    frames
}

/// tshark (Debian's package; `.ci/run` installs it) reads the UDP captures cleanly.
#[test]
fn tshark_reads_the_captures() {
    if !have_tshark() {
        return;
    }
    let out = run_into("tshark", &["--set", "duration=3s"]);
    for (name, n) in assert_tshark_clean(&out) {
        assert!(n > 0, "{name} decoded to nothing");
    }
    std::fs::remove_dir_all(out).unwrap();
}

/// A TCP exchange through a NAT: the captures on both sides of the NAT (inside: a client's
/// link; outside: the access link) carry valid IP and TCP checksums after rewriting.
#[test]
fn tshark_validates_checksums_on_both_sides_of_the_nat() {
    if !have_tshark() {
        return;
    }
    let out = tempdir("tshark-nat");
    let o = ikesim(&[
        "run",
        "scenarios/tcp-nat.toml",
        "--pcap",
        "--set",
        "duration=3s",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let frames = assert_tshark_clean(&out);
    let count = |name: &str| frames.iter().find(|(n, _)| n == name).map_or(0, |f| f.1);
    assert!(count("access.pcap") > 100, "{frames:?}");
    assert!(count("client-0-home-nat.pcap") > 10, "{frames:?}");
    std::fs::remove_dir_all(out).unwrap();
}

/// Counts, over every capture of `out`, frames matching a display filter, decoded with the
/// run's Wireshark key directory.
fn tshark_count(out: &Path, filter: &str) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(out.join("pcap")).unwrap() {
        let path = entry.unwrap().path();
        let o = Command::new("tshark")
            .env("WIRESHARK_CONFIG_DIR", out.join("wireshark"))
            .args([
                "-n",
                "-r",
                path.to_str().unwrap(),
                "-o",
                "ip.check_checksum:TRUE",
                "-o",
                "udp.check_checksum:TRUE",
            ])
            .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        n += String::from_utf8_lossy(&o.stdout).lines().count();
    }
    n
}

/// The IKE capture check of the IKEv2/ESP issue: with the `--keys` directory, tshark
/// decrypts every IKE message with correct integrity data and every ESP packet with a good
/// ICV, in captures taken on both sides of the NAT, across a Child SA rekey.
#[test]
fn tshark_decrypts_ike_and_esp_with_the_key_directory() {
    if !have_tshark() {
        return;
    }
    let out = tempdir("tshark-ike");
    let o = ikesim(&[
        "run",
        "scenarios/ike-udp-nat.toml",
        "--pcap",
        "--keys",
        "--set",
        "duration=50s",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let encrypted = tshark_count(&out, "isakmp.enc.data");
    let decrypted = tshark_count(&out, "isakmp.enc.decrypted");
    assert!(
        encrypted > 20,
        "IKE_AUTH, rekeys and liveness checks are encrypted: {encrypted}"
    );
    assert_eq!(decrypted, encrypted, "every encrypted IKE message decrypts");
    let esp = tshark_count(&out, "esp");
    assert!(esp > 200, "ESP both ways: {esp}");
    assert_eq!(
        tshark_count(&out, "esp.icv_good == 1"),
        esp,
        "every ESP packet has a good ICV"
    );
    assert_eq!(
        tshark_count(&out, "_ws.malformed || _ws.expert.severity >= warning"),
        0
    );
    // The decrypted ESP carries the pings between inner addresses.
    assert!(tshark_count(&out, "ip.src == 10.10.0.10 && udp.srcport == 7") > 100);
    std::fs::remove_dir_all(out).unwrap();
}
