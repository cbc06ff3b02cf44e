//! The IP host: interfaces and addresses, a routing table, UDP sockets, TCP listeners and
//! connections, raw IP protocol handlers, and the applications that use them.
//!
//! A [`Host`] is an engine node. Applications ([`App`]) live inside it and act through a
//! [`HostCtx`]. Everything the stack owes an application (a TCP event, a datagram) is
//! delivered after the input that caused it has been fully processed, never re-entrantly:
//! the host keeps a queue of pending deliveries and drains it at the end of every engine
//! callback. TCP connections are sans-IO [`Connection`]s; the host drives each one
//! (handle → drain `poll_transmit` → read `poll_timeout`) and keeps one engine timer for the
//! earliest deadline of all of them.
//!
//! Lookups are ordered maps keyed by port or 4-tuple: O(log n) per packet.

use std::any::Any;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use sim::{Ctx, IfaceId, Metrics, Node, Packet, SimRng, SimTime, TimerId};
use slotmap::{SlotMap, new_key_type};

use crate::ip::Prefix;
use crate::ip::route::{PrefixTable, Route, RoutingTable};
use crate::ip::router::{decrement_ttl, forward_hop};
use crate::small_map::{SmallIndex, SmallMap, SmallSet};
use crate::tcp::{Connection, ConnectionError, Event as TcpEvent, TcpConfig, reset_for};
use crate::wire::{
    IpProtocol, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr, TcpSeqNumber, UdpPacket, UdpRepr,
};

new_key_type! {
    /// A TCP connection of a host.
    pub struct ConnId;
}

/// An application's index within its host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppId(pub usize);

/// An application running on a host.
///
/// All callbacks get a [`HostCtx`] to act through. Default implementations ignore input.
pub trait App: Any {
    /// The host started (at the beginning of the run or after a restart).
    fn start(&mut self, host: &mut HostCtx<'_, '_>) {
        let _ = host;
    }
    /// A UDP datagram arrived on a port this application bound.
    fn on_udp(
        &mut self,
        host: &mut HostCtx<'_, '_>,
        from: SocketAddrV4,
        to: SocketAddrV4,
        payload: &[u8],
    ) {
        let _ = (host, from, to, payload);
    }
    /// An IP packet of a protocol this application bound arrived (e.g. ESP).
    fn on_ip(&mut self, host: &mut HostCtx<'_, '_>, from: Ipv4Addr, to: Ipv4Addr, payload: &[u8]) {
        let _ = (host, from, to, payload);
    }
    /// The host sent or forwarded a packet into a tunnel this application added (the whole
    /// IPv4 packet, TTL already decremented if forwarded): encapsulate it.
    fn on_tunnel(&mut self, host: &mut HostCtx<'_, '_>, packet: &[u8]) {
        let _ = (host, packet);
    }
    /// Something happened on one of this application's TCP connections.
    fn on_tcp(&mut self, host: &mut HostCtx<'_, '_>, conn: ConnId, event: TcpEvent) {
        let _ = (host, conn, event);
    }
    /// A timer set with [`HostCtx::set_timer`] fired.
    fn on_timer(&mut self, host: &mut HostCtx<'_, '_>, token: u64) {
        let _ = (host, token);
    }
    /// A scripted, model-defined action addressed to this host (every application sees it).
    fn on_action(&mut self, host: &mut HostCtx<'_, '_>, action: &dyn Any) {
        let _ = (host, action);
    }
    /// The run ended: record final metrics.
    fn finish(&mut self, host: &mut HostCtx<'_, '_>) {
        let _ = host;
    }
}

/// Why a socket operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    /// The port (or protocol) is already bound.
    #[error("address in use")]
    InUse,
    /// No route to the destination.
    #[error("no route to host")]
    NoRoute,
    /// No free ephemeral port towards that destination.
    #[error("no free ephemeral port")]
    PortsExhausted,
    /// The connection does not exist (any more).
    #[error("no such connection")]
    NoConnection,
}

