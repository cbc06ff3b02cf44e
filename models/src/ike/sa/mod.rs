//! The IKEv2 SA state machine (RFC 7296), sans IO.
//!
//! - [`IkeSa`]: one IKE SA and its Child SAs with one peer, as initiator or responder:
//!   IKE_SA_INIT (NAT detection, INVALID_KE_PAYLOAD and COOKIE retries), IKE_AUTH with a
//!   PSK and the first Child SA (tunnel mode, optional inner address through CP),
//!   CREATE_CHILD_SA (Child SA rekey, IKE SA rekey), INFORMATIONAL (Delete, liveness),
//!   window size 1 with RFC 7296 §2.2 Message IDs, timer retransmission (or none, for
//!   TCP), fragmentation (RFC 7383) and reassembly with limits.
//! - [`IkeEndpoint`]: many SAs keyed by SPI (never by address, RFC 7296 §2.6), responder
//!   SAs created on IKE_SA_INIT, stateless COOKIEs under half-open load, optionally with
//!   an IKE_SA_INIT client puzzle (RFC 8019 §7.1; not the IKE_AUTH puzzle of §7.2).
//! - [`policy`]: the typed knobs, compliant by default (DESIGN.md "Policies").
//! - [`testing`]: a two-endpoint [`testing::Pair`] over a fake network.
//!
//! Layout: `ike_sa` (the SA's API, commands, sending), `receive` (protected input and its
//! dispatch), `timers` (timer table, retransmission, deadlines), one module per exchange
//! (`init`, `auth`, `child`, `rekey`, `info`), `core` (Message IDs, request and response
//! caches, SK protection of one IKE SA generation), `proposal` (SA payloads and traffic
//! selectors), `fragments` (reassembly), `endpoint`.
//!
//! Simplifications, each a deliberate choice: the suite is fixed (AES-GCM-16/256,
//! PRF-HMAC-SHA2-256; DH X25519 or ECP-256); the window is 1 (no SET_WINDOW_SIZE); one
//! Child SA is created per IKE SA (more are refused with NO_ADDITIONAL_SAS); exchange
//! collisions (RFC 7296 §2.8.1, §2.25) are settled with TEMPORARY_FAILURE and a random
//! retry instead of the nonce comparison; INITIAL_CONTACT is sent but not acted on.
//!
//! Nothing here reads a clock, opens a socket or draws OS entropy: every input carries
//! `now`, and all randomness (SPIs, nonces, DH secrets, IVs, jitter) comes from the
//! [`sim::SimRng`] the caller hands in, keyed per SA (style rule 4). Same seed, same
//! bytes.

mod auth;
mod child;
mod core;
mod endpoint;
mod fragments;
mod ike_sa;
mod info;
mod init;
mod mobike;
pub mod policy;
mod proposal;
mod puzzle;
mod receive;
mod rekey;
mod replica;
mod sync;
pub mod testing;
mod timers;

use std::net::{Ipv4Addr, SocketAddrV4};

use sim::{SimDuration, SimTime};

pub use self::endpoint::{EndpointConfig, EndpointStats, IkeEndpoint, SaId};
pub use self::ike_sa::IkeSa;
pub use self::init::InitRefused;
pub use self::mobike::{Cookie2Echo, MobikeEvent, MobikeStats};
pub use self::policy::{
    AddressPool, FragmentationPolicy, HaSyncSupport, HalfOpenPolicy, IkeConfig, InitErrorAction,
    InnerAddress, Lifetimes, LivenessMode, LivenessPolicy, PuzzlePolicy, Retransmission,
    RetransmitPolicy, TcpOverrides,
};
pub use self::replica::{MessageIds, ReplicaStamp, SaReplica};
use crate::CryptoMode;
use crate::esp::{GcmKey, IkeSaKeys};
use crate::ike::wire::{NotifyType, TrafficSelector};

