//! `sim`: ikesim's deterministic discrete-event engine.
//!
//! The engine knows time, events, randomness, nodes and links, and nothing of IP. Layers,
//! bottom up:
//!
//! - [`time`]: integer-nanosecond [`SimTime`] and [`SimDuration`].
//! - [`rng`]: keyed random streams from one root seed, and exact distributions.
//! - [`queue`]: the `(time, seq)`-ordered event queue with O(1) cancellation.
//! - [`link`]: per-direction links with rate, delay, jitter, drop-tail queue, loss and MTU.
//! - [`node`]: the [`Node`] trait and the [`Ctx`] a node acts through.
//! - [`world`]: the [`Simulation`]: topology, event loop, scripted [`Action`]s, guards.
//! - [`metrics`], [`pcap`], [`fingerprint`]: what a run leaves behind.
//!
//! Determinism rules: one run is single-threaded; events at one instant run in insertion
//! order; every random draw comes from a stream keyed by stable names; no wall clock, no
//! OS entropy, no hash-order iteration. Same inputs, same bytes.

#![warn(missing_docs)]

pub mod fingerprint;
pub mod link;
pub mod metrics;
pub mod node;
pub mod pcap;
pub mod queue;
pub mod rng;
pub mod time;
pub mod world;

pub use link::{Direction, Jitter, LinkChange, LinkCounters, LinkParams, LossModel, QueueLimit};
pub use metrics::{Histogram, IntoMetricName, Metric, MetricName, Metrics, TimeSeries};
pub use node::{
    Ctx, IfaceId, LinkId, Node, NodeFactory, NodeId, NodeInit, Packet, PacketId, TimerId,
};
pub use rng::{Ratio, RootSeed, SimRng, StreamKey};
pub use time::{SimDuration, SimTime};
pub use world::{
    Action, Limits, LinkInfo, RunError, RunReport, Simulation, TopologyError, TraceLine,
};
