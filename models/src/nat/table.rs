//! The binding table: mappings, their sessions, port allocation and expiry.
//!
//! A *mapping* ties an inside endpoint (interface, address, port) to an external port of
//! the public address; it is what RFC 4787 §4.1 calls a mapping and what the metrics call a
//! binding. Which remote endpoints share one mapping depends on the mapping behaviour.
//! Each mapping holds *sessions*, one per remote endpoint the inside host sent to. Sessions
//! are the unit of filtering (RFC 4787 §5 asks whether the inside endpoint "has previously
//! sent packets" to the remote), of TCP state (RFC 5382 §5 times out connections, and one
//! endpoint-independent mapping may carry several) and of expiry; a mapping lives while it
//! has a session.
//!
//! Protocols without ports (ESP and the like) get address-only mappings keyed by (inside
//! interface and address, protocol, remote address), with one session for the remote; an
//! inbound packet goes to the most recent inside sender for that remote.
//!
//! Cost with n mappings: a packet finds its mapping in O(1) (`SmallIndex`es by key and
//! by id; inbound packets first find the id by port or remote address in O(log n)), a
//! refresh is O(1) (`expiry`: one list per idle timeout), expiring a session O(1) plus
//! O(log n) when it takes its mapping with it; an
//! allocation is O(log n) plus the length of the run of used ports at the starting point,
//! and O(1) when the range is exhausted. Nothing scans the table.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use sim::{IfaceId, SimDuration, SimRng, SimTime};

use super::Discard;
use super::config::{FilteringBehavior, MappingBehavior, NatConfig, PortAssignment};
use super::expiry::{Class, Expiry, NIL, Slot};
use crate::middlebox::packet::TcpInfo;
use crate::small_map::{SmallIndex, SmallMap};
use crate::wire::IpProtocol;

/// Mappings are numbered in creation order; numbers are never reused within a table.
type MappingId = u64;

/// What identifies a mapping: the inside endpoint, plus as much of the remote endpoint as
/// the mapping behaviour looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct MapKey {
    protocol: IpProtocol,
    /// Inside interfaces are separate networks, so their addresses may overlap.
    iface: IfaceId,
    /// Port 0 for protocols without ports.
    inside: SocketAddrV4,
    remote_addr: Option<Ipv4Addr>,
    remote_port: Option<u16>,
}

#[derive(Debug)]
struct Mapping {
    key: MapKey,
    /// `None` for an address-only mapping.
    external_port: Option<u16>,
    /// By remote endpoint (port 0 for protocols without ports). Almost always one: a
    /// `SmallMap` holds it in 32 bytes where a B-tree leaf took ~400.
    sessions: SmallMap<SocketAddrV4, Session>,
}

#[derive(Clone, Copy, Debug)]
struct Session {
    /// Its entry in the table's `expiry` ([`NIL`] until the first refresh).
    expiry: Slot,
    tcp: TcpTrack,
}

/// What the NAT has seen of a TCP connection, enough to tell the RFC 5382 §5 phases apart:
/// established once SYNs went both ways, transitory before that and after a FIN or RST.
#[derive(Clone, Copy, Debug, Default)]
struct TcpTrack {
    syn_out: bool,
    syn_in: bool,
    closing: bool,
}

impl TcpTrack {
    /// The state of a session opened by the outbound segment `first`. A SYN-ACK answers
    /// a SYN that opened no session (an inbound connection admitted by endpoint-independent
    /// filtering). A segment without SYN is picked up mid-stream as established (as Linux
    /// conntrack does by default), so a connection that outlives a NAT reboot resumes if
    /// its port is kept.
    fn opened_by(first: &TcpInfo) -> Self {
        let mut track = Self {
            syn_out: !first.syn,
            syn_in: !first.syn || first.ack.is_some(),
            closing: false,
        };
        track.observe(first, true);
        track
    }

    fn observe(&mut self, seg: &TcpInfo, outbound: bool) {
        if seg.syn && seg.ack.is_none() && self.closing {
            // A new connection on the same address and port pair (RFC 9293 §3.6 allows
            // it after TIME-WAIT).
            *self = Self::default();
        }
        if seg.syn {
            if outbound {
                self.syn_out = true;
            } else {
                self.syn_in = true;
            }
        }
        self.closing |= seg.fin || seg.rst;
    }

