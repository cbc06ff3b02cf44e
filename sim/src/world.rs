//! The simulation: nodes, links, the event loop, the scripted timeline and the guards.

use std::any::Any;
use std::collections::BTreeMap;
use std::rc::Rc;

use petgraph::graph::{NodeIndex, UnGraph};
use slotmap::SlotMap;

use crate::fingerprint::Fingerprint;
use crate::link::{Admission, DirState, Direction, LinkChange, LinkCounters, LinkParams};
use crate::metrics::Metrics;
use crate::node::{
    Ctx, IfaceId, LinkId, Node, NodeFactory, NodeId, NodeInit, NodeMeta, Packet, PacketId, TimerId,
};
use crate::pcap::LinkCapture;
use crate::queue::EventQueue;
use slotmap::new_key_type;

new_key_type! {
    /// A live timer: present in the slab from `set_timer` until it fires or is cancelled.
    pub(crate) struct TimerKey;
    /// A packet in flight on a link.
    pub(crate) struct PacketKey;
}
use crate::rng::{RootSeed, StreamKey};
use crate::time::SimTime;

/// Something scheduled on the future-event list. Kept to 16 bytes (payloads live in slabs)
/// because the queue moves events around; see BENCHMARKS.md.
#[derive(Debug)]
pub(crate) enum Event {
    Arrive {
        link: LinkId,
        dir: Direction,
        packet: PacketKey,
    },
    Timer(TimerKey),
    Action(u32),
}

/// A packet on its way across a link, and the link epoch it was sent in.
#[derive(Debug)]
pub(crate) struct InFlight {
    packet: Packet,
    epoch: u32,
}

/// A live timer's owner and token.
#[derive(Debug)]
pub(crate) struct TimerEntry {
    node: NodeId,
    token: u64,
}

/// A scripted action on the timeline.
pub enum Action {
    /// Take both directions of a link down: queued and in-flight packets are lost.
    LinkDown(LinkId),
    /// Bring both directions of a link back up.
    LinkUp(LinkId),
    /// Change one parameter of one direction (`Some`) or both (`None`).
    SetLink {
        /// The link.
        link: LinkId,
        /// Which direction, or both.
        dir: Option<Direction>,
        /// The change.
        change: LinkChange,
    },
    /// The node stops: its state is dropped, packets to it are lost, its timers never fire.
    Crash(NodeId),
    /// The node is rebuilt by its factory with a new incarnation (crashing it first if it
    /// is running).
    Restart(NodeId),
    /// A model-defined action, handed to the node's `on_action`.
    Custom {
        /// The node that receives it.
        node: NodeId,
        /// What the model needs to carry it out.
        payload: Box<dyn Any>,
    },
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::LinkDown(l) => write!(f, "LinkDown({l:?})"),
            Self::LinkUp(l) => write!(f, "LinkUp({l:?})"),
            Self::SetLink { link, dir, change } => {
                write!(f, "SetLink({link:?}, {dir:?}, {change:?})")
            }
            Self::Crash(n) => write!(f, "Crash({n:?})"),
            Self::Restart(n) => write!(f, "Restart({n:?})"),
            Self::Custom { node, .. } => write!(f, "Custom({node:?})"),
        }
    }
}

/// One recorded trace line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    /// When.
    pub time: SimTime,
    /// Which node.
    pub node: String,
    /// What it said.
    pub msg: String,
}

/// Bounds that turn a runaway run into an error instead of a hang (style.md pitfall 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most events a run may execute.
    pub max_events: u64,
    /// Most events that may execute at one instant before time is declared stuck.
    pub max_events_per_instant: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_events: u64::MAX,
            max_events_per_instant: 10_000_000,
        }
    }
}

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// More events than [`Limits::max_events`].
    #[error("run {run} (seed {seed}): event budget of {budget} events exhausted at t={time}")]
    EventBudget {
        /// Run label.
        run: String,
        /// Root seed.
        seed: u64,
        /// The budget.
        budget: u64,
        /// When it ran out.
        time: SimTime,
    },
    /// More events at one instant than [`Limits::max_events_per_instant`].
    #[error(
        "run {run} (seed {seed}): time is not advancing: {events} events at t={time} (last by node {node})"
    )]
    TimeStuck {
        /// Run label.
        run: String,
        /// Root seed.
        seed: u64,
        /// The stuck instant.
        time: SimTime,
        /// Events executed there.
        events: u64,
        /// The node whose event came last, or `-` for a link or action.
        node: String,
    },
}

