//! MOBIKE (RFC 4555) with the TCP rules of RFC 9329 §7.1, sans IO.
//!
//! - **Negotiation** (RFC 4555 §4.2.1): both IKE_AUTH messages carry `N(MOBIKE_SUPPORTED)`
//!   when [`super::IkeConfig::mobike`] is set; the responder answers with it only when the
//!   request had it. [`IkeSa::mobike_negotiated`] says whether both sides support it.
//! - **Initiator** (RFC 4555 §3.5): [`IkeSa::update_path`] takes the new addresses at once,
//!   resends the outstanding request there, and (when the window of 1 is free) sends
//!   `INFORMATIONAL SK{N(UPDATE_SA_ADDRESSES), N(NAT_DETECTION_SOURCE_IP),
//!   N(NAT_DETECTION_DESTINATION_IP), [N(COOKIE2)], [address list]}` built for the new
//!   addresses. If the addresses change again before the answer ("pending_update"), a new
//!   UPDATE follows the answer. The answer's NAT-D (computed by the responder from the IP
//!   header it saw) gives the NAT status of the path the answer came on; over UDP a NAT
//!   found now floats IKE to port 4500 and announces that with another UPDATE.
//!   [`IkeSa::switch_transport`] is the RFC 9329 §7.1 move of the *same* exchange (same
//!   Message ID, same bytes) to TCP without a new UPDATE.
//! - **Responder** (RFC 4555 §3.5): an UPDATE_SA_ADDRESSES takes the IP header addresses
//!   as the IKE SA's, processes NAT-D (and NO_NATS_ALLOWED over UDP, §3.9), answers with
//!   its own NAT-D and the echoed COOKIE2, and over UDP runs a return-routability check
//!   (§3.7: an INFORMATIONAL with a fresh COOKIE2 the peer must echo; a wrong echo closes
//!   the IKE SA) before moving the IPsec SAs ([`IkeSa::esp_remote`]). Over TCP there is no
//!   check and NO_NATS_ALLOWED is ignored (RFC 9329 §7.1).
//! - **Additional addresses** (RFC 4555 §3.6): [`IkeSa::set_additional_addresses`] sends
//!   the list (ADDITIONAL_IP4_ADDRESS each, or NO_ADDITIONAL_ADDRESSES); the peer keeps
//!   the latest list ([`IkeSa::peer_additional_addresses`]).
//!
//! The SA does not know which transport a message used: the caller says so with
//! [`IkeSa::set_mobike_transport`] before handing a message in, and with the `over_tcp`
//! argument of [`IkeSa::update_path`].
//!
//! Simplifications: IPv4 only; NO_NATS_ALLOWED is checked when received but never sent
//! (our initiators always allow NAT traversal); UNACCEPTABLE_ADDRESSES is never sent (any
//! address pair is acceptable); the NAT-D checks of RFC 4555 §3.8 in liveness checks are
//! not sent.

use std::net::{Ipv4Addr, SocketAddrV4};

use sim::SimTime;

use super::core::Request;
use super::ike_sa::{IkeSa, Path, Sel, Task};
use super::info::{error_notify, notify};
use super::init::{nat_detection, nat_status};
use super::{FailReason, IkeEvent, NAT_T_PORT, NatStatus, Retransmission};
use crate::ike::wire::{ExchangeType, NotifyPayload, NotifyType, Payload};

/// Octets of a COOKIE2 we send (RFC 4555 §4.2.5: 8 to 64, unpredictable).
const COOKIE2_LEN: usize = 16;

