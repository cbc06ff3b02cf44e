//! SK and SKF protection end to end: an IKE_SA_INIT exchange feeds key derivation and PSK
//! AUTH, the initiator seals IKE_AUTH, the responder opens it with its own keys. Any
//! changed octet fails; fragments reassemble in any order.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use models::CryptoMode;
use models::esp::GcmKey;
use models::ike::crypto::{
    DhGroup, FragmentError, ICV_LEN, IV_LEN, IkeSaKeys, IvCounter, IvSource, OpenError, Prf,
    SK_OVERHEAD, SkKey, open, open_fragment, psk_auth, reassemble, seal, seal_fragments,
};
use models::ike::wire::{
    AuthMethod, AuthPayload, DeletePayload, ExchangeType, Flags, IdPayload, KePayload, Message,
    NotifyType, ParseError, Payload, PayloadType, Proposal, ProtocolId, SaPayload, TrafficSelector,
    Transform, TransformId, TransformType, TsPayload,
};
use sim::SimRng;

const PRF: Prf = Prf::HmacSha256;
const PSK: &[u8] = b"ikesim pre-shared key";

fn header(exchange_type: ExchangeType, message_id: u32, response: bool) -> Message {
    Message {
        spi_i: 0x0011_2233_4455_6677,
        spi_r: 0x8899_aabb_ccdd_eeff,
        exchange_type,
        flags: Flags {
            initiator: !response,
            response,
        },
        message_id,
        payloads: vec![],
    }
}

/// Both sides' IKE SA keys after a real X25519 IKE_SA_INIT, and its two messages.
struct Handshake {
    initiator: IkeSaKeys,
    responder: IkeSaKeys,
    request: Vec<u8>,
    response: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
}

fn handshake(rng: &mut SimRng) -> Handshake {
    let mut hello = |response: bool| {
        let (secret, public) = DhGroup::Curve25519.generate(CryptoMode::Real, rng);
        let mut nonce = vec![0; 32];
        rng.fill_bytes(&mut nonce);
        let mut message = header(ExchangeType::IKE_SA_INIT, 0, response);
        message.payloads = vec![
            Payload::Ke(KePayload {
                group: TransformId::DH_CURVE25519,
                data: public.clone(),
            }),
            Payload::Nonce(nonce.clone()),
        ];
        (secret, public, nonce, message.emit())
    };
    let (i_secret, i_public, ni, request) = hello(false);
    let (r_secret, r_public, nr, response) = hello(true);
    let derive = |g_ir: Vec<u8>| {
        IkeSaKeys::initial(
            PRF,
            &g_ir,
            &ni,
            &nr,
            0x0011_2233_4455_6677,
            0x8899_aabb_ccdd_eeff,
        )
    };
    Handshake {
        initiator: derive(i_secret.shared(&r_public).unwrap()),
        responder: derive(r_secret.shared(&i_public).unwrap()),
        request,
        response,
        ni,
        nr,
    }
}

/// `SK{IDi, AUTH, SA, TSi, TSr}` (RFC 7296 §1.2) with a real PSK AUTH.
fn ike_auth_inner(hs: &Handshake) -> Vec<Payload> {
    let idi = IdPayload::fqdn("client.example");
    let auth = psk_auth(
        PRF,
        PSK,
        &hs.request,
        &hs.nr,
        &hs.initiator.sk_pi,
        &idi.body(),
    );
    let esp = Proposal {
        number: 1,
        protocol: ProtocolId::ESP,
        spi: vec![0xc0, 0x01, 0xd0, 0x0d],
        transforms: vec![
            Transform::new(TransformType::ENCR, TransformId::ENCR_AES_GCM_16).with_key_length(256),
            Transform::new(TransformType::ESN, TransformId::ESN_NONE),
        ],
    };
    let ts = TsPayload {
        selectors: vec![TrafficSelector::ipv4_any()],
    };
    vec![
        Payload::IdI(idi),
        Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: auth,
        }),
        Payload::Sa(SaPayload {
            proposals: vec![esp],
        }),
        Payload::TsI(ts.clone()),
        Payload::TsR(ts),
    ]
}

