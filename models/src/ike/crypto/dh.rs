//! Diffie-Hellman groups: Curve25519 (group 31, RFC 8031) and ECP-256 (group 19,
//! RFC 5903). protocol.md 1.6 has the KE encodings.
//!
//! Secrets are built from bytes the caller draws from its keyed [`SimRng`], never from
//! the OS (style pitfall 1), so a run's key exchanges are reproducible. Peer values are
//! validated: a wrong length, a point off the curve or an all-zero X25519 result is an
//! error (RFC 8031 §2.1 says the all-zero check MUST be done).
//!
//! With [`CryptoMode::StandIn`] the values have the same lengths but come from
//! [`StandInHash`] instead of curve arithmetic (see [`crate::CryptoMode`]); only their
//! lengths are checked.

use std::fmt;

use p256::elliptic_curve::sec1::ToSec1Point;
use sim::SimRng;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::crypto_mode::{CryptoMode, StandInHash};
use crate::ike::wire::TransformId;

/// Length of an X25519 public value and shared secret (RFC 8031 §3.1).
const X25519_LEN: usize = 32;
/// Length of an ECP-256 field element; KE data is x‖y, twice this (RFC 5903 §7).
const P256_FIELD_LEN: usize = 32;
/// Length of the shared secret of both groups (RFC 8031 §3.1, RFC 5903 §9).
const SHARED_LEN: usize = 32;
/// SEC1 tag of an uncompressed point, which RFC 5903's x‖y encoding omits.
const SEC1_UNCOMPRESSED: u8 = 0x04;

/// The peer's KE data is not a usable public value (RFC 8031 §2.1, RFC 5903 §7): the
/// state machine drops or refuses the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid Diffie-Hellman public value")]
pub struct InvalidPublicValue;

/// A DH group this simulator implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// Curve25519 / X25519, group 31 (RFC 8031): the default (protocol.md 2.1).
    Curve25519,
    /// 256-bit random ECP group, P-256, group 19 (RFC 5903).
    Ecp256,
}

impl DhGroup {
    /// The transform ID used in SA proposals and KE payloads.
    pub const fn transform_id(self) -> TransformId {
        match self {
            Self::Curve25519 => TransformId::DH_CURVE25519,
            Self::Ecp256 => TransformId::DH_ECP_256,
        }
    }

    /// The group for a transform ID, if implemented; anything else is declined in
    /// negotiation (or answered with INVALID_KE_PAYLOAD naming a group we have).
    pub const fn from_transform_id(id: TransformId) -> Option<Self> {
        match id {
            TransformId::DH_CURVE25519 => Some(Self::Curve25519),
            TransformId::DH_ECP_256 => Some(Self::Ecp256),
            _ => None,
        }
    }

    /// Length of the KE data: 32 for X25519, 64 for ECP-256.
    pub const fn public_len(self) -> usize {
        match self {
            Self::Curve25519 => X25519_LEN,
            Self::Ecp256 => 2 * P256_FIELD_LEN,
        }
    }

    /// A fresh key pair from `rng`: the secret, and the public value for the KE payload.
    ///
    /// ECP-256 draws again in the (2^-32 likely) case that 32 random octets are not a
    /// valid scalar, so the result still depends only on the stream. The stand-in draws
    /// exactly the same octets (same test), so every later draw is the same in both modes.
    pub fn generate(self, mode: CryptoMode, rng: &mut SimRng) -> (DhSecret, Vec<u8>) {
        let mut bytes = [0; 32];
        let secret = loop {
            rng.fill_bytes(&mut bytes);
            if let Some(secret) = DhSecret::from_bytes(self, &bytes) {
                break secret;
            }
        };
        let secret = match mode {
            CryptoMode::Real => secret,
            CryptoMode::StandIn => DhSecret::stand_in(self, &bytes),
        };
        let public = secret.public_value();
        (secret, public)
    }
}

/// The private half of a DH exchange.
#[derive(Clone)]
pub struct DhSecret(Inner);