/// What a host is given at construction.
#[derive(Clone, Debug, Default)]
pub struct HostConfig {
    /// The address of each interface, by interface number.
    pub addresses: Vec<Ipv4Addr>,
    /// Routes; with one interface and no routes, everything goes out of interface 0.
    pub routes: RoutingTable,
    /// TTL of packets the host sends.
    pub ttl: u8,
    /// Forward packets for other addresses by the routing table, as a router does (a
    /// security gateway forwards decapsulated traffic to the network behind it).
    pub forwarding: bool,
}

/// An IP end host.
pub struct Host {
    stack: Stack,
    apps: Vec<Option<Box<dyn App>>>,
}

const TCP_WAKEUP: u64 = u64::MAX;
/// Bound on deliveries drained after one input, so an application that keeps provoking
/// events cannot stall time (style.md pitfall 6).
const MAX_DELIVERIES_PER_INPUT: usize = 1_000_000;
const EPHEMERAL_FIRST: u16 = 49_152;

/// Boxed whole in the slot map: its vector holds at least four slots (and a sentinel),
/// and most hosts hold one connection, so inline slots would be empty connections.
struct ConnEntry {
    conn: Connection,
    app: AppId,
    deadline: Option<SimTime>,
}

/// The stack's state, apart from the applications.
struct Stack {
    cfg: HostConfig,
    /// Addresses the host owns without an interface (e.g. an IPsec virtual address).
    virtual_addrs: Vec<Ipv4Addr>,
    /// Destinations that go into a tunnel instead of out of an interface.
    tunnels: PrefixTable<Tunnel>,
    udp: SmallMap<u16, AppId>,
    raw: SmallMap<u8, AppId>,
    listeners: SmallMap<u16, (AppId, TcpConfig)>,
    conns: SlotMap<ConnId, Box<ConnEntry>>,
    demux: SmallIndex<(SocketAddrV4, SocketAddrV4), ConnId>,
    deadlines: SmallSet<(SimTime, ConnId)>,
    wakeup: Option<(SimTime, TimerId)>,
    app_timers: SmallIndex<u64, (AppId, u64, TimerId)>,
    next_timer: u64,
    pending: VecDeque<(AppId, Delivery)>,
    next_ephemeral: Option<u16>,
    ident: u16,
}

enum Delivery {
    Tcp(ConnId, TcpEvent),
    /// A packet for a tunnel's application to encapsulate.
    Tunnel(Vec<u8>),
    /// A packet to process as if received (decapsulated traffic).
    Inject(Vec<u8>),
}

/// A tunnel: packets to `selector` go to application `app`, leaving from `src`.
#[derive(Clone, Copy, Debug)]
struct Tunnel {
    app: AppId,
    src: Option<Ipv4Addr>,
}

impl Host {
    /// A host with the given configuration and applications (application `i` is `AppId(i)`).
    pub fn new(mut cfg: HostConfig, apps: Vec<Box<dyn App>>) -> Self {
        if cfg.ttl == 0 {
            cfg.ttl = 64;
        }
        Self {
            stack: Stack {
                cfg,
                virtual_addrs: Vec::new(),
                tunnels: PrefixTable::default(),
                udp: SmallMap::new(),
                raw: SmallMap::new(),
                listeners: SmallMap::new(),
                conns: SlotMap::with_key(),
                demux: SmallIndex::new(),
                deadlines: SmallSet::new(),
                wakeup: None,
                app_timers: SmallIndex::new(),
                next_timer: 0,
                pending: VecDeque::new(),
                next_ephemeral: None,
                ident: 0,
            },
            apps: apps.into_iter().map(Some).collect(),
        }
    }

    /// The application `id`, downcast (for tests and reports).
    pub fn app<T: App>(&self, id: AppId) -> Option<&T> {
        let app: &dyn Any = self.apps.get(id.0)?.as_deref()?;
        app.downcast_ref()
    }

    /// Every application of type `T` (for reports, e.g. the IKE daemons' key logs).
    pub fn apps_of<T: App>(&self) -> impl Iterator<Item = &T> {
        self.apps.iter().filter_map(|a| {
            let app: &dyn Any = a.as_deref()?;
            app.downcast_ref()
        })
    }

