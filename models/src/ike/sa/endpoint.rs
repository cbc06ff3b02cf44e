//! [`IkeEndpoint`]: the IKE SAs of one host, demultiplexed by SPI (RFC 7296 §2.6).
//!
//! A message names its SA by the recipient's SPI: SPIr when the I flag is set, else SPIi,
//! never by address (so NAT rebinding and two hosts behind one NAT work). An IKE_SA_INIT
//! request (SPIr zero) is a retransmission if (SPIi, Ni) matches a half-open SA (RFC 7296
//! §2.1 asks for more than SPIi and address), else a new SA, which under half-open load
//! must first return a valid COOKIE (RFC 7296 §2.6). Cookies are stateless:
//! `version | SHA-256(Ni | IPi | [port] | SPIi | secret)`, with a rotating secret whose
//! previous version stays valid ([`crate::ike::crypto::CookieSecret`]). With
//! [`super::PuzzlePolicy`] every COOKIE answer also carries a client puzzle, and a retry
//! needs a valid solution besides the cookie (RFC 8019 §7.1).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use sim::{RootSeed, SimRng, SimTime, StreamKey};

use super::ike_sa::Path;
use super::init::{InitRefused, stateless_answer};
use super::puzzle;
use super::{
    AddressPool, HalfOpenPolicy, IkeConfig, IkeEvent, IkeSa, MessageIds, SaReplica, TcpOverrides,
    Transmit,
};
use crate::ike::crypto::{CookieInput, CookieSecret};
use crate::ike::wire::{ExchangeType, Message, NotifyPayload, NotifyType, Payload};
use crate::small_map::{SmallIndex, SmallMap, SmallSet};

/// Names an SA within its endpoint; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SaId(pub u64);

/// What an endpoint accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The configuration of SAs created for IKE_SA_INIT requests; `None` drops them
    /// (a pure initiator).
    pub responder: Option<IkeConfig>,
    /// Cookie policy.
    pub half_open: HalfOpenPolicy,
    /// Inner addresses for initiators that ask (RFC 7296 §2.19); `None` refuses them
    /// with INTERNAL_ADDRESS_FAILURE.
    pub pool: Option<AddressPool>,
}

impl EndpointConfig {
    /// An endpoint that only initiates.
    pub fn initiator() -> Self {
        Self {
            responder: None,
            half_open: HalfOpenPolicy::default(),
            pool: None,
        }
    }

    /// An endpoint that answers with `config`.
    pub fn responder(config: IkeConfig) -> Self {
        Self {
            responder: Some(config),
            ..Self::initiator()
        }
    }
}

/// Endpoint-level counters (the SAs keep their own [`super::Stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointStats {
    /// Datagrams that were not IKE messages.
    pub malformed: u64,
    /// Messages for no SA we have (RFC 7296 §2.21.4 allows silence).
    pub unknown_spi: u64,
    /// COOKIE answers sent (RFC 7296 §2.6).
    pub cookies_sent: u64,
    /// Requests whose cookie did not verify (answered with a new cookie).
    pub cookies_invalid: u64,
    /// COOKIE answers that also carried a PUZZLE (RFC 8019 §7.1.1).
    pub puzzles_sent: u64,
    /// Requests with a valid cookie whose puzzle solution was missing or wrong, answered
    /// with COOKIE and PUZZLE again (RFC 8019 §7.1.4).
    pub puzzles_failed: u64,
    /// Requests whose puzzle solution verified.
    pub puzzles_solved: u64,
    /// IKE_SA_INIT requests refused statelessly (NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD,
    /// UNSUPPORTED_CRITICAL_PAYLOAD).
    pub refused: u64,
    /// Responder SAs created.
    pub sas_created: u64,
    /// Most half-open SAs at once.
    pub half_open_peak: u64,
}

