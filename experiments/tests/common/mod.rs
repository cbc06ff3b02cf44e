//! Helpers shared by the `ikesim` command tests.

#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]

use std::process::{Command, Output};

/// Runs the `ikesim` binary with `args` from the `experiments` folder.
pub(crate) fn ikesim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ikesim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the ikesim binary runs")
}

/// Asserts the command succeeded and returns its standard output.
pub(crate) fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
