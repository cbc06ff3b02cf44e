//! AES-GCM key material and the Wireshark key export.
//!
//! [`GcmKey`] is the keying material of one direction of one SA, for ESP (RFC 4106 §8.1)
//! and for IKE's SK_e (RFC 5282 §7.1) alike: a 32-octet AES-256 key followed by a 4-octet
//! salt.
//!
//! [`KeyLog`] collects the keys of every IKE SA and ESP SA that a run creates, and writes
//! them as Wireshark user access tables (UAT), so that
//! `WIRESHARK_CONFIG_DIR=DIR tshark -r capture.pcap` decrypts a capture. Verified against
//! Wireshark 4.0 (`models/tests/esp_wireshark.rs`):
//!
//! - `esp_sa`, one SA per line, eight quoted fields (`packet-ipsec.c`): protocol `"IPv4"`,
//!   source and destination IPv4 address (`"*"` matches any), SPI `"0x%08x"`, encryption
//!   `"AES-GCM with 16 octet ICV [RFC4106]"`, key `"0x"` + hex of key and salt,
//!   authentication `"NULL"`, authentication key `""`.
//! - `ikev2_decryption_table`, one IKE SA per line, eight fields (`packet-isakmp.c`):
//!   SPIi and SPIr, SK_ei and SK_er (key and salt) as unquoted hex, encryption
//!   `"AES-GCM-256 with 16 octet ICV [RFC5282]"`, SK_ai and SK_ar as `""` (AEAD has no
//!   integrity key), integrity `"NONE [RFC4306]"`.
//! - `preferences`: `esp.enable_encryption_decode: TRUE` and
//!   `esp.enable_authentication_check: TRUE` (both off by default). UDP port 4500 needs
//!   nothing: Wireshark's `udpencap` dissector owns it and applies the RFC 3948 rule.
//!
//! Wireshark 4.0 has no ESN setting for ESP SAs; it builds the 8-octet AAD, so it cannot
//! verify or decrypt AES-GCM SAs that negotiated ESN (RFC 4106 §5 puts the high bits into
//! the AAD).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

/// AES-256-GCM keying material of one direction: key and salt (RFC 4106 §8.1, RFC 5282
/// §7.1). `Debug` does not print the bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GcmKey {
    key: [u8; 32],
    salt: [u8; 4],
}

impl GcmKey {
    /// Octets of keying material taken from KEYMAT or `prf+` per direction: 32 key + 4
    /// salt (RFC 4106 §8.1; RFC 7296 §2.17 takes them in that order).
    pub const KEYMAT_LEN: usize = 36;

    /// A key from its parts.
    pub const fn new(key: [u8; 32], salt: [u8; 4]) -> Self {
        Self { key, salt }
    }

    /// Splits [`Self::KEYMAT_LEN`] octets of keying material into key and salt (the salt
    /// is the last four, RFC 4106 §8.1). `None` for any other length.
    pub fn from_keymat(keymat: &[u8]) -> Option<Self> {
        let keymat: &[u8; Self::KEYMAT_LEN] = keymat.try_into().ok()?;
        let (key, salt) = keymat.split_at(32);
        Some(Self {
            key: key.try_into().ok()?,
            salt: salt.try_into().ok()?,
        })
    }

    /// The AES-256 key.
    pub const fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The salt: the first four octets of every GCM nonce (RFC 4106 §4).
    pub const fn salt(&self) -> [u8; 4] {
        self.salt
    }

    /// Key then salt, as Wireshark wants them.
    fn hex(&self) -> String {
        hex(self.key.iter().chain(&self.salt))
    }
}

impl fmt::Debug for GcmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GcmKey(..)")
    }
}

/// The keys of one IKE SA with ENCR_AES_GCM_16 / 256-bit keys and no integrity
/// transform (RFC 5282), as the IKE layer derives them (RFC 7296 §2.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaKeys {
    /// Initiator's SPI, as in the IKE header.
    pub spi_i: u64,
    /// Responder's SPI.
    pub spi_r: u64,
    /// SK_ei: protects messages sent by the original initiator.
    pub sk_ei: GcmKey,
    /// SK_er: protects messages sent by the original responder.
    pub sk_er: GcmKey,
}

