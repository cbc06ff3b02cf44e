//! MOBIKE in the sans-IO IKE SA (RFC 4555), with the transport rules of RFC 9329 §7.1,
//! over the `Pair` harness.

#![allow(clippy::unwrap_used, reason = "tests unwrap what must be there")]

use std::net::{Ipv4Addr, SocketAddrV4};

use models::ike::sa::testing::{
    CLIENT, GATEWAY, NAT_PUBLIC, Pair, Side, initiator_config, responder_config,
};
use models::ike::sa::{
    Cookie2Echo, EndpointConfig, FailReason, IkeConfig, IkeEvent, IkeSa, MobikeEvent, SaId,
};
use sim::{SimDuration, SimTime};

fn pair_with(seed: u64, client: IkeConfig, gateway: IkeConfig) -> (Pair, SaId) {
    let mut pair = Pair::new(seed, EndpointConfig::responder(gateway));
    let id = pair.connect(client);
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)
        && p.established(Side::Responder)));
    (pair, id)
}

fn established(seed: u64) -> (Pair, SaId) {
    pair_with(seed, initiator_config(), responder_config())
}

fn client(pair: &Pair, id: SaId) -> &IkeSa {
    pair.endpoints[0].sa(id).unwrap()
}

fn gateway(pair: &Pair) -> &IkeSa {
    pair.endpoints[1].sas().next().unwrap().1
}

fn gateway_id(pair: &Pair) -> SaId {
    pair.endpoints[1].sas().next().unwrap().0
}

/// Runs `f` on the client's SA now and sends what it produced.
fn on_client<R>(pair: &mut Pair, id: SaId, f: impl FnOnce(&mut IkeSa, SimTime) -> R) -> R {
    let now = pair.now;
    let r = pair
        .endpoint(Side::Initiator)
        .with_sa(now, id, |sa| f(sa, now))
        .unwrap();
    pair.pump(Side::Initiator);
    r
}

fn settle(pair: &mut Pair) {
    let until = pair.now + SimDuration::from_secs(2);
    pair.drive_to(until);
}

fn mobike_events(pair: &Pair, side: Side) -> Vec<(SimTime, MobikeEvent)> {
    pair.events[side as usize]
        .iter()
        .filter_map(|(t, _, e)| match e {
            IkeEvent::Mobike(m) => Some((*t, *m)),
            _ => None,
        })
        .collect()
}

fn addr(last: u8, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, last), port)
}

#[test]
fn rfc4555_4_2_1_mobike_supported_is_negotiated_in_ike_auth() {
    let (pair, id) = established(1);
    assert!(client(&pair, id).mobike_negotiated());
    assert!(gateway(&pair).mobike_negotiated());

    // Either side without MOBIKE: neither uses it.
    let mut off = initiator_config();
    off.mobike = false;
    let (pair, id) = pair_with(2, off, responder_config());
    assert!(!client(&pair, id).mobike_negotiated());
    assert!(!gateway(&pair).mobike_negotiated());
    let mut off = responder_config();
    off.mobike = false;
    let (mut pair, id) = pair_with(3, initiator_config(), off);
    assert!(!client(&pair, id).mobike_negotiated());
    assert!(!gateway(&pair).mobike_negotiated());
    // And the initiator refuses to move.
    assert!(!on_client(&mut pair, id, |sa, now| sa.update_path(
        now,
        addr(7, 500),
        GATEWAY,
        false
    )));
}

#[test]
fn rfc4555_3_5_udp_move_behind_a_nat_updates_nat_detection_and_floats_to_4500() {
    let (mut pair, id) = established(4);
    assert!(!gateway(&pair).nat_status().any());
    // The client moves into a network behind a NAT (same private address, new mapping).
    pair.nat = true;
    assert!(on_client(&mut pair, id, |sa, now| sa
        .update_path(now, CLIENT, GATEWAY, false)));
    settle(&mut pair);
    // The first UPDATE's NAT-D showed the NAT: the client floated to 4500 and told the
    // gateway with a second UPDATE (RFC 7296 §2.23).
    let c = client(&pair, id);
    assert!(c.nat_status().local_behind_nat);
    assert_eq!(c.local().port(), 4500);
    assert_eq!(c.mobike_stats().updates_sent, 2);
    let g = gateway(&pair);
    assert!(g.nat_status().remote_behind_nat);
    assert_eq!(g.remote(), SocketAddrV4::new(NAT_PUBLIC, 4500 + 40000));
    assert_eq!(
        g.esp_remote(),
        g.remote(),
        "IPsec SAs moved after the RR check"
    );
    assert_eq!(g.mobike_stats().updates_received, 2);
    assert_eq!(g.mobike_stats().nat_detected, 2);

    // A different NAT (a new mapping): one more update, the gateway follows.
    pair.nat_port_offset = 50000;
    assert!(on_client(&mut pair, id, |sa, now| {
        let (l, r) = (sa.local(), sa.remote());
        sa.update_path(now, l, r, false)
    }));
    settle(&mut pair);
    assert_eq!(
        gateway(&pair).remote(),
        SocketAddrV4::new(NAT_PUBLIC, 4500 + 50000)
    );
    let last = mobike_events(&pair, Side::Initiator);
    assert!(matches!(
        last.last(),
        Some((_, MobikeEvent::PathUpdated { nat, over_tcp: false, .. })) if nat.local_behind_nat
    ));
    assert!(client(&pair, id).is_established() && gateway(&pair).is_established());
}