/// Many IKE SAs behind one pair of IKE ports.
///
/// # Driving contract
///
/// As for [`IkeSa`]: after [`IkeEndpoint::handle_datagram`], [`IkeEndpoint::handle_timeout`],
/// [`IkeEndpoint::connect`] or [`IkeEndpoint::with_sa`], drain
/// [`IkeEndpoint::poll_transmit`], then [`IkeEndpoint::poll_event`], then read
/// [`IkeEndpoint::poll_timeout`]. Events carry their SA's [`SaId`]; a closed SA is removed
/// once its terminal event is queued.
#[derive(Debug)]
pub struct IkeEndpoint {
    config: EndpointConfig,
    /// `config.responder`, shared by every responder SA.
    responder: Option<Rc<IkeConfig>>,
    /// Root of the responder SAs' streams: each is keyed by (SPIi, Ni), not by arrival
    /// order (style pitfall 12).
    seed_base: u64,
    rng: SimRng,
    /// Boxed: an `IkeSa` is large, and a growing table moves its values (inserting one SA
    /// per client was a visible share of the establishment benchmark).
    sas: SmallIndex<SaId, Box<Slot>>,
    by_spi: SmallIndex<u64, SaId>,
    half_open: SmallMap<(u64, Vec<u8>), SaId>,
    /// The leased addresses, and where the search for a free one resumes: leasing is
    /// amortised O(log n), not a scan of the pool per SA.
    leased: SmallSet<Ipv4Addr>,
    next_lease: u32,
    used_prefixes: SmallSet<u16>,
    next_prefix: u16,
    /// Every SA's next deadline, ordered, so the endpoint's timeout is the first entry and
    /// a timeout touches only the SAs that are due (no scan of every SA).
    deadlines: SmallSet<(SimTime, SaId)>,
    secret: CookieSecret,
    previous_secret: Option<CookieSecret>,
    rotate_at: SimTime,
    transmits: VecDeque<Transmit>,
    events: VecDeque<(SaId, IkeEvent)>,
    stats: EndpointStats,
    /// The counters of every SA that has ended and been removed.
    ended: super::Stats,
    next_id: u64,
    /// The SAs synced or noted ([`IkeEndpoint::note_changed`]) since the last
    /// [`IkeEndpoint::take_changed`], with repeats, when someone asked to track them (an
    /// HA member replicates only what changed).
    changed: Option<Vec<SaId>>,
}

/// One SA and what the endpoint's indexes hold for it. Kept together so that a message or
/// a timeout finds all of it with one lookup: a gateway holds 100,000 SAs, and one map per
/// index meant one B-tree search per index per message (issue 9).
#[derive(Debug)]
struct Slot {
    sa: IkeSa,
    /// The SPIs this SA holds in `by_spi`, as of its last sync.
    spis: Vec<u64>,
    /// This SA's entry in `deadlines`.
    deadline: Option<SimTime>,
    /// This SA's entry in `half_open`, while it is half-open.
    half_open_key: Option<Box<(u64, Vec<u8>)>>,
    /// The pool address leased to it.
    lease: Option<Ipv4Addr>,
    /// Its ESP SPI prefix, in `used_prefixes`.
    prefix: u16,
}

impl Slot {
    fn new(sa: IkeSa, prefix: u16) -> Box<Self> {
        Box::new(Self {
            sa,
            spis: Vec::new(),
            deadline: None,
            half_open_key: None,
            lease: None,
            prefix,
        })
    }
}

impl IkeEndpoint {
    /// An endpoint whose randomness (cookie secrets, responder SA streams) comes from
    /// `rng`, keyed by the caller for this host (style rule 4).
    pub fn new(now: SimTime, config: EndpointConfig, mut rng: SimRng) -> Self {
        let seed_base = rng.next_u64();
        let secret = CookieSecret::generate(0, &mut rng);
        let rotate_at = now.saturating_add(config.half_open.secret_lifetime);
        Self {
            responder: config.responder.clone().map(Rc::new),
            config,
            seed_base,
            rng,
            sas: SmallIndex::new(),
            by_spi: SmallIndex::new(),
            half_open: SmallMap::new(),
            leased: SmallSet::new(),
            next_lease: 0,
            used_prefixes: SmallSet::new(),
            next_prefix: 1,
            deadlines: SmallSet::new(),
            secret,
            previous_secret: None,
            rotate_at,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: EndpointStats::default(),
            ended: super::Stats::default(),
            next_id: 0,
            changed: None,
        }
    }

