//! RFC 9329 §6.6: no NAT keepalives over TCP (compliant default); a peer that sends them
//! anyway (the alternative policy) has them dropped silently by the receiver.

#![allow(clippy::unwrap_used, reason = "tests")]

mod ike_tcp_harness;

use ike_tcp_harness::{Setup, secs};
use models::ike::daemon::TransportPolicy;

fn run(keepalives: bool) -> ike_tcp_harness::Net {
    let mut policy = TransportPolicy::tcp_only();
    policy.keepalives = keepalives;
    let mut setup = Setup::new(policy);
    setup.block_udp = true;
    setup.nat_keepalive = Some(secs(1));
    let mut net = setup.build();
    net.run_until(secs(10));
    net
}

#[test]
fn compliant_sends_no_keepalives_over_tcp() {
    let net = run(false);
    assert_eq!(net.client_counter("ike_established_tcp"), 1);
    assert_eq!(net.client_counter("nat_keepalives_sent"), 0);
    assert_eq!(net.client_counter("keepalive_tcp_bytes_sent"), 0);
}

#[test]
fn keepalives_sent_anyway_are_dropped_silently() {
    let net = run(true);
    let sent = net.client_counter("nat_keepalives_sent");
    assert!(sent >= 8, "{sent}");
    assert_eq!(net.client_counter("keepalive_tcp_bytes_sent"), 3 * sent);
    assert_eq!(net.gateway_counter("tcp_keepalives_dropped"), sent);
    // Dropped silently: the connection and the SA live on.
    assert_eq!(net.gateway_counter("tcp_closed_corrupted"), 0);
    assert_eq!(net.sas(net.gateway), (1, 1));
}
