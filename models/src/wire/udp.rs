//! UDP header (RFC 768).
//!
//! IKEv2 (RFC 7296 §2) and UDP-encapsulated ESP (RFC 3948) ride on UDP, so this is the
//! header a NAT rewrites most often. The checksum covers an IPv4 pseudo-header, so parsing
//! and emitting need the addresses from the enclosing IPv4 header.
//!
//! Payload design: [`Repr`] holds only the ports. [`Repr::emit`] takes the payload length
//! and a closure that writes the payload in place, because the checksum covers the payload
//! and must be computed after it is written. On input, the payload is [`Packet::payload`].

use std::net::Ipv4Addr;

use super::{Error, IpProtocol, Result, checksum, read_u16, write_u16};

/// A read/write view of a UDP datagram buffer (header and payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Field offsets of RFC 768, "Format".
mod field {
    use crate::wire::Field;

    pub(crate) const SRC_PORT: Field = 0..2;
    pub(crate) const DST_PORT: Field = 2..4;
    pub(crate) const LENGTH: Field = 4..6;
    pub(crate) const CHECKSUM: Field = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

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

    /// Ensures that no accessor will panic: the buffer holds a header and the length field
    /// is at least the header length and at most the buffer length.
    ///
    /// Bytes past the length field are not part of the datagram. Setting the length
    /// invalidates this check.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error);
        }
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN || len < field_len {
            return Err(Error);
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port; zero if unused (RFC 768).
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field: header plus payload, in bytes.
    #[expect(
        clippy::len_without_is_empty,
        reason = "`len` is the RFC 768 field name"
    )]
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Checksum as stored; zero means the sender computed none.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Whether the checksum is correct for these IPv4 addresses.
    ///
    /// A stored zero means "no checksum" over IPv4 (RFC 768) and is accepted.
    pub fn verify_checksum(&self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) -> bool {
        self.checksum() == 0 || self.checksum_sum(src_addr, dst_addr) == !0
    }

    /// One's complement sum of pseudo-header and datagram, checksum field included.
    fn checksum_sum(&self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) -> u16 {
        let len = self.len();
        checksum::combine(&[
            checksum::pseudo_header(src_addr, dst_addr, IpProtocol::UDP, len),
            checksum::data(&self.buffer.as_ref()[..usize::from(len)]),
        ])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload, up to the length field.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, value);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, value);
    }

    /// Sets the length field.
    pub fn set_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets the checksum as stored; see also [`Self::fill_checksum`].
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Computes and stores the checksum over the pseudo-header, header and payload.
    ///
    /// A computed zero is stored as `0xffff`, its one's complement equivalent, because a
    /// stored zero would mean "no checksum" (RFC 768).
    pub fn fill_checksum(&mut self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) {
        self.set_checksum(0);
        let sum = !self.checksum_sum(src_addr, dst_addr);
        self.set_checksum(if sum == 0 { 0xffff } else { sum });
    }

    /// The payload, mutably, up to the length field.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// The validated meaning of a UDP header: its ports.
