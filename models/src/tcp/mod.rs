//! TCP: a sans-IO connection state machine.
//!
//! One [`Connection`] is one TCP connection (RFC 9293), driven by its host with
//! `handle_segment`, `handle_timeout` and application commands, and drained with
//! `poll_transmit`, `poll_event` and `poll_timeout` (see [`Connection`] for the contract).
//! It owns no clock, socket, thread or random generator: the host passes `now` and the
//! initial sequence number.
//!
//! What it implements, each with its RFC:
//!
//! - RFC 9293 state machine, including simultaneous open and close, TIME-WAIT, RST
//!   generation ([`reset_for`]) and RFC 5961 challenge ACKs;
//! - RFC 6298 retransmission timer, RFC 7323 timestamps (RTTM, PAWS) and window scaling;
//! - RFC 5681 congestion control, RFC 6582 NewReno and RFC 6675 SACK-based recovery
//!   (RFC 2018 SACK on both sides), RFC 3042 limited transmit, delayed ACKs, Nagle,
//!   keepalive, zero-window probing and a user timeout.
//!
//! Where an RFC leaves a choice, the choice follows ns-3.44 (`TcpSocketBase`, `TcpNewReno`,
//! `TcpClassicRecovery`), against which `models/tests/tcp_bulk.rs` validates bulk transfers.
//!
//! Layout: [`config`] (settings), `connection` (API, timers, segment output; its `input`
//! submodule processes arrivals), `events` (the application's event queue), `tx` (send side
//! and loss recovery), `scoreboard` (RFC 6675 bookkeeping), `congestion` (cwnd arithmetic),
//! `rtt` (RFC 6298 estimator), `rx` (reassembly and SACK generation), `timer` (deadlines),
//! [`testing`] (a two-endpoint harness and a simulated bulk transfer).

pub mod config;
mod congestion;
mod connection;
mod events;
mod rtt;
mod rx;
mod scoreboard;
pub mod testing;
mod timer;
mod tx;

use sim::{SimDuration, SimTime};

pub use self::config::{CongestionControl, DelayedAck, Keepalive, TcpConfig};
pub use self::connection::Connection;
use crate::wire::{TcpControl, TcpRepr, TcpSeqNumber};

/// A segment to send: header fields and payload. The host adds the IPv4 addresses
/// ([`Connection::local`], [`Connection::remote`]) and emits it with [`TcpRepr::emit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The TCP header; `repr.payload_len == payload.len()`.
    pub repr: TcpRepr,
    /// The payload.
    pub payload: Vec<u8>,
}

/// RFC 9293 §3.3.2 connection states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// No connection: before opening, after closing, after a reset or a failure.
    Closed,
    /// Waiting for a SYN. A [`Connection`] never is in this state; host stacks can use it
    /// for their listening sockets.
    Listen,
    /// SYN sent, waiting for the peer's SYN.
    SynSent,
    /// SYN received and SYN-ACK sent, waiting for its acknowledgment.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We closed; our FIN is not acknowledged yet.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both FINs acknowledged; waiting 2 MSL for stray segments.
    TimeWait,
}

/// Why a connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// The peer answered our SYN with a reset (RFC 9293 §3.10.7.3).
    #[error("connection refused")]
    Refused,
    /// The peer reset the connection (RFC 9293 §3.10.7.4, second check).
    #[error("connection reset by peer")]
    Reset,
    /// Retransmissions, SYN retries, keepalive probes or the user timeout ran out.
    #[error("connection timed out")]
    TimedOut,
}

/// Something the application should know; see [`Connection::poll_event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed.
    Connected,
    /// New in-order data can be read with [`Connection::recv`].
    Readable,
    /// Send buffer space was freed after a [`Connection::send`] could not take everything.
    Writable,
    /// The peer sent FIN: no more data will arrive (it may still read ours).
    PeerFinished,
    /// The connection is fully closed (after TIME-WAIT, LAST-ACK or an abort). Terminal.
    Closed,
    /// The connection failed. Terminal: no `Closed` follows.
    Failed(ConnectionError),
}

/// Counters and congestion state of a connection, for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Congestion window, bytes.
    pub cwnd: u32,
    /// Slow-start threshold, bytes (`u32::MAX` until the first loss).
    pub ssthresh: u32,
    /// Smoothed RTT (zero before the first sample).
    pub srtt: SimDuration,
    /// RTT variation.
    pub rttvar: SimDuration,
    /// Current retransmission timeout, including backoff.
    pub rto: SimDuration,
    /// RFC 6675 pipe: bytes believed in flight.
    pub bytes_in_flight: u32,
    /// Data segments sent for the first time.
    pub segments_sent: u64,
    /// Payload bytes sent for the first time.
    pub bytes_sent: u64,
    /// Segments retransmitted by fast retransmit or during fast recovery.
    pub retransmits_fast: u64,
    /// Segments retransmitted after a retransmission timeout.
    pub retransmits_rto: u64,
    /// All retransmitted segments.
    pub retransmits_total: u64,
    /// Duplicate ACKs received (RFC 5681 §2, or ACKs with new SACK information).
    pub dupacks_received: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Payload bytes cumulatively acknowledged by the peer.
    pub bytes_acked: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// `(time, cwnd, ssthresh)` at every change, if [`TcpConfig::cwnd_series`] is set.
    pub cwnd_series: Vec<(SimTime, u32, u32)>,
}

/// The counters of [`Stats`], which is all a connection stores of it: `Connection::stats`
/// reads the congestion state from the sender when asked instead of copying it after every
/// input, and adds up `retransmits_total`. With the series boxed, that is 72 bytes in every
/// connection instead of 136 (BENCHMARKS.md, "Memory per idle client"). Fields as in
/// [`Stats`], except the series.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    pub(crate) segments_sent: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) retransmits_fast: u64,
    pub(crate) retransmits_rto: u64,
    pub(crate) dupacks_received: u64,
    pub(crate) timeouts: u64,
    pub(crate) bytes_acked: u64,
    pub(crate) bytes_received: u64,
    /// The cwnd series, if [`TcpConfig::cwnd_series`] is set; boxed, as it is off by
    /// default.
    #[expect(
        clippy::box_collection,
        reason = "8 bytes in every connection instead of 24, for a series rarely recorded"
    )]
    pub(crate) cwnd_series: Option<Box<Vec<(SimTime, u32, u32)>>>,
}

/// A reader for `recv_with` that copies the slices it is handed into `buf`, one after the
/// other: how the copying reads are built on the zero-copy one.
pub(crate) fn fill(buf: &mut [u8]) -> impl FnMut(&[u8]) + '_ {
    let mut at = 0;
    move |part| {
        buf[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
}

/// The reset to send for a segment that matches no connection and no listener
/// (RFC 9293 §3.10.7.1), or `None` if the segment is itself a reset.
///
/// If the segment has an ACK, the reset takes its sequence number from it; otherwise it
/// has sequence number zero and acknowledges the whole segment.
pub fn reset_for(repr: &TcpRepr, payload_len: usize) -> Option<TcpRepr> {
    if repr.control == TcpControl::Rst {
        return None;
    }
    let (seq_number, ack_number) = match repr.ack_number {
        Some(ack) => (ack, None),
        None => {
            let seg_len = payload_len + repr.control.seq_len();
            (TcpSeqNumber(0), Some(repr.seq_number + seg_len))
        }
    };
    Some(TcpRepr::rst(
        repr.dst_port,
        repr.src_port,
        seq_number,
        ack_number,
    ))
}
