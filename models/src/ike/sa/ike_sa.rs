//! [`IkeSa`]: the API, commands, message demultiplexing and sending.
//!
//! The exchanges themselves live in sibling modules (`init`, `auth`, `child`, `rekey`,
//! `info`), each adding methods to [`IkeSa`].

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use sim::{SimRng, SimTime};

use super::auth::{AuthSent, AuthVerified};
use super::child::{Child, EspSpis};
use super::core::{CachedResponse, Core, Outstanding, Request};
use super::init::{InitReplied, InitSent};
use super::mobike::{Mobike, MobikeTask};
use super::sync::{PeerSync, Restored};
use super::timers::{Timer, TimerTable};
use super::{
    ChildSaKeys, FailReason, HaSyncSupport, IkeConfig, IkeEvent, InitErrorAction, NAT_T_PORT,
    NatStatus, Retransmission, Stats, Transmit,
};
use crate::ike::wire::{ExchangeType, Message, NotifyPayload, NotifyType, Payload};
use crate::small_map::SmallMap;

/// Octets of IPv4 and UDP headers in front of an IKE message on UDP.
const IPV4_UDP_OVERHEAD: usize = 28;
/// Octets of the non-ESP marker in front of IKE on port 4500 (RFC 3948 §2.2).
const NON_ESP_MARKER_LEN: usize = 4;

/// One IKE SA with one peer and its Child SAs (RFC 7296), sans IO.
///
/// # Driving contract
///
/// Inputs: [`IkeSa::handle_datagram`] (an IKE message for this SA, non-ESP marker or TCP
/// framing removed, with the addresses it travelled between), [`IkeSa::handle_timeout`]
/// (at or after [`IkeSa::poll_timeout`]), the ESP activity notes
/// ([`IkeSa::note_esp_in`], [`IkeSa::note_esp_out`]) and the commands ([`IkeSa::rekey_child`],
/// [`IkeSa::rekey_ike`], [`IkeSa::delete_child`], [`IkeSa::delete`],
/// [`IkeSa::check_liveness`], [`IkeSa::resend_outstanding`]). After any input, at the same
/// `now`, the caller must:
///
/// 1. call [`IkeSa::poll_transmit`] until `None` and send each message (queued exchanges
///    start here, when the window of 1 is free, RFC 7296 §2.3);
/// 2. call [`IkeSa::poll_event`] until `None`;
/// 3. read [`IkeSa::poll_timeout`] and call `handle_timeout` then.
///
/// Inputs at different instants must not interleave with a partial drain (style pitfall
/// 11). After `handle_timeout(now)` and the drain, `poll_timeout` is `None` or later than
/// `now`.
#[derive(Debug)]
pub struct IkeSa {
    /// Shared by every SA an endpoint answers or starts with the same settings (328
    /// bytes inline plus its vectors, per SA before); what an SA changes for itself is in
    /// `retransmission` and `fragment_send`.
    pub(super) config: Rc<IkeConfig>,
    /// Timer retransmission, from the configuration until the SA moves (RFC 9329 §6.2).
    pub(super) retransmission: Retransmission,
    /// Whether fragments may be sent (RFC 9329 §7.5: not over TCP).
    pub(super) fragment_send: bool,
    /// Whether IKE moves to port 4500 when a NAT is found (not over TCP).
    pub(super) nat_t_port_float: bool,
    /// What an IKE_SA_INIT error notify does (RFC 9329 §6.4).
    pub(super) init_error: InitErrorAction,
    /// Parked between draws ([`SimRng::then_park`]): an SA draws a few words per
    /// exchange, and a live generator would be ~300 bytes more per SA.
    pub(super) rng: SimRng,
    /// Whether we are the original initiator.
    pub(super) original_initiator: bool,
    /// Our address for requests (port 4500 after NAT detection).
    pub(super) local: SocketAddrV4,
    /// The peer's address for requests.
    pub(super) remote: SocketAddrV4,
    pub(super) core: Core,
    /// The previous generation after an IKE rekey, until deleted (RFC 7296 §2.18).
    /// Boxed: only there for the moments after an IKE rekey (over 500 bytes inline).
    pub(super) old: Option<Box<OldSa>>,
    pub(super) state: State,
    /// Child SAs by inbound SPI.
    /// Boxed: a B-tree leaf has room for eleven values, and an SA usually has one Child
    /// SA (160 bytes inline left 1.6 kB of every SA empty).
    pub(super) children: SmallMap<u32, Box<Child>>,
    /// Exchanges waiting for the window.
    pub(super) tasks: VecDeque<Task>,
    /// Exchanges to queue later (retries after TEMPORARY_FAILURE).
    pub(super) deferred: Vec<(SimTime, Task)>,
    pub(super) esp_spis: EspSpis,
    pub(super) timers: TimerTable,
    pub(super) transmits: VecDeque<Transmit>,
    pub(super) events: VecDeque<IkeEvent>,
    pub(super) stats: Stats,
    /// When the SA started (first IKE_SA_INIT sent or received).
    pub(super) started: SimTime,
    pub(super) nat: NatStatus,
    /// IKEV2_FRAGMENTATION_SUPPORTED was exchanged both ways (RFC 7383 §2.3).
    pub(super) fragmentation: bool,
    /// Last authenticated IKE message or ESP packet received (RFC 7296 §2.4).
    pub(super) last_received: SimTime,
    /// Last ESP packet sent, if any.
    pub(super) last_esp_out: Option<SimTime>,
    /// RFC 6311 capabilities both peers announced in IKE_AUTH.
    pub(super) ha: HaSyncSupport,
    /// Restored on a new active cluster member and not yet synchronised (RFC 6311).
    pub(super) restored: Option<Restored>,
    /// The cluster's last sync, as its peer (RFC 6311 §5.1).
    pub(super) peer_sync: Option<Box<PeerSync>>,
    /// MOBIKE state (RFC 4555).
    pub(super) mobike: Mobike,
}

