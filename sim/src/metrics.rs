//! Metrics: named counters, gauges, histograms and time series, kept per node and per link
//! and read by `experiments` after the run. Models never print; they record here.
//!
//! Models bump counters on every packet, so a lookup must be cheap: names are almost
//! always string literals, and the entries named by literals are kept in the order of the
//! literal's address, so a literal finds its entry by a binary search on its address (no
//! string comparison, no allocation per node). Names built at run time are found by
//! comparing strings. Every export is in name order, whatever the order the metrics were
//! first recorded in.
//!
//! Every node has its metrics (a client tens of names, a gateway ~100), so they are kept
//! compact: an entry is its literal and its value (32 bytes), lists grow one entry at a
//! time rather than doubling (a new name is rare after the first packets), and a histogram
//! keeps only the buckets it has samples in.

use std::borrow::Cow;
use std::cell::Cell;

use crate::time::SimTime;

/// One recorded quantity.
#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    /// A monotonically increasing count.
    Counter(u64),
    /// The latest value of something that goes up and down.
    Gauge(f64),
    /// A distribution of non-negative integer samples.
    Histogram(Box<Histogram>),
    /// Values over simulated time (boxed: few metrics are series, and every metric is as
    /// large as the largest kind).
    Series(Box<TimeSeries>),
}

/// A metric's name: a literal (the common case, found by address) or built at run time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricName(Cow<'static, str>);

impl MetricName {
    /// A name built at run time (kept by a model that bumps it often, so it is built
    /// once).
    pub fn new(name: String) -> Self {
        Self(Cow::Owned(name))
    }
}

/// What the recording methods of [`Metrics`] take as a name: a literal, a `String`, or a
/// kept [`MetricName`]. Only a name that is stored for the first time is copied.
pub trait IntoMetricName {
    /// The name if it lives for the whole program (then its address identifies it).
    fn literal(&self) -> Option<&'static str>;
    /// The text.
    fn text(&self) -> &str;
    /// The name to store.
    fn into_name(self) -> MetricName;
}

impl IntoMetricName for &'static str {
    fn literal(&self) -> Option<&'static str> {
        Some(self)
    }
    fn text(&self) -> &str {
        self
    }
    fn into_name(self) -> MetricName {
        MetricName(Cow::Borrowed(self))
    }
}

impl IntoMetricName for String {
    fn literal(&self) -> Option<&'static str> {
        None
    }
    fn text(&self) -> &str {
        self
    }
    fn into_name(self) -> MetricName {
        MetricName(Cow::Owned(self))
    }
}

impl IntoMetricName for &MetricName {
    fn literal(&self) -> Option<&'static str> {
        match self.0 {
            Cow::Borrowed(s) => Some(s),
            Cow::Owned(_) => None,
        }
    }
    fn text(&self) -> &str {
        &self.0
    }
    fn into_name(self) -> MetricName {
        self.clone()
    }
}

/// The metrics of one node or link, by name.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// The entries named by a literal, in the order of that literal's (address, length),
    /// so a literal finds its entry by a binary search on its address. Addresses only find
    /// entries: nothing is ordered by them.
    literal: Vec<(&'static str, Metric)>,
    /// The entries named at run time, in the order first recorded.
    built: Vec<(Box<str>, Metric)>,
    /// Literals (address, length) naming an entry that another literal or a built name
    /// made (one literal can live at several addresses, one per crate that spells it), in
    /// address order. Usually empty.
    aliases: Vec<(usize, usize, Named)>,
}

/// Where an entry is, as long as nothing is inserted.
#[derive(Clone, Copy, Debug)]
enum At {
    Literal(usize),
    Built(usize),
}

/// An entry, for as long as the metrics live: by the literal that made it, or by its
/// index among the built names (which only grow at the end).
#[derive(Clone, Copy, Debug)]
enum Named {
    Literal(&'static str),
    Built(usize),
}

impl PartialEq for Metrics {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Metrics {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    fn len(&self) -> usize {
        self.literal.len() + self.built.len()
    }

    /// Where the entry of `name` is, if it has one, when `name` did not make it: through
    /// an alias, or by comparing names (then a literal's address becomes an alias).
    fn find(&mut self, name: &impl IntoMetricName) -> Option<At> {
        let literal = name.literal();
        if let Some(s) = literal {
            let key = literal_key(s);
            if let Ok(a) = self.aliases.binary_search_by_key(&key, |&(p, l, _)| (p, l)) {
                return Some(match self.aliases[a].2 {
                    Named::Literal(first) => {
                        let i = self.literal_at(literal_key(first));
                        At::Literal(i.expect("an alias names an entry"))
                    }
                    Named::Built(i) => At::Built(i),
                });
            }
        }
        let at = self.position(name.text())?;
        if let Some(s) = literal {
            let named = match at {
                At::Literal(i) => Named::Literal(self.literal[i].0),
                At::Built(i) => Named::Built(i),
            };
            let (p, l) = literal_key(s);
            let a = self
                .aliases
                .partition_point(|&(ap, al, _)| (ap, al) < (p, l));
            self.aliases.insert(a, (p, l, named));
        }
        Some(at)
    }

