//! pcap capture files: LINKTYPE_RAW (101, packets start with the IPv4 header) and nanosecond
//! timestamps (magic `0xa1b23c4d`), readable by Wireshark, tshark and tcpdump.

use std::io::{self, Write};

use crate::time::SimTime;

/// Link type for raw IP packets.
pub const LINKTYPE_RAW: u32 = 101;
/// Largest packet kept whole.
pub const SNAPLEN: u32 = 262_144;

/// Writes a pcap global header.
pub fn write_header<W: Write>(w: &mut W) -> io::Result<()> {
    w.write_all(&0xa1b2_3c4d_u32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&0i32.to_le_bytes())?; // thiszone
    w.write_all(&0u32.to_le_bytes())?; // sigfigs
    w.write_all(&SNAPLEN.to_le_bytes())?;
    w.write_all(&LINKTYPE_RAW.to_le_bytes())
}

/// Writes one packet record stamped `time` (seconds + nanoseconds since the run started,
/// i.e. since the Unix epoch as far as readers are concerned).
pub fn write_record<W: Write>(w: &mut W, time: SimTime, data: &[u8]) -> io::Result<()> {
    let ns = time.as_nanos();
    let secs = u32::try_from(ns / 1_000_000_000).unwrap_or(u32::MAX);
    let orig = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let incl = orig.min(SNAPLEN);
    w.write_all(&secs.to_le_bytes())?;
    w.write_all(&((ns % 1_000_000_000) as u32).to_le_bytes())?;
    w.write_all(&incl.to_le_bytes())?;
    w.write_all(&orig.to_le_bytes())?;
    w.write_all(&data[..incl as usize])
}

/// The packets captured on one link, per direction, each list in transmission order.
#[derive(Clone, Debug, Default)]
pub struct LinkCapture {
    pub(crate) dirs: [Vec<(SimTime, Vec<u8>)>; 2],
}

impl LinkCapture {
    /// Writes both directions as one pcap file, merged in time order (ties: `AtoB` first).
    pub fn write_pcap<W: Write>(&self, w: &mut W) -> io::Result<()> {
        write_header(w)?;
        let [a, b] = &self.dirs;
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let take_a = j >= b.len() || (i < a.len() && a[i].0 <= b[j].0);
            let (t, data) = if take_a { &a[i] } else { &b[j] };
            write_record(w, *t, data)?;
            if take_a { i += 1 } else { j += 1 }
        }
        Ok(())
    }

    /// The packets sent in one direction, with the time each started to leave, in order.
    pub fn packets(&self, dir: crate::link::Direction) -> &[(SimTime, Vec<u8>)] {
        &self.dirs[dir.index()]
    }

    /// Number of captured packets.
    pub fn len(&self) -> usize {
        self.dirs[0].len() + self.dirs[1].len()
    }

    /// Whether nothing was captured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_directions_in_time_order() {
        let t = SimTime::from_nanos;
        let cap = LinkCapture {
            dirs: [
                vec![(t(1), vec![1]), (t(5), vec![5])],
                vec![(t(3), vec![3]), (t(5), vec![6])],
            ],
        };
        let mut out = Vec::new();
        cap.write_pcap(&mut out).unwrap();
        assert_eq!(&out[..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(out.len(), 24 + 4 * 17);
        let payloads: Vec<u8> = (0..4).map(|k| out[24 + k * 17 + 16]).collect();
        assert_eq!(payloads, [1, 3, 5, 6]);
    }
}
