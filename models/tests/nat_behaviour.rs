//! RFC 4787 §4.1 mapping and §5 filtering: all nine combinations, for UDP and for TCP
//! (RFC 5382 §4 uses the same behaviours).
//!
//! For each: the inside host A sends to R1; then R1, R1's address from another port, and
//! another address R2 send to A's external endpoint (which get through shows the
//! filtering); then A sends to R1's address from another port and to R2 (whether they leave
//! from the same external port shows the mapping).

#![allow(clippy::unwrap_used, reason = "tests")]

mod middlebox_harness;

use std::net::{Ipv4Addr, SocketAddrV4};

use middlebox_harness::{Rig, Seg, ep, tcp, udp};
use models::nat::{FilteringBehavior as F, MappingBehavior as M, NatConfig};
use models::wire::IpProtocol;

const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

struct Case {
    mapping: M,
    filtering: F,
    /// Inbound from R1, from R1's address on another port, from R2.
    admitted: [bool; 3],
    /// Same external port towards R1's address on another port, towards R2.
    reused: [bool; 2],
}

#[rustfmt::skip]
const CASES: [Case; 9] = [
    Case { mapping: M::EndpointIndependent, filtering: F::EndpointIndependent, admitted: [true, true, true], reused: [true, true] },
    Case { mapping: M::EndpointIndependent, filtering: F::AddressDependent, admitted: [true, true, false], reused: [true, true] },
    Case { mapping: M::EndpointIndependent, filtering: F::AddressAndPortDependent, admitted: [true, false, false], reused: [true, true] },
    Case { mapping: M::AddressDependent, filtering: F::EndpointIndependent, admitted: [true, true, true], reused: [true, false] },
    Case { mapping: M::AddressDependent, filtering: F::AddressDependent, admitted: [true, true, false], reused: [true, false] },
    Case { mapping: M::AddressDependent, filtering: F::AddressAndPortDependent, admitted: [true, false, false], reused: [true, false] },
    Case { mapping: M::AddressAndPortDependent, filtering: F::EndpointIndependent, admitted: [true, true, true], reused: [false, false] },
    Case { mapping: M::AddressAndPortDependent, filtering: F::AddressDependent, admitted: [true, true, false], reused: [false, false] },
    Case { mapping: M::AddressAndPortDependent, filtering: F::AddressAndPortDependent, admitted: [true, false, false], reused: [false, false] },
];

/// A first packet from `src` to `dst` of `protocol` (a SYN, or a SYN-ACK when `reply`).
fn packet(protocol: IpProtocol, src: SocketAddrV4, dst: SocketAddrV4, reply: bool) -> Vec<u8> {
    match protocol {
        IpProtocol::UDP => udp(src, dst, b"hello"),
        _ if reply => tcp(src, dst, Seg::syn_ack(9000, 1001)),
        _ => tcp(src, dst, Seg::syn(1000)),
    }
}

/// Sends from inside host A to `remote`; returns the external endpoint it left from.
fn send_out(rig: &mut Rig, protocol: IpProtocol, remote: SocketAddrV4) -> SocketAddrV4 {
    let got = rig.step("in0", packet(protocol, ep("10.0.0.2:5000"), remote, false));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].to.as_str(), got[0].rx.dst), ("out", remote));
    assert_eq!(*got[0].rx.src.ip(), PUBLIC);
    got[0].rx.src
}

fn check(case: &Case, protocol: IpProtocol) {
    let label = format!("{:?}/{:?} {protocol:?}", case.mapping, case.filtering);
    let cfg = NatConfig {
        mapping: case.mapping,
        filtering: case.filtering,
        ..NatConfig::new(PUBLIC)
    };
    let mut rig = Rig::nat(cfg, 1);
    let (r1, r1_other_port, r2) = (
        ep("198.51.100.1:7000"),
        ep("198.51.100.1:7001"),
        ep("198.51.100.2:7000"),
    );

    let external = send_out(&mut rig, protocol, r1);
    let admitted = [r1, r1_other_port, r2].map(|remote| {
        let got = rig.step("out", packet(protocol, remote, external, true));
        got.iter()
            .any(|d| d.to == "in0" && d.rx.src == remote && d.rx.dst == ep("10.0.0.2:5000"))
    });
    assert_eq!(admitted, case.admitted, "{label}: inbound admitted");
    let filtered = case.admitted.iter().filter(|a| !**a).count() as u64;
    assert_eq!(rig.count("dropped_filtered"), filtered, "{label}");

    let reused = [r1_other_port, r2].map(|remote| send_out(&mut rig, protocol, remote) == external);
    assert_eq!(reused, case.reused, "{label}: mapping reused");
    let created = 1 + case.reused.iter().filter(|r| !**r).count() as u64;
    assert_eq!(rig.count("bindings_created"), created, "{label}");
    assert_eq!(rig.gauge("bindings_active"), created as f64, "{label}");
}

#[test]
fn nine_combinations_udp() {
    for case in &CASES {
        check(case, IpProtocol::UDP);
    }
}

#[test]
fn nine_combinations_tcp() {
    for case in &CASES {
        check(case, IpProtocol::TCP);
    }
}

/// With address-dependent filtering, a remote's permission comes from the inside host
/// having sent to its address: once A sends to R2, R2 gets through too.
#[test]
fn sending_to_a_remote_opens_the_filter_for_it() {
    let mut rig = Rig::nat(NatConfig::new(PUBLIC), 1);
    let external = send_out(&mut rig, IpProtocol::UDP, ep("198.51.100.1:7000"));
    let from_r2 = |rig: &mut Rig| {
        rig.step("out", udp(ep("198.51.100.2:9"), external, b"x"))
            .len()
    };
    assert_eq!(from_r2(&mut rig), 0);
    send_out(&mut rig, IpProtocol::UDP, ep("198.51.100.2:53"));
    assert_eq!(from_r2(&mut rig), 1);
}