/// The IKE port (RFC 7296 §2).
pub const IKE_PORT: u16 = 500;
/// The NAT traversal port (RFC 3948; RFC 7296 §2.23); messages on it carry the 4-octet
/// non-ESP marker, which the caller adds and strips.
pub const NAT_T_PORT: u16 = 4500;

/// An IKE message to send.
///
/// `bytes` is the IKE message from the first SPI octet on: the caller adds the non-ESP
/// marker when either port is [`NAT_T_PORT`] (RFC 3948 §2.2) and the RFC 9329 length
/// field over TCP. Requests go to the SA's current peer address; responses go back to
/// where their request came from (RFC 7296 §2.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The IKE message.
    pub bytes: Vec<u8>,
    /// Our address and port to send from. After NAT detection the initiator moves to
    /// port 4500 on both ends (RFC 7296 §2.23): this field is how it says so.
    pub local: SocketAddrV4,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
}

/// What IKE_SA_INIT's NAT_DETECTION payloads showed (RFC 7296 §2.23; protocol.md 1.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NatStatus {
    /// Our address is translated: send NAT keepalives (RFC 3948 §4).
    pub local_behind_nat: bool,
    /// The peer's address is translated.
    pub remote_behind_nat: bool,
}

impl NatStatus {
    /// Whether any NAT is on the path; then IKE and ESP use port 4500 (UDP-encapsulated
    /// ESP, RFC 3948).
    pub const fn any(self) -> bool {
        self.local_behind_nat || self.remote_behind_nat
    }
}

/// The two SPIs that name a Child SA from our point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChildSaId {
    /// The SPI we chose: inbound ESP carries it.
    pub spi_in: u32,
    /// The SPI the peer chose: outbound ESP carries it.
    pub spi_out: u32,
}

/// Everything the data plane needs to install one Child SA (ESP, tunnel mode, AES-GCM-16
/// with 256-bit keys, RFC 4106; keys from RFC 7296 §2.17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaKeys {
    /// Our inbound SPI.
    pub spi_in: u32,
    /// Our outbound SPI.
    pub spi_out: u32,
    /// Key and salt (36 octets) for inbound ESP.
    pub key_in: GcmKey,
    /// Key and salt for outbound ESP.
    pub key_out: GcmKey,
    /// Selectors of our side (TSi for the initiator of the exchange that created it).
    pub ts_local: Vec<TrafficSelector>,
    /// Selectors of the peer's side.
    pub ts_remote: Vec<TrafficSelector>,
    /// The original initiator's inner address, when one was assigned through CP or
    /// configured (RFC 7296 §2.19): ours on the initiator, the peer's on the responder.
    pub inner_address: Option<Ipv4Addr>,
    /// Real AES-GCM or its stand-in, as the IKE SA's configuration says.
    pub crypto: CryptoMode,
}

impl ChildSaKeys {
    /// The SPI pair.
    pub const fn id(&self) -> ChildSaId {
        ChildSaId {
            spi_in: self.spi_in,
            spi_out: self.spi_out,
        }
    }
}

/// Why an IKE SA failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum FailReason {
    /// A request went unanswered through the whole retransmission schedule: the peer is
    /// dead (RFC 7296 §2.4).
    #[error("peer did not answer (retransmissions exhausted)")]
    Timeout,
    /// AUTH did not verify, on either side (RFC 7296 §2.21.2).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// No acceptable proposal in IKE_SA_INIT (RFC 7296 §2.7).
    #[error("no proposal chosen")]
    NoProposalChosen,
    /// An authenticated message was malformed (RFC 7296 §2.21.3).
    #[error("invalid syntax")]
    InvalidSyntax,
    /// The peer answered with this error notify.
    #[error("peer sent error notify {0:?}")]
    PeerError(NotifyType),
    /// The corrective IKE_SA_INIT retries (COOKIE, INVALID_KE) ran out.
    #[error("too many IKE_SA_INIT retries")]
    InitRetries,
    /// Responder: no IKE_AUTH arrived within the half-open timeout (RFC 7296 §2.6).
    #[error("half-open SA timed out")]
    HalfOpenTimeout,
    /// HA cluster member: an SA restored after a failover was not synchronised with its
    /// peer within the restore timeout (RFC 6311; RFC 9329 §7.4).
    #[error("not restored after failover")]
    NotRestored,
    /// MOBIKE: the peer did not echo our COOKIE2 (RFC 4555 §3.7, §4.2.5: the IKE SA MUST
    /// be closed).
    #[error("return-routability check failed")]
    ReturnRoutabilityFailed,
}