/// Errors building a topology.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// Two nodes or two links with one name.
    #[error("duplicate name {0:?}")]
    DuplicateName(String),
}

/// What a finished run reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunReport {
    /// Events executed.
    pub events: u64,
    /// Simulated time at the end.
    pub end: SimTime,
    /// Rolling hash of every executed event.
    pub fingerprint: u64,
}

pub(crate) struct Link {
    /// Shared with the name index.
    name: Rc<str>,
    ends: [(NodeId, IfaceId); 2],
    dirs: [DirState; 2],
    /// Boxed: few links are captured.
    capture: Option<Box<LinkCapture>>,
}

/// Engine state a node may touch through its [`Ctx`].
pub(crate) struct Core {
    pub(crate) now: SimTime,
    pub(crate) queue: EventQueue<Event>,
    pub(crate) seed: RootSeed,
    pub(crate) trace: Option<Vec<TraceLine>>,
    /// Live timers and their owners; a timer event whose key is gone was cancelled (or its
    /// node crashed) and is skipped. Slots are 16 bytes, so this stays in cache.
    timers: SlotMap<TimerKey, TimerEntry>,
    /// Timer events still queued whose timer is gone: purged in bulk once they are a
    /// quarter of the queue (see [`Core::cancel_timer`]).
    stale: usize,
    in_flight: SlotMap<PacketKey, InFlight>,
    links: Vec<Link>,
    next_packet_id: u64,
}

impl Core {
    pub(crate) fn new_packet(&mut self, data: Vec<u8>) -> Packet {
        let id = PacketId(self.next_packet_id);
        self.next_packet_id += 1;
        Packet {
            data,
            id,
            created: self.now,
        }
    }

    pub(crate) fn transmit(&mut self, link: LinkId, dir: Direction, packet: Packet) {
        let l = &mut self.links[link.0 as usize];
        let d = &mut l.dirs[dir.index()];
        let len = u32::try_from(packet.data.len()).unwrap_or(u32::MAX);
        let admission = d.admit(self.now, len);
        let epoch = d.epoch;
        let tx_start = match admission {
            Admission::Refused => return,
            Admission::Lost { tx_start } | Admission::Arrives { tx_start, .. } => tx_start,
        };
        if let Some(cap) = &mut l.capture {
            cap.dirs[dir.index()].push((tx_start, packet.data.clone()));
        }
        if let Admission::Arrives { at, .. } = admission {
            let packet = self.in_flight.insert(InFlight { packet, epoch });
            self.queue.schedule(at, Event::Arrive { link, dir, packet });
        }
    }

    pub(crate) fn set_timer(&mut self, node: NodeId, at: SimTime, token: u64) -> TimerId {
        let timer = self.timers.insert(TimerEntry { node, token });
        self.queue.schedule(at.max(self.now), Event::Timer(timer));
        TimerId(timer)
    }

    pub(crate) fn cancel_timer(&mut self, node: NodeId, timer: TimerId) -> bool {
        if self.timers.get(timer.0).is_some_and(|t| t.node == node) {
            self.timers.remove(timer.0);
            self.stale += 1;
            self.purge_stale();
            return true;
        }
        false
    }

    /// Removes the events of cancelled timers from the queue once they are a quarter of it
    /// (and at least `STALE_PURGE_MIN`). Hosts re-arm their one wake-up timer whenever their
    /// earliest deadline moves, so cancelled timers pile up: about six per idle client,
    /// each kept until its deadline (memory) and then popped for nothing (a fifth of all
    /// pops in the scale scenario). A purge is O(queue) and follows at least a quarter of
    /// the queue's length in cancellations, so it costs O(1) per cancellation. Dropping
    /// them changes nothing that runs: they would have been skipped.
    fn purge_stale(&mut self) {
        const STALE_PURGE_MIN: usize = 1024;
        if self.stale >= STALE_PURGE_MIN && self.stale * 4 >= self.queue.len() {
            let timers = &self.timers;
            self.queue
                .retain(|e| !matches!(e, Event::Timer(t) if !timers.contains_key(*t)));
            self.stale = 0;
        }
    }
}

struct NodeSlot {
    node: Option<Box<dyn Node>>,
    meta: NodeMeta,
    factory: NodeFactory,
    graph_index: NodeIndex,
}

