//! IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" registries as open newtypes.
//!
//! Style rule 6 (rustls `enum_builder!`): every registry is a newtype over its wire integer
//! with associated consts, so values this crate does not know still parse, compare and
//! re-emit unchanged. That matters twice in IKEv2: an unknown payload type must survive
//! until the critical-bit decision (RFC 7296 §2.5), and unknown notify or transform values
//! must be ignored or declined, never turned into a parse error (RFC 7296 §3.10.1, §3.3.6).
//! `Debug` prints the IANA name for known values and the hex value otherwise.

use std::fmt;

/// Declares a registry newtype, its named values, `name()` and a naming `Debug`.
macro_rules! registry {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($repr:ty);
        $( $(#[$cmeta:meta])* $konst:ident = $val:literal, )*
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: Self = Self($val); )*

            /// The IANA name of this value, or `None` if this crate does not know it.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(stringify!($konst)), )*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, concat!(stringify!($name), "({:#x})"), self.0),
                }
            }
        }
    };
}

registry! {
    /// Exchange Type of the IKE header (RFC 7296 §3.1): which request/response pair a
    /// message belongs to.
    pub struct ExchangeType(u8);
    /// Negotiates algorithms, exchanges nonces and DH values (RFC 7296 §1.2).
    IKE_SA_INIT = 34,
    /// Authenticates the peers and creates the first Child SA (RFC 7296 §1.2).
    IKE_AUTH = 35,
    /// Creates or rekeys a Child SA, or rekeys the IKE SA (RFC 7296 §1.3).
    CREATE_CHILD_SA = 36,
    /// Notifications, deletes and liveness checks (RFC 7296 §1.4).
    INFORMATIONAL = 37,
    /// Ticket-based session resumption (RFC 5723 §4).
    IKE_SESSION_RESUME = 38,
    /// Intermediate exchange between IKE_SA_INIT and IKE_AUTH (RFC 9242).
    IKE_INTERMEDIATE = 43,
}

registry! {
    /// Payload Type, as carried in every Next Payload field (RFC 7296 §3.2). Values 1-32
    /// are reserved so that IKEv1 payload numbers never collide.
    pub struct PayloadType(u8);
    /// No next payload: the chain ends (RFC 7296 §3.2).
    NO_NEXT_PAYLOAD = 0,
    /// Security Association (RFC 7296 §3.3).
    SA = 33,
    /// Key Exchange (RFC 7296 §3.4).
    KE = 34,
    /// Identification - Initiator (RFC 7296 §3.5).
    IDI = 35,
    /// Identification - Responder (RFC 7296 §3.5).
    IDR = 36,
    /// Certificate (RFC 7296 §3.6); not modelled, carried as an unknown payload.
    CERT = 37,
    /// Certificate Request (RFC 7296 §3.7); not modelled, carried as an unknown payload.
    CERTREQ = 38,
    /// Authentication (RFC 7296 §3.8).
    AUTH = 39,
    /// Nonce, Ni or Nr (RFC 7296 §3.9).
    NONCE = 40,
    /// Notify (RFC 7296 §3.10).
    NOTIFY = 41,
    /// Delete (RFC 7296 §3.11).
    DELETE = 42,
    /// Vendor ID (RFC 7296 §3.12).
    VENDOR_ID = 43,
    /// Traffic Selector - Initiator (RFC 7296 §3.13).
    TSI = 44,
    /// Traffic Selector - Responder (RFC 7296 §3.13).
    TSR = 45,
    /// Encrypted and Authenticated, SK (RFC 7296 §3.14).
    SK = 46,
    /// Configuration (RFC 7296 §3.15).
    CP = 47,
    /// Extensible Authentication (RFC 7296 §3.16); not modelled.
    EAP = 48,
    /// Encrypted and Authenticated Fragment, SKF (RFC 7383 §2.5).
    SKF = 53,
    /// Puzzle Solution (RFC 8019 §8.2).
    PS = 54,
}

