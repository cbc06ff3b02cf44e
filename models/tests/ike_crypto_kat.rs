//! Known-answer tests for `models::ike::crypto`. Each vector says where it comes from.
//!
//! Published vectors: HMAC-SHA-256 from RFC 4231 §4, X25519 from RFC 7748 §5.2 and §6.1,
//! ECP-256 ECDH from RFC 5903 §8.1, AES-256-GCM from the GCM specification's test case 16
//! (McGrew and Viega, "The Galois/Counter Mode of Operation", 2005).
//!
//! IKEv2 derivations (prf+, SKEYSEED and the SK_* keys, Child SA KEYMAT with and without
//! PFS, IKE rekey, PSK AUTH, NAT-D) were computed independently by this Python script,
//! which uses only the standard library (`python3 derive.py`):
//!
//! ```python
//! import hashlib, hmac
//! def prf(k, s): return hmac.new(k, s, hashlib.sha256).digest()
//! def prf_plus(k, s, n):
//!     out, t, i = b"", b"", 1
//!     while len(out) < n:
//!         t = prf(k, t + s + bytes([i])); out += t; i += 1
//!     return out[:n]
//! h = bytes.fromhex
//! g_ir = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")  # RFC 7748 6.1
//! ni, nr = bytes(range(0, 32)), bytes(range(32, 64))
//! spi_i, spi_r = h("0011223344556677"), h("8899aabbccddeeff")
//! skeyseed = prf(ni + nr, g_ir)
//! km = prf_plus(skeyseed, ni + nr + spi_i + spi_r, 168)
//! print("prf+ 100:", prf_plus(b"key", b"seed", 100).hex())
//! print("SKEYSEED:", skeyseed.hex())
//! for name, a, b in [("SK_d", 0, 32), ("SK_ei", 32, 68), ("SK_er", 68, 104), ("SK_pi", 104, 136), ("SK_pr", 136, 168)]:
//!     print(name + ":", km[a:b].hex())
//! sk_d, sk_pi, sk_pr = km[0:32], km[104:136], km[136:168]
//! child = prf_plus(sk_d, ni + nr, 72)
//! print("child i->r:", child[:36].hex()); print("child r->i:", child[36:].hex())
//! g_ir2 = h("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")  # RFC 7748 5.2
//! ni2, nr2 = b"\x40" * 32, b"\x41" * 32
//! pfs = prf_plus(sk_d, g_ir2 + ni2 + nr2, 72)
//! print("pfs i->r:", pfs[:36].hex()); print("pfs r->i:", pfs[36:].hex())
//! skeyseed2 = prf(sk_d, g_ir2 + ni2 + nr2)
//! km2 = prf_plus(skeyseed2, ni2 + nr2 + h("1111111111111111") + h("2222222222222222"), 168)
//! print("rekey SKEYSEED:", skeyseed2.hex()); print("rekey SK_d:", km2[:32].hex()); print("rekey SK_pr:", km2[136:].hex())
//! psk = b"ikesim pre-shared key"
//! msg1 = bytes(i * 7 % 256 for i in range(208)); msg2 = bytes(i * 11 % 256 for i in range(200))
//! idi = b"\x02\x00\x00\x00client.example"; idr = b"\x01\x00\x00\x00\xc0\x00\x02\x01"
//! key = prf(psk, b"Key Pad for IKEv2")
//! print("AUTHi:", prf(key, msg1 + nr + prf(sk_pi, idi)).hex())
//! print("AUTHr:", prf(key, msg2 + ni + prf(sk_pr, idr)).hex())
//! print("NAT-D src:", hashlib.sha1(spi_i + bytes(8) + bytes([192, 0, 2, 1]) + (500).to_bytes(2, "big")).hexdigest())
//! print("NAT-D dst:", hashlib.sha1(spi_i + spi_r + bytes([198, 51, 100, 7]) + (4500).to_bytes(2, "big")).hexdigest())
//! ```

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::net::{IpAddr, Ipv4Addr};

