//! Configuration payload body, CP (RFC 7296 §3.15; protocol.md 1.6).
//!
//! Remote-access clients ask for an inner address with CFG_REQUEST and get it in the
//! CFG_REPLY. Attribute values are kept as octets (an empty value in a request means
//! "give me one"); [`CfgAttribute::ipv4`] reads the common 4-octet form.

use std::net::Ipv4Addr;

use super::codec::{Reader, put_u16};
use super::{CfgAttributeType, CfgType};
use crate::wire::Result;

/// The reserved top bit of the attribute type word (RFC 7296 §3.15.1).
const ATTRIBUTE_RESERVED: u16 = 0x8000;

/// CP payload (RFC 7296 §3.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpPayload {
    /// Request, reply, set or ack.
    pub cfg_type: CfgType,
    /// The attributes, in order.
    pub attributes: Vec<CfgAttribute>,
}

/// One configuration attribute (RFC 7296 §3.15.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfgAttribute {
    /// Attribute type (the reserved bit is dropped on parse and sent as zero).
    pub ty: CfgAttributeType,
    /// The value; empty in a request for "any".
    pub value: Vec<u8>,
}

impl CfgAttribute {
    /// An attribute holding one IPv4 address, e.g. INTERNAL_IP4_ADDRESS in a reply.
    pub fn ipv4(ty: CfgAttributeType, addr: Ipv4Addr) -> Self {
        Self {
            ty,
            value: addr.octets().to_vec(),
        }
    }

    /// The value as an IPv4 address, if it is exactly 4 octets.
    pub fn as_ipv4(&self) -> Option<Ipv4Addr> {
        <[u8; 4]>::try_from(self.value.as_slice())
            .ok()
            .map(Ipv4Addr::from)
    }
}

impl CpPayload {
    /// Parses a CP payload body.
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let cfg_type = CfgType(r.u8()?);
        let _reserved = r.take(3)?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            let ty = CfgAttributeType(r.u16()? & !ATTRIBUTE_RESERVED);
            let len = usize::from(r.u16()?);
            let value = r.take(len)?.to_vec();
            attributes.push(CfgAttribute { ty, value });
        }
        Ok(Self {
            cfg_type,
            attributes,
        })
    }

    /// Appends the body.
    ///
    /// # Panics
    ///
    /// If an attribute value exceeds 65535 octets.
    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.cfg_type.0, 0, 0, 0]);
        for attribute in &self.attributes {
            put_u16(out, attribute.ty.0 & !ATTRIBUTE_RESERVED);
            let len = u16::try_from(attribute.value.len()).expect("attribute over 65535 octets");
            put_u16(out, len);
            out.extend_from_slice(&attribute.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Error;

    #[test]
    fn request_and_reply_round_trip() {
        let request = CpPayload {
            cfg_type: CfgType::REQUEST,
            attributes: vec![CfgAttribute {
                ty: CfgAttributeType::INTERNAL_IP4_ADDRESS,
                value: vec![],
            }],
        };
        let mut out = Vec::new();
        request.emit(&mut out);
        assert_eq!(out, [1, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(CpPayload::parse(&mut Reader::new(&out)), Ok(request));

        let addr = Ipv4Addr::new(10, 0, 0, 7);
        let reply = CpPayload {
            cfg_type: CfgType::REPLY,
            attributes: vec![CfgAttribute::ipv4(
                CfgAttributeType::INTERNAL_IP4_ADDRESS,
                addr,
            )],
        };
        let mut out = Vec::new();
        reply.emit(&mut out);
        let parsed = CpPayload::parse(&mut Reader::new(&out)).unwrap();
        assert_eq!(parsed.attributes[0].as_ipv4(), Some(addr));
        assert_eq!(
            CpPayload::parse(&mut Reader::new(&out[..out.len() - 1])),
            Err(Error)
        );
    }
}
