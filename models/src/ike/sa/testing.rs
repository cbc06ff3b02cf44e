//! A two-endpoint harness for IKE (style rule 12): an initiator host and a responder
//! host joined by a fake network with latency, random loss and duplication, an optional
//! NAT in front of the initiator, and a drop filter; driven by next-event time.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use sim::{Ratio, RootSeed, SimDuration, SimRng, SimTime, StreamKey};

use super::{EndpointConfig, IKE_PORT, IkeConfig, IkeEndpoint, IkeEvent, SaId, Transmit};
use crate::ike::wire::IdPayload;

/// The initiator's address.
pub const CLIENT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), IKE_PORT);
/// The responder's address.
pub const GATEWAY: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 1), IKE_PORT);
/// The NAT's public address when [`Pair::nat`] is on.
pub const NAT_PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

/// The pre-shared key of [`initiator_config`] and [`responder_config`].
pub const PSK: &[u8] = b"ikesim test psk";

/// The client's configuration: identity `client.example`, [`PSK`], defaults otherwise.
pub fn initiator_config() -> IkeConfig {
    IkeConfig::new(PSK, IdPayload::fqdn("client.example"))
}

/// The gateway's configuration: identity `gateway.example`, [`PSK`], defaults otherwise.
pub fn responder_config() -> IkeConfig {
    IkeConfig::new(PSK, IdPayload::fqdn("gateway.example"))
}

/// One end of a [`Pair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// The client.
    Initiator,
    /// The gateway.
    Responder,
}

impl Side {
    const fn index(self) -> usize {
        match self {
            Self::Initiator => 0,
            Self::Responder => 1,
        }
    }

    const fn other(self) -> Self {
        match self {
            Self::Initiator => Self::Responder,
            Self::Responder => Self::Initiator,
        }
    }
}

/// Decides whether a message sent by a side is lost (in addition to random loss).
pub type DropFilter = Box<dyn FnMut(Side, &Transmit) -> bool>;

/// Two endpoints and a network.
pub struct Pair {
    /// Current time.
    pub now: SimTime,
    /// One-way delay.
    pub latency: SimDuration,
    /// Probability that a message is lost.
    pub loss: Ratio,
    /// Probability that a delivered message arrives twice.
    pub duplicate: Ratio,
    /// Put the initiator behind a NAT (address [`NAT_PUBLIC`], ports shifted by
    /// [`Pair::nat_port_offset`]).
    pub nat: bool,
    /// The NAT maps client port `p` to `p + nat_port_offset`; change it to model a new
    /// mapping (a rebinding, or a new TCP connection). Default 40000.
    pub nat_port_offset: u16,
    /// Fault injection: return true to lose the message.
    pub drop: Option<DropFilter>,
    /// The endpoints, by [`Side`].
    pub endpoints: [IkeEndpoint; 2],
    /// Every event per side with its time.
    pub events: [Vec<(SimTime, SaId, IkeEvent)>; 2],
    /// Every message sent (lost ones too): time, sender, message as sent.
    pub log: Vec<(SimTime, Side, Transmit)>,
    seed: u64,
    rng: SimRng,
    in_flight: BTreeMap<(SimTime, u64), (Side, Transmit)>,
    next_id: u64,
}

impl Pair {
    /// A pure initiator and a responder with `responder`, 10 ms apart, lossless; all
    /// randomness derives from `seed` by stable keys.
    pub fn new(seed: u64, responder: EndpointConfig) -> Self {
        let root = RootSeed(seed);
        let stream = |name: &str| root.stream(&StreamKey::new(&["ike-pair", name]));
        Self {
            now: SimTime::ZERO,
            latency: SimDuration::from_millis(10),
            loss: Ratio::ZERO,
            duplicate: Ratio::ZERO,
            nat: false,
            nat_port_offset: 40000,
            drop: None,
            endpoints: [
                IkeEndpoint::new(SimTime::ZERO, EndpointConfig::initiator(), stream("client")),
                IkeEndpoint::new(SimTime::ZERO, responder, stream("gateway")),
            ],
            events: [Vec::new(), Vec::new()],
            log: Vec::new(),
            seed,
            rng: stream("network"),
            in_flight: BTreeMap::new(),
            next_id: 0,
        }
    }

    /// Starts an IKE SA from the client to the gateway now.
    pub fn connect(&mut self, config: IkeConfig) -> SaId {
        let n = self.endpoints[0].sas().count() as u64;
        let key = StreamKey::new(&["ike-pair", "client-sa"]).part_u64(n);
        let rng = RootSeed(self.seed).stream(&key);
        let id = self.endpoints[0].connect(self.now, config, None, rng, CLIENT, GATEWAY);
        self.pump(Side::Initiator);
        id
    }

