//! Child SAs: keys, lifetimes and rekeying with CREATE_CHILD_SA (RFC 7296 §1.3.3, §2.8,
//! §2.17).
//!
//! Rekey request: `SK{N(REKEY_SA), SA, Ni, [KEi], TSi, TSr}` with the old SA's inbound SPI
//! in the notify; response: `SK{SA, Nr, [KEr], TSi, TSr}`. Both sides then have old and new
//! SA; the rekey initiator deletes the old one with INFORMATIONAL (RFC 7296 §2.8).
//!
//! Collisions (both peers rekeying the same Child SA, RFC 7296 §2.8.1) are resolved
//! simply: a request to rekey an SA we are rekeying or deleting is refused with
//! TEMPORARY_FAILURE (RFC 7296 §2.25), and a refused rekey is retried after a random
//! delay, so one of the two wins.

use std::net::Ipv4Addr;
use std::rc::Rc;

use sim::{SimDuration, SimRng, SimTime};

use super::auth::find;
use super::core::{ChildRekey, Request};
use super::ike_sa::{IkeSa, Path, Sel, Task};
use super::info::{error_notify, notify};
use super::init::nonce;
use super::proposal::{PRF, check_answer, choose, esp_offer};
use super::{ChildSaId, ChildSaKeys, IkeEvent};
use crate::ike::crypto::{self, DhSecret};
use crate::ike::wire::{
    ExchangeType, KePayload, Message, NotifyPayload, NotifyType, Payload, ProtocolId,
    TrafficSelector, TsPayload,
};
use crate::small_map::SmallMap;

/// Shortest wait before retrying a refused rekey.
const RETRY_MIN: SimDuration = SimDuration::from_secs(1);
/// Longest wait before retrying a refused rekey.
const RETRY_MAX: SimDuration = SimDuration::from_secs(10);

/// Where a Child SA is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildState {
    /// In use.
    Installed,
    /// Our rekey request is outstanding or queued.
    Rekeying,
    /// Replaced by a newer SA; waits for its deletion.
    Rekeyed,
    /// Our delete is outstanding or queued.
    Deleting,
}

/// A Child SA with its lifetimes.
#[derive(Debug, Clone)]
pub(crate) struct Child {
    /// What the data plane installed. Shared with the SA's HA replicas (a replica is taken
    /// whenever the SA's stamp moves); never changed in place: a rekey installs a new
    /// Child SA.
    pub(crate) keys: Rc<ChildSaKeys>,
    /// Soft lifetime ([`SimTime::MAX`] once handled).
    pub(crate) rekey_at: SimTime,
    /// Hard lifetime ([`SimTime::MAX`] once handled).
    pub(crate) expire_at: SimTime,
    /// State.
    pub(crate) state: ChildState,
}

impl Child {
    /// Whether a rekey may start.
    pub(crate) fn can_rekey(&self) -> bool {
        self.state == ChildState::Installed
    }

    /// The next lifetime event.
    pub(crate) fn next_deadline(&self) -> SimTime {
        if self.state == ChildState::Installed {
            self.rekey_at.min(self.expire_at)
        } else {
            self.expire_at
        }
    }
}

/// Allocates inbound ESP SPIs: a per-SA 16-bit prefix (unique per endpoint when the
/// endpoint sets it) and a 16-bit counter, so SPIs never collide on one host and are
/// never in the reserved range 1..=255 (RFC 4303 §2.1).
#[derive(Debug, Clone)]
pub(crate) struct EspSpis {
    prefix: u32,
    next: u16,
}

impl EspSpis {
    /// A random prefix and start.
    pub(crate) fn new(rng: &mut SimRng) -> Self {
        let prefix = u32::try_from(rng.range_inclusive(1, 0xffff)).unwrap_or(1);
        Self {
            prefix,
            next: (rng.next_u32() & 0xffff) as u16,
        }
    }

    /// Sets the prefix (non-zero).
    pub(crate) fn set_prefix(&mut self, prefix: u16) {
        self.prefix = u32::from(prefix.max(1));
    }

    /// The prefix.
    pub(crate) fn prefix(&self) -> u16 {
        u16::try_from(self.prefix).unwrap_or(1)
    }

    /// The prefix and the counter, for an SA's replica stamp.
    pub(crate) fn stamp(&self) -> (u16, u16) {
        (self.prefix(), self.next)
    }