/// A deterministic discrete-event simulation.
///
/// Build it with [`Simulation::add_node`], [`Simulation::connect`] and
/// [`Simulation::schedule`], then [`Simulation::run_until`]. A run is a pure function of
/// the topology, the parameters and the root seed: the same inputs give the same
/// [`RunReport::fingerprint`], metrics and captures.
pub struct Simulation {
    core: Core,
    nodes: SlotMap<NodeId, NodeSlot>,
    /// Node names, shared with the nodes' own.
    names: BTreeMap<Rc<str>, NodeId>,
    /// Link names, shared with the links' own.
    link_names: BTreeMap<Rc<str>, LinkId>,
    graph: UnGraph<NodeId, LinkId>,
    actions: Vec<Option<Action>>,
    label: String,
    limits: Limits,
    started: bool,
    fingerprint: Fingerprint,
    events: u64,
    instant: SimTime,
    events_at_instant: u64,
}

impl Simulation {
    /// An empty simulation whose randomness all derives from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            core: Core {
                now: SimTime::ZERO,
                queue: EventQueue::new(),
                seed: RootSeed(seed),
                trace: None,
                timers: SlotMap::with_key(),
                stale: 0,
                in_flight: SlotMap::with_key(),
                links: Vec::new(),
                next_packet_id: 0,
            },
            nodes: SlotMap::with_key(),
            names: BTreeMap::new(),
            link_names: BTreeMap::new(),
            graph: UnGraph::default(),
            actions: Vec::new(),
            label: String::from("run"),
            limits: Limits::default(),
            started: false,
            fingerprint: Fingerprint::new(),
            events: 0,
            instant: SimTime::ZERO,
            events_at_instant: 0,
        }
    }

    /// Names the run in errors (e.g. the scenario and run id).
    pub fn set_label(&mut self, label: impl Into<String>) {
        self.label = label.into();
    }

    /// Sets the guards.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Starts recording trace lines from nodes.
    pub fn enable_trace(&mut self) {
        self.core.trace.get_or_insert_with(Vec::new);
    }

    /// The recorded trace lines.
    pub fn trace(&self) -> &[TraceLine] {
        self.core.trace.as_deref().unwrap_or(&[])
    }

    /// The root seed.
    pub fn seed(&self) -> u64 {
        self.core.seed.0
    }

    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.core.now
    }

    /// Adds a node built by `factory` (now, and again after each restart).
    pub fn add_node(
        &mut self,
        name: &str,
        mut factory: NodeFactory,
    ) -> Result<NodeId, TopologyError> {
        if self.names.contains_key(name) {
            return Err(TopologyError::DuplicateName(name.to_owned()));
        }
        let node = factory(&NodeInit {
            name,
            incarnation: 0,
        });
        let name: Rc<str> = Rc::from(name);
        let meta = NodeMeta {
            name: Rc::clone(&name),
            incarnation: 0,
            ifaces: Vec::new(),
            rng: self.core.seed.stream(&NodeMeta::stream_key(&name, 0)),
            metrics: Metrics::new(),
        };
        let graph = &mut self.graph;
        let id = self.nodes.insert_with_key(|id| NodeSlot {
            node: Some(node),
            meta,
            factory,
            graph_index: graph.add_node(id),
        });
        self.names.insert(name, id);
        Ok(id)
    }

    /// Connects `a` and `b` with a link called `name`, with parameters per direction. Each
    /// end gets the next free interface number.
    pub fn connect(
        &mut self,
        name: &str,
        a: NodeId,
        b: NodeId,
        a_to_b: LinkParams,
        b_to_a: LinkParams,
    ) -> Result<LinkId, TopologyError> {
        if self.link_names.contains_key(name) {
            return Err(TopologyError::DuplicateName(name.to_owned()));
        }
        let id = LinkId(u32::try_from(self.core.links.len()).expect("fewer than 2^32 links"));
        let mut end = |n: NodeId, dir| {
            let ifaces = &mut self.nodes[n].meta.ifaces;
            ifaces.push((id, dir));
            (
                n,
                IfaceId(u32::try_from(ifaces.len() - 1).expect("fewer than 2^32 interfaces")),
            )
        };
        let ends = [end(a, Direction::AtoB), end(b, Direction::BtoA)];
        let seed = |d: &str| self.core.seed.derive(&StreamKey::new(&["link", name, d]));
        let (seed_ab, seed_ba) = (seed("a>b"), seed("b>a"));
        let a_to_b = self.shared_params(a_to_b, None);
        let b_to_a = self.shared_params(b_to_a, Some(&a_to_b));
        let dirs = [
            DirState::new(a_to_b, seed_ab),
            DirState::new(b_to_a, seed_ba),
        ];
        let name: Rc<str> = Rc::from(name);
        self.core.links.push(Link {
            name: Rc::clone(&name),
            ends,
            dirs,
            capture: None,
        });
        self.graph
            .add_edge(self.nodes[a].graph_index, self.nodes[b].graph_index, id);
        self.link_names.insert(name, id);
        Ok(id)
    }

    /// `params`, shared with `other` or with a direction of the last link if equal: links
    /// made alike (a group's uplinks, one after the other) keep one copy.
    fn shared_params(&self, params: LinkParams, other: Option<&Rc<LinkParams>>) -> Rc<LinkParams> {
        let last = self.core.links.last().into_iter();
        last.flat_map(|l| l.dirs.iter().map(|d| &d.params))
            .chain(other)
            .find(|p| ***p == params)
            .map_or_else(|| Rc::new(params), Rc::clone)
    }

    /// Connects with the same parameters both ways.
    pub fn connect_sym(
        &mut self,
        name: &str,
        a: NodeId,
        b: NodeId,
        params: LinkParams,
    ) -> Result<LinkId, TopologyError> {
        self.connect(name, a, b, params.clone(), params)
    }

    /// Records every packet put on `link`, both directions, for [`Simulation::capture`].
    pub fn enable_capture(&mut self, link: LinkId) {
        self.core.links[link.0 as usize]
            .capture
            .get_or_insert_with(Box::default);
    }

    /// Records, for both directions of `link`, the number of packets waiting in the queue
    /// as seen by each packet that enters (arrivals see time averages: PASTA).
    pub fn record_queue(&mut self, link: LinkId) {
        for d in &mut self.core.links[link.0 as usize].dirs {
            d.queue_series.get_or_insert_with(Vec::new);
        }
    }

    /// The recorded queue lengths of one direction of `link`, if recording is on.
    pub fn queue_series(&self, link: LinkId, dir: Direction) -> Option<&[(SimTime, u32)]> {
        self.core.links[link.0 as usize].dirs[dir.index()]
            .queue_series
            .as_deref()
    }

    /// The packets captured on `link`, if capture was enabled.
    pub fn capture(&self, link: LinkId) -> Option<&LinkCapture> {
        self.core.links[link.0 as usize].capture.as_deref()
    }

    /// Schedules a scripted action.
    pub fn schedule(&mut self, at: SimTime, action: Action) {
        self.actions.push(Some(action));
        let index = u32::try_from(self.actions.len() - 1).expect("fewer than 2^32 actions");
        self.core.queue.schedule(at, Event::Action(index));
    }

    /// The node called `name`.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.names.get(name).copied()
    }

    /// The name of node `id` (the inverse of [`Simulation::node_id`]).
    pub fn node_name(&self, id: NodeId) -> Option<&str> {
        self.nodes.get(id).map(|s| &*s.meta.name)
    }

    /// The link called `name`.
    pub fn link_id(&self, name: &str) -> Option<LinkId> {
        self.link_names.get(name).copied()
    }

    /// The topology: one graph node per simulation node, one edge per link.
    pub fn topology(&self) -> &UnGraph<NodeId, LinkId> {
        &self.graph
    }

    /// The node, downcast to its concrete type (`None` if crashed or of another type).
    pub fn node<T: Node>(&self, id: NodeId) -> Option<&T> {
        let node: &dyn Any = self.nodes.get(id)?.node.as_deref()?;
        node.downcast_ref()
    }

    /// Every node in creation order: id, name, metrics.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &str, &Metrics)> {
        self.nodes
            .iter()
            .map(|(id, s)| (id, &*s.meta.name, &s.meta.metrics))
    }

    /// The interfaces of a node: for each, the link and direction it sends on.
    pub fn ifaces(&self, id: NodeId) -> &[(LinkId, Direction)] {
        &self.nodes[id].meta.ifaces
    }

    /// Every link in creation order: id, name, endpoints, counters per direction.
    pub fn links(&self) -> impl Iterator<Item = LinkInfo<'_>> {
        self.core.links.iter().enumerate().map(|(i, l)| LinkInfo {
            id: LinkId(i as u32),
            name: &l.name,
            ends: [
                (&*self.nodes[l.ends[0].0].meta.name, l.ends[0].1),
                (&*self.nodes[l.ends[1].0].meta.name, l.ends[1].1),
            ],
            counters: [&l.dirs[0].counters, &l.dirs[1].counters],
        })
    }

    /// Number of events still pending (cancelled timers count until they come due or are
    /// purged, once they are a quarter of the queue).
    pub fn pending_events(&self) -> usize {
        self.core.queue.len()
    }

    /// Number of timers set and neither fired nor cancelled: with
    /// [`Simulation::pending_events`], what a steady-state run must keep flat.
    pub fn live_timers(&self) -> usize {
        self.core.timers.len()
    }

    /// Runs every event up to and including `end`, then sets the clock to `end`.
    pub fn run_until(&mut self, end: SimTime) -> Result<RunReport, RunError> {
        self.run_inner(Some(end))
    }

    /// Runs until no event is pending.
    pub fn run(&mut self) -> Result<RunReport, RunError> {
        self.run_inner(None)
    }

    /// Executes the next event due at or before `end` (cancelled timers are skipped, as
    /// in a run) and returns the node it concerned (`None` for a link or scripted event),
    /// or `Ok(None)` when no event is left before `end`; the clock stays at the last
    /// event. What [`Simulation::run_until`] does one event at a time, so a tool can
    /// observe each event (the `node_profile` example times them by node); the events and
    /// their order are the same.
    pub fn step(&mut self, end: SimTime) -> Result<Option<Option<NodeId>>, RunError> {
        self.start();
        self.step_inner(Some(end))
    }

    /// Lets every running node record its final metrics ([`Node::finish`]).
    pub fn finish(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().collect();
        for id in ids {
            self.with_node(id, |node, ctx| node.finish(ctx));
        }
    }

    fn run_inner(&mut self, end: Option<SimTime>) -> Result<RunReport, RunError> {
        self.start();
        while self.step_inner(end)?.is_some() {}
        if let Some(end) = end {
            self.core.now = self.core.now.max(end);
        }
        Ok(self.report())
    }

    /// Starts every node, the first time the simulation runs.
    fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        // Links attach one by one; no more will.
        for (_, slot) in &mut self.nodes {
            slot.meta.ifaces.shrink_to_fit();
        }
        let ids: Vec<NodeId> = self.nodes.keys().collect();
        for id in ids {
            self.with_node(id, |node, ctx| node.start(ctx));
        }
    }

    /// [`Simulation::step`] once started; `end` of `None` runs to the last event.
    #[inline(always)]
    fn step_inner(&mut self, end: Option<SimTime>) -> Result<Option<Option<NodeId>>, RunError> {
        while let Some(t) = self.core.queue.peek_time() {
            if end.is_some_and(|end| t > end) {
                break;
            }
            let (t, ev) = self.core.queue.pop().expect("peeked above");
            self.core.now = t;
            if let Event::Timer(timer) = ev
                && !self.core.timers.contains_key(timer)
            {
                // Cancelled, or its node crashed: nothing runs, so it is not an event.
                self.core.stale = self.core.stale.saturating_sub(1);
                continue;
            }
            let node = self.dispatch(ev);
            self.guard(t, node)?;
            return Ok(Some(node));
        }
        Ok(None)
    }

    /// The report so far.
    pub fn report(&self) -> RunReport {
        RunReport {
            events: self.events,
            end: self.core.now,
            fingerprint: self.fingerprint.value(),
        }
    }

    fn guard(&mut self, t: SimTime, node: Option<NodeId>) -> Result<(), RunError> {
        self.events += 1;
        if t == self.instant {
            self.events_at_instant += 1;
        } else {
            self.instant = t;
            self.events_at_instant = 1;
        }
        if self.events_at_instant > self.limits.max_events_per_instant {
            return Err(RunError::TimeStuck {
                run: self.label.clone(),
                seed: self.seed(),
                time: t,
                events: self.events_at_instant,
                node: node.map_or_else(|| "-".to_owned(), |n| self.nodes[n].meta.name.to_string()),
            });
        }
        if self.events > self.limits.max_events {
            return Err(RunError::EventBudget {
                run: self.label.clone(),
                seed: self.seed(),
                budget: self.limits.max_events,
                time: t,
            });
        }
        Ok(())
    }

    /// Executes one event; returns the node it concerned, for the guards.
    fn dispatch(&mut self, ev: Event) -> Option<NodeId> {
        let now = self.core.now.as_nanos();
        match ev {
            Event::Arrive { link, dir, packet } => {
                let InFlight { packet, epoch } = self
                    .core
                    .in_flight
                    .remove(packet)
                    .expect("each packet arrives once");
                let l = &mut self.core.links[link.0 as usize];
                let (to, iface) = l.ends[1 - dir.index()];
                self.fingerprint
                    .fold(&[now, 1, u64::from(link.0), packet.len() as u64]);
                let d = &mut l.dirs[dir.index()];
                if d.epoch != epoch {
                    d.counters.dropped_down += 1;
                    return Some(to);
                }
                if self.nodes[to].node.is_none() {
                    d.counters.dropped_node_down += 1;
                    return Some(to);
                }
                d.counters.delivered_packets += 1;
                d.counters.delivered_bytes += packet.len() as u64;
                self.with_node(to, |node, ctx| node.on_packet(ctx, iface, packet));
                Some(to)
            }
            Event::Timer(timer) => {
                let TimerEntry { node, token } = self.core.timers.remove(timer)?;
                self.fingerprint.fold(&[now, 2, node_index(node), token]);
                self.with_node(node, |n, ctx| n.on_timer(ctx, token));
                Some(node)
            }
            Event::Action(i) => {
                self.fingerprint.fold(&[now, 3, u64::from(i)]);
                let action = self.actions[i as usize]
                    .take()
                    .expect("each action runs once");
                self.act(action);
                None
            }
        }
    }

    fn act(&mut self, action: Action) {
        let now = self.core.now;
        match action {
            Action::LinkDown(link) | Action::LinkUp(link) => {
                let up = matches!(action, Action::LinkUp(_));
                let l = &mut self.core.links[link.0 as usize];
                for d in &mut l.dirs {
                    d.set_up(now, up);
                }
                for (node, iface) in l.ends {
                    self.with_node(node, |n, ctx| n.on_link_change(ctx, iface, up));
                }
            }
            Action::SetLink { link, dir, change } => {
                let l = &mut self.core.links[link.0 as usize];
                for d in Direction::BOTH {
                    if dir.is_none_or(|want| want == d) {
                        l.dirs[d.index()].change(&change);
                    }
                }
            }
            Action::Crash(id) => self.crash(id),
            Action::Restart(id) => {
                if self.nodes[id].node.is_some() {
                    self.crash(id);
                }
                let slot = &mut self.nodes[id];
                let inc = slot.meta.incarnation;
                slot.node = Some((slot.factory)(&NodeInit {
                    name: &slot.meta.name,
                    incarnation: inc,
                }));
                slot.meta.rng = self
                    .core
                    .seed
                    .stream(&NodeMeta::stream_key(&slot.meta.name, inc));
                self.with_node(id, |n, ctx| n.start(ctx));
            }
            Action::Custom { node, payload } => {
                self.with_node(node, |n, ctx| n.on_action(ctx, &*payload));
            }
        }
    }

    fn crash(&mut self, id: NodeId) {
        let slot = &mut self.nodes[id];
        if slot.node.take().is_some() {
            slot.meta.incarnation += 1;
            // Its timers die with it (O(live timers); crashes are rare).
            let before = self.core.timers.len();
            self.core.timers.retain(|_, t| t.node != id);
            self.core.stale += before - self.core.timers.len();
        }
    }

    /// Calls `f` with a running node and its context; does nothing if the node is down.
    /// The node's stream is parked afterwards: most nodes draw from it rarely, and a live
    /// generator is ~300 bytes.
    fn with_node(&mut self, id: NodeId, f: impl FnOnce(&mut dyn Node, &mut Ctx<'_>)) {
        let slot = &mut self.nodes[id];
        if let Some(node) = slot.node.as_deref_mut() {
            let mut ctx = Ctx {
                core: &mut self.core,
                node: id,
                meta: &mut slot.meta,
            };
            f(node, &mut ctx);
            slot.meta.rng.park();
        }
    }
}

/// A link as seen from outside: for metrics and reports.
#[derive(Clone, Copy, Debug)]
pub struct LinkInfo<'a> {
    /// Its id.
    pub id: LinkId,
    /// Its name.
    pub name: &'a str,
    /// Endpoint `a` and `b`: node name and interface.
    pub ends: [(&'a str, IfaceId); 2],
    /// Counters for `AtoB` and `BtoA`.
    pub counters: [&'a LinkCounters; 2],
}

fn node_index(id: NodeId) -> u64 {
    slotmap::Key::data(&id).as_ffi()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_stay_small() {
        assert!(size_of::<Event>() <= 16, "{}", size_of::<Event>());
    }
}
