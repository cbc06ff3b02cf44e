//! What the NAT does per protocol and with packets it will not translate: ESP
//! address-only bindings, ICMP, TTL, stray and malformed packets, UDP without checksum,
//! and unsolicited inbound TCP.

#![allow(clippy::unwrap_used, reason = "tests")]

mod middlebox_harness;

use std::net::{Ipv4Addr, SocketAddrV4};

use middlebox_harness::{Rig, Seg, ep, raw, tcp, udp};
use models::nat::{NatConfig, UnsolicitedTcp};
use models::wire::{IpProtocol, Ipv4Packet, TcpControl, TcpSeqNumber};

const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);

/// ESP has no ports: outbound takes the public address, inbound goes to the inside host
/// that most recently sent ESP to the packet's source.
#[test]
fn esp_uses_address_only_bindings() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 2);
    let esp = |src, dst, spi: u32| {
        raw(
            src,
            dst,
            IpProtocol::ESP,
            &[&spi.to_be_bytes()[..], &[0; 12]].concat(),
        )
    };
    let got = rig.step("in0", esp(A, GATEWAY, 1));
    assert_eq!(
        (*got[0].rx.src.ip(), *got[0].rx.dst.ip()),
        (PUBLIC, GATEWAY)
    );
    assert_eq!(got[0].rx.payload[..4], 1u32.to_be_bytes());
    let got = rig.step("out", esp(GATEWAY, PUBLIC, 2));
    assert_eq!((got[0].to.as_str(), *got[0].rx.dst.ip()), ("in0", A));
    // B sends to the same gateway: it now gets the inbound ESP.
    rig.step("in1", esp(B, GATEWAY, 3));
    let got = rig.step("out", esp(GATEWAY, PUBLIC, 4));
    assert_eq!((got[0].to.as_str(), *got[0].rx.dst.ip()), ("in1", B));
    // Nobody sent ESP to this one.
    assert!(
        rig.step("out", esp(Ipv4Addr::new(192, 0, 2, 9), PUBLIC, 5))
            .is_empty()
    );
    assert_eq!(rig.count("dropped_no_binding"), 1);
    assert_eq!(rig.count("bindings_created"), 2);
    // Address-only bindings expire like UDP ones by default.
    rig.run_until(sim::SimDuration::from_secs(200));
    assert_eq!(rig.gauge("bindings_active"), 0.0);
}

/// ICMP would need its identifiers or embedded headers translated (RFC 5508), which is
/// not modelled: it is dropped and counted either way.
#[test]
fn icmp_is_dropped_and_counted() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    let echo = [8, 0, 0xf7, 0xff, 0, 0, 0, 0];
    assert!(
        rig.step("in0", raw(A, GATEWAY, IpProtocol::ICMP, &echo))
            .is_empty()
    );
    assert!(
        rig.step("out", raw(GATEWAY, PUBLIC, IpProtocol::ICMP, &echo))
            .is_empty()
    );
    assert_eq!(rig.count("dropped_icmp"), 2);
    assert_eq!(rig.count("bindings_created"), 0);
}

fn with_ttl(mut bytes: Vec<u8>, ttl: u8) -> Vec<u8> {
    let mut ip = Ipv4Packet::new_unchecked(&mut bytes[..]);
    ip.set_hop_limit(ttl);
    ip.fill_checksum();
    bytes
}

/// The NAT is a router hop: TTL 2 leaves with 1 (and a valid header checksum, which
/// `step` checks); TTL 1 or 0 is dropped before any binding is made.
#[test]
fn ttl_is_decremented_and_expiring_packets_dropped() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    let datagram = udp(ep("10.0.0.2:500"), ep("198.51.100.1:500"), b"x");
    let got = rig.step("in0", with_ttl(datagram.clone(), 2));
    assert_eq!(got[0].rx.ip.hop_limit, 1);
    for ttl in [1, 0] {
        assert!(rig.step("in0", with_ttl(datagram.clone(), ttl)).is_empty());
    }
    assert_eq!(rig.count("dropped_ttl"), 2);
    assert_eq!(rig.count("bindings_created"), 1);
}

#[test]
fn stray_and_malformed_packets_are_counted() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    let stray = udp(ep("198.51.100.1:500"), ep("203.0.113.99:500"), b"x");
    assert!(rig.step("out", stray).is_empty());
    assert_eq!(rig.count("dropped_not_for_me"), 1);
    let mut bad_checksum = udp(ep("10.0.0.2:500"), ep("198.51.100.1:500"), b"x");
    bad_checksum[10] ^= 0xff;
    let truncated_tcp = tcp(ep("10.0.0.2:1"), ep("198.51.100.1:2"), Seg::syn(0))[..30].to_vec();
    for bytes in [vec![0x45; 10], bad_checksum, truncated_tcp] {
        rig.send_at(rig.now().since_start(), "in0", bytes);
    }
    rig.advance(sim::SimDuration::from_secs(1));
    assert_eq!(rig.count("dropped_malformed"), 3);
}

/// RFC 768: a zero UDP checksum means "none" and must stay zero through the NAT.
#[test]
fn udp_without_checksum_stays_without() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    let mut datagram = udp(ep("10.0.0.2:500"), ep("198.51.100.1:500"), b"no checksum");
    datagram[26..28].fill(0);
    let got = rig.step("in0", datagram);
    assert_eq!(got[0].rx.udp_checksum, Some(0));
    let got = rig.step("out", {
        let mut d = udp(ep("198.51.100.1:500"), got[0].rx.src, b"none either");
        d[26..28].fill(0);
        d
    });
    assert_eq!(got[0].rx.udp_checksum, Some(0));
}

/// An unsolicited SYN: dropped by default; with `SendRst`, answered with a RST that
/// acknowledges it (RFC 9293 §3.10.7.1, no ACK in the SYN). A RST is never answered.
#[test]
fn unsolicited_tcp_is_dropped_or_reset() {
    let syn = || {
        tcp(
            ep("198.51.100.1:40000"),
            SocketAddrV4::new(PUBLIC, 4500),
            Seg::syn(1000),
        )
    };
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    assert!(rig.step("out", syn()).is_empty());
    assert_eq!(rig.count("dropped_no_binding"), 1);

    let cfg = NatConfig {
        unsolicited_tcp: UnsolicitedTcp::SendRst,
        ..NatConfig::new(PUBLIC)
    };
    let mut rig = Rig::nat(cfg, 1);
    let got = rig.step("out", syn());
    assert_eq!(got.len(), 1);
    let rst = got[0].rx.tcp.unwrap();
    assert_eq!(rst.control, TcpControl::Rst);
    assert_eq!(
        (rst.seq_number, rst.ack_number),
        (TcpSeqNumber(0), Some(TcpSeqNumber(1001)))
    );
    assert_eq!(got[0].rx.src, SocketAddrV4::new(PUBLIC, 4500));
    let rst_in = tcp(
        ep("198.51.100.1:40000"),
        SocketAddrV4::new(PUBLIC, 4500),
        Seg::rst(5),
    );
    assert!(rig.step("out", rst_in).is_empty());
    assert_eq!(rig.count("rst_sent"), 1);
}
