//! Property and fuzz tests: whatever bytes arrive, `Message::parse`, SK/SKF opening and
//! DH never panic; generated messages round-trip; a changed octet never opens.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::net::{Ipv4Addr, Ipv6Addr};

use models::CryptoMode;
use models::esp::GcmKey;
use models::ike::crypto::{
    DecryptedFragment, DhGroup, SkKey, open, open_fragment, reassemble, seal, seal_fragments,
};
use models::ike::wire::{
    AddressRange, Attribute, AuthMethod, AuthPayload, CfgAttribute, CfgAttributeType, CfgType,
    CpPayload, DeletePayload, Encrypted, ExchangeType, Flags, FragmentInfo, IdPayload, IdType,
    KePayload, Message, NotifyPayload, NotifyType, Payload, PayloadType, Proposal, ProtocolId,
    SaPayload, TrafficSelector, Transform, TransformId, TransformType, TsPayload, parse_inner,
};
use models::wire::IpProtocol;
use proptest::collection::vec;
use proptest::prelude::*;
use sim::SimRng;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn transform() -> impl Strategy<Value = Transform> {
    (
        any::<u8>(),
        any::<u16>(),
        proptest::option::of(any::<u16>()),
        vec(
            prop_oneof![
                (0u16..0x8000, any::<u16>())
                    .prop_filter("not Key Length", |(ty, _)| *ty != 14)
                    .prop_map(|(ty, value)| Attribute::Short { ty, value }),
                (0u16..0x8000, bytes(8)).prop_map(|(ty, value)| Attribute::Long { ty, value }),
            ],
            0..2,
        ),
    )
        .prop_map(|(ty, id, key_length, other_attributes)| Transform {
            ty: TransformType(ty),
            id: TransformId(id),
            key_length,
            other_attributes,
        })
}

fn sa() -> impl Strategy<Value = SaPayload> {
    vec(
        (any::<u8>(), any::<u8>(), bytes(9), vec(transform(), 0..4)).prop_map(
            |(number, protocol, spi, transforms)| Proposal {
                number,
                protocol: ProtocolId(protocol),
                spi,
                transforms,
            },
        ),
        1..3,
    )
    .prop_map(|proposals| SaPayload { proposals })
}

fn selector() -> impl Strategy<Value = TrafficSelector> {
    (
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        prop_oneof![
            (any::<u32>(), any::<u32>()).prop_map(|(s, e)| AddressRange::V4 {
                start: Ipv4Addr::from(s),
                end: Ipv4Addr::from(e),
            }),
            (any::<u128>(), any::<u128>()).prop_map(|(s, e)| AddressRange::V6 {
                start: Ipv6Addr::from(s),
                end: Ipv6Addr::from(e),
            }),
        ],
    )
        .prop_map(
            |(protocol, start_port, end_port, addresses)| TrafficSelector {
                ip_protocol: IpProtocol(protocol),
                start_port,
                end_port,
                addresses,
            },
        )
}

/// Any payload that may appear in a plaintext chain.
fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        sa().prop_map(Payload::Sa),
        (any::<u16>(), bytes(70)).prop_map(|(g, data)| Payload::Ke(KePayload {
            group: TransformId(g),
            data
        })),
        (any::<u8>(), bytes(20)).prop_map(|(t, data)| Payload::IdI(IdPayload {
            id_type: IdType(t),
            data
        })),
        (any::<u8>(), bytes(20)).prop_map(|(t, data)| Payload::IdR(IdPayload {
            id_type: IdType(t),
            data
        })),
        (any::<u8>(), bytes(40)).prop_map(|(m, data)| Payload::Auth(AuthPayload {
            method: AuthMethod(m),
            data
        })),
        vec(any::<u8>(), 16..=256).prop_map(Payload::Nonce),
        (any::<u8>(), bytes(8), any::<u16>(), bytes(30)).prop_map(|(p, spi, ty, data)| {
            Payload::Notify(NotifyPayload {
                protocol: ProtocolId(p),
                spi,
                ty: NotifyType(ty),
                data,
            })
        }),
        Just(Payload::Delete(DeletePayload {
            protocol: ProtocolId::IKE,
            spis: vec![]
        })),
        (2u8..=255, vec(any::<u32>(), 0..4)).prop_map(|(p, spis)| Payload::Delete(DeletePayload {
            protocol: ProtocolId(p),
            spis
        })),
        bytes(20).prop_map(Payload::VendorId),
        vec(selector(), 0..3).prop_map(|selectors| Payload::TsI(TsPayload { selectors })),
        vec(selector(), 0..3).prop_map(|selectors| Payload::TsR(TsPayload { selectors })),
        (any::<u8>(), vec((0u16..0x8000, bytes(17)), 0..3)).prop_map(|(t, attrs)| Payload::Cp(
            CpPayload {
                cfg_type: CfgType(t),
                attributes: attrs
                    .into_iter()
                    .map(|(ty, value)| CfgAttribute {
                        ty: CfgAttributeType(ty),
                        value
                    })
                    .collect(),
            }
        )),
        vec(any::<[u8; 4]>(), 1..5).prop_map(|keys| Payload::PuzzleSolution(keys.concat())),
        (
            prop_oneof![1u8..=32, 49u8..=52, 55u8..=255],
            any::<bool>(),
            bytes(20)
        )
            .prop_map(|(ty, critical, body)| Payload::Unknown {
                ty: PayloadType(ty),
                critical,
                body
            }),
    ]
}

