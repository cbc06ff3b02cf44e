//! Whatever arrives, the firewall and the on-path attacker never panic: arbitrary bytes,
//! and valid packets with random bytes changed and the IPv4 header checksum fixed up, with
//! random rules and commands in force.

#![allow(clippy::unwrap_used, reason = "tests")]

mod middlebox_harness;

use middlebox_harness::{Rig, Seg, ep, ms, tcp, udp};
use models::middlebox::{
    Firewall, FirewallConfig, OnPath, OnPathCommand, PacketFilter, Rule, RuleAction,
};
use models::wire::{IpProtocol, Ipv4Packet};
use proptest::prelude::*;

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let seed = prop_oneof![
        Just(udp(ep("192.0.2.10:500"), ep("198.51.100.1:500"), b"ike")),
        Just(tcp(
            ep("192.0.2.10:4500"),
            ep("198.51.100.1:4500"),
            Seg::data(1, 2, 9)
        )),
        Just(tcp(
            ep("198.51.100.1:443"),
            ep("192.0.2.10:40000"),
            Seg::syn_ack(7, 8)
        )),
    ];
    (
        seed,
        proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    )
        .prop_map(|(mut bytes, edits)| {
            let len = bytes.len();
            for (at, value) in edits {
                bytes[at % len] = value;
            }
            if let Ok(mut ip) = Ipv4Packet::new_checked(&mut bytes[..]) {
                ip.fill_checksum();
            }
            bytes
        })
}

/// Packets, each with the side it enters from.
fn traffic() -> impl Strategy<Value = Vec<(bool, Vec<u8>)>> {
    let bytes = prop_oneof![proptest::collection::vec(any::<u8>(), 0..80), mutated()];
    proptest::collection::vec((any::<bool>(), bytes), 1..24)
}

fn filter() -> impl Strategy<Value = PacketFilter> {
    (
        any::<Option<u8>>(),
        any::<Option<(u16, u16)>>(),
        any::<Option<u16>>(),
    )
        .prop_map(|(protocol, dst_ports, src_port)| {
            let mut f = PacketFilter::any();
            if let Some(p) = protocol {
                f = f.protocol(IpProtocol(p % 20));
            }
            if let Some((a, b)) = dst_ports {
                f = f.dst_ports(a.min(b)..=a.max(b));
            }
            if let Some(p) = src_port {
                f = f.src_ports(p..=p);
            }
            f
        })
}

fn action() -> impl Strategy<Value = RuleAction> {
    prop_oneof![
        Just(RuleAction::Allow),
        Just(RuleAction::Deny),
        Just(RuleAction::Reject)
    ]
}

fn run(mut rig: Rig, traffic: Vec<(bool, Vec<u8>)>) {
    for (i, (from_out, bytes)) in traffic.into_iter().enumerate() {
        rig.send_at(ms(i as u64), if from_out { "out" } else { "in0" }, bytes);
    }
    rig.run_until(ms(1000));
}

proptest! {
    #[test]
    fn firewall_survives_anything(
        traffic in traffic(),
        rules in proptest::collection::vec((filter(), action()), 0..4),
        default in action(),
    ) {
        let cfg = rules
            .into_iter()
            .fold(FirewallConfig::new(default), |cfg, (f, a)| cfg.rule(Rule::new(a, f)));
        run(Rig::new(1, 1, Box::new(move |_| Box::new(Firewall::new(cfg.clone())))), traffic);
    }

    #[test]
    fn onpath_survives_anything(
        traffic in traffic(),
        commands in proptest::collection::vec((0u8..3, filter(), 0u64..40), 0..4),
    ) {
        let mut rig = Rig::new(1, 1, Box::new(|_| Box::new(OnPath::new())));
        for (kind, filter, n) in commands {
            let command = match kind {
                0 => OnPathCommand::Drop { filter, duration: ms(n) },
                1 => OnPathCommand::Delay { filter, extra: ms(n), duration: ms(100) },
                _ => OnPathCommand::Reset { filter },
            };
            rig.command_at(ms(n / 4), Box::new(command));
        }
        run(rig, traffic);
    }
}
