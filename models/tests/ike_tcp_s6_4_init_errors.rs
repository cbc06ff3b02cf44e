//! RFC 9329 §6.4: over TCP the initiator acts on an error notify in the IKE_SA_INIT
//! response at once (the compliant default) instead of waiting for a possibly genuine
//! answer as RFC 7296 §2.21.1 advises over UDP.

#![allow(clippy::unwrap_used, reason = "tests")]

mod ike_tcp_harness;

use ike_tcp_harness::{Setup, secs};
use models::ike::crypto::DhGroup;
use models::ike::daemon::TransportPolicy;
use models::ike::sa::InitErrorAction;

fn run(action: InitErrorAction, until: u64) -> ike_tcp_harness::Net {
    let mut policy = TransportPolicy::tcp_only();
    policy.init_error = action;
    let mut setup = Setup::new(policy);
    // No common DH group: NO_PROPOSAL_CHOSEN.
    setup.client_ike.dh_groups = vec![DhGroup::Ecp256];
    let mut gw = setup.gateway_ike.clone();
    gw.dh_groups = vec![DhGroup::Curve25519];
    setup.gateway_endpoint.responder = Some(gw);
    setup.block_udp = true;
    let mut net = setup.build();
    net.run_until(secs(until));
    net
}

#[test]
fn immediate_gives_up_at_once() {
    let net = run(InitErrorAction::Immediate, 1);
    assert_eq!(net.client_counter("ike_failed"), 1);
}

#[test]
fn wait_keeps_the_sa_until_the_schedule_ends() {
    let net = run(InitErrorAction::Wait, 100);
    assert_eq!(net.client_counter("ike_failed"), 0);
    let net = run(InitErrorAction::Wait, 170);
    assert_eq!(net.client_counter("ike_failed"), 1);
}
