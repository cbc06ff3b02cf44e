//! The 28-octet IKE header (RFC 7296 §3.1; protocol.md 1.1).
//!
//! A receiver needs the header before anything else: the SPIs pick the IKE SA (never the
//! source address, RFC 7296 §2.6), and the header alone is enough to answer
//! INVALID_MAJOR_VERSION or INVALID_IKE_SPI. So the header has its own checked view
//! ([`Packet`]) and [`Header`] repr, usable even when the payload chain is garbage.

use std::ops::Range;

use super::{ExchangeType, PayloadType};
use crate::wire::{Error, Result};

/// Field offsets of RFC 7296 §3.1, "The IKE Header".
mod field {
    use std::ops::Range;

    pub(super) const SPI_I: Range<usize> = 0..8;
    pub(super) const SPI_R: Range<usize> = 8..16;
    pub(super) const NEXT_PAYLOAD: usize = 16;
    pub(super) const VERSION: usize = 17;
    pub(super) const EXCHANGE_TYPE: usize = 18;
    pub(super) const FLAGS: usize = 19;
    pub(super) const MESSAGE_ID: Range<usize> = 20..24;
    pub(super) const LENGTH: Range<usize> = 24..28;
}

/// Length of the IKE header.
pub const HEADER_LEN: usize = field::LENGTH.end;

/// The version octet we send: major 2, minor 0 (RFC 7296 §3.1).
pub const IKEV2_VERSION: u8 = 0x20;

/// The header flags that carry meaning (RFC 7296 §3.1, bits `X X R V I X X X`).
///
/// The Version bit and the X bits are sent as zero and ignored on receipt, so they are
/// not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags {
    /// I: set by the original initiator of the IKE SA (after an IKE rekey, by whoever
    /// initiated the rekey). Tells the receiver which SPI is its own (RFC 7296 §2.6).
    pub initiator: bool,
    /// R: this message is a response to a request with the same Message ID.
    pub response: bool,
}

impl Flags {
    const INITIATOR: u8 = 0x08;
    const RESPONSE: u8 = 0x20;

    /// The meaningful flags of a raw flags octet.
    pub const fn from_bits(bits: u8) -> Self {
        Self {
            initiator: bits & Self::INITIATOR != 0,
            response: bits & Self::RESPONSE != 0,
        }
    }

    /// The flags octet to send.
    pub const fn bits(self) -> u8 {
        (if self.initiator { Self::INITIATOR } else { 0 })
            | (if self.response { Self::RESPONSE } else { 0 })
    }
}

