//! Wire formats: zero-copy packet views and validated high-level representations.
//!
//! Every protocol follows smoltcp's `src/wire` pattern (style.md rule 5):
//!
//! - A `Packet<T: AsRef<[u8]>>` is a view over a byte buffer. `new_unchecked` wraps any
//!   buffer, `check_len` proves that every accessor is in bounds, and `new_checked` does
//!   both. Getters read raw fields; setters exist when `T: AsMut<[u8]>`. A `Packet` can
//!   show fields that its `Repr` refuses (fragments, bad checksums), so such packets can
//!   still be logged.
//! - A `Repr` is the validated meaning of a header. `Repr::parse` takes a `Packet` and
//!   returns `Err(Error)` for anything malformed or unsupported, `buffer_len` says how many
//!   bytes `emit` writes, and `emit` fills every header byte (including the checksum).
//!
//! Contract, as in smoltcp:
//!
//! - After `check_len` succeeds, no accessor panics. `Repr::parse` calls `check_len`
//!   itself, so it never panics on any input. Nothing here allocates, so a hostile peer
//!   cannot make parsing allocate.
//! - Use `new_checked` on input. On output use `new_unchecked` and `Repr::emit` into a
//!   buffer exactly `buffer_len()` long: `new_checked` on a reused output buffer would
//!   depend on stale bytes (style.md pitfall 10). `emit` panics only if that is violated.
//!
//! Building a UDP/IPv4 datagram (the IPv4 payload is written after the IPv4 header, and the
//! UDP payload is written by a closure so that the UDP checksum covers it):
//!
//! ```
//! use models::wire::{IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr};
//!
//! let payload = b"hello";
//! let udp = UdpRepr { src_port: 500, dst_port: 500 };
//! let ip = Ipv4Repr {
//!     src_addr: Ipv4Address::new(192, 0, 2, 1),
//!     dst_addr: Ipv4Address::new(198, 51, 100, 1),
//!     next_header: IpProtocol::UDP,
//!     payload_len: udp.buffer_len(payload.len()),
//!     hop_limit: 64,
//!     ident: 0,
//!     dont_frag: true,
//! };
//! let mut buf = vec![0; ip.buffer_len()];
//! let mut ip_packet = Ipv4Packet::new_unchecked(&mut buf[..]);
//! ip.emit(&mut ip_packet);
//! let mut udp_packet = UdpPacket::new_unchecked(ip_packet.payload_mut());
//! udp.emit(&mut udp_packet, ip.src_addr, ip.dst_addr, payload.len(), |b| {
//!     b.copy_from_slice(payload)
//! });
//!
//! let ip_packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
//! let parsed = Ipv4Repr::parse(&ip_packet).unwrap();
//! assert_eq!(parsed, ip);
//! let udp_packet = UdpPacket::new_checked(ip_packet.payload()).unwrap();
//! assert_eq!(UdpRepr::parse(&udp_packet, parsed.src_addr, parsed.dst_addr), Ok(udp));
//! assert_eq!(udp_packet.payload(), payload);
//! ```

pub mod checksum;
mod ipv4;
mod tcp;
pub mod tcp_encap;
mod udp;

use std::ops::Range;

pub use std::net::Ipv4Addr as Ipv4Address;

pub use self::ipv4::{
    HEADER_LEN as IPV4_HEADER_LEN, IpProtocol, Packet as Ipv4Packet, Repr as Ipv4Repr,
};
pub use self::tcp::{
    Control as TcpControl, HEADER_LEN as TCP_HEADER_LEN, Packet as TcpPacket, Repr as TcpRepr,
    SackRanges as TcpSackRanges, SeqNumber as TcpSeqNumber, TcpOption,
};
pub use self::udp::{HEADER_LEN as UDP_HEADER_LEN, Packet as UdpPacket, Repr as UdpRepr};

/// The packet was malformed or is not supported.
///
/// Deliberately opaque (style.md rule 8): the byte layer only needs to say no, and the
/// caller drops the packet. Which check failed is visible in the `Packet` getters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed or unsupported packet")]
pub struct Error;

/// Result of parsing wire data.
pub type Result<T> = std::result::Result<T, Error>;

/// A byte range of a fixed-position header field.
type Field = Range<usize>;

/// Reads a big-endian (network order, RFC 791 Appendix B) `u16` from a 2-byte field.
fn read_u16(buf: &[u8], field: Field) -> u16 {
    let b = &buf[field];
    u16::from_be_bytes([b[0], b[1]])
}

/// Reads a big-endian `u32` from a 4-byte field.
fn read_u32(buf: &[u8], field: Field) -> u32 {
    let b = &buf[field];
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Writes a big-endian `u16` into a 2-byte field.
fn write_u16(buf: &mut [u8], field: Field, value: u16) {
    buf[field].copy_from_slice(&value.to_be_bytes());
}

/// Writes a big-endian `u32` into a 4-byte field.
fn write_u32(buf: &mut [u8], field: Field, value: u32) {
    buf[field].copy_from_slice(&value.to_be_bytes());
}