    /// The endpoint of `side`.
    pub const fn endpoint(&mut self, side: Side) -> &mut IkeEndpoint {
        &mut self.endpoints[side.index()]
    }

    /// Drains `side`: transmits into the network, events into [`Pair::events`].
    pub fn pump(&mut self, side: Side) {
        let endpoint = &mut self.endpoints[side.index()];
        let mut out = Vec::new();
        while let Some(t) = endpoint.poll_transmit() {
            out.push(t);
        }
        while let Some((id, event)) = endpoint.poll_event() {
            self.events[side.index()].push((self.now, id, event));
        }
        for t in out {
            self.send(side, t);
        }
    }

    fn send(&mut self, from: Side, transmit: Transmit) {
        self.log.push((self.now, from, transmit.clone()));
        let dropped = self.drop.as_mut().is_some_and(|f| f(from, &transmit));
        if dropped || self.rng.chance(self.loss) {
            return;
        }
        let copies = if self.rng.chance(self.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = self.now.saturating_add(self.latency);
            self.in_flight
                .insert((at, self.next_id), (from, transmit.clone()));
            self.next_id += 1;
        }
    }

    /// The next instant something happens.
    pub fn next_event_time(&self) -> Option<SimTime> {
        let arrival = self.in_flight.keys().next().map(|(t, _)| *t);
        let timeouts = self.endpoints.iter().filter_map(IkeEndpoint::poll_timeout);
        arrival.into_iter().chain(timeouts).min()
    }

    /// Advances to the next event and processes everything due then; false when idle.
    pub fn step(&mut self) -> bool {
        let Some(t) = self.next_event_time() else {
            return false;
        };
        self.now = self.now.max(t);
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let (from, transmit) = entry.remove();
            self.deliver(from.other(), &transmit);
        }
        for side in [Side::Initiator, Side::Responder] {
            let endpoint = &mut self.endpoints[side.index()];
            if endpoint.poll_timeout().is_some_and(|at| at <= self.now) {
                endpoint.handle_timeout(self.now);
                self.pump(side);
                let next = self.endpoints[side.index()].poll_timeout();
                assert!(
                    next.is_none_or(|at| at > self.now),
                    "deadline not in the future after handle_timeout (pitfall 6)"
                );
            }
        }
        true
    }

    /// Hands a message to `to`, through the NAT if there is one.
    fn deliver(&mut self, to: Side, transmit: &Transmit) {
        let (mut local, mut remote) = (transmit.remote, transmit.local);
        if self.nat {
            match to {
                Side::Responder => {
                    let port = remote.port().wrapping_add(self.nat_port_offset);
                    remote = SocketAddrV4::new(NAT_PUBLIC, port);
                }
                Side::Initiator => {
                    let port = local.port().wrapping_sub(self.nat_port_offset);
                    local = SocketAddrV4::new(*CLIENT.ip(), port);
                }
            }
        }
        self.endpoints[to.index()].handle_datagram(self.now, local, remote, &transmit.bytes);
        self.pump(to);
    }

    /// Runs until nothing is left to happen.
    ///
    /// # Panics
    ///
    /// If that takes more than `max_steps` steps (a livelock or a timer that never ends).
    #[track_caller]
    pub fn drive_bounded(&mut self, max_steps: usize) {
        for _ in 0..max_steps {
            if !self.step() {
                return;
            }
        }
        panic!("not idle after {max_steps} steps at {}", self.now);
    }

    /// Steps until `done` holds (true) or `max_steps` ran out (false).
    pub fn drive_until(&mut self, max_steps: usize, mut done: impl FnMut(&Self) -> bool) -> bool {
        for _ in 0..max_steps {
            if done(self) {
                return true;
            }
            if !self.step() {
                break;
            }
        }
        done(self)
    }

    /// Steps through every event up to `until`, then sets the clock to `until`.
    pub fn drive_to(&mut self, until: SimTime) {
        while self.next_event_time().is_some_and(|t| t <= until) {
            self.step();
        }
        self.now = self.now.max(until);
    }

    /// Whether `side` has an established SA.
    pub fn established(&self, side: Side) -> bool {
        self.endpoints[side.index()]
            .sas()
            .any(|(_, sa)| sa.is_established())
    }

    /// The events of `side`, without times and SA ids.
    pub fn events_of(&self, side: Side) -> Vec<IkeEvent> {
        self.events[side.index()]
            .iter()
            .map(|(_, _, e)| e.clone())
            .collect()
    }

    /// The messages `side` sent, with their times.
    pub fn sent_by(&self, side: Side) -> Vec<(SimTime, Transmit)> {
        self.log
            .iter()
            .filter(|(_, s, _)| *s == side)
            .map(|(t, _, m)| (*t, m.clone()))
            .collect()
    }
}