    /// Starts an SA as initiator; `rng` is its own keyed stream. `tcp` says how an SA over
    /// TCP departs from `config` (which the SAs of one daemon share).
    pub fn connect(
        &mut self,
        now: SimTime,
        config: impl Into<Rc<IkeConfig>>,
        tcp: Option<TcpOverrides>,
        rng: SimRng,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> SaId {
        let sa = IkeSa::initiate(now, config.into(), tcp, rng, local, remote);
        self.insert(now, sa, None, None)
    }

    /// Processes a datagram that arrived at `local` from `remote`.
    pub fn handle_datagram(
        &mut self,
        now: SimTime,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        bytes: &[u8],
    ) {
        let Ok(msg) = Message::parse(bytes) else {
            self.stats.malformed += 1;
            return;
        };
        let path = Path { local, remote };
        let init_request =
            msg.exchange_type == ExchangeType::IKE_SA_INIT && !msg.flags.response && msg.spi_r == 0;
        if init_request {
            self.on_init_request(now, path, &msg, bytes);
            return;
        }
        let our_spi = if msg.flags.initiator {
            msg.spi_r
        } else {
            msg.spi_i
        };
        let Some(&id) = self.by_spi.get(&our_spi) else {
            self.stats.unknown_spi += 1;
            return;
        };
        if let Some(slot) = self.sas.get_mut(&id) {
            slot.sa.handle_message(now, path, &msg, bytes);
        }
        self.sync(now, id);
    }

    /// Handles every SA timer due at `now`.
    pub fn handle_timeout(&mut self, now: SimTime) {
        let due: Vec<SaId> = self
            .deadlines
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|&(_, id)| id)
            .collect();
        for id in due {
            if let Some(slot) = self.sas.get_mut(&id) {
                slot.sa.handle_timeout(now);
            }
            self.sync(now, id);
        }
    }

    /// Runs a command on an SA (rekey, delete, ESP notes, ...) and collects its output.
    pub fn with_sa<R>(
        &mut self,
        now: SimTime,
        id: SaId,
        f: impl FnOnce(&mut IkeSa) -> R,
    ) -> Option<R> {
        let result = f(&mut self.sas.get_mut(&id)?.sa);
        self.sync(now, id);
        Some(result)
    }

    /// Restores an SA from a replica: an HA cluster member taking over after a failover
    /// (RFC 6311). The SA keeps its ESP SPI prefix and its pool address; its stream is
    /// keyed by its SPI. See [`IkeSa::from_replica`].
    pub fn restore(
        &mut self,
        now: SimTime,
        replica: &SaReplica,
        ids: MessageIds,
        replay_delta: u32,
    ) -> SaId {
        let key = StreamKey::new(&["ike-restored-sa"]).part_u64(replica.local_spi());
        let rng = RootSeed(self.seed_base).stream(&key);
        let sa = IkeSa::from_replica(now, replica, ids, rng, replay_delta);
        let id = SaId(self.next_id);
        self.next_id += 1;
        let prefix = replica.esp_prefix();
        self.used_prefixes.insert(prefix);
        let mut slot = Slot::new(sa, prefix);
        if let (Some(addr), Some(_)) = (replica.inner_address(), self.config.pool) {
            self.leased.insert(addr);
            slot.lease = Some(addr);
        }
        self.sas.insert(id, slot);
        self.sync(now, id);
        id
    }

    /// From now on, remembers which SAs change: [`IkeEndpoint::take_changed`] tells.
    pub fn track_changes(&mut self) {
        self.changed.get_or_insert_with(Vec::new);
    }

