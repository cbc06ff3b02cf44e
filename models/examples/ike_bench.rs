//! IKE establishment benchmark: `cargo run --release -p ikesim-models --example ike_bench`.
//!
//! 1. `ike`: `N` clients (default 1,000), each a host on its own link to one router, set up
//!    IKEv2 SAs (PSK, X25519, AES-GCM-16-256, an inner address from the pool, a Child SA)
//!    with one gateway, starting uniformly within the first second. The run stops as soon
//!    as every client is established. Prints `ike: <N> SAs/s` of wall time.
//! 2. `crypto`: the same number of the costly primitive operations an SA needs, timed
//!    alone: per side one X25519 key generation and one shared secret (2 X25519 per side),
//!    `IkeSaKeys::initial`, the Child SA `KEYMAT`, the AUTH computation and check, the
//!    NAT_DETECTION hashes, the two SK keys, and the seal and open of an IKE_AUTH-sized
//!    message in each direction. Prints `crypto: <X>% of the run` and `rest: <Y>%`, and the
//!    rest as a share of the crypto (the goal: below 30%).
//!
//! Each measurement runs three times and the fastest counts (the machine may be shared).
//! Optional arguments: the number of clients, then `ike-only` to skip the crypto part (for
//! `perf record`) and `stand-in` to run both parts with the crypto stand-ins
//! (`models::CryptoMode::StandIn`) instead of real DH and AES-GCM.

#![allow(clippy::unwrap_used, reason = "a benchmark panics on broken set-up")]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use models::CryptoMode;
use models::ike::crypto::{
    ChildSaKeys, DhGroup, IkeSaKeys, IvCounter, Prf, SkKey, nat_detection_hash, open, psk_auth,
    seal,
};
use models::ike::daemon::{Connect, IkeDaemon, IkeDaemonConfig};
use models::ike::sa::{
    AddressPool, EndpointConfig, IkeConfig, InnerAddress, Lifetimes, LivenessPolicy,
};
use models::ike::wire::{
    AuthMethod, AuthPayload, CfgAttribute, CfgAttributeType, CfgType, CpPayload, ExchangeType,
    Flags, IdPayload, Message, Payload, Proposal, ProtocolId, SaPayload, TrafficSelector,
    Transform, TransformId, TransformType, TsPayload,
};
use models::ip::{Host, HostConfig, Prefix, Route, Router, RoutingTable};
use models::traffic::Start;
use sim::{IfaceId, LinkParams, NodeId, SimDuration, SimRng, SimTime, Simulation};

/// The allocator of the `ikesim` binary, so the benchmark measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PSK: &[u8] = b"ikesim shared secret";
const GATEWAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const PRF: Prf = Prf::HmacSha256;
/// Runs of each measurement; the fastest counts.
const REPS: usize = 3;

#[expect(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
fn wall() -> Instant {
    Instant::now()
}

/// CPU time of this thread so far: the first field of Linux's
/// `/proc/thread-self/schedstat` (nanoseconds on a CPU). The crypto-versus-rest split is
/// taken in CPU time, so that time spent waiting for a core of a shared machine counts for
/// neither; elsewhere it falls back to wall time since the first call.
fn cpu() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(wall);
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or_else(|| wall() - start, Duration::from_nanos)
}

fn client_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 1)) + u32::try_from(i).unwrap())
}

fn long_lifetimes() -> Lifetimes {
    Lifetimes {
        child_soft: SimDuration::from_secs(100_000),
        child_hard: SimDuration::from_secs(110_000),
        ike_soft: SimDuration::from_secs(100_000),
        ike_hard: SimDuration::from_secs(110_000),
        jitter: SimDuration::ZERO,
    }
}

fn inner_ts() -> Vec<TrafficSelector> {
    vec![TrafficSelector::ipv4(
        Ipv4Addr::new(10, 10, 0, 0),
        Ipv4Addr::new(10, 10, 255, 255),
    )]
}

