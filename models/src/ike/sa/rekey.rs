//! IKE SA rekey and lifetime (RFC 7296 §1.3.2, §2.8, §2.18; protocol.md 2.7).
//!
//! Request `SK{SA(IKE, new SPIi), Ni, KEi}` on the old SA, response `SK{SA(IKE, new SPIr),
//! Nr, KEr}`. Both derive `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` and the keys
//! with the new SPIs; the new SA starts its Message IDs at 0 and inherits every Child SA.
//! The rekey initiator then deletes the old SA with INFORMATIONAL on the old SA; the
//! responder keeps the old generation until that Delete arrives (or the retransmission
//! schedule would have run out), so it can answer a retransmitted rekey request from its
//! cache. A rekey request while we rekey ourselves is refused with TEMPORARY_FAILURE
//! (RFC 7296 §2.25) and the refused side retries after a random delay.

use std::rc::Rc;

use sim::SimTime;

use super::IkeEvent;
use super::auth::find;
use super::core::{Core, CoreKeys, IkeRekey, Request};
use super::ike_sa::{IkeSa, OldSa, Path, Sel, State, Task};
use super::info::{delete_ike, error_notify};
use super::init::{ike_spi, nonce};
use super::proposal::{PRF, check_answer, choose, ike_offer};
use crate::ike::crypto::{IkeSaKeys, rekey_skeyseed};
use crate::ike::wire::{ExchangeType, KePayload, Message, NotifyType, Payload, ProtocolId};

impl IkeSa {
    /// The IKE SA lifetime timer: delete at the hard lifetime, rekey at the soft one.
    pub(super) fn on_ike_lifetime(&mut self, now: SimTime) {
        let State::Established(est) = &mut self.state else {
            return;
        };
        if est.expire_at <= now {
            est.expire_at = SimTime::MAX;
            self.queue_first(Task::DeleteIke);
        } else if est.rekey_at <= now {
            est.rekey_at = SimTime::MAX;
            self.queue(Task::RekeyIke);
        }
    }

    /// Sends the IKE SA rekey request.
    pub(super) fn start_ike_rekey(&mut self, now: SimTime) {
        let Some(group) = self.core.keys.as_ref().map(|k| k.group) else {
            return;
        };
        if self.old.as_deref().is_some_and(OldSa::blocks_rekey) {
            // The previous generation is still being deleted.
            self.defer(now, Task::RekeyIke);
            return;
        }
        let new_spi = self.rng.then_park(ike_spi);
        let ni = self.rng.then_park(nonce);
        let (dh, public) = self
            .rng
            .then_park(|rng| group.generate(self.config.crypto, rng));
        let inner = [
            Payload::Sa(ike_offer(&[group], Some(new_spi))),
            Payload::Nonce(ni.clone()),
            Payload::Ke(KePayload {
                group: group.transform_id(),
                data: public,
            }),
        ];
        let request = Request::RekeyIke(Box::new(IkeRekey { new_spi, ni, dh }));
        self.send_request(
            now,
            Sel::Current,
            ExchangeType::CREATE_CHILD_SA,
            &inner,
            request,
        );
    }

    /// Responder: an IKE SA rekey request.
    pub(super) fn respond_ike_rekey(
        &mut self,
        now: SimTime,
        path: Path,
        msg: &Message,
        payloads: &[Payload],
    ) {
        match self.accept_ike_rekey(payloads) {
            Ok((inner, core)) => {
                self.respond(
                    Sel::Current,
                    path,
                    msg.exchange_type,
                    msg.message_id,
                    &inner,
                );
                self.switch_core(now, core);
            }
            Err(ty) => self.respond_notify(Sel::Current, path, msg, ty, Vec::new()),
        }
    }

