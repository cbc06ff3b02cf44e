//! SA payloads and traffic selectors: what we offer, what we accept (RFC 7296 §2.7, §2.9,
//! §3.3).
//!
//! The suite is fixed to protocol.md 2.1: ENCR_AES_GCM_16 with 256-bit keys and
//! PRF_HMAC_SHA2_256 for IKE, ENCR_AES_GCM_16/256 without ESN for ESP. Only the DH group
//! is negotiated among several. A responder picks the first acceptable proposal and
//! answers with exactly one transform of each type (RFC 7296 §3.3.6).

use std::net::Ipv4Addr;

use crate::ike::crypto::{DhGroup, Prf};
use crate::ike::wire::{
    AddressRange, Proposal, ProtocolId, SaPayload, TrafficSelector, Transform, TransformId,
    TransformType,
};

/// AES key length in bits of the only cipher we speak.
const KEY_BITS: u16 = 256;
/// The PRF of the suite.
pub(crate) const PRF: Prf = Prf::HmacSha256;

fn encr() -> Transform {
    Transform::new(TransformType::ENCR, TransformId::ENCR_AES_GCM_16).with_key_length(KEY_BITS)
}

fn dh(group: DhGroup) -> Transform {
    Transform::new(TransformType::DH, group.transform_id())
}

/// The IKE proposal: in IKE_SA_INIT with no SPI and every group we accept; in an IKE
/// rekey with our new SPI and the SA's group (RFC 7296 §1.3.2).
pub(crate) fn ike_offer(groups: &[DhGroup], spi: Option<u64>) -> SaPayload {
    let mut transforms = vec![
        encr(),
        Transform::new(TransformType::PRF, PRF.transform_id()),
    ];
    transforms.extend(groups.iter().map(|&g| dh(g)));
    single(ProtocolId::IKE, 1, spi_bytes(spi), transforms)
}

/// The ESP proposal with our inbound SPI and, for PFS, a group (RFC 7296 §1.3.1).
pub(crate) fn esp_offer(spi: u32, pfs: Option<DhGroup>) -> SaPayload {
    let mut transforms = vec![encr()];
    transforms.extend(pfs.map(dh));
    transforms.push(Transform::new(TransformType::ESN, TransformId::ESN_NONE));
    single(ProtocolId::ESP, 1, spi.to_be_bytes().to_vec(), transforms)
}

fn spi_bytes(spi: Option<u64>) -> Vec<u8> {
    spi.map(|s| s.to_be_bytes().to_vec()).unwrap_or_default()
}

fn single(protocol: ProtocolId, number: u8, spi: Vec<u8>, transforms: Vec<Transform>) -> SaPayload {
    SaPayload {
        proposals: vec![Proposal {
            number,
            protocol,
            spi,
            transforms,
        }],
    }
}

/// A proposal the responder accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chosen {
    /// The proposal number to echo.
    pub(crate) number: u8,
    /// The peer's SPI from the proposal (empty in IKE_SA_INIT).
    pub(crate) spi: Vec<u8>,
    /// The DH group, if the proposal has one.
    pub(crate) group: Option<DhGroup>,
}

impl Chosen {
    /// The peer's SPI as an ESP SPI.
    pub(crate) fn esp_spi(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.spi.as_slice())
            .ok()
            .map(u32::from_be_bytes)
            .filter(|&spi| spi > 255)
    }

    /// The peer's SPI as an IKE SPI.
    pub(crate) fn ike_spi(&self) -> Option<u64> {
        <[u8; 8]>::try_from(self.spi.as_slice())
            .ok()
            .map(u64::from_be_bytes)
            .filter(|&spi| spi != 0)
    }

    /// The answering SA payload with our `spi` (RFC 7296 §3.3.6).
    pub(crate) fn answer(&self, protocol: ProtocolId, spi: Vec<u8>) -> SaPayload {
        let mut transforms = vec![encr()];
        if protocol == ProtocolId::IKE {
            transforms.push(Transform::new(TransformType::PRF, PRF.transform_id()));
        }
        transforms.extend(self.group.map(dh));
        if protocol == ProtocolId::ESP {
            transforms.push(Transform::new(TransformType::ESN, TransformId::ESN_NONE));
        }
        single(protocol, self.number, spi, transforms)
    }
}

/// Picks the first proposal of `protocol` that we accept.
///
/// The group: `preferred` (the KE group) if the proposal offers it and we accept it,
/// else the proposal's first group we accept (for INVALID_KE_PAYLOAD). `need_dh` says
/// whether a group is mandatory (IKE) or optional (ESP: PFS).
pub(crate) fn choose(
    sa: &SaPayload,
    protocol: ProtocolId,
    acceptable: &[DhGroup],
    preferred: Option<DhGroup>,
) -> Option<Chosen> {
    sa.proposals
        .iter()
        .filter(|p| p.protocol == protocol)
        .find_map(|p| choose_one(p, acceptable, preferred))
}

fn choose_one(p: &Proposal, acceptable: &[DhGroup], preferred: Option<DhGroup>) -> Option<Chosen> {
    let has = |ty, id| p.transforms_of(ty).any(|t| t.id == id);
    let encr_ok = p
        .transforms_of(TransformType::ENCR)
        .any(|t| t.id == TransformId::ENCR_AES_GCM_16 && t.key_length == Some(KEY_BITS));
    let prf_ok = p.protocol != ProtocolId::IKE || has(TransformType::PRF, PRF.transform_id());
    let esn_ok = p.protocol != ProtocolId::ESP
        || p.transforms_of(TransformType::ESN).next().is_none()
        || has(TransformType::ESN, TransformId::ESN_NONE);
    if !(encr_ok && prf_ok && esn_ok) {
        return None;
    }
    let offered: Vec<DhGroup> = p
        .transforms_of(TransformType::DH)
        .filter_map(|t| DhGroup::from_transform_id(t.id))
        .filter(|g| acceptable.contains(g))
        .collect();
    let any_dh = p
        .transforms_of(TransformType::DH)
        .any(|t| t.id != TransformId::DH_NONE);
    let group = match preferred.filter(|g| offered.contains(g)) {
        Some(g) => Some(g),
        None => offered.first().copied(),
    };
    if any_dh && group.is_none() {
        return None;
    }
    if p.protocol == ProtocolId::IKE && group.is_none() {
        return None;
    }
    Some(Chosen {
        number: p.number,
        spi: p.spi.clone(),
        group,
    })
}

