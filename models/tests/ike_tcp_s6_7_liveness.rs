//! RFC 9329 §6.7: peer liveness over TCP is decided by IKE liveness checks (empty
//! INFORMATIONAL exchanges, RFC 7296 §2.4); TCP keepalives may run on the connection but
//! MUST NOT be taken as proof of IKE peer liveness.
//!
//! The client enables TCP keepalives (1 s idle, 1 s interval, 3 probes) on its connection.
//! What is shown:
//! - answered TCP keepalives do not stand in for IKE liveness checks: with periodic
//!   checks, every check is still sent;
//! - with checks disabled, the keepalives keep the connection up on their own, and the
//!   daemon sends no IKE request because of them;
//! - when the gateway loses its IKE state (a restart: its TCP stack answers the next
//!   keepalive probe with a RST and refuses new connections), the TCP failure does not end
//!   the IKE SA; the unanswered IKE liveness check does, on the IKE schedule; without
//!   checks the client keeps its (stale) SA.

#![allow(clippy::unwrap_used, reason = "tests")]

mod ike_tcp_harness;

use ike_tcp_harness::{Net, Setup, ms, secs};
use models::ike::daemon::TransportPolicy;
use models::ike::sa::{LivenessMode, LivenessPolicy, RetransmitPolicy, Stats};
use models::tcp::Keepalive;
use models::wire::{Ipv4Packet, TcpPacket};
use sim::{Action, Direction, SimTime};

/// A periodic IKE liveness check after this much silence.
const CHECK: u64 = 3;

/// `liveness`: periodic IKE checks every 3 s of silence, else none. `keepalive`: TCP
/// keepalives on the client's connection. The client's exchanges fail 6.04 s after their
/// request (1 s, then ×1.8, two retries: RFC 9329 §6.2 sends once and waits that long).
fn setup(liveness: bool, keepalive: bool) -> Setup {
    let mut policy = TransportPolicy::tcp_only();
    if keepalive {
        policy.tcp.keepalive = Some(Keepalive {
            idle: secs(1),
            interval: secs(1),
            count: 3,
        });
    }
    let mut setup = Setup::new(policy);
    setup.block_udp = true;
    setup.client_ike.liveness = LivenessPolicy {
        interval: liveness.then(|| secs(CHECK)),
        mode: LivenessMode::Periodic,
    };
    setup.client_ike.retransmit = RetransmitPolicy {
        initial: secs(1),
        max_tries: 2,
        ..RetransmitPolicy::default()
    };
    setup
}

fn build(setup: Setup) -> Net {
    let mut net = setup.build();
    let core = net.sim.link_id("core").unwrap();
    net.sim.enable_capture(core);
    net
}

/// The TCP keepalive probes the client sent towards the gateway (seen on "core"): segments
/// without data, SYN, FIN or RST whose sequence number is one below the next to send
/// (RFC 9293 §3.8.4).
fn keepalive_probes(net: &Net) -> usize {
    let core = net.sim.link_id("core").unwrap();
    let mut next: Option<u32> = None;
    let mut probes = 0;
    for (_, bytes) in net.sim.capture(core).unwrap().packets(Direction::AtoB) {
        let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        let seq = tcp.seq_number().0;
        if tcp.syn() {
            next = Some(seq.wrapping_add(1));
            continue;
        }
        let len = u32::try_from(tcp.payload().len()).unwrap();
        if len == 0 && !tcp.fin() && !tcp.rst() && next == Some(seq.wrapping_add(1)) {
            probes += 1;
        } else if len > 0 {
            next = Some(seq.wrapping_add(len));
        }
    }
    probes
}

/// The client's only SA's counters.
fn client_sa(net: &Net) -> Stats {
    let endpoint = net.daemon(net.client).endpoint().unwrap();
    let mut sas = endpoint.sas();
    let (_, sa) = sas.next().unwrap();
    assert!(sas.next().is_none());
    assert!(sa.is_established());
    *sa.stats()
}

fn restart_gateway(net: &mut Net, at: sim::SimDuration) {
    let gateway = net.gateway;
    net.sim
        .schedule(SimTime::ZERO + at, Action::Restart(gateway));
}

