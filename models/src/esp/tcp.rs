//! The sending side of an RFC 9329 TCP-encapsulation stream, with the back-pressure rule
//! of the Linux `espintcp` ULP (`net/xfrm/espintcp.c`, `espintcp_push_skb`).
//!
//! Every frame is `Length (2) | payload`, where Length counts itself (RFC 9329 §3); IKE
//! payloads start with the non-ESP marker. The TCP Originator sends "IKETCP" once, first
//! (RFC 9329 §4). The frames are built by [`crate::wire::tcp_encap`]. Frames must not
//! interleave, so one [`TcpEncapTx`] is the only writer of a connection's stream.
//!
//! Back-pressure, as the kernel does it:
//!
//! - ESP on a connection that is not ESTABLISHED is dropped (`ECONNRESET`);
//! - at most one message is partially written into the TCP send buffer; before a new ESP
//!   packet the writer tries to finish it, and if it still cannot, the new packet is
//!   dropped (`ENOBUFS`). ESP in TCP is thus a TCP send buffer plus one message, then
//!   tail-drop — not an unbounded queue.
//!
//! IKE messages come from the daemon, which blocks rather than loses them: they wait in a
//! queue behind the partial message. The kernel's deferred-output queue (used only while
//! another context holds the socket lock) has no counterpart in a single-threaded run.

use std::collections::VecDeque;

use crate::tcp::{Connection, State};
use crate::wire::tcp_encap::{MAX_PAYLOAD, PREFIX, frame_esp, frame_ike};

/// The TCP connection a [`TcpEncapTx`] writes into: a [`Connection`], or a host's
/// connection seen through its socket calls.
pub trait StreamSink {
    /// Whether the connection is ESTABLISHED (or CLOSE-WAIT: the peer finished, we may
    /// still send).
    fn is_established(&self) -> bool;
    /// Queues bytes; returns how many were accepted.
    fn send(&mut self, data: &[u8]) -> usize;
}

impl StreamSink for Connection {
    fn is_established(&self) -> bool {
        matches!(self.state(), State::Established | State::CloseWait)
    }
    fn send(&mut self, data: &[u8]) -> usize {
        Self::send(self, data)
    }
}

/// Why an ESP packet was not put into the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
pub enum EspInTcpDrop {
    /// The TCP connection is not established (Linux: `ECONNRESET`).
    #[error("TCP connection not established")]
    NotEstablished,
    /// A previous message is still partially unsent (Linux: `ENOBUFS`).
    #[error("TCP send buffer full with a partial message")]
    NoBufferSpace,
    /// Larger than a frame can carry, 65533 octets (RFC 9329 §3; Linux: `EMSGSIZE`).
    #[error("ESP packet too large for a TCP encapsulation frame")]
    TooLarge,
}

/// What a [`TcpEncapTx`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpEncapCounters {
    /// ESP packets accepted into the stream (wholly or as the partial message).
    pub esp_frames: u64,
    /// IKE messages queued.
    pub ike_frames: u64,
    /// ESP packets dropped because the connection was not established.
    pub dropped_not_established: u64,
    /// ESP packets dropped behind a partial message.
    pub dropped_no_buffer: u64,
    /// ESP packets dropped as too large.
    pub dropped_too_large: u64,
}

/// The writer of one TCP-encapsulation stream: prefix, IKE and ESP frames.
///
/// Call [`Self::flush`] whenever the connection reports
/// [`Event::Writable`](crate::tcp::Event::Writable) or
/// [`Event::Connected`](crate::tcp::Event::Connected). Make a new writer for every new
/// connection: a message cut by a broken connection is never resumed on the next one
/// (RFC 9329 §6.1 has the receiver discard it).
#[derive(Debug, Clone, Default)]
pub struct TcpEncapTx {
    /// The unsent tail of the message being written.
    partial: Vec<u8>,
    /// IKE frames (and the prefix) waiting behind it.
    queue: VecDeque<Vec<u8>>,
    counters: TcpEncapCounters,
}

impl TcpEncapTx {
    /// A writer for the TCP Originator, which starts the stream with "IKETCP".
    pub fn originator() -> Self {
        let mut tx = Self::default();
        tx.queue.push_back(PREFIX.to_vec());
        tx
    }

    /// A writer for the TCP Responder, which never sends the prefix.
    pub fn responder() -> Self {
        Self::default()
    }

    /// What was sent and dropped.
    pub const fn counters(&self) -> &TcpEncapCounters {
        &self.counters
    }

