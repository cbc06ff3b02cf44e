//! ESP header (RFC 4303 §2) and the demultiplexing of UDP-encapsulated ESP (RFC 3948).
//!
//! The ESP header in the clear is only the SPI and the low 32 bits of the sequence number
//! (RFC 4303 §2.1, §2.2). Everything after it (IV, ciphertext, ICV) depends on the SA's
//! algorithm, so [`Packet::payload`] returns it whole and `sa.rs` splits it.
//!
//! On UDP port 4500 (RFC 3948 §2, RFC 7296 §2.23) three things share one port, told apart
//! by their first bytes; [`UdpEncapPayload`] does that. The same rule demultiplexes the
//! payload of an RFC 9329 §3 TCP frame (one octet `0xFF` is dropped there too, RFC 9329
//! §6.6).

pub use crate::wire::tcp_encap::NON_ESP_MARKER;
use crate::wire::{Error, Result};

/// A read/write view of an ESP packet buffer: the clear header and the protected rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Field offsets of RFC 4303 §2, Figure 1.
mod field {
    use std::ops::Range;

    pub(super) const SPI: Range<usize> = 0..4;
    pub(super) const SEQ: Range<usize> = 4..8;
}

/// Length of the clear ESP header: SPI and sequence number.
pub const HEADER_LEN: usize = field::SEQ.end;

/// The single octet of a NAT-keepalive (RFC 3948 §2.3).
pub const NAT_KEEPALIVE: u8 = 0xff;

/// The UDP port of NAT traversal, shared by IKE and ESP (RFC 3948 §2, RFC 7296 §2.23).
pub const NAT_T_PORT: u16 = 4500;

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

    /// Ensures that no accessor will panic: the buffer holds the clear header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error);
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Security Parameters Index (RFC 4303 §2.1): names the SA at the receiver.
    pub fn spi(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::SPI])
    }

    /// Sequence number as sent: the low 32 bits of the 64-bit counter (RFC 4303 §2.2).
    pub fn sequence_number(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::SEQ])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Everything after the clear header: IV, ciphertext and ICV.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the SPI.
    pub fn set_spi(&mut self, value: u32) {
        self.buffer.as_mut()[field::SPI].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the sequence number field.
    pub fn set_sequence_number(&mut self, value: u32) {
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&value.to_be_bytes());
    }

    /// Everything after the clear header, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// The validated clear header of an ESP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Security Parameters Index; never zero.
    pub spi: u32,
    /// Low 32 bits of the sequence number.
    pub sequence_number: u32,
}

impl Repr {
    /// Parses the clear header.
    ///
    /// Fails if the buffer is shorter than the header or the SPI is zero: SPI 0 is
    /// reserved for local use and "MUST NOT be sent on the wire" (RFC 4303 §2.1).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Self> {
        packet.check_len()?;
        if packet.spi() == 0 {
            return Err(Error);
        }
        Ok(Self {
            spi: packet.spi(),
            sequence_number: packet.sequence_number(),
        })
    }

    /// Bytes of a whole ESP packet whose protected part is `payload_len` bytes.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Writes the clear header; the caller writes [`Packet::payload_mut`].
    ///
    /// # Panics
    ///
    /// If the buffer is shorter than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        packet.set_spi(self.spi);
        packet.set_sequence_number(self.sequence_number);
    }
}

