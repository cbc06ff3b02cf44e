//! Test harnesses for [`Connection`]: a two-endpoint [`Pair`] driven by next-event time
//! (style.md rule 12), and [`bulk_transfer`], which runs a transfer over real IPv4/TCP
//! packets through the `sim` engine's links.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use sim::{
    Ctx, IfaceId, LinkParams, Node, Packet, RunError, SimDuration, SimTime, Simulation, TimerId,
};

use super::{Connection, Event, Segment, Stats, TcpConfig, reset_for};
use crate::wire::{IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber};

/// The client's address in both harnesses.
pub const CLIENT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 49152);
/// The server's address in both harnesses.
pub const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 1), 80);

/// One end of a [`Pair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// The active opener.
    Client,
    /// The passive opener, created when the first SYN arrives.
    Server,
}

impl Side {
    const fn index(self) -> usize {
        match self {
            Self::Client => 0,
            Self::Server => 1,
        }
    }

    const fn other(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }
}

/// Decides whether a segment sent by a side is lost.
pub type DropFilter = Box<dyn FnMut(Side, &Segment) -> bool>;

/// Two connections joined by a fixed-delay, infinitely fast, lossless path, with fault
/// knobs. Segments are handed over as `Segment`s, not packets.
pub struct Pair {
    /// Current time.
    pub now: SimTime,
    /// One-way delay, each direction.
    pub delay: SimDuration,
    /// The endpoints; the server is `None` until its SYN arrives (or if not listening).
    pub conns: [Option<Connection>; 2],
    /// Whether the server side accepts SYNs; if not, it answers with [`reset_for`].
    pub listening: bool,
    /// Configuration and ISS for the server's connection.
    pub server_cfg: TcpConfig,
    /// The server's initial sequence number.
    pub server_iss: TcpSeqNumber,
    /// Every segment sent: time, sender, header (dropped ones too).
    pub log: Vec<(SimTime, Side, TcpRepr)>,
    /// Every event per side, with its time.
    pub events: [Vec<(SimTime, Event)>; 2],
    /// Data each side has read (the harness reads everything when `auto_read` is set).
    pub received: [Vec<u8>; 2],
    /// Read all readable data after each step.
    pub auto_read: bool,
    /// Fault injection: return true to lose the segment.
    pub drop: Option<DropFilter>,
    in_flight: BTreeMap<(SimTime, u64), (Side, Segment)>,
    next_id: u64,
}

impl Pair {
    /// A client connecting at time zero with `client_cfg` and ISS `client_iss`; the server
    /// accepts with `server_cfg` and `server_iss`. Nothing is sent until the first step.
    pub fn new(
        client_cfg: TcpConfig,
        client_iss: TcpSeqNumber,
        server_cfg: TcpConfig,
        server_iss: TcpSeqNumber,
    ) -> Self {
        let client = Connection::connect(SimTime::ZERO, CLIENT, SERVER, client_iss, client_cfg);
        Self {
            now: SimTime::ZERO,
            delay: SimDuration::from_millis(10),
            conns: [Some(client), None],
            listening: true,
            server_cfg,
            server_iss,
            log: Vec::new(),
            events: [Vec::new(), Vec::new()],
            received: [Vec::new(), Vec::new()],
            auto_read: true,
            drop: None,
            in_flight: BTreeMap::new(),
            next_id: 0,
        }
    }

    /// Both sides with the default configuration.
    pub fn default_pair() -> Self {
        Self::new(
            TcpConfig::default(),
            TcpSeqNumber(1000),
            TcpConfig::default(),
            TcpSeqNumber(5000),
        )
    }

    /// The connection of `side`.
    ///
    /// # Panics
    ///
    /// If that side has no connection yet.
    pub fn conn(&mut self, side: Side) -> &mut Connection {
        self.conns[side.index()]
            .as_mut()
            .expect("this side has no connection yet")
    }

