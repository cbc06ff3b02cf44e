//! Traffic Selector payload body, TSi/TSr (RFC 7296 §3.13; protocol.md 1.6).
//!
//! Selectors say which packets a Child SA carries: an IP protocol, a port range and an
//! address range. The address family is part of the TS Type, so [`AddressRange`] is an
//! enum and a selector can never mix families.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::codec::{Reader, put_u16};
use crate::wire::{Error, IpProtocol, Result};

/// TS Type of an IPv4 address range (RFC 7296 §3.13.1).
const TS_IPV4_ADDR_RANGE: u8 = 7;
/// TS Type of an IPv6 address range (RFC 7296 §3.13.1).
const TS_IPV6_ADDR_RANGE: u8 = 8;
/// Selector Length of an IPv4 selector: 8 + 2 × 4.
const IPV4_SELECTOR_LEN: u16 = 16;
/// Selector Length of an IPv6 selector: 8 + 2 × 16.
const IPV6_SELECTOR_LEN: u16 = 40;

/// TSi or TSr payload: the selectors, ORed (RFC 7296 §3.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsPayload {
    /// The selectors.
    pub selectors: Vec<TrafficSelector>,
}

/// One traffic selector (RFC 7296 §3.13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP protocol; `IpProtocol(0)` means any.
    pub ip_protocol: IpProtocol,
    /// First port of the range (0 with `end_port` 65535 means any).
    pub start_port: u16,
    /// Last port of the range, inclusive.
    pub end_port: u16,
    /// The address range, inclusive.
    pub addresses: AddressRange,
}

/// An inclusive address range of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressRange {
    /// TS_IPV4_ADDR_RANGE.
    V4 {
        /// First address.
        start: Ipv4Addr,
        /// Last address.
        end: Ipv4Addr,
    },
    /// TS_IPV6_ADDR_RANGE.
    V6 {
        /// First address.
        start: Ipv6Addr,
        /// Last address.
        end: Ipv6Addr,
    },
}

impl TrafficSelector {
    /// All protocols and ports between IPv4 addresses `start..=end`.
    pub const fn ipv4(start: Ipv4Addr, end: Ipv4Addr) -> Self {
        Self {
            ip_protocol: IpProtocol(0),
            start_port: 0,
            end_port: u16::MAX,
            addresses: AddressRange::V4 { start, end },
        }
    }

    /// Every IPv4 packet: 0.0.0.0-255.255.255.255, all protocols and ports.
    pub const fn ipv4_any() -> Self {
        Self::ipv4(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST)
    }

    /// Parses one selector.
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let ts_type = r.u8()?;
        let ip_protocol = IpProtocol(r.u8()?);
        let len = r.u16()?;
        let start_port = r.u16()?;
        let end_port = r.u16()?;
        let addresses = match (ts_type, len) {
            (TS_IPV4_ADDR_RANGE, IPV4_SELECTOR_LEN) => AddressRange::V4 {
                start: Ipv4Addr::from(r.array::<4>()?),
                end: Ipv4Addr::from(r.array::<4>()?),
            },
            (TS_IPV6_ADDR_RANGE, IPV6_SELECTOR_LEN) => AddressRange::V6 {
                start: Ipv6Addr::from(r.array::<16>()?),
                end: Ipv6Addr::from(r.array::<16>()?),
            },
            _ => return Err(Error),
        };
        Ok(Self {
            ip_protocol,
            start_port,
            end_port,
            addresses,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        let (ts_type, len) = match self.addresses {
            AddressRange::V4 { .. } => (TS_IPV4_ADDR_RANGE, IPV4_SELECTOR_LEN),
            AddressRange::V6 { .. } => (TS_IPV6_ADDR_RANGE, IPV6_SELECTOR_LEN),
        };
        out.extend_from_slice(&[ts_type, self.ip_protocol.0]);
        put_u16(out, len);
        put_u16(out, self.start_port);
        put_u16(out, self.end_port);
        match self.addresses {
            AddressRange::V4 { start, end } => {
                out.extend_from_slice(&start.octets());
                out.extend_from_slice(&end.octets());
            }
            AddressRange::V6 { start, end } => {
                out.extend_from_slice(&start.octets());
                out.extend_from_slice(&end.octets());
            }
        }
    }
}

impl TsPayload {
    /// Parses a TS payload body: the count must match the selectors present.
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let count = r.u8()?;
        let _reserved = r.take(3)?;
        let mut selectors = Vec::new();
        while !r.is_empty() {
            selectors.push(TrafficSelector::parse(r)?);
        }
        if selectors.len() != usize::from(count) {
            return Err(Error);
        }
        Ok(Self { selectors })
    }

    /// Appends the body.
    ///
    /// # Panics
    ///
    /// With more than 255 selectors.
    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        let count = u8::try_from(self.selectors.len()).expect("more than 255 selectors");
        out.extend_from_slice(&[count, 0, 0, 0]);
        for selector in &self.selectors {
            selector.emit(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_ipv6_round_trip() {
        let ts = TsPayload {
            selectors: vec![
                TrafficSelector::ipv4_any(),
                TrafficSelector {
                    ip_protocol: IpProtocol::UDP,
                    start_port: 500,
                    end_port: 4500,
                    addresses: AddressRange::V6 {
                        start: Ipv6Addr::LOCALHOST,
                        end: Ipv6Addr::LOCALHOST,
                    },
                },
            ],
        };
        let mut out = Vec::new();
        ts.emit(&mut out);
        assert_eq!(out.len(), 4 + 16 + 40);
        assert_eq!(
            &out[..20],
            &[
                1 + 1,
                0,
                0,
                0,
                7,
                0,
                0,
                16,
                0,
                0,
                0xff,
                0xff,
                0,
                0,
                0,
                0,
                255,
                255,
                255,
                255
            ][..]
        );
        assert_eq!(TsPayload::parse(&mut Reader::new(&out)), Ok(ts));
    }

    #[test]
    fn lengths_are_checked() {
        let mut out = Vec::new();
        TsPayload {
            selectors: vec![TrafficSelector::ipv4_any()],
        }
        .emit(&mut out);
        let mut bad = out.clone();
        bad[7] = 40; // IPv4 type with the IPv6 length
        assert_eq!(TsPayload::parse(&mut Reader::new(&bad)), Err(Error));
        let mut bad = out.clone();
        bad[0] = 2; // count says two
        assert_eq!(TsPayload::parse(&mut Reader::new(&bad)), Err(Error));
        assert_eq!(TsPayload::parse(&mut Reader::new(&out[..19])), Err(Error));
    }
}