/// Something the daemon acts on or counts, inside [`IkeEvent::Mobike`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MobikeEvent {
    /// Initiator: an UPDATE_SA_ADDRESSES request left (RFC 4555 §3.5).
    UpdateSent {
        /// Whether it was built for TCP (RFC 9329 §7.1).
        over_tcp: bool,
    },
    /// Responder: an UPDATE_SA_ADDRESSES was applied to the IKE SA (RFC 4555 §3.5).
    UpdateReceived {
        /// What its NAT-D showed.
        nat: NatStatus,
        /// Whether it came over TCP.
        over_tcp: bool,
    },
    /// Responder: a return-routability check started (RFC 4555 §3.7).
    ReturnRoutabilityCheck,
    /// The IPsec SAs move to this path: the initiator's UPDATE was answered on it, or the
    /// responder applied an UPDATE (after its return-routability check, over UDP).
    PathUpdated {
        /// Our address.
        local: SocketAddrV4,
        /// The peer's address: where ESP goes.
        remote: SocketAddrV4,
        /// The NAT status of the path; over UDP, a NAT means UDP-encapsulated ESP.
        nat: NatStatus,
        /// Whether the path is TCP (RFC 9329 §7.1: ESP follows IKE onto TCP).
        over_tcp: bool,
        /// Initiator: the answered request's NAT-D was built for other addresses or ports
        /// than those it travelled (it was switched from UDP to TCP without a corrected
        /// UPDATE) and the answer shows no NAT: the responder has just detected a NAT that
        /// is not there (RFC 9329 §7.1).
        false_nat: bool,
    },
    /// Initiator: the responder refused the update with this error notify
    /// (UNACCEPTABLE_ADDRESSES or UNEXPECTED_NAT_DETECTED, RFC 4555 §4.1).
    UpdateRefused(NotifyType),
}

/// MOBIKE counters of one IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MobikeStats {
    /// UPDATE_SA_ADDRESSES requests sent (initiator).
    pub updates_sent: u64,
    /// UPDATE_SA_ADDRESSES requests answered (initiator).
    pub updates_answered: u64,
    /// Answers ignored because the addresses changed again meanwhile (RFC 4555 §3.5).
    pub stale_answers: u64,
    /// UPDATE_SA_ADDRESSES requests applied (responder).
    pub updates_received: u64,
    /// UPDATE_SA_ADDRESSES requests older than one applied, answered only (responder).
    pub stale_updates: u64,
    /// Applied updates whose NAT-D showed a NAT (responder).
    pub nat_detected: u64,
    /// Return-routability checks started (responder).
    pub rr_checks: u64,
    /// Answered updates whose request NAT-D did not fit the path (initiator; see
    /// [`MobikeEvent::PathUpdated::false_nat`]).
    pub false_nat: u64,
    /// Outstanding requests abandoned by [`IkeSa::abandon_outstanding`].
    pub abandoned: u64,
}

/// How an SA answers a COOKIE2 (RFC 4555 §4.2.5). Only [`Cookie2Echo::Copy`] is
/// compliant; the other exists to test a peer that fails the return-routability check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cookie2Echo {
    /// Copy it into the response (MUST).
    #[default]
    Copy,
    /// Answer with altered cookie octets (a peer not on the path it claims).
    Corrupt,
}

/// An exchange MOBIKE queues for the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MobikeTask {
    /// UPDATE_SA_ADDRESSES for the current addresses (initiator).
    Update,
    /// A return-routability check of the peer's new address (responder).
    ReturnRoutability,
    /// The additional-address list (initiator).
    Addresses,
}

/// A MOBIKE request of ours awaiting its answer.
#[derive(Debug)]
pub(crate) enum MobikeRequest {
    /// UPDATE_SA_ADDRESSES.
    Update {
        /// The address generation it was built for.
        generation: u64,
        /// The addresses its NAT-D was built for.
        local: SocketAddrV4,
        remote: SocketAddrV4,
        /// The COOKIE2 it carried, to check the echo.
        cookie2: Option<Vec<u8>>,
    },
    /// A return-routability check.
    ReturnRoutability {
        /// The address generation it checks.
        generation: u64,
        /// The cookie the echo must equal.
        cookie2: Vec<u8>,
    },
    /// The additional-address list.
    Addresses,
}