/// An SK or SKF payload to end a message with.
fn encrypted() -> impl Strategy<Value = Encrypted> {
    (
        any::<u8>(),
        proptest::option::of((1u16..=10, 0u16..10)),
        bytes(60),
    )
        .prop_map(|(next, fragment, body)| Encrypted {
            next_payload: PayloadType(next),
            fragment: fragment.map(|(number, extra)| FragmentInfo {
                number,
                total: number + extra,
            }),
            body,
        })
}

fn message() -> impl Strategy<Value = Message> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u8>(),
        any::<bool>(),
        any::<bool>(),
        any::<u32>(),
        vec(payload(), 0..6),
        proptest::option::of(encrypted()),
    )
        .prop_map(
            |(spi_i, spi_r, ex, initiator, response, message_id, mut payloads, sk)| {
                payloads.extend(sk.map(Payload::Encrypted));
                Message {
                    spi_i,
                    spi_r,
                    exchange_type: ExchangeType(ex),
                    flags: Flags {
                        initiator,
                        response,
                    },
                    message_id,
                    payloads,
                }
            },
        )
}

/// Random edits: overwrite, truncate or insert.
fn mutate(mut raw: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, kind, value) in edits {
        if raw.is_empty() {
            break;
        }
        let at = at % raw.len();
        match kind % 3 {
            0 => raw[at] ^= value.max(1),
            1 => raw.truncate(at),
            _ => raw.insert(at, value),
        }
    }
    raw
}

fn key() -> SkKey {
    SkKey::new(&GcmKey::new([3; 32], [4; 4]), CryptoMode::Real)
}

/// Runs every receive path over `raw`; they must not panic.
fn receive(raw: &[u8]) -> Option<Vec<Payload>> {
    let message = Message::parse(raw).ok()?;
    let _ = message.unsupported_critical();
    let key = key();
    if let Ok(fragment) = open_fragment(&message, raw, &key) {
        return reassemble(&[fragment]).ok();
    }
    open(&message, raw, &key).ok()
}

proptest! {
    #[test]
    fn generated_messages_round_trip(message in message()) {
        let raw = message.emit();
        prop_assert_eq!(Message::parse(&raw), Ok(message));
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in bytes(600)) {
        if let Ok(message) = Message::parse(&raw) {
            // Re-emitting is a fixed point after one normalising round.
            let again = Message::parse(&message.emit()).unwrap();
            prop_assert_eq!(again, message);
        }
        let _ = receive(&raw);
        let _ = parse_inner(PayloadType::SA, &raw);
    }

    /// A valid header in front of random payload bytes reaches the chain parser.
    #[test]
    fn random_chains_never_panic(first in any::<u8>(), chain in bytes(400)) {
        let mut raw = Message {
            spi_i: 1,
            spi_r: 2,
            exchange_type: ExchangeType::IKE_AUTH,
            flags: Flags::default(),
            message_id: 1,
            payloads: vec![],
        }
        .emit();
        raw[16] = first;
        raw.extend_from_slice(&chain);
        let len = u32::try_from(raw.len()).unwrap();
        raw[24..28].copy_from_slice(&len.to_be_bytes());
        let _ = receive(&raw);
        let _ = parse_inner(PayloadType(first), &chain);
    }

    #[test]
    fn mutated_messages_never_panic(
        message in message(),
        edits in vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        let _ = receive(&mutate(message.emit(), &edits));
    }

    /// Sealed messages open only unchanged: any edit fails parsing or integrity.
    #[test]
    fn mutated_sealed_messages_never_open(
        inner in vec(payload(), 0..4),
        fragment_size in 100usize..300,
        edits in vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
        seed in any::<u64>(),
    ) {
        let mut rng = SimRng::from_seed_u64(seed);
        let header = Message {
            spi_i: 5,
            spi_r: 6,
            exchange_type: ExchangeType::INFORMATIONAL,
            flags: Flags::default(),
            message_id: 9,
            payloads: vec![],
        };
        let sealed = seal(&header, &inner, &key(), &mut rng);
        prop_assert_eq!(receive(&sealed), Some(inner.clone()));
        let mutated = mutate(sealed.clone(), &edits);
        if mutated != sealed {
            prop_assert_eq!(receive(&mutated), None);
        }

        let fragments = seal_fragments(&header, &inner, &key(), &mut rng, fragment_size).unwrap();
        let opened: Vec<DecryptedFragment> = fragments
            .iter()
            .map(|raw| open_fragment(&Message::parse(raw).unwrap(), raw, &key()).unwrap())
            .collect();
        prop_assert_eq!(reassemble(&opened), Ok(inner));
        let first = &fragments[0];
        let mutated = mutate(first.clone(), &edits);
        if &mutated != first
            && let Ok(message) = Message::parse(&mutated)
        {
            prop_assert!(open_fragment(&message, &mutated, &key()).is_err());
        }
    }

    #[test]
    fn dh_rejects_or_accepts_any_peer_value(peer in bytes(80), seed in any::<u64>()) {
        let mut rng = SimRng::from_seed_u64(seed);
        for group in [DhGroup::Curve25519, DhGroup::Ecp256] {
            let (secret, _) = group.generate(CryptoMode::Real, &mut rng);
            if let Ok(shared) = secret.shared(&peer) {
                prop_assert_eq!(peer.len(), group.public_len());
                prop_assert_eq!(shared.len(), 32);
            }
        }
    }
}