/// Something the daemon must act on; see [`IkeSa::poll_event`].
///
/// The events of one SA come in protocol order: after IKE_SA_INIT [`IkeEvent::IkeKeys`];
/// after IKE_AUTH [`IkeEvent::Established`] then [`IkeEvent::ChildSaUp`] (or
/// [`IkeEvent::ChildSaFailed`]). An SA ends with exactly one [`IkeEvent::Deleted`] or
/// [`IkeEvent::Failed`], preceded by a [`IkeEvent::ChildSaDown`] for each Child SA still
/// up; nothing follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IkeEvent {
    /// SK keys of a new IKE SA (after IKE_SA_INIT, and after every IKE rekey), for the
    /// Wireshark key log ([`crate::esp::KeyLog::log_ike_sa`]).
    IkeKeys(IkeSaKeys),
    /// IKE_AUTH completed: the peer is authenticated.
    Established {
        /// Whether we are the original initiator.
        initiator: bool,
        /// NAT detection result; on NAT, ESP goes in UDP on port 4500 with keepalives.
        nat: NatStatus,
        /// Time from the first IKE_SA_INIT (initiator) or its arrival (responder).
        elapsed: SimDuration,
    },
    /// A Child SA to install.
    ChildSaUp(ChildSaKeys),
    /// IKE_AUTH's Child SA was refused with this notify; the IKE SA is up nonetheless.
    ChildSaFailed(NotifyType),
    /// A Child SA was rekeyed (RFC 7296 §2.8): install `new` and send on it; keep
    /// accepting on `old` until its [`IkeEvent::ChildSaDown`].
    ChildSaRekeyed {
        /// The SA replaced.
        old: ChildSaId,
        /// Its successor.
        new: ChildSaKeys,
    },
    /// A Child SA is gone: remove it.
    ChildSaDown(ChildSaId),
    /// The IKE SA was rekeyed (RFC 7296 §2.18); these are the new SPIs. Its keys came
    /// just before as [`IkeEvent::IkeKeys`].
    IkeSaRekeyed {
        /// The new initiator SPI (the rekey initiator's).
        spi_i: u64,
        /// The new responder SPI.
        spi_r: u64,
    },
    /// The SA failed. Terminal.
    Failed(FailReason),
    /// The SA was deleted by either side, or expired. Terminal.
    Deleted,
    /// HA cluster member: the RFC 6311 sync of an SA restored after a failover
    /// completed (or, without sync support, the peer was first heard from), `after` the
    /// restore.
    HaRestored {
        /// Time from the restore to this point.
        after: SimDuration,
    },
    /// Peer of a cluster: we answered an IKEV2_MESSAGE_ID_SYNC request (RFC 6311 §5.1).
    HaSyncAnswered,
    /// Peer of a cluster: add `delta` to the outbound ESP sequence numbers of every Child
    /// SA of this IKE SA (IPSEC_REPLAY_COUNTER_SYNC, RFC 6311 §5.2).
    ReplayCounterSync {
        /// The delta.
        delta: u64,
    },
    /// MOBIKE (RFC 4555; RFC 9329 §7.1): an address update, a return-routability check,
    /// or the IPsec SAs moving to a new path.
    Mobike(MobikeEvent),
}

