//! IKE_AUTH with a pre-shared key and the first Child SA (RFC 7296 §1.2, §2.15, §2.19;
//! protocol.md 1.4, 2.5).
//!
//! Request: `SK{IDi, N(INITIAL_CONTACT), AUTH, [CP(CFG_REQUEST)], SA, TSi, TSr}`; response:
//! `SK{IDr, AUTH, [CP(CFG_REPLY)], SA, TSi, TSr}`, or `SK{IDr, AUTH, N(error)}` when only
//! the Child SA fails (the IKE SA still comes up), or `SK{N(AUTHENTICATION_FAILED)}`.
//! Establishment requires an [`AuthVerified`], which only the AUTH check here can make
//! (style rule 7).

use std::net::Ipv4Addr;

use sim::SimTime;

use super::child::ChildSecrets;
use super::core::Request;
use super::ike_sa::{Established, IkeSa, Path, Sel, State};
use super::info::error_notify;
use super::proposal::{PRF, check_answer, choose, esp_offer, host, narrow};
use super::sync;
use super::{ChildSaId, ChildSaKeys, FailReason, IkeEvent, InnerAddress};
use crate::ike::crypto::psk_auth;
use crate::ike::wire::{
    AuthMethod, AuthPayload, CfgAttribute, CfgAttributeType, CfgType, CpPayload, ExchangeType,
    IdPayload, Message, NotifyPayload, NotifyType, Payload, ProtocolId, TrafficSelector, TsPayload,
};

/// Initiator state while IKE_AUTH is outstanding.
#[derive(Debug, Clone)]
pub(crate) struct AuthSent {
    /// RealMessage2: the IKE_SA_INIT response, for the responder's AUTH.
    response: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    /// The inbound SPI offered for the first Child SA.
    child_spi: u32,
}

/// Proof that the peer's AUTH payload verified; only [`verify`] makes one, or
/// [`AuthVerified::replicated`] for an SA whose verified state an HA cluster copied.
#[derive(Debug)]
pub(crate) struct AuthVerified(());

impl AuthVerified {
    /// The proof travels with the replicated state of an SA that had it (RFC 6311: the
    /// cluster members share the IKE SA, not a new authentication).
    pub(crate) const fn replicated() -> Self {
        Self(())
    }
}

/// Checks the peer's identity and AUTH (RFC 7296 §2.15).
fn verify(
    expected_id: Option<&IdPayload>,
    id: &IdPayload,
    auth: &AuthPayload,
    expected: &[u8],
) -> Option<AuthVerified> {
    let id_ok = expected_id.is_none_or(|e| e == id);
    (id_ok && auth.method == AuthMethod::SHARED_KEY_MIC && auth.data == expected)
        .then_some(AuthVerified(()))
}

/// The first payload of a kind.
macro_rules! find {
    ($payloads:expr, $variant:path) => {
        $payloads.iter().find_map(|p| match p {
            $variant(x) => Some(x),
            _ => None,
        })
    };
}
pub(super) use find;

/// The selectors of TSi and TSr.
fn selectors(payloads: &[Payload]) -> Option<(&[TrafficSelector], &[TrafficSelector])> {
    let tsi = find!(payloads, Payload::TsI)?;
    let tsr = find!(payloads, Payload::TsR)?;
    Some((&tsi.selectors, &tsr.selectors))
}

/// Whether the request asks for an inner IPv4 address (RFC 7296 §3.15).
fn wants_address(payloads: &[Payload]) -> bool {
    find!(payloads, Payload::Cp).is_some_and(|cp| {
        cp.cfg_type == CfgType::REQUEST
            && cp
                .attributes
                .iter()
                .any(|a| a.ty == CfgAttributeType::INTERNAL_IP4_ADDRESS)
    })
}