/// The network: `n` clients, one router, one gateway.
fn build(n: usize, mode: CryptoMode) -> (Simulation, Vec<NodeId>, NodeId) {
    let mut sim = Simulation::new(1);
    let link = LinkParams::new()
        .rate_bps(100_000_000)
        .delay(SimDuration::from_millis(5));
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let addr = client_addr(i);
        let mut c = IkeConfig::new(PSK, IdPayload::ipv4(addr));
        c.inner_address = InnerAddress::Request;
        c.crypto = mode;
        c.remote_ts = inner_ts();
        c.lifetimes = long_lifetimes();
        c.liveness = LivenessPolicy {
            interval: None,
            ..LivenessPolicy::default()
        };
        let cfg = IkeDaemonConfig {
            endpoint: EndpointConfig::initiator(),
            connect: Some(Connect {
                peer: GATEWAY,
                config: c.into(),
                start: Start::Uniform(SimDuration::ZERO, SimDuration::from_secs(1)),
            }),
            nat_keepalive: None,
            replay_window: models::esp::ReplayWindowSize::DEFAULT,
        };
        let id = sim
            .add_node(
                &format!("client-{i}"),
                Box::new(move |_| {
                    Box::new(Host::new(
                        host_config(addr),
                        vec![Box::new(IkeDaemon::new(cfg.clone()))],
                    ))
                }),
            )
            .unwrap();
        clients.push(id);
    }
    let mut routes = RoutingTable::new();
    for i in 0..n {
        let iface = IfaceId(u32::try_from(i).unwrap());
        routes.insert(Prefix::host(client_addr(i)), Route { iface });
    }
    let gw_iface = IfaceId(u32::try_from(n).unwrap());
    routes.insert(Prefix::host(GATEWAY), Route { iface: gw_iface });
    let router = sim
        .add_node(
            "router",
            Box::new(move |_| Box::new(Router::new(routes.clone()))),
        )
        .unwrap();
    let mut g = IkeConfig::new(PSK, IdPayload::ipv4(GATEWAY));
    g.local_ts = inner_ts();
    g.crypto = mode;
    g.lifetimes = long_lifetimes();
    g.liveness.interval = None;
    let mut endpoint = EndpointConfig::responder(g);
    endpoint.pool = Some(AddressPool {
        first: Ipv4Addr::new(10, 8, 0, 1),
        size: u32::try_from(n).unwrap() + 16,
    });
    let gw_cfg = IkeDaemonConfig {
        endpoint,
        connect: None,
        nat_keepalive: None,
        replay_window: models::esp::ReplayWindowSize::DEFAULT,
    };
    let gateway = sim
        .add_node(
            "gateway",
            Box::new(move |_| {
                Box::new(Host::new(
                    host_config(GATEWAY),
                    vec![Box::new(IkeDaemon::new(gw_cfg.clone()))],
                ))
            }),
        )
        .unwrap();
    for (i, &c) in clients.iter().enumerate() {
        sim.connect_sym(&format!("access-{i}"), c, router, link.clone())
            .unwrap();
    }
    sim.connect_sym(
        "core",
        router,
        gateway,
        link.clone().rate_bps(10_000_000_000),
    )
    .unwrap();
    (sim, clients, gateway)
}

fn host_config(addr: Ipv4Addr) -> HostConfig {
    HostConfig {
        addresses: vec![addr],
        routes: RoutingTable::new(),
        ttl: 64,
        forwarding: false,
    }
}

/// Runs until every client is established; returns the wall time, the CPU time and a
/// summary.
fn ike(n: usize, mode: CryptoMode) -> (Duration, Duration, String) {
    let (mut sim, clients, gateway) = build(n, mode);
    let step = SimDuration::from_millis(50);
    let mut until = SimTime::ZERO;
    let started = wall();
    let started_cpu = cpu();
    let mut established = 0;
    while established < n {
        until += step;
        assert!(
            until < SimTime::ZERO + SimDuration::from_secs(60),
            "only {established} of {n} SAs up after 60 s"
        );
        sim.run_until(until).unwrap();
        established = sim
            .nodes()
            .filter(|(id, _, m)| *id != gateway && m.counter("ike_established") > 0)
            .count();
    }
    let elapsed = wall() - started;
    let elapsed_cpu = cpu() - started_cpu;
    sim.finish();
    let report = sim.report();
    let g = sim.nodes().find(|(id, _, _)| *id == gateway).unwrap().2;
    let client_bytes: u64 = sim
        .nodes()
        .filter(|(id, _, _)| clients.contains(id))
        .map(|(_, _, m)| m.counter("ike_bytes_sent"))
        .sum();
    let summary = format!(
        "{} events, {} simulated, gateway: {} established, {} messages received, {} cookies \
         (endpoint), {} retransmits; clients sent {} IKE octets ({} per SA)",
        report.events,
        report.end,
        g.counter("ike_established"),
        g.counter("ike_messages_received"),
        sim.node::<Host>(gateway)
            .unwrap()
            .apps_of::<IkeDaemon>()
            .next()
            .unwrap()
            .endpoint()
            .unwrap()
            .stats()
            .cookies_sent,
        g.counter("ike_retransmits"),
        client_bytes,
        client_bytes / n as u64,
    );
    (elapsed, elapsed_cpu, summary)
}