impl Stats {
    /// Adds the counters of `other` (times are kept from `self`), to total several SAs.
    pub fn add(&mut self, other: &Self) {
        self.requests_sent += other.requests_sent;
        self.retransmits += other.retransmits;
        self.exchanges_completed += other.exchanges_completed;
        self.exchanges_failed += other.exchanges_failed;
        self.responses_sent += other.responses_sent;
        self.responses_resent += other.responses_resent;
        self.messages_received += other.messages_received;
        self.dropped_malformed += other.dropped_malformed;
        self.dropped_integrity += other.dropped_integrity;
        self.dropped_unexpected += other.dropped_unexpected;
        self.fragments_sent += other.fragments_sent;
        self.fragments_received += other.fragments_received;
        self.reassembly_discarded += other.reassembly_discarded;
        self.cookies_received += other.cookies_received;
        self.invalid_ke_received += other.invalid_ke_received;
        self.puzzles_solved += other.puzzles_solved;
        self.puzzle_attempts += other.puzzle_attempts;
        self.puzzle_time = self.puzzle_time.saturating_add(other.puzzle_time);
        self.liveness_checks += other.liveness_checks;
        self.liveness_bytes += other.liveness_bytes;
        self.ha_syncs_sent += other.ha_syncs_sent;
        self.ha_syncs_answered += other.ha_syncs_answered;
        self.ha_syncs_dropped += other.ha_syncs_dropped;
    }
}

/// Counters of one IKE SA, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Requests sent for the first time (one per exchange we initiated).
    pub requests_sent: u64,
    /// Request retransmissions (timer or [`IkeSa::resend_outstanding`]).
    pub retransmits: u64,
    /// Exchanges we initiated that got their response.
    pub exchanges_completed: u64,
    /// Exchanges we initiated that ran out of retransmissions.
    pub exchanges_failed: u64,
    /// Responses sent for new requests.
    pub responses_sent: u64,
    /// Cached responses re-sent for retransmitted requests (RFC 7296 §2.1).
    pub responses_resent: u64,
    /// IKE messages accepted (authenticated, or IKE_SA_INIT).
    pub messages_received: u64,
    /// Messages that did not parse, or were malformed before authentication.
    pub dropped_malformed: u64,
    /// Protected messages whose ICV failed (RFC 7296 §2.21.2: silently dropped).
    pub dropped_integrity: u64,
    /// Messages with an unexpected Message ID, SPI or role (RFC 7296 §2.3).
    pub dropped_unexpected: u64,
    /// SKF fragments sent (first transmissions and retransmissions).
    pub fragments_sent: u64,
    /// Authenticated SKF fragments received.
    pub fragments_received: u64,
    /// Fragment sets discarded (limits or timeout, RFC 7383 §2.6).
    pub reassembly_discarded: u64,
    /// COOKIE requests received (initiator).
    pub cookies_received: u64,
    /// INVALID_KE_PAYLOAD notifies received (initiator).
    pub invalid_ke_received: u64,
    /// IKE_SA_INIT client puzzles solved (initiator, RFC 8019 §7.1.2).
    pub puzzles_solved: u64,
    /// PRF calls spent solving them.
    pub puzzle_attempts: u64,
    /// Virtual time charged for them (`attempts / IkeConfig::puzzle_hash_rate_per_sec`),
    /// by which the retried IKE_SA_INIT requests were delayed.
    pub puzzle_time: SimDuration,
    /// Liveness checks (empty INFORMATIONAL requests, RFC 7296 §2.4) started.
    pub liveness_checks: u64,
    /// Octets of those requests as first sent (IKE message only, no transport headers).
    pub liveness_bytes: u64,
    /// RFC 6311 sync requests sent (HA cluster member).
    pub ha_syncs_sent: u64,
    /// RFC 6311 sync requests answered (peer of a cluster).
    pub ha_syncs_answered: u64,
    /// RFC 6311 sync requests dropped as stale (M1 not above what was seen, §5.1).
    pub ha_syncs_dropped: u64,
    /// When IKE_AUTH completed.
    pub established_at: Option<SimTime>,
    /// How long establishment took (see [`IkeEvent::Established`]).
    pub time_to_establish: Option<SimDuration>,
}