/// The MOBIKE state of an IKE SA.
#[derive(Debug, Default)]
pub(crate) struct Mobike {
    /// Both sides sent MOBIKE_SUPPORTED (RFC 4555 §4.2.1).
    negotiated: bool,
    /// Initiator: the addresses changed and no UPDATE for them has left yet.
    pending_update: bool,
    /// Bumped at every address change (initiator) or applied update (responder).
    generation: u64,
    /// The transport of the current path (set by the caller).
    over_tcp: bool,
    /// Responder: where ESP goes while a return-routability check is pending.
    esp_remote: Option<SocketAddrV4>,
    /// Responder: Message ID of the last UPDATE applied, to ignore older ones.
    last_update_id: Option<u32>,
    /// Our additional addresses to announce (`None`: never announced).
    local_additional: Option<Vec<Ipv4Addr>>,
    /// The peer's latest additional-address list.
    peer_additional: Vec<Ipv4Addr>,
    /// The addresses of the last protected message received, for answers.
    last_path: Option<(SocketAddrV4, SocketAddrV4)>,
    echo: Cookie2Echo,
    /// Boxed at the first count: most SAs never use MOBIKE (72 bytes per SA otherwise).
    stats: Option<Box<MobikeStats>>,
}

impl Mobike {
    fn stats_mut(&mut self) -> &mut MobikeStats {
        self.stats.get_or_insert_default()
    }

    /// Notes the addresses a protected message arrived on.
    pub(crate) const fn note_path(&mut self, local: SocketAddrV4, remote: SocketAddrV4) {
        self.last_path = Some((local, remote));
    }
}

/// A notify payload without data.
fn empty(ty: NotifyType) -> Payload {
    Payload::Notify(NotifyPayload::new(ty, Vec::new()))
}

/// Whether `payloads` carries a notify of type `ty`.
fn has(payloads: &[Payload], ty: NotifyType) -> bool {
    notify(payloads, ty).is_some()
}

/// The NO_NATS_ALLOWED data for a message from `src` to `dst` (RFC 4555 §4.2.6).
fn no_nats_data(src: SocketAddrV4, dst: SocketAddrV4) -> Vec<u8> {
    let mut d = Vec::with_capacity(12);
    d.extend_from_slice(&src.ip().octets());
    d.extend_from_slice(&dst.ip().octets());
    d.extend_from_slice(&src.port().to_be_bytes());
    d.extend_from_slice(&dst.port().to_be_bytes());
    d
}

impl IkeSa {
    /// Whether both sides announced MOBIKE in IKE_AUTH (RFC 4555 §4.2.1).
    pub const fn mobike_negotiated(&self) -> bool {
        self.mobike.negotiated
    }

    /// MOBIKE counters.
    pub fn mobike_stats(&self) -> &MobikeStats {
        const NONE: &MobikeStats = &MobikeStats {
            updates_sent: 0,
            updates_answered: 0,
            stale_answers: 0,
            updates_received: 0,
            stale_updates: 0,
            nat_detected: 0,
            rr_checks: 0,
            false_nat: 0,
            abandoned: 0,
        };
        self.mobike.stats.as_deref().unwrap_or(NONE)
    }

    /// Where ESP to the peer goes: the IKE SA's address, except on a responder while a
    /// return-routability check of a new address is pending, when the IPsec SAs still use
    /// the old one (RFC 4555 §3.5: "update the IPsec SAs after the check").
    pub fn esp_remote(&self) -> SocketAddrV4 {
        self.mobike.esp_remote.unwrap_or(self.remote)
    }

    /// The peer's additional addresses, as last announced (RFC 4555 §3.6).
    pub fn peer_additional_addresses(&self) -> &[Ipv4Addr] {
        &self.mobike.peer_additional
    }

    /// Whether an UPDATE_SA_ADDRESSES of ours is outstanding or still to be sent.
    pub fn mobike_update_pending(&self) -> bool {
        self.mobike.pending_update
            || matches!(
                self.core.outstanding.as_ref().map(|o| &o.request),
                Some(Request::Mobike(MobikeRequest::Update { .. }))
            )
    }

