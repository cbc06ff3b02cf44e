//! `ikesim run` end to end: outputs, determinism, bad input, captures in tshark.

#![allow(clippy::unwrap_used, reason = "test helpers panic on broken set-up")]

mod common;

use common::{TempDir, have_tshark, ikesim, tempdir, tshark_rfc9329, tshark_rfc9329_counts};

use std::path::Path;
use std::process::Command;

const SCENARIO: &str = "scenarios/udp-bottleneck.toml";

/// Runs the example scenario (shortened) into a fresh folder and returns it.
fn run_into(tag: &str, extra: &[&str]) -> TempDir {
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
}

/// Writes `body` as a scenario file and runs it with `--out` the folder's `out`; returns
/// (exit code, stderr, folder).
fn run_bad(tag: &str, body: &str, extra: &[&str]) -> (i32, String, TempDir) {
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
        dir,
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
        let (code, stderr, dir) = run_bad(tag, &body, extra);
        assert_eq!(code, 2, "{tag}: {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{tag}: {n:?} missing from: {stderr}");
        }
        assert!(
            !dir.join("out").exists(),
            "{tag}: output written for a bad scenario"
        );
    }
    let (code, _, _) = run_bad("bad-seed", GOOD, &["--seed", "minus-one"]);
    assert_eq!(code, 2);
    let (code, stderr, dir) = run_bad("good", GOOD, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(dir.join("out/metrics.csv").exists());
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
}

