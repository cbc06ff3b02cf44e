//! Typed configuration of IKE SAs and of the endpoint (DESIGN.md "Policies").
//!
//! Every knob has the compliant behaviour as its default, with the RFC section that asks
//! for it; the alternatives exist so that experiments can measure what they cost. Times
//! are [`SimDuration`]s and ratios are integers (per mille), so no float ever decides
//! when something happens (DESIGN.md "Determinism").

use std::net::Ipv4Addr;

use sim::{SimDuration, SimRng};

use crate::CryptoMode;
use crate::ike::crypto::{CookiePolicy, DhGroup};
use crate::ike::wire::{IdPayload, TrafficSelector};

/// One thousand: the denominator of every per-mille ratio here.
const PER_MILLE: u64 = 1000;

/// Whether requests are retransmitted on a timer (RFC 7296 §2.1) or not (RFC 9329 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Retransmission {
    /// Retransmit on the exponential schedule of [`RetransmitPolicy`]: what UDP needs
    /// (RFC 7296 §2.1, §2.4).
    #[default]
    Timers,
    /// Send each request once and declare the exchange failed when the whole schedule
    /// has elapsed ([`RetransmitPolicy::give_up_after`]): RFC 9329 §6.2 for TCP, where
    /// the transport retransmits. After a new TCP connection the caller resends the
    /// outstanding requests with `resend_outstanding` (RFC 9329 §6.2, MUST).
    Off,
}

/// The request retransmission schedule (RFC 7296 §2.1, §2.4; protocol.md 4.1, 4.5).
///
/// The `n`-th wait (from 0) is `initial × (multiplier/1000)^n`, capped at `max_timeout`,
/// minus a random part of up to `jitter` per mille of it (strongSwan's
/// `retransmit_jitter` subtracts, too). After `max_tries` retransmissions, the last wait
/// ends the exchange, and a failed exchange declares the peer dead (RFC 7296 §2.4).
/// RFC 7296 only requires that the intervals grow exponentially.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetransmitPolicy {
    /// Timers or none (TCP).
    pub mode: Retransmission,
    /// First wait. Default 4 s (strongSwan `retransmit_timeout`).
    pub initial: SimDuration,
    /// Growth per try, per mille. Default 1800, i.e. ×1.8 (strongSwan `retransmit_base`).
    pub multiplier_per_mille: u32,
    /// Retransmissions before giving up. Default 5 (strongSwan `retransmit_tries`): sends at
    /// 0, 4, 11.2, 24.2, 47.5 and 89.5 s, failure at 165 s.
    pub max_tries: u32,
    /// Cap on one wait. Default [`SimDuration::MAX`] (strongSwan `retransmit_limit` 0).
    pub max_timeout: SimDuration,
    /// Largest share of a wait subtracted at random, per mille. Default 0.
    pub jitter_per_mille: u32,
}

impl Default for RetransmitPolicy {
    fn default() -> Self {
        Self {
            mode: Retransmission::Timers,
            initial: SimDuration::from_secs(4),
            multiplier_per_mille: 1800,
            max_tries: 5,
            max_timeout: SimDuration::MAX,
            jitter_per_mille: 0,
        }
    }
}

impl RetransmitPolicy {
    /// The `n`-th wait (from 0) before jitter, computed exactly in integer nanoseconds.
    pub fn timeout(&self, n: u32) -> SimDuration {
        let mut nanos = u128::from(self.initial.as_nanos());
        for _ in 0..n {
            nanos = nanos * u128::from(self.multiplier_per_mille) / u128::from(PER_MILLE);
            if nanos >= u128::from(self.max_timeout.as_nanos()) {
                break;
            }
        }
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
        SimDuration::from_nanos(nanos).min(self.max_timeout)
    }

    /// The `n`-th wait with this policy's jitter drawn from `rng`.
    pub(crate) fn jittered_timeout(&self, n: u32, rng: &mut SimRng) -> SimDuration {
        subtract_jitter(self.timeout(n), self.jitter_per_mille, rng)
    }

    /// How long an exchange lasts before it fails without jitter: the sum of all waits
    /// (165.06 s with the defaults). With [`Retransmission::Off`] this is the "reasonable
    /// period" of RFC 9329 §6.2.
    pub fn give_up_after(&self) -> SimDuration {
        (0..=self.max_tries).fold(SimDuration::ZERO, |sum, n| {
            sum.saturating_add(self.timeout(n))
        })
    }
}