    /// Octets accepted but not yet in the TCP send buffer.
    pub fn pending_len(&self) -> usize {
        self.partial.len() + self.queue.iter().map(Vec::len).sum::<usize>()
    }

    /// Queues an IKE message (without marker) and writes what fits.
    ///
    /// # Panics
    ///
    /// If the message exceeds a frame (65529 octets); IKE messages are far smaller, or
    /// fragmented.
    pub fn send_ike<S: StreamSink + ?Sized>(&mut self, conn: &mut S, ike: &[u8]) {
        let frame = frame_ike(ike).expect("IKE message too large for TCP (RFC 9329 §3)");
        self.counters.ike_frames += 1;
        self.enqueue(conn, frame);
    }

    /// Queues raw bytes (a keepalive frame, sent only by policy over TCP, RFC 9329 §6.6)
    /// and writes what fits.
    pub fn send_raw<S: StreamSink + ?Sized>(&mut self, conn: &mut S, bytes: &[u8]) {
        self.enqueue(conn, bytes.to_vec());
    }

    /// Writes `message` after everything queued before it. When nothing waits (the usual
    /// case) it is written at once, without passing through the queue, whose buffer
    /// would be allocated and freed for every message.
    fn enqueue<S: StreamSink + ?Sized>(&mut self, conn: &mut S, message: Vec<u8>) {
        self.flush(conn);
        if self.partial.is_empty() {
            // `flush` leaves a partial message whenever anything still waits.
            self.partial = message;
            self.flush(conn);
        } else {
            self.queue.push_back(message);
        }
    }

    /// Puts an ESP packet into the stream, or drops it by the `espintcp` rules.
    pub fn send_esp<S: StreamSink + ?Sized>(
        &mut self,
        conn: &mut S,
        esp: &[u8],
    ) -> Result<(), EspInTcpDrop> {
        let result = self.try_send_esp(conn, esp);
        match result {
            Ok(()) => self.counters.esp_frames += 1,
            Err(EspInTcpDrop::NotEstablished) => self.counters.dropped_not_established += 1,
            Err(EspInTcpDrop::NoBufferSpace) => self.counters.dropped_no_buffer += 1,
            Err(EspInTcpDrop::TooLarge) => self.counters.dropped_too_large += 1,
        }
        result
    }

    fn try_send_esp<S: StreamSink + ?Sized>(
        &mut self,
        conn: &mut S,
        esp: &[u8],
    ) -> Result<(), EspInTcpDrop> {
        if !conn.is_established() {
            return Err(EspInTcpDrop::NotEstablished);
        }
        if esp.len() > MAX_PAYLOAD {
            return Err(EspInTcpDrop::TooLarge);
        }
        self.flush(conn);
        if !self.partial.is_empty() {
            return Err(EspInTcpDrop::NoBufferSpace);
        }
        debug_assert!(
            self.queue.is_empty(),
            "flush empties the queue or leaves a partial"
        );
        self.partial = frame_esp(esp).expect("an ESP packet starts with a non-zero SPI");
        self.flush(conn);
        Ok(())
    }

