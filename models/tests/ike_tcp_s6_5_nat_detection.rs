//! RFC 9329 §6.5: over TCP the NAT_DETECTION payloads are computed with the addresses and
//! ports of the TCP connection actually used (the client's private address and ephemeral
//! TCP port, the gateway's TCP 4500), so a NAT on the path is detected as over UDP and no
//! NAT is detected without one; a detected NAT changes nothing about the encapsulation:
//! no port floating to UDP 4500 (RFC 7296 §2.23 is for UDP), IKE and ESP stay on the TCP
//! connection.

#![allow(clippy::unwrap_used, reason = "tests")]

mod ike_tcp_harness;

use std::net::{IpAddr, SocketAddrV4};

use ike_tcp_harness::{CLIENT, GATEWAY, NAT_PUBLIC, Net, Setup, secs};
use models::ike::crypto::nat_detection_hash;
use models::ike::daemon::TransportPolicy;
use models::ike::sa::{IkeSa, NatStatus};
use models::ike::wire::{ExchangeType, Message, NotifyType, Payload};
use models::wire::tcp_encap::{Frame, MAX_PAYLOAD, StreamParser};
use models::wire::{IpProtocol, Ipv4Packet, TcpPacket};
use sim::Direction;

/// The TCP port of the gateway (RFC 9329 §11).
const TCP_PORT: u16 = 4500;

/// The client over TCP only, pinging through the tunnel; UDP is not blocked, so any UDP
/// 500/4500 use would be visible. The "core" link (on-path node to gateway) is captured.
fn run(nat: bool) -> Net {
    let mut setup = Setup::new(TransportPolicy::tcp_only());
    setup.nat = nat;
    setup.ping = true;
    let mut net = setup.build();
    let core = net.sim.link_id("core").unwrap();
    net.sim.enable_capture(core);
    net.run_until(secs(5));
    net
}

/// The only SA of a node (it must be established).
fn only_sa(net: &Net, node: sim::NodeId) -> &IkeSa {
    let endpoint = net.daemon(node).endpoint().unwrap();
    let mut sas = endpoint.sas();
    let (_, sa) = sas.next().unwrap();
    assert!(sas.next().is_none());
    assert!(sa.is_established());
    sa
}

/// One captured IPv4 packet on the "core" link, decoded as far as needed.
struct Seen {
    protocol: IpProtocol,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    tcp_payload: Vec<u8>,
}

/// The packets on the "core" link in one direction (`AtoB`: towards the gateway).
fn core_packets(net: &Net, dir: Direction) -> Vec<Seen> {
    let core = net.sim.link_id("core").unwrap();
    let capture = net.sim.capture(core).unwrap();
    capture
        .packets(dir)
        .iter()
        .map(|(_, bytes)| {
            let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
            let protocol = ip.next_header();
            let (mut src, mut dst) = (
                SocketAddrV4::new(ip.src_addr(), 0),
                SocketAddrV4::new(ip.dst_addr(), 0),
            );
            let mut tcp_payload = Vec::new();
            if protocol == IpProtocol::TCP {
                let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
                src.set_port(tcp.src_port());
                dst.set_port(tcp.dst_port());
                tcp_payload = tcp.payload().to_vec();
            }
            Seen {
                protocol,
                src,
                dst,
                tcp_payload,
            }
        })
        .collect()
}

/// The IKE messages of one direction of the (single, loss-free) TCP stream on "core".
fn ike_messages(net: &Net, dir: Direction) -> Vec<Message> {
    let mut stream = Vec::new();
    for p in core_packets(net, dir) {
        stream.extend_from_slice(&p.tcp_payload);
    }
    // The client's direction starts with the "IKETCP" prefix (RFC 9329 §4).
    let mut parser = StreamParser::new(dir == Direction::AtoB, MAX_PAYLOAD);
    let mut frames = Vec::new();
    parser.feed(&stream, &mut frames).unwrap();
    frames
        .into_iter()
        .filter_map(|f| match f {
            Frame::Ike(bytes) => Some(Message::parse(&bytes).unwrap()),
            _ => None,
        })
        .collect()
}

/// The data of the NAT_DETECTION notifies of a message: (SOURCE values, DESTINATION).
fn nat_d(msg: &Message) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut sources = Vec::new();
    let mut destination = None;
    for p in &msg.payloads {
        if let Payload::Notify(n) = p {
            if n.ty == NotifyType::NAT_DETECTION_SOURCE_IP {
                sources.push(n.data.clone());
            } else if n.ty == NotifyType::NAT_DETECTION_DESTINATION_IP {
                destination = Some(n.data.clone());
            }
        }
    }
    (sources, destination.unwrap())
}

fn hash(spi_i: u64, spi_r: u64, a: SocketAddrV4) -> Vec<u8> {
    nat_detection_hash(spi_i, spi_r, IpAddr::V4(*a.ip()), a.port()).to_vec()
}