    /// The position of the entry made by the literal with `key`, or where it would go.
    fn literal_at(&self, key: (usize, usize)) -> Result<usize, usize> {
        self.literal
            .binary_search_by_key(&key, |&(s, _)| literal_key(s))
    }

    /// Finds an entry by comparing names.
    fn position(&self, name: &str) -> Option<At> {
        let literal = self.literal.iter().position(|(n, _)| *n == name);
        literal.map(At::Literal).or_else(|| {
            let built = self.built.iter().position(|(n, _)| &**n == name);
            built.map(At::Built)
        })
    }

    /// The entry called `name` (made by `make` if new), with its name for messages.
    fn entry(
        &mut self,
        name: impl IntoMetricName,
        make: impl FnOnce() -> Metric,
    ) -> (&str, &mut Metric) {
        // The common case, kept small to be inlined: a literal that made its entry, found
        // where the last node of this size had it, or else by a binary search.
        if let Some(s) = name.literal() {
            let slot = hint_slot(s, self.literal.len());
            let i = HINTS.with(|h| h[slot].get()) as usize;
            let i = match self.literal.get(i) {
                Some((n, _)) if literal_key(n) == literal_key(s) => Ok(i),
                _ => self.literal_at(literal_key(s)).inspect(|&i| {
                    HINTS.with(|h| h[slot].set(i as u16));
                }),
            };
            if let Ok(i) = i {
                let (name, metric) = &mut self.literal[i];
                return (name, metric);
            }
        }
        self.other_entry(name, make)
    }

    /// [`Metrics::entry`] of a name that did not make its entry, or of a new one.
    #[cold]
    #[inline(never)]
    fn other_entry(
        &mut self,
        name: impl IntoMetricName,
        make: impl FnOnce() -> Metric,
    ) -> (&str, &mut Metric) {
        let at = match self.find(&name) {
            Some(at) => at,
            None => match name.literal() {
                Some(s) => {
                    let i = self.literal_at(literal_key(s)).expect_err("a new literal");
                    self.literal.reserve_exact(1);
                    self.literal.insert(i, (s, make()));
                    At::Literal(i)
                }
                None => {
                    let text = name.into_name().0.into_owned().into_boxed_str();
                    self.built.reserve_exact(1);
                    self.built.push((text, make()));
                    At::Built(self.built.len() - 1)
                }
            },
        };
        match at {
            At::Literal(i) => {
                let (name, metric) = &mut self.literal[i];
                (name, metric)
            }
            At::Built(i) => {
                let (name, metric) = &mut self.built[i];
                (name, metric)
            }
        }
    }

    /// Adds `n` to counter `name` (created at zero). A name already used for another kind
    /// of metric is a programming error in the model.
    pub fn add(&mut self, name: impl IntoMetricName, n: u64) {
        match self.entry(name, || Metric::Counter(0)) {
            (_, Metric::Counter(c)) => *c += n,
            (name, other) => panic!("metric {name} is {other:?}, not a counter"),
        }
    }

    /// Adds one to counter `name`.
    pub fn incr(&mut self, name: impl IntoMetricName) {
        self.add(name, 1);
    }

    /// Sets gauge `name` to `v`.
    pub fn set_gauge(&mut self, name: impl IntoMetricName, v: f64) {
        match self.entry(name, || Metric::Gauge(v)) {
            (_, Metric::Gauge(g)) => *g = v,
            (name, other) => panic!("metric {name} is {other:?}, not a gauge"),
        }
    }

    /// Records one sample in histogram `name`.
    pub fn record(&mut self, name: impl IntoMetricName, sample: u64) {
        match self.entry(name, || Metric::Histogram(Box::default())) {
            (_, Metric::Histogram(h)) => h.record(sample),
            (name, other) => panic!("metric {name} is {other:?}, not a histogram"),
        }
    }

    /// Appends `(now, v)` to time series `name`.
    pub fn sample(&mut self, name: impl IntoMetricName, now: SimTime, v: f64) {
        match self.entry(name, || Metric::Series(Box::default())) {
            (_, Metric::Series(s)) => s.points.push((now, v)),
            (name, other) => panic!("metric {name} is {other:?}, not a time series"),
        }
    }

