//! Typed payloads and the bodies that fit in a few fields (RFC 7296 §3.4-§3.12, §3.14;
//! RFC 7383 §2.5; RFC 8019 §8.2).
//!
//! [`Payload`] is what a message carries. Every payload type this simulator speaks has a
//! variant; anything else (CERT, CERTREQ, EAP, future types) is [`Payload::Unknown`] with
//! its critical bit and body, so it re-emits unchanged and the state machine can answer
//! UNSUPPORTED_CRITICAL_PAYLOAD for it (RFC 7296 §2.5). The critical bit of a payload we
//! understand is ignored on receipt and sent as zero (RFC 7296 §3.2).

use std::net::Ipv4Addr;

use super::codec::{Reader, put_u16};
use super::{
    AuthMethod, CpPayload, IdType, NotifyType, PayloadType, ProtocolId, SaPayload, TransformId,
    TsPayload,
};
use crate::wire::{Error, Result};

/// Shortest nonce: 128 bits (RFC 7296 §3.9).
pub const NONCE_MIN_LEN: usize = 16;
/// Longest nonce (RFC 7296 §3.9).
pub const NONCE_MAX_LEN: usize = 256;
/// Size of an ESP or AH SPI in Delete and Notify payloads (RFC 7296 §3.11).
const CHILD_SPI_LEN: u8 = 4;

/// One payload of a message, or of the plaintext inside SK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// SA: proposals (RFC 7296 §3.3).
    Sa(SaPayload),
    /// KE: a DH public value (RFC 7296 §3.4).
    Ke(KePayload),
    /// IDi (RFC 7296 §3.5).
    IdI(IdPayload),
    /// IDr (RFC 7296 §3.5).
    IdR(IdPayload),
    /// AUTH (RFC 7296 §3.8).
    Auth(AuthPayload),
    /// Ni or Nr: the nonce data, 16..=256 octets (RFC 7296 §3.9).
    Nonce(Vec<u8>),
    /// N (RFC 7296 §3.10).
    Notify(NotifyPayload),
    /// D (RFC 7296 §3.11).
    Delete(DeletePayload),
    /// V: opaque vendor data (RFC 7296 §3.12).
    VendorId(Vec<u8>),
    /// TSi (RFC 7296 §3.13).
    TsI(TsPayload),
    /// TSr (RFC 7296 §3.13).
    TsR(TsPayload),
    /// CP (RFC 7296 §3.15).
    Cp(CpPayload),
    /// PS: four concatenated puzzle keys (RFC 8019 §8.2); sent outside SK.
    PuzzleSolution(Vec<u8>),
    /// SK or SKF, still encrypted; always the last payload of a message (RFC 7296 §3.14,
    /// RFC 7383 §2.5). Open it with `ike::crypto`.
    Encrypted(Encrypted),
    /// A payload type we do not model, kept as received.
    Unknown {
        /// Its payload type.
        ty: PayloadType,
        /// The critical bit: if set, the message must be rejected with
        /// UNSUPPORTED_CRITICAL_PAYLOAD (RFC 7296 §2.5).
        critical: bool,
        /// The body after the generic header.
        body: Vec<u8>,
    },
}

/// KE payload (RFC 7296 §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KePayload {
    /// DH group of the value; must match the proposal's group, else INVALID_KE_PAYLOAD.
    pub group: TransformId,
    /// The public value: 32 octets for Curve25519, x‖y (64 octets) for ECP-256.
    pub data: Vec<u8>,
}

/// IDi or IDr payload (RFC 7296 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPayload {
    /// ID type.
    pub id_type: IdType,
    /// Identification data, interpreted per type.
    pub data: Vec<u8>,
}

impl IdPayload {
    /// ID_IPV4_ADDR.
    pub fn ipv4(addr: Ipv4Addr) -> Self {
        Self {
            id_type: IdType::IPV4_ADDR,
            data: addr.octets().to_vec(),
        }
    }

    /// ID_FQDN (no terminator).
    pub fn fqdn(name: &str) -> Self {
        Self {
            id_type: IdType::FQDN,
            data: name.as_bytes().to_vec(),
        }
    }

    /// ID_KEY_ID: opaque octets.
    pub fn key_id(data: &[u8]) -> Self {
        Self {
            id_type: IdType::KEY_ID,
            data: data.to_vec(),
        }
    }