    /// The transport the next messages of this SA travel on (RFC 9329 §7.1: no
    /// return-routability check and no NO_NATS_ALLOWED check over TCP).
    pub const fn set_mobike_transport(&mut self, over_tcp: bool) {
        self.mobike.over_tcp = over_tcp;
    }

    /// How this SA answers COOKIE2 (default: copy it, RFC 4555 §4.2.5).
    pub const fn set_cookie2_echo(&mut self, echo: Cookie2Echo) {
        self.mobike.echo = echo;
    }

    /// Initiator: our addresses changed (RFC 4555 §3.5). The IKE SA uses `local` and
    /// `remote` from now on; the outstanding request, if any, is resent there at once;
    /// an UPDATE_SA_ADDRESSES with NAT-D for the new addresses follows when the window is
    /// free (and after the answer to an older UPDATE, whose NAT-D results are then
    /// superseded). Returns false, doing nothing, unless this is the established original
    /// initiator of a MOBIKE SA.
    pub fn update_path(
        &mut self,
        now: SimTime,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        over_tcp: bool,
    ) -> bool {
        if !self.switch_transport(now, local, remote, over_tcp) {
            return false;
        }
        self.mobike.pending_update = true;
        self.queue(Task::Mobike(MobikeTask::Update));
        self.rearm();
        true
    }

    /// Initiator: moves the SA to `local`/`remote` (e.g. onto a new TCP connection) and
    /// resends the outstanding request there, bit for bit (RFC 9329 §7.1: the UDP
    /// exchange continues over TCP with the same Message ID), *without* a new
    /// UPDATE_SA_ADDRESSES. The caller that wants corrected NAT-D calls
    /// [`Self::update_path`] instead. Returns false unless MOBIKE is usable.
    pub fn switch_transport(
        &mut self,
        now: SimTime,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        over_tcp: bool,
    ) -> bool {
        if !(self.mobike.negotiated && self.original_initiator && self.is_established()) {
            return false;
        }
        self.local = local;
        self.remote = remote;
        self.mobike.over_tcp = over_tcp;
        self.mobike.generation += 1;
        // The new path gets a fresh wait: the schedule of the transport it is on now
        // (RFC 9329 §6.2 over TCP, RFC 7296 §2.1 over UDP).
        let policy = self.config.retransmit;
        if let Some(out) = self.core.outstanding.as_mut() {
            let wait = match self.retransmission {
                Retransmission::Timers => self
                    .rng
                    .then_park(|rng| policy.jittered_timeout(out.tries, rng)),
                Retransmission::Off => policy.give_up_after(),
            };
            out.deadline = now.saturating_add(wait);
        }
        self.resend_outstanding();
        self.rearm();
        true
    }

    /// Gives up our outstanding request without failing the SA, so that the next one can
    /// start (the non-compliant "new Message ID on the switch to TCP" of RFC 9329 §7.1:
    /// the peer's window still expects the abandoned ID). Returns whether there was one.
    pub fn abandon_outstanding(&mut self) -> bool {
        let abandoned = self.core.outstanding.take().is_some();
        if abandoned {
            self.mobike.stats_mut().abandoned += 1;
            self.rearm();
        }
        abandoned
    }

    /// Initiator: announces our other addresses (RFC 4555 §3.6): a list of
    /// ADDITIONAL_IP4_ADDRESS, or NO_ADDITIONAL_ADDRESSES when empty. It replaces any
    /// earlier list; UPDATE_SA_ADDRESSES requests repeat it.
    pub fn set_additional_addresses(&mut self, addresses: Vec<Ipv4Addr>) {
        if !self.mobike.negotiated {
            return;
        }
        self.mobike.local_additional = Some(addresses);
        self.queue(Task::Mobike(MobikeTask::Addresses));
        self.rearm();
    }

    /// IKE_AUTH request: announce MOBIKE (RFC 4555 §4.2.1).
    pub(super) fn mobike_offer(&self, inner: &mut Vec<Payload>) {
        if self.config.mobike {
            inner.push(empty(NotifyType::MOBIKE_SUPPORTED));
        }
    }

