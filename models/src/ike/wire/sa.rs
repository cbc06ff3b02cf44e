//! The Security Association payload body: proposals, transforms, attributes (RFC 7296
//! §3.3; protocol.md 1.5).
//!
//! The wire layer checks structure only: Last Substruc values, every length, the
//! transform count. Negotiation rules (mandatory transform types, AEAD without INTEG,
//! proposal numbering) are the state machine's, because a well-formed but unacceptable
//! proposal is answered with NO_PROPOSAL_CHOSEN, not treated as garbage.

use std::fmt;

use super::codec::{Reader, patch_len16, put_u16};
use super::{ProtocolId, TransformId, TransformType};
use crate::wire::{Error, Result};

/// Last Substruc value of a proposal followed by another (RFC 7296 §3.3.1).
const MORE_PROPOSALS: u8 = 2;
/// Last Substruc value of a transform followed by another (RFC 7296 §3.3.2).
const MORE_TRANSFORMS: u8 = 3;
/// Attribute Format bit: set for the 2-octet TV form (RFC 7296 §3.3.5).
const ATTRIBUTE_TV: u16 = 0x8000;
/// Attribute type Key Length, in bits, always TV (RFC 7296 §3.3.5).
const KEY_LENGTH: u16 = 14;

/// SA payload: the proposals, in order of preference (RFC 7296 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaPayload {
    /// At least one proposal.
    pub proposals: Vec<Proposal>,
}

/// One proposal: a protocol, the sender's SPI for it, and transforms that are ORed within
/// a type and ANDed across types (RFC 7296 §3.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal Num: 1, 2, ... in a request; the accepted number in a response.
    pub number: u8,
    /// Protocol ID: IKE, AH or ESP.
    pub protocol: ProtocolId,
    /// The sender's SPI: empty for the initial IKE SA, 8 octets for an IKE rekey, 4 for
    /// ESP/AH.
    pub spi: Vec<u8>,
    /// The transforms.
    pub transforms: Vec<Transform>,
}

impl Proposal {
    /// The transforms of one type, in proposal order.
    pub fn transforms_of(&self, ty: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms.iter().filter(move |t| t.ty == ty)
    }
}

/// One transform (RFC 7296 §3.3.2).
#[derive(Clone, PartialEq, Eq)]
pub struct Transform {
    /// Transform Type.
    pub ty: TransformType,
    /// Transform ID within the type.
    pub id: TransformId,
    /// The Key Length attribute in bits, required for AES-GCM (RFC 5282 §8).
    pub key_length: Option<u16>,
    /// Any other attributes. RFC 7296 §3.3.6: a transform with an attribute the receiver
    /// does not understand must be rejected, so negotiation should skip transforms where
    /// this is not empty.
    pub other_attributes: Vec<Attribute>,
}

impl Transform {
    /// A transform without attributes.
    pub const fn new(ty: TransformType, id: TransformId) -> Self {
        Self {
            ty,
            id,
            key_length: None,
            other_attributes: Vec::new(),
        }
    }

    /// The same transform with a Key Length attribute.
    #[must_use]
    pub const fn with_key_length(mut self, bits: u16) -> Self {
        self.key_length = Some(bits);
        self
    }
}

impl fmt::Debug for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Transform");
        d.field("ty", &self.ty);
        match self.id.name(self.ty) {
            Some(name) => d.field("id", &format_args!("{name}")),
            None => d.field("id", &self.id.0),
        };
        d.field("key_length", &self.key_length);
        if !self.other_attributes.is_empty() {
            d.field("other_attributes", &self.other_attributes);
        }
        d.finish()
    }
}

/// A transform attribute other than Key Length (RFC 7296 §3.3.5), kept so it round-trips
/// and so negotiation can decline the transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// TV form (AF = 1): a 2-octet value.
    Short {
        /// Attribute type, without the AF bit.
        ty: u16,
        /// The value.
        value: u16,
    },
    /// TLV form (AF = 0): a length-prefixed value.
    Long {
        /// Attribute type, without the AF bit.
        ty: u16,
        /// The value.
        value: Vec<u8>,
    },
}

impl SaPayload {
    /// Parses an SA payload body; at least one proposal, each well-formed.
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let mut proposals = Vec::new();
        loop {
            let last = r.u8()?;
            let _reserved = r.u8()?;
            let len = usize::from(r.u16()?);
            let mut body = r.sub(len.checked_sub(4).ok_or(Error)?)?;
            proposals.push(Proposal::parse(&mut body)?);
            body.finish()?;
            match (last, r.is_empty()) {
                (0, true) => return Ok(Self { proposals }),
                (MORE_PROPOSALS, false) => {}
                _ => return Err(Error),
            }
        }
    }

    /// Appends the SA payload body.
    ///
    /// # Panics
    ///
    /// If a proposal has more than 255 transforms or an SPI over 255 octets.
    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        for (i, proposal) in self.proposals.iter().enumerate() {
            let start = out.len();
            let last = i + 1 == self.proposals.len();
            out.extend_from_slice(&[if last { 0 } else { MORE_PROPOSALS }, 0, 0, 0]);
            proposal.emit(out);
            patch_len16(out, start + 2, start);
        }
    }
}

