//! IKE_SA_INIT corrective retries and NAT detection (RFC 7296 §1.2, §2.6, §2.6.1, §2.23;
//! RFC 9329 §6.3).

#![allow(clippy::unwrap_used, reason = "tests unwrap what must be there")]

use std::net::SocketAddrV4;

use models::ike::crypto::DhGroup;
use models::ike::sa::testing::{
    GATEWAY, NAT_PUBLIC, Pair, Side, initiator_config, responder_config,
};
use models::ike::sa::{
    EndpointConfig, FailReason, IkeEvent, InitErrorAction, NAT_T_PORT, NatStatus, RetransmitPolicy,
    Stats,
};
use models::ike::wire::{Message, NotifyType, Payload, TransformId};
use sim::{SimDuration, SimTime};

fn initiator_stats(pair: &Pair) -> Stats {
    *pair.endpoints[0].sas().next().unwrap().1.stats()
}

fn ke_group(bytes: &[u8]) -> TransformId {
    let msg = Message::parse(bytes).unwrap();
    msg.payloads
        .iter()
        .find_map(|p| match p {
            Payload::Ke(ke) => Some(ke.group),
            _ => None,
        })
        .unwrap()
}

fn first_is_cookie(bytes: &[u8]) -> bool {
    let msg = Message::parse(bytes).unwrap();
    matches!(&msg.payloads[0], Payload::Notify(n) if n.ty == NotifyType::COOKIE)
}

fn cookie_responder() -> EndpointConfig {
    let mut config = EndpointConfig::responder(responder_config());
    config.half_open.cookie_threshold = 0;
    config
}

#[test]
fn rfc7296_1_2_invalid_ke_payload_then_success() {
    let mut responder = responder_config();
    responder.dh_groups = vec![DhGroup::Curve25519];
    let mut pair = Pair::new(7, EndpointConfig::responder(responder));
    let mut initiator = initiator_config();
    initiator.dh_groups = vec![DhGroup::Ecp256, DhGroup::Curve25519];
    pair.connect(initiator);
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    let sent = pair.sent_by(Side::Initiator);
    assert_eq!(sent.len(), 3);
    assert_eq!(ke_group(&sent[0].1.bytes), TransformId::DH_ECP_256);
    assert_eq!(ke_group(&sent[1].1.bytes), TransformId::DH_CURVE25519);
    assert_eq!(initiator_stats(&pair).invalid_ke_received, 1);
    assert_eq!(pair.endpoints[1].stats().refused, 1);
    assert_eq!(pair.endpoints[1].stats().sas_created, 1);
}

#[test]
fn rfc7296_2_7_no_proposal_chosen_fails() {
    let mut responder = responder_config();
    responder.dh_groups = vec![DhGroup::Ecp256];
    let mut pair = Pair::new(8, EndpointConfig::responder(responder));
    let mut initiator = initiator_config();
    initiator.dh_groups = vec![DhGroup::Curve25519];
    pair.connect(initiator);
    pair.drive_bounded(100);
    let events = pair.events_of(Side::Initiator);
    assert_eq!(events, [IkeEvent::Failed(FailReason::NoProposalChosen)]);
    assert_eq!(pair.endpoints[1].stats().sas_created, 0);
}

#[test]
fn rfc7296_2_6_cookie_then_success() {
    let mut pair = Pair::new(9, cookie_responder());
    pair.connect(initiator_config());
    assert!(pair.drive_until(100, |p| p.established(Side::Responder)));
    let sent = pair.sent_by(Side::Initiator);
    assert_eq!(sent.len(), 3);
    assert!(!first_is_cookie(&sent[0].1.bytes));
    assert!(
        first_is_cookie(&sent[1].1.bytes),
        "COOKIE first (RFC 7296 §2.6)"
    );
    assert_eq!(initiator_stats(&pair).cookies_received, 1);
    let stats = pair.endpoints[1].stats();
    assert_eq!(
        (stats.cookies_sent, stats.cookies_invalid, stats.sas_created),
        (1, 0, 1)
    );
    let msg = Message::parse(&sent[1].1.bytes).unwrap();
    assert_eq!(msg.message_id, 0, "retries keep Message ID 0");
}