/// The phase of the SA (style rule 7: one struct per state).
#[derive(Debug)]
pub(super) enum State {
    /// Initiator: IKE_SA_INIT request outstanding.
    InitSent(Box<InitSent>),
    /// Initiator: IKE_AUTH request outstanding.
    AuthSent(Box<AuthSent>),
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH (half-open).
    InitReplied(Box<InitReplied>),
    /// Both authenticated.
    Established(Established),
    /// Deleted or failed.
    Closed,
}

/// The established phase.
#[derive(Debug)]
pub(super) struct Established {
    /// Proof that the peer's AUTH verified.
    pub(super) _auth: AuthVerified,
    /// Soft lifetime of the IKE SA ([`SimTime::MAX`] once the rekey is queued).
    pub(super) rekey_at: SimTime,
    /// Hard lifetime ([`SimTime::MAX`] once the delete is queued).
    pub(super) expire_at: SimTime,
    /// The original initiator's inner address.
    pub(super) inner_address: Option<Ipv4Addr>,
}

/// The old generation after an IKE rekey.
#[derive(Debug)]
pub(super) struct OldSa {
    pub(super) core: Core,
    /// Forgotten at this time: if the peer never deletes it, or after the peer's Delete
    /// was answered (kept meanwhile for retransmissions of that Delete).
    pub(super) expire_at: SimTime,
    /// The peer's Delete was answered.
    pub(super) deleted: bool,
}

impl OldSa {
    /// Whether a new IKE rekey must wait for this generation to go.
    pub(super) const fn blocks_rekey(&self) -> bool {
        !self.deleted
    }
}

/// An exchange waiting for the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Task {
    RekeyChild(u32),
    RekeyIke,
    DeleteChild(u32),
    DeleteIke,
    Liveness,
    /// RFC 6311 sync after a failover (member).
    HaSync,
    Mobike(MobikeTask),
}

/// Which generation a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sel {
    Current,
    Old,
}

/// The addresses a message travelled between, from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Path {
    pub(super) local: SocketAddrV4,
    pub(super) remote: SocketAddrV4,
}