impl Proposal {
    /// Parses a proposal after its 4-octet substructure header.
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let number = r.u8()?;
        let protocol = ProtocolId(r.u8()?);
        let spi_size = usize::from(r.u8()?);
        let num_transforms = r.u8()?;
        let spi = r.take(spi_size)?.to_vec();
        let mut transforms = Vec::new();
        while !r.is_empty() {
            let last = r.u8()?;
            let _reserved = r.u8()?;
            let len = usize::from(r.u16()?);
            let mut body = r.sub(len.checked_sub(4).ok_or(Error)?)?;
            transforms.push(Transform::parse(&mut body)?);
            match (last, r.is_empty()) {
                (0, true) | (MORE_TRANSFORMS, false) => {}
                _ => return Err(Error),
            }
        }
        if transforms.len() != usize::from(num_transforms) {
            return Err(Error);
        }
        Ok(Self {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        let spi_size = u8::try_from(self.spi.len()).expect("SPI longer than 255 octets");
        let count = u8::try_from(self.transforms.len()).expect("more than 255 transforms");
        out.extend_from_slice(&[self.number, self.protocol.0, spi_size, count]);
        out.extend_from_slice(&self.spi);
        for (i, transform) in self.transforms.iter().enumerate() {
            let start = out.len();
            let last = i + 1 == self.transforms.len();
            out.extend_from_slice(&[if last { 0 } else { MORE_TRANSFORMS }, 0, 0, 0]);
            transform.emit(out);
            patch_len16(out, start + 2, start);
        }
    }
}

impl Transform {
    /// Parses a transform after its 4-octet substructure header, consuming `r`.
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let ty = TransformType(r.u8()?);
        let _reserved = r.u8()?;
        let id = TransformId(r.u16()?);
        let mut transform = Self::new(ty, id);
        while !r.is_empty() {
            let word = r.u16()?;
            let attr_ty = word & !ATTRIBUTE_TV;
            if word & ATTRIBUTE_TV != 0 {
                let value = r.u16()?;
                if attr_ty == KEY_LENGTH {
                    if transform.key_length.replace(value).is_some() {
                        return Err(Error);
                    }
                } else {
                    transform
                        .other_attributes
                        .push(Attribute::Short { ty: attr_ty, value });
                }
            } else {
                let len = usize::from(r.u16()?);
                let value = r.take(len)?.to_vec();
                transform
                    .other_attributes
                    .push(Attribute::Long { ty: attr_ty, value });
            }
        }
        Ok(transform)
    }

    fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.ty.0);
        out.push(0);
        put_u16(out, self.id.0);
        if let Some(bits) = self.key_length {
            put_u16(out, ATTRIBUTE_TV | KEY_LENGTH);
            put_u16(out, bits);
        }
        for attribute in &self.other_attributes {
            match attribute {
                Attribute::Short { ty, value } => {
                    put_u16(out, ATTRIBUTE_TV | ty);
                    put_u16(out, *value);
                }
                Attribute::Long { ty, value } => {
                    put_u16(out, ty & !ATTRIBUTE_TV);
                    let len = u16::try_from(value.len()).expect("attribute over 65535 octets");
                    put_u16(out, len);
                    out.extend_from_slice(value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of protocol.md 1.5 (AES-GCM-16-256, PRF-HMAC-SHA2-256, X25519),
    /// without the 4-octet generic payload header.
    static SA_BODY: [u8; 36] = [
        0x00, 0x00, 0x00, 0x24, 0x01, 0x01, 0x00, 0x03, // proposal
        0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x14, 0x80, 0x0e, 0x01, 0x00, // ENCR
        0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x05, // PRF
        0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x1f, // DH
    ];

    fn sa() -> SaPayload {
        SaPayload {
            proposals: vec![Proposal {
                number: 1,
                protocol: ProtocolId::IKE,
                spi: vec![],
                transforms: vec![
                    Transform::new(TransformType::ENCR, TransformId::ENCR_AES_GCM_16)
                        .with_key_length(256),
                    Transform::new(TransformType::PRF, TransformId::PRF_HMAC_SHA2_256),
                    Transform::new(TransformType::DH, TransformId::DH_CURVE25519),
                ],
            }],
        }
    }

    #[test]
    fn worked_example_round_trips() {
        let mut out = Vec::new();
        sa().emit(&mut out);
        assert_eq!(out, SA_BODY);
        assert_eq!(SaPayload::parse(&mut Reader::new(&SA_BODY)), Ok(sa()));
    }

    #[test]
    fn structure_is_checked() {
        let mut bad = SA_BODY;
        bad[0] = 2; // "more proposals" but none follow
        assert_eq!(SaPayload::parse(&mut Reader::new(&bad)), Err(Error));
        let mut bad = SA_BODY;
        bad[7] = 2; // transform count
        assert_eq!(SaPayload::parse(&mut Reader::new(&bad)), Err(Error));
        let mut bad = SA_BODY;
        bad[8] = 0; // "last transform" but more follow
        assert_eq!(SaPayload::parse(&mut Reader::new(&bad)), Err(Error));
        assert_eq!(SaPayload::parse(&mut Reader::new(&[])), Err(Error));
    }

    #[test]
    fn unknown_attributes_round_trip() {
        let mut transform = Transform::new(TransformType::ENCR, TransformId(1000));
        transform.other_attributes = vec![
            Attribute::Short { ty: 99, value: 7 },
            Attribute::Long {
                ty: 98,
                value: vec![1, 2, 3],
            },
        ];
        let mut out = Vec::new();
        transform.emit(&mut out);
        assert_eq!(Transform::parse(&mut Reader::new(&out)), Ok(transform));
    }
}