#[test]
fn ike_auth_round_trip_and_tampering() {
    let mut rng = SimRng::from_seed_u64(11);
    let hs = handshake(&mut rng);
    assert_eq!(hs.initiator, hs.responder);
    let inner = ike_auth_inner(&hs);
    let sealed = seal(
        &header(ExchangeType::IKE_AUTH, 1, false),
        &inner,
        &SkKey::new(&hs.initiator.sk_ei, CryptoMode::Real),
        &mut rng,
    );

    // The responder: parse, open with its SK_ei, check AUTH against its own computation.
    let message = Message::parse(&sealed).unwrap();
    assert_eq!(message.encrypted().unwrap().next_payload, PayloadType::IDI);
    let responder_key = SkKey::new(&hs.responder.sk_ei, CryptoMode::Real);
    let opened = open(&message, &sealed, &responder_key).unwrap();
    assert_eq!(opened, inner);
    let (Payload::IdI(idi), Payload::Auth(auth)) = (&opened[0], &opened[1]) else {
        panic!("unexpected payloads {opened:?}");
    };
    let expected = psk_auth(
        PRF,
        PSK,
        &hs.request,
        &hs.nr,
        &hs.responder.sk_pi,
        &idi.body(),
    );
    assert_eq!(auth.data, expected);
    // The responder's AUTH signs the other message and nonce, with SK_pr: different.
    let responder_auth = psk_auth(
        PRF,
        PSK,
        &hs.response,
        &hs.ni,
        &hs.responder.sk_pr,
        &idi.body(),
    );
    assert_ne!(responder_auth, expected);

    // The other direction's key does not open it.
    let wrong = SkKey::new(&hs.responder.sk_er, CryptoMode::Real);
    assert_eq!(open(&message, &sealed, &wrong), Err(OpenError::Integrity));

    // Every single changed octet is caught, in the header, the SK header, IV,
    // ciphertext or ICV.
    for i in 0..sealed.len() {
        let mut tampered = sealed.clone();
        tampered[i] ^= 0x01;
        if let Ok(message) = Message::parse(&tampered) {
            assert!(
                open(&message, &tampered, &responder_key).is_err(),
                "flipped octet {i} went unnoticed"
            );
        }
    }
}

/// An independent encoding: `cryptography`'s AESGCM over hand-built AAD (the Python
/// below), with SK_ei from `ike_crypto_kat.rs` and IV 0001020304050607.
///
/// ```python
/// from cryptography.hazmat.primitives.ciphers.aead import AESGCM
/// h = bytes.fromhex
/// sk_ei = h("2ec334f6d43dbdf8bc53535766a948c1901ff4296b10619c063d041cec255a2abeab5f3b")
/// key, salt = sk_ei[:32], sk_ei[32:]
/// inner = h("0000000801000000")            # D payload: IKE SA, no SPIs
/// plain = inner + b"\x00"                   # Pad Length 0
/// iv = h("0001020304050607")
/// length = 28 + 4 + 8 + len(plain) + 16
/// aad = (h("0011223344556677") + h("8899aabbccddeeff") + bytes([46, 0x20, 37, 0x08])
///        + (2).to_bytes(4, "big") + length.to_bytes(4, "big")
///        + bytes([42, 0]) + (length - 28).to_bytes(2, "big"))
/// ct = AESGCM(key).encrypt(salt + iv, plain, aad)
/// print((aad + iv + ct).hex())
/// ```
#[test]
fn sealed_delete_matches_python() {
    let sk_ei = GcmKey::from_keymat(&[
        0x2e, 0xc3, 0x34, 0xf6, 0xd4, 0x3d, 0xbd, 0xf8, 0xbc, 0x53, 0x53, 0x57, 0x66, 0xa9, 0x48,
        0xc1, 0x90, 0x1f, 0xf4, 0x29, 0x6b, 0x10, 0x61, 0x9c, 0x06, 0x3d, 0x04, 0x1c, 0xec, 0x25,
        0x5a, 0x2a, 0xbe, 0xab, 0x5f, 0x3b,
    ])
    .unwrap();
    let inner = [Payload::Delete(DeletePayload {
        protocol: ProtocolId::IKE,
        spis: vec![],
    })];
    let sealed = seal(
        &header(ExchangeType::INFORMATIONAL, 2, false),
        &inner,
        &SkKey::new(&sk_ei, CryptoMode::Real),
        &mut IvCounter(0x0001_0203_0405_0607),
    );
    let expected: [u8; 65] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff, 0x2e, 0x20, 0x25, 0x08, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x41, 0x2a, 0x00,
        0x00, 0x25, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0xbf, 0x39, 0x8d, 0x43, 0xfb,
        0xbf, 0x0b, 0x44, 0xb0, 0x95, 0x37, 0x5b, 0x41, 0x0c, 0x81, 0x4c, 0x5c, 0xb8, 0xea, 0xe6,
        0x80, 0xea, 0x03, 0x52, 0x59,
    ];
    assert_eq!(sealed, expected);
}

