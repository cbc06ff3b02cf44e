//! IKEv2 wire format: the header, the payload chain and every payload ikesim speaks.
//!
//! Two layers, as in [`crate::wire`] (style rule 5):
//!
//! - [`Packet`] is a checked view of the 28-octet IKE header (RFC 7296 §3.1) with
//!   [`Header`] as its repr. It reads SPIs, Message ID and version even when the payloads
//!   are garbage, which is what the receiver needs to pick an IKE SA or answer
//!   INVALID_MAJOR_VERSION.
//! - [`Message`] is the whole message: header fields plus `Vec<`[`Payload`]`>`, parsed
//!   through a bounds-checked [`Reader`] that hands out a sub-reader per length field and
//!   rejects trailing bytes. [`Message::parse`] never panics and allocates at most
//!   linearly in the input; [`Message::emit`] computes every Next Payload and Length.
//!
//! Registry values (exchange, payload, notify, transform, ...) are open newtypes
//! ([`registry`]), so unknown values round-trip. Unknown payload types parse into
//! [`Payload::Unknown`]; [`Message::unsupported_critical`] tells whether the message must
//! be refused with UNSUPPORTED_CRITICAL_PAYLOAD (RFC 7296 §2.5).
//!
//! Encrypted payloads (SK, RFC 7296 §3.14; SKF, RFC 7383 §2.5) stay ciphertext here
//! ([`Encrypted`]); `ike::crypto` seals and opens them, using [`emit_inner`] and
//! [`parse_inner`] for the plaintext chain.
//!
//! ```
//! use models::ike::wire::{
//!     ExchangeType, Flags, Message, NotifyPayload, NotifyType, Payload,
//! };
//!
//! let message = Message {
//!     spi_i: 0x1122_3344_5566_7788,
//!     spi_r: 0,
//!     exchange_type: ExchangeType::IKE_SA_INIT,
//!     flags: Flags { initiator: false, response: true },
//!     message_id: 0,
//!     payloads: vec![Payload::Notify(NotifyPayload::new(NotifyType::COOKIE, vec![7; 16]))],
//! };
//! let bytes = message.emit();
//! assert_eq!(bytes.len(), 28 + 8 + 16);
//! assert_eq!(Message::parse(&bytes), Ok(message));
//! ```

mod codec;
mod cp;
mod header;
mod message;
mod payload;
pub mod registry;
mod sa;
mod ts;

pub use self::codec::Reader;
pub use self::cp::{CfgAttribute, CpPayload};
pub use self::header::{Flags, HEADER_LEN, Header, IKEV2_VERSION, Packet};
pub use self::message::{
    Message, PAYLOAD_HEADER_LEN, ParseError, emit_inner, parse_inner, unsupported_critical,
};
pub(crate) use self::message::{emit_payloads, finish_header};
pub use self::payload::{
    AuthPayload, DeletePayload, Encrypted, FragmentInfo, IdPayload, KePayload, NONCE_MAX_LEN,
    NONCE_MIN_LEN, NotifyPayload, Payload,
};
pub use self::registry::{
    AuthMethod, CfgAttributeType, CfgType, ExchangeType, IdType, NotifyType, PayloadType,
    ProtocolId, TransformId, TransformType,
};
pub use self::sa::{Attribute, Proposal, SaPayload, Transform};
pub use self::ts::{AddressRange, TrafficSelector, TsPayload};
