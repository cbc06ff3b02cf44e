//! IKE_SA_INIT for both roles (RFC 7296 §1.2, §2.6, §2.10, §2.23; protocol.md 1.4, 1.13).
//!
//! The initiator sends `HDR, [N(COOKIE)], SA, KE, Ni, N(NAT_DETECTION_SOURCE_IP),
//! N(NAT_DETECTION_DESTINATION_IP), [N(IKEV2_FRAGMENTATION_SUPPORTED)]`, retries with
//! the cookie first (RFC 7296 §2.6) or with the group INVALID_KE_PAYLOAD names
//! (RFC 7296 §1.2), Message ID 0 each time, and keeps the cookie across an INVALID_KE
//! retry (RFC 7296 §2.6.1). A COOKIE answer with a PUZZLE is solved first, the retry
//! carrying PS after the cookie and leaving when the solving cost (in virtual time) is
//! paid (RFC 8019 §7.1.2). The responder answers statelessly when it refuses, and
//! otherwise creates a half-open SA. Both derive the keys (RFC 7296 §2.14) and compare the
//! NAT-D hashes with the addresses the message actually used.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use sim::{SimDuration, SimRng, SimTime};

use super::core::{Core, CoreKeys, Request};
use super::ike_sa::{IkeSa, Path, Sel, State};
use super::info::{error_notify, notify};
use super::proposal::{PRF, check_answer, choose, ike_offer};
use super::puzzle;
use super::{
    FailReason, IkeConfig, IkeEvent, InitErrorAction, NAT_T_PORT, NatStatus, TcpOverrides, Transmit,
};
use crate::esp::IkeSaKeys;
use crate::ike::crypto::{self, DhGroup, DhSecret, nat_detection_hash};
use crate::ike::wire::{
    ExchangeType, Flags, KePayload, Message, NotifyPayload, NotifyType, Payload, ProtocolId,
};

/// Octets of our nonces: at least half the PRF key size and 128 bits (RFC 7296 §2.10).
const NONCE_LEN: usize = 32;

/// Initiator state while IKE_SA_INIT is outstanding.
#[derive(Debug)]
pub(crate) struct InitSent {
    /// Ni.
    ni: Vec<u8>,
    /// Our DH secret for the group in KE.
    dh: DhSecret,
    /// `dh`'s public value (the KE data), kept from [`DhGroup::generate`]: recomputing
    /// it for every (re)sent request cost an X25519 base-point multiplication each time
    /// (with a COOKIE round, three instead of the one `generate` needs).
    dh_public: Vec<u8>,
    /// The responder's cookie, sent first in every retry.
    cookie: Option<Vec<u8>>,
    /// Our solution to the responder's puzzle (PS data), sent right after the cookie
    /// (RFC 8019 §7.1.2).
    puzzle_solution: Option<Vec<u8>>,
    /// While "solving" a puzzle: when the retried request leaves (the solving cost in
    /// virtual time).
    pub(super) send_at: Option<SimTime>,
    /// Corrective retries made (COOKIE, INVALID_KE).
    retries: u32,
    /// An error notify seen and not acted on ([`InitErrorAction::Wait`]).
    last_error: Option<NotifyType>,
    /// The request as last sent: RealMessage1 of the AUTH payload (RFC 7296 §2.15).
    request: Vec<u8>,
}

/// Responder state between IKE_SA_INIT and IKE_AUTH (a half-open SA).
#[derive(Debug)]
pub(crate) struct InitReplied {
    /// RealMessage1: the request as received.
    pub(crate) request: Vec<u8>,
    /// RealMessage2: our response.
    pub(crate) response: Vec<u8>,
    /// Ni.
    pub(crate) ni: Vec<u8>,
    /// Nr.
    pub(crate) nr: Vec<u8>,
    /// An inner address reserved for this peer, if the endpoint has a pool.
    pub(crate) assigned: Option<Ipv4Addr>,
}