/// The addresses the IKE_SA_INIT exchange travelled with on "core", and the NAT_D hashes
/// it carried, checked against the TCP endpoints: `client_tcp` is the client's own view of
/// its connection (private address, ephemeral port).
fn check_nat_d_uses_tcp_endpoints(net: &Net, client_tcp: SocketAddrV4) -> SocketAddrV4 {
    let requests = ike_messages(net, Direction::AtoB);
    let responses = ike_messages(net, Direction::BtoA);
    let (req, resp) = (&requests[0], &responses[0]);
    assert_eq!(req.exchange_type, ExchangeType::IKE_SA_INIT);
    assert_eq!(resp.exchange_type, ExchangeType::IKE_SA_INIT);
    // What the gateway sees as the client's TCP endpoint.
    let seen = core_packets(net, Direction::AtoB)
        .into_iter()
        .find(|p| p.protocol == IpProtocol::TCP)
        .unwrap()
        .src;
    let gateway_tcp = SocketAddrV4::new(GATEWAY, TCP_PORT);
    // The request (SPIr zero): SOURCE is the client's private address and ephemeral TCP
    // port, DESTINATION the gateway's TCP 4500 (RFC 9329 §6.5 SHOULD: the TCP ports).
    let (sources, destination) = nat_d(req);
    assert_eq!(sources, vec![hash(req.spi_i, 0, client_tcp)]);
    assert_eq!(destination, hash(req.spi_i, 0, gateway_tcp));
    // The response: SOURCE is the gateway's TCP 4500, DESTINATION the client's endpoint as
    // the gateway sees it (after the NAT, if any).
    let (sources, destination) = nat_d(resp);
    assert_eq!(sources, vec![hash(resp.spi_i, resp.spi_r, gateway_tcp)]);
    assert_eq!(destination, hash(resp.spi_i, resp.spi_r, seen));
    seen
}

/// The client's TCP endpoint: a private address and an ephemeral port, not 500 or 4500.
fn client_tcp_endpoint(net: &Net) -> SocketAddrV4 {
    let client = only_sa(net, net.client);
    let local = client.local();
    assert_eq!(*local.ip(), CLIENT);
    assert!(local.port() != 500 && local.port() != TCP_PORT, "{local}");
    local
}

/// No UDP on the wire and no UDP-encapsulated IKE or ESP: everything is on the TCP
/// connection between the client's endpoint (as seen) and the gateway's TCP 4500.
fn check_everything_on_tcp(net: &Net, seen: SocketAddrV4) {
    let gateway_tcp = SocketAddrV4::new(GATEWAY, TCP_PORT);
    for p in core_packets(net, Direction::AtoB) {
        assert_eq!(p.protocol, IpProtocol::TCP);
        assert_eq!((p.src, p.dst), (seen, gateway_tcp));
    }
    for p in core_packets(net, Direction::BtoA) {
        assert_eq!(p.protocol, IpProtocol::TCP);
        assert_eq!((p.src, p.dst), (gateway_tcp, seen));
    }
    for name in [
        "ike_udp_bytes_sent",
        "esp_udp_bytes_out",
        "esp_ip_bytes_out",
        "keepalive_udp_bytes_sent",
        "nat_keepalives_sent",
    ] {
        assert_eq!(net.client_counter(name), 0, "client {name}");
        assert_eq!(net.gateway_counter(name), 0, "gateway {name}");
    }
    assert!(net.client_counter("esp_tcp_bytes_out") > 0);
    assert!(net.gateway_counter("esp_tcp_bytes_out") > 0);
    assert!(net.client_counter("udp_echoes") > 20);
}

#[test]
fn nat_on_the_path_is_detected_with_the_tcp_endpoints() {
    let net = run(true);
    assert_eq!(net.client_counter("ike_established_tcp"), 1);
    let client_tcp = client_tcp_endpoint(&net);
    let seen = check_nat_d_uses_tcp_endpoints(&net, client_tcp);
    // The NAT rewrote the client's private address (and maybe its port).
    assert_eq!(*seen.ip(), NAT_PUBLIC);
    let client = only_sa(&net, net.client);
    let gateway = only_sa(&net, net.gateway);
    for node in [net.client, net.gateway] {
        let daemon = net.daemon(node);
        let (id, _) = daemon.endpoint().unwrap().sas().next().unwrap();
        assert!(daemon.is_tcp(id));
    }
    // The client learns it is behind a NAT (DESTINATION mismatch); the gateway learns its
    // peer is (no SOURCE matches); neither thinks the gateway is.
    assert_eq!(
        client.nat_status(),
        NatStatus {
            local_behind_nat: true,
            remote_behind_nat: false,
        }
    );
    assert_eq!(
        gateway.nat_status(),
        NatStatus {
            local_behind_nat: false,
            remote_behind_nat: true,
        }
    );
    // No port floating (RFC 7296 §2.23 is for UDP): the client SA keeps the connection's
    // ephemeral port instead of moving to 4500, and the gateway SA keeps the NATed
    // endpoint of the connection.
    assert_eq!(client.local(), client_tcp);
    assert_eq!(client.remote(), SocketAddrV4::new(GATEWAY, TCP_PORT));
    assert_eq!(gateway.local(), SocketAddrV4::new(GATEWAY, TCP_PORT));
    assert_eq!(gateway.remote(), seen);
    check_everything_on_tcp(&net, seen);
}

#[test]
fn no_nat_on_the_path_is_detected_as_none() {
    let net = run(false);
    assert_eq!(net.client_counter("ike_established_tcp"), 1);
    let client_tcp = client_tcp_endpoint(&net);
    let seen = check_nat_d_uses_tcp_endpoints(&net, client_tcp);
    // Without a NAT the gateway sees the client's own endpoint.
    assert_eq!(seen, client_tcp);
    let client = only_sa(&net, net.client);
    let gateway = only_sa(&net, net.gateway);
    assert_eq!(client.nat_status(), NatStatus::default());
    assert_eq!(gateway.nat_status(), NatStatus::default());
    assert!(!client.nat_status().any() && !gateway.nat_status().any());
    assert_eq!(client.local(), client_tcp);
    assert_eq!(gateway.remote(), client_tcp);
    check_everything_on_tcp(&net, seen);
}
