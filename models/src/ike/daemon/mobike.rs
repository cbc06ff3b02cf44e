//! MOBIKE in the daemon (RFC 4555) with the TCP rules of RFC 9329 §7.1.
//!
//! **Client** (the original initiator): [`MobikeCommand::Move`] moves the host's default
//! route (and the route to the gateway) to another interface, as a mobile client does when
//! it changes networks, and updates the IKE SA:
//!
//! 1. UDP first (RFC 9329 §7.1 SHOULD): the SA moves to the new address on port 4500 if it
//!    uses NAT traversal, else 500, resends its outstanding request there (RFC 4555 §3.5)
//!    and sends UPDATE_SA_ADDRESSES on the RFC 7296 retransmission schedule. A TCP SA
//!    leaves its connection for this (the connection is closed once the move is done).
//! 2. If the update is still unanswered after [`MobikePolicy::tcp_switch`], the daemon
//!    opens a new TCP connection ("IKETCP") and sends the **same request** (same Message
//!    ID, same bytes) on it; from then on the SA is a TCP SA. The answer moves ESP onto
//!    TCP, and a second UPDATE_SA_ADDRESSES with NAT-D for the connection's ports follows
//!    at once (RFC 4555 §3.5; RFC 9329 §7.1, Appendix B.4 step 7).
//! 3. When an update is answered, ESP follows (UDP, UDP-encapsulated on NAT, or TCP) and
//!    the superseded TCP connection is closed (RFC 9329 §7.1 SHOULD).
//!
//! **Gateway**: a valid UPDATE over a new TCP connection moves the SA onto it (the
//! `note_valid` rule of RFC 9329 §6.1) and ESP goes to TCP; one over UDP takes a TCP SA
//! back to UDP (after the return-routability check, which is skipped over TCP).
//!
//! [`MessageIdOnSwitch::New`] and [`NatDetectionOnSwitch::Stale`] are the non-compliant
//! alternatives for experiments.
//!
//! Metrics (on the host): `mobike_moves`, `mobike_updates_sent`, `mobike_updates_received`,
//! `mobike_handover_ns` (histogram, from the move to the answered update; also
//! `mobike_handover_udp_ns` / `mobike_handover_tcp_ns` by the path it ended on),
//! `mobike_tcp_switches`, `mobike_udp_returns`, `mobike_rr_checks`,
//! `mobike_nat_detected` (gateway: applied updates whose NAT-D showed a NAT),
//! `mobike_false_nat` (client: an update answered whose NAT-D was built for other ports,
//! and which showed no NAT: the gateway recorded a NAT that is not there),
//! `mobike_updates_refused`, `mobike_tcp_closed`, `mobike_no_sa`.

use std::net::SocketAddrV4;

use sim::{IfaceId, SimDuration, SimTime};

use super::policy::FallbackTrigger;
use super::{IkeDaemon, SaPath};
use crate::ike::sa::{IkeSa, MobikeEvent, NAT_T_PORT, SaId};
use crate::ip::{AppTimer, ConnId, HostCtx, Prefix};

/// Timer token of the UDP-to-TCP switch.
pub(super) const TIMER_MOBIKE: u64 = 5;

/// The IKE port (RFC 7296 §2).
const IKE_PORT: u16 = 500;

/// The Message ID of the request sent over TCP when an UPDATE_SA_ADDRESSES over UDP went
/// unanswered (RFC 9329 §7.1; DESIGN.md "Policies").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MessageIdOnSwitch {
    /// The same request, same Message ID and bytes: the exchange continues over TCP
    /// (RFC 9329 §7.1 MUST NOT start a new exchange).
    #[default]
    Keep,
    /// Abandon the UDP exchange and send a new UPDATE_SA_ADDRESSES with the next Message
    /// ID over TCP. The responder, whose window still expects the old ID, drops it
    /// (RFC 7296 §2.3); with no retransmission over TCP the exchange, and the SA, fail.
    New,
}