#[test]
fn answered_tcp_keepalives_do_not_replace_ike_liveness_checks() {
    let mut net = build(setup(true, true));
    net.run_until(secs(20));
    // TCP keepalives ran on the connection and were answered (it is still the first one).
    let probes = keepalive_probes(&net);
    assert!(probes >= 4, "{probes}");
    assert_eq!(net.client_counter("tcp_reconnect_attempts"), 0);
    // Still, the client sent an IKE liveness check after every 3 s without a protected
    // message: established at about 0.2 s, checks at about 3.2, 6.3, 9.3, 12.4, 15.4 and
    // 18.5 s, on top of IKE_SA_INIT and IKE_AUTH. Had an answered probe counted as proof
    // of liveness, there would be none.
    let stats = client_sa(&net);
    assert_eq!(stats.requests_sent, 2 + 6, "{stats:?}");
    assert_eq!(stats.exchanges_failed, 0);
    assert_eq!(net.client_counter("ike_failed"), 0);
    assert_eq!(net.sas(net.gateway), (1, 1));
}

#[test]
fn tcp_keepalives_alone_keep_the_connection_without_ike_exchanges() {
    let mut with = build(setup(false, true));
    let mut without = build(setup(false, false));
    with.run_until(secs(20));
    without.run_until(secs(20));
    // About one probe per second of silence, each answered: the connection lives on.
    let probes = keepalive_probes(&with);
    assert!(probes >= 15, "{probes}");
    assert_eq!(keepalive_probes(&without), 0);
    for net in [&with, &without] {
        assert_eq!(net.client_counter("tcp_reconnect_attempts"), 0);
        assert_eq!(net.client_counter("tcp_prefixes_sent"), 1);
        assert_eq!(net.client_counter("ike_failed"), 0);
        assert_eq!(net.sas(net.gateway), (1, 1));
        // The daemon counted no IKE exchange for them: IKE_SA_INIT and IKE_AUTH only,
        // with or without keepalives, and nothing reached the gateway's IKE either.
        let stats = client_sa(net);
        assert_eq!(stats.requests_sent, 2, "{stats:?}");
        assert_eq!(stats.messages_received, 2, "{stats:?}");
        let gateway = net.daemon(net.gateway).endpoint().unwrap().sa_totals();
        assert_eq!(gateway.messages_received, 2, "{gateway:?}");
        assert_eq!(net.client_counter("ike_messages_sent"), 2);
    }
}

#[test]
fn lost_ike_state_is_detected_by_the_ike_check_not_by_tcp() {
    let mut net = build(setup(true, true));
    // Established at about 0.2 s; a keepalive probe is answered at about 1.2 s. The gateway
    // restarts at 2 s without its IKE state (and without any listener): the next probe, at
    // about 2.2 s, gets a RST, and reconnecting is refused.
    restart_gateway(&mut net, secs(2));
    net.run_until(secs(3));
    assert!(keepalive_probes(&net) >= 2);
    // TCP noticed: the connection broke and the client tries to re-open it...
    assert!(net.client_counter("tcp_reconnect_attempts") >= 1);
    // ...but that is no verdict on the IKE peer: the SA is still up, nothing failed.
    assert_eq!(net.client_counter("ike_failed"), 0);
    assert_eq!(net.sas(net.client), (1, 1));
    // The periodic check goes out at about 3.2 s and fails 6.04 s later (about 9.3 s).
    net.run_until(ms(9_000));
    assert_eq!(net.client_counter("ike_failed"), 0);
    assert_eq!(net.sas(net.client), (1, 1));
    net.run_until(secs(10));
    assert_eq!(net.client_counter("ike_failed"), 1);
    assert_eq!(net.sas(net.client), (0, 0));
    let totals = net.daemon(net.client).endpoint().unwrap().sa_totals();
    assert_eq!(totals.exchanges_failed, 1, "the liveness check");
    assert_eq!(totals.requests_sent, 3, "IKE_SA_INIT, IKE_AUTH, the check");
}

#[test]
fn without_ike_checks_a_dead_peer_is_not_declared_by_tcp() {
    let mut net = build(setup(false, true));
    restart_gateway(&mut net, secs(2));
    net.run_until(secs(20));
    // TCP keepalives found the broken connection, re-opening keeps failing...
    assert!(net.client_counter("tcp_reconnect_attempts") >= 3);
    assert_eq!(net.client_counter("tcp_reconnections"), 0);
    // ...and the IKE SA is not declared failed for it: only IKE liveness may do that
    // (RFC 9329 §6.7, RFC 7296 §2.4), and it is off, so the stale SA stays.
    assert_eq!(net.client_counter("ike_failed"), 0);
    assert_eq!(net.sas(net.client), (1, 1));
    assert_eq!(client_sa(&net).requests_sent, 2);
}
