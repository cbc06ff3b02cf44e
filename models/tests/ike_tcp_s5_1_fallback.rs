//! RFC 9329 §5.1: transport selection. UDP first; when IKE_SA_INIT over UDP gets no
//! answer (after at least one retransmission) the initiator starts a new IKE SA, with a
//! new SPIi, over TCP; TCP only; and UDP only, which never gets through a firewall that
//! blocks UDP and ESP.

#![allow(clippy::unwrap_used, reason = "tests")]

mod ike_tcp_harness;

use ike_tcp_harness::{Setup, secs};
use models::ike::daemon::{FallbackTrigger, TransportPolicy, TransportSelection};

#[test]
fn udp_then_tcp_falls_back_after_one_retransmission_with_a_new_spi() {
    let mut setup = Setup::new(TransportPolicy::default());
    setup.block_udp = true;
    setup.ping = true;
    let mut net = setup.build();
    net.run_until(secs(30));
    assert_eq!(net.client_counter("ike_transport_fallbacks"), 1);
    assert_eq!(net.client_counter("ike_udp_abandoned"), 1);
    assert_eq!(net.client_counter("ike_established"), 1);
    assert_eq!(net.client_counter("ike_established_tcp"), 1);
    assert_eq!(
        net.client_counter("ike_deleted"),
        0,
        "abandoning is no delete"
    );
    // Default strongSwan schedule: 4 s + 7.2 s after the start at 100 ms.
    let total = net.metrics(net.client).get("ike_setup_total_ns").unwrap();
    let total = match total {
        sim::Metric::Histogram(h) => h.max(),
        other => panic!("{other:?}"),
    };
    assert!(
        (11_200_000_000..12_000_000_000).contains(&total),
        "setup took {total} ns"
    );
    // The UDP attempt's SA is gone; the TCP one has another SPIi.
    let client = net.daemon(net.client).endpoint().unwrap();
    let (id, sa) = client.sas().next().unwrap();
    assert!(net.daemon(net.client).is_tcp(id));
    assert_ne!(sa.spi_i(), 0);
    assert_eq!(client.sas().count(), 1);
    // ESP both ways through the tunnel, in TCP.
    assert!(net.client_counter("udp_echoes") > 100);
    assert!(net.client_counter("esp_tcp_bytes_out") > 0);
    assert!(net.gateway_counter("esp_tcp_bytes_out") > 0);
    assert_eq!(net.client_counter("esp_udp_bytes_out"), 0);
}

#[test]
fn fallback_delay_is_a_policy() {
    let policy = TransportPolicy {
        selection: TransportSelection::UdpThenTcp(FallbackTrigger::After(secs(2))),
        ..TransportPolicy::default()
    };
    let mut setup = Setup::new(policy);
    setup.block_udp = true;
    let mut net = setup.build();
    net.run_until(secs(10));
    assert_eq!(net.client_counter("ike_established_tcp"), 1);
    let sim::Metric::Histogram(h) = net.metrics(net.client).get("ike_setup_total_ns").unwrap()
    else {
        panic!()
    };
    assert!(h.max() < 2_500_000_000, "{}", h.max());
}

#[test]
fn udp_then_tcp_stays_on_udp_when_udp_works() {
    let mut net = Setup::new(TransportPolicy::default()).build();
    net.run_until(secs(20));
    assert_eq!(net.client_counter("ike_established"), 1);
    assert_eq!(net.client_counter("ike_transport_fallbacks"), 0);
    assert_eq!(net.client_counter("tcp_prefixes_sent"), 0);
}

#[test]
fn udp_only_never_gets_through_the_firewall() {
    let mut setup = Setup::new(TransportPolicy::udp_only());
    setup.block_udp = true;
    let mut net = setup.build();
    net.run_until(secs(200));
    assert_eq!(net.client_counter("ike_established"), 0);
    assert_eq!(net.client_counter("ike_failed"), 1);
    assert_eq!(net.client_counter("tcp_prefixes_sent"), 0);
}

#[test]
fn tcp_only_starts_on_tcp() {
    let mut setup = Setup::new(TransportPolicy::tcp_only());
    setup.block_udp = true;
    let mut net = setup.build();
    net.run_until(secs(5));
    assert_eq!(net.client_counter("ike_established_tcp"), 1);
    assert_eq!(net.client_counter("ike_udp_bytes_sent"), 0);
    assert!(net.client_counter("ike_tcp_bytes_sent") > 0);
    assert_eq!(net.gateway_counter("tcp_prefixes_received"), 1);
}