    /// The payload body without the generic header: ID Type, three RESERVED octets (sent
    /// as zero), data. This is IDi'/IDr' of the AUTH computation (RFC 7296 §2.15).
    ///
    /// It equals the received body unless the peer set RESERVED octets, which RFC 7296
    /// forbids; such a peer's AUTH will not verify.
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.data.len());
        self.emit(&mut out);
        out
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let id_type = IdType(r.u8()?);
        let _reserved = r.take(3)?;
        Ok(Self {
            id_type,
            data: r.rest().to_vec(),
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.id_type.0, 0, 0, 0]);
        out.extend_from_slice(&self.data);
    }
}

/// AUTH payload (RFC 7296 §3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPayload {
    /// Authentication method; SHARED_KEY_MIC for PSK.
    pub method: AuthMethod,
    /// The authentication data (a PRF output for PSK).
    pub data: Vec<u8>,
}

/// Notify payload (RFC 7296 §3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyPayload {
    /// Protocol of the SA concerned; [`ProtocolId::NONE`] when the SPI is empty.
    pub protocol: ProtocolId,
    /// SPI of the SA concerned; empty for IKE-SA-level notifies.
    pub spi: Vec<u8>,
    /// Notify message type.
    pub ty: NotifyType,
    /// Notification data, per type.
    pub data: Vec<u8>,
}

impl NotifyPayload {
    /// A notify about no particular SA: protocol 0, no SPI (RFC 7296 §3.10). Nearly all
    /// notifies are of this kind (COOKIE, NAT_DETECTION_*, INVALID_KE_PAYLOAD, ...).
    pub fn new(ty: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            ty,
            data,
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let protocol = ProtocolId(r.u8()?);
        let spi_size = usize::from(r.u8()?);
        let ty = NotifyType(r.u16()?);
        let spi = r.take(spi_size)?.to_vec();
        Ok(Self {
            protocol,
            spi,
            ty,
            data: r.rest().to_vec(),
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        let spi_size = u8::try_from(self.spi.len()).expect("SPI longer than 255 octets");
        out.extend_from_slice(&[self.protocol.0, spi_size]);
        put_u16(out, self.ty.0);
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
    }
}

/// Delete payload (RFC 7296 §3.11).
///
/// SPI Size follows from the protocol: 0 (and no SPIs) for the IKE SA, 4 for ESP and AH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletePayload {
    /// IKE, ESP or AH.
    pub protocol: ProtocolId,
    /// SPIs of the Child SAs to delete (the sender's inbound SPIs); empty for IKE.
    pub spis: Vec<u32>,
}

impl DeletePayload {
    fn spi_size(protocol: ProtocolId) -> u8 {
        if protocol == ProtocolId::IKE {
            0
        } else {
            CHILD_SPI_LEN
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let protocol = ProtocolId(r.u8()?);
        let spi_size = r.u8()?;
        let count = usize::from(r.u16()?);
        if spi_size != Self::spi_size(protocol) || usize::from(spi_size) * count != r.remaining() {
            return Err(Error);
        }
        let mut spis = Vec::new();
        if spi_size != 0 {
            while !r.is_empty() {
                spis.push(r.u32()?);
            }
        } else if count != 0 {
            return Err(Error);
        }
        Ok(Self { protocol, spis })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        let spi_size = Self::spi_size(self.protocol);
        let count = u16::try_from(self.spis.len()).expect("more than 65535 SPIs");
        out.extend_from_slice(&[self.protocol.0, spi_size]);
        put_u16(out, count);
        for spi in &self.spis {
            out.extend_from_slice(&spi.to_be_bytes());
        }
    }
}

/// Fragment Number and Total Fragments of an SKF payload (RFC 7383 §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentInfo {
    /// This fragment, from 1.
    pub number: u16,
    /// How many fragments the message was cut into; at least `number`.
    pub total: u16,
}

/// The still-encrypted contents of an SK or SKF payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// The generic header's Next Payload: type of the first inner payload (0 when SK is
    /// empty, and in every SKF fragment but the first).
    pub next_payload: PayloadType,
    /// `Some` for SKF (RFC 7383), `None` for SK.
    pub fragment: Option<FragmentInfo>,
    /// IV, ciphertext of inner payloads, padding and pad length, then the ICV.
    pub body: Vec<u8>,
}

impl Encrypted {
    /// SK or SKF.
    pub const fn payload_type(&self) -> PayloadType {
        if self.fragment.is_some() {
            PayloadType::SKF
        } else {
            PayloadType::SK
        }
    }

