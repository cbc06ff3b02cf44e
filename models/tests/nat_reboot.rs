//! A NAT reboot loses every binding, and so breaks the TCP connections through it: the
//! remote's next segment is dropped, or answered with a RST when configured.

#![allow(clippy::unwrap_used, reason = "tests")]

mod middlebox_harness;

use std::net::{Ipv4Addr, SocketAddrV4};

use middlebox_harness::{Rig, Seg, ep, secs, tcp};
use models::nat::{NatCommand, NatConfig, UnsolicitedTcp};
use models::wire::{TcpControl, TcpSeqNumber};
use sim::Action;

const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

fn client() -> SocketAddrV4 {
    ep("10.0.0.2:40000")
}

fn server() -> SocketAddrV4 {
    ep("198.51.100.1:4500")
}

/// A connection with some data each way: the client's next sequence number is 201, the
/// server's 601. Returns the client's external endpoint.
fn established(rig: &mut Rig) -> SocketAddrV4 {
    let external = rig.step("in0", tcp(client(), server(), Seg::syn(100)))[0]
        .rx
        .src;
    rig.step("out", tcp(server(), external, Seg::syn_ack(500, 101)));
    rig.step("in0", tcp(client(), server(), Seg::data(101, 501, 100)));
    let got = rig.step("out", tcp(server(), external, Seg::data(501, 201, 100)));
    assert_eq!(got.len(), 1);
    external
}

fn reboot(rig: &mut Rig) {
    let now = rig.now().since_start();
    rig.command_at(now, Box::new(NatCommand::Reboot));
    rig.advance(secs(1));
    assert_eq!(rig.count("bindings_dropped_reboot"), 1);
    assert_eq!(rig.gauge("bindings_active"), 0.0);
}

#[test]
fn reboot_drops_the_next_inbound_segment() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    let external = established(&mut rig);
    reboot(&mut rig);
    let got = rig.step("out", tcp(server(), external, Seg::data(601, 201, 100)));
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(rig.count("dropped_no_binding"), 1);
    assert_eq!(rig.count("rst_sent"), 0);
}

/// With [`UnsolicitedTcp::SendRst`] the server learns at once: the RST carries the
/// segment's acknowledgment number as its sequence number (RFC 9293 §3.10.7.1), which is
/// the server's RCV.NXT, so the server accepts it (RFC 5961 §3.2).
#[test]
fn reboot_answers_the_next_inbound_segment_with_a_rst_when_configured() {
    let cfg = NatConfig {
        unsolicited_tcp: UnsolicitedTcp::SendRst,
        ..NatConfig::new(PUBLIC)
    };
    let mut rig = Rig::nat(cfg, 1);
    let external = established(&mut rig);
    reboot(&mut rig);
    let got = rig.step("out", tcp(server(), external, Seg::data(601, 201, 100)));
    assert_eq!(got.len(), 1, "{got:?}");
    let (rst, to) = (&got[0].rx, &got[0].to);
    assert_eq!(to, "out");
    assert_eq!((rst.src, rst.dst), (external, server()));
    let seg = rst.tcp.unwrap();
    assert_eq!(seg.control, TcpControl::Rst);
    assert_eq!(seg.seq_number, TcpSeqNumber(201));
    assert_eq!(rig.count("rst_sent"), 1);
    assert_eq!(rig.count("dropped_no_binding"), 1);
}

/// If the client speaks first after the reboot, the NAT picks the connection up
/// mid-stream and, preserving the port, gives it the same external endpoint: the server
/// cannot tell anything happened.
#[test]
fn client_first_after_reboot_resumes_on_the_same_port() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    let external = established(&mut rig);
    reboot(&mut rig);
    let got = rig.step("in0", tcp(client(), server(), Seg::data(201, 601, 10)));
    assert_eq!(got[0].rx.src, external);
    let got = rig.step("out", tcp(server(), external, Seg::ack(601, 211)));
    assert_eq!(got.len(), 1);
    // Picked up as established: it outlives the 4-minute transitory timeout.
    rig.run_until(secs(600));
    assert_eq!(rig.gauge("bindings_active"), 1.0);
}

/// An engine crash and restart loses the bindings too (the factory builds an empty NAT),
/// with packets lost while it is down.
#[test]
fn crash_and_restart_lose_the_bindings() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    let external = established(&mut rig);
    let t = rig.now();
    let nat = rig.mid;
    rig.sim.schedule(t, Action::Crash(nat));
    rig.sim.schedule(t + secs(2), Action::Restart(nat));
    let lost = rig.step("out", tcp(server(), external, Seg::data(601, 201, 100)));
    assert!(lost.is_empty());
    rig.run_until(secs(10));
    let got = rig.step("out", tcp(server(), external, Seg::data(601, 201, 100)));
    assert!(got.is_empty());
    assert_eq!(rig.count("dropped_no_binding"), 1);
    assert_eq!(rig.gauge("bindings_active"), 0.0);
}