/// What a UDP datagram on port 4500 carries (RFC 3948 §2.2, §2.3; RFC 7296 §2.23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpEncapPayload<'a> {
    /// A NAT-keepalive: exactly one octet `0xFF`. Receivers ignore it, and it is no
    /// evidence of liveness (RFC 3948 §2.3).
    NatKeepalive,
    /// An IKE message, after the non-ESP marker (which is not part of the message).
    Ike(&'a [u8]),
    /// An ESP packet, starting at its non-zero SPI.
    Esp(&'a [u8]),
}

impl<'a> UdpEncapPayload<'a> {
    /// Classifies a UDP payload received on port 4500.
    ///
    /// One octet `0xFF` is a keepalive; four zero octets are the non-ESP marker and IKE
    /// follows; anything else is ESP, whose SPI therefore is non-zero. A payload that
    /// fits none (shorter than an ESP header, or a bare marker) is malformed.
    pub fn classify(payload: &'a [u8]) -> Result<Self> {
        match payload {
            [NAT_KEEPALIVE] => Ok(Self::NatKeepalive),
            [0, 0, 0, 0, ike @ ..] if !ike.is_empty() => Ok(Self::Ike(ike)),
            [0, 0, 0, 0, ..] => Err(Error),
            esp if esp.len() >= HEADER_LEN => Ok(Self::Esp(esp)),
            _ => Err(Error),
        }
    }

    /// Bytes [`Self::emit`] writes: the UDP payload length.
    pub const fn buffer_len(&self) -> usize {
        match self {
            Self::NatKeepalive => 1,
            Self::Ike(ike) => NON_ESP_MARKER.len() + ike.len(),
            Self::Esp(esp) => esp.len(),
        }
    }

    /// Writes the UDP payload: the keepalive octet, marker and IKE message, or ESP.
    ///
    /// # Panics
    ///
    /// If `buf` is not exactly [`Self::buffer_len`] bytes, or an ESP packet starts with
    /// a zero SPI (it would be read back as IKE).
    pub fn emit(&self, buf: &mut [u8]) {
        assert_eq!(buf.len(), self.buffer_len(), "UDP payload buffer length");
        match self {
            Self::NatKeepalive => buf[0] = NAT_KEEPALIVE,
            Self::Ike(ike) => {
                let (marker, rest) = buf.split_at_mut(NON_ESP_MARKER.len());
                marker.copy_from_slice(&NON_ESP_MARKER);
                rest.copy_from_slice(ike);
            }
            Self::Esp(esp) => {
                assert!(
                    esp.get(..4) != Some(&NON_ESP_MARKER[..]),
                    "ESP SPI 0 must not be sent (RFC 4303 §2.1)"
                );
                buf.copy_from_slice(esp);
            }
        }
    }
}

/// Reads a big-endian `u32` from a 4-byte field.
fn read_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// SPI 0x01020304, sequence number 5, then 4 payload bytes.
    static PACKET_BYTES: [u8; 12] = [
        0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x05, 0xaa, 0xbb, 0xcc, 0xdd,
    ];

    fn packet_repr() -> Repr {
        Repr {
            spi: 0x0102_0304,
            sequence_number: 5,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.spi(), 0x0102_0304);
        assert_eq!(packet.sequence_number(), 5);
        assert_eq!(packet.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(Repr::parse(&packet), Ok(packet_repr()));
    }

    #[test]
    fn test_emit() {
        let repr = packet_repr();
        let mut bytes = vec![0xa5; repr.buffer_len(4)];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        repr.emit(&mut packet);
        packet
            .payload_mut()
            .copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    /// RFC 4303 §2.1: SPI 0 is never on the wire.
    #[test]
    fn test_spi_zero_rejected() {
        let mut bytes = PACKET_BYTES;
        Packet::new_unchecked(&mut bytes[..]).set_spi(0);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Err(Error));
    }

    #[test]
    fn test_too_short() {
        assert_eq!(Packet::new_checked(&PACKET_BYTES[..7]), Err(Error));
    }

    /// RFC 3948 §2.2: the non-ESP marker means IKE; RFC 3948 §2.3: one 0xFF octet is a
    /// NAT-keepalive; anything else is ESP.
    #[test]
    fn test_rfc3948_classify() {
        let ike = [0, 0, 0, 0, 0x11, 0x22];
        assert_eq!(
            UdpEncapPayload::classify(&ike),
            Ok(UdpEncapPayload::Ike(&ike[4..]))
        );
        assert_eq!(
            UdpEncapPayload::classify(&[0xff]),
            Ok(UdpEncapPayload::NatKeepalive)
        );
        assert_eq!(
            UdpEncapPayload::classify(&PACKET_BYTES),
            Ok(UdpEncapPayload::Esp(&PACKET_BYTES))
        );
        for bad in [&[][..], &[0xfe], &[0, 0, 0, 0], &[1, 2, 3, 4, 5, 6, 7]] {
            assert_eq!(UdpEncapPayload::classify(bad), Err(Error));
        }
    }

    #[test]
    fn test_rfc3948_emit() {
        for payload in [
            UdpEncapPayload::NatKeepalive,
            UdpEncapPayload::Ike(&[0x11, 0x22]),
            UdpEncapPayload::Esp(&PACKET_BYTES),
        ] {
            let mut buf = vec![0xa5; payload.buffer_len()];
            payload.emit(&mut buf);
            assert_eq!(UdpEncapPayload::classify(&buf), Ok(payload));
        }
    }

    #[test]
    #[should_panic(expected = "SPI 0")]
    fn test_emit_spi_zero_panics() {
        let esp = [0, 0, 0, 0, 0, 0, 0, 1];
        UdpEncapPayload::Esp(&esp).emit(&mut [0; 8]);
    }

    proptest! {
        #[test]
        fn prop_classify_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(UdpEncapPayload::Esp(esp)) = UdpEncapPayload::classify(&bytes) {
                let packet = Packet::new_checked(esp).unwrap();
                prop_assert!(Repr::parse(&packet).is_ok());
            }
        }
    }
}
