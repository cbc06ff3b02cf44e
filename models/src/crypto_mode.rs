//! Real cryptography, or cost-free stand-ins of identical sizes for large sweeps
//! ([`CryptoMode`]), and the stand-ins' hash ([`StandInHash`]).

/// Whether DH and the AEAD are real or cost-free stand-ins of identical sizes.
///
/// [`CryptoMode::Real`] (the default) runs X25519/ECP-256 and AES-256-GCM, so captures
/// decrypt in Wireshark. [`CryptoMode::StandIn`] replaces the two costly parts, and
/// nothing else:
///
/// - Diffie-Hellman ([`crate::ike::crypto::DhGroup::generate`]): the secret is drawn from
///   the same stream with the same acceptance test, the public value is a fast
///   non-cryptographic hash of it (32 octets for X25519, 64 for ECP-256) and the shared
///   secret the hash of the two public values in sorted order (32 octets), so both sides
///   agree without curve arithmetic. Any public value of the right length is accepted
///   (no on-curve or all-zero check).
/// - AES-256-GCM-16 for IKE SK/SKF and ESP ([`crate::esp::GcmCipher`]): the "ciphertext"
///   is the plaintext (identity: the simplest choice), with the same 8-octet IV and a
///   16-octet ICV that is the hash of key, salt, IV, AAD and data. A wrong key or a
///   changed octet still fails the check and is dropped and counted as in real mode.
///
/// PRF/prf+ (HMAC-SHA2-256), AUTH, cookies, NAT-D and puzzles stay real. Every random draw
/// is the same in both modes, so SPIs, nonces, IVs and jitter are too: a run's timing,
/// sizes and metrics do not depend on the mode, only the payload octets do. A capture made
/// with stand-ins carries plaintext where ciphertext would be and cannot be decrypted.
/// Both peers must use the same mode (a mismatch fails every integrity check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CryptoMode {
    /// X25519/ECP-256 and AES-256-GCM, as on the wire of a real implementation.
    #[default]
    Real,
    /// Stand-ins of identical sizes: for sweeps where only timing and sizes matter.
    StandIn,
}

/// Multiplier of lane 0 (odd, so multiplying is a bijection of `u64`).
const K0: u64 = 0x9e37_79b9_7f4a_7c15;
/// Multiplier of lane 1 (odd).
const K1: u64 = 0xc2b2_ae3d_27d4_eb4f;

/// The stand-ins' hash: fast and keyed by whatever is written first, but not
/// cryptographic (anyone can compute it, so it stops no attacker, only mistakes).
///
/// Two 64-bit lanes absorb every 8-octet word `w` as `s = rotl((s ^ w) · K, r)`, a
/// bijection of `s` for a given `w` and of `w` for a given `s`; each written part is
/// preceded by its length. So a change confined to one word of the input always changes
/// the 16-octet result, and any other change does with overwhelming likelihood.
#[derive(Debug, Clone)]
pub(crate) struct StandInHash {
    lanes: [u64; 2],
}

impl StandInHash {
    /// A hash whose first input is `domain`, which separates the stand-ins' uses.
    pub(crate) fn new(domain: &[u8]) -> Self {
        let mut h = Self { lanes: [K1, K0] };
        h.write(domain);
        h
    }

    fn absorb(&mut self, word: u64) {
        self.lanes[0] = (self.lanes[0] ^ word).wrapping_mul(K0).rotate_left(31);
        self.lanes[1] = (self.lanes[1] ^ word).wrapping_mul(K1).rotate_left(27);
    }

    /// Adds the length of `bytes`, then `bytes` (the last word zero-padded).
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        self.absorb(bytes.len() as u64);
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.absorb(u64::from_le_bytes(word.try_into().expect("8 octets")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.absorb(u64::from_le_bytes(last));
        }
    }

    /// The 16-octet result: each lane through MurmurHash3's (bijective) finaliser.
    pub(crate) fn finish(&self) -> [u8; 16] {
        let fmix = |mut x: u64| {
            x ^= x >> 33;
            x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
            x ^= x >> 33;
            x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
            x ^ (x >> 33)
        };
        let mut out = [0; 16];
        out[..8].copy_from_slice(&fmix(self.lanes[0]).to_le_bytes());
        out[8..].copy_from_slice(&fmix(self.lanes[1]).to_le_bytes());
        out
    }

    /// Fills `out` of any length: block `i` of 16 octets is the hash with `i` written last.
    pub(crate) fn fill(&self, out: &mut [u8]) {
        for (i, block) in (0u64..).zip(out.chunks_mut(16)) {
            let mut h = self.clone();
            h.write(&i.to_le_bytes());
            block.copy_from_slice(&h.finish()[..block.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(parts: &[&[u8]]) -> [u8; 16] {
        let mut h = StandInHash::new(b"test");
        for p in parts {
            h.write(p);
        }
        h.finish()
    }

    #[test]
    fn every_single_octet_change_is_seen() {
        let data: Vec<u8> = (0..37).collect();
        let base = hash(&[&data]);
        for i in 0..data.len() {
            for bit in 0..8 {
                let mut changed = data.clone();
                changed[i] ^= 1 << bit;
                assert_ne!(hash(&[&changed]), base, "octet {i} bit {bit}");
            }
        }
        // Moving a boundary between parts, or appending a zero, changes it too.
        assert_ne!(hash(&[&data[..8], &data[8..]]), base);
        let mut longer = data.clone();
        longer.push(0);
        assert_ne!(hash(&[&longer]), base);
    }

    #[test]
    fn fill_is_a_prefix_of_longer_fills() {
        let h = StandInHash::new(b"fill");
        let (mut short, mut long) = ([0; 20], [0; 64]);
        h.fill(&mut short);
        h.fill(&mut long);
        assert_eq!(short, long[..20]);
        assert_ne!(long[..16], long[16..32]);
    }
}