fn header(exchange_type: ExchangeType, response: bool) -> Message {
    Message {
        spi_i: 0x0011_2233_4455_6677,
        spi_r: 0x8899_aabb_ccdd_eeff,
        exchange_type,
        flags: Flags {
            initiator: !response,
            response,
        },
        message_id: 1,
        payloads: vec![],
    }
}

/// `SK{IDi|IDr, AUTH, CP, SA, TSi, TSr}`, about the size of the daemon's IKE_AUTH.
fn ike_auth_inner(initiator: bool, auth: Vec<u8>) -> Vec<Payload> {
    let id = IdPayload::ipv4(Ipv4Addr::new(100, 64, 0, 1));
    let esp = Proposal {
        number: 1,
        protocol: ProtocolId::ESP,
        spi: vec![0xc0, 0x01, 0xd0, 0x0d],
        transforms: vec![
            Transform::new(TransformType::ENCR, TransformId::ENCR_AES_GCM_16).with_key_length(256),
            Transform::new(TransformType::ESN, TransformId::ESN_NONE),
        ],
    };
    let ts = TsPayload {
        selectors: inner_ts(),
    };
    vec![
        if initiator {
            Payload::IdI(id)
        } else {
            Payload::IdR(id)
        },
        Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: auth,
        }),
        Payload::Cp(CpPayload {
            cfg_type: if initiator {
                CfgType::REQUEST
            } else {
                CfgType::REPLY
            },
            attributes: vec![CfgAttribute::ipv4(
                CfgAttributeType::INTERNAL_IP4_ADDRESS,
                Ipv4Addr::new(10, 8, 0, 1),
            )],
        }),
        Payload::Sa(SaPayload {
            proposals: vec![esp],
        }),
        Payload::TsI(ts.clone()),
        Payload::TsR(ts),
    ]
}

/// Per-primitive CPU times for `n` SAs (both sides).
#[derive(Default)]
struct CryptoTimes {
    dh_generate: Duration,
    dh_shared: Duration,
    key_derivation: Duration,
    auth: Duration,
    nat_detection: Duration,
    sk_keys: Duration,
    seal: Duration,
    open: Duration,
    auth_message_len: usize,
}

impl CryptoTimes {
    fn total(&self) -> Duration {
        self.dh_generate
            + self.dh_shared
            + self.key_derivation
            + self.auth
            + self.nat_detection
            + self.sk_keys
            + self.seal
            + self.open
    }
}

