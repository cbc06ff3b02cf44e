//! The sender's scoreboard: every sent, unacknowledged segment with its SACKed, lost and
//! retransmitted marks (RFC 6675 §3), and the `pipe` estimate derived from them.
//!
//! The bookkeeping follows ns-3's `TcpTxBuffer` sent list, so that loss recovery behaves as
//! in the reference simulator:
//!
//! - a segment is SACKed only if a SACK block covers it whole;
//! - `IsLost` (RFC 6675 §4) is "DupThresh SACKed segments above it", kept as a sticky
//!   `lost` mark recomputed after each SACK update;
//! - `pipe` is `sent - sacked - lost + retransmitted` bytes (RFC 6675 `SetPipe`, with a
//!   retransmitted segment counted again even if SACKed, as ns-3 does);
//! - without SACK, each duplicate ACK "SACKs" the next segment after the head (ns-3's
//!   "Reno SACK"). `pipe` then shrinks by one segment per duplicate ACK, which is exactly
//!   the window inflation of RFC 6582 §3.2 step 3 seen from the other side.
//!
//! Positions are compared as offsets from the head, so sequence numbers may wrap.

use std::collections::VecDeque;

use sim::SimTime;

use crate::wire::TcpSeqNumber;

/// RFC 6675 DupThresh (and RFC 5681's three duplicate ACKs).
pub(crate) const DUP_THRESH: u32 = 3;

/// One sent segment.
#[derive(Clone, Debug)]
struct Item {
    start: TcpSeqNumber,
    len: u32,
    sacked: bool,
    lost: bool,
    /// Retransmitted since it was last marked lost (RFC 6675 `HighRxt` coverage).
    retrans: bool,
    /// Ever retransmitted: its ACK is ambiguous for RTT (Karn's rule, RFC 6298 §3).
    ever_retrans: bool,
    first_sent: SimTime,
}

impl Item {
    fn end(&self) -> TcpSeqNumber {
        self.start + self.len as usize
    }
}

/// What a cumulative ACK removed from the scoreboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Discarded {
    /// Bytes newly acknowledged that had not been SACKed before (ns-3's "delivered").
    pub(crate) delivered: u32,
    /// When the first removed segment was sent, if it was never retransmitted (an
    /// unambiguous RTT sample without timestamps).
    pub(crate) first_sent: Option<SimTime>,
}

/// Sent, unacknowledged segments from SND.UNA to HighData.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scoreboard {
    items: VecDeque<Item>,
    sent: u32,
    sacked: u32,
    lost: u32,
    retrans: u32,
    /// Start of the highest SACKed segment.
    highest_sack: Option<TcpSeqNumber>,
}

