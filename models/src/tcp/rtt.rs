//! Round-trip time estimation and the retransmission timeout (RFC 6298).

use sim::SimDuration;

/// RFC 6298 §2.4 clock granularity G; ns-3's `ClockGranularity` default.
const GRANULARITY: SimDuration = SimDuration::from_millis(1);

/// SRTT/RTTVAR estimator and the current (possibly backed-off) RTO.
///
/// Integer nanoseconds with alpha = 1/8 and beta = 1/4 applied as arithmetic shifts, which
/// is exactly ns-3's `RttMeanDeviation::IntegerUpdate`, so no float decides anything.
#[derive(Clone, Debug)]
pub(crate) struct RttEstimator {
    srtt: Option<SimDuration>,
    rttvar: SimDuration,
    rto: SimDuration,
    rto_min: SimDuration,
    rto_max: SimDuration,
}

impl RttEstimator {
    /// RFC 6298 §2.1: until the first sample the RTO is `rto_initial`.
    pub(crate) fn new(
        rto_initial: SimDuration,
        rto_min: SimDuration,
        rto_max: SimDuration,
    ) -> Self {
        Self {
            srtt: None,
            rttvar: SimDuration::ZERO,
            rto: rto_initial.min(rto_max),
            rto_min,
            rto_max,
        }
    }

    /// Folds in one RTT measurement (RFC 6298 §2.2 for the first, §2.3 after), then sets
    /// the RTO from the estimate, which also undoes any backoff (§2.4).
    pub(crate) fn sample(&mut self, r: SimDuration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = SimDuration::from_nanos(r.as_nanos() / 2);
            }
            Some(srtt) => {
                let (r, s, v) = (
                    i128::from(r.as_nanos()),
                    i128::from(srtt.as_nanos()),
                    i128::from(self.rttvar.as_nanos()),
                );
                let delta = r - s;
                // RTTVAR first, with the old SRTT (RFC 6298 §2.3).
                let rttvar = v + ((delta.abs() - v) >> 2);
                let srtt = s + (delta >> 3);
                self.rttvar = SimDuration::from_nanos(u64::try_from(rttvar).unwrap_or(0));
                self.srtt = Some(SimDuration::from_nanos(u64::try_from(srtt).unwrap_or(0)));
            }
        }
        self.restart();
    }

    /// RTO = SRTT + max(G, 4 RTTVAR), bounded by `rto_min` and `rto_max` (RFC 6298 §2.4,
    /// §2.5). Called on every new ACK, as ns-3's `NewAck` does, which drops any backoff.
    pub(crate) fn restart(&mut self) {
        if let Some(srtt) = self.srtt {
            let var = GRANULARITY.max(self.rttvar.saturating_mul(4));
            self.rto = (srtt + var).max(self.rto_min).min(self.rto_max);
        }
    }

    /// Exponential backoff after a timeout (RFC 6298 §5.5), capped at `rto_max`.
    pub(crate) fn backoff(&mut self) {
        self.rto = self.rto.saturating_mul(2).min(self.rto_max);
    }

    pub(crate) fn rto(&self) -> SimDuration {
        self.rto
    }

    pub(crate) fn srtt(&self) -> Option<SimDuration> {
        self.srtt
    }

    pub(crate) fn rttvar(&self) -> SimDuration {
        self.rttvar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> SimDuration {
        SimDuration::from_millis(n)
    }

    #[test]
    fn rfc6298_first_sample_and_update() {
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        assert_eq!(e.rto(), ms(1000));
        e.sample(ms(100));
        assert_eq!((e.srtt(), e.rttvar()), (Some(ms(100)), ms(50)));
        assert_eq!(e.rto(), ms(300));
        e.sample(ms(180));
        // RTTVAR = 3/4 * 50 + 1/4 * 80 = 57.5; SRTT = 7/8 * 100 + 1/8 * 180 = 110.
        assert_eq!(e.rttvar(), SimDuration::from_micros(57_500));
        assert_eq!(e.srtt(), Some(ms(110)));
        assert_eq!(e.rto(), ms(340));
    }

    #[test]
    fn rfc6298_backoff_doubles_and_caps() {
        let mut e = RttEstimator::new(ms(1000), ms(1000), ms(60_000));
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(e.rto().as_secs_total());
            e.backoff();
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 60, 60]);
        // A new sample (or ACK) recomputes the RTO from the estimate.
        e.sample(ms(40));
        assert_eq!(e.rto(), ms(1000));
    }

    #[test]
    fn rto_respects_min() {
        let mut e = RttEstimator::new(ms(1000), ms(1000), ms(60_000));
        e.sample(ms(40));
        assert_eq!(e.rto(), ms(1000));
    }
}