    fn established(self) -> bool {
        self.syn_out && self.syn_in && !self.closing
    }
}

/// An outbound packet as the table sees it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Flow {
    pub(super) protocol: IpProtocol,
    /// The inside interface it came from.
    pub(super) iface: IfaceId,
    /// Its source (port 0 without ports).
    pub(super) inside: SocketAddrV4,
    /// Its destination (port 0 without ports).
    pub(super) remote: SocketAddrV4,
    pub(super) tcp: Option<TcpInfo>,
}

/// What an outbound packet maps to.
#[derive(Clone, Copy, Debug)]
pub(super) struct Outbound {
    /// `None` for an address-only mapping.
    pub(super) external_port: Option<u16>,
    /// Whether the packet created the mapping.
    pub(super) created: bool,
}

/// Next port to try, and how many ports of the range are in use, for one protocol.
#[derive(Clone, Copy, Debug, Default)]
struct PortSpace {
    cursor: u16,
    used: u32,
}

/// All mappings of one NAT; see the module docs.
#[derive(Debug)]
pub(super) struct Table {
    cfg: NatConfig,
    /// Looked up only (by id, on every packet).
    mappings: SmallIndex<MappingId, Mapping>,
    by_key: SmallIndex<MapKey, MappingId>,
    /// Port-based mappings by external port: also the set of ports in use.
    by_port: BTreeMap<(IpProtocol, u16), MappingId>,
    /// Address-only mappings: the most recent one per remote address.
    by_remote: BTreeMap<(IpProtocol, Ipv4Addr), MappingId>,
    /// Every session's deadline.
    expiry: Expiry,
    ports: BTreeMap<IpProtocol, PortSpace>,
    next_id: MappingId,
}

impl Table {
    /// An empty table for a validated `cfg`.
    pub(super) fn new(cfg: NatConfig) -> Self {
        Self {
            cfg,
            mappings: SmallIndex::new(),
            by_key: SmallIndex::new(),
            by_port: BTreeMap::new(),
            by_remote: BTreeMap::new(),
            expiry: Expiry::default(),
            ports: BTreeMap::new(),
            next_id: 0,
        }
    }

    pub(super) fn cfg(&self) -> &NatConfig {
        &self.cfg
    }

    pub(super) fn mapping_count(&self) -> usize {
        self.mappings.len()
    }

    /// The earliest session deadline.
    pub(super) fn next_deadline(&self) -> Option<SimTime> {
        self.expiry.next_deadline()
    }

    /// Finds or creates the mapping and session for an outbound packet and refreshes the
    /// session (RFC 4787 REQ-6: outbound packets always refresh).
    pub(super) fn outbound(
        &mut self,
        now: SimTime,
        rng: &mut SimRng,
        flow: &Flow,
    ) -> Result<Outbound, Discard> {
        let key = self.key_for(flow);
        let (id, created) = match self.by_key.get(&key) {
            Some(&id) => (id, false),
            // A RST opens nothing: there is no connection left to track.
            None if flow.tcp.is_some_and(|t| t.rst) => return Err(Discard::NoBinding),
            None => (self.create(rng, key)?, true),
        };
        if !has_ports(flow.protocol) {
            self.by_remote
                .insert((flow.protocol, *flow.remote.ip()), id);
        }
        let mapping = self
            .mappings
            .get_mut(&id)
            .expect("a key names a live mapping");
        touch(
            &self.cfg,
            &mut self.expiry,
            now,
            (id, mapping),
            flow.remote,
            flow.tcp.as_ref(),
            true,
        );
        let external_port = mapping.external_port;
        Ok(Outbound {
            external_port,
            created,
        })
    }