    /// Records that state replicated with SA `id` but kept outside it moved: its outbound
    /// ESP sequence number in the SAD, advanced by a packet that was encapsulated and then
    /// not sent (e.g. no connection, a connection not established, back-pressure, a failed
    /// UDP or IP send). An HA member copies the SA at its next pass.
    pub fn note_changed(&mut self, id: SaId) {
        if let Some(changed) = self.changed.as_mut() {
            changed.push(id);
        }
    }

    /// The SAs that changed (or ended) since the last call, each once, in id order;
    /// empty unless [`IkeEndpoint::track_changes`] was called.
    pub fn take_changed(&mut self) -> Vec<SaId> {
        let Some(changed) = self.changed.as_mut() else {
            return Vec::new();
        };
        let mut ids = std::mem::take(changed);
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The counters of every SA still held plus those of every SA that ended.
    pub fn sa_totals(&self) -> super::Stats {
        let mut total = self.ended;
        for (_, sa) in self.sas() {
            total.add(sa.stats());
        }
        total
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let transmit = self.transmits.pop_front();
        if self.transmits.is_empty() {
            // As in `IkeSa::poll_transmit`: most endpoints are idle clients.
            self.transmits.shrink_to_fit();
        }
        transmit
    }

    /// The next event, with its SA.
    pub fn poll_event(&mut self) -> Option<(SaId, IkeEvent)> {
        let event = self.events.pop_front();
        if self.events.is_empty() {
            // As in `IkeSa::poll_event`: bursts are rare, the buffer would stay.
            self.events.shrink_to_fit();
        }
        event
    }

    /// The earliest SA deadline.
    pub fn poll_timeout(&self) -> Option<SimTime> {
        self.deadlines.first().map(|&(t, _)| t)
    }

    /// The SA that owns one of our IKE SPIs (as initiator or responder), in O(log n).
    pub fn sa_by_local_spi(&self, spi: u64) -> Option<SaId> {
        self.by_spi.get(&spi).copied()
    }

    /// The half-open responder SA created for an IKE_SA_INIT with this initiator SPI.
    pub fn half_open_by_initiator_spi(&self, spi_i: u64) -> Option<SaId> {
        self.half_open
            .range_from(&(spi_i, Vec::new()))
            .next()
            .filter(|((s, _), _)| *s == spi_i)
            .map(|(_, id)| *id)
    }

    /// An SA, while it exists.
    pub fn sa(&self, id: SaId) -> Option<&IkeSa> {
        self.sas.get(&id).map(|slot| &slot.sa)
    }

    /// Every SA, in id order.
    pub fn sas(&self) -> impl Iterator<Item = (SaId, &IkeSa)> + '_ {
        self.sas
            .sorted()
            .into_iter()
            .map(|(&id, slot)| (id, &slot.sa))
    }

    /// Responder SAs waiting for IKE_AUTH (RFC 7296 §2.6).
    pub fn half_open_count(&self) -> usize {
        self.half_open.len()
    }

    /// Counters.
    pub const fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// Adds a new SA (with its pool address and half-open key, if any) under the next id.
    fn insert(
        &mut self,
        now: SimTime,
        mut sa: IkeSa,
        lease: Option<Ipv4Addr>,
        half_open_key: Option<(u64, Vec<u8>)>,
    ) -> SaId {
        let id = SaId(self.next_id);
        self.next_id += 1;
        let prefix = self.allocate_prefix();
        sa.esp_spis.set_prefix(prefix);
        let mut slot = Slot::new(sa, prefix);
        slot.lease = lease;
        if let Some(key) = half_open_key {
            self.half_open.insert(key.clone(), id);
            slot.half_open_key = Some(Box::new(key));
        }
        self.sas.insert(id, slot);
        self.sync(now, id);
        id
    }

    /// The smallest ESP SPI prefix after the last one that no SA uses.
    fn allocate_prefix(&mut self) -> u16 {
        loop {
            let prefix = self.next_prefix;
            self.next_prefix = self.next_prefix.checked_add(1).unwrap_or(1);
            let full = self.used_prefixes.len() >= usize::from(u16::MAX);
            if !self.used_prefixes.contains(&prefix) || full {
                self.used_prefixes.insert(prefix);
                return prefix;
            }
        }
    }

