//! Key derivation for the IKE SA and Child SAs (RFC 7296 §2.14, §2.17, §2.18;
//! protocol.md 2.3, 2.6, 2.7).
//!
//! With ENCR_AES_GCM_16 there is no integrity transform, so SK_ai/SK_ar are empty
//! (RFC 5282 §7.1) and each SK_e is a 32-octet AES-256 key followed by a 4-octet salt:
//! 32 + 0 + 0 + 36 + 36 + 32 + 32 = 168 octets of prf+ output. Child SA KEYMAT is cut the
//! same way for ESP AES-GCM-256 (RFC 4106 §8.1), initiator-to-responder first. Both use
//! [`GcmKey`], the key-and-salt type that the ESP layer consumes.

use super::Prf;
use crate::esp::GcmKey;

/// Cuts one direction's AES-256-GCM key and salt from the front of `keymat`.
fn gcm_key(keymat: &[u8]) -> GcmKey {
    GcmKey::from_keymat(&keymat[..GcmKey::KEYMAT_LEN]).expect("exactly KEYMAT_LEN octets")
}

/// SKEYSEED of a new IKE SA: `prf(Ni | Nr, g^ir)` (RFC 7296 §2.14). The nonces are the
/// Nonce Data only, the DH secret is 32 octets for both of our groups.
pub fn skeyseed(prf: Prf, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(ni.len() + nr.len());
    key.extend_from_slice(ni);
    key.extend_from_slice(nr);
    prf.compute(&key, &[g_ir])
}

/// SKEYSEED of an IKE SA created by rekeying: `prf(SK_d (old), g^ir (new) | Ni | Nr)`
/// with the *old* SA's PRF (RFC 7296 §2.18). Ni and Nr are the CREATE_CHILD_SA nonces,
/// Ni from whoever initiated the rekey.
pub fn rekey_skeyseed(old_prf: Prf, old_sk_d: &[u8], g_ir: &[u8], ni: &[u8], nr: &[u8]) -> Vec<u8> {
    old_prf.compute(old_sk_d, &[g_ir, ni, nr])
}

/// The keys of an IKE SA with AES-256-GCM (RFC 7296 §2.14, RFC 5282 §7.1).
///
/// SK_ei protects what the original initiator sends (or the rekey initiator, after an IKE
/// rekey), SK_er the other direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaKeys {
    /// SK_d: seeds Child SA keys and the next IKE rekey.
    pub sk_d: Vec<u8>,
    /// SK_ei: initiator-to-responder SK protection.
    pub sk_ei: GcmKey,
    /// SK_er: responder-to-initiator SK protection.
    pub sk_er: GcmKey,
    /// SK_pi: the initiator's AUTH computation.
    pub sk_pi: Vec<u8>,
    /// SK_pr: the responder's AUTH computation.
    pub sk_pr: Vec<u8>,
}

impl IkeSaKeys {
    /// Octets of prf+ output taken: SK_d, SK_ei, SK_er, SK_pi, SK_pr (SK_a* are empty).
    pub const fn keymat_len(prf: Prf) -> usize {
        3 * prf.key_len() + 2 * GcmKey::KEYMAT_LEN
    }

    /// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
    /// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)` (RFC 7296 §2.14). SPIs in header order, the
    /// new SA's SPIs after a rekey (RFC 7296 §2.18).
    pub fn derive(prf: Prf, skeyseed: &[u8], ni: &[u8], nr: &[u8], spi_i: u64, spi_r: u64) -> Self {
        let keymat = prf.prf_plus(
            skeyseed,
            &[ni, nr, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()],
            Self::keymat_len(prf),
        );
        let (sk_d, rest) = keymat.split_at(prf.key_len());
        let (sk_ei, rest) = rest.split_at(GcmKey::KEYMAT_LEN);
        let (sk_er, rest) = rest.split_at(GcmKey::KEYMAT_LEN);
        let (sk_pi, sk_pr) = rest.split_at(prf.key_len());
        Self {
            sk_d: sk_d.to_vec(),
            sk_ei: gcm_key(sk_ei),
            sk_er: gcm_key(sk_er),
            sk_pi: sk_pi.to_vec(),
            sk_pr: sk_pr.to_vec(),
        }
    }

    /// The keys of a new IKE SA from IKE_SA_INIT: [`skeyseed`] then [`Self::derive`].
    pub fn initial(prf: Prf, g_ir: &[u8], ni: &[u8], nr: &[u8], spi_i: u64, spi_r: u64) -> Self {
        Self::derive(prf, &skeyseed(prf, ni, nr, g_ir), ni, nr, spi_i, spi_r)
    }
}

/// Keys of an ESP AES-256-GCM Child SA (RFC 7296 §2.17, RFC 4106 §8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaKeys {
    /// Protects ESP from the exchange initiator to the responder (taken first).
    pub initiator_to_responder: GcmKey,
    /// Protects ESP from the responder to the initiator.
    pub responder_to_initiator: GcmKey,
}

impl ChildSaKeys {
    /// `KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)` (RFC 7296 §2.17).
    ///
    /// For the Child SA of IKE_AUTH: no `g_ir`, and the IKE_SA_INIT nonces. For
    /// CREATE_CHILD_SA: that exchange's nonces, and its DH secret when PFS is used.
    /// "Initiator" is the initiator of that exchange.
    pub fn derive(prf: Prf, sk_d: &[u8], g_ir: Option<&[u8]>, ni: &[u8], nr: &[u8]) -> Self {
        let seed: Vec<&[u8]> = g_ir.into_iter().chain([ni, nr]).collect();
        let keymat = prf.prf_plus(sk_d, &seed, 2 * GcmKey::KEYMAT_LEN);
        Self {
            initiator_to_responder: gcm_key(&keymat),
            responder_to_initiator: gcm_key(&keymat[GcmKey::KEYMAT_LEN..]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_cut_back_to_back() {
        let prf = Prf::HmacSha256;
        let seed = b"skeyseed";
        let keys = IkeSaKeys::derive(prf, seed, b"ni", b"nr", 1, 2);
        let stream = prf.prf_plus(
            seed,
            &[b"ninr", &1u64.to_be_bytes(), &2u64.to_be_bytes()],
            168,
        );
        assert_eq!(IkeSaKeys::keymat_len(prf), 168);
        assert_eq!(keys.sk_d, stream[..32]);
        assert_eq!(keys.sk_ei.key()[..], stream[32..64]);
        assert_eq!(keys.sk_ei.salt(), stream[64..68]);
        assert_eq!(keys.sk_er.key()[..], stream[68..100]);
        assert_eq!(keys.sk_er.salt(), stream[100..104]);
        assert_eq!(keys.sk_pi, stream[104..136]);
        assert_eq!(keys.sk_pr, stream[136..168]);
    }

    #[test]
    fn pfs_changes_child_keys() {
        let prf = Prf::HmacSha256;
        let plain = ChildSaKeys::derive(prf, b"sk_d", None, b"ni", b"nr");
        let pfs = ChildSaKeys::derive(prf, b"sk_d", Some(b"gir"), b"ni", b"nr");
        assert_ne!(plain, pfs);
        assert_ne!(plain.initiator_to_responder, plain.responder_to_initiator);
    }
}
