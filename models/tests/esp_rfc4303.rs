//! ESP SAs and the SAD against RFC 4303 (sequence numbers, anti-replay, integrity), RFC 4106
//! (AES-GCM), and RFC 3948 (UDP encapsulation demultiplexing).

#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::Ipv4Addr;

use models::CryptoMode;
use models::esp::{
    EspDropReason, EspSendError, GcmKey, InboundSa, NON_ESP_MARKER, OutboundSa, ReplayWindowSize,
    SaParams, Sad, SelectorId, SequenceExhausted, UdpEncapPayload,
};
use models::wire::{IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr};
use proptest::prelude::*;

const SPI: u32 = 0x0102_0304;

fn key(fill: u8) -> GcmKey {
    let mut keymat = [fill; GcmKey::KEYMAT_LEN];
    keymat[32..].copy_from_slice(&[0xca, 0xfe, 0xba, 0xbe]);
    GcmKey::from_keymat(&keymat).unwrap()
}

fn params(spi: u32, esn: bool) -> SaParams {
    SaParams {
        spi,
        key: key(7),
        esn,
        crypto: CryptoMode::Real,
    }
}

/// An outbound SA and the matching inbound SA (same SPI and key), window `w`.
fn pair(esn: bool, w: u32) -> (OutboundSa, InboundSa) {
    (
        OutboundSa::new(params(SPI, esn)),
        InboundSa::new(params(SPI, esn), ReplayWindowSize::new(w).unwrap()),
    )
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The 28-octet inner packet of the known-answer tests (an IPv4/UDP header pair).
fn kat_inner() -> Vec<u8> {
    hex("4500001c00000000401100000a0000010a000002303900350008\
         0000")
}

/// Known-answer tests, computed independently with Python's `cryptography` package (not
/// needed to run the tests):
///
/// ```python
/// from cryptography.hazmat.primitives.ciphers.aead import AESGCM
/// key = bytes(range(32)); salt = bytes.fromhex("cafebabe"); spi = 0x01020304
/// inner = bytes.fromhex("4500001c00000000401100000a0000010a000002303900350008") + b"\0\0"
/// def esp(seq, esn):
///     pad = (4 - (len(inner) + 2) % 4) % 4
///     pt = inner + bytes(range(1, pad + 1)) + bytes([pad, 4])
///     iv = seq.to_bytes(8, "big")
///     aad = spi.to_bytes(4, "big") + (seq.to_bytes(8, "big") if esn
///                                     else (seq & 0xffffffff).to_bytes(4, "big"))
///     ct = AESGCM(key).encrypt(salt + iv, pt, aad)
///     return spi.to_bytes(4, "big") + (seq & 0xffffffff).to_bytes(4, "big") + iv + ct
/// print(esp(1, False).hex()); print(esp((1 << 32) + 5, True).hex())
/// ```
fn kat_key() -> GcmKey {
    let keymat: Vec<u8> = (0..32).chain([0xca, 0xfe, 0xba, 0xbe]).collect();
    GcmKey::from_keymat(&keymat).unwrap()
}

/// RFC 4106 §3-§5 layout (IV = sequence number, nonce = salt ‖ IV, AAD = SPI ‖ Seq) and
/// RFC 4303 §2.4 padding 1, 2, against an independent AES-GCM.
#[test]
fn rfc4106_known_answer() {
    let expected = hex(
        "01020304000000010000000000000001cd929a9869e62c213cb86a24a4643e66\
         dc8624145832ae5af698d4aab54f4e68f8d603477cfb605d9342b55b95c38bbe",
    );
    let p = SaParams {
        spi: SPI,
        key: kat_key(),
        esn: false,
        crypto: CryptoMode::Real,
    };
    let mut out = OutboundSa::new(p.clone());
    assert_eq!(out.encapsulate(&kat_inner()).unwrap(), expected);
    let mut inb = InboundSa::new(p, ReplayWindowSize::DEFAULT);
    let got = inb.decapsulate(&expected).unwrap();
    assert_eq!((got.spi, got.sequence_number), (SPI, 1));
    assert_eq!(got.inner, kat_inner());
}

/// RFC 4106 §5: with ESN the AAD is SPI ‖ Seq high ‖ Seq low (12 octets).
#[test]
fn rfc4106_5_known_answer_esn() {
    let expected = hex(
        "01020304000000050000000100000005a45f54f9563bcf54dc12f4df3a1bfaff\
         d3d885f2993befceb5c03e97c4db012520bc4e7ceb398ec364ae91af40a0ac8b",
    );
    let mut out = OutboundSa::new(SaParams {
        spi: SPI,
        key: kat_key(),
        esn: true,
        crypto: CryptoMode::Real,
    });
    out.skip_sequence_numbers((1 << 32) + 4).unwrap();
    assert_eq!(out.encapsulate(&kat_inner()).unwrap(), expected);
}

/// RFC 4303 §3.3, §3.4: every size round-trips, lengths match `encapsulated_len`, and the
/// packet is 4-octet aligned (§2.4).
#[test]
fn rfc4303_roundtrip() {
    let (mut out, mut inb) = pair(false, 64);
    for len in 0..100usize {
        let inner: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let esp = out.encapsulate(&inner).unwrap();
        assert_eq!(esp.len(), OutboundSa::encapsulated_len(len));
        assert_eq!((esp.len() - 16) % 4, 0, "aligned up to the ICV");
        let got = inb.decapsulate(&esp).unwrap();
        assert_eq!(got.inner, inner);
        assert_eq!(got.sequence_number, len as u64 + 1);
    }
    assert_eq!(out.counters().packets_out, 100);
    assert_eq!(inb.counters().packets_in, 100);
    assert_eq!(inb.counters().bytes_in, out.counters().bytes_out);
    assert_eq!(inb.highest_sequence_number(), 100);
}

/// RFC 4303 §3.4.4: any modified octet fails (SPI: another SA; the rest: the ICV), and a
/// failed packet does not move the window, so the genuine one is still accepted.
#[test]
fn rfc4303_3_4_4_tamper_is_auth_failure() {
    let (mut out, mut inb) = pair(false, 64);
    let esp = out.encapsulate(&kat_inner()).unwrap();
    for i in 0..esp.len() {
        let mut bad = esp.clone();
        bad[i] ^= 0x80;
        let expected = if i < 4 {
            EspDropReason::UnknownSpi
        } else {
            EspDropReason::AuthFailure
        };
        assert_eq!(inb.decapsulate(&bad), Err(expected), "octet {i}");
    }
    assert_eq!(inb.highest_sequence_number(), 0);
    assert!(inb.decapsulate(&esp).is_ok());
    let drops = inb.counters().drops;
    assert_eq!(drops.get(EspDropReason::AuthFailure), esp.len() as u64 - 4);
    assert_eq!(drops.get(EspDropReason::UnknownSpi), 4);
}

/// A different key, or a truncated packet, never authenticates.
#[test]
fn rfc4303_3_4_4_wrong_key_and_truncation() {
    let (mut out, _) = pair(false, 64);
    let mut other = InboundSa::new(
        SaParams {
            spi: SPI,
            key: key(8),
            esn: false,
            crypto: CryptoMode::Real,
        },
        ReplayWindowSize::DEFAULT,
    );
    let esp = out.encapsulate(&kat_inner()).unwrap();
    assert_eq!(other.decapsulate(&esp), Err(EspDropReason::AuthFailure));
    let (_, mut inb) = pair(false, 64);
    assert_eq!(
        inb.decapsulate(&esp[..esp.len() - 1]),
        Err(EspDropReason::AuthFailure)
    );
    assert_eq!(
        inb.decapsulate(&esp[..8 + 8 + 2 + 15]),
        Err(EspDropReason::Malformed)
    );
    assert_eq!(inb.decapsulate(&esp[..7]), Err(EspDropReason::Malformed));
}

/// RFC 4303 §3.4.3: a duplicate is dropped, before the integrity check.
#[test]
fn rfc4303_3_4_3_replay_dropped() {
    let (mut out, mut inb) = pair(false, 64);
    let esp = out.encapsulate(b"once").unwrap();
    assert!(inb.decapsulate(&esp).is_ok());
    assert_eq!(inb.decapsulate(&esp), Err(EspDropReason::Replay));
    assert_eq!(inb.counters().drops.get(EspDropReason::Replay), 1);
    assert_eq!(inb.counters().packets_in, 1);
}

/// RFC 4303 §3.4.3: out-of-order packets inside the window are accepted once; the window
/// slides with the highest number; packets left of it are too old. Window 32, the
/// smallest size RFC 4303 requires implementations to support.
#[test]
fn rfc4303_3_4_3_window_slides() {
    let (mut out, mut inb) = pair(false, 32);
    let packets: Vec<Vec<u8>> = (0..100).map(|_| out.encapsulate(b"x").unwrap()).collect();
    let seq = |n: u64| &packets[n as usize - 1];
    assert!(inb.decapsulate(seq(50)).is_ok());
    assert!(inb.decapsulate(seq(19)).is_ok(), "50 - 31 is the left edge");
    assert_eq!(inb.decapsulate(seq(18)), Err(EspDropReason::TooOld));
    assert!(inb.decapsulate(seq(30)).is_ok());
    assert_eq!(inb.decapsulate(seq(30)), Err(EspDropReason::Replay));
    assert!(inb.decapsulate(seq(90)).is_ok());
    assert_eq!(inb.decapsulate(seq(50)), Err(EspDropReason::TooOld));
    assert!(inb.decapsulate(seq(59)).is_ok(), "90 - 31");
    assert_eq!(inb.decapsulate(seq(58)), Err(EspDropReason::TooOld));
    assert_eq!(inb.counters().drops.get(EspDropReason::TooOld), 3);
}

/// RFC 4303 §3.3.3: without ESN the sender refuses to cycle the counter: 2^32 - 1 is the
/// last sequence number, and the receiver accepts it.
#[test]
fn rfc4303_3_3_3_sequence_exhaustion_without_esn() {
    let (mut out, mut inb) = pair(false, 64);
    out.skip_sequence_numbers(u64::from(u32::MAX) - 2).unwrap();
    let a = out.encapsulate(b"a").unwrap();
    let b = out.encapsulate(b"b").unwrap();
    assert_eq!(out.sequence_number(), u64::from(u32::MAX));
    assert_eq!(out.encapsulate(b"c"), Err(SequenceExhausted));
    assert_eq!(
        out.sequence_number(),
        u64::from(u32::MAX),
        "nothing consumed"
    );
    assert_eq!(out.skip_sequence_numbers(1), Err(SequenceExhausted));
    assert!(inb.decapsulate(&a).is_ok());
    assert_eq!(
        inb.decapsulate(&b).unwrap().sequence_number,
        u64::from(u32::MAX)
    );
}

/// RFC 4303 §2.2.1 and Appendix A2: with ESN the counter crosses 2^32 (low bits 0 on the
/// wire), and the receiver infers the high bits from its window, also for packets that
/// arrive late from the previous 2^32 subspace.
#[test]
fn rfc4303_appendix_a2_esn_across_2_pow_32() {
    let (mut out, mut inb) = pair(true, 64);
    out.skip_sequence_numbers((1 << 32) - 200).unwrap();
    assert!(inb.decapsulate(&out.encapsulate(b"prime").unwrap()).is_ok());
    out.skip_sequence_numbers(188).unwrap();
    let packets: Vec<(u64, Vec<u8>)> = (0..20)
        .map(|_| {
            let esp = out.encapsulate(b"esn").unwrap();
            (out.sequence_number(), esp)
        })
        .collect();
    let wire_seq = |esp: &[u8]| u32::from_be_bytes([esp[4], esp[5], esp[6], esp[7]]);
    assert_eq!(wire_seq(&packets[10].1), 0, "2^32 goes out as low bits 0");

    // Deliver the first half of the old subspace, then everything after the boundary,
    // then the late rest of the old subspace.
    let order = (0..5).chain(10..20).chain(5..10);
    for i in order {
        let (seq, esp) = &packets[i];
        let got = inb.decapsulate(esp).unwrap();
        assert_eq!(got.sequence_number, *seq, "packet {i}");
    }
    assert_eq!(inb.highest_sequence_number(), (1 << 32) + 9);
    assert_eq!(
        inb.decapsulate(&packets[3].1),
        Err(EspDropReason::Replay),
        "inferred into the previous subspace, already seen"
    );

    // Without ESN on the receiver the 12-octet AAD does not match.
    let (_, mut no_esn) = pair(false, 64);
    assert_eq!(
        no_esn.decapsulate(&packets[0].1),
        Err(EspDropReason::AuthFailure)
    );
}

/// RFC 4303 Appendix A2.1: a fresh ESN receiver reads a low value near 2^32 as belonging
/// to the subspace before the first, which cannot exist.
#[test]
fn rfc4303_appendix_a2_esn_before_first_subspace() {
    let (mut out, mut inb) = pair(true, 64);
    out.skip_sequence_numbers(u64::from(u32::MAX) - 3).unwrap();
    let esp = out.encapsulate(b"x").unwrap();
    assert_eq!(inb.decapsulate(&esp), Err(EspDropReason::TooOld));
}

/// RFC 7296 §2.8 rekey through the SAD: old and new inbound SAs both accept while the
/// peer switches; the selector's outbound traffic moves to the new SA; after the delete
/// the old SPI is unknown. Counters of removed SAs stay in the totals.
#[test]
fn sad_rekey_keeps_two_sas() {
    let (old_spi, new_spi) = (0x1000, 0x2000);
    let sel = SelectorId(1);
    let mut sad = Sad::new();
    sad.insert_inbound(InboundSa::new(
        params(old_spi, false),
        ReplayWindowSize::DEFAULT,
    ))
    .unwrap();
    sad.install_outbound(sel, OutboundSa::new(params(0x3000, false)));
    let mut peer_old = OutboundSa::new(params(old_spi, false));
    let mut peer_new = OutboundSa::new(params(new_spi, false));

    assert!(
        sad.decapsulate(&peer_old.encapsulate(b"1").unwrap())
            .is_ok()
    );
    assert_eq!(
        sad.decapsulate(&peer_new.encapsulate(b"2").unwrap()),
        Err(EspDropReason::UnknownSpi)
    );
    sad.insert_inbound(InboundSa::new(
        params(new_spi, false),
        ReplayWindowSize::DEFAULT,
    ))
    .unwrap();
    assert_eq!(
        sad.insert_inbound(InboundSa::new(
            params(new_spi, false),
            ReplayWindowSize::DEFAULT
        )),
        Err(models::esp::DuplicateSpi(new_spi))
    );
    let got = sad
        .decapsulate(&peer_new.encapsulate(b"3").unwrap())
        .unwrap();
    assert_eq!((got.spi, got.inner.as_slice()), (new_spi, &b"3"[..]));
    assert!(
        sad.decapsulate(&peer_old.encapsulate(b"4").unwrap())
            .is_ok()
    );

    let before = sad.encapsulate(sel, b"out").unwrap();
    assert_eq!(before[..4], 0x3000u32.to_be_bytes());
    let replaced = sad.install_outbound(sel, OutboundSa::new(params(0x4000, false)));
    assert_eq!(replaced.unwrap().packets_out, 1);
    let after = sad.encapsulate(sel, b"out").unwrap();
    assert_eq!(after[..4], 0x4000u32.to_be_bytes());

    assert_eq!(sad.remove_inbound(old_spi).unwrap().packets_in, 2);
    assert_eq!(
        sad.decapsulate(&peer_old.encapsulate(b"5").unwrap()),
        Err(EspDropReason::UnknownSpi)
    );
    assert_eq!(
        sad.decapsulate(&[0; 12]),
        Err(EspDropReason::Malformed),
        "SPI 0"
    );
    assert_eq!(
        sad.encapsulate(SelectorId(9), b"x"),
        Err(EspSendError::NoSa)
    );

    let c = sad.counters();
    assert_eq!((c.packets_in, c.packets_out), (3, 2));
    assert_eq!(c.drops.get(EspDropReason::UnknownSpi), 2);
    assert_eq!(c.drops.get(EspDropReason::Malformed), 1);
    assert_eq!(c.drops.total(), 3);
}

/// The SAD reports sequence exhaustion as a send error.
#[test]
fn sad_sequence_exhausted() {
    let sel = SelectorId(0);
    let mut sad = Sad::new();
    sad.install_outbound(sel, OutboundSa::new(params(1, false)));
    sad.outbound_mut(sel)
        .unwrap()
        .skip_sequence_numbers(u64::from(u32::MAX))
        .unwrap();
    assert_eq!(
        sad.encapsulate(sel, b"x"),
        Err(EspSendError::SequenceExhausted(SequenceExhausted))
    );
}

/// RFC 3948 §2.2, §2.3 on real UDP/IPv4 datagrams to port 4500: the non-ESP marker means
/// IKE, one 0xFF octet is a NAT-keepalive, anything else is ESP and goes to the SAD.
#[test]
fn rfc3948_udp_encapsulation_demux() {
    let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(198, 51, 100, 1));
    let datagram = |payload: UdpEncapPayload<'_>| -> Vec<u8> {
        let udp = UdpRepr {
            src_port: 4500,
            dst_port: 4500,
        };
        let ip = Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::UDP,
            payload_len: udp.buffer_len(payload.buffer_len()),
            hop_limit: 64,
            ident: 0,
            dont_frag: true,
        };
        let mut buf = vec![0xa5; ip.buffer_len()];
        let mut ip_packet = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.emit(&mut ip_packet);
        let mut udp_packet = UdpPacket::new_unchecked(ip_packet.payload_mut());
        udp.emit(&mut udp_packet, src, dst, payload.buffer_len(), |b| {
            payload.emit(b);
        });
        buf
    };
    let received = |bytes: &[u8]| -> Vec<u8> {
        let ip = Ipv4Packet::new_checked(bytes).unwrap();
        let repr = Ipv4Repr::parse(&ip).unwrap();
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        UdpRepr::parse(&udp, repr.src_addr, repr.dst_addr).unwrap();
        udp.payload().to_vec()
    };

    let (mut out, inb) = pair(false, 64);
    let mut sad = Sad::new();
    sad.insert_inbound(inb).unwrap();
    let esp = out.encapsulate(&kat_inner()).unwrap();
    let ike = [0x11; 28];

    let p = received(&datagram(UdpEncapPayload::Esp(&esp)));
    let UdpEncapPayload::Esp(esp_in) = UdpEncapPayload::classify(&p).unwrap() else {
        panic!("ESP expected");
    };
    assert_eq!(sad.decapsulate(esp_in).unwrap().inner, kat_inner());

    let p = received(&datagram(UdpEncapPayload::Ike(&ike)));
    assert_eq!(p[..4], NON_ESP_MARKER);
    assert_eq!(
        UdpEncapPayload::classify(&p),
        Ok(UdpEncapPayload::Ike(&ike[..]))
    );

    let p = received(&datagram(UdpEncapPayload::NatKeepalive));
    assert_eq!(p, [0xff]);
    assert_eq!(
        UdpEncapPayload::classify(&p),
        Ok(UdpEncapPayload::NatKeepalive)
    );
}

