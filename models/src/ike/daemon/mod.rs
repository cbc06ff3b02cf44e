//! The IKE daemon: an [`App`] that runs an [`IkeEndpoint`] on a host and the ESP data plane
//! behind it.
//!
//! It binds UDP 500 and 4500 and IP protocol 50, feeds IKE messages to the endpoint and
//! sends what it produces (adding the non-ESP marker on port 4500, RFC 3948 §2.2), installs
//! Child SAs into an ESP SA database, claims their remote traffic selectors as host tunnels
//! (outbound packets reach [`App::on_tunnel`] and leave as ESP, in UDP 4500 when a NAT was
//! detected, else as IP protocol 50), decapsulates inbound ESP back into the host, sends NAT
//! keepalives when behind a NAT (RFC 3948 §4), and keeps the Wireshark key log.
//!
//! Over TCP (RFC 9329) it is a TCP Originator (initiator) or Responder: see the `tcp`
//! module, and [`TransportPolicy`] for the transport selection (UDP, TCP, UDP then TCP,
//! RFC 9329 §5.1) and the knobs of RFC 9329 §6. [`IkeDaemon::new`] keeps UDP only for the
//! initiator; [`IkeDaemon::with_transport`] sets the policy.
//!
//! Metrics (on the host): `ike_established`, `ike_time_to_establish_ns` (histogram),
//! `ike_failed`, `ike_deleted`, `ike_rekeyed`, `child_sa_up`, `child_sa_rekeyed`,
//! `child_sa_down`, `ike_messages_sent`, `ike_bytes_sent`, `ike_messages_received`,
//! `esp_packets_out`, `esp_bytes_out`, `esp_packets_in`, `esp_bytes_in`,
//! `esp_dropped_<reason>`, `esp_no_sa`, `nat_keepalives_sent`, `nat_keepalives_received`,
//! and per SA the endpoint's counters at the end (`ike_retransmits`, ...). Transport:
//! `ike_setup_total_ns` (histogram: from the first attempt, fallback included),
//! `ike_fail_total_ns` (histogram: from the first attempt to a failure),
//! `ike_transport_fallbacks`, `ike_udp_abandoned`, bytes by kind (`ike_udp_bytes_sent`,
//! `ike_tcp_bytes_sent` (framing included), `esp_udp_bytes_out`, `esp_ip_bytes_out`,
//! `esp_tcp_bytes_out`, `esp_tcp_bytes_in`, `keepalive_udp_bytes_sent`,
//! `keepalive_tcp_bytes_sent`, `tcp_prefix_bytes_sent`), `tcp_prefixes_sent`,
//! `tcp_prefixes_received`, `ike_tcp_accepted`, `tcp_reconnections`, `tcp_reconnect_attempts`,
//! `ike_requests_resent_after_reconnect`, `tcp_keepalives_dropped`, `tcp_framing_errors`,
//! `tcp_closed_corrupted`, `tcp_closed_auth_failure`, `tcp_idle_closed`,
//! `tcp_cookie_closed`, `tcp_prefix_timeouts`, `tcp_sa_moved`, `esp_dropped_backpressure`,
//! `esp_dropped_not_established`, `esp_dropped_no_connection`. Exchange times:
//! `ike_create_child_ns` (histogram: each CREATE_CHILD_SA exchange this host initiated, i.e.
//! Child and IKE SA rekeys, from the request's first send to the first response, read from
//! the clear IKE header).

mod ha;
mod mobike;
mod policy;
mod sa_index;
mod tcp;

use std::any::Any;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use sim::{SimDuration, SimTime};

pub use self::ha::HaMember;
pub use self::mobike::{MessageIdOnSwitch, MobikeCommand, MobikePolicy, NatDetectionOnSwitch};
pub use self::policy::{
    CookieHold, FallbackTrigger, ReconnectPolicy, TcpRetransmit, TransportPolicy,
    TransportSelection,
};
use self::tcp::TcpConn;
use super::sa::{
    ChildSaId, ChildSaKeys, EndpointConfig, IkeConfig, IkeEndpoint, IkeEvent, NAT_T_PORT,
    NatStatus, Retransmission, SaId, TcpOverrides, Transmit,
};
use super::wire::AddressRange;
use crate::CryptoMode;
use crate::esp::{
    EspDropReason, EspSaKeys, InboundSa, KeyLog, OutboundSa, ReplayWindowSize, SaParams, Sad,
    SelectorId, UdpEncapPayload,
};
use crate::ip::{App, AppTimer, ConnId, HostCtx, Prefix, PrefixTable};
use crate::small_map::{SmallIndex, SmallMap, SmallSet};
use crate::traffic::Start;
use crate::wire::{IpProtocol, Ipv4Packet, tcp_encap::NON_ESP_MARKER};

/// The IKE port (RFC 7296 §2).
const IKE_PORT: u16 = 500;