    /// The value of counter `name`, or 0 if it was never touched.
    pub fn counter(&self, name: &str) -> u64 {
        match self.get(name) {
            Some(Metric::Counter(c)) => *c,
            _ => 0,
        }
    }

    /// The metric called `name`.
    pub fn get(&self, name: &str) -> Option<&Metric> {
        self.position(name).map(|at| match at {
            At::Literal(i) => &self.literal[i].1,
            At::Built(i) => &self.built[i].1,
        })
    }

    /// Every metric, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Metric)> {
        let literal = self.literal.iter().map(|(k, v)| (*k, v));
        let built = self.built.iter().map(|(k, v)| (&**k, v));
        let mut sorted: Vec<(&str, &Metric)> = literal.chain(built).collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        sorted.into_iter()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How many hints [`HINTS`] keeps (a power of two).
const HINT_SLOTS: usize = 512;

thread_local! {
    /// Where a literal's entry was last found, by the literal's address and the number of
    /// literal entries of the metrics it was found in. Nodes of one kind record the same
    /// names, so their entries sit at the same index, and at scale a binary search would
    /// miss the cache on a cold node once per step (six dependent misses for a gateway's
    /// hundred names) where the hint touches only the entry itself. Only a cache: a hint
    /// is checked against the entry it points at, so it never changes what is found.
    static HINTS: [Cell<u16>; HINT_SLOTS] = const { [const { Cell::new(0) }; HINT_SLOTS] };
}

/// The hint slot of literal `s` in metrics holding `len` literal entries.
fn hint_slot(s: &'static str, len: usize) -> usize {
    let key = s.as_ptr() as u64 ^ (len as u64).wrapping_mul(0x9e37_79b9);
    (key.wrapping_mul(0x2545_f491_4f6c_dd1d) >> (u64::BITS - HINT_SLOTS.trailing_zeros())) as usize
}

/// The key of a literal name: its address and length.
fn literal_key(s: &'static str) -> (usize, usize) {
    (s.as_ptr() as usize, s.len())
}

/// A log-linear histogram of `u64` samples: exact count, sum, min and max, and quantiles
/// with a relative error below 1/32 (32 sub-buckets per power of two).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// (bucket, samples) of the buckets with samples, in bucket order.
    buckets: Vec<(u32, u64)>,
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
        let bucket = Self::bucket_of(v);
        match self.buckets.binary_search_by_key(&bucket, |&(b, _)| b) {
            Ok(at) => self.buckets[at].1 += 1,
            Err(at) => {
                self.buckets.reserve_exact(1);
                self.buckets.insert(at, (bucket, 1));
            }
        }
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
        for &(b, n) in &self.buckets {
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

    #[test]
    fn literals_and_built_names_meet_in_one_entry_in_name_order() {
        let mut m = Metrics::new();
        m.incr("zeta");
        m.incr(String::from("alpha"));
        m.add("alpha", 2);
        // The same text at another address (as another crate's literal would be).
        let leaked: &'static str = String::from("zeta").leak();
        m.add(leaked, 4);
        // Entries made later move the literals' entries; the aliases still find theirs.
        for name in ["m1", "m2", "m3", "m4"] {
            m.incr(name);
        }
        m.add(leaked, 1);
        let alpha: &'static str = String::from("alpha").leak();
        m.add(alpha, 0);
        assert_eq!(m.counter("alpha"), 3);
        assert_eq!(m.counter("zeta"), 6);
        assert_eq!(
            m.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["alpha", "m1", "m2", "m3", "m4", "zeta"]
        );
        let mut other = Metrics::new();
        for name in ["m4", "m3", "m2", "m1"] {
            other.incr(name);
        }
        other.add("alpha", 3);
        other.add("zeta", 6);
        assert_eq!(m, other, "equality ignores the order of first use");
    }

    #[test]
    fn a_hint_from_other_metrics_never_finds_the_wrong_entry() {
        // Leaked literals at known relative addresses: `a` sorts before `b` and `c`.
        let text: &'static str = String::from("abc").leak();
        let (a, b, c) = (&text[0..1], &text[1..2], &text[2..3]);
        // Same size (so the same hint slots), `b` at index 1 in one and index 0 in the
        // other; alternating between them must keep every count apart.
        let (mut one, mut two) = (Metrics::new(), Metrics::new());
        one.incr(a);
        one.incr(b);
        two.incr(b);
        two.incr(c);
        for _ in 0..3 {
            one.add(b, 10);
            two.add(b, 100);
            two.add(c, 1);
        }
        assert_eq!((one.counter("a"), one.counter("b")), (1, 31));
        assert_eq!((two.counter("b"), two.counter("c")), (301, 4));
        assert_eq!(one.counter("c"), 0);
    }
}
