//! AUTH with a pre-shared key (RFC 7296 §2.15; protocol.md 2.5).
//!
//! ```text
//! AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
//! InitiatorSignedOctets = RealMessage1 | NonceRData | prf(SK_pi, IDi')
//! ResponderSignedOctets = RealMessage2 | NonceIData | prf(SK_pr, IDr')
//! ```
//!
//! RealMessage is the IKE_SA_INIT message exactly as sent, from the first SPI octet to the
//! last octet: no non-ESP marker, no TCP length field (RFC 9329 §3), and after a COOKIE or
//! INVALID_KE retry, the last version sent.

use super::Prf;

/// The 17-octet key pad, no terminator (RFC 7296 §2.15).
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// The AUTH data of a SHARED_KEY_MIC AUTH payload (RFC 7296 §2.15).
///
/// For the initiator's AUTH: `real_message` is the IKE_SA_INIT request, `peer_nonce` is
/// Nr, `sk_p` is SK_pi and `id_body` is the IDi payload body (ID Type, RESERVED, data;
/// [`crate::ike::wire::IdPayload::body`]). For the responder's: the IKE_SA_INIT response,
/// Ni, SK_pr and IDr. The verifier computes the same value and compares.
pub fn psk_auth(
    prf: Prf,
    psk: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_body: &[u8],
) -> Vec<u8> {
    let id_mac = prf.compute(sk_p, &[id_body]);
    let key = prf.compute(psk, &[KEY_PAD]);
    prf.compute(&key, &[real_message, peer_nonce, &id_mac])
}
