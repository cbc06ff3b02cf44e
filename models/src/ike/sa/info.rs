//! INFORMATIONAL exchanges: Delete and liveness (RFC 7296 §1.4, §2.4).
//!
//! A Delete of the IKE SA is answered with an empty response and closes the SA with its
//! Child SAs. A Delete of Child SAs (their senders' inbound SPIs, which are our outbound
//! ones) is answered with a Delete of our inbound SPIs of the same SAs; an SA we are
//! deleting ourselves is removed without being listed (RFC 7296 §1.4.1). An empty
//! request is a liveness check and gets an empty response. Status notifies are ignored,
//! unknown error notifies in a request are logged by being counted and ignored too.

use sim::SimTime;

use super::IkeEvent;
use super::child::ChildState;
use super::core::Request;
use super::ike_sa::{IkeSa, Path, Sel};
use crate::ike::wire::{
    DeletePayload, ExchangeType, Message, NotifyPayload, NotifyType, Payload, ProtocolId,
};

/// The first notify of type `ty`.
pub(super) fn notify(payloads: &[Payload], ty: NotifyType) -> Option<&NotifyPayload> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.ty == ty => Some(n),
        _ => None,
    })
}

/// The type of the first error notify (RFC 7296 §3.10.1: types below 16384).
pub(super) fn error_notify(payloads: &[Payload]) -> Option<NotifyType> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.ty.is_error() => Some(n.ty),
        _ => None,
    })
}

/// The Delete payload of the IKE SA.
pub(super) const fn delete_ike() -> DeletePayload {
    DeletePayload {
        protocol: ProtocolId::IKE,
        spis: Vec::new(),
    }
}

impl IkeSa {
    /// Sends a Delete for the Child SA with inbound SPI `spi_in`.
    pub(super) fn start_delete_child(&mut self, now: SimTime, spi_in: u32) {
        let Some(child) = self.children.get_mut(&spi_in) else {
            return;
        };
        child.state = ChildState::Deleting;
        let delete = DeletePayload {
            protocol: ProtocolId::ESP,
            spis: vec![spi_in],
        };
        self.send_request(
            now,
            Sel::Current,
            ExchangeType::INFORMATIONAL,
            &[Payload::Delete(delete)],
            Request::DeleteChild(spi_in),
        );
    }

    /// Our Child SA delete was answered: the SA is gone on both sides.
    pub(super) fn on_delete_child_response(&mut self, spi_in: u32) {
        if let Some(child) = self.children.remove(&spi_in) {
            self.events
                .push_back(IkeEvent::ChildSaDown(child.keys.id()));
        }
    }

    /// Responder: an INFORMATIONAL request on generation `sel`.
    pub(super) fn respond_informational(
        &mut self,
        now: SimTime,
        sel: Sel,
        path: Path,
        msg: &Message,
        payloads: &[Payload],
    ) {
        self.on_replay_counter_notify(payloads);
        let deletes = payloads.iter().filter_map(|p| match p {
            Payload::Delete(d) => Some(d),
            _ => None,
        });
        let mut ours = Vec::new();
        let mut delete_ike = false;
        for delete in deletes {
            match delete.protocol {
                ProtocolId::IKE => delete_ike = true,
                ProtocolId::ESP => ours.extend(self.remove_deleted(&delete.spis)),
                _ => {}
            }
        }
        let mut inner: Vec<Payload> = if ours.is_empty() || delete_ike {
            Vec::new()
        } else {
            vec![Payload::Delete(DeletePayload {
                protocol: ProtocolId::ESP,
                spis: ours,
            })]
        };
        if sel == Sel::Current && !delete_ike {
            inner.extend(self.mobike_on_request(path, msg.message_id, payloads));
        }
        self.respond(
            sel,
            path,
            ExchangeType::INFORMATIONAL,
            msg.message_id,
            &inner,
        );
        if delete_ike {
            match sel {
                Sel::Current => self.close(IkeEvent::Deleted),
                Sel::Old => {
                    let linger = self.config.retransmit.give_up_after();
                    if let Some(old) = &mut self.old {
                        old.deleted = true;
                        old.expire_at = now.saturating_add(linger);
                    }
                }
            }
        }
    }

    /// Removes the Child SAs whose outbound SPIs the peer deleted; returns our inbound
    /// SPIs of those we were not deleting ourselves.
    fn remove_deleted(&mut self, peer_spis: &[u32]) -> Vec<u32> {
        let doomed: Vec<u32> = self
            .children
            .iter()
            .filter(|(_, c)| peer_spis.contains(&c.keys.spi_out))
            .map(|(&spi, _)| spi)
            .collect();
        let mut ours = Vec::new();
        for spi in doomed {
            let Some(child) = self.children.remove(&spi) else {
                continue;
            };
            if child.state != ChildState::Deleting {
                ours.push(spi);
            }
            self.events
                .push_back(IkeEvent::ChildSaDown(child.keys.id()));
        }
        ours
    }
}