impl IkeSa {
    /// A skeleton SA: the constructors in `init` fill in the rest.
    pub(super) fn skeleton(
        now: SimTime,
        config: Rc<IkeConfig>,
        mut rng: SimRng,
        path: Path,
        core: Core,
        state: State,
    ) -> Self {
        let esp_spis = EspSpis::new(&mut rng);
        rng.park();
        Self {
            retransmission: config.retransmit.mode,
            fragment_send: config.fragmentation.send,
            nat_t_port_float: config.nat_t_port_float,
            init_error: config.init_error,
            config,
            rng,
            original_initiator: core.initiator,
            local: path.local,
            remote: path.remote,
            core,
            old: None,
            state,
            children: SmallMap::new(),
            tasks: VecDeque::new(),
            deferred: Vec::new(),
            esp_spis,
            timers: TimerTable::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            started: now,
            nat: NatStatus::default(),
            fragmentation: false,
            last_received: now,
            last_esp_out: None,
            ha: HaSyncSupport::NONE,
            restored: None,
            peer_sync: None,
            mobike: Mobike::default(),
        }
    }

    /// Processes an IKE message for this SA that arrived at `local` from `remote`.
    /// Malformed, forged, stale and misdirected input is counted and dropped.
    pub fn handle_datagram(
        &mut self,
        now: SimTime,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        bytes: &[u8],
    ) {
        match Message::parse(bytes) {
            Ok(message) => self.handle_message(now, Path { local, remote }, &message, bytes),
            Err(_) => self.stats.dropped_malformed += 1,
        }
    }

    /// [`Self::handle_datagram`] after parsing (the endpoint parses to demultiplex).
    pub(super) fn handle_message(&mut self, now: SimTime, path: Path, msg: &Message, raw: &[u8]) {
        if matches!(self.state, State::Closed) {
            return;
        }
        if self.on_ha_message(now, path, msg, raw) {
            self.rearm();
            return;
        }
        let sel = if self.core.matches(msg) {
            Sel::Current
        } else if self.old.as_ref().is_some_and(|old| old.core.matches(msg)) {
            Sel::Old
        } else {
            self.stats.dropped_unexpected += 1;
            return;
        };
        if msg.exchange_type == ExchangeType::IKE_SA_INIT {
            if sel == Sel::Current {
                self.on_init_message(now, path, msg, raw);
            }
        } else {
            match self.core_ref(sel).and_then(|core| core.classify(msg)) {
                Some(kind) => self.on_protected(now, sel, path, msg, raw, kind),
                None => self.stats.dropped_unexpected += 1,
            }
        }
        self.rearm();
    }

    /// Handles every timer due at `now`.
    pub fn handle_timeout(&mut self, now: SimTime) {
        for timer in self.timers.expired(now) {
            if matches!(self.state, State::Closed) {
                break;
            }
            match timer {
                Timer::Retransmit => self.on_retransmit_timer(now, Sel::Current),
                Timer::OldSa => self.on_old_timer(now),
                Timer::HalfOpen => {
                    if matches!(self.state, State::InitReplied(_)) {
                        self.fail(FailReason::HalfOpenTimeout);
                    }
                }
                Timer::Reassembly => {
                    if self.core.reassembly.discard() {
                        self.stats.reassembly_discarded += 1;
                    }
                }
                Timer::ChildLifetime => self.on_child_lifetime(now),
                Timer::IkeLifetime => self.on_ike_lifetime(now),
                Timer::Deferred => {
                    let (due, later) = self.deferred.drain(..).partition(|(at, _)| *at <= now);
                    self.deferred = later;
                    for (_, task) in due {
                        self.queue(task);
                    }
                }
                Timer::Liveness => self.queue(Task::Liveness),
                Timer::PuzzleSolved => self.on_puzzle_solved(now),
            }
        }
        self.rearm();
    }