    /// Calls `f` on application `id` with a context, unless it is already running.
    fn with_app(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: AppId,
        f: impl FnOnce(&mut dyn App, &mut HostCtx<'_, '_>),
    ) {
        let Some(mut app) = self.apps.get_mut(id.0).and_then(Option::take) else {
            return;
        };
        let mut hc = HostCtx {
            ctx,
            stack: &mut self.stack,
            app: id,
        };
        f(app.as_mut(), &mut hc);
        self.apps[id.0] = Some(app);
    }

    /// Delivers everything the stack queued for applications, then re-arms the TCP wakeup.
    fn settle(&mut self, ctx: &mut Ctx<'_>) {
        let mut delivered = 0;
        while let Some((app, delivery)) = self.stack.pending.pop_front() {
            delivered += 1;
            assert!(
                delivered <= MAX_DELIVERIES_PER_INPUT,
                "host {}: applications keep provoking events",
                ctx.name()
            );
            match delivery {
                Delivery::Tcp(conn, ev) => self.with_app(ctx, app, |a, h| a.on_tcp(h, conn, ev)),
                Delivery::Tunnel(packet) => self.with_app(ctx, app, |a, h| a.on_tunnel(h, &packet)),
                Delivery::Inject(mut packet) => {
                    ctx.metrics().incr("ip_injected");
                    self.receive(ctx, &mut packet);
                }
            }
        }
        self.stack.rearm(ctx);
    }

    fn receive(&mut self, ctx: &mut Ctx<'_>, data: &mut [u8]) {
        let Ok(ip_packet) = Ipv4Packet::new_checked(&*data) else {
            return ctx.metrics().incr("dropped_malformed");
        };
        let Ok(ip) = Ipv4Repr::parse(&ip_packet) else {
            return ctx.metrics().incr("dropped_malformed");
        };
        if !self.stack.is_local(ip.dst_addr) {
            return self.stack.forward(ctx, data, ip.dst_addr);
        }
        let ip_packet = Ipv4Packet::new_unchecked(&*data);
        ctx.metrics().incr("ip_received");
        let payload = ip_packet.payload();
        match ip.next_header {
            IpProtocol::UDP => self.receive_udp(ctx, &ip, payload),
            IpProtocol::TCP => self.stack.receive_tcp(ctx, &ip, payload),
            proto => match self.stack.raw.get(&proto.0).copied() {
                Some(app) => self.with_app(ctx, app, |a, h| {
                    a.on_ip(h, ip.src_addr, ip.dst_addr, payload)
                }),
                None => ctx.metrics().incr("dropped_no_protocol"),
            },
        }
    }

    fn receive_udp(&mut self, ctx: &mut Ctx<'_>, ip: &Ipv4Repr, payload: &[u8]) {
        let Ok(udp_packet) = UdpPacket::new_checked(payload) else {
            return ctx.metrics().incr("dropped_malformed");
        };
        let Ok(udp) = UdpRepr::parse(&udp_packet, ip.src_addr, ip.dst_addr) else {
            return ctx.metrics().incr("dropped_malformed");
        };
        let Some(app) = self.stack.udp.get(&udp.dst_port).copied() else {
            return ctx.metrics().incr("udp_no_socket");
        };
        let from = SocketAddrV4::new(ip.src_addr, udp.src_port);
        let to = SocketAddrV4::new(ip.dst_addr, udp.dst_port);
        self.with_app(ctx, app, |a, h| a.on_udp(h, from, to, udp_packet.payload()));
    }
}

impl Node for Host {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        for i in 0..self.apps.len() {
            self.with_app(ctx, AppId(i), |a, h| a.start(h));
        }
        self.settle(ctx);
    }

    fn on_packet(&mut self, ctx: &mut Ctx<'_>, _: IfaceId, mut packet: Packet) {
        self.receive(ctx, &mut packet.data);
        self.settle(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, token: u64) {
        if token == TCP_WAKEUP {
            self.stack.wakeup = None;
            self.stack.expire_tcp(ctx);
        } else if let Some((app, user, _)) = self.stack.app_timers.remove(&token) {
            self.with_app(ctx, app, |a, h| a.on_timer(h, user));
        }
        self.settle(ctx);
    }

    fn on_action(&mut self, ctx: &mut Ctx<'_>, action: &dyn Any) {
        for i in 0..self.apps.len() {
            self.with_app(ctx, AppId(i), |a, h| a.on_action(h, action));
        }
        self.settle(ctx);
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        for i in 0..self.apps.len() {
            self.with_app(ctx, AppId(i), |a, h| a.finish(h));
        }
        for entry in self.stack.conns.values() {
            record_tcp_stats(ctx.metrics(), &entry.conn);
        }
    }
}

