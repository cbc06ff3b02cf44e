//! The RFC 9329 stream framing of IKE and ESP over TCP (RFC 9329 §3, §4).
//!
//! ```text
//! "IKETCP"                                  once, from the TCP Originator only (§4)
//! Length(2) | 00 00 00 00 | IKE message     IKE frame (non-ESP marker)
//! Length(2) | ESP packet                    ESP frame (SPI is never 0)
//! 00 03 | FF                                keepalive, dropped silently
//! 00 02                                     empty frame, ignored (new in RFC 9329)
//! ```
//!
//! Length counts itself (RFC 9329 §3: "message length plus the length of the field
//! itself"); 0 or 1 is fatal and the receiver closes the connection. Payloads are at most
//! 65533 bytes, and an implementation may cap them lower ([`StreamParser::new`]).
//!
//! [`StreamParser`] turns a byte stream, delivered in any split into segments, into frames:
//! it requires the full prefix before any frame (when it expects one), keeps at most one
//! partial frame (bounded by the cap, so a hostile peer cannot make it allocate more), and
//! discards that partial frame when the connection breaks ([`StreamParser::reset`]).

/// The stream prefix (RFC 9329 §4).
pub const PREFIX: &[u8; 6] = b"IKETCP";

/// Largest payload a frame can carry: 65535 minus the Length field (RFC 9329 §3).
pub const MAX_PAYLOAD: usize = 65_533;

/// The non-ESP marker that starts an IKE frame's payload (RFC 9329 §3, as RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// A keepalive frame: Length 3, payload 0xFF (RFC 9329 §3, as RFC 3948 §2.3).
pub const KEEPALIVE: [u8; 3] = [0, 3, 0xff];

/// One frame received from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// An IKE message (the non-ESP marker removed).
    Ike(Vec<u8>),
    /// An ESP packet, starting with its SPI.
    Esp(Vec<u8>),
    /// A one-byte 0xFF keepalive (RFC 9329 §6.6: dropped silently over TCP).
    Keepalive,
    /// A Length-2 frame with no payload (ignored, RFC 9329 §3).
    Empty,
    /// A payload of 1 to 4 bytes that is no keepalive: neither IKE nor ESP (dropped; counts
    /// towards "too many invalid frames", RFC 9329 §6.1).
    Runt,
}

/// A framing error that ends the connection (RFC 9329 §3, §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The first six bytes were not "IKETCP".
    #[error("the stream does not start with the IKETCP prefix")]
    BadPrefix,
    /// A Length of 0 or 1.
    #[error("frame Length {0} is below 2")]
    BadLength(u16),
    /// A frame larger than the configured cap.
    #[error("frame payload of {len} bytes exceeds the cap of {cap}")]
    TooLarge {
        /// The frame's payload length.
        len: usize,
        /// The cap.
        cap: usize,
    },
}