    /// IKE_AUTH response received: MOBIKE is on if we offered it and the peer answered it.
    pub(super) fn mobike_note_answer(&mut self, payloads: &[Payload]) {
        self.mobike.negotiated = self.config.mobike && has(payloads, NotifyType::MOBIKE_SUPPORTED);
    }

    /// IKE_AUTH request received: answer MOBIKE_SUPPORTED if both support it.
    pub(super) fn mobike_answer(&mut self, payloads: &[Payload], inner: &mut Vec<Payload>) {
        self.mobike.negotiated = self.config.mobike && has(payloads, NotifyType::MOBIKE_SUPPORTED);
        if self.mobike.negotiated {
            inner.push(empty(NotifyType::MOBIKE_SUPPORTED));
        }
    }

    /// A fresh COOKIE2 from the SA's stream.
    fn cookie2(&mut self) -> Vec<u8> {
        let mut c = vec![0; COOKIE2_LEN];
        self.rng.then_park(|rng| rng.fill_bytes(&mut c));
        c
    }

    /// The address-list notifies to send, if a list was set.
    fn address_list(&self) -> Vec<Payload> {
        match &self.mobike.local_additional {
            None => Vec::new(),
            Some(list) if list.is_empty() => vec![empty(NotifyType::NO_ADDITIONAL_ADDRESSES)],
            Some(list) => list
                .iter()
                .map(|a| {
                    Payload::Notify(NotifyPayload::new(
                        NotifyType::ADDITIONAL_IP4_ADDRESS,
                        a.octets().to_vec(),
                    ))
                })
                .collect(),
        }
    }

    /// Starts a queued MOBIKE exchange (the window is free).
    pub(super) fn start_mobike_task(&mut self, now: SimTime, task: MobikeTask) {
        let (spi_i, spi_r) = (self.core.spi_i, self.core.spi_r);
        match task {
            MobikeTask::Update => {
                if !self.mobike.pending_update {
                    return;
                }
                self.mobike.pending_update = false;
                let (local, remote) = (self.local, self.remote);
                let mut inner = vec![empty(NotifyType::UPDATE_SA_ADDRESSES)];
                inner.extend(nat_detection(spi_i, spi_r, local, remote));
                // RFC 9329 §7.1: no return-routability check over TCP.
                let cookie2 = (!self.mobike.over_tcp && self.config.mobike_return_routability)
                    .then(|| self.cookie2());
                if let Some(c) = &cookie2 {
                    inner.push(Payload::Notify(NotifyPayload::new(
                        NotifyType::COOKIE2,
                        c.clone(),
                    )));
                }
                inner.extend(self.address_list());
                let request = MobikeRequest::Update {
                    generation: self.mobike.generation,
                    local,
                    remote,
                    cookie2,
                };
                self.mobike.stats_mut().updates_sent += 1;
                self.send_request(
                    now,
                    Sel::Current,
                    ExchangeType::INFORMATIONAL,
                    &inner,
                    Request::Mobike(request),
                );
                let over_tcp = self.mobike.over_tcp;
                self.events
                    .push_back(IkeEvent::Mobike(MobikeEvent::UpdateSent { over_tcp }));
            }
            MobikeTask::ReturnRoutability => {
                if self.mobike.esp_remote.is_none() {
                    return;
                }
                let cookie2 = self.cookie2();
                let inner = [Payload::Notify(NotifyPayload::new(
                    NotifyType::COOKIE2,
                    cookie2.clone(),
                ))];
                self.mobike.stats_mut().rr_checks += 1;
                let request = MobikeRequest::ReturnRoutability {
                    generation: self.mobike.generation,
                    cookie2,
                };
                self.send_request(
                    now,
                    Sel::Current,
                    ExchangeType::INFORMATIONAL,
                    &inner,
                    Request::Mobike(request),
                );
                self.events
                    .push_back(IkeEvent::Mobike(MobikeEvent::ReturnRoutabilityCheck));
            }
            MobikeTask::Addresses => {
                let inner = self.address_list();
                if inner.is_empty() {
                    return;
                }
                self.send_request(
                    now,
                    Sel::Current,
                    ExchangeType::INFORMATIONAL,
                    &inner,
                    Request::Mobike(MobikeRequest::Addresses),
                );
            }
        }
    }

