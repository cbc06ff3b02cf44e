//! The firewall of the networks RFC 9329 §1 was written for: IKE (UDP 500), NAT-T (UDP
//! 4500) and ESP blocked; TCP to 4500 and 443 allowed; other TCP rejected with a RST;
//! everything else dropped.

#![allow(clippy::unwrap_used, reason = "tests")]

mod middlebox_harness;

use std::net::Ipv4Addr;

use middlebox_harness::{Rig, Seg, ep, raw, tcp, udp};
use models::middlebox::{Firewall, FirewallConfig, PacketFilter, Rule, RuleAction, RuleDirection};
use models::wire::{IpProtocol, TcpControl, TcpSeqNumber};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

fn rules() -> FirewallConfig {
    let udp = PacketFilter::any().protocol(IpProtocol::UDP);
    let tcp = PacketFilter::any().protocol(IpProtocol::TCP);
    let (out, back) = (RuleDirection::ZeroToOne, RuleDirection::OneToZero);
    FirewallConfig::new(RuleAction::Deny)
        .rule(Rule::new(
            RuleAction::Deny,
            udp.clone().dst_ports(500..=500),
        ))
        .rule(Rule::new(RuleAction::Deny, udp.dst_ports(4500..=4500)))
        .rule(Rule::new(
            RuleAction::Deny,
            PacketFilter::any().protocol(IpProtocol::ESP),
        ))
        .rule(Rule::new(RuleAction::Allow, tcp.clone().dst_ports(4500..=4500)).direction(out))
        .rule(Rule::new(RuleAction::Allow, tcp.clone().dst_ports(443..=443)).direction(out))
        .rule(Rule::new(RuleAction::Allow, tcp.clone().src_ports(4500..=4500)).direction(back))
        .rule(Rule::new(RuleAction::Allow, tcp.clone().src_ports(443..=443)).direction(back))
        .rule(Rule::new(RuleAction::Reject, tcp))
}

/// The client on interface 0 (`in0`), the gateway's side on interface 1 (`out`).
fn rig() -> Rig {
    Rig::new(1, 1, Box::new(|_| Box::new(Firewall::new(rules()))))
}

#[test]
fn ike_nat_t_and_esp_are_blocked_both_ways() {
    let mut rig = rig();
    let blocked = [
        (
            "in0",
            udp(ep("192.0.2.10:500"), ep("198.51.100.1:500"), b"IKE_SA_INIT"),
        ),
        (
            "in0",
            udp(ep("192.0.2.10:4500"), ep("198.51.100.1:4500"), b"\0\0\0\0"),
        ),
        (
            "in0",
            raw(CLIENT, GATEWAY, IpProtocol::ESP, &[0, 0, 0, 1, 0, 0, 0, 1]),
        ),
        (
            "out",
            udp(ep("198.51.100.1:500"), ep("192.0.2.10:500"), b"reply"),
        ),
        (
            "out",
            raw(GATEWAY, CLIENT, IpProtocol::ESP, &[0, 0, 0, 2, 0, 0, 0, 1]),
        ),
    ];
    for (from, bytes) in blocked {
        assert!(rig.step(from, bytes).is_empty());
    }
    assert_eq!(rig.count("denied"), 5);
    assert_eq!(
        [0, 1, 2].map(|i| rig.count(&format!("rule_{i}_hits"))),
        [2, 1, 2]
    );
}

#[test]
fn tcp_to_4500_and_443_passes_unchanged_with_replies() {
    let mut rig = rig();
    for port in [4500, 443] {
        let client = ep("192.0.2.10:40000");
        let gateway = std::net::SocketAddrV4::new(GATEWAY, port);
        let got = rig.step("in0", tcp(client, gateway, Seg::syn(1)));
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].to.as_str(), got[0].rx.src, got[0].rx.dst),
            ("out", client, gateway)
        );
        // A bump in the wire is not a router hop.
        assert_eq!(got[0].rx.ip.hop_limit, 64);
        let got = rig.step("out", tcp(gateway, client, Seg::syn_ack(9, 2)));
        assert_eq!((got.len(), got[0].to.as_str()), (1, "in0"));
    }
    assert_eq!(rig.count("passed"), 4);
}

/// Other TCP is rejected: the sender gets a RST from the destination that acknowledges
/// its SYN (RFC 9293 §3.10.7.1), so it fails at once instead of timing out.
#[test]
fn other_tcp_is_rejected_with_a_rst() {
    let mut rig = rig();
    let (client, ssh) = (ep("192.0.2.10:40001"), ep("198.51.100.1:22"));
    let got = rig.step("in0", tcp(client, ssh, Seg::syn(1000)));
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].to.as_str(), got[0].rx.src, got[0].rx.dst),
        ("in0", ssh, client)
    );
    let rst = got[0].rx.tcp.unwrap();
    assert_eq!(rst.control, TcpControl::Rst);
    assert_eq!(rst.ack_number, Some(TcpSeqNumber(1001)));
    // An inbound connection to the client's 4500 is not a reply: rule 3 is outbound only.
    let got = rig.step(
        "out",
        tcp(ep("198.51.100.1:50000"), ep("192.0.2.10:4500"), Seg::syn(5)),
    );
    assert_eq!((got.len(), got[0].to.as_str()), (1, "out"));
    assert_eq!(rig.count("rejected"), 2);
    assert_eq!(rig.count("rule_7_hits"), 2);
}

#[test]
fn unmatched_and_malformed_packets_are_dropped() {
    let mut rig = rig();
    assert!(
        rig.step(
            "in0",
            udp(ep("192.0.2.10:5353"), ep("198.51.100.1:53"), b"q")
        )
        .is_empty()
    );
    assert_eq!(rig.count("default_hits"), 1);
    assert_eq!(rig.count("denied"), 1);
    rig.send_at(rig.now().since_start(), "in0", vec![0x45; 30]);
    rig.advance(middlebox_harness::ms(10));
    assert_eq!(rig.count("dropped_malformed"), 1);
}