    /// A fresh SPI not used by `children`.
    pub(crate) fn allocate(&mut self, children: &SmallMap<u32, Box<Child>>) -> u32 {
        assert!(children.len() < 0xffff, "Child SA table full");
        loop {
            let spi = (self.prefix << 16) | u32::from(self.next);
            self.next = self.next.wrapping_add(1);
            if !children.contains_key(&spi) {
                return spi;
            }
        }
    }
}

/// The inputs of a Child SA's KEYMAT (RFC 7296 §2.17).
#[derive(Debug)]
pub(crate) struct ChildSecrets<'a> {
    /// Whether we initiated the exchange that creates the SA.
    pub(crate) initiator: bool,
    /// The fresh DH secret, with PFS.
    pub(crate) g_ir: Option<&'a [u8]>,
    /// The exchange's Ni.
    pub(crate) ni: &'a [u8],
    /// The exchange's Nr.
    pub(crate) nr: &'a [u8],
}

impl IkeSa {
    /// The keys of a new Child SA, oriented for us.
    pub(super) fn child_keys(
        &self,
        secrets: &ChildSecrets<'_>,
        id: ChildSaId,
        ts_local: Vec<TrafficSelector>,
        ts_remote: Vec<TrafficSelector>,
        inner_address: Option<Ipv4Addr>,
    ) -> ChildSaKeys {
        let sk_d = &self
            .core
            .keys
            .as_ref()
            .expect("keys after IKE_SA_INIT")
            .sk
            .sk_d;
        let keymat = crypto::ChildSaKeys::derive(PRF, sk_d, secrets.g_ir, secrets.ni, secrets.nr);
        let (key_in, key_out) = if secrets.initiator {
            (
                &keymat.responder_to_initiator,
                &keymat.initiator_to_responder,
            )
        } else {
            (
                &keymat.initiator_to_responder,
                &keymat.responder_to_initiator,
            )
        };
        ChildSaKeys {
            spi_in: id.spi_in,
            spi_out: id.spi_out,
            key_in: key_in.clone(),
            key_out: key_out.clone(),
            ts_local,
            ts_remote,
            inner_address,
            crypto: self.config.crypto,
        }
    }

    /// Installs a Child SA with fresh lifetimes.
    pub(super) fn install_child(&mut self, now: SimTime, keys: ChildSaKeys) {
        let lifetimes = self.config.lifetimes;
        let rekey_at = self
            .rng
            .then_park(|rng| lifetimes.soft_deadline(now, lifetimes.child_soft, rng));
        self.children.insert(
            keys.spi_in,
            Box::new(Child {
                keys: Rc::new(keys),
                rekey_at,
                expire_at: now.saturating_add(lifetimes.child_hard),
                state: ChildState::Installed,
            }),
        );
    }

    /// Retries `task` after a random delay (after TEMPORARY_FAILURE).
    pub(super) fn defer(&mut self, now: SimTime, task: Task) {
        let delay = self
            .rng
            .then_park(|rng| rng.uniform_duration(RETRY_MIN, RETRY_MAX));
        self.deferred.push((now.saturating_add(delay), task));
    }

    /// The Child SA lifetime timer: queue rekeys and deletes that are due.
    pub(super) fn on_child_lifetime(&mut self, now: SimTime) {
        let mut tasks = Vec::new();
        for (&spi, child) in &mut self.children {
            if child.expire_at <= now {
                child.expire_at = SimTime::MAX;
                if child.state != ChildState::Deleting {
                    child.state = ChildState::Deleting;
                    tasks.push(Task::DeleteChild(spi));
                }
            } else if child.state == ChildState::Installed && child.rekey_at <= now {
                child.rekey_at = SimTime::MAX;
                tasks.push(Task::RekeyChild(spi));
            }
        }
        for task in tasks {
            self.queue(task);
        }
    }