registry! {
    /// Notify Message Type (RFC 7296 §3.10.1). Below 16384 are errors (an unknown error in
    /// a response means the request failed); from 16384 on are status types (unknown ones
    /// are ignored).
    pub struct NotifyType(u16);
    /// A critical payload was not understood; data = its one-octet type (RFC 7296 §2.5).
    UNSUPPORTED_CRITICAL_PAYLOAD = 1,
    /// The SPIs name no IKE SA we know (RFC 7296 §2.21.4).
    INVALID_IKE_SPI = 4,
    /// Major version higher than ours; data = our highest version (RFC 7296 §2.5).
    INVALID_MAJOR_VERSION = 5,
    /// Malformed message inside a valid encrypted payload (RFC 7296 §2.21.3).
    INVALID_SYNTAX = 7,
    /// Message ID outside the window; data = the 4-octet ID (RFC 7296 §2.3).
    INVALID_MESSAGE_ID = 9,
    /// ESP/AH packet for an SPI we do not know (RFC 7296 §1.5).
    INVALID_SPI = 11,
    /// No acceptable proposal (RFC 7296 §2.7).
    NO_PROPOSAL_CHOSEN = 14,
    /// KE group not the selected one; data = the 2-octet group wanted (RFC 7296 §1.2).
    INVALID_KE_PAYLOAD = 17,
    /// AUTH did not verify (RFC 7296 §2.21.2).
    AUTHENTICATION_FAILED = 24,
    /// Traffic selectors must be a single pair (RFC 7296 §2.9).
    SINGLE_PAIR_REQUIRED = 34,
    /// No more Child SAs on this IKE SA (RFC 7296 §1.3).
    NO_ADDITIONAL_SAS = 35,
    /// No internal address could be assigned (RFC 7296 §3.15.4).
    INTERNAL_ADDRESS_FAILURE = 36,
    /// A CP payload was required and missing (RFC 7296 §3.15.4).
    FAILED_CP_REQUIRED = 37,
    /// Traffic selectors not acceptable (RFC 7296 §2.9).
    TS_UNACCEPTABLE = 38,
    /// Packet selectors do not match the SA (RFC 7296 §3.10.1).
    INVALID_SELECTORS = 39,
    /// MOBIKE: the new address pair is not acceptable (RFC 4555 §4.1.1).
    UNACCEPTABLE_ADDRESSES = 40,
    /// MOBIKE: a NAT was detected where NO_NATS_ALLOWED said none (RFC 4555 §4.1.2).
    UNEXPECTED_NAT_DETECTED = 41,
    /// Transient failure, retry later, e.g. during a rekey collision (RFC 7296 §2.25).
    TEMPORARY_FAILURE = 43,
    /// The Child SA to rekey does not exist (RFC 7296 §2.25).
    CHILD_SA_NOT_FOUND = 44,
    /// First IKE SA with this peer: delete stale state (RFC 7296 §2.4).
    INITIAL_CONTACT = 16384,
    /// Sender's window size; data = 4 octets (RFC 7296 §2.3).
    SET_WINDOW_SIZE = 16385,
    /// Responder narrowed the traffic selectors (RFC 7296 §2.9).
    ADDITIONAL_TS_POSSIBLE = 16386,
    /// IP compression supported; data = CPI and transform (RFC 7296 §2.22).
    IPCOMP_SUPPORTED = 16387,
    /// SHA-1 of SPIs, source address and port (RFC 7296 §2.23).
    NAT_DETECTION_SOURCE_IP = 16388,
    /// SHA-1 of SPIs, destination address and port (RFC 7296 §2.23).
    NAT_DETECTION_DESTINATION_IP = 16389,
    /// Stateless cookie, 1..64 octets; must be the first payload (RFC 7296 §2.6).
    COOKIE = 16390,
    /// Request a transport-mode Child SA (RFC 7296 §1.3.1).
    USE_TRANSPORT_MODE = 16391,
    /// Use HTTP URLs for certificates (RFC 7296 §3.6).
    HTTP_CERT_LOOKUP_SUPPORTED = 16392,
    /// Rekeys the Child SA whose SPI is in the SPI field (RFC 7296 §1.3.3).
    REKEY_SA = 16393,
    /// ESP with TFC padding not supported (RFC 7296 §1.3.1).
    ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
    /// Only the first fragment of a fragmented packet is sent (RFC 7296 §1.3.1).
    NON_FIRST_FRAGMENTS_ALSO = 16395,
    /// MOBIKE supported (RFC 4555 §4.2.1).
    MOBIKE_SUPPORTED = 16396,
    /// MOBIKE: another IPv4 address of the sender; data = 4 octets (RFC 4555 §4.2.2).
    ADDITIONAL_IP4_ADDRESS = 16397,
    /// MOBIKE: another IPv6 address of the sender; data = 16 octets (RFC 4555 §4.2.2).
    ADDITIONAL_IP6_ADDRESS = 16398,
    /// MOBIKE: the sender has no other addresses (RFC 4555 §4.2.3).
    NO_ADDITIONAL_ADDRESSES = 16399,
    /// MOBIKE: move the SAs to the addresses of this message (RFC 4555 §4.2.4).
    UPDATE_SA_ADDRESSES = 16400,
    /// MOBIKE return-routability cookie, 8..64 octets, echoed (RFC 4555 §4.2.5).
    COOKIE2 = 16401,
    /// MOBIKE: addresses and ports as sent, so NATs are detectable (RFC 4555 §4.2.6).
    NO_NATS_ALLOWED = 16402,
    /// Seconds until the peer must reauthenticate (RFC 4478 §3).
    AUTH_LIFETIME = 16403,
    /// Several authentications supported (RFC 4739).
    MULTIPLE_AUTH_SUPPORTED = 16404,
    /// Another authentication follows (RFC 4739).
    ANOTHER_AUTH_FOLLOWS = 16405,
    /// Redirect supported (RFC 5685 §9.1).
    REDIRECT_SUPPORTED = 16406,
    /// Go to another gateway (RFC 5685 §9.2).
    REDIRECT = 16407,
    /// Redirected from this gateway (RFC 5685 §9.3).
    REDIRECTED_FROM = 16408,
    /// Resumption ticket lifetime and opaque ticket (RFC 5723 §6.2).
    TICKET_LT_OPAQUE = 16409,
    /// Ask for a resumption ticket (RFC 5723 §6.2).
    TICKET_REQUEST = 16410,
    /// Resumption ticket accepted (RFC 5723 §6.2).
    TICKET_ACK = 16411,
    /// Resumption ticket refused (RFC 5723 §6.2).
    TICKET_NACK = 16412,
    /// Opaque resumption ticket (RFC 5723 §6.2).
    TICKET_OPAQUE = 16413,
    /// HA: Message ID sync supported (RFC 6311 §6.1).
    IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420,
    /// HA: replay counter sync supported (RFC 6311 §6.2; the RFC's own spelling).
    IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED = 16421,
    /// HA: Message ID sync; data = nonce, next send ID, next receive ID (RFC 6311 §6.3).
    IKEV2_MESSAGE_ID_SYNC = 16422,
    /// HA: replay counter delta, 4 or 8 octets (RFC 6311 §6.4).
    IPSEC_REPLAY_COUNTER_SYNC = 16423,
    /// Fragmentation supported (RFC 7383 §2.3).
    IKEV2_FRAGMENTATION_SUPPORTED = 16430,
    /// Hash algorithms for signatures (RFC 7427 §4).
    SIGNATURE_HASH_ALGORITHMS = 16431,
    /// Puzzle: PRF transform ID (2) and difficulty (1) (RFC 8019 §8.1).
    PUZZLE = 16434,
    /// Post-quantum preshared key in use (RFC 8784).
    USE_PPK = 16435,
    /// Post-quantum preshared key identity (RFC 8784).
    PPK_IDENTITY = 16436,
    /// AUTH computed without the PPK (RFC 8784).
    NO_PPK_AUTH = 16437,
    /// IKE_INTERMEDIATE supported (RFC 9242).
    INTERMEDIATE_EXCHANGE_SUPPORTED = 16438,
}

