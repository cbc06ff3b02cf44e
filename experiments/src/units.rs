//! Scenario values with units: durations (`"20ms"`), rates (`"10Mbps"`), sizes (`"10MB"`)
//! and probabilities (`0.01`). Each parses exactly (no floats for durations, rates or sizes)
//! and explains what it accepts when it does not.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use sim::time::parse_scaled_decimal;
use sim::{Ratio, SimDuration};

/// A duration written with a unit: `"20ms"`, `"1.5s"`, `"2min"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub SimDuration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SimDuration::parse(&s).map(Dur).map_err(de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// A bit rate: `"10Mbps"`, `"1.5Gbps"`, `"64kbps"`, `"9600bps"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate(pub u64);

impl Rate {
    /// Parses `"<decimal><unit>"` with unit `bps`, `kbps`, `Mbps` or `Gbps` (powers of 1000).
    pub fn parse(s: &str) -> Result<Self, String> {
        let err = || {
            format!("expected a rate such as \"10Mbps\" (units: bps, kbps, Mbps, Gbps), got {s:?}")
        };
        let t = s.trim();
        let split = t.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(err)?;
        let (num, unit) = t.split_at(split);
        let scale = match unit {
            "bps" => 1,
            "kbps" => 1_000,
            "Mbps" => 1_000_000,
            "Gbps" => 1_000_000_000,
            _ => return Err(err()),
        };
        parse_scaled_decimal(num.trim(), scale)
            .map(Rate)
            .ok_or_else(err)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, per) in [
            ("Gbps", 1_000_000_000),
            ("Mbps", 1_000_000),
            ("kbps", 1_000),
        ] {
            if self.0 >= per && self.0.is_multiple_of(per) {
                return write!(f, "{}{unit}", self.0 / per);
            }
        }
        write!(f, "{}bps", self.0)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// A size in bytes: an integer, or a string with a unit: `"1500B"`, `"10MB"`, `"4MiB"`,
/// `"64kB"`, `"1KiB"` (kB/MB/GB are powers of 1000; KiB/MiB/GiB powers of 1024).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Bytes(pub u64);

impl Bytes {
    fn parse(s: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "expected a size such as 1500, \"10MB\" or \"4MiB\" (units: B, kB, MB, GB, KiB, MiB, GiB), got {s:?}"
            )
        };
        let t = s.trim();
        let split = t.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(err)?;
        let (num, unit) = t.split_at(split);
        let scale = match unit {
            "B" => 1,
            "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return Err(err()),
        };
        parse_scaled_decimal(num.trim(), scale)
            .map(Bytes)
            .ok_or_else(err)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size in bytes: an integer or a string such as \"10MB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bytes, E> {
                u64::try_from(v)
                    .map(Bytes)
                    .map_err(|_| E::custom(format!("a size cannot be negative, got {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                Bytes::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A probability in `[0, 1]`, written as a number (`0.01`, `0`, `1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prob(pub Ratio);

impl<'de> Deserialize<'de> for Prob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Prob;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a probability between 0 and 1, such as 0.01")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Prob, E> {
                Ratio::from_f64(v).map(Prob).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Prob, E> {
                match v {
                    0 => Ok(Prob(Ratio::ZERO)),
                    1 => Ok(Prob(Ratio::ONE)),
                    _ => Err(E::custom(format!(
                        "expected a probability between 0 and 1, got {v}"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Prob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0.as_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_sizes_parse_exactly() {
        assert_eq!(Rate::parse("10Mbps"), Ok(Rate(10_000_000)));
        assert_eq!(Rate::parse("1.5Gbps"), Ok(Rate(1_500_000_000)));
        assert!(Rate::parse("10MBps").is_err());
        assert!(Rate::parse("fast").is_err());
        assert_eq!(Rate(1_500_000).to_string(), "1500kbps");
        assert_eq!(Bytes::parse("10MB"), Ok(Bytes(10_000_000)));
        assert_eq!(Bytes::parse("4MiB"), Ok(Bytes(4 << 20)));
        assert!(Bytes::parse("4mb").is_err());
    }
}