/// `-T fields` rows of one capture for frames matching `filter`, each a list of fields whose
/// repeated occurrences are comma-separated.
fn tshark_rfc9329_fields(
    out: &Path,
    capture: &str,
    filter: &str,
    fields: &[&str],
) -> Vec<Vec<String>> {
    let mut args = vec!["-Y", filter, "-T", "fields"];
    for f in fields {
        args.extend_from_slice(&["-e", f]);
    }
    tshark_rfc9329(out, capture, &args)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// SHA-1(SPIi | SPIr | IP | port) in hex (RFC 7296 §2.23), from the fields tshark prints.
fn nat_detection_hash(spi_i: &str, spi_r: &str, ip: &str, port: &str) -> String {
    use sha1::{Digest, Sha1};
    let hex = |s: &str| -> Vec<u8> {
        assert_eq!(s.len(), 16, "SPI {s:?}");
        (0..8)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    };
    let mut data = hex(spi_i);
    data.extend(hex(spi_r));
    match ip.parse::<std::net::IpAddr>().unwrap() {
        std::net::IpAddr::V4(a) => data.extend(a.octets()),
        std::net::IpAddr::V6(a) => data.extend(a.octets()),
    }
    data.extend(port.parse::<u16>().unwrap().to_be_bytes());
    Sha1::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The NAT detection notifies of one IKE_SA_INIT message over TCP, and the hashes of the
/// addresses and TCP ports of the packet that carries it.
#[derive(Debug)]
struct NatDetection {
    frame: String,
    /// SHA-1(SPIi | SPIr | source IP | source port), same with the destination.
    computed: [String; 2],
    /// The NAT_DETECTION_SOURCE_IP (16388) and NAT_DETECTION_DESTINATION_IP (16389) values.
    sent: [Vec<String>; 2],
}

/// The IKE_SA_INIT messages over TCP matching `filter` in `capture`, with their NAT
/// detection notifies and the hashes of what the capture shows.
fn nat_detection_over_tcp(out: &Path, capture: &str, filter: &str) -> Vec<NatDetection> {
    let rows = tshark_rfc9329_fields(
        out,
        capture,
        &format!("rfc9329.type == \"ike\" && isakmp.exchangetype == 34 && {filter}"),
        &[
            "frame.number",
            "ip.src",
            "tcp.srcport",
            "ip.dst",
            "tcp.dstport",
            "isakmp.ispi",
            "isakmp.rspi",
            "isakmp.notify.msgtype",
            "isakmp.notify.data",
        ],
    );
    rows.iter()
        .map(|row| {
            let [frame, src, sport, dst, dport, spi_i, spi_r, types, data] = row.as_slice() else {
                panic!("{capture}: unexpected row {row:?}");
            };
            // One IKE message per frame: a second one would make the SPIs ambiguous.
            assert!(!spi_i.contains(','), "{capture} #{frame}: {row:?}");
            let types: Vec<&str> = types.split(',').collect();
            let data: Vec<&str> = data.split(',').collect();
            assert_eq!(types.len(), data.len(), "{capture} #{frame}: {row:?}");
            let values = |t: &str| -> Vec<String> {
                types
                    .iter()
                    .zip(&data)
                    .filter(|(ty, _)| **ty == t)
                    .map(|(_, d)| (*d).to_owned())
                    .collect()
            };
            NatDetection {
                frame: frame.clone(),
                computed: [
                    nat_detection_hash(spi_i, spi_r, src, sport),
                    nat_detection_hash(spi_i, spi_r, dst, dport),
                ],
                sent: [values("16388"), values("16389")],
            }
        })
        .collect()
}

/// Every NAT detection value of the IKE_SA_INIT messages over TCP matching `filter` equals
/// the hash of the addresses and TCP ports seen in `capture`; returns how many messages.
fn assert_nat_detection_over_tcp(out: &Path, capture: &str, filter: &str) -> usize {
    let messages = nat_detection_over_tcp(out, capture, filter);
    for m in &messages {
        assert!(
            !m.sent[0].is_empty() && m.sent[1].len() == 1,
            "{capture} frame {}: {m:?}",
            m.frame
        );
        for (sent, computed) in m.sent.iter().zip(&m.computed) {
            assert!(
                sent.iter().all(|v| v == computed),
                "{capture} frame {}: {m:?}",
                m.frame
            );
        }
    }
    messages.len()
}

/// The RFC 9329 capture check: `ikesim run experiments/scenarios/ike-tcp.toml --out DIR
/// --pcap --keys`, decoded by tshark with the project's Lua plugin
/// (`tools/wireshark/rfc9329.lua`) and the key directory, shows the prefix once at the start
/// of each client-opened connection, every IKE message decrypted with correct integrity,
/// every ESP packet with a good ICV, no malformed frames, and NAT_DETECTION values that
/// equal SHA-1(SPIi | SPIr | IP | port) of the TCP addresses and ports seen in the capture
/// of the sender's own link (before any NAT).
#[test]
fn tshark_decodes_rfc9329_streams_with_the_plugin() {
    if !have_tshark() {
        return;
    }
    let out = tempdir("tshark-rfc9329");
    // The whole scenario (a fraction of a second even in debug): UDP blocked, fallback to
    // TCP at about 11 s, Child SA rekeys, the reset connection re-opened at 50 s, IKE SA
    // rekeys, Delete.
    let o = ikesim(&[
        "run",
        "scenarios/ike-tcp.toml",
        "--pcap",
        "--keys",
        "--out",
        out.to_str().unwrap(),
    ]);
    common::ok(&o);
    let mut captures: Vec<String> = std::fs::read_dir(out.join("pcap"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    captures.sort();
    // The clients' own links (client-N to the home NAT), inside the NAT.
    let clients: Vec<&String> = captures
        .iter()
        .filter(|c| c.starts_with("client-"))
        .collect();
    assert_eq!(clients.len(), 2, "{captures:?}");

    // Every capture: IKE decrypted with correct integrity, ESP with good ICVs, nothing
    // malformed, no bad checksum, no Lua error (all expert errors).
    let filters = [
        "isakmp.enc.data",
        "isakmp.enc.decrypted",
        "isakmp.ikev2.integrity_checksum",
        "esp",
        "esp.icv_good == 1",
        "_ws.malformed || _ws.expert.severity >= error",
        "rfc9329.type == \"ike\"",
        "rfc9329.type == \"invalid\"",
    ];
    let mut totals = [0; 8];
    for capture in &captures {
        let n = tshark_rfc9329_counts(&out, capture, &filters);
        assert_eq!(
            n[1], n[0],
            "{capture}: every encrypted IKE message decrypts"
        );
        assert_eq!(n[2], 0, "{capture}: IKE integrity checksum incorrect");
        assert_eq!(n[4], n[3], "{capture}: every ESP packet has a good ICV");
        assert_eq!(n[5], 0, "{capture}: malformed frames or expert errors");
        assert_eq!(n[7], 0, "{capture}: invalid RFC 9329 frames");
        if clients.contains(&capture) {
            assert!(n[6] > 10, "{capture}: IKE over TCP: {n:?}");
            assert!(n[3] > 100, "{capture}: ESP over TCP: {n:?}");
        }
        for (t, v) in totals.iter_mut().zip(n) {
            *t += v;
        }
    }
    assert!(
        totals[0] > 50,
        "IKE_AUTH, rekeys, liveness checks and Deletes are encrypted: {totals:?}"
    );

    // The prefix: once per client-opened connection, its first payload octets, towards the
    // TCP Responder.
    let mut connections = 0;
    for capture in &clients {
        let syn = "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == 4500";
        let mut opened: Vec<String> = tshark_rfc9329_fields(&out, capture, syn, &["tcp.stream"])
            .into_iter()
            .map(|r| r.concat())
            .collect();
        let prefixes = tshark_rfc9329_fields(
            &out,
            capture,
            "rfc9329.prefix",
            &["tcp.stream", "tcp.seq", "tcp.dstport", "rfc9329.prefix"],
        );
        let mut with_prefix = Vec::new();
        for row in &prefixes {
            assert_eq!(row[1..], ["1", "4500", "IKETCP"], "{capture}: {row:?}");
            with_prefix.push(row[0].clone());
        }
        opened.sort();
        with_prefix.sort();
        assert!(!opened.is_empty(), "{capture}: no TCP connection");
        assert_eq!(
            with_prefix, opened,
            "{capture}: streams with a prefix vs streams the client opened"
        );
        connections += opened.len();
    }
    assert!(
        connections > clients.len(),
        "the connection reset at 50 s is re-opened with a prefix: {connections}"
    );

    // NAT detection over TCP, checked on each sender's own link: the clients' requests
    // inside the NAT, the gateway's responses on its link ("core" in the scenario).
    for capture in &clients {
        let n = assert_nat_detection_over_tcp(&out, capture, "isakmp.flag_r == 0");
        assert!(n >= 1, "{capture}: no IKE_SA_INIT request over TCP");
    }
    let n = assert_nat_detection_over_tcp(&out, "core.pcap", "isakmp.flag_r == 1");
    assert_eq!(
        n,
        clients.len(),
        "one IKE_SA_INIT response over TCP per client"
    );
    // The check tells NATed addresses apart: past the home NAT (the access link) the
    // requests' source no longer matches NAT_DETECTION_SOURCE_IP, their destination still
    // matches NAT_DETECTION_DESTINATION_IP.
    let past_nat = nat_detection_over_tcp(&out, "access.pcap", "isakmp.flag_r == 0");
    assert_eq!(past_nat.len(), clients.len(), "{past_nat:?}");
    for m in &past_nat {
        assert!(!m.sent[0].contains(&m.computed[0]), "{m:?}");
        assert_eq!(m.sent[1], [m.computed[1].clone()], "{m:?}");
    }
}

/// The `on-path-forge-init-error` action and the `*_init_error` keys reach the models: over
/// TCP a forged NO_PROPOSAL_CHOSEN ends an `immediate` client's IKE SA, while a `wait`
/// client establishes after the responder closes the poisoned connection and the client
/// re-opens it and resends its request (RFC 9329 §6.2, §6.4).
#[test]
fn forged_init_error_fails_immediate_and_delays_wait_over_tcp() {
    let run = |policy: &str| -> String {
        let out = tempdir(&format!("forge-{policy}"));
        let o = ikesim(&[
            "run",
            "scenarios/ike-init-forged-error.toml",
            "--set",
            "nodes.client.apps.0.transport=tcp",
            "--set",
            &format!("nodes.client.apps.0.tcp_init_error={policy}"),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(read(&out, "metrics.csv")).unwrap()
    };
    let value = |csv: &str, entity: &str, metric: &str| -> Option<f64> {
        let needle = format!(",{entity},{metric},");
        let line = csv.lines().find(|l| l.contains(&needle))?;
        line.rsplit(',').next()?.parse().ok()
    };
    let immediate = run("immediate");
    assert_eq!(
        value(&immediate, "attacker", "init_errors_forged"),
        Some(1.0)
    );
    assert_eq!(value(&immediate, "client", "ike_failed"), Some(1.0));
    assert_eq!(value(&immediate, "client", "ike_established"), None);
    let wait = run("wait");
    assert_eq!(value(&wait, "client", "ike_established"), Some(1.0));
    assert_eq!(value(&wait, "client", "tcp_reconnections"), Some(1.0));
    let setup = value(&wait, "client", "ike_setup_total_ns.mean").unwrap();
    assert!(setup > 30e9, "{setup}");
}
