//! The receive side: in-order bytes for the application, a reassembly store for
//! out-of-order segments, and the SACK blocks to report (RFC 2018 §4).
//!
//! Positions are kept as 64-bit offsets into the byte stream, so sequence wrap-around never
//! reaches the maps. Everything stored lies inside the advertised window, and the window is
//! the free space of `capacity`, so a peer cannot make us hold more than `capacity` bytes.

use std::collections::{BTreeMap, VecDeque};

use crate::wire::TcpSeqNumber;

/// Most SACK blocks a segment can carry (RFC 2018 §3).
const MAX_SACK_BLOCKS: usize = 4;

/// What [`Receiver::accept`] did with a segment's payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// In-order bytes added for the application.
    pub(crate) delivered: usize,
    /// Some new byte was stored (in order or not).
    pub(crate) stored: bool,
    /// Out-of-order data remains buffered after this segment (a gap exists).
    pub(crate) gap: bool,
    /// This segment filled (part of) a gap: RCV.NXT moved past its end.
    pub(crate) filled_gap: bool,
}

/// Receive sequence space and buffers.
#[derive(Clone, Debug)]
pub(crate) struct Receiver {
    /// RCV.NXT.
    nxt: TcpSeqNumber,
    /// Stream offset of RCV.NXT (bytes delivered in order so far, plus the FIN if seen).
    nxt_off: u64,
    /// In-order bytes the application has not read.
    readable: VecDeque<u8>,
    capacity: usize,
    /// Out-of-order data, if there is a gap.
    ooo: Option<Box<Reassembly>>,
    /// Stream offset of the peer's FIN, once seen.
    fin_off: Option<u64>,
    fin_done: bool,
}

/// Out-of-order data, and the order to report it in.
///
/// Boxed, created by the first out-of-order segment and dropped when the last gap closes:
/// most connections never see loss or reordering, and an idle one should carry neither the
/// map and the list inline (48 bytes instead of 8) nor the map's emptied node (BENCHMARKS.md,
/// "Memory per idle client").
#[derive(Clone, Debug, Default)]
struct Reassembly {
    /// Non-overlapping, non-adjacent blocks keyed by stream offset; never empty.
    blocks: BTreeMap<u64, Vec<u8>>,
    /// Keys of `blocks` in the order to report them as SACK blocks, most recent first.
    sack_order: Vec<u64>,
}

impl Receiver {
    /// A receiver expecting `nxt` next (the peer's ISN plus one).
    pub(crate) fn new(nxt: TcpSeqNumber, capacity: usize) -> Self {
        Self {
            nxt,
            nxt_off: 0,
            readable: VecDeque::new(),
            capacity,
            ooo: None,
            fin_off: None,
            fin_done: false,
        }
    }

    pub(crate) fn nxt(&self) -> TcpSeqNumber {
        self.nxt
    }

    /// RCV.WND: free buffer space. Out-of-order data sits inside it.
    pub(crate) fn window(&self) -> u32 {
        u32::try_from(self.capacity - self.readable.len()).unwrap_or(u32::MAX)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn readable_len(&self) -> usize {
        self.readable.len()
    }

    /// Whether the peer's FIN has been received in order.
    pub(crate) fn fin_done(&self) -> bool {
        self.fin_done
    }

    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.readable.capacity()
            + self.ooo.as_ref().map_or(0, |ooo| {
                size_of::<Reassembly>()
                    + ooo.blocks.values().map(Vec::capacity).sum::<usize>()
                    + ooo.sack_order.capacity() * size_of::<u64>()
            })
    }

