//! `experiments`: the `ikesim` command's library.
//!
//! Scenario files become simulations ([`scenario`], [`build`]); a run leaves metrics,
//! captures and a fingerprint behind ([`run`], [`output`]).

#![warn(missing_docs)]

pub mod atomic;
pub mod build;
pub mod check;
pub mod error;
pub mod experiment;
pub mod list;
pub mod merge;
pub mod output;
pub mod overrides;
pub mod plot;
pub mod routes;
pub mod run;
pub mod scenario;
pub mod stats;
pub mod sweep;
pub mod units;
