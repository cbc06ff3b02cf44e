//! Summary statistics of replications: mean, sample standard deviation, 95% confidence
//! interval (Student's t), min, median, max.
//!
//! Everything is computed in a fixed order with plain IEEE arithmetic (`+`, `*`, `/`,
//! `sqrt`, all correctly rounded), and printed with Rust's shortest round-trip formatting,
//! so the same values always give the same bytes.

/// The summary of one metric at one parameter point.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// How many values (replications with the metric present).
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator); `None` for one value.
    pub sd: Option<f64>,
    /// Half-width of the 95% confidence interval of the mean, `t(0.975, n-1) * sd / sqrt(n)`;
    /// `None` for one value.
    pub ci95: Option<f64>,
    /// Smallest value.
    pub min: f64,
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Largest value.
    pub max: f64,
}

/// Summarises `values` (in the given order); `None` when there are none.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let (sd, ci95) = if n > 1 {
        let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        let sd = (ss / (n - 1) as f64).sqrt();
        (Some(sd), Some(t975(n - 1) * sd / (n as f64).sqrt()))
    } else {
        (None, None)
    };
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some(Summary {
        n,
        mean,
        sd,
        ci95,
        min: sorted[0],
        median,
        max: sorted[n - 1],
    })
}

/// The 0.975 quantile of Student's t distribution with `df` degrees of freedom: a table for
/// df <= 30, the Cornish-Fisher expansion around the normal quantile beyond (error < 1e-6).
pub fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706_204_736,
        4.302_652_730,
        3.182_446_305,
        2.776_445_105,
        2.570_581_836,
        2.446_911_851,
        2.364_624_252,
        2.306_004_135,
        2.262_157_163,
        2.228_138_852,
        2.200_985_160,
        2.178_812_830,
        2.160_368_656,
        2.144_786_688,
        2.131_449_546,
        2.119_905_299,
        2.109_815_578,
        2.100_922_040,
        2.093_024_054,
        2.085_963_447,
        2.079_613_845,
        2.073_873_068,
        2.068_657_610,
        2.063_898_562,
        2.059_538_553,
        2.055_529_439,
        2.051_830_516,
        2.048_407_142,
        2.045_229_642,
        2.042_272_456,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => {
            let z = 1.959_963_984_540_054_f64;
            let z2 = z * z;
            let z3 = z2 * z;
            let z5 = z3 * z2;
            let z7 = z5 * z2;
            let z9 = z7 * z2;
            let n = df as f64;
            let g1 = (z3 + z) / 4.0;
            let g2 = (5.0 * z5 + 16.0 * z3 + 3.0 * z) / 96.0;
            let g3 = (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / 384.0;
            let g4 = (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / 92160.0;
            z + g1 / n + g2 / (n * n) + g3 / (n * n * n) + g4 / (n * n * n * n)
        }
    }
}

/// Formats a float for a table: shortest round-trip, integers without a fraction, `-0` as
/// `0`.
pub fn fmt(v: f64) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else {
        format!("{v}")
    }
}

/// Parses a table cell as a finite number.
pub fn number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_values() {
        let s = summarize(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(s.n, 8);
        assert_eq!(s.mean, 5.0);
        // Sample variance 32/7.
        assert!((s.sd.unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert!(
            (s.ci95.unwrap() - 2.364_624_252 * (32.0f64 / 7.0).sqrt() / 8f64.sqrt()).abs() < 1e-12
        );
        assert_eq!((s.min, s.median, s.max), (2.0, 4.5, 9.0));
        let one = summarize(&[3.5]).unwrap();
        assert_eq!((one.sd, one.ci95, one.median), (None, None, 3.5));
        assert!(summarize(&[]).is_none());
    }

    #[test]
    fn t_quantiles_join_smoothly() {
        // Reference values of t(0.975, df).
        for (df, t) in [
            (31, 2.039_513_446),
            (40, 2.021_075_390),
            (60, 2.000_297_822),
            (120, 1.979_930_405),
        ] {
            assert!((t975(df) - t).abs() < 1e-6, "df {df}: {} vs {t}", t975(df));
        }
        assert!(t975(1_000_000) - 1.959_964 < 1e-5);
    }

    #[test]
    fn formatting_is_plain() {
        assert_eq!(fmt(5.0), "5");
        assert_eq!(fmt(-0.0), "0");
        assert_eq!(fmt(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(number("1e3"), Some(1000.0));
        assert_eq!(number("NaN"), None);
        assert_eq!(number("00ab"), None);
    }
}