/// The key of one ESP SA (one direction) with AES-GCM-16 (RFC 4106).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspSaKeys {
    /// Outer source address as captured; `None` matches any. With a NAT on the path the
    /// address differs on each side of it, so loggers may leave it open.
    pub src: Option<Ipv4Addr>,
    /// Outer destination address as captured; `None` matches any.
    pub dst: Option<Ipv4Addr>,
    /// The SPI, as chosen by the receiver of this SA.
    pub spi: u32,
    /// Key and salt.
    pub key: GcmKey,
}

/// Every IKE and ESP SA key of a run, for Wireshark.
///
/// Both peers may log the same SA; entries are kept once, keyed by SPIs (and addresses),
/// and written in key order, so the files are deterministic.
#[derive(Debug, Clone, Default)]
pub struct KeyLog {
    ike: BTreeMap<(u64, u64), IkeSaKeys>,
    esp: BTreeMap<(u32, Option<Ipv4Addr>, Option<Ipv4Addr>), EspSaKeys>,
}

/// Wireshark 4.0's name of ENCR_AES_GCM_16 with a 256-bit key for IKEv2.
const IKE_ENCR: &str = "AES-GCM-256 with 16 octet ICV [RFC5282]";
/// Wireshark 4.0's name of "no integrity transform" for IKEv2.
const IKE_INTEG: &str = "NONE [RFC4306]";
/// Wireshark 4.0's name of ESP AES-GCM with a 16-octet ICV (any key size).
const ESP_ENCR: &str = "AES-GCM with 16 octet ICV [RFC4106]";
/// Wireshark 4.0's name of "no separate ESP authentication".
const ESP_AUTH: &str = "NULL";
/// First line of every file written.
const HEADER: &str = "# Written by ikesim; Wireshark 4.0 UAT format.\n";

impl KeyLog {
    /// File name of the IKEv2 table in a Wireshark configuration directory.
    pub const IKEV2_FILE: &'static str = "ikev2_decryption_table";
    /// File name of the ESP SA table.
    pub const ESP_FILE: &'static str = "esp_sa";
    /// File name of the preferences.
    pub const PREFERENCES_FILE: &'static str = "preferences";
    /// Preferences that make the ESP dissector use `esp_sa` and check ICVs.
    pub const PREFERENCES: &'static str = "# Written by ikesim.\n\
        esp.enable_encryption_decode: TRUE\n\
        esp.enable_authentication_check: TRUE\n";

    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an IKE SA's keys (replacing an entry with the same SPIs).
    pub fn log_ike_sa(&mut self, keys: IkeSaKeys) {
        self.ike.insert((keys.spi_i, keys.spi_r), keys);
    }

    /// Records an ESP SA's key (replacing an entry with the same SPI and addresses).
    pub fn log_esp_sa(&mut self, keys: EspSaKeys) {
        self.esp.insert((keys.spi, keys.src, keys.dst), keys);
    }

    /// Whether nothing was logged.
    pub fn is_empty(&self) -> bool {
        self.ike.is_empty() && self.esp.is_empty()
    }

    /// The `ikev2_decryption_table` file.
    pub fn ikev2_decryption_table(&self) -> String {
        let mut out = String::from(HEADER);
        for k in self.ike.values() {
            writeln!(
                out,
                "{:016x},{:016x},{},{},\"{IKE_ENCR}\",\"\",\"\",\"{IKE_INTEG}\"",
                k.spi_i,
                k.spi_r,
                k.sk_ei.hex(),
                k.sk_er.hex(),
            )
            .expect("writing to a String cannot fail");
        }
        out
    }