/// The liveness check: an empty INFORMATIONAL is 57 octets (protocol.md 1.8).
#[test]
fn empty_informational() {
    let mut rng = SimRng::from_seed_u64(12);
    let key = SkKey::new(&handshake(&mut rng).initiator.sk_er, CryptoMode::Real);
    let sealed = seal(
        &header(ExchangeType::INFORMATIONAL, 5, true),
        &[],
        &key,
        &mut rng,
    );
    assert_eq!(sealed.len(), 57);
    assert_eq!(sealed.len(), 28 + SK_OVERHEAD);
    let message = Message::parse(&sealed).unwrap();
    assert_eq!(
        message.encrypted().unwrap().next_payload,
        PayloadType::NO_NEXT_PAYLOAD
    );
    assert_eq!(open(&message, &sealed, &key), Ok(vec![]));
}

/// Builds `HDR, SK{plaintext}` by hand (the AAD layout of RFC 5282 §5.1), so that the
/// receiver's handling of padding and malformed plaintext can be tested.
fn seal_by_hand(key: &SkKey, inner_next: PayloadType, plaintext: &[u8]) -> Vec<u8> {
    let iv = IvCounter(9).next_iv();
    let len = 28 + 4 + IV_LEN + plaintext.len() + ICV_LEN;
    let mut out = header(ExchangeType::INFORMATIONAL, 3, false).emit();
    out[16] = PayloadType::SK.0;
    out[24..28].copy_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
    out.extend_from_slice(&[inner_next.0, 0]);
    out.extend_from_slice(&u16::try_from(len - 28).unwrap().to_be_bytes());
    let aad = out.clone();
    out.extend_from_slice(&iv);
    let mut body = plaintext.to_vec();
    let icv = key.seal_in_place(iv, &aad, &mut body);
    out.extend_from_slice(&body);
    out.extend_from_slice(&icv);
    out
}

#[test]
fn receiver_accepts_any_padding_and_reports_bad_plaintext() {
    let key = SkKey::new(&GcmKey::new([5; 32], [6; 4]), CryptoMode::Real);
    let notify = [0, 0, 0, 8, 0, 0, 0x40, 0x00]; // N(INITIAL_CONTACT)
    let opened = |plaintext: &[u8]| {
        let raw = seal_by_hand(&key, PayloadType::NOTIFY, plaintext);
        open(&Message::parse(&raw).unwrap(), &raw, &key)
    };

    // Three padding octets of any value, then Pad Length 3 (RFC 7296 §3.14).
    let padded = [&notify[..], &[0xde, 0xad, 0xbe, 3]].concat();
    let inner = opened(&padded).unwrap();
    let Payload::Notify(n) = &inner[0] else {
        panic!("{inner:?}");
    };
    assert_eq!(n.ty, NotifyType::INITIAL_CONTACT);

    // Pad Length larger than the plaintext: authenticated but malformed.
    let err = opened(&[&notify[..], &[200]].concat()).unwrap_err();
    assert_eq!(err, OpenError::Padding);
    assert_eq!(err.notify_type(), Some(NotifyType::INVALID_SYNTAX));

    // Inner payload length past the end: INVALID_SYNTAX too (RFC 7296 §2.21.3).
    let err = opened(&[0, 0, 0, 9, 0, 0, 0x40, 0x00, 0]).unwrap_err();
    assert_eq!(err, OpenError::Inner(ParseError::Malformed));
    assert_eq!(err.notify_type(), Some(NotifyType::INVALID_SYNTAX));

    // A forged ICV is dropped without an answer.
    let mut raw = seal_by_hand(&key, PayloadType::NOTIFY, &[&notify[..], &[0]].concat());
    let last = raw.len() - 1;
    raw[last] ^= 0x80;
    let err = open(&Message::parse(&raw).unwrap(), &raw, &key).unwrap_err();
    assert_eq!((err, err.notify_type()), (OpenError::Integrity, None));
}