    /// Drains `side`: transmits, events, reads (the driving contract).
    pub fn pump(&mut self, side: Side) {
        let now = self.now;
        let Some(conn) = self.conns[side.index()].as_mut() else {
            return;
        };
        let mut out = Vec::new();
        while let Some(segment) = conn.poll_transmit(now) {
            out.push(segment);
        }
        while let Some(event) = conn.poll_event() {
            self.events[side.index()].push((now, event));
        }
        if self.auto_read {
            let mut buf = vec![0; conn.recv_len()];
            let n = conn.recv(&mut buf);
            self.received[side.index()].extend_from_slice(&buf[..n]);
            while let Some(segment) = conn.poll_transmit(now) {
                out.push(segment);
            }
        }
        for segment in out {
            self.send(side, segment);
        }
    }

    fn send(&mut self, from: Side, segment: Segment) {
        self.log.push((self.now, from, segment.repr));
        if self.drop.as_mut().is_some_and(|f| f(from, &segment)) {
            return;
        }
        self.in_flight
            .insert((self.now + self.delay, self.next_id), (from, segment));
        self.next_id += 1;
    }

    /// The next instant something happens, if anything will.
    pub fn next_event_time(&self) -> Option<SimTime> {
        let arrival = self.in_flight.keys().next().map(|(t, _)| *t);
        let timeouts = self
            .conns
            .iter()
            .flatten()
            .filter_map(Connection::poll_timeout);
        arrival.into_iter().chain(timeouts).min()
    }

    /// Advances to the next event and processes everything due then. Returns false when
    /// nothing is left to happen.
    pub fn step(&mut self) -> bool {
        for side in [Side::Client, Side::Server] {
            self.pump(side);
        }
        let Some(t) = self.next_event_time() else {
            return false;
        };
        self.now = t;
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > t {
                break;
            }
            let (from, segment) = entry.remove();
            self.deliver(from.other(), &segment);
        }
        for side in [Side::Client, Side::Server] {
            let Some(conn) = self.conns[side.index()].as_mut() else {
                continue;
            };
            if conn.poll_timeout().is_some_and(|at| at <= t) {
                conn.handle_timeout(t);
                assert!(
                    conn.poll_timeout().is_none_or(|at| at > t),
                    "deadline not in the future after handle_timeout (pitfall 6)"
                );
                self.pump(side);
            }
        }
        true
    }

    fn deliver(&mut self, to: Side, segment: &Segment) {
        let now = self.now;
        let slot = &mut self.conns[to.index()];
        if slot.is_none()
            && to == Side::Server
            && self.listening
            && segment.repr.control == TcpControl::Syn
            && segment.repr.ack_number.is_none()
        {
            *slot = Some(Connection::accept(
                now,
                SERVER,
                CLIENT,
                &segment.repr,
                self.server_iss,
                self.server_cfg.clone(),
            ));
        } else if let Some(conn) = slot.as_mut() {
            conn.handle_segment(now, &segment.repr, &segment.payload);
        } else if let Some(rst) = reset_for(&segment.repr, segment.payload.len()) {
            self.send(
                to,
                Segment {
                    repr: rst,
                    payload: Vec::new(),
                },
            );
            return;
        }
        self.pump(to);
    }

    /// Steps until `done` holds or `max_steps` steps have run; returns whether `done` held.
    pub fn drive_until(
        &mut self,
        max_steps: usize,
        mut done: impl FnMut(&mut Self) -> bool,
    ) -> bool {
        for _ in 0..max_steps {
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }

    /// Steps until nothing is left to happen or time passes `until`.
    pub fn drive_to(&mut self, until: SimTime) {
        for side in [Side::Client, Side::Server] {
            self.pump(side);
        }
        while self.next_event_time().is_some_and(|t| t <= until) {
            self.step();
        }
        self.now = self.now.max(until);
    }

    /// Events of `side` so far, without times.
    pub fn events_of(&self, side: Side) -> Vec<Event> {
        self.events[side.index()].iter().map(|(_, e)| *e).collect()
    }

    /// Segments sent by `side` so far.
    pub fn sent_by(&self, side: Side) -> Vec<(SimTime, TcpRepr)> {
        self.log
            .iter()
            .filter(|(_, s, _)| *s == side)
            .map(|(t, _, r)| (*t, *r))
            .collect()
    }
}

/// Parameters of a simulated bulk transfer from a client to a server.
#[derive(Clone, Debug)]
pub struct BulkParams {
    /// Payload bytes the client sends.
    pub bytes: u64,
    /// Configuration of both endpoints.
    pub cfg: TcpConfig,
    /// Client to server link direction.
    pub forward: LinkParams,
    /// Server to client link direction.
    pub reverse: LinkParams,
    /// Root seed of the simulation (the loss streams derive from it).
    pub seed: u64,
    /// Stop the run here if the transfer has not finished.
    pub time_limit: SimDuration,
}

