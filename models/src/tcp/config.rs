//! Per-connection configuration.
//!
//! Defaults follow the RFCs and, where an RFC leaves a choice, ns-3.44's `TcpSocketBase` and
//! `TcpNewReno` (the reference our bulk-transfer fidelity tests compare against), except for
//! the buffer sizes, which are large so that the window, not the buffer, limits a transfer.

use sim::SimDuration;

/// Configuration of one TCP connection. `Default` gives the values documented per field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// The MSS we advertise (RFC 9293 §3.7.1) and the largest segment we send, counting
    /// payload plus TCP options, as the MSS option does (RFC 6691). With timestamps on,
    /// 12 option bytes ride in every segment, so a 1460-byte MSS carries 1448 payload
    /// bytes, like ns-3's `SegmentSize` of 1448. Default 1460 (a 1500-byte IPv4 MTU).
    pub mss: u16,
    /// Initial congestion window in segments (RFC 6928). Default 10.
    pub initial_window_segments: u32,
    /// RTO before the first RTT sample (RFC 6298 §2.1). Default 1 s.
    pub rto_initial: SimDuration,
    /// Lower bound of the RTO (RFC 6298 §2.4). Default 1 s (ns-3's `MinRto`).
    pub rto_min: SimDuration,
    /// Upper bound of the RTO, also capping exponential backoff (RFC 6298 §2.5).
    /// Default 60 s.
    pub rto_max: SimDuration,
    /// Consecutive retransmission timeouts of data (or FIN) before the connection fails with
    /// [`crate::tcp::ConnectionError::TimedOut`]. Default 15, like Linux `tcp_retries2`.
    pub max_retransmissions: u32,
    /// SYN (or SYN-ACK) retransmissions before the handshake fails. Default 6.
    pub syn_retries: u32,
    /// RFC 5482-style user timeout: fail with `TimedOut` if sent data stays unacknowledged
    /// this long. Default `None`.
    pub user_timeout: Option<SimDuration>,
    /// Delayed acknowledgements (RFC 5681 §4.2); `None` acknowledges every segment.
    /// Default: every 2nd segment or after 200 ms.
    pub delayed_ack: Option<DelayedAck>,
    /// Offer and use selective acknowledgements (RFC 2018) with RFC 6675 loss recovery.
    /// Default true.
    pub sack: bool,
    /// Offer and use timestamps (RFC 7323 §3: RTTM and PAWS). Default true.
    pub timestamps: bool,
    /// Offer and use window scaling (RFC 7323 §2). Default true.
    pub window_scale: bool,
    /// Nagle's algorithm (RFC 9293 §3.7.4): hold back a small segment while data is
    /// unacknowledged. Default true.
    pub nagle: bool,
    /// Keepalive probes (RFC 9293 §3.8.4); default `None`.
    pub keepalive: Option<Keepalive>,
    /// Most bytes [`crate::tcp::Connection::send`] buffers (unsent plus unacknowledged), in
    /// bytes. Memory grows on demand up to this. Default 4 MiB.
    pub send_buffer: usize,
    /// Receive buffer in bytes: the advertised window is its free space. Memory grows on
    /// demand up to this. Default 4 MiB.
    pub recv_buffer: usize,
    /// How long TIME-WAIT lasts (2 MSL, RFC 9293 §3.6); may be zero. Default 60 s.
    pub time_wait: SimDuration,
    /// Congestion control algorithm. Default NewReno.
    pub congestion: CongestionControl,
    /// Limited transmit (RFC 3042): send new data on the first two duplicate ACKs.
    /// Default true. With SACK the scoreboard's pipe estimate gives the same effect.
    pub limited_transmit: bool,
    /// Without SACK, also enter fast recovery on fewer than three duplicate ACKs when the
    /// head segment is still marked lost from the previous recovery, as ns-3.44 does (its
    /// "Reno SACK" bookkeeping marks the head lost when a cumulative ACK lands on a segment
    /// it had guessed received, and `DupAck` then consults `IsLost`). RFC 6582 requires
    /// three duplicate ACKs; this ns-3 behaviour causes chains of spurious recoveries after
    /// a timeout, and is what makes a non-SACK bulk transfer match ns-3 (13.6 s instead of
    /// 11.6 s in `tests/tcp_bulk.rs`). Default false (RFC-strict); scenarios that reproduce
    /// ns-3 (`experiments/scenarios/tcp-bulk.toml`) turn it on. No effect with SACK.
    pub ns3_reno_recovery: bool,
    /// Record `(time, cwnd, ssthresh)` samples in [`crate::tcp::Stats::cwnd_series`] at every
    /// change. Default false.
    pub cwnd_series: bool,
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self {
            mss: 1460,
            initial_window_segments: 10,
            rto_initial: SimDuration::from_secs(1),
            rto_min: SimDuration::from_secs(1),
            rto_max: SimDuration::from_secs(60),
            max_retransmissions: 15,
            syn_retries: 6,
            user_timeout: None,
            delayed_ack: Some(DelayedAck::default()),
            sack: true,
            timestamps: true,
            window_scale: true,
            nagle: true,
            keepalive: None,
            send_buffer: 4 << 20,
            recv_buffer: 4 << 20,
            time_wait: SimDuration::from_secs(60),
            congestion: CongestionControl::NewReno,
            limited_transmit: true,
            ns3_reno_recovery: false,
            cwnd_series: false,
        }
    }
}

/// Delayed-ACK policy (RFC 5681 §4.2, RFC 9293 §3.8.6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DelayedAck {
    /// Acknowledge at once when this many in-order segments are unacknowledged. Segments
    /// are counted whatever their size, as ns-3 does. Default 2.
    pub segments: u32,
    /// Acknowledge at the latest this long after the first unacknowledged segment arrived
    /// (RFC 5681 §4.2: under 500 ms). Default 200 ms.
    pub timeout: SimDuration,
}

impl Default for DelayedAck {
    fn default() -> Self {
        Self {
            segments: 2,
            timeout: SimDuration::from_millis(200),
        }
    }
}

/// Keepalive policy (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Send the first probe after the connection has received nothing for this long.
    pub idle: SimDuration,
    /// Time between unanswered probes.
    pub interval: SimDuration,
    /// Unanswered probes after which the connection fails with `TimedOut`.
    pub count: u32,
}

/// Congestion control algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CongestionControl {
    /// RFC 5681 slow start and congestion avoidance with RFC 6582 / RFC 6675 recovery,
    /// matching ns-3's `TcpNewReno` with `TcpClassicRecovery`.
    #[default]
    NewReno,
}
