//! Keyed, seeded randomness.
//!
//! A run has one root seed. Every consumer (a node incarnation, a link direction, a purpose
//! inside a model) gets its own [`SimRng`] derived from the root and a *stable key* made of
//! names, never from creation or draw order (style.md rule 4, pitfall 12). Adding a node or a
//! link therefore leaves every other stream untouched.
//!
//! The generator is pinned (`ChaCha12` from `rand_chacha`, pitfall 7), and the distributions
//! are our own: integer ones are exact, and the few that need `ln`/`cos` use `libm`, a pure
//! software implementation, so results do not depend on the platform's math library.

use rand_chacha::ChaCha12Rng;
use rand_core::{Rng, SeedableRng};

use crate::time::SimDuration;

/// A stable key naming one random stream: an ordered list of parts such as
/// `["node", "client-7", "incarnation", "0"]`.
///
/// Parts are length-prefixed before hashing, so `["ab", "c"]` and `["a", "bc"]` differ.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamKey {
    hash: u64,
}

impl StreamKey {
    /// The empty key; extend it with [`StreamKey::part`].
    pub const fn root() -> Self {
        Self { hash: FNV_OFFSET }
    }

    /// A key made of `parts`, in order.
    pub fn new(parts: &[&str]) -> Self {
        parts.iter().fold(Self::root(), |k, p| k.part(p))
    }

    /// This key with one more part appended.
    #[must_use]
    pub fn part(&self, part: &str) -> Self {
        let mut h = self.hash;
        for b in (part.len() as u64)
            .to_le_bytes()
            .iter()
            .chain(part.as_bytes())
        {
            h ^= u64::from(*b);
            h = h.wrapping_mul(FNV_PRIME);
        }
        Self { hash: h }
    }

    /// This key with an integer part appended (e.g. an incarnation number).
    #[must_use]
    pub fn part_u64(&self, n: u64) -> Self {
        self.part(&n.to_string())
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// SplitMix64: a bijective mixer used to spread a 64-bit value over a 256-bit seed.
const fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The run's root seed, from which every stream is derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RootSeed(pub u64);

impl RootSeed {
    /// The 64-bit seed of the stream named by `key` under this root.
    pub fn derive(self, key: &StreamKey) -> u64 {
        let mut s = self.0 ^ key.hash.rotate_left(17);
        splitmix64(&mut s) ^ splitmix64(&mut s).rotate_left(32)
    }

    /// The stream named by `key` under this root.
    pub fn stream(self, key: &StreamKey) -> SimRng {
        SimRng::from_seed_u64(self.derive(key))
    }
}

/// A probability as an exact integer ratio `num / den` (style.md rule 14; TigerBeetle's
/// `Ratio`), so a Bernoulli draw is an integer comparison and never a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ratio {
    num: u64,
    den: u64,
}

/// Error from building a [`Ratio`] out of range.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("expected a probability between 0 and 1, got {0}")]
pub struct RatioError(pub String);

impl Ratio {
    /// Never.
    pub const ZERO: Self = Self { num: 0, den: 1 };
    /// Always.
    pub const ONE: Self = Self { num: 1, den: 1 };
    /// Denominator used when converting from decimals: parts per billion.
    const PPB: u64 = 1_000_000_000;

    /// `num / den`; fails unless `den > 0` and `num <= den`.
    pub fn new(num: u64, den: u64) -> Result<Self, RatioError> {
        if den == 0 || num > den {
            return Err(RatioError(format!("{num}/{den}")));
        }
        Ok(Self { num, den })
    }

    /// The nearest parts-per-billion ratio to `p`; fails outside `[0, 1]` or on NaN.
    pub fn from_f64(p: f64) -> Result<Self, RatioError> {
        if !(0.0..=1.0).contains(&p) {
            return Err(RatioError(p.to_string()));
        }
        // Exact IEEE rounding of a value in [0, 1e9]: deterministic on every platform.
        let num = (p * Self::PPB as f64).round() as u64;
        Self::new(num, Self::PPB)
    }

    /// The numerator.
    pub const fn num(self) -> u64 {
        self.num
    }
    /// The denominator.
    pub const fn den(self) -> u64 {
        self.den
    }
    /// The value as a float, for reporting only.
    pub fn as_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
    /// Whether this ratio is zero.
    pub const fn is_zero(self) -> bool {
        self.num == 0
    }
}

/// A seeded, pinned pseudo-random stream with the distributions the simulator needs.
///
/// The generator's state (ChaCha's key and a four-block output buffer, ~300 bytes) exists
/// only while the stream is drawn from. Until the first draw, and after [`SimRng::park`],
/// the stream is its seed and its position; the next draw rebuilds the generator at that
/// position, so the numbers are the same as if it had been kept. Every node has a stream
/// and most draw from it rarely (a client: its start time, its TCP ports and initial
/// sequence numbers), so the engine parks them between callbacks.
#[derive(Clone, Debug)]
pub struct SimRng {
    seed: u64,
    /// Words drawn before the generator was last parked.
    word_pos: u64,
    live: Option<Box<ChaCha12Rng>>,
}

impl SimRng {
    /// A stream seeded from a 64-bit value, expanded to ChaCha's 256-bit seed with SplitMix64.
    pub fn from_seed_u64(seed: u64) -> Self {
        Self {
            seed,
            word_pos: 0,
            live: None,
        }
    }

