//! TCP header and options (RFC 9293 §3.1), with window scaling and timestamps (RFC 7323)
//! and selective acknowledgements (RFC 2018).
//!
//! Like UDP, the checksum covers an IPv4 pseudo-header, so parsing and emitting need the
//! addresses. [`Repr`] holds the payload length, not the payload: [`Repr::emit`] takes a
//! closure that writes the payload in place before the checksum is computed, and on input
//! the payload is [`Packet::payload`].
//!
//! Options are emitted in the 4-byte-aligned layout Linux uses, so that emitted segments
//! look like captured ones: MSS; SACK-permitted and timestamps together (or each after two
//! NOPs); NOP and window scale; two NOPs and SACK blocks. The header is at most 60 bytes,
//! leaving 40 bytes of options (RFC 9293 §3.1 Data Offset); SACK blocks that do not fit
//! are dropped from the end, oldest first (RFC 2018 §4: the first block is the most recent).

use std::net::Ipv4Addr;
use std::{cmp, fmt, ops};

use super::{Error, IpProtocol, Result, checksum, read_u16, read_u32, write_u16, write_u32};

/// A TCP sequence number: a position in a 2^32 modular space (RFC 9293 §3.4).
///
/// All arithmetic wraps and never panics, so an initial sequence number near `u32::MAX`
/// is harmless (style.md pitfall 9). Comparison is modular, as RFC 9293 §3.4 requires:
/// `a < b` iff `(a - b) as i32 < 0`, i.e. `b` lies less than 2^31 ahead of `a`. Two
/// numbers exactly 2^31 apart are incomparable (`partial_cmp` is `None`; RFC 1982 §3.2
/// leaves that case undefined), which keeps `PartialOrd` consistent in both directions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The later of two sequence numbers in modular order; `rhs` if incomparable.
    #[must_use]
    pub fn max(self, rhs: Self) -> Self {
        if self > rhs { self } else { rhs }
    }

    /// The earlier of two sequence numbers in modular order; `rhs` if incomparable.
    #[must_use]
    pub fn min(self, rhs: Self) -> Self {
        if self < rhs { self } else { rhs }
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl ops::Add<usize> for SeqNumber {
    type Output = Self;

    /// Advances by `rhs` bytes, modulo 2^32.
    fn add(self, rhs: usize) -> Self {
        // Truncating `rhs` to u32 is reduction modulo 2^32, which is what we want.
        Self(self.0.wrapping_add(rhs as u32))
    }
}

impl ops::AddAssign<usize> for SeqNumber {
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl ops::Sub<usize> for SeqNumber {
    type Output = Self;

    /// Steps back by `rhs` bytes, modulo 2^32.
    fn sub(self, rhs: usize) -> Self {
        Self(self.0.wrapping_sub(rhs as u32))
    }
}

impl ops::Sub for SeqNumber {
    type Output = i32;

    /// Signed distance from `rhs` to `self`: positive if `self` is ahead. Distances of
    /// 2^31 or more wrap, so this is only meaningful within one window.
    fn sub(self, rhs: Self) -> i32 {
        // Reinterpreting the wrapped difference as signed is the modular comparison.
        self.0.wrapping_sub(rhs.0) as i32
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &Self) -> Option<cmp::Ordering> {
        match *self - *other {
            i32::MIN => None,
            diff => Some(diff.cmp(&0)),
        }
    }
}

/// The control flags of a segment that a [`Repr`] can express (RFC 9293 §3.1).
///
/// At most one of SYN, FIN and RST; PSH only on its own (parse drops it when another of
/// these flags is set). ACK is expressed by [`Repr::ack_number`] being `Some`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    /// No control flag.
    None,
    /// Push: deliver buffered data to the application now.
    Psh,
    /// Synchronise sequence numbers; opens a connection.
    Syn,
    /// No more data from the sender.
    Fin,
    /// Reset the connection.
    Rst,
}

impl Control {
    /// Sequence space the flag occupies: SYN and FIN count as one byte (RFC 9293 §3.4).
    pub const fn seq_len(self) -> usize {
        match self {
            Self::Syn | Self::Fin => 1,
            Self::None | Self::Psh | Self::Rst => 0,
        }
    }
}

/// A read/write view of a TCP segment buffer (header, options and payload).
///
/// The segment length is the buffer length: pass exactly the IPv4 payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Field offsets and option kinds of RFC 9293 §3.1, "Header Format".
mod field {
    use crate::wire::Field;

    pub(crate) const SRC_PORT: Field = 0..2;
    pub(crate) const DST_PORT: Field = 2..4;
    pub(crate) const SEQ_NUM: Field = 4..8;
    pub(crate) const ACK_NUM: Field = 8..12;
    /// Data offset (4 bits), reserved (4 bits) and control bits (8 bits).
    pub(crate) const FLAGS: Field = 12..14;
    pub(crate) const WIN_SIZE: Field = 14..16;
    pub(crate) const CHECKSUM: Field = 16..18;
    pub(crate) const URGENT: Field = 18..20;

    pub(crate) const DATA_OFFSET_MASK: u16 = 0xf000;
    pub(crate) const FLG_FIN: u16 = 0x001;
    pub(crate) const FLG_SYN: u16 = 0x002;
    pub(crate) const FLG_RST: u16 = 0x004;
    pub(crate) const FLG_PSH: u16 = 0x008;
    pub(crate) const FLG_ACK: u16 = 0x010;
    pub(crate) const FLG_URG: u16 = 0x020;
    /// ECN-Echo (RFC 3168 §6.1).
    pub(crate) const FLG_ECE: u16 = 0x040;
    /// Congestion Window Reduced (RFC 3168 §6.1).
    pub(crate) const FLG_CWR: u16 = 0x080;

    pub(crate) const OPT_END: u8 = 0;
    pub(crate) const OPT_NOP: u8 = 1;
    pub(crate) const OPT_MSS: u8 = 2;
    pub(crate) const OPT_WS: u8 = 3;
    pub(crate) const OPT_SACKPERM: u8 = 4;
    pub(crate) const OPT_SACKRNG: u8 = 5;
    pub(crate) const OPT_TSTAMP: u8 = 8;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = field::URGENT.end;

/// Option space: the 4-bit data offset allows a 60-byte header (RFC 9293 §3.1).
const MAX_OPTIONS_LEN: usize = 40;

/// Largest window shift; larger received values are treated as 14 (RFC 7323 §2.3).
const MAX_WINDOW_SCALE: u8 = 14;

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

    /// Ensures that no accessor will panic: the buffer holds a fixed header, and the header
    /// length (data offset) is at least 20 and fits in the buffer.
    ///
    /// Setting the header length invalidates this check.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN || len < header_len {
            return Err(Error);
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Sequence number of the first byte (or of the SYN).
    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(read_u32(self.buffer.as_ref(), field::SEQ_NUM))
    }

    /// Acknowledgment number; meaningful only if [`Self::ack`] is set.
    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(read_u32(self.buffer.as_ref(), field::ACK_NUM))
    }

    /// Header length in bytes (the data offset counts 32-bit words), including options.
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }

    /// FIN flag.
    pub fn fin(&self) -> bool {
        self.flag(field::FLG_FIN)
    }

    /// SYN flag.
    pub fn syn(&self) -> bool {
        self.flag(field::FLG_SYN)
    }

    /// RST flag.
    pub fn rst(&self) -> bool {
        self.flag(field::FLG_RST)
    }

    /// PSH flag.
    pub fn psh(&self) -> bool {
        self.flag(field::FLG_PSH)
    }

    /// ACK flag: the acknowledgment number is valid.
    pub fn ack(&self) -> bool {
        self.flag(field::FLG_ACK)
    }

    /// URG flag. Ignored by [`Repr`]; RFC 6093 discourages urgent data.
    pub fn urg(&self) -> bool {
        self.flag(field::FLG_URG)
    }

    /// ECN-Echo flag (RFC 3168 §6.1). Ignored by [`Repr`].
    pub fn ece(&self) -> bool {
        self.flag(field::FLG_ECE)
    }

    /// Congestion Window Reduced flag (RFC 3168 §6.1). Ignored by [`Repr`].
    pub fn cwr(&self) -> bool {
        self.flag(field::FLG_CWR)
    }

    /// Window field, unscaled.
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WIN_SIZE)
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// Whether the checksum is correct for these IPv4 addresses. A segment too long for
    /// the 16-bit pseudo-header length is never correct.
    pub fn verify_checksum(&self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) -> bool {
        self.checksum_sum(src_addr, dst_addr) == Some(!0)
    }

    /// One's complement sum of pseudo-header and segment, checksum field included.
    fn checksum_sum(&self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) -> Option<u16> {
        let data = self.buffer.as_ref();
        let len = u16::try_from(data.len()).ok()?;
        Some(checksum::combine(&[
            checksum::pseudo_header(src_addr, dst_addr, IpProtocol::TCP, len),
            checksum::data(data),
        ]))
    }

    fn flag(&self, mask: u16) -> bool {
        read_u16(self.buffer.as_ref(), field::FLAGS) & mask != 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The raw options, between the fixed header and the payload; see [`TcpOption::parse`].
    pub fn options(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// The payload: everything after the options.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..]
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

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, value: SeqNumber) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUM, value.0);
    }

    /// Sets the acknowledgment number (without touching the ACK flag).
    pub fn set_ack_number(&mut self, value: SeqNumber) {
        write_u32(self.buffer.as_mut(), field::ACK_NUM, value.0);
    }

    /// Sets the header length in bytes; it must be a multiple of 4 no larger than 60.
    pub fn set_header_len(&mut self, value: u8) {
        let raw = read_u16(self.buffer.as_ref(), field::FLAGS);
        let raw = (raw & !field::DATA_OFFSET_MASK) | (u16::from(value / 4) << 12);
        write_u16(self.buffer.as_mut(), field::FLAGS, raw);
    }

    /// Clears all control and reserved bits, keeping the header length.
    pub fn clear_flags(&mut self) {
        let raw = read_u16(self.buffer.as_ref(), field::FLAGS);
        write_u16(
            self.buffer.as_mut(),
            field::FLAGS,
            raw & field::DATA_OFFSET_MASK,
        );
    }

    /// Sets the FIN flag.
    pub fn set_fin(&mut self, value: bool) {
        self.set_flag(field::FLG_FIN, value);
    }

    /// Sets the SYN flag.
    pub fn set_syn(&mut self, value: bool) {
        self.set_flag(field::FLG_SYN, value);
    }

    /// Sets the RST flag.
    pub fn set_rst(&mut self, value: bool) {
        self.set_flag(field::FLG_RST, value);
    }

    /// Sets the PSH flag.
    pub fn set_psh(&mut self, value: bool) {
        self.set_flag(field::FLG_PSH, value);
    }

    /// Sets the ACK flag.
    pub fn set_ack(&mut self, value: bool) {
        self.set_flag(field::FLG_ACK, value);
    }

    /// Sets the URG flag.
    pub fn set_urg(&mut self, value: bool) {
        self.set_flag(field::FLG_URG, value);
    }

    /// Sets the ECN-Echo flag.
    pub fn set_ece(&mut self, value: bool) {
        self.set_flag(field::FLG_ECE, value);
    }

    /// Sets the Congestion Window Reduced flag.
    pub fn set_cwr(&mut self, value: bool) {
        self.set_flag(field::FLG_CWR, value);
    }

    /// Sets the window field.
    pub fn set_window_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::WIN_SIZE, value);
    }

    /// Sets the checksum as stored; see also [`Self::fill_checksum`].
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the urgent pointer.
    pub fn set_urgent_at(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT, value);
    }

    /// Computes and stores the checksum over the pseudo-header and the whole buffer.
    ///
    /// # Panics
    ///
    /// If the buffer is longer than 65535 bytes, which no IPv4 packet can carry.
    pub fn fill_checksum(&mut self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) {
        self.set_checksum(0);
        let sum = self
            .checksum_sum(src_addr, dst_addr)
            .expect("TCP segment longer than the 16-bit pseudo-header length");
        self.set_checksum(!sum);
    }

    /// The raw options, mutably.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// The payload, mutably: everything after the options.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        &mut self.buffer.as_mut()[start..]
    }

    fn set_flag(&mut self, mask: u16, value: bool) {
        let raw = read_u16(self.buffer.as_ref(), field::FLAGS);
        let raw = if value { raw | mask } else { raw & !mask };
        write_u16(self.buffer.as_mut(), field::FLAGS, raw);
    }
}

