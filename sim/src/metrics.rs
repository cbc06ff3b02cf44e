//! Metrics: named counters, gauges, histograms and time series, kept per node and per link
//! and read by `experiments` after the run. Models never print; they record here.
//!
//! Names are kept in a `BTreeMap`, so every export is in a stable order.

use std::collections::BTreeMap;

use crate::time::SimTime;

/// One recorded quantity.
#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    /// A monotonically increasing count.
    Counter(u64),
    /// The latest value of something that goes up and down.
    Gauge(f64),
    /// A distribution of non-negative integer samples.
    Histogram(Histogram),
    /// Values over simulated time.
    Series(TimeSeries),
}

/// The metrics of one node or link, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    entries: BTreeMap<String, Metric>,
}

impl Metrics {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&mut self, name: &str, make: impl FnOnce() -> Metric) -> &mut Metric {
        if !self.entries.contains_key(name) {
            self.entries.insert(name.to_owned(), make());
        }
        self.entries.get_mut(name).expect("inserted above")
    }

    /// Adds `n` to counter `name` (created at zero). A name already used for another kind
    /// of metric is a programming error in the model.
    pub fn add(&mut self, name: &str, n: u64) {
        // Fast path, one lookup: the counter exists (every packet after the first).
        if let Some(Metric::Counter(c)) = self.entries.get_mut(name) {
            *c += n;
            return;
        }
        match self.entry(name, || Metric::Counter(0)) {
            Metric::Counter(c) => *c += n,
            other => panic!("metric {name} is {other:?}, not a counter"),
        }
    }

    /// Adds one to counter `name`.
    pub fn incr(&mut self, name: &str) {
        self.add(name, 1);
    }

    /// Sets gauge `name` to `v`.
    pub fn set_gauge(&mut self, name: &str, v: f64) {
        match self.entry(name, || Metric::Gauge(v)) {
            Metric::Gauge(g) => *g = v,
            other => panic!("metric {name} is {other:?}, not a gauge"),
        }
    }

    /// Records one sample in histogram `name`.
    pub fn record(&mut self, name: &str, sample: u64) {
        match self.entry(name, || Metric::Histogram(Histogram::default())) {
            Metric::Histogram(h) => h.record(sample),
            other => panic!("metric {name} is {other:?}, not a histogram"),
        }
    }

    /// Appends `(now, v)` to time series `name`.
    pub fn sample(&mut self, name: &str, now: SimTime, v: f64) {
        match self.entry(name, || Metric::Series(TimeSeries::default())) {
            Metric::Series(s) => s.points.push((now, v)),
            other => panic!("metric {name} is {other:?}, not a time series"),
        }
    }

    /// The value of counter `name`, or 0 if it was never touched.
    pub fn counter(&self, name: &str) -> u64 {
        match self.entries.get(name) {
            Some(Metric::Counter(c)) => *c,
            _ => 0,
        }
    }

    /// The metric called `name`.
    pub fn get(&self, name: &str) -> Option<&Metric> {
        self.entries.get(name)
    }

    /// Every metric, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Metric)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A log-linear histogram of `u64` samples: exact count, sum, min and max, and quantiles
/// with a relative error below 1/32 (32 sub-buckets per power of two).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    buckets: BTreeMap<u32, u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

const SUB_BITS: u32 = 5;

impl Histogram {
    fn bucket_of(v: u64) -> u32 {
        if v < (1 << SUB_BITS) {
            return v as u32;
        }
        let exp = 63 - v.leading_zeros(); // >= SUB_BITS
        let shift = exp - SUB_BITS;
        let sub = ((v >> shift) as u32) & ((1 << SUB_BITS) - 1);
        ((shift + 1) << SUB_BITS) | sub
    }

    /// The smallest and largest value that fall into `bucket`.
    fn bucket_range(bucket: u32) -> (u64, u64) {
        let shift_plus = bucket >> SUB_BITS;
        if shift_plus == 0 {
            return (u64::from(bucket), u64::from(bucket));
        }
        let shift = shift_plus - 1;
        let sub = u64::from(bucket & ((1 << SUB_BITS) - 1));
        let lo = ((1u64 << SUB_BITS) | sub) << shift;
        (lo, lo + ((1u64 << shift) - 1))
    }

    /// Adds one sample.
    pub fn record(&mut self, v: u64) {
        *self.buckets.entry(Self::bucket_of(v)).or_insert(0) += 1;
        if self.count == 0 || v < self.min {
            self.min = v;
        }
        self.max = self.max.max(v);
        self.count += 1;
        self.sum += u128::from(v);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }
    /// Smallest sample (0 when empty).
    pub fn min(&self) -> u64 {
        self.min
    }
    /// Largest sample (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }
    /// Sum of all samples.
    pub fn sum(&self) -> u128 {
        self.sum
    }
    /// Mean of the samples (0 when empty); for reporting.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The `q`-quantile (`q` in `[0, 1]`): the midpoint of the bucket holding the sample of
    /// rank `ceil(q * count)`, clamped to the observed min and max.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (&b, &n) in &self.buckets {
            seen += n;
            if seen >= rank {
                let (lo, hi) = Self::bucket_range(b);
                return (lo + (hi - lo) / 2).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

/// Values of one quantity over simulated time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeSeries {
    /// The points, in the order they were recorded (which is time order).
    pub points: Vec<(SimTime, f64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_exactly_once() {
        for v in (0..5000u64).chain([u64::MAX, u64::MAX / 3, 1 << 40]) {
            let (lo, hi) = Histogram::bucket_range(Histogram::bucket_of(v));
            assert!(lo <= v && v <= hi, "{v} not in [{lo}, {hi}]");
            assert!(hi - lo <= lo / 32 + 1);
        }
    }

    #[test]
    fn quantiles_within_relative_error() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        for (q, exact) in [(0.5, 5_000_000u64), (0.9, 9_000_000), (0.99, 9_900_000)] {
            let got = h.quantile(q);
            assert!(got.abs_diff(exact) <= exact / 32, "q{q}: {got} vs {exact}");
        }
        assert_eq!((h.min(), h.max(), h.count()), (1000, 10_000_000, 10_000));
        assert_eq!(h.quantile(1.0), 10_000_000);
    }

    #[test]
    fn kinds_are_kept_apart() {
        let mut m = Metrics::new();
        m.incr("a");
        m.add("a", 2);
        m.set_gauge("g", 1.5);
        assert_eq!(m.counter("a"), 3);
        assert_eq!(m.counter("g"), 0);
        assert_eq!(m.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "g"]);
    }
}