    /// Both roles: the MOBIKE part of an INFORMATIONAL request; returns the payloads to
    /// add to the response (RFC 4555 §3.5, §3.6, §3.7, §3.8, §3.9).
    pub(super) fn mobike_on_request(
        &mut self,
        path: Path,
        id: u32,
        payloads: &[Payload],
    ) -> Vec<Payload> {
        let mut extra = Vec::new();
        if !self.mobike.negotiated {
            return extra;
        }
        let (spi_i, spi_r) = (self.core.spi_i, self.core.spi_r);
        self.mobike_note_addresses(payloads);
        let update = has(payloads, NotifyType::UPDATE_SA_ADDRESSES) && !self.original_initiator;
        let natd = has(payloads, NotifyType::NAT_DETECTION_DESTINATION_IP);
        if update && let Some(refusal) = self.mobike_apply_update(path, id, payloads) {
            return vec![empty(refusal)];
        }
        if update || natd {
            // RFC 4555 §3.5 and §3.8: NAT-D in a request is answered with ours.
            extra.extend(nat_detection(spi_i, spi_r, path.local, path.remote));
        }
        if let Some(cookie) = notify(payloads, NotifyType::COOKIE2) {
            let mut echo = cookie.data.clone();
            if self.mobike.echo == Cookie2Echo::Corrupt {
                for b in &mut echo {
                    *b ^= 0xff;
                }
            }
            extra.push(Payload::Notify(NotifyPayload::new(
                NotifyType::COOKIE2,
                echo,
            )));
        }
        extra
    }

    /// Keeps the peer's additional-address list (RFC 4555 §3.6: each list replaces the
    /// previous one).
    fn mobike_note_addresses(&mut self, payloads: &[Payload]) {
        if has(payloads, NotifyType::NO_ADDITIONAL_ADDRESSES) {
            self.mobike.peer_additional.clear();
            return;
        }
        let list: Vec<Ipv4Addr> = payloads
            .iter()
            .filter_map(|p| match p {
                Payload::Notify(n) if n.ty == NotifyType::ADDITIONAL_IP4_ADDRESS => {
                    <[u8; 4]>::try_from(n.data.as_slice())
                        .ok()
                        .map(Ipv4Addr::from)
                }
                _ => None,
            })
            .collect();
        if !list.is_empty() {
            self.mobike.peer_additional = list;
        }
    }

    /// Responder: applies an UPDATE_SA_ADDRESSES that arrived on `path`; returns the
    /// error notify to answer with instead, if it is refused.
    fn mobike_apply_update(
        &mut self,
        path: Path,
        id: u32,
        payloads: &[Payload],
    ) -> Option<NotifyType> {
        if self
            .mobike
            .last_update_id
            .is_some_and(|last| id.wrapping_sub(last) > u32::MAX / 2)
        {
            // RFC 4555 §3.5: an older update is answered but not applied.
            self.mobike.stats_mut().stale_updates += 1;
            return None;
        }
        let over_tcp = self.mobike.over_tcp;
        if !over_tcp && let Some(n) = notify(payloads, NotifyType::NO_NATS_ALLOWED) {
            // RFC 4555 §3.9: the addresses as sent must be those received. Ignored over
            // TCP (RFC 9329 §7.1).
            if n.data != no_nats_data(path.remote, path.local) {
                return Some(NotifyType::UNEXPECTED_NAT_DETECTED);
            }
        }
        self.mobike.last_update_id = Some(id);
        let old_esp = self.esp_remote();
        // RFC 4555 §3.5: the IP header addresses become the IKE SA's.
        self.local = path.local;
        self.remote = path.remote;
        let nat = nat_status(payloads, self.core.spi_i, self.core.spi_r, path);
        self.nat = nat;
        self.mobike.generation += 1;
        self.mobike.stats_mut().updates_received += 1;
        if nat.any() {
            self.mobike.stats_mut().nat_detected += 1;
        }
        self.events
            .push_back(IkeEvent::Mobike(MobikeEvent::UpdateReceived {
                nat,
                over_tcp,
            }));
        if !over_tcp && self.config.mobike_return_routability {
            // RFC 4555 §3.7: check the new address before moving the IPsec SAs.
            self.mobike.esp_remote = Some(old_esp);
            self.queue(Task::Mobike(MobikeTask::ReturnRoutability));
        } else {
            self.mobike.esp_remote = None;
            self.push_path_updated(false);
        }
        None
    }

