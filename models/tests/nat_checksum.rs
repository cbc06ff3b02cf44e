//! Every translated packet re-parses with `models::wire`: the IPv4 header checksum and the
//! UDP or TCP checksum still verify after the NAT's incremental updates (RFC 1624), for
//! random addresses, ports, payloads, flags and port assignments, both ways.

#![allow(clippy::unwrap_used, reason = "tests")]

mod middlebox_harness;

use std::net::{Ipv4Addr, SocketAddrV4};

use middlebox_harness::{Rig, Seg, tcp, udp};
use models::nat::{NatConfig, PortAssignment};
use models::wire::TcpControl;
use proptest::prelude::*;

const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

#[derive(Clone, Debug)]
enum Proto {
    /// UDP, with the checksum zeroed ("none", RFC 768) if the flag is set.
    Udp(bool),
    Tcp(TcpControl, u32, Option<u32>),
}

fn proto() -> impl Strategy<Value = Proto> {
    let control = prop_oneof![
        Just(TcpControl::Syn),
        Just(TcpControl::None),
        Just(TcpControl::Psh),
        Just(TcpControl::Fin),
    ];
    prop_oneof![
        any::<bool>().prop_map(Proto::Udp),
        (control, any::<u32>(), any::<Option<u32>>()).prop_map(|(c, s, a)| Proto::Tcp(c, s, a)),
    ]
}

fn assignment() -> impl Strategy<Value = PortAssignment> {
    prop_oneof![
        Just(PortAssignment::Preserve),
        Just(PortAssignment::Sequential),
        Just(PortAssignment::Random),
    ]
}

fn build(proto: &Proto, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    match *proto {
        Proto::Udp(no_checksum) => {
            let mut bytes = udp(src, dst, payload);
            if no_checksum {
                bytes[26..28].fill(0);
            }
            bytes
        }
        Proto::Tcp(control, seq, ack) => {
            let len = payload.len();
            tcp(
                src,
                dst,
                Seg {
                    control,
                    seq,
                    ack,
                    len,
                },
            )
        }
    }
}

proptest! {
    #[test]
    fn translated_packets_reparse_with_valid_checksums(
        proto in proto(),
        assignment in assignment(),
        inside_host in any::<[u8; 3]>(),
        inside_port in 1u16..,
        remote_addr in any::<u32>().prop_filter("not the public address", |a| *a != u32::from(PUBLIC)),
        remote_port in 1u16..,
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        seed in any::<u64>(),
    ) {
        let [b, c, d] = inside_host;
        let inside = SocketAddrV4::new(Ipv4Addr::new(10, b, c, d), inside_port);
        let remote = SocketAddrV4::new(Ipv4Addr::from(remote_addr), remote_port);
        let cfg = NatConfig { port_assignment: assignment, ..NatConfig::new(PUBLIC) };
        let mut rig = Rig::nat_seeded(seed, cfg, 1);

        // `step` parses every delivery and fails on any bad checksum.
        let out = rig.step("in0", build(&proto, inside, remote, &payload));
        prop_assert_eq!(out.len(), 1);
        let rx = &out[0].rx;
        prop_assert_eq!((*rx.src.ip(), rx.dst), (PUBLIC, remote));
        prop_assert_eq!(rx.ip.hop_limit, 63);
        if let Proto::Udp(no_checksum) = proto {
            prop_assert_eq!(rx.udp_checksum == Some(0), no_checksum);
            prop_assert_eq!(&rx.payload, &payload);
        }

        let back = rig.step("out", build(&proto, remote, rx.src, &payload));
        prop_assert_eq!(back.len(), 1);
        prop_assert_eq!((back[0].rx.src, back[0].rx.dst), (remote, inside));
    }
}