    /// The generator, rebuilt at the parked position if it is not live.
    fn live(&mut self) -> &mut ChaCha12Rng {
        let (seed, word_pos) = (self.seed, self.word_pos);
        self.live.get_or_insert_with(|| {
            let mut s = seed;
            let mut bytes = [0u8; 32];
            for chunk in bytes.chunks_exact_mut(8) {
                chunk.copy_from_slice(&splitmix64(&mut s).to_le_bytes());
            }
            let mut rng = ChaCha12Rng::from_seed(bytes);
            if word_pos != 0 {
                rng.set_word_pos(u128::from(word_pos));
            }
            Box::new(rng)
        })
    }

    /// Drops the generator's state and keeps its position: the next draw rebuilds it there
    /// and continues the same sequence. For streams drawn from rarely.
    pub fn park(&mut self) {
        if let Some(rng) = self.live.take() {
            self.word_pos = u64::try_from(rng.get_word_pos()).expect("fewer than 2^64 draws");
        }
    }

    /// Runs `f` with the stream, then parks it: for state that exists in the hundreds of
    /// thousands and draws a few words now and then (an IKE SA, per exchange), where a
    /// live generator would be ~300 bytes each (BENCHMARKS.md, "Memory per idle client").
    pub fn then_park<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let out = f(self);
        self.park();
        out
    }

    /// A uniformly random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.live().next_u64()
    }

    /// A uniformly random `u32`.
    pub fn next_u32(&mut self) -> u32 {
        self.live().next_u32()
    }

    /// Fills `dest` with random bytes (nonces, SPIs, keys).
    pub fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.live().fill_bytes(dest);
    }

    /// A uniform integer in `0..n` without modulo bias (Lemire's method); `n == 0` gives 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            let low = m as u64;
            if low >= n || low >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }

    /// A uniform integer in `lo..=hi` (returns `lo` if `hi < lo`).
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// A uniform duration in `lo..=hi`.
    pub fn uniform_duration(&mut self, lo: SimDuration, hi: SimDuration) -> SimDuration {
        SimDuration::from_nanos(self.range_inclusive(lo.as_nanos(), hi.as_nanos()))
    }

    /// A Bernoulli trial that succeeds with probability `p`, decided in integers.
    pub fn chance(&mut self, p: Ratio) -> bool {
        p.num != 0 && (p.num == p.den || self.below(p.den) < p.num)
    }

    /// A uniform float in `(0, 1]`, built from 53 random bits.
    fn unit_open0(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// An exponentially distributed duration with the given mean (inter-arrival times).
    pub fn exponential(&mut self, mean: SimDuration) -> SimDuration {
        let x = -libm::log(self.unit_open0()) * mean.as_nanos() as f64;
        SimDuration::from_nanos(float_to_nanos(x))
    }

    /// A standard normal sample (Box–Muller with `libm`, so identical on every platform).
    pub fn standard_normal(&mut self) -> f64 {
        let u1 = self.unit_open0();
        let u2 = self.unit_open0();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2)
    }

    /// `mean + N(0, sd)` truncated to `[lo, hi]`, in whole nanoseconds (link jitter).
    pub fn truncated_normal(
        &mut self,
        mean: SimDuration,
        sd: SimDuration,
        lo: SimDuration,
        hi: SimDuration,
    ) -> SimDuration {
        let x = mean.as_nanos() as f64 + self.standard_normal() * sd.as_nanos() as f64;
        let n = float_to_nanos(x).clamp(lo.as_nanos(), hi.as_nanos().max(lo.as_nanos()));
        SimDuration::from_nanos(n)
    }
}

