//! IKEv2 (RFC 7296) as ikesim runs it: wire format and crypto.
//!
//! - [`wire`]: the IKE header, the payload chain and every payload the simulator speaks,
//!   as checked views and typed reprs that parse any input without panicking.
//! - [`crypto`]: the modern default suite of protocol.md 2.1 with real primitives
//!   (RustCrypto): X25519 and ECP-256 DH, PRF-HMAC-SHA2-256 and prf+, IKE and Child SA
//!   key derivation, PSK AUTH, AES-256-GCM protection of SK/SKF, NAT-detection hashes and
//!   stateless cookies.
//!
//! The IKE SA state machine builds on these two: it decides *what* to send; these modules
//! say how it looks on the wire and how it is protected. Every secret is built from bytes
//! drawn from the caller's keyed [`sim::SimRng`] (style pitfall 1), so a run's handshakes,
//! ciphertexts and pcaps are identical for identical seeds.

pub mod crypto;
pub mod daemon;
pub mod sa;
pub mod wire;