    /// The next message to send. Queued exchanges start here when the window is free.
    pub fn poll_transmit(&mut self, now: SimTime) -> Option<Transmit> {
        // Every input already rearmed the timers: with no task to start there is nothing
        // to recompute (the daemon polls until `None`, several times per message).
        if self.transmits.is_empty() && !self.tasks.is_empty() {
            self.start_tasks(now);
        }
        debug_assert!(
            self.timers_current(),
            "a state change did not rearm the timers"
        );
        let transmit = self.transmits.pop_front();
        if self.transmits.is_empty() {
            // An idle SA sends a message or two a minute: keeping the buffer between them
            // cost ~160 bytes per SA (BENCHMARKS.md, "Memory per idle client").
            self.transmits.shrink_to_fit();
        }
        transmit
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<SimTime> {
        self.timers.next_timeout()
    }

    /// The next event, in the order described on [`IkeEvent`].
    pub fn poll_event(&mut self) -> Option<IkeEvent> {
        let event = self.events.pop_front();
        if self.events.is_empty() {
            // Events come in rare bursts (establishment, rekeys) and are large (keys):
            // an idle SA should not keep the burst's buffer.
            self.events.shrink_to_fit();
        }
        event
    }

    /// Rekeys the Child SA with inbound SPI `spi_in` now (RFC 7296 §2.8). Returns false
    /// if there is no such SA in a state that can be rekeyed.
    pub fn rekey_child(&mut self, spi_in: u32) -> bool {
        let ok = self.is_established() && self.children.get(&spi_in).is_some_and(|c| c.can_rekey());
        if ok {
            self.queue(Task::RekeyChild(spi_in));
        }
        ok
    }

    /// Rekeys the IKE SA now (RFC 7296 §2.18).
    pub fn rekey_ike(&mut self) {
        if self.is_established() {
            self.queue(Task::RekeyIke);
        }
    }

    /// Deletes the Child SA with inbound SPI `spi_in` (RFC 7296 §1.4.1).
    pub fn delete_child(&mut self, spi_in: u32) {
        if self.is_established() && self.children.contains_key(&spi_in) {
            self.queue(Task::DeleteChild(spi_in));
        }
    }

    /// Deletes the IKE SA and with it every Child SA (RFC 7296 §1.4.1). Before
    /// establishment the SA is abandoned at once.
    pub fn delete(&mut self) {
        if self.is_established() {
            self.queue(Task::DeleteIke);
        } else {
            self.close(IkeEvent::Deleted);
            self.rearm();
        }
    }

    /// Sends a liveness check now (RFC 7296 §2.4).
    pub fn check_liveness(&mut self) {
        if self.is_established() {
            self.queue(Task::Liveness);
        }
    }

    /// Sends every outstanding request again, on both generations: RFC 9329 §6.2 after a
    /// new TCP connection for this SA. Deadlines stay as they are.
    pub fn resend_outstanding(&mut self) {
        for sel in [Sel::Current, Sel::Old] {
            let packets = match self.core_ref(sel).and_then(|c| c.outstanding.as_ref()) {
                Some(out) => out.packets.clone(),
                None => continue,
            };
            self.stats.retransmits += 1;
            self.queue_packets(
                &packets,
                Path {
                    local: self.local,
                    remote: self.remote,
                },
            );
        }
    }

    /// An ESP packet of one of our Child SAs arrived and verified: proof of liveness
    /// (RFC 7296 §2.4).
    pub fn note_esp_in(&mut self, now: SimTime) {
        self.last_received = self.last_received.max(now);
        self.peer_heard(now);
        self.rearm();
    }

    /// An ESP packet of one of our Child SAs was sent: on-demand liveness checks look at
    /// this (RFC 7296 §2.4).
    pub fn note_esp_out(&mut self, now: SimTime) {
        self.last_esp_out = Some(now);
        self.rearm();
    }

    /// Switches timer retransmission on or off, e.g. when the SA moves to TCP
    /// (RFC 9329 §6.2). Applies from the next request.
    pub const fn set_retransmission(&mut self, mode: Retransmission) {
        self.retransmission = mode;
    }

    /// Whether to send fragments when negotiated (RFC 9329 §7.5: not over TCP).
    pub const fn set_fragment_sending(&mut self, send: bool) {
        self.fragment_send = send;
    }

    /// SPIi of the current generation.
    pub const fn spi_i(&self) -> u64 {
        self.core.spi_i
    }

    /// SPIr of the current generation (zero until known).
    pub const fn spi_r(&self) -> u64 {
        self.core.spi_r
    }

    /// The SPIs that name this SA to us: the current generation's, and the old one's
    /// while it is being deleted (RFC 7296 §2.6).
    pub fn local_spis(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.core.local_spi()).chain(self.old.as_ref().map(|o| o.core.local_spi()))
    }

    /// Whether we are the original initiator.
    pub const fn is_initiator(&self) -> bool {
        self.original_initiator
    }