/// The address in a CFG_REPLY.
fn assigned_address(payloads: &[Payload]) -> Option<Ipv4Addr> {
    let cp = find!(payloads, Payload::Cp).filter(|cp| cp.cfg_type == CfgType::REPLY)?;
    cp.attributes
        .iter()
        .find(|a| a.ty == CfgAttributeType::INTERNAL_IP4_ADDRESS)
        .and_then(CfgAttribute::as_ipv4)
}

impl IkeSa {
    /// Reserves an inner address for a half-open responder SA (from the endpoint's pool).
    pub(super) fn reserve_inner_address(&mut self, addr: Ipv4Addr) {
        if let State::InitReplied(init) = &mut self.state {
            init.assigned = Some(addr);
        }
    }

    /// The inner address reserved or in use for the original initiator.
    pub fn inner_address(&self) -> Option<Ipv4Addr> {
        match &self.state {
            State::InitReplied(init) => init.assigned,
            State::Established(est) => est.inner_address,
            _ => None,
        }
    }

    /// Our AUTH value over `real_message` and the peer's nonce (RFC 7296 §2.15).
    fn our_auth(&self, real_message: &[u8], peer_nonce: &[u8]) -> Vec<u8> {
        let keys = &self.core.keys.as_ref().expect("keys after IKE_SA_INIT").sk;
        let sk_p = if self.original_initiator {
            &keys.sk_pi
        } else {
            &keys.sk_pr
        };
        let id = self.config.local_id.body();
        psk_auth(PRF, &self.config.psk, real_message, peer_nonce, sk_p, &id)
    }

    /// The AUTH value the peer must have sent.
    fn peer_auth(&self, real_message: &[u8], our_nonce: &[u8], id: &IdPayload) -> Vec<u8> {
        let keys = &self.core.keys.as_ref().expect("keys after IKE_SA_INIT").sk;
        let sk_p = if self.original_initiator {
            &keys.sk_pr
        } else {
            &keys.sk_pi
        };
        psk_auth(
            PRF,
            &self.config.psk,
            real_message,
            our_nonce,
            sk_p,
            &id.body(),
        )
    }

    /// Initiator: sends IKE_AUTH after IKE_SA_INIT.
    pub(super) fn start_auth(
        &mut self,
        now: SimTime,
        request: Vec<u8>,
        response: Vec<u8>,
        ni: Vec<u8>,
        nr: Vec<u8>,
    ) {
        let auth = self.our_auth(&request, &nr);
        let child_spi = self.esp_spis.allocate(&self.children);
        let mut inner = vec![
            Payload::IdI(self.config.local_id.clone()),
            Payload::Notify(NotifyPayload::new(NotifyType::INITIAL_CONTACT, Vec::new())),
            Payload::Auth(AuthPayload {
                method: AuthMethod::SHARED_KEY_MIC,
                data: auth,
            }),
        ];
        inner.extend(sync::announce(self.config.ha_sync));
        self.mobike_offer(&mut inner);
        let tsi = match self.config.inner_address {
            InnerAddress::None => self.config.local_ts.clone(),
            InnerAddress::Request => {
                inner.push(Payload::Cp(CpPayload {
                    cfg_type: CfgType::REQUEST,
                    attributes: vec![CfgAttribute {
                        ty: CfgAttributeType::INTERNAL_IP4_ADDRESS,
                        value: Vec::new(),
                    }],
                }));
                vec![TrafficSelector::ipv4_any()]
            }
            InnerAddress::Fixed(addr) => vec![host(addr)],
        };
        inner.push(Payload::Sa(esp_offer(child_spi, None)));
        inner.push(Payload::TsI(TsPayload { selectors: tsi }));
        inner.push(Payload::TsR(TsPayload {
            selectors: self.config.remote_ts.clone(),
        }));
        self.state = State::AuthSent(Box::new(AuthSent {
            response,
            ni,
            nr,
            child_spi,
        }));
        self.send_request(
            now,
            Sel::Current,
            ExchangeType::IKE_AUTH,
            &inner,
            Request::Auth,
        );
    }

