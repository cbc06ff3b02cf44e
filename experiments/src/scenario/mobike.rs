//! The MOBIKE keys of the IKE daemon in scenarios (RFC 4555; RFC 9329 §7.1).

use models::ike::daemon::{FallbackTrigger, MessageIdOnSwitch, MobikePolicy, NatDetectionOnSwitch};
use models::ike::sa::IkeConfig;

use super::IkeSpec;

impl IkeSpec {
    /// Sets the SA-level MOBIKE knobs and checks the daemon-level ones.
    pub(super) fn apply_mobike(&self, c: &mut IkeConfig) -> Result<(), String> {
        self.mobike_policy()?;
        if let Some(on) = self.mobike {
            c.mobike = on;
        }
        if let Some(on) = self.mobike_return_routability {
            c.mobike_return_routability = on;
        }
        Ok(())
    }

    /// The daemon's MOBIKE policy (RFC 9329 §7.1).
    pub fn mobike_policy(&self) -> Result<MobikePolicy, String> {
        let mut p = MobikePolicy::default();
        p.tcp_switch = match (self.mobike_tcp_after, self.mobike_tcp_retransmissions) {
            (Some(_), Some(_)) => {
                return Err(
                    "ike: set mobike_tcp_after or mobike_tcp_retransmissions, not both".into(),
                );
            }
            (Some(d), None) => Some(FallbackTrigger::After(d.0)),
            (None, Some(n)) => Some(FallbackTrigger::Retransmissions(n)),
            (None, None) => p.tcp_switch,
        };
        if self.mobike_tcp == Some(false) {
            p.tcp_switch = None;
        }
        p.message_id = match self.mobike_message_id.as_deref() {
            None | Some("keep") => MessageIdOnSwitch::Keep,
            Some("new") => MessageIdOnSwitch::New,
            Some(other) => {
                return Err(format!(
                    "ike.mobike_message_id: expected keep or new, got {other:?}"
                ));
            }
        };
        p.nat_detection = match self.mobike_nat_detection.as_deref() {
            None | Some("recompute") => NatDetectionOnSwitch::Recompute,
            Some("stale") => NatDetectionOnSwitch::Stale,
            Some(other) => {
                return Err(format!(
                    "ike.mobike_nat_detection: expected recompute or stale, got {other:?}"
                ));
            }
        };
        Ok(p)
    }
}