/// An IKE SA this daemon starts as initiator.
#[derive(Clone, Debug)]
pub struct Connect {
    /// The responder's address.
    pub peer: Ipv4Addr,
    /// The SA's configuration, shared by the SAs the daemon starts.
    pub config: Rc<IkeConfig>,
    /// When to start.
    pub start: Start,
}

/// Configuration of an [`IkeDaemon`].
#[derive(Clone, Debug)]
pub struct IkeDaemonConfig {
    /// The endpoint: responder configuration (a gateway) or none (a pure initiator).
    pub endpoint: EndpointConfig,
    /// The SA to initiate, if any.
    pub connect: Option<Connect>,
    /// NAT keepalive interval when behind a NAT (RFC 3948 §4: 20 s is common); `None`
    /// sends none.
    pub nat_keepalive: Option<SimDuration>,
    /// Anti-replay window of inbound ESP SAs (RFC 4303 §3.4.3).
    pub replay_window: ReplayWindowSize,
}

impl IkeDaemonConfig {
    /// Sets the [`CryptoMode`] of every SA the daemon makes, as initiator and responder.
    pub fn with_crypto(mut self, mode: CryptoMode) -> Self {
        if let Some(c) = self.endpoint.responder.as_mut() {
            c.crypto = mode;
        }
        if let Some(c) = self.connect.as_mut() {
            Rc::make_mut(&mut c.config).crypto = mode;
        }
        self
    }
}

/// Where one IKE SA's traffic goes, and whether it is NATed.
#[derive(Clone, Copy, Debug)]
struct SaPath {
    remote: SocketAddrV4,
    nat: NatStatus,
    /// The SA runs over TCP (RFC 9329): IKE and ESP go on its connection.
    tcp: bool,
}

/// Where an IKE message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Udp,
    /// On this connection; `None` when the SA has none right now.
    Tcp(Option<ConnId>),
}

/// The initiator's attempt.
#[derive(Debug)]
struct Originator {
    /// The responder's TCP endpoint.
    peer: SocketAddrV4,
    /// The SA over TCP, once started.
    sa: Option<SaId>,
    /// The SA over UDP, while it is tried.
    udp_sa: Option<SaId>,
    /// When the first attempt started.
    started: SimTime,
    /// Reconnect attempts in a row without success.
    attempts: u32,
    reconnect_timer: Option<AppTimer>,
}

/// A Child SA as installed.
#[derive(Clone, Debug)]
struct Child {
    sa: SaId,
    selector: SelectorId,
}

/// A tunnel's outbound SA: which IKE SA it belongs to.
#[derive(Clone, Copy, Debug)]
struct Route {
    sa: SaId,
    selector: SelectorId,
}

const TIMER_CONNECT: u64 = 0;
const TIMER_WAKE: u64 = 1;
const TIMER_KEEPALIVE: u64 = 2;
const TIMER_FALLBACK: u64 = 3;
const TIMER_RECONNECT: u64 = 4;

/// Runs IKE and ESP on a host. See the module documentation.
pub struct IkeDaemon {
    cfg: IkeDaemonConfig,
    endpoint: Option<IkeEndpoint>,
    sad: Sad,
    /// Kept only when asked for ([`IkeDaemon::with_key_log`]): the keys of every SA ever
    /// made are ~1 kB per client that a run without Wireshark output never reads.
    key_log: Option<KeyLog>,
    /// Each SA's ESP path, transport and connection.
    per_sa: sa_index::SaIndex,
    /// The inner address each of our initiator SAs added to the host (RFC 7296 §2.19),
    /// removed again when the SA ends.
    inner_of: SmallIndex<SaId, Ipv4Addr>,
    /// Child SAs by inbound SPI.
    children: SmallIndex<u32, Child>,
    /// Outbound SAs by the remote selector they protect.
    routes: PrefixTable<Route>,
    selectors: SmallMap<Prefix, SelectorId>,
    wake: Option<(SimTime, AppTimer)>,
    keepalive: Option<AppTimer>,
    transport: TransportPolicy,
    /// TCP-encapsulation connections.
    /// Boxed: a growing table moves its values, and most hosts hold one connection.
    conns: SmallIndex<ConnId, Box<TcpConn>>,
    /// Connections by serial (for timer tokens).
    serials: SmallIndex<u64, ConnId>,
    /// Connections by (local, remote) address and port.
    conn_by_tuple: SmallIndex<(SocketAddrV4, SocketAddrV4), ConnId>,
    next_serial: u64,
    /// `per_sa`'s connections the other way round: the SAs that send on a connection,
    /// found without a scan of every SA (a gateway's idle timers and dropped connections
    /// asked that of 100,000 SAs each).
    conn_sas: SmallSet<(ConnId, SaId)>,
    /// UDP attempts given up for TCP: their end is not counted as a deletion.
    abandoned: SmallSet<SaId>,
    originator: Option<Originator>,
    /// Connections to close once the current output is queued (COOKIE answers).
    pump_pending_close: Vec<ConnId>,
    /// Membership of an HA cluster (RFC 6311), if any. Boxed: only a cluster's members
    /// have one, and inline it cost every client daemon about 220 bytes.
    ha: Option<Box<HaMember>>,
    /// MOBIKE (RFC 4555; RFC 9329 §7.1).
    mobike: mobike::MobikeState,
    /// CREATE_CHILD_SA requests we sent, by (SPIi, SPIr, Message ID): when first sent.
    create_child_sent: SmallMap<(u64, u64, u32), SimTime>,
}