    /// Writes the partial message, then queued ones, until the send buffer is full.
    pub fn flush<S: StreamSink + ?Sized>(&mut self, conn: &mut S) {
        loop {
            if self.partial.is_empty() {
                match self.queue.pop_front() {
                    Some(next) => self.partial = next,
                    None => return,
                }
                if self.queue.is_empty() {
                    self.queue.shrink_to_fit();
                }
            }
            let written = conn.send(&self.partial);
            if written < self.partial.len() {
                self.partial.drain(..written);
                return;
            }
            // Written whole: free it instead of keeping its buffer for the next message,
            // so an idle connection keeps none (BENCHMARKS.md, "Memory per idle client").
            self.partial = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::TcpConfig;
    use crate::tcp::testing::{Pair, Side};
    use crate::wire::TcpSeqNumber;

    /// A connected pair whose client has a send buffer of `send_buffer` octets.
    fn connected(send_buffer: usize) -> Pair {
        let client = TcpConfig {
            send_buffer,
            ..TcpConfig::default()
        };
        let mut pair = Pair::new(
            client,
            TcpSeqNumber(1),
            TcpConfig::default(),
            TcpSeqNumber(2),
        );
        assert!(pair.drive_until(10_000, |p| {
            p.conns[1]
                .as_ref()
                .is_some_and(|c| c.state() == State::Established)
        }));
        pair
    }

    #[test]
    fn test_frames_and_prefix() {
        let mut pair = connected(64 * 1024);
        let mut tx = TcpEncapTx::originator();
        tx.send_ike(pair.conn(Side::Client), &[0xaa; 3]);
        tx.send_esp(pair.conn(Side::Client), &[1, 2, 3, 4, 5, 6, 7, 8])
            .unwrap();
        assert!(pair.drive_until(10_000, |p| p.received[1].len() >= 25));
        let expected: Vec<u8> = [
            &b"IKETCP"[..],
            &[0, 9, 0, 0, 0, 0, 0xaa, 0xaa, 0xaa],
            &[0, 10, 1, 2, 3, 4, 5, 6, 7, 8],
        ]
        .concat();
        assert_eq!(pair.received[1], expected);
        assert_eq!(tx.counters().ike_frames, 1);
        assert_eq!(tx.counters().esp_frames, 1);
    }

    /// Linux `espintcp_push_skb`: one partial message, then ENOBUFS for the next one.
    #[test]
    fn test_back_pressure_tail_drops() {
        let mut pair = connected(1000);
        let mut tx = TcpEncapTx::responder();
        let esp = [0x11; 600];
        let conn = pair.conn(Side::Client);
        assert_eq!(tx.send_esp(conn, &esp), Ok(()));
        assert_eq!(
            tx.send_esp(conn, &esp),
            Ok(()),
            "becomes the partial message"
        );
        assert!(tx.pending_len() > 0);
        assert_eq!(tx.send_esp(conn, &esp), Err(EspInTcpDrop::NoBufferSpace));
        assert_eq!(tx.counters().dropped_no_buffer, 1);
        let too_large = vec![0x11; MAX_PAYLOAD + 1];
        assert_eq!(tx.send_esp(conn, &too_large), Err(EspInTcpDrop::TooLarge));

        // The peer acknowledges; flushing finishes the partial message.
        assert!(pair.drive_until(10_000, |p| p.conn(Side::Client).send_space() >= 204));
        tx.flush(pair.conn(Side::Client));
        assert_eq!(tx.pending_len(), 0);
        assert!(pair.drive_until(10_000, |p| p.received[1].len() >= 2 * 602));
        assert_eq!(
            pair.received[1].len(),
            2 * 602,
            "two whole frames, no torn one"
        );
    }

    /// IKE messages are never dropped for a full buffer (only ESP is, like `espintcp`):
    /// written at once when nothing waits, queued behind a partial message otherwise, and
    /// the stream carries every frame whole and in order (RFC 9329 §3).
    #[test]
    fn test_ike_queues_behind_partial_in_order() {
        let mut pair = connected(1000);
        let mut tx = TcpEncapTx::responder();
        let conn = pair.conn(Side::Client);
        tx.send_ike(conn, &[0xa1; 300]);
        assert_eq!(tx.pending_len(), 0, "nothing waited: written at once");
        tx.send_esp(conn, &[0x11; 800]).unwrap();
        assert!(tx.pending_len() > 0, "the ESP frame is partly written");
        tx.send_ike(conn, &[0xa2; 300]);
        tx.send_ike(conn, &[0xa3; 300]);
        assert!(tx.pending_len() > 600, "both IKE frames wait behind it");
        let total = 3 * 306 + 802;
        for _ in 0..100 {
            // The peer acknowledges, and each flush writes what the buffer freed.
            pair.drive_until(1_000, |p| p.received[1].len() >= total);
            tx.flush(pair.conn(Side::Client));
        }
        let frame = |marker: &[u8], byte: u8, len: usize| [marker, &vec![byte; len][..]].concat();
        let expected = [
            frame(&[1, 50, 0, 0, 0, 0], 0xa1, 300),
            frame(&[3, 34], 0x11, 800),
            frame(&[1, 50, 0, 0, 0, 0], 0xa2, 300),
            frame(&[1, 50, 0, 0, 0, 0], 0xa3, 300),
        ]
        .concat();
        assert_eq!(pair.received[1], expected);
        assert_eq!(tx.counters().ike_frames, 3);
        assert_eq!(tx.pending_len(), 0);
    }

    #[test]
    fn test_not_established_drops() {
        let mut pair = Pair::default_pair();
        let mut tx = TcpEncapTx::originator();
        assert_eq!(
            tx.send_esp(pair.conn(Side::Client), &[1; 8]),
            Err(EspInTcpDrop::NotEstablished)
        );
        assert_eq!(tx.counters().dropped_not_established, 1);
    }
}
