//! Whatever arrives, on any interface, the NAT never panics: arbitrary bytes, and valid
//! packets with random bytes changed and the IPv4 header checksum fixed up (so they get
//! past the header check into the transport and translation code).

#![allow(clippy::unwrap_used, reason = "tests")]

mod middlebox_harness;

use std::net::Ipv4Addr;

use middlebox_harness::{Rig, Seg, ep, ms, tcp, udp};
use models::nat::{NatCommand, NatConfig, UnsolicitedTcp};
use models::wire::Ipv4Packet;
use proptest::prelude::*;

const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

/// A valid packet to mutate: UDP or TCP, outbound or inbound to a mapped port.
fn seed_packet(kind: u8) -> Vec<u8> {
    match kind % 4 {
        0 => udp(ep("10.0.0.2:500"), ep("198.51.100.1:500"), b"ike"),
        1 => tcp(
            ep("10.0.0.2:4500"),
            ep("198.51.100.1:4500"),
            Seg::data(1, 2, 9),
        ),
        2 => udp(ep("198.51.100.1:500"), ep("203.0.113.1:500"), b"reply"),
        _ => tcp(ep("198.51.100.1:4500"), ep("203.0.113.1:4500"), Seg::syn(7)),
    }
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
    let len = bytes.len();
    for &(at, value) in edits {
        bytes[at % len] = value;
    }
    if let Ok(mut ip) = Ipv4Packet::new_checked(&mut bytes[..]) {
        ip.fill_checksum();
    }
    bytes
}

proptest! {
    #[test]
    fn nat_survives_anything(
        packets in proptest::collection::vec(
            (any::<bool>(), prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..80),
                (any::<u8>(), proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6))
                    .prop_map(|(kind, edits)| mutate(seed_packet(kind), &edits)),
            ]),
            1..24,
        ),
        hairpinning in any::<bool>(),
        reset in any::<bool>(),
    ) {
        let cfg = NatConfig {
            hairpinning,
            unsolicited_tcp: if reset { UnsolicitedTcp::SendRst } else { UnsolicitedTcp::Drop },
            ..NatConfig::new(PUBLIC)
        };
        let mut rig = Rig::nat(cfg, 1);
        // Open bindings the mutated packets may hit.
        for kind in 0..2 {
            rig.send_at(ms(0), "in0", seed_packet(kind));
        }
        for (i, (inbound, bytes)) in packets.into_iter().enumerate() {
            let at = ms(10 + i as u64);
            rig.send_at(at, if inbound { "out" } else { "in0" }, bytes);
            if i == 10 {
                rig.command_at(at, Box::new(NatCommand::Reboot));
            }
        }
        rig.command_at(ms(5), Box::new("not a command"));
        rig.run_until(ms(500));
        rig.sim.finish();
        prop_assert_eq!(rig.count("invalid_commands"), 1);
    }
}