    /// The inside interface and endpoint for an inbound packet from `remote` to
    /// `external_port` (ignored without ports), if a mapping exists and its filter admits
    /// the remote. Refreshes the remote's session for TCP, or if inbound refresh is on.
    pub(super) fn inbound(
        &mut self,
        now: SimTime,
        protocol: IpProtocol,
        external_port: u16,
        remote: SocketAddrV4,
        tcp: Option<&TcpInfo>,
    ) -> Result<(IfaceId, SocketAddrV4), Discard> {
        let id = if has_ports(protocol) {
            self.by_port.get(&(protocol, external_port))
        } else {
            self.by_remote.get(&(protocol, *remote.ip()))
        };
        let id = *id.ok_or(Discard::NoBinding)?;
        let mapping = self
            .mappings
            .get_mut(&id)
            .expect("an index names a live mapping");
        if !admits(&self.cfg, mapping, remote) {
            return Err(Discard::Filtered);
        }
        let to = (mapping.key.iface, mapping.key.inside);
        touch(
            &self.cfg,
            &mut self.expiry,
            now,
            (id, mapping),
            remote,
            tcp,
            false,
        );
        Ok(to)
    }

    /// Removes every session whose deadline is `<= now`, and mappings left without one;
    /// returns how many mappings were removed.
    pub(super) fn expire(&mut self, now: SimTime) -> usize {
        let mut removed = 0;
        while let Some((id, remote)) = self.expiry.pop_due(now) {
            let mapping = self
                .mappings
                .get_mut(&id)
                .expect("expiry entries have mappings");
            mapping.sessions.remove(&remote);
            if mapping.sessions.is_empty() {
                self.remove(id);
                removed += 1;
            }
        }
        removed
    }

    fn key_for(&self, flow: &Flow) -> MapKey {
        let (addr, port) = (*flow.remote.ip(), flow.remote.port());
        let (remote_addr, remote_port) = match self.cfg.mapping {
            _ if !has_ports(flow.protocol) => (Some(addr), None),
            MappingBehavior::EndpointIndependent => (None, None),
            MappingBehavior::AddressDependent => (Some(addr), None),
            MappingBehavior::AddressAndPortDependent => (Some(addr), Some(port)),
        };
        MapKey {
            protocol: flow.protocol,
            iface: flow.iface,
            inside: flow.inside,
            remote_addr,
            remote_port,
        }
    }

    fn create(&mut self, rng: &mut SimRng, key: MapKey) -> Result<MappingId, Discard> {
        let external_port = if has_ports(key.protocol) {
            let port = self
                .allocate(rng, key.protocol, key.inside.port())
                .ok_or(Discard::PortsExhausted)?;
            self.claim(key.protocol, port);
            Some(port)
        } else {
            None
        };
        let id = self.next_id;
        self.next_id += 1;
        if let Some(port) = external_port {
            self.by_port.insert((key.protocol, port), id);
        }
        self.by_key.insert(key, id);
        let sessions = SmallMap::new();
        self.mappings.insert(
            id,
            Mapping {
                key,
                external_port,
                sessions,
            },
        );
        Ok(id)
    }

    fn remove(&mut self, id: MappingId) {
        let mapping = self.mappings.remove(&id).expect("removing a live mapping");
        let protocol = mapping.key.protocol;
        self.by_key.remove(&mapping.key);
        if let Some(port) = mapping.external_port {
            self.by_port.remove(&(protocol, port));
            if self.cfg.port_range.contains(&port) {
                self.ports.entry(protocol).or_default().used -= 1;
            }
        } else if let Some(addr) = mapping.key.remote_addr
            && self.by_remote.get(&(protocol, addr)) == Some(&id)
        {
            // An older sender to the same remote regains inbound traffic only once it
            // sends again.
            self.by_remote.remove(&(protocol, addr));
        }
    }

    /// An external port for a new mapping of `protocol` (RFC 4787 §4.2.1), or `None` if
    /// every port of the range is taken.
    fn allocate(&mut self, rng: &mut SimRng, protocol: IpProtocol, inside: u16) -> Option<u16> {
        let assignment = self.cfg.port_assignment;
        if assignment == PortAssignment::Preserve && !self.by_port.contains_key(&(protocol, inside))
        {
            return Some(inside);
        }
        let (lo, hi) = (*self.cfg.port_range.start(), *self.cfg.port_range.end());
        let size = u32::from(hi - lo) + 1;
        let space = self.ports.get(&protocol).copied().unwrap_or_default();
        if space.used >= size {
            return None;
        }
        let start = match assignment {
            // `below(size)` is less than `size`, so the sum is at most `hi`.
            PortAssignment::Random => lo + rng.below(u64::from(size)) as u16,
            PortAssignment::Preserve | PortAssignment::Sequential => space.cursor.clamp(lo, hi),
        };
        let port = self
            .first_free(protocol, start, hi)
            .or_else(|| self.first_free(protocol, lo, start))
            .expect("fewer ports used than the range holds");
        if assignment != PortAssignment::Random {
            let cursor = if port == hi { lo } else { port + 1 };
            self.ports.entry(protocol).or_default().cursor = cursor;
        }
        Some(port)
    }

