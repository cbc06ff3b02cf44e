//! Why a command stopped, and the exit code that tells a script which kind of stop it was.
//!
//! DESIGN.md "Errors": bad input (an experiment file, a CLI argument, a sweep folder that is
//! not complete) exits 2 with a message naming the file, the key and what is allowed, and
//! nothing half-written; a failure while working (a job that did not finish, a metric that
//! drifted, a write that failed) exits 1.

use std::fmt;

/// A command that could not do what was asked.
#[derive(Debug)]
pub enum CmdError {
    /// The input is wrong; the message names the file, key and allowed values. Exit code 2.
    Input(String),
    /// The work itself failed (a job, a drift, an I/O error). Exit code 1.
    Failed(String),
}

impl CmdError {
    /// The process exit code for this kind of error: 2 for bad input, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Input(_) => 2,
            Self::Failed(_) => 1,
        }
    }

    /// Wraps an I/O error on `what` as a failure.
    pub fn io(what: &std::path::Path, e: &std::io::Error) -> Self {
        Self::Failed(format!("{}: {e}", what.display()))
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input(m) | Self::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CmdError {}
