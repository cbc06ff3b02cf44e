//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! IPv4 (RFC 791 §3.1), UDP (RFC 768) and TCP (RFC 9293 §3.1) protect their bytes with the
//! one's complement of the one's complement sum of all 16-bit big-endian words. The
//! functions here return the *sum*, not its complement, so partial sums over separate
//! pieces (pseudo-header, header, payload) can be added with [`combine`] before the final
//! complement, which RFC 1071 §2 (A) and (C) permit.
//!
//! A receiver verifies by summing everything including the checksum field: a correct
//! packet sums to `0xffff`. A sender zeroes the field, sums, and stores `!sum`.

use std::net::Ipv4Addr;

use super::IpProtocol;

/// One's complement sum of `data` taken as big-endian 16-bit words (RFC 1071 §4.1).
///
/// An odd trailing byte is padded with a zero byte on the right, as RFC 1071 §4.1 does.
/// The result is `0` only when every byte is zero; otherwise it is in `1..=0xffff`.
pub fn data(data: &[u8]) -> u16 {
    // RFC 1071 §2(C): the sum may be taken over wider words and folded at the end. Eight
    // bytes at a time, as two 32-bit big-endian words, is several times faster than 16-bit
    // words; a u64 accumulator of 32-bit words cannot overflow below 2^32 words.
    let mut wide = data.chunks_exact(8);
    let mut sum: u64 = wide
        .by_ref()
        .map(|c| {
            let v = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            (v >> 32) + (v & 0xffff_ffff)
        })
        .sum();
    let mut words = wide.remainder().chunks_exact(2);
    sum += words
        .by_ref()
        .map(|w| u64::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u64>();
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    fold(sum)
}

/// One's complement sum of partial sums, each produced by [`data`] or [`pseudo_header`].
///
/// Every piece except the last must have even length, so that each byte keeps its
/// position within its 16-bit word.
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// One's complement sum of the IPv4 pseudo-header that UDP (RFC 768) and TCP (RFC 9293
/// §3.1) prepend to their checksum: source and destination addresses, a zero byte, the
/// protocol number, and the transport length (header plus payload) in bytes.
///
/// The pseudo-header makes a segment delivered to the wrong address or protocol fail its
/// checksum; it is also why a NAT that rewrites an address must update transport checksums.
pub fn pseudo_header(
    src_addr: Ipv4Addr,
    dst_addr: Ipv4Addr,
    protocol: IpProtocol,
    length: u16,
) -> u16 {
    combine(&[
        data(&src_addr.octets()),
        data(&dst_addr.octets()),
        u16::from(protocol.0),
        length,
    ])
}

/// Updates a stored checksum after the bytes `old` were replaced by `new`, without
/// re-reading the rest of the packet (RFC 1624 §3, equation 3: `HC' = ~(~HC + ~m + m')`).
///
/// This is what a NAT uses to rewrite addresses and ports: pass the IPv4 header checksum
/// with the old and new address octets, and the TCP or UDP checksum with the old and new
/// address octets (they are in the pseudo-header) and, separately, the old and new port.
/// Equation 3 is used rather than equation 2 because it never turns a valid checksum into
/// `0xffff` (RFC 1624 §3-§4).
///
/// The replaced bytes must start at an even offset of the checksummed data, so that they
/// occupy the same 16-bit word positions as when the checksum was computed. For UDP, a
/// stored checksum of `0` means "no checksum" (RFC 768) and must be left as it is, and a
/// result of `0` must be stored as `0xffff`.
///
/// # Panics
///
/// If `old` and `new` differ in length: that is a bug in the caller, not bad input.
pub fn update(old_checksum: u16, old: &[u8], new: &[u8]) -> u16 {
    assert_eq!(
        old.len(),
        new.len(),
        "checksum update must replace bytes one for one"
    );
    // ~m is the one's complement negation of the sum of the old words.
    !combine(&[!old_checksum, !data(old), data(new)])
}

/// Adds the carries back into the low 16 bits ("end-around carry", RFC 1071 §1).
const fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop leaves `sum <= 0xffff`, so the cast is exact.
    sum as u16
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The worked example of RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
    #[test]
    fn test_rfc1071_example() {
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(data(&bytes), 0xddf2);
        assert_eq!(!data(&bytes), 0x220d);
        // Sums of even-length pieces combine to the sum of the whole (RFC 1071 §2 (C)).
        assert_eq!(combine(&[data(&bytes[..2]), data(&bytes[2..])]), 0xddf2);
    }

    #[test]
    fn test_odd_length_pads_right() {
        assert_eq!(data(&[0xab]), 0xab00);
        assert_eq!(data(&[0x12, 0x34, 0xab]), 0x1234 + 0xab00);
    }

    #[test]
    fn test_end_around_carry() {
        assert_eq!(data(&[0xff, 0xff, 0x00, 0x01]), 0x0001);
        assert_eq!(combine(&[0xffff, 0xffff]), 0xffff);
        assert_eq!(data(&[]), 0);
    }

    /// RFC 1624 §4 example: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000
    /// (equation 2 would wrongly give 0xffff).
    #[test]
    fn test_rfc1624_example() {
        assert_eq!(update(0xdd2f, &[0x55, 0x55], &[0x32, 0x85]), 0x0000);
    }

    #[test]
    fn test_pseudo_header() {
        let sum = pseudo_header(
            Ipv4Addr::new(192, 168, 1, 1),
            Ipv4Addr::new(192, 168, 1, 2),
            IpProtocol::UDP,
            18,
        );
        assert_eq!(
            sum,
            combine(&[0xc0a8, 0x0101, 0xc0a8, 0x0102, 0x0011, 0x0012])
        );
    }

    /// The plain RFC 1071 loop over 16-bit words, to check the wide-word version against.
    fn reference(data: &[u8]) -> u16 {
        let mut sum: u64 = 0;
        for w in data.chunks(2) {
            let hi = u64::from(w[0]) << 8;
            sum += hi | w.get(1).map_or(0, |b| u64::from(*b));
        }
        fold(sum)
    }

    proptest! {
        #[test]
        fn prop_wide_sum_matches_reference(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
            prop_assert_eq!(data(&bytes), reference(&bytes));
        }

        /// RFC 1624 incremental update equals a full recomputation, for any replaced range
        /// starting at an even offset.
        #[test]
        fn prop_update_matches_recompute(
            mut bytes in proptest::collection::vec(any::<u8>(), 2..128),
            start_word in 0usize..64,
            new in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            // A fixed non-zero word, like the protocol number in a pseudo-header, keeps the
            // data from being all zeros: that is the one case where the full sum is +0 and
            // the two methods pick different representations of zero (RFC 1624 §3).
            bytes[0] = 0x80;
            let start = (2 * start_word).min(bytes.len());
            let end = (start + new.len()).min(bytes.len());
            let new = &new[..end - start];
            let before = !data(&bytes);
            let old = bytes[start..end].to_vec();
            bytes[start..end].copy_from_slice(new);
            prop_assert_eq!(update(before, &old, new), !data(&bytes));
        }

        /// Summing in pieces of even length gives the same sum as summing at once.
        #[test]
        fn prop_combine_even_split(
            bytes in proptest::collection::vec(any::<u8>(), 0..128),
            split_word in 0usize..64,
        ) {
            let split = (2 * split_word).min(bytes.len() & !1);
            let (a, b) = bytes.split_at(split);
            prop_assert_eq!(combine(&[data(a), data(b)]), data(&bytes));
        }
    }
}