/// Adds a connection's statistics to the host's metrics when it ends (or the run does):
/// counters summed over connections, a histogram of smoothed RTTs, and, when the connection
/// recorded them, its cwnd and ssthresh over time as series named after the local port.
fn record_tcp_stats(m: &mut Metrics, conn: &Connection) {
    let s = conn.stats();
    m.add("tcp_segments_sent", s.segments_sent);
    m.add("tcp_bytes_sent", s.bytes_sent);
    m.add("tcp_retransmits_fast", s.retransmits_fast);
    m.add("tcp_retransmits_rto", s.retransmits_rto);
    m.add("tcp_dupacks_received", s.dupacks_received);
    m.add("tcp_timeouts", s.timeouts);
    if s.srtt > sim::SimDuration::ZERO {
        m.record("tcp_srtt_ns", s.srtt.as_nanos());
    }
    let port = conn.local().port();
    for &(t, cwnd, ssthresh) in &s.cwnd_series {
        m.sample(format!("tcp_cwnd_bytes[{port}]"), t, f64::from(cwnd));
        m.sample(
            format!("tcp_ssthresh_bytes[{port}]"),
            t,
            f64::from(ssthresh),
        );
    }
}

impl Stack {
    /// The source address for traffic to `dst`: a tunnel's, else the egress interface's.
    fn local_source(&self, dst: Ipv4Addr) -> Result<Ipv4Addr, SocketError> {
        match self.tunnels.lookup(dst).and_then(|t| t.src) {
            Some(src) => Ok(src),
            None => self.source_for(dst).map(|(_, src)| src),
        }
    }

    fn is_local(&self, addr: Ipv4Addr) -> bool {
        self.cfg.addresses.contains(&addr) || self.virtual_addrs.contains(&addr)
    }

    /// Forwards a packet for another address (if this host forwards): into a tunnel if one
    /// covers the destination, else by the routing table, one TTL hop either way.
    fn forward(&mut self, ctx: &mut Ctx<'_>, data: &mut [u8], dst: Ipv4Addr) {
        if !self.cfg.forwarding {
            return ctx.metrics().incr("dropped_not_for_me");
        }
        if let Some(tunnel) = self.tunnels.lookup(dst).copied() {
            return match decrement_ttl(data) {
                Ok(()) => {
                    ctx.metrics().incr("forwarded_to_tunnel");
                    self.pending
                        .push_back((tunnel.app, Delivery::Tunnel(data.to_vec())));
                }
                Err(drop) => ctx.metrics().incr(drop.metric()),
            };
        }
        match forward_hop(data, &self.cfg.routes) {
            Ok(iface) => {
                ctx.metrics().incr("forwarded");
                let packet = ctx.packet(data.to_vec());
                ctx.send(iface, packet);
            }
            Err(drop) => ctx.metrics().incr(drop.metric()),
        }
    }

    fn source_for(&self, dst: Ipv4Addr) -> Result<(IfaceId, Ipv4Addr), SocketError> {
        let iface = match self.cfg.routes.lookup(dst) {
            Some(r) => r.iface,
            None if self.cfg.addresses.len() == 1 => IfaceId(0),
            None => return Err(SocketError::NoRoute),
        };
        let src = *self
            .cfg
            .addresses
            .get(iface.0 as usize)
            .ok_or(SocketError::NoRoute)?;
        Ok((iface, src))
    }

