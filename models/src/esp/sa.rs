//! One ESP SA, one direction: AES-GCM-16 with a 256-bit key (RFC 4106), tunnel mode
//! carrying IPv4 (RFC 4303 §2).
//!
//! Packet layout (RFC 4303 §2, RFC 4106 §3):
//!
//! ```text
//! | SPI (4) | Seq low (4) | IV (8) | inner packet | pad 1,2,3.. | pad len | NH = 4 | ICV (16) |
//!                                  \______________ encrypted ___________________/
//! ```
//!
//! Nonce = salt (4) ‖ IV (8) (RFC 4106 §4). AAD = SPI ‖ Seq low, or SPI ‖ Seq high ‖ Seq
//! low with ESN (RFC 4106 §5). The sender pads so that pad length and next header end on
//! a 4-octet boundary, with the default pad bytes 1, 2, 3, ... (RFC 4303 §2.4); GCM
//! itself needs no block alignment (RFC 4106 §3.2).

use super::gcm::{GcmCipher, Schedule};
use super::keys::GcmKey;
use super::replay::{ReplayWindow, ReplayWindowSize};
use super::wire::{HEADER_LEN, Packet, Repr};
use super::{EspCounters, EspDropReason};
use crate::crypto_mode::CryptoMode;
use crate::wire::IpProtocol;

/// Octets of explicit IV in every packet (RFC 4106 §3.1).
pub const IV_LEN: usize = 8;
/// Octets of ICV: the full 16-octet GCM tag of ENCR_AES_GCM_16 (RFC 4106 §6).
pub const ICV_LEN: usize = 16;
/// Next Header of a tunnelled IPv4 packet (IP-in-IP, RFC 4303 §2.6).
pub const NEXT_HEADER_IPV4: IpProtocol = IpProtocol(4);
/// Octets of pad length and next header (RFC 4303 §2.5, §2.6).
const TRAILER_LEN: usize = 2;

/// What an SA is made of, as IKE negotiated it (RFC 7296 §2.17, §3.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaParams {
    /// The SPI, chosen by the receiving side (RFC 4303 §2.1). Never zero.
    pub spi: u32,
    /// This direction's key and salt.
    pub key: GcmKey,
    /// Extended (64-bit) sequence numbers, negotiated with the ESN transform (RFC 4303
    /// §2.2.1, RFC 7296 §3.3.2).
    pub esn: bool,
    /// Real AES-GCM or its stand-in ([`CryptoMode`]); both ends must agree.
    pub crypto: CryptoMode,
}

/// The sender used up the sequence number space: 2^32 - 1 packets without ESN, 2^64 - 1
/// with. The SA must be rekeyed, never cycled (RFC 4303 §3.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ESP sequence number space exhausted; rekey the SA (RFC 4303 §3.3.3)")]
pub struct SequenceExhausted;

/// An inbound packet that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decapsulated {
    /// The SA's SPI, for the inbound policy check of the inner addresses.
    pub spi: u32,
    /// The full 64-bit sequence number (inferred high bits with ESN).
    pub sequence_number: u64,
    /// The inner IPv4 packet, as the sender gave it.
    pub inner: Vec<u8>,
}

/// The AEAD state of one direction. `Debug` hides the key schedule.
#[derive(Clone)]
struct Aead {
    spi: u32,
    esn: bool,
    cipher: GcmCipher,
}

impl std::fmt::Debug for Aead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aead")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("esn", &self.esn)
            .field("crypto", &self.cipher.mode())
            .finish_non_exhaustive()
    }
}

impl Aead {
    fn new(params: SaParams) -> Self {
        assert_ne!(
            params.spi, 0,
            "SPI 0 is never used on the wire (RFC 4303 §2.1)"
        );
        Self {
            spi: params.spi,
            esn: params.esn,
            cipher: GcmCipher::with_schedule(&params.key, params.crypto, Schedule::Kept),
        }
    }

    /// AAD = SPI ‖ [Seq high] ‖ Seq low (RFC 4106 §5); returns the buffer and its length.
    fn aad(&self, seq: u64) -> ([u8; 12], usize) {
        let mut aad = [0; 12];
        aad[..4].copy_from_slice(&self.spi.to_be_bytes());
        if self.esn {
            aad[4..].copy_from_slice(&seq.to_be_bytes());
            (aad, 12)
        } else {
            aad[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
            (aad, 8)
        }
    }
}

/// The sending side of an SA: owns the sequence counter (RFC 4303 §3.3.3).
///
/// The explicit IV is the 64-bit sequence number, big-endian. RFC 4106 §3.1 only asks
/// that an IV never repeat under one key and names a counter as one way to get that; the
/// sequence number never repeats within an SA, so no random draw is needed. Linux's `seqiv` does the same up
/// to an XOR with a per-SA random value.
#[derive(Debug, Clone)]
pub struct OutboundSa {
    aead: Aead,
    seq: u64,
    counters: EspCounters,
}

impl OutboundSa {
    /// A fresh SA: the first packet carries sequence number 1 (RFC 4303 §3.3.3).
    ///
    /// # Panics
    ///
    /// If the SPI is zero; the IKE layer must refuse a zero SPI from the peer.
    pub fn new(params: SaParams) -> Self {
        Self {
            aead: Aead::new(params),
            seq: 0,
            counters: EspCounters::default(),
        }
    }

