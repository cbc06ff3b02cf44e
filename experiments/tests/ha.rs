//! The HA cluster (RFC 6311; RFC 9329 §7.4) end to end, on `scenarios/ha-failover.toml`:
//! ten active and ten idle clients over TCP to a two-member cluster whose active member
//! crashes at 70 s (takeover at 73 s). Each test turns one policy and checks its
//! consequence in the run's metrics; the last one checks the capture in tshark.

#![allow(clippy::unwrap_used, reason = "test helpers panic on broken set-up")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{TempDir, have_tshark, run_scenario, tshark_rfc9329_counts};

const SCENARIO: &str = "scenarios/ha-failover.toml";
const SECOND: f64 = 1e9;

/// A run's metrics by (entity, metric).
struct Run(BTreeMap<(String, String), f64>);

impl Run {
    fn get(&self, entity: &str, metric: &str) -> f64 {
        self.0
            .get(&(entity.to_owned(), metric.to_owned()))
            .copied()
            .unwrap_or(0.0)
    }

    /// The sum of `metric` over the entities starting with `prefix`.
    fn sum(&self, prefix: &str, metric: &str) -> f64 {
        self.0
            .iter()
            .filter(|((e, m), _)| e.starts_with(prefix) && m == metric)
            .map(|(_, v)| v)
            .sum()
    }
}

/// Runs the scenario with `--set` overrides (and `extra` arguments); returns its metrics and
/// its output folder (removed when dropped: `let (r, _) = run(..)` removes it at once).
fn run(tag: &str, sets: &[&str], extra: &[&str]) -> (Run, TempDir) {
    let out = run_scenario(&format!("ha-{tag}"), SCENARIO, sets, extra);
    (read(&out), out)
}

fn read(out: &Path) -> Run {
    let text = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let mut map = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if let Ok(v) = f[7].parse::<f64>() {
            map.insert((f[5].to_owned(), f[6].to_owned()), v);
        }
    }
    Run(map)
}

/// RFC 9329 §7.4: over TCP the new member has no connection and cannot open one; every
/// client is restored only after its next transmission hits the new member, is answered
/// with RST, and the client reconnects. Then the MID-0 sync runs and nothing is lost.
#[test]
fn rfc9329_7_4_over_tcp_the_sync_waits_for_the_clients_reconnect() {
    let (r, _) = run("tcp", &[], &[]);
    assert_eq!(r.get("gw-1", "ha_takeovers"), 1.0);
    assert_eq!(r.get("gw-1", "ha_sas_restored"), 20.0);
    assert_eq!(r.get("gw-1", "ha_restored"), 20.0, "every SA restored");
    assert_eq!(
        r.get("gw-1", "ha_syncs_sent"),
        20.0,
        "one sync per SA (RFC 6311 §7)"
    );
    assert_eq!(
        r.get("gw-1", "tcp_rst_sent"),
        20.0,
        "one RST per client connection"
    );
    assert_eq!(r.sum("active-", "tcp_reconnections"), 10.0);
    assert_eq!(r.sum("idle-", "tcp_reconnections"), 10.0);
    assert_eq!(r.sum("active-", "ha_sync_answered"), 10.0);
    assert_eq!(r.sum("idle-", "ha_sync_answered"), 10.0);
    assert_eq!(r.sum("", "ike_failed"), 0.0);
    // Nobody is restored before the takeover, and the first client only after its RST
    // and reconnect: restore (takeover to sync) takes at least a round trip or two.
    let takeover = r.get("gw-1", "ha_takeover_ns.max");
    assert!(
        (3.0 * SECOND..=3.1 * SECOND).contains(&takeover),
        "{takeover}"
    );
    assert!(r.get("gw-1", "ha_detect_ns.min") > takeover);
    assert!(r.get("gw-1", "ha_restore_ns.min") > 0.1 * SECOND);
    // Idle clients wait for their next liveness check (20 s of silence): the slowest
    // outage is bounded by the takeover plus the interval plus a few round trips.
    let worst = r.get("gw-1", "ha_outage_ns.max");
    assert!(
        worst > 5.0 * SECOND && worst < takeover + 21.0 * SECOND,
        "{worst}"
    );
    // ESP resumes: the active clients' pings keep coming back after the failover.
    let sent = r.sum("active-", "esp_packets_out");
    let back = r.sum("active-", "esp_packets_in");
    assert!(
        back > sent - 100.0,
        "ESP lost only during the outage: {back} of {sent}"
    );
}

