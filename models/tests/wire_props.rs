//! Fuzz-like properties of the wire parsers: input from the network never panics.
//!
//! Random bytes rarely pass a checksum, so besides raw bytes each parser is also fed
//! random headers whose checksum has been fixed up, which drives it into option parsing and
//! the semantic checks behind the checksum.

use models::wire::{
    IPV4_HEADER_LEN, Ipv4Address, Ipv4Packet, Ipv4Repr, TCP_HEADER_LEN, TcpOption, TcpPacket,
    TcpRepr, UDP_HEADER_LEN, UdpPacket, UdpRepr,
};
use proptest::prelude::*;

const SRC_ADDR: Ipv4Address = Ipv4Address::new(192, 0, 2, 1);
const DST_ADDR: Ipv4Address = Ipv4Address::new(198, 51, 100, 7);

/// Reads every field of a checked IPv4 view and parses it, as a receiving host would.
fn exercise_ipv4(bytes: &[u8]) {
    let Ok(packet) = Ipv4Packet::new_checked(bytes) else {
        return;
    };
    let _ = (
        packet.version(),
        packet.dscp(),
        packet.ecn(),
        packet.ident(),
    );
    let _ = (
        packet.dont_frag(),
        packet.more_frags(),
        packet.frag_offset(),
    );
    let _ = (packet.hop_limit(), packet.next_header(), packet.checksum());
    let _ = (
        packet.src_addr(),
        packet.dst_addr(),
        packet.verify_checksum(),
    );
    let _ = (packet.options(), packet.payload());
    if let Ok(repr) = Ipv4Repr::parse(&packet) {
        assert_eq!(repr.payload_len, packet.payload().len());
        exercise_udp(packet.payload());
        exercise_tcp(packet.payload());
    }
}

fn exercise_udp(bytes: &[u8]) {
    let Ok(packet) = UdpPacket::new_checked(bytes) else {
        return;
    };
    let _ = (
        packet.src_port(),
        packet.dst_port(),
        packet.checksum(),
        packet.payload(),
    );
    let _ = UdpRepr::parse(&packet, SRC_ADDR, DST_ADDR);
}

fn exercise_tcp(bytes: &[u8]) {
    let Ok(packet) = TcpPacket::new_checked(bytes) else {
        return;
    };
    let _ = (
        packet.seq_number(),
        packet.ack_number(),
        packet.window_len(),
    );
    let _ = (
        packet.fin(),
        packet.syn(),
        packet.rst(),
        packet.psh(),
        packet.ack(),
    );
    let _ = (packet.urg(), packet.ece(), packet.cwr(), packet.urgent_at());
    let _ = (packet.payload(), packet.verify_checksum(SRC_ADDR, DST_ADDR));
    let mut options = packet.options();
    // Each successful step consumes at least one byte, so this terminates.
    while let Ok((rest, option)) = TcpOption::parse(options) {
        assert!(rest.len() < options.len());
        if option == TcpOption::EndOfList || rest.is_empty() {
            break;
        }
        options = rest;
    }
    if let Ok(repr) = TcpRepr::parse(&packet, SRC_ADDR, DST_ADDR) {
        assert_eq!(repr.payload_len, packet.payload().len());
        assert!(repr.window_scale.is_none_or(|shift| shift <= 14));
    }
}

proptest! {
    #[test]
    fn prop_ipv4_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        exercise_ipv4(&bytes);
    }

    #[test]
    fn prop_udp_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        exercise_udp(&bytes);
    }

    #[test]
    fn prop_tcp_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        exercise_tcp(&bytes);
    }

    #[test]
    fn prop_tcp_option_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
        let _ = TcpOption::parse(&bytes);
    }

    /// An IPv4 header with random fields (any IHL, length, flags) and a valid checksum.
    #[test]
    fn prop_ipv4_fixed_checksum(mut bytes in proptest::collection::vec(any::<u8>(), IPV4_HEADER_LEN..128)) {
        let header_len = usize::from(bytes[0] & 0x0f) * 4;
        if (IPV4_HEADER_LEN..=bytes.len()).contains(&header_len) {
            Ipv4Packet::new_unchecked(&mut bytes[..]).fill_checksum();
        }
        exercise_ipv4(&bytes);
    }

    /// A TCP header with random flags and option bytes and a valid checksum, so that
    /// parsing reaches the option list.
    #[test]
    fn prop_tcp_fixed_checksum(
        mut bytes in proptest::collection::vec(any::<u8>(), TCP_HEADER_LEN..96),
        data_offset in 5u8..=15,
    ) {
        let header_len = data_offset * 4;
        if usize::from(header_len) <= bytes.len() {
            let mut packet = TcpPacket::new_unchecked(&mut bytes[..]);
            packet.set_header_len(header_len);
            packet.fill_checksum(SRC_ADDR, DST_ADDR);
        }
        exercise_tcp(&bytes);
    }

    /// A UDP datagram with a random length field and a valid checksum.
    #[test]
    fn prop_udp_fixed_checksum(mut bytes in proptest::collection::vec(any::<u8>(), UDP_HEADER_LEN..64)) {
        let mut packet = UdpPacket::new_unchecked(&mut bytes[..]);
        if packet.check_len().is_ok() {
            packet.fill_checksum(SRC_ADDR, DST_ADDR);
            let packet = UdpPacket::new_checked(&bytes[..]).unwrap();
            prop_assert!(UdpRepr::parse(&packet, SRC_ADDR, DST_ADDR).is_ok());
        }
        exercise_udp(&bytes);
    }
}
