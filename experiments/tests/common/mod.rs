//! Helpers shared by the `ikesim` command tests.

#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A small scenario: an on/off source through a 5 Mbit/s bottleneck into a sink.
pub(crate) const TINY: &str = r#"
name = "tiny"
description = "an on/off UDP source through a 5 Mbit/s bottleneck"
duration = "1s"
seed = 1

[[nodes]]
kind = "udp-source"
name = "src"
src = "10.0.0.1:5000"
dst = "10.0.1.1:5000"
rate = "8Mbps"
size = 1000
on = "100ms"
off = "100ms"

[[nodes]]
kind = "hub"
name = "left"

[[nodes]]
kind = "udp-sink"
name = "sink"
address = "10.0.1.1"

[[links]]
a = "src"
b = "left"
rate = "100Mbps"
delay = "1ms"

[[links]]
name = "bottleneck"
a = "left"
b = "sink"
rate = "5Mbps"
delay = "5ms"
queue_packets = 20
"#;

/// Runs the `ikesim` binary with `args` from the `experiments` folder.
pub(crate) fn ikesim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ikesim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the ikesim binary runs")
}

/// Asserts the command succeeded and returns its standard output.
pub(crate) fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `scenario` (relative to the `experiments` folder) with `--set` overrides and
/// `extra` arguments into a fresh folder for test `tag`; asserts success and returns the
/// folder (removed when the returned guard is dropped).
pub(crate) fn run_scenario(tag: &str, scenario: &str, sets: &[&str], extra: &[&str]) -> TempDir {
    let out = tempdir(tag);
    let mut args = vec![
        "run",
        scenario,
        "--out",
        out.to_str().expect("a UTF-8 path"),
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    args.extend(extra);
    ok(&ikesim(&args));
    out
}

/// A test's scratch folder, removed with everything in it when the guard is dropped.
///
/// Tests must not leave their output behind (a run's captures take megabytes, and leaked
/// folders piled up by the hundred); removing on drop cleans up after a failing test too,
/// since a panic unwinds the test's locals. Bind the guard to a name
/// (`let out = tempdir(..)`, not `let _ = ..`) and keep it alive while anything, a child
/// process included, uses the folder. Set `IKESIM_KEEP_TEST_DIRS=1` to keep the folders
/// for debugging.
pub(crate) struct TempDir(PathBuf);

impl Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("IKESIM_KEEP_TEST_DIRS").is_some_and(|v| v != "0") {
            eprintln!("IKESIM_KEEP_TEST_DIRS: keeping {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The path of a fresh (not yet created) folder under the system's temporary folder for
/// test `tag`, which must be unique within the test binary; removed when the guard drops.
pub(crate) fn tempdir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("ikesim-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    TempDir(dir)
}

/// Whether tshark is there; CI sets IKESIM_REQUIRE_TSHARK so that a missing tshark fails
/// instead of skipping.
pub(crate) fn have_tshark() -> bool {
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

/// The project's Wireshark Lua plugin for RFC 9329 (IKE and ESP over TCP).
pub(crate) fn rfc9329_plugin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/wireshark/rfc9329.lua")
}

/// Runs tshark on `out/pcap/<capture>` with the RFC 9329 plugin, the run's key directory and
/// IP and TCP checksum checks, plus `args`; returns standard output.
pub(crate) fn tshark_rfc9329(out: &Path, capture: &str, args: &[&str]) -> String {
    let plugin = rfc9329_plugin();
    assert!(plugin.exists(), "{} missing", plugin.display());
    let o = Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", out.join("wireshark"))
        .arg("-X")
        .arg(format!("lua_script:{}", plugin.display()))
        .arg("-n")
        .arg("-r")
        .arg(out.join("pcap").join(capture))
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
        ])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{capture}: {stderr}");
    // A plugin that fails to load or run is reported on stderr, not as an exit status.
    assert!(!stderr.contains("Lua"), "{capture}: {stderr}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Frames of one capture matching each display filter (one tshark pass: `-z io,stat`).
pub(crate) fn tshark_rfc9329_counts(out: &Path, capture: &str, filters: &[&str]) -> Vec<usize> {
    assert!(
        filters.iter().all(|f| !f.contains(',')),
        "io,stat splits on commas"
    );
    let stat = format!("io,stat,0,{}", filters.join(","));
    let text = tshark_rfc9329(out, capture, &["-q", "-z", &stat]);
    // The one data row: "|   0.0 <> 114.1 |     22 |  3934 |  ...": Frames, Bytes per filter.
    let row = text
        .lines()
        .find(|l| l.contains("<>"))
        .unwrap_or_else(|| panic!("{capture}: no io,stat row in {text}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let counts: Vec<usize> = (0..filters.len())
        .map(|i| cells[2 + 2 * i].parse().unwrap())
        .collect();
    counts
}