/// NAT detection after the switch to TCP (RFC 9329 §7.1; DESIGN.md "Policies").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NatDetectionOnSwitch {
    /// After the TCP answer, a new UPDATE_SA_ADDRESSES with NAT-D for the connection's
    /// ports (RFC 4555 §3.5; RFC 9329 §7.1 and Appendix B.4 step 7).
    #[default]
    Recompute,
    /// None: the NAT-D built for UDP stands, and the gateway believes in a NAT that is
    /// not there (counted as `mobike_false_nat`).
    Stale,
}

/// How the daemon carries out MOBIKE moves (RFC 9329 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MobikePolicy {
    /// When an unanswered UDP update goes to TCP, measured from the move; `None` stays on
    /// UDP. Default: after one unanswered retransmission, like the initial fallback
    /// (RFC 9329 §7.1: "configuration", reasonable defaults).
    pub tcp_switch: Option<FallbackTrigger>,
    /// Message ID of the request over TCP. Default: the same.
    pub message_id: MessageIdOnSwitch,
    /// NAT-D after the switch. Default: recomputed.
    pub nat_detection: NatDetectionOnSwitch,
}

impl Default for MobikePolicy {
    fn default() -> Self {
        Self {
            tcp_switch: Some(FallbackTrigger::default()),
            message_id: MessageIdOnSwitch::Keep,
            nat_detection: NatDetectionOnSwitch::Recompute,
        }
    }
}

/// A scripted address change of a MOBIKE client, delivered with `sim::Action::Custom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MobikeCommand {
    /// The host's traffic moves to interface `iface` (its default route and the route to
    /// the gateway), and the IKE SA follows (RFC 4555 §3.5).
    Move {
        /// The interface number.
        iface: u32,
    },
}

/// A move in progress.
#[derive(Debug, Clone, Copy)]
struct Handover {
    sa: SaId,
    started: SimTime,
    /// The SA was on TCP before the move.
    was_tcp: bool,
    /// The update went to TCP.
    switched: bool,
}

/// The daemon's MOBIKE state.
#[derive(Debug, Default)]
pub(super) struct MobikeState {
    policy: MobikePolicy,
    handover: Option<Handover>,
    /// Connections superseded by a move, closed once it is done.
    old_conns: Vec<ConnId>,
    timer: Option<AppTimer>,
}

impl IkeDaemon {
    /// Sets the MOBIKE policy (RFC 9329 §7.1).
    #[must_use]
    pub fn with_mobike(mut self, policy: MobikePolicy) -> Self {
        self.mobike.policy = policy;
        self
    }

    /// The MOBIKE policy.
    pub const fn mobike_policy(&self) -> &MobikePolicy {
        &self.mobike.policy
    }

    /// A scripted command.
    pub(super) fn on_mobike_command(&mut self, host: &mut HostCtx<'_, '_>, cmd: MobikeCommand) {
        match cmd {
            MobikeCommand::Move { iface } => self.mobike_move(host, iface),
        }
        self.pump(host);
    }

    /// Our established MOBIKE initiator SA.
    fn mobike_sa(&self) -> Option<SaId> {
        self.endpoint.as_ref()?.sas().find_map(|(id, sa)| {
            (sa.is_initiator() && sa.is_established() && sa.mobike_negotiated()).then_some(id)
        })
    }