/// Over UDP the new member reaches every client at once: the sync runs at the takeover
/// (one round trip), idle or not, and no RST is involved.
#[test]
fn rfc6311_over_udp_the_sync_starts_at_the_takeover() {
    let (r, _) = run(
        "udp",
        &[
            "nodes.active.apps.0.transport=udp",
            "nodes.idle.apps.0.transport=udp",
        ],
        &[],
    );
    assert_eq!(r.get("gw-1", "ha_restored"), 20.0);
    assert_eq!(r.get("gw-1", "tcp_rst_sent"), 0.0);
    assert!(r.get("gw-1", "ha_restore_ns.max") < 0.2 * SECOND);
    assert!(r.get("gw-1", "ha_outage_ns.max") < 3.2 * SECOND);
}

/// An idle client with RFC 7296 on-demand liveness sends nothing: the cluster's restore
/// timeout (30 s here) passes first and its SA is deleted; the active clients survive.
#[test]
fn idle_on_demand_clients_lose_their_sas_to_the_restore_timeout() {
    let (r, _) = run(
        "on-demand",
        &[
            "nodes.idle.apps.0.liveness_mode=on-demand",
            "nodes.gw.restore_timeout=30s",
        ],
        &[],
    );
    assert_eq!(r.get("gw-1", "ha_sas_lost"), 10.0);
    assert_eq!(r.get("gw-1", "ha_restored"), 10.0);
    assert_eq!(r.sum("active-", "ha_sync_answered"), 10.0);
    assert_eq!(r.sum("idle-", "ha_sync_answered"), 0.0);
}

/// Without IPSEC_REPLAY_COUNTER_SYNC the new member starts from stale outbound ESP
/// sequence numbers (copies every 30 s here): the clients drop its packets as replays
/// until the numbers pass what they saw. With it, the member jumps ahead and nothing is
/// dropped (RFC 6311 §5.2).
#[test]
fn rfc6311_replay_counter_sync_prevents_replay_drops() {
    let stale = "nodes.gw.sync_interval=30s";
    let (with, _) = run("replay-on", &[stale], &[]);
    let (without, _) = run(
        "replay-off",
        &[
            stale,
            "nodes.active.apps.0.ha_replay_counter_sync=false",
            "nodes.idle.apps.0.ha_replay_counter_sync=false",
        ],
        &[],
    );
    assert_eq!(with.sum("active-", "esp_dropped_replay"), 0.0);
    assert_eq!(with.sum("active-", "ha_replay_counter_syncs"), 10.0);
    assert!(without.sum("active-", "esp_dropped_replay") >= 10.0);
}

/// Without IKEV2_MESSAGE_ID_SYNC, a client whose Message IDs moved on after the last copy
/// sends requests the new member's window drops: over TCP it does not retransmit, and its
/// SA fails. With the sync, no SA fails.
#[test]
fn rfc6311_without_message_id_sync_stale_ids_kill_sas() {
    let sets = ["nodes.gw.sync_interval=30s", "duration=400s"];
    let (with, _) = run("mid-on", &sets, &[]);
    let mut off = sets.to_vec();
    off.extend([
        "nodes.active.apps.0.ha_message_id_sync=false",
        "nodes.idle.apps.0.ha_message_id_sync=false",
    ]);
    let (without, _) = run("mid-off", &off, &[]);
    assert_eq!(with.sum("", "ike_failed"), 0.0);
    assert!(without.sum("idle-", "ike_failed") > 0.0);
}

/// TCP keepalive alone is no IKE liveness (RFC 9329 §6.7): the idle clients send no
/// liveness check until a keepalive probe meets the new member's RST, and only the
/// INFORMATIONAL sent on the reconnected connection restores them, a keepalive interval
/// (60 s) later than the periodic checks would.
#[test]
fn tcp_keepalive_only_restores_late_through_the_reconnect() {
    let (r, _) = run(
        "keepalive",
        &[
            "nodes.idle.apps.0.liveness_mode=tcp-keepalive",
            "nodes.idle.apps.0.liveness_interval=60s",
        ],
        &[],
    );
    assert_eq!(r.get("gw-1", "ha_restored"), 20.0);
    // The only "liveness check" of an idle client is the INFORMATIONAL after reconnecting.
    assert_eq!(r.sum("idle-", "ike_liveness_checks"), 10.0);
    assert!(r.get("gw-1", "ha_outage_ns.max") > 25.0 * SECOND);
}