impl NotifyType {
    /// Whether this is an error type (0..16383): an unknown error in a response means the
    /// request failed (RFC 7296 §3.10.1).
    pub const fn is_error(self) -> bool {
        self.0 < 16384
    }
}

registry! {
    /// Transform Type of an SA transform (RFC 7296 §3.3.2).
    pub struct TransformType(u8);
    /// Encryption algorithm (RFC 7296 §3.3.2).
    ENCR = 1,
    /// Pseudorandom function (RFC 7296 §3.3.2).
    PRF = 2,
    /// Integrity algorithm; absent or NONE with AEAD ciphers (RFC 5282 §8).
    INTEG = 3,
    /// Diffie-Hellman group (RFC 7296 §3.3.2; "Key Exchange Method" since RFC 9370).
    DH = 4,
    /// Extended Sequence Numbers (RFC 7296 §3.3.2).
    ESN = 5,
}

registry! {
    /// Security Protocol ID of proposals, notifies and deletes (RFC 7296 §3.3.1).
    pub struct ProtocolId(u8);
    /// No protocol: notifies that concern no particular SA (RFC 7296 §3.10).
    NONE = 0,
    /// The IKE SA itself (RFC 7296 §3.3.1).
    IKE = 1,
    /// Authentication Header (RFC 4302).
    AH = 2,
    /// Encapsulating Security Payload (RFC 4303).
    ESP = 3,
}

