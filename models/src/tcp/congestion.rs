//! Congestion window arithmetic: RFC 5681 slow start and congestion avoidance as ns-3's
//! `TcpNewReno` computes them.
//!
//! The recovery state machine (when to cut, when to exit) lives in the sender; this module
//! only owns `cwnd` and `ssthresh` and the NewReno formulas, in integer bytes. The sender
//! MSS is passed to each formula, as ns-3 passes its `TcpSocketState`, rather than stored
//! twice in every connection.

/// Congestion window and slow-start threshold, in bytes.
#[derive(Clone, Debug)]
pub(crate) struct NewReno {
    /// Congestion window (RFC 5681 `cwnd`).
    pub(crate) cwnd: u32,
    /// Slow-start threshold (RFC 5681 `ssthresh`).
    pub(crate) ssthresh: u32,
}

impl NewReno {
    /// RFC 5681 §3.1: the initial `ssthresh` SHOULD be arbitrarily high; ns-3 uses
    /// `u32::MAX`. The initial window is `iw` segments of `smss` payload bytes (RFC 6928,
    /// RFC 5681 §3.1).
    pub(crate) fn new(smss: u32, iw: u32) -> Self {
        Self {
            cwnd: smss.saturating_mul(iw.max(1)),
            ssthresh: u32::MAX,
        }
    }

    /// Called for an ACK that acknowledges `segs_acked` new segments outside recovery, with
    /// the sender MSS `smss`.
    ///
    /// Slow start (RFC 5681 §3.1) grows `cwnd` by one SMSS per ACK that acknowledges at
    /// least one segment, whatever the count: this is the RFC's "at most SMSS" per ACK and
    /// exactly ns-3's `TcpNewReno::SlowStart` (no appropriate byte counting), so with
    /// delayed ACKs the window grows by 1.5x per RTT. Once `cwnd >= ssthresh`, congestion
    /// avoidance (RFC 5681 §3.1, eq. 3) adds `max(1, SMSS*SMSS/cwnd)` bytes per ACK that
    /// still has unused acknowledged segments; ns-3 computes this in `double` and
    /// truncates, and the integer division here gives the same value for every input.
    pub(crate) fn on_ack(&mut self, smss: u32, mut segs_acked: u32) {
        if self.cwnd < self.ssthresh && segs_acked >= 1 {
            self.cwnd = self.cwnd.saturating_add(smss);
            segs_acked -= 1;
        }
        if self.cwnd >= self.ssthresh && segs_acked > 0 {
            let adder = (u64::from(smss) * u64::from(smss) / u64::from(self.cwnd)).max(1);
            self.cwnd = self
                .cwnd
                .saturating_add(u32::try_from(adder).unwrap_or(u32::MAX));
        }
    }

    /// The `ssthresh` after a loss: RFC 5681 eq. 4, `max(FlightSize / 2, 2*SMSS)`. ns-3
    /// passes its pipe estimate ("bytes in flight") as FlightSize; so do we.
    pub(crate) fn loss_ssthresh(smss: u32, flight_size: u32) -> u32 {
        (flight_size / 2).max(2 * smss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMSS: u32 = 1448;

    #[test]
    fn rfc5681_slow_start_adds_one_segment_per_ack() {
        let mut cc = NewReno::new(SMSS, 10);
        assert_eq!(cc.cwnd, 14_480);
        cc.on_ack(SMSS, 2);
        assert_eq!(cc.cwnd, 15_928);
        cc.on_ack(SMSS, 1);
        assert_eq!(cc.cwnd, 17_376);
        cc.on_ack(SMSS, 0);
        assert_eq!(cc.cwnd, 17_376);
    }

    #[test]
    fn rfc5681_congestion_avoidance_adds_smss_squared_over_cwnd() {
        let mut cc = NewReno::new(SMSS, 10);
        cc.ssthresh = 14_480;
        cc.on_ack(SMSS, 2);
        assert_eq!(cc.cwnd, 14_480 + 1448 * 1448 / 14_480);
        // Crossing ssthresh inside one ACK: slow start uses one segment, CA the rest.
        let mut cc = NewReno::new(SMSS, 10);
        cc.ssthresh = 15_000;
        cc.on_ack(SMSS, 2);
        assert_eq!(cc.cwnd, 15_928 + 1448 * 1448 / 15_928);
        assert_eq!(NewReno::loss_ssthresh(SMSS, 10_000), 5_000);
        assert_eq!(NewReno::loss_ssthresh(SMSS, 1_000), 2 * 1448);
    }
}