///
/// Port zero is not rejected here; whether to accept it is the socket layer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl Repr {
    /// Parses a UDP header carried in IPv4 from `src_addr` to `dst_addr`.
    ///
    /// Fails unless the buffer passes [`Packet::check_len`] and the checksum is correct or
    /// absent (zero).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&T>,
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
    ) -> Result<Self> {
        packet.check_len()?;
        if !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error);
        }
        Ok(Self {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        })
    }

    /// Bytes `emit` writes for a payload of `payload_len` bytes: header plus payload.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Writes the header, then calls `emit_payload` on the `payload_len`-byte payload
    /// slice, then fills the checksum (always; never "no checksum").
    ///
    /// # Panics
    ///
    /// If the buffer is shorter than `buffer_len(payload_len)`, or the datagram does not
    /// fit in the 16-bit length field.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut Packet<&mut T>,
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        payload_len: usize,
        emit_payload: impl FnOnce(&mut [u8]),
    ) {
        let len = u16::try_from(self.buffer_len(payload_len))
            .expect("UDP length is 16 bits (RFC 768); payload too large");
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        emit_payload(packet.payload_mut());
        packet.fill_checksum(src_addr, dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SRC_ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const DST_ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);

    /// 500 -> 4500 with a non-ESP marker and "ikesim" (RFC 3948 §2.2 shape), the UDP part
    /// of the datagram in `ipv4.rs`, computed by an independent script.
    static PACKET_BYTES: [u8; 18] = [
        0x01, 0xf4, 0x11, 0x94, 0x00, 0x12, 0x30, 0xa2, 0x00, 0x00, 0x00, 0x00, 0x69, 0x6b, 0x65,
        0x73, 0x69, 0x6d,
    ];

    static PAYLOAD_BYTES: [u8; 10] = [0x00, 0x00, 0x00, 0x00, 0x69, 0x6b, 0x65, 0x73, 0x69, 0x6d];

    fn packet_repr() -> Repr {
        Repr {
            src_port: 500,
            dst_port: 4500,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.src_port(), 500);
        assert_eq!(packet.dst_port(), 4500);
        assert_eq!(packet.len(), 18);
        assert_eq!(packet.checksum(), 0x30a2);
        assert_eq!(packet.payload(), &PAYLOAD_BYTES[..]);
        assert!(packet.verify_checksum(SRC_ADDR, DST_ADDR));
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet, SRC_ADDR, DST_ADDR), Ok(packet_repr()));
    }

    #[test]
    fn test_emit() {
        let repr = packet_repr();
        let mut bytes = vec![0xa5; repr.buffer_len(PAYLOAD_BYTES.len())];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        repr.emit(&mut packet, SRC_ADDR, DST_ADDR, PAYLOAD_BYTES.len(), |b| {
            b.copy_from_slice(&PAYLOAD_BYTES);
        });
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(
            packet_repr().buffer_len(PAYLOAD_BYTES.len()),
            PACKET_BYTES.len()
        );
    }

    #[test]
    fn test_no_checksum_accepted() {
        let mut bytes = PACKET_BYTES;
        Packet::new_unchecked(&mut bytes[..]).set_checksum(0);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&packet, SRC_ADDR, DST_ADDR), Ok(packet_repr()));
    }

    /// The pseudo-header binds the datagram to its addresses.
    #[test]
    fn test_wrong_address_rejected() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        let other = Ipv4Addr::new(192, 168, 1, 3);
        assert_eq!(Repr::parse(&packet, SRC_ADDR, other), Err(Error));
    }

    /// A datagram whose checksum computes to zero is sent as 0xffff (RFC 768).
    #[test]
    fn test_zero_checksum_sent_as_ffff() {
        let repr = packet_repr();
        // Choose the two payload bytes so that the full sum is 0xffff.
        let mut bytes = vec![0xa5; repr.buffer_len(2)];
        repr.emit(
            &mut Packet::new_unchecked(&mut bytes[..]),
            SRC_ADDR,
            DST_ADDR,
            2,
            |b| {
                b.fill(0);
            },
        );
        let stored = Packet::new_unchecked(&bytes[..]).checksum();
        repr.emit(
            &mut Packet::new_unchecked(&mut bytes[..]),
            SRC_ADDR,
            DST_ADDR,
            2,
            |b| {
                b.copy_from_slice(&stored.to_be_bytes());
            },
        );
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.checksum(), 0xffff);
        assert_eq!(Repr::parse(&packet, SRC_ADDR, DST_ADDR), Ok(repr));
    }

    #[test]
    fn test_impossible_len() {
        let mut bytes = PACKET_BYTES;
        Packet::new_unchecked(&mut bytes[..]).set_len(7);
        assert_eq!(Packet::new_checked(&bytes[..]), Err(Error));
        Packet::new_unchecked(&mut bytes[..]).set_len(19);
        assert_eq!(Packet::new_checked(&bytes[..]), Err(Error));
        assert_eq!(Packet::new_checked(&PACKET_BYTES[..7]), Err(Error));
    }

    proptest! {
        #[test]
        fn prop_emit_parse_roundtrip(
            src_port in any::<u16>(),
            dst_port in any::<u16>(),
            src in any::<[u8; 4]>(),
            dst in any::<[u8; 4]>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let repr = Repr { src_port, dst_port };
            let mut bytes = vec![0xa5; repr.buffer_len(payload.len())];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), src, dst, payload.len(), |b| {
                b.copy_from_slice(&payload);
            });
            let packet = Packet::new_checked(&bytes[..]).unwrap();
            prop_assert_ne!(packet.checksum(), 0);
            prop_assert_eq!(Repr::parse(&packet, src, dst), Ok(repr));
            prop_assert_eq!(packet.payload(), &payload[..]);
        }
    }
}
