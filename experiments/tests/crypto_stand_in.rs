//! `crypto = "stand-in"` (README.md, "Crypto stand-in mode"): the stand-ins have the real
//! sizes and draw the same random octets, so every metric of a run, the fingerprint
//! included, must be the same as with real cryptography; and a stand-in run's captures
//! say so and come without Wireshark key tables.

#![allow(clippy::unwrap_used, reason = "test helpers panic on broken set-up")]

mod common;

use std::path::Path;

use common::{TempDir, ikesim, ok, run_scenario, tempdir};

const STAND_IN: &str = "crypto=stand-in";

/// Runs `scenario` with `sets` (and `extra` arguments) into a fresh folder.
fn run(tag: &str, scenario: &str, sets: &[&str], extra: &[&str]) -> TempDir {
    run_scenario(&format!("crypto-{tag}"), scenario, sets, extra)
}

/// The rows of `metrics.csv` without the run id (which hashes the effective scenario, and
/// so the `crypto` key): scenario, seed, version, scope, entity, metric, value.
fn metrics(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split_once(',').unwrap().1.to_owned())
        .collect()
}

fn metric(rows: &[String], entity: &str, name: &str) -> u64 {
    rows.iter()
        .filter_map(|r| {
            let f: Vec<&str> = r.split(',').collect();
            (f[4].starts_with(entity) && f[5] == name).then(|| f[6].parse::<u64>().unwrap())
        })
        .sum()
}

/// Runs `scenario` in both modes and asserts identical metrics; returns them.
fn same_metrics(tag: &str, scenario: &str, sets: &[&str]) -> Vec<String> {
    let real = run(&format!("{tag}-real"), scenario, sets, &[]);
    let mut stand_in_sets = sets.to_vec();
    stand_in_sets.push(STAND_IN);
    let stand_in = run(&format!("{tag}-stand-in"), scenario, &stand_in_sets, &[]);
    let (a, b) = (metrics(&real), metrics(&stand_in));
    assert_eq!(a.len(), b.len(), "{tag}: number of metrics");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "{tag}: real vs stand-in");
    }
    a
}

/// IKE and ESP over UDP through a NAT, with rekeys; then again with ECP-256 and PFS, so
/// that every DH path (IKE_SA_INIT, IKE rekey, Child SA rekey with KE) runs with both
/// lengths of public value.
#[test]
fn udp_nat_metrics_are_the_same_with_stand_ins() {
    let rows = same_metrics("udp-nat", "scenarios/ike-udp-nat.toml", &[]);
    assert!(metric(&rows, "client", "ike_rekeyed") > 0);
    assert!(metric(&rows, "client", "esp_packets_in") > 0);
    let pfs = [
        "nodes.client.apps.0.dh_groups=[\"ecp256\"]",
        "nodes.client.apps.0.child_pfs=true",
        "nodes.gateway.apps.0.child_pfs=true",
    ];
    let rows = same_metrics("udp-nat-pfs", "scenarios/ike-udp-nat.toml", &pfs);
    assert!(metric(&rows, "client", "child_sa_rekeyed") > 0);
}

/// IKE and ESP over TCP (RFC 9329): fallback, ESP in TCP, a reset connection.
#[test]
fn tcp_metrics_are_the_same_with_stand_ins() {
    let rows = same_metrics("tcp", "scenarios/ike-tcp.toml", &[]);
    assert!(metric(&rows, "client", "esp_tcp_bytes_out") > 0);
}

/// An HA cluster failover with RFC 6311 sync, and MOBIKE moves over UDP and TCP.
#[test]
fn ha_and_mobike_metrics_are_the_same_with_stand_ins() {
    let rows = same_metrics("ha", "scenarios/ha-failover.toml", &[]);
    assert!(metric(&rows, "active", "esp_packets_in") > 0);
    same_metrics("mobike", "scenarios/mobike-tcp.toml", &[]);
}

/// A stand-in run's captures have the real sizes, come with a note and without key
/// tables even when `--keys` asks for them, and `run.toml` and the summary say so.
#[test]
fn stand_in_captures_say_so_and_offer_no_keys() {
    let scenario = "scenarios/ike-udp-nat.toml";
    let capture = ["--pcap", "--keys"];
    let real = run("pcap-real", scenario, &[], &capture);
    let stand_in = run("pcap-stand-in", scenario, &[STAND_IN], &capture);

    for file in ["esp_sa", "ikev2_decryption_table"] {
        assert!(real.join("wireshark").join(file).exists());
    }
    assert!(!stand_in.join("wireshark").exists(), "no key tables");
    assert!(!real.join("pcap/crypto-stand-in.txt").exists());
    let note = std::fs::read_to_string(stand_in.join("pcap/crypto-stand-in.txt")).unwrap();
    assert!(note.contains("crypto = stand-in") && note.contains("not real ciphertext"));
    let run_toml = std::fs::read_to_string(stand_in.join("run.toml")).unwrap();
    assert!(run_toml.contains("# crypto = stand-in"), "{run_toml}");
    assert!(run_toml.contains("crypto = \"stand-in\""), "{run_toml}");
    let real_toml = std::fs::read_to_string(real.join("run.toml")).unwrap();
    assert!(
        !real_toml.contains("crypto"),
        "real runs keep their run ids"
    );

    // Same packets, same sizes, same times; only the payload octets of IKE and ESP differ
    // (the inner traffic behind the gateway is the same).
    let (mut pcaps, mut differ) = (0, 0);
    for entry in std::fs::read_dir(real.join("pcap")).unwrap() {
        let name = entry.unwrap().file_name();
        let a = std::fs::read(real.join("pcap").join(&name)).unwrap();
        let b = std::fs::read(stand_in.join("pcap").join(&name)).unwrap();
        assert_eq!(a.len(), b.len(), "{name:?}");
        pcaps += 1;
        differ += usize::from(a != b);
    }
    assert!(
        pcaps > 1 && differ > 0 && differ < pcaps,
        "{differ} of {pcaps}"
    );
    // Their captures are megabytes: removed before the next run.
    drop(real);
    drop(stand_in);

    let out = tempdir("crypto-summary");
    let o = ikesim(&[
        "run",
        scenario,
        "--set",
        STAND_IN,
        "--set",
        "duration=5s",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok(&o).contains("crypto = stand-in"));
}

/// A bad value names the file, the key and the allowed values, from a file or `--set`.
#[test]
fn bad_crypto_value_is_refused() {
    let dir = tempdir("crypto-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ike-udp-nat.toml"),
    )
    .unwrap();
    std::fs::write(&file, format!("crypto = \"fast\"\n{text}")).unwrap();
    let from_file = ikesim(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    let from_set = ikesim(&["run", "scenarios/ike-udp-nat.toml", "--set", "crypto=fast"]);
    for (o, name) in [(from_file, "bad.toml"), (from_set, "ike-udp-nat.toml")] {
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        for want in [name, "crypto", "`real`", "`stand-in`"] {
            assert!(err.contains(want), "{want:?} missing from: {err}");
        }
    }
}