impl IkeDaemon {
    /// A daemon with this configuration, over UDP ([`TransportPolicy::udp_only`]).
    pub fn new(cfg: IkeDaemonConfig) -> Self {
        Self {
            cfg,
            endpoint: None,
            sad: Sad::new(),
            key_log: None,
            per_sa: sa_index::SaIndex::default(),
            inner_of: SmallIndex::new(),
            children: SmallIndex::new(),
            routes: PrefixTable::default(),
            selectors: SmallMap::new(),
            wake: None,
            keepalive: None,
            transport: TransportPolicy::udp_only(),
            conns: SmallIndex::new(),
            serials: SmallIndex::new(),
            conn_by_tuple: SmallIndex::new(),
            next_serial: 0,
            conn_sas: SmallSet::new(),
            abandoned: SmallSet::new(),
            originator: None,
            pump_pending_close: Vec::new(),
            ha: None,
            mobike: mobike::MobikeState::default(),
            create_child_sent: SmallMap::new(),
        }
    }

    /// Makes the daemon a member of an HA cluster (see [`crate::cluster`]).
    #[must_use]
    pub fn with_ha(mut self, member: HaMember) -> Self {
        self.ha = Some(Box::new(member));
        self
    }

    /// The cluster membership, if any.
    pub fn ha(&self) -> Option<&HaMember> {
        self.ha.as_deref()
    }

    /// Sets the transport policy (RFC 9329).
    #[must_use]
    pub fn with_transport(mut self, transport: TransportPolicy) -> Self {
        self.transport = transport;
        self
    }

    /// The transport policy.
    pub const fn transport(&self) -> &TransportPolicy {
        &self.transport
    }

    /// The connection an SA sends on over TCP, if any.
    pub fn sa_connection(&self, sa: SaId) -> Option<ConnId> {
        self.per_sa.conn(sa)
    }

    /// Whether the SA runs over TCP.
    pub fn is_tcp(&self, sa: SaId) -> bool {
        self.per_sa.is_tcp(sa)
    }

    /// Keeps the keys of every IKE and ESP SA, for Wireshark ([`IkeDaemon::key_log`]).
    pub fn with_key_log(mut self) -> Self {
        self.key_log = Some(KeyLog::new());
        self
    }

    /// The keys of every IKE and ESP SA so far, if kept.
    pub fn key_log(&self) -> Option<&KeyLog> {
        self.key_log.as_ref()
    }

    /// The endpoint (after start).
    pub fn endpoint(&self) -> Option<&IkeEndpoint> {
        self.endpoint.as_ref()
    }

    /// Sends everything the endpoint has for the network, acts on its events, and keeps
    /// one timer at its next deadline.
    fn pump(&mut self, host: &mut HostCtx<'_, '_>) {
        let Some(endpoint) = self.endpoint.as_mut() else {
            return;
        };
        let transmits = crate::polled::drain(|| endpoint.poll_transmit());
        let events = crate::polled::drain(|| endpoint.poll_event());
        let next = endpoint.poll_timeout();
        for t in transmits {
            self.note_exchange(host, &t.bytes, true);
            match self.route_ike(&t.bytes, t.local, t.remote) {
                Transport::Udp => send_ike(host, &t),
                Transport::Tcp(Some(conn)) => self.tcp_send_ike(host, conn, &t.bytes),
                Transport::Tcp(None) => host.metrics().incr("ike_tcp_no_connection"),
            }
        }
        for conn in std::mem::take(&mut self.pump_pending_close) {
            self.tcp_finish(host, conn);
        }
        for (sa, event) in events {
            self.on_event(host, sa, event);
        }
        if self.wake.map(|(t, _)| t) != next {
            if let Some((_, timer)) = self.wake.take() {
                host.cancel_timer(timer);
            }
            if let Some(t) = next {
                self.wake = Some((t, host.set_timer(t, TIMER_WAKE)));
            }
        }
    }

