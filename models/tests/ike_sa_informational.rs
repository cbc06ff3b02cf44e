//! Deletion and authentication failures (RFC 7296 §1.4.1, §2.15, §2.21.2).

#![allow(clippy::unwrap_used, reason = "tests unwrap what must be there")]

use models::ike::sa::testing::{Pair, Side, initiator_config, responder_config};
use models::ike::sa::{EndpointConfig, FailReason, IkeEvent};
use models::ike::wire::IdPayload;
use sim::SimDuration;

fn established(seed: u64) -> (Pair, models::ike::sa::SaId) {
    let mut pair = Pair::new(seed, EndpointConfig::responder(responder_config()));
    let id = pair.connect(initiator_config());
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    (pair, id)
}

#[test]
fn rfc7296_1_4_1_peer_deletes_the_ike_sa() {
    let (mut pair, id) = established(40);
    let now = pair.now;
    pair.endpoint(Side::Initiator)
        .with_sa(now, id, |sa| sa.delete());
    pair.pump(Side::Initiator);
    pair.drive_bounded(10);
    for side in [Side::Initiator, Side::Responder] {
        let events = pair.events_of(side);
        let n = events.len();
        assert!(
            matches!(events[n - 2], IkeEvent::ChildSaDown(_)),
            "{events:?}"
        );
        assert_eq!(events[n - 1], IkeEvent::Deleted);
        assert_eq!(pair.endpoints[side as usize].sas().count(), 0, "SA gone");
    }
}

#[test]
fn rfc7296_1_4_1_peer_deletes_a_child_sa() {
    let (mut pair, id) = established(41);
    let now = pair.now;
    let spi = pair.endpoints[0]
        .sa(id)
        .unwrap()
        .children()
        .next()
        .unwrap()
        .spi_in;
    pair.endpoint(Side::Initiator)
        .with_sa(now, id, |sa| sa.delete_child(spi));
    pair.pump(Side::Initiator);
    pair.drive_to(now + SimDuration::from_secs(1));
    for side in [Side::Initiator, Side::Responder] {
        let events = pair.events_of(side);
        assert!(
            matches!(events.last(), Some(IkeEvent::ChildSaDown(_))),
            "{events:?}"
        );
        let (_, sa) = pair.endpoints[side as usize].sas().next().unwrap();
        assert!(sa.is_established());
        assert_eq!(sa.children().count(), 0);
    }
}

#[test]
fn rfc7296_2_21_2_wrong_psk_is_authentication_failed() {
    let mut pair = Pair::new(42, EndpointConfig::responder(responder_config()));
    let mut initiator = initiator_config();
    initiator.psk = b"not the psk".to_vec();
    pair.connect(initiator);
    pair.drive_bounded(20);
    let failed = IkeEvent::Failed(FailReason::AuthenticationFailed);
    assert_eq!(pair.events_of(Side::Initiator).last(), Some(&failed));
    assert_eq!(pair.events_of(Side::Responder).last(), Some(&failed));
    assert!(
        !pair
            .events_of(Side::Responder)
            .iter()
            .any(|e| matches!(e, IkeEvent::Established { .. }))
    );
}

#[test]
fn rfc7296_2_15_unexpected_peer_identity_fails_authentication() {
    let mut pair = Pair::new(43, EndpointConfig::responder(responder_config()));
    let mut initiator = initiator_config();
    initiator.remote_id = Some(IdPayload::fqdn("someone-else.example"));
    pair.connect(initiator);
    pair.drive_bounded(20);
    let failed = IkeEvent::Failed(FailReason::AuthenticationFailed);
    assert_eq!(pair.events_of(Side::Initiator).last(), Some(&failed));
}