/// Rounds a non-negative float of nanoseconds to an integer, saturating.
fn float_to_nanos(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= u64::MAX as f64 {
        u64::MAX
    } else {
        x.round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Parking and resuming around every draw (of 32 and 64 bits and byte strings, so
        /// positions fall mid-word-pair and mid-block) gives exactly the running stream.
        #[test]
        fn a_parked_stream_resumes_where_it_stopped(draws in prop::collection::vec((0u8..3, 0usize..70), 0..200)) {
            let mut running = SimRng::from_seed_u64(42);
            let mut parked = SimRng::from_seed_u64(42);
            for (kind, len) in draws {
                match kind {
                    0 => prop_assert_eq!(parked.then_park(SimRng::next_u32), running.next_u32()),
                    1 => prop_assert_eq!(parked.then_park(SimRng::next_u64), running.next_u64()),
                    _ => {
                        let (mut a, mut b) = (vec![0; len], vec![0; len]);
                        parked.then_park(|rng| rng.fill_bytes(&mut a));
                        running.fill_bytes(&mut b);
                        prop_assert_eq!(a, b);
                    }
                }
            }
        }
    }

    #[test]
    fn streams_depend_on_root_and_key_only() {
        let a = RootSeed(1)
            .stream(&StreamKey::new(&["node", "a"]))
            .next_u64();
        let a2 = RootSeed(1)
            .stream(&StreamKey::new(&["node", "a"]))
            .next_u64();
        let b = RootSeed(1)
            .stream(&StreamKey::new(&["node", "b"]))
            .next_u64();
        let a_other_root = RootSeed(2)
            .stream(&StreamKey::new(&["node", "a"]))
            .next_u64();
        assert_eq!(a, a2);
        assert_ne!(a, b);
        assert_ne!(a, a_other_root);
        assert_ne!(StreamKey::new(&["ab", "c"]), StreamKey::new(&["a", "bc"]));
    }

    #[test]
    fn pinned_generator_output() {
        // Pins the generator and the key derivation: a change here changes every result.
        let mut r = RootSeed(42).stream(&StreamKey::new(&["pin"]));
        let got = [r.next_u64(), r.next_u64()];
        let mut again = RootSeed(42).stream(&StreamKey::new(&["pin"]));
        assert_eq!(got, [again.next_u64(), again.next_u64()]);
        assert_eq!(
            RootSeed(42).derive(&StreamKey::new(&["pin"])),
            11_005_037_324_857_493_943
        );
        assert_eq!(got[0], PINNED_FIRST);
    }
    const PINNED_FIRST: u64 = 18_275_873_621_136_664_967;

    #[test]
    fn a_parked_stream_continues_the_same_sequence() {
        let mut kept = SimRng::from_seed_u64(5);
        let mut parked = SimRng::from_seed_u64(5);
        let mut a = Vec::new();
        let mut b = Vec::new();
        // Odd word counts and buffer crossings (64 words per refill) included.
        for round in 0..200u64 {
            let mut bytes = [0u8; 8];
            kept.fill_bytes(&mut bytes[..7]);
            a.push(u64::from_le_bytes(bytes));
            a.push(kept.next_u64());
            a.push(u64::from(kept.next_u32()));
            parked.fill_bytes(&mut bytes[..7]);
            b.push(u64::from_le_bytes(bytes));
            if round % 3 == 0 {
                parked.park();
            }
            b.push(parked.next_u64());
            parked.park();
            b.push(u64::from(parked.next_u32()));
        }
        assert_eq!(a, b);
    }

    #[test]
    fn below_is_in_range_and_unbiased_enough() {
        let mut r = SimRng::from_seed_u64(7);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[r.below(6) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.range_inclusive(5, 5), 5);
        let _ = r.range_inclusive(0, u64::MAX);
    }

    #[test]
    fn ratio_bounds() {
        assert!(Ratio::new(1, 0).is_err());
        assert!(Ratio::new(2, 1).is_err());
        assert!(Ratio::from_f64(1.5).is_err());
        assert!(Ratio::from_f64(f64::NAN).is_err());
        assert_eq!(Ratio::from_f64(0.01).map(|r| r.num()), Ok(10_000_000));
        let mut r = SimRng::from_seed_u64(1);
        assert!(!r.chance(Ratio::ZERO));
        assert!(r.chance(Ratio::ONE));
    }

    #[test]
    fn exponential_mean() {
        let mut r = SimRng::from_seed_u64(3);
        let n = 100_000u64;
        let mean = SimDuration::from_millis(10);
        let sum: u64 = (0..n).map(|_| r.exponential(mean).as_nanos()).sum();
        let got = sum / n;
        // Standard error of the mean is 10 ms / sqrt(1e5) ~ 32 us; allow 4 sigma.
        assert!(got.abs_diff(10_000_000) < 130_000, "mean {got}");
    }

    #[test]
    fn truncated_normal_stays_in_bounds() {
        let mut r = SimRng::from_seed_u64(9);
        let (lo, hi) = (SimDuration::from_millis(5), SimDuration::from_millis(15));
        for _ in 0..10_000 {
            let d = r.truncated_normal(
                SimDuration::from_millis(10),
                SimDuration::from_millis(5),
                lo,
                hi,
            );
            assert!(d >= lo && d <= hi);
        }
    }
}
