//! Rekeying Child SAs and the IKE SA (RFC 7296 §1.3.2, §1.3.3, §2.8, §2.18).

#![allow(clippy::unwrap_used, reason = "tests unwrap what must be there")]

use models::ike::sa::testing::{Pair, Side, initiator_config, responder_config};
use models::ike::sa::{ChildSaKeys, EndpointConfig, IkeConfig, IkeEvent, Lifetimes, SaId};
use models::ike::wire::{ExchangeType, Message};
use sim::{SimDuration, SimTime};

fn at(secs: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(secs)
}

fn long_lifetimes() -> Lifetimes {
    Lifetimes {
        child_soft: SimDuration::from_secs(100_000),
        child_hard: SimDuration::from_secs(110_000),
        ike_soft: SimDuration::from_secs(100_000),
        ike_hard: SimDuration::from_secs(110_000),
        jitter: SimDuration::ZERO,
    }
}

fn config(mut config: IkeConfig, lifetimes: Lifetimes) -> IkeConfig {
    config.lifetimes = lifetimes;
    config.liveness.interval = None;
    config
}

fn established(initiator: Lifetimes, responder: Lifetimes) -> (Pair, SaId) {
    let responder = config(responder_config(), responder);
    let mut pair = Pair::new(20, EndpointConfig::responder(responder));
    let id = pair.connect(config(initiator_config(), initiator));
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    (pair, id)
}

fn rekeyed(events: &[IkeEvent]) -> Vec<(ChildSaKeys, ChildSaKeys)> {
    let ups: Vec<ChildSaKeys> = events
        .iter()
        .filter_map(|e| match e {
            IkeEvent::ChildSaUp(k) => Some(k.clone()),
            _ => None,
        })
        .collect();
    events
        .iter()
        .filter_map(|e| match e {
            IkeEvent::ChildSaRekeyed { old, new } => {
                let old = ups.iter().find(|k| k.id() == *old).cloned();
                Some((old.unwrap_or_else(|| new.clone()), new.clone()))
            }
            _ => None,
        })
        .collect()
}

fn downs(events: &[IkeEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, IkeEvent::ChildSaDown(_)))
        .count()
}

#[test]
fn rfc7296_2_8_child_sa_rekey_at_soft_lifetime() {
    let mut soft = long_lifetimes();
    soft.child_soft = SimDuration::from_secs(60);
    soft.child_hard = SimDuration::from_secs(70);
    let (mut pair, _) = established(soft, long_lifetimes());
    pair.drive_to(at(65));
    for side in [Side::Initiator, Side::Responder] {
        let events = pair.events_of(side);
        let pairs = rekeyed(&events);
        assert_eq!(pairs.len(), 1, "{side:?}: {events:?}");
        let (old, new) = &pairs[0];
        assert_ne!(old.spi_in, new.spi_in);
        assert_ne!(old.key_in, new.key_in);
        assert_ne!(old.key_out, new.key_out);
        assert_eq!(old.ts_local, new.ts_local);
        assert_eq!(downs(&events), 1, "old Child SA deleted");
        assert!(matches!(events.last(), Some(IkeEvent::ChildSaDown(id)) if *id == old.id()));
    }
    let (i, r) = (
        pair.events_of(Side::Initiator),
        pair.events_of(Side::Responder),
    );
    let (ni, nr) = (&rekeyed(&i)[0].1, &rekeyed(&r)[0].1);
    assert_eq!(ni.spi_in, nr.spi_out);
    assert_eq!(ni.key_out, nr.key_in);
    assert_eq!(ni.key_in, nr.key_out);
    let sa = pair.endpoints[0].sas().next().unwrap().1;
    assert_eq!(
        sa.message_ids(),
        (4, 0),
        "CREATE_CHILD_SA 2, INFORMATIONAL 3"
    );
    assert_eq!(sa.children().count(), 1);
}

#[test]
fn rfc7296_2_8_1_simultaneous_child_rekeys_resolve_to_one() {
    let mut soft = long_lifetimes();
    soft.child_soft = SimDuration::from_secs(60);
    soft.child_hard = SimDuration::from_secs(200);
    let (mut pair, _) = established(soft, soft);
    // Slow enough that each side starts its rekey before the other's request arrives.
    pair.latency = SimDuration::from_millis(500);
    pair.drive_to(at(120));
    let create_child_requests = pair
        .log
        .iter()
        .map(|(_, _, t)| Message::parse(&t.bytes).unwrap())
        .filter(|m| m.exchange_type == ExchangeType::CREATE_CHILD_SA && !m.flags.response)
        .count();
    assert!(create_child_requests >= 3, "a collision, then a retry");
    let (i, r) = (
        pair.events_of(Side::Initiator),
        pair.events_of(Side::Responder),
    );
    assert_eq!(rekeyed(&i).len(), 1, "{i:?}");
    assert_eq!(rekeyed(&r).len(), 1, "{r:?}");
    assert_eq!(rekeyed(&i)[0].1.spi_in, rekeyed(&r)[0].1.spi_out);
    assert_eq!((downs(&i), downs(&r)), (1, 1));
}