    /// Length of the header in front of `body`: 4 for SK, 8 for SKF. All of it is in the
    /// AEAD associated data (RFC 5282 §5.1; RFC 7383 §2.5).
    pub const fn header_len(&self) -> usize {
        if self.fragment.is_some() { 8 } else { 4 }
    }

    /// The header fields after the generic header: Fragment Number and Total Fragments.
    pub(crate) fn emit_fields(&self, out: &mut Vec<u8>) {
        if let Some(fragment) = self.fragment {
            put_u16(out, fragment.number);
            put_u16(out, fragment.total);
        }
    }

    fn parse_fragment(r: &mut Reader<'_>) -> Result<FragmentInfo> {
        let number = r.u16()?;
        let total = r.u16()?;
        if number == 0 || number > total {
            return Err(Error);
        }
        Ok(FragmentInfo { number, total })
    }
}

impl Payload {
    /// The payload type that goes into the previous Next Payload field.
    pub const fn ty(&self) -> PayloadType {
        match self {
            Self::Sa(_) => PayloadType::SA,
            Self::Ke(_) => PayloadType::KE,
            Self::IdI(_) => PayloadType::IDI,
            Self::IdR(_) => PayloadType::IDR,
            Self::Auth(_) => PayloadType::AUTH,
            Self::Nonce(_) => PayloadType::NONCE,
            Self::Notify(_) => PayloadType::NOTIFY,
            Self::Delete(_) => PayloadType::DELETE,
            Self::VendorId(_) => PayloadType::VENDOR_ID,
            Self::TsI(_) => PayloadType::TSI,
            Self::TsR(_) => PayloadType::TSR,
            Self::Cp(_) => PayloadType::CP,
            Self::PuzzleSolution(_) => PayloadType::PS,
            Self::Encrypted(e) => e.payload_type(),
            Self::Unknown { ty, .. } => *ty,
        }
    }

