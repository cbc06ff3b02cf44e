//! IPv4 prefixes, shared by routing tables, firewall rules and on-path filters.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 prefix such as `192.0.2.0/24` (RFC 4632 §3.1 notation); host bits are cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    addr: Ipv4Addr,
    len: u8,
}

/// A prefix that is not `a.b.c.d/len` with `len` at most 32.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid IPv4 prefix {0:?}: expected a.b.c.d/len with len at most 32")]
pub struct PrefixError(pub String);

impl Prefix {
    /// The prefix of length `len` containing `addr`; host bits of `addr` are cleared.
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 32 {
            return Err(PrefixError(format!("{addr}/{len}")));
        }
        let addr = Ipv4Addr::from(u32::from(addr) & Self::mask(len));
        Ok(Self { addr, len })
    }

    /// The default route `0.0.0.0/0`.
    pub const DEFAULT: Self = Self {
        addr: Ipv4Addr::UNSPECIFIED,
        len: 0,
    };

    /// The single address `addr` (a /32).
    pub const fn host(addr: Ipv4Addr) -> Self {
        Self { addr, len: 32 }
    }

    /// The network address (host bits zero).
    pub const fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length in bits.
    pub const fn prefix_len(&self) -> u8 {
        self.len
    }

    /// The last address of the prefix (all host bits set).
    pub fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !Self::mask(self.len))
    }

    /// Whether `addr` lies in the prefix.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        (u32::from(addr) ^ u32::from(self.addr)) & Self::mask(self.len) == 0
    }

    /// The netmask of a prefix length (0 for /0).
    pub(crate) fn mask(len: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
    }
}

impl From<Ipv4Addr> for Prefix {
    fn from(addr: Ipv4Addr) -> Self {
        Self::host(addr)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    /// Parses `a.b.c.d/len`, or a bare address as a /32 (for scenario files).
    fn from_str(s: &str) -> Result<Self, PrefixError> {
        let err = || PrefixError(s.to_owned());
        let (addr, len) = s.split_once('/').unwrap_or((s, "32"));
        let addr = addr.parse().map_err(|_| err())?;
        let len = len.parse().map_err(|_| err())?;
        Self::new(addr, len).map_err(|_| err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_print_and_contain() {
        let p: Prefix = "192.0.2.77/24".parse().unwrap();
        assert_eq!(p.to_string(), "192.0.2.0/24");
        assert!(p.contains(Ipv4Addr::new(192, 0, 2, 255)));
        assert!(!p.contains(Ipv4Addr::new(192, 0, 3, 0)));
        let all: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::BROADCAST));
        let host: Prefix = "10.1.2.3".parse().unwrap();
        assert_eq!(host, Prefix::host(Ipv4Addr::new(10, 1, 2, 3)));
        assert!(!host.contains(Ipv4Addr::new(10, 1, 2, 4)));
        for bad in ["10.0.0.0/33", "10.0.0/8", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
    }
}