    fn on_event(&mut self, host: &mut HostCtx<'_, '_>, sa: SaId, event: IkeEvent) {
        match event {
            IkeEvent::IkeKeys(keys) => {
                if let Some(log) = self.key_log.as_mut() {
                    log.log_ike_sa(keys);
                }
            }
            IkeEvent::Established {
                nat,
                elapsed,
                initiator,
            } => {
                let m = host.metrics();
                m.incr("ike_established");
                m.record("ike_time_to_establish_ns", elapsed.as_nanos());
                if initiator && let Some(o) = &self.originator {
                    let total = host.now().saturating_duration_since(o.started);
                    host.metrics()
                        .record("ike_setup_total_ns", total.as_nanos());
                }
                if self.per_sa.is_tcp(sa) {
                    host.metrics().incr("ike_established_tcp");
                    if let Some(path) = self.tcp_path(sa, nat) {
                        self.per_sa.set_path(sa, path);
                    }
                } else if let Some(remote) = self.remote_of(sa) {
                    self.per_sa.set_path(
                        sa,
                        SaPath {
                            remote,
                            nat,
                            tcp: false,
                        },
                    );
                }
                if nat.local_behind_nat {
                    self.arm_keepalive(host);
                }
            }
            IkeEvent::ChildSaUp(keys) => {
                host.metrics().incr("child_sa_up");
                self.install(host, sa, &keys);
            }
            IkeEvent::ChildSaRekeyed { new, .. } => {
                host.metrics().incr("child_sa_rekeyed");
                self.install(host, sa, &new);
            }
            IkeEvent::ChildSaDown(id) => {
                host.metrics().incr("child_sa_down");
                self.remove_child(host, id);
            }
            IkeEvent::ChildSaFailed(_) => host.metrics().incr("child_sa_failed"),
            IkeEvent::IkeSaRekeyed { .. } => host.metrics().incr("ike_rekeyed"),
            IkeEvent::Failed(reason) => {
                host.metrics().incr("ike_failed");
                if let Some(o) = &self.originator {
                    let total = host.now().saturating_duration_since(o.started);
                    host.metrics().record("ike_fail_total_ns", total.as_nanos());
                }
                host.trace(|| format!("IKE SA {} failed: {reason}", sa.0));
                self.sa_ended(host, sa);
            }
            IkeEvent::HaRestored { after } => self.ha_restored(host, sa, after),
            IkeEvent::HaSyncAnswered => {
                let now = host.now();
                let m = host.metrics();
                m.incr("ha_sync_answered");
                m.set_gauge(
                    "ha_last_sync_s",
                    now.saturating_duration_since(SimTime::ZERO).as_secs_f64(),
                );
            }
            IkeEvent::ReplayCounterSync { delta } => {
                host.metrics().incr("ha_replay_counter_syncs");
                let selectors: Vec<SelectorId> = self
                    .children
                    .sorted()
                    .into_iter()
                    .filter(|(_, c)| c.sa == sa)
                    .map(|(_, c)| c.selector)
                    .collect();
                for s in selectors {
                    if let Some(out) = self.sad.outbound_mut(s) {
                        let _ = out.skip_sequence_numbers(delta);
                    }
                }
            }
            IkeEvent::Deleted => {
                if self.abandoned.remove(&sa) {
                    host.metrics().incr("ike_udp_abandoned");
                } else {
                    host.metrics().incr("ike_deleted");
                }
                self.sa_ended(host, sa);
            }
            IkeEvent::Mobike(e) => self.on_mobike_event(host, sa, e),
        }
    }

    /// An SA ended: the Originator closes its connection (RFC 9329 §6.1 SHOULD), the
    /// Responder closes it after the idle time if no other SA uses it.
    fn sa_ended(&mut self, host: &mut HostCtx<'_, '_>, sa: SaId) {
        self.per_sa.end(sa);
        if let Some(inner) = self.inner_of.remove(&sa) {
            host.remove_address(inner);
        }
        let Some(conn) = self.unbind_sa(sa) else {
            return;
        };
        let originator = self
            .conns
            .get(&conn)
            .is_some_and(|c| c.role == tcp::Role::Originator);
        if originator {
            self.pump_pending_close.push(conn);
        } else {
            self.arm_idle(host, conn);
        }
    }

    /// Starts the initiator's IKE SA on the configured transport.
    fn connect(&mut self, host: &mut HostCtx<'_, '_>) {
        let now = host.now();
        let (Some(c), Some(&local)) = (&self.cfg.connect, host.addresses().first()) else {
            return;
        };
        let (peer, config) = (c.peer, c.config.clone());
        self.originator = Some(Originator {
            peer: SocketAddrV4::new(peer, self.transport.tcp_port),
            sa: None,
            udp_sa: None,
            started: now,
            attempts: 0,
            reconnect_timer: None,
        });
        match self.transport.selection {
            TransportSelection::TcpOnly => self.connect_tcp(host),
            TransportSelection::UdpOnly | TransportSelection::UdpThenTcp(_) => {
                let Some(endpoint) = self.endpoint.as_mut() else {
                    return;
                };
                let rng = host.stream("ike-sa-0");
                let local = SocketAddrV4::new(local, IKE_PORT);
                let remote = SocketAddrV4::new(peer, IKE_PORT);
                let sa = endpoint.connect(now, config.clone(), None, rng, local, remote);
                if let Some(o) = self.originator.as_mut() {
                    o.udp_sa = Some(sa);
                }
                if let TransportSelection::UdpThenTcp(trigger) = self.transport.selection {
                    let after = match trigger {
                        FallbackTrigger::After(d) => d,
                        FallbackTrigger::Retransmissions(n) => (0..=n)
                            .fold(SimDuration::ZERO, |sum, k| {
                                sum.saturating_add(config.retransmit.timeout(k))
                            }),
                    };
                    host.set_timer(now.saturating_add(after), TIMER_FALLBACK);
                }
            }
        }
    }