    /// Initiator: the IKE_AUTH response.
    pub(super) fn on_auth_response(&mut self, now: SimTime, payloads: &[Payload]) {
        let sent = match &self.state {
            State::AuthSent(sent) => (**sent).clone(),
            _ => return,
        };
        let peer = find!(payloads, Payload::IdR).zip(find!(payloads, Payload::Auth));
        let Some((id, auth)) = peer else {
            let reason = match error_notify(payloads) {
                Some(NotifyType::AUTHENTICATION_FAILED) => FailReason::AuthenticationFailed,
                Some(ty) => FailReason::PeerError(ty),
                None => FailReason::InvalidSyntax,
            };
            self.fail(reason);
            return;
        };
        let expected = self.peer_auth(&sent.response, &sent.ni, id);
        let Some(token) = verify(self.config.remote_id.as_ref(), id, auth, &expected) else {
            self.fail(FailReason::AuthenticationFailed);
            return;
        };
        self.ha = sync::announced(payloads).and(self.config.ha_sync);
        self.mobike_note_answer(payloads);
        let inner = match self.config.inner_address {
            InnerAddress::Fixed(addr) => Some(addr),
            InnerAddress::Request => assigned_address(payloads),
            InnerAddress::None => None,
        };
        self.establish(now, token, inner);
        if let Some(ty) = error_notify(payloads) {
            self.events.push_back(IkeEvent::ChildSaFailed(ty));
            return;
        }
        let answer = find!(payloads, Payload::Sa)
            .and_then(|sa| check_answer(sa, ProtocolId::ESP, None))
            .and_then(|chosen| chosen.esp_spi());
        let (Some(spi_out), Some((tsi, tsr))) = (answer, selectors(payloads)) else {
            self.events
                .push_back(IkeEvent::ChildSaFailed(NotifyType::NO_PROPOSAL_CHOSEN));
            return;
        };
        let secrets = ChildSecrets {
            initiator: true,
            g_ir: None,
            ni: &sent.ni,
            nr: &sent.nr,
        };
        let id = ChildSaId {
            spi_in: sent.child_spi,
            spi_out,
        };
        let keys = self.child_keys(&secrets, id, tsi.to_vec(), tsr.to_vec(), inner);
        self.install_child(now, keys.clone());
        self.events.push_back(IkeEvent::ChildSaUp(keys));
    }

    /// Responder: an IKE_AUTH request.
    pub(super) fn respond_auth(
        &mut self,
        now: SimTime,
        path: Path,
        msg: &Message,
        payloads: &[Payload],
    ) {
        let State::InitReplied(init) = &self.state else {
            self.stats.dropped_unexpected += 1;
            return;
        };
        let (request, response, ni, nr) = (
            init.request.clone(),
            init.response.clone(),
            init.ni.clone(),
            init.nr.clone(),
        );
        let assigned = init.assigned;
        let Some((id, auth)) = find!(payloads, Payload::IdI).zip(find!(payloads, Payload::Auth))
        else {
            self.respond_notify(
                Sel::Current,
                path,
                msg,
                NotifyType::INVALID_SYNTAX,
                Vec::new(),
            );
            self.fail(FailReason::InvalidSyntax);
            return;
        };
        let expected = self.peer_auth(&request, &nr, id);
        let Some(token) = verify(self.config.remote_id.as_ref(), id, auth, &expected) else {
            let failed = NotifyType::AUTHENTICATION_FAILED;
            self.respond_notify(Sel::Current, path, msg, failed, Vec::new());
            self.fail(FailReason::AuthenticationFailed);
            return;
        };
        let mut inner = vec![
            Payload::IdR(self.config.local_id.clone()),
            Payload::Auth(AuthPayload {
                method: AuthMethod::SHARED_KEY_MIC,
                data: self.our_auth(&response, &ni),
            }),
        ];
        // RFC 6311 §6: never claim a capability the initiator did not.
        self.ha = sync::announced(payloads).and(self.config.ha_sync);
        inner.extend(sync::announce(self.ha));
        self.mobike_answer(payloads, &mut inner);
        let wants = wants_address(payloads);
        let assigned = assigned.filter(|_| wants);
        let child = self.accept_first_child(payloads, assigned, wants, &ni, &nr);
        let inner_address = child.as_ref().ok().and_then(|(_, keys)| keys.inner_address);
        match &child {
            Ok((answer, _)) => inner.extend(answer.iter().cloned()),
            Err(ty) => inner.push(Payload::Notify(NotifyPayload::new(*ty, Vec::new()))),
        }
        self.respond(
            Sel::Current,
            path,
            ExchangeType::IKE_AUTH,
            msg.message_id,
            &inner,
        );
        self.establish(now, token, inner_address);
        match child {
            Ok((_, keys)) => {
                self.install_child(now, keys.clone());
                self.events.push_back(IkeEvent::ChildSaUp(keys));
            }
            Err(ty) => self.events.push_back(IkeEvent::ChildSaFailed(ty)),
        }
    }