impl Scoreboard {
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.items.capacity() * size_of::<Item>()
    }

    /// Bytes sent and not cumulatively acknowledged.
    pub(crate) fn sent_bytes(&self) -> u32 {
        self.sent
    }

    /// RFC 6675 `pipe`: bytes believed to be in the network.
    pub(crate) fn pipe(&self) -> u32 {
        (self.sent + self.retrans).saturating_sub(self.sacked + self.lost)
    }

    /// Records a first transmission, which must start where the last one ended.
    pub(crate) fn push(&mut self, start: TcpSeqNumber, len: u32, now: SimTime) {
        debug_assert!(self.items.back().is_none_or(|last| last.end() == start));
        self.items.push_back(Item {
            start,
            len,
            sacked: false,
            lost: false,
            retrans: false,
            ever_retrans: false,
            first_sent: now,
        });
        self.sent += len;
    }

    /// The head segment `(start, len)`.
    pub(crate) fn head(&self) -> Option<(TcpSeqNumber, u32)> {
        self.items.front().map(|i| (i.start, i.len))
    }

    /// Index of the segment starting at `seq`.
    fn index_of(&self, seq: TcpSeqNumber) -> Option<usize> {
        let head = self.items.front()?.start;
        let offset = (seq - head) as u32;
        self.items
            .binary_search_by_key(&offset, |i| (i.start - head) as u32)
            .ok()
    }

    /// Marks the segment starting at `start` as retransmitted now; returns its length.
    pub(crate) fn mark_retransmitted(&mut self, start: TcpSeqNumber) -> Option<u32> {
        let index = self.index_of(start)?;
        let item = &mut self.items[index];
        item.ever_retrans = true;
        if !item.retrans {
            item.retrans = true;
            self.retrans += item.len;
        }
        Some(item.len)
    }

    /// Drops everything below the cumulative ACK `ack`.
    pub(crate) fn discard_up_to(&mut self, ack: TcpSeqNumber) -> Discarded {
        let mut out = Discarded::default();
        let mut first = true;
        while let Some(item) = self.items.front_mut() {
            if item.start >= ack {
                break;
            }
            if first && !item.ever_retrans {
                out.first_sent = Some(item.first_sent);
            }
            first = false;
            let acked = (ack - item.start).min(item.len as i32) as u32;
            if !item.sacked {
                out.delivered += acked;
            }
            self.sent -= acked;
            if item.sacked {
                self.sacked -= acked;
            }
            if item.lost {
                self.lost -= acked;
            }
            if item.retrans {
                self.retrans -= acked;
            }
            if acked == item.len {
                self.items.pop_front();
            } else {
                item.start += acked as usize;
                item.len -= acked;
            }
        }
        if self.items.front().is_some_and(|head| head.sacked) {
            // A SACKed head would have been cumulatively acknowledged: our Reno guess was
            // wrong (or the receiver reneged). Move the mark on, as ns-3 does.
            let head = &mut self.items[0];
            head.sacked = false;
            self.sacked -= head.len;
            self.add_reno_sack();
            self.mark_head_lost();
        }
        if self.items.is_empty() {
            // Give the memory back once everything is acknowledged: an idle connection
            // keeps no scoreboard (BENCHMARKS.md, "Memory per idle client").
            self.items = VecDeque::new();
        }
        if self
            .highest_sack
            .is_some_and(|h| self.items.front().is_none_or(|head| h <= head.start))
        {
            self.highest_sack = None;
        }
        out
    }

    /// Applies SACK blocks (RFC 6675 `Update`); returns the bytes newly SACKed.
    pub(crate) fn update_sack(&mut self, blocks: &[(TcpSeqNumber, TcpSeqNumber)]) -> u32 {
        let mut newly = 0;
        for &(left, right) in blocks {
            for item in self.items.iter_mut() {
                if item.start >= right {
                    break;
                }
                if item.start >= left && item.end() <= right && !item.sacked {
                    if item.lost {
                        item.lost = false;
                        self.lost -= item.len;
                    }
                    item.sacked = true;
                    self.sacked += item.len;
                    newly += item.len;
                    if self.highest_sack.is_none_or(|h| h < item.start) {
                        self.highest_sack = Some(item.start);
                    }
                }
            }
        }
        if newly > 0 {
            self.update_lost();
        }
        newly
    }

    /// Marks as lost every unSACKed segment with at least DupThresh SACKed segments above
    /// it, and the head once DupThresh segments are SACKed (RFC 6675 `IsLost`, ns-3's
    /// `UpdateLostCount`).
    fn update_lost(&mut self) {
        let Some(highest) = self.highest_sack.and_then(|h| self.index_of(h)) else {
            return;
        };
        let mut sacked = 0;
        for item in self.items.range_mut(1..=highest).rev() {
            if item.sacked {
                sacked += 1;
            } else if sacked >= DUP_THRESH && !item.lost {
                item.lost = true;
                self.lost += item.len;
            }
        }
        if sacked >= DUP_THRESH {
            self.mark_lost(0);
        }
    }

    fn mark_lost(&mut self, index: usize) {
        let item = &mut self.items[index];
        if !item.lost {
            item.lost = true;
            self.lost += item.len;
        }
    }

    /// RFC 6675 `IsLost(seq)` as ns-3 evaluates it: nothing at or above the highest SACK
    /// is lost; below it, the first segment at or after `seq` that is marked decides.
    pub(crate) fn is_lost(&self, seq: TcpSeqNumber) -> bool {
        let Some(highest) = self.highest_sack else {
            return false;
        };
        if seq >= highest {
            return false;
        }
        for item in self.items.iter().filter(|i| i.start >= seq) {
            if item.lost {
                return true;
            }
            if item.sacked {
                return false;
            }
        }
        false
    }

    /// RFC 6675 `NextSeg` rule 1: the first lost segment not yet retransmitted.
    pub(crate) fn first_lost(&self) -> Option<(TcpSeqNumber, u32)> {
        self.items
            .iter()
            .find(|i| i.lost && !i.retrans && !i.sacked)
            .map(|i| (i.start, i.len))
    }

    /// RFC 6675 `NextSeg` rule 3: the first unSACKed segment not yet retransmitted.
    pub(crate) fn first_unsacked(&self) -> Option<(TcpSeqNumber, u32)> {
        self.items
            .iter()
            .find(|i| !i.retrans && !i.sacked)
            .map(|i| (i.start, i.len))
    }

    /// Whether the segment ending at `end` was retransmitted and not SACKed (ns-3's
    /// `IsRetransmittedDataAcked`, used to avoid retransmitting twice on a partial ACK).
    pub(crate) fn is_retransmitted_ending_at(&self, end: TcpSeqNumber) -> bool {
        self.items
            .iter()
            .any(|i| i.end() == end && i.retrans && !i.sacked)
    }

    /// Without SACK, a duplicate ACK means one more segment left the network: SACK the
    /// first unSACKed segment after the head.
    pub(crate) fn add_reno_sack(&mut self) {
        if let Some(item) = self.items.iter_mut().skip(1).find(|i| !i.sacked) {
            item.sacked = true;
            self.sacked += item.len;
            if item.lost {
                item.lost = false;
                self.lost -= item.len;
            }
            self.highest_sack = Some(item.start);
        }
    }

    /// Forgets the guessed Reno SACKs (on a retransmission timeout).
    pub(crate) fn reset_reno_sack(&mut self) {
        for item in &mut self.items {
            item.sacked = false;
        }
        self.sacked = 0;
        self.highest_sack = None;
    }

    /// Marks the head lost (and not SACKed, not retransmitted) so that it is sent next.
    pub(crate) fn mark_head_lost(&mut self) {
        let Some(head) = self.items.front_mut() else {
            return;
        };
        if head.sacked {
            head.sacked = false;
            self.sacked -= head.len;
        }
        if head.retrans {
            head.retrans = false;
            self.retrans -= head.len;
        }
        self.mark_lost(0);
    }

    /// After a retransmission timeout every unSACKed segment is lost and none counts as
    /// retransmitted (RFC 6675 §5.1, RFC 5681 §3.1). With `forget_sack` the SACK marks go
    /// too (RFC 2018 §8 allows the receiver to renege; we keep them when SACK is real).
    pub(crate) fn mark_all_lost(&mut self, forget_sack: bool) {
        if forget_sack {
            self.reset_reno_sack();
        }
        self.retrans = 0;
        self.lost = 0;
        for item in &mut self.items {
            item.retrans = false;
            item.lost = !item.sacked;
            if item.lost {
                self.lost += item.len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 100;

    /// A scoreboard with `n` segments of `MSS` bytes starting at `start`.
    fn board(start: u32, n: u32) -> Scoreboard {
        let mut b = Scoreboard::default();
        for i in 0..n {
            b.push(TcpSeqNumber(start) + (i * MSS) as usize, MSS, SimTime::ZERO);
        }
        b
    }

    fn seq(start: u32, segs: u32) -> TcpSeqNumber {
        TcpSeqNumber(start) + (segs * MSS) as usize
    }

    #[test]
    fn rfc6675_is_lost_needs_three_sacked_segments_above() {
        let base = u32::MAX - 250; // wraps inside the window
        let mut b = board(base, 6);
        b.update_sack(&[(seq(base, 1), seq(base, 3))]);
        assert!(!b.is_lost(seq(base, 0)));
        assert_eq!(b.pipe(), 4 * MSS);
        b.update_sack(&[(seq(base, 3), seq(base, 4))]);
        assert!(b.is_lost(seq(base, 0)));
        assert_eq!(b.first_lost(), Some((seq(base, 0), MSS)));
        // pipe = 6 sent - 3 sacked - 1 lost.
        assert_eq!(b.pipe(), 2 * MSS);
        assert_eq!(b.mark_retransmitted(seq(base, 0)), Some(MSS));
        assert_eq!(b.pipe(), 3 * MSS);
        assert_eq!(b.first_lost(), None);
        assert_eq!(b.first_unsacked(), Some((seq(base, 4), MSS)));
        let d = b.discard_up_to(seq(base, 4));
        assert_eq!(d.delivered, MSS);
        assert_eq!((b.sent_bytes(), b.pipe()), (2 * MSS, 2 * MSS));
    }

    #[test]
    fn reno_sack_shrinks_pipe_per_dupack() {
        let mut b = board(1000, 5);
        b.add_reno_sack();
        b.add_reno_sack();
        assert_eq!(b.pipe(), 3 * MSS);
        b.mark_head_lost();
        assert_eq!(b.pipe(), 2 * MSS);
        // A partial ACK past a Reno-SACKed segment moves the mark on.
        b.discard_up_to(seq(1000, 1));
        assert_eq!(b.head(), Some((seq(1000, 1), MSS)));
        assert!(b.is_lost(seq(1000, 1)));
        b.mark_all_lost(true);
        assert_eq!(b.pipe(), 0);
        assert_eq!(b.first_lost(), Some((seq(1000, 1), MSS)));
    }

    #[test]
    fn partial_ack_splits_the_head() {
        let mut b = board(0, 2);
        b.mark_retransmitted(TcpSeqNumber(0));
        let d = b.discard_up_to(TcpSeqNumber(40));
        assert_eq!(d.delivered, 40);
        assert_eq!(d.first_sent, None, "retransmitted: no RTT sample");
        assert_eq!(b.head(), Some((TcpSeqNumber(40), 60)));
        assert_eq!(b.pipe(), 60 + 100 + 60);
    }
}
