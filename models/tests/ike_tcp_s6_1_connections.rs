//! RFC 9329 §4 and §6.1: the prefix once per connection, and again on every re-established
//! one; a dead connection is not a dead IKE SA: the Originator alone re-opens it, sends an
//! empty INFORMATIONAL when nothing was outstanding, and ESP resumes on the new
//! connection, where the Responder moves the SA; the Originator closes the connection
//! after Delete, the Responder closes connections with no SA.

#![allow(clippy::unwrap_used, reason = "tests")]

mod ike_tcp_harness;

use ike_tcp_harness::{Setup, secs};
use models::ike::daemon::{IkeCommand, TransportPolicy};

fn tcp_net() -> ike_tcp_harness::Net {
    let mut setup = Setup::new(TransportPolicy::tcp_only());
    setup.block_udp = true;
    setup.ping = true;
    setup.build()
}

#[test]
fn prefix_is_sent_once_per_connection() {
    let mut net = tcp_net();
    net.run_until(secs(10));
    assert_eq!(net.client_counter("tcp_prefixes_sent"), 1);
    assert_eq!(net.gateway_counter("tcp_prefixes_received"), 1);
    assert_eq!(net.client_counter("tcp_prefix_bytes_sent"), 6);
    assert_eq!(
        net.gateway_counter("tcp_prefixes_sent"),
        0,
        "the Responder never sends it"
    );
}

#[test]
fn reset_connection_is_reopened_by_the_originator_and_the_sa_survives() {
    let mut net = tcp_net();
    net.reset_at(secs(5));
    net.run_until(secs(5));
    let echoes_before = net.client_counter("udp_echoes");
    net.run_until(secs(15));
    // One reconnect, a second prefix, an empty INFORMATIONAL (nothing was outstanding).
    assert_eq!(net.client_counter("tcp_reconnections"), 1);
    assert_eq!(net.client_counter("tcp_prefixes_sent"), 2);
    assert_eq!(net.gateway_counter("tcp_prefixes_received"), 2);
    assert_eq!(net.client_counter("ike_requests_resent_after_reconnect"), 0);
    let client = net.daemon(net.client).endpoint().unwrap().sa_totals();
    assert!(client.requests_sent >= 3, "IKE_SA_INIT, IKE_AUTH, liveness");
    // The SA is the same; the Responder moved it to the new connection.
    assert_eq!(net.sas(net.client), (1, 1));
    assert_eq!(net.sas(net.gateway), (1, 1));
    assert_eq!(net.gateway_counter("tcp_sa_moved"), 1);
    assert_eq!(net.client_counter("ike_established"), 1);
    assert_eq!(net.client_counter("ike_failed"), 0);
    // ESP resumed on the new connection.
    assert!(net.client_counter("udp_echoes") > echoes_before + 80);
    // The Responder alone never re-opens.
    assert_eq!(net.gateway_counter("tcp_reconnect_attempts"), 0);
}

#[test]
fn outstanding_request_is_resent_after_reconnect() {
    let mut net = tcp_net();
    // The liveness request is the next TCP segment: the on-path node forwards it and
    // resets both ends, so the response never reaches the client.
    net.command(secs(5), net.client, IkeCommand::CheckLiveness);
    net.reset_at(secs(5));
    net.run_until(secs(10));
    assert_eq!(net.client_counter("tcp_reconnections"), 1);
    assert_eq!(net.client_counter("ike_requests_resent_after_reconnect"), 1);
    let gw = net.daemon(net.gateway).endpoint().unwrap().sa_totals();
    assert_eq!(
        gw.responses_resent, 1,
        "the cached response answers the resent request"
    );
    let client = net.daemon(net.client).endpoint().unwrap().sa_totals();
    assert_eq!(client.exchanges_failed, 0);
    assert_eq!(net.sas(net.client), (1, 1));
}

#[test]
fn delete_closes_the_connection() {
    let mut net = tcp_net();
    net.command(secs(5), net.client, IkeCommand::Delete);
    net.run_until(secs(20));
    assert_eq!(net.client_counter("ike_deleted"), 1);
    assert_eq!(net.gateway_counter("ike_deleted"), 1);
    assert_eq!(net.sas(net.client), (0, 0));
    // No reconnect after a Delete: the Originator closed the connection itself.
    assert_eq!(net.client_counter("tcp_reconnect_attempts"), 0);
    assert_eq!(net.client_counter("tcp_prefixes_sent"), 1);
}
