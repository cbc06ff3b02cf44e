//! The mobike-tcp scenario's captures in tshark: with the `--keys` directory and the
//! project's RFC 9329 plugin, the INFORMATIONAL exchanges carrying UPDATE_SA_ADDRESSES
//! decrypt, and show RFC 9329 §7.1 on the wire: the same Message ID over UDP and then TCP,
//! followed by a new one (the corrected NAT-D), and a return over UDP.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::Path;

use common::{have_tshark, ikesim, tempdir, tshark_rfc9329};

/// Decrypted UPDATE_SA_ADDRESSES (notify 16400) requests in one capture: (transport,
/// Message ID) per frame, in capture order.
fn updates(out: &Path, capture: &str) -> Vec<(String, String)> {
    tshark_rfc9329(
        out,
        capture,
        &[
            "-Y",
            "isakmp.enc.decrypted && isakmp.notify.msgtype == 16400",
            "-T",
            "fields",
            "-e",
            "tcp.srcport",
            "-e",
            "isakmp.messageid",
        ],
    )
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
    let out = tempdir("mobike");
    let o = ikesim(&[
        "run",
        "scenarios/mobike-tcp.toml",
        "--pcap",
        "--keys",
        "--out",
        out.to_str().unwrap(),
    ]);
    common::ok(&o);
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
}