    /// The SPI in every packet.
    pub fn spi(&self) -> u32 {
        self.aead.spi
    }

    /// The last sequence number used (0 before the first packet).
    pub const fn sequence_number(&self) -> u64 {
        self.seq
    }

    /// Packets and bytes sent so far.
    pub const fn counters(&self) -> &EspCounters {
        &self.counters
    }

    /// The length of the ESP packet that carries an inner packet of `inner_len` octets:
    /// 8 header + 8 IV + inner + 0..3 pad + 2 + 16 ICV. For MTU and MSS arithmetic.
    pub const fn encapsulated_len(inner_len: usize) -> usize {
        HEADER_LEN + IV_LEN + inner_len + pad_len(inner_len) + TRAILER_LEN + ICV_LEN
    }

    /// Skips `count` sequence numbers: an HA cluster member jumps its outgoing counters
    /// after a failover, and the peer adds the delta of an IPSEC_REPLAY_COUNTER_SYNC
    /// notification (RFC 6311).
    pub fn skip_sequence_numbers(&mut self, count: u64) -> Result<(), SequenceExhausted> {
        self.seq = self
            .seq
            .checked_add(count)
            .filter(|&s| s <= self.last_allowed())
            .ok_or(SequenceExhausted)?;
        Ok(())
    }

    /// Protects the inner IPv4 packet and returns the ESP packet (RFC 4303 §3.3).
    ///
    /// Fails, sending nothing, when the next number would cycle (RFC 4303 §3.3.3).
    pub fn encapsulate(&mut self, inner: &[u8]) -> Result<Vec<u8>, SequenceExhausted> {
        let seq = self
            .seq
            .checked_add(1)
            .filter(|&s| s <= self.last_allowed())
            .ok_or(SequenceExhausted)?;
        self.seq = seq;

        let pad = pad_len(inner.len());
        let mut buf = vec![0; Self::encapsulated_len(inner.len())];
        let repr = Repr {
            spi: self.aead.spi,
            sequence_number: seq as u32,
        };
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut packet);
        let iv = seq.to_be_bytes();
        let (iv_field, rest) = packet.payload_mut().split_at_mut(IV_LEN);
        iv_field.copy_from_slice(&iv);
        let (plaintext, icv) = rest.split_at_mut(rest.len() - ICV_LEN);
        let (data, trailer) = plaintext.split_at_mut(inner.len());
        data.copy_from_slice(inner);
        for (i, byte) in trailer[..pad].iter_mut().enumerate() {
            *byte = i as u8 + 1;
        }
        trailer[pad] = pad as u8;
        trailer[pad + 1] = NEXT_HEADER_IPV4.0;

        let (aad, aad_len) = self.aead.aad(seq);
        let tag = self
            .aead
            .cipher
            .seal_in_place(iv, &aad[..aad_len], plaintext);
        icv.copy_from_slice(&tag);

        self.counters.packets_out += 1;
        self.counters.bytes_out += buf.len() as u64;
        Ok(buf)
    }

    /// The highest sequence number this SA may send (RFC 4303 §3.3.3).
    fn last_allowed(&self) -> u64 {
        if self.aead.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        }
    }
}

/// The receiving side of an SA: integrity, decryption and the anti-replay window
/// (RFC 4303 §3.4).
#[derive(Debug, Clone)]
pub struct InboundSa {
    aead: Aead,
    window: ReplayWindow,
    counters: EspCounters,
}

impl InboundSa {
    /// An SA with an anti-replay window of `window` packets.
    ///
    /// # Panics
    ///
    /// If the SPI is zero (we choose inbound SPIs; zero is a local bug).
    pub fn new(params: SaParams, window: ReplayWindowSize) -> Self {
        Self {
            aead: Aead::new(params),
            window: ReplayWindow::new(window),
            counters: EspCounters::default(),
        }
    }

    /// The SPI this SA receives.
    pub fn spi(&self) -> u32 {
        self.aead.spi
    }

    /// The highest authenticated sequence number (0 before the first packet): the right
    /// edge of the window, which RFC 6311 replication copies to standbys.
    pub const fn highest_sequence_number(&self) -> u64 {
        self.window.top()
    }

    /// Packets and bytes received, and drops by reason.
    pub const fn counters(&self) -> &EspCounters {
        &self.counters
    }

    /// Moves the window's right edge to `top` as replicated from another cluster member
    /// (RFC 6311 §2): numbers at or left of it that the copy did not record may pass once;
    /// a stale copy accepts what the old member already saw, as real clusters do.
    pub fn restore_highest_sequence_number(&mut self, top: u64) {
        if top > self.window.top() {
            self.window.accept(top);
        }
    }