#[test]
fn rfc4555_3_7_return_routability_check_over_udp_before_ipsec_sas_move() {
    let (mut pair, id) = established(5);
    let old = gateway(&pair).remote();
    let new = addr(20, 500);
    on_client(&mut pair, id, |sa, now| {
        sa.update_path(now, new, GATEWAY, false)
    });
    // After the UPDATE arrived but before the check is answered: IKE moved, ESP not yet.
    let arrived = pair.now + pair.latency;
    pair.drive_to(arrived);
    let g = gateway(&pair);
    assert_eq!(g.remote(), new);
    assert_eq!(
        g.esp_remote(),
        old,
        "IPsec SAs wait for the check (RFC 4555 §3.5)"
    );
    settle(&mut pair);
    let g = gateway(&pair);
    assert_eq!(g.esp_remote(), new);
    assert_eq!(g.mobike_stats().rr_checks, 1);
    let events: Vec<MobikeEvent> = mobike_events(&pair, Side::Responder)
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert!(matches!(
        events[0],
        MobikeEvent::UpdateReceived {
            over_tcp: false,
            ..
        }
    ));
    assert_eq!(events[1], MobikeEvent::ReturnRoutabilityCheck);
    assert!(matches!(events[2], MobikeEvent::PathUpdated { remote, .. } if remote == new));
}

#[test]
fn rfc4555_4_2_5_wrong_cookie2_echo_closes_the_ike_sa() {
    let (mut pair, id) = established(6);
    on_client(&mut pair, id, |sa, _| {
        sa.set_cookie2_echo(Cookie2Echo::Corrupt)
    });
    on_client(&mut pair, id, |sa, now| {
        sa.update_path(now, addr(21, 500), GATEWAY, false)
    });
    settle(&mut pair);
    let events = pair.events_of(Side::Responder);
    assert_eq!(
        events.last(),
        Some(&IkeEvent::Failed(FailReason::ReturnRoutabilityFailed))
    );
    assert_eq!(pair.endpoints[1].sas().count(), 0);
}

#[test]
fn rfc9329_7_1_no_return_routability_check_over_tcp() {
    let (mut pair, id) = established(7);
    let now = pair.now;
    let gw = gateway_id(&pair);
    pair.endpoint(Side::Responder)
        .with_sa(now, gw, |sa| sa.set_mobike_transport(true));
    let new = addr(22, 51000);
    on_client(&mut pair, id, |sa, now| {
        sa.update_path(now, new, GATEWAY, true)
    });
    let arrived = pair.now + pair.latency;
    pair.drive_to(arrived);
    assert_eq!(gateway(&pair).esp_remote(), new, "moved at once");
    settle(&mut pair);
    let g = gateway(&pair);
    assert_eq!(g.mobike_stats().rr_checks, 0);
    assert!(
        !mobike_events(&pair, Side::Responder)
            .iter()
            .any(|(_, e)| *e == MobikeEvent::ReturnRoutabilityCheck)
    );
}

#[test]
fn rfc4555_3_5_addresses_changing_again_start_over() {
    let (mut pair, id) = established(8);
    let first = addr(30, 500);
    let second = addr(31, 500);
    on_client(&mut pair, id, |sa, now| {
        sa.update_path(now, first, GATEWAY, false)
    });
    // The UPDATE is on its way; the client moves again before the answer.
    pair.step();
    assert!(client(&pair, id).mobike_update_pending());
    on_client(&mut pair, id, |sa, now| {
        sa.update_path(now, second, GATEWAY, false)
    });
    settle(&mut pair);
    let c = client(&pair, id);
    assert_eq!(
        c.mobike_stats().updates_sent,
        2,
        "a new UPDATE for the new addresses"
    );
    assert!(
        c.mobike_stats().stale_answers >= 1,
        "the old answer is not acted on"
    );
    assert_eq!(gateway(&pair).remote(), second);
    assert_eq!(gateway(&pair).esp_remote(), second);
}

