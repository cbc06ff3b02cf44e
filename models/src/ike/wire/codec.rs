//! Bounds-checked reading and length-patching writing for IKEv2's chained payloads.
//!
//! IKEv2 nests length-prefixed structures (message, payload, proposal, transform,
//! attribute), so parsing is a [`Reader`] that hands out sub-readers for each declared
//! length and refuses trailing bytes (style rule 5, after rustls `msgs/codec.rs`
//! `Reader::sub` and quinn `coding.rs`). Every read is checked; nothing panics on any
//! input and nothing allocates from a length field. Writing appends to a `Vec<u8>` and
//! patches 16-bit length fields once the body is known.

use crate::wire::{Error, Result};

/// A cursor over input bytes whose every read is bounds-checked.
///
/// Also useful to the IKE state machine for notify data with fixed layouts (e.g. the
/// 2-octet group of INVALID_KE_PAYLOAD, RFC 7296 §3.10.1, or the 12 octets of
/// IKEV2_MESSAGE_ID_SYNC, RFC 6311 §5.1): read the fields, then [`Reader::finish`].
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over all of `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// The next `n` bytes, or an error if fewer are left.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(Error);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// One octet.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian `u16` (all IKEv2 integers are network order, RFC 7296 §3.1).
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A big-endian `u64` (IKE SPIs).
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A reader over the next `n` bytes, which this reader skips.
    pub fn sub(&mut self, n: usize) -> Result<Self> {
        self.take(n).map(Self::new)
    }

    /// Everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Bytes left to read.
    pub const fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether all bytes were read.
    pub const fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Succeeds only if every byte was read: trailing data is malformed (rustls
    /// `Reader::all`).
    pub const fn finish(self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error)
        }
    }
}

/// Appends a big-endian `u16`.
pub(crate) fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Writes `out.len() - start` into the 16-bit length field at `at`: the structure that
/// began at `start` is complete.
///
/// # Panics
///
/// If the structure exceeds 65535 octets, which no 16-bit length field can say (a local
/// invariant: callers build payloads, peers cannot).
pub(crate) fn patch_len16(out: &mut [u8], at: usize, start: usize) {
    let len = u16::try_from(out.len() - start).expect("IKEv2 structure longer than 65535 octets");
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u16(), Err(Error));
        assert_eq!(r.remaining(), 1);
        let mut sub = r.sub(1).unwrap();
        assert_eq!(sub.u8(), Ok(3));
        assert!(sub.finish().is_ok());
        assert!(r.finish().is_ok());
        assert_eq!(Reader::new(&[0]).finish(), Err(Error));
        assert_eq!(Reader::new(&[0]).sub(2).map(|_| ()), Err(Error));
    }
}
