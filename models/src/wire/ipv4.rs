//! IPv4 header (RFC 791 §3.1).
//!
//! We emit only option-less, unfragmented headers. Parsing accepts options (IHL > 5) and
//! skips over them, because middleboxes and peers may send them. `Repr::parse` rejects
//! fragments: ikesim never fragments, and a NAT or IPsec model that meets a fragment should
//! drop it visibly rather than misread a partial transport header. The `Packet` view still
//! reads fragment fields, so such packets can be logged.

use std::fmt;
use std::net::Ipv4Addr;

use super::{Error, Result, checksum, read_u16, write_u16};

/// The IPv4 Protocol field (RFC 791 §3.1), an open registry maintained by IANA.
///
/// A newtype rather than an enum (style.md rule 6): unknown values parse and round-trip, so
/// a middlebox can forward a protocol it does not understand.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// Internet Control Message Protocol (RFC 792).
    pub const ICMP: Self = Self(1);
    /// Transmission Control Protocol (RFC 9293).
    pub const TCP: Self = Self(6);
    /// User Datagram Protocol (RFC 768).
    pub const UDP: Self = Self(17);
    /// IPsec Encapsulating Security Payload (RFC 4303).
    pub const ESP: Self = Self(50);
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ICMP => f.write_str("ICMP"),
            Self::TCP => f.write_str("TCP"),
            Self::UDP => f.write_str("UDP"),
            Self::ESP => f.write_str("ESP"),
            Self(other) => write!(f, "IpProtocol({other:#04x})"),
        }
    }
}

/// A read/write view of an IPv4 packet buffer (header, options and payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Field offsets of RFC 791 §3.1, "Internet Header Format".
mod field {
    use crate::wire::Field;

    pub(crate) const VER_IHL: usize = 0;
    pub(crate) const DSCP_ECN: usize = 1;
    pub(crate) const LENGTH: Field = 2..4;
    pub(crate) const IDENT: Field = 4..6;
    pub(crate) const FLG_OFF: Field = 6..8;
    pub(crate) const TTL: usize = 8;
    pub(crate) const PROTOCOL: usize = 9;
    pub(crate) const CHECKSUM: Field = 10..12;
    pub(crate) const SRC_ADDR: Field = 12..16;
    pub(crate) const DST_ADDR: Field = 16..20;

    /// Don't Fragment: routers must drop rather than fragment (RFC 791 §3.1 Flags).
    pub(crate) const FLG_DF: u16 = 0x4000;
    /// More Fragments: this is not the last fragment.
    pub(crate) const FLG_MF: u16 = 0x2000;
    /// Fragment offset, in units of 8 octets.
    pub(crate) const OFF_MASK: u16 = 0x1fff;
}

