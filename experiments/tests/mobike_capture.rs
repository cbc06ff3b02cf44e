//! The mobike-tcp scenario's captures in tshark: with the `--keys` directory and the
//! project's RFC 9329 plugin, the INFORMATIONAL exchanges carrying UPDATE_SA_ADDRESSES
//! decrypt, and show RFC 9329 §7.1 on the wire: the same Message ID over UDP and then TCP,
//! followed by a new one (the corrected NAT-D), and a return over UDP.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether tshark is there; IKESIM_REQUIRE_TSHARK makes a missing tshark a failure.
fn have_tshark() -> bool {
    if Command::new("tshark").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("IKESIM_REQUIRE_TSHARK").is_none(),
        "tshark is required but not installed"
    );
    eprintln!("tshark not installed; skipping (CI installs it)");
    false
}

/// Decrypted UPDATE_SA_ADDRESSES (notify 16400) requests in one capture: (transport,
/// Message ID) per frame, in capture order.
fn updates(out: &Path, capture: &str) -> Vec<(String, String)> {
    let plugin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/wireshark/rfc9329.lua");
    let o = Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", out.join("wireshark"))
        .arg("-X")
        .arg(format!("lua_script:{}", plugin.display()))
        .arg("-n")
        .arg("-r")
        .arg(out.join("pcap").join(capture))
        .args([
            "-Y",
            "isakmp.enc.decrypted && isakmp.notify.msgtype == 16400",
            "-T",
            "fields",
            "-e",
            "tcp.srcport",
            "-e",
            "isakmp.messageid",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{capture}: {stderr}");
    assert!(!stderr.contains("Lua"), "{capture}: {stderr}");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let (tcp, id) = l.split_once('\t').unwrap();
            let transport = if tcp.is_empty() { "udp" } else { "tcp" };
            (transport.to_owned(), id.to_owned())
        })
        .collect()
}

#[test]
fn tshark_decrypts_the_mobike_updates_of_rfc9329_7_1() {
    if !have_tshark() {
        return;
    }
    let out: PathBuf = std::env::temp_dir().join(format!("ikesim-mobike-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::new(env!("CARGO_BIN_EXE_ikesim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "scenarios/mobike-tcp.toml",
            "--pcap",
            "--keys",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // On the UDP-blocking network: the update over UDP (and its retransmission), the same
    // Message ID over TCP, then the corrected update with the next ID over TCP.
    let cell = updates(&out, "cell.pcap");
    let ids: Vec<&str> = cell.iter().map(|(_, id)| id.as_str()).collect();
    let transports: Vec<&str> = cell.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(transports, ["udp", "udp", "tcp", "tcp"], "{cell:?}");
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[1], ids[2], "same Message ID over TCP (RFC 9329 §7.1)");
    assert_ne!(ids[2], ids[3], "a new exchange for the corrected NAT-D");
    // Back on the open network: one update over UDP, answered.
    let wifi = updates(&out, "wifi.pcap");
    assert_eq!(wifi.len(), 1, "{wifi:?}");
    assert_eq!(wifi[0].0, "udp");
    std::fs::remove_dir_all(out).unwrap();
}
