//! IKE fragmentation (RFC 7383 §2.3, §2.5, §2.6; RFC 9329 §7.5).

#![allow(clippy::unwrap_used, reason = "tests unwrap what must be there")]

use models::ike::sa::testing::{Pair, Side, initiator_config, responder_config};
use models::ike::sa::{EndpointConfig, FailReason, IkeConfig, IkeEvent, Stats};
use models::ike::wire::{Message, PayloadType};

fn small(mut config: IkeConfig, fragment_size: usize) -> IkeConfig {
    config.fragmentation.fragment_size = fragment_size;
    config
}

fn is_fragment(bytes: &[u8]) -> bool {
    let msg = Message::parse(bytes).unwrap();
    msg.payloads.last().unwrap().ty() == PayloadType::SKF
}

fn sa_stats(pair: &Pair, side: Side) -> Stats {
    *pair.endpoints[side as usize]
        .sas()
        .next()
        .unwrap()
        .1
        .stats()
}

#[test]
fn rfc7383_2_5_large_messages_are_fragmented_and_reassembled() {
    let mut pair = Pair::new(
        50,
        EndpointConfig::responder(small(responder_config(), 200)),
    );
    pair.connect(small(initiator_config(), 200));
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    for side in [Side::Initiator, Side::Responder] {
        let sent = pair.sent_by(side);
        assert!(
            !is_fragment(&sent[0].1.bytes),
            "IKE_SA_INIT is never fragmented"
        );
        assert!(sent.len() > 2, "{side:?} sent {}", sent.len());
        assert!(sent[1..].iter().all(|(_, t)| is_fragment(&t.bytes)));
        assert!(sent[1..].iter().all(|(_, t)| t.bytes.len() <= 200 - 28));
        let stats = sa_stats(&pair, side);
        assert_eq!(stats.fragments_sent, sent.len() as u64 - 1);
        assert_eq!(stats.reassembly_discarded, 0);
    }
    let received = sa_stats(&pair, Side::Responder).fragments_received;
    assert_eq!(received, pair.sent_by(Side::Initiator).len() as u64 - 1);
}

#[test]
fn rfc7383_2_6_lost_fragment_is_recovered_by_retransmitting_all() {
    let mut pair = Pair::new(
        51,
        EndpointConfig::responder(small(responder_config(), 200)),
    );
    let mut n = 0;
    pair.drop = Some(Box::new(move |side, _| {
        n += usize::from(side == Side::Initiator);
        side == Side::Initiator && n == 3
    }));
    pair.connect(small(initiator_config(), 200));
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    let stats = sa_stats(&pair, Side::Initiator);
    assert_eq!(stats.retransmits, 1);
}

#[test]
fn rfc9329_7_5_fragments_not_sent_when_sending_is_off() {
    let mut initiator = small(initiator_config(), 200);
    initiator.fragmentation.send = false;
    let mut pair = Pair::new(52, EndpointConfig::responder(responder_config()));
    pair.connect(initiator);
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    assert!(
        pair.sent_by(Side::Initiator)
            .iter()
            .all(|(_, t)| !is_fragment(&t.bytes))
    );
}

#[test]
fn rfc7383_2_6_reassembly_limits_discard_the_message() {
    let mut responder = responder_config();
    responder.fragmentation.max_fragments = 3;
    let mut pair = Pair::new(53, EndpointConfig::responder(responder));
    pair.connect(small(initiator_config(), 120));
    pair.drive_bounded(200);
    assert!(
        pair.sent_by(Side::Initiator).len() > 4 * 6,
        "many fragments, all retried"
    );
    let events = pair.events_of(Side::Initiator);
    assert_eq!(events.last(), Some(&IkeEvent::Failed(FailReason::Timeout)));
    let gateway = pair.events_of(Side::Responder);
    assert_eq!(
        gateway.last(),
        Some(&IkeEvent::Failed(FailReason::HalfOpenTimeout))
    );
}

#[test]
fn rfc7383_2_6_reassembly_byte_limit() {
    let mut responder = responder_config();
    responder.fragmentation.max_reassembly_bytes = 64;
    responder.half_open_timeout = sim::SimDuration::from_secs(1000);
    let mut pair = Pair::new(54, EndpointConfig::responder(responder));
    let id = pair.connect(small(initiator_config(), 200));
    pair.drive_to(sim::SimTime::ZERO + sim::SimDuration::from_secs(1));
    assert!(pair.endpoints[0].sa(id).is_some());
    let stats = sa_stats(&pair, Side::Responder);
    // Every set that outgrows the limit is discarded; the fragments after the first
    // discard start a set that outgrows it again (how often depends on the size of
    // IKE_AUTH, which grows with the notifies it carries).
    assert!(stats.reassembly_discarded >= 1, "{stats:?}");
    assert!(!pair.established(Side::Responder));
}
