//! Whole IKE_SA_INIT messages through `models::ike::wire`: built from parts, emitted,
//! parsed back equal, and checked against the byte layouts and sizes of protocol.md 1.1,
//! 1.5 and 1.14.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::net::{IpAddr, Ipv4Addr};

use models::CryptoMode;
use models::ike::crypto::{DhGroup, nat_detection_hash};
use models::ike::wire::{
    ExchangeType, Flags, HEADER_LEN, Header, KePayload, Message, NotifyPayload, NotifyType, Packet,
    ParseError, Payload, PayloadType, Proposal, ProtocolId, Reader, SaPayload, Transform,
    TransformId, TransformType,
};
use sim::SimRng;

const SPI_I: u64 = 0x0011_2233_4455_6677;
const INITIATOR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const RESPONDER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn ike_proposal(group: DhGroup) -> SaPayload {
    SaPayload {
        proposals: vec![Proposal {
            number: 1,
            protocol: ProtocolId::IKE,
            spi: vec![],
            transforms: vec![
                Transform::new(TransformType::ENCR, TransformId::ENCR_AES_GCM_16)
                    .with_key_length(256),
                Transform::new(TransformType::PRF, TransformId::PRF_HMAC_SHA2_256),
                Transform::new(TransformType::DH, group.transform_id()),
            ],
        }],
    }
}

/// `HDR, SA, KE, Ni, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP),
/// N(IKEV2_FRAGMENTATION_SUPPORTED)` (RFC 7296 §1.2, protocol.md 1.4).
fn sa_init_request(group: DhGroup, rng: &mut SimRng) -> Message {
    let (_, public) = group.generate(CryptoMode::Real, rng);
    let mut ni = vec![0; 32];
    rng.fill_bytes(&mut ni);
    let nat_d = |addr: Ipv4Addr, ty| {
        let hash = nat_detection_hash(SPI_I, 0, IpAddr::V4(addr), 500);
        Payload::Notify(NotifyPayload::new(ty, hash.to_vec()))
    };
    Message {
        spi_i: SPI_I,
        spi_r: 0,
        exchange_type: ExchangeType::IKE_SA_INIT,
        flags: Flags {
            initiator: true,
            response: false,
        },
        message_id: 0,
        payloads: vec![
            Payload::Sa(ike_proposal(group)),
            Payload::Ke(KePayload {
                group: group.transform_id(),
                data: public,
            }),
            Payload::Nonce(ni),
            nat_d(INITIATOR, NotifyType::NAT_DETECTION_SOURCE_IP),
            nat_d(RESPONDER, NotifyType::NAT_DETECTION_DESTINATION_IP),
            Payload::Notify(NotifyPayload::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                vec![],
            )),
        ],
    }
}

#[test]
fn sa_init_request_round_trips_with_protocol_md_sizes() {
    let mut rng = SimRng::from_seed_u64(7);
    let request = sa_init_request(DhGroup::Curve25519, &mut rng);
    let bytes = request.emit();
    // protocol.md 1.14: 28 + SA 40 + KE 40 + Ni 36 + 28 + 28 + 8.
    assert_eq!(bytes.len(), 208);
    assert_eq!(Message::parse(&bytes), Ok(request));

    // The header, byte for byte (RFC 7296 §3.1): SPIs, first payload SA, version 2.0,
    // IKE_SA_INIT, I flag, Message ID 0, length 208.
    assert_eq!(&bytes[..8], &SPI_I.to_be_bytes());
    assert_eq!(&bytes[8..16], &[0; 8]);
    assert_eq!(
        &bytes[16..28],
        &[33, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 208]
    );
    // The SA payload is the worked example of protocol.md 1.5, Next Payload = KE.
    assert_eq!(
        &bytes[28..68],
        &[
            0x22, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x24, 0x01, 0x01, 0x00, 0x03, 0x03, 0x00,
            0x00, 0x0c, 0x01, 0x00, 0x00, 0x14, 0x80, 0x0e, 0x01, 0x00, 0x03, 0x00, 0x00, 0x08,
            0x02, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x1f,
        ]
    );
    // KE: Next Payload Nonce, length 40, group 31, reserved.
    assert_eq!(&bytes[68..76], &[40, 0, 0, 40, 0, 31, 0, 0]);

    let packet = Packet::new_checked(&bytes[..]).unwrap();
    let header = Header::parse(&packet).unwrap();
    assert_eq!(header.length, 208);
    assert_eq!(packet.payload().len(), 208 - HEADER_LEN);

    // protocol.md 1.14: 240 octets with ECP-256.
    let request = sa_init_request(DhGroup::Ecp256, &mut rng);
    let bytes = request.emit();
    assert_eq!(bytes.len(), 240);
    assert_eq!(Message::parse(&bytes), Ok(request));
}

