//! Memory per idle client (BENCHMARKS.md, "Scale"): what one more established, idle
//! client costs in the heap, both ends counted (client host, NAT, gateway).
//!
//! `cargo run --release -p ikesim --example idle_memory -- [CLIENTS] [real|stand-in]`
//!
//! Builds the same topology (CLIENTS hosts behind one NAT, a router, one gateway) four
//! times: hosts only; IKE daemons that never start an SA (a client's start lies after the
//! end); IKE over UDP; and IKE over TCP. The protocol state of one idle client, what the
//! issue asks for (TCP connection, IKE SA, Child SA, NAT binding, both ends), is a
//! variant's difference from the idle daemons; the difference from the bare hosts adds
//! the daemon itself. Each runs 300 s of virtual time (every client establishes its IKE SA and Child SA
//! within the first 120 s, then only liveness checks pass every 30 s), and the heap bytes
//! still allocated at the end are counted by a counting global allocator: exact and
//! deterministic, unlike the resident set. The difference between a variant and the bare
//! hosts, divided by CLIENTS, is the protocol state of one client.

use std::alloc::System;

use experiments::{build, scenario};
use sim::SimTime;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

/// Counts the bytes requested and freed (the system allocator underneath: what is
/// counted is what the program asks for, whichever allocator serves it).
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// One variant of the client side.
#[derive(Clone, Copy)]
enum Variant {
    /// Hosts and links only.
    Bare,
    /// IKE daemons on every host, no SA (the clients would start after the end).
    Daemons,
    /// IKE over UDP (NAT-T): IKE SA, Child SA, a UDP NAT binding.
    IkeUdp,
    /// IKE and ESP over TCP (RFC 9329): the same plus a TCP connection.
    IkeTcp,
}

impl Variant {
    const fn name(self) -> &'static str {
        match self {
            Self::Bare => "hosts and links only",
            Self::Daemons => "IKE daemons, no SA",
            Self::IkeUdp => "IKE SA + Child SA over UDP (NAT-T)",
            Self::IkeTcp => "IKE SA + Child SA over TCP (RFC 9329)",
        }
    }

    fn scenario(self, clients: usize, crypto: &str) -> String {
        let apps = |text: &str| match self {
            Self::Bare => String::new(),
            Self::Daemons | Self::IkeUdp | Self::IkeTcp => text.to_owned(),
        };
        let transport = match self {
            Self::IkeTcp => "tcp",
            Self::Bare | Self::Daemons | Self::IkeUdp => "udp",
        };
        let start = match self {
            Self::Daemons => r#""400s""#,
            Self::Bare | Self::IkeUdp | Self::IkeTcp => r#"{ uniform = ["0s", "120s"] }"#,
        };
        let client_app = apps(&format!(
            r#"
[[nodes.apps]]
kind = "ike"
role = "initiator"
peer = "203.0.113.1"
psk = "ikesim shared secret"
start = {start}
request_address = true
remote_ts = ["10.10.0.0/16"]
transport = "{transport}"
liveness_interval = "30s"
liveness_mode = "periodic"
"#
        ));
        let gateway_app = apps(
            r#"
[[nodes.apps]]
kind = "ike"
role = "responder"
psk = "ikesim shared secret"
local_ts = ["10.10.0.0/16"]
pool = { first = "10.64.0.1", size = 1000000 }
cookie_threshold = 1000000
"#,
        );
        format!(
            r#"
name = "idle-memory"
duration = "300s"
seed = 1
crypto = "{crypto}"
capture = []

[[nodes]]
kind = "host"
name = "c"
count = {clients}
address = "10.100.0.10"
uplink = {{ to = "nat", rate = "100Mbps", delay = "2ms" }}
{client_app}
[[nodes]]
kind = "nat"
name = "nat"
public_address = "198.51.100.1"
outside = "access"

[[nodes]]
kind = "router"
name = "isp"

[[nodes]]
kind = "host"
name = "gw"
address = "203.0.113.1"
{gateway_app}
[[links]]
name = "access"
a = "nat"
b = "isp"
rate = "1Gbps"
delay = "10ms"

[[links]]
name = "core"
a = "isp"
b = "gw"
rate = "10Gbps"
delay = "5ms"
"#
        )
    }
}

/// Live heap bytes after building `variant` and running it to its end, with the check
/// that every client established its SA.
fn measure(variant: Variant, clients: usize, crypto: &str) -> usize {
    let dir = std::env::temp_dir().join(format!("ikesim-idle-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let path = dir.join("idle.toml");
    std::fs::write(&path, variant.scenario(clients, crypto)).expect("scenario written");
    let loaded = scenario::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let region = Region::new(GLOBAL);
    let mut sim = build::build(&loaded, loaded.scenario.seed, "idle-memory", false);
    sim.run_until(SimTime::ZERO + loaded.scenario.duration.0)
        .expect("scenario runs");
    // A reallocation counts its growth in `bytes_allocated`, its shrinking in
    // `bytes_deallocated` (and both again in `bytes_reallocated`, not used here).
    let change = region.change();
    let live = change
        .bytes_allocated
        .saturating_sub(change.bytes_deallocated);
    if matches!(variant, Variant::IkeUdp | Variant::IkeTcp) {
        let established: u64 = sim
            .nodes()
            .filter(|(_, name, _)| name.starts_with('c'))
            .map(|(_, _, m)| m.counter("ike_established"))
            .sum();
        assert_eq!(
            established, clients as u64,
            "every client must be established for the figure to mean anything"
        );
    }
    println!(
        "    ({}: {} events pending, {} live timers)",
        variant.name(),
        sim.pending_events(),
        sim.live_timers()
    );
    drop(sim);
    live
}

fn main() {
    let mut args = std::env::args().skip(1);
    let clients: usize = args.next().map_or(2000, |n| n.parse().expect("CLIENTS"));
    let crypto = args.next().unwrap_or_else(|| "real".to_owned());
    let bare = measure(Variant::Bare, clients, &crypto);
    let daemons = measure(Variant::Daemons, clients, &crypto);
    println!("{clients} clients, crypto = {crypto}, live heap after 300 s, per client:");
    println!("  {:<40} {:>7} B", Variant::Bare.name(), bare / clients);
    println!(
        "  {:<40} {:>7} B more",
        Variant::Daemons.name(),
        daemons.saturating_sub(bare) / clients
    );
    for variant in [Variant::IkeUdp, Variant::IkeTcp] {
        let live = measure(variant, clients, &crypto);
        println!(
            "  {:<40} {:>7} B more than idle daemons ({} B more than bare hosts)",
            variant.name(),
            live.saturating_sub(daemons) / clients,
            live.saturating_sub(bare) / clients
        );
    }
}