proptest! {
    /// Arbitrary bytes never panic the SA or the SAD, and never authenticate.
    #[test]
    fn prop_decapsulate_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (_, mut inb) = pair(true, 64);
        prop_assert!(inb.decapsulate(&bytes).is_err());
        let mut sad = Sad::new();
        sad.insert_inbound(pair(false, 64).1).unwrap();
        prop_assert!(sad.decapsulate(&bytes).is_err());
        prop_assert_eq!(sad.counters().drops.total(), 1);
    }

    /// Arbitrary bytes behind a valid header (our SPI, any sequence number) never panic.
    #[test]
    fn prop_decapsulate_valid_header(seq in any::<u32>(), body in proptest::collection::vec(any::<u8>(), 0..120)) {
        let (_, mut inb) = pair(false, 64);
        let mut esp = SPI.to_be_bytes().to_vec();
        esp.extend_from_slice(&seq.to_be_bytes());
        esp.extend_from_slice(&body);
        prop_assert!(inb.decapsulate(&esp).is_err());
    }

    /// Any round trip of any inner packet, with and without ESN, after jumps of less than
    /// 2^31 each (what Appendix A2.1 inference can follow), across 2^32 with ESN.
    #[test]
    fn prop_roundtrip(
        inner in proptest::collection::vec(any::<u8>(), 0..300),
        esn in any::<bool>(),
        jumps in (0u64..(1 << 31) - 100, 0u64..(1 << 31) - 100),
    ) {
        let (mut out, mut inb) = pair(esn, 64);
        out.skip_sequence_numbers(jumps.0).unwrap();
        prop_assert!(inb.decapsulate(&out.encapsulate(&[]).unwrap()).is_ok());
        out.skip_sequence_numbers(jumps.1).unwrap();
        let got = inb.decapsulate(&out.encapsulate(&inner).unwrap()).unwrap();
        prop_assert_eq!(got.inner, inner);
        prop_assert_eq!(got.sequence_number, jumps.0 + jumps.1 + 2);
    }
}