    /// Checks and opens an ESP packet (SPI first); counts the outcome.
    ///
    /// Order of RFC 4303 §3.4: sequence number check, then integrity check, then the
    /// window update, then decryption's result (GCM verifies and decrypts at once).
    pub fn decapsulate(&mut self, esp: &[u8]) -> Result<Decapsulated, EspDropReason> {
        let result = self.open(esp);
        match &result {
            Ok(_) => {
                self.counters.packets_in += 1;
                self.counters.bytes_in += esp.len() as u64;
            }
            Err(reason) => self.counters.drops.record(*reason),
        }
        result
    }

    fn open(&mut self, esp: &[u8]) -> Result<Decapsulated, EspDropReason> {
        let packet = Packet::new_checked(esp).map_err(|_| EspDropReason::Malformed)?;
        let repr = Repr::parse(&packet).map_err(|_| EspDropReason::Malformed)?;
        if repr.spi != self.aead.spi {
            return Err(EspDropReason::UnknownSpi);
        }
        let body = packet.payload();
        if body.len() < IV_LEN + TRAILER_LEN + ICV_LEN {
            return Err(EspDropReason::Malformed);
        }
        let seq = if self.aead.esn {
            self.window
                .infer(repr.sequence_number)
                .ok_or(EspDropReason::TooOld)?
        } else {
            u64::from(repr.sequence_number)
        };
        self.window.check(seq)?;

        let (iv, rest) = body.split_at(IV_LEN);
        let (ciphertext, icv) = rest.split_at(rest.len() - ICV_LEN);
        let iv = iv.try_into().map_err(|_| EspDropReason::Malformed)?;
        let icv = icv.try_into().map_err(|_| EspDropReason::Malformed)?;
        let mut plaintext = ciphertext.to_vec();
        let (aad, aad_len) = self.aead.aad(seq);
        self.aead
            .cipher
            .open_in_place(iv, &aad[..aad_len], &mut plaintext, icv)
            .map_err(|_| EspDropReason::AuthFailure)?;
        self.window.accept(seq);

        let inner_len = parse_trailer(&plaintext).ok_or(EspDropReason::Malformed)?;
        plaintext.truncate(inner_len);
        Ok(Decapsulated {
            spi: repr.spi,
            sequence_number: seq,
            inner: plaintext,
        })
    }
}

/// Padding octets for an inner packet of `inner_len`: pad length and next header end on a
/// 4-octet boundary (RFC 4303 §2.4). The header and IV are 16 octets, so aligning the
/// plaintext aligns the packet.
const fn pad_len(inner_len: usize) -> usize {
    (4 - (inner_len + TRAILER_LEN) % 4) % 4
}

/// Checks the decrypted trailer and returns the inner packet's length: the pad bytes
/// must be 1, 2, 3, ... (RFC 4303 §2.4, "the receiver SHOULD inspect the Padding
/// field") and the next header must be IPv4. `None` otherwise.
fn parse_trailer(plaintext: &[u8]) -> Option<usize> {
    let [.., pad_len, next_header] = *plaintext else {
        return None;
    };
    if next_header != NEXT_HEADER_IPV4.0 {
        return None;
    }
    let inner_len = plaintext
        .len()
        .checked_sub(TRAILER_LEN + usize::from(pad_len))?;
    let pad = &plaintext[inner_len..plaintext.len() - TRAILER_LEN];
    pad.iter()
        .zip(1u8..)
        .all(|(&b, expected)| b == expected)
        .then_some(inner_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_pad_len() {
        assert_eq!(pad_len(0), 2);
        assert_eq!(pad_len(1), 1);
        assert_eq!(pad_len(2), 0);
        assert_eq!(pad_len(3), 3);
        for n in 0..64 {
            assert_eq!((n + pad_len(n) + TRAILER_LEN) % 4, 0);
        }
    }

    /// Test case 16 of the GCM specification (McGrew and Viega), AES-256 with a 20-octet
    /// AAD, through this module's key split and nonce: salt `cafebabe` and explicit IV
    /// `facedbaddecaf888` give the spec's 96-bit IV.
    #[test]
    fn test_gcm_spec_test_case_16() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let mut keymat = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        keymat.extend_from_slice(&hex("cafebabe"));
        let aead = Aead::new(SaParams {
            spi: 1,
            key: GcmKey::from_keymat(&keymat).unwrap(),
            esn: false,
            crypto: CryptoMode::Real,
        });
        let mut data = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let iv = hex("facedbaddecaf888").try_into().unwrap();
        let tag = aead.cipher.seal_in_place(iv, &aad, &mut data);
        let expected = hex(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        );
        assert_eq!(data, expected);
        assert_eq!(tag[..], hex("76fc6ece0f4e1768cddf8853bb2d551b")[..]);
    }

    #[test]
    fn test_parse_trailer() {
        assert_eq!(parse_trailer(&[9, 9, 1, 2, 2, 4]), Some(2));
        assert_eq!(parse_trailer(&[9, 0, 4]), Some(1));
        assert_eq!(parse_trailer(&[9, 1, 3, 2, 4]), None, "pad bytes 1, 3");
        assert_eq!(parse_trailer(&[9, 0, 41]), None, "IPv6 is not carried");
        assert_eq!(parse_trailer(&[1, 2, 4, 4]), None, "pad longer than data");
        assert_eq!(parse_trailer(&[4]), None);
    }
}
