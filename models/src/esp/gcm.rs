//! AES-256-GCM with a 16-octet ICV, keyed for one direction: what ESP (RFC 4106) and IKE
//! SK/SKF (RFC 5282) both use, or its stand-in ([`CryptoMode::StandIn`]).
//!
//! The 12-octet nonce is the 4-octet salt from the key material followed by the 8-octet
//! explicit IV that travels in the packet (RFC 4106 §4, RFC 5282 §4). The stand-in leaves
//! the data as it is and computes the ICV with [`StandInHash`] over key, salt, IV, AAD
//! and data: the same sizes, no AES, and a failed check wherever GCM's would fail.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, Key, KeyInit, Nonce, Tag};

use super::keys::GcmKey;
use super::sa::{ICV_LEN, IV_LEN};
use crate::crypto_mode::{CryptoMode, StandInHash};

/// The integrity check failed: wrong key, tampered bytes, or a forged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("AEAD integrity check failed")]
pub struct IntegrityError;

/// One direction's AES-256-GCM-16 key (or its stand-in), ready to seal and open.
/// `Debug` shows the mode, never the key.
#[derive(Clone)]
pub struct GcmCipher {
    salt: [u8; 4],
    cipher: Cipher,
}

/// A real key and its schedule, or the stand-in's key.
#[derive(Clone)]
enum Cipher {
    /// The schedule cell is `None` under [`Schedule::PerMessage`].
    Real {
        key: [u8; 32],
        schedule: Option<OnceCell<Box<Aes256Gcm>>>,
    },
    StandIn([u8; 32]),
}

/// When a real key's schedule is expanded. The schedule is over 1 kB (the `aes` crate
/// keeps one for each of its backends), and an idle client holds eight keys counting
/// both ends: kept schedules were most of the memory of an idle client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// For every message, then dropped: keys used now and then (IKE SK: liveness
    /// checks, rekeys), where the expansion is noise.
    PerMessage,
    /// At first use, then kept: ESP keys, which a busy tunnel uses for every packet.
    /// An SA that never carries a packet never pays for it.
    Kept,
}

impl GcmCipher {
    /// The cipher for one direction's key material, its schedule expanded per message
    /// (IKE SK keys).
    pub fn new(material: &GcmKey, mode: CryptoMode) -> Self {
        Self::with_schedule(material, mode, Schedule::PerMessage)
    }

    /// The cipher for one direction's key material, with its schedule's lifetime.
    pub fn with_schedule(material: &GcmKey, mode: CryptoMode, schedule: Schedule) -> Self {
        let cipher = match mode {
            CryptoMode::Real => Cipher::Real {
                key: *material.key(),
                schedule: (schedule == Schedule::Kept).then(OnceCell::new),
            },
            CryptoMode::StandIn => Cipher::StandIn(*material.key()),
        };
        Self {
            salt: material.salt(),
            cipher,
        }
    }

    /// Which mode the cipher runs in.
    pub const fn mode(&self) -> CryptoMode {
        match self.cipher {
            Cipher::Real { .. } => CryptoMode::Real,
            Cipher::StandIn(_) => CryptoMode::StandIn,
        }
    }

    fn nonce(&self, iv: [u8; IV_LEN]) -> Nonce<Aes256Gcm> {
        let mut nonce = [0; 12];
        nonce[..4].copy_from_slice(&self.salt);
        nonce[4..].copy_from_slice(&iv);
        Nonce::<Aes256Gcm>::from(nonce)
    }

    /// The stand-in ICV.
    fn stand_in_icv(
        &self,
        key: &[u8; 32],
        iv: [u8; IV_LEN],
        aad: &[u8],
        data: &[u8],
    ) -> [u8; ICV_LEN] {
        let mut h = StandInHash::new(b"ikesim stand-in AEAD");
        for part in [&key[..], &self.salt, &iv, aad, data] {
            h.write(part);
        }
        h.finish()
    }

    /// Encrypts `buf` in place with nonce salt‖`iv` and authenticates it with `aad`;
    /// returns the ICV. The stand-in leaves `buf` as it is.
    pub fn seal_in_place(&self, iv: [u8; IV_LEN], aad: &[u8], buf: &mut [u8]) -> [u8; ICV_LEN] {
        match &self.cipher {
            Cipher::Real { key, schedule } => with_schedule(key, schedule.as_ref())
                .encrypt_inout_detached(&self.nonce(iv), aad, buf.into())
                .expect("IKE and ESP messages are far below the GCM length limit")
                .into(),
            Cipher::StandIn(key) => self.stand_in_icv(key, iv, aad, buf),
        }
    }

