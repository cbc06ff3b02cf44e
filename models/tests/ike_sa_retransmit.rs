//! Retransmission and Message IDs (RFC 7296 §2.1, §2.2, §2.4; RFC 9329 §6.2).

#![allow(clippy::unwrap_used, reason = "tests unwrap what must be there")]

use models::ike::sa::testing::{Pair, Side, initiator_config, responder_config};
use models::ike::sa::{EndpointConfig, FailReason, IkeEvent, Retransmission, RetransmitPolicy};
use sim::{Ratio, SimDuration, SimTime};

fn pair(seed: u64) -> Pair {
    Pair::new(seed, EndpointConfig::responder(responder_config()))
}

fn secs(t: SimTime) -> f64 {
    t.since_start().as_secs_f64()
}

#[test]
fn rfc7296_2_1_loss_of_each_message_is_recovered_by_retransmission() {
    let wait = RetransmitPolicy::default().timeout(0);
    for lost in 1..=4 {
        let mut pair = pair(2);
        let mut n = 0;
        pair.drop = Some(Box::new(move |_, _| {
            n += 1;
            n == lost
        }));
        pair.connect(initiator_config());
        assert!(
            pair.drive_until(100, |p| p.established(Side::Initiator)
                && p.established(Side::Responder)),
            "message {lost} lost"
        );
        let sent = pair.sent_by(Side::Initiator);
        assert_eq!(
            sent.len(),
            3,
            "one request resent after losing message {lost}"
        );
        // The request whose exchange lost a message goes again `initial` after it was sent.
        let (first, again) = if lost <= 2 { (0, 1) } else { (1, 2) };
        assert_eq!(sent[again].0 - sent[first].0, wait);
        assert_eq!(
            sent[again].1.bytes, sent[first].1.bytes,
            "bit-identical (RFC 7296 §2.1)"
        );
        let responder = pair.endpoint(Side::Responder);
        assert_eq!(responder.stats().sas_created, 1);
        let sa = responder.sas().next().unwrap().1;
        let resent = u64::from(lost % 2 == 0);
        assert_eq!(
            sa.stats().responses_resent,
            resent,
            "cached response, message {lost}"
        );
        assert_eq!(sa.stats().responses_sent, 2);
        let children = pair.events_of(Side::Responder);
        let ups = children
            .iter()
            .filter(|e| matches!(e, IkeEvent::ChildSaUp(_)))
            .count();
        assert_eq!(ups, 1, "IKE_AUTH processed once");
    }
}

#[test]
fn rfc7296_2_4_backoff_schedule_then_peer_declared_dead() {
    let mut pair = pair(3);
    pair.drop = Some(Box::new(|side, _| side == Side::Initiator));
    pair.connect(initiator_config());
    pair.drive_bounded(100);
    let times: Vec<f64> = pair
        .sent_by(Side::Initiator)
        .iter()
        .map(|(t, _)| secs(*t))
        .collect();
    let expected = [0.0, 4.0, 11.2, 24.16, 47.488, 89.4784];
    assert_eq!(times.len(), expected.len());
    for (t, e) in times.iter().zip(expected) {
        assert!((t - e).abs() < 1e-6, "{times:?}");
    }
    let (at, _, event) = pair.events[0].last().unwrap().clone();
    assert_eq!(event, IkeEvent::Failed(FailReason::Timeout));
    assert!((secs(at) - 165.06112).abs() < 1e-6, "gave up at {at}");
    assert_eq!(
        pair.endpoint(Side::Initiator).sas().count(),
        0,
        "dead SA removed"
    );
}

#[test]
fn rfc9329_6_2_no_timer_retransmission_fails_after_the_schedule() {
    let mut pair = pair(4);
    pair.drop = Some(Box::new(|side, _| side == Side::Initiator));
    let mut config = initiator_config();
    config.retransmit.mode = Retransmission::Off;
    pair.connect(config);
    pair.drive_bounded(100);
    assert_eq!(pair.sent_by(Side::Initiator).len(), 1);
    let (at, _, event) = pair.events[0].last().unwrap().clone();
    assert_eq!(event, IkeEvent::Failed(FailReason::Timeout));
    assert_eq!(
        at.since_start(),
        RetransmitPolicy::default().give_up_after()
    );
}

#[test]
fn rfc9329_6_2_resend_outstanding_on_command() {
    let mut pair = pair(5);
    let mut config = initiator_config();
    config.retransmit.mode = Retransmission::Off;
    let mut first = true;
    pair.drop = Some(Box::new(move |side, _| {
        let drop = first && side == Side::Initiator;
        first = false;
        drop
    }));
    let id = pair.connect(config);
    pair.drive_to(SimTime::ZERO + SimDuration::from_secs(10));
    assert!(!pair.established(Side::Initiator));
    let now = pair.now;
    pair.endpoint(Side::Initiator)
        .with_sa(now, id, |sa| sa.resend_outstanding());
    pair.pump(Side::Initiator);
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
}

#[test]
fn rfc7296_2_1_duplicated_requests_are_answered_from_the_cache() {
    let mut pair = pair(6);
    pair.duplicate = Ratio::ONE;
    pair.connect(initiator_config());
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    pair.drive_to(pair.now + SimDuration::from_secs(1));
    let responder = pair.endpoint(Side::Responder);
    assert_eq!(responder.stats().sas_created, 1);
    let stats = *responder.sas().next().unwrap().1.stats();
    assert_eq!(stats.responses_sent, 2);
    assert_eq!(stats.responses_resent, 2);
    let initiator = pair.endpoint(Side::Initiator);
    let stats = *initiator.sas().next().unwrap().1.stats();
    assert!(stats.dropped_unexpected >= 2, "{stats:?}");
    for side in [Side::Initiator, Side::Responder] {
        let ups = pair
            .events_of(side)
            .iter()
            .filter(|e| matches!(e, IkeEvent::ChildSaUp(_)))
            .count();
        assert_eq!(ups, 1);
    }
}