    /// Wraps `payload` in IPv4 and sends it out of the interface routing picks.
    fn send_ip(
        &mut self,
        ctx: &mut Ctx<'_>,
        src: Option<Ipv4Addr>,
        dst: Ipv4Addr,
        proto: IpProtocol,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8], Ipv4Addr),
    ) -> Result<(), SocketError> {
        let tunnel = self.tunnels.lookup(dst).copied();
        let (iface, default_src) = match tunnel {
            Some(t) => (
                None,
                t.src
                    .map_or_else(|| self.source_for(dst).map(|s| s.1), Ok)?,
            ),
            None => self.source_for(dst).map(|(i, s)| (Some(i), s))?,
        };
        let src = src.unwrap_or(default_src);
        self.ident = self.ident.wrapping_add(1);
        let repr = Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: proto,
            payload_len,
            hop_limit: self.cfg.ttl,
            ident: self.ident,
            dont_frag: true,
        };
        let mut buf = vec![0; repr.buffer_len()];
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut ip);
        fill(ip.payload_mut(), src);
        ctx.metrics().incr("ip_sent");
        match (iface, tunnel) {
            (Some(iface), _) => {
                let packet = ctx.packet(buf);
                ctx.send(iface, packet);
            }
            (None, Some(t)) => self.pending.push_back((t.app, Delivery::Tunnel(buf))),
            (None, None) => unreachable!("an interface or a tunnel was chosen above"),
        }
        Ok(())
    }

    fn send_tcp(
        &mut self,
        ctx: &mut Ctx<'_>,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        repr: &TcpRepr,
        payload: &[u8],
    ) {
        let len = repr.buffer_len();
        // A connection's segments leave from its own address; routing picks the interface.
        let sent = self.send_ip(
            ctx,
            Some(*src.ip()),
            *dst.ip(),
            IpProtocol::TCP,
            len,
            |buf, _| {
                let mut tcp = TcpPacket::new_unchecked(buf);
                repr.emit(&mut tcp, *src.ip(), *dst.ip(), |p| {
                    p.copy_from_slice(payload)
                });
            },
        );
        if sent.is_err() {
            ctx.metrics().incr("dropped_no_route");
        }
    }

    fn receive_tcp(&mut self, ctx: &mut Ctx<'_>, ip: &Ipv4Repr, payload: &[u8]) {
        let Ok(tcp_packet) = TcpPacket::new_checked(payload) else {
            return ctx.metrics().incr("dropped_malformed");
        };
        let Ok(repr) = TcpRepr::parse(&tcp_packet, ip.src_addr, ip.dst_addr) else {
            return ctx.metrics().incr("dropped_malformed");
        };
        let local = SocketAddrV4::new(ip.dst_addr, repr.dst_port);
        let remote = SocketAddrV4::new(ip.src_addr, repr.src_port);
        let data = tcp_packet.payload();
        if let Some(&id) = self.demux.get(&(local, remote)) {
            self.conns[id].conn.handle_segment(ctx.now(), &repr, data);
            return self.drive(ctx, id);
        }
        let is_syn = repr.control == crate::wire::TcpControl::Syn && repr.ack_number.is_none();
        if let (true, Some((app, cfg))) = (is_syn, self.listeners.get(&repr.dst_port).cloned()) {
            let iss = TcpSeqNumber(ctx.rng().next_u32());
            let conn = Connection::accept(ctx.now(), local, remote, &repr, iss, cfg);
            ctx.metrics().incr("tcp_accepted");
            let id = self.add_conn(conn, app, local, remote);
            return self.drive(ctx, id);
        }
        // RFC 9293 §3.10.7.1: a segment for no connection gets a reset (never for a RST).
        if let Some(rst) = reset_for(&repr, data.len()) {
            ctx.metrics().incr("tcp_rst_sent");
            self.send_tcp(ctx, local, remote, &rst, &[]);
        }
    }

    fn add_conn(
        &mut self,
        conn: Connection,
        app: AppId,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> ConnId {
        let id = self.conns.insert(Box::new(ConnEntry {
            conn,
            app,
            deadline: None,
        }));
        self.demux.insert((local, remote), id);
        id
    }

    /// Drains a connection's output and events and updates its deadline. A connection that
    /// reports `Closed` or `Failed` is removed after its events are queued.
    fn drive(&mut self, ctx: &mut Ctx<'_>, id: ConnId) {
        let now = ctx.now();
        let Some(entry) = self.conns.get_mut(id) else {
            return;
        };
        let (local, remote, app) = (entry.conn.local(), entry.conn.remote(), entry.app);
        // They leave after the events are queued.
        let segments = crate::polled::drain(|| entry.conn.poll_transmit(now));
        let mut finished = false;
        while let Some(ev) = entry.conn.poll_event() {
            finished |= matches!(ev, TcpEvent::Closed | TcpEvent::Failed(_));
            if let TcpEvent::Failed(e) = ev {
                ctx.metrics().incr(match e {
                    ConnectionError::Refused => "tcp_refused",
                    ConnectionError::Reset => "tcp_reset",
                    ConnectionError::TimedOut => "tcp_timed_out",
                });
            }
            self.pending.push_back((app, Delivery::Tcp(id, ev)));
        }
        let deadline = if finished {
            None
        } else {
            entry.conn.poll_timeout()
        };
        // The index is only rewritten when the deadline moved: at a gateway it holds every
        // connection, and many drives (an ACK that changes no timer) leave it in place.
        if entry.deadline != deadline {
            if let Some(old) = entry.deadline {
                self.deadlines.remove(&(old, id));
            }
            if let Some(d) = deadline {
                self.deadlines.insert((d, id));
            }
            entry.deadline = deadline;
        }
        for seg in segments {
            self.send_tcp(ctx, local, remote, &seg.repr, &seg.payload);
        }
        if finished {
            let entry = self.conns.remove(id).expect("present above");
            self.demux.remove(&(local, remote));
            record_tcp_stats(ctx.metrics(), &entry.conn);
        }
    }

    /// Runs the timeouts of every connection whose deadline has come.
    fn expire_tcp(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        while let Some(&(t, id)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.remove(&(t, id));
            if let Some(entry) = self.conns.get_mut(id) {
                entry.deadline = None;
                entry.conn.handle_timeout(now);
                self.drive(ctx, id);
                // A deadline that does not move past `now` would stall time (pitfall 6).
                debug_assert!(
                    self.conns
                        .get(id)
                        .and_then(|e| e.deadline)
                        .is_none_or(|d| d > now),
                    "TCP deadline did not advance past {now}"
                );
            }
        }
    }

    /// Keeps exactly one engine timer at the earliest TCP deadline.
    fn rearm(&mut self, ctx: &mut Ctx<'_>) {
        let next = self.deadlines.first().map(|(t, _)| *t);
        if self.wakeup.map(|(t, _)| t) == next {
            return;
        }
        if let Some((_, timer)) = self.wakeup.take() {
            ctx.cancel_timer(timer);
        }
        if let Some(t) = next {
            self.wakeup = Some((t, ctx.set_timer(t, TCP_WAKEUP)));
        }
    }

    fn ephemeral_port(
        &mut self,
        rng: &mut SimRng,
        local: Ipv4Addr,
        remote: SocketAddrV4,
    ) -> Result<u16, SocketError> {
        let span = u32::from(u16::MAX - EPHEMERAL_FIRST) + 1;
        let start = *self
            .next_ephemeral
            .get_or_insert_with(|| EPHEMERAL_FIRST + rng.below(u64::from(span)) as u16);
        for k in 0..span {
            let port = EPHEMERAL_FIRST + ((u32::from(start - EPHEMERAL_FIRST) + k) % span) as u16;
            let taken = self
                .demux
                .contains_key(&(SocketAddrV4::new(local, port), remote))
                || self.listeners.contains_key(&port)
                || self.udp.contains_key(&port);
            if !taken {
                self.next_ephemeral = Some(if port == u16::MAX {
                    EPHEMERAL_FIRST
                } else {
                    port + 1
                });
                return Ok(port);
            }
        }
        Err(SocketError::PortsExhausted)
    }
}