#[test]
fn rfc4555_3_6_additional_addresses_are_announced() {
    let (mut pair, id) = established(9);
    let other = Ipv4Addr::new(192, 0, 2, 99);
    on_client(&mut pair, id, |sa, _| {
        sa.set_additional_addresses(vec![other])
    });
    settle(&mut pair);
    assert_eq!(gateway(&pair).peer_additional_addresses(), &[other]);
    on_client(&mut pair, id, |sa, _| {
        sa.set_additional_addresses(Vec::new())
    });
    settle(&mut pair);
    assert!(gateway(&pair).peer_additional_addresses().is_empty());
}

#[test]
fn rfc9329_7_1_switch_transport_resends_the_same_request() {
    let (mut pair, id) = established(10);
    // UDP is blocked on the new network: nothing from the client arrives.
    pair.drop = Some(Box::new(|side, _| side == Side::Initiator));
    on_client(&mut pair, id, |sa, now| {
        sa.update_path(now, addr(40, 500), GATEWAY, false)
    });
    let (ids_before, _) = client(&pair, id).message_ids();
    let update = pair.sent_by(Side::Initiator).last().unwrap().1.clone();
    let until = pair.now + SimDuration::from_secs(5);
    pair.drive_to(until);
    // Same exchange over "TCP": same Message ID, same bytes, no new UPDATE.
    pair.drop = None;
    let tcp = addr(40, 50123);
    let gw_tcp = SocketAddrV4::new(*GATEWAY.ip(), 4500);
    let now = pair.now;
    let gw = gateway_id(&pair);
    pair.endpoint(Side::Responder)
        .with_sa(now, gw, |sa| sa.set_mobike_transport(true));
    on_client(&mut pair, id, |sa, now| {
        sa.switch_transport(now, tcp, gw_tcp, true)
    });
    let resent = pair.sent_by(Side::Initiator).last().unwrap().1.clone();
    assert_eq!(resent.bytes, update.bytes, "bit-identical (RFC 9329 §7.1)");
    assert_eq!((resent.local, resent.remote), (tcp, gw_tcp));
    settle(&mut pair);
    let c = client(&pair, id);
    assert_eq!(c.message_ids().0, ids_before, "no new exchange");
    assert_eq!(c.mobike_stats().updates_sent, 1);
    assert_eq!(c.mobike_stats().false_nat, 1);
    // The gateway judged the UDP-built NAT-D against the TCP ports: a NAT that is not
    // there (the non-compliant "stale" case of RFC 9329 §7.1).
    assert!(gateway(&pair).nat_status().any());
    assert_eq!(gateway(&pair).remote(), tcp);

    // The compliant follow-up: a new UPDATE with NAT-D for the TCP ports clears it.
    on_client(&mut pair, id, |sa, now| {
        sa.update_path(now, tcp, gw_tcp, true)
    });
    settle(&mut pair);
    assert!(!gateway(&pair).nat_status().any());
    assert_eq!(client(&pair, id).message_ids().0, ids_before + 1);
}

#[test]
fn rfc7296_2_3_a_new_message_id_after_an_unseen_request_is_dropped() {
    let (mut pair, id) = established(11);
    pair.drop = Some(Box::new(|side, _| side == Side::Initiator));
    on_client(&mut pair, id, |sa, now| {
        sa.update_path(now, addr(41, 500), GATEWAY, false)
    });
    let until = pair.now + SimDuration::from_secs(5);
    pair.drive_to(until);
    pair.drop = None;
    let dropped = gateway(&pair).stats().dropped_unexpected;
    let tcp = addr(41, 50124);
    let gw_tcp = SocketAddrV4::new(*GATEWAY.ip(), 4500);
    on_client(&mut pair, id, |sa, now| {
        assert!(sa.abandon_outstanding());
        sa.update_path(now, tcp, gw_tcp, true)
    });
    settle(&mut pair);
    assert_eq!(
        gateway(&pair).stats().dropped_unexpected,
        dropped + 1,
        "the gateway's window expects the abandoned ID"
    );
    assert_eq!(gateway(&pair).mobike_stats().updates_received, 0);
    assert!(client(&pair, id).mobike_update_pending(), "never answered");
}
