//! `experiments`: the `ikesim` command's library.
//!
//! Scenario files become simulations ([`scenario`], [`build`]); a run leaves metrics,
//! captures and a fingerprint behind ([`run`], [`output`]).

#![warn(missing_docs)]

pub mod build;
pub mod output;
pub mod overrides;
pub mod run;
pub mod scenario;
pub mod units;