/// Checks a responder's answer against what we offered: one proposal of `protocol`
/// with our suite and, if `group` is given, that group. Returns the peer's choice.
pub(crate) fn check_answer(
    sa: &SaPayload,
    protocol: ProtocolId,
    group: Option<DhGroup>,
) -> Option<Chosen> {
    let [p] = sa.proposals.as_slice() else {
        return None;
    };
    let acceptable: Vec<DhGroup> = group.into_iter().collect();
    let chosen = choose(sa, protocol, &acceptable, group)?;
    let dh_count = p.transforms_of(TransformType::DH).count();
    (chosen.group == group && dh_count == usize::from(group.is_some())).then_some(chosen)
}

/// The intersection of two IPv4 selectors, if not empty (RFC 7296 §2.9 narrowing).
fn intersect(a: &TrafficSelector, b: &TrafficSelector) -> Option<TrafficSelector> {
    let (
        AddressRange::V4 {
            start: a_start,
            end: a_end,
        },
        AddressRange::V4 {
            start: b_start,
            end: b_end,
        },
    ) = (a.addresses, b.addresses)
    else {
        return None;
    };
    let ip_protocol = match (a.ip_protocol.0, b.ip_protocol.0) {
        (0, _) => b.ip_protocol,
        (_, 0) => a.ip_protocol,
        (x, y) if x == y => a.ip_protocol,
        _ => return None,
    };
    let start = a_start.max(b_start);
    let end = a_end.min(b_end);
    let start_port = a.start_port.max(b.start_port);
    let end_port = a.end_port.min(b.end_port);
    (start <= end && start_port <= end_port).then_some(TrafficSelector {
        ip_protocol,
        start_port,
        end_port,
        addresses: AddressRange::V4 { start, end },
    })
}

/// Narrows `proposed` to what `allowed` permits: every non-empty pairwise intersection.
pub(crate) fn narrow(
    proposed: &[TrafficSelector],
    allowed: &[TrafficSelector],
) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for p in proposed {
        for a in allowed {
            if let Some(ts) = intersect(p, a).filter(|ts| !out.contains(ts)) {
                out.push(ts);
            }
        }
    }
    out
}

/// The selector of exactly one address.
pub(crate) const fn host(addr: Ipv4Addr) -> TrafficSelector {
    TrafficSelector::ipv4(addr, addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responder_prefers_the_ke_group_else_the_first_acceptable() {
        let offer = ike_offer(&[DhGroup::Ecp256, DhGroup::Curve25519], None);
        let only_x = [DhGroup::Curve25519];
        let chosen = choose(&offer, ProtocolId::IKE, &only_x, Some(DhGroup::Ecp256)).unwrap();
        assert_eq!(chosen.group, Some(DhGroup::Curve25519));
        let both = [DhGroup::Curve25519, DhGroup::Ecp256];
        let chosen = choose(&offer, ProtocolId::IKE, &both, Some(DhGroup::Ecp256)).unwrap();
        assert_eq!(chosen.group, Some(DhGroup::Ecp256));
        let answer = chosen.answer(ProtocolId::IKE, Vec::new());
        assert_eq!(
            check_answer(&answer, ProtocolId::IKE, Some(DhGroup::Ecp256)),
            Some(chosen)
        );
        assert_eq!(
            check_answer(&answer, ProtocolId::IKE, Some(DhGroup::Curve25519)),
            None
        );
        assert_eq!(choose(&offer, ProtocolId::ESP, &both, None), None);
    }

    #[test]
    fn esp_with_and_without_pfs() {
        let plain = esp_offer(0x1234_5678, None);
        let chosen = choose(&plain, ProtocolId::ESP, &[DhGroup::Curve25519], None).unwrap();
        assert_eq!(chosen.group, None);
        assert_eq!(chosen.esp_spi(), Some(0x1234_5678));
        let pfs = esp_offer(0x1234_5678, Some(DhGroup::Ecp256));
        assert_eq!(
            choose(&pfs, ProtocolId::ESP, &[DhGroup::Curve25519], None),
            None
        );
        let answer = choose(&pfs, ProtocolId::ESP, &[DhGroup::Ecp256], None)
            .unwrap()
            .answer(ProtocolId::ESP, vec![0, 0, 1, 0]);
        assert!(check_answer(&answer, ProtocolId::ESP, Some(DhGroup::Ecp256)).is_some());
        assert!(check_answer(&answer, ProtocolId::ESP, None).is_none());
    }

    #[test]
    fn narrowing() {
        let any = TrafficSelector::ipv4_any();
        let net = TrafficSelector::ipv4(Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 0, 0, 255));
        let addr = host(Ipv4Addr::new(10, 0, 0, 7));
        assert_eq!(narrow(&[any], &[net]), [net]);
        assert_eq!(narrow(&[net], &[addr]), [addr]);
        let other = host(Ipv4Addr::new(10, 0, 1, 7));
        assert!(narrow(&[net], &[other]).is_empty());
    }
}