/// An application's window onto its host during a callback.
pub struct HostCtx<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
    stack: &'a mut Stack,
    app: AppId,
}

impl HostCtx<'_, '_> {
    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.ctx.now()
    }
    /// The host's name.
    pub fn name(&self) -> &str {
        self.ctx.name()
    }
    /// The host's random stream.
    pub fn rng(&mut self) -> &mut SimRng {
        self.ctx.rng()
    }
    /// A random stream of the host's own for one purpose (e.g. one per IKE SA), keyed by
    /// the host's name, incarnation and `purpose` (style rule 4).
    pub fn stream(&self, purpose: &str) -> SimRng {
        self.ctx.stream(purpose)
    }

    /// The host's metrics (shared by its applications; prefix names to tell them apart).
    pub fn metrics(&mut self) -> &mut Metrics {
        self.ctx.metrics()
    }
    /// The host's interface addresses, by interface number.
    pub fn addresses(&self) -> &[Ipv4Addr] {
        &self.stack.cfg.addresses
    }
    /// Records a trace line.
    pub fn trace(&mut self, msg: impl FnOnce() -> String) {
        self.ctx.trace(msg);
    }

    /// Adds an address the host owns without an interface (e.g. the virtual address an IKE
    /// responder assigned, RFC 7296 §3.15).
    pub fn add_address(&mut self, addr: Ipv4Addr) {
        if !self.stack.virtual_addrs.contains(&addr) {
            self.stack.virtual_addrs.push(addr);
        }
    }

    /// Removes an address added with [`HostCtx::add_address`].
    pub fn remove_address(&mut self, addr: Ipv4Addr) {
        self.stack.virtual_addrs.retain(|a| *a != addr);
    }

    /// Adds or replaces the route for `prefix` (e.g. `0.0.0.0/0`): a multi-homed host
    /// moving its traffic to another interface, as a mobile client does when it changes
    /// networks (RFC 4555). Sources chosen by routing follow; TCP connections keep their
    /// own source address.
    pub fn set_route(&mut self, prefix: Prefix, iface: IfaceId) {
        self.stack.cfg.routes.insert(prefix, Route { iface });
    }

    /// From now on, packets this host sends or forwards to `selector` go to this
    /// application's `on_tunnel` instead of an interface (an IPsec SPD entry with PROTECT);
    /// packets the host originates into it leave from `src` when given.
    pub fn tunnel_add(&mut self, selector: Prefix, src: Option<Ipv4Addr>) {
        self.stack
            .tunnels
            .insert(selector, Tunnel { app: self.app, src });
    }

    /// Removes a tunnel added with [`HostCtx::tunnel_add`].
    pub fn tunnel_remove(&mut self, selector: Prefix) {
        self.stack.tunnels.remove(selector);
    }

    /// Processes `packet` (a whole IPv4 packet) as if it had been received, after the
    /// current callback: decapsulated tunnel traffic re-enters the host this way.
    pub fn inject(&mut self, packet: Vec<u8>) {
        self.stack
            .pending
            .push_back((self.app, Delivery::Inject(packet)));
    }

    /// Calls this application's `on_timer(token)` at `at`.
    pub fn set_timer(&mut self, at: SimTime, token: u64) -> AppTimer {
        let key = self.stack.next_timer;
        self.stack.next_timer += 1;
        let timer = self.ctx.set_timer(at, key);
        self.stack.app_timers.insert(key, (self.app, token, timer));
        AppTimer(key)
    }

    /// Cancels a timer set by this application.
    pub fn cancel_timer(&mut self, timer: AppTimer) {
        if let Some((_, _, t)) = self.stack.app_timers.remove(&timer.0) {
            self.ctx.cancel_timer(t);
        }
    }

    /// Receives UDP datagrams for `port` (any local address).
    pub fn udp_bind(&mut self, port: u16) -> Result<(), SocketError> {
        if self.stack.udp.contains_key(&port) {
            return Err(SocketError::InUse);
        }
        self.stack.udp.insert(port, self.app);
        Ok(())
    }

    /// Sends a UDP datagram from `src_port` (source address chosen by routing).
    pub fn udp_send(
        &mut self,
        src_port: u16,
        dst: SocketAddrV4,
        payload: &[u8],
    ) -> Result<(), SocketError> {
        let udp = UdpRepr {
            src_port,
            dst_port: dst.port(),
        };
        self.stack.send_ip(
            self.ctx,
            None,
            *dst.ip(),
            IpProtocol::UDP,
            udp.buffer_len(payload.len()),
            |buf, src| {
                udp.emit(
                    &mut UdpPacket::new_unchecked(buf),
                    src,
                    *dst.ip(),
                    payload.len(),
                    |p| p.copy_from_slice(payload),
                );
            },
        )
    }

    /// Receives IP packets of protocol `proto` (e.g. ESP, 50) addressed to this host.
    pub fn ip_bind(&mut self, proto: IpProtocol) -> Result<(), SocketError> {
        if self.stack.raw.contains_key(&proto.0) {
            return Err(SocketError::InUse);
        }
        self.stack.raw.insert(proto.0, self.app);
        Ok(())
    }

    /// Sends `payload` as an IP packet of protocol `proto`.
    pub fn ip_send(
        &mut self,
        proto: IpProtocol,
        dst: Ipv4Addr,
        payload: &[u8],
    ) -> Result<(), SocketError> {
        self.stack
            .send_ip(self.ctx, None, dst, proto, payload.len(), |buf, _| {
                buf.copy_from_slice(payload)
            })
    }

    /// Accepts TCP connections on `port`; each arrives as a `Connected` event.
    pub fn tcp_listen(&mut self, port: u16, cfg: TcpConfig) -> Result<(), SocketError> {
        if self.stack.listeners.contains_key(&port) {
            return Err(SocketError::InUse);
        }
        self.stack.listeners.insert(port, (self.app, cfg));
        Ok(())
    }

    /// Opens a TCP connection to `remote` from an ephemeral port.
    pub fn tcp_connect(
        &mut self,
        remote: SocketAddrV4,
        cfg: TcpConfig,
    ) -> Result<ConnId, SocketError> {
        let src = self.stack.local_source(*remote.ip())?;
        let port = self.stack.ephemeral_port(self.ctx.rng(), src, remote)?;
        let local = SocketAddrV4::new(src, port);
        let iss = TcpSeqNumber(self.ctx.rng().next_u32());
        let conn = Connection::connect(self.ctx.now(), local, remote, iss, cfg);
        self.ctx.metrics().incr("tcp_connected");
        let id = self.stack.add_conn(conn, self.app, local, remote);
        self.stack.drive(self.ctx, id);
        Ok(id)
    }

    /// Queues bytes for sending; returns how many were accepted.
    pub fn tcp_send(&mut self, conn: ConnId, data: &[u8]) -> usize {
        let Some(entry) = self.stack.conns.get_mut(conn) else {
            return 0;
        };
        let n = entry.conn.send(data);
        self.stack.drive(self.ctx, conn);
        n
    }

    /// Reads received bytes; returns how many.
    pub fn tcp_recv(&mut self, conn: ConnId, buf: &mut [u8]) -> usize {
        self.tcp_recv_with(conn, buf.len(), crate::tcp::fill(buf))
    }

    /// Reads up to `max` bytes of `conn` in place, handing them to `f` in one or two
    /// slices (in order), as [`Connection::recv_with`]; no buffer to fill and no copy.
    pub fn tcp_recv_with(&mut self, conn: ConnId, max: usize, f: impl FnMut(&[u8])) -> usize {
        let Some(entry) = self.stack.conns.get_mut(conn) else {
            return 0;
        };
        let n = entry.conn.recv_with(max, f);
        // Reading opens the receive window: a window update may be due. A read of nothing
        // (how every read loop ends) changes nothing to drive.
        if n > 0 {
            self.stack.drive(self.ctx, conn);
        }
        n
    }

    /// Free space in the connection's send buffer.
    pub fn tcp_send_space(&self, conn: ConnId) -> usize {
        self.stack
            .conns
            .get(conn)
            .map_or(0, |e| e.conn.send_space())
    }

    /// Closes the sending direction after queued data (FIN).
    pub fn tcp_close(&mut self, conn: ConnId) {
        if let Some(entry) = self.stack.conns.get_mut(conn) {
            entry.conn.close();
            self.stack.drive(self.ctx, conn);
        }
    }

    /// Resets the connection.
    pub fn tcp_abort(&mut self, conn: ConnId) {
        if let Some(entry) = self.stack.conns.get_mut(conn) {
            entry.conn.abort();
            self.stack.drive(self.ctx, conn);
        }
    }

    /// The connection, for its state and statistics.
    pub fn tcp(&self, conn: ConnId) -> Option<&Connection> {
        self.stack.conns.get(conn).map(|e| &e.conn)
    }
}

/// A timer set by an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppTimer(u64);