    /// Whether IKE_AUTH completed and the SA is not closed.
    pub const fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    /// Whether the SA is a responder's half-open SA (RFC 7296 §2.6).
    pub const fn is_half_open(&self) -> bool {
        matches!(self.state, State::InitReplied(_))
    }

    /// Whether the SA is deleted or failed.
    pub const fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The NAT detection result (all false before IKE_SA_INIT completes).
    pub const fn nat_status(&self) -> NatStatus {
        self.nat
    }

    /// Our address for requests.
    pub const fn local(&self) -> SocketAddrV4 {
        self.local
    }

    /// The peer's address for requests.
    pub const fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    /// The Child SAs currently installed (including old ones awaiting deletion).
    pub fn children(&self) -> impl Iterator<Item = &ChildSaKeys> + '_ {
        self.children.values().map(|c| &*c.keys)
    }

    /// Counters.
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Message IDs of the current generation: (our next request, the peer's next
    /// request), RFC 7296 §2.2.
    pub const fn message_ids(&self) -> (u32, u32) {
        (self.core.next_request_id, self.core.expected_request_id)
    }

    pub(super) const fn core_ref(&self, sel: Sel) -> Option<&Core> {
        match sel {
            Sel::Current => Some(&self.core),
            Sel::Old => match &self.old {
                Some(old) => Some(&old.core),
                None => None,
            },
        }
    }

    pub(super) fn core_rng(&mut self, sel: Sel) -> Option<(&mut Core, &mut SimRng)> {
        let core = match sel {
            Sel::Current => &mut self.core,
            Sel::Old => &mut self.old.as_mut()?.core,
        };
        Some((core, &mut self.rng))
    }

    /// Queues an exchange once.
    pub(super) fn queue(&mut self, task: Task) {
        if !self.tasks.contains(&task) {
            self.tasks.push_back(task);
        }
    }

    /// Queues an exchange once, before all others (deletions).
    pub(super) fn queue_first(&mut self, task: Task) {
        self.tasks.retain(|t| *t != task);
        self.tasks.push_front(task);
    }

    /// Starts queued exchanges while the window is free.
    fn start_tasks(&mut self, now: SimTime) {
        while self.is_established() && self.core.outstanding.is_none() {
            let Some(task) = self.tasks.pop_front() else {
                break;
            };
            match task {
                Task::RekeyChild(spi) => self.start_child_rekey(now, spi),
                Task::RekeyIke => self.start_ike_rekey(now),
                Task::DeleteChild(spi) => self.start_delete_child(now, spi),
                Task::DeleteIke => {
                    self.send_request(
                        now,
                        Sel::Current,
                        ExchangeType::INFORMATIONAL,
                        &[Payload::Delete(super::info::delete_ike())],
                        Request::DeleteIke,
                    );
                }
                Task::Liveness => {
                    self.send_request(
                        now,
                        Sel::Current,
                        ExchangeType::INFORMATIONAL,
                        &[],
                        Request::Liveness,
                    );
                    let sent = self
                        .core
                        .outstanding
                        .as_ref()
                        .map_or(0, |o| o.packets.iter().map(Vec::len).sum::<usize>() as u64);
                    self.stats.liveness_checks += 1;
                    self.stats.liveness_bytes += sent;
                }
                Task::HaSync => self.start_ha_sync_request(now),
                Task::Mobike(task) => self.start_mobike_task(now, task),
            }
        }
        self.rearm();
    }

    /// The largest IKE message to send unfragmented, if fragments may be sent.
    fn fragment_limit(&self) -> Option<usize> {
        let policy = &self.config.fragmentation;
        let marker = if self.local.port() == NAT_T_PORT || self.remote.port() == NAT_T_PORT {
            NON_ESP_MARKER_LEN
        } else {
            0
        };
        (self.fragmentation && self.fragment_send).then(|| {
            policy
                .fragment_size
                .saturating_sub(IPV4_UDP_OVERHEAD + marker)
        })
    }

    /// Protects and sends a request on generation `sel` and waits for its response.
    pub(super) fn send_request(
        &mut self,
        now: SimTime,
        sel: Sel,
        exchange: ExchangeType,
        inner: &[Payload],
        request: Request,
    ) {
        let max_len = self.fragment_limit();
        let Some((core, rng)) = self.core_rng(sel) else {
            return;
        };
        let id = core.next_request_id;
        let header = core.header(exchange, id, false);
        let packets = rng.then_park(|rng| core.protect(rng, &header, inner, max_len));
        core.next_request_id = id.wrapping_add(1);
        self.start_outstanding(now, sel, id, exchange, request, packets);
    }

    /// Records and sends a request already built.
    pub(super) fn start_outstanding(
        &mut self,
        now: SimTime,
        sel: Sel,
        id: u32,
        exchange: ExchangeType,
        request: Request,
        packets: Vec<Vec<u8>>,
    ) {
        let wait = match self.retransmission {
            Retransmission::Timers => self
                .rng
                .then_park(|rng| self.config.retransmit.jittered_timeout(0, rng)),
            Retransmission::Off => self.config.retransmit.give_up_after(),
        };
        self.stats.requests_sent += 1;
        self.queue_packets(
            &packets,
            Path {
                local: self.local,
                remote: self.remote,
            },
        );
        if let Some((core, _)) = self.core_rng(sel) {
            core.outstanding = Some(Box::new(Outstanding {
                id,
                exchange,
                request,
                packets,
                tries: 0,
                deadline: now.saturating_add(wait),
            }));
        }
    }

    /// Protects and sends the response to request `id` on generation `sel`, to where the
    /// request came from, and caches it (RFC 7296 §2.1, §2.11).
    pub(super) fn respond(
        &mut self,
        sel: Sel,
        path: Path,
        exchange: ExchangeType,
        id: u32,
        inner: &[Payload],
    ) {
        let max_len = self.fragment_limit();
        let Some((core, rng)) = self.core_rng(sel) else {
            return;
        };
        let header = core.header(exchange, id, true);
        let packets = rng.then_park(|rng| core.protect(rng, &header, inner, max_len));
        self.cache_and_send(sel, path, id, None, packets);
    }

    /// Answers request `msg` on generation `sel` with one notify.
    pub(super) fn respond_notify(
        &mut self,
        sel: Sel,
        path: Path,
        msg: &Message,
        ty: NotifyType,
        data: Vec<u8>,
    ) {
        let inner = [Payload::Notify(NotifyPayload::new(ty, data))];
        self.respond(sel, path, msg.exchange_type, msg.message_id, &inner);
    }

    /// Caches a response and sends it.
    pub(super) fn cache_and_send(
        &mut self,
        sel: Sel,
        path: Path,
        id: u32,
        request: Option<Vec<u8>>,
        packets: Vec<Vec<u8>>,
    ) {
        self.stats.responses_sent += 1;
        self.queue_packets(&packets, path);
        if let Some((core, _)) = self.core_rng(sel) {
            core.expected_request_id = id.wrapping_add(1);
            core.last_response = Some(CachedResponse {
                id,
                request,
                packets,
            });
        }
    }

    /// Resends the cached response (RFC 7296 §2.1).
    pub(super) fn resend_response(&mut self, sel: Sel, path: Path) {
        let Some(cached) = self.core_ref(sel).and_then(|c| c.last_response.clone()) else {
            return;
        };
        self.stats.responses_resent += 1;
        self.queue_packets(&cached.packets, path);
    }

    pub(super) fn queue_packets(&mut self, packets: &[Vec<u8>], path: Path) {
        if packets.len() > 1 {
            self.stats.fragments_sent += packets.len() as u64;
        }
        self.transmits.extend(packets.iter().map(|bytes| Transmit {
            bytes: bytes.clone(),
            local: path.local,
            remote: path.remote,
        }));
    }

    /// Ends the SA with `reason`.
    pub(super) fn fail(&mut self, reason: FailReason) {
        self.close(IkeEvent::Failed(reason));
    }

    /// Ends the SA: every Child SA goes down, then the terminal event.
    pub(super) fn close(&mut self, terminal: IkeEvent) {
        if matches!(self.state, State::Closed) {
            return;
        }
        for child in std::mem::take(&mut self.children).into_values() {
            self.events
                .push_back(IkeEvent::ChildSaDown(child.keys.id()));
        }
        self.events.push_back(terminal);
        self.state = State::Closed;
        self.core.outstanding = None;
        self.old = None;
        self.tasks.clear();
        self.deferred.clear();
    }
}