    /// Reports that the IPsec SAs move to the current path.
    fn push_path_updated(&mut self, false_nat: bool) {
        self.events
            .push_back(IkeEvent::Mobike(MobikeEvent::PathUpdated {
                local: self.local,
                remote: self.remote,
                nat: self.nat,
                over_tcp: self.mobike.over_tcp,
                false_nat,
            }));
    }

    /// The answer to one of our MOBIKE requests.
    pub(super) fn on_mobike_response(&mut self, request: MobikeRequest, payloads: &[Payload]) {
        let (local, remote) = self.mobike.last_path.unwrap_or((self.local, self.remote));
        match request {
            MobikeRequest::Update {
                generation,
                local: built_local,
                remote: built_remote,
                cookie2,
            } => {
                if let Some(cookie) = cookie2 {
                    let echoed = notify(payloads, NotifyType::COOKIE2).map(|n| &n.data);
                    if echoed != Some(&cookie) {
                        // RFC 4555 §4.2.5: a COOKIE2 not echoed closes the IKE SA.
                        self.fail(FailReason::ReturnRoutabilityFailed);
                        return;
                    }
                }
                if let Some(ty) = error_notify(payloads) {
                    self.events
                        .push_back(IkeEvent::Mobike(MobikeEvent::UpdateRefused(ty)));
                    return;
                }
                self.mobike.stats_mut().updates_answered += 1;
                if (local, remote) != (self.local, self.remote) {
                    // Answered on a path we have left: nothing learnt about the current one.
                    self.mobike.stats_mut().stale_answers += 1;
                    return;
                }
                if generation != self.mobike.generation {
                    self.mobike.stats_mut().stale_answers += 1;
                }
                let path = Path { local, remote };
                let nat = nat_status(payloads, self.core.spi_i, self.core.spi_r, path);
                self.nat = nat;
                let false_nat = (built_local, built_remote) != (local, remote) && !nat.any();
                if false_nat {
                    self.mobike.stats_mut().false_nat += 1;
                }
                if !self.mobike.over_tcp
                    && nat.any()
                    && self.local.port() != NAT_T_PORT
                    && self.nat_t_port_float
                {
                    // RFC 4555 §3.5, RFC 7296 §2.23: NAT found on the new path: move to
                    // 4500 and tell the peer with another update.
                    self.local.set_port(NAT_T_PORT);
                    self.remote.set_port(NAT_T_PORT);
                    self.mobike.generation += 1;
                    self.mobike.pending_update = true;
                    self.queue(Task::Mobike(MobikeTask::Update));
                }
                self.push_path_updated(false_nat);
            }
            MobikeRequest::ReturnRoutability {
                generation,
                cookie2,
            } => {
                let echoed = notify(payloads, NotifyType::COOKIE2).map(|n| &n.data);
                if echoed != Some(&cookie2) {
                    // RFC 4555 §3.7, §4.2.5: the IKE SA MUST be closed.
                    self.fail(FailReason::ReturnRoutabilityFailed);
                    return;
                }
                if generation == self.mobike.generation {
                    self.mobike.esp_remote = None;
                    self.push_path_updated(false);
                }
            }
            MobikeRequest::Addresses => {}
        }
    }
}