    /// A new IKE_SA_INIT request, or a retransmitted one.
    fn on_init_request(&mut self, now: SimTime, path: Path, msg: &Message, raw: &[u8]) {
        let Some(ni) = msg.payloads.iter().find_map(|p| match p {
            Payload::Nonce(n) => Some(n.clone()),
            _ => None,
        }) else {
            self.stats.malformed += 1;
            return;
        };
        let key = (msg.spi_i, ni);
        if let Some(&id) = self.half_open.get(&key) {
            if let Some(slot) = self.sas.get_mut(&id) {
                slot.sa.handle_message(now, path, msg, raw);
            }
            self.sync(now, id);
            return;
        }
        let Some(config) = self.responder.clone() else {
            self.stats.unknown_spi += 1;
            return;
        };
        if self.half_open.len() >= self.config.half_open.cookie_threshold
            && !self.cookie_valid(now, path, msg, &key.1)
        {
            return;
        }
        let mut stream = StreamKey::new(&["ike-responder-sa"]).part_u64(msg.spi_i);
        for chunk in key.1.chunks(8).take(4) {
            let mut b = [0; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            stream = stream.part_u64(u64::from_be_bytes(b));
        }
        let rng = RootSeed(self.seed_base).stream(&stream);
        match IkeSa::accept_message(now, config, rng, path, msg, raw) {
            Ok(mut sa) => {
                self.stats.sas_created += 1;
                let lease = self.lease();
                if let Some(addr) = lease {
                    sa.reserve_inner_address(addr);
                }
                let half_open = self.half_open.len() as u64 + 1;
                self.stats.half_open_peak = self.stats.half_open_peak.max(half_open);
                self.insert(now, sa, lease, Some(key));
            }
            Err(InitRefused::Answered(_, answer)) => {
                self.stats.refused += 1;
                self.transmits.push_back(answer);
            }
            Err(InitRefused::Malformed) => self.stats.malformed += 1,
        }
    }

    /// Checks the COOKIE that must come first (RFC 7296 §2.6), and with a puzzle policy
    /// the solution in PS (RFC 8019 §7.1.4: cookie first, then all four keys); answers
    /// with a fresh cookie (and the puzzle) when either is missing or wrong.
    fn cookie_valid(&mut self, now: SimTime, path: Path, msg: &Message, ni: &[u8]) -> bool {
        self.rotate_secret(now);
        let input = CookieInput {
            ni,
            addr: IpAddr::V4(*path.remote.ip()),
            port: path.remote.port(),
            spi_i: msg.spi_i,
        };
        let policy = self.config.half_open.cookie;
        let puzzle = self.config.half_open.puzzle;
        let offered = match msg.payloads.first() {
            Some(Payload::Notify(n)) if n.ty == NotifyType::COOKIE => Some(&n.data),
            _ => None,
        };
        if let Some(cookie) = offered {
            let version = CookieSecret::version_of(cookie);
            let secret = [Some(&self.secret), self.previous_secret.as_ref()]
                .into_iter()
                .flatten()
                .find(|s| Some(s.version()) == version);
            if secret.is_some_and(|s| s.verify(cookie, policy, &input)) {
                let Some(puzzle) = puzzle else {
                    return true;
                };
                let solution = msg.payloads.iter().find_map(|p| match p {
                    Payload::PuzzleSolution(keys) => Some(keys.as_slice()),
                    _ => None,
                });
                if solution.is_some_and(|ps| {
                    puzzle::verify(puzzle::PUZZLE_PRF, cookie, puzzle.difficulty, ps)
                }) {
                    self.stats.puzzles_solved += 1;
                    return true;
                }
                self.stats.puzzles_failed += 1;
            } else {
                self.stats.cookies_invalid += 1;
            }
        }
        let cookie = self.secret.cookie(policy, &input);
        let mut notifies = vec![NotifyPayload::new(NotifyType::COOKIE, cookie)];
        if let Some(puzzle) = puzzle {
            // RFC 8019 §7.1.1: `HDR, N(COOKIE), N(PUZZLE)`.
            notifies.push(puzzle::puzzle_notify(puzzle.difficulty));
            self.stats.puzzles_sent += 1;
        }
        self.transmits
            .push_back(stateless_answer(msg, path, notifies));
        self.stats.cookies_sent += 1;
        false
    }

    /// Replaces the cookie secret when its lifetime is over; the previous one stays valid
    /// for one more lifetime.
    fn rotate_secret(&mut self, now: SimTime) {
        if now < self.rotate_at {
            return;
        }
        let lifetime = self.config.half_open.secret_lifetime;
        let fresh = CookieSecret::generate(self.secret.version().wrapping_add(1), &mut self.rng);
        let previous = std::mem::replace(&mut self.secret, fresh);
        self.previous_secret = (now < self.rotate_at.saturating_add(lifetime)).then_some(previous);
        self.rotate_at = now.saturating_add(lifetime);
    }

    /// Reserves the lowest free pool address (after the last one leased) for a new SA.
    fn lease(&mut self) -> Option<Ipv4Addr> {
        let pool = self.config.pool?;
        let first = u32::from(pool.first);
        // Resume after the last lease, wrapping once round the pool.
        let addr = (0..pool.size)
            .map(|k| (self.next_lease + k) % pool.size.max(1))
            .filter_map(|i| first.checked_add(i).map(|a| (i, Ipv4Addr::from(a))))
            .find(|(_, a)| !self.leased.contains(a))?;
        self.next_lease = addr.0 + 1;
        self.leased.insert(addr.1);
        Some(addr.1)
    }

    /// Collects an SA's output, updates the indexes, and removes it once closed.
    fn sync(&mut self, now: SimTime, id: SaId) {
        let Some(slot) = self.sas.get_mut(&id) else {
            return;
        };
        // Every change to an SA ends here (messages, timeouts, commands, restores).
        if let Some(changed) = self.changed.as_mut() {
            changed.push(id);
        }
        while let Some(transmit) = slot.sa.poll_transmit(now) {
            self.transmits.push_back(transmit);
        }
        while let Some(event) = slot.sa.poll_event() {
            self.events.push_back((id, event));
        }
        let (half_open, closed) = (slot.sa.is_half_open(), slot.sa.is_closed());
        let deadline = if closed { None } else { slot.sa.poll_timeout() };
        // Most syncs (every message and timeout) change neither the deadline nor the SPIs:
        // the indexes are only rewritten when they did (same result, no map churn and no
        // SPI vector per sync).
        if slot.deadline != deadline {
            if let Some(old) = slot.deadline {
                self.deadlines.remove(&(old, id));
            }
            if let Some(t) = deadline {
                self.deadlines.insert((t, id));
            }
            slot.deadline = deadline;
        }
        if !slot.spis.iter().copied().eq(slot.sa.local_spis()) {
            // Only when the SPIs changed: claiming them on every sync cost a map lookup
            // per SPI per message. An SPI another SA holds stays with it (random 64-bit
            // SPIs do not collide in practice).
            let spis: Vec<u64> = slot.sa.local_spis().collect();
            for &spi in &spis {
                self.by_spi.get_or_insert_with(spi, || id);
            }
            for spi in std::mem::replace(&mut slot.spis, spis) {
                if !slot.spis.contains(&spi) && self.by_spi.get(&spi) == Some(&id) {
                    self.by_spi.remove(&spi);
                }
            }
        }
        if !half_open && let Some(key) = slot.half_open_key.take() {
            self.half_open.remove(&*key);
        }
        if closed && let Some(slot) = self.sas.remove(&id) {
            self.ended.add(slot.sa.stats());
            if let Some(addr) = slot.lease {
                self.leased.remove(&addr);
            }
            self.used_prefixes.remove(&slot.prefix);
            for spi in slot.spis {
                if self.by_spi.get(&spi) == Some(&id) {
                    self.by_spi.remove(&spi);
                }
            }
        }
    }
}
