//! The run fingerprint: a rolling 64-bit hash of every executed event.
//!
//! Same inputs give the same fingerprint; any change in what happened, when, to whom, or
//! how large a packet was, changes it. `ikesim check` compares it against baselines.

/// A rolling hash of executed events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Self::new()
    }
}

impl Fingerprint {
    /// The fingerprint of a run that executed nothing.
    pub const fn new() -> Self {
        Self(0x6a09_e667_f3bc_c908)
    }

    /// Folds one event, described by a few words, into the hash.
    pub fn fold(&mut self, words: &[u64]) {
        for &w in words {
            // FxHash-style step followed by a final avalanche in `value`.
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    /// The current value, avalanched so nearby inputs give unrelated outputs.
    pub const fn value(self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        z ^ (z >> 33)
    }
}