    /// RFC 9329 §5.1: if IKE_SA_INIT over UDP got no answer, give it up and start a new
    /// IKE SA (new SPIi, NAT_DETECTION for the TCP addresses) over TCP.
    fn fallback(&mut self, host: &mut HostCtx<'_, '_>) {
        let now = host.now();
        let Some(udp) = self.originator.as_ref().and_then(|o| o.udp_sa) else {
            return;
        };
        let Some(endpoint) = self.endpoint.as_mut() else {
            return;
        };
        let unanswered = endpoint
            .sa(udp)
            .is_some_and(|sa| !sa.is_closed() && sa.spi_r() == 0);
        if !unanswered {
            return;
        }
        host.metrics().incr("ike_transport_fallbacks");
        self.abandoned.insert(udp);
        endpoint.with_sa(now, udp, super::sa::IkeSa::delete);
        self.connect_tcp(host);
    }

    /// Opens the TCP connection and starts a new IKE SA over it.
    fn connect_tcp(&mut self, host: &mut HostCtx<'_, '_>) {
        let now = host.now();
        let (Some(c), Some(peer)) = (&self.cfg.connect, self.originator.as_ref().map(|o| o.peer))
        else {
            return;
        };
        let config = c.config.clone();
        let tcp = TcpOverrides {
            retransmission: match self.transport.retransmit {
                TcpRetransmit::Compliant => Retransmission::Off,
                TcpRetransmit::Timers => config.retransmit.mode,
            },
            fragment_send: self.transport.fragment,
            init_error: self.transport.init_error,
        };
        let Some(conn) = self.tcp_open(host, peer, false) else {
            return;
        };
        let Some(local) = self.conns.get(&conn).map(|c| c.local) else {
            return;
        };
        let Some(endpoint) = self.endpoint.as_mut() else {
            return;
        };
        let rng = host.stream("ike-sa-tcp");
        let sa = endpoint.connect(now, config, Some(tcp), rng, local, peer);
        self.per_sa.set_tcp(sa);
        self.bind_sa(sa, conn);
        if let Some(o) = self.originator.as_mut() {
            o.sa = Some(sa);
        }
    }

    /// The peer's address and port as the SA last used them.
    fn remote_of(&self, sa: SaId) -> Option<SocketAddrV4> {
        self.endpoint
            .as_ref()?
            .sa(sa)
            .map(super::sa::IkeSa::esp_remote)
    }

    /// Installs a Child SA (the first one, or a rekeyed successor): inbound by SPI,
    /// outbound for each remote selector, which becomes a host tunnel.
    fn install(&mut self, host: &mut HostCtx<'_, '_>, sa: SaId, keys: &ChildSaKeys) {
        let esn = false;
        let inbound = InboundSa::new(
            SaParams {
                spi: keys.spi_in,
                key: keys.key_in.clone(),
                esn,
                crypto: keys.crypto,
            },
            self.cfg.replay_window,
        );
        if self.sad.insert_inbound(inbound).is_err() {
            host.metrics().incr("esp_duplicate_spi");
            return;
        }
        if let Some(log) = self.key_log.as_mut() {
            for (spi, key) in [(keys.spi_in, &keys.key_in), (keys.spi_out, &keys.key_out)] {
                log.log_esp_sa(EspSaKeys {
                    src: None,
                    dst: None,
                    spi,
                    key: key.clone(),
                });
            }
        }
        let initiator_inner = keys.inner_address.filter(|_| self.cfg.connect.is_some());
        if let Some(inner) = initiator_inner {
            host.add_address(inner);
            self.inner_of.insert(sa, inner);
        }
        let mut selector = None;
        for ts in &keys.ts_remote {
            let AddressRange::V4 { start, end } = ts.addresses else {
                continue;
            };
            let Some(prefix) = range_prefix(start, end) else {
                host.metrics().incr("ts_not_a_prefix");
                continue;
            };
            let next = SelectorId(self.selectors.len() as u32);
            let id = *self.selectors.get_or_insert_with(prefix, || next);
            let outbound = OutboundSa::new(SaParams {
                spi: keys.spi_out,
                key: keys.key_out.clone(),
                esn,
                crypto: keys.crypto,
            });
            // Replacing the outbound SA of a selector is the switch to a rekeyed SA.
            self.sad.install_outbound(id, outbound);
            self.routes.insert(prefix, Route { sa, selector: id });
            host.tunnel_add(prefix, initiator_inner);
            selector = Some(id);
        }
        if let Some(selector) = selector {
            self.children.insert(keys.spi_in, Child { sa, selector });
        }
    }

