//! AES-256-GCM with a 16-octet ICV, as ENCR_AES_GCM_16 uses it for SK (RFC 5282;
//! protocol.md 2.4).
//!
//! The 12-octet GCM nonce is the 4-octet salt from the key material followed by an
//! 8-octet explicit IV that travels in the payload (RFC 5282 §3.1). The IV must never
//! repeat under one key; RFC 5282 §3.1 allows a counter or random values. Both are
//! offered through [`IvSource`]: [`SimRng`] draws random IVs (the default; the draws are
//! on the caller's keyed stream, so still deterministic), [`IvCounter`] counts like
//! strongSwan's sequential IV generator and needs no randomness. The cipher itself is
//! ESP's [`GcmCipher`], which also provides the stand-in of [`crate::CryptoMode`].

use sim::SimRng;

use crate::esp::GcmCipher;
pub use crate::esp::IntegrityError;

/// Length of the explicit IV in the payload (RFC 5282 §3.1).
pub const IV_LEN: usize = 8;
/// Length of the ICV of ENCR_AES_GCM_16 (RFC 5282 §7.2).
pub const ICV_LEN: usize = 16;

/// Where the 8-octet explicit IVs of a sending key come from.
pub trait IvSource {
    /// The IV for the next message (or fragment) sealed under the key.
    fn next_iv(&mut self) -> [u8; IV_LEN];
}

/// Random IVs from the caller's stream.
impl IvSource for SimRng {
    fn next_iv(&mut self) -> [u8; IV_LEN] {
        let mut iv = [0; IV_LEN];
        self.fill_bytes(&mut iv);
        iv
    }
}

/// Sequential IVs: the counter value, big-endian, then incremented. Keep one per sending
/// key; a replicated HA standby must continue past the active node's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IvCounter(pub u64);

impl IvSource for IvCounter {
    fn next_iv(&mut self) -> [u8; IV_LEN] {
        let iv = self.0.to_be_bytes();
        self.0 = self.0.checked_add(1).expect("2^64 messages under one key");
        iv
    }
}

/// One direction's SK key, SK_ei or SK_er: the same AES-256-GCM-16 cipher (or
/// stand-in) as ESP's, made with `SkKey::new(&material, mode)` (its schedule expanded per message).
pub type SkKey = GcmCipher;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CryptoMode;
    use crate::esp::GcmKey;

    #[test]
    fn seal_open_and_tamper() {
        let key = SkKey::new(&GcmKey::new([1; 32], [2; 4]), CryptoMode::Real);
        let mut buf = *b"inner payloads";
        let icv = key.seal_in_place([3; 8], b"aad", &mut buf);
        let sealed = buf;
        assert!(key.open_in_place([3; 8], b"aad", &mut buf, icv).is_ok());
        assert_eq!(&buf, b"inner payloads");
        let mut buf = sealed;
        assert_eq!(
            key.open_in_place([3; 8], b"aae", &mut buf, icv),
            Err(IntegrityError)
        );
        let mut buf = sealed;
        assert_eq!(
            key.open_in_place([4; 8], b"aad", &mut buf, icv),
            Err(IntegrityError)
        );
    }

    #[test]
    fn counter_ivs_are_sequential() {
        let mut ivs = IvCounter(1);
        assert_eq!(ivs.next_iv(), [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(ivs.next_iv(), [0, 0, 0, 0, 0, 0, 0, 2]);
    }
}
