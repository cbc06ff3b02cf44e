//! RFC 9329 §7.5: IKE fragmentation is not needed over TCP. It is still negotiated (the
//! default), but the compliant daemon does not send fragments over TCP even for an
//! IKE_AUTH larger than `fragment_size`; the alternative policy
//! (`TransportPolicy::fragment`) sends them anyway, and the compliant peer accepts and
//! reassembles them (MUST accept). The SA establishes in both cases.

#![allow(clippy::unwrap_used, reason = "tests")]

mod ike_tcp_harness;

use std::net::Ipv4Addr;

use ike_tcp_harness::{Net, Setup, secs};
use models::ike::daemon::TransportPolicy;
use models::ike::sa::Stats;
use models::ike::wire::{ExchangeType, Message, PayloadType, TrafficSelector};
use models::wire::tcp_encap::{Frame, MAX_PAYLOAD, StreamParser};
use models::wire::{Ipv4Packet, TcpPacket};
use sim::Direction;

/// `fragment_size` of both peers: the largest message to send unfragmented is this minus
/// 28 (IPv4 and UDP) minus 4 (non-ESP marker, as the peer's port is 4500).
const FRAGMENT_SIZE: usize = 576;
const LIMIT: usize = FRAGMENT_SIZE - 28 - 4;

/// Both ends with `fragment_size` 576 (RFC 7383 §2.5.1's IPv4 minimum) and an IKE_AUTH
/// made larger than that: the client asks for 40 /24 subnets of the gateway's 10.10/16 as
/// TSr, which the gateway echoes. The client sends fragments over TCP when
/// `client_fragments`; the gateway is always compliant.
fn run(client_fragments: bool) -> Net {
    let mut policy = TransportPolicy::tcp_only();
    policy.fragment = client_fragments;
    let mut setup = Setup::new(policy);
    setup.block_udp = true;
    setup.client_ike.remote_ts = (0..40)
        .map(|i| TrafficSelector::ipv4(Ipv4Addr::new(10, 10, i, 0), Ipv4Addr::new(10, 10, i, 255)))
        .collect();
    setup.client_ike.fragmentation.fragment_size = FRAGMENT_SIZE;
    if let Some(responder) = setup.gateway_endpoint.responder.as_mut() {
        responder.fragmentation.fragment_size = FRAGMENT_SIZE;
    }
    let mut net = setup.build();
    let core = net.sim.link_id("core").unwrap();
    net.sim.enable_capture(core);
    net.run_until(secs(3));
    net
}

/// The IKE messages (as framed) of one direction of the TCP stream on "core" (`AtoB`: from
/// the client).
fn ike_frames(net: &Net, dir: Direction) -> Vec<Vec<u8>> {
    let core = net.sim.link_id("core").unwrap();
    let mut stream = Vec::new();
    for (_, bytes) in net.sim.capture(core).unwrap().packets(dir) {
        let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        stream.extend_from_slice(tcp.payload());
    }
    let mut parser = StreamParser::new(dir == Direction::AtoB, MAX_PAYLOAD);
    let mut frames = Vec::new();
    parser.feed(&stream, &mut frames).unwrap();
    frames
        .into_iter()
        .filter_map(|f| match f {
            Frame::Ike(bytes) => Some(bytes),
            _ => None,
        })
        .collect()
}

fn is_fragment(bytes: &[u8]) -> bool {
    let msg = Message::parse(bytes).unwrap();
    msg.payloads.last().unwrap().ty() == PayloadType::SKF
}

fn exchange(bytes: &[u8]) -> ExchangeType {
    Message::parse(bytes).unwrap().exchange_type
}

fn sa_stats(net: &Net, node: sim::NodeId) -> Stats {
    let endpoint = net.daemon(node).endpoint().unwrap();
    let mut sas = endpoint.sas();
    let (id, sa) = sas.next().unwrap();
    assert!(sas.next().is_none());
    assert!(sa.is_established());
    assert!(net.daemon(node).is_tcp(id));
    *sa.stats()
}

#[test]
fn compliant_sends_large_ike_auth_unfragmented_over_tcp() {
    let net = run(false);
    assert_eq!(net.client_counter("ike_established_tcp"), 1);
    assert_eq!(net.gateway_counter("ike_established"), 1);
    // From each side: IKE_SA_INIT and one whole IKE_AUTH, larger than the fragment limit
    // and still one SK message (no SKF).
    for dir in Direction::BOTH {
        let frames = ike_frames(&net, dir);
        assert_eq!(frames.len(), 2, "{dir:?}");
        assert_eq!(exchange(&frames[0]), ExchangeType::IKE_SA_INIT);
        assert_eq!(exchange(&frames[1]), ExchangeType::IKE_AUTH);
        assert!(!is_fragment(&frames[1]), "{dir:?}");
        assert!(
            frames[1].len() > LIMIT,
            "{dir:?}: IKE_AUTH is {} octets, would be fragmented over UDP",
            frames[1].len()
        );
    }
    for node in [net.client, net.gateway] {
        let stats = sa_stats(&net, node);
        assert_eq!(stats.fragments_sent, 0);
        assert_eq!(stats.fragments_received, 0);
    }
}

#[test]
fn fragments_sent_anyway_over_tcp_are_reassembled() {
    let net = run(true);
    assert_eq!(net.client_counter("ike_established_tcp"), 1);
    assert_eq!(net.gateway_counter("ike_established"), 1);
    let client = sa_stats(&net, net.client);
    let gateway = sa_stats(&net, net.gateway);
    // The client split its IKE_AUTH into SKF fragments, each within the limit, each in
    // its own TCP frame.
    let frames = ike_frames(&net, Direction::AtoB);
    assert_eq!(exchange(&frames[0]), ExchangeType::IKE_SA_INIT);
    let fragments = &frames[1..];
    assert!(fragments.len() >= 2, "{}", fragments.len());
    assert!(fragments.iter().all(|f| is_fragment(f) && f.len() <= LIMIT));
    assert!(
        fragments
            .iter()
            .all(|f| exchange(f) == ExchangeType::IKE_AUTH)
    );
    assert_eq!(client.fragments_sent, fragments.len() as u64);
    // The compliant gateway accepted and reassembled them (RFC 9329 §7.5 MUST)...
    assert_eq!(gateway.fragments_received, client.fragments_sent);
    assert_eq!(gateway.reassembly_discarded, 0);
    // ...but answers with one unfragmented IKE_AUTH although it is as large.
    let answers = ike_frames(&net, Direction::BtoA);
    assert_eq!(answers.len(), 2);
    assert!(!is_fragment(&answers[1]) && answers[1].len() > LIMIT);
    assert_eq!(gateway.fragments_sent, 0);
    assert_eq!(client.fragments_received, 0);
}