/// Subtracts a uniformly random share of up to `per_mille`/1000 from `d`.
fn subtract_jitter(d: SimDuration, per_mille: u32, rng: &mut SimRng) -> SimDuration {
    let max = u128::from(d.as_nanos()) * u128::from(per_mille.min(1000)) / u128::from(PER_MILLE);
    let max = u64::try_from(max).unwrap_or(u64::MAX);
    if max == 0 {
        return d;
    }
    d.saturating_sub(SimDuration::from_nanos(rng.range_inclusive(0, max)))
}

/// When to send a liveness check, an empty INFORMATIONAL request (RFC 7296 §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LivenessMode {
    /// RFC 7296 §2.4: only when there was outgoing traffic (IKE or ESP, reported with
    /// `note_esp_out`) and nothing protected arrived for `interval`.
    #[default]
    OnDemand,
    /// After every `interval` without anything protected received, whether or not we
    /// sent anything (RFC 9329 §7.4's advice towards HA clusters, DESIGN.md).
    Periodic,
}

/// Dead peer detection (RFC 7296 §2.4). A check is an ordinary exchange: it fails, and
/// declares the peer dead, after the [`RetransmitPolicy`] schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LivenessPolicy {
    /// Silence before a check; `None` disables checks. Default 30 s (the classic
    /// `dpddelay`; strongSwan's `dpd_delay` is off by default, Android uses 120 s).
    pub interval: Option<SimDuration>,
    /// On-demand or periodic. Default on-demand.
    pub mode: LivenessMode,
}

impl Default for LivenessPolicy {
    fn default() -> Self {
        Self {
            interval: Some(SimDuration::from_secs(30)),
            mode: LivenessMode::OnDemand,
        }
    }
}

/// SA lifetimes. They are local policy, not negotiated (RFC 7296 §2.8): at the soft
/// lifetime (minus a random jitter) the SA is rekeyed, at the hard lifetime it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lifetimes {
    /// Child SA rekey time. Default 1 h (strongSwan children `rekey_time`).
    pub child_soft: SimDuration,
    /// Child SA deletion time. Default 66 min (strongSwan: rekey time + 10 %).
    pub child_hard: SimDuration,
    /// IKE SA rekey time (RFC 7296 §2.18). Default 4 h (strongSwan `rekey_time`).
    pub ike_soft: SimDuration,
    /// IKE SA deletion time. Default 4 h 24 min.
    pub ike_hard: SimDuration,
    /// Up to this much is subtracted at random from each soft lifetime, so that the two
    /// peers rarely rekey at the same time (RFC 7296 §2.8.1). Default 6 min.
    pub jitter: SimDuration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            child_soft: SimDuration::from_secs(3600),
            child_hard: SimDuration::from_secs(3960),
            ike_soft: SimDuration::from_secs(4 * 3600),
            ike_hard: SimDuration::from_secs(4 * 3600 + 24 * 60),
            jitter: SimDuration::from_secs(360),
        }
    }
}

impl Lifetimes {
    /// A soft deadline `soft` after `start`, minus jitter drawn from `rng`.
    pub(crate) fn soft_deadline(
        &self,
        start: sim::SimTime,
        soft: SimDuration,
        rng: &mut SimRng,
    ) -> sim::SimTime {
        let jitter = rng.uniform_duration(SimDuration::ZERO, self.jitter.min(soft));
        start.saturating_add(soft.saturating_sub(jitter))
    }
}

/// IKE fragmentation (RFC 7383; protocol.md 5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentationPolicy {
    /// Announce IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT (RFC 7383 §2.3). Default
    /// true; RFC 9329 §7.5 still advises it over TCP when MOBIKE may move the SA to UDP.
    pub negotiate: bool,
    /// Send fragments when negotiated and a message is too big. Default true; RFC 9329
    /// §7.5: SHOULD NOT over TCP (received fragments are always accepted).
    pub send: bool,
    /// Largest IP datagram an IKE message or fragment may need: the message gets 28
    /// octets less (IPv4 and UDP headers) and 4 less again on port 4500 (non-ESP
    /// marker). Default 1280 (strongSwan `fragment_size`; RFC 7383 §2.5.1).
    pub fragment_size: usize,
    /// Most fragments accepted for one message; a larger Total discards the set.
    /// Default 64.
    pub max_fragments: u16,
    /// Most decrypted octets held for one message; more discards the set. Default 64 KiB.
    pub max_reassembly_bytes: usize,
    /// An incomplete set is discarded this long after its first fragment (RFC 7383
    /// §2.6.2 suggests the initiator's give-up time). Default 30 s.
    pub reassembly_timeout: SimDuration,
}

