//! Memory does not grow with virtual time in a steady state (issue 9): a run keeps no
//! trace of the timers that fired or were cancelled, the connections that closed, the
//! NAT bindings that expired, or the IKE and Child SAs that were rekeyed and deleted.
//!
//! One simulation runs to T and on to 4T; the heap bytes still allocated (counted by a
//! counting global allocator, exact and deterministic, unlike the resident set), the live
//! timers and the pending events must be the same at both points, within what the
//! histograms' new buckets and the SAs that happen to be mid-rekey explain. This file
//! holds a single test, so no other test allocates while it counts.

#![allow(
    clippy::unwrap_used,
    reason = "the shared test helpers panic on broken set-up"
)]

mod common;

use std::alloc::System;

use experiments::{build, scenario};
use sim::{SimDuration, SimTime};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Three clients over UDP and three over TCP (RFC 9329) behind one NAT, each with an IKE
/// SA whose Child SA is rekeyed every ~60 s and which is itself rekeyed every ~150 s (so
/// SAs, ESP SAs and their keys are made and deleted all the time), liveness checks every
/// 30 s, a ping every second through the tunnel, and (over UDP) a ping every 45 s outside
/// it whose NAT binding (UDP timeout 30 s) expires between pings.
fn scenario() -> String {
    const LIFETIMES: &str = r#"
child_rekey = "60s"
child_lifetime = "90s"
ike_rekey = "150s"
ike_lifetime = "200s"
rekey_jitter = "5s""#;
    let clients = |name: &str, address: &str, transport: &str, outside_ping: &str| {
        format!(
            r#"
[[nodes]]
kind = "host"
name = "{name}"
count = 3
address = "{address}"
uplink = {{ to = "nat", rate = "100Mbps", delay = "1ms" }}

[[nodes.apps]]
kind = "ike"
role = "initiator"
peer = "203.0.113.1"
psk = "ikesim shared secret"
start = {{ uniform = ["0s", "1s"] }}
request_address = true
remote_ts = ["10.10.0.0/16"]
transport = "{transport}"
liveness_interval = "30s"
liveness_mode = "periodic"{LIFETIMES}

[[nodes.apps]]
kind = "udp-ping"
to = "10.10.0.10:7"
port = 40000
interval = "1s"
start = "5s"
{outside_ping}"#
        )
    };
    let outside_ping = r#"
[[nodes.apps]]
kind = "udp-ping"
to = "203.0.113.1:7"
port = 40001
interval = "45s"
start = "5s"
"#;
    format!(
        r#"
name = "steady-state"
description = "rekeys, liveness, ESP and expiring NAT bindings, forever"
duration = "2400s"
seed = 7
capture = []
{udp}{tcp}
[[nodes]]
kind = "nat"
name = "nat"
public_address = "198.51.100.1"
outside = "access"
udp_timeout = "30s"

[[nodes]]
kind = "router"
name = "isp"

[[nodes]]
kind = "host"
name = "gateway"
addresses = ["203.0.113.1", "10.10.0.1"]
forwarding = true

[[nodes.apps]]
kind = "ike"
role = "responder"
psk = "ikesim shared secret"
local_ts = ["10.10.0.0/16"]
pool = {{ first = "10.8.0.1", size = 100 }}{LIFETIMES}

[[nodes.apps]]
kind = "udp-echo"
port = 7

[[nodes]]
kind = "host"
name = "server"
address = "10.10.0.10"

[[nodes.apps]]
kind = "udp-echo"
port = 7

[[links]]
name = "access"
a = "nat"
b = "isp"
rate = "1Gbps"
delay = "10ms"

[[links]]
a = "isp"
b = "gateway"
rate = "1Gbps"
delay = "5ms"

[[links]]
a = "gateway"
b = "server"
rate = "1Gbps"
delay = "1ms"
"#,
        udp = clients("udp", "192.168.1.10", "udp", outside_ping),
        tcp = clients("tcp", "192.168.1.20", "tcp", ""),
    )
}

/// Heap bytes allocated since `region` began and not freed (a reallocation already
/// counts its growth in `bytes_allocated`, its shrinking in `bytes_deallocated`).
fn live(region: &Region<'_, System>) -> i64 {
    let c = region.change();
    c.bytes_allocated as i64 - c.bytes_deallocated as i64
}

#[test]
fn memory_timers_and_events_stay_flat_over_four_times_the_virtual_time() {
    let dir = common::tempdir("steady-state");
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let path = dir.join("steady.toml");
    std::fs::write(&path, scenario()).expect("scenario written");
    let loaded = scenario::load(&path, &[]).expect("scenario loads");
    let region = Region::new(GLOBAL);
    let mut sim = build::build(&loaded, loaded.scenario.seed, "steady", false);
    let t = SimTime::ZERO + SimDuration::from_secs(600);
    sim.run_until(t).expect("runs to T");
    let at_t = (live(&region), sim.live_timers(), sim.pending_events());
    sim.run_until(SimTime::ZERO + SimDuration::from_secs(2400))
        .expect("runs to 4T");
    let at_4t = (live(&region), sim.live_timers(), sim.pending_events());
    eprintln!("at T: {at_t:?} (heap bytes, timers, events); at 4T: {at_4t:?}");

    // The run is the steady state it claims to be: SAs were rekeyed many times over.
    let gateway = sim
        .nodes()
        .find(|(_, name, _)| *name == "gateway")
        .map(|(_, _, m)| m.clone())
        .expect("gateway");
    assert!(gateway.counter("child_sa_rekeyed") >= 6 * 30, "{gateway:?}");
    let nat = sim
        .nodes()
        .find(|(_, name, _)| *name == "nat")
        .map(|(_, _, m)| m.clone())
        .expect("nat");
    assert!(nat.counter("bindings_expired") >= 3 * 30, "{nat:?}");

    // Flat: within 5% of the heap at T (histogram buckets, an SA mid-rekey at one point
    // and not the other). Between 5 and 80 minutes the heap stays in 265-290 kB.
    let (heap_t, heap_4t) = (at_t.0, at_4t.0);
    assert!(
        heap_4t - heap_t <= heap_t / 20,
        "heap grew from {heap_t} to {heap_4t} bytes over 3T"
    );
    assert_eq!(at_4t.1, at_t.1, "live timers");
    // Cancelled timers stay queued until they come due, so the pending events follow the
    // traffic (51-257 over 80 minutes), but never accumulate.
    assert!(
        at_t.2 < 400 && at_4t.2 < 400,
        "pending events {at_t:?} -> {at_4t:?}"
    );
}