    /// Parses the body of a payload of type `ty` (the generic header already read),
    /// consuming all of `r`.
    pub(crate) fn parse_body(
        ty: PayloadType,
        critical: bool,
        next_payload: PayloadType,
        r: &mut Reader<'_>,
    ) -> Result<Self> {
        let payload = match ty {
            PayloadType::SA => Self::Sa(SaPayload::parse(r)?),
            PayloadType::KE => {
                let group = TransformId(r.u16()?);
                let _reserved = r.u16()?;
                Self::Ke(KePayload {
                    group,
                    data: r.rest().to_vec(),
                })
            }
            PayloadType::IDI => Self::IdI(IdPayload::parse(r)?),
            PayloadType::IDR => Self::IdR(IdPayload::parse(r)?),
            PayloadType::AUTH => {
                let method = AuthMethod(r.u8()?);
                let _reserved = r.take(3)?;
                Self::Auth(AuthPayload {
                    method,
                    data: r.rest().to_vec(),
                })
            }
            PayloadType::NONCE => {
                let nonce = r.rest();
                if !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&nonce.len()) {
                    return Err(Error);
                }
                Self::Nonce(nonce.to_vec())
            }
            PayloadType::NOTIFY => Self::Notify(NotifyPayload::parse(r)?),
            PayloadType::DELETE => Self::Delete(DeletePayload::parse(r)?),
            PayloadType::VENDOR_ID => Self::VendorId(r.rest().to_vec()),
            PayloadType::TSI => Self::TsI(TsPayload::parse(r)?),
            PayloadType::TSR => Self::TsR(TsPayload::parse(r)?),
            PayloadType::CP => Self::Cp(CpPayload::parse(r)?),
            PayloadType::PS => {
                let keys = r.rest();
                if keys.is_empty() || !keys.len().is_multiple_of(4) {
                    return Err(Error);
                }
                Self::PuzzleSolution(keys.to_vec())
            }
            PayloadType::SK | PayloadType::SKF => {
                let fragment = if ty == PayloadType::SKF {
                    Some(Encrypted::parse_fragment(r)?)
                } else {
                    None
                };
                Self::Encrypted(Encrypted {
                    next_payload,
                    fragment,
                    body: r.rest().to_vec(),
                })
            }
            _ => Self::Unknown {
                ty,
                critical,
                body: r.rest().to_vec(),
            },
        };
        Ok(payload)
    }

    /// Appends the body (everything after the generic header).
    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::Sa(sa) => sa.emit(out),
            Self::Ke(ke) => {
                put_u16(out, ke.group.0);
                put_u16(out, 0);
                out.extend_from_slice(&ke.data);
            }
            Self::IdI(id) | Self::IdR(id) => id.emit(out),
            Self::Auth(auth) => {
                out.extend_from_slice(&[auth.method.0, 0, 0, 0]);
                out.extend_from_slice(&auth.data);
            }
            Self::Notify(notify) => notify.emit(out),
            Self::Delete(delete) => delete.emit(out),
            Self::TsI(ts) | Self::TsR(ts) => ts.emit(out),
            Self::Cp(cp) => cp.emit(out),
            Self::Encrypted(e) => {
                e.emit_fields(out);
                out.extend_from_slice(&e.body);
            }
            Self::Nonce(data)
            | Self::VendorId(data)
            | Self::PuzzleSolution(data)
            | Self::Unknown { body: data, .. } => out.extend_from_slice(data),
        }
    }

    /// The critical bit to send: only unknown payloads may carry it.
    pub(crate) const fn critical(&self) -> bool {
        matches!(self, Self::Unknown { critical: true, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(payload: &Payload) -> Payload {
        let mut body = Vec::new();
        payload.emit_body(&mut body);
        let mut r = Reader::new(&body);
        let next = match payload {
            Payload::Encrypted(e) => e.next_payload,
            _ => PayloadType::NO_NEXT_PAYLOAD,
        };
        let parsed = Payload::parse_body(payload.ty(), payload.critical(), next, &mut r).unwrap();
        assert!(r.is_empty());
        parsed
    }

    #[test]
    fn simple_bodies_round_trip() {
        let payloads = [
            Payload::Ke(KePayload {
                group: TransformId::DH_CURVE25519,
                data: vec![9; 32],
            }),
            Payload::IdI(IdPayload::fqdn("client.example")),
            Payload::IdR(IdPayload::ipv4(Ipv4Addr::new(192, 0, 2, 1))),
            Payload::Auth(AuthPayload {
                method: AuthMethod::SHARED_KEY_MIC,
                data: vec![1; 32],
            }),
            Payload::Nonce(vec![7; 32]),
            Payload::Notify(NotifyPayload {
                protocol: ProtocolId::ESP,
                spi: vec![1, 2, 3, 4],
                ty: NotifyType::REKEY_SA,
                data: vec![],
            }),
            Payload::Delete(DeletePayload {
                protocol: ProtocolId::ESP,
                spis: vec![0x0102_0304, 5],
            }),
            Payload::Delete(DeletePayload {
                protocol: ProtocolId::IKE,
                spis: vec![],
            }),
            Payload::VendorId(b"ikesim".to_vec()),
            Payload::PuzzleSolution(vec![3; 16]),
            Payload::Encrypted(Encrypted {
                next_payload: PayloadType::IDI,
                fragment: Some(FragmentInfo {
                    number: 2,
                    total: 3,
                }),
                body: vec![4; 40],
            }),
            Payload::Unknown {
                ty: PayloadType(200),
                critical: true,
                body: vec![5; 3],
            },
        ];
        for payload in &payloads {
            assert_eq!(&round_trip(payload), payload);
        }
    }

    #[test]
    fn body_lengths_are_checked() {
        let parse = |ty, body: &[u8]| {
            Payload::parse_body(
                ty,
                false,
                PayloadType::NO_NEXT_PAYLOAD,
                &mut Reader::new(body),
            )
        };
        assert_eq!(parse(PayloadType::NONCE, &[0; 15]), Err(Error));
        assert_eq!(parse(PayloadType::NONCE, &[0; 257]), Err(Error));
        assert_eq!(parse(PayloadType::KE, &[0; 3]), Err(Error));
        assert_eq!(parse(PayloadType::NOTIFY, &[0, 4, 0, 1, 9]), Err(Error));
        // ESP delete with SPI size 4, two SPIs announced, one present.
        assert_eq!(
            parse(PayloadType::DELETE, &[3, 4, 0, 2, 1, 2, 3, 4]),
            Err(Error)
        );
        // IKE delete must have SPI size 0.
        assert_eq!(parse(PayloadType::DELETE, &[1, 4, 0, 0]), Err(Error));
        assert_eq!(parse(PayloadType::PS, &[0; 5]), Err(Error));
        // Fragment 0, and fragment 3 of 2.
        assert_eq!(parse(PayloadType::SKF, &[0, 0, 0, 1]), Err(Error));
        assert_eq!(parse(PayloadType::SKF, &[0, 3, 0, 2]), Err(Error));
    }

    #[test]
    fn id_body_is_type_reserved_data() {
        let id = IdPayload::key_id(b"group");
        assert_eq!(id.body(), b"\x0b\0\0\0group");
    }
}