fn crypto(n: usize, mode: CryptoMode) -> CryptoTimes {
    let mut rng = SimRng::from_seed_u64(2);
    let mut t = CryptoTimes::default();
    let (ni, nr) = ([1u8; 32], [2u8; 32]);
    let init_request = vec![0x5a; 300];
    let id_body = IdPayload::ipv4(Ipv4Addr::new(100, 64, 0, 1)).body();
    let mut ivs = IvCounter::default();
    for _ in 0..n {
        // 2 X25519 per side: generate (fixed base) and shared (variable base).
        let s = cpu();
        let (i_secret, i_public) = DhGroup::Curve25519.generate(mode, &mut rng);
        let (r_secret, r_public) = DhGroup::Curve25519.generate(mode, &mut rng);
        t.dh_generate += cpu() - s;
        let s = cpu();
        let i_shared = i_secret.shared(&r_public).unwrap();
        let r_shared = r_secret.shared(&i_public).unwrap();
        t.dh_shared += cpu() - s;

        // NAT_DETECTION: the initiator sends 2, the responder checks 2 and sends 2, the
        // initiator checks 2.
        let s = cpu();
        for k in 0..8u16 {
            black_box(nat_detection_hash(
                7,
                u64::from(k & 1),
                IpAddr::V4(GATEWAY),
                500 + k,
            ));
        }
        t.nat_detection += cpu() - s;

        // SKEYSEED and the SK keys, then the first Child SA's KEYMAT, on each side.
        let s = cpu();
        let i_keys = IkeSaKeys::initial(PRF, &i_shared, &ni, &nr, 7, 9);
        let r_keys = IkeSaKeys::initial(PRF, &r_shared, &ni, &nr, 7, 9);
        black_box(ChildSaKeys::derive(PRF, &i_keys.sk_d, None, &ni, &nr));
        black_box(ChildSaKeys::derive(PRF, &r_keys.sk_d, None, &ni, &nr));
        t.key_derivation += cpu() - s;

        // AUTH: each side computes its own and checks the peer's.
        let s = cpu();
        let i_auth = psk_auth(PRF, PSK, &init_request, &nr, &i_keys.sk_pi, &id_body);
        let r_check = psk_auth(PRF, PSK, &init_request, &nr, &r_keys.sk_pi, &id_body);
        let r_auth = psk_auth(PRF, PSK, &init_request, &ni, &r_keys.sk_pr, &id_body);
        let i_check = psk_auth(PRF, PSK, &init_request, &ni, &i_keys.sk_pr, &id_body);
        assert!(i_auth == r_check && r_auth == i_check);
        t.auth += cpu() - s;

        // Each side's two SK keys.
        let s = cpu();
        let i_ei = SkKey::new(&i_keys.sk_ei, mode);
        let i_er = SkKey::new(&i_keys.sk_er, mode);
        let r_ei = SkKey::new(&r_keys.sk_ei, mode);
        let r_er = SkKey::new(&r_keys.sk_er, mode);
        t.sk_keys += cpu() - s;

        // IKE_AUTH request and response: seal on one side, open on the other.
        let req_inner = ike_auth_inner(true, i_auth);
        let resp_inner = ike_auth_inner(false, r_auth);
        let (req_h, resp_h) = (
            header(ExchangeType::IKE_AUTH, false),
            header(ExchangeType::IKE_AUTH, true),
        );
        let s = cpu();
        let request = seal(&req_h, &req_inner, &i_ei, &mut ivs);
        let response = seal(&resp_h, &resp_inner, &r_er, &mut ivs);
        t.seal += cpu() - s;
        t.auth_message_len = request.len();
        let (req_m, resp_m) = (
            Message::parse(&request).unwrap(),
            Message::parse(&response).unwrap(),
        );
        let s = cpu();
        black_box(open(&req_m, &request, &r_ei).unwrap());
        black_box(open(&resp_m, &response, &i_er).unwrap());
        t.open += cpu() - s;
    }
    t
}

fn pct(part: Duration, whole: Duration) -> f64 {
    100.0 * part.as_secs_f64() / whole.as_secs_f64()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000, |a| a.parse().expect("clients: a number"));
    let flag = |name: &str| std::env::args().skip(2).any(|a| a == name);
    let mode = if flag("stand-in") {
        CryptoMode::StandIn
    } else {
        CryptoMode::Real
    };
    println!("seed 1, {n} clients, crypto {mode:?}");
    // The machine may be shared: the best of a few runs, for both measurements.
    let (wall_run, run, summary) = (0..REPS)
        .map(|_| ike(n, mode))
        .min_by_key(|(d, _, _)| *d)
        .unwrap();
    println!(
        "ike: {:.0} SAs/s ({n} SAs in {:.3} s wall, {:.3} s CPU)",
        n as f64 / wall_run.as_secs_f64(),
        wall_run.as_secs_f64(),
        run.as_secs_f64()
    );
    println!("  {summary}");
    if flag("ike-only") {
        return;
    }
    let c = (0..REPS)
        .map(|_| crypto(n, mode))
        .min_by_key(CryptoTimes::total)
        .unwrap();
    let total = c.total();
    let rest = run.saturating_sub(total);
    println!(
        "crypto: {:.1}% of the run's CPU time ({:.3} s for {n} SAs, {:.1} us per SA)",
        pct(total, run),
        total.as_secs_f64(),
        total.as_secs_f64() * 1e6 / n as f64
    );
    for (name, d) in [
        ("X25519 generate (2 per SA)", c.dh_generate),
        ("X25519 shared (2 per SA)", c.dh_shared),
        ("IKE SA + Child SA key derivation (2 + 2)", c.key_derivation),
        ("PSK AUTH compute + check (4)", c.auth),
        ("NAT_DETECTION SHA-1 (8)", c.nat_detection),
        ("SK key setup (4)", c.sk_keys),
        (
            &format!("SK seal (2, IKE_AUTH ~{} octets)", c.auth_message_len),
            c.seal,
        ),
        ("SK open (2)", c.open),
    ] {
        println!(
            "  {name:<45} {:>6.1}% of crypto, {:>7.2} us per SA",
            pct(d, total),
            d.as_secs_f64() * 1e6 / n as f64
        );
    }
    println!(
        "rest: {:.1}% of the run ({:.3} s), {:.0}% of the crypto (goal: below 30%)",
        pct(rest, run),
        rest.as_secs_f64(),
        pct(rest, total)
    );
}
