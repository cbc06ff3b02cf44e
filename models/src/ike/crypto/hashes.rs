//! Unkeyed-protocol hashes: NAT detection (RFC 7296 §2.23; protocol.md 1.13) and
//! stateless cookies (RFC 7296 §2.6; RFC 9329 §6.3; protocol.md 3.7).

use std::fmt;
use std::net::IpAddr;

use sha1::Sha1;
use sha2::{Digest, Sha256};
use sim::SimRng;

/// Length of a NAT_DETECTION_*_IP notify's data: a SHA-1 digest.
pub const NAT_DETECTION_LEN: usize = 20;
/// Octets of the cookie secret.
const COOKIE_SECRET_LEN: usize = 32;
/// Octets of the secret's version at the start of a cookie.
const COOKIE_VERSION_LEN: usize = 4;

/// `SHA-1(SPIi | SPIr | IP | port)`, the data of NAT_DETECTION_SOURCE_IP (with the
/// sender's address and port) and NAT_DETECTION_DESTINATION_IP (with the receiver's),
/// RFC 7296 §2.23. SPIs in header order; SPIr is zero in the IKE_SA_INIT request. Over
/// TCP the ports are the TCP connection's (RFC 9329 §6.5).
pub fn nat_detection_hash(
    spi_i: u64,
    spi_r: u64,
    addr: IpAddr,
    port: u16,
) -> [u8; NAT_DETECTION_LEN] {
    let mut hash = Sha1::new();
    hash.update(spi_i.to_be_bytes());
    hash.update(spi_r.to_be_bytes());
    match addr {
        IpAddr::V4(v4) => hash.update(v4.octets()),
        IpAddr::V6(v6) => hash.update(v6.octets()),
    }
    hash.update(port.to_be_bytes());
    hash.finalize().into()
}

/// Which parts of the initiator's address go into a cookie: the knob of RFC 9329 §6.3.
///
/// The compliant default binds the address but never the port: a retried IKE_SA_INIT
/// over TCP may come on a new connection with a new port. Binding the address can also
/// fail behind NATs that pick a new source address per connection, hence the second
/// knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CookiePolicy {
    /// Hash the initiator's IP address (RFC 7296 §2.6 does).
    pub include_address: bool,
    /// Hash the initiator's port (RFC 9329 §6.3: MUST NOT over TCP).
    pub include_port: bool,
}

impl Default for CookiePolicy {
    fn default() -> Self {
        Self {
            include_address: true,
            include_port: false,
        }
    }
}

/// What a cookie is bound to, from the initiator's IKE_SA_INIT request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieInput<'a> {
    /// Ni, the nonce data.
    pub ni: &'a [u8],
    /// The initiator's source address as seen by the responder.
    pub addr: IpAddr,
    /// The initiator's source port as seen by the responder.
    pub port: u16,
    /// SPIi.
    pub spi_i: u64,
}

/// A responder's cookie secret (RFC 7296 §2.6):
/// `cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)`, with SHA-256 and
/// a 4-octet version, 36 octets in all (within COOKIE's 1..64).
///
/// The responder changes the secret periodically and keeps the previous one for a while;
/// [`CookieSecret::version_of`] tells which one a returned cookie used.
#[derive(Clone, PartialEq, Eq)]
pub struct CookieSecret {
    version: u32,
    secret: [u8; COOKIE_SECRET_LEN],
}

impl CookieSecret {
    /// A fresh secret with version number `version`, drawn from `rng`.
    pub fn generate(version: u32, rng: &mut SimRng) -> Self {
        let mut secret = [0; COOKIE_SECRET_LEN];
        rng.fill_bytes(&mut secret);
        Self { version, secret }
    }

    /// This secret's version number.
    pub const fn version(&self) -> u32 {
        self.version
    }

    /// The version number a cookie claims, if it is long enough to have one.
    pub fn version_of(cookie: &[u8]) -> Option<u32> {
        let version = cookie.get(..COOKIE_VERSION_LEN)?;
        Some(u32::from_be_bytes(version.try_into().ok()?))
    }

    /// The cookie for `input` under `policy`.
    pub fn cookie(&self, policy: CookiePolicy, input: &CookieInput<'_>) -> Vec<u8> {
        let mut hash = Sha256::new();
        hash.update(input.ni);
        if policy.include_address {
            match input.addr {
                IpAddr::V4(v4) => hash.update(v4.octets()),
                IpAddr::V6(v6) => hash.update(v6.octets()),
            }
        }
        if policy.include_port {
            hash.update(input.port.to_be_bytes());
        }
        hash.update(input.spi_i.to_be_bytes());
        hash.update(self.secret);
        let mut cookie = self.version.to_be_bytes().to_vec();
        cookie.extend_from_slice(&hash.finalize());
        cookie
    }

    /// Whether `cookie` is the one this secret gives for `input` under `policy`.
    pub fn verify(&self, cookie: &[u8], policy: CookiePolicy, input: &CookieInput<'_>) -> bool {
        self.cookie(policy, input) == cookie
    }
}

impl fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieSecret")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn port_binding_follows_the_policy() {
        let secret = CookieSecret::generate(7, &mut SimRng::from_seed_u64(3));
        let input = CookieInput {
            ni: &[1; 32],
            addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            port: 50000,
            spi_i: 42,
        };
        let new_port = CookieInput {
            port: 50001,
            ..input
        };
        let compliant = CookiePolicy::default();
        let cookie = secret.cookie(compliant, &input);
        assert_eq!(cookie.len(), 36);
        assert_eq!(CookieSecret::version_of(&cookie), Some(7));
        assert!(secret.verify(&cookie, compliant, &new_port));

        let with_port = CookiePolicy {
            include_port: true,
            ..compliant
        };
        let cookie = secret.cookie(with_port, &input);
        assert!(secret.verify(&cookie, with_port, &input));
        assert!(!secret.verify(&cookie, with_port, &new_port));
    }
}
