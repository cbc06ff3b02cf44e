//! The crypto stand-in ([`CryptoMode::StandIn`]) against real cryptography, through the
//! public ESP and SK interfaces: identical sizes and headers, the same round trip, and the
//! same rejections (wrong key, changed octet) counted the same way.

#![allow(clippy::unwrap_used, reason = "tests")]

use models::CryptoMode;
use models::esp::{EspDropReason, GcmKey, InboundSa, OutboundSa, ReplayWindowSize, SaParams};
use models::ike::crypto::{DhGroup, IvCounter, OpenError, SkKey, open, seal};
use models::ike::wire::{ExchangeType, Flags, Message, NotifyPayload, NotifyType, Payload};
use sim::SimRng;

const MODES: [CryptoMode; 2] = [CryptoMode::Real, CryptoMode::StandIn];
const SPI: u32 = 0x0102_0304;

fn key(fill: u8) -> GcmKey {
    GcmKey::new([fill; 32], [0xca, 0xfe, 0xba, 0xbe])
}

fn params(fill: u8, crypto: CryptoMode) -> SaParams {
    SaParams {
        spi: SPI,
        key: key(fill),
        esn: false,
        crypto,
    }
}

fn inbound(fill: u8, crypto: CryptoMode) -> InboundSa {
    InboundSa::new(params(fill, crypto), ReplayWindowSize::DEFAULT)
}

/// ESP: the same packet lengths and clear header in both modes; a right key opens, a wrong
/// key or any changed octet after the header is an `auth_failure`, as with AES-GCM.
#[test]
fn esp_stand_in_has_real_sizes_and_rejections() {
    let inner: Vec<u8> = (0..61).collect();
    let packets: Vec<Vec<u8>> = MODES
        .iter()
        .map(|&mode| {
            OutboundSa::new(params(7, mode))
                .encapsulate(&inner)
                .unwrap()
        })
        .collect();
    assert_eq!(packets[0].len(), packets[1].len());
    assert_eq!(packets[0].len(), OutboundSa::encapsulated_len(inner.len()));
    assert_eq!(
        packets[0][..16],
        packets[1][..16],
        "SPI, sequence number, IV"
    );
    assert_ne!(packets[0], packets[1]);

    for (mode, packet) in MODES.into_iter().zip(&packets) {
        let mut right = inbound(7, mode);
        assert_eq!(right.decapsulate(packet).unwrap().inner, inner, "{mode:?}");

        let mut wrong = inbound(8, mode);
        assert_eq!(wrong.decapsulate(packet), Err(EspDropReason::AuthFailure));
        for i in 16..packet.len() {
            let mut corrupt = packet.clone();
            corrupt[i] ^= 0x01;
            let mut sa = inbound(7, mode);
            assert_eq!(
                sa.decapsulate(&corrupt),
                Err(EspDropReason::AuthFailure),
                "{mode:?} octet {i}"
            );
            assert_eq!(sa.counters().drops.get(EspDropReason::AuthFailure), 1);
        }
    }
}

fn informational() -> (Message, Vec<Payload>) {
    let header = Message {
        spi_i: 0x0011_2233_4455_6677,
        spi_r: 0x8899_aabb_ccdd_eeff,
        exchange_type: ExchangeType::INFORMATIONAL,
        flags: Flags {
            initiator: true,
            response: false,
        },
        message_id: 3,
        payloads: vec![],
    };
    let inner = vec![Payload::Notify(NotifyPayload::new(
        NotifyType::INITIAL_CONTACT,
        vec![1; 40],
    ))];
    (header, inner)
}

/// IKE SK: the same message length and clear part in both modes, the same inner payloads
/// after opening, and `Integrity` for a wrong key or any changed octet.
#[test]
fn sk_stand_in_has_real_sizes_and_rejections() {
    let (header, inner) = informational();
    let sealed: Vec<Vec<u8>> = MODES
        .iter()
        .map(|&mode| {
            seal(
                &header,
                &inner,
                &SkKey::new(&key(3), mode),
                &mut IvCounter(9),
            )
        })
        .collect();
    assert_eq!(sealed[0].len(), sealed[1].len());
    let clear = 28 + 4 + 8; // IKE header, SK header, IV
    assert_eq!(sealed[0][..clear], sealed[1][..clear]);
    assert_ne!(sealed[0], sealed[1]);

    for (mode, raw) in MODES.into_iter().zip(&sealed) {
        let right = SkKey::new(&key(3), mode);
        let parsed = Message::parse(raw).unwrap();
        assert_eq!(open(&parsed, raw, &right).unwrap(), inner, "{mode:?}");
        let wrong = SkKey::new(&key(4), mode);
        assert_eq!(open(&parsed, raw, &wrong), Err(OpenError::Integrity));
        for i in clear - 12..raw.len() {
            let mut corrupt = raw.clone();
            corrupt[i] ^= 0x10;
            let Ok(parsed) = Message::parse(&corrupt) else {
                continue;
            };
            assert_eq!(
                open(&parsed, &corrupt, &right),
                Err(OpenError::Integrity),
                "{mode:?} octet {i}"
            );
        }
    }
}

/// DH: the stand-in's public values and shared secrets have the real lengths, and both
/// sides agree.
#[test]
fn dh_stand_in_has_real_sizes_and_agrees() {
    for group in [DhGroup::Curve25519, DhGroup::Ecp256] {
        let mut lengths = Vec::new();
        for mode in MODES {
            let mut rng = SimRng::from_seed_u64(5);
            let (a, a_pub) = group.generate(mode, &mut rng);
            let (b, b_pub) = group.generate(mode, &mut rng);
            let shared = a.shared(&b_pub).unwrap();
            assert_eq!(shared, b.shared(&a_pub).unwrap(), "{group:?} {mode:?}");
            lengths.push((a_pub.len(), shared.len()));
        }
        assert_eq!(lengths[0], lengths[1], "{group:?}");
        assert_eq!(lengths[0].0, group.public_len());
    }
}
