//! Simulated time: integer nanoseconds since the start of the run.
//!
//! Nothing in `sim` or `models` reads a wall clock. Time is a `u64` count of nanoseconds, so a
//! run can last 584 years and serialization delays of single bits at 100 Gbit/s survive
//! (style.md pitfall 5). Arithmetic is checked or saturating; `SimTime::MAX` stands for
//! "never".

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// An instant of simulated time, in nanoseconds since the run started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

/// A span of simulated time, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(u64);

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

impl SimTime {
    /// The start of every run.
    pub const ZERO: Self = Self(0);
    /// The far future; used as "never" by timers and deadlines.
    pub const MAX: Self = Self(u64::MAX);

    /// An instant `nanos` nanoseconds after the start.
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time since the start, as a duration.
    pub const fn since_start(self) -> SimDuration {
        SimDuration(self.0)
    }

    /// `self + d`, or `None` past `SimTime::MAX`.
    pub const fn checked_add(self, d: SimDuration) -> Option<Self> {
        match self.0.checked_add(d.0) {
            Some(t) => Some(Self(t)),
            None => None,
        }
    }

    /// `self + d`, clamped to `SimTime::MAX`.
    pub const fn saturating_add(self, d: SimDuration) -> Self {
        Self(self.0.saturating_add(d.0))
    }

    /// How long after `earlier` this instant is, or `None` if `earlier` is later.
    pub const fn checked_duration_since(self, earlier: Self) -> Option<SimDuration> {
        match self.0.checked_sub(earlier.0) {
            Some(d) => Some(SimDuration(d)),
            None => None,
        }
    }

    /// How long after `earlier` this instant is, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Self) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    /// No time at all.
    pub const ZERO: Self = Self(0);
    /// The longest representable span.
    pub const MAX: Self = Self(u64::MAX);

    /// A span of `n` nanoseconds.
    pub const fn from_nanos(n: u64) -> Self {
        Self(n)
    }
    /// A span of `n` microseconds (saturating).
    pub const fn from_micros(n: u64) -> Self {
        Self(n.saturating_mul(NANOS_PER_MICRO))
    }
    /// A span of `n` milliseconds (saturating).
    pub const fn from_millis(n: u64) -> Self {
        Self(n.saturating_mul(NANOS_PER_MILLI))
    }
    /// A span of `n` seconds (saturating).
    pub const fn from_secs(n: u64) -> Self {
        Self(n.saturating_mul(NANOS_PER_SEC))
    }

    /// The whole span in nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// The whole span in microseconds, truncated.
    pub const fn as_micros_total(self) -> u64 {
        self.0 / NANOS_PER_MICRO
    }
    /// The whole span in milliseconds, truncated.
    pub const fn as_millis_total(self) -> u64 {
        self.0 / NANOS_PER_MILLI
    }
    /// The whole span in seconds, truncated.
    pub const fn as_secs_total(self) -> u64 {
        self.0 / NANOS_PER_SEC
    }
    /// The span in seconds as a float, for reporting only (never for event ordering).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }
    /// `self - other`, or `None` if `other` is longer.
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        match self.0.checked_sub(other.0) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }
    /// `self + other`, clamped to `SimDuration::MAX`.
    pub const fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
    /// `self - other`, clamped to zero.
    pub const fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }
    /// `self * k`, clamped to `SimDuration::MAX`.
    pub const fn saturating_mul(self, k: u64) -> Self {
        Self(self.0.saturating_mul(k))
    }

    /// The time `bytes` take to serialise at `rate_bps` bits per second, rounded up to the
    /// next nanosecond so that back-to-back packets never overlap.
    ///
    /// A rate of zero means "infinitely fast" and gives zero.
    pub const fn serialization(bytes: u64, rate_bps: u64) -> Self {
        if rate_bps == 0 {
            return Self::ZERO;
        }
        let bits = bytes as u128 * 8 * NANOS_PER_SEC as u128;
        let ns = bits.div_ceil(rate_bps as u128);
        if ns > u64::MAX as u128 {
            Self::MAX
        } else {
            Self(ns as u64)
        }
    }
}

impl Add<SimDuration> for SimTime {
    type Output = Self;
    /// Saturates at `SimTime::MAX` ("never") rather than wrapping.
    fn add(self, d: SimDuration) -> Self {
        self.saturating_add(d)
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}

impl Sub for SimTime {
    type Output = SimDuration;
    /// Saturates at zero: an "earlier minus later" is a bug upstream, not a panic here.
    fn sub(self, earlier: Self) -> SimDuration {
        self.saturating_duration_since(earlier)
    }
}

impl Add for SimDuration {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        self.saturating_add(other)
    }
}

impl fmt::Display for SimTime {
    /// Seconds with nanosecond precision, e.g. `12.000340000s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.0 / NANOS_PER_SEC,
            self.0 % NANOS_PER_SEC
        )
    }
}