registry! {
    /// ID Type of IDi/IDr (RFC 7296 §3.5).
    pub struct IdType(u8);
    /// One 4-octet IPv4 address.
    IPV4_ADDR = 1,
    /// A fully qualified domain name, no terminator.
    FQDN = 2,
    /// An RFC 822 email address.
    RFC822_ADDR = 3,
    /// One 16-octet IPv6 address.
    IPV6_ADDR = 5,
    /// A DER X.500 Distinguished Name.
    DER_ASN1_DN = 9,
    /// A DER X.509 GeneralName.
    DER_ASN1_GN = 10,
    /// Opaque octets, e.g. a group name for PSK setups.
    KEY_ID = 11,
}

registry! {
    /// Auth Method of the AUTH payload (RFC 7296 §3.8).
    pub struct AuthMethod(u8);
    /// RSA digital signature with SHA-1 (RFC 7296 §3.8).
    RSA_SIG = 1,
    /// Shared Key Message Integrity Code: the PSK method of RFC 7296 §2.15.
    SHARED_KEY_MIC = 2,
    /// DSS digital signature (RFC 7296 §3.8).
    DSS_SIG = 3,
    /// ECDSA with SHA-256 on P-256 (RFC 4754).
    ECDSA_SHA256_P256 = 9,
    /// ECDSA with SHA-384 on P-384 (RFC 4754).
    ECDSA_SHA384_P384 = 10,
    /// ECDSA with SHA-512 on P-521 (RFC 4754).
    ECDSA_SHA512_P521 = 11,
    /// Generic digital signature (RFC 7427).
    DIGITAL_SIGNATURE = 14,
}

registry! {
    /// CFG Type of the CP payload (RFC 7296 §3.15).
    pub struct CfgType(u8);
    /// Initiator asks for attributes (CFG_REQUEST).
    REQUEST = 1,
    /// Responder's answer (CFG_REPLY).
    REPLY = 2,
    /// Unsolicited setting (CFG_SET).
    SET = 3,
    /// Acknowledges a CFG_SET (CFG_ACK).
    ACK = 4,
}

registry! {
    /// Configuration attribute type inside CP (RFC 7296 §3.15.1).
    pub struct CfgAttributeType(u16);
    /// Internal IPv4 address, 0 or 4 octets.
    INTERNAL_IP4_ADDRESS = 1,
    /// Internal IPv4 netmask, 0 or 4 octets.
    INTERNAL_IP4_NETMASK = 2,
    /// Internal IPv4 DNS server, 0 or 4 octets.
    INTERNAL_IP4_DNS = 3,
    /// Internal IPv4 NetBIOS name server, 0 or 4 octets.
    INTERNAL_IP4_NBNS = 4,
    /// Internal IPv4 DHCP server, 0 or 4 octets.
    INTERNAL_IP4_DHCP = 6,
    /// Application version string.
    APPLICATION_VERSION = 7,
    /// Internal IPv6 address and prefix length, 0 or 17 octets.
    INTERNAL_IP6_ADDRESS = 8,
    /// Internal IPv6 DNS server, 0 or 16 octets.
    INTERNAL_IP6_DNS = 10,
    /// Internal IPv6 DHCP server, 0 or 16 octets.
    INTERNAL_IP6_DHCP = 12,
    /// Protected IPv4 subnet, 0 or 8 octets.
    INTERNAL_IP4_SUBNET = 13,
    /// List of supported attribute types.
    SUPPORTED_ATTRIBUTES = 14,
    /// Protected IPv6 subnet, 0 or 17 octets.
    INTERNAL_IP6_SUBNET = 15,
}

/// Transform ID within its [`TransformType`] (RFC 7296 §3.3.2).
///
/// The number space is per transform type (5 is `PRF_HMAC_SHA2_256` among PRFs and the
/// 1536-bit MODP group among DH groups), so the consts carry the type as a prefix and the
/// name lookup takes the type: [`TransformId::name`]. `Debug` alone prints the number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransformId(pub u16);