    /// The lowest port in `from..=to` that no mapping of `protocol` uses.
    fn first_free(&self, protocol: IpProtocol, from: u16, to: u16) -> Option<u16> {
        let mut want = u32::from(from);
        for &(_, used) in self
            .by_port
            .range((protocol, from)..=(protocol, to))
            .map(|e| e.0)
        {
            if u32::from(used) != want {
                break;
            }
            want += 1;
        }
        u16::try_from(want).ok().filter(|&port| port <= to)
    }

    fn claim(&mut self, protocol: IpProtocol, port: u16) {
        if self.cfg.port_range.contains(&port) {
            self.ports.entry(protocol).or_default().used += 1;
        }
    }
}

/// TCP and UDP are translated by port; other protocols by address only.
pub(super) fn has_ports(protocol: IpProtocol) -> bool {
    protocol == IpProtocol::TCP || protocol == IpProtocol::UDP
}

/// RFC 4787 §5 filtering; address-only mappings are found by remote address, which is
/// their filter.
fn admits(cfg: &NatConfig, mapping: &Mapping, remote: SocketAddrV4) -> bool {
    let addr = *remote.ip();
    match cfg.filtering {
        _ if mapping.external_port.is_none() => true,
        FilteringBehavior::EndpointIndependent => true,
        FilteringBehavior::AddressDependent => mapping
            .sessions
            .range_from(&SocketAddrV4::new(addr, 0))
            .next()
            .is_some_and(|(s, _)| *s.ip() == addr),
        FilteringBehavior::AddressAndPortDependent => mapping.sessions.contains_key(&remote),
    }
}

/// Opens or updates the session for `remote` of mapping `id` and moves its deadline in
/// `expiry` (RFC 4787 REQ-5/6, RFC 5382 REQ-5). Inbound packets open no session. A free
/// function so that the caller's one lookup of the mapping serves the whole packet.
fn touch(
    cfg: &NatConfig,
    expiry: &mut Expiry,
    now: SimTime,
    (id, mapping): (MappingId, &mut Mapping),
    remote: SocketAddrV4,
    tcp: Option<&TcpInfo>,
    outbound: bool,
) {
    let protocol = mapping.key.protocol;
    if !outbound && !mapping.sessions.contains_key(&remote) {
        return;
    }
    let mut opened = false;
    let session = mapping.sessions.get_or_insert_with(remote, || {
        opened = true;
        Session {
            expiry: NIL,
            tcp: tcp.map(TcpTrack::opened_by).unwrap_or_default(),
        }
    });
    if !opened && let Some(seg) = tcp {
        session.tcp.observe(seg, outbound);
    }
    if !(outbound || tcp.is_some() || cfg.inbound_refresh) {
        return;
    }
    let (class, timeout) = idle_timeout(cfg, protocol, session.tcp);
    if session.expiry != NIL {
        expiry.remove(session.expiry);
    }
    session.expiry = expiry.push(class, now + timeout, id, remote);
}

fn idle_timeout(cfg: &NatConfig, protocol: IpProtocol, tcp: TcpTrack) -> (Class, SimDuration) {
    match protocol {
        IpProtocol::TCP if tcp.established() => {
            (Class::TcpEstablished, cfg.tcp_established_idle_timeout)
        }
        IpProtocol::TCP => (Class::TcpTransitory, cfg.tcp_transitory_idle_timeout),
        IpProtocol::UDP => (Class::Udp, cfg.udp_idle_timeout),
        _ => (Class::Other, cfg.other_idle_timeout),
    }
}