    /// Checks `icv` over `aad` and the ciphertext in `buf`, then decrypts `buf` in place.
    /// On failure `buf` is unspecified.
    pub fn open_in_place(
        &self,
        iv: [u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        icv: [u8; ICV_LEN],
    ) -> Result<(), IntegrityError> {
        match &self.cipher {
            Cipher::Real { key, schedule } => with_schedule(key, schedule.as_ref())
                .decrypt_inout_detached(
                    &self.nonce(iv),
                    aad,
                    buf.into(),
                    &Tag::<Aes256Gcm>::from(icv),
                )
                .map_err(|_| IntegrityError),
            Cipher::StandIn(key) => {
                if self.stand_in_icv(key, iv, aad, buf) == icv {
                    Ok(())
                } else {
                    Err(IntegrityError)
                }
            }
        }
    }
}

/// The AES-256-GCM key schedule of `key`: the kept one (expanded now if it is the first
/// use), or a fresh one.
fn with_schedule<'a>(
    key: &[u8; 32],
    kept: Option<&'a OnceCell<Box<Aes256Gcm>>>,
) -> Cow<'a, Aes256Gcm> {
    let expand = || Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    match kept {
        Some(cell) => Cow::Borrowed(&**cell.get_or_init(|| Box::new(expand()))),
        None => Cow::Owned(expand()),
    }
}

impl fmt::Debug for GcmCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcmCipher")
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODES: [CryptoMode; 2] = [CryptoMode::Real, CryptoMode::StandIn];

    fn cipher(fill: u8, mode: CryptoMode) -> GcmCipher {
        GcmCipher::with_schedule(&GcmKey::new([fill; 32], [2; 4]), mode, Schedule::Kept)
    }

    #[test]
    fn kept_and_per_message_schedules_seal_alike() {
        let material = GcmKey::new([5; 32], [6; 4]);
        let kept = GcmCipher::with_schedule(&material, CryptoMode::Real, Schedule::Kept);
        let fresh = GcmCipher::new(&material, CryptoMode::Real);
        for iv in [[0; 8], [1; 8]] {
            let (mut a, mut b) = (*b"same bytes", *b"same bytes");
            let icv = kept.seal_in_place(iv, b"aad", &mut a);
            assert_eq!(fresh.seal_in_place(iv, b"aad", &mut b), icv);
            assert_eq!(a, b);
            assert!(fresh.open_in_place(iv, b"aad", &mut a, icv).is_ok());
            assert!(kept.open_in_place(iv, b"aad", &mut b, icv).is_ok());
        }
    }

    #[test]
    fn round_trip_and_sizes_in_both_modes() {
        let plaintext = *b"inner payloads, 27 octets..";
        let mut sealed = Vec::new();
        for mode in MODES {
            let key = cipher(1, mode);
            assert_eq!(key.mode(), mode);
            let mut buf = plaintext;
            let icv = key.seal_in_place([3; 8], b"aad", &mut buf);
            assert_eq!(icv.len(), ICV_LEN);
            sealed.push(buf);
            assert!(key.open_in_place([3; 8], b"aad", &mut buf, icv).is_ok());
            assert_eq!(buf, plaintext, "{mode:?}");
        }
        assert_ne!(sealed[0], plaintext, "real mode encrypts");
        assert_eq!(
            sealed[1], plaintext,
            "the stand-in leaves the data as it is"
        );
    }

    #[test]
    fn wrong_key_nonce_aad_or_octet_is_rejected_in_both_modes() {
        for mode in MODES {
            let key = cipher(1, mode);
            let mut buf = *b"inner payloads";
            let icv = key.seal_in_place([3; 8], b"aad", &mut buf);
            let sealed = buf;
            let rejected = |key: &GcmCipher, iv, aad: &[u8], mut buf: [u8; 14], icv| {
                key.open_in_place(iv, aad, &mut buf, icv) == Err(IntegrityError)
            };
            assert!(rejected(&cipher(9, mode), [3; 8], b"aad", sealed, icv));
            let other_salt =
                GcmCipher::with_schedule(&GcmKey::new([1; 32], [7; 4]), mode, Schedule::Kept);
            assert!(rejected(&other_salt, [3; 8], b"aad", sealed, icv));
            assert!(rejected(&key, [4; 8], b"aad", sealed, icv));
            assert!(rejected(&key, [3; 8], b"aae", sealed, icv));
            for i in 0..sealed.len() {
                let mut corrupt = sealed;
                corrupt[i] ^= 0x80;
                assert!(rejected(&key, [3; 8], b"aad", corrupt, icv), "{mode:?} {i}");
            }
            let mut bad_icv = icv;
            bad_icv[15] ^= 1;
            assert!(rejected(&key, [3; 8], b"aad", sealed, bad_icv));
            // A real and a stand-in peer do not understand each other.
            let other = cipher(1, MODES[1 - mode as usize]);
            assert!(rejected(&other, [3; 8], b"aad", sealed, icv));
        }
    }
}