    /// The `esp_sa` file.
    pub fn esp_sa_table(&self) -> String {
        let addr = |a: Option<Ipv4Addr>| a.map_or_else(|| "*".to_owned(), |a| a.to_string());
        let mut out = String::from(HEADER);
        for k in self.esp.values() {
            writeln!(
                out,
                "\"IPv4\",\"{}\",\"{}\",\"0x{:08x}\",\"{ESP_ENCR}\",\"0x{}\",\"{ESP_AUTH}\",\"\"",
                addr(k.src),
                addr(k.dst),
                k.spi,
                k.key.hex(),
            )
            .expect("writing to a String cannot fail");
        }
        out
    }

    /// Adds every entry of `other` (the logs of several daemons make one file).
    pub fn extend(&mut self, other: &Self) {
        self.ike
            .extend(other.ike.iter().map(|(k, v)| (*k, v.clone())));
        self.esp
            .extend(other.esp.iter().map(|(k, v)| (*k, v.clone())));
    }

    /// Writes the two tables and the preferences into `dir` (created if missing), a
    /// directory to pass as `WIRESHARK_CONFIG_DIR`.
    pub fn write_wireshark_config(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(Self::IKEV2_FILE), self.ikev2_decryption_table())?;
        std::fs::write(dir.join(Self::ESP_FILE), self.esp_sa_table())?;
        std::fs::write(dir.join(Self::PREFERENCES_FILE), Self::PREFERENCES)
    }
}

/// Lower-case hex of some octets.
fn hex<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> String {
    bytes.into_iter().fold(String::new(), |mut s, b| {
        write!(s, "{b:02x}").expect("writing to a String cannot fail");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fill: u8) -> GcmKey {
        let mut keymat = [fill; GcmKey::KEYMAT_LEN];
        keymat[32..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        GcmKey::from_keymat(&keymat).unwrap()
    }

    /// RFC 4106 §8.1: the salt is the last four octets of the keying material.
    #[test]
    fn test_from_keymat_splits_salt() {
        let k = key(0x11);
        assert_eq!(k.key(), &[0x11; 32]);
        assert_eq!(k.salt(), [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(GcmKey::from_keymat(&[0; 35]), None);
        assert_eq!(GcmKey::from_keymat(&[0; 37]), None);
        assert_eq!(format!("{k:?}"), "GcmKey(..)");
    }

    /// Field order of Wireshark 4.0's `ikev2_uat_flds`: SPIi, SPIr, SK_ei, SK_er,
    /// encryption algorithm, SK_ai, SK_ar, integrity algorithm.
    #[test]
    fn test_ikev2_table_format() {
        let mut log = KeyLog::new();
        let entry = IkeSaKeys {
            spi_i: 0x0102_0304_0506_0708,
            spi_r: 0x1112_1314_1516_1718,
            sk_ei: key(0xaa),
            sk_er: key(0xbb),
        };
        log.log_ike_sa(entry.clone());
        log.log_ike_sa(entry);
        let table = log.ikev2_decryption_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2, "header and one deduplicated entry");
        let expected = format!(
            "0102030405060708,1112131415161718,{}deadbeef,{}deadbeef,\
             \"AES-GCM-256 with 16 octet ICV [RFC5282]\",\"\",\"\",\"NONE [RFC4306]\"",
            "aa".repeat(32),
            "bb".repeat(32),
        );
        assert_eq!(lines[1], expected);
    }

    /// Field order of Wireshark 4.0's `esp_uat_flds`: protocol, source, destination, SPI,
    /// encryption algorithm, key, authentication algorithm, authentication key.
    #[test]
    fn test_esp_table_format() {
        let mut log = KeyLog::new();
        log.log_esp_sa(EspSaKeys {
            src: Some(Ipv4Addr::new(192, 0, 2, 1)),
            dst: None,
            spi: 0xc0ffee,
            key: key(0x01),
        });
        let table = log.esp_sa_table();
        let expected = format!(
            "\"IPv4\",\"192.0.2.1\",\"*\",\"0x00c0ffee\",\
             \"AES-GCM with 16 octet ICV [RFC4106]\",\"0x{}deadbeef\",\"NULL\",\"\"",
            "01".repeat(32),
        );
        assert_eq!(table.lines().nth(1), Some(expected.as_str()));
        assert!(!log.is_empty());
    }
}
