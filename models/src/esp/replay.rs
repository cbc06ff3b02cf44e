//! The receiver's anti-replay window (RFC 4303 §3.4.3, Appendix A).
//!
//! A bitmap of the last `W` sequence numbers, right edge at the highest authenticated
//! number. Checking is split from updating because RFC 4303 §3.4.3 orders it so: a
//! duplicate or too-old packet is dropped before the (costly) integrity check, and the
//! window moves only after the packet authenticated. With ESN the high 32 bits are never
//! sent; [`ReplayWindow::infer`] guesses them from the window (Appendix A2.1) and the ICV
//! confirms the guess.

use super::EspDropReason;

/// A validated replay window size `W`, in packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplayWindowSize(u32);

impl ReplayWindowSize {
    /// 64: "a default window size of 64 SHOULD be used" (RFC 4303 §3.4.3). 32 is the
    /// minimum an implementation MUST support; libreswan defaults to 128.
    pub const DEFAULT: Self = Self(64);
    /// The largest size accepted: 2^16 packets, an 8 KiB bitmap.
    pub const MAX: u32 = 1 << 16;

    /// `W` packets; `None` unless `1 <= size <= MAX`.
    pub const fn new(size: u32) -> Option<Self> {
        if size == 0 || size > Self::MAX {
            None
        } else {
            Some(Self(size))
        }
    }

    /// The size in packets.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for ReplayWindowSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The window: `top` is the highest sequence number accepted (0 before the first), and
/// bit `s % bits.len()*64` of the ring bitmap says whether `s` in `(top - W, top]` was
/// received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ReplayWindow {
    size: u32,
    top: u64,
    bits: Vec<u64>,
}

impl ReplayWindow {
    /// An empty window of `size` packets.
    pub(super) fn new(size: ReplayWindowSize) -> Self {
        let words = size.get().div_ceil(64) as usize;
        Self {
            size: size.get(),
            top: 0,
            bits: vec![0; words],
        }
    }

    /// The highest sequence number accepted so far (0 if none).
    pub(super) const fn top(&self) -> u64 {
        self.top
    }

    /// The full 64-bit sequence number for the low 32 bits `seq_lo`, per RFC 4303
    /// Appendix A2.1, with `T` = [`Self::top`] and `W` = the window size.
    ///
    /// Case A (`Tl >= W - 1`, window in one 2^32 subspace): `Seq >= Tl - W + 1` means the
    /// same subspace `Th`, anything lower means the next one, `Th + 1`. Case B (the window
    /// straddles two subspaces): `Seq >= Tl - W + 1 (mod 2^32)` means the previous one,
    /// `Th - 1`, anything lower means `Th`. `None` if the subspace would be before the
    /// first or after the last (the packet cannot be valid).
    pub(super) fn infer(&self, seq_lo: u32) -> Option<u64> {
        let (th, tl) = ((self.top >> 32) as u32, self.top as u32);
        let w_minus_1 = self.size - 1;
        let seq_hi = if tl >= w_minus_1 {
            if seq_lo >= tl - w_minus_1 {
                th
            } else {
                th.checked_add(1)?
            }
        } else if seq_lo >= tl.wrapping_sub(w_minus_1) {
            th.checked_sub(1)?
        } else {
            th
        };
        Some((u64::from(seq_hi) << 32) | u64::from(seq_lo))
    }

    /// Whether `seq` may be accepted: right of the window, or inside it and not seen.
    pub(super) fn check(&self, seq: u64) -> Result<(), EspDropReason> {
        if seq > self.top {
            return Ok(());
        }
        // Sequence number 0 is never sent (the counter is incremented before the first
        // packet, RFC 4303 §3.3.3), so it is left of every window.
        if seq == 0 || self.top - seq >= u64::from(self.size) {
            return Err(EspDropReason::TooOld);
        }
        if self.bit(seq) {
            Err(EspDropReason::Replay)
        } else {
            Ok(())
        }
    }

    /// Records an authenticated `seq` that passed [`Self::check`], sliding the window
    /// right if it is new.
    pub(super) fn accept(&mut self, seq: u64) {
        debug_assert_eq!(self.check(seq), Ok(()), "accept after check");
        if seq > self.top {
            let ring = self.ring_bits();
            if seq - self.top >= ring {
                self.bits.fill(0);
            } else {
                for s in self.top + 1..seq {
                    self.set_bit(s, false);
                }
            }
            self.top = seq;
        }
        self.set_bit(seq, true);
    }