/// Why an IKE_SA_INIT request created no SA ([`IkeSa::accept`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitRefused {
    /// Not a well-formed IKE_SA_INIT request: dropped without an answer.
    Malformed,
    /// Refused with a stateless answer carrying this notify: NO_PROPOSAL_CHOSEN,
    /// INVALID_KE_PAYLOAD or UNSUPPORTED_CRITICAL_PAYLOAD (RFC 7296 §1.2, §2.5, §2.7).
    Answered(NotifyType, Transmit),
}

/// A fresh nonce.
pub(super) fn nonce(rng: &mut SimRng) -> Vec<u8> {
    let mut n = vec![0; NONCE_LEN];
    rng.fill_bytes(&mut n);
    n
}

/// A fresh, non-zero IKE SPI.
pub(super) fn ike_spi(rng: &mut SimRng) -> u64 {
    loop {
        let spi = rng.next_u64();
        if spi != 0 {
            return spi;
        }
    }
}

/// The two NAT-D notifies for a message from `local` to `remote` (RFC 7296 §2.23).
pub(super) fn nat_detection(
    spi_i: u64,
    spi_r: u64,
    local: SocketAddrV4,
    remote: SocketAddrV4,
) -> [Payload; 2] {
    let hash = |a: SocketAddrV4| nat_detection_hash(spi_i, spi_r, IpAddr::V4(*a.ip()), a.port());
    [
        Payload::Notify(NotifyPayload::new(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            hash(local).to_vec(),
        )),
        Payload::Notify(NotifyPayload::new(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            hash(remote).to_vec(),
        )),
    ]
}

/// Compares the peer's NAT-D notifies with the addresses the message used. A peer
/// without NAT-D notifies does not do NAT traversal: no NAT is assumed.
pub(super) fn nat_status(payloads: &[Payload], spi_i: u64, spi_r: u64, path: Path) -> NatStatus {
    let hash = |a: SocketAddrV4| nat_detection_hash(spi_i, spi_r, IpAddr::V4(*a.ip()), a.port());
    let values = |ty| {
        payloads.iter().filter_map(move |p| match p {
            Payload::Notify(n) if n.ty == ty => Some(n.data.as_slice()),
            _ => None,
        })
    };
    let mut sources = values(NotifyType::NAT_DETECTION_SOURCE_IP).peekable();
    let Some(destination) = values(NotifyType::NAT_DETECTION_DESTINATION_IP).next() else {
        return NatStatus::default();
    };
    if sources.peek().is_none() {
        return NatStatus::default();
    }
    let remote = hash(path.remote);
    NatStatus {
        local_behind_nat: destination != hash(path.local),
        remote_behind_nat: !sources.any(|s| s == remote),
    }
}

/// A stateless IKE_SA_INIT answer carrying notifies (RFC 7296 §2.6, §1.2; RFC 8019 §7.1.1).
pub(super) fn stateless_answer(
    request: &Message,
    path: Path,
    notifies: Vec<NotifyPayload>,
) -> Transmit {
    let answer = Message {
        spi_i: request.spi_i,
        spi_r: 0,
        exchange_type: ExchangeType::IKE_SA_INIT,
        flags: Flags {
            initiator: false,
            response: true,
        },
        message_id: 0,
        payloads: notifies.into_iter().map(Payload::Notify).collect(),
    };
    Transmit {
        bytes: answer.emit(),
        local: path.local,
        remote: path.remote,
    }
}

/// The SA, KE and nonce of an IKE_SA_INIT message.
fn init_payloads(
    payloads: &[Payload],
) -> Option<(&crate::ike::wire::SaPayload, &KePayload, &[u8])> {
    let sa = payloads.iter().find_map(|p| match p {
        Payload::Sa(sa) => Some(sa),
        _ => None,
    })?;
    let ke = payloads.iter().find_map(|p| match p {
        Payload::Ke(ke) => Some(ke),
        _ => None,
    })?;
    let nonce = payloads.iter().find_map(|p| match p {
        Payload::Nonce(n) => Some(n.as_slice()),
        _ => None,
    })?;
    Some((sa, ke, nonce))
}