    /// The host moves to interface `iface`; the SA follows over UDP first.
    fn mobike_move(&mut self, host: &mut HostCtx<'_, '_>, iface: u32) {
        let now = host.now();
        let Some(&addr) = host.addresses().get(iface as usize) else {
            return host.metrics().incr("mobike_bad_interface");
        };
        let Some(connect) = self.cfg.connect.as_ref() else {
            return;
        };
        let (peer, config) = (connect.peer, std::rc::Rc::clone(&connect.config));
        let (retransmit, fragment) = (config.retransmit.mode, config.fragmentation.send);
        host.set_route(
            Prefix::new(std::net::Ipv4Addr::UNSPECIFIED, 0).expect("/0 is a prefix"),
            IfaceId(iface),
        );
        host.set_route(Prefix::host(peer), IfaceId(iface));
        host.metrics().incr("mobike_moves");
        let Some(sa) = self.mobike_sa() else {
            return host.metrics().incr("mobike_no_sa");
        };
        let was_tcp = self.per_sa.clear_tcp(sa);
        if let Some(conn) = self.unbind_sa(sa) {
            self.mobike.old_conns.push(conn);
        }
        let Some(endpoint) = self.endpoint.as_mut() else {
            return;
        };
        endpoint.with_sa(now, sa, |s| {
            let port = if s.nat_status().any() || s.local().port() == NAT_T_PORT {
                NAT_T_PORT
            } else {
                IKE_PORT
            };
            s.set_retransmission(retransmit);
            s.set_fragment_sending(fragment);
            s.update_path(
                now,
                SocketAddrV4::new(addr, port),
                SocketAddrV4::new(peer, port),
                false,
            );
        });
        self.mobike.handover = Some(Handover {
            sa,
            started: now,
            was_tcp,
            switched: false,
        });
        if let Some(t) = self.mobike.timer.take() {
            host.cancel_timer(t);
        }
        if let Some(trigger) = self.mobike.policy.tcp_switch {
            let cfg = &config.retransmit;
            let after = match trigger {
                FallbackTrigger::After(d) => d,
                FallbackTrigger::Retransmissions(n) => (0..=n).fold(SimDuration::ZERO, |sum, k| {
                    sum.saturating_add(cfg.timeout(k))
                }),
            };
            self.mobike.timer = Some(host.set_timer(now.saturating_add(after), TIMER_MOBIKE));
        }
    }

    /// The UDP update had its time: send it over TCP (RFC 9329 §7.1).
    pub(super) fn on_mobike_timer(&mut self, host: &mut HostCtx<'_, '_>) {
        let now = host.now();
        self.mobike.timer = None;
        let Some(h) = self.mobike.handover.filter(|h| !h.switched) else {
            return;
        };
        let pending = self
            .endpoint
            .as_ref()
            .and_then(|e| e.sa(h.sa))
            .is_some_and(IkeSa::mobike_update_pending);
        let Some(peer) = self.cfg.connect.as_ref().map(|c| c.peer) else {
            return;
        };
        if !pending {
            return;
        }
        let remote = SocketAddrV4::new(peer, self.transport.tcp_port);
        let Some(conn) = self.tcp_open(host, remote, false) else {
            return;
        };
        let Some(local) = self.conns.get(&conn).map(|c| c.local) else {
            return;
        };
        host.metrics().incr("mobike_tcp_switches");
        self.per_sa.set_tcp(h.sa);
        self.bind_sa(h.sa, conn);
        if let Some(o) = self.originator.as_mut() {
            // The Originator re-opens this connection if it breaks (RFC 9329 §6.1).
            o.sa = Some(h.sa);
        }
        self.configure_tcp_sa(now, h.sa);
        let policy = self.mobike.policy;
        if let Some(endpoint) = self.endpoint.as_mut() {
            endpoint.with_sa(now, h.sa, |s| match policy.message_id {
                MessageIdOnSwitch::Keep => match policy.nat_detection {
                    NatDetectionOnSwitch::Recompute => s.update_path(now, local, remote, true),
                    NatDetectionOnSwitch::Stale => s.switch_transport(now, local, remote, true),
                },
                MessageIdOnSwitch::New => {
                    s.abandon_outstanding();
                    s.update_path(now, local, remote, true)
                }
            });
        }
        if let Some(h) = self.mobike.handover.as_mut() {
            h.switched = true;
        }
    }