/// What a bulk transfer measured.
#[derive(Clone, Debug)]
pub struct BulkResult {
    /// When the server had received every byte, since the client's SYN.
    pub completion: Option<SimDuration>,
    /// The client's (data sender's) counters.
    pub sender: Stats,
    /// The server's (data receiver's) counters.
    pub receiver: Stats,
    /// Packets dropped by the forward direction's queue.
    pub queue_drops: u64,
    /// Packets lost on the forward direction's wire.
    pub wire_losses: u64,
}

impl BulkResult {
    /// Goodput in bits per second over the completion time.
    pub fn goodput_bps(&self, bytes: u64) -> Option<f64> {
        self.completion
            .map(|d| bytes as f64 * 8.0 / d.as_secs_f64())
    }
}

/// Runs a bulk transfer through two engine nodes joined by one link.
///
/// Each node wraps one [`Connection`] and turns segments into real IPv4/TCP packets with
/// [`crate::wire`] and back. The payload is a known byte pattern that the receiver checks.
pub fn bulk_transfer(params: &BulkParams) -> Result<BulkResult, RunError> {
    let mut sim = Simulation::new(params.seed);
    let (cfg, bytes) = (params.cfg.clone(), params.bytes);
    let client = sim
        .add_node(
            "client",
            Box::new(move |_| Box::new(BulkNode::new(Role::Sender { left: bytes }, cfg.clone()))),
        )
        .expect("fresh simulation");
    let cfg = params.cfg.clone();
    let server = sim
        .add_node(
            "server",
            Box::new(move |_| {
                Box::new(BulkNode::new(
                    Role::Receiver {
                        got: 0,
                        want: bytes,
                    },
                    cfg.clone(),
                ))
            }),
        )
        .expect("fresh simulation");
    sim.connect(
        "wire",
        client,
        server,
        params.forward.clone(),
        params.reverse.clone(),
    )
    .expect("fresh simulation");
    sim.run_until(SimTime::ZERO + params.time_limit)?;
    let node = |id| sim.node::<BulkNode>(id).expect("nodes never crash here");
    let (tx, rx) = (node(client), node(server));
    let counters = &sim.links().next().expect("one link").counters[0].clone();
    Ok(BulkResult {
        completion: rx.done_at.map(|t| t.since_start()),
        sender: tx.conn.as_ref().map(|c| c.stats()).unwrap_or_default(),
        receiver: rx.conn.as_ref().map(|c| c.stats()).unwrap_or_default(),
        queue_drops: counters.dropped_queue,
        wire_losses: counters.dropped_loss,
    })
}

/// What a [`BulkNode`]'s application does.
#[derive(Clone, Copy, Debug)]
enum Role {
    Sender { left: u64 },
    Receiver { got: u64, want: u64 },
}

/// The byte at stream offset `i` of a bulk transfer.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// An engine node holding one connection and a bulk-transfer application.
struct BulkNode {
    role: Role,
    cfg: TcpConfig,
    conn: Option<Connection>,
    sent: u64,
    connected: bool,
    closed: bool,
    done_at: Option<SimTime>,
    /// The one pending wakeup and its deadline.
    wakeup: Option<(TimerId, SimTime)>,
}

impl BulkNode {
    fn new(role: Role, cfg: TcpConfig) -> Self {
        Self {
            role,
            cfg,
            conn: None,
            sent: 0,
            connected: false,
            closed: false,
            done_at: None,
            wakeup: None,
        }
    }

    fn addrs(&self) -> (SocketAddrV4, SocketAddrV4) {
        match self.role {
            Role::Sender { .. } => (CLIENT, SERVER),
            Role::Receiver { .. } => (SERVER, CLIENT),
        }
    }