/// Up to four SACK blocks `(left edge, right edge)` (RFC 2018 §3), most recent first.
///
/// Filled from the front: entries after the first `None` are ignored when emitting.
pub type SackRanges = [Option<(u32, u32)>; 4];

/// One TCP option (RFC 9293 §3.1 Options), as found in the option bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0); the rest of the option space is padding.
    EndOfList,
    /// No-operation (kind 1), used to align the next option.
    NoOperation,
    /// Maximum segment size the sender can receive (kind 2, RFC 9293 §3.7.1); SYN only.
    MaxSegmentSize(u16),
    /// Window scale shift count (kind 3, RFC 7323 §2.2); SYN only.
    WindowScale(u8),
    /// SACK may be used on this connection (kind 4, RFC 2018 §2); SYN only.
    SackPermitted,
    /// Selectively acknowledged blocks (kind 5, RFC 2018 §3); 1 to 4 blocks.
    SackRange(SackRanges),
    /// Timestamps (kind 8, RFC 7323 §3.2), for RTT measurement and PAWS.
    TimeStamp {
        /// The sender's timestamp clock.
        tsval: u32,
        /// The most recent `tsval` received from the peer.
        tsecr: u32,
    },
    /// An option this model does not interpret; skipped on parse (RFC 9293 §3.1 requires
    /// that unknown options be ignored).
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option data, after kind and length.
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parses the first option of `buffer`, returning the rest and the option.
    ///
    /// Fails if the option is truncated, has a length below 2, or is a known kind with
    /// the wrong length (RFC 9293 §3.1 asks receivers to survive illegal lengths; we do so
    /// by rejecting the segment).
    pub fn parse(buffer: &'a [u8]) -> Result<(&'a [u8], Self)> {
        let (&kind, rest) = buffer.split_first().ok_or(Error)?;
        match kind {
            field::OPT_END => return Ok((rest, Self::EndOfList)),
            field::OPT_NOP => return Ok((rest, Self::NoOperation)),
            _ => {}
        }
        let length = usize::from(*rest.first().ok_or(Error)?);
        // `get` also fails for `length < 2`, which would otherwise loop forever.
        let data = buffer.get(2..length).ok_or(Error)?;
        let option = match (kind, data.len()) {
            (field::OPT_MSS, 2) => Self::MaxSegmentSize(read_u16(data, 0..2)),
            (field::OPT_WS, 1) => Self::WindowScale(data[0]),
            (field::OPT_SACKPERM, 0) => Self::SackPermitted,
            (field::OPT_SACKRNG, n) if n % 8 == 0 && (1..=4).contains(&(n / 8)) => {
                let mut ranges = [None; 4];
                for (slot, block) in ranges.iter_mut().zip(data.chunks_exact(8)) {
                    *slot = Some((read_u32(block, 0..4), read_u32(block, 4..8)));
                }
                Self::SackRange(ranges)
            }
            (field::OPT_TSTAMP, 8) => Self::TimeStamp {
                tsval: read_u32(data, 0..4),
                tsecr: read_u32(data, 4..8),
            },
            (
                field::OPT_MSS
                | field::OPT_WS
                | field::OPT_SACKPERM
                | field::OPT_SACKRNG
                | field::OPT_TSTAMP,
                _,
            ) => return Err(Error),
            _ => Self::Unknown { kind, data },
        };
        Ok((&buffer[length..], option))
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        match *self {
            Self::EndOfList | Self::NoOperation => 1,
            Self::MaxSegmentSize(_) => 4,
            Self::WindowScale(_) => 3,
            Self::SackPermitted => 2,
            Self::SackRange(ranges) => 2 + 8 * ranges.iter().flatten().count(),
            Self::TimeStamp { .. } => 10,
            Self::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buffer` and returns the rest.
    ///
    /// # Panics
    ///
    /// If `buffer` is shorter than [`Self::buffer_len`], or an `Unknown` option is longer
    /// than 255 bytes.
    pub fn emit<'b>(&self, buffer: &'b mut [u8]) -> &'b mut [u8] {
        let (out, rest) = buffer.split_at_mut(self.buffer_len());
        let kind = match *self {
            Self::EndOfList => field::OPT_END,
            Self::NoOperation => field::OPT_NOP,
            Self::MaxSegmentSize(_) => field::OPT_MSS,
            Self::WindowScale(_) => field::OPT_WS,
            Self::SackPermitted => field::OPT_SACKPERM,
            Self::SackRange(_) => field::OPT_SACKRNG,
            Self::TimeStamp { .. } => field::OPT_TSTAMP,
            Self::Unknown { kind, .. } => kind,
        };
        out[0] = kind;
        if let Some(length) = out.get_mut(1) {
            *length = u8::try_from(self.buffer_len()).expect("TCP option longer than 255 bytes");
        }
        match *self {
            Self::EndOfList | Self::NoOperation | Self::SackPermitted => {}
            Self::MaxSegmentSize(value) => write_u16(out, 2..4, value),
            Self::WindowScale(value) => out[2] = value,
            Self::SackRange(ranges) => {
                for (block, &(left, right)) in
                    out[2..].chunks_exact_mut(8).zip(ranges.iter().flatten())
                {
                    write_u32(block, 0..4, left);
                    write_u32(block, 4..8, right);
                }
            }
            Self::TimeStamp { tsval, tsecr } => {
                write_u32(out, 2..6, tsval);
                write_u32(out, 6..10, tsecr);
            }
            Self::Unknown { data, .. } => out[2..].copy_from_slice(data),
        }
        rest
    }
}

/// The validated meaning of a TCP header and its known options.
///
/// URG, ECE, CWR and the urgent pointer are ignored on parse and emitted as zero; read
/// them from [`Packet`] if needed. Unknown options are skipped. Port zero is not rejected
/// here; whether to accept it is the socket layer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// SYN, FIN, RST or PSH.
    pub control: Control,
    /// Sequence number.
    pub seq_number: SeqNumber,
    /// Acknowledgment number; `Some` iff the ACK flag is set.
    pub ack_number: Option<SeqNumber>,
    /// Window field, unscaled.
    pub window_len: u16,
    /// Window scale shift (RFC 7323 §2.2); parsed values above 14 are clamped to 14.
    pub window_scale: Option<u8>,
    /// Maximum segment size (RFC 9293 §3.7.1).
    pub max_seg_size: Option<u16>,
    /// SACK-permitted (RFC 2018 §2).
    pub sack_permitted: bool,
    /// SACK blocks (RFC 2018 §3); those that do not fit in the option space are not
    /// emitted (see [`Repr::header_len`]).
    pub sack_ranges: SackRanges,
    /// Timestamps `(tsval, tsecr)` (RFC 7323 §3.2).
    pub timestamp: Option<(u32, u32)>,
    /// Payload length in bytes.
    pub payload_len: usize,
}

impl Repr {
    /// A bare reset from `src_port` to `dst_port` (RFC 9293 §3.10.7.1): no options, no
    /// payload, zero window.
    pub const fn rst(
        src_port: u16,
        dst_port: u16,
        seq_number: SeqNumber,
        ack_number: Option<SeqNumber>,
    ) -> Self {
        Self {
            src_port,
            dst_port,
            control: Control::Rst,
            seq_number,
            ack_number,
            window_len: 0,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 4],
            timestamp: None,
            payload_len: 0,
        }
    }

    /// Parses a TCP segment carried in IPv4 from `src_addr` to `dst_addr`.
    ///
    /// Fails unless the buffer passes [`Packet::check_len`], the checksum is correct, the
    /// control flags form a valid [`Control`] (no SYN+FIN, SYN+RST, FIN+RST), and every
    /// option is well formed.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&T>,
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
    ) -> Result<Self> {
        packet.check_len()?;
        if !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error);
        }
        let control = match (packet.syn(), packet.fin(), packet.rst(), packet.psh()) {
            (false, false, false, false) => Control::None,
            (false, false, false, true) => Control::Psh,
            (true, false, false, _) => Control::Syn,
            (false, true, false, _) => Control::Fin,
            (false, false, true, _) => Control::Rst,
            _ => return Err(Error),
        };
        let mut repr = Self {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            control,
            seq_number: packet.seq_number(),
            ack_number: packet.ack().then(|| packet.ack_number()),
            window_len: packet.window_len(),
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 4],
            timestamp: None,
            payload_len: packet.payload().len(),
        };
        let mut options = packet.options();
        while !options.is_empty() {
            let (rest, option) = TcpOption::parse(options)?;
            match option {
                TcpOption::EndOfList => break,
                TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
                TcpOption::MaxSegmentSize(value) => repr.max_seg_size = Some(value),
                TcpOption::WindowScale(value) => {
                    repr.window_scale = Some(value.min(MAX_WINDOW_SCALE));
                }
                TcpOption::SackPermitted => repr.sack_permitted = true,
                TcpOption::SackRange(ranges) => repr.sack_ranges = ranges,
                TcpOption::TimeStamp { tsval, tsecr } => repr.timestamp = Some((tsval, tsecr)),
            }
            options = rest;
        }
        Ok(repr)
    }

    /// Header length `emit` writes, a multiple of 4 and at most 60: SACK blocks beyond
    /// the 40 bytes of option space are dropped, e.g. 3 remain with timestamps, as
    /// RFC 2018 §3 anticipates.
    pub fn header_len(&self) -> usize {
        let sack_len = match self.sack_block_count() {
            0 => 0,
            n => SACK_PREFIX_LEN + 8 * n,
        };
        HEADER_LEN + self.fixed_options_len() + sack_len
    }

    /// Bytes `emit` writes: header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Sequence space the segment occupies: payload plus SYN or FIN (RFC 9293 §3.4 SEG.LEN).
    pub const fn segment_len(&self) -> usize {
        self.payload_len + self.control.seq_len()
    }

    /// Writes the header and options, then calls `emit_payload` on the payload slice, then
    /// fills the checksum.
    ///
    /// # Panics
    ///
    /// If the buffer is not exactly [`Self::buffer_len`] bytes: the segment length is the
    /// buffer length, so a longer buffer would send trailing junk.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut Packet<&mut T>,
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        emit_payload: impl FnOnce(&mut [u8]),
    ) {
        assert_eq!(
            packet.buffer.as_ref().len(),
            self.buffer_len(),
            "TCP emit buffer must be exactly Repr::buffer_len() bytes"
        );
        let header_len = self.header_len();
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number.unwrap_or_default());
        // header_len() is at most 60 by construction.
        packet.set_header_len(header_len as u8);
        packet.clear_flags();
        match self.control {
            Control::None => {}
            Control::Psh => packet.set_psh(true),
            Control::Syn => packet.set_syn(true),
            Control::Fin => packet.set_fin(true),
            Control::Rst => packet.set_rst(true),
        }
        packet.set_ack(self.ack_number.is_some());
        packet.set_window_len(self.window_len);
        packet.set_urgent_at(0);
        self.emit_options(packet.options_mut());
        emit_payload(packet.payload_mut());
        packet.fill_checksum(src_addr, dst_addr);
    }

    /// Writes the options in the aligned layout described in the module docs.
    fn emit_options(&self, buffer: &mut [u8]) {
        use TcpOption::{NoOperation as Nop, SackPermitted};

        let mut rest = buffer;
        let mut put = |options: &[TcpOption<'_>]| {
            for option in options {
                rest = option.emit(std::mem::take(&mut rest));
            }
        };
        if let Some(mss) = self.max_seg_size {
            put(&[TcpOption::MaxSegmentSize(mss)]);
        }
        match self
            .timestamp
            .map(|(tsval, tsecr)| TcpOption::TimeStamp { tsval, tsecr })
        {
            Some(ts) if self.sack_permitted => put(&[SackPermitted, ts]),
            Some(ts) => put(&[Nop, Nop, ts]),
            None if self.sack_permitted => put(&[Nop, Nop, SackPermitted]),
            None => {}
        }
        if let Some(shift) = self.window_scale {
            put(&[Nop, TcpOption::WindowScale(shift)]);
        }
        let blocks = self.sack_block_count();
        if blocks > 0 {
            let mut ranges = [None; 4];
            ranges[..blocks].copy_from_slice(&self.sack_ranges[..blocks]);
            put(&[Nop, Nop, TcpOption::SackRange(ranges)]);
        }
        debug_assert!(rest.is_empty(), "header_len() and emit_options() disagree");
    }

    /// Option bytes `emit_options` writes before the SACK blocks.
    fn fixed_options_len(&self) -> usize {
        let mss = if self.max_seg_size.is_some() { 4 } else { 0 };
        let sack_perm_ts = match (self.sack_permitted, self.timestamp) {
            (_, Some(_)) => 12,
            (true, None) => 4,
            (false, None) => 0,
        };
        let window_scale = if self.window_scale.is_some() { 4 } else { 0 };
        mss + sack_perm_ts + window_scale
    }

    /// SACK blocks `emit_options` writes: the leading `Some` entries that fit.
    fn sack_block_count(&self) -> usize {
        let wanted = self.sack_ranges.iter().take_while(|r| r.is_some()).count();
        let room = (MAX_OPTIONS_LEN - self.fixed_options_len()).saturating_sub(SACK_PREFIX_LEN) / 8;
        wanted.min(room)
    }
}

/// Two NOPs, kind and length before the SACK blocks.
const SACK_PREFIX_LEN: usize = 4;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::{Ipv4Packet, Ipv4Repr};

    const SRC_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// A Linux-style SYN in IPv4, 10.0.0.1:54321 -> 10.0.0.2:80, DF, TTL 64, window 64240,
    /// options MSS 1460, SACK-permitted, TS (0x00a1b2c3, 0), NOP, WS 7 -- the option bytes
    /// of a captured Linux SYN. Computed by an independent script.
    static SYN_SEGMENT: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x26, 0xba, 0x0a, 0x00, 0x00,
        0x01, 0x0a, 0x00, 0x00, 0x02, 0xd4, 0x31, 0x00, 0x50, 0x1a, 0x2b, 0x3c, 0x4d, 0x00, 0x00,
        0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x5a, 0xae, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04,
        0x02, 0x08, 0x0a, 0x00, 0xa1, 0xb2, 0xc3, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    /// A PSH+ACK data segment (TCP only) with NOP NOP TS and NOP NOP SACK (2 blocks), an
    /// ACK number just below the wrap, and payload "GET ".
    static DATA_SEGMENT: [u8; 56] = [
        0xd4, 0x31, 0x00, 0x50, 0x1a, 0x2b, 0x3c, 0x4e, 0xff, 0xff, 0xff, 0xf0, 0xd0, 0x18, 0x01,
        0xf6, 0xcc, 0x65, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x00, 0xa1, 0xb2, 0xd0, 0x0b, 0xad,
        0xf0, 0x0d, 0x01, 0x01, 0x05, 0x12, 0x1a, 0x2b, 0x40, 0x00, 0x1a, 0x2b, 0x50, 0x00, 0x1a,
        0x2b, 0x60, 0x00, 0x1a, 0x2b, 0x70, 0x00, 0x47, 0x45, 0x54, 0x20,
    ];

    fn syn_ip_repr() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: SRC_ADDR,
            dst_addr: DST_ADDR,
            next_header: IpProtocol::TCP,
            payload_len: 40,
            hop_limit: 64,
            ident: 0,
            dont_frag: true,
        }
    }

    fn syn_repr() -> Repr {
        Repr {
            src_port: 54321,
            dst_port: 80,
            control: Control::Syn,
            seq_number: SeqNumber(0x1a2b_3c4d),
            ack_number: None,
            window_len: 64240,
            window_scale: Some(7),
            max_seg_size: Some(1460),
            sack_permitted: true,
            sack_ranges: [None; 4],
            timestamp: Some((0x00a1_b2c3, 0)),
            payload_len: 0,
        }
    }

    fn data_repr() -> Repr {
        Repr {
            src_port: 54321,
            dst_port: 80,
            control: Control::Psh,
            seq_number: SeqNumber(0x1a2b_3c4e),
            ack_number: Some(SeqNumber(0xffff_fff0)),
            window_len: 502,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [
                Some((0x1a2b_4000, 0x1a2b_5000)),
                Some((0x1a2b_6000, 0x1a2b_7000)),
                None,
                None,
            ],
            timestamp: Some((0x00a1_b2d0, 0x0bad_f00d)),
            payload_len: 4,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&DATA_SEGMENT[..]).unwrap();
        assert_eq!(packet.src_port(), 54321);
        assert_eq!(packet.dst_port(), 80);
        assert_eq!(packet.seq_number(), SeqNumber(0x1a2b_3c4e));
        assert_eq!(packet.ack_number(), SeqNumber(0xffff_fff0));
        assert_eq!(packet.header_len(), 52);
        assert!(!packet.fin() && !packet.syn() && !packet.rst() && !packet.urg());
        assert!(packet.psh() && packet.ack());
        assert!(!packet.ece() && !packet.cwr());
        assert_eq!(packet.window_len(), 502);
        assert_eq!(packet.checksum(), 0xcc65);
        assert_eq!(packet.urgent_at(), 0);
        assert_eq!(packet.options(), &DATA_SEGMENT[20..52]);
        assert_eq!(packet.payload(), b"GET ");
        assert!(packet.verify_checksum(SRC_ADDR, DST_ADDR));
    }

    #[test]
    fn test_parse() {
        let ip_packet = Ipv4Packet::new_checked(&SYN_SEGMENT[..]).unwrap();
        let ip_repr = Ipv4Repr::parse(&ip_packet).unwrap();
        assert_eq!(ip_repr, syn_ip_repr());
        let packet = Packet::new_checked(ip_packet.payload()).unwrap();
        assert_eq!(
            Repr::parse(&packet, ip_repr.src_addr, ip_repr.dst_addr),
            Ok(syn_repr())
        );

        let packet = Packet::new_checked(&DATA_SEGMENT[..]).unwrap();
        assert_eq!(Repr::parse(&packet, SRC_ADDR, DST_ADDR), Ok(data_repr()));
    }

    #[test]
    fn test_emit() {
        let (ip_repr, repr) = (syn_ip_repr(), syn_repr());
        let mut bytes = vec![0xa5; ip_repr.buffer_len()];
        let mut ip_packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
        ip_repr.emit(&mut ip_packet);
        let mut packet = Packet::new_unchecked(ip_packet.payload_mut());
        repr.emit(&mut packet, SRC_ADDR, DST_ADDR, |_| {});
        assert_eq!(bytes, SYN_SEGMENT);

        let repr = data_repr();
        let mut bytes = vec![0xa5; repr.buffer_len()];
        repr.emit(
            &mut Packet::new_unchecked(&mut bytes[..]),
            SRC_ADDR,
            DST_ADDR,
            |b| {
                b.copy_from_slice(b"GET ");
            },
        );
        assert_eq!(bytes, DATA_SEGMENT);
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(syn_repr().header_len(), 40);
        assert_eq!(syn_repr().buffer_len(), 40);
        assert_eq!(data_repr().header_len(), 52);
        assert_eq!(data_repr().buffer_len(), DATA_SEGMENT.len());
        assert_eq!(syn_repr().segment_len(), 1);
        assert_eq!(data_repr().segment_len(), 4);
    }

    /// Each option parses from and emits to the same bytes.
    #[test]
    fn test_tcp_options() {
        let cases: [(TcpOption<'_>, &[u8]); 10] = [
            (TcpOption::EndOfList, &[0x00]),
            (TcpOption::NoOperation, &[0x01]),
            (TcpOption::MaxSegmentSize(1460), &[0x02, 0x04, 0x05, 0xb4]),
            (TcpOption::WindowScale(12), &[0x03, 0x03, 0x0c]),
            (TcpOption::SackPermitted, &[0x04, 0x02]),
            (
                TcpOption::SackRange([Some((500, 1500)), None, None, None]),
                &[0x05, 0x0a, 0, 0, 0x01, 0xf4, 0, 0, 0x05, 0xdc],
            ),
            (
                TcpOption::SackRange([Some((1, 2)), Some((3, 4)), Some((5, 6)), Some((7, 8))]),
                &[
                    0x05, 0x22, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0,
                    0, 6, 0, 0, 0, 7, 0, 0, 0, 8,
                ],
            ),
            (
                TcpOption::TimeStamp {
                    tsval: 5_000_000,
                    tsecr: 7_000_000,
                },
                &[0x08, 0x0a, 0x00, 0x4c, 0x4b, 0x40, 0x00, 0x6a, 0xcf, 0xc0],
            ),
            (
                TcpOption::Unknown {
                    kind: 30,
                    data: &[0xaa, 0xbb],
                },
                &[30, 0x04, 0xaa, 0xbb],
            ),
            (
                TcpOption::Unknown {
                    kind: 34,
                    data: &[],
                },
                &[34, 0x02],
            ),
        ];
        for (option, bytes) in cases {
            assert_eq!(TcpOption::parse(bytes), Ok((&[][..], option)), "{option:?}");
            assert_eq!(option.buffer_len(), bytes.len());
            let mut buffer = vec![0xa5; bytes.len()];
            assert!(option.emit(&mut buffer).is_empty());
            assert_eq!(buffer, bytes, "{option:?}");
        }
    }

    #[test]
    fn test_malformed_tcp_options() {
        let cases: [&[u8]; 11] = [
            &[],
            &[0x02],                                  // no length
            &[0x1e, 0x00],                            // length 0 would never advance
            &[0x1e, 0x01],                            // length 1 is shorter than kind and length
            &[0x02, 0x04, 0x05],                      // truncated
            &[0x02, 0x03, 0x05],                      // MSS with wrong length
            &[0x03, 0x04, 0x05, 0x06],                // window scale with wrong length
            &[0x04, 0x03, 0x00],                      // SACK-permitted with wrong length
            &[0x05, 0x02],                            // SACK without blocks
            &[0x05, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0], // SACK with a partial block
            &[0x08, 0x06, 0, 0, 0, 0],                // timestamps with wrong length
        ];
        for bytes in cases {
            assert_eq!(TcpOption::parse(bytes), Err(Error), "{bytes:x?}");
        }
    }

    /// Builds a segment whose options are `options` (padded with EOL), with a valid checksum.
    fn segment_with_options(options: &[u8]) -> Vec<u8> {
        let options_len = options.len().div_ceil(4) * 4;
        let mut bytes = vec![0; HEADER_LEN + options_len];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_src_port(1);
        packet.set_dst_port(2);
        packet.set_header_len((HEADER_LEN + options_len) as u8);
        packet.set_syn(true);
        packet.options_mut()[..options.len()].copy_from_slice(options);
        packet.fill_checksum(SRC_ADDR, DST_ADDR);
        bytes
    }

    #[test]
    fn test_parse_options() {
        // Unknown kind 30 is skipped; EOL ends the list and padding after it is ignored.
        let bytes = segment_with_options(&[30, 4, 0xaa, 0xbb, 2, 4, 0x05, 0xb4, 0, 0xff]);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        let repr = Repr::parse(&packet, SRC_ADDR, DST_ADDR).unwrap();
        assert_eq!(repr.max_seg_size, Some(1460));
        assert_eq!(repr.window_scale, None);

        // A window scale above 14 is used as 14 (RFC 7323 §2.3).
        let bytes = segment_with_options(&[1, 3, 3, 15]);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        let repr = Repr::parse(&packet, SRC_ADDR, DST_ADDR).unwrap();
        assert_eq!(repr.window_scale, Some(14));

        // One malformed option rejects the segment.
        let bytes = segment_with_options(&[2, 4, 0x05, 0xb4, 30, 0]);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&packet, SRC_ADDR, DST_ADDR), Err(Error));
    }

    #[test]
    fn test_bad_control_flags() {
        let mut bytes = DATA_SEGMENT;
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_syn(true);
        packet.set_fin(true);
        packet.fill_checksum(SRC_ADDR, DST_ADDR);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&packet, SRC_ADDR, DST_ADDR), Err(Error));
    }

    #[test]
    fn test_bad_checksum() {
        let mut bytes = DATA_SEGMENT;
        bytes[55] ^= 1;
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&packet, SRC_ADDR, DST_ADDR), Err(Error));
    }

    #[test]
    fn test_impossible_len() {
        assert_eq!(Packet::new_checked(&DATA_SEGMENT[..19]), Err(Error));
        assert_eq!(Packet::new_checked(&DATA_SEGMENT[..51]), Err(Error));
        let mut bytes = DATA_SEGMENT;
        Packet::new_unchecked(&mut bytes[..]).set_header_len(16);
        assert_eq!(Packet::new_checked(&bytes[..]), Err(Error));
    }

    /// SACK blocks that would overflow 40 bytes of options are dropped from the end.
    #[test]
    fn test_sack_blocks_truncated_to_fit() {
        let all = [Some((1, 2)), Some((3, 4)), Some((5, 6)), Some((7, 8))];
        let mut repr = Repr {
            sack_ranges: all,
            timestamp: None,
            ..data_repr()
        };
        assert_eq!(repr.header_len(), 20 + 4 + 4 * 8);
        repr.timestamp = Some((1, 2));
        assert_eq!(repr.header_len(), 20 + 12 + 4 + 3 * 8);
        repr.max_seg_size = Some(1460);
        repr.window_scale = Some(7);
        assert_eq!(repr.header_len(), 20 + 20 + 4 + 2 * 8);

        let mut bytes = vec![0xa5; repr.buffer_len()];
        repr.emit(
            &mut Packet::new_unchecked(&mut bytes[..]),
            SRC_ADDR,
            DST_ADDR,
            |b| b.fill(0),
        );
        let parsed = Repr::parse(
            &Packet::new_checked(&bytes[..]).unwrap(),
            SRC_ADDR,
            DST_ADDR,
        );
        let expected = Repr {
            sack_ranges: [all[0], all[1], None, None],
            ..repr
        };
        assert_eq!(parsed, Ok(expected));
    }

    #[test]
    fn test_seq_number_wrap() {
        let near_max = SeqNumber(u32::MAX - 1);
        let wrapped = near_max + 4;
        assert_eq!(wrapped, SeqNumber(2));
        assert!(near_max < wrapped);
        assert!(wrapped > near_max);
        assert_eq!(wrapped - near_max, 4);
        assert_eq!(near_max - wrapped, -4);
        assert_eq!(wrapped - 4, near_max);
        assert_eq!(near_max.max(wrapped), wrapped);
        assert_eq!(wrapped.min(near_max), near_max);
        let mut seq = near_max;
        seq += usize::MAX;
        assert_eq!(seq, near_max - 1);
        // Exactly half the space apart: incomparable in both directions.
        let half = SeqNumber(0) + (1 << 31);
        assert_eq!(SeqNumber(0).partial_cmp(&half), None);
        assert_eq!(half.partial_cmp(&SeqNumber(0)), None);
    }

    fn arb_repr() -> impl Strategy<Value = Repr> {
        let control = prop_oneof![
            Just(Control::None),
            Just(Control::Psh),
            Just(Control::Syn),
            Just(Control::Fin),
            Just(Control::Rst),
        ];
        let ranges = (0..=4usize, any::<[(u32, u32); 4]>()).prop_map(|(n, blocks)| {
            let mut ranges = [None; 4];
            for (slot, block) in ranges.iter_mut().zip(blocks).take(n) {
                *slot = Some(block);
            }
            ranges
        });
        (
            (
                any::<u16>(),
                any::<u16>(),
                control,
                any::<u32>(),
                any::<Option<u32>>(),
            ),
            (
                any::<u16>(),
                proptest::option::of(0..=MAX_WINDOW_SCALE),
                any::<Option<u16>>(),
            ),
            (
                any::<bool>(),
                ranges,
                any::<Option<(u32, u32)>>(),
                0..64usize,
            ),
        )
            .prop_map(
                |(
                    (src_port, dst_port, control, seq, ack),
                    (window_len, window_scale, max_seg_size),
                    (sack_permitted, sack_ranges, timestamp, payload_len),
                )| Repr {
                    src_port,
                    dst_port,
                    control,
                    seq_number: SeqNumber(seq),
                    ack_number: ack.map(SeqNumber),
                    window_len,
                    window_scale,
                    max_seg_size,
                    sack_permitted,
                    sack_ranges,
                    timestamp,
                    payload_len,
                },
            )
    }

    proptest! {
        /// emit -> parse gives back the Repr, minus the SACK blocks that did not fit.
        #[test]
        fn prop_emit_parse_roundtrip(repr in arb_repr(), junk in any::<u8>(), fill in any::<u8>()) {
            let mut bytes = vec![junk; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), SRC_ADDR, DST_ADDR, |b| b.fill(fill));
            prop_assert!(repr.header_len() <= 60 && repr.header_len() % 4 == 0);
            let packet = Packet::new_checked(&bytes[..]).unwrap();
            let mut expected = repr;
            expected.sack_ranges[repr.sack_block_count()..].fill(None);
            prop_assert_eq!(Repr::parse(&packet, SRC_ADDR, DST_ADDR), Ok(expected));
            prop_assert!(packet.payload().iter().all(|&b| b == fill));
        }

        /// Modular order agrees with the signed distance, is antisymmetric, and survives
        /// the wrap at 2^32.
        #[test]
        fn prop_seq_order_around_wrap(a in any::<u32>(), b in any::<u32>(), d in 1..(1u32 << 31)) {
            let (a, b) = (SeqNumber(a), SeqNumber(b));
            prop_assert_eq!(a.partial_cmp(&b), b.partial_cmp(&a).map(cmp::Ordering::reverse));
            prop_assert_eq!(a == b, a - b == 0);
            prop_assert_eq!(a < b, a - b < 0 && a - b != i32::MIN);
            let ahead = a + d as usize;
            prop_assert!(a < ahead);
            prop_assert_eq!(ahead.partial_cmp(&a), Some(cmp::Ordering::Greater));
            prop_assert_eq!(ahead - a, d as i32);
            prop_assert_eq!(ahead - d as usize, a);
            prop_assert_eq!(a.max(ahead), ahead);
            prop_assert_eq!(ahead.min(a), a);
        }
    }
}
