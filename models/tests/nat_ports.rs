//! External port assignment (RFC 4787 §4.2.1): preservation, sequential and random
//! assignment, and exhaustion of the range.

#![allow(clippy::unwrap_used, reason = "tests")]

mod middlebox_harness;

use std::net::{Ipv4Addr, SocketAddrV4};

use middlebox_harness::{Rig, ep, secs, udp};
use models::nat::{Nat, NatConfig, NatConfigError, PortAssignment};

const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

fn remote() -> SocketAddrV4 {
    ep("198.51.100.1:500")
}

/// Sends a datagram from `inside` on inside probe `probe`; returns the external port, or
/// `None` if the NAT dropped it.
fn port_for(rig: &mut Rig, probe: &str, inside: &str) -> Option<u16> {
    let got = rig.step(probe, udp(ep(inside), remote(), b"x"));
    got.first().map(|d| d.rx.src.port())
}

fn config(port_assignment: PortAssignment) -> NatConfig {
    NatConfig {
        port_assignment,
        ..NatConfig::new(PUBLIC)
    }
}

/// Two inside networks may use the same address: the second host's port clashes, falls
/// back to the first port of the range, and replies still find their interface.
#[test]
fn preserve_keeps_free_ports_and_falls_back_to_sequential() {
    let mut rig = Rig::nat(config(PortAssignment::Preserve), 2);
    assert_eq!(port_for(&mut rig, "in0", "10.0.0.2:5000"), Some(5000));
    assert_eq!(port_for(&mut rig, "in1", "10.0.0.2:5000"), Some(1024));
    // Ports below the range are preserved too, as IKE's 500 on Linux.
    assert_eq!(port_for(&mut rig, "in0", "10.0.0.2:500"), Some(500));
    for (port, probe) in [(5000, "in0"), (1024, "in1")] {
        let got = rig.step("out", udp(remote(), SocketAddrV4::new(PUBLIC, port), b"r"));
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].to.as_str(), got[0].rx.dst),
            (probe, ep("10.0.0.2:5000"))
        );
    }
}

#[test]
fn sequential_counts_up_from_the_start_of_the_range() {
    let mut rig = Rig::nat(config(PortAssignment::Sequential), 2);
    let ports = [
        port_for(&mut rig, "in0", "10.0.0.2:5000"),
        port_for(&mut rig, "in0", "10.0.0.2:5001"),
        port_for(&mut rig, "in1", "10.0.1.2:5000"),
    ];
    assert_eq!(ports, [Some(1024), Some(1025), Some(1026)]);
}

/// Ports for ten flows under `PortAssignment::Random` with root seed `seed`.
fn random_ports(seed: u64) -> Vec<u16> {
    let mut rig = Rig::nat_seeded(seed, config(PortAssignment::Random), 1);
    (0..10)
        .map(|i| port_for(&mut rig, "in0", &format!("10.0.0.2:{}", 5000 + i)).unwrap())
        .collect()
}

#[test]
fn random_is_deterministic_per_seed_and_differs_across_seeds() {
    let a = random_ports(7);
    assert_eq!(a, random_ports(7));
    assert_ne!(a, random_ports(8));
    assert!(a.iter().all(|p| *p >= 1024));
    let mut distinct = a.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), a.len());
}

#[test]
fn exhaustion_is_counted_and_expiry_frees_ports() {
    for assignment in [PortAssignment::Sequential, PortAssignment::Random] {
        let cfg = NatConfig {
            port_range: 2000..=2002,
            ..config(assignment)
        };
        let mut rig = Rig::nat(cfg, 1);
        let mut ports: Vec<u16> = (0..3)
            .map(|i| port_for(&mut rig, "in0", &format!("10.0.0.2:{}", 6000 + i)).unwrap())
            .collect();
        ports.sort_unstable();
        assert_eq!(ports, [2000, 2001, 2002], "{assignment:?}");
        assert_eq!(port_for(&mut rig, "in0", "10.0.0.2:6003"), None);
        assert_eq!(rig.count("dropped_ports_exhausted"), 1);
        rig.run_until(secs(200));
        let port = port_for(&mut rig, "in0", "10.0.0.2:6003").unwrap();
        assert!((2000..=2002).contains(&port), "{assignment:?}");
    }
}

/// A preserved port inside the range uses up the range like any other.
#[test]
fn preserved_ports_count_against_the_range() {
    let cfg = NatConfig {
        port_range: 2000..=2001,
        ..config(PortAssignment::Preserve)
    };
    let mut rig = Rig::nat(cfg, 2);
    assert_eq!(port_for(&mut rig, "in0", "10.0.0.2:2001"), Some(2001));
    assert_eq!(port_for(&mut rig, "in1", "10.0.0.2:2001"), Some(2000));
    assert_eq!(port_for(&mut rig, "in1", "10.0.0.2:2002"), Some(2002));
    assert_eq!(port_for(&mut rig, "in0", "10.0.0.2:2002"), None);
}

#[test]
fn unusable_port_ranges_are_rejected() {
    let bad = |(lo, hi): (u16, u16)| {
        let port_range = lo..=hi;
        Nat::new(NatConfig {
            port_range,
            ..NatConfig::new(PUBLIC)
        })
        .err()
    };
    assert_eq!(
        bad((3, 2)),
        Some(NatConfigError::EmptyPortRange { lo: 3, hi: 2 })
    );
    assert_eq!(bad((0, 100)), Some(NatConfigError::PortZero));
    assert_eq!(bad((1, 1)), None);
}
