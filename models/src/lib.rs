//! `models`: what ikesim simulates.
//!
//! Everything here is a sans-IO state machine or an engine node built from them: wire
//! formats, traffic sources and sinks, and (as the project grows) the IP host stack, TCP,
//! NAT, middleboxes, IKEv2, ESP and the HA cluster.

#![warn(missing_docs)]

mod crypto_mode;
mod polled;

pub mod cluster;
pub mod esp;
pub mod ike;
pub mod ip;
pub mod middlebox;
pub mod nat;
pub mod small_map;
pub mod tcp;
pub mod traffic;
pub mod wire;

pub use self::crypto_mode::CryptoMode;