use models::CryptoMode;
use models::esp::GcmKey;
use models::ike::crypto::{
    ChildSaKeys, DhGroup, DhSecret, IkeSaKeys, Prf, SkKey, nat_detection_hash, psk_auth,
    rekey_skeyseed, skeyseed,
};
use models::ike::wire::IdPayload;

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex32(s: &str) -> [u8; 32] {
    hex(s).try_into().unwrap()
}

/// RFC 4231 §4.2, §4.3, §4.4, §4.7 and §4.8 (test cases 1, 2, 3, 6, 7), HMAC-SHA-256.
#[test]
fn hmac_sha256_rfc4231() {
    let prf = Prf::HmacSha256;
    let cases: [(&[u8], &[u8], &str); 5] = [
        (
            &[0x0b; 20],
            b"Hi There",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            &[0xaa; 20],
            &[0xdd; 50],
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        ),
        (
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
        (
            &[0xaa; 131],
            b"This is a test using a larger than block-size key and a larger than block-size \
              data. The key needs to be hashed before being used by the HMAC algorithm.",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ),
    ];
    for (key, data, mac) in cases {
        assert_eq!(prf.compute(key, &[data]), hex(mac));
        // Split input gives the same MAC.
        let (a, b) = data.split_at(data.len() / 2);
        assert_eq!(prf.compute(key, &[a, b]), hex(mac));
    }
}

/// RFC 7748 §5.2: the two single-step X25519 vectors (scalar, u-coordinate, output).
#[test]
fn x25519_rfc7748_section_5_2() {
    let cases = [
        (
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
        ),
        (
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
        ),
    ];
    for (scalar, u, out) in cases {
        let secret = DhSecret::from_bytes(DhGroup::Curve25519, &hex32(scalar)).unwrap();
        assert_eq!(secret.shared(&hex(u)).unwrap(), hex(out));
    }
}

/// RFC 7748 §6.1: Alice and Bob's key pairs and shared secret.
#[test]
fn x25519_rfc7748_section_6_1() {
    let alice = DhSecret::from_bytes(
        DhGroup::Curve25519,
        &hex32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    )
    .unwrap();
    let bob = DhSecret::from_bytes(
        DhGroup::Curve25519,
        &hex32("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
    )
    .unwrap();
    let alice_public = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    let bob_public = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let shared = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(alice.public_value(), alice_public);
    assert_eq!(bob.public_value(), bob_public);
    assert_eq!(alice.shared(&bob_public).unwrap(), shared);
    assert_eq!(bob.shared(&alice_public).unwrap(), shared);
}

/// RFC 5903 §8.1: 256-bit random ECP group. KE data is g^x ‖ g^y; the shared secret is
/// the x coordinate of g^ir only (RFC 5903 §9).
#[test]
fn ecp256_rfc5903_section_8_1() {
    let i = DhSecret::from_bytes(
        DhGroup::Ecp256,
        &hex32("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"),
    )
    .unwrap();
    let r = DhSecret::from_bytes(
        DhGroup::Ecp256,
        &hex32("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53"),
    )
    .unwrap();
    let gi = hex(concat!(
        "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180",
        "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3"
    ));
    let gr = hex(concat!(
        "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63",
        "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB"
    ));
    let gir_x = hex("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE");
    assert_eq!(i.public_value(), gi);
    assert_eq!(r.public_value(), gr);
    assert_eq!(i.shared(&gr).unwrap(), gir_x);
    assert_eq!(r.shared(&gi).unwrap(), gir_x);
}

/// GCM specification test case 16 (AES-256, 96-bit IV, 20-octet AAD, 60-octet
/// plaintext). The IV `cafebabe facedbaddecaf888` splits into RFC 5282's 4-octet salt
/// and 8-octet explicit IV.
#[test]
fn aes256_gcm_test_case_16() {
    let key = SkKey::new(
        &GcmKey::new(
            hex32("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
            [0xca, 0xfe, 0xba, 0xbe],
        ),
        CryptoMode::Real,
    );
    let iv: [u8; 8] = hex("facedbaddecaf888").try_into().unwrap();
    let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let plaintext = hex(concat!(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72",
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    ));
    let ciphertext = hex(concat!(
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa",
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
    ));
    let tag = hex("76fc6ece0f4e1768cddf8853bb2d551b");
    let mut buf = plaintext.clone();
    let icv = key.seal_in_place(iv, &aad, &mut buf);
    assert_eq!(buf, ciphertext);
    assert_eq!(icv.to_vec(), tag);
    key.open_in_place(iv, &aad, &mut buf, icv).unwrap();
    assert_eq!(buf, plaintext);
}

/// The inputs of the Python script in the module docs.
struct Inputs {
    ni: Vec<u8>,
    nr: Vec<u8>,
    spi_i: u64,
    spi_r: u64,
    g_ir: Vec<u8>,
}

fn inputs() -> Inputs {
    Inputs {
        ni: (0..32).collect(),
        nr: (32..64).collect(),
        spi_i: 0x0011_2233_4455_6677,
        spi_r: 0x8899_aabb_ccdd_eeff,
        g_ir: hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"),
    }
}

fn gcm_hex(key: &GcmKey) -> Vec<u8> {
    [&key.key()[..], &key.salt()[..]].concat()
}

/// prf+ with HMAC-SHA-256 over four blocks; Python script above.
#[test]
fn prf_plus_matches_python() {
    assert_eq!(
        Prf::HmacSha256.prf_plus(b"key", &[b"seed"], 100),
        hex(concat!(
            "a2392e429a99b173341b368bb5ce320bfd483d89567c14ec187c2d77e3c0a208",
            "ba45d21d42611712996c0cd4b329ac8681e093a8a5bbbbf0fb8c9d1cf674f742",
            "3fe3d2fbd6641ff544749daa37804f04be0b1beba59ddc3867c3016209779fa7",
            "4e8b8654"
        ))
    );
}

/// SKEYSEED and SK_* of RFC 7296 §2.14 for AES-GCM-256 (no SK_a*); Python script above.
#[test]
fn ike_sa_keys_match_python() {
    let v = inputs();
    let prf = Prf::HmacSha256;
    assert_eq!(
        skeyseed(prf, &v.ni, &v.nr, &v.g_ir),
        hex("f9248cca691bd74ddd9479bc6fadb2aeddd0e609fe92fc2d839ca617d1302cb6")
    );
    let keys = IkeSaKeys::initial(prf, &v.g_ir, &v.ni, &v.nr, v.spi_i, v.spi_r);
    assert_eq!(
        keys.sk_d,
        hex("33ee522765f9b70613863c5add2565f7c173c925ca917d142f8f695e4541227e")
    );
    assert_eq!(
        gcm_hex(&keys.sk_ei),
        hex("2ec334f6d43dbdf8bc53535766a948c1901ff4296b10619c063d041cec255a2abeab5f3b")
    );
    assert_eq!(
        gcm_hex(&keys.sk_er),
        hex("806cb562d9bcc3a68b27209725259bf9b9190b5b9a303cf5f181a9e19d86ce48b8ad4358")
    );
    assert_eq!(
        keys.sk_pi,
        hex("7cbf183a131e9b2e9cb9dfe0c5c1358c991fd13fba8f1ba5f8554808ef4b80cd")
    );
    assert_eq!(
        keys.sk_pr,
        hex("91cf54dea27c659a5e57f3d9a2a56263c0127fc85ea7c246048b39edf038f2d3")
    );
}

/// Child SA KEYMAT (RFC 7296 §2.17) without and with PFS; IKE rekey SKEYSEED and keys
/// (RFC 7296 §2.18). Python script above.
#[test]
fn child_and_rekey_keys_match_python() {
    let v = inputs();
    let prf = Prf::HmacSha256;
    let sk_d = IkeSaKeys::initial(prf, &v.g_ir, &v.ni, &v.nr, v.spi_i, v.spi_r).sk_d;

    let child = ChildSaKeys::derive(prf, &sk_d, None, &v.ni, &v.nr);
    assert_eq!(
        gcm_hex(&child.initiator_to_responder),
        hex("b0a8eb70d3bf9f011b41100f5699f9a3e3a2221d0a90614b06d453b87ecb1e6eb9ba3573")
    );
    assert_eq!(
        gcm_hex(&child.responder_to_initiator),
        hex("323cf01bf4b1b0759dce8a625c61cf2a685e2fc61db1f521a7114af0028f76f71dc048e0")
    );

    let g_ir2 = hex("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
    let (ni2, nr2) = ([0x40; 32], [0x41; 32]);
    let pfs = ChildSaKeys::derive(prf, &sk_d, Some(&g_ir2), &ni2, &nr2);
    assert_eq!(
        gcm_hex(&pfs.initiator_to_responder),
        hex("90835496479fdd667c1905e8a490b4b245c2b2a53754be7caacf0cd19cc591cb8c204620")
    );
    assert_eq!(
        gcm_hex(&pfs.responder_to_initiator),
        hex("9c19f1ba4352fbba9df6f75a2f3fe1b1572e5c001cf82d2521785df266351cda8e0eed2e")
    );

    let seed = rekey_skeyseed(prf, &sk_d, &g_ir2, &ni2, &nr2);
    assert_eq!(
        seed,
        hex("ab14c84bd4c5e2f447ba1dd24a9b90750d74756a329347db7fee37f648ff6e77")
    );
    let rekeyed = IkeSaKeys::derive(
        prf,
        &seed,
        &ni2,
        &nr2,
        0x1111_1111_1111_1111,
        0x2222_2222_2222_2222,
    );
    assert_eq!(
        rekeyed.sk_d,
        hex("cbf00bc2ab3f7765dc45d85aa07a0f031eb50f2c9f95be477a9be46542a32ca2")
    );
    assert_eq!(
        rekeyed.sk_pr,
        hex("176e8488c9a2e0ee24c2b2c9299a777c652de1245ee66d6c5746392d3bac863a")
    );
}

/// PSK AUTH of RFC 7296 §2.15 for both sides; Python script above.
#[test]
fn psk_auth_matches_python() {
    let v = inputs();
    let prf = Prf::HmacSha256;
    let keys = IkeSaKeys::initial(prf, &v.g_ir, &v.ni, &v.nr, v.spi_i, v.spi_r);
    let psk = b"ikesim pre-shared key";
    let msg1: Vec<u8> = (0..208u32).map(|i| (i * 7 % 256) as u8).collect();
    let msg2: Vec<u8> = (0..200u32).map(|i| (i * 11 % 256) as u8).collect();
    let idi = IdPayload::fqdn("client.example").body();
    let idr = IdPayload::ipv4(Ipv4Addr::new(192, 0, 2, 1)).body();
    assert_eq!(
        psk_auth(prf, psk, &msg1, &v.nr, &keys.sk_pi, &idi),
        hex("74b8ac6048a47d162fdb5d3f9a0407c0933fbd098a94a97d2a6cd029375c6b1e")
    );
    assert_eq!(
        psk_auth(prf, psk, &msg2, &v.ni, &keys.sk_pr, &idr),
        hex("abcc3a025625c151a219e6805c733baa54ef649b8e51146e34a8a079c558cf3e")
    );
}

/// NAT_DETECTION_*_IP data (RFC 7296 §2.23); Python script above.
#[test]
fn nat_detection_matches_python() {
    let v = inputs();
    assert_eq!(
        nat_detection_hash(v.spi_i, 0, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500).to_vec(),
        hex("0f4e340ec8f74e72a5596c98861f42b328d41ebf")
    );
    assert_eq!(
        nat_detection_hash(
            v.spi_i,
            v.spi_r,
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
            4500
        )
        .to_vec(),
        hex("c9a99913fc09befbe06a7ca944da6c45d8851faa")
    );
}