    /// Sends the rekey request for the Child SA with inbound SPI `old_spi_in`.
    pub(super) fn start_child_rekey(&mut self, now: SimTime, old_spi_in: u32) {
        let Some(child) = self.children.get(&old_spi_in).filter(|c| c.can_rekey()) else {
            return;
        };
        let (ts_local, ts_remote) = (child.keys.ts_local.clone(), child.keys.ts_remote.clone());
        let new_spi_in = self.esp_spis.allocate(&self.children);
        let ni = self.rng.then_park(nonce);
        let group = self.core.keys.as_ref().map(|k| k.group);
        let pfs = group.filter(|_| self.config.child_pfs);
        let dh = self
            .rng
            .then_park(|rng| pfs.map(|g| g.generate(self.config.crypto, rng)));
        let mut inner = vec![
            Payload::Notify(NotifyPayload {
                protocol: ProtocolId::ESP,
                spi: old_spi_in.to_be_bytes().to_vec(),
                ty: NotifyType::REKEY_SA,
                data: Vec::new(),
            }),
            Payload::Sa(esp_offer(new_spi_in, pfs)),
            Payload::Nonce(ni.clone()),
        ];
        if let (Some(g), Some((_, public))) = (pfs, &dh) {
            inner.push(Payload::Ke(KePayload {
                group: g.transform_id(),
                data: public.clone(),
            }));
        }
        inner.push(Payload::TsI(TsPayload {
            selectors: ts_local,
        }));
        inner.push(Payload::TsR(TsPayload {
            selectors: ts_remote,
        }));
        if let Some(child) = self.children.get_mut(&old_spi_in) {
            child.state = ChildState::Rekeying;
        }
        let rekey = ChildRekey {
            old_spi_in,
            new_spi_in,
            ni,
            dh: dh.map(|(secret, _)| secret),
        };
        let request = Request::RekeyChild(Box::new(rekey));
        self.send_request(
            now,
            Sel::Current,
            ExchangeType::CREATE_CHILD_SA,
            &inner,
            request,
        );
    }

    /// The response to our Child SA rekey.
    pub(super) fn on_child_rekey_response(
        &mut self,
        now: SimTime,
        rekey: ChildRekey,
        payloads: &[Payload],
    ) {
        let old = rekey.old_spi_in;
        let new = error_notify(payloads).map_or_else(|| self.rekeyed_child(&rekey, payloads), Err);
        match new {
            Ok(keys) => {
                let Some(old_child) = self.children.get_mut(&old) else {
                    return;
                };
                old_child.state = ChildState::Rekeyed;
                let old_id = old_child.keys.id();
                self.install_child(now, keys.clone());
                self.events.push_back(IkeEvent::ChildSaRekeyed {
                    old: old_id,
                    new: keys,
                });
                if let Some(old_child) = self.children.get_mut(&old) {
                    old_child.state = ChildState::Deleting;
                }
                self.queue_first(Task::DeleteChild(old));
            }
            Err(NotifyType::CHILD_SA_NOT_FOUND) => {
                if let Some(child) = self.children.remove(&old) {
                    self.events
                        .push_back(IkeEvent::ChildSaDown(child.keys.id()));
                }
            }
            Err(ty) => {
                if let Some(child) = self.children.get_mut(&old) {
                    child.state = ChildState::Installed;
                }
                if ty == NotifyType::TEMPORARY_FAILURE {
                    self.defer(now, Task::RekeyChild(old));
                }
            }
        }
    }

    /// The new Child SA from a rekey response, or why there is none.
    fn rekeyed_child(
        &self,
        rekey: &ChildRekey,
        payloads: &[Payload],
    ) -> Result<ChildSaKeys, NotifyType> {
        let old = self
            .children
            .get(&rekey.old_spi_in)
            .ok_or(NotifyType::CHILD_SA_NOT_FOUND)?;
        let group = rekey.dh.as_ref().map(DhSecret::group);
        let spi_out = find!(payloads, Payload::Sa)
            .and_then(|sa| check_answer(sa, ProtocolId::ESP, group))
            .and_then(|c| c.esp_spi())
            .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let nr = find!(payloads, Payload::Nonce).ok_or(NotifyType::INVALID_SYNTAX)?;
        let g_ir = match &rekey.dh {
            Some(dh) => {
                let ke = find!(payloads, Payload::Ke).ok_or(NotifyType::INVALID_SYNTAX)?;
                Some(
                    dh.shared(&ke.data)
                        .map_err(|_| NotifyType::INVALID_SYNTAX)?,
                )
            }
            None => None,
        };
        let secrets = ChildSecrets {
            initiator: true,
            g_ir: g_ir.as_deref(),
            ni: &rekey.ni,
            nr,
        };
        let id = ChildSaId {
            spi_in: rekey.new_spi_in,
            spi_out,
        };
        let (ts_local, ts_remote) = (old.keys.ts_local.clone(), old.keys.ts_remote.clone());
        Ok(self.child_keys(&secrets, id, ts_local, ts_remote, old.keys.inner_address))
    }