/// A read/write view of an IKE message buffer (header and payloads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

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

    /// Ensures that no accessor will panic: the buffer holds a header, and the Length
    /// field is at least the header length and at most the buffer length.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error);
        }
        let field_len = usize::try_from(self.length()).map_err(|_| Error)?;
        if field_len < HEADER_LEN || len < field_len {
            return Err(Error);
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u64_at(&self, range: Range<usize>) -> u64 {
        let mut b = [0; 8];
        b.copy_from_slice(&self.buffer.as_ref()[range]);
        u64::from_be_bytes(b)
    }

    fn u32_at(&self, range: Range<usize>) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.buffer.as_ref()[range]);
        u32::from_be_bytes(b)
    }

    /// Initiator's SPI (never zero from a compliant sender).
    pub fn spi_i(&self) -> u64 {
        self.u64_at(field::SPI_I)
    }

    /// Responder's SPI; zero in the first IKE_SA_INIT request.
    pub fn spi_r(&self) -> u64 {
        self.u64_at(field::SPI_R)
    }

    /// Type of the first payload.
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.buffer.as_ref()[field::NEXT_PAYLOAD])
    }

    /// Major version, the high nibble; 2 for IKEv2.
    pub fn major_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] >> 4
    }

    /// Minor version, the low nibble; 0 from RFC 7296 senders and ignored on receipt.
    pub fn minor_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] & 0x0f
    }

    /// Exchange type.
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType(self.buffer.as_ref()[field::EXCHANGE_TYPE])
    }

    /// Flags (I and R).
    pub fn flags(&self) -> Flags {
        Flags::from_bits(self.buffer.as_ref()[field::FLAGS])
    }

    /// Message ID.
    pub fn message_id(&self) -> u32 {
        self.u32_at(field::MESSAGE_ID)
    }

    /// Length field: the whole message, header included.
    pub fn length(&self) -> u32 {
        self.u32_at(field::LENGTH)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload chain, up to the Length field.
    pub fn payload(&self) -> &'a [u8] {
        let end = usize::try_from(self.length()).expect("checked by check_len");
        &self.buffer.as_ref()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the initiator's SPI.
    pub fn set_spi_i(&mut self, value: u64) {
        self.buffer.as_mut()[field::SPI_I].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the responder's SPI.
    pub fn set_spi_r(&mut self, value: u64) {
        self.buffer.as_mut()[field::SPI_R].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the first payload's type.
    pub fn set_next_payload(&mut self, value: PayloadType) {
        self.buffer.as_mut()[field::NEXT_PAYLOAD] = value.0;
    }

    /// Sets the version octet (major in the high nibble).
    pub fn set_version(&mut self, major: u8, minor: u8) {
        self.buffer.as_mut()[field::VERSION] = (major << 4) | (minor & 0x0f);
    }

    /// Sets the exchange type.
    pub fn set_exchange_type(&mut self, value: ExchangeType) {
        self.buffer.as_mut()[field::EXCHANGE_TYPE] = value.0;
    }

    /// Sets the flags octet; the V and X bits become zero.
    pub fn set_flags(&mut self, value: Flags) {
        self.buffer.as_mut()[field::FLAGS] = value.bits();
    }

    /// Sets the Message ID.
    pub fn set_message_id(&mut self, value: u32) {
        self.buffer.as_mut()[field::MESSAGE_ID].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the Length field.
    pub fn set_length(&mut self, value: u32) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }
}

/// The validated meaning of an IKE header.
///
/// Versions are kept as received so that a caller can answer INVALID_MAJOR_VERSION; the
/// full-message parser ([`super::Message::parse`]) is what rejects major versions other
/// than 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Initiator's SPI.
    pub spi_i: u64,
    /// Responder's SPI.
    pub spi_r: u64,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Major version (2).
    pub major_version: u8,
    /// Minor version (0).
    pub minor_version: u8,
    /// Exchange type.
    pub exchange_type: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
    /// Whole-message length.
    pub length: u32,
}

impl Header {
    /// Parses the header of a buffer that passes [`Packet::check_len`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Self> {
        packet.check_len()?;
        Ok(Self {
            spi_i: packet.spi_i(),
            spi_r: packet.spi_r(),
            next_payload: packet.next_payload(),
            major_version: packet.major_version(),
            minor_version: packet.minor_version(),
            exchange_type: packet.exchange_type(),
            flags: packet.flags(),
            message_id: packet.message_id(),
            length: packet.length(),
        })
    }

    /// Bytes `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes every header field.
    ///
    /// # Panics
    ///
    /// If the buffer is shorter than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        packet.set_spi_i(self.spi_i);
        packet.set_spi_r(self.spi_r);
        packet.set_next_payload(self.next_payload);
        packet.set_version(self.major_version, self.minor_version);
        packet.set_exchange_type(self.exchange_type);
        packet.set_flags(self.flags);
        packet.set_message_id(self.message_id);
        packet.set_length(self.length);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IKE_SA_INIT request header: SPIi 0x0102030405060708, SPIr 0, first payload SA,
    /// version 2.0, I flag, Message ID 0, length 28 (RFC 7296 §3.1 layout).
    static HEADER_BYTES: [u8; 28] = [
        1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 33, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 28,
    ];

    fn header() -> Header {
        Header {
            spi_i: 0x0102_0304_0506_0708,
            spi_r: 0,
            next_payload: PayloadType::SA,
            major_version: 2,
            minor_version: 0,
            exchange_type: ExchangeType::IKE_SA_INIT,
            flags: Flags {
                initiator: true,
                response: false,
            },
            message_id: 0,
            length: 28,
        }
    }

    #[test]
    fn parse_and_emit() {
        let packet = Packet::new_checked(&HEADER_BYTES[..]).unwrap();
        assert_eq!(Header::parse(&packet), Ok(header()));
        assert!(packet.payload().is_empty());
        let mut bytes = [0xa5; HEADER_LEN];
        header().emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, HEADER_BYTES);
    }

    #[test]
    fn impossible_lengths() {
        let mut bytes = HEADER_BYTES;
        Packet::new_unchecked(&mut bytes[..]).set_length(27);
        assert_eq!(Packet::new_checked(&bytes[..]), Err(Error));
        Packet::new_unchecked(&mut bytes[..]).set_length(29);
        assert_eq!(Packet::new_checked(&bytes[..]), Err(Error));
        assert_eq!(Packet::new_checked(&HEADER_BYTES[..27]), Err(Error));
    }

    #[test]
    fn flags_ignore_version_and_reserved_bits() {
        assert_eq!(
            Flags::from_bits(0xff),
            Flags {
                initiator: true,
                response: true
            }
        );
        assert_eq!(Flags::from_bits(0xff).bits(), 0x28);
    }
}