impl fmt::Display for SimDuration {
    /// The largest unit that shows the value exactly: `20ms`, `1.5s` is shown as `1500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n == 0 {
            return f.write_str("0s");
        }
        for (unit, per) in [
            ("s", NANOS_PER_SEC),
            ("ms", NANOS_PER_MILLI),
            ("us", NANOS_PER_MICRO),
        ] {
            if n.is_multiple_of(per) {
                return write!(f, "{}{unit}", n / per);
            }
        }
        write!(f, "{n}ns")
    }
}

/// Error from [`SimDuration::parse`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected a duration such as \"20ms\", \"1.5s\" or \"2h\" (units: ns, us, ms, s, min, h), got {0:?}"
)]
pub struct ParseDurationError(pub String);

impl SimDuration {
    /// Parses a decimal duration with a unit: `"20ms"`, `"1.5s"`, `"250us"`, `"2min"`, `"1h"`.
    ///
    /// The decimal is converted exactly (no floating point), so `"0.1s"` is 100,000,000 ns.
    pub fn parse(s: &str) -> Result<Self, ParseDurationError> {
        let err = || ParseDurationError(s.to_owned());
        let t = s.trim();
        let split = t.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(err)?;
        let (num, unit) = t.split_at(split);
        let per = match unit.trim() {
            "ns" => 1,
            "us" | "µs" => NANOS_PER_MICRO,
            "ms" => NANOS_PER_MILLI,
            "s" => NANOS_PER_SEC,
            "min" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            _ => return Err(err()),
        };
        parse_scaled_decimal(num.trim(), per)
            .map(Self)
            .ok_or_else(err)
    }
}

/// Parses a non-negative decimal `"12.345"` and multiplies it by `scale` exactly, failing on
/// overflow, on a fraction finer than `1/scale`, or on anything that is not plain digits.
pub fn parse_scaled_decimal(num: &str, scale: u64) -> Option<u64> {
    let (int_part, frac_part) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || !all_digits(frac_part) {
        return None;
    }
    let int: u64 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let mut total = int.checked_mul(scale)?;
    let mut unit = scale;
    for digit in frac_part.bytes() {
        let d = u64::from(digit - b'0');
        if !unit.is_multiple_of(10) {
            // Finer than the scale can hold: only trailing zeros are allowed.
            if d != 0 {
                return None;
            }
            continue;
        }
        unit /= 10;
        total = total.checked_add(d * unit)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_units_exactly() {
        assert_eq!(SimDuration::parse("20ms"), Ok(SimDuration::from_millis(20)));
        assert_eq!(
            SimDuration::parse("1.5s"),
            Ok(SimDuration::from_millis(1500))
        );
        assert_eq!(
            SimDuration::parse("0.1s"),
            Ok(SimDuration::from_nanos(100_000_000))
        );
        assert_eq!(SimDuration::parse("2min"), Ok(SimDuration::from_secs(120)));
        assert_eq!(
            SimDuration::parse(" 7 us "),
            Ok(SimDuration::from_micros(7))
        );
        assert_eq!(SimDuration::parse("1.0ns"), Ok(SimDuration::from_nanos(1)));
        for bad in [
            "",
            "ms",
            "1",
            "1.5",
            "-1s",
            "1.5ns",
            "1e3ms",
            "1 fortnight",
            "99999999999999h",
        ] {
            assert!(SimDuration::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn display_round_trips() {
        for d in [0, 1, 1_000, 20_000_000, 1_500_000_000, 3_600_000_000_000] {
            let d = SimDuration::from_nanos(d);
            assert_eq!(SimDuration::parse(&d.to_string()), Ok(d));
        }
    }

    #[test]
    fn serialization_rounds_up() {
        // 1500 bytes at 10 Mbit/s = 1.2 ms exactly.
        assert_eq!(
            SimDuration::serialization(1500, 10_000_000),
            SimDuration::from_micros(1200)
        );
        // 1 byte at 3 bit/s = 2.666.. s, rounded up.
        assert_eq!(SimDuration::serialization(1, 3).as_nanos(), 2_666_666_667);
        assert_eq!(SimDuration::serialization(1500, 0), SimDuration::ZERO);
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(SimTime::MAX + SimDuration::from_secs(1), SimTime::MAX);
        assert_eq!(SimTime::ZERO - SimTime::from_nanos(5), SimDuration::ZERO);
        assert_eq!(
            SimTime::ZERO.checked_add(SimDuration::MAX),
            Some(SimTime::MAX)
        );
        assert_eq!(SimTime::from_nanos(1).checked_add(SimDuration::MAX), None);
        assert_eq!(
            SimTime::from_nanos(1_500_000_000).to_string(),
            "1.500000000s"
        );
    }
}
