//! Liveness checks and dead peers (RFC 7296 §2.4; RFC 9329 §7.4).

#![allow(clippy::unwrap_used, reason = "tests unwrap what must be there")]

use models::ike::sa::testing::{Pair, Side, initiator_config, responder_config};
use models::ike::sa::{
    EndpointConfig, FailReason, IkeEvent, LivenessMode, LivenessPolicy, RetransmitPolicy, SaId,
};
use sim::{SimDuration, SimTime};

const INTERVAL: SimDuration = SimDuration::from_secs(10);

fn pair(mode: LivenessMode) -> (Pair, SaId) {
    let mut responder = responder_config();
    responder.liveness.interval = None;
    let mut pair = Pair::new(30, EndpointConfig::responder(responder));
    let mut initiator = initiator_config();
    initiator.liveness = LivenessPolicy {
        interval: Some(INTERVAL),
        mode,
    };
    let id = pair.connect(initiator);
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    (pair, id)
}

fn informational_requests(pair: &Pair) -> Vec<SimTime> {
    pair.sent_by(Side::Initiator)
        .into_iter()
        .skip(2)
        .map(|(t, _)| t)
        .collect()
}

#[test]
fn rfc7296_2_4_periodic_checks_every_interval_of_silence() {
    let (mut pair, _) = pair(LivenessMode::Periodic);
    let established = pair.now;
    pair.drive_to(established + SimDuration::from_secs(35));
    let checks = informational_requests(&pair);
    assert_eq!(checks.len(), 3, "{checks:?}");
    assert_eq!(checks[0] - established, INTERVAL);
    // Each check's response (20 ms later) restarts the silence.
    assert_eq!(
        checks[1] - checks[0],
        INTERVAL + SimDuration::from_millis(20)
    );
    let sa = pair.endpoints[0].sas().next().unwrap().1;
    assert_eq!(sa.stats().exchanges_completed, 5);
}

#[test]
fn rfc7296_2_4_on_demand_checks_only_with_outgoing_traffic() {
    let (mut pair, id) = pair(LivenessMode::OnDemand);
    let established = pair.now;
    pair.drive_to(established + SimDuration::from_secs(60));
    assert!(
        informational_requests(&pair).is_empty(),
        "no traffic, no check"
    );
    // Incoming ESP proves liveness; outgoing ESP after silence triggers a check.
    let now = pair.now;
    pair.endpoint(Side::Initiator)
        .with_sa(now, id, |sa| sa.note_esp_in(now));
    let later = now + SimDuration::from_secs(5);
    pair.drive_to(later);
    pair.endpoint(Side::Initiator)
        .with_sa(later, id, |sa| sa.note_esp_out(later));
    pair.pump(Side::Initiator);
    pair.drive_to(later + SimDuration::from_secs(30));
    let checks = informational_requests(&pair);
    assert_eq!(
        checks,
        [now + INTERVAL],
        "due {INTERVAL} after the last ESP received"
    );
}

#[test]
fn rfc7296_2_4_unanswered_liveness_check_declares_the_peer_dead() {
    let (mut pair, _) = pair(LivenessMode::Periodic);
    let established = pair.now;
    pair.drop = Some(Box::new(|side, _| side == Side::Responder));
    pair.drive_to(established + SimDuration::from_secs(400));
    let events = pair.events_of(Side::Initiator);
    let n = events.len();
    assert!(
        matches!(events[n - 2], IkeEvent::ChildSaDown(_)),
        "{events:?}"
    );
    assert_eq!(events[n - 1], IkeEvent::Failed(FailReason::Timeout));
    let (failed_at, _, _) = *pair.events[0].last().unwrap();
    let give_up = RetransmitPolicy::default().give_up_after();
    assert_eq!(failed_at - established, INTERVAL + give_up);
    assert_eq!(
        informational_requests(&pair).len(),
        6,
        "check and 5 retransmissions"
    );
    assert_eq!(pair.endpoints[0].sas().count(), 0);
}
