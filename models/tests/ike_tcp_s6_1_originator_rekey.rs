//! RFC 9329 §6.1: the TCP Originator is the initiator of the first IKE SA and keeps that
//! role across IKE SA rekeys, whichever peer started the rekey: after a rekey over TCP,
//! a broken connection is re-opened by the client (which sends the IKETCP prefix again),
//! never by the gateway, and ESP resumes on the new connection.

#![allow(clippy::unwrap_used, reason = "tests")]

mod ike_tcp_harness;

use ike_tcp_harness::{Setup, secs};
use models::ike::daemon::TransportPolicy;
use models::ike::sa::Lifetimes;

/// An IKE SA rekeyed after 3 s, exactly (no jitter), never deleted before the test ends.
fn short_ike() -> Lifetimes {
    Lifetimes {
        ike_soft: secs(3),
        ike_hard: secs(600),
        jitter: secs(0),
        ..Lifetimes::default()
    }
}

/// The client pings through a TCP-only tunnel; the IKE SA of `client_rekeys` (the
/// client if true, the gateway if false) reaches its soft lifetime at 3 s, the other
/// one's long after the test.
fn tcp_net(client_rekeys: bool) -> ike_tcp_harness::Net {
    let mut setup = Setup::new(TransportPolicy::tcp_only());
    setup.block_udp = true;
    setup.ping = true;
    if client_rekeys {
        setup.client_ike.lifetimes = short_ike();
    } else {
        let gw = setup.gateway_endpoint.responder.as_mut().unwrap();
        gw.lifetimes = short_ike();
    }
    setup.build()
}

/// Runs the rekey, then breaks the connection with a forged RST at 6 s, and checks that
/// the client alone re-opened it.
fn originator_role_survives_rekey(client_rekeys: bool) {
    let mut net = tcp_net(client_rekeys);
    net.run_until(secs(5));
    // The rekey completed over the first connection.
    assert!(net.client_counter("ike_rekeyed") >= 1, "client rekeyed");
    assert!(net.gateway_counter("ike_rekeyed") >= 1, "gateway rekeyed");
    let gw = net.daemon(net.gateway).endpoint().unwrap().sa_totals();
    if client_rekeys {
        assert_eq!(gw.requests_sent, 0, "the client started the rekey");
    } else {
        assert!(gw.requests_sent >= 1, "the gateway started the rekey");
    }
    assert_eq!(net.client_counter("tcp_prefixes_sent"), 1);
    assert_eq!(net.client_counter("tcp_reconnections"), 0);
    assert_eq!(net.client_counter("ike_failed"), 0);
    assert_eq!(net.gateway_counter("ike_failed"), 0);

    net.reset_at(secs(6));
    net.run_until(secs(6));
    let echoes_before = net.client_counter("udp_echoes");
    net.run_until(secs(10));

    // The client, the initiator of the first IKE SA, is still the Originator.
    assert!(net.client_counter("tcp_reconnections") >= 1);
    assert_eq!(net.client_counter("tcp_prefixes_sent"), 2);
    assert_eq!(net.gateway_counter("tcp_prefixes_received"), 2);
    // The gateway never opened a connection nor sent a prefix.
    assert_eq!(net.gateway_counter("tcp_prefixes_sent"), 0);
    assert_eq!(net.gateway_counter("tcp_connected"), 0);
    assert_eq!(net.gateway_counter("tcp_reconnect_attempts"), 0);
    assert_eq!(net.gateway_counter("ike_tcp_accepted"), 2);
    // The rekeyed SA survived and the gateway moved it to the new connection.
    assert_eq!(net.sas(net.client), (1, 1));
    assert_eq!(net.sas(net.gateway), (1, 1));
    assert_eq!(net.gateway_counter("tcp_sa_moved"), 1);
    assert_eq!(net.client_counter("ike_established"), 1);
    assert_eq!(net.client_counter("ike_failed"), 0);
    assert_eq!(net.gateway_counter("ike_failed"), 0);
    // Rekeys went on at 3.2, 6.2 and 9.2 s, the last over the re-opened connection.
    assert!(net.client_counter("ike_rekeyed") >= 3);
    assert!(net.gateway_counter("ike_rekeyed") >= 3);
    // ESP resumed: 40 pings in the last 4 s, nearly all echoed.
    assert!(
        net.client_counter("udp_echoes") > echoes_before + 30,
        "echoes before the reset {echoes_before}, after {}",
        net.client_counter("udp_echoes")
    );
}

#[test]
fn responder_initiated_ike_rekey_keeps_the_client_originator() {
    originator_role_survives_rekey(false);
}

#[test]
fn initiator_initiated_ike_rekey_keeps_the_client_originator() {
    originator_role_survives_rekey(true);
}