impl Default for FragmentationPolicy {
    fn default() -> Self {
        Self {
            negotiate: true,
            send: true,
            fragment_size: 1280,
            max_fragments: 64,
            max_reassembly_bytes: 64 * 1024,
            reassembly_timeout: SimDuration::from_secs(30),
        }
    }
}

/// How an initiator's SA over TCP departs from its configuration (RFC 9329 §6.2, §6.4,
/// §7.5; no NAT-T port float). Per SA, so that every SA of one configuration shares it
/// (`Rc<IkeConfig>`): a copy of the configuration per TCP SA was ~400 bytes per client
/// (BENCHMARKS.md, "Memory per idle client").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOverrides {
    /// Timer retransmission (off when compliant with RFC 9329 §6.2).
    pub retransmission: Retransmission,
    /// Whether fragments may be sent (RFC 9329 §7.5).
    pub fragment_send: bool,
    /// What to do with an IKE_SA_INIT error notify (RFC 9329 §6.4).
    pub init_error: InitErrorAction,
}

/// What the initiator does with an error notify in an IKE_SA_INIT response, which is
/// unauthenticated (RFC 7296 §2.21.1; RFC 9329 §6.4; DESIGN.md "Policies").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InitErrorAction {
    /// Give up at once: RFC 9329 §6.4's advice over TCP, and what most stacks do.
    #[default]
    Immediate,
    /// Keep retransmitting in case a genuine response follows (RFC 7296 §2.21.1); the
    /// error only becomes the failure reason when the schedule runs out.
    Wait,
}

/// The inner (virtual) address the initiator uses inside the tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InnerAddress {
    /// None: the traffic selectors of the configuration apply as they are.
    #[default]
    None,
    /// Ask with CP(CFG_REQUEST) INTERNAL_IP4_ADDRESS (RFC 7296 §2.19) and propose TSi of
    /// any address; the responder assigns one from its pool and narrows TSi to it.
    Request,
    /// A configured address: TSi is this one address, no CP.
    Fixed(Ipv4Addr),
}