    /// Responder: a CREATE_CHILD_SA request (Child SA rekey or IKE SA rekey).
    pub(super) fn respond_create_child(
        &mut self,
        now: SimTime,
        path: Path,
        msg: &Message,
        payloads: &[Payload],
    ) {
        let ike = find!(payloads, Payload::Sa)
            .is_some_and(|sa| sa.proposals.iter().any(|p| p.protocol == ProtocolId::IKE));
        if ike {
            self.respond_ike_rekey(now, path, msg, payloads);
            return;
        }
        let reply = if notify(payloads, NotifyType::REKEY_SA).is_some() {
            self.accept_child_rekey(now, payloads)
        } else {
            // New Child SAs beyond the first are not offered by this implementation.
            Err(NotifyType::NO_ADDITIONAL_SAS)
        };
        match reply {
            Ok(inner) => self.respond(
                Sel::Current,
                path,
                msg.exchange_type,
                msg.message_id,
                &inner,
            ),
            Err(ty) => self.respond_notify(Sel::Current, path, msg, ty, Vec::new()),
        }
    }

    /// Responder: rekeys one of our Child SAs; returns the response payloads.
    fn accept_child_rekey(
        &mut self,
        now: SimTime,
        payloads: &[Payload],
    ) -> Result<Vec<Payload>, NotifyType> {
        let rekeyed = notify(payloads, NotifyType::REKEY_SA)
            .and_then(|n| <[u8; 4]>::try_from(n.spi.as_slice()).ok())
            .map(u32::from_be_bytes)
            .ok_or(NotifyType::INVALID_SYNTAX)?;
        let (&old_spi_in, old) = self
            .children
            .iter()
            .find(|(_, c)| c.keys.spi_out == rekeyed)
            .ok_or(NotifyType::CHILD_SA_NOT_FOUND)?;
        if old.state != ChildState::Installed {
            return Err(NotifyType::TEMPORARY_FAILURE);
        }
        let old = old.keys.clone();
        let groups = &self.config.dh_groups;
        let chosen = find!(payloads, Payload::Sa)
            .and_then(|sa| choose(sa, ProtocolId::ESP, groups, None))
            .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let spi_out = chosen.esp_spi().ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let ni = find!(payloads, Payload::Nonce).ok_or(NotifyType::INVALID_SYNTAX)?;
        let nr = self.rng.then_park(nonce);
        let dh = match chosen.group {
            Some(group) => {
                let ke = find!(payloads, Payload::Ke)
                    .filter(|ke| ke.group == group.transform_id())
                    .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
                let (secret, public) = self
                    .rng
                    .then_park(|rng| group.generate(self.config.crypto, rng));
                let g_ir = secret
                    .shared(&ke.data)
                    .map_err(|_| NotifyType::INVALID_SYNTAX)?;
                Some((group, public, g_ir))
            }
            None => None,
        };
        let spi_in = self.esp_spis.allocate(&self.children);
        let secrets = ChildSecrets {
            initiator: false,
            g_ir: dh.as_ref().map(|(_, _, g)| g.as_slice()),
            ni,
            nr: &nr,
        };
        let id = ChildSaId { spi_in, spi_out };
        let keys = self.child_keys(
            &secrets,
            id,
            old.ts_local.clone(),
            old.ts_remote.clone(),
            old.inner_address,
        );
        let mut inner = vec![
            Payload::Sa(chosen.answer(ProtocolId::ESP, spi_in.to_be_bytes().to_vec())),
            Payload::Nonce(nr),
        ];
        if let Some((group, public, _)) = dh {
            inner.push(Payload::Ke(KePayload {
                group: group.transform_id(),
                data: public,
            }));
        }
        inner.push(Payload::TsI(TsPayload {
            selectors: old.ts_remote.clone(),
        }));
        inner.push(Payload::TsR(TsPayload {
            selectors: old.ts_local.clone(),
        }));
        if let Some(child) = self.children.get_mut(&old_spi_in) {
            child.state = ChildState::Rekeyed;
        }
        self.install_child(now, keys.clone());
        self.events.push_back(IkeEvent::ChildSaRekeyed {
            old: old.id(),
            new: keys,
        });
        Ok(inner)
    }
}
