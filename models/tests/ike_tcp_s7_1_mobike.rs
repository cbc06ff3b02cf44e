//! RFC 9329 §7.1: MOBIKE (RFC 4555) with TCP encapsulation, on a client with two
//! networks (`ike_tcp_harness::mobile`): an open one and one that blocks UDP and ESP.

#![allow(clippy::unwrap_used, reason = "tests")]

mod ike_tcp_harness;

use ike_tcp_harness::{CELL, WIFI, mobile, secs};
use models::ike::daemon::{
    IkeDaemon, MessageIdOnSwitch, MobikeCommand, MobikePolicy, NatDetectionOnSwitch,
};
use models::ike::sa::{IkeSa, SaId};
use models::ip::Host;
use sim::{Action, Metrics, NodeId, SimDuration, SimTime, Simulation};

struct Mobile {
    sim: Simulation,
    client: NodeId,
    gateway: NodeId,
}

impl Mobile {
    fn new(seed: u64, cell_nat: bool, policy: MobikePolicy) -> Self {
        let (sim, client, gateway) = mobile(seed, cell_nat, policy);
        Self {
            sim,
            client,
            gateway,
        }
    }

    fn run_until(&mut self, t: SimDuration) {
        self.sim.run_until(SimTime::ZERO + t).unwrap();
    }

    fn move_to(&mut self, at: SimDuration, iface: u32) {
        self.sim.schedule(
            SimTime::ZERO + at,
            Action::Custom {
                node: self.client,
                payload: Box::new(MobikeCommand::Move { iface }),
            },
        );
    }

    fn metrics(&self, node: NodeId) -> &Metrics {
        self.sim
            .nodes()
            .find(|(id, _, _)| *id == node)
            .map(|(_, _, m)| m)
            .unwrap()
    }

    fn client_counter(&self, name: &str) -> u64 {
        self.metrics(self.client).counter(name)
    }

    fn gateway_counter(&self, name: &str) -> u64 {
        self.metrics(self.gateway).counter(name)
    }

    fn daemon(&self, node: NodeId) -> &IkeDaemon {
        self.sim
            .node::<Host>(node)
            .unwrap()
            .apps_of::<IkeDaemon>()
            .next()
            .unwrap()
    }

    fn sa(&self, node: NodeId) -> (SaId, &IkeSa) {
        self.daemon(node).endpoint().unwrap().sas().next().unwrap()
    }

    /// Echo replies the client got.
    fn echoes(&self) -> u64 {
        self.client_counter("udp_echoes")
    }

    /// Runs to `t` and asserts that pings were answered over the last second of it.
    #[track_caller]
    fn assert_esp_flows_until(&mut self, t: SimDuration) {
        self.run_until(t.saturating_sub(secs(1)));
        let before = self.echoes();
        self.run_until(t);
        assert!(
            self.echoes() >= before + 8,
            "ESP must flow both ways before {t:?}: {} -> {}",
            before,
            self.echoes()
        );
    }
}

#[test]
fn rfc9329_7_1_udp_blocked_the_same_update_goes_over_tcp_then_a_corrected_one() {
    let mut net = Mobile::new(1, false, MobikePolicy::default());
    net.move_to(secs(10), 1);
    net.assert_esp_flows_until(secs(9));
    let (_, sa) = net.sa(net.client);
    assert!(sa.mobike_negotiated());
    let (ids_before, _) = sa.message_ids();
    net.run_until(secs(40));
    // UDP was tried first (RFC 9329 §7.1 SHOULD), then TCP after one retransmission.
    assert_eq!(net.client_counter("mobike_tcp_switches"), 1);
    let (id, sa) = net.sa(net.client);
    assert!(net.daemon(net.client).is_tcp(id));
    assert_eq!(*sa.local().ip(), CELL);
    // Two UPDATE exchanges: the UDP one, continued over TCP with the same Message ID (no
    // new exchange, RFC 9329 §7.1 MUST NOT), and the corrected one with NAT-D for TCP.
    assert_eq!(sa.message_ids().0, ids_before + 2);
    assert_eq!(sa.mobike_stats().updates_sent, 2);
    assert_eq!(net.client_counter("mobike_updates_sent"), 2);
    // The gateway applied both over TCP; the second left it with no NAT, as there is none.
    let (gid, gsa) = net.sa(net.gateway);
    assert!(net.daemon(net.gateway).is_tcp(gid));
    assert_eq!(gsa.mobike_stats().updates_received, 2);
    assert!(!gsa.nat_status().any(), "no NAT on the path");
    assert_eq!(gsa.mobike_stats().rr_checks, 0, "no COOKIE2 check over TCP");
    assert_eq!(
        net.gateway_counter("mobike_nat_detected"),
        1,
        "the UDP-built NAT-D"
    );
    assert_eq!(gsa.stats().dropped_unexpected, 0);
    assert_eq!(net.client_counter("mobike_false_nat"), 1);
    assert!(
        net.metrics(net.client)
            .get("mobike_handover_tcp_ns")
            .is_some()
    );
    // ESP follows IKE onto TCP, both ways.
    net.assert_esp_flows_until(secs(45));
    assert!(net.client_counter("esp_tcp_bytes_out") > 0);
    assert!(net.gateway_counter("esp_tcp_bytes_out") > 0);
}