    /// Handle → drain transmits and events (the application reacts) → re-arm the wakeup.
    fn drive(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let (local, remote) = self.addrs();
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        loop {
            if let (true, Role::Sender { left }) = (self.connected, &mut self.role) {
                // The application writes whenever the send buffer has room.
                while *left > 0 && conn.send_space() > 0 {
                    let len = (*left).min(conn.send_space() as u64).min(64 * 1024);
                    let chunk: Vec<u8> = (self.sent..self.sent + len).map(pattern).collect();
                    let n = conn.send(&chunk) as u64;
                    self.sent += n;
                    *left -= n;
                }
                if *left == 0 && !self.closed {
                    self.closed = true;
                    conn.close();
                }
            }
            while let Some(segment) = conn.poll_transmit(now) {
                let packet = ctx.packet(emit_packet(local, remote, &segment));
                ctx.send(IfaceId(0), packet);
            }
            let mut acted = false;
            while let Some(event) = conn.poll_event() {
                acted = true;
                match (event, &mut self.role) {
                    (Event::Connected, _) => self.connected = true,
                    (Event::Readable, Role::Receiver { got, want }) => {
                        let mut buf = vec![0; conn.recv_len()];
                        let n = conn.recv(&mut buf);
                        for (i, b) in buf[..n].iter().enumerate() {
                            assert_eq!(*b, pattern(*got + i as u64), "corrupted stream");
                        }
                        *got += n as u64;
                        if *got >= *want && self.done_at.is_none() {
                            self.done_at = Some(now);
                        }
                    }
                    (Event::PeerFinished, Role::Receiver { .. }) => conn.close(),
                    _ => {}
                }
            }
            if !acted {
                break;
            }
        }
        let deadline = conn.poll_timeout();
        if self.wakeup.map(|(_, at)| at) != deadline {
            if let Some((id, _)) = self.wakeup.take() {
                ctx.cancel_timer(id);
            }
            self.wakeup = deadline.map(|at| (ctx.set_timer(at, 0), at));
        }
    }
}

impl Node for BulkNode {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        if let Role::Sender { .. } = self.role {
            let (local, remote) = self.addrs();
            self.conn = Some(Connection::connect(
                ctx.now(),
                local,
                remote,
                TcpSeqNumber(0x1000),
                self.cfg.clone(),
            ));
            self.drive(ctx);
        }
    }

    fn on_packet(&mut self, ctx: &mut Ctx<'_>, _iface: IfaceId, packet: Packet) {
        let Some((repr, payload)) = parse_packet(&packet.data) else {
            return;
        };
        let now = ctx.now();
        let (local, remote) = self.addrs();
        match self.conn.as_mut() {
            Some(conn) => conn.handle_segment(now, &repr, payload),
            None if repr.control == TcpControl::Syn => {
                self.conn = Some(Connection::accept(
                    now,
                    local,
                    remote,
                    &repr,
                    TcpSeqNumber(0x8000_0000),
                    self.cfg.clone(),
                ));
            }
            None => return,
        }
        self.drive(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _token: u64) {
        self.wakeup = None;
        if let Some(conn) = self.conn.as_mut() {
            conn.handle_timeout(ctx.now());
        }
        self.drive(ctx);
    }
}

/// Builds the IPv4 packet carrying `segment`.
fn emit_packet(local: SocketAddrV4, remote: SocketAddrV4, segment: &Segment) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: *local.ip(),
        dst_addr: *remote.ip(),
        next_header: IpProtocol::TCP,
        payload_len: segment.repr.buffer_len(),
        hop_limit: 64,
        ident: 0,
        dont_frag: true,
    };
    let mut buf = vec![0; ip.buffer_len()];
    let mut ip_packet = Ipv4Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut ip_packet);
    let mut tcp = TcpPacket::new_unchecked(ip_packet.payload_mut());
    segment.repr.emit(&mut tcp, ip.src_addr, ip.dst_addr, |b| {
        b.copy_from_slice(&segment.payload)
    });
    buf
}

/// Parses an IPv4/TCP packet into the segment header and payload.
fn parse_packet(data: &[u8]) -> Option<(TcpRepr, &[u8])> {
    let ip_packet = Ipv4Packet::new_checked(data).ok()?;
    let ip = Ipv4Repr::parse(&ip_packet).ok()?;
    if ip.next_header != IpProtocol::TCP {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip_packet.payload()).ok()?;
    let repr = TcpRepr::parse(&tcp, ip.src_addr, ip.dst_addr).ok()?;
    Some((repr, tcp.payload()))
}