    fn remove_child(&mut self, host: &mut HostCtx<'_, '_>, id: ChildSaId) {
        let Some(child) = self.children.remove(&id.spi_in) else {
            return;
        };
        self.sad.remove_inbound(id.spi_in);
        // Only tear the tunnel down if no successor took the selector over.
        let current = self.sad.outbound(child.selector).map(OutboundSa::spi);
        if current == Some(id.spi_out) {
            self.sad.remove_outbound(child.selector);
            let prefixes: Vec<Prefix> = self
                .selectors
                .iter()
                .filter(|(_, s)| **s == child.selector)
                .map(|(p, _)| *p)
                .collect();
            for p in prefixes {
                self.routes.remove(p);
                host.tunnel_remove(p);
            }
        }
    }

    /// Times CREATE_CHILD_SA exchanges we initiate (`ike_create_child_ns`): the first send
    /// of a request, then its first response.
    fn note_exchange(&mut self, host: &mut HostCtx<'_, '_>, bytes: &[u8], outgoing: bool) {
        const CREATE_CHILD_SA: u8 = 36;
        let Some((spi_i, spi_r, _, response, exchange)) = tcp::ike_header(bytes) else {
            return;
        };
        let Some(id) = bytes.get(20..24).and_then(|b| b.try_into().ok()) else {
            return;
        };
        if exchange != CREATE_CHILD_SA || response == outgoing {
            return;
        }
        let key = (spi_i, spi_r, u32::from_be_bytes(id));
        if outgoing {
            self.create_child_sent
                .get_or_insert_with(key, || host.now());
        } else if let Some(sent) = self.create_child_sent.remove(&key) {
            let elapsed = host.now().saturating_duration_since(sent);
            host.metrics()
                .record("ike_create_child_ns", elapsed.as_nanos());
        }
    }

    fn arm_keepalive(&mut self, host: &mut HostCtx<'_, '_>) {
        if let (None, Some(interval)) = (self.keepalive, self.cfg.nat_keepalive) {
            self.keepalive = Some(host.set_timer(host.now() + interval, TIMER_KEEPALIVE));
        }
    }

    fn send_keepalives(&mut self, host: &mut HostCtx<'_, '_>) {
        self.keepalive = None;
        let mut natted = self.per_sa.paths();
        natted.retain(|(_, p)| p.nat.local_behind_nat);
        let mut any = false;
        for (sa, path) in &natted {
            if path.tcp {
                // RFC 9329 §6.6: none over TCP, unless the policy says so.
                if self.transport.keepalives {
                    self.tcp_send_keepalive(host, *sa);
                    any = true;
                }
            } else if host.udp_send(NAT_T_PORT, path.remote, &[0xff]).is_ok() {
                any = true;
                let m = host.metrics();
                m.incr("nat_keepalives_sent");
                m.add("keepalive_udp_bytes_sent", 1);
            }
        }
        if any {
            self.arm_keepalive(host);
        }
    }

    /// Decapsulates inbound ESP; returns the IKE SA of its Child SA.
    fn receive_esp(
        &mut self,
        host: &mut HostCtx<'_, '_>,
        esp: &[u8],
    ) -> Result<SaId, EspDropReason> {
        match self.sad.decapsulate(esp) {
            Ok(d) => {
                let m = host.metrics();
                m.incr("esp_packets_in");
                m.add("esp_bytes_in", esp.len() as u64);
                let sa = self.children.get(&d.spi).map(|c| c.sa);
                if let (Some(sa), Some(endpoint)) = (sa, self.endpoint.as_mut()) {
                    let now = host.now();
                    endpoint.with_sa(now, sa, |s| s.note_esp_in(now));
                    self.ha_heard(host, sa);
                }
                host.inject(d.inner);
                sa.ok_or(EspDropReason::UnknownSpi)
            }
            Err(reason) => {
                host.metrics()
                    .incr(format!("esp_dropped_{}", reason.name()));
                Err(reason)
            }
        }
    }
}

/// The prefix that is exactly `start..=end`, if the range is one.
fn range_prefix(start: Ipv4Addr, end: Ipv4Addr) -> Option<Prefix> {
    let (s, e) = (u32::from(start), u32::from(end));
    let size = u64::from(e.checked_sub(s)?) + 1;
    if !size.is_power_of_two() || u64::from(s) % size != 0 {
        return None;
    }
    Prefix::new(start, 32 - size.trailing_zeros() as u8).ok()
}