impl TransformId {
    /// AES-CBC (RFC 3602); needs an INTEG transform.
    pub const ENCR_AES_CBC: Self = Self(12);
    /// AES-GCM with a 16-octet ICV (RFC 5282 §7.2; RFC 4106 for ESP); needs Key Length.
    pub const ENCR_AES_GCM_16: Self = Self(20);
    /// ChaCha20-Poly1305 (RFC 7634).
    pub const ENCR_CHACHA20_POLY1305: Self = Self(28);
    /// HMAC-SHA1 PRF (RFC 2104).
    pub const PRF_HMAC_SHA1: Self = Self(2);
    /// HMAC-SHA2-256 PRF (RFC 4868): our PRF.
    pub const PRF_HMAC_SHA2_256: Self = Self(5);
    /// HMAC-SHA2-384 PRF (RFC 4868).
    pub const PRF_HMAC_SHA2_384: Self = Self(6);
    /// HMAC-SHA2-512 PRF (RFC 4868).
    pub const PRF_HMAC_SHA2_512: Self = Self(7);
    /// No integrity transform, allowed with AEAD ciphers (RFC 7296 §3.3.2).
    pub const INTEG_NONE: Self = Self(0);
    /// HMAC-SHA1-96 (RFC 2404).
    pub const INTEG_HMAC_SHA1_96: Self = Self(2);
    /// HMAC-SHA2-256-128 (RFC 4868).
    pub const INTEG_HMAC_SHA2_256_128: Self = Self(12);
    /// No DH group, e.g. a Child SA without PFS (RFC 7296 §3.3.2).
    pub const DH_NONE: Self = Self(0);
    /// 2048-bit MODP group (RFC 3526).
    pub const DH_MODP_2048: Self = Self(14);
    /// 256-bit random ECP group, P-256 (RFC 5903).
    pub const DH_ECP_256: Self = Self(19);
    /// 384-bit random ECP group, P-384 (RFC 5903).
    pub const DH_ECP_384: Self = Self(20);
    /// Curve25519, X25519 (RFC 8031): our default group.
    pub const DH_CURVE25519: Self = Self(31);
    /// Curve448, X448 (RFC 8031).
    pub const DH_CURVE448: Self = Self(32);
    /// No extended sequence numbers (RFC 7296 §3.3.2).
    pub const ESN_NONE: Self = Self(0);
    /// Extended (64-bit) sequence numbers (RFC 7296 §3.3.2).
    pub const ESN_ENABLED: Self = Self(1);

    /// The IANA name of this ID within transform type `ty`, or `None` if unknown.
    pub const fn name(self, ty: TransformType) -> Option<&'static str> {
        Some(match (ty.0, self.0) {
            (1, 12) => "ENCR_AES_CBC",
            (1, 20) => "ENCR_AES_GCM_16",
            (1, 28) => "ENCR_CHACHA20_POLY1305",
            (2, 2) => "PRF_HMAC_SHA1",
            (2, 5) => "PRF_HMAC_SHA2_256",
            (2, 6) => "PRF_HMAC_SHA2_384",
            (2, 7) => "PRF_HMAC_SHA2_512",
            (3, 0) => "INTEG_NONE",
            (3, 2) => "INTEG_HMAC_SHA1_96",
            (3, 12) => "INTEG_HMAC_SHA2_256_128",
            (4, 0) => "DH_NONE",
            (4, 14) => "DH_MODP_2048",
            (4, 19) => "DH_ECP_256",
            (4, 20) => "DH_ECP_384",
            (4, 31) => "DH_CURVE25519",
            (4, 32) => "DH_CURVE448",
            (5, 0) => "ESN_NONE",
            (5, 1) => "ESN_ENABLED",
            _ => return None,
        })
    }
}

impl fmt::Debug for TransformId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransformId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_known_values_and_hex_otherwise() {
        assert_eq!(format!("{:?}", NotifyType::COOKIE), "COOKIE");
        assert_eq!(format!("{:?}", NotifyType(16500)), "NotifyType(0x4074)");
        assert_eq!(format!("{:?}", PayloadType(99)), "PayloadType(0x63)");
        assert_eq!(format!("{:?}", ExchangeType::IKE_AUTH), "IKE_AUTH");
    }

    #[test]
    fn transform_names_depend_on_type() {
        assert_eq!(
            TransformId(5).name(TransformType::PRF),
            Some("PRF_HMAC_SHA2_256")
        );
        assert_eq!(TransformId(5).name(TransformType::ESN), None);
        assert!(NotifyType::INVALID_SYNTAX.is_error());
        assert!(!NotifyType::COOKIE.is_error());
    }
}