    /// Bits in the ring: the window size rounded up to whole words.
    fn ring_bits(&self) -> u64 {
        self.bits.len() as u64 * 64
    }

    /// Word index and mask of `seq`'s bit.
    fn slot(&self, seq: u64) -> (usize, u64) {
        let index = seq % self.ring_bits();
        ((index / 64) as usize, 1 << (index % 64))
    }

    fn bit(&self, seq: u64) -> bool {
        let (word, mask) = self.slot(seq);
        self.bits[word] & mask != 0
    }

    fn set_bit(&mut self, seq: u64, value: bool) {
        let (word, mask) = self.slot(seq);
        if value {
            self.bits[word] |= mask;
        } else {
            self.bits[word] &= !mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn window(size: u32) -> ReplayWindow {
        ReplayWindow::new(ReplayWindowSize::new(size).unwrap())
    }

    fn receive(w: &mut ReplayWindow, seq: u64) -> Result<(), EspDropReason> {
        w.check(seq)?;
        w.accept(seq);
        Ok(())
    }

    #[test]
    fn test_size_bounds() {
        assert_eq!(ReplayWindowSize::new(0), None);
        assert_eq!(ReplayWindowSize::new(ReplayWindowSize::MAX + 1), None);
        assert_eq!(ReplayWindowSize::default().get(), 64);
    }

    /// RFC 4303 §3.4.3: duplicates inside the window are dropped, numbers left of it are
    /// too old, out-of-order numbers inside it are accepted once.
    #[test]
    fn test_window_rules() {
        let mut w = window(64);
        assert_eq!(receive(&mut w, 0), Err(EspDropReason::TooOld));
        assert_eq!(receive(&mut w, 100), Ok(()));
        assert_eq!(receive(&mut w, 100), Err(EspDropReason::Replay));
        assert_eq!(receive(&mut w, 37), Ok(()), "100 - 63: left edge");
        assert_eq!(receive(&mut w, 36), Err(EspDropReason::TooOld));
        assert_eq!(receive(&mut w, 37), Err(EspDropReason::Replay));
        assert_eq!(receive(&mut w, 200), Ok(()));
        assert_eq!(
            receive(&mut w, 137),
            Ok(()),
            "its bit was cleared by the slide"
        );
        assert_eq!(receive(&mut w, 136), Err(EspDropReason::TooOld));
    }

    /// Appendix A2.1, case A and case B, on both sides of a 2^32 boundary.
    #[test]
    fn test_esn_inference() {
        let mut w = window(64);
        assert_eq!(w.infer(5), Some(5));
        assert_eq!(w.infer(u32::MAX), None, "before the first subspace");
        receive(&mut w, (1 << 32) - 10).unwrap();
        assert_eq!(w.infer(u32::MAX - 20), Some(u64::from(u32::MAX) - 20));
        assert_eq!(w.infer(3), Some((1 << 32) + 3), "case A: next subspace");
        receive(&mut w, (1 << 32) + 3).unwrap();
        assert_eq!(
            w.infer(u32::MAX - 20),
            Some(u64::from(u32::MAX) - 20),
            "case B"
        );
        assert_eq!(w.infer(2), Some((1 << 32) + 2), "case B: same subspace");
        assert_eq!(w.infer(70), Some((1 << 32) + 70));
    }

    proptest! {
        /// Against a model: a set of accepted numbers, and the three rules.
        #[test]
        fn prop_matches_model(size in 1u32..200, seqs in proptest::collection::vec(1u64..600, 0..300)) {
            let mut w = window(size);
            let mut seen = std::collections::BTreeSet::new();
            for seq in seqs {
                let top = seen.last().copied().unwrap_or(0);
                let expected = if seq > top {
                    Ok(())
                } else if top - seq >= u64::from(size) {
                    Err(EspDropReason::TooOld)
                } else if seen.contains(&seq) {
                    Err(EspDropReason::Replay)
                } else {
                    Ok(())
                };
                prop_assert_eq!(receive(&mut w, seq), expected);
                if expected.is_ok() {
                    seen.insert(seq);
                }
            }
        }

        /// ESN inference recovers any number within W of the top or up to 2^31 ahead.
        #[test]
        fn prop_infer_recovers(top in 1u64..(1 << 40), behind in 0u64..64, ahead in 1u64..(1 << 31)) {
            let mut w = window(64);
            w.accept(top);
            let back = top.saturating_sub(behind).max(1);
            prop_assert_eq!(w.infer(back as u32), Some(back));
            prop_assert_eq!(w.infer((top + ahead) as u32), Some(top + ahead));
        }
    }
}
