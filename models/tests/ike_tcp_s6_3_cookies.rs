//! RFC 9329 §6.3: a Responder that demands a COOKIE over TCP closes the connection if no
//! retry follows within a hold time; the initiator may then retry on a new connection,
//! from a new port: the cookie must not include the port (the compliant default), or the
//! retry fails the cookie check.

#![allow(clippy::unwrap_used, reason = "tests")]

mod ike_tcp_harness;

use ike_tcp_harness::{Setup, secs};
use models::ike::daemon::{CookieHold, TransportPolicy};

fn setup(hold: CookieHold, include_port: bool) -> ike_tcp_harness::Net {
    let mut setup = Setup::new(TransportPolicy::tcp_only());
    setup.block_udp = true;
    setup.gateway_endpoint.half_open.cookie_threshold = 0;
    setup.gateway_endpoint.half_open.cookie.include_port = include_port;
    setup.gateway.cookie_hold = hold;
    setup.build()
}

#[test]
fn retry_on_the_same_connection_within_the_hold_time() {
    let mut net = setup(CookieHold::CloseAfter(secs(5)), false);
    net.run_until(secs(20));
    assert_eq!(net.client_counter("ike_established"), 1);
    let client = net.daemon(net.client).endpoint().unwrap().sa_totals();
    assert_eq!(client.cookies_received, 1);
    assert_eq!(net.client_counter("tcp_reconnections"), 0);
    assert_eq!(net.gateway_counter("tcp_cookie_closed"), 0);
    let gw = *net.daemon(net.gateway).endpoint().unwrap().stats();
    assert_eq!((gw.cookies_sent, gw.cookies_invalid), (1, 0));
}

#[test]
fn connection_closed_after_cookie_retry_on_a_new_connection_passes() {
    let mut net = setup(CookieHold::CloseAfter(secs(0)), false);
    net.run_until(secs(20));
    assert_eq!(net.client_counter("tcp_reconnections"), 1);
    assert_eq!(net.client_counter("ike_established"), 1);
    let gw = *net.daemon(net.gateway).endpoint().unwrap().stats();
    assert_eq!((gw.cookies_sent, gw.cookies_invalid), (1, 0));
}

#[test]
fn cookie_including_the_port_fails_on_a_new_connection() {
    let mut net = setup(CookieHold::CloseAfter(secs(0)), true);
    net.run_until(secs(60));
    assert_eq!(net.client_counter("ike_established"), 0);
    let gw = *net.daemon(net.gateway).endpoint().unwrap().stats();
    assert!(gw.cookies_invalid >= 1, "{gw:?}");
    assert_eq!(
        net.client_counter("ike_failed"),
        1,
        "COOKIE retries exhausted"
    );
}

#[test]
fn keep_policy_never_closes() {
    let mut net = setup(CookieHold::Keep, true);
    net.run_until(secs(20));
    assert_eq!(net.client_counter("ike_established"), 1);
    assert_eq!(net.gateway_counter("tcp_cookie_closed"), 0);
}
