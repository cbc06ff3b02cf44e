//! Whole IKE messages: header fields plus the payload chain (RFC 7296 §3.1, §3.2).
//!
//! Each payload starts with a 4-octet generic header whose Next Payload field names the
//! type of the *following* payload, so the chain is parsed front to back with the type
//! in hand. SK and SKF are special: they end the chain, and their Next Payload names the
//! first payload inside the ciphertext (RFC 7296 §3.14). Parsing rejects trailing bytes
//! after the chain and a header Length that differs from the input length.

use super::codec::{Reader, patch_len16};
use super::header::{HEADER_LEN, Header, IKEV2_VERSION, Packet};
use super::{Encrypted, ExchangeType, Flags, NotifyType, Payload, PayloadType};
use crate::wire::Error;

/// Length of the generic payload header (RFC 7296 §3.2).
pub const PAYLOAD_HEADER_LEN: usize = 4;
/// The critical bit in the second octet of the generic payload header.
const CRITICAL: u8 = 0x80;

/// Why bytes are not an IKE message we can process.
///
/// The byte layer stays coarse (style rule 8): which field was wrong does not change
/// what the receiver does. What it does differ on is whether to answer, hence
/// [`ParseError::notify_type`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A length, count or field value is impossible. Outside SK the message is dropped
    /// silently; inside a decrypted SK the answer is INVALID_SYNTAX (RFC 7296 §2.21.3).
    #[error("malformed IKE message")]
    Malformed,
    /// The major version is not 2 (RFC 7296 §2.5). The header is still readable through
    /// [`Packet`] and [`Header`] to build the answer.
    #[error("IKE major version {0} is not 2")]
    InvalidMajorVersion(u8),
}

impl ParseError {
    /// The unauthenticated notify to answer with, if any: INVALID_MAJOR_VERSION for a
    /// *higher* major version (RFC 7296 §2.5); nothing for malformed input.
    pub const fn notify_type(self) -> Option<NotifyType> {
        match self {
            Self::InvalidMajorVersion(major) if major > 2 => {
                Some(NotifyType::INVALID_MAJOR_VERSION)
            }
            Self::InvalidMajorVersion(_) | Self::Malformed => None,
        }
    }
}

impl From<Error> for ParseError {
    fn from(Error: Error) -> Self {
        Self::Malformed
    }
}

/// An IKE message: the header fields that are not derived, and the payloads.
///
/// Next Payload and Length fields are computed by [`Message::emit`]; the version is
/// always 2.0 on output. A message whose last payload is [`Payload::Encrypted`] is a
/// protected message as received; build protected messages with `ike::crypto::seal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Initiator's SPI.
    pub spi_i: u64,
    /// Responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: u64,
    /// Exchange type.
    pub exchange_type: ExchangeType,
    /// I and R flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
    /// The payloads in wire order.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Parses a whole message: header, then the payload chain.
    ///
    /// The header Length must equal `bytes.len()` (one datagram or one TCP frame is one
    /// message, RFC 9329 §3). Never panics; allocation is linear in `bytes.len()` and
    /// never sized by a length field.
    ///
    /// Unknown payloads parse: check [`Message::unsupported_critical`] before acting on
    /// the message.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let packet = Packet::new_checked(bytes)?;
        let header = Header::parse(&packet)?;
        if usize::try_from(header.length) != Ok(bytes.len()) {
            return Err(ParseError::Malformed);
        }
        if header.major_version != 2 {
            return Err(ParseError::InvalidMajorVersion(header.major_version));
        }
        let payloads = parse_payloads(header.next_payload, packet.payload(), true)?;
        Ok(Self {
            spi_i: header.spi_i,
            spi_r: header.spi_r,
            exchange_type: header.exchange_type,
            flags: header.flags,
            message_id: header.message_id,
            payloads,
        })
    }

    /// The header for a message of `length` octets whose first payload is `next_payload`.
    pub const fn header(&self, next_payload: PayloadType, length: u32) -> Header {
        Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            next_payload,
            major_version: IKEV2_VERSION >> 4,
            minor_version: 0,
            exchange_type: self.exchange_type,
            flags: self.flags,
            message_id: self.message_id,
            length,
        }
    }

    /// The wire bytes, with every Next Payload and Length field filled in.
    ///
    /// # Panics
    ///
    /// If an [`Payload::Encrypted`] is not the last payload, a [`Payload::Unknown`] has
    /// type 0, or a length overflows its field (local invariants: the caller built the
    /// message).
    pub fn emit(&self) -> Vec<u8> {
        let mut out = vec![0; HEADER_LEN];
        let first = emit_payloads(&self.payloads, PayloadType::NO_NEXT_PAYLOAD, &mut out);
        let length = out.len();
        finish_header(self, first, length, &mut out);
        out
    }

    /// The first unknown payload with the critical bit set, if any: the message must
    /// then be rejected with UNSUPPORTED_CRITICAL_PAYLOAD, whose data is this type
    /// (RFC 7296 §2.5). For a protected message, check after decryption, on the inner
    /// payloads too ([`unsupported_critical`]).
    pub fn unsupported_critical(&self) -> Option<PayloadType> {
        unsupported_critical(&self.payloads)
    }

    /// The SK or SKF payload, if the message is protected.
    pub fn encrypted(&self) -> Option<&Encrypted> {
        match self.payloads.last() {
            Some(Payload::Encrypted(e)) => Some(e),
            _ => None,
        }
    }
}

