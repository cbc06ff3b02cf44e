//! IKE SA establishment (RFC 7296 §1.2): IKE_SA_INIT, IKE_AUTH and the first Child SA.

#![allow(clippy::unwrap_used, reason = "tests unwrap what must be there")]

use std::net::Ipv4Addr;

use models::ike::sa::testing::{Pair, Side, initiator_config, responder_config};
use models::ike::sa::{AddressPool, ChildSaKeys, EndpointConfig, IkeEvent, InnerAddress};
use models::ike::wire::{NotifyType, TrafficSelector};
use sim::{SimDuration, SimTime};

fn child_up(events: &[IkeEvent]) -> ChildSaKeys {
    events
        .iter()
        .find_map(|e| match e {
            IkeEvent::ChildSaUp(keys) => Some(keys.clone()),
            _ => None,
        })
        .expect("a ChildSaUp event")
}

#[test]
fn rfc7296_1_2_establishes_ike_sa_and_first_child_sa() {
    let mut pair = Pair::new(1, EndpointConfig::responder(responder_config()));
    pair.connect(initiator_config());
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    pair.drive_to(pair.now + SimDuration::from_millis(100));

    for side in [Side::Initiator, Side::Responder] {
        let events = pair.events_of(side);
        assert!(
            matches!(events[0], IkeEvent::IkeKeys(_)),
            "{side:?}: {events:?}"
        );
        assert!(
            matches!(events[1], IkeEvent::Established { .. }),
            "{events:?}"
        );
        assert!(matches!(events[2], IkeEvent::ChildSaUp(_)), "{events:?}");
        assert_eq!(events.len(), 3);
    }
    let (i, r) = (
        pair.events_of(Side::Initiator),
        pair.events_of(Side::Responder),
    );
    assert_eq!(i[0], r[0], "both sides derive the same SK keys");
    let (ci, cr) = (child_up(&i), child_up(&r));
    assert_eq!(ci.spi_in, cr.spi_out);
    assert_eq!(ci.spi_out, cr.spi_in);
    assert_eq!(ci.key_out, cr.key_in);
    assert_eq!(ci.key_in, cr.key_out);
    assert_ne!(ci.key_in, ci.key_out);
    assert_eq!(ci.ts_local, cr.ts_remote);

    // Four messages, two round trips of 20 ms.
    assert_eq!(pair.log.len(), 4);
    let sa = pair.endpoint(Side::Initiator).sas().next().unwrap().1;
    assert_eq!(
        sa.stats().time_to_establish,
        Some(SimDuration::from_millis(40))
    );
    assert_eq!(
        sa.stats().established_at,
        Some(SimTime::from_nanos(40_000_000))
    );
    assert_eq!(
        sa.message_ids(),
        (2, 0),
        "RFC 7296 §2.2: IKE_SA_INIT 0, IKE_AUTH 1"
    );
}

fn with_inner(inner: InnerAddress, pool: Option<AddressPool>) -> Pair {
    let mut responder = EndpointConfig::responder(responder_config());
    responder.pool = pool;
    let mut pair = Pair::new(2, responder);
    let mut initiator = initiator_config();
    initiator.inner_address = inner;
    pair.connect(initiator);
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    pair.drive_to(pair.now + SimDuration::from_millis(100));
    pair
}

#[test]
fn rfc7296_2_19_inner_address_from_the_pool() {
    let first = Ipv4Addr::new(10, 99, 0, 1);
    let pool = AddressPool { first, size: 10 };
    let pair = with_inner(InnerAddress::Request, Some(pool));
    let (ci, cr) = (
        child_up(&pair.events_of(Side::Initiator)),
        child_up(&pair.events_of(Side::Responder)),
    );
    assert_eq!(ci.inner_address, Some(first));
    assert_eq!(cr.inner_address, Some(first));
    assert_eq!(
        ci.ts_local,
        [TrafficSelector::ipv4(first, first)],
        "TSi narrowed"
    );
    assert_eq!(cr.ts_remote, ci.ts_local);
    let gateway_sa = pair.endpoints[1].sas().next().unwrap().1;
    assert_eq!(gateway_sa.inner_address(), Some(first));
}

#[test]
fn rfc7296_3_15_4_no_pool_is_internal_address_failure() {
    let pair = with_inner(InnerAddress::Request, None);
    for side in [Side::Initiator, Side::Responder] {
        let events = pair.events_of(side);
        let failed = IkeEvent::ChildSaFailed(NotifyType::INTERNAL_ADDRESS_FAILURE);
        assert_eq!(events.last(), Some(&failed), "{events:?}");
    }
    assert!(pair.endpoints[0].sas().next().unwrap().1.is_established());
}

#[test]
fn fixed_inner_address_is_the_tsi() {
    let addr = Ipv4Addr::new(10, 1, 2, 3);
    let pair = with_inner(InnerAddress::Fixed(addr), None);
    let ci = child_up(&pair.events_of(Side::Initiator));
    assert_eq!(ci.inner_address, Some(addr));
    assert_eq!(ci.ts_local, [TrafficSelector::ipv4(addr, addr)]);
}