#[test]
fn rfc7296_2_6_1_cookie_is_kept_across_invalid_ke() {
    let mut responder = cookie_responder();
    if let Some(config) = responder.responder.as_mut() {
        config.dh_groups = vec![DhGroup::Curve25519];
    }
    let mut pair = Pair::new(10, responder);
    let mut initiator = initiator_config();
    initiator.dh_groups = vec![DhGroup::Ecp256, DhGroup::Curve25519];
    pair.connect(initiator);
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    let sent = pair.sent_by(Side::Initiator);
    assert_eq!(sent.len(), 4);
    assert!(first_is_cookie(&sent[1].1.bytes));
    assert!(first_is_cookie(&sent[2].1.bytes));
    assert_eq!(ke_group(&sent[2].1.bytes), TransformId::DH_CURVE25519);
}

/// Runs a cookie exchange where the NAT gives the retry a new source port; returns the
/// number of cookies the responder found invalid.
fn cookie_with_new_port(include_port: bool) -> u64 {
    let mut responder = cookie_responder();
    responder.half_open.cookie.include_port = include_port;
    let mut pair = Pair::new(11, responder);
    pair.nat = true;
    pair.connect(initiator_config());
    // The COOKIE answer reaches the client at 20 ms and the retry leaves at once.
    pair.drive_to(SimTime::ZERO + SimDuration::from_millis(25));
    pair.nat_port_offset = 41000;
    assert!(pair.drive_until(100, |p| p.established(Side::Responder)));
    pair.endpoints[1].stats().cookies_invalid
}

#[test]
fn rfc9329_6_3_cookie_excludes_the_port_by_default() {
    assert_eq!(cookie_with_new_port(false), 0);
    assert_eq!(
        cookie_with_new_port(true),
        1,
        "retry from another port needs a new cookie"
    );
}

#[test]
fn rfc7296_2_23_nat_detected_and_initiator_moves_to_4500() {
    let mut pair = Pair::new(12, EndpointConfig::responder(responder_config()));
    pair.nat = true;
    pair.connect(initiator_config());
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    let nat_of = |side: Side| {
        pair.events_of(side).iter().find_map(|e| match e {
            IkeEvent::Established { nat, .. } => Some(*nat),
            _ => None,
        })
    };
    let initiator = NatStatus {
        local_behind_nat: true,
        remote_behind_nat: false,
    };
    let responder = NatStatus {
        local_behind_nat: false,
        remote_behind_nat: true,
    };
    assert_eq!(nat_of(Side::Initiator), Some(initiator));
    assert_eq!(nat_of(Side::Responder), Some(responder));
    let sent = pair.sent_by(Side::Initiator);
    assert_eq!(sent[0].1.local.port(), 500);
    assert_eq!(sent[1].1.local.port(), NAT_T_PORT);
    assert_eq!(
        sent[1].1.remote,
        SocketAddrV4::new(*GATEWAY.ip(), NAT_T_PORT)
    );
    let answer = &pair.sent_by(Side::Responder)[1].1;
    assert_eq!(*answer.remote.ip(), NAT_PUBLIC);
    assert_eq!(answer.local.port(), NAT_T_PORT);
}

#[test]
fn rfc7296_2_21_1_waiting_on_unauthenticated_errors() {
    let mut responder = responder_config();
    responder.dh_groups = vec![DhGroup::Ecp256];
    let mut pair = Pair::new(13, EndpointConfig::responder(responder));
    let mut initiator = initiator_config();
    initiator.dh_groups = vec![DhGroup::Curve25519];
    initiator.init_error = InitErrorAction::Wait;
    pair.connect(initiator);
    pair.drive_bounded(100);
    assert_eq!(
        pair.sent_by(Side::Initiator).len(),
        6,
        "kept retransmitting"
    );
    let (at, _, event) = pair.events[0].last().unwrap().clone();
    assert_eq!(event, IkeEvent::Failed(FailReason::NoProposalChosen));
    assert_eq!(
        at.since_start(),
        RetransmitPolicy::default().give_up_after()
    );
}

#[test]
fn rfc7296_2_6_cookies_only_above_the_half_open_threshold() {
    let mut responder = EndpointConfig::responder(responder_config());
    responder.half_open.cookie_threshold = 1;
    let mut pair = Pair::new(14, responder);
    pair.connect(initiator_config());
    pair.connect(initiator_config());
    pair.drive_until(100, |p| {
        p.endpoints[0]
            .sas()
            .filter(|(_, sa)| sa.is_established())
            .count()
            == 2
    });
    let stats = pair.endpoints[1].stats();
    assert_eq!(
        stats.cookies_sent, 1,
        "the second arrived while the first was half-open"
    );
    assert_eq!(stats.sas_created, 2);
    assert_eq!(stats.half_open_peak, 1);
    assert_eq!(pair.endpoints[1].half_open_count(), 0);
}