/// Length of an IPv4 header without options (IHL = 5).
pub const HEADER_LEN: usize = field::DST_ADDR.end;

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic until [`Self::check_len`]
    /// succeeds. Use this on output buffers.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer and checks it with [`Self::check_len`]. Use this on input.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures that no accessor will panic: the buffer holds a fixed header, the header
    /// length is at least 20 and at most the total length, and the total length fits in
    /// the buffer.
    ///
    /// The version is not checked here ([`Repr::parse`] does). The buffer may be longer
    /// than the total length (e.g. link-layer padding); the extra bytes are not part of
    /// the packet. Setting the header or total length invalidates
    /// this check.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error);
        }
        let header_len = usize::from(self.header_len());
        let total_len = usize::from(self.total_len());
        if header_len < HEADER_LEN || total_len < header_len || len < total_len {
            return Err(Error);
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version field; 4 for IPv4.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (the IHL field counts 32-bit words), including options.
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Differentiated Services Code Point (RFC 2474 §3), the upper six bits of the old
    /// Type of Service byte.
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// Explicit Congestion Notification codepoint (RFC 3168 §5), the lower two bits.
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length of the packet (header and payload) in bytes.
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Identification, used to reassemble fragments (RFC 6864 §4).
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF) & field::FLG_DF != 0
    }

    /// More Fragments flag.
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF) & field::FLG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (read_u16(self.buffer.as_ref(), field::FLG_OFF) & field::OFF_MASK) << 3
    }

    /// Time to Live, named after its IPv6 successor because it is decremented per hop.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Header checksum as stored.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Whether the header checksum is correct. It covers the header and options only,
    /// not the payload (RFC 791 §3.1 Header Checksum).
    pub fn verify_checksum(&self) -> bool {
        let header = &self.buffer.as_ref()[..usize::from(self.header_len())];
        checksum::data(header) == !0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// IP options (RFC 791 §3.1 Options), between the fixed header and the payload.
    pub fn options(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// The payload: after the options and up to the total length.
    pub fn payload(&self) -> &'a [u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        &self.buffer.as_ref()[range]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version field.
    pub fn set_version(&mut self, value: u8) {
        let byte = &mut self.buffer.as_mut()[field::VER_IHL];
        *byte = (*byte & 0x0f) | (value << 4);
    }

    /// Sets the header length in bytes; it must be a multiple of 4 no larger than 60.
    pub fn set_header_len(&mut self, value: u8) {
        let byte = &mut self.buffer.as_mut()[field::VER_IHL];
        *byte = (*byte & 0xf0) | ((value / 4) & 0x0f);
    }

    /// Sets the DSCP (six bits).
    pub fn set_dscp(&mut self, value: u8) {
        let byte = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *byte = (*byte & 0x03) | (value << 2);
    }

    /// Sets the ECN codepoint (two bits), as a congested router does (RFC 3168 §5).
    pub fn set_ecn(&mut self, value: u8) {
        let byte = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *byte = (*byte & !0x03) | (value & 0x03);
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, value);
    }

    /// Clears all flags and the fragment offset, including the reserved bit.
    pub fn clear_flags(&mut self) {
        write_u16(self.buffer.as_mut(), field::FLG_OFF, 0);
    }

    /// Sets the Don't Fragment flag.
    pub fn set_dont_frag(&mut self, value: bool) {
        self.set_flag(field::FLG_DF, value);
    }

    /// Sets the More Fragments flag.
    pub fn set_more_frags(&mut self, value: bool) {
        self.set_flag(field::FLG_MF, value);
    }

    /// Sets the fragment offset in bytes; it must be a multiple of 8.
    pub fn set_frag_offset(&mut self, value: u16) {
        let raw = read_u16(self.buffer.as_ref(), field::FLG_OFF);
        let raw = (raw & !field::OFF_MASK) | (value >> 3);
        write_u16(self.buffer.as_mut(), field::FLG_OFF, raw);
    }

    /// Sets the Time to Live.
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    /// Sets the protocol of the payload.
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = value.0;
    }

    /// Sets the header checksum as stored; see also [`Self::fill_checksum`].
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets());
    }

    /// Computes and stores the header checksum over the header and options.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header = &self.buffer.as_ref()[..usize::from(self.header_len())];
        let sum = checksum::data(header);
        self.set_checksum(!sum);
    }

    /// The payload, mutably: after the options and up to the total length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }

    fn set_flag(&mut self, mask: u16, value: bool) {
        let raw = read_u16(self.buffer.as_ref(), field::FLG_OFF);
        let raw = if value { raw | mask } else { raw & !mask };
        write_u16(self.buffer.as_mut(), field::FLG_OFF, raw);
    }
}

/// The validated meaning of an unfragmented IPv4 header.
///
/// DSCP and ECN are emitted as zero and not parsed; options are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub next_header: IpProtocol,
    /// Payload length in bytes; at most 65535 minus the header length.
    pub payload_len: usize,
    /// Time to Live.
    pub hop_limit: u8,
    /// Identification. RFC 6864 §4.1 lets atomic (DF, unfragmented) datagrams use any
    /// value, but a model may still want a per-source counter to make traces readable.
    pub ident: u16,
    /// Don't Fragment; set it for path MTU discovery (RFC 1191 §3).
    pub dont_frag: bool,
}