/// Sends one IKE message from the port the endpoint chose, with the non-ESP marker on 4500.
fn send_ike(host: &mut HostCtx<'_, '_>, t: &Transmit) {
    let sent = if t.local.port() == NAT_T_PORT {
        let mut framed = Vec::with_capacity(t.bytes.len() + 4);
        framed.extend_from_slice(&NON_ESP_MARKER);
        framed.extend_from_slice(&t.bytes);
        host.udp_send(NAT_T_PORT, t.remote, &framed)
    } else {
        host.udp_send(IKE_PORT, t.remote, &t.bytes)
    };
    let m = host.metrics();
    if sent.is_ok() {
        m.incr("ike_messages_sent");
        m.add("ike_bytes_sent", t.bytes.len() as u64);
        let marker = if t.local.port() == NAT_T_PORT { 4 } else { 0 };
        m.add("ike_udp_bytes_sent", t.bytes.len() as u64 + marker);
    } else {
        m.incr("ike_no_route");
    }
}

impl App for IkeDaemon {
    fn start(&mut self, host: &mut HostCtx<'_, '_>) {
        let ok = host.udp_bind(IKE_PORT).is_ok()
            && host.udp_bind(NAT_T_PORT).is_ok()
            && host.ip_bind(IpProtocol::ESP).is_ok();
        if !ok {
            return host.metrics().incr("ike_bind_failed");
        }
        let listen = self.transport.listen_tcp && self.cfg.endpoint.responder.is_some();
        if listen
            && host
                .tcp_listen(self.transport.tcp_port, self.transport.tcp.clone())
                .is_err()
        {
            return host.metrics().incr("ike_bind_failed");
        }
        let rng = host.stream("ike-endpoint");
        self.endpoint = Some(IkeEndpoint::new(host.now(), self.cfg.endpoint.clone(), rng));
        self.ha_start(host);
        if let Some(c) = &self.cfg.connect {
            let at = SimTime::ZERO + c.start.draw(host.rng());
            host.set_timer(at, TIMER_CONNECT);
        }
    }

    fn on_timer(&mut self, host: &mut HostCtx<'_, '_>, token: u64) {
        let now = host.now();
        match token {
            TIMER_CONNECT => self.connect(host),
            TIMER_FALLBACK => self.fallback(host),
            TIMER_RECONNECT => self.reconnect(host),
            TIMER_WAKE => {
                self.wake = None;
                if let Some(endpoint) = self.endpoint.as_mut() {
                    endpoint.handle_timeout(now);
                }
            }
            TIMER_KEEPALIVE => self.send_keepalives(host),
            ha::TIMER_HEARTBEAT => self.ha_heartbeat(host),
            ha::TIMER_REPLICATE => self.ha_replicate(host),
            ha::TIMER_TAKEOVER => self.ha_takeover(host),
            ha::TIMER_RESTORE_TIMEOUT => self.ha_restore_timeout(host),
            mobike::TIMER_MOBIKE => self.on_mobike_timer(host),
            other => self.on_conn_timer(host, other >> 56, other & ((1 << 56) - 1)),
        }
        self.pump(host);
    }

    fn on_tcp(&mut self, host: &mut HostCtx<'_, '_>, conn: ConnId, event: crate::tcp::Event) {
        self.on_tcp_event(host, conn, event);
        self.pump(host);
    }

    fn on_udp(
        &mut self,
        host: &mut HostCtx<'_, '_>,
        from: SocketAddrV4,
        to: SocketAddrV4,
        payload: &[u8],
    ) {
        let now = host.now();
        let ike = match to.port() {
            IKE_PORT => Some(payload),
            _ => match UdpEncapPayload::classify(payload) {
                Ok(UdpEncapPayload::Ike(bytes)) => Some(bytes),
                Ok(UdpEncapPayload::Esp(esp)) => {
                    let _ = self.receive_esp(host, esp);
                    None
                }
                Ok(UdpEncapPayload::NatKeepalive) => {
                    host.metrics().incr("nat_keepalives_received");
                    None
                }
                Err(_) => {
                    host.metrics().incr("udp_encap_malformed");
                    None
                }
            },
        };
        let mobike = ike.and_then(|bytes| self.mobike_before_udp(now, bytes));
        if let Some(bytes) = ike {
            self.note_exchange(host, bytes, false);
        }
        if let (Some(bytes), Some(endpoint)) = (ike, self.endpoint.as_mut()) {
            host.metrics().incr("ike_messages_received");
            endpoint.handle_datagram(now, to, from, bytes);
        }
        self.mobike_after_udp(host, mobike);
        self.pump(host);
    }

    fn on_ip(&mut self, host: &mut HostCtx<'_, '_>, _: Ipv4Addr, _: Ipv4Addr, payload: &[u8]) {
        let _ = self.receive_esp(host, payload);
        self.pump(host);
    }