#[test]
fn fragments_reassemble_in_any_order() {
    let mut rng = SimRng::from_seed_u64(13);
    let hs = handshake(&mut rng);
    let mut inner = ike_auth_inner(&hs);
    inner.push(Payload::VendorId(vec![0x5a; 300]));
    // PS travels in the clear, in fragment 1 only (RFC 8019 §7.2.3).
    let mut message = header(ExchangeType::IKE_AUTH, 1, false);
    message.payloads = vec![Payload::PuzzleSolution(vec![1; 32])];
    let send_key = SkKey::new(&hs.initiator.sk_ei, CryptoMode::Real);
    let recv_key = SkKey::new(&hs.responder.sk_ei, CryptoMode::Real);

    let fragments = seal_fragments(&message, &inner, &send_key, &mut rng, 150).unwrap();
    assert!(fragments.len() > 3);
    let mut decrypted = Vec::new();
    for (i, raw) in fragments.iter().enumerate() {
        assert!(raw.len() <= 150);
        let parsed = Message::parse(raw).unwrap();
        let encrypted = parsed.encrypted().unwrap();
        let info = encrypted.fragment.unwrap();
        assert_eq!(usize::from(info.number), i + 1);
        assert_eq!(usize::from(info.total), fragments.len());
        let expected_next = if i == 0 {
            PayloadType::IDI
        } else {
            PayloadType::NO_NEXT_PAYLOAD
        };
        assert_eq!(encrypted.next_payload, expected_next);
        assert_eq!(parsed.payloads.len(), if i == 0 { 2 } else { 1 });
        // An SKF message does not open as SK, and vice versa.
        assert_eq!(open(&parsed, raw, &recv_key), Err(OpenError::NotEncrypted));
        decrypted.push(open_fragment(&parsed, raw, &recv_key).unwrap());
    }
    decrypted.reverse();
    assert_eq!(reassemble(&decrypted), Ok(inner.clone()));
    decrypted.pop();
    assert_eq!(reassemble(&decrypted), Err(OpenError::IncompleteFragments));
    assert_eq!(reassemble(&[]), Err(OpenError::IncompleteFragments));

    // Tampering with Fragment Number (in the AAD) fails the fragment.
    let mut tampered = fragments[1].clone();
    tampered[33] ^= 0x03;
    if let Ok(parsed) = Message::parse(&tampered) {
        assert_eq!(
            open_fragment(&parsed, &tampered, &recv_key),
            Err(OpenError::Integrity)
        );
    }

    // No room for one plaintext octet next to the PS payload.
    assert_eq!(
        seal_fragments(&message, &inner, &send_key, &mut rng, 28 + 33 + 36),
        Err(FragmentError::TooSmall)
    );
    // One fragment when everything fits; an empty chain is one empty fragment.
    let one = seal_fragments(
        &header(ExchangeType::INFORMATIONAL, 4, false),
        &[],
        &send_key,
        &mut rng,
        1280,
    )
    .unwrap();
    assert_eq!(one.len(), 1);
    let parsed = Message::parse(&one[0]).unwrap();
    let fragment = open_fragment(&parsed, &one[0], &recv_key).unwrap();
    assert_eq!(reassemble(&[fragment]), Ok(vec![]));
}