impl IkeSa {
    /// Starts an IKE SA as initiator from `local` to `remote` (normally port 500 on
    /// both ends): the first [`IkeSa::poll_transmit`] yields the IKE_SA_INIT request.
    ///
    /// `rng` must be this SA's own keyed stream (style rule 4).
    ///
    /// # Panics
    ///
    /// If `config.dh_groups` is empty (a configuration error).
    pub fn initiate(
        now: SimTime,
        config: Rc<IkeConfig>,
        tcp: Option<TcpOverrides>,
        mut rng: SimRng,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Self {
        let group = *config
            .dh_groups
            .first()
            .expect("IkeConfig needs a DH group");
        let spi_i = ike_spi(&mut rng);
        let ni = nonce(&mut rng);
        let (dh, dh_public) = group.generate(config.crypto, &mut rng);
        let state = State::InitSent(Box::new(InitSent {
            ni,
            dh,
            dh_public,
            cookie: None,
            puzzle_solution: None,
            send_at: None,
            retries: 0,
            last_error: None,
            request: Vec::new(),
        }));
        let path = Path { local, remote };
        let core = Core::new(spi_i, 0, true);
        let mut sa = Self::skeleton(now, config, rng, path, core, state);
        if let Some(tcp) = tcp {
            sa.retransmission = tcp.retransmission;
            sa.fragment_send = tcp.fragment_send;
            sa.init_error = tcp.init_error;
            sa.nat_t_port_float = false;
        }
        sa.send_init_request(now);
        sa.rearm();
        sa
    }

    /// Answers an IKE_SA_INIT request that arrived at `local` from `remote` as
    /// responder: a new half-open SA whose first [`IkeSa::poll_transmit`] is the
    /// response, or a refusal. COOKIE handling is the endpoint's (RFC 7296 §2.6).
    pub fn accept(
        now: SimTime,
        config: IkeConfig,
        rng: SimRng,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        bytes: &[u8],
    ) -> Result<Self, InitRefused> {
        let msg = Message::parse(bytes).map_err(|_| InitRefused::Malformed)?;
        Self::accept_message(
            now,
            Rc::new(config),
            rng,
            Path { local, remote },
            &msg,
            bytes,
        )
    }

    /// [`Self::accept`] after parsing.
    pub(super) fn accept_message(
        now: SimTime,
        config: Rc<IkeConfig>,
        mut rng: SimRng,
        path: Path,
        msg: &Message,
        raw: &[u8],
    ) -> Result<Self, InitRefused> {
        let is_request = msg.exchange_type == ExchangeType::IKE_SA_INIT
            && msg.flags.initiator
            && !msg.flags.response
            && msg.message_id == 0
            && msg.spi_i != 0
            && msg.spi_r == 0;
        if !is_request {
            return Err(InitRefused::Malformed);
        }
        let refuse = |ty, data| {
            Err(InitRefused::Answered(
                ty,
                stateless_answer(msg, path, vec![NotifyPayload::new(ty, data)]),
            ))
        };
        if let Some(ty) = msg.unsupported_critical() {
            return refuse(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![ty.0]);
        }
        let (offer, ke, ni) = init_payloads(&msg.payloads).ok_or(InitRefused::Malformed)?;
        let ke_group = DhGroup::from_transform_id(ke.group);
        let Some(chosen) = choose(offer, ProtocolId::IKE, &config.dh_groups, ke_group) else {
            return refuse(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
        };
        let group = chosen.group.ok_or(InitRefused::Malformed)?;
        if ke_group != Some(group) {
            let wanted = group.transform_id().0.to_be_bytes().to_vec();
            return refuse(NotifyType::INVALID_KE_PAYLOAD, wanted);
        }
        let spi_r = ike_spi(&mut rng);
        let nr = nonce(&mut rng);
        let (dh, public) = group.generate(config.crypto, &mut rng);
        let g_ir = dh.shared(&ke.data).map_err(|_| InitRefused::Malformed)?;
        let fragmentation = config.fragmentation.negotiate
            && notify(&msg.payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
        let mut payloads = vec![
            Payload::Sa(chosen.answer(ProtocolId::IKE, Vec::new())),
            Payload::Ke(KePayload {
                group: group.transform_id(),
                data: public,
            }),
            Payload::Nonce(nr.clone()),
        ];
        payloads.extend(nat_detection(msg.spi_i, spi_r, path.local, path.remote));
        if fragmentation {
            payloads.push(fragmentation_supported());
        }
        let response = Message {
            spi_i: msg.spi_i,
            spi_r,
            exchange_type: ExchangeType::IKE_SA_INIT,
            flags: Flags {
                initiator: false,
                response: true,
            },
            message_id: 0,
            payloads,
        }
        .emit();

        let keys = crypto::IkeSaKeys::initial(PRF, &g_ir, ni, &nr, msg.spi_i, spi_r);
        let mut core = Core::new(msg.spi_i, spi_r, false);
        core.keys = Some(Rc::new(CoreKeys::new(group, keys, false, config.crypto)));
        let state = State::InitReplied(Box::new(InitReplied {
            request: raw.to_vec(),
            response: response.clone(),
            ni: ni.to_vec(),
            nr,
            assigned: None,
        }));
        let mut sa = Self::skeleton(now, config, rng, path, core, state);
        sa.nat = nat_status(&msg.payloads, msg.spi_i, 0, path);
        sa.fragmentation = fragmentation;
        sa.stats.messages_received += 1;
        sa.emit_ike_keys();
        sa.cache_and_send(Sel::Current, path, 0, Some(raw.to_vec()), vec![response]);
        sa.rearm();
        Ok(sa)
    }

    /// Reports the current generation's SK keys (for the Wireshark key log).
    pub(super) fn emit_ike_keys(&mut self) {
        let Some(keys) = &self.core.keys else {
            return;
        };
        self.events.push_back(IkeEvent::IkeKeys(IkeSaKeys {
            spi_i: self.core.spi_i,
            spi_r: self.core.spi_r,
            sk_ei: keys.sk.sk_ei.clone(),
            sk_er: keys.sk.sk_er.clone(),
        }));
    }

    /// Builds and sends (again, after a retry) the IKE_SA_INIT request.
    fn send_init_request(&mut self, now: SimTime) {
        let State::InitSent(init) = &mut self.state else {
            return;
        };
        let mut payloads = Vec::new();
        if let Some(cookie) = &init.cookie {
            payloads.push(Payload::Notify(NotifyPayload::new(
                NotifyType::COOKIE,
                cookie.clone(),
            )));
            if let Some(keys) = &init.puzzle_solution {
                payloads.push(Payload::PuzzleSolution(keys.clone()));
            }
        }
        payloads.push(Payload::Sa(ike_offer(&self.config.dh_groups, None)));
        payloads.push(Payload::Ke(KePayload {
            group: init.dh.group().transform_id(),
            data: init.dh_public.clone(),
        }));
        payloads.push(Payload::Nonce(init.ni.clone()));
        payloads.extend(nat_detection(self.core.spi_i, 0, self.local, self.remote));
        if self.config.fragmentation.negotiate {
            payloads.push(fragmentation_supported());
        }
        let bytes = self.core.header(ExchangeType::IKE_SA_INIT, 0, false);
        let bytes = Message { payloads, ..bytes }.emit();
        init.request = bytes.clone();
        self.core.next_request_id = 1;
        self.start_outstanding(
            now,
            Sel::Current,
            0,
            ExchangeType::IKE_SA_INIT,
            Request::SaInit,
            vec![bytes],
        );
    }

    /// An IKE_SA_INIT message for the current generation.
    pub(super) fn on_init_message(&mut self, now: SimTime, path: Path, msg: &Message, raw: &[u8]) {
        let expected_response = matches!(self.state, State::InitSent(_))
            && msg.flags.response
            && !msg.flags.initiator
            && msg.message_id == 0;
        if expected_response {
            self.on_init_response(now, path, msg, raw);
            return;
        }
        let retransmitted = self
            .core
            .last_response
            .as_ref()
            .and_then(|r| r.request.as_deref())
            .is_some_and(|request| request == raw);
        if retransmitted {
            self.resend_response(Sel::Current, path);
        } else {
            self.stats.dropped_unexpected += 1;
        }
    }

    /// The IKE_SA_INIT response, or a COOKIE / INVALID_KE / error answer.
    fn on_init_response(&mut self, now: SimTime, path: Path, msg: &Message, raw: &[u8]) {
        let payloads = &msg.payloads;
        if let Some(cookie) = notify(payloads, NotifyType::COOKIE) {
            self.stats.cookies_received += 1;
            let cookie = cookie.data.clone();
            // RFC 8019 §7.1.2: solve the puzzle if we can; with a PRF we lack (or a
            // malformed PUZZLE) just return the cookie, like a legacy initiator.
            let puzzle =
                notify(payloads, NotifyType::PUZZLE).and_then(|n| puzzle::parse_puzzle(&n.data));
            let (solution, delay) = match puzzle {
                Some((prf, difficulty)) => {
                    let (keys, attempts) = puzzle::solve(prf, &cookie, difficulty);
                    let delay = self.puzzle_cost(attempts);
                    self.stats.puzzles_solved += 1;
                    self.stats.puzzle_attempts += attempts;
                    self.stats.puzzle_time = self.stats.puzzle_time.saturating_add(delay);
                    (Some(keys), delay)
                }
                None => (None, SimDuration::ZERO),
            };
            self.retry_init_after(now, delay, |init| {
                init.cookie = Some(cookie);
                init.puzzle_solution = solution;
                true
            });
            return;
        }
        if let Some(invalid_ke) = notify(payloads, NotifyType::INVALID_KE_PAYLOAD) {
            self.stats.invalid_ke_received += 1;
            let wanted = <[u8; 2]>::try_from(invalid_ke.data.as_slice())
                .ok()
                .map(|b| crate::ike::wire::TransformId(u16::from_be_bytes(b)))
                .and_then(DhGroup::from_transform_id)
                .filter(|g| self.config.dh_groups.contains(g));
            let Some(group) = wanted else {
                self.fail(FailReason::NoProposalChosen);
                return;
            };
            let (dh, dh_public) = self
                .rng
                .then_park(|rng| group.generate(self.config.crypto, rng));
            self.retry_init(now, |init| {
                let changed = init.dh.group() != group;
                init.dh = dh;
                init.dh_public = dh_public;
                changed
            });
            return;
        }
        if let Some(ty) = error_notify(payloads) {
            match self.init_error {
                InitErrorAction::Immediate => self.fail(init_failure(ty)),
                InitErrorAction::Wait => {
                    if let State::InitSent(init) = &mut self.state {
                        init.last_error = Some(ty);
                    }
                }
            }
            return;
        }
        self.complete_init(now, path, msg, raw);
    }

    /// A normal IKE_SA_INIT response: keys, NAT detection, then IKE_AUTH.
    fn complete_init(&mut self, now: SimTime, path: Path, msg: &Message, raw: &[u8]) {
        let State::InitSent(init) = &self.state else {
            return;
        };
        let group = init.dh.group();
        let Some((answer, ke, nr)) = init_payloads(&msg.payloads) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        if check_answer(answer, ProtocolId::IKE, Some(group)).is_none() {
            self.fail(FailReason::NoProposalChosen);
            return;
        }
        let shared = (ke.group == group.transform_id() && msg.spi_r != 0)
            .then(|| init.dh.shared(&ke.data).ok())
            .flatten();
        let Some(g_ir) = shared else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let (ni, request) = (init.ni.clone(), init.request.clone());
        self.core.spi_r = msg.spi_r;
        let keys = crypto::IkeSaKeys::initial(PRF, &g_ir, &ni, nr, self.core.spi_i, msg.spi_r);
        self.core.keys = Some(Rc::new(CoreKeys::new(
            group,
            keys,
            true,
            self.config.crypto,
        )));
        self.core.outstanding = None;
        self.stats.exchanges_completed += 1;
        self.stats.messages_received += 1;
        self.nat = nat_status(&msg.payloads, self.core.spi_i, msg.spi_r, path);
        self.fragmentation = self.config.fragmentation.negotiate
            && notify(&msg.payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
        self.emit_ike_keys();
        if self.nat.any() && self.nat_t_port_float {
            // RFC 7296 §2.23: the initiator moves IKE (and ESP) to port 4500.
            self.local.set_port(NAT_T_PORT);
            self.remote.set_port(NAT_T_PORT);
        }
        self.start_auth(now, request, raw.to_vec(), ni, nr.to_vec());
    }

    /// The virtual time `attempts` PRF calls take at our hash rate (RFC 8019 §7.1.2).
    fn puzzle_cost(&self, attempts: u64) -> SimDuration {
        let rate = u128::from(self.config.puzzle_hash_rate_per_sec.max(1));
        let nanos = u128::from(attempts) * 1_000_000_000 / rate;
        SimDuration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Applies `change` to the initiator state and sends IKE_SA_INIT again, if `change`
    /// returns true and the retry budget allows.
    fn retry_init(&mut self, now: SimTime, change: impl FnOnce(&mut InitSent) -> bool) {
        self.retry_init_after(now, SimDuration::ZERO, change);
    }

    /// [`Self::retry_init`], with the retry leaving `delay` later (the time spent solving
    /// a puzzle); nothing is outstanding meanwhile.
    fn retry_init_after(
        &mut self,
        now: SimTime,
        delay: SimDuration,
        change: impl FnOnce(&mut InitSent) -> bool,
    ) {
        let State::InitSent(init) = &mut self.state else {
            return;
        };
        if !change(init) {
            self.stats.dropped_unexpected += 1;
            return;
        }
        init.retries += 1;
        if init.retries > self.config.max_init_retries {
            self.fail(FailReason::InitRetries);
            return;
        }
        self.core.outstanding = None;
        if delay > SimDuration::ZERO {
            init.send_at = Some(now.saturating_add(delay));
            return;
        }
        init.send_at = None;
        self.send_init_request(now);
    }

    /// The puzzle-solving delay is over: send the retried IKE_SA_INIT.
    pub(super) fn on_puzzle_solved(&mut self, now: SimTime) {
        let State::InitSent(init) = &mut self.state else {
            return;
        };
        if init.send_at.is_none_or(|at| at > now) {
            return;
        }
        init.send_at = None;
        self.send_init_request(now);
    }

    /// IKE_SA_INIT ran out of retransmissions.
    pub(super) fn on_init_gave_up(&mut self) {
        let reason = match &self.state {
            State::InitSent(init) => init.last_error.map_or(FailReason::Timeout, init_failure),
            _ => FailReason::Timeout,
        };
        self.fail(reason);
    }
}

/// The failure an IKE_SA_INIT error notify means.
const fn init_failure(ty: NotifyType) -> FailReason {
    if ty.0 == NotifyType::NO_PROPOSAL_CHOSEN.0 {
        FailReason::NoProposalChosen
    } else {
        FailReason::PeerError(ty)
    }
}

fn fragmentation_supported() -> Payload {
    Payload::Notify(NotifyPayload::new(
        NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
        Vec::new(),
    ))
}
