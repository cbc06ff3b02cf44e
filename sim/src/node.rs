//! Nodes: whatever implements [`Node`]. The engine knows nothing of IP; a node receives
//! opaque packets on numbered interfaces and timers it set, and acts through a [`Ctx`].

use std::any::Any;
use std::rc::Rc;

use slotmap::new_key_type;

use crate::link::Direction;
use crate::metrics::Metrics;
use crate::rng::{SimRng, StreamKey};
use crate::time::{SimDuration, SimTime};
use crate::world::{Core, TimerKey};

new_key_type! {
    /// A node of the simulation.
    pub struct NodeId;
}

/// An interface of a node: interfaces are numbered from 0 in the order links attach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfaceId(pub u32);

/// A link of the simulation, numbered from 0 in creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u32);

/// A pending timer, used to cancel it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId(pub(crate) TimerKey);

/// A unique packet number within a run, kept as a packet is forwarded hop by hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PacketId(pub u64);

/// A packet on the wire: the bytes (a real IPv4 packet in ikesim's models) plus engine
/// metadata. What a capture shows is exactly `data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The bytes on the wire.
    pub data: Vec<u8>,
    /// Unique id, assigned when the packet was created.
    pub id: PacketId,
    /// When the packet was created.
    pub created: SimTime,
}

impl Packet {
    /// Length on the wire, in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// Whether the packet has no bytes.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// What a node factory is told when it builds (or rebuilds) a node.
#[derive(Clone, Debug)]
pub struct NodeInit<'a> {
    /// The node's unique name.
    pub name: &'a str,
    /// 0 for the first build, incremented at every crash, so a restarted node draws fresh
    /// but reproducible randomness (style.md pitfall 8).
    pub incarnation: u32,
}

/// Builds a node; called at the start and again after every restart.
pub type NodeFactory = Box<dyn FnMut(&NodeInit<'_>) -> Box<dyn Node>>;

/// The behaviour of a simulated node.
///
/// Callbacks run one at a time at the current simulated instant; all effects go through the
/// [`Ctx`]. A node must clear timers it no longer wants: stale deadlines make time stand
/// still (style.md pitfall 6), which the engine's guards turn into an error.
pub trait Node: Any {
    /// Called once when the run starts (or the node restarts), before any other callback.
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        let _ = ctx;
    }

    /// A packet arrived on `iface`.
    fn on_packet(&mut self, ctx: &mut Ctx<'_>, iface: IfaceId, packet: Packet);

    /// A timer set with [`Ctx::set_timer`] fired; `token` is what the node passed.
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, token: u64) {
        let _ = (ctx, token);
    }

    /// A model-defined scripted action addressed to this node.
    fn on_action(&mut self, ctx: &mut Ctx<'_>, action: &dyn Any) {
        let _ = (ctx, action);
    }

    /// The link on `iface` went down or came up (carrier change).
    fn on_link_change(&mut self, ctx: &mut Ctx<'_>, iface: IfaceId, up: bool) {
        let _ = (ctx, iface, up);
    }

    /// The run ended: record final gauges.
    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        let _ = ctx;
    }
}

/// Per-node engine state that outlives a crash.
#[derive(Debug)]
pub(crate) struct NodeMeta {
    /// Shared with the simulation's name index.
    pub(crate) name: Rc<str>,
    pub(crate) incarnation: u32,
    pub(crate) ifaces: Vec<(LinkId, Direction)>,
    pub(crate) rng: SimRng,
    pub(crate) metrics: Metrics,
}

impl NodeMeta {
    pub(crate) fn stream_key(name: &str, incarnation: u32) -> StreamKey {
        StreamKey::new(&["node", name, "incarnation"]).part_u64(u64::from(incarnation))
    }
}

/// A node's window onto the engine during a callback.
pub struct Ctx<'a> {
    pub(crate) core: &'a mut Core,
    pub(crate) node: NodeId,
    pub(crate) meta: &'a mut NodeMeta,
}

impl Ctx<'_> {
    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.core.now
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// This node's incarnation (0 until its first crash).
    pub fn incarnation(&self) -> u32 {
        self.meta.incarnation
    }

    /// How many interfaces this node has.
    pub fn iface_count(&self) -> usize {
        self.meta.ifaces.len()
    }

    /// Wraps bytes into a packet with a fresh id, created now.
    pub fn packet(&mut self, data: Vec<u8>) -> Packet {
        self.core.new_packet(data)
    }

    /// Sends `packet` out of `iface`. The link decides what happens (queue, loss, MTU);
    /// drops are counted on the link. An interface the node does not have is a bug in the
    /// model and panics.
    pub fn send(&mut self, iface: IfaceId, packet: Packet) {
        let (link, dir) = *self
            .meta
            .ifaces
            .get(iface.0 as usize)
            .unwrap_or_else(|| panic!("node {} has no interface {}", self.meta.name, iface.0));
        self.core.transmit(link, dir, packet);
    }

    /// Calls `on_timer(token)` at `at` (at once if `at` is in the past).
    pub fn set_timer(&mut self, at: SimTime, token: u64) -> TimerId {
        self.core.set_timer(self.node, at, token)
    }

    /// Calls `on_timer(token)` after `d`.
    pub fn set_timer_after(&mut self, d: SimDuration, token: u64) -> TimerId {
        self.set_timer(self.core.now + d, token)
    }

    /// Cancels a pending timer of this node; returns whether it was still pending.
    pub fn cancel_timer(&mut self, timer: TimerId) -> bool {
        self.core.cancel_timer(self.node, timer)
    }

    /// This node's own random stream (keyed by name and incarnation).
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.meta.rng
    }

    /// A separate stream for one purpose inside this node (e.g. one per connection), keyed
    /// by the node's name, incarnation and `purpose`.
    pub fn stream(&self, purpose: &str) -> SimRng {
        let key = NodeMeta::stream_key(&self.meta.name, self.meta.incarnation).part(purpose);
        self.core.seed.stream(&key)
    }

    /// This node's metrics.
    pub fn metrics(&mut self) -> &mut Metrics {
        &mut self.meta.metrics
    }

    /// Records a trace line if tracing is on; `msg` is only evaluated then.
    pub fn trace(&mut self, msg: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.core.trace {
            trace.push(crate::world::TraceLine {
                time: self.core.now,
                node: self.meta.name.to_string(),
                msg: msg(),
            });
        }
    }
}