/// The configuration of one IKE SA, for either role.
///
/// The cryptographic suite is fixed to protocol.md 2.1 (AES-GCM-16/256, PRF-HMAC-SHA2-256)
/// for IKE and ESP; the DH groups are configurable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeConfig {
    /// The pre-shared key for AUTH (RFC 7296 §2.15).
    pub psk: Vec<u8>,
    /// Our identity, sent in IDi or IDr (RFC 7296 §3.5).
    pub local_id: IdPayload,
    /// The identity the peer must present; `None` accepts any (with the right PSK).
    pub remote_id: Option<IdPayload>,
    /// DH groups in preference order: the initiator offers all and sends KE for the
    /// first, the responder accepts any of them (RFC 7296 §1.2). Default X25519, ECP-256.
    pub dh_groups: Vec<DhGroup>,
    /// Use a fresh DH exchange (the IKE SA's group) when rekeying Child SAs (PFS,
    /// RFC 7296 §1.3.1). Default false.
    pub child_pfs: bool,
    /// Traffic selectors on our side (TSi for the initiator, RFC 7296 §2.9). Default any.
    pub local_ts: Vec<TrafficSelector>,
    /// Traffic selectors on the peer's side. Default any.
    pub remote_ts: Vec<TrafficSelector>,
    /// Initiator only: the inner address. Default none.
    pub inner_address: InnerAddress,
    /// Request retransmission.
    pub retransmit: RetransmitPolicy,
    /// Liveness checks.
    pub liveness: LivenessPolicy,
    /// Rekey and expiry.
    pub lifetimes: Lifetimes,
    /// IKE fragmentation.
    pub fragmentation: FragmentationPolicy,
    /// Initiator only: reaction to IKE_SA_INIT error notifies.
    pub init_error: InitErrorAction,
    /// Initiator only: how many corrective IKE_SA_INIT retries (COOKIE, INVALID_KE) are
    /// made before giving up (RFC 7296 §2.6 asks to limit cookie rounds). Default 5.
    pub max_init_retries: u32,
    /// Responder only: a half-open SA (IKE_SA_INIT answered, no IKE_AUTH) is dropped
    /// after this long (RFC 7296 §2.6; strongSwan `half_open_timeout`). Default 30 s.
    pub half_open_timeout: SimDuration,
    /// Initiator only: move to port 4500 on both ends when a NAT is detected (RFC 7296
    /// §2.23, for UDP). Default true; over TCP the connection stays as it is (RFC 9329
    /// §6.5: a detected NAT changes nothing about the encapsulation).
    pub nat_t_port_float: bool,
    /// Initiator only: PRF calls per second when solving an IKE_SA_INIT client puzzle
    /// (RFC 8019 §7.1.2). The search runs for real, but its cost is charged in virtual
    /// time: the retried request leaves `attempts / rate` seconds later. Default
    /// 1,000,000 (RFC 8019 Table 2: about 0.9 s for 16 bits on a 2013 laptop core).
    pub puzzle_hash_rate_per_sec: u64,
    /// RFC 6311 capabilities announced in IKE_AUTH (only those both peers announce are
    /// used). Default both: a client that may talk to an HA cluster wants them.
    pub ha_sync: HaSyncSupport,
    /// Announce MOBIKE_SUPPORTED in IKE_AUTH (RFC 4555 §4.2.1). Default true, both roles.
    pub mobike: bool,
    /// MOBIKE return-routability checks over UDP (RFC 4555 §3.7: SHOULD by default): the
    /// responder checks a peer's new address with COOKIE2 before moving the IPsec SAs,
    /// and the initiator puts a COOKIE2 into its UPDATE_SA_ADDRESSES. Never over TCP
    /// (RFC 9329 §7.1). Default true.
    pub mobike_return_routability: bool,
    /// Real DH and AES-GCM (default) or cost-free stand-ins of the same sizes for the IKE
    /// SA and its Child SAs ([`CryptoMode`]). Both peers must use the same mode.
    pub crypto: CryptoMode,
}

/// The RFC 6311 notifications an SA announces in IKE_AUTH (§6.1, §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HaSyncSupport {
    /// IKEV2_MESSAGE_ID_SYNC_SUPPORTED: Message ID sync after a failover.
    pub message_id: bool,
    /// IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED: ESP replay counter sync after a failover.
    pub replay_counter: bool,
}

impl Default for HaSyncSupport {
    fn default() -> Self {
        Self {
            message_id: true,
            replay_counter: true,
        }
    }
}

impl HaSyncSupport {
    /// Neither capability.
    pub const NONE: Self = Self {
        message_id: false,
        replay_counter: false,
    };

    /// What both sides announced.
    pub const fn and(self, other: Self) -> Self {
        Self {
            message_id: self.message_id && other.message_id,
            replay_counter: self.replay_counter && other.replay_counter,
        }
    }
}

impl IkeConfig {
    /// A configuration with `psk` and `local_id` and every other field at its default.
    pub fn new(psk: &[u8], local_id: IdPayload) -> Self {
        Self {
            psk: psk.to_vec(),
            local_id,
            remote_id: None,
            dh_groups: vec![DhGroup::Curve25519, DhGroup::Ecp256],
            child_pfs: false,
            local_ts: vec![TrafficSelector::ipv4_any()],
            remote_ts: vec![TrafficSelector::ipv4_any()],
            inner_address: InnerAddress::None,
            retransmit: RetransmitPolicy::default(),
            liveness: LivenessPolicy::default(),
            lifetimes: Lifetimes::default(),
            fragmentation: FragmentationPolicy::default(),
            init_error: InitErrorAction::Immediate,
            max_init_retries: 5,
            half_open_timeout: SimDuration::from_secs(30),
            nat_t_port_float: true,
            puzzle_hash_rate_per_sec: 1_000_000,
            ha_sync: HaSyncSupport::default(),
            mobike: true,
            mobike_return_routability: true,
            crypto: CryptoMode::Real,
        }
    }
}