#[test]
fn rfc7296_1_3_1_child_rekey_with_pfs() {
    let mut initiator = config(initiator_config(), long_lifetimes());
    initiator.child_pfs = true;
    let mut pair = Pair::new(21, EndpointConfig::responder(responder_config()));
    let id = pair.connect(initiator);
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    let now = pair.now;
    let spi = pair.endpoints[0]
        .sa(id)
        .unwrap()
        .children()
        .next()
        .unwrap()
        .spi_in;
    assert_eq!(
        pair.endpoint(Side::Initiator)
            .with_sa(now, id, |sa| sa.rekey_child(spi)),
        Some(true)
    );
    pair.pump(Side::Initiator);
    pair.drive_to(now + SimDuration::from_secs(1));
    let (i, r) = (
        pair.events_of(Side::Initiator),
        pair.events_of(Side::Responder),
    );
    assert_eq!(rekeyed(&i)[0].1.key_out, rekeyed(&r)[0].1.key_in);
    assert_eq!((downs(&i), downs(&r)), (1, 1));
}

#[test]
fn rfc7296_2_18_ike_sa_rekey_moves_children_and_restarts_message_ids() {
    let (mut pair, id) = established(long_lifetimes(), long_lifetimes());
    let old_spis = {
        let sa = pair.endpoints[0].sa(id).unwrap();
        (sa.spi_i(), sa.spi_r())
    };
    let now = pair.now;
    pair.endpoint(Side::Initiator)
        .with_sa(now, id, |sa| sa.rekey_ike());
    pair.pump(Side::Initiator);
    pair.drive_to(now + SimDuration::from_secs(1));
    for side in [Side::Initiator, Side::Responder] {
        let events = pair.events_of(side);
        let keys: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                IkeEvent::IkeKeys(k) => Some(k.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(keys.len(), 2, "{side:?}: {events:?}");
        assert_ne!(keys[0].sk_ei, keys[1].sk_ei);
        assert_ne!((keys[1].spi_i, keys[1].spi_r), old_spis);
        assert!(events.contains(&IkeEvent::IkeSaRekeyed {
            spi_i: keys[1].spi_i,
            spi_r: keys[1].spi_r
        }));
        assert_eq!(downs(&events), 0, "Child SAs are inherited");
        let sa = pair.endpoints[side as usize].sas().next().unwrap().1;
        assert_eq!(
            sa.message_ids(),
            (0, 0),
            "new IKE SA starts at Message ID 0"
        );
        assert_eq!(sa.children().count(), 1);
    }
    let (i, r) = (
        pair.events_of(Side::Initiator),
        pair.events_of(Side::Responder),
    );
    assert_eq!(i.last(), r.last());
    // The rekey initiator deleted the old IKE SA; the responder keeps answering
    // retransmissions of that Delete for a while, then forgets it too.
    let spis = |pair: &Pair, side: usize| {
        pair.endpoints[side]
            .sas()
            .next()
            .unwrap()
            .1
            .local_spis()
            .count()
    };
    assert_eq!(spis(&pair, 0), 1);
    assert_eq!(
        pair.endpoints[0].sa(id).unwrap().stats().exchanges_failed,
        0
    );
    assert_eq!(spis(&pair, 1), 2);
    pair.drive_to(pair.now + SimDuration::from_secs(200));
    assert_eq!(spis(&pair, 1), 1);

    // The new SA carries exchanges from Message ID 0: rekey the Child SA on it.
    let now = pair.now;
    let spi = pair.endpoints[0]
        .sa(id)
        .unwrap()
        .children()
        .next()
        .unwrap()
        .spi_in;
    pair.endpoint(Side::Initiator)
        .with_sa(now, id, |sa| sa.rekey_child(spi));
    pair.pump(Side::Initiator);
    pair.drive_to(now + SimDuration::from_secs(1));
    assert_eq!(pair.endpoints[0].sa(id).unwrap().message_ids(), (2, 0));
    let responder = pair.endpoints[1].sas().next().unwrap().1;
    assert_eq!(responder.message_ids(), (0, 2));
    assert_eq!(rekeyed(&pair.events_of(Side::Responder)).len(), 1);
}

#[test]
fn rfc7296_2_18_responder_rekeys_the_ike_sa() {
    let mut soft = long_lifetimes();
    soft.ike_soft = SimDuration::from_secs(60);
    let (mut pair, id) = established(long_lifetimes(), soft);
    pair.drive_to(at(61));
    let sa = pair.endpoints[0].sa(id).unwrap();
    assert_eq!(sa.message_ids(), (0, 0));
    // The initiator of the rekey owns SPIi of the new SA.
    let responder = pair.endpoints[1].sas().next().unwrap().1;
    assert_eq!(
        responder.local_spis().collect::<Vec<_>>(),
        [responder.spi_i()]
    );
    let now = pair.now;
    pair.endpoint(Side::Initiator)
        .with_sa(now, id, |sa| sa.check_liveness());
    pair.pump(Side::Initiator);
    pair.drive_to(now + SimDuration::from_secs(1));
    assert_eq!(pair.endpoints[0].sa(id).unwrap().message_ids(), (1, 0));
    assert_eq!(
        pair.endpoints[0].sa(id).unwrap().stats().exchanges_failed,
        0
    );
}

#[test]
fn rfc7296_2_8_hard_lifetimes_delete() {
    let mut hard = long_lifetimes();
    hard.child_hard = SimDuration::from_secs(30);
    hard.ike_hard = SimDuration::from_secs(60);
    let (mut pair, _) = established(hard, long_lifetimes());
    pair.drive_to(at(45));
    for side in [Side::Initiator, Side::Responder] {
        let events = pair.events_of(side);
        assert!(
            matches!(events.last(), Some(IkeEvent::ChildSaDown(_))),
            "{events:?}"
        );
    }
    pair.drive_to(at(90));
    for side in [Side::Initiator, Side::Responder] {
        assert_eq!(pair.events_of(side).last(), Some(&IkeEvent::Deleted));
    }
}