#[derive(Clone)]
enum Inner {
    X25519(StaticSecret),
    Ecp256(p256::SecretKey),
    /// [`CryptoMode::StandIn`]: only the public value is needed.
    StandIn {
        group: DhGroup,
        public: Vec<u8>,
    },
}

impl DhSecret {
    /// A secret from its 32-octet encoding: any octets for X25519 (clamped when used,
    /// RFC 7748 §5); a big-endian scalar in `1..n` for ECP-256, else `None`. For
    /// known-answer tests and for [`DhGroup::generate`].
    pub fn from_bytes(group: DhGroup, bytes: &[u8; 32]) -> Option<Self> {
        Some(Self(match group {
            DhGroup::Curve25519 => Inner::X25519(StaticSecret::from(*bytes)),
            DhGroup::Ecp256 => Inner::Ecp256(p256::SecretKey::from_slice(bytes).ok()?),
        }))
    }

    /// A stand-in secret from the same 32 octets: its public value is their
    /// [`StandInHash`], of the group's length.
    fn stand_in(group: DhGroup, bytes: &[u8; 32]) -> Self {
        let mut h = StandInHash::new(b"ikesim stand-in DH public");
        h.write(&group.transform_id().0.to_be_bytes());
        h.write(bytes);
        let mut public = vec![0; group.public_len()];
        h.fill(&mut public);
        Self(Inner::StandIn { group, public })
    }

    /// The group of this secret.
    pub const fn group(&self) -> DhGroup {
        match self.0 {
            Inner::X25519(_) => DhGroup::Curve25519,
            Inner::Ecp256(_) => DhGroup::Ecp256,
            Inner::StandIn { group, .. } => group,
        }
    }

    /// Whether this is a real secret or a stand-in.
    pub const fn mode(&self) -> CryptoMode {
        match self.0 {
            Inner::X25519(_) | Inner::Ecp256(_) => CryptoMode::Real,
            Inner::StandIn { .. } => CryptoMode::StandIn,
        }
    }

    /// The public value as KE data: the X25519 u-coordinate, or x‖y for ECP-256.
    pub fn public_value(&self) -> Vec<u8> {
        match &self.0 {
            Inner::StandIn { public, .. } => public.clone(),
            Inner::X25519(secret) => PublicKey::from(secret).as_bytes().to_vec(),
            Inner::Ecp256(secret) => {
                let point = secret.public_key().to_sec1_point(false);
                point.as_bytes()[1..].to_vec()
            }
        }
    }

    /// The shared secret g^ir with the peer's KE data: 32 octets for both groups (for
    /// ECP-256 only the x coordinate, RFC 5903 §9). The stand-in's is a hash of both
    /// public values, the smaller first, so both sides agree ([`CryptoMode::StandIn`]).
    pub fn shared(&self, peer_public: &[u8]) -> Result<Vec<u8>, InvalidPublicValue> {
        match &self.0 {
            Inner::StandIn { group, public } => {
                if peer_public.len() != group.public_len() {
                    return Err(InvalidPublicValue);
                }
                let (low, high) = if public.as_slice() <= peer_public {
                    (public.as_slice(), peer_public)
                } else {
                    (peer_public, public.as_slice())
                };
                let mut h = StandInHash::new(b"ikesim stand-in DH shared");
                h.write(low);
                h.write(high);
                let mut shared = vec![0; SHARED_LEN];
                h.fill(&mut shared);
                Ok(shared)
            }
            Inner::X25519(secret) => {
                let peer =
                    <[u8; X25519_LEN]>::try_from(peer_public).map_err(|_| InvalidPublicValue)?;
                let shared = secret.diffie_hellman(&PublicKey::from(peer));
                if !shared.was_contributory() {
                    return Err(InvalidPublicValue);
                }
                Ok(shared.as_bytes().to_vec())
            }
            Inner::Ecp256(secret) => {
                if peer_public.len() != 2 * P256_FIELD_LEN {
                    return Err(InvalidPublicValue);
                }
                let mut sec1 = Vec::with_capacity(1 + peer_public.len());
                sec1.push(SEC1_UNCOMPRESSED);
                sec1.extend_from_slice(peer_public);
                let peer =
                    p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| InvalidPublicValue)?;
                Ok(secret.diffie_hellman(&peer).raw_secret_bytes().to_vec())
            }
        }
    }
}

