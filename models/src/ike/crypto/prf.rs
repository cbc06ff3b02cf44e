//! The PRF and prf+ (RFC 7296 §2.13; protocol.md 2.2).
//!
//! prf+ stretches one PRF into a key stream: `T1 = prf(K, S | 0x01)`,
//! `Tn = prf(K, Tn-1 | S | n)`, with a one-octet counter, so at most 255 blocks.
//! Inputs are passed as slices of parts, so callers never concatenate secrets into
//! temporary buffers just to hash them.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::ike::wire::TransformId;

/// A negotiated pseudorandom function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF_HMAC_SHA2_256 (RFC 4868): 32-octet output and preferred key length.
    HmacSha256,
}

impl Prf {
    /// The transform ID used in SA proposals (and in the PUZZLE notify, RFC 8019 §8.1).
    pub const fn transform_id(self) -> TransformId {
        match self {
            Self::HmacSha256 => TransformId::PRF_HMAC_SHA2_256,
        }
    }

    /// The PRF for a transform ID, if implemented.
    pub const fn from_transform_id(id: TransformId) -> Option<Self> {
        match id {
            TransformId::PRF_HMAC_SHA2_256 => Some(Self::HmacSha256),
            _ => None,
        }
    }

    /// Output length in octets.
    pub const fn output_len(self) -> usize {
        match self {
            Self::HmacSha256 => 32,
        }
    }

    /// Preferred key length: the size of SK_d, SK_pi and SK_pr (RFC 7296 §2.14), and the
    /// lower bound on half a nonce (RFC 7296 §2.10).
    pub const fn key_len(self) -> usize {
        self.output_len()
    }

    /// `prf(key, data[0] | data[1] | ...)`. HMAC takes keys of any length, as RFC 7296
    /// §2.14 needs for `Ni | Nr` and PSKs.
    pub fn compute(self, key: &[u8], data: &[&[u8]]) -> Vec<u8> {
        match self {
            Self::HmacSha256 => {
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                    .expect("HMAC accepts keys of any length");
                for part in data {
                    mac.update(part);
                }
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// The first `len` octets of `prf+(key, seed[0] | seed[1] | ...)` (RFC 7296 §2.13).
    ///
    /// # Panics
    ///
    /// If `len` exceeds 255 PRF outputs, the limit of the one-octet counter. Callers ask
    /// for fixed key sizes, so this is a local invariant.
    pub fn prf_plus(self, key: &[u8], seed: &[&[u8]], len: usize) -> Vec<u8> {
        assert!(
            len <= 255 * self.output_len(),
            "prf+ output limited to 255 blocks"
        );
        let mut out = Vec::with_capacity(len);
        let mut block: Vec<u8> = Vec::new();
        let mut counter = 1u8;
        while out.len() < len {
            let mut parts: Vec<&[u8]> = Vec::with_capacity(seed.len() + 2);
            parts.push(&block);
            parts.extend_from_slice(seed);
            let n = [counter];
            parts.push(&n);
            block = self.compute(key, &parts);
            let take = block.len().min(len - out.len());
            out.extend_from_slice(&block[..take]);
            counter = counter.wrapping_add(1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prf_plus_is_a_prefix_stream() {
        let prf = Prf::HmacSha256;
        let long = prf.prf_plus(b"key", &[b"se", b"ed"], 100);
        assert_eq!(long.len(), 100);
        assert_eq!(prf.prf_plus(b"key", &[b"seed"], 33), long[..33]);
        // T1 = prf(K, S | 0x01).
        assert_eq!(long[..32], prf.compute(b"key", &[b"seed", &[1]])[..]);
        assert_eq!(Prf::from_transform_id(prf.transform_id()), Some(prf));
    }
}