    /// A MOBIKE event of an SA.
    pub(super) fn on_mobike_event(
        &mut self,
        host: &mut HostCtx<'_, '_>,
        sa: SaId,
        event: MobikeEvent,
    ) {
        match event {
            MobikeEvent::UpdateSent { .. } => host.metrics().incr("mobike_updates_sent"),
            MobikeEvent::UpdateReceived { nat, .. } => {
                host.metrics().incr("mobike_updates_received");
                if nat.any() {
                    host.metrics().incr("mobike_nat_detected");
                }
            }
            MobikeEvent::ReturnRoutabilityCheck => host.metrics().incr("mobike_rr_checks"),
            MobikeEvent::UpdateRefused(_) => host.metrics().incr("mobike_updates_refused"),
            MobikeEvent::PathUpdated {
                remote,
                nat,
                false_nat,
                ..
            } => {
                if false_nat {
                    host.metrics().incr("mobike_false_nat");
                }
                let tcp = self.per_sa.is_tcp(sa);
                self.per_sa.set_path(sa, SaPath { remote, nat, tcp });
                if nat.local_behind_nat {
                    self.arm_keepalive(host);
                }
                self.mobike_done(host, sa, tcp);
            }
        }
    }

    /// Client: an update was answered; the move is complete.
    fn mobike_done(&mut self, host: &mut HostCtx<'_, '_>, sa: SaId, tcp: bool) {
        let Some(h) = self.mobike.handover.filter(|h| h.sa == sa) else {
            return;
        };
        self.mobike.handover = None;
        if let Some(t) = self.mobike.timer.take() {
            host.cancel_timer(t);
        }
        let took = host.now().saturating_duration_since(h.started).as_nanos();
        let m = host.metrics();
        m.record("mobike_handover_ns", took);
        if tcp {
            m.record("mobike_handover_tcp_ns", took);
        } else {
            m.record("mobike_handover_udp_ns", took);
            if h.was_tcp {
                m.incr("mobike_udp_returns");
            }
        }
        // RFC 9329 §7.1: the initiator SHOULD close the old connection once migrated.
        let current = self.per_sa.conn(sa);
        for conn in std::mem::take(&mut self.mobike.old_conns) {
            if Some(conn) != current && self.conns.contains_key(&conn) {
                host.metrics().incr("mobike_tcp_closed");
                self.tcp_finish(host, conn);
            }
        }
    }

    /// Before a UDP IKE message is handled: its SA learns the transport, and the count of
    /// updates it applied is kept to see whether this message was one.
    pub(super) fn mobike_before_udp(&mut self, now: SimTime, bytes: &[u8]) -> Option<(SaId, u64)> {
        let sa = self.sa_of_message(bytes, false)?;
        self.endpoint.as_mut()?.with_sa(now, sa, |s| {
            s.set_mobike_transport(false);
            (sa, s.mobike_stats().updates_received)
        })
    }

    /// After a UDP IKE message was handled: if it was an update of a TCP SA, the SA moves
    /// back to UDP (RFC 9329 §7.1) before its answer is routed.
    pub(super) fn mobike_after_udp(
        &mut self,
        host: &mut HostCtx<'_, '_>,
        before: Option<(SaId, u64)>,
    ) {
        let Some((sa, updates)) = before else {
            return;
        };
        let now = host.now();
        let Some(endpoint) = self.endpoint.as_mut() else {
            return;
        };
        let applied = endpoint
            .sa(sa)
            .is_some_and(|s| s.mobike_stats().updates_received > updates);
        if !applied || !self.per_sa.clear_tcp(sa) {
            return;
        }
        let responder = self.cfg.endpoint.responder.as_ref();
        let mode = responder.map(|c| c.retransmit.mode).unwrap_or_default();
        let fragment = responder.is_none_or(|c| c.fragmentation.send);
        endpoint.with_sa(now, sa, |s| {
            s.set_retransmission(mode);
            s.set_fragment_sending(fragment);
        });
        host.metrics().incr("mobike_tcp_to_udp");
        if let Some(conn) = self.unbind_sa(sa) {
            self.arm_idle(host, conn);
        }
    }

    /// Before a TCP IKE message of `sa` is handled: the SA learns the transport.
    pub(super) fn mobike_note_transport(&mut self, now: SimTime, sa: Option<SaId>, tcp: bool) {
        if let (Some(sa), Some(endpoint)) = (sa, self.endpoint.as_mut()) {
            endpoint.with_sa(now, sa, |s| s.set_mobike_transport(tcp));
        }
    }
}