/// The first unknown critical payload type in `payloads` (RFC 7296 §2.5).
pub fn unsupported_critical(payloads: &[Payload]) -> Option<PayloadType> {
    payloads.iter().find_map(|p| match p {
        Payload::Unknown {
            ty, critical: true, ..
        } => Some(*ty),
        _ => None,
    })
}

/// Parses the plaintext of an SK payload (or of reassembled SKF fragments): a chain that
/// starts with type `first` and must end exactly at the end of `bytes`. Encrypted
/// payloads cannot nest.
pub fn parse_inner(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload>, ParseError> {
    parse_payloads(first, bytes, false)
}

/// Appends the inner payload chain of an SK payload and returns the type of its first
/// payload (the SK header's Next Payload), or [`PayloadType::NO_NEXT_PAYLOAD`] if empty.
///
/// # Panics
///
/// If a payload is [`Payload::Encrypted`] (SK cannot nest) or overflows its length field.
pub fn emit_inner(payloads: &[Payload], out: &mut Vec<u8>) -> PayloadType {
    assert!(
        !payloads.iter().any(|p| matches!(p, Payload::Encrypted(_))),
        "SK payloads cannot nest"
    );
    emit_payloads(payloads, PayloadType::NO_NEXT_PAYLOAD, out)
}

/// Appends `payloads` as a chain whose last payload's Next Payload is `last_next`, and
/// returns the first type (or `last_next` if there are none).
pub(crate) fn emit_payloads(
    payloads: &[Payload],
    last_next: PayloadType,
    out: &mut Vec<u8>,
) -> PayloadType {
    for (i, payload) in payloads.iter().enumerate() {
        assert_ne!(
            payload.ty(),
            PayloadType::NO_NEXT_PAYLOAD,
            "payload type 0 ends the chain and cannot be sent"
        );
        let next = match (payload, payloads.get(i + 1)) {
            (Payload::Encrypted(e), None) => e.next_payload,
            (Payload::Encrypted(_), Some(_)) => panic!("SK must be the last payload"),
            (_, Some(following)) => following.ty(),
            (_, None) => last_next,
        };
        let start = out.len();
        let flags = if payload.critical() { CRITICAL } else { 0 };
        out.extend_from_slice(&[next.0, flags, 0, 0]);
        payload.emit_body(out);
        patch_len16(out, start + 2, start);
    }
    payloads.first().map_or(last_next, Payload::ty)
}

/// Fills the header at the start of `out` (whose first [`HEADER_LEN`] octets are reserved
/// for it) for `message`, whose final length is `length`.
pub(crate) fn finish_header(message: &Message, first: PayloadType, length: usize, out: &mut [u8]) {
    let length = u32::try_from(length).expect("IKE message longer than 2^32 octets");
    message
        .header(first, length)
        .emit(&mut Packet::new_unchecked(&mut out[..HEADER_LEN]));
}

/// Parses a chain starting with type `first` that must consume all of `bytes`. With
/// `allow_encrypted`, SK/SKF may appear and then ends the chain.
fn parse_payloads(
    first: PayloadType,
    bytes: &[u8],
    allow_encrypted: bool,
) -> Result<Vec<Payload>, ParseError> {
    let mut r = Reader::new(bytes);
    let mut payloads = Vec::new();
    let mut ty = first;
    while ty != PayloadType::NO_NEXT_PAYLOAD {
        let next = PayloadType(r.u8()?);
        let critical = r.u8()? & CRITICAL != 0;
        let len = usize::from(r.u16()?);
        let mut body = r.sub(len.checked_sub(PAYLOAD_HEADER_LEN).ok_or(Error)?)?;
        let payload = Payload::parse_body(ty, critical, next, &mut body)?;
        body.finish()?;
        let encrypted = matches!(payload, Payload::Encrypted(_));
        payloads.push(payload);
        if encrypted {
            if !allow_encrypted {
                return Err(ParseError::Malformed);
            }
            break;
        }
        ty = next;
    }
    r.finish()?;
    Ok(payloads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ike::wire::NotifyPayload;

    fn informational(payloads: Vec<Payload>) -> Message {
        Message {
            spi_i: 1,
            spi_r: 2,
            exchange_type: ExchangeType::INFORMATIONAL,
            flags: Flags {
                initiator: true,
                response: false,
            },
            message_id: 7,
            payloads,
        }
    }

    #[test]
    fn chain_round_trips_with_unknown_payloads() {
        let message = informational(vec![
            Payload::Notify(NotifyPayload::new(NotifyType::INITIAL_CONTACT, vec![])),
            Payload::Unknown {
                ty: PayloadType(250),
                critical: false,
                body: vec![1, 2],
            },
            Payload::VendorId(vec![3]),
        ]);
        let bytes = message.emit();
        assert_eq!(bytes.len(), 28 + 8 + 6 + 5);
        assert_eq!(bytes[16], PayloadType::NOTIFY.0);
        assert_eq!(Message::parse(&bytes), Ok(message.clone()));
        assert_eq!(message.unsupported_critical(), None);
    }

    #[test]
    fn critical_unknown_payload_is_reported() {
        let message = informational(vec![Payload::Unknown {
            ty: PayloadType(250),
            critical: true,
            body: vec![],
        }]);
        let parsed = Message::parse(&message.emit()).unwrap();
        assert_eq!(parsed.unsupported_critical(), Some(PayloadType(250)));
    }

    #[test]
    fn lengths_must_agree() {
        let bytes = informational(vec![Payload::VendorId(vec![3])]).emit();
        // Trailing octet after the message.
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Message::parse(&longer), Err(ParseError::Malformed));
        // Header length one more than the chain, with the extra octet present.
        let mut padded = longer.clone();
        padded[27] += 1;
        assert_eq!(Message::parse(&padded), Err(ParseError::Malformed));
        // Payload length past the end.
        let mut bad = bytes.clone();
        bad[31] += 1;
        assert_eq!(Message::parse(&bad), Err(ParseError::Malformed));
        // Payload length below the generic header.
        let mut bad = bytes;
        bad[31] = 3;
        assert_eq!(Message::parse(&bad), Err(ParseError::Malformed));
    }

    #[test]
    fn major_version_is_checked_after_length() {
        let mut bytes = informational(vec![]).emit();
        bytes[17] = 0x30;
        let err = Message::parse(&bytes).unwrap_err();
        assert_eq!(err, ParseError::InvalidMajorVersion(3));
        assert_eq!(err.notify_type(), Some(NotifyType::INVALID_MAJOR_VERSION));
        bytes[17] = 0x10;
        assert_eq!(Message::parse(&bytes).unwrap_err().notify_type(), None);
    }

    #[test]
    fn encrypted_payload_ends_the_chain() {
        let message = informational(vec![Payload::Encrypted(Encrypted {
            next_payload: PayloadType::NOTIFY,
            fragment: None,
            body: vec![0; 25],
        })]);
        let bytes = message.emit();
        assert_eq!(
            bytes.len(),
            57,
            "empty INFORMATIONAL size of protocol.md 1.8"
        );
        assert_eq!(Message::parse(&bytes), Ok(message));
        // Nested SK in plaintext is malformed.
        let mut inner = Vec::new();
        emit_payloads(
            &[Payload::Encrypted(Encrypted {
                next_payload: PayloadType::NO_NEXT_PAYLOAD,
                fragment: None,
                body: vec![],
            })],
            PayloadType::NO_NEXT_PAYLOAD,
            &mut inner,
        );
        assert_eq!(
            parse_inner(PayloadType::SK, &inner),
            Err(ParseError::Malformed)
        );
    }
}