    /// Responder: the response payloads and the new generation.
    fn accept_ike_rekey(
        &mut self,
        payloads: &[Payload],
    ) -> Result<(Vec<Payload>, Core), NotifyType> {
        // Our own outstanding request (an IKE rekey or anything else) would be stranded
        // on the old generation: refuse, the peer retries (RFC 7296 §2.25).
        if self.old.as_deref().is_some_and(OldSa::blocks_rekey) || self.core.outstanding.is_some() {
            return Err(NotifyType::TEMPORARY_FAILURE);
        }
        let keys = self.core.keys.as_ref().ok_or(NotifyType::INVALID_SYNTAX)?;
        let (group, sk_d) = (keys.group, keys.sk.sk_d.clone());
        let chosen = find!(payloads, Payload::Sa)
            .and_then(|sa| choose(sa, ProtocolId::IKE, &[group], Some(group)))
            .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let peer_spi = chosen.ike_spi().ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let ke = find!(payloads, Payload::Ke)
            .filter(|ke| ke.group == group.transform_id())
            .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let ni = find!(payloads, Payload::Nonce).ok_or(NotifyType::INVALID_SYNTAX)?;
        let nr = self.rng.then_park(nonce);
        let (dh, public) = self
            .rng
            .then_park(|rng| group.generate(self.config.crypto, rng));
        let g_ir = dh
            .shared(&ke.data)
            .map_err(|_| NotifyType::INVALID_SYNTAX)?;
        let our_spi = self.rng.then_park(ike_spi);
        let skeyseed = rekey_skeyseed(PRF, &sk_d, &g_ir, ni, &nr);
        let keys = IkeSaKeys::derive(PRF, &skeyseed, ni, &nr, peer_spi, our_spi);
        let mut core = Core::new(peer_spi, our_spi, false);
        core.keys = Some(Rc::new(CoreKeys::new(
            group,
            keys,
            false,
            self.config.crypto,
        )));
        let inner = vec![
            Payload::Sa(chosen.answer(ProtocolId::IKE, our_spi.to_be_bytes().to_vec())),
            Payload::Nonce(nr),
            Payload::Ke(KePayload {
                group: group.transform_id(),
                data: public,
            }),
        ];
        Ok((inner, core))
    }

    /// The response to our IKE SA rekey.
    pub(super) fn on_ike_rekey_response(
        &mut self,
        now: SimTime,
        rekey: IkeRekey,
        payloads: &[Payload],
    ) {
        match self.rekeyed_ike(&rekey, payloads) {
            Ok(core) => {
                self.switch_core(now, core);
                let inner = [Payload::Delete(delete_ike())];
                let exchange = ExchangeType::INFORMATIONAL;
                self.send_request(now, Sel::Old, exchange, &inner, Request::DeleteIke);
            }
            Err(NotifyType::TEMPORARY_FAILURE) => self.defer(now, Task::RekeyIke),
            // Otherwise the SA lives on until its hard lifetime.
            Err(_) => {}
        }
    }

    /// The new generation from a rekey response, or why there is none.
    fn rekeyed_ike(&self, rekey: &IkeRekey, payloads: &[Payload]) -> Result<Core, NotifyType> {
        if let Some(ty) = error_notify(payloads) {
            return Err(ty);
        }
        let keys = self.core.keys.as_ref().ok_or(NotifyType::INVALID_SYNTAX)?;
        let group = rekey.dh.group();
        let peer_spi = find!(payloads, Payload::Sa)
            .and_then(|sa| check_answer(sa, ProtocolId::IKE, Some(group)))
            .and_then(|c| c.ike_spi())
            .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let nr = find!(payloads, Payload::Nonce).ok_or(NotifyType::INVALID_SYNTAX)?;
        let ke = find!(payloads, Payload::Ke)
            .filter(|ke| ke.group == group.transform_id())
            .ok_or(NotifyType::INVALID_SYNTAX)?;
        let g_ir = rekey
            .dh
            .shared(&ke.data)
            .map_err(|_| NotifyType::INVALID_SYNTAX)?;
        let skeyseed = rekey_skeyseed(PRF, &keys.sk.sk_d, &g_ir, &rekey.ni, nr);
        let new_keys = IkeSaKeys::derive(PRF, &skeyseed, &rekey.ni, nr, rekey.new_spi, peer_spi);
        let mut core = Core::new(rekey.new_spi, peer_spi, true);
        core.keys = Some(Rc::new(CoreKeys::new(
            group,
            new_keys,
            true,
            self.config.crypto,
        )));
        Ok(core)
    }

    /// Makes `core` the current generation; the old one is kept to be deleted.
    fn switch_core(&mut self, now: SimTime, core: Core) {
        let old = std::mem::replace(&mut self.core, core);
        let expire_at = now.saturating_add(self.config.retransmit.give_up_after());
        self.old = Some(Box::new(OldSa {
            core: old,
            expire_at,
            deleted: false,
        }));
        let lifetimes = self.config.lifetimes;
        if let State::Established(est) = &mut self.state {
            est.rekey_at = self
                .rng
                .then_park(|rng| lifetimes.soft_deadline(now, lifetimes.ike_soft, rng));
            est.expire_at = now.saturating_add(lifetimes.ike_hard);
        }
        self.emit_ike_keys();
        self.events.push_back(IkeEvent::IkeSaRekeyed {
            spi_i: self.core.spi_i,
            spi_r: self.core.spi_r,
        });
    }
}