/// Frames a payload: Length (counting itself) then the payload. `None` if the payload is
/// empty or longer than [`MAX_PAYLOAD`].
pub fn frame(payload: &[u8]) -> Option<Vec<u8>> {
    if payload.is_empty() || payload.len() > MAX_PAYLOAD {
        return None;
    }
    let len = u16::try_from(payload.len() + 2).ok()?;
    let mut out = Vec::with_capacity(payload.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// Frames an IKE message: Length, the non-ESP marker, the message.
pub fn frame_ike(message: &[u8]) -> Option<Vec<u8>> {
    if message.len() + NON_ESP_MARKER.len() > MAX_PAYLOAD {
        return None;
    }
    let mut payload = Vec::with_capacity(message.len() + 4);
    payload.extend_from_slice(&NON_ESP_MARKER);
    payload.extend_from_slice(message);
    frame(&payload)
}

/// Frames an ESP packet (which starts with a non-zero SPI).
pub fn frame_esp(packet: &[u8]) -> Option<Vec<u8>> {
    if packet.get(..4).is_none_or(|spi| spi == NON_ESP_MARKER) {
        return None;
    }
    frame(packet)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for the prefix; this many bytes of it have matched.
    Prefix(usize),
    /// Reading frames.
    Frames,
}

/// Reassembles frames from a TCP byte stream delivered in arbitrary pieces.
#[derive(Clone, Debug)]
pub struct StreamParser {
    stage: Stage,
    /// The current partial frame: its Length bytes and payload so far.
    partial: Vec<u8>,
    cap: usize,
}

impl StreamParser {
    /// A parser for one connection. The TCP Responder expects the prefix first
    /// (`expect_prefix`); the Originator receives frames only. `cap` bounds a frame's
    /// payload (at most [`MAX_PAYLOAD`]).
    pub fn new(expect_prefix: bool, cap: usize) -> Self {
        Self {
            stage: if expect_prefix {
                Stage::Prefix(0)
            } else {
                Stage::Frames
            },
            partial: Vec::new(),
            cap: cap.min(MAX_PAYLOAD),
        }
    }

    /// Whether the prefix has been received (always true when none was expected).
    pub fn prefix_seen(&self) -> bool {
        self.stage == Stage::Frames
    }

    /// Bytes of an incomplete frame held.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Forgets any partial frame, as when the connection breaks (RFC 9329 §3: a partial
    /// message MUST be discarded).
    pub fn reset(&mut self) {
        self.partial = Vec::new();
    }

    /// Consumes `data` and appends every frame completed by it to `out`. An error means the
    /// connection must be closed; the parser must not be fed again.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<Frame>) -> Result<(), StreamError> {
        if let Stage::Prefix(got) = self.stage {
            let take = data.len().min(PREFIX.len() - got);
            if data[..take] != PREFIX[got..got + take] {
                return Err(StreamError::BadPrefix);
            }
            data = &data[take..];
            self.stage = if got + take == PREFIX.len() {
                Stage::Frames
            } else {
                Stage::Prefix(got + take)
            };
            if self.stage != Stage::Frames {
                return Ok(());
            }
        }
        while !data.is_empty() {
            // The common case, a whole frame in `data`: classified in place, without
            // gathering it into `partial` first (an allocation, a reallocation and a copy
            // per frame).
            if self.partial.is_empty()
                && let [hi, lo, ..] = *data
            {
                let total = usize::from(self.check_len(u16::from_be_bytes([hi, lo]))?);
                if data.len() >= total {
                    out.push(classify(&data[2..total]));
                    data = &data[total..];
                    continue;
                }
            }
            if self.partial.len() < 2 {
                let take = (2 - self.partial.len()).min(data.len());
                self.partial.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.partial.len() < 2 {
                    break;
                }
                let len = self.check_len(u16::from_be_bytes([self.partial[0], self.partial[1]]))?;
                self.partial.reserve_exact(usize::from(len) - 2);
            }
            let total = usize::from(u16::from_be_bytes([self.partial[0], self.partial[1]]));
            let take = (total - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() == total {
                let frame = std::mem::take(&mut self.partial);
                out.push(classify(&frame[2..]));
            }
        }
        Ok(())
    }

    /// A frame's Length field (RFC 9329 §3: it counts itself), if acceptable.
    fn check_len(&self, len: u16) -> Result<u16, StreamError> {
        if len < 2 {
            return Err(StreamError::BadLength(len));
        }
        let payload = usize::from(len) - 2;
        if payload > self.cap {
            return Err(StreamError::TooLarge {
                len: payload,
                cap: self.cap,
            });
        }
        Ok(len)
    }
}

/// What a complete payload is (RFC 9329 §3 demux, with Linux's short-message rule).
fn classify(payload: &[u8]) -> Frame {
    match payload {
        [] => Frame::Empty,
        [0xff] => Frame::Keepalive,
        p if p.len() <= 4 => Frame::Runt,
        p if p[..4] == NON_ESP_MARKER => Frame::Ike(p[4..].to_vec()),
        p => Frame::Esp(p.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse_all(parser: &mut StreamParser, chunks: &[&[u8]]) -> Result<Vec<Frame>, StreamError> {
        let mut out = Vec::new();
        for c in chunks {
            parser.feed(c, &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn rfc9329_section3_frames_demux() {
        let mut stream = PREFIX.to_vec();
        stream.extend(frame_ike(b"ike message").unwrap());
        stream.extend(frame_esp(&[0, 0, 0, 7, 1, 2, 3]).unwrap());
        stream.extend(KEEPALIVE);
        stream.extend([0, 2]);
        stream.extend(frame(&[9, 9]).unwrap());
        let frames = parse_all(&mut StreamParser::new(true, MAX_PAYLOAD), &[&stream]).unwrap();
        assert_eq!(
            frames,
            [
                Frame::Ike(b"ike message".to_vec()),
                Frame::Esp(vec![0, 0, 0, 7, 1, 2, 3]),
                Frame::Keepalive,
                Frame::Empty,
                Frame::Runt,
            ]
        );
        // Length counts itself.
        assert_eq!(&frame_ike(b"x").unwrap()[..2], &[0, 7]);
        assert!(
            frame_esp(&[0, 0, 0, 0, 1]).is_none(),
            "SPI 0 is the non-ESP marker"
        );
        assert!(frame(&vec![0; MAX_PAYLOAD + 1]).is_none());
    }

    #[test]
    fn rfc9329_section3_length_0_or_1_closes() {
        for bad in [[0u8, 0], [0, 1]] {
            let mut p = StreamParser::new(false, MAX_PAYLOAD);
            assert_eq!(
                p.feed(&bad, &mut Vec::new()),
                Err(StreamError::BadLength(u16::from(bad[1])))
            );
        }
    }

    #[test]
    fn rfc9329_section4_prefix_required_before_frames() {
        let mut p = StreamParser::new(true, MAX_PAYLOAD);
        let mut out = Vec::new();
        p.feed(b"IKE", &mut out).unwrap();
        assert!(!p.prefix_seen());
        p.feed(b"TCP", &mut out).unwrap();
        assert!(p.prefix_seen() && out.is_empty());
        let mut q = StreamParser::new(true, MAX_PAYLOAD);
        assert_eq!(
            q.feed(&frame_ike(b"no prefix").unwrap(), &mut out),
            Err(StreamError::BadPrefix)
        );
        assert_eq!(
            StreamParser::new(true, 100).feed(b"IKEUDP", &mut out),
            Err(StreamError::BadPrefix)
        );
    }

    #[test]
    fn cap_bounds_memory_and_reset_discards_a_partial_frame() {
        let mut p = StreamParser::new(false, 1000);
        let mut out = Vec::new();
        assert_eq!(
            p.feed(&[0x10, 0x00], &mut out),
            Err(StreamError::TooLarge {
                len: 4094,
                cap: 1000
            })
        );
        let mut p = StreamParser::new(false, 1000);
        let f = frame_ike(b"abcdef").unwrap();
        p.feed(&f[..5], &mut out).unwrap();
        assert_eq!(p.pending(), 5);
        p.reset();
        p.feed(&f, &mut out).unwrap();
        assert_eq!(out, [Frame::Ike(b"abcdef".to_vec())]);
    }

    fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20)
    }

    proptest! {
        /// Any split of a valid stream into segments yields the same frames.
        #[test]
        fn any_split_gives_the_same_frames(payloads in payloads(), cuts in prop::collection::vec(0usize..4000, 0..30)) {
            let mut stream = PREFIX.to_vec();
            let mut expected = Vec::new();
            for p in &payloads {
                if p.is_empty() {
                    stream.extend([0, 2]);
                } else {
                    stream.extend(frame(p).unwrap());
                }
                expected.push(classify(p));
            }
            let whole = parse_all(&mut StreamParser::new(true, MAX_PAYLOAD), &[&stream]).unwrap();
            prop_assert_eq!(&whole, &expected);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for c in cuts.into_iter().chain([stream.len()]) {
                chunks.push(&stream[start..c]);
                start = c;
            }
            let split = parse_all(&mut StreamParser::new(true, MAX_PAYLOAD), &chunks).unwrap();
            prop_assert_eq!(split, expected);
        }

        /// Arbitrary bytes never panic and never hold more than one capped frame.
        #[test]
        fn arbitrary_bytes_are_safe(data in prop::collection::vec(any::<u8>(), 0..2000), prefix in any::<bool>()) {
            let mut p = StreamParser::new(prefix, 512);
            let mut out = Vec::new();
            let _ = p.feed(&data, &mut out);
            prop_assert!(p.pending() <= 514);
        }
    }
}
