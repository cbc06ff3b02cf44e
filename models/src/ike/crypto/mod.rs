//! IKEv2 cryptography for the modern default suite (protocol.md §2): DH group 31 or 19,
//! PRF_HMAC_SHA2_256, ENCR_AES_GCM_16 with 256-bit keys, PSK authentication.
//!
//! Real primitives from RustCrypto (x25519-dalek, p256, hmac, sha1, sha2, aes-gcm), so
//! captured traffic decrypts in Wireshark and message sizes are the real ones. All
//! randomness comes from the caller's [`sim::SimRng`]: DH secrets ([`DhGroup::generate`]),
//! SK IVs ([`IvSource`]) and cookie secrets ([`CookieSecret::generate`]).
//!
//! The flow of one IKE SA, in the order the state machine needs it:
//!
//! 1. IKE_SA_INIT: [`DhGroup::generate`] for KE, [`nat_detection_hash`] for the NAT-D
//!    notifies, and on the responder [`CookieSecret`] when under load.
//! 2. Keys: [`DhSecret::shared`] gives g^ir, [`IkeSaKeys::initial`] gives SK_d, SK_e*,
//!    SK_p*; [`SkKey`] makes SK_ei/SK_er usable.
//! 3. IKE_AUTH: [`psk_auth`] over the IKE_SA_INIT messages; [`seal`] / [`open`] (or
//!    [`seal_fragments`] / [`open_fragment`] / [`reassemble`]) for SK.
//! 4. Child SAs: [`ChildSaKeys::derive`]; IKE rekey: [`rekey_skeyseed`] then
//!    [`IkeSaKeys::derive`].
//!
//! The costly steps, for benchmarks: [`DhGroup::generate`], [`DhSecret::shared`],
//! [`IkeSaKeys::initial`], [`seal`] and [`open`]. With [`crate::CryptoMode::StandIn`],
//! DH and the AEAD are cost-free stand-ins of the same sizes; the rest stays real.
//!
//! ```
//! use models::CryptoMode;
//! use models::ike::crypto::{DhGroup, IkeSaKeys, Prf};
//! use sim::SimRng;
//!
//! let mut rng = SimRng::from_seed_u64(1);
//! let (i_secret, i_public) = DhGroup::Curve25519.generate(CryptoMode::Real, &mut rng);
//! let (r_secret, r_public) = DhGroup::Curve25519.generate(CryptoMode::Real, &mut rng);
//! let (ni, nr) = ([1; 32], [2; 32]);
//! let i_keys = IkeSaKeys::initial(Prf::HmacSha256, &i_secret.shared(&r_public)?, &ni, &nr, 7, 9);
//! let r_keys = IkeSaKeys::initial(Prf::HmacSha256, &r_secret.shared(&i_public)?, &ni, &nr, 7, 9);
//! assert_eq!(i_keys, r_keys);
//! # Ok::<(), models::ike::crypto::InvalidPublicValue>(())
//! ```

mod aead;
mod auth;
mod dh;
mod hashes;
mod keys;
mod prf;
mod protect;

pub use self::aead::{ICV_LEN, IV_LEN, IntegrityError, IvCounter, IvSource, SkKey};
pub use self::auth::{KEY_PAD, psk_auth};
pub use self::dh::{DhGroup, DhSecret, InvalidPublicValue};
pub use self::hashes::{
    CookieInput, CookiePolicy, CookieSecret, NAT_DETECTION_LEN, nat_detection_hash,
};
pub use self::keys::{ChildSaKeys, IkeSaKeys, rekey_skeyseed, skeyseed};
pub use self::prf::Prf;
pub use self::protect::{
    DecryptedFragment, FragmentError, OpenError, SK_OVERHEAD, SKF_OVERHEAD, open, open_fragment,
    reassemble, seal, seal_fragments,
};
