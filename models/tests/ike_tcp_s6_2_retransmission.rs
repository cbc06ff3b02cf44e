//! RFC 9329 §6.2: over TCP the exchange initiator does not retransmit on timers (the
//! compliant default); keeping RFC 7296 timers over TCP (the alternative policy) makes the
//! responder see duplicate requests.

#![allow(clippy::unwrap_used, reason = "tests")]

mod ike_tcp_harness;

use ike_tcp_harness::{Setup, ms, secs};
use models::ike::daemon::{TcpRetransmit, TransportPolicy};

/// A retransmission timer (30 ms) shorter than the round trip (40 ms).
fn run(retransmit: TcpRetransmit) -> ike_tcp_harness::Net {
    let mut policy = TransportPolicy::tcp_only();
    policy.retransmit = retransmit;
    let mut setup = Setup::new(policy);
    setup.client_ike.retransmit.initial = ms(30);
    setup.block_udp = true;
    let mut net = setup.build();
    net.run_until(secs(5));
    net
}

#[test]
fn compliant_sends_each_request_once() {
    let net = run(TcpRetransmit::Compliant);
    assert_eq!(net.client_counter("ike_established"), 1);
    let client = net.daemon(net.client).endpoint().unwrap().sa_totals();
    assert_eq!(client.retransmits, 0);
    let gw = net.daemon(net.gateway).endpoint().unwrap().sa_totals();
    assert_eq!(gw.responses_resent, 0, "no duplicate requests");
}

#[test]
fn timers_over_tcp_make_the_responder_see_duplicates() {
    let net = run(TcpRetransmit::Timers);
    assert_eq!(net.client_counter("ike_established"), 1);
    let client = net.daemon(net.client).endpoint().unwrap().sa_totals();
    assert!(client.retransmits >= 2, "{client:?}");
    let gw = net.daemon(net.gateway).endpoint().unwrap().sa_totals();
    let gw_stats = *net.daemon(net.gateway).endpoint().unwrap().stats();
    // The duplicate IKE_SA_INIT goes to the half-open SA, the duplicate IKE_AUTH to the
    // cached response: both cost the responder work and bytes on the connection.
    assert!(gw.responses_resent >= 1, "{gw:?} {gw_stats:?}");
}

#[test]
fn compliant_exchange_fails_after_the_whole_schedule_without_retransmitting() {
    // The gateway drops IKE_SA_INIT (no responder configuration), so nothing answers.
    let mut setup = Setup::new(TransportPolicy::tcp_only());
    setup.gateway_endpoint.responder = None;
    setup.block_udp = true;
    let mut net = setup.build();
    net.run_until(secs(160));
    assert_eq!(net.client_counter("ike_failed"), 0);
    net.run_until(secs(170));
    assert_eq!(
        net.client_counter("ike_failed"),
        1,
        "165 s: the default schedule"
    );
    let client = net.daemon(net.client).endpoint().unwrap().sa_totals();
    // Resent only on re-established connections (the gateway closes idle ones).
    assert_eq!(
        client.retransmits,
        net.client_counter("ike_requests_resent_after_reconnect")
    );
}