#[test]
fn rfc9329_7_1_back_on_an_open_network_udp_again_and_the_tcp_connection_closed() {
    let mut net = Mobile::new(2, false, MobikePolicy::default());
    net.move_to(secs(10), 1);
    net.move_to(secs(40), 0);
    net.assert_esp_flows_until(secs(35));
    let (id, _) = net.sa(net.client);
    assert!(net.daemon(net.client).is_tcp(id));
    let udp_bytes = net.client_counter("esp_ip_bytes_out");
    net.run_until(secs(41));
    // Answered over UDP at once: ESP leaves TCP (RFC 9329 §7.1), the connection is closed
    // by the initiator (SHOULD), and the gateway checked the return route (RFC 4555 §3.7).
    assert_eq!(net.client_counter("mobike_udp_returns"), 1);
    assert_eq!(net.client_counter("mobike_tcp_closed"), 1);
    assert_eq!(net.client_counter("mobike_tcp_switches"), 1);
    let (id, sa) = net.sa(net.client);
    assert!(!net.daemon(net.client).is_tcp(id));
    assert_eq!(net.daemon(net.client).sa_connection(id), None);
    assert_eq!(*sa.local().ip(), WIFI);
    let (gid, gsa) = net.sa(net.gateway);
    assert!(!net.daemon(net.gateway).is_tcp(gid));
    assert_eq!(gsa.mobike_stats().rr_checks, 1);
    assert_eq!(*gsa.esp_remote().ip(), WIFI);
    assert!(
        net.metrics(net.client)
            .get("mobike_handover_udp_ns")
            .is_some()
    );
    net.assert_esp_flows_until(secs(50));
    assert!(
        net.client_counter("esp_ip_bytes_out") > udp_bytes,
        "ESP over UDP again"
    );
    assert!(net.client_counter("tcp_peer_finished") + net.gateway_counter("tcp_peer_finished") > 0);
}

#[test]
fn rfc9329_7_1_a_new_message_id_over_tcp_is_never_answered() {
    let policy = MobikePolicy {
        message_id: MessageIdOnSwitch::New,
        ..MobikePolicy::default()
    };
    let mut net = Mobile::new(3, false, policy);
    net.move_to(secs(10), 1);
    net.run_until(secs(60));
    // The gateway's window still expects the ID of the UDP request it never saw
    // (RFC 7296 §2.3): it drops the new one, and nothing else is ever answered.
    assert_eq!(net.client_counter("mobike_tcp_switches"), 1);
    let (_, gsa) = net.sa(net.gateway);
    assert!(gsa.stats().dropped_unexpected >= 1);
    assert_eq!(gsa.mobike_stats().updates_received, 0);
    let (_, sa) = net.sa(net.client);
    assert!(sa.mobike_update_pending());
    let before = net.echoes();
    net.run_until(secs(70));
    assert_eq!(net.echoes(), before, "no ESP: the SA never moved");
    // Without retransmission over TCP the exchange fails after the whole schedule
    // (RFC 9329 §6.2), and with it the IKE SA.
    net.run_until(secs(250));
    assert_eq!(net.client_counter("ike_failed"), 1);
}

#[test]
fn rfc9329_7_1_stale_nat_detection_leaves_the_gateway_with_a_false_nat() {
    let policy = MobikePolicy {
        nat_detection: NatDetectionOnSwitch::Stale,
        ..MobikePolicy::default()
    };
    let mut net = Mobile::new(4, false, policy);
    net.move_to(secs(10), 1);
    net.run_until(secs(40));
    let (_, sa) = net.sa(net.client);
    assert_eq!(sa.mobike_stats().updates_sent, 1, "no corrected update");
    let (_, gsa) = net.sa(net.gateway);
    assert!(gsa.nat_status().any(), "a NAT that is not there");
    assert_eq!(net.gateway_counter("mobike_nat_detected"), 1);
    assert_eq!(net.client_counter("mobike_false_nat"), 1);
    // ESP over TCP works anyway (RFC 9329 §6.5: a NAT changes nothing on TCP).
    net.assert_esp_flows_until(secs(45));
}

#[test]
fn rfc4555_3_5_udp_to_tcp_through_a_nat_detects_the_real_nat() {
    let mut net = Mobile::new(5, true, MobikePolicy::default());
    net.move_to(secs(10), 1);
    net.run_until(secs(40));
    let (id, sa) = net.sa(net.client);
    assert!(net.daemon(net.client).is_tcp(id));
    assert!(sa.nat_status().local_behind_nat);
    let (_, gsa) = net.sa(net.gateway);
    assert!(gsa.nat_status().remote_behind_nat);
    assert_eq!(net.client_counter("mobike_false_nat"), 0);
    net.assert_esp_flows_until(secs(45));
}