/// Protection against half-open floods (RFC 7296 §2.6; RFC 8019 §4; protocol.md 4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HalfOpenPolicy {
    /// Demand a COOKIE when this many half-open SAs exist. Default 30 (strongSwan
    /// `cookie_threshold`); 0 demands cookies always.
    pub cookie_threshold: usize,
    /// What the cookie hash binds; the default leaves the port out (RFC 9329 §6.3).
    pub cookie: CookiePolicy,
    /// The cookie secret changes this often; cookies of the previous secret stay valid
    /// (RFC 7296 §2.6). Default 60 s.
    pub secret_lifetime: SimDuration,
    /// Demand an IKE_SA_INIT client puzzle with every COOKIE (RFC 8019 §7.1; RFC 9329
    /// §6.3 advises it over TCP). Default `None`: COOKIE alone, as RFC 7296 §2.6.
    pub puzzle: Option<PuzzlePolicy>,
}

impl Default for HalfOpenPolicy {
    fn default() -> Self {
        Self {
            cookie_threshold: 30,
            cookie: CookiePolicy::default(),
            secret_lifetime: SimDuration::from_secs(60),
            puzzle: None,
        }
    }
}

/// The IKE_SA_INIT client puzzle a responder demands (RFC 8019 §7.1; protocol.md 5.3).
///
/// The COOKIE answer also carries `N(PUZZLE)` naming PRF_HMAC_SHA2_256 and `difficulty`;
/// the retried request must carry a PS payload of four distinct equal-length keys `K`
/// such that `prf(K, cookie)` ends in at least `difficulty` zero bits (RFC 8019 §7.1.2,
/// §7.1.4), else it is answered with COOKIE and PUZZLE again.
///
/// Simplifications: the difficulty is the policy's, not encoded in the cookie (so the
/// cookie bytes are those of RFC 7296 §2.6); no lottery for initiators that return the
/// cookie without a solution (they are refused); the IKE_AUTH puzzle (RFC 8019 §7.2)
/// is not implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PuzzlePolicy {
    /// The Zero-Bit Count: trailing zero bits each key's PRF output must have
    /// (RFC 8019 §4.4, §7.1.1). 0 means "as many as you can" and accepts any solution.
    pub difficulty: u8,
    /// The responder's estimate of an initiator's PRF calls per second, to know how long
    /// a solution should take (RFC 9329 §6.3.1 lets it stretch the wait by that much).
    pub hash_rate_per_sec: u64,
}

impl PuzzlePolicy {
    /// The expected time to solve: four keys of `2^difficulty` PRF calls each, at
    /// `hash_rate_per_sec` (at least one call per second).
    pub fn expected_solve_time(&self) -> SimDuration {
        let calls = 4u128 << u32::from(self.difficulty.min(100));
        let nanos = calls * 1_000_000_000 / u128::from(self.hash_rate_per_sec.max(1));
        SimDuration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// A range of inner addresses a responder assigns (RFC 7296 §2.19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressPool {
    /// The first address handed out.
    pub first: Ipv4Addr,
    /// How many consecutive addresses there are.
    pub size: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strongswan_schedule() {
        let policy = RetransmitPolicy::default();
        let secs: Vec<u64> = (0..=5)
            .map(|n| policy.timeout(n).as_millis_total())
            .collect();
        assert_eq!(secs, [4000, 7200, 12960, 23328, 41990, 75582]);
        assert_eq!(policy.give_up_after().as_secs_total(), 165);
        let capped = RetransmitPolicy {
            max_timeout: SimDuration::from_secs(10),
            ..policy
        };
        assert_eq!(capped.timeout(4), SimDuration::from_secs(10));
    }

    #[test]
    fn jitter_only_subtracts() {
        let policy = RetransmitPolicy {
            jitter_per_mille: 200,
            ..RetransmitPolicy::default()
        };
        let mut rng = SimRng::from_seed_u64(5);
        for n in 0..5 {
            let t = policy.jittered_timeout(n, &mut rng);
            assert!(t <= policy.timeout(n));
            assert!(t.as_nanos() >= policy.timeout(n).as_nanos() / 10 * 8);
        }
    }
}