    /// Responder: the Child SA of IKE_AUTH, or the notify refusing it.
    fn accept_first_child(
        &mut self,
        payloads: &[Payload],
        assigned: Option<Ipv4Addr>,
        wants_address: bool,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<(Vec<Payload>, ChildSaKeys), NotifyType> {
        let chosen = find!(payloads, Payload::Sa)
            .and_then(|sa| choose(sa, ProtocolId::ESP, &[], None))
            .filter(|c| c.group.is_none())
            .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let spi_out = chosen.esp_spi().ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let (tsi, tsr) = selectors(payloads).ok_or(NotifyType::TS_UNACCEPTABLE)?;
        if wants_address && assigned.is_none() {
            return Err(NotifyType::INTERNAL_ADDRESS_FAILURE);
        }
        let mut tsi = narrow(tsi, &self.config.remote_ts);
        if let Some(addr) = assigned {
            tsi = narrow(&tsi, &[host(addr)]);
        }
        let tsr = narrow(tsr, &self.config.local_ts);
        if tsi.is_empty() || tsr.is_empty() {
            return Err(NotifyType::TS_UNACCEPTABLE);
        }
        let spi_in = self.esp_spis.allocate(&self.children);
        let secrets = ChildSecrets {
            initiator: false,
            g_ir: None,
            ni,
            nr,
        };
        let id = ChildSaId { spi_in, spi_out };
        let keys = self.child_keys(&secrets, id, tsr.clone(), tsi.clone(), assigned);
        let mut answer = Vec::new();
        if let Some(addr) = assigned {
            answer.push(Payload::Cp(CpPayload {
                cfg_type: CfgType::REPLY,
                attributes: vec![CfgAttribute::ipv4(
                    CfgAttributeType::INTERNAL_IP4_ADDRESS,
                    addr,
                )],
            }));
        }
        answer.push(Payload::Sa(
            chosen.answer(ProtocolId::ESP, spi_in.to_be_bytes().to_vec()),
        ));
        answer.push(Payload::TsI(TsPayload { selectors: tsi }));
        answer.push(Payload::TsR(TsPayload { selectors: tsr }));
        Ok((answer, keys))
    }

    /// Both sides: IKE_AUTH completed.
    fn establish(&mut self, now: SimTime, token: AuthVerified, inner_address: Option<Ipv4Addr>) {
        let lifetimes = self.config.lifetimes;
        let rekey_at = self
            .rng
            .then_park(|rng| lifetimes.soft_deadline(now, lifetimes.ike_soft, rng));
        self.state = State::Established(Established {
            _auth: token,
            rekey_at,
            expire_at: now.saturating_add(lifetimes.ike_hard),
            inner_address,
        });
        let elapsed = now.saturating_duration_since(self.started);
        self.stats.established_at = Some(now);
        self.stats.time_to_establish = Some(elapsed);
        self.events.push_back(IkeEvent::Established {
            initiator: self.original_initiator,
            nat: self.nat,
            elapsed,
        });
    }
}