impl Repr {
    /// Parses and validates an IPv4 header.
    ///
    /// Fails unless the buffer passes [`Packet::check_len`], the version is 4, the header
    /// checksum is correct, and the packet is not a fragment (MF set or offset non-zero).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Self> {
        packet.check_len()?;
        if packet.version() != 4
            || !packet.verify_checksum()
            || packet.more_frags()
            || packet.frag_offset() != 0
        {
            return Err(Error);
        }
        Ok(Self {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.total_len() - u16::from(packet.header_len())),
            hop_limit: packet.hop_limit(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
        })
    }

    /// Bytes `emit` writes: the option-less header plus the payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header, including the checksum, into a buffer of `buffer_len()` bytes.
    ///
    /// The payload is not touched: write it afterwards through [`Packet::payload_mut`].
    ///
    /// # Panics
    ///
    /// If the buffer is shorter than the header, or `payload_len` does not fit in the
    /// 16-bit total length.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        let total_len = u16::try_from(self.buffer_len())
            .expect("IPv4 total length is 16 bits (RFC 791 §3.1); payload_len too large");
        packet.set_version(4);
        // HEADER_LEN is 20, a valid IHL.
        packet.set_header_len(HEADER_LEN as u8);
        packet.set_dscp(0);
        packet.set_ecn(0);
        packet.set_total_len(total_len);
        packet.set_ident(self.ident);
        packet.clear_flags();
        packet.set_dont_frag(self.dont_frag);
        packet.set_hop_limit(self.hop_limit);
        packet.set_next_header(self.next_header);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A UDP/IPv4 datagram, 192.168.1.1:500 -> 192.168.1.2:4500, DF, TTL 64, computed by
    /// an independent script; the UDP part is checked in `udp.rs`.
    static PACKET_BYTES: [u8; 38] = [
        0x45, 0x00, 0x00, 0x26, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x9b, 0x2d, 0xc0, 0xa8, 0x01,
        0x01, 0xc0, 0xa8, 0x01, 0x02, 0x01, 0xf4, 0x11, 0x94, 0x00, 0x12, 0x30, 0xa2, 0x00, 0x00,
        0x00, 0x00, 0x69, 0x6b, 0x65, 0x73, 0x69, 0x6d,
    ];

    fn packet_repr() -> Repr {
        Repr {
            src_addr: Ipv4Addr::new(192, 168, 1, 1),
            dst_addr: Ipv4Addr::new(192, 168, 1, 2),
            next_header: IpProtocol::UDP,
            payload_len: 18,
            hop_limit: 64,
            ident: 0x1c46,
            dont_frag: true,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.dscp(), 0);
        assert_eq!(packet.ecn(), 0);
        assert_eq!(packet.total_len(), 38);
        assert_eq!(packet.ident(), 0x1c46);
        assert!(packet.dont_frag());
        assert!(!packet.more_frags());
        assert_eq!(packet.frag_offset(), 0);
        assert_eq!(packet.hop_limit(), 64);
        assert_eq!(packet.next_header(), IpProtocol::UDP);
        assert_eq!(packet.checksum(), 0x9b2d);
        assert_eq!(packet.src_addr(), Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(packet.dst_addr(), Ipv4Addr::new(192, 168, 1, 2));
        assert!(packet.verify_checksum());
        assert_eq!(packet.options(), &[] as &[u8]);
        assert_eq!(packet.payload(), &PACKET_BYTES[20..]);
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Ok(packet_repr()));
    }

    #[test]
    fn test_emit() {
        let repr = packet_repr();
        let mut bytes = vec![0xa5; repr.buffer_len()];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        repr.emit(&mut packet);
        packet.payload_mut().copy_from_slice(&PACKET_BYTES[20..]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(packet_repr().buffer_len(), PACKET_BYTES.len());
    }

    #[test]
    fn test_trailing_padding_ignored() {
        let mut bytes = PACKET_BYTES.to_vec();
        bytes.extend_from_slice(&[0; 8]);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Ok(packet_repr()));
        assert_eq!(packet.payload(), &PACKET_BYTES[20..]);
    }

    #[test]
    fn test_truncated() {
        assert_eq!(Packet::new_checked(&PACKET_BYTES[..19]), Err(Error));
        assert_eq!(Packet::new_checked(&PACKET_BYTES[..37]), Err(Error));
    }

    #[test]
    fn test_bad_checksum() {
        let mut bytes = PACKET_BYTES;
        bytes[8] = 63;
        assert_eq!(Repr::parse(&Packet::new_unchecked(&bytes[..])), Err(Error));
    }

    #[test]
    fn test_bad_version() {
        let mut bytes = PACKET_BYTES;
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_version(6);
        packet.fill_checksum();
        assert_eq!(Repr::parse(&Packet::new_unchecked(&bytes[..])), Err(Error));
    }

    #[test]
    fn test_impossible_header_len() {
        let mut bytes = PACKET_BYTES;
        Packet::new_unchecked(&mut bytes[..]).set_header_len(16);
        assert_eq!(Packet::new_checked(&bytes[..]), Err(Error));
        Packet::new_unchecked(&mut bytes[..]).set_header_len(60);
        assert_eq!(Packet::new_checked(&bytes[..]), Err(Error));
    }

    /// Options are skipped: the payload starts after them and the Repr is unchanged.
    #[test]
    fn test_parse_with_options() {
        let mut bytes = vec![0xa5; PACKET_BYTES.len() + 4];
        bytes[..20].copy_from_slice(&PACKET_BYTES[..20]);
        // Four NOP options (RFC 791 §3.1, option type 1).
        bytes[20..24].copy_from_slice(&[1, 1, 1, 1]);
        bytes[24..].copy_from_slice(&PACKET_BYTES[20..]);
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_header_len(24);
        packet.set_total_len(42);
        packet.fill_checksum();
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.options(), &[1, 1, 1, 1]);
        assert_eq!(packet.payload(), &PACKET_BYTES[20..]);
        assert_eq!(Repr::parse(&packet), Ok(packet_repr()));
    }

    /// The view reads fragments, but `Repr::parse` rejects them.
    #[test]
    fn test_fragments_rejected() {
        for (more_frags, offset) in [(true, 0), (false, 1480), (true, 8)] {
            let mut bytes = PACKET_BYTES;
            let mut packet = Packet::new_unchecked(&mut bytes[..]);
            packet.set_more_frags(more_frags);
            packet.set_frag_offset(offset);
            packet.fill_checksum();
            let packet = Packet::new_checked(&bytes[..]).unwrap();
            assert_eq!(packet.more_frags(), more_frags);
            assert_eq!(packet.frag_offset(), offset);
            assert!(packet.dont_frag());
            assert_eq!(Repr::parse(&packet), Err(Error));
        }
    }

    #[test]
    fn test_ip_protocol_debug() {
        assert_eq!(format!("{:?}", IpProtocol::ESP), "ESP");
        assert_eq!(format!("{:?}", IpProtocol::TCP), "TCP");
        assert_eq!(format!("{:?}", IpProtocol(0x2f)), "IpProtocol(0x2f)");
    }

    fn arb_repr() -> impl Strategy<Value = Repr> {
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            0..=usize::from(u16::MAX) - HEADER_LEN,
            any::<(u8, u16, bool)>(),
        )
            .prop_map(
                |(src, dst, proto, payload_len, (hop_limit, ident, dont_frag))| Repr {
                    src_addr: Ipv4Addr::from(src),
                    dst_addr: Ipv4Addr::from(dst),
                    next_header: IpProtocol(proto),
                    payload_len,
                    hop_limit,
                    ident,
                    dont_frag,
                },
            )
    }

    proptest! {
        #[test]
        fn prop_emit_parse_roundtrip(repr in arb_repr(), junk in any::<u8>()) {
            let mut bytes = vec![junk; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
            let packet = Packet::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(Repr::parse(&packet), Ok(repr));
        }
    }
}
