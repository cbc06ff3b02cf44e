//! ESP: the IPsec data plane (RFC 4303) with AES-GCM (RFC 4106), tunnel mode, in IPv4,
//! in UDP (RFC 3948) and in TCP (RFC 9329).
//!
//! Layers, bottom up:
//!
//! - `wire`: the clear ESP header as a checked view plus a `Repr` ([`EspPacket`],
//!   [`EspRepr`]) and the port-4500 demultiplexing rule ([`UdpEncapPayload`]).
//! - `keys`: AES-GCM key material ([`GcmKey`]) and the Wireshark key export ([`KeyLog`]).
//! - `gcm`: the AES-256-GCM-16 cipher of one direction ([`GcmCipher`]), shared with IKE's
//!   SK payloads, or its stand-in ([`crate::CryptoMode`]).
//! - `replay`: the RFC 4303 §3.4.3 anti-replay window with Appendix A2 ESN inference.
//! - `sa`: one unidirectional SA ([`OutboundSa`], [`InboundSa`]): sequence numbers,
//!   padding, sealing and opening, counters.
//! - `sad`: the SA database ([`Sad`]): inbound SAs by SPI, outbound SAs by selector, two
//!   of each generation at once during a rekey.
//! - `tcp`: the sender side of an RFC 9329 stream ([`TcpEncapTx`]) with the Linux
//!   `espintcp` back-pressure rule: a TCP send buffer plus one partial message, then
//!   tail-drop.
//!
//! Nothing here owns a clock or a random generator: an SA is a pure function of its keys
//! and the packets given to it, so runs stay deterministic. The IV is the 64-bit sequence
//! number (see [`OutboundSa`]). Models never print; callers read [`EspCounters`] into
//! metrics.

mod gcm;
mod keys;
mod replay;
mod sa;
mod sad;
mod tcp;
mod wire;

pub use self::gcm::{GcmCipher, IntegrityError, Schedule};
pub use self::keys::{EspSaKeys, GcmKey, IkeSaKeys, KeyLog};
pub use self::replay::ReplayWindowSize;
pub use self::sa::{
    Decapsulated, ICV_LEN, IV_LEN, InboundSa, NEXT_HEADER_IPV4, OutboundSa, SaParams,
    SequenceExhausted,
};
pub use self::sad::{DuplicateSpi, EspSendError, Sad, SelectorId};
pub use self::tcp::{EspInTcpDrop, StreamSink, TcpEncapCounters, TcpEncapTx};
pub use self::wire::{
    HEADER_LEN as ESP_HEADER_LEN, NAT_KEEPALIVE, NAT_T_PORT, NON_ESP_MARKER, Packet as EspPacket,
    Repr as EspRepr, UdpEncapPayload,
};

/// Why an inbound ESP packet was dropped (RFC 4303 §3.4).
///
/// Each reason is an auditable event in RFC 4303 terms and a counter in
/// [`DropCounters`]. A peer can trigger every one of them, so they are errors, never
/// panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
pub enum EspDropReason {
    /// The sequence number is inside the window and was already received (RFC 4303
    /// §3.4.3).
    #[error("duplicate sequence number (replay)")]
    Replay,
    /// The sequence number is left of the window (RFC 4303 §3.4.3), or, with ESN, lies in
    /// no 2^32 subspace the window can reach (Appendix A2.1).
    #[error("sequence number left of the replay window")]
    TooOld,
    /// The ICV did not verify (RFC 4303 §3.4.4): tampering, wrong key or wrong ESN guess.
    #[error("integrity check failed")]
    AuthFailure,
    /// Too short, SPI 0, or (after authentication) a bad trailer.
    #[error("malformed ESP packet")]
    Malformed,
    /// No SA for this SPI (RFC 4303 §3.4.2).
    #[error("no SA for this SPI")]
    UnknownSpi,
}

impl EspDropReason {
    /// Every reason, in [`DropCounters`] order.
    pub const ALL: [Self; 5] = [
        Self::Replay,
        Self::TooOld,
        Self::AuthFailure,
        Self::Malformed,
        Self::UnknownSpi,
    ];

    /// A stable snake-case name, for metric names.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Replay => "replay",
            Self::TooOld => "too_old",
            Self::AuthFailure => "auth_failure",
            Self::Malformed => "malformed",
            Self::UnknownSpi => "unknown_spi",
        }
    }
}

/// Dropped inbound packets per [`EspDropReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters([u64; EspDropReason::ALL.len()]);

impl DropCounters {
    /// Packets dropped for `reason`.
    pub const fn get(&self, reason: EspDropReason) -> u64 {
        self.0[reason as usize]
    }

    /// Packets dropped for any reason.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Counts one drop.
    pub(crate) fn record(&mut self, reason: EspDropReason) {
        self.0[reason as usize] += 1;
    }
}

/// Traffic counters of an SA or a whole [`Sad`].
///
/// Bytes are ESP packet bytes (SPI to ICV), the size the SA puts on or takes off the wire
/// before any UDP or TCP encapsulation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EspCounters {
    /// Packets encapsulated.
    pub packets_out: u64,
    /// ESP bytes encapsulated.
    pub bytes_out: u64,
    /// Packets that passed every check and were decapsulated.
    pub packets_in: u64,
    /// ESP bytes of those packets.
    pub bytes_in: u64,
    /// Inbound packets dropped, per reason.
    pub drops: DropCounters,
}

impl EspCounters {
    /// Adds `other` into `self`.
    pub(crate) fn merge(&mut self, other: &Self) {
        self.packets_out += other.packets_out;
        self.bytes_out += other.bytes_out;
        self.packets_in += other.packets_in;
        self.bytes_in += other.bytes_in;
        for (mine, theirs) in self.drops.0.iter_mut().zip(other.drops.0) {
            *mine += theirs;
        }
    }
}