/// Error-style responses (RFC 7296 §2.6, §1.2): `HDR, N(COOKIE)` and
/// `HDR, N(INVALID_KE_PAYLOAD)` whose data is the wanted group.
#[test]
fn error_style_responses() {
    let response = |notify| Message {
        spi_i: SPI_I,
        spi_r: 0,
        exchange_type: ExchangeType::IKE_SA_INIT,
        flags: Flags {
            initiator: false,
            response: true,
        },
        message_id: 0,
        payloads: vec![Payload::Notify(notify)],
    };
    let cookie = response(NotifyPayload::new(NotifyType::COOKIE, vec![9; 36]));
    let bytes = cookie.emit();
    assert_eq!(bytes.len(), 28 + 8 + 36);
    assert_eq!(Message::parse(&bytes), Ok(cookie));

    let invalid_ke = response(NotifyPayload::new(
        NotifyType::INVALID_KE_PAYLOAD,
        DhGroup::Ecp256.transform_id().0.to_be_bytes().to_vec(),
    ));
    let parsed = Message::parse(&invalid_ke.emit()).unwrap();
    let Payload::Notify(notify) = &parsed.payloads[0] else {
        panic!("not a notify: {parsed:?}");
    };
    let mut data = Reader::new(&notify.data);
    let group = TransformId(data.u16().unwrap());
    data.finish().unwrap();
    assert_eq!(DhGroup::from_transform_id(group), Some(DhGroup::Ecp256));
}

/// RFC 7296 §2.5: an unknown payload is skipped unless critical; the critical type is
/// what UNSUPPORTED_CRITICAL_PAYLOAD carries. Unknown payloads re-emit unchanged.
#[test]
fn unknown_payloads() {
    let mut rng = SimRng::from_seed_u64(8);
    let mut request = sa_init_request(DhGroup::Curve25519, &mut rng);
    request.payloads.push(Payload::Unknown {
        ty: PayloadType(60),
        critical: false,
        body: vec![1, 2, 3],
    });
    let bytes = request.emit();
    let parsed = Message::parse(&bytes).unwrap();
    assert_eq!(parsed.unsupported_critical(), None);
    assert_eq!(parsed.emit(), bytes);

    // Set the critical bit of the last payload on the wire.
    let mut critical = bytes.clone();
    let last = critical.len() - 7;
    critical[last + 1] |= 0x80;
    let parsed = Message::parse(&critical).unwrap();
    assert_eq!(parsed.unsupported_critical(), Some(PayloadType(60)));
    assert_eq!(parsed.emit(), critical);

    // The critical bit of a known payload is ignored (RFC 7296 §3.2) and sent as zero.
    let mut known = bytes;
    known[29] |= 0x80;
    let parsed = Message::parse(&known).unwrap();
    assert_eq!(parsed.unsupported_critical(), None);
    assert_eq!(parsed.emit()[29], 0);
}

/// IKEv1 and future majors fail before the payloads are looked at, with the header still
/// readable for the INVALID_MAJOR_VERSION answer (RFC 7296 §2.5).
#[test]
fn other_major_versions() {
    let mut rng = SimRng::from_seed_u64(9);
    let mut bytes = sa_init_request(DhGroup::Curve25519, &mut rng).emit();
    bytes[17] = 0x30;
    assert_eq!(
        Message::parse(&bytes),
        Err(ParseError::InvalidMajorVersion(3))
    );
    let header = Header::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
    assert_eq!((header.major_version, header.spi_i), (3, SPI_I));
}
