//! Middleboxes (RFC 3234): boxes on the path that are not endpoints and not plain routers.
//!
//! - [`Firewall`]: a stateless packet filter, the kind that blocks UDP/500, UDP/4500 and
//!   ESP and so makes TCP encapsulation (RFC 9329 §1) necessary.
//! - [`OnPath`]: an attacker on the wire that drops, delays, resets or injects on command,
//!   for the RFC 9329 §6.4 error-handling and connection-loss experiments.
//!
//! Both are bump-in-the-wire engine nodes with exactly two interfaces (0 and 1): whatever is
//! not stopped leaves by the other interface unchanged (no TTL decrement; a transparent
//! bridge is not a router hop). They classify packets with a [`PacketFilter`].
//!
//! The packet summary, the RST builders and the single re-armable timer here are shared
//! with [`crate::nat`], which is a middlebox too.

mod filter;
mod firewall;
mod forge;
mod onpath;
pub(crate) mod packet;

use sim::{Ctx, IfaceId, SimTime, TimerId};

pub use self::filter::PacketFilter;
pub use self::firewall::{Firewall, FirewallConfig, Rule, RuleAction, RuleDirection};
pub use self::onpath::{OnPath, OnPathCommand};

/// One engine timer that a node re-arms for the earliest of many deadlines.
///
/// The node keeps its deadlines in an ordered index and calls [`Self::ensure`] with the
/// earliest after every change. A timer is re-armed only when the earliest deadline moves
/// *earlier*; when it moves later the pending timer fires early, finds nothing due and is
/// re-armed then. That bounds timer churn under constant refreshes, and because the node
/// removes every deadline `<= now` before re-arming, a fired timer never re-arms at `now`
/// (style.md pitfall 6).
#[derive(Debug, Default)]
pub(crate) struct Wakeup {
    armed: Option<(SimTime, TimerId)>,
}

impl Wakeup {
    /// Makes sure `on_timer(token)` runs no later than `at`.
    pub(crate) fn ensure(&mut self, ctx: &mut Ctx<'_>, at: SimTime, token: u64) {
        if self.armed.is_some_and(|(armed_at, _)| armed_at <= at) {
            return;
        }
        if let Some((_, timer)) = self.armed.take() {
            ctx.cancel_timer(timer);
        }
        self.armed = Some((at, ctx.set_timer(at, token)));
    }

    /// The pending timer fired; the next [`Self::ensure`] arms a new one.
    pub(crate) fn fired(&mut self) {
        self.armed = None;
    }
}

/// The other interface of a two-interface bump in the wire.
fn other_iface(iface: IfaceId) -> IfaceId {
    IfaceId(iface.0 ^ 1)
}

/// Panics unless a bump-in-the-wire node has exactly two interfaces: anything else is a
/// topology bug that would otherwise surface as a send on a missing interface.
fn assert_two_ifaces(ctx: &Ctx<'_>) {
    assert_eq!(
        ctx.iface_count(),
        2,
        "bump-in-the-wire node {} needs exactly two interfaces",
        ctx.name()
    );
}