    fn on_tunnel(&mut self, host: &mut HostCtx<'_, '_>, packet: &[u8]) {
        let Ok(ip) = Ipv4Packet::new_checked(packet) else {
            return;
        };
        let Some(route) = self.routes.lookup(ip.dst_addr()).copied() else {
            return host.metrics().incr("esp_no_sa");
        };
        let Some(mut path) = self.per_sa.path(route.sa) else {
            return host.metrics().incr("esp_no_sa");
        };
        // ESP follows the peer wherever its IKE SA now sends (RFC 7296 §2.23: after a NAT
        // rebinding, a host not behind a NAT sends to the new address and port).
        if let Some(remote) = self.remote_of(route.sa) {
            path.remote = remote;
        }
        let Ok(esp) = self.sad.encapsulate(route.selector, packet) else {
            return host.metrics().incr("esp_no_sa");
        };
        let sent = if path.tcp {
            self.tcp_send_esp(host, route.sa, &esp)
        } else if path.nat.any() {
            let sent = host.udp_send(
                NAT_T_PORT,
                SocketAddrV4::new(*path.remote.ip(), path.remote.port()),
                &esp,
            );
            if sent.is_ok() {
                host.metrics().add("esp_udp_bytes_out", esp.len() as u64);
            }
            sent.is_ok()
        } else {
            let sent = host.ip_send(IpProtocol::ESP, *path.remote.ip(), &esp);
            if sent.is_ok() {
                host.metrics().add("esp_ip_bytes_out", esp.len() as u64);
            }
            sent.is_ok()
        };
        let now = host.now();
        if sent {
            let m = host.metrics();
            m.incr("esp_packets_out");
            m.add("esp_bytes_out", esp.len() as u64);
            if let Some(endpoint) = self.endpoint.as_mut() {
                endpoint.with_sa(now, route.sa, |sa| sa.note_esp_out(now));
            }
        } else if let Some(endpoint) = self.endpoint.as_mut() {
            // Not traffic for liveness, but the sequence number was used: an HA copy must
            // carry it (RFC 6311 §5.2).
            endpoint.note_changed(route.sa);
        }
        self.pump(host);
    }

    fn on_action(&mut self, host: &mut HostCtx<'_, '_>, action: &dyn Any) {
        if let Some(cmd) = action.downcast_ref::<MobikeCommand>() {
            return self.on_mobike_command(host, *cmd);
        }
        let Some(cmd) = action.downcast_ref::<IkeCommand>() else {
            return;
        };
        let now = host.now();
        if let Some(endpoint) = self.endpoint.as_mut() {
            let ids: Vec<SaId> = endpoint.sas().map(|(id, _)| id).collect();
            for id in ids {
                endpoint.with_sa(now, id, |sa| match cmd {
                    IkeCommand::Delete => sa.delete(),
                    IkeCommand::RekeyIke => sa.rekey_ike(),
                    IkeCommand::CheckLiveness => sa.check_liveness(),
                });
            }
        }
        self.pump(host);
    }

    fn finish(&mut self, host: &mut HostCtx<'_, '_>) {
        let Some(endpoint) = self.endpoint.as_ref() else {
            return;
        };
        let totals = endpoint.sa_totals();
        let m = host.metrics();
        m.add("ike_requests_sent", totals.requests_sent);
        m.add("ike_retransmits", totals.retransmits);
        m.add("ike_exchanges_failed", totals.exchanges_failed);
        m.add("ike_duplicate_requests", totals.responses_resent);
        m.add("ike_dropped_integrity", totals.dropped_integrity);
        m.add("ike_cookies_received", totals.cookies_received);
        m.add("ike_puzzles_solved", totals.puzzles_solved);
        m.add("ike_puzzle_attempts", totals.puzzle_attempts);
        m.add("ike_puzzle_time_ns", totals.puzzle_time.as_nanos());
        m.add("ike_liveness_checks", totals.liveness_checks);
        m.add("ike_liveness_bytes", totals.liveness_bytes);
        m.add("ha_syncs_sent", totals.ha_syncs_sent);
        m.add("ha_syncs_dropped", totals.ha_syncs_dropped);
        let e = endpoint.stats();
        m.add("ike_cookies_sent", e.cookies_sent);
        m.add("ike_puzzles_sent", e.puzzles_sent);
        m.add("ike_puzzles_failed", e.puzzles_failed);
        let c = self.sad.counters();
        m.add("esp_replay_drops", c.drops.get(EspDropReason::Replay));
    }
}

/// Scripted commands for every IKE SA of a daemon, delivered with `sim::Action::Custom`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IkeCommand {
    /// Delete the IKE SA (INFORMATIONAL with Delete, RFC 7296 §1.4.1).
    Delete,
    /// Rekey the IKE SA now (RFC 7296 §2.18).
    RekeyIke,
    /// Send an empty INFORMATIONAL (liveness check, RFC 7296 §2.4).
    CheckLiveness,
}
