//! Binding lifetimes: UDP idle timeout and refresh (RFC 4787 REQ-5, REQ-6), TCP
//! established and transitory idle timeouts (RFC 5382 REQ-5).

#![allow(clippy::unwrap_used, reason = "tests")]

mod middlebox_harness;

use std::net::{Ipv4Addr, SocketAddrV4};

use middlebox_harness::{Rig, Seg, ep, secs, tcp, udp};
use models::nat::NatConfig;

const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

fn inside() -> SocketAddrV4 {
    ep("10.0.0.2:4500")
}

fn remote() -> SocketAddrV4 {
    ep("198.51.100.1:4500")
}

/// Sends a UDP datagram out now; returns the external endpoint.
fn udp_out(rig: &mut Rig) -> SocketAddrV4 {
    let got = rig.step("in0", udp(inside(), remote(), b"keepalive"));
    assert_eq!(got.len(), 1);
    got[0].rx.src
}

/// Whether a UDP datagram from the remote to `external` now reaches the inside host.
fn udp_in_passes(rig: &mut Rig, external: SocketAddrV4) -> bool {
    let got = rig.step("out", udp(remote(), external, b"reply"));
    got.iter().any(|d| d.to == "in0" && d.rx.dst == inside())
}

#[test]
fn udp_binding_expires_after_two_idle_minutes() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    let external = udp_out(&mut rig);
    rig.run_until(secs(110));
    assert!(udp_in_passes(&mut rig, external));
    // The outbound datagram reached the NAT at 1 ms, so the binding dies at 120.001 s;
    // the expiry timer removes it without any packet.
    rig.run_until(secs(121));
    assert_eq!(rig.count("bindings_expired"), 1);
    assert_eq!(rig.gauge("bindings_active"), 0.0);
    assert!(!udp_in_passes(&mut rig, external));
    assert_eq!(rig.count("dropped_no_binding"), 1);
}

#[test]
fn outbound_traffic_keeps_a_udp_binding_alive() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    let external = udp_out(&mut rig);
    for t in [100, 200] {
        rig.run_until(secs(t));
        assert_eq!(udp_out(&mut rig), external, "same binding at {t} s");
    }
    rig.run_until(secs(310));
    assert!(udp_in_passes(&mut rig, external));
    assert_eq!(rig.count("bindings_expired"), 0);
    rig.run_until(secs(330));
    assert!(!udp_in_passes(&mut rig, external));
    assert_eq!(rig.count("bindings_expired"), 1);
}

/// RFC 4787 REQ-6: inbound refresh is optional; without it a one-way inbound stream lets
/// the binding die.
#[test]
fn inbound_traffic_refreshes_only_when_configured() {
    for inbound_refresh in [false, true] {
        let cfg = NatConfig {
            inbound_refresh,
            ..NatConfig::new(PUBLIC)
        };
        let mut rig = Rig::nat(cfg, 1);
        let external = udp_out(&mut rig);
        rig.run_until(secs(100));
        assert!(udp_in_passes(&mut rig, external));
        rig.run_until(secs(150));
        assert_eq!(udp_in_passes(&mut rig, external), inbound_refresh);
    }
}

#[test]
fn idle_timeouts_are_settable() {
    let cfg = NatConfig {
        udp_idle_timeout: secs(20),
        ..NatConfig::new(PUBLIC)
    };
    let mut rig = Rig::nat(cfg, 1);
    let external = udp_out(&mut rig);
    rig.run_until(secs(19));
    assert!(udp_in_passes(&mut rig, external));
    rig.run_until(secs(21));
    assert!(!udp_in_passes(&mut rig, external));
}

/// Opens a TCP connection through the NAT (SYN, SYN-ACK, ACK); returns the external
/// endpoint.
fn handshake(rig: &mut Rig) -> SocketAddrV4 {
    let external = rig.step("in0", tcp(inside(), remote(), Seg::syn(100)))[0]
        .rx
        .src;
    let got = rig.step("out", tcp(remote(), external, Seg::syn_ack(500, 101)));
    assert_eq!(got.len(), 1);
    rig.step("in0", tcp(inside(), remote(), Seg::ack(101, 501)));
    external
}

/// Whether one binding is left at `t` seconds.
fn alive_at(rig: &mut Rig, t: u64) -> bool {
    rig.run_until(secs(t));
    rig.gauge("bindings_active") == 1.0
}

#[test]
fn half_open_tcp_gets_the_transitory_timeout() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    rig.step("in0", tcp(inside(), remote(), Seg::syn(100)));
    assert!(alive_at(&mut rig, 239));
    assert!(!alive_at(&mut rig, 241));
}

#[test]
fn established_tcp_lives_two_hours_four_minutes() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    let external = handshake(&mut rig);
    assert!(alive_at(&mut rig, 2 * 3600 + 4 * 60 - 1));
    assert!(!alive_at(&mut rig, 2 * 3600 + 4 * 60 + 1));
    let got = rig.step("out", tcp(remote(), external, Seg::ack(501, 101)));
    assert!(got.is_empty());
}

/// A FIN (either way) or a RST moves a connection back to the transitory timeout.
#[test]
fn fin_or_rst_makes_tcp_transitory_again() {
    for closing in ["fin out", "rst in"] {
        let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
        let external = handshake(&mut rig);
        rig.run_until(secs(10));
        match closing {
            "fin out" => rig.step("in0", tcp(inside(), remote(), Seg::fin(101, 501))),
            _ => rig.step("out", tcp(remote(), external, Seg::rst(501))),
        };
        assert!(alive_at(&mut rig, 249), "{closing}");
        assert!(!alive_at(&mut rig, 251), "{closing}");
    }
}

/// The same address and port pair may carry a new connection after a close: its
/// handshake makes the session established again.
#[test]
fn a_new_handshake_after_a_close_is_established_again() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    handshake(&mut rig);
    rig.step("in0", tcp(inside(), remote(), Seg::fin(101, 501)));
    rig.run_until(secs(60));
    handshake(&mut rig);
    assert!(alive_at(&mut rig, 600));
}

/// With endpoint-independent filtering a remote may connect in: the inside host's
/// SYN-ACK opens the session, already established, so it outlives the half-open session
/// that created the mapping.
#[test]
fn an_inbound_connection_is_established_by_the_inside_syn_ack() {
    let cfg = NatConfig {
        filtering: models::nat::FilteringBehavior::EndpointIndependent,
        ..NatConfig::new(PUBLIC)
    };
    let mut rig = Rig::nat(cfg, 1);
    let peer = ep("192.0.2.7:50000");
    let got = rig.step("in0", tcp(inside(), ep("198.51.100.9:9"), Seg::syn(1)));
    let external = got[0].rx.src;
    let got = rig.step("out", tcp(peer, external, Seg::syn(10)));
    assert_eq!(got.len(), 1);
    rig.step("in0", tcp(inside(), peer, Seg::syn_ack(70, 11)));
    rig.step("out", tcp(peer, external, Seg::ack(11, 71)));
    assert!(alive_at(&mut rig, 600));
}