impl fmt::Debug for DhSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhSecret")
            .field("group", &self.group())
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUPS: [DhGroup; 2] = [DhGroup::Curve25519, DhGroup::Ecp256];
    const MODES: [CryptoMode; 2] = [CryptoMode::Real, CryptoMode::StandIn];

    #[test]
    fn both_sides_agree() {
        for mode in MODES {
            let mut rng = SimRng::from_seed_u64(1);
            for group in GROUPS {
                let (a, a_pub) = group.generate(mode, &mut rng);
                let (b, b_pub) = group.generate(mode, &mut rng);
                assert_eq!(a_pub.len(), group.public_len());
                assert_eq!(a.public_value(), a_pub);
                assert_eq!(a.shared(&b_pub).unwrap(), b.shared(&a_pub).unwrap());
                assert_eq!(a.shared(&b_pub).unwrap().len(), 32);
                assert_eq!((a.group(), a.mode()), (group, mode));
                assert_eq!(
                    DhGroup::from_transform_id(group.transform_id()),
                    Some(group)
                );
            }
        }
    }

    /// The stand-in has the real sizes, draws exactly what the real groups draw, and gives
    /// each pair of peers its own shared secret.
    #[test]
    fn stand_in_sizes_draws_and_distinct_secrets() {
        for group in GROUPS {
            let (mut real_rng, mut stand_in_rng) =
                (SimRng::from_seed_u64(3), SimRng::from_seed_u64(3));
            let (real, real_pub) = group.generate(CryptoMode::Real, &mut real_rng);
            let (a, a_pub) = group.generate(CryptoMode::StandIn, &mut stand_in_rng);
            assert_eq!(real_rng.next_u64(), stand_in_rng.next_u64());
            assert_eq!(a_pub.len(), real_pub.len());
            let (b, b_pub) = group.generate(CryptoMode::StandIn, &mut stand_in_rng);
            let (c, c_pub) = group.generate(CryptoMode::StandIn, &mut stand_in_rng);
            assert_ne!(a_pub, b_pub);
            assert_ne!(a.shared(&b_pub).unwrap(), a.shared(&c_pub).unwrap());
            assert_eq!(b.shared(&c_pub).unwrap(), c.shared(&b_pub).unwrap());
            assert_eq!(
                real.shared(&real_pub).unwrap().len(),
                a.shared(&b_pub).unwrap().len()
            );
            // Only the length is checked.
            assert_eq!(a.shared(&a_pub[1..]), Err(InvalidPublicValue));
            assert!(a.shared(&vec![0; group.public_len()]).is_ok());
        }
    }

    #[test]
    fn bad_public_values_are_rejected() {
        let mut rng = SimRng::from_seed_u64(2);
        let (x, _) = DhGroup::Curve25519.generate(CryptoMode::Real, &mut rng);
        assert_eq!(x.shared(&[0; 31]), Err(InvalidPublicValue));
        // The all-zero u-coordinate is a low-order point: the result is all zero.
        assert_eq!(x.shared(&[0; 32]), Err(InvalidPublicValue));
        let (p, p_pub) = DhGroup::Ecp256.generate(CryptoMode::Real, &mut rng);
        assert_eq!(p.shared(&p_pub[..63]), Err(InvalidPublicValue));
        let mut off_curve = p_pub;
        off_curve[63] ^= 1;
        assert_eq!(p.shared(&off_curve), Err(InvalidPublicValue));
        assert!(DhSecret::from_bytes(DhGroup::Ecp256, &[0; 32]).is_none());
        assert!(DhSecret::from_bytes(DhGroup::Ecp256, &[0xff; 32]).is_none());
    }
}