    /// Hands up to `max` in-order bytes to `f`, in one or two slices (in order), and
    /// consumes them; frees memory once drained. Returns how many.
    pub(crate) fn read_with(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> usize {
        let n = max.min(self.readable.len());
        let (front, back) = self.readable.as_slices();
        let from_front = n.min(front.len());
        for part in [&front[..from_front], &back[..n - from_front]] {
            if !part.is_empty() {
                f(part);
            }
        }
        self.readable.drain(..n);
        if self.readable.is_empty() {
            self.readable = VecDeque::new();
        }
        n
    }

    /// Stream offset of `seq`, relative to RCV.NXT (negative for old data).
    fn rel(&self, seq: TcpSeqNumber) -> i64 {
        i64::from(seq - self.nxt)
    }

    /// Takes the payload of a segment starting at `seq` (already trimmed of nothing), and a
    /// FIN at its end if `fin`. Bytes outside the window are dropped (RFC 9293 §3.10.7.4:
    /// trim to the window).
    pub(crate) fn accept(&mut self, seq: TcpSeqNumber, payload: &[u8], fin: bool) -> Accepted {
        let mut out = Accepted::default();
        let window = i64::from(self.window());
        let rel_start = self.rel(seq);
        let rel_end = rel_start + payload.len() as i64;
        if fin && !self.fin_done && rel_end >= 0 && rel_end <= window {
            self.fin_off = Some(self.nxt_off + rel_end as u64);
        }
        let lo = rel_start.max(0);
        let hi = rel_end.min(window);
        if lo < hi {
            let data = &payload[(lo - rel_start) as usize..(hi - rel_start) as usize];
            let before = self.nxt_off;
            if lo == 0 {
                self.readable.extend(data);
                self.advance(data.len() as u64);
                self.drain_ooo();
                out.stored = true;
            } else {
                out.stored = self.insert_ooo(self.nxt_off + lo as u64, data);
            }
            out.delivered = (self.nxt_off - before) as usize;
            out.filled_gap = self.nxt_off > before + (hi - lo) as u64;
        }
        self.take_fin();
        out.gap = self.ooo.is_some();
        out
    }

    fn advance(&mut self, n: u64) {
        self.nxt_off += n;
        self.nxt += n as usize;
    }

    /// Consumes the FIN once everything before it has arrived.
    fn take_fin(&mut self) {
        if !self.fin_done && self.fin_off == Some(self.nxt_off) {
            self.fin_done = true;
            self.advance(1);
        }
    }

    /// Moves out-of-order data that now starts at or below RCV.NXT into the readable buffer.
    fn drain_ooo(&mut self) {
        let Some(mut ooo) = self.ooo.take() else {
            return;
        };
        while let Some(entry) = ooo.blocks.first_entry() {
            let start = *entry.key();
            if start > self.nxt_off {
                break;
            }
            let data = entry.remove();
            let skip = (self.nxt_off - start) as usize;
            if skip < data.len() {
                self.readable.extend(&data[skip..]);
                self.advance((data.len() - skip) as u64);
            }
        }
        if !ooo.blocks.is_empty() {
            let nxt_off = self.nxt_off;
            ooo.sack_order.retain(|k| *k > nxt_off);
            self.ooo = Some(ooo);
        }
    }

    /// Stores `data` at stream offset `start`, merging with overlapping or adjacent blocks;
    /// the merged block becomes the most recent SACK block. Returns whether any byte was new.
    fn insert_ooo(&mut self, mut start: u64, data: &[u8]) -> bool {
        let mut end = start + data.len() as u64;
        let ooo = self.ooo.get_or_insert_default();
        // Blocks that touch [start, end]: the one before start (if it reaches start) and
        // every block starting up to end.
        let touching: Vec<u64> = ooo
            .blocks
            .range(..=end)
            .rev()
            .take_while(|(k, v)| **k + v.len() as u64 >= start)
            .map(|(k, _)| *k)
            .collect();
        let covered = touching.len() == 1 && {
            let k = touching[0];
            k <= start && k + ooo.blocks[&k].len() as u64 >= end
        };
        if covered {
            return false;
        }
        let mut merged = data.to_vec();
        for key in touching {
            let block = ooo.blocks.remove(&key).expect("key listed above");
            let block_end = key + block.len() as u64;
            if key < start {
                let mut front = block[..(start - key) as usize].to_vec();
                front.extend_from_slice(&merged);
                merged = front;
                start = key;
            }
            if block_end > end {
                merged.extend_from_slice(&block[(end - key) as usize..]);
                end = block_end;
            }
        }
        ooo.blocks.insert(start, merged);
        let Reassembly { blocks, sack_order } = &mut **ooo;
        sack_order.retain(|k| *k != start && blocks.contains_key(k));
        sack_order.insert(0, start);
        sack_order.truncate(MAX_SACK_BLOCKS);
        true
    }

    /// SACK blocks to send (RFC 2018 §4): the block holding the most recent out-of-order
    /// segment first, then other recently reported blocks.
    pub(crate) fn sack_blocks(&self) -> [Option<(u32, u32)>; MAX_SACK_BLOCKS] {
        let mut out = [None; MAX_SACK_BLOCKS];
        let Some(ooo) = &self.ooo else {
            return out;
        };
        for (slot, key) in out.iter_mut().zip(&ooo.sack_order) {
            let len = ooo.blocks[key].len();
            let left = self.nxt + (key - self.nxt_off) as usize;
            *slot = Some((left.0, (left + len).0));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(n: u32) -> TcpSeqNumber {
        TcpSeqNumber(u32::MAX - 10) + n as usize
    }

    #[test]
    fn rfc2018_receiver_reports_most_recent_block_first() {
        let mut rx = Receiver::new(seq(0), 1000);
        assert!(rx.accept(seq(10), &[1; 10], false).gap);
        rx.accept(seq(30), &[2; 10], false);
        rx.accept(seq(50), &[3; 10], false);
        let blocks = rx.sack_blocks();
        assert_eq!(blocks[0], Some((seq(50).0, seq(60).0)));
        assert_eq!(blocks[1], Some((seq(30).0, seq(40).0)));
        assert_eq!(blocks[2], Some((seq(10).0, seq(20).0)));
        // Extending the oldest block makes it the most recent.
        rx.accept(seq(20), &[4; 5], false);
        assert_eq!(rx.sack_blocks()[0], Some((seq(10).0, seq(25).0)));
        // Filling the hole at the front delivers the first block and drops it from SACK.
        let a = rx.accept(seq(0), &[5; 10], false);
        assert_eq!((a.delivered, a.filled_gap, a.gap), (25, true, true));
        assert_eq!(rx.sack_blocks()[0], Some((seq(50).0, seq(60).0)));
        assert_eq!(rx.sack_blocks()[2], None);
    }

    #[test]
    fn window_bounds_storage_and_trims() {
        let mut rx = Receiver::new(seq(0), 20);
        // Beyond the window: dropped.
        assert!(!rx.accept(seq(25), &[1; 5], false).stored);
        // Straddling the right edge: trimmed.
        rx.accept(seq(15), &[2; 10], false);
        assert_eq!(rx.sack_blocks()[0], Some((seq(15).0, seq(20).0)));
        let a = rx.accept(seq(0), &[3; 15], false);
        assert_eq!(a.delivered, 20);
        assert_eq!(rx.window(), 0);
        // Old data is a duplicate.
        assert!(!rx.accept(seq(0), &[3; 15], false).stored);
        let mut buf = [0; 32];
        assert_eq!(rx.read_with(buf.len(), crate::tcp::fill(&mut buf)), 20);
        assert_eq!(buf[..20], [&[3; 15][..], &[2; 5]].concat()[..]);
        assert_eq!(rx.window(), 20);
    }

    #[test]
    fn out_of_order_fin_waits_for_the_data() {
        let mut rx = Receiver::new(seq(0), 100);
        rx.accept(seq(5), &[1; 5], true);
        assert!(!rx.fin_done());
        rx.accept(seq(0), &[1; 5], false);
        assert!(rx.fin_done());
        assert_eq!(rx.nxt(), seq(11));
    }
}
