//! Hairpinning (RFC 4787 §6 REQ-9, RFC 5382 REQ-8): an inside host reaches another
//! through the NAT's public address and the other's external port, and sees the sender's
//! external address and port as the source.

#![allow(clippy::unwrap_used, reason = "tests")]

mod middlebox_harness;

use std::net::{Ipv4Addr, SocketAddrV4};

use middlebox_harness::{Rig, Seg, ep, tcp, udp};
use models::nat::{FilteringBehavior, NatConfig};

const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

fn host_a() -> SocketAddrV4 {
    ep("10.0.0.2:5000")
}

fn host_b() -> SocketAddrV4 {
    ep("10.0.1.2:6000")
}

fn public(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(PUBLIC, port)
}

/// A NAT with A on in0 and B on in1, where B has a binding (public:6000, its port kept).
fn rig(cfg: NatConfig) -> Rig {
    let mut rig = Rig::nat(cfg, 2);
    let got = rig.step("in1", udp(host_b(), ep("198.51.100.1:3478"), b"stun"));
    assert_eq!(got[0].rx.src, public(6000));
    rig
}

fn eif() -> NatConfig {
    NatConfig {
        filtering: FilteringBehavior::EndpointIndependent,
        ..NatConfig::new(PUBLIC)
    }
}

#[test]
fn hairpinned_udp_is_translated_both_ways() {
    let mut rig = rig(eif());
    let got = rig.step("in0", udp(host_a(), public(6000), b"to b"));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].to, "in1");
    assert_eq!((got[0].rx.src, got[0].rx.dst), (public(5000), host_b()));
    assert_eq!(got[0].rx.payload, b"to b");
    // One router hop, however many translations.
    assert_eq!(got[0].rx.ip.hop_limit, 63);
    let got = rig.step("in1", udp(host_b(), public(5000), b"to a"));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, "in0");
    assert_eq!((got[0].rx.src, got[0].rx.dst), (public(6000), host_a()));
    assert_eq!(rig.count("hairpinned"), 2);
}

#[test]
fn hairpinned_tcp_checksums_verify() {
    let mut rig = rig(eif());
    let b_tcp = ep("10.0.1.2:7000");
    rig.step("in1", tcp(b_tcp, ep("198.51.100.1:443"), Seg::syn(1)));
    // `step` parses every delivery with checksum verification.
    let got = rig.step("in0", tcp(host_a(), public(7000), Seg::syn(77)));
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].rx.src, got[0].rx.dst), (public(5000), b_tcp));
}

#[test]
fn hairpinning_off_drops() {
    let cfg = NatConfig {
        hairpinning: false,
        ..eif()
    };
    let mut rig = rig(cfg);
    assert!(
        rig.step("in0", udp(host_a(), public(6000), b"x"))
            .is_empty()
    );
    assert_eq!(rig.count("dropped_hairpin"), 1);
    assert_eq!(rig.count("bindings_created"), 1);
}

/// Hairpinned packets are filtered like inbound ones: with address-dependent filtering B
/// must first send to the public address (as in hole punching).
#[test]
fn hairpinned_packets_obey_filtering() {
    let mut rig = rig(NatConfig::new(PUBLIC));
    assert!(
        rig.step("in0", udp(host_a(), public(6000), b"x"))
            .is_empty()
    );
    assert_eq!(rig.count("dropped_filtered"), 1);
    // B -> A's external endpoint: A has sent to the public address, so it is admitted...
    let got = rig.step("in1", udp(host_b(), public(5000), b"punch"));
    assert_eq!(got.len(), 1);
    // ...and now B has too.
    let got = rig.step("in0", udp(host_a(), public(6000), b"x"));
    assert_eq!((got.len(), got[0].to.as_str()), (1, "in1"));
}