/// The capture of the cluster's link decodes and decrypts in tshark with the key
/// directory and the RFC 9329 plugin: RSTs from the new member, the prefix again on each
/// reconnected connection, and the decrypted INFORMATIONAL with IKEV2_MESSAGE_ID_SYNC
/// (notify 16422) both ways, on Message ID 0.
#[test]
fn tshark_shows_the_rst_the_reconnect_and_the_decrypted_sync() {
    if !have_tshark() {
        return;
    }
    let (_, out) = run("capture", &[], &["--pcap", "--keys"]);
    let n = tshark_rfc9329_counts(
        &out,
        "core.pcap",
        &[
            "isakmp.enc.data",
            "isakmp.enc.decrypted",
            "isakmp.ikev2.integrity_checksum",
            "esp",
            "esp.icv_good == 1",
            "_ws.malformed || _ws.expert.severity >= error",
            "isakmp.notify.msgtype == 16422 && isakmp.messageid == 0",
            "tcp.flags.reset == 1 && ip.src == 203.0.113.1",
            "rfc9329.prefix",
        ],
    );
    assert_eq!(n[1], n[0], "every encrypted IKE message decrypts: {n:?}");
    assert_eq!(n[2], 0, "IKE integrity checksum incorrect: {n:?}");
    assert_eq!(n[4], n[3], "every ESP packet has a good ICV: {n:?}");
    assert_eq!(n[5], 0, "malformed frames or expert errors: {n:?}");
    assert_eq!(n[6], 40, "20 sync requests and 20 answers: {n:?}");
    assert_eq!(n[7], 20, "an RST per client from the new member: {n:?}");
    assert_eq!(
        n[8], 40,
        "the prefix on 20 first and 20 re-opened connections: {n:?}"
    );
}

/// One client behind a NAT whose tunnel the server pings from behind the cluster. The
/// client crashes at 5 s and restarts at 6 s with a new SA; the active member's old
/// connection dies on the restarted client's RST, so its pings to the old SA are
/// encapsulated and then dropped for want of a connection (RFC 9329 §6.1: the
/// responder does not reconnect).
const DROPPED_ESP: &str = r#"
name = "ha-esp-dropped"
description = "HA: ESP the active member encapsulates but cannot send"
duration = "20s"
seed = 1

[[nodes]]
kind = "host"
name = "c"
count = 1
address = "192.168.1.10"
uplink = { to = "nat", rate = "100Mbps", delay = "1ms" }

[[nodes.apps]]
kind = "ike"
role = "initiator"
peer = "203.0.113.1"
psk = "ikesim shared secret"
start = "100ms"
request_address = true
remote_ts = ["10.10.0.0/16"]
transport = "tcp"

[[nodes.apps]]
kind = "udp-echo"
port = 7

[[nodes]]
kind = "nat"
name = "nat"
public_address = "198.51.100.1"
outside = "access"

[[nodes]]
kind = "cluster"
name = "gw"
members = 2
addresses = ["203.0.113.1", "10.10.0.1"]
sync_interval = "1s"
heartbeat = "1s"
dead_interval = "3s"
takeover_delay = "1s"
restore_timeout = "120s"

[[nodes.apps]]
kind = "ike"
role = "responder"
psk = "ikesim shared secret"
local_ts = ["10.10.0.0/16"]
pool = { first = "10.8.0.1", size = 10 }

[[nodes]]
kind = "host"
name = "server"
address = "10.10.0.10"

[[nodes.apps]]
kind = "udp-ping"
to = "10.8.0.1:7"
port = 40000
interval = "200ms"
start = "2s"

[[links]]
name = "access"
a = "nat"
b = "gw"
rate = "50Mbps"
delay = "10ms"

[[links]]
name = "lan"
a = "gw"
b = "server"
rate = "1Gbps"
delay = "1ms"

[[actions]]
at = "5s"
do = "crash"
node = "c-0"

[[actions]]
at = "6s"
do = "restart"
node = "c-0"
"#;

/// ESP that the active member encapsulates and then drops (no connection) still uses
/// outbound sequence numbers, and the HA copy must carry them (RFC 6311 §5.2): the SA
/// counts as changed although nothing was sent. Debug builds check after every
/// replication pass that the incremental copy equals a full one, so a missed change fails
/// the run; nothing else in the run shows it, hence no release run of this test.
#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "the full-copy check behind it exists in debug builds only"
)]
fn esp_dropped_after_encapsulation_still_reaches_the_ha_copy() {
    let dir = common::tempdir("ha-dropped-esp-scenario");
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("scenario.toml");
    std::fs::write(&scenario, DROPPED_ESP).unwrap();
    let out = run_scenario("ha-dropped-esp", scenario.to_str().unwrap(), &[], &[]);
    let r = read(&out);
    assert!(
        r.get("gw-0", "esp_dropped_no_connection") >= 40.0,
        "the old SA's pings are encapsulated and dropped"
    );
    assert_eq!(
        r.get("c-0", "ike_established"),
        2.0,
        "before and after the restart"
    );
    assert_eq!(r.get("gw-0", "ha_snapshots"), 20.0, "a pass every second");
}
